/* config.c — see config.h. */
#include "hypotop/config.h"

#include <fnmatch.h>
#include <math.h>
#include <regex.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hypotop/change.h"
#include "hypotop/fsutil.h"
#include "hypotop/json.h"
#include "hypotop/launch.h"
#include "hypotop/params.h"

enum ctype { CT_STR, CT_INT, CT_NUM, CT_BOOL, CT_ENUM, CT_OBJ, CT_MAP, CT_ARRAY };

struct ckey {
	const char *path;
	enum ctype type;
	bool required;
	double lo, hi;
	const char *def;     /* default as JSON text, or NULL */
	const char *choices; /* CT_ENUM: "a|b|c" */
	size_t off;          /* into struct config; SIZE_MAX for none */
	const char *doc;
};

#define NOFF SIZE_MAX
#define OFF(m) offsetof(struct config, m)
#define BIG 1e15

/* Every key of config.json, parents before their children. */
static const struct ckey keys[] = {
	{"source_dir", CT_STR, true, 0, 0, NULL, NULL, OFF(source_dir),
	 "Path of the training project: the top of a git work tree (init makes a folder "
	 "inside one the top, with build and launch run in the folder). Experiments branch "
	 "from its commit at init time."},
	{"launch", CT_STR, true, 0, 0, NULL, NULL, OFF(launch),
	 "Shell command that runs one experiment, in the node's worktree, through /bin/sh. "
	 "{NAME} is replaced by the node's value of search-space param NAME, as one shell "
	 "word; {{ and }} are literal braces; ${...} is left to the shell."},
	{"build", CT_STR, false, 0, 0, NULL, NULL, OFF(build),
	 "Optional shell command run before launch, when a change needs a rebuild."},
	{"metric", CT_STR, true, 0, 0, NULL, NULL, OFF(metric),
	 "Name of the metric to improve, as printed by the run (name=value or JSON)."},
	{"goal", CT_ENUM, false, 0, 0, "\"min\"", "min|max", OFF(goal),
	 "Whether a lower (min) or higher (max) metric is better."},
	{"max_iterations", CT_INT, false, 0, 1000000, "20", NULL, OFF(max_iterations),
	 "Planning rounds after the baseline before the loop stops."},
	{"patience", CT_INT, false, 0, 1000000, "5", NULL, OFF(patience),
	 "Stop after this many planning rounds in a row without improvement."},
	{"max_concurrency", CT_INT, false, 1, 4096, "1", NULL, OFF(max_concurrency),
	 "Most experiments running at once on this machine."},
	{"job_timeout", CT_NUM, false, 0, BIG, "0", NULL, OFF(job_timeout),
	 "Seconds after which a run is stopped as timed out; 0 lets healthy runs go on."},
	{"notes", CT_STR, false, 0, 0, "\"\"", NULL, OFF(notes),
	 "Free text about the project, given to the planner."},
	{"image", CT_STR, false, 0, 0, "\"hypotop-$NODE\"", NULL, OFF(image),
	 "Image name template; $NODE is replaced by the node id, and $IMAGE in build and "
	 "launch by the result."},
	{"seed", CT_INT, false, 0, 2147483647, "0", NULL, OFF(seed),
	 "Seed of the offline planner, so that its proposals can be repeated."},
	{"repair_attempts", CT_INT, false, 0, 100, "1", NULL, OFF(repair_attempts),
	 "Repairs asked of the model for an experiment whose run dies at start-up (a build, "
	 "launch or crash failure before any step or metric was printed); 0 asks none."},
	{"requeue_lost", CT_INT, false, 0, 10, "1", NULL, OFF(requeue_lost),
	 "Times a job its worker lost without an exit code (worker_lost: killed from "
	 "outside, or its machine gone) is queued again as a copy; never while its worker "
	 "is only out of reach; 0 queues none."},
	{"stall_seconds", CT_NUM, false, 1, BIG, "600", NULL, OFF(stall_seconds),
	 "A run whose progress has not moved for this long is stalled."},
	{"protect", CT_ARRAY, false, 0, 0, NULL, NULL, OFF(protect),
	 "Globs of files no change may touch (relative to the top of the source tree; * does "
	 "not cross a /), as in [\"eval.py\", \"data/*.py\"]: the evaluation, the data "
	 "loader. A proposal that touches one is refused, and a run whose protected files "
	 "differ from the baseline's fails as tampered."},
	{"gpus", CT_ARRAY, false, 0, 0, NULL, NULL, OFF(gpus),
	 "GPU indices of this machine, one slot each; a job gets CUDA_VISIBLE_DEVICES for "
	 "its own. Absent: no GPUs."},
	{"noise", CT_OBJ, false, 0, 0, NULL, NULL, NOFF,
	 "Noise-aware keep: how run-to-run spread is measured and used."},
	{"noise.seeds", CT_INT, false, 1, 100, "1", NULL, OFF(noise_seeds),
	 "Seeds the baseline (and a candidate best) is run with to measure the spread."},
	{"noise.k", CT_NUM, false, 0, 100, "2", NULL, OFF(noise_k),
	 "An experiment improves only when it beats the best by more than k standard "
	 "deviations."},
	{"metrics", CT_OBJ, false, 0, 0, NULL, NULL, NOFF, "How metrics are read from logs."},
	{"metrics.patterns", CT_MAP, false, 0, 0, NULL, NULL, OFF(metric_patterns),
	 "Map of metric name to a POSIX extended regex whose first group is the value; "
	 "key=value pairs and JSON lines are found without one."},
	{"prune", CT_OBJ, false, 0, 0, NULL, NULL, NOFF,
	 "Early stopping by curve: a running job whose series is worse than the best "
	 "completed run's at the same step is stopped as pruned. Off unless prune.series "
	 "is set."},
	{"prune.series", CT_STR, false, 0, 0, NULL, NULL, OFF(prune_series),
	 "The metric series compared step by step, as the run prints it (for example "
	 "\"loss\"); absent: no pruning."},
	{"prune.goal", CT_ENUM, false, 0, 0, NULL, "min|max", OFF(prune_goal),
	 "Whether a lower (min) or higher (max) value of the series is better. Absent: the "
	 "config's goal when the series is the metric, else min."},
	{"prune.warmup_steps", CT_NUM, false, 0, BIG, "0", NULL, OFF(prune_warmup_steps),
	 "Steps before which a job is never judged."},
	{"prune.min_runs", CT_INT, false, 1, 1000000, "3", NULL, OFF(prune_min_runs),
	 "Completed runs needed before any job is pruned."},
	{"prune.margin", CT_NUM, false, 0, BIG, "2", NULL, OFF(prune_margin),
	 "How much worse than the best run's curve (interpolated at the job's step) counts as "
	 "worse, in standard deviations of the baseline's repeats when the series is the "
	 "metric and noise.seeds measured a spread."},
	{"prune.margin_relative", CT_NUM, false, 0, BIG, "0.1", NULL, OFF(prune_margin_relative),
	 "The margin when no spread is known: a fraction of the best run's value at that "
	 "step (0.1: 10 % worse)."},
	{"prune.patience", CT_INT, false, 1, 1000000, "3", NULL, OFF(prune_patience),
	 "Points of the series in a row that must be worse before the job is stopped; one "
	 "that is not starts the count again."},
	{"search_space", CT_OBJ, false, 0, 0, NULL, NULL, OFF(search_space),
	 "Parameters the offline planner may change."},
	{"search_space.file", CT_STR, false, 0, 0, NULL, NULL, NOFF,
	 "Param file in the source tree (JSON, YAML or Python constants), relative to its "
	 "top: the params not passed as {NAME} in launch are written there, and each must "
	 "be in it. Not needed when every param is in launch."},
	{"search_space.params", CT_MAP, false, 0, 0, NULL, NULL, NOFF,
	 "Map of parameter name to one of {\"log_uniform\": [lo, hi]}, {\"uniform\": [lo, "
	 "hi]}, {\"int\": [lo, hi]}, {\"choice\": [v, ...]}; a param passed as {NAME} in "
	 "launch adds \"default\": the baseline's value."},
	{"fixed_experiments", CT_ARRAY, false, 0, 0, NULL, NULL, OFF(fixed_experiments),
	 "Experiments of the baseline run beside it and before planning: objects with name, "
	 "hypothesis, change and optional priority."},
	{"llm", CT_OBJ, false, 0, 0, NULL, NULL, NOFF, "The model that analyses and plans."},
	{"llm.provider", CT_ENUM, false, 0, 0, "\"offline\"", "anthropic|openai|command|offline",
	 OFF(llm_provider), "Which planner: a model API, a command, or the built-in offline one."},
	{"llm.model", CT_STR, false, 0, 0, NULL, NULL, OFF(llm_model), "Model name for the API."},
	{"llm.base_url", CT_STR, false, 0, 0, NULL, NULL, OFF(llm_base_url),
	 "Base URL of the API server."},
	{"llm.api_key_env", CT_STR, false, 0, 0, NULL, NULL, OFF(llm_api_key_env),
	 "Environment variable holding the API key; the key itself is never written to a "
	 "file."},
	{"llm.command", CT_STR, false, 0, 0, NULL, NULL, OFF(llm_command),
	 "For the command provider: a shell command that reads the prompt on stdin."},
	{"llm.instrument", CT_BOOL, false, 0, 0, "false", NULL, OFF(llm_instrument),
	 "Before the baseline runs, ask the model once to make the training script print "
	 "step=N step_time=S lines; its change becomes the baseline's commit."},
	{"llm.context", CT_ARRAY, false, 0, 0, NULL, NULL, OFF(llm_context),
	 "Globs of source files (relative to the top of the source tree; * does not cross "
	 "a /), as in [\"model/*.py\", \"configs/base.yaml\"], shown to the model when it "
	 "plans, at the node's commit, besides the files named in launch and build, the "
	 "param file and the files the node's path changed."},
	{"llm.context_bytes", CT_INT, false, 1024, 16777216, "65536", NULL, OFF(llm_context_bytes),
	 "Bytes of source text a plan prompt carries whole, the files the node's path "
	 "changed first; the files past them are listed with their sizes. Binary files, "
	 "and files larger than this, are never shown."},
	{"llm.timeout_s", CT_NUM, false, 1, 86400, NULL, NULL, OFF(llm_timeout_s),
	 "Seconds one request to the model may take: past it the request is cut (a command "
	 "is killed with everything it started) and tried again like a dropped connection, "
	 "at most 2 more times, before the call fails as llm_unavailable. Absent: 600 for "
	 "anthropic and openai, 1800 for a command."},
	{"llm.prices", CT_MAP, false, 0, 0, NULL, NULL, OFF(llm_prices),
	 "Map of model name to its price in US dollars per million tokens: {\"input\": N, "
	 "\"output\": N, \"cache_read\": N, \"cache_write\": N}; input and output are "
	 "required, the cache prices default to the input price. Looked up before the "
	 "built-in table."},
	/* ---- health and alerts ---- */
	{"health", CT_OBJ, false, 0, 0, NULL, NULL, NOFF,
	 "The rules that judge a running job, in two phases: phase 1 at every log line "
	 "while the step is under phase1_steps, phase 2 on a patrol every patrol_seconds."},
	{"health.phase1_steps", CT_INT, false, 0, 1e12, "1000", NULL, OFF(health_phase1_steps),
	 "Steps of a run judged by the phase 1 rules (every line); 0 turns phase 1 off but "
	 "for loss_finite."},
	{"health.patrol_seconds", CT_NUM, false, 1, BIG, "300", NULL,
	 OFF(health_patrol_seconds), "Seconds between two patrols of the phase 2 rules."},
	{"health.grad_norm_series", CT_STR, false, 0, 0, "\"grad_norm\"", NULL,
	 OFF(health_grad_norm_series),
	 "Name of the metric series the grad_norm rule watches (as printed by the run)."},
	{"health.gpu_warmup_steps", CT_INT, false, 0, 1e12, "100", NULL,
	 OFF(health_gpu_warmup_steps),
	 "Steps before the gpu_util and gpu_mem rules judge a run."},
	{"health.checkpoint_glob", CT_STR, false, 0, 0, NULL, NULL, OFF(health_checkpoint_glob),
	 "Glob of the run's checkpoint files, relative to its work tree (for example "
	 "\"ckpt/*.pt\"), for the checkpoint_age rule. Absent: that rule is off."},
	{"health.rules", CT_MAP, false, 0, 0, NULL, NULL, NOFF,
	 "Map of rule name to {\"threshold\": N, \"action\": \"warn|pause|stop|off\", "
	 "\"severity\": \"info|warning|critical\"}, each optional, changing the rule's "
	 "defaults. pause stops the job with SIGSTOP as the pause operation does (resume it "
	 "with p or 'hypotop resume'), at most once a run for each rule; stop ends it. With "
	 "no GPU figures for a job, its GPU rules are off, said once. The rules:"},
	{"alerts", CT_OBJ, false, 0, 0, NULL, NULL, NOFF,
	 "Where the health rules' firings go: every one to logs/alerts.jsonl (time, node, "
	 "worker, rule, value, threshold, action, severity) and the alerts view (A); "
	 "warning and critical ones to the status bar too; critical ones to the webhook."},
	{"alerts.bell", CT_BOOL, false, 0, 0, "true", NULL, OFF(alerts_bell),
	 "Ring the terminal bell for a warning or critical alert."},
	{"alerts.webhook_url", CT_STR, false, 0, 0, NULL, NULL, OFF(alerts_webhook_url),
	 "http:// or https:// URL a critical alert is POSTed to as JSON with a \"text\" "
	 "field (Slack and Discord take it), from a thread of its own, tried 4 times with "
	 "a growing wait; the engine never waits for it, and says when it gives a post up "
	 "(without the URL, which may hold a secret). Absent: none."},
	{"alerts.repeat_seconds", CT_NUM, false, 0, BIG, "600", NULL, OFF(alerts_repeat_seconds),
	 "At most one alert for a rule and a node in this many seconds; the rule's action "
	 "is taken each time all the same."},
	{"budget", CT_OBJ, false, 0, 0, NULL, NULL, NOFF, "Hard caps."},
	{"budget.llm_usd", CT_NUM, false, 0, BIG, NULL, NULL, OFF(budget_llm_usd),
	 "Dollars the model may cost; planning stops when spent. Absent: no cap."},
	{"budget.gpu_hours", CT_NUM, false, 0, BIG, NULL, NULL, OFF(budget_gpu_hours),
	 "GPU-hours the rented (Vast.ai) workers may cost: hours rented times their GPUs; "
	 "reached, no new job starts (running ones finish). Absent: no cap."},
	{"budget.usd", CT_NUM, false, 0, BIG, NULL, NULL, OFF(budget_usd),
	 "Dollars all spend may reach: the model's and the rented workers' (their price "
	 "times the hours rented); reached, no new job starts (running ones finish) and "
	 "planning stops. Absent: no cap."},
	/* Vast.ai */
	{"vast", CT_OBJ, false, 0, 0, NULL, NULL, NOFF,
	 "Renting GPUs on Vast.ai ('hypotop vast'); the API key comes from VAST_API_KEY or "
	 "~/.config/vastai/vast_api_key, never from this file."},
	{"vast.base_url", CT_STR, false, 0, 0, NULL, NULL, OFF(vast_base_url),
	 "Base URL of the Vast.ai API. Absent: https://console.vast.ai."},
	{"vast.idle_release_minutes", CT_NUM, false, 0, BIG, NULL, NULL,
	 OFF(vast_idle_release_min),
	 "A rented worker (vast_id) with no job for this many minutes while nothing is "
	 "queued is released: its instance destroyed, the worker disabled, said in the "
	 "engine's log with its price. Absent: never."},
	{"vast.autorent", CT_BOOL, false, 0, 0, NULL, NULL, OFF(vast_autorent),
	 "While experiments wait in the queue and no slot is free, the engine rents the "
	 "cheapest offer matching vast.offer, at most vast.max_instances at once and only "
	 "while budget.usd leaves an hour of its price; each becomes an ssh worker as with "
	 "'hypotop vast rent', released by vast.idle_release_minutes. Absent: false."},
	{"vast.max_instances", CT_INT, false, 1, 1000, NULL, NULL, OFF(vast_max_instances),
	 "Rented workers vast.autorent keeps at most. Absent: 1."},
	{"vast.offer", CT_OBJ, false, 0, 0, NULL, NULL, NOFF, "What vast.autorent rents."},
	{"vast.offer.gpu_name", CT_STR, false, 0, 0, NULL, NULL, OFF(vast_offer_gpu),
	 "GPU name as Vast.ai spells it (RTX_4090). Absent: any."},
	{"vast.offer.max_dph", CT_NUM, false, 0, BIG, NULL, NULL, OFF(vast_offer_max_dph),
	 "Highest price in US dollars per hour. Absent: any."},
	{"vast.offer.min_reliability", CT_NUM, false, 0, 1, NULL, NULL, OFF(vast_offer_min_rel),
	 "Lowest reliability, 0 to 1. Absent: any."},
	{"vast.user", CT_STR, false, 0, 0, NULL, NULL, OFF(vast_user),
	 "User an autorented worker logs in as. Absent: root."},
	{"vast.key_file", CT_STR, false, 0, 0, NULL, NULL, OFF(vast_key_file),
	 "Private key an autorented worker logs in with. Absent: ssh-agent."},
	{"vast.known_hosts", CT_STR, false, 0, 0, NULL, NULL, OFF(vast_known_hosts),
	 "known_hosts file of autorented workers (their new host keys are recorded there). "
	 "Absent: ~/.ssh/known_hosts."},
	{"vast.workspace", CT_STR, false, 0, 0, NULL, NULL, OFF(vast_workspace),
	 "Workspace of autorented workers. Absent: hypotop, in the login's home."},
};

static const struct ckey *key_find(const char *path)
{
	for (size_t i = 0; i < ARRAY_LEN(keys); i++)
		if (!strcmp(keys[i].path, path))
			return &keys[i];
	return NULL;
}

struct ctx {
	const char *path, *text;
	struct err *e;
};

static void where(struct ctx *x, const char *key, const char *leaf, char *out, size_t n)
{
	int line = json_key_line(x->text, 0, leaf);

	if (line)
		snprintf(out, n, "%s:%d: \"%s\"", x->path, line, key);
	else
		snprintf(out, n, "%s: \"%s\"", x->path, key);
}

static const char *suggest(const char *parent, const char *leaf)
{
	struct nearest near;
	size_t pl = parent ? strlen(parent) : 0;

	nearest_init(&near, leaf);
	for (size_t i = 0; i < ARRAY_LEN(keys); i++) {
		const char *p = keys[i].path, *dot = strrchr(p, '.');
		size_t plen = dot ? (size_t)(dot - p) : 0;
		if (plen != pl || (pl && strncmp(p, parent, pl)))
			continue;
		nearest_offer(&near, dot ? dot + 1 : p);
	}
	return near.d <= 3 || (near.best && near.d * 2 <= strlen(leaf)) ? near.best : NULL;
}

static int check_range(struct ctx *x, const struct ckey *k, const cJSON *v, const char *at)
{
	if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble)) {
		err_set(x->e, "%s must be a number; write it without quotes", at);
		return -1;
	}
	double d = v->valuedouble;
	if (k->type == CT_INT && d != floor(d)) {
		err_set(x->e, "%s must be a whole number (got %g)", at, d);
		return -1;
	}
	if (d < k->lo || d > k->hi) {
		if (k->hi >= BIG)
			err_set(x->e, "%s must be at least %.15g (got %g)", at, k->lo, d);
		else
			err_set(x->e, "%s must be from %.15g to %.15g (got %g)", at, k->lo, k->hi, d);
		return -1;
	}
	return 0;
}

static int check_value(struct ctx *x, const struct ckey *k, const cJSON *v, const char *leaf);

static int check_object(struct ctx *x, const char *parent, const cJSON *o)
{
	char full[256], at[512];

	for (const cJSON *m = o->child; m; m = m->next) {
		if (parent)
			snprintf(full, sizeof full, "%s.%s", parent, m->string);
		else
			snprintf(full, sizeof full, "%s", m->string);
		const struct ckey *k = key_find(full);
		if (!k) {
			const char *s = suggest(parent, m->string);
			where(x, full, m->string, at, sizeof at);
			if (s)
				err_set(x->e, "%s: unknown key; did you mean \"%s\"?", at, s);
			else
				err_set(x->e, "%s: unknown key; see 'man hypotop' (CONFIGURATION) for "
					      "the keys",
					at);
			return -1;
		}
		if (check_value(x, k, m, m->string) < 0)
			return -1;
	}
	return 0;
}

static int check_param_spec(struct ctx *x, const cJSON *p, const char *at)
{
	const cJSON *r = params_dist(p);
	const cJSON *def = cJSON_GetObjectItemCaseSensitive(p, "default");

	if (!cJSON_IsObject(p) || !r || cJSON_GetArraySize(p) != (def ? 2 : 1)) {
		err_set(x->e, "%s must be an object with one of log_uniform, uniform, int, choice "
			      "(and, for a param passed as {NAME} in launch, its \"default\")",
			at);
		return -1;
	}
	if (def && !cJSON_IsNumber(def) && !cJSON_IsString(def) && !cJSON_IsBool(def)) {
		err_set(x->e, "%s: \"default\" must be a number, a string or true/false", at);
		return -1;
	}
	if (!strcmp(r->string, "choice")) {
		if (!cJSON_IsArray(r) || !cJSON_GetArraySize(r)) {
			err_set(x->e, "%s: \"choice\" must be a non-empty array", at);
			return -1;
		}
		return 0;
	}
	bool lg = !strcmp(r->string, "log_uniform"), in = !strcmp(r->string, "int");
	if (!lg && !in && strcmp(r->string, "uniform")) {
		err_set(x->e, "%s: \"%s\" is not a distribution; use log_uniform, uniform, int or "
			      "choice",
			at, r->string);
		return -1;
	}
	const cJSON *lo = cJSON_GetArrayItem(r, 0), *hi = cJSON_GetArrayItem(r, 1);
	if (!cJSON_IsArray(r) || cJSON_GetArraySize(r) != 2 || !cJSON_IsNumber(lo) ||
	    !cJSON_IsNumber(hi) || !(lo->valuedouble < hi->valuedouble) ||
	    (lg && lo->valuedouble <= 0) ||
	    (in && (lo->valuedouble != floor(lo->valuedouble) ||
		    hi->valuedouble != floor(hi->valuedouble)))) {
		err_set(x->e, "%s: \"%s\" must be [lo, hi] with lo < hi%s", at, r->string,
			lg ? " and lo > 0" : in ? ", both whole numbers" : "");
		return -1;
	}
	return 0;
}

/* One entry of llm.prices: USD per million tokens. */
static int check_price(const cJSON *p, const char *at, struct err *e)
{
	static const char *const fields[] = {"input", "output", "cache_read", "cache_write"};
	int have = 0;

	if (!cJSON_IsObject(p)) {
		err_set(e, "%s must be an object of US dollars per million tokens, as in "
			   "{\"input\": 3, \"output\": 15}",
			at);
		return -1;
	}
	for (const cJSON *f = p->child; f; f = f->next) {
		size_t i = 0;
		while (i < ARRAY_LEN(fields) && strcmp(f->string, fields[i]))
			i++;
		if (i == ARRAY_LEN(fields)) {
			err_set(e, "%s: unknown key \"%s\"; use input, output, cache_read, "
				   "cache_write",
				at, f->string);
			return -1;
		}
		if (!cJSON_IsNumber(f) || !isfinite(f->valuedouble) || f->valuedouble < 0) {
			err_set(e, "%s.%s must be a number of US dollars per million tokens, 0 or "
				   "more, without quotes",
				at, f->string);
			return -1;
		}
		have |= i < 2 ? 1 << i : 0;
	}
	if (have != 3) {
		err_set(e, "%s needs \"input\" and \"output\" (US dollars per million tokens)",
			at);
		return -1;
	}
	return 0;
}

/* One glob of llm.context or protect: a path inside the source tree. */
static int check_glob(const cJSON *g, const char *at, struct err *e)
{
	const char *s = cJSON_GetStringValue(g);

	if (!s || !*s) {
		err_set(e, "%s must be a glob of source files in double quotes, as in "
			   "\"model/*.py\"",
			at);
		return -1;
	}
	for (const char *p = s; *p; p = p[strcspn(p, "/")] ? p + strcspn(p, "/") + 1 : "")
		if (*s == '/' || (!strncmp(p, "..", 2) && (p[2] == '/' || !p[2]))) {
			err_set(e, "%s: \"%s\" leaves the source tree; write it relative to its "
				   "top, without a leading / or ..",
				at, s);
			return -1;
		}
	return 0;
}

static int check_value(struct ctx *x, const struct ckey *k, const cJSON *v, const char *leaf)
{
	char at[512];

	where(x, k->path, leaf, at, sizeof at);
	if (cJSON_IsNull(v)) {
		if (k->required) {
			err_set(x->e, "%s is required; give it a value", at);
			return -1;
		}
		return 0;
	}
	switch (k->type) {
	case CT_STR:
		if (!cJSON_IsString(v)) {
			err_set(x->e, "%s must be a string; put the value in double quotes", at);
			return -1;
		}
		if (k->required && !v->valuestring[strspn(v->valuestring, " \t\n")]) {
			err_set(x->e, "%s must not be empty", at);
			return -1;
		}
		if (!strcmp(k->path, "alerts.webhook_url") &&
		    strncmp(v->valuestring, "http://", 7) && strncmp(v->valuestring, "https://", 8)) {
			err_set(x->e, "%s must be an http:// or https:// URL", at);
			return -1;
		}
		return 0;
	case CT_INT:
	case CT_NUM:
		return check_range(x, k, v, at);
	case CT_BOOL:
		if (!cJSON_IsBool(v)) {
			err_set(x->e, "%s must be true or false (without quotes)", at);
			return -1;
		}
		return 0;
	case CT_ENUM: {
		size_t n = v->valuestring ? strlen(v->valuestring) : 0;
		const char *c = k->choices;
		if (cJSON_IsString(v) && n)
			for (const char *p = c; (p = strstr(p, v->valuestring)); p += n)
				if ((p == c || p[-1] == '|') && (p[n] == '|' || !p[n]))
					return 0;
		err_set(x->e, "%s must be one of %s", at, c);
		return -1;
	}
	case CT_OBJ:
		if (!cJSON_IsObject(v)) {
			err_set(x->e, "%s must be an object ({...})", at);
			return -1;
		}
		if (check_object(x, k->path, v) < 0)
			return -1;
		if (!strcmp(k->path, "search_space")) {
			const cJSON *f = cJSON_GetObjectItemCaseSensitive(v, "file");
			const cJSON *p = cJSON_GetObjectItemCaseSensitive(v, "params");
			if ((f && !cJSON_IsString(f)) || !cJSON_IsObject(p) || !p->child) {
				err_set(x->e, "%s needs \"params\" (at least one) and, for the params "
					      "not passed as {NAME} in launch, \"file\" (the param "
					      "file)",
					at);
				return -1;
			}
		}
		return 0;
	case CT_MAP:
		if (!cJSON_IsObject(v)) {
			err_set(x->e, "%s must be an object mapping names to values", at);
			return -1;
		}
		for (const cJSON *m = v->child; m; m = m->next) {
			char sub[1024];
			snprintf(sub, sizeof sub, "%s.%s", at, m->string);
			if (!strcmp(k->path, "search_space.params")) {
				if (check_param_spec(x, m, sub) < 0)
					return -1;
			} else if (!strcmp(k->path, "llm.prices")) {
				if (check_price(m, sub, x->e) < 0)
					return -1;
			} else if (!strcmp(k->path, "health.rules")) {
				continue; /* after the loop, with the rule table */
			} else if (!cJSON_IsString(m)) {
				err_set(x->e, "%s must be a string", sub);
				return -1;
			} else {
				/* A pattern must compile and capture the value. */
				regex_t re;
				int rc = regcomp(&re, m->valuestring, REG_EXTENDED);
				if (rc != 0) {
					char why[128];
					regerror(rc, &re, why, sizeof why);
					err_set(x->e, "%s: bad regex: %s", sub, why);
					return -1;
				}
				size_t groups = re.re_nsub;
				regfree(&re);
				if (groups < 1) {
					err_set(x->e, "%s: the regex needs a group, as in "
						      "\"acc: ([0-9.]+)\", around the value",
						sub);
					return -1;
				}
			}
		}
		if (!strcmp(k->path, "health.rules"))
			return health_rules_check(v, at, x->e);
		return 0;
	case CT_ARRAY:
		if (!cJSON_IsArray(v)) {
			err_set(x->e, "%s must be an array ([...])", at);
			return -1;
		}
		int i = 0;
		for (const cJSON *m = v->child; m; m = m->next, i++) {
			char sub[1024];
			snprintf(sub, sizeof sub, "%s[%d]", at, i);
			if (!strcmp(k->path, "llm.context") || !strcmp(k->path, "protect")) {
				if (check_glob(m, sub, x->e) < 0)
					return -1;
				continue;
			}
			if (!strcmp(k->path, "gpus")) {
				if (!cJSON_IsNumber(m) || m->valuedouble != floor(m->valuedouble) ||
				    m->valuedouble < 0 || m->valuedouble > 1023) {
					err_set(x->e, "%s must be a GPU index from 0 to 1023", sub);
					return -1;
				}
				continue;
			}
			const char *name;
			if (!cJSON_IsObject(m) || json_get_str(m, "name", sub, &name, x->e) != 1 ||
			    !cJSON_GetObjectItemCaseSensitive(m, "change")) {
				err_set(x->e, "%s must be an object with \"name\", \"hypothesis\" and "
					      "\"change\"",
					sub);
				return -1;
			}
			for (const cJSON *f = m->child; f; f = f->next)
				if (strcmp(f->string, "name") && strcmp(f->string, "hypothesis") &&
				    strcmp(f->string, "change") && strcmp(f->string, "priority")) {
					err_set(x->e, "%s: unknown key \"%s\"; use name, hypothesis, "
						      "change, priority",
						sub, f->string);
					return -1;
				}
			if (change_validate(cJSON_GetObjectItemCaseSensitive(m, "change"), sub,
					    x->e) < 0)
				return -1;
		}
		return 0;
	}
	return 0;
}

static void fill(struct config *c, const struct ckey *k, const cJSON *v)
{
	char *base = (char *)c + k->off;

	switch (k->type) {
	case CT_STR:
	case CT_ENUM:
		*(char **)base = cJSON_IsString(v) ? v->valuestring : NULL;
		break;
	case CT_INT:
		*(long *)base = (long)v->valuedouble;
		break;
	case CT_NUM:
		*(double *)base = v->valuedouble;
		break;
	case CT_BOOL:
		*(bool *)base = cJSON_IsTrue(v);
		break;
	case CT_OBJ:
	case CT_MAP:
	case CT_ARRAY:
		*(const cJSON **)base = v;
		break;
	}
}

static const cJSON *lookup(const cJSON *doc, const char *path)
{
	const char *dot = strchr(path, '.');

	if (!dot)
		return cJSON_GetObjectItemCaseSensitive(doc, path);
	char parent[128];
	snprintf(parent, sizeof parent, "%.*s", (int)(dot - path), path);
	return cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(doc, parent),
						dot + 1);
}

/*
 * The launch command against the search space: its {NAME}s are params,
 * each such param has the baseline's value in "default", and every other
 * param is the param file's.
 */
static int check_launch(struct ctx *x, const cJSON *doc)
{
	const cJSON *launch = cJSON_GetObjectItemCaseSensitive(doc, "launch");
	const cJSON *ss = cJSON_GetObjectItemCaseSensitive(doc, "search_space");
	const cJSON *params = cJSON_GetObjectItemCaseSensitive(ss, "params");
	bool file = cJSON_IsString(cJSON_GetObjectItemCaseSensitive(ss, "file"));
	char at[512];

	if (!cJSON_IsString(launch))
		return 0;
	where(x, "launch", "launch", at, sizeof at);
	if (launch_check(launch->valuestring, params, at, x->e) < 0)
		return -1;
	for (const cJSON *m = params ? params->child : NULL; m; m = m->next) {
		bool flag = launch_uses(launch->valuestring, m->string);
		bool def = cJSON_GetObjectItemCaseSensitive(m, "default") != NULL;
		char full[256];
		snprintf(full, sizeof full, "search_space.params.%s", m->string);
		where(x, full, m->string, at, sizeof at);
		if (flag && !def) {
			err_set(x->e, "%s is passed as {%s} in \"launch\" but has no \"default\"; "
				      "add the baseline's value, as in {\"default\": 0.001, ...}",
				at, m->string);
			return -1;
		}
		if (!flag && def) {
			err_set(x->e, "%s: \"default\" is only for a param passed as {%s} in "
				      "\"launch\"; add {%s} to launch, or drop \"default\" (the "
				      "param file gives the baseline's value)",
				at, m->string, m->string);
			return -1;
		}
		if (!flag && !file) {
			err_set(x->e, "%s is neither passed as {%s} in \"launch\" nor in a param "
				      "file; add {%s} to launch, or name the file that has it in "
				      "search_space.file",
				at, m->string, m->string);
			return -1;
		}
	}
	return 0;
}

int config_from_json(struct config *c, cJSON *doc, const char *path, const char *text,
		     struct err *e)
{
	struct ctx x = {path, text, e};

	memset(c, 0, sizeof *c);
	if (!cJSON_IsObject(doc)) {
		err_set(e, "%s: the configuration must be a JSON object", path);
		return -1;
	}
	if (check_object(&x, NULL, doc) < 0 || check_launch(&x, doc) < 0)
		return -1;
	config_fill_defaults(doc);
	c->budget_llm_usd = c->budget_gpu_hours = c->budget_usd = -1;
	c->vast_idle_release_min = c->vast_offer_max_dph = c->vast_offer_min_rel = -1;
	for (size_t i = 0; i < ARRAY_LEN(keys); i++) {
		const struct ckey *k = &keys[i];
		const cJSON *v = lookup(doc, k->path);
		if (!v || cJSON_IsNull(v)) {
			if (k->required) {
				err_set(e, "%s: \"%s\" is missing; add it (see 'man hypotop')", path,
					k->path);
				memset(c, 0, sizeof *c);
				return -1;
			}
			continue;
		}
		if (k->off != NOFF)
			fill(c, k, v);
	}
	health_rules_fill(c->health, lookup(doc, "health.rules"), c->stall_seconds);
	if (c->prune_series && !c->prune_series[strspn(c->prune_series, " \t")]) {
		err_set(e, "%s: \"prune.series\" is empty; name the series to compare (as in "
			   "\"loss\"), or remove it to turn pruning off",
			path);
		memset(c, 0, sizeof *c);
		return -1;
	}
	c->doc = doc;
	return 0;
}

bool config_globbed(const cJSON *globs, const char *path)
{
	const cJSON *g;

	cJSON_ArrayForEach(g, globs)
		if (cJSON_IsString(g) && !fnmatch(g->valuestring, path, FNM_PATHNAME | FNM_PERIOD))
			return true;
	return false;
}

void config_free(struct config *c)
{
	cJSON_Delete(c->doc);
	memset(c, 0, sizeof *c);
}

void config_fill_defaults(cJSON *doc)
{
	for (size_t i = 0; i < ARRAY_LEN(keys); i++) {
		const struct ckey *k = &keys[i];
		const char *dot = strchr(k->path, '.');
		cJSON *parent = doc;
		if (!k->def)
			continue;
		if (dot) {
			char name[128];
			snprintf(name, sizeof name, "%.*s", (int)(dot - k->path), k->path);
			parent = cJSON_GetObjectItemCaseSensitive(doc, name);
			if (!parent)
				parent = cJSON_AddObjectToObject(doc, name);
		}
		const char *leaf = dot ? dot + 1 : k->path;
		cJSON *v = cJSON_GetObjectItemCaseSensitive(parent, leaf);
		if (v && !cJSON_IsNull(v))
			continue;
		if (v)
			cJSON_DeleteItemFromObjectCaseSensitive(parent, leaf);
		cJSON_AddItemToObject(parent, leaf, cJSON_Parse(k->def));
	}
}

int config_load(struct config *c, const char *path, struct err *e)
{
	size_t len;
	char *text = fs_read_max(path, FS_MAX_CONFIG, &len, e);

	memset(c, 0, sizeof *c);
	if (!text)
		return -1;
	cJSON *doc = json_parse(text, len, path, e);
	if (!doc || config_from_json(c, doc, path, text, e) < 0) {
		cJSON_Delete(doc);
		free(text);
		return -1;
	}
	free(text);
	return 0;
}

static const char *type_name(const struct ckey *k)
{
	switch (k->type) {
	case CT_STR: return "string";
	case CT_INT: return "integer";
	case CT_NUM: return "number";
	case CT_BOOL: return "boolean";
	case CT_ENUM: return k->choices;
	case CT_OBJ: return "object";
	case CT_MAP: return "map";
	case CT_ARRAY: return "array";
	}
	return "?";
}

void config_man_escape(struct buf *b, const char *s)
{
	for (; *s; s++) {
		if (*s == '\\')
			buf_adds(b, "\\e");
		else if (*s == '-')
			buf_adds(b, "\\-");
		else
			buf_addc(b, *s);
	}
}

void config_print_reference(struct buf *b, bool man)
{
	for (size_t i = 0; i < ARRAY_LEN(keys); i++) {
		const struct ckey *k = &keys[i];
		char range[96] = "";
		if (k->type == CT_INT || k->type == CT_NUM) {
			if (k->hi >= BIG)
				snprintf(range, sizeof range, ", at least %.15g", k->lo);
			else
				snprintf(range, sizeof range, ", %.15g to %.15g", k->lo, k->hi);
		}
		if (man) {
			buf_adds(b, ".TP\n.B ");
			config_man_escape(b, k->path);
			buf_printf(b, "\n(%s%s%s%s%s)\n", type_name(k), range,
				   k->required ? ", required" : "", k->def ? ", default " : "",
				   k->def ? k->def : "");
			config_man_escape(b, k->doc);
			buf_addc(b, '\n');
		} else {
			buf_printf(b, "%-22s %s%s%s%s%s\n  %s\n", k->path, type_name(k), range,
				   k->required ? ", required" : "", k->def ? ", default " : "",
				   k->def ? k->def : "", k->doc);
		}
		if (!strcmp(k->path, "health.rules"))
			health_rules_reference(b, man);
	}
}
