/*
 * watch.c — the jobs while they run: their logs (tail, metrics,
 * progress), their health and stopping them, and hearing that they
 * ended, from the executor, a re-attached job's pidfd or the tick.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hypotop/sched_int.h"

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

static void feed_line(void *ctx, const char *line, size_t len)
{
	struct slot *sl = ctx;

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
		lines_feed(&sl->log_lines, chunk, (size_t)n, feed_line, sl);
	}
	return grew;
}

void sched_flush_log(struct slot *sl)
{
	lines_flush(&sl->log_lines, feed_line, sl);
}

/* ---- stopping a job ---------------------------------------------------- */

/*
 * Signal a slot's job. Waiting for its pid, the executor may hear of
 * other jobs' ends: the loop hands those on.
 */
void sched_job_signal(struct sched *s, struct slot *sl, int sig)
{
	local_executor.signal(&sl->job, sig);
	if (local_executor.events_held())
		loop_wake(s->loop);
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

static void check_health(struct sched *s, struct slot *sl)
{
	struct config *c = &s->wd->cfg;
	int64_t now = mono_ms();

	if (sl->kill_reason) {
		if (sl->kill_at && now > sl->kill_at) {
			sched_job_signal(s, sl, SIGKILL);
			sl->kill_at = 0;
		}
		return;
	}
	const struct series *m = metrics_get(&sl->metrics, c->metric);
	const struct series *loss = metrics_get(&sl->metrics, "loss");
	if ((m && m->nonfinite) || (loss && loss->nonfinite)) {
		sched_kill(s, sl, "nan");
		return;
	}
	struct node *n = tree_get(&s->wd->tree, sl->node);
	int64_t ran = n && n->started ? now_ms() - n->started - sl->paused_ms : now - sl->started;
	if (c->job_timeout > 0 && !sl->job.paused && ran > (int64_t)(c->job_timeout * 1000)) {
		sched_kill(s, sl, "timeout");
		return;
	}
	if (!sl->job.paused && now - sl->last_progress > (int64_t)(c->stall_seconds * 1000))
		sched_kill(s, sl, "stalled");
}

/* Look at one job: progress, health, and whether it has ended. */
void sched_watch(struct sched *s, struct slot *sl)
{
	struct job_result r;

	if (!sl->used || !sl->have_job)
		return;
	bool grew = sched_read_log(s, sl);
	if (grew || (sl->metrics.step == sl->metrics.step && sl->metrics.step != sl->last_step)) {
		sl->last_progress = mono_ms();
		sl->last_step = sl->metrics.step;
	}
	local_executor.check(&sl->job, &r);
	if (r.state == JOB_RUNNING) {
		struct node *n = tree_get(&s->wd->tree, sl->node);
		if (n && n->status == ST_BUILDING && !r.building) {
			n->status = ST_RUNNING;
			sched_record(s, "run", n);
		}
		check_health(s, sl);
		return;
	}
	sched_collect(s, sl, &r);
}

static void on_pidfd(struct loop *l, int fd, short revents, void *ctx)
{
	struct sched *s = ctx;

	(void)revents;
	for (size_t i = 0; i < s->nslots; i++)
		if (s->slots[i].used && s->slots[i].have_job && s->slots[i].job.pidfd == fd) {
			loop_unwatch(l, fd); /* readable for good once it exited */
			sched_watch(s, &s->slots[i]);
			return;
		}
	loop_unwatch(l, fd);
}

static void job_ended(unsigned long token, void *ctx)
{
	struct sched *s = ctx;

	for (size_t i = 0; i < s->nslots; i++)
		if (s->slots[i].used && s->slots[i].have_job && s->slots[i].job.ours &&
		    s->slots[i].job.token == token) {
			sched_watch(s, &s->slots[i]);
			return;
		}
}

static void on_events(struct loop *l, int fd, short revents, void *ctx)
{
	(void)l;
	(void)fd;
	(void)revents;
	sched_events(ctx);
}

/* Listen where the executor tells of jobs' ends: its fd is new when its supervisor is. */
void sched_listen(struct sched *s)
{
	int fd = local_executor.events_fd();

	if (fd == s->events_fd)
		return;
	if (s->events_fd >= 0)
		loop_unwatch(s->loop, s->events_fd);
	if (fd >= 0)
		loop_watch(s->loop, fd, POLLIN, on_events, s);
	s->events_fd = fd;
}

/* The jobs that ended are watched one last time, and collected. */
void sched_events(struct sched *s)
{
	local_executor.events(job_ended, s);
	sched_listen(s);
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
}

void sched_watch_start(struct sched *s)
{
	loop_watch(s->loop, s->timer_fd, POLLIN, on_tick, s);
}

void sched_watch_reattached(struct sched *s, struct slot *sl)
{
	if (sl->job.pidfd >= 0)
		loop_watch(s->loop, sl->job.pidfd, POLLIN, on_pidfd, s);
}
