/*
 * planner.c — what every planner shares (see planner.h): the choice of
 * planner, the failure kinds, the per-thread kind of the last failure,
 * spend and cancellation, and copies of requests for other threads.
 */
#include "hypotop/planner.h"

#include <stdlib.h>
#include <string.h>

static const struct {
	const char *name;
	bool pause;
	const char *doc;
} kinds[] = {
#define PLANNER_KIND_ROW(id, name, pause, doc) {name, pause, doc},
	PLANNER_KINDS(PLANNER_KIND_ROW)
#undef PLANNER_KIND_ROW
};

static _Thread_local const char *last_kind;

const char *planner_kind_name(enum planner_kind k)
{
	return k < PK__COUNT ? kinds[k].name : kinds[PK_PLANNER].name;
}

static int kind_find(const char *kind)
{
	for (size_t i = 0; kind && i < ARRAY_LEN(kinds); i++)
		if (!strcmp(kinds[i].name, kind))
			return (int)i;
	return -1;
}

bool planner_kind_pauses(const char *kind)
{
	int i = kind_find(kind);

	return i >= 0 && kinds[i].pause;
}

const char *planner_kind_doc(const char *kind)
{
	int i = kind_find(kind);

	return i >= 0 ? kinds[i].doc : kinds[PK_PLANNER].doc;
}

const char *planner_last_kind(void)
{
	return last_kind;
}

void planner_set_kind(const char *kind)
{
	int i = kind_find(kind);

	/* Only names of the table: the pointer outlives any caller's buffer. */
	last_kind = !kind ? NULL : i >= 0 ? kinds[i].name : kinds[PK_PLANNER].name;
}

int planner_analyse(struct planner *p, const struct analyse_request *r, char **analysis,
		    cJSON **verdict, const char **kind, struct err *e)
{
	*analysis = NULL;
	*verdict = NULL;
	planner_set_kind(NULL);
	int rc = p->analyse(p, r, analysis, verdict, e);
	if (rc == 0 && contract_check_analysis(*verdict, e) < 0)
		rc = -1;
	if (rc < 0) {
		free(*analysis);
		cJSON_Delete(*verdict);
		*analysis = NULL;
		*verdict = NULL;
		if (!last_kind)
			planner_set_kind(planner_kind_name(PK_INVALID));
	} else {
		planner_set_kind(NULL);
	}
	if (kind)
		*kind = last_kind;
	return rc;
}

/* After a call that answers with JSON: the answer checked, the kind reported. */
static int settle(int rc, cJSON **answer, int (*check)(const cJSON *, struct err *),
		  const char **kind, struct err *e)
{
	if (rc == 0 && check(*answer, e) < 0)
		rc = -1;
	if (rc < 0) {
		cJSON_Delete(*answer);
		*answer = NULL;
		if (!last_kind)
			planner_set_kind(planner_kind_name(PK_INVALID));
	} else {
		planner_set_kind(NULL);
	}
	if (kind)
		*kind = last_kind;
	return rc;
}

int planner_plan(struct planner *p, const struct plan_request *r, cJSON **plan,
		 const char **kind, struct err *e)
{
	*plan = NULL;
	planner_set_kind(NULL);
	return settle(p->plan(p, r, plan, e), plan, contract_check_plan, kind, e);
}

/*
 * A change asked of p through fn; a planner without fn answers that it
 * cannot change code.
 */
static int ask_change(struct planner *p, const struct fix_request *r, cJSON **answer,
		      const char **kind, struct err *e,
		      int (*fn)(struct planner *, const struct fix_request *, cJSON **,
				struct err *),
		      int (*check)(const cJSON *, struct err *), const char *text_key)
{
	*answer = NULL;
	planner_set_kind(NULL);
	int rc;
	if (fn) {
		rc = fn(p, r, answer, e);
	} else {
		char *why = xasprintf("the %s planner cannot change code; it proposes parameter "
				      "changes only",
				      p->name);
		*answer = cJSON_CreateObject();
		cJSON_AddStringToObject(*answer, text_key, why);
		cJSON_AddNullToObject(*answer, "change");
		free(why);
		rc = 0;
	}
	return settle(rc, answer, check, kind, e);
}

int planner_repair(struct planner *p, const struct fix_request *r, cJSON **answer,
		   const char **kind, struct err *e)
{
	return ask_change(p, r, answer, kind, e, p->repair, contract_check_repair, "fix");
}

int planner_instrument(struct planner *p, const struct fix_request *r, cJSON **answer,
		       const char **kind, struct err *e)
{
	return ask_change(p, r, answer, kind, e, p->instrument, contract_check_instrument,
			  "summary");
}

int planner_report(struct planner *p, const struct report_request *r, char **report,
		   const char **kind, struct err *e)
{
	int rc = 0;

	*report = NULL;
	planner_set_kind(NULL);
	if (p && p->report)
		rc = p->report(p, r, report, e);
	else
		*report = planner_report_offline(r);
	if (rc < 0) {
		free(*report);
		*report = NULL;
		if (!last_kind)
			planner_set_kind(planner_kind_name(PK_PLANNER));
	} else {
		planner_set_kind(NULL);
	}
	if (kind)
		*kind = last_kind;
	return rc;
}

double planner_spent_usd(struct planner *p, bool *known)
{
	if (p && p->spent)
		return p->spent(p, known);
	if (known)
		*known = true;
	return 0;
}

void planner_set_prior_spend(struct planner *p, double usd)
{
	if (p && p->set_prior_spend)
		p->set_prior_spend(p, usd);
}

void planner_cancel(struct planner *p)
{
	if (p && p->cancel)
		p->cancel(p);
}

struct planner *planner_new(const struct config *cfg, const char *workdir, struct err *e)
{
	if (!cfg->llm_provider || !strcmp(cfg->llm_provider, "offline"))
		return planner_offline_new(cfg, e);
	return planner_llm_new(cfg, workdir, e);
}

/* ---- copies for another thread ---- */

static char *dup_or_null(const char *s)
{
	return s ? xstrdup(s) : NULL;
}

static cJSON *json_dup(const cJSON *j)
{
	return j ? cJSON_Duplicate(j, true) : NULL;
}

struct analyse_request *planner_analyse_request_dup(const struct analyse_request *r)
{
	struct analyse_request *c = xmalloc(sizeof *c);

	*c = *r;
	c->node = dup_or_null(r->node);
	c->name = dup_or_null(r->name);
	c->hypothesis = dup_or_null(r->hypothesis);
	c->status = dup_or_null(r->status);
	c->failure_kind = dup_or_null(r->failure_kind);
	c->best_node = dup_or_null(r->best_node);
	c->metrics_json = dup_or_null(r->metrics_json);
	c->log_tail = dup_or_null(r->log_tail);
	c->change = dup_or_null(r->change);
	return c;
}

/* The copies own their strings; the request's fields are const for the callee only. */
static void free_const(const void *p)
{
	free((void *)(uintptr_t)p);
}

void planner_analyse_request_free(struct analyse_request *r)
{
	if (!r)
		return;
	free_const(r->node);
	free_const(r->name);
	free_const(r->hypothesis);
	free_const(r->status);
	free_const(r->failure_kind);
	free_const(r->best_node);
	free_const(r->metrics_json);
	free_const(r->log_tail);
	free_const(r->change);
	free(r);
}

struct plan_request *planner_plan_request_dup(const struct plan_request *r)
{
	struct plan_request *c = xmalloc(sizeof *c);
	struct plan_entry *h = xcalloc(r->nhistory ? r->nhistory : 1, sizeof *h);

	*c = *r;
	c->base_params = json_dup(r->base_params);
	c->node_params = json_dup(r->node_params);
	c->node = dup_or_null(r->node);
	c->directive = dup_or_null(r->directive);
	c->confirm_stop = dup_or_null(r->confirm_stop);
	for (size_t i = 0; i < r->nhistory; i++) {
		const struct plan_entry *x = &r->history[i];
		h[i] = *x;
		h[i].id = dup_or_null(x->id);
		h[i].parent = dup_or_null(x->parent);
		h[i].name = dup_or_null(x->name);
		h[i].status = dup_or_null(x->status);
		h[i].failure_kind = dup_or_null(x->failure_kind);
		h[i].params = json_dup(x->params);
		h[i].hypothesis = dup_or_null(x->hypothesis);
	}
	c->history = h;
	return c;
}

static void json_free_const(const cJSON *j)
{
	cJSON_Delete((cJSON *)(uintptr_t)j);
}

void planner_plan_request_free(struct plan_request *r)
{
	if (!r)
		return;
	for (size_t i = 0; i < r->nhistory; i++) {
		const struct plan_entry *x = &r->history[i];
		free_const(x->id);
		free_const(x->parent);
		free_const(x->name);
		free_const(x->status);
		free_const(x->failure_kind);
		json_free_const(x->params);
		free_const(x->hypothesis);
	}
	free_const(r->history);
	json_free_const(r->base_params);
	json_free_const(r->node_params);
	free_const(r->node);
	free_const(r->directive);
	free_const(r->confirm_stop);
	free(r);
}
