/*
 * ui.h — the terminal UI (SPEC §9): hypothesis tree, log tail, workers,
 * status bar, pagers, on the engine's event loop. Curses is called from
 * the main thread only, from these functions only.
 *
 * The UI reads the model (workdir, scheduler) and never changes it
 * directly: a person's action goes through the host's callbacks, the same
 * path the control socket takes, so it is journalled like any other.
 */
#ifndef HYPOTOP_UI_H
#define HYPOTOP_UI_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "hypotop/ops.h"
#include "hypotop/sched.h"
#include "hypotop/workdir.h"

struct ui_host {
	struct workdir *wd;
	struct sched *sched;
	/* Apply a queue operation as the engine does for the socket. */
	int (*apply)(void *ctx, const struct op *op, uint32_t *node, struct err *e);
	/* Pause or resume the whole engine (no launches, no planning). */
	void (*set_paused)(void *ctx, bool paused);
	/* The person asked to quit: the engine checkpoints and exits; jobs go on. */
	void (*quit)(void *ctx);
	void *ctx;
	/*
	 * The engine's pid when the UI is attached to an engine that runs
	 * elsewhere (attach.h); 0 when this process runs the engine.
	 */
	pid_t attached;
	/*
	 * Have the engine of this process read workers.json again, as the
	 * control socket's {"op":"workers"} does: 0 applied, -1 refused (e
	 * says why). NULL: the engine takes the file when it next starts.
	 */
	int (*reload_workers)(void *ctx, struct err *e);
};

struct ui;

/* Open on the terminal in/out (newterm). NULL with e set when impossible. */
struct ui *ui_open(const struct ui_host *host, FILE *in, FILE *out, struct err *e);
void ui_close(struct ui *ui);
/* The descriptor to poll for keys. */
int ui_fd(const struct ui *ui);
/* Keys are waiting: read and handle them all. */
void ui_input(struct ui *ui);
/* The terminal changed size (SIGWINCH). */
void ui_resize(struct ui *ui);
/* Draw what changed since the last call (one doupdate). */
void ui_draw(struct ui *ui);
/* A line of the engine's log, for the status bar and the log view. */
void ui_note(struct ui *ui, const char *msg);
/*
 * Attached: the model read again (a new workdir, the same scheduler's
 * view), and the engine's pid. The old workdir is the caller's to free,
 * after this returns.
 */
void ui_set_model(struct ui *ui, struct workdir *wd, pid_t attached);

#endif
