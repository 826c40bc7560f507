/*
 * pictures.h — the workdir's two pictures (SPEC §8): hypothesis_tree.svg,
 * the tree laid out by graphviz's dot, and progress.svg, the metric of
 * every finished experiment in the order they ended, which hypotop draws
 * itself.
 *
 * The texts are made from the tree by pure functions (the engine calls
 * them on the main thread, which owns the tree); pictures_dot runs dot,
 * a child process, so it is for a background thread only. Every name and
 * number in them comes from the model or a log: each is escaped, and
 * invalid UTF-8 or a control character becomes '?'.
 */
#ifndef HYPOTOP_PICTURES_H
#define HYPOTOP_PICTURES_H

#include <stdbool.h>
#include <stdint.h>

#include "hypotop/tree.h"
#include "hypotop/util.h"

/* s as XML character data or an attribute's value. */
void pic_xml_text(struct buf *b, const char *s);
/*
 * s inside a DOT string that becomes a label, shown as it is: quotes,
 * backslashes and '&' escaped.
 */
void pic_dot_text(struct buf *b, const char *s);

/*
 * The tree as DOT for dot -Tsvg: a box a node, filled by its status and
 * labelled with its id, name and metric (its status when it has none);
 * the best node (NODE_NONE: none) with id "best" and class "best", and
 * it and the path to it from its root drawn in gold. Caller frees.
 */
char *pictures_tree_dot(const struct tree *t, uint32_t best, const char *metric, bool goal_max);
/*
 * progress.svg: every completed node with a finite metric, in the order
 * they ended, as a point (improved ones, as the keep rule judged, marked
 * class "improved"), and the best-so-far under the goal as a step line
 * (class "best-so-far"). Caller frees.
 */
char *pictures_progress_svg(const struct tree *t, const char *metric, bool goal_max);

/*
 * Lay out dot_text with dot -Tsvg (found on PATH), within timeout_ms:
 * 0 with *svg (caller frees); 1 when there is no dot to run; -1 with e
 * set (dot failed, with what it said, or ran past the timeout and was
 * killed). A background thread's work: it waits for a child.
 */
int pictures_dot(const char *dot_text, int timeout_ms, char **svg, struct err *e);

#endif
