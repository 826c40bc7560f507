/*
 * logtail.h — the end of a log file that may grow fast and without bound,
 * for the UI's log pane: the newest LOGTAIL_LINES lines, each cut at
 * LOGTAIL_LINE_MAX bytes, read incrementally from the last offset.
 *
 * Memory is bounded whatever the file's size: a big file is read from its
 * last LOGTAIL_READ_MAX bytes, and a file that grew by more than that since
 * the last poll is skipped ahead, so one poll costs at most that much
 * reading (a fast log cannot make the UI lag). A last line without its
 * newline yet (a progress bar) is shown as it is so far. No curses here.
 */
#ifndef HYPOTOP_LOGTAIL_H
#define HYPOTOP_LOGTAIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "hypotop/lines.h"
#include "hypotop/util.h"

#define LOGTAIL_LINES 2000
#define LOGTAIL_LINE_MAX 2048
#define LOGTAIL_READ_MAX (512 * 1024)

struct logtail {
	char *path;
	int fd;
	off_t off;          /* bytes of the file consumed */
	off_t size;         /* its size at the last poll */
	uint64_t skipped;   /* bytes never read: the head of a big file, or jumps ahead */
	char **lines;       /* ring of LOGTAIL_LINES */
	size_t head, len;   /* lines[head] is the oldest */
	uint64_t total;     /* complete lines taken since the file was set */
	struct lines split; /* LINES_HEAD: holds the last line, not ended yet */
};

void logtail_init(struct logtail *t);
void logtail_free(struct logtail *t);
/* Follow another file (NULL: none); what was held is dropped. */
void logtail_set(struct logtail *t, const char *path);
/* Read what the file gained; true when what is shown changed. */
bool logtail_poll(struct logtail *t);
/* Lines shown: the complete ones held, then the partial one if any. */
size_t logtail_count(const struct logtail *t);
/* Line i, 0 the oldest held; its length in *len. */
const char *logtail_line(const struct logtail *t, size_t i, size_t *len);
/* Whether the file exists (was opened). */
bool logtail_open(const struct logtail *t);

#endif
