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

/*
 * Where a call about a node runs: a checkout of the node's commit that the
 * engine makes for a command provider (SPEC §7), which runs there and is
 * told the node and commit. NULL in a request, or dir NULL: where hypotop
 * runs.
 */
struct planner_place {
	const char *dir, *node, *commit;
};

/* One experiment of the history, as the planner sees it. */
struct plan_entry {
	const char *id, *parent, *name, *status, *failure_kind;
	const cJSON *params; /* effective parameters (param file + changes), or NULL */
	bool has_metric;
	double metric;
	const char *hypothesis;   /* or NULL */
	const char *change;       /* the node's own change as JSON (change.h), or NULL */
};

/*
 * What the engine's keep rule makes of a run (keep.c), for its analysis to
 * agree with: the engine alone decides what improved.
 */
enum keep_call {
	KEEP_UNSAID,    /* not told: the analysis judges on the numbers alone */
	KEEP_REFERENCE, /* a run of the baseline: the reference, judged on nothing */
	KEEP_REPEAT,    /* a seed repeat of its parent, to confirm it */
	KEEP_NO,        /* does not beat the best beyond the noise */
	KEEP_CANDIDATE, /* beats it on one run: improved only if its repeats confirm it */
	KEEP_IMPROVED,  /* beats it, and is kept as the best */
};

struct analyse_request {
	const struct config *cfg;
	const char *node, *name, *hypothesis;
	const char *status;       /* "completed" or "failed" */
	const char *failure_kind; /* when failed */
	bool has_metric, has_parent_metric, has_best;
	/* parent_metric, best_metric: the means of their runs (parent_runs, best_runs). */
	double metric, parent_metric, best_metric;
	double parent_sd, best_sd;
	int parent_runs, best_runs;
	const char *best_node, *parent_node;
	double noise_sigma;       /* run-to-run spread, pooled (noise.h); 0: unknown */
	int noise_runs;           /* the runs σ rests on */
	enum keep_call keep;
	const char *repeat_of;    /* KEEP_REPEAT: the node it repeats */
	bool has_decimals;        /* the metric's precision is known: */
	int decimals;             /* noise_decimals() */
	const char *metrics_json; /* metrics_to_json() of the run, or NULL */
	const char *log_tail;     /* last lines of the log, or NULL */
	const char *change;       /* the node's change as JSON (change.h), or NULL */
	const struct planner_place *place;
};

/* Proposals a planning round asks for: the engine's free slots, within these. */
#define PLAN_WANT_MIN 3
#define PLAN_WANT_MAX 16
#define WANT_MAX_TEXT "16" /* PLAN_WANT_MAX, for the prompt's text */

/*
 * The check every proposal of a round passes before it is queued (the
 * engine's, vet.c), on the planner thread, in the order of the plan: 0
 * when its change may be queued (and it is remembered, so that a later
 * proposal repeating it is refused); -1 with why set to what a model can
 * act on when it is refused: params that cannot apply, a protected file,
 * a change that does not apply or changes nothing, the same experiment as
 * an earlier node or proposal.
 *
 * A planner given one checks its proposals and may answer with some the
 * check refuses (a model is asked once more for those, and one refused
 * again stays): the engine checks the plan again and drops, with a line
 * in its log, whatever is still refused. Nothing refused is queued.
 */
struct plan_vet {
	int (*check)(void *ctx, const cJSON *proposal, struct buf *why);
	void *ctx;
};

struct plan_request {
	const struct config *cfg;
	const cJSON *base_params;  /* the param file at the baseline commit, or NULL */
	const struct plan_entry *history;
	size_t nhistory;
	const char *node;          /* the node the proposals will be children of */
	const cJSON *node_params;  /* its effective parameters */
	long round;                /* planning round, 1-based: seeds the offline planner */
	int want;                  /* proposals wanted, PLAN_WANT_MIN to PLAN_WANT_MAX */
	const char *directive;     /* the person's guidance (directive.md), or NULL */
	/*
	 * SPEC §7: a stop answered while patience or fixed experiments remain
	 * is asked once more. confirm_stop: that answer's reason, when this
	 * call asks for the confirmation; NULL otherwise. patience_left: rounds
	 * without gain still allowed (-1: no patience rule); fixed_left: fixed
	 * experiments not yet finished.
	 */
	const char *confirm_stop;
	long patience_left;
	int fixed_left;
	const struct planner_place *place;
	/*
	 * The sources in scope at the node's commit (whole within
	 * llm.context_bytes, the rest named), files_more those in scope left
	 * out of even the list; and the node's diff against the baseline (NULL
	 * for the baseline itself).
	 */
	const struct source_file *files;
	size_t nfiles, files_more;
	const char *diff;
	const struct plan_vet *vet; /* NULL: the proposals are not checked */
	/*
	 * For a model (NULL and 0 for the offline planner): the node's own
	 * analysis (runs/<id>/analysis.md), and the newest failed runs, newest
	 * first, each with its failure kind and the end of its log.
	 */
	const char *analysis;
	const struct plan_failure *failures;
	size_t nfailures;
	/*
	 * For a model: the offline planner's proposals for the same round
	 * (its surrogate's picks over search_space, each with what it expects
	 * there), to take, change or ignore; NULL for none.
	 */
	const cJSON *suggestions;
};
#define PLAN_SUGGESTIONS 3 /* the surrogate's picks a model is shown */

/* A failed run a plan is shown: what went wrong, in its own words. */
struct plan_failure {
	const char *id, *kind, *log_tail;
};
#define PLAN_FAILURES 3           /* failed runs a plan prompt shows */
#define PLAN_FAILURE_TAIL 2048    /* bytes of each one's log */

/* One experiment in a report: its history row and what its analysis said. */
struct report_entry {
	struct plan_entry e;
	int improved;          /* 1 yes, 0 no, -1 not judged: node_improved() (noise.h) */
	const char *repeat_of; /* a seed repeat (or a baseline copy): the node it runs again */
	bool has_delta;        /* delta: against the parent, like with like (noise_delta) */
	double delta;
	const cJSON *verdict;  /* its analysis as the analyse contract, or NULL */
	const char *analysis;  /* runs/<id>/analysis.md, or NULL */
};

/*
 * The report of a whole workdir (SPEC §3 `hypotop report`): every node in
 * id order, the kept best, and the loop's counters.
 */
struct report_request {
	const struct config *cfg;
	const struct report_entry *nodes;
	size_t n;
	const char *best;      /* id of the kept best node, or NULL */
	const char *headline;  /* the best's runs against the baseline's (noise_headline), or NULL */
	const char *noise;     /* what σ is and on how many runs it rests (noise_format), or NULL */
	long iteration, rounds_without_gain;
};

/*
 * A file of the source tree, shown to the model as it is at the commit
 * asked about: whole, or (text NULL) only named with its size.
 */
struct source_file {
	const char *path, *text;
	size_t size;
};

/*
 * A request for a change to the code: a repair of a run that died at
 * start-up, or the instrumentation of the training script before the
 * baseline. The repair fields are NULL for instrument.
 */
struct fix_request {
	const struct config *cfg;
	const char *node, *name, *hypothesis;
	const char *failure_kind, *why; /* repair: what failed, and hypotop's words on it */
	const char *log_tail;           /* repair: the last lines of the log */
	const char *change;             /* repair: the failed node's change as JSON, or NULL */
	const struct source_file *files; /* the sources in scope, at the node's commit */
	size_t nfiles;
	int attempt, attempts;          /* repair: this is attempt N of repair_attempts */
	const struct planner_place *place;
};

/* A request to the model in flight: what it asks, about which node, since when. */
struct planner_flight {
	char kind[16], node[48];
	int64_t started; /* ms since the epoch */
};
#define PLANNER_FLIGHTS_MAX 8

struct planner {
	const char *name;
	/*
	 * Its answers cost money and time to ask again (a model): the engine
	 * flushes each analysis to disk before it records the node as ended.
	 * The offline planner's are computed from the metrics in a moment.
	 */
	bool paid;
	/*
	 * analyse and plan may run on a background thread, several at once:
	 * they read the request and the planner and write only their outputs
	 * (and the planner's own logs under the workdir). The request, and the
	 * config it points to, must stay unchanged until the call returns:
	 * the engine's tasks own copies of what their requests point to.
	 */
	/* *analysis: Markdown for runs/<id>/analysis.md; *verdict: the analyse contract. */
	int (*analyse)(struct planner *p, const struct analyse_request *r, char **analysis,
		       cJSON **verdict, struct err *e);
	/* *plan: the plan contract. */
	int (*plan)(struct planner *p, const struct plan_request *r, cJSON **plan,
		    struct err *e);
	/*
	 * *answer: the repair contract ({"fix", "change"}) or the instrument
	 * contract ({"summary", "change"}); "change" null when there is none
	 * to give. NULL: the planner cannot change code (the offline planner),
	 * and planner_repair/planner_instrument answer with no change.
	 */
	int (*repair)(struct planner *p, const struct fix_request *r, cJSON **answer,
		      struct err *e);
	int (*instrument)(struct planner *p, const struct fix_request *r, cJSON **answer,
			  struct err *e);
	/* *report: Markdown for report.md. NULL: the built-in report (planner_report_offline). */
	int (*report)(struct planner *p, const struct report_request *r, char **report,
		      struct err *e);
	void (*destroy)(struct planner *p);
	/* USD spent by the calls so far (planner_spent_usd()); NULL: nothing. */
	double (*spent)(struct planner *p, bool *known);
	/* Spend recorded before this process (state.json); NULL: ignored. */
	void (*set_prior_spend)(struct planner *p, double usd);
	/*
	 * For shutdown: calls in flight, and any made later, return at once
	 * with kind llm_cancelled. NULL: nothing to cancel.
	 */
	void (*cancel)(struct planner *p);
	/* The model calls in flight now (planner_in_flight); NULL: it makes none. */
	size_t (*in_flight)(struct planner *p, struct planner_flight *out, size_t max);
	/*
	 * Called on the calling thread whenever a model call starts or ends
	 * (planner_watch), or NULL; set before the first call.
	 */
	void (*on_flight)(void *ctx);
	void *on_flight_ctx;
	void *priv;
};

struct planner *planner_offline_new(const struct config *cfg, struct err *e);
/*
 * A model behind the interface: cfg->llm_provider "anthropic", "openai" or
 * "command". Each call writes logs/NNN_<kind>_<node>_{prompt.md,output.md,
 * raw.json} (mode 0600) under workdir, with its token usage and cost; the
 * API key comes from the environment and is written nowhere.
 * cfg must outlive the planner.
 */
struct planner *planner_llm_new(const struct config *cfg, const char *workdir, struct err *e);
/* The planner cfg->llm_provider names. */
struct planner *planner_new(const struct config *cfg, const char *workdir, struct err *e);

/*
 * Why a call failed: one list, with what the engine should do about it.
 * pause: planning cannot go on until a person acts (or the budget grows);
 * the others concern this call only (the node is marked, the loop goes on,
 * or the call is tried again later).
 */
#define PLANNER_KINDS(X)                                                                   \
	X(PK_UNAVAILABLE, "llm_unavailable", false,                                        \
	  "the model could not be reached, or kept failing, after retries (network, "      \
	  "timeout, 429/5xx/529), or the command failed: try again later")                 \
	X(PK_INVALID, "llm_invalid", false,                                                \
	  "the answer broke the JSON contract (or was cut off) even after one retry")      \
	X(PK_REFUSED, "llm_refused", false, "the model refused to answer")                 \
	X(PK_SECRET, "llm_secret", true,                                                   \
	  "the answer carried an API key of the environment, so it was refused: check "    \
	  "the server or the command that answers")                                        \
	X(PK_SPEND_LIMIT, "llm_spend_limit", true,                                         \
	  "the provider's spend limit is reached: raise it, then resume planning")         \
	X(PK_BUDGET, "llm_budget", true,                                                   \
	  "budget.llm_usd is spent, or the request's worst-case cost would pass it")       \
	X(PK_AUTH, "llm_auth", true,                                                       \
	  "the API key is missing or was refused (401/403): fix it, then resume")          \
	X(PK_REQUEST, "llm_request", true,                                                 \
	  "the server refused the request (400/404/413): check llm.model and "             \
	  "llm.base_url")                                                                  \
	X(PK_CANCELLED, "llm_cancelled", false, "the call was cancelled (shutdown)")       \
	X(PK_PLANNER, "planner", false, "the planner failed for another reason")

#define PLANNER_KIND_ENUM(id, name, pause, doc) id,
enum planner_kind { PLANNER_KINDS(PLANNER_KIND_ENUM) PK__COUNT };
#undef PLANNER_KIND_ENUM

const char *planner_kind_name(enum planner_kind k);
/* Whether a failure of this kind (a name above) should pause planning. */
bool planner_kind_pauses(const char *kind);
/* The one-line explanation of a kind, for messages and the man page. */
const char *planner_kind_doc(const char *kind);

/*
 * The kind of the last failed analyse/plan on the calling thread (NULL
 * after a success through planner_analyse/planner_plan). Read it on the
 * thread that made the call, before that thread calls again. Planners set
 * it with planner_set_kind().
 */
const char *planner_last_kind(void);
void planner_set_kind(const char *kind);

/*
 * p->analyse / p->plan with the kind cleared before and reported after:
 * *kind is NULL on success, one of PLANNER_KINDS on failure. The plan is
 * checked against its contract whoever produced it.
 */
int planner_analyse(struct planner *p, const struct analyse_request *r, char **analysis,
		    cJSON **verdict, const char **kind, struct err *e);
int planner_plan(struct planner *p, const struct plan_request *r, cJSON **plan,
		 const char **kind, struct err *e);
/* The same for p->repair and p->instrument (see struct planner). */
int planner_repair(struct planner *p, const struct fix_request *r, cJSON **answer,
		   const char **kind, struct err *e);
int planner_instrument(struct planner *p, const struct fix_request *r, cJSON **answer,
		       const char **kind, struct err *e);

/*
 * p->report, or the built-in report when p (or its report) is NULL: *kind
 * as for planner_plan. The built-in one never fails.
 */
int planner_report(struct planner *p, const struct report_request *r, char **report,
		   const char **kind, struct err *e);
/* The built-in report, a pure function of the request (offline_report.c). */
char *planner_report_offline(const struct report_request *r);

/*
 * What report calls cost, from their files logs/NNN_report_*_raw.json under
 * workdir: a report is made by `hypotop report`, which may run beside the
 * engine and so cannot add its spend to state.json. Every budget check
 * adds it to the engine's; *known as for planner_spent_usd.
 */
double planner_report_spend(const char *workdir, bool *known);
/*
 * Whether every call's cost is known, from the files of all the calls
 * under workdir/logs (a command without total_cost_usd writes "unknown"):
 * what a spend shown is said to count.
 */
bool planner_costs_known(const char *workdir);

/*
 * Total USD spent by the model: the prior spend plus this process's calls.
 * *known is false when some call's cost is unknown (a model missing from
 * the price table): the total then counts only the known costs.
 */
double planner_spent_usd(struct planner *p, bool *known);
/* The calls in flight now, oldest first, at most max: how many (0 for a planner without). */
size_t planner_in_flight(struct planner *p, struct planner_flight *out, size_t max);
/* fn(ctx), on the planner's thread, whenever a call starts or ends; before any call. */
void planner_watch(struct planner *p, void (*fn)(void *ctx), void *ctx);

/*
 * The log files of the requests the last analyse/plan/repair/instrument
 * on the calling thread made, as a JSON array of their stems
 * ("logs/004_plan_n0001": the files are STEM_prompt.md, STEM_output.md
 * and STEM_raw.json), a contract retry's too; NULL when it made none (the
 * offline planner). Cleared by the next call; the caller owns the array.
 * Planners note each request with planner_note_call().
 */
cJSON *planner_take_calls(void);
void planner_note_call(const char *stem);
void planner_set_prior_spend(struct planner *p, double usd);
void planner_cancel(struct planner *p);

/* The contracts of SPEC §7: 0 when j is valid; unknown keys are refused. */
int contract_check_analysis(const cJSON *j, struct err *e);
int contract_check_plan(const cJSON *j, struct err *e);
/*
 * repair     → {"fix": str, "change": CHANGE | null}
 * instrument → {"summary": str, "change": CHANGE | null}
 * CHANGE as in a plan's proposals; null: no change to give.
 */
int contract_check_repair(const cJSON *j, struct err *e);
int contract_check_instrument(const cJSON *j, struct err *e);
/*
 * The first complete JSON object in text (prose and ```json fences allowed
 * around it) that passes check; NULL with e set to the last problem.
 */
cJSON *contract_extract(const char *text, int (*check)(const cJSON *, struct err *),
			struct err *e);

#endif
