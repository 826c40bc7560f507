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
#include <stddef.h>

#include "hypotop/util.h"

struct worker_def {
	char *name;
	char *kind;
	char *host, *user, *key_file, *workspace, *partition;
	char *known_hosts; /* NULL: $HOME/.ssh/known_hosts */
	char *setup;       /* run once per worker and source commit; NULL: none */
	long port, slots;  /* port 0: 22 */
	long vast_id;      /* 0: none */
	char *account, *qos, *gres; /* slurm: sbatch's options; NULL: Slurm's default */
	char *via;                  /* slurm: the ssh worker that reaches the login node; NULL: here */
	char **sbatch_args;         /* slurm: NULL-terminated; NULL: none */
	int *gpus;         /* CUDA devices, one job each; NULL when ngpus is 0 */
	size_t ngpus;
	bool enabled;
	bool accept_new_host_key;
};

struct workers {
	struct worker_def *v;
	size_t len;
};

int workers_load(const char *path, struct workers *ws, struct err *e);
/* The same for text that would be the file at path (messages name path and line). */
int workers_parse(const char *path, const char *text, size_t len, struct workers *ws,
		  struct err *e);
void workers_free(struct workers *ws);
/* Validate only. A missing file is a registry with the local worker. */
int workers_check(const char *path, struct err *e);

#endif
