/*
 * noise.h — run-to-run noise, and which nodes improved (SPEC §2).
 *
 * The one place that says which runs belong together (the runs of one
 * commit: the baseline and its seed copies; a candidate and its seed
 * repeats), what the noise σ is, and whether a node counts as improved.
 * The engine's keep rule, the reports, `hypotop status` and the UI all
 * ask here, so that they agree. Pure functions of the tree.
 */
#ifndef HYPOTOP_NOISE_H
#define HYPOTOP_NOISE_H

#include <stdbool.h>
#include <stdint.h>

#include "hypotop/tree.h"
#include "hypotop/util.h"

/* The completed runs of one commit: their mean, sample standard deviation and number. */
struct runs {
	double mean, sd;
	int n;
};

/*
 * The noise: σ pooled over every group of two or more completed runs of
 * one commit whose repeats have all ended (sqrt(Σ(nᵢ−1)sᵢ² / Σ(nᵢ−1))),
 * and the number of runs it rests on. σ is 0 (unknown) with no such group.
 */
struct noise {
	double sigma;
	int runs, groups;
};

/* σ from fewer runs than this is said to be weak wherever it is shown. */
#define NOISE_FEW_RUNS 3

/* A seed repeat: a run of its parent's commit with another seed, to confirm it. */
bool node_is_repeat(const struct node *n);
/*
 * The node n runs again: its parent for a seed repeat, the baseline (n0000)
 * for another root with no change (a seed copy or a retry of it);
 * NODE_NONE for anything else.
 */
uint32_t node_repeat_of(const struct tree *t, const struct node *n);
/*
 * The completed runs of n's commit: for the baseline (or a copy of it)
 * every root with no change; for a repeat, its parent's; else n and its
 * repeats.
 */
void noise_runs(const struct tree *t, const struct node *n, struct runs *out);
void noise_pool(const struct tree *t, struct noise *out);
/* Whether n counts as improved: what the engine's keep rule decided, for every reader. */
bool node_improved(const struct node *n);
/*
 * The difference shown for n, like with like: its mean against its
 * parent's mean (a repeat: its run against its parent's own run). false
 * when there is none. base: the baseline's runs when the caller has them
 * (NULL: counted here).
 */
bool noise_delta(const struct tree *t, const struct node *n, const struct runs *base,
		 double *delta);
/* The decimals the metric is shown with: as many as its values carry, at most 6. */
int noise_decimals(const struct tree *t);
/* "0.50 ± 0.02 (3 runs)"; a lone run "0.50 (1 run)". */
void noise_format_runs(struct buf *b, const struct runs *r, int decimals);
/* "σ 0.02 from 6 runs", "σ unknown (no repeats yet)"; weak ones end "(few runs)". */
void noise_format(struct buf *b, const struct noise *nz, int decimals);

/*
 * The headline every report gives: the best's runs against the baseline's,
 * "n0003 (good): 0.50 ± 0.02 (3 runs), against the baseline's 1.00 ± 0.10
 * (3 runs), -50.00 %"; markdown: the id in bold. Nothing without a best.
 */
void noise_headline(struct buf *b, const struct tree *t, uint32_t best, bool markdown);

/* Said at init and in summary.md while noise.seeds is 1. */
#define NOISE_ONE_SEED                                                                      \
	"noise.seeds is 1: nothing measures the run-to-run noise, so any strict gain, one "  \
	"lucky seed included, counts as an improvement; set noise.seeds to 3 in config.json " \
	"to measure it"

#endif
