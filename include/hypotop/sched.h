/*
 * sched.h — the experiment lifecycle (SPEC §5): prepare → build → launch →
 * watch → collect → analyse → plan, on the engine's event loop.
 *
 * The scheduler owns the workers of workers.json, each with its executor
 * and its run slots (this machine's: max_concurrency, or one per GPU;
 * another's: its slots, or one per GPU it lists), the git thread and the
 * planner. Every status change is recorded in the
 * workdir's journal, and made durable before the step that depends on it
 * (a job is never launched before its "running" is on disk), so that a
 * restart re-attaches to every job and runs none twice. Main thread only.
 */
#ifndef HYPOTOP_SCHED_H
#define HYPOTOP_SCHED_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "hypotop/bg.h"
#include "hypotop/calls.h"
#include "hypotop/exec.h"
#include "hypotop/health.h"
#include "hypotop/lines.h"
#include "hypotop/loop.h"
#include "hypotop/metrics.h"
#include "hypotop/noise.h"
#include "hypotop/planner.h"
#include "hypotop/workdir.h"

#define SCHED_TAIL_LINES 40
/* A log line without an end is cut past this, not held without bound. */
#define SCHED_LOG_LINE_MAX (1 << 16)

struct slot {
	bool used;
	uint32_t node;
	int worker;           /* its worker: an index of sched.workers */
	int gpu;              /* CUDA device of this slot, -1 for none */
	bool unknown;         /* its worker is out of reach: the job was last known running */
	bool waiting;         /* submitted, waiting in its cluster's queue: not run yet */
	int tree;             /* the work tree its node runs in (worktrees/wtN); -1 none */
	bool preparing;       /* the git thread is making the commit and work tree */
	bool have_job;
	struct job job;
	struct metrics metrics;
	int log_fd;
	bool log_waits;       /* its log could not be opened for want of descriptors */
	off_t log_off;
	bool log_more;        /* the last read left some unread: read on soon */
	uint64_t log_passed;  /* bytes of the log passed over, unread (watch.c) */
	off_t log_end;        /* the job has ended: its log is read to here, then collected; -1 */
	struct lines log_lines; /* holds a log line still being written */
	char *tail[SCHED_TAIL_LINES];
	size_t tail_next;
	int64_t started, last_progress;
	int64_t paused_at, paused_ms; /* time the job spent stopped by a person */
	double last_step;
	const char *kill_reason; /* set when hypotop stops the job itself */
	bool protect_seen;       /* the ended job's work tree was checked (protect.c) */
	char *tampered;          /* what it changed of the protected files, or NULL */
	int64_t kill_at;         /* SIGKILL after this (monotonic ms); 0 none */
	struct health_run health; /* what the health rules keep of the job (health.c) */
	/* Early stopping by curve (prune.c). */
	bool prune_any;          /* a point of the series was looked at */
	double prune_seen;       /* the step of the newest one */
	long prune_strikes;      /* points in a row worse than the best run's */
	char *prune_why;         /* why it was pruned, or NULL */
};

typedef void (*sched_say_fn)(void *ctx, const char *msg);

/*
 * A step that ran out of file descriptors (EMFILE, ENFILE) fails no node:
 * it waits and is tried again this much later (sched_defer, lifecycle.h).
 */
#define SCHED_FDS_RETRY_MS 1000
struct deferred;
struct late_file;

/*
 * A worker of workers.json as the engine runs it (fleet.c). One executor
 * each; a worker taken out of workers.json while it runs jobs stays,
 * gone, until they end.
 */
struct sched_worker {
	struct sched *s;
	char *name, *kind;
	char *def;             /* what it was made from, to tell a changed entry on reload */
	struct executor *exec; /* NULL: a kind that runs nothing yet (why_not says so) */
	const char *why_not;
	bool enabled;          /* false: no new jobs; its running ones are watched */
	bool gone;             /* no longer in workers.json */
	bool said_down;        /* its going down was said; its coming back will be */
	long vast_id;          /* a rented Vast.ai instance (vastheal.c); 0: none */
	double dph, rented_at, released_at; /* what it costs (workers.h) */
	int64_t idle_since;    /* monotonic ms it has had no job, nothing queued; 0: busy */
	bool releasing;        /* its instance being destroyed (vast.idle_release_minutes) */
	size_t ngpus;
	bool healing;          /* its instance asked after, on s->vast */
	int64_t heal_at;       /* monotonic ms: not asked again before */
};

struct sched {
	struct workdir *wd;
	struct loop *loop;
	struct bg *git;
	struct bg *llm;      /* the planner's thread: analyses and plans */
	struct sched_worker **workers; /* where jobs run; each slot names one */
	size_t nworkers;
	bool workers_dirty;    /* engine/workers.json is behind (fleet.c) */
	int64_t workers_at;    /* when it was last written (monotonic ms) */
	struct planner *planner;
	int analysing;       /* analyses in flight */
	bool planning;       /* a planning round in flight */
	bool instrumenting;  /* llm.instrument asked or being committed (instrument.c) */
	/*
	 * The planner's requests in flight, oldest first, as the status bar
	 * and engine/calls.json show them: copied from the planner thread
	 * whenever one starts or ends (and filled from that file by an
	 * attached UI).
	 */
	struct call_flight flights[CALL_FLIGHTS_MAX];
	size_t nflights;
	bool planner_stopped; /* the planner said stop, or answered unusably */
	int64_t plan_retry_at; /* the model was unavailable: plan again then (monotonic ms) */
	bool reported_done;
	bool reports_dirty;    /* master_table.tsv and summary.md are behind */
	int64_t reports_at;    /* when they were last written (monotonic ms) */
	struct slot *slots;
	size_t nslots;
	/*
	 * Nodes prepared ahead, while every slot is busy, so that a slot that
	 * frees launches the next job at once: at most nslots, in queue order.
	 */
	struct ahead {
		uint32_t node;
		int tree;
		bool ready; /* its commit and work tree are made */
	} *ahead;
	size_t nahead;
	bool *tree_used; /* the work trees, two for every slot */
	size_t ntrees;
	/*
	 * Spent on reports (hypotop report) before this engine started; none
	 * can be asked of the model while it runs.
	 */
	double report_usd;
	bool usd_unknown; /* some call before this engine has an unknown cost */
	/* The noise and the baseline's runs (keep.c): counted again after a node ends. */
	bool noise_known;
	struct noise noise;
	struct runs base;
	uint64_t reports_seq; /* the workdir's seq when the reports were last written */
	/* The pictures (pictures_step.c): drawn on a thread of their own, dot being slow. */
	struct bg *pictures;
	char *budget_why;    /* why no new job starts (budget.usd, budget.gpu_hours); NULL: none */
	bool renting;        /* vast.autorent: a rental in flight (autorent.c) */
	int64_t autorent_at; /* monotonic ms: no rental before (after a failed one) */
	struct bg *vast;     /* Vast.ai questions of workers that went down (vastheal.c); NULL: none yet */
	int pictures_busy;       /* drawings submitted and not done */
	uint64_t pictures_seq;   /* the workdir's seq they were last drawn from */
	int64_t pictures_at;     /* when (monotonic ms), or when the engine started */
	bool pictures_armed;     /* the tick is set for the next drawing */
	char *pictures_dot, *pictures_progress; /* the texts last written, NULL none */
	bool said_no_dot, said_pictures_err;
	int timer_fd;
	struct deferred *deferred; /* steps waiting for descriptors, in no order */
	size_t ndeferred;
	struct late_file *late;    /* files to write again, for the same want */
	size_t nlate;
	int64_t fds_short_at;      /* when a step last lacked one (monotonic ms); 0 never */
	bool paused;   /* a person paused the engine: no launches, no planning */
	bool stopping; /* SIGINT/SIGTERM: no launches */
	bool done;     /* nothing queued, running or left to plan */
	char *stop_reason;
	cJSON *base_params;
	cJSON *protected; /* engine/protect.json as recorded (protect.c); NULL: none */
	struct prune_ref *prune; /* the curve runs are pruned against (prune.c); NULL none */
	sched_say_fn say;
	void *say_ctx;
	struct alerts *alerts; /* where the health rules' firings go (alerts.c) */
	bool said_no_gpu;      /* the GPU rules are off for want of figures: said once */
};

/* What the rented workers have cost by now: dollars and GPU-hours (fleet.c). */
void sched_rent_spend(struct sched *s, double *usd, double *gpu_hours);

int sched_init(struct sched *s, struct workdir *wd, struct loop *loop, sched_say_fn say,
	       void *say_ctx, struct err *e);
void sched_free(struct sched *s);
/*
 * Re-attach to jobs recorded as running, then start work. after_crash: the
 * last engine did not stop cleanly (see vcs_branches_restore).
 */
void sched_start(struct sched *s, bool after_crash);
/* Once per loop round, before the commit: launch and plan what can be. */
void sched_step(struct sched *s);
/*
 * Read workers.json again (a control request): new workers get slots and
 * an executor, removed ones keep their running jobs until they end, and a
 * disabled one takes no new job. Refused with e (file and line) when the
 * file is invalid; the workers stay as they were.
 */
int sched_workers_reload(struct sched *s, struct err *e);
/* A person's operation on a node that may be running (pause, resume, cancel). */
void sched_node_changed(struct sched *s, uint32_t node);
/*
 * A step (what) found no file descriptor free (why: the error): said once
 * a spell, a spell being over after a minute without one.
 */
void sched_fds_short(struct sched *s, const char *what, const char *why);

#endif
