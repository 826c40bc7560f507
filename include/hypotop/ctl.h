/*
 * ctl.h — the control socket, engine/control.sock: how queue commands
 * reach a running engine.
 *
 * One request per connection: the client writes one JSON object and a
 * newline (an op of ops.h), the engine answers one JSON line,
 * {"ok": true, "node": ID, "status": S} or {"ok": false, "error": TEXT},
 * after the change is durable. Paths too long for sockaddr_un are reached
 * through /proc/self/fd.
 */
#ifndef HYPOTOP_CTL_H
#define HYPOTOP_CTL_H

#include "hypotop/util.h"

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
/* Bind and listen (non-blocking); removes a stale socket first. */
int ctl_listen(const char *workdir, struct err *e);
void ctl_unlink(const char *workdir);
/*
 * Send one request and wait up to timeout_ms for the answer line. Returns
 * 0 with *reply set (caller frees), 1 when no engine listens, -1 on error.
 */
int ctl_request(const char *workdir, const char *request, char **reply, int timeout_ms,
		struct err *e);

#endif
