/*
 * edit.h — a block of an edit change (change.h) applied to a file's text,
 * and what a model is shown when a block or a patch's hunk does not apply:
 * the reason and the file's lines around the spot, numbered "  42| text".
 * Pure functions on text, any thread; the git side is vcs/apply.c.
 */
#ifndef HYPOTOP_EDIT_H
#define HYPOTOP_EDIT_H

#include <stddef.h>

#include "hypotop/util.h"

/* The most lines of a file that one detail shows. */
#define EDIT_DETAIL_LINES 40

/*
 * Replace the one place of search (not empty) in text[0..len) with
 * replace: the new text in *out, NUL-terminated, *out_len bytes (caller
 * frees). When search is not there, or is there more than once: -1 with e
 * set to "LABEL: the search text ..." (label such as "edits[1]", where the
 * file as messages name it) and, when detail is not NULL, that reason and
 * the lines to look at appended to it.
 */
int edit_replace(const char *label, const char *where, const char *text, size_t len,
		 const char *search, const char *replace, char **out, size_t *out_len,
		 struct buf *detail, struct err *e);

/*
 * Append lines first..last (1-based, inclusive; past the end shows what
 * there is) of text, each "%4zu| " and the line (control characters but
 * tab escaped, a long line cut); how many were appended.
 */
size_t edit_show_lines(struct buf *out, const char *text, size_t len, size_t first,
		       size_t last);

/*
 * The 1-based line of text most like the first non-blank line of search:
 * the first that is the same after trimming blanks, else the one sharing
 * the longest run of bytes with it (at least 4, or all of a shorter line;
 * the first of equals); 0 for none.
 */
size_t edit_nearest_line(const char *text, size_t len, const char *search);

/* The 1-based line that byte offset at of text is on. */
size_t edit_line_of(const char *text, size_t at);
/* How many lines text[0..len) has (a last one without its newline counts). */
size_t edit_lines(const char *text, size_t len);

#endif
