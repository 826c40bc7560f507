/*
 * plan.c — planning rounds (SPEC §5, §7): the stop rules, the request built
 * from the tree, the call on the planner thread, and the proposals put in
 * the queue as children of the best node, or of the completed node each
 * names as its parent.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hypotop/fsutil.h"
#include "hypotop/json.h"
#include "hypotop/ops.h"
#include "hypotop/lifecycle.h"
#include "hypotop/vcs.h"

cJSON *sched_node_params(struct sched *s, uint32_t id)
{
	uint32_t chain[256];
	int depth = 0;
	cJSON *out = s->base_params ? cJSON_Duplicate(s->base_params, true) : cJSON_CreateObject();

	for (uint32_t x = id; x != NODE_NONE && depth < 256; x = s->wd->tree.nodes[x].parent)
		chain[depth++] = x;
	while (depth--) {
		struct node *n = &s->wd->tree.nodes[chain[depth]];
		cJSON *ch = n->change ? cJSON_Parse(n->change) : NULL;
		const cJSON *kind = cJSON_GetObjectItemCaseSensitive(ch, "kind");
		const cJSON *p = cJSON_GetObjectItemCaseSensitive(ch, "params");
		if (cJSON_IsString(kind) && !strcmp(kind->valuestring, "params") && cJSON_IsObject(p))
			for (const cJSON *m = p->child; m; m = m->next) {
				cJSON_DeleteItemFromObjectCaseSensitive(out, m->string);
				cJSON_AddItemToObject(out, m->string, cJSON_Duplicate(m, true));
			}
		cJSON_Delete(ch);
	}
	return out;
}

static void plan_log(struct sched *s, long round, const char *node, const cJSON *plan,
		     char *const *dropped, size_t ndropped)
{
	char *dir = path_join(s->wd->path, "logs");
	char *raw = cJSON_Print(plan);
	char *path = xasprintf("%s/%03ld_plan_%s_raw.json", dir, round, node);

	sched_write(s, path, raw, strlen(raw), 0600, true);
	free(path);
	struct buf md;
	buf_init(&md);
	buf_printf(&md, "# Planning round %ld (planner: %s)\n\n", round, s->planner->name);
	const cJSON *props = cJSON_GetObjectItemCaseSensitive(plan, "proposals");
	const cJSON *p;
	cJSON_ArrayForEach(p, props)
	{
		const cJSON *name = cJSON_GetObjectItemCaseSensitive(p, "name");
		const cJSON *hyp = cJSON_GetObjectItemCaseSensitive(p, "hypothesis");
		buf_printf(&md, "- **%s**: %s\n", cJSON_IsString(name) ? name->valuestring : "?",
			   cJSON_IsString(hyp) ? hyp->valuestring : "");
	}
	for (size_t i = 0; i < ndropped; i++)
		buf_printf(&md, "%s- proposal %s\n", i ? "" : "\n", dropped[i]);
	const cJSON *reason = cJSON_GetObjectItemCaseSensitive(plan, "reason");
	if (cJSON_IsString(reason) && reason->valuestring[0])
		buf_printf(&md, "\n%s\n", reason->valuestring);
	path = xasprintf("%s/%03ld_plan_%s_output.md", dir, round, node);
	sched_write(s, path, md.data, md.len, 0600, true);
	free(path);
	buf_free(&md);
	free(raw);
	free(dir);
}

static void stop_planning(struct sched *s, const char *fmt, ...) PRINTF_LIKE(2, 3);

/* How long to wait before asking an unavailable model again. */
#define PLAN_RETRY_MS 60000

/* A planning round in flight on the planner thread, with its own copies. */
struct plan_task {
	struct sched *s;
	uint32_t parent;
	char pid[NODE_ID_LEN];
	struct plan_entry *hist;
	size_t nh;
	char (*ids)[2][NODE_ID_LEN];
	char *(*names)[4];
	char *directive, *confirm, *commit, *base, *diff;
	struct sources src;
	char *analysis;
	struct plan_failure fails[PLAN_FAILURES];
	cJSON **params, *base_params, *node_params;
	struct plan_request req;
	struct vet *vet;
	cJSON *plan;
	cJSON *calls; /* the requests' log stems (planner_take_calls), or NULL */
	char **dropped; /* "NAME dropped: why" of the proposals the check refused */
	size_t ndropped;
	int rc;
	const char *llm_kind;
	struct err e;
};

/*
 * What a model reads of the runs, on the planner thread: the node's
 * analysis and the newest failures' logs. A file that cannot be read is
 * left out.
 */
/* "pruned at step S (loss 1.9 vs 1.2 of n0003)", from runs/<id>/pruned.json. */
static char *pruned_cell(struct sched *s, uint32_t id)
{
	struct err e = {{0}};
	char *path = sched_path(s, "runs", id, "pruned.json");
	cJSON *j = fs_exists(path) ? json_parse_file(path, &e) : NULL;
	const cJSON *step = cJSON_GetObjectItemCaseSensitive(j, "step");
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, "value");
	const cJSON *rv = cJSON_GetObjectItemCaseSensitive(j, "reference_value");
	const char *series = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(j, "series"));
	const char *ref = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(j, "reference"));
	char *cell = cJSON_IsNumber(step) && cJSON_IsNumber(v) && cJSON_IsNumber(rv) && series &&
				     ref
			     ? xasprintf("pruned at step %.10g (%s %.4g vs %.4g of %s)",
					 step->valuedouble, series, v->valuedouble,
					 rv->valuedouble, ref)
			     : xstrdup("pruned");
	cJSON_Delete(j);
	free(path);
	return cell;
}

static void plan_reads(struct plan_task *t)
{
	const char *wd = t->s->wd->path;
	struct err ignored = {{0}};
	char *path = xasprintf("%s/runs/%s/analysis.md", wd, t->pid);

	t->analysis = fs_read_max(path, FS_MAX_CONFIG, NULL, &ignored);
	t->req.analysis = t->analysis;
	free(path);
	for (size_t i = t->nh; i-- > 0 && t->req.nfailures < PLAN_FAILURES;) {
		const struct plan_entry *h = &t->hist[i];
		if (strcmp(h->status, "failed") || !h->failure_kind ||
		    !strcmp(h->failure_kind, "cancelled"))
			continue;
		path = xasprintf("%s/runs/%s/log", wd, h->id);
		t->fails[t->req.nfailures++] = (struct plan_failure){
			h->id, h->failure_kind, fs_read_tail(path, PLAN_FAILURE_TAIL, &ignored)};
		free(path);
	}
	t->req.failures = t->fails;
}

static void plan_work(void *arg)
{
	struct plan_task *t = arg;

	struct place pl;
	struct err de = {{0}};

	/*
	 * What a model sees of the code: the node's sources and its path's
	 * diff. The offline planner reads neither.
	 */
	if (t->s->planner->paid) {
		sources_scope(t->req.cfg, t->base, t->commit, &t->src);
		t->req.files = t->src.v;
		t->req.nfiles = t->src.n;
		t->req.files_more = t->src.more;
		if (t->base && t->commit && strcmp(t->base, t->commit) &&
		    vcs_diff(t->req.cfg->source_dir, t->base, t->commit, &t->diff, &de) == 0)
			t->req.diff = t->diff;
		plan_reads(t);
	}
	t->rc = -1;
	if (place_open(&pl, t->req.cfg, t->s->wd->path, t->pid, t->commit, &t->e) < 0)
		return;
	t->req.place = &pl.pl;
	t->req.vet = vet_hook(t->vet);
	t->rc = planner_plan(t->s->planner, &t->req, &t->plan, &t->llm_kind, &t->e);
	t->calls = planner_take_calls();
	place_close(&pl);
	/* Whatever planner answered, nothing it proposed is queued unchecked. */
	if (t->rc == 0)
		t->ndropped = vet_filter(t->vet, t->plan, &t->dropped);
}

static void plan_task_free(struct plan_task *t)
{
	free(t->analysis);
	for (size_t i = 0; i < t->req.nfailures; i++)
		free((char *)t->fails[i].log_tail);
	for (size_t i = 0; i < t->nh; i++) {
		cJSON_Delete(t->params[i]);
		free(t->names[i][0]);
		free(t->names[i][1]);
		free(t->names[i][2]);
		free(t->names[i][3]);
	}
	free(t->params);
	free(t->names);
	free(t->hist);
	free(t->ids);
	cJSON_Delete(t->base_params);
	cJSON_Delete(t->node_params);
	cJSON_Delete(t->plan);
	cJSON_Delete(t->calls);
	vet_free(t->vet);
	for (size_t i = 0; i < t->ndropped; i++)
		free(t->dropped[i]);
	free(t->dropped);
	free(t->directive);
	free(t->confirm);
	free(t->commit);
	free(t->base);
	free(t->diff);
	sources_free(&t->src);
	free(t);
}

/* Fixed experiments of the config (children of the baseline, by name) not finished yet. */
static int fixed_left(struct sched *s)
{
	const struct tree *tr = &s->wd->tree;
	int n = 0;

	for (uint32_t i = 0; i < tr->len; i++) {
		const struct node *x = &tr->nodes[i];
		if (!x->present || x->parent != 0 || status_is_final(x->status) || !x->name)
			continue;
		const cJSON *fx;
		cJSON_ArrayForEach(fx, s->wd->cfg.fixed_experiments)
		{
			const cJSON *name = cJSON_GetObjectItemCaseSensitive(fx, "name");
			if (cJSON_IsString(name) && !strcmp(name->valuestring, x->name)) {
				n++;
				break;
			}
		}
	}
	return n;
}

/* Rounds without gain that patience still allows; -1: no patience rule. */
static long patience_left(struct sched *s)
{
	long p = s->wd->cfg.patience, used = s->wd->st.rounds_without_gain;

	return p <= 0 ? -1 : p > used ? p - used : 0;
}

static const char *stop_left_text(struct sched *s)
{
	return fixed_left(s) ? "fixed experiments" : "rounds of patience";
}

/*
 * SPEC §7: a stop with nothing proposed, answered while patience or fixed
 * experiments remain, is asked once more; the second is accepted.
 */
static bool stop_to_confirm(struct sched *s, const cJSON *plan)
{
	const cJSON *props = cJSON_GetObjectItemCaseSensitive(plan, "proposals");
	const cJSON *stop = cJSON_GetObjectItemCaseSensitive(plan, "stop");

	return !s->wd->st.stop_asked && cJSON_IsTrue(stop) && !cJSON_GetArraySize(props) &&
	       (patience_left(s) != 0 || fixed_left(s) > 0);
}

/* Back on the main thread: the proposals join the queue as children. */
static void plan_done(void *arg)
{
	struct plan_task *t = arg;
	struct sched *s = t->s;
	struct workdir *w = s->wd;
	struct err e = {{0}};
	int added = 0;

	s->planning = false;
	w->st.llm_usd = planner_spent_usd(s->planner, NULL);
	for (size_t i = 0; i < t->ndropped; i++)
		sched_say(s, "plan: proposal %s", t->dropped[i]);
	if (t->rc < 0 && t->llm_kind && !strcmp(t->llm_kind, "llm_unavailable")) {
		/* The round did not happen and is not counted: try it again later. */
		stop_planning(s, "the model is unavailable (%s); planning again in %d s", t->e.msg,
			      PLAN_RETRY_MS / 1000);
		s->plan_retry_at = mono_ms() + PLAN_RETRY_MS;
		sched_timer_arm(s);
	} else if (t->rc < 0) {
		stop_planning(s, "the planner failed (%s): %s%s",
			      t->llm_kind ? t->llm_kind : "planner", t->e.msg,
			      t->llm_kind && !planner_kind_pauses(t->llm_kind)
				      ? "; start the engine again to retry"
				      : "");
		s->planner_stopped = true;
	} else if (stop_to_confirm(s, t->plan)) {
		/* Not a round of its own: the same round is asked again at once. */
		const cJSON *reason = cJSON_GetObjectItemCaseSensitive(t->plan, "reason");
		w->st.stop_asked = true;
		snprintf(w->st.stop_reason, sizeof w->st.stop_reason, "%s",
			 cJSON_IsString(reason) ? reason->valuestring : "");
		sched_say(s, "the planner says stop (%s) while %s remain; asking it once more",
			  w->st.stop_reason, stop_left_text(s));
	} else {
		w->st.stop_asked = false;
		w->st.stop_reason[0] = '\0';
		w->st.iteration++;
		w->st.best_at_round = t->parent;
		if (!strcmp(s->planner->name, "offline"))
			plan_log(s, w->st.iteration, t->pid, t->plan, t->dropped, t->ndropped);
		const cJSON *p;
		struct buf under;
		buf_init(&under);
		cJSON_ArrayForEach(p, cJSON_GetObjectItemCaseSensitive(t->plan, "proposals"))
		{
			struct op op = {.kind = OP_ADD};
			uint32_t id;
			const cJSON *v = cJSON_GetObjectItemCaseSensitive(p, "parent");
			/* A proposal may name its parent (the check made it a completed node). */
			snprintf(op.node, sizeof op.node, "%s",
				 cJSON_IsString(v) ? v->valuestring : t->pid);
			v = cJSON_GetObjectItemCaseSensitive(p, "hypothesis");
			op.hypothesis = xstrdup(cJSON_IsString(v) ? v->valuestring : "");
			v = cJSON_GetObjectItemCaseSensitive(p, "name");
			op.name = cJSON_IsString(v) ? xstrdup(v->valuestring) : NULL;
			v = cJSON_GetObjectItemCaseSensitive(p, "priority");
			op.has_priority = cJSON_IsNumber(v);
			op.priority = op.has_priority ? (long)v->valuedouble : 0;
			op.change = cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(p, "change"), true);
			op.calls = t->calls;
			if (op_apply(w, &op, false, &id, &e) == 0) {
				added++;
				if (!strstr(under.data ? under.data : "", op.node))
					buf_printf(&under, "%s%s", under.len ? ", " : "", op.node);
			} else
				sched_say(s, "plan: proposal dropped: %s", e.msg);
			op_free(&op);
		}
		/* The offline planner's reason says what it made of directive.md. */
		const cJSON *why = cJSON_GetObjectItemCaseSensitive(t->plan, "reason");
		bool offline = !strcmp(s->planner->name, "offline") && cJSON_IsString(why);
		sched_say(s, "round %ld: %d proposal%s under %s%s%s", w->st.iteration, added,
			  added == 1 ? "" : "s", under.len ? under.data : t->pid, offline ? ": " : "",
			  offline ? why->valuestring : "");
		buf_free(&under);
		const cJSON *stop = cJSON_GetObjectItemCaseSensitive(t->plan, "stop");
		if (cJSON_IsTrue(stop) && !added) {
			const cJSON *reason = cJSON_GetObjectItemCaseSensitive(t->plan, "reason");
			stop_planning(s, "the planner says stop: %s",
				      cJSON_IsString(reason) ? reason->valuestring : "");
			s->planner_stopped = true;
		}
	}
	workdir_record_state(w);
	plan_task_free(t);
}

/* Why no planning can happen now; said once each time it changes. It is
 * worked out afresh every time: a person's retry can lift it. */
static void stop_planning(struct sched *s, const char *fmt, ...)
{
	struct buf b;
	va_list ap;

	buf_init(&b);
	va_start(ap, fmt);
	buf_vprintf(&b, fmt, ap);
	va_end(ap);
	if (!s->stop_reason || strcmp(s->stop_reason, b.data))
		sched_say(s, "planning stops: %s", b.data);
	free(s->stop_reason);
	s->stop_reason = buf_steal(&b);
}

/*
 * The baseline's runs are every root: it, its seed copies and their
 * retries. One that completed (or was repaired) lets planning go on, so
 * that a person's retry after fixing config.json lifts the stop. Returns
 * the newest failed root when none worked and none is still to run.
 */
static const struct node *baseline_failed(struct tree *t)
{
	const struct node *failed = NULL;

	for (uint32_t i = 0; i < t->len; i++) {
		const struct node *n = &t->nodes[i];
		if (!n->present || n->parent != NODE_NONE || n->status == ST_CANCELLED)
			continue;
		if (n->status != ST_FAILED || repair_succeeded(t, i))
			return NULL;
		failed = n;
	}
	return failed;
}

/*
 * Proposals a round asks for: one for every slot that would idle, and no
 * fewer than PLAN_WANT_MIN, so that a round on a small machine still
 * leaves the next run waiting in the queue when a slot frees.
 */
static int plan_want(struct sched *s)
{
	size_t free = sched_idle_capacity(s);

	return free < PLAN_WANT_MIN ? PLAN_WANT_MIN : free > PLAN_WANT_MAX ? PLAN_WANT_MAX : (int)free;
}

int sched_plan(struct sched *s)
{
	struct workdir *w = s->wd;
	struct config *c = &w->cfg;

	if (s->planner_stopped)
		return 0; /* its reason stands until the engine starts again */
	if (s->budget_why) {
		stop_planning(s, "%s", s->budget_why);
		return 0;
	}
	if (s->plan_retry_at) {
		if (mono_ms() < s->plan_retry_at)
			return 0; /* the reason said when */
		s->plan_retry_at = 0;
	}
	const struct node *base = baseline_failed(&w->tree);
	if (base) {
		char nid[NODE_ID_LEN], again[64] = "";
		node_id_format(base->id, nid);
		if (base->id) /* a seed copy or a retry: the newest run of it */
			snprintf(again, sizeof again, ", and its newest run %s too", nid);
		stop_planning(s, "the baseline failed%s (%s); fix it and 'hypotop retry' n0000",
			      again, base->failure_kind ? base->failure_kind : "?");
		return 0;
	}
	if (w->st.best == NODE_NONE) {
		stop_planning(s, "no run has produced %s yet", c->metric);
		return 0;
	}
	if (!s->planner) {
		stop_planning(s, "no planner: the offline planner needs a search_space in "
				 "config.json");
		return 0;
	}
	/* Patience counts rounds whose results did not move the best. A round
	 * is counted once: when the next one is asked for. */
	if (w->st.iteration > 0 && w->st.judged != w->st.iteration) {
		if (w->st.best != w->st.best_at_round)
			w->st.rounds_without_gain = 0;
		else
			w->st.rounds_without_gain++;
		w->st.judged = w->st.iteration;
		workdir_record_state(w);
	}
	/* Rounds overlap the runs: a result that moved the best after the
	 * newest round was judged lifts a patience stop. */
	if (w->st.rounds_without_gain && w->st.best != w->st.best_at_round) {
		w->st.rounds_without_gain = 0;
		workdir_record_state(w);
	}
	if (w->st.iteration >= c->max_iterations) {
		stop_planning(s, "max_iterations (%ld) reached", c->max_iterations);
		return 0;
	}
	if (c->patience > 0 && w->st.rounds_without_gain >= c->patience) {
		stop_planning(s, "no improvement for %ld rounds (patience)", c->patience);
		return 0;
	}

	/* The person's guidance for every later round (SPEC §2); planning waits
	 * for a directive.md it cannot read rather than go on without it. */
	char *dpath = path_join(w->path, "directive.md"), *directive = NULL;
	struct err de = {{0}};
	if (fs_exists(dpath) && !(directive = fs_read_max(dpath, FS_MAX_CONFIG, NULL, &de))) {
		stop_planning(s, "%s; make it a text file of at most 1 MiB, or remove it",
			      de.msg);
		free(dpath);
		return 0;
	}
	free(dpath);
	free(s->stop_reason);
	s->stop_reason = NULL;
	struct plan_task *t = xcalloc(1, sizeof *t);
	t->s = s;
	t->parent = w->st.best;
	node_id_format(t->parent, t->pid);
	t->hist = xcalloc(w->tree.len, sizeof *t->hist);
	t->ids = xcalloc(w->tree.len, sizeof *t->ids);
	t->names = xcalloc(w->tree.len, sizeof *t->names);
	t->params = xcalloc(w->tree.len, sizeof *t->params);
	for (uint32_t i = 0; i < w->tree.len; i++) {
		struct node *n = &w->tree.nodes[i];
		if (!n->present)
			continue;
		size_t k = t->nh++;
		t->params[k] = sched_node_params(s, i);
		node_id_format(i, t->ids[k][0]);
		if (n->parent != NODE_NONE)
			node_id_format(n->parent, t->ids[k][1]);
		t->names[k][0] = n->name ? xstrdup(n->name) : NULL;
		t->names[k][1] = n->status == ST_PRUNED ? pruned_cell(s, i)
				 : n->failure_kind     ? xstrdup(n->failure_kind)
						       : NULL;
		t->names[k][2] = n->hypothesis ? xstrdup(n->hypothesis) : NULL;
		t->names[k][3] = n->change ? xstrdup(n->change) : NULL;
		t->hist[k] = (struct plan_entry){t->ids[k][0],
						 n->parent != NODE_NONE ? t->ids[k][1] : NULL,
						 t->names[k][0], status_name(n->status), t->names[k][1],
						 t->params[k], n->has_metric, n->metric,
						 t->names[k][2], t->names[k][3]};
	}
	t->directive = directive;
	t->commit = w->tree.nodes[t->parent].commit ? xstrdup(w->tree.nodes[t->parent].commit)
						    : NULL;
	uint32_t root = t->parent;
	while (w->tree.nodes[root].parent != NODE_NONE)
		root = w->tree.nodes[root].parent;
	t->base = w->tree.nodes[root].commit ? xstrdup(w->tree.nodes[root].commit) : NULL;
	t->base_params = s->base_params ? cJSON_Duplicate(s->base_params, true) : NULL;
	t->confirm = w->st.stop_asked ? xstrdup(w->st.stop_reason) : NULL;
	t->node_params = sched_node_params(s, t->parent);
	t->vet = vet_new(s, t->parent);
	t->req = (struct plan_request){c,
				       t->base_params,
				       t->hist,
				       t->nh,
				       t->pid,
				       t->node_params,
				       w->st.iteration + 1,
				       plan_want(s),
				       t->directive,
				       t->confirm,
				       patience_left(s),
				       fixed_left(s)};
	/* What the request was built from is durable: a restart asks the same. */
	sched_commit(s);
	s->planning = true;
	bg_submit(s->llm, plan_work, plan_done, t);
	return 1;
}

