/*
 * workers.h — workers.json, the worker registry (SPEC §6).
 *
 * {"version": 1, "workers": [{"name": ..., "kind": "local"|"ssh"|"slurm", ...}]}
 * This module validates the file and lists its workers; the executors of
 * src/exec/ act on them. Each kind takes only its own keys: a slurm worker
 * has no connection settings of its own, it names in "via" the ssh worker
 * of the same file whose connection reaches its login node.
 */
#ifndef HYPOTOP_WORKERS_H
#define HYPOTOP_WORKERS_H

#include <stdbool.h>
#include <stddef.h>

#include "hypotop/util.h"

struct worker_def {
	char *name;
	char *kind;
	char *host, *user, *key_file;
	/*
	 * ssh: relative to the login's home; NULL: "hypotop". slurm (always
	 * set): on a file system the compute nodes share; absolute, or relative
	 * to the login node's home when via is set.
	 */
	char *workspace;
	char *known_hosts; /* NULL: $HOME/.ssh/known_hosts */
	char *setup;       /* run once per worker and source commit; NULL: none */
	/* port 0: 22. slots: jobs at once; for slurm, "max_jobs" (default 4). */
	long port, slots;
	/* slurm: sbatch's --partition, --account, --qos, --gres; NULL: none. */
	char *partition, *account, *qos, *gres;
	/* slurm: the ssh worker of the file that reaches the login node; NULL: this machine. */
	char *via;
	/* slurm: given to sbatch as they are, each starting with '-'; NULL-ended, NULL: none. */
	char **sbatch_args;
	size_t nsbatch_args;
	long vast_id;      /* 0: none */
	double dph;        /* a rented instance's price, USD per hour; 0: none */
	double rented_at, released_at; /* Unix seconds; 0: not said (workers_rent_hours) */
	int *gpus;         /* CUDA devices, one job each; NULL when ngpus is 0 */
	size_t ngpus;
	bool enabled;
	bool accept_new_host_key;
};

struct workers {
	struct worker_def *v;
	size_t len;
};

/*
 * Hours a rented worker (vast_id) has cost by now_s: from rented_at to
 * released_at, or to now_s while it is not released; 0 without rented_at.
 */
double workers_rent_hours(const struct worker_def *w, double now_s);

int workers_load(const char *path, struct workers *ws, struct err *e);
/* The same for text that would be the file at path (messages name path and line). */
int workers_parse(const char *path, const char *text, size_t len, struct workers *ws,
		  struct err *e);
void workers_free(struct workers *ws);
/* Validate only. A missing file is a registry with the local worker. */
int workers_check(const char *path, struct err *e);

#endif
