/*
 * Unit tests: remote — the scripts the ssh executor runs on a worker, run
 * here by /bin/sh in a temp folder that stands for the worker's home (no
 * ssh): the code shipped as a bundle and checked out, the job started
 * detached and once, its records (pid, build_exit, exit_code), a HEAD
 * that is not the node's commit refused, the poll and its parser, signals.
 */
#include "t.h"

#include <signal.h>
#include <stdarg.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "hypotop/fsutil.h"
#include "hypotop/remote.h"
#include "hypotop/vcs.h"

/* The worker: a home with a workspace, and the repository the code comes from. */
struct worker {
	char *home, *src, *ws;
	char head[VCS_OID_HEX], parent[VCS_OID_HEX];
};

static void worker_make(struct worker *w)
{
	w->home = t_tmpdir();
	w->src = path_join(w->home, "src");
	w->ws = path_join(w->home, "ws");
	T_CHECK(t_sh("set -e; git init -q -b main '%s'; cd '%s'; git config user.email t@t;"
		     "git config user.name t; printf 'a\\n' > train.sh; git add -A;"
		     "git commit -q -m one; printf 'b\\n' > train.sh; git commit -q -am two",
		     w->src, w->src) == 0,
		"cannot make the repository");
	t_sh_line(w->head, VCS_OID_HEX, "git -C '%s' rev-parse '%s'", w->src, "HEAD");
	t_sh_line(w->parent, VCS_OID_HEX, "git -C '%s' rev-parse '%s'", w->src, "HEAD~1");
	/* The scripts start in the remote home. */
	setenv("HOME", w->home, 1);
}

static void worker_free(struct worker *w)
{
	fs_remove_tree(w->home);
	free(w->home);
	free(w->src);
	free(w->ws);
}

/* The whole history of the head, put where the worker fetches it from; its path. */
static char *ship(struct worker *w)
{
	char *path = path_join(w->home, "ship.bundle");
	struct err e = {{0}};
	size_t size;

	T_CHECK(vcs_bundle(w->src, w->head, "refs/hypotop/ship", NULL, 0, path, &size, &e) == 0,
		"vcs_bundle: %s", e.msg);
	return path;
}

/* Run script with sh; its stdout in *out (may be NULL), its exit status. */
static int run_script(const char *script, char **out)
{
	char *path = path_join(getenv("HOME"), "script.sh");
	struct err e = {{0}};

	fs_write_atomic(path, script, strlen(script), 0644, &e);
	char *cmd = xasprintf("sh '%s' 2>'%s.err'", path, path);
	FILE *f = popen(cmd, "r");
	struct buf b;
	char chunk[4096];
	size_t n;

	buf_init(&b);
	buf_adds(&b, "");
	while (f && (n = fread(chunk, 1, sizeof chunk, f)) > 0)
		buf_add(&b, chunk, n);
	int st = f ? pclose(f) : -1;
	if (out)
		*out = buf_steal(&b);
	else
		buf_free(&b);
	free(cmd);
	free(path);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static char *file_text(const char *dir, const char *name)
{
	char *path = path_join(dir, name);
	char *text = fs_read(path, NULL, NULL);

	free(path);
	return text;
}

/* Until name is in dir, or 10 s have passed. */
static bool wait_file(const char *dir, const char *name)
{
	char *path = path_join(dir, name);
	int64_t deadline = mono_ms() + 10000;
	bool there;

	while (!(there = fs_exists(path)) && mono_ms() < deadline)
		usleep(10000);
	free(path);
	return there;
}

static int count_lines(const char *dir, const char *name)
{
	char *text = file_text(dir, name);
	int n = 0;

	for (const char *p = text; p && *p; p++)
		n += *p == '\n';
	free(text);
	return n;
}

static struct remote_job job_of(struct worker *w, const char *run, const char *bundle,
				const char *build, const char *launch)
{
	static const char *const env[] = {"HYPOTOP_NODE=n0001", "TOKEN=it's \"quoted\" $HOME",
					  "HYPOTOP_RUN_DIR=/local/runs/n0001", NULL};
	static const char *const unset[] = {"SECRET_KEY", NULL};

	return (struct remote_job){.workspace = w->ws,
				   .project = "src-1234",
				   .ns = "host-abcd",
				   .node = "n0001",
				   .run = run,
				   .commit = w->head,
				   .bundle = bundle,
				   .build = build,
				   .launch = launch,
				   .env = env,
				   .unset = unset,
				   .gpu = 1};
}

static char *run_dir(struct worker *w, const char *run)
{
	return xasprintf("%s/runs/host-abcd/%s", w->ws, run);
}

static void launch_runs_the_commit_once_and_records_it(void)
{
	struct worker w;
	worker_make(&w);
	char *bundle = ship(&w);
	char *ledger = path_join(w.home, "ledger");
	char *launch = xasprintf("echo start >> '%s'; cat train.sh; echo \"token=$TOKEN\";"
				 "echo \"dir=$HYPOTOP_RUN_DIR gpu=$CUDA_VISIBLE_DEVICES\";"
				 "echo \"secret=${SECRET_KEY-unset}\"; exit 7",
				 ledger);
	struct remote_job rj = job_of(&w, "n0001.1", bundle, "echo building", launch);
	char *script = remote_launch_script(&rj);
	char *out = NULL, *r = run_dir(&w, "n0001.1");

	setenv("SECRET_KEY", "hunter2", 1);
	int rc = run_script(script, &out);
	T_CHECK(rc == 0, "the launch exited %d", rc);
	T_STREQ(out, "launched\n");
	T_CHECK(wait_file(r, "exit_code"), "no exit_code in %s", r);
	char *code = file_text(r, "exit_code"), *bcode = file_text(r, "build_exit");
	char *pid = file_text(r, "pid"), *log = file_text(r, "log");
	T_STREQ(code, "7\n");
	T_STREQ(bcode, "0\n");
	long long p = 0, st = 0;
	T_CHECK(pid && sscanf(pid, "%lld %lld", &p, &st) == 2 && p > 0 && st > 0, "pid: %s", pid);
	T_CONTAINS(log, "[hypotop] build: echo building\nbuilding\n");
	T_CONTAINS(log, "\nb\n"); /* the head's train.sh */
	T_CONTAINS(log, "token=it's \"quoted\" $HOME\n");
	char *want = xasprintf("dir=%s gpu=1\n", r);
	T_CONTAINS(log, want);
	T_CONTAINS(log, "secret=unset\n");
	T_CHECK(!fs_exists(bundle), "the bundle was left on the worker");
	/* Sent again, as after an answer lost in flight: not started again. */
	char *out2 = NULL;
	rc = run_script(script, &out2);
	T_CHECK(rc == 0, "the launch sent again exited %d", rc);
	T_STREQ(out2, "launched\n");
	T_CHECK(count_lines(w.home, "ledger") == 1, "started %d times", count_lines(w.home, "ledger"));
	free(out2);
	free(want);
	free(code);
	free(bcode);
	free(pid);
	free(log);
	free(out);
	free(r);
	free(script);
	free(launch);
	free(ledger);
	free(bundle);
	worker_free(&w);
}

/* A workspace relative to the home, as the default "hypotop" is: the bundle in it is found. */
static void relative_workspace_fetches_its_bundle(void)
{
	struct worker w;
	worker_make(&w);
	char *bundle = ship(&w);
	char *rel = remote_ship_path("ws", "one.bundle");
	char *there = path_join(w.home, rel);
	char *ship_dir = path_join(w.ws, "ship");
	struct err e = {{0}};
	T_CHECK(fs_mkdir_p(ship_dir, 0755, &e) == 0 && rename(bundle, there) == 0, "%s: %s", there,
		e.msg);
	struct remote_job rj = job_of(&w, "n0001.1", rel, NULL, "exit 0");
	rj.workspace = "ws";
	char *script = remote_launch_script(&rj);
	char *out = NULL, *r = run_dir(&w, "n0001.1");

	int rc = run_script(script, &out);
	T_CHECK(rc == 0, "the launch exited %d: %s", rc, out);
	T_CHECK(wait_file(r, "exit_code"), "no exit_code in %s", r);
	char *code = file_text(r, "exit_code");
	T_STREQ(code, "0\n");
	T_CHECK(!fs_exists(there), "the bundle was left on the worker");
	free(code);
	free(out);
	free(r);
	free(script);
	free(ship_dir);
	free(there);
	free(rel);
	free(bundle);
	worker_free(&w);
}

/* Where the job runs without git (a cluster's compute node), its commit is still checked. */
static void without_git_the_commit_is_read_from_the_work_tree(void)
{
	struct worker w;
	worker_make(&w);
	char *bundle = ship(&w);
	char *bin = path_join(w.home, "bin");
	char *git = path_join(bin, "git");
	struct err e = {{0}};
	/* git for the launch; none for the job's own look at its work tree. */
	const char *fake = "#!/bin/sh\nfor a; do [ \"$a\" = rev-parse ] && exit 127; done\n"
			   "exec /usr/bin/git \"$@\"\n";
	T_CHECK(fs_mkdir_p(bin, 0755, &e) == 0 && fs_write_atomic(git, fake, strlen(fake), 0755, &e) == 0,
		"%s", e.msg);
	char *path = xasprintf("%s:%s", bin, getenv("PATH"));
	char *old = xstrdup(getenv("PATH"));
	setenv("PATH", path, 1);
	struct remote_job rj = job_of(&w, "n0001.1", bundle, NULL, "exit 5");
	char *script = remote_launch_script(&rj);
	char *r = run_dir(&w, "n0001.1");

	T_CHECK(run_script(script, NULL) == 0, "the launch failed");
	T_CHECK(wait_file(r, "exit_code"), "no exit_code");
	char *code = file_text(r, "exit_code"), *log = file_text(r, "log");
	T_STREQ(code, "5\n");
	T_CHECK(!strstr(log ? log : "", "not at the node's commit"), "refused: %s", log);
	setenv("PATH", old, 1);
	free(code);
	free(log);
	free(r);
	free(script);
	free(old);
	free(path);
	free(git);
	free(bin);
	free(bundle);
	worker_free(&w);
}

static void failed_build_runs_nothing(void)
{
	struct worker w;
	worker_make(&w);
	char *bundle = ship(&w);
	struct remote_job rj = job_of(&w, "n0001.1", bundle, "echo no; exit 3", "echo ran > ran");
	char *script = remote_launch_script(&rj);
	char *r = run_dir(&w, "n0001.1");

	T_CHECK(run_script(script, NULL) == 0, "the launch failed");
	T_CHECK(wait_file(r, "exit_code"), "no exit_code");
	char *code = file_text(r, "exit_code"), *bcode = file_text(r, "build_exit");
	T_STREQ(bcode, "3\n");
	T_STREQ(code, "3\n");
	char *ran = xasprintf("%s/trees/host-abcd/n0001/ran", w.ws);
	T_CHECK(!fs_exists(ran), "the launch ran after a failed build");
	free(ran);
	free(code);
	free(bcode);
	free(r);
	free(script);
	free(bundle);
	worker_free(&w);
}

static void other_code_is_refused(void)
{
	struct worker w;
	worker_make(&w);
	char *bundle = ship(&w);
	struct remote_job rj = job_of(&w, "n0001.1", bundle, NULL, "true");
	char *script = remote_launch_script(&rj);
	char *r1 = run_dir(&w, "n0001.1"), *r2 = run_dir(&w, "n0001.2");
	char *tree = xasprintf("%s/trees/host-abcd/n0001", w.ws);

	T_CHECK(run_script(script, NULL) == 0, "the launch failed");
	T_CHECK(wait_file(r1, "exit_code"), "no exit_code");
	/* The tree moved to other code behind hypotop's back, and the job started again. */
	T_CHECK(t_sh("git -C '%s' checkout -q --detach %s && mkdir -p '%s' && "
		     "cp '%s/job.sh' '%s/' && cd '%s' && sh job.sh '%s' '%s' m l >log 2>&1",
		     tree, w.parent, r2, r1, r2, r2, r2, tree) == 1 << 8,
		"job.sh ran another commit");
	char *log = file_text(r2, "log"), *code = file_text(r2, "exit_code");
	char *bcode = file_text(r2, "build_exit");
	T_CONTAINS(log, "[hypotop] error: the work tree");
	T_CONTAINS(log, w.parent);
	T_CONTAINS(log, "not at the node's commit");
	T_STREQ(code, "1\n");
	T_STREQ(bcode, "1\n");
	free(log);
	free(code);
	free(bcode);
	free(tree);
	free(r1);
	free(r2);
	free(script);
	free(bundle);
	worker_free(&w);
}

static void missing_commit_asks_for_the_history(void)
{
	struct worker w;
	worker_make(&w);
	struct remote_job rj = job_of(&w, "n0001.1", NULL, NULL, "true");
	char *script = remote_launch_script(&rj);

	T_CHECK(run_script(script, NULL) == REMOTE_LACKS, "a commit never sent was launched");
	/* What the repository has: nothing yet, then the shipped head. */
	char *known = remote_known_script(w.ws, "src-1234"), *out = NULL;
	T_CHECK(run_script(known, &out) == 0, "the known script failed");
	T_STREQ(out, "");
	free(out);
	char *bundle = ship(&w);
	rj.bundle = bundle;
	free(script);
	script = remote_launch_script(&rj);
	T_CHECK(run_script(script, NULL) == 0, "the launch failed");
	T_CHECK(run_script(known, &out) == 0, "the known script failed");
	char *want = xasprintf("%s\n", w.head);
	T_STREQ(out, want);
	free(want);
	free(out);
	free(known);
	free(bundle);
	free(script);
	worker_free(&w);
}

static void unwritable_workspace_is_said(void)
{
	struct worker w;
	worker_make(&w);
	struct remote_job rj = job_of(&w, "n0001.1", NULL, NULL, "true");
	char *file = path_join(w.home, "afile");
	t_sh("touch '%s'", file);
	rj.workspace = file;
	char *script = remote_launch_script(&rj);
	int rc = run_script(script, NULL);
	T_CHECK(rc != 0 && rc != REMOTE_LACKS, "exit %d", rc);
	char *err = file_text(w.home, "script.sh.err");
	T_CONTAINS(err, "cannot make the workspace");
	free(err);
	free(script);
	free(file);
	worker_free(&w);
}

/* Two launches of one commit, the first shipping it, both with the same setup. */
struct two {
	struct worker w;
	char *bundle, *setup, *s1, *s2, *r1, *r2;
};

static void two_launches(struct two *t, const char *setup_fmt, const char *launch)
{
	worker_make(&t->w);
	t->bundle = ship(&t->w);
	t->setup = xasprintf(setup_fmt, t->w.home);
	struct remote_job rj = job_of(&t->w, "n0001.1", t->bundle, NULL, launch);
	rj.setup = t->setup;
	t->s1 = remote_launch_script(&rj);
	rj.run = "n0001.2";
	rj.bundle = NULL;
	t->s2 = remote_launch_script(&rj);
	t->r1 = run_dir(&t->w, "n0001.1");
	t->r2 = run_dir(&t->w, "n0001.2");
}

static void two_free(struct two *t)
{
	free(t->r1);
	free(t->r2);
	free(t->s1);
	free(t->s2);
	free(t->setup);
	free(t->bundle);
	worker_free(&t->w);
}

static void setup_runs_once_per_commit(void)
{
	struct two t;
	two_launches(&t, "echo set >> '%s/setups'", "true");

	T_CHECK(run_script(t.s1, NULL) == 0, "the first launch failed");
	T_CHECK(wait_file(t.r1, "exit_code"), "no exit_code");
	T_CHECK(run_script(t.s2, NULL) == 0, "the second launch failed");
	T_CHECK(wait_file(t.r2, "exit_code"), "no exit_code");
	T_CHECK(count_lines(t.w.home, "setups") == 1, "setup ran %d times",
		count_lines(t.w.home, "setups"));
	char *log = file_text(t.r1, "log");
	T_CONTAINS(log, "[hypotop] setup: echo set");
	free(log);
	two_free(&t);
}

static void failed_setup_is_a_failed_build_and_runs_again(void)
{
	struct two t;
	two_launches(&t, "echo tried >> '%s/setups'; exit 4", "echo ran > ran");
	char *ran = xasprintf("%s/trees/host-abcd/n0001/ran", t.w.ws);

	T_CHECK(run_script(t.s1, NULL) == 0, "the launch failed");
	T_CHECK(wait_file(t.r1, "exit_code"), "no exit_code");
	char *code = file_text(t.r1, "exit_code"), *bcode = file_text(t.r1, "build_exit");
	char *log = file_text(t.r1, "log");
	T_STREQ(code, "4\n");
	T_STREQ(bcode, "4\n");
	T_CONTAINS(log, "the worker's setup exited with status 4");
	T_CHECK(!fs_exists(ran), "the launch ran after a failed setup");
	/* Not marked done: the next job of the commit tries it again. */
	T_CHECK(run_script(t.s2, NULL) == 0, "the second launch failed");
	T_CHECK(wait_file(t.r2, "exit_code"), "no exit_code");
	T_CHECK(count_lines(t.w.home, "setups") == 2, "setup tried %d times",
		count_lines(t.w.home, "setups"));
	free(log);
	free(code);
	free(bcode);
	free(ran);
	two_free(&t);
}

static char proc_state(long long pid)
{
	char path[64], *text;
	char st = '?';

	snprintf(path, sizeof path, "/proc/%lld/stat", pid);
	text = fs_read(path, NULL, NULL);
	const char *p = text ? strrchr(text, ')') : NULL;
	if (p && p[1] == ' ')
		st = p[2];
	free(text);
	return st;
}

/* Until the process is in state want (or gone, for 0), 10 s at most. */
static bool wait_state(long long pid, char want)
{
	int64_t deadline = mono_ms() + 10000;
	char st;

	while ((st = proc_state(pid)) != (want ? want : '?') && mono_ms() < deadline)
		usleep(10000);
	return st == (want ? want : '?');
}

static void poll_and_signals(void)
{
	struct worker w;
	worker_make(&w);
	char *bundle = ship(&w);
	char *fake = path_join(w.home, "bin");
	struct remote_job a = job_of(&w, "n0001.1", bundle, NULL, "printf 'x%.0s' 1 2 3; exit 5");
	struct remote_job b = job_of(&w, "n0002.1", NULL, NULL, "echo hi; exec sleep 60");
	b.node = "n0002";
	char *sa = remote_launch_script(&a), *sb = remote_launch_script(&b);
	char *ra = run_dir(&w, "n0001.1"), *rb = run_dir(&w, "n0002.1");
	char *rel_a = remote_run_path("ws", "host-abcd", "n0001.1");
	char *rel_b = remote_run_path("ws", "host-abcd", "n0002.1");
	char *rel_c = remote_run_path("ws", "host-abcd", "n0003.1");
	char *runs[] = {rel_a, rel_b, rel_c};

	T_STREQ(rel_a, "ws/runs/host-abcd/n0001.1");
	T_CHECK(run_script(sa, NULL) == 0 && run_script(sb, NULL) == 0, "a launch failed");
	T_CHECK(wait_file(ra, "exit_code") && wait_file(rb, "pgid"), "the jobs did not start");
	/* A fake nvidia-smi on the PATH. */
	T_CHECK(t_sh("mkdir -p '%s' && printf '#!/bin/sh\\necho \"0, 35, 1024, 81920, 45\"\\n"
		     "echo \"1, [N/A], 3, 81920, 50\"\\n' > '%s/nvidia-smi' && chmod +x "
		     "'%s/nvidia-smi'",
		     fake, fake, fake) == 0,
		"cannot make nvidia-smi");
	char *path = xasprintf("%s:%s", fake, getenv("PATH"));
	char *old_path = xstrdup(getenv("PATH"));
	setenv("PATH", path, 1);
	char *poll = remote_poll_script(runs, 3, true), *out = NULL;
	T_CHECK(run_script(poll, &out) == 0, "the poll failed");
	setenv("PATH", old_path, 1);
	struct remote_state st[3];
	struct worker_gpu gpu[WORKER_GPUS_MAX];
	size_t ngpu = 0;
	remote_parse_poll(out, st, 3, gpu, &ngpu);
	T_CHECK(st[0].seen && st[0].launched && st[0].pid > 0, "a: %s", out);
	T_CHECK(st[0].exit_code == 5 && st[0].build_exit == -1 && st[0].log_size > 3, "a: %s",
		out);
	T_CHECK(st[1].seen && st[1].launched && st[1].alive && st[1].exit_code == -1, "b: %s", out);
	T_CHECK(st[2].seen && !st[2].launched && !st[2].pid && st[2].log_size == -1, "c: %s", out);
	T_CHECK(ngpu == 2 && gpu[0].index == 0 && gpu[0].util == 35 && gpu[0].mem_total == 81920 &&
			gpu[1].index == 1 && gpu[1].util == -1 && gpu[1].temp == 50,
		"gpus: %s", out);
	/* Paused, resumed, stopped: the job's session, and its end recorded as a shell says it. */
	char *pg = file_text(rb, "pgid");
	long long job = pg ? atoll(pg) : 0;
	char *sig = remote_signal_script(rel_b, SIGSTOP);
	T_CHECK(run_script(sig, NULL) == 0 && wait_state(job, 'T'), "not stopped: %c",
		proc_state(job));
	free(sig);
	sig = remote_signal_script(rel_b, SIGCONT);
	T_CHECK(run_script(sig, NULL) == 0 && wait_state(job, 'S'), "not resumed: %c",
		proc_state(job));
	free(sig);
	sig = remote_signal_script(rel_b, SIGTERM);
	T_CHECK(run_script(sig, NULL) == 0 && wait_file(rb, "exit_code"), "not ended");
	char *code = file_text(rb, "exit_code");
	T_STREQ(code, "143\n");
	free(sig);
	sig = remote_signal_script(rel_b, SIGTERM);
	T_CHECK(run_script(sig, NULL) != 0, "a job that ended was signalled");
	T_CHECK(remote_signal_script(rel_b, SIGWINCH) == NULL, "an unknown signal got a script");
	free(code);
	free(sig);
	free(pg);
	free(poll);
	free(out);
	free(path);
	free(old_path);
	free(rel_a);
	free(rel_b);
	free(rel_c);
	free(ra);
	free(rb);
	free(sa);
	free(sb);
	free(fake);
	free(bundle);
	worker_free(&w);
}

static void gpu_lines_parse(void)
{
	struct worker_gpu g[4];

	T_CHECK(remote_parse_gpus("", g, 4) == 0, "nothing");
	T_CHECK(remote_parse_gpus("No devices were found\n", g, 4) == 0, "no devices");
	size_t n = remote_parse_gpus("0, 99, 10, 20, 30\n"
				     "garbage\n"
				     "1, [Not Supported], [N/A], 16384, 41\n"
				     "x, 1, 2, 3, 4\n"
				     "2, 5\n"
				     "3, 1, 2, 3, 4, 5\n"
				     "4,7.5,1,2,3",
				     g, 4);
	T_CHECK(n == 4, "%zu GPUs", n);
	T_CHECK(g[0].index == 0 && g[0].util == 99 && g[0].mem_used == 10 && g[0].mem_total == 20 &&
			g[0].temp == 30,
		"gpu 0");
	T_CHECK(g[1].index == 1 && g[1].util == -1 && g[1].mem_used == -1 && g[1].mem_total == 16384 &&
			g[1].temp == 41,
		"gpu 1");
	T_CHECK(g[2].index == 2 && g[2].util == 5 && g[2].mem_used == -1 && g[2].temp == -1, "gpu 2");
	T_CHECK(g[3].index == 4 && g[3].util == 7.5 && g[3].temp == 3, "a line of six fields was read");
	T_CHECK(remote_parse_gpus("0, 1, 2, 3, 4\n1, 1, 2, 3, 4\n", g, 1) == 1, "past max");
}

static void poll_output_that_does_not_parse(void)
{
	struct remote_state st[2];
	size_t ngpu = 9;
	struct worker_gpu g[WORKER_GPUS_MAX];

	remote_parse_poll("J 0 1 12 34 1 - - 100\n"
			  "J 1 1 x y 1 300 -3 zz\n"
			  "J 7 1 1 1 1 1 1 1\n"
			  "J 1 1\n"
			  "noise\n",
			  st, 2, g, &ngpu);
	T_CHECK(st[0].seen && st[0].pid == 12 && st[0].start_time == 34 && st[0].alive &&
			st[0].exit_code == -1 && st[0].log_size == 100,
		"job 0");
	T_CHECK(st[1].seen && st[1].pid == 0 && !st[1].alive && st[1].build_exit == -1 &&
			st[1].exit_code == -1 && st[1].log_size == -1,
		"job 1");
	T_CHECK(ngpu == 0, "%zu GPUs", ngpu);
	remote_parse_poll(NULL, st, 2, NULL, NULL);
	T_CHECK(!st[0].seen && !st[1].seen, "seen in nothing");
}

/* A Slurm poll's answer: squeue's lines and scontrol's, matched to the jobs by their ids. */
static void slurm_poll_parses(void)
{
	struct remote_state st[5];
	char down[128];
	struct tm tm;
	time_t now = time(NULL);
	char submitted[32];

	/* Submitted 90 seconds ago by this machine's clock, as squeue prints it. */
	time_t at = now - 90;
	localtime_r(&at, &tm);
	strftime(submitted, sizeof submitted, "%Y-%m-%dT%H:%M:%S", &tm);
	char *out = xasprintf("Q 40|RUNNING|None|node7|1-02:03:04|2026-01-01T00:00:00\n"
			      "Q 41|PENDING|Resources|(null)|0:00|%s\n"
			      "Q 99|RUNNING|None|node1|5:00|2026-01-01T00:00:00\n"
			      "J 0 1 40 - 0 0 - 120\n"
			      "J 1 1 41 - 0 - - -\n"
			      "J 2 1 42 - 0 0 - 10\n"
			      "S 42 JobId=42 JobName=hypotop-n0002 UserId=me(1) JobState=TIMEOUT "
			      "Reason=TimeLimit Dependency=(null) NodeList=node3 StdOut=/w/log\n"
			      "J 3 1 43 - 0 0 0 10\n"
			      "S 43 slurm_load_jobs error: Invalid job id specified\n"
			      "J 4 1 - - 0 - - -\n",
			      submitted);
	remote_parse_slurm_poll(out, st, 5, (long long)now, down, sizeof down);
	free(out);
	T_CHECK(!*down, "down: %s", down);
	T_CHECK(st[0].seen && st[0].pid == 40 && st[0].alive && !strcmp(st[0].slurm_state, "RUNNING") &&
			!strcmp(st[0].slurm_node, "node7") && !st[0].slurm_reason[0] &&
			st[0].slurm_since_s == 86400 + 2 * 3600 + 3 * 60 + 4 && st[0].build_exit == 0 &&
			st[0].log_size == 120,
		"job 0: %s %s %lld", st[0].slurm_state, st[0].slurm_node, st[0].slurm_since_s);
	T_CHECK(st[1].alive && !strcmp(st[1].slurm_state, "PENDING") &&
			!strcmp(st[1].slurm_reason, "Resources") && st[1].slurm_since_s >= 90 &&
			st[1].slurm_since_s < 120,
		"job 1: %s %s %lld", st[1].slurm_state, st[1].slurm_reason, st[1].slurm_since_s);
	T_CHECK(!st[2].alive && !strcmp(st[2].slurm_state, "TIMEOUT") &&
			!strcmp(st[2].slurm_reason, "TimeLimit") && !strcmp(st[2].slurm_node, "node3") &&
			!strcmp(remote_slurm_kind(st[2].slurm_state), "timeout"),
		"job 2: %s %s", st[2].slurm_state, st[2].slurm_reason);
	T_CHECK(!st[3].alive && !strcmp(st[3].slurm_state, "GONE") && st[3].exit_code == 0,
		"job 3: %s", st[3].slurm_state);
	T_CHECK(st[4].seen && st[4].launched && !st[4].pid && !st[4].slurm_state[0] && !st[4].alive,
		"job 4: %lld %s", st[4].pid, st[4].slurm_state);
	T_CHECK(!remote_slurm_kind("COMPLETED") && !remote_slurm_kind("FAILED") &&
			!strcmp(remote_slurm_kind("OUT_OF_MEMORY"), "oom") &&
			!strcmp(remote_slurm_kind("CANCELLED"), "slurm_cancelled"),
		"kinds");
	T_CHECK(remote_slurm_active("REQUEUED") && remote_slurm_active("SUSPENDED") &&
			!remote_slurm_active("COMPLETED") && !remote_slurm_active(""),
		"active");

	/* The controller out of reach: no job is known, and the worker says why. */
	remote_parse_slurm_poll("D squeue: error: Unable to contact slurm controller (connect "
				"failure) \n",
				st, 2, (long long)now, down, sizeof down);
	T_CHECK(!st[0].seen && strstr(down, "Unable to contact slurm controller"), "down: %s",
		down);
	/* Garbage in every field is passed over. */
	remote_parse_slurm_poll("Q x|y\nQ 40|\nS\nS 40\nJ 0 1 40 - 0 - - -\nQ 40|R|||zz|\n", st, 1,
				(long long)now, down, sizeof down);
	T_CHECK(st[0].seen && !strcmp(st[0].slurm_state, "R") && st[0].slurm_since_s == -1 &&
			!st[0].alive,
		"garbage: %s %lld", st[0].slurm_state, st[0].slurm_since_s);
}

/* What each signal becomes for a Slurm job. */
static void slurm_signals(void)
{
	char *s;

	T_CHECK((s = remote_slurm_signal_script(7, SIGTERM)) && !strcmp(s, "scancel 7\n"), "TERM: %s",
		s);
	free(s);
	T_CHECK((s = remote_slurm_signal_script(7, SIGSTOP)) && strstr(s, "scontrol hold 7") &&
			strstr(s, "scancel --full --signal=STOP 7"),
		"STOP: %s", s);
	free(s);
	T_CHECK((s = remote_slurm_signal_script(7, SIGCONT)) && strstr(s, "scontrol release 7") &&
			strstr(s, "scancel --full --signal=CONT 7"),
		"CONT: %s", s);
	free(s);
	T_CHECK(!remote_slurm_signal_script(0, SIGTERM) && !remote_slurm_signal_script(7, SIGSEGV),
		"no id, or a signal not sent");
}

int main(void)
{
	vcs_init();
	T_RUN(launch_runs_the_commit_once_and_records_it);
	T_RUN(relative_workspace_fetches_its_bundle);
	T_RUN(without_git_the_commit_is_read_from_the_work_tree);
	T_RUN(failed_build_runs_nothing);
	T_RUN(other_code_is_refused);
	T_RUN(missing_commit_asks_for_the_history);
	T_RUN(unwritable_workspace_is_said);
	T_RUN(setup_runs_once_per_commit);
	T_RUN(failed_setup_is_a_failed_build_and_runs_again);
	T_RUN(poll_and_signals);
	T_RUN(gpu_lines_parse);
	T_RUN(poll_output_that_does_not_parse);
	T_RUN(slurm_poll_parses);
	T_RUN(slurm_signals);
	vcs_shutdown();
	T_END();
}
