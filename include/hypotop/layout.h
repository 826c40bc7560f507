/*
 * layout.h — where the panes of the terminal UI go for a terminal size:
 * pure geometry, no curses, unit-tested across many sizes.
 *
 * Wide terminals (at least LAYOUT_WIDE_COLS): the tree on the left, the log
 * above the workers on the right, a one-column border between. Narrower
 * ones: the tree above the log, no workers pane. Always: the status bar
 * and the key-hint line at the bottom. Below LAYOUT_MIN_ROWS x
 * LAYOUT_MIN_COLS there is only room to say the terminal is too small.
 */
#ifndef HYPOTOP_LAYOUT_H
#define HYPOTOP_LAYOUT_H

#include <stdbool.h>

#define LAYOUT_MIN_ROWS 6
#define LAYOUT_MIN_COLS 24
#define LAYOUT_WIDE_COLS 70

struct rect {
	int y, x, h, w; /* h or w 0: not shown */
};

struct layout {
	int rows, cols;
	bool too_small;
	bool wide;
	struct rect tree, log, workers, border, status, hints;
	struct rect pager; /* a pager: everything above the status bar */
};

/* workers_rows: the lines the workers pane would like, its title included. */
void layout_compute(struct layout *l, int rows, int cols, int workers_rows);

#endif
