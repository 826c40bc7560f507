/*
 * planner.h — what analyses a finished run and proposes the next
 * experiments (SPEC §7): one interface, several planners. The offline
 * planner is built in; model providers come behind the same table.
 *
 * Every call is stateless: the request carries everything the planner may
 * use, built by the engine from the workdir, so a restart loses nothing.
 * Answers follow the two JSON contracts of SPEC §7 and are validated with
 * contract_check_*() whoever produced them.
 */
#ifndef HYPOTOP_PLANNER_H
#define HYPOTOP_PLANNER_H

#include <cjson/cJSON.h>
#include <stdbool.h>

#include "hypotop/config.h"
#include "hypotop/util.h"

/* One experiment of the history, as the planner sees it. */
struct plan_entry {
	const char *id, *parent, *name, *status, *failure_kind;
	const cJSON *params; /* effective parameters (param file + changes), or NULL */
	bool has_metric;
	double metric;
};

struct analyse_request {
	const struct config *cfg;
	const char *node, *name, *hypothesis;
	const char *status;       /* "completed" or "failed" */
	const char *failure_kind; /* when failed */
	bool has_metric, has_parent_metric, has_best;
	double metric, parent_metric, best_metric;
	const char *best_node;
	double noise_sigma;       /* run-to-run spread of the baseline; 0: unknown */
	const char *metrics_json; /* metrics_to_json() of the run, or NULL */
	const char *log_tail;     /* last lines of the log, or NULL */
};

struct plan_request {
	const struct config *cfg;
	const cJSON *base_params;  /* the param file at the baseline commit, or NULL */
	const struct plan_entry *history;
	size_t nhistory;
	const char *node;          /* the node the proposals will be children of */
	const cJSON *node_params;  /* its effective parameters */
	long round;                /* planning round, 1-based: seeds the offline planner */
	int want;                  /* proposals wanted, 2 or 3 */
};

struct planner {
	const char *name;
	/* *analysis: Markdown for runs/<id>/analysis.md; *verdict: the analyse contract. */
	int (*analyse)(struct planner *p, const struct analyse_request *r, char **analysis,
		       cJSON **verdict, struct err *e);
	/* *plan: the plan contract. */
	int (*plan)(struct planner *p, const struct plan_request *r, cJSON **plan,
		    struct err *e);
	void (*destroy)(struct planner *p);
	void *priv;
};

struct planner *planner_offline_new(const struct config *cfg, struct err *e);

/* The contracts of SPEC §7: 0 when j is valid; unknown keys are refused. */
int contract_check_analysis(const cJSON *j, struct err *e);
int contract_check_plan(const cJSON *j, struct err *e);
/*
 * The first complete JSON object in text (prose and ```json fences allowed
 * around it) that passes check; NULL with e set to the last problem.
 */
cJSON *contract_extract(const char *text, int (*check)(const cJSON *, struct err *),
			struct err *e);

#endif
