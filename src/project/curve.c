/* curve.c — see curve.h. */
#include "hypotop/curve.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static int by_step(const void *a, const void *b)
{
	const struct metric_point *x = a, *y = b;

	return x->step < y->step ? -1 : x->step > y->step;
}

/* Sorted, one point a step (the newest seen of a step wins: the ring's). */
static int curve_finish(struct curve *c)
{
	size_t k = 0;

	qsort(c->p, c->n, sizeof *c->p, by_step);
	for (size_t i = 0; i < c->n; i++) {
		if (k && c->p[k - 1].step == c->p[i].step)
			k--;
		c->p[k++] = c->p[i];
	}
	c->n = k;
	return k ? 0 : -1;
}

static void curve_add(struct curve *c, double step, double value)
{
	if (c->n < CURVE_MAX && isfinite(step) && isfinite(value))
		c->p[c->n++] = (struct metric_point){step, value};
}

static void add_points(struct curve *c, const cJSON *arr)
{
	const cJSON *pt;

	cJSON_ArrayForEach(pt, arr) {
		const cJSON *s = cJSON_GetArrayItem(pt, 0), *v = cJSON_GetArrayItem(pt, 1);
		if (cJSON_IsArray(pt) && cJSON_IsNumber(s) && cJSON_IsNumber(v))
			curve_add(c, s->valuedouble, v->valuedouble);
	}
}

int curve_from_json(struct curve *c, const cJSON *doc, const char *series)
{
	const cJSON *all = cJSON_GetObjectItemCaseSensitive(doc, "series");
	const cJSON *s = cJSON_GetObjectItemCaseSensitive(all, series);

	c->n = 0;
	if (!cJSON_IsObject(s))
		return -1;
	/* The sample first: on a step both have, the ring's point is kept. */
	add_points(c, cJSON_GetObjectItemCaseSensitive(s, "sample"));
	add_points(c, cJSON_GetObjectItemCaseSensitive(s, "recent"));
	return curve_finish(c);
}

int curve_from_series(struct curve *c, const struct series *s)
{
	c->n = 0;
	if (!s)
		return -1;
	for (size_t i = 0; i < s->reservoir_len; i++)
		curve_add(c, s->reservoir[i].step, s->reservoir[i].value);
	for (size_t i = 0; i < s->ring_len; i++) {
		const struct metric_point *p = &s->ring[(s->ring_head + i) % METRICS_RING];
		curve_add(c, p->step, p->value);
	}
	return curve_finish(c);
}

double curve_at(const struct curve *c, double step)
{
	if (!c->n || !isfinite(step) || step < c->p[0].step || step > c->p[c->n - 1].step)
		return NAN;
	size_t lo = 0, hi = c->n - 1;
	while (hi - lo > 1) {
		size_t mid = (lo + hi) / 2;
		if (c->p[mid].step <= step)
			lo = mid;
		else
			hi = mid;
	}
	const struct metric_point *a = &c->p[lo], *b = &c->p[hi];
	if (step <= a->step || a->step == b->step)
		return a->value;
	if (step >= b->step)
		return b->value;
	return a->value + (b->value - a->value) * (step - a->step) / (b->step - a->step);
}

int prune_worse(const struct prune_rule *r, const struct curve *ref, double step, double value,
		double *refv, double *by)
{
	double v = curve_at(ref, step);

	*refv = v;
	*by = 0;
	if (!isfinite(step) || step < r->warmup_steps || isnan(v) || !isfinite(value))
		return -1;
	*by = r->sigma > 0 ? r->margin * r->sigma : r->margin_relative * fabs(v);
	return r->maximise ? value < v - *by : value > v + *by;
}
