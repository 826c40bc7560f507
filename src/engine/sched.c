/* sched.c — slots, launch, the engine's step, setup and re-attach (see sched.h). */
#include "hypotop/sched.h"

#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "hypotop/alerts.h"
#include "hypotop/fsutil.h"
#include "hypotop/json.h"
#include "hypotop/launch.h"
#include "hypotop/params.h"
#include "hypotop/lifecycle.h"
#include "hypotop/vcs.h"

#define TICK_MS 250
#define FLIGHT_TICK_MS 1000
/* The next round after a log read that left some unread (watch.c). */
#define LOG_MORE_MS 1

void sched_say(struct sched *s, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	if (s->say)
		s->say(s->say_ctx, msg);
}

char *sched_path(struct sched *s, const char *dir, uint32_t id, const char *file)
{
	char nid[NODE_ID_LEN];

	node_id_format(id, nid);
	if (file)
		return xasprintf("%s/%s/%s/%s", s->wd->path, dir, nid, file);
	return xasprintf("%s/%s/%s", s->wd->path, dir, nid);
}

/* Record a node's change; durable at the round's commit. */
void sched_record(struct sched *s, const char *op, struct node *n)
{
	workdir_record(s->wd, op, n);
}

/*
 * Record a step on the way to a local run (prepare, prepared, launch):
 * written with the round's commit, but not waited for on the disk. A
 * power cut that loses it ends the machine's jobs too; the node is then
 * prepared again (its branch is kept) and run once more.
 */
void sched_record_light(struct sched *s, const char *op, struct node *n)
{
	workdir_record_light(s->wd, op, n);
}

/* Make everything recorded so far durable now. */
int sched_commit(struct sched *s)
{
	struct err e = {{0}};

	if (workdir_commit(s->wd, &e) < 0) {
		sched_say(s, "error: %s", e.msg);
		return -1;
	}
	return 0;
}

struct slot *sched_slot_of(struct sched *s, uint32_t node)
{
	for (size_t i = 0; i < s->nslots; i++)
		if (s->slots[i].used && s->slots[i].node == node)
			return &s->slots[i];
	return NULL;
}

struct slot *sched_free_slot(struct sched *s, int gpu)
{
	for (size_t i = 0; i < s->nslots; i++)
		if (!s->slots[i].used && (gpu < 0 || s->slots[i].gpu == gpu) &&
		    sched_slot_open(s, &s->slots[i]))
			return &s->slots[i];
	return NULL;
}

/*
 * Tick while jobs run, the first tick at once while a log has more to read;
 * otherwise sleep, or wake once for a planning retry or a deferred step.
 */
void sched_timer_arm(struct sched *s)
{
	bool any = false, more = false;
	for (size_t i = 0; i < s->nslots; i++) {
		any |= s->slots[i].used && s->slots[i].have_job;
		more |= s->slots[i].used && s->slots[i].have_job && s->slots[i].log_more;
	}
	int64_t at = s->plan_retry_at;
	int64_t next = sched_deferred_due(s);
	if (next && (!at || next < at))
		at = next;
	next = sched_workers_due(s);
	if (next && (!at || next < at))
		at = next;
	next = sched_pictures_due(s);
	if (next && (!at || next < at))
		at = next;
	if (more)
		at = mono_ms() + LOG_MORE_MS;
	/* A call in flight: the status bar counts its seconds. */
	loop_timer_set(s->timer_fd, at, any ? TICK_MS : s->nflights ? FLIGHT_TICK_MS : 0);
}

void sched_slot_release(struct sched *s, struct slot *sl)
{
	if (sl->have_job)
		exec_release(sched_exec(s, sl), &sl->job);
	if (sl->log_fd >= 0)
		close(sl->log_fd);
	metrics_free(&sl->metrics);
	lines_free(&sl->log_lines);
	for (size_t i = 0; i < SCHED_TAIL_LINES; i++)
		free(sl->tail[i]);
	free(sl->tampered);
	free(sl->prune_why);
	sched_tree_free(s, sl->tree);
	int gpu = sl->gpu, worker = sl->worker;
	memset(sl, 0, sizeof *sl);
	sl->gpu = gpu;
	sl->worker = worker;
	sl->tree = -1;
	sl->log_fd = -1;
	sched_workers_changed(s);
	sched_timer_arm(s);
}

struct slot *sched_slot_take(struct sched *s, struct slot *sl, uint32_t node)
{
	struct err e = {{0}};

	sl->used = true;
	sl->node = node;
	sl->log_fd = -1;
	sl->log_end = -1;
	sl->last_step = NAN;
	lines_init(&sl->log_lines, SCHED_LOG_LINE_MAX, LINES_SPLIT);
	health_start(&sl->health, &s->wd->cfg);
	sched_workers_changed(s);
	if (metrics_init(&sl->metrics, s->wd->cfg.metric_patterns, &e) < 0) {
		/* The config was validated: patterns compile. Keep going without them. */
		metrics_init(&sl->metrics, NULL, &e);
	}
	return sl;
}

/* ---- launch ------------------------------------------------------------ */

static char *image_name(struct sched *s, const char *nid)
{
	struct buf b;
	const char *t = s->wd->cfg.image;

	buf_init(&b);
	for (const char *p = t; *p; p++) {
		if (!strncmp(p, "$NODE", 5)) {
			buf_adds(&b, nid);
			p += 4;
		} else {
			buf_addc(&b, *p);
		}
	}
	return buf_steal(&b);
}

/* $IMAGE in a command becomes the node's image name, shell-quoted. */
static char *with_image(const char *cmd, const char *image)
{
	struct buf b;

	buf_init(&b);
	for (const char *p = cmd; *p; p++) {
		if (!strncmp(p, "$IMAGE", 6) && !(p[6] == '_' || (p[6] >= 'A' && p[6] <= 'Z'))) {
			sh_quote(&b, image);
			p += 5;
		} else {
			buf_addc(&b, *p);
		}
	}
	return buf_steal(&b);
}

static void launch_again(struct sched *s, void *arg)
{
	uint32_t id = (uint32_t)(uintptr_t)arg;
	struct slot *sl = sched_slot_of(s, id);
	struct node *n = tree_get(&s->wd->tree, id);

	if (!sl || sl->have_job || sl->preparing || !n)
		return;
	if (n->status == ST_CANCELLED || n->status == ST_PAUSED)
		sched_slot_release(s, sl); /* a paused one waits in the queue */
	else if (n->status != ST_PREPARING || s->paused || s->stopping)
		sched_defer(s, NULL, NULL, launch_again, NULL, arg); /* held: it waits on */
	else
		sched_launch(s, sl);
}

/*
 * No descriptor to start the job with: the node stays prepared in its
 * slot, recorded so (a restart prepares it again), and is launched later.
 */
static void launch_later(struct sched *s, struct slot *sl, const char *why)
{
	struct node *n = tree_get(&s->wd->tree, sl->node);
	char what[64];

	node_id_format(sl->node, what);
	snprintf(what + strlen(what), sizeof what - strlen(what), ": launching");
	n->status = ST_PREPARING;
	sched_record_light(s, "prepared", n);
	sched_defer(s, what, why, launch_again, NULL, (void *)(uintptr_t)sl->node);
}

/*
 * The node of sl goes back to the queue, its slot freed: its worker takes
 * no job now. Nothing ran, so nothing is lost; it is prepared again.
 */
static void requeue(struct sched *s, struct slot *sl)
{
	struct node *n = tree_get(&s->wd->tree, sl->node);

	n->status = ST_QUEUED;
	n->started = 0;
	sched_record_light(s, "prepare", n);
	sched_slot_release(s, sl);
}

void sched_launch(struct sched *s, struct slot *sl)
{
	struct node *n = tree_get(&s->wd->tree, sl->node);
	struct config *c = &s->wd->cfg;
	struct err e = {{0}};
	char nid[NODE_ID_LEN];

	node_id_format(sl->node, nid);
	char *run_dir = sched_path(s, "runs", sl->node, NULL);
	char *cwd = sched_tree_path(s, sl->tree);
	char *image = image_name(s, nid);
	char *build = c->build ? with_image(c->build, image) : NULL;
	char *launch = NULL, *flags = sched_launch_command(s, n->id, &e);
	char *env[8];
	int ne = 0;
	env[ne++] = xasprintf("HYPOTOP_NODE=%s", nid);
	env[ne++] = xasprintf("HYPOTOP_RUN_DIR=%s", run_dir);
	env[ne++] = xasprintf("HYPOTOP_COMMIT=%s", n->commit ? n->commit : "");
	env[ne++] = xasprintf("HYPOTOP_SEED=%ld", c->seed + n->seed);
	env[ne++] = xasprintf("HYPOTOP_WORKDIR=%s", s->wd->path);
	if (sl->gpu >= 0)
		env[ne++] = xasprintf("CUDA_VISIBLE_DEVICES=%d", sl->gpu);
	env[ne] = NULL;

	if (!flags || fs_mkdir_p(run_dir, 0755, &e) < 0) {
		sched_fail(s, sl, "launch", "launch", e.msg);
		goto out;
	}
	/* What the job would run has the baseline's protected files, or it never runs. */
	char *why;
	int pr = protect_guard(s, sl, true, &why, &e);
	if (pr < 0 && err_out_of_fds(&e))
		launch_later(s, sl, e.msg);
	else if (pr != 0)
		sched_fail(s, sl, pr > 0 ? "tampered" : "launch", "launch", pr > 0 ? why : e.msg);
	free(why);
	if (pr != 0)
		goto out;
	/* Its worker went down or was disabled while the node was prepared: it waits. */
	if (!sched_slot_open(s, sl)) {
		requeue(s, sl);
		goto out;
	}
	launch = with_image(flags, image);
	/* The status is written before the job exists: a restart after hypotop's death finds it. */
	n->status = sched_queues(s, sl) ? ST_WAITING : build ? ST_BUILDING : ST_RUNNING;
	n->started = now_ms();
	char worker[128];
	sched_worker_label(s, sl, worker, sizeof worker);
	node_set_str(&n->worker, worker);
	sched_record_light(s, n->status == ST_WAITING	 ? "wait"
			      : n->status == ST_BUILDING ? "build"
							 : "run",
			   n);
	struct err fe = {{0}};
	if (workdir_flush(s->wd, &fe) < 0) {
		sched_say(s, "error: %s", fe.msg);
		goto out;
	}
	/* The model's key, and Vast.ai's, are the supervisor's, not the experiment's. */
	const char *unset[] = {"ANTHROPIC_API_KEY", "OPENAI_API_KEY", "VAST_API_KEY",
			       c->llm_api_key_env, NULL};
	struct job_spec spec = {run_dir, cwd, build, launch, (const char *const *)env, unset, nid,
				n->commit, s->workers[sl->worker]->name, sl->gpu};
	if (exec_launch(sched_exec(s, sl), &spec, &sl->job, &e) < 0) {
		if (err_out_of_fds(&e)) {
			launch_later(s, sl, e.msg);
		} else if (!sched_slot_open(s, sl)) {
			sched_say(s, "%s: not launched (%s); back in the queue", nid, e.msg);
			requeue(s, sl);
		} else {
			sched_fail(s, sl, "launch", "launch", e.msg);
		}
		goto out;
	}
	sl->have_job = true;
	sl->started = sl->last_progress = mono_ms();
	sched_timer_arm(s);
	sched_say(s, "%s: %s %s", nid,
		  n->status == ST_WAITING ? "submitted" : build ? "building" : "running",
		  n->name ? n->name : "");
out:
	for (int i = 0; i < ne; i++)
		free(env[i]);
	free(run_dir);
	free(cwd);
	free(image);
	free(build);
	free(flags);
	free(launch);
}

char *sched_launch_command(struct sched *s, uint32_t id, struct err *e)
{
	cJSON *values = sched_node_params(s, id);
	char *out = NULL;

	launch_expand(s->wd->cfg.launch, values, &out, e);
	cJSON_Delete(values);
	return out;
}

static size_t busy_slots(struct sched *s)
{
	size_t n = 0;

	for (size_t i = 0; i < s->nslots; i++)
		n += s->slots[i].used;
	return n;
}

size_t sched_capacity(struct sched *s)
{
	size_t n = 0;

	for (size_t i = 0; i < s->nslots; i++)
		n += s->slots[i].used || sched_slot_open(s, &s->slots[i]);
	return n;
}

size_t sched_idle_capacity(struct sched *s)
{
	size_t claimed = busy_slots(s) + s->nahead + s->wd->queue.len;
	size_t cap = sched_capacity(s);

	return claimed < cap ? cap - claimed : 0;
}

/* Nodes held by a person in the queue: the work is not over while they wait. */
static bool any_held(struct sched *s)
{
	struct tree *t = &s->wd->tree;

	for (uint32_t i = 0; i < t->len; i++)
		if (t->nodes[i].present && t->nodes[i].status == ST_PAUSED)
			return true;
	return false;
}

/* The reports cost O(nodes) to write: at most once a second, and when idle. */
static void maybe_write_reports(struct sched *s, bool now)
{
	/* Behind the live status: a node ended, or anything else was recorded. */
	bool behind = s->reports_dirty || s->wd->seq != s->reports_seq;
	if (!behind || (!now && mono_ms() - s->reports_at < 1000))
		return;
	sched_write_reports(s);
	s->reports_dirty = false;
	s->reports_seq = s->wd->seq;
	s->reports_at = mono_ms();
}

/*
 * Plan while other runs go, as soon as a slot would otherwise idle: nothing
 * queued or prepared for it, and no result still being judged (the round
 * is planned under the best known then, and the planner's thread would
 * take the analysis first anyway).
 */
static bool plan_due(struct sched *s, bool idle)
{
	if (s->paused || s->stopping || s->planning)
		return false;
	/* While runs go, only once there is a best to plan under: the
	 * reasons no round can start are said when the work is over. */
	if (!idle && (s->analysing || bg_pending(s->git) || s->wd->st.best == NODE_NONE ||
		      !sched_idle_capacity(s)))
		return false;
	return !any_held(s);
}

void sched_step(struct sched *s)
{
	sched_workers_sweep(s);
	instrument_step(s);
	sched_dispatch(s);
	vast_idle_step(s);
	vast_autorent_step(s);
	maybe_write_reports(s, false);
	sched_pictures_step(s, false);
	/* Past a budget cap the queue waits for a person: the work is over. */
	bool capped = s->budget_why != NULL;
	bool idle = (!s->wd->queue.len || capped) && busy_slots(s) == 0 &&
		    (!s->nahead || capped) && !bg_pending(s->git) && !s->analysing && !s->planning;
	if (idle)
		maybe_write_reports(s, true);
	sched_workers_publish(s, false);
	if (plan_due(s, idle) && sched_plan(s) > 0) {
		s->done = false;
		return;
	}
	if (!idle) {
		s->done = false;
		return;
	}
	bool held = any_held(s);
	s->done = !held && !s->paused && s->stop_reason && !s->plan_retry_at;
	if (!s->done)
		s->reported_done = false;
	if (s->done && !s->reported_done) {
		s->reported_done = true;
		sched_trees_drop(s);
		sched_write_reports(s); /* with the final patience count */
		sched_pictures_step(s, true);
	}
}

/* ---- setup and re-attach ----------------------------------------------- */

/* The baseline's params: the param file's, and the default of each {NAME} in launch. */
static void load_base_params(struct sched *s)
{
	const cJSON *ss = s->wd->cfg.search_space;
	const cJSON *f = ss ? cJSON_GetObjectItemCaseSensitive(ss, "file") : NULL;
	const cJSON *params = ss ? cJSON_GetObjectItemCaseSensitive(ss, "params") : NULL;
	struct node *base = tree_get(&s->wd->tree, 0);
	struct err e = {{0}};
	char *text = NULL;

	if (cJSON_IsString(f) && base && base->commit &&
	    (vcs_read_file(s->wd->cfg.source_dir, base->commit, f->valuestring, &text, NULL, &e) <
		     0 ||
	     params_read(f->valuestring, text, &s->base_params, &e) < 0))
		sched_say(s, "warning: search_space.file: %s", e.msg);
	free(text);
	for (const cJSON *m = params ? params->child : NULL; m; m = m->next) {
		const cJSON *def = cJSON_GetObjectItemCaseSensitive(m, "default");
		if (!def || !launch_uses(s->wd->cfg.launch, m->string))
			continue;
		if (!s->base_params)
			s->base_params = cJSON_CreateObject();
		cJSON_DeleteItemFromObjectCaseSensitive(s->base_params, m->string);
		cJSON_AddItemToObject(s->base_params, m->string, cJSON_Duplicate(def, true));
	}
}

/* ---- the model's requests in flight ---- */

/* On the planner thread: a request started or ended. */
static void flights_poke(void *loop)
{
	loop_wake(loop);
}

/* engine/calls.json says what s->flights hold; a failure costs only the view. */
static void flights_publish(struct sched *s)
{
	struct err e = {{0}};

	if (calls_flight_write(s->wd, s->flights, s->nflights, &e) < 0 && !err_out_of_fds(&e))
		sched_say(s, "warning: %s", e.msg);
}

/* A wake hook, on the main thread: take the planner's requests in flight when they changed. */
static void flights_changed(struct loop *l, void *ctx)
{
	struct sched *s = ctx;
	struct planner_flight pf[CALL_FLIGHTS_MAX];
	struct call_flight f[CALL_FLIGHTS_MAX];

	(void)l;
	size_t n = planner_in_flight(s->planner, pf, CALL_FLIGHTS_MAX);
	memset(f, 0, sizeof f);
	for (size_t i = 0; i < n; i++) {
		_Static_assert(sizeof f->kind == sizeof pf->kind && sizeof f->node == sizeof pf->node,
			       "a flight's words");
		memcpy(f[i].kind, pf[i].kind, sizeof f[i].kind);
		memcpy(f[i].node, pf[i].node, sizeof f[i].node);
		f[i].started = pf[i].started;
	}
	if (n == s->nflights && !memcmp(f, s->flights, n * sizeof *f))
		return;
	memcpy(s->flights, f, sizeof f);
	s->nflights = n;
	flights_publish(s);
	sched_timer_arm(s);
}

int sched_init(struct sched *s, struct workdir *wd, struct loop *loop, sched_say_fn say,
	       void *say_ctx, struct err *e)
{
	struct config *c = &wd->cfg;

	memset(s, 0, sizeof *s);
	s->wd = wd;
	s->loop = loop;
	s->say = say;
	s->say_ctx = say_ctx;
	/* The id of a node the workdir lost may still name a branch. */
	long top;
	struct err be = {{0}};
	if (vcs_branch_top(c->source_dir, "hypotop/n", NODE_ID_MAX, &top, &be) < 0)
		sched_say(s, "warning: %s", be.msg);
	else if (top >= 0)
		tree_reserve(&wd->tree, (uint32_t)top);
	s->timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	s->alerts = alerts_open(wd->path, c->alerts_webhook_url, loop, say, say_ctx);
	if (fleet_init(s, e) < 0)
		return -1;
	/* Two git threads: one prepares a node while the other makes a commit. */
	s->git = bg_new(loop, s->nslots > 1 ? 2 : 1);
	s->llm = bg_new(loop, 1);
	s->pictures = bg_new(loop, 1);
	if (s->timer_fd < 0 || !s->git || !s->llm || !s->pictures) {
		err_set(e, "cannot start the scheduler: %s", strerror(errno));
		return -1;
	}
	s->planner = planner_new(c, wd->path, e);
	if (!s->planner && strcmp(c->llm_provider, "offline"))
		return -1; /* a model provider that cannot start: the message says why */
	planner_set_prior_spend(s->planner, wd->st.llm_usd);
	/* Before any call: the planner thread tells when one starts or ends. */
	planner_watch(s->planner, flights_poke, loop);
	loop_wake_add(loop, flights_changed, s);
	flights_publish(s);
	s->report_usd = planner_report_spend(wd->path, NULL);
	s->usd_unknown = !planner_costs_known(wd->path);
	e->msg[0] = '\0';
	sched_watch_start(s);
	load_base_params(s);
	protect_record(s);
	return 0;
}

void sched_free(struct sched *s)
{
	if (s->wd)
		maybe_write_reports(s, true);
	if (s->pictures) {
		/* As the engine leaves the workdir, if it started; dot has its timeout. */
		if (s->pictures_at)
			sched_pictures_step(s, true);
		bg_drain(s->pictures);
		bg_free(s->pictures);
	}
	free(s->pictures_dot);
	free(s->pictures_progress);
	alerts_close(s->alerts);
	s->alerts = NULL;
	planner_cancel(s->planner); /* a model call in flight returns now */
	bg_free(s->llm);
	if (s->vast)
		bg_free(s->vast);
	free(s->budget_why);
	if (s->loop && s->wd) {
		loop_wake_remove(s->loop, flights_changed, s);
		s->nflights = 0;
		flights_publish(s);
	}
	bg_free(s->git);
	sched_defer_free(s);
	/* As the engine leaves them: the jobs still running keep running. */
	if (s->wd && s->workers)
		sched_workers_publish(s, true);
	for (size_t i = 0; i < s->nslots; i++)
		if (s->slots[i].used)
			sched_slot_release(s, &s->slots[i]);
	fleet_free(s); /* the jobs still running keep running */
	if (s->timer_fd >= 0)
		close(s->timer_fd);
	if (s->planner)
		s->planner->destroy(s->planner);
	cJSON_Delete(s->base_params);
	cJSON_Delete(s->protected);
	prune_free(s);
	free(s->slots);
	free(s->ahead);
	free(s->tree_used);
	free(s->stop_reason);
}

static int worker_gpu(const char *worker)
{
	const char *g = worker ? strstr(worker, ":gpu") : NULL;

	return g ? atoi(g + 4) : -1;
}

static void prepare_in_slot(struct sched *s, struct slot *sl)
{
	if (sl->tree < 0)
		sl->tree = sched_tree_take(s);
	sl->preparing = true;
	sched_prepare(s, sl->node, sl->tree);
}

/* Carry on with a node that was active when the engine stopped. */
static void start_node(struct sched *s, struct node *n, enum node_status st, struct slot *sl)
{
	uint32_t id = n->id;
	char nid[NODE_ID_LEN];
	node_id_format(id, nid);
	if (st == ST_PREPARING) {
		prepare_in_slot(s, sl);
		return;
	}
	if (st == ST_ANALYZING) {
		/* The outcome is recorded; only the analysis was cut short. */
		sched_say(s, "%s: analysing again after a restart", nid);
		sched_reanalyse(s, sl);
		return;
	}
	char *run_dir = sched_path(s, "runs", id, NULL);
	struct err e = {{0}};
	struct executor *x = sched_exec(s, sl);
	exec_attach(x, run_dir, &sl->job, &e);
	free(run_dir);
	if (e.msg[0])
		sched_say(s, "%s: %s", nid, e.msg);
	sl->have_job = true;
	sl->started = sl->last_progress = mono_ms();
	sl->job.paused = n->status == ST_PAUSED;
	struct job_result r;
	exec_check(x, &sl->job, &r);
	if (r.state == JOB_NOT_STARTED) {
		/* Recorded as running, but the job never ran: prepare and launch it now. */
		exec_release(x, &sl->job);
		sl->have_job = false;
		sched_say(s, "%s: was never started; preparing it again", nid);
		n->status = ST_PREPARING;
		sched_record_light(s, "prepare", n);
		prepare_in_slot(s, sl);
		return;
	}
	sched_say(s, "%s: re-attached (%s) on %s", nid,
		  r.state != JOB_RUNNING ? "it ended while hypotop was down"
		  : r.unknown	       ? "its worker is out of reach: last known running"
					 : "still running",
		  s->workers[sl->worker]->name);
	sched_watch(s, sl);
}

/*
 * A job found running after a restart keeps the work tree it runs in
 * (job.json "cwd"): no other node may be given that tree meanwhile.
 */
static void claim_job_tree(struct sched *s, struct slot *sl, const cJSON *job)
{
	const char *cwd = job ? json_string(job, "cwd") : NULL;
	char *prefix = xasprintf("%s/worktrees/wt", s->wd->path);

	if (cwd && !strncmp(cwd, prefix, strlen(prefix))) {
		char *end;
		unsigned long k = strtoul(cwd + strlen(prefix), &end, 10);
		if (*end == '\0' && k < 4096) {
			sched_tree_claim(s, (int)k);
			sl->tree = (int)k;
		}
	}
	free(prefix);
}

/*
 * The worker a job found running was launched on: node->worker ("NAME" or
 * "NAME:gpuN"), or job.json's "worker", or its "executor" for a record
 * older than both. One gone from workers.json whose job ran on this
 * machine gets a worker of its own until the job ends; -1 for another
 * (*name says which).
 */
static int job_worker(struct sched *s, const struct node *n, const cJSON *job, char *name,
		      size_t size)
{
	const char *w = n->worker ? n->worker : job ? json_string(job, "worker") : NULL;
	const char *kind = job ? json_string(job, "executor") : NULL;

	if (!w)
		w = kind ? kind : "local";
	snprintf(name, size, "%.*s", (int)strcspn(w, ":"), w);
	int i = sched_worker_find(s, name);
	if (i < 0 && kind && !strcmp(kind, "local"))
		i = sched_worker_gone_local(s, name);
	return i;
}

/* Take node id back into a slot (or prepare it ahead when all are busy). */
static void resume_node(struct sched *s, struct node *n, enum node_status st, bool has_job)
{
	int gpu = worker_gpu(n->worker);
	struct slot *sl = NULL;

	if (has_job) {
		char *path = sched_path(s, "runs", n->id, "job.json");
		struct err e = {{0}};
		cJSON *job = fs_exists(path) ? json_parse_file(path, &e) : NULL;
		char name[128];
		int w = job_worker(s, n, job, name, sizeof name);
		free(path);
		if (w < 0) {
			struct slot tmp = {.gpu = -1, .tree = -1};
			char *why = xasprintf("its worker %s is no longer in workers.json, so the "
					      "job cannot be reached",
					      name);
			sched_lost(s, sched_slot_take(s, &tmp, n->id), why);
			free(why);
			cJSON_Delete(job);
			return;
		}
		sl = sched_slot_take(s, sched_worker_slot(s, w, gpu), n->id);
		claim_job_tree(s, sl, job);
		cJSON_Delete(job);
		start_node(s, n, st, sl);
		return;
	}
	if (st == ST_ANALYZING) {
		/* Its job has ended: its slot is freed as soon as it is taken. */
		struct slot tmp = {.gpu = -1, .tree = -1};
		start_node(s, n, st, sched_slot_take(s, &tmp, n->id));
		return;
	}
	sl = sched_free_slot(s, gpu);
	if (!sl)
		sl = sched_free_slot(s, -1);
	if (!sl) {
		sched_ahead_add(s, n->id);
		return;
	}
	start_node(s, n, st, sched_slot_take(s, sl, n->id));
}

void sched_start(struct sched *s, bool after_crash)
{
	struct tree *t = &s->wd->tree;
	uint32_t *later = xcalloc(t->len ? t->len : 1, sizeof *later);
	size_t nlater = 0;

	place_sweep(&s->wd->cfg, s->wd->path); /* no call runs yet */
	/* The first pictures a turn after the start, or at the end: not in a start's rush. */
	s->pictures_at = mono_ms();
	/*
	 * Jobs first, so that the work trees they run in are known before any
	 * other node is given one; then the rest, as they were found (a job
	 * that ended meanwhile is analysing by then, and must not be taken twice).
	 */
	for (uint32_t id = 0; id < t->len; id++) {
		struct node *n = &t->nodes[id];
		enum node_status st = n->status == ST_PAUSED ? n->resume_to : n->status;
		if (!n->present || !status_is_active(st))
			continue;
		if (st == ST_PREPARING || st == ST_ANALYZING)
			later[nlater++] = id;
		else
			resume_node(s, n, st, true);
	}
	for (size_t i = 0; i < nlater; i++) {
		struct node *n = &t->nodes[later[i]];
		resume_node(s, n, n->status == ST_PAUSED ? n->resume_to : n->status, false);
	}
	free(later);
	if (after_crash)
		sched_branches_restore(s);
	sched_judge_waiting(s); /* where the engine stopped between the two */
	sched_timer_arm(s);
}

void sched_node_changed(struct sched *s, uint32_t id)
{
	struct slot *sl = sched_slot_of(s, id);
	struct node *n = tree_get(&s->wd->tree, id);

	if (!sl) {
		sched_ahead_changed(s, id);
		return;
	}
	if (!n)
		return;
	if (n->status == ST_CANCELLED) {
		if (sl->have_job)
			sched_kill(s, sl, "cancelled");
		/* A node still preparing is dropped when the git thread answers. */
		return;
	}
	if (!sl->have_job) {
		/* Not started: paused, it waits in the queue (when the git thread
		 * has answered); resumed meanwhile, it is still being prepared. */
		if (n->status == ST_QUEUED) {
			n->status = ST_PREPARING;
			sched_record_light(s, "prepare", n);
		} else if (n->status == ST_PAUSED && !sl->preparing) {
			sched_slot_release(s, sl);
		}
		return;
	}
	if (n->status == ST_PAUSED && !sl->job.paused) {
		sched_job_signal(s, sl, SIGSTOP);
		sl->paused_at = mono_ms();
	} else if (n->status != ST_PAUSED && sl->job.paused) {
		sched_job_signal(s, sl, SIGCONT);
		/* Time stopped counts neither as a stall nor against job_timeout. */
		sl->last_progress = mono_ms();
		if (sl->paused_at)
			sl->paused_ms += mono_ms() - sl->paused_at;
		sl->paused_at = 0;
	}
}
