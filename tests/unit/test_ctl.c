/* test_ctl.c — the control socket's client side, against a listener made here. */
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "hypotop/ctl.h"
#include "hypotop/fsutil.h"
#include "t.h"

static char *workdir(void)
{
	char tmpl[] = "/tmp/hypotop-ctl.XXXXXX";
	char *d = mkdtemp(tmpl);
	struct err e = {{0}};

	T_CHECK(d != NULL, "mkdtemp");
	char *eng = path_join(d, "engine");
	T_CHECK(fs_mkdir_p(eng, 0755, &e) == 0, "%s", e.msg);
	free(eng);
	return xstrdup(d);
}

static void remove_workdir(char *wd)
{
	ctl_unlink(wd);
	char *eng = path_join(wd, "engine");
	rmdir(eng);
	rmdir(wd);
	free(eng);
	free(wd);
}

/*
 * An engine of one request, in a child: it answers `answer` to the
 * request {"op":"workers"}, and a refusal to anything else.
 */
static pid_t serve_once(const char *wd, const char *answer)
{
	struct err e = {{0}};
	int fd = ctl_listen(wd, &e);

	T_CHECK(fd >= 0, "%s", e.msg);
	pid_t pid = fork();
	if (pid != 0) {
		close(fd);
		return pid;
	}
	struct pollfd p = {fd, POLLIN, 0};
	if (poll(&p, 1, 10000) != 1)
		_exit(2);
	int c = accept(fd, NULL, NULL);
	char req[256];
	size_t len = 0;
	while (c >= 0 && len < sizeof req - 1 && !memchr(req, '\n', len)) {
		ssize_t n = read(c, req + len, sizeof req - 1 - len);
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	req[len] = '\0';
	const char *a = !strcmp(req, "{\"op\":\"workers\"}\n")
				? answer
				: "{\"ok\":false,\"error\":\"not the workers request\"}\n";
	if (c < 0 || write(c, a, strlen(a)) != (ssize_t)strlen(a))
		_exit(3);
	close(c);
	_exit(0);
}

static void reap(pid_t pid)
{
	int st = -1;

	waitpid(pid, &st, 0);
	T_CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "the listener ended with %d", st);
}

static void workers_reload_answers(void)
{
	char *wd = workdir();
	struct err e = {{0}};

	/* No engine listens: nothing to tell, and no error. */
	T_CHECK(ctl_workers_reload(wd, 5000, &e) == 1, "no listener: %s", e.msg);

	pid_t pid = serve_once(wd, "{\"ok\":true}\n");
	T_CHECK(ctl_workers_reload(wd, 5000, &e) == 0, "applied: %s", e.msg);
	reap(pid);

	memset(&e, 0, sizeof e);
	pid = serve_once(wd, "{\"ok\":false,\"error\":\"workers.json:5: \\\"port\\\" must be "
			     "from 1 to 65535\"}\n");
	T_CHECK(ctl_workers_reload(wd, 5000, &e) == -1, "refused");
	T_CONTAINS(e.msg, "workers.json:5: \"port\"");
	reap(pid);

	memset(&e, 0, sizeof e);
	pid = serve_once(wd, "not json\n");
	T_CHECK(ctl_workers_reload(wd, 5000, &e) == -1, "an answer not understood");
	T_CONTAINS(e.msg, "not understood");
	reap(pid);
	remove_workdir(wd);
}

int main(void)
{
	T_RUN(workers_reload_answers);
	T_END();
}
