/*
 * defer.c — the steps that found no file descriptor free (EMFILE,
 * ENFILE): none fails its node. Each waits and is run again
 * SCHED_FDS_RETRY_MS later from the tick, and the want is said once a
 * spell. Files of the workdir wait here too, their newest text each.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "hypotop/fsutil.h"
#include "hypotop/lifecycle.h"

struct deferred {
	int64_t at; /* mono_ms() */
	sched_step_fn run;
	void (*drop)(void *);
	void *arg;
};

int64_t sched_deferred_due(struct sched *s)
{
	int64_t at = 0;

	for (size_t i = 0; i < s->ndeferred; i++)
		if (!at || s->deferred[i].at < at)
			at = s->deferred[i].at;
	return at;
}

void sched_fds_short(struct sched *s, const char *what, const char *why)
{
	int64_t now = mono_ms();
	struct rlimit rl;
	char limit[32] = "?";

	if (!s->fds_short_at || now - s->fds_short_at > 60000) {
		if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY)
			snprintf(limit, sizeof limit, "%llu", (unsigned long long)rl.rlim_cur);
		sched_say(s, "out of file descriptors (ulimit -n is %s): %s: %s; what needs one "
			     "waits, and is tried again every %d s (said once)",
			  limit, what, why, SCHED_FDS_RETRY_MS / 1000);
	}
	s->fds_short_at = now;
}

void sched_defer(struct sched *s, const char *what, const char *why, sched_step_fn run,
		 void (*drop)(void *), void *arg)
{
	if (why)
		sched_fds_short(s, what, why);
	s->deferred = xrealloc(s->deferred, (s->ndeferred + 1) * sizeof *s->deferred);
	s->deferred[s->ndeferred++] =
		(struct deferred){mono_ms() + SCHED_FDS_RETRY_MS, run, drop, arg};
	sched_timer_arm(s);
}

void sched_run_deferred(struct sched *s)
{
	int64_t now = mono_ms();

	/* A step run may defer itself again: it is then due later, and not run twice here. */
	for (size_t i = 0; i < s->ndeferred;) {
		struct deferred d = s->deferred[i];
		if (d.at > now) {
			i++;
			continue;
		}
		memmove(&s->deferred[i], &s->deferred[i + 1],
			(--s->ndeferred - i) * sizeof *s->deferred);
		d.run(s, d.arg);
	}
	sched_timer_arm(s);
}

struct late_file {
	char *path, *text;
	size_t len;
	mode_t mode;
	bool durable;
};

static void late_drop(struct sched *s, size_t i)
{
	free(s->late[i].path);
	free(s->late[i].text);
	s->late[i] = s->late[--s->nlate];
}

static int write_now(const struct late_file *f, struct err *e)
{
	return (f->durable ? fs_write_atomic : fs_write_view)(f->path, f->text, f->len, f->mode, e);
}

/* Each file waiting, its newest text, tried again. */
static void late_flush(struct sched *s, void *arg)
{
	struct err e = {{0}}, short_e = {{0}};

	(void)arg;
	for (size_t i = 0; i < s->nlate;) {
		memset(&e, 0, sizeof e);
		if (write_now(&s->late[i], &e) < 0 && err_out_of_fds(&e)) {
			short_e = e;
			i++;
			continue;
		}
		if (e.msg[0])
			sched_say(s, "warning: %s", e.msg);
		late_drop(s, i);
	}
	if (s->nlate)
		sched_defer(s, s->late[0].path, short_e.msg, late_flush, NULL, NULL);
}

int sched_write(struct sched *s, const char *path, const char *text, size_t len, mode_t mode,
		bool durable)
{
	struct late_file f = {(char *)path, (char *)text, len, mode, durable};
	struct err e = {{0}};

	/* This text is newer than one waiting: that one is not written after it. */
	for (size_t i = 0; i < s->nlate; i++)
		if (!strcmp(s->late[i].path, path)) {
			late_drop(s, i);
			break;
		}
	if (write_now(&f, &e) == 0)
		return 0;
	if (!err_out_of_fds(&e)) {
		sched_say(s, "warning: %s", e.msg);
		return -1;
	}
	s->late = xrealloc(s->late, (s->nlate + 1) * sizeof *s->late);
	f.path = xstrdup(path);
	f.text = xmalloc(len + 1);
	memcpy(f.text, text, len);
	s->late[s->nlate++] = f;
	if (s->nlate == 1)
		sched_defer(s, path, e.msg, late_flush, NULL, NULL);
	else
		sched_fds_short(s, path, e.msg);
	return -1;
}

void sched_defer_free(struct sched *s)
{
	for (size_t i = 0; i < s->ndeferred; i++)
		if (s->deferred[i].drop)
			s->deferred[i].drop(s->deferred[i].arg);
	free(s->deferred);
	s->deferred = NULL;
	s->ndeferred = 0;
	if (s->nlate)
		late_flush(s, NULL); /* once more; what still cannot be written is said */
	free(s->deferred);
	s->deferred = NULL;
	s->ndeferred = 0;
	while (s->nlate) {
		sched_say(s, "warning: %s: not written: no file descriptor free", s->late[0].path);
		late_drop(s, 0);
	}
	free(s->late);
	s->late = NULL;
}
