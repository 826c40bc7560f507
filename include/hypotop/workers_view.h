/*
 * workers_view.h — each worker of workers.json beside what the engine
 * last said of it (engine/workers.json): one reading for `hypotop
 * workers` and the UI's workers pane, so that the two agree.
 */
#ifndef HYPOTOP_WORKERS_VIEW_H
#define HYPOTOP_WORKERS_VIEW_H

#include <stddef.h>
#include <stdint.h>

#include "hypotop/workers.h"
#include "hypotop/workerstat.h"

struct worker_view {
	const struct worker_def *def;   /* from workers.json */
	const struct worker_stat *stat; /* NULL: no engine has reported it */
	/* "up", "busy", "connecting", "down", "disabled", or "unknown" (no report). */
	const char *state;
	size_t slots, used; /* the engine's slots when it reported them, else the file's */
};

/* out[i] for each worker of ws (out holds ws->len). */
void workers_view(const struct workers *ws, const struct worker_stat *v, size_t n,
		  struct worker_view *out);
/* An age for people: "now", "12 s", "3 min", "2 h 5 min", "4 d 2 h"; "-" when ms < 0. */
void fmt_age(char *buf, size_t size, int64_t ms);
/*
 * What a cluster says of a job, for people: "slurm job 12: PENDING
 * (Resources) for 3 min", "slurm job 12: RUNNING on node7 for 12 s";
 * "" when it says nothing. Not sanitised: the text is the cluster's.
 */
void fmt_job(char *buf, size_t size, const struct job_info *j);
/* A GPU reading with its unit, "87%"; "-" when it was not taken (< 0), never 0. */
void fmt_reading(char *buf, size_t size, double v, const char *unit);

#endif
