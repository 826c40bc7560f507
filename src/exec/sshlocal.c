/*
 * sshlocal.c — the requests of a connection without a host, run on this
 * machine by the connection's thread (sshconn.h says what they answer).
 *
 * A command is started with posix_spawn, never fork: other threads may
 * hold locks that a forked child would wait on forever. It gets a process
 * group of its own, so that the whole of it can be killed, an empty signal
 * mask, and default signal actions (hypotop ignores SIGPIPE, which an exec
 * would pass on). Its pipes are close-on-exec here, so that no command
 * another thread starts meanwhile holds one open.
 */
#include "hypotop/sshconn_int.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "hypotop/fsutil.h"
#include "hypotop/util.h"

extern char **environ;

#define CHUNK (256 * 1024)
/* What one look at a pipe reads at the most, so that a chatty command cannot hold the thread. */
#define LOOK_READS 16
/* After the shell exited: enough for the fullest pipe (fs.pipe-max-size is 1 MiB). */
#define LAST_READS 128

/* A relative path is relative to $HOME, as over SFTP; caller frees. */
static char *here_path(struct sshc *c, const char *path)
{
	return path[0] == '/' ? xstrdup(path) : path_join(c->home, path);
}

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

/* A command under way: its pid (and process group), and our ends of its pipes. */
struct child {
	pid_t pid;
	int in, out, err;
	int pidfd; /* readable once it has exited; -1 none (before Linux 5.3) */
};

/* Start sh -c cmd in $HOME; -1 with errno's number in *why when it cannot start. */
static int child_start(struct sshc *c, const char *cmd, struct child *ch, int *why)
{
	int p[3][2] = {{-1, -1}, {-1, -1}, {-1, -1}};
	char *argv[] = {"sh", "-c", (char *)cmd, NULL};

	*ch = (struct child){.pid = -1, .in = -1, .out = -1, .err = -1, .pidfd = -1};
	for (int i = 0; i < 3; i++)
		if (pipe2(p[i], O_CLOEXEC) < 0) {
			*why = errno;
			for (int k = 0; k < i; k++) {
				close(p[k][0]);
				close(p[k][1]);
			}
			return -1;
		}
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t at;
	sigset_t none, all;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, p[0][0], 0);
	posix_spawn_file_actions_adddup2(&fa, p[1][1], 1);
	posix_spawn_file_actions_adddup2(&fa, p[2][1], 2);
	posix_spawn_file_actions_addchdir_np(&fa, c->home);
	posix_spawnattr_init(&at);
	sigemptyset(&none);
	sigfillset(&all);
	posix_spawnattr_setflags(&at, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK |
					      POSIX_SPAWN_SETSIGDEF);
	posix_spawnattr_setpgroup(&at, 0);
	posix_spawnattr_setsigmask(&at, &none);
	posix_spawnattr_setsigdefault(&at, &all);
	*why = posix_spawn(&ch->pid, "/bin/sh", &fa, &at, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&at);
	close(p[0][0]);
	close(p[1][1]);
	close(p[2][1]);
	ch->in = p[0][1];
	ch->out = p[1][0];
	ch->err = p[2][0];
	if (*why) {
		close_fd(&ch->in);
		close_fd(&ch->out);
		close_fd(&ch->err);
		return -1;
	}
	fcntl(ch->in, F_SETFL, O_NONBLOCK);
	fcntl(ch->out, F_SETFL, O_NONBLOCK);
	fcntl(ch->err, F_SETFL, O_NONBLOCK);
#ifdef SYS_pidfd_open
	ch->pidfd = (int)syscall(SYS_pidfd_open, ch->pid, 0);
	if (ch->pidfd >= 0)
		fcntl(ch->pidfd, F_SETFD, FD_CLOEXEC);
#endif
	return 0;
}

/*
 * Read what *fd has, up to reads reads, keeping what fits under max in b
 * (the rest is dropped, so that the command never blocks on a full pipe);
 * closed at its end.
 */
static void drain(int *fd, struct buf *b, size_t max, int reads)
{
	char tmp[16384];

	while (*fd >= 0 && reads-- > 0) {
		ssize_t n = read(*fd, tmp, sizeof tmp);
		if (n > 0) {
			if (b->len < max)
				buf_add(b, tmp, (size_t)n < max - b->len ? (size_t)n : max - b->len);
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n == 0 || errno != EAGAIN)
			close_fd(fd);
		return;
	}
}

/* Send what the pipe takes of in; closed once all is sent, or the command stops reading. */
static void feed(struct child *ch, const char *in, size_t in_len, size_t *sent)
{
	ssize_t n = write(ch->in, in + *sent, in_len - *sent);

	if (n > 0)
		*sent += (size_t)n;
	if (*sent == in_len || (n < 0 && errno != EAGAIN && errno != EINTR)) {
		close_fd(&ch->in);
		if (n < 0 && errno == EPIPE) {
			/* Taken while still blocked: it was meant for this thread only. */
			sigset_t pipe_set;
			struct timespec zero = {0, 0};
			sigemptyset(&pipe_set);
			sigaddset(&pipe_set, SIGPIPE);
			sigtimedwait(&pipe_set, NULL, &zero);
		}
	}
}

enum end { ENDED, SILENT, STOPPED };

/*
 * Feed the command and read it until it has exited (or, with no pidfd,
 * closed its output), stays silent past the deadline, or sshc_free stops
 * the thread. Its output and its input moving put the deadline off.
 */
static enum end follow(struct sshc *c, struct child *ch, const char *in, size_t in_len,
		       size_t max, struct buf *out, struct buf *err)
{
	size_t sent = 0;

	if (in_len == 0)
		close_fd(&ch->in);
	for (;;) {
		struct pollfd p[5] = {{.fd = c->wake, .events = POLLIN},
				      {.fd = ch->in, .events = POLLOUT},
				      {.fd = ch->out, .events = POLLIN},
				      {.fd = ch->err, .events = POLLIN},
				      {.fd = ch->pidfd, .events = POLLIN}};
		int64_t left = c->deadline - mono_ms();
		if (left <= 0)
			return SILENT;
		if (poll(p, 5, (int)left) < 0) {
			if (errno != EINTR)
				return SILENT;
			continue;
		}
		if (p[0].revents && sshc_woken(c))
			return STOPPED;
		if (p[1].revents)
			feed(ch, in, in_len, &sent);
		if (p[2].revents)
			drain(&ch->out, out, max, LOOK_READS);
		if (p[3].revents)
			drain(&ch->err, err, max, LOOK_READS);
		if (p[1].revents | p[2].revents | p[3].revents)
			c->deadline = mono_ms() + c->timeout_ms;
		if (p[4].revents) {
			/* What it wrote before it exited is all in the pipes by now. */
			drain(&ch->out, out, max, LAST_READS);
			drain(&ch->err, err, max, LAST_READS);
			return ENDED;
		}
		if (ch->out < 0 && ch->err < 0 && ch->pidfd < 0)
			return ENDED;
	}
}

int sshc_local_exec(struct sshc *c, const char *cmd, const char *in, size_t in_len, size_t max,
		    struct sshc_reply *r)
{
	struct child ch;
	int why;

	if (child_start(c, cmd, &ch, &why) < 0) {
		r->rc = -1;
		snprintf(r->err, sizeof r->err, "worker %.100s: cannot run /bin/sh in %.200s: %s",
			 c->name, c->home, strerror(why));
		return 0;
	}
	/* A command that stops reading its input must not kill hypotop with SIGPIPE. */
	sigset_t pipe_set, old;
	sigemptyset(&pipe_set);
	sigaddset(&pipe_set, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &pipe_set, &old);
	struct buf out, err;
	buf_init(&out);
	buf_init(&err);
	enum end end = follow(c, &ch, in, in_len, max, &out, &err);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	close_fd(&ch.in);
	close_fd(&ch.out);
	close_fd(&ch.err);
	close_fd(&ch.pidfd);
	/* Killed before it is reaped, so that its group's id cannot be another's yet. */
	if (end != ENDED)
		kill(-ch.pid, SIGKILL);
	int status = 0;
	while (waitpid(ch.pid, &status, 0) < 0 && errno == EINTR)
		;
	if (end != ENDED) {
		buf_free(&out);
		buf_free(&err);
		r->rc = -1;
		if (end == SILENT)
			snprintf(r->err, sizeof r->err,
				 "worker %.100s: the command said nothing for %d s: killed", c->name,
				 (c->timeout_ms + 999) / 1000);
		else
			snprintf(r->err, sizeof r->err, "worker %.100s: closed", c->name);
		return 0;
	}
	r->exit_code = WIFSIGNALED(status) ? 128 + WTERMSIG(status) : WEXITSTATUS(status);
	r->out_len = out.len;
	r->out = buf_steal(&out);
	r->err_len = err.len;
	r->errout = buf_steal(&err);
	return 0;
}

/* r: rc -1, "worker NAME: cannot WHAT PATH: errno's text". */
static void refused(struct sshc *c, struct sshc_reply *r, const char *what, const char *path)
{
	r->rc = -1;
	snprintf(r->err, sizeof r->err, "worker %.100s: cannot %s %.300s: %s", c->name, what, path,
		 strerror(errno));
}

/* Copy fd to out; -1 with errno set, and *reading whether it was the read that failed. */
static int copy(int fd, int out, bool *reading)
{
	char *buf = xmalloc(CHUNK);
	ssize_t n = 0;

	while ((n = read(fd, buf, CHUNK)) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		*reading = n < 0;
		for (ssize_t done = 0; n > 0 && done < n;) {
			ssize_t m = write(out, buf + done, (size_t)(n - done));
			if (m < 0 && errno != EINTR) {
				n = -1;
				break;
			}
			done += m > 0 ? m : 0;
		}
		if (n < 0)
			break;
	}
	free(buf);
	return n < 0 ? -1 : 0;
}

int sshc_local_put(struct sshc *c, const char *local, const char *remote, int mode,
		   struct sshc_reply *r)
{
	char *path = here_path(c, remote), *tmp;
	int fd = sshc_put_start(local, path, &tmp, r);

	if (fd < 0) {
		free(path);
		return 0;
	}
	int out = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	bool reading = false;
	if (out < 0) {
		refused(c, r, "write", tmp);
	} else if (copy(fd, out, &reading) < 0) {
		if (reading) {
			r->rc = -1;
			snprintf(r->err, sizeof r->err, "cannot read %.400s: %s", local,
				 strerror(errno));
		} else {
			refused(c, r, "write", tmp);
		}
	} else if (fchmod(out, (mode_t)mode & 07777) < 0) {
		/* The mode exactly, whatever the umask. */
		refused(c, r, "chmod", tmp);
	}
	if (out >= 0 && close(out) < 0 && r->rc == 0)
		refused(c, r, "write", tmp);
	if (out >= 0 && r->rc == 0 && rename(tmp, path) < 0)
		refused(c, r, "rename to", path);
	if (out >= 0 && r->rc != 0) /* no half-written file left behind */
		unlink(tmp);
	close(fd);
	free(tmp);
	free(path);
	return 0;
}

int sshc_local_read(struct sshc *c, const char *remote, long long off, size_t max,
		    struct sshc_reply *r)
{
	char *path = here_path(c, remote);
	/* Non-blocking: a fifo must not hold the thread until someone writes to it. */
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	struct stat st;

	if (fd < 0) {
		if (errno == ENOENT)
			r->size = -1;
		else
			refused(c, r, "open", path);
		free(path);
		return 0;
	}
	int bad = fstat(fd, &st) < 0 ? errno : S_ISDIR(st.st_mode) ? EISDIR : 0;
	if (bad) {
		errno = bad;
		refused(c, r, bad == EISDIR ? "read" : "stat", path);
		close(fd);
		free(path);
		return 0;
	}
	r->size = (long long)st.st_size;
	struct buf b;
	buf_init(&b);
	if (off < r->size && max) {
		size_t want = (size_t)(r->size - off) < max ? (size_t)(r->size - off) : max;
		buf_reserve(&b, want);
		while (b.len < want) {
			ssize_t n = pread(fd, b.data + b.len, want - b.len, (off_t)(off + (long long)b.len));
			if (n == 0)
				break;
			if (n > 0) {
				b.len += (size_t)n;
			} else if (errno != EINTR) {
				refused(c, r, "read", path);
				break;
			}
		}
		b.data[b.len] = 0;
	}
	if (r->rc == 0) {
		r->out_len = b.len;
		r->out = b.data ? buf_steal(&b) : NULL;
	}
	buf_free(&b);
	close(fd);
	free(path);
	return 0;
}
