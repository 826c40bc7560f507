/*
 * workdir_load.c — a workdir's durable files read back, workdir_open's
 * load step: config.json and workers.json checked, then engine/tree.json
 * (the last checkpoint), a person's edits of engine/checkpoint.json, and
 * the journal's events newer than the checkpoint replayed. Each file is
 * checked as it is read; an error names the file and line. See workdir.h.
 */
#include "hypotop/workdir.h"

#include <dirent.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hypotop/fsutil.h"
#include "hypotop/json.h"
#include "hypotop/workers.h"

/* The run counters as workdir.c writes them (state_to_json). */
static int state_from_json(struct run_state *st, const cJSON *j, const char *what,
			   struct err *e)
{
	const char *best = NULL, *at_round = NULL, *instr = NULL, *source = NULL;

	if (!cJSON_IsObject(j)) {
		err_set(e, "%s: \"state\" must be an object", what);
		return -1;
	}
	if (json_get_int(j, "iteration", what, 0, 1L << 40, &st->iteration, e) < 0 ||
	    json_get_int(j, "judged", what, 0, 1L << 40, &st->judged, e) < 0 ||
	    json_get_str(j, "best_at_round", what, &at_round, e) < 0 ||
	    json_get_int(j, "rounds_without_gain", what, 0, 1L << 40, &st->rounds_without_gain,
			 e) < 0 ||
	    json_get_num(j, "llm_usd", what, &st->llm_usd, e) < 0 ||
	    json_get_num(j, "gpu_seconds", what, &st->gpu_seconds, e) < 0 ||
	    json_get_str(j, "best", what, &best, e) < 0 ||
	    json_get_str(j, "instrument", what, &instr, e) < 0 ||
	    json_get_str(j, "source_commit", what, &source, e) < 0)
		return -1;
	if (instr && strcmp(instr, "applied") && strcmp(instr, "skipped")) {
		err_set(e, "%s: \"instrument\" must be \"applied\" or \"skipped\"", what);
		return -1;
	}
	if (source && (strlen(source) >= sizeof st->source_commit ||
		       strspn(source, "0123456789abcdef") != strlen(source))) {
		err_set(e, "%s: \"source_commit\" must be a commit id in hex", what);
		return -1;
	}
	snprintf(st->instrument, sizeof st->instrument, "%s", instr ? instr : "");
	snprintf(st->source_commit, sizeof st->source_commit, "%s", source ? source : "");
	/* Absent: no stop waits to be confirmed. */
	const cJSON *asked = cJSON_GetObjectItemCaseSensitive(j, "stop_asked");
	if (asked && !cJSON_IsNull(asked) && !cJSON_IsString(asked)) {
		err_set(e, "%s: \"stop_asked\" must be a string (the planner's reason) or absent",
			what);
		return -1;
	}
	st->stop_asked = cJSON_IsString(asked);
	snprintf(st->stop_reason, sizeof st->stop_reason, "%s",
		 st->stop_asked ? asked->valuestring : "");
	st->best = best ? node_id_parse(best) : NODE_NONE;
	st->best_at_round = at_round ? node_id_parse(at_round) : NODE_NONE;
	if ((best && st->best == NODE_NONE) || (at_round && st->best_at_round == NODE_NONE)) {
		err_set(e, "%s: \"best\" and \"best_at_round\" must be node ids", what);
		return -1;
	}
	return 0;
}

/* The "seq" of tree.json, checkpoint.json or a journal event. */
static int seq_from_json(const cJSON *v, const char *what, uint64_t *out, struct err *e)
{
	long seq = 0;

	if (json_int(v, "seq", what, 0, JOURNAL_SEQ_MAX, &seq, e) != 1) {
		err_set(e, "%s: \"seq\" must be a whole number from 0 to %ld", what,
			JOURNAL_SEQ_MAX);
		return -1;
	}
	*out = (uint64_t)seq;
	return 0;
}

struct tree_load {
	struct workdir *w;
	const char *path, *text;
	struct json_lines lines;
	bool have_seq, have_nodes;
};

static int tree_node_cb(void *ctx, const char *el, size_t len, size_t off, struct err *e)
{
	struct tree_load *tl = ctx;
	char what[4200];

	snprintf(what, sizeof what, "%s:%d", tl->path, json_lines_at(&tl->lines, off));
	cJSON *j = json_parse_in(tl->text, el, len, tl->path, e);
	if (!j)
		return -1;
	struct node *n = tree_load_node(&tl->w->tree, j, what, e);
	cJSON_Delete(j);
	if (!n)
		return -1;
	n->dirty = false;
	return 0;
}

static int tree_member_cb(void *ctx, const char *key, const char *val, size_t len, size_t off,
			  struct err *e)
{
	struct tree_load *tl = ctx;
	char what[4200];

	snprintf(what, sizeof what, "%s:%d", tl->path, json_lines_at(&tl->lines, off));
	if (!strcmp(key, "nodes")) {
		tl->have_nodes = true;
		return json_walk_array(tl->text, val, len, tl->path, tree_node_cb, tl, e);
	}
	cJSON *j = json_parse_in(tl->text, val, len, tl->path, e);
	if (!j)
		return -1;
	int rc = 0;
	if (!strcmp(key, "seq")) {
		rc = seq_from_json(j, what, &tl->w->tree_seq, e);
		if (rc < 0)
			err_suffix(e, "; restore the file from a backup");
		tl->have_seq = true;
	} else if (!strcmp(key, "state")) {
		rc = state_from_json(&tl->w->st, j, what, e);
	} else if (!strcmp(key, "checkpoint_hash")) {
		if (!cJSON_IsString(j) || sscanf(j->valuestring, "%16" SCNx64,
						 &tl->w->checkpoint_hash) != 1) {
			err_set(e, "%s: \"checkpoint_hash\" must be 16 hex digits", what);
			rc = -1;
		}
	} else if (!strcmp(key, "version")) {
		if (!cJSON_IsNumber(j) || j->valuedouble != 1) {
			err_set(e, "%s: \"version\" %g is not one this hypotop reads (1)", what,
				cJSON_IsNumber(j) ? j->valuedouble : -1);
			rc = -1;
		}
	} else {
		err_set(e, "%s: unknown key \"%s\"; remove it", what, key);
		rc = -1;
	}
	cJSON_Delete(j);
	return rc;
}

static int load_tree(struct workdir *w, struct err *e)
{
	char *path = workdir_file(w, WD_TREE_FILE);
	size_t len;
	char *text = NULL;
	int rc = -1;

	if (!fs_exists(path)) {
		err_set(e, "%s: missing; %s is not a hypotop workdir (create one with 'hypotop "
			   "init')",
			path, w->path);
		goto out;
	}
	text = fs_read(path, &len, e);
	if (!text)
		goto out;
	struct tree_load tl = {w, path, text, {0}, false, false};
	json_lines_init(&tl.lines, text);
	if (json_walk_object(text, len, path, tree_member_cb, &tl, e) < 0)
		goto out;
	if (!tl.have_seq || !tl.have_nodes) {
		err_set(e, "%s: needs \"seq\" and \"nodes\"; restore the file from a backup",
			path);
		goto out;
	}
	rc = 0;
out:
	free(text);
	free(path);
	return rc;
}

/*
 * A person may edit engine/checkpoint.json while no engine runs: change a
 * queued spec's priority, or remove it (the node is cancelled). Only a
 * checkpoint of the same seq as tree.json is read; an older one is a
 * checkpoint cut short by a crash and is ignored. The file is walked spec
 * by spec, like tree.json, so a queue of 10^5 specs costs little memory.
 */
struct cp_load {
	struct workdir *w;
	const char *path, *text;
	struct json_lines lines;
	bool have_seq;
	uint64_t seq;
	const char *queue; /* raw bytes of "queue" */
	size_t queue_len;
	bool *listed;
};

static int cp_member_cb(void *ctx, const char *key, const char *val, size_t len, size_t off,
			struct err *e)
{
	struct cp_load *c = ctx;
	int line = json_lines_at(&c->lines, off);

	if (!strcmp(key, "seq")) {
		char what[4200];
		snprintf(what, sizeof what, "%s:%d", c->path, line);
		cJSON *j = cJSON_ParseWithLength(val, len);
		int rc = seq_from_json(j, what, &c->seq, e);
		cJSON_Delete(j);
		if (rc < 0) {
			err_suffix(e, "; restore the file, or remove it, which drops only the "
				      "edits made in it");
			return -1;
		}
		c->have_seq = true;
	} else if (!strcmp(key, "queue")) {
		if (val[0] != '[') {
			err_set(e, "%s:%d: \"queue\" must be an array of specs", c->path, line);
			return -1;
		}
		c->queue = val;
		c->queue_len = len;
	} else if (strcmp(key, "version") && strcmp(key, "running")) {
		err_set(e, "%s:%d: unknown key \"%s\"; the file holds version, seq, queue, running",
			c->path, line, key);
		return -1;
	}
	return 0;
}

static int cp_spec_cb(void *ctx, const char *el, size_t len, size_t off, struct err *e)
{
	struct cp_load *c = ctx;
	struct workdir *w = c->w;
	char what[4200];
	const char *id = NULL;
	long prio;
	int rc = -1;

	snprintf(what, sizeof what, "%s:%d", c->path, json_lines_at(&c->lines, off));
	cJSON *spec = json_parse_in(c->text, el, len, c->path, e);
	if (!spec)
		return -1;
	if (!cJSON_IsObject(spec) || json_get_str(spec, "id", what, &id, e) != 1) {
		err_set(e, "%s: every queue entry needs an \"id\"; put back the one you removed",
			what);
		goto out;
	}
	uint32_t nid;
	struct err why = {{0}};
	if (node_id_read(id, &nid, &why) < 0) {
		err_set(e, "%s: \"id\": %s", what, why.msg);
		goto out;
	}
	struct node *n = tree_get(&w->tree, nid);
	if (!n || !(n->status == ST_QUEUED || n->status == ST_PAUSED)) {
		err_set(e, "%s: \"%s\" is not a queued node; only queued specs may stay in \"queue\"",
			what, id);
		goto out;
	}
	if (c->listed[n->id]) {
		err_set(e, "%s: \"%s\" is listed twice; keep one", what, id);
		goto out;
	}
	c->listed[n->id] = true;
	int r = json_get_int(spec, "priority", what, -1000000, 1000000, &prio, e);
	if (r < 0) {
		err_suffix(e, " (lower runs first)");
		goto out;
	}
	if (r == 1 && prio != n->priority) {
		n->priority = (int)prio;
		n->dirty = true;
		w->edits++;
	}
	rc = 0;
out:
	cJSON_Delete(spec);
	return rc;
}

static int load_checkpoint_edits(struct workdir *w, struct err *e)
{
	char *path = workdir_file(w, WD_CHECKPOINT_FILE);
	size_t len;
	char *text = NULL;
	uint32_t *order = NULL;
	struct cp_load c = {w, path, NULL, {0}, false, 0, NULL, 0, NULL};
	int rc = -1;

	if (!fs_exists(path)) {
		rc = 0;
		goto out;
	}
	text = fs_read(path, &len, e);
	if (!text)
		goto out;
	/* Unchanged since hypotop wrote it: nothing to apply. */
	if (w->checkpoint_hash && hash64(text, len) == w->checkpoint_hash) {
		rc = 0;
		goto out;
	}
	c.text = text;
	json_lines_init(&c.lines, text);
	if (json_walk_object(text, len, path, cp_member_cb, &c, e) < 0)
		goto out;
	if (!c.have_seq) {
		err_set(e, "%s: needs a number \"seq\"; restore the file, or remove it, which "
			   "drops only the edits made in it",
			path);
		goto out;
	}
	if (c.seq != w->tree_seq) {
		rc = 0;
		goto out;
	}
	c.listed = xcalloc(w->tree.len + 1, sizeof *c.listed);
	if (c.queue &&
	    json_walk_array(text, c.queue, c.queue_len, path, cp_spec_cb, &c, e) < 0)
		goto out;
	/* Specs removed from the queue are cancelled. */
	size_t nq = queue_order(&w->tree, &order);
	for (size_t i = 0; i < nq; i++) {
		struct node *n = &w->tree.nodes[order[i]];
		if (c.listed[n->id])
			continue;
		n->status = ST_CANCELLED;
		node_set_str(&n->failure_kind, "cancelled");
		node_set_str(&n->failure_phase, "queued");
		n->dirty = true;
		w->edits++;
	}
	rc = 0;
out:
	free(order);
	free(c.listed);
	free(text);
	free(path);
	return rc;
}

struct replay {
	struct workdir *w;
	const char *path;
};

static int replay_cb(void *ctx, const cJSON *ev, int line, struct err *e)
{
	struct replay *r = ctx;
	struct workdir *w = r->w;
	char what[4200];
	uint64_t seq;

	snprintf(what, sizeof what, "%s:%d", r->path, line);
	if (seq_from_json(cJSON_GetObjectItemCaseSensitive(ev, "seq"), what, &seq, e) < 0) {
		err_suffix(e, "; the journal is damaged");
		return -1;
	}
	if (seq <= w->tree_seq)
		return 0; /* already in the checkpoint */
	if (seq <= w->seq) {
		err_set(e, "%s: seq %llu does not follow %llu; the journal is damaged", what,
			(unsigned long long)seq, (unsigned long long)w->seq);
		return -1;
	}
	w->seq = seq;
	const char *op = NULL;
	if (json_get_str(ev, "op", what, &op, e) != 1 || !journal_op_known(op)) {
		err_set(e, "%s: \"op\": %s%s%s is not an operation of the journal (see "
			   "engine/journal.jsonl in hypotop(1)); the journal is damaged: restore it "
			   "from a backup",
			what, op ? "\"" : "", op ? op : "none", op ? "\"" : "");
		return -1;
	}
	const cJSON *node = cJSON_GetObjectItemCaseSensitive(ev, "node");
	const cJSON *state = cJSON_GetObjectItemCaseSensitive(ev, "state");
	bool is_state = !strcmp(op, "state");
	if (is_state ? !state || node : !node || state) {
		err_set(e, "%s: a \"%s\" event holds %s; the journal is damaged: restore it from "
			   "a backup",
			what, op, is_state ? "\"state\" and no \"node\"" : "\"node\" and no \"state\"");
		return -1;
	}
	if (node) {
		struct node *n = tree_load_node(&w->tree, node, what, e);
		if (!n)
			return -1;
		n->dirty = true;
	}
	if (state && state_from_json(&w->st, state, what, e) < 0)
		return -1;
	return 0;
}

/*
 * The folders of runs/ and engine/nodes/ named by node ids: the highest
 * id among them is never given again, whether its node is in the tree or
 * was lost (with the journal, or in a crash before it was recorded). One
 * beyond the tree's last node is returned, with the folder that shows it
 * in *where; NODE_NONE when there is none.
 */
static uint32_t reserve_folder_ids(struct workdir *w, char *where, size_t size)
{
	static const char *const dirs[] = {"runs", "engine/nodes"};
	uint32_t top = NODE_NONE, len = w->tree.len;

	for (size_t i = 0; i < ARRAY_LEN(dirs); i++) {
		char *path = workdir_file(w, dirs[i]);
		DIR *d = opendir(path);
		free(path);
		for (struct dirent *de; d && (de = readdir(d));) {
			uint32_t id;
			if (de->d_name[0] != 'n' || node_id_read(de->d_name, &id, NULL) < 0)
				continue;
			tree_reserve(&w->tree, id);
			if (id >= len && (top == NODE_NONE || id > top)) {
				top = id;
				snprintf(where, size, "%s/%s", dirs[i], de->d_name);
			}
		}
		if (d)
			closedir(d);
	}
	return top;
}

/*
 * A journal missing or emptied (hypotop replaces it whole, never leaves
 * it so) has lost the changes since the checkpoint: refused, with the way
 * back and the way on, which says what it gives up.
 */
static void journal_lost(struct workdir *w, const char *jpath, uint32_t stray, const char *where,
			 struct err *e)
{
	char last[NODE_ID_LEN], among[4200] = "";

	if (stray != NODE_NONE) {
		node_id_format(stray, last);
		snprintf(among, sizeof among, ", among them the nodes up to %s (%s)", last, where);
	}
	err_set(e, "%s is %s: the changes since the last checkpoint (engine/tree.json, seq %llu) "
		   "went with it%s; restore it from a backup, or, to go on from that checkpoint "
		   "and give those changes up for good, write its first line back: echo '"
		   JOURNAL_HEADER "' > %s (the folders and branches of the nodes lost are kept, "
		   "and their ids never given again)",
		jpath, fs_exists(jpath) ? "empty" : "missing", (unsigned long long)w->tree_seq, among,
		(unsigned long long)w->tree_seq, jpath);
}

int workdir_load(struct workdir *w, struct journal_info *info, struct err *e)
{
	char *cfg = workdir_file(w, "config.json");
	char *workers = workdir_file(w, "workers.json");
	char *jpath = workdir_file(w, WD_JOURNAL_FILE);
	int rc = -1;

	if (config_load(&w->cfg, cfg, e) < 0 || workers_check(workers, e) < 0)
		goto out;
	if (load_tree(w, e) < 0)
		goto out;
	w->seq = w->tree_seq;
	if (load_checkpoint_edits(w, e) < 0)
		goto out;
	struct replay r = {w, jpath};
	if (journal_replay(jpath, replay_cb, &r, info, e) < 0) {
		if (info->bad_header) {
			char h[64];
			snprintf(h, sizeof h, JOURNAL_HEADER, (unsigned long long)w->tree_seq);
			err_suffix(e, "; restore the file from a backup, or write ");
			err_suffix(e, h);
			err_suffix(e, " in place of that line alone: the events after it are kept");
		}
		goto out;
	}
	char where[300];
	uint32_t stray = reserve_folder_ids(w, where, sizeof where);
	if (info->no_header) {
		journal_lost(w, jpath, stray, where, e);
		goto out;
	}
	if (stray != NODE_NONE && w->tree.len) {
		char last[NODE_ID_LEN];
		node_id_format(w->tree.len - 1, last);
		w->warning = xasprintf("%s: %s belongs to no node (the last in engine/tree.json and "
				       "engine/journal.jsonl is %s): a journal emptied or replaced, or "
				       "a crash before the node was recorded; a journal restored from "
				       "a backup brings it back, and new nodes are numbered after it",
				       w->path, where, last);
	}
	if (info->base > w->tree_seq) {
		err_set(e, "%s: continues from checkpoint %llu but %s is at %llu; restore "
			   "engine/tree.json from a backup",
			jpath, (unsigned long long)info->base, WD_TREE_FILE,
			(unsigned long long)w->tree_seq);
		rc = WD_BUSY; /* a reader raced a checkpoint; retry */
		goto out;
	}
	rc = 0;
out:
	free(cfg);
	free(workers);
	free(jpath);
	return rc;
}
