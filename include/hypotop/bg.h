/*
 * bg.h — a background thread for blocking work (git now; SSH and HTTP
 * later), so that the main thread never blocks.
 *
 * The main thread submits a task: `work` runs on the background thread and
 * may only touch the task's own data; `done` runs afterwards on the main
 * thread, from the event loop, where it may change the model. Tasks run in
 * submission order. No lock is held while a task works.
 */
#ifndef HYPOTOP_BG_H
#define HYPOTOP_BG_H

#include "hypotop/loop.h"

struct bg;

struct bg *bg_new(struct loop *loop);
/* Waits for the task in progress, drops queued ones (their done never runs). */
void bg_free(struct bg *bg);
void bg_submit(struct bg *bg, void (*work)(void *arg), void (*done)(void *arg), void *arg);
/* Run the done callbacks of finished tasks; the loop's wake hook calls it. */
void bg_deliver(struct bg *bg);
/* Tasks submitted and not yet delivered. */
int bg_pending(const struct bg *bg);

#endif
