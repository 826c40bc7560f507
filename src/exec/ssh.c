/*
 * ssh.c — the ssh executor: jobs on a worker reached over SSH (see
 * exec.h), through one connection (sshconn.h) and the scripts of
 * remote.h. Everything here runs on the main thread and never blocks:
 * each request is answered from the loop, and bundles are made on a
 * thread of the executor's own (bg.h).
 *
 * A job's life: its code shipped (the worker's commits are asked once
 * per connection; a bundle of what it lacks is made and put, unless it
 * has the commit), then one request that fetches, checks out and starts
 * the job, sent again until it is answered (it starts the job once,
 * however often it comes). Then polled: one request a second for every
 * job of the worker and its GPUs, and its log read from where the
 * mirror in the local run folder ends, at most LOG_SLICE a job a poll.
 * A job that ended is told to the engine once its log is mirrored whole:
 * build_exit and exit_code are then written in the local run folder, as
 * the local supervisor writes them, so that a restart finds the outcome
 * there. While the worker is out of reach its jobs are running-unknown.
 */
#include "hypotop/exec.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "hypotop/bg.h"
#include "hypotop/fsutil.h"
#include "hypotop/json.h"
#include "hypotop/remote.h"
#include "hypotop/ssh_int.h"
#include "hypotop/sshconn.h"
#include "hypotop/vcs.h"
#include "hypotop/workers.h"

struct sjob *ssh_job_of(struct ssh_exec *S, unsigned long token)
{
	for (size_t i = 0; i < S->njobs; i++)
		if (S->jobs[i].token == token)
			return &S->jobs[i];
	return NULL;
}

struct req *ssh_req_new(struct ssh_exec *S, unsigned long token)
{
	struct req *r = xcalloc(1, sizeof *r);

	r->S = S;
	r->token = token;
	r->next = S->reqs.next;
	r->prev = &S->reqs;
	S->reqs.next->prev = r;
	S->reqs.next = r;
	return r;
}

void ssh_strv_free(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

void ssh_req_free(struct req *r)
{
	r->prev->next = r->next;
	r->next->prev = r->prev;
	if (r->bundle)
		unlink(r->bundle);
	free(r->bundle);
	free(r->tokens);
	ssh_strv_free(r->known, r->nknown);
	free(r);
}

bool ssh_up(struct ssh_exec *S)
{
	struct sshc_status st;

	sshc_status(S->c, &st);
	return st.state == SSHC_UP;
}

/* Tell the engine of every job with news; looked for afresh after each, which may release jobs. */
static void deliver(struct ssh_exec *S)
{
	for (;;) {
		size_t i = 0;
		while (i < S->njobs && !S->jobs[i].news)
			i++;
		if (i == S->njobs)
			return;
		S->jobs[i].news = false;
		S->x.news(S->jobs[i].token, S->x.news_ctx);
	}
}

static void on_wake(struct loop *l, void *ctx)
{
	(void)l;
	deliver(ctx);
}

static char *local_file(const struct sjob *sj, const char *name)
{
	return path_join(sj->run_dir, name);
}

static void record_code(const struct sjob *sj, const char *name, int code)
{
	char text[16];
	char *path = local_file(sj, name);
	struct err e = {{0}};

	snprintf(text, sizeof text, "%d\n", code);
	fs_write_atomic(path, text, strlen(text), 0644, &e);
	free(path);
}

void ssh_job_end(struct ssh_exec *S, struct sjob *sj, const struct job_result *r)
{
	sj->phase = ENDED;
	sj->end = *r;
	if (r->build_code >= 0)
		record_code(sj, "build_exit", r->build_code);
	if (r->kind[0]) {
		/* Before the codes: a restart that finds them finds why too. */
		char *path = local_file(sj, "failure");
		char *text = xasprintf("%s %s\n", r->kind, r->why);
		struct err e = {{0}};
		fs_write_atomic(path, text, strlen(text), 0644, &e);
		free(text);
		free(path);
	}
	if (r->state == JOB_DONE)
		record_code(sj, "exit_code", r->exit_code);
	sj->news = true;
	loop_wake(S->x.loop);
}

static void job_end(struct ssh_exec *S, struct sjob *sj, enum job_state state, int build,
		    int code)
{
	struct job_result r = {.state = state, .exit_code = code, .build_code = build};

	ssh_job_end(S, sj, &r);
}

/* A line of hypotop's own at the end of the local log. */
static void log_say(const struct sjob *sj, const char *fmt, ...) PRINTF_LIKE(2, 3);
static void log_say(const struct sjob *sj, const char *fmt, ...)
{
	char *path = local_file(sj, "log");
	int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	struct buf b;
	va_list ap;

	buf_init(&b);
	buf_adds(&b, "[hypotop] ");
	va_start(ap, fmt);
	buf_vprintf(&b, fmt, ap);
	va_end(ap);
	buf_addc(&b, '\n');
	if (fd >= 0) {
		if (write(fd, b.data, b.len) < 0) {
			/* The engine still hears the failure from the codes. */
		}
		close(fd);
	}
	buf_free(&b);
	free(path);
}

/* The job could not be started on the worker: failed as kind, with the reason in its log. */
void ssh_job_refused(struct ssh_exec *S, struct sjob *sj, const char *kind, const char *why)
{
	struct job_result r = {.state = JOB_DONE, .exit_code = 1, .build_code = -1};

	snprintf(r.kind, sizeof r.kind, "%s", kind);
	snprintf(r.why, sizeof r.why, "worker %s cannot run the job: %s", S->name, why);
	log_say(sj, "error: %s", r.why);
	ssh_job_end(S, sj, &r);
}

/* ---- job.json ----------------------------------------------------------- */

static long long local_size(const struct sjob *sj)
{
	char *path = local_file(sj, "log");
	struct stat st;
	long long n = stat(path, &st) == 0 ? (long long)st.st_size : 0;

	free(path);
	return n;
}

static void record_write(const struct sjob *sj, cJSON *rec)
{
	char *path = local_file(sj, "job.json");
	char *text = cJSON_Print(rec);
	struct err e = {{0}};

	if (text) {
		size_t n = strlen(text);
		text = xrealloc(text, n + 2);
		text[n] = '\n';
		text[n + 1] = '\0';
		if (fs_write_atomic(path, text, n + 1, 0644, &e) < 0)
			log_say(sj, "error: %s", e.msg);
	}
	free(text);
	free(path);
}

/* The remote pid and start time (a Slurm job's id), once the first poll saw them. */
static void record_pid(const struct ssh_exec *S, struct sjob *sj)
{
	char *path = local_file(sj, "job.json");
	struct err e = {{0}};
	cJSON *rec = json_parse_file(path, &e);

	free(path);
	if (!rec)
		return;
	cJSON_DeleteItemFromObject(rec, "pid");
	cJSON_DeleteItemFromObject(rec, "start_time");
	cJSON_DeleteItemFromObject(rec, "slurm_job_id");
	if (S->slurm) {
		cJSON_AddNumberToObject(rec, "slurm_job_id", (double)sj->pid);
	} else {
		cJSON_AddNumberToObject(rec, "pid", (double)sj->pid);
		cJSON_AddNumberToObject(rec, "start_time", (double)sj->start_time);
	}
	record_write(sj, rec);
	cJSON_Delete(rec);
}

/* ---- polling ------------------------------------------------------------ */

static void read_log(struct ssh_exec *S, struct sjob *sj);

/* Ended, and its log mirrored to where it ended: told. */
static void settle(struct ssh_exec *S, struct sjob *sj)
{
	if (sj->phase != RUNNING || sj->reading || sj->mirrored < sj->st.log_size)
		return;
	if (sj->st.exit_code >= 0)
		job_end(S, sj, JOB_DONE, sj->st.build_exit, sj->st.exit_code);
	else if (S->slurm)
		slurm_settle(S, sj);
	else if (!sj->st.launched || (!sj->st.alive && (sj->st.pid ||
				       mono_ms() - sj->no_pid_since > NO_PID_MS)))
		job_end(S, sj, JOB_LOST, sj->st.build_exit, -1);
}

static void read_done(void *ctx, const struct sshc_reply *rep)
{
	struct req *r = ctx;
	struct ssh_exec *S = r->S;
	struct sjob *sj = ssh_job_of(S, r->token);

	ssh_req_free(r);
	if (!sj)
		return;
	sj->reading = false;
	if (rep->rc < 0 || !rep->out_len)
		return; /* again at the next poll */
	char *path = local_file(sj, "log");
	int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
	free(path);
	/* At its place, not appended: a slice read twice is written twice to the same bytes. */
	if (fd >= 0 && pwrite(fd, rep->out, rep->out_len, (off_t)(sj->log_base + sj->mirrored)) ==
			       (ssize_t)rep->out_len)
		sj->mirrored += (long long)rep->out_len;
	if (fd >= 0)
		close(fd);
	settle(S, sj);
}

static void read_log(struct ssh_exec *S, struct sjob *sj)
{
	if (sj->reading || sj->st.log_size <= sj->mirrored)
		return;
	char *log = path_join(sj->remote, "log");
	sj->reading = true;
	sshc_read(S->c, log, sj->mirrored, LOG_SLICE, read_done, ssh_req_new(S, sj->token));
	free(log);
}

/* Take the poll's word on sj; true when what its cluster says of it changed. */
static bool poll_job(struct ssh_exec *S, struct sjob *sj, const struct remote_state *st)
{
	if (!st->seen || sj->phase != RUNNING)
		return false;
	bool news = strcmp(sj->st.slurm_state, st->slurm_state) ||
		    strcmp(sj->st.slurm_reason, st->slurm_reason) ||
		    strcmp(sj->st.slurm_node, st->slurm_node);
	/* Set once a state: the view counts from it, without a word at each poll. */
	if (news || (!sj->state_since && st->slurm_since_s >= 0))
		sj->state_since = st->slurm_since_s >= 0 ? now_ms() - st->slurm_since_s * 1000 : 0;
	sj->st = *st;
	if (st->pid && (st->pid != sj->pid || st->start_time != sj->start_time)) {
		sj->pid = st->pid;
		sj->start_time = st->start_time;
		record_pid(S, sj);
	}
	read_log(S, sj);
	settle(S, sj);
	return news;
}

static void poll_done(void *ctx, const struct sshc_reply *rep)
{
	struct req *r = ctx;
	struct ssh_exec *S = r->S;

	S->polling = false;
	if (rep->rc == 0 && rep->exit_code == 0) {
		struct remote_state *st = xcalloc(r->ntokens + 1, sizeof *st);
		struct worker_gpu gpu[WORKER_GPUS_MAX] = {{0}};
		size_t ngpu = 0;
		bool changed = false;
		if (S->slurm) {
			changed = slurm_polled(S, rep->out, st, r->ntokens);
		} else {
			remote_parse_poll(rep->out, st, r->ntokens, gpu, &ngpu);
			changed = ngpu != S->ngpu || memcmp(gpu, S->gpu, ngpu * sizeof *gpu);
		}
		memcpy(S->gpu, gpu, sizeof gpu);
		S->ngpu = ngpu;
		for (size_t i = 0; i < r->ntokens; i++) {
			struct sjob *sj = ssh_job_of(S, r->tokens[i]);
			if (sj && poll_job(S, sj, &st[i]))
				changed = true; /* the workers view shows it too */
		}
		free(st);
		/* The views show the heartbeat's age: told now and then, not at every answer. */
		struct sshc_status cs;
		sshc_status(S->c, &cs);
		if (cs.last_ok - S->told_heartbeat >= HEARTBEAT_TELL_MS) {
			S->told_heartbeat = cs.last_ok;
			changed = true;
		}
		if (changed && S->changed)
			S->changed(S->x.news_ctx);
	}
	ssh_req_free(r);
}

static void poll_send(struct ssh_exec *S)
{
	if (S->polling || !ssh_up(S))
		return;
	struct req *r = ssh_req_new(S, 0);
	char **runs = xcalloc(S->njobs + 1, sizeof *runs);
	r->tokens = xcalloc(S->njobs + 1, sizeof *r->tokens);
	for (size_t i = 0; i < S->njobs; i++)
		if (S->jobs[i].phase == RUNNING) {
			runs[r->ntokens] = S->jobs[i].remote;
			r->tokens[r->ntokens++] = S->jobs[i].token;
		}
	char *script = S->slurm ? remote_slurm_poll_script(runs, r->ntokens)
				: remote_poll_script(runs, r->ntokens, true);
	S->polling = true;
	S->last_poll = mono_ms();
	sshc_exec(S->c, script, NULL, 0, 0, poll_done, r);
	free(script);
	free(runs);
}

/* Ship what waits, and poll when there are jobs or the heartbeat is due. */
void ssh_kick(struct ssh_exec *S)
{
	bool running = false;

	for (size_t i = 0; i < S->njobs; i++) {
		ssh_ship(S, &S->jobs[i]);
		running |= S->jobs[i].phase == RUNNING;
	}
	if (running || mono_ms() - S->last_poll >= IDLE_POLL_MS)
		poll_send(S);
}

static void on_timer(struct loop *l, int fd, short revents, void *ctx)
{
	uint64_t n;

	(void)l;
	(void)revents;
	if (read(fd, &n, sizeof n) < 0) {
		/* Not expired after all: the next one comes. */
	}
	ssh_kick(ctx);
}

static void on_conn(void *ctx)
{
	struct ssh_exec *S = ctx;

	if (ssh_up(S))
		ssh_kick(S);
	if (S->changed)
		S->changed(S->x.news_ctx);
}

/* ---- the table ---------------------------------------------------------- */

static struct sjob *job_add(struct ssh_exec *S, struct job *j, const char *run_dir)
{
	if (S->njobs == S->capjobs) {
		S->capjobs = S->capjobs ? 2 * S->capjobs : 8;
		S->jobs = xrealloc(S->jobs, S->capjobs * sizeof *S->jobs);
	}
	struct sjob *sj = &S->jobs[S->njobs++];
	*sj = (struct sjob){.token = ++S->tokens, .run_dir = xstrdup(run_dir)};
	sj->st = (struct remote_state){.build_exit = -1, .exit_code = -1, .log_size = -1};
	memset(j, 0, sizeof *j);
	j->run_dir = xstrdup(run_dir);
	j->token = sj->token;
	return sj;
}

static void env_add(cJSON *env, const char *const *v)
{
	for (; v && *v; v++) {
		const char *eq = strchr(*v, '=');
		if (!eq)
			continue;
		char *name = xstrndup(*v, (size_t)(eq - *v));
		cJSON_DeleteItemFromObject(env, name);
		cJSON_AddStringToObject(env, name, eq + 1);
		free(name);
	}
}

static void ssh_release(struct executor *x, struct job *j);

static int ssh_launch(struct executor *x, const struct job_spec *s, struct job *j, struct err *e)
{
	struct ssh_exec *S = (struct ssh_exec *)x;

	if (!s->commit || strlen(s->commit) != VCS_OID_HEX - 1) {
		err_set(e, "worker %s: the node has no commit to ship", S->name);
		return -1;
	}
	const char *base = strrchr(s->run_dir, '/');
	char *run = xasprintf("%s.%lld", base ? base + 1 : s->run_dir, (long long)now_ms());
	char *node = xasprintf("%s", s->node ? s->node : run);
	char *ns = ssh_ns(s->run_dir);
	struct remote_job rj = {.workspace = S->workspace,
				.project = S->project,
				.ns = ns,
				.node = node,
				.run = run,
				.commit = s->commit,
				.setup = S->setup,
				.build = s->build,
				.launch = s->launch,
				.env = s->env,
				.unset = s->unset,
				.gpu = S->slurm ? -1 : s->gpu,
				.slurm = S->slurm ? &S->slurm->o : NULL};
	struct sjob *sj = job_add(S, j, s->run_dir);
	sj->remote = remote_run_path(S->workspace, ns, run);
	sj->commit = xstrdup(s->commit);
	sj->has_build = j->has_build = s->build != NULL;
	sj->log_base = local_size(sj);
	char *bundle = ssh_bundle_remote(S, sj);
	rj.bundle = bundle;
	sj->script = remote_launch_script(&rj);
	/*
	 * Kept before job.json, for a restart to send again: it starts the job
	 * once however often it comes, so a job whose launch was lost with
	 * hypotop still runs, once, as the same node.
	 */
	char *keep = local_file(sj, "launch.sh");
	if (fs_write_atomic(keep, sj->script, strlen(sj->script), 0600, e) < 0) {
		free(keep);
		free(bundle);
		free(ns);
		free(node);
		free(run);
		ssh_release(x, j);
		return -1;
	}
	free(keep);

	cJSON *rec = cJSON_CreateObject();
	cJSON_AddStringToObject(rec, "executor", S->x.ops->kind);
	cJSON_AddStringToObject(rec, "worker", S->name);
	cJSON_AddStringToObject(rec, "node", node);
	cJSON_AddStringToObject(rec, "commit", s->commit);
	char *tree = remote_tree_path(S->workspace, ns, node);
	cJSON_AddStringToObject(rec, "cwd", tree);
	cJSON_AddStringToObject(rec, "remote", sj->remote);
	if (s->build)
		cJSON_AddStringToObject(rec, "build", s->build);
	cJSON_AddStringToObject(rec, "launch", s->launch);
	cJSON *env = cJSON_AddObjectToObject(rec, "env");
	env_add(env, s->env);
	cJSON_AddNumberToObject(rec, "log_base", (double)sj->log_base);
	cJSON_AddNumberToObject(rec, "launched", (double)now_ms());
	record_write(sj, rec);
	cJSON_Delete(rec);
	free(tree);
	free(bundle);
	free(ns);
	free(node);
	free(run);
	ssh_ship(S, sj);
	return 0;
}

/* Why the executor failed the job, as ssh_job_end recorded it: "KIND WHY". */
static void failure_read(const struct sjob *sj, struct job_result *r)
{
	char *path = local_file(sj, "failure");
	char *text = fs_read(path, NULL, NULL);
	char *sp = text ? strchr(text, ' ') : NULL;

	if (sp && sp > text && (size_t)(sp - text) < sizeof r->kind) {
		snprintf(r->kind, sizeof r->kind, "%.*s", (int)(sp - text), text);
		snprintf(r->why, sizeof r->why, "%s", str_trim(sp + 1));
	}
	free(text);
	free(path);
}

/*
 * A job found without its outcome is launched again, with the launch it
 * was given: the worker answers "launched" at once for one it started,
 * and starts it now, once, when hypotop died before it could.
 */
static void relaunch(struct sjob *sj, const char *commit)
{
	char *path = local_file(sj, "launch.sh");

	sj->script = commit ? fs_read(path, NULL, NULL) : NULL;
	if (sj->script) {
		sj->commit = xstrdup(commit);
		sj->phase = SHIP;
	}
	free(path);
}

/* job.json says where the job runs; its outcome may be recorded here already. */
static int ssh_attach(struct executor *x, const char *run_dir, struct job *j, struct err *e)
{
	struct ssh_exec *S = (struct ssh_exec *)x;
	struct sjob *sj = job_add(S, j, run_dir);
	char *path = local_file(sj, "job.json");
	cJSON *rec = fs_exists(path) ? json_parse_file(path, e) : NULL;
	const char *remote = rec ? json_string(rec, "remote") : NULL;
	const char *worker = rec ? json_string(rec, "worker") : NULL;
	long long code;
	char *text;

	sj->phase = ENDED;
	sj->end = (struct job_result){.state = JOB_NOT_STARTED, .build_code = -1};
	if (rec && (!remote || !worker || strcmp(worker, S->name))) {
		err_set(e, "%s: not a job of worker %s (\"worker\": %s)", path, S->name,
			worker ? worker : "none");
	} else if (rec) {
		sj->remote = xstrdup(remote);
		sj->has_build = j->has_build = json_string(rec, "build") != NULL;
		const cJSON *v;
		if ((v = cJSON_GetObjectItemCaseSensitive(rec, "log_base")) && cJSON_IsNumber(v))
			sj->log_base = (long long)v->valuedouble;
		if ((v = cJSON_GetObjectItemCaseSensitive(rec, "pid")) && cJSON_IsNumber(v))
			sj->pid = (long long)v->valuedouble;
		if ((v = cJSON_GetObjectItemCaseSensitive(rec, "start_time")) && cJSON_IsNumber(v))
			sj->start_time = (long long)v->valuedouble;
		if ((v = cJSON_GetObjectItemCaseSensitive(rec, "slurm_job_id")) && cJSON_IsNumber(v))
			sj->pid = (long long)v->valuedouble;
		sj->mirrored = local_size(sj) - sj->log_base;
		if (sj->mirrored < 0)
			sj->mirrored = 0;
		char *ec = local_file(sj, "exit_code");
		text = fs_read(ec, NULL, NULL);
		free(ec);
		if (text && sscanf(text, "%lld", &code) == 1) {
			char *be = local_file(sj, "build_exit");
			char *btext = fs_read(be, NULL, NULL);
			long long b = -1;
			if (!btext || sscanf(btext, "%lld", &b) != 1)
				b = -1;
			sj->end = (struct job_result){.state = JOB_DONE, .exit_code = (int)code,
						      .build_code = (int)b};
			failure_read(sj, &sj->end);
			free(btext);
			free(be);
		} else {
			sj->phase = RUNNING;
			sj->no_pid_since = mono_ms();
			relaunch(sj, json_string(rec, "commit"));
		}
		free(text);
	}
	cJSON_Delete(rec);
	free(path);
	ssh_kick(S);
	return 0;
}

static void ssh_check(struct executor *x, struct job *j, struct job_result *r)
{
	struct ssh_exec *S = (struct ssh_exec *)x;
	const struct sjob *sj = ssh_job_of(S, j->token);

	memset(r, 0, sizeof *r);
	r->build_code = -1;
	if (!sj) {
		r->state = JOB_NOT_STARTED;
		return;
	}
	if (sj->phase == ENDED) {
		*r = sj->end;
		return;
	}
	r->state = JOB_RUNNING;
	r->build_code = sj->st.build_exit;
	r->building = sj->has_build && sj->st.build_exit < 0;
	r->unknown = !ssh_up(S) || (S->slurm && S->slurm->down[0]);
	/* Not yet known to Slurm counts as waiting too: it has not run. */
	r->waiting = S->slurm && (sj->phase != RUNNING || !sj->pid ||
				  !strcmp(sj->st.slurm_state, "PENDING") ||
				  !strcmp(sj->st.slurm_state, "REQUEUED") ||
				  !strcmp(sj->st.slurm_state, "REQUEUE_HOLD") ||
				  !strcmp(sj->st.slurm_state, "CONFIGURING"));
}

static void signal_done(void *ctx, const struct sshc_reply *rep)
{
	(void)rep;
	ssh_req_free(ctx);
}

static int ssh_signal(struct executor *x, struct job *j, int sig)
{
	struct ssh_exec *S = (struct ssh_exec *)x;
	struct sjob *sj = ssh_job_of(S, j->token);

	if (!sj || sj->phase != RUNNING || sj->st.exit_code >= 0 || !ssh_up(S))
		return -1;
	char *script = S->slurm ? remote_slurm_signal_script(sj->pid, sig)
				: remote_signal_script(sj->remote, sig);
	if (!script)
		return -1;
	sshc_exec(S->c, script, NULL, 0, 0, signal_done, ssh_req_new(S, sj->token));
	free(script);
	if (sig == SIGSTOP)
		j->paused = true;
	else if (sig == SIGCONT)
		j->paused = false;
	return 0;
}

static void ssh_release(struct executor *x, struct job *j)
{
	struct ssh_exec *S = (struct ssh_exec *)x;
	struct sjob *sj = ssh_job_of(S, j->token);

	if (sj) {
		free(sj->run_dir);
		free(sj->remote);
		free(sj->commit);
		free(sj->script);
		*sj = S->jobs[--S->njobs];
	}
	free(j->run_dir);
	memset(j, 0, sizeof *j);
}

static void ssh_free(struct executor *x)
{
	struct ssh_exec *S = (struct ssh_exec *)x;

	sshc_free(S->c); /* no answer comes after */
	bg_free(S->bg);  /* nor a bundle */
	while (S->reqs.next != &S->reqs)
		ssh_req_free(S->reqs.next);
	for (size_t i = 0; i < S->njobs; i++) {
		free(S->jobs[i].run_dir);
		free(S->jobs[i].remote);
		free(S->jobs[i].commit);
		free(S->jobs[i].script);
	}
	loop_unwatch(S->x.loop, S->timer);
	close(S->timer);
	loop_wake_remove(S->x.loop, on_wake, S);
	ssh_strv_free(S->known, S->nknown);
	free(S->jobs);
	free(S->name);
	free(S->workspace);
	free(S->setup);
	free(S->source_dir);
	free(S->project);
	slurm_mode_free(S->slurm);
	free(S);
}

static void ssh_status(struct executor *x, struct worker_status *st)
{
	struct ssh_exec *S = (struct ssh_exec *)x;
	struct sshc_status cs;

	sshc_status(S->c, &cs);
	st->state = cs.state == SSHC_UP ? WORKER_UP
		    : cs.state == SSHC_CONNECTING ? WORKER_CONNECTING
						  : WORKER_DOWN;
	snprintf(st->reason, sizeof st->reason, "%s", cs.state == SSHC_DOWN ? cs.reason : "");
	if (st->state == WORKER_UP && S->slurm && S->slurm->down[0]) {
		st->state = WORKER_DOWN;
		snprintf(st->reason, sizeof st->reason, "Slurm does not answer: %s", S->slurm->down);
	}
	st->heartbeat = cs.last_ok;
	memcpy(st->gpu, S->gpu, sizeof st->gpu);
	st->ngpu = S->ngpu;
}

static const struct executor_ops ssh_ops = {
	"ssh", ssh_launch, ssh_attach, ssh_check, ssh_signal, ssh_release, ssh_free, ssh_status,
};

void ssh_executor_move(struct executor *x, const char *host, int port)
{
	if (x->ops == &ssh_ops)
		sshc_move(((struct ssh_exec *)x)->c, host, port);
}

static void slurm_info(struct executor *x, const struct job *j, struct job_info *ji)
{
	const struct sjob *sj = ssh_job_of((struct ssh_exec *)x, j->token);

	if (!sj || !sj->pid)
		return;
	snprintf(ji->id, sizeof ji->id, "%lld", sj->pid);
	snprintf(ji->state, sizeof ji->state, "%s", sj->st.slurm_state);
	snprintf(ji->reason, sizeof ji->reason, "%s", sj->st.slurm_reason);
	snprintf(ji->where, sizeof ji->where, "%s", sj->st.slurm_node);
	ji->since = sj->state_since;
}

const struct executor_ops ssh_slurm_ops = {
	"slurm",  ssh_launch, ssh_attach, ssh_check,  ssh_signal,
	ssh_release, ssh_free, ssh_status, slurm_info,
};

struct ssh_exec *ssh_exec_new(const struct executor_ops *ops, struct loop *loop,
			      const struct ssh_target *t, const char *workspace,
			      const char *setup, const char *source_dir, exec_news_fn news,
			      void *ctx, void (*changed)(void *ctx))
{
	struct ssh_exec *S = xcalloc(1, sizeof *S);

	S->x = (struct executor){ops, loop, news, ctx};
	S->name = xstrdup(t->name);
	S->workspace = xstrdup(workspace && *workspace ? workspace : "hypotop");
	S->setup = setup ? xstrdup(setup) : NULL;
	S->source_dir = xstrdup(source_dir);
	S->project = ssh_name(source_dir);
	S->changed = changed;
	S->reqs.next = S->reqs.prev = &S->reqs;
	S->bg = bg_new(loop, 1);
	S->last_poll = mono_ms() - IDLE_POLL_MS;
	S->timer = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (S->timer >= 0) {
		loop_watch(loop, S->timer, POLLIN, on_timer, S);
		loop_timer_set(S->timer, mono_ms() + TICK_MS, TICK_MS);
	}
	loop_wake_add(loop, on_wake, S);
	S->c = sshc_new(t, loop, on_conn, S);
	return S;
}

struct ssh_target ssh_target_of(const struct worker_def *w, const char *name)
{
	return (struct ssh_target){
		.name = name,
		.host = w->host,
		.port = (int)w->port,
		.user = w->user,
		.key_file = w->key_file,
		.known_hosts = w->known_hosts,
		.accept_new = w->accept_new_host_key,
	};
}

struct executor *ssh_executor_new(struct loop *loop, const struct worker_def *w,
				  const char *source_dir, exec_news_fn news, void *ctx,
				  void (*changed)(void *ctx))
{
	struct ssh_target t = ssh_target_of(w, w->name);

	return &ssh_exec_new(&ssh_ops, loop, &t, w->workspace, w->setup, source_dir, news, ctx,
			     changed)
			->x;
}
