/*
 * lifecycle.h — the steps of an experiment's life (SPEC §5), one file of
 * src/engine/ each, and the scheduler's services they share. A node goes
 *
 *	queued → prepare → launch → watch (health) → collect → judge
 *
 * and its end may start a planning round, a repair, or (once, before the
 * baseline) the instrumentation. A step calls the services and the entry
 * point of the step after it, nothing else of another step's. Nothing
 * outside src/engine/ includes this: the engine's face is sched.h.
 */
#ifndef HYPOTOP_LIFECYCLE_H
#define HYPOTOP_LIFECYCLE_H

#include "hypotop/sched.h"

/* ---- the scheduler's services (sched.c), for every step ------------------- */

void sched_say(struct sched *s, const char *fmt, ...) PRINTF_LIKE(2, 3);
/*
 * An event that is no health rule's (a Vast.ai machine rented, released,
 * moved or gone) as an alert: its line in logs/alerts.jsonl with value
 * (a price in $/h, or NAN), the webhook when critical, and said (the log,
 * and the bar unless info). health.c.
 */
void sched_alert_event(struct sched *s, const char *event, const char *worker, double value,
		       enum health_severity sev, const char *fmt, ...) PRINTF_LIKE(6, 7);
/* <workdir>/<dir>/<node>[/<file>]; caller frees. */
char *sched_path(struct sched *s, const char *dir, uint32_t id, const char *file);
void sched_record(struct sched *s, const char *op, struct node *n);
/* For the steps to a local run: written, but not waited for on the disk. */
void sched_record_light(struct sched *s, const char *op, struct node *n);
int sched_commit(struct sched *s);
/* The tick that watches running jobs, the planner's retry and deferred steps are due. */
void sched_timer_arm(struct sched *s);
/*
 * Run run(s, arg) SCHED_FDS_RETRY_MS from now, on the main thread, from
 * the tick; drop(arg) (may be NULL) frees arg if the engine stops first.
 * For a step that met a want of descriptors: why (its error) is said
 * through sched_fds_short; NULL for one that only waits on.
 */
typedef void (*sched_step_fn)(struct sched *s, void *arg);
void sched_defer(struct sched *s, const char *what, const char *why, sched_step_fn run,
		 void (*drop)(void *), void *arg);
/* The deferred steps now due (the tick); when the next is (mono_ms(), 0 none). */
void sched_run_deferred(struct sched *s);
int64_t sched_deferred_due(struct sched *s);
/* Drop the deferred steps, and try the waiting files once more (sched_free). */
void sched_defer_free(struct sched *s);
/*
 * Write a whole file of the workdir: durable (fs_write_atomic) or a view
 * of what the journal or a run's log hold (fs_write_view). Without a
 * descriptor to spare it is written later, its newest text; another
 * failure is said as a warning. 0 when written now.
 */
int sched_write(struct sched *s, const char *path, const char *text, size_t len, mode_t mode,
		bool durable);
struct slot *sched_slot_of(struct sched *s, uint32_t node);
void sched_slot_release(struct sched *s, struct slot *sl);
/* A free slot (of CUDA device gpu; -1 any) on a worker that takes new jobs now. */
struct slot *sched_free_slot(struct sched *s, int gpu);
struct slot *sched_slot_take(struct sched *s, struct slot *sl, uint32_t node);
/*
 * How many runs can go at once (the slots of the workers that take new
 * jobs, and those running on others), and how many of those would idle
 * now: not running, preparing or claimed by a node prepared ahead or
 * waiting in the queue.
 */
size_t sched_capacity(struct sched *s);
size_t sched_idle_capacity(struct sched *s);

/* ---- workers (fleet.c): workers.json's workers, their executors and slots -- */

/* Make the workers of workers.json and their slots (sched_init). */
int fleet_init(struct sched *s, struct err *e);
/* Their executors freed; the jobs still running keep running. */
void fleet_free(struct sched *s);
/* The executor of sl's worker. */
struct executor *sched_exec(struct sched *s, const struct slot *sl);
/* The slot's worker queues its jobs (Slurm): a job launched there waits before it runs. */
bool sched_queues(struct sched *s, const struct slot *sl);
/* Whether sl's worker takes new jobs: in workers.json, enabled and up. */
bool sched_slot_open(struct sched *s, const struct slot *sl);
/* The worker named name (not one gone from workers.json), or -1. */
int sched_worker_find(struct sched *s, const char *name);
/*
 * A slot of worker (of CUDA device gpu, else any) for a job found running
 * after a restart: a free one, or one more past the worker's count.
 */
struct slot *sched_worker_slot(struct sched *s, int worker, int gpu);
/*
 * A job after a restart on a worker gone from workers.json, whose run
 * was on this machine (job.json "executor"): a worker of its own, gone,
 * that watches it until it ends. -1 for another kind.
 */
int sched_worker_gone_local(struct sched *s, const char *name);
/* What node->worker says of sl: "NAME", or "NAME:gpuN". */
void sched_worker_label(struct sched *s, const struct slot *sl, char *out, size_t size);
/* engine/workers.json is behind: written soon (at most a few times a second). */
void sched_workers_changed(struct sched *s);
/* Write it when due (each step) or now, and when that is due (sched_timer_arm; 0 none). */
void sched_workers_publish(struct sched *s, bool now);
int64_t sched_workers_due(struct sched *s);
/* Drop the slots and workers gone from workers.json whose jobs have ended. */
void sched_workers_sweep(struct sched *s);
/* w's entry of workers.json changed by the engine itself (vastheal.c): w is made from it now. */
void sched_worker_redef(struct sched *s, struct sched_worker *w);

/* ---- budget (budget.c) ---------------------------------------------------- */

/* Why no new job may start now (a budget cap reached), or NULL; s->budget_why keeps it. */
const char *sched_budget_stop(struct sched *s);

/* ---- rented workers (vastheal.c) ------------------------------------------ */

/*
 * Worker w, a Vast.ai instance, is out of reach: its instance is asked
 * after on a thread of its own. Moved (a restart gives it another SSH
 * host or port): workers.json and the connection take the new address.
 * Gone: the worker is disabled. At most once every VAST_HEAL_MS a worker.
 */
void vast_heal(struct sched *s, struct sched_worker *w);
#define VAST_HEAL_MS 10000
/*
 * vast.idle_release_minutes: a rented worker with no job that long while
 * nothing is queued is released (its instance destroyed on the s->vast
 * thread, the worker disabled with its released_at). Each step.
 */
void vast_idle_step(struct sched *s);
/* vast.autorent (autorent.c): rent a machine when the queue waits for a slot. Each step. */
void vast_autorent_step(struct sched *s);

/* ---- prepare (prepare.c): from the queue to a commit and a work tree ------ */

/* worktrees/wtN: the path of a work tree; take one, claim a given one, give it back. */
char *sched_tree_path(struct sched *s, int tree);
int sched_tree_take(struct sched *s);
void sched_tree_claim(struct sched *s, int tree);
void sched_tree_free(struct sched *s, int tree);
/* Remove the work trees no node has, an earlier engine's too: the work is done (git idle). */
void sched_trees_drop(struct sched *s);
/*
 * What of a change goes into the source tree: a params change without the
 * params passed as {NAME} in launch, which are in the command instead.
 * Any thread; caller frees.
 */
char *sched_file_change(const char *launch, const char *change);
/* Make node's commit and check it out in tree, on the git thread; then launch it. */
void sched_prepare(struct sched *s, uint32_t node, int tree);
/* Make again, on the git thread, the branches of ended and running nodes a crash lost. */
void sched_branches_restore(struct sched *s);
/* Prepare node ahead of a free slot. */
void sched_ahead_add(struct sched *s, uint32_t node);
/* A person's operation on a node prepared ahead (cancel drops it). */
void sched_ahead_changed(struct sched *s, uint32_t node);
/* Launch what is ready, then take nodes from the queue while slots and trees allow. */
void sched_dispatch(struct sched *s);

/* ---- launch (sched.c): the job handed to the executor --------------------- */

void sched_launch(struct sched *s, struct slot *sl);
/*
 * The launch command of node id: config.json's launch with each {NAME}
 * filled in from sched_node_params(). NULL with e set when a value is
 * missing. Caller frees.
 */
char *sched_launch_command(struct sched *s, uint32_t id, struct err *e);

/* ---- protect (protect.c): the files no change may touch ------------------ */

/*
 * At start: s->protected, the blob ids of the files protect matches at the
 * baseline's commit, from engine/protect.json, or recorded there again
 * when protect (or that commit) is not what it was recorded for.
 */
void protect_record(struct sched *s);
/*
 * Whether the work tree of sl has the baseline's protected files, as
 * protect_check() says (added: new files count, before a run): 0 (also
 * when nothing is protected); 1 when not, with *why naming the files and
 * what to do (the caller's); -1 with e set.
 */
int protect_guard(struct sched *s, struct slot *sl, bool added, char **why, struct err *e);

/*
 * The protected files that commit `to` adds or changes against commit
 * `from`, as "a.py, b.py", or NULL for none (also when git cannot say: the
 * checks before a launch still hold). Any thread, as vcs.h allows.
 */
char *protect_touched(const struct config *c, const char *from, const char *to);

/* ---- watch (watch.c): a running job --------------------------------------- */

/*
 * Read what its log gained (tail, metrics, progress), a slice at most;
 * true when it grew. More left: sl->log_more, and the tick comes at once.
 */
bool sched_read_log(struct sched *s, struct slot *sl);
/* The job has ended: read its log to the end, the last line without a newline too. */
void sched_finish_log(struct sched *s, struct slot *sl);
/* The last SCHED_TAIL_LINES lines of the log; caller frees. */
char *sched_tail_text(struct slot *sl);
void sched_job_signal(struct sched *s, struct slot *sl, int sig);
/* Stop the job: SIGTERM, then SIGKILL after a grace period (health_check sends it). */
void sched_kill(struct sched *s, struct slot *sl, const char *reason);
/* Read its log, check its health; collect it when it has ended. */
void sched_watch(struct sched *s, struct slot *sl);
/* An executor's news of a job's end (exec_news_fn; ctx: its struct sched_worker). */
void sched_job_news(unsigned long token, void *ctx);
/* The tick, four times a second while jobs run, at once while a log has more (sched_timer_arm). */
void sched_watch_start(struct sched *s);

/* ---- health (health.c): the rules that judge a running job ---------------- */

/*
 * Judge the job of sl (health_rules.h; job_timeout): what its lines fired,
 * the GPU rules, the patrol when due; see to a stop under way.
 */
void health_check(struct sched *s, struct slot *sl);
/* Its worker is out of reach: process_alive counts the patrols it stays so. */
void health_unreachable(struct sched *s, struct slot *sl);

/* ---- prune (prune.c): early stopping by curve ------------------------------ */

/*
 * Stop the job of sl as pruned when its prune.series has been worse than
 * the best completed run's curve at the same step, by more than the
 * margin, for prune.patience points in a row; its reason goes to
 * sl->prune_why and runs/<id>/pruned.json.
 */
void prune_check(struct sched *s, struct slot *sl);
/* The reference curve's memory (sched_free). */
void prune_free(struct sched *s);
/* The reason runs/<id>/pruned.json gives, or NULL; caller frees. */
char *prune_reason(struct sched *s, uint32_t id);
/* Runs pruned, and the run time they were estimated to save (summary.md). */
void prune_summary(struct sched *s, struct buf *b);

/* ---- collect (collect.c): the end of a run, its analysis, the reports ----- */

void sched_collect(struct sched *s, struct slot *sl, const struct job_result *r);
/* The node of sl failed in phase with kind; frees the slot. */
void sched_fail(struct sched *s, struct slot *sl, const char *kind, const char *phase,
		const char *why);
/*
 * Its worker lost the job of sl without an exit code: failed worker_lost,
 * and a copy queued while the losses of its line are within requeue_lost.
 */
void sched_lost(struct sched *s, struct slot *sl, const char *why);
/* After a restart: redo the analysis of a node recorded as analysing. */
void sched_reanalyse(struct sched *s, struct slot *sl);
/* master_table.tsv and summary.md. */
void sched_write_reports(struct sched *s);
/*
 * hypothesis_tree.svg and progress.svg (pictures.h), drawn on the
 * pictures' thread when the workdir changed: at most every
 * SCHED_PICTURES_MS, or now (the work is over, the engine stops). Each
 * step; and when the next is due, for sched_timer_arm (mono_ms(), 0 none).
 */
#define SCHED_PICTURES_MS 10000
void sched_pictures_step(struct sched *s, bool now);
int64_t sched_pictures_due(struct sched *s);
/*
 * The keep rule has judged n after its analysis was written: on its
 * repeats, or against the baseline's result that came after its own. A
 * section headed `heading` saying `what` (the numbers) and whether it
 * improved goes into its analysis.md, and its result.json is rewritten.
 */
void sched_note_judged(struct sched *s, struct node *n, const char *heading, const char *what,
		       bool by_repeats);

/* ---- judge (keep.c): the noise-aware keep rule ---------------------------- */

bool sched_goal_max(struct sched *s);
/* How much better a is than b under the goal (positive: better). */
double sched_gain(struct sched *s, double a, double b);
/* The runs of n's commit (noise.h), the baseline's counted once a change. */
void sched_runs(struct sched *s, const struct node *n, struct runs *r);
/* Their mean: what n is judged on and compared with. */
double sched_score(struct sched *s, const struct node *n);
/* The noise σ pooled over every group of repeats (noise.h); 0 while unknown. */
const struct noise *sched_noise(struct sched *s);
double sched_noise_sigma(struct sched *s);
/*
 * What the keep rule makes of n, which has ended (ok: completed), as
 * things stand: the call its analysis is told, and sched_judge acts on.
 */
enum keep_call sched_keep_call(struct sched *s, const struct node *n, bool ok);
/* n has ended: decide what it changes about the best, on call. May add nodes. */
void sched_judge(struct sched *s, struct node *n, bool ok, enum keep_call call);
/* Judge the children that ended before the baseline had a result, once it has one. */
void sched_judge_waiting(struct sched *s);

/* ---- plan (plan.c): a planning round -------------------------------------- */

/* Start a planning round (1), or say why none can start (0, s->stop_reason). */
int sched_plan(struct sched *s);
/*
 * The params of node id: the baseline's (the param file's, and the
 * "default" of each one passed as {NAME} in launch), then each ancestor's
 * "params" change from the root down. Caller deletes.
 */
cJSON *sched_node_params(struct sched *s, uint32_t id);

/* ---- vet (vet.c): a round's proposals checked before they are queued ---- */

/*
 * What the check of the proposals of a round under parent needs of the
 * tree, copied now (main thread); the check itself runs on the planner
 * thread, as the request's hook (planner.h, struct plan_vet). A proposal
 * that names its "parent" is checked against that node, which must be a
 * completed one.
 */
struct vet *vet_new(struct sched *s, uint32_t parent);
const struct plan_vet *vet_hook(struct vet *v);
/*
 * Check plan's proposals afresh, in order (planner thread), and take out
 * those refused: *dropped gets "NAME dropped: why" for each (caller frees
 * them and it). Returns how many were dropped.
 */
size_t vet_filter(struct vet *v, cJSON *plan, char ***dropped);
void vet_free(struct vet *v);

/* ---- place (place.c): where a planner call about a node runs --------------- */

struct place {
	struct planner_place pl; /* what the request points to */
	const char *repo;
	char *name, *path;       /* the checkout, when one was made */
};
/*
 * On the planner thread, before a call about node at commit: for the
 * command provider, a checkout of commit under workdir; for others
 * nothing. -1 with e set when the checkout cannot be made.
 */
int place_open(struct place *p, const struct config *cfg, const char *workdir,
	       const char *node, const char *commit, struct err *e);
/* After the call: the checkout removed (one left behind is replaced later). */
void place_close(struct place *p);
/* Before any call: the checkouts (and their branches) an earlier engine left. */
void place_sweep(const struct config *cfg, const char *workdir);

/* ---- repair (repair.c): runs that die at start-up ------------------------- */

/* The sources a model is shown. */
struct sources {
	struct source_file *v; /* paths and texts owned */
	size_t n;
	size_t more;           /* in scope, but past the most that are listed */
};
void sources_gather(const char *repo, const char *commit, const char *const *hints,
		    size_t nhints, struct sources *out);
/*
 * The sources a plan is shown at commit (any thread): the files named in
 * launch and build, the param file, the files changed from base to commit
 * (base NULL: none) and those llm.context matches. Whole while their text
 * fits llm.context_bytes, the changed ones first; the rest named with
 * their sizes. Never a binary file, nor a data file no glob asked for.
 */
void sources_scope(const struct config *c, const char *base, const char *commit,
		   struct sources *out);
void sources_free(struct sources *s);
struct repair_task;
/*
 * A repair task for n, which failed with kind after its log gave m, or NULL
 * (with the reason said where it helps) when it gets none.
 */
struct repair_task *repair_begin(struct sched *s, struct node *n, const struct metrics *m,
				 const char *kind, const char *why, const char *tail);
/* On the planner thread; nothing for NULL. */
void repair_work(struct repair_task *t, struct planner *p);
/*
 * On the main thread, once n is recorded as failed: the fix queued as its
 * child, and what happened added to its analysis text. Nothing for NULL.
 */
void repair_done(struct sched *s, struct repair_task *t, struct buf *analysis);
void repair_free(struct repair_task *t);
/* Link the repair's model calls from n, the failed node (before it is recorded). */
void repair_note_calls(const struct repair_task *t, struct node *n);
/* Whether a repair of node id (or of one of its repairs) has completed. */
bool repair_succeeded(struct tree *t, uint32_t id);

/* ---- instrument (instrument.c): llm.instrument, once, before the baseline - */

/* Whether the root nodes wait for the instrumentation. */
bool instrument_holds(struct sched *s);
/* Ask for it when it is due (once a loop round, before dispatch). */
void instrument_step(struct sched *s);

#endif
