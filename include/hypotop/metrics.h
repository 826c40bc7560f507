/*
 * metrics.h — metrics read from a run's log (SPEC §8).
 *
 * Every log line is offered to metrics_feed(): values come from the
 * config's regex patterns (first capture group), from NAME=VALUE pairs
 * anywhere in the line, and from JSON-object lines (numeric members). A
 * value is a finite number, or nan/inf (counted as non-finite, not
 * stored). "step" (or "iter"/"iteration"/"epoch", in that order) is the
 * progress counter. A line that echoes settings rather than metrics (a
 * NAME=VALUE with a quoted or True/False/None value, a JSON object with a
 * true/false/null member, a Python dict with a string or True/False/None
 * member) gives nothing but what the patterns match.
 *
 * Memory per run is bounded whatever the run's length: per series a ring
 * buffer of the newest METRICS_RING points, a reservoir sample (Algorithm
 * R) of METRICS_RESERVOIR points over the whole history, and running
 * count/min/max/mean/last. At most METRICS_MAX_SERIES series are kept;
 * later names are ignored. Main thread only.
 */
#ifndef HYPOTOP_METRICS_H
#define HYPOTOP_METRICS_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hypotop/util.h"

#define METRICS_RING 128
#define METRICS_RESERVOIR 128
#define METRICS_MAX_SERIES 64

struct metric_point {
	double step; /* the progress counter when the value was seen; NAN if none yet */
	double value;
};

struct series {
	char *name;
	uint64_t count;     /* finite values seen */
	uint64_t nonfinite; /* nan/inf values seen */
	double min, max, mean, last;
	double first;
	struct metric_point ring[METRICS_RING];
	size_t ring_head, ring_len;            /* ring[ring_head] is the oldest */
	struct metric_point reservoir[METRICS_RESERVOIR];
	size_t reservoir_len;
};

struct metrics {
	struct series *v;
	size_t len;
	double step;     /* newest progress counter, NAN until seen */
	uint64_t lines;  /* lines fed */
	uint64_t rng;    /* reservoir sampling state; fixed seed: repeatable */
	void *patterns;  /* compiled regexes; private */
	size_t npatterns;
};

/* patterns: the config's metrics.patterns object (name -> regex) or NULL. */
int metrics_init(struct metrics *m, const cJSON *patterns, struct err *e);
void metrics_free(struct metrics *m);
/* One log line, without its newline. Garbage is ignored, never fatal. */
void metrics_feed(struct metrics *m, const char *line, size_t len);
const struct series *metrics_get(const struct metrics *m, const char *name);
/*
 * The summary written to runs/<id>/metrics.json and put in prompts:
 * {"lines": N, "step": S|null, "series": {NAME: {"count", "nonfinite",
 *  "first", "last", "min", "max", "mean", "recent": [[step, value], ...],
 *  "sample": [[step, value], ...]}}} with points in step order.
 */
void metrics_to_json(const struct metrics *m, struct buf *b);

#endif
