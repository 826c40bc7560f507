/*
 * ui_int.h — what the terminal UI's files share: struct ui and the entry
 * points of each pane. Nothing outside src/ui/ includes it, except the
 * screen tests, which use the few test hooks at the end.
 *
 * Key handlers never draw: they return a mask of what they changed
 * (DIRTY_*) and ui_draw() redraws exactly that, with one doupdate.
 */
#ifndef HYPOTOP_UI_INT_H
#define HYPOTOP_UI_INT_H

#ifndef NCURSES_WIDECHAR
#define NCURSES_WIDECHAR 1
#endif
#include <curses.h>

#include "hypotop/actions.h"
#include "hypotop/layout.h"
#include "hypotop/logtail.h"
#include "hypotop/noise.h"
#include "hypotop/theme.h"
#include "hypotop/ui.h"
#include "hypotop/workers.h"
#include "hypotop/workerstat.h"

enum ui_pane { PANE_TREE, PANE_LOG, PANE_WORKERS, PANE__COUNT };

enum {
	DIRTY_TREE = 1,
	DIRTY_LOG = 2,
	DIRTY_WORKERS = 4,
	DIRTY_STATUS = 8,
	DIRTY_HINTS = 16,
	DIRTY_PAGER = 32,
	DIRTY_ALL = 63,
	DIRTY_LAYOUT = 64, /* windows to be made again for a new size */
	DIRTY_CLEAR = 128, /* repaint the whole terminal */
};

/* Per node id flags of the tree view. */
enum { TV_FOLDED = 1, TV_HIT = 2, TV_SUBHIT = 4 };

struct tree_view {
	uint32_t *rows, *depth; /* the visible nodes in display order */
	size_t nrows, cap;
	uint8_t *flags;         /* TV_* by node id */
	uint32_t *qpos;         /* 1-based queue position by node id; 0 not queued */
	size_t flen;
	uint32_t sel;           /* selected node, kept across rebuilds */
	size_t sel_row, top;
	char *filter;
	uint64_t seq;           /* the workdir's seq when rows were built */
	uint32_t len;
	bool stale;
	int counts[ST__COUNT];
	size_t queued;
	/* The noise, the baseline's runs and the metric's precision (noise.h), per rebuild. */
	struct noise noise;
	struct runs base;
	int decimals;
};

struct log_view {
	struct logtail tail;
	uint32_t node;          /* whose log is held; NODE_NONE for none */
	bool follow, wrap;
	uint64_t top;           /* not following: number of the first line shown */
	uint64_t shown;         /* number of the first line the last draw showed */
	char *search;
	uint64_t match;         /* line number of the current match; UINT64_MAX none */
	/* The sparkline of a run that has ended, from its metrics.json. */
	double hist[64];
	int nhist;
	char hist_name[64];
	uint32_t hist_node;
	uint8_t hist_status;
};

enum pager_kind { PG_ANALYSIS, PG_DIFF, PG_LOG, PG_JSON, PG_HELP, PG_MESSAGES, PG_CALLS, PG_ALERTS,
		 PG_CURVES };

struct curves;

struct pager {
	bool open;
	enum pager_kind kind;
	char *title;
	char *text;
	size_t *lines; /* byte offset of each line in text */
	size_t nlines;
	size_t top;
	bool wrap;
	char *search;
	long match; /* line of the current match, -1 none */
	struct curves *curves; /* PG_CURVES: what it draws (curves.c) */
};

enum prompt_kind {
	PR_NONE,
	PR_ADD,
	PR_ADD_CHANGE,
	PR_GUIDE,
	PR_FILTER,
	PR_SEARCH,
	PR_CANCEL,
	PR_QUIT
};

struct prompt {
	enum prompt_kind kind;
	char label[192];
	struct buf text;
	size_t cur;    /* byte offset of the cursor */
	uint32_t node; /* the node it is about */
	char *before;  /* the filter or search before typing, restored by Esc */
	char *adding;  /* PR_ADD_CHANGE: the hypothesis typed first (not freed on close) */
};

#define UI_NOTES 256

struct note {
	int64_t at;
	char *text; /* clean */
	bool alert;
};

struct ui {
	struct ui_host host;
	SCREEN *scr;
	FILE *in, *out;
	WINDOW *win[PANE__COUNT], *w_border, *w_status, *w_hints, *w_pager, *w_input;
	struct layout lay;
	bool color, utf8;
	struct theme theme;
	char **themes;
	size_t nthemes, theme_i;
	attr_t attr[ROLE__COUNT];
	short pair[ROLE__COUNT];
	struct keymap keys;
	enum ui_pane focus;
	unsigned dirty;
	struct tree_view tv;
	struct log_view lv;
	size_t wsel; /* the workers pane's cursor: a row */
	struct pager pg;
	struct prompt pr;
	struct note notes[UI_NOTES];
	size_t nnotes; /* notes[(nnotes - 1) % UI_NOTES] is the newest */
	size_t alerts; /* the health rules' alerts among them ("alert: "), for the bar */
	/* What the UI answered a key with, an alert or a key that found
	 * nothing to do (the nnotes it had; 0: none): the hint line shows it
	 * until the next key, where the status bar may have no room for it. */
	size_t answer;
	struct workers reg;
	/*
	 * engine/workers.json as last read (wstat_read: a file was there),
	 * what stat(2) said of it and of workers.json ("" never looked at),
	 * and the second they were looked at.
	 */
	struct worker_stat *wstat;
	size_t nwstat;
	bool wstat_read;
#define UI_SIG_LEN 96
	char reg_sig[UI_SIG_LEN], stat_sig[UI_SIG_LEN];
	int64_t wchecked;
	int64_t (*clock)(void);
	/* What the last draw showed, to tell what has changed since. */
	int64_t drawn_sec;
	double drawn_progress;
	int drawn_engine;
	bool drawn_pager; /* the pager covers the panes and the divider */
};

/* ---- ui.c ---- */
int64_t ui_now(const struct ui *ui);
void ui_say(struct ui *ui, bool alert, const char *fmt, ...) PRINTF_LIKE(3, 4);
/* Why a key found nothing to do: a note, and the key's answer on the hint line. */
void ui_nothing(struct ui *ui, const char *fmt, ...) PRINTF_LIKE(2, 3);
enum engine_word { ENGINE_RUNNING, ENGINE_PAUSED, ENGINE_STOPPING, ENGINE_DONE };
enum engine_word ui_engine_state(const struct ui *ui);

/* ---- draw.c: drawing in roles, and what panes share ---- */
void draw_role(struct ui *ui, WINDOW *w, enum ui_role r);
/* Put clean text at y,x in at most maxw columns; returns the columns used. */
int draw_text(struct ui *ui, WINDOW *w, int y, int x, int maxw, enum ui_role r, const char *s);
/* The same for text from outside (cleaned first). */
int draw_raw(struct ui *ui, WINDOW *w, int y, int x, int maxw, enum ui_role r, const char *s,
	     size_t len);
void draw_fill(struct ui *ui, WINDOW *w, int y, int x, int n, enum ui_role r);
/*
 * Draw one clean line in rows of `width` columns from y,x0, skipping its
 * first `skip` rows, at most `max` rows (1: cut, not wrapped; wrapped rows
 * break after a space where they can), in role base
 * with the matches of search (may be NULL) in the match role. Returns the
 * rows used.
 */
int draw_wrapped(struct ui *ui, WINDOW *w, int y, int x0, int width, int skip, int max,
		 const char *clean, const char *search, enum ui_role base);
/* Rows clean text takes wrapped at width columns, as draw_wrapped wraps it. */
int wrap_rows(struct ui *ui, const char *clean, int width);
/* A pane's title line: the text, then `right` (clean) at the right edge. */
void draw_title(struct ui *ui, WINDOW *w, int width, bool focused, const char *left,
		const char *right);
/* Clean text of s, truncated to fit maxw columns with "…" or "~"; caller frees. */
char *draw_cut(struct ui *ui, const char *s, int maxw);
enum ui_role node_role(const struct node *n);
const char *node_glyph(const struct ui *ui, const struct node *n);
/* The run slot of a node, or NULL. */
struct slot *ui_slot_of(struct ui *ui, uint32_t node);
/* Progress of a running node: step (NAN if none), total (0 unknown), elapsed ms. */
void node_progress(struct ui *ui, const struct node *n, double *step, double *total,
		   int64_t *elapsed);
void fmt_duration(char *buf, size_t n, int64_t ms);
/* A sparkline of v[0..n) in at most w columns; clean text into out. */
void sparkline(struct ui *ui, const double *v, int n, int w, struct buf *out);
/* Whether a is better than b under the config's goal. */
bool metric_better(struct ui *ui, double a, double b);

/* ---- pane_tree.c ---- */
void tree_view_free(struct tree_view *tv);
/* Rebuild the rows when the tree changed; true when it did. */
bool tree_refresh(struct ui *ui);
void tree_draw(struct ui *ui);
unsigned tree_act(struct ui *ui, enum ui_action a);
struct node *tree_selected(struct ui *ui);
unsigned tree_select(struct ui *ui, uint32_t id);
unsigned tree_set_filter(struct ui *ui, const char *text);
unsigned tree_next_match(struct ui *ui, int dir);
/* Queue order of the nodes not started (queued, held, prepared), for earlier / later. */
size_t tree_queue_order(struct ui *ui, uint32_t **ids);
/* A running node's progress in width columns: bar, percent and ETA, or step and time. */
void draw_progress(struct ui *ui, WINDOW *w, int y, int x, int width, const struct node *n,
		   enum ui_role base);

/* ---- pane_log.c ---- */
void log_view_init(struct log_view *lv);
void log_view_free(struct log_view *lv);
/* Follow the selected node's log; read what it gained. Returns DIRTY_* bits. */
unsigned log_refresh(struct ui *ui);
void log_draw(struct ui *ui);
unsigned log_act(struct ui *ui, enum ui_action a);
unsigned log_set_search(struct ui *ui, const char *text);
unsigned log_next_match(struct ui *ui, int dir);

/* ---- pane_workers.c ---- */
/* Read workers.json and engine/workers.json again when they changed (once a second). */
unsigned workers_refresh(struct ui *ui);
void workers_pane_free(struct ui *ui);
int workers_rows_wanted(struct ui *ui);
void workers_draw(struct ui *ui);
unsigned workers_act(struct ui *ui, enum ui_action a);

/* ---- bar.c: status bar, key hints, the prompt line ---- */
void status_draw(struct ui *ui);
void hints_draw(struct ui *ui);
unsigned prompt_open(struct ui *ui, enum prompt_kind kind, uint32_t node, const char *label,
		     const char *text);
unsigned prompt_key(struct ui *ui, int key);

/* ---- alerts_view.c ---- */
/* The health rules' alerts (logs/alerts.jsonl), newest first, as the pager's text. */
void alerts_view_build(struct ui *ui, struct buf *b);

/* ---- curves.c: the curves view, a pager of its own drawing ---- */
struct curves *curves_load(struct ui *ui, const struct node *n);
void curves_free(struct curves *cv);
/* Draw ui->pg.curves in rows y0 .. y0+height-1 of w, width columns. */
void curves_draw(struct ui *ui, WINDOW *w, int y0, int width, int height);

/* ---- pager.c ---- */
unsigned pager_show(struct ui *ui, enum pager_kind kind);
void pager_close(struct ui *ui);
void pager_draw(struct ui *ui);
unsigned pager_act(struct ui *ui, enum ui_action a);
unsigned pager_set_search(struct ui *ui, const char *text);
unsigned pager_next_match(struct ui *ui, int dir);

/* ---- control.c: what a person asks of the engine ---- */
unsigned control_act(struct ui *ui, enum ui_action a);
/* The prompt for kind was answered with text. */
unsigned control_answer(struct ui *ui, enum prompt_kind kind, uint32_t node, const char *text);

/* ---- test hooks ---- */
void ui_set_clock(struct ui *ui, int64_t (*clock)(void));
/* Resize to rows x cols without asking the terminal. */
void ui_resize_to(struct ui *ui, int rows, int cols);
/*
 * The screen as text: for each row, the characters, then a line of one
 * letter per cell for its role (colour) or its attributes (no colour).
 */
void ui_dump(struct ui *ui, struct buf *out);

#endif
