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
#include "hypotop/json.h"

void sh_quote(struct buf *b, const char *text)
{
	buf_addc(b, '\'');
	for (const char *p = text; *p; p++) {
		if (*p == '\'')
			buf_adds(b, "'\\''");
		else
			buf_addc(b, *p);
	}
	buf_addc(b, '\'');
}

/* Field 22 of /proc/PID/stat; 0 when the process does not exist. */
static unsigned long long proc_start_time(pid_t pid)
{
	char path[64], text[1024];
	snprintf(path, sizeof path, "/proc/%ld/stat", (long)pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	ssize_t n = read(fd, text, sizeof text - 1);
	close(fd);
	if (n <= 0)
		return 0;
	text[n] = '\0';
	/* comm may hold spaces and parentheses: count from the last ')'. */
	char *p = strrchr(text, ')');
	if (!p)
		return 0;
	unsigned long long v = 0;
	int field = 2;
	for (p++; *p && field < 22; p++)
		if (*p == ' ')
			field++;
	if (field == 22)
		v = strtoull(p, NULL, 10);
	return v;
}

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
	buf_adds(&b, "{\n  \"executor\": \"local\",\n  \"node\": ");
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
 * the answer: only a signal needs the pid. The jobs of one that went
 * away are known by the pid and start time in their job.json.
 */
#define SUP_FD 3
#define SUP_ANSWER_MS 10000

struct told {
	unsigned long token;
	pid_t pid;   /* 0 until it says */
	int code;    /* once ended */
	bool ended;
	bool untold; /* ended, and not yet handed on by events() */
};

static struct {
	int fd;       /* our end of its socket; -1 none */
	pid_t pid;
	pid_t left;   /* one that went away and is not reaped yet */
	unsigned gen; /* counts the supervisors started */
	unsigned long tokens;
	struct told *told; /* the jobs handed to it and not yet released */
	size_t ntold, captold;
} sup = {-1, 0, 0, 0, 0, NULL, 0, 0};

/*
 * Closed, it ends once its last job has: reaped then, by the next call
 * here, so that it does not hold the engine up meanwhile.
 */
static void sup_gone(void)
{
	if (sup.left > 0 && waitpid(sup.left, NULL, WNOHANG) != 0)
		sup.left = 0;
	if (sup.fd < 0)
		return;
	close(sup.fd);
	sup.fd = -1;
	if (waitpid(sup.pid, NULL, WNOHANG) == 0)
		sup.left = sup.pid;
}

/*
 * In a session of its own, so that it and the jobs outlive hypotop and a
 * terminal's signals do not reach them; with the default disposition of
 * every signal and none blocked.
 */
static int sup_start(struct err *e)
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
	int rc = sv[1] < 0 ? errno : posix_spawn(&sup.pid, helper, &fa, &attr, argv, envp);
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
	sup.fd = sv[0];
	sup.gen++;
	return 0;
}

static struct told *told_of(unsigned long token)
{
	for (size_t i = 0; i < sup.ntold; i++)
		if (sup.told[i].token == token)
			return &sup.told[i];
	return NULL;
}

/* Everything the supervisor said so far; false when it has gone away. */
static bool sup_hear(void)
{
	char msg[128];
	unsigned long token;
	long v;

	while (sup.fd >= 0) {
		ssize_t n = recv(sup.fd, msg, sizeof msg - 1, MSG_DONTWAIT);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return true;
		if (n <= 0) {
			sup_gone();
			return false;
		}
		msg[n] = '\0';
		char kind = 0;
		struct told *t = sscanf(msg, "%c %lu %ld", &kind, &token, &v) == 3 ? told_of(token)
										 : NULL;
		if (t && kind == 'S' && v > 0) {
			t->pid = (pid_t)v;
		} else if (t && kind == 'X') {
			t->code = (int)v;
			t->ended = t->untold = true;
		}
	}
	return false;
}

/* Wait until the supervisor says what became of t (pid or end); false if it does not. */
static bool sup_settle(struct told *t)
{
	unsigned long token = t->token;
	int64_t deadline = mono_ms() + SUP_ANSWER_MS;

	while (sup_hear()) {
		t = told_of(token);
		if (!t || t->pid || t->ended)
			return t != NULL;
		struct pollfd pf = {sup.fd, POLLIN, 0};
		int64_t left = deadline - mono_ms();
		if (left <= 0 || (poll(&pf, 1, (int)left) < 0 && errno != EINTR))
			return false;
	}
	return false;
}

static void add_field(struct buf *b, const char *text)
{
	buf_add(b, text, strlen(text) + 1);
}

static int local_launch(const struct job_spec *s, struct job *j, struct err *e)
{
	struct buf req;
	char *record = job_record(s);
	char **envp = job_environ(s);
	char token[32];
	int rc = -1;

	memset(j, 0, sizeof *j);
	j->pidfd = -1;
	j->run_dir = xstrdup(s->run_dir);
	j->token = ++sup.tokens;
	snprintf(token, sizeof token, "%lu", j->token);
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
		if (sup.fd < 0 && sup_start(e) < 0)
			break;
		if (send(sup.fd, req.data, req.len, MSG_NOSIGNAL) == (ssize_t)req.len) {
			rc = 0;
			break;
		}
		int why = errno;
		if (why == EMSGSIZE || tries > 0) {
			err_set(e, "cannot hand the job to its supervisor: %s%s", strerror(why),
				why == EMSGSIZE ? " (the environment and commands are too large)" : "");
			break;
		}
		sup_gone(); /* it went away since the last job: start another */
	}
	buf_free(&req);
	free(envp);
	free(record);
	if (rc < 0)
		return -1;
	if (sup.ntold == sup.captold) {
		sup.captold = sup.captold ? 2 * sup.captold : 8;
		sup.told = xrealloc(sup.told, sup.captold * sizeof *sup.told);
	}
	sup.told[sup.ntold++] = (struct told){.token = j->token};
	j->ours = true;
	j->gen = sup.gen;
	j->has_build = s->build != NULL;
	return 0;
}

static int local_events_fd(void)
{
	return sup.fd;
}

static bool local_events_held(void)
{
	for (size_t i = 0; i < sup.ntold; i++)
		if (sup.told[i].untold)
			return true;
	return false;
}

static void local_events(void (*ended)(unsigned long token, void *ctx), void *ctx)
{
	sup_hear();
	/* Looked for afresh after each call: ended() may launch and release jobs. */
	for (;;) {
		size_t i = 0;
		while (i < sup.ntold && !sup.told[i].untold)
			i++;
		if (i == sup.ntold)
			return;
		sup.told[i].untold = false;
		ended(sup.told[i].token, ctx);
	}
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
static void read_record(struct job *j, struct err *e)
{
	char *path = run_file(j->run_dir, "job.json");
	cJSON *rec = fs_exists(path) ? json_parse_file(path, e) : NULL;
	double pid = 0, st = 0;

	if (rec && json_get_num(rec, "pid", path, &pid, e) == 1 &&
	    json_get_num(rec, "start_time", path, &st, e) == 1 && pid > 0) {
		j->pid = (pid_t)pid;
		j->start_time = (unsigned long long)st;
		j->has_build = json_string(rec, "build") != NULL;
	} else if (rec && !e->msg[0]) {
		err_set(e, "%s: no \"pid\" and \"start_time\" of the job", path);
	}
	cJSON_Delete(rec);
	free(path);
}

/* job.json names the job by pid and start time. Missing, it never started. */
static int local_attach(const char *run_dir, struct job *j, struct err *e)
{
	memset(j, 0, sizeof *j);
	j->pidfd = -1;
	j->run_dir = xstrdup(run_dir);
	read_record(j, e);
	if (j->pid && proc_start_time(j->pid) == j->start_time)
		j->pidfd = open_pidfd(j->pid);
	return 0;
}

/*
 * A job of the supervisor running is alive until it says otherwise.
 * Another is known by its pid and start time, and counts as alive while
 * it waits, ended, to be reaped: its supervisor records it first.
 */
static bool alive(struct job *j)
{
	if (j->ours) {
		if (j->gen == sup.gen && sup.fd >= 0)
			return true;
		struct err e = {{0}};
		j->ours = false; /* its supervisor went away: watch it through /proc */
		read_record(j, &e);
	}
	if (!j->pid || !j->start_time)
		return false;
	return proc_start_time(j->pid) == j->start_time; /* or gone, or the pid reused */
}

static void local_check(struct job *j, struct job_result *r)
{
	long long code;
	char *record = run_file(j->run_dir, "job.json");
	const struct told *t = j->ours ? told_of(j->token) : NULL;

	memset(r, 0, sizeof *r);
	r->build_code = -1;
	if (j->has_build && read_int_file(j->run_dir, "build_exit", &code) == 1)
		r->build_code = (int)code;
	if (read_int_file(j->run_dir, "exit_code", &code) == 1) {
		r->state = JOB_DONE;
		r->exit_code = (int)code;
	} else if (t && t->ended) { /* what the supervisor could not write, it said */
		r->state = JOB_DONE;
		r->exit_code = t->code;
	} else if (alive(j)) {
		r->state = JOB_RUNNING;
		r->building = j->has_build && r->build_code < 0;
	} else {
		r->state = fs_exists(record) ? JOB_LOST : JOB_NOT_STARTED;
	}
	free(record);
}

static int local_signal(struct job *j, int sig)
{
	long long code;

	/* Recorded, it may be reaped and its pid another's: the record comes first. */
	if (read_int_file(j->run_dir, "exit_code", &code) == 1)
		return -1;
	struct told *t = j->ours ? told_of(j->token) : NULL;
	if (t && !t->pid && !t->ended && sup_settle(t))
		t = told_of(j->token);
	if (t && (t->ended || !t->pid))
		return -1;
	if (t)
		j->pid = t->pid;
	if (j->pid <= 0 || !alive(j))
		return -1;
	if (kill(-j->pid, sig) < 0)
		return -1;
	if (sig == SIGSTOP)
		j->paused = true;
	else if (sig == SIGCONT)
		j->paused = false;
	return 0;
}

static void local_release(struct job *j)
{
	struct told *t = j->token ? told_of(j->token) : NULL;

	if (t) /* kept even once its supervisor went away (alive()), until now */
		*t = sup.told[--sup.ntold];
	if (j->pidfd >= 0)
		close(j->pidfd);
	free(j->run_dir);
	memset(j, 0, sizeof *j);
	j->pidfd = -1;
}

const struct executor_ops local_executor = {
	.kind = "local",
	.launch = local_launch,
	.attach = local_attach,
	.check = local_check,
	.signal = local_signal,
	.release = local_release,
	.events_fd = local_events_fd,
	.events_held = local_events_held,
	.events = local_events,
};
