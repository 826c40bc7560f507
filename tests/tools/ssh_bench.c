/*
 * ssh_bench — the ssh executor's requests, timed, for tests/bench/ssh_poll.py
 * (issue 17's benchmarks): made as src/exec/ssh.c and ssh_ship.c make
 * them, from remote.h's scripts over one sshconn connection.
 *
 *   ssh_bench MODE HOST PORT USER KEY KNOWN_HOSTS WORKSPACE ARGS...
 *
 *   launch REPO COMMIT N   ship COMMIT of REPO (a bundle of the whole
 *                          history), start N jobs `sleep 600` in its work
 *                          tree (runs r000 ...), wait until each runs
 *   poll N ROUNDS          ROUNDS poll rounds of those N jobs, each twice:
 *                          after a line was added to every log (the poll,
 *                          then every log read from where its mirror ends)
 *                          and with no log grown (the poll alone)
 *   script N               print the poll script of those N jobs (no connection)
 *   kill N                 SIGKILL every job (remote_signal_script), wait until each ended
 *   ship REPO C1 C2        ship C1 in full, then C2 as what the worker lacks
 *
 * Prints key=value words (times in ms; for ship, a line per commit).
 * Exits 1 with the reason on stderr when a step fails.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "hypotop/fsutil.h"
#include "hypotop/loop.h"
#include "hypotop/remote.h"
#include "hypotop/ssh_int.h"
#include "hypotop/sshconn.h"
#include "hypotop/util.h"
#include "hypotop/vcs.h"

#include "bench_runs.h"

#define NS "bench"
#define PROJECT "bench"
#define DEADLINE_MS 60000

struct bench {
	struct loop *loop;
	struct sshc *c;
	const char *workspace;
	int pending; /* requests not answered yet */
	int failed;  /* the connection went down */
};

/* One request's answer, kept. */
struct answer {
	struct bench *b;
	int rc, exit_code;
	char *out, *errout;
	size_t out_len;
	long long size;
	char err[512];
};

static double clock_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static void on_reply(void *ctx, const struct sshc_reply *r)
{
	struct answer *a = ctx;

	a->rc = r->rc;
	a->exit_code = r->exit_code;
	a->out = xstrndup(r->out ? r->out : "", r->out_len);
	a->errout = xstrndup(r->errout ? r->errout : "", r->err_len);
	a->out_len = r->out_len;
	a->size = r->size;
	snprintf(a->err, sizeof a->err, "%s", r->err);
	if (--a->b->pending == 0)
		loop_stop(a->b->loop);
}

static void answer_clear(struct answer *a)
{
	free(a->out);
	free(a->errout);
	*a = (struct answer){.b = a->b};
}

static void on_changed(void *ctx)
{
	struct bench *b = ctx;
	struct sshc_status st;

	sshc_status(b->c, &st);
	if (st.state == SSHC_DOWN && !b->failed) {
		fprintf(stderr, "ssh_bench: %s\n", st.reason);
		b->failed = 1;
	}
	loop_stop(b->loop);
}

/* Run the loop until every request made is answered (a lost connection answers them too). */
static void wait_all(struct bench *b)
{
	while (b->pending > 0)
		loop_run(b->loop);
}

static struct answer *request(struct bench *b, struct answer *a)
{
	answer_clear(a);
	b->pending++;
	return a;
}

/* cmd's answer; 0 when it ran and exited 0, -1 said on stderr. */
static int run(struct bench *b, const char *what, const char *cmd, struct answer *a)
{
	sshc_exec(b->c, cmd, NULL, 0, 0, on_reply, request(b, a));
	wait_all(b);
	if (a->rc == 0 && a->exit_code == 0)
		return 0;
	fprintf(stderr, "ssh_bench: %s: %s%s (exit status %d)\n", what, a->err, a->errout,
		a->exit_code);
	return -1;
}

/* One poll: st[0..n) from the poll script's answer. */
static int poll_once(struct bench *b, char **runs, int n, struct remote_state *st)
{
	char *script = remote_poll_script(runs, (size_t)n, true);
	struct answer a = {.b = b};
	int rc = run(b, "poll", script, &a);

	if (rc == 0)
		remote_parse_poll(a.out, st, (size_t)n, NULL, NULL);
	answer_clear(&a);
	free(script);
	return rc;
}

/* Poll until every job satisfies done (or DEADLINE_MS); how many do. */
static int poll_until(struct bench *b, char **runs, int n,
		      bool (*done)(const struct remote_state *))
{
	struct remote_state *st = xcalloc((size_t)n, sizeof *st);
	double end = clock_ms() + DEADLINE_MS;
	int ok = 0;

	while (poll_once(b, runs, n, st) == 0) {
		ok = 0;
		for (int i = 0; i < n; i++)
			ok += done(&st[i]);
		if (ok == n || clock_ms() > end)
			break;
	}
	free(st);
	return ok;
}

struct ship_times {
	double known_ms, bundle_ms, put_ms, launch_ms;
	size_t bytes;
};

/*
 * Ship commit of repo to the worker and start launch in run, as
 * ssh_ship.c does: the worker's commits asked, a bundle of what it lacks
 * (all of it when full) made, put over SFTP, and the launch script sent,
 * which fetches it and checks the commit out in the node's work tree.
 */
static int ship(struct bench *b, const char *repo, const char *commit, bool full, const char *node,
		const char *run_name, const char *launch, struct ship_times *t)
{
	struct answer a = {.b = b};
	char **known = NULL;
	size_t nknown = 0;
	bool has = false;
	int rc = -1;
	char *script = remote_known_script(b->workspace, PROJECT);
	char local[] = "/tmp/ssh_bench-bundle.XXXXXX";
	char *remote = NULL;

	*t = (struct ship_times){0};
	double t0 = clock_ms();
	if (run(b, "the worker's commits", script, &a) < 0)
		goto out;
	t->known_ms = clock_ms() - t0;
	for (const char *p = a.out; *p && !full;) {
		size_t len = strcspn(p, "\n");
		if (len == VCS_OID_HEX - 1) {
			known = xrealloc(known, (nknown + 1) * sizeof *known);
			known[nknown++] = xstrndup(p, len);
			has |= !strncmp(p, commit, len);
		}
		p += len + (p[len] == '\n');
	}
	if (!has) {
		struct err e = {{0}};
		int fd = mkstemp(local);
		if (fd < 0) {
			perror("ssh_bench: mkstemp");
			goto out;
		}
		close(fd);
		t0 = clock_ms();
		if (vcs_bundle(repo, commit, "refs/hypotop/ship", known, nknown, local, &t->bytes,
			       &e) < 0) {
			fprintf(stderr, "ssh_bench: bundle: %s\n", e.msg);
			goto out;
		}
		t->bundle_ms = clock_ms() - t0;
		char *name = xasprintf("%s.%s.bundle", run_name, commit);
		remote = remote_ship_path(b->workspace, name);
		free(name);
		t0 = clock_ms();
		sshc_put(b->c, local, remote, 0600, on_reply, request(b, &a));
		wait_all(b);
		if (a.rc != 0) {
			fprintf(stderr, "ssh_bench: put: %s\n", a.err);
			goto out;
		}
		t->put_ms = clock_ms() - t0;
	}
	struct remote_job rj = {.workspace = b->workspace,
				.project = PROJECT,
				.ns = NS,
				.node = node,
				.run = run_name,
				.commit = commit,
				.bundle = remote,
				.launch = launch,
				.gpu = -1};
	free(script);
	script = remote_launch_script(&rj);
	t0 = clock_ms();
	if (run(b, "launch", script, &a) == 0)
		rc = 0;
	t->launch_ms = clock_ms() - t0;
out:
	if (!has)
		unlink(local);
	for (size_t i = 0; i < nknown; i++)
		free(known[i]);
	free(known);
	free(remote);
	free(script);
	answer_clear(&a);
	return rc;
}

static bool running(const struct remote_state *s)
{
	return s->alive;
}

/* Its end recorded, or never started (a launch that failed). */
static bool ended(const struct remote_state *s)
{
	return !s->alive && (s->exit_code >= 0 || !s->launched);
}

static int mode_launch(struct bench *b, const char *repo, const char *commit, int n)
{
	char **runs = bench_runs(b->workspace, NS, n);
	struct ship_times t;
	int rc = 0;

	/* All in one work tree: the first ships the code, the others find it there. */
	for (int i = 0; i < n && rc == 0; i++) {
		char name[32];
		snprintf(name, sizeof name, "r%03d", i);
		rc = ship(b, repo, commit, false, "jobs", name, "sleep 600", &t);
	}
	int up = rc == 0 ? poll_until(b, runs, n, running) : 0;
	printf("running=%d\n", up);
	bench_runs_free(runs);
	return up == n ? 0 : -1;
}

/*
 * ROUNDS rounds of a poll of n jobs as ssh.c makes one: the poll script,
 * then each log read over SFTP from where its mirror ends (all at once,
 * at most LOG_SLICE each), every answer heard. Before each round whose
 * logs grew, a line is added to each log (not timed).
 */
static int mode_poll(struct bench *b, int n, int rounds)
{
	char **runs = bench_runs(b->workspace, NS, n);
	struct remote_state *st = xcalloc((size_t)n, sizeof *st);
	long long *mirrored = xcalloc((size_t)n, sizeof *mirrored);
	struct answer *reads = xcalloc((size_t)n, sizeof *reads);
	struct buf grow;
	struct answer a = {.b = b};
	int rc = 0;

	buf_init(&grow);
	buf_adds(&grow, "cd || exit 1\nfor R in");
	for (int i = 0; i < n; i++) {
		buf_addc(&grow, ' ');
		sh_quote(&grow, runs[i]);
	}
	buf_adds(&grow, "; do echo 'step loss=0.5' >> \"$R/log\" || exit 1; done\n");
	for (int i = 0; i < n; i++)
		reads[i].b = b;
	/* The mirrors start where the logs end now. */
	if (poll_once(b, runs, n, st) < 0)
		rc = -1;
	for (int i = 0; i < n && rc == 0; i++)
		mirrored[i] = st[i].log_size > 0 ? st[i].log_size : 0;
	for (int r = 0; r < rounds * 2 && rc == 0; r++) {
		bool grown = r % 2 == 0;
		if (grown && run(b, "a line added to each log", grow.data, &a) < 0) {
			rc = -1;
			break;
		}
		double t0 = clock_ms();
		if (poll_once(b, runs, n, st) < 0) {
			rc = -1;
			break;
		}
		int nread = 0;
		for (int i = 0; i < n; i++) {
			if (!st[i].alive || st[i].log_size <= mirrored[i])
				continue;
			char *log = path_join(runs[i], "log");
			sshc_read(b->c, log, mirrored[i], LOG_SLICE, on_reply,
				  request(b, &reads[i]));
			free(log);
			nread++;
		}
		wait_all(b);
		double ms = clock_ms() - t0;
		long long bytes = 0;
		for (int i = 0; i < n; i++) {
			if (reads[i].rc != 0) {
				fprintf(stderr, "ssh_bench: read %s/log: %s\n", runs[i],
					reads[i].err);
				rc = -1;
			}
			mirrored[i] += (long long)reads[i].out_len;
			bytes += (long long)reads[i].out_len;
			answer_clear(&reads[i]);
		}
		int alive = 0;
		for (int i = 0; i < n; i++)
			alive += st[i].alive;
		printf("round=%d grown=%d ms=%.2f alive=%d reads=%d bytes=%lld\n", r / 2 + 1, grown,
		       ms, alive, nread, bytes);
	}
	answer_clear(&a);
	buf_free(&grow);
	free(reads);
	free(mirrored);
	free(st);
	bench_runs_free(runs);
	return rc;
}

static int mode_kill(struct bench *b, int n)
{
	char **runs = bench_runs(b->workspace, NS, n);
	struct buf all;
	struct answer a = {.b = b};

	buf_init(&all);
	for (int i = 0; i < n; i++) {
		char *s = remote_signal_script(runs[i], SIGKILL);
		buf_adds(&all, s);
		free(s);
	}
	buf_adds(&all, "exit 0\n");
	int rc = run(b, "kill", all.data, &a);
	int done = rc == 0 ? poll_until(b, runs, n, ended) : 0;
	printf("ended=%d\n", done);
	answer_clear(&a);
	buf_free(&all);
	bench_runs_free(runs);
	return done == n ? 0 : -1;
}

static void ship_print(const char *what, const char *commit, const struct ship_times *t)
{
	printf("%s commit=%.12s bytes=%zu known_ms=%.1f bundle_ms=%.1f put_ms=%.1f launch_ms=%.1f "
	       "total_ms=%.1f\n",
	       what, commit, t->bytes, t->known_ms, t->bundle_ms, t->put_ms, t->launch_ms,
	       t->known_ms + t->bundle_ms + t->put_ms + t->launch_ms);
}

static int mode_ship(struct bench *b, const char *repo, const char *c1, const char *c2)
{
	struct ship_times t;

	if (ship(b, repo, c1, true, "big", "s1", "true", &t) < 0)
		return -1;
	ship_print("full", c1, &t);
	if (ship(b, repo, c2, false, "big", "s2", "true", &t) < 0)
		return -1;
	ship_print("change", c2, &t);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 9) {
		fprintf(stderr, "usage: ssh_bench launch|poll|script|kill|ship HOST PORT USER KEY "
				"KNOWN_HOSTS WORKSPACE ARGS...\n");
		return 2;
	}
	const char *mode = argv[1];
	struct bench b = {.workspace = argv[7]};
	if (!strcmp(mode, "script")) {
		char **runs = bench_runs(b.workspace, NS, atoi(argv[8]));
		char *script = remote_poll_script(runs, (size_t)atoi(argv[8]), true);
		fputs(script, stdout);
		free(script);
		bench_runs_free(runs);
		return 0;
	}
	sshc_global_init();
	vcs_init();
	struct ssh_target t = {.name = "bench",
			       .host = argv[2],
			       .port = atoi(argv[3]),
			       .user = argv[4],
			       .key_file = argv[5],
			       .known_hosts = argv[6]};
	b.loop = loop_new();
	double t0 = clock_ms();
	b.c = sshc_new(&t, b.loop, on_changed, &b);
	struct sshc_status st = {.state = SSHC_CONNECTING};
	while (st.state == SSHC_CONNECTING && !b.failed) {
		loop_run(b.loop);
		sshc_status(b.c, &st);
	}
	int rc = -1;
	if (!b.failed) {
		printf("connect_ms=%.1f\n", clock_ms() - t0);
		if (!strcmp(mode, "launch") && argc == 11)
			rc = mode_launch(&b, argv[8], argv[9], atoi(argv[10]));
		else if (!strcmp(mode, "poll") && argc == 10)
			rc = mode_poll(&b, atoi(argv[8]), atoi(argv[9]));
		else if (!strcmp(mode, "kill") && argc == 9)
			rc = mode_kill(&b, atoi(argv[8]));
		else if (!strcmp(mode, "ship") && argc == 11)
			rc = mode_ship(&b, argv[8], argv[9], argv[10]);
		else
			fprintf(stderr, "ssh_bench: unknown mode '%s' or wrong arguments\n", mode);
	}
	sshc_free(b.c);
	loop_free(b.loop);
	sshc_global_cleanup();
	return rc == 0 ? 0 : 1;
}
