/*
 * config.h — config.json: what to run, how to judge it and how far to go.
 *
 * One table (CONFIG_KEYS) lists every key with its type, range, default
 * and meaning. The same table validates a file, fills struct config, writes
 * the file `hypotop init` creates, and prints the reference the man page
 * carries, so code and documentation cannot drift apart.
 */
#ifndef HYPOTOP_CONFIG_H
#define HYPOTOP_CONFIG_H

#include <cjson/cJSON.h>
#include <stdbool.h>

#include "hypotop/health_rules.h"
#include "hypotop/util.h"

struct config {
	char *source_dir;
	char *launch;
	char *build;
	char *metric;
	char *goal;           /* "min" or "max" */
	long max_iterations;
	long patience;
	long max_concurrency;
	double job_timeout;   /* seconds; 0: none */
	char *notes;
	char *image;
	long seed;
	long repair_attempts;
	long requeue_lost;
	double stall_seconds;
	long noise_seeds;
	double noise_k;
	char *prune_series;   /* NULL: no pruning */
	char *prune_goal;     /* "min", "max", or NULL: see config.c */
	double prune_warmup_steps;
	long prune_min_runs;
	double prune_margin;
	double prune_margin_relative;
	long prune_patience;
	char *llm_provider;
	char *llm_model;
	char *llm_base_url;
	char *llm_api_key_env;
	char *llm_command;
	bool llm_instrument;     /* ask for step timing before the baseline */
	long llm_context_bytes;  /* source text a plan prompt may carry whole */
	double llm_timeout_s;    /* a request's deadline; 0: the provider's default */
	double budget_llm_usd;   /* < 0: no cap */
	double budget_gpu_hours; /* < 0: no cap */
	double budget_usd;       /* all spend: the model's and rented workers'; < 0: no cap */
	/* Vast.ai (vast.h) */
	char *vast_base_url; /* NULL: VAST_DEFAULT_URL */
	double vast_idle_release_min; /* < 0: off */
	bool vast_autorent;
	long vast_max_instances;
	char *vast_offer_gpu;                    /* NULL: any */
	double vast_offer_max_dph, vast_offer_min_rel; /* < 0: any */
	char *vast_user, *vast_key_file, *vast_known_hosts, *vast_workspace; /* rented workers' */
	const cJSON *gpus;              /* array of GPU indices, or NULL */
	const cJSON *metric_patterns;   /* object name -> regex, or NULL */
	const cJSON *search_space;      /* object, or NULL */
	const cJSON *fixed_experiments; /* array, or NULL */
	const cJSON *llm_prices;        /* object model -> prices, or NULL */
	const cJSON *llm_context;       /* array of globs of the sources a plan shows, or NULL */
	const cJSON *protect;           /* array of globs of files no change may touch, or NULL */
	/* health: the rules that judge a running job (health_rules.h) */
	long health_phase1_steps;
	double health_patrol_seconds;
	char *health_grad_norm_series;
	long health_gpu_warmup_steps;
	char *health_checkpoint_glob; /* NULL: checkpoint_age is off */
	struct health_rule_cfg health[HR__COUNT];
	/* alerts: where the rules' firings go */
	bool alerts_bell;
	char *alerts_webhook_url; /* NULL: none */
	double alerts_repeat_seconds;
	cJSON *doc;                     /* the parsed file; owns the above */
};

/*
 * Validate a parsed config document and fill c from it (defaults where a
 * key is absent). `path` and `text` (may be NULL) give messages their file
 * and line. On failure c is left empty.
 */
int config_from_json(struct config *c, cJSON *doc, const char *path, const char *text,
		     struct err *e);
int config_load(struct config *c, const char *path, struct err *e);
void config_free(struct config *c);
/*
 * Whether path (relative to the top of the source tree) matches one of
 * globs, an array of strings such as llm.context or protect: * and ?
 * do not cross a /, nor match a leading dot. NULL globs match nothing.
 */
bool config_globbed(const cJSON *globs, const char *path);
/* Fill in every absent key that has a default, for `hypotop init`. */
void config_fill_defaults(cJSON *doc);
/* The key reference, as man(7) text (fmt "man") or plain text. */
void config_print_reference(struct buf *b, bool man);
/* s as man(7) text: backslashes and hyphens escaped. */
void config_man_escape(struct buf *b, const char *s);

#endif
