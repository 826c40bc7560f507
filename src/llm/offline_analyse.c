/*
 * offline_analyse.c — the offline planner's analysis of a finished run:
 * the verdict of the analyse contract, worked out from the numbers alone
 * (metric against parent and best, in units of the baseline's noise), and
 * a Markdown page for runs/<id>/analysis.md. See planner.h.
 */
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hypotop/curve.h"
#include "hypotop/json.h"
#include "hypotop/offline_int.h"

#define LOG_TAIL_LINES 20
#define MAX_SERIES_ROWS 16

/* Text for a Markdown table cell: no control characters, no column breaks. */
static void md_cell(struct buf *b, const char *s)
{
	for (char one[2] = {0}; (one[0] = *s); s++)
		buf_add_safe(b, *s == '|' ? "\\|" : one);
}

/* A value of the metric at its precision: "0.50", or "0.5" when that is unknown. */
static void value_text(char *out, size_t n, const struct analyse_request *r, double v,
		       bool sign)
{
	if (r->has_decimals)
		snprintf(out, n, sign ? "%+.*f" : "%.*f", r->decimals, v);
	else
		snprintf(out, n, sign ? "%+.6g" : "%.6g", v);
}

/* "1.00 ± 0.10 (3 runs)", or the value alone for a single run. */
static void mean_text(char *out, size_t n, const struct analyse_request *r, double mean,
		      double sd, int runs)
{
	char m[48], d[48];

	value_text(m, sizeof m, r, mean, false);
	if (runs < 2) {
		snprintf(out, n, "%s", m);
		return;
	}
	value_text(d, sizeof d, r, sd, false);
	snprintf(out, n, "%s ± %s (%d runs)", m, d, runs);
}

/* "-0.018 (-3.40 %, -1.80 σ)": a difference in units, percent and noise. */
static void delta_text(char *out, size_t n, const struct analyse_request *r, double v,
		       double ref, double sigma)
{
	char pct[32] = "", sig[32] = "", d[48];

	if (ref != 0)
		snprintf(pct, sizeof pct, "%+.2f %%", (v - ref) / fabs(ref) * 100);
	if (sigma > 0)
		snprintf(sig, sizeof sig, "%+.2f σ", (v - ref) / sigma);
	value_text(d, sizeof d, r, v - ref, true);
	snprintf(out, n, "%s%s%s%s%s%s", d, *pct || *sig ? " (" : "", pct,
		 *pct && *sig ? ", " : "", sig, *pct || *sig ? ")" : "");
}

/* Stopped early by the pruning rule: judged on its curve, not on a final metric. */
static bool is_pruned(const struct analyse_request *r)
{
	return r->status && !strcmp(r->status, "pruned");
}

struct judged {
	const char *verdict;
	int supported;       /* 1 true, 0 false, -1 null */
	const char *against; /* what "improved" was measured on: "best" or "parent" */
	const char *heading; /* what the page calls it, when not the verdict */
};

/*
 * SPEC §2: improved only beyond noise_k × σ past the best (strictly past it
 * when σ is unknown), regressed beyond the same margin behind the parent.
 * Whether a run improved is the engine's keep rule's to say (r->keep): a
 * run of the baseline or a seed repeat is judged on nothing, and a
 * candidate is not improved until its repeats confirm it.
 */
static struct judged judge(const struct analyse_request *r, bool maximise, double margin,
			   bool use_best)
{
#define BEATS(a, b) (maximise ? (a) > (b) + margin : (a) < (b) - margin)
	if (is_pruned(r))
		return (struct judged){"no_change", 0, NULL, "pruned (stopped early)"};
	if ((r->status && !strcmp(r->status, "failed")) || !r->has_metric ||
	    !isfinite(r->metric))
		return (struct judged){"failed", -1, NULL, NULL};
	switch (r->keep) {
	case KEEP_REFERENCE:
		return (struct judged){"no_change", -1, NULL, "baseline (the reference)"};
	case KEEP_REPEAT:
		return (struct judged){"no_change", -1, NULL, "seed repeat"};
	case KEEP_CANDIDATE:
		return (struct judged){"no_change", -1, "best", "candidate, to be confirmed"};
	case KEEP_IMPROVED:
		return (struct judged){"improved", 1, "best", NULL};
	case KEEP_NO:
	case KEEP_UNSAID:
		break;
	}
	if (r->keep == KEEP_UNSAID && use_best && BEATS(r->metric, r->best_metric))
		return (struct judged){"improved", 1, "best", NULL};
	if (r->keep == KEEP_UNSAID && !use_best && r->has_parent_metric &&
	    BEATS(r->metric, r->parent_metric))
		return (struct judged){"improved", 1, "parent", NULL};
	if (r->has_parent_metric && BEATS(r->parent_metric, r->metric))
		return (struct judged){"regressed", 0, NULL, NULL};
	return (struct judged){"no_change", -1, NULL, NULL};
#undef BEATS
}

static void add_evidence(cJSON *ev, const char *fmt, ...) PRINTF_LIKE(2, 3);
static void add_evidence(cJSON *ev, const char *fmt, ...)
{
	struct buf raw, safe;
	va_list ap;

	buf_init(&raw);
	buf_init(&safe);
	va_start(ap, fmt);
	buf_vprintf(&raw, fmt, ap);
	va_end(ap);
	buf_add_safe(&safe, raw.data);
	cJSON_AddItemToArray(ev, cJSON_CreateString(safe.data));
	buf_free(&raw);
	buf_free(&safe);
}

/*
 * "## Pruned": why, and its partial curve of the series it was judged on,
 * some twelve points of it from the first to the last.
 */
static void append_pruned(struct buf *b, const struct analyse_request *r, cJSON *ev)
{
	const char *series = r->cfg && r->cfg->prune_series ? r->cfg->prune_series : NULL;
	cJSON *m = r->metrics_json ? cJSON_Parse(r->metrics_json) : NULL;
	struct curve *c = xcalloc(1, sizeof *c);

	buf_adds(b, "## Pruned\n\nStopped early by the pruning rule (prune in the config), no "
		    "failure of its code: ");
	buf_add_safe(b, r->failure_kind ? r->failure_kind : "its curve was worse than the "
							       "best run's");
	buf_adds(b, ".\n");
	add_evidence(ev, "%s", r->failure_kind ? r->failure_kind : "pruned");
	if (series && curve_from_json(c, m, series) == 0) {
		buf_adds(b, "\nIts partial curve of ");
		buf_add_safe(b, series);
		buf_adds(b, " (step: value):");
		size_t prev = SIZE_MAX;
		for (size_t k = 0; k <= 12; k++) {
			size_t i = (c->n - 1) * k / 12;
			if (i != prev)
				buf_printf(b, "%s %.10g: %.6g", prev == SIZE_MAX ? "" : ",",
					   c->p[i].step, c->p[i].value);
			prev = i;
		}
		buf_adds(b, ".\n");
	}
	buf_addc(b, '\n');
	free(c);
	cJSON_Delete(m);
}

/* The last n lines of a log: [*start, *end), trailing empty lines left out. */
static void log_tail(const char *log, int n, const char **start, const char **end)
{
	const char *e = log + strlen(log), *p;

	while (e > log && (e[-1] == '\n' || e[-1] == '\r'))
		e--;
	for (p = e; p > log; p--)
		if (p[-1] == '\n' && --n == 0)
			break;
	*start = p;
	*end = e;
}

/* An indented block, not a fence: no line of the log can close it. */
static void append_log(struct buf *b, const char *log)
{
	const char *p, *end;

	log_tail(log, LOG_TAIL_LINES, &p, &end);
	buf_adds(b, "\nLast lines of the log:\n\n");
	while (p < end) {
		size_t len = strcspn(p, "\n");
		len = len > (size_t)(end - p) ? (size_t)(end - p) : len;
		char *line = xstrndup(p, len && p[len - 1] == '\r' ? len - 1 : len);
		buf_adds(b, "    ");
		buf_add_safe(b, line);
		buf_addc(b, '\n');
		free(line);
		p += len + 1;
	}
}

/* A table of the series of metrics_to_json(), and the metric's curve as evidence. */
static void append_series(struct buf *b, const cJSON *m, const char *metric, cJSON *ev)
{
	static const char *const cols[] = {"count", "first", "last", "min", "max", "mean",
					   "nonfinite"};
	const cJSON *series = cJSON_GetObjectItemCaseSensitive(m, "series"), *s;
	int rows = 0;

	if (!cJSON_IsObject(series) || !series->child)
		return;
	buf_adds(b, "\n## Training dynamics\n\n| series | points | first | last | min | max | "
		    "mean | non-finite |\n|---|---|---|---|---|---|---|---|\n");
	for (s = series->child; s && rows < MAX_SERIES_ROWS; s = s->next, rows++) {
		buf_adds(b, "| ");
		md_cell(b, s->string);
		buf_adds(b, " |");
		/* The mean at the precision of the values it is the mean of. */
		int decimals = 0;
		for (size_t i = 1; i < 5; i++) {
			const cJSON *v = cJSON_GetObjectItemCaseSensitive(s, cols[i]);
			int d = cJSON_IsNumber(v) ? num_decimals(v->valuedouble) : 0;
			decimals = d > decimals ? d : decimals;
		}
		for (size_t i = 0; i < ARRAY_LEN(cols); i++) {
			const cJSON *v = cJSON_GetObjectItemCaseSensitive(s, cols[i]);
			char t[48];
			if (!cJSON_IsNumber(v)) {
				buf_adds(b, " – |");
				continue;
			}
			if (!strcmp(cols[i], "mean")) {
				/* As metrics.json rounds it: one digit past the values'. */
				snprintf(t, sizeof t, "%.*f", decimals > 16 ? 17 : decimals + 1,
					 v->valuedouble);
				num_shortest(strtod(t, NULL), t);
			} else {
				num_shortest(v->valuedouble, t);
			}
			buf_printf(b, " %s |", t);
		}
		buf_addc(b, '\n');
	}
	if (s)
		buf_printf(b, "\n(%d more series in metrics.json)\n",
			   cJSON_GetArraySize(series) - rows);
	double v[4];
	s = cJSON_GetObjectItemCaseSensitive(series, metric);
	for (int i = 0; i < 4; i++) {
		const cJSON *x = cJSON_GetObjectItemCaseSensitive(s, cols[i == 3 ? 0 : i + 1]);
		if (!cJSON_IsNumber(x))
			return;
		v[i] = x->valuedouble;
	}
	char first[40], last[40], min[40];
	num_shortest(v[0], first);
	num_shortest(v[1], last);
	num_shortest(v[2], min);
	add_evidence(ev, "%s curve: first %s, last %s, min %s over %.0f points", metric, first,
		     last, min, v[3]);
}

/* One row of the table: what (node), the mean of its runs, and this run's difference. */
static void result_row(struct buf *b, const struct analyse_request *r, const char *what,
		       const char *node, double mean, double sd, int runs, double sigma, cJSON *ev)
{
	char d[128], v[160], label[128];

	snprintf(label, sizeof label, "%s%s%s%s", what, node ? " (" : "", node ? node : "",
		 node ? ")" : "");
	mean_text(v, sizeof v, r, mean, sd, runs);
	delta_text(d, sizeof d, r, r->metric, mean, sigma);
	buf_adds(b, "| ");
	md_cell(b, label);
	buf_printf(b, " | %s | %s |\n", v, d);
	add_evidence(ev, "vs %s %s: %s", label, v, d);
}

/* The table comparing the run with its parent and the best, each the mean of its runs. */
static void append_result(struct buf *b, const struct analyse_request *r, const char *metric,
			  bool maximise, double sigma, bool use_best, cJSON *ev)
{
	char v[48];

	value_text(v, sizeof v, r, r->metric, false);
	buf_printf(b, "| | %s | difference |\n|---|---|---|\n| this run | %s | |\n", metric, v);
	add_evidence(ev, "%s %s (goal %s)", metric, v, maximise ? "max" : "min");
	if (r->has_parent_metric)
		result_row(b, r, "parent", r->parent_node, r->parent_metric, r->parent_sd,
			   r->parent_runs, sigma, ev);
	if (use_best)
		result_row(b, r, "best", r->best_node, r->best_metric, r->best_sd, r->best_runs,
			   sigma, ev);
}

/* The one-line summary and the bottleneck of the verdict object. */
static const char *summarise(struct buf *sum, const struct analyse_request *r, struct judged j,
			     const char *metric, const char *kind, bool noisy, bool use_best)
{
	const char *margin = noisy ? " beyond the noise margin" : "";
	char v[48], ref[160];

	value_text(v, sizeof v, r, r->metric, false);
	if (!strcmp(j.verdict, "failed") && !strcmp(kind, "tampered")) {
		buf_printf(sum, "The run failed (tampered): its protected files were not the "
				"baseline's, so no %s of it counts.",
			   metric);
		return "a protected file changed: the evaluation must stay the baseline's";
	}
	if (is_pruned(r)) {
		buf_printf(sum, "The run was stopped early (%s); its curve could not catch the best "
				"run's, so its %s was never final.",
			   r->failure_kind ? r->failure_kind : "pruned", metric);
		return "its curve was worse than the best run's at the same steps";
	}
	if (!strcmp(j.verdict, "failed")) {
		buf_printf(sum, "The run failed (%s) before it could be judged on %s.", kind, metric);
		return "the run failed before it reported the metric";
	}
	if (r->keep == KEEP_REFERENCE) {
		buf_printf(sum, "%s %s: a run of the baseline, the reference every experiment is "
				"measured against; its runs measure the noise.",
			   metric, v);
		return "none: this is the reference";
	}
	if (r->keep == KEEP_REPEAT) {
		mean_text(ref, sizeof ref, r, r->parent_metric, r->parent_sd, r->parent_runs);
		buf_printf(sum, "%s %s: a seed repeat of %s (%s), run to confirm it or not; it "
				"judges nothing of its own.",
			   metric, v, r->repeat_of ? r->repeat_of : "its parent", ref);
		return "none: a repeat measures the noise";
	}
	if (r->keep == KEEP_CANDIDATE) {
		mean_text(ref, sizeof ref, r, r->best_metric, r->best_sd, r->best_runs);
		buf_printf(sum, "%s %s beats the best's %s%s on one run: a candidate, not "
				"improved unless the mean of its runs with more seeds still does.",
			   metric, v, ref, margin);
		return "undecided: one run is not enough to tell a gain from noise";
	}
	if (!strcmp(j.verdict, "improved")) {
		bool best = *j.against == 'b';
		mean_text(ref, sizeof ref, r, best ? r->best_metric : r->parent_metric,
			  best ? r->best_sd : r->parent_sd, best ? r->best_runs : r->parent_runs);
		buf_printf(sum, "%s %s beats the %s's %s%s; improved.", metric, v, j.against, ref,
			   margin);
		return "none identified: the change helped";
	}
	if (!strcmp(j.verdict, "regressed")) {
		mean_text(ref, sizeof ref, r, r->parent_metric, r->parent_sd, r->parent_runs);
		buf_printf(sum, "%s %s is worse than the parent's %s%s; regressed.", metric, v, ref,
			   margin);
		return "the change made the metric worse than its parent's";
	}
	if (!use_best && !r->has_parent_metric) {
		buf_printf(sum, "%s %s; there is nothing earlier to compare it with.", metric, v);
		return "nothing earlier to compare with";
	}
	buf_printf(sum, "%s %s does not beat the %s%s; no change.", metric, v,
		   use_best ? "best" : "parent", margin);
	return "the difference is within run-to-run noise, or there is none";
}

/* What σ is, on how many runs it rests, and a warning while they are few. */
static void append_noise(struct buf *b, const struct analyse_request *r, double sigma, double k,
			 cJSON *ev)
{
	char sv[48], mv[48];

	if (sigma <= 0) {
		buf_adds(b, "\nNoise: σ not measured (no repeated runs yet), so any strict "
			    "difference counts.\n\n");
		add_evidence(ev, "noise σ unknown: strict comparison");
		return;
	}
	value_text(sv, sizeof sv, r, sigma, false);
	value_text(mv, sizeof mv, r, k * sigma, false);
	if (r->noise_runs > 0)
		buf_printf(b, "\nNoise: σ = %s from %d runs (the spread of repeated runs of one "
			      "commit, pooled), k = %g: a difference counts only beyond %s.\n",
			   sv, r->noise_runs, k, mv);
	else
		buf_printf(b, "\nNoise: σ = %s, k = %g: a difference counts only beyond %s.\n", sv,
			   k, mv);
	if (r->noise_runs > 0 && r->noise_runs < 3)
		buf_printf(b, "\n**Warning: σ rests on only %d runs, too few to measure the noise "
			      "well; noise.seeds 3 or more measures it better.**\n",
			   r->noise_runs);
	buf_addc(b, '\n');
	add_evidence(ev, "noise σ %s from %d runs × k %g = margin %s", sv, r->noise_runs, k, mv);
}

int offline_analyse(struct planner *p, const struct analyse_request *r, char **analysis,
		     cJSON **verdict, struct err *e)
{
	const char *metric = metric_of(r->cfg);
	bool maximise = goal_is_max(r->cfg);
	double k = r->cfg ? r->cfg->noise_k : 2;
	double sigma = r->noise_sigma > 0 && isfinite(r->noise_sigma) ? r->noise_sigma : 0;
	/* A run that already is the best is judged on its parent: the best to beat is another's. */
	bool use_best = r->has_best && isfinite(r->best_metric) &&
			!(r->best_node && r->node && !strcmp(r->best_node, r->node));
	struct judged j = judge(r, maximise, k * sigma, use_best);
	bool failed = !strcmp(j.verdict, "failed");
	bool run_failed = r->status && !strcmp(r->status, "failed");
	const char *kind = r->failure_kind ? r->failure_kind : run_failed ? "unknown" : "no_metric";
	cJSON *ev = cJSON_CreateArray();
	struct buf b, sum;

	(void)p;
	(void)e;
	buf_init(&b);
	buf_init(&sum);
	buf_adds(&b, "# ");
	buf_add_safe(&b, r->node ? r->node : "run");
	buf_adds(&b, r->name ? ": " : "");
	buf_add_safe(&b, r->name ? r->name : "");
	buf_adds(&b, r->hypothesis ? "\n\n**Hypothesis.** " : "");
	buf_add_safe(&b, r->hypothesis ? r->hypothesis : "");
	if (r->keep == KEEP_REPEAT && r->repeat_of)
		buf_printf(&b, "\n\n## Verdict: seed repeat of %s\n\n", r->repeat_of);
	else
		buf_printf(&b, "\n\n## Verdict: %s\n\n", j.heading ? j.heading : j.verdict);
	if (is_pruned(r)) {
		append_pruned(&b, r, ev);
	} else if (!failed) {
		append_result(&b, r, metric, maximise, sigma, use_best, ev);
		append_noise(&b, r, sigma, k, ev);
	}
	buf_printf(&b, "Rule (goal: %s): *improved* when %s is %s the mean of the best's runs "
		       "by more than k·σ (strictly, when σ is unknown)%s; *regressed* when it is "
		       "%s the parent by more than the same margin; *no_change* otherwise; "
		       "*failed* when the run failed or reported no %s.\n\nHypothesis "
		       "supported: %s.\n",
		   maximise ? "max" : "min", metric, maximise ? "above" : "below",
		   r->cfg && r->cfg->noise_seeds > 1
			   ? ", and the mean of its runs with noise.seeds seeds still is (a run "
			     "that beats it once is a candidate until then)"
			   : "",
		   maximise ? "below" : "above", metric,
		   j.supported == 1 ? "yes" : j.supported == 0 ? "no" : "undecided");
	if (failed) {
		buf_adds(&b, "\n## Failure\n\nKind: ");
		buf_add_safe(&b, kind);
		buf_adds(&b, ".\n");
		add_evidence(ev, "failure: %s", kind);
		if (r->log_tail && *r->log_tail) {
			const char *last, *end;
			append_log(&b, r->log_tail);
			log_tail(r->log_tail, 1, &last, &end);
			add_evidence(ev, "last log line: %.*s",
				     end - last > 200 ? 200 : (int)(end - last), last);
		}
	}
	if (r->metrics_json) {
		cJSON *m = cJSON_Parse(r->metrics_json);
		if (m)
			append_series(&b, m, metric, ev);
		else
			buf_adds(&b, "\n(The metrics summary could not be read.)\n");
		cJSON_Delete(m);
	}

	*verdict = cJSON_CreateObject();
	const char *bottleneck = summarise(&sum, r, j, metric, kind, sigma > 0, use_best);
	cJSON_AddStringToObject(*verdict, "summary", sum.data);
	cJSON_AddStringToObject(*verdict, "verdict", j.verdict);
	cJSON_AddStringToObject(*verdict, "bottleneck", bottleneck);
	cJSON_AddItemToObject(*verdict, "evidence", ev);
	cJSON_AddItemToObject(*verdict, "hypothesis_supported",
			      j.supported < 0 ? cJSON_CreateNull() : cJSON_CreateBool(j.supported));
	*analysis = buf_steal(&b);
	buf_free(&sum);
	return 0;
}
