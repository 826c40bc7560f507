/* edit.c — see edit.h. */
#include "hypotop/edit.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LINE_SHOWN 240 /* bytes of one line a detail shows */
#define NEEDLE_MAX 80  /* bytes of the search's line that the nearest line is matched on */
#define AROUND 5       /* lines shown either side of the nearest line */
#define PLACES_SHOWN 3 /* places of a search that is there more than once, shown */
#define PLACE_LINES 12 /* lines shown around each of them, at most */

size_t edit_line_of(const char *text, size_t at)
{
	size_t line = 1;

	for (size_t i = 0; i < at; i++)
		line += text[i] == '\n';
	return line;
}

size_t edit_lines(const char *text, size_t len)
{
	return edit_line_of(text, len) - (len && text[len - 1] == '\n');
}

/* One line as shown: control characters but tab escaped, cut after LINE_SHOWN bytes. */
static void add_line(struct buf *out, const char *p, size_t n)
{
	for (size_t i = 0; i < n && i < LINE_SHOWN; i++) {
		unsigned char c = (unsigned char)p[i];
		if ((c < 0x20 && c != '\t') || c == 0x7f)
			buf_printf(out, "\\x%02x", c);
		else
			buf_addc(out, (char)c);
	}
	if (n > LINE_SHOWN)
		buf_printf(out, " [… %zu more bytes]", n - LINE_SHOWN);
}

size_t edit_show_lines(struct buf *out, const char *text, size_t len, size_t first,
		       size_t last)
{
	const char *p = text, *end = text + len;
	size_t line = 1, shown = 0;

	while (p < end && line <= last) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
		if (line >= first) {
			buf_printf(out, "%4zu| ", line);
			add_line(out, p, n);
			buf_addc(out, '\n');
			shown++;
		}
		p += n + (nl != NULL);
		line++;
	}
	return shown;
}

static void trim(const char **s, size_t *n)
{
	while (*n && (**s == ' ' || **s == '\t'))
		(*s)++, (*n)--;
	while (*n && ((*s)[*n - 1] == ' ' || (*s)[*n - 1] == '\t' || (*s)[*n - 1] == '\r'))
		(*n)--;
}

/* The longest run of bytes a[0..na) and b[0..nb) share (na <= NEEDLE_MAX). */
static size_t common_run(const char *a, size_t na, const char *b, size_t nb)
{
	uint16_t row[NEEDLE_MAX + 1] = {0}; /* row[j]: the run ending at a[j-1] and b's byte before */
	size_t best = 0;

	for (size_t i = 0; i < nb; i++)
		for (size_t j = na; j >= 1; j--) {
			row[j] = b[i] == a[j - 1] ? (uint16_t)(row[j - 1] + 1) : 0;
			if (row[j] > best)
				best = row[j];
		}
	return best;
}

/* The first non-blank line of s, trimmed; its length in *n (0 when none). */
static const char *first_line(const char *s, size_t *n)
{
	for (;;) {
		const char *l = s;
		size_t len = strcspn(s, "\n");
		*n = len;
		trim(&l, n);
		if (*n || !s[len])
			return l;
		s += len + 1;
	}
}

size_t edit_nearest_line(const char *text, size_t len, const char *search)
{
	size_t na, best = 0, best_run = 0, line = 1;
	const char *a = first_line(search, &na), *p = text, *end = text + len;

	if (!na)
		return 0;
	size_t need = na < 4 ? na : 4, nn = na < NEEDLE_MAX ? na : NEEDLE_MAX;
	for (; p < end; line++) {
		const char *nl = memchr(p, '\n', (size_t)(end - p)), *b = p;
		size_t nb = nl ? (size_t)(nl - p) : (size_t)(end - p);
		p += nb + (nl != NULL);
		trim(&b, &nb);
		if (nb == na && !memcmp(a, b, na))
			return line;
		if (nb <= best_run)
			continue;
		size_t run = common_run(a, nn, b, nb < LINE_SHOWN ? nb : LINE_SHOWN);
		if (run > best_run) {
			best_run = run;
			best = line;
		}
	}
	return best_run >= need ? best : 0;
}

/* How many times search is in text (overlapping places too); the first max offsets in at. */
static size_t find_all(const char *text, size_t len, const char *search, size_t *at, size_t max)
{
	size_t ns = strlen(search), n = 0;

	for (const char *p = text, *end = text + len;
	     (size_t)(end - p) >= ns && (p = memmem(p, (size_t)(end - p), search, ns)); p++) {
		if (n < max)
			at[n] = (size_t)(p - text);
		n++;
	}
	return n;
}

/* How many lines s has: a last one without its newline counts, an empty s has one. */
static size_t lines_in(const char *s)
{
	size_t n = 1;

	for (; *s; s++)
		n += *s == '\n' && s[1];
	return n;
}

/* Not there: the lines around the one most like the search's first line. */
static void not_found(const char *label, const char *where, const char *text, size_t len,
		      const char *search, struct buf *detail, struct err *e)
{
	err_set(e, "%s: the search text is not in %s; copy it exactly from the file as it is", label,
		where);
	if (!detail)
		return;
	buf_printf(detail, "%s: the search text is not in %s.\n", label, where);
	size_t na, near = edit_nearest_line(text, len, search);
	const char *a = first_line(search, &na);
	size_t first = near > AROUND ? near - AROUND : 1;
	size_t last = near + lines_in(search) - 1 + AROUND;
	if (last - first + 1 > EDIT_DETAIL_LINES)
		last = first + EDIT_DETAIL_LINES - 1;
	if (!len) {
		buf_printf(detail, "%s is empty.\n", where);
		return;
	}
	if (near) {
		buf_printf(detail, "The line most like its first line (\"%.*s\") is line %zu. ",
			   na > NEEDLE_MAX ? NEEDLE_MAX : (int)na, a, near);
	} else {
		buf_printf(detail, "No line of it is like the search's first line. ");
		first = 1;
		last = 2 * AROUND + 1;
	}
	size_t end = edit_lines(text, len);
	buf_printf(detail, "Lines %zu-%zu of %s:\n", first, last < end ? last : end, where);
	edit_show_lines(detail, text, len, first, last);
	buf_adds(detail, "Copy the search text exactly from the file (blanks, indentation and line "
			 "breaks too), with enough lines to occur once.\n");
}

/* There n times, the first of them at at[]: their line numbers, and the lines of the first few. */
static void not_unique(const char *label, const char *where, const char *text, size_t len,
		       const char *search, const size_t *at, size_t n, struct buf *detail,
		       struct err *e)
{
	size_t lines[PLACES_SHOWN + 2];
	size_t k = n < ARRAY_LEN(lines) ? n : ARRAY_LEN(lines);
	struct buf b;

	buf_init(&b);
	for (size_t i = 0; i < k; i++) {
		lines[i] = edit_line_of(text, at[i]);
		buf_printf(&b, "%s%zu", i ? ", " : "", lines[i]);
	}
	if (n > k)
		buf_adds(&b, ", …");
	err_set(e, "%s: the search text is in %s %zu times (lines %s); add lines around it so that "
		   "it occurs once",
		label, where, n, b.data);
	if (detail) {
		buf_printf(detail, "%s: the search text is in %s %zu times, at lines %s; add lines "
				   "around it so that it occurs once.\n",
			   label, where, n, b.data);
		size_t span = lines_in(search) - 1 + 4, done = 0, end = edit_lines(text, len);
		for (size_t i = 0; i < k && i < PLACES_SHOWN; i++) {
			size_t first = lines[i] > 2 ? lines[i] - 2 : 1;
			size_t last = first + (span < PLACE_LINES ? span : PLACE_LINES - 1);
			first = first > done ? first : done + 1; /* what an earlier place showed */
			last = last < end ? last : end;
			if (first > last)
				continue;
			buf_printf(detail, "Lines %zu-%zu of %s:\n", first, last, where);
			edit_show_lines(detail, text, len, first, last);
			done = last;
		}
	}
	buf_free(&b);
}

int edit_replace(const char *label, const char *where, const char *text, size_t len,
		 const char *search, const char *replace, char **out, size_t *out_len,
		 struct buf *detail, struct err *e)
{
	size_t at[PLACES_SHOWN + 2];
	size_t n = find_all(text, len, search, at, ARRAY_LEN(at));

	if (n == 0) {
		not_found(label, where, text, len, search, detail, e);
		return -1;
	}
	if (n > 1) {
		not_unique(label, where, text, len, search, at, n, detail, e);
		return -1;
	}
	size_t ns = strlen(search), nr = strlen(replace);
	struct buf b;
	buf_init(&b);
	buf_reserve(&b, len - ns + nr + 1);
	buf_add(&b, text, at[0]);
	buf_add(&b, replace, nr);
	buf_add(&b, text + at[0] + ns, len - at[0] - ns);
	*out_len = b.len;
	*out = buf_steal(&b);
	return 0;
}
