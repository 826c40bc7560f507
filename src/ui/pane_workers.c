/*
 * pane_workers.c — the workers (SPEC §9): each worker of workers.json on
 * a line of its own with its state and heartbeat age, a line per GPU
 * (utilisation, memory, temperature), and its slots with their nodes.
 *
 * What the engine knows of its workers comes from engine/workers.json,
 * read again when it changes (looked at once a second): the UI runs in
 * the engine's process or attached to it, and never waits on a worker.
 * Until the engine has written that file, this machine's slots are the
 * scheduler's. A reading not taken shows as "-", never as a false 0.
 *
 * The cursor is on a row; over a busy slot it selects the slot's node, so
 * its log shows beside. toggle-worker disables or enables the worker of
 * the row, through workers_edit.h as `hypotop worker` does.
 */
#include "hypotop/ui_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "hypotop/fsutil.h"
#include "hypotop/workers_edit.h"
#include "hypotop/workers_view.h"

enum row_kind { ROW_WORKER, ROW_GPU, ROW_SLOT };

struct wrow {
	enum row_kind kind;
	size_t w;      /* the worker, in ui->reg */
	size_t i;      /* ROW_GPU: the GPU, ROW_SLOT: the slot, of that worker */
	uint32_t node; /* ROW_SLOT: its node; NODE_NONE when free */
	int gpu;       /* ROW_SLOT: its GPU, -1 none */
	bool unknown;  /* ROW_SLOT: the worker is out of reach */
	const struct job_info *job; /* ROW_SLOT: what its cluster says of its job; NULL none */
};

struct rows {
	struct worker_view *view;
	struct wrow *v;
	size_t len, cap;
};

static void row_add(struct rows *r, struct wrow row)
{
	if (r->len == r->cap) {
		r->cap = r->cap ? r->cap * 2 : 16;
		r->v = xrealloc(r->v, r->cap * sizeof *r->v);
	}
	r->v[r->len++] = row;
}

static void rows_build(struct ui *ui, struct rows *r)
{
	const struct sched *sc = ui->host.sched;
	bool sched_shown = ui->wstat_read || !sc;

	memset(r, 0, sizeof *r);
	r->view = xcalloc(ui->reg.len ? ui->reg.len : 1, sizeof *r->view);
	workers_view(&ui->reg, ui->wstat, ui->nwstat, r->view);
	for (size_t k = 0; k < ui->reg.len; k++) {
		const struct worker_view *v = &r->view[k];
		const struct worker_stat *s = v->stat;
		row_add(r, (struct wrow){ROW_WORKER, k, 0, NODE_NONE, -1, false});
		size_t ng = s && s->st.ngpu ? s->st.ngpu : v->def->ngpus;
		for (size_t i = 0; i < ng; i++)
			row_add(r, (struct wrow){ROW_GPU, k, i, NODE_NONE, -1, false});
		for (size_t i = 0; s && i < s->nslots; i++) {
			const struct worker_slot *sl = &s->slot[i];
			uint32_t id = sl->node[0] ? node_id_parse(sl->node) : NODE_NONE;
			row_add(r, (struct wrow){ROW_SLOT, k, i, id, sl->gpu, sl->unknown,
						 sl->job.id[0] ? &sl->job : NULL});
		}
		if (!s && !sched_shown && !strcmp(v->def->kind, "local")) {
			struct worker_view *lv = &r->view[k];
			lv->slots = sc->nslots;
			lv->used = 0;
			for (size_t i = 0; i < sc->nslots; i++) {
				lv->used += sc->slots[i].used;
				row_add(r, (struct wrow){ROW_SLOT, k, i,
							 sc->slots[i].used ? sc->slots[i].node
									   : NODE_NONE,
							 sc->slots[i].gpu, false});
			}
			if (lv->def->enabled)
				lv->state = lv->used && lv->used == lv->slots ? "busy" : "up";
			sched_shown = true;
		}
	}
}

static void rows_free(struct rows *r)
{
	free(r->view);
	free(r->v);
}

/* ---- the files ----------------------------------------------------------- */

/* What stat(2) says of a file, to tell when it changes; "-" when absent. */
static void file_sig(const char *path, char *sig, size_t size)
{
	struct stat st;

	if (stat(path, &st) < 0)
		snprintf(sig, size, "-");
	else
		snprintf(sig, size, "%lu.%lld.%lld.%ld", (unsigned long)st.st_ino,
			 (long long)st.st_size, (long long)st.st_mtim.tv_sec, st.st_mtim.tv_nsec);
}

static size_t rows_count(struct ui *ui)
{
	struct rows r;

	rows_build(ui, &r);
	size_t n = r.len;
	rows_free(&r);
	return n;
}

/* Read workers.json and engine/workers.json again where they changed. */
static unsigned reread(struct ui *ui)
{
	const char *wd = ui->host.wd ? ui->host.wd->path : NULL;
	char sig[UI_SIG_LEN];
	unsigned d = 0;
	size_t before = rows_count(ui);

	if (!wd)
		return 0;
	char *path = path_join(wd, "workers.json");
	file_sig(path, sig, sizeof sig);
	if (strcmp(sig, ui->reg_sig)) {
		struct workers ws;
		struct err e = {{0}};
		snprintf(ui->reg_sig, sizeof ui->reg_sig, "%s", sig);
		if (workers_load(path, &ws, &e) < 0) {
			ui_say(ui, true, "%s", e.msg); /* the workers shown stay as they were */
		} else {
			workers_free(&ui->reg);
			ui->reg = ws;
			d |= DIRTY_WORKERS;
		}
	}
	free(path);
	path = path_join(wd, WORKERSTAT_FILE);
	file_sig(path, sig, sizeof sig);
	free(path);
	if (strcmp(sig, ui->stat_sig)) {
		struct worker_stat *v;
		size_t n;
		struct err e = {{0}};
		snprintf(ui->stat_sig, sizeof ui->stat_sig, "%s", sig);
		int rc = workerstat_read(wd, NULL, &v, &n, &e);
		if (rc < 0)
			ui_say(ui, true, "%s", e.msg);
		if (rc == 0 || (rc == 1 && ui->wstat_read)) {
			workerstat_free(ui->wstat, ui->nwstat);
			ui->wstat = v;
			ui->nwstat = n;
			ui->wstat_read = rc == 0;
			d |= DIRTY_WORKERS;
		} else if (rc == 1) {
			workerstat_free(v, n);
		}
	}
	if (d && rows_count(ui) != before)
		d |= DIRTY_ALL | DIRTY_LAYOUT;
	return d;
}

unsigned workers_refresh(struct ui *ui)
{
	int64_t sec = ui_now(ui) / 1000;

	if (sec == ui->wchecked)
		return 0;
	ui->wchecked = sec;
	unsigned d = reread(ui);
	/* The heartbeats' ages move with the clock. */
	for (size_t i = 0; i < ui->nwstat; i++)
		if (ui->wstat[i].st.heartbeat > 0)
			d |= DIRTY_WORKERS;
	return d;
}

void workers_pane_free(struct ui *ui)
{
	workers_free(&ui->reg);
	workerstat_free(ui->wstat, ui->nwstat);
	ui->wstat = NULL;
	ui->nwstat = 0;
}

int workers_rows_wanted(struct ui *ui)
{
	return 1 + (int)rows_count(ui);
}

/* ---- drawing ------------------------------------------------------------- */

static enum ui_role state_role(const char *state)
{
	if (!strcmp(state, "up"))
		return ROLE_WORKER_UP;
	if (!strcmp(state, "busy") || !strcmp(state, "connecting"))
		return ROLE_WORKER_BUSY;
	if (!strcmp(state, "down"))
		return ROLE_WORKER_DOWN;
	return ROLE_DIM;
}

static void draw_worker(struct ui *ui, WINDOW *w, int y, int width, const struct worker_view *v,
			enum ui_role base, bool sel)
{
	const struct worker_stat *s = v->stat;
	char hb[48], age[32];

	char *nm = draw_cut(ui, v->def->name, 10);
	draw_text(ui, w, y, 0, width, base, nm);
	free(nm);
	int x = 11;
	x += draw_text(ui, w, y, x, width - x, sel ? base : state_role(v->state), v->state) + 1;
	x = x < 22 ? 22 : x;
	int64_t at = s ? s->st.heartbeat : 0;
	int64_t ms = ui_now(ui) - at;
	fmt_age(age, sizeof age, at > 0 ? (ms > 0 ? ms : 0) : -1);
	snprintf(hb, sizeof hb, "heartbeat %s", age);
	x += draw_text(ui, w, y, x, width - x, sel ? base : ROLE_DIM, hb) + 2;
	if (x >= width)
		return;
	/* Why it is down, or where it is. */
	if (s && s->st.reason[0]) {
		draw_raw(ui, w, y, x, width - x, sel ? base : ROLE_WORKER_DOWN, s->st.reason,
			 strlen(s->st.reason));
		return;
	}
	struct buf b;
	buf_init(&b);
	buf_adds(&b, v->def->kind);
	if (v->def->host) {
		buf_addc(&b, ' ');
		if (v->def->user)
			buf_printf(&b, "%s@", v->def->user);
		buf_adds(&b, v->def->host);
	}
	draw_raw(ui, w, y, x, width - x, sel ? base : ROLE_DIM, b.data, b.len);
	buf_free(&b);
}

static void draw_gpu(struct ui *ui, WINDOW *w, int y, int width, const struct worker_view *v,
		     size_t i, enum ui_role base, bool sel)
{
	const struct worker_stat *s = v->stat;
	const struct worker_gpu *g = s && s->st.ngpu ? &s->st.gpu[i] : NULL;
	char u[16], mu[24], mt[24], t[24], line[160];

	fmt_reading(u, sizeof u, g ? g->util : -1, "%");
	fmt_reading(mu, sizeof mu, g ? g->mem_used : -1, "");
	fmt_reading(mt, sizeof mt, g ? g->mem_total : -1, "");
	fmt_reading(t, sizeof t, g ? g->temp : -1, ui->utf8 ? "\xc2\xb0" "C" : " C");
	snprintf(line, sizeof line, "  gpu%-4d util %-4s mem %s/%s MiB  %s",
		 g ? g->index : v->def->gpus[i], u, mu, mt, t);
	draw_text(ui, w, y, 0, width, sel ? base : ROLE_DIM, line);
}

static void draw_slot(struct ui *ui, WINDOW *w, int y, int width, const struct wrow *r,
		      enum ui_role base, bool sel)
{
	char label[32], nid[NODE_ID_LEN];

	snprintf(label, sizeof label, "  slot%zu", r->i);
	int x = draw_text(ui, w, y, 0, width, sel ? base : ROLE_DIM, label);
	x = x < 9 ? 9 : x + 1;
	struct node *n = r->node != NODE_NONE ? tree_get(&ui->host.wd->tree, r->node) : NULL;
	if (!n) {
		draw_text(ui, w, y, x, width - x, sel ? base : ROLE_WORKER_UP, "idle");
		return;
	}
	x += draw_text(ui, w, y, x, width - x, sel ? base : node_role(n), node_glyph(ui, n));
	x++;
	node_id_format(n->id, nid);
	x += draw_text(ui, w, y, x, width - x, sel ? base : ROLE_WORKER_BUSY, nid);
	x++;
	if (r->gpu >= 0) {
		snprintf(label, sizeof label, "gpu%d", r->gpu);
		x += draw_text(ui, w, y, x, width - x, sel ? base : ROLE_DIM, label) + 1;
	}
	if (r->unknown) {
		/* Its worker is out of reach: how far it got is not known. */
		draw_text(ui, w, y, x, width - x, sel ? base : ROLE_WORKER_DOWN,
			  "out of reach, last known running");
		return;
	}
	int rw = width - x >= 40 ? 20 : width - x >= 28 ? 14 : 0;
	int name_w = width - x - rw - 1;
	if (name_w > 0) {
		/* A cluster's job: its id, state and time in it, in place of the name. */
		char job[256];
		if (r->job)
			fmt_job(job, sizeof job, r->job);
		char *name = draw_cut(ui, r->job ? job : n->name ? n->name : "", name_w);
		draw_text(ui, w, y, x, name_w, r->job ? (sel ? base : ROLE_DIM) : base, name);
		free(name);
	}
	if (rw)
		draw_progress(ui, w, y, width - rw, rw, n, base);
}

void workers_draw(struct ui *ui)
{
	WINDOW *w = ui->win[PANE_WORKERS];
	char right[64];
	struct rows r;

	if (!w)
		return;
	int width = ui->lay.workers.w, h = ui->lay.workers.h;
	rows_build(ui, &r);
	size_t busy = 0, ns = 0;
	for (size_t i = 0; i < r.len; i++)
		if (r.v[i].kind == ROW_SLOT) {
			ns++;
			busy += r.v[i].node != NODE_NONE;
		}
	werase(w);
	snprintf(right, sizeof right, "%zu/%zu slots busy ", busy, ns);
	draw_title(ui, w, width, ui->focus == PANE_WORKERS, " Workers", right);
	if (ui->wsel >= r.len)
		ui->wsel = r.len ? r.len - 1 : 0;
	/* The cursor's row stays in sight. */
	size_t top = ui->wsel + 2 > (size_t)h ? ui->wsel + 2 - (size_t)h : 0;
	for (size_t i = top; i < r.len && (int)(i - top) + 1 < h; i++) {
		int y = (int)(i - top) + 1;
		const struct wrow *row = &r.v[i];
		bool sel = i == ui->wsel;
		enum ui_role base = sel ? (ui->focus == PANE_WORKERS ? ROLE_CURSOR : ROLE_CURSOR_IDLE)
					: ROLE_NORMAL;
		if (sel)
			draw_fill(ui, w, y, 0, width, base);
		const struct worker_view *v = &r.view[row->w];
		if (row->kind == ROW_WORKER)
			draw_worker(ui, w, y, width, v, base, sel);
		else if (row->kind == ROW_GPU)
			draw_gpu(ui, w, y, width, v, row->i, base, sel);
		else
			draw_slot(ui, w, y, width, row, base, sel);
	}
	rows_free(&r);
	wnoutrefresh(w);
}

/* ---- keys ---------------------------------------------------------------- */

/* Running in the engine's process: its own way to read workers.json again. */
static int reload_here(void *ctx, const char *workdir, struct err *e)
{
	struct ui *ui = ctx;

	(void)workdir;
	return ui->host.reload_workers ? ui->host.reload_workers(ui->host.ctx, e) : 1;
}

static unsigned toggle(struct ui *ui, const struct worker_view *v)
{
	struct worker_edit ed = {v->def->enabled ? WORKER_DISABLE : WORKER_ENABLE, v->def->name,
				 NULL, 0};
	enum worker_outcome out;
	struct err e = {{0}};
	/* Attached, the engine is asked over its socket; here, through the host. */
	workers_reload_fn reload = ui->host.attached ? NULL : reload_here;
	const char *did = ed.kind == WORKER_DISABLE ? "disabled" : "enabled";

	if (workers_change(ui->host.wd->path, &ed, reload, ui, &out, &e) != EXIT_OK) {
		ui_say(ui, true, "worker %s: %s", v->def->name, e.msg);
		return DIRTY_STATUS | DIRTY_HINTS;
	}
	if (out == WORKERS_APPLIED)
		ui_say(ui, false, "worker %s %s; the engine has taken it", v->def->name, did);
	else if (out == WORKERS_NO_ANSWER)
		ui_say(ui, true, "worker %s %s in workers.json; the engine did not answer: %s",
		       v->def->name, did, e.msg);
	else
		ui_say(ui, false, "worker %s %s in workers.json; the engine takes it when it next "
				  "starts",
		       v->def->name, did);
	ui->reg_sig[0] = '\0'; /* read it again now */
	ui->wchecked = -1;
	return workers_refresh(ui) | DIRTY_WORKERS | DIRTY_STATUS | DIRTY_HINTS;
}

unsigned workers_act(struct ui *ui, enum ui_action a)
{
	struct rows r;
	size_t old = ui->wsel;
	unsigned d = 0;

	rows_build(ui, &r);
	size_t n = r.len;
	switch (a) {
	case ACT_DOWN:
	case ACT_PAGE_DOWN:
		if (n && ui->wsel + 1 < n)
			ui->wsel = a == ACT_DOWN ? ui->wsel + 1 : n - 1;
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
		ui->wsel = n ? n - 1 : 0;
		break;
	case ACT_TOGGLE_WORKER:
		if (ui->focus != PANE_WORKERS || !ui->win[PANE_WORKERS] || ui->wsel >= n)
			ui_nothing(ui, "no worker selected: focus the workers pane (3) and pick one");
		else
			d = toggle(ui, &r.view[r.v[ui->wsel].w]);
		rows_free(&r);
		return d | DIRTY_HINTS;
	default:
		break;
	}
	if (ui->wsel != old && ui->wsel < n) {
		d = DIRTY_WORKERS;
		if (r.v[ui->wsel].kind == ROW_SLOT && r.v[ui->wsel].node != NODE_NONE)
			d |= tree_select(ui, r.v[ui->wsel].node);
	}
	rows_free(&r);
	return d;
}
