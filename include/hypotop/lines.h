/*
 * lines.h — bytes read a chunk at a time, cut into lines: for the log
 * readers, the engine's (metrics and the tail a failure quotes) and the UI's
 * log pane, so that both see the same lines in the same file.
 *
 * A line is handed on without its '\n' and without a '\r' just before it.
 * The last line, until its newline comes, is held in `pending`; a line
 * that never ends cannot make that grow without bound: the mode says what
 * becomes of it. Pure, no I/O; owned by one thread.
 */
#ifndef HYPOTOP_LINES_H
#define HYPOTOP_LINES_H

#include <stdbool.h>
#include <stddef.h>

#include "hypotop/util.h"

enum lines_mode {
	/*
	 * Nothing dropped: once a chunk leaves the pending line longer than
	 * max, it is handed on as it is, a line of its own, and what follows
	 * makes the next. For a reader of every byte.
	 */
	LINES_SPLIT,
	/*
	 * A line is at most max bytes: the pending line keeps only its first
	 * max, the rest is dropped, and every line handed on is cut there.
	 * For a reader that only shows lines.
	 */
	LINES_HEAD,
};

struct lines {
	struct buf pending; /* the last line, not ended yet; the owner may read it */
	size_t max;
	enum lines_mode mode;
	bool skip;          /* drop everything up to the next newline */
};

typedef void (*lines_fn)(void *ctx, const char *line, size_t len);

void lines_init(struct lines *l, size_t max, enum lines_mode mode);
void lines_free(struct lines *l);
/* Take the next n bytes; fn gets each line they complete, oldest first. */
void lines_feed(struct lines *l, const char *p, size_t n, lines_fn fn, void *ctx);
/* The pending line, if any, to fn as if it had ended: the file is done. */
void lines_flush(struct lines *l, lines_fn fn, void *ctx);
/*
 * Forget the pending line. With skip, reading goes on from inside a line
 * (bytes were passed over): what comes up to its newline is dropped too.
 */
void lines_reset(struct lines *l, bool skip);

#endif
