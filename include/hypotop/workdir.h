/*
 * workdir.h — the durable state of one hypotop run (SPEC §4).
 *
 * Loading is: engine/tree.json (the last checkpoint, with the run counters)
 * + a person's edits of engine/checkpoint.json made since + every event of
 * engine/journal.jsonl newer than the checkpoint. Changes are recorded as
 * journal events (workdir_record), made durable together by
 * workdir_commit, and folded into a new checkpoint every so often.
 *
 * Opened for writing, the workdir holds engine/lock for its whole life;
 * read-only opens never write and retry when they catch a checkpoint
 * half-way. Owned by one thread.
 */
#ifndef HYPOTOP_WORKDIR_H
#define HYPOTOP_WORKDIR_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "hypotop/config.h"
#include "hypotop/journal.h"
#include "hypotop/lock.h"
#include "hypotop/queue.h"
#include "hypotop/tree.h"

#define RUN_STOP_REASON_LEN 512

/* The run's counters, kept with the tree. */
struct run_state {
	long iteration;           /* planning rounds done */
	long rounds_without_gain; /* for patience */
	double llm_usd;
	double gpu_seconds;
	uint32_t best;            /* NODE_NONE until a kept best exists */
	uint32_t best_at_round;   /* the best when the newest round was planned */
	long judged;              /* the newest round patience has judged */
	char instrument[8];       /* llm.instrument: "" not decided, "applied" or "skipped" */
	char source_commit[48];   /* hex: the commit the instrumentation was applied to */
	/*
	 * The planner answered this round with stop while patience or fixed
	 * experiments remained: the round is asked once more, quoting why.
	 */
	bool stop_asked;
	char stop_reason[RUN_STOP_REASON_LEN];
};

struct workdir {
	char *path; /* absolute */
	struct config cfg;
	struct tree tree;
	struct queue queue;
	struct run_state st;
	struct journal journal;
	uint64_t seq;      /* newest event applied or recorded */
	uint64_t tree_seq; /* seq of the checkpoint on disk */
	uint64_t checkpoint_hash; /* of checkpoint.json as written; 0: unknown */
	int lock_fd;       /* -1 when read-only */
	unsigned checkpoint_every;
	int torn_line;     /* a torn last journal line that was ignored */
	size_t torn_bytes;
	/*
	 * What a command that opens the workdir says before anything else (a
	 * folder of runs/ or engine/nodes/ of a node it does not hold), or NULL.
	 */
	char *warning;
	int edits;         /* a person's checkpoint.json edits applied on open */
	pid_t holder;      /* after WD_BUSY: who holds the lock */
	char holder_role[LOCK_ROLE_LEN];
};

enum workdir_mode { WD_READ, WD_WRITE };
enum { WD_OK = 0, WD_BUSY = 1, WD_FAIL = -1 };

/* Events between automatic checkpoints. */
#define WD_CHECKPOINT_EVERY 4096

/* The durable files both workdir.c and workdir_load.c name. */
#define WD_TREE_FILE "engine/tree.json"
#define WD_CHECKPOINT_FILE "engine/checkpoint.json"
#define WD_JOURNAL_FILE "engine/journal.jsonl"

/*
 * Open and load a workdir. WD_WRITE takes engine/lock first and returns
 * WD_BUSY, with w->holder set, when another process holds it; with a role
 * ("engine") it also writes its pid and role there once loaded.
 * Whatever it returns, workdir_close(w) frees what w holds.
 */
int workdir_open(struct workdir *w, const char *path, enum workdir_mode mode,
		 const char *role, struct err *e);
/*
 * workdir_open for writing, waiting up to WD_WAIT_MS while another
 * command holds the lock for its moment. An engine's lock is refused at
 * once (WD_BUSY, w->holder set); a command's held past the wait gives
 * WD_BUSY with w->holder 0.
 */
#define WD_WAIT_MS 10000
int workdir_open_wait(struct workdir *w, const char *path, const char *role, struct err *e);
void workdir_close(struct workdir *w);
/*
 * workdir_open's load step (workdir_load.c), on the workdir it set up:
 * config, tree, checkpoint edits, journal, into w; WD_BUSY when a
 * checkpoint was caught half-way (a reader retries). Nothing else calls it.
 */
int workdir_load(struct workdir *w, struct journal_info *info, struct err *e);
/* Path of a file inside the workdir; caller frees. */
char *workdir_file(const struct workdir *w, const char *rel);

/*
 * The operations a journal event may carry, one list for recording and
 * loading: the queue commands (QUEUE_OPS in ops.h), the engine's steps,
 * and "state" (the run counters). An event of any other is refused.
 */
#define JOURNAL_OPS(X)                                                             \
	X("add") X("pause") X("resume") X("cancel") X("prio") X("retry")          \
	X("instrumented") X("prepare") X("prepared") X("wait") X("build") X("run") \
	X("analyze") X("completed") X("failed") X("cancelled") X("pruned") X("judged") \
	X("repair") X("state")

/* Whether op is one of JOURNAL_OPS. */
bool journal_op_known(const char *op);

/* Record a node's new state as event `op` (not yet durable). */
void workdir_record(struct workdir *w, const char *op, struct node *n);
/*
 * The same for a change that may be lost in a power cut, as the machine's
 * own jobs are: the commit writes it without waiting for the disk.
 */
void workdir_record_light(struct workdir *w, const char *op, struct node *n);
void workdir_record_state(struct workdir *w);
/* Make recorded events durable (one fsync); checkpoint when due. */
int workdir_commit(struct workdir *w, struct err *e);
/*
 * The commit without its fsync: the events are written (a checkpoint made
 * when due), and w->journal.want_sync says whether an fdatasync of the
 * journal is still owed, for a caller that makes it elsewhere.
 */
int workdir_write(struct workdir *w, struct err *e);
/* Write what is recorded now, without waiting for the disk. */
int workdir_flush(struct workdir *w, struct err *e);
/* Write tree.json, checkpoint.json and state.json, then empty the journal. */
int workdir_checkpoint(struct workdir *w, struct err *e);
/* engine/engine_state.json: running | paused | interrupted | stopped. */
int workdir_set_engine_state(struct workdir *w, const char *state, struct err *e);
/* The state it holds ("created" by hypotop init); "" when unknown. */
void workdir_engine_state(struct workdir *w, char *state, size_t size);

/*
 * Create a new workdir at path from a validated config document, with the
 * baseline node at commit. Built in a temp folder and renamed into place.
 */
int workdir_create(const char *path, const cJSON *config, const char *commit,
		   struct err *e);

/*
 * The best node the keep rule recorded; where none is, the best completed
 * run of the baseline (a child that ended before the baseline is judged
 * only against it), or NULL.
 */
struct node *workdir_best(struct workdir *w);

#endif
