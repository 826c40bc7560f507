/*
 * workdir.c — a workdir opened (its lock taken, then loaded by
 * workdir_load.c) and closed; changes recorded in the journal, and
 * checkpoints with the files written beside them. See workdir.h.
 */
#include "hypotop/workdir.h"

#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "hypotop/fsutil.h"
#include "hypotop/json.h"

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
	free(w->warning);
	w->warning = NULL;
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
		rc = workdir_load(w, &info, e);
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
		char *jpath = workdir_file(w, WD_JOURNAL_FILE);
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

/* A holder that wrote its pid and still lives: an engine, not a command. */
static bool holder_alive(pid_t pid)
{
	return pid > 0 && (kill(pid, 0) == 0 || errno == EPERM);
}

int workdir_open_wait(struct workdir *w, const char *path, const char *role, struct err *e)
{
	int64_t deadline = mono_ms() + WD_WAIT_MS;

	for (;;) {
		int rc = workdir_open(w, path, WD_WRITE, role, e);
		if (rc != WD_BUSY || holder_alive(w->holder))
			return rc;
		w->holder = 0; /* what a dead engine left in the file */
		if (mono_ms() > deadline) {
			err_set(e, "%s: still in use by another hypotop command after %d s "
				   "(engine/lock); try again once it is done",
				w->path, WD_WAIT_MS / 1000);
			return rc;
		}
		workdir_close(w);
		struct timespec ts = {0, 5 * 1000 * 1000};
		nanosleep(&ts, NULL);
	}
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
	free(w->warning);
	w->warning = NULL;
}

/* ---- recording and checkpoints ---------------------------------------- */

bool journal_op_known(const char *op)
{
	static const char *const ops[] = {
#define X(name) name,
		JOURNAL_OPS(X)
#undef X
	};

	for (size_t i = 0; i < ARRAY_LEN(ops); i++)
		if (!strcmp(ops[i], op))
			return true;
	return false;
}

static void record(struct workdir *w, const char *op, struct node *n, bool durable)
{
	struct buf b;

	/* A bug, caught before it writes an event that no load would accept. */
	if (!journal_op_known(op)) {
		fprintf(stderr, "hypotop: journal operation \"%s\" is not in JOURNAL_OPS\n", op);
		abort();
	}
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

	/*
	 * Events recorded but not committed go into the checkpoint too: into
	 * the journal first, in case the checkpoint fails. When the journal
	 * cannot take them (a full disk), the checkpoint may still: it holds
	 * them all.
	 */
	(void)journal_commit(&w->journal, e);
	/* tree.json first, naming the checkpoint.json that follows it. */
	buf_init(&b);
	buf_init(&cp);
	checkpoint_to_json(w, &cp);
	uint64_t h = hash64(cp.data, cp.len);
	tree_to_json(w, h, &b);
	if (write_file(w, WD_TREE_FILE, &b, e) < 0)
		goto out;
	if (write_file(w, WD_CHECKPOINT_FILE, &cp, e) < 0)
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
		if (!n->present || n->status != ST_COMPLETED || !n->has_metric ||
		    n->parent != NODE_NONE || n->change)
			continue;
		if (!best || (max ? n->metric > best->metric : n->metric < best->metric))
			best = n;
	}
	return best;
}
