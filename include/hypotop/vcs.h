/*
 * vcs.h — the training project's git repository, through libgit2.
 *
 * Called from one thread at a time per repository (libgit2 rule); the
 * engine runs these on its git thread, the command line directly.
 */
#ifndef HYPOTOP_VCS_H
#define HYPOTOP_VCS_H

#include <stdbool.h>
#include <stddef.h>

#include "hypotop/util.h"

#define VCS_OID_HEX 41

/* Once per process, before any thread starts. */
void vcs_init(void);
void vcs_shutdown(void);

/* The files of commit written into dir (made if need be), with no .git: a copy to run. */
int vcs_export(const char *repo_dir, const char *commit, const char *dir, struct err *e);
/*
 * The top of the work tree dir is in (dir itself, a folder inside it, or
 * its .git), or NULL when dir is in none. Caller frees.
 */
char *vcs_top(const char *dir);
/*
 * The commit HEAD of the repository at dir points to (dir must be the top
 * of a work tree), and whether tracked files differ from it.
 */
int vcs_head(const char *dir, char oid[VCS_OID_HEX], bool *dirty, struct err *e);

/*
 * Make a node's commit without touching any work tree: `change` (the
 * node's change as JSON text; NULL for none) is applied to the tree of
 * commit `parent`, committed with `message`, and branch `branch` (such as
 * "hypotop/n0003") is created at it. With no change the branch points at
 * parent itself. Idempotent: when the branch exists already (a restart
 * after a crash), its commit is returned and nothing is made. `params_file`
 * is the search space's param file, for changes of kind "params"; one whose
 * params are all flags of the launch command, left out by the caller
 * ({"kind": "params", "params": {}}), commits the parent's tree again.
 *
 * A change that is refused sets *kind: "patch_rejected" (a path outside
 * the tree, in .git, or through a symlink), "patch_conflict" (the patch
 * does not apply, or an edit's search text is not in its file once) or
 * "params_invalid" (no such param file or parameter, or the file does not
 * parse); other failures leave *kind NULL.
 */
int vcs_commit_change(const char *repo_dir, const char *parent, const char *change,
		      const char *params_file, const char *branch, const char *message,
		      char oid[VCS_OID_HEX], const char **kind, struct err *e);

/*
 * A dry run of vcs_commit_change(): the id of the tree that `change` makes
 * of commit `parent` (parent's own tree for a NULL change), with no commit
 * and no branch (the tree's objects are written, loose and unreferenced).
 * A refused change sets *kind as vcs_commit_change() does; detail (may be
 * NULL) then gets what a model needs to fix it, at most some 40 lines of
 * the file: for an edit's search text that is not there, the lines around
 * the line most like its first line; for one there more than once, the
 * lines of each place; for a patch, the lines around each hunk that does
 * not apply; otherwise the reason alone. Its messages name no node (no
 * "change: " before them). Any thread (its own repository handle).
 */
int vcs_change_tree(const char *repo_dir, const char *parent, const char *change,
		    const char *params_file, char tree[VCS_OID_HEX], const char **kind,
		    struct buf *detail, struct err *e);

/*
 * The branches of vcs_commit_change() are written the way git writes a
 * ref, but neither flushed to disk nor logged in a reflog: a power cut can
 * lose the newest of them. Each node's commit is in the journal, so an
 * engine that starts after a crash calls this with every node's branch
 * and commit: a branch that is missing is made again. Returns how many
 * were, or -1 with e set (what could be made is made).
 */
int vcs_branches_restore(const char *repo_dir, size_t n, char *const branch[],
			 char *const commit[], struct err *e);

/* Check out commit in a new linked work tree `name` at path (replacing a
 * stale one of that name), and remove it again. */
int vcs_worktree_add(const char *repo_dir, const char *name, const char *path,
		     const char *branch, struct err *e);
int vcs_worktree_remove(const char *repo_dir, const char *name, const char *path,
			struct err *e);

/*
 * A checkout of commit in a linked work tree `name` at path, on a branch of
 * its own (hypotop-call/NAME, made at commit), for a program to work in;
 * removed again with its branch. Any thread (its own repository handle).
 */
int vcs_checkout_add(const char *repo_dir, const char *name, const char *path,
		     const char *commit, struct err *e);
int vcs_checkout_remove(const char *repo_dir, const char *name, const char *path,
			struct err *e);

/* The bytes of path at commit; NUL-terminated, caller frees. */
int vcs_read_file(const char *repo_dir, const char *commit, const char *path, char **text,
		  size_t *len, struct err *e);

/*
 * The paths of the files (no symlinks) in commit's tree, in tree order, at
 * most max of them; *paths and each path are the caller's to free.
 */
int vcs_list_files(const char *repo_dir, const char *commit, size_t max, char ***paths,
		   size_t *n, struct err *e);

/*
 * The blobs of commit's tree, symlinks among them (a symlink's blob is its
 * target), for which keep(path, arg) is true, with their ids in hex, in
 * tree order; *blobs, each path with it, is the caller's to free
 * (vcs_blobs_free).
 */
struct vcs_blob {
	char *path;
	char oid[VCS_OID_HEX];
};
typedef bool (*vcs_keep_fn)(const char *path, void *arg);
int vcs_list_blobs(const char *repo_dir, const char *commit, vcs_keep_fn keep, void *arg,
		   struct vcs_blob **blobs, size_t *n, struct err *e);
void vcs_blobs_free(struct vcs_blob *blobs, size_t n);
/*
 * The id git gives a blob of these bytes (what git hash-object prints),
 * with nothing written: any thread, no repository.
 */
int vcs_blob_id(const void *data, size_t len, char oid[VCS_OID_HEX], struct err *e);

/*
 * A git bundle (v2, what `git fetch FILE` reads) written to path: commit,
 * as the ref refname, with the history the receiver lacks. known are the
 * ids (hex) of commits the receiver has; those this repository has too
 * are left out with everything they reach, and the bundle names the
 * ones it builds on as its prerequisites. None known: the whole history.
 * *size: the bytes written. Any thread (its own repository handle).
 */
int vcs_bundle(const char *repo_dir, const char *commit, const char *refname,
	       char *const known[], size_t nknown, const char *path, size_t *size,
	       struct err *e);

/* git init dir and commit everything in it to HEAD. */
int vcs_create_repo(const char *dir, const char *message, char oid[VCS_OID_HEX],
		    struct err *e);

/* How many local branches start with prefix; -1 with e set on failure. */
int vcs_count_branches(const char *dir, const char *prefix, struct err *e);
/*
 * *top: the largest N, up to max, of the local branches named prefix and
 * then digits only (prefix "hypotop/n": a node's branch), or -1 when
 * there is none. Only those refs are read (refs/heads/PREFIX* and
 * packed-refs), not every branch.
 */
int vcs_branch_top(const char *dir, const char *prefix, unsigned long max, long *top,
		   struct err *e);

/* Unified diff (git format) from commit `from` to commit `to`; caller frees. */
int vcs_diff(const char *repo_dir, const char *from, const char *to, char **text,
	     struct err *e);
/*
 * The paths that differ from commit `from` to commit `to` and are still
 * there at `to` (added or changed); *paths and each path are the caller's.
 */
int vcs_diff_paths(const char *repo_dir, const char *from, const char *to, char ***paths,
		   size_t *n, struct err *e);

/*
 * Every path a git-format patch names, the old and the new side of each
 * file (a new file's /dev/null left out), with no repository: what a
 * patch touches, to check before it is applied. Caller frees.
 */
int vcs_patch_paths(const char *patch, char ***paths, size_t *n, struct err *e);

#endif
