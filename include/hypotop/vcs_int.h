/*
 * vcs_int.h — what the files of src/vcs share. Nothing outside src/vcs
 * includes it but the unit tests of src/vcs.
 */
#ifndef HYPOTOP_VCS_INT_H
#define HYPOTOP_VCS_INT_H

#include <git2.h>
#include <stdbool.h>

#include "hypotop/util.h"

/* libgit2's message for its last error on this thread. */
const char *vcs_git_msg(void);

/*
 * The repository at dir, kept open for the calling thread: opening one
 * reads its config and looks at a dozen files, which costs more than a
 * small commit. Owned by the cache: do not free it. A folder replaced by
 * another repository is noticed (its .git is another file) and reopened.
 */
int vcs_repo(git_repository **repo, const char *dir, struct err *e);

/*
 * Create the branch refname ("refs/heads/...", which must not exist) at
 * id. Not flushed to disk and not logged: see vcs_branches_restore().
 */
int vcs_ref_write(git_repository *repo, const char *refname, const git_oid *id,
		  struct err *e);

/*
 * Seals (seal.c): what the kernel says of the work tree at path (its
 * files and folders, and the index in its gitdir), recorded when hypotop
 * leaves the tree clean at commit id. Intact: nothing in it changed since,
 * so it is still clean at id, without asking git. Not sealed when the
 * tree changed too recently to be told from a later change. Any thread.
 *
 * A seal at id that is broken sets *unseen (when given) to the files,
 * relative to path, that changed where git's own check cannot see it
 * (size and modification time as they were): a NULL-terminated list the
 * caller frees, each path and the list; otherwise *unseen is NULL.
 */
void vcs_seal(const char *path, const char *gitdir, const git_oid *id);
bool vcs_seal_intact(const char *path, const char *gitdir, const git_oid *id, char ***unseen);
void vcs_seal_break(const char *path);
/* Forget every seal. */
void vcs_seals_forget(void);

/*
 * Before a checkout of tree into the work tree at path (scrub.c): remove
 * what is not of the kind of the tree's entry at its place, never
 * following it: what the tree has no entry for (what a run left, ignored
 * files included), a symlink where the tree has none, a file where it has
 * a folder and the reverse, fifos, sockets and devices, a file with more
 * than one hard link. What stays are the tree's folders and plain files,
 * and its symlinks whatever they point to (the checkout writes a changed
 * one again). The .git of the top folder is not looked at.
 */
int vcs_scrub(const char *path, const git_tree *tree, struct err *e);

/* Close the repositories the calling thread keeps open. */
void vcs_repo_forget(void);

#endif
