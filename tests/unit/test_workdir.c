/* Unit tests: the workdir — create, record, replay, checkpoint, edits, lock. */
#include "t.h"

#include <sys/wait.h>
#include <unistd.h>

#include "hypotop/fsutil.h"
#include "hypotop/json.h"
#include "hypotop/ops.h"
#include "hypotop/workdir.h"

static char *make_workdir(char **base)
{
	struct err e = {{0}};
	*base = t_tmpdir();
	char *wd = path_join(*base, "wd");
	cJSON *cfg = cJSON_Parse("{\"source_dir\":\"/src\",\"launch\":\"true\",\"metric\":\"loss\"}");
	config_fill_defaults(cfg);
	if (workdir_create(wd, cfg, "0123456789abcdef0123456789abcdef01234567", &e) < 0) {
		printf("# create: %s\n", e.msg);
		exit(2);
	}
	cJSON_Delete(cfg);
	return wd;
}

/* Apply and free op; the node it made or changed, or NODE_NONE with e set. */
static uint32_t apply(struct workdir *w, struct op *op, struct err *e)
{
	uint32_t id = NODE_NONE;

	if (op_apply(w, op, false, &id, e) < 0)
		id = NODE_NONE;
	op_free(op);
	return id;
}

static uint32_t do_op(struct workdir *w, enum op_kind k, const char *node, long prio,
		      const char *hyp)
{
	struct op op = {.kind = k, .priority = prio, .has_priority = k == OP_PRIO};
	struct err e = {{0}};

	snprintf(op.node, sizeof op.node, "%s", node);
	op.hypothesis = hyp ? xstrdup(hyp) : NULL;
	uint32_t id = apply(w, &op, &e);
	if (id == NODE_NONE)
		printf("# op: %s\n", e.msg);
	return id;
}

static void create_then_reload(void)
{
	char *base, *wd = make_workdir(&base);
	struct workdir w;
	struct err e = {{0}};

	T_CHECK(workdir_open(&w, wd, WD_WRITE, "test", &e) == WD_OK, "%s", e.msg);
	T_CHECK(w.tree.count == 1, "baseline only");
	struct node *b = tree_get(&w.tree, 0);
	T_CHECK(b && b->status == ST_QUEUED, "baseline queued");
	T_STREQ(b ? b->commit : NULL, "0123456789abcdef0123456789abcdef01234567");
	T_CHECK(do_op(&w, OP_ADD, "n0000", 0, "wider") == 1, "add");
	T_CHECK(do_op(&w, OP_ADD, "n0000", 0, "deeper") == 2, "add");
	T_CHECK(do_op(&w, OP_PRIO, "n0002", -4, NULL) == 2, "prio");
	T_CHECK(do_op(&w, OP_PAUSE, "n0001", 0, NULL) == 1, "pause");
	T_CHECK(workdir_commit(&w, &e) == 0, "%s", e.msg);
	workdir_close(&w);

	T_CHECK(workdir_open(&w, wd, WD_READ, NULL, &e) == WD_OK, "%s", e.msg);
	T_CHECK(w.tree.count == 3 && w.seq == 4, "count %u seq %llu", w.tree.count,
		(unsigned long long)w.seq);
	T_CHECK(w.tree.nodes[2].priority == -4, "priority kept");
	T_CHECK(w.tree.nodes[1].status == ST_PAUSED, "pause kept");
	T_CHECK(queue_peek(&w.queue) == 2, "queue head n0002");
	workdir_close(&w);
	fs_remove_tree(base);
	free(wd);
	free(base);
}

static void checkpoint_folds_the_journal(void)
{
	char *base, *wd = make_workdir(&base);
	struct workdir w;
	struct err e = {{0}};

	T_CHECK(workdir_open(&w, wd, WD_WRITE, "test", &e) == WD_OK, "%s", e.msg);
	w.checkpoint_every = 10;
	for (int i = 0; i < 25; i++) {
		do_op(&w, OP_ADD, "n0000", 0, "h");
		T_CHECK(workdir_commit(&w, &e) == 0, "%s", e.msg);
	}
	T_CHECK(w.tree_seq == 20 && w.journal.lines == 5, "tree_seq %llu lines %llu",
		(unsigned long long)w.tree_seq, (unsigned long long)w.journal.lines);
	workdir_close(&w);
	T_CHECK(workdir_open(&w, wd, WD_READ, NULL, &e) == WD_OK, "%s", e.msg);
	T_CHECK(w.tree.count == 26 && w.seq == 25, "count %u", w.tree.count);
	workdir_close(&w);
	fs_remove_tree(base);
	free(wd);
	free(base);
}

static void person_edits_checkpoint(void)
{
	char *base, *wd = make_workdir(&base);
	struct workdir w;
	struct err e = {{0}};

	T_CHECK(workdir_open(&w, wd, WD_WRITE, "test", &e) == WD_OK, "%s", e.msg);
	do_op(&w, OP_ADD, "n0000", 0, "a");
	do_op(&w, OP_ADD, "n0000", 0, "b");
	T_CHECK(workdir_checkpoint(&w, &e) == 0, "%s", e.msg);
	workdir_close(&w);

	/* Give n0002 priority -9 and remove n0001 from the queue. */
	char *cp = path_join(wd, "engine/checkpoint.json");
	cJSON *doc = json_parse_file(cp, &e);
	cJSON *q = cJSON_GetObjectItem(doc, "queue");
	for (int i = cJSON_GetArraySize(q) - 1; i >= 0; i--) {
		cJSON *s = cJSON_GetArrayItem(q, i);
		const char *id = cJSON_GetObjectItem(s, "id")->valuestring;
		if (!strcmp(id, "n0001"))
			cJSON_DeleteItemFromArray(q, i);
		else if (!strcmp(id, "n0002"))
			cJSON_ReplaceItemInObject(s, "priority", cJSON_CreateNumber(-9));
	}
	char *text = cJSON_Print(doc);
	T_CHECK(fs_write_atomic(cp, text, strlen(text), 0644, &e) == 0, "%s", e.msg);
	free(text);
	cJSON_Delete(doc);

	T_CHECK(workdir_open(&w, wd, WD_WRITE, "test", &e) == WD_OK, "%s", e.msg);
	T_CHECK(w.tree.nodes[2].priority == -9, "priority edit");
	T_CHECK(w.tree.nodes[1].status == ST_CANCELLED, "removed spec cancelled");
	T_CHECK(queue_peek(&w.queue) == 2, "n0002 first");
	workdir_close(&w);
	/* The edit is durable: a later open sees it without the edited file. */
	unlink(cp);
	T_CHECK(workdir_open(&w, wd, WD_READ, NULL, &e) == WD_OK, "%s", e.msg);
	T_CHECK(w.tree.nodes[2].priority == -9 && w.tree.nodes[1].status == ST_CANCELLED,
		"edits folded into the tree");
	workdir_close(&w);

	/* A malformed edit is refused with file and line, and nothing changes. */
	T_CHECK(workdir_open(&w, wd, WD_WRITE, "test", &e) == WD_OK, "%s", e.msg);
	workdir_checkpoint(&w, &e);
	workdir_close(&w);
	text = fs_read(cp, NULL, &e);
	char *bad = xasprintf("%.*s\"priority\": \"high\",%s", (int)(strstr(text, "\"priority\"") - text),
			      text, strstr(text, "\"priority\""));
	fs_write_atomic(cp, bad, strlen(bad), 0644, &e);
	char *tree = path_join(wd, "engine/tree.json");
	char *tree_before = fs_read(tree, NULL, &e);
	T_CHECK(workdir_open(&w, wd, WD_WRITE, "test", &e) == WD_FAIL, "bad edit accepted");
	T_CONTAINS(e.msg, "checkpoint.json:");
	T_CONTAINS(e.msg, "priority");
	char *tree_after = fs_read(tree, NULL, &e);
	T_STREQ(tree_after, tree_before);
	char *cp_after = fs_read(cp, NULL, &e);
	T_STREQ(cp_after, bad);
	free(text);
	free(bad);
	free(tree);
	free(tree_before);
	free(tree_after);
	free(cp_after);
	free(cp);
	fs_remove_tree(base);
	free(wd);
	free(base);
}

static void crash_between_checkpoint_files(void)
{
	char *base, *wd = make_workdir(&base);
	struct workdir w;
	struct err e = {{0}};

	T_CHECK(workdir_open(&w, wd, WD_WRITE, "test", &e) == WD_OK, "%s", e.msg);
	do_op(&w, OP_ADD, "n0000", 0, "a");
	workdir_commit(&w, &e);
	char *j = path_join(wd, "engine/journal.jsonl");
	char *old_journal = fs_read(j, NULL, &e);
	do_op(&w, OP_ADD, "n0000", 0, "b");
	workdir_checkpoint(&w, &e);
	workdir_close(&w);
	/* As if the process died after tree.json but before the journal reset:
	 * the old journal (base 0, seq 1) is still there. */
	fs_write_atomic(j, old_journal, strlen(old_journal), 0644, &e);
	T_CHECK(workdir_open(&w, wd, WD_WRITE, "test", &e) == WD_OK, "%s", e.msg);
	T_CHECK(w.tree.count == 3 && w.seq == 2, "count %u seq %llu", w.tree.count,
		(unsigned long long)w.seq);
	workdir_close(&w);
	free(old_journal);
	free(j);
	fs_remove_tree(base);
	free(wd);
	free(base);
}

static void second_writer_is_refused_with_pid(void)
{
	char *base, *wd = make_workdir(&base);
	struct workdir w, w2;
	struct err e = {{0}};

	T_CHECK(workdir_open(&w, wd, WD_WRITE, "engine", &e) == WD_OK, "%s", e.msg);
	pid_t child = fork();
	if (child == 0) {
		int rc = workdir_open(&w2, wd, WD_WRITE, "engine", &e);
		char want[64];
		snprintf(want, sizeof want, "engine pid %ld", (long)getppid());
		_exit(rc == WD_BUSY && w2.holder == getppid() && strstr(e.msg, want) ? 0 : 1);
	}
	int st;
	waitpid(child, &st, 0);
	T_CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "second writer not refused with pid");
	/* Readers are never refused. */
	T_CHECK(workdir_open(&w2, wd, WD_READ, NULL, &e) == WD_OK, "%s", e.msg);
	workdir_close(&w2);
	workdir_close(&w);
	fs_remove_tree(base);
	free(wd);
	free(base);
}

static void refused_ops_change_nothing(void)
{
	char *base, *wd = make_workdir(&base);
	struct workdir w;
	struct err e = {{0}};
	struct op op = {0};
	uint32_t id;

	T_CHECK(workdir_open(&w, wd, WD_WRITE, "test", &e) == WD_OK, "%s", e.msg);
	uint64_t seq = w.seq;
	op.kind = OP_RESUME;
	snprintf(op.node, sizeof op.node, "n0000");
	T_CHECK(op_apply(&w, &op, false, &id, &e) < 0, "resume of a queued node");
	T_CONTAINS(e.msg, "n0000 is queued; resume applies to a node that is paused");
	op.kind = OP_PAUSE;
	snprintf(op.node, sizeof op.node, "n0042");
	T_CHECK(op_apply(&w, &op, false, &id, &e) < 0, "missing node");
	T_CONTAINS(e.msg, "no node \"n0042\"");
	op.kind = OP_RETRY;
	snprintf(op.node, sizeof op.node, "n0000");
	T_CHECK(op_apply(&w, &op, false, &id, &e) < 0, "retry of a queued node");
	T_CONTAINS(e.msg, "completed, failed, cancelled");
	op.kind = OP_ADD;
	T_CHECK(op_apply(&w, &op, false, &id, &e) < 0, "add without hypothesis");
	T_CONTAINS(e.msg, "hypothesis is empty");
	T_CHECK(w.seq == seq && w.journal.pending_lines == 0, "something was recorded");
	workdir_close(&w);
	fs_remove_tree(base);
	free(wd);
	free(base);
}

/* A fixed experiment's name from the config that is no label becomes a slug. */
static void fixed_experiment_names_become_labels(void)
{
	char *base = t_tmpdir(), *wd = path_join(base, "wd");
	struct workdir w;
	struct err e = {{0}};
	cJSON *cfg = cJSON_Parse("{\"source_dir\":\"/src\",\"launch\":\"true\",\"metric\":"
				 "\"loss\",\"fixed_experiments\":[{\"name\":\"../../Wide Net\","
				 "\"hypothesis\":\"h\",\"change\":{\"kind\":\"params\",\"params\":"
				 "{\"w\":2}}},{\"name\":\"Deep (x2)\",\"hypothesis\":\"h\",\"change\":"
				 "{\"kind\":\"params\",\"params\":{\"d\":2}}}]}");

	config_fill_defaults(cfg);
	T_CHECK(workdir_create(wd, cfg, "0123456789abcdef0123456789abcdef01234567", &e) == 0,
		"%s", e.msg);
	T_CHECK(workdir_open(&w, wd, WD_READ, NULL, &e) == WD_OK, "%s", e.msg);
	T_CHECK(w.tree.count == 3, "count %u", w.tree.count);
	if (w.tree.count == 3) {
		T_STREQ(w.tree.nodes[1].name, "wide-net");
		T_STREQ(w.tree.nodes[2].name, "Deep (x2)");
	}
	workdir_close(&w);
	cJSON_Delete(cfg);
	fs_remove_tree(base);
	free(wd);
	free(base);
}

static uint32_t add_once(struct workdir *w, const char *hyp, const char *request_id,
			 struct err *e)
{
	struct op op = {.kind = OP_ADD, .node = "n0000", .hypothesis = xstrdup(hyp),
			.request_id = xstrdup(request_id)};

	return apply(w, &op, e);
}

/* The request id is kept in the add's journal event and in tree.json. */
static void add_with_a_request_id_once(void)
{
	char *base, *wd = make_workdir(&base);
	struct workdir w;
	struct err e = {{0}};

	T_CHECK(workdir_open(&w, wd, WD_WRITE, "test", &e) == WD_OK, "%s", e.msg);
	T_CHECK(add_once(&w, "wider", "r-1", &e) == 1, "first add: %s", e.msg);
	uint64_t seq = w.seq;
	T_CHECK(add_once(&w, "wider", "r-1", &e) == 1 && w.seq == seq, "repeat recorded");
	T_CHECK(workdir_commit(&w, &e) == 0, "%s", e.msg);
	workdir_close(&w);
	for (int pass = 0; pass < 2; pass++) { /* from the journal, then from tree.json */
		T_CHECK(workdir_open(&w, wd, WD_WRITE, "test", &e) == WD_OK, "%s", e.msg);
		T_CHECK(add_once(&w, "wider", "r-1", &e) == 1, "after reload: %s", e.msg);
		T_CHECK(add_once(&w, "deeper", "r-1", &e) == NODE_NONE, "other add took the id");
		T_CONTAINS(e.msg, "--request-id r-1 made n0001");
		T_CHECK(w.tree.count == 2 && w.journal.pending_lines == 0, "count %u",
			w.tree.count);
		T_CHECK(pass || workdir_checkpoint(&w, &e) == 0, "%s", e.msg);
		workdir_close(&w);
	}
	fs_remove_tree(base);
	free(wd);
	free(base);
}

/* Every queue operation is recorded under its own name, so each must load. */
/* The engine records a run stopped by its curve as "pruned"; it reloads final. */
static void a_pruned_node_is_journalled_and_reloaded(void)
{
	char *base, *wd = make_workdir(&base);
	struct workdir w;
	struct err e = {{0}};

	T_CHECK(workdir_open(&w, wd, WD_WRITE, "test", &e) == WD_OK, "%s", e.msg);
	T_CHECK(do_op(&w, OP_ADD, "n0000", 0, "tiny-lr") == 1, "add");
	struct node *n = tree_get(&w.tree, 1);
	n->status = ST_PRUNED;
	node_set_str(&n->failure_kind, "pruned");
	node_set_str(&n->failure_phase, "run");
	workdir_record(&w, status_name(ST_PRUNED), n);
	T_CHECK(workdir_commit(&w, &e) == 0, "%s", e.msg);
	workdir_close(&w);

	T_CHECK(workdir_open(&w, wd, WD_READ, NULL, &e) == WD_OK, "%s", e.msg);
	n = tree_get(&w.tree, 1);
	T_CHECK(n && n->status == ST_PRUNED, "status %s", n ? status_name(n->status) : "none");
	T_CHECK(n && status_is_final(n->status) && !status_is_active(n->status), "final");
	T_CHECK(queue_peek(&w.queue) == 0, "not queued: the baseline is next");
	workdir_close(&w);
	fs_remove_tree(base);
	free(wd);
	free(base);
}

static void queue_ops_are_journal_ops(void)
{
	for (int k = 0; k < OP__COUNT; k++)
		T_CHECK(journal_op_known(op_info((enum op_kind)k)->name), "%s",
			op_info((enum op_kind)k)->name);
	T_CHECK(journal_op_known("state") && !journal_op_known("teleport") &&
			!journal_op_known(""),
		"the list");
}

int main(void)
{
	T_RUN(create_then_reload);
	T_RUN(checkpoint_folds_the_journal);
	T_RUN(person_edits_checkpoint);
	T_RUN(crash_between_checkpoint_files);
	T_RUN(second_writer_is_refused_with_pid);
	T_RUN(refused_ops_change_nothing);
	T_RUN(queue_ops_are_journal_ops);
	T_RUN(fixed_experiment_names_become_labels);
	T_RUN(add_with_a_request_id_once);
	T_RUN(a_pruned_node_is_journalled_and_reloaded);
	T_END();
}
