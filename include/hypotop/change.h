/*
 * change.h — the change an experiment makes to the source tree (SPEC §5):
 *   {"kind": "params", "params": {NAME: VALUE, ...}}
 *   {"kind": "edit",   "edits": [{"path": P, "search": S, "replace": R}, ...]}
 *   {"kind": "patch",  "patch": "diff --git a/... b/..."}
 *   {"kind": "files",  "files": [{"path": P, "content": TEXT}, ...]}
 *
 * An edit replaces the one place of S in P with R; its blocks apply in
 * order, each to the text the blocks before it left (several may edit one
 * file). S must occur exactly once; an empty S creates P, which must not
 * exist, with R as its content. Models write these more reliably than
 * diffs.
 *
 * Validation here is purely textual and shared by the config, queue
 * commands and (later) model answers: unknown keys are refused, and no path
 * may be absolute, climb out with "..", or touch ".git". Symlink escapes
 * are checked against the real tree when the change is applied.
 */
#ifndef HYPOTOP_CHANGE_H
#define HYPOTOP_CHANGE_H

#include <cjson/cJSON.h>
#include <stdbool.h>

#include "hypotop/util.h"

/* The kinds, as messages name them; change_kind_known() says whether kind is one. */
#define CHANGE_KINDS "params, edit, patch, files"
bool change_kind_known(const char *kind);

int change_validate(const cJSON *ch, const char *what, struct err *e);
/*
 * What a change does, in one line: "lr=0.003 dropout=0.2", "patch: a.py
 * b.py" (the files it touches, each once), "edit: a.py b.py" or "files:
 * a.py b.py"; nothing for none.
 */
void change_describe(const cJSON *ch, struct buf *out);
/* True when a relative path stays inside the tree and out of .git. */
bool change_path_ok(const char *path);

#endif
