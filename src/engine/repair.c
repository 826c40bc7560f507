/*
 * repair.c — a run that dies at start-up gets up to repair_attempts repair
 * proposals from the model before it is given up (SPEC §5).
 *
 * "Dies at start-up": the build failed, the launch command could not run,
 * or the program exited with an error (failure kinds build, launch, crash)
 * before its log showed any progress: no step counter and no value of the
 * metric. A run that got further has a bug worth analysing, not a start-up
 * to fix, and other kinds (a conflict of the change, a stall, a timeout,
 * NaN) are not the code's failure to start.
 *
 * The repair is asked on the planner thread right after the analysis of
 * the failed node, with its log tail, its change and the sources in scope.
 * A fix becomes a new node, a child of the failed one: its commit is the
 * failed commit plus the fix, so that every hypotop/<node> branch reads as
 * what was tried and what repaired it. The new node records the node it
 * repairs (repair_of); the attempts of one experiment are the chain of
 * repair_of links back to it, which tree.json keeps across restarts. The
 * failed node stays analysing until the answer is acted on, so a restart
 * asks again rather than losing the repair.
 *
 * The sources a model is shown are gathered here too, for a repair, the
 * instrumentation and a plan (sources_gather, sources_scope).
 *
 * Main thread, except repair_work(), sources_gather() and sources_scope().
 */
#include <ctype.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "hypotop/ops.h"
#include "hypotop/lifecycle.h"
#include "hypotop/vcs.h"

#define SOURCES_LISTED 20000
#define SOURCES_FILES 16
#define SOURCE_BYTES (256 * 1024)
#define SCOPE_LISTED 200 /* the most files a plan names, whole or not */
#define REPAIR_SUFFIX_MAX 12 /* "-repair-100" */

/* ---- the sources in scope ----------------------------------------------- */

static bool path_char(char c)
{
	return isalnum((unsigned char)c) || c == '_' || c == '.' || c == '-';
}

/* Whether text names path as a whole word ("a/train.py" names "train.py"). */
static bool names_path(const char *text, const char *path)
{
	size_t n = strlen(path);

	for (const char *p = text; text && n && (p = strstr(p, path)); p++)
		if ((p == text || !path_char(p[-1])) && !path_char(p[n]))
			return true;
	return false;
}

/* The rank of the first hint that names path (hints come in order of rank); nhints: none. */
static size_t rank_of(const char *const *hints, size_t nhints, const char *path)
{
	size_t i = 0;

	while (i < nhints && !names_path(hints[i], path))
		i++;
	return i;
}

/*
 * Data, not code: what a program reads or writes (text data sets, tables,
 * arrays, checkpoints, logs). Shown to a model, it only crowds the sources
 * out, however often the log names it.
 */
static bool is_data(const char *path)
{
	static const char *const exts[] = {
		"txt", "csv", "tsv", "jsonl", "ndjson", "npy", "npz", "pt", "pth", "ckpt",
		"bin", "pkl", "pickle", "h5", "hdf5", "parquet", "arrow", "feather", "dat",
		"log", "safetensors", "tfrecord", "gz", "zip", "tar", "xz", "bz2", "zst",
		"png", "jpg", "jpeg", "gif", "wav", "mp3", "flac", "svg", "pdf"};
	const char *base = strrchr(path, '/'), *dot;

	base = base ? base + 1 : path;
	dot = strrchr(base, '.');
	if (!dot || dot == base)
		return false;
	if (!strncmp(base, "requirements", 12) || !strcmp(base, "CMakeLists.txt"))
		return false;
	for (size_t i = 0; i < ARRAY_LEN(exts); i++)
		if (!strcasecmp(dot + 1, exts[i]))
			return true;
	return false;
}

/* The text of path at commit; NULL when it cannot be read or is binary. */
static char *source_read(const char *repo, const char *commit, const char *path, size_t *len)
{
	struct err e = {{0}};
	char *text;

	if (vcs_read_file(repo, commit, path, &text, len, &e) < 0)
		return NULL;
	if (memchr(text, '\0', *len)) {
		free(text);
		return NULL;
	}
	return text;
}

/*
 * The text files of commit that the hints name, in the order of the hints
 * (the launch and build commands, the log's traceback, a change): the
 * first hint that names a file ranks it. When they name none, the first
 * text files of the tree. Never a data file. At most SOURCES_FILES, each
 * under SOURCE_BYTES. Any thread.
 */
void sources_gather(const char *repo, const char *commit, const char *const *hints,
		    size_t nhints, struct sources *out)
{
	char **paths;
	size_t n;
	struct err e = {{0}};

	memset(out, 0, sizeof *out);
	if (!commit || vcs_list_files(repo, commit, SOURCES_LISTED, &paths, &n, &e) < 0)
		return;
	out->v = xcalloc(SOURCES_FILES, sizeof *out->v);
	/* Ranks 0..nhints-1: named by that hint; nhints: named by none; data: never. */
	size_t *ranks = xcalloc(n ? n : 1, sizeof *ranks);
	for (size_t i = 0; i < n; i++)
		ranks[i] = is_data(paths[i]) ? SIZE_MAX : rank_of(hints, nhints, paths[i]);
	for (size_t rank = 0; rank <= nhints && out->n < SOURCES_FILES; rank++) {
		if (rank == nhints && out->n)
			break; /* the tree only when no hint names a file */
		for (size_t i = 0; i < n && out->n < SOURCES_FILES; i++) {
			size_t len;
			if (ranks[i] != rank)
				continue;
			char *text = source_read(repo, commit, paths[i], &len);
			if (!text || len > SOURCE_BYTES) {
				free(text); /* not text, or too big to show */
				continue;
			}
			out->v[out->n].path = xstrdup(paths[i]);
			out->v[out->n].size = len;
			out->v[out->n++].text = text;
		}
	}
	for (size_t i = 0; i < n; i++)
		free(paths[i]);
	free(paths);
	free(ranks);
}

static bool in_list(char *const *v, size_t n, const char *path)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(v[i], path))
			return true;
	return false;
}

/* Ranks of scope: changed, named by a command or the param file, globbed; none. */
enum { SCOPE_CHANGED, SCOPE_NAMED, SCOPE_GLOB, SCOPE_NONE };

void sources_scope(const struct config *c, const char *base, const char *commit,
		   struct sources *out)
{
	const cJSON *file = cJSON_GetObjectItemCaseSensitive(c->search_space, "file");
	const char *hints[] = {c->launch, c->build};
	char **paths, **changed = NULL;
	size_t n, nchanged = 0, room = (size_t)c->llm_context_bytes;
	struct err e = {{0}};

	memset(out, 0, sizeof *out);
	if (!commit || vcs_list_files(c->source_dir, commit, SOURCES_LISTED, &paths, &n, &e) < 0)
		return;
	if (base && strcmp(base, commit))
		vcs_diff_paths(c->source_dir, base, commit, &changed, &nchanged, &e);
	int *ranks = xcalloc(n ? n : 1, sizeof *ranks);
	for (size_t i = 0; i < n; i++) {
		bool glob = config_globbed(c->llm_context, paths[i]);
		if (in_list(changed, nchanged, paths[i]) && (glob || !is_data(paths[i])))
			ranks[i] = SCOPE_CHANGED;
		else if ((rank_of(hints, ARRAY_LEN(hints), paths[i]) < ARRAY_LEN(hints) &&
			  !is_data(paths[i])) ||
			 (cJSON_IsString(file) && !strcmp(file->valuestring, paths[i])))
			ranks[i] = SCOPE_NAMED;
		else
			ranks[i] = glob ? SCOPE_GLOB : SCOPE_NONE;
	}
	out->v = xcalloc(SCOPE_LISTED, sizeof *out->v);
	for (int rank = SCOPE_CHANGED; rank < SCOPE_NONE; rank++)
		for (size_t i = 0; i < n; i++) {
			size_t len;
			char *text;
			if (ranks[i] != rank || !(text = source_read(c->source_dir, commit, paths[i],
								     &len)))
				continue;
			if (out->n == SCOPE_LISTED) {
				out->more++;
				free(text);
				continue;
			}
			if (len > room) {
				free(text); /* named, with its size */
				text = NULL;
			} else {
				room -= len;
			}
			out->v[out->n].path = xstrdup(paths[i]);
			out->v[out->n].size = len;
			out->v[out->n++].text = text;
		}
	for (size_t i = 0; i < n; i++)
		free(paths[i]);
	for (size_t i = 0; i < nchanged; i++)
		free(changed[i]);
	free(paths);
	free(changed);
	free(ranks);
}

void sources_free(struct sources *s)
{
	for (size_t i = 0; i < s->n; i++) {
		free((char *)s->v[i].path);
		free((char *)s->v[i].text);
	}
	free(s->v);
	memset(s, 0, sizeof *s);
}

/* ---- when to repair -------------------------------------------------------- */

struct repair_task {
	const struct config *cfg;
	const char *workdir;
	uint32_t node;
	int attempt;
	char nid[NODE_ID_LEN];
	char *repo, *commit, *name, *hypothesis, *kind, *why, *tail, *change;
	struct sources src;
	cJSON *answer;
	cJSON *calls; /* the requests' log stems (planner_take_calls), or NULL */
	int rc;
	const char *llm_kind;
	struct err e;
};

/* The experiment a chain of repairs started from. */
static struct node *original_of(struct tree *t, struct node *n, int *hops)
{
	*hops = 0;
	for (struct node *p; n->repair_of != NODE_NONE && (p = tree_get(t, n->repair_of));) {
		n = p;
		++*hops;
	}
	return n;
}

static bool startup_kind(const char *kind)
{
	return kind && (!strcmp(kind, "build") || !strcmp(kind, "launch") ||
			!strcmp(kind, "crash"));
}

struct repair_task *repair_begin(struct sched *s, struct node *n, const struct metrics *m,
				 const char *kind, const char *why, const char *tail)
{
	const struct config *c = &s->wd->cfg;
	int used;

	if (!startup_kind(kind) || !n->commit || !s->planner || c->repair_attempts <= 0)
		return NULL;
	/* Progress seen: it started, and failed later. */
	if (!isnan(m->step) || n->has_metric)
		return NULL;
	original_of(&s->wd->tree, n, &used);
	char nid[NODE_ID_LEN];
	node_id_format(n->id, nid);
	if (used >= c->repair_attempts) {
		sched_say(s, "%s: no repair asked: its experiment had its %ld repair attempt%s "
			     "(repair_attempts)",
			  nid, c->repair_attempts, c->repair_attempts == 1 ? "" : "s");
		return NULL;
	}
	struct repair_task *t = xcalloc(1, sizeof *t);
	t->cfg = c;
	t->workdir = s->wd->path;
	t->node = n->id;
	t->attempt = used + 1;
	memcpy(t->nid, nid, sizeof nid);
	t->repo = xstrdup(c->source_dir);
	t->commit = xstrdup(n->commit);
	t->name = n->name ? xstrdup(n->name) : NULL;
	t->hypothesis = n->hypothesis ? xstrdup(n->hypothesis) : NULL;
	t->kind = xstrdup(kind);
	t->why = why ? xstrdup(why) : NULL;
	t->tail = tail ? xstrdup(tail) : NULL;
	t->change = n->change ? xstrdup(n->change) : NULL;
	return t;
}

/* On the planner thread, after the analysis. */
void repair_work(struct repair_task *t, struct planner *p)
{
	if (!t)
		return;
	const char *hints[] = {t->cfg->launch, t->cfg->build, t->tail, t->change, t->why};
	sources_gather(t->repo, t->commit, hints, ARRAY_LEN(hints), &t->src);
	struct fix_request r = {
		.cfg = t->cfg,
		.node = t->nid,
		.name = t->name,
		.hypothesis = t->hypothesis,
		.failure_kind = t->kind,
		.why = t->why,
		.log_tail = t->tail,
		.change = t->change,
		.files = t->src.v,
		.nfiles = t->src.n,
		.attempt = t->attempt,
		.attempts = (int)t->cfg->repair_attempts,
	};
	struct place pl;
	t->rc = -1;
	if (place_open(&pl, t->cfg, t->workdir, t->nid, t->commit, &t->e) < 0)
		return;
	r.place = &pl.pl;
	t->rc = planner_repair(p, &r, &t->answer, &t->llm_kind, &t->e);
	t->calls = planner_take_calls();
	place_close(&pl);
}

void repair_free(struct repair_task *t)
{
	if (!t)
		return;
	free(t->repo);
	free(t->commit);
	free(t->name);
	free(t->hypothesis);
	free(t->kind);
	free(t->why);
	free(t->tail);
	free(t->change);
	sources_free(&t->src);
	cJSON_Delete(t->answer);
	cJSON_Delete(t->calls);
	free(t);
}

void repair_note_calls(const struct repair_task *t, struct node *n)
{
	if (t)
		node_add_calls(n, t->calls);
}

bool repair_succeeded(struct tree *t, uint32_t id)
{
	for (uint32_t i = id + 1; i < t->len; i++) {
		struct node *n = &t->nodes[i];
		int hops;
		if (n->present && n->repair_of != NODE_NONE && n->status == ST_COMPLETED &&
		    original_of(t, n, &hops)->id == id)
			return true;
	}
	return false;
}

/* "<original's name>-repair-<k>", cut to fit a slug. */
static char *repair_name(const struct node *orig, int k)
{
	char *base = orig->name && slug_ok(orig->name) ? xstrdup(orig->name)
			  : slugify(orig->name ? orig->name : "experiment");
	size_t room = 48 - REPAIR_SUFFIX_MAX;

	if (!*base) {
		free(base);
		base = xstrdup("experiment");
	}
	if (strlen(base) > room)
		base[room] = '\0';
	size_t len = strlen(base);
	while (len && base[len - 1] == '-')
		base[--len] = '\0';
	char *name = xasprintf("%s-repair-%d", base, k);
	free(base);
	return name;
}

/*
 * Back on the main thread, with the failed node recorded: queue the fix as
 * its child. What happened is added to the node's analysis text.
 */
void repair_done(struct sched *s, struct repair_task *t, struct buf *analysis)
{
	struct workdir *w = s->wd;
	struct err e = {{0}};

	if (!t)
		return;
	buf_adds(analysis, "\n## Repair\n\n");
	if (t->rc < 0) {
		sched_say(s, "%s: no repair (%s): %s", t->nid, t->llm_kind ? t->llm_kind : "planner",
			  t->e.msg);
		buf_printf(analysis, "Repair attempt %d was asked, and failed (%s): %s\n",
			   t->attempt, t->llm_kind ? t->llm_kind : "planner", t->e.msg);
		return;
	}
	const char *fix = cJSON_GetObjectItemCaseSensitive(t->answer, "fix")->valuestring;
	const cJSON *change = cJSON_GetObjectItemCaseSensitive(t->answer, "change");
	if (cJSON_IsNull(change)) {
		sched_say(s, "%s: no repair proposed: %s", t->nid, fix);
		buf_printf(analysis, "No repair proposed: %s\n", fix);
		return;
	}
	struct node *n = tree_get(&w->tree, t->node);
	int hops;
	struct node *orig = original_of(&w->tree, n, &hops);
	struct op op = {.kind = OP_ADD, .has_priority = true, .priority = n->priority};
	memcpy(op.node, t->nid, sizeof t->nid);
	op.name = repair_name(orig, t->attempt);
	op.hypothesis = xasprintf("Repair %d of %s, which failed at start-up (%s): %s\n\nThe "
				  "experiment: %s",
				  t->attempt, t->nid, t->kind, fix,
				  orig->hypothesis ? orig->hypothesis : "(no hypothesis)");
	op.change = cJSON_Duplicate(change, true);
	op.calls = t->calls;
	uint32_t id;
	if (op_apply(w, &op, true, &id, &e) < 0) {
		sched_say(s, "%s: the repair cannot be queued: %s", t->nid, e.msg);
		buf_printf(analysis, "The proposed repair was refused: %s\n", e.msg);
		op_free(&op);
		return;
	}
	n = tree_get(&w->tree, t->node); /* op_apply may have moved the nodes */
	struct node *c = tree_get(&w->tree, id);
	c->repair_of = n->id;
	c->seed = n->seed;
	sched_record(s, "repair", c);
	char cid[NODE_ID_LEN];
	node_id_format(id, cid);
	sched_say(s, "%s: repair %d of %ld queued as %s (%s): %s", t->nid, t->attempt,
		  w->cfg.repair_attempts, cid, op.name, fix);
	buf_printf(analysis, "Repair %d of %ld queued as %s (%s): %s\n", t->attempt,
		   w->cfg.repair_attempts, cid, op.name, fix);
	op_free(&op);
}
