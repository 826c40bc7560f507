/*
 * offline_int.h — what the offline planner's two files share: offline.c
 * (proposals) and offline_analyse.c (analyses). Nothing else includes it.
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

int offline_analyse(struct planner *p, const struct analyse_request *r, char **analysis,
		    cJSON **verdict, struct err *e);

#endif
