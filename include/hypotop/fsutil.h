/*
 * fsutil.h — durable file operations.
 *
 * Every file of the workdir is replaced with fs_write_atomic(): a temp file
 * beside the target, fsync, rename over the target, fsync of the folder.
 * A reader therefore sees the old bytes or the new ones, never a mixture,
 * whenever the process or the machine dies.
 */
#ifndef HYPOTOP_FSUTIL_H
#define HYPOTOP_FSUTIL_H

#include <stddef.h>
#include <sys/types.h>

#include "hypotop/util.h"

int fs_write_atomic(const char *path, const void *data, size_t len, mode_t mode,
		    struct err *e);
/*
 * The same replacement by rename, without the two fsyncs: for views that
 * are rebuilt from the durable state (reports, per-node files, a job's
 * wrapper), where a crash may cost the newest version but never mixes two.
 */
int fs_write_view(const char *path, const void *data, size_t len, mode_t mode,
		  struct err *e);
/*
 * What to add to a message about a failed write: for a full disk (or
 * quota), what to do about it; otherwise "".
 */
const char *fs_full_hint(int errnum);
int fs_fsync_dir(const char *dir, struct err *e);
int fs_fsync_parent(const char *path, struct err *e);
/*
 * Read a whole regular file of at most max bytes, NUL-terminated; NULL with
 * e set on failure. A folder, device, fifo or socket is refused without
 * waiting on it ("PATH: a fifo, not a regular file"), and so is a file over
 * max ("PATH: 17 MiB, more than the 16 MiB allowed"): whatever path a person
 * gives, reading it neither hangs nor fills the memory.
 */
char *fs_read_max(const char *path, size_t max, size_t *len, struct err *e);
/*
 * The last lines of a regular file, within max bytes (from the first line
 * that starts inside them), NUL-terminated; the whole of a shorter file.
 * NULL with e set on failure; refused as fs_read_max refuses.
 */
char *fs_read_tail(const char *path, size_t max, struct err *e);
/*
 * The limits, by kind of file (man page, FILES): what a person writes
 * (config files, workers.json, themes, directive.md, knowledge.md, prompts),
 * a patch given to add --patch, and the workdir's own files (tree, journal,
 * checkpoint, a run's files).
 */
#define FS_MAX_CONFIG ((size_t)1 << 20)
#define FS_MAX_PATCH ((size_t)16 << 20)
#define FS_MAX_STATE ((size_t)1 << 30)
/* fs_read_max of a file of the workdir's own, up to FS_MAX_STATE. */
char *fs_read(const char *path, size_t *len, struct err *e);
int fs_mkdir_p(const char *path, mode_t mode, struct err *e);
int fs_exists(const char *path);
/*
 * Remove a folder and everything under it, or a file. A link is removed,
 * never followed, and each folder is entered through a descriptor of the
 * one above it, so that no folder outside can be reached by a name that
 * changes meanwhile. fs_remove_at() removes `name` in the folder open at
 * dirfd. 0, or -1 with errno set (ENOENT: nothing there; ELOOP: folders
 * nested more than 128 deep).
 */
int fs_remove_tree(const char *path);
int fs_remove_at(int dirfd, const char *name);
int fs_is_dir(const char *path);
/* Join two path parts with one '/'; caller frees. */
char *path_join(const char *a, const char *b);
/* Absolute, symlink-free path of an existing file; caller frees. */
char *path_real(const char *path, struct err *e);

#endif
