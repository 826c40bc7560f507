/*
 * pane_log.c — the log of the selected run (runs/<id>/log): its tail,
 * following the end by default, with scrollback, wrapping and search, and
 * a sparkline of the main metric in the title.
 *
 * Only the tail is read (logtail.h); only the lines on screen are cleaned
 * and drawn, so a log growing at thousands of lines a second costs a frame
 * no more than a quiet one.
 */
#include "hypotop/ui_int.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hypotop/fsutil.h"
#include "hypotop/json.h"
#include "hypotop/termtext.h"

#define NO_MATCH UINT64_MAX

void log_view_init(struct log_view *lv)
{
	memset(lv, 0, sizeof *lv);
	logtail_init(&lv->tail);
	lv->node = NODE_NONE;
	lv->hist_node = NODE_NONE;
	lv->follow = true;
	lv->match = NO_MATCH;
}

void log_view_free(struct log_view *lv)
{
	logtail_free(&lv->tail);
	free(lv->search);
}

static uint64_t base_line(const struct log_view *lv)
{
	return lv->tail.total - lv->tail.len;
}

static int body_rows(struct ui *ui)
{
	return ui->lay.log.h > 1 ? ui->lay.log.h - 1 : 1;
}

/* ---- the sparkline ------------------------------------------------------- */

static int points_from(const cJSON *arr, double *v, int max)
{
	int n = 0, total = cJSON_GetArraySize(arr);
	int skip = total > max ? total - max : 0, i = 0;

	for (const cJSON *p = arr ? arr->child : NULL; p; p = p->next, i++) {
		const cJSON *val = cJSON_GetArrayItem(p, 1);
		if (i >= skip && cJSON_IsNumber(val) && n < max)
			v[n++] = val->valuedouble;
	}
	return n;
}

/* The metric's history of a run that has ended, from runs/<id>/metrics.json. */
static void load_history(struct ui *ui, const struct node *n)
{
	struct log_view *lv = &ui->lv;
	char nid[NODE_ID_LEN];
	struct err e;

	lv->hist_node = n->id;
	lv->hist_status = n->status;
	lv->nhist = 0;
	lv->hist_name[0] = '\0';
	node_id_format(n->id, nid);
	char *rel = xasprintf("runs/%s/metrics.json", nid);
	char *path = workdir_file(ui->host.wd, rel);
	free(rel);
	cJSON *j = fs_exists(path) ? json_parse_file(path, &e) : NULL;
	free(path);
	const cJSON *series = cJSON_GetObjectItemCaseSensitive(j, "series");
	const char *names[] = {ui->host.wd->cfg.metric, "loss"};
	for (size_t i = 0; i < ARRAY_LEN(names) && series; i++) {
		const cJSON *s = cJSON_GetObjectItemCaseSensitive(series, names[i]);
		const cJSON *rec = cJSON_GetObjectItemCaseSensitive(s, "recent");
		const cJSON *smp = cJSON_GetObjectItemCaseSensitive(s, "sample");
		const cJSON *use =
			cJSON_GetArraySize(smp) >= cJSON_GetArraySize(rec) ? smp : rec;
		int k = points_from(use, lv->hist, (int)ARRAY_LEN(lv->hist));
		if (k >= 2) {
			lv->nhist = k;
			snprintf(lv->hist_name, sizeof lv->hist_name, "%s", names[i]);
			break;
		}
	}
	cJSON_Delete(j);
}

/* The values to draw: live from the run's slot, or the stored history. */
static int spark_values(struct ui *ui, const struct node *n, double *v, int max,
			const char **name)
{
	struct slot *sl = ui_slot_of(ui, n->id);

	if (sl) {
		const char *names[] = {ui->host.wd->cfg.metric, "loss"};
		for (size_t i = 0; i < ARRAY_LEN(names); i++) {
			const struct series *s = metrics_get(&sl->metrics, names[i]);
			if (!s || s->ring_len < 2)
				continue;
			int k = 0;
			size_t skip = s->ring_len > (size_t)max ? s->ring_len - (size_t)max : 0;
			for (size_t j = skip; j < s->ring_len; j++)
				v[k++] = s->ring[(s->ring_head + j) % METRICS_RING].value;
			*name = names[i];
			return k;
		}
		return 0;
	}
	*name = ui->lv.hist_name;
	int k = ui->lv.nhist < max ? ui->lv.nhist : max;
	memcpy(v, ui->lv.hist + ui->lv.nhist - k, (size_t)k * sizeof *v);
	return k;
}

/* ---- following the selection ------------------------------------------------ */

unsigned log_refresh(struct ui *ui)
{
	struct log_view *lv = &ui->lv;
	unsigned d = 0;

	if (!ui->host.wd)
		return 0;
	tree_refresh(ui);
	uint32_t sel = ui->tv.sel;
	if (sel != lv->node) {
		char *path = NULL;
		if (sel != NODE_NONE) {
			char nid[NODE_ID_LEN];
			node_id_format(sel, nid);
			char *rel = xasprintf("runs/%s/log", nid);
			path = workdir_file(ui->host.wd, rel);
			free(rel);
		}
		logtail_set(&lv->tail, path);
		free(path);
		lv->node = sel;
		lv->follow = true;
		lv->match = NO_MATCH;
		lv->hist_node = NODE_NONE;
		d |= DIRTY_LOG;
	}
	if (logtail_poll(&lv->tail))
		d |= DIRTY_LOG;
	struct node *n = sel != NODE_NONE ? tree_get(&ui->host.wd->tree, sel) : NULL;
	if (n && (lv->hist_node != n->id || lv->hist_status != n->status) &&
	    !ui_slot_of(ui, n->id)) {
		load_history(ui, n);
		d |= DIRTY_LOG;
	}
	return d;
}

/* ---- drawing ------------------------------------------------------------------ */

static char *clean_line(struct ui *ui, size_t i)
{
	size_t len;
	const char *s = logtail_line(&ui->lv.tail, i, &len);
	struct buf b;

	buf_init(&b);
	text_clean(&b, s, len, ui->utf8);
	return buf_steal(&b);
}

/*
 * " Log n0003 name [scroll] [wrap]" and, at the right, "loss ▁▂▅▇ 0.2444":
 * the state words and the sparkline first, the name in what is left.
 */
static void draw_title_line(struct ui *ui, WINDOW *w, int width, const struct node *n)
{
	struct log_view *lv = &ui->lv;
	char nid[NODE_ID_LEN], flags[32];
	struct buf left, right;

	buf_init(&left);
	buf_init(&right);
	if (n) {
		double v[64];
		const char *name = NULL;
		int room = width / 2 - 12;
		int k = spark_values(ui, n, v, room > 16 ? 16 : room, &name);
		if (k >= 2 && name && *name) {
			char *nm = draw_cut(ui, name, 10);
			buf_printf(&right, "%s ", nm);
			free(nm);
			sparkline(ui, v, k, k, &right);
			buf_printf(&right, " %.4g ", v[k - 1]);
		}
	}
	snprintf(flags, sizeof flags, "%s%s", lv->follow ? "" : " [scroll]",
		 lv->wrap ? " [wrap]" : "");
	buf_adds(&left, " Log");
	if (n) {
		node_id_format(n->id, nid);
		buf_printf(&left, " %s", nid);
		int rw = right.data ? text_width(right.data, ui->utf8) + 1 : 0;
		int room = width - rw - (int)strlen(" Log ") - (int)strlen(nid) - (int)strlen(flags) - 2;
		if (room >= 4) {
			char *name = draw_cut(ui, n->name ? n->name : "", room);
			buf_printf(&left, " %s", name);
			free(name);
		}
	}
	buf_adds(&left, flags);
	draw_title(ui, w, width, ui->focus == PANE_LOG, left.data, right.data);
	buf_free(&left);
	buf_free(&right);
}

static void draw_empty(struct ui *ui, WINDOW *w, int width, const struct node *n)
{
	char nid[NODE_ID_LEN], msg[160];

	if (!n) {
		draw_text(ui, w, 1, 1, width - 1, ROLE_DIM, "no node selected");
		return;
	}
	node_id_format(n->id, nid);
	if (ui->tv.qpos[n->id])
		snprintf(msg, sizeof msg, "%s: %s #%u, no log yet", nid,
			 status_name((enum node_status)n->status), ui->tv.qpos[n->id]);
	else if (n->status == ST_PREPARING)
		snprintf(msg, sizeof msg, "%s: preparing, no log yet", nid);
	else
		snprintf(msg, sizeof msg, "%s has no log", nid);
	draw_text(ui, w, 1, 1, width - 1, ROLE_DIM, msg);
}

void log_draw(struct ui *ui)
{
	WINDOW *w = ui->win[PANE_LOG];
	struct log_view *lv = &ui->lv;

	if (!w || !ui->host.wd)
		return;
	int width = ui->lay.log.w, h = body_rows(ui);
	struct node *n = lv->node != NODE_NONE ? tree_get(&ui->host.wd->tree, lv->node) : NULL;
	werase(w);
	draw_title_line(ui, w, width, n);
	size_t count = logtail_count(&lv->tail);
	uint64_t base = base_line(lv);
	if (!count) {
		if (!logtail_open(&lv->tail))
			draw_empty(ui, w, width, n);
		wnoutrefresh(w);
		return;
	}
	/* The first line to show, and how many of its rows to skip. */
	size_t first;
	int skip = 0;
	if (lv->follow) {
		if (!lv->wrap) {
			first = count > (size_t)h ? count - (size_t)h : 0;
		} else {
			int rows = 0;
			first = count;
			while (first > 0 && rows < h) {
				char *c = clean_line(ui, first - 1);
				rows += wrap_rows(ui, c, width);
				free(c);
				first--;
			}
			skip = rows > h ? rows - h : 0;
		}
	} else {
		if (lv->top < base)
			lv->top = base;
		if (lv->top >= base + count)
			lv->top = base + count - 1;
		first = (size_t)(lv->top - base);
	}
	lv->shown = base + first;
	int y = 1;
	for (size_t i = first; i < count && y <= h; i++) {
		char *c = clean_line(ui, i);
		int used = draw_wrapped(ui, w, y, 0, width, skip, lv->wrap ? h - y + 1 : 1, c,
					 lv->search, ROLE_NORMAL);
		free(c);
		y += used ? used : 1;
		skip = 0;
	}
	wnoutrefresh(w);
}

/* ---- keys ----------------------------------------------------------------------- */

static unsigned scroll_to(struct ui *ui, int64_t line)
{
	struct log_view *lv = &ui->lv;
	uint64_t base = base_line(lv);
	size_t count = logtail_count(&lv->tail);
	int h = body_rows(ui);

	if (!count)
		return 0;
	if (line < (int64_t)base)
		line = (int64_t)base;
	/* Scrolled to the end: follow again. */
	if (line + h >= (int64_t)(base + count)) {
		lv->follow = true;
		return DIRTY_LOG;
	}
	lv->follow = false;
	lv->top = (uint64_t)line;
	return DIRTY_LOG;
}

unsigned log_act(struct ui *ui, enum ui_action a)
{
	struct log_view *lv = &ui->lv;
	int64_t from = (int64_t)(lv->follow ? lv->shown : lv->top);
	int h = body_rows(ui);

	switch (a) {
	case ACT_DOWN:
		return lv->follow ? 0 : scroll_to(ui, from + 1);
	case ACT_UP:
		return scroll_to(ui, from - 1);
	case ACT_PAGE_DOWN:
		return lv->follow ? 0 : scroll_to(ui, from + h);
	case ACT_PAGE_UP:
		return scroll_to(ui, from - h);
	case ACT_TOP:
		if (!logtail_count(&lv->tail))
			return 0;
		lv->follow = false;
		lv->top = base_line(lv);
		return DIRTY_LOG;
	case ACT_BOTTOM:
		lv->follow = true;
		return DIRTY_LOG;
	case ACT_FOLLOW:
		lv->follow = !lv->follow;
		if (!lv->follow)
			lv->top = lv->shown;
		return DIRTY_LOG;
	case ACT_WRAP:
		lv->wrap = !lv->wrap;
		return DIRTY_LOG;
	default:
		return 0;
	}
}

static bool line_matches(struct ui *ui, size_t i, const char *needle)
{
	size_t len;
	const char *s = logtail_line(&ui->lv.tail, i, &len);
	char *c = xstrndup(s, len);
	bool m = text_find(c, 0, needle) >= 0;

	(void)ui;
	free(c);
	return m;
}

static unsigned show_match(struct ui *ui, size_t i)
{
	struct log_view *lv = &ui->lv;
	int h = body_rows(ui);

	lv->match = base_line(lv) + i;
	lv->follow = false;
	lv->top = lv->match > base_line(lv) + (uint64_t)(h / 2) ? lv->match - (uint64_t)(h / 2)
								 : base_line(lv);
	return DIRTY_LOG;
}

unsigned log_set_search(struct ui *ui, const char *text)
{
	struct log_view *lv = &ui->lv;

	free(lv->search);
	lv->search = text && *text ? xstrdup(text) : NULL;
	lv->match = NO_MATCH;
	if (!lv->search)
		return DIRTY_LOG;
	for (size_t i = logtail_count(&lv->tail); i-- > 0;)
		if (line_matches(ui, i, lv->search))
			return show_match(ui, i);
	ui_nothing(ui, "the log's tail holds no \"%s\"", lv->search);
	return DIRTY_LOG | DIRTY_STATUS;
}

unsigned log_next_match(struct ui *ui, int dir)
{
	struct log_view *lv = &ui->lv;
	size_t count = logtail_count(&lv->tail);
	uint64_t base = base_line(lv);

	if (!lv->search) {
		ui_nothing(ui, "no search: press / in the log to search it");
		return DIRTY_STATUS;
	}
	int64_t at = lv->match != NO_MATCH && lv->match >= base ? (int64_t)(lv->match - base)
								: (int64_t)(lv->shown - base);
	for (int64_t i = at + dir; i >= 0 && i < (int64_t)count; i += dir)
		if (line_matches(ui, (size_t)i, lv->search))
			return show_match(ui, (size_t)i);
	ui_nothing(ui, "no %s match of \"%s\"", dir > 0 ? "later" : "earlier", lv->search);
	return DIRTY_STATUS;
}
