/*
 * workers.h — workers.json, the worker registry (SPEC §6).
 *
 * {"version": 1, "workers": [{"name": ..., "kind": "local"|"ssh"|"slurm", ...}]}
 * This module validates the file and lists its workers; the executors of
 * src/exec/ act on them.
 */
#ifndef HYPOTOP_WORKERS_H
#define HYPOTOP_WORKERS_H

#include <stdbool.h>

#include "hypotop/util.h"

struct worker_def {
	char *name;
	char *kind;
	char *host, *user, *key_file, *workspace, *partition;
	long port, slots;
	bool enabled;
};

struct workers {
	struct worker_def *v;
	size_t len;
};

int workers_load(const char *path, struct workers *ws, struct err *e);
void workers_free(struct workers *ws);
/* Validate only. A missing file is a registry with the local worker. */
int workers_check(const char *path, struct err *e);

#endif
