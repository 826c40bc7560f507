/*
 * protect.h — the files no change may touch (config key protect): what a
 * work tree holds of them, against what the baseline's commit held.
 * Pure but for reading the tree; any thread. The engine's side (the
 * record in the workdir, the checks around a run) is in lifecycle.h.
 */
#ifndef HYPOTOP_PROTECT_H
#define HYPOTOP_PROTECT_H

#include <cjson/cJSON.h>
#include <stdbool.h>

#include "hypotop/util.h"

/*
 * Whether the work tree at dir holds the protected files as the baseline
 * had them: files maps each path the globs matched at the baseline to its
 * git blob id. With added, a file the globs match that the baseline did
 * not have counts too (before a run: a change added it; after one, what
 * the run wrote, a cache or a download, is its own). Returns how many
 * files are not as the baseline had them, *why (the caller's) naming each
 * ("eval.py differs from the baseline's; data/a.py is missing; data/b.py
 * is new ...") when any; -1 with e set when the tree cannot be read (out
 * of descriptors, say): nothing is known.
 */
int protect_check(const cJSON *globs, const cJSON *files, const char *dir, bool added,
		  char **why, struct err *e);

#endif
