/* lock.c — see lock.h. */
#include "hypotop/lock.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

static pid_t read_holder(int fd, char *role)
{
	char text[96];
	ssize_t n = pread(fd, text, sizeof text - 1, 0);
	long pid = 0;
	char r[LOCK_ROLE_LEN] = "";

	if (n <= 0)
		return 0;
	text[n] = '\0';
	if (sscanf(text, "%ld %31s", &pid, r) < 1)
		return 0;
	if (role)
		snprintf(role, LOCK_ROLE_LEN, "%s", r);
	return (pid_t)pid;
}

int lock_take(const char *path, int *fdp, pid_t *holder, char *holder_role, struct err *e)
{
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);

	*fdp = -1;
	if (holder)
		*holder = 0;
	if (fd < 0) {
		err_set(e, "%s: %s", path, strerror(errno));
		return LOCK_ERROR;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		int err = errno;
		if (err == EWOULDBLOCK) {
			if (holder)
				*holder = read_holder(fd, holder_role);
			close(fd);
			return LOCK_BUSY;
		}
		err_set(e, "%s: flock: %s", path, strerror(err));
		close(fd);
		return LOCK_ERROR;
	}
	*fdp = fd;
	return LOCK_HELD;
}

int lock_claim(int fd, const char *role, struct err *e)
{
	char text[64];
	int n = snprintf(text, sizeof text, "%ld %s\n", (long)getpid(), role);

	if (ftruncate(fd, 0) < 0 || pwrite(fd, text, (size_t)n, 0) != n) {
		err_set(e, "engine/lock: cannot record the holder: %s", strerror(errno));
		return -1;
	}
	return 0;
}

void lock_clear(int fd)
{
	if (fd >= 0 && ftruncate(fd, 0) < 0)
		return;
}

void lock_release(int fd)
{
	if (fd >= 0)
		close(fd);
}

bool lock_held(const char *path, pid_t *pid, char *role)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	bool held = false;

	*pid = 0;
	if (role)
		role[0] = '\0';
	if (fd < 0)
		return false;
	if (flock(fd, LOCK_SH | LOCK_NB) < 0 && errno == EWOULDBLOCK) {
		held = true;
		*pid = read_holder(fd, role);
	}
	close(fd);
	return held;
}
