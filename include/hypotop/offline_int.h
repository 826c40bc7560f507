/*
 * offline_int.h — what the offline planner's files share: offline.c
 * (proposals), offline_tpe.c (the surrogate), offline_parent.c (where a
 * proposal goes in the tree), offline_directive.c (the person's guidance)
 * and offline_analyse.c (analyses). Nothing else includes it.
 */
#ifndef HYPOTOP_OFFLINE_INT_H
#define HYPOTOP_OFFLINE_INT_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "hypotop/planner.h"

static inline const char *metric_of(const struct config *c)
{
	return c && c->metric ? c->metric : "the metric";
}

static inline bool goal_is_max(const struct config *c)
{
	return c && c->goal && !strcmp(c->goal, "max");
}

enum dist { D_LOG, D_UNIFORM, D_INT, D_CHOICE };

struct sparam {
	char *name;
	enum dist dist;
	double lo, hi;  /* numeric kinds */
	cJSON *choices; /* D_CHOICE: its elements (all scalars), owned */
	int nchoices;
};

/* The search space, copied so that the planner does not outlive its config's parse. */
struct offline {
	struct sparam *v;
	size_t n;
};

bool offline_value_equal(const cJSON *a, const cJSON *b);
/*
 * Two effective parameter sets are one configuration when every setting
 * both name is equal and every parameter of o is set in both or in neither.
 */
bool offline_same_config(const struct offline *o, const cJSON *a, const cJSON *b);

/* ---- random numbers: splitmix64, one stream per call, no global state ---- */

struct rng {
	uint64_t s;
};

static inline uint64_t rng_next(struct rng *g)
{
	uint64_t z = (g->s += 0x9E3779B97F4A7C15ull);

	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
	return z ^ (z >> 31);
}

/* Uniform in [0, 1). */
static inline double rng_unit(struct rng *g)
{
	return (double)(rng_next(g) >> 11) * 0x1.0p-53;
}

static inline uint64_t rng_below(struct rng *g, uint64_t n)
{
	return n ? rng_next(g) % n : 0;
}

/*
 * The surrogate (offline_tpe.c): a tree-structured Parzen estimator over
 * the space, fitted to the history. A point holds one coordinate per
 * parameter: numeric ones in [0, 1], a choice the index of its element.
 */
struct tpe;
/* The history's configurations as observations; the space must outlive it. */
struct tpe *tpe_new(const struct offline *space, const struct plan_request *r);
/* A configuration proposed but not run: observed as bad (the constant liar). */
void tpe_pending(struct tpe *t, const cJSON *full);
/* Configurations observed, pending ones included. */
size_t tpe_observed(const struct tpe *t);
/* The observations l(x) is fitted to. */
size_t tpe_good(const struct tpe *t);
/*
 * ncand points drawn from l(x) into x (ncand × space->n), best l(x)/g(x)
 * first, with the log of that ratio in score. Returns tpe_good(). region:
 * drawn from the trust region around the best configuration instead.
 */
size_t tpe_suggest(const struct tpe *t, struct rng *g, size_t ncand, double *x, double *score,
		   bool region);
/* The trust region's kernel width, in coordinates: narrower the longer the best stands. */
double tpe_region(const struct tpe *t);
/* The runs near x: weighted mean and spread of the metric, and their weight in runs. */
bool tpe_estimate(const struct tpe *t, const double *x, double *mean, double *sd,
		  double *weight);
void tpe_free(struct tpe *t);
/* Point index of the seeded space-filling sequence. */
void tpe_start_point(const struct offline *space, uint64_t seed, uint64_t index, double *x);
/* A parameter's coordinate (NAN: not one of its values) and a coordinate's number. */
double tpe_coord(const struct sparam *sp, const cJSON *v);
double tpe_number(const struct sparam *sp, double u);
/* Observation k of t: its point; its mean metric, minimised (INFINITY: none yet). */
const double *tpe_obs(const struct tpe *t, size_t k, double *y, int *runs, bool *pending);

struct gp;
struct gp *gp_fit(const struct tpe *t, const struct offline *space);
bool gp_fitted(const struct gp *g);
void gp_predict(const struct gp *g, const double *x, double *mean, double *sd);
double gp_ei(const struct gp *g, const double *x);
void gp_expect(const struct gp *g, const double *x, double *mean, double *sd);
void gp_free(struct gp *g);

/*
 * The completed node of the history a proposal (full: its whole
 * configuration) goes under (offline_parent.c): the nearest in the space
 * of those with the code and other settings of the node asked about, ties
 * to the better metric. NULL when the history does not name that node.
 */
const struct plan_entry *offline_parent(const struct offline *o, const struct plan_request *r,
					const cJSON *full);

/*
 * directive.md as the offline planner reads it (one rule a line):
 *   fix NAME=VALUE        every proposal sets NAME to VALUE
 *   avoid NAME OP VALUE   no proposal where it holds (OP: < <= > >= = !=)
 *   try NAME LO..HI       NAME moves only within LO..HI
 *   try NAME A,B,C        NAME takes only these values
 * Blank lines and headings (#) are skipped, list marks (- * +) ignored.
 */
struct steer {
	struct offline view; /* the space narrowed by fix and try; choices owned */
	cJSON *fixed;        /* {NAME: VALUE} */
	struct avoid *avoid;
	size_t navoid;
	struct buf notes;    /* the lines followed, and those not read with why */
};
void steer_read(struct steer *st, const struct offline *o, const char *directive);
/* Whether a whole configuration keeps clear of every avoid rule. */
bool steer_allows(const struct steer *st, const cJSON *full);
void steer_free(struct steer *st);

int offline_analyse(struct planner *p, const struct analyse_request *r, char **analysis,
		    cJSON **verdict, struct err *e);

#endif
