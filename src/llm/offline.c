/*
 * offline.c — the built-in planner (SPEC §7): no network, no key.
 *
 * It plans by local search in the config's search_space: each proposal
 * moves one or two parameters of the node a small random step, and a
 * configuration already run (or already proposed in the same answer) is
 * never proposed again. When the neighbourhood is used up it samples the
 * whole space, and a small finite space is walked point by point, so that
 * "nothing new left" is a fact and not bad luck. The random stream is a
 * pure function of the config's seed and the planning round: the same
 * workdir plans the same experiments after any restart.
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

#define PERTURB_TRIES 200
#define SAMPLE_TRIES 200
/* A space of only int and choice parameters up to this many points is walked whole. */
#define WALK_LIMIT 10000


/* ---- random numbers: splitmix64, one stream per call, no global state ---- */

struct rng {
	uint64_t s;
};

static uint64_t rng_next(struct rng *g)
{
	uint64_t z = (g->s += 0x9E3779B97F4A7C15ull);

	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
	return z ^ (z >> 31);
}

/* Uniform in [0, 1). */
static double rng_unit(struct rng *g)
{
	return (double)(rng_next(g) >> 11) * 0x1.0p-53;
}

static uint64_t rng_below(struct rng *g, uint64_t n)
{
	return n ? rng_next(g) % n : 0;
}

static double rng_gauss(struct rng *g, double sd)
{
	double u = 1.0 - rng_unit(g), v = rng_unit(g);

	return sd * sqrt(-2.0 * log(u)) * cos(2.0 * M_PI * v);
}

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
 * Two effective parameter sets are one configuration when every setting
 * both name is equal and every search-space parameter is set in both or in
 * neither. Other settings that only one side names are ignored: they come
 * from how a file was read, not from an experiment.
 */
static bool same_config(const struct offline *o, const cJSON *a, const cJSON *b)
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

/* The value a parameter has in the node (or else the baseline); NULL when unset. */
static const cJSON *actual_value(const struct sparam *sp, const struct plan_request *r)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(r->node_params, sp->name);

	if (!scalar(v))
		v = cJSON_GetObjectItemCaseSensitive(r->base_params, sp->name);
	return scalar(v) ? v : NULL;
}

/* Where a numeric parameter starts from: its value, or the middle of its range. */
static double start_number(const struct sparam *sp, const cJSON *actual)
{
	double v = cJSON_IsNumber(actual) && isfinite(actual->valuedouble)
			   ? clampd(actual->valuedouble, sp->lo, sp->hi)
		   : sp->dist == D_LOG ? sqrt(sp->lo * sp->hi)
				       : (sp->lo + sp->hi) / 2;

	return sp->dist == D_INT ? clampd(floor(v + 0.5), sp->lo, sp->hi) : v;
}

/* A small random step from the parameter's value; NULL when it did not move. */
static cJSON *perturb(const struct sparam *sp, const cJSON *actual, struct rng *g)
{
	cJSON *nv;

	if (sp->dist == D_CHOICE) {
		/* Unset, it "is" at the middle element. */
		const cJSON *cur = actual ? actual
					  : cJSON_GetArrayItem(sp->choices, (sp->nchoices - 1) / 2);
		const cJSON *c = cJSON_GetArrayItem(sp->choices,
						    (int)rng_below(g, (uint64_t)sp->nchoices));
		if (offline_value_equal(c, cur))
			return NULL; /* the caller draws again */
		return cJSON_Duplicate(c, true);
	}
	double cur = start_number(sp, actual), v;
	if (sp->dist == D_LOG) {
		v = tidy(cur * exp(rng_gauss(g, 0.7)), sp->lo, sp->hi);
	} else if (sp->dist == D_UNIFORM) {
		v = tidy(cur + rng_gauss(g, 0.2 * (sp->hi - sp->lo)), sp->lo, sp->hi);
	} else {
		double step = (double)(1 + rng_below(g, 2)) * (rng_below(g, 2) ? 1 : -1);
		v = cur + step >= sp->lo && cur + step <= sp->hi ? cur + step : cur - step;
		v = clampd(v, sp->lo, sp->hi);
	}
	nv = cJSON_CreateNumber(v);
	if (actual && offline_value_equal(nv, actual)) {
		cJSON_Delete(nv);
		return NULL;
	}
	return nv;
}

/* A point drawn from the whole range of the parameter. */
static cJSON *sample(const struct sparam *sp, struct rng *g)
{
	double u = rng_unit(g);

	if (sp->dist == D_LOG)
		return cJSON_CreateNumber(
			tidy(sp->lo * exp(u * log(sp->hi / sp->lo)), sp->lo, sp->hi));
	if (sp->dist == D_UNIFORM)
		return cJSON_CreateNumber(tidy(sp->lo + u * (sp->hi - sp->lo), sp->lo, sp->hi));
	if (sp->dist == D_INT)
		return cJSON_CreateNumber(sp->lo + floor(u * (sp->hi - sp->lo + 1)));
	return cJSON_Duplicate(cJSON_GetArrayItem(sp->choices, (int)(u * sp->nchoices)), true);
}

/* One or two parameters moved a step, in space order so that the text repeats. */
static cJSON *try_perturb(const struct offline *o, const struct plan_request *r,
			  struct rng *g)
{
	size_t a = (size_t)rng_below(g, o->n), b = a;
	cJSON *changes = cJSON_CreateObject();

	if (o->n >= 2 && rng_below(g, 2))
		while (b == a)
			b = (size_t)rng_below(g, o->n);
	for (size_t i = 0; i < o->n; i++) {
		cJSON *v = i == a || i == b ? perturb(&o->v[i], actual_value(&o->v[i], r), g) : NULL;
		if (v)
			cJSON_AddItemToObject(changes, o->v[i].name, v);
		else if (i == a || i == b)
			goto none;
	}
	return changes;
none:
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
		       same_config(o, full, r->history[i].params);
	for (size_t i = 0; i < ans->n && !seen; i++)
		seen = same_config(o, full, ans->full[i]);
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
	size_t len = 0;

	for (const cJSON *c = changes->child; c; c = c->next) {
		char v[64], *word[] = {c->string, v};
		value_text(v, sizeof v, c);
		for (int w = 0; w < 2; w++) {
			for (const char *s = word[w]; *s && len + 1 < n; s++) {
				char ch = *s >= 'A' && *s <= 'Z' ? (char)(*s - 'A' + 'a') : *s;
				if (w && cJSON_IsNumber(c) && (ch == '.' || (ch == '-' && s == v)))
					ch = ch == '.' ? 'p' : 'm';
				if ((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9'))
					out[len++] = ch;
				else if (len && out[len - 1] != '-' && ch != '+')
					out[len++] = '-';
			}
			if (len && len + 1 < n && out[len - 1] != '-')
				out[len++] = '-';
		}
	}
	while (len && out[len - 1] == '-')
		len--;
	out[len] = '\0';
	if (!len)
		snprintf(out, n, "params");
}

/* "lr 0.01 → 0.0031: decreasing lr may lower val_loss". */
static void hypothesis_text(struct buf *b, const struct offline *o,
			    const struct plan_request *r, const cJSON *changes, bool explore)
{
	const char *verb = goal_is_max(r->cfg) ? "raise" : "lower", *metric = metric_of(r->cfg);
	const cJSON *only = changes->child->next ? NULL : changes->child;
	int dir = 0;

	for (const cJSON *c = changes->child; c; c = c->next) {
		const cJSON *actual = actual_value(space_find(o, c->string), r);
		char nv[64], ov[64];
		value_text(nv, sizeof nv, c);
		if (actual)
			value_text(ov, sizeof ov, actual);
		buf_printf(b, "%s%s %s%s%s", c == changes->child ? "" : ", ", c->string,
			   actual ? ov : "set to ", actual ? " → " : "", nv);
		if (c == only && cJSON_IsNumber(c) && cJSON_IsNumber(actual))
			dir = c->valuedouble < actual->valuedouble ? -1 : 1;
	}
	if (explore)
		buf_printf(b, ": a configuration away from the neighbourhood of %s may %s %s",
			   r->node ? r->node : "the node", verb, metric);
	else if (dir)
		buf_printf(b, ": %s %s may %s %s", dir < 0 ? "decreasing" : "increasing",
			   only->string, verb, metric);
	else
		buf_printf(b, ": this %s may %s %s", only ? "setting" : "combination", verb, metric);
}

static cJSON *proposal_new(const struct offline *o, const struct plan_request *r,
			   cJSON *changes, bool explore, const cJSON *props)
{
	char name[64], base[45]; /* base and a "-K" suffix stay within 48 */
	struct buf h;
	cJSON *p = cJSON_CreateObject(), *ch = cJSON_CreateObject();

	proposal_name(base, sizeof base, changes);
	snprintf(name, sizeof name, "%s", base);
	/* Distinct names in one answer, so that branches and logs tell them apart. */
	for (int k = 2;; k++) {
		const cJSON *q = props->child;
		while (q && strcmp(cJSON_GetObjectItemCaseSensitive(q, "name")->valuestring, name))
			q = q->next;
		if (!q)
			break;
		snprintf(name, sizeof name, "%s-%d", base, k % 1000);
	}
	buf_init(&h);
	hypothesis_text(&h, o, r, changes, explore);
	cJSON_AddStringToObject(p, "name", name);
	cJSON_AddStringToObject(p, "hypothesis", h.data);
	cJSON_AddNumberToObject(p, "priority", 0);
	cJSON_AddFalseToObject(p, "needs_rebuild");
	cJSON_AddStringToObject(ch, "kind", "params");
	cJSON_AddItemToObject(ch, "params", changes);
	cJSON_AddItemToObject(p, "change", ch);
	buf_free(&h);
	return p;
}

static int offline_plan(struct planner *p, const struct plan_request *r, cJSON **plan,
			struct err *e)
{
	struct steer st;
	struct answer ans = {{0}};
	struct rng g = {(uint64_t)(r->cfg ? r->cfg->seed : 0)};
	int want = r->want < 1 ? 2 : r->want > PLAN_WANT_MAX ? PLAN_WANT_MAX : r->want;
	const char *node = r->node ? r->node : "the node";
	bool explored = false;
	cJSON *props = cJSON_CreateArray();

	(void)e;
	steer_read(&st, p->priv, r->directive);
	const struct offline *o = &st.view;
	uint64_t size = space_size(o), cursor;
	/* Seed and round go through the mixer, so that nearby rounds share nothing. */
	g.s = rng_next(&g) ^ ((uint64_t)r->round * 0xD1B54A32D192ED03ull);
	g.s = rng_next(&g);
	cursor = rng_below(&g, size);
	for (int k = 0; k < want; k++) {
		cJSON *changes = NULL;
		for (int t = 0; t < PERTURB_TRIES && !changes; t++)
			changes = keep_if_new(&st, r, &ans, try_perturb(o, r, &g));
		bool explore = !changes;
		for (int t = 0; t < SAMPLE_TRIES && !changes; t++)
			changes = keep_if_new(&st, r, &ans, try_point(o, r, &g, 0));
		/* The walk goes on where the last proposal's stopped: each point once. */
		for (uint64_t t = 0; t < size && !changes; t++) {
			changes = keep_if_new(&st, r, &ans, try_point(o, r, NULL, cursor));
			cursor = (cursor + 1) % size;
		}
		if (!changes)
			break;
		explored |= explore;
		cJSON_AddItemToArray(props, proposal_new(o, r, changes, explore, props));
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
	else
		buf_printf(&reason, "%d %s", n,
			   explored ? "samples of the search space: the neighbourhood is used up"
				    : "small steps from the node's parameters");
	if (st.notes.len)
		buf_add(&reason, st.notes.data, st.notes.len);
	*plan = cJSON_CreateObject();
	cJSON_AddBoolToObject(*plan, "stop", n == 0);
	cJSON_AddStringToObject(*plan, "reason", reason.data);
	cJSON_AddItemToObject(*plan, "proposals", props);
	buf_free(&reason);
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
