/*
 * test_sshconn_local.c — sshconn.h without a host: the requests run on
 * this machine by the connection's thread, answered through a real event
 * loop. Commands with their input, output, exit codes and deaths by
 * signal; out_max; a silent command killed with its process group; order;
 * files put and read, relative to $HOME; sshc_free while a command runs.
 */
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hypotop/fsutil.h"
#include "hypotop/loop.h"
#include "hypotop/sshconn.h"
#include "hypotop/util.h"
#include "sshc_t.h"
#include "t.h"

static char *dir, *home;

/* ---- fixtures ----------------------------------------------------------- */

static struct sshc *here(int timeout_ms)
{
	struct ssh_target t = {.name = "here", .timeout_ms = timeout_ms};
	return sshc_new(&t, L, on_changed, NULL);
}

static void put_file(struct sshc *c, const char *local, const char *remote, int mode,
		     struct got *a)
{
	got_free(a);
	sshc_put(c, local, remote, mode, on_reply, a);
	T_CHECK(pump(answered, a, 20000), "no answer to the put of %s", remote);
}

static void read_file(struct sshc *c, const char *remote, long long off, size_t max,
		      struct got *a)
{
	got_free(a);
	sshc_read(c, remote, off, max, on_reply, a);
	T_CHECK(pump(answered, a, 20000), "no answer to the read of %s", remote);
}

static char *file_of(const char *name, const char *text, size_t len)
{
	char *path = path_join(dir, name);
	FILE *f = fopen(path, "w");
	fwrite(text, 1, len, f);
	fclose(f);
	return path;
}

/* The pid a command wrote into path, once it is there; 0 none in time. */
static pid_t pid_in(const char *path)
{
	int64_t until = mono_ms() + 20000;

	while (mono_ms() < until) {
		size_t len = 0;
		struct err e = {{0}};
		char *s = fs_read_max(path, 64, &len, &e);
		pid_t pid = s && memchr(s, '\n', len) ? (pid_t)atoi(s) : 0;
		free(s);
		if (pid > 0)
			return pid;
		poll(NULL, 0, 10);
	}
	return 0;
}

/* Whether pid is gone (or a zombie) within ms. */
static bool gone(pid_t pid, int ms)
{
	int64_t until = mono_ms() + ms;
	char path[64], stat[256];

	snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
	do {
		FILE *f = fopen(path, "r");
		if (!f)
			return true;
		size_t n = fread(stat, 1, sizeof stat - 1, f);
		fclose(f);
		stat[n] = 0;
		const char *state = strrchr(stat, ')');
		if (state && state[1] && state[2] == 'Z')
			return true;
		poll(NULL, 0, 10);
	} while (mono_ms() < until);
	return false;
}

/* ---- the tests ---------------------------------------------------------- */

static bool told(void *ctx)
{
	(void)ctx;
	return changes > 0;
}

static void test_up_from_the_start(void)
{
	changes = 0;
	struct sshc *c = here(0);
	struct sshc_status st;
	struct got a = {0};

	sshc_status(c, &st);
	T_CHECK(st.state == SSHC_UP && st.connects == 1 && st.last_ok > 0 && !st.reason[0],
		"state %d connects %u last_ok %lld '%s'", st.state, st.connects,
		(long long)st.last_ok, st.reason);
	int64_t first = st.last_ok;
	T_CHECK(pump(told, NULL, 5000) && changes == 1, "changes told: %d, not 1", changes);
	sshc_retry(c);
	exec_wait(c, "sleep 0.1; echo still", NULL, 0, &a);
	T_CHECK(a.rc == 0, "after sshc_retry: rc %d %s", a.rc, a.err);
	T_STREQ(a.out, "still\n");
	sshc_status(c, &st);
	T_CHECK(st.state == SSHC_UP && st.connects == 1 && st.last_ok > first,
		"state %d connects %u, last_ok %lld after %lld", st.state, st.connects,
		(long long)st.last_ok, (long long)first);
	got_free(&a);
	sshc_free(c);
	T_CHECK(changes == 1, "changes told: %d, not 1", changes);
}

static void test_exec(void)
{
	struct sshc *c = here(10000);
	struct got a = {0};

	exec_wait(c, "echo out; echo err >&2; exit 3", NULL, 0, &a);
	T_CHECK(a.rc == 0, "rc %d: %s", a.rc, a.err);
	T_STREQ(a.out, "out\n");
	T_STREQ(a.errout, "err\n");
	T_CHECK(a.exit_code == 3, "exit code %d", a.exit_code);

	const char *in = "line one\nline two\n";
	exec_wait(c, "cat; echo done", in, 0, &a);
	T_STREQ(a.out, "line one\nline two\ndone\n");
	T_CHECK(a.exit_code == 0, "exit code %d", a.exit_code);

	/* Bigger than a pipe: written while its output is read. */
	size_t big = 3 << 20;
	char *lots = xmalloc(big + 1);
	memset(lots, 'x', big);
	lots[big] = 0;
	exec_wait(c, "cat; cat >&2 </dev/null", lots, 4 << 20, &a);
	T_CHECK(a.rc == 0 && a.out_len == big && a.err_len == 0, "cat gave %zu bytes of %zu (%s)",
		a.out_len, big, a.err);
	/* A command that reads none of it: no SIGPIPE kills us, no write waits forever. */
	exec_wait(c, "echo ignored", lots, 0, &a);
	T_CHECK(a.rc == 0 && a.exit_code == 0, "rc %d exit %d %s", a.rc, a.exit_code, a.err);
	T_STREQ(a.out, "ignored\n");
	free(lots);

	/* Nothing on stdin: end of file at once. */
	exec_wait(c, "wc -c", NULL, 0, &a);
	T_CHECK(a.rc == 0 && atoi(a.out) == 0, "wc -c said '%s'", a.out);

	/* $HOME, the process's environment, its own process group, a clean signal state. */
	setenv("HYPOTOP_T_VAR", "passed", 1);
	signal(SIGPIPE, SIG_IGN);
	exec_wait(c,
		"pwd; echo $HOME $HYPOTOP_T_VAR; "
		"[ \"$(cut -d' ' -f5 /proc/$$/stat)\" = $$ ] && echo leader; "
		"sed -n 's/^Sig\\(Blk\\|Ign\\):\\t*/\\1 /p' /proc/$$/status",
		NULL, 0, &a);
	signal(SIGPIPE, SIG_DFL);
	unsetenv("HYPOTOP_T_VAR");
	char *expect = xasprintf("%s\n%s passed\nleader\nBlk 0000000000000000\nIgn ", home, home);
	T_CHECK(!strncmp(a.out, expect, strlen(expect)), "'%s' does not start with '%s'", a.out,
		expect);
	/* None of signals 1 to 31 ignored (glibc's spawn keeps its own two, 32 and 33, so). */
	const char *ign = a.out + strlen(expect);
	T_CHECK(strlen(ign) == 17 && (strtoull(ign, NULL, 16) & 0x7fffffffu) == 0,
		"signals ignored: %s", ign);
	free(expect);
	got_free(&a);
	sshc_free(c);
}

static void test_exit_by_signal(void)
{
	struct sshc *c = here(10000);
	struct got a = {0};

	exec_wait(c, "kill -TERM $$", NULL, 0, &a);
	T_CHECK(a.rc == 0 && a.exit_code == 128 + SIGTERM, "SIGTERM: rc %d exit code %d", a.rc,
		a.exit_code);
	exec_wait(c, "echo before; kill -KILL $$", NULL, 0, &a);
	T_CHECK(a.rc == 0 && a.exit_code == 128 + SIGKILL, "SIGKILL: rc %d exit code %d", a.rc,
		a.exit_code);
	T_STREQ(a.out, "before\n");
	/* A child killed: the shell says so as 128+N too. */
	exec_wait(c, "sh -c 'kill -INT $$'; echo $?", NULL, 0, &a);
	T_CHECK(a.rc == 0 && atoi(a.out) == 128 + SIGINT && a.exit_code == 0, "out '%s' exit %d",
		a.out, a.exit_code);
	got_free(&a);
	sshc_free(c);
}

static void test_out_max(void)
{
	struct sshc *c = here(10000);
	struct got a = {0};

	exec_wait(c, "head -c 100000 /dev/zero | tr '\\0' y; echo err >&2", NULL, 1000, &a);
	T_CHECK(a.rc == 0 && a.out_len == 1000 && strspn(a.out, "y") == 1000,
		"kept %zu bytes of 100000, not out_max 1000", a.out_len);
	T_STREQ(a.errout, "err\n");

	/*
	 * Chatty on both streams, far past 1 MiB: the excess is read and
	 * dropped, so the command ends, and its last words are beyond the limit.
	 */
	exec_wait(c,
		"head -c 5000000 /dev/zero | tr '\\0' o; head -c 5000000 /dev/zero | tr '\\0' e >&2;"
		" echo last; exit 7",
		NULL, 0, &a);
	T_CHECK(a.rc == 0 && a.exit_code == 7, "rc %d exit %d %s", a.rc, a.exit_code, a.err);
	T_CHECK(a.out_len == 1 << 20 && strspn(a.out, "o") == 1 << 20, "kept %zu of stdout",
		a.out_len);
	T_CHECK(a.err_len == 1 << 20 && strspn(a.errout, "e") == 1 << 20, "kept %zu of stderr",
		a.err_len);
	got_free(&a);
	sshc_free(c);
}

static void test_silent_command_killed(void)
{
	struct sshc *c = here(1500);
	struct got a = {0};
	char *pidfile = path_join(dir, "bg.pid");
	char *cmd = xasprintf("sleep 60 & echo $! > '%s'; echo started; wait", pidfile);

	int64_t t0 = mono_ms();
	exec_wait(c, cmd, NULL, 0, &a);
	int64_t took = mono_ms() - t0;
	T_CHECK(a.rc == -1 && took >= 1400 && took < 10000, "rc %d after %lld ms", a.rc,
		(long long)took);
	T_CONTAINS(a.err, "worker here: the command said nothing for 2 s: killed");
	T_CHECK(a.out_len == 0 && a.out && !*a.out, "out '%s'", a.out);
	/* Its process group with it: the sleep it left in the background. */
	pid_t bg = pid_in(pidfile);
	T_CHECK(bg > 0 && gone(bg, 10000), "the background sleep %d outlived the kill", (int)bg);

	/* Talking now and then keeps it going past timeout_ms. */
	exec_wait(c, "for i in 1 2 3 4 5 6 7 8; do sleep 0.3; echo $i; done", NULL, 0, &a);
	T_CHECK(a.rc == 0 && a.exit_code == 0, "rc %d %s", a.rc, a.err);
	T_STREQ(a.out, "1\n2\n3\n4\n5\n6\n7\n8\n");

	/* The connection stays up for the next. */
	struct sshc_status st;
	sshc_status(c, &st);
	T_CHECK(st.state == SSHC_UP, "state %d", st.state);
	exec_wait(c, "echo next", NULL, 0, &a);
	T_STREQ(a.out, "next\n");
	free(cmd);
	free(pidfile);
	got_free(&a);
	sshc_free(c);
}

static void test_answer_at_the_shell_exit(void)
{
	struct sshc *c = here(10000);
	struct got a = {0};

	/* What it leaves running keeps stdout open, and runs on: not waited for. */
	int64_t t0 = mono_ms();
	exec_wait(c, "sleep 30 & echo $!", NULL, 0, &a);
	T_CHECK(a.rc == 0 && mono_ms() - t0 < 10000, "rc %d after %lld ms", a.rc,
		(long long)(mono_ms() - t0));
	pid_t bg = (pid_t)atoi(a.out);
	T_CHECK(bg > 0 && !gone(bg, 0), "the background sleep '%s' did not run on", a.out);
	if (bg > 0)
		kill(bg, SIGKILL);
	got_free(&a);
	sshc_free(c);
}

struct in_order {
	int n, bad;
};

static void on_in_order(void *ctx, const struct sshc_reply *r)
{
	struct in_order *o = ctx;
	char expect[16];

	snprintf(expect, sizeof expect, "%d\n", o->n);
	if (r->rc != 0 || strcmp(r->out, expect))
		o->bad++;
	o->n++;
}

static bool all_in(void *ctx)
{
	return ((struct in_order *)ctx)->n == 30;
}

static void test_in_order(void)
{
	struct sshc *c = here(10000);
	struct in_order o = {0};

	/* The slow first ones must not be overtaken. */
	for (int i = 0; i < 30; i++) {
		char cmd[64];
		snprintf(cmd, sizeof cmd, "%secho %d", i < 3 ? "sleep 0.2; " : "", i);
		sshc_exec(c, cmd, NULL, 0, 0, on_in_order, &o);
	}
	T_CHECK(pump(all_in, &o, 30000), "%d of 30 answered", o.n);
	T_CHECK(o.bad == 0, "%d answers out of order or wrong", o.bad);
	sshc_free(c);
}

static void test_put_read(void)
{
	struct sshc *c = here(10000);
	struct got a = {0};
	char text[10001];

	for (int i = 0; i < 10000; i++)
		text[i] = (char)('a' + i % 26);
	text[10000] = 0;
	char *local = file_of("local.txt", text, 10000);
	char *ws = path_join(dir, "ws");
	char *remote = path_join(ws, "f.txt");

	mkdir(ws, 0755);
	mode_t old = umask(077);
	put_file(c, local, remote, 0644, &a);
	umask(old);
	T_CHECK(a.rc == 0, "put: rc %d %s", a.rc, a.err);
	size_t len = 0;
	struct err e = {{0}};
	char *there = fs_read_max(remote, 1 << 20, &len, &e);
	T_CHECK(there && len == 10000 && !memcmp(there, text, len), "the copy differs");
	free(there);
	struct stat st;
	T_CHECK(stat(remote, &st) == 0 && (st.st_mode & 07777) == 0644, "mode %o, not 0644",
		st.st_mode & 07777);

	read_file(c, remote, 0, 1 << 20, &a);
	T_CHECK(a.rc == 0 && a.size == 10000 && a.out_len == 10000 && !strcmp(a.out, text),
		"read all: rc %d size %lld, %zu bytes %s", a.rc, a.size, a.out_len, a.err);
	read_file(c, remote, 100, 50, &a);
	T_CHECK(a.rc == 0 && a.size == 10000 && a.out_len == 50 && !strncmp(a.out, text + 100, 50),
		"read 50 at 100: size %lld, %zu bytes '%s'", a.size, a.out_len, a.out);
	read_file(c, remote, 9990, 50, &a);
	T_CHECK(a.rc == 0 && a.out_len == 10 && !strcmp(a.out, text + 9990),
		"read 50 at 9990: %zu bytes '%s'", a.out_len, a.out);
	read_file(c, remote, 20000, 50, &a);
	T_CHECK(a.rc == 0 && a.size == 10000 && a.out_len == 0 && !*a.out,
		"read past the end: size %lld, %zu bytes", a.size, a.out_len);
	read_file(c, remote, 0, 0, &a);
	T_CHECK(a.rc == 0 && a.size == 10000 && a.out_len == 0, "read of 0: size %lld, %zu bytes",
		a.size, a.out_len);

	char *missing = path_join(ws, "missing");
	read_file(c, missing, 0, 50, &a);
	T_CHECK(a.rc == 0 && a.size == -1 && a.out_len == 0, "missing file: rc %d size %lld %s",
		a.rc, a.size, a.err);
	free(missing);

	/* Replaced whole, the mode exactly, nothing left beside it. */
	char *local2 = file_of("local2.txt", "second\n", 7);
	put_file(c, local2, remote, 0755, &a);
	T_CHECK(a.rc == 0, "put over: rc %d %s", a.rc, a.err);
	read_file(c, remote, 0, 100, &a);
	T_STREQ(a.out, "second\n");
	T_CHECK(stat(remote, &st) == 0 && (st.st_mode & 07777) == 0755, "mode %o",
		st.st_mode & 07777);
	char *ls = xasprintf("ls -a '%s'", ws);
	exec_wait(c, ls, NULL, 0, &a);
	T_STREQ(a.out, ".\n..\nf.txt\n");
	free(ls);

	/* Refused: said, nothing left behind, and the connection stays. */
	char *nowhere = path_join(ws, "no/such/folder/x");
	put_file(c, local2, nowhere, 0644, &a);
	T_CHECK(a.rc == -1, "put into a missing folder: rc %d", a.rc);
	T_CONTAINS(a.err, "worker here: cannot write ");
	T_CONTAINS(a.err, nowhere);
	free(nowhere);
	put_file(c, "/nonexistent/local", remote, 0644, &a);
	T_CHECK(a.rc == -1, "put of a missing local file: rc %d", a.rc);
	T_CONTAINS(a.err, "cannot read /nonexistent/local");
	read_file(c, ws, 0, 50, &a);
	T_CHECK(a.rc == -1, "read of a folder: rc %d", a.rc);
	T_CONTAINS(a.err, "worker here: cannot read ");
	struct sshc_status s;
	sshc_status(c, &s);
	T_CHECK(s.state == SSHC_UP && s.connects == 1, "state %d connects %u after refusals",
		s.state, s.connects);

	got_free(&a);
	sshc_free(c);
	free(local);
	free(local2);
	free(remote);
	free(ws);
}

static void test_relative_to_home(void)
{
	struct sshc *c = here(10000);
	struct got a = {0};
	char *local = file_of("rel.txt", "relative\n", 9);

	put_file(c, local, "rel.txt", 0600, &a);
	T_CHECK(a.rc == 0, "put: rc %d %s", a.rc, a.err);
	char *in_home = path_join(home, "rel.txt");
	T_CHECK(fs_exists(in_home), "%s is not there", in_home);
	read_file(c, "rel.txt", 0, 100, &a);
	T_CHECK(a.rc == 0 && a.size == 9, "read: rc %d size %lld %s", a.rc, a.size, a.err);
	T_STREQ(a.out, "relative\n");
	exec_wait(c, "cat rel.txt", NULL, 0, &a);
	T_STREQ(a.out, "relative\n");
	unlink(in_home);
	free(in_home);
	free(local);
	got_free(&a);
	sshc_free(c);
}

static void test_free_while_running(void)
{
	struct sshc *c = here(0);
	char *pidfile = path_join(dir, "long.pid");
	char *cmd = xasprintf("sleep 60 & echo $! > '%s'; sleep 60", pidfile);
	int calls = 0;

	sshc_exec(c, cmd, NULL, 0, 0, never, &calls);
	sshc_exec(c, "echo queued", NULL, 0, 0, never, &calls);
	pid_t bg = pid_in(pidfile);
	T_CHECK(bg > 0, "the command did not start");
	/* A hang ends the test program, which counts as a failure. */
	alarm(30);
	int64_t t0 = mono_ms();
	sshc_free(c);
	int64_t took = mono_ms() - t0;
	alarm(0);
	T_CHECK(took < 5000, "sshc_free took %lld ms with a command running", (long long)took);
	T_CHECK(bg > 0 && gone(bg, 10000), "the command's process group outlived sshc_free");
	loop_wake(L);
	struct got none = {0};
	pump(answered, &none, 100); /* whatever was queued is not delivered */
	T_CHECK(calls == 0, "a freed connection's answer came");
	free(cmd);
	free(pidfile);
}

int main(void)
{
	dir = t_tmpdir();
	home = path_join(dir, "home");
	mkdir(home, 0755);
	/* Relative paths and the commands' folder: $HOME when the connection is made. */
	setenv("HOME", home, 1);
	sshc_t_loop_start();

	T_RUN(test_up_from_the_start);
	T_RUN(test_exec);
	T_RUN(test_exit_by_signal);
	T_RUN(test_out_max);
	T_RUN(test_silent_command_killed);
	T_RUN(test_answer_at_the_shell_exit);
	T_RUN(test_in_order);
	T_RUN(test_put_read);
	T_RUN(test_relative_to_home);
	T_RUN(test_free_while_running);

	sshc_t_loop_end();
	fs_remove_tree(dir);
	free(dir);
	free(home);
	T_END();
}
