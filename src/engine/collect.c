/*
 * collect.c — the end of a run: collect its outcome, analyse it, decide
 * whether it improved, and rewrite the reports. Planning is in plan.c.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hypotop/fsutil.h"
#include "hypotop/json.h"
#include "hypotop/lifecycle.h"
#include "hypotop/llm.h"
#include "hypotop/ops.h"
#include "hypotop/vcs.h"

/* A durable record (fsync), or a view of what the run's log already holds. */
static void write_text(struct sched *s, uint32_t id, const char *file, const char *text,
		       bool durable)
{
	char *path = sched_path(s, "runs", id, file);

	sched_write(s, path, text, strlen(text), 0644, durable);
	free(path);
}

/*
 * The analysis runs on the planner thread (a model call may take a minute);
 * the task owns copies of everything it reads.
 */
struct analyse_task {
	struct sched *s;
	uint32_t node;
	bool ok;
	char *kind, *why;
	char nid[NODE_ID_LEN], bid[NODE_ID_LEN], pid[NODE_ID_LEN];
	enum keep_call keep;  /* what the keep rule made of the run when it ended */
	bool unapplied;       /* its change never applied: nothing ran, nothing to ask */
	char *name, *hypothesis, *metrics_json, *tail, *change, *commit;
	char *diff; /* "## The change" of analysis.md, or NULL */
	struct analyse_request r;
	char *analysis;
	cJSON *verdict;
	int rc;
	const char *llm_kind; /* why the planner failed: PLANNER_KINDS */
	cJSON *calls;         /* the requests' log stems (planner_take_calls), or NULL */
	struct err e;
	struct repair_task *repair; /* a death at start-up to repair, or NULL */
	bool written;               /* analysis.md, by the planner thread */
	struct err write_e;
};

#define DIFF_LINES 200 /* of a node's diff in its analysis.md */

/*
 * "## The change": the node's commit as git diff shows it against its
 * parent's (engine/nodes/<id>/change.diff, written when the commit was
 * made), fenced, its first DIFF_LINES lines, control characters made
 * visible. NULL when the node has no change or its commit no diff file.
 */
static char *diff_section(const struct analyse_task *t)
{
	struct err e = {{0}};
	size_t len = 0, run = 0, most = 2, lines = 0;
	char *path = sched_path(t->s, "engine/nodes", t->node, "change.diff");
	char *diff = t->change && t->commit && fs_exists(path)
			     ? fs_read_max(path, FS_MAX_PATCH, &len, &e)
			     : NULL;
	struct buf b;

	free(path);
	if (!diff)
		return NULL;
	/* A fence longer than any run of backticks in it, so that no line can close it. */
	for (size_t i = 0; i < len; i++) {
		run = diff[i] == '`' ? run + 1 : 0;
		most = run > most ? run : most;
	}
	buf_init(&b);
	buf_printf(&b, "\n## The change\n\nIts commit against %s's (git diff):\n\n",
		   t->pid[0] ? t->pid : "the source");
	if (!len)
		buf_adds(&b, "No file differs: the change sets what the parent had.\n");
	for (size_t i = 0; i <= most && len; i++)
		buf_addc(&b, '`');
	buf_adds(&b, len ? "diff\n" : "");
	const char *p = diff;
	for (; *p && lines < DIFF_LINES; lines++) {
		size_t n = strcspn(p, "\n");
		char *line = xstrndup(p, n);
		llm_add_md(&b, line);
		buf_addc(&b, '\n');
		free(line);
		p += n + (p[n] == '\n');
	}
	for (size_t i = 0; i <= most && len; i++)
		buf_addc(&b, '`');
	buf_adds(&b, len ? "\n" : "");
	size_t more = 0;
	for (; *p; p++)
		more += *p == '\n' || !p[1];
	if (more)
		buf_printf(&b, "\n… %zu more line%s, in engine/nodes/%s/change.diff\n", more,
			   more == 1 ? "" : "s", t->nid);
	free(diff);
	return buf_steal(&b);
}

/* Stopped by the pruning rule (prune.c): no failure of the code. */
static bool pruned_kind(const char *kind)
{
	return kind && !strcmp(kind, "pruned");
}

/*
 * runs/<id>/analysis.md: the planner's analysis, or why there is none, the
 * change, and what hypotop saw.
 */
static void compose_analysis(const struct analyse_task *t, struct buf *a)
{
	if (t->rc == 0)
		buf_adds(a, t->analysis);
	else
		buf_printf(a, "# %s\n\n%s\n\n(No analysis: %s)\n", t->nid,
			   t->ok	   ? "Completed."
			   : pruned_kind(t->kind) ? "Pruned: stopped early, no failure of its code."
						  : "Failed.",
			   t->e.msg[0] ? t->e.msg : "no planner");
	if (t->diff)
		buf_adds(a, t->diff);
	if (t->why && *t->why)
		buf_printf(a, "\n## What hypotop saw\n\n%s\n", t->why);
}

static void analyse_work(void *arg)
{
	struct analyse_task *t = arg;
	struct place pl;

	t->rc = -1;
	if (t->unapplied) {
		err_set(&t->e, "its change never applied (%s), so nothing ran to analyse",
			t->kind ? t->kind : "prepare");
	} else if (t->s->planner && place_open(&pl, t->r.cfg, t->s->wd->path, t->nid, t->commit,
					       &t->e) == 0) {
		t->r.place = &pl.pl;
		t->rc = planner_analyse(t->s->planner, &t->r, &t->analysis, &t->verdict,
					&t->llm_kind, &t->e);
		t->calls = planner_take_calls();
		place_close(&pl);
	}
	repair_work(t->repair, t->s->planner);
	t->diff = diff_section(t);
	/* A model's is durable here, off the main thread, before the node is recorded as ended. */
	struct buf a;
	buf_init(&a);
	compose_analysis(t, &a);
	char *path = sched_path(t->s, "runs", t->node, "analysis.md");
	bool paid = t->s->planner && t->s->planner->paid;
	t->written = (paid ? fs_write_atomic : fs_write_view)(path, a.data, a.len, 0644,
							      &t->write_e) == 0;
	free(path);
	buf_free(&a);
}

static void analyse_task_free(struct analyse_task *t)
{
	free(t->kind);
	free(t->why);
	free(t->name);
	free(t->hypothesis);
	free(t->metrics_json);
	free(t->tail);
	free(t->change);
	free(t->commit);
	free(t->diff);
	free(t->analysis);
	cJSON_Delete(t->verdict);
	cJSON_Delete(t->calls);
	repair_free(t->repair);
	free(t);
}

/* One file of engine/nodes/<id>/; a failure (a full disk) is said. */
static void write_node_file(struct sched *s, const char *dir, const char *name,
			    const struct buf *b)
{
	char *path = path_join(dir, name);

	sched_write(s, path, b->data, b->len, 0644, false);
	free(path);
}

/*
 * engine/nodes/<id>/: the node's spec, status and result as separate small
 * files, for people and scripts (the source of truth stays tree.json and
 * the journal).
 */
static void write_node_files(struct sched *s, struct node *n, const cJSON *verdict)
{
	char nid[NODE_ID_LEN];
	struct err e = {{0}};
	struct buf b;

	node_id_format(n->id, nid);
	char *dir = xasprintf("%s/engine/nodes/%s", s->wd->path, nid);
	if (fs_mkdir_p(dir, 0755, &e) < 0) {
		sched_say(s, "warning: %s", e.msg);
		free(dir);
		return;
	}
	buf_init(&b);
	node_to_json(n, &b);
	buf_addc(&b, '\n');
	write_node_file(s, dir, "spec.json", &b);
	buf_reset(&b);
	buf_printf(&b, "%s\n", status_name(n->status));
	write_node_file(s, dir, "status.txt", &b);
	buf_reset(&b);
	buf_adds(&b, "{\n  \"metric\": ");
	if (n->has_metric)
		buf_printf(&b, "%.17g", n->metric);
	else
		buf_adds(&b, "null");
	buf_printf(&b, ",\n  \"improved\": %s,\n  \"commit\": ",
		   n->improved < 0 ? "null" : n->improved ? "true" : "false");
	if (n->commit)
		json_append_str(&b, n->commit);
	else
		buf_adds(&b, "null");
	buf_adds(&b, ",\n  \"failure\": ");
	if (n->failure_kind) {
		buf_adds(&b, "{\"kind\": ");
		json_append_str(&b, n->failure_kind);
		buf_adds(&b, ", \"phase\": ");
		json_append_str(&b, n->failure_phase ? n->failure_phase : "");
		buf_addc(&b, '}');
	} else {
		buf_adds(&b, "null");
	}
	buf_printf(&b, ",\n  \"duration_s\": %.3f,\n  \"verdict\": ",
		   n->started && n->finished ? (double)(n->finished - n->started) / 1000 : 0.0);
	if (verdict)
		json_append(&b, verdict);
	else
		buf_adds(&b, "null");
	buf_adds(&b, "\n}\n");
	write_node_file(s, dir, "result.json", &b);
	buf_free(&b);
	free(dir);
}

void sched_note_judged(struct sched *s, struct node *n, const char *heading, const char *what,
		       bool by_repeats)
{
	char nid[NODE_ID_LEN];
	struct err e = {{0}};
	struct buf a;

	node_id_format(n->id, nid);
	char *path = sched_path(s, "runs", n->id, "analysis.md");
	char *old = fs_exists(path) ? fs_read(path, NULL, &e) : NULL;
	buf_init(&a);
	buf_adds(&a, old ? old : "");
	buf_printf(&a, "\n## %s\n\n%s.\n\n%s\n", heading, what,
		   n->improved == 1 ? "Improved: the mean of its runs beats the best's beyond the "
				      "noise; it is the best so far."
		   : by_repeats	    ? "Not improved: the gain of its first run was not borne out by "
				      "its repeats."
				    : "Not improved: it does not beat the best beyond the noise.");
	sched_write(s, path, a.data, a.len, 0644, s->planner && s->planner->paid);
	free(old);
	free(path);
	buf_free(&a);
	/* result.json: the verdict its analysis gave, and improved as judged now. */
	char *rel = xasprintf("engine/nodes/%s/result.json", nid);
	path = workdir_file(s->wd, rel);
	cJSON *res = fs_exists(path) ? json_parse_file(path, &e) : NULL;
	const cJSON *verdict = cJSON_GetObjectItemCaseSensitive(res, "verdict");
	write_node_files(s, n, cJSON_IsObject(verdict) ? verdict : NULL);
	cJSON_Delete(res);
	free(path);
	free(rel);
}

/* "n0002: completed, val_loss=0.9 (a run of the baseline: 1.0 ± 0.1 (3 runs), σ …)" */
static void say_completed(struct sched *s, struct node *n)
{
	struct workdir *w = s->wd;
	uint32_t of = node_repeat_of(&w->tree, n);
	char nid[NODE_ID_LEN], oid[NODE_ID_LEN];
	struct buf b;

	node_id_format(n->id, nid);
	buf_init(&b);
	if (of != NODE_NONE || (n->parent == NODE_NONE && !n->change)) {
		struct runs r;
		int d = noise_decimals(&w->tree);
		node_id_format(of == NODE_NONE ? n->id : of, oid);
		sched_runs(s, n, &r);
		if (n->parent == NODE_NONE)
			buf_adds(&b, " (a run of the baseline; its runs: ");
		else
			buf_printf(&b, " (a seed repeat of %s; its runs: ", oid);
		noise_format_runs(&b, &r, d);
		buf_adds(&b, "; ");
		noise_format(&b, sched_noise(s), d);
		buf_addc(&b, ')');
	} else if (w->st.best == n->id) {
		buf_adds(&b, " (best so far)");
	}
	sched_say(s, "%s: completed, %s=%.6g%s", nid, w->cfg.metric, n->metric,
		  b.data ? b.data : "");
	buf_free(&b);
}

/* Back on the main thread: write the analysis, keep or not, record. */
static void analyse_done(void *arg)
{
	struct analyse_task *t = arg;
	struct sched *s = t->s;
	struct workdir *w = s->wd;
	struct node *n = tree_get(&w->tree, t->node);

	s->analysing--;
	s->wd->st.llm_usd = planner_spent_usd(s->planner, NULL);
	if (!n || n->status != ST_ANALYZING) {
		analyse_task_free(t);
		return;
	}

	bool cancelled = !t->ok && t->kind && !strcmp(t->kind, "cancelled");
	n->status = t->ok		  ? ST_COMPLETED
		    : cancelled		  ? ST_CANCELLED
		    : pruned_kind(t->kind) ? ST_PRUNED
					  : ST_FAILED;
	uint32_t id = n->id;
	sched_judge(s, n, t->ok, t->keep); /* may add nodes: n moves */
	n = tree_get(&w->tree, id);
	node_add_calls(n, t->calls);
	repair_note_calls(t->repair, n);
	sched_record(s, status_name(n->status), n);
	workdir_record_state(w);
	write_node_files(s, n, t->rc == 0 ? t->verdict : NULL);
	if (t->ok)
		say_completed(s, n);
	else
		sched_say(s, "%s: %s (%s): %s", t->nid, status_name(n->status), t->kind,
			  t->why ? t->why : "");
	if (!t->written && err_out_of_fds(&t->write_e)) {
		/* The planner thread had no descriptor to spare: written from here, later. */
		struct buf a;
		buf_init(&a);
		compose_analysis(t, &a);
		write_text(s, t->node, "analysis.md", a.data, s->planner && s->planner->paid);
		buf_free(&a);
	} else if (!t->written) {
		sched_say(s, "warning: %s", t->write_e.msg);
	}
	if (t->repair) {
		/* What the repair call gave joins the analysis. */
		struct buf a;
		buf_init(&a);
		compose_analysis(t, &a);
		repair_done(s, t->repair, &a); /* may add a node: n is stale after it */
		write_text(s, t->node, "analysis.md", a.data, true);
		buf_free(&a);
	}
	s->reports_dirty = true; /* rewritten at most once a second (sched_step) */
	analyse_task_free(t);
}

/* The run of sl is over: free its slot, record the outcome, analyse it. */
static void finish(struct sched *s, struct slot *sl, bool ok, const char *kind,
		   const char *phase, const char *why)
{
	struct workdir *w = s->wd;
	struct node *n = tree_get(&w->tree, sl->node);
	struct node *parent = n->parent == NODE_NONE ? NULL : tree_get(&w->tree, n->parent);
	struct node *best = w->st.best == NODE_NONE ? NULL : tree_get(&w->tree, w->st.best);
	struct analyse_task *t = xcalloc(1, sizeof *t);
	struct buf mj;
	struct err e = {{0}};

	node_id_format(n->id, t->nid);
	if (!n->finished)
		n->finished = now_ms();
	/* A node that failed before launch has no run folder yet: make it. */
	if (!sl->have_job) {
		char *run_dir = sched_path(s, "runs", n->id, NULL);
		if (fs_mkdir_p(run_dir, 0755, &e) < 0)
			sched_say(s, "warning: %s", e.msg);
		free(run_dir);
	}
	if (!ok) {
		node_set_str(&n->failure_kind, kind);
		node_set_str(&n->failure_phase, phase);
	}
	/* The outcome is on disk before the analysis: a restart redoes only that. */
	n->status = ST_ANALYZING;
	sched_record(s, "analyze", n);
	buf_init(&mj);
	metrics_to_json(&sl->metrics, &mj);
	write_text(s, n->id, "metrics.json", mj.data, false);
	if (best)
		node_id_format(best->id, t->bid);
	if (parent)
		node_id_format(parent->id, t->pid);
	struct runs pr = {0}, br = {0};
	if (parent)
		sched_runs(s, parent, &pr);
	if (best)
		sched_runs(s, best, &br);
	uint32_t of = node_repeat_of(&w->tree, n);
	t->keep = sched_keep_call(s, n, ok);
	t->unapplied = !ok && phase && !strcmp(phase, "prepare");
	t->s = s;
	t->node = n->id;
	t->ok = ok;
	t->kind = kind ? xstrdup(kind) : NULL;
	t->why = why ? xstrdup(why) : NULL;
	t->name = n->name ? xstrdup(n->name) : NULL;
	t->hypothesis = n->hypothesis ? xstrdup(n->hypothesis) : NULL;
	t->metrics_json = buf_steal(&mj);
	t->tail = sched_tail_text(sl);
	t->change = n->change ? xstrdup(n->change) : NULL;
	t->commit = n->commit ? xstrdup(n->commit) : NULL;
	if (!ok && !pruned_kind(kind))
		t->repair = repair_begin(s, n, &sl->metrics, kind, why, t->tail);
	t->r = (struct analyse_request){
		.cfg = &w->cfg,
		.node = t->nid,
		.name = t->name,
		.hypothesis = t->hypothesis,
		.status = ok ? "completed" : pruned_kind(kind) ? "pruned" : "failed",
		/* A pruned run's kind is its reason: the step, the values, the margin. */
		.failure_kind = ok ? NULL : pruned_kind(kind) && t->why ? t->why : t->kind,
		.has_metric = n->has_metric,
		.metric = n->metric,
		.has_parent_metric = parent && parent->has_metric,
		.parent_metric = pr.n ? pr.mean : parent ? parent->metric : 0,
		.parent_sd = pr.sd,
		.parent_runs = pr.n,
		.parent_node = parent ? t->pid : NULL,
		/* The same reference the keep rule uses; the baseline's own runs
		 * have none. */
		.has_best = best && best != n && n->parent != NODE_NONE,
		.best_metric = br.mean,
		.best_sd = br.sd,
		.best_runs = br.n,
		.best_node = best ? t->bid : NULL,
		.noise_sigma = sched_noise(s)->sigma,
		.noise_runs = sched_noise(s)->runs,
		.keep = t->keep,
		.repeat_of = of == NODE_NONE ? NULL : of == n->parent ? t->pid : "n0000",
		.has_decimals = true,
		.decimals = noise_decimals(&w->tree),
		.metrics_json = t->metrics_json,
		.log_tail = t->tail,
		.change = t->change,
	};
	sched_slot_release(s, sl);
	s->analysing++;
	bg_submit(s->llm, analyse_work, analyse_done, t);
}

/* After a restart, a node recorded as analysing: redo only its analysis. */
void sched_reanalyse(struct sched *s, struct slot *sl)
{
	struct node *n = tree_get(&s->wd->tree, sl->node);

	sched_finish_log(s, sl);
	const struct series *m = metrics_get(&sl->metrics, s->wd->cfg.metric);
	if (m && m->count) {
		n->has_metric = true;
		n->metric = m->last;
	}
	bool ok = !n->failure_kind;
	char *kind = n->failure_kind ? xstrdup(n->failure_kind) : NULL;
	char *phase = n->failure_phase ? xstrdup(n->failure_phase) : NULL;
	char *why = kind && pruned_kind(kind) ? prune_reason(s, n->id) : NULL;
	finish(s, sl, ok, kind, phase, ok ? NULL : why ? why : "(recorded before a restart)");
	free(why);
	free(kind);
	free(phase);
}

void sched_fail(struct sched *s, struct slot *sl, const char *kind, const char *phase,
		const char *why)
{
	finish(s, sl, false, kind, phase, why);
}

/* How many times n's line, through the copies made of it, was lost by its worker. */
static long losses(struct tree *t, const struct node *n)
{
	long k = 0;

	while (n && n->failure_kind && !strcmp(n->failure_kind, "worker_lost")) {
		k++;
		n = n->retry_of == NODE_NONE ? NULL : tree_get(t, n->retry_of);
	}
	return k;
}

void sched_lost(struct sched *s, struct slot *sl, const char *why)
{
	uint32_t id = sl->node;
	char nid[NODE_ID_LEN], cid[NODE_ID_LEN];
	struct err e = {{0}};
	uint32_t copy;

	sched_fail(s, sl, "worker_lost", "run", why);
	long k = losses(&s->wd->tree, tree_get(&s->wd->tree, id));
	node_id_format(id, nid);
	if (k > s->wd->cfg.requeue_lost) {
		sched_say(s, "%s: lost by its worker, %ld time%s in its line: not queued again "
			     "(requeue_lost is %ld)",
			  nid, k, k == 1 ? "" : "s", s->wd->cfg.requeue_lost);
		return;
	}
	if (op_retry_copy(s->wd, id, NULL, &copy, &e) < 0) {
		sched_say(s, "%s: lost by its worker, and not queued again: %s", nid, e.msg);
		return;
	}
	node_id_format(copy, cid);
	sched_say(s, "%s: lost by its worker; queued again as %s (%ld of requeue_lost %ld)", nid,
		  cid, k, s->wd->cfg.requeue_lost);
}

void sched_collect(struct sched *s, struct slot *sl, const struct job_result *r)
{
	struct node *n = tree_get(&s->wd->tree, sl->node);
	const char *metric = s->wd->cfg.metric;
	char why[512];

	sched_finish_log(s, sl);
	const struct series *m = metrics_get(&sl->metrics, metric);
	if (m && m->count) {
		n->has_metric = true;
		n->metric = m->last;
	}
	/*
	 * Pruned, though a restart since may have lost whose stop it was: its
	 * pruned.json is written before the stop, and its exit, 0 or not, is
	 * the stop's.
	 */
	char *pruned = sched_path(s, "runs", n->id, "pruned.json");
	bool was_pruned = (sl->kill_reason && pruned_kind(sl->kill_reason)) ||
			  (!sl->kill_reason && fs_exists(pruned));
	free(pruned);
	if (was_pruned) {
		char *said = sl->prune_why ? NULL : prune_reason(s, n->id);
		finish(s, sl, false, "pruned", "run",
		       sl->prune_why ? sl->prune_why : said ? said : "pruned before a restart");
		free(said);
		return;
	}
	if (sl->kill_reason) {
		snprintf(why, sizeof why, "hypotop stopped the job: %s", sl->kill_reason);
		sched_fail(s, sl, sl->kill_reason, "run", why);
		return;
	}
	if (!strcmp(r->kind, "worker_lost")) {
		sched_lost(s, sl, r->why);
		return;
	}
	if (r->kind[0]) {
		/* Refused by its worker ("worker", "submit"): it never ran. */
		bool refused = !strcmp(r->kind, "worker") || !strcmp(r->kind, "submit");
		sched_fail(s, sl, r->kind, refused ? "launch" : "run", r->why);
		return;
	}
	if (r->state == JOB_LOST) {
		sched_lost(s, sl, "the job ended without recording an exit code (killed from outside?)");
		return;
	}
	if (sl->tampered) {
		n->has_metric = false; /* measured by changed evaluation code: no result */
		sched_fail(s, sl, "tampered", "run", sl->tampered);
		return;
	}
	if (r->build_code > 0) {
		snprintf(why, sizeof why, "the build command exited with status %d", r->build_code);
		sched_fail(s, sl, "build", "build", why);
		return;
	}
	if (r->exit_code == 126 || r->exit_code == 127) {
		snprintf(why, sizeof why,
			 "the launch command exited with status %d: not found or not executable",
			 r->exit_code);
		sched_fail(s, sl, "launch", "launch", why);
		return;
	}
	if (r->exit_code != 0) {
		snprintf(why, sizeof why, "the run exited with status %d", r->exit_code);
		sched_fail(s, sl, "crash", "run", why);
		return;
	}
	if (!n->has_metric) {
		snprintf(why, sizeof why, "the run ended well but never printed %s (as %s=VALUE, "
					  "a JSON line, or a metrics.patterns match)",
			 metric, metric);
		sched_fail(s, sl, "no_metric", "collect", why);
		return;
	}
	finish(s, sl, true, NULL, NULL, NULL);
}

/* ---- reports ------------------------------------------------------------ */

static void tsv_field(struct buf *b, const char *s)
{
	for (; s && *s; s++)
		buf_addc(b, *s == '\t' || *s == '\n' || *s == '\r' ? ' ' : *s);
}

void sched_write_reports(struct sched *s)
{
	struct workdir *w = s->wd;
	struct buf t, m;
	char id[NODE_ID_LEN];
	int counts[ST__COUNT] = {0};

	buf_init(&t);
	struct runs base = {0};
	if (tree_get(&w->tree, 0))
		sched_runs(s, tree_get(&w->tree, 0), &base);
	buf_adds(&t, "id\tparent\tname\tstatus\tmetric\tdelta_vs_parent\timproved\tduration_s\t"
		     "commit\tfailure\trepeat_of\n");
	for (uint32_t i = 0; i < w->tree.len; i++) {
		struct node *n = &w->tree.nodes[i];
		if (!n->present)
			continue;
		counts[n->status]++;
		struct node *p = n->parent == NODE_NONE ? NULL : &w->tree.nodes[n->parent];
		node_id_format(i, id);
		buf_printf(&t, "%s\t", id);
		if (p) {
			node_id_format(p->id, id);
			buf_adds(&t, id);
		}
		buf_addc(&t, '\t');
		tsv_field(&t, n->name);
		buf_printf(&t, "\t%s\t", status_name(n->status));
		if (n->has_metric)
			buf_printf(&t, "%.6g", n->metric);
		buf_addc(&t, '\t');
		double delta;
		if (noise_delta(&w->tree, n, &base, &delta))
			buf_printf(&t, "%+.6g", delta);
		/* The keep rule's word (noise.h); a repeat or a baseline run is judged on nothing. */
		bool judged = n->improved >= 0 && p && !node_is_repeat(n);
		buf_printf(&t, "\t%s\t", !judged ? "" : node_improved(n) ? "yes" : "no");
		if (n->started && n->finished)
			buf_printf(&t, "%.1f", (double)(n->finished - n->started) / 1000);
		buf_addc(&t, '\t');
		tsv_field(&t, n->commit);
		buf_addc(&t, '\t');
		tsv_field(&t, n->failure_kind);
		buf_addc(&t, '\t');
		uint32_t of = node_repeat_of(&w->tree, n);
		if (of != NODE_NONE) {
			node_id_format(of, id);
			buf_adds(&t, id);
		}
		buf_addc(&t, '\n');
	}
	char *path = path_join(w->path, "master_table.tsv");
	sched_write(s, path, t.data, t.len, 0644, false);
	free(path);

	struct node *best = w->st.best == NODE_NONE ? NULL : tree_get(&w->tree, w->st.best);
	buf_init(&m);
	buf_printf(&m, "# hypotop summary\n\nMetric: `%s` (%s is better). Nodes: %u.\n\n",
		   w->cfg.metric, sched_goal_max(s) ? "higher" : "lower", w->tree.count);
	if (best) {
		buf_adds(&m, "Best: ");
		noise_headline(&m, &w->tree, best->id, true);
		buf_adds(&m, ".\n\n");
	}
	buf_adds(&m, "Noise: ");
	noise_format(&m, sched_noise(s), noise_decimals(&w->tree));
	buf_printf(&m, "; a gain counts when it passes noise.k (%g) × σ.\n\n", w->cfg.noise_k);
	if (w->cfg.noise_seeds <= 1)
		buf_adds(&m, "**Warning: " NOISE_ONE_SEED ".**\n\n");
	buf_printf(&m, "Planning rounds: %ld of %ld; rounds without gain: %ld (patience %ld).\n\n",
		   w->st.iteration, w->cfg.max_iterations, w->st.rounds_without_gain,
		   w->cfg.patience);
	prune_summary(s, &m);
	buf_adds(&m, "| status | count |\n|---|---|\n");
	for (int st = 0; st < ST__COUNT; st++)
		if (counts[st])
			buf_printf(&m, "| %s | %d |\n", status_name(st), counts[st]);
	buf_adds(&m, "\nEvery experiment is in `master_table.tsv`; each run's log and analysis are in "
		     "`runs/<id>/`.\n");
	path = path_join(w->path, "summary.md");
	sched_write(s, path, m.data, m.len, 0644, false);
	free(path);
	buf_free(&t);
	buf_free(&m);
}
