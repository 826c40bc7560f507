/*
 * cmd_vast.h — what the two files of `hypotop vast` share: cmd_vast.c
 * (the command, instances, reconcile, offers) and cmd_vast_rent.c (rent,
 * release).
 */
#ifndef HYPOTOP_CMD_VAST_H
#define HYPOTOP_CMD_VAST_H

#include <stdbool.h>

#include "hypotop/util.h"
#include "hypotop/vast.h"
#include "hypotop/workers.h"
#include "hypotop/workers_edit.h"

struct vast_ctx {
	const char *workdir;
	struct vast_client api;
	struct workers ws; /* workers.json when the command started */
};

/* The workdir's config and workers, and the API client: an exit status, e set unless 0. */
int vast_ctx_open(struct vast_ctx *x, const char *workdir, bool need_key, struct err *e);
void vast_ctx_free(struct vast_ctx *x);
/* The ssh worker of instance id, or NULL. */
const struct worker_def *vast_worker_of(const struct workers *ws, long id);
/* Print what a workers.json change did; the exit status. */
int vast_report(int status, const char *verb, const char *workdir, enum worker_outcome out,
		struct err *e);
int vast_bad_option(const char *verb, const char *arg);

int vast_rent(struct vast_ctx *x, int argc, char **argv);
int vast_release(struct vast_ctx *x, int argc, char **argv);

#endif
