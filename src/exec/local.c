/* local.c — the local executor: jobs on this machine (see exec.h). */
#include "hypotop/exec.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "hypotop/fsutil.h"
#include "hypotop/gpupoll.h"
#include "hypotop/json.h"
#include "hypotop/procstat.h"

static int open_pidfd(pid_t pid)
{
#ifdef SYS_pidfd_open
	int fd = (int)syscall(SYS_pidfd_open, pid, 0);
	if (fd >= 0) {
		fcntl(fd, F_SETFD, FD_CLOEXEC);
		return fd;
	}
#endif
	(void)pid;
	return -1;
}

static char *run_file(const char *run_dir, const char *name)
{
	return path_join(run_dir, name);
}

/*
 * The supervisor, hypotop-job: $HYPOTOP_JOB when set (tests, packagers),
 * else the one beside this program, else where `make install` puts it.
 */
static char *find_helper(void)
{
	const char *env = getenv("HYPOTOP_JOB");
	if (env && *env)
		return xstrdup(env);
	char self[4096];
	ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
	if (n > 0) {
		self[n] = '\0';
		char *slash = strrchr(self, '/');
		if (slash) {
			*slash = '\0';
			char *p = path_join(self, "hypotop-job");
			if (access(p, X_OK) == 0)
				return p;
			free(p);
		}
	}
	return xstrdup(HYPOTOP_LIBEXECDIR "/hypotop-job");
}

/* Looked for once: jobs are launched from the main thread only. */
static const char *helper_path(void)
{
	static char *path;

	if (!path)
		path = find_helper();
	return path;
}

static bool env_named(const char *entry, const char *name)
{
	size_t n = strlen(name);
	return !strncmp(entry, name, n) && entry[n] == '=';
}

/* This process's environment, less s->unset and what s->env replaces, plus s->env. */
static char **job_environ(const struct job_spec *s)
{
	size_t n = 0, k = 0;
	for (char **e = environ; *e; e++)
		n++;
	for (const char *const *e = s->env; e && *e; e++)
		n++;
	char **out = xcalloc(n + 1, sizeof *out);
	for (char **e = environ; *e; e++) {
		bool drop = false;
		for (const char *const *u = s->unset; u && *u && !drop; u++)
			drop = env_named(*e, *u);
		for (const char *const *v = s->env; v && *v && !drop; v++) {
			const char *eq = strchr(*v, '=');
			drop = eq && !strncmp(*e, *v, (size_t)(eq - *v) + 1);
		}
		if (!drop)
			out[k++] = *e;
	}
	for (const char *const *e = s->env; e && *e; e++)
		out[k++] = (char *)*e;
	out[k] = NULL;
	return out;
}

/*
 * job.json but its last members, which the supervisor adds and writes
 * (hypotop-job.c): its own pid and start time, and when it started.
 */
static char *job_record(const struct job_spec *s)
{
	struct buf b;

	buf_init(&b);
	buf_adds(&b, "{\n  \"executor\": \"local\",\n  \"worker\": ");
	json_append_str(&b, s->worker ? s->worker : "local");
	buf_adds(&b, ",\n  \"node\": ");
	json_append_str(&b, s->node);
	buf_adds(&b, ",\n  \"commit\": ");
	json_append_str(&b, s->commit ? s->commit : "");
	buf_adds(&b, ",\n  \"cwd\": ");
	json_append_str(&b, s->cwd);
	if (s->build) {
		buf_adds(&b, ",\n  \"build\": ");
		json_append_str(&b, s->build);
	}
	buf_adds(&b, ",\n  \"launch\": ");
	json_append_str(&b, s->launch);
	buf_adds(&b, ",\n  \"env\": {");
	for (const char *const *v = s->env; v && *v; v++) {
		const char *eq = strchr(*v, '=');
		if (!eq)
			continue;
		char *name = xstrndup(*v, (size_t)(eq - *v));
		buf_adds(&b, v == s->env ? "\n    " : ",\n    ");
		json_append_str(&b, name);
		buf_adds(&b, ": ");
		json_append_str(&b, eq + 1);
		free(name);
	}
	buf_adds(&b, "\n  }");
	return buf_steal(&b);
}

/*
 * The supervisor, hypotop-job (hypotop-job.c): one for this engine,
 * started at the first launch and again when it has gone away. Each job
 * handed to it has a token; it answers with the job's pid ("S TOKEN PID")
 * and tells when it ended ("X TOKEN CODE"). A launch does not wait for
 * the answer: only a signal needs the pid.
 *
 * A job no supervisor of this engine started (one re-attached after a
 * restart, or one whose supervisor went away) is known by the pid and
 * start time in its job.json, and its end is heard on a pidfd. Either
 * way the engine is told the same: news(token), from the loop.
 */
#define SUP_FD 3
#define SUP_ANSWER_MS 10000

struct ljob {
	unsigned long token;
	char *run_dir;
	pid_t pid;                     /* the leader of its process group; 0 not yet known */
	unsigned long long start_time; /* from job.json; 0 unknown */
	int pidfd;                     /* watched while no supervisor tells its end; -1 none */
	int code;                      /* what its supervisor said it ended with */
	bool by_sup;                   /* the running supervisor started it, and tells its end */
	bool ended;                    /* its supervisor said it ended */
	bool news;                     /* the engine is yet to be told */
	bool has_build;
};

struct local {
	struct executor x;
	int fd;     /* our end of the supervisor's socket; -1 none */
	pid_t pid;
	pid_t left; /* one that went away and is not reaped yet */
	unsigned long tokens;
	struct ljob *jobs; /* launched or attached, and not yet released */
	size_t njobs, capjobs;
	struct gpupoll *gpus; /* this machine's GPU readings; NULL: not watched */
};

static struct ljob *job_of(struct local *L, unsigned long token)
{
	for (size_t i = 0; i < L->njobs; i++)
		if (L->jobs[i].token == token)
			return &L->jobs[i];
	return NULL;
}

static struct ljob *job_add(struct local *L, struct job *j, const char *run_dir)
{
	if (L->njobs == L->capjobs) {
		L->capjobs = L->capjobs ? 2 * L->capjobs : 8;
		L->jobs = xrealloc(L->jobs, L->capjobs * sizeof *L->jobs);
	}
	struct ljob *lj = &L->jobs[L->njobs++];
	*lj = (struct ljob){.token = ++L->tokens, .run_dir = xstrdup(run_dir), .pidfd = -1};
	memset(j, 0, sizeof *j);
	j->run_dir = xstrdup(run_dir);
	j->token = lj->token;
	return lj;
}

/* Tell the engine of every job with news; looked for afresh after each, which may release jobs. */
static void deliver(struct local *L)
{
	for (;;) {
		size_t i = 0;
		while (i < L->njobs && !L->jobs[i].news)
			i++;
		if (i == L->njobs)
			return;
		L->jobs[i].news = false;
		L->x.news(L->jobs[i].token, L->x.news_ctx);
	}
}

static void on_wake(struct loop *l, void *ctx)
{
	(void)l;
	deliver(ctx);
}

/* News found inside an operation is told from the loop, once the operation has returned. */
static void news_later(struct local *L, struct ljob *lj)
{
	lj->news = true;
	loop_wake(L->x.loop);
}

static int read_int_file(const char *run_dir, const char *name, long long *a)
{
	char *path = run_file(run_dir, name);
	char *text = fs_read(path, NULL, NULL);
	int n = 0;

	free(path);
	if (!text)
		return 0;
	n = sscanf(text, "%lld", a);
	free(text);
	return n;
}

/* pid, start time and build from the job's record, job.json. */
static void read_record(struct ljob *lj, struct err *e)
{
	char *path = run_file(lj->run_dir, "job.json");
	cJSON *rec = fs_exists(path) ? json_parse_file(path, e) : NULL;
	double pid = 0, st = 0;

	if (rec && json_get_num(rec, "pid", path, &pid, e) == 1 &&
	    json_get_num(rec, "start_time", path, &st, e) == 1 && pid > 0) {
		lj->pid = (pid_t)pid;
		lj->start_time = (unsigned long long)st;
		lj->has_build = json_string(rec, "build") != NULL;
	} else if (rec && !e->msg[0]) {
		err_set(e, "%s: no \"pid\" and \"start_time\" of the job", path);
	}
	cJSON_Delete(rec);
	free(path);
}

static void on_pidfd(struct loop *l, int fd, short revents, void *ctx)
{
	struct local *L = ctx;

	(void)revents;
	loop_unwatch(l, fd); /* readable for good once it exited */
	for (size_t i = 0; i < L->njobs; i++)
		if (L->jobs[i].pidfd == fd) {
			close(fd);
			L->jobs[i].pidfd = -1;
			L->x.news(L->jobs[i].token, L->x.news_ctx);
			return;
		}
}

/* Known by pid and start time: its end is heard on a pidfd, where the kernel has them. */
static void watch_pid(struct local *L, struct ljob *lj)
{
	if (lj->pidfd >= 0 || !lj->pid || proc_start_time(lj->pid) != lj->start_time)
		return;
	lj->pidfd = open_pidfd(lj->pid);
	if (lj->pidfd >= 0)
		loop_watch(L->x.loop, lj->pidfd, POLLIN, on_pidfd, L);
}

static void unwatch_pid(struct local *L, struct ljob *lj)
{
	if (lj->pidfd < 0)
		return;
	loop_unwatch(L->x.loop, lj->pidfd);
	close(lj->pidfd);
	lj->pidfd = -1;
}

/*
 * Closed, it ends once its last job has: reaped then, by the next call
 * here, so that it does not hold the engine up meanwhile. Its jobs are
 * watched from now on by their records, and looked at once at once: one
 * may have ended unrecorded.
 */
static void sup_gone(struct local *L)
{
	if (L->left > 0 && waitpid(L->left, NULL, WNOHANG) != 0)
		L->left = 0;
	if (L->fd < 0)
		return;
	loop_unwatch(L->x.loop, L->fd);
	close(L->fd);
	L->fd = -1;
	if (waitpid(L->pid, NULL, WNOHANG) == 0)
		L->left = L->pid;
	for (size_t i = 0; i < L->njobs; i++) {
		struct ljob *lj = &L->jobs[i];
		if (!lj->by_sup || lj->ended)
			continue;
		struct err e = {{0}};
		lj->by_sup = false;
		read_record(lj, &e);
		watch_pid(L, lj);
		news_later(L, lj);
	}
}

static void add_field(struct buf *b, const char *text)
{
	buf_add(b, text, strlen(text) + 1);
}

static void on_sup(struct loop *l, int fd, short revents, void *ctx);

/*
 * In a session of its own, so that it and the jobs outlive hypotop and a
 * terminal's signals do not reach them; with the default disposition of
 * every signal and none blocked.
 */
static int sup_start(struct local *L, struct err *e)
{
	posix_spawnattr_t attr;
	posix_spawn_file_actions_t fa;
	sigset_t none, all;
	const char *helper = helper_path();
	char *argv[] = {"hypotop-job", NULL};
	char *envp[] = {NULL}; /* each job is sent its own; the model's key stays here */
	int sv[2];

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
		err_set(e, "cannot make a socket for the job supervisor: %s", strerror(errno));
		return -1;
	}
	if (sv[1] == SUP_FD) { /* dup2 onto itself would leave it close-on-exec */
		int fd = fcntl(sv[1], F_DUPFD_CLOEXEC, SUP_FD + 1);
		close(sv[1]);
		sv[1] = fd;
	}
	sigemptyset(&none);
	sigfillset(&all);
	posix_spawnattr_init(&attr);
	posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSID | POSIX_SPAWN_SETSIGMASK |
						POSIX_SPAWN_SETSIGDEF);
	posix_spawnattr_setsigmask(&attr, &none);
	posix_spawnattr_setsigdefault(&attr, &all);
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
	posix_spawn_file_actions_adddup2(&fa, 1, 2);
	posix_spawn_file_actions_adddup2(&fa, sv[1], SUP_FD);
	int rc = sv[1] < 0 ? errno : posix_spawn(&L->pid, helper, &fa, &attr, argv, envp);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&attr);
	close(sv[1]);
	if (rc != 0) {
		close(sv[0]);
		err_set(e, "cannot start the job supervisor %s: %s (is hypotop installed "
			   "whole? `make install` puts hypotop-job in %s)",
			helper, strerror(rc), HYPOTOP_LIBEXECDIR);
		return -1;
	}
	L->fd = sv[0];
	loop_watch(L->x.loop, L->fd, POLLIN, on_sup, L);
	return 0;
}

/* Everything the supervisor said so far; false when it has gone away. */
static bool sup_hear(struct local *L)
{
	char msg[128];
	unsigned long token;
	long v;

	while (L->fd >= 0) {
		ssize_t n = recv(L->fd, msg, sizeof msg - 1, MSG_DONTWAIT);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return true;
		if (n <= 0) {
			sup_gone(L);
			return false;
		}
		msg[n] = '\0';
		char kind = 0;
		struct ljob *lj = sscanf(msg, "%c %lu %ld", &kind, &token, &v) == 3 ? job_of(L, token)
										   : NULL;
		if (lj && kind == 'S' && v > 0) {
			lj->pid = (pid_t)v;
		} else if (lj && kind == 'X') {
			lj->code = (int)v;
			lj->ended = lj->news = true;
		}
	}
	return false;
}

static void on_sup(struct loop *l, int fd, short revents, void *ctx)
{
	(void)l;
	(void)fd;
	(void)revents;
	sup_hear(ctx);
	deliver(ctx);
}

/*
 * Wait until the supervisor says what became of the job (pid or end);
 * false if it does not. Other jobs' ends heard meanwhile are told from
 * the loop.
 */
static bool sup_settle(struct local *L, unsigned long token)
{
	int64_t deadline = mono_ms() + SUP_ANSWER_MS;
	bool settled = false;

	while (sup_hear(L)) {
		struct ljob *lj = job_of(L, token);
		if (!lj || lj->pid || lj->ended) {
			settled = lj != NULL;
			break;
		}
		struct pollfd pf = {L->fd, POLLIN, 0};
		int64_t left = deadline - mono_ms();
		if (left <= 0 || (poll(&pf, 1, (int)left) < 0 && errno != EINTR))
			break;
	}
	for (size_t i = 0; i < L->njobs; i++)
		if (L->jobs[i].news) {
			loop_wake(L->x.loop);
			break;
		}
	return settled;
}

static int local_launch(struct executor *x, const struct job_spec *s, struct job *j,
			struct err *e)
{
	struct local *L = (struct local *)x;
	struct buf req;
	char *record = job_record(s);
	char **envp = job_environ(s);
	char token[32];
	int rc = -1;

	snprintf(token, sizeof token, "%lu", L->tokens + 1);
	buf_init(&req);
	add_field(&req, "L");
	add_field(&req, token);
	add_field(&req, s->run_dir);
	add_field(&req, s->cwd);
	add_field(&req, record);
	add_field(&req, s->launch);
	buf_addc(&req, s->build ? '+' : '-');
	add_field(&req, s->build ? s->build : "");
	for (char **v = envp; *v; v++)
		add_field(&req, *v);
	for (int tries = 0; rc < 0; tries++) {
		if (L->fd < 0 && sup_start(L, e) < 0)
			break;
		if (send(L->fd, req.data, req.len, MSG_NOSIGNAL) == (ssize_t)req.len) {
			rc = 0;
			break;
		}
		int why = errno;
		if (why == EMSGSIZE || tries > 0) {
			err_set(e, "cannot hand the job to its supervisor: %s%s", strerror(why),
				why == EMSGSIZE ? " (the environment and commands are too large)" : "");
			break;
		}
		sup_gone(L); /* it went away since the last job: start another */
	}
	buf_free(&req);
	free(envp);
	free(record);
	if (rc < 0)
		return -1;
	struct ljob *lj = job_add(L, j, s->run_dir);
	lj->by_sup = true;
	lj->has_build = j->has_build = s->build != NULL;
	return 0;
}

/* job.json names the job by pid and start time. Missing, it never started. */
static int local_attach(struct executor *x, const char *run_dir, struct job *j, struct err *e)
{
	struct local *L = (struct local *)x;
	struct ljob *lj = job_add(L, j, run_dir);

	read_record(lj, e);
	j->has_build = lj->has_build;
	watch_pid(L, lj);
	return 0;
}

/*
 * A job of the supervisor running is alive until it says otherwise.
 * Another is known by its pid and start time, and counts as alive while
 * it waits, ended, to be reaped: its supervisor records it first.
 * 1 alive, 0 not, -1 not known now: no descriptor to read /proc with.
 */
static int alive(const struct ljob *lj)
{
	if (lj->by_sup)
		return 1;
	if (!lj->pid || !lj->start_time)
		return 0;
	errno = 0;
	unsigned long long st = proc_start_time(lj->pid);
	if (!st && errno_out_of_fds(errno))
		return -1;
	return st == lj->start_time; /* or gone, or the pid reused */
}

static void local_check(struct executor *x, struct job *j, struct job_result *r)
{
	long long code;
	char *record = run_file(j->run_dir, "job.json");
	const struct ljob *lj = job_of((struct local *)x, j->token);

	memset(r, 0, sizeof *r);
	r->build_code = -1;
	if (j->has_build && read_int_file(j->run_dir, "build_exit", &code) == 1)
		r->build_code = (int)code;
	/*
	 * Alive is asked before the exit code is read: a supervisor records
	 * the code before it reaps the job, so a job gone when asked has its
	 * code there by the read. Read first, a job that ends between the two
	 * looks would be gone without a code: lost, when it was not.
	 */
	int live = lj && !lj->ended ? alive(lj) : 0;
	if (lj && lj->ended) {
		/* Its supervisor's word first: the folder may have been made anew since. */
		r->state = JOB_DONE;
		r->exit_code = lj->code;
	} else if (read_int_file(j->run_dir, "exit_code", &code) == 1) {
		r->state = JOB_DONE;
		r->exit_code = (int)code;
	} else if (live != 0) {
		/* Not known now counts as running: looked at again at the next tick. */
		r->state = JOB_RUNNING;
		r->building = j->has_build && r->build_code < 0;
	} else {
		r->state = fs_exists(record) ? JOB_LOST : JOB_NOT_STARTED;
	}
	free(record);
}

static int local_signal(struct executor *x, struct job *j, int sig)
{
	struct local *L = (struct local *)x;
	long long code;

	/* Recorded, it may be reaped and its pid another's: the record comes first. */
	if (read_int_file(j->run_dir, "exit_code", &code) == 1)
		return -1;
	struct ljob *lj = job_of(L, j->token);
	if (lj && lj->by_sup && !lj->pid && !lj->ended)
		sup_settle(L, j->token);
	lj = job_of(L, j->token);
	if (!lj || lj->ended || lj->pid <= 0 || alive(lj) != 1)
		return -1;
	if (kill(-lj->pid, sig) < 0)
		return -1;
	if (sig == SIGSTOP)
		j->paused = true;
	else if (sig == SIGCONT)
		j->paused = false;
	return 0;
}

static void local_release(struct executor *x, struct job *j)
{
	struct local *L = (struct local *)x;
	struct ljob *lj = job_of(L, j->token);

	if (lj) {
		unwatch_pid(L, lj);
		free(lj->run_dir);
		*lj = L->jobs[--L->njobs];
	}
	free(j->run_dir);
	memset(j, 0, sizeof *j);
}

/* The supervisor stays for the jobs still running, and records their ends. */
static void local_free(struct executor *x)
{
	struct local *L = (struct local *)x;

	for (size_t i = 0; i < L->njobs; i++) {
		unwatch_pid(L, &L->jobs[i]);
		free(L->jobs[i].run_dir);
	}
	L->njobs = 0;
	gpupoll_stop(L->gpus);
	sup_gone(L);
	loop_wake_remove(L->x.loop, on_wake, L);
	free(L->jobs);
	free(L);
}

static void local_status(struct executor *x, struct worker_status *st)
{
	struct local *L = (struct local *)x;

	st->state = WORKER_UP;
	gpupoll_read(L->gpus, st);
}

void local_executor_watch_gpus(struct executor *x)
{
	struct local *L = (struct local *)x;

	if (!L->gpus)
		L->gpus = gpupoll_start();
}

static const struct executor_ops local_ops = {
	.kind = "local",
	.launch = local_launch,
	.attach = local_attach,
	.check = local_check,
	.signal = local_signal,
	.release = local_release,
	.status = local_status,
	.free = local_free,
};

struct executor *local_executor_new(struct loop *loop, exec_news_fn news, void *ctx)
{
	struct local *L = xcalloc(1, sizeof *L);

	L->x = (struct executor){&local_ops, loop, news, ctx};
	L->fd = -1;
	loop_wake_add(loop, on_wake, L);
	return &L->x;
}
