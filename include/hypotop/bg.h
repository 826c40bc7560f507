/*
 * bg.h — background threads for blocking work (git, model calls), so
 * that the main thread never blocks.
 *
 * The main thread submits a task: `work` runs on a background thread and
 * may only touch the task's own data; `done` runs afterwards on the main
 * thread, from the event loop's wake hook (loop.h), where it may change
 * the model. With one
 * thread, tasks run in submission order; with more, they start in that
 * order and may finish in any. No lock is held while a task works.
 */
#ifndef HYPOTOP_BG_H
#define HYPOTOP_BG_H

#include "hypotop/loop.h"

struct bg;

struct bg *bg_new(struct loop *loop, int nthreads);
/* Waits for the task in progress, drops queued ones (their done never runs). */
void bg_free(struct bg *bg);
void bg_submit(struct bg *bg, void (*work)(void *arg), void (*done)(void *arg), void *arg);
/* Waits until every task submitted has been worked, then runs their done callbacks. */
void bg_drain(struct bg *bg);
/* Tasks submitted and not yet delivered. */
int bg_pending(const struct bg *bg);

#endif
