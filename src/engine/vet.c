/*
 * vet.c — the check of a planning round's proposals before anything is
 * queued (struct plan_vet, planner.h). What it needs of the tree is copied
 * on the main thread when the round starts (vet_new), for the tree may
 * change while the call runs; the checks run on the planner thread, with
 * dry runs of each change (vcs_change_tree) on a repository handle of that
 * thread's own.
 *
 * An experiment is its source tree and the values its launch command
 * gets as {NAME}: the rest of its params are in the tree (the param file).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hypotop/config.h"
#include "hypotop/launch.h"
#include "hypotop/lifecycle.h"
#include "hypotop/params.h"
#include "hypotop/vcs.h"

/* An experiment that a proposal must not repeat. */
struct vet_run {
	char *label;         /* "n0007", or "proposal \"lr-up\" of this plan" */
	char *commit;        /* its commit; NULL: not made yet, and then: */
	char *parent_commit; /* its parent's, to dry-run its change on */
	char *change;        /* its change as it goes into the tree, or NULL */
	cJSON *flags;        /* the values of the launch command's {NAME} */
	cJSON *params;       /* a node's effective params (sched_node_params), or NULL */
	bool completed;      /* a node that may be a proposal's parent */
	bool known;          /* tree is worked out */
	char tree[VCS_OID_HEX];
};

struct vet {
	struct plan_vet hook;
	const struct config *cfg;
	char *params_file; /* search_space.file, or NULL */
	struct vet_run parent;
	cJSON *params;     /* the parent's effective params (sched_node_params) */
	struct vet_run *runs; /* every node that ran or waits to, but the cancelled */
	size_t nruns;
	/* On the planner thread: */
	bool ready;          /* the trees are worked out */
	cJSON *file_names;   /* the param file's settings at the parent's commit, or NULL */
	struct vet_run *accepted; /* the round's proposals accepted so far */
	size_t naccepted;
};

static char *dup_or_null(const char *s)
{
	return s ? xstrdup(s) : NULL;
}

static const char *str_item(const cJSON *o, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

	return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* The members of params the launch command takes as {NAME}. */
static cJSON *flag_values(const char *launch, const cJSON *params)
{
	cJSON *out = cJSON_CreateObject();
	const cJSON *m;

	cJSON_ArrayForEach(m, params)
		if (launch && launch_uses(launch, m->string))
			cJSON_AddItemToObject(out, m->string, cJSON_Duplicate(m, true));
	return out;
}

static void run_free(struct vet_run *r)
{
	free(r->label);
	free(r->commit);
	free(r->parent_commit);
	free(r->change);
	cJSON_Delete(r->flags);
	cJSON_Delete(r->params);
}

static int vet_check(void *ctx, const cJSON *proposal, struct buf *why);

struct vet *vet_new(struct sched *s, uint32_t parent)
{
	const struct tree *tr = &s->wd->tree;
	const char *launch = s->wd->cfg.launch;
	struct vet *v = xcalloc(1, sizeof *v);
	char id[NODE_ID_LEN];

	v->hook = (struct plan_vet){vet_check, v};
	v->cfg = &s->wd->cfg;
	v->params_file = dup_or_null(str_item(v->cfg->search_space, "file"));
	node_id_format(parent, id);
	v->parent.label = xstrdup(id);
	v->parent.commit = dup_or_null(tr->nodes[parent].commit);
	v->params = sched_node_params(s, parent);
	v->parent.flags = flag_values(launch, v->params);
	v->runs = xcalloc(tr->len ? tr->len : 1, sizeof *v->runs);
	for (uint32_t i = 0; i < tr->len; i++) {
		const struct node *n = &tr->nodes[i];
		const struct node *p = n->parent != NODE_NONE ? &tr->nodes[n->parent] : NULL;
		if (!n->present || n->status == ST_CANCELLED || (!n->commit && !(p && p->commit)))
			continue;
		struct vet_run *r = &v->runs[v->nruns++];
		node_id_format(i, id);
		r->label = xstrdup(id);
		r->commit = dup_or_null(n->commit);
		if (!n->commit) {
			r->parent_commit = xstrdup(p->commit);
			r->change = n->change ? sched_file_change(launch, n->change) : NULL;
		}
		r->params = sched_node_params(s, i);
		r->flags = flag_values(launch, r->params);
		r->completed = n->status == ST_COMPLETED && n->commit;
	}
	return v;
}

const struct plan_vet *vet_hook(struct vet *v)
{
	return &v->hook;
}

static void forget(struct vet *v)
{
	for (size_t i = 0; i < v->naccepted; i++)
		run_free(&v->accepted[i]);
	free(v->accepted);
	v->accepted = NULL;
	v->naccepted = 0;
}

void vet_free(struct vet *v)
{
	if (!v)
		return;
	forget(v);
	for (size_t i = 0; i < v->nruns; i++)
		run_free(&v->runs[i]);
	free(v->runs);
	run_free(&v->parent);
	cJSON_Delete(v->params);
	cJSON_Delete(v->file_names);
	free(v->params_file);
	free(v);
}

/*
 * The tree of r: its commit's, or its change dry-run on its parent's
 * commit. One that cannot be worked out (a change that does not apply)
 * stays unknown, and is compared with nothing.
 */
static void run_tree(struct vet *v, struct vet_run *r)
{
	const char *kind = NULL;
	struct err e = {{0}};
	const char *on = r->commit ? r->commit : r->parent_commit;

	r->known = on && vcs_change_tree(v->cfg->source_dir, on, r->commit ? NULL : r->change,
					 v->params_file, r->tree, &kind, NULL, &e) == 0;
}

/* What the checks read of the repository, once, on the planner thread. */
static void ready(struct vet *v)
{
	if (v->ready)
		return;
	v->ready = true;
	run_tree(v, &v->parent);
	for (size_t i = 0; i < v->nruns; i++)
		run_tree(v, &v->runs[i]);
	char *text = NULL;
	struct err e = {{0}};
	if (v->params_file && v->parent.commit &&
	    vcs_read_file(v->cfg->source_dir, v->parent.commit, v->params_file, &text, NULL,
			  &e) == 0 &&
	    params_read(v->params_file, text, &v->file_names, &e) < 0)
		v->file_names = NULL; /* the dry run says what is wrong with it */
	free(text);
}

/*
 * A params change sets what the param file holds or what the launch
 * command takes as {NAME}; *in_file: some of its names are the file's.
 */
static int check_params(struct vet *v, const cJSON *params, bool *in_file, struct buf *why)
{
	const char *launch = v->cfg->launch;
	const cJSON *m;

	*in_file = false;
	cJSON_ArrayForEach(m, params)
	{
		if (launch && launch_uses(launch, m->string))
			continue;
		*in_file = true;
		if (!v->params_file) {
			buf_printf(why, "\"%s\" is not passed as {%s} in the launch command, and the "
					"project has no param file (search_space.file), so a params "
					"change cannot set it: change the code (a patch or files) "
					"instead",
				   m->string, m->string);
			return -1;
		}
		if (v->file_names && !cJSON_GetObjectItemCaseSensitive(v->file_names, m->string)) {
			buf_printf(why, "\"%s\" is neither a setting of the param file %s nor passed "
					"as {%s} in the launch command; set one of ",
				   m->string, v->params_file, m->string);
			const cJSON *k;
			int n = 0;
			cJSON_ArrayForEach(k, v->file_names)
				buf_printf(why, "%s%s", n++ ? ", " : "", k->string);
			if (!n)
				buf_adds(why, "its settings");
			buf_adds(why, ", or change the code");
			return -1;
		}
	}
	return 0;
}

static int refuse_protected(const char *path, struct buf *why)
{
	buf_printf(why, "it changes %s, a protected file (protect in config.json): protected "
			"files may not change; leave %s as it is and propose another change",
		   path, path);
	return -1;
}

/* No path the change touches may match protect. */
static int check_protect(struct vet *v, const cJSON *ch, bool in_file, struct buf *why)
{
	const cJSON *globs = v->cfg->protect;
	const char *kind = str_item(ch, "kind"), *patch = str_item(ch, "patch");
	int rc = 0;

	if (!globs || !kind)
		return 0;
	if (!strcmp(kind, "params"))
		return in_file && config_globbed(globs, v->params_file)
			       ? refuse_protected(v->params_file, why)
			       : 0;
	if (patch) {
		char **paths = NULL;
		size_t n = 0;
		struct err e = {{0}};
		if (vcs_patch_paths(patch, &paths, &n, &e) == 0)
			for (size_t i = 0; i < n && !rc; i++)
				if (config_globbed(globs, paths[i]))
					rc = refuse_protected(paths[i], why);
		for (size_t i = 0; i < n; i++)
			free(paths[i]);
		free(paths);
		return rc; /* one that does not parse is refused by the dry run */
	}
	/* files, and any kind that lists paths: every "path" of its lists. */
	for (const cJSON *list = ch->child; list && !rc; list = list->next) {
		const cJSON *item;
		if (cJSON_IsArray(list))
			cJSON_ArrayForEach(item, list)
			{
				const char *path = str_item(item, "path");
				if (!rc && path && config_globbed(globs, path))
					rc = refuse_protected(path, why);
			}
	}
	return rc;
}

/* The dry run on the parent's commit: the proposal's tree, or why its change does not apply. */
static int check_applies(struct vet *v, const struct vet_run *parent, struct vet_run *me,
			 struct buf *why)
{
	const char *kind = NULL;
	struct buf detail;
	struct err e = {{0}};

	if (!parent->commit)
		return 0;
	buf_init(&detail);
	me->known = vcs_change_tree(v->cfg->source_dir, parent->commit, me->change,
				    v->params_file, me->tree, &kind, &detail, &e) == 0;
	if (!me->known && kind) {
		buf_printf(why, "its change does not apply (%s): %s", kind, e.msg);
		if (detail.len)
			buf_printf(why, "\n%s", detail.data);
	}
	buf_free(&detail);
	/* A failure of git's own is not the proposal's: prepare will say it. */
	return !me->known && kind ? -1 : 0;
}

static bool same_run(const struct vet_run *a, const struct vet_run *b)
{
	return a->known && b->known && !strcmp(a->tree, b->tree) &&
	       cJSON_Compare(a->flags, b->flags, true);
}

static int check_new(struct vet *v, const struct vet_run *parent, const struct vet_run *me,
		     struct buf *why)
{
	if (same_run(me, parent)) {
		buf_printf(why, "it changes nothing: the same source tree and params as its parent "
				"%s; propose a change that makes a difference",
			   parent->label);
		return -1;
	}
	const struct vet_run *was = NULL;
	for (size_t i = 0; i < v->nruns && !was; i++)
		if (same_run(me, &v->runs[i]))
			was = &v->runs[i];
	for (size_t i = 0; i < v->naccepted && !was; i++)
		if (same_run(me, &v->accepted[i]))
			was = &v->accepted[i];
	if (!was)
		return 0;
	buf_printf(why, "the same experiment as %s (the same source tree and params); propose "
			"a different one",
		   was->label);
	return -1;
}

/*
 * The node a proposal names as its parent ("parent", planner.h), or else
 * the node the round was asked about; NULL with why set when it names one
 * that is not a completed node.
 */
static const struct vet_run *parent_of(struct vet *v, const cJSON *proposal, struct buf *why)
{
	const char *id = str_item(proposal, "parent");

	if (!id || !strcmp(id, v->parent.label))
		return &v->parent;
	for (size_t i = 0; i < v->nruns; i++)
		if (!strcmp(v->runs[i].label, id)) {
			if (v->runs[i].completed)
				return &v->runs[i];
			break;
		}
	buf_printf(why, "its parent %s is not a completed node of the history: name one that "
			"completed, or leave parent out to branch from %s",
		   id, v->parent.label);
	return NULL;
}

static int vet_check(void *ctx, const cJSON *proposal, struct buf *why)
{
	struct vet *v = ctx;
	const cJSON *ch = cJSON_GetObjectItemCaseSensitive(proposal, "change");
	const char *name = str_item(proposal, "name");
	const char *kind = str_item(ch, "kind");
	struct vet_run me = {0};
	bool in_file = false;

	ready(v);
	const struct vet_run *parent = parent_of(v, proposal, why);
	if (!parent)
		return -1;
	char *text = cJSON_PrintUnformatted(ch);
	me.change = text ? sched_file_change(v->cfg->launch, text) : NULL;
	free(text);
	const cJSON *params = kind && !strcmp(kind, "params")
				      ? cJSON_GetObjectItemCaseSensitive(ch, "params")
				      : NULL;
	cJSON *merged = cJSON_Duplicate(parent == &v->parent ? v->params : parent->params, true);
	const cJSON *m;
	cJSON_ArrayForEach(m, params)
	{
		cJSON_DeleteItemFromObjectCaseSensitive(merged, m->string);
		cJSON_AddItemToObject(merged, m->string, cJSON_Duplicate(m, true));
	}
	me.flags = flag_values(v->cfg->launch, merged);
	cJSON_Delete(merged);
	if (check_params(v, params, &in_file, why) < 0 || check_protect(v, ch, in_file, why) < 0 ||
	    check_applies(v, parent, &me, why) < 0 || check_new(v, parent, &me, why) < 0) {
		run_free(&me);
		if (!why->len)
			buf_adds(why, "refused");
		return -1;
	}
	me.label = xasprintf("proposal \"%s\" of this plan", name ? name : "?");
	v->accepted = xrealloc(v->accepted, (v->naccepted + 1) * sizeof *v->accepted);
	v->accepted[v->naccepted++] = me;
	return 0;
}

size_t vet_filter(struct vet *v, cJSON *plan, char ***dropped)
{
	cJSON *props = cJSON_GetObjectItemCaseSensitive(plan, "proposals");
	size_t n = 0;

	*dropped = NULL;
	forget(v);
	for (cJSON *p = props ? props->child : NULL, *next; p; p = next) {
		struct buf why;
		next = p->next;
		buf_init(&why);
		if (vet_check(v, p, &why) < 0) {
			const char *name = str_item(p, "name");
			*dropped = xrealloc(*dropped, (n + 1) * sizeof **dropped);
			(*dropped)[n++] = xasprintf("%s dropped: %.*s", name ? name : "?",
						    (int)strcspn(why.data, "\n"), why.data);
			cJSON_Delete(cJSON_DetachItemViaPointer(props, p));
		}
		buf_free(&why);
	}
	return n;
}
