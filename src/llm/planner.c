/*
 * planner.c — what every planner shares (see planner.h): the choice of
 * planner, the failure kinds, the per-thread kind of the last failure,
 * spend and cancellation, and copies of requests for other threads.
 */
#include "hypotop/planner.h"

#include <stdio.h>
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

/* The requests of the thread's last call (planner_take_calls): no heap, nothing to free. */
#define CALLS_MAX 16
#define STEM_MAX 96
static _Thread_local struct {
	char stem[CALLS_MAX][STEM_MAX];
	size_t n;
} calls;

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

void planner_note_call(const char *stem)
{
	if (calls.n < CALLS_MAX)
		snprintf(calls.stem[calls.n++], STEM_MAX, "%s", stem);
}

cJSON *planner_take_calls(void)
{
	cJSON *a = calls.n ? cJSON_CreateArray() : NULL;

	for (size_t i = 0; i < calls.n; i++)
		cJSON_AddItemToArray(a, cJSON_CreateString(calls.stem[i]));
	calls.n = 0;
	return a;
}

/* Before a call: no failure kind, no requests yet. */
static void call_begin(void)
{
	planner_set_kind(NULL);
	calls.n = 0;
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

int planner_analyse(struct planner *p, const struct analyse_request *r, char **analysis,
		    cJSON **verdict, const char **kind, struct err *e)
{
	*analysis = NULL;
	*verdict = NULL;
	call_begin();
	int rc = settle(p->analyse(p, r, analysis, verdict, e), verdict, contract_check_analysis,
			kind, e);
	if (rc < 0) {
		free(*analysis);
		*analysis = NULL;
	}
	return rc;
}

int planner_plan(struct planner *p, const struct plan_request *r, cJSON **plan,
		 const char **kind, struct err *e)
{
	*plan = NULL;
	call_begin();
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
	call_begin();
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

size_t planner_in_flight(struct planner *p, struct planner_flight *out, size_t max)
{
	return p && p->in_flight ? p->in_flight(p, out, max) : 0;
}

void planner_watch(struct planner *p, void (*fn)(void *ctx), void *ctx)
{
	if (p) {
		p->on_flight = fn;
		p->on_flight_ctx = ctx;
	}
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
