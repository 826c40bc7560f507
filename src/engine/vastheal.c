/*
 * vastheal.c — a rented worker (one with vast_id) that goes out of reach
 * is asked after at Vast.ai (vast.h), on the s->vast thread, so the loop
 * never waits on the API. A restarted instance has another SSH host or
 * port: workers.json takes it (written on that thread, through the
 * workers_edit.h rules, the engine being the one that reads it) and the
 * worker's connection goes there, so its jobs are re-attached as after
 * any drop. An instance no longer on the account disables the worker,
 * and its jobs are lost with it (queued again as requeue_lost says).
 * With vast.idle_release_minutes, a rented worker left idle while nothing
 * is queued is released the same way: destroyed on that thread, disabled.
 */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hypotop/bg.h"
#include "hypotop/exec.h"
#include "hypotop/fsutil.h"
#include "hypotop/lifecycle.h"
#include "hypotop/vast.h"
#include "hypotop/workdir.h"
#include "hypotop/workers.h"
#include "hypotop/workers_edit.h"

enum heal_outcome { HEAL_ERROR, HEAL_SAME, HEAL_NOT_RUNNING, HEAL_MOVED, HEAL_GONE };

struct heal {
	struct sched *s;
	/* In: the worker as the engine has it. */
	char *name, *workdir, *base_url, *host;
	long vast_id, port;
	/* Out. */
	enum heal_outcome outcome;
	char *new_host, *status;
	long new_port;
	struct err e;
};

/* The engine is the reader the file's edit would tell: it takes the change itself. */
static int reload_self(void *ctx, const char *workdir, struct err *e)
{
	(void)ctx, (void)workdir, (void)e;
	return 0;
}

static void heal_work(void *arg)
{
	struct heal *h = arg;
	struct vast_client c;
	struct vast_instances l;
	enum worker_outcome out;

	h->outcome = HEAL_ERROR;
	if (vast_client_init(&c, h->base_url, &h->e) < 0)
		return;
	c.max_retries = 2;
	c.timeout_ms = 15000;
	if (vast_list(&c, &l, &h->e) < 0) {
		vast_client_free(&c);
		return;
	}
	vast_client_free(&c);
	const struct vast_instance *in = vast_find(&l, h->vast_id);
	if (!in) {
		struct worker_edit ed = {WORKER_DISABLE, h->name, NULL, NULL, 0};
		if (workers_change(h->workdir, &ed, reload_self, NULL, &out, &h->e) == EXIT_OK)
			h->outcome = HEAL_GONE;
	} else if (strcmp(in->status, "running") || !in->ssh_host[0] || !in->ssh_port) {
		h->outcome = HEAL_NOT_RUNNING;
		h->status = xstrdup(in->status[0] ? in->status : "no status");
	} else if (in->ssh_port == h->port && !strcmp(in->ssh_host, h->host)) {
		h->outcome = HEAL_SAME;
	} else {
		cJSON *host = cJSON_CreateString(in->ssh_host);
		cJSON *port = cJSON_CreateNumber((double)in->ssh_port);
		struct worker_field f[] = {{"host", "the instance's ssh_host", host},
					   {"port", "the instance's ssh_port", port}};
		struct worker_edit ed = {WORKER_SET, h->name, NULL, f, ARRAY_LEN(f)};
		if (workers_change(h->workdir, &ed, reload_self, NULL, &out, &h->e) == EXIT_OK) {
			h->outcome = HEAL_MOVED;
			h->new_host = xstrdup(in->ssh_host);
			h->new_port = in->ssh_port;
		}
		cJSON_Delete(host);
		cJSON_Delete(port);
	}
	vast_instances_free(&l);
}

static void heal_free(struct heal *h)
{
	free(h->name);
	free(h->workdir);
	free(h->base_url);
	free(h->host);
	free(h->new_host);
	free(h->status);
	free(h);
}

/* The jobs of worker i went with its instance: lost, and queued again as requeue_lost says. */
static void settle_lost(struct sched *s, int i, long vast_id)
{
	char why[128];

	snprintf(why, sizeof why, "its worker's Vast.ai instance %ld is gone", vast_id);
	for (size_t k = 0; k < s->nslots; k++)
		if (s->slots[k].worker == i && s->slots[k].used && s->slots[k].have_job)
			sched_lost(s, &s->slots[k], why);
}

static void heal_done(void *arg)
{
	struct heal *h = arg;
	struct sched *s = h->s;
	int i = sched_worker_find(s, h->name);
	struct sched_worker *w = i >= 0 ? s->workers[i] : NULL;
	struct buf b;

	buf_init(&b);
	if (w && w->vast_id == h->vast_id) {
		w->healing = false;
		w->heal_at = mono_ms() + VAST_HEAL_MS;
	} else {
		w = NULL; /* gone from the file, or another worker now */
	}
	switch (h->outcome) {
	case HEAL_ERROR:
		sched_say(s, "warning: worker %s: cannot ask Vast.ai after instance %ld: %s", h->name,
			  h->vast_id, h->e.msg);
		break;
	case HEAL_SAME:
		break;
	case HEAL_NOT_RUNNING:
		buf_add_safe(&b, h->status);
		sched_say(s, "worker %s: its Vast.ai instance %ld is %s, not running", h->name,
			  h->vast_id, b.data);
		break;
	case HEAL_MOVED:
		buf_add_safe(&b, h->new_host);
		sched_alert_event(s, "vast_moved", h->name, NAN, SEV_INFO,
				  "worker %s: its Vast.ai instance %ld moved to %s:%ld; workers.json "
				  "updated, connecting there",
				  h->name, h->vast_id, b.data, h->new_port);
		if (w) {
			ssh_executor_move(w->exec, h->new_host, (int)h->new_port);
			sched_worker_redef(s, w);
		}
		break;
	case HEAL_GONE:
		sched_alert_event(s, "vast_gone", h->name, NAN, SEV_CRITICAL,
				  "worker %s: its Vast.ai instance %ld is gone: disabled", h->name,
				  h->vast_id);
		if (w) {
			sched_worker_redef(s, w);
			settle_lost(s, i, h->vast_id);
		}
		break;
	}
	buf_free(&b);
	heal_free(h);
}

void vast_heal(struct sched *s, struct sched_worker *w)
{
	struct workers ws;
	struct err e = {{0}};

	if (w->healing || mono_ms() < w->heal_at || !w->exec)
		return;
	/* The address it has now, from the file it was made from. */
	char *path = path_join(s->wd->path, "workers.json");
	int rc = workers_load(path, &ws, &e);
	free(path);
	if (rc < 0)
		return;
	const struct worker_def *d = NULL;
	for (size_t i = 0; i < ws.len; i++)
		if (!strcmp(ws.v[i].name, w->name) && ws.v[i].vast_id == w->vast_id)
			d = &ws.v[i];
	if (d && d->host) {
		struct heal *h = xcalloc(1, sizeof *h);
		h->s = s;
		h->name = xstrdup(w->name);
		h->workdir = xstrdup(s->wd->path);
		h->base_url = s->wd->cfg.vast_base_url ? xstrdup(s->wd->cfg.vast_base_url) : NULL;
		h->host = xstrdup(d->host);
		h->port = d->port ? d->port : 22;
		h->vast_id = w->vast_id;
		if (!s->vast)
			s->vast = bg_new(s->loop, 1);
		w->healing = true;
		bg_submit(s->vast, heal_work, heal_done, h);
	}
	workers_free(&ws);
}

/* ---- vast.idle_release_minutes ------------------------------------------- */

struct release {
	struct sched *s;
	char *name, *workdir, *base_url;
	long vast_id;
	double dph, hours;
	bool gone_already;
	struct err e;
	int rc;
};

static void release_work(void *arg)
{
	struct release *r = arg;
	struct vast_client c;
	enum worker_outcome out;

	r->rc = -1;
	if (vast_client_init(&c, r->base_url, &r->e) < 0)
		return;
	c.max_retries = 2;
	int d = vast_destroy(&c, r->vast_id, &r->e);
	vast_client_free(&c);
	r->gone_already = d < 0 && strstr(r->e.msg, "HTTP 404");
	if (d < 0 && !r->gone_already)
		return;
	cJSON *off = cJSON_CreateFalse(), *at = cJSON_CreateNumber((double)now_ms() / 1000);
	struct worker_field f[] = {{"enabled", "release", off}, {"released_at", "release", at}};
	struct worker_edit ed = {WORKER_SET, r->name, NULL, f, ARRAY_LEN(f)};
	if (workers_change(r->workdir, &ed, reload_self, NULL, &out, &r->e) == EXIT_OK)
		r->rc = 0;
	cJSON_Delete(off);
	cJSON_Delete(at);
}

static void release_done(void *arg)
{
	struct release *r = arg;
	int i = sched_worker_find(r->s, r->name);
	struct sched_worker *w = i >= 0 ? r->s->workers[i] : NULL;

	if (w && w->vast_id == r->vast_id) {
		w->releasing = false;
		w->idle_since = 0;
		if (r->rc == 0)
			sched_worker_redef(r->s, w);
	}
	if (r->rc == 0)
		sched_alert_event(r->s, "vast_release", r->name, r->dph, SEV_WARNING,
				  "worker %s: idle with nothing queued: Vast.ai instance %ld %s "
				  "($%.3f/h, $%.2f in all); the worker is disabled",
				  r->name, r->vast_id,
				  r->gone_already ? "was gone already" : "released", r->dph,
				  r->dph * r->hours);
	else
		sched_say(r->s, "warning: worker %s: releasing idle Vast.ai instance %ld failed: %s",
			  r->name, r->vast_id, r->e.msg);
	free(r->name);
	free(r->workdir);
	free(r->base_url);
	free(r);
}

void vast_idle_step(struct sched *s)
{
	double min = s->wd->cfg.vast_idle_release_min;
	int64_t now = mono_ms();

	if (min < 0)
		return;
	for (size_t i = 0; i < s->nworkers; i++) {
		struct sched_worker *w = s->workers[i];
		bool busy = s->wd->queue.len > 0;
		if (!w->vast_id || w->gone || w->released_at > 0 || w->releasing || !w->exec)
			continue;
		for (size_t k = 0; k < s->nslots && !busy; k++)
			busy = s->slots[k].worker == (int)i && s->slots[k].used;
		if (busy || !w->idle_since) {
			w->idle_since = busy ? 0 : now;
			continue;
		}
		if (now - w->idle_since < (int64_t)(min * 60000))
			continue;
		struct release *r = xcalloc(1, sizeof *r);
		const struct worker_def d = {.vast_id = w->vast_id, .rented_at = w->rented_at};
		r->s = s;
		r->name = xstrdup(w->name);
		r->workdir = xstrdup(s->wd->path);
		r->base_url = s->wd->cfg.vast_base_url ? xstrdup(s->wd->cfg.vast_base_url) : NULL;
		r->vast_id = w->vast_id;
		r->dph = w->dph;
		r->hours = workers_rent_hours(&d, (double)now_ms() / 1000);
		if (!s->vast)
			s->vast = bg_new(s->loop, 1);
		w->releasing = true;
		bg_submit(s->vast, release_work, release_done, r);
	}
}
