/* test_curve.c — a run's curve and the pruning rule's comparison (curve.h). */
#include <math.h>

#include "hypotop/curve.h"
#include "t.h"

static bool near(double a, double b)
{
	return fabs(a - b) < 1e-9;
}

static void set(struct curve *c, const double (*pts)[2], size_t n)
{
	c->n = n;
	for (size_t i = 0; i < n; i++)
		c->p[i] = (struct metric_point){pts[i][0], pts[i][1]};
}

static void test_interpolation(void)
{
	static const double pts[][2] = {{10, 2.0}, {20, 1.0}, {40, 0.5}};
	struct curve c;

	set(&c, pts, 3);
	T_CHECK(near(curve_at(&c, 10), 2.0), "at a point: %g", curve_at(&c, 10));
	T_CHECK(near(curve_at(&c, 15), 1.5), "between: %g", curve_at(&c, 15));
	T_CHECK(near(curve_at(&c, 30), 0.75), "between: %g", curve_at(&c, 30));
	T_CHECK(near(curve_at(&c, 40), 0.5), "the last: %g", curve_at(&c, 40));
	T_CHECK(isnan(curve_at(&c, 5)), "before the curve: not known");
	T_CHECK(isnan(curve_at(&c, 41)), "after the curve: not known");
	T_CHECK(isnan(curve_at(&c, NAN)), "no step");
	c.n = 0;
	T_CHECK(isnan(curve_at(&c, 10)), "an empty curve");
}

/* metrics.json's recent and sample, merged in step order, the ring's point kept. */
static void test_from_json(void)
{
	cJSON *doc = cJSON_Parse("{\"series\": {\"loss\": {"
				 "\"recent\": [[30, 0.9], [40, 0.8]],"
				 "\"sample\": [[10, 2], [30, 1.5], [20, 1.2], [null, 3], [\"x\", 1]]},"
				 "\"acc\": {\"recent\": [], \"sample\": []}}}");
	struct curve *c = calloc(1, sizeof *c);

	T_CHECK(curve_from_json(c, doc, "loss") == 0, "read");
	T_CHECK(c->n == 4, "four points, got %zu", c->n);
	T_CHECK(c->p[0].step == 10 && c->p[1].step == 20 && c->p[2].step == 30 &&
			c->p[3].step == 40,
		"in step order");
	T_CHECK(near(c->p[2].value, 0.9), "the newest of step 30: %g", c->p[2].value);
	T_CHECK(curve_from_json(c, doc, "acc") < 0, "no points");
	T_CHECK(curve_from_json(c, doc, "nope") < 0, "no series");
	T_CHECK(curve_from_json(c, NULL, "loss") < 0, "no document");
	cJSON_Delete(doc);
	free(c);
}

/* A live series: its reservoir and ring together. */
static void test_from_series(void)
{
	struct metrics m;
	struct err e = {{0}};
	struct curve *c = calloc(1, sizeof *c);
	char line[64];

	T_CHECK(metrics_init(&m, NULL, &e) == 0, "%s", e.msg);
	for (int i = 1; i <= 1000; i++) {
		int n = snprintf(line, sizeof line, "step=%d loss=%g", i, 10.0 / i);
		metrics_feed(&m, line, (size_t)n);
	}
	T_CHECK(curve_from_series(c, metrics_get(&m, "loss")) == 0, "read");
	T_CHECK(c->n <= CURVE_MAX && c->n > METRICS_RING, "bounded: %zu", c->n);
	T_CHECK(c->p[c->n - 1].step == 1000, "ends at the newest step");
	for (size_t i = 1; i < c->n; i++)
		T_CHECK(c->p[i].step > c->p[i - 1].step, "in step order at %zu", i);
	T_CHECK(fabs(curve_at(c, 500) - 0.02) < 0.001, "interpolated: %g", curve_at(c, 500));
	T_CHECK(curve_from_series(c, NULL) < 0, "no series");
	metrics_free(&m);
	free(c);
}

static void test_worse(void)
{
	static const double pts[][2] = {{0, 4.0}, {100, 2.0}, {200, 1.0}};
	struct curve c;
	struct prune_rule r = {.warmup_steps = 50, .margin = 2, .margin_relative = 0.1};
	double refv, by;

	set(&c, pts, 3);
	T_CHECK(prune_worse(&r, &c, 40, 100, &refv, &by) < 0, "in the warm-up: not judged");
	T_CHECK(prune_worse(&r, &c, 300, 100, &refv, &by) < 0, "past the reference: not judged");
	T_CHECK(prune_worse(&r, &c, 150, NAN, &refv, &by) < 0, "no value: not judged");
	/* Relative: 10 % of the reference's 1.5 at step 150. */
	T_CHECK(prune_worse(&r, &c, 150, 1.66, &refv, &by) == 1, "worse beyond the margin");
	T_CHECK(near(refv, 1.5) && near(by, 0.15), "ref %g, margin %g", refv, by);
	T_CHECK(prune_worse(&r, &c, 150, 1.64, &refv, &by) == 0, "within the margin");
	T_CHECK(prune_worse(&r, &c, 150, 0.5, &refv, &by) == 0, "better");
	/* In σ when one is known. */
	r.sigma = 0.05;
	T_CHECK(prune_worse(&r, &c, 150, 1.61, &refv, &by) == 1 && near(by, 0.1), "2σ: %g", by);
	T_CHECK(prune_worse(&r, &c, 150, 1.59, &refv, &by) == 0, "within 2σ");
	/* Higher is better: worse is lower. */
	r.maximise = true;
	T_CHECK(prune_worse(&r, &c, 150, 1.39, &refv, &by) == 1, "max: lower is worse");
	T_CHECK(prune_worse(&r, &c, 150, 1.61, &refv, &by) == 0, "max: higher is not");
}

int main(void)
{
	T_RUN(test_interpolation);
	T_RUN(test_from_json);
	T_RUN(test_from_series);
	T_RUN(test_worse);
	T_END();
}
