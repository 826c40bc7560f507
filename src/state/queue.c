/* queue.c — see queue.h. */
#include "hypotop/queue.h"

#include <stdbool.h>
#include <stdlib.h>

void queue_init(struct queue *q, struct tree *t)
{
	q->tree = t;
	q->heap = NULL;
	q->len = q->cap = 0;
}

void queue_free(struct queue *q)
{
	free(q->heap);
	q->heap = NULL;
	q->len = q->cap = 0;
}

int queue_before(const struct tree *t, uint32_t a, uint32_t b)
{
	const struct node *x = &t->nodes[a], *y = &t->nodes[b];

	if (x->priority != y->priority)
		return x->priority < y->priority;
	return a < b;
}

static void place(struct queue *q, size_t i, uint32_t id)
{
	q->heap[i] = id;
	q->tree->nodes[id].heap_idx = (int32_t)i;
}

static void sift_up(struct queue *q, size_t i)
{
	uint32_t id = q->heap[i];

	while (i > 0) {
		size_t p = (i - 1) / 2;
		if (!queue_before(q->tree, id, q->heap[p]))
			break;
		place(q, i, q->heap[p]);
		i = p;
	}
	place(q, i, id);
}

static void sift_down(struct queue *q, size_t i)
{
	uint32_t id = q->heap[i];

	for (;;) {
		size_t c = 2 * i + 1;
		if (c >= q->len)
			break;
		if (c + 1 < q->len && queue_before(q->tree, q->heap[c + 1], q->heap[c]))
			c++;
		if (!queue_before(q->tree, q->heap[c], id))
			break;
		place(q, i, q->heap[c]);
		i = c;
	}
	place(q, i, id);
}

static void heap_remove(struct queue *q, size_t i)
{
	uint32_t gone = q->heap[i];

	q->tree->nodes[gone].heap_idx = -1;
	q->len--;
	if (i == q->len)
		return;
	uint32_t moved = q->heap[q->len];
	place(q, i, moved);
	sift_down(q, i);
	sift_up(q, (size_t)q->tree->nodes[moved].heap_idx);
}

void queue_update(struct queue *q, uint32_t id)
{
	struct node *n = tree_get(q->tree, id);
	bool want = n && n->status == ST_QUEUED;
	int32_t at = n ? n->heap_idx : -1;

	if (!want) {
		if (at >= 0)
			heap_remove(q, (size_t)at);
		return;
	}
	if (at < 0) {
		if (q->len == q->cap) {
			q->cap = q->cap ? q->cap * 2 : 64;
			q->heap = xrealloc(q->heap, q->cap * sizeof *q->heap);
		}
		q->heap[q->len] = id;
		n->heap_idx = (int32_t)q->len++;
		sift_up(q, q->len - 1);
		return;
	}
	sift_up(q, (size_t)at);
	sift_down(q, (size_t)n->heap_idx);
}

void queue_rebuild(struct queue *q)
{
	for (size_t i = 0; i < q->len; i++)
		q->tree->nodes[q->heap[i]].heap_idx = -1;
	q->len = 0;
	for (uint32_t id = 0; id < q->tree->len; id++)
		queue_update(q, id);
}

uint32_t queue_peek(const struct queue *q)
{
	return q->len ? q->heap[0] : NODE_NONE;
}

static int cmp_order(const void *a, const void *b, void *tree)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	if (x == y)
		return 0;
	return queue_before(tree, x, y) ? -1 : 1;
}

static size_t order(const struct tree *t, uint32_t **ids, bool prepared)
{
	size_t n = 0;

	*ids = xmalloc(((size_t)t->len + 1) * sizeof **ids);
	for (uint32_t id = 0; id < t->len; id++) {
		const struct node *x = &t->nodes[id];
		if (x->present && (x->status == ST_QUEUED ||
				   (x->status == ST_PAUSED && x->resume_to == ST_QUEUED) ||
				   (prepared && x->status == ST_PREPARING)))
			(*ids)[n++] = id;
	}
	qsort_r(*ids, n, sizeof **ids, cmp_order, (void *)t);
	return n;
}

size_t queue_order(const struct tree *t, uint32_t **ids)
{
	return order(t, ids, false);
}

size_t queue_order_unstarted(const struct tree *t, uint32_t **ids)
{
	return order(t, ids, true);
}
