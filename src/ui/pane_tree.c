/*
 * pane_tree.c — the hypothesis tree: one row per node, indented under its
 * parent, foldable and filterable; the selection every node action and the
 * log pane follow.
 *
 * Rows are rebuilt only when the workdir's seq (every recorded change
 * bumps it), the folds or the filter change; a frame draws only the rows
 * on screen, so a tree of 10^4 nodes costs the same to draw as one of 10.
 */
#include "hypotop/ui_int.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hypotop/termtext.h"

void tree_view_free(struct tree_view *tv)
{
	free(tv->rows);
	free(tv->depth);
	free(tv->flags);
	free(tv->qpos);
	free(tv->filter);
	memset(tv, 0, sizeof *tv);
}

static void ensure(struct tree_view *tv, size_t len)
{
	if (tv->flen >= len)
		return;
	size_t n = len + len / 2 + 16;
	tv->flags = xrealloc(tv->flags, n);
	memset(tv->flags + tv->flen, 0, n - tv->flen);
	tv->qpos = xrealloc(tv->qpos, n * sizeof *tv->qpos);
	tv->flen = n;
}

static bool matches(const struct node *n, const char *f)
{
	char id[NODE_ID_LEN];

	node_id_format(n->id, id);
	return text_find(id, 0, f) >= 0 || (n->name && text_find(n->name, 0, f) >= 0) ||
	       (n->hypothesis && text_find(n->hypothesis, 0, f) >= 0) ||
	       text_find(status_name((enum node_status)n->status), 0, f) >= 0 ||
	       (n->failure_kind && text_find(n->failure_kind, 0, f) >= 0);
}

static bool passes(const struct tree_view *tv, const struct tree *t, uint32_t id)
{
	return t->nodes[id].present && (!tv->filter || (tv->flags[id] & (TV_HIT | TV_SUBHIT)));
}

static uint32_t first_ok(const struct tree_view *tv, const struct tree *t, uint32_t id)
{
	while (id != NODE_NONE && id < t->len && !passes(tv, t, id))
		id = t->nodes[id].next_sibling;
	return id < t->len ? id : NODE_NONE;
}

static void push(struct tree_view *tv, uint32_t id, uint32_t depth)
{
	if (tv->nrows == tv->cap) {
		tv->cap = tv->cap ? tv->cap * 2 : 64;
		tv->rows = xrealloc(tv->rows, tv->cap * sizeof *tv->rows);
		tv->depth = xrealloc(tv->depth, tv->cap * sizeof *tv->depth);
	}
	tv->rows[tv->nrows] = id;
	tv->depth[tv->nrows++] = depth;
}

/* Depth first without recursion: a chain of 10^5 nodes must not overflow the stack. */
static void walk(struct tree_view *tv, const struct tree *t, uint32_t root)
{
	uint32_t cur = root, depth = 0;

	for (;;) {
		push(tv, cur, depth);
		bool open = tv->filter || !(tv->flags[cur] & TV_FOLDED);
		uint32_t child = open ? first_ok(tv, t, t->nodes[cur].first_child) : NODE_NONE;
		if (child != NODE_NONE) {
			cur = child;
			depth++;
			continue;
		}
		for (;;) {
			if (cur == root)
				return;
			uint32_t sib = first_ok(tv, t, t->nodes[cur].next_sibling);
			if (sib != NODE_NONE) {
				cur = sib;
				break;
			}
			cur = t->nodes[cur].parent;
			depth--;
		}
	}
}

static void clamp_scroll(struct ui *ui)
{
	struct tree_view *tv = &ui->tv;
	size_t h = ui->lay.tree.h > 1 ? (size_t)ui->lay.tree.h - 1 : 1;

	if (tv->sel_row < tv->top)
		tv->top = tv->sel_row;
	if (tv->sel_row >= tv->top + h)
		tv->top = tv->sel_row - h + 1;
	if (tv->nrows <= h)
		tv->top = 0;
	else if (tv->top > tv->nrows - h)
		tv->top = tv->nrows - h;
}

static void find_selection(struct ui *ui)
{
	struct tree_view *tv = &ui->tv;
	struct tree *t = &ui->host.wd->tree;

	/* The selected node, or its nearest shown ancestor. */
	for (uint32_t want = tv->sel; want != NODE_NONE && want < t->len;
	     want = t->nodes[want].parent) {
		for (size_t i = 0; i < tv->nrows; i++)
			if (tv->rows[i] == want) {
				tv->sel_row = i;
				tv->sel = want;
				clamp_scroll(ui);
				return;
			}
	}
	tv->sel_row = 0;
	tv->sel = tv->nrows ? tv->rows[0] : NODE_NONE;
	clamp_scroll(ui);
}

/*
 * Queue positions and counts always; the rows only when the shape may have
 * changed (nodes added, folds, the filter), since walking a big tree's links
 * is what costs.
 */
static void rebuild(struct ui *ui)
{
	struct tree_view *tv = &ui->tv;
	struct workdir *wd = ui->host.wd;
	struct tree *t = &wd->tree;
	uint32_t *order;
	bool shape = tv->stale || tv->len != t->len || tv->filter;

	ensure(tv, t->len);
	memset(tv->qpos, 0, t->len * sizeof *tv->qpos);
	tv->queued = queue_order(t, &order);
	for (size_t i = 0; i < tv->queued; i++)
		tv->qpos[order[i]] = (uint32_t)i + 1;
	free(order);
	memset(tv->counts, 0, sizeof tv->counts);
	for (uint32_t id = 0; id < t->len; id++)
		if (t->nodes[id].present)
			tv->counts[t->nodes[id].status]++;
	noise_pool(t, &tv->noise);
	memset(&tv->base, 0, sizeof tv->base);
	if (tree_get(t, 0))
		noise_runs(t, tree_get(t, 0), &tv->base);
	tv->decimals = noise_decimals(t);
	tv->seq = wd->seq;
	if (!shape)
		return;
	for (uint32_t id = 0; id < t->len; id++)
		tv->flags[id] &= (uint8_t)~(TV_HIT | TV_SUBHIT);
	if (tv->filter) {
		/* A parent's id is smaller than its children's: one pass upwards. */
		for (uint32_t id = t->len; id-- > 0;) {
			struct node *n = &t->nodes[id];
			if (!n->present)
				continue;
			if (matches(n, tv->filter))
				tv->flags[id] |= TV_HIT;
			if ((tv->flags[id] & (TV_HIT | TV_SUBHIT)) && n->parent != NODE_NONE &&
			    n->parent < t->len)
				tv->flags[n->parent] |= TV_SUBHIT;
		}
	}
	tv->nrows = 0;
	for (uint32_t id = 0; id < t->len; id++)
		if (t->nodes[id].present && t->nodes[id].parent == NODE_NONE && passes(tv, t, id))
			walk(tv, t, id);
	tv->len = t->len;
	tv->stale = false;
	find_selection(ui);
}

bool tree_refresh(struct ui *ui)
{
	struct tree_view *tv = &ui->tv;
	struct workdir *wd = ui->host.wd;

	if (!wd || (!tv->stale && tv->seq == wd->seq && tv->len == wd->tree.len))
		return false;
	rebuild(ui);
	return true;
}

struct node *tree_selected(struct ui *ui)
{
	tree_refresh(ui);
	if (ui->tv.sel == NODE_NONE || !ui->host.wd)
		return NULL;
	return tree_get(&ui->host.wd->tree, ui->tv.sel);
}

unsigned tree_select(struct ui *ui, uint32_t id)
{
	struct tree *t = &ui->host.wd->tree;

	if (id >= t->len || !t->nodes[id].present)
		return 0;
	ensure(&ui->tv, t->len);
	for (uint32_t p = t->nodes[id].parent; p != NODE_NONE && p < t->len; p = t->nodes[p].parent)
		ui->tv.flags[p] &= (uint8_t)~TV_FOLDED;
	ui->tv.sel = id;
	ui->tv.stale = true;
	rebuild(ui);
	return DIRTY_TREE | DIRTY_HINTS | DIRTY_STATUS;
}

size_t tree_queue_order(struct ui *ui, uint32_t **ids)
{
	return queue_order_unstarted(&ui->host.wd->tree, ids);
}

unsigned tree_set_filter(struct ui *ui, const char *text)
{
	struct tree_view *tv = &ui->tv;

	if (!text || !*text) {
		if (!tv->filter)
			return 0;
		free(tv->filter);
		tv->filter = NULL;
	} else {
		if (tv->filter && !strcmp(tv->filter, text))
			return 0;
		free(tv->filter);
		tv->filter = xstrdup(text);
	}
	tv->stale = true;
	if (!ui->host.wd)
		return DIRTY_TREE;
	rebuild(ui);
	if (tv->filter && tv->nrows && !(tv->flags[tv->sel] & TV_HIT))
		tree_next_match(ui, 1);
	return DIRTY_TREE | DIRTY_HINTS;
}

unsigned tree_next_match(struct ui *ui, int dir)
{
	struct tree_view *tv = &ui->tv;

	if (!tv->filter) {
		ui_nothing(ui, "no filter: press / to filter the tree");
		return DIRTY_STATUS;
	}
	tree_refresh(ui);
	for (size_t k = 1; k <= tv->nrows; k++) {
		long r = ((long)tv->sel_row + dir * (long)k) % (long)tv->nrows;
		size_t i = (size_t)(r < 0 ? r + (long)tv->nrows : r);
		if (tv->flags[tv->rows[i]] & TV_HIT) {
			tv->sel_row = i;
			tv->sel = tv->rows[i];
			clamp_scroll(ui);
			return DIRTY_TREE | DIRTY_HINTS;
		}
	}
	ui_nothing(ui, "no node matches \"%s\"", tv->filter);
	return DIRTY_STATUS;
}

static unsigned move_to(struct ui *ui, long row)
{
	struct tree_view *tv = &ui->tv;

	if (!tv->nrows)
		return 0;
	if (row < 0)
		row = 0;
	if ((size_t)row >= tv->nrows)
		row = (long)tv->nrows - 1;
	if ((size_t)row == tv->sel_row)
		return 0;
	tv->sel_row = (size_t)row;
	tv->sel = tv->rows[row];
	clamp_scroll(ui);
	return DIRTY_TREE | DIRTY_HINTS;
}

unsigned tree_act(struct ui *ui, enum ui_action a)
{
	struct tree_view *tv = &ui->tv;
	long page = ui->lay.tree.h > 2 ? ui->lay.tree.h - 2 : 1;
	long row = (long)tv->sel_row;
	struct node *n = tree_selected(ui);

	switch (a) {
	case ACT_DOWN:
		return move_to(ui, row + 1);
	case ACT_UP:
		return move_to(ui, row - 1);
	case ACT_TOP:
		return move_to(ui, 0);
	case ACT_BOTTOM:
		return move_to(ui, (long)tv->nrows - 1);
	case ACT_PAGE_DOWN:
		return move_to(ui, row + page);
	case ACT_PAGE_UP:
		return move_to(ui, row - page);
	case ACT_COLLAPSE:
		if (!n)
			return 0;
		if (n->first_child != NODE_NONE && !(tv->flags[n->id] & TV_FOLDED)) {
			tv->flags[n->id] |= TV_FOLDED;
			tv->stale = true;
			rebuild(ui);
			return DIRTY_TREE;
		}
		return n->parent != NODE_NONE ? tree_select(ui, n->parent) : 0;
	case ACT_EXPAND:
		if (!n || n->first_child == NODE_NONE)
			return 0;
		if (tv->flags[n->id] & TV_FOLDED) {
			tv->flags[n->id] &= (uint8_t)~TV_FOLDED;
			tv->stale = true;
			rebuild(ui);
			return DIRTY_TREE;
		}
		return move_to(ui, row + 1);
	default:
		return 0;
	}
}

/* ---- drawing ----------------------------------------------------------------- */

void draw_progress(struct ui *ui, WINDOW *w, int y, int x, int width, const struct node *n,
		   enum ui_role base)
{
	double step, total;
	int64_t elapsed;
	char t[24], full[48], part[48];
	struct slot *sl = ui_slot_of(ui, n->id);

	node_progress(ui, n, &step, &total, &elapsed);
	fmt_duration(t, sizeof t, elapsed);
	/* The words with the time, or, when they do not fit, without it. */
	if (sl && sl->have_job && sl->job.paused) {
		snprintf(full, sizeof full, "stopped %s", t);
		snprintf(part, sizeof part, "stopped");
	} else if (total > 0 && step == step) {
		double frac = step < 0 ? 0 : step > total ? 1 : step / total;
		int64_t eta = step > 0 && elapsed >= 0
				      ? (int64_t)((double)elapsed * (total - step) / step)
				      : -1;
		fmt_duration(t, sizeof t, eta);
		snprintf(full, sizeof full, "%3d%% %s", (int)(frac * 100), t);
		snprintf(part, sizeof part, "%d%%", (int)(frac * 100));
		int tw = (int)strlen(full);
		int bw = width - tw - 1;
		if (bw >= 4) {
			int done = (int)(frac * bw + 0.5);
			for (int i = 0; i < bw; i++)
				draw_text(ui, w, y, x + i, 1,
					  i < done ? ROLE_PROGRESS : ROLE_PROGRESS_TODO,
					  i < done ? (ui->utf8 ? "\xe2\x96\x88" : "#")
						   : (ui->utf8 ? "\xe2\x96\x91" : "-"));
			draw_text(ui, w, y, x + bw + 1, tw, base, full);
			return;
		}
	} else if (step == step) {
		snprintf(full, sizeof full, "step %.0f %s", step, t);
		snprintf(part, sizeof part, "step %.0f", step);
	} else {
		snprintf(full, sizeof full, "%s %s", status_name((enum node_status)n->status), t);
		snprintf(part, sizeof part, "%s", status_name((enum node_status)n->status));
	}
	const char *text = text_width(full, ui->utf8) <= width ? full : part;
	int tw = text_width(text, ui->utf8);
	if (tw > width)
		tw = width;
	draw_text(ui, w, y, x + width - tw, tw, base, text);
}

static void right_text(char *buf, size_t n, const char *s, int width)
{
	snprintf(buf, n, "%*s", width, s);
}

static void draw_metric(struct ui *ui, WINDOW *w, int y, int x, int width, const struct node *n,
			bool sel, enum ui_role base)
{
	struct tree *t = &ui->host.wd->tree;
	const struct node *p = n->parent != NODE_NONE ? tree_get(t, n->parent) : NULL;
	char m[32], d[32], cell[64];
	int dw = width >= 18 ? 9 : 0;
	int mw = width - dw;

	if (!n->has_metric) {
		const char *what = n->status == ST_FAILED && n->failure_kind ? n->failure_kind
				 : n->status == ST_PRUNED		    ? "pruned"
				 : n->status == ST_CANCELLED		    ? ""
									    : "-";
		right_text(cell, sizeof cell, what, width);
		draw_text(ui, w, y, x, width, sel ? base : n->status == ST_FAILED ? ROLE_FAILED
										: ROLE_DIM,
			  cell);
		return;
	}
	snprintf(m, sizeof m, "%.4g", n->metric);
	right_text(cell, sizeof cell, m, mw);
	draw_text(ui, w, y, x, mw, base, cell);
	double delta;
	if (!dw || !p || !noise_delta(t, n, &ui->tv.base, &delta))
		return;
	snprintf(d, sizeof d, "%+.2g", delta);
	right_text(cell, sizeof cell, d, dw);
	enum ui_role r = metric_better(ui, delta, 0) ? ROLE_BETTER : ROLE_WORSE;
	draw_text(ui, w, y, x + mw, dw, sel ? base : r, cell);
}

static void draw_row(struct ui *ui, WINDOW *w, int y, int width, size_t row, bool sel,
		     bool focused)
{
	struct tree_view *tv = &ui->tv;
	struct node *n = &ui->host.wd->tree.nodes[tv->rows[row]];
	enum ui_role base = sel ? (focused ? ROLE_CURSOR : ROLE_CURSOR_IDLE) : ROLE_NORMAL;
	char id[NODE_ID_LEN], q[32];
	int rw = width >= 60 ? 24 : width >= 44 ? 20 : width >= 30 ? 12 : 0;

	if (sel)
		draw_fill(ui, w, y, 0, width, base);
	int indent = (int)tv->depth[row] * 2;
	if (indent > width / 3)
		indent = width / 3;
	int x = indent;
	const char *fold = " ";
	if (n->first_child != NODE_NONE)
		fold = tv->flags[n->id] & TV_FOLDED ? (ui->utf8 ? "\xe2\x96\xb8" : "+")
						    : (ui->utf8 ? "\xe2\x96\xbe" : "-");
	x += draw_text(ui, w, y, x, width - x, sel ? base : ROLE_DIM, fold);
	x += draw_text(ui, w, y, x, width - x, sel ? base : node_role(n), node_glyph(ui, n));
	x++;
	node_id_format(n->id, id);
	x += draw_text(ui, w, y, x, width - x, sel ? base : ROLE_DIM, id);
	x++;
	int name_w = width - x - rw - 1;
	if (name_w > 0) {
		/* A repeat is named by whose run it repeats ("seed 1 of n0008"): a cut name would pass for an experiment. */
		char what[64] = "";
		uint32_t of = node_repeat_of(&ui->host.wd->tree, n);
		if (of != NODE_NONE) {
			char oid[NODE_ID_LEN];
			node_id_format(of, oid);
			snprintf(what, sizeof what, "seed %d of %s", n->seed, oid);
		}
		char *name = draw_cut(ui, *what ? what : n->name ? n->name : "", name_w);
		enum ui_role nr = base;
		if (!sel && tv->filter && (tv->flags[n->id] & TV_HIT))
			nr = ROLE_MATCH;
		draw_text(ui, w, y, x, name_w, nr, name);
		free(name);
	}
	if (!rw)
		return;
	int rx = width - rw;
	enum node_status st = (enum node_status)n->status;
	if (st == ST_PREPARING && n->priority) {
		/* Not running yet, so still moved by + and -: its priority shows, as a queued one's. */
		char cell[48];
		snprintf(q, sizeof q, "preparing  prio %d", n->priority);
		right_text(cell, sizeof cell, q, rw);
		draw_text(ui, w, y, rx, rw, base, cell);
	} else if (status_is_active(st) && st != ST_ANALYZING) {
		draw_progress(ui, w, y, rx, rw, n, base);
	} else if (st == ST_PAUSED && n->resume_to != ST_QUEUED &&
		   status_is_active((enum node_status)n->resume_to)) {
		draw_progress(ui, w, y, rx, rw, n, base);
	} else if (tv->qpos[n->id]) {
		if (n->priority)
			snprintf(q, sizeof q, "#%u  prio %d", tv->qpos[n->id], n->priority);
		else
			snprintf(q, sizeof q, "#%u", tv->qpos[n->id]);
		char cell[48];
		right_text(cell, sizeof cell, q, rw);
		draw_text(ui, w, y, rx, rw, sel ? base : ROLE_QUEUED, cell);
	} else {
		draw_metric(ui, w, y, rx, rw, n, sel, base);
	}
}

void tree_draw(struct ui *ui)
{
	WINDOW *w = ui->win[PANE_TREE];
	struct tree_view *tv = &ui->tv;
	char left[160], right[96];

	if (!w || !ui->host.wd)
		return;
	int width = ui->lay.tree.w, h = ui->lay.tree.h - 1;
	bool focused = ui->focus == PANE_TREE;
	werase(w);
	tree_refresh(ui);
	clamp_scroll(ui);
	snprintf(left, sizeof left, " Hypotheses %u", ui->host.wd->tree.count);
	right[0] = '\0';
	if (tv->filter) {
		struct buf b;
		size_t hits = 0;
		for (size_t i = 0; i < tv->nrows; i++)
			hits += (tv->flags[tv->rows[i]] & TV_HIT) != 0;
		buf_init(&b);
		text_clean(&b, tv->filter, strlen(tv->filter), ui->utf8);
		snprintf(right, sizeof right, "/%.40s: %zu ", b.data, hits);
		buf_free(&b);
	} else {
		const struct run_state *st = &ui->host.wd->st;
		const struct config *c = &ui->host.wd->cfg;
		snprintf(right, sizeof right, "round %ld/%ld patience %ld/%ld ", st->iteration,
			 c->max_iterations, st->rounds_without_gain, c->patience);
		if ((int)(strlen(left) + strlen(right)) >= width)
			snprintf(right, sizeof right, "%ld/%ld %ld/%ld ", st->iteration,
				 c->max_iterations, st->rounds_without_gain, c->patience);
	}
	draw_title(ui, w, width, focused, left, right);
	for (int i = 0; i < h; i++) {
		size_t row = tv->top + (size_t)i;
		if (row >= tv->nrows)
			break;
		draw_row(ui, w, 1 + i, width, row, row == tv->sel_row, focused);
	}
	if (!tv->nrows && tv->filter)
		draw_text(ui, w, 1, 1, width - 1, ROLE_DIM, "no node matches; Esc clears the filter");
	wnoutrefresh(w);
}
