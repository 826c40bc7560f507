/*
 * draw.c — drawing text in roles, and what several panes show the same
 * way: status glyphs, progress, durations, sparklines.
 */
#include "hypotop/ui_int.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hypotop/termtext.h"

void draw_role(struct ui *ui, WINDOW *w, enum ui_role r)
{
	wattr_set(w, ui->attr[r], ui->pair[r], NULL);
}

int draw_text(struct ui *ui, WINDOW *w, int y, int x, int maxw, enum ui_role r, const char *s)
{
	int used;

	if (maxw <= 0)
		return 0;
	size_t n = text_fit(s, maxw, &used, ui->utf8);
	if (!n)
		return 0;
	draw_role(ui, w, r);
	mvwaddnstr(w, y, x, s, (int)n);
	return used;
}

int draw_raw(struct ui *ui, WINDOW *w, int y, int x, int maxw, enum ui_role r, const char *s,
	     size_t len)
{
	struct buf b;

	buf_init(&b);
	text_clean(&b, s, len, ui->utf8);
	int used = draw_text(ui, w, y, x, maxw, r, b.data ? b.data : "");
	buf_free(&b);
	return used;
}

void draw_fill(struct ui *ui, WINDOW *w, int y, int x, int n, enum ui_role r)
{
	if (n <= 0)
		return;
	draw_role(ui, w, r);
	mvwhline(w, y, x, ' ', n);
}

char *draw_cut(struct ui *ui, const char *s, int maxw)
{
	struct buf b;
	int used;

	buf_init(&b);
	text_clean(&b, s, strlen(s), ui->utf8);
	if (!b.data)
		return xstrdup("");
	if (maxw <= 0) {
		b.data[0] = '\0';
		return buf_steal(&b);
	}
	if (text_width(b.data, ui->utf8) <= maxw)
		return buf_steal(&b);
	size_t n = text_fit(b.data, maxw - 1, &used, ui->utf8);
	b.len = n;
	b.data[n] = '\0';
	buf_adds(&b, ui->utf8 ? "\xe2\x80\xa6" : "~");
	return buf_steal(&b);
}

void draw_title(struct ui *ui, WINDOW *w, int width, bool focused, const char *left,
		const char *right)
{
	enum ui_role r = focused ? ROLE_TITLE_FOCUS : ROLE_TITLE;
	int rw = right ? text_width(right, ui->utf8) : 0;

	draw_fill(ui, w, 0, 0, width, r);
	if (rw > width - 8)
		rw = 0;
	int used = draw_text(ui, w, 0, 0, width - (rw ? rw + 1 : 0), r, left);
	(void)used;
	if (rw)
		draw_text(ui, w, 0, width - rw, rw, r, right);
}

/* ---- nodes ------------------------------------------------------------------- */

enum ui_role node_role(const struct node *n)
{
	switch ((enum node_status)n->status) {
	case ST_QUEUED:
		return ROLE_QUEUED;
	case ST_PREPARING:
		return ROLE_PREPARING;
	case ST_BUILDING:
		return ROLE_BUILDING;
	case ST_RUNNING:
		return ROLE_RUNNING;
	case ST_ANALYZING:
		return ROLE_ANALYZING;
	case ST_COMPLETED:
		return node_improved(n) ? ROLE_IMPROVED : ROLE_NO_GAIN;
	case ST_FAILED:
		return ROLE_FAILED;
	case ST_CANCELLED:
		return ROLE_CANCELLED;
	case ST_PAUSED:
		return ROLE_PAUSED;
	case ST_WAITING: /* in a queue, a cluster's */
		return ROLE_QUEUED;
	case ST_PRUNED: /* stopped by hypotop, no fault of the code */
		return ROLE_CANCELLED;
	case ST__COUNT:
		break;
	}
	return ROLE_NORMAL;
}

const char *node_glyph(const struct ui *ui, const struct node *n)
{
	/* UTF-8 and ASCII, by role, in UI_ROLES order from ROLE_QUEUED. */
	static const char *const utf[] = {
		"\xe2\x97\x8b", /* ○ queued */
		"\xe2\x97\x8c", /* ◌ preparing */
		"\xe2\x97\x91", /* ◑ building */
		"\xe2\x96\xb6", /* ▶ running */
		"\xe2\x97\x87", /* ◇ analyzing */
		"\xe2\x98\x85", /* ★ improved */
		"\xe2\x97\x8f", /* ● no gain */
		"\xe2\x9c\x97", /* ✗ failed */
		"\xe2\x8a\x98", /* ⊘ cancelled */
		"\xe2\x80\x96", /* ‖ paused */
	};
	static const char *const ascii[] = {".", "~", "b", ">", "a", "*", "o", "x", "/", "="};
	int i = (int)node_role(n) - ROLE_QUEUED;
	const struct workdir *wd = ui->host.wd;

	/*
	 * Among completed nodes ★ marks only the current best; one improved
	 * before it ◆, and a run of another's commit (a seed repeat, a copy
	 * of the baseline) ↻.
	 */
	if (n->status == ST_PRUNED)
		return ui->utf8 ? "\xe2\x9c\x82" : "-"; /* ✂ */
	if (n->present && n->status == ST_COMPLETED && wd) {
		if (wd->st.best != NODE_NONE && wd->st.best == n->id)
			return ui->utf8 ? utf[ROLE_IMPROVED - ROLE_QUEUED] : "*";
		if (node_repeat_of(&wd->tree, n) != NODE_NONE)
			return ui->utf8 ? "\xe2\x86\xbb" : "r";
		if (node_improved(n))
			return ui->utf8 ? "\xe2\x97\x86" : "+";
	}

	if (i < 0 || i >= (int)ARRAY_LEN(utf))
		return " ";
	return ui->utf8 ? utf[i] : ascii[i];
}

struct slot *ui_slot_of(struct ui *ui, uint32_t node)
{
	struct sched *s = ui->host.sched;

	for (size_t i = 0; s && i < s->nslots; i++)
		if (s->slots[i].used && s->slots[i].node == node)
			return &s->slots[i];
	return NULL;
}

/* A run says how far it will go with one of these (key=value or JSON). */
static const char *const total_names[] = {"total_steps", "max_steps", "num_steps",
					  "steps_total", "total_iters", "max_iters"};

void node_progress(struct ui *ui, const struct node *n, double *step, double *total,
		   int64_t *elapsed)
{
	struct slot *sl = ui_slot_of(ui, n->id);

	*step = NAN;
	*total = 0;
	*elapsed = n->started > 0 ? ui_now(ui) - n->started : -1;
	if (!sl)
		return;
	/* Time a person kept the job stopped is not time it ran. */
	if (*elapsed > 0 && sl->paused_ms > 0 && sl->paused_ms < *elapsed)
		*elapsed -= sl->paused_ms;
	*step = sl->metrics.step;
	for (size_t i = 0; i < ARRAY_LEN(total_names); i++) {
		const struct series *s = metrics_get(&sl->metrics, total_names[i]);
		if (s && s->count && s->last > 0) {
			*total = s->last;
			break;
		}
	}
}

void fmt_duration(char *buf, size_t n, int64_t ms)
{
	if (ms < 0) {
		snprintf(buf, n, "-");
		return;
	}
	long s = (long)(ms / 1000);
	if (s < 3600)
		snprintf(buf, n, "%ld:%02ld", s / 60, s % 60);
	else if (s < 86400)
		snprintf(buf, n, "%ld:%02ld:%02ld", s / 3600, s / 60 % 60, s % 60);
	else
		snprintf(buf, n, "%ldd%02ldh", s / 86400, s / 3600 % 24);
}

void sparkline(struct ui *ui, const double *v, int n, int w, struct buf *out)
{
	static const char *const bars[] = {"\xe2\x96\x81", "\xe2\x96\x82", "\xe2\x96\x83",
					   "\xe2\x96\x84", "\xe2\x96\x85", "\xe2\x96\x86",
					   "\xe2\x96\x87", "\xe2\x96\x88"};
	static const char ascii[] = "_.,-=+*#";

	if (n > w)
		v += n - w, n = w;
	double lo = INFINITY, hi = -INFINITY;
	for (int i = 0; i < n; i++) {
		if (v[i] < lo)
			lo = v[i];
		if (v[i] > hi)
			hi = v[i];
	}
	for (int i = 0; i < n; i++) {
		int level = hi > lo ? (int)((v[i] - lo) / (hi - lo) * 7.0 + 0.5) : 3;
		if (level < 0)
			level = 0;
		if (level > 7)
			level = 7;
		if (ui->utf8)
			buf_adds(out, bars[level]);
		else
			buf_addc(out, ascii[level]);
	}
}

bool metric_better(struct ui *ui, double a, double b)
{
	const char *goal = ui->host.wd ? ui->host.wd->cfg.goal : NULL;

	return goal && !strcmp(goal, "max") ? a > b : a < b;
}

/* ---- lines with search matches ------------------------------------------ */

struct span {
	size_t a, b;
};

static size_t find_spans(const char *clean, const char *needle, struct span *sp, size_t max)
{
	size_t n = 0, nl = needle ? strlen(needle) : 0;
	long at = 0;

	while (nl && n < max && (at = text_find(clean, (size_t)at, needle)) >= 0) {
		sp[n].a = (size_t)at;
		sp[n++].b = (size_t)at + nl;
		at += (long)nl;
	}
	return n;
}

/*
 * Bytes of the row starting at off when text is wrapped at width columns:
 * at the last space that fits when there is one (the space ends the row),
 * else as much as fits, and at least one whole character.
 */
static size_t segment(struct ui *ui, const char *s, size_t off, size_t len, int width, bool words)
{
	size_t n = text_fit(s + off, width, NULL, ui->utf8);

	if (!n && off < len) {
		unsigned char c = (unsigned char)s[off];
		n = c < 0xc0 ? 1 : c < 0xe0 ? 2 : c < 0xf0 ? 3 : 4;
		if (off + n > len)
			n = len - off;
	}
	if (words && off + n < len && s[off + n] != ' ') {
		for (size_t k = n; k > 1; k--)
			if (s[off + k - 1] == ' ')
				return k;
	}
	if (words && off + n < len && s[off + n] == ' ')
		n++; /* the space a row ends at is not shown at the next row's start */
	return n;
}

int wrap_rows(struct ui *ui, const char *clean, int width)
{
	size_t off = 0, len = strlen(clean);
	int rows = 0;

	do {
		off += segment(ui, clean, off, len, width, true);
		rows++;
	} while (off < len);
	return rows;
}

int draw_wrapped(struct ui *ui, WINDOW *w, int y, int x0, int width, int skip, int max,
		 const char *clean, const char *search, enum ui_role base)
{
	struct span sp[32];
	size_t ns = find_spans(clean, search, sp, ARRAY_LEN(sp));
	size_t off = 0, len = strlen(clean);
	int row = 0, drawn = 0;

	do {
		size_t n = segment(ui, clean, off, len, width, max > 1);
		if (row >= skip) {
			int x = x0;
			size_t p = off, end = off + n;
			while (p < end) {
				bool in = false;
				size_t stop = end;
				for (size_t i = 0; i < ns; i++) {
					if (p >= sp[i].a && p < sp[i].b) {
						in = true;
						stop = sp[i].b < end ? sp[i].b : end;
						break;
					}
					if (sp[i].a > p && sp[i].a < stop)
						stop = sp[i].a;
				}
				char *piece = xstrndup(clean + p, stop - p);
				x += draw_text(ui, w, y + drawn, x, x0 + width - x,
					       in ? ROLE_MATCH : base, piece);
				free(piece);
				p = stop;
			}
			drawn++;
		}
		row++;
		off += n;
	} while (off < len && drawn < max);
	return drawn ? drawn : (row > skip ? 1 : 0);
}
