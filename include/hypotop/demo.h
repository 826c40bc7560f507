/*
 * demo.h — the quickstart example, built into the binary from
 * examples/quickstart/ so that `hypotop demo` works from anywhere.
 */
#ifndef HYPOTOP_DEMO_H
#define HYPOTOP_DEMO_H

#include <stddef.h>

struct demo_file {
	const char *name, *data;
	size_t len;
};

/* Ends with an entry whose name is NULL. */
extern const struct demo_file demo_files[];

#endif
