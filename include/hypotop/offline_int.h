/*
 * offline_int.h — what the offline planner's files share: offline.c
 * (proposals), offline_directive.c (the person's guidance) and
 * offline_analyse.c (analyses). Nothing else includes it.
 */
#ifndef HYPOTOP_OFFLINE_INT_H
#define HYPOTOP_OFFLINE_INT_H

#include <stdbool.h>
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
