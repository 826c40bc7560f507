/*
 * bench_state — figures for the workdir's durable state.
 *
 *   bench_state journal WORKDIR N GROUP   N adds, one commit (fsync) per GROUP
 *   bench_state fill WORKDIR N            N queued nodes, then one checkpoint
 *   bench_state load WORKDIR              load time and memory of a workdir
 *
 * Prints one line of key=value pairs. The workdir must exist (hypotop init).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "hypotop/ops.h"
#include "hypotop/workdir.h"

static double secs(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Peak resident set so far, in KiB. */
static long max_rss_kib(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_maxrss;
}

static int add_nodes(struct workdir *w, long n, long group, struct err *e)
{
	for (long i = 0; i < n; i++) {
		struct op op = {.kind = OP_ADD};
		uint32_t id;
		snprintf(op.node, sizeof op.node, "n%04ld", i < 16 ? 0L : (i * 7919) % i);
		op.hypothesis = xasprintf("halve the learning rate after warm-up, variant %ld", i);
		op.has_priority = true;
		op.priority = i % 10;
		int rc = op_apply(w, &op, false, &id, e);
		op_free(&op);
		if (rc < 0)
			return -1;
		if ((i + 1) % group == 0 && workdir_commit(w, e) < 0)
			return -1;
	}
	return workdir_commit(w, e);
}

int main(int argc, char **argv)
{
	struct workdir w;
	struct err e = {{0}};

	if (argc < 3) {
		fprintf(stderr, "usage: bench_state journal|fill|load WORKDIR [N [GROUP]]\n");
		return 2;
	}
	const char *mode = argv[1], *wd = argv[2];
	if (!strcmp(mode, "load")) {
		long before = max_rss_kib();
		double t0 = secs();
		if (workdir_open(&w, wd, WD_READ, NULL, &e) != WD_OK) {
			fprintf(stderr, "bench_state: %s\n", e.msg);
			return 1;
		}
		double t = secs() - t0;
		long after = max_rss_kib();
		printf("nodes=%u load_ms=%.1f rss_before_kib=%ld peak_rss_kib=%ld "
		       "bytes_per_node=%.0f\n",
		       w.tree.count, t * 1000, before, after,
		       (double)(after - before) * 1024.0 / w.tree.count);
		workdir_close(&w);
		return 0;
	}
	if (argc < 4)
		return 2;
	long n = atol(argv[3]), group = argc > 4 ? atol(argv[4]) : 1;
	if (workdir_open(&w, wd, WD_WRITE, NULL, &e) != WD_OK) {
		fprintf(stderr, "bench_state: %s\n", e.msg);
		return 1;
	}
	if (!strcmp(mode, "fill"))
		w.checkpoint_every = UINT32_MAX;
	double t0 = secs();
	if (add_nodes(&w, n, !strcmp(mode, "fill") ? n : group, &e) < 0 ||
	    (!strcmp(mode, "fill") && workdir_checkpoint(&w, &e) < 0)) {
		fprintf(stderr, "bench_state: %s\n", e.msg);
		return 1;
	}
	double t = secs() - t0;
	printf("ops=%ld group=%ld seconds=%.3f ops_per_s=%.0f\n", n, group, t, (double)n / t);
	workdir_close(&w);
	return 0;
}
