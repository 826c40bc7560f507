/*
 * health.c — the rules that judge a running job (SPEC §8): a metric or
 * the loss gone NaN or infinite, the job_timeout, and no progress for
 * stall_seconds. A rule that fires stops the job with its failure kind
 * (sched_kill); a job that does not stop in its grace period is killed.
 * Called by watch.c each time a running job is looked at.
 */
#include <signal.h>

#include "hypotop/lifecycle.h"

void health_check(struct sched *s, struct slot *sl)
{
	struct config *c = &s->wd->cfg;
	int64_t now = mono_ms();

	if (sl->kill_reason) {
		if (sl->kill_at && now > sl->kill_at) {
			sched_job_signal(s, sl, SIGKILL);
			sl->kill_at = 0;
		}
		return;
	}
	const struct series *m = metrics_get(&sl->metrics, c->metric);
	const struct series *loss = metrics_get(&sl->metrics, "loss");
	if ((m && m->nonfinite) || (loss && loss->nonfinite)) {
		sched_kill(s, sl, "nan");
		return;
	}
	struct node *n = tree_get(&s->wd->tree, sl->node);
	int64_t ran = n && n->started ? now_ms() - n->started - sl->paused_ms : now - sl->started;
	if (c->job_timeout > 0 && !sl->job.paused && ran > (int64_t)(c->job_timeout * 1000)) {
		sched_kill(s, sl, "timeout");
		return;
	}
	if (!sl->job.paused && now - sl->last_progress > (int64_t)(c->stall_seconds * 1000))
		sched_kill(s, sl, "stalled");
}
