/*
 * bench_runs.h — the run folders r000, r001 ... of the jobs the remote
 * benchmarks' tools start (ssh_bench, slurm_bench), as remote.h lays
 * them out in a workspace.
 */
#ifndef BENCH_RUNS_H
#define BENCH_RUNS_H

#include <stdio.h>
#include <stdlib.h>

#include "hypotop/remote.h"
#include "hypotop/util.h"

/* n paths, NULL-terminated; bench_runs_free frees them. */
static inline char **bench_runs(const char *workspace, const char *ns, int n)
{
	char **runs = xcalloc((size_t)n + 1, sizeof *runs);

	for (int i = 0; i < n; i++) {
		char name[32];
		snprintf(name, sizeof name, "r%03d", i);
		runs[i] = remote_run_path(workspace, ns, name);
	}
	return runs;
}

static inline void bench_runs_free(char **runs)
{
	for (char **r = runs; *r; r++)
		free(*r);
	free(runs);
}

#endif
