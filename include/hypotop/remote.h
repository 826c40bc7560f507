/*
 * remote.h — what the ssh executor (src/exec/ssh.c) runs on a worker, as
 * POSIX sh, and the parsers of what it prints. No connection here: each
 * script is text for one sshc_exec, which the tests also run with
 * /bin/sh on this machine.
 *
 * A worker's workspace W (relative to the remote home, or absolute):
 *
 *	W/repos/PROJECT.git         a bare repository per source project
 *	W/trees/NS/NODE             the work tree of a node (git worktree)
 *	W/runs/NS/RUN               a run folder per launch: job.sh, pid,
 *	                            pgid, log, build_exit, exit_code, launched/
 *	W/setup/PROJECT/COMMIT      setup ran for that commit (and .lock)
 *	W/ship/NAME                 a bundle put there, removed once fetched
 *
 * NS names the workdir on this machine, so that two workdirs sharing a
 * worker never meet; RUN is new at each launch.
 *
 * The job runs under job.sh, detached in a session of its own: it records its pid and start time
 * first (pid), refuses to run a work tree whose HEAD is not the node's
 * commit, runs the setup once per commit (under flock), the build
 * (build_exit) and the launch, each in a session of its own (pgid: what
 * a signal is sent to), and records the exit code last (exit_code),
 * each record written whole or not at all. Launching is
 * idempotent: the launched/ folder is made once, so a launch sent again
 * after a lost answer never starts the job twice.
 */
#ifndef HYPOTOP_REMOTE_H
#define HYPOTOP_REMOTE_H

#include <stdbool.h>
#include <stddef.h>

#include "hypotop/exec.h"

struct remote_job {
	const char *workspace;
	const char *project, *ns, *node, *run; /* names, as in the layout above */
	const char *commit;
	const char *bundle; /* the bundle put on the worker to fetch first; NULL none */
	const char *setup;  /* NULL none */
	const char *build;  /* NULL none */
	const char *launch;
	const char *const *env, *const *unset; /* as in a job_spec */
	int gpu;                               /* CUDA_VISIBLE_DEVICES; -1 none */
};

/*
 * The launch: fetch the bundle, check out the commit in the node's work
 * tree, write job.sh and start it. Prints "launched" (and exits 0) once
 * the job is started, now or by an earlier launch; exits 3 when the
 * repository lacks the commit or what the bundle builds on (send the
 * whole history), other codes with the reason on stderr when the worker
 * cannot run it (no git, an unwritable workspace).
 */
char *remote_launch_script(const struct remote_job *rj);
#define REMOTE_LACKS 3

/*
 * The ids of the commits the worker's repository of project has, a line
 * each; and W/ship made, where bundles are put (remote_ship_path). Exits
 * REMOTE_UNWRITABLE, saying why on stderr, when the workspace cannot be
 * written.
 */
char *remote_known_script(const char *workspace, const char *project);
#define REMOTE_UNWRITABLE 4

/* The paths of the layout, relative to the remote home unless workspace is absolute. */
char *remote_run_path(const char *workspace, const char *ns, const char *run);
char *remote_tree_path(const char *workspace, const char *ns, const char *node);
char *remote_ship_path(const char *workspace, const char *name);

/*
 * The poll: for each of n run folders (remote_run_path) a line
 *	J INDEX LAUNCHED PID START ALIVE BUILD_EXIT EXIT_CODE LOG_SIZE
 * then, with gpus, a "G " line for each line nvidia-smi prints (none
 * without nvidia-smi).
 */
char *remote_poll_script(char *const runs[], size_t n, bool gpus);

struct remote_state {
	bool seen;     /* a line for it came */
	bool launched; /* launched/ is there */
	long long pid, start_time; /* 0 not recorded yet */
	bool alive;    /* pid with that start time runs */
	int build_exit, exit_code; /* -1 not recorded */
	long long log_size;        /* -1 no log */
};

/* Fill st[0..n) and the GPUs from the poll's output; lines that do not parse are passed over. */
void remote_parse_poll(const char *out, struct remote_state *st, size_t n, struct worker_gpu *gpu,
		       size_t *ngpu);

/*
 * The GPUs in what `nvidia-smi --query-gpu=index,utilization.gpu,
 * memory.used,memory.total,temperature.gpu --format=csv,noheader,nounits`
 * prints, at most max; a line with no index is passed over, a value that
 * is not a number ("[N/A]") is -1.
 */
size_t remote_parse_gpus(const char *text, struct worker_gpu *gpu, size_t max);
#define REMOTE_NVIDIA_SMI                                                                  \
	"nvidia-smi --query-gpu=index,utilization.gpu,memory.used,memory.total,temperature.gpu " \
	"--format=csv,noheader,nounits"

/*
 * Send sig to the command the job of the run folder run runs now (its
 * session, recorded in pgid); fails (exit 1) when none runs. NULL for a
 * signal it does not send (only TERM, KILL, STOP, CONT, INT, HUP, USR1, USR2).
 */
char *remote_signal_script(const char *run, int sig);

#endif
