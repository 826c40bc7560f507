/*
 * cmd_report.c — `hypotop report WORKDIR`: report.md from everything the
 * workdir holds (SPEC §3), written by the configured model or by the
 * built-in reporter.
 *
 * It only reads the state and writes report.md, so it runs beside an
 * engine without taking the workdir's lock. A model report's cost is
 * recorded in its own log files, never in state.json (which belongs to
 * the engine), and every budget check counts it (planner_report_spend).
 * While an engine runs, the model is not asked: the engine's calls in
 * flight are not on disk yet, so this process could not keep the two
 * within budget.llm_usd together; the built-in report is written instead.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hypotop/cmd.h"
#include "hypotop/fsutil.h"
#include "hypotop/json.h"
#include "hypotop/noise.h"
#include "hypotop/planner.h"
#include "hypotop/workdir.h"

/* The request's strings and JSON, owned here. */
struct report_data {
	struct report_entry *nodes;
	char (*ids)[3][NODE_ID_LEN];
	cJSON **verdicts;
	char **analyses;
	size_t n;
	char best[NODE_ID_LEN];
	struct buf headline, noise;
};

static void data_build(struct workdir *w, struct report_data *d, struct report_request *r)
{
	uint32_t best = w->st.best;
	struct node *fallback = workdir_best(w);

	memset(d, 0, sizeof *d);
	size_t cap = w->tree.len ? w->tree.len : 1;
	d->nodes = xcalloc(cap, sizeof *d->nodes);
	d->ids = xcalloc(cap, sizeof *d->ids);
	d->verdicts = xcalloc(cap, sizeof *d->verdicts);
	d->analyses = xcalloc(cap, sizeof *d->analyses);
	for (uint32_t i = 0; i < w->tree.len; i++) {
		struct node *n = &w->tree.nodes[i];
		if (!n->present)
			continue;
		size_t k = d->n++;
		struct err e = {{0}};
		node_id_format(i, d->ids[k][0]);
		if (n->parent != NODE_NONE)
			node_id_format(n->parent, d->ids[k][1]);
		char *rel = xasprintf("engine/nodes/%s/result.json", d->ids[k][0]);
		char *path = workdir_file(w, rel);
		cJSON *res = fs_exists(path) ? json_parse_file(path, &e) : NULL;
		d->verdicts[k] = cJSON_DetachItemFromObjectCaseSensitive(res, "verdict");
		cJSON_Delete(res);
		free(path);
		free(rel);
		rel = xasprintf("runs/%s/analysis.md", d->ids[k][0]);
		path = workdir_file(w, rel);
		d->analyses[k] = fs_exists(path) ? fs_read(path, NULL, &e) : NULL;
		free(path);
		free(rel);
		uint32_t of = node_repeat_of(&w->tree, n);
		if (of != NODE_NONE)
			node_id_format(of, d->ids[k][2]);
		bool judged = n->improved >= 0 && n->parent != NODE_NONE && !node_is_repeat(n);
		double delta = 0;
		bool has_delta = noise_delta(&w->tree, n, NULL, &delta);
		d->nodes[k] = (struct report_entry){
			.e = {d->ids[k][0], n->parent != NODE_NONE ? d->ids[k][1] : NULL, n->name,
			      status_name(n->status), n->failure_kind, NULL, n->has_metric,
			      n->metric, n->hypothesis, n->change},
			.improved = !judged ? -1 : node_improved(n) ? 1 : 0,
			.repeat_of = of != NODE_NONE ? d->ids[k][2] : NULL,
			.has_delta = has_delta,
			.delta = delta,
			.verdict = cJSON_IsObject(d->verdicts[k]) ? d->verdicts[k] : NULL,
			.analysis = d->analyses[k],
		};
	}
	if (best == NODE_NONE && fallback)
		best = fallback->id;
	if (best != NODE_NONE)
		node_id_format(best, d->best);
	struct noise nz;
	buf_init(&d->headline);
	buf_init(&d->noise);
	if (best != NODE_NONE)
		noise_headline(&d->headline, &w->tree, best, true);
	noise_pool(&w->tree, &nz);
	noise_format(&d->noise, &nz, noise_decimals(&w->tree));
	*r = (struct report_request){
		.cfg = &w->cfg,
		.nodes = d->nodes,
		.n = d->n,
		.best = best != NODE_NONE ? d->best : NULL,
		.headline = d->headline.data,
		.noise = d->noise.data,
		.iteration = w->st.iteration,
		.rounds_without_gain = w->st.rounds_without_gain,
	};
}

static void data_free(struct report_data *d)
{
	for (size_t i = 0; i < d->n; i++) {
		cJSON_Delete(d->verdicts[i]);
		free(d->analyses[i]);
	}
	free(d->nodes);
	free(d->ids);
	free(d->verdicts);
	free(d->analyses);
	buf_free(&d->headline);
	buf_free(&d->noise);
}

/* The model's report, or NULL for the built-in one; *status set on failure. */
static struct planner *model_for(struct workdir *w, bool offline, int *status)
{
	char *lock = workdir_file(w, "engine/lock");
	char role[LOCK_ROLE_LEN];
	pid_t pid = 0;
	struct err e = {{0}};
	bool engine = lock_held(lock, &pid, role) && !strcmp(role, "engine");

	free(lock);
	*status = EXIT_OK;
	if (offline || !strcmp(w->cfg.llm_provider, "offline"))
		return NULL;
	if (engine) {
		fprintf(stderr, "hypotop: an engine is running on %s (pid %ld): the model is not "
				"asked while its calls are in flight, since the two could pass "
				"budget.llm_usd together; this is the built-in report (run "
				"'hypotop report' again once the engine has stopped for the "
				"model's)\n",
			w->path, (long)pid);
		return NULL;
	}
	struct planner *p = planner_llm_new(&w->cfg, w->path, &e);
	if (!p) {
		*status = cmd_fail(EXIT_USAGE, "%s", e.msg);
		return NULL;
	}
	planner_set_prior_spend(p, w->st.llm_usd);
	return p;
}

int cmd_report(int argc, char **argv)
{
	const char *path = NULL;
	bool offline = false;
	struct workdir w;
	struct err e = {{0}};
	int status = EXIT_OK;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--offline"))
			offline = true;
		else if (argv[i][0] == '-' || path) {
			cmd_usage("report", 1);
			return EXIT_USAGE;
		} else
			path = argv[i];
	}
	if (!path) {
		cmd_usage("report", 1);
		return EXIT_USAGE;
	}
	if (workdir_open(&w, path, WD_READ, NULL, &e) != WD_OK)
		return cmd_fail(EXIT_USAGE, "%s", e.msg);
	struct planner *p = model_for(&w, offline, &status);
	if (status != EXIT_OK) {
		workdir_close(&w);
		return status;
	}
	struct report_data d;
	struct report_request r;
	const char *kind = NULL;
	char *text = NULL;
	data_build(&w, &d, &r);
	if (planner_report(p, &r, &text, &kind, &e) < 0) {
		status = cmd_fail(EXIT_RUNTIME, "report: the model failed (%s): %s; report.md is "
						"unchanged ('hypotop report --offline' writes the "
						"built-in one)",
				  kind ? kind : "planner", e.msg);
	} else {
		char *out = workdir_file(&w, "report.md");
		if (fs_write_atomic(out, text, strlen(text), 0644, &e) < 0)
			status = cmd_fail(EXIT_RUNTIME, "%s", e.msg);
		else
			printf("%s: written by %s\n", out, p ? p->name : "the built-in reporter");
		free(out);
	}
	free(text);
	data_free(&d);
	if (p)
		p->destroy(p);
	workdir_close(&w);
	return status;
}
