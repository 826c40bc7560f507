/*
 * prompt.c — the prompts of the analyse, plan and report calls, built
 * only from the request (SPEC §7: every call is stateless). The contracts
 * as JSON schemas are in schema.c.
 *
 * A prompt has three parts, most stable first so that prompt caching
 * (Anthropic's cache_control, vLLM's prefix cache) reuses as much as it
 * can: the instructions with the contract (the same for every call of a
 * kind), the project and history (the same within one call's retry), and
 * what this call is about.
 *
 * Everything that comes from outside — log lines, names, hypotheses — is
 * stripped of terminal control characters, because prompt.md is meant to
 * be read with cat, and the log goes in an indented block rather than a
 * fence, so that no line of it can close the block.
 */
#include "hypotop/llm.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hypotop/change.h"
#include "hypotop/fsutil.h"
#include "hypotop/json.h"
#include "hypotop/launch.h"
#include "hypotop/prompt_int.h"

#define LOG_TAIL_BYTES 8000
#define LOG_TAIL_LINES 120
#define METRICS_BYTES 12000
#define HISTORY_ROWS 200
#define HISTORY_BEST 50
#define PARAMS_CELL 300
#define HYPOTHESIS_CELL 160
#define CHANGE_BYTES 8000
#define DIFF_BYTES 16000 /* the node's path against the baseline */
#define PLAN_ANALYSIS_BYTES 6000 /* the node's analysis.md, in a plan */
/* What a report prompt quotes of the analyses: each, and all together. */
#define ANALYSIS_BYTES 3000
#define REPORT_ANALYSES_BYTES 60000

static const char analyse_contract[] =
	"Answer with one JSON object and nothing else (no prose, no fence), exactly these "
	"keys:\n\n"
	"    {\"summary\": string (one or two sentences),\n"
	"     \"verdict\": \"improved\" | \"no_change\" | \"regressed\" | \"failed\",\n"
	"     \"bottleneck\": string (what limits the metric now; may be empty),\n"
	"     \"evidence\": [string, ...] (numbers from the run that support the verdict),\n"
	"     \"hypothesis_supported\": true | false | null}\n\n"
	"No other key is accepted.\n";

/* The plan contract; "params" only where a change of params can apply. */
static char *plan_contract(const struct config *c)
{
	struct buf b;

	buf_init(&b);
	buf_adds(&b, "Answer with one JSON object and nothing else (no prose, no fence), exactly "
		     "these keys:\n\n"
		     "    {\"stop\": true | false,\n"
		     "     \"reason\": string,\n"
		     "     \"proposals\": [\n"
		     "       {\"name\": slug (1-48 characters a-z, 0-9, '-'),\n"
		     "        \"hypothesis\": string (what the change tests and why it should "
		     "help),\n"
		     "        \"priority\": integer (lower runs first),\n"
		     "        \"needs_rebuild\": true | false,\n"
		     "        \"change\": ");
	prompt_change_alts(&b, c, "                ");
	buf_adds(&b, ",\n"
		     "        \"parent\": node id (optional)}]}\n\n"
		     "No other key is accepted. \"proposals\" holds 1 to " WANT_MAX_TEXT
		     " proposals; it may be empty only with \"stop\": true. \"parent\" "
		     "makes the proposal a child of that node instead of the node named below: "
		     "a completed node of the history (like n0012), whose params and commit the "
		     "change applies to.\n");
	prompt_change_rules(&b, "the parent's commit");
	if (!prompt_params_apply(c))
		buf_adds(&b, "This project has no param file and passes no {NAME} in its launch "
			     "command, so a change of kind \"params\" cannot apply: change the "
			     "code.\n");
	return buf_steal(&b);
}

static const char analyse_intro[] =
	"You are the analysis step of an autonomous machine-learning experiment loop. A run "
	"has finished; judge it from the numbers given, not from hopes.\n\n"
	"- \"improved\": the metric beats the best so far by more than the noise margin "
	"(k × σ of the baseline's repeats; strictly, when σ is unknown).\n"
	"- \"regressed\": it is worse than the parent's by more than the same margin.\n"
	"- \"no_change\": otherwise.\n"
	"- \"failed\": the run failed or never reported the metric; say why from the log.\n"
	"- A run with status \"pruned\" was stopped early by hypotop: its curve was worse "
	"than the best run's at the same step (the reason and the partial curve are given). "
	"It is no failure of its code: judge what its curve says, not \"failed\".\n\n"
	"Name the bottleneck you see in the training dynamics (divergence, plateau, "
	"overfitting, too few steps, a crash and its cause).\n";

static const char plan_intro[] =
	"You are the planning step of an autonomous machine-learning experiment loop. Propose "
	"the next experiments as children of the node named below: each one change to its "
	"code or parameters, with a hypothesis it tests.\n\n"
	"- Learn from the history: do not repeat an experiment already run, and build on "
	"what improved.\n"
	"- Prefer parameter changes inside the search space when one is given; for changes to "
	"the code use an edit, with search texts copied from the source shown (a patch or whole "
	"files only where an edit cannot do it).\n"
	"- Lower priority numbers run first: give the most promising proposal the lowest.\n"
	"- Set \"stop\" to true only when nothing worth trying is left.\n"
	"- A \"pruned\" node was stopped early (at the step its failure cell gives) because "
	"its curve was worse than the best run's there: evidence against its change, not a "
	"failure to repair.\n";

static const char report_contract[] =
	"Answer with the report itself in Markdown, beginning with a level-1 heading: no JSON, "
	"no fence around the whole report, no preamble.\n";

static const char report_intro[] =
	"You are writing the final report of an autonomous machine-learning experiment loop, "
	"for the researcher who ran it. From the facts and the analyses below, write:\n\n"
	"- the outcome: the best result and how far it moved from the baseline;\n"
	"- the path that led to it, step by step, and why each step helped;\n"
	"- what helped and what hurt, as lessons about this project;\n"
	"- the failures, by kind, and their causes;\n"
	"- what to try next, and what not to try again.\n\n"
	"Quote only numbers given below; say when a difference is within the noise.\n";

/* A table cell: one line, no column breaks. */
static void add_cell(struct buf *b, const char *s, size_t max)
{
	size_t n = 0;

	for (; s && *s && n < max; s++, n++) {
		char one[2] = {*s, 0};
		buf_add_safe(b, *s == '|' ? "\\|" : *s == '\n' || *s == '\t' ? " " : one);
	}
	if (s && *s)
		buf_adds(b, "…");
}

/* Text as an indented block (no fence a line could close), at most max bytes of it. */
static void add_indented(struct buf *b, const char *text, size_t max)
{
	size_t len = strlen(text), n = len > max ? max : len;
	char *t = xstrndup(text, n);

	for (char *line = t, *next; line; line = next) {
		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		if (!next && !*line)
			break;
		buf_adds(b, "    ");
		llm_add_md(b, line);
		buf_addc(b, '\n');
	}
	if (n < len)
		buf_printf(b, "    …(%zu more bytes)\n", len - n);
	free(t);
}

static void add_number(struct buf *b, double v)
{
	char t[40];

	if (isfinite(v)) {
		num_shortest(v, t);
		buf_adds(b, t);
	} else {
		buf_adds(b, v != v ? "NaN" : v > 0 ? "Inf" : "-Inf");
	}
}

/* The mean of runs at the metric's precision, "0.50 ± 0.02 (3 runs)"; one run as it is. */
static void add_mean(struct buf *b, const struct analyse_request *r, double mean, double sd,
		     int runs)
{
	if (runs < 2 || !r->has_decimals || !isfinite(mean) || !isfinite(sd)) {
		add_number(b, mean);
		return;
	}
	buf_printf(b, "%.*f ± %.*f (%d runs)", r->decimals, mean, r->decimals, sd, runs);
}

/* Instructions: the built-in ones, or <override_dir>/<kind>.md, then the contract. */
static char *system_part(const char *override_dir, const char *kind, const char *intro,
			 const char *contract)
{
	struct buf b;
	char *text = NULL;

	if (override_dir) {
		char *name = xasprintf("%s.md", kind);
		char *path = path_join(override_dir, name);
		struct err e = {{0}};
		if (fs_exists(path))
			text = fs_read_max(path, FS_MAX_CONFIG, NULL, &e);
		free(path);
		free(name);
	}
	buf_init(&b);
	buf_adds(&b, text && *text ? text : intro);
	if (b.len && b.data[b.len - 1] != '\n')
		buf_addc(&b, '\n');
	buf_addc(&b, '\n');
	buf_adds(&b, contract);
	free(text);
	return buf_steal(&b);
}

static bool goal_max(const struct config *c)
{
	return c && c->goal && !strcmp(c->goal, "max");
}

static const char *metric_name(const struct config *c)
{
	return c && c->metric ? c->metric : "metric";
}

bool prompt_params_apply(const struct config *c)
{
	const cJSON *ss = c ? c->search_space : NULL;
	const cJSON *m;

	if (cJSON_IsString(cJSON_GetObjectItemCaseSensitive(ss, "file")))
		return true;
	cJSON_ArrayForEach(m, cJSON_GetObjectItemCaseSensitive(ss, "params"))
		if (launch_uses(c->launch, m->string))
			return true;
	return false;
}

void prompt_change_alts(struct buf *b, const struct config *c, const char *pad)
{
	buf_adds(b, "{\"kind\": \"edit\", \"edits\": [{\"path\": PATH, \"search\": TEXT, "
		    "\"replace\": TEXT}, ...]}\n");
	buf_printf(b, "%s| {\"kind\": \"patch\", \"patch\": \"diff --git a/PATH b/PATH ...\"}\n", pad);
	buf_printf(b, "%s| {\"kind\": \"files\", \"files\": [{\"path\": PATH, \"content\": "
		      "TEXT}, ...]}",
		   pad);
	if (prompt_params_apply(c))
		buf_printf(b, "\n%s| {\"kind\": \"params\", \"params\": {NAME: VALUE, ...}}", pad);
}

void prompt_change_rules(struct buf *b, const char *base)
{
	buf_printf(b, "An \"edit\" is the way to change code: copy each block's \"search\" "
		      "exactly from the source shown (blanks, indentation and line breaks too), "
		      "with enough lines around what you change that it occurs exactly once in its "
		      "file; it is replaced by \"replace\". The blocks apply in order, each to the "
		      "text the blocks before it left, so several may edit one file; an empty "
		      "\"search\" with a new path creates that file with \"replace\" as its "
		      "content. A patch is a git-format diff that applies to %s without fuzz; "
		      "\"files\" gives whole files, new or replaced. Paths are relative to the "
		      "source tree: no absolute path, no \"..\", nothing under .git/.\n",
		   base);
}

/* The project: the same for every call of a workdir. */
static void project_part(struct buf *b, const struct config *c)
{
	buf_adds(b, "# Project\n\nMetric: `");
	llm_add_md(b, metric_name(c));
	buf_printf(b, "` (%s is better).\n", goal_max(c) ? "higher" : "lower");
	if (c && c->noise_k > 0)
		buf_printf(b, "Noise rule: a difference counts only beyond %g × σ (σ: the "
				  "run-to-run spread of the baseline).\n",
			   c->noise_k);
	if (c && c->notes && *c->notes) {
		buf_adds(b, "\nNotes from the researcher:\n\n");
		llm_add_md(b, c->notes);
		buf_addc(b, '\n');
	}
	const cJSON *params = cJSON_GetObjectItemCaseSensitive(c ? c->search_space : NULL, "params");
	const cJSON *file = cJSON_GetObjectItemCaseSensitive(c ? c->search_space : NULL, "file");
	if (cJSON_IsObject(params) && params->child) {
		buf_adds(b, "\nSearch space");
		if (cJSON_IsString(file)) {
			buf_adds(b, " (parameters in `");
			llm_add_md(b, file->valuestring);
			buf_adds(b, "`)");
		}
		buf_adds(b, ":\n\n");
		for (const cJSON *m = params->child; m; m = m->next) {
			buf_adds(b, "- ");
			llm_add_md(b, m->string);
			buf_adds(b, ": ");
			char *t = cJSON_PrintUnformatted(m);
			llm_add_md(b, t);
			free(t);
			buf_addc(b, '\n');
		}
	}
}

/* The last lines of a log, at most LOG_TAIL_BYTES, as an indented block. */
static void log_part(struct buf *b, const char *log)
{
	size_t len = strlen(log);
	const char *p = len > LOG_TAIL_BYTES ? log + len - LOG_TAIL_BYTES : log;
	const char *end = log + len;
	int lines = 0;

	while (end > p && (end[-1] == '\n' || end[-1] == '\r'))
		end--;
	const char *start = end;
	while (start > p && lines < LOG_TAIL_LINES) {
		start--;
		if (*start == '\n' && ++lines == LOG_TAIL_LINES) {
			start++;
			break;
		}
	}
	/* Begin on a whole line unless the log holds only one. */
	if (start == p && p != log) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		if (nl)
			start = nl + 1;
	}
	buf_adds(b, "\n## Last lines of the log\n\n");
	while (start < end) {
		const char *nl = memchr(start, '\n', (size_t)(end - start));
		size_t n = nl ? (size_t)(nl - start) : (size_t)(end - start);
		char *line = xstrndup(start, n && start[n - 1] == '\r' ? n - 1 : n);
		buf_adds(b, "    ");
		llm_add_md(b, line);
		buf_addc(b, '\n');
		free(line);
		start += n + (nl ? 1 : 0);
	}
}

/*
 * The sources, each whole while room lasts (then cut, then left out); those
 * that came without text named with their sizes.
 */
static void sources_part(struct buf *b, const struct source_file *f, size_t n, size_t more,
			 const char *at, size_t room)
{
	size_t named = 0;

	buf_printf(b, "\n## Sources %s (%zu file%s)\n\n", at, n + more,
		   n + more == 1 ? "" : "s");
	if (!n && !more)
		buf_adds(b, "(none could be read)\n");
	for (size_t i = 0; i < n; i++) {
		const char *text = f[i].text;
		if (!text) {
			named++;
			continue;
		}
		buf_adds(b, "File `");
		llm_add_md(b, f[i].path);
		buf_adds(b, "`:\n\n");
		if (!room) {
			buf_printf(b, "    …(%zu bytes left out)\n\n", strlen(text));
			continue;
		}
		add_indented(b, text, room);
		size_t used = strlen(text);
		room = used >= room ? 0 : room - used;
		buf_addc(b, '\n');
	}
	if (!named && !more)
		return;
	buf_adds(b, "Not shown, for room (path, bytes):\n\n");
	for (size_t i = 0; i < n; i++)
		if (!f[i].text) {
			buf_adds(b, "- `");
			llm_add_md(b, f[i].path);
			buf_printf(b, "` (%zu)\n", f[i].size);
		}
	if (more)
		buf_printf(b, "- and %zu more file%s\n", more, more == 1 ? "" : "s");
}

/* What the run changed: its parameters, its edit, its patch or its files. */
static void change_part(struct buf *b, const char *json)
{
	cJSON *ch = cJSON_Parse(json);
	const cJSON *kind = cJSON_GetObjectItemCaseSensitive(ch, "kind");
	const cJSON *v;

	buf_adds(b, "\n## The change it made\n\n");
	if (!cJSON_IsString(kind)) {
		add_indented(b, json, CHANGE_BYTES);
	} else if (!strcmp(kind->valuestring, "params") &&
		   (v = cJSON_GetObjectItemCaseSensitive(ch, "params"))) {
		char *t = cJSON_PrintUnformatted(v);
		buf_adds(b, "Parameters: ");
		llm_add_md(b, t);
		buf_addc(b, '\n');
		free(t);
	} else if (!strcmp(kind->valuestring, "patch") &&
		   cJSON_IsString(v = cJSON_GetObjectItemCaseSensitive(ch, "patch"))) {
		add_indented(b, v->valuestring, CHANGE_BYTES);
	} else {
		/* Whole files, or an edit's blocks: each text indented, all within CHANGE_BYTES. */
		bool edit = !strcmp(kind->valuestring, "edit");
		static const char *const keys[][2] = {{"content", NULL}, {"search", "replace"}};
		size_t room = CHANGE_BYTES;
		cJSON_ArrayForEach(v, cJSON_GetObjectItemCaseSensitive(ch, edit ? "edits" : "files"))
		{
			const cJSON *path = cJSON_GetObjectItemCaseSensitive(v, "path");
			buf_adds(b, "File `");
			llm_add_md(b, cJSON_IsString(path) ? path->valuestring : "?");
			buf_adds(b, edit ? "`, this text:\n\n" : "`:\n\n");
			for (size_t k = 0; k < 2 && keys[edit][k]; k++) {
				const cJSON *t = cJSON_GetObjectItemCaseSensitive(v, keys[edit][k]);
				if (k)
					buf_adds(b, "\nreplaced with:\n\n");
				if (!cJSON_IsString(t))
					continue;
				add_indented(b, t->valuestring, room);
				size_t used = strlen(t->valuestring);
				room = used >= room ? 0 : room - used;
			}
			buf_addc(b, '\n');
		}
	}
	cJSON_Delete(ch);
}

void llm_prompt_analyse(const struct analyse_request *r, const char *override_dir,
			struct llm_prompt *p)
{
	const struct config *c = r->cfg;
	const char *metric = metric_name(c);
	struct buf s, q;

	p->system = system_part(override_dir, "analyse", analyse_intro, analyse_contract);
	p->schema = llm_schema_analyse();
	buf_init(&s);
	project_part(&s, c);
	p->stable = buf_steal(&s);

	buf_init(&q);
	buf_adds(&q, "# The run to analyse\n\nNode: ");
	llm_add_md(&q, r->node ? r->node : "?");
	if (r->name) {
		buf_adds(&q, " (");
		llm_add_md(&q, r->name);
		buf_adds(&q, ")");
	}
	if (r->hypothesis && *r->hypothesis) {
		buf_adds(&q, "\nHypothesis: ");
		llm_add_md(&q, r->hypothesis);
	}
	buf_adds(&q, "\nStatus: ");
	llm_add_md(&q, r->status ? r->status : "completed");
	if (r->failure_kind) {
		buf_adds(&q, " (");
		llm_add_md(&q, r->failure_kind);
		buf_adds(&q, ")");
	}
	buf_printf(&q, "\n\n| | %s |\n|---|---|\n| this run | ", metric);
	if (r->has_metric)
		add_number(&q, r->metric);
	else
		buf_adds(&q, "not reported");
	buf_adds(&q, " |\n");
	if (r->has_parent_metric) {
		buf_adds(&q, "| parent | ");
		add_mean(&q, r, r->parent_metric, r->parent_sd, r->parent_runs);
		buf_adds(&q, " |\n");
	}
	if (r->has_best) {
		buf_adds(&q, "| best so far");
		if (r->best_node) {
			buf_adds(&q, " (");
			add_cell(&q, r->best_node, 64);
			buf_adds(&q, ")");
		}
		buf_adds(&q, " | ");
		add_mean(&q, r, r->best_metric, r->best_sd, r->best_runs);
		buf_adds(&q, " |\n");
	}
	if (r->noise_sigma > 0 && isfinite(r->noise_sigma)) {
		buf_adds(&q, "\nNoise: σ = ");
		add_number(&q, r->noise_sigma);
		if (r->noise_runs > 0)
			buf_printf(&q, " from %d runs (repeated runs of one commit, pooled)%s",
				   r->noise_runs,
				   r->noise_runs < 3 ? "; too few runs to trust it far" : "");
		if (c && c->noise_k > 0) {
			buf_printf(&q, ", margin k·σ = ");
			add_number(&q, c->noise_k * r->noise_sigma);
		}
		buf_addc(&q, '\n');
	} else {
		buf_adds(&q, "\nNoise: σ not measured yet (any strict difference counts).\n");
	}
	if (r->keep == KEEP_REFERENCE)
		buf_adds(&q, "\nThis is a run of the baseline: the reference, judged on nothing.\n");
	else if (r->keep == KEEP_REPEAT)
		buf_printf(&q, "\nThis is a seed repeat of %s, run to confirm it: it judges nothing "
			       "of its own.\n",
			   r->repeat_of ? r->repeat_of : "its parent");
	else if (r->keep == KEEP_CANDIDATE)
		buf_adds(&q, "\nThis run beats the best beyond the margin once: it is a candidate, "
			     "not improved unless the mean of its runs with more seeds still does "
			     "(hypotop decides).\n");
	if (r->change && *r->change)
		change_part(&q, r->change);
	if (r->metrics_json && *r->metrics_json) {
		buf_adds(&q, "\n## Metric summaries (per series: count, first, last, min, max, mean, "
			     "recent points)\n\n");
		add_indented(&q, r->metrics_json, METRICS_BYTES);
	}
	if (r->log_tail && *r->log_tail)
		log_part(&q, r->log_tail);
	p->request = buf_steal(&q);
}

/*
 * A node's change, compactly: for params, the effective params that differ
 * from the baseline's; for an edit, a patch or files, the files it touched.
 */
static void change_cell(struct buf *b, const struct plan_entry *h, const cJSON *base)
{
	cJSON *ch = h->change ? cJSON_Parse(h->change) : NULL;
	const char *kind = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(ch, "kind"));
	struct buf t;

	buf_init(&t);
	if (kind && !strcmp(kind, "params") && cJSON_IsObject(h->params)) {
		for (const cJSON *m = h->params->child; m; m = m->next) {
			const cJSON *was = cJSON_GetObjectItemCaseSensitive(base, m->string);
			if (was && cJSON_Compare(was, m, true))
				continue;
			char *v = cJSON_PrintUnformatted(m);
			buf_printf(&t, "%s%s=%s", t.len ? " " : "", m->string, v);
			free(v);
		}
	}
	if (!t.len)
		change_describe(ch, &t);
	if (!t.len && h->parent)
		buf_printf(&t, "(no change: a repeat of %s)", h->parent);
	add_cell(b, t.len ? t.data : "(baseline)", PARAMS_CELL);
	buf_free(&t);
	cJSON_Delete(ch);
}

static bool better(const struct config *c, double a, double b)
{
	return goal_max(c) ? a > b : a < b;
}

/*
 * Which history rows go into the prompt: all when few; else the best
 * HISTORY_BEST by the metric and the most recent ones, in id order.
 */
static bool *history_keep(const struct plan_request *r, size_t *left_out)
{
	bool *keep = xcalloc(r->nhistory ? r->nhistory : 1, sizeof *keep);
	size_t n = r->nhistory, kept = 0;

	*left_out = 0;
	if (n <= HISTORY_ROWS) {
		for (size_t i = 0; i < n; i++)
			keep[i] = true;
		return keep;
	}
	for (int k = 0; k < HISTORY_BEST; k++) {
		size_t best = n;
		for (size_t i = 0; i < n; i++)
			if (!keep[i] && r->history[i].has_metric && isfinite(r->history[i].metric) &&
			    (best == n || better(r->cfg, r->history[i].metric, r->history[best].metric)))
				best = i;
		if (best == n)
			break;
		keep[best] = true;
		kept++;
	}
	for (size_t i = n; i-- > 0 && kept < HISTORY_ROWS;)
		if (!keep[i]) {
			keep[i] = true;
			kept++;
		}
	*left_out = n - kept;
	return keep;
}

/* The round asked again after a stop: why it is asked, and what may be answered. */
static void confirm_part(struct buf *q, const struct plan_request *r)
{
	buf_adds(q, "\n# Your previous answer for this round was stop\n\nYou answered "
		    "\"stop\": true with the reason: ");
	llm_add_md(q, *r->confirm_stop ? r->confirm_stop : "(none given)");
	buf_adds(q, "\n\nThe loop would still go on: ");
	if (r->patience_left < 0)
		buf_adds(q, "no patience limit is set");
	else
		buf_printf(q, "patience allows %ld more round%s without gain", r->patience_left,
			   r->patience_left == 1 ? "" : "s");
	if (r->fixed_left > 0)
		buf_printf(q, ", and %d fixed experiment%s not finished", r->fixed_left,
			   r->fixed_left == 1 ? " is" : "s are");
	buf_adds(q, ". Confirm with \"stop\": true and no proposals if nothing is worth "
		    "trying, or propose the experiments that are.\n");
}

/* The offline planner's picks for this round, for the model to weigh. */
static void suggestions_part(struct buf *q, const cJSON *proposals)
{
	const cJSON *p;

	buf_adds(q, "\n## What a surrogate model of the search space suggests\n\n"
		    "A tree-structured Parzen estimator fitted to every finished run (failed "
		    "runs as bad) picks these `params` changes; take, change or ignore them:\n\n");
	cJSON_ArrayForEach(p, proposals)
	{
		const cJSON *ch = cJSON_GetObjectItemCaseSensitive(p, "change");
		char *params = cJSON_PrintUnformatted(cJSON_GetObjectItemCaseSensitive(ch, "params"));
		const char *parent = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(p, "parent"));
		buf_adds(q, "- ");
		add_cell(q, cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(p, "name")), 64);
		/* Its params are changes to that node's: a model taking it names it too. */
		if (parent)
			buf_printf(q, " (\"parent\": \"%.16s\")", parent);
		buf_adds(q, ": ");
		llm_add_md(q, params ? params : "{}");
		buf_adds(q, ": ");
		add_cell(q, cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(p, "hypothesis")),
			 400);
		buf_addc(q, '\n');
		free(params);
	}
}

void llm_prompt_plan(const struct plan_request *r, const char *override_dir,
		     struct llm_prompt *p)
{
	const struct config *c = r->cfg;
	struct buf s, q;
	size_t left_out;

	char *contract = plan_contract(c);
	p->system = system_part(override_dir, "plan", plan_intro, contract);
	free(contract);
	p->schema = llm_schema_plan(c);
	buf_init(&s);
	project_part(&s, c);
	if (cJSON_IsObject(r->base_params) && r->base_params->child) {
		char *t = cJSON_PrintUnformatted(r->base_params);
		buf_adds(&s, "\nParameters of the baseline: ");
		llm_add_md(&s, t);
		buf_addc(&s, '\n');
		free(t);
	}
	buf_printf(&s, "\n# History (%zu experiments)\n\n", r->nhistory);
	bool *keep = history_keep(r, &left_out);
	if (left_out)
		buf_printf(&s, "%zu experiments are left out; shown: the %d best and the most "
			       "recent.\n\n",
			   left_out, HISTORY_BEST);
	buf_printf(&s, "| id | parent | name | status | %s | failure | change (params vs "
		       "baseline, or files touched) | hypothesis |\n"
		       "|---|---|---|---|---|---|---|---|\n",
		   metric_name(c));
	for (size_t i = 0; i < r->nhistory; i++) {
		const struct plan_entry *h = &r->history[i];
		if (!keep[i])
			continue;
		buf_adds(&s, "| ");
		add_cell(&s, h->id, 32);
		buf_adds(&s, " | ");
		add_cell(&s, h->parent ? h->parent : "–", 32);
		buf_adds(&s, " | ");
		add_cell(&s, h->name ? h->name : "", 64);
		buf_adds(&s, " | ");
		add_cell(&s, h->status ? h->status : "", 16);
		buf_adds(&s, " | ");
		if (h->has_metric)
			add_number(&s, h->metric);
		buf_adds(&s, " | ");
		add_cell(&s, h->failure_kind ? h->failure_kind : "", 64); /* pruned: its step */
		buf_adds(&s, " | ");
		change_cell(&s, h, r->base_params);
		buf_adds(&s, " | ");
		add_cell(&s, h->hypothesis ? h->hypothesis : "", HYPOTHESIS_CELL);
		buf_adds(&s, " |\n");
	}
	free(keep);
	p->stable = buf_steal(&s);

	buf_init(&q);
	if (r->directive && r->directive[strspn(r->directive, " \t\r\n")]) {
		buf_adds(&q, "# Guidance from the researcher\n\n");
		llm_add_md(&q, r->directive);
		buf_adds(&q, "\n\n");
	}
	buf_adds(&q, "# This round\n\nPropose ");
	buf_printf(&q, "%d experiment%s as children of node ", r->want > 0 ? r->want : 2,
		   r->want == 1 ? "" : "s");
	llm_add_md(&q, r->node ? r->node : "?");
	buf_printf(&q, " (planning round %ld).\n", r->round);
	for (size_t i = 0; i < r->nhistory; i++) {
		const struct plan_entry *h = &r->history[i];
		if (!r->node || !h->id || strcmp(h->id, r->node) || !h->has_metric)
			continue;
		buf_printf(&q, "Its %s: ", metric_name(c));
		add_number(&q, h->metric);
		buf_addc(&q, '\n');
	}
	if (cJSON_IsObject(r->node_params) && r->node_params->child) {
		char *t = cJSON_PrintUnformatted(r->node_params);
		buf_adds(&q, "Its parameters: ");
		llm_add_md(&q, t);
		buf_addc(&q, '\n');
		free(t);
	}
	if (r->analysis && *r->analysis) {
		buf_adds(&q, "\n## Its analysis\n\n");
		add_indented(&q, r->analysis, PLAN_ANALYSIS_BYTES);
	}
	if (r->diff && *r->diff) {
		buf_adds(&q, "\n## What its path changed since the baseline (git diff)\n\n");
		add_indented(&q, r->diff, DIFF_BYTES);
	}
	if (r->nfailures)
		buf_adds(&q, "\n## The newest failed runs, with the end of their logs\n");
	for (size_t i = 0; i < r->nfailures; i++) {
		const struct plan_failure *f = &r->failures[i];
		buf_adds(&q, "\n### ");
		llm_add_md(&q, f->id);
		buf_adds(&q, " (");
		llm_add_md(&q, f->kind);
		buf_adds(&q, ")\n\n");
		add_indented(&q, f->log_tail && *f->log_tail ? f->log_tail : "(its log is empty)",
			     PLAN_FAILURE_TAIL);
	}
	if (r->nfiles || r->files_more)
		sources_part(&q, r->files, r->nfiles, r->files_more, "at its commit", SIZE_MAX);
	if (prompt_params_apply(c) && cJSON_GetArraySize(r->suggestions) > 0)
		suggestions_part(&q, r->suggestions);
	if (r->confirm_stop)
		confirm_part(&q, r);
	p->request = buf_steal(&q);
}

/*
 * The facts are the built-in report (the same data, already summarised);
 * the call's part is the analyses themselves, as many as fit.
 */
void llm_prompt_report(const struct report_request *r, const char *override_dir,
		       struct llm_prompt *p)
{
	struct buf s, q;
	size_t room = REPORT_ANALYSES_BYTES, left_out = 0;

	p->system = system_part(override_dir, "report", report_intro, report_contract);
	p->schema = NULL;
	buf_init(&s);
	project_part(&s, r->cfg);
	char *facts = planner_report_offline(r);
	/* Built by us, its outside text already made safe: quoted as it is. */
	buf_adds(&s, "\n# The facts, from the workdir's files\n\n");
	buf_adds(&s, facts);
	free(facts);
	p->stable = buf_steal(&s);

	buf_init(&q);
	buf_adds(&q, "# The analyses of the runs\n");
	for (size_t i = 0; i < r->n; i++) {
		const struct report_entry *x = &r->nodes[i];
		if (!x->analysis || !*x->analysis)
			continue;
		size_t len = strlen(x->analysis);
		size_t take = len > ANALYSIS_BYTES ? ANALYSIS_BYTES : len;
		if (take > room) {
			left_out++;
			continue;
		}
		buf_printf(&q, "\n## %s\n\n", x->e.id);
		add_indented(&q, x->analysis, take);
		room -= take;
	}
	if (left_out)
		buf_printf(&q, "\n(%zu more analyses are left out for room; the facts above "
			       "cover every run.)\n",
			   left_out);
	buf_adds(&q, "\nWrite the report now.\n");
	p->request = buf_steal(&q);
}

const char *llm_prompt_again(const struct llm_call *q)
{
	return q->kind && !strcmp(q->kind, "report") ? "Answer again with the whole report only."
						     : "Answer again with the corrected JSON "
						       "object only.";
}

void llm_prompt_free(struct llm_prompt *p)
{
	free(p->system);
	free(p->stable);
	free(p->request);
	free(p->schema);
	memset(p, 0, sizeof *p);
}

/* ---- for prompt_fix.c (prompt_int.h) ---- */

void prompt_sources(struct buf *b, const struct source_file *f, size_t n, size_t more,
		    const char *at, size_t room)
{
	sources_part(b, f, n, more, at, room);
}

void prompt_text(struct buf *b, const char *s)
{
	llm_add_md(b, s);
}

void prompt_indented(struct buf *b, const char *text, size_t max)
{
	add_indented(b, text, max);
}

void prompt_project(struct buf *b, const struct config *c)
{
	project_part(b, c);
}

void prompt_log(struct buf *b, const char *log)
{
	log_part(b, log);
}

void prompt_change(struct buf *b, const char *json)
{
	change_part(b, json);
}

char *prompt_system(const char *override_dir, const char *kind, const char *intro,
		    const char *contract)
{
	return system_part(override_dir, kind, intro, contract);
}
