/*
 * termtext.h — text from outside (log lines, model output, file names)
 * made safe to put on a terminal, and measured in columns.
 *
 * Nothing from a log reaches the terminal raw: escape sequences (CSI such
 * as colours and ESC[2J, OSC such as ESC]0;title BEL, DCS, and the rest)
 * are removed; other control characters, C1 controls, bidirectional
 * overrides and invalid UTF-8 are shown as visible escapes (\x07, \u202e);
 * a carriage return keeps what a terminal would show (the text after it);
 * tabs become spaces. Without a UTF-8 locale every non-ASCII character is
 * shown as '?'. No curses here.
 */
#ifndef HYPOTOP_TERMTEXT_H
#define HYPOTOP_TERMTEXT_H

#include <stdbool.h>
#include <stddef.h>

#include "hypotop/util.h"

/* Append the clean form of s[0..len) to out. */
void text_clean(struct buf *out, const char *s, size_t len, bool utf8);
/*
 * Append s[0..len) with every control character (ESC, tab and newline
 * too) as the visible escape text_clean shows (\x1b): for a name, which
 * must be seen as it is, where text_clean would drop an escape sequence.
 * What it appends is still to be cleaned.
 */
void text_escape_controls(struct buf *out, const char *s, size_t len);
/* Columns that clean text takes. */
int text_width(const char *s, bool utf8);
/*
 * Bytes of clean text s that fit in cols columns (whole characters only);
 * *used, if given, gets their width.
 */
size_t text_fit(const char *s, int cols, int *used, bool utf8);
/* Byte offset of the first case-insensitive (ASCII) match of needle, or -1. */
long text_find(const char *hay, size_t from, const char *needle);

#endif
