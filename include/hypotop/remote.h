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

/*
 * A Slurm worker's options (SPEC §6): job.sh is then submitted with
 * sbatch, not started, and Slurm runs it with the job's output in the log.
 */
struct remote_slurm {
	const char *partition, *account, *qos, *gres; /* NULL: Slurm's default */
	const char *const *args; /* passed to sbatch as they are, NULL-terminated */
	long time_s;             /* --time; 0 none */
};

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
	const struct remote_slurm *slurm;      /* NULL: started here, not submitted */
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
 * With rj->slurm, the launch submits job.sh with sbatch and records the
 * job id (slurm_id in the run folder) before it says "launched". When
 * sbatch fails it exits REMOTE_REFUSED with sbatch's message on stderr
 * (a bad partition: the job cannot run), or REMOTE_UNREACHABLE when the
 * controller did not answer (try again later); either way nothing was
 * submitted and the launch may be sent again.
 */
#define REMOTE_REFUSED 5
#define REMOTE_UNREACHABLE 6

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
/*
 * The poll of a Slurm worker's run folders: a J line each as above, with
 * the Slurm job id in place of the pid (ALIVE 0), one squeue for every
 * job of the user ("Q ID|STATE|REASON|NODE|ELAPSED|SUBMIT" lines), and
 * `scontrol show job -o` ("S " lines) for each job the squeue did not
 * list. When squeue fails (the controller is out of reach), a
 * "D REASON" line and no more.
 */
char *remote_slurm_poll_script(char *const runs[], size_t n);

struct remote_state {
	bool seen;     /* a line for it came */
	bool launched; /* launched/ is there */
	long long pid, start_time; /* 0 not recorded yet */
	bool alive;    /* pid with that start time runs */
	int build_exit, exit_code; /* -1 not recorded */
	long long log_size;        /* -1 no log */
	/* A Slurm job (remote_slurm_poll_script): its id is pid. */
	char slurm_state[24];      /* "PENDING", "RUNNING", ...; "" unknown, "GONE" Slurm forgot it */
	char slurm_reason[64];     /* why it waits: "Resources", "JobHeldUser", ... */
	char slurm_node[64];       /* where it runs */
	long long slurm_since_s;   /* seconds in its state, as far as Slurm tells; -1 unknown */
};

/* The Slurm states in which a job is still Slurm's: waiting, running or on its way out. */
bool remote_slurm_active(const char *state);
/*
 * The failure kind of a job Slurm ended in state (CANCELLED, TIMEOUT,
 * NODE_FAIL, OUT_OF_MEMORY, PREEMPTED, BOOT_FAIL, DEADLINE); NULL for
 * one it ended as its own script did (COMPLETED, FAILED).
 */
const char *remote_slurm_kind(const char *state);

/* Fill st[0..n) and the GPUs from the poll's output; lines that do not parse are passed over. */
void remote_parse_poll(const char *out, struct remote_state *st, size_t n, struct worker_gpu *gpu,
		       size_t *ngpu);
/*
 * The same for a Slurm poll; now_s is this machine's clock, for the time
 * a pending job has waited. down (downsz bytes) gets the "D" line's
 * reason, "" when the controller answered.
 */
void remote_parse_slurm_poll(const char *out, struct remote_state *st, size_t n, long long now_s,
			     char *down, size_t downsz);

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
/*
 * The same for a Slurm job: TERM, INT, HUP, USR1, USR2 and KILL cancel it
 * (scancel: signalled first when it runs, Slurm kills it after its grace
 * period); STOP holds it while it waits and stops its processes once it
 * runs; CONT releases and continues it.
 */
char *remote_slurm_signal_script(long long id, int sig);

#endif
