/*
 * curve.h — a run's curve of one metric series (step → value) and the
 * pruning rule that compares a running job's curve with the best run's
 * (SPEC §8, early stopping by curve). Pure: no files, no engine.
 *
 * A curve is at most CURVE_MAX points in step order, made from what
 * metrics.json keeps of a series (its newest points and its reservoir
 * sample of the whole run), so memory stays bounded however long the run.
 */
#ifndef HYPOTOP_CURVE_H
#define HYPOTOP_CURVE_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>

#include "hypotop/metrics.h"

#define CURVE_MAX (METRICS_RING + METRICS_RESERVOIR)

struct curve {
	struct metric_point p[CURVE_MAX]; /* step order, steps distinct and finite */
	size_t n;
};

/*
 * The curve of one series of a metrics.json document ({"series": {NAME:
 * {"recent": [[step, value], ...], "sample": [...]}}}): 0, or -1 when the
 * series is absent or has no point with a step.
 */
int curve_from_json(struct curve *c, const cJSON *metrics_doc, const char *series);
/* The same from a live run's metrics. */
int curve_from_series(struct curve *c, const struct series *s);
/* The value at step, linear between the points around it; NAN outside the curve. */
double curve_at(const struct curve *c, double step);

/* The rule's settings (config.h: prune.*). */
struct prune_rule {
	double warmup_steps;
	double margin;   /* in σ when sigma > 0, else relative (margin_relative) */
	double margin_relative;
	double sigma;    /* of the baseline's repeats of this series; 0 unknown */
	bool maximise;   /* higher is better */
};

/*
 * Whether value at step is worse than the reference curve there by more
 * than the margin: 1 worse, 0 not, -1 not judged (before the warm-up, or
 * outside the reference's steps). *ref and *by get the reference's value
 * and the margin used.
 */
int prune_worse(const struct prune_rule *r, const struct curve *ref, double step, double value,
		double *refv, double *by);

#endif
