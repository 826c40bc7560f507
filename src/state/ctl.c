/* ctl.c — see ctl.h. */
#include "hypotop/ctl.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "hypotop/fsutil.h"
#include "hypotop/json.h"
#include "hypotop/ops.h"

/*
 * Fill addr for the socket of workdir. A path longer than sun_path goes
 * through an open descriptor of engine/: *dirfd is then set and must be
 * closed after bind/connect.
 */
static int make_addr(const char *workdir, struct sockaddr_un *addr, int *dirfd, struct err *e)
{
	char *path = path_join(workdir, CTL_SOCKET);

	*dirfd = -1;
	memset(addr, 0, sizeof *addr);
	addr->sun_family = AF_UNIX;
	if (strlen(path) < sizeof addr->sun_path) {
		memcpy(addr->sun_path, path, strlen(path) + 1);
		free(path);
		return 0;
	}
	free(path);
	char *dir = path_join(workdir, "engine");
	*dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (*dirfd < 0) {
		err_set(e, "%s: %s", dir, strerror(errno));
		free(dir);
		return -1;
	}
	free(dir);
	snprintf(addr->sun_path, sizeof addr->sun_path, "/proc/self/fd/%d/control.sock", *dirfd);
	return 0;
}

void ctl_unlink(const char *workdir)
{
	char *path = path_join(workdir, CTL_SOCKET);

	unlink(path);
	free(path);
}

int ctl_check(const char *workdir, struct err *e)
{
	char *path = path_join(workdir, CTL_SOCKET);
	struct stat st;
	int rc = 0;

	if (lstat(path, &st) < 0) {
		if (errno != ENOENT) {
			err_set(e, "%s: %s", path, strerror(errno));
			rc = -1;
		}
	} else if (!S_ISSOCK(st.st_mode)) {
		const char *what = S_ISDIR(st.st_mode)   ? "a folder"
				   : S_ISREG(st.st_mode) ? "a file"
				   : S_ISLNK(st.st_mode) ? "a symbolic link"
							 : "something other than a socket";
		err_set(e, "%s: %s is where the engine's control socket goes; move it away or "
			   "remove it, and start the engine again (the engine makes the socket itself)",
			path, what);
		rc = -1;
	}
	free(path);
	return rc;
}

int ctl_listen(const char *workdir, struct err *e)
{
	struct sockaddr_un addr;
	int dirfd, fd;

	if (ctl_check(workdir, e) < 0 || make_addr(workdir, &addr, &dirfd, e) < 0)
		return -1;
	ctl_unlink(workdir); /* the caller holds engine/lock: a socket there is stale */
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	/*
	 * bind makes the file as the umask says; it is made private before
	 * listen, and until then nobody can connect.
	 */
	if (fd < 0 || bind(fd, (struct sockaddr *)&addr, sizeof addr) < 0 ||
	    chmod(addr.sun_path, 0600) < 0 || listen(fd, 64) < 0) {
		err_set(e, "%s/%s: cannot listen: %s", workdir, CTL_SOCKET, strerror(errno));
		if (fd >= 0)
			close(fd);
		fd = -1;
	}
	if (dirfd >= 0)
		close(dirfd);
	return fd;
}

bool ctl_peer_allowed(int fd, struct err *e)
{
	struct ucred cr;
	socklen_t len = sizeof cr;
	uid_t me = geteuid();

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &len) < 0) {
		err_set(e, "%s: cannot tell who connected: %s", CTL_SOCKET, strerror(errno));
		return false;
	}
	if (cr.uid == me || cr.uid == 0)
		return true;
	err_set(e, "%s: uid %lu may not change this workdir; only the engine's user (uid %lu) "
		   "and root may",
		CTL_SOCKET, (unsigned long)cr.uid, (unsigned long)me);
	return false;
}

int ctl_request(const char *workdir, const char *request, char **reply, int timeout_ms,
		struct err *e)
{
	struct sockaddr_un addr;
	int dirfd, fd, rc;
	struct buf in;

	*reply = NULL;
	if (make_addr(workdir, &addr, &dirfd, e) < 0)
		return -1;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		err_set(e, "socket: %s", strerror(errno));
		if (dirfd >= 0)
			close(dirfd);
		return -1;
	}
	rc = connect(fd, (struct sockaddr *)&addr, sizeof addr);
	if (dirfd >= 0)
		close(dirfd);
	if (rc < 0) {
		close(fd);
		return 1;
	}
	size_t len = strlen(request);
	const char *p = request;
	while (len) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			close(fd);
			return 1; /* the engine went away mid-request */
		}
		p += n;
		len -= (size_t)n;
	}
	if (send(fd, "\n", 1, MSG_NOSIGNAL) != 1) {
		close(fd);
		return 1;
	}
	buf_init(&in);
	int64_t deadline = mono_ms() + timeout_ms;
	for (;;) {
		int64_t left = deadline - mono_ms();
		struct pollfd pfd = {fd, POLLIN, 0};
		if (left <= 0 || poll(&pfd, 1, (int)left) == 0) {
			err_set(e, "%s: the engine did not answer within %d s", workdir,
				timeout_ms / 1000);
			break;
		}
		char chunk[4096];
		ssize_t n = read(fd, chunk, sizeof chunk);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		buf_add(&in, chunk, (size_t)n);
		if (memchr(chunk, '\n', (size_t)n))
			break;
	}
	close(fd);
	if (!in.len || !memchr(in.data, '\n', in.len)) {
		buf_free(&in);
		if (!e->msg[0])
			err_set(e, "%s: the engine closed the connection without an answer; see "
				   "logs/hypotop.log",
				workdir);
		return 2;
	}
	*reply = buf_steal(&in);
	return 0;
}

/*
 * Send request and read its answer: 0 with *answer (caller deletes) when
 * it was applied; -1 when refused, e saying why; 1 and 2 as for ctl_request.
 */
static int ctl_ask(const char *workdir, const char *request, int timeout_ms, cJSON **answer,
		   struct err *e)
{
	char *reply = NULL;
	const char *s;
	bool ok = false;

	*answer = NULL;
	int rc = ctl_request(workdir, request, &reply, timeout_ms, e);
	if (rc != 0)
		return rc;
	cJSON *j = cJSON_Parse(reply);
	free(reply);
	if (!j || json_get_bool(j, "ok", "reply", &ok, e) != 1) {
		err_set(e, "%s: the engine's answer is not understood", workdir);
		cJSON_Delete(j);
		return -1;
	}
	if (!ok) {
		s = "refused";
		json_get_str(j, "error", "reply", &s, e);
		err_set(e, "%s", s);
		cJSON_Delete(j);
		return -1;
	}
	*answer = j;
	return 0;
}

int ctl_workers_reload(const char *workdir, int timeout_ms, struct err *e)
{
	cJSON *j;
	int rc = ctl_ask(workdir, "{\"op\":\"" CTL_WORKERS_OP "\"}", timeout_ms, &j, e);

	cJSON_Delete(j);
	return rc;
}

int ctl_op(const char *workdir, const struct op *op, int timeout_ms, char *node, char *status,
	   struct err *e)
{
	struct buf req;
	cJSON *j;
	const char *s;

	buf_init(&req);
	op_to_json(op, &req);
	int rc = ctl_ask(workdir, req.data, timeout_ms, &j, e);
	buf_free(&req);
	if (rc != 0)
		return rc;
	s = "?";
	json_get_str(j, "node", "reply", &s, e);
	snprintf(node, NODE_ID_LEN, "%s", s);
	s = "?";
	json_get_str(j, "status", "reply", &s, e);
	snprintf(status, CTL_STATUS_LEN, "%s", s);
	cJSON_Delete(j);
	return 0;
}
