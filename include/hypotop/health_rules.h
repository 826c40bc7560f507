/*
 * health_rules.h — the rules that judge a running job (SPEC §8), as one
 * table: HEALTH_RULES drives the parsing of config.json's health.rules,
 * the reference `hypotop config-keys` and the man page print, and the
 * engine's checks (engine/health.c), so that they cannot drift apart.
 *
 * Phase 1 rules are judged at each log line (and each GPU reading) while
 * the job's step is under health.phase1_steps; phase 2 rules on a patrol
 * every health.patrol_seconds. A rule that fires is an alert of its
 * severity, and its action: warn (the alert only), pause (the job is
 * stopped with SIGSTOP, as the pause operation does), stop (the job is
 * ended, failing with the rule's failure kind), or off (not judged).
 */
#ifndef HYPOTOP_HEALTH_RULES_H
#define HYPOTOP_HEALTH_RULES_H

#include <cjson/cJSON.h>
#include <stdbool.h>

#include "hypotop/util.h"

/* X(enum, name, phase, threshold, unit, action, severity, doc) */
#define HEALTH_RULES(X)                                                                     \
	X(LOSS_FINITE, "loss_finite", 1, 0, "", HA_STOP, SEV_CRITICAL,                  \
	  "the loss (or the config's metric) turned NaN or infinite; judged at every line, "  \
	  "in both phases; stop fails the run as nan")                                        \
	X(LOSS_DECREASING, "loss_decreasing", 1, 100, "steps, the window", HA_WARN,          \
	  SEV_WARNING,                                                                          \
	  "the mean loss over the last window of steps (and of at least 5 points) is not "    \
	  "below the window's before it")                                                     \
	X(GRAD_NORM, "grad_norm", 1, 1000, "", HA_WARN, SEV_WARNING,                 \
	  "a value of the series health.grad_norm_series is over the bound")                  \
	X(GPU_UTIL, "gpu_util", 1, 10, "%, the floor", HA_WARN, SEV_WARNING,                 \
	  "past health.gpu_warmup_steps, the utilisation of the job's GPU is under the "      \
	  "floor")                                                                            \
	X(GPU_MEM, "gpu_mem", 1, 98, "% of its memory, the ceiling", HA_WARN, SEV_WARNING,   \
	  "past health.gpu_warmup_steps, the memory used on the job's GPU is over the "       \
	  "ceiling")                                                                          \
	X(PROCESS_ALIVE, "process_alive", 2, 1, "patrols", HA_WARN, SEV_WARNING,              \
	  "the job's worker could not tell whether its process is alive (out of reach) for "  \
	  "this many patrols in a row")                                                       \
	X(LOSS_PLATEAU, "loss_plateau", 2, 3, "patrols", HA_WARN, SEV_INFO,                   \
	  "the lowest loss has not improved by 0.1 % over this many patrols")                 \
	X(DISK_FREE, "disk_free", 2, 1, "GiB, the floor", HA_WARN, SEV_WARNING,              \
	  "the free space of the file system of the run's folder is under the floor")         \
	X(CHECKPOINT_AGE, "checkpoint_age", 2, 3600, "seconds", HA_WARN, SEV_WARNING,         \
	  "the newest file matching health.checkpoint_glob (in the run's work tree) is "      \
	  "older than this, or none is there this long after the start; off without the "     \
	  "glob")                                                                             \
	X(GPU_TEMP, "gpu_temp", 2, 85, "degrees Celsius", HA_WARN, SEV_CRITICAL,              \
	  "the temperature of the job's GPU is over the bound")                               \
	X(LOG_SILENCE, "log_silence", 2, -1, "seconds", HA_STOP, SEV_WARNING,                 \
	  "the run's progress (its log, its step) has not moved for this long; judged at "    \
	  "every look, not only on patrols; the threshold defaults to stall_seconds; stop "   \
	  "fails the run as stalled")

enum health_rule {
#define X(e, name, phase, thr, unit, act, sev, doc) HR_##e,
	HEALTH_RULES(X)
#undef X
	HR__COUNT
};

enum health_action { HA_OFF, HA_WARN, HA_PAUSE, HA_STOP };
enum health_severity { SEV_INFO, SEV_WARNING, SEV_CRITICAL };

struct health_rule_info {
	const char *name;
	int phase;
	double threshold; /* < 0: from another key (log_silence: stall_seconds) */
	const char *unit;
	enum health_action action;
	enum health_severity severity;
	const char *doc;
};

/* A rule as the config sets it. */
struct health_rule_cfg {
	double threshold;
	enum health_action action;
	enum health_severity severity;
};

const struct health_rule_info *health_rule_info(enum health_rule r);
const char *health_action_name(enum health_action a);
const char *health_severity_name(enum health_severity s);
/*
 * Check health.rules (an object of rule name -> {"threshold", "action",
 * "severity"}); at names where the object is ("config.json:12:
 * \"health.rules\"").
 */
int health_rules_check(const cJSON *rules, const char *at, struct err *e);
/* The rules' reference, under health.rules in config-keys (man(7) text when man). */
void health_rules_reference(struct buf *b, bool man);
/* Every rule's settings: the table's defaults, then those of rules (may be NULL). */
void health_rules_fill(struct health_rule_cfg *out, const cJSON *rules, double stall_seconds);

#endif
