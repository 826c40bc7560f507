/* termtext.c — see termtext.h. */
#include "hypotop/termtext.h"

#include <ctype.h>
#include <string.h>
#include <wchar.h>

/* Characters that reorder or hide text on some terminals. */
static bool is_format(unsigned c)
{
	return (c >= 0x80 && c <= 0x9f) || (c >= 0x200b && c <= 0x200f) ||
	       (c >= 0x202a && c <= 0x202e) || (c >= 0x2066 && c <= 0x2069) || c == 0xfeff;
}

static int cp_width(unsigned c)
{
	int w = wcwidth((wchar_t)c);
	return w;
}

/* Length of the escape sequence starting at s[0] == ESC (all of it, to skip). */
static size_t escape_len(const unsigned char *s, size_t n)
{
	if (n < 2)
		return n;
	unsigned char k = s[1];
	size_t i = 2;
	if (k == '[') {
		/* CSI: parameters and intermediates, then one final byte 0x40-0x7e. */
		while (i < n && s[i] >= 0x20 && s[i] <= 0x3f)
			i++;
		while (i < n && s[i] >= 0x20 && s[i] <= 0x2f)
			i++;
		if (i < n && s[i] >= 0x40 && s[i] <= 0x7e)
			i++;
		return i;
	}
	if (k == ']' || k == 'P' || k == 'X' || k == '^' || k == '_') {
		/* OSC, DCS, SOS, PM, APC: a string ended by BEL or ESC \ (or the line's end). */
		while (i < n) {
			if (s[i] == 0x07)
				return i + 1;
			if (s[i] == 0x1b)
				return i + 1 < n && s[i + 1] == '\\' ? i + 2 : i;
			i++;
		}
		return n;
	}
	if (k >= 0x20 && k <= 0x2f) {
		/* nF: intermediates then a final byte. */
		while (i < n && s[i] >= 0x20 && s[i] <= 0x2f)
			i++;
		return i < n ? i + 1 : i;
	}
	return 2; /* ESC and one byte (ESC c, ESC 7, ...) */
}

static bool is_control(unsigned char c)
{
	return c < 0x20 || c == 0x7f;
}

void text_escape_controls(struct buf *out, const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		if (is_control((unsigned char)s[i]))
			buf_printf(out, "\\x%02x", (unsigned char)s[i]);
		else
			buf_addc(out, s[i]);
	}
}

void text_clean(struct buf *out, const char *str, size_t len, bool utf8)
{
	const unsigned char *s = (const unsigned char *)str;
	size_t start = 0;

	/* A carriage return: a terminal shows what follows it over what came before. */
	for (size_t i = len; i > 0; i--)
		if (s[i - 1] == '\r' && i < len) {
			start = i;
			break;
		}
	int col = 0;
	for (size_t i = start; i < len;) {
		unsigned char c = s[i];
		if (c == 0x1b) {
			i += escape_len(s + i, len - i);
			continue;
		}
		if (c == '\t') {
			do
				buf_addc(out, ' ');
			while (++col % 8);
			i++;
			continue;
		}
		if (c == '\r' && i + 1 == len) {
			i++;
			continue;
		}
		if (is_control(c)) {
			buf_printf(out, "\\x%02x", c);
			col += 4;
			i++;
			continue;
		}
		if (c < 0x80) {
			buf_addc(out, (char)c);
			col++;
			i++;
			continue;
		}
		unsigned cp;
		size_t n = utf8_decode(s + i, len - i, &cp);
		if (!n) {
			buf_printf(out, "\\x%02x", c);
			col += 4;
			i++;
			continue;
		}
		if (!utf8) {
			buf_addc(out, '?');
			col++;
		} else if (is_format(cp) || cp_width(cp) < 0) {
			buf_printf(out, cp > 0xffff ? "\\U%08x" : cp > 0xff ? "\\u%04x" : "\\x%02x",
				   cp);
			col += cp > 0xffff ? 10 : cp > 0xff ? 6 : 4;
		} else {
			buf_add(out, s + i, n);
			col += cp_width(cp);
		}
		i += n;
	}
}

int text_width(const char *s, bool utf8)
{
	int used;

	text_fit(s, 1 << 30, &used, utf8);
	return used;
}

size_t text_fit(const char *str, int cols, int *used, bool utf8)
{
	const unsigned char *s = (const unsigned char *)str;
	size_t len = strlen(str), i = 0;
	int w = 0;

	while (i < len) {
		unsigned cp;
		size_t n = utf8 ? utf8_decode(s + i, len - i, &cp) : 1;
		int cw = 1;
		if (!n) {
			n = 1;
		} else if (utf8 && cp >= 0x80) {
			cw = cp_width(cp);
			if (cw < 0)
				cw = 1;
		}
		if (w + cw > cols)
			break;
		w += cw;
		i += n;
	}
	if (used)
		*used = w;
	return i;
}

long text_find(const char *hay, size_t from, const char *needle)
{
	size_t nl = strlen(needle), hl = strlen(hay);

	if (!nl || from > hl)
		return -1;
	for (size_t i = from; i + nl <= hl; i++) {
		size_t k = 0;
		while (k < nl && tolower((unsigned char)hay[i + k]) ==
					 tolower((unsigned char)needle[k]))
			k++;
		if (k == nl)
			return (long)i;
	}
	return -1;
}
