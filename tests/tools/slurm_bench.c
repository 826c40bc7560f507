/*
 * slurm_bench — the Slurm executor's scripts, timed, for
 * tests/bench/slurm_poll.py (issue 18's benchmarks): made by remote.h as
 * src/exec/ssh.c makes them for a Slurm worker whose commands run on this
 * machine, and run as it runs them there, each by /bin/sh -c. Slurm is
 * the one SLURM_CONF in the environment names.
 *
 *   slurm_bench launch WORKSPACE REPO COMMIT FIRST N [SBATCH_ARG...]
 *       submit N jobs `sleep 600` from number FIRST on, one after
 *       another, each with its launch script: nodes n000 ... (a work tree
 *       each), runs r000 ... With FIRST 0, COMMIT of REPO is shipped
 *       first (the worker's commits asked, a bundle of the whole history
 *       made in WORKSPACE/ship, where the executor puts it), and job 0
 *       fetches it; the others find the commit in the worker's repository
 *   slurm_bench poll WORKSPACE N ROUNDS
 *       ROUNDS polls of those N run folders: remote_slurm_poll_script run
 *       by /bin/sh, its output parsed by remote_parse_slurm_poll
 *
 * Prints key=value words, times in ms (launch: one line, each launch
 * script's time in launch_ms=A,B,...; poll: a line a round). Exits 1
 * with the reason on stderr when a step fails.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "hypotop/remote.h"
#include "hypotop/util.h"
#include "hypotop/vcs.h"

#include "bench_runs.h"

#define NS "bench"
#define PROJECT "bench"

extern char **environ;

static double clock_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* Read what is there on fd into b; 0 at its end. */
static ssize_t drain(int fd, struct buf *b)
{
	char chunk[65536];
	ssize_t n;

	while ((n = read(fd, chunk, sizeof chunk)) < 0 && errno == EINTR)
		;
	if (n > 0)
		buf_add(b, chunk, (size_t)n);
	return n;
}

/* sh -c script, its output in out and err; its exit status, -1 said when it cannot start. */
static int sh_run(const char *script, struct buf *out, struct buf *err)
{
	int p[2][2];
	char *argv[] = {"sh", "-c", (char *)script, NULL};
	posix_spawn_file_actions_t fa;
	pid_t pid;

	if (pipe(p[0]) < 0 || pipe(p[1]) < 0) {
		perror("slurm_bench: pipe");
		return -1;
	}
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_adddup2(&fa, p[0][1], 1);
	posix_spawn_file_actions_adddup2(&fa, p[1][1], 2);
	for (int i = 0; i < 2; i++)
		for (int k = 0; k < 2; k++)
			posix_spawn_file_actions_addclose(&fa, p[i][k]);
	int why = posix_spawn(&pid, "/bin/sh", &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	close(p[0][1]);
	close(p[1][1]);
	struct pollfd fds[2] = {{.fd = p[0][0], .events = POLLIN}, {.fd = p[1][0], .events = POLLIN}};
	while (!why && (fds[0].fd >= 0 || fds[1].fd >= 0)) {
		if (poll(fds, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		for (int i = 0; i < 2; i++)
			if (fds[i].fd >= 0 && fds[i].revents && drain(fds[i].fd, i ? err : out) <= 0)
				fds[i].fd = -1;
	}
	close(p[0][0]);
	close(p[1][0]);
	if (why) {
		fprintf(stderr, "slurm_bench: /bin/sh: %s\n", strerror(why));
		return -1;
	}
	int st;
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/*
 * Submit jobs first .. first+n-1; the code is shipped before job 0. A
 * line: the time of it all, of the ship, and of each launch script.
 */
static int mode_launch(const char *workspace, const char *repo, const char *commit, int first,
		       int n, char *const args[])
{
	struct remote_slurm o = {.args = (const char *const *)args};
	struct buf out, err, ms;
	struct err e = {{0}};
	size_t bytes = 0;
	int rc = 0;

	buf_init(&out);
	buf_init(&err);
	buf_init(&ms);
	char *ship = remote_ship_path(workspace, "r000.bundle");
	/* The worker's commits asked (none yet), and W/ship made, as the executor does first. */
	char *known = remote_known_script(workspace, PROJECT);
	double t0 = clock_ms();
	if (first == 0 &&
	    (sh_run(known, &out, &err) != 0 ||
	     vcs_bundle(repo, commit, "refs/hypotop/ship", NULL, 0, ship, &bytes, &e) < 0)) {
		fprintf(stderr, "slurm_bench: bundle: %s%s\n", e.msg, err.data ? err.data : "");
		rc = -1;
	}
	double ship_ms = clock_ms() - t0;
	for (int i = first; i < first + n && rc == 0; i++) {
		char node[32], run[32];
		snprintf(node, sizeof node, "n%03d", i);
		snprintf(run, sizeof run, "r%03d", i);
		struct remote_job rj = {.workspace = workspace,
					.project = PROJECT,
					.ns = NS,
					.node = node,
					.run = run,
					.commit = commit,
					.bundle = i == 0 ? ship : NULL,
					.launch = "sleep 600",
					.gpu = -1,
					.slurm = &o};
		char *script = remote_launch_script(&rj);
		double t1 = clock_ms();
		buf_reset(&out);
		buf_reset(&err);
		int s = sh_run(script, &out, &err);
		buf_printf(&ms, "%s%.1f", i == first ? "" : ",", clock_ms() - t1);
		if (s != 0 || !out.data || strcmp(out.data, "launched\n")) {
			fprintf(stderr, "slurm_bench: launch %s: exit %d: %s%s\n", run, s,
				out.data ? out.data : "", err.data ? err.data : "");
			rc = -1;
		}
		free(script);
	}
	double total = clock_ms() - t0;
	if (rc == 0)
		printf("launched=%d total_ms=%.1f ship_ms=%.1f bundle_bytes=%zu launch_ms=%s\n", n,
		       total, ship_ms, bytes, ms.data ? ms.data : "");
	free(known);
	free(ship);
	buf_free(&ms);
	buf_free(&out);
	buf_free(&err);
	return rc;
}

/* Lines of out that start with tag and a space. */
static int count_lines(const char *out, char tag)
{
	int k = 0;

	for (const char *p = out; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : "")
		k += p[0] == tag && p[1] == ' ';
	return k;
}

static int mode_poll(const char *workspace, int n, int rounds)
{
	char **runs = bench_runs(workspace, NS, n);
	char *script = remote_slurm_poll_script(runs, (size_t)n);
	struct remote_state *st = xcalloc((size_t)n, sizeof *st);
	struct buf out, err;
	int rc = 0;

	buf_init(&out);
	buf_init(&err);
	for (int r = 1; r <= rounds && rc == 0; r++) {
		char down[256];
		buf_reset(&out);
		buf_reset(&err);
		double t0 = clock_ms();
		int s = sh_run(script, &out, &err);
		remote_parse_slurm_poll(out.data, st, (size_t)n, (long long)time(NULL), down,
					sizeof down);
		double ms = clock_ms() - t0;
		if (s != 0) {
			fprintf(stderr, "slurm_bench: poll: exit %d: %s\n", s,
				err.data ? err.data : "");
			rc = -1;
		}
		int seen = 0, pending = 0;
		for (int i = 0; i < n; i++) {
			seen += st[i].seen && st[i].launched && st[i].pid > 0 && st[i].slurm_state[0];
			pending += !strcmp(st[i].slurm_state, "PENDING");
		}
		printf("round=%d ms=%.2f seen=%d pending=%d q_lines=%d s_lines=%d bytes=%zu "
		       "down=%s\n",
		       r, ms, seen, pending, count_lines(out.data, 'Q'), count_lines(out.data, 'S'),
		       out.len, down[0] ? "1" : "0");
		if (down[0])
			fprintf(stderr, "slurm_bench: Slurm does not answer: %s\n", down);
	}
	buf_free(&out);
	buf_free(&err);
	free(st);
	free(script);
	bench_runs_free(runs);
	return rc;
}

int main(int argc, char **argv)
{
	int rc = -1;

	if (argc >= 7 && !strcmp(argv[1], "launch")) {
		vcs_init();
		rc = mode_launch(argv[2], argv[3], argv[4], atoi(argv[5]), atoi(argv[6]), argv + 7);
	} else if (argc == 5 && !strcmp(argv[1], "poll")) {
		rc = mode_poll(argv[2], atoi(argv[3]), atoi(argv[4]));
	} else {
		fprintf(stderr, "usage: slurm_bench launch WORKSPACE REPO COMMIT FIRST N [SBATCH_ARG...]\n"
				"       slurm_bench poll WORKSPACE N ROUNDS\n");
		return 2;
	}
	return rc == 0 ? 0 : 1;
}
