/*
 * offline_tpe.c — the offline planner's surrogate: a tree-structured
 * Parzen estimator (Bergstra et al. 2011; the multivariate form of
 * Falkner et al. 2018, as Optuna's TPESampler(multivariate=True)) over
 * the search space, and the space-filling sequence it starts from.
 *
 * Every configuration of the history is one observation: seed repeats
 * (identical params) are averaged, a failed run and a run still to finish
 * count as bad (the "constant liar", so that a batch spreads out). The
 * observations are split at a quantile into good and bad; a Parzen
 * density is fitted to each (a Gaussian kernel per observation, truncated
 * to the range, plus a wide prior; smoothed one-hot kernels for choices),
 * candidates are drawn from the good density l(x) and ranked by l(x)/g(x).
 *
 * A trust-region step (after TuRBO, Eriksson et al. 2019) draws its
 * candidates from a narrow kernel around the best configuration instead:
 * a round of proposals made at once has had fewer model updates than a
 * sequential search of as many runs, and this step spends one of them on
 * the refinement a sequential search gets for free. The kernel's width
 * halves for every (parameters + 1) runs finished since the best was
 * found, so that the step closes in while nothing beats it.
 *
 * A point is one coordinate per parameter of the space: a numeric one in
 * [0, 1] (log scale for log_uniform, the cell of a whole number for int),
 * a choice the index of its element. Pure functions of their inputs: the
 * random stream is the caller's.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "hypotop/offline_int.h"

/* Optuna's defaults, and Scott's rule as its multivariate sampler scales it. */
/*
 * Greedier than Optuna's defaults (0.1, 0.2, clip 1): measured on
 * tests/bench/search.py, a budget of tens of runs is better spent near the
 * best few than on wide kernels.
 */
#define GAMMA 0.05     /* the share of observations that is good */
#define GOOD_MAX 25
#define BANDWIDTH 0.1  /* Scott's rule's factor, in coordinates */
#define CLIP 0.5       /* the narrowest kernel: CLIP / (components + 1) */
#define PRIOR_SIGMA 1.0
#define REGION_WIDTH 0.2  /* the trust region's kernel, in coordinates, at first */
#define REGION_MIN 0.01   /* and at its narrowest */

struct obs {
	double *x;      /* one coordinate per parameter; NAN: not set */
	const cJSON *params;
	double sum, sumsq, y; /* y: the mean of its runs, to minimise; INFINITY: bad */
	int runs;
	bool pending;
};

struct tpe {
	const struct offline *space;
	struct obs *v;
	size_t n, cap, nreal;
	bool max;
};

/* ---- coordinates ---- */

static bool numeric(const struct sparam *sp)
{
	return sp->dist != D_CHOICE;
}

static double number_coord(const struct sparam *sp, double x);

double tpe_coord(const struct sparam *sp, const cJSON *v)
{
	if (!numeric(sp)) {
		int k = 0;
		for (const cJSON *c = sp->choices ? sp->choices->child : NULL; c; c = c->next, k++)
			if (v && offline_value_equal(c, v))
				return k;
		return NAN;
	}
	return cJSON_IsNumber(v) ? number_coord(sp, v->valuedouble) : NAN;
}

static double number_coord(const struct sparam *sp, double x)
{
	if (!isfinite(x))
		return NAN;
	if (sp->dist == D_LOG)
		return x > 0 ? log(x / sp->lo) / log(sp->hi / sp->lo) : NAN;
	if (sp->dist == D_INT)
		return (x - sp->lo + 0.5) / (sp->hi - sp->lo + 1);
	return (x - sp->lo) / (sp->hi - sp->lo);
}

double tpe_number(const struct sparam *sp, double u)
{
	u = u < 0 ? 0 : u > 1 ? 1 : u;
	if (sp->dist == D_LOG)
		return sp->lo * exp(u * log(sp->hi / sp->lo));
	if (sp->dist == D_INT) {
		double v = sp->lo + floor(u * (sp->hi - sp->lo + 1));
		return v > sp->hi ? sp->hi : v;
	}
	return sp->lo + u * (sp->hi - sp->lo);
}

/* ---- observations ---- */

static struct obs *obs_add(struct tpe *t, const cJSON *params)
{
	if (t->n == t->cap) {
		t->cap = t->cap ? 2 * t->cap : 16;
		t->v = xrealloc(t->v, t->cap * sizeof *t->v);
	}
	struct obs *o = &t->v[t->n++];
	memset(o, 0, sizeof *o);
	o->x = xcalloc(t->space->n ? t->space->n : 1, sizeof *o->x);
	o->params = params;
	for (size_t i = 0; i < t->space->n; i++)
		o->x[i] = params ? tpe_coord(&t->space->v[i],
					     cJSON_GetObjectItemCaseSensitive(params, t->space->v[i].name))
				 : NAN;
	return o;
}

static bool waiting(const char *status)
{
	static const char *const names[] = {"queued", "preparing", "building", "running",
					    "analyzing", "paused"};
	for (size_t i = 0; status && i < ARRAY_LEN(names); i++)
		if (!strcmp(status, names[i]))
			return true;
	return false;
}

struct tpe *tpe_new(const struct offline *space, const struct plan_request *r)
{
	struct tpe *t = xcalloc(1, sizeof *t);

	t->space = space;
	t->max = goal_is_max(r->cfg);
	for (size_t i = 0; i < r->nhistory; i++) {
		const struct plan_entry *h = &r->history[i];
		/*
		 * A pruned run is evidence: its metric when it was stopped, short of
		 * the best's curve and so a pessimistic value, or without one the
		 * worst (no runs: y is INFINITY below).
		 */
		bool finished = h->has_metric && isfinite(h->metric);
		if (!cJSON_IsObject(h->params) || (h->status && !strcmp(h->status, "cancelled")))
			continue;
		/* Seed repeats and retries of one configuration are one observation. */
		struct obs *o = NULL;
		for (size_t k = 0; k < t->n && !o; k++)
			if (offline_same_config(space, t->v[k].params, h->params))
				o = &t->v[k];
		if (!o)
			o = obs_add(t, h->params);
		if (finished) {
			double y = t->max ? -h->metric : h->metric;
			o->sum += y;
			o->sumsq += y * y;
			o->runs++;
		} else if (!h->has_metric && waiting(h->status)) {
			o->pending = true;
		}
	}
	for (size_t k = 0; k < t->n; k++) {
		struct obs *o = &t->v[k];
		o->y = o->runs ? o->sum / o->runs : INFINITY;
		t->nreal += o->runs > 0;
	}
	return t;
}

void tpe_pending(struct tpe *t, const cJSON *full)
{
	struct obs *o = obs_add(t, full);

	o->y = INFINITY;
	o->pending = true;
}

const double *tpe_obs(const struct tpe *t, size_t k, double *y, int *runs, bool *pending)
{
	*y = t->v[k].y;
	*runs = t->v[k].runs;
	*pending = t->v[k].pending;
	return t->v[k].x;
}

size_t tpe_observed(const struct tpe *t)
{
	return t->n;
}

void tpe_free(struct tpe *t)
{
	for (size_t k = 0; t && k < t->n; k++)
		free(t->v[k].x);
	if (t)
		free(t->v);
	free(t);
}

/* ---- Parzen densities ---- */

/* One kernel per observation of a group, and the prior last. */
struct parzen {
	const struct offline *space;
	const struct obs **c; /* NULL: the prior */
	size_t n;             /* components, the prior included */
	double sigma;         /* numeric kernels, in coordinates */
	double eps;           /* choice kernels: the share spread over all elements */
};

static void parzen_init(struct parzen *p, const struct offline *space, const struct obs **c,
			size_t m)
{
	double d = (double)space->n, lo = CLIP / fmin(100.0, 2.0 + (double)m);

	p->space = space;
	p->c = c;
	p->n = m + 1;
	p->sigma = BANDWIDTH * pow(fmax((double)m, 1.0), -1.0 / (d + 4.0));
	p->sigma = p->sigma < lo ? lo : p->sigma > 1 ? 1 : p->sigma;
	p->eps = 1.0 / (double)(m + 1);
}

static double norm_cdf(double z)
{
	return 0.5 * erfc(-z / M_SQRT2);
}

/* log of a normal density truncated to [0, 1], at x. */
static double log_trunc(double x, double mu, double sigma)
{
	double z = (x - mu) / sigma;
	double mass = norm_cdf((1 - mu) / sigma) - norm_cdf(-mu / sigma);

	return -0.5 * z * z - log(sigma * sqrt(2 * M_PI)) - log(fmax(mass, 1e-300));
}

static double sample_trunc(struct rng *g, double mu, double sigma)
{
	for (int t = 0; t < 64; t++) {
		double u = 1.0 - rng_unit(g), v = rng_unit(g);
		double x = mu + sigma * sqrt(-2.0 * log(u)) * cos(2.0 * M_PI * v);
		if (x >= 0 && x <= 1)
			return x;
	}
	return rng_unit(g);
}

/* Component j's kernel for parameter i: log density at x (a coordinate). */
static double kernel_log(const struct parzen *p, size_t j, size_t i, double x)
{
	const struct sparam *sp = &p->space->v[i];
	const struct obs *o = j < p->n - 1 ? p->c[j] : NULL;
	double mu = o ? o->x[i] : NAN;

	if (numeric(sp)) {
		if (isnan(mu))
			return o ? 0 : log_trunc(x, 0.5, PRIOR_SIGMA); /* unset: uniform */
		return log_trunc(x, mu, p->sigma);
	}
	double k = sp->nchoices;
	if (isnan(mu) || mu >= k)
		return -log(k);
	return log((x == mu ? 1 - p->eps : 0) + p->eps / k);
}

static double parzen_log(const struct parzen *p, const double *x)
{
	double best = -INFINITY, *lv = xcalloc(p->n, sizeof *lv), sum = 0;

	for (size_t j = 0; j < p->n; j++) {
		lv[j] = 0;
		for (size_t i = 0; i < p->space->n; i++)
			lv[j] += kernel_log(p, j, i, x[i]);
		best = fmax(best, lv[j]);
	}
	for (size_t j = 0; j < p->n; j++)
		sum += exp(lv[j] - best);
	free(lv);
	return best + log(sum) - log((double)p->n);
}

/* A point from component j (p->n - 1: the prior). */
static void parzen_draw(const struct parzen *p, size_t j, struct rng *g, double *x)
{
	const struct obs *o = j < p->n - 1 ? p->c[j] : NULL;

	for (size_t i = 0; i < p->space->n; i++) {
		const struct sparam *sp = &p->space->v[i];
		double mu = o ? o->x[i] : NAN;
		if (numeric(sp))
			x[i] = isnan(mu) ? (o ? rng_unit(g) : sample_trunc(g, 0.5, PRIOR_SIGMA))
					 : sample_trunc(g, mu, p->sigma);
		else if (isnan(mu) || mu >= sp->nchoices || rng_unit(g) < p->eps)
			x[i] = (double)rng_below(g, (uint64_t)sp->nchoices);
		else
			x[i] = mu;
	}
}

static void parzen_sample(const struct parzen *p, struct rng *g, double *x)
{
	parzen_draw(p, (size_t)rng_below(g, p->n), g, x);
}

/* Best first; ties in the order of the history, so that the answer repeats. */
static int by_value(const void *a, const void *b)
{
	const struct obs *x = *(const struct obs *const *)a, *y = *(const struct obs *const *)b;

	if (x->y != y->y)
		return x->y < y->y ? -1 : 1;
	return x < y ? -1 : x > y;
}

size_t tpe_good(const struct tpe *t)
{
	size_t good = (size_t)ceil(GAMMA * (double)t->n);

	good = good < 1 ? 1 : good > GOOD_MAX ? GOOD_MAX : good;
	return good < t->nreal ? good : t->nreal;
}

double tpe_region(const struct tpe *t)
{
	size_t best = 0, since = 0;

	for (size_t k = 0; k < t->n; k++)
		if (t->v[k].runs && (!t->v[best].runs || t->v[k].y < t->v[best].y))
			best = k;
	for (size_t k = best + 1; k < t->n; k++)
		since += t->v[k].runs > 0;
	return fmax(REGION_MIN,
		    REGION_WIDTH * pow(0.5, (double)since / (double)(t->space->n + 1)));
}

size_t tpe_suggest(const struct tpe *t, struct rng *g, size_t ncand, double *x, double *score,
		   bool region)
{
	const struct obs **sorted = xcalloc(t->n ? t->n : 1, sizeof *sorted);
	struct parzen l, b;
	size_t good = tpe_good(t), d = t->space->n;

	for (size_t k = 0; k < t->n; k++)
		sorted[k] = &t->v[k];
	qsort(sorted, t->n, sizeof *sorted, by_value);
	parzen_init(&l, t->space, sorted, good);
	parzen_init(&b, t->space, sorted + good, t->n - good);
	struct parzen near = l;
	near.sigma = tpe_region(t);
	near.eps = fmin(l.eps, near.sigma);
	region = region && good > 0;
	for (size_t c = 0; c < ncand; c++) {
		if (region)
			parzen_draw(&near, 0, g, x + c * d); /* the best's kernel, narrowed */
		else
			parzen_sample(&l, g, x + c * d);
		/* A whole number is scored where its value will be: its cell's middle. */
		for (size_t i = 0; i < d; i++)
			if (t->space->v[i].dist == D_INT)
				x[c * d + i] = number_coord(&t->space->v[i],
							    tpe_number(&t->space->v[i], x[c * d + i]));
		score[c] = parzen_log(&l, x + c * d) - parzen_log(&b, x + c * d);
	}
	/* Sort the candidates, best first (insertion: there are few). */
	double *tmp = xcalloc(d ? d : 1, sizeof *tmp);
	for (size_t c = 1; c < ncand; c++)
		for (size_t k = c; k > 0 && score[k] > score[k - 1]; k--) {
			double s = score[k];
			score[k] = score[k - 1];
			score[k - 1] = s;
			memcpy(tmp, x + k * d, d * sizeof *tmp);
			memcpy(x + k * d, x + (k - 1) * d, d * sizeof *tmp);
			memcpy(x + (k - 1) * d, tmp, d * sizeof *tmp);
		}
	free(tmp);
	free(sorted);
	return good;
}

/*
 * What the runs near x say: their kernel-weighted mean and spread (in the
 * metric's own sign), and how many runs' worth of weight that rests on.
 * false when no run has a metric.
 */
bool tpe_estimate(const struct tpe *t, const double *x, double *mean, double *sd,
		  double *weight)
{
	double h = BANDWIDTH * pow(fmax((double)t->nreal, 1.0), -1.0 / ((double)t->space->n + 4));
	double sw = 0, sw2 = 0, sy = 0, syy = 0;

	for (size_t k = 0; k < t->n; k++) {
		const struct obs *o = &t->v[k];
		if (!o->runs)
			continue;
		double lw = 0;
		for (size_t i = 0; i < t->space->n; i++) {
			if (isnan(o->x[i]) || isnan(x[i]))
				continue;
			if (numeric(&t->space->v[i]))
				lw -= 0.5 * pow((x[i] - o->x[i]) / h, 2);
			else if (x[i] != o->x[i])
				lw += log(0.25);
		}
		double w = exp(lw) * o->runs, y = o->y;
		sw += w;
		sw2 += w * w / o->runs;
		sy += w * y;
		syy += w * (o->sumsq / o->runs);
	}
	if (!(sw > 1e-12))
		return false;
	double m = sy / sw;
	*mean = t->max ? -m : m;
	*sd = sqrt(fmax(0, syy / sw - m * m));
	*weight = sw * sw / sw2;
	return true;
}

/* ---- the space-filling start ---- */

/*
 * Point index of an additive recurrence (the R_d sequence of Roberts,
 * 2018: a Kronecker sequence on the generalised golden ratio), shifted
 * by a random offset drawn from seed: low-discrepancy in any number of
 * dimensions, and each new point falls in the largest gap left.
 */
void tpe_start_point(const struct offline *space, uint64_t seed, uint64_t index, double *x)
{
	double d = (double)space->n, phi = 2;
	struct rng g = {seed ^ 0xA0761D6478BD642Full};

	for (int k = 0; k < 64; k++)
		phi = pow(1 + phi, 1 / (d + 1));
	for (size_t i = 0; i < space->n; i++) {
		double a = pow(1 / phi, (double)(i + 1));
		double u = fmod(rng_unit(&g) + (double)(index + 1) * a, 1.0);
		x[i] = numeric(&space->v[i]) ? u : floor(u * space->v[i].nchoices);
	}
}
