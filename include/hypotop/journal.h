/*
 * journal.h — engine/journal.jsonl, the append-only log of state changes
 * between two checkpoints.
 *
 * The first line names the checkpoint the journal continues from:
 * {"journal":1,"base":SEQ}. Every later line is one event carrying its own
 * "seq". Lines are buffered by journal_append() and made durable together
 * by journal_commit() — one write, one fdatasync — so a burst of changes
 * costs one disk flush (group commit); nothing is acknowledged before that.
 *
 * A crash can leave a torn last line; reading ignores and reports it, and
 * opening for append cuts it off. A bad line anywhere else is an error.
 * A write that fails part-way (a full disk) is undone: the file is cut
 * back to its last whole line and the lines stay queued, whole, for the
 * next try, so none is ever torn or written twice.
 */
#ifndef HYPOTOP_JOURNAL_H
#define HYPOTOP_JOURNAL_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "hypotop/util.h"

/* The largest seq (2^53): a JSON number holds every whole number up to it. */
#define JOURNAL_SEQ_MAX (1L << 53)

struct journal {
	int fd;
	char *path;
	struct buf pending;
	size_t pending_lines;
	uint64_t base;
	uint64_t lines; /* event lines written */
	off_t size;     /* bytes of the whole lines in the file */
	bool want_sync; /* a line was appended that the next commit must make durable */
};

/* The first line of a journal, continuing from the checkpoint at seq base. */
#define JOURNAL_HEADER "{\"journal\":1,\"base\":%llu}"

struct journal_info {
	bool no_header;    /* missing, empty, or its first line cut short */
	bool bad_header;   /* its first line is not a header (an error) */
	uint64_t base;
	uint64_t lines;    /* good event lines */
	size_t good_len;   /* bytes up to the end of the last good line */
	int torn_line;     /* line number of an ignored torn last line, or 0 */
	size_t torn_bytes;
};

/* Called for each event line in order; line is 1-based in the file. */
typedef int (*journal_fn)(void *ctx, const cJSON *ev, int line, struct err *e);

/*
 * Read a journal. A file that is missing or has no whole first line
 * reads as empty with base 0, and says so in info->no_header: hypotop
 * never leaves one so, and the caller decides.
 */
int journal_replay(const char *path, journal_fn fn, void *ctx, struct journal_info *info,
		   struct err *e);
/* Open for appending after replay; cuts a torn tail off. */
int journal_open(struct journal *j, const char *path, const struct journal_info *info,
		 struct err *e);
void journal_close(struct journal *j);
/* Queue one event line (no newline) for the next commit. */
void journal_append(struct journal *j, const char *line, size_t len);
/*
 * The same for a line that need not survive a power cut on its own: the
 * next commit writes it but waits for the disk only when some other line
 * asks for that; it is then made durable with them, in order.
 */
void journal_append_light(struct journal *j, const char *line, size_t len);
/*
 * Make every queued line durable. On failure the file is as before the
 * call and the lines stay queued.
 */
int journal_commit(struct journal *j, struct err *e);
/*
 * Write the queued lines without waiting for the disk: they survive the
 * death of this process, not of the machine, until the next commit.
 */
int journal_write(struct journal *j, struct err *e);
/*
 * Replace the journal, atomically, by an empty one continuing from base;
 * lines still queued are dropped: the checkpoint at base holds them.
 */
int journal_reset(struct journal *j, uint64_t base, struct err *e);

#endif
