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

/* Bind and listen (non-blocking); removes a stale socket first. */
int ctl_listen(const char *workdir, struct err *e);
void ctl_unlink(const char *workdir);
/*
 * Send one request and wait up to timeout_ms for the answer line. Returns
 * 0 with *reply set (caller frees), 1 when no engine listens (nothing was
 * applied), -1 on error, 2 when the whole request was sent and no answer
 * came (the engine died or hung): it may or may not have been applied.
 */
int ctl_request(const char *workdir, const char *request, char **reply, int timeout_ms,
		struct err *e);

#endif
