/*
 * Unit tests: the UI's pure parts — layout across terminal sizes, themes,
 * key names and key maps, text made safe for the terminal, the log tail.
 */
#include "t.h"

#include <fcntl.h>
#include <locale.h>
#include <unistd.h>

#include "hypotop/actions.h"
#include "hypotop/fsutil.h"
#include "hypotop/json.h"
#include "hypotop/layout.h"
#include "hypotop/logtail.h"
#include "hypotop/termtext.h"
#include "hypotop/theme.h"

/* ---- layout ------------------------------------------------------------------ */

static bool inside(const struct rect *r, int rows, int cols)
{
	return r->h == 0 || r->w == 0 ||
	       (r->y >= 0 && r->x >= 0 && r->y + r->h <= rows && r->x + r->w <= cols);
}

static bool overlap(const struct rect *a, const struct rect *b)
{
	if (!a->h || !a->w || !b->h || !b->w)
		return false;
	return a->x < b->x + b->w && b->x < a->x + a->w && a->y < b->y + b->h &&
	       b->y < a->y + a->h;
}

static void layout_across_sizes(void)
{
	struct layout l;

	for (int rows = 1; rows <= 120; rows++)
		for (int cols = 1; cols <= 320; cols++) {
			for (int want = 1; want <= 12; want += 11) {
				layout_compute(&l, rows, cols, want);
				if (rows < LAYOUT_MIN_ROWS || cols < LAYOUT_MIN_COLS) {
					T_CHECK(l.too_small, "%dx%d not too small", cols, rows);
					continue;
				}
				T_CHECK(!l.too_small, "%dx%d too small", cols, rows);
				const struct rect *all[] = {&l.tree, &l.log, &l.workers,
							    &l.border, &l.status, &l.hints};
				int cells = 0;
				for (size_t i = 0; i < ARRAY_LEN(all); i++) {
					T_CHECK(inside(all[i], rows, cols), "%dx%d: rect %zu outside",
						cols, rows, i);
					cells += all[i]->h * all[i]->w;
					for (size_t j = i + 1; j < ARRAY_LEN(all); j++)
						T_CHECK(!overlap(all[i], all[j]),
							"%dx%d: rects %zu and %zu overlap", cols, rows,
							i, j);
				}
				/* Every cell belongs to exactly one pane or bar. */
				T_CHECK(cells == rows * cols, "%dx%d: %d cells covered", cols, rows,
					cells);
				T_CHECK(l.tree.h >= 2 && l.tree.w >= LAYOUT_MIN_COLS,
					"%dx%d: tree %dx%d", cols, rows, l.tree.w, l.tree.h);
				T_CHECK(l.status.y == rows - 2 && l.hints.y == rows - 1,
					"%dx%d: bars", cols, rows);
				T_CHECK(l.pager.h == rows - 2 && l.pager.w == cols, "%dx%d: pager",
					cols, rows);
				if (cols >= LAYOUT_WIDE_COLS)
					T_CHECK(l.wide && l.log.w >= 30, "%dx%d: log %d wide", cols,
						rows, l.log.w);
			}
		}
}

static void layout_at_80x24_and_120x40(void)
{
	struct layout l;

	layout_compute(&l, 24, 80, 4);
	T_CHECK(l.wide, "80x24 is wide");
	T_CHECK(l.tree.w == 40 && l.tree.h == 22, "tree %dx%d", l.tree.w, l.tree.h);
	T_CHECK(l.border.x == 40 && l.log.x == 41 && l.log.w == 39, "log at %d, %d wide",
		l.log.x, l.log.w);
	T_CHECK(l.workers.h == 4 && l.log.h == 18, "workers %d, log %d", l.workers.h, l.log.h);
	layout_compute(&l, 40, 120, 40);
	T_CHECK(l.tree.w == 60 && l.workers.h == 12, "tree %d, workers %d (a third at most)",
		l.tree.w, l.workers.h);
	layout_compute(&l, 24, 60, 4);
	T_CHECK(!l.wide && l.workers.h == 0 && l.tree.w == 60 && l.log.y == l.tree.h,
		"narrow: tree above log, no workers");
}

/* ---- themes ------------------------------------------------------------------ */

static void builtin_themes_parse(void)
{
	struct theme t;
	struct err e = {{0}};
	const char *names[] = {"default", "light", "solarized", "monochrome"};

	for (size_t i = 0; i < ARRAY_LEN(names); i++) {
		T_CHECK(theme_load(&t, names[i], &e) == 0, "%s: %s", names[i], e.msg);
		T_STREQ(t.name, names[i]);
		for (int r = 0; r < ROLE__COUNT; r++)
			T_CHECK(t.r[r].set, "%s: role %s not set", names[i], role_name(r));
	}
	T_CHECK(theme_load(&t, "solarized", &e) == 0, "%s", e.msg);
	const struct style *c = &t.r[ROLE_CURSOR];
	T_CHECK(c->fg.c == 234 && c->fg.c8 == 0 && c->bg.c == 37 && c->bg.c8 == 6,
		"cursor %d/%d on %d/%d", c->fg.c, c->fg.c8, c->bg.c, c->bg.c8);
	T_CHECK(theme_load(&t, "monochrome", &e) == 0, "%s", e.msg);
	T_CHECK(t.r[ROLE_CURSOR].attrs == TA_REVERSE && t.r[ROLE_CURSOR].fg.c == -1, "mono cursor");
}

static void theme_syntax(void)
{
	struct theme t;
	struct err e = {{0}};

	theme_default(&t);
	T_CHECK(theme_parse(&t, "# c\n\ncursor = bright-red 200 bold underline\n"
				"spark = 33/blue\nfailed = default default none\n",
			    "x.theme", &e) == 0,
		"%s", e.msg);
	const struct style *s = &t.r[ROLE_CURSOR];
	T_CHECK(s->fg.c == 9 && s->fg.c8 == 1 && s->fg.bright8, "bright-red");
	T_CHECK(s->bg.c == 200 && s->bg.c8 == 5, "200 is magenta-ish on 8 colours: %d", s->bg.c8);
	T_CHECK(s->attrs == (TA_BOLD | TA_UNDERLINE), "attrs %u", s->attrs);
	T_CHECK(t.r[ROLE_SPARK].fg.c == 33 && t.r[ROLE_SPARK].fg.c8 == 4 &&
			t.r[ROLE_SPARK].bg.c == -1,
		"spark");
	struct theme before = t;
	const struct {
		const char *text, *want;
	} bad[] = {
		{"cursor = blu", "x.theme:1: cursor: \"blu\" is not a colour"},
		{"\n\ncurser = red", "x.theme:3: \"curser\" is not a role; did you mean \"cursor\""},
		{"cursor red", "x.theme:1: write ROLE = FOREGROUND"},
		{"cursor = red green blue", "a foreground and a background"},
		{"cursor = bold red", "colours come before attributes"},
		{"cursor = 256", "is not a colour"},
		{"cursor = 33/44", "is not a colour"},
		{"cursor =", "give a colour or an attribute"},
	};
	for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
		e.msg[0] = '\0';
		T_CHECK(theme_parse(&t, bad[i].text, "x.theme", &e) < 0, "accepted %s", bad[i].text);
		T_CONTAINS(e.msg, bad[i].want);
		T_CHECK(!memcmp(&t, &before, sizeof t), "theme changed by a bad file");
	}
}

static void user_themes_win_and_bad_ones_fall_back(void)
{
	char *base = t_tmpdir(), *dir = xasprintf("%s/hypotop/themes", base);
	struct theme t;
	struct err e = {{0}};
	char *old = getenv("XDG_CONFIG_HOME") ? xstrdup(getenv("XDG_CONFIG_HOME")) : NULL;

	setenv("XDG_CONFIG_HOME", base, 1);
	T_CHECK(fs_mkdir_p(dir, 0755, &e) == 0, "%s", e.msg);
	char *mine = path_join(dir, "mine.theme"), *bad = path_join(dir, "broken.theme");
	char *over = path_join(dir, "light.theme");
	fs_write_atomic(mine, "cursor = red\n", 13, 0644, &e);
	fs_write_atomic(bad, "normal = white\ncursor = purple\n", 31, 0644, &e);
	fs_write_atomic(over, "cursor = green\n", 15, 0644, &e);
	T_CHECK(theme_load(&t, "mine", &e) == 0, "%s", e.msg);
	T_CHECK(t.r[ROLE_CURSOR].fg.c == 1, "user theme read");
	T_CHECK(t.r[ROLE_FAILED].fg.c == 9, "unlisted roles come from the default theme");
	T_CHECK(theme_load(&t, "light", &e) == 0 && t.r[ROLE_CURSOR].fg.c == 2,
		"a user theme wins over a built-in one of its name");
	T_CHECK(theme_load(&t, "broken", &e) < 0, "bad theme accepted");
	T_CONTAINS(e.msg, "broken.theme:2: cursor: \"purple\" is not a colour");
	T_CONTAINS(e.msg, "using the default theme");
	T_STREQ(t.name, "default");
	T_CHECK(theme_load(&t, "nosuch", &e) < 0, "missing theme accepted");
	T_CONTAINS(e.msg, "no such theme");
	T_CHECK(theme_load(&t, "../etc/passwd", &e) < 0, "a path is not a theme name");
	char **names;
	size_t n = theme_list(&names);
	T_CHECK(n == 6, "%zu themes", n);
	T_STREQ(n ? names[0] : NULL, "default");
	bool has_mine = false;
	for (size_t i = 0; i < n; i++)
		has_mine |= !strcmp(names[i], "mine");
	T_CHECK(has_mine, "user theme listed");
	theme_list_free(names, n);
	if (old)
		setenv("XDG_CONFIG_HOME", old, 1);
	else
		unsetenv("XDG_CONFIG_HOME");
	fs_remove_tree(base);
	free(old);
	free(mine);
	free(bad);
	free(over);
	free(dir);
	free(base);
}

/* ---- keys -------------------------------------------------------------------- */

static void key_names_round_trip(void)
{
	const char *names[] = {"j", "G", "+", "?", "/", "Enter", "Esc", "Tab", "BTab", "Down",
			       "PgUp", "C-l", "F1", "F12", "Space", "\xc3\xa9"};
	char buf[32];

	for (size_t i = 0; i < ARRAY_LEN(names); i++) {
		int k = key_parse(names[i]);
		T_CHECK(k >= 0, "%s not a key", names[i]);
		key_format(k, buf, sizeof buf);
		T_STREQ(buf, names[i]);
	}
	T_CHECK(key_parse("^L") == 12 && key_parse("C-L") == 12, "ctrl forms");
	T_CHECK(key_parse("") < 0 && key_parse("jj") < 0 && key_parse("C-") < 0 &&
			key_parse("F13") < 0 && key_parse("Ctrl+P") < 0,
		"bad names accepted");
}

static void default_keys_have_no_conflicts(void)
{
	struct keymap km;
	struct err e = {{0}};
	cJSON *none = cJSON_CreateObject();

	keymap_defaults(&km);
	T_CHECK(keymap_load(&km, none, "cfg", &e) == 0, "defaults conflict: %s", e.msg);
	cJSON_Delete(none);
	T_CHECK(keymap_lookup(&km, 'q', UC_MAIN) == ACT_QUIT, "q quits");
	T_CHECK(keymap_lookup(&km, 'q', UC_PAGER) == ACT_BACK, "q in a pager goes back");
	T_CHECK(keymap_lookup(&km, '+', UC_MAIN) == ACT_EARLIER &&
			keymap_lookup(&km, 'K', UC_MAIN) == ACT_EARLIER,
		"+ and K");
	T_CHECK(keymap_lookup(&km, UI_KEY_ENTER, UC_MAIN) == ACT_ANALYSIS, "Enter");
	T_CHECK(keymap_lookup(&km, 'p', UC_PAGER) == ACT_NONE, "p does nothing in a pager");
	for (int a = 0; a < ACT__COUNT; a++) {
		char k[64];
		keymap_keys(&km, (enum ui_action)a, k, sizeof k);
		T_CHECK(*k, "%s has no key", action_info((enum ui_action)a)->name);
		T_CHECK(action_parse(action_info((enum ui_action)a)->name) == a, "name");
	}
}

static void keys_from_config(void)
{
	struct keymap km, before;
	struct err e = {{0}};
	cJSON *j = cJSON_Parse("{\"pause\": \"x C-p\", \"quit\": [\"Q\"], \"help\": \"\"}");

	keymap_defaults(&km);
	T_CHECK(keymap_load(&km, j, "config.json", &e) == 0, "%s", e.msg);
	cJSON_Delete(j);
	T_CHECK(keymap_lookup(&km, 'x', UC_MAIN) == ACT_PAUSE, "x pauses");
	T_CHECK(keymap_lookup(&km, 16, UC_MAIN) == ACT_PAUSE, "C-p pauses");
	T_CHECK(keymap_lookup(&km, 'p', UC_MAIN) == ACT_NONE, "p freed");
	T_CHECK(keymap_lookup(&km, 'Q', UC_MAIN) == ACT_QUIT &&
			keymap_lookup(&km, 'q', UC_MAIN) == ACT_NONE,
		"quit moved");
	T_CHECK(keymap_lookup(&km, '?', UC_MAIN) == ACT_NONE, "help unbound");
	before = km;
	const struct {
		const char *json, *want;
	} bad[] = {
		{"{\"pase\": \"p\"}", "config.json: keys: \"pase\" is not an action; did you mean "
				   "\"pause\""},
		{"{\"pause\": \"Ctrl+P\"}", "\"Ctrl+P\" is not a key"},
		{"{\"pause\": \"c\"}", "\"c\" is bound to both cancel and pause"},
		{"{\"pause\": 3}", "must be a string of keys"},
		{"{\"pause\": [\"a b\"]}", "each key must be one key name"},
		{"[1]", "\"keys\" must be an object"},
	};
	for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
		j = cJSON_Parse(bad[i].json);
		e.msg[0] = '\0';
		T_CHECK(keymap_load(&km, j, "config.json", &e) < 0, "accepted %s", bad[i].json);
		T_CONTAINS(e.msg, bad[i].want);
		T_CHECK(!memcmp(&km, &before, sizeof km), "key map changed by %s", bad[i].json);
		cJSON_Delete(j);
	}
	/* The same key in different places is fine: q quits, and leaves a pager. */
	j = cJSON_Parse("{\"back\": \"x\"}");
	T_CHECK(keymap_load(&km, j, "config.json", &e) == 0, "%s", e.msg);
	cJSON_Delete(j);
}

static void reference_for_the_man_page(void)
{
	struct buf b;

	buf_init(&b);
	actions_print_reference(&b, true);
	T_CONTAINS(b.data, ".TP\n.B +, K\nrun a node not yet running earlier");
	T_CONTAINS(b.data, ".B C\\-l\n");
	buf_reset(&b);
	actions_print_reference(&b, false);
	T_CONTAINS(b.data, "pause-engine");
	buf_free(&b);
}

/* ---- text for the terminal ------------------------------------------------------ */

static char *clean(const char *s, bool utf8)
{
	struct buf b;

	buf_init(&b);
	text_clean(&b, s, strlen(s), utf8);
	return buf_steal(&b);
}

static void escapes_never_reach_the_terminal(void)
{
	const struct {
		const char *in, *out;
		bool utf8;
	} cases[] = {
		{"plain text", "plain text", true},
		{"\033]0;pwned\007after", "after", true},
		{"\033]0;pwned\033\\after", "after", true},
		{"\033[2Jcleared", "cleared", true},
		{"\033[1;31mred\033[0m ok", "red ok", true},
		{"\033Pdcs payload\033\\x", "x", true},
		{"\033(Bcharset", "charset", true},
		{"\033cRIS", "RIS", true},
		{"bell\007here", "bell\\x07here", true},
		{"nul\x01 del\x7f", "nul\\x01 del\\x7f", true},
		{"c1 \xc2\x9b" "31m", "c1 \\x9b31m", true},
		{"bidi \xe2\x80\xae" "evil", "bidi \\u202eevil", true},
		{"bad \xff\xfe" " utf8", "bad \\xff\\xfe utf8", true},
		{"overlong \xc0\xaf", "overlong \\xc0\\xaf", true},
		{"caf\xc3\xa9", "caf\xc3\xa9", true},
		{"caf\xc3\xa9", "caf?", false},
		{"a\tb", "a       b", true},
		{"10%|##  \r 50%|####", " 50%|####", true},
		{"crlf\r", "crlf", true},
		{"unterminated \033]0;title", "unterminated ", true},
		{"trailing esc \033", "trailing esc ", true},
	};

	for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
		char *c = clean(cases[i].in, cases[i].utf8);
		T_STREQ(c, cases[i].out);
		T_CHECK(!strchr(c, '\033') && !strchr(c, '\007'), "case %zu: control left", i);
		free(c);
	}
}

static void widths_and_fitting(void)
{
	int used;

	T_CHECK(text_width("abc", true) == 3, "ascii");
	T_CHECK(text_width("\xe2\x96\x81\xe2\x96\x82", true) == 2, "sparkline chars");
	T_CHECK(text_width("\xe4\xb8\xad\xe6\x96\x87", true) == 4, "wide chars");
	T_CHECK(text_fit("\xe4\xb8\xad\xe6\x96\x87", 3, &used, true) == 3 && used == 2,
		"a wide char is not cut in half");
	T_CHECK(text_fit("abcdef", 4, &used, true) == 4 && used == 4, "cut");
	T_CHECK(text_find("Hello World", 0, "world") == 6, "case-insensitive");
	T_CHECK(text_find("abc", 0, "") == -1 && text_find("abc", 0, "x") == -1, "no match");
}

/* ---- the log tail ---------------------------------------------------------------- */

static void append(const char *path, const char *s)
{
	int fd = open(path, O_WRONLY | O_APPEND | O_CREAT, 0644);
	(void)!write(fd, s, strlen(s));
	close(fd);
}

static void log_tail_follows_growth(void)
{
	char *base = t_tmpdir(), *path = path_join(base, "log");
	struct logtail t;
	size_t len;

	logtail_init(&t);
	logtail_set(&t, path);
	T_CHECK(!logtail_poll(&t) && !logtail_open(&t), "no file yet");
	append(path, "one\ntwo\nthr");
	T_CHECK(logtail_poll(&t), "grew");
	T_CHECK(logtail_count(&t) == 3, "count %zu", logtail_count(&t));
	T_STREQ(logtail_line(&t, 2, &len), "thr");
	T_CHECK(!logtail_poll(&t), "no change");
	append(path, "ee\r\nfour\n");
	T_CHECK(logtail_poll(&t) && logtail_count(&t) == 4, "count %zu", logtail_count(&t));
	T_STREQ(logtail_line(&t, 2, &len), "three");
	T_STREQ(logtail_line(&t, 3, &len), "four");
	T_CHECK(t.total == 4, "total %llu", (unsigned long long)t.total);
	/* Truncated: start again. */
	int fd = open(path, O_WRONLY | O_TRUNC);
	close(fd);
	append(path, "new\n");
	T_CHECK(logtail_poll(&t) && logtail_count(&t) == 1, "after truncation %zu",
		logtail_count(&t));
	T_STREQ(logtail_line(&t, 0, &len), "new");
	logtail_free(&t);
	fs_remove_tree(base);
	free(path);
	free(base);
}

static void log_tail_reads_only_the_end_of_a_big_log(void)
{
	char *base = t_tmpdir(), *path = path_join(base, "log");
	struct logtail t;
	size_t len;
	char line[128];
	FILE *f = fopen(path, "w");

	/* ~8 MB of numbered lines, and one line far longer than a line may be. */
	for (int i = 0; i < 100000; i++)
		fprintf(f, "line %06d %s\n", i, "................................................................");
	for (int i = 0; i < 10000; i++)
		fputs("xxxxxxxxxx", f);
	fputs("\nlast\n", f);
	fclose(f);
	logtail_init(&t);
	logtail_set(&t, path);
	T_CHECK(logtail_poll(&t), "read");
	T_CHECK(t.skipped > 6000000, "skipped only %llu bytes", (unsigned long long)t.skipped);
	T_CHECK(logtail_count(&t) == LOGTAIL_LINES, "held %zu lines", logtail_count(&t));
	T_STREQ(logtail_line(&t, logtail_count(&t) - 1, &len), "last");
	const char *huge = logtail_line(&t, logtail_count(&t) - 2, &len);
	T_CHECK(len == LOGTAIL_LINE_MAX && huge[0] == 'x', "long line cut at %zu", len);
	snprintf(line, sizeof line, "line 099999 ");
	T_CHECK(!strncmp(logtail_line(&t, logtail_count(&t) - 3, &len), line, strlen(line)),
		"newest numbered line");
	/* A burst bigger than one read (1000 lines of 1 KB): skipped ahead, marked. */
	f = fopen(path, "a");
	for (int i = 0; i < 1000; i++)
		fprintf(f, "burst %06d %01010d\n", i, 0);
	fclose(f);
	T_CHECK(logtail_poll(&t), "burst read");
	T_CHECK(!strncmp(logtail_line(&t, logtail_count(&t) - 1, &len), "burst 000999 ", 13),
		"newest burst line");
	bool marked = false;
	for (size_t i = 0; i < logtail_count(&t); i++)
		marked |= !strcmp(logtail_line(&t, i, &len), "[...]");
	T_CHECK(marked, "the jump is marked");
	logtail_free(&t);
	fs_remove_tree(base);
	free(path);
	free(base);
}

int main(void)
{
	setlocale(LC_CTYPE, "C.UTF-8");
	T_RUN(layout_across_sizes);
	T_RUN(layout_at_80x24_and_120x40);
	T_RUN(builtin_themes_parse);
	T_RUN(theme_syntax);
	T_RUN(user_themes_win_and_bad_ones_fall_back);
	T_RUN(key_names_round_trip);
	T_RUN(default_keys_have_no_conflicts);
	T_RUN(keys_from_config);
	T_RUN(reference_for_the_man_page);
	T_RUN(escapes_never_reach_the_terminal);
	T_RUN(widths_and_fitting);
	T_RUN(log_tail_follows_growth);
	T_RUN(log_tail_reads_only_the_end_of_a_big_log);
	T_END();
}
