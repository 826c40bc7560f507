/*
 * sshconn.c — see sshconn.h.
 *
 * The thread owns the libssh2 session, in non-blocking mode: every wait is
 * a poll(2) on the socket and on an eventfd the main thread writes to (a
 * new request, sshc_retry, sshc_free), bounded by the step's deadline. A
 * step that fails on the wire, or hears nothing from the host for
 * timeout_ms (keepalives go meanwhile), drops the session:
 * what libssh2 left half-done cannot be trusted, and a fresh connection
 * is cheap beside a wrong answer. Errors a host gives for one request (no
 * such file, permission denied, a command's own failure) keep it.
 *
 * While idle the thread watches the socket for the host's hang-up only
 * (POLLRDHUP): bytes the host sends meanwhile wait for the next read. Every
 * keepalive_s it sends a keepalive and checks the link with one SFTP round
 * trip, which also reads the keepalive's answer: a keepalive alone proves
 * nothing on a link that swallows packets.
 *
 * Without a host the thread has no session: it takes the same requests
 * from the same queue and hands them to sshlocal.c instead of sshreq.c.
 */
#include "hypotop/sshconn.h"
#include "hypotop/sshconn_int.h"

#include <errno.h>
#include <libssh2_sftp.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "hypotop/util.h"

#define BACKOFF_MAX_S 60

enum req_kind { REQ_EXEC, REQ_PUT, REQ_READ };

struct req {
	enum req_kind kind;
	char *a, *b; /* exec: the command; put: local, remote path; read: remote path */
	char *in;    /* exec: stdin */
	size_t in_len, max;
	long long off;
	int mode;
	sshc_fn fn;
	void *ctx;
	struct req *next;
};

/* An answer to deliver, or (fn NULL) news that the status changed. */
struct event {
	sshc_fn fn;
	void *ctx;
	struct sshc_reply r;
	struct event *next;
};

/* ---- the main thread's side ------------------------------------------- */

static void poke(struct sshc *c)
{
	uint64_t one = 1;

	while (write(c->wake, &one, sizeof one) < 0 && errno == EINTR)
		;
}

static void push_event(struct sshc *c, struct event *ev)
{
	pthread_mutex_lock(&c->mu);
	if (c->done_tail)
		c->done_tail->next = ev;
	else
		c->done = ev;
	c->done_tail = ev;
	pthread_mutex_unlock(&c->mu);
	loop_wake(c->loop);
}

static void free_events(struct event *ev)
{
	while (ev) {
		struct event *next = ev->next;
		free(ev->r.out);
		free(ev->r.errout);
		free(ev);
		ev = next;
	}
}

static void free_reqs(struct req *q)
{
	while (q) {
		struct req *next = q->next;
		free(q->a);
		free(q->b);
		free(q->in);
		free(q);
		q = next;
	}
}

static void on_wake(struct loop *l, void *ctx)
{
	struct sshc *c = ctx;
	bool freed = false;

	(void)l;
	pthread_mutex_lock(&c->mu);
	struct event *ev = c->done;
	c->done = c->done_tail = NULL;
	c->freed = &freed;
	pthread_mutex_unlock(&c->mu);
	while (ev && !freed) {
		struct event *next = ev->next;
		ev->next = NULL;
		if (ev->fn)
			ev->fn(ev->ctx, &ev->r);
		else if (c->changed)
			c->changed(c->ctx);
		free_events(ev);
		ev = next;
	}
	free_events(ev); /* what a callback's sshc_free left: never delivered */
	if (!freed)
		c->freed = NULL;
}

static void submit(struct sshc *c, struct req *q)
{
	pthread_mutex_lock(&c->mu);
	if (c->todo_tail)
		c->todo_tail->next = q;
	else
		c->todo = q;
	c->todo_tail = q;
	pthread_mutex_unlock(&c->mu);
	poke(c);
}

static struct req *req_new(enum req_kind kind, sshc_fn fn, void *ctx)
{
	struct req *q = xcalloc(1, sizeof *q);

	q->kind = kind;
	q->fn = fn;
	q->ctx = ctx;
	return q;
}

void sshc_exec(struct sshc *c, const char *cmd, const void *in, size_t in_len, size_t out_max,
	       sshc_fn fn, void *ctx)
{
	struct req *q = req_new(REQ_EXEC, fn, ctx);

	q->a = xstrdup(cmd);
	if (in && in_len) {
		q->in = xmalloc(in_len);
		memcpy(q->in, in, in_len);
		q->in_len = in_len;
	}
	q->max = out_max ? out_max : (size_t)1 << 20;
	submit(c, q);
}

void sshc_put(struct sshc *c, const char *local_path, const char *remote_path, int mode,
	      sshc_fn fn, void *ctx)
{
	struct req *q = req_new(REQ_PUT, fn, ctx);

	q->a = xstrdup(local_path);
	q->b = xstrdup(remote_path);
	q->mode = mode;
	submit(c, q);
}

void sshc_read(struct sshc *c, const char *remote_path, long long off, size_t max, sshc_fn fn,
	       void *ctx)
{
	struct req *q = req_new(REQ_READ, fn, ctx);

	q->a = xstrdup(remote_path);
	q->off = off < 0 ? 0 : off;
	q->max = max;
	submit(c, q);
}

void sshc_status(struct sshc *c, struct sshc_status *st)
{
	pthread_mutex_lock(&c->mu);
	*st = c->st;
	pthread_mutex_unlock(&c->mu);
}

void sshc_retry(struct sshc *c)
{
	pthread_mutex_lock(&c->mu);
	c->retry = true;
	pthread_mutex_unlock(&c->mu);
	poke(c);
}

void sshc_move(struct sshc *c, const char *host, int port)
{
	if (!c->host)
		return;
	pthread_mutex_lock(&c->mu);
	free(c->move_host);
	c->move_host = xstrdup(host);
	c->move_port = port > 0 ? port : 22;
	c->retry = true;
	pthread_mutex_unlock(&c->mu);
	poke(c);
}

/* The thread, before it connects: take the address sshc_move gave. */
static void take_move(struct sshc *c)
{
	pthread_mutex_lock(&c->mu);
	if (c->move_host) {
		free(c->host);
		c->host = c->move_host;
		c->port = c->move_port;
		c->move_host = NULL;
		c->backoff_s = 1;
	}
	pthread_mutex_unlock(&c->mu);
}

/* ---- the thread: waiting ---------------------------------------------- */

static bool stopping(struct sshc *c)
{
	pthread_mutex_lock(&c->mu);
	bool stop = c->stop;
	pthread_mutex_unlock(&c->mu);
	return stop;
}

static void drain_wake(struct sshc *c)
{
	uint64_t n;

	while (read(c->wake, &n, sizeof n) < 0 && errno == EINTR)
		;
}

bool sshc_woken(struct sshc *c)
{
	drain_wake(c);
	return stopping(c);
}

int sshc_why(struct sshc *c, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(c->why, sizeof c->why, fmt, ap);
	va_end(ap);
	return -1;
}

/*
 * Wait for fd to be ready for events, for the deadline, or for the stop:
 * 0 ready (or woken by a new request: the caller tries again), -1 with
 * why set. Whatever the host sends moves the deadline: it is silence that
 * gives up, and keepalives, answered by a live host, keep a quiet
 * command's request going.
 */
static int wait_fd(struct sshc *c, int fd, short events)
{
	for (;;) {
		int64_t left = c->deadline - mono_ms();
		if (left <= 0)
			return sshc_why(c, "no answer from %s for %d s", c->host,
				       (c->timeout_ms + 999) / 1000);
		int next = 0;
		/* Not while a packet is half sent: libssh2 sends one at a time. */
		if (c->ready &&
		    !(libssh2_session_block_directions(c->s) & LIBSSH2_SESSION_BLOCK_OUTBOUND))
			libssh2_keepalive_send(c->s, &next);
		if (next > 0 && next * 1000LL < left)
			left = next * 1000LL;
		struct pollfd p[2] = {{.fd = fd, .events = events}, {.fd = c->wake, .events = POLLIN}};
		int n = poll(p, 2, (int)left);
		if (n < 0 && errno != EINTR)
			return sshc_why(c, "poll: %s", strerror(errno));
		if (n > 0 && p[1].revents) {
			drain_wake(c);
			if (stopping(c))
				return sshc_why(c, "closed");
		}
		if (n > 0 && p[0].revents) {
			c->deadline = mono_ms() + c->timeout_ms;
			return 0;
		}
	}
}

/* What libssh2 waits for, after it said EAGAIN. */
int sshc_wait_io(struct sshc *c)
{
	int dir = libssh2_session_block_directions(c->s);
	short events = 0;

	if (dir & LIBSSH2_SESSION_BLOCK_INBOUND)
		events |= POLLIN;
	if (dir & LIBSSH2_SESSION_BLOCK_OUTBOUND)
		events |= POLLOUT;
	return wait_fd(c, c->fd, events ? events : POLLIN | POLLOUT);
}

/* why = "what: libssh2's message"; -1. */
int sshc_fail(struct sshc *c, const char *what)
{
	char *msg = NULL;

	libssh2_session_last_error(c->s, &msg, NULL, 0);
	return sshc_why(c, "%s: %s", what, msg && *msg ? msg : "failed");
}

/* Whether the last call failed only for want of the socket; waits then. */
int sshc_again(struct sshc *c, int *rc)
{
	if (libssh2_session_last_errno(c->s) != LIBSSH2_ERROR_EAGAIN)
		return 0;
	*rc = sshc_wait_io(c);
	return *rc == 0;
}

/* ---- the thread: connecting ------------------------------------------- */

static int tcp_connect(struct sshc *c)
{
	struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *ai = NULL;
	char port[16];
	int err = 0;

	snprintf(port, sizeof port, "%d", c->port);
	int g = getaddrinfo(c->host, port, &hints, &ai);
	if (g != 0)
		return sshc_why(c, "cannot resolve %s: %s", c->host, gai_strerror(g));
	for (struct addrinfo *a = ai; a; a = a->ai_next) {
		int fd = socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
				a->ai_protocol);
		if (fd < 0) {
			err = errno;
			continue;
		}
		/* Before the handshake: without it every channel waits out Nagle's delay. */
		int one = 1;
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
		pthread_mutex_lock(&c->mu);
		c->sock = fd;
		pthread_mutex_unlock(&c->mu);
		c->fd = fd;
		if (connect(fd, a->ai_addr, a->ai_addrlen) == 0)
			break;
		if (errno == EINPROGRESS) {
			socklen_t len = sizeof err;
			if (wait_fd(c, fd, POLLOUT) < 0) {
				freeaddrinfo(ai);
				return -1;
			}
			if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == 0 && err == 0)
				break;
		} else {
			err = errno;
		}
		pthread_mutex_lock(&c->mu);
		c->sock = -1;
		pthread_mutex_unlock(&c->mu);
		close(fd);
		c->fd = -1;
	}
	freeaddrinfo(ai);
	if (c->fd < 0)
		return sshc_why(c, "cannot connect to %s port %d: %s", c->host, c->port,
			       strerror(err ? err : ECONNREFUSED));
	return 0;
}

static int auth_key(struct sshc *c)
{
	int rc, w = 0;

	if (access(c->key_file, R_OK) != 0)
		return sshc_why(c, "key file %s: cannot read it: %s", c->key_file, strerror(errno));
	while ((rc = libssh2_userauth_publickey_fromfile_ex(c->s, c->user,
							    (unsigned)strlen(c->user), NULL,
							    c->key_file, "")) ==
	       LIBSSH2_ERROR_EAGAIN)
		if ((w = sshc_wait_io(c)) < 0)
			return -1;
	if (rc == 0)
		return 0;
	if (rc == LIBSSH2_ERROR_AUTHENTICATION_FAILED || rc == LIBSSH2_ERROR_PUBLICKEY_UNVERIFIED)
		return sshc_why(c, "authentication refused: %s@%s does not accept the key %s",
			       c->user, c->host, c->key_file);
	if (rc == LIBSSH2_ERROR_FILE) {
		char *msg = NULL;
		libssh2_session_last_error(c->s, &msg, NULL, 0);
		return sshc_why(c, "key file %s: cannot use it (%s); a key with a passphrase "
				  "needs ssh-agent (leave key_file out)",
			       c->key_file, msg ? msg : "unreadable");
	}
	return sshc_fail(c, "authentication");
}

static int auth_agent(struct sshc *c)
{
	if (!c->agent_sock)
		return sshc_why(c, "no key_file, and no ssh-agent (SSH_AUTH_SOCK is not set): "
				  "give the worker a key_file, or start ssh-agent");
	LIBSSH2_AGENT *agent = libssh2_agent_init(c->s);
	if (!agent)
		return sshc_why(c, "ssh-agent: out of memory");
	libssh2_agent_set_identity_path(agent, c->agent_sock);
	int rc = -1;
	struct libssh2_agent_publickey *id = NULL, *prev = NULL;
	if (libssh2_agent_connect(agent) != 0) {
		sshc_why(c, "ssh-agent at %s: cannot connect", c->agent_sock);
	} else if (libssh2_agent_list_identities(agent) != 0) {
		sshc_why(c, "ssh-agent at %s: cannot list its keys", c->agent_sock);
	} else {
		sshc_why(c, "authentication refused: %s@%s accepts none of ssh-agent's keys", c->user,
			c->host);
		while (rc != 0 && libssh2_agent_get_identity(agent, &id, prev) == 0) {
			int r;
			while ((r = libssh2_agent_userauth(agent, c->user, id)) ==
			       LIBSSH2_ERROR_EAGAIN)
				if (sshc_wait_io(c) < 0)
					goto out;
			rc = r == 0 ? 0 : -1;
			prev = id;
		}
	}
out:
	libssh2_agent_disconnect(agent);
	libssh2_agent_free(agent);
	return rc;
}

static int session_open(struct sshc *c)
{
	int rc, w = 0;

	c->deadline = mono_ms() + c->timeout_ms;
	c->refused = false;
	if (tcp_connect(c) < 0)
		return -1;
	c->s = libssh2_session_init_ex(NULL, NULL, NULL, c);
	if (!c->s)
		return sshc_why(c, "out of memory for an SSH session");
	libssh2_session_set_blocking(c->s, 0);
	while ((rc = libssh2_session_handshake(c->s, c->fd)) == LIBSSH2_ERROR_EAGAIN)
		if ((w = sshc_wait_io(c)) < 0)
			return -1;
	if (rc)
		return sshc_fail(c, "SSH handshake");
	if (sshc_check_host_key(c->s, c->host, c->port, c->known_hosts, c->accept_new, c->why,
				sizeof c->why) < 0) {
		c->refused = true;
		return -1;
	}
	if ((c->key_file ? auth_key(c) : auth_agent(c)) < 0)
		return -1;
	libssh2_keepalive_config(c->s, 1, (unsigned)c->keepalive_s);
	c->ready = true;
	while (!(c->sftp = libssh2_sftp_init(c->s)))
		if (!sshc_again(c, &w))
			return w < 0 ? -1 : sshc_fail(c, "SFTP");
	return 0;
}

/* Close the session, whatever state it is in. */
static void session_close(struct sshc *c)
{
	pthread_mutex_lock(&c->mu);
	c->sock = -1;
	pthread_mutex_unlock(&c->mu);
	/* With the socket cut, libssh2's goodbyes fail at once instead of waiting. */
	if (c->fd >= 0)
		shutdown(c->fd, SHUT_RDWR);
	if (c->s) {
		libssh2_session_set_blocking(c->s, 1);
		if (c->sftp)
			libssh2_sftp_shutdown(c->sftp);
		libssh2_session_free(c->s);
	}
	if (c->fd >= 0)
		close(c->fd);
	c->s = NULL;
	c->sftp = NULL;
	c->fd = -1;
	c->ready = false;
}

/* ---- the thread: news for the main thread ------------------------------ */

static void set_state(struct sshc *c, enum sshc_state state, const char *reason)
{
	pthread_mutex_lock(&c->mu);
	int64_t now = now_ms();
	c->st.state = state;
	c->st.since = now;
	c->st.refused = state == SSHC_DOWN && c->refused;
	snprintf(c->st.reason, sizeof c->st.reason, "%s", reason);
	c->st.retry_at = 0;
	if (state == SSHC_UP) {
		c->st.connects++;
		c->st.last_ok = now;
	} else if (state == SSHC_DOWN && !c->refused) {
		c->st.retry_at = now + c->backoff_s * 1000LL;
	}
	pthread_mutex_unlock(&c->mu);
	push_event(c, xcalloc(1, sizeof(struct event)));
}

static void heard(struct sshc *c)
{
	pthread_mutex_lock(&c->mu);
	c->st.last_ok = now_ms();
	pthread_mutex_unlock(&c->mu);
}

static void answer(struct sshc *c, struct req *q, struct event *ev)
{
	ev->fn = q->fn;
	ev->ctx = q->ctx;
	if (!ev->r.out)
		ev->r.out = xstrdup("");
	if (!ev->r.errout)
		ev->r.errout = xstrdup("");
	free_reqs(q);
	push_event(c, ev);
}

static struct event *event_new(void)
{
	struct event *ev = xcalloc(1, sizeof *ev);

	ev->r.exit_code = -1;
	return ev;
}

/* Every request waiting: answered rc -1, for reason. */
static void fail_waiting(struct sshc *c, const char *reason)
{
	pthread_mutex_lock(&c->mu);
	struct req *q = c->todo;
	c->todo = c->todo_tail = NULL;
	pthread_mutex_unlock(&c->mu);
	while (q) {
		struct req *next = q->next;
		struct event *ev = event_new();
		q->next = NULL;
		ev->r.rc = -1;
		snprintf(ev->r.err, sizeof ev->r.err, "worker %.100s: not connected: %.380s", c->name,
			 reason);
		answer(c, q, ev);
		q = next;
	}
}

/* Run q and answer it; -1 when the connection failed on the way. */
static int run_req(struct sshc *c, struct req *q)
{
	struct event *ev = event_new();
	int rc = 0;

	c->deadline = mono_ms() + c->timeout_ms;
	switch (q->kind) {
	case REQ_EXEC:
		rc = (c->host ? sshc_run_exec : sshc_local_exec)(c, q->a, q->in, q->in_len, q->max,
								  &ev->r);
		break;
	case REQ_PUT:
		rc = (c->host ? sshc_run_put : sshc_local_put)(c, q->a, q->b, q->mode, &ev->r);
		break;
	case REQ_READ:
		rc = (c->host ? sshc_run_read : sshc_local_read)(c, q->a, q->off, q->max, &ev->r);
		break;
	}
	if (rc < 0) {
		free(ev->r.out);
		free(ev->r.errout);
		ev->r.out = ev->r.errout = NULL;
		ev->r.out_len = ev->r.err_len = 0;
		ev->r.rc = -1;
		snprintf(ev->r.err, sizeof ev->r.err, "worker %.100s: connection lost: %.380s", c->name,
			 c->why);
	} else {
		heard(c);
	}
	answer(c, q, ev);
	return rc;
}

/* Nothing to do: wait for a request, the host's hang-up, or the next keepalive. */
static int idle(struct sshc *c)
{
	int next = 0;

	if (libssh2_keepalive_send(c->s, &next) < 0 &&
	    libssh2_session_last_errno(c->s) != LIBSSH2_ERROR_EAGAIN)
		return sshc_fail(c, "keepalive");
	int64_t until = mono_ms() + c->keepalive_s * 1000LL;
	for (;;) {
		int64_t left = until - mono_ms();
		if (left <= 0)
			break;
		struct pollfd p[2] = {{.fd = c->fd, .events = POLLRDHUP},
				      {.fd = c->wake, .events = POLLIN}};
		if (poll(p, 2, (int)left) < 0 && errno != EINTR)
			return sshc_why(c, "poll: %s", strerror(errno));
		if (p[0].revents)
			return sshc_why(c, "the connection was closed by %s", c->host);
		if (p[1].revents) {
			drain_wake(c);
			return 0;
		}
	}
	/* The check: one round trip, which also reads the keepalive's answer. */
	LIBSSH2_SFTP_ATTRIBUTES a;
	int rc, w = 0;
	c->deadline = mono_ms() + c->timeout_ms;
	while ((rc = libssh2_sftp_stat(c->sftp, ".", &a)) != 0)
		if (!sshc_again(c, &w)) {
			if (w < 0)
				return -1;
			if (libssh2_session_last_errno(c->s) != LIBSSH2_ERROR_SFTP_PROTOCOL)
				return sshc_fail(c, "keepalive");
			break; /* an answer all the same */
		}
	heard(c);
	return 0;
}

static struct req *take(struct sshc *c)
{
	pthread_mutex_lock(&c->mu);
	struct req *q = c->todo;
	if (q) {
		c->todo = q->next;
		if (!c->todo)
			c->todo_tail = NULL;
		q->next = NULL;
	}
	pthread_mutex_unlock(&c->mu);
	return q;
}

/* Down: wait until the next try is due, answering requests made meanwhile. */
static void wait_down(struct sshc *c)
{
	for (;;) {
		pthread_mutex_lock(&c->mu);
		bool go = c->stop || c->retry;
		c->retry = false;
		int64_t at = c->st.refused ? -1 : c->st.retry_at;
		char reason[sizeof c->st.reason];
		memcpy(reason, c->st.reason, sizeof reason);
		pthread_mutex_unlock(&c->mu);
		fail_waiting(c, reason);
		int64_t left = at < 0 ? -1 : at - now_ms();
		if (go || (at >= 0 && left <= 0))
			return;
		struct pollfd p = {.fd = c->wake, .events = POLLIN};
		if (poll(&p, 1, left < 0 || left > 60000 ? 60000 : (int)left) > 0)
			drain_wake(c);
	}
}

/* Down for c->why: the next try after the backoff, which doubles. */
static void go_down(struct sshc *c)
{
	set_state(c, SSHC_DOWN, c->why);
	c->backoff_s = c->backoff_s * 2 > BACKOFF_MAX_S ? BACKOFF_MAX_S : c->backoff_s * 2;
	wait_down(c);
}

/* This machine: up from the start (sshc_new said so), each request run as it comes. */
static void run_here(struct sshc *c)
{
	push_event(c, xcalloc(1, sizeof(struct event)));
	while (!stopping(c)) {
		struct req *q = take(c);
		if (q) {
			run_req(c, q);
			continue;
		}
		struct pollfd p = {.fd = c->wake, .events = POLLIN};
		if (poll(&p, 1, -1) > 0)
			drain_wake(c);
	}
}

static void *run(void *p)
{
	struct sshc *c = p;

	if (!c->host) {
		run_here(c);
		return NULL;
	}
	while (!stopping(c)) {
		int rc;
		if (!c->s) {
			take_move(c);
			set_state(c, SSHC_CONNECTING, "");
			rc = session_open(c);
			if (rc == 0) {
				c->backoff_s = 1;
				set_state(c, SSHC_UP, "");
			}
		} else {
			struct req *q = take(c);
			rc = q ? run_req(c, q) : idle(c);
		}
		if (rc == 0)
			continue;
		session_close(c);
		if (!stopping(c))
			go_down(c);
	}
	session_close(c);
	return NULL;
}

/* ---- life ------------------------------------------------------------- */

static char *dup_or_null(const char *s)
{
	return s && *s ? xstrdup(s) : NULL;
}

static const char *home_dir(void)
{
	const char *home = getenv("HOME");
	struct passwd *pw = home && *home ? NULL : getpwuid(getuid());

	return home && *home ? home : pw ? pw->pw_dir : "/";
}

struct sshc *sshc_new(const struct ssh_target *t, struct loop *loop, sshc_changed_fn changed,
		      void *ctx)
{
	struct sshc *c = xcalloc(1, sizeof *c);

	c->name = xstrdup(t->name ? t->name : t->host ? t->host : "localhost");
	c->host = t->host ? xstrdup(t->host) : NULL;
	c->home = xstrdup(home_dir());
	c->port = t->port > 0 ? t->port : 22;
	if (t->user && *t->user) {
		c->user = xstrdup(t->user);
	} else {
		struct passwd *pw = getpwuid(getuid());
		c->user = xstrdup(pw ? pw->pw_name : "root");
	}
	c->key_file = dup_or_null(t->key_file);
	if (t->known_hosts && *t->known_hosts) {
		c->known_hosts = xstrdup(t->known_hosts);
	} else {
		c->known_hosts = xasprintf("%s/.ssh/known_hosts", home_dir());
	}
	c->agent_sock = dup_or_null(getenv("SSH_AUTH_SOCK"));
	c->accept_new = t->accept_new;
	c->keepalive_s = t->keepalive_s > 0 ? t->keepalive_s : 15;
	c->timeout_ms = t->timeout_ms > 0 ? t->timeout_ms : 30000;
	c->loop = loop;
	c->changed = changed;
	c->ctx = ctx;
	c->sock = c->fd = -1;
	c->backoff_s = 1;
	c->st.state = c->host ? SSHC_CONNECTING : SSHC_UP;
	c->st.since = now_ms();
	if (!c->host) {
		c->st.connects = 1;
		c->st.last_ok = c->st.since;
	}
	pthread_mutex_init(&c->mu, NULL);
	c->wake = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	loop_wake_add(loop, on_wake, c);
	if (c->wake < 0 || pthread_create(&c->thread, NULL, run, c) != 0) {
		/* Out of descriptors or threads: said as the connection's state. */
		c->st.state = SSHC_DOWN;
		c->st.refused = true;
		snprintf(c->st.reason, sizeof c->st.reason, "cannot start the connection: %s",
			 strerror(errno));
		if (c->wake >= 0)
			close(c->wake);
		c->wake = -1;
	}
	return c;
}

void sshc_free(struct sshc *c)
{
	if (!c)
		return;
	pthread_mutex_lock(&c->mu);
	c->stop = true;
	if (c->sock >= 0)
		shutdown(c->sock, SHUT_RDWR); /* the thread's waits end at once */
	if (c->freed)
		*c->freed = true;
	pthread_mutex_unlock(&c->mu);
	if (c->wake >= 0) {
		poke(c);
		pthread_join(c->thread, NULL);
		close(c->wake);
	}
	loop_wake_remove(c->loop, on_wake, c);
	free_reqs(c->todo);
	free_events(c->done);
	pthread_mutex_destroy(&c->mu);
	free(c->name);
	free(c->host);
	free(c->move_host);
	free(c->home);
	free(c->user);
	free(c->key_file);
	free(c->known_hosts);
	free(c->agent_sock);
	free(c);
}

int sshc_global_init(void)
{
	return libssh2_init(0) == 0 ? 0 : -1;
}

void sshc_global_cleanup(void)
{
	libssh2_exit();
}
