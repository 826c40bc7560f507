/*
 * prepare.c — from the queue to a launch: dispatch, the work trees, and
 * each node's commit and checkout on the git thread (see sched.h).
 *
 * A node runs in one of a pool of work trees, worktrees/wtN, lent to it
 * from prepare to collect: checking out the next node's branch in a tree
 * that is there already rewrites only the files that differ. There are
 * two trees for every slot, so that while every slot runs a job the next
 * nodes are prepared ahead, and a slot that frees launches one at once.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hypotop/fsutil.h"
#include "hypotop/launch.h"
#include "hypotop/lifecycle.h"
#include "hypotop/vcs.h"

/* ---- the work trees ---------------------------------------------------- */

static void tree_name(int tree, char name[16])
{
	snprintf(name, 16, "wt%d", tree);
}

char *sched_tree_path(struct sched *s, int tree)
{
	char name[16];

	tree_name(tree, name);
	return xasprintf("%s/worktrees/%s", s->wd->path, name);
}

/* Mark tree as lent (a job found running in it after a restart, say). */
void sched_tree_claim(struct sched *s, int tree)
{
	if ((size_t)tree >= s->ntrees) {
		s->tree_used = xrealloc(s->tree_used, (size_t)(tree + 1) * sizeof *s->tree_used);
		memset(s->tree_used + s->ntrees, 0,
		       ((size_t)tree + 1 - s->ntrees) * sizeof *s->tree_used);
		s->ntrees = (size_t)tree + 1;
	}
	s->tree_used[tree] = true;
}

int sched_tree_take(struct sched *s)
{
	size_t i = 0;

	while (i < s->ntrees && s->tree_used[i])
		i++;
	sched_tree_claim(s, (int)i);
	return (int)i;
}

void sched_tree_free(struct sched *s, int tree)
{
	if (tree >= 0 && (size_t)tree < s->ntrees)
		s->tree_used[tree] = false;
}

/* Remove the work trees no node has, those an earlier engine left included. */
void sched_trees_drop(struct sched *s)
{
	char *dir = path_join(s->wd->path, "worktrees");
	DIR *d = opendir(dir);
	struct dirent *de;

	while (d && (de = readdir(d))) {
		char *end;
		if (strncmp(de->d_name, "wt", 2))
			continue;
		long k = strtol(de->d_name + 2, &end, 10);
		if (end == de->d_name + 2 || *end || k < 0 ||
		    ((size_t)k < s->ntrees && s->tree_used[k]))
			continue;
		char *path = path_join(dir, de->d_name);
		struct err e = {{0}};
		if (vcs_worktree_remove(s->wd->cfg.source_dir, de->d_name, path, &e) < 0)
			sched_say(s, "warning: %s", e.msg);
		free(path);
	}
	if (d)
		closedir(d);
	free(dir);
}

/* ---- nodes prepared ahead ---------------------------------------------- */

static struct ahead *ahead_of(struct sched *s, uint32_t node)
{
	for (size_t i = 0; i < s->nahead; i++)
		if (s->ahead[i].node == node)
			return &s->ahead[i];
	return NULL;
}

static void ahead_drop(struct sched *s, struct ahead *a)
{
	sched_tree_free(s, a->tree);
	size_t i = (size_t)(a - s->ahead);
	memmove(a, a + 1, (s->nahead - i - 1) * sizeof *a);
	s->nahead--;
}

void sched_ahead_add(struct sched *s, uint32_t node)
{
	s->ahead = xrealloc(s->ahead, (s->nahead + 1) * sizeof *s->ahead);
	s->ahead[s->nahead++] = (struct ahead){node, sched_tree_take(s), false};
	sched_prepare(s, node, s->ahead[s->nahead - 1].tree);
}

/* The ahead node moves into a free slot: the slot owns its tree now. */
static struct slot *ahead_to_slot(struct sched *s, struct ahead *a, struct slot *sl)
{
	int tree = a->tree;

	sched_slot_take(s, sl, a->node);
	a->tree = -1;
	ahead_drop(s, a);
	sl->tree = tree;
	return sl;
}

/*
 * The node prepared ahead that runs next: the first in queue order
 * (priority, then age) of those ready. One a person paused or cancelled
 * meanwhile is not among them: it is dropped, or dropped once ready.
 */
static struct ahead *next_ready(struct sched *s)
{
	struct ahead *best = NULL;

	for (size_t i = 0; i < s->nahead; i++) {
		struct ahead *a = &s->ahead[i];
		struct node *n = tree_get(&s->wd->tree, a->node);
		if (a->ready && n && n->status == ST_PREPARING &&
		    (!best || queue_before(&s->wd->tree, a->node, best->node)))
			best = a;
	}
	return best;
}

/* Nodes prepared ahead, still on the git thread, that run before node id. */
static size_t pending_before(struct sched *s, uint32_t id)
{
	size_t k = 0;

	for (size_t i = 0; i < s->nahead; i++) {
		struct node *n = tree_get(&s->wd->tree, s->ahead[i].node);
		k += !s->ahead[i].ready && n && n->status == ST_PREPARING &&
		     queue_before(&s->wd->tree, s->ahead[i].node, id);
	}
	return k;
}

/*
 * The node is the person's again: held (paused) or cancelled while it was
 * prepared ahead, it gives its place back; resumed before the git thread
 * answered, it is still being prepared, and stays so.
 */
void sched_ahead_changed(struct sched *s, uint32_t node)
{
	struct ahead *a = ahead_of(s, node);
	struct node *n = tree_get(&s->wd->tree, node);

	if (!a)
		return;
	if (n && n->status == ST_QUEUED) {
		n->status = ST_PREPARING;
		sched_record_light(s, "prepare", n);
	} else if (a->ready && (!n || n->status != ST_PREPARING)) {
		ahead_drop(s, a); /* one still preparing is dropped when git answers */
	}
}

/* ---- branches a crash lost ---------------------------------------------- */

/* hypotop/<node id>: every node's branch. */
static char *node_branch(const struct node *n)
{
	char nid[NODE_ID_LEN];

	node_id_format(n->id, nid);
	return xasprintf("hypotop/%s", nid);
}

struct restore_task {
	struct sched *s;
	char *repo;
	size_t n;
	char **branch, **commit;
	int rc;
	struct err e;
};

static void restore_work(void *arg)
{
	struct restore_task *t = arg;

	t->rc = vcs_branches_restore(t->repo, t->n, t->branch, t->commit, &t->e);
}

static void restore_done(void *arg)
{
	struct restore_task *t = arg;

	if (t->rc < 0)
		sched_say(t->s, "warning: %s", t->e.msg);
	else if (t->rc > 0)
		sched_say(t->s, "made again %d branch%s the last engine's crash lost", t->rc,
			  t->rc == 1 ? "" : "es");
	for (size_t i = 0; i < t->n; i++) {
		free(t->branch[i]);
		free(t->commit[i]);
	}
	free(t->branch);
	free(t->commit);
	free(t->repo);
	free(t);
}

void sched_branches_restore(struct sched *s)
{
	struct tree *tr = &s->wd->tree;
	struct restore_task *t = xcalloc(1, sizeof *t);

	t->s = s;
	t->repo = xstrdup(s->wd->cfg.source_dir);
	t->branch = xcalloc(tr->len ? tr->len : 1, sizeof *t->branch);
	t->commit = xcalloc(tr->len ? tr->len : 1, sizeof *t->commit);
	/* Not those still preparing: their own git task makes their branch. */
	for (uint32_t id = 0; id < tr->len; id++) {
		struct node *n = &tr->nodes[id];
		enum node_status st = n->status == ST_PAUSED ? n->resume_to : n->status;
		if (!n->present || !n->commit || st == ST_QUEUED || st == ST_PREPARING)
			continue;
		t->branch[t->n] = node_branch(n);
		t->commit[t->n++] = xstrdup(n->commit);
	}
	bg_submit(s->git, restore_work, restore_done, t);
}

/* ---- the commit and the checkout, on the git thread --------------------- */

struct git_task {
	struct sched *s;
	uint32_t node;
	char *repo, *parent, *change, *params_file, *branch, *message, *name, *path;
	char *dirs[2]; /* its run folder and its node folder, made here, off the main thread */
	char oid[VCS_OID_HEX];
	const char *kind;
	int rc;
	struct err e;
};

static void git_work(void *arg)
{
	struct git_task *t = arg;

	t->rc = vcs_commit_change(t->repo, t->parent, t->change, t->params_file, t->branch,
				  t->message, t->oid, &t->kind, &t->e);
	if (t->rc == 0)
		t->rc = vcs_worktree_add(t->repo, t->name, t->path, t->branch, &t->e);
	for (size_t i = 0; i < ARRAY_LEN(t->dirs) && t->rc == 0; i++) {
		struct err e = {{0}};
		fs_mkdir_p(t->dirs[i], 0755, &e); /* or made again, and said, where needed */
	}
	/* engine/nodes/<id>/change.diff: what the commit changed, for `d` and for people. */
	char *diff = NULL;
	struct err de = {{0}};
	if (t->rc == 0 && vcs_diff(t->repo, t->parent, t->oid, &diff, &de) == 0) {
		char *path = path_join(t->dirs[1], "change.diff");
		fs_write_atomic(path, diff, strlen(diff), 0644, &de); /* without it, `d` shows the change */
		free(path);
	}
	free(diff);
}

static void git_task_free(struct git_task *t)
{
	free(t->repo);
	free(t->parent);
	free(t->change);
	free(t->params_file);
	free(t->branch);
	free(t->message);
	free(t->name);
	free(t->path);
	for (size_t i = 0; i < ARRAY_LEN(t->dirs); i++)
		free(t->dirs[i]);
	free(t);
}

static void git_done(void *arg);

static void git_task_drop(void *arg)
{
	git_task_free(arg);
}

/* The same task again: what it made before it ran short is kept (vcs.h). */
static void prepare_again(struct sched *s, void *arg)
{
	struct git_task *t = arg;

	t->rc = 0;
	t->kind = NULL;
	memset(&t->e, 0, sizeof t->e);
	bg_submit(s->git, git_work, git_done, t);
}

static void git_done(void *arg)
{
	struct git_task *t = arg;
	struct sched *s = t->s;
	struct slot *sl = sched_slot_of(s, t->node);
	struct ahead *a = sl ? NULL : ahead_of(s, t->node);
	struct node *n = tree_get(&s->wd->tree, t->node);

	if (t->rc < 0 && err_out_of_fds(&t->e) && n && n->status != ST_CANCELLED && (sl || a)) {
		char what[64];
		node_id_format(t->node, what);
		snprintf(what + strlen(what), sizeof what - strlen(what), ": preparing");
		sched_defer(s, what, t->e.msg, prepare_again, git_task_drop, t);
		return;
	}
	if (!n || n->status == ST_CANCELLED || (!sl && !a)) {
		if (sl)
			sched_slot_release(s, sl);
		else if (a)
			ahead_drop(s, a);
		git_task_free(t);
		return;
	}
	if (t->rc < 0) {
		struct slot tmp = {.gpu = -1, .tree = -1};
		if (!sl)
			sl = ahead_to_slot(s, a, &tmp); /* a failure needs no free slot */
		sched_fail(s, sl, t->kind ? t->kind : "prepare", "prepare", t->e.msg);
		git_task_free(t);
		return;
	}
	node_set_str(&n->commit, t->oid);
	sched_record_light(s, "prepared", n);
	if (sl) {
		sl->preparing = false;
		/* Stopping: it stays prepared and the next start launches it. */
		if (!s->stopping && n->status == ST_PREPARING)
			sched_launch(s, sl);
		else if (n->status != ST_PREPARING)
			sched_slot_release(s, sl); /* a person paused it: it waits in the queue */
	} else {
		a->ready = true;
		if (n->status != ST_PREPARING)
			ahead_drop(s, a);
		sched_dispatch(s);
	}
	git_task_free(t);
}

char *sched_file_change(const char *launch, const char *change)
{
	cJSON *ch = cJSON_Parse(change);
	const cJSON *kind = cJSON_GetObjectItemCaseSensitive(ch, "kind");
	cJSON *p = cJSON_GetObjectItemCaseSensitive(ch, "params");
	char *out;

	if (!cJSON_IsString(kind) || strcmp(kind->valuestring, "params") || !cJSON_IsObject(p)) {
		cJSON_Delete(ch);
		return xstrdup(change); /* judged, and refused if need be, where it is applied */
	}
	for (cJSON *m = p->child, *next; m; m = next) {
		next = m->next;
		if (launch_uses(launch, m->string))
			cJSON_Delete(cJSON_DetachItemViaPointer(p, m));
	}
	out = cJSON_PrintUnformatted(ch);
	cJSON_Delete(ch);
	return out;
}

void sched_prepare(struct sched *s, uint32_t node, int tree)
{
	struct node *n = tree_get(&s->wd->tree, node);
	struct node *p = n->parent == NODE_NONE ? NULL : tree_get(&s->wd->tree, n->parent);
	struct git_task *t = xcalloc(1, sizeof *t);
	char nid[NODE_ID_LEN], name[16];

	node_id_format(n->id, nid);
	tree_name(tree, name);
	t->s = s;
	t->node = n->id;
	t->repo = xstrdup(s->wd->cfg.source_dir);
	/* A root (the baseline or a copy of it) runs its own recorded commit. */
	t->parent = xstrdup(p ? p->commit : n->commit);
	t->change = n->change ? sched_file_change(s->wd->cfg.launch, n->change) : NULL;
	const cJSON *ss = s->wd->cfg.search_space;
	const cJSON *f = ss ? cJSON_GetObjectItemCaseSensitive(ss, "file") : NULL;
	t->params_file = cJSON_IsString(f) ? xstrdup(f->valuestring) : NULL;
	t->branch = node_branch(n);
	/* The command it runs, in its commit: flags from the search space are in no file. */
	struct err e = {{0}};
	char *launch = sched_launch_command(s, n->id, &e);
	t->message = xasprintf("%s: %s\n\n%s\n\nLaunch: %s\n", nid, n->name ? n->name : "experiment",
			       n->hypothesis ? n->hypothesis : "", launch ? launch : e.msg);
	free(launch);
	t->name = xstrdup(name);
	t->path = sched_tree_path(s, tree);
	t->dirs[0] = sched_path(s, "runs", n->id, NULL);
	t->dirs[1] = sched_path(s, "engine/nodes", n->id, NULL);
	bg_submit(s->git, git_work, git_done, t);
}

/* ---- dispatch ---------------------------------------------------------- */

/*
 * A child builds on its parent's code: it may start once the parent's run
 * has started (its build done), beside it, so that a slot need not idle
 * through the baseline's run; it is judged once there is a result to judge
 * it against (sched_judge_waiting).
 */
static bool can_start(struct sched *s, struct node *n)
{
	if (n->parent == NODE_NONE)
		return n->commit != NULL && !instrument_holds(s);
	struct node *p = tree_get(&s->wd->tree, n->parent);
	return p && p->commit &&
	       (status_is_final(p->status) || p->status == ST_RUNNING ||
		p->status == ST_ANALYZING);
}

static size_t free_slots(struct sched *s)
{
	size_t n = 0;

	for (size_t i = 0; i < s->nslots; i++)
		n += !s->slots[i].used && sched_slot_open(s, &s->slots[i]);
	return n;
}

/*
 * Fill the free slots in queue order, nodes prepared ahead and queued ones
 * alike: a node a person moved up, or a candidate's repeats, go before
 * the nodes prepared earlier. Then prepare the next ones ahead.
 */
void sched_dispatch(struct sched *s)
{
	struct tree *t = &s->wd->tree;
	uint32_t held[64];
	size_t nheld = 0;

	/* Prepared ahead: no more than the workers that take jobs can start. */
	size_t cap = sched_capacity(s);

	while (!s->paused && !s->stopping && !sched_budget_stop(s)) {
		struct slot *sl = sched_free_slot(s, -1);
		uint32_t id = queue_peek(&s->wd->queue);
		struct ahead *a = sl ? next_ready(s) : NULL;
		if (a && (id == NODE_NONE || queue_before(t, a->node, id))) {
			sched_launch(s, ahead_to_slot(s, a, sl));
			continue;
		}
		if ((!sl && s->nahead >= cap) || id == NODE_NONE)
			break;
		struct node *n = tree_get(t, id);
		struct node *p = n->parent == NODE_NONE ? NULL : tree_get(t, n->parent);
		if (p && status_is_final(p->status) && !p->commit) {
			/* Its parent ended before it had code: it never will. */
			struct slot tmp = {.gpu = -1, .tree = -1};
			char pid[NODE_ID_LEN], *why;
			node_id_format(p->id, pid);
			why = xasprintf("its parent %s ended (%s) before it had a commit", pid,
					status_name(p->status));
			n->status = ST_PREPARING;
			sched_record(s, "prepare", n);
			sched_fail(s, sched_slot_take(s, &tmp, id), "parent_failed", "prepare", why);
			free(why);
			continue;
		}
		/* Straight into a slot that no node prepared ahead before it will claim. */
		if (sl && free_slots(s) <= pending_before(s, id))
			sl = NULL;
		/* A child of a running parent takes a free slot beside it, but is not
		 * prepared ahead of its parent's end. */
		if (!can_start(s, n) || (!sl && p && !status_is_final(p->status))) {
			/* Waits for its parent: set aside for this round. */
			if (nheld == ARRAY_LEN(held))
				break;
			held[nheld++] = id;
			n->status = ST_PAUSED; /* only to take it off the heap; restored below */
			queue_update(&s->wd->queue, id);
			continue;
		}
		if (!sl && s->nahead >= cap)
			break;
		n->status = ST_PREPARING;
		sched_record_light(s, "prepare", n);
		if (sl) {
			sched_slot_take(s, sl, id);
			sl->tree = sched_tree_take(s);
			sl->preparing = true;
			sched_prepare(s, id, sl->tree);
		} else {
			sched_ahead_add(s, id);
		}
	}
	for (size_t i = 0; i < nheld; i++) {
		t->nodes[held[i]].status = ST_QUEUED;
		queue_update(&s->wd->queue, held[i]);
	}
}
