/* sshreq.c — the requests of one SSH connection: see sshconn_int.h. */
#include "hypotop/sshconn_int.h"

#include <errno.h>
#include <fcntl.h>
#include <libssh2_sftp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hypotop/util.h"

#define CHUNK (256 * 1024)

/* Keep what fits of p in b, which holds at most max bytes. */
static void keep(struct buf *b, const char *p, size_t n, size_t max)
{
	if (b->len < max)
		buf_add(b, p, n < max - b->len ? n : max - b->len);
}

static int exit_code(struct sshc *c, LIBSSH2_CHANNEL *ch)
{
	char *sig = NULL;
	size_t len = 0;

	libssh2_channel_get_exit_signal(ch, &sig, &len, NULL, NULL, NULL, NULL);
	if (sig) {
		int n = 0;
		for (int i = 1; i < NSIG && !n; i++) {
			const char *abbrev = sigabbrev_np(i);
			if (abbrev && strlen(abbrev) == len && !memcmp(abbrev, sig, len))
				n = i;
		}
		libssh2_free(c->s, sig);
		return 128 + n;
	}
	return libssh2_channel_get_exit_status(ch);
}

int sshc_run_exec(struct sshc *c, const char *cmd, const char *in, size_t in_len, size_t max,
		  struct sshc_reply *r)
{
	LIBSSH2_CHANNEL *ch;
	int rc, w = 0;
	struct buf out, err;
	char tmp[16384];
	size_t sent = 0;
	bool eof_sent = false;

	while (!(ch = libssh2_channel_open_session(c->s)))
		if (!sshc_again(c, &w))
			return w < 0 ? -1 : sshc_fail(c, "cannot open a channel");
	buf_init(&out);
	buf_init(&err);
	while ((rc = libssh2_channel_exec(ch, cmd)) == LIBSSH2_ERROR_EAGAIN)
		if (sshc_wait_io(c) < 0)
			goto fail;
	if (rc) {
		sshc_fail(c, "cannot start the command");
		goto fail;
	}
	for (;;) {
		bool busy = false;
		if (sent < in_len) {
			ssize_t n = libssh2_channel_write(ch, in + sent, in_len - sent);
			if (n > 0) {
				sent += (size_t)n;
				busy = true;
			} else if (n < 0 && n != LIBSSH2_ERROR_EAGAIN) {
				sshc_fail(c, "cannot send the command's input");
				goto fail;
			}
		}
		if (sent == in_len && !eof_sent) {
			rc = libssh2_channel_send_eof(ch);
			if (rc == 0)
				eof_sent = true;
			else if (rc != LIBSSH2_ERROR_EAGAIN) {
				sshc_fail(c, "cannot close the command's input");
				goto fail;
			}
		}
		for (int stream = 0; stream < 2; stream++) {
			ssize_t n;
			while ((n = libssh2_channel_read_ex(ch, stream, tmp, sizeof tmp)) > 0) {
				keep(stream ? &err : &out, tmp, (size_t)n, max);
				busy = true;
			}
			if (n < 0 && n != LIBSSH2_ERROR_EAGAIN) {
				sshc_fail(c, "cannot read the command's output");
				goto fail;
			}
		}
		if (libssh2_channel_eof(ch))
			break;
		if (!busy && sshc_wait_io(c) < 0)
			goto fail;
	}
	while ((rc = libssh2_channel_close(ch)) == LIBSSH2_ERROR_EAGAIN)
		if (sshc_wait_io(c) < 0)
			goto fail;
	while ((rc = libssh2_channel_wait_closed(ch)) == LIBSSH2_ERROR_EAGAIN)
		if (sshc_wait_io(c) < 0)
			goto fail;
	r->exit_code = exit_code(c, ch);
	libssh2_channel_free(ch);
	r->out_len = out.len;
	r->out = buf_steal(&out);
	r->err_len = err.len;
	r->errout = buf_steal(&err);
	return 0;
fail:
	/* Left to session_close, which frees every channel. */
	buf_free(&out);
	buf_free(&err);
	return -1;
}

static const char *fx_text(unsigned long fx)
{
	switch (fx) {
	case LIBSSH2_FX_NO_SUCH_FILE:
	case LIBSSH2_FX_NO_SUCH_PATH:
		return "no such file or folder";
	case LIBSSH2_FX_PERMISSION_DENIED:
		return "permission denied";
	case LIBSSH2_FX_NO_SPACE_ON_FILESYSTEM:
	case LIBSSH2_FX_QUOTA_EXCEEDED:
		return "no space left on the worker";
	case LIBSSH2_FX_NOT_A_DIRECTORY:
		return "not a folder";
	case LIBSSH2_FX_FILE_ALREADY_EXISTS:
		return "it exists";
	}
	return "failed";
}

/*
 * After an SFTP call failed: 1 when the host refused it (r says why, the
 * connection stays), 0 when it only wants the socket (waited), -1 when the
 * connection failed.
 */
static int sftp_refused(struct sshc *c, struct sshc_reply *r, const char *what,
			const char *path, unsigned long *fx)
{
	int w = 0;

	if (sshc_again(c, &w))
		return 0;
	if (w < 0)
		return -1;
	if (libssh2_session_last_errno(c->s) != LIBSSH2_ERROR_SFTP_PROTOCOL)
		return sshc_fail(c, what);
	*fx = libssh2_sftp_last_error(c->sftp);
	r->rc = -1;
	snprintf(r->err, sizeof r->err, "worker %.100s: cannot %s %.300s: %s", c->name, what, path,
		 fx_text(*fx));
	return 1;
}

static int close_handle(struct sshc *c, LIBSSH2_SFTP_HANDLE *h)
{
	int rc;

	while ((rc = libssh2_sftp_close_handle(h)) == LIBSSH2_ERROR_EAGAIN)
		if (sshc_wait_io(c) < 0)
			return -1;
	return rc == 0 || libssh2_session_last_errno(c->s) == LIBSSH2_ERROR_SFTP_PROTOCOL
		       ? 0
		       : sshc_fail(c, "SFTP close");
}

int sshc_run_read(struct sshc *c, const char *path, long long off, size_t max,
		  struct sshc_reply *r)
{
	LIBSSH2_SFTP_HANDLE *h;
	LIBSSH2_SFTP_ATTRIBUTES a;
	unsigned long fx = 0;
	int rc;

	while (!(h = libssh2_sftp_open(c->sftp, path, LIBSSH2_FXF_READ, 0))) {
		rc = sftp_refused(c, r, "open", path, &fx);
		if (rc < 0)
			return -1;
		if (rc > 0) {
			if (fx == LIBSSH2_FX_NO_SUCH_FILE) {
				r->rc = 0;
				r->err[0] = 0;
				r->size = -1;
			}
			return 0;
		}
	}
	while ((rc = libssh2_sftp_fstat(h, &a)) != 0) {
		int s = sftp_refused(c, r, "stat", path, &fx);
		if (s < 0)
			return -1;
		if (s > 0)
			return close_handle(c, h);
	}
	r->size = a.flags & LIBSSH2_SFTP_ATTR_SIZE ? (long long)a.filesize : 0;
	struct buf b;
	buf_init(&b);
	if (off < r->size && max) {
		libssh2_sftp_seek64(h, (libssh2_uint64_t)off);
		size_t want = (size_t)(r->size - off) < max ? (size_t)(r->size - off)
								  : max;
		buf_reserve(&b, want);
		while (b.len < want) {
			ssize_t n = libssh2_sftp_read(h, b.data + b.len, want - b.len);
			if (n == 0)
				break;
			if (n > 0) {
				b.len += (size_t)n;
				continue;
			}
			int s = sftp_refused(c, r, "read", path, &fx);
			if (s != 0) {
				buf_free(&b);
				return s < 0 ? -1 : close_handle(c, h);
			}
		}
		b.data[b.len] = 0;
	}
	r->out_len = b.len;
	r->out = b.data ? buf_steal(&b) : NULL;
	return close_handle(c, h);
}

/* 'text' for the remote shell. */
static void shell_quote(struct buf *b, const char *s)
{
	buf_addc(b, '\'');
	for (; *s; s++)
		if (*s == '\'')
			buf_adds(b, "'\\''");
		else
			buf_addc(b, *s);
	buf_addc(b, '\'');
}

/*
 * Move tmp over path. SFTP's rename refuses to replace a file on OpenSSH
 * (protocol version 3, no flags) and libssh2 1.10 has no posix-rename, so
 * an existing path is replaced by mv, as atomic.
 */
static int rename_over(struct sshc *c, const char *tmp, const char *path, struct sshc_reply *r)
{
	int rc;
	unsigned long fx = 0;

	while ((rc = libssh2_sftp_rename_ex(c->sftp, tmp, (unsigned)strlen(tmp), path,
					    (unsigned)strlen(path),
					    LIBSSH2_SFTP_RENAME_OVERWRITE |
						    LIBSSH2_SFTP_RENAME_ATOMIC |
						    LIBSSH2_SFTP_RENAME_NATIVE)) != 0) {
		int s = sftp_refused(c, r, "rename to", path, &fx);
		if (s < 0)
			return -1;
		if (s > 0)
			break;
	}
	if (rc == 0)
		return 0;
	struct buf cmd;
	struct sshc_reply m = {0};
	buf_init(&cmd);
	buf_adds(&cmd, "mv -f -- ");
	shell_quote(&cmd, tmp);
	buf_addc(&cmd, ' ');
	shell_quote(&cmd, path);
	rc = sshc_run_exec(c, cmd.data, NULL, 0, 4096, &m);
	buf_free(&cmd);
	if (rc == 0 && m.exit_code == 0) {
		r->rc = 0;
		r->err[0] = 0;
	} else if (rc == 0) {
		r->rc = -1;
		snprintf(r->err, sizeof r->err, "worker %.100s: cannot replace %.200s: %.150s", c->name, path,
			 str_trim(m.errout));
	}
	free(m.out);
	free(m.errout);
	return rc;
}

int sshc_put_start(const char *local, const char *remote, char **tmp, struct sshc_reply *r)
{
	static unsigned serial;
	int fd = open(local, O_RDONLY | O_CLOEXEC);

	if (fd < 0) {
		r->rc = -1;
		snprintf(r->err, sizeof r->err, "cannot read %.400s: %s", local, strerror(errno));
		return -1;
	}
	*tmp = xasprintf("%s.tmp-%d-%u", remote, (int)getpid(),
			 __atomic_add_fetch(&serial, 1, __ATOMIC_RELAXED));
	return fd;
}

int sshc_run_put(struct sshc *c, const char *local, const char *remote, int mode,
		 struct sshc_reply *r)
{
	unsigned long fx = 0;
	int rc = 0, s;
	LIBSSH2_SFTP_HANDLE *h;
	char *buf, *tmp;
	int fd = sshc_put_start(local, remote, &tmp, r);

	if (fd < 0)
		return 0;
	while (!(h = libssh2_sftp_open(c->sftp, tmp, LIBSSH2_FXF_WRITE | LIBSSH2_FXF_CREAT |
							  LIBSSH2_FXF_TRUNC,
				      mode))) {
		s = sftp_refused(c, r, "write", tmp, &fx);
		if (s != 0) {
			close(fd);
			free(tmp);
			return s < 0 ? -1 : 0;
		}
	}
	buf = xmalloc(CHUNK);
	ssize_t n;
	while (rc == 0 && (n = read(fd, buf, CHUNK)) != 0) {
		if (n < 0) {
			if (errno == EINTR)
				continue;
			r->rc = -1;
			snprintf(r->err, sizeof r->err, "cannot read %.400s: %s", local, strerror(errno));
			break;
		}
		for (size_t sent = 0; sent < (size_t)n;) {
			ssize_t m = libssh2_sftp_write(h, buf + sent, (size_t)n - sent);
			if (m >= 0) {
				sent += (size_t)m;
				continue;
			}
			if ((s = sftp_refused(c, r, "write", tmp, &fx)) != 0) {
				rc = s < 0 ? -1 : 1;
				break;
			}
		}
	}
	free(buf);
	close(fd);
	if (rc == 0 && r->rc == 0) {
		/* The mode exactly, whatever the remote umask. */
		LIBSSH2_SFTP_ATTRIBUTES a = {.flags = LIBSSH2_SFTP_ATTR_PERMISSIONS,
					     .permissions = (unsigned long)mode & 07777};
		while (rc == 0 && libssh2_sftp_fsetstat(h, &a) != 0)
			if ((s = sftp_refused(c, r, "chmod", tmp, &fx)) != 0)
				rc = s < 0 ? -1 : 1;
	}
	if (rc >= 0 && close_handle(c, h) < 0)
		rc = -1;
	if (rc == 0 && r->rc == 0)
		rc = rename_over(c, tmp, remote, r);
	if (rc >= 0 && r->rc != 0) /* no half-written file left behind */
		while (libssh2_sftp_unlink(c->sftp, tmp) == LIBSSH2_ERROR_EAGAIN)
			if (sshc_wait_io(c) < 0) {
				rc = -1;
				break;
			}
	free(tmp);
	return rc < 0 ? -1 : 0;
}

