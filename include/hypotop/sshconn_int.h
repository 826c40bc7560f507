/*
 * sshconn_int.h — between the parts of one SSH connection: the thread
 * and its waits (sshconn.c), the requests it runs (sshreq.c), or runs on
 * this machine when it has no host (sshlocal.c), and the host-key check
 * (sshhost.c). Nothing else includes it. Everything here runs on the
 * connection's thread.
 */
#ifndef HYPOTOP_SSHCONN_INT_H
#define HYPOTOP_SSHCONN_INT_H

#include <libssh2.h>
#include <libssh2_sftp.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hypotop/sshconn.h"
#include "hypotop/util.h"

struct sshc {
	/* Set by sshc_new; read-only after. */
	char *name, *host, *user, *key_file, *known_hosts, *agent_sock;
	char *home; /* what relative paths are relative to on this machine (host NULL) */
	int port, keepalive_s, timeout_ms;
	bool accept_new;
	struct loop *loop;
	sshc_changed_fn changed;
	void *ctx;
	pthread_t thread;
	int wake; /* eventfd: a request, a retry or the stop */

	pthread_mutex_t mu; /* guards what follows, up to the thread's own */
	struct sshc_status st;
	struct req *todo, *todo_tail;
	struct event *done, *done_tail;
	bool stop, retry;
	char *move_host; /* sshc_move: the address the next connection takes; NULL none */
	int move_port;
	int sock; /* the thread's socket, for sshc_free to cut; -1 none */
	bool *freed; /* the delivery under way, told when a callback frees c */

	/* The thread's own. */
	LIBSSH2_SESSION *s;
	LIBSSH2_SFTP *sftp;
	int fd;
	int64_t deadline; /* mono_ms: the step under way gives up */
	int backoff_s;
	bool ready;   /* the session is set up: keepalives may go */
	bool refused; /* the last try was refused the host key */
	char why[512];
};

/*
 * Each returns 0 when the host answered (r says how: rc -1 with err when
 * it refused, as for a missing folder), -1 when the connection failed on
 * the way (c->why says why; the session is to be closed).
 */
int sshc_run_exec(struct sshc *c, const char *cmd, const char *in, size_t in_len, size_t max,
		  struct sshc_reply *r);
int sshc_run_put(struct sshc *c, const char *local, const char *remote, int mode,
		 struct sshc_reply *r);
int sshc_run_read(struct sshc *c, const char *path, long long off, size_t max,
		  struct sshc_reply *r);

/*
 * The same requests on this machine (c->host NULL), with the same answers;
 * each returns 0, as nothing is lost on the way.
 */
int sshc_local_exec(struct sshc *c, const char *cmd, const char *in, size_t in_len, size_t max,
		    struct sshc_reply *r);
int sshc_local_put(struct sshc *c, const char *local, const char *remote, int mode,
		   struct sshc_reply *r);
int sshc_local_read(struct sshc *c, const char *path, long long off, size_t max,
		    struct sshc_reply *r);
/*
 * A put's start on either side: local opened (-1 when it cannot be, r
 * saying why), and *tmp, the name beside remote to write it to first.
 */
int sshc_put_start(const char *local, const char *remote, char **tmp, struct sshc_reply *r);
/* The wake eventfd was readable: it is drained; whether sshc_free wants the thread to stop. */
bool sshc_woken(struct sshc *c);

/* c->why = the message; -1. */
int sshc_why(struct sshc *c, const char *fmt, ...) PRINTF_LIKE(2, 3);
/* c->why = "what: libssh2's last error"; -1. */
int sshc_fail(struct sshc *c, const char *what);
/* After libssh2 said EAGAIN: wait for the socket; 0, or -1 (why set). */
int sshc_wait_io(struct sshc *c);
/*
 * After a call failed: 1 when it only wanted the socket (now ready: call
 * again), 0 otherwise, with *rc -1 when the wait itself failed.
 */
int sshc_again(struct sshc *c, int *rc);

/*
 * Check the key the host sent on session s against known_hosts, under the
 * name OpenSSH gives it (host, or [host]:port when port is not 22), hashed
 * entries included. An unknown key is recorded when accept_new (the file
 * replaced atomically, every line kept), else refused; a changed one is
 * always refused, with both fingerprints. 0 accepted; -1 refused, why says
 * why (for a person).
 */
int sshc_check_host_key(LIBSSH2_SESSION *s, const char *host, int port,
			const char *known_hosts, bool accept_new, char *why, size_t whysz);

#endif
