/*
 * ssh_reads — N reads of one remote file over one sshconn connection, as
 * a poll of the ssh executor would make them, for tests/bench/ssh_poll.py.
 *
 *   ssh_reads HOST PORT USER KEY KNOWN_HOSTS FILE N
 *
 * Connects, then reads FILE N times over SFTP (sshc_read), then runs
 * `cat FILE` N times (sshc_exec), one after another, each waiting for the
 * answer through the event loop. Prints
 *   connect_ms=… read_ms=… exec_ms=… bytes=…
 * (bytes: what one read got). Exits 1 when a step fails.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hypotop/loop.h"
#include "hypotop/sshconn.h"
#include "hypotop/util.h"

struct state {
	struct sshc *c;
	const char *file;
	char cmd[600];
	int n, done, phase; /* 0 connecting, 1 reads, 2 execs */
	int64_t t0, connect_ms, read_ms;
	long long bytes;
	int failed;
};

static void next(struct state *s);

static void on_reply(void *ctx, const struct sshc_reply *r)
{
	struct state *s = ctx;

	if (r->rc != 0 || (s->phase == 2 && r->exit_code != 0)) {
		fprintf(stderr, "ssh_reads: %s%s\n", r->err, r->errout ? r->errout : "");
		s->failed = 1;
		return;
	}
	s->bytes = (long long)r->out_len;
	s->done++;
	next(s);
}

static void next(struct state *s)
{
	if (s->done == s->n) {
		int64_t now = mono_ms();
		if (s->phase == 1)
			s->read_ms = now - s->t0;
		else if (s->phase == 2) {
			printf("connect_ms=%lld read_ms=%lld exec_ms=%lld bytes=%lld\n",
			       (long long)s->connect_ms, (long long)s->read_ms,
			       (long long)(now - s->t0), s->bytes);
			s->phase = 3;
			return;
		}
		s->phase++;
		s->done = 0;
		s->t0 = now;
	}
	if (s->phase == 1)
		sshc_read(s->c, s->file, 0, 1 << 20, on_reply, s);
	else
		sshc_exec(s->c, s->cmd, NULL, 0, 0, on_reply, s);
}

static void on_changed(void *ctx)
{
	struct state *s = ctx;
	struct sshc_status st;

	sshc_status(s->c, &st);
	if (st.state == SSHC_UP && s->phase == 0) {
		s->connect_ms = mono_ms() - s->t0;
		s->phase = 1;
		s->t0 = mono_ms();
		next(s);
	} else if (st.state == SSHC_DOWN) {
		fprintf(stderr, "ssh_reads: %s\n", st.reason);
		s->failed = 1;
	}
}

static void after(struct loop *l, void *ctx)
{
	struct state *s = ctx;

	if (s->failed || s->phase == 3)
		loop_stop(l);
}

int main(int argc, char **argv)
{
	if (argc != 8) {
		fprintf(stderr, "usage: ssh_reads HOST PORT USER KEY KNOWN_HOSTS FILE N\n");
		return 2;
	}
	sshc_global_init();
	struct state s = {.file = argv[6], .n = atoi(argv[7])};
	snprintf(s.cmd, sizeof s.cmd, "cat '%s'", s.file);
	struct ssh_target t = {.name = "bench",
			       .host = argv[1],
			       .port = atoi(argv[2]),
			       .user = argv[3],
			       .key_file = argv[4],
			       .known_hosts = argv[5]};
	struct loop *l = loop_new();
	loop_set_after(l, after, &s);
	s.t0 = mono_ms();
	s.c = sshc_new(&t, l, on_changed, &s);
	loop_run(l);
	sshc_free(s.c);
	loop_free(l);
	sshc_global_cleanup();
	return s.failed ? 1 : 0;
}
