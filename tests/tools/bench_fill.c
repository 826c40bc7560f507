/*
 * bench_fill — put N queued experiments into a workdir, fast, for the
 * benchmarks of the engine's loop.
 *
 *   bench_fill WORKDIR N [PARENT]
 *
 * Adds N nodes under PARENT (default n0000, the baseline) with no change:
 * each runs its parent's commit, so the engine's full lifecycle (prepare:
 * branch and work tree; launch; watch; collect; analyse; reports) runs for
 * every one without any planning. All N adds share one fsync and one
 * checkpoint. The workdir must exist (hypotop init) and no engine may hold
 * it. Prints one line of key=value pairs.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hypotop/ops.h"
#include "hypotop/workdir.h"

static double secs(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	struct workdir w;
	struct err e = {{0}};

	if (argc < 3 || atol(argv[2]) < 0) {
		fprintf(stderr, "usage: bench_fill WORKDIR N [PARENT]\n");
		return 2;
	}
	const char *parent = argc > 3 ? argv[3] : "n0000";
	long n = atol(argv[2]);
	if (strlen(parent) >= sizeof ((struct op *)0)->node) {
		fprintf(stderr, "bench_fill: %s: not a node id\n", parent);
		return 2;
	}
	if (workdir_open(&w, argv[1], WD_WRITE, NULL, &e) != WD_OK) {
		fprintf(stderr, "bench_fill: %s\n", e.msg);
		return 1;
	}
	w.checkpoint_every = UINT32_MAX; /* one checkpoint at the end */
	double t0 = secs();
	for (long i = 0; i < n; i++) {
		struct op op = {.kind = OP_ADD};
		uint32_t id;
		snprintf(op.node, sizeof op.node, "%s", parent);
		op.hypothesis = xasprintf("trivial job %ld", i);
		op.name = xasprintf("job-%ld", i);
		int rc = op_apply(&w, &op, false, &id, &e);
		op_free(&op);
		if (rc < 0) {
			fprintf(stderr, "bench_fill: %s\n", e.msg);
			workdir_close(&w);
			return 1;
		}
	}
	if (workdir_commit(&w, &e) < 0 || workdir_checkpoint(&w, &e) < 0) {
		fprintf(stderr, "bench_fill: %s\n", e.msg);
		workdir_close(&w);
		return 1;
	}
	printf("added=%ld nodes=%u seconds=%.3f\n", n, w.tree.count, secs() - t0);
	workdir_close(&w);
	return 0;
}
