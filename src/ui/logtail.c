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
	buf_init(&t->partial);
}

static void drop(struct logtail *t)
{
	for (size_t i = 0; i < t->len; i++) {
		free(t->lines[(t->head + i) % LOGTAIL_LINES]);
		t->lines[(t->head + i) % LOGTAIL_LINES] = NULL;
	}
	t->head = t->len = 0;
	buf_reset(&t->partial);
	t->off = t->size = 0;
	t->skipped = 0;
	t->total = 0;
	t->mid_line = false;
}

void logtail_free(struct logtail *t)
{
	drop(t);
	if (t->fd >= 0)
		close(t->fd);
	free(t->lines);
	free(t->path);
	buf_free(&t->partial);
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

static void push(struct logtail *t, const char *s, size_t n)
{
	if (n && s[n - 1] == '\r')
		n--;
	if (n > LOGTAIL_LINE_MAX)
		n = LOGTAIL_LINE_MAX;
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

static void feed(struct logtail *t, const char *p, size_t n)
{
	size_t start = 0;

	for (size_t i = 0; i < n; i++) {
		if (p[i] != '\n')
			continue;
		if (t->mid_line) {
			t->mid_line = false;
		} else if (t->partial.len) {
			buf_add(&t->partial, p + start, i - start);
			push(t, t->partial.data, t->partial.len);
			buf_reset(&t->partial);
		} else {
			push(t, p + start, i - start);
		}
		start = i + 1;
	}
	if (t->mid_line || start == n)
		return;
	/* Keep only what a line may show; the rest of a huge line is dropped. */
	size_t room = t->partial.len < LOGTAIL_LINE_MAX ? LOGTAIL_LINE_MAX - t->partial.len : 0;
	size_t take = n - start < room ? n - start : room;
	buf_add(&t->partial, p + start, take);
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
		if (t->len || t->partial.len) {
			push(t, "[...]", 5);
			buf_reset(&t->partial);
		}
		t->off = to;
		t->mid_line = true;
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
		feed(t, chunk, (size_t)n);
		changed = true;
	}
	return changed;
}

size_t logtail_count(const struct logtail *t)
{
	return t->len + (t->partial.len ? 1 : 0);
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
		*len = t->partial.len;
	return t->partial.data ? t->partial.data : "";
}
