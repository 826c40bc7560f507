/*
 * theme.h — colours by role. The UI never names a colour: it draws text in
 * a role (the cursor, a failed node, the status bar) and the theme says
 * what each role looks like.
 *
 * A theme is a text file, one role a line:
 *
 *     # comment
 *     cursor   = black cyan bold
 *     failed   = bright-red
 *     spark    = 33/blue default
 *
 * `role = FG [BG [ATTR...]]`: a colour is "default", one of black red green
 * yellow blue magenta cyan white, "bright-" one of those, or a number 0-255
 * with an optional "/name" for terminals with only 8 colours; attributes
 * are bold dim reverse underline italic standout, or "none". Roles a theme
 * leaves out look as in the built-in default theme.
 *
 * Themes live in themes/ (built into the binary) and in the user's
 * $XDG_CONFIG_HOME/hypotop/themes/NAME.theme (~/.config/...), which wins
 * over a built-in one of the same name. No curses here.
 */
#ifndef HYPOTOP_THEME_H
#define HYPOTOP_THEME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hypotop/util.h"

#define UI_ROLES(X)                                                                   \
	X(NORMAL, "normal", "ordinary text")                                          \
	X(DIM, "dim", "secondary text: node ids, units, empty panes")                 \
	X(TITLE, "title", "the title line of a pane")                                 \
	X(TITLE_FOCUS, "title.focus", "the title line of the focused pane")           \
	X(BORDER, "border", "the line between the panes")                             \
	X(CURSOR, "cursor", "the selected row of the focused pane")                   \
	X(CURSOR_IDLE, "cursor.idle", "the selected row of another pane")             \
	X(MATCH, "match", "filter and search matches")                                \
	X(BAR, "bar", "the status bar")                                               \
	X(BAR_ALERT, "bar.alert", "an alert or error in the status bar")              \
	X(HINT, "hint", "the key-hint line")                                          \
	X(HINT_KEY, "hint.key", "keys in the hint line and the help")                 \
	X(PROMPT, "prompt", "a question or an input line")                            \
	X(ERROR, "error", "an error message")                                         \
	X(SPARK, "spark", "the sparkline of the metric")                              \
	X(PROGRESS, "progress", "the done part of a progress bar")                    \
	X(PROGRESS_TODO, "progress.todo", "the rest of a progress bar")               \
	X(BETTER, "better", "a delta that improves on the parent")                    \
	X(WORSE, "worse", "a delta that does not")                                    \
	X(HEADING, "heading", "headings in pagers")                                   \
	X(DIFF_ADD, "diff.add", "added lines of a diff")                              \
	X(DIFF_DEL, "diff.del", "removed lines of a diff")                            \
	X(DIFF_HUNK, "diff.hunk", "hunk and file headers of a diff")                  \
	X(QUEUED, "queued", "a queued node")                                          \
	X(PREPARING, "preparing", "a node whose commit and work tree are being made") \
	X(BUILDING, "building", "a node being built")                                 \
	X(RUNNING, "running", "a running node")                                       \
	X(ANALYZING, "analyzing", "a node being analysed")                            \
	X(IMPROVED, "improved", "a completed node that improved")                     \
	X(NO_GAIN, "no-gain", "a completed node that did not")                        \
	X(FAILED, "failed", "a failed node")                                          \
	X(CANCELLED, "cancelled", "a cancelled or pruned node")                       \
	X(PAUSED, "paused", "a paused node")                                          \
	X(WORKER_UP, "worker.up", "an idle worker or slot")                           \
	X(WORKER_BUSY, "worker.busy", "a busy worker or slot")                        \
	X(WORKER_DOWN, "worker.down", "a worker that is down or unused")              \
	X(ENGINE_RUNNING, "engine.running", "the engine state when running")          \
	X(ENGINE_PAUSED, "engine.paused", "the engine state when paused")             \
	X(ENGINE_STOPPING, "engine.stopping", "the engine state when stopping or done")

enum ui_role {
#define X(e, name, doc) ROLE_##e,
	UI_ROLES(X)
#undef X
	ROLE__COUNT
};

const char *role_name(enum ui_role r);
const char *role_doc(enum ui_role r);
/* -1 when name is not a role. */
int role_parse(const char *name);

/* Attributes, independent of curses. */
enum {
	TA_BOLD = 1,
	TA_DIM = 2,
	TA_REVERSE = 4,
	TA_UNDERLINE = 8,
	TA_ITALIC = 16,
	TA_STANDOUT = 32,
};

/* A colour: -1 the terminal's default, else 0-255; c8 the 8-colour stand-in. */
struct color {
	short c, c8;
	bool bright8; /* on 8 colours, a foreground shown bold */
};

struct style {
	struct color fg, bg;
	unsigned attrs;
	bool set; /* given by the theme file */
};

#define THEME_NAME_MAX 64

struct theme {
	char name[THEME_NAME_MAX];
	struct style r[ROLE__COUNT];
};

/*
 * Parse theme text over t (roles it names replace t's). `what` names the
 * file in messages ("solarized.theme:12: ..."). On error t is unchanged.
 */
int theme_parse(struct theme *t, const char *text, const char *what, struct err *e);
/* The built-in default theme. */
void theme_default(struct theme *t);
/*
 * Load a theme by name (user folder first, then built in) over the default.
 * On error t is the default theme and e says why.
 */
int theme_load(struct theme *t, const char *name, struct err *e);
/* Names of every theme, built in and the user's, sorted; caller frees. */
size_t theme_list(char ***names);
void theme_list_free(char **names, size_t n);
/* $XDG_CONFIG_HOME/hypotop (or ~/.config/hypotop); caller frees; NULL if unknown. */
char *theme_config_dir(void);

/* Built into the binary from the files of themes/; ends with a NULL name. */
struct theme_file {
	const char *name, *data;
	size_t len;
};
extern const struct theme_file theme_files[];

#endif
