/*
 * instrument.c — llm.instrument (SPEC §7: "instrument (once, optional)"):
 * before the baseline runs, the model is asked once to make the training
 * script print step=N step_time=S lines, which the metric parser reads
 * like any key=value pair.
 *
 * The root nodes (the baseline and its seed copies) are held while the
 * question is open. The answer's change is committed on the git thread on
 * top of the source commit as branch hypotop/instrument, and the roots
 * that have not started take that commit as theirs; state.json keeps the
 * decision ("applied" with the source commit, or "skipped") so it is made
 * once. A call cut short by a restart is asked again, and the branch makes
 * the commit idempotent: a second answer never lands on top of the first.
 * When the call fails, or its change does not apply, that is said and the
 * baseline runs on the source commit as it is.
 *
 * Main thread, except the work functions.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hypotop/lifecycle.h"
#include "hypotop/vcs.h"

#define BRANCH "hypotop/instrument"

struct instrument_task {
	struct sched *s;
	const struct config *cfg;
	char *repo, *commit, *params_file, *change;
	char oid[VCS_OID_HEX];
	struct sources src;
	cJSON *answer;
	cJSON *calls; /* the requests' log stems (planner_take_calls), or NULL */
	int rc;
	const char *kind; /* why the call or the commit failed */
	struct err e;
};

bool instrument_holds(struct sched *s)
{
	return s->wd->cfg.llm_instrument && !s->wd->st.instrument[0];
}

static void task_free(struct instrument_task *t)
{
	free(t->repo);
	free(t->commit);
	free(t->params_file);
	free(t->change);
	sources_free(&t->src);
	cJSON_Delete(t->answer);
	cJSON_Delete(t->calls);
	free(t);
}

/* The decision, for good: recorded with the round's commit. */
static void decide(struct sched *s, const char *how)
{
	snprintf(s->wd->st.instrument, sizeof s->wd->st.instrument, "%s", how);
	workdir_record_state(s->wd);
	s->instrumenting = false;
}

static void skip(struct sched *s, const char *why)
{
	sched_say(s, "instrument: %s; the baseline runs on the source commit as it is", why);
	decide(s, "skipped");
}

/* ---- the commit, on the git thread ---- */

static void commit_work(void *arg)
{
	struct instrument_task *t = arg;
	const char *msg = "instrument: step timing for the baseline\n";

	t->kind = NULL;
	t->rc = vcs_commit_change(t->repo, t->commit, t->change, t->params_file, BRANCH, msg,
				  t->oid, &t->kind, &t->e);
	/* The roots would fail as tampered: the baseline runs on the source commit instead. */
	char *touched = t->rc == 0 ? protect_touched(t->cfg, t->commit, t->oid) : NULL;
	if (touched) {
		t->rc = -1;
		t->kind = "protect";
		err_set(&t->e, "it changes %s, which protect keeps as the baseline's", touched);
		free(touched);
	}
}

static void commit_done(void *arg);

static void task_drop(void *arg)
{
	task_free(arg);
}

static void commit_again(struct sched *s, void *arg)
{
	struct instrument_task *t = arg;

	memset(&t->e, 0, sizeof t->e);
	bg_submit(s->git, commit_work, commit_done, t);
}

static void commit_done(void *arg)
{
	struct instrument_task *t = arg;
	struct sched *s = t->s;
	struct tree *tr = &s->wd->tree;
	char *why;

	if (t->rc < 0 && err_out_of_fds(&t->e)) {
		sched_defer(s, "instrument: committing the change", t->e.msg, commit_again,
			    task_drop, t);
		return;
	}
	if (t->rc < 0) {
		why = xasprintf("the model's change does not apply (%s): %s",
				t->kind ? t->kind : "prepare", t->e.msg);
		skip(s, why);
		free(why);
		task_free(t);
		return;
	}
	/* The roots that have not started run the instrumented commit. */
	int moved = 0;
	for (uint32_t i = 0; i < tr->len; i++) {
		struct node *n = &tr->nodes[i];
		enum node_status st = n->status == ST_PAUSED ? n->resume_to : n->status;
		if (!n->present || n->parent != NODE_NONE || st != ST_QUEUED || !n->commit ||
		    strcmp(n->commit, t->commit))
			continue;
		node_set_str(&n->commit, t->oid);
		sched_record(s, "instrumented", n);
		moved++;
	}
	snprintf(s->wd->st.source_commit, sizeof s->wd->st.source_commit, "%s", t->commit);
	const cJSON *summary = cJSON_GetObjectItemCaseSensitive(t->answer, "summary");
	sched_say(s, "instrument: %.12s (branch %s) on top of %.12s is the baseline's commit "
		     "now, for %d root node%s: %s",
		  t->oid, BRANCH, t->commit, moved, moved == 1 ? "" : "s", summary->valuestring);
	decide(s, "applied");
	task_free(t);
}

/* ---- the question, on the planner thread ---- */

static void ask_work(void *arg)
{
	struct instrument_task *t = arg;
	const char *hints[] = {t->cfg->launch, t->cfg->build};
	char nid[NODE_ID_LEN];

	node_id_format(0, nid);
	sources_gather(t->repo, t->commit, hints, ARRAY_LEN(hints), &t->src);
	struct fix_request r = {.cfg = t->cfg, .node = nid, .name = "baseline",
				.files = t->src.v, .nfiles = t->src.n};
	struct place pl;
	t->rc = -1;
	if (place_open(&pl, t->cfg, t->s->wd->path, nid, t->commit, &t->e) < 0)
		return;
	r.place = &pl.pl;
	t->rc = planner_instrument(t->s->planner, &r, &t->answer, &t->kind, &t->e);
	t->calls = planner_take_calls();
	place_close(&pl);
}

static void ask_done(void *arg)
{
	struct instrument_task *t = arg;
	struct sched *s = t->s;

	s->wd->st.llm_usd = planner_spent_usd(s->planner, NULL);
	struct node *base = tree_get(&s->wd->tree, 0);
	if (base && t->calls) {
		/* The baseline links the call that instrumented (or did not) its commit. */
		node_add_calls(base, t->calls);
		sched_record(s, "instrumented", base);
	}
	if (t->rc < 0 && t->kind && !strcmp(t->kind, "llm_cancelled")) {
		s->instrumenting = false; /* shutting down: asked again at the next start */
		task_free(t);
		return;
	}
	if (t->rc < 0) {
		char *why = xasprintf("the model gave no instrumentation (%s): %s",
				      t->kind ? t->kind : "planner", t->e.msg);
		skip(s, why);
		free(why);
		task_free(t);
		return;
	}
	const cJSON *summary = cJSON_GetObjectItemCaseSensitive(t->answer, "summary");
	const cJSON *change = cJSON_GetObjectItemCaseSensitive(t->answer, "change");
	if (cJSON_IsNull(change)) {
		char *why = xasprintf("no change proposed: %s", summary->valuestring);
		skip(s, why);
		free(why);
		task_free(t);
		return;
	}
	t->change = cJSON_PrintUnformatted(change);
	bg_submit(s->git, commit_work, commit_done, t);
}

/* ---- the step ---- */

void instrument_step(struct sched *s)
{
	struct workdir *w = s->wd;
	struct node *base = tree_get(&w->tree, 0);

	if (!instrument_holds(s) || s->instrumenting || s->paused || s->stopping)
		return;
	enum node_status st = !base ? ST_QUEUED
			      : base->status == ST_PAUSED ? base->resume_to
							  : base->status;
	if (!base || st != ST_QUEUED || !base->commit) {
		skip(s, "the baseline has already started");
		return;
	}
	if (!s->planner) {
		skip(s, "there is no planner to ask");
		return;
	}
	struct instrument_task *t = xcalloc(1, sizeof *t);
	const cJSON *ss = w->cfg.search_space;
	const cJSON *f = ss ? cJSON_GetObjectItemCaseSensitive(ss, "file") : NULL;
	t->s = s;
	t->cfg = &w->cfg;
	t->repo = xstrdup(w->cfg.source_dir);
	t->commit = xstrdup(base->commit);
	t->params_file = cJSON_IsString(f) ? xstrdup(f->valuestring) : NULL;
	s->instrumenting = true;
	sched_say(s, "instrument: asking the %s planner for step timing before the baseline",
		  s->planner->name);
	bg_submit(s->llm, ask_work, ask_done, t);
}
