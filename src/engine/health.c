/*
 * health.c — the rules that judge a running job (SPEC §8; the table is
 * health_rules.h), and job_timeout. Phase 1 rules are judged line by line
 * (health_line, from watch.c's reading of the log), incrementally from
 * the metrics' running figures; the GPU rules, at most once a second, from
 * the worker's GPU readings; phase 2 rules every health.patrol_seconds.
 * A rule that fires is an alert (alerts.c; at most one per rule and node
 * per alerts.repeat_seconds) and its action: warn, pause (SIGSTOP, as the
 * pause operation; a person resumes it), stop (sched_kill; a job that does
 * not stop in its grace period is killed).
 */
#include <glob.h>
#include <stdarg.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>

#include "hypotop/alerts.h"
#include "hypotop/lifecycle.h"
#include "hypotop/ops.h"

#define GPU_LOOK_MS 1000
/* No readings of a job's GPU this long after it started: there are none (a few polls). */
#define GPU_NONE_MS 5000
/* loss_plateau: an improvement smaller than this (relative) is none. */
#define PLATEAU_REL 1e-3

/* ---- phase 1, line by line ----------------------------------------------- */

void health_start(struct health_run *h, const struct config *cfg)
{
	memset(h, 0, sizeof *h);
	h->cfg = cfg;
	h->loss = h->metric = h->grad = -1;
	h->win_start = NAN;
	h->plateau_best = NAN;
	h->next_patrol = mono_ms() + (int64_t)(cfg->health_patrol_seconds * 1000);
}

static bool rule_on(const struct health_run *h, enum health_rule r)
{
	return h->cfg->health[r].action != HA_OFF;
}

static void pend(struct health_run *h, enum health_rule r, double value, double step)
{
	if (h->pending[r].set || !rule_on(h, r))
		return;
	h->pending[r] = (struct health_pending){true, value, step};
}

/* The series' indexes, looked up again only when a series was added. */
static void resolve(struct health_run *h, const struct metrics *m)
{
	h->nseries = m->len;
	for (size_t i = 0; i < m->len; i++) {
		const char *n = m->v[i].name;
		if (!strcmp(n, "loss"))
			h->loss = (int)i;
		if (h->cfg->metric && !strcmp(n, h->cfg->metric))
			h->metric = (int)i;
		if (h->cfg->health_grad_norm_series && !strcmp(n, h->cfg->health_grad_norm_series))
			h->grad = (int)i;
	}
}

#define WINDOW_POINTS 5

static void loss_window(struct health_run *h, double v, double step)
{
	double window = h->cfg->health[HR_LOSS_DECREASING].threshold;

	if (isnan(h->win_start))
		h->win_start = step;
	h->win_sum += v;
	h->win_n++;
	/* A window of at least WINDOW_POINTS points: one noisy point against the
	 * next says nothing of a log that reports a point every hundred steps. */
	if (step - h->win_start < window || h->win_n < WINDOW_POINTS || window <= 0)
		return;
	double mean = h->win_sum / (double)h->win_n;
	if (h->have_prev && !(mean < h->prev_mean))
		pend(h, HR_LOSS_DECREASING, mean, step);
	h->prev_mean = mean;
	h->have_prev = true;
	h->win_start = step;
	h->win_sum = 0;
	h->win_n = 0;
}

void health_line(struct health_run *h, const struct metrics *m)
{
	if (!h->cfg)
		return;
	if (m->len != h->nseries)
		resolve(h, m);
	const struct series *loss = h->loss >= 0 ? &m->v[h->loss] : NULL;
	const struct series *met = h->metric >= 0 ? &m->v[h->metric] : NULL;
	double step = m->step;
	if ((loss && loss->nonfinite) || (met && met->nonfinite))
		pend(h, HR_LOSS_FINITE, NAN, step);
	if (step >= (double)h->cfg->health_phase1_steps)
		return; /* past phase 1 (no step yet counts as phase 1) */
	if (loss && loss->count != h->loss_count) {
		h->loss_count = loss->count;
		if (rule_on(h, HR_LOSS_DECREASING))
			loss_window(h, loss->last, isnan(step) ? (double)loss->count : step);
	}
	const struct series *g = h->grad >= 0 ? &m->v[h->grad] : NULL;
	if (g && g->count != h->grad_count) {
		h->grad_count = g->count;
		if (g->last > h->cfg->health[HR_GRAD_NORM].threshold)
			pend(h, HR_GRAD_NORM, g->last, step);
	}
}

/* ---- firing: the alert and the action ------------------------------------ */

/* The job paused as a person's pause operation would: `p` resumes it. */
static void pause_job(struct sched *s, struct slot *sl, enum health_rule r)
{
	struct op op = {.kind = OP_PAUSE};
	struct err e = {{0}};
	uint32_t id;

	if (sl->health.paused_by[r] || sl->job.paused)
		return;
	sl->health.paused_by[r] = true;
	node_id_format(sl->node, op.node);
	if (op_apply(s->wd, &op, true, &id, &e) < 0) {
		sched_say(s, "warning: %s: cannot pause the job: %s", op.node, e.msg);
		return;
	}
	sched_node_changed(s, id);
	sched_say(s, "%s: paused by the health rule %s; resume it with p or 'hypotop resume'",
		  op.node, health_rule_info(r)->name);
}

static void fire(struct sched *s, struct slot *sl, enum health_rule r, double value, double step)
{
	const struct health_rule_cfg *rc = &sl->health.cfg->health[r];
	const struct health_rule_info *ri = health_rule_info(r);
	int64_t now = mono_ms();
	int64_t *last = &sl->health.alerted[r];

	if (rc->action == HA_OFF)
		return;
	if (!*last || now - *last >= (int64_t)(s->wd->cfg.alerts_repeat_seconds * 1000)) {
		char nid[NODE_ID_LEN], worker[96], text[512], at[48] = "";
		*last = now;
		node_id_format(sl->node, nid);
		sched_worker_label(s, sl, worker, sizeof worker);
		if (isfinite(step))
			snprintf(at, sizeof at, " at step %.15g", step);
		if (isfinite(value))
			snprintf(text, sizeof text, "%s: health rule %s%s: %.6g (threshold %g): %s",
				 nid, ri->name, at, value, rc->threshold,
				 health_action_name(rc->action));
		else
			snprintf(text, sizeof text, "%s: health rule %s%s: %s", nid, ri->name, at,
				 health_action_name(rc->action));
		struct alert al = {.time = now_ms(),
				   .node = nid,
				   .worker = worker,
				   .rule = r,
				   .value = value,
				   .threshold = rc->threshold,
				   .step = step,
				   .action = rc->action,
				   .severity = rc->severity};
		struct err e = {{0}};
		if (s->alerts && alerts_record(s->alerts, &al, text, &e) < 0)
			sched_say(s, "warning: alerts: %s", e.msg);
		/* info: the file only; warning and critical: the bar too (the webhook: alerts.c). */
		if (rc->severity != SEV_INFO)
			sched_say(s, "alert: %s (%s)", text, health_severity_name(rc->severity));
	}
	if (rc->action == HA_PAUSE)
		pause_job(s, sl, r);
	else if (rc->action == HA_STOP)
		sched_kill(s, sl,
			   r == HR_LOSS_FINITE	 ? "nan"
			   : r == HR_LOG_SILENCE ? "stalled"
						 : "unhealthy");
}

/* ---- the GPU rules -------------------------------------------------------- */

/* The readings of the job's GPU; false (said once) when there are none. */
static bool job_gpu(struct sched *s, struct slot *sl, struct worker_gpu *out)
{
	struct worker_status st;

	if (sl->gpu >= 0) {
		exec_status(sched_exec(s, sl), &st);
		for (size_t i = 0; i < st.ngpu; i++)
			if (st.gpu[i].index == sl->gpu) {
				*out = st.gpu[i];
				return true;
			}
	}
	if (!s->said_no_gpu && (sl->gpu < 0 || mono_ms() - sl->started > GPU_NONE_MS)) {
		char worker[96];
		s->said_no_gpu = true;
		sched_worker_label(s, sl, worker, sizeof worker);
		sched_say(s, "health: the GPU rules are off for jobs without GPU readings (%s: %s)",
			  worker, sl->gpu < 0 ? "the job has no GPU" : "no readings from nvidia-smi");
	}
	return false;
}

static void gpu_phase1(struct sched *s, struct slot *sl, int64_t now)
{
	const struct config *c = &s->wd->cfg;
	double step = sl->metrics.step;
	struct worker_gpu g;

	if (!rule_on(&sl->health, HR_GPU_UTIL) && !rule_on(&sl->health, HR_GPU_MEM))
		return;
	if (!(step >= (double)c->health_gpu_warmup_steps && step < (double)c->health_phase1_steps))
		return;
	if (now - sl->health.gpu_at < GPU_LOOK_MS)
		return;
	sl->health.gpu_at = now;
	if (!job_gpu(s, sl, &g))
		return;
	if (g.util >= 0 && g.util < c->health[HR_GPU_UTIL].threshold)
		fire(s, sl, HR_GPU_UTIL, g.util, step);
	if (g.mem_used >= 0 && g.mem_total > 0 &&
	    100 * g.mem_used / g.mem_total > c->health[HR_GPU_MEM].threshold)
		fire(s, sl, HR_GPU_MEM, 100 * g.mem_used / g.mem_total, step);
}

/* ---- phase 2, the patrol -------------------------------------------------- */

/* Seconds since the newest file matching the glob in the run's work tree changed; -1 none. */
static double checkpoint_age(struct sched *s, struct slot *sl)
{
	char *dir = sched_tree_path(s, sl->tree);
	char *pat = xasprintf("%s/%s", dir, s->wd->cfg.health_checkpoint_glob);
	glob_t g;
	double newest = -1;

	if (glob(pat, 0, NULL, &g) == 0) {
		for (size_t i = 0; i < g.gl_pathc; i++) {
			struct stat st;
			double t;
			if (stat(g.gl_pathv[i], &st) == 0 &&
			    (t = (double)st.st_mtim.tv_sec + st.st_mtim.tv_nsec / 1e9) > newest)
				newest = t;
		}
		globfree(&g);
	}
	free(pat);
	free(dir);
	return newest < 0 ? -1 : (double)now_ms() / 1000 - newest;
}

static void patrol(struct sched *s, struct slot *sl, int64_t now)
{
	const struct config *c = &s->wd->cfg;
	struct health_run *h = &sl->health;
	double step = sl->metrics.step;

	h->next_patrol = now + (int64_t)(c->health_patrol_seconds * 1000);
	h->unknown_patrols = 0;
	const struct series *loss = metrics_get(&sl->metrics, "loss");
	if (loss && loss->count && rule_on(h, HR_LOSS_PLATEAU)) {
		if (isnan(h->plateau_best) ||
		    loss->min < h->plateau_best - PLATEAU_REL * fabs(h->plateau_best)) {
			h->plateau_best = loss->min;
			h->plateau_patrols = 0;
		} else if (++h->plateau_patrols >= c->health[HR_LOSS_PLATEAU].threshold) {
			fire(s, sl, HR_LOSS_PLATEAU, (double)h->plateau_patrols, step);
		}
	}
	if (rule_on(h, HR_DISK_FREE)) {
		char *dir = sched_path(s, "runs", sl->node, NULL);
		struct statvfs v;
		if (statvfs(dir, &v) == 0) {
			double gib = (double)v.f_bavail * (double)v.f_frsize / (1 << 30);
			if (gib < c->health[HR_DISK_FREE].threshold)
				fire(s, sl, HR_DISK_FREE, gib, step);
		}
		free(dir);
	}
	if (c->health_checkpoint_glob && rule_on(h, HR_CHECKPOINT_AGE) && sl->tree >= 0 &&
	    !strcmp(s->workers[sl->worker]->kind, "local")) {
		double age = checkpoint_age(s, sl);
		double ran = (double)(now - sl->started - sl->paused_ms) / 1000;
		double thr = c->health[HR_CHECKPOINT_AGE].threshold;
		if (age > thr || (age < 0 && ran > thr))
			fire(s, sl, HR_CHECKPOINT_AGE, age < 0 ? ran : age, step);
	}
	struct worker_gpu g;
	if (rule_on(h, HR_GPU_TEMP) && job_gpu(s, sl, &g) && g.temp > c->health[HR_GPU_TEMP].threshold)
		fire(s, sl, HR_GPU_TEMP, g.temp, step);
}

void health_unreachable(struct sched *s, struct slot *sl)
{
	int64_t now = mono_ms();
	struct health_run *h = &sl->health;

	if (now < h->next_patrol || sl->kill_reason)
		return;
	h->next_patrol = now + (int64_t)(s->wd->cfg.health_patrol_seconds * 1000);
	if (++h->unknown_patrols >= s->wd->cfg.health[HR_PROCESS_ALIVE].threshold)
		fire(s, sl, HR_PROCESS_ALIVE, (double)h->unknown_patrols, sl->metrics.step);
}

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
	/* What the lines fired, in the table's order: loss_finite (a stop) first. */
	for (int r = 0; r < HR__COUNT && !sl->kill_reason; r++) {
		struct health_pending p = sl->health.pending[r];
		if (p.set) {
			sl->health.pending[r].set = false;
			fire(s, sl, (enum health_rule)r, p.value, p.step);
		}
	}
	if (sl->kill_reason || sl->job.paused)
		return;
	struct node *n = tree_get(&s->wd->tree, sl->node);
	int64_t ran = n && n->started ? now_ms() - n->started - sl->paused_ms : now - sl->started;
	if (c->job_timeout > 0 && ran > (int64_t)(c->job_timeout * 1000)) {
		sched_kill(s, sl, "timeout");
		return;
	}
	if (now - sl->last_progress > (int64_t)(c->health[HR_LOG_SILENCE].threshold * 1000))
		fire(s, sl, HR_LOG_SILENCE, (double)(now - sl->last_progress) / 1000,
		     sl->metrics.step);
	if (sl->kill_reason || sl->job.paused)
		return;
	gpu_phase1(s, sl, now);
	if (now >= sl->health.next_patrol && !sl->kill_reason && !sl->job.paused)
		patrol(s, sl, now);
}

void sched_alert_event(struct sched *s, const char *event, const char *worker, double value,
		       enum health_severity sev, const char *fmt, ...)
{
	char text[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof text, fmt, ap);
	va_end(ap);
	struct alert al = {.time = now_ms(),
			   .node = "",
			   .worker = worker,
			   .event = event,
			   .value = value,
			   .threshold = NAN,
			   .step = NAN,
			   .action = HA_WARN,
			   .severity = sev};
	struct err e = {{0}};
	if (s->alerts && alerts_record(s->alerts, &al, text, &e) < 0)
		sched_say(s, "warning: alerts: %s", e.msg);
	if (sev == SEV_INFO)
		sched_say(s, "%s", text);
	else
		sched_say(s, "alert: %s (%s)", text, health_severity_name(sev));
}
