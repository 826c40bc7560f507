/*
 * workerstat.h — engine/workers.json: what each worker is doing, as the
 * running engine last saw it. Written by the engine whenever it changes
 * (a view, rebuilt from the executors: no fsync), read by `hypotop
 * workers` and by an attached UI.
 *
 * {"updated": MS, "workers": [{"name", "kind", "enabled", "state", "reason",
 *   "heartbeat", "slots": [{"node", "gpu", "unknown"}...],
 *   "gpus": [{"index", "util", "mem_used", "mem_total", "temp"}...]}]}
 * A free slot has node "".
 */
#ifndef HYPOTOP_WORKERSTAT_H
#define HYPOTOP_WORKERSTAT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hypotop/exec.h"
#include "hypotop/tree.h"
#include "hypotop/util.h"

#define WORKERSTAT_FILE "engine/workers.json"

struct worker_slot {
	char node[NODE_ID_LEN]; /* "" when free */
	int gpu;                /* -1 none */
	bool unknown;           /* its worker is out of reach: last known running */
	struct job_info job;    /* what its cluster says of its job */
};

struct worker_stat {
	char name[64];
	char kind[16];
	bool enabled;
	struct worker_status st;
	struct worker_slot *slot;
	size_t nslots;
};

/* "up", "busy" (every slot used), "connecting", "down", "disabled". */
const char *worker_state_word(const struct worker_stat *w);
size_t worker_slots_used(const struct worker_stat *w);

/* The "workers" array of that file, appended to b (`hypotop status --json` has it too). */
void workerstat_json(struct buf *b, const struct worker_stat *v, size_t n);
int workerstat_write(const char *workdir, int64_t updated, const struct worker_stat *v,
		     size_t n, struct err *e);
/*
 * 0 with *v (caller frees with workerstat_free) and *n; 1 when there is no
 * file (no engine has run); -1 when it cannot be read, e saying why.
 */
int workerstat_read(const char *workdir, int64_t *updated, struct worker_stat **v, size_t *n,
		    struct err *e);
void workerstat_free(struct worker_stat *v, size_t n);

#endif
