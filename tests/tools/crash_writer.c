/*
 * crash_writer — applies queue operations to a workdir for ever, for the
 * SIGKILL test. Each round adds a few nodes named "op-K" and changes the
 * priority of, or pauses, nodes added in the round before; after the
 * round's one commit it prints an acknowledgement line per operation:
 *   add op-K | prio op-K P | pause op-K
 * Anything acknowledged must survive a SIGKILL at any later instant.
 *
 * usage: crash_writer WORKDIR FIRST_K SEED [CHECKPOINT_EVERY]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hypotop/ops.h"
#include "hypotop/workdir.h"

int main(int argc, char **argv)
{
	struct workdir w;
	struct err e = {{0}};

	if (argc < 4) {
		fprintf(stderr, "usage: crash_writer WORKDIR FIRST_K SEED [CHECKPOINT_EVERY]\n");
		return 2;
	}
	long k = atol(argv[2]);
	srand((unsigned)atol(argv[3]));
	if (workdir_open(&w, argv[1], WD_WRITE, NULL, &e) != WD_OK) {
		fprintf(stderr, "crash_writer: %s\n", e.msg);
		return 1;
	}
	if (argc > 4)
		w.checkpoint_every = (unsigned)atol(argv[4]);
	uint32_t prev[64];
	long prev_k[64];
	int nprev = 0;
	struct buf acks;
	buf_init(&acks);
	for (;;) {
		uint32_t cur[64];
		long cur_k[64];
		int ncur = 0, adds = 1 + rand() % 16;
		buf_reset(&acks);
		for (int i = 0; i < adds; i++, k++) {
			struct op op = {.kind = OP_ADD};
			uint32_t id;
			snprintf(op.node, sizeof op.node, "n0000");
			op.hypothesis = xasprintf("crash test operation %ld", k);
			op.name = xasprintf("op-%ld", k);
			if (op_apply(&w, &op, false, &id, &e) < 0) {
				fprintf(stderr, "crash_writer: %s\n", e.msg);
				return 1;
			}
			op_free(&op);
			cur[ncur] = id;
			cur_k[ncur++] = k;
			buf_printf(&acks, "add op-%ld\n", k);
		}
		for (int i = 0; i < nprev; i++) {
			struct op op = {0};
			uint32_t id;
			node_id_format(prev[i], op.node);
			if (prev_k[i] % 3 == 0) {
				op.kind = OP_PRIO;
				op.priority = prev_k[i] % 100 - 50;
				op.has_priority = true;
			} else if (prev_k[i] % 5 == 0) {
				op.kind = OP_PAUSE;
			} else {
				continue;
			}
			if (op_apply(&w, &op, false, &id, &e) < 0) {
				fprintf(stderr, "crash_writer: %s\n", e.msg);
				return 1;
			}
			if (op.kind == OP_PRIO)
				buf_printf(&acks, "prio op-%ld %ld\n", prev_k[i], op.priority);
			else
				buf_printf(&acks, "pause op-%ld\n", prev_k[i]);
		}
		if (workdir_commit(&w, &e) < 0) {
			fprintf(stderr, "crash_writer: %s\n", e.msg);
			return 1;
		}
		fputs(acks.data, stdout);
		fflush(stdout);
		memcpy(prev, cur, sizeof cur);
		memcpy(prev_k, cur_k, sizeof cur_k);
		nprev = ncur;
	}
}
