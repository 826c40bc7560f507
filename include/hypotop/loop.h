/*
 * loop.h — the event loop of the main thread (SPEC §10).
 *
 * One poll(2) over every watched fd: the terminal, the control socket and
 * its clients, a signalfd, a timerfd, and a wake eventfd. Whatever works
 * off the main thread (the git and model threads of bg.h, an executor's
 * connection) talks to it one way: it queues its news under its own lock,
 * calls loop_wake(), and its wake hook, run on the main thread, delivers
 * them. Callbacks run on the main thread only; after each round of
 * callbacks the `after` hook runs once, which is where recorded changes
 * are committed together (group commit). With nothing to do the thread
 * sleeps in poll and uses no CPU.
 */
#ifndef HYPOTOP_LOOP_H
#define HYPOTOP_LOOP_H

#include <stdbool.h>
#include <stdint.h>

struct loop;
typedef void (*loop_fn)(struct loop *l, int fd, short revents, void *ctx);
typedef void (*loop_hook)(struct loop *l, void *ctx);

struct loop *loop_new(void);
void loop_free(struct loop *l);
/* Watch fd for events (POLLIN, POLLOUT); replaces an earlier watch of fd. */
void loop_watch(struct loop *l, int fd, short events, loop_fn fn, void *ctx);
void loop_unwatch(struct loop *l, int fd);
void loop_set_after(struct loop *l, loop_hook fn, void *ctx);
/* Run until loop_stop(); 0, or -1 when poll fails. */
int loop_run(struct loop *l);
void loop_stop(struct loop *l);
/*
 * Arm the timerfd fd: every interval_ms when that is not 0, the first time
 * at mono_ms() time at if that comes sooner; without an interval once at
 * at (soon, if that is past); both 0, not at all.
 */
void loop_timer_set(int fd, int64_t at, int interval_ms);
/* Thread-safe: make the loop return from poll and run every wake hook. */
void loop_wake(struct loop *l);
/* A hook run on the main thread after each wake: it delivers what its owner queued. */
void loop_wake_add(struct loop *l, loop_hook fn, void *ctx);
void loop_wake_remove(struct loop *l, loop_hook fn, void *ctx);

#endif
