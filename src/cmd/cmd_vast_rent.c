/*
 * cmd_vast_rent.c — `hypotop vast WORKDIR rent OFFER_ID` (the instance
 * created, waited for until it runs and its SSH server answers, then added
 * as an ssh worker with its vast_id and price) and `release NAME` (the
 * instance destroyed, the worker disabled).
 */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "hypotop/cmd.h"
#include "hypotop/cmd_vast.h"
#include "hypotop/ctl.h"
#include "hypotop/fsutil.h"
#include "hypotop/ops.h"
#include "hypotop/workerstat.h"

/* The options of rent that become keys of the new worker, and its own. */
static const struct {
	const char *name, *key;
	bool number, path;
} worker_opts[] = {
	{"--user", "user", false, false},
	{"--key", "key_file", false, true},
	{"--known-hosts", "known_hosts", false, true},
	{"--workspace", "workspace", false, false},
	{"--slots", "slots", true, false},
};

struct rent {
	long offer;
	const char *image, *name;
	double disk, timeout_s;
	struct worker_field field[ARRAY_LEN(worker_opts) + 6];
	size_t nfield;
};

static void rent_free(struct rent *r)
{
	for (size_t i = 0; i < r->nfield; i++)
		cJSON_Delete(r->field[i].value);
}

static void add_field(struct rent *r, const char *key, const char *option, cJSON *v)
{
	r->field[r->nfield++] = (struct worker_field){key, option, v};
}

static int rent_args(int argc, char **argv, struct rent *r)
{
	bool user = false;

	memset(r, 0, sizeof *r);
	r->image = "pytorch/pytorch:latest";
	r->disk = 32;
	r->timeout_s = 900;
	for (int i = 0; i < argc; i++) {
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;
		bool ok = true;
		if (argv[i][0] != '-') {
			if (r->offer)
				return vast_bad_option("rent", argv[i]);
			if (parse_long(argv[i], 1, 1L << 50, &r->offer) < 0)
				return cmd_fail(EXIT_USAGE, "vast rent: OFFER_ID \"%s\" is not an offer "
							    "number ('hypotop vast WORKDIR offers' "
							    "lists them)",
						argv[i]);
			continue;
		}
		if (!v)
			return cmd_fail(EXIT_USAGE, "vast rent: %s needs a value", argv[i]);
		size_t k = 0;
		while (k < ARRAY_LEN(worker_opts) && strcmp(worker_opts[k].name, argv[i]))
			k++;
		if (k < ARRAY_LEN(worker_opts)) {
			long n;
			cJSON *val;
			if (worker_opts[k].number) {
				ok = parse_long(v, 1, 4096, &n) == 0;
				val = cJSON_CreateNumber((double)n);
			} else if (worker_opts[k].path) {
				char *real = path_real(v, NULL);
				bool key = !strcmp(worker_opts[k].key, "key_file");
				if (key && (!real || access(real, R_OK) < 0)) {
					free(real);
					return cmd_fail(EXIT_USAGE,
							"vast rent: --key %s: no readable file there; give "
							"the private key hypotop logs in with (or leave "
							"--key out to use ssh-agent)",
							v);
				}
				val = cJSON_CreateString(real ? real : v);
				free(real);
			} else {
				val = cJSON_CreateString(v);
			}
			user |= !strcmp(worker_opts[k].key, "user");
			add_field(r, worker_opts[k].key, worker_opts[k].name, val);
		} else if (!strcmp(argv[i], "--image")) {
			r->image = v;
		} else if (!strcmp(argv[i], "--name")) {
			r->name = v;
		} else if (!strcmp(argv[i], "--disk")) {
			ok = parse_double(v, &r->disk) == 0 && r->disk >= 1 && r->disk <= 100000;
		} else if (!strcmp(argv[i], "--timeout")) {
			ok = parse_double(v, &r->timeout_s) == 0 && r->timeout_s >= 1;
		} else {
			return vast_bad_option("rent", argv[i]);
		}
		if (!ok)
			return cmd_fail(EXIT_USAGE, "vast rent: %s %s: --disk takes 1 to 100000 GB, "
						    "--timeout seconds (at least 1), --slots 1 to 4096",
					argv[i], v);
		i++;
	}
	if (!r->offer)
		return cmd_fail(EXIT_USAGE, "vast rent: which offer? give OFFER_ID ('hypotop vast "
					    "WORKDIR offers' lists them)");
	/* Vast.ai's images log in as root. */
	if (!user)
		add_field(r, "user", "--user", cJSON_CreateString("root"));
	return EXIT_OK;
}

/* The instance's state, said as it changes. */
static void progress(void *ctx, long id, const char *state, bool up)
{
	struct buf b;

	(void)ctx;
	buf_init(&b);
	buf_add_safe(&b, state);
	printf("instance %ld: %s%s\n", id, b.data, up ? "; trying SSH" : "");
	fflush(stdout);
	buf_free(&b);
}

int vast_rent(struct vast_ctx *x, int argc, char **argv)
{
	struct rent r;
	struct err e = {{0}};
	long id = 0, port = 0;
	char *host = NULL, name[64];
	enum worker_outcome out;

	if (rent_args(argc, argv, &r) != EXIT_OK) {
		rent_free(&r);
		return EXIT_USAGE;
	}
	snprintf(name, sizeof name, "%s", r.name ? r.name : "");
	for (size_t i = 0; r.name && i < x->ws.len; i++)
		if (!strcmp(x->ws.v[i].name, r.name)) {
			rent_free(&r);
			return cmd_fail(EXIT_USAGE, "vast rent: --name %s: a worker of that name is in "
						    "workers.json already; choose another",
					r.name);
		}
	/* The price is the offer's: look it up before renting. */
	struct vast_offers offers;
	struct vast_query q = {.limit = 1000};
	double dph = 0;
	if (vast_search(&x->api, &q, &offers, &e) == 0) {
		for (size_t i = 0; i < offers.len; i++)
			if (offers.v[i].id == r.offer)
				dph = offers.v[i].dph;
		vast_offers_free(&offers);
	}
	if (vast_create(&x->api, r.offer, r.image, r.disk, r.name, &id, &e) < 0) {
		rent_free(&r);
		return cmd_fail(EXIT_RUNTIME, "vast rent: %s", e.msg);
	}
	if (!r.name)
		snprintf(name, sizeof name, "vast-%ld", id);
	printf("instance %ld rented from offer %ld; waiting until it runs and answers SSH\n", id,
	       r.offer);
	fflush(stdout);
	int status = EXIT_RUNTIME;
	if (vast_wait_ssh(&x->api, id, r.timeout_s, progress, NULL, &host, &port, &e) < 0)
		goto destroy;
	/* The listing's price, when the offer's was not found. */
	struct vast_instances l;
	if (vast_list(&x->api, &l, &e) == 0) {
		const struct vast_instance *in = vast_find(&l, id);
		if (in && in->dph > 0)
			dph = in->dph;
		vast_instances_free(&l);
	}
	add_field(&r, "host", "the instance's ssh_host", cJSON_CreateString(host));
	add_field(&r, "port", "the instance's ssh_port", cJSON_CreateNumber((double)port));
	/* A new machine has a new host key: trust it on first use. */
	add_field(&r, "accept_new_host_key", "rent", cJSON_CreateTrue());
	add_field(&r, "vast_id", "rent", cJSON_CreateNumber((double)id));
	add_field(&r, "rented_at", "rent", cJSON_CreateNumber((double)time(NULL)));
	if (dph > 0)
		add_field(&r, "dph", "the instance's dph_total", cJSON_CreateNumber(dph));
	struct worker_edit ed = {WORKER_ADD, name, "ssh", r.field, r.nfield};
	status = workers_change(x->workdir, &ed, NULL, NULL, &out, &e);
	if (status == EXIT_OK) {
		struct buf b;
		buf_init(&b);
		buf_add_safe(&b, host);
		printf("worker %s added (%s:%ld, $%.3f/h) in %s/workers.json\n", name, b.data, port,
		       dph, x->workdir);
		buf_free(&b);
		status = vast_report(status, "rent", x->workdir, out, &e);
		goto done;
	}
destroy:
	fprintf(stderr, "hypotop: vast rent: %s\n", e.msg);
	{
		struct err de = {{0}};
		if (vast_destroy(&x->api, id, &de) == 0)
			fprintf(stderr, "hypotop: instance %ld destroyed, so that it costs nothing\n",
				id);
		else
			fprintf(stderr, "hypotop: instance %ld could not be destroyed (%s): destroy it "
					"on vast.ai, it costs money while it exists\n",
				id, de.msg);
	}
done:
	free(host);
	rent_free(&r);
	return status;
}

/* The nodes hypotop runs on worker name, as the engine last said (at most max). */
static size_t jobs_on(const char *workdir, const char *name, char (*node)[NODE_ID_LEN],
		      size_t max)
{
	struct worker_stat *v = NULL;
	size_t n = 0, jobs = 0;
	int64_t updated;
	struct err e = {{0}};

	if (workerstat_read(workdir, &updated, &v, &n, &e) != 0)
		return 0;
	for (size_t i = 0; i < n; i++)
		for (size_t k = 0; !strcmp(v[i].name, name) && k < v[i].nslots; k++)
			if (v[i].slot[k].node[0] && jobs < max)
				snprintf(node[jobs++], NODE_ID_LEN, "%s", v[i].slot[k].node);
	workerstat_free(v, n);
	return jobs;
}

/* --force: each job stopped (cancel) and queued again (retry) by the running engine. */
static int requeue(const char *workdir, const char *node, struct err *e)
{
	struct op op = {.kind = OP_CANCEL};
	char got[NODE_ID_LEN], status[CTL_STATUS_LEN];
	char *wd = path_real(workdir, e);
	int rc = -1;

	snprintf(op.node, sizeof op.node, "%s", node);
	if (wd && ctl_op(wd, &op, WORKERS_WAIT_MS, got, status, e) == 0) {
		op.kind = OP_RETRY;
		rc = ctl_op(wd, &op, WORKERS_WAIT_MS, got, status, e);
		if (rc == 0)
			printf("%s stopped; queued again as %s\n", node, got);
	}
	free(wd);
	return rc;
}

int vast_release(struct vast_ctx *x, int argc, char **argv)
{
	const char *name = NULL;
	bool force = false;
	struct err e = {{0}};
	enum worker_outcome out;

	for (int i = 0; i < argc; i++) {
		if (!strcmp(argv[i], "--force"))
			force = true;
		else if (argv[i][0] != '-' && !name)
			name = argv[i];
		else
			return vast_bad_option("release", argv[i]);
	}
	if (!name)
		return cmd_fail(EXIT_USAGE, "vast release: which worker? give its NAME");
	const struct worker_def *w = NULL;
	for (size_t i = 0; i < x->ws.len; i++)
		if (!strcmp(x->ws.v[i].name, name))
			w = &x->ws.v[i];
	if (!w)
		return cmd_fail(EXIT_USAGE, "vast release: no worker named \"%s\" in "
					    "%s/workers.json ('hypotop workers' lists them)",
				name, x->workdir);
	if (!w->vast_id)
		return cmd_fail(EXIT_USAGE, "vast release: worker %s is no Vast.ai instance (it has "
					    "no \"vast_id\"); 'hypotop worker disable' stops new jobs "
					    "on it",
				name);
	char node[64][NODE_ID_LEN];
	size_t jobs = jobs_on(x->workdir, name, node, ARRAY_LEN(node));
	if (jobs && !force)
		return cmd_fail(EXIT_USAGE, "vast release: %zu of hypotop's jobs run on %s; wait "
					    "for them, or give --force to stop them and queue them "
					    "again",
				jobs, name);
	/* New jobs stop first: none starts on a machine about to go. */
	struct worker_edit ed = {WORKER_DISABLE, name, NULL, NULL, 0};
	int status = workers_change(x->workdir, &ed, NULL, NULL, &out, &e);
	if (status != EXIT_OK)
		return cmd_fail(status, "vast release: %s", e.msg);
	for (size_t i = 0; i < jobs; i++)
		if (requeue(x->workdir, node[i], &e) < 0)
			return cmd_fail(EXIT_RUNTIME, "vast release: %s: %s; worker %s is disabled, "
						      "its instance still runs",
					node[i], e.msg, name);
	if (vast_destroy(&x->api, w->vast_id, &e) < 0) {
		if (!strstr(e.msg, "HTTP 404"))
			return cmd_fail(EXIT_RUNTIME, "vast release: %s; worker %s is disabled, the "
						      "instance may still run (and cost): try again",
					e.msg, name);
		printf("instance %ld was gone already\n", w->vast_id);
	} else {
		printf("instance %ld destroyed\n", w->vast_id);
	}
	/* What it cost ends now. */
	cJSON *at = cJSON_CreateNumber((double)time(NULL));
	struct worker_field f = {"released_at", "release", at};
	struct worker_edit set = {WORKER_SET, name, NULL, &f, 1};
	status = workers_change(x->workdir, &set, NULL, NULL, &out, &e);
	cJSON_Delete(at);
	if (status == EXIT_OK)
		printf("worker %s disabled in %s/workers.json\n", name, x->workdir);
	return vast_report(status, "release", x->workdir, out, &e);
}
