/* local.c — the local executor: jobs on this machine (see exec.h). */
#include "hypotop/exec.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
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

static void write_script(struct buf *b, const struct job_spec *s)
{
	buf_adds(b, "#!/bin/sh\n# One hypotop run. It records its own pid first and its exit "
		    "code last,\n# so the outcome survives the supervisor.\n");
	buf_adds(b, "R=");
	sh_quote(b, s->run_dir);
	/* read, not $(cat ...): one process fewer for every job. */
	buf_adds(b, "\nread -r stat </proc/$$/stat\nset -- $stat\necho \"$$ ${22}\" "
		    ">\"$R/pid.partial\" && mv \"$R/pid.partial\" \"$R/pid\"\n");
	buf_adds(b, "finish() { echo \"$1\" >\"$R/exit_code.partial\" && mv "
		    "\"$R/exit_code.partial\" \"$R/exit_code\"; exit \"$1\"; }\n");
	for (const char *const *e = s->env; e && *e; e++) {
		const char *eq = strchr(*e, '=');
		if (!eq)
			continue;
		buf_printf(b, "export %.*s=", (int)(eq - *e), *e);
		sh_quote(b, eq + 1);
		buf_addc(b, '\n');
	}
	buf_adds(b, "cd ");
	sh_quote(b, s->cwd);
	buf_adds(b, " || finish 127\n");
	if (s->build) {
		buf_adds(b, "echo '[hypotop] build:' ");
		sh_quote(b, s->build);
		buf_adds(b, "\n/bin/sh -c ");
		sh_quote(b, s->build);
		buf_adds(b, "\ncode=$?\necho \"$code\" >\"$R/build_exit\"\n[ \"$code\" -eq 0 ] || "
			    "finish \"$code\"\n");
	}
	buf_adds(b, "echo '[hypotop] launch:' ");
	sh_quote(b, s->launch);
	buf_adds(b, "\n/bin/sh -c ");
	sh_quote(b, s->launch);
	buf_adds(b, "\nfinish $?\n");
}

static int write_job_json(const struct job_spec *s, const struct job *j, struct err *e)
{
	struct buf b;
	char *path = run_file(j->run_dir, "job.json");

	buf_init(&b);
	buf_adds(&b, "{\n  \"executor\": \"local\",\n  \"node\": ");
	json_append_str(&b, s->node);
	buf_adds(&b, ",\n  \"commit\": ");
	json_append_str(&b, s->commit ? s->commit : "");
	buf_printf(&b, ",\n  \"pid\": %ld,\n  \"start_time\": %llu,\n  \"launched\": %lld\n}\n",
		   (long)j->pid, j->start_time, (long long)now_ms());
	int rc = fs_write_view(path, b.data, b.len, 0644, e); /* the pid file is the record */
	buf_free(&b);
	free(path);
	return rc;
}

static int local_launch(const struct job_spec *s, struct job *j, struct err *e)
{
	struct buf script;
	char *sh = run_file(s->run_dir, "run.sh"), *log = run_file(s->run_dir, "log");
	int rc = -1;

	memset(j, 0, sizeof *j);
	j->pidfd = -1;
	j->run_dir = xstrdup(s->run_dir);
	buf_init(&script);
	write_script(&script, s);
	if (fs_write_view(sh, script.data, script.len, 0755, e) < 0)
		goto out;
	int logfd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	if (logfd < 0) {
		err_set(e, "%s: %s", log, strerror(errno));
		goto out;
	}
	pid_t pid = fork();
	if (pid < 0) {
		err_set(e, "fork: %s", strerror(errno));
		close(logfd);
		goto out;
	}
	if (pid == 0) {
		/* Own session and process group: the job outlives hypotop, and a
		 * signal to the group reaches everything it started. */
		setsid();
		sigset_t none;
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		signal(SIGPIPE, SIG_DFL);
		for (const char *const *u = s->unset; u && *u; u++)
			unsetenv(*u);
		int devnull = open("/dev/null", O_RDONLY);
		dup2(devnull, 0);
		dup2(logfd, 1);
		dup2(logfd, 2);
		if (chdir(s->run_dir) < 0)
			_exit(127);
		execl("/bin/sh", "sh", sh, (char *)NULL);
		_exit(127);
	}
	close(logfd);
	j->pid = pid;
	j->ours = true;
	j->start_time = proc_start_time(pid);
	j->pidfd = open_pidfd(pid);
	rc = write_job_json(s, j, e);
out:
	buf_free(&script);
	free(sh);
	free(log);
	return rc;
}

static int read_int_file(const char *run_dir, const char *name, long long *a,
			 unsigned long long *b)
{
	char *path = run_file(run_dir, name);
	char *text = fs_read(path, NULL, NULL);
	int n = 0;

	free(path);
	if (!text)
		return 0;
	if (b)
		n = sscanf(text, "%lld %llu", a, b);
	else
		n = sscanf(text, "%lld", a);
	free(text);
	return n;
}

static int local_attach(const char *run_dir, struct job *j, struct err *e)
{
	long long pid = 0;
	unsigned long long st = 0;

	(void)e;
	memset(j, 0, sizeof *j);
	j->pidfd = -1;
	j->run_dir = xstrdup(run_dir);
	/* The wrapper's own record; job.json may be missing after a crash. */
	if (read_int_file(run_dir, "pid", &pid, &st) == 2 && pid > 0) {
		j->pid = (pid_t)pid;
		j->start_time = st;
		if (proc_start_time(j->pid) == st)
			j->pidfd = open_pidfd(j->pid);
	}
	return 0;
}

static bool alive(struct job *j)
{
	if (!j->pid || !j->start_time)
		return false;
	if (proc_start_time(j->pid) != j->start_time)
		return false; /* gone, or the pid now belongs to another process */
	return !proc_is_zombie(j->pid);
}

static void local_check(struct job *j, struct job_result *r)
{
	long long code;
	char *pidfile = run_file(j->run_dir, "pid");

	memset(r, 0, sizeof *r);
	r->build_code = -1;
	if (j->ours) {
		int status;
		if (waitpid(j->pid, &status, WNOHANG) == j->pid)
			j->ours = false; /* reaped: the exit code file says the rest */
	}
	if (read_int_file(j->run_dir, "build_exit", &code, NULL) == 1)
		r->build_code = (int)code;
	if (read_int_file(j->run_dir, "exit_code", &code, NULL) == 1) {
		r->state = JOB_DONE;
		r->exit_code = (int)code;
	} else if (alive(j)) {
		r->state = JOB_RUNNING;
		r->building = r->build_code < 0 && j->start_time;
	} else if (j->ours) {
		r->state = JOB_RUNNING; /* forked, the wrapper not yet recorded */
	} else {
		r->state = fs_exists(pidfile) ? JOB_LOST : JOB_NOT_STARTED;
	}
	free(pidfile);
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
