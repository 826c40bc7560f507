/*
 * fleet.c — the workers of workers.json as the engine runs them: one
 * executor each, their slots, engine/workers.json, and reading the file
 * again while the engine runs (see sched.h).
 *
 * This machine's worker keeps the slots config.json gives it
 * (max_concurrency, or one per GPU of gpus); an ssh worker adds its
 * "slots", or one per GPU it lists. A GPU is one slot, so never two
 * jobs. A slurm worker has "max_jobs" slots: jobs submitted at once.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hypotop/fsutil.h"
#include "hypotop/json.h"
#include "hypotop/lifecycle.h"
#include "hypotop/workers.h"
#include "hypotop/workerstat.h"

/* engine/workers.json is a view: written at most this often. */
#define PUBLISH_MS 250

/*
 * The executor's status changed: engine/workers.json follows, and the
 * engine's log and status bar say when the worker goes down (with why)
 * and when it is back, once each way.
 */
static void worker_changed(void *ctx)
{
	struct sched_worker *w = ctx;
	struct worker_status st;

	exec_status(w->exec, &st);
	if (st.state == WORKER_DOWN && w->vast_id && w->enabled && !w->gone)
		vast_heal(w->s, w);
	if (st.state == WORKER_DOWN && !w->said_down) {
		w->said_down = true;
		sched_say(w->s, "warning: worker %s is down: %s", w->name, st.reason);
	} else if (st.state == WORKER_UP && w->said_down) {
		w->said_down = false;
		sched_say(w->s, "worker %s is up again", w->name);
	}
	sched_workers_changed(w->s);
}

static const struct worker_def *def_find(const struct workers *ws, const char *name)
{
	for (size_t i = 0; name && i < ws->len; i++)
		if (!strcmp(ws->v[i].name, name))
			return &ws->v[i];
	return NULL;
}

/*
 * Everything of an entry but "enabled", and of the worker it goes
 * through: another text is another worker.
 */
static char *def_text(const struct workers *ws, const struct worker_def *d)
{
	const struct worker_def *via = def_find(ws, d->via);
	struct buf b;

	buf_init(&b);
	buf_printf(&b, "%s|%s|%s|%s|", d->account ?: "", d->qos ?: "", d->gres ?: "",
		   d->via ?: "");
	for (size_t i = 0; d->sbatch_args && d->sbatch_args[i]; i++)
		buf_printf(&b, "%s|", d->sbatch_args[i]);
	if (via && via != d) {
		char *v = def_text(ws, via);
		buf_printf(&b, "via:%s|", v);
		free(v);
	}
	buf_printf(&b, "%s|%s|%s|%s|%s|%s|%s|%s|%ld|%ld|%ld|%d|", d->kind, d->host ?: "",
		   d->user ?: "", d->key_file ?: "", d->workspace ?: "", d->partition ?: "",
		   d->known_hosts ?: "", d->setup ?: "", d->port, d->slots, d->vast_id,
		   d->accept_new_host_key);
	for (size_t i = 0; i < d->ngpus; i++)
		buf_printf(&b, "%d,", d->gpus[i]);
	return buf_steal(&b);
}

static struct sched_worker *worker_new(struct sched *s, const char *name, const char *kind)
{
	struct sched_worker *w = xcalloc(1, sizeof *w);

	w->s = s;
	w->name = xstrdup(name);
	w->kind = xstrdup(kind);
	w->enabled = true;
	s->workers = xrealloc(s->workers, (s->nworkers + 1) * sizeof *s->workers);
	s->workers[s->nworkers++] = w;
	return w;
}

static void worker_free(struct sched_worker *w)
{
	exec_free(w->exec); /* its jobs still running keep running */
	free(w->name);
	free(w->kind);
	free(w->def);
	free(w);
}

struct slot *sched_worker_slot(struct sched *s, int worker, int gpu)
{
	struct slot *any = NULL;

	for (size_t i = 0; i < s->nslots; i++) {
		struct slot *sl = &s->slots[i];
		if (sl->used || sl->worker != worker)
			continue;
		if (sl->gpu == gpu)
			return sl;
		if (!any)
			any = sl;
	}
	if (any)
		return any;
	/* More jobs found running there than it has slots now: watched anyway. */
	s->slots = xrealloc(s->slots, (s->nslots + 1) * sizeof *s->slots);
	struct slot *sl = &s->slots[s->nslots++];
	memset(sl, 0, sizeof *sl);
	sl->worker = worker;
	sl->gpu = gpu;
	sl->tree = -1;
	sl->log_fd = -1;
	return sl;
}

static void slots_add(struct sched *s, int worker, size_t n, const int *gpus)
{
	s->slots = xrealloc(s->slots, (s->nslots + n) * sizeof *s->slots);
	for (size_t i = 0; i < n; i++) {
		struct slot *sl = &s->slots[s->nslots++];
		memset(sl, 0, sizeof *sl);
		sl->worker = worker;
		sl->gpu = gpus ? gpus[i] : -1;
		sl->tree = -1;
		sl->log_fd = -1;
	}
}

/* This machine's slots, as config.json has always given them. */
static void local_slots(struct sched *s, int worker)
{
	const struct config *c = &s->wd->cfg;
	int ngpu = c->gpus ? cJSON_GetArraySize(c->gpus) : 0;
	size_t n = (size_t)c->max_concurrency;
	int gpus[4096];

	if (ngpu && (size_t)ngpu < n)
		n = (size_t)ngpu;
	for (size_t i = 0; ngpu && i < n; i++)
		gpus[i] = cJSON_GetArrayItem(c->gpus, (int)i)->valueint;
	slots_add(s, worker, n, ngpu ? gpus : NULL);
}

static bool have_local(struct sched *s)
{
	for (size_t i = 0; i < s->nworkers; i++)
		if (s->workers[i]->exec && !strcmp(s->workers[i]->kind, "local") &&
		    !s->workers[i]->gone)
			return true;
	return false;
}

static void rent_take(struct sched_worker *w, const struct worker_def *d)
{
	w->vast_id = d->vast_id;
	w->dph = d->dph;
	w->rented_at = d->rented_at;
	w->released_at = d->released_at;
	w->ngpus = d->ngpus;
}

void sched_rent_spend(struct sched *s, double *usd, double *gpu_hours)
{
	double now = (double)now_ms() / 1000;

	*usd = *gpu_hours = 0;
	for (size_t i = 0; i < s->nworkers; i++) {
		const struct sched_worker *w = s->workers[i];
		const struct worker_def d = {.vast_id = w->vast_id, .rented_at = w->rented_at,
					     .released_at = w->released_at};
		double h = workers_rent_hours(&d, now);
		*usd += h * w->dph;
		*gpu_hours += h * (double)(w->ngpus ? w->ngpus : 1);
	}
}

/* A worker of workers.json (one of ws), with its executor and slots. */
static void worker_add(struct sched *s, const struct workers *ws, const struct worker_def *d)
{
	struct sched_worker *w = worker_new(s, d->name, d->kind);
	int idx = (int)s->nworkers - 1;

	w->enabled = d->enabled;
	rent_take(w, d);
	w->def = def_text(ws, d);
	if (!strcmp(d->kind, "local")) {
		if (have_local(s)) {
			w->why_not = "another local worker is listed before it: this machine is one";
			sched_say(s, "warning: workers.json: worker %s: %s", d->name, w->why_not);
			return;
		}
		w->exec = local_executor_new(s->loop, sched_job_news, w);
		if (s->wd->cfg.gpus && cJSON_GetArraySize(s->wd->cfg.gpus))
			local_executor_watch_gpus(w->exec);
		local_slots(s, idx);
	} else if (!strcmp(d->kind, "ssh")) {
		w->exec = ssh_executor_new(s->loop, d, s->wd->cfg.source_dir, sched_job_news, w,
					   worker_changed);
		slots_add(s, idx, d->ngpus ? d->ngpus : (size_t)d->slots, d->ngpus ? d->gpus : NULL);
	} else {
		/* Its slots are how many of its jobs may be submitted at once. */
		w->exec = slurm_executor_new(s->loop, d, def_find(ws, d->via),
					     (long)s->wd->cfg.job_timeout, s->wd->cfg.source_dir,
					     sched_job_news, w, worker_changed);
		slots_add(s, idx, (size_t)d->slots, NULL);
	}
}

int sched_worker_gone_local(struct sched *s, const char *name)
{
	for (size_t i = 0; i < s->nworkers; i++)
		if (s->workers[i]->gone && s->workers[i]->exec && !strcmp(s->workers[i]->name, name) &&
		    !strcmp(s->workers[i]->kind, "local"))
			return (int)i;
	struct sched_worker *w = worker_new(s, name, "local");

	w->gone = true;
	w->exec = local_executor_new(s->loop, sched_job_news, w);
	return (int)s->nworkers - 1;
}

/* The workdir's workers.json, read now. */
static int registry_load(struct sched *s, struct workers *ws, struct err *e)
{
	char *path = path_join(s->wd->path, "workers.json");
	int rc = workers_load(path, ws, e);

	free(path);
	return rc;
}

int fleet_init(struct sched *s, struct err *e)
{
	struct workers ws;

	if (registry_load(s, &ws, e) < 0)
		return -1;
	for (size_t i = 0; i < ws.len; i++)
		worker_add(s, &ws, &ws.v[i]);
	workers_free(&ws);
	if (!s->nslots)
		sched_say(s, "warning: workers.json has no worker that runs jobs: nothing is "
			     "launched until one is added");
	sched_workers_changed(s);
	return 0;
}

void fleet_free(struct sched *s)
{
	for (size_t i = 0; i < s->nworkers; i++)
		worker_free(s->workers[i]);
	free(s->workers);
	s->workers = NULL;
	s->nworkers = 0;
}

struct executor *sched_exec(struct sched *s, const struct slot *sl)
{
	return s->workers[sl->worker]->exec;
}

bool sched_queues(struct sched *s, const struct slot *sl)
{
	return !strcmp(s->workers[sl->worker]->kind, "slurm");
}

static bool worker_up(const struct sched_worker *w)
{
	struct worker_status st;

	if (!w->exec)
		return false;
	exec_status(w->exec, &st);
	return st.state == WORKER_UP;
}

bool sched_slot_open(struct sched *s, const struct slot *sl)
{
	const struct sched_worker *w = s->workers[sl->worker];

	return !w->gone && w->enabled && worker_up(w);
}

int sched_worker_find(struct sched *s, const char *name)
{
	for (size_t i = 0; i < s->nworkers; i++)
		if (!s->workers[i]->gone && !strcmp(s->workers[i]->name, name))
			return (int)i;
	return -1;
}

void sched_worker_label(struct sched *s, const struct slot *sl, char *out, size_t size)
{
	const char *name = s->workers[sl->worker]->name;

	if (sl->gpu >= 0)
		snprintf(out, size, "%s:gpu%d", name, sl->gpu);
	else
		snprintf(out, size, "%s", name);
}

/* ---- engine/workers.json ------------------------------------------------ */

void sched_workers_changed(struct sched *s)
{
	if (s->workers_dirty)
		return;
	s->workers_dirty = true;
	sched_timer_arm(s);
}

int64_t sched_workers_due(struct sched *s)
{
	return s->workers_dirty ? s->workers_at + PUBLISH_MS : 0;
}

static void stat_fill(struct sched *s, size_t i, struct worker_stat *ws)
{
	const struct sched_worker *w = s->workers[i];

	memset(ws, 0, sizeof *ws);
	snprintf(ws->name, sizeof ws->name, "%s", w->name);
	snprintf(ws->kind, sizeof ws->kind, "%s", w->kind);
	ws->enabled = w->enabled;
	if (w->exec) {
		exec_status(w->exec, &ws->st);
	} else {
		ws->st.state = WORKER_DOWN;
		snprintf(ws->st.reason, sizeof ws->st.reason, "%s", w->why_not);
	}
	if (w->gone && !ws->st.reason[0])
		snprintf(ws->st.reason, sizeof ws->st.reason,
			 "no longer in workers.json: goes once its jobs end");
	if (!w->enabled && ws->st.state == WORKER_UP)
		ws->st.state = WORKER_DISABLED;
	ws->slot = xcalloc(s->nslots ? s->nslots : 1, sizeof *ws->slot);
	for (size_t k = 0; k < s->nslots; k++) {
		const struct slot *sl = &s->slots[k];
		if ((size_t)sl->worker != i)
			continue;
		struct worker_slot *o = &ws->slot[ws->nslots++];
		if (sl->used)
			node_id_format(sl->node, o->node);
		o->gpu = sl->gpu;
		o->unknown = sl->used && sl->unknown;
		if (sl->used && sl->have_job)
			exec_info(w->exec, &sl->job, &o->job);
	}
}

void sched_workers_publish(struct sched *s, bool now)
{
	if (!s->workers_dirty || (!now && mono_ms() < sched_workers_due(s)))
		return;
	struct worker_stat *v = xcalloc(s->nworkers ? s->nworkers : 1, sizeof *v);
	struct err e = {{0}};
	for (size_t i = 0; i < s->nworkers; i++)
		stat_fill(s, i, &v[i]);
	s->workers_dirty = false;
	s->workers_at = mono_ms();
	if (workerstat_write(s->wd->path, now_ms(), v, s->nworkers, &e) < 0) {
		if (err_out_of_fds(&e))
			sched_workers_changed(s); /* written again later */
		else
			sched_say(s, "warning: %s", e.msg);
	}
	for (size_t i = 0; i < s->nworkers; i++)
		free(v[i].slot);
	free(v);
}

/* ---- workers.json read again -------------------------------------------- */

void sched_workers_sweep(struct sched *s)
{
	bool changed = false;

	for (size_t i = 0; i < s->nworkers;) {
		struct sched_worker *w = s->workers[i];
		bool busy = false;
		for (size_t k = 0; k < s->nslots; k++)
			busy |= s->slots[k].worker == (int)i && s->slots[k].used;
		if (!w->gone || busy) {
			i++;
			continue;
		}
		/* Its slots go, and the later workers' slots name them one lower. */
		size_t out = 0;
		for (size_t k = 0; k < s->nslots; k++) {
			if (s->slots[k].worker == (int)i)
				continue;
			if (s->slots[k].worker > (int)i)
				s->slots[k].worker--;
			s->slots[out++] = s->slots[k];
		}
		s->nslots = out;
		sched_say(s, "worker %s: gone from workers.json, and its jobs have ended", w->name);
		worker_free(w);
		memmove(&s->workers[i], &s->workers[i + 1], (s->nworkers - i - 1) * sizeof *s->workers);
		s->nworkers--;
		changed = true;
	}
	if (changed)
		sched_workers_changed(s);
}

void sched_worker_redef(struct sched *s, struct sched_worker *w)
{
	struct workers ws;
	struct err e = {{0}};

	if (registry_load(s, &ws, &e) < 0) {
		sched_say(s, "warning: %s", e.msg);
		return;
	}
	const struct worker_def *d = def_find(&ws, w->name);
	if (d) {
		free(w->def);
		w->def = def_text(&ws, d);
		w->enabled = d->enabled;
		rent_take(w, d);
	}
	workers_free(&ws);
	sched_workers_changed(s);
}

int sched_workers_reload(struct sched *s, struct err *e)
{
	struct workers ws;

	if (registry_load(s, &ws, e) < 0)
		return -1;
	/* Those no longer listed, or listed as another worker, go once their jobs end. */
	for (size_t i = 0; i < s->nworkers; i++) {
		struct sched_worker *w = s->workers[i];
		bool keep = false;
		for (size_t k = 0; k < ws.len && !w->gone && !keep; k++) {
			char *d = def_text(&ws, &ws.v[k]);
			keep = !strcmp(ws.v[k].name, w->name) &&
			       (!strcmp(d, w->def) || !strcmp(w->kind, "local"));
			free(d);
		}
		if (!keep && !w->gone) {
			w->gone = true;
			sched_say(s, "worker %s: no longer in workers.json as it was: no new jobs there",
				  w->name);
		}
	}
	for (size_t k = 0; k < ws.len; k++) {
		const struct worker_def *d = &ws.v[k];
		int i = sched_worker_find(s, d->name);
		if (i < 0) {
			worker_add(s, &ws, d);
			sched_say(s, "worker %s: added (%s)", d->name, d->kind);
		} else {
			rent_take(s->workers[i], d);
		}
		if (i >= 0 && s->workers[i]->enabled != d->enabled) {
			s->workers[i]->enabled = d->enabled;
			sched_say(s, "worker %s: %s", d->name,
				  d->enabled ? "enabled" : "disabled: no new jobs; its running ones go on");
		}
	}
	workers_free(&ws);
	sched_workers_sweep(s);
	sched_workers_changed(s);
	return 0;
}
