/*
 * gpupoll.h — this machine's GPU readings (utilisation, memory,
 * temperature), from nvidia-smi run on a thread of its own every
 * GPUPOLL_MS, so that the loop never waits for it. The local executor's
 * status carries them (the workers pane, the health rules).
 */
#ifndef HYPOTOP_GPUPOLL_H
#define HYPOTOP_GPUPOLL_H

#include "hypotop/exec.h"

#define GPUPOLL_MS 2000

struct gpupoll;

struct gpupoll *gpupoll_start(void);
/* Stops the thread (a run of nvidia-smi under way is waited for). NULL is fine. */
void gpupoll_stop(struct gpupoll *g);
/* The newest readings into st's gpu and ngpu (none before the first answer, or without nvidia-smi). */
void gpupoll_read(struct gpupoll *g, struct worker_status *st);

#endif
