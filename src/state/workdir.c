/* workdir.c — see workdir.h. */
#include "hypotop/workdir.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hypotop/fsutil.h"
#include "hypotop/json.h"
#include "hypotop/workers.h"

#define TREE_FILE "engine/tree.json"
#define CHECKPOINT_FILE "engine/checkpoint.json"
#define JOURNAL_FILE "engine/journal.jsonl"
#define STATE_FILE "state.json"
#define ENGINE_STATE_FILE "engine/engine_state.json"
#define LOCK_FILE "engine/lock"

char *workdir_file(const struct workdir *w, const char *rel)
{
	return path_join(w->path, rel);
}

static void state_to_json(const struct run_state *st, struct buf *b)
{
	char id[NODE_ID_LEN];

	buf_printf(b, "{\"iteration\":%ld,\"judged\":%ld,\"rounds_without_gain\":%ld,"
		      "\"llm_usd\":%.6f,\"gpu_seconds\":%.3f",
		   st->iteration, st->judged, st->rounds_without_gain, st->llm_usd, st->gpu_seconds);
	static const char *const keys[] = {"best", "best_at_round"};
	uint32_t ids[] = {st->best, st->best_at_round};
	for (int i = 0; i < 2; i++) {
		buf_printf(b, ",\"%s\":", keys[i]);
		if (ids[i] == NODE_NONE) {
			buf_adds(b, "null");
		} else {
			node_id_format(ids[i], id);
			buf_printf(b, "\"%s\"", id);
		}
	}
	if (st->instrument[0])
		buf_printf(b, ",\"instrument\":\"%s\"", st->instrument);
	if (st->source_commit[0])
		buf_printf(b, ",\"source_commit\":\"%s\"", st->source_commit);
	if (st->stop_asked) {
		buf_adds(b, ",\"stop_asked\":");
		json_append_str(b, st->stop_reason);
	}
	buf_addc(b, '}');
}

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

/* ---- loading ---------------------------------------------------------- */

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
	cJSON *j = json_parse(el, len, what, e);
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
	cJSON *j = json_parse(val, len, what, e);
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
	char *path = workdir_file(w, TREE_FILE);
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
			err_suffix(e, "; restore the file or remove it");
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
	cJSON *spec = json_parse(el, len, what, e);
	if (!spec)
		return -1;
	if (!cJSON_IsObject(spec) || json_get_str(spec, "id", what, &id, e) != 1) {
		err_set(e, "%s: every queue entry needs an \"id\"; put back the one you removed",
			what);
		goto out;
	}
	struct node *n = tree_find(&w->tree, id);
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
	char *path = workdir_file(w, CHECKPOINT_FILE);
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
		err_set(e, "%s: needs a number \"seq\"; restore the file or remove it", path);
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
	const cJSON *node = cJSON_GetObjectItemCaseSensitive(ev, "node");
	const cJSON *state = cJSON_GetObjectItemCaseSensitive(ev, "state");
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

static int load_all(struct workdir *w, struct journal_info *info, struct err *e)
{
	char *cfg = workdir_file(w, "config.json");
	char *workers = workdir_file(w, "workers.json");
	char *jpath = workdir_file(w, JOURNAL_FILE);
	int rc = -1;

	if (config_load(&w->cfg, cfg, e) < 0 || workers_check(workers, e) < 0)
		goto out;
	if (load_tree(w, e) < 0)
		goto out;
	w->seq = w->tree_seq;
	if (load_checkpoint_edits(w, e) < 0)
		goto out;
	struct replay r = {w, jpath};
	if (journal_replay(jpath, replay_cb, &r, info, e) < 0)
		goto out;
	if (info->base > w->tree_seq) {
		err_set(e, "%s: continues from checkpoint %llu but %s is at %llu; restore "
			   "engine/tree.json from a backup",
			jpath, (unsigned long long)info->base, TREE_FILE,
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

static void reset_state(struct workdir *w)
{
	config_free(&w->cfg);
	tree_free(&w->tree);
	queue_free(&w->queue);
	queue_init(&w->queue, &w->tree);
	memset(&w->st, 0, sizeof w->st);
	w->st.best = w->st.best_at_round = NODE_NONE;
	w->seq = w->tree_seq = 0;
	w->edits = 0;
}

int workdir_open(struct workdir *w, const char *path, enum workdir_mode mode,
		 const char *role, struct err *e)
{
	struct journal_info info;

	memset(w, 0, sizeof *w);
	w->lock_fd = -1;
	w->journal.fd = -1;
	w->checkpoint_every = WD_CHECKPOINT_EVERY;
	tree_init(&w->tree);
	queue_init(&w->queue, &w->tree);
	w->st.best = w->st.best_at_round = NODE_NONE;
	if (!fs_is_dir(path)) {
		err_set(e, "%s: no such workdir; create one with 'hypotop init'", path);
		return WD_FAIL;
	}
	w->path = path_real(path, e);
	if (!w->path)
		return WD_FAIL;
	if (mode == WD_WRITE) {
		char *lock = workdir_file(w, LOCK_FILE);
		int rc = lock_take(lock, &w->lock_fd, &w->holder, w->holder_role, e);
		free(lock);
		if (rc == LOCK_BUSY) {
			if (w->holder)
				err_set(e, "%s: in use by %s pid %ld (engine/lock); stop it first",
					w->path, w->holder_role, (long)w->holder);
			else
				err_set(e, "%s: in use by another hypotop command (engine/lock); try "
					   "again",
					w->path);
			return WD_BUSY;
		}
		if (rc != LOCK_HELD) {
			err_prefix(e, "%s", w->path);
			free(w->path);
			w->path = NULL;
			return WD_FAIL;
		}
	}
	/* A reader can catch a checkpoint between its two renames: retry. */
	int rc;
	for (int attempt = 0;; attempt++) {
		rc = load_all(w, &info, e);
		if (rc != WD_BUSY || mode == WD_WRITE || attempt == 50)
			break;
		reset_state(w);
	}
	if (rc != 0) {
		workdir_close(w);
		return WD_FAIL;
	}
	w->torn_line = info.torn_line;
	w->torn_bytes = info.torn_bytes;
	queue_rebuild(&w->queue);
	if (mode == WD_WRITE) {
		char *jpath = workdir_file(w, JOURNAL_FILE);
		rc = journal_open(&w->journal, jpath, &info, e);
		free(jpath);
		if (rc < 0) {
			workdir_close(w);
			return WD_FAIL;
		}
		/* Fold a person's checkpoint edits into a new checkpoint, as a new
		 * state (seq) of its own. */
		if (w->edits)
			w->seq++;
		if (w->edits && workdir_checkpoint(w, e) < 0) {
			workdir_close(w);
			return WD_FAIL;
		}
		/* An engine says who it is; a short command leaves the file alone. */
		if (role && lock_claim(w->lock_fd, role, e) < 0) {
			workdir_close(w);
			return WD_FAIL;
		}
	}
	return WD_OK;
}

void workdir_close(struct workdir *w)
{
	journal_close(&w->journal);
	lock_release(w->lock_fd);
	w->lock_fd = -1;
	config_free(&w->cfg);
	queue_free(&w->queue);
	tree_free(&w->tree);
	free(w->path);
	w->path = NULL;
}

/* ---- recording and checkpoints ---------------------------------------- */

static void record(struct workdir *w, const char *op, struct node *n, bool durable)
{
	struct buf b;

	buf_init(&b);
	buf_printf(&b, "{\"seq\":%llu,\"op\":\"%s\",\"at\":%lld,\"node\":",
		   (unsigned long long)++w->seq, op, (long long)now_ms());
	node_to_json(n, &b);
	buf_addc(&b, '}');
	(durable ? journal_append : journal_append_light)(&w->journal, b.data, b.len);
	buf_free(&b);
	n->dirty = true;
	queue_update(&w->queue, n->id);
}

void workdir_record(struct workdir *w, const char *op, struct node *n)
{
	record(w, op, n, true);
}

void workdir_record_light(struct workdir *w, const char *op, struct node *n)
{
	record(w, op, n, false);
}

void workdir_record_state(struct workdir *w)
{
	struct buf b;

	buf_init(&b);
	buf_printf(&b, "{\"seq\":%llu,\"op\":\"state\",\"at\":%lld,\"state\":",
		   (unsigned long long)++w->seq, (long long)now_ms());
	state_to_json(&w->st, &b);
	buf_addc(&b, '}');
	journal_append(&w->journal, b.data, b.len);
	buf_free(&b);
}

int workdir_write(struct workdir *w, struct err *e)
{
	if (journal_write(&w->journal, e) < 0)
		return -1;
	if (w->journal.lines >= w->checkpoint_every)
		return workdir_checkpoint(w, e);
	return 0;
}

int workdir_commit(struct workdir *w, struct err *e)
{
	if (workdir_write(w, e) < 0)
		return -1;
	return journal_commit(&w->journal, e);
}

int workdir_flush(struct workdir *w, struct err *e)
{
	return journal_write(&w->journal, e);
}

static int write_file(struct workdir *w, const char *rel, const struct buf *b, struct err *e)
{
	char *path = workdir_file(w, rel);
	int rc = fs_write_atomic(path, b->data ? b->data : "", b->len, 0644, e);

	free(path);
	return rc;
}

static void tree_to_json(struct workdir *w, uint64_t cp_hash, struct buf *b)
{
	bool first = true;

	buf_printf(b, "{\"version\":1,\"seq\":%llu,\"checkpoint_hash\":\"%016" PRIx64 "\","
		      "\"state\":",
		   (unsigned long long)w->seq, cp_hash);
	state_to_json(&w->st, b);
	buf_adds(b, ",\"nodes\":[");
	for (uint32_t i = 0; i < w->tree.len; i++) {
		struct node *n = &w->tree.nodes[i];
		if (!n->present)
			continue;
		buf_adds(b, first ? "\n" : ",\n");
		node_to_json(n, b);
		first = false;
	}
	buf_adds(b, "\n]}\n");
}

static void checkpoint_to_json(struct workdir *w, struct buf *b)
{
	uint32_t *order;
	size_t n = queue_order(&w->tree, &order);

	buf_printf(b, "{\n\"version\": 1,\n\"seq\": %llu,\n\"queue\": [",
		   (unsigned long long)w->seq);
	for (size_t i = 0; i < n; i++) {
		buf_adds(b, i ? ",\n  " : "\n  ");
		node_to_json(&w->tree.nodes[order[i]], b);
	}
	buf_adds(b, n ? "\n],\n\"running\": [" : "],\n\"running\": [");
	bool first = true;
	for (uint32_t i = 0; i < w->tree.len; i++) {
		struct node *x = &w->tree.nodes[i];
		if (!x->present || !(status_is_active(x->status) ||
				     (x->status == ST_PAUSED && x->resume_to != ST_QUEUED)))
			continue;
		buf_adds(b, first ? "\n  " : ",\n  ");
		node_to_json(x, b);
		first = false;
	}
	buf_adds(b, first ? "]\n}\n" : "\n]\n}\n");
	free(order);
}

static void state_file_json(struct workdir *w, struct buf *b)
{
	struct node *best = workdir_best(w);
	char id[NODE_ID_LEN];

	buf_printf(b, "{\n  \"version\": 1,\n  \"seq\": %llu,\n  \"metric\": ",
		   (unsigned long long)w->seq);
	json_append_str(b, w->cfg.metric);
	buf_printf(b, ",\n  \"goal\": \"%s\",\n  \"nodes\": %u,\n  \"iteration\": %ld,"
		      "\n  \"rounds_without_gain\": %ld,\n  \"llm_usd\": %.6f,"
		      "\n  \"gpu_hours\": %.6f,\n  \"best\": ",
		   w->cfg.goal, w->tree.count, w->st.iteration, w->st.rounds_without_gain,
		   w->st.llm_usd, w->st.gpu_seconds / 3600.0);
	if (best) {
		node_id_format(best->id, id);
		buf_printf(b, "{\"node\": \"%s\", \"value\": %.17g}", id, best->metric);
	} else {
		buf_adds(b, "null");
	}
	buf_printf(b, ",\n  \"instrument\": %s%s%s", w->st.instrument[0] ? "\"" : "",
		   w->st.instrument[0] ? w->st.instrument : "null", w->st.instrument[0] ? "\"" : "");
	buf_printf(b, ",\n  \"source_commit\": %s%s%s", w->st.source_commit[0] ? "\"" : "",
		   w->st.source_commit[0] ? w->st.source_commit : "null",
		   w->st.source_commit[0] ? "\"" : "");
	buf_adds(b, "\n}\n");
}

int workdir_checkpoint(struct workdir *w, struct err *e)
{
	struct buf b, cp;
	int rc = -1;

	/* Events recorded but not committed go into the checkpoint too. */
	if (journal_commit(&w->journal, e) < 0)
		return -1;
	/* tree.json first, naming the checkpoint.json that follows it. */
	buf_init(&b);
	buf_init(&cp);
	checkpoint_to_json(w, &cp);
	uint64_t h = hash64(cp.data, cp.len);
	tree_to_json(w, h, &b);
	if (write_file(w, TREE_FILE, &b, e) < 0)
		goto out;
	if (write_file(w, CHECKPOINT_FILE, &cp, e) < 0)
		goto out;
	w->checkpoint_hash = h;
	buf_reset(&b);
	state_file_json(w, &b);
	if (write_file(w, STATE_FILE, &b, e) < 0)
		goto out;
	if (journal_reset(&w->journal, w->seq, e) < 0)
		goto out;
	w->tree_seq = w->seq;
	w->edits = 0;
	rc = 0;
out:
	buf_free(&b);
	buf_free(&cp);
	return rc;
}

int workdir_set_engine_state(struct workdir *w, const char *state, struct err *e)
{
	struct buf b;
	int counts[ST__COUNT] = {0};

	for (uint32_t i = 0; i < w->tree.len; i++)
		if (w->tree.nodes[i].present)
			counts[w->tree.nodes[i].status]++;
	buf_init(&b);
	buf_printf(&b, "{\n  \"state\": \"%s\",\n  \"pid\": ", state);
	if (strcmp(state, "created"))
		buf_printf(&b, "%ld", (long)getpid());
	else
		buf_adds(&b, "null");
	buf_printf(&b, ",\n  \"updated\": %lld,\n  \"counts\": {", (long long)now_ms());
	for (int s = 0; s < ST__COUNT; s++)
		buf_printf(&b, "%s\"%s\": %d", s ? ", " : "", status_name(s), counts[s]);
	buf_adds(&b, "}\n}\n");
	int rc = write_file(w, ENGINE_STATE_FILE, &b, e);
	buf_free(&b);
	return rc;
}

void workdir_engine_state(struct workdir *w, char *state, size_t size)
{
	char *path = workdir_file(w, ENGINE_STATE_FILE);
	struct err e;
	cJSON *j = json_parse_file(path, &e);
	const char *s;

	snprintf(state, size, "%s",
		 j && json_get_str(j, "state", path, &s, &e) == 1 ? s : "");
	cJSON_Delete(j);
	free(path);
}

struct node *workdir_best(struct workdir *w)
{
	bool max = w->cfg.goal && !strcmp(w->cfg.goal, "max");
	struct node *best = NULL;

	if (w->st.best != NODE_NONE && tree_get(&w->tree, w->st.best))
		return tree_get(&w->tree, w->st.best);
	for (uint32_t i = 0; i < w->tree.len; i++) {
		struct node *n = &w->tree.nodes[i];
		if (!n->present || n->status != ST_COMPLETED || !n->has_metric)
			continue;
		if (!best || (max ? n->metric > best->metric : n->metric < best->metric))
			best = n;
	}
	return best;
}
