/* engine.c — see engine.h. */
#include "hypotop/engine.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "hypotop/attach.h"
#include "hypotop/bg.h"
#include "hypotop/ctl.h"
#include "hypotop/json.h"
#include "hypotop/loop.h"
#include "hypotop/fsutil.h"
#include "hypotop/ops.h"
#include "hypotop/sched.h"
#include "hypotop/ui.h"
#include "hypotop/workdir.h"

struct client {
	int fd;
	struct buf in, out;
	bool answered;
	int64_t deadline; /* mono_ms() by which its request must be in */
	char *refused;    /* why it may not change anything: its request gets this answer */
	struct client *next;
};

struct engine {
	struct workdir wd;
	struct sched sched;
	bool sched_ready;
	struct loop *loop;
	int sig_fd, ctl_fd;
	struct client *clients;
	size_t nclients, max_clients;
	bool listening;          /* ctl_fd is watched: a client may be taken */
	int ctl_timer;           /* a timerfd: clients' deadlines, the next accept */
	int64_t accept_at;       /* accept() ran out of descriptors: try again then; 0 none */
	bool said_idle, said_refused;
	bool headless;
	int exit_status;
	FILE *log; /* logs/hypotop.log */
	char *log_path;
	struct ui *ui;    /* the terminal UI, unless headless */
	struct buf early; /* lines said before the UI was open */
	bool said_done;
	char fatal[1024]; /* an error that stopped the loop, printed once the UI is closed */
	struct bg *syncer; /* the journal's fdatasync */
	bool syncing;      /* one is in progress */
	int64_t synced_at; /* mono_ms() when the last one started */
};

/*
 * One line for the person: the UI's status bar (or stderr when headless),
 * and logs/hypotop.log.
 */
static void log_line(void *ctx, const char *msg)
{
	struct engine *en = ctx;
	struct buf b;

	buf_init(&b);
	buf_add_safe(&b, msg);
	/* Not opened for want of a descriptor: tried again with each line. */
	if (!en->log && en->log_path)
		en->log = fopen(en->log_path, "ae");
	if (en->ui) {
		ui_note(en->ui, b.data);
	} else if (en->headless) {
		fprintf(stderr, "hypotop: %s\n", b.data);
	} else {
		buf_printf(&en->early, "hypotop: %s\n", b.data);
	}
	if (en->log) {
		char stamp[32];
		time_t now = time(NULL);
		struct tm tm;
		/* localtime_r: the zone read once (tzset), not looked up per line. */
		strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", localtime_r(&now, &tm));
		fprintf(en->log, "%s %s\n", stamp, b.data);
		fflush(en->log);
	}
	buf_free(&b);
}

static void say(struct engine *en, const char *fmt, ...) PRINTF_LIKE(2, 3);

static void say(struct engine *en, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	log_line(en, msg);
}

/* ---- the control socket's clients ---- */

/*
 * At most max_clients at once, each given CTL_IDLE_MS to send its whole
 * request. Past the cap the engine stops taking clients, and the rest
 * wait in the socket's backlog, then in connect(). Taking them only to
 * close them would cost a descriptor each just when descriptors run
 * short, turn a flood into a busy round of accept and close, and fail a
 * person's queue command that could have waited its turn; waiting costs
 * the engine nothing. The cap is at most a quarter of the descriptor
 * limit, so that clients never take what jobs, logs and git need.
 */
static size_t client_cap(void)
{
	struct rlimit rl;
	size_t cap = CTL_MAX_CLIENTS;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
	    rl.rlim_cur / 4 < cap)
		cap = rl.rlim_cur >= 8 ? (size_t)rl.rlim_cur / 4 : 1;
	return cap;
}

static void on_accept(struct loop *l, int fd, short revents, void *ctx);

/* Take clients while there is room and accept() is not resting. */
static void listen_update(struct engine *en)
{
	bool want = en->ctl_fd >= 0 && en->nclients < en->max_clients && !en->accept_at;

	if (want == en->listening)
		return;
	if (want)
		loop_watch(en->loop, en->ctl_fd, POLLIN, on_accept, en);
	else
		loop_unwatch(en->loop, en->ctl_fd);
	en->listening = want;
}

/* The timer: the first client's deadline, or accept()'s next try. */
static void timer_update(struct engine *en)
{
	int64_t at = en->accept_at;

	for (struct client *c = en->clients; c; c = c->next)
		if (!c->answered && (!at || c->deadline < at))
			at = c->deadline;
	loop_timer_set(en->ctl_timer, at, 0);
}

static void client_close(struct engine *en, struct client *c)
{
	struct client **pp = &en->clients;

	while (*pp != c)
		pp = &(*pp)->next;
	*pp = c->next;
	en->nclients--;
	loop_unwatch(en->loop, c->fd);
	close(c->fd);
	buf_free(&c->in);
	buf_free(&c->out);
	free(c->refused);
	free(c);
	listen_update(en);
}

static void answer(struct client *c, bool ok, const char *node, const char *status,
		   const char *error)
{
	buf_printf(&c->out, "{\"ok\":%s", ok ? "true" : "false");
	if (node)
		buf_printf(&c->out, ",\"node\":\"%s\"", node);
	if (status)
		buf_printf(&c->out, ",\"status\":\"%s\"", status);
	if (error) {
		buf_adds(&c->out, ",\"error\":");
		json_append_str(&c->out, error);
	}
	buf_adds(&c->out, "}\n");
	c->answered = true;
}

/* A stop for good: the message is printed once the terminal is the person's again. */
static void fatal(struct engine *en, const char *msg)
{
	if (!en->fatal[0])
		snprintf(en->fatal, sizeof en->fatal, "%s", msg);
	en->exit_status = EXIT_RUNTIME;
	loop_stop(en->loop);
}

/*
 * A person's queue operation, from the control socket or the UI: checked
 * and recorded (durable at the round's commit), then acted on.
 */
static int engine_apply(struct engine *en, const struct op *op, uint32_t *id, struct err *e)
{
	char nid[NODE_ID_LEN];

	if (op_apply(&en->wd, op, true, id, e) < 0)
		return -1;
	sched_node_changed(&en->sched, *id);
	node_id_format(*id, nid);
	say(en, "%s %s: %s is %s", op_info(op->kind)->name, op->node, nid,
	    status_name(en->wd.tree.nodes[*id].status));
	return 0;
}

static void handle_request(struct engine *en, struct client *c, const char *line, size_t len)
{
	struct err e = {{0}};
	struct op op;
	cJSON *j = json_parse(line, len, "request", &e);
	uint32_t id;

	const char *name = j ? json_string(j, "op") : NULL;
	if (name && !strcmp(name, CTL_WORKERS_OP)) {
		/* workers.json changed: the engine's workers follow it. */
		cJSON_Delete(j);
		if (sched_workers_reload(&en->sched, &e) < 0) {
			say(en, "workers.json not applied: %s", e.msg);
			answer(c, false, NULL, NULL, e.msg);
		} else {
			answer(c, true, NULL, NULL, NULL);
		}
		return;
	}
	if (!j || op_from_json(&op, j, &e) < 0) {
		answer(c, false, NULL, NULL, e.msg);
		cJSON_Delete(j);
		return;
	}
	cJSON_Delete(j);
	if (engine_apply(en, &op, &id, &e) < 0) {
		answer(c, false, NULL, NULL, e.msg);
	} else {
		char nid[NODE_ID_LEN];
		node_id_format(id, nid);
		answer(c, true, nid, status_name(en->wd.tree.nodes[id].status), NULL);
	}
	op_free(&op);
}

/* ---- the UI's host callbacks ---- */

static int ui_apply(void *ctx, const struct op *op, uint32_t *node, struct err *e)
{
	return engine_apply(ctx, op, node, e);
}

static void ui_set_paused(void *ctx, bool paused)
{
	struct engine *en = ctx;
	struct err e = {{0}};

	if (en->sched.paused == paused)
		return;
	en->sched.paused = paused;
	if (workdir_set_engine_state(&en->wd, paused ? "paused" : "running", &e) < 0)
		say(en, "warning: %s", e.msg);
	say(en, paused ? "engine paused: nothing new is launched or planned; running jobs go on"
		       : "engine resumed");
}

static int ui_reload_workers(void *ctx, struct err *e)
{
	struct engine *en = ctx;

	return sched_workers_reload(&en->sched, e);
}

static void ui_quit(void *ctx)
{
	struct engine *en = ctx;

	say(en, "quit: the engine stops; running jobs keep running");
	loop_stop(en->loop);
}

static void on_tty(struct loop *l, int fd, short revents, void *ctx)
{
	struct engine *en = ctx;

	if (revents & (POLLHUP | POLLERR | POLLNVAL)) {
		/* The terminal went away: stop as for SIGHUP; jobs go on. */
		loop_unwatch(l, fd);
		say(en, "the terminal closed: stopping; running jobs keep running");
		en->sched.stopping = true;
		loop_stop(l);
		return;
	}
	ui_input(en->ui);
}

/* Read what the client sent; false when it is gone (closed here). */
static bool client_read(struct engine *en, struct client *c)
{
	char chunk[4096];
	ssize_t n = read(c->fd, chunk, sizeof chunk);

	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return true;
	if (n <= 0) {
		client_close(en, c);
		return false;
	}
	buf_add(&c->in, chunk, (size_t)n);
	char *nl = memchr(c->in.data, '\n', c->in.len);
	if (nl && !c->answered) {
		if (c->refused)
			answer(c, false, NULL, NULL, c->refused);
		else
			handle_request(en, c, c->in.data, (size_t)(nl - c->in.data));
		loop_unwatch(en->loop, c->fd); /* one request per connection */
	} else if (c->in.len > 1 << 20) {
		answer(c, false, NULL, NULL, "request too long");
		loop_unwatch(en->loop, c->fd);
	}
	return true;
}

static void on_client(struct loop *l, int fd, short revents, void *ctx)
{
	struct engine *en = ctx;
	struct client *c = en->clients;

	(void)l;
	(void)revents;
	while (c && c->fd != fd)
		c = c->next;
	if (c)
		client_read(en, c);
}

static void client_add(struct engine *en, int fd)
{
	struct client *c = xcalloc(1, sizeof *c);
	struct err e = {{0}};

	c->fd = fd;
	c->deadline = mono_ms() + CTL_IDLE_MS;
	buf_init(&c->in);
	buf_init(&c->out);
	c->next = en->clients;
	en->clients = c;
	en->nclients++;
	loop_watch(en->loop, fd, POLLIN, on_client, en);
	if (ctl_peer_allowed(fd, &e))
		return;
	/* Answered once its request is in, as the protocol has it, so that the client reads why. */
	c->refused = xstrdup(e.msg);
	if (!en->said_refused)
		say(en, "refused a client of the control socket (said once): %s", e.msg);
	en->said_refused = true;
}

static void on_accept(struct loop *l, int fd, short revents, void *ctx)
{
	struct engine *en = ctx;

	(void)l;
	(void)revents;
	while (en->nclients < en->max_clients) {
		int cfd = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (cfd >= 0) {
			client_add(en, cfd);
			continue;
		}
		if (errno == EINTR || errno == ECONNABORTED)
			continue;
		if (errno != EAGAIN && errno != EWOULDBLOCK) {
			/* Out of descriptors or memory: the socket stays readable, so rest a while. */
			if (errno_out_of_fds(errno))
				sched_fds_short(&en->sched, "taking a control client", strerror(errno));
			en->accept_at = mono_ms() + SCHED_FDS_RETRY_MS;
		}
		break;
	}
	listen_update(en);
	timer_update(en);
}

/* A client's time is up (unless its request came in meanwhile); accept() may try again. */
static void on_ctl_timer(struct loop *l, int fd, short revents, void *ctx)
{
	struct engine *en = ctx;
	int64_t now = mono_ms();
	uint64_t n;

	(void)l;
	(void)revents;
	while (read(fd, &n, sizeof n) < 0 && errno == EINTR)
		;
	if (en->accept_at && now >= en->accept_at) {
		en->accept_at = 0;
		listen_update(en);
	}
	for (struct client *c = en->clients, *next; c; c = next) {
		next = c->next;
		if (c->answered || c->deadline > now || !client_read(en, c) || c->answered)
			continue;
		if (!en->said_idle)
			say(en, "closed a client of the control socket that sent no request within "
				"%d s (said once)",
			    CTL_IDLE_MS / 1000);
		en->said_idle = true;
		client_close(en, c);
	}
	timer_update(en);
}

static void on_signal(struct loop *l, int fd, short revents, void *ctx)
{
	struct engine *en = ctx;
	struct signalfd_siginfo si;

	(void)revents;
	while (read(fd, &si, sizeof si) == (ssize_t)sizeof si) {
		if (si.ssi_signo == SIGWINCH) {
			if (en->ui)
				ui_resize(en->ui);
			continue;
		}
		if (si.ssi_signo == SIGINT || si.ssi_signo == SIGTERM || si.ssi_signo == SIGHUP) {
			say(en, "%s: stopping; running jobs keep running",
			    si.ssi_signo == SIGINT    ? "SIGINT"
			    : si.ssi_signo == SIGTERM ? "SIGTERM"
						      : "SIGHUP");
			en->sched.stopping = true;
			loop_stop(l);
		}
	}
}

/*
 * The journal's fdatasync runs on a thread of its own, so the main thread
 * never waits for the disk. Durable records written while one runs wait
 * for the next, and flushes start at most every SYNC_EVERY_MS: when runs
 * end many times a second they share one flush (group commit). On a file
 * system with a journal of its own every flush commits that journal too,
 * holding back every file created meanwhile; paced, the flushes cost the
 * runs little. A SIGKILL loses nothing meanwhile, the lines being written
 * at once; a power cut, the records of the last SYNC_EVERY_MS and the
 * flush in progress. The descriptor is the task's own, so that a
 * checkpoint may replace the journal under it.
 */
#define SYNC_EVERY_MS 10

struct sync_task {
	struct engine *en;
	int fd, rc, err;
	int64_t not_before; /* mono_ms() */
};

static void sync_work(void *arg)
{
	struct sync_task *t = arg;
	int64_t wait = t->not_before - mono_ms();

	if (wait > 0) {
		struct timespec ts = {0, (long)wait * 1000000L};
		while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
			;
	}
	t->rc = fdatasync(t->fd);
	t->err = errno;
	close(t->fd);
}

static void sync_done(void *arg)
{
	struct sync_task *t = arg;
	struct engine *en = t->en;

	en->syncing = false;
	if (t->rc < 0) {
		char msg[1024];
		snprintf(msg, sizeof msg, "%s: fdatasync: %s", en->wd.journal.path,
			 strerror(t->err));
		fatal(en, msg);
	}
	free(t);
}

static int commit_behind(struct engine *en, struct err *e)
{
	struct journal *j = &en->wd.journal;

	if (workdir_write(&en->wd, e) < 0)
		return -1;
	if (!j->want_sync || en->syncing)
		return 0;
	int fd = fcntl(j->fd, F_DUPFD_CLOEXEC, 0);
	if (fd < 0)
		return workdir_commit(&en->wd, e); /* then here */
	struct sync_task *t = xcalloc(1, sizeof *t);
	int64_t now = mono_ms();
	t->en = en;
	t->fd = fd;
	t->not_before = en->synced_at + SYNC_EVERY_MS;
	en->synced_at = t->not_before > now ? t->not_before : now;
	j->want_sync = false;
	en->syncing = true;
	bg_submit(en->syncer, sync_work, sync_done, t);
	return 0;
}

/*
 * After every round: the round's records go to the journal and to the
 * disk behind the loop; a control client's answer waits for its record to
 * be durable, flushed here, so that nothing is acknowledged before it is.
 */
static void after_round(struct loop *l, void *ctx)
{
	struct engine *en = ctx;
	struct err e = {{0}};
	bool answering = false;

	if (en->sched_ready)
		sched_step(&en->sched);
	for (struct client *c = en->clients; c; c = c->next)
		answering |= c->answered;
	if ((answering ? workdir_commit(&en->wd, &e) : commit_behind(en, &e)) < 0) {
		if (!err_out_of_fds(&e)) {
			fatal(en, e.msg);
			return;
		}
		/*
		 * Only the checkpoint opens files: it made the journal durable
		 * first, and is made again at the next commit.
		 */
		sched_fds_short(&en->sched, "writing the checkpoint", e.msg);
	}
	for (struct client *c = en->clients, *next; c; c = next) {
		next = c->next;
		if (!c->answered)
			continue;
		(void)!send(c->fd, c->out.data, c->out.len, MSG_NOSIGNAL | MSG_DONTWAIT);
		client_close(en, c);
	}
	if (en->sched.done && !en->said_done) {
		say(en, "done: %s", en->sched.stop_reason);
		/* A headless engine exits; the UI stays open until the person quits. */
		if (!en->ui)
			loop_stop(l);
	}
	en->said_done = en->sched.done;
	if (en->ui)
		ui_draw(en->ui);
}

int engine_main(const struct engine_opts *o)
{
	struct engine en;
	struct err e = {{0}};
	sigset_t mask;

	memset(&en, 0, sizeof en);
	en.headless = o->headless;
	en.sig_fd = en.ctl_fd = en.ctl_timer = -1;
	en.max_clients = client_cap();
	buf_init(&en.early);
	if (!o->headless && (!isatty(STDIN_FILENO) || !isatty(STDOUT_FILENO))) {
		fprintf(stderr, "hypotop: the terminal UI needs a terminal on stdin and stdout; "
				"without one, run: hypotop run --headless %s\n",
			o->workdir);
		return EXIT_USAGE;
	}
	int rc = workdir_open_wait(&en.wd, o->workdir, "engine", &e);
	if (rc == WD_BUSY && !o->headless && en.wd.holder && en.wd.path &&
	    !strcmp(en.wd.holder_role, "engine")) {
		/* An engine runs there already (headless, say): the UI attaches to it. */
		char *path = xstrdup(en.wd.path);
		pid_t pid = en.wd.holder;
		workdir_close(&en.wd);
		buf_free(&en.early);
		rc = attach_main(path, pid);
		free(path);
		return rc;
	}
	if (rc != WD_OK) {
		fprintf(stderr, "hypotop: %s\n", e.msg);
		/* A command that held the lock too long is a run-time failure, as for the CLI. */
		if (rc == WD_BUSY && !en.wd.holder)
			return EXIT_RUNTIME;
		return rc == WD_BUSY || !fs_is_dir(o->workdir) || strstr(e.msg, ".json") ||
				       strstr(e.msg, "workdir")
			       ? EXIT_USAGE
			       : EXIT_RUNTIME;
	}
	/* Before any job runs or the state says running: the socket's place is free. */
	if (ctl_check(en.wd.path, &e) < 0) {
		fprintf(stderr, "hypotop: %s\n", e.msg);
		lock_clear(en.wd.lock_fd);
		workdir_close(&en.wd);
		return EXIT_USAGE;
	}
	en.log_path = workdir_file(&en.wd, "logs/hypotop.log");
	tzset();
	en.log = fopen(en.log_path, "ae");
	sigemptyset(&mask);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGTERM);
	if (!o->headless) {
		/* A terminal that closes stops the engine cleanly, as SIGTERM would. */
		sigaddset(&mask, SIGWINCH);
		sigaddset(&mask, SIGHUP);
	}
	sigprocmask(SIG_BLOCK, &mask, NULL);
	en.sig_fd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
	en.ctl_timer = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	en.loop = loop_new();
	en.syncer = en.loop ? bg_new(en.loop, 1) : NULL;
	if (en.loop && sched_init(&en.sched, &en.wd, en.loop, log_line, &en, &e) < 0) {
		fprintf(stderr, "hypotop: %s\n", e.msg);
		sched_free(&en.sched);
		en.exit_status = EXIT_USAGE;
		goto out;
	}
	en.sched_ready = en.loop != NULL;
	if (en.sig_fd < 0 || en.ctl_timer < 0 || !en.loop || !en.syncer) {
		fprintf(stderr, "hypotop: %s\n", strerror(errno));
		en.exit_status = EXIT_RUNTIME;
		goto out;
	}
	char last[32];
	workdir_engine_state(&en.wd, last, sizeof last);
	bool after_crash = strcmp(last, "created") && strcmp(last, "stopped") &&
			   strcmp(last, "interrupted");
	if (workdir_set_engine_state(&en.wd, "running", &e) < 0) {
		fprintf(stderr, "hypotop: %s\n", e.msg);
		en.exit_status = EXIT_RUNTIME;
		goto out;
	}
	if (!o->headless) {
		struct ui_host host = {&en.wd,	  &en.sched, ui_apply, ui_set_paused,
				       ui_quit, &en,	   0,	       ui_reload_workers};
		en.ui = ui_open(&host, stdin, stdout, &e);
		if (!en.ui) {
			fprintf(stderr, "hypotop: %s\n", e.msg);
			en.exit_status = EXIT_RUNTIME;
			goto out;
		}
		/* What was said before the screen was there. */
		for (char *p = en.early.data, *nl; p && (nl = strchr(p, '\n')); p = nl + 1) {
			*nl = '\0';
			ui_note(en.ui, p + strlen("hypotop: "));
		}
		buf_reset(&en.early);
		loop_watch(en.loop, ui_fd(en.ui), POLLIN, on_tty, &en);
	}
	if (en.wd.warning)
		say(&en, "warning: %s", en.wd.warning);
	if (en.wd.torn_line)
		say(&en, "engine/journal.jsonl:%d: ignored a torn last line (%zu bytes) left by an "
			 "interrupted write",
		    en.wd.torn_line, en.wd.torn_bytes);
	say(&en, "engine pid %ld on %s: %u nodes, %zu queued", (long)getpid(), en.wd.path,
	    en.wd.tree.count, en.wd.queue.len);
	loop_watch(en.loop, en.sig_fd, POLLIN, on_signal, &en);
	loop_watch(en.loop, en.ctl_timer, POLLIN, on_ctl_timer, &en);
	loop_set_after(en.loop, after_round, &en);
	sched_start(&en.sched, after_crash);
	after_round(en.loop, &en);
	/* Listening last: a socket that answers means an engine fully started. */
	en.ctl_fd = ctl_listen(en.wd.path, &e);
	if (en.ctl_fd < 0)
		fatal(&en, e.msg);
	listen_update(&en);
	if ((en.ui || !en.sched.done) && !en.fatal[0] && loop_run(en.loop) < 0) {
		char msg[128];
		snprintf(msg, sizeof msg, "poll: %s", strerror(errno));
		fatal(&en, msg);
	}
	bg_drain(en.syncer); /* the flush in progress: its error is said below */
	size_t jobs = 0;
	for (size_t i = 0; i < en.sched.nslots; i++)
		jobs += en.sched.slots[i].used && en.sched.slots[i].have_job;
	if (en.ui) {
		ui_close(en.ui);
		en.ui = NULL;
		if (jobs)
			fprintf(stderr,
				"hypotop: %zu job%s keep%s running; 'hypotop %s' re-attaches to them\n",
				jobs, jobs == 1 ? "" : "s", jobs == 1 ? "s" : "", en.wd.path);
	}
	if (en.fatal[0])
		fprintf(stderr, "hypotop: %s\n", en.fatal);
	ctl_unlink(en.wd.path);
	en.sched.stopping = true;
	sched_free(&en.sched); /* waits for the git task in progress */
	en.sched_ready = false;
	lock_clear(en.wd.lock_fd);
	if (workdir_checkpoint(&en.wd, &e) < 0 ||
	    workdir_set_engine_state(&en.wd, en.sched.done ? "stopped" : "interrupted", &e) < 0) {
		fprintf(stderr, "hypotop: %s\n", e.msg);
		en.exit_status = EXIT_RUNTIME;
	}
out:
	ui_close(en.ui);
	if (en.early.len)
		fputs(en.early.data, stderr); /* said before a failure kept the UI closed */
	buf_free(&en.early);
	if (en.sched_ready)
		sched_free(&en.sched);
	if (en.log)
		fclose(en.log);
	while (en.clients)
		client_close(&en, en.clients);
	if (en.ctl_fd >= 0)
		close(en.ctl_fd);
	if (en.ctl_timer >= 0)
		close(en.ctl_timer);
	if (en.sig_fd >= 0)
		close(en.sig_fd);
	free(en.log_path);
	bg_free(en.syncer);
	loop_free(en.loop);
	workdir_close(&en.wd);
	return en.exit_status;
}
