/*
 * llm_probe — one analyse or plan call through the planner a config
 * names, as the engine would make it, for the model-provider tests.
 *
 * usage: llm_probe CONFIG WORKDIR analyse|plan [options]
 *   --timeout-ms N --connect-timeout-ms N --retries N --backoff-ms N
 *   --max-tokens N --command-timeout-ms N
 *   --threads N          N calls at once, each on its own thread
 *   --prior USD          spend recorded before this process
 *   --cancel-after-ms N  cancel the calls from the main thread after N ms
 *   --log-tail FILE      the run's log tail (default: a few lines)
 *
 * Prints one JSON object: {"calls": [{"rc", "kind", "error", "result",
 * "analysis"}], "spent_usd", "spent_known"}. Exit status 0 when every call
 * succeeded, 1 otherwise, 2 on bad usage.
 */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hypotop/config.h"
#include "hypotop/fsutil.h"
#include "hypotop/json.h"
#include "hypotop/llm.h"
#include "hypotop/planner.h"

#define MAX_THREADS 16

struct job {
	struct planner *p;
	bool plan;
	const struct analyse_request *ar;
	const struct plan_request *pr;
	int rc;
	const char *kind;
	struct err e;
	char *analysis;
	cJSON *result;
};

static void *run_job(void *arg)
{
	struct job *j = arg;

	if (j->plan)
		j->rc = planner_plan(j->p, j->pr, &j->result, &j->kind, &j->e);
	else
		j->rc = planner_analyse(j->p, j->ar, &j->analysis, &j->result, &j->kind, &j->e);
	return NULL;
}

static long arg_long(int argc, char **argv, int *i)
{
	if (*i + 1 >= argc) {
		fprintf(stderr, "llm_probe: %s needs a value\n", argv[*i]);
		exit(2);
	}
	return atol(argv[++*i]);
}

int main(int argc, char **argv)
{
	struct config cfg;
	struct llm_opts o;
	struct err e = {{0}};
	long threads = 1, cancel_after = -1;
	double prior = -1;
	const char *tail_file = NULL;

	signal(SIGPIPE, SIG_IGN);
	if (argc < 4 || (strcmp(argv[3], "analyse") && strcmp(argv[3], "plan"))) {
		fprintf(stderr, "usage: llm_probe CONFIG WORKDIR analyse|plan [options]\n");
		return 2;
	}
	llm_opts_default(&o);
	for (int i = 4; i < argc; i++) {
		if (!strcmp(argv[i], "--timeout-ms"))
			o.timeout_ms = arg_long(argc, argv, &i);
		else if (!strcmp(argv[i], "--connect-timeout-ms"))
			o.connect_timeout_ms = arg_long(argc, argv, &i);
		else if (!strcmp(argv[i], "--retries"))
			o.max_retries = (int)arg_long(argc, argv, &i);
		else if (!strcmp(argv[i], "--backoff-ms"))
			o.backoff_base_s = (double)arg_long(argc, argv, &i) / 1000;
		else if (!strcmp(argv[i], "--max-tokens"))
			o.max_tokens = arg_long(argc, argv, &i);
		else if (!strcmp(argv[i], "--command-timeout-ms"))
			o.command_timeout_ms = arg_long(argc, argv, &i);
		else if (!strcmp(argv[i], "--threads"))
			threads = arg_long(argc, argv, &i);
		else if (!strcmp(argv[i], "--prior") && i + 1 < argc)
			prior = atof(argv[++i]);
		else if (!strcmp(argv[i], "--cancel-after-ms"))
			cancel_after = arg_long(argc, argv, &i);
		else if (!strcmp(argv[i], "--log-tail") && i + 1 < argc)
			tail_file = argv[++i];
		else {
			fprintf(stderr, "llm_probe: unknown option %s\n", argv[i]);
			return 2;
		}
	}
	if (threads < 1 || threads > MAX_THREADS) {
		fprintf(stderr, "llm_probe: --threads must be 1 to %d\n", MAX_THREADS);
		return 2;
	}
	if (llm_global_init() < 0 || config_load(&cfg, argv[1], &e) < 0) {
		fprintf(stderr, "llm_probe: %s\n", e.msg);
		return 2;
	}
	struct planner *p = !strcmp(cfg.llm_provider, "offline") ? planner_new(&cfg, argv[2], &e)
								  : planner_llm_new_opts(&cfg, argv[2], &o, &e);
	if (!p) {
		const char *k = planner_last_kind();
		printf("{\"calls\": [{\"rc\": -1, \"kind\": \"%s\", \"error\": ", k ? k : "planner");
		struct buf b;
		buf_init(&b);
		json_append_str(&b, e.msg);
		printf("%s}], \"spent_usd\": 0, \"spent_known\": true}\n", b.data);
		buf_free(&b);
		config_free(&cfg);
		llm_global_cleanup();
		return 1;
	}
	if (prior >= 0)
		planner_set_prior_spend(p, prior);

	char *tail = tail_file ? fs_read(tail_file, NULL, &e) : NULL;
	struct analyse_request ar = {
		.cfg = &cfg,
		.node = "n0003",
		.name = "lower-lr",
		.hypothesis = "a lower learning rate converges to a lower loss",
		.status = "completed",
		.has_metric = true,
		.metric = 0.8,
		.has_parent_metric = true,
		.parent_metric = 1.0,
		.has_best = true,
		.best_metric = 0.9,
		.best_node = "n0001",
		.noise_sigma = 0.01,
		.metrics_json = "{\"series\": {\"val_loss\": {\"count\": 3, \"first\": 1.2, "
				"\"last\": 0.8, \"min\": 0.8, \"max\": 1.2, \"mean\": 1.0}}}",
		.log_tail = tail ? tail : "step 1 val_loss=1.2\nstep 2 val_loss=1.0\nstep 3 val_loss=0.8\n",
		.change = "{\"kind\": \"params\", \"params\": {\"lr\": 0.001}}",
	};
	cJSON *base = cJSON_Parse("{\"lr\": 0.01, \"dropout\": 0.1}");
	cJSON *p1 = cJSON_Parse("{\"lr\": 0.003, \"dropout\": 0.1}");
	cJSON *p3 = cJSON_Parse("{\"lr\": 0.001, \"dropout\": 0.1}");
	struct plan_entry hist[] = {
		{"n0000", NULL, "baseline", "completed", NULL, base, true, 1.0},
		{"n0001", "n0000", "lr-3e-3", "completed", NULL, p1, true, 0.9},
		{"n0002", "n0000", "dropout-0", "failed", "crash", base, false, 0},
		{"n0003", "n0001", "lower-lr", "completed", NULL, p3, true, 0.8,
		 "a lower learning rate converges to a lower loss"},
	};
	struct plan_request pr = {&cfg, base, hist, ARRAY_LEN(hist), "n0003", p3, 2, 3,
				  "Keep dropout under 0.3."};

	struct job jobs[MAX_THREADS];
	pthread_t tid[MAX_THREADS];
	for (long i = 0; i < threads; i++) {
		jobs[i] = (struct job){p, !strcmp(argv[3], "plan"), &ar, &pr, 0, NULL, {{0}}, NULL, NULL};
		pthread_create(&tid[i], NULL, run_job, &jobs[i]);
	}
	if (cancel_after >= 0) {
		struct timespec d = {cancel_after / 1000, (cancel_after % 1000) * 1000000L};
		nanosleep(&d, NULL);
		planner_cancel(p);
	}
	int status = 0;
	cJSON *out = cJSON_CreateObject(), *calls = cJSON_AddArrayToObject(out, "calls");
	for (long i = 0; i < threads; i++) {
		pthread_join(tid[i], NULL);
		struct job *j = &jobs[i];
		cJSON *c = cJSON_CreateObject();
		cJSON_AddNumberToObject(c, "rc", j->rc);
		if (j->kind)
			cJSON_AddStringToObject(c, "kind", j->kind);
		else
			cJSON_AddNullToObject(c, "kind");
		cJSON_AddStringToObject(c, "error", j->rc ? j->e.msg : "");
		if (j->result)
			cJSON_AddItemToObject(c, "result", j->result);
		else
			cJSON_AddNullToObject(c, "result");
		if (j->analysis)
			cJSON_AddStringToObject(c, "analysis", j->analysis);
		free(j->analysis);
		cJSON_AddItemToArray(calls, c);
		status |= j->rc != 0;
	}
	bool known;
	double spent = planner_spent_usd(p, &known);
	cJSON_AddNumberToObject(out, "spent_usd", spent);
	cJSON_AddBoolToObject(out, "spent_known", known);
	char *text = cJSON_Print(out);
	printf("%s\n", text);
	free(text);
	cJSON_Delete(out);
	cJSON_Delete(base);
	cJSON_Delete(p1);
	cJSON_Delete(p3);
	free(tail);
	p->destroy(p);
	config_free(&cfg);
	llm_global_cleanup();
	return status;
}
