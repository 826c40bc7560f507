/*
 * hypotop-job — the supervisor of local runs (SPEC §6).
 *
 * hypotop starts one for each engine, in a session of its own, with a
 * SOCK_SEQPACKET socket on descriptor 3. Each packet from hypotop asks
 * for a job:
 *
 *	"L" TOKEN RUN_DIR CWD RECORD LAUNCH BUILD NAME=VALUE...
 *
 * every field ended by a NUL byte. TOKEN is hypotop's name for the job;
 * BUILD is "-" for none or "+" and the command; the variables are the
 * job's whole environment. RECORD is hypotop's account of the job, a
 * JSON object without its closing brace. For each, this process starts
 * a child that becomes the leader of a new session, with standard input
 * from /dev/null and standard output and error appended to RUN_DIR/log,
 * and tells hypotop "S TOKEN PID". Before anything else the child writes
 * RUN_DIR/job.json: RECORD completed with its pid, its start time and
 * the time. It then runs BUILD (when given) through /bin/sh in CWD and
 * writes its status to RUN_DIR/build_exit, and execs /bin/sh -c LAUNCH:
 * the job's shell keeps the child's pid, the one recorded.
 *
 * When a job ends, this process writes its status to RUN_DIR/exit_code
 * (128+N for signal N, as a shell reports it), then reaps it, then tells
 * hypotop "X TOKEN CODE". Written before the reaping, the record is there
 * by the time the pid is gone: a restarted hypotop that finds neither
 * the process nor the record knows the job as lost. Each record is
 * written to a temporary name and renamed, so a reader sees all of it or
 * nothing. A job that cannot be started, or cannot be recorded, is not
 * run: the log says why, and it ends with status 127.
 *
 * RUN_DIR is opened once, when the job is asked for, and every record of
 * the job is written relative to that descriptor, never by the path: a
 * folder deleted while the job runs, and made again for another attempt,
 * is not the job's, and gets nothing of it. Into a deleted folder nothing
 * can be written; the record is lost, and hypotop hears the end from
 * "X TOKEN CODE".
 *
 * The records are files, so the outcome does not depend on hypotop:
 * when it goes away this process stays until its last job has ended and
 * been recorded. It ignores SIGTERM, SIGINT and SIGHUP, which are meant
 * for jobs.
 *
 * It is small, links nothing but libc, and stays: a job costs one fork
 * and one exec of the shell beyond the job itself.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "hypotop/procstat.h"

#define SOCK 3
#define MAX_PACKET (256 * 1024)
#define MAX_ENV 4096

struct req {
	const char *token, *run_dir, *cwd, *record, *launch, *build;
	int dir; /* RUN_DIR, opened; -1 when it cannot be */
	char *env[MAX_ENV + 1];
};

struct child {
	pid_t pid;
	int dir;
	char *token;
};

static struct child *kids;
static size_t nkids, capkids;

/* "[hypotop] what: text" on fd, a log. */
static void say(int fd, const char *what, const char *text)
{
	/* One write: the line is whole in the log even beside the job's output. */
	char line[4096];
	int n = snprintf(line, sizeof line, "[hypotop] %s: %s\n", what, text);

	if (n > (int)sizeof line - 1) {
		n = (int)sizeof line - 1;
		line[n - 1] = '\n';
	}
	if (n > 0 && write(fd, line, (size_t)n) < 0) {
		/* Nowhere left to say it: the record files still tell. */
	}
}

/*
 * name in the folder dir holds head and then tail; false when it is left
 * as it was. No allocation: a job's process calls it before it execs,
 * sharing this process's memory.
 */
static bool record(int dir, const char *name, const char *head, const char *tail)
{
	char tmp[64];

	if (snprintf(tmp, sizeof tmp, "%s.partial", name) >= (int)sizeof tmp)
		return false;
	int fd = openat(dir, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return false;
	struct iovec v[2] = {{(char *)head, strlen(head)}, {(char *)tail, strlen(tail)}};
	bool ok = writev(fd, v, 2) == (ssize_t)(v[0].iov_len + v[1].iov_len);
	ok &= close(fd) == 0;
	ok = ok && renameat(dir, tmp, dir, name) == 0;
	if (!ok)
		unlinkat(dir, tmp, 0);
	return ok;
}

static void record_code(int dir, const char *name, int code)
{
	char text[16];

	snprintf(text, sizeof text, "%d\n", code);
	record(dir, name, text, "");
}

/* The log of the job in the folder dir, to append to; -1 when it cannot be. */
static int open_log(int dir)
{
	return openat(dir, "log", O_WRONLY | O_CREAT | O_APPEND, 0644);
}

static void set_job_signals(void (*how)(int))
{
	signal(SIGTERM, how);
	signal(SIGINT, how);
	signal(SIGHUP, how);
}

/* /bin/sh -c cmd, waited for; its status as the shell reports one. */
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
		say(1, "error", strerror(rc));
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

/*
 * The job's process: its session leader, and then its shell. Any return
 * is an exit status; the job did not get to run. Without a build it is
 * a vfork child, which shares this process's memory until it execs: it
 * allocates nothing and changes no variable but its own.
 */
static int run_job(struct req *r)
{
	extern char **environ;
	sigset_t none;

	close(SOCK);
	setsid();
	int in = open("/dev/null", O_RDONLY);
	int out = open_log(r->dir);
	if (in < 0 || out < 0)
		return 127; /* nowhere to say why: the exit code tells */
	dup2(in, 0);
	dup2(out, 1);
	dup2(out, 2);
	if (in > 2)
		close(in);
	if (out > 2)
		close(out);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);

	/* Recorded first, or not run: a restarted hypotop must find every job. */
	struct timespec now;
	char tail[128];
	clock_gettime(CLOCK_REALTIME, &now);
	snprintf(tail, sizeof tail,
		 ",\n  \"pid\": %ld,\n  \"start_time\": %llu,\n  \"launched\": %lld\n}\n",
		 (long)getpid(), proc_start_time(0), (long long)now.tv_sec * 1000 + now.tv_nsec / 1000000);
	if (!record(r->dir, "job.json", r->record, tail)) {
		say(1, "error", "cannot write job.json in the run folder; the job is not run");
		return 127;
	}
	if (chdir(r->cwd) < 0) {
		char why[4096];
		snprintf(why, sizeof why, "cannot enter the work tree %s: %s", r->cwd, strerror(errno));
		say(1, "error", why);
		return 127;
	}
	if (r->build) {
		environ = r->env; /* a forked child: its own copy */
		say(1, "build", r->build);
		int code = shell(r->build);
		record_code(r->dir, "build_exit", code);
		if (code != 0)
			return code;
	}
	say(1, "launch", r->launch);
	set_job_signals(SIG_DFL);
	char *argv[] = {"sh", "-c", (char *)r->launch, NULL};
	execve("/bin/sh", argv, r->env);
	char why[4096];
	snprintf(why, sizeof why, "cannot run /bin/sh: %s", strerror(errno));
	say(1, "error", why);
	return 127;
}

static void tell(bool *connected, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void tell(bool *connected, const char *fmt, ...)
{
	char msg[600];
	va_list ap;

	if (!*connected)
		return;
	va_start(ap, fmt);
	int n = vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	if (n >= (int)sizeof msg)
		n = (int)sizeof msg - 1;
	if (send(SOCK, msg, (size_t)n, MSG_NOSIGNAL) < 0 && errno != EINTR)
		*connected = false; /* hypotop is gone: its jobs are still recorded */
}

/*
 * NUL-ended fields of a packet into r; false when it is not a whole
 * request (r->token and r->run_dir are set when the packet has them).
 */
static bool parse(char *p, size_t len, struct req *r)
{
	const char *field[6] = {0};
	char *end = p + len;
	size_t n = 0, ne = 0;

	r->token = r->run_dir = NULL;
	if (len < 2 || p[0] != 'L' || p[1] != '\0' || end[-1] != '\0')
		return false;
	for (p += 2; p < end && n < 6; p += strlen(p) + 1)
		field[n++] = p;
	for (; p < end && ne < MAX_ENV; p += strlen(p) + 1)
		r->env[ne++] = p;
	r->env[ne] = NULL;
	r->token = field[0];
	r->run_dir = field[1];
	if (n < 6 || p < end || (field[5][0] != '-' && field[5][0] != '+'))
		return false;
	r->cwd = field[2];
	r->record = field[3];
	r->launch = field[4];
	r->build = field[5][0] == '+' ? field[5] + 1 : NULL;
	return true;
}

/* A job that could not be started: said in its log, recorded as 127, told. */
static void not_started(const struct req *r, const char *why, bool *connected)
{
	if (r->dir >= 0) {
		int fd = open_log(r->dir);
		if (fd >= 0) {
			say(fd, "error", why);
			close(fd);
		}
		record_code(r->dir, "exit_code", 127);
		close(r->dir);
	}
	if (r->token)
		tell(connected, "X %s 127", r->token);
}

static void start(char *packet, size_t len, bool *connected)
{
	static struct req r;
	char why[4200];

	bool whole = parse(packet, len, &r);
	r.dir = r.run_dir ? open(r.run_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC) : -1;
	if (!whole) {
		not_started(&r, "hypotop-job cannot read the request: are hypotop and "
				"hypotop-job of one version?", connected);
		return;
	}
	if (r.dir < 0) {
		/* Not recorded: there is no folder to record it in. */
		snprintf(why, sizeof why, "hypotop-job cannot open the run folder %s: %s",
			 r.run_dir, strerror(errno));
		not_started(&r, why, connected);
		return;
	}
	if (nkids == capkids) {
		size_t cap = capkids ? 2 * capkids : 16;
		struct child *k = realloc(kids, cap * sizeof *k);
		if (!k) {
			not_started(&r, "hypotop-job is out of memory", connected);
			return;
		}
		kids = k;
		capkids = cap;
	}
	struct child *c = &kids[nkids];
	c->token = strdup(r.token);
	c->dir = r.dir;
	/* vfork when the shell is all: the quickest way to the exec. */
	errno = ENOMEM;
	c->pid = !c->token ? -1 : r.build ? fork() : vfork();
	if (c->pid == 0)
		_exit(run_job(&r));
	if (c->pid < 0) {
		snprintf(why, sizeof why, "hypotop-job cannot start the job: %s", strerror(errno));
		free(c->token);
		not_started(&r, why, connected);
		return;
	}
	nkids++;
	tell(connected, "S %s %ld", c->token, (long)c->pid);
}

/*
 * Record each job that ended, then reap it: its exit_code is there
 * before its pid can be gone or taken.
 */
static void collect(bool *connected)
{
	for (;;) {
		siginfo_t si;
		memset(&si, 0, sizeof si);
		if (waitid(P_ALL, 0, &si, WEXITED | WNOHANG | WNOWAIT) < 0 || si.si_pid == 0)
			return;
		int code = si.si_code == CLD_EXITED ? si.si_status : 128 + si.si_status;
		size_t i = 0;
		while (i < nkids && kids[i].pid != si.si_pid)
			i++;
		if (i < nkids)
			record_code(kids[i].dir, "exit_code", code);
		while (waitpid(si.si_pid, NULL, 0) < 0 && errno == EINTR)
			;
		if (i < nkids) {
			tell(connected, "X %s %d", kids[i].token, code);
			free(kids[i].token);
			close(kids[i].dir);
			kids[i] = kids[--nkids];
		}
	}
}

int main(int argc, char **argv)
{
	int type = 0;
	socklen_t tl = sizeof type;

	(void)argv;
	if (argc != 1 || getsockopt(SOCK, SOL_SOCKET, SO_TYPE, &type, &tl) < 0 ||
	    type != SOCK_SEQPACKET) {
		fprintf(stderr, "usage: hypotop-job\n"
				"  (the supervisor of local jobs: hypotop starts it, with its "
				"requests on descriptor 3; see hypotop(1))\n");
		return 2;
	}
	fcntl(SOCK, F_SETFD, FD_CLOEXEC);
	set_job_signals(SIG_IGN);
	if (chdir("/") < 0) {
		/* Only so as not to hold a folder in use; nothing depends on it. */
	}
	sigset_t chld;
	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);
	sigprocmask(SIG_BLOCK, &chld, NULL);
	int sfd = signalfd(-1, &chld, SFD_CLOEXEC | SFD_NONBLOCK);
	if (sfd < 0)
		return 1;
	static char packet[MAX_PACKET];
	bool connected = true;
	while (connected || nkids > 0) {
		struct pollfd pf[2] = {{sfd, POLLIN, 0}, {connected ? SOCK : -1, POLLIN, 0}};
		if (poll(pf, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			return 1;
		}
		if (pf[0].revents) {
			struct signalfd_siginfo info;
			while (read(sfd, &info, sizeof info) > 0)
				;
			collect(&connected);
		}
		if (!pf[1].revents)
			continue;
		struct iovec iov = {packet, sizeof packet - 1};
		struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1};
		ssize_t n = recvmsg(SOCK, &m, MSG_DONTWAIT);
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n <= 0) {
			connected = false; /* hypotop is gone: finish what runs */
			close(SOCK);
			continue;
		}
		if (m.msg_flags & MSG_TRUNC) {
			tell(&connected, "F the request is larger than %d bytes", MAX_PACKET - 1);
			continue;
		}
		start(packet, (size_t)n, &connected);
	}
	return 0;
}
