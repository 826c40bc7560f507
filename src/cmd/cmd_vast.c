/*
 * cmd_vast.c — `hypotop vast WORKDIR instances|reconcile|offers|rent|
 * release`: the account's Vast.ai instances (vast.h) side by side with
 * workers.json, whose changes go through workers_edit.h (and so reach a
 * running engine). The verbs table drives parsing and the usage text.
 */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hypotop/cmd.h"
#include "hypotop/cmd_vast.h"
#include "hypotop/config.h"
#include "hypotop/fsutil.h"
#include "hypotop/json.h"
#include "hypotop/workers_edit.h"

/* ---- shared -------------------------------------------------------------- */

void vast_ctx_free(struct vast_ctx *x)
{
	vast_client_free(&x->api);
	workers_free(&x->ws);
}

int vast_ctx_open(struct vast_ctx *x, const char *workdir, bool need_key, struct err *e)
{
	char *cfg = path_join(workdir, "config.json"), *wpath = path_join(workdir, "workers.json");
	struct config c;
	int rc = EXIT_USAGE;

	memset(x, 0, sizeof *x);
	x->workdir = workdir;
	if (!fs_exists(cfg)) {
		err_set(e, "%s: no such workdir (no config.json there); create one with 'hypotop "
			   "init'",
			workdir);
		goto out;
	}
	if (config_load(&c, cfg, e) < 0)
		goto out;
	if (workers_load(wpath, &x->ws, e) < 0) {
		config_free(&c);
		goto out;
	}
	int k = need_key ? vast_client_init(&x->api, c.vast_base_url, e) : 0;
	config_free(&c);
	rc = k < 0 ? EXIT_RUNTIME : EXIT_OK;
out:
	free(cfg);
	free(wpath);
	return rc;
}

const struct worker_def *vast_worker_of(const struct workers *ws, long id)
{
	for (size_t i = 0; i < ws->len; i++)
		if (ws->v[i].vast_id == id && !strcmp(ws->v[i].kind, "ssh"))
			return &ws->v[i];
	return NULL;
}

/* What the API said, safe for a terminal (it is another party's text). */
static const char *safe(struct buf *b, const char *s)
{
	buf_reset(b);
	buf_add_safe(b, s && *s ? s : "-");
	return b->data;
}

int vast_report(int status, const char *verb, const char *workdir, enum worker_outcome out,
		struct err *e)
{
	if (status != EXIT_OK)
		return cmd_fail(status, "vast %s: %s", verb, e->msg);
	if (out == WORKERS_APPLIED)
		printf("the running engine has taken the change\n");
	else if (out == WORKERS_NO_ENGINE)
		printf("no engine runs on %s: the change applies when it next starts\n", workdir);
	else if (out == WORKERS_NO_ANSWER)
		return cmd_fail(EXIT_UNKNOWN, "vast %s: %s; whether the running engine took the "
					      "change is unknown",
				verb, e->msg);
	return EXIT_OK;
}

/* ---- instances ----------------------------------------------------------- */

static void uptime(const struct vast_instance *in, char *out, size_t n)
{
	double s = in->start_date > 0 ? (double)time(NULL) - in->start_date : -1;

	if (s < 0)
		snprintf(out, n, "-");
	else if (s < 3600)
		snprintf(out, n, "%dm", (int)(s / 60));
	else if (s < 86400 * 10)
		snprintf(out, n, "%dh%02dm", (int)(s / 3600), (int)((long)s % 3600 / 60));
	else
		snprintf(out, n, "%dd", (int)(s / 86400));
}

static void instances_json(const struct vast_ctx *x, const struct vast_instances *l)
{
	cJSON *doc = cJSON_CreateObject(), *arr = cJSON_AddArrayToObject(doc, "instances");

	for (size_t i = 0; i < l->len; i++) {
		const struct vast_instance *in = &l->v[i];
		const struct worker_def *w = vast_worker_of(&x->ws, in->id);
		cJSON *o = cJSON_CreateObject();
		cJSON_AddNumberToObject(o, "id", (double)in->id);
		cJSON_AddStringToObject(o, "gpu_name", in->gpu_name);
		cJSON_AddNumberToObject(o, "num_gpus", (double)in->num_gpus);
		cJSON_AddStringToObject(o, "status", in->status);
		cJSON_AddNumberToObject(o, "dph", in->dph);
		cJSON_AddStringToObject(o, "ssh_host", in->ssh_host);
		cJSON_AddNumberToObject(o, "ssh_port", (double)in->ssh_port);
		if (in->start_date > 0)
			cJSON_AddNumberToObject(o, "uptime_s", (double)time(NULL) - in->start_date);
		if (w)
			cJSON_AddStringToObject(o, "worker", w->name);
		else
			cJSON_AddNullToObject(o, "worker");
		cJSON_AddItemToArray(arr, o);
	}
	cJSON *gone = cJSON_AddArrayToObject(doc, "gone");
	for (size_t i = 0; i < x->ws.len; i++) {
		const struct worker_def *w = &x->ws.v[i];
		if (!w->vast_id || vast_find(l, w->vast_id))
			continue;
		cJSON *o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "worker", w->name);
		cJSON_AddNumberToObject(o, "vast_id", (double)w->vast_id);
		cJSON_AddItemToArray(gone, o);
	}
	char *s = cJSON_Print(doc);
	printf("%s\n", s);
	free(s);
	cJSON_Delete(doc);
}

static int do_instances(struct vast_ctx *x, int argc, char **argv)
{
	bool json = false;
	struct vast_instances l;
	struct err e = {{0}};
	struct buf b1, b2, b3;

	for (int i = 0; i < argc; i++) {
		if (strcmp(argv[i], "--json"))
			return vast_bad_option("instances", argv[i]);
		json = true;
	}
	if (vast_list(&x->api, &l, &e) < 0)
		return cmd_fail(EXIT_RUNTIME, "vast instances: %s", e.msg);
	if (json) {
		instances_json(x, &l);
		vast_instances_free(&l);
		return EXIT_OK;
	}
	buf_init(&b1);
	buf_init(&b2);
	buf_init(&b3);
	printf("%-10s %-18s %-10s %7s  %-24s %-7s %s\n", "ID", "GPU", "STATUS", "$/H", "SSH",
	       "UPTIME", "WORKER");
	for (size_t i = 0; i < l.len; i++) {
		const struct vast_instance *in = &l.v[i];
		const struct worker_def *w = vast_worker_of(&x->ws, in->id);
		char gpu[96], ssh[300], up[16];
		snprintf(gpu, sizeof gpu, "%ldx %s", in->num_gpus, safe(&b1, in->gpu_name));
		snprintf(ssh, sizeof ssh, "%s:%ld", safe(&b2, in->ssh_host), in->ssh_port);
		uptime(in, up, sizeof up);
		char drift[64] = "";
		if (w && in->ssh_port && (in->ssh_port != (w->port ? w->port : 22) ||
					  strcmp(in->ssh_host, w->host ? w->host : "")))
			snprintf(drift, sizeof drift, " (drift: workers.json has another host:port)");
		printf("%-10ld %-18s %-10s %7.3f  %-24s %-7s %s%s\n", in->id, gpu,
		       safe(&b3, in->status), in->dph, ssh, up, w ? w->name : "(untracked)", drift);
	}
	for (size_t i = 0; i < x->ws.len; i++) {
		const struct worker_def *w = &x->ws.v[i];
		if (w->vast_id && !vast_find(&l, w->vast_id))
			printf("%-10ld %-18s %-10s %7s  %-24s %-7s %s\n", w->vast_id, "-", "(gone)", "-",
			       "-", "-", w->name);
	}
	if (!l.len)
		printf("(no instances on this account)\n");
	buf_free(&b1);
	buf_free(&b2);
	buf_free(&b3);
	vast_instances_free(&l);
	return EXIT_OK;
}

/* ---- reconcile ----------------------------------------------------------- */

static int set_address(struct vast_ctx *x, const char *name, const struct vast_instance *in,
		       enum worker_outcome *out, struct err *e)
{
	cJSON *host = cJSON_CreateString(in->ssh_host), *port = cJSON_CreateNumber((double)in->ssh_port);
	struct worker_field f[] = {{"host", "the instance's ssh_host", host},
				   {"port", "the instance's ssh_port", port}};
	struct worker_edit ed = {WORKER_SET, name, NULL, f, ARRAY_LEN(f)};
	int rc = workers_change(x->workdir, &ed, NULL, NULL, out, e);

	cJSON_Delete(host);
	cJSON_Delete(port);
	return rc;
}

static int do_reconcile(struct vast_ctx *x, int argc, char **argv)
{
	bool fix = false;
	struct vast_instances l;
	struct err e = {{0}};
	struct buf b1, b2;
	int found = 0, fixable = 0, status = EXIT_OK;

	for (int i = 0; i < argc; i++) {
		if (strcmp(argv[i], "--fix"))
			return vast_bad_option("reconcile", argv[i]);
		fix = true;
	}
	if (vast_list(&x->api, &l, &e) < 0)
		return cmd_fail(EXIT_RUNTIME, "vast reconcile: %s", e.msg);
	buf_init(&b1);
	buf_init(&b2);
	for (size_t i = 0; i < x->ws.len && status == EXIT_OK; i++) {
		const struct worker_def *w = &x->ws.v[i];
		const struct vast_instance *in = w->vast_id ? vast_find(&l, w->vast_id) : NULL;
		enum worker_outcome out = WORKERS_UNCHANGED;
		long port = w->port ? w->port : 22;
		if (!w->vast_id || strcmp(w->kind, "ssh"))
			continue;
		if (!in) {
			if (!w->enabled)
				continue; /* gone and disabled already: nothing to do */
			found++, fixable++;
			printf("gone: worker %s: instance %ld is no longer on the account%s\n", w->name,
			       w->vast_id, fix ? "; disabling the worker" : "");
			if (fix) {
				struct worker_edit ed = {WORKER_DISABLE, w->name, NULL, NULL, 0};
				status = vast_report(workers_change(x->workdir, &ed, NULL, NULL, &out, &e),
						     "reconcile", x->workdir, out, &e);
			}
			continue;
		}
		if (strcmp(in->status, "running")) {
			found++;
			printf("stopped: worker %s: instance %ld is %s, not running; start it on "
			       "vast.ai, or release it ('hypotop vast %s release %s')\n",
			       w->name, in->id, safe(&b1, in->status[0] ? in->status : "(no status)"),
			       x->workdir, w->name);
			continue;
		}
		if (!in->ssh_host[0] || !in->ssh_port ||
		    (in->ssh_port == port && !strcmp(in->ssh_host, w->host)))
			continue;
		found++, fixable++;
		printf("drift: worker %s: instance %ld answers SSH at %s:%ld, workers.json has "
		       "%s:%ld%s\n",
		       w->name, in->id, safe(&b1, in->ssh_host), in->ssh_port, safe(&b2, w->host),
		       port, fix ? "; updating workers.json" : "");
		if (fix)
			status = vast_report(set_address(x, w->name, in, &out, &e), "reconcile",
					     x->workdir, out, &e);
	}
	for (size_t i = 0; i < l.len && status == EXIT_OK; i++)
		if (!vast_worker_of(&x->ws, l.v[i].id)) {
			found++;
			printf("untracked: instance %ld (%s, %s, $%.3f/h) is no worker of "
			       "workers.json: add it with 'hypotop worker add', or destroy it on "
			       "vast.ai\n",
			       l.v[i].id, safe(&b1, l.v[i].gpu_name), safe(&b2, l.v[i].status),
			       l.v[i].dph);
		}
	if (status == EXIT_OK && !found)
		printf("workers.json agrees with the account's %zu instance%s\n", l.len,
		       l.len == 1 ? "" : "s");
	else if (status == EXIT_OK && !fix && fixable)
		printf("run 'hypotop vast %s reconcile --fix' to update workers.json (drift, gone)\n",
		       x->workdir);
	buf_free(&b1);
	buf_free(&b2);
	vast_instances_free(&l);
	return status;
}

/* ---- offers -------------------------------------------------------------- */

static int do_offers(struct vast_ctx *x, int argc, char **argv)
{
	struct vast_query q = {0};
	struct vast_offers l;
	struct err e = {{0}};
	bool json = false;
	struct buf b1, b2;

	for (int i = 0; i < argc; i++) {
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;
		bool ok = true;
		if (!strcmp(argv[i], "--json")) {
			json = true;
			continue;
		}
		if (!v)
			return cmd_fail(EXIT_USAGE, "vast offers: %s needs a value", argv[i]);
		if (!strcmp(argv[i], "--gpu"))
			q.gpu_name = v;
		else if (!strcmp(argv[i], "--num-gpus"))
			ok = parse_long(v, 1, 1024, &q.num_gpus) == 0;
		else if (!strcmp(argv[i], "--max-dph"))
			ok = parse_double(v, &q.max_dph) == 0 && q.max_dph > 0;
		else if (!strcmp(argv[i], "--min-reliability"))
			ok = parse_double(v, &q.min_reliability) == 0 && q.min_reliability >= 0 &&
			     q.min_reliability <= 1;
		else if (!strcmp(argv[i], "--limit"))
			ok = parse_long(v, 1, 1000, &q.limit) == 0;
		else if (!strcmp(argv[i], "--sort")) {
			ok = !strcmp(v, "dph") || !strcmp(v, "dlperf-per-dph");
			q.by_value = !strcmp(v, "dlperf-per-dph");
		} else
			return vast_bad_option("offers", argv[i]);
		if (!ok)
			return cmd_fail(EXIT_USAGE,
					"vast offers: %s %s: --num-gpus takes 1 to 1024, --max-dph a "
					"price above 0 in $/h, --min-reliability 0 to 1, --limit 1 to "
					"1000, --sort dph or dlperf-per-dph",
					argv[i], v);
		i++;
	}
	if (vast_search(&x->api, &q, &l, &e) < 0)
		return cmd_fail(EXIT_RUNTIME, "vast offers: %s", e.msg);
	if (json) {
		cJSON *arr = cJSON_CreateArray();
		for (size_t i = 0; i < l.len; i++) {
			cJSON *o = cJSON_CreateObject();
			cJSON_AddNumberToObject(o, "id", (double)l.v[i].id);
			cJSON_AddStringToObject(o, "gpu_name", l.v[i].gpu_name);
			cJSON_AddNumberToObject(o, "num_gpus", (double)l.v[i].num_gpus);
			cJSON_AddNumberToObject(o, "dph", l.v[i].dph);
			cJSON_AddNumberToObject(o, "dlperf", l.v[i].dlperf);
			cJSON_AddNumberToObject(o, "reliability", l.v[i].reliability);
			cJSON_AddStringToObject(o, "geolocation", l.v[i].where);
			cJSON_AddItemToArray(arr, o);
		}
		char *s = cJSON_Print(arr);
		printf("%s\n", s);
		free(s);
		cJSON_Delete(arr);
		vast_offers_free(&l);
		return EXIT_OK;
	}
	buf_init(&b1);
	buf_init(&b2);
	printf("%-10s %-22s %8s %8s %10s %7s  %s\n", "OFFER", "GPU", "$/H", "DLPERF", "DLPERF/$",
	       "RELIAB", "WHERE");
	for (size_t i = 0; i < l.len; i++) {
		const struct vast_offer *o = &l.v[i];
		char gpu[96];
		snprintf(gpu, sizeof gpu, "%ldx %s", o->num_gpus, safe(&b1, o->gpu_name));
		printf("%-10ld %-22s %8.3f %8.1f %10.1f %7.3f  %s\n", o->id, gpu, o->dph, o->dlperf,
		       o->dph > 0 ? o->dlperf / o->dph : 0, o->reliability, safe(&b2, o->where));
	}
	if (!l.len)
		printf("(no offer matches)\n");
	buf_free(&b1);
	buf_free(&b2);
	vast_offers_free(&l);
	return EXIT_OK;
}

/* ---- the command --------------------------------------------------------- */

static const struct {
	const char *name;
	int (*fn)(struct vast_ctx *x, int argc, char **argv);
	bool need_key;
} verbs[] = {
	{"instances", do_instances, true}, {"reconcile", do_reconcile, true},
	{"offers", do_offers, true},       {"rent", vast_rent, true},
	{"release", vast_release, true},
};

int vast_bad_option(const char *verb, const char *arg)
{
	cmd_fail(EXIT_USAGE, "vast %s: unknown option or argument \"%s\"", verb, arg);
	cmd_usage("vast", 1);
	return EXIT_USAGE;
}

int cmd_vast(int argc, char **argv)
{
	struct vast_ctx x;
	struct err e = {{0}};
	size_t v = 0;

	if (argc < 3) {
		cmd_fail(EXIT_USAGE, "vast: expected WORKDIR and what to do: instances, reconcile, "
				     "offers, rent or release");
		cmd_usage("vast", 1);
		return EXIT_USAGE;
	}
	while (v < ARRAY_LEN(verbs) && strcmp(verbs[v].name, argv[2]))
		v++;
	if (v == ARRAY_LEN(verbs)) {
		cmd_fail(EXIT_USAGE, "vast: \"%s\" is not instances, reconcile, offers, rent or "
				     "release",
			 argv[2]);
		cmd_usage("vast", 1);
		return EXIT_USAGE;
	}
	int rc = vast_ctx_open(&x, argv[1], verbs[v].need_key, &e);
	if (rc != EXIT_OK) {
		vast_ctx_free(&x);
		return cmd_fail(rc, "vast %s: %s", verbs[v].name, e.msg);
	}
	rc = verbs[v].fn(&x, argc - 3, argv + 3);
	vast_ctx_free(&x);
	return rc;
}
