/*
 * offline.c — the built-in planner (SPEC §7): no network, no key.
 *
 * It plans in the config's search_space with a surrogate model of the
 * runs so far: a space-filling start while there are few runs, then the
 * candidate of highest expected improvement under a Gaussian process
 * (offline_gp.c) of those the tree-structured Parzen estimator draws
 * (offline_tpe.c), each proposal of a batch observed while it waits so
 * that the batch spreads out.
 * A configuration already run (or already proposed in the same answer)
 * is never proposed again; when the model's candidates are
 * all taken it samples the whole space, and a small finite space is
 * walked point by point, so that "nothing new left" is a fact and not bad
 * luck. The random stream is a pure function of the config's seed and the
 * planning round: the same workdir plans the same experiments after any
 * restart.
 *
 * It analyses by the noise-aware rule of SPEC §2 and writes down what it
 * compared, so that a person can check the verdict by hand.
 */
#include "hypotop/planner.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hypotop/params.h"

#include "hypotop/json.h"
#include "hypotop/offline_int.h"

/* Candidates drawn from l(x) for each proposal (Optuna draws 24). */
#define CANDIDATES 64
#define MODEL_TRIES 4
#define START_TRIES 64
#define SAMPLE_TRIES 200
/* A space of only int and choice parameters up to this many points is walked whole. */
#define WALK_LIMIT 10000


/* ---- numbers that read well ---- */

static double clampd(double v, double lo, double hi)
{
	return v < lo ? lo : v > hi ? hi : v;
}

/* v to 3 significant digits, rounded by fn (round, floor or ceil). */
static double sig3(double v, double (*fn)(double))
{
	if (v == 0 || !isfinite(v))
		return v;
	int k = 2 - (int)floor(log10(fabs(v)));
	if (abs(k) > 300)
		return v;
	/* Scale by an exact power of ten so that 0.0031 comes out as the double nearest 0.0031. */
	double p = pow(10, abs(k));
	return k >= 0 ? fn(v * p) / p : fn(v / p) * p;
}

/* v clamped to [lo, hi] and rounded to 3 significant digits without leaving it. */
static double tidy(double v, double lo, double hi)
{
	v = clampd(v, lo, hi);
	double r = sig3(v, round);
	if (r > hi)
		r = sig3(v, floor);
	if (r < lo)
		r = sig3(v, ceil);
	return r >= lo && r <= hi ? r : v;
}

/* ---- configurations ---- */

static bool scalar(const cJSON *v)
{
	return v && (cJSON_IsNumber(v) || cJSON_IsString(v) || cJSON_IsBool(v));
}

bool offline_value_equal(const cJSON *a, const cJSON *b)
{
	if (cJSON_IsNumber(a) && cJSON_IsNumber(b)) {
		double x = a->valuedouble, y = b->valuedouble;
		return x == y || fabs(x - y) <= 1e-9 * fmax(fabs(x), fabs(y));
	}
	return cJSON_Compare(a, b, true);
}

static const struct sparam *space_find(const struct offline *o, const char *name)
{
	for (size_t i = 0; i < o->n; i++)
		if (!strcmp(o->v[i].name, name))
			return &o->v[i];
	return NULL;
}

/*
 * Other settings that only one side names are ignored: they come from how
 * a file was read, not from an experiment.
 */
bool offline_same_config(const struct offline *o, const cJSON *a, const cJSON *b)
{
	for (int pass = 0; pass < 2; pass++) {
		const cJSON *x = pass ? b : a, *y = pass ? a : b;
		for (const cJSON *m = x->child; m; m = m->next) {
			const cJSON *w = cJSON_GetObjectItemCaseSensitive(y, m->string);
			if (w ? !offline_value_equal(m, w) : space_find(o, m->string) != NULL)
				return false;
		}
	}
	return true;
}

/* The value a setting has in params (or else the baseline); NULL when unset. */
static const cJSON *value_in(const char *name, const cJSON *params, const struct plan_request *r)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(params, name);

	if (!scalar(v))
		v = cJSON_GetObjectItemCaseSensitive(r->base_params, name);
	return scalar(v) ? v : NULL;
}

/* The value a parameter has in the node asked about. */
static const cJSON *actual_value(const struct sparam *sp, const struct plan_request *r)
{
	return value_in(sp->name, r->node_params, r);
}

/* The value coordinate u gives a parameter (tpe_coord), as a person reads it. */
static cJSON *point_value(const struct sparam *sp, double u)
{
	if (sp->dist == D_CHOICE) {
		int k = u < 0 ? 0 : u >= sp->nchoices ? sp->nchoices - 1 : (int)u;
		return cJSON_Duplicate(cJSON_GetArrayItem(sp->choices, k), true);
	}
	double v = tpe_number(sp, u);
	return cJSON_CreateNumber(sp->dist == D_INT ? v : tidy(v, sp->lo, sp->hi));
}

/* A point drawn from the whole range of the parameter. */
static cJSON *sample(const struct sparam *sp, struct rng *g)
{
	return point_value(sp, sp->dist == D_CHOICE ? (double)rng_below(g, (uint64_t)sp->nchoices)
						    : rng_unit(g));
}

/* The changes that take the node to point x; NULL when it is the node. */
static cJSON *point_changes(const struct offline *o, const struct plan_request *r,
			    const double *x)
{
	cJSON *changes = cJSON_CreateObject();

	for (size_t i = 0; i < o->n; i++) {
		cJSON *v = point_value(&o->v[i], x[i]);
		const cJSON *actual = actual_value(&o->v[i], r);
		if (actual && offline_value_equal(v, actual))
			cJSON_Delete(v);
		else
			cJSON_AddItemToObject(changes, o->v[i].name, v);
	}
	if (changes->child)
		return changes;
	cJSON_Delete(changes);
	return NULL;
}

static uint64_t radix(const struct sparam *sp)
{
	return sp->dist == D_INT ? (uint64_t)(sp->hi - sp->lo) + 1 : (uint64_t)sp->nchoices;
}

/* Points of the space when all are int or choice and there are few; else 0. */
static uint64_t space_size(const struct offline *o)
{
	uint64_t total = 1;

	for (size_t i = 0; i < o->n; i++) {
		if (o->v[i].dist == D_LOG || o->v[i].dist == D_UNIFORM ||
		    o->v[i].hi - o->v[i].lo >= WALK_LIMIT || (total *= radix(&o->v[i])) > WALK_LIMIT)
			return 0;
	}
	return total;
}

/*
 * The changes to a whole point of the space: drawn at random with g, or
 * else point idx of a finite space (a mixed-radix number).
 */
static cJSON *try_point(const struct offline *o, const struct plan_request *r, struct rng *g,
			uint64_t idx)
{
	cJSON *changes = cJSON_CreateObject();

	for (size_t i = 0; i < o->n; i++) {
		const struct sparam *sp = &o->v[i];
		uint64_t d = g ? 0 : idx % radix(sp); /* radix() only exists for a finite space */
		cJSON *v = g ? sample(sp, g)
			   : sp->dist == D_INT ? cJSON_CreateNumber(sp->lo + (double)d)
					       : cJSON_Duplicate(cJSON_GetArrayItem(sp->choices, (int)d), true);
		idx = g ? 0 : idx / radix(sp);
		const cJSON *actual = actual_value(sp, r);
		if (actual && offline_value_equal(v, actual))
			cJSON_Delete(v);
		else
			cJSON_AddItemToObject(changes, sp->name, v);
	}
	if (changes->child)
		return changes;
	cJSON_Delete(changes);
	return NULL;
}

/* The configurations of one answer so far. */
struct answer {
	cJSON *full[PLAN_WANT_MAX];
	size_t n;
};

/*
 * changes, with the directive's fixed values added, when they lead to a
 * configuration neither run nor proposed nor avoided; else NULL (freed).
 */
static cJSON *keep_if_new(const struct steer *st, const struct plan_request *r,
			  struct answer *ans, cJSON *changes)
{
	const struct offline *o = &st->view;

	if (!changes)
		return NULL;
	for (const cJSON *f = st->fixed->child; f; f = f->next) {
		const cJSON *actual = actual_value(space_find(o, f->string), r);
		if (!cJSON_GetObjectItemCaseSensitive(changes, f->string) &&
		    !(actual && offline_value_equal(actual, f)))
			cJSON_AddItemToObject(changes, f->string, cJSON_Duplicate(f, true));
	}
	const cJSON *basis = cJSON_IsObject(r->node_params) ? r->node_params : r->base_params;
	cJSON *full = cJSON_IsObject(basis) ? cJSON_Duplicate(basis, true) : cJSON_CreateObject();
	for (const cJSON *c = changes->child; c; c = c->next) {
		cJSON_DeleteItemFromObjectCaseSensitive(full, c->string);
		cJSON_AddItemToObject(full, c->string, cJSON_Duplicate(c, true));
	}
	bool seen = !steer_allows(st, full);
	for (size_t i = 0; i < r->nhistory && !seen; i++)
		seen = cJSON_IsObject(r->history[i].params) &&
		       offline_same_config(o, full, r->history[i].params);
	for (size_t i = 0; i < ans->n && !seen; i++)
		seen = offline_same_config(o, full, ans->full[i]);
	if (seen) {
		cJSON_Delete(full);
		cJSON_Delete(changes);
		return NULL;
	}
	ans->full[ans->n++] = full;
	return changes;
}

/* ---- proposals ---- */


/* A value as a person reads it in a sentence. */
static void value_text(char *out, size_t n, const cJSON *v)
{
	if (cJSON_IsNumber(v))
		snprintf(out, n, "%g", v->valuedouble);
	else
		snprintf(out, n, "%s", cJSON_IsString(v) ? v->valuestring
				       : cJSON_IsTrue(v) ? "true"
							 : "false");
}

/*
 * "lr-0p0031-layers-3": lowercase a-z, 0-9 and single '-', as the contract
 * wants; a decimal point reads 'p' and a minus sign 'm' so numbers survive.
 */
static void proposal_name(char *out, size_t n, const cJSON *changes)
{
	size_t len = 0, whole = 0;
	bool cut = false;

	for (const cJSON *c = changes->child; c && !cut; c = c->next) {
		char v[64], *word[] = {c->string, v};
		value_text(v, sizeof v, c);
		for (int w = 0; w < 2; w++) {
			const char *s = word[w];
			for (; *s && len + 1 < n; s++) {
				char ch = *s >= 'A' && *s <= 'Z' ? (char)(*s - 'A' + 'a') : *s;
				if (w && cJSON_IsNumber(c) && (ch == '.' || (ch == '-' && s == v)))
					ch = ch == '.' ? 'p' : 'm';
				if ((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9'))
					out[len++] = ch;
				else if (len && out[len - 1] != '-' && ch != '+')
					out[len++] = '-';
			}
			cut |= *s != '\0';
			if (len && len + 1 < n && out[len - 1] != '-')
				out[len++] = '-';
		}
		if (!cut)
			whole = len;
	}
	/* Too long for a name: the settings that fit whole, not half of one. */
	if (cut && whole)
		len = whole;
	while (len && out[len - 1] == '-')
		len--;
	out[len] = '\0';
	if (!len)
		snprintf(out, n, "params");
}

/* Where a proposal came from, for its hypothesis and the round's reason. */
enum origin { FROM_START, FROM_GP, FROM_MODEL, FROM_SAMPLE };
#define ORIGINS 4

/* What one proposal rests on: its origin and what the model said of it. */
struct pick {
	enum origin from;
	uint64_t index;      /* FROM_START: the point of the sequence */
	double ratio;        /* FROM_MODEL: l(x)/g(x) */
	size_t good, seen;   /* the observations l(x) rests on, of all seen */
	bool has_estimate;
	double mean, sd, weight; /* tpe_estimate() at the point */
	bool has_expect;
	double expect, spread;   /* FROM_GP: what the Gaussian process expects there */
};

/*
 * "lr 0.01 → 0.0031, layers 2 → 3: may lower val_loss: the surrogate's
 * pick of 24 candidates (...); the runs near it average val_loss 0.08 ±
 * 0.03 (...)".
 */
static void hypothesis_text(struct buf *b, const struct plan_request *r,
			    const cJSON *parent, const cJSON *changes, const struct pick *k)
{
	const char *verb = goal_is_max(r->cfg) ? "raise" : "lower", *metric = metric_of(r->cfg);

	for (const cJSON *c = changes->child; c; c = c->next) {
		const cJSON *actual = value_in(c->string, parent, r);
		char nv[64], ov[64];
		value_text(nv, sizeof nv, c);
		if (actual)
			value_text(ov, sizeof ov, actual);
		buf_printf(b, "%s%s %s%s%s", c == changes->child ? "" : ", ", c->string,
			   actual ? ov : "set to ", actual ? " → " : "", nv);
	}
	buf_printf(b, ": may %s %s: ", verb, metric);
	if (k->from == FROM_START)
		buf_printf(b, "point %llu of the space-filling start, which covers the space "
			      "before the surrogate is fitted (%zu configuration%s seen)",
			   (unsigned long long)k->index + 1, k->seen, k->seen == 1 ? "" : "s");
	else if (k->from == FROM_MODEL)
		buf_printf(b, "the surrogate's pick of %d candidates (TPE: l/g %.2g, the best %zu "
			      "of %zu configurations as good)",
			   CANDIDATES, k->ratio, k->good, k->seen);
	else if (k->from == FROM_GP)
		buf_printf(b, "the surrogate's pick (a Gaussian process: the highest expected "
			      "improvement of %d candidates, drawn by TPE and across the space; %zu "
			      "configurations seen)",
			   3 * CANDIDATES, k->seen);
	else
		buf_printf(b, "an untried point of the space (the surrogate's candidates were all "
			      "tried or avoided)");
	if (k->has_expect)
		buf_printf(b, "; it expects %s %.3g ± %.2g here", metric, k->expect, k->spread);
	else if (k->has_estimate)
		buf_printf(b, "; the runs near it average %s %.3g ± %.2g (kernel-weighted, %.1f "
			      "run%s' worth)",
			   metric, k->mean, k->sd, k->weight, k->weight == 1 ? "" : "s");
}

/*
 * A proposal of changes to the node parent (the node asked about when
 * parent is NULL); changes is taken.
 */
static cJSON *proposal_new(const struct plan_request *r, const struct plan_entry *parent,
			   cJSON *changes, const struct pick *k, const cJSON *props)
{
	char name[64], base[45]; /* base and a "-K" suffix stay within 48 */
	struct buf h;
	cJSON *p = cJSON_CreateObject(), *ch = cJSON_CreateObject();

	proposal_name(base, sizeof base, changes);
	snprintf(name, sizeof name, "%s", base);
	/* Distinct names in one answer, so that branches and logs tell them apart. */
	for (int n = 2;; n++) {
		const cJSON *q = props->child;
		while (q && strcmp(cJSON_GetObjectItemCaseSensitive(q, "name")->valuestring, name))
			q = q->next;
		if (!q)
			break;
		snprintf(name, sizeof name, "%s-%d", base, n % 1000);
	}
	buf_init(&h);
	hypothesis_text(&h, r, parent ? parent->params : r->node_params, changes, k);
	cJSON_AddStringToObject(p, "name", name);
	cJSON_AddStringToObject(p, "hypothesis", h.data);
	cJSON_AddNumberToObject(p, "priority", 0);
	cJSON_AddFalseToObject(p, "needs_rebuild");
	cJSON_AddStringToObject(ch, "kind", "params");
	cJSON_AddItemToObject(ch, "params", changes);
	cJSON_AddItemToObject(p, "change", ch);
	if (parent && (!r->node || strcmp(parent->id, r->node)))
		cJSON_AddStringToObject(p, "parent", parent->id);
	buf_free(&h);
	return p;
}

/* The settings of full that params does not hold as they are: full's changes to it. */
static cJSON *changes_to(const cJSON *params, const cJSON *full)
{
	cJSON *changes = cJSON_CreateObject();

	for (const cJSON *m = full->child; m; m = m->next) {
		const cJSON *v = cJSON_GetObjectItemCaseSensitive(params, m->string);
		if (!v || !offline_value_equal(m, v))
			cJSON_AddItemToObject(changes, m->string, cJSON_Duplicate(m, true));
	}
	return changes;
}

/*
 * Configurations to see before the surrogate is fitted: the baseline and
 * two rounds of the space-filling start. Measured on tests/bench/search.py
 * with the engine's overlapping rounds: one round was too few to find the
 * right basin of a choice parameter by 19 runs, three cost more than they
 * taught.
 */
static size_t start_size(int want)
{
	return 2 * (size_t)want + 1;
}

/* x's whole numbers where their values will be: the middle of their cells. */
static void snap(const struct offline *o, double *x)
{
	for (size_t i = 0; i < o->n; i++)
		if (o->v[i].dist == D_INT)
			x[i] = (tpe_number(&o->v[i], x[i]) - o->v[i].lo + 0.5) /
			       (o->v[i].hi - o->v[i].lo + 1);
}

/* Highest expected improvement first; ties in the order drawn, so that the answer repeats. */
static int by_ei(const void *a, const void *b)
{
	const double *x = a, *y = b;

	if (x[0] != y[0])
		return x[0] < y[0] ? 1 : -1;
	return (x[1] > y[1]) - (x[1] < y[1]);
}

/*
 * The Gaussian process's pick: of the candidates the Parzen estimator
 * draws (from its good density, and from the trust region around the
 * best) and points drawn uniformly, the one of highest expected
 * improvement not yet tried.
 */
static cJSON *gp_propose(const struct steer *st, const struct plan_request *r,
			 struct answer *ans, struct tpe *m, const struct gp *gp, struct rng *g,
			 double *x, struct pick *k)
{
	const struct offline *o = &st->view;
	size_t d = o->n ? o->n : 1, nc = 3 * CANDIDATES, w = d + 2;
	double *xs = xcalloc(nc * d, sizeof *xs), score[CANDIDATES];
	double *rank = xcalloc(nc * w, sizeof *rank);
	cJSON *changes = NULL;

	k->good = tpe_suggest(m, g, CANDIDATES, xs, score, false);
	tpe_suggest(m, g, CANDIDATES, xs + CANDIDATES * d, score, true);
	for (size_t c = 2 * CANDIDATES; c < nc; c++) {
		for (size_t i = 0; i < o->n; i++)
			xs[c * d + i] = o->v[i].dist == D_CHOICE
						? (double)rng_below(g, (uint64_t)o->v[i].nchoices)
						: rng_unit(g);
		snap(o, xs + c * d);
	}
	for (size_t c = 0; c < nc; c++) {
		rank[c * w] = gp_ei(gp, xs + c * d);
		rank[c * w + 1] = (double)c;
		memcpy(rank + c * w + 2, xs + c * d, o->n * sizeof *xs);
	}
	qsort(rank, nc, w * sizeof *rank, by_ei);
	k->from = FROM_GP;
	for (size_t c = 0; c < nc && !changes; c++)
		if ((changes = keep_if_new(st, r, ans, point_changes(o, r, rank + c * w + 2)))) {
			memcpy(x, rank + c * w + 2, o->n * sizeof *x);
			k->ratio = rank[c * w];
			k->has_expect = true;
			gp_expect(gp, x, &k->expect, &k->spread);
			k->expect = goal_is_max(r->cfg) ? -k->expect : k->expect;
		}
	free(rank);
	free(xs);
	return changes;
}

/*
 * One proposal: from the space-filling start while few configurations are
 * seen or fewer than two have a metric to model, else the Gaussian
 * process's best candidate not yet tried; the Parzen estimator's when
 * neither has one (a space narrowed by directive.md). x receives its
 * point; NULL when none has a new one.
 */
static cJSON *propose(const struct steer *st, const struct plan_request *r, struct answer *ans,
		      struct tpe *m, struct rng *g, uint64_t seed, int want, double *x,
		      struct pick *k)
{
	const struct offline *o = &st->view;
	size_t d = o->n ? o->n : 1;
	cJSON *changes = NULL;

	k->seen = tpe_observed(m);
	struct gp *gp = gp_fit(m, o);
	/* The start goes on until the process has two metrics to model. */
	if (k->seen < start_size(want) || !gp_fitted(gp)) {
		k->from = FROM_START;
		for (int t = 0; t < START_TRIES && !changes; t++) {
			k->index = k->seen + (uint64_t)t;
			tpe_start_point(o, seed, k->index, x);
			changes = keep_if_new(st, r, ans, point_changes(o, r, x));
		}
	}
	if (!changes && gp_fitted(gp))
		changes = gp_propose(st, r, ans, m, gp, g, x, k);
	gp_free(gp);
	if (changes)
		return changes;
	double *xs = xcalloc(CANDIDATES * d, sizeof *xs), score[CANDIDATES];
	k->from = FROM_MODEL;
	for (int t = 0; t < MODEL_TRIES && !changes; t++) {
		k->good = tpe_suggest(m, g, CANDIDATES, xs, score, false);
		for (size_t c = 0; c < CANDIDATES && !changes; c++)
			if ((changes = keep_if_new(st, r, ans, point_changes(o, r, xs + c * d)))) {
				memcpy(x, xs + c * d, o->n * sizeof *x);
				k->ratio = exp(score[c]);
			}
	}
	free(xs);
	return changes;
}

static int offline_plan(struct planner *p, const struct plan_request *r, cJSON **plan,
			struct err *e)
{
	struct steer st;
	struct answer ans = {{0}};
	struct rng g = {(uint64_t)(r->cfg ? r->cfg->seed : 0)};
	int want = r->want < 1 ? 2 : r->want > PLAN_WANT_MAX ? PLAN_WANT_MAX : r->want;
	const char *node = r->node ? r->node : "the node";
	int from[ORIGINS] = {0};
	cJSON *props = cJSON_CreateArray();

	(void)e;
	steer_read(&st, p->priv, r->directive);
	const struct offline *o = &st.view;
	struct tpe *m = tpe_new(o, r);
	double *x = xcalloc(o->n ? o->n : 1, sizeof *x);
	uint64_t size = space_size(o), cursor;
	/* The start's sequence is the seed's alone, so that it goes on across rounds. */
	uint64_t seed = rng_next(&g);
	/* Seed and round go through the mixer, so that nearby rounds share nothing. */
	g.s = seed ^ ((uint64_t)r->round * 0xD1B54A32D192ED03ull);
	g.s = rng_next(&g);
	cursor = rng_below(&g, size);
	for (int n = 0; n < want; n++) {
		struct pick k = {0};
		cJSON *changes = propose(&st, r, &ans, m, &g, seed, want, x, &k);
		if (!changes)
			k.from = FROM_SAMPLE;
		for (int t = 0; t < SAMPLE_TRIES && !changes; t++)
			changes = keep_if_new(&st, r, &ans, try_point(o, r, &g, 0));
		/* The walk goes on where the last proposal's stopped: each point once. */
		for (uint64_t t = 0; t < size && !changes; t++) {
			changes = keep_if_new(&st, r, &ans, try_point(o, r, NULL, cursor));
			cursor = (cursor + 1) % size;
		}
		if (!changes)
			break;
		/* What it says of the point, before the point counts as seen. */
		const cJSON *full = ans.full[ans.n - 1];
		for (size_t i = 0; i < o->n; i++)
			x[i] = tpe_coord(&o->v[i], cJSON_GetObjectItemCaseSensitive(full, o->v[i].name));
		k.has_estimate = tpe_estimate(m, x, &k.mean, &k.sd, &k.weight);
		tpe_pending(m, full);
		from[k.from]++;
		/* Under the run it changes least: its changes are to that run's params. */
		const struct plan_entry *parent = offline_parent(p->priv, r, full);
		if (parent) {
			cJSON_Delete(changes);
			changes = changes_to(parent->params, full);
		}
		cJSON_AddItemToArray(props, proposal_new(r, parent, changes, &k, props));
	}
	for (size_t i = 0; i < ans.n; i++)
		cJSON_Delete(ans.full[i]);

	int n = cJSON_GetArraySize(props);
	struct buf reason;
	buf_init(&reason);
	if (!n)
		buf_printf(&reason, "the search space%s holds no configuration not yet tried, near "
				    "%s or anywhere sampled",
			   st.fixed->child || st.navoid ? ", as directive.md narrows it," : "", node);
	else if (n < want)
		buf_printf(&reason, "only %d untried configuration%s found in the search space", n,
			   n == 1 ? "" : "s");
	else {
		static const char *const whence[ORIGINS] = {
			"from the space-filling start", "from the surrogate (Gaussian process)",
			"from the Parzen estimator (TPE)", "sampled"};
		buf_printf(&reason, "%d proposals:", n);
		for (int k = 0, first = 1; k < ORIGINS; k++)
			if (from[k]) {
				buf_printf(&reason, "%s %d %s", first ? "" : ",", from[k], whence[k]);
				first = 0;
			}
		buf_printf(&reason, "; %zu configurations seen before",
			   tpe_observed(m) - (size_t)n);
	}
	if (st.notes.len)
		buf_add(&reason, st.notes.data, st.notes.len);
	*plan = cJSON_CreateObject();
	cJSON_AddBoolToObject(*plan, "stop", n == 0);
	cJSON_AddStringToObject(*plan, "reason", reason.data);
	cJSON_AddItemToObject(*plan, "proposals", props);
	buf_free(&reason);
	free(x);
	tpe_free(m);
	steer_free(&st);
	return 0;
}

/* ---- analysis ---- */


/* ---- construction ---- */

static void offline_destroy(struct planner *p)
{
	struct offline *o = p ? p->priv : NULL;

	for (size_t i = 0; o && i < o->n; i++) {
		free(o->v[i].name);
		cJSON_Delete(o->v[i].choices);
	}
	if (o)
		free(o->v);
	free(o);
	free(p);
}

/* No network, no cost. */
static double offline_spent(struct planner *p, bool *known)
{
	(void)p;
	if (known)
		*known = true;
	return 0;
}

/*
 * One entry of search_space.params. config.c has checked its shape; what it
 * leaves open (choice elements that are not scalars) is refused here.
 */
static int sparam_read(struct sparam *sp, const cJSON *spec, struct err *e)
{
	static const char *const kinds[] = {"log_uniform", "uniform", "int", "choice"};
	const cJSON *d = params_dist(spec);
	const cJSON *lo = cJSON_GetArrayItem(d, 0), *hi = cJSON_GetArrayItem(d, 1);
	size_t k = 0;

	sp->name = xstrdup(spec->string);
	/* change_validate() would refuse a proposal setting any other name. */
	if (!*sp->name || sp->name[strspn(sp->name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOP"
						     "QRSTUVWXYZ0123456789_.-")]) {
		err_set(e, "config.json: search_space.params: \"%s\" is not a parameter name "
			   "(letters, digits, _ . -)",
			sp->name);
		return -1;
	}
	while (d && k < ARRAY_LEN(kinds) && strcmp(d->string, kinds[k]))
		k++;
	sp->dist = (enum dist)k;
	if (cJSON_IsArray(d) && sp->dist == D_CHOICE) {
		sp->choices = cJSON_Duplicate(d, true);
		for (const cJSON *c = d->child; c; c = c->next, sp->nchoices++)
			if (!scalar(c))
				break;
		if (sp->nchoices && sp->nchoices == cJSON_GetArraySize(d))
			return 0;
	} else if (cJSON_IsArray(d) && k < ARRAY_LEN(kinds) && cJSON_IsNumber(lo) &&
		   cJSON_IsNumber(hi)) {
		sp->lo = sp->dist == D_INT ? ceil(lo->valuedouble) : lo->valuedouble;
		sp->hi = sp->dist == D_INT ? floor(hi->valuedouble) : hi->valuedouble;
		if (sp->lo < sp->hi && (sp->dist != D_LOG || sp->lo > 0) && isfinite(sp->hi))
			return 0;
	}
	err_set(e, "config.json: search_space.params.%s must be {\"log_uniform\"|\"uniform\"|"
		   "\"int\": [lo, hi]} with lo < hi, or {\"choice\": [numbers, strings or "
		   "booleans]}",
		spec->string);
	return -1;
}

struct planner *planner_offline_new(const struct config *cfg, struct err *e)
{
	const cJSON *params = cJSON_GetObjectItemCaseSensitive(cfg ? cfg->search_space : NULL,
							       "params");

	if (!cJSON_IsObject(params) || !params->child) {
		err_set(e, "llm.provider offline needs a search_space in config.json: "
			   "{\"file\": PARAM_FILE, \"params\": {NAME: {\"log_uniform\"|\"uniform\"|"
			   "\"int\"|\"choice\": ...}}}; or choose another llm.provider");
		return NULL;
	}
	struct planner *p = xcalloc(1, sizeof *p);
	struct offline *o = xcalloc(1, sizeof *o);
	p->name = "offline";
	p->analyse = offline_analyse;
	p->plan = offline_plan;
	p->destroy = offline_destroy;
	p->spent = offline_spent;
	p->priv = o;
	o->v = xcalloc((size_t)cJSON_GetArraySize(params), sizeof *o->v);
	for (const cJSON *m = params->child; m; m = m->next)
		if (sparam_read(&o->v[o->n++], m, e) < 0) {
			offline_destroy(p);
			return NULL;
		}
	return p;
}
