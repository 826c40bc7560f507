/*
 * sshc_t.h — what the tests of sshconn.h share: a real event loop, run
 * until a predicate holds or a deadline passes, and answers caught for the
 * test to look at. A test file includes it after t.h, calls
 * sshc_t_loop_start() in main before its tests and sshc_t_loop_end() after.
 */
#ifndef HYPOTOP_SSHC_T_H
#define HYPOTOP_SSHC_T_H

#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "hypotop/loop.h"
#include "hypotop/sshconn.h"
#include "hypotop/util.h"
#include "t.h"

static struct loop *L;
static int timer_fd;

/* ---- the loop, run until something holds or a deadline ---------------- */

static bool (*want)(void *);
static void *want_ctx;
static int64_t deadline;

static inline void after(struct loop *l, void *ctx)
{
	(void)ctx;
	if (want && want(want_ctx))
		loop_stop(l);
}

/* Every 10 ms: the predicate is checked after each round, and the deadline. */
static inline void on_timer(struct loop *l, int fd, short revents, void *ctx)
{
	uint64_t n;

	(void)revents;
	(void)ctx;
	if (read(fd, &n, sizeof n) < 0 && errno != EAGAIN)
		perror("timerfd");
	if (mono_ms() >= deadline)
		loop_stop(l);
}

/* Run the loop until pred(ctx) or ms pass; whether pred holds. */
static inline bool pump(bool (*pred)(void *), void *ctx, int ms)
{
	if (pred(ctx))
		return true;
	want = pred;
	want_ctx = ctx;
	deadline = mono_ms() + ms;
	loop_timer_set(timer_fd, 0, 10);
	loop_run(L);
	loop_timer_set(timer_fd, 0, 0);
	want = NULL;
	return pred(ctx);
}

static inline void sshc_t_loop_start(void)
{
	L = loop_new();
	timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	loop_watch(L, timer_fd, POLLIN, on_timer, NULL);
	loop_set_after(L, after, NULL);
}

static inline void sshc_t_loop_end(void)
{
	close(timer_fd);
	loop_free(L);
}

/* ---- replies ----------------------------------------------------------- */

struct got {
	int n;
	int rc, exit_code;
	char *out, *errout;
	size_t out_len, err_len;
	long long size;
	char err[512];
};

static inline void on_reply(void *ctx, const struct sshc_reply *r)
{
	struct got *g = ctx;

	g->n++;
	g->rc = r->rc;
	g->exit_code = r->exit_code;
	free(g->out);
	free(g->errout);
	g->out = xstrndup(r->out, r->out_len);
	g->out_len = r->out_len;
	g->errout = xstrndup(r->errout, r->err_len);
	g->err_len = r->err_len;
	g->size = r->size;
	snprintf(g->err, sizeof g->err, "%s", r->err);
}

static inline void got_free(struct got *g)
{
	free(g->out);
	free(g->errout);
	memset(g, 0, sizeof *g);
}

static inline bool answered(void *ctx)
{
	return ((struct got *)ctx)->n > 0;
}

/* An answer that must never come: counted. */
static inline void never(void *ctx, const struct sshc_reply *r)
{
	(void)r;
	(*(int *)ctx)++;
}

static int changes;

static inline void on_changed(void *ctx)
{
	(void)ctx;
	changes++;
}

static inline void exec_wait(struct sshc *c, const char *cmd, const char *in, size_t out_max,
			     struct got *g)
{
	got_free(g);
	sshc_exec(c, cmd, in, in ? strlen(in) : 0, out_max, on_reply, g);
	T_CHECK(pump(answered, g, 15000), "no answer to %s", cmd);
}

#endif
