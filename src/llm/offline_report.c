/*
 * offline_report.c — the built-in report.md (planner.h): a pure function of
 * the workdir's data, so the same workdir always gives the same report and
 * no network or key is needed. It says what the best result is and how the
 * loop got there from the baseline, lists every experiment, what helped and
 * what hurt, the failures by kind, and what each analysis concluded.
 *
 * Everything that comes from outside (names, hypotheses, analyses) is
 * stripped of control characters and kept from breaking a table.
 */
#include "hypotop/planner.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hypotop/change.h"
#include "hypotop/json.h"
#include "hypotop/offline_int.h"

#define CELL_MAX 120
#define PATH_MAX_STEPS 256

/* One line of outside text in a table cell, at most max bytes. */
static void cell(struct buf *b, const char *s, size_t max)
{
	size_t n = 0;
	char one[2] = {0};

	for (; s && *s && n < max; s++, n++) {
		one[0] = *s == '\n' || *s == '\t' || *s == '\r' ? ' ' : *s;
		buf_add_safe(b, *s == '|' ? "\\|" : one);
	}
	if (s && *s)
		buf_adds(b, "…");
}

static void number(struct buf *b, double v)
{
	char t[40];

	num_shortest(v, t);
	buf_adds(b, t);
}

/* Node ids are "n" and digits: shorter is smaller, then by the digits. */
static int id_cmp(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);

	return la != lb ? (la < lb ? -1 : 1) : strcmp(a, b);
}

/* The entry of id (the entries are in id order), or NULL. */
static const struct report_entry *find(const struct report_request *r, const char *id)
{
	size_t lo = 0, hi = r->n;

	while (id && lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = id_cmp(r->nodes[mid].e.id, id);
		if (!c)
			return &r->nodes[mid];
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

/* How much better a is than b under the goal (positive: better). */
static double gain(const struct report_request *r, double a, double b)
{
	return goal_is_max(r->cfg) ? a - b : b - a;
}

static const struct report_entry *parent_of(const struct report_request *r,
					    const struct report_entry *x)
{
	return find(r, x->e.parent);
}

/*
 * The difference to the parent: the request's, like with like (the means
 * of their runs), or, without one, the two runs'.
 */
static bool delta_of(const struct report_entry *x, const struct report_entry *p, double *d)
{
	if (x->has_delta) {
		*d = x->delta;
		return true;
	}
	if (!x->e.has_metric || !p || !p->e.has_metric)
		return false;
	*d = x->e.metric - p->e.metric;
	return true;
}

/* "lr=0.003 dropout=0.2", "edit: a.py", "patch: a.py", "files: a.py b.py", or "–" for none. */
static void change_cell(struct buf *b, const char *change)
{
	cJSON *ch = change ? cJSON_Parse(change) : NULL;
	struct buf t;

	buf_init(&t);
	change_describe(ch, &t);
	cell(b, t.len ? t.data : "–", CELL_MAX);
	buf_free(&t);
	cJSON_Delete(ch);
}

static const char *verdict_str(const struct report_entry *x, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(x->verdict, key);

	return cJSON_IsString(v) && *v->valuestring ? v->valuestring : NULL;
}

/* "**n0003** (lr-0p003): val_loss 0.9, -0.1 against n0000; lr=0.003. SUMMARY" */
static void item(struct buf *b, const struct report_request *r, const struct report_entry *x)
{
	const struct report_entry *p = parent_of(r, x);
	const char *summary = verdict_str(x, "summary");

	buf_printf(b, "- **%s**", x->e.id);
	if (x->e.name) {
		buf_adds(b, " (");
		cell(b, x->e.name, CELL_MAX);
		buf_adds(b, ")");
	}
	if (x->e.has_metric) {
		buf_printf(b, ": %s ", metric_of(r->cfg));
		number(b, x->e.metric);
	}
	double d;
	if (delta_of(x, p, &d))
		buf_printf(b, ", %+.6g against %s", d, p->e.id);
	buf_adds(b, "; change: ");
	change_cell(b, x->e.change);
	buf_adds(b, ".");
	if (summary) {
		buf_adds(b, " ");
		cell(b, summary, 400);
	}
	buf_addc(b, '\n');
}

/* The best's one run against the baseline's, for a request without a headline. */
static void best_line(struct buf *b, const struct report_request *r,
		      const struct report_entry *best, const struct report_entry *base)
{
	buf_printf(b, "**%s**", best->e.id);
	if (best->e.name) {
		buf_adds(b, " (");
		cell(b, best->e.name, CELL_MAX);
		buf_adds(b, ")");
	}
	buf_printf(b, " with %s = ", metric_of(r->cfg));
	number(b, best->e.metric);
	if (base && base != best && base->e.has_metric) {
		buf_adds(b, ", against the baseline's ");
		number(b, base->e.metric);
		if (base->e.metric != 0)
			buf_printf(b, " (%+.2f %%)", 100 * (best->e.metric - base->e.metric) /
							    fabs(base->e.metric));
	}
	buf_adds(b, ".\n\n");
}

static void best_part(struct buf *b, const struct report_request *r)
{
	const struct report_entry *best = find(r, r->best), *base = r->n ? &r->nodes[0] : NULL;
	const struct report_entry *path[PATH_MAX_STEPS];
	int depth = 0;

	buf_adds(b, "## Best result\n\n");
	if (!best || !best->e.has_metric) {
		buf_printf(b, "No run has produced %s yet.\n\n", metric_of(r->cfg));
		return;
	}
	if (r->headline && *r->headline) {
		/* The means of the best's runs and the baseline's, as every report says it. */
		buf_printf(b, "%s: ", metric_of(r->cfg));
		buf_add_safe(b, r->headline);
		buf_adds(b, ".\n\n");
		if (r->noise)
			buf_printf(b, "Noise: %s.\n\n", r->noise);
	} else {
		best_line(b, r, best, base);
	}
	for (const struct report_entry *x = best; x && depth < PATH_MAX_STEPS; x = parent_of(r, x))
		path[depth++] = x;
	buf_printf(b, "The path from the baseline:\n\n| step | node | name | %s | change | "
		      "hypothesis |\n|---|---|---|---|---|---|\n",
		   metric_of(r->cfg));
	for (int step = 0; depth--; step++) {
		const struct report_entry *x = path[depth];
		buf_printf(b, "| %d | %s | ", step, x->e.id);
		cell(b, x->e.name, CELL_MAX);
		buf_adds(b, " | ");
		if (x->e.has_metric)
			number(b, x->e.metric);
		buf_adds(b, " | ");
		change_cell(b, x->e.change);
		buf_adds(b, " | ");
		cell(b, x->e.hypothesis, CELL_MAX);
		buf_adds(b, " |\n");
	}
	buf_addc(b, '\n');
}

static void table_part(struct buf *b, const struct report_request *r)
{
	buf_printf(b, "## Experiments\n\n| id | parent | name | status | %s | delta vs parent | "
		      "improved | change | failure |\n|---|---|---|---|---|---|---|---|---|\n",
		   metric_of(r->cfg));
	for (size_t i = 0; i < r->n; i++) {
		const struct report_entry *x = &r->nodes[i], *p = parent_of(r, x);
		buf_printf(b, "| %s | %s | ", x->e.id, x->e.parent ? x->e.parent : "–");
		cell(b, x->e.name, CELL_MAX);
		buf_adds(b, " | ");
		cell(b, x->e.status, 32);
		buf_adds(b, " | ");
		if (x->e.has_metric)
			number(b, x->e.metric);
		buf_adds(b, " | ");
		double d;
		if (delta_of(x, p, &d))
			buf_printf(b, "%+.6g", d);
		buf_printf(b, " | %s | ", x->improved < 0 ? "" : x->improved ? "yes" : "no");
		change_cell(b, x->e.change);
		buf_adds(b, " | ");
		cell(b, x->e.failure_kind, 32);
		buf_adds(b, " |\n");
	}
	buf_addc(b, '\n');
}

/*
 * Helped: kept as an improvement. Hurt: judged a regression by its
 * analysis, or, with none, finished worse than its parent.
 */
static void effects_part(struct buf *b, const struct report_request *r)
{
	int helped = 0, hurt = 0;

	buf_adds(b, "## What helped\n\n");
	for (size_t i = 0; i < r->n; i++)
		if (r->nodes[i].improved == 1) {
			item(b, r, &r->nodes[i]);
			helped++;
		}
	if (!helped)
		buf_adds(b, "Nothing beat the best by more than the noise margin.\n");
	buf_adds(b, "\n## What hurt\n\n");
	for (size_t i = 0; i < r->n; i++) {
		const struct report_entry *x = &r->nodes[i], *p = parent_of(r, x);
		const char *verdict = verdict_str(x, "verdict");
		bool worse = x->e.has_metric && p && p->e.has_metric &&
			     gain(r, x->e.metric, p->e.metric) < 0;
		/* A repeat measures the noise: it helps or hurts nothing. */
		if (x->repeat_of || !p)
			continue;
		if (verdict ? !strcmp(verdict, "regressed") : worse) {
			item(b, r, x);
			hurt++;
		}
	}
	if (!hurt)
		buf_adds(b, "No experiment made the metric worse than its parent's.\n");
	buf_addc(b, '\n');
}

static bool is_pruned(const struct plan_entry *e)
{
	return e->status && !strcmp(e->status, "pruned");
}

static void failures_part(struct buf *b, const struct report_request *r)
{
	bool *done = xcalloc(r->n ? r->n : 1, sizeof *done);
	int kinds = 0;

	buf_adds(b, "## Failures by kind\n\n");
	for (size_t i = 0; i < r->n; i++) {
		const char *kind = r->nodes[i].e.failure_kind;
		if (done[i] || !kind || is_pruned(&r->nodes[i].e))
			continue;
		if (!kinds++)
			buf_adds(b, "| kind | count | nodes |\n|---|---|---|\n");
		struct buf ids;
		int count = 0;
		buf_init(&ids);
		for (size_t j = i; j < r->n; j++) {
			const char *k = r->nodes[j].e.failure_kind;
			if (k && !strcmp(k, kind) && !is_pruned(&r->nodes[j].e)) {
				done[j] = true;
				buf_printf(&ids, "%s%s", count++ ? ", " : "", r->nodes[j].e.id);
			}
		}
		buf_adds(b, "| ");
		cell(b, kind, 32);
		buf_printf(b, " | %d | %s |\n", count, ids.data);
		buf_free(&ids);
	}
	if (!kinds)
		buf_adds(b, "No experiment failed.\n");
	/* Stopped by their curve: no failure of their code, said apart. */
	int pruned = 0;
	for (size_t i = 0; i < r->n; i++)
		if (is_pruned(&r->nodes[i].e))
			buf_printf(b, "%s%s", pruned++ ? ", " : "\nStopped early by their curve "
								"(pruned, no failure of their "
								"code): ",
				   r->nodes[i].e.id);
	buf_adds(b, pruned ? ".\n\n" : "\n");
	free(done);
}

static void analyses_part(struct buf *b, const struct report_request *r)
{
	buf_adds(b, "## Analyses\n\n");
	for (size_t i = 0; i < r->n; i++) {
		const struct report_entry *x = &r->nodes[i];
		const char *verdict = verdict_str(x, "verdict");
		const char *summary = verdict_str(x, "summary");
		const char *bottleneck = verdict_str(x, "bottleneck");
		if (!verdict)
			continue;
		buf_printf(b, "- **%s** ", x->e.id);
		/* The engine's keep rule says what improved; an analysis that differs is marked. */
		if (x->repeat_of)
			buf_printf(b, "repeat of %s", x->repeat_of);
		else if (!x->e.parent && !x->e.change)
			buf_adds(b, "reference (a run of the baseline)");
		else if (!strcmp(verdict, "improved") && x->improved != 1)
			buf_adds(b, "not improved (its analysis said improved; the keep rule did not "
				    "confirm it)");
		else if (strcmp(verdict, "improved") && x->improved == 1)
			buf_adds(b, "improved (confirmed by its repeats)");
		else
			cell(b, verdict, 32);
		buf_adds(b, ": ");
		cell(b, summary ? summary : "", 400);
		if (bottleneck) {
			buf_adds(b, " Bottleneck: ");
			cell(b, bottleneck, 200);
		}
		buf_addc(b, '\n');
	}
	buf_adds(b, "\nEach run's full analysis is in `runs/<id>/analysis.md`.\n");
}

char *planner_report_offline(const struct report_request *r)
{
	struct buf b;
	int finished = 0, failed = 0;

	for (size_t i = 0; i < r->n; i++) {
		const char *st = r->nodes[i].e.status ? r->nodes[i].e.status : "";
		finished += !strcmp(st, "completed");
		failed += !strcmp(st, "failed");
	}
	buf_init(&b);
	buf_printf(&b, "# hypotop report\n\nMetric: `%s` (%s is better). %zu experiments: %d "
		       "completed, %d failed, %zu other. Planning rounds: %ld, the last %ld "
		       "without gain.\n\n",
		   metric_of(r->cfg), goal_is_max(r->cfg) ? "higher" : "lower", r->n, finished,
		   failed, r->n - (size_t)finished - (size_t)failed, r->iteration,
		   r->rounds_without_gain);
	best_part(&b, r);
	effects_part(&b, r);
	failures_part(&b, r);
	table_part(&b, r);
	analyses_part(&b, r);
	buf_adds(&b, "\n*Written by the built-in reporter from the workdir's files.*\n");
	return buf_steal(&b);
}
