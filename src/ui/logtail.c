/* logtail.c — see logtail.h. */
#include "hypotop/logtail.h"

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

void logtail_init(struct logtail *t)
{
	memset(t, 0, sizeof *t);
	t->fd = -1;
	t->lines = xcalloc(LOGTAIL_LINES, sizeof *t->lines);
	lines_init(&t->split, LOGTAIL_LINE_MAX, LINES_HEAD);
}

static void drop(struct logtail *t)
{
	for (size_t i = 0; i < t->len; i++) {
		free(t->lines[(t->head + i) % LOGTAIL_LINES]);
		t->lines[(t->head + i) % LOGTAIL_LINES] = NULL;
	}
	t->head = t->len = 0;
	lines_reset(&t->split, false);
	t->off = t->size = 0;
	t->skipped = 0;
	t->total = 0;
}

void logtail_free(struct logtail *t)
{
	drop(t);
	if (t->fd >= 0)
		close(t->fd);
	free(t->lines);
	free(t->path);
	lines_free(&t->split);
}

void logtail_set(struct logtail *t, const char *path)
{
	drop(t);
	if (t->fd >= 0)
		close(t->fd);
	t->fd = -1;
	free(t->path);
	t->path = path ? xstrdup(path) : NULL;
}

bool logtail_open(const struct logtail *t)
{
	return t->fd >= 0;
}

static void push(void *ctx, const char *s, size_t n)
{
	struct logtail *t = ctx;
	size_t slot;

	if (t->len == LOGTAIL_LINES) {
		slot = t->head;
		free(t->lines[slot]);
		t->head = (t->head + 1) % LOGTAIL_LINES;
	} else {
		slot = (t->head + t->len++) % LOGTAIL_LINES;
	}
	t->lines[slot] = xstrndup(s, n);
	t->total++;
}

bool logtail_poll(struct logtail *t)
{
	struct stat st;
	char chunk[65536];
	bool changed = false;

	if (!t->path)
		return false;
	if (t->fd < 0) {
		t->fd = open(t->path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
		if (t->fd < 0)
			return false;
		changed = true;
	}
	if (fstat(t->fd, &st) < 0)
		return changed;
	if (st.st_size < t->off) {
		/* Truncated or rewritten: start again. */
		drop(t);
		changed = true;
	}
	t->size = st.st_size;
	if (st.st_size - t->off > LOGTAIL_READ_MAX) {
		off_t to = st.st_size - LOGTAIL_READ_MAX;
		t->skipped += (uint64_t)(to - t->off);
		if (t->len || t->split.pending.len)
			push(t, "[...]", 5);
		lines_reset(&t->split, true);
		t->off = to;
		changed = true;
	}
	while (t->off < st.st_size) {
		size_t want = sizeof chunk;
		if ((off_t)want > st.st_size - t->off)
			want = (size_t)(st.st_size - t->off);
		ssize_t n = pread(t->fd, chunk, want, t->off);
		if (n <= 0)
			break;
		t->off += n;
		lines_feed(&t->split, chunk, (size_t)n, push, t);
		changed = true;
	}
	return changed;
}

size_t logtail_count(const struct logtail *t)
{
	return t->len + (t->split.pending.len ? 1 : 0);
}

const char *logtail_line(const struct logtail *t, size_t i, size_t *len)
{
	if (i < t->len) {
		const char *s = t->lines[(t->head + i) % LOGTAIL_LINES];
		if (len)
			*len = strlen(s);
		return s;
	}
	if (len)
		*len = t->split.pending.len;
	return t->split.pending.data ? t->split.pending.data : "";
}
