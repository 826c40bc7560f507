/*
 * noise.c — run-to-run noise and which nodes improved: see noise.h.
 */
#include "hypotop/noise.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_DECIMALS 6

bool node_is_repeat(const struct node *n)
{
	return n->parent != NODE_NONE && n->seed > 0 && !n->change;
}

uint32_t node_repeat_of(const struct tree *t, const struct node *n)
{
	if (node_is_repeat(n))
		return n->parent;
	if (n->parent == NODE_NONE && n->id != 0 && !n->change && t->len && t->nodes[0].present)
		return 0;
	return NODE_NONE;
}

/* Whether x is a completed run with a metric. */
static bool counts(const struct node *x)
{
	return x->present && x->status == ST_COMPLETED && x->has_metric && isfinite(x->metric);
}

/* Sums of the runs of one group, and whether any of its runs has yet to end. */
struct sums {
	double sum, sq;
	int n;
	bool open;
};

static void add(struct sums *s, const struct node *x)
{
	if (counts(x)) {
		s->sum += x->metric;
		s->sq += x->metric * x->metric;
		s->n++;
	} else if (x->present && !status_is_final((enum node_status)x->status)) {
		s->open = true;
	}
}

static bool is_base_run(const struct node *x)
{
	return x->present && x->parent == NODE_NONE && !x->change;
}

static void group_of(const struct tree *t, const struct node *n, struct sums *s)
{
	memset(s, 0, sizeof *s);
	if (is_base_run(n)) {
		for (uint32_t i = 0; i < t->len; i++)
			if (is_base_run(&t->nodes[i]))
				add(s, &t->nodes[i]);
		return;
	}
	add(s, n);
	for (uint32_t c = n->first_child; c != NODE_NONE && c < t->len;
	     c = t->nodes[c].next_sibling)
		if (t->nodes[c].present && node_is_repeat(&t->nodes[c]))
			add(s, &t->nodes[c]);
}

/* Mean and sample variance; the variance is 0 for fewer than two runs. */
static void moments(const struct sums *s, double *mean, double *var)
{
	*mean = s->n ? s->sum / s->n : 0;
	*var = 0;
	if (s->n > 1) {
		double v = (s->sq - s->n * *mean * *mean) / (s->n - 1);
		*var = v > 0 ? v : 0;
	}
}

void noise_runs(const struct tree *t, const struct node *n, struct runs *out)
{
	struct sums s;
	double var;

	if (node_is_repeat(n) && n->parent < t->len)
		n = &t->nodes[n->parent];
	group_of(t, n, &s);
	moments(&s, &out->mean, &var);
	out->sd = sqrt(var);
	out->n = s.n;
	if (!s.n && n->has_metric) {
		out->mean = n->metric; /* not completed yet: its own value, alone */
	}
}

/* Add a finished group of two runs or more to the pool. */
static void pool_add(const struct sums *s, double *ss, int *dof, struct noise *out)
{
	double mean, var;

	if (s->n < 2 || s->open)
		return;
	moments(s, &mean, &var);
	*ss += var * (s->n - 1);
	*dof += s->n - 1;
	out->runs += s->n;
	out->groups++;
}

void noise_pool(const struct tree *t, struct noise *out)
{
	struct sums base = {0};
	double ss = 0;
	int dof = 0;

	memset(out, 0, sizeof *out);
	for (uint32_t i = 0; i < t->len; i++) {
		const struct node *x = &t->nodes[i];
		if (!x->present)
			continue;
		if (is_base_run(x)) {
			add(&base, x);
			continue;
		}
		if (node_is_repeat(x) || x->first_child == NODE_NONE)
			continue;
		bool any = false;
		for (uint32_t c = x->first_child; c != NODE_NONE && c < t->len && !any;
		     c = t->nodes[c].next_sibling)
			any = t->nodes[c].present && node_is_repeat(&t->nodes[c]);
		if (any) {
			struct sums s;
			group_of(t, x, &s);
			pool_add(&s, &ss, &dof, out);
		}
	}
	/* The baseline's runs measure the noise as they come: they wait for nothing. */
	base.open = false;
	pool_add(&base, &ss, &dof, out);
	out->sigma = dof ? sqrt(ss / dof) : 0;
}

bool node_improved(const struct node *n)
{
	return n->present && n->improved == 1 && n->status == ST_COMPLETED &&
	       n->parent != NODE_NONE && !node_is_repeat(n);
}

bool noise_delta(const struct tree *t, const struct node *n, const struct runs *base,
		 double *delta)
{
	const struct node *p = n->parent != NODE_NONE && n->parent < t->len
				       ? &t->nodes[n->parent]
				       : NULL;
	struct runs a, b;

	if (!p || !p->present || !n->has_metric || !p->has_metric)
		return false;
	if (node_is_repeat(n)) {
		*delta = n->metric - p->metric;
		return true;
	}
	noise_runs(t, n, &a);
	if (base && is_base_run(p))
		b = *base;
	else
		noise_runs(t, p, &b);
	if (!a.n)
		a.mean = n->metric;
	if (!b.n)
		b.mean = p->metric;
	*delta = a.mean - b.mean;
	return true;
}

int noise_decimals(const struct tree *t)
{
	int d = 0;

	for (uint32_t i = 0; i < t->len && d < MAX_DECIMALS; i++) {
		const struct node *x = &t->nodes[i];
		if (x->present && x->has_metric) {
			int k = num_decimals(x->metric);
			d = k > d ? k : d;
		}
	}
	return d > MAX_DECIMALS ? MAX_DECIMALS : d;
}

/* v with d decimals; a spread too small for them in two significant digits. */
static void number(struct buf *b, double v, int d)
{
	char s[64];

	snprintf_c(s, sizeof s, "%.*f", d, v);
	if (v != 0 && strtod_c(s, NULL) == 0)
		snprintf_c(s, sizeof s, "%.2g", v);
	buf_adds(b, s);
}

void noise_format_runs(struct buf *b, const struct runs *r, int decimals)
{
	number(b, r->mean, decimals);
	if (r->n > 1) {
		buf_adds(b, " \xc2\xb1 ");
		number(b, r->sd, decimals);
	}
	buf_printf(b, " (%d run%s)", r->n, r->n == 1 ? "" : "s");
}

void noise_format(struct buf *b, const struct noise *nz, int decimals)
{
	if (!nz->groups) {
		buf_adds(b, "\xcf\x83 unknown (no repeated runs yet)");
		return;
	}
	buf_adds(b, "\xcf\x83 ");
	number(b, nz->sigma, decimals);
	buf_printf(b, " from %d runs%s", nz->runs, nz->runs < NOISE_FEW_RUNS ? " (few runs)" : "");
}

void noise_headline(struct buf *b, const struct tree *t, uint32_t best, bool markdown)
{
	const struct node *n = best < t->len && t->nodes[best].present ? &t->nodes[best] : NULL;
	const struct node *base = t->len && t->nodes[0].present ? &t->nodes[0] : NULL;
	int d = noise_decimals(t);
	char id[NODE_ID_LEN];
	struct runs r, br;

	if (!n)
		return;
	if (node_is_repeat(n))
		n = &t->nodes[n->parent];
	node_id_format(n->id, id);
	noise_runs(t, n, &r);
	if (is_base_run(n) || !base) {
		buf_printf(b, markdown ? "the baseline **%s**: " : "the baseline %s: ", id);
		noise_format_runs(b, &r, d);
		return;
	}
	buf_printf(b, markdown ? "**%s**" : "%s", id);
	if (n->name) {
		buf_adds(b, " (");
		buf_add_safe(b, n->name);
		buf_addc(b, ')');
	}
	buf_adds(b, ": ");
	noise_format_runs(b, &r, d);
	noise_runs(t, base, &br);
	if (!br.n)
		return;
	buf_adds(b, ", against the baseline's ");
	noise_format_runs(b, &br, d);
	if (br.mean != 0)
		buf_printf(b, ", %+.2f %%", 100 * (r.mean - br.mean) / fabs(br.mean));
}
