/*
 * offline_analyse.c — the offline planner's analysis of a finished run:
 * the verdict of the analyse contract, worked out from the numbers alone
 * (metric against parent and best, in units of the baseline's noise), and
 * a Markdown page for runs/<id>/analysis.md. See planner.h.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

/* "-0.018 (-3.40 %, -1.80 σ)": a difference in units, percent and noise. */
static void delta_text(char *out, size_t n, double v, double ref, double sigma)
{
	char pct[32] = "", sig[32] = "";

	if (ref != 0)
		snprintf(pct, sizeof pct, "%+.2f %%", (v - ref) / fabs(ref) * 100);
	if (sigma > 0)
		snprintf(sig, sizeof sig, "%+.2f σ", (v - ref) / sigma);
	snprintf(out, n, "%+.4g%s%s%s%s%s", v - ref, *pct || *sig ? " (" : "", pct,
		 *pct && *sig ? ", " : "", sig, *pct || *sig ? ")" : "");
}

struct judged {
	const char *verdict;
	int supported;       /* 1 true, 0 false, -1 null */
	const char *against; /* what "improved" was measured on: "best" or "parent" */
};

/*
 * SPEC §2: improved only beyond noise_k × σ past the best (strictly past it
 * when σ is unknown), regressed beyond the same margin behind the parent.
 */
static struct judged judge(const struct analyse_request *r, bool maximise, double margin,
			   bool use_best)
{
#define BEATS(a, b) (maximise ? (a) > (b) + margin : (a) < (b) - margin)
	if ((r->status && !strcmp(r->status, "failed")) || !r->has_metric ||
	    !isfinite(r->metric))
		return (struct judged){"failed", -1, NULL};
	if (use_best && BEATS(r->metric, r->best_metric))
		return (struct judged){"improved", 1, "best"};
	if (!use_best && r->has_parent_metric && BEATS(r->metric, r->parent_metric))
		return (struct judged){"improved", 1, "parent"};
	if (r->has_parent_metric && BEATS(r->parent_metric, r->metric))
		return (struct judged){"regressed", 0, NULL};
	return (struct judged){"no_change", -1, NULL};
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
		for (size_t i = 0; i < ARRAY_LEN(cols); i++) {
			const cJSON *v = cJSON_GetObjectItemCaseSensitive(s, cols[i]);
			if (cJSON_IsNumber(v))
				buf_printf(b, " %.4g |", v->valuedouble);
			else
				buf_adds(b, " – |");
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
	add_evidence(ev, "%s curve: first %.4g, last %.4g, min %.4g over %.0f points", metric,
		     v[0], v[1], v[2], v[3]);
}

/* The table comparing the run with its parent and the best. */
static void append_result(struct buf *b, const struct analyse_request *r, const char *metric,
			  bool maximise, double sigma, bool use_best, cJSON *ev)
{
	char d[128];

	buf_printf(b, "| | %s | difference |\n|---|---|---|\n| this run | %.6g | |\n", metric,
		   r->metric);
	add_evidence(ev, "%s %.6g (goal %s)", metric, r->metric, maximise ? "max" : "min");
	if (r->has_parent_metric) {
		delta_text(d, sizeof d, r->metric, r->parent_metric, sigma);
		buf_printf(b, "| parent | %.6g | %s |\n", r->parent_metric, d);
		add_evidence(ev, "vs parent %.6g: %s", r->parent_metric, d);
	}
	if (use_best) {
		char label[128];
		snprintf(label, sizeof label, r->best_node ? "best (%s)" : "best%s",
			 r->best_node ? r->best_node : "");
		delta_text(d, sizeof d, r->metric, r->best_metric, sigma);
		buf_adds(b, "| ");
		md_cell(b, label);
		buf_printf(b, " | %.6g | %s |\n", r->best_metric, d);
		add_evidence(ev, "vs %s %.6g: %s", label, r->best_metric, d);
	}
}

/* The one-line summary and the bottleneck of the verdict object. */
static const char *summarise(struct buf *sum, const struct analyse_request *r, struct judged j,
			     const char *metric, const char *kind, bool noisy, bool use_best)
{
	const char *margin = noisy ? " beyond the noise margin" : "";

	if (!strcmp(j.verdict, "failed")) {
		buf_printf(sum, "The run failed (%s) before it could be judged on %s.", kind, metric);
		return "the run failed before it reported the metric";
	}
	if (!strcmp(j.verdict, "improved")) {
		buf_printf(sum, "%s %.6g beats the %s's %.6g%s; improved.", metric, r->metric,
			   j.against, *j.against == 'b' ? r->best_metric : r->parent_metric, margin);
		return "none identified: the change helped";
	}
	if (!strcmp(j.verdict, "regressed")) {
		buf_printf(sum, "%s %.6g is worse than the parent's %.6g%s; regressed.", metric,
			   r->metric, r->parent_metric, margin);
		return "the change made the metric worse than its parent's";
	}
	if (!use_best && !r->has_parent_metric) {
		buf_printf(sum, "%s %.6g; there is nothing earlier to compare it with.", metric,
			   r->metric);
		return "nothing earlier to compare with";
	}
	buf_printf(sum, "%s %.6g does not beat the %s%s; no change.", metric, r->metric,
		   use_best ? "best" : "parent", margin);
	return "the difference is within run-to-run noise, or there is none";
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
	buf_printf(&b, "\n\n## Verdict: %s\n\n", j.verdict);
	if (!failed) {
		append_result(&b, r, metric, maximise, sigma, use_best, ev);
		if (sigma > 0)
			buf_printf(&b, "\nNoise: σ = %.4g (run-to-run spread of the baseline), "
				       "k = %g: a difference counts only beyond %.4g.\n\n",
				   sigma, k, k * sigma);
		else
			buf_adds(&b, "\nNoise: σ not measured, so any strict difference counts.\n\n");
		if (sigma > 0)
			add_evidence(ev, "noise σ %.4g × k %g = margin %.4g", sigma, k, k * sigma);
		else
			add_evidence(ev, "noise σ unknown: strict comparison");
	}
	buf_printf(&b, "Rule (goal: %s): *improved* when %s is %s the best by more than k·σ "
		       "(strictly, when σ is unknown); *regressed* when it is %s the parent by "
		       "more than the same margin; *no_change* otherwise; *failed* when the run "
		       "failed or reported no %s.\n\nHypothesis supported: %s.\n",
		   maximise ? "max" : "min", metric, maximise ? "above" : "below",
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
