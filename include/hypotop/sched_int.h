/*
 * sched_int.h — what the scheduler's parts share: sched.c (slots,
 * dispatch, launch, watching), collect.c (collect, analyse, reports) and
 * plan.c (planning). Nothing outside those files includes it.
 */
#ifndef HYPOTOP_SCHED_INT_H
#define HYPOTOP_SCHED_INT_H

#include "hypotop/sched.h"

void sched_timer_arm(struct sched *s);
void sched_say(struct sched *s, const char *fmt, ...) PRINTF_LIKE(2, 3);
/* <workdir>/<dir>/<node>[/<file>]; caller frees. */
char *sched_path(struct sched *s, const char *dir, uint32_t id, const char *file);
void sched_record(struct sched *s, const char *op, struct node *n);
int sched_commit(struct sched *s);
struct slot *sched_slot_of(struct sched *s, uint32_t node);
void sched_slot_release(struct sched *s, struct slot *sl);
bool sched_read_log(struct sched *s, struct slot *sl);
void sched_flush_log(struct slot *sl);
char *sched_tail_text(struct slot *sl);
void sched_kill(struct sched *s, struct slot *sl, const char *reason);
void sched_watch(struct sched *s, struct slot *sl);
void sched_prepare(struct sched *s, struct slot *sl);
void sched_launch(struct sched *s, struct slot *sl);

/* collect.c */
void sched_collect(struct sched *s, struct slot *sl, const struct job_result *r);
/* The node of sl failed in phase with kind; frees the slot. */
void sched_fail(struct sched *s, struct slot *sl, const char *kind, const char *phase,
		const char *why);
/* After a restart: redo the analysis of a node recorded as analysing. */
void sched_reanalyse(struct sched *s, struct slot *sl);
/* Drop a node's work tree on the git thread; its branch stays. */
void sched_remove_worktree(struct sched *s, uint32_t id);
/* plan.c: start a planning round (1), or say why none can start (0, s->stop_reason). */
int sched_plan(struct sched *s);

/* master_table.tsv and summary.md. */
void sched_write_reports(struct sched *s);

#endif
