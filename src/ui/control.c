/*
 * control.c — what a person asks of the engine from the UI: reorder, pause,
 * resume, cancel, retry and add nodes, pause the engine, quit.
 *
 * Every change goes through the host's callbacks as a queue operation
 * (ops.h), the path the control socket takes, so it is checked, journalled
 * and acted on exactly as `hypotop pause` and friends are; the UI itself
 * never writes the model.
 */
#include "hypotop/ui_int.h"

#include <errno.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "hypotop/fsutil.h"

extern char **environ;

static unsigned apply(struct ui *ui, struct op *op, uint32_t *result)
{
	struct err e = {{0}};
	uint32_t id = NODE_NONE;
	int rc = -1;

	if (ui->host.apply)
		rc = ui->host.apply(ui->host.ctx, op, &id, &e);
	else
		err_set(&e, "no engine to act on it");
	op_free(op);
	if (rc < 0) {
		ui_say(ui, true, "%s", e.msg);
		return DIRTY_STATUS;
	}
	if (result)
		*result = id;
	ui->tv.stale = true;
	return DIRTY_ALL;
}

static void op_on(struct op *op, enum op_kind kind, uint32_t node)
{
	memset(op, 0, sizeof *op);
	op->kind = kind;
	node_id_format(node, op->node);
}

static bool allowed(struct ui *ui, enum op_kind kind, const struct node *n)
{
	char nid[NODE_ID_LEN];

	if (op_info(kind)->statuses & (1u << n->status))
		return true;
	node_id_format(n->id, nid);
	ui_say(ui, true, "%s is %s: %s does not apply to it", nid,
	       status_name((enum node_status)n->status), op_info(kind)->name);
	return false;
}

/* + and -: one less than the node before it, or one more than the node after it. */
static unsigned move_node(struct ui *ui, struct node *n, int dir)
{
	struct tree *t = &ui->host.wd->tree;
	uint32_t *ids;
	size_t nq = tree_queue_order(ui, &ids), i;
	char nid[NODE_ID_LEN];
	struct op op;

	node_id_format(n->id, nid);
	for (i = 0; i < nq && ids[i] != n->id; i++)
		;
	if (i == nq) {
		free(ids);
		ui_say(ui, true, "%s is %s, not in the queue: only nodes not yet running move", nid,
		       status_name((enum node_status)n->status));
		return DIRTY_STATUS;
	}
	if ((dir < 0 && i == 0) || (dir > 0 && i + 1 == nq)) {
		free(ids);
		ui_nothing(ui, "%s runs %s already", nid, dir < 0 ? "first" : "last");
		return DIRTY_STATUS;
	}
	const struct node *other = &t->nodes[ids[dir < 0 ? i - 1 : i + 1]];
	long prio = (long)other->priority + dir;
	free(ids);
	op_on(&op, OP_PRIO, n->id);
	op.priority = prio;
	op.has_priority = true;
	return apply(ui, &op, NULL);
}

unsigned control_act(struct ui *ui, enum ui_action a)
{
	struct node *n = ui->host.wd ? tree_selected(ui) : NULL;
	char nid[NODE_ID_LEN], label[192];
	struct op op;

	if (a == ACT_QUIT && ui->host.attached) {
		snprintf(label, sizeof label,
			 ui_engine_state(ui) >= ENGINE_STOPPING
				 ? "leave hypotop? the engine (pid %ld) has stopped; its jobs go on "
				   "(y/n) "
				 : "detach from the engine (pid %ld)? it goes on, and so do its jobs "
				   "(y/n) ",
			 (long)ui->host.attached);
		return prompt_open(ui, PR_QUIT, NODE_NONE, label, NULL);
	}
	if (a == ACT_QUIT)
		return prompt_open(ui, PR_QUIT, NODE_NONE,
				   "quit hypotop? running jobs keep running, and the next start "
				   "re-attaches them (y/n) ",
				   NULL);
	if (a == ACT_PAUSE_ENGINE && ui->host.attached) {
		/* The engine's pause is not a queue operation: the socket cannot carry it. */
		char k[32], kp[32];
		keymap_first(&ui->keys, a, k, sizeof k);
		keymap_first(&ui->keys, ACT_PAUSE, kp, sizeof kp);
		ui_say(ui, true, "%s pauses the engine only in the UI that runs it; attached, "
				 "pause nodes one by one (%s)",
		       k, kp);
		return DIRTY_STATUS;
	}
	if (a == ACT_PAUSE_ENGINE) {
		if (!ui->host.set_paused || !ui->host.sched)
			return 0;
		ui->host.set_paused(ui->host.ctx, !ui->host.sched->paused);
		return DIRTY_STATUS;
	}
	if (a == ACT_GUIDE) {
		if (!ui->host.wd)
			return 0;
		return prompt_open(ui, PR_GUIDE, NODE_NONE,
				   "guidance for the planner (Enter adds it to directive.md, Esc "
				   "aborts): ",
				   NULL);
	}
	if (!n) {
		ui_nothing(ui, "no node selected");
		return DIRTY_STATUS;
	}
	node_id_format(n->id, nid);
	switch (a) {
	case ACT_EARLIER:
		return move_node(ui, n, -1);
	case ACT_LATER:
		return move_node(ui, n, 1);
	case ACT_PAUSE: {
		enum op_kind k = n->status == ST_PAUSED ? OP_RESUME : OP_PAUSE;
		if (!allowed(ui, k, n))
			return DIRTY_STATUS;
		op_on(&op, k, n->id);
		return apply(ui, &op, NULL);
	}
	case ACT_CANCEL: {
		if (!allowed(ui, OP_CANCEL, n))
			return DIRTY_STATUS;
		char *name = draw_cut(ui, n->name ? n->name : "", 32);
		snprintf(label, sizeof label, "cancel %s %s (%s)? (y/n) ", nid, name,
			 status_name((enum node_status)n->status));
		free(name);
		return prompt_open(ui, PR_CANCEL, n->id, label, NULL);
	}
	case ACT_RETRY: {
		uint32_t made = NODE_NONE;
		if (!allowed(ui, OP_RETRY, n))
			return DIRTY_STATUS;
		op_on(&op, OP_RETRY, n->id);
		unsigned d = apply(ui, &op, &made);
		if (made != NODE_NONE)
			d |= tree_select(ui, made);
		return d;
	}
	case ACT_ADD:
		if (!allowed(ui, OP_ADD, n))
			return DIRTY_STATUS;
		snprintf(label, sizeof label, "hypothesis under %s (Enter, then the change): ",
			 nid);
		return prompt_open(ui, PR_ADD, n->id, label, NULL);
	default:
		return 0;
	}
}

/*
 * The directive channel (SPEC §2): a line of guidance joins
 * WORKDIR/directive.md, which every later planning round carries.
 */
static unsigned add_guidance(struct ui *ui, const char *text)
{
	while (*text == ' ')
		text++;
	if (!*text) {
		ui_nothing(ui, "no guidance added: the text was empty");
		return DIRTY_STATUS;
	}
	char *path = path_join(ui->host.wd->path, "directive.md");
	size_t len = 0;
	struct buf b;
	struct err e = {{0}};
	char *old = fs_exists(path) ? fs_read_max(path, FS_MAX_CONFIG, &len, &e) : NULL;

	if (!old && e.msg[0]) { /* kept as it is: the guidance is not saved over it */
		ui_say(ui, true, "guidance not saved: %s", e.msg);
		free(path);
		return DIRTY_STATUS;
	}
	buf_init(&b);
	if (old && len) {
		buf_add(&b, old, len);
		if (old[len - 1] != '\n')
			buf_addc(&b, '\n');
	}
	buf_printf(&b, "- %s\n", text);
	if (fs_write_atomic(path, b.data, b.len, 0644, &e) < 0)
		ui_say(ui, true, "guidance not saved: %s", e.msg);
	else
		ui_say(ui, false, "guidance added to directive.md; the next planning round reads it");
	buf_free(&b);
	free(old);
	free(path);
	return DIRTY_STATUS;
}

/* The patch file's first lines, which are left out of the patch (no patch line starts with #). */
static const char patch_help[] = "# The patch of \"%s\" under %s: a git-format diff, as git diff\n"
				 "# writes it (diff --git a/PATH b/PATH ...). Lines that start with #\n"
				 "# are left out; save it empty to add nothing.\n";

/* The lines of text that do not start with #. */
static void drop_comments(struct buf *out, const char *text)
{
	for (const char *p = text; *p;) {
		size_t len = strcspn(p, "\n");
		if (*p != '#')
			buf_add(out, p, len + (p[len] == '\n'));
		p += len + (p[len] == '\n');
	}
}

/*
 * Enter alone at the change: $VISUAL or $EDITOR (else vi) on a patch file,
 * with the screen handed over while it runs; the engine waits meanwhile
 * (jobs go on). A patch the editor could not finish is kept and named.
 */
static void edit_patch(struct ui *ui, struct op *op, struct err *e)
{
	const char *tmp = getenv("TMPDIR"), *ed = getenv("VISUAL");
	char *path = xasprintf("%s/hypotop-%s-XXXXXX.diff", tmp && *tmp ? tmp : "/tmp", op->node);
	int fd = mkstemps(path, 5);

	if (!ed || !*ed)
		ed = getenv("EDITOR");
	if (!ed || !*ed)
		ed = "vi";
	if (fd < 0) {
		err_set(e, "no file for the patch: %s: %s", path, strerror(errno));
		free(path);
		return;
	}
	FILE *f = fdopen(fd, "w");
	fprintf(f, patch_help, op->hypothesis, op->node);
	fclose(f);
	char *cmd = xasprintf("%s \"$1\"", ed);
	char *argv[] = {"sh", "-c", cmd, "sh", path, NULL};
	posix_spawnattr_t at;
	sigset_t none, dfl;
	sigemptyset(&none);
	sigfillset(&dfl);
	posix_spawnattr_init(&at);
	posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
	posix_spawnattr_setsigmask(&at, &none);
	posix_spawnattr_setsigdefault(&at, &dfl);
	def_prog_mode();
	endwin();
	fflush(ui->out); /* the terminal as it was, before the editor writes to it */
	pid_t pid;
	int status = 0, rc = posix_spawn(&pid, "/bin/sh", NULL, &at, argv, environ);
	while (rc == 0 && waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	posix_spawnattr_destroy(&at);
	reset_prog_mode();
	free(cmd);
	if (rc != 0 || !WIFEXITED(status) || WEXITSTATUS(status)) {
		err_set(e, "the editor (%s) %s; what it wrote is kept in %s", ed,
			rc ? strerror(rc) : "failed", path);
		free(path);
		return;
	}
	size_t len;
	char *text = fs_read_max(path, FS_MAX_PATCH, &len, e);
	if (text && memchr(text, '\0', len)) {
		op_set_patch(op, text, len, path, e); /* refused: it says where the NUL is */
	} else if (text) {
		struct buf b;
		buf_init(&b);
		drop_comments(&b, text);
		if (b.len && b.data[strspn(b.data, " \t\r\n")])
			op_set_patch(op, b.data, b.len, path, e);
		buf_free(&b);
		unlink(path);
	}
	free(text);
	free(path);
}

/*
 * The add itself, once its change is given: params as NAME=VALUE pairs
 * (as `hypotop add --param` takes them), or, for no text, a patch
 * written in the editor. A node with no change would only rerun its
 * parent: refused.
 */
static unsigned add_with_change(struct ui *ui, uint32_t node, const char *text)
{
	struct op op;
	struct err e = {{0}};
	uint32_t made = NODE_NONE;
	unsigned d = DIRTY_STATUS;

	op_on(&op, OP_ADD, node);
	op.hypothesis = ui->pr.adding;
	ui->pr.adding = NULL;
	while (*text == ' ')
		text++;
	if (*text) {
		char *copy = xstrdup(text), *save = NULL;
		for (char *kv = strtok_r(copy, " \t", &save); kv && !e.msg[0];
		     kv = strtok_r(NULL, " \t", &save))
			op_add_param(&op, kv, "", &e);
		free(copy);
	} else {
		edit_patch(ui, &op, &e);
		d = DIRTY_ALL | DIRTY_CLEAR;
	}
	if (!e.msg[0] && !op.change)
		err_set(&e, "no change given, and a node with no change only reruns its parent's "
			    "commit: give params as name=value, or a patch (Enter alone)");
	if (e.msg[0]) {
		ui_say(ui, true, "nothing added: %s", e.msg);
		op_free(&op);
		return d;
	}
	d |= apply(ui, &op, &made);
	if (made != NODE_NONE)
		d |= tree_select(ui, made);
	return d;
}

unsigned control_answer(struct ui *ui, enum prompt_kind kind, uint32_t node, const char *text)
{
	struct op op;

	switch (kind) {
	case PR_QUIT:
		if (ui->host.quit)
			ui->host.quit(ui->host.ctx);
		return 0;
	case PR_CANCEL:
		op_on(&op, OP_CANCEL, node);
		return apply(ui, &op, NULL);
	case PR_GUIDE:
		return add_guidance(ui, text);
	case PR_ADD:
		while (*text == ' ')
			text++;
		if (!*text) {
			ui_nothing(ui, "nothing added: the hypothesis was empty");
			return DIRTY_STATUS;
		}
		free(ui->pr.adding);
		ui->pr.adding = xstrdup(text);
		return prompt_open(ui, PR_ADD_CHANGE, node,
				   "change: name=value ..., or Enter alone for a patch in $EDITOR: ",
				   NULL);
	case PR_ADD_CHANGE:
		return add_with_change(ui, node, text);
	case PR_FILTER:
	case PR_SEARCH:
	case PR_NONE:
		break;
	}
	return 0;
}
