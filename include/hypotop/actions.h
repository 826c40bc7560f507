/*
 * actions.h — what a key can do in the terminal UI.
 *
 * One list (UI_ACTIONS) gives every action its name (as written in the
 * "keys" object of the user's config), its default keys, where it applies
 * (the main screen, a pager, or both), the word the key-hint line shows and
 * its help text. The key dispatcher, the help screen, the hint line,
 * `hypotop keys` (and through it the man page) all read this one list, so
 * behaviour and documentation cannot drift apart. No curses here: key
 * codes are plain ints (see UI_KEY_FN), so the module is unit-tested alone.
 */
#ifndef HYPOTOP_ACTIONS_H
#define HYPOTOP_ACTIONS_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>

#include "hypotop/util.h"

/* Where an action applies. */
enum ui_ctx { UC_MAIN = 1, UC_PAGER = 2, UC_ANY = 3 };

#define UI_ACTIONS(X)                                                                     \
	X(DOWN, "down", "j Down", UC_ANY, NULL, "move down; in the log and pagers, scroll")  \
	X(UP, "up", "k Up", UC_ANY, NULL, "move up")                                         \
	X(TOP, "top", "g Home", UC_ANY, NULL, "go to the first line")                        \
	X(BOTTOM, "bottom", "G End", UC_ANY, NULL,                                           \
	  "go to the last line (the log follows its end again)")                             \
	X(PAGE_DOWN, "page-down", "PgDn C-f", UC_ANY, NULL, "one page down")                 \
	X(PAGE_UP, "page-up", "PgUp C-b", UC_ANY, NULL, "one page up")                       \
	X(NEXT_PANE, "next-pane", "Tab", UC_MAIN, "pane", "focus the next pane")             \
	X(PREV_PANE, "prev-pane", "BTab", UC_MAIN, NULL, "focus the previous pane")          \
	X(FOCUS_TREE, "focus-tree", "1", UC_MAIN, NULL, "focus the hypothesis tree")         \
	X(FOCUS_LOG, "focus-log", "2", UC_MAIN, NULL, "focus the log of the selected run")   \
	X(FOCUS_WORKERS, "focus-workers", "3", UC_MAIN, NULL, "focus the workers")           \
	X(COLLAPSE, "collapse", "h Left", UC_MAIN, NULL,                                     \
	  "fold the node's children away; on a leaf, go to its parent")                     \
	X(EXPAND, "expand", "Right", UC_MAIN, NULL, "unfold the node's children")            \
	X(EARLIER, "earlier", "+ K", UC_MAIN, "order",                                       \
	  "run a node not yet running earlier: priority one less than the node before it") \
	X(LATER, "later", "- J", UC_MAIN, NULL,                                               \
	  "run a node not yet running later: priority one more than the node after it")   \
	X(PAUSE, "pause", "p", UC_MAIN, "pause",                                             \
	  "pause the node (one not yet running is skipped, a running job stopped), or resume it") \
	X(PAUSE_ENGINE, "pause-engine", "P", UC_MAIN, NULL,                                  \
	  "pause or resume the engine: no launches and no planning while paused")           \
	X(CANCEL, "cancel", "c", UC_MAIN, "cancel",                                          \
	  "cancel the node (asks); a running job is stopped, its branch and log kept")      \
	X(RETRY, "retry", "r", UC_MAIN, "retry", "queue a copy of a finished node")          \
	X(ADD, "add", "a", UC_MAIN, "add",                                                   \
	  "add a hypothesis of your own under the node, then its change: params as "       \
	  "name=value pairs, or Enter alone to write a patch in $EDITOR")                  \
	X(TOGGLE_WORKER, "toggle-worker", "e", UC_MAIN, NULL,                                \
	  "in the workers pane, disable the worker of the cursor's row (no new jobs on it; " \
	  "its running ones go on) or enable it again, as 'hypotop worker' does")         \
	X(GUIDE, "guide", "D", UC_MAIN, NULL,                                                \
	  "type guidance for the planner: added to directive.md, read by every later round") \
	X(ANALYSIS, "analysis", "Enter", UC_MAIN, "analysis", "read the node's analysis")     \
	X(DIFF, "diff", "d", UC_MAIN, "diff",                                                \
	  "the node's change: its commit's git diff against the parent's (before the "     \
	  "commit, the change as proposed)")                                               \
	X(LOG, "log", "l", UC_MAIN, "log", "the node's whole log in a pager")                \
	X(JSON, "json", "s", UC_MAIN, NULL, "the node's spec and result as JSON")            \
	X(CALLS, "calls", "M", UC_MAIN, NULL,                                                \
	  "the node's model calls (the one that proposed it, its analyses and repairs): "  \
	  "kind, model, tokens, cost and time, then each one's answer and prompt")        \
	X(CURVES, "curves", "v", UC_MAIN, NULL,                                              \
	  "the run's curve (prune.series, the metric or loss, by step) over the best run's " \
	  "and its parent's, drawn in braille")                                            \
	X(MESSAGES, "messages", "m", UC_MAIN, NULL, "the engine's messages and alerts")      \
	X(ALERTS, "alerts", "A", UC_MAIN, NULL,                                              \
	  "the health rules' alerts, newest first: time, severity, node, rule, value and "  \
	  "threshold, action, step, worker (logs/alerts.jsonl)")                            \
	X(SEARCH, "search", "/", UC_ANY, "filter",                                           \
	  "filter the tree; in the log or a pager, search")                                  \
	X(NEXT_MATCH, "next-match", "n", UC_ANY, NULL, "go to the next match")               \
	X(PREV_MATCH, "prev-match", "N", UC_ANY, NULL, "go to the previous match")           \
	X(CLEAR, "clear", "Esc", UC_MAIN, NULL, "clear the filter or the search")            \
	X(FOLLOW, "follow", "f", UC_MAIN, NULL, "follow the end of the log, or stop")        \
	X(WRAP, "wrap", "w", UC_ANY, NULL, "wrap long lines, or cut them")                   \
	X(THEME, "theme", "t", UC_ANY, NULL, "switch to the next theme")                     \
	X(HELP, "help", "? F1", UC_ANY, "help", "this help")                                 \
	X(REDRAW, "redraw", "C-l", UC_ANY, NULL, "redraw the whole screen")                  \
	X(BACK, "back", "q Esc", UC_PAGER, "back", "leave the pager")                        \
	X(QUIT, "quit", "q", UC_MAIN, "quit",                                                \
	  "quit (asks); running jobs keep running; attached to a running engine, detach")

enum ui_action {
	ACT_NONE = -1,
#define X(e, name, keys, ctx, hint, doc) ACT_##e,
	UI_ACTIONS(X)
#undef X
	ACT__COUNT
};

struct action_info {
	const char *name, *keys, *hint, *doc;
	enum ui_ctx ctx;
};

const struct action_info *action_info(enum ui_action a);
/* ACT_NONE when name is not an action. */
enum ui_action action_parse(const char *name);

/*
 * Keys: a character is its Unicode code point (Ctrl-L is 12, Esc 27); a
 * curses function key k (KEY_DOWN...) is UI_KEY_FN(k), above Unicode.
 */
#define UI_KEY_FN(k) (0x110000 + (k))
#define UI_KEY_ESC 27
#define UI_KEY_ENTER 13

/* "j", "C-l", "Down", "PgUp", "Enter", "Space", "F1"...; -1 when not a key. */
int key_parse(const char *name);
void key_format(int key, char *buf, size_t n);

#define KEYMAP_MAX 160

struct keymap {
	struct {
		int key;
		short action;
	} v[KEYMAP_MAX];
	size_t len;
};

void keymap_defaults(struct keymap *km);
/*
 * The "keys" object of the user's config: {"pause": "p", "quit": "q C-q",
 * "help": ["?", "F1"]}. Each action named gets exactly the keys given ("" for
 * none). `what` names the file in messages; on error km is unchanged.
 */
int keymap_load(struct keymap *km, const cJSON *keys, const char *what, struct err *e);
enum ui_action keymap_lookup(const struct keymap *km, int key, enum ui_ctx ctx);
/* The keys of an action, "j, Down"; "" when unbound. */
void keymap_keys(const struct keymap *km, enum ui_action a, char *buf, size_t n);
/* The first key of an action, "j"; "" when unbound. */
void keymap_first(const struct keymap *km, enum ui_action a, char *buf, size_t n);

/* The default key table, as man(7) text (man) or plain text, for `hypotop keys`. */
void actions_print_reference(struct buf *b, bool man);

#endif
