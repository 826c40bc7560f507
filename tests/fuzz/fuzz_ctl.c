/*
 * fuzz_ctl.c — requests on the control socket: each line one JSON request
 * (op, node, priority, hypothesis, name, change), parsed and applied to a
 * workdir as a running engine does. What was applied must replay.
 */
#include "fuzz.h"

#include <stdlib.h>
#include <string.h>

#include "hypotop/json.h"
#include "hypotop/ops.h"
#include "hypotop/workdir.h"

/* The wire form of an accepted request reads back as the same request. */
static void round_trip(const struct op *op)
{
	struct err e = {{0}};
	struct buf b;
	struct op back;

	buf_init(&b);
	op_to_json(op, &b);
	cJSON *j = json_parse(b.data, b.len, "request", &e);
	if (!j || op_from_json(&back, j, &e) < 0)
		fuzz_fail("request %s does not read back: %s", b.data, e.msg);
	if (back.kind != op->kind || strcmp(back.node, op->node) ||
	    back.has_priority != op->has_priority || back.priority != op->priority)
		fuzz_fail("request %s reads back as another", b.data);
	op_free(&back);
	cJSON_Delete(j);
	buf_free(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *p = (const char *)data, *end = p + size;
	struct err e = {{0}};
	struct workdir w;

	fuzz_workdir_reset();
	if (workdir_open(&w, fuzz_workdir(), WD_WRITE, NULL, &e) != WD_OK)
		fuzz_fail("workdir: %s", e.msg);
	for (int n = 0; p < end && n < 64; n++) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t len = nl ? (size_t)(nl - p) : (size_t)(end - p);
		struct op op;
		uint32_t id;
		e.msg[0] = '\0';
		cJSON *j = json_parse(p, len, "request", &e);
		p += len + 1;
		if (!j || op_from_json(&op, j, &e) < 0) {
			fuzz_need_msg(&e, "request");
			cJSON_Delete(j);
			continue;
		}
		cJSON_Delete(j);
		round_trip(&op);
		if (op_apply(&w, &op, true, &id, &e) < 0)
			fuzz_need_msg(&e, "request");
		else if (!tree_get(&w.tree, id))
			fuzz_fail("request applied to no node");
		op_free(&op);
	}
	if (workdir_commit(&w, &e) < 0)
		fuzz_fail("commit: %s", e.msg);
	workdir_close(&w);
	fuzz_workdir_load("journal of the requests", true);
	return 0;
}
