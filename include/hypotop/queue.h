/*
 * queue.h — the run queue: queued nodes ordered by priority (lower first),
 * then age (older first), as pueue and task-spooler order theirs.
 *
 * A binary heap of node ids over a tree; each node keeps its heap position
 * so that a change of priority or status costs O(log n). Paused nodes stay
 * "in the queue" for a person (queue_order lists them) but are not in the
 * heap, so the dispatcher never has to skip them.
 */
#ifndef HYPOTOP_QUEUE_H
#define HYPOTOP_QUEUE_H

#include <stddef.h>
#include <stdint.h>

#include "hypotop/tree.h"

struct queue {
	struct tree *tree;
	uint32_t *heap;
	size_t len, cap;
};

void queue_init(struct queue *q, struct tree *t);
void queue_free(struct queue *q);
/* Put node id where its status and priority say it belongs. */
void queue_update(struct queue *q, uint32_t id);
/* Rebuild from the whole tree (after loading). */
void queue_rebuild(struct queue *q);
/* The next node to run, or NODE_NONE. */
uint32_t queue_peek(const struct queue *q);
/* True when a runs before b. */
int queue_before(const struct tree *t, uint32_t a, uint32_t b);
/* Queued and paused-in-queue nodes in run order; caller frees *ids. */
size_t queue_order(const struct tree *t, uint32_t **ids);
/* The same with the nodes being prepared: every node that has not started. */
size_t queue_order_unstarted(const struct tree *t, uint32_t **ids);

#endif
