/*
 * ssh_int.h — what the files of the ssh executor share (src/exec/ssh.c,
 * the table, polling and the log's mirror; src/exec/ssh_ship.c, a job's
 * code shipped and the job started). Nothing else includes it.
 */
#ifndef HYPOTOP_SSH_INT_H
#define HYPOTOP_SSH_INT_H

#include "hypotop/exec.h"
#include "hypotop/remote.h"
#include "hypotop/sshconn.h"

#define TICK_MS 1000          /* a poll a tick while jobs run */
#define IDLE_POLL_MS 5000     /* without jobs: the heartbeat and the GPUs */
#define LOG_SLICE (256 * 1024) /* of a job's log, a poll */
#define NO_PID_MS 60000       /* launched without a pid for this long: it never ran */
#define HEARTBEAT_TELL_MS 5000 /* the heartbeat told at least this often, for the views */

enum phase {
	SHIP,      /* to be shipped and launched (again, after a lost answer) */
	BUNDLING,  /* its bundle is being made */
	PUTTING,   /* its bundle is being sent */
	LAUNCHING, /* the launch is in flight */
	RUNNING,   /* launched: polled */
	ENDED,     /* told, or to be told, to the engine */
};

struct sjob {
	unsigned long token;
	char *run_dir;          /* local */
	char *remote;           /* its run folder on the worker (remote_run_path) */
	char *commit;
	char *script;           /* the launch, kept until it is answered */
	enum phase phase;
	bool has_build;
	bool full;              /* the worker lacked what a bundle built on: send the whole history */
	bool reading;           /* a read of its log is in flight */
	struct remote_state st; /* the last poll's word */
	long long pid, start_time;  /* as recorded in job.json; 0 not yet */
	long long log_base;     /* the local log's size when it was launched */
	long long mirrored;     /* bytes of the remote log in the local one */
	int64_t no_pid_since;
	int64_t gone_since;     /* Slurm: mono ms when it was first seen ended without an exit code */
	int64_t state_since;    /* Slurm: wall-clock ms when it entered its state; 0 unknown */
	struct job_result end;  /* ENDED */
	bool news;
};

/* What a request's answer needs: the executor, and the job by its token (0: none). */
struct req {
	struct req *next, *prev;
	struct ssh_exec *S;
	unsigned long token;
	unsigned long *tokens; /* a poll's jobs, in the order of the script */
	size_t ntokens;
	char *bundle;          /* local path of a bundle made */
	char **known;          /* what the worker has, for the bundle's thread */
	size_t nknown;
	struct err e;
};

/*
 * A slurm worker's part (src/exec/slurm.c): its options, and whether its
 * controller answers. Settling waits SETTLE_MS after Slurm says a job
 * ended without its exit code in the run folder: on a shared file
 * system the file may show on the login node a little after.
 */
#define SLURM_SETTLE_MS 10000
struct slurm_mode {
	struct remote_slurm o;
	char **args; /* o.args, owned */
	char down[256]; /* why the controller does not answer; "" it does */
};

struct ssh_exec {
	struct executor x;
	struct slurm_mode *slurm; /* NULL: an ssh worker */
	char *name, *workspace, *setup;
	char *source_dir, *project;
	struct sshc *c;
	struct bg *bg;
	void (*changed)(void *ctx);
	int timer;
	unsigned long tokens;
	struct sjob *jobs;
	size_t njobs, capjobs;
	struct req reqs;      /* every request not yet answered: freed with the executor */
	char **known;         /* the commits the worker has, asked once per connection */
	size_t nknown;
	unsigned known_for;   /* the connection (sshc_status.connects) they were asked on */
	bool asking, polling;
	int64_t last_poll;
	int64_t told_heartbeat; /* the heartbeat the views were last told of */
	struct worker_gpu gpu[WORKER_GPUS_MAX];
	size_t ngpu;
};

struct sjob *ssh_job_of(struct ssh_exec *S, unsigned long token);
/* A request's context, kept by the executor until its answer frees it (ssh_req_free). */
struct req *ssh_req_new(struct ssh_exec *S, unsigned long token);
void ssh_req_free(struct req *r);
void ssh_strv_free(char **v, size_t n);
bool ssh_up(struct ssh_exec *S);
/* Ship what waits, and poll when there are jobs or the heartbeat is due. */
void ssh_kick(struct ssh_exec *S);
/*
 * The job could not be started on the worker: failed as kind ("worker",
 * "submit"), saying why in its log.
 */
void ssh_job_refused(struct ssh_exec *S, struct sjob *sj, const char *kind, const char *why);

/* The job's end, recorded in the local run folder when it has codes, and told from the loop. */
void ssh_job_end(struct ssh_exec *S, struct sjob *sj, const struct job_result *r);

/* The executor, its connection made; ops says its kind. */
struct ssh_exec *ssh_exec_new(const struct executor_ops *ops, struct loop *loop,
			      const struct ssh_target *t, const char *workspace,
			      const char *setup, const char *source_dir, exec_news_fn news,
			      void *ctx, void (*changed)(void *ctx));
extern const struct executor_ops ssh_slurm_ops;
struct worker_def;
/* How to reach the ssh worker w, named name in messages. */
struct ssh_target ssh_target_of(const struct worker_def *w, const char *name);

/* slurm.c */
/* Settle a Slurm job the last poll saw ended, or not yet (false). */
bool slurm_settle(struct ssh_exec *S, struct sjob *sj);
/* The poll's answer: the jobs' states and the controller's; true when the latter changed. */
bool slurm_polled(struct ssh_exec *S, const char *out, struct remote_state *st, size_t n);
void slurm_mode_free(struct slurm_mode *m);

/* ssh_ship.c */
void ssh_ship(struct ssh_exec *S, struct sjob *sj);
/* NAME-HASH for a folder of this machine: readable, and one per path. */
char *ssh_name(const char *path);
/* The workdir of a run folder (WORKDIR/runs/ID), named so: two workdirs sharing a worker never meet. */
char *ssh_ns(const char *run_dir);
/* Where a launch's bundle is put on the worker. */
char *ssh_bundle_remote(struct ssh_exec *S, const struct sjob *sj);

#endif
