/*
 * command.c — the `command` provider: llm.command runs through /bin/sh
 * with the whole prompt on its stdin; its stdout is the answer, either the
 * contract itself (in prose or a fence if it likes) or the result object
 * of `claude -p --output-format json`. A nonzero exit is a failure even
 * when JSON was printed.
 *
 * The child also gets HYPOTOP_LLM_KIND (analyse or plan), HYPOTOP_LLM_MODEL
 * (llm.model, when set) and HYPOTOP_LLM_SCHEMA (the contract as a JSON
 * schema), so that a wrapper can pass `--json-schema "$HYPOTOP_LLM_SCHEMA"`,
 * and HYPOTOP_SOURCE_DIR. A call about a node runs in the checkout of the
 * node's commit that the engine made for it, with HYPOTOP_NODE and
 * HYPOTOP_COMMIT set.
 *
 * It runs in its own session and is killed, with everything it started,
 * when it outlives the timeout or the call is cancelled. posix_spawn keeps
 * this safe on a background thread of a threaded program.
 */
#include "hypotop/json.h"
#include "hypotop/llm.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

#define OUT_LIMIT (32u << 20)
/* How often a running command looks for a cancellation. */
#define CANCEL_POLL_MS 250

/* environ with our variables set (replacing any of the same name); caller frees the array. */
static char **child_env(char **vars, size_t nvars)
{
	size_t n = 0;

	while (environ && environ[n])
		n++;
	char **env = xcalloc(n + nvars + 1, sizeof *env);
	size_t k = 0;
	for (size_t i = 0; i < n; i++) {
		bool replaced = false;
		for (size_t v = 0; v < nvars && !replaced; v++) {
			size_t len = strcspn(vars[v], "=") + 1;
			replaced = !strncmp(environ[i], vars[v], len);
		}
		if (!replaced)
			env[k++] = environ[i];
	}
	for (size_t v = 0; v < nvars; v++)
		env[k++] = vars[v];
	return env;
}

static void set_nonblock(int fd)
{
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
}

/* Read what is there; false at end of file. */
static bool drain(int fd, struct buf *b, size_t limit)
{
	char chunk[16384];

	for (;;) {
		ssize_t n = read(fd, chunk, sizeof chunk);
		if (n > 0) {
			if (b->len < limit)
				buf_add(b, chunk, (size_t)n);
			continue;
		}
		if (n == 0)
			return false;
		return errno == EAGAIN || errno == EINTR;
	}
}

struct run {
	struct buf out, err;
	int status; /* from waitpid */
	bool timed_out, cancelled;
};

/*
 * Run sh -c cmd with input on stdin; collect stdout and stderr. -1 with e
 * set when it could not start.
 */
static int run_command(struct llm_client *c, const char *cmd, const char *input, char **env,
		       const char *dir, struct run *res, struct err *e)
{
	int in[2] = {-1, -1}, out[2] = {-1, -1}, er[2] = {-1, -1};
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t at;
	pid_t pid;
	char *argv[] = {"sh", "-c", (char *)cmd, NULL};
	sigset_t pipe_set, old_set;

	if (pipe2(in, O_CLOEXEC) < 0 || pipe2(out, O_CLOEXEC) < 0 || pipe2(er, O_CLOEXEC) < 0) {
		err_set(e, "command: cannot make pipes: %m");
		for (int i = 0; i < 2; i++) {
			if (in[i] >= 0)
				close(in[i]);
			if (out[i] >= 0)
				close(out[i]);
			if (er[i] >= 0)
				close(er[i]);
		}
		return -1;
	}
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, in[0], 0);
	posix_spawn_file_actions_adddup2(&fa, out[1], 1);
	posix_spawn_file_actions_adddup2(&fa, er[1], 2);
	if (dir)
		posix_spawn_file_actions_addchdir_np(&fa, dir);
	posix_spawnattr_init(&at);
	sigset_t none, dfl;
	sigemptyset(&none);
	sigemptyset(&dfl);
	sigaddset(&dfl, SIGPIPE);
	/* Its own session (to kill it whole), default SIGPIPE, no inherited mask. */
	posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSID | POSIX_SPAWN_SETSIGMASK |
					      POSIX_SPAWN_SETSIGDEF);
	posix_spawnattr_setsigmask(&at, &none);
	posix_spawnattr_setsigdefault(&at, &dfl);
	int rc = posix_spawn(&pid, "/bin/sh", &fa, &at, argv, env);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&at);
	close(in[0]);
	close(out[1]);
	close(er[1]);
	if (rc != 0) {
		err_set(e, "command: cannot run /bin/sh%s%s: %s", dir ? " in " : "", dir ? dir : "",
			strerror(rc));
		close(in[1]);
		close(out[0]);
		close(er[0]);
		return -1;
	}

	/* A command that stops reading early must not kill us with SIGPIPE. */
	sigemptyset(&pipe_set);
	sigaddset(&pipe_set, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &pipe_set, &old_set);
	set_nonblock(in[1]);
	set_nonblock(out[0]);
	set_nonblock(er[0]);
	size_t inlen = strlen(input), off = 0;
	int64_t deadline = mono_ms() + c->opts.command_timeout_ms;
	bool out_open = true, err_open = true;
	bool epipe = false;
	while (out_open || err_open) {
		struct pollfd p[3];
		int np = 0, iw = -1, io = -1, ie = -1;
		if (in[1] >= 0) {
			p[np] = (struct pollfd){in[1], POLLOUT, 0};
			iw = np++;
		}
		if (out_open) {
			p[np] = (struct pollfd){out[0], POLLIN, 0};
			io = np++;
		}
		if (err_open) {
			p[np] = (struct pollfd){er[0], POLLIN, 0};
			ie = np++;
		}
		int64_t left = deadline - mono_ms();
		if (left <= 0) {
			res->timed_out = true;
			break;
		}
		if (llm_cancelled(c->cancel)) {
			res->cancelled = true;
			break;
		}
		int wait = c->cancel && left > CANCEL_POLL_MS ? CANCEL_POLL_MS : (int)left;
		if (poll(p, (nfds_t)np, wait) < 0 && errno != EINTR)
			break;
		if (iw >= 0 && p[iw].revents) {
			ssize_t n = write(in[1], input + off, inlen - off);
			if (n > 0)
				off += (size_t)n;
			if (n < 0 && errno == EPIPE)
				epipe = true;
			if (off >= inlen || (n < 0 && errno != EAGAIN && errno != EINTR)) {
				close(in[1]);
				in[1] = -1;
			}
		}
		if (io >= 0 && p[io].revents)
			out_open = drain(out[0], &res->out, OUT_LIMIT);
		if (ie >= 0 && p[ie].revents)
			err_open = drain(er[0], &res->err, OUT_LIMIT);
	}
	if (in[1] >= 0)
		close(in[1]);
	if (epipe) {
		/* Take the pending SIGPIPE before unblocking it. */
		struct timespec zero = {0, 0};
		sigtimedwait(&pipe_set, NULL, &zero);
	}
	pthread_sigmask(SIG_SETMASK, &old_set, NULL);
	close(out[0]);
	close(er[0]);
	if (res->timed_out || res->cancelled)
		kill(-pid, SIGKILL);
	/*
	 * Wait without reaping, so that the session's id cannot be reused while
	 * whatever the shell left behind in it is killed; then reap.
	 */
	siginfo_t si;
	while (waitid(P_PID, (id_t)pid, &si, WEXITED | WNOWAIT) < 0 && errno == EINTR)
		;
	kill(-pid, SIGKILL);
	while (waitpid(pid, &res->status, 0) < 0 && errno == EINTR)
		;
	return 0;
}



int llm_command_parse(const char *out, struct llm_reply *r, struct err *e)
{
	cJSON *j = cJSON_Parse(out);
	const char *type = json_string(j, "type");

	r->stop = xstrdup("end_turn");
	if (!cJSON_IsObject(j) || !type || strcmp(type, "result")) {
		/* The answer itself: whatever it costs is not known here. */
		cJSON_Delete(j);
		r->text = xstrdup(out);
		r->has_cost = true;
		r->cost_known = false;
		return 0;
	}
	const char *subtype = json_string(j, "subtype");
	const cJSON *usage = cJSON_GetObjectItemCaseSensitive(j, "usage");
	const cJSON *cost = cJSON_GetObjectItemCaseSensitive(j, "total_cost_usd");
	const cJSON *so = cJSON_GetObjectItemCaseSensitive(j, "structured_output");
	if (cJSON_IsNumber(cost) && cost->valuedouble >= 0) {
		r->has_cost = r->cost_known = true;
		r->usd = cost->valuedouble;
	} else {
		r->has_cost = true;
	}
	llm_reply_usage(r, usage);
	if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(j, "is_error")) ||
	    (subtype && strcmp(subtype, "success"))) {
		const char *res = json_string(j, "result");
		r->kind = planner_kind_name(PK_UNAVAILABLE);
		err_set(e, "command: the agent reported %s%s%.300s", subtype ? subtype : "an error",
			res ? ": " : "", res ? res : "");
		cJSON_Delete(j);
		return -1;
	}
	if (cJSON_IsObject(so))
		r->text = cJSON_PrintUnformatted(so);
	else
		r->text = xstrdup(json_string(j, "result") ? json_string(j, "result") : "");
	cJSON_Delete(j);
	return 0;
}

/* The last line of stderr that says something, for a message. */
static void err_tail(const struct buf *b, char *out, size_t n)
{
	const char *s = b->data ? b->data : "";
	size_t len = strlen(s);

	while (len && strchr(" \t\r\n", s[len - 1]))
		len--;
	size_t start = len;
	while (start && s[start - 1] != '\n')
		start--;
	snprintf(out, n, "%.*s", (int)(len - start > 300 ? 300 : len - start), s + start);
}

int llm_command_call(struct llm_client *c, const struct llm_call *q, struct llm_reply *r,
		     struct err *e)
{
	struct buf in;
	struct run res = {0};
	char *vars[6];
	size_t nv = 0;
	const struct planner_place *pl = q->place;

	buf_init(&in);
	buf_printf(&in, "%s\n\n%s\n\n%s", q->system ? q->system : "", q->stable ? q->stable : "",
		   q->request ? q->request : "");
	if (q->problem)
		buf_printf(&in, "\n\n# Your previous answer\n\n%s\n\n# That answer cannot be used\n\n"
				"%s\n\n%s\n",
			   q->prev_answer ? q->prev_answer : "", q->problem, llm_prompt_again(q));
	vars[nv++] = xasprintf("HYPOTOP_LLM_KIND=%s", q->kind ? q->kind : "");
	vars[nv++] = xasprintf("HYPOTOP_LLM_SCHEMA=%s", q->schema ? q->schema : "");
	if (c->model)
		vars[nv++] = xasprintf("HYPOTOP_LLM_MODEL=%s", c->model);
	if (q->source_dir)
		vars[nv++] = xasprintf("HYPOTOP_SOURCE_DIR=%s", q->source_dir);
	if (pl && pl->node)
		vars[nv++] = xasprintf("HYPOTOP_NODE=%s", pl->node);
	if (pl && pl->commit)
		vars[nv++] = xasprintf("HYPOTOP_COMMIT=%s", pl->commit);
	char **env = child_env(vars, nv);
	int rc;
	/*
	 * A command still running at its deadline is killed and run again, as
	 * a dropped connection is retried (llm_post): after the same delays, at
	 * most opts.max_retries times. Any other failure is its answer.
	 */
	for (int attempt = 0;; attempt++) {
		memset(&res, 0, sizeof res);
		buf_init(&res.out);
		buf_init(&res.err);
		rc = run_command(c, c->command, in.data, env, pl ? pl->dir : NULL, &res, e);
		if (rc < 0 || !res.timed_out || attempt >= c->opts.max_retries)
			break;
		long delay = llm_retry_delay_ms(NULL, attempt, &c->opts, 0);
		cJSON *a = cJSON_CreateObject();
		if (!r->attempts)
			r->attempts = cJSON_CreateArray();
		cJSON_AddStringToObject(a, "error", "no answer within the deadline; killed");
		cJSON_AddNumberToObject(a, "retry_in_ms", (double)delay);
		cJSON_AddItemToArray(r->attempts, a);
		buf_free(&res.out);
		buf_free(&res.err);
		if (!llm_cancel_sleep(c->cancel, delay)) {
			memset(&res, 0, sizeof res);
			buf_init(&res.out);
			buf_init(&res.err);
			res.cancelled = true;
			break;
		}
	}
	free(env);
	for (size_t i = 0; i < nv; i++)
		free(vars[i]);
	buf_free(&in);
	if (rc < 0) {
		r->kind = planner_kind_name(PK_UNAVAILABLE);
		goto out;
	}
	rc = -1;
	char tail[320];
	err_tail(&res.err, tail, sizeof tail);
	cJSON *raw = cJSON_CreateObject();
	cJSON_AddStringToObject(raw, "stdout", res.out.data ? res.out.data : "");
	cJSON_AddStringToObject(raw, "stderr", res.err.data ? res.err.data : "");
	if (WIFEXITED(res.status))
		cJSON_AddNumberToObject(raw, "exit_status", WEXITSTATUS(res.status));
	else if (WIFSIGNALED(res.status))
		cJSON_AddNumberToObject(raw, "signal", WTERMSIG(res.status));
	r->raw = raw;
	r->status = WIFEXITED(res.status) ? WEXITSTATUS(res.status) : -1;
	if (res.cancelled) {
		r->kind = planner_kind_name(PK_CANCELLED);
		err_set(e, "command: cancelled");
	} else if (res.timed_out) {
		r->kind = planner_kind_name(PK_UNAVAILABLE);
		err_set(e, "command: no answer within %.0f s (llm.timeout_s), %d time%s; killed",
			(double)c->opts.command_timeout_ms / 1000, c->opts.max_retries + 1,
			c->opts.max_retries ? "s" : "");
	} else if (!WIFEXITED(res.status)) {
		r->kind = planner_kind_name(PK_UNAVAILABLE);
		err_set(e, "command: killed by signal %d%s%s", WTERMSIG(res.status), *tail ? ": " : "",
			tail);
	} else if (WEXITSTATUS(res.status) != 0) {
		r->kind = planner_kind_name(PK_UNAVAILABLE);
		err_set(e, "command: exited with status %d%s%s", WEXITSTATUS(res.status),
			*tail ? ": " : "", tail);
	} else {
		rc = llm_command_parse(res.out.data ? res.out.data : "", r, e);
	}
out:
	llm_scrub(c, e->msg, r->raw);
	buf_free(&res.out);
	buf_free(&res.err);
	return rc;
}
