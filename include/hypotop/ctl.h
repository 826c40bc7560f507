/*
 * ctl.h — the control socket, engine/control.sock: how queue commands
 * reach a running engine.
 *
 * One request per connection: the client writes one JSON object and a
 * newline (an op of ops.h), the engine answers one JSON line,
 * {"ok": true, "node": ID, "status": S} or {"ok": false, "error": TEXT},
 * after the change is durable. {"op": "workers"} asks the engine to read
 * workers.json again: {"ok": true}, or {"ok": false, "error": TEXT} with
 * the file and line when it is invalid (the engine's workers unchanged). Paths too long for sockaddr_un are reached
 * through /proc/self/fd.
 *
 * The socket is its user's alone: made mode 0600 whatever the umask, and
 * each client's uid checked (SO_PEERCRED) against the engine's own; root
 * is let in, as file modes would let it in anyway.
 */
#ifndef HYPOTOP_CTL_H
#define HYPOTOP_CTL_H

#include <stdbool.h>

#include "hypotop/util.h"

struct op;

#define CTL_SOCKET "engine/control.sock"
/*
 * Clients served at once (fewer under a low descriptor limit, see
 * engine.c), and how long one may take to send its request.
 */
#define CTL_MAX_CLIENTS 16
#define CTL_IDLE_MS 5000

/*
 * Whether the socket's path is free for the engine: absent, or a stale
 * socket. Anything else there (a folder, a file) is refused, naming the
 * path and the fix, and left as it is.
 */
int ctl_check(const char *workdir, struct err *e);
/* Bind (mode 0600) and listen (non-blocking); removes a stale socket first. */
int ctl_listen(const char *workdir, struct err *e);
void ctl_unlink(const char *workdir);
/* Whether the client on fd may talk to the engine: its uid is ours, or root's. */
bool ctl_peer_allowed(int fd, struct err *e);
/*
 * Send one request and wait up to timeout_ms for the answer line. Returns
 * 0 with *reply set (caller frees), 1 when no engine listens (nothing was
 * applied), -1 on error, 2 when the whole request was sent and no answer
 * came (the engine died or hung): it may or may not have been applied.
 */
int ctl_request(const char *workdir, const char *request, char **reply, int timeout_ms,
		struct err *e);
/*
 * A queue operation (ops.h) sent as a request, its answer read: 0 when
 * applied, node (NODE_ID_LEN bytes) and status (CTL_STATUS_LEN) then
 * filled in; -1 when refused, e saying why; 1 and 2 as for ctl_request.
 */
#define CTL_STATUS_LEN 32
int ctl_op(const char *workdir, const struct op *op, int timeout_ms, char *node, char *status,
	   struct err *e);
/*
 * Ask the engine to read workers.json again: 0 applied; 1 no engine
 * listens (nothing to tell); -1 refused (the file is invalid) or an
 * answer not understood; 2 no answer (it may or may not have been
 * applied); e says why.
 */
#define CTL_WORKERS_OP "workers"
int ctl_workers_reload(const char *workdir, int timeout_ms, struct err *e);

#endif
