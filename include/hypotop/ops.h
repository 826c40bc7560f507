/*
 * ops.h — what a person can do to the queue (SPEC §5), as journalled
 * events: add, pause, resume, cancel, prio, retry.
 *
 * One table (QUEUE_OPS) gives each operation its name, arguments, the
 * statuses it applies to and its help text; the command line, the control
 * socket and the man page all read it. op_apply() checks an operation
 * against the tree and records it in the workdir's journal; the caller
 * commits (so many operations can share one fsync).
 */
#ifndef HYPOTOP_OPS_H
#define HYPOTOP_OPS_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stdint.h>

#include "hypotop/workdir.h"

#define OPS_ST(x) (1u << ST_##x)
#define QUEUE_OPS(X)                                                                   \
	X(ADD, "add", "NODE HYPOTHESIS [--name SLUG] [--priority N] [--param K=V]... "  \
		      "[--patch FILE] [--request-id ID]",                               \
	  ~OPS_ST(CANCELLED), "add a hypothesis of your own as a child of NODE")             \
	X(PAUSE, "pause", "NODE",                                                        \
	  OPS_ST(QUEUED) | OPS_ST(PREPARING) | OPS_ST(WAITING) | OPS_ST(BUILDING) | OPS_ST(RUNNING), \
	  "hold a node not yet running (skipped until resumed) or stop a running one (SIGSTOP)") \
	X(RESUME, "resume", "NODE", OPS_ST(PAUSED), "put a paused node back in the queue, or continue a stopped job")   \
	X(CANCEL, "cancel", "NODE",                                                      \
	  OPS_ST(QUEUED) | OPS_ST(PAUSED) | OPS_ST(PREPARING) | OPS_ST(WAITING) | OPS_ST(BUILDING) | \
	  OPS_ST(RUNNING), "cancel a node; a running job is killed (its branch and log are kept)")        \
	X(PRIO, "prio", "NODE PRIORITY", OPS_ST(QUEUED) | OPS_ST(PAUSED) | OPS_ST(PREPARING),     \
	  "set the priority of a node not yet running (lower runs first)")              \
	X(RETRY, "retry", "NODE [--priority N]",                                          \
	  OPS_ST(COMPLETED) | OPS_ST(FAILED) | OPS_ST(CANCELLED) | OPS_ST(PRUNED),          \
	  "queue a copy of a finished node")

enum op_kind {
#define X(e, name, args, mask, doc) OP_##e,
	QUEUE_OPS(X)
#undef X
	OP__COUNT
};

struct op_info {
	const char *name, *args, *doc;
	unsigned statuses; /* bit per enum node_status the op applies to */
};

const struct op_info *op_info(enum op_kind k);
/* -1 when name is not an operation. */
int op_parse_name(const char *name);

struct op {
	enum op_kind kind;
	char node[NODE_ID_LEN + 16];
	long priority;
	bool has_priority;
	char *hypothesis, *name;
	char *request_id; /* add: the caller's id, which makes a repeated add answer the node made */
	cJSON *change; /* owned */
	/* add, by the engine: the model calls that proposed it (planner_take_calls), or NULL; not owned */
	const cJSON *calls;
};

void op_free(struct op *op);
/*
 * An add's change, as `hypotop add` and the UI take it: a param
 * NAME=VALUE joins a params change; a patch (text of len bytes, no NUL)
 * is the whole change. what starts the message of a refusal ("--param").
 */
int op_add_param(struct op *op, const char *kv, const char *what, struct err *e);
int op_set_patch(struct op *op, const char *text, size_t len, const char *what, struct err *e);
/* The wire form, one JSON object (the control socket's request). */
void op_to_json(const struct op *op, struct buf *b);
int op_from_json(struct op *op, const cJSON *j, struct err *e);

/*
 * Check op against w and record it. On success *result is the node it
 * made or changed. A refusal names the node, its status and what is
 * allowed. `live`: an engine applies it and will act on running jobs;
 * without one, operations on running nodes are refused. An add whose
 * request_id a node already carries records nothing: *result is that node
 * (the same parent and hypothesis, or a refusal).
 */
int op_apply(struct workdir *w, const struct op *op, bool live, uint32_t *result,
	     struct err *e);
/*
 * What retry records: a copy of node src queued under its parent (its
 * priority, or *priority), *copy its id. The engine makes one of a job
 * its worker lost (requeue_lost). -1 with e when the tree is full.
 */
int op_retry_copy(struct workdir *w, uint32_t src, const long *priority, uint32_t *copy,
		  struct err *e);

#endif
