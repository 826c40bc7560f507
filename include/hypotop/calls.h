/*
 * calls.h — the model's calls as the workdir keeps them: each request's
 * files under logs/ (STEM_prompt.md, STEM_output.md, STEM_raw.json, where
 * a stem is "logs/004_plan_n0001"), linked from the nodes they concern
 * (struct node.calls), and the requests in flight while an engine runs
 * (engine/calls.json). Read by `hypotop status`, the UI and an attached
 * UI alike; only the engine writes engine/calls.json.
 */
#ifndef HYPOTOP_CALLS_H
#define HYPOTOP_CALLS_H

#include <stdbool.h>
#include <stdint.h>

#include "hypotop/util.h"
#include "hypotop/workdir.h"

/* One request, as its raw.json records it. */
struct call_info {
	char *stem;           /* "logs/004_plan_n0001" */
	bool read;            /* raw.json was read; the rest is unknown otherwise */
	long seq;
	char *kind, *node, *provider, *model; /* NULL when not said */
	int attempt;
	bool has_usage;
	long input, output, cache_write, cache_read; /* tokens */
	int cost;             /* CALL_COST_* */
	double usd;
	double seconds;
	char *error;          /* "kind: message" of a failed request, the contract's problem, or NULL */
};
enum { CALL_COST_NONE, CALL_COST_KNOWN, CALL_COST_UNKNOWN };

/* The request of stem under workdir; ci->read false when its raw.json cannot be read. */
void call_info_read(const char *workdir, const char *stem, struct call_info *ci);
void call_info_free(struct call_info *ci);
/*
 * The members "log", "kind", "seq", "model", "input_tokens",
 * "output_tokens", "cost_usd", "seconds" and "error" of a JSON object.
 */
void call_info_members(const struct call_info *ci, struct buf *b);
/* The cost as text: "$0.0123", "$0 (nothing billed)" or "unknown". */
void call_cost_text(const struct call_info *ci, char *out, size_t n);

/* A request in flight: its kind, the node it concerns, since when (ms since the epoch). */
struct call_flight {
	char kind[16], node[48];
	int64_t started;
};
#define CALL_FLIGHTS_MAX 8

/* engine/calls.json: the requests in flight now (n may be 0). */
int calls_flight_write(struct workdir *w, const struct call_flight *f, size_t n,
		       struct err *e);
/* What engine/calls.json says, at most max; 0 when it is absent or unreadable. */
size_t calls_flight_read(struct workdir *w, struct call_flight *f, size_t max);
/* "plan n0012, 14 s", and "+N" for more: the status bar's words for f[0..n). */
void calls_flight_text(const struct call_flight *f, size_t n, int64_t now, char *out,
		       size_t size);

#endif
