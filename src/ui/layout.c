/* layout.c — see layout.h. */
#include "hypotop/layout.h"

#include <string.h>

static int clamp(int v, int lo, int hi)
{
	return v < lo ? lo : v > hi ? hi : v;
}

void layout_compute(struct layout *l, int rows, int cols, int workers_rows)
{
	memset(l, 0, sizeof *l);
	l->rows = rows;
	l->cols = cols;
	if (rows < LAYOUT_MIN_ROWS || cols < LAYOUT_MIN_COLS) {
		l->too_small = true;
		return;
	}
	int body = rows - 2;
	l->status = (struct rect){rows - 2, 0, 1, cols};
	l->hints = (struct rect){rows - 1, 0, 1, cols};
	l->pager = (struct rect){0, 0, body, cols};
	if (cols >= LAYOUT_WIDE_COLS) {
		l->wide = true;
		/* Half for the tree, within what its rows and the log need. */
		int tw = clamp(cols / 2, 34, 90);
		int rw = cols - tw - 1;
		l->tree = (struct rect){0, 0, body, tw};
		l->border = (struct rect){0, tw, body, 1};
		int wh = 0;
		if (body >= 10)
			wh = clamp(workers_rows, 3, body / 3);
		l->log = (struct rect){0, tw + 1, body - wh, rw};
		if (wh)
			l->workers = (struct rect){body - wh, tw + 1, wh, rw};
	} else {
		int th = body >= 8 ? body * 3 / 5 : body;
		l->tree = (struct rect){0, 0, th, cols};
		if (body - th > 0)
			l->log = (struct rect){th, 0, body - th, cols};
	}
}
