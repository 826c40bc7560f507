/*
 * keep.c — the noise-aware keep rule (SPEC §2): which result is the best.
 *
 * The baseline runs noise.seeds times (the baseline and its seed copies);
 * the spread of those runs, σ, is the noise. An experiment counts as an
 * improvement only when it beats the best by more than noise.k × σ. One
 * that does is a candidate: it runs again with noise.seeds − 1 other
 * seeds (repeats: children with no change, so they run its commit), and
 * becomes the best, and so the parent of new work, only if the mean of
 * its runs still beats the best by that margin.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "hypotop/lifecycle.h"

bool sched_goal_max(struct sched *s)
{
	return !strcmp(s->wd->cfg.goal, "max");
}

double sched_gain(struct sched *s, double a, double b)
{
	return sched_goal_max(s) ? a - b : b - a;
}

bool sched_is_repeat(const struct node *n)
{
	return n->parent != NODE_NONE && n->seed > 0 && !n->change;
}

/* Add x to the sums when it is a completed run with a metric. */
static void add_run(const struct node *x, double *sum, double *sq, int *k)
{
	if (x->present && x->status == ST_COMPLETED && x->has_metric) {
		*sum += x->metric;
		*sq += x->metric * x->metric;
		(*k)++;
	}
}

/*
 * Mean and sample standard deviation of n's runs; the number of runs.
 * The baseline's are every root (it, its seed copies and their retries):
 * they change only when a root ends, so they are counted once then.
 * Another node's are it and its repeats, found among its children.
 */
static int runs_of(struct sched *s, const struct node *n, double *mean, double *sd)
{
	const struct tree *t = &s->wd->tree;
	double sum = 0, sq = 0;
	int k = 0;

	if (n->parent == NODE_NONE && s->base_runs >= 0) {
		*mean = s->base_mean;
		*sd = s->base_sd;
		return s->base_runs;
	}
	if (n->parent == NODE_NONE) {
		for (uint32_t i = 0; i < t->len; i++)
			if (t->nodes[i].parent == NODE_NONE)
				add_run(&t->nodes[i], &sum, &sq, &k);
	} else {
		add_run(n, &sum, &sq, &k);
		for (uint32_t c = n->first_child; c != NODE_NONE; c = t->nodes[c].next_sibling)
			if (sched_is_repeat(&t->nodes[c]))
				add_run(&t->nodes[c], &sum, &sq, &k);
	}
	*mean = k ? sum / k : n->metric;
	double var = k > 1 ? (sq - k * *mean * *mean) / (k - 1) : 0;
	*sd = var > 0 ? sqrt(var) : 0;
	if (n->parent == NODE_NONE) {
		s->base_mean = *mean;
		s->base_sd = *sd;
		s->base_runs = k;
	}
	return k;
}

double sched_score(struct sched *s, const struct node *n)
{
	double mean, sd;

	runs_of(s, n, &mean, &sd);
	return mean;
}

double sched_noise_sigma(struct sched *s)
{
	const struct node *base = tree_get(&s->wd->tree, 0);
	double mean, sd;

	if (!base || runs_of(s, base, &mean, &sd) < 2)
		return 0;
	return sd;
}

static struct node *best_node(struct sched *s)
{
	uint32_t b = s->wd->st.best;

	return b == NODE_NONE ? NULL : tree_get(&s->wd->tree, b);
}

/* Whether a score beats the best's by more than k·σ. */
static bool beats_best(struct sched *s, double score)
{
	const struct node *best = best_node(s);

	return sched_gain(s, score, sched_score(s, best)) >
	       s->wd->cfg.noise_k * sched_noise_sigma(s);
}

/* Queue noise.seeds − 1 repeats of candidate c, ahead of other work. */
static void add_repeats(struct sched *s, struct node *c)
{
	char cid[NODE_ID_LEN];

	node_id_format(c->id, cid);
	for (long k = 1; k < s->wd->cfg.noise_seeds; k++) {
		struct node *n = tree_add(&s->wd->tree, c->id);
		if (!n) {
			sched_say(s, "warning: %s: no repeat added: the tree is full", cid);
			return;
		}
		c = tree_get(&s->wd->tree, n->parent); /* the tree may have moved */
		n->name = xasprintf("%s-seed-%ld", c->name ? c->name : cid, k);
		n->hypothesis = xasprintf("%s again with seed +%ld, to confirm that it beats the "
					  "best beyond the noise (noise.seeds).",
					  cid, k);
		n->seed = (int)k;
		n->priority = -1;
		n->status = n->resume_to = ST_QUEUED;
		workdir_record(s->wd, "add", n); /* and into the queue */
	}
}

/* Every repeat of c has ended: judge c on the mean of its runs. */
static void confirm(struct sched *s, struct node *c)
{
	char cid[NODE_ID_LEN];
	double mean, sd;
	int runs = runs_of(s, c, &mean, &sd);

	node_id_format(c->id, cid);
	c->improved = beats_best(s, mean);
	if (c->improved)
		s->wd->st.best = c->id;
	sched_record(s, "judged", c);
	sched_say(s, "%s: %s over %d run%s: %s=%.6g (spread %.3g)%s", cid,
		  c->improved ? "confirmed" : "not confirmed", runs, runs == 1 ? "" : "s",
		  s->wd->cfg.metric, mean, sd, c->improved ? " (best so far)" : "");
}

/* How many repeats c has, and how many of them have not ended. */
static int repeats(struct sched *s, const struct node *c, int *open)
{
	const struct tree *t = &s->wd->tree;
	int k = 0;

	*open = 0;
	for (uint32_t i = c->first_child; i != NODE_NONE; i = t->nodes[i].next_sibling) {
		const struct node *x = &t->nodes[i];
		if (x->present && sched_is_repeat(x)) {
			k++;
			*open += !status_is_final(x->status);
		}
	}
	return k;
}

void sched_judge(struct sched *s, struct node *n, bool ok)
{
	struct workdir *w = s->wd;
	int open;

	if (n->parent == NODE_NONE)
		s->base_runs = -1; /* the baseline's runs are counted again when next asked */
	if (sched_is_repeat(n)) {
		struct node *c = tree_get(&w->tree, n->parent);
		if (c && c->improved < 0 && c->status == ST_COMPLETED && repeats(s, c, &open) &&
		    !open)
			confirm(s, c);
		return;
	}
	if (!ok || !n->has_metric)
		return;
	struct node *best = best_node(s);
	if (!best) {
		w->st.best = n->id; /* the first result is the reference */
		return;
	}
	if (n->parent == NODE_NONE) {
		/* The baseline's copies measure the noise; they improve nothing.
		 * The baseline itself stands for all of them, whichever ended first. */
		if (n->id == 0 && best->parent == NODE_NONE)
			w->st.best = n->id;
		return;
	}
	bool better = beats_best(s, n->metric);
	if (better && repeats(s, n, &open)) {
		/* Judged again after a restart: its repeats are queued already. */
		if (!open)
			confirm(s, n);
		return;
	}
	if (better && w->cfg.noise_seeds > 1) {
		char nid[NODE_ID_LEN];
		node_id_format(n->id, nid);
		sched_say(s, "%s: beats the best; running it with %ld more seed%s to confirm", nid,
			  w->cfg.noise_seeds - 1, w->cfg.noise_seeds == 2 ? "" : "s");
		add_repeats(s, n); /* n->improved stays unknown until they end */
		return;
	}
	n->improved = better;
	if (better)
		w->st.best = n->id;
}
