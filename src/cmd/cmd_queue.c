/*
 * cmd_queue.c — `hypotop add|pause|resume|cancel|prio|retry WORKDIR NODE ...`.
 *
 * With an engine running, the operation goes to it over the control
 * socket; without one, it is applied to the files under engine/lock. Either
 * way it is durable before the command says it is done.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hypotop/cmd.h"
#include "hypotop/ctl.h"
#include "hypotop/fsutil.h"
#include "hypotop/ops.h"
#include "hypotop/vcs.h"
#include "hypotop/workdir.h"

/* How long a command waits for a workdir that another command holds. */
#define QUEUE_WAIT_MS WD_WAIT_MS

/*
 * Options may stand anywhere; anything else is positional, including a
 * negative priority such as -5, which getopt would take for an option.
 */
static int parse_args(int argc, char **argv, struct op *op, const char **workdir, struct err *e)
{
	const char *pos[3];
	int npos = 0, want;
	bool add;

	memset(op, 0, sizeof *op);
	op->kind = (enum op_kind)op_parse_name(argv[0]);
	add = op->kind == OP_ADD;
	want = add || op->kind == OP_PRIO ? 3 : 2;
	bool only_args = false;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *val = NULL;
		long num;
		if (!only_args && !strcmp(a, "--")) {
			only_args = true;
			continue;
		}
		if (only_args || a[0] != '-' || !a[1] ||
		    parse_long(a, -1000000, 1000000, &num) == 0) {
			if (npos == want) {
				err_set(e, "%s: unexpected argument \"%s\"", argv[0], a);
				return -1;
			}
			pos[npos++] = a;
			continue;
		}
		const char *eq = strchr(a, '=');
		size_t nl = eq ? (size_t)(eq - a) : strlen(a);
		static const char *const names[] = {"--name", "--priority", "--param", "--patch",
						    "--request-id"};
		size_t k = 0;
		while (k < ARRAY_LEN(names) && (strlen(names[k]) != nl || strncmp(a, names[k], nl)))
			k++;
		bool allowed = k < ARRAY_LEN(names) && (add || (k == 1 && op->kind == OP_RETRY));
		if (!allowed) {
			err_set(e, "%s: unknown option %s", argv[0], a);
			return -1;
		}
		if (eq)
			val = eq + 1;
		else if (i + 1 < argc)
			val = argv[++i];
		else {
			err_set(e, "%s: %s needs a value", argv[0], names[k]);
			return -1;
		}
		switch (k) {
		case 0:
			free(op->name);
			op->name = xstrdup(val);
			break;
		case 1:
			if (parse_long(val, -1000000, 1000000, &op->priority) < 0) {
				err_set(e, "--priority %s: give a whole number from -1000000 to 1000000",
					val);
				return -1;
			}
			op->has_priority = true;
			break;
		case 2:
			if (op_add_param(op, val, "--param", e) < 0)
				return -1;
			break;
		case 3: {
			size_t len;
			char *text = fs_read_max(val, FS_MAX_PATCH, &len, e);
			if (!text) {
				err_prefix(e, "--patch");
				return -1;
			}
			char *what = xasprintf("--patch: %s", val);
			int rc = op_set_patch(op, text, len, what, e);
			free(what);
			free(text);
			if (rc < 0)
				return -1;
			break;
		}
		case 4:
			free(op->request_id);
			op->request_id = xstrdup(val);
			break;
		}
	}
	if (npos != want) {
		err_set(e, "%s: expected %d arguments, got %d", argv[0], want, npos);
		return -1;
	}
	*workdir = pos[0];
	snprintf(op->node, sizeof op->node, "%s", pos[1]);
	if (add) {
		op->hypothesis = xstrdup(pos[2]);
	} else if (op->kind == OP_PRIO) {
		if (parse_long(pos[2], -1000000, 1000000, &op->priority) < 0) {
			err_set(e, "prio: \"%s\" is not a priority; give a whole number (lower runs "
				   "first)",
				pos[2]);
			return -1;
		}
		op->has_priority = true;
	}
	return 0;
}

static void done(const struct op *op, const char *node, const char *status)
{
	if (op->kind == OP_ADD || op->kind == OP_RETRY)
		printf("%s %s (%s of %s)\n", node, status,
		       op->kind == OP_ADD ? "child" : "copy", op->node);
	else
		printf("%s %s\n", node, status);
}

/* Apply to the files, under the lock. WD_BUSY when somebody holds it. */
static int apply_offline(const char *workdir, const struct op *op, struct err *e)
{
	struct workdir w;
	uint32_t id;
	int rc = workdir_open(&w, workdir, WD_WRITE, NULL, e);

	if (rc != WD_OK) {
		workdir_close(&w);
		return rc;
	}
	if (w.warning)
		fprintf(stderr, "hypotop: warning: %s\n", w.warning);
	/* The id of a node the workdir lost may still name a branch. */
	long top = -1;
	struct err be = {{0}};
	if ((op->kind == OP_ADD || op->kind == OP_RETRY) &&
	    vcs_branch_top(w.cfg.source_dir, "hypotop/n", NODE_ID_MAX, &top, &be) < 0)
		fprintf(stderr, "hypotop: warning: %s\n", be.msg);
	if (top >= 0)
		tree_reserve(&w.tree, (uint32_t)top);
	if (op_apply(&w, op, false, &id, e) < 0 || workdir_commit(&w, e) < 0) {
		workdir_close(&w);
		return WD_FAIL;
	}
	/* Without an engine the checkpoint is folded at once, so that
	 * engine/checkpoint.json always shows the queue a person may edit.
	 * The operation is done once committed: a checkpoint that fails (a
	 * full disk) is said, and left to the next command; repeating the
	 * operation would apply it twice. */
	struct err ce = {{0}};
	if (workdir_checkpoint(&w, &ce) < 0)
		fprintf(stderr, "hypotop: warning: the change is recorded in engine/journal.jsonl; "
				"only the checkpoint after it failed, which the next command makes: "
				"%s\n",
			ce.msg);
	char nid[NODE_ID_LEN];
	node_id_format(id, nid);
	done(op, nid, status_name(w.tree.nodes[id].status));
	workdir_close(&w);
	return WD_OK;
}

/*
 * Send to the engine. 0 done, 1 no engine listening, -1 refused or failed,
 * 2 sent and never answered.
 */
static int apply_engine(const char *workdir, const struct op *op, struct err *e)
{
	char node[NODE_ID_LEN], status[CTL_STATUS_LEN];
	char *wd = path_real(workdir, e);
	int rc = wd ? ctl_op(wd, op, QUEUE_WAIT_MS, node, status, e) : -1;

	free(wd);
	if (rc == 0)
		done(op, node, status);
	return rc;
}

int cmd_queue(int argc, char **argv)
{
	struct op op;
	const char *workdir;
	struct err e = {{0}};
	int status = EXIT_USAGE;

	if (parse_args(argc, argv, &op, &workdir, &e) < 0) {
		cmd_fail(EXIT_USAGE, "%s", e.msg);
		cmd_usage(argv[0], 1);
		op_free(&op);
		return EXIT_USAGE;
	}
	int64_t deadline = mono_ms() + QUEUE_WAIT_MS;
	for (;;) {
		memset(&e, 0, sizeof e);
		int rc = apply_offline(workdir, &op, &e);
		if (rc == WD_OK) {
			status = EXIT_OK;
			break;
		}
		if (rc == WD_FAIL) {
			cmd_fail(EXIT_USAGE, "%s", e.msg);
			break;
		}
		/* Busy: an engine takes the op over its socket; a command, we wait out. */
		memset(&e, 0, sizeof e);
		rc = apply_engine(workdir, &op, &e);
		if (rc == 0) {
			status = EXIT_OK;
			break;
		}
		if (rc < 0) {
			cmd_fail(EXIT_USAGE, "%s", e.msg);
			break;
		}
		if (rc == 2) {
			const char *next = "see 'hypotop status'";
			if (op.kind == OP_ADD && op.request_id)
				next = "run the same command again: with the same --request-id it "
				       "adds the node only if it is missing";
			else if (op.kind == OP_ADD)
				next = "see 'hypotop status' before adding it again (--request-id "
				       "makes an add safe to repeat)";
			status = cmd_fail(EXIT_UNKNOWN, "%s; whether the %s was applied is unknown: %s",
					  e.msg, argv[0], next);
			break;
		}
		if (mono_ms() > deadline) {
			cmd_fail(EXIT_RUNTIME, "%s: still locked by another process after %d s; "
					       "see engine/lock for its pid",
				 workdir, QUEUE_WAIT_MS / 1000);
			status = EXIT_RUNTIME;
			break;
		}
		struct timespec ts = {0, 5 * 1000 * 1000};
		nanosleep(&ts, NULL);
	}
	op_free(&op);
	return status;
}
