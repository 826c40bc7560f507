/* ops.c — see ops.h. */
#include "hypotop/ops.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hypotop/change.h"
#include "hypotop/json.h"

static const struct op_info infos[] = {
#define X(e, name, args, mask, doc) {name, args, doc, mask},
	QUEUE_OPS(X)
#undef X
};

const struct op_info *op_info(enum op_kind k)
{
	return &infos[k];
}

int op_parse_name(const char *name)
{
	for (int i = 0; i < OP__COUNT; i++)
		if (!strcmp(infos[i].name, name))
			return i;
	return -1;
}

void op_free(struct op *op)
{
	free(op->hypothesis);
	free(op->name);
	free(op->request_id);
	cJSON_Delete(op->change);
	memset(op, 0, sizeof *op);
}

void op_to_json(const struct op *op, struct buf *b)
{
	buf_printf(b, "{\"op\":\"%s\",\"node\":", infos[op->kind].name);
	json_append_str(b, op->node);
	if (op->has_priority)
		buf_printf(b, ",\"priority\":%ld", op->priority);
	if (op->hypothesis) {
		buf_adds(b, ",\"hypothesis\":");
		json_append_str(b, op->hypothesis);
	}
	if (op->name) {
		buf_adds(b, ",\"name\":");
		json_append_str(b, op->name);
	}
	if (op->request_id) {
		buf_adds(b, ",\"request_id\":");
		json_append_str(b, op->request_id);
	}
	if (op->change) {
		buf_adds(b, ",\"change\":");
		json_append(b, op->change);
	}
	buf_addc(b, '}');
}

int op_from_json(struct op *op, const cJSON *j, struct err *e)
{
	const char *s;

	memset(op, 0, sizeof *op);
	if (!cJSON_IsObject(j) || json_get_str(j, "op", "request", &s, e) != 1 ||
	    op_parse_name(s) < 0) {
		err_set(e, "request: \"op\" must be one of add, pause, resume, cancel, prio, retry");
		return -1;
	}
	op->kind = (enum op_kind)op_parse_name(s);
	if (json_get_str(j, "node", "request", &s, e) != 1) {
		err_set(e, "request: \"node\" is required");
		return -1;
	}
	snprintf(op->node, sizeof op->node, "%s", s);
	int rc = json_get_int(j, "priority", "request", -1000000, 1000000, &op->priority, e);
	if (rc < 0)
		return -1;
	op->has_priority = rc == 1;
	rc = json_get_str(j, "hypothesis", "request", &s, e);
	if (rc < 0)
		return -1;
	if (rc == 1)
		op->hypothesis = xstrdup(s);
	rc = json_get_str(j, "name", "request", &s, e);
	if (rc < 0)
		return -1;
	if (rc == 1)
		op->name = xstrdup(s);
	rc = json_get_str(j, "request_id", "request", &s, e);
	if (rc < 0)
		return -1;
	if (rc == 1)
		op->request_id = xstrdup(s);
	const cJSON *ch = cJSON_GetObjectItemCaseSensitive(j, "change");
	if (ch && !cJSON_IsNull(ch))
		op->change = cJSON_Duplicate(ch, true);
	return 0;
}

static const char *allowed_list(unsigned mask, char *buf, size_t n)
{
	buf[0] = '\0';
	for (int s = 0; s < ST__COUNT; s++)
		if (mask & (1u << s)) {
			size_t l = strlen(buf);
			snprintf(buf + l, n - l, "%s%s", l ? ", " : "", status_name(s));
		}
	return buf;
}

static int tree_full(struct err *e)
{
	char last[NODE_ID_LEN];

	node_id_format(NODE_ID_MAX, last);
	err_set(e, "the tree is full: %s is the last node id; start a new workdir", last);
	return -1;
}

/* add --request-id: chosen by a script, so kept to characters that need no quoting. */
static bool request_id_ok(const char *s)
{
	size_t n = strlen(s);

	return n && n <= 64 &&
	       strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._:-") == n;
}

/*
 * The node an earlier add with op's request id made: 1 with *found set, 0
 * when there is none, -1 when that add was another (parent or hypothesis).
 */
static int added_before(const struct workdir *w, const struct op *op, uint32_t parent,
			uint32_t *found, struct err *e)
{
	const char *hyp = op->hypothesis ? op->hypothesis : "";

	for (uint32_t i = 0; i < w->tree.len; i++) {
		const struct node *c = &w->tree.nodes[i];
		if (!c->present || !c->request_id || strcmp(c->request_id, op->request_id))
			continue;
		if (c->parent != parent || !c->hypothesis || strcmp(c->hypothesis, hyp)) {
			char nid[NODE_ID_LEN], pid[NODE_ID_LEN];
			node_id_format(c->id, nid);
			node_id_format(c->parent, pid);
			err_set(e, "add: --request-id %s made %s, a child of %s with another "
				   "hypothesis; give each new add an id of its own",
				op->request_id, nid, pid);
			return -1;
		}
		*found = c->id;
		return 1;
	}
	return 0;
}

int op_apply(struct workdir *w, const struct op *op, bool live, uint32_t *result,
	     struct err *e)
{
	const struct op_info *in = &infos[op->kind];
	struct node *n = tree_find(&w->tree, op->node);
	char allowed[256];
	struct err why = {{0}};
	uint32_t id;

	if (!n) {
		if (node_id_read(op->node, &id, &why) < 0)
			err_set(e, "%s: no node \"%s\": %s; 'hypotop status %s' lists the nodes",
				w->path, op->node, why.msg, w->path);
		else
			err_set(e, "%s: no node \"%s\"; 'hypotop status %s' lists the nodes",
				w->path, op->node, w->path);
		return -1;
	}
	/* A repeated add answers with its node, whatever became of the parent since. */
	if (op->kind == OP_ADD && op->request_id) {
		if (!request_id_ok(op->request_id)) {
			err_set(e, "add: --request-id \"%s\": use 1 to 64 letters, digits and . _ "
				   ": -",
				op->request_id);
			return -1;
		}
		int rc = added_before(w, op, n->id, result, e);
		if (rc)
			return rc < 0 ? -1 : 0;
	}
	if (!(in->statuses & (1u << n->status))) {
		if (op->kind == OP_ADD)
			err_set(e, "%s is cancelled; add the hypothesis under another node",
				op->node);
		else
			err_set(e, "%s is %s; %s applies to a node that is %s", op->node,
				status_name(n->status), in->name,
				allowed_list(in->statuses, allowed, sizeof allowed));
		return -1;
	}
	enum node_status effective = n->status == ST_PAUSED ? n->resume_to : n->status;
	/* A node being prepared has no job yet: without an engine it is the queue's. */
	if (!live && op->kind != OP_ADD && op->kind != OP_RETRY && op->kind != OP_PRIO &&
	    status_is_active(effective) && effective != ST_PREPARING) {
		err_set(e, "%s is %s and no engine is running to act on its job; start it with "
			   "'hypotop run --headless %s' and try again",
			op->node, status_name(n->status), w->path);
		return -1;
	}
	switch (op->kind) {
	case OP_ADD: {
		if (!op->hypothesis || !op->hypothesis[strspn(op->hypothesis, " \t\n")]) {
			err_set(e, "add: the hypothesis is empty; say what the experiment tests");
			return -1;
		}
		if (op->change && change_validate(op->change, "add", e) < 0)
			return -1;
		if (op->name && !slug_ok(op->name)) {
			err_set(e, "add: --name \"%s\": use 1 to 48 lowercase letters, digits and '-'",
				op->name);
			return -1;
		}
		uint32_t parent = n->id;
		struct node *c = tree_add(&w->tree, parent);
		if (!c)
			return tree_full(e);
		char *slug = op->name ? xstrdup(op->name) : slugify(op->hypothesis);
		c->name = slug;
		node_set_str(&c->hypothesis, op->hypothesis);
		if (op->change) {
			char *t = cJSON_PrintUnformatted(op->change);
			c->change = xstrdup(t);
			cJSON_free(t);
		}
		c->priority = op->has_priority ? (int)op->priority : 0;
		c->status = c->resume_to = ST_QUEUED;
		node_set_str(&c->request_id, op->request_id);
		node_add_calls(c, op->calls);
		workdir_record(w, "add", c);
		*result = c->id;
		return 0;
	}
	case OP_PAUSE:
		/* Not started yet: it is held in the queue, its preparation given up. */
		n->resume_to = n->status == ST_PREPARING ? ST_QUEUED : n->status;
		n->status = ST_PAUSED;
		break;
	case OP_RESUME:
		n->status = n->resume_to;
		break;
	case OP_CANCEL:
		node_set_str(&n->failure_kind, "cancelled");
		node_set_str(&n->failure_phase, status_name(n->status == ST_PAUSED ? n->resume_to
										   : n->status));
		n->status = ST_CANCELLED;
		break;
	case OP_PRIO:
		if (!op->has_priority) {
			err_set(e, "prio: give the new priority (a whole number; lower runs first)");
			return -1;
		}
		n->priority = (int)op->priority;
		break;
	case OP_RETRY:
		return op_retry_copy(w, n->id, op->has_priority ? &op->priority : NULL, result, e);
	case OP__COUNT:
		break;
	}
	workdir_record(w, in->name, n);
	*result = n->id;
	return 0;
}

int op_retry_copy(struct workdir *w, uint32_t src, const long *priority, uint32_t *copy,
		  struct err *e)
{
	struct node *n = &w->tree.nodes[src];
	struct node *c = tree_add(&w->tree, n->parent);

	if (!c)
		return tree_full(e);
	n = &w->tree.nodes[src]; /* tree_add may move nodes */
	node_set_str(&c->name, n->name);
	node_set_str(&c->hypothesis, n->hypothesis);
	node_set_str(&c->change, n->change);
	c->priority = priority ? (int)*priority : n->priority;
	c->retry_of = src;
	c->seed = n->seed;
	c->status = c->resume_to = ST_QUEUED;
	if (n->parent == NODE_NONE)
		node_set_str(&c->commit, n->commit);
	workdir_record(w, "retry", c);
	*copy = c->id;
	return 0;
}

/*
 * NAME=VALUE. A value that is JSON as a whole (a number, true, false,
 * "text") keeps its type; anything else is text. A param file holds
 * finite numbers only (params_parse.c reads no other), so 1e999, NaN, inf
 * and Infinity are refused: quoted, they are text.
 */
int op_add_param(struct op *op, const char *kv, const char *what, struct err *e)
{
	const char *eq = strchr(kv, '='), *sp = *what ? " " : "";

	if (!eq || eq == kv) {
		err_set(e, "%s%s%s: write NAME=VALUE", what, sp, kv);
		return -1;
	}
	if (!op->change) {
		op->change = cJSON_CreateObject();
		cJSON_AddStringToObject(op->change, "kind", "params");
		cJSON_AddObjectToObject(op->change, "params");
	}
	cJSON *params = cJSON_GetObjectItemCaseSensitive(op->change, "params");
	if (!params) {
		err_set(e, "%s%s%s: params and a patch cannot be combined; give one kind of change",
			what, sp, kv);
		return -1;
	}
	const char *val = eq + 1;
	cJSON *v = json_value_read(val);
	if (!v) {
		cJSON *big = cJSON_ParseWithOpts(val, NULL, true); /* a JSON number past double's range */
		err_set(e, "%s%s%s: %s; a value is a finite number, true, false or text (to mean "
			   "the text, quote it: %.*s='\"%s\"')",
			what, sp, kv, cJSON_IsNumber(big) ? "the number is too large (beyond 1.8e308)"
							: "not a number a param file can hold",
			(int)(eq - kv), kv, val);
		cJSON_Delete(big);
		return -1;
	}
	char *name = xstrndup(kv, (size_t)(eq - kv));
	cJSON_DeleteItemFromObjectCaseSensitive(params, name);
	cJSON_AddItemToObject(params, name, v);
	free(name);
	return 0;
}

int op_set_patch(struct op *op, const char *text, size_t len, const char *what, struct err *e)
{
	const char *nul = memchr(text, '\0', len);

	if (op->change) {
		err_set(e, "%s: give one patch, and no params with it", what);
		return -1;
	}
	if (nul) { /* the change keeps it as text, which would end there */
		err_set(e, "%s: a NUL byte at offset %zu; a patch is text (git diff --binary writes "
			   "binary changes as text)",
			what, (size_t)(nul - text));
		return -1;
	}
	op->change = cJSON_CreateObject();
	cJSON_AddStringToObject(op->change, "kind", "patch");
	cJSON_AddStringToObject(op->change, "patch", text);
	return 0;
}
