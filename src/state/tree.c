/* tree.c — see tree.h. */
#include "hypotop/tree.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hypotop/json.h"

static const char *const status_names[] = {
#define X(e, name, doc) name,
	NODE_STATUSES(X)
#undef X
};

static const char *const status_docs[] = {
#define X(e, name, doc) doc,
	NODE_STATUSES(X)
#undef X
};

const char *status_name(enum node_status s)
{
	return (unsigned)s < ST__COUNT ? status_names[s] : "?";
}

const char *status_doc(enum node_status s)
{
	return (unsigned)s < ST__COUNT ? status_docs[s] : "?";
}

int status_parse(const char *name)
{
	for (int i = 0; i < ST__COUNT; i++)
		if (!strcmp(status_names[i], name))
			return i;
	return -1;
}

bool status_is_active(enum node_status s)
{
	return s == ST_PREPARING || s == ST_WAITING || s == ST_BUILDING || s == ST_RUNNING ||
	       s == ST_ANALYZING;
}

bool status_is_final(enum node_status s)
{
	return s == ST_COMPLETED || s == ST_FAILED || s == ST_CANCELLED || s == ST_PRUNED;
}

void tree_init(struct tree *t)
{
	memset(t, 0, sizeof *t);
}

void node_free_fields(struct node *n)
{
	free(n->name);
	free(n->hypothesis);
	free(n->change);
	free(n->commit);
	free(n->worker);
	free(n->failure_kind);
	free(n->failure_phase);
	free(n->request_id);
	free(n->calls);
}

void tree_free(struct tree *t)
{
	for (uint32_t i = 0; i < t->len; i++)
		node_free_fields(&t->nodes[i]);
	free(t->nodes);
	tree_init(t);
}

void node_set_str(char **field, const char *value)
{
	if (*field == value)
		return;
	free(*field);
	*field = value ? xstrdup(value) : NULL;
}

void node_id_format(uint32_t id, char *buf)
{
	snprintf(buf, NODE_ID_LEN, "n%04u", (unsigned)id);
}

int node_id_read(const char *s, uint32_t *id, struct err *e)
{
	unsigned long v = 0;
	size_t digits = s && s[0] == 'n' ? strspn(s + 1, "0123456789") : 0;
	char right[NODE_ID_LEN];

	*id = NODE_NONE;
	if (!digits || s[1 + digits]) {
		err_set(e, "\"%s\" is not a node id: n and 4 or more digits, like n0012",
			s ? s : "");
		return -1;
	}
	for (size_t i = 1; i <= digits && v <= NODE_ID_MAX; i++)
		v = v * 10 + (unsigned long)(s[i] - '0');
	if (v > NODE_ID_MAX) {
		node_id_format(NODE_ID_MAX, right);
		err_set(e, "\"%s\" is beyond the last node id, %s", s, right);
		return -1;
	}
	/* One spelling per id, so that an id also names its branch and folders. */
	node_id_format((uint32_t)v, right);
	if (strcmp(right, s)) {
		err_set(e, "\"%s\" is not how a node id is written: write %s", s, right);
		return -1;
	}
	*id = (uint32_t)v;
	return 0;
}

uint32_t node_id_parse(const char *s)
{
	uint32_t id;

	return node_id_read(s, &id, NULL) == 0 ? id : NODE_NONE;
}

bool slug_ok(const char *s)
{
	size_t n = strlen(s);

	return n && n <= 48 && strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789-") == n;
}

char *slugify(const char *text)
{
	struct buf b;
	size_t word_end = 0;
	bool dash = false;

	buf_init(&b);
	for (const unsigned char *p = (const unsigned char *)text; *p; p++) {
		if (isalnum(*p)) {
			if (dash && b.len) {
				word_end = b.len;
				buf_addc(&b, '-');
			}
			buf_addc(&b, (char)tolower(*p));
			dash = false;
		} else {
			dash = true;
		}
		if (b.len > 32) {
			/* Cut at the end of the last whole word. */
			b.len = word_end ? word_end : 32;
			b.data[b.len] = '\0';
			break;
		}
	}
	if (!b.len)
		buf_adds(&b, "hypothesis");
	return buf_steal(&b);
}

bool node_name_ok(const char *s)
{
	if (!*s || !strcmp(s, ".") || !strcmp(s, ".."))
		return false;
	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		if (*p == '/' || *p < 0x20 || *p == 0x7f)
			return false;
	return true;
}

struct node *tree_get(struct tree *t, uint32_t id)
{
	if (id >= t->len || !t->nodes[id].present)
		return NULL;
	return &t->nodes[id];
}

struct node *tree_find(struct tree *t, const char *id)
{
	return tree_get(t, node_id_parse(id));
}

static void tree_grow(struct tree *t, uint32_t len)
{
	if (len > t->cap) {
		uint32_t cap = t->cap ? t->cap : 64;
		while (cap < len)
			cap *= 2;
		t->nodes = xrealloc(t->nodes, (size_t)cap * sizeof *t->nodes);
		t->cap = cap;
	}
	for (uint32_t i = t->len; i < len; i++) {
		struct node *n = &t->nodes[i];
		memset(n, 0, sizeof *n);
		n->id = i;
		n->parent = n->first_child = n->last_child = n->next_sibling = NODE_NONE;
		n->retry_of = n->repair_of = NODE_NONE;
		n->heap_idx = -1;
		n->improved = -1;
	}
	if (len > t->len)
		t->len = len;
}

static void link_child(struct tree *t, struct node *n)
{
	if (n->parent == NODE_NONE)
		return;
	struct node *p = &t->nodes[n->parent];
	if (p->last_child == NODE_NONE)
		p->first_child = n->id;
	else
		t->nodes[p->last_child].next_sibling = n->id;
	p->last_child = n->id;
}

void tree_reserve(struct tree *t, uint32_t id)
{
	if (id <= NODE_ID_MAX && id >= t->next)
		t->next = id + 1;
}

struct node *tree_add(struct tree *t, uint32_t parent)
{
	uint32_t id = t->len > t->next ? t->len : t->next;

	if (id > NODE_ID_MAX)
		return NULL;
	tree_grow(t, id + 1);
	struct node *n = &t->nodes[id];
	n->present = true;
	n->parent = parent;
	n->created = now_ms();
	n->dirty = true;
	t->count++;
	link_child(t, n);
	return n;
}

/* The fields of a node, in the order node_to_json writes them. */
enum node_key {
	K_ID, K_PARENT, K_NAME, K_HYPOTHESIS, K_CHANGE, K_PRIORITY, K_STATUS, K_RESUME_TO,
	K_SEED, K_CREATED, K_STARTED, K_FINISHED, K_COMMIT, K_WORKER, K_METRIC, K_IMPROVED,
	K_FAILURE, K_RETRY_OF, K_REPAIR_OF, K_REQUEST_ID, K_CALLS, K__COUNT
};

static const char *const node_keys[K__COUNT] = {
	"id", "parent", "name", "hypothesis", "change", "priority", "status", "resume_to",
	"seed", "created", "started", "finished", "commit", "worker", "metric", "improved",
	"failure", "retry_of", "repair_of", "request_id", "calls",
};

static int node_ref(const cJSON *v, const char *key, const char *what, uint32_t *out,
		    struct err *e)
{
	const char *s;
	int rc = json_str(v, key, what, &s, e);

	*out = NODE_NONE;
	if (rc <= 0)
		return rc;
	if (node_id_read(s, out, e) < 0) {
		err_prefix(e, "%s: \"%s\"", what, key);
		return -1;
	}
	return 1;
}

static int dup_str(const cJSON *v, const char *key, const char *what, char **field,
		   struct err *e)
{
	const char *s = NULL;
	int rc = json_str(v, key, what, &s, e);

	if (rc < 0)
		return -1;
	node_set_str(field, rc ? s : NULL);
	return 0;
}

static int status_field(const cJSON *v, const char *key, const char *what, int *out,
			struct err *e)
{
	const char *s;
	int rc = json_str(v, key, what, &s, e);

	if (rc <= 0)
		return rc;
	*out = status_parse(s);
	if (*out < 0) {
		err_set(e, "%s: \"%s\": \"%s\" is not a status (queued, running, ...)", what, key,
			s);
		return -1;
	}
	return 1;
}

/*
 * A time in ms since 1970 (0: not known yet). Beyond 2^53 ms a double no
 * longer holds every millisecond, and far beyond it int64_t holds nothing.
 */
static int time_field(const cJSON *v, const char *key, const char *what, int64_t *out,
		      struct err *e)
{
	double d = 0;

	if (json_num(v, key, what, &d, e) < 0)
		return -1;
	if (d < 0 || d > 9007199254740992.0) {
		err_set(e, "%s: \"%s\": %g is not a time in milliseconds since 1970; restore the "
			   "node from a backup",
			what, key, d);
		return -1;
	}
	*out = (int64_t)d;
	return 0;
}

/* Find each member's field in one pass; files list them in order, so the
 * search starts after the previous match and usually hits at once. */
static int index_fields(const cJSON *j, const cJSON *f[K__COUNT], const char *what,
			struct err *e)
{
	size_t k = 0;

	memset(f, 0, K__COUNT * sizeof *f);
	for (const cJSON *m = j->child; m; m = m->next) {
		size_t tries = 0;
		while (tries < K__COUNT && strcmp(node_keys[k], m->string))
			k = (k + 1) % K__COUNT, tries++;
		if (tries == K__COUNT) {
			err_set(e, "%s: unknown node field \"%s\"; remove it", what, m->string);
			return -1;
		}
		f[k] = m;
		k = (k + 1) % K__COUNT;
	}
	return 0;
}

bool call_stem_ok(const char *s)
{
	if (strncmp(s, "logs/", 5))
		return false;
	s += 5;
	size_t digits = strspn(s, "0123456789");
	if (!digits || s[digits] != '_' || strlen(s) > 80)
		return false;
	s += digits + 1;
	return *s && s[strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-")] ==
			     '\0';
}

void node_add_calls(struct node *n, const cJSON *calls)
{
	cJSON *all = n->calls ? cJSON_Parse(n->calls) : NULL;
	const cJSON *c;
	bool added = false;

	if (!cJSON_IsArray(all)) {
		cJSON_Delete(all);
		all = cJSON_CreateArray();
	}
	cJSON_ArrayForEach(c, calls)
	{
		if (!cJSON_IsString(c) || !call_stem_ok(c->valuestring))
			continue;
		bool seen = false;
		const cJSON *x;
		cJSON_ArrayForEach(x, all)
		{
			seen |= !strcmp(x->valuestring, c->valuestring);
		}
		if (!seen) {
			cJSON_AddItemToArray(all, cJSON_CreateString(c->valuestring));
			added = true;
		}
	}
	if (added) {
		char *t = cJSON_PrintUnformatted(all);
		node_set_str(&n->calls, t);
		cJSON_free(t);
	}
	cJSON_Delete(all);
}

/* "calls": an array of stems (call_stem_ok); absent or null: none. */
static int calls_field(const cJSON *v, const char *what, struct node *n, struct err *e)
{
	const cJSON *c;

	if (!v || cJSON_IsNull(v))
		return 0;
	if (!cJSON_IsArray(v)) {
		err_set(e, "%s: \"calls\" must be an array of log stems (\"logs/004_plan_n0001\") "
			   "or null",
			what);
		return -1;
	}
	cJSON_ArrayForEach(c, v)
	{
		if (!cJSON_IsString(c) || !call_stem_ok(c->valuestring)) {
			err_set(e, "%s: \"calls\": each must be the stem of a call's log files, "
				   "\"logs/NNN_KIND_NODE\"; remove the one that is not",
				what);
			return -1;
		}
	}
	if (cJSON_GetArraySize(v)) {
		char *t = cJSON_PrintUnformatted(v);
		n->calls = xstrdup(t);
		cJSON_free(t);
	}
	return 0;
}

struct node *tree_load_node(struct tree *t, const cJSON *j, const char *what, struct err *e)
{
	const cJSON *f[K__COUNT];
	struct node tmp;
	uint32_t id, parent;
	int st, resume;
	long prio = 0;
	double d = 0;
	bool b;

	if (!cJSON_IsObject(j)) {
		err_set(e, "%s: a node must be a JSON object", what);
		return NULL;
	}
	if (index_fields(j, f, what, e) < 0)
		return NULL;
	int rc = node_ref(f[K_ID], "id", what, &id, e);
	if (rc == 0)
		err_set(e, "%s: node has no \"id\"", what);
	if (rc <= 0)
		return NULL;
	if (node_ref(f[K_PARENT], "parent", what, &parent, e) < 0)
		return NULL;
	if (parent != NODE_NONE && (parent >= id || !tree_get(t, parent))) {
		char nb[NODE_ID_LEN], pb[NODE_ID_LEN];
		node_id_format(id, nb);
		node_id_format(parent, pb);
		err_set(e, "%s: node %s: parent %s is not an earlier node of the tree", what, nb, pb);
		return NULL;
	}
	rc = status_field(f[K_STATUS], "status", what, &st, e);
	if (rc == 0)
		err_set(e, "%s: node has no \"status\"", what);
	if (rc <= 0)
		return NULL;
	resume = st;
	if (status_field(f[K_RESUME_TO], "resume_to", what, &resume, e) < 0)
		return NULL;
	memset(&tmp, 0, sizeof tmp);
	tmp.status = (uint8_t)st;
	tmp.resume_to = (uint8_t)resume;
	if (json_int(f[K_PRIORITY], "priority", what, -1000000, 1000000, &prio, e) < 0 ||
	    time_field(f[K_CREATED], "created", what, &tmp.created, e) < 0)
		return NULL;
	tmp.priority = (int)prio;
	long seed = 0;
	if (json_int(f[K_SEED], "seed", what, 0, 1000000, &seed, e) < 0)
		return NULL;
	tmp.seed = (int)seed;
	if (time_field(f[K_STARTED], "started", what, &tmp.started, e) < 0 ||
	    time_field(f[K_FINISHED], "finished", what, &tmp.finished, e) < 0)
		return NULL;
	rc = json_num(f[K_METRIC], "metric", what, &d, e);
	if (rc < 0)
		return NULL;
	tmp.has_metric = rc == 1;
	tmp.metric = rc == 1 ? d : 0;
	rc = json_bool(f[K_IMPROVED], "improved", what, &b, e);
	if (rc < 0)
		return NULL;
	tmp.improved = rc ? (int8_t)b : -1;
	if (node_ref(f[K_RETRY_OF], "retry_of", what, &tmp.retry_of, e) < 0 ||
	    node_ref(f[K_REPAIR_OF], "repair_of", what, &tmp.repair_of, e) < 0)
		return NULL;
	if (tmp.repair_of != NODE_NONE && (tmp.repair_of >= id || !tree_get(t, tmp.repair_of))) {
		char nb[NODE_ID_LEN];
		node_id_format(id, nb);
		err_set(e, "%s: node %s: \"repair_of\" must name an earlier node of the tree", what,
			nb);
		return NULL;
	}
	const cJSON *ch = f[K_CHANGE], *fl = f[K_FAILURE];
	if (ch && !cJSON_IsNull(ch) && !cJSON_IsObject(ch)) {
		err_set(e, "%s: \"change\" must be an object or null", what);
		return NULL;
	}
	if (fl && !cJSON_IsNull(fl) && !cJSON_IsObject(fl)) {
		err_set(e, "%s: \"failure\" must be an object or null", what);
		return NULL;
	}
	if (dup_str(f[K_NAME], "name", what, &tmp.name, e) < 0 ||
	    dup_str(f[K_HYPOTHESIS], "hypothesis", what, &tmp.hypothesis, e) < 0 ||
	    dup_str(f[K_COMMIT], "commit", what, &tmp.commit, e) < 0 ||
	    dup_str(f[K_WORKER], "worker", what, &tmp.worker, e) < 0 ||
	    dup_str(f[K_REQUEST_ID], "request_id", what, &tmp.request_id, e) < 0 ||
	    (cJSON_IsObject(fl) &&
	     (dup_str(cJSON_GetObjectItemCaseSensitive(fl, "kind"), "failure.kind", what,
		      &tmp.failure_kind, e) < 0 ||
	      dup_str(cJSON_GetObjectItemCaseSensitive(fl, "phase"), "failure.phase", what,
		      &tmp.failure_phase, e) < 0))) {
		node_free_fields(&tmp);
		return NULL;
	}
	if (tmp.name && !node_name_ok(tmp.name)) {
		char *slug = slugify(tmp.name);
		struct buf shown;
		buf_init(&shown);
		buf_add_safe(&shown, tmp.name);
		err_set(e, "%s: \"name\": \"%s\" is not a node name (a label: not empty, \".\" or "
			   "\"..\", no '/' and no control character); write it as \"%s\"",
			what, shown.data, slug);
		buf_free(&shown);
		free(slug);
		node_free_fields(&tmp);
		return NULL;
	}
	if (cJSON_IsObject(ch)) {
		char *c = cJSON_PrintUnformatted(ch);
		tmp.change = xstrdup(c);
		cJSON_free(c);
	}
	if (calls_field(f[K_CALLS], what, &tmp, e) < 0) {
		node_free_fields(&tmp);
		return NULL;
	}
	bool fresh = id >= t->len || !t->nodes[id].present;
	if (fresh) {
		tree_grow(t, id + 1);
	} else if (t->nodes[id].parent != parent) {
		char b2[NODE_ID_LEN];
		node_id_format(id, b2);
		err_set(e, "%s: node %s: its parent cannot change", what, b2);
		node_free_fields(&tmp);
		return NULL;
	}
	struct node *n = &t->nodes[id];
	node_free_fields(n);
	n->parent = parent;
	n->retry_of = tmp.retry_of;
	n->repair_of = tmp.repair_of;
	n->priority = tmp.priority;
	n->status = tmp.status;
	n->resume_to = tmp.resume_to;
	n->improved = tmp.improved;
	n->has_metric = tmp.has_metric;
	n->metric = tmp.metric;
	n->created = tmp.created;
	n->seed = tmp.seed;
	n->started = tmp.started;
	n->finished = tmp.finished;
	n->name = tmp.name;
	n->hypothesis = tmp.hypothesis;
	n->change = tmp.change;
	n->commit = tmp.commit;
	n->worker = tmp.worker;
	n->failure_kind = tmp.failure_kind;
	n->failure_phase = tmp.failure_phase;
	n->request_id = tmp.request_id;
	n->calls = tmp.calls;
	n->dirty = true;
	if (fresh) {
		n->present = true;
		t->count++;
		link_child(t, n);
	}
	return n;
}

static void put_str(struct buf *b, const char *key, const char *v)
{
	buf_printf(b, ",\"%s\":", key);
	if (v)
		json_append_str(b, v);
	else
		buf_adds(b, "null");
}

void node_to_json(const struct node *n, struct buf *b)
{
	char id[NODE_ID_LEN];

	node_id_format(n->id, id);
	buf_printf(b, "{\"id\":\"%s\",\"parent\":", id);
	if (n->parent == NODE_NONE) {
		buf_adds(b, "null");
	} else {
		node_id_format(n->parent, id);
		buf_printf(b, "\"%s\"", id);
	}
	put_str(b, "name", n->name);
	put_str(b, "hypothesis", n->hypothesis);
	buf_printf(b, ",\"change\":%s", n->change ? n->change : "null");
	buf_printf(b, ",\"priority\":%d,\"status\":\"%s\"", n->priority, status_name(n->status));
	if (n->status == ST_PAUSED)
		buf_printf(b, ",\"resume_to\":\"%s\"", status_name(n->resume_to));
	if (n->seed)
		buf_printf(b, ",\"seed\":%d", n->seed);
	buf_printf(b, ",\"created\":%lld", (long long)n->created);
	if (n->started)
		buf_printf(b, ",\"started\":%lld", (long long)n->started);
	if (n->finished)
		buf_printf(b, ",\"finished\":%lld", (long long)n->finished);
	put_str(b, "commit", n->commit);
	put_str(b, "worker", n->worker);
	if (n->has_metric)
		buf_printf(b, ",\"metric\":%.17g", n->metric);
	else
		buf_adds(b, ",\"metric\":null");
	buf_printf(b, ",\"improved\":%s",
		   n->improved < 0 ? "null" : n->improved ? "true" : "false");
	if (n->failure_kind) {
		buf_adds(b, ",\"failure\":{\"kind\":");
		json_append_str(b, n->failure_kind);
		buf_adds(b, ",\"phase\":");
		if (n->failure_phase)
			json_append_str(b, n->failure_phase);
		else
			buf_adds(b, "null");
		buf_addc(b, '}');
	} else {
		buf_adds(b, ",\"failure\":null");
	}
	if (n->retry_of != NODE_NONE) {
		node_id_format(n->retry_of, id);
		buf_printf(b, ",\"retry_of\":\"%s\"", id);
	}
	if (n->repair_of != NODE_NONE) {
		node_id_format(n->repair_of, id);
		buf_printf(b, ",\"repair_of\":\"%s\"", id);
	}
	if (n->request_id)
		put_str(b, "request_id", n->request_id);
	if (n->calls)
		buf_printf(b, ",\"calls\":%s", n->calls);
	buf_addc(b, '}');
}
