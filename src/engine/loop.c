/* loop.c — see loop.h. */
#include "hypotop/loop.h"

#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "hypotop/util.h"

struct watch {
	loop_fn fn;
	void *ctx;
};

struct hook {
	loop_hook fn;
	void *ctx;
};

struct loop {
	struct pollfd *fds;
	struct watch *w;
	size_t len, cap;
	bool stop;
	int wake_fd;
	loop_hook after;
	void *after_ctx;
	struct hook *wake; /* every poster's delivery, in the order they were added */
	size_t nwake;
};

static void on_wake(struct loop *l, int fd, short revents, void *ctx)
{
	uint64_t n;

	(void)revents;
	(void)ctx;
	while (read(fd, &n, sizeof n) < 0 && errno == EINTR)
		;
	/* Counted again each time: a delivery may add or remove a hook. */
	for (size_t i = 0; i < l->nwake; i++)
		l->wake[i].fn(l, l->wake[i].ctx);
}

struct loop *loop_new(void)
{
	struct loop *l = xcalloc(1, sizeof *l);

	l->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (l->wake_fd < 0) {
		free(l);
		return NULL;
	}
	loop_watch(l, l->wake_fd, POLLIN, on_wake, NULL);
	return l;
}

void loop_free(struct loop *l)
{
	if (!l)
		return;
	close(l->wake_fd);
	free(l->wake);
	free(l->fds);
	free(l->w);
	free(l);
}

void loop_watch(struct loop *l, int fd, short events, loop_fn fn, void *ctx)
{
	for (size_t i = 0; i < l->len; i++)
		if (l->fds[i].fd == fd) {
			l->fds[i].events = events;
			l->w[i] = (struct watch){fn, ctx};
			return;
		}
	if (l->len == l->cap) {
		l->cap = l->cap ? l->cap * 2 : 16;
		l->fds = xrealloc(l->fds, l->cap * sizeof *l->fds);
		l->w = xrealloc(l->w, l->cap * sizeof *l->w);
	}
	l->fds[l->len] = (struct pollfd){.fd = fd, .events = events};
	l->w[l->len++] = (struct watch){fn, ctx};
}

void loop_unwatch(struct loop *l, int fd)
{
	for (size_t i = 0; i < l->len; i++)
		if (l->fds[i].fd == fd) {
			/* Mark now, compact after the round: callbacks may be iterating. */
			l->fds[i].fd = -1;
			l->w[i].fn = NULL;
		}
}

static void compact(struct loop *l)
{
	size_t j = 0;

	for (size_t i = 0; i < l->len; i++)
		if (l->fds[i].fd >= 0) {
			l->fds[j] = l->fds[i];
			l->w[j++] = l->w[i];
		}
	l->len = j;
}

void loop_set_after(struct loop *l, loop_hook fn, void *ctx)
{
	l->after = fn;
	l->after_ctx = ctx;
}

void loop_wake_add(struct loop *l, loop_hook fn, void *ctx)
{
	l->wake = xrealloc(l->wake, (l->nwake + 1) * sizeof *l->wake);
	l->wake[l->nwake++] = (struct hook){fn, ctx};
}

void loop_wake_remove(struct loop *l, loop_hook fn, void *ctx)
{
	for (size_t i = 0; i < l->nwake; i++)
		if (l->wake[i].fn == fn && l->wake[i].ctx == ctx) {
			memmove(&l->wake[i], &l->wake[i + 1], (l->nwake - i - 1) * sizeof *l->wake);
			l->nwake--;
			return;
		}
}

void loop_timer_set(int fd, int64_t at, int interval_ms)
{
	struct itimerspec its = {{0, 0}, {0, 0}};
	int64_t first = interval_ms;

	if (at) {
		int64_t left = at - mono_ms();
		if (left < 1)
			left = 1;
		if (!interval_ms || left < first)
			first = left;
	}
	its.it_interval.tv_sec = interval_ms / 1000;
	its.it_interval.tv_nsec = (interval_ms % 1000) * 1000000L;
	its.it_value.tv_sec = first / 1000;
	its.it_value.tv_nsec = (first % 1000) * 1000000L;
	timerfd_settime(fd, 0, &its, NULL);
}

void loop_stop(struct loop *l)
{
	l->stop = true;
}

void loop_wake(struct loop *l)
{
	uint64_t one = 1;

	while (write(l->wake_fd, &one, sizeof one) < 0 && errno == EINTR)
		;
}

int loop_run(struct loop *l)
{
	l->stop = false;
	while (!l->stop) {
		compact(l);
		int n = poll(l->fds, (nfds_t)l->len, -1);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		size_t len = l->len; /* watches added now wait for the next round */
		for (size_t i = 0; i < len && n > 0; i++) {
			short re = l->fds[i].revents;
			if (!re || l->fds[i].fd < 0)
				continue;
			n--;
			l->fds[i].revents = 0;
			if (l->w[i].fn)
				l->w[i].fn(l, l->fds[i].fd, re, l->w[i].ctx);
		}
		if (l->after)
			l->after(l, l->after_ctx);
	}
	return 0;
}
