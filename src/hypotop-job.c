/*
 * hypotop-job — the supervisor of one local run (SPEC §6).
 *
 *	hypotop-job RUN_DIR CWD RECORD LAUNCH [BUILD]
 *
 * hypotop starts it as the leader of a new session, with its standard
 * output and error on the run's log and its environment already the
 * job's. Before anything else it writes RUN_DIR/job.json: RECORD, which
 * is hypotop's account of the job (a JSON object without its closing
 * brace), completed with this process's pid and start time. It then runs
 * BUILD (when given) and LAUNCH through /bin/sh in CWD, writes the
 * build's exit status to RUN_DIR/build_exit and the run's to
 * RUN_DIR/exit_code, and exits with that status. Each record is written
 * to a temporary name and renamed, so a reader sees all of it or nothing.
 * Because the records are files, the outcome survives hypotop: a
 * supervisor that restarts reads them, or finds this process by the pid
 * and start time in job.json.
 *
 * A SIGTERM, SIGINT or SIGHUP to the process group is meant for the job:
 * this process ignores them and records how the job ended. SIGKILL ends it
 * without a record; hypotop then knows the job as lost.
 *
 * It is small, links nothing but libc, and spawns the shell once per
 * command: a job costs as little as it can beyond the job itself.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static const char *run_dir;

static void say(const char *what, const char *text)
{
	/* One write: the line is whole in the log even beside the job's output. */
	char line[4096];
	int n = snprintf(line, sizeof line, "[hypotop] %s: %s\n", what, text);

	if (n > (int)sizeof line - 1) {
		n = (int)sizeof line - 1;
		line[n - 1] = '\n';
	}
	if (n > 0 && write(1, line, (size_t)n) < 0) {
		/* Nowhere left to say it: the record files still tell. */
	}
}

/* RUN_DIR/name holds text; false when it is left as it was. */
static bool record(const char *name, const char *text)
{
	char tmp[4096], path[4096];

	if (snprintf(path, sizeof path, "%s/%s", run_dir, name) >= (int)sizeof path ||
	    snprintf(tmp, sizeof tmp, "%s.partial", path) >= (int)sizeof tmp)
		return false;
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return false;
	size_t len = strlen(text);
	bool ok = write(fd, text, len) == (ssize_t)len;
	ok &= close(fd) == 0;
	ok = ok && rename(tmp, path) == 0;
	if (!ok)
		unlink(tmp);
	return ok;
}

static void record_code(const char *name, int code)
{
	char text[16];

	snprintf(text, sizeof text, "%d\n", code);
	record(name, text);
}

/* Field 22 of /proc/self/stat: what tells this process from a later one with its pid. */
static unsigned long long start_time(void)
{
	char text[1024];
	int fd = open("/proc/self/stat", O_RDONLY | O_CLOEXEC);
	ssize_t n = fd < 0 ? -1 : read(fd, text, sizeof text - 1);

	if (fd >= 0)
		close(fd);
	if (n <= 0)
		return 0;
	text[n] = '\0';
	char *p = strrchr(text, ')'); /* the name may hold spaces */
	int field = 2;
	for (p = p ? p + 1 : text + n; *p && field < 22; p++)
		if (*p == ' ')
			field++;
	return field == 22 ? strtoull(p, NULL, 10) : 0;
}

/*
 * /bin/sh -c cmd; its status as the shell reports one: 128+N for signal N.
 * posix_spawn, not fork: the child shares this process's memory until it
 * execs, with no page tables to copy.
 */
static int shell(const char *cmd)
{
	extern char **environ;
	char *argv[] = {"sh", "-c", (char *)cmd, NULL};
	posix_spawnattr_t attr;
	sigset_t dfl;
	pid_t pid;

	sigemptyset(&dfl);
	sigaddset(&dfl, SIGTERM);
	sigaddset(&dfl, SIGINT);
	sigaddset(&dfl, SIGHUP);
	posix_spawnattr_init(&attr);
	posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGDEF);
	posix_spawnattr_setsigdefault(&attr, &dfl);
	int rc = posix_spawn(&pid, "/bin/sh", NULL, &attr, argv, environ);
	posix_spawnattr_destroy(&attr);
	if (rc != 0) {
		say("error", strerror(rc));
		return 127;
	}
	int status;
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return 127;
	if (WIFSIGNALED(status))
		return 128 + WTERMSIG(status);
	return WEXITSTATUS(status);
}

static int finish(int code)
{
	record_code("exit_code", code);
	return code;
}

int main(int argc, char **argv)
{
	if (argc < 5 || argc > 6) {
		fprintf(stderr, "usage: hypotop-job RUN_DIR CWD RECORD LAUNCH [BUILD]\n"
				"  (started by hypotop for each local run; see hypotop(1))\n");
		return 2;
	}
	run_dir = argv[1];
	const char *cwd = argv[2], *job = argv[3], *launch = argv[4];
	const char *build = argc == 6 ? argv[5] : NULL;

	signal(SIGTERM, SIG_IGN);
	signal(SIGINT, SIG_IGN);
	signal(SIGHUP, SIG_IGN);
	/* Recorded first, or not run: a restarted hypotop must find every job. */
	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	size_t cap = strlen(job) + 128;
	char *text = malloc(cap);
	bool recorded = text != NULL;
	if (recorded) {
		snprintf(text, cap,
			 "%s,\n  \"pid\": %ld,\n  \"start_time\": %llu,\n  \"launched\": %lld\n}\n",
			 job, (long)getpid(), start_time(),
			 (long long)now.tv_sec * 1000 + now.tv_nsec / 1000000);
		recorded = record("job.json", text);
		free(text);
	}
	if (!recorded) {
		say("error", "cannot write job.json in the run folder; the job is not run");
		return finish(127);
	}
	if (chdir(cwd) < 0) {
		char why[4096];
		snprintf(why, sizeof why, "cannot enter the work tree %s: %s", cwd, strerror(errno));
		say("error", why);
		return finish(127);
	}
	if (build) {
		say("build", build);
		int code = shell(build);
		record_code("build_exit", code);
		if (code != 0)
			return finish(code);
	}
	say("launch", launch);
	return finish(shell(launch));
}
