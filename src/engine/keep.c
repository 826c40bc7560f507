/*
 * keep.c — the noise-aware keep rule (SPEC §2): which result is the best.
 *
 * The baseline runs noise.seeds times (the baseline and its seed copies);
 * the spread of the runs of one commit, pooled over every such group
 * (noise.h: the baseline's and each candidate's), σ, is the noise. An
 * experiment counts as an improvement only when it beats the mean of the
 * best's runs by more than noise.k × σ. One
 * that does is a candidate: it runs again with noise.seeds − 1 other
 * seeds (repeats: children with no change, so they run its commit), and
 * becomes the best, and so the parent of new work, only if the mean of
 * its runs still beats the best by that margin.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
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

/* The noise and the baseline's runs, counted again after a node has ended. */
static void count(struct sched *s)
{
	if (s->noise_known)
		return;
	noise_pool(&s->wd->tree, &s->noise);
	const struct node *base = tree_get(&s->wd->tree, 0);
	if (base)
		noise_runs(&s->wd->tree, base, &s->base);
	else
		memset(&s->base, 0, sizeof s->base);
	s->noise_known = true;
}

const struct noise *sched_noise(struct sched *s)
{
	count(s);
	return &s->noise;
}

void sched_runs(struct sched *s, const struct node *n, struct runs *r)
{
	struct tree *t = &s->wd->tree;

	if (n->parent == NODE_NONE && !n->change) {
		count(s);
		*r = s->base;
		if (!r->n && n->has_metric)
			r->mean = n->metric;
		return;
	}
	noise_runs(t, n, r);
}

double sched_score(struct sched *s, const struct node *n)
{
	struct runs r;

	sched_runs(s, n, &r);
	return r.mean;
}

double sched_noise_sigma(struct sched *s)
{
	return sched_noise(s)->sigma;
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

/* "val_loss 0.50 ± 0.02 (3 runs) against the best's 1.00 ± 0.10 (3 runs), σ 0.40 from 9 runs" */
static void compare_text(struct sched *s, struct buf *b, const struct node *n,
			 const struct node *best)
{
	struct runs a, r;
	int d = noise_decimals(&s->wd->tree);

	sched_runs(s, n, &a);
	buf_printf(b, "%s ", s->wd->cfg.metric);
	noise_format_runs(b, &a, d);
	if (best) {
		sched_runs(s, best, &r);
		buf_adds(b, " against the best's ");
		noise_format_runs(b, &r, d);
	}
	buf_adds(b, ", ");
	noise_format(b, sched_noise(s), d);
	buf_printf(b, ", k %g", s->wd->cfg.noise_k);
}

/* Every repeat of c has ended: judge c on the mean of its runs. */
static void confirm(struct sched *s, struct node *c)
{
	char cid[NODE_ID_LEN];
	struct runs r;
	struct buf b;

	node_id_format(c->id, cid);
	sched_runs(s, c, &r);
	buf_init(&b);
	compare_text(s, &b, c, best_node(s));
	c->improved = beats_best(s, r.mean);
	if (c->improved)
		s->wd->st.best = c->id;
	sched_record(s, "judged", c);
	sched_say(s, "%s: %s over %d run%s: %s%s", cid,
		  c->improved ? "confirmed" : "not confirmed", r.n, r.n == 1 ? "" : "s", b.data,
		  c->improved ? " (best so far)" : "");
	char *what = xasprintf("%s: %s", c->improved ? "Confirmed" : "Not confirmed", b.data);
	sched_note_judged(s, c, c->improved ? "Confirmed by its repeats" : "Not confirmed by its repeats",
			  what, true);
	free(what);
	buf_free(&b);
}

/* How many repeats c has, and how many of them have not ended. */
static int repeats(struct sched *s, const struct node *c, int *open)
{
	const struct tree *t = &s->wd->tree;
	int k = 0;

	*open = 0;
	for (uint32_t i = c->first_child; i != NODE_NONE; i = t->nodes[i].next_sibling) {
		const struct node *x = &t->nodes[i];
		if (x->present && node_is_repeat(x)) {
			k++;
			*open += !status_is_final(x->status);
		}
	}
	return k;
}

enum keep_call sched_keep_call(struct sched *s, const struct node *n, bool ok)
{
	if (n->parent == NODE_NONE && !n->change)
		return KEEP_REFERENCE;
	if (node_is_repeat(n))
		return KEEP_REPEAT;
	if (!ok || !n->has_metric)
		return KEEP_NO;
	if (!best_node(s))
		return KEEP_UNSAID; /* ran beside the baseline, ended before it: judged later */
	if (!beats_best(s, n->metric))
		return KEEP_NO;
	return s->wd->cfg.noise_seeds > 1 ? KEEP_CANDIDATE : KEEP_IMPROVED;
}

void sched_judge(struct sched *s, struct node *n, bool ok, enum keep_call call)
{
	struct workdir *w = s->wd;
	int open;

	s->noise_known = false; /* a run has ended: the noise is counted again when next asked */
	if (node_is_repeat(n)) {
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
		/* The first result of the baseline is the reference; a child that
		 * ended before it waits for it (sched_judge_waiting). */
		if (n->parent == NODE_NONE && !n->change) {
			w->st.best = n->id;
			sched_judge_waiting(s);
		}
		return;
	}
	if (n->parent == NODE_NONE) {
		/* The baseline's copies measure the noise; they improve nothing.
		 * The baseline itself stands for all of them, whichever ended first. */
		if (n->id == 0 && best->parent == NODE_NONE)
			w->st.best = n->id;
		return;
	}
	/* The call made when the run ended, which its analysis was told. */
	bool better = call == KEEP_CANDIDATE || call == KEEP_IMPROVED;
	if (better && repeats(s, n, &open)) {
		/* Judged again after a restart: its repeats are queued already. */
		if (!open)
			confirm(s, n);
		return;
	}
	if (call == KEEP_CANDIDATE) {
		char nid[NODE_ID_LEN];
		struct buf b;
		buf_init(&b);
		compare_text(s, &b, n, best);
		node_id_format(n->id, nid);
		sched_say(s, "%s: beats the best on one run (%s); running it with %ld more seed%s "
			     "to confirm",
			  nid, b.data, w->cfg.noise_seeds - 1, w->cfg.noise_seeds == 2 ? "" : "s");
		buf_free(&b);
		add_repeats(s, n); /* n->improved stays unknown until they end */
		return;
	}
	n->improved = better;
	if (better)
		w->st.best = n->id;
}

/*
 * Children that ended before the baseline had a result (they ran beside
 * it), judged once it has one: in id order, as if they had ended now.
 */
void sched_judge_waiting(struct sched *s)
{
	struct tree *t = &s->wd->tree;
	int open;

	if (!best_node(s))
		return;
	for (uint32_t id = 0; id < t->len; id++) {
		struct node *x = &t->nodes[id];
		if (!x->present || x->status != ST_COMPLETED || x->parent == NODE_NONE ||
		    !x->has_metric || x->improved >= 0 || node_is_repeat(x) ||
		    repeats(s, x, &open))
			continue;
		enum keep_call call = sched_keep_call(s, x, true);
		uint32_t ref = s->wd->st.best;
		sched_judge(s, x, true, call); /* may add nodes: x moves */
		x = tree_get(t, id);
		if (call == KEEP_CANDIDATE)
			continue; /* its repeats judge it */
		char xid[NODE_ID_LEN];
		struct buf b;
		node_id_format(id, xid);
		buf_init(&b);
		compare_text(s, &b, x, tree_get(t, ref));
		sched_record(s, "judged", x);
		sched_say(s, "%s: judged on the baseline's result: %s%s", xid, b.data,
			  x->improved == 1 ? " (best so far)" : "");
		sched_note_judged(s, x, "Judged against the baseline's result", b.data, false);
		buf_free(&b);
	}
}
