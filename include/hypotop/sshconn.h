/*
 * sshconn.h — one SSH connection to a worker (SPEC §6), owned by a thread
 * of its own: libssh2, TCP_NODELAY, keepalive, strict host keys, auth by
 * key file or ssh-agent, and reconnection with backoff (1 s doubling to
 * 60 s) whenever the connection is lost.
 *
 * The main thread hands it requests (run a command, put a file, read part
 * of a file) and hears each answer once, from the event loop's wake hook:
 * it never blocks on the network. Requests run one after another in the
 * order given. A request made while the connection is down, or in flight
 * when it drops, is answered at once with rc -1 and the reason: it is the
 * caller's to try again (a command that may have run must be safe to run
 * twice).
 *
 * A target without a host is this machine, as a worker whose commands run
 * here (a Slurm login node that is this machine): the same requests, run
 * one after another in the same order by the connection's thread, with the
 * same answers, and no network. It is up from the start (connects 1, one
 * change told), never goes down, and sshc_retry does nothing. A command
 * runs by /bin/sh -c in a process group of its own, in $HOME as over an
 * SSH login, with the process's environment; its answer comes when the
 * shell exits (what it leaves running is not waited for). One silent for
 * timeout_ms is killed with its process group and answered rc -1; so is
 * one running when sshc_free is called, without an answer. Relative paths
 * of put and read are relative to $HOME, as over SFTP. key_file,
 * known_hosts, port and keepalive_s are not used.
 */
#ifndef HYPOTOP_SSHCONN_H
#define HYPOTOP_SSHCONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hypotop/loop.h"

struct ssh_target {
	const char *name;        /* the worker's name, for messages */
	const char *host;        /* NULL: this machine, no SSH (above) */
	int port;                /* 0: 22 */
	const char *user;        /* NULL: the local user's name */
	const char *key_file;    /* private key; NULL: ssh-agent */
	const char *known_hosts; /* NULL: $HOME/.ssh/known_hosts */
	bool accept_new;         /* an unknown host key is recorded, not refused */
	int keepalive_s;         /* 0: 15 */
	int timeout_ms;          /* silence that gives up a request or the set-up; 0: 30000 */
};

enum sshc_state {
	SSHC_CONNECTING, /* the first try, or a retry, under way */
	SSHC_UP,
	SSHC_DOWN,       /* lost or refused: reason says why, retry_at when next */
};

struct sshc_status {
	enum sshc_state state;
	char reason[512];  /* SSHC_DOWN: "host key changed: ...", "authentication refused ...", ... */
	bool refused;      /* the host key was refused: no retry until sshc_retry() */
	int64_t since;     /* wall-clock ms of the last change of state */
	int64_t last_ok;   /* wall-clock ms of the last answer heard from the host; 0 none */
	int64_t retry_at;  /* SSHC_DOWN: wall-clock ms of the next try */
	unsigned connects; /* connections made so far (a reconnection counts) */
};

struct sshc_reply {
	int rc;           /* 0 done, -1 not (err says why; the request may have run) */
	int exit_code;    /* exec: the command's status; 128+N when killed by signal N */
	char *out;        /* exec: stdout; read: the bytes read (NUL-terminated either way) */
	size_t out_len;
	char *errout;     /* exec: stderr */
	size_t err_len;
	long long size;   /* read: the remote file's size; -1 when it does not exist */
	char err[512];
};

/* Main thread, from the loop. r and its buffers live only during the call. */
typedef void (*sshc_fn)(void *ctx, const struct sshc_reply *r);
/* Main thread, from the loop: the status changed (sshc_status tells how). */
typedef void (*sshc_changed_fn)(void *ctx);

struct sshc;

/* libssh2's global set-up: once in main() before any thread; the clean-up at exit. */
int sshc_global_init(void);
void sshc_global_cleanup(void);

/* Connects at once, in its thread. t's strings are copied. */
struct sshc *sshc_new(const struct ssh_target *t, struct loop *loop, sshc_changed_fn changed,
		      void *ctx);
/* Closes the connection; the answers of requests not yet answered never come. */
void sshc_free(struct sshc *c);
void sshc_status(struct sshc *c, struct sshc_status *st);
/* Try again now: after a refused host key was fixed, or to cut a backoff short. */
void sshc_retry(struct sshc *c);
/*
 * The host moved (a restarted rented machine): the next connection goes to
 * host:port, and it is tried now. The one up, if any, is kept until it drops.
 */
void sshc_move(struct sshc *c, const char *host, int port);
/*
 * Run cmd by the remote user's shell, in (NULL: nothing) on its stdin;
 * stdout and stderr are each kept up to out_max bytes (0: 1 MiB).
 */
void sshc_exec(struct sshc *c, const char *cmd, const void *in, size_t in_len, size_t out_max,
	       sshc_fn fn, void *ctx);
/* Copy a local file over SFTP to remote_path (written beside it, then renamed). */
void sshc_put(struct sshc *c, const char *local_path, const char *remote_path, int mode,
	      sshc_fn fn, void *ctx);
/* Read at most max bytes of remote_path from offset off, over SFTP; size tells its size. */
void sshc_read(struct sshc *c, const char *remote_path, long long off, size_t max, sshc_fn fn,
	       void *ctx);

/*
 * SHA256 fingerprint of a host key as OpenSSH prints it ("SHA256:…",
 * base64 without padding). Exposed for the tests.
 */
void sshc_fingerprint(const unsigned char *key, size_t len, char *out, size_t outsz);

#endif
