/*
 * exec.h — executors: where a run's commands run (SPEC §6). One table of
 * operations per kind of worker; the local one is src/exec/local.c.
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
#include <sys/types.h>

#include "hypotop/util.h"

struct job_spec {
	const char *run_dir;  /* absolute */
	const char *cwd;      /* the node's work tree */
	const char *build;    /* NULL: none */
	const char *launch;
	const char *const *env; /* "NAME=VALUE" strings, NULL-terminated */
	const char *const *unset; /* names the job must not inherit (API keys), NULL-terminated */
	const char *node, *commit;
};

struct job {
	char *run_dir;
	pid_t pid;                     /* the leader of the job's process group; 0 not yet known */
	unsigned long long start_time; /* /proc/PID/stat starttime; 0 unknown */
	int pidfd;                     /* readable when a re-attached job exits; -1 none */
	bool ours;                     /* started by this process's supervisor, which tells its end */
	unsigned gen;                  /* which of the supervisors started it */
	unsigned long token;           /* its name with that supervisor; 0 re-attached */
	bool paused;
	bool has_build;                /* a build command runs first */
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
};

struct executor_ops {
	const char *kind;
	int (*launch)(const struct job_spec *s, struct job *j, struct err *e);
	/* Re-attach to the job of a run folder after a restart. */
	int (*attach)(const char *run_dir, struct job *j, struct err *e);
	void (*check)(struct job *j, struct job_result *r);
	/* Signal the job's whole process group (SIGTERM, SIGKILL, SIGSTOP, SIGCONT). */
	int (*signal)(struct job *j, int sig);
	void (*release)(struct job *j);
	/*
	 * Ends of jobs are told on this fd (-1 none yet; it changes when the
	 * supervisor is started again): when it is readable, or when
	 * events_held() says a signal heard some, events() calls ended() with
	 * the token of each job that ended.
	 */
	int (*events_fd)(void);
	bool (*events_held)(void);
	void (*events)(void (*ended)(unsigned long token, void *ctx), void *ctx);
};

extern const struct executor_ops local_executor;

/* 'text' quoted for /bin/sh: 'it'\''s'. Appended to b. */
void sh_quote(struct buf *b, const char *text);

#endif
