/* Unit tests: run-to-run noise, and which nodes count as improved (noise.h). */
#include "t.h"

#include <math.h>

#include "hypotop/noise.h"
#include "hypotop/tree.h"

static struct node *run(struct tree *t, uint32_t parent, int seed, const char *change,
			double metric)
{
	struct node *n = tree_add(t, parent);
	n->seed = seed;
	n->change = change ? xstrdup(change) : NULL;
	n->status = ST_COMPLETED;
	n->has_metric = true;
	n->metric = metric;
	return n;
}

#define NEAR(a, b) (fabs((a) - (b)) < 1e-9)

/* The baseline's three runs, a candidate with two repeats, a plain child. */
static void build(struct tree *t)
{
	tree_init(t);
	run(t, NODE_NONE, 0, NULL, 1.0);
	run(t, NODE_NONE, 1, NULL, 1.1);
	run(t, NODE_NONE, 2, NULL, 0.9);
	run(t, 0, 0, "{\"kind\":\"params\"}", 0.3); /* n0003, a lucky candidate */
	run(t, 3, 1, NULL, 1.5);
	run(t, 3, 2, NULL, 1.5);
	run(t, 0, 0, "{\"kind\":\"params\"}", 0.95); /* n0006 */
}

static void groups_are_the_runs_of_one_commit(void)
{
	struct tree t;
	struct runs r;

	build(&t);
	noise_runs(&t, &t.nodes[0], &r);
	T_CHECK(r.n == 3 && NEAR(r.mean, 1.0) && NEAR(r.sd, 0.1), "baseline %d %g %g", r.n,
		r.mean, r.sd);
	noise_runs(&t, &t.nodes[2], &r);
	T_CHECK(r.n == 3 && NEAR(r.mean, 1.0), "a seed copy stands for the baseline");
	noise_runs(&t, &t.nodes[3], &r);
	T_CHECK(r.n == 3 && NEAR(r.mean, 1.1), "candidate %d %g", r.n, r.mean);
	noise_runs(&t, &t.nodes[5], &r);
	T_CHECK(r.n == 3 && NEAR(r.mean, 1.1), "a repeat stands for its parent");
	noise_runs(&t, &t.nodes[6], &r);
	T_CHECK(r.n == 1 && NEAR(r.mean, 0.95) && r.sd == 0, "lone %d %g", r.n, r.mean);
	T_CHECK(node_repeat_of(&t, &t.nodes[4]) == 3 && node_repeat_of(&t, &t.nodes[1]) == 0 &&
			node_repeat_of(&t, &t.nodes[3]) == NODE_NONE &&
			node_repeat_of(&t, &t.nodes[0]) == NODE_NONE,
		"repeat_of");
	tree_free(&t);
}

/* σ pools every finished group, not the baseline's alone, and says on how many runs. */
static void sigma_pools_every_group(void)
{
	struct tree t;
	struct noise nz;

	build(&t);
	noise_pool(&t, &nz);
	/* (2·0.01 + 2·0.48) / 4 */
	T_CHECK(nz.groups == 2 && nz.runs == 6 && NEAR(nz.sigma, sqrt(0.98 / 4)),
		"groups %d runs %d sigma %g", nz.groups, nz.runs, nz.sigma);
	/* A group with a repeat still running waits; the baseline's runs count at once. */
	t.nodes[5].status = ST_RUNNING;
	noise_pool(&t, &nz);
	T_CHECK(nz.groups == 1 && nz.runs == 3 && NEAR(nz.sigma, 0.1), "open group: %d %d %g",
		nz.groups, nz.runs, nz.sigma);
	t.nodes[1].status = ST_RUNNING;
	t.nodes[2].status = ST_RUNNING;
	noise_pool(&t, &nz);
	T_CHECK(nz.groups == 0 && nz.runs == 0 && nz.sigma == 0, "one run: no σ");
	struct buf b;
	buf_init(&b);
	noise_format(&b, &nz, 2);
	T_CONTAINS(b.data, "unknown");
	t.nodes[1].status = ST_COMPLETED;
	noise_pool(&t, &nz);
	buf_reset(&b);
	noise_format(&b, &nz, 2);
	T_STREQ(b.data, "\xcf\x83 0.07 from 2 runs (few runs)");
	buf_free(&b);
	tree_free(&t);
}

static void improved_is_the_keep_rules_and_never_a_repeats(void)
{
	struct tree t;

	build(&t);
	t.nodes[6].improved = 1;
	T_CHECK(node_improved(&t.nodes[6]), "kept");
	t.nodes[3].improved = -1;
	T_CHECK(!node_improved(&t.nodes[3]), "a candidate not yet confirmed");
	t.nodes[4].improved = 1;
	T_CHECK(!node_improved(&t.nodes[4]), "a repeat");
	t.nodes[0].improved = 1;
	T_CHECK(!node_improved(&t.nodes[0]), "the baseline");
	tree_free(&t);
}

static void deltas_compare_like_with_like(void)
{
	struct tree t;
	double d;

	build(&t);
	T_CHECK(noise_delta(&t, &t.nodes[3], NULL, &d) && NEAR(d, 0.1), "mean vs mean: %g", d);
	T_CHECK(noise_delta(&t, &t.nodes[4], NULL, &d) && NEAR(d, 1.2), "repeat vs its run: %g",
		d);
	struct runs base = {2.0, 0, 3};
	T_CHECK(noise_delta(&t, &t.nodes[6], &base, &d) && NEAR(d, -1.05), "given base: %g", d);
	T_CHECK(!noise_delta(&t, &t.nodes[0], NULL, &d), "the baseline has no parent");
	tree_free(&t);
}

static void means_keep_the_metrics_precision(void)
{
	struct tree t;
	struct buf b;

	build(&t);
	T_CHECK(noise_decimals(&t) == 2, "decimals %d", noise_decimals(&t));
	t.nodes[6].metric = 0.123456789;
	T_CHECK(noise_decimals(&t) == 6, "capped: %d", noise_decimals(&t));
	t.nodes[6].metric = 1.5e-05;
	T_CHECK(noise_decimals(&t) == 6, "exponent: %d", noise_decimals(&t));
	buf_init(&b);
	struct runs r = {1.0000000002, 0.1, 3};
	noise_format_runs(&b, &r, 2);
	T_STREQ(b.data, "1.00 \xc2\xb1 0.10 (3 runs)");
	buf_reset(&b);
	r = (struct runs){0.5, 0, 1};
	noise_format_runs(&b, &r, 1);
	T_STREQ(b.data, "0.5 (1 run)");
	buf_reset(&b);
	r = (struct runs){2.0, 0.003, 2};
	noise_format_runs(&b, &r, 0);
	T_STREQ(b.data, "2 \xc2\xb1 0.003 (2 runs)");
	buf_free(&b);
	tree_free(&t);
}

int main(void)
{
	T_RUN(groups_are_the_runs_of_one_commit);
	T_RUN(sigma_pools_every_group);
	T_RUN(improved_is_the_keep_rules_and_never_a_repeats);
	T_RUN(deltas_compare_like_with_like);
	T_RUN(means_keep_the_metrics_precision);
	T_END();
}
