/*
 * vcs_int.h — what the files of src/vcs share. Nothing outside src/vcs
 * includes it.
 */
#ifndef HYPOTOP_VCS_INT_H
#define HYPOTOP_VCS_INT_H

#include <git2.h>

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

/* Close the repositories the calling thread keeps open. */
void vcs_repo_forget(void);

#endif
