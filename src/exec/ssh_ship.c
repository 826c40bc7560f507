/*
 * ssh_ship.c — a job's code shipped to its ssh worker, and the job
 * started there (see ssh.c): what the worker has is asked once per
 * connection, a bundle of what it lacks is made off the main thread and
 * put, and one request fetches, checks out and starts the job, sent
 * again until it is answered.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hypotop/bg.h"
#include "hypotop/ssh_int.h"
#include "hypotop/vcs.h"

/* text made a name for a folder: letters, digits, '.', '-', '_'. */
static void name_add(struct buf *b, const char *text, size_t max)
{
	for (size_t i = 0; text[i] && i < max; i++) {
		char c = text[i];
		bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
			  c == '.' || c == '-' || c == '_';
		buf_addc(b, ok && !(i == 0 && c == '.') ? c : '_');
	}
}

/* NAME-HASH: readable, and one per path of this machine. */
char *ssh_name(const char *path)
{
	char host[256] = "";
	struct buf b;

	gethostname(host, sizeof host - 1);
	char *whole = xasprintf("%s:%s", host, path);
	const char *base = strrchr(path, '/');
	buf_init(&b);
	name_add(&b, base && base[1] ? base + 1 : path, 40);
	buf_printf(&b, "-%08llx", (unsigned long long)(hash64(whole, strlen(whole)) & 0xffffffffu));
	free(whole);
	return buf_steal(&b);
}

/* The workdir of a run folder (WORKDIR/runs/ID), named: two workdirs sharing a worker never meet. */
char *ssh_ns(const char *run_dir)
{
	char *dir = xstrdup(run_dir);

	for (int up = 0; up < 2; up++) {
		char *slash = strrchr(dir, '/');
		if (slash && slash != dir)
			*slash = '\0';
	}
	char *ns = ssh_name(dir);
	free(dir);
	return ns;
}

static bool known_has(struct ssh_exec *S, const char *commit)
{
	for (size_t i = 0; i < S->nknown; i++)
		if (!strcmp(S->known[i], commit))
			return true;
	return false;
}

static void known_done(void *ctx, const struct sshc_reply *rep)
{
	struct req *r = ctx;
	struct ssh_exec *S = r->S;
	struct sshc_status st;

	ssh_req_free(r);
	S->asking = false;
	if (rep->rc == 0 && rep->exit_code == REMOTE_UNWRITABLE) {
		/* Nothing can be shipped: the jobs waiting for it are refused, saying why. */
		char *why = xstrndup(rep->errout, rep->err_len);
		str_trim(why);
		for (size_t i = 0; i < S->njobs; i++)
			if (S->jobs[i].phase == SHIP)
				ssh_job_refused(S, &S->jobs[i], "worker", why);
		free(why);
		return;
	}
	if (rep->rc < 0 || rep->exit_code != 0)
		return; /* asked again at the next tick */
	ssh_strv_free(S->known, S->nknown);
	S->known = NULL;
	S->nknown = 0;
	for (const char *p = rep->out; *p;) {
		size_t n = strcspn(p, "\n");
		if (n == VCS_OID_HEX - 1) {
			S->known = xrealloc(S->known, (S->nknown + 1) * sizeof *S->known);
			S->known[S->nknown++] = xstrndup(p, n);
		}
		p += n + (p[n] == '\n');
	}
	sshc_status(S->c, &st);
	S->known_for = st.connects;
	ssh_kick(S);
}

/* The worker's commits are known for this connection; if not, they are asked for. */
static bool known_fresh(struct ssh_exec *S)
{
	struct sshc_status st;

	sshc_status(S->c, &st);
	if (st.state != SSHC_UP)
		return false;
	if (S->known_for == st.connects && st.connects)
		return true;
	if (!S->asking) {
		char *script = remote_known_script(S->workspace, S->project);
		S->asking = true;
		sshc_exec(S->c, script, NULL, 0, 0, known_done, ssh_req_new(S, 0));
		free(script);
	}
	return false;
}

/* A failed request: the connection's (try again) or the worker's word (give up, saying why). */
static void ship_failed(struct ssh_exec *S, struct sjob *sj, const char *why)
{
	if (!ssh_up(S)) {
		sj->phase = SHIP;
		return;
	}
	ssh_job_refused(S, sj, "worker", why);
}

static void launch_done(void *ctx, const struct sshc_reply *rep)
{
	struct req *r = ctx;
	struct ssh_exec *S = r->S;
	struct sjob *sj = ssh_job_of(S, r->token);

	ssh_req_free(r);
	if (!sj || sj->phase != LAUNCHING)
		return;
	if (rep->rc < 0) {
		sj->phase = SHIP; /* sent again: it starts the job once */
		return;
	}
	if (rep->exit_code == 0 && strstr(rep->out, "launched")) {
		sj->phase = RUNNING;
		sj->no_pid_since = mono_ms();
		free(sj->script);
		sj->script = NULL;
		if (!known_has(S, sj->commit)) {
			S->known = xrealloc(S->known, (S->nknown + 1) * sizeof *S->known);
			S->known[S->nknown++] = xstrdup(sj->commit);
		}
		return;
	}
	if (rep->exit_code == REMOTE_LACKS && !sj->full) {
		sj->full = true;
		sj->phase = SHIP;
		ssh_ship(S, sj);
		return;
	}
	char *why = rep->err_len ? xstrndup(rep->errout, rep->err_len) : NULL;
	if (why)
		str_trim(why);
	if (S->slurm && rep->exit_code == REMOTE_UNREACHABLE) {
		/* Nothing submitted: the worker is down until the controller answers, then sent again. */
		snprintf(S->slurm->down, sizeof S->slurm->down, "%s", why ? why : "");
		sj->phase = SHIP;
		free(why);
		if (S->changed)
			S->changed(S->x.news_ctx);
		return;
	}
	char text[600];
	snprintf(text, sizeof text, "%s (exit status %d)", why && *why ? why : "the launch failed",
		 rep->exit_code);
	free(why);
	ssh_job_refused(S, sj, S->slurm && rep->exit_code == REMOTE_REFUSED ? "submit" : "worker",
			text);
}

/* One a launch: two launches of a commit at once do not share one. */
char *ssh_bundle_remote(struct ssh_exec *S, const struct sjob *sj)
{
	const char *run = strrchr(sj->remote, '/');
	char *name = xasprintf("%s.%s.bundle", run ? run + 1 : "run", sj->commit);
	char *path = remote_ship_path(S->workspace, name);

	free(name);
	return path;
}

static void send_launch(struct ssh_exec *S, struct sjob *sj)
{
	sj->phase = LAUNCHING;
	sshc_exec(S->c, sj->script, NULL, 0, 0, launch_done, ssh_req_new(S, sj->token));
}

static void put_done(void *ctx, const struct sshc_reply *rep)
{
	struct req *r = ctx;
	struct ssh_exec *S = r->S;
	struct sjob *sj = ssh_job_of(S, r->token);
	char why[600];

	snprintf(why, sizeof why, "cannot send the code: %s", rep->err);
	ssh_req_free(r);
	if (!sj || sj->phase != PUTTING)
		return;
	if (rep->rc < 0)
		ship_failed(S, sj, why);
	else
		send_launch(S, sj);
}

static void bundle_work(void *arg)
{
	struct req *r = arg;
	size_t size;
	int fd;

	r->bundle = xasprintf("%s/hypotop-bundle.XXXXXX",
			      getenv("TMPDIR") && *getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	fd = mkstemp(r->bundle);
	if (fd < 0) {
		err_set(&r->e, "%s: %s", r->bundle, strerror(errno));
		free(r->bundle);
		r->bundle = NULL;
		return;
	}
	close(fd);
	/* The commit is looked up here: the work is the bundle's only. */
	char *commit = r->known[r->nknown - 1];
	if (vcs_bundle(r->S->source_dir, commit, "refs/hypotop/ship", r->known, r->nknown - 1,
		       r->bundle, &size, &r->e) < 0) {
		unlink(r->bundle);
		free(r->bundle);
		r->bundle = NULL;
	}
}

static void bundle_done(void *arg)
{
	struct req *r = arg;
	struct ssh_exec *S = r->S;
	struct sjob *sj = ssh_job_of(S, r->token);

	if (sj && sj->phase == BUNDLING && !r->bundle) {
		ssh_job_refused(S, sj, "worker", r->e.msg);
	} else if (sj && sj->phase == BUNDLING) {
		/* The local bundle goes with the put's answer. */
		char *remote = ssh_bundle_remote(S, sj);
		struct req *put = ssh_req_new(S, sj->token);
		put->bundle = r->bundle;
		r->bundle = NULL;
		sj->phase = PUTTING;
		sshc_put(S->c, put->bundle, remote, 0600, put_done, put);
		free(remote);
	}
	ssh_req_free(r);
}

/*
 * Ship sj's code and start it: with a bundle of what the worker lacks,
 * or none when it has the commit. The launch script is made once, with
 * the bundle's remote path in it either way: a launch sent again finds
 * no bundle and fetches nothing.
 */
void ssh_ship(struct ssh_exec *S, struct sjob *sj)
{
	if (sj->phase != SHIP || (S->slurm && S->slurm->down[0]) || !known_fresh(S))
		return;
	bool has = known_has(S, sj->commit) && !sj->full;
	if (has) {
		send_launch(S, sj);
		return;
	}
	struct req *r = ssh_req_new(S, sj->token);
	size_t n = sj->full ? 0 : S->nknown;
	r->known = xcalloc(n + 1, sizeof *r->known);
	for (size_t i = 0; i < n; i++)
		r->known[i] = xstrdup(S->known[i]);
	r->known[n] = xstrdup(sj->commit); /* last: the commit to bundle */
	r->nknown = n + 1;
	sj->phase = BUNDLING;
	bg_submit(S->bg, bundle_work, bundle_done, r);
}

