/*
 * Screen tests: the terminal UI drawn into an in-memory screen (newterm on
 * a pipe for keys and a file for output, no terminal), keys fed in through
 * the pipe, the screen dumped as text plus a role (colour) line per row and
 * compared with tests/golden/<name>.txt. `make golden` rewrites the golden
 * files (HYPOTOP_GOLDEN=update); review their diff before committing.
 *
 * Everything shown is fixed: the workdir, the run's log and metrics, the
 * clock, the terminal type (xterm: 8 colours) and size.
 */
#include "t.h"

#include <fcntl.h>
#include <locale.h>
#include <time.h>
#include <unistd.h>

#include "hypotop/fsutil.h"
#include "hypotop/ops.h"
#include "hypotop/ui_int.h"
#include "hypotop/workdir.h"

#define T0 1700000000000LL

static int64_t fixed_now(void)
{
	return T0 + 95 * 1000;
}

struct fx {
	char *base, *wd_path, *out_path;
	struct workdir wd;
	struct sched sched;
	int keys;
	FILE *in, *out;
	struct ui *ui;
	int applied;
	enum op_kind last_op;
	int paused_calls, quit_calls;
};

static int fx_apply(void *ctx, const struct op *op, uint32_t *node, struct err *e)
{
	struct fx *f = ctx;

	f->applied++;
	f->last_op = op->kind;
	return op_apply(&f->wd, op, true, node, e);
}

static void fx_set_paused(void *ctx, bool paused)
{
	struct fx *f = ctx;

	f->paused_calls++;
	f->sched.paused = paused;
}

static void fx_quit(void *ctx)
{
	struct fx *f = ctx;

	f->quit_calls++;
}

static void write_file(struct fx *f, const char *rel, const char *text)
{
	struct err e = {{0}};
	char *path = path_join(f->wd_path, rel);
	char *dir = xstrdup(path);
	*strrchr(dir, '/') = '\0';
	fs_mkdir_p(dir, 0755, &e);
	if (fs_write_atomic(path, text, strlen(text), 0644, &e) < 0)
		printf("# %s\n", e.msg);
	free(dir);
	free(path);
}

static struct node *add(struct fx *f, uint32_t parent, const char *name, enum node_status st)
{
	struct node *n = tree_add(&f->wd.tree, parent);

	n->name = xstrdup(name);
	n->hypothesis = xasprintf("%s should lower val_loss", name);
	n->status = n->resume_to = (uint8_t)st;
	n->created = T0;
	n->improved = -1;
	return n;
}

static void metric(struct node *n, double v, int improved)
{
	n->has_metric = true;
	n->metric = v;
	n->improved = (int8_t)improved;
}

static const char run_log[] =
	"[hypotop] launch: python3 train.py\n"
	"total_steps=1500\n"
	"step=100 loss=0.65360\n"
	"step=200 loss=0.54952\n"
	"\033]0;pwned\007title line\n"
	"\033[2Jcleared\n"
	"\033[1;31mred\033[0m text\n"
	"bell\007here\n"
	"step=300 loss=0.32886\n"
	"step=400 loss=0.42026\n"
	"step=500 loss=0.38953\n"
	"step=600 loss=0.24441\n";

static void fx_open(struct fx *f, int rows, int cols)
{
	struct err e = {{0}};
	int p[2];

	memset(f, 0, sizeof *f);
	f->base = t_tmpdir();
	f->wd_path = path_join(f->base, "wd");
	cJSON *cfg = cJSON_Parse("{\"source_dir\":\"/src\",\"launch\":\"python3 train.py\","
				 "\"metric\":\"val_loss\",\"max_iterations\":10,\"patience\":3,"
				 "\"max_concurrency\":2,\"search_space\":{\"file\":\"hparams.json\","
				 "\"params\":{\"lr\":{\"log_uniform\":[0.001,0.3]}}}}");
	config_fill_defaults(cfg);
	if (workdir_create(f->wd_path, cfg, "0123456789abcdef0123456789abcdef01234567", &e) < 0 ||
	    workdir_open(&f->wd, f->wd_path, WD_WRITE, "test", &e) != WD_OK) {
		printf("# workdir: %s\n", e.msg);
		exit(2);
	}
	cJSON_Delete(cfg);

	struct workdir *w = &f->wd;
	struct node *n0 = tree_get(&w->tree, 0);
	n0->status = ST_COMPLETED;
	metric(n0, 0.12571, 1);
	struct node *n1 = add(f, 0, "wider", ST_COMPLETED);
	metric(n1, 0.094361, 1);
	n1->change = xstrdup("{\"kind\":\"params\",\"params\":{\"hidden\":24}}");
	n1->commit = xstrdup("89abcdef0123456789abcdef0123456789abcdef");
	struct node *n2 = add(f, 0, "lr-up", ST_FAILED);
	n2->failure_kind = xstrdup("nan");
	struct node *n3 = add(f, 1, "hidden-25", ST_RUNNING);
	n3->started = T0;
	add(f, 1, "batch-size-8", ST_QUEUED);
	struct node *n5 = add(f, 1, "dropout-0p1", ST_QUEUED);
	n5->priority = -1;
	struct node *n6 = add(f, 0, "deeper-network-with-a-long-name-to-cut", ST_PAUSED);
	n6->resume_to = ST_QUEUED;
	add(f, 2, "lr-down", ST_CANCELLED);
	struct node *n8 = add(f, 1, "weight-decay", ST_ANALYZING);
	metric(n8, 0.091, -1);
	struct node *n9 = add(f, 1, "lr-0p02", ST_COMPLETED);
	metric(n9, 0.1, 0);
	w->st.best = 1;
	w->st.iteration = 2;
	w->st.rounds_without_gain = 1;
	queue_rebuild(&w->queue);

	write_file(f, "runs/n0003/log", run_log);
	write_file(f, "runs/n0001/log", "[hypotop] launch: python3 train.py\nval_loss=0.094361\n");
	write_file(f, "runs/n0001/analysis.md",
		   "# n0001: wider\n\n## Verdict: improved\n\nval_loss 0.094361 beats the parent "
		   "(0.12571) by 0.031, well beyond the noise.\n\n- evidence one\n- evidence two\n");
	write_file(f, "runs/n0001/metrics.json",
		   "{\"lines\":3,\"step\":1500,\"series\":{\"loss\":{\"count\":4,\"recent\":"
		   "[[100,0.6],[200,0.5],[300,0.3],[400,0.2]],\"sample\":[[100,0.6],[200,0.5],"
		   "[300,0.3],[400,0.2]]}}}");

	/* Two run slots; the first runs n0003, fed its log as the scheduler does. */
	f->sched.wd = w;
	f->sched.nslots = 2;
	f->sched.slots = xcalloc(2, sizeof *f->sched.slots);
	for (int i = 0; i < 2; i++) {
		f->sched.slots[i].gpu = -1;
		f->sched.slots[i].log_fd = -1;
	}
	struct slot *sl = &f->sched.slots[0];
	sl->used = true;
	sl->node = 3;
	metrics_init(&sl->metrics, NULL, &e);
	for (const char *p0 = run_log, *nl; (nl = strchr(p0, '\n')); p0 = nl + 1)
		metrics_feed(&sl->metrics, p0, (size_t)(nl - p0));

	char *cfgdir = path_join(f->base, "config");
	setenv("XDG_CONFIG_HOME", cfgdir, 1);
	free(cfgdir);
	setenv("TERM", "xterm", 1);
	unsetenv("HYPOTOP_THEME");
	if (pipe(p) < 0)
		exit(2);
	f->keys = p[1];
	f->in = fdopen(p[0], "r");
	f->out_path = path_join(f->base, "tty");
	f->out = fopen(f->out_path, "w");
	struct ui_host host = {w, &f->sched, fx_apply, fx_set_paused, fx_quit, f};
	f->ui = ui_open(&host, f->in, f->out, &e);
	if (!f->ui) {
		printf("# ui_open: %s\n", e.msg);
		exit(2);
	}
	ui_set_clock(f->ui, fixed_now);
	ui_resize_to(f->ui, rows, cols);
	ui_draw(f->ui);
}

static void fx_close(struct fx *f)
{
	ui_close(f->ui);
	fclose(f->in);
	fclose(f->out);
	close(f->keys);
	for (size_t i = 0; i < f->sched.nslots; i++)
		if (f->sched.slots[i].used)
			metrics_free(&f->sched.slots[i].metrics);
	free(f->sched.slots);
	workdir_close(&f->wd);
	fs_remove_tree(f->base);
	free(f->out_path);
	free(f->wd_path);
	free(f->base);
}

/* Type keys (bytes as a terminal sends them) and let the UI handle and draw them. */
static void keys(struct fx *f, const char *bytes)
{
	(void)!write(f->keys, bytes, strlen(bytes));
	ui_input(f->ui);
	ui_draw(f->ui);
}

static char *screen(struct fx *f)
{
	struct buf b;

	buf_init(&b);
	ui_dump(f->ui, &b);
	return buf_steal(&b);
}

/* Compare the screen with tests/golden/<name>.txt, or write it there (make golden). */
static void golden(struct fx *f, const char *name)
{
	const char *dir = getenv("HYPOTOP_GOLDEN_DIR") ? getenv("HYPOTOP_GOLDEN_DIR")
						       : "tests/golden";
	char *path = xasprintf("%s/%s.txt", dir, name);
	char *got = screen(f);
	struct err e = {{0}};
	const char *mode = getenv("HYPOTOP_GOLDEN");

	if (mode && !strcmp(mode, "update")) {
		fs_mkdir_p(dir, 0755, &e);
		T_CHECK(fs_write_atomic(path, got, strlen(got), 0644, &e) == 0, "%s", e.msg);
		printf("# wrote %s\n", path);
	} else {
		char *want = fs_read(path, NULL, &e);
		T_CHECK(want, "%s: %s; 'make golden' writes it", path, e.msg);
		if (want && strcmp(want, got)) {
			char *actual = xasprintf("%s/%s.actual", getenv("TMPDIR") ? getenv("TMPDIR")
										 : "/tmp",
						 name);
			fs_write_atomic(actual, got, strlen(got), 0644, &e);
			int line = 1;
			for (const char *a = want, *b = got; *a && *a == *b; a++, b++)
				line += *a == '\n';
			T_CHECK(false, "screen differs from %s at line %d: diff -u %s %s", path, line,
				path, actual);
			free(actual);
		}
		free(want);
	}
	free(got);
	free(path);
}

/* The newest message, as the status bar shows it when there is room. */
static const char *last_note(struct fx *f)
{
	struct ui *ui = f->ui;

	return ui->nnotes ? ui->notes[(ui->nnotes - 1) % UI_NOTES].text : "";
}

static bool on_screen(struct fx *f, const char *text)
{
	char *s = screen(f);
	bool found = strstr(s, text) != NULL;

	free(s);
	return found;
}

/* ---- the screens --------------------------------------------------------------- */

static void main_screen_80x24(void)
{
	struct fx f;

	fx_open(&f, 24, 80);
	golden(&f, "main_80x24");
	fx_close(&f);
}

static void main_screen_120x40(void)
{
	struct fx f;

	fx_open(&f, 40, 120);
	golden(&f, "main_120x40");
	fx_close(&f);
}

static void running_node_with_its_log(void)
{
	struct fx f;

	fx_open(&f, 24, 80);
	keys(&f, "jj");
	T_CHECK(f.ui->tv.sel == 3, "selected %u", f.ui->tv.sel);
	golden(&f, "running_80x24");
	/* The log's escapes are gone: no title change, no clear, no colour codes. */
	T_CHECK(on_screen(&f, "title line") && on_screen(&f, "cleared") &&
			on_screen(&f, "red text") && on_screen(&f, "bell\\x07here"),
		"log lines not shown cleaned");
	T_CHECK(!on_screen(&f, "pwned"), "OSC payload shown");
	fflush(f.out);
	size_t len;
	char *tty = fs_read(f.out_path, &len, NULL);
	T_CHECK(tty && !memmem(tty, len, "pwned", 5) && !memmem(tty, len, "\033]", 2) &&
			!memmem(tty, len, "\007here", 5),
		"escape sequences from the log reached the terminal");
	free(tty);
	fx_close(&f);
}

/* The curves view: the running run's live loss over the best's and its parent's. */
static void curves_view(void)
{
	struct fx f;

	fx_open(&f, 24, 80);
	write_file(&f, "runs/n0000/metrics.json",
		   "{\"lines\":7,\"step\":600,\"series\":{\"loss\":{\"count\":6,\"recent\":"
		   "[[100,0.7],[200,0.45],[300,0.35],[400,0.3],[500,0.27],[600,0.25]],"
		   "\"sample\":[[100,0.7],[300,0.35]]}}}");
	f.wd.st.best = 0; /* so that the best and the parent are two runs */
	keys(&f, "jj");
	T_CHECK(f.ui->tv.sel == 3, "selected %u", f.ui->tv.sel);
	keys(&f, "v");
	T_CHECK(f.ui->pg.open && f.ui->pg.kind == PG_CURVES, "the curves view is not open");
	golden(&f, "curves_80x24");
	T_CHECK(on_screen(&f, "n0003 hidden-25") && on_screen(&f, "n0000 best") &&
			on_screen(&f, "n0001 parent"),
		"the legend names the three runs");
	keys(&f, "q");
	T_CHECK(!f.ui->pg.open, "q leaves the view");
	/* A run with no points says so. */
	keys(&f, "j");
	keys(&f, "v");
	T_CHECK(on_screen(&f, "(no points)"), "a run without points is not said");
	fx_close(&f);
}

static void narrow_terminal(void)
{
	struct fx f;

	fx_open(&f, 20, 60);
	golden(&f, "narrow_60x20");
	ui_resize_to(f.ui, 5, 20);
	ui_draw(f.ui);
	T_CHECK(on_screen(&f, "too small"), "no too-small note");
	fx_close(&f);
}

static void resize_and_back(void)
{
	struct fx f, g;
	char *a, *b;

	fx_open(&f, 24, 80);
	a = screen(&f);
	ui_resize_to(f.ui, 40, 120);
	ui_draw(f.ui);
	ui_resize_to(f.ui, 24, 80);
	ui_draw(f.ui);
	b = screen(&f);
	T_CHECK(!strcmp(a, b), "80x24 differs after a round trip through 120x40");
	free(a);
	free(b);
	fx_close(&f);
	fx_open(&g, 40, 120);
	golden(&g, "main_120x40");
	fx_close(&g);
}

/*
 * In the open help, the legend: ★ is the current best only, one improved
 * before it ◆, one without a gain ●, and a repeat has its own glyph.
 */
static void legend_check(struct fx *f)
{
	static const struct {
		const char *find, *line, *what;
	} want[] = {
		{"the current best", "\xe2\x98\x85 completed", "legend: ★"},
		{"no longer the best", "\xe2\x97\x86 completed", "legend: ◆"},
		{"without a gain", "\xe2\x97\x8f completed", "legend: ●"},
		{"a seed repeat", "\xe2\x86\xbb completed", "legend: ↻"},
	};

	for (size_t i = 0; i < ARRAY_LEN(want); i++) {
		char *search = xasprintf("/%s\r", want[i].find);
		keys(f, search);
		T_CHECK(on_screen(f, want[i].line), "%s", want[i].what);
		free(search);
	}
}

static void pagers(void)
{
	struct fx f;

	fx_open(&f, 24, 80);
	keys(&f, "j\r");
	T_CHECK(f.ui->pg.open && f.ui->pg.kind == PG_ANALYSIS, "analysis not open");
	golden(&f, "analysis_80x24");
	/* The analysis has its own title: the pager does not add another. */
	char *sc = screen(&f);
	T_CHECK(strstr(sc, "# n0001: wider") && !strstr(sc, "# n0001 wider"), "two titles: %s", sc);
	free(sc);
	keys(&f, "q");
	T_CHECK(!f.ui->pg.open, "q did not close the pager");
	T_CHECK(f.quit_calls == 0 && f.ui->pr.kind == PR_NONE, "q in a pager asked to quit");
	keys(&f, "d");
	golden(&f, "diff_80x24");
	keys(&f, "\033");
	T_CHECK(!f.ui->pg.open, "Esc did not close the pager");
	keys(&f, "s");
	T_CHECK(on_screen(&f, "\"name\": \"wider\""), "json pager");
	keys(&f, "q");
	keys(&f, "jl");
	T_CHECK(f.ui->pg.open && f.ui->pg.kind == PG_LOG && on_screen(&f, "step=600 loss=0.24441"),
		"log pager");
	keys(&f, "/loss=0.3\r");
	T_CHECK(f.ui->pg.match == 8, "search in the pager: line %ld", f.ui->pg.match);
	keys(&f, "q?");
	golden(&f, "help_80x24");
	legend_check(&f);
	keys(&f, "q");
	fx_close(&f);
}

/* Before any result there is no best: the legend is the same. */
static void the_legend_before_a_best(void)
{
	struct fx f;

	fx_open(&f, 24, 80);
	f.wd.st.best = NODE_NONE;
	keys(&f, "?");
	legend_check(&f);
	keys(&f, "q");
	fx_close(&f);
}

/* A node cancelled before it ran has no log, and never will: the log pager says no "yet". */
static void the_log_of_a_node_that_never_ran(void)
{
	struct fx f;

	fx_open(&f, 24, 80);
	keys(&f, "/lr-down\r\033");
	T_CHECK(f.ui->tv.sel == 7, "sel %u", f.ui->tv.sel);
	keys(&f, "l");
	T_CHECK(on_screen(&f, "n0007 has no log.") && !on_screen(&f, "no log yet"), "n0007's log");
	keys(&f, "q/batch\r\033l");
	T_CHECK(f.ui->tv.sel == 4 && on_screen(&f, "n0004 has no log yet."), "n0004's log");
	keys(&f, "q");
	fx_close(&f);
}

/*
 * M: the node's model calls, a table and then each one's answer and prompt,
 * cleaned for the terminal; a node without any says why.
 */
static void model_calls_pager(void)
{
	struct fx f;

	fx_open(&f, 24, 80);
	write_file(&f, "logs/004_plan_n0000_raw.json",
		   "{\"request\": 4, \"kind\": \"plan\", \"node\": \"n0000\", \"attempt\": 1, "
		   "\"provider\": \"anthropic\", \"model\": \"claude-sonnet-5-5\", "
		   "\"duration_ms\": 12300, \"usage\": {\"input_tokens\": 1200, "
		   "\"output_tokens\": 300}, \"cost_usd\": 0.0123, \"valid\": true}");
	write_file(&f, "logs/004_plan_n0000_output.md", "{\"proposals\": [\"wider\"]}\n");
	write_file(&f, "logs/004_plan_n0000_prompt.md",
		   "# plan n0000\n\nPropose \x1b[2Jexperiments.\n");
	write_file(&f, "logs/007_analyse_n0001_raw.json",
		   "{\"request\": 7, \"kind\": \"analyse\", \"node\": \"n0001\", "
		   "\"provider\": \"command\", \"duration_ms\": 800, \"usage\": null, "
		   "\"cost_usd\": \"unknown\", \"error_kind\": \"llm_unavailable\", "
		   "\"error\": \"command: exited with status 1\"}");
	struct node *n = tree_get(&f.wd.tree, 1);
	node_set_str(&n->calls, "[\"logs/004_plan_n0000\",\"logs/007_analyse_n0001\"]");
	keys(&f, "jM");
	T_CHECK(f.ui->pg.open && f.ui->pg.kind == PG_CALLS, "the calls pager is not open");
	golden(&f, "calls_80x24");
	T_CHECK(on_screen(&f, "004  plan") && on_screen(&f, "1200/300") &&
			on_screen(&f, "$0.0123") && on_screen(&f, "12.3 s"),
		"the plan call's row");
	T_CHECK(on_screen(&f, "007  analyse") && on_screen(&f, "unknown") &&
			on_screen(&f, "llm_unavailable: command: exited with status 1"),
		"the failed analysis' row");
	keys(&f, "/proposals\r");
	T_CHECK(f.ui->pg.match >= 0, "the answer is not in the pager");
	keys(&f, "/Propose\r");
	T_CHECK(on_screen(&f, "Propose experiments.") && !on_screen(&f, "\x1b"),
		"the prompt, cleaned");
	keys(&f, "q");
	/* n0002 has none; with the offline planner there never are any. */
	keys(&f, "jM");
	T_CHECK(on_screen(&f, "the offline planner makes no model calls"), "no calls said");
	keys(&f, "q");
	fx_close(&f);
}

/* Closing any pager gives back the screen as it was: the divider, and nothing of the pager. */
static void a_closed_pager_leaves_no_trace(void)
{
	struct fx f;
	static const char *const opens[] = {"?", "d", "s", "l", "\r"};

	fx_open(&f, 24, 80);
	keys(&f, "j");
	char *before = screen(&f);
	for (size_t i = 0; i < ARRAY_LEN(opens); i++) {
		keys(&f, opens[i]);
		T_CHECK(f.ui->pg.open, "%s opened no pager", opens[i]);
		keys(&f, "q");
		char *after = screen(&f);
		T_CHECK(!strcmp(before, after), "after the pager of %s:\n%s\nbefore:\n%s", opens[i],
			after, before);
		free(after);
	}
	free(before);
	fx_close(&f);
}

/* A node's change replaced by the JSON text change. */
static void set_change(struct fx *f, uint32_t id, const char *change)
{
	struct node *n = tree_get(&f->wd.tree, id);

	free(n->change);
	n->change = xstrdup(change);
}

static void diff_shows_the_escapes_in_file_names(void)
{
	struct fx f;

	/* Escape sequences in a name are shown, not obeyed nor dropped; the content's are dropped. */
	fx_open(&f, 24, 80);
	set_change(&f, 1, "{\"kind\":\"files\",\"files\":["
			  "{\"path\":\"src/a\\u001b[31mred\\u001b[0m.py\",\"content\":\"x = 1\"},"
			  "{\"path\":\"t\\u001b]0;pwned\\u0007\\tb.py\",\"content\":\"y = \\u001b[1m2\"}]}");
	keys(&f, "jd");
	golden(&f, "diff_names_80x24");
	T_CHECK(on_screen(&f, "=== src/a\\x1b[31mred\\x1b[0m.py (whole file)"),
		"a CSI in a file name is not shown escaped");
	T_CHECK(on_screen(&f, "=== t\\x1b]0;pwned\\x07\\x09b.py (whole file)"),
		"an OSC or a tab in a file name is not shown escaped");
	T_CHECK(on_screen(&f, "y = 2"), "the content's escape sequence is not dropped");
	keys(&f, "q");
	set_change(&f, 1, "{\"kind\":\"patch\",\"patch\":\"diff --git a/p\\u001b[1mq.py "
			  "b/p\\u001b[1mq.py\\n--- a/p\\u001b[1mq.py\\n+++ b/p\\u001b[1mq.py\\n"
			  "@@ -1 +1 @@\\n-x = 1\\n+x = 2\\n\"}");
	keys(&f, "d");
	T_CHECK(on_screen(&f, "diff --git a/p\\x1b[1mq.py b/p\\x1b[1mq.py") &&
			on_screen(&f, "--- a/p\\x1b[1mq.py") && on_screen(&f, "+++ b/p\\x1b[1mq.py"),
		"a patch's file names are not shown escaped");
	keys(&f, "q");
	/* An edit not committed yet: each block's search and replace lines. */
	set_change(&f, 1, "{\"kind\":\"edit\",\"edits\":[{\"path\":\"m\\u001b[1m.py\","
			  "\"search\":\"w = 1\\nd = 2\",\"replace\":\"w = 3\\n\"}]}");
	keys(&f, "d");
	T_CHECK(on_screen(&f, "=== m\\x1b[1m.py (edit)"), "an edit's file is not named");
	T_CHECK(on_screen(&f, "-w = 1") && on_screen(&f, "-d = 2") && on_screen(&f, "+w = 3"),
		"an edit's lines are not shown");
	fx_close(&f);
}

static void filter_the_tree(void)
{
	struct fx f;

	fx_open(&f, 24, 80);
	keys(&f, "/lr");
	T_CHECK(f.ui->pr.kind == PR_FILTER, "no filter prompt");
	golden(&f, "filter_80x24");
	keys(&f, "\r");
	T_CHECK(f.ui->tv.nrows == 5, "rows %zu (3 matches and their ancestors)", f.ui->tv.nrows);
	uint32_t first = f.ui->tv.sel;
	keys(&f, "n");
	T_CHECK(f.ui->tv.sel != first, "n did not move");
	keys(&f, "N");
	T_CHECK(f.ui->tv.sel == first, "N did not come back");
	keys(&f, "\033");
	T_CHECK(!f.ui->tv.filter && f.ui->tv.nrows == 10, "Esc kept the filter");
	/* Esc while typing restores the filter as it was. */
	keys(&f, "/wid\033");
	T_CHECK(!f.ui->tv.filter, "aborted filter kept");
	fx_close(&f);
}

static void fold_and_unfold(void)
{
	struct fx f;

	fx_open(&f, 24, 80);
	keys(&f, "j");
	keys(&f, "h");
	T_CHECK(f.ui->tv.nrows == 5, "folded rows %zu", f.ui->tv.nrows);
	keys(&f, "h");
	T_CHECK(f.ui->tv.sel == 0, "h on a folded node goes to its parent: sel %u", f.ui->tv.sel);
	keys(&f, "j\033OC");
	T_CHECK(f.ui->tv.nrows == 10, "Right unfolds: rows %zu", f.ui->tv.nrows);
	keys(&f, "G");
	T_CHECK(f.ui->tv.sel == 6, "G: sel %u", f.ui->tv.sel);
	keys(&f, "g\033OB");
	T_CHECK(f.ui->tv.sel == 1, "Down: sel %u", f.ui->tv.sel);
	fx_close(&f);
}

/* ---- actions on the model -------------------------------------------------------- */

static size_t queue_pos(struct fx *f, uint32_t id)
{
	uint32_t *order;
	size_t n = queue_order(&f->wd.tree, &order), pos = 0;

	for (size_t i = 0; i < n; i++)
		if (order[i] == id)
			pos = i + 1;
	free(order);
	return pos;
}

static void reorder_the_queue(void)
{
	struct fx f;

	fx_open(&f, 24, 80);
	/* The queue: n0005 (prio -1), n0004, n0006 (held). */
	T_CHECK(queue_pos(&f, 5) == 1 && queue_pos(&f, 4) == 2 && queue_pos(&f, 6) == 3, "start");
	keys(&f, "jjj");
	T_CHECK(f.ui->tv.sel == 4, "sel %u", f.ui->tv.sel);
	keys(&f, "+");
	T_CHECK(f.last_op == OP_PRIO && f.wd.tree.nodes[4].priority == -2,
		"+: priority %d (one less than n0005's -1)", f.wd.tree.nodes[4].priority);
	T_CHECK(queue_pos(&f, 4) == 1, "n0004 not first");
	keys(&f, "+");
	T_CHECK(f.applied == 1 && strstr(last_note(&f), "n0004 runs first already"), "first already");
	keys(&f, "-");
	T_CHECK(f.wd.tree.nodes[4].priority == 0 && queue_pos(&f, 4) == 2,
		"-: priority %d (one more than n0005's)", f.wd.tree.nodes[4].priority);
	keys(&f, "J");
	T_CHECK(f.wd.tree.nodes[4].priority == 1 && queue_pos(&f, 4) == 3, "J: priority %d",
		f.wd.tree.nodes[4].priority);
	golden(&f, "reordered_80x24");
	keys(&f, "k+");
	T_CHECK(strstr(last_note(&f), "n0003 is running, not in the queue"), "running node moved");
	fx_close(&f);
}

/* The text of the screen's row y (0 at the top). */
static char *row_text(struct fx *f, int y)
{
	char *s = screen(f), *p = s;

	for (int skip = 2 + 2 * y; skip > 0 && p; skip--) /* two header lines, then text and roles */
		p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL;
	char *row = xstrndup(p ? p : "", p ? strcspn(p, "\n") : 0);
	free(s);
	return row;
}

/*
 * A key that finds nothing to do says why on the hint line, until the next
 * key: attached at 140 columns the status bar has no room left for it.
 */
static void a_key_with_nothing_to_do_says_so_on_the_hint_line(void)
{
	struct fx f;

	fx_open(&f, 40, 140);
	ui_set_model(f.ui, &f.wd, 4321);
	keys(&f, "jjj++");
	T_CHECK(f.wd.tree.nodes[4].priority == -2, "+: priority %d", f.wd.tree.nodes[4].priority);
	char *hints = row_text(&f, 39);
	T_CHECK(strstr(hints, "n0004 runs first already"), "hint line: %s", hints);
	free(hints);
	keys(&f, "n");
	hints = row_text(&f, 39);
	T_CHECK(strstr(hints, "no filter: press / to filter the tree"), "hint line: %s", hints);
	free(hints);
	keys(&f, "j");
	hints = row_text(&f, 39);
	T_CHECK(strstr(hints, "? help"), "the hints not back after a key: %s", hints);
	free(hints);
	fx_close(&f);
}

static void pause_resume_cancel_retry_add(void)
{
	struct fx f;

	fx_open(&f, 24, 80);
	keys(&f, "jjj");
	keys(&f, "p");
	T_CHECK(f.last_op == OP_PAUSE && f.wd.tree.nodes[4].status == ST_PAUSED, "p pauses");
	keys(&f, "p");
	T_CHECK(f.last_op == OP_RESUME && f.wd.tree.nodes[4].status == ST_QUEUED, "p resumes");
	keys(&f, "c");
	T_CHECK(f.ui->pr.kind == PR_CANCEL, "c does not ask");
	golden(&f, "cancel_ask_80x24");
	keys(&f, "n");
	T_CHECK(f.wd.tree.nodes[4].status == ST_QUEUED && f.applied == 2, "n cancelled");
	keys(&f, "cy");
	T_CHECK(f.last_op == OP_CANCEL && f.wd.tree.nodes[4].status == ST_CANCELLED, "y cancels");
	keys(&f, "c");
	T_CHECK(f.ui->pr.kind == PR_NONE && strstr(last_note(&f), "cancel does not apply"),
		"cancel of a cancelled node");
	keys(&f, "r");
	T_CHECK(f.last_op == OP_RETRY && f.wd.tree.count == 11 && f.ui->tv.sel == 10,
		"retry: count %u, sel %u", f.wd.tree.count, f.ui->tv.sel);
	keys(&f, "gja");
	T_CHECK(f.ui->pr.kind == PR_ADD, "a does not ask");
	keys(&f, "try a wider layer\177\177\177\177\177deeper one");
	golden(&f, "add_ask_80x24");
	keys(&f, "\r");
	T_CHECK(f.ui->pr.kind == PR_ADD_CHANGE && f.wd.tree.count == 11,
		"the change is not asked for");
	T_CHECK(on_screen(&f, "name=value"), "the question does not say what to give");
	keys(&f, "lr=0.02 hidden=24\r");
	struct node *n = tree_get(&f.wd.tree, 11);
	T_CHECK(f.last_op == OP_ADD && n && n->parent == 1 && n->status == ST_QUEUED &&
			!strcmp(n->hypothesis, "try a wider deeper one"),
		"added: %s", n && n->hypothesis ? n->hypothesis : "(none)");
	T_CHECK(n && n->change && strstr(n->change, "\"params\"") &&
			strstr(n->change, "\"lr\":0.02") && strstr(n->change, "\"hidden\":24"),
		"change: %s", n && n->change ? n->change : "(none)");
	T_CHECK(f.ui->tv.sel == 11, "new node selected");
	keys(&f, "a\033");
	T_CHECK(f.ui->pr.kind == PR_NONE && f.wd.tree.count == 12, "Esc added something");
	keys(&f, "ahalf\r\033");
	T_CHECK(f.ui->pr.kind == PR_NONE && f.wd.tree.count == 12, "Esc at the change added");
	/* A param that is not NAME=VALUE is refused, and nothing is added. */
	keys(&f, "aoops\rlr\r");
	T_CHECK(f.wd.tree.count == 12 && strstr(last_note(&f), "NAME=VALUE"), "lr alone: %s",
		last_note(&f));
	fx_close(&f);
}

/* Enter alone at the change opens $EDITOR on a patch; a patch left empty adds nothing. */
static void add_a_patch_in_the_editor(void)
{
	struct fx f;
	struct err e = {{0}};

	fx_open(&f, 24, 80);
	char *editor = path_join(f.base, "editor.sh");
	const char *script = "#!/bin/sh\n"
			     "grep -q 'wider-please' \"$1\" || exit 1\n"
			     "printf 'diff --git a/m.py b/m.py\\n--- a/m.py\\n+++ b/m.py\\n"
			     "@@ -1 +1 @@\\n-x = 1\\n+x = 2\\n' >> \"$1\"\n";
	T_CHECK(fs_write_atomic(editor, script, strlen(script), 0755, &e) == 0, "%s", e.msg);
	setenv("EDITOR", editor, 1);
	unsetenv("VISUAL");
	keys(&f, "gjawider-please\r\r");
	struct node *n = tree_get(&f.wd.tree, 10);
	T_CHECK(f.last_op == OP_ADD && n && n->parent == 1 && n->change &&
			strstr(n->change, "\"kind\":\"patch\"") && strstr(n->change, "+x = 2"),
		"added: %s", n && n->change ? n->change : "(none)");
	T_CHECK(on_screen(&f, "Hypotheses"), "the screen is not back");

	/* An editor that leaves the patch empty: refused, with the reason. */
	setenv("EDITOR", "true", 1);
	keys(&f, "aempty one\r\r");
	T_CHECK(f.wd.tree.count == 11, "a node with no change added");
	T_CHECK(strstr(last_note(&f), "no change"), "no reason: %s", last_note(&f));
	/* An editor that fails: nothing added, said. */
	setenv("EDITOR", "false", 1);
	keys(&f, "afails\r\r");
	T_CHECK(f.wd.tree.count == 11 && strstr(last_note(&f), "editor"), "%s", last_note(&f));
	unsetenv("EDITOR");
	free(editor);
	fx_close(&f);
}

/* With a model, the status bar shows the spend, reports included, against the cap. */
static void the_bar_shows_a_models_spend_and_calls(void)
{
	struct fx f;

	fx_open(&f, 40, 140);
	T_CHECK(!on_screen(&f, "$"), "a spend shown for the offline planner");
	static char anthropic[] = "anthropic"; /* the config's strings belong to its JSON */
	f.wd.cfg.llm_provider = anthropic;
	f.wd.cfg.budget_llm_usd = 2;
	f.wd.st.llm_usd = 0.25;
	f.sched.report_usd = 0.5;
	/* The request in flight, and since when; more than one: the oldest and how many more. */
	f.sched.flights[0] = (struct call_flight){"plan", "n0012", fixed_now() - 14200};
	f.sched.nflights = 1;
	keys(&f, "\014");
	T_CHECK(on_screen(&f, "RUNNING  plan n0012, 14 s | ") && on_screen(&f, "$0.75/2.00"),
		"bar: %s", last_note(&f));
	f.sched.flights[1] = (struct call_flight){"analyse", "n0013", fixed_now() - 3000};
	f.sched.nflights = 2;
	keys(&f, "\014");
	T_CHECK(on_screen(&f, "plan n0012, 14 s +1 | "), "bar with two calls in flight");
	f.sched.nflights = 0;
	/* A call of unknown cost (a command without total_cost_usd): never $0. */
	f.sched.usd_unknown = true;
	keys(&f, "\014");
	T_CHECK(on_screen(&f, "$0.75+?/2.00"), "bar with an unknown cost");
	f.wd.st.llm_usd = 0;
	f.sched.report_usd = 0;
	keys(&f, "\014");
	T_CHECK(on_screen(&f, "$?/2.00") && !on_screen(&f, "$0.00"), "bar with only unknown");
	fx_close(&f);
}

/*
 * A seed repeat shows as one (↻, "repeat of n0001"), never by a cut name;
 * ★ marks only the current best; the bar says what σ rests on.
 */
static void repeats_the_best_and_the_noise(void)
{
	struct fx f;

	fx_open(&f, 40, 170);
	struct node *r = add(&f, 1, "wider-with-a-name-long-enough-to-be-cut-seed-1", ST_COMPLETED);
	r->seed = 1;
	metric(r, 0.0921, -1);
	keys(&f, "\014");
	T_CHECK(on_screen(&f, "\xe2\x86\xbb n0010 seed 1 of n0001"), "the repeat's row");
	T_CHECK(!on_screen(&f, "\xe2\x98\x85 n0000"), "a star on n0000, which is not the best");
	T_CHECK(on_screen(&f, "\xe2\x98\x85 n0001"), "no star on the best");
	char *sc = screen(&f);
	T_CHECK(strstr(sc, "best 0.09323 \xc2\xb1 0.0016 (2 runs) n0001"), "bar best: %s", sc);
	free(sc);
	T_CHECK(on_screen(&f, "\xcf\x83 0.001599 from 2 runs (few runs)"), "bar noise");
	fx_close(&f);
}

/*
 * A node prepared ahead is neither running nor queued in the bar, and it is
 * still the person's: it moves, and it can be held.
 */
static void prepared_ahead_apart_and_steerable(void)
{
	struct fx f;

	fx_open(&f, 40, 140);
	/* n0004 is taken from the queue and prepared ahead while n0003 runs. */
	f.wd.tree.nodes[4].status = ST_PREPARING;
	queue_update(&f.wd.queue, 4);
	f.ui->tv.stale = true;
	keys(&f, "\014");
	T_CHECK(on_screen(&f, "run 1  prep 1  queued 1  done 3  failed 1  analysing 1  paused 1"),
		"bar counts the prepared node as running");
	keys(&f, "jjj");
	T_CHECK(f.ui->tv.sel == 4, "sel %u", f.ui->tv.sel);
	keys(&f, "-");
	T_CHECK(f.last_op == OP_PRIO && f.wd.tree.nodes[4].priority == 1,
		"-: priority %d (%s)", f.wd.tree.nodes[4].priority, last_note(&f));
	/* Its row shows the priority it has now, as a queued node's does. */
	T_CHECK(on_screen(&f, "preparing  prio 1\xe2\x94\x82"), "the row of n0004 after -");
	keys(&f, "p");
	T_CHECK(f.last_op == OP_PAUSE && f.wd.tree.nodes[4].status == ST_PAUSED &&
			f.wd.tree.nodes[4].resume_to == ST_QUEUED,
		"p: %s (%s)", status_name(f.wd.tree.nodes[4].status), last_note(&f));
	fx_close(&f);
}

/* D: a line of guidance for the planner joins directive.md, one item per line. */
static void guidance_goes_to_the_directive_file(void)
{
	struct fx f;
	char *path;
	size_t len;

	fx_open(&f, 24, 80);
	path = path_join(f.wd_path, "directive.md");
	keys(&f, "D");
	T_CHECK(f.ui->pr.kind == PR_GUIDE, "D does not ask");
	keys(&f, "prefer smaller learning rates\r");
	char *text = fs_read(path, &len, NULL);
	T_CHECK(text && !strcmp(text, "- prefer smaller learning rates\n"), "directive: %s",
		text ? text : "(none)");
	free(text);
	keys(&f, "D  \r");
	keys(&f, "Dkeep batch size at 32\r");
	text = fs_read(path, &len, NULL);
	T_CHECK(text && !strcmp(text, "- prefer smaller learning rates\n- keep batch size at 32\n"),
		"directive after a second line (and an empty one): %s", text ? text : "(none)");
	free(text);
	keys(&f, "Dnot this\033");
	text = fs_read(path, &len, NULL);
	T_CHECK(text && !strstr(text, "not this"), "Esc saved the guidance");
	free(text);
	free(path);
	fx_close(&f);
}

static void engine_pause_and_quit(void)
{
	struct fx f;

	fx_open(&f, 24, 80);
	keys(&f, "P");
	T_CHECK(f.paused_calls == 1 && f.sched.paused && on_screen(&f, " PAUSED "), "P pauses");
	keys(&f, "P");
	T_CHECK(f.paused_calls == 2 && !f.sched.paused && on_screen(&f, " RUNNING "),
		"P resumes");
	keys(&f, "q");
	T_CHECK(f.ui->pr.kind == PR_QUIT && on_screen(&f, "quit hypotop?"), "q does not ask");
	keys(&f, "n");
	T_CHECK(f.quit_calls == 0 && f.ui->pr.kind == PR_NONE, "n quit");
	keys(&f, "qy");
	T_CHECK(f.quit_calls == 1, "y did not quit");
	fx_close(&f);
}

static void log_pane_scrolls_and_searches(void)
{
	struct fx f;

	fx_open(&f, 24, 80);
	keys(&f, "jj2");
	T_CHECK(f.ui->focus == PANE_LOG && f.ui->lv.follow, "log focused, following");
	/* There / searches the log, and the hint line says so. */
	T_CHECK(on_screen(&f, " / search ") && !on_screen(&f, " / filter "), "hint of / in the log");
	keys(&f, "g");
	T_CHECK(!f.ui->lv.follow && f.ui->lv.top == 0 && on_screen(&f, "scroll"), "g: top");
	keys(&f, "G");
	T_CHECK(f.ui->lv.follow, "G follows again");
	keys(&f, "/loss=0.5");
	T_CHECK(f.ui->lv.match == 3 && !f.ui->lv.follow, "search: match %llu",
		(unsigned long long)f.ui->lv.match);
	keys(&f, "\r");
	golden(&f, "log_search_80x24");
	keys(&f, "N");
	T_CHECK(f.ui->lv.match == 3 && strstr(last_note(&f), "no earlier match"), "N: %llu",
		(unsigned long long)f.ui->lv.match);
	keys(&f, "w");
	T_CHECK(f.ui->lv.wrap, "w wraps");
	keys(&f, "\tk");
	T_CHECK(f.ui->focus == PANE_WORKERS, "Tab: workers");
	keys(&f, "1");
	T_CHECK(f.ui->focus == PANE_TREE, "1: tree");
	T_CHECK(on_screen(&f, " / filter "), "hint of / in the tree");
	fx_close(&f);
}

static void ascii_and_no_colour(void)
{
	struct fx f;

	setlocale(LC_CTYPE, "C");
	fx_open(&f, 24, 80);
	T_CHECK(!f.ui->utf8, "C locale is not UTF-8");
	keys(&f, "jj");
	golden(&f, "ascii_80x24");
	/* The curves in one mark a cell: the run's *, the best's (here its parent) +. */
	keys(&f, "v");
	T_CHECK(on_screen(&f, "loss  * n0003 hidden-25  + n0001 best, parent"), "ASCII legend");
	T_CHECK(on_screen(&f, "|*") || on_screen(&f, "| *") || on_screen(&f, "|+"),
		"no ASCII marks on the plot");
	T_CHECK(!on_screen(&f, "\xe2"), "UTF-8 in the ASCII curves");
	fx_close(&f);
	setlocale(LC_CTYPE, "C.UTF-8");
	setenv("NO_COLOR", "1", 1);
	fx_open(&f, 24, 80);
	T_CHECK(!f.ui->color, "NO_COLOR ignored");
	keys(&f, "jj");
	golden(&f, "nocolor_80x24");
	keys(&f, "t");
	T_CHECK(strstr(last_note(&f), "no colours"), "t without colours");
	fx_close(&f);
	unsetenv("NO_COLOR");
}

static void themes_and_keys_from_the_config(void)
{
	struct fx f;
	struct err e = {{0}};

	fx_open(&f, 24, 80);
	T_STREQ(f.ui->theme.name, "default");
	keys(&f, "t");
	T_STREQ(f.ui->theme.name, "light");
	keys(&f, "ttt");
	T_STREQ(f.ui->theme.name, "default");
	/* The user's config: keys and theme; a bad theme file falls back with a message. */
	char *dir = xasprintf("%s/config/hypotop", f.base);
	char *themes = path_join(dir, "themes");
	fs_mkdir_p(themes, 0755, &e);
	char *cfg = path_join(dir, "config.json"), *bad = path_join(themes, "mine.theme");
	const char *json = "{\"theme\": \"mine\", \"keys\": {\"pause\": \"x\"}}";
	fs_write_atomic(cfg, json, strlen(json), 0644, &e);
	fs_write_atomic(bad, "cursor = pink\n", 14, 0644, &e);
	ui_close(f.ui);
	struct ui_host host = {&f.wd, &f.sched, fx_apply, fx_set_paused, fx_quit, &f};
	f.ui = ui_open(&host, f.in, f.out, &e);
	ui_set_clock(f.ui, fixed_now);
	ui_resize_to(f.ui, 24, 80);
	ui_draw(f.ui);
	T_STREQ(f.ui->theme.name, "default");
	T_CHECK(strstr(last_note(&f), "\"pink\" is not a colour"), "bad theme not reported");
	keys(&f, "jjjp");
	T_CHECK(f.applied == 0, "p still pauses");
	keys(&f, "x");
	T_CHECK(f.applied == 1 && f.wd.tree.nodes[4].status == ST_PAUSED, "x does not pause");
	T_CHECK(on_screen(&f, "x resume"), "hint line does not show the new key");
	fs_write_atomic(cfg, "{\"keys\": {\"pause\": \"c\"}}", 24, 0644, &e);
	ui_close(f.ui);
	f.ui = ui_open(&host, f.in, f.out, &e);
	ui_set_clock(f.ui, fixed_now);
	ui_resize_to(f.ui, 24, 80);
	ui_draw(f.ui);
	T_CHECK(strstr(last_note(&f), "bound to both"), "conflict not reported");
	free(dir);
	free(themes);
	free(cfg);
	free(bad);
	fx_close(&f);
}

static void messages_and_notes(void)
{
	struct fx f;

	fx_open(&f, 24, 80);
	ui_note(f.ui, "n0003: running hidden-25");
	ui_note(f.ui, "error: disk full \033[2J");
	ui_draw(f.ui);
	T_CHECK(on_screen(&f, "error: disk full"), "newest note not in the status bar");
	T_CHECK(!strchr(last_note(&f), '\033'), "escape kept in a note");
	keys(&f, "m");
	T_CHECK(f.ui->pg.open && on_screen(&f, "n0003: running hidden-25") &&
			on_screen(&f, "! error: disk full"),
		"messages pager");
	keys(&f, "q");
	T_CHECK(!on_screen(&f, "alert (A)"), "alerts counted before any");
	/* A health rule's alert stays counted in the bar when a later message hides it. */
	ui_note(f.ui, "alert: n0003: health rule gpu_util: 3 (threshold 10): warn (warning)");
	ui_note(f.ui, "n0003: completed");
	ui_draw(f.ui);
	T_CHECK(on_screen(&f, "1 alert (A)"), "the alert is not counted in the bar");
	fx_close(&f);
}

/*
 * A: the health rules' alerts of logs/alerts.jsonl, newest first, a line
 * the file cannot parse passed over; none said when there are none.
 */
static void alerts_view(void)
{
	struct fx f;
	const char *tz = getenv("TZ");
	char *old_tz = tz ? xstrdup(tz) : NULL;

	setenv("TZ", "UTC", 1);
	tzset();
	fx_open(&f, 24, 80);
	keys(&f, "A");
	T_CHECK(f.ui->pg.open && f.ui->pg.kind == PG_ALERTS, "the alerts view is not open");
	T_CHECK(on_screen(&f, "No alerts: no health rule has fired"), "none said");
	keys(&f, "q");
	write_file(&f, "logs/alerts.jsonl",
		   "{\"time\":1700000000000,\"node\":\"n0002\",\"worker\":\"local\","
		   "\"rule\":\"loss_finite\",\"value\":null,\"threshold\":0,\"step\":50,"
		   "\"action\":\"stop\",\"severity\":\"critical\"}\n"
		   "not json\n"
		   "{\"time\":1700000060000,\"node\":\"n0003\",\"worker\":\"local:gpu0\","
		   "\"rule\":\"gpu_util\",\"value\":3,\"threshold\":10,\"step\":120,"
		   "\"action\":\"warn\",\"severity\":\"warning\"}\n");
	keys(&f, "A");
	golden(&f, "alerts_80x24");
	char *s = screen(&f);
	char *first = strstr(s, "n0003"), *second = strstr(s, "n0002");
	T_CHECK(first && second && first < second, "not newest first:\n%s", s);
	free(s);
	T_CHECK(on_screen(&f, "2 alerts") && on_screen(&f, "22:14:20 warning  n0003 gpu_util"),
		"the gpu_util row");
	keys(&f, "q");
	fx_close(&f);
	if (old_tz)
		setenv("TZ", old_tz, 1);
	else
		unsetenv("TZ");
	tzset();
	free(old_tz);
}

/* ---- the workers pane, from workers.json and engine/workers.json ---------------- */

static int reload_answer; /* what the engine of fx_reload says: 0 taken, -1 refused */
static int reload_calls;

static int fx_reload(void *ctx, struct err *e)
{
	(void)ctx;
	reload_calls++;
	if (reload_answer < 0)
		err_set(e, "worker box runs n0003");
	return reload_answer;
}

static char *read_workers(struct fx *f)
{
	char *path = path_join(f->wd_path, "workers.json");
	struct err e = {{0}};
	char *text = fs_read(path, NULL, &e);

	free(path);
	return text ? text : xstrdup("");
}

static void workers_pane(void)
{
	struct fx f;
	struct err e = {{0}};

	fx_open(&f, 40, 120);
	write_file(&f, "workers.json",
		   "{\"version\": 1, \"workers\": [\n"
		   " {\"name\": \"local\", \"kind\": \"local\", \"slots\": 2, \"gpus\": [0, 1]},\n"
		   " {\"name\": \"box\", \"kind\": \"ssh\", \"host\": \"10.0.0.7\", \"user\": \"me\"},\n"
		   " {\"name\": \"old\", \"kind\": \"ssh\", \"host\": \"old.example\", "
		   "\"enabled\": false}]}\n");
	/* As the engine writes it: heartbeats 2 s and 3 min before the clock. */
	write_file(&f, "engine/workers.json",
		   "{\"updated\":1700000094000,\"workers\":[\n"
		   "{\"name\":\"local\",\"kind\":\"local\",\"enabled\":true,\"state\":\"up\","
		   "\"reason\":\"\",\"heartbeat\":1700000093000,\"slots\":[{\"node\":\"n0003\","
		   "\"gpu\":0,\"unknown\":false},{\"node\":\"\",\"gpu\":1,\"unknown\":false}],"
		   "\"gpus\":[{\"index\":0,\"util\":87,\"mem_used\":10240,\"mem_total\":24576,"
		   "\"temp\":71},{\"index\":1,\"util\":null,\"mem_used\":null,\"mem_total\":null,"
		   "\"temp\":null}]},\n"
		   "{\"name\":\"box\",\"kind\":\"ssh\",\"enabled\":true,\"state\":\"down\","
		   "\"reason\":\"connect 10.0.0.7:22: refused\\u001b[2J\\u001b]0;pwned\\u0007\","
		   "\"heartbeat\":1699999915000,\"slots\":[{\"node\":\"n0004\",\"gpu\":-1,"
		   "\"unknown\":true}],\"gpus\":[]}\n]}\n");
	/* The UI looks at the files once a second: the next second has come. */
	f.ui->wchecked = -1;
	ui_draw(f.ui);
	golden(&f, "workers_120x40");
	T_CHECK(!on_screen(&f, "pwned\a") && !on_screen(&f, "\033"), "a reason reached the screen raw");
	/* e toggles the worker of the cursor's row, in the workers pane only. */
	keys(&f, "e");
	T_CHECK(strstr(last_note(&f), "focus the workers pane"), "e in the tree: %s", last_note(&f));
	/* In the engine's own process: the engine holds engine/lock. */
	T_CHECK(lock_claim(f.wd.lock_fd, "engine", &e) == 0, "%s", e.msg);
	keys(&f, "3G");
	T_CHECK(f.ui->wsel == 7, "G: the last row, old's: %zu", f.ui->wsel);
	keys(&f, "e");
	T_CHECK(strstr(last_note(&f), "worker old enabled in workers.json; the engine takes it "
				      "when it next starts"),
		"enable old: %s", last_note(&f));
	char *text = read_workers(&f);
	T_CONTAINS(text, "\"name\": \"old\",\n      \"kind\": \"ssh\",\n      \"host\": "
			 "\"old.example\",\n      \"enabled\": true\n");
	free(text);
	/* The engine takes it, through the host. */
	f.ui->host.reload_workers = fx_reload;
	keys(&f, "kk");
	T_CHECK(f.ui->wsel == 5, "kk: box's row: %zu", f.ui->wsel);
	keys(&f, "e");
	T_CHECK(reload_calls == 1 && strstr(last_note(&f), "worker box disabled; the engine has "
							    "taken it"),
		"disable box: %d %s", reload_calls, last_note(&f));
	text = read_workers(&f);
	T_CONTAINS(text, "\"user\": \"me\",\n      \"enabled\": false\n");
	free(text);
	golden(&f, "workers_toggled_120x40");
	/* Refused: the file is put back, and the reason said. */
	reload_answer = -1;
	char *before = read_workers(&f);
	keys(&f, "e");
	text = read_workers(&f);
	T_CHECK(reload_calls == 2 && !strcmp(text, before) &&
			strstr(last_note(&f), "the engine refused the change: worker box runs n0003"),
		"refused: %s", last_note(&f));
	free(text);
	free(before);
	/* A slot row selects its node in the tree. */
	keys(&f, "gjjj");
	T_CHECK(f.ui->wsel == 3 && f.ui->tv.sel == 3, "slot0 of local selects n0003: %zu %u",
		f.ui->wsel, f.ui->tv.sel);
	reload_answer = 0;
	fx_close(&f);
}

int main(void)
{
	if (!setlocale(LC_CTYPE, "C.UTF-8")) {
		printf("not ok - the C.UTF-8 locale is missing; the screens are drawn in it\n");
		return 1;
	}
	setenv("TZ", "UTC", 1);
	T_RUN(main_screen_80x24);
	T_RUN(main_screen_120x40);
	T_RUN(running_node_with_its_log);
	T_RUN(curves_view);
	T_RUN(narrow_terminal);
	T_RUN(resize_and_back);
	T_RUN(pagers);
	T_RUN(the_legend_before_a_best);
	T_RUN(the_log_of_a_node_that_never_ran);
	T_RUN(add_a_patch_in_the_editor);
	T_RUN(model_calls_pager);
	T_RUN(a_closed_pager_leaves_no_trace);
	T_RUN(diff_shows_the_escapes_in_file_names);
	T_RUN(filter_the_tree);
	T_RUN(fold_and_unfold);
	T_RUN(reorder_the_queue);
	T_RUN(pause_resume_cancel_retry_add);
	T_RUN(a_key_with_nothing_to_do_says_so_on_the_hint_line);
	T_RUN(guidance_goes_to_the_directive_file);
	T_RUN(repeats_the_best_and_the_noise);
	T_RUN(the_bar_shows_a_models_spend_and_calls);
	T_RUN(prepared_ahead_apart_and_steerable);
	T_RUN(engine_pause_and_quit);
	T_RUN(log_pane_scrolls_and_searches);
	T_RUN(ascii_and_no_colour);
	T_RUN(themes_and_keys_from_the_config);
	T_RUN(messages_and_notes);
	T_RUN(alerts_view);
	T_RUN(workers_pane);
	T_END();
}
