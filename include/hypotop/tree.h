/*
 * tree.h — the hypothesis tree: every experiment hypotop has run or will
 * run, as nodes under the baseline.
 *
 * Owned by the main thread. Nodes are never deleted (SPEC §2: nothing is
 * thrown away); a node's id is its index, so ids also give creation order.
 * The tree knows nothing of files; state.c persists it and queue.c orders
 * the queued nodes.
 */
#ifndef HYPOTOP_TREE_H
#define HYPOTOP_TREE_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stdint.h>

#include "hypotop/util.h"

/* One list of statuses: the enum, their names and their meaning. */
#define NODE_STATUSES(X)                                                        \
	X(QUEUED, "queued", "waiting in the queue for a free worker")           \
	X(PREPARING, "preparing", "worktree and commit being made")             \
	X(BUILDING, "building", "build command running")                        \
	X(RUNNING, "running", "launched on a worker")                           \
	X(ANALYZING, "analyzing", "run finished; analysis in progress")         \
	X(COMPLETED, "completed", "finished and analysed")                      \
	X(FAILED, "failed", "failed; branch, log and analysis kept")            \
	X(CANCELLED, "cancelled", "cancelled by a person")                      \
	X(PAUSED, "paused", "held by a person; skipped until resumed")                   \
	X(WAITING, "waiting", "submitted to a cluster; waiting in its queue to run") \
	X(PRUNED, "pruned", "stopped early: its curve was worse than the best run's")

enum node_status {
#define X(e, name, doc) ST_##e,
	NODE_STATUSES(X)
#undef X
	ST__COUNT
};

const char *status_name(enum node_status s);
const char *status_doc(enum node_status s);
/* -1 when the name is not a status. */
int status_parse(const char *name);
bool status_is_active(enum node_status s); /* preparing .. analyzing */
bool status_is_final(enum node_status s);  /* completed, failed, cancelled, pruned */

#define NODE_NONE UINT32_MAX
/*
 * The last id, n999999. The tree is an array indexed by id, so an id costs
 * its place (about 140 bytes) before anything in its node is checked: a
 * million ids bound what one line of a file can make a load allocate
 * (about 150 MB), ten times the largest tree hypotop is measured with.
 */
#define NODE_ID_MAX 999999u

struct node {
	uint32_t id, parent;
	uint32_t first_child, last_child, next_sibling;
	uint32_t retry_of;  /* NODE_NONE unless a copy made by retry */
	uint32_t repair_of; /* NODE_NONE unless the model's repair of a failed node */
	int32_t heap_idx;   /* position in the run queue, -1 when not in it */
	int priority;       /* lower runs first */
	int seed;           /* added to the config's seed for HYPOTOP_SEED */
	uint8_t status;     /* enum node_status */
	uint8_t resume_to;  /* status to go back to when a paused node resumes */
	int8_t improved;    /* -1 unknown, 0 no, 1 yes */
	bool present;       /* false for an id that was never loaded */
	bool has_metric;
	bool dirty;         /* changed since the per-node files were written */
	int64_t created;    /* ms since the epoch */
	int64_t started, finished; /* of its run; 0 until known */
	double metric;
	char *name;         /* slug */
	char *hypothesis;
	char *change;       /* the proposed change as compact JSON, or NULL */
	char *commit;       /* hex, or NULL until prepared */
	char *worker;
	char *failure_kind, *failure_phase;
	char *request_id;   /* of the add that made it (add --request-id), or NULL */
	/*
	 * The model's calls about it (the plan or repair that proposed it, its
	 * analyses, its repairs): a compact JSON array of the stems of their
	 * log files ("logs/004_plan_n0001"), or NULL for none.
	 */
	char *calls;
};

struct tree {
	struct node *nodes; /* indexed by id */
	uint32_t len, cap;
	uint32_t count;     /* present nodes */
	uint32_t next;      /* no new node gets a smaller id (tree_reserve) */
};

void tree_init(struct tree *t);
void tree_free(struct tree *t);

/* Node id text: "n0001". buf holds at least NODE_ID_LEN bytes. */
#define NODE_ID_LEN 16
void node_id_format(uint32_t id, char *buf);
/*
 * The id s names, spelled exactly as node_id_format writes it (n0012, not
 * n012 or n00012) and at most NODE_ID_MAX; otherwise -1 with e saying why
 * and, for another spelling, the right one.
 */
int node_id_read(const char *s, uint32_t *id, struct err *e);
/* The same, NODE_NONE when the text is not a node id. */
uint32_t node_id_parse(const char *s);

/* A slug from free text: lowercase words joined by '-', cut after a whole
 * word near 32 bytes. slug_ok: 1-48 of [a-z0-9-]. */
char *slugify(const char *text);
bool slug_ok(const char *s);
/*
 * A node's name is a label, shown and searched, and never part of a path
 * (ids name branches and folders): still, so that no script that uses it
 * as one is led astray, it is not empty, "." or "..", and holds no '/'
 * and no control character. Names hypotop makes are slugs.
 */
bool node_name_ok(const char *s);

struct node *tree_get(struct tree *t, uint32_t id);
struct node *tree_find(struct tree *t, const char *id);

/*
 * A fresh node with the next id under parent (NODE_NONE for a root); NULL
 * when the tree is full (NODE_ID_MAX).
 */
struct node *tree_add(struct tree *t, uint32_t parent);
/*
 * Id `id` is taken outside the tree (a branch or folder of a node the
 * workdir lost): tree_add gives only larger ones. Ids are never given
 * twice, so a new node never inherits an old one's branch or run folder.
 */
void tree_reserve(struct tree *t, uint32_t id);

/*
 * Insert or replace the node described by JSON object j (as written by
 * node_to_json). `what` names the source in messages. The parent must
 * already be in the tree and have a smaller id.
 */
struct node *tree_load_node(struct tree *t, const cJSON *j, const char *what, struct err *e);

void node_to_json(const struct node *n, struct buf *b);
/* Whether s is a call's stem: "logs/" NNN "_" kind "_" node, no other '/'. */
bool call_stem_ok(const char *s);
/* Add the stems of the JSON array calls (may be NULL) to n's, those not there yet. */
void node_add_calls(struct node *n, const cJSON *calls);
void node_free_fields(struct node *n);
void node_set_str(char **field, const char *value);

#endif
