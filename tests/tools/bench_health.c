/*
 * bench_health — what judging the phase 1 health rules at every line
 * costs, beside what reading the line costs the engine anyway (SPEC §8,
 * issue: under 2 % of the engine's CPU with 8 jobs printing 10 000 lines
 * a second).
 *
 *   bench_health JOBS LINES
 *
 * Feeds LINES lines to each of JOBS runs' metrics, interleaved as the
 * engine reads its jobs' logs, first without the rules, then with them
 * (phase 1 all along: the worst case), five rounds of each in turn, and
 * prints the least CPU time of each and their ratio as key=value pairs.
 * Never fails on a figure.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hypotop/config.h"
#include "hypotop/health.h"
#include "hypotop/json.h"

static double cpu(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double pass(const struct config *c, size_t jobs, long lines, bool rules)
{
	struct metrics *m = calloc(jobs, sizeof *m);
	struct health_run *h = calloc(jobs, sizeof *h);
	struct err e = {{0}};
	char line[160];

	for (size_t j = 0; j < jobs; j++) {
		metrics_init(&m[j], NULL, &e);
		health_start(&h[j], c);
	}
	double t0 = cpu();
	for (long i = 0; i < lines; i++)
		for (size_t j = 0; j < jobs; j++) {
			int n = snprintf(line, sizeof line,
					 "step=%ld loss=%.6f grad_norm=%.4f lr=0.0003 tok/s=51234",
					 i, 2.0 / (1.0 + (double)i / 1000), 1.0 + (double)(i % 7) / 10);
			metrics_feed(&m[j], line, (size_t)n);
			if (rules)
				health_line(&h[j], &m[j]);
		}
	double t = cpu() - t0;
	for (size_t j = 0; j < jobs; j++)
		metrics_free(&m[j]);
	free(m);
	free(h);
	return t;
}

int main(int argc, char **argv)
{
	struct config c;
	struct err e = {{0}};
	const char *text = "{\"source_dir\": \"/s\", \"launch\": \"t\", \"metric\": \"val_loss\", "
			   "\"health\": {\"phase1_steps\": 1000000000000}}";
	cJSON *doc = json_parse(text, strlen(text), "config", &e);

	if (argc != 3 || !doc || config_from_json(&c, doc, "config", text, &e) < 0) {
		fprintf(stderr, "usage: bench_health JOBS LINES %s\n", e.msg);
		return 2;
	}
	size_t jobs = (size_t)atol(argv[1]);
	long lines = atol(argv[2]);
	pass(&c, jobs, lines / 10, true); /* warm the caches */
	double without = 1e30, with = 1e30;
	for (int round = 0; round < 5; round++) {
		double a = pass(&c, jobs, lines, false), b = pass(&c, jobs, lines, true);
		without = a < without ? a : without;
		with = b < with ? b : with;
	}
	printf("jobs=%zu lines=%ld read_s=%.3f read_and_rules_s=%.3f rules_pct=%.2f\n", jobs,
	       lines, without, with, without > 0 ? 100 * (with - without) / without : 0);
	config_free(&c);
	return 0;
}
