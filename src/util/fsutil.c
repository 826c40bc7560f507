/* fsutil.c — see fsutil.h. */
#include "hypotop/fsutil.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int write_all(int fd, const char *p, size_t len)
{
	while (len) {
		ssize_t n = write(fd, p, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

const char *fs_full_hint(int errnum)
{
	return errnum == ENOSPC || errnum == EDQUOT
		       ? "; free some space on that disk, then run hypotop again"
		       : "";
}

int fs_fsync_dir(const char *dir, struct err *e)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd < 0) {
		err_set(e, "%s: %s", dir, strerror(errno));
		return -1;
	}
	if (fsync(fd) < 0 && errno != EINVAL) {
		err_set(e, "%s: fsync: %s", dir, strerror(errno));
		close(fd);
		return -1;
	}
	close(fd);
	return 0;
}

int fs_fsync_parent(const char *path, struct err *e)
{
	const char *slash = strrchr(path, '/');
	char *dir = slash ? xstrndup(path, slash == path ? 1 : (size_t)(slash - path))
			  : xstrdup(".");
	int rc = fs_fsync_dir(dir, e);

	free(dir);
	return rc;
}

static int write_replace(const char *path, const void *data, size_t len, mode_t mode,
			 bool sync, struct err *e)
{
	char *tmp = xasprintf("%s.partial.%ld", path, (long)getpid());
	/* New, so that it has mode (less the umask): one left by a crash is removed first. */
	int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
	if (fd < 0 && errno == EEXIST && unlink(tmp) == 0)
		fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);

	/* A failure names the file replaced, which is left as it was; the
	 * temporary file is removed. */
	if (fd < 0) {
		err_set(e, "%s: cannot create %s: %s%s", path, tmp, strerror(errno),
			fs_full_hint(errno));
		free(tmp);
		return -1;
	}
	if (write_all(fd, data, len) < 0 || (sync && fsync(fd) < 0)) {
		err_set(e, "%s: cannot write: %s%s", path, strerror(errno), fs_full_hint(errno));
		close(fd);
		unlink(tmp);
		free(tmp);
		return -1;
	}
	if (close(fd) < 0 || rename(tmp, path) < 0) {
		err_set(e, "%s: cannot replace: %s%s", path, strerror(errno), fs_full_hint(errno));
		unlink(tmp);
		free(tmp);
		return -1;
	}
	free(tmp);
	return sync ? fs_fsync_parent(path, e) : 0;
}

int fs_write_atomic(const char *path, const void *data, size_t len, mode_t mode,
		    struct err *e)
{
	return write_replace(path, data, len, mode, true, e);
}

int fs_write_view(const char *path, const void *data, size_t len, mode_t mode,
		  struct err *e)
{
	return write_replace(path, data, len, mode, false, e);
}

static const char *file_kind(mode_t m)
{
	return S_ISDIR(m)    ? "a folder"
	       : S_ISCHR(m)  ? "a character device"
	       : S_ISBLK(m)  ? "a block device"
	       : S_ISFIFO(m) ? "a fifo"
	       : S_ISSOCK(m) ? "a socket"
			     : "a special file";
}

/* "16 MiB", "1.5 KiB", "300 bytes". */
static void size_text(char *out, size_t n, unsigned long long v)
{
	if (v >= 1 << 20)
		snprintf(out, n, v % (1 << 20) ? "%.1f MiB" : "%.0f MiB", (double)v / (1 << 20));
	else if (v >= 1 << 10)
		snprintf(out, n, v % (1 << 10) ? "%.1f KiB" : "%.0f KiB", (double)v / (1 << 10));
	else
		snprintf(out, n, "%llu bytes", v);
}

static void too_big(const char *path, unsigned long long size, size_t max, struct err *e)
{
	char has[32], lim[32];

	size_text(lim, sizeof lim, max);
	if (size) {
		size_text(has, sizeof has, size);
		err_set(e, "%s: %s, more than the %s allowed", path, has, lim);
	} else {
		err_set(e, "%s: more than the %s allowed", path, lim);
	}
}

/*
 * A regular file opened for reading, its status in *st; -1 with e set.
 * Non-blocking, so that opening a fifo does not wait for a writer.
 */
static int open_regular(const char *path, struct stat *st, struct err *e)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);

	if (fd < 0 || fstat(fd, st) < 0) {
		err_set(e, "%s: %s", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	if (!S_ISREG(st->st_mode)) {
		err_set(e, "%s: %s, not a regular file", path, file_kind(st->st_mode));
		close(fd);
		return -1;
	}
	return fd;
}

char *fs_read_tail(const char *path, size_t max, struct err *e)
{
	struct stat st;
	int fd = open_regular(path, &st, e);

	if (fd < 0)
		return NULL;
	off_t from = st.st_size > (off_t)max ? st.st_size - (off_t)max : 0;
	size_t want = (size_t)(st.st_size - from), got = 0;
	char *text = xmalloc(want + 1);
	while (got < want) {
		ssize_t n = pread(fd, text + got, want - got, from + (off_t)got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			err_set(e, "%s: read: %s", path, strerror(errno));
			close(fd);
			free(text);
			return NULL;
		}
		if (n == 0)
			break; /* it shrank meanwhile */
		got += (size_t)n;
	}
	close(fd);
	text[got] = '\0';
	/* A line cut by the window's start is left out. */
	char *nl = from > 0 ? memchr(text, '\n', got) : NULL;
	if (nl)
		memmove(text, nl + 1, got - (size_t)(nl + 1 - text) + 1);
	return text;
}

char *fs_read_max(const char *path, size_t max, size_t *lenp, struct err *e)
{
	struct stat st;
	struct buf b;
	char chunk[65536];
	int fd = open_regular(path, &st, e);

	if (fd < 0)
		return NULL;
	if ((unsigned long long)st.st_size > max) {
		too_big(path, (unsigned long long)st.st_size, max, e);
		close(fd);
		return NULL;
	}
	buf_init(&b);
	buf_reserve(&b, (size_t)st.st_size);
	b.data[0] = '\0'; /* an empty file is "" */
	for (;;) {
		ssize_t n = read(fd, chunk, sizeof chunk);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			err_set(e, "%s: read: %s", path, strerror(errno));
			close(fd);
			buf_free(&b);
			return NULL;
		}
		if (n == 0)
			break;
		if ((size_t)n > max - b.len) { /* it grew while read */
			too_big(path, 0, max, e);
			close(fd);
			buf_free(&b);
			return NULL;
		}
		buf_add(&b, chunk, (size_t)n);
	}
	close(fd);
	if (lenp)
		*lenp = b.len;
	return buf_steal(&b);
}

char *fs_read(const char *path, size_t *lenp, struct err *e)
{
	return fs_read_max(path, FS_MAX_STATE, lenp, e);
}

int fs_mkdir_p(const char *path, mode_t mode, struct err *e)
{
	/* Most often the parent is there: one mkdir, and none for the rest. */
	if (mkdir(path, mode) == 0)
		return 0;
	int first = errno;
	if (first == EEXIST) {
		if (fs_is_dir(path))
			return 0;
		err_set(e, "%s: not a folder", path);
		return -1;
	}
	if (first != ENOENT) {
		err_set(e, "%s: cannot create folder: %s", path, strerror(first));
		return -1;
	}
	char *p = xstrdup(path);
	for (char *s = p + 1;; s++) {
		if (*s != '/' && *s != '\0')
			continue;
		char c = *s;
		*s = '\0';
		if (mkdir(p, mode) < 0 && errno != EEXIST) {
			err_set(e, "%s: cannot create folder: %s", p, strerror(errno));
			free(p);
			return -1;
		}
		*s = c;
		if (!c)
			break;
	}
	free(p);
	if (!fs_is_dir(path)) {
		err_set(e, "%s: not a folder", path);
		return -1;
	}
	return 0;
}

int fs_exists(const char *path)
{
	struct stat st;

	return lstat(path, &st) == 0;
}

int fs_is_dir(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

char *path_join(const char *a, const char *b)
{
	size_t la = strlen(a);

	while (la > 1 && a[la - 1] == '/')
		la--;
	return xasprintf("%.*s/%s", (int)la, a, b);
}

char *path_real(const char *path, struct err *e)
{
	char *r = realpath(path, NULL);

	if (!r) {
		err_set(e, "%s: %s", path, strerror(errno));
		return NULL;
	}
	return r;
}

/* Folders a removal enters below its first: each holds a descriptor open. */
#define REMOVE_DEPTH 128

static int remove_at(int at, const char *name, int depth)
{
	/* Most of what is removed is files: no stat first. */
	if (unlinkat(at, name, 0) == 0)
		return 0;
	if (errno != EISDIR && errno != EPERM)
		return -1;
	if (depth == REMOVE_DEPTH) {
		errno = ELOOP;
		return -1;
	}
	int fd = openat(at, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	DIR *d = fd < 0 ? NULL : fdopendir(fd);
	struct dirent *de;
	int rc = 0, err = 0;

	if (!d) {
		if (fd >= 0)
			close(fd);
		else if (errno == ENOTDIR)
			errno = EPERM; /* a file that cannot be removed */
		return -1;
	}
	while ((errno = 0, de = readdir(d))) {
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..") &&
		    remove_at(dirfd(d), de->d_name, depth + 1) < 0 && errno != ENOENT && !err)
			err = errno;
	}
	if (errno && !err)
		err = errno;
	closedir(d);
	if (unlinkat(at, name, AT_REMOVEDIR) < 0)
		rc = -1;
	if (err) {
		errno = err;
		rc = -1;
	}
	return rc;
}

int fs_remove_at(int dirfd, const char *name)
{
	return remove_at(dirfd, name, 0);
}

int fs_remove_tree(const char *path)
{
	return remove_at(AT_FDCWD, path, 0);
}
