/*
 * engine.h — the engine: the one process that owns a workdir while it
 * runs, on the main thread's event loop.
 *
 * It holds engine/lock, serves queue commands on the control socket,
 * commits every round of changes with one fsync, and on SIGINT or SIGTERM
 * checkpoints with state "interrupted" and exits, leaving running jobs
 * running.
 */
#ifndef HYPOTOP_ENGINE_H
#define HYPOTOP_ENGINE_H

#include <stdbool.h>

#include "hypotop/util.h"

struct engine_opts {
	const char *workdir;
	bool headless;
};

/* Run until interrupted; an exit status of SPEC §3. */
int engine_main(const struct engine_opts *o);

#endif
