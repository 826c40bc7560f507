/*
 * prune.c — early stopping by curve (SPEC §8), as Optuna's pruners and
 * ASHA do it: once prune.min_runs runs have completed, a running job
 * whose prune.series is worse than the best run's curve at the same step
 * (interpolated, curve.h) by more than the margin, for prune.patience
 * points in a row, is stopped. Its node ends `pruned`, which is no
 * failure of its code: nothing repairs it, and the planner reads it as
 * evidence. Called by watch.c each time a running job is looked at.
 *
 * The reference is the best node's curve as its runs/<id>/metrics.json
 * keeps it (newest points and a sample of the whole run: at most
 * CURVE_MAX points), loaded once each time the best changes.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hypotop/curve.h"
#include "hypotop/fsutil.h"
#include "hypotop/json.h"
#include "hypotop/lifecycle.h"

struct prune_ref {
	uint64_t seq;       /* the workdir's seq when last counted */
	uint32_t node;      /* whose curve, NODE_NONE none */
	bool have;          /* ref holds its curve */
	long completed;     /* completed runs with a metric */
	double duration_ms; /* of the reference's run; 0 unknown */
	struct curve ref;
};

void prune_free(struct sched *s)
{
	free(s->prune);
	s->prune = NULL;
}

/* The curve to judge against, NULL while there is none (too few runs, no curve). */
static const struct prune_ref *reference(struct sched *s)
{
	struct workdir *w = s->wd;
	struct prune_ref *p = s->prune;

	if (!p) {
		p = s->prune = xcalloc(1, sizeof *p);
		p->node = NODE_NONE;
		p->seq = w->seq + 1;
	}
	if (p->seq != w->seq) {
		p->seq = w->seq;
		p->completed = 0;
		for (uint32_t i = 0; i < w->tree.len; i++) {
			const struct node *n = &w->tree.nodes[i];
			p->completed += n->present && n->status == ST_COMPLETED && n->has_metric;
		}
	}
	if (p->completed < w->cfg.prune_min_runs || w->st.best == NODE_NONE)
		return NULL;
	if (p->node != w->st.best) {
		struct err e = {{0}};
		char nid[NODE_ID_LEN];
		const struct node *b = tree_get(&w->tree, w->st.best);
		char *path = sched_path(s, "runs", w->st.best, "metrics.json");
		cJSON *doc = json_parse_file(path, &e);
		p->node = w->st.best;
		p->have = doc && curve_from_json(&p->ref, doc, w->cfg.prune_series) == 0;
		p->duration_ms = b && b->started && b->finished > b->started
					 ? (double)(b->finished - b->started)
					 : 0;
		node_id_format(p->node, nid);
		if (!p->have)
			sched_say(s, "prune: the best run %s has no %s curve in %s%s%s: no job is "
				     "pruned against it",
				  nid, w->cfg.prune_series, path, doc ? "" : ": ",
				  doc ? "" : e.msg);
		cJSON_Delete(doc);
		free(path);
	}
	return p->have ? p : NULL;
}

static bool series_max(struct sched *s)
{
	const struct config *c = &s->wd->cfg;

	if (c->prune_goal)
		return !strcmp(c->prune_goal, "max");
	return !strcmp(c->prune_series, c->metric) && sched_goal_max(s);
}

/* runs/<id>/pruned.json: what the analysis, the planner and summary.md read of it. */
static void record(struct sched *s, struct slot *sl, const struct prune_ref *p, double step,
		   double value, double refv, double by)
{
	struct node *n = tree_get(&s->wd->tree, sl->node);
	double ran_ms = n && n->started ? (double)(now_ms() - n->started - sl->paused_ms) : 0;
	/* What the rest of the run would have taken: the reference's time, or by steps. */
	double saved_ms = p->duration_ms - ran_ms;
	const struct metric_point *last = &p->ref.p[p->ref.n - 1];
	if (!(p->duration_ms > 0) && last->step > 0 && step > 0)
		saved_ms = ran_ms * (last->step - step) / step;
	if (!(saved_ms > 0))
		saved_ms = 0;
	char rid[NODE_ID_LEN];
	node_id_format(p->node, rid);
	struct buf b;
	buf_init(&b);
	buf_adds(&b, "{\"series\":");
	json_append_str(&b, s->wd->cfg.prune_series);
	buf_printf(&b, ",\"step\":%.17g,\"value\":%.17g,\"reference\":\"%s\","
		       "\"reference_value\":%.17g,\"margin\":%.17g,\"patience\":%ld,"
		       "\"elapsed_s\":%.3f,\"saved_s\":%.3f,\"gpu\":%s,\"reason\":",
		   step, value, rid, refv, by, s->wd->cfg.prune_patience, ran_ms / 1000,
		   saved_ms / 1000, sl->gpu >= 0 ? "true" : "false");
	json_append_str(&b, sl->prune_why);
	buf_adds(&b, "}\n");
	char *path = sched_path(s, "runs", sl->node, "pruned.json");
	sched_write(s, path, b.data, b.len, 0644, true);
	free(path);
	buf_free(&b);
}

void prune_check(struct sched *s, struct slot *sl)
{
	const struct config *c = &s->wd->cfg;

	if (!c->prune_series || sl->kill_reason || sl->job.paused)
		return;
	const struct series *se = metrics_get(&sl->metrics, c->prune_series);
	if (!se || !se->ring_len)
		return;
	const struct prune_ref *p = reference(s);
	const struct noise *nz = sched_noise(s);
	struct prune_rule rule = {
		.warmup_steps = c->prune_warmup_steps,
		.margin = c->prune_margin,
		.margin_relative = c->prune_margin_relative,
		/* The baseline's spread is the metric's: a σ for that series only. */
		.sigma = !strcmp(c->prune_series, c->metric) && nz->sigma > 0 && isfinite(nz->sigma)
				 ? nz->sigma
				 : 0,
		.maximise = series_max(s),
	};
	/* Each point not yet looked at, oldest first: a check each, however the log is read. */
	for (size_t i = 0; i < se->ring_len; i++) {
		const struct metric_point *pt = &se->ring[(se->ring_head + i) % METRICS_RING];
		if (!isfinite(pt->step) || (sl->prune_any && pt->step <= sl->prune_seen))
			continue;
		sl->prune_any = true;
		sl->prune_seen = pt->step;
		double refv, by;
		int w = p ? prune_worse(&rule, &p->ref, pt->step, pt->value, &refv, &by) : -1;
		if (w < 0)
			continue;
		if (!w) {
			sl->prune_strikes = 0;
			continue;
		}
		if (++sl->prune_strikes < c->prune_patience)
			continue;
		char rid[NODE_ID_LEN];
		node_id_format(p->node, rid);
		free(sl->prune_why);
		sl->prune_why = xasprintf(
			"pruned at step %.10g: its %s (%.6g) was worse than the best run %s's "
			"(%.6g there, interpolated) by more than the margin (%.6g, %s) for %ld "
			"point%s in a row",
			pt->step, c->prune_series, pt->value, rid, refv, by,
			rule.sigma > 0 ? "prune.margin × the baseline's σ"
				       : "prune.margin_relative of the best's value",
			sl->prune_strikes, sl->prune_strikes == 1 ? "" : "s");
		record(s, sl, p, pt->step, pt->value, refv, by);
		sched_kill(s, sl, "pruned");
		return;
	}
}

char *prune_reason(struct sched *s, uint32_t id)
{
	struct err e = {{0}};
	char *path = sched_path(s, "runs", id, "pruned.json");
	cJSON *j = fs_exists(path) ? json_parse_file(path, &e) : NULL;
	const char *r = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(j, "reason"));
	char *out = r ? xstrdup(r) : NULL;

	cJSON_Delete(j);
	free(path);
	return out;
}

/* Seconds as a person reads them: 42.0 s, 12.5 min, 3.25 h. */
static void add_time(struct buf *b, double sec)
{
	if (sec < 120)
		buf_printf(b, "%.1f s", sec);
	else if (sec < 7200)
		buf_printf(b, "%.1f min", sec / 60);
	else
		buf_printf(b, "%.2f h", sec / 3600);
}

void prune_summary(struct sched *s, struct buf *b)
{
	struct workdir *w = s->wd;
	double saved = 0, gpu = 0;
	long n = 0, unread = 0;

	for (uint32_t i = 0; i < w->tree.len; i++) {
		if (!w->tree.nodes[i].present || w->tree.nodes[i].status != ST_PRUNED)
			continue;
		struct err e = {{0}};
		char *path = sched_path(s, "runs", i, "pruned.json");
		cJSON *j = fs_exists(path) ? json_parse_file(path, &e) : NULL;
		const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, "saved_s");
		n++;
		if (cJSON_IsNumber(v) && v->valuedouble > 0) {
			saved += v->valuedouble;
			if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(j, "gpu")))
				gpu += v->valuedouble;
		} else if (!cJSON_IsNumber(v)) {
			unread++;
		}
		cJSON_Delete(j);
		free(path);
	}
	if (!w->cfg.prune_series && !n)
		return;
	if (w->cfg.prune_series)
		buf_printf(b, "Pruning (early stopping by curve, on `%s`): ", w->cfg.prune_series);
	else
		buf_adds(b, "Pruning (early stopping by curve, off now): ");
	buf_printf(b, "%ld run%s stopped early; time saved, estimated as the best run's duration "
		      "less each pruned run's: ",
		   n, n == 1 ? "" : "s");
	add_time(b, saved);
	buf_adds(b, " of run time, of which ");
	add_time(b, gpu);
	buf_adds(b, " on GPUs");
	if (unread)
		buf_printf(b, " (%ld without a readable runs/<id>/pruned.json, not counted)",
			   unread);
	buf_adds(b, ".\n\n");
}
