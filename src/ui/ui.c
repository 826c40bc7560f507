/*
 * ui.c — the terminal UI's life: open and close the screen, read keys and
 * dispatch them through the action table, decide what to redraw, and the
 * engine's notes (see ui.h and ui_int.h).
 */
#include "hypotop/ui_int.h"

#include <langinfo.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <termios.h>

#include "hypotop/fsutil.h"
#include "hypotop/json.h"
#include "hypotop/termtext.h"

int64_t ui_now(const struct ui *ui)
{
	return ui->clock();
}

void ui_set_clock(struct ui *ui, int64_t (*clock)(void))
{
	ui->clock = clock;
	ui->dirty |= DIRTY_ALL;
}

/* ---- notes: the engine's messages and the UI's own --------------------- */

static bool is_alert(const char *s)
{
	return !strncmp(s, "error", 5) || !strncmp(s, "warning", 7) || !strncmp(s, "alert", 5) ||
	       strstr(s, ": failed (") ||
	       (strstr(s, ": stopping the job (") && !strstr(s, "(cancelled)"));
}

static void note_add(struct ui *ui, bool alert, const char *msg)
{
	struct note *n = &ui->notes[ui->nnotes % UI_NOTES];
	struct buf b;

	free(n->text);
	buf_init(&b);
	text_clean(&b, msg, strlen(msg), ui->utf8);
	n->text = buf_steal(&b);
	n->at = ui_now(ui);
	n->alert = alert;
	ui->nnotes++;
	ui->dirty |= DIRTY_STATUS;
	if (ui->pg.open && ui->pg.kind == PG_MESSAGES)
		ui->dirty |= DIRTY_PAGER;
}

void ui_note(struct ui *ui, const char *msg)
{
	bool alert = is_alert(msg);
	/* A health rule's alert rings only when alerts.bell is on. */
	bool quiet = !strncmp(msg, "alert: ", 7) && ui->host.wd && !ui->host.wd->cfg.alerts_bell;

	note_add(ui, alert, msg);
	if (!strncmp(msg, "alert: ", 7))
		ui->alerts++;
	if (alert && !quiet)
		beep();
}

static void say(struct ui *ui, bool alert, bool answer, const char *fmt, va_list ap)
{
	char msg[1024];

	vsnprintf(msg, sizeof msg, fmt, ap);
	note_add(ui, alert, msg);
	if (answer) {
		ui->answer = ui->nnotes;
		ui->dirty |= DIRTY_HINTS;
	}
}

void ui_say(struct ui *ui, bool alert, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	say(ui, alert, alert, fmt, ap);
	va_end(ap);
}

void ui_nothing(struct ui *ui, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	say(ui, false, true, fmt, ap);
	va_end(ap);
}

enum engine_word ui_engine_state(const struct ui *ui)
{
	const struct sched *s = ui->host.sched;

	if (!s)
		return ENGINE_RUNNING;
	if (s->stopping)
		return ENGINE_STOPPING;
	if (s->paused)
		return ENGINE_PAUSED;
	if (s->done)
		return ENGINE_DONE;
	return ENGINE_RUNNING;
}

/* ---- themes ------------------------------------------------------------- */

static attr_t curses_attrs(unsigned a)
{
	attr_t r = A_NORMAL;

	if (a & TA_BOLD)
		r |= A_BOLD;
	if (a & TA_DIM)
		r |= A_DIM;
	if (a & TA_REVERSE)
		r |= A_REVERSE;
	if (a & TA_UNDERLINE)
		r |= A_UNDERLINE;
	if (a & TA_ITALIC)
		r |= A_ITALIC;
	if (a & TA_STANDOUT)
		r |= A_STANDOUT;
	return r;
}

static short pick(const struct color *c, bool fg, attr_t *extra, bool defaults)
{
	short v;

	if (c->c < 0)
		return defaults ? -1 : fg ? COLOR_WHITE : COLOR_BLACK;
	if (COLORS >= 256 || (COLORS >= 16 && c->c < 16)) {
		v = c->c;
	} else {
		v = c->c8;
		if (v < 0)
			return defaults ? -1 : fg ? COLOR_WHITE : COLOR_BLACK;
		if (fg && c->bright8)
			*extra |= A_BOLD;
	}
	return v;
}

static void theme_apply(struct ui *ui)
{
	bool defaults = ui->color && use_default_colors() == OK;

	for (int r = 0; r < ROLE__COUNT; r++) {
		const struct style *st = &ui->theme.r[r];
		attr_t a = curses_attrs(st->attrs);
		ui->pair[r] = 0;
		if (ui->color) {
			short fg = pick(&st->fg, true, &a, defaults);
			short bg = pick(&st->bg, false, &a, defaults);
			init_pair((short)(r + 1), fg, bg);
			ui->pair[r] = (short)(r + 1);
		}
		ui->attr[r] = a;
	}
	ui->dirty |= DIRTY_ALL | DIRTY_LAYOUT;
}

static void use_theme(struct ui *ui, const char *name)
{
	struct err e = {{0}};

	if (!ui->color) {
		theme_load(&ui->theme, "monochrome", &e);
	} else if (theme_load(&ui->theme, name, &e) < 0) {
		ui_say(ui, true, "%s", e.msg);
	}
	for (size_t i = 0; i < ui->nthemes; i++)
		if (!strcmp(ui->themes[i], ui->theme.name))
			ui->theme_i = i;
	theme_apply(ui);
}

static unsigned next_theme(struct ui *ui)
{
	if (!ui->color) {
		ui_nothing(ui, "no colours (NO_COLOR is set, or the terminal has none): the "
			       "monochrome theme stays");
		return DIRTY_STATUS;
	}
	if (!ui->nthemes)
		return 0;
	ui->theme_i = (ui->theme_i + 1) % ui->nthemes;
	use_theme(ui, ui->themes[ui->theme_i]);
	ui_say(ui, false, "theme %s", ui->theme.name);
	return DIRTY_ALL | DIRTY_CLEAR;
}

/* ---- the user's config: theme and keys --------------------------------- */

static void load_config(struct ui *ui, char **theme)
{
	char *dir = theme_config_dir();
	char *path = dir ? path_join(dir, "config.json") : NULL;
	struct err e = {{0}};

	*theme = xstrdup(getenv("HYPOTOP_THEME") && *getenv("HYPOTOP_THEME")
				 ? getenv("HYPOTOP_THEME")
				 : "default");
	if (!path || !fs_exists(path))
		goto out;
	cJSON *j = json_parse_file_max(path, FS_MAX_CONFIG, &e);
	if (!j) {
		ui_say(ui, true, "%s; using the default keys and theme", e.msg);
		goto out;
	}
	if (!cJSON_IsObject(j)) {
		ui_say(ui, true, "%s: must be a JSON object with \"theme\" and \"keys\"", path);
		cJSON_Delete(j);
		goto out;
	}
	for (const cJSON *it = j->child; it; it = it->next) {
		if (!strcmp(it->string, "theme") && cJSON_IsString(it)) {
			free(*theme);
			*theme = xstrdup(it->valuestring);
		} else if (!strcmp(it->string, "keys")) {
			if (keymap_load(&ui->keys, it, path, &e) < 0)
				ui_say(ui, true, "%s; using the default keys", e.msg);
		} else {
			ui_say(ui, true, "%s: \"%s\" is not a setting; the file holds \"theme\" (a "
					 "name) and \"keys\" (action: keys)",
			       path, it->string);
		}
	}
	cJSON_Delete(j);
out:
	free(dir);
	free(path);
}

/* ---- windows -------------------------------------------------------------- */

static void free_windows(struct ui *ui)
{
	WINDOW **all[] = {&ui->win[PANE_TREE], &ui->win[PANE_LOG], &ui->win[PANE_WORKERS],
			  &ui->w_border, &ui->w_status, &ui->w_hints, &ui->w_pager};

	for (size_t i = 0; i < ARRAY_LEN(all); i++) {
		if (*all[i])
			delwin(*all[i]);
		*all[i] = NULL;
	}
}

static WINDOW *make(struct ui *ui, const struct rect *r)
{
	if (r->h <= 0 || r->w <= 0)
		return NULL;
	WINDOW *w = newwin(r->h, r->w, r->y, r->x);
	if (w)
		wbkgdset(w, ' ' | ui->attr[ROLE_NORMAL] | (attr_t)COLOR_PAIR(ui->pair[ROLE_NORMAL]));
	return w;
}

static void make_windows(struct ui *ui)
{
	free_windows(ui);
	layout_compute(&ui->lay, LINES, COLS, workers_rows_wanted(ui));
	if (ui->lay.too_small)
		return;
	ui->win[PANE_TREE] = make(ui, &ui->lay.tree);
	ui->win[PANE_LOG] = make(ui, &ui->lay.log);
	ui->win[PANE_WORKERS] = make(ui, &ui->lay.workers);
	ui->w_border = make(ui, &ui->lay.border);
	ui->w_status = make(ui, &ui->lay.status);
	ui->w_hints = make(ui, &ui->lay.hints);
	ui->w_pager = make(ui, &ui->lay.pager);
	if (!ui->win[ui->focus])
		ui->focus = PANE_TREE;
}

void ui_resize_to(struct ui *ui, int rows, int cols)
{
	if (rows < 1 || cols < 1)
		return;
	resize_term(rows, cols);
	ui->dirty |= DIRTY_ALL | DIRTY_LAYOUT | DIRTY_CLEAR;
}

void ui_resize(struct ui *ui)
{
	struct winsize ws;

	if (ioctl(fileno(ui->out), TIOCGWINSZ, &ws) == 0 && ws.ws_row && ws.ws_col)
		ui_resize_to(ui, ws.ws_row, ws.ws_col);
	else
		ui->dirty |= DIRTY_ALL | DIRTY_LAYOUT | DIRTY_CLEAR;
}

/* ---- open and close -------------------------------------------------------- */

struct ui *ui_open(const struct ui_host *host, FILE *in, FILE *out, struct err *e)
{
	struct ui *ui = xcalloc(1, sizeof *ui);
	const char *cs = nl_langinfo(CODESET);
	const char *nc = getenv("NO_COLOR");

	ui->host = *host;
	ui->in = in;
	ui->out = out;
	ui->clock = now_ms;
	ui->utf8 = cs && !strcmp(cs, "UTF-8");
	ui->scr = newterm(NULL, out, in);
	if (!ui->scr) {
		const char *term = getenv("TERM");
		err_set(e, "cannot use the terminal (TERM=%s); set TERM to your terminal's type, "
			   "or run without the UI: hypotop run --headless WORKDIR",
			term ? term : "");
		free(ui);
		return NULL;
	}
	set_term(ui->scr);
	cbreak();
	noecho();
	nonl();
	curs_set(0);
	set_escdelay(25);
	ui->color = has_colors() && !(nc && *nc);
	if (ui->color)
		start_color();
	ui->w_input = newpad(1, 1);
	keypad(ui->w_input, TRUE);
	nodelay(ui->w_input, TRUE);
	buf_init(&ui->pr.text);
	ui->tv.sel = 0;
	ui->tv.stale = true;
	log_view_init(&ui->lv);
	keymap_defaults(&ui->keys);
	ui->nthemes = theme_list(&ui->themes);
	char *theme;
	load_config(ui, &theme);
	use_theme(ui, theme);
	free(theme);
	ui->wchecked = -1;
	ui->focus = PANE_TREE;
	ui->drawn_engine = -1;
	ui->dirty = DIRTY_ALL | DIRTY_LAYOUT | DIRTY_CLEAR;
	return ui;
}

void ui_close(struct ui *ui)
{
	if (!ui)
		return;
	pager_close(ui);
	free_windows(ui);
	if (ui->w_input)
		delwin(ui->w_input);
	endwin();
	delscreen(ui->scr);
	buf_free(&ui->pr.text);
	free(ui->pr.before);
	free(ui->pr.adding);
	tree_view_free(&ui->tv);
	log_view_free(&ui->lv);
	workers_pane_free(ui);
	theme_list_free(ui->themes, ui->nthemes);
	for (size_t i = 0; i < UI_NOTES; i++)
		free(ui->notes[i].text);
	free(ui);
}

void ui_set_model(struct ui *ui, struct workdir *wd, pid_t attached)
{
	ui->host.wd = wd;
	ui->host.attached = attached;
	ui->tv.stale = true;
	ui->dirty |= DIRTY_ALL;
}

int ui_fd(const struct ui *ui)
{
	return fileno(ui->in);
}

/* ---- keys ------------------------------------------------------------------ */

static unsigned focus(struct ui *ui, enum ui_pane p)
{
	if (!ui->win[p])
		return 0;
	ui->focus = p;
	return DIRTY_ALL;
}

static unsigned next_pane(struct ui *ui, int dir)
{
	for (int i = 1; i <= PANE__COUNT; i++) {
		enum ui_pane p = (enum ui_pane)((ui->focus + PANE__COUNT + dir * i) % PANE__COUNT);
		if (ui->win[p])
			return focus(ui, p);
	}
	return 0;
}

static unsigned main_act(struct ui *ui, enum ui_action a)
{
	switch (a) {
	case ACT_NEXT_PANE:
		return next_pane(ui, 1);
	case ACT_PREV_PANE:
		return next_pane(ui, -1);
	case ACT_FOCUS_TREE:
		return focus(ui, PANE_TREE);
	case ACT_FOCUS_LOG:
		return focus(ui, PANE_LOG);
	case ACT_FOCUS_WORKERS:
		return focus(ui, PANE_WORKERS);
	case ACT_SEARCH:
		if (ui->focus == PANE_LOG)
			return prompt_open(ui, PR_SEARCH, NODE_NONE, "search the log: ",
					   ui->lv.search);
		return prompt_open(ui, PR_FILTER, NODE_NONE, "filter: ", ui->tv.filter);
	case ACT_NEXT_MATCH:
	case ACT_PREV_MATCH:
		if (ui->focus == PANE_LOG)
			return log_next_match(ui, a == ACT_NEXT_MATCH ? 1 : -1);
		return tree_next_match(ui, a == ACT_NEXT_MATCH ? 1 : -1);
	case ACT_CLEAR:
		if (ui->focus == PANE_LOG)
			return log_set_search(ui, NULL);
		return tree_set_filter(ui, NULL);
	case ACT_ANALYSIS:
		return pager_show(ui, PG_ANALYSIS);
	case ACT_DIFF:
		return pager_show(ui, PG_DIFF);
	case ACT_LOG:
		return pager_show(ui, PG_LOG);
	case ACT_JSON:
		return pager_show(ui, PG_JSON);
	case ACT_MESSAGES:
		return pager_show(ui, PG_MESSAGES);
	case ACT_CALLS:
		return pager_show(ui, PG_CALLS);
	case ACT_ALERTS:
		return pager_show(ui, PG_ALERTS);
	case ACT_CURVES:
		return pager_show(ui, PG_CURVES);
	case ACT_FOLLOW:
	case ACT_WRAP:
		return log_act(ui, a);
	case ACT_TOGGLE_WORKER:
		return workers_act(ui, a);
	case ACT_COLLAPSE:
	case ACT_EXPAND:
		return tree_act(ui, a);
	case ACT_DOWN:
	case ACT_UP:
	case ACT_TOP:
	case ACT_BOTTOM:
	case ACT_PAGE_DOWN:
	case ACT_PAGE_UP:
		if (ui->focus == PANE_LOG)
			return log_act(ui, a);
		if (ui->focus == PANE_WORKERS)
			return workers_act(ui, a);
		return tree_act(ui, a);
	default:
		return control_act(ui, a);
	}
}

static unsigned act(struct ui *ui, enum ui_action a)
{
	switch (a) {
	case ACT_HELP:
		return pager_show(ui, PG_HELP);
	case ACT_REDRAW:
		return DIRTY_ALL | DIRTY_LAYOUT | DIRTY_CLEAR;
	case ACT_THEME:
		return next_theme(ui);
	default:
		break;
	}
	if (ui->pg.open)
		return pager_act(ui, a);
	return main_act(ui, a);
}

static unsigned key(struct ui *ui, int k)
{
	if (ui->answer) {
		ui->answer = 0;
		ui->dirty |= DIRTY_HINTS;
	}
	if (ui->pr.kind != PR_NONE)
		return prompt_key(ui, k);
	enum ui_action a = keymap_lookup(&ui->keys, k, ui->pg.open ? UC_PAGER : UC_MAIN);
	return a == ACT_NONE ? 0 : act(ui, a);
}

void ui_input(struct ui *ui)
{
	wint_t ch;
	int rc;

	while ((rc = wget_wch(ui->w_input, &ch)) != ERR) {
		int k;
		if (rc == KEY_CODE_YES) {
			if (ch == KEY_RESIZE) {
				ui_resize(ui);
				continue;
			}
			k = ch == KEY_ENTER ? UI_KEY_ENTER : UI_KEY_FN((int)ch);
		} else if (ch == '\n' || ch == '\r') {
			k = UI_KEY_ENTER;
		} else if (ch == 127 || ch == 8) {
			k = UI_KEY_FN(KEY_BACKSPACE);
		} else {
			k = (int)ch;
		}
		ui->dirty |= key(ui, k);
	}
}

/* ---- drawing ------------------------------------------------------------------ */

/* A number that moves when any running job makes progress. */
static double progress_mark(struct ui *ui)
{
	const struct sched *s = ui->host.sched;
	double m = 0;

	for (size_t i = 0; s && i < s->nslots; i++)
		if (s->slots[i].used)
			m += (double)s->slots[i].metrics.lines + (double)s->slots[i].node * 7 +
			     (double)s->slots[i].have_job;
	return m;
}

static bool any_running(struct ui *ui)
{
	const struct sched *s = ui->host.sched;

	for (size_t i = 0; s && i < s->nslots; i++)
		if (s->slots[i].used)
			return true;
	return false;
}

static void draw_border(struct ui *ui)
{
	WINDOW *w = ui->w_border;

	if (!w)
		return;
	werase(w);
	for (int y = 0; y < ui->lay.border.h; y++)
		draw_text(ui, w, y, 0, 1, ROLE_BORDER, ui->utf8 ? "\xe2\x94\x82" : "|");
	wnoutrefresh(w);
}

static void draw_too_small(struct ui *ui)
{
	char msg[96];

	werase(stdscr);
	snprintf(msg, sizeof msg, "terminal too small: %dx%d; hypotop needs %dx%d", COLS, LINES,
		 LAYOUT_MIN_COLS, LAYOUT_MIN_ROWS);
	draw_text(ui, stdscr, 0, 0, COLS, ROLE_NORMAL, msg);
	wnoutrefresh(stdscr);
}

void ui_draw(struct ui *ui)
{
	ui->dirty |= workers_refresh(ui);
	if (tree_refresh(ui))
		ui->dirty |= DIRTY_TREE | DIRTY_WORKERS | DIRTY_STATUS | DIRTY_HINTS;
	ui->dirty |= log_refresh(ui);
	int eng = (int)ui_engine_state(ui);
	if (eng != ui->drawn_engine) {
		ui->drawn_engine = eng;
		ui->dirty |= DIRTY_STATUS;
	}
	const struct sched *sc = ui->host.sched;
	if (sc && sc->nflights && ui_now(ui) / 1000 != ui->drawn_sec) {
		ui->drawn_sec = ui_now(ui) / 1000; /* the seconds of a call in flight */
		ui->dirty |= DIRTY_STATUS | DIRTY_TREE | DIRTY_WORKERS | DIRTY_LOG;
	}
	if (any_running(ui)) {
		int64_t sec = ui_now(ui) / 1000;
		double pm = progress_mark(ui);
		if (sec != ui->drawn_sec || pm != ui->drawn_progress) {
			ui->drawn_sec = sec;
			ui->drawn_progress = pm;
			ui->dirty |= DIRTY_TREE | DIRTY_WORKERS | DIRTY_LOG;
		}
	}
	if (ui->drawn_pager && !ui->pg.open)
		ui->dirty |= DIRTY_ALL; /* everything the pager covered */
	if (!ui->dirty)
		return;
	if (ui->dirty & DIRTY_LAYOUT)
		make_windows(ui);
	if (ui->dirty & DIRTY_CLEAR)
		clearok(curscr, TRUE);
	if (ui->lay.too_small) {
		draw_too_small(ui);
	} else if (ui->pg.open) {
		if (ui->dirty & (DIRTY_PAGER | DIRTY_LAYOUT | DIRTY_CLEAR))
			pager_draw(ui);
	} else {
		/* The divider is drawn only when what covered it goes. */
		if ((ui->dirty & (DIRTY_LAYOUT | DIRTY_CLEAR)) || ui->drawn_pager)
			draw_border(ui);
		if (ui->dirty & DIRTY_TREE)
			tree_draw(ui);
		if (ui->dirty & DIRTY_LOG)
			log_draw(ui);
		if (ui->dirty & DIRTY_WORKERS)
			workers_draw(ui);
	}
	if (!ui->lay.too_small) {
		if (ui->dirty & DIRTY_STATUS)
			status_draw(ui);
		if (ui->dirty & DIRTY_HINTS)
			hints_draw(ui);
	}
	ui->drawn_pager = ui->pg.open && !ui->lay.too_small;
	doupdate();
	ui->dirty = 0;
}

/* ---- the screen as text, for the screen tests --------------------------------- */

static const char role_letters[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";

void ui_dump(struct ui *ui, struct buf *out)
{
	buf_printf(out, "# screen %dx%d, %s; under each row one letter per cell: ", COLS, LINES,
		   ui->color ? "colour" : "no colour");
	if (ui->color) {
		buf_adds(out, "its role\n#");
		for (int r = 0; r < ROLE__COUNT; r++)
			buf_printf(out, " %c=%s", role_letters[r], role_name(r));
		buf_addc(out, '\n');
	} else {
		buf_adds(out, "its attributes, a hex digit of bold 1, dim 2, reverse 4, "
			      "underline 8\n");
	}
	for (int y = 0; y < LINES; y++) {
		struct buf roles;
		buf_init(&roles);
		for (int x = 0; x < COLS; x++) {
			cchar_t cc;
			wchar_t wch[CCHARW_MAX + 1] = {0};
			attr_t attrs = 0;
			short pair = 0;
			char c = '?';
			if (mvwin_wch(curscr, y, x, &cc) == ERR ||
			    getcchar(&cc, wch, &attrs, &pair, NULL) == ERR) {
				buf_addc(out, ' ');
				buf_addc(&roles, ' ');
				continue;
			}
			char mb[64];
			size_t n = wcstombs(mb, wch, sizeof mb);
			if (n == (size_t)-1 || n == 0)
				buf_addc(out, ' ');
			else
				buf_add(out, mb, n);
			if (ui->color) {
				if (pair >= 1 && pair <= ROLE__COUNT)
					c = role_letters[pair - 1];
			} else {
				unsigned v = (attrs & A_BOLD ? 1 : 0) | (attrs & A_DIM ? 2 : 0) |
					     (attrs & A_REVERSE ? 4 : 0) |
					     (attrs & A_UNDERLINE ? 8 : 0);
				c = "0123456789abcdef"[v];
			}
			buf_addc(&roles, c);
			int w = wch[0] ? wcwidth(wch[0]) : 1;
			if (w == 2) {
				x++;
				buf_addc(&roles, c);
			}
		}
		buf_addc(out, '\n');
		buf_adds(out, roles.data ? roles.data : "");
		buf_addc(out, '\n');
		buf_free(&roles);
	}
}
