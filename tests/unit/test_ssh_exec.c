/*
 * Unit tests: the ssh executor against a real sshd on 127.0.0.1 (sshd.h):
 * a commit of a real repository shipped and run, its log mirrored byte
 * for byte, its exit code collected; pause, resume and cancel seen with
 * ps; sshd killed while a job runs and started again, the job collected
 * with its real exit code and started once; a job killed on the worker
 * without an exit code lost; a job re-attached from job.json by another
 * executor, as after an engine's restart; the worker's status and GPUs.
 */
#include "t.h"

#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "sshd.h"

#include "hypotop/exec.h"
#include "hypotop/fsutil.h"
#include "hypotop/json.h"
#include "hypotop/loop.h"
#include "hypotop/sshconn.h"
#include "hypotop/vcs.h"
#include "hypotop/workers.h"

#define WAIT_MS 30000

/* One sshd for every test; sshd_lost_and_back kills it and starts it again on its port. */
static struct t_sshd sshd;

struct world {
	char *base, *src, *ws, *wd;
	struct worker_def w;
	struct loop *loop;
	struct executor *x;
	char head[VCS_OID_HEX];
	unsigned long news[16];
	size_t nnews;
	int changed;
	int tick; /* a timerfd: the loop looks at the test's condition at least this often */
	const char *ids[8]; /* the nodes launched */
	size_t nids;
};

static void on_news(unsigned long token, void *ctx)
{
	struct world *W = ctx;

	if (W->nnews < 16)
		W->news[W->nnews++] = token;
}

static void on_changed(void *ctx)
{
	((struct world *)ctx)->changed++;
}

static bool (*until_fn)(struct world *W, void *arg);
static void *until_arg;
static int64_t until_deadline;

static void after_round(struct loop *l, void *ctx)
{
	if (until_fn(ctx, until_arg) || mono_ms() > until_deadline)
		loop_stop(l);
}

static void on_tick(struct loop *l, int fd, short revents, void *ctx)
{
	uint64_t n;

	(void)l;
	(void)revents;
	(void)ctx;
	if (read(fd, &n, sizeof n) < 0) {
		/* not yet */
	}
}

/* Run the loop until fn says so, or WAIT_MS; what fn says last. */
static bool run_until(struct world *W, bool (*fn)(struct world *, void *), void *arg)
{
	until_fn = fn;
	until_arg = arg;
	until_deadline = mono_ms() + WAIT_MS;
	if (fn(W, arg))
		return true;
	loop_set_after(W->loop, after_round, W);
	loop_run(W->loop);
	return fn(W, arg);
}

static void world_executor(struct world *W)
{
	W->x = ssh_executor_new(W->loop, &W->w, W->src, on_news, W, on_changed);
}

static bool world_make(struct world *W)
{
	memset(W, 0, sizeof *W);
	W->base = t_tmpdir();
	chmod(W->base, 0755); /* for the test user, to reach the workspace in it */
	W->src = path_join(W->base, "src");
	W->ws = path_join(W->base, "ws");
	W->wd = path_join(W->base, "wd");
	if (!sshd.port) {
		T_CHECK(false, "no sshd");
		return false;
	}
	T_CHECK(t_sh("set -e; git init -q -b main '%s'; cd '%s'; git config user.email t@t;"
		     "git config user.name t; printf 'echo code-one\\n' > train.sh; git add -A;"
		     "git commit -q -m one; mkdir -p '%s' '%s/runs'; chown %s '%s'",
		     W->src, W->src, W->ws, W->wd, sshd.user, W->ws) == 0,
		"cannot make the repository");
	t_sh_line(W->head, VCS_OID_HEX, "git -C '%s' rev-parse HEAD", W->src);
	W->w = (struct worker_def){.name = "box", .kind = "ssh", .host = "127.0.0.1",
				   .user = sshd.user, .key_file = sshd.key,
				   .known_hosts = sshd.known_hosts, .workspace = W->ws,
				   .port = sshd.port, .slots = 4, .enabled = true};
	W->loop = loop_new();
	W->tick = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	loop_watch(W->loop, W->tick, POLLIN, on_tick, W);
	loop_timer_set(W->tick, mono_ms() + 50, 50);
	world_executor(W);
	return true;
}

/*
 * Kill node id's job on the worker by the ids its run folder records
 * (job.sh first, so that nothing records an exit code, then the
 * command's session), each only while its start time is the one
 * recorded: never another process given the same pid.
 */
static int kill_job(struct world *W, const char *id)
{
	char *path = xasprintf("%s/runs/%s/job.json", W->wd, id);
	struct err e = {{0}};
	cJSON *rec = json_parse_file(path, &e);
	const char *remote = rec ? json_string(rec, "remote") : NULL;
	int rc = remote ? t_sh("cd '%s' 2>/dev/null || exit 1; st() { sed 's/.*) //' /proc/$1/stat 2>/dev/null"
			       " | cut -d' ' -f20; }; read -r g gs < pgid; read -r p ps < pid;"
			       "[ -n \"$p\" ] && [ \"$(st $p)\" = \"$ps\" ] && kill -s KILL $p;"
			       "[ -n \"$g\" ] && [ \"$(st $g)\" = \"$gs\" ] && kill -s KILL -- -$g;"
			       "exit 0",
			       remote)
			: -1;

	cJSON_Delete(rec);
	free(path);
	return rc;
}

static void world_free(struct world *W)
{
	exec_free(W->x);
	/* What the jobs left running. */
	for (size_t i = 0; i < W->nids; i++)
		kill_job(W, W->ids[i]);
	if (W->loop) {
		loop_unwatch(W->loop, W->tick);
		close(W->tick);
		loop_free(W->loop);
	}
	fs_remove_tree(W->base);
	free(W->base);
	free(W->src);
	free(W->ws);
	free(W->wd);
}

static bool told(struct world *W, void *arg)
{
	unsigned long token = *(unsigned long *)arg;

	for (size_t i = 0; i < W->nnews; i++)
		if (W->news[i] == token)
			return true;
	return false;
}

static char *run_dir(struct world *W, const char *id)
{
	char *dir = xasprintf("%s/runs/%s", W->wd, id);
	struct err e = {{0}};

	fs_mkdir_p(dir, 0755, &e);
	return dir;
}

/* Launch cmd as node id's job; the job in j. */
static void launch(struct world *W, const char *id, const char *build, const char *cmd,
		   struct job *j)
{
	static const char *const env[] = {"HYPOTOP_NODE=n", NULL};
	char *dir = run_dir(W, id);
	struct job_spec s = {dir, "/nowhere", build, cmd, env, NULL, id, W->head, "box", -1};
	struct err e = {{0}};

	if (W->nids < 8)
		W->ids[W->nids++] = id;
	T_CHECK(exec_launch(W->x, &s, j, &e) == 0, "launch: %s", e.msg);
	free(dir);
}

static char *local_text(struct world *W, const char *id, const char *name)
{
	char *path = xasprintf("%s/runs/%s/%s", W->wd, id, name);
	size_t len;
	char *text = fs_read(path, &len, NULL);

	free(path);
	return text;
}

struct text_wait {
	const char *id, *name, *needle;
};

static bool local_has(struct world *W, void *arg)
{
	struct text_wait *t = arg;
	char *text = local_text(W, t->id, t->name);
	bool has = text && strstr(text, t->needle);

	free(text);
	return has;
}

static const char bytes[] = "esc \033[31mred\033[0m \033]0;title\007 bad \xff\xfe\xc3 end\n";

static void job_runs_and_is_collected(void)
{
	struct world W;
	if (!world_make(&W))
		return;
	struct job j;
	char *cmd = xasprintf("sh train.sh; printf '%%s' \"$HYPOTOP_NODE\"; echo; "
			      "printf 'esc \\033[31mred\\033[0m \\033]0;title\\007 bad "
			      "\\377\\376\\303 end\\n'; exit 3");
	launch(&W, "n0001", "echo building", cmd, &j);
	T_CHECK(run_until(&W, told, &j.token), "no news of the job's end");
	struct job_result r;
	exec_check(W.x, &j, &r);
	T_CHECK(r.state == JOB_DONE && r.exit_code == 3 && r.build_code == 0,
		"state %d exit %d build %d", r.state, r.exit_code, r.build_code);
	char *log = local_text(&W, "n0001", "log");
	T_CONTAINS(log, "[hypotop] build: echo building\nbuilding\n");
	T_CONTAINS(log, "code-one\nn\n");
	T_CONTAINS(log, bytes); /* escape sequences and invalid UTF-8, byte for byte */
	char *code = local_text(&W, "n0001", "exit_code");
	char *bcode = local_text(&W, "n0001", "build_exit");
	T_STREQ(code, "3\n");
	T_STREQ(bcode, "0\n");
	char *path = xasprintf("%s/runs/n0001/job.json", W.wd);
	struct err e = {{0}};
	cJSON *rec = json_parse_file(path, &e);
	T_CHECK(rec, "job.json: %s", e.msg);
	T_STREQ(json_string(rec, "executor"), "ssh");
	T_STREQ(json_string(rec, "worker"), "box");
	T_STREQ(json_string(rec, "commit"), W.head);
	T_CHECK(json_string(rec, "remote") && !strncmp(json_string(rec, "remote"), W.ws,
						       strlen(W.ws)),
		"remote folder: %s", json_string(rec, "remote"));
	T_CHECK(json_count(rec, "pid") >= 0 && cJSON_GetObjectItem(rec, "pid") &&
			cJSON_GetObjectItem(rec, "start_time"),
		"no remote pid in job.json");
	/* An engine started again finds the outcome in the run folder. */
	cJSON_Delete(rec);
	exec_release(W.x, &j);
	exec_free(W.x);
	world_executor(&W);
	struct job j2;
	char *dir = xasprintf("%s/runs/n0001", W.wd);
	T_CHECK(exec_attach(W.x, dir, &j2, &e) == 0, "attach: %s", e.msg);
	exec_check(W.x, &j2, &r);
	T_CHECK(r.state == JOB_DONE && r.exit_code == 3 && r.build_code == 0, "attached: %d %d",
		r.state, r.exit_code);
	exec_release(W.x, &j2);
	free(dir);
	free(path);
	free(code);
	free(bcode);
	free(log);
	free(cmd);
	world_free(&W);
}

static void next_commit_ships_what_the_worker_lacks(void)
{
	struct world W;
	if (!world_make(&W))
		return;
	struct job j1, j2, j3;
	launch(&W, "n0001", NULL, "sh train.sh", &j1);
	T_CHECK(run_until(&W, told, &j1.token), "no news of the first job");
	/* A one-line change: the bundle builds on the commit the worker has. */
	T_CHECK(t_sh("cd '%s' && printf 'echo code-two\\n' > train.sh && git commit -q -am two",
		     W.src) == 0,
		"cannot commit");
	t_sh_line(W.head, VCS_OID_HEX, "git -C '%s' rev-parse HEAD", W.src);
	launch(&W, "n0002", NULL, "sh train.sh", &j2);
	T_CHECK(run_until(&W, told, &j2.token), "no news of the second job");
	struct text_wait two = {"n0002", "log", "code-two\n"};
	T_CHECK(local_has(&W, &two), "the second job did not run the second commit");
	/* The worker lost its repository behind hypotop's back: the whole history is sent. */
	T_CHECK(t_sh("rm -rf '%s/repos' && cd '%s' && printf 'echo code-three\\n' > train.sh && "
		     "git commit -q -am three",
		     W.ws, W.src) == 0,
		"cannot commit");
	t_sh_line(W.head, VCS_OID_HEX, "git -C '%s' rev-parse HEAD", W.src);
	launch(&W, "n0003", NULL, "sh train.sh", &j3);
	T_CHECK(run_until(&W, told, &j3.token), "no news of the third job");
	struct job_result r;
	exec_check(W.x, &j3, &r);
	struct text_wait three = {"n0003", "log", "code-three\n"};
	T_CHECK(r.state == JOB_DONE && r.exit_code == 0 && local_has(&W, &three),
		"the third job: state %d exit %d build %d", r.state, r.exit_code, r.build_code);
	exec_release(W.x, &j1);
	exec_release(W.x, &j2);
	exec_release(W.x, &j3);
	world_free(&W);
}

/* The states ps gives the test user's `sleep 7707`s. */
static char *sleep_states(void)
{
	char line[256];

	t_sh_line(line, sizeof line, "ps -o stat=,args= -u %s | grep '[s]leep 77' | cut -c1",
		  sshd.user);
	return xstrdup(line);
}

static bool sleep_state(struct world *W, void *arg)
{
	(void)W;
	char *st = sleep_states();
	bool yes = st[0] == *(const char *)arg;

	free(st);
	return yes;
}

static void pause_resume_cancel(void)
{
	struct world W;
	if (!world_make(&W))
		return;
	struct job j;
	launch(&W, "n0002", NULL, "echo started; sleep 7707", &j);
	struct text_wait started = {"n0002", "log", "started\n"};
	T_CHECK(run_until(&W, local_has, &started), "the job's log never said it started");
	T_CHECK(run_until(&W, sleep_state, "S"), "no sleeping job: %s", sleep_states());
	T_CHECK(exec_signal(W.x, &j, SIGSTOP) == 0 && j.paused, "pause refused");
	T_CHECK(run_until(&W, sleep_state, "T"), "not stopped");
	T_CHECK(exec_signal(W.x, &j, SIGCONT) == 0 && !j.paused, "resume refused");
	T_CHECK(run_until(&W, sleep_state, "S"), "not resumed");
	T_CHECK(exec_signal(W.x, &j, SIGTERM) == 0, "cancel refused");
	T_CHECK(run_until(&W, told, &j.token), "no news after the cancel");
	struct job_result r;
	exec_check(W.x, &j, &r);
	T_CHECK(r.state == JOB_DONE && r.exit_code == 143, "state %d exit %d", r.state,
		r.exit_code);
	T_CHECK(exec_signal(W.x, &j, SIGTERM) < 0, "an ended job was signalled");
	exec_release(W.x, &j);
	world_free(&W);
}

static bool unknown(struct world *W, void *arg)
{
	struct job_result r;

	exec_check(W->x, arg, &r);
	return r.state == JOB_RUNNING && r.unknown;
}

static bool pid_recorded(struct world *W, void *arg)
{
	char *rec = local_text(W, arg, "job.json");
	bool yes = rec && strstr(rec, "\"start_time\"");

	free(rec);
	return yes;
}

static void sshd_lost_and_back(void)
{
	struct world W;
	if (!world_make(&W))
		return;
	struct job j;
	char *go = path_join(W.ws, "go"), *ledger = path_join(W.ws, "ledger");
	char *cmd = xasprintf("echo start >> '%s'; while [ ! -e '%s' ]; do sleep 0.05; done; "
			      "echo finished; exit 5",
			      ledger, go);
	launch(&W, "n0003", NULL, cmd, &j);
	T_CHECK(run_until(&W, pid_recorded, "n0003"), "the job's pid was never recorded");
	T_CHECK(t_sshd_kill(&sshd) == 0, "cannot kill sshd");
	T_CHECK(run_until(&W, unknown, &j), "not running-unknown while sshd is down");
	struct worker_status st;
	exec_status(W.x, &st);
	T_CHECK(st.state != WORKER_UP, "up while sshd is down");
	/* The job ends while the worker is out of reach. */
	T_CHECK(t_sh("touch '%s'", go) == 0, "cannot touch %s", go);
	char *rdir = NULL;
	T_CHECK(t_sshd_start(&sshd, sshd.dir, sshd.port) == 0, "sshd did not start again");
	T_CHECK(run_until(&W, told, &j.token), "no news after sshd came back");
	struct job_result r;
	exec_check(W.x, &j, &r);
	T_CHECK(r.state == JOB_DONE && r.exit_code == 5, "state %d exit %d", r.state, r.exit_code);
	char *log = local_text(&W, "n0003", "log");
	T_CONTAINS(log, "finished\n");
	char *starts = fs_read(ledger, NULL, NULL);
	T_STREQ(starts, "start\n");
	exec_release(W.x, &j);
	free(starts);
	free(log);
	free(rdir);
	free(cmd);
	free(go);
	free(ledger);
	world_free(&W);
}

static void killed_without_exit_code_is_lost(void)
{
	struct world W;
	if (!world_make(&W))
		return;
	struct job j;
	launch(&W, "n0004", NULL, "sleep 78", &j);
	T_CHECK(run_until(&W, pid_recorded, "n0004"), "the job's pid was never recorded");
	struct text_wait running = {"n0004", "log", "[hypotop] launch:"};
	T_CHECK(run_until(&W, local_has, &running), "the launch was never logged");
	/* Killed from outside, its wrapper too: nothing records an exit code. */
	T_CHECK(kill_job(&W, "n0004") == 0, "cannot kill the job");
	T_CHECK(run_until(&W, told, &j.token), "no news of the killed job");
	struct job_result r;
	exec_check(W.x, &j, &r);
	T_CHECK(r.state == JOB_LOST, "state %d exit %d", r.state, r.exit_code);
	exec_release(W.x, &j);
	world_free(&W);
}

static void reattached_after_a_restart(void)
{
	struct world W;
	if (!world_make(&W))
		return;
	struct job j;
	char *go = path_join(W.ws, "go2");
	char *cmd = xasprintf("while [ ! -e '%s' ]; do sleep 0.05; done; echo after; exit 4", go);
	launch(&W, "n0005", NULL, cmd, &j);
	T_CHECK(run_until(&W, pid_recorded, "n0005"), "the job's pid was never recorded");
	/* The engine goes away; the job stays. Another executor takes it up from job.json. */
	exec_free(W.x);
	free(j.run_dir); /* the engine's handle, which it drops with the executor */
	world_executor(&W);
	char *dir = xasprintf("%s/runs/n0005", W.wd);
	struct err e = {{0}};
	T_CHECK(exec_attach(W.x, dir, &j, &e) == 0, "attach: %s", e.msg);
	struct job_result r;
	exec_check(W.x, &j, &r);
	T_CHECK(r.state == JOB_RUNNING, "attached as %d", r.state);
	T_CHECK(t_sh("touch '%s'", go) == 0, "cannot touch");
	T_CHECK(run_until(&W, told, &j.token), "no news of the attached job");
	exec_check(W.x, &j, &r);
	T_CHECK(r.state == JOB_DONE && r.exit_code == 4, "state %d exit %d", r.state, r.exit_code);
	char *log = local_text(&W, "n0005", "log");
	T_CONTAINS(log, "after\n");
	/* Mirrored once: the part mirrored before the restart is not there twice. */
	const char *first = log ? strstr(log, "[hypotop] launch:") : NULL;
	T_CHECK(first && !strstr(first + 1, "[hypotop] launch:"), "the log is mirrored twice: %s",
		log);
	exec_release(W.x, &j);
	free(log);
	free(dir);
	free(cmd);
	free(go);
	world_free(&W);
}

static bool gpus_seen(struct world *W, void *arg)
{
	struct worker_status st;

	(void)arg;
	exec_status(W->x, &st);
	return st.state == WORKER_UP && st.ngpu == 2 && st.heartbeat > 0;
}

static void status_and_gpus(void)
{
	struct world W;
	if (!world_make(&W))
		return;
	T_CHECK(run_until(&W, gpus_seen, NULL), "no GPUs from the fake nvidia-smi");
	struct worker_status st;
	exec_status(W.x, &st);
	T_CHECK(st.gpu[0].index == 0 && st.gpu[0].util == 35 && st.gpu[0].mem_used == 1024 &&
			st.gpu[0].mem_total == 81920 && st.gpu[0].temp == 45 && st.gpu[1].index == 1,
		"gpu 0: %g %g %g %g", st.gpu[0].util, st.gpu[0].mem_used, st.gpu[0].mem_total,
		st.gpu[0].temp);
	T_CHECK(W.changed > 0, "never told of a change");
	world_free(&W);
}

static void unwritable_workspace_is_refused_by_the_worker(void)
{
	struct world W;
	if (!world_make(&W))
		return;
	struct job j;
	exec_free(W.x);
	W.w.workspace = "/proc/hypotop-no";
	world_executor(&W);
	launch(&W, "n0006", NULL, "true", &j);
	T_CHECK(run_until(&W, told, &j.token), "no news of the refused job");
	struct job_result r;
	exec_check(W.x, &j, &r);
	T_CHECK(r.state == JOB_DONE && r.build_code < 0 && !strcmp(r.kind, "worker"),
		"state %d build %d kind %s", r.state, r.build_code, r.kind);
	T_CONTAINS(r.why, "worker box cannot run the job");
	char *log = local_text(&W, "n0006", "log");
	T_CONTAINS(log, "worker box cannot run the job");
	T_CONTAINS(log, "/proc/hypotop-no");
	exec_release(W.x, &j);
	free(log);
	world_free(&W);
}

int main(void)
{
	vcs_init();
	if (sshc_global_init() < 0) {
		printf("not ok - libssh2 does not initialise\n");
		return 1;
	}
	signal(SIGPIPE, SIG_IGN);
	char *base = t_tmpdir(), *dir = path_join(base, "sshd");
	if (t_sshd_start(&sshd, dir, 0) != 0)
		printf("not ok - sshd does not start\n");
	T_RUN(job_runs_and_is_collected);
	T_RUN(next_commit_ships_what_the_worker_lacks);
	T_RUN(pause_resume_cancel);
	T_RUN(sshd_lost_and_back);
	T_RUN(killed_without_exit_code_is_lost);
	T_RUN(reattached_after_a_restart);
	T_RUN(status_and_gpus);
	T_RUN(unwritable_workspace_is_refused_by_the_worker);
	if (sshd.port)
		t_sshd_stop(&sshd);
	fs_remove_tree(base);
	free(dir);
	free(base);
	vcs_shutdown();
	T_END();
}
