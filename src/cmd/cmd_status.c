/* cmd_status.c — `hypotop status`: the state of a workdir, for people or jq. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hypotop/calls.h"
#include "hypotop/cmd.h"
#include "hypotop/fsutil.h"
#include "hypotop/json.h"
#include "hypotop/noise.h"
#include "hypotop/planner.h"
#include "hypotop/workdir.h"
#include "hypotop/workers.h"
#include "hypotop/workerstat.h"

struct engine_info {
	bool running;
	pid_t pid;
	char state[32]; /* from engine_state.json; "" when unknown */
};

static void engine_info(struct workdir *w, struct engine_info *ei)
{
	char *lock = workdir_file(w, "engine/lock");
	char role[LOCK_ROLE_LEN];

	memset(ei, 0, sizeof *ei);
	ei->running = lock_held(lock, &ei->pid, role) && !strcmp(role, "engine");
	workdir_engine_state(w, ei->state, sizeof ei->state);
	free(lock);
}

static void add_id(struct buf *b, uint32_t id)
{
	char s[NODE_ID_LEN];

	if (id == NODE_NONE) {
		buf_adds(b, "null");
		return;
	}
	node_id_format(id, s);
	buf_printf(b, "\"%s\"", s);
}

static void add_str(struct buf *b, const char *s)
{
	if (s)
		json_append_str(b, s);
	else
		buf_adds(b, "null");
}

/* Every node's model calls, each with what its raw.json says. */
static void add_calls(struct buf *b, struct workdir *w)
{
	bool first = true;

	for (uint32_t i = 0; i < w->tree.len; i++) {
		struct node *n = &w->tree.nodes[i];
		cJSON *calls = n->present && n->calls ? cJSON_Parse(n->calls) : NULL;
		const cJSON *c;
		cJSON_ArrayForEach(c, calls)
		{
			struct call_info ci;
			call_info_read(w->path, c->valuestring, &ci);
			buf_adds(b, first ? "{\"node\":" : ",{\"node\":");
			add_id(b, n->id);
			buf_addc(b, ',');
			call_info_members(&ci, b);
			buf_addc(b, '}');
			call_info_free(&ci);
			first = false;
		}
		cJSON_Delete(calls);
	}
}

/*
 * The workers as the running engine last saw them (engine/workers.json);
 * without an engine, those of workers.json, each down for want of one.
 */
static void add_workers(struct buf *b, struct workdir *w, const struct engine_info *ei)
{
	struct worker_stat *v = NULL;
	size_t n = 0;
	struct err e = {{0}};

	if (!ei->running || workerstat_read(w->path, NULL, &v, &n, &e) != 0) {
		char *path = workdir_file(w, "workers.json");
		struct workers ws;
		if (workers_load(path, &ws, &e) < 0)
			ws.len = 0;
		v = xcalloc(ws.len ? ws.len : 1, sizeof *v);
		for (n = 0; n < ws.len; n++) {
			snprintf(v[n].name, sizeof v[n].name, "%s", ws.v[n].name);
			snprintf(v[n].kind, sizeof v[n].kind, "%s", ws.v[n].kind);
			v[n].enabled = ws.v[n].enabled;
			v[n].st.state = WORKER_DOWN;
			snprintf(v[n].st.reason, sizeof v[n].st.reason, "%s",
				 ei->running ? "the engine has not said yet" : "no engine is running");
		}
		workers_free(&ws);
		free(path);
	}
	workerstat_json(b, v, n);
	workerstat_free(v, n);
}

/* What the rented (Vast.ai) workers of workers.json have cost by now. */
static void rent_spend(struct workdir *w, double *usd, double *gpu_hours, size_t *n)
{
	char *path = workdir_file(w, "workers.json");
	struct workers ws;
	struct err e = {{0}};
	double now = (double)now_ms() / 1000;

	*usd = *gpu_hours = 0;
	*n = 0;
	if (workers_load(path, &ws, &e) == 0) {
		for (size_t i = 0; i < ws.len; i++) {
			double h = workers_rent_hours(&ws.v[i], now);
			*usd += h * ws.v[i].dph;
			*gpu_hours += h * (double)(ws.v[i].ngpus ? ws.v[i].ngpus : 1);
			*n += ws.v[i].vast_id != 0;
		}
		workers_free(&ws);
	}
	free(path);
}

static void print_json(struct workdir *w, const struct engine_info *ei)
{
	int counts[ST__COUNT] = {0};
	struct node *best = workdir_best(w);
	uint32_t *order;
	size_t nq = queue_order(&w->tree, &order);
	struct buf b;

	for (uint32_t i = 0; i < w->tree.len; i++)
		if (w->tree.nodes[i].present)
			counts[w->tree.nodes[i].status]++;
	buf_init(&b);
	buf_adds(&b, "{\"version\":1,\"workdir\":");
	json_append_str(&b, w->path);
	buf_printf(&b, ",\"engine\":{\"running\":%s,\"pid\":", ei->running ? "true" : "false");
	if (ei->running && ei->pid)
		buf_printf(&b, "%ld", (long)ei->pid);
	else
		buf_adds(&b, "null");
	buf_adds(&b, ",\"state\":");
	add_str(&b, ei->state[0] ? ei->state : NULL);
	buf_adds(&b, "},\"metric\":{\"name\":");
	json_append_str(&b, w->cfg.metric);
	buf_printf(&b, ",\"goal\":\"%s\"},\"best\":", w->cfg.goal);
	struct runs r;
	if (best) {
		buf_adds(&b, "{\"node\":");
		add_id(&b, best->id);
		buf_adds(&b, ",\"name\":");
		add_str(&b, best->name);
		noise_runs(&w->tree, best, &r);
		buf_printf(&b, ",\"metric\":%.17g,\"mean\":%.17g,\"sd\":%.17g,\"runs\":%d}",
			   best->metric, r.mean, r.sd, r.n);
	} else {
		buf_adds(&b, "null");
	}
	struct node *base = tree_get(&w->tree, 0);
	buf_adds(&b, ",\"baseline\":");
	if (base) {
		noise_runs(&w->tree, base, &r);
		buf_printf(&b, "{\"mean\":%.17g,\"sd\":%.17g,\"runs\":%d}", r.mean, r.sd, r.n);
	} else {
		buf_adds(&b, "null");
	}
	struct noise nz;
	noise_pool(&w->tree, &nz);
	buf_printf(&b, ",\"noise\":{\"sigma\":%.17g,\"runs\":%d,\"groups\":%d,\"k\":%.17g,"
		       "\"seeds\":%ld}",
		   nz.sigma, nz.runs, nz.groups, w->cfg.noise_k, w->cfg.noise_seeds);
	buf_printf(&b, ",\"total\":%u,\"counts\":{", w->tree.count);
	for (int s = 0; s < ST__COUNT; s++)
		buf_printf(&b, "%s\"%s\":%d", s ? "," : "", status_name(s), counts[s]);
	double reports = planner_report_spend(w->path, NULL);
	double rent_usd, gpu_h;
	size_t nrent;
	rent_spend(w, &rent_usd, &gpu_h, &nrent);
	buf_printf(&b, "},\"iteration\":%ld,\"rounds_without_gain\":%ld,\"llm_usd\":%.6f,"
		       "\"llm_report_usd\":%.6f,\"llm_cost_known\":%s,\"rent_usd\":%.6f,"
		       "\"rent_gpu_hours\":%.6f,\"spend_usd\":%.6f,\"seq\":%llu,\"queue\":[",
		   w->st.iteration, w->st.rounds_without_gain, w->st.llm_usd + reports, reports,
		   planner_costs_known(w->path) ? "true" : "false", rent_usd, gpu_h,
		   w->st.llm_usd + reports + rent_usd, (unsigned long long)w->seq);
	for (size_t i = 0; i < nq; i++) {
		struct node *n = &w->tree.nodes[order[i]];
		buf_printf(&b, "%s{\"position\":%zu,\"id\":", i ? "," : "", i + 1);
		add_id(&b, n->id);
		buf_adds(&b, ",\"parent\":");
		add_id(&b, n->parent);
		buf_adds(&b, ",\"name\":");
		add_str(&b, n->name);
		buf_printf(&b, ",\"priority\":%d,\"status\":\"%s\"}", n->priority,
			   status_name(n->status));
	}
	buf_adds(&b, "],\"running\":[");
	bool first = true;
	for (uint32_t i = 0; i < w->tree.len; i++) {
		struct node *n = &w->tree.nodes[i];
		if (!n->present || !(status_is_active(n->status) ||
				     (n->status == ST_PAUSED && n->resume_to != ST_QUEUED)))
			continue;
		buf_adds(&b, first ? "{\"id\":" : ",{\"id\":");
		add_id(&b, n->id);
		buf_adds(&b, ",\"name\":");
		add_str(&b, n->name);
		buf_printf(&b, ",\"status\":\"%s\",\"worker\":", status_name(n->status));
		add_str(&b, n->worker);
		buf_adds(&b, ",\"commit\":");
		add_str(&b, n->commit);
		buf_addc(&b, '}');
		first = false;
	}
	buf_adds(&b, "],\"repairs\":[");
	first = true;
	for (uint32_t i = 0; i < w->tree.len; i++) {
		struct node *n = &w->tree.nodes[i];
		if (!n->present || n->repair_of == NODE_NONE)
			continue;
		buf_adds(&b, first ? "{\"id\":" : ",{\"id\":");
		add_id(&b, n->id);
		buf_adds(&b, ",\"repair_of\":");
		add_id(&b, n->repair_of);
		buf_printf(&b, ",\"status\":\"%s\"}", status_name(n->status));
		first = false;
	}
	buf_adds(&b, "],\"calls\":[");
	add_calls(&b, w);
	buf_adds(&b, "],\"calls_in_flight\":[");
	struct call_flight f[CALL_FLIGHTS_MAX];
	size_t nf = ei->running ? calls_flight_read(w, f, CALL_FLIGHTS_MAX) : 0;
	for (size_t i = 0; i < nf; i++) {
		int64_t ms = now_ms() - f[i].started;
		buf_adds(&b, i ? ",{\"kind\":" : "{\"kind\":");
		json_append_str(&b, f[i].kind);
		buf_adds(&b, ",\"node\":");
		json_append_str(&b, f[i].node);
		buf_printf(&b, ",\"seconds\":%.1f}", ms > 0 ? (double)ms / 1000 : 0.0);
	}
	buf_adds(&b, "],\"workers\":");
	add_workers(&b, w, ei);
	buf_adds(&b, "}\n");
	fputs(b.data, stdout);
	buf_free(&b);
	free(order);
}

static void print_text(struct workdir *w, const struct engine_info *ei)
{
	int counts[ST__COUNT] = {0};
	struct node *best = workdir_best(w);
	uint32_t *order;
	size_t nq = queue_order(&w->tree, &order);
	char id[NODE_ID_LEN], pid[NODE_ID_LEN];
	struct buf b;

	for (uint32_t i = 0; i < w->tree.len; i++)
		if (w->tree.nodes[i].present)
			counts[w->tree.nodes[i].status]++;
	buf_init(&b);
	buf_adds(&b, "workdir  ");
	buf_add_safe(&b, w->path);
	if (ei->running)
		buf_printf(&b, "\nengine   running (pid %ld)\n", (long)ei->pid);
	else
		buf_printf(&b, "\nengine   not running%s%s%s\n", ei->state[0] ? " (last: " : "",
			   ei->state, ei->state[0] ? ")" : "");
	buf_adds(&b, "metric   ");
	buf_add_safe(&b, w->cfg.metric);
	buf_printf(&b, " (%s)", w->cfg.goal);
	if (best) {
		buf_adds(&b, "\nbest     ");
		noise_headline(&b, &w->tree, best->id, false);
	}
	struct noise nz;
	noise_pool(&w->tree, &nz);
	buf_adds(&b, "\nnoise    ");
	noise_format(&b, &nz, noise_decimals(&w->tree));
	buf_printf(&b, ", noise.k %g", w->cfg.noise_k);
	if (w->cfg.noise_seeds <= 1)
		buf_adds(&b, "\n         warning: " NOISE_ONE_SEED);
	buf_printf(&b, "\nnodes    %u:", w->tree.count);
	bool first = true;
	for (int s = 0; s < ST__COUNT; s++)
		if (counts[s]) {
			buf_printf(&b, "%s %d %s", first ? "" : ",", counts[s], status_name(s));
			first = false;
		}
	buf_printf(&b, "\nrounds   %ld planned, %ld without gain (patience %ld of %ld)\n",
		   w->st.iteration, w->st.rounds_without_gain, w->st.rounds_without_gain,
		   w->cfg.patience);
	bool known = true;
	double reports = planner_report_spend(w->path, &known);
	bool all_known = planner_costs_known(w->path);
	double usd = w->st.llm_usd + reports;
	if (w->st.llm_usd > 0 || reports > 0 || strcmp(w->cfg.llm_provider, "offline")) {
		/* An unknown cost is never a $0 (a command without total_cost_usd). */
		if (!all_known && usd == 0)
			buf_adds(&b, "model    unknown spent (no call's cost is known)");
		else if (!all_known)
			buf_printf(&b, "model    $%.4f spent and more unknown (some calls' cost is "
				       "unknown)",
				   usd);
		else
			buf_printf(&b, "model    $%.4f spent", usd);
		if (w->cfg.budget_llm_usd >= 0)
			buf_printf(&b, " of $%.2f (budget.llm_usd)", w->cfg.budget_llm_usd);
		if (reports > 0 || !known)
			buf_printf(&b, ", $%.4f%s of it on reports", reports,
				   known ? "" : " and some unknown");
		buf_addc(&b, '\n');
	}
	double rent_usd, gpu_h;
	size_t nrent;
	rent_spend(w, &rent_usd, &gpu_h, &nrent);
	if (nrent) {
		buf_printf(&b, "rented   $%.4f on %zu Vast.ai worker%s (%.2f GPU-hours)", rent_usd,
			   nrent, nrent == 1 ? "" : "s", gpu_h);
		if (w->cfg.budget_gpu_hours >= 0)
			buf_printf(&b, " of %.2f GPU-hours (budget.gpu_hours)", w->cfg.budget_gpu_hours);
		buf_addc(&b, '\n');
	}
	if (w->cfg.budget_usd >= 0)
		buf_printf(&b, "spend    $%.4f of $%.2f (budget.usd)\n", usd + rent_usd,
			   w->cfg.budget_usd);
	if (nq) {
		buf_printf(&b, "\nqueue (%zu)\n   #  node      prio  status   parent    name\n", nq);
		for (size_t i = 0; i < nq; i++) {
			struct node *n = &w->tree.nodes[order[i]];
			node_id_format(n->id, id);
			if (n->parent == NODE_NONE)
				snprintf(pid, sizeof pid, "-");
			else
				node_id_format(n->parent, pid);
			buf_printf(&b, "%4zu  %-8s %5d  %-7s  %-8s  ", i + 1, id, n->priority,
				   status_name(n->status), pid);
			buf_add_safe(&b, n->name ? n->name : "");
			buf_addc(&b, '\n');
		}
	}
	first = true;
	for (uint32_t i = 0; i < w->tree.len; i++) {
		struct node *n = &w->tree.nodes[i];
		if (!n->present || !(status_is_active(n->status) ||
				     (n->status == ST_PAUSED && n->resume_to != ST_QUEUED)))
			continue;
		if (first)
			buf_adds(&b, "\nrunning\n");
		first = false;
		node_id_format(n->id, id);
		buf_printf(&b, "  %-8s %-9s %-10s ", id, status_name(n->status),
			   n->worker ? n->worker : "-");
		buf_add_safe(&b, n->name ? n->name : "");
		buf_addc(&b, '\n');
	}
	first = true;
	for (uint32_t i = 0; i < w->tree.len; i++) {
		struct node *n = &w->tree.nodes[i];
		if (!n->present || n->repair_of == NODE_NONE)
			continue;
		if (first)
			buf_adds(&b, "\nrepairs (of runs that died at start-up)\n");
		first = false;
		node_id_format(n->id, id);
		node_id_format(n->repair_of, pid);
		buf_printf(&b, "  %-8s %-9s repair of %-8s ", id, status_name(n->status), pid);
		buf_add_safe(&b, n->name ? n->name : "");
		buf_addc(&b, '\n');
	}
	fputs(b.data, stdout);
	buf_free(&b);
	free(order);
}

int cmd_status(int argc, char **argv)
{
	const char *path = NULL;
	bool json = false;
	struct workdir w;
	struct err e = {{0}};

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--json"))
			json = true;
		else if (argv[i][0] == '-' || path) {
			cmd_usage("status", 1);
			return EXIT_USAGE;
		} else
			path = argv[i];
	}
	if (!path) {
		cmd_usage("status", 1);
		return EXIT_USAGE;
	}
	if (workdir_open(&w, path, WD_READ, NULL, &e) != WD_OK)
		return cmd_fail(EXIT_USAGE, "%s", e.msg);
	struct engine_info ei;
	engine_info(&w, &ei);
	if (w.warning && !ei.running)
		fprintf(stderr, "hypotop: warning: %s\n", w.warning);
	if (w.torn_line && !ei.running)
		fprintf(stderr, "hypotop: warning: %s/engine/journal.jsonl:%d: a torn last line "
				"(%zu bytes, from an interrupted write) was ignored\n",
			w.path, w.torn_line, w.torn_bytes);
	if (json)
		print_json(&w, &ei);
	else
		print_text(&w, &ei);
	workdir_close(&w);
	return EXIT_OK;
}
