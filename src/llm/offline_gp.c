/*
 * offline_gp.c — the offline planner's second surrogate: a Gaussian
 * process over the same coordinates as offline_tpe.c, and expected
 * improvement to rank the candidates the Parzen estimator draws.
 *
 * Why both: a tree-structured Parzen estimator is good at where to look
 * (its good density l(x) proposes), but its ratio l(x)/g(x) cannot tell
 * two nearby candidates apart, which is what a budget of tens of runs
 * spends most of its runs on. A Gaussian process with a Matérn 5/2 kernel
 * (Snoek et al. 2012) models the metric itself, so expected improvement
 * (Jones et al. 1998) ranks the near and the far on one scale.
 *
 * The metric is warped before it is modelled, log(y - min + s), so that
 * the orders of magnitude between a baseline far from the optimum and a
 * run near it do not decide the kernel's scale alone (an output warping,
 * as Snoek et al. 2014 warp the inputs). Failed runs
 * are observed at the worst value seen. Runs still to finish and the
 * proposals already made in a round are observed at the value the model
 * expects there (the "kriging believer" of Ginsbourger et al. 2010): their
 * uncertainty is gone, so that the next proposal of a batch looks
 * elsewhere. A choice parameter's distance is 0 or 1.
 *
 * The kernel's length scales (one per parameter) and the noise are the
 * maximum of the marginal likelihood over a small grid, the signal
 * variance its closed form: deterministic, and a few hundred
 * Cholesky factorisations of at most a few hundred rows.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "hypotop/offline_int.h"

#define GP_MAX 200 /* the newest observations modelled, at most */
/*
 * How far below the best the log's origin lies, in distances from the
 * best to the median: near-linear over the good half of the runs, a log
 * over the rest, so that one bad run does not flatten the surface where
 * the good ones are. Measured on tests/bench/search.py (0.1 to 100).
 */
#define WARP 10.0

struct gp {
	const struct offline *space;
	size_t n, d;
	double *x;      /* n × d coordinates */
	double *z;      /* the warped, standardised observations */
	double *ell;    /* d length scales */
	double noise;   /* in units of the signal variance */
	double sig2;    /* the signal variance, in z */
	double *chol;   /* n × n, lower */
	double *alpha;  /* K⁻¹ z */
	double shift, mean, sd; /* the warp: z = (log(y - shift) - mean) / sd */
	double best;    /* the lowest posterior mean at an observation, in z */
	bool fitted;
};

static double sq(double v)
{
	return v * v;
}

static double matern(const struct gp *g, const double *a, const double *b, const double *ell)
{
	double r2 = 0;

	for (size_t i = 0; i < g->d; i++) {
		double da;
		if (isnan(a[i]) || isnan(b[i]))
			da = isnan(a[i]) && isnan(b[i]) ? 0 : 0.5;
		else if (g->space->v[i].dist == D_CHOICE)
			da = a[i] != b[i];
		else
			da = a[i] - b[i];
		r2 += sq(da / ell[i]);
	}
	double r = sqrt(5 * r2);
	return (1 + r + r * r / 3) * exp(-r);
}

/* Cholesky of K + noise I into g->chol; false if not positive definite. */
static bool factor(struct gp *g, const double *ell, double noise, double *L)
{
	size_t n = g->n;

	for (size_t i = 0; i < n; i++)
		for (size_t j = 0; j <= i; j++) {
			double s = matern(g, g->x + i * g->d, g->x + j * g->d, ell) + (i == j ? noise : 0);
			for (size_t k = 0; k < j; k++)
				s -= L[i * n + k] * L[j * n + k];
			if (i == j) {
				if (!(s > 0))
					return false;
				L[i * n + i] = sqrt(s);
			} else {
				L[i * n + j] = s / L[j * n + j];
			}
		}
	return true;
}

/* x = K⁻¹ b through the factor. */
static void solve(size_t n, const double *L, const double *b, double *x)
{
	for (size_t i = 0; i < n; i++) {
		double s = b[i];
		for (size_t k = 0; k < i; k++)
			s -= L[i * n + k] * x[k];
		x[i] = s / L[i * n + i];
	}
	for (size_t i = n; i-- > 0;) {
		double s = x[i];
		for (size_t k = i + 1; k < n; k++)
			s -= L[k * n + i] * x[k];
		x[i] = s / L[i * n + i];
	}
}

/* The marginal likelihood with the signal variance profiled out, up to a constant. */
static double likelihood(struct gp *g, const double *ell, double noise, double *L, double *a)
{
	if (!factor(g, ell, noise, L))
		return -INFINITY;
	solve(g->n, L, g->z, a);
	double quad = 0, logdet = 0;
	for (size_t i = 0; i < g->n; i++) {
		quad += g->z[i] * a[i];
		logdet += log(L[i * g->n + i]);
	}
	return -0.5 * (double)g->n * log(fmax(quad / (double)g->n, 1e-300)) - logdet;
}

static int by_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* The length scales and noise of the highest marginal likelihood on the grid. */
static bool tune(struct gp *g)
{
	static const double scales[] = {0.04, 0.08, 0.15, 0.3, 0.6, 1.2, 2.5};
	static const double noises[] = {1e-6, 1e-3, 1e-2, 0.05, 0.2};
	static const double steps[] = {0.25, 0.5, 2, 4};
	size_t n = g->n, d = g->d ? g->d : 1;
	double *L = xcalloc(n * n, sizeof *L), *a = xcalloc(n, sizeof *a);
	double *ell = xcalloc(d, sizeof *ell);
	double best = -INFINITY;

	g->ell = xcalloc(d, sizeof *g->ell);
	/* One length scale for all, then each parameter's in turn. */
	for (size_t si = 0; si < ARRAY_LEN(scales); si++)
		for (size_t ni = 0; ni < ARRAY_LEN(noises); ni++) {
			for (size_t i = 0; i < d; i++)
				ell[i] = scales[si];
			double l = likelihood(g, ell, noises[ni], L, a);
			if (l > best) {
				best = l;
				g->noise = noises[ni];
				memcpy(g->ell, ell, d * sizeof *ell);
			}
		}
	for (int pass = 0; pass < 2 && isfinite(best); pass++)
		for (size_t i = 0; i < g->d; i++)
			for (size_t k = 0; k < ARRAY_LEN(steps); k++) {
				memcpy(ell, g->ell, d * sizeof *ell);
				ell[i] = fmin(20, fmax(0.01, ell[i] * steps[k]));
				double l = likelihood(g, ell, g->noise, L, a);
				if (l > best + 1e-9) {
					best = l;
					memcpy(g->ell, ell, d * sizeof *ell);
				}
			}
	free(ell);
	free(L);
	free(a);
	return isfinite(best);
}

/* The factor and weights of the first n observations, with the tuned kernel. */
static void condition(struct gp *g, size_t n)
{
	free(g->chol);
	free(g->alpha);
	g->n = n;
	g->chol = xcalloc(n * n, sizeof *g->chol);
	g->alpha = xcalloc(n, sizeof *g->alpha);
	likelihood(g, g->ell, g->noise, g->chol, g->alpha);
}

struct gp *gp_fit(const struct tpe *t, const struct offline *space)
{
	size_t all = tpe_observed(t), from = all > GP_MAX ? all - GP_MAX : 0, cap = all - from + 1;
	struct gp *g = xcalloc(1, sizeof *g);
	double lo = INFINITY, hi = -INFINITY, y;
	int runs;
	bool pending;

	g->space = space;
	g->d = space->n;
	g->x = xcalloc(cap * (g->d ? g->d : 1), sizeof *g->x);
	g->z = xcalloc(cap, sizeof *g->z);
	double *ys = xcalloc(cap, sizeof *ys);
	size_t nys = 0;
	for (size_t k = from; k < all; k++) {
		tpe_obs(t, k, &y, &runs, &pending);
		if (runs && isfinite(y)) {
			lo = fmin(lo, y);
			hi = fmax(hi, y);
			ys[nys++] = y;
		}
	}
	if (nys < 2 || !(hi > lo)) {
		free(ys);
		return g; /* nothing to model: not fitted */
	}
	/* The warp's offset: below the best by WARP times its distance to the median. */
	qsort(ys, nys, sizeof *ys, by_double);
	double med = ys[nys / 2];
	free(ys);
	g->shift = lo - fmax(WARP * (med - lo), 1e-9 * fmax(1, fabs(lo)));
	/* The runs with a metric and the failed ones first, the pending last. */
	size_t obs = 0, npend = 0;
	for (int pass = 0; pass < 2; pass++)
		for (size_t k = from; k < all; k++) {
			const double *x = tpe_obs(t, k, &y, &runs, &pending);
			if ((pass == 1) != (!runs && pending))
				continue;
			memcpy(g->x + (obs + npend) * g->d, x, g->d * sizeof *x);
			if (pass == 1)
				npend++;
			else
				g->z[obs++] = log((runs ? y : hi) - g->shift);
		}
	double s = 0, ss = 0;
	for (size_t i = 0; i < obs; i++)
		s += g->z[i];
	g->mean = s / (double)obs;
	for (size_t i = 0; i < obs; i++)
		ss += sq(g->z[i] - g->mean);
	g->sd = sqrt(ss / (double)obs);
	g->sd = g->sd > 0 ? g->sd : 1;
	for (size_t i = 0; i < obs; i++)
		g->z[i] = (g->z[i] - g->mean) / g->sd;
	g->n = obs;
	if (!tune(g))
		return g;
	condition(g, obs);
	for (size_t i = 0; i < obs; i++)
		g->sig2 += g->z[i] * g->alpha[i] / (double)obs;
	g->fitted = true;
	/*
	 * The pending are observed where the model expects them (the "kriging
	 * believer"): their uncertainty goes, what is known of the space stays.
	 */
	double m, sd;
	for (size_t j = 0; j < npend; j++) {
		gp_predict(g, g->x + (obs + j) * g->d, &m, &sd);
		g->z[obs + j] = m;
	}
	if (npend)
		condition(g, obs + npend);
	/* The incumbent counts the believed too, or a batch would pile up on one point. */
	g->best = INFINITY;
	for (size_t i = 0; i < obs + npend; i++) {
		gp_predict(g, g->x + i * g->d, &m, &sd);
		g->best = fmin(g->best, m);
	}
	return g;
}

bool gp_fitted(const struct gp *g)
{
	return g && g->fitted;
}

/* The posterior mean and standard deviation of the latent surface at x, in z. */
void gp_predict(const struct gp *g, const double *x, double *mean, double *sd)
{
	size_t n = g->n;
	double *k = xcalloc(n + 1, sizeof *k), *v = xcalloc(n + 1, sizeof *v), m = 0;

	for (size_t i = 0; i < n; i++) {
		k[i] = matern(g, x, g->x + i * g->d, g->ell);
		m += k[i] * g->alpha[i];
	}
	/* v = L⁻¹ k: the variance explained by the observations. */
	double explained = 0;
	for (size_t i = 0; i < n; i++) {
		double s = k[i];
		for (size_t j = 0; j < i; j++)
			s -= g->chol[i * n + j] * v[j];
		v[i] = s / g->chol[i * n + i];
		explained += v[i] * v[i];
	}
	free(k);
	free(v);
	*mean = m;
	*sd = sqrt(g->sig2 * fmax(1 - explained, 1e-12));
}

double gp_ei(const struct gp *g, const double *x)
{
	double m, s;

	gp_predict(g, x, &m, &s);
	double u = (g->best - m) / s;
	return s * (u * 0.5 * erfc(-u / M_SQRT2) + exp(-0.5 * u * u) / sqrt(2 * M_PI));
}

/* What the model expects of the metric at x, in the metric's own units (minimised). */
void gp_expect(const struct gp *g, const double *x, double *mean, double *sd)
{
	double m, s;

	gp_predict(g, x, &m, &s);
	double lo = exp(g->mean + g->sd * (m - s)) + g->shift;
	double mid = exp(g->mean + g->sd * m) + g->shift;
	double hi = exp(g->mean + g->sd * (m + s)) + g->shift;
	*mean = mid;
	*sd = 0.5 * (hi - lo);
}

void gp_free(struct gp *g)
{
	if (!g)
		return;
	free(g->x);
	free(g->z);
	free(g->ell);
	free(g->chol);
	free(g->alpha);
	free(g);
}
