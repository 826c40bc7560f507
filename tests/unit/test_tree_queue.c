/* Unit tests: the hypothesis tree and the run queue. */
#include "t.h"

#include "hypotop/json.h"
#include "hypotop/queue.h"
#include "hypotop/tree.h"

static void node_ids_round_trip(void)
{
	char b[NODE_ID_LEN];

	node_id_format(7, b);
	T_STREQ(b, "n0007");
	node_id_format(123456, b);
	T_STREQ(b, "n123456");
	T_CHECK(node_id_parse("n0007") == 7, "n0007");
	T_CHECK(node_id_parse("n123456") == 123456, "n123456");
	T_CHECK(node_id_parse("x0007") == NODE_NONE, "prefix");
	T_CHECK(node_id_parse("n") == NODE_NONE, "empty");
	T_CHECK(node_id_parse("n12a") == NODE_NONE, "junk");
	T_CHECK(node_id_parse("n99999999999") == NODE_NONE, "too big");
}

/* An id is read only as node_id_format writes it, and only up to NODE_ID_MAX. */
static void node_ids_have_one_spelling_and_a_bound(void)
{
	static const struct {
		const char *text, *want;
	} bad[] = {
		{"n000", "write n0000"},     {"n00012", "write n0012"},
		{"n012345", "write n12345"}, {"n1000000", "beyond the last node id, n999999"},
		{"n99999999", "beyond"},     {"N0001", "not a node id"},
		{"n-001", "not a node id"},  {"n0001 ", "not a node id"},
	};
	for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
		struct err e = {{0}};
		uint32_t id = 0;
		T_CHECK(node_id_read(bad[i].text, &id, &e) < 0 && id == NODE_NONE, "%s accepted",
			bad[i].text);
		T_CONTAINS(e.msg, bad[i].want);
	}
	uint32_t id;
	struct err e = {{0}};
	T_CHECK(node_id_read("n999999", &id, &e) == 0 && id == NODE_ID_MAX, "%s", e.msg);
	T_CHECK(node_id_read("n0000", &id, &e) == 0 && id == 0, "%s", e.msg);
	/* Every id hypotop writes, it reads back. */
	for (uint32_t v = 0; v <= NODE_ID_MAX; v += v < 20000 ? 1 : 997) {
		char b[NODE_ID_LEN];
		node_id_format(v, b);
		if (node_id_parse(b) != v) {
			T_CHECK(0, "%s does not read back as %u", b, v);
			break;
		}
	}
	/* In a node, the field is named. */
	cJSON *j = cJSON_Parse("{\"id\":\"n001\",\"status\":\"queued\"}");
	struct tree t;
	tree_init(&t);
	T_CHECK(!tree_load_node(&t, j, "f:3", &e), "n001 loaded");
	T_CONTAINS(e.msg, "f:3: \"id\": \"n001\" is not how a node id is written: write n0001");
	cJSON_Delete(j);
	tree_free(&t);
}

/* An id taken outside the tree is never given to a new node. */
static void reserved_ids_are_skipped(void)
{
	struct tree t;

	tree_init(&t);
	tree_add(&t, NODE_NONE);
	tree_reserve(&t, 6);
	tree_reserve(&t, 3);
	struct node *n = tree_add(&t, 0);
	T_CHECK(n && n->id == 7 && t.count == 2 && !tree_get(&t, 4), "id %u", n ? n->id : 0);
	T_CHECK(t.nodes[0].first_child == 7, "linked");
	n = tree_add(&t, 0);
	T_CHECK(n && n->id == 8, "then %u", n ? n->id : 0);
	tree_reserve(&t, NODE_ID_MAX);
	T_CHECK(!tree_add(&t, 0), "a node past the last id");
	tree_free(&t);
}

/* A tree whose last id is taken makes no node past it: hypotop never writes an id it would refuse. */
static void a_full_tree_adds_no_node(void)
{
	struct tree t;
	struct err e = {{0}};
	char text[128];

	tree_init(&t);
	snprintf(text, sizeof text, "{\"id\":\"n%u\",\"status\":\"queued\"}", NODE_ID_MAX);
	cJSON *j = cJSON_Parse(text);
	T_CHECK(tree_load_node(&t, j, "x", &e), "the last id: %s", e.msg);
	T_CHECK(!tree_add(&t, NODE_NONE), "a node past the last id");
	T_CHECK(t.count == 1, "count %u", t.count);
	cJSON_Delete(j);
	tree_free(&t);
}

static void statuses_from_one_list(void)
{
	for (int s = 0; s < ST__COUNT; s++)
		T_CHECK(status_parse(status_name(s)) == s, "status %d", s);
	T_CHECK(status_parse("bogus") == -1, "bogus");
	T_CHECK(status_is_active(ST_RUNNING) && !status_is_active(ST_QUEUED), "active");
	T_CHECK(status_is_final(ST_FAILED) && !status_is_final(ST_PAUSED), "final");
}

static void children_link_in_order(void)
{
	struct tree t;

	tree_init(&t);
	struct node *root = tree_add(&t, NODE_NONE);
	uint32_t r = root->id;
	for (int i = 0; i < 5; i++)
		tree_add(&t, r);
	tree_add(&t, 2);
	int n = 0;
	for (uint32_t c = t.nodes[r].first_child; c != NODE_NONE; c = t.nodes[c].next_sibling) {
		T_CHECK(c == (uint32_t)(n + 1), "child %d is %u", n, c);
		n++;
	}
	T_CHECK(n == 5, "5 children, got %d", n);
	T_CHECK(t.nodes[2].first_child == 6, "grandchild");
	T_CHECK(t.count == 7, "count");
	tree_free(&t);
}

static void node_json_round_trip(void)
{
	struct tree t, u;
	struct buf b;
	struct err e = {{0}};

	tree_init(&t);
	tree_init(&u);
	buf_init(&b);
	struct node *r = tree_add(&t, NODE_NONE);
	node_set_str(&r->name, "baseline");
	node_set_str(&r->commit, "abc");
	struct node *c = tree_add(&t, 0);
	node_set_str(&c->name, "lr");
	node_set_str(&c->hypothesis, "quote \" tab \t newline \n esc \x1b end");
	node_set_str(&c->change, "{\"kind\":\"params\",\"params\":{\"lr\":0.1}}");
	node_set_str(&c->failure_kind, "crash");
	c->priority = -3;
	c->status = ST_PAUSED;
	c->resume_to = ST_QUEUED;
	c->has_metric = true;
	c->metric = 0.123456789012345;
	c->improved = 1;
	for (uint32_t i = 0; i < t.len; i++) {
		buf_reset(&b);
		node_to_json(&t.nodes[i], &b);
		cJSON *j = json_parse(b.data, b.len, "node", &e);
		T_CHECK(j, "parse: %s", e.msg);
		T_CHECK(tree_load_node(&u, j, "node", &e), "load: %s", e.msg);
		cJSON_Delete(j);
	}
	struct node *d = tree_get(&u, 1);
	T_CHECK(d && d->parent == 0, "parent");
	T_STREQ(d->hypothesis, c->hypothesis);
	T_STREQ(d->change, c->change);
	T_STREQ(d->failure_kind, "crash");
	T_CHECK(d->priority == -3 && d->status == ST_PAUSED && d->resume_to == ST_QUEUED,
		"fields");
	T_CHECK(d->has_metric && d->metric == c->metric, "metric exact");
	T_CHECK(d->improved == 1, "improved");
	tree_free(&t);
	tree_free(&u);
	buf_free(&b);
}

static void bad_nodes_are_refused(void)
{
	static const struct {
		const char *json, *want;
	} cases[] = {
		{"{\"id\":\"n0001\",\"parent\":\"n0000\",\"status\":\"queued\"}", "parent n0000"},
		{"{\"id\":\"zz\",\"status\":\"queued\"}", "not a node id"},
		{"{\"id\":\"n0000\",\"status\":\"flying\"}", "not a status"},
		{"{\"id\":\"n0000\"}", "no \"status\""},
		{"{\"status\":\"queued\"}", "no \"id\""},
		{"{\"id\":\"n0000\",\"status\":\"queued\",\"priority\":1.5}", "whole number"},
		{"{\"id\":\"n0000\",\"status\":\"queued\",\"colour\":1}", "unknown node field"},
		{"{\"id\":\"n0000\",\"status\":\"queued\",\"change\":3}", "\"change\""},
		{"{\"id\":\"n0000\",\"status\":\"queued\",\"name\":\"../../evil\"}",
		 "\"name\": \"../../evil\" is not a node name"},
		{"{\"id\":\"n0000\",\"status\":\"queued\",\"name\":\"..\"}", "write it as"},
		{"{\"id\":\"n0000\",\"status\":\"queued\",\"name\":\"\"}", "not a node name"},
		{"{\"id\":\"n0000\",\"status\":\"queued\",\"name\":\"a\\u001b[2Jb\"}",
		 "\"a\\e[2Jb\" is not a node name"},
	};
	for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
		struct tree t;
		struct err e = {{0}};
		tree_init(&t);
		cJSON *j = cJSON_Parse(cases[i].json);
		T_CHECK(!tree_load_node(&t, j, "x", &e), "case %zu accepted", i);
		T_CONTAINS(e.msg, cases[i].want);
		cJSON_Delete(j);
		tree_free(&t);
	}
}

/*
 * A node's model calls: kept across a round trip, none for a node written
 * before there were any, added without repeats, and only stems of files
 * under logs/ accepted.
 */
static void node_calls(void)
{
	struct tree t;
	struct err e = {{0}};
	struct buf b;

	tree_init(&t);
	buf_init(&b);
	cJSON *old = cJSON_Parse("{\"id\":\"n0000\",\"status\":\"queued\"}");
	struct node *n = tree_load_node(&t, old, "old", &e);
	T_CHECK(n && !n->calls, "an old node: %s", e.msg);
	cJSON_Delete(old);
	cJSON *add = cJSON_Parse("[\"logs/004_plan_n0000\", \"../x\", 3]");
	node_add_calls(n, add);
	node_add_calls(n, add);
	cJSON_Delete(add);
	add = cJSON_Parse("[\"logs/007_analyse_n0000\"]");
	node_add_calls(n, add);
	cJSON_Delete(add);
	T_STREQ(n->calls, "[\"logs/004_plan_n0000\",\"logs/007_analyse_n0000\"]");
	node_to_json(n, &b);
	T_CONTAINS(b.data, ",\"calls\":[\"logs/004_plan_n0000\",\"logs/007_analyse_n0000\"]");
	cJSON *j = json_parse(b.data, b.len, "node", &e);
	n = tree_load_node(&t, j, "again", &e);
	T_CHECK(n && n->calls && !strcmp(n->calls, "[\"logs/004_plan_n0000\","
						  "\"logs/007_analyse_n0000\"]"),
		"round trip: %s", n && n->calls ? n->calls : e.msg);
	cJSON_Delete(j);
	static const char *const bad[] = {
		"\"logs/004_plan_n0000\"", "[\"logs/../../etc/passwd\"]", "[\"/tmp/004_plan\"]",
		"[\"logs/plan_n0000\"]", "[\"logs/004_plan/n0000\"]", "[1]",
	};
	for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
		char *text = xasprintf("{\"id\":\"n0000\",\"status\":\"queued\",\"calls\":%s}",
				       bad[i]);
		j = cJSON_Parse(text);
		T_CHECK(!tree_load_node(&t, j, "f:1", &e), "accepted: %s", text);
		T_CONTAINS(e.msg, "f:1: \"calls\"");
		cJSON_Delete(j);
		free(text);
	}
	tree_free(&t);
	buf_free(&b);
}

static void names_are_labels(void)
{
	T_CHECK(node_name_ok("lr-0p01") && node_name_ok("Wider net (x2)") &&
			node_name_ok("...") && node_name_ok("é"),
		"a label refused");
	T_CHECK(!node_name_ok("") && !node_name_ok(".") && !node_name_ok("..") &&
			!node_name_ok("a/b") && !node_name_ok("a\nb") && !node_name_ok("a\x7f"),
		"a path or control character accepted");
}

static void queue_orders_by_priority_then_age(void)
{
	struct tree t;
	struct queue q;
	uint32_t *ids;

	tree_init(&t);
	queue_init(&q, &t);
	int prio[] = {5, 1, 5, 0, 1, 9};
	for (int i = 0; i < 6; i++) {
		struct node *n = tree_add(&t, NODE_NONE);
		n->priority = prio[i];
		n->status = ST_QUEUED;
		queue_update(&q, n->id);
	}
	uint32_t want[] = {3, 1, 4, 0, 2, 5};
	size_t n = queue_order(&t, &ids);
	T_CHECK(n == 6, "6 queued");
	for (size_t i = 0; i < n; i++)
		T_CHECK(ids[i] == want[i], "position %zu: %u, want %u", i, ids[i], want[i]);
	free(ids);
	T_CHECK(queue_peek(&q) == 3, "peek 3");
	/* Pause the head: it stays listed but is not runnable. */
	t.nodes[3].resume_to = ST_QUEUED;
	t.nodes[3].status = ST_PAUSED;
	queue_update(&q, 3);
	T_CHECK(queue_peek(&q) == 1, "peek skips paused");
	n = queue_order(&t, &ids);
	T_CHECK(n == 6 && ids[0] == 3, "paused node keeps its place");
	free(ids);
	/* Reprioritise: node 5 to the front. */
	t.nodes[5].priority = -1;
	queue_update(&q, 5);
	T_CHECK(queue_peek(&q) == 5, "reprioritised");
	/* Drain: the heap gives the same order as the sort. */
	uint32_t drained[6];
	size_t k = 0;
	while (queue_peek(&q) != NODE_NONE) {
		uint32_t id = queue_peek(&q);
		drained[k++] = id;
		t.nodes[id].status = ST_RUNNING;
		queue_update(&q, id);
	}
	uint32_t want2[] = {5, 1, 4, 0, 2};
	T_CHECK(k == 5, "drained %zu", k);
	for (size_t i = 0; i < k && i < 5; i++)
		T_CHECK(drained[i] == want2[i], "drain %zu: %u", i, drained[i]);
	queue_free(&q);
	tree_free(&t);
}

static void queue_heap_survives_random_updates(void)
{
	struct tree t;
	struct queue q;

	tree_init(&t);
	queue_init(&q, &t);
	srand(42);
	for (int i = 0; i < 2000; i++) {
		struct node *n = tree_add(&t, NODE_NONE);
		n->priority = rand() % 20;
		n->status = ST_QUEUED;
		queue_update(&q, n->id);
	}
	for (int i = 0; i < 20000; i++) {
		uint32_t id = (uint32_t)rand() % t.len;
		switch (rand() % 3) {
		case 0: t.nodes[id].priority = rand() % 20; break;
		case 1: t.nodes[id].status = ST_QUEUED; break;
		default: t.nodes[id].status = ST_RUNNING; break;
		}
		queue_update(&q, id);
	}
	/* Every heap slot knows its index, and each parent runs before its children. */
	for (size_t i = 0; i < q.len; i++) {
		T_CHECK(t.nodes[q.heap[i]].heap_idx == (int32_t)i, "index %zu", i);
		if (i)
			T_CHECK(!queue_before(&t, q.heap[i], q.heap[(i - 1) / 2]), "heap %zu", i);
	}
	size_t queued = 0;
	for (uint32_t id = 0; id < t.len; id++)
		queued += t.nodes[id].status == ST_QUEUED;
	T_CHECK(queued == q.len, "queued %zu, heap %zu", queued, q.len);
	queue_free(&q);
	tree_free(&t);
}

int main(void)
{
	T_RUN(node_ids_round_trip);
	T_RUN(node_ids_have_one_spelling_and_a_bound);
	T_RUN(a_full_tree_adds_no_node);
	T_RUN(reserved_ids_are_skipped);
	T_RUN(statuses_from_one_list);
	T_RUN(children_link_in_order);
	T_RUN(node_json_round_trip);
	T_RUN(bad_nodes_are_refused);
	T_RUN(node_calls);
	T_RUN(names_are_labels);
	T_RUN(queue_orders_by_priority_then_age);
	T_RUN(queue_heap_survives_random_updates);
	T_END();
}
