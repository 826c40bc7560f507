/*
 * curves.c — the curves view: the selected run's curve of one series over
 * the best run's and its parent's, as Optuna's intermediate-values plot
 * draws them, in braille (2×4 dots a cell) or, without UTF-8, in one mark
 * a cell. A running run's curve is its live series (its slot's ring and
 * sample); a finished one's what runs/<id>/metrics.json keeps. The series
 * is prune.series when set, else the metric, else loss: the first the
 * selected run has points of. Opened as a pager (pager.c), drawn to the
 * size of the screen each time.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hypotop/curve.h"
#include "hypotop/json.h"
#include "hypotop/ui_int.h"

#define GUTTER 10 /* the values' column, left of the plot */

enum { LINE_SELECTED, LINE_BEST, LINE_PARENT, NLINES };

struct curves {
	char series[64];
	struct {
		bool shown;     /* a line of the legend */
		bool have;      /* with points */
		char label[96]; /* "n0003 hidden-25", "n0001 best, parent" */
		struct curve c;
	} line[NLINES];
};

static const enum ui_role roles[NLINES] = {ROLE_RUNNING, ROLE_BETTER, ROLE_DIM};
static const char marks[NLINES] = {'*', '+', '.'};

void curves_free(struct curves *cv)
{
	free(cv);
}

static bool load_curve(struct ui *ui, uint32_t id, const char *series, struct curve *c)
{
	struct slot *sl = ui_slot_of(ui, id);

	if (sl)
		return curve_from_series(c, metrics_get(&sl->metrics, series)) == 0 && c->n > 0;
	char nid[NODE_ID_LEN];
	node_id_format(id, nid);
	char *rel = xasprintf("runs/%s/metrics.json", nid);
	char *path = workdir_file(ui->host.wd, rel);
	struct err e = {{0}};
	cJSON *doc = json_parse_file(path, &e);
	bool ok = doc && curve_from_json(c, doc, series) == 0;
	cJSON_Delete(doc);
	free(path);
	free(rel);
	return ok;
}

static void label(struct ui *ui, uint32_t id, const char *role, char *out, size_t n)
{
	const struct node *x = tree_get(&ui->host.wd->tree, id);
	char nid[NODE_ID_LEN];

	node_id_format(id, nid);
	snprintf(out, n, "%s %s", nid, role ? role : x && x->name ? x->name : "");
}

struct curves *curves_load(struct ui *ui, const struct node *n)
{
	struct workdir *w = ui->host.wd;
	struct curves *cv = xcalloc(1, sizeof *cv);
	const char *cand[] = {w->cfg.prune_series, w->cfg.metric, "loss"};
	const char *series = NULL;

	/* The first series the selected run has points of (two make a line). */
	for (size_t i = 0; i < ARRAY_LEN(cand) && !series; i++)
		if (cand[i] && load_curve(ui, n->id, cand[i], &cv->line[0].c) && cv->line[0].c.n >= 2)
			series = cand[i];
	if (!series)
		series = cand[0] ? cand[0] : cand[1];
	snprintf(cv->series, sizeof cv->series, "%s", series);
	uint32_t ids[NLINES] = {n->id, w->st.best, n->parent};
	for (int k = 0; k < NLINES; k++) {
		bool dup = ids[k] == NODE_NONE || !tree_get(&w->tree, ids[k]);
		for (int j = 0; j < k && !dup; j++)
			dup = ids[j] == ids[k];
		if (dup)
			continue;
		cv->line[k].shown = true;
		cv->line[k].have = load_curve(ui, ids[k], series, &cv->line[k].c);
		const char *what = k == LINE_SELECTED ? NULL
				   : k == LINE_PARENT	   ? "parent"
				   : ids[k] == n->parent   ? "best, parent"
							   : "best";
		label(ui, ids[k], what, cv->line[k].label, sizeof cv->line[k].label);
	}
	return cv;
}

/* ---- the raster: a mask of dots per cell and line ------------------------ */

struct raster {
	int cols, rows, dx, dy; /* cells; dots a cell */
	uint8_t *mask;          /* [rows][cols][NLINES] */
};

/* Braille dot bits, by dot column and row inside a cell. */
static const uint8_t braille_bit[2][4] = {{0x01, 0x02, 0x04, 0x40}, {0x08, 0x10, 0x20, 0x80}};

static void dot(struct raster *r, int line, int x, int y)
{
	if (x < 0 || y < 0 || x >= r->cols * r->dx || y >= r->rows * r->dy)
		return;
	uint8_t *m = &r->mask[((size_t)(y / r->dy) * (size_t)r->cols + (size_t)(x / r->dx)) * NLINES +
			      (size_t)line];
	*m |= r->dx == 2 ? braille_bit[x % 2][y % 4] : 1;
}

static void segment(struct raster *r, int line, int x0, int y0, int x1, int y1)
{
	int n = abs(x1 - x0) > abs(y1 - y0) ? abs(x1 - x0) : abs(y1 - y0);

	for (int i = 0; i <= n; i++)
		dot(r, line, n ? x0 + (int)lround((double)(x1 - x0) * i / n) : x0,
		    n ? y0 + (int)lround((double)(y1 - y0) * i / n) : y0);
}

static void raster_curve(struct raster *r, int line, const struct curve *c, double x0,
			 double x1, double y0, double y1)
{
	int px = 0, py = 0;
	int wx = r->cols * r->dx - 1, wy = r->rows * r->dy - 1;

	for (size_t i = 0; i < c->n; i++) {
		int x = (int)lround((c->p[i].step - x0) / (x1 - x0) * wx);
		int y = (int)lround((y1 - c->p[i].value) / (y1 - y0) * wy);
		if (i)
			segment(r, line, px, py, x, y);
		else
			dot(r, line, x, y);
		px = x;
		py = y;
	}
}

/* ---- drawing --------------------------------------------------------------- */

static void fmt_value(char *out, size_t n, double v)
{
	snprintf(out, n, "%8.4g", v);
}

void curves_draw(struct ui *ui, WINDOW *w, int y0, int width, int height)
{
	struct curves *cv = ui->pg.curves;
	double x0 = INFINITY, x1 = -INFINITY, lo = INFINITY, hi = -INFINITY;
	char s[128];
	int x = 0;

	if (!cv || height < 1)
		return;
	/* The legend: the series, then each line's mark and label in its colour. */
	x += draw_text(ui, w, y0, x, width - x, ROLE_HEADING, cv->series);
	for (int k = 0; k < NLINES; k++) {
		if (!cv->line[k].shown)
			continue;
		x += draw_text(ui, w, y0, x, width - x, ROLE_NORMAL, "  ");
		if (ui->utf8)
			snprintf(s, sizeof s, "\xe2\xa3\xbf"); /* ⣿ */
		else
			snprintf(s, sizeof s, "%c", marks[k]);
		x += draw_text(ui, w, y0, x, width - x, roles[k], s);
		snprintf(s, sizeof s, " %s%s", cv->line[k].label, cv->line[k].have ? "" : " (no points)");
		x += draw_text(ui, w, y0, x, width - x, k == LINE_SELECTED ? ROLE_NORMAL : ROLE_DIM,
			       s);
		const struct curve *c = &cv->line[k].c;
		for (size_t i = 0; cv->line[k].have && i < c->n; i++) {
			x0 = fmin(x0, c->p[i].step);
			x1 = fmax(x1, c->p[i].step);
			lo = fmin(lo, c->p[i].value);
			hi = fmax(hi, c->p[i].value);
		}
	}
	int rows = height - 2, cols = width - GUTTER;
	if (!isfinite(x0) || rows < 2 || cols < 4) {
		if (height > 1)
			draw_text(ui, w, y0 + 1, 0, width, ROLE_DIM,
				  !isfinite(x0) ? "No points of this series to draw yet."
						: "Too small to draw the curves.");
		return;
	}
	if (x1 == x0)
		x1 = x0 + 1;
	if (hi == lo) {
		double pad = lo ? fabs(lo) * 0.05 : 1;
		hi += pad;
		lo -= pad;
	}
	struct raster r = {cols, rows, ui->utf8 ? 2 : 1, ui->utf8 ? 4 : 1, NULL};
	r.mask = xcalloc((size_t)rows * (size_t)cols * NLINES, 1);
	for (int k = NLINES - 1; k >= 0; k--)
		if (cv->line[k].have)
			raster_curve(&r, k, &cv->line[k].c, x0, x1, lo, hi);
	for (int row = 0; row < rows; row++) {
		int y = y0 + 1 + row;
		s[0] = '\0';
		if (row == 0 || row == rows - 1 || row == rows / 2)
			fmt_value(s, sizeof s, hi - (hi - lo) * row / (rows - 1));
		draw_text(ui, w, y, 0, GUTTER - 1, ROLE_DIM, s);
		draw_text(ui, w, y, GUTTER - 1, 1, ROLE_BORDER, ui->utf8 ? "\xe2\x94\x82" : "|");
		for (int col = 0; col < cols; col++) {
			const uint8_t *m = &r.mask[((size_t)row * (size_t)cols + (size_t)col) * NLINES];
			int k = 0;
			while (k < NLINES && !m[k])
				k++;
			if (k == NLINES)
				continue;
			if (ui->utf8)
				snprintf(s, sizeof s, "%c%c%c", 0xe2, 0xa0 + (m[k] >> 6),
					 0x80 + (m[k] & 0x3f));
			else
				snprintf(s, sizeof s, "%c", marks[k]);
			draw_text(ui, w, y, GUTTER + col, 1, roles[k], s);
		}
	}
	free(r.mask);
	/* The steps under the plot: first, "step", last. */
	int y = y0 + 1 + rows;
	snprintf(s, sizeof s, "%.10g", x0);
	draw_text(ui, w, y, GUTTER, cols, ROLE_DIM, s);
	draw_text(ui, w, y, GUTTER + cols / 2 - 2, 4, ROLE_DIM, "step");
	snprintf(s, sizeof s, "%.10g", x1);
	int len = (int)strlen(s);
	draw_text(ui, w, y, width - len > GUTTER ? width - len : GUTTER, len, ROLE_DIM, s);
}
