/*
 * watch.c — the jobs while they run: their logs (tail, metrics,
 * progress), stopping them (health.c says when), and hearing that they
 * ended, from the executor's news or the tick.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hypotop/lifecycle.h"

#define KILL_GRACE_MS 5000

/* ---- the log: tail, metrics, progress --------------------------------- */

static void tail_add(struct slot *sl, const char *line, size_t len)
{
	if (len > 400)
		len = 400;
	free(sl->tail[sl->tail_next]);
	sl->tail[sl->tail_next] = xstrndup(line, len);
	sl->tail_next = (sl->tail_next + 1) % SCHED_TAIL_LINES;
}

char *sched_tail_text(struct slot *sl)
{
	struct buf b;

	buf_init(&b);
	for (size_t i = 0; i < SCHED_TAIL_LINES; i++) {
		const char *l = sl->tail[(sl->tail_next + i) % SCHED_TAIL_LINES];
		if (l) {
			buf_adds(&b, l);
			buf_addc(&b, '\n');
		}
	}
	return buf_steal(&b);
}

static void feed_line(struct slot *sl, const char *line, size_t len)
{
	if (len && line[len - 1] == '\r')
		len--;
	metrics_feed(&sl->metrics, line, len);
	tail_add(sl, line, len);
}

/* Read what the log gained; true when it grew. */
bool sched_read_log(struct sched *s, struct slot *sl)
{
	char chunk[65536];
	bool grew = false;

	if (sl->log_fd < 0) {
		char *log = sched_path(s, "runs", sl->node, "log");
		sl->log_fd = open(log, O_RDONLY | O_CLOEXEC);
		sl->log_waits = sl->log_fd < 0 && errno_out_of_fds(errno);
		if (sl->log_waits)
			sched_fds_short(s, log, strerror(errno));
		free(log);
		if (sl->log_fd < 0)
			return false;
	}
	for (;;) {
		ssize_t n = pread(sl->log_fd, chunk, sizeof chunk, sl->log_off);
		if (n <= 0)
			break;
		grew = true;
		sl->log_off += n;
		size_t start = 0;
		for (size_t i = 0; i < (size_t)n; i++) {
			if (chunk[i] != '\n')
				continue;
			if (sl->partial.len) {
				buf_add(&sl->partial, chunk + start, i - start);
				feed_line(sl, sl->partial.data, sl->partial.len);
				buf_reset(&sl->partial);
			} else {
				feed_line(sl, chunk + start, i - start);
			}
			start = i + 1;
		}
		buf_add(&sl->partial, chunk + start, (size_t)n - start);
		/* A line without an end is cut, not held without bound. */
		if (sl->partial.len > 1 << 16) {
			feed_line(sl, sl->partial.data, sl->partial.len);
			buf_reset(&sl->partial);
		}
	}
	return grew;
}

void sched_flush_log(struct slot *sl)
{
	if (sl->partial.len) {
		feed_line(sl, sl->partial.data, sl->partial.len);
		buf_reset(&sl->partial);
	}
}

/* ---- stopping a job ---------------------------------------------------- */

void sched_job_signal(struct sched *s, struct slot *sl, int sig)
{
	exec_signal(s->exec, &sl->job, sig);
}

void sched_kill(struct sched *s, struct slot *sl, const char *reason)
{
	if (!sl->have_job || sl->kill_reason)
		return;
	char nid[NODE_ID_LEN];
	node_id_format(sl->node, nid);
	sched_say(s, "%s: stopping the job (%s)", nid, reason);
	sl->kill_reason = reason;
	sl->kill_at = mono_ms() + KILL_GRACE_MS;
	if (sl->job.paused)
		sched_job_signal(s, sl, SIGCONT);
	sched_job_signal(s, sl, SIGTERM);
}

/* Look at one job: progress, health, and whether it has ended. */
void sched_watch(struct sched *s, struct slot *sl)
{
	struct job_result r;

	if (!sl->used || !sl->have_job)
		return;
	bool grew = sched_read_log(s, sl);
	if (sl->log_waits) {
		/* Neither judged nor collected unread: looked at again at the next tick. */
		sl->last_progress = mono_ms();
		return;
	}
	if (grew || (sl->metrics.step == sl->metrics.step && sl->metrics.step != sl->last_step)) {
		sl->last_progress = mono_ms();
		sl->last_step = sl->metrics.step;
	}
	exec_check(s->exec, &sl->job, &r);
	if (r.state == JOB_RUNNING) {
		struct node *n = tree_get(&s->wd->tree, sl->node);
		if (n && n->status == ST_BUILDING && !r.building) {
			n->status = ST_RUNNING;
			sched_record(s, "run", n);
		}
		health_check(s, sl);
		return;
	}
	sched_collect(s, sl, &r);
}

/* The executor's news: the job of token has ended. Looked at one last time, and collected. */
void sched_job_news(unsigned long token, void *ctx)
{
	struct sched *s = ctx;

	for (size_t i = 0; i < s->nslots; i++)
		if (s->slots[i].used && s->slots[i].have_job && s->slots[i].job.token == token) {
			sched_watch(s, &s->slots[i]);
			return;
		}
}

static void on_tick(struct loop *l, int fd, short revents, void *ctx)
{
	struct sched *s = ctx;
	uint64_t n;

	(void)l;
	(void)revents;
	while (read(fd, &n, sizeof n) < 0 && errno == EINTR)
		;
	for (size_t i = 0; i < s->nslots; i++)
		sched_watch(s, &s->slots[i]);
	sched_run_deferred(s);
}

void sched_watch_start(struct sched *s)
{
	loop_watch(s->loop, s->timer_fd, POLLIN, on_tick, s);
}
