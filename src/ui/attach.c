/*
 * attach.c — the terminal UI attached to an engine that runs elsewhere;
 * see attach.h.
 *
 * The model is the workdir's durable state, read again whenever the
 * engine writes it (its journal, tree.json, engine_state.json): the
 * engine records every change before it acts on it, so the files hold
 * what it knows. The slots are made from the nodes' statuses, and each
 * running job's progress is read from its log, runs/<id>/log. A person's
 * action is a queue operation sent over the control socket, as `hypotop
 * pause` sends it; the engine answers once it is durable, and the files
 * are read again at once to show it. Nothing here writes the workdir but
 * the guidance key's directive.md, as in the engine's own UI.
 */
#include "hypotop/attach.h"
#include "hypotop/ui_int.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hypotop/calls.h"
#include "hypotop/ctl.h"
#include "hypotop/fsutil.h"
#include "hypotop/json.h"
#include "hypotop/lock.h"
#include "hypotop/ops.h"
#include "hypotop/sched.h"
#include "hypotop/ui.h"
#include "hypotop/workdir.h"
#include "hypotop/workers.h"

/* How often the files are looked at: the screen is at most this late. */
#define POLL_MS 200
/* A log further behind than this is read on from this much before its end. */
#define LOG_BEHIND ((off_t)2 << 20)
/* How long a person's operation waits for the engine's answer. */
#define OP_WAIT_MS 10000

/* The files whose change means the model changed. */
static const char *const watched[] = {WD_JOURNAL_FILE, WD_TREE_FILE,
				      "engine/engine_state.json", "engine/calls.json"};
#define NWATCHED (sizeof watched / sizeof watched[0])

struct attach {
	char *path;           /* the workdir, absolute */
	int log_fd;           /* logs/hypotop.log: the engine's messages; -1 not open */
	off_t log_off;
	struct lines log_lines;
	pid_t engine;         /* its engine; 0 once it has stopped */
	pid_t shown;          /* the pid the status bar names: the last engine's */
	struct workdir *wd;   /* the newest read */
	struct workdir *old;  /* the read before, freed once the UI has let go of it */
	struct sched view;    /* the engine's slots, as the files show them */
	struct stat seen[NWATCHED];
	bool reread;          /* read the files again, whatever their stat says */
	bool said_unread;     /* a read failed: said once until one works */
	bool quit;
	struct ui *ui;
};

/* ---- the slots -------------------------------------------------------------- */

/* 2: the node's job holds a slot; 1: it is being prepared; 0 neither. */
static int slot_need(const struct node *n)
{
	if (!n->present)
		return 0;
	if (n->status == ST_WAITING || n->status == ST_BUILDING || n->status == ST_RUNNING)
		return 2;
	if (n->status == ST_PAUSED && (n->resume_to == ST_WAITING || n->resume_to == ST_BUILDING ||
				       n->resume_to == ST_RUNNING))
		return 2; /* a job a person stopped */
	return n->status == ST_PREPARING;
}

static void slot_free(struct slot *sl)
{
	int gpu = sl->gpu;

	if (sl->log_fd >= 0)
		close(sl->log_fd);
	if (sl->used) {
		metrics_free(&sl->metrics);
		lines_free(&sl->log_lines);
	}
	memset(sl, 0, sizeof *sl);
	sl->gpu = gpu;
	sl->log_fd = -1;
	sl->tree = -1;
}

/* The GPU the job was given (its job.json's CUDA_VISIBLE_DEVICES), or -1. */
static int job_gpu(struct attach *a, uint32_t id)
{
	char nid[NODE_ID_LEN];
	struct err e = {{0}};
	long gpu = -1;

	node_id_format(id, nid);
	char *rel = xasprintf("runs/%s/job.json", nid);
	char *path = workdir_file(a->wd, rel);
	cJSON *j = fs_exists(path) ? json_parse_file(path, &e) : NULL;
	const cJSON *env = cJSON_GetObjectItemCaseSensitive(j, "env");
	const cJSON *dev = cJSON_GetObjectItemCaseSensitive(env, "CUDA_VISIBLE_DEVICES");
	if (cJSON_IsString(dev) && parse_long(dev->valuestring, 0, 1 << 20, &gpu) < 0)
		gpu = -1;
	cJSON_Delete(j);
	free(path);
	free(rel);
	return (int)gpu;
}

static void slot_take(struct attach *a, uint32_t id)
{
	struct sched *s = &a->view;
	struct slot *sl = NULL;
	int gpu = s->nslots && s->slots[0].gpu >= 0 ? job_gpu(a, id) : -1;
	struct err e = {{0}};

	for (size_t i = 0; i < s->nslots; i++)
		if (!s->slots[i].used && (!sl || (gpu >= 0 && s->slots[i].gpu == gpu)))
			sl = &s->slots[i];
	if (!sl)
		return;
	sl->used = true;
	sl->node = id;
	sl->log_fd = -1;
	lines_init(&sl->log_lines, SCHED_LOG_LINE_MAX, LINES_SPLIT);
	if (metrics_init(&sl->metrics, a->wd->cfg.metric_patterns, &e) < 0)
		metrics_init(&sl->metrics, NULL, &e);
}

/* The slots after a read: a job keeps its slot; one that ended frees it. */
static void slots_sync(struct attach *a)
{
	struct sched *s = &a->view;
	struct tree *t = &a->wd->tree;

	for (size_t i = 0; i < s->nslots; i++) {
		struct slot *sl = &s->slots[i];
		const struct node *n = sl->used ? tree_get(t, sl->node) : NULL;
		if (sl->used && (!n || !slot_need(n)))
			slot_free(sl);
	}
	/* Jobs first: nodes prepared ahead while every slot is busy hold none. */
	for (int need = 2; need >= 1; need--)
		for (uint32_t id = 0; id < t->len; id++) {
			if (slot_need(&t->nodes[id]) != need)
				continue;
			bool held = false;
			for (size_t i = 0; i < s->nslots && !held; i++)
				held = s->slots[i].used && s->slots[i].node == id;
			if (!held)
				slot_take(a, id);
		}
	for (size_t i = 0; i < s->nslots; i++) {
		struct slot *sl = &s->slots[i];
		const struct node *n = sl->used ? tree_get(t, sl->node) : NULL;
		sl->have_job = n && slot_need(n) == 2;
		sl->job.paused = sl->have_job && n->status == ST_PAUSED;
	}
}

/*
 * Hand fn the lines a file gained past *off. From further behind than
 * LOG_BEHIND, reading goes on that much before the end (a flood is
 * passed over, its end read); a file that shrank is read from its start.
 */
static void follow(int fd, off_t *off, struct lines *l, lines_fn fn, void *ctx)
{
	char chunk[65536];
	struct stat st;

	if (fstat(fd, &st) < 0)
		return;
	if (st.st_size < *off) {
		*off = 0;
		lines_reset(l, false);
	}
	if (st.st_size - *off > LOG_BEHIND) {
		*off = st.st_size - LOG_BEHIND;
		lines_reset(l, true);
	}
	while (*off < st.st_size) {
		ssize_t n = pread(fd, chunk, sizeof chunk, *off);
		if (n <= 0)
			break;
		*off += n;
		lines_feed(l, chunk, (size_t)n, fn, ctx);
	}
}

static void feed_metrics(void *ctx, const char *line, size_t len)
{
	metrics_feed(ctx, line, len);
}

/* What each job's log gained: its metrics and progress. */
static void logs_read(struct attach *a)
{
	struct sched *s = &a->view;

	for (size_t i = 0; i < s->nslots; i++) {
		struct slot *sl = &s->slots[i];
		if (!sl->have_job)
			continue;
		if (sl->log_fd < 0) {
			char nid[NODE_ID_LEN];
			node_id_format(sl->node, nid);
			char *rel = xasprintf("runs/%s/log", nid);
			char *path = workdir_file(a->wd, rel);
			sl->log_fd = open(path, O_RDONLY | O_CLOEXEC);
			free(path);
			free(rel);
		}
		if (sl->log_fd >= 0)
			follow(sl->log_fd, &sl->log_off, &sl->log_lines, feed_metrics, &sl->metrics);
	}
}

/* A line of logs/hypotop.log, "STAMP MESSAGE": the message to the status bar. */
static void feed_message(void *ctx, const char *line, size_t len)
{
	struct attach *a = ctx;
	const char *sp = memchr(line, ' ', len);
	char *msg = sp ? xstrndup(sp + 1, len - (size_t)(sp + 1 - line)) : xstrndup(line, len);

	ui_note(a->ui, msg);
	free(msg);
}

/* The engine's messages since the UI attached, as its own UI shows them. */
static void messages_read(struct attach *a)
{
	if (a->log_fd < 0) {
		char *path = workdir_file(a->wd, "logs/hypotop.log");
		struct stat st;
		a->log_fd = open(path, O_RDONLY | O_CLOEXEC);
		free(path);
		if (a->log_fd < 0)
			return;
		/* From the end: what was said before is in the file, with its times. */
		a->log_off = fstat(a->log_fd, &st) == 0 ? st.st_size : 0;
	}
	follow(a->log_fd, &a->log_off, &a->log_lines, feed_message, a);
}

static void view_init(struct attach *a)
{
	const struct config *c = &a->wd->cfg;
	struct sched *s = &a->view;
	int ngpu = c->gpus ? cJSON_GetArraySize(c->gpus) : 0;

	memset(s, 0, sizeof *s);
	s->wd = a->wd;
	s->nslots = (size_t)c->max_concurrency; /* as the engine counts them (fleet.c) */
	if (ngpu && (size_t)ngpu < s->nslots)
		s->nslots = (size_t)ngpu;
	size_t local = s->nslots;
	/* Each remote worker's slots, for the jobs running there. */
	struct workers ws;
	struct err e = {{0}};
	char *path = path_join(a->wd->path, "workers.json");
	if (workers_load(path, &ws, &e) == 0) {
		for (size_t i = 0; i < ws.len; i++)
			if (strcmp(ws.v[i].kind, "local"))
				s->nslots += ws.v[i].ngpus ? ws.v[i].ngpus : (size_t)ws.v[i].slots;
		workers_free(&ws);
	}
	free(path);
	s->slots = xcalloc(s->nslots ? s->nslots : 1, sizeof *s->slots);
	for (size_t i = 0; i < s->nslots; i++) {
		s->slots[i].gpu = ngpu && i < local ? cJSON_GetArrayItem(c->gpus, (int)i)->valueint : -1;
		s->slots[i].log_fd = -1;
		s->slots[i].tree = -1;
	}
}

static void view_free(struct attach *a)
{
	for (size_t i = 0; i < a->view.nslots; i++)
		slot_free(&a->view.slots[i]);
	free(a->view.slots);
}

/* ---- the files ----------------------------------------------------------------- */

static bool files_changed(struct attach *a)
{
	bool changed = false;

	for (size_t i = 0; i < NWATCHED; i++) {
		char *path = workdir_file(a->wd, watched[i]);
		struct stat st;
		if (stat(path, &st) < 0)
			memset(&st, 0, sizeof st);
		free(path);
		struct stat *was = &a->seen[i];
		if (st.st_ino != was->st_ino || st.st_size != was->st_size ||
		    st.st_mtim.tv_sec != was->st_mtim.tv_sec ||
		    st.st_mtim.tv_nsec != was->st_mtim.tv_nsec)
			changed = true;
		*was = st;
	}
	return changed;
}

/* The engine's state word from engine_state.json and whether it still runs. */
static void view_state(struct attach *a)
{
	char state[32];

	workdir_engine_state(a->wd, state, sizeof state);
	a->view.paused = a->engine && !strcmp(state, "paused");
	a->view.done = !a->engine && !strcmp(state, "stopped");
	a->view.stopping = !a->engine && !a->view.done;
	/* The model's requests in flight, for the status bar. */
	a->view.nflights = a->engine ? calls_flight_read(a->wd, a->view.flights,
							 CALL_FLIGHTS_MAX)
				     : 0;
}

static void wd_free(struct workdir *w)
{
	if (!w)
		return;
	workdir_close(w);
	free(w);
}

/* Read the workdir again; the UI is shown the new model. */
static void reread(struct attach *a)
{
	struct workdir *w = xcalloc(1, sizeof *w);
	struct err e = {{0}};
	int rc = workdir_open(w, a->path, WD_READ, NULL, &e);

	a->reread = rc != WD_OK; /* caught half-way, or unreadable: the next round tries */
	if (rc != WD_OK) {
		if (rc != WD_BUSY && !a->said_unread)
			ui_note(a->ui, e.msg);
		a->said_unread |= rc != WD_BUSY;
		free(w);
		return;
	}
	a->said_unread = false;
	wd_free(a->old); /* two reads old: the UI holds the newest only */
	a->old = a->wd;
	a->wd = w;
	a->view.wd = w;
	slots_sync(a);
	view_state(a);
	ui_set_model(a->ui, w, a->shown);
}

/* Whether an engine holds the lock, and which; said when that changes. */
static void engine_check(struct attach *a)
{
	char *lock = workdir_file(a->wd, "engine/lock");
	char role[LOCK_ROLE_LEN];
	pid_t pid;
	bool held = lock_held(lock, &pid, role) && pid > 0 && !strcmp(role, "engine");

	free(lock);
	if (held && pid != a->engine) {
		ui_say(a->ui, false, "attached to the engine, pid %ld", (long)pid);
		a->engine = a->shown = pid;
		a->reread = true;
	} else if (!held && a->engine) {
		ui_say(a->ui, true,
		       "the engine (pid %ld) has stopped; nothing acts on the keys now: q leaves, "
		       "and 'hypotop %s' starts the engine again",
		       (long)a->engine, a->path);
		a->engine = 0;
		a->reread = true;
	}
}

/* ---- the UI's host ---------------------------------------------------------------- */

static int attach_apply(void *ctx, const struct op *op, uint32_t *node, struct err *e)
{
	struct attach *a = ctx;
	char nid[NODE_ID_LEN], status[CTL_STATUS_LEN];
	int rc = ctl_op(a->path, op, OP_WAIT_MS, nid, status, e);

	a->reread = true;
	if (rc == 1)
		err_set(e, "%s: no engine answers on %s; nothing was done", op_info(op->kind)->name,
			CTL_SOCKET);
	else if (rc == 2) {
		char why[sizeof e->msg];
		snprintf(why, sizeof why, "%s", e->msg);
		err_set(e, "%s; whether the %s was applied is unknown: the tree shows what the "
			   "engine recorded",
			why, op_info(op->kind)->name);
	}
	if (rc != 0) {
		reread(a);
		return -1;
	}
	/*
	 * Durable before the answer: read now, so that a node it made can be
	 * selected. What the engine did, it says in its log, read next round.
	 */
	*node = node_id_parse(nid);
	reread(a);
	return 0;
}

static void attach_quit(void *ctx)
{
	struct attach *a = ctx;

	a->quit = true;
}

/* ---- the loop ------------------------------------------------------------------------ */

static void signals(struct attach *a, int fd)
{
	struct signalfd_siginfo si;

	while (read(fd, &si, sizeof si) == (ssize_t)sizeof si) {
		if (si.ssi_signo == SIGWINCH)
			ui_resize(a->ui);
		else
			a->quit = true; /* SIGINT, SIGTERM, SIGHUP: detach */
	}
}

/* Free what the UI no longer points at; look at the engine and the files. */
static void round_files(struct attach *a)
{
	wd_free(a->old);
	a->old = NULL;
	engine_check(a);
	if (files_changed(a) || a->reread)
		reread(a);
	logs_read(a);
	messages_read(a);
}

static int run(struct attach *a, int sig_fd)
{
	int64_t next = 0;

	for (;;) {
		if (mono_ms() >= next) {
			round_files(a);
			next = mono_ms() + POLL_MS; /* a slow round leaves the keys their turn */
		}
		ui_draw(a->ui);
		if (a->quit)
			return EXIT_OK;
		struct pollfd p[2] = {{ui_fd(a->ui), POLLIN, 0}, {sig_fd, POLLIN, 0}};
		int wait = (int)(next - mono_ms());
		if (poll(p, 2, wait > 0 ? wait : 0) < 0 && errno != EINTR) {
			fprintf(stderr, "hypotop: poll: %s\n", strerror(errno));
			return EXIT_RUNTIME;
		}
		if (p[0].revents & (POLLHUP | POLLERR | POLLNVAL))
			return EXIT_OK; /* the terminal went away: detached */
		if (p[0].revents & POLLIN)
			ui_input(a->ui);
		if (p[1].revents & POLLIN)
			signals(a, sig_fd);
	}
}

int attach_main(const char *path, pid_t engine)
{
	struct attach a;
	struct err e = {{0}};
	sigset_t mask;
	int status;

	memset(&a, 0, sizeof a);
	a.log_fd = -1;
	a.path = xstrdup(path);
	a.engine = a.shown = engine;
	a.wd = xcalloc(1, sizeof *a.wd);
	if (workdir_open(a.wd, path, WD_READ, NULL, &e) != WD_OK) {
		fprintf(stderr, "hypotop: %s\n", e.msg);
		free(a.wd);
		free(a.path);
		return EXIT_RUNTIME;
	}
	view_init(&a);
	lines_init(&a.log_lines, 4096, LINES_HEAD);
	sigemptyset(&mask);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGHUP);
	sigaddset(&mask, SIGWINCH);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	int sig_fd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
	struct ui_host host = {a.wd, &a.view, attach_apply, NULL, attach_quit, &a, engine};
	a.ui = sig_fd >= 0 ? ui_open(&host, stdin, stdout, &e) : NULL;
	if (sig_fd < 0)
		err_set(&e, "signalfd: %s", strerror(errno));
	if (!a.ui) {
		fprintf(stderr, "hypotop: %s\n", e.msg);
		status = EXIT_RUNTIME;
	} else {
		ui_say(a.ui, false,
		       "attached to the engine, pid %ld, on %s: keys act through its control "
		       "socket; q detaches and leaves it running",
		       (long)engine, a.path);
		slots_sync(&a);
		view_state(&a);
		files_changed(&a);
		status = run(&a, sig_fd);
		ui_close(a.ui);
		if (a.engine)
			fprintf(stderr, "hypotop: detached; the engine (pid %ld) goes on: 'hypotop %s' "
					"attaches again\n",
				(long)a.engine, a.path);
	}
	if (sig_fd >= 0)
		close(sig_fd);
	view_free(&a);
	wd_free(a.wd);
	wd_free(a.old);
	if (a.log_fd >= 0)
		close(a.log_fd);
	lines_free(&a.log_lines);
	free(a.path);
	return status;
}
