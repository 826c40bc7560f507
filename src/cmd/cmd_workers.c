/*
 * cmd_workers.c — `hypotop workers WORKDIR [--json]`: every worker of
 * workers.json with what the engine last said of it (workers_view.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hypotop/cmd.h"
#include "hypotop/fsutil.h"
#include "hypotop/json.h"
#include "hypotop/lock.h"
#include "hypotop/workers_view.h"

struct reading {
	struct workers ws;
	struct worker_stat *stat;
	size_t nstat;
	struct worker_view *view;
	int64_t updated, now; /* updated 0: no engine has written engine/workers.json */
	bool running;
	pid_t pid;
};

static int read_all(const char *workdir, struct reading *r, struct err *e)
{
	char *path = path_join(workdir, "workers.json");
	char *lock = path_join(workdir, "engine/lock");
	char *cfg = path_join(workdir, "config.json");
	char role[LOCK_ROLE_LEN];
	int rc = -1;

	memset(r, 0, sizeof *r);
	if (!fs_exists(cfg)) {
		err_set(e, "%s: no such workdir (no config.json there); create one with 'hypotop "
			   "init'",
			workdir);
		goto out;
	}
	if (workers_load(path, &r->ws, e) < 0)
		goto out;
	r->running = lock_held(lock, &r->pid, role) && !strcmp(role, "engine");
	struct err se = {{0}};
	int s = workerstat_read(workdir, &r->updated, &r->stat, &r->nstat, &se);
	/* The engine writes it again at its next change: until then, no states. */
	if (s < 0)
		fprintf(stderr, "hypotop: warning: %s; the workers' states are unknown until the "
				"engine writes it again\n",
			se.msg);
	if (s != 0 || r->updated < 0)
		r->updated = 0;
	r->now = now_ms();
	r->view = xcalloc(r->ws.len ? r->ws.len : 1, sizeof *r->view);
	workers_view(&r->ws, r->stat, r->nstat, r->view);
	rc = 0;
out:
	free(cfg);
	free(lock);
	free(path);
	return rc;
}

static void reading_free(struct reading *r)
{
	free(r->view);
	workerstat_free(r->stat, r->nstat);
	workers_free(&r->ws);
}

static void put_str(struct buf *b, const char *key, const char *s)
{
	buf_printf(b, ",\"%s\":", key);
	if (s && *s)
		json_append_str(b, s);
	else
		buf_adds(b, "null");
}

/* A reading: null when unknown (-1). */
static void put_num(struct buf *b, const char *key, double v)
{
	char num[40];

	num_shortest(v, num);
	buf_printf(b, ",\"%s\":%s", key, v < 0 ? "null" : num);
}

static void print_json(const struct reading *r)
{
	struct buf b;

	buf_init(&b);
	buf_printf(&b, "{\"version\":1,\"engine\":{\"running\":%s", r->running ? "true" : "false");
	put_num(&b, "pid", r->running && r->pid ? (double)r->pid : -1);
	buf_adds(&b, "}");
	put_num(&b, "updated", r->updated ? (double)r->updated : -1);
	put_num(&b, "age_s", r->updated ? (double)((r->now - r->updated) / 1000) : -1);
	buf_adds(&b, ",\"workers\":[");
	for (size_t i = 0; i < r->ws.len; i++) {
		const struct worker_view *v = &r->view[i];
		const struct worker_def *d = v->def;
		const struct worker_stat *s = v->stat;
		buf_adds(&b, i ? ",{\"name\":" : "{\"name\":");
		json_append_str(&b, d->name);
		put_str(&b, "kind", d->kind);
		buf_printf(&b, ",\"enabled\":%s", d->enabled ? "true" : "false");
		put_str(&b, "host", d->host);
		put_num(&b, "port", d->host ? (double)(d->port ? d->port : 22) : -1);
		put_str(&b, "user", d->user);
		put_str(&b, "state", v->state);
		put_str(&b, "reason", s ? s->st.reason : NULL);
		int64_t hb = s ? s->st.heartbeat : 0;
		put_num(&b, "heartbeat", hb > 0 ? (double)hb : -1);
		put_num(&b, "heartbeat_age_s",
			hb > 0 ? (double)((r->now - hb > 0 ? r->now - hb : 0) / 1000) : -1);
		buf_printf(&b, ",\"slots\":%zu,\"slots_used\":%zu,\"jobs\":[", v->slots, v->used);
		size_t nj = 0;
		for (size_t k = 0; s && k < s->nslots; k++) {
			if (!s->slot[k].node[0])
				continue;
			buf_adds(&b, nj++ ? ",{\"node\":" : "{\"node\":");
			json_append_str(&b, s->slot[k].node);
			put_num(&b, "gpu", s->slot[k].gpu);
			buf_printf(&b, ",\"unknown\":%s", s->slot[k].unknown ? "true" : "false");
			const struct job_info *j = &s->slot[k].job;
			if (j->id[0]) {
				buf_adds(&b, ",\"slurm\":{\"id\":");
				json_append_str(&b, j->id);
				put_str(&b, "state", j->state);
				put_str(&b, "reason", j->reason);
				put_str(&b, "node", j->where);
				put_num(&b, "since_s",
					j->since ? (double)((r->now > j->since ? r->now - j->since : 0) /
							    1000)
						 : -1);
				buf_addc(&b, '}');
			}
			buf_addc(&b, '}');
		}
		buf_adds(&b, "],\"gpus\":[");
		/* The engine's readings; before any, the GPUs the file lists, unread. */
		size_t ng = s && s->st.ngpu ? s->st.ngpu : d->ngpus;
		for (size_t k = 0; k < ng; k++) {
			const struct worker_gpu *g = s && s->st.ngpu ? &s->st.gpu[k] : NULL;
			buf_printf(&b, "%s{\"index\":%d", k ? "," : "", g ? g->index : d->gpus[k]);
			put_num(&b, "util", g ? g->util : -1);
			put_num(&b, "mem_used", g ? g->mem_used : -1);
			put_num(&b, "mem_total", g ? g->mem_total : -1);
			put_num(&b, "temp", g ? g->temp : -1);
			buf_addc(&b, '}');
		}
		buf_adds(&b, "]}");
	}
	buf_adds(&b, "]}\n");
	fputs(b.data, stdout);
	buf_free(&b);
}

static void print_text(const struct reading *r)
{
	struct buf b;
	char age[32];

	buf_init(&b);
	fmt_age(age, sizeof age, r->now - r->updated);
	/* "now ago" reads wrong: an age under a second is "just now". */
	if (!strcmp(age, "now"))
		snprintf(age, sizeof age, "under 1 s");
	if (r->running && r->updated)
		buf_printf(&b, "engine running (pid %ld); its view of %s ago\n", (long)r->pid, age);
	else if (r->running)
		buf_printf(&b, "engine running (pid %ld); it has not said how its workers are yet "
			       "(engine/workers.json)\n",
			   (long)r->pid);
	else if (r->updated)
		buf_printf(&b, "no engine running; as the last engine saw them, %s ago "
			       "(engine/workers.json)\n",
			   age);
	else
		buf_adds(&b, "no engine has run here: states unknown\n");
	int nw = 4;
	for (size_t i = 0; i < r->ws.len; i++) {
		int l = (int)strlen(r->view[i].def->name);
		nw = l > nw ? l : nw;
	}
	buf_printf(&b, "%-*s  %-5s  %-10s  %-9s  %-5s  %s\n", nw, "NAME", "KIND", "STATE",
		   "HEARTBEAT", "SLOTS", "NODES");
	for (size_t i = 0; i < r->ws.len; i++) {
		const struct worker_view *v = &r->view[i];
		const struct worker_stat *s = v->stat;
		char hb[32], slots[48];
		int64_t at = s ? s->st.heartbeat : 0;
		fmt_age(hb, sizeof hb, at > 0 ? (r->now - at > 0 ? r->now - at : 0) : -1);
		snprintf(slots, sizeof slots, "%zu/%zu", v->used, v->slots);
		buf_printf(&b, "%-*s  %-5s  %-10s  %-9s  %-5s", nw, v->def->name, v->def->kind,
			   v->state, hb, slots);
		for (size_t k = 0, shown = 0; s && k < s->nslots; k++) {
			if (!s->slot[k].node[0])
				continue;
			buf_adds(&b, shown++ ? " " : "  ");
			buf_add_safe(&b, s->slot[k].node);
			if (s->slot[k].gpu >= 0)
				buf_printf(&b, "(gpu%d)", s->slot[k].gpu);
			if (s->slot[k].unknown)
				buf_adds(&b, "?");
		}
		while (b.data[b.len - 1] == ' ') /* no nodes: no padding */
			b.data[--b.len] = '\0';
		buf_addc(&b, '\n');
		if (s && s->st.reason[0]) {
			buf_printf(&b, "%-*s  %s: ", nw, "", v->state);
			buf_add_safe(&b, s->st.reason);
			buf_addc(&b, '\n');
		}
		for (size_t k = 0; s && k < s->nslots; k++) {
			char job[256];
			fmt_job(job, sizeof job, &s->slot[k].job);
			if (!s->slot[k].node[0] || !job[0])
				continue;
			buf_printf(&b, "%-*s  %s  ", nw, "", s->slot[k].node);
			buf_add_safe(&b, job);
			buf_addc(&b, '\n');
		}
		for (size_t k = 0; s && k < s->st.ngpu; k++) {
			const struct worker_gpu *g = &s->st.gpu[k];
			char u[16], mu[24], mt[24], t[16];
			fmt_reading(u, sizeof u, g->util, "%");
			fmt_reading(mu, sizeof mu, g->mem_used, "");
			fmt_reading(mt, sizeof mt, g->mem_total, "");
			fmt_reading(t, sizeof t, g->temp, " C");
			buf_printf(&b, "%-*s  gpu%-2d  util %-4s  mem %s/%s MiB  temp %s\n", nw, "",
				   g->index, u, mu, mt, t);
		}
	}
	if (r->nstat && !r->running && r->updated)
		buf_adds(&b, "(states are as the engine last saw them; a stopped engine watches "
			     "nothing)\n");
	fputs(b.data, stdout);
	buf_free(&b);
}

int cmd_workers(int argc, char **argv)
{
	const char *path = NULL;
	bool json = false;
	struct reading r;
	struct err e = {{0}};

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--json"))
			json = true;
		else if (argv[i][0] == '-' || path) {
			cmd_fail(EXIT_USAGE, "workers: unexpected argument \"%s\"", argv[i]);
			cmd_usage("workers", 1);
			return EXIT_USAGE;
		} else
			path = argv[i];
	}
	if (!path) {
		cmd_usage("workers", 1);
		return EXIT_USAGE;
	}
	if (read_all(path, &r, &e) < 0)
		return cmd_fail(EXIT_USAGE, "%s", e.msg);
	if (json)
		print_json(&r);
	else
		print_text(&r);
	reading_free(&r);
	return EXIT_OK;
}
