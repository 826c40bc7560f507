/*
 * slurm.c — the slurm executor: the ssh executor's jobs (ssh.c,
 * ssh_ship.c), each submitted to Slurm with sbatch rather than started,
 * over the connection of the ssh worker that reaches the login node, or
 * on this machine (sshconn.h's local mode). What differs is here: how a
 * job's end is told from Slurm's word, and the controller's own state.
 *
 * A job is followed by its id, recorded in its run folder by the launch
 * and in job.json by the first poll that sees it. Its exit code comes
 * from its run folder, as for any job; Slurm's state says why when there
 * is none (cancelled, timed out, its node failed), after SLURM_SETTLE_MS,
 * for the file may reach the login node late. A job Slurm requeues keeps
 * its id and is followed on.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hypotop/exec.h"
#include "hypotop/ssh_int.h"
#include "hypotop/workers.h"

bool slurm_settle(struct ssh_exec *S, struct sjob *sj)
{
	const struct remote_state *st = &sj->st;
	struct job_result r = {.state = JOB_LOST, .exit_code = -1, .build_code = st->build_exit};

	if (!st->launched) {
		ssh_job_end(S, sj, &r);
		return true;
	}
	if (!st->pid) {
		/* Launched without an id: the submission died half-way; it never ran. */
		if (mono_ms() - sj->no_pid_since > NO_PID_MS)
			ssh_job_end(S, sj, &r);
		return sj->phase == ENDED;
	}
	if (!st->slurm_state[0] || remote_slurm_active(st->slurm_state)) {
		sj->gone_since = 0;
		return false;
	}
	if (!sj->gone_since)
		sj->gone_since = mono_ms();
	if (mono_ms() - sj->gone_since < SLURM_SETTLE_MS)
		return false;
	const char *kind = remote_slurm_kind(st->slurm_state);
	snprintf(r.kind, sizeof r.kind, "%s", kind ? kind : "worker_lost");
	if (kind) {
		r.state = JOB_DONE;
		snprintf(r.why, sizeof r.why, "Slurm ended job %lld: %s%s%s", st->pid,
			 st->slurm_state, st->slurm_reason[0] ? ", " : "", st->slurm_reason);
	} else {
		snprintf(r.why, sizeof r.why,
			 "Slurm job %lld ended (%s) without recording an exit code%s%s",
			 st->pid, !strcmp(st->slurm_state, "GONE") ? "Slurm no longer knows it"
								   : st->slurm_state,
			 st->slurm_reason[0] ? ": " : "", st->slurm_reason);
	}
	ssh_job_end(S, sj, &r);
	return true;
}

bool slurm_polled(struct ssh_exec *S, const char *out, struct remote_state *st, size_t n)
{
	char down[sizeof S->slurm->down];

	remote_parse_slurm_poll(out, st, n, (long long)time(NULL), down, sizeof down);
	if (!strcmp(down, S->slurm->down))
		return false;
	snprintf(S->slurm->down, sizeof S->slurm->down, "%s", down);
	return true;
}

void slurm_mode_free(struct slurm_mode *m)
{
	if (!m)
		return;
	free((char *)m->o.partition);
	free((char *)m->o.account);
	free((char *)m->o.qos);
	free((char *)m->o.gres);
	for (size_t i = 0; m->args && m->args[i]; i++)
		free(m->args[i]);
	free(m->args);
	free(m);
}

static char *dup_or_null(const char *s)
{
	return s && *s ? xstrdup(s) : NULL;
}

struct executor *slurm_executor_new(struct loop *loop, const struct worker_def *w,
				    const struct worker_def *via, long job_timeout_s,
				    const char *source_dir, exec_news_fn news, void *ctx,
				    void (*changed)(void *ctx))
{
	struct slurm_mode *m = xcalloc(1, sizeof *m);
	size_t nargs = 0;

	while (w->sbatch_args && w->sbatch_args[nargs])
		nargs++;
	m->args = xcalloc(nargs + 1, sizeof *m->args);
	for (size_t i = 0; i < nargs; i++)
		m->args[i] = xstrdup(w->sbatch_args[i]);
	m->o = (struct remote_slurm){
		.partition = dup_or_null(w->partition),
		.account = dup_or_null(w->account),
		.qos = dup_or_null(w->qos),
		.gres = dup_or_null(w->gres),
		.args = (const char *const *)m->args,
		.time_s = job_timeout_s,
	};
	/* Without via the commands run here: sshconn's local mode. */
	struct ssh_target t = via ? ssh_target_of(via, w->name) : (struct ssh_target){.name = w->name};
	struct ssh_exec *S = ssh_exec_new(&ssh_slurm_ops, loop, &t, w->workspace, NULL, source_dir,
					  news, ctx, changed);
	S->slurm = m;
	return &S->x;
}
