/* local.c — the local executor: jobs on this machine (see exec.h). */
#include "hypotop/exec.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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

/* A zombie has exited: it is not running any more. */
static bool proc_is_zombie(pid_t pid)
{
	char path[64], text[512];
	snprintf(path, sizeof path, "/proc/%ld/stat", (long)pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	ssize_t n = read(fd, text, sizeof text - 1);
	close(fd);
	if (n <= 0)
		return false;
	text[n] = '\0';
	char *p = strrchr(text, ')');
	return p && p[1] == ' ' && p[2] == 'Z';
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
 * The supervisor starts in a session of its own, so the job outlives
 * hypotop and a signal to its process group reaches everything the job
 * started; with the default disposition of every signal and none blocked.
 */
static int spawn_helper(const struct job_spec *s, const char *log, pid_t *pid, struct err *e)
{
	posix_spawnattr_t attr;
	posix_spawn_file_actions_t fa;
	sigset_t none, all;
	const char *helper = helper_path();
	char *record = job_record(s);
	char *argv[] = {"hypotop-job",	 (char *)s->run_dir, (char *)s->cwd, record,
			(char *)s->launch, (char *)s->build,	     NULL};
	char **envp = job_environ(s);

	sigemptyset(&none);
	sigfillset(&all);
	posix_spawnattr_init(&attr);
	posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSID | POSIX_SPAWN_SETSIGMASK |
						POSIX_SPAWN_SETSIGDEF);
	posix_spawnattr_setsigmask(&attr, &none);
	posix_spawnattr_setsigdefault(&attr, &all);
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_addopen(&fa, 1, log, O_WRONLY | O_CREAT | O_APPEND, 0644);
	posix_spawn_file_actions_adddup2(&fa, 1, 2);
	int rc = posix_spawn(pid, helper, &fa, &attr, argv, envp);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&attr);
	free(envp);
	free(record);
	if (rc != 0)
		err_set(e, "cannot start the job supervisor %s: %s (is hypotop installed "
			   "whole? `make install` puts hypotop-job in %s)",
			helper, strerror(rc), HYPOTOP_LIBEXECDIR);
	return rc == 0 ? 0 : -1;
}

static int local_launch(const struct job_spec *s, struct job *j, struct err *e)
{
	char *log = run_file(s->run_dir, "log");
	pid_t pid;
	int rc = -1;

	memset(j, 0, sizeof *j);
	j->pidfd = -1;
	j->run_dir = xstrdup(s->run_dir);
	if (spawn_helper(s, log, &pid, e) == 0) {
		j->pid = pid;
		j->ours = true;
		j->has_build = s->build != NULL;
		j->pidfd = open_pidfd(pid);
		rc = 0;
	}
	free(log);
	return rc;
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

/*
 * job.json, the supervisor's first record, names it by pid and start
 * time. Missing, the job never started.
 */
static int local_attach(const char *run_dir, struct job *j, struct err *e)
{
	char *path = run_file(run_dir, "job.json");
	cJSON *rec = fs_exists(path) ? json_parse_file(path, e) : NULL;
	double pid = 0, st = 0;

	memset(j, 0, sizeof *j);
	j->pidfd = -1;
	j->run_dir = xstrdup(run_dir);
	if (rec && json_get_num(rec, "pid", path, &pid, e) == 1 &&
	    json_get_num(rec, "start_time", path, &st, e) == 1 && pid > 0) {
		j->pid = (pid_t)pid;
		j->start_time = (unsigned long long)st;
		j->has_build = json_string(rec, "build") != NULL;
		if (proc_start_time(j->pid) == j->start_time)
			j->pidfd = open_pidfd(j->pid);
	} else if (rec && !e->msg[0]) {
		err_set(e, "%s: no \"pid\" and \"start_time\" of the job's supervisor", path);
	}
	cJSON_Delete(rec);
	free(path);
	return 0;
}

/*
 * A child of this process is alive until it is reaped: its pid cannot
 * be another's meanwhile. Another's is known by its start time.
 */
static bool alive(struct job *j)
{
	if (j->ours)
		return true;
	if (!j->pid || !j->start_time)
		return false;
	if (proc_start_time(j->pid) != j->start_time)
		return false; /* gone, or the pid now belongs to another process */
	return !proc_is_zombie(j->pid);
}

static void local_check(struct job *j, struct job_result *r)
{
	long long code;
	char *record = run_file(j->run_dir, "job.json");

	memset(r, 0, sizeof *r);
	r->build_code = -1;
	if (j->ours) {
		int status;
		if (waitpid(j->pid, &status, WNOHANG) == j->pid)
			j->ours = false; /* reaped: the exit code file says the rest */
	}
	if (j->has_build && read_int_file(j->run_dir, "build_exit", &code) == 1)
		r->build_code = (int)code;
	if (read_int_file(j->run_dir, "exit_code", &code) == 1) {
		r->state = JOB_DONE;
		r->exit_code = (int)code;
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
	if (!alive(j))
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
};
