/*
 * watch.c — the jobs while they run: their logs (tail, metrics,
 * progress), stopping them (health.c and prune.c say when), and hearing
 * that they ended, from the executor's news or the tick.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hypotop/lifecycle.h"

#define KILL_GRACE_MS 5000

/*
 * A job may write faster than its log is read (every line goes through
 * metrics_feed: some 20-50 MB, a million lines or so, a second), and the
 * loop that reads it also answers the keys. So a read takes at most a
 * slice, a loop round's bytes shared by the running jobs, and leaves the
 * rest to the next round, which comes at once (sched_timer_arm).
 */
#define LOG_ROUND_BYTES (256 * 1024)
#define LOG_SLICE_MIN (32 * 1024)
/*
 * Further behind than this, the reading would never catch up with a job
 * that floods its log, nor end soon after the job does: the engine passes
 * over the middle, to this much before the end. The lines passed over are
 * not in the metrics (nor counted in their "lines"); the end of the log is
 * always read, so a final result printed last is recorded.
 */
#define LOG_BEHIND_MAX ((off_t)32 << 20)

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
	health_line(&sl->health, &sl->metrics);
	tail_add(sl, line, len);
}

/* Its size now; what was read of it when it cannot be known. */
static off_t log_size(const struct slot *sl)
{
	struct stat st;

	return sl->log_fd >= 0 && fstat(sl->log_fd, &st) == 0 ? st.st_size : sl->log_off;
}

/* This round's bytes for the log of one job. */
static size_t log_slice(const struct sched *s)
{
	size_t jobs = 0;

	for (size_t i = 0; i < s->nslots; i++)
		jobs += s->slots[i].used && s->slots[i].have_job;
	size_t b = LOG_ROUND_BYTES / (jobs ? jobs : 1);
	return b < LOG_SLICE_MIN ? LOG_SLICE_MIN : b;
}

/* Go on reading at `to`, the line it falls in dropped; said once a run, and at its end. */
static void pass_over(struct sched *s, struct slot *sl, off_t to)
{
	if (!sl->log_passed) {
		char nid[NODE_ID_LEN];
		node_id_format(sl->node, nid);
		sched_say(s,
			  "%s: hypotop is over %lld MiB behind in its log: passing over parts "
			  "of it, which the metrics miss; the end of the log is read",
			  nid, (long long)(LOG_BEHIND_MAX >> 20));
	}
	sl->log_passed += (uint64_t)(to - sl->log_off);
	sl->log_off = to;
	lines_reset(&sl->log_lines, true);
	tail_add(sl, "[...]", 5);
}

bool sched_read_log(struct sched *s, struct slot *sl)
{
	char chunk[65536];
	bool grew = false;

	sl->log_more = false;
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
	off_t size = log_size(sl);
	if (size - sl->log_off > LOG_BEHIND_MAX)
		pass_over(s, sl, size - LOG_BEHIND_MAX);
	for (size_t left = log_slice(s); left && sl->log_off < size;) {
		size_t want = left < sizeof chunk ? left : sizeof chunk;
		ssize_t n = pread(sl->log_fd, chunk, want, sl->log_off);
		if (n <= 0)
			return grew;
		grew = true;
		sl->log_off += n;
		left -= (size_t)n;
		lines_feed(&sl->log_lines, chunk, (size_t)n, feed_line, sl);
	}
	if (sl->log_off < size) {
		sl->log_more = true;
		sched_timer_arm(s);
	}
	return grew;
}

/*
 * To its size now, not to an end that never comes: a process the job left
 * behind may write on. Passing over what lies further back than
 * LOG_BEHIND_MAX, this costs a second or two at most.
 */
void sched_finish_log(struct sched *s, struct slot *sl)
{
	sched_read_log(s, sl);
	for (off_t end = log_size(sl); sl->log_more && sl->log_off < end;)
		sched_read_log(s, sl);
	lines_flush(&sl->log_lines, feed_line, sl);
	if (sl->log_passed) {
		char nid[NODE_ID_LEN];
		node_id_format(sl->node, nid);
		sched_say(s, "%s: %.1f of its log's %.1f MiB were passed over unread", nid,
			  (double)sl->log_passed / (1 << 20), (double)sl->log_off / (1 << 20));
	}
}

/* ---- stopping a job ---------------------------------------------------- */

void sched_job_signal(struct sched *s, struct slot *sl, int sig)
{
	exec_signal(sched_exec(s, sl), &sl->job, sig);
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
	exec_check(sched_exec(s, sl), &sl->job, &r);
	if (r.state == JOB_RUNNING && sl->unknown != r.unknown) {
		sl->unknown = r.unknown;
		sched_workers_changed(s);
	}
	if (r.state == JOB_RUNNING && r.unknown) {
		/*
		 * Out of reach, not ended: it may run on, so it is neither judged
		 * nor lost (a copy would run it twice), only looked at again.
		 */
		sl->last_progress = mono_ms();
		health_unreachable(s, sl);
		return;
	}
	struct node *n = tree_get(&s->wd->tree, sl->node);
	if (r.state == JOB_RUNNING && r.waiting) {
		/* In its cluster's queue (again, when requeued): not judged, not timed. */
		sl->waiting = true;
		sl->last_progress = mono_ms();
		if (n && n->status != ST_WAITING && n->status != ST_PAUSED) {
			n->status = ST_WAITING;
			sched_record(s, "wait", n);
		} else if (n && n->status == ST_PAUSED) {
			n->resume_to = ST_WAITING;
		}
		return;
	}
	if (r.state == JOB_RUNNING && n && (sl->waiting || n->status == ST_WAITING)) {
		/* Out of the queue, it runs: its time counts from now. */
		enum node_status st = r.building ? ST_BUILDING : ST_RUNNING;
		sl->waiting = false;
		sl->started = sl->last_progress = mono_ms();
		sl->paused_ms = 0;
		n->started = now_ms();
		if (n->status == ST_PAUSED)
			n->resume_to = st;
		else
			n->status = st;
		sched_record(s, st == ST_BUILDING ? "build" : "run", n);
	}
	if (r.state == JOB_RUNNING) {
		if (n && n->status == ST_BUILDING && !r.building) {
			n->status = ST_RUNNING;
			sched_record(s, "run", n);
		}
		health_check(s, sl);
		prune_check(s, sl);
		return;
	}
	/* Ended: collected once its log is read to where it ends now, a slice a round. */
	if (sl->log_end < 0)
		sl->log_end = log_size(sl);
	if (sl->log_off < sl->log_end) {
		sl->log_more = true;
		sched_timer_arm(s);
		return;
	}
	/* A run that changed the protected files while it ran: its metric is no result. */
	if (!sl->protect_seen) {
		struct err e = {{0}};
		int pr = protect_guard(s, sl, false, &sl->tampered, &e);
		if (pr < 0 && err_out_of_fds(&e)) {
			sched_fds_short(s, "checking the protected files", e.msg);
			return; /* again at the next tick */
		}
		if (pr < 0)
			sl->tampered = xasprintf("the protected files could not be checked: %s", e.msg);
		sl->protect_seen = true;
	}
	sched_collect(s, sl, &r);
}

/*
 * An executor's news: the job of token has ended. Looked at one last
 * time, and collected. A token names a job to its own executor only.
 */
void sched_job_news(unsigned long token, void *ctx)
{
	struct sched_worker *w = ctx;
	struct sched *s = w->s;

	for (size_t i = 0; i < s->nslots; i++)
		if (s->slots[i].used && s->slots[i].have_job && s->slots[i].job.token == token &&
		    s->workers[s->slots[i].worker] == w) {
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
