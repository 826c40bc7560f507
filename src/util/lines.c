/* lines.c — see lines.h. */
#include "hypotop/lines.h"

void lines_init(struct lines *l, size_t max, enum lines_mode mode)
{
	buf_init(&l->pending);
	l->max = max;
	l->mode = mode;
	l->skip = false;
}

void lines_free(struct lines *l)
{
	buf_free(&l->pending);
}

static void emit(const struct lines *l, const char *s, size_t n, lines_fn fn, void *ctx)
{
	if (n && s[n - 1] == '\r')
		n--;
	if (l->mode == LINES_HEAD && n > l->max)
		n = l->max;
	fn(ctx, s, n);
}

static void emit_pending(struct lines *l, lines_fn fn, void *ctx)
{
	emit(l, l->pending.data, l->pending.len, fn, ctx);
	buf_reset(&l->pending);
}

void lines_feed(struct lines *l, const char *p, size_t n, lines_fn fn, void *ctx)
{
	size_t start = 0;

	for (size_t i = 0; i < n; i++) {
		if (p[i] != '\n')
			continue;
		if (l->skip) {
			l->skip = false;
		} else if (l->pending.len) {
			buf_add(&l->pending, p + start, i - start);
			emit_pending(l, fn, ctx);
		} else {
			emit(l, p + start, i - start, fn, ctx);
		}
		start = i + 1;
	}
	if (l->skip || start == n)
		return;
	if (l->mode == LINES_HEAD) {
		size_t room = l->pending.len < l->max ? l->max - l->pending.len : 0;
		buf_add(&l->pending, p + start, n - start < room ? n - start : room);
		return;
	}
	buf_add(&l->pending, p + start, n - start);
	if (l->pending.len > l->max)
		emit_pending(l, fn, ctx);
}

void lines_flush(struct lines *l, lines_fn fn, void *ctx)
{
	if (l->pending.len)
		emit_pending(l, fn, ctx);
}

void lines_reset(struct lines *l, bool skip)
{
	buf_reset(&l->pending);
	l->skip = skip;
}
