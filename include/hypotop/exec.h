/*
 * exec.h — executors: where a run's commands run (SPEC §6). One table of
 * operations per kind of worker (local, ssh, slurm), each in src/exec/,
 * and one way their news reaches the engine: exec_news_fn, called from
 * the event loop. The local one is src/exec/local.c.
 *
 * A job lives in its run folder, runs/<id>/: log, job.json (hypotop's
 * account of the job, with the pid and start time of its process group's
 * leader, written before the job runs), build_exit and exit_code
 * (written by the job's supervisor when each command ends). The outcome
 * therefore survives hypotop's death, and a restarted hypotop
 * re-attaches to the job by its run folder alone. A pid is trusted only
 * together with its process start time, so a reused pid is never
 * mistaken for the job.
 */
#ifndef HYPOTOP_EXEC_H
#define HYPOTOP_EXEC_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <sys/types.h>

#include "hypotop/loop.h"
#include "hypotop/util.h"

struct job_spec {
	const char *run_dir;  /* absolute */
	const char *cwd;      /* the node's work tree */
	const char *build;    /* NULL: none */
	const char *launch;
	const char *const *env; /* "NAME=VALUE" strings, NULL-terminated */
	const char *const *unset; /* names the job must not inherit (API keys), NULL-terminated */
	const char *node, *commit;
	const char *worker;   /* its name in workers.json, recorded in job.json */
	int gpu;              /* the CUDA device given to it; -1 none */
};

/*
 * The engine's handle on a job. The token names it to its executor, in
 * calls and in news of its end; it is never reused by one executor.
 * Whatever else an executor keeps of a job (a pid, a connection, a
 * Slurm job id) is its own, found by the token.
 */
struct job {
	char *run_dir;
	unsigned long token;
	bool paused;
	bool has_build; /* a build command runs first */
};

enum job_state {
	JOB_RUNNING,
	JOB_DONE,        /* exit code known */
	JOB_NOT_STARTED, /* never recorded, so never run: safe to launch again */
	JOB_LOST,        /* ended without recording an exit code (killed) */
};

struct job_result {
	enum job_state state;
	int exit_code;  /* JOB_DONE */
	int build_code; /* -1: no build ran */
	bool building;  /* JOB_RUNNING: still in the build command */
	bool unknown;   /* JOB_RUNNING: its worker is out of reach; last known running */
	bool waiting;   /* JOB_RUNNING: submitted, waiting in its cluster's queue: not run yet */
	/*
	 * JOB_DONE or JOB_LOST: the executor's own word on why it failed
	 * (a cluster cancelled it, it was refused at submit), which comes
	 * before the exit code; "" none.
	 */
	char kind[32];
	char why[256];
};

/*
 * What a worker is doing, for engine/workers.json, `hypotop workers` and
 * the workers pane (workerstat.h).
 */
#define WORKER_GPUS_MAX 16
struct worker_gpu {
	int index;
	double util, mem_used, mem_total, temp; /* %, MiB, MiB, °C; -1 unknown */
};

enum worker_state {
	WORKER_UP,
	WORKER_CONNECTING,
	WORKER_DOWN,     /* reason says why */
	WORKER_DISABLED, /* by a person: no new jobs; its running ones are watched */
};

struct worker_status {
	enum worker_state state;
	char reason[512];
	int64_t heartbeat; /* wall-clock ms of the last answer from the worker; 0 none */
	struct worker_gpu gpu[WORKER_GPUS_MAX];
	size_t ngpu;
};

/* What a cluster says of a job (Slurm), for the workers view; id "" when it says nothing. */
struct job_info {
	char id[24];
	char state[24];  /* "PENDING", "RUNNING", ... */
	char reason[64]; /* why it waits */
	char where[64];  /* the node it runs on */
	int64_t since;   /* wall-clock ms when it entered that state; 0 unknown */
};

struct executor;

/*
 * News from an executor, on the main thread, from the event loop: look
 * at the job named by token now, for it has ended (check() says how).
 * Never called from inside the executor's own operations, so it may
 * launch, signal and release jobs. The one way the engine hears of a
 * job's end, whatever kind of worker ran it; the engine also looks at
 * its jobs on a timer, for their logs and health.
 */
typedef void (*exec_news_fn)(unsigned long token, void *ctx);

struct executor_ops {
	const char *kind;
	/* Start s's job; j is filled in. The job's end is told by news. */
	int (*launch)(struct executor *x, const struct job_spec *s, struct job *j,
		      struct err *e);
	/* Re-attach, after a restart, to the job of a run folder from its job.json alone. */
	int (*attach)(struct executor *x, const char *run_dir, struct job *j, struct err *e);
	void (*check)(struct executor *x, struct job *j, struct job_result *r);
	/* Signal the job's whole process group (SIGTERM, SIGKILL, SIGSTOP, SIGCONT). */
	int (*signal)(struct executor *x, struct job *j, int sig);
	/* Forget the job (it keeps running if it still does); no news of it after. */
	void (*release)(struct executor *x, struct job *j);
	/* Jobs still running keep running. */
	void (*free)(struct executor *x);
	/* How its worker is (NULL: always up, no GPU readings). */
	void (*status)(struct executor *x, struct worker_status *st);
	/* What its cluster says of the job (NULL: nothing). */
	void (*info)(struct executor *x, const struct job *j, struct job_info *ji);
};

/* What every executor starts with; each kind's own state follows it. */
struct executor {
	const struct executor_ops *ops;
	struct loop *loop; /* where it watches its fds, and wakes with news */
	exec_news_fn news;
	void *news_ctx;
};

/* This machine's jobs, under one supervisor process (src/exec/local.c). */
struct executor *local_executor_new(struct loop *loop, exec_news_fn news, void *ctx);
/* Its status carries this machine's GPU readings from now on (gpupoll.h). */
void local_executor_watch_gpus(struct executor *x);

struct worker_def;
/*
 * The jobs of one ssh worker (src/exec/ssh.c), over one connection
 * (sshconn.h). source_dir: the repository whose commits it ships.
 * The executor's status changes are told by calling changed (may be NULL)
 * from the loop.
 */
struct executor *ssh_executor_new(struct loop *loop, const struct worker_def *w,
				  const char *source_dir, exec_news_fn news, void *ctx,
				  void (*changed)(void *ctx));
/* An ssh worker's host moved (Vast.ai): reconnect to host:port (sshc_move). */
void ssh_executor_move(struct executor *x, const char *host, int port);
/*
 * The jobs of one slurm worker: the ssh executor's, submitted with
 * sbatch (remote.h), its Slurm commands run on the login node that the
 * ssh worker via reaches, or on this machine when via is NULL.
 * job_timeout_s: each job's --time (0: none).
 */
struct executor *slurm_executor_new(struct loop *loop, const struct worker_def *w,
				    const struct worker_def *via, long job_timeout_s,
				    const char *source_dir, exec_news_fn news, void *ctx,
				    void (*changed)(void *ctx));

static inline int exec_launch(struct executor *x, const struct job_spec *s, struct job *j,
			      struct err *e)
{
	return x->ops->launch(x, s, j, e);
}

static inline int exec_attach(struct executor *x, const char *run_dir, struct job *j,
			      struct err *e)
{
	return x->ops->attach(x, run_dir, j, e);
}

static inline void exec_check(struct executor *x, struct job *j, struct job_result *r)
{
	x->ops->check(x, j, r);
}

static inline int exec_signal(struct executor *x, struct job *j, int sig)
{
	return x->ops->signal(x, j, sig);
}

static inline void exec_release(struct executor *x, struct job *j)
{
	x->ops->release(x, j);
}

static inline void exec_status(struct executor *x, struct worker_status *st)
{
	memset(st, 0, sizeof *st);
	if (x->ops->status)
		x->ops->status(x, st);
}

static inline void exec_info(struct executor *x, const struct job *j, struct job_info *ji)
{
	memset(ji, 0, sizeof *ji);
	if (x->ops->info)
		x->ops->info(x, j, ji);
}

static inline void exec_free(struct executor *x)
{
	if (x)
		x->ops->free(x);
}

#endif
