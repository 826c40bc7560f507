/*
 * cmd_check.c — `hypotop check WORKDIR [--seconds S]`: the baseline's
 * command run twice before the loop runs it, to say what a new user
 * would learn only hours later: whether the metric is read, whether
 * HYPOTOP_SEED changes the run, whether each param changes the command or
 * the param file, and what the run writes into its work tree.
 *
 * Each run gets a copy of the baseline's commit of its own (no .git) and
 * a run folder, both in a temp folder removed at the end; the workdir is
 * only read. Output: one line per finding, "ok", "warn" or "FAIL"; the
 * exit status is 1 when any failed.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "hypotop/cmd.h"
#include "hypotop/fsutil.h"
#include "hypotop/launch.h"
#include "hypotop/metrics.h"
#include "hypotop/params.h"
#include "hypotop/vcs.h"
#include "hypotop/workdir.h"

#define SHOW_LINES 3  /* lines shown that gave the metric */
#define SHOW_FILES 8  /* files shown that a run wrote */
#define KILL_GRACE_MS 2000

struct check {
	const struct config *cfg;
	const char *commit;
	const char *top; /* the temp folder of the runs, their HYPOTOP_WORKDIR */
	double seconds;  /* 0: to completion */
	int failed, warned;
};

static void say(struct check *c, const char *level, const char *fmt, ...) PRINTF_LIKE(3, 4);

static void say(struct check *c, const char *level, const char *fmt, ...)
{
	va_list ap;

	c->failed += !strcmp(level, "FAIL");
	c->warned += !strcmp(level, "warn");
	printf("%-4s  ", level);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	fflush(stdout);
}

/* ---- one run ------------------------------------------------------------- */

struct run {
	char *tree, *dir, *log; /* its copy of the source, its run folder, its log */
	long seed;
	bool stopped; /* at the time limit */
	int status;   /* exit status; -1 killed by a signal */
	double took;
	struct metrics m;
	char *shown[SHOW_LINES]; /* lines that gave the metric */
	long shown_at[SHOW_LINES];
	size_t nshown;
};

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* cmd through /bin/sh in r's tree, its output to r's log; stopped at limit (0: none). */
static int run_cmd(struct check *c, struct run *r, const char *cmd, double limit,
		   struct err *e)
{
	int fd = open(r->log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);

	if (fd < 0) {
		err_set(e, "%s: %s", r->log, strerror(errno));
		return -1;
	}
	double t0 = now_s();
	pid_t pid = fork();
	if (pid < 0) {
		err_set(e, "fork: %s", strerror(errno));
		close(fd);
		return -1;
	}
	if (pid == 0) {
		char num[32];
		int in = open("/dev/null", O_RDONLY);
		setpgid(0, 0);
		if (in >= 0)
			dup2(in, 0);
		dup2(fd, 1);
		dup2(fd, 2);
		if (chdir(r->tree) < 0)
			_exit(127);
		setenv("HYPOTOP_NODE", "n0000", 1);
		setenv("HYPOTOP_RUN_DIR", r->dir, 1);
		setenv("HYPOTOP_COMMIT", c->commit, 1);
		snprintf(num, sizeof num, "%ld", r->seed);
		setenv("HYPOTOP_SEED", num, 1);
		setenv("HYPOTOP_WORKDIR", c->top, 1); /* a stand-in: the workdir is only read */
		/* The model's key is the supervisor's, not the experiment's (as in a real run). */
		unsetenv("ANTHROPIC_API_KEY");
		unsetenv("OPENAI_API_KEY");
		if (c->cfg->llm_api_key_env)
			unsetenv(c->cfg->llm_api_key_env);
		execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
		_exit(127);
	}
	close(fd);
	setpgid(pid, pid);
	int st = 0;
	double killed_at = 0;
	for (;;) {
		pid_t w = waitpid(pid, &st, WNOHANG);
		if (w == pid)
			break;
		if (w < 0 && errno != EINTR) {
			err_set(e, "waitpid: %s", strerror(errno));
			return -1;
		}
		double t = now_s();
		if (limit > 0 && !killed_at && t - t0 >= limit) {
			kill(-pid, SIGTERM);
			killed_at = t;
			r->stopped = true;
		} else if (killed_at && t - killed_at >= KILL_GRACE_MS / 1000.0) {
			kill(-pid, SIGKILL);
		}
		usleep(20000); /* a child process to wait for: no descriptor to poll */
	}
	kill(-pid, SIGKILL); /* what it left behind in its group */
	r->took += now_s() - t0;
	r->status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
	return 0;
}

/* The log through the metric parser, noting the lines that gave the metric. */
static void read_log(struct check *c, struct run *r)
{
	size_t len;
	struct err e = {{0}};
	char *text = fs_read(r->log, &len, &e);
	long lineno = 0;

	for (char *p = text, *nl; p && p < text + len; p = nl + 1) {
		nl = memchr(p, '\n', (size_t)(text + len - p));
		if (!nl)
			nl = text + len;
		lineno++;
		const struct series *s = metrics_get(&r->m, c->cfg->metric);
		uint64_t before = s ? s->count + s->nonfinite : 0;
		metrics_feed(&r->m, p, (size_t)(nl - p));
		s = metrics_get(&r->m, c->cfg->metric);
		if (s && s->count + s->nonfinite > before) {
			size_t k = r->nshown < SHOW_LINES ? r->nshown++ : SHOW_LINES - 1;
			free(r->shown[k]);
			r->shown[k] = xstrndup(p, (size_t)(nl - p) < 160 ? (size_t)(nl - p) : 160);
			r->shown_at[k] = lineno;
		}
	}
	free(text);
}

/* The command with the baseline's value of each {NAME}, or another value for one param. */
static char *command_with(const struct config *cfg, const char *name, const cJSON *value,
			  struct err *e)
{
	const cJSON *params = cJSON_GetObjectItemCaseSensitive(cfg->search_space, "params");
	cJSON *values = cJSON_CreateObject();
	char *out = NULL;

	for (const cJSON *m = params ? params->child : NULL; m; m = m->next) {
		const cJSON *v = cJSON_GetObjectItemCaseSensitive(m, "default");
		if (name && !strcmp(name, m->string))
			v = value;
		if (v)
			cJSON_AddItemToObject(values, m->string, cJSON_Duplicate(v, true));
	}
	launch_expand(cfg->launch, values, &out, e);
	cJSON_Delete(values);
	return out;
}

/* ---- what a run wrote ----------------------------------------------------- */

struct entry {
	char *path;
	off_t size;
	struct timespec mtime;
};

struct listing {
	struct entry *v;
	size_t n, cap;
};

static void list_files(struct listing *l, const char *root, const char *rel)
{
	char *dir = rel ? path_join(root, rel) : xstrdup(root);
	DIR *d = opendir(dir);
	struct dirent *de;

	while (d && (de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		char *sub = rel ? xasprintf("%s/%s", rel, de->d_name) : xstrdup(de->d_name);
		char *full = path_join(root, sub);
		struct stat st;
		if (lstat(full, &st) == 0 && S_ISDIR(st.st_mode)) {
			list_files(l, root, sub);
			free(sub);
		} else {
			if (l->n == l->cap) {
				l->cap = l->cap ? l->cap * 2 : 64;
				l->v = xrealloc(l->v, l->cap * sizeof *l->v);
			}
			l->v[l->n++] = (struct entry){sub, st.st_size, st.st_mtim};
		}
		free(full);
	}
	if (d)
		closedir(d);
	free(dir);
}

static void listing_free(struct listing *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i].path);
	free(l->v);
	memset(l, 0, sizeof *l);
}

/* The files of after that are new or changed since before, as "path (N B)". */
static size_t written(const struct listing *before, const struct listing *after, struct buf *b)
{
	size_t n = 0;

	for (size_t i = 0; i < after->n; i++) {
		const struct entry *a = &after->v[i], *old = NULL;
		for (size_t k = 0; k < before->n && !old; k++)
			if (!strcmp(before->v[k].path, a->path))
				old = &before->v[k];
		if (old && old->size == a->size && old->mtime.tv_sec == a->mtime.tv_sec &&
		    old->mtime.tv_nsec == a->mtime.tv_nsec)
			continue;
		if (n++ < SHOW_FILES)
			buf_printf(b, "%s%s (%lld B)", n > 1 ? ", " : "", a->path,
				   (long long)a->size);
	}
	if (n > SHOW_FILES)
		buf_printf(b, " and %zu more", n - SHOW_FILES);
	return n;
}

/* ---- the findings ---------------------------------------------------------- */

static void report_metric(struct check *c, struct run *r)
{
	const struct config *cfg = c->cfg;
	const struct series *s = metrics_get(&r->m, cfg->metric);
	char how[96];

	if (r->stopped)
		snprintf(how, sizeof how, "stopped after %.0f s", r->took);
	else
		snprintf(how, sizeof how, "ended in %.1f s with exit status %d", r->took, r->status);
	say(c, r->status == 0 || r->stopped ? "ok" : "FAIL", "run (seed %ld): %s, %llu lines",
	    r->seed, how, (unsigned long long)r->m.lines);
	if (s && s->count) {
		say(c, "ok", "metric %s: read %llu time%s, last %.6g, from lines such as:",
		    cfg->metric, (unsigned long long)s->count, s->count == 1 ? "" : "s", s->last);
		for (size_t i = 0; i < r->nshown; i++)
			printf("        %ld: %s\n", r->shown_at[i], r->shown[i]);
	} else {
		say(c, "FAIL", "metric %s: %s in the run's output; print it as %s=VALUE or as a "
			       "JSON line, or give a regex in metrics.patterns%s",
		    cfg->metric, s ? "only non-finite values" : "never read", cfg->metric,
		    r->stopped ? ", or let the run go longer (--seconds 0 runs it to the end)" : "");
	}
	struct buf names;
	buf_init(&names);
	for (size_t i = 0; i < r->m.len; i++)
		buf_printf(&names, "%s%s", i ? ", " : "", r->m.v[i].name);
	if (r->m.len)
		say(c, "ok", "series read: %s", names.data);
	buf_free(&names);
}

/* Whether two runs' values of a series differ where both have them. */
static bool series_differ(const struct series *a, const struct series *b)
{
	if (a->first != b->first)
		return true;
	size_t n = a->ring_len < b->ring_len ? a->ring_len : b->ring_len;
	if (a->count > METRICS_RING || b->count > METRICS_RING)
		return false; /* the rings hold the newest points: no common start */
	for (size_t i = 0; i < n; i++)
		if (a->ring[(a->ring_head + i) % METRICS_RING].value !=
		    b->ring[(b->ring_head + i) % METRICS_RING].value)
			return true;
	return false;
}

static void report_seed(struct check *c, struct run *a, struct run *b)
{
	size_t common = 0;

	for (size_t i = 0; i < a->m.len; i++) {
		const struct series *sb = metrics_get(&b->m, a->m.v[i].name);
		if (!sb || !a->m.v[i].count || !sb->count)
			continue;
		common++;
		if (series_differ(&a->m.v[i], sb)) {
			say(c, "ok", "HYPOTOP_SEED: %s differs between seeds %ld and %ld: the run "
				     "uses the seed",
			    a->m.v[i].name, a->seed, b->seed);
			return;
		}
	}
	if (!common) {
		say(c, "warn", "HYPOTOP_SEED: the two runs printed no series to compare");
		return;
	}
	say(c, c->cfg->noise_seeds > 1 ? "FAIL" : "warn",
	    "HYPOTOP_SEED: seeds %ld and %ld printed the same values: the run does not seem to "
	    "use it, so repeats measure no noise; seed every generator from it "
	    "(random.seed(int(os.environ[\"HYPOTOP_SEED\"])), numpy, torch.manual_seed)",
	    a->seed, b->seed);
}

/* A value of spec's distribution other than cur, for the params check. */
static cJSON *other_value(const cJSON *spec, const cJSON *cur)
{
	const cJSON *d = params_dist(spec);
	const cJSON *lo = cJSON_GetArrayItem(d, 0), *hi = cJSON_GetArrayItem(d, 1);

	if (d && !strcmp(d->string, "choice")) {
		for (const cJSON *x = d->child; x; x = x->next)
			if (!cur || !cJSON_Compare(x, cur, true))
				return cJSON_Duplicate(x, true);
		return NULL;
	}
	if (!cJSON_IsNumber(lo) || !cJSON_IsNumber(hi))
		return NULL;
	bool at_hi = cJSON_IsNumber(cur) && cur->valuedouble == hi->valuedouble;
	return cJSON_CreateNumber(at_hi ? lo->valuedouble : hi->valuedouble);
}

static void report_params(struct check *c, const char *base_cmd)
{
	const struct config *cfg = c->cfg;
	const cJSON *params = cJSON_GetObjectItemCaseSensitive(cfg->search_space, "params");
	const cJSON *f = cJSON_GetObjectItemCaseSensitive(cfg->search_space, "file");
	cJSON *file_values = NULL;
	char *text = NULL;
	struct err e = {{0}};

	if (!params) {
		say(c, "warn", "params: no search_space in config.json: the offline planner has "
			       "nothing to change");
		return;
	}
	if (cJSON_IsString(f) &&
	    (vcs_read_file(cfg->source_dir, c->commit, f->valuestring, &text, NULL, &e) < 0 ||
	     params_read(f->valuestring, text, &file_values, &e) < 0))
		say(c, "FAIL", "search_space.file: %s", e.msg);
	for (const cJSON *m = params->child; m; m = m->next) {
		bool flag = launch_uses(cfg->launch, m->string);
		const cJSON *cur = flag ? cJSON_GetObjectItemCaseSensitive(m, "default")
					: cJSON_GetObjectItemCaseSensitive(file_values, m->string);
		cJSON *v = other_value(m, cur);
		char *shown = v ? cJSON_PrintUnformatted(v) : NULL;
		if (!v) {
			say(c, "warn", "%s: no other value in its distribution to try", m->string);
		} else if (flag) {
			char *cmd = command_with(cfg, m->string, v, &e);
			if (cmd && strcmp(cmd, base_cmd))
				say(c, "ok", "%s: a flag; at %s the command is: %s", m->string, shown,
				    cmd);
			else
				say(c, "FAIL", "%s: at %s the command does not change%s%s", m->string,
				    shown, cmd ? "" : ": ", cmd ? "" : e.msg);
			free(cmd);
		} else if (text && cur) {
			cJSON *one = cJSON_CreateObject();
			char *next = NULL;
			cJSON_AddItemToObject(one, m->string, cJSON_Duplicate(v, true));
			if (params_write(f->valuestring, text, one, &next, &e) < 0)
				say(c, "FAIL", "%s: %s", m->string, e.msg);
			else if (!strcmp(next, text))
				say(c, "FAIL", "%s: at %s %s does not change", m->string, shown,
				    f->valuestring);
			else
				say(c, "ok", "%s: in %s; at %s the file changes", m->string,
				    f->valuestring, shown);
			free(next);
			cJSON_Delete(one);
		} else if (text) {
			say(c, "FAIL", "%s: neither a {%s} of launch nor in %s", m->string, m->string,
			    f->valuestring);
		}
		free(shown);
		cJSON_Delete(v);
	}
	cJSON_Delete(file_values);
	free(text);
}

/* ---- the command ----------------------------------------------------------- */

static int run_prepare(struct check *c, struct run *r, const char *top, int k, struct err *e)
{
	r->tree = xasprintf("%s/tree%d", top, k);
	r->dir = xasprintf("%s/run%d", top, k);
	r->log = xasprintf("%s/run%d.log", top, k);
	r->seed = c->cfg->seed + k;
	if (fs_mkdir_p(r->dir, 0755, e) < 0 || vcs_export(c->cfg->source_dir, c->commit, r->tree, e) < 0)
		return -1;
	return metrics_init(&r->m, c->cfg->metric_patterns, e);
}

static void run_free(struct run *r)
{
	free(r->tree);
	free(r->dir);
	free(r->log);
	for (size_t i = 0; i < r->nshown; i++)
		free(r->shown[i]);
	metrics_free(&r->m);
}

static int check_runs(struct check *c, const char *top, const char *cmd, struct err *e)
{
	struct run runs[2] = {{0}};
	struct listing before = {0}, after = {0};
	int rc = -1;

	for (int k = 0; k < 2; k++) {
		struct run *r = &runs[k];
		if (run_prepare(c, r, top, k, e) < 0)
			goto out;
		if (!k)
			list_files(&before, r->tree, NULL);
		if (c->seconds > 0)
			printf("....  run %d of 2 (HYPOTOP_SEED=%ld, at most %g s): %s\n", k + 1,
			       r->seed, c->seconds, cmd);
		else
			printf("....  run %d of 2 (HYPOTOP_SEED=%ld, to its end): %s\n", k + 1,
			       r->seed, cmd);
		fflush(stdout);
		if (c->cfg->build) {
			if (run_cmd(c, r, c->cfg->build, 0, e) < 0)
				goto out;
			if (r->status != 0) {
				read_log(c, r);
				say(c, "FAIL", "build: exit status %d; see its output below", r->status);
				rc = 0;
				goto out;
			}
		}
		if (run_cmd(c, r, cmd, c->seconds, e) < 0)
			goto out;
		read_log(c, r);
		if (!k)
			list_files(&after, r->tree, NULL);
	}
	report_metric(c, &runs[0]);
	report_seed(c, &runs[0], &runs[1]);
	struct buf b;
	buf_init(&b);
	size_t n = written(&before, &after, &b);
	if (n)
		say(c, "warn", "the run wrote %zu file%s into its work tree: %s; a run's work tree "
			       "is reset for the next run, so these are deleted: write checkpoints "
			       "and outputs under $HYPOTOP_RUN_DIR",
		    n, n == 1 ? "" : "s", b.data);
	else
		say(c, "ok", "the run wrote nothing into its work tree");
	buf_reset(&b);
	struct listing kept = {0}, none = {0};
	list_files(&kept, runs[0].dir, NULL);
	n = written(&none, &kept, &b);
	if (n)
		say(c, "ok", "the run wrote %zu file%s under $HYPOTOP_RUN_DIR (kept): %s", n,
		    n == 1 ? "" : "s", b.data);
	listing_free(&kept);
	buf_free(&b);
	rc = 0;
out:
	if (c->failed && runs[0].log) {
		/* The end of the first run's output, for the person to see why. */
		size_t len = 0;
		char *text = fs_read(runs[0].log, &len, e);
		const char *p = text ? text + len : NULL;
		for (int lines = 0; p && p > text && lines <= 10; p--)
			lines += p[-1] == '\n';
		if (p && p > text)
			p++; /* past the newline before the last ten lines */
		if (len)
			printf("\nthe end of the first run's output:\n%.*s\n", (int)(text + len - p), p);
		else
			printf("\nthe first run printed nothing\n");
		free(text);
	}
	listing_free(&before);
	listing_free(&after);
	run_free(&runs[0]);
	run_free(&runs[1]);
	return rc;
}

int cmd_check(int argc, char **argv)
{
	struct check c = {.seconds = 10};
	struct workdir w;
	struct err e = {{0}};
	const char *path = NULL;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--seconds") && i + 1 < argc) {
			if (parse_double(argv[++i], &c.seconds) < 0 || c.seconds < 0) {
				cmd_fail(EXIT_USAGE, "--seconds: \"%s\" is not a number of seconds "
						     "(0 runs to the end)", argv[i]);
				return EXIT_USAGE;
			}
		} else if (argv[i][0] == '-' || path) {
			cmd_usage("check", 1);
			return EXIT_USAGE;
		} else {
			path = argv[i];
		}
	}
	if (!path) {
		cmd_usage("check", 1);
		return EXIT_USAGE;
	}
	if (workdir_open(&w, path, WD_READ, NULL, &e) != WD_OK)
		return cmd_fail(EXIT_USAGE, "%s", e.msg);
	struct node *base = tree_get(&w.tree, 0);
	c.cfg = &w.cfg;
	c.commit = base ? base->commit : NULL;
	int status = EXIT_RUNTIME;
	char *cmd = NULL, *top = NULL;
	if (!c.commit) {
		cmd_fail(EXIT_USAGE, "%s: the workdir has no baseline commit", path);
		goto out;
	}
	cmd = command_with(c.cfg, NULL, NULL, &e);
	if (!cmd) {
		cmd_fail(EXIT_USAGE, "%s/config.json: %s", path, e.msg);
		goto out;
	}
	const char *tmp = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
	top = xasprintf("%s/hypotop-check.XXXXXX", tmp);
	if (!mkdtemp(top)) {
		cmd_fail(EXIT_RUNTIME, "%s: %s", top, strerror(errno));
		goto out;
	}
	c.top = top;
	printf("check %s: the baseline, commit %.12s of %s\n", path, c.commit, c.cfg->source_dir);
	if (check_runs(&c, top, cmd, &e) < 0) {
		cmd_fail(EXIT_RUNTIME, "check: %s", e.msg);
		goto out;
	}
	report_params(&c, cmd);
	printf("\n%s: %d failed, %d warning%s\n", c.failed ? "FAILED" : "passed", c.failed,
	       c.warned, c.warned == 1 ? "" : "s");
	status = c.failed ? EXIT_RUNTIME : EXIT_OK;
out:
	if (top)
		fs_remove_tree(top);
	free(top);
	free(cmd);
	workdir_close(&w);
	return status;
}
