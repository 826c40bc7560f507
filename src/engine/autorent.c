/*
 * autorent.c — vast.autorent: while experiments wait in the queue and no
 * slot is free, the cheapest offer matching vast.offer is rented on the
 * s->vast thread (searched, created, waited for until SSH answers, added
 * to workers.json as `hypotop vast rent` adds it); the engine then reads
 * workers.json again and the new worker takes jobs. At most
 * vast.max_instances rented workers at once, one rental at a time, and
 * only while budget.usd leaves an hour of the offer's price.
 */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hypotop/bg.h"
#include "hypotop/lifecycle.h"
#include "hypotop/vast.h"
#include "hypotop/workdir.h"
#include "hypotop/workers_edit.h"

/* A failed rental waits this long before the next try. */
#define AUTORENT_RETRY_MS 60000

struct rental {
	struct sched *s;
	struct config cfg; /* the strings borrowed from the engine's, which outlives the task */
	char *workdir;
	double room_usd; /* what budget.usd leaves; < 0: no cap */
	/* Out. */
	long id;
	double dph;
	char name[64], gpu[64];
	int rc;
	struct err e;
};

static int engine_took(void *ctx, const char *workdir, struct err *e)
{
	(void)ctx, (void)workdir, (void)e;
	return 0;
}

static void add_str(struct worker_field *f, size_t *n, const char *key, const char *v)
{
	if (v)
		f[(*n)++] = (struct worker_field){key, key, cJSON_CreateString(v)};
}

static void rental_work(void *arg)
{
	struct rental *r = arg;
	const struct config *c = &r->cfg;
	struct vast_client api;
	struct vast_offers offers;
	struct vast_query q = {c->vast_offer_gpu, 0, c->vast_offer_max_dph, c->vast_offer_min_rel,
			       false, 1};
	char *host = NULL;
	long port = 0;

	r->rc = -1;
	if (vast_client_init(&api, c->vast_base_url, &r->e) < 0)
		return;
	if (vast_search(&api, &q, &offers, &r->e) < 0)
		goto out;
	if (!offers.len) {
		err_set(&r->e, "no offer matches vast.offer");
		vast_offers_free(&offers);
		goto out;
	}
	long offer = offers.v[0].id;
	r->dph = offers.v[0].dph;
	snprintf(r->gpu, sizeof r->gpu, "%ldx %s", offers.v[0].num_gpus, offers.v[0].gpu_name);
	vast_offers_free(&offers);
	if (r->room_usd >= 0 && r->dph > r->room_usd) {
		err_set(&r->e, "budget.usd leaves $%.2f, less than an hour of the best offer "
			       "($%.3f/h)",
			r->room_usd, r->dph);
		goto out;
	}
	if (vast_create(&api, offer, "pytorch/pytorch:latest", 32, NULL, &r->id, &r->e) < 0)
		goto out;
	snprintf(r->name, sizeof r->name, "vast-%ld", r->id);
	if (vast_wait_ssh(&api, r->id, 900, NULL, NULL, &host, &port, &r->e) < 0) {
		struct err de = {{0}};
		vast_destroy(&api, r->id, &de);
		goto out;
	}
	struct worker_field f[12];
	size_t n = 0;
	add_str(f, &n, "host", host);
	f[n++] = (struct worker_field){"port", "port", cJSON_CreateNumber((double)port)};
	add_str(f, &n, "user", c->vast_user ? c->vast_user : "root");
	add_str(f, &n, "key_file", c->vast_key_file);
	add_str(f, &n, "known_hosts", c->vast_known_hosts);
	add_str(f, &n, "workspace", c->vast_workspace);
	f[n++] = (struct worker_field){"accept_new_host_key", "rent", cJSON_CreateTrue()};
	f[n++] = (struct worker_field){"vast_id", "rent", cJSON_CreateNumber((double)r->id)};
	f[n++] = (struct worker_field){"dph", "rent", cJSON_CreateNumber(r->dph)};
	f[n++] = (struct worker_field){"rented_at", "rent", cJSON_CreateNumber((double)time(NULL))};
	struct worker_edit ed = {WORKER_ADD, r->name, "ssh", f, n};
	enum worker_outcome wo;
	if (workers_change(r->workdir, &ed, engine_took, NULL, &wo, &r->e) == EXIT_OK) {
		r->rc = 0;
	} else {
		struct err de = {{0}};
		vast_destroy(&api, r->id, &de);
	}
	for (size_t i = 0; i < n; i++)
		cJSON_Delete(f[i].value);
out:
	free(host);
	vast_client_free(&api);
}

static void rental_done(void *arg)
{
	struct rental *r = arg;
	struct sched *s = r->s;
	struct err e = {{0}};

	s->renting = false;
	if (r->rc == 0) {
		struct buf b;
		buf_init(&b);
		buf_add_safe(&b, r->gpu);
		sched_alert_event(s, "vast_rent", r->name, r->dph, SEV_WARNING,
				  "autorent: rented Vast.ai instance %ld (%s, $%.3f/h) as worker %s",
				  r->id, b.data, r->dph, r->name);
		buf_free(&b);
		if (sched_workers_reload(s, &e) < 0)
			sched_say(s, "warning: autorent: %s", e.msg);
	} else {
		s->autorent_at = mono_ms() + AUTORENT_RETRY_MS;
		sched_say(s, "warning: autorent: no machine rented: %s", r->e.msg);
	}
	free(r->workdir);
	free(r);
}

void vast_autorent_step(struct sched *s)
{
	const struct config *c = &s->wd->cfg;
	size_t rented = 0;

	if (!c->vast_autorent || s->renting || s->stopping || s->paused || !s->wd->queue.len ||
	    s->budget_why || mono_ms() < s->autorent_at || sched_free_slot(s, -1))
		return;
	for (size_t i = 0; i < s->nworkers; i++) {
		const struct sched_worker *w = s->workers[i];
		rented += w->vast_id && !w->gone && w->enabled && w->released_at <= 0;
	}
	if (rented >= (size_t)(c->vast_max_instances > 0 ? c->vast_max_instances : 1))
		return;
	struct rental *r = xcalloc(1, sizeof *r);
	r->s = s;
	r->cfg = *c;
	r->workdir = xstrdup(s->wd->path);
	r->room_usd = -1;
	if (c->budget_usd >= 0) {
		double rent, gpu_h;
		sched_rent_spend(s, &rent, &gpu_h);
		r->room_usd = c->budget_usd - (s->wd->st.llm_usd + s->report_usd + rent);
	}
	if (!s->vast)
		s->vast = bg_new(s->loop, 1);
	s->renting = true;
	bg_submit(s->vast, rental_work, rental_done, r);
}
