/*
 * llm.h — the model providers behind the planner interface (SPEC §7):
 * a small libcurl client, the retry rules of the official SDKs, the price
 * table, prompt building, and the `anthropic`, `openai` and `command`
 * providers that planner_llm_new() (planner.h) puts behind analyse/plan.
 *
 * Threads: nothing here keeps global state. Every function may run on any
 * thread, several at once, provided main() called llm_global_init() once
 * before starting any thread (it wraps curl_global_init, which is not
 * thread-safe) and llm_global_cleanup() after the last one ended.
 *
 * Secrets: the API key lives only in memory (struct llm_client.key) and in
 * the request header that carries it. The other keys of the environment
 * are kept beside it (struct llm_client.secrets), and everything written
 * to disk or put into an error message passes through llm_scrub() first,
 * so a server or a command that echoes a key does not leak it either.
 * An answer is scrubbed before anything reads it (llm_planner.c).
 */
#ifndef HYPOTOP_LLM_H
#define HYPOTOP_LLM_H

#include <cjson/cJSON.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

#include "hypotop/config.h"
#include "hypotop/planner.h"
#include "hypotop/util.h"

/* Once per process, before any thread starts: 0, or -1 when libcurl cannot start. */
int llm_global_init(void);
void llm_global_cleanup(void);

/* ---- HTTP ---------------------------------------------------------------- */

/*
 * Cancellation shared by the calls of one planner: llm_cancel_sleep()
 * waits unless cancelled, and a transfer in progress is aborted at its
 * next progress callback.
 */
struct llm_cancel {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool cancelled;
};

void llm_cancel_init(struct llm_cancel *c);
void llm_cancel_destroy(struct llm_cancel *c);
void llm_cancel_set(struct llm_cancel *c);
bool llm_cancelled(struct llm_cancel *c);
/* Sleep ms milliseconds; false (early) when cancelled. */
bool llm_cancel_sleep(struct llm_cancel *c, long ms);

struct http_request {
	const char *url;
	const char *const *headers; /* "Name: value" lines */
	size_t nheaders;
	const char *body;
	size_t body_len;
	long connect_timeout_ms, timeout_ms;
	struct llm_cancel *cancel; /* or NULL */
	const char *method;        /* NULL: POST; "GET", "PUT", "DELETE" (body optional) */
};

/* Why a transfer gave no HTTP response. */
enum http_fail {
	HTTP_OK,        /* a response came (any status) */
	HTTP_TRANSIENT, /* refused or dropped connection, timeout: worth a retry */
	HTTP_FATAL,     /* bad URL, unsupported scheme, TLS setup: retrying will not help */
	HTTP_CANCELLED,
};

struct http_response {
	long status;
	struct buf headers; /* the final response's header lines, "name: value\n" */
	struct buf body;
};

void http_response_init(struct http_response *r);
void http_response_free(struct http_response *r);
/* A header's value (case-insensitive name), copied into out; false when absent. */
bool http_response_header(const struct http_response *r, const char *name, char *out,
			  size_t n);
/* POST (or rq->method); e holds the transport problem unless HTTP_OK. */
enum http_fail http_post(const struct http_request *rq, struct http_response *rs,
			 struct err *e);

/* ---- retries like the official SDKs (REFERENCE.md) ----------------------- */

struct llm_opts {
	long connect_timeout_ms; /* default 10 s */
	long timeout_ms;         /* a whole request; default 600 s */
	int max_retries;         /* after the first try; default 2 */
	double backoff_base_s;   /* first computed delay; default 0.5 */
	double backoff_max_s;    /* computed delays stop growing here; default 8 */
	long max_tokens;         /* default 8192; doubled (to 32768 at most) after a cut-off */
	long command_timeout_ms; /* the command provider; default 30 min */
};

void llm_opts_default(struct llm_opts *o);

/*
 * Whether an HTTP status is retried: 408, 409, 429 and 5xx, unless the
 * server says otherwise with x-should-retry.
 */
bool llm_should_retry(const struct http_response *r);
/*
 * The delay before retry number `attempt` (0-based): retry-after-ms, else
 * retry-after (seconds or an HTTP date), when it lies in (0, 60 s];
 * otherwise min(base·2^attempt, max) × (1 − 0.25·jitter), jitter in [0, 1).
 * r may be NULL (no response).
 */
long llm_retry_delay_ms(const struct http_response *r, int attempt, const struct llm_opts *o,
			double jitter);

/* ---- price table and usage ----------------------------------------------- */

struct llm_usage {
	long input, output, cache_write, cache_read; /* tokens; input excludes cached */
};

struct llm_price {
	const char *model;
	double input, cache_write, cache_read, output; /* USD per million tokens */
};

/*
 * The price of a model, from prices (the config's llm.prices; may be
 * NULL), else the built-in table: a name there, alone or followed by a
 * dated suffix ("claude-sonnet-5-5-20260901"). false when unknown.
 */
bool llm_price_find(const cJSON *prices, const char *model, struct llm_price *out);
/* USD for usage; false when the model's price is unknown (the cost is then unknown, not 0). */
bool llm_cost(const cJSON *prices, const char *model, const struct llm_usage *u, double *usd);

/* ---- one exchange with a model ------------------------------------------- */

/* A value never to be written: a key of the environment, and its variable. */
struct llm_secret {
	const char *var;
	char *value;
};

/* The variable llm.api_key_env names, ANTHROPIC_API_KEY and OPENAI_API_KEY. */
#define LLM_SECRETS_MAX 3
/* Shorter values are placeholders, not keys: llm_scrub() leaves them. */
#define LLM_SECRET_MIN 8

struct llm_client {
	const char *provider;      /* "anthropic", "openai" or "command" */
	char *model, *url, *command;
	char *key;                 /* or NULL; one of the secrets' values, sent only */
	/* Every key of the environment, the longest first; see llm_secrets_load(). */
	struct llm_secret secrets[LLM_SECRETS_MAX];
	size_t nsecrets;
	const cJSON *prices;       /* the config's llm.prices, or NULL */
	struct llm_opts opts;
	struct llm_cancel *cancel;
	/* Learnt once a server refuses structured output; guarded by mu. */
	pthread_mutex_t *mu;
	bool *no_schema;
};

/*
 * What is asked: a stable part (instructions, the contract, the project)
 * followed by the part of this call. On a contract retry, prev_answer and
 * problem hold the refused answer and what was wrong with it.
 */
struct llm_call {
	const char *kind;   /* "analyse", "plan", "repair", "instrument" or "report" */
	const char *system;
	const char *stable; /* the first user block: cacheable across calls */
	const char *request;
	const char *prev_answer, *problem;
	const char *schema; /* JSON schema of the contract (text) */
	long max_tokens;
	const char *source_dir;            /* the project's, or NULL */
	const struct planner_place *place; /* where it runs (command), or NULL */
};

/* What came back. Every field is owned and freed by llm_reply_free(). */
struct llm_reply {
	char *text;        /* the model's answer, or NULL */
	char *stop;        /* "end_turn", "max_tokens", "refusal", "stop_sequence"... */
	cJSON *raw;        /* the last response body (parsed, or a string), for raw.json */
	cJSON *attempts;   /* [{"status"|"error", "delay_ms"}] of every try */
	long status;       /* HTTP status of the last response; 0: none; command: exit status */
	bool has_usage;
	struct llm_usage usage;
	bool has_cost, cost_known; /* has_cost: the answer cost money; cost_known: usd is right */
	double usd;
	bool schema_dropped; /* structured output was refused by the server and left out */
	const char *kind;    /* on failure: one of PLANNER_KINDS (planner.h) */
};

void llm_reply_init(struct llm_reply *r);
/* Token counts from a usage object in Anthropic's shape (also a CLI agent's result). */
void llm_reply_usage(struct llm_reply *r, const cJSON *usage);
void llm_reply_free(struct llm_reply *r);

/*
 * The failure kind of an HTTP error, the same for every provider: a spend
 * limit (spend_limit), a refused key (401/403), a refused request (400,
 * 404, 413, 422), else unavailable after the retries of r->attempts. Sets
 * r->kind and e to "PROVIDER: WHAT; FIX", the fix for a spend limit and a
 * key given by the provider.
 */
void llm_http_failure(struct llm_reply *r, const char *provider, long status, bool spend_limit,
		      const char *what, const char *spend_fix, const char *key_fix,
		      struct err *e);

/*
 * The providers. 0 when the model answered (r->text set, whatever its
 * stop reason); -1 with r->kind and e set otherwise.
 */
int llm_anthropic_call(struct llm_client *c, const struct llm_call *q, struct llm_reply *r,
		       struct err *e);
int llm_openai_call(struct llm_client *c, const struct llm_call *q, struct llm_reply *r,
		    struct err *e);
int llm_command_call(struct llm_client *c, const struct llm_call *q, struct llm_reply *r,
		     struct err *e);

/* The request bodies, for tests: caller frees. */
char *llm_anthropic_body(const struct llm_client *c, const struct llm_call *q, bool schema);
char *llm_openai_body(const struct llm_client *c, const struct llm_call *q, bool schema);

/*
 * Read a 2xx body into r (text, stop, usage, cost); -1 with r->kind and e
 * set when it is not a usable answer. Exposed for tests.
 */
int llm_anthropic_parse(const struct llm_client *c, const char *body, struct llm_reply *r,
			struct err *e);
int llm_openai_parse(const struct llm_client *c, const char *body, struct llm_reply *r,
		     struct err *e);
/* A command's stdout: the contract itself, or a `claude -p --output-format json` result. */
int llm_command_parse(const char *out, struct llm_reply *r, struct err *e);

/*
 * The retry loop shared by the HTTP providers: POST until a 2xx, a status
 * that is not retried, or the retries are spent. is_final(resp) may mark
 * a retryable status final (a spend limit). Fills r->attempts and
 * r->status. Returns HTTP_OK with rs holding the last response, or the
 * transport failure of the last try (e set).
 */
enum http_fail llm_post(struct llm_client *c, const struct http_request *rq,
			bool (*is_final)(const struct http_response *), struct http_response *rs,
			struct llm_reply *r, struct err *e);

/* What tells one JSON-over-HTTP model API from another (anthropic.c, openai.c). */
struct llm_wire {
	const char *provider;
	char *(*body)(const struct llm_client *c, const struct llm_call *q, bool schema);
	/* A retryable status that is final all the same (a spend limit). */
	bool (*is_final)(const struct http_response *rs);
	/* A non-2xx response: r->kind and a message for a person in e. */
	void (*classify)(const struct http_response *rs, struct llm_reply *r, struct err *e);
	int (*parse)(const struct llm_client *c, const char *body, struct llm_reply *r,
		     struct err *e);
	/* Words of a 400 that refuses structured output; NULL-terminated. */
	const char *const *schema_words;
};

/*
 * One call through an HTTP provider: the request, llm_post's retries, the
 * answer parsed or the failure classified. A server that refuses
 * structured output is asked once more without it, and c remembers. The
 * key is scrubbed from e and r->raw.
 */
int llm_wire_call(struct llm_client *c, const struct llm_wire *w, const char *const *hdrs,
		  size_t nhdrs, const struct llm_call *q, struct llm_reply *r, struct err *e);

/* ---- prompts -------------------------------------------------------------- */

/* The three parts of a prompt; free with llm_prompt_free(). */
struct llm_prompt {
	char *system, *stable, *request, *schema;
};

/*
 * override_dir: a folder where analyse.md / plan.md / report.md replace the built-in
 * instructions (the contract is appended whatever they say); may be NULL.
 */
void llm_prompt_analyse(const struct analyse_request *r, const char *override_dir,
			struct llm_prompt *p);
void llm_prompt_plan(const struct plan_request *r, const char *override_dir,
		     struct llm_prompt *p);
/* The calls that ask for code (prompt_fix.c). */
void llm_prompt_repair(const struct fix_request *r, const char *override_dir,
		       struct llm_prompt *p);
void llm_prompt_instrument(const struct fix_request *r, const char *override_dir,
			   struct llm_prompt *p);
/* The report: Markdown text, no schema (p->schema is NULL); prompts/report.md overrides. */
void llm_prompt_report(const struct report_request *r, const char *override_dir,
		       struct llm_prompt *p);
void llm_prompt_free(struct llm_prompt *p);
/* The last words of a retry's request: what to answer again with. */
const char *llm_prompt_again(const struct llm_call *q);
/* The contracts as JSON schemas for structured output (all objects closed). */
char *llm_schema_analyse(void);
char *llm_schema_plan(const struct config *cfg);

/* ---- secrets ------------------------------------------------------------------ */

/*
 * Every occurrence of key in s replaced by "[redacted]" (starred out when
 * shorter); s itself when key is empty. Whether there was one.
 */
bool llm_redact(char *s, const char *key);
/* The same on every string (and member name) of a JSON tree. */
bool llm_redact_json(cJSON *j, const char *key);
/*
 * The secrets of c: the value of key_var, which becomes c->key (NULL when
 * unset or empty), then those of ANTHROPIC_API_KEY and OPENAI_API_KEY
 * when set, whoever they are for. key_var must outlive c. Freed (and
 * wiped) by llm_secrets_free().
 */
void llm_secrets_load(struct llm_client *c, const char *key_var);
void llm_secrets_free(struct llm_client *c);
/*
 * llm_redact() of every secret of c (of LLM_SECRET_MIN characters or
 * more) out of s and llm_redact_json() out of j (either may be NULL): the
 * variable of a secret found, or NULL.
 */
const char *llm_scrub(const struct llm_client *c, char *s, cJSON *j);

/* ---- call logs (calllog.c) ------------------------------------------------- */

/* What one request's log files say about it beyond the exchange itself. */
struct llm_call_log {
	long seq;
	const char *kind, *node;
	int attempt;
	int64_t started, ms;
	const char *contract_error; /* the answer's problem, or NULL when it was accepted */
	const char *refused; /* an accepted plan's proposals refused before queueing, or NULL */
};

/* logs/NNN_<kind>_<node>_{prompt.md,output.md,raw.json}; a write that fails is ignored. */
void llm_log_call(const char *logs, const struct llm_client *c, const struct llm_call_log *cl,
		  const struct llm_call *q, const struct llm_reply *r, int rc, const struct err *e);
/* planner_report_spend() of the logs folder itself. */
double llm_report_spend_in(const char *logs, bool *known);
/* A node id fit for a file name ("none" when empty). */
void llm_file_part(char *out, size_t n, const char *s);
/* Markdown text: newlines and tabs kept, other control characters made visible. */
void llm_add_md(struct buf *b, const char *s);

/* ---- the planner ------------------------------------------------------------- */

/* planner_llm_new() with explicit options (tests use short timeouts). */
struct planner *planner_llm_new_opts(const struct config *cfg, const char *workdir,
				     const struct llm_opts *o, struct err *e);

#endif
