/*
 * health.h — what the health rules (health_rules.h) keep of one running
 * job, in its slot. The phase 1 rules are judged incrementally, line by
 * line, from the metrics' running figures (health_line, watch.c): a few
 * comparisons a line, nothing rescanned. What fires there is noted and
 * acted on at the job's next look (health_check, lifecycle.h), which also
 * judges the GPU rules and, every patrol, the phase 2 rules.
 */
#ifndef HYPOTOP_HEALTH_H
#define HYPOTOP_HEALTH_H

#include <stdbool.h>
#include <stdint.h>

#include "hypotop/config.h"
#include "hypotop/metrics.h"

struct health_run {
	const struct config *cfg;
	/* the series the rules watch: indexes into metrics.v, -1 not seen yet */
	size_t nseries;
	int loss, metric, grad;
	uint64_t loss_count, grad_count; /* values of each seen by the rules */
	/* loss_decreasing: the window being summed, and the one before */
	double win_start, win_sum, prev_mean;
	uint64_t win_n;
	bool have_prev;
	/* fired since the last look: the first value and step of each rule */
	struct health_pending {
		bool set;
		double value, step;
	} pending[HR__COUNT];
	int64_t alerted[HR__COUNT]; /* monotonic ms of the rule's last alert; 0 none */
	bool paused_by[HR__COUNT];  /* the rule paused the job once: no more */
	int64_t next_patrol, gpu_at; /* monotonic ms */
	double plateau_best;
	long plateau_patrols, unknown_patrols;
	bool said_no_gpu;
};

/* A slot's job starts being watched. */
void health_start(struct health_run *h, const struct config *cfg);
/* After each log line was fed to m: the phase 1 rules on what it changed. */
void health_line(struct health_run *h, const struct metrics *m);

#endif
