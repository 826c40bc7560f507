/*
 * pane_workers.c — the workers (SPEC §9): each worker of workers.json with
 * its state and slots, and the job in each slot. Moving the cursor over a
 * busy slot selects its node, so its log shows beside.
 *
 * Measurements this version does not take (GPU use, memory, temperature of
 * remote hosts) are shown as "-", never as a false 0.
 */
#include "hypotop/ui_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static size_t nslots(struct ui *ui)
{
	return ui->host.sched ? ui->host.sched->nslots : 0;
}

static bool is_local(const struct worker_def *w)
{
	return !strcmp(w->kind, "local");
}

int workers_rows_wanted(struct ui *ui)
{
	int rows = 1 + (int)nslots(ui);

	for (size_t i = 0; i < ui->reg.len; i++)
		rows++;
	if (!ui->reg.len)
		rows++;
	return rows;
}

static void draw_slot(struct ui *ui, WINDOW *w, int y, int width, size_t i, bool sel)
{
	struct slot *sl = &ui->host.sched->slots[i];
	enum ui_role base = sel ? (ui->focus == PANE_WORKERS ? ROLE_CURSOR : ROLE_CURSOR_IDLE)
				: ROLE_NORMAL;
	char label[32], nid[NODE_ID_LEN];

	if (sel)
		draw_fill(ui, w, y, 0, width, base);
	if (sl->gpu >= 0)
		snprintf(label, sizeof label, "  gpu%d", sl->gpu);
	else
		snprintf(label, sizeof label, "  slot%zu", i);
	int x = draw_text(ui, w, y, 0, width, sel ? base : ROLE_DIM, label);
	x = x < 9 ? 9 : x + 1;
	struct node *n = sl->used ? tree_get(&ui->host.wd->tree, sl->node) : NULL;
	if (!n) {
		draw_text(ui, w, y, x, width - x, sel ? base : ROLE_WORKER_UP, "idle");
		return;
	}
	x += draw_text(ui, w, y, x, width - x, sel ? base : node_role(n), node_glyph(ui, n));
	x++;
	node_id_format(n->id, nid);
	x += draw_text(ui, w, y, x, width - x, sel ? base : ROLE_WORKER_BUSY, nid);
	x++;
	int rw = width - x >= 40 ? 20 : width - x >= 28 ? 14 : 0;
	int name_w = width - x - rw - 1;
	if (name_w > 0) {
		char *name = draw_cut(ui, n->name ? n->name : "", name_w);
		draw_text(ui, w, y, x, name_w, base, name);
		free(name);
	}
	if (rw)
		draw_progress(ui, w, y, width - rw, rw, n, base);
}

void workers_draw(struct ui *ui)
{
	WINDOW *w = ui->win[PANE_WORKERS];
	char right[64], line[160];

	if (!w)
		return;
	int width = ui->lay.workers.w, h = ui->lay.workers.h;
	size_t busy = 0, ns = nslots(ui);
	for (size_t i = 0; i < ns; i++)
		busy += ui->host.sched->slots[i].used;
	werase(w);
	snprintf(right, sizeof right, "%zu/%zu slots busy ", busy, ns);
	draw_title(ui, w, width, ui->focus == PANE_WORKERS, " Workers", right);
	if (ui->wsel >= ns)
		ui->wsel = ns ? ns - 1 : 0;
	int y = 1;
	size_t nw = ui->reg.len ? ui->reg.len : 1;
	for (size_t k = 0; k < nw && y < h; k++) {
		const struct worker_def *wd = ui->reg.len ? &ui->reg.v[k] : NULL;
		bool local = !wd || is_local(wd);
		const char *name = wd ? wd->name : "local";
		char *nm = draw_cut(ui, name, 10);
		draw_text(ui, w, y, 0, width, local ? ROLE_NORMAL : ROLE_WORKER_DOWN, nm);
		free(nm);
		if (local) {
			draw_text(ui, w, y, 11, width - 11, busy ? ROLE_WORKER_BUSY : ROLE_WORKER_UP,
				  busy ? "busy" : "up");
			draw_text(ui, w, y, 16, width - 16, ROLE_DIM,
				  "local  heartbeat now  gpu util - mem - temp -");
			y++;
			for (size_t i = 0; i < ns && y < h; i++, y++)
				draw_slot(ui, w, y, width, i, i == ui->wsel);
		} else {
			char *kind = draw_cut(ui, wd->kind, 8);
			snprintf(line, sizeof line, "unused  %s: no executor for it in this version",
				 kind);
			free(kind);
			draw_text(ui, w, y++, 11, width - 11, ROLE_WORKER_DOWN, line);
		}
	}
	wnoutrefresh(w);
}

unsigned workers_act(struct ui *ui, enum ui_action a)
{
	size_t ns = nslots(ui);
	size_t old = ui->wsel;

	if (!ns)
		return 0;
	switch (a) {
	case ACT_DOWN:
	case ACT_PAGE_DOWN:
		if (ui->wsel + 1 < ns)
			ui->wsel = a == ACT_DOWN ? ui->wsel + 1 : ns - 1;
		break;
	case ACT_UP:
	case ACT_PAGE_UP:
		if (ui->wsel > 0)
			ui->wsel = a == ACT_UP ? ui->wsel - 1 : 0;
		break;
	case ACT_TOP:
		ui->wsel = 0;
		break;
	case ACT_BOTTOM:
		ui->wsel = ns - 1;
		break;
	default:
		return 0;
	}
	if (ui->wsel == old)
		return 0;
	unsigned d = DIRTY_WORKERS;
	struct slot *sl = &ui->host.sched->slots[ui->wsel];
	if (sl->used)
		d |= tree_select(ui, sl->node);
	return d;
}
