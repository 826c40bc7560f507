/* ssh.c — the ssh executor: jobs on a worker reached over SSH (see exec.h). */
#include "hypotop/exec.h"

#include <stdio.h>
#include <stdlib.h>

#include "hypotop/workers.h"

struct ssh_exec {
	struct executor x;
	char *name;
};

static int ssh_launch(struct executor *x, const struct job_spec *s, struct job *j, struct err *e)
{
	struct ssh_exec *S = (struct ssh_exec *)x;

	(void)s;
	(void)j;
	err_set(e, "worker %s: ssh workers cannot run jobs yet", S->name);
	return -1;
}

static int ssh_attach(struct executor *x, const char *run_dir, struct job *j, struct err *e)
{
	(void)run_dir;
	return ssh_launch(x, NULL, j, e);
}

static void ssh_check(struct executor *x, struct job *j, struct job_result *r)
{
	(void)x;
	(void)j;
	r->state = JOB_LOST;
	r->exit_code = -1;
	r->build_code = -1;
}

static int ssh_signal(struct executor *x, struct job *j, int sig)
{
	(void)x;
	(void)j;
	(void)sig;
	return -1;
}

static void ssh_release(struct executor *x, struct job *j)
{
	(void)x;
	(void)j;
}

static void ssh_free(struct executor *x)
{
	struct ssh_exec *S = (struct ssh_exec *)x;

	free(S->name);
	free(S);
}

static void ssh_status(struct executor *x, struct worker_status *st)
{
	(void)x;
	st->state = WORKER_DOWN;
	snprintf(st->reason, sizeof st->reason, "ssh workers are not supported yet");
}

static const struct executor_ops ssh_ops = {
	"ssh", ssh_launch, ssh_attach, ssh_check, ssh_signal, ssh_release, ssh_free, ssh_status,
};

struct executor *ssh_executor_new(struct loop *loop, const struct worker_def *w,
				  const char *source_dir, exec_news_fn news, void *ctx,
				  void (*changed)(void *ctx))
{
	struct ssh_exec *S = xcalloc(1, sizeof *S);

	(void)source_dir;
	(void)changed;
	S->x.ops = &ssh_ops;
	S->x.loop = loop;
	S->x.news = news;
	S->x.news_ctx = ctx;
	S->name = xstrdup(w->name);
	return &S->x;
}
