/*
 * git.c — see vcs.h: HEAD of the source tree, linked work trees, reading
 * commits, and the highest of the nodes' branches. Making a node's commit
 * is in apply.c.
 */
#include "hypotop/vcs.h"

#include <errno.h>
#include <fcntl.h>
#include <git2.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hypotop/fsutil.h"
#include "hypotop/vcs_int.h"

void vcs_init(void)
{
	git_libgit2_init();
	/* A branch must never name objects a power cut could lose. */
	git_libgit2_opts(GIT_OPT_ENABLE_FSYNC_GITDIR, 1);
}

void vcs_shutdown(void)
{
	vcs_repo_forget();
	vcs_seals_forget();
	git_libgit2_shutdown();
}


int vcs_export(const char *repo_dir, const char *commit, const char *dir, struct err *e)
{
	git_repository *repo;
	git_object *obj = NULL, *tree = NULL;
	git_checkout_options co = GIT_CHECKOUT_OPTIONS_INIT;
	int rc = -1;

	if (vcs_repo(&repo, repo_dir, e) < 0)
		return -1;
	co.checkout_strategy = GIT_CHECKOUT_FORCE | GIT_CHECKOUT_DONT_UPDATE_INDEX;
	co.target_directory = dir;
	if (git_revparse_single(&obj, repo, commit) < 0 ||
	    git_object_peel(&tree, obj, GIT_OBJECT_TREE) < 0 ||
	    git_checkout_tree(repo, tree, &co) < 0)
		err_set(e, "git: export %s to %s: %s", commit, dir, vcs_git_msg());
	else
		rc = 0;
	git_object_free(tree);
	git_object_free(obj);
	return rc;
}

char *vcs_top(const char *dir)
{
	git_buf found = {0};
	git_repository *repo = NULL;
	char *top = NULL;

	if (git_repository_discover(&found, dir, 0, NULL) == 0 &&
	    git_repository_open(&repo, found.ptr) == 0 && git_repository_workdir(repo)) {
		top = xstrdup(git_repository_workdir(repo));
		size_t n = strlen(top);
		while (n > 1 && top[n - 1] == '/')
			top[--n] = '\0';
	}
	git_repository_free(repo);
	git_buf_dispose(&found);
	return top;
}

int vcs_head(const char *dir, char oid[VCS_OID_HEX], bool *dirty, struct err *e)
{
	git_repository *repo = NULL;
	git_reference *head = NULL;
	git_status_list *st = NULL;
	int rc = -1;

	if (!fs_is_dir(dir)) {
		err_set(e, "--source-dir %s: no such folder; give the path of your training "
			   "project",
			dir);
		return -1;
	}
	if (git_repository_open_ext(&repo, dir, GIT_REPOSITORY_OPEN_NO_SEARCH, NULL) < 0) {
		err_set(e, "--source-dir %s: not a git repository; run 'git init' and commit your "
			   "code there first (hypotop branches every experiment from it)",
			dir);
		return -1;
	}
	if (git_repository_is_bare(repo)) {
		err_set(e, "--source-dir %s: a bare repository; give a work tree", dir);
		goto out;
	}
	int hr = git_repository_head(&head, repo);
	if (hr == GIT_EUNBORNBRANCH || hr == GIT_ENOTFOUND) {
		err_set(e, "--source-dir %s: the repository has no commit yet; commit your code "
			   "first",
			dir);
		goto out;
	}
	if (hr < 0) {
		err_set(e, "--source-dir %s: cannot read HEAD: %s", dir, vcs_git_msg());
		goto out;
	}
	const git_oid *id = git_reference_target(head);
	git_reference *resolved = NULL;
	if (!id && git_reference_resolve(&resolved, head) == 0)
		id = git_reference_target(resolved);
	if (!id) {
		err_set(e, "--source-dir %s: HEAD does not name a commit", dir);
		git_reference_free(resolved);
		goto out;
	}
	git_oid_tostr(oid, VCS_OID_HEX, id);
	git_reference_free(resolved);
	if (dirty) {
		git_status_options so = GIT_STATUS_OPTIONS_INIT;
		so.show = GIT_STATUS_SHOW_INDEX_AND_WORKDIR;
		so.flags = GIT_STATUS_OPT_EXCLUDE_SUBMODULES;
		if (git_status_list_new(&st, repo, &so) < 0) {
			err_set(e, "--source-dir %s: git status: %s", dir, vcs_git_msg());
			goto out;
		}
		*dirty = git_status_list_entrycount(st) > 0;
	}
	rc = 0;
out:
	git_status_list_free(st);
	git_reference_free(head);
	git_repository_free(repo);
	return rc;
}

/* The tree of a commit named by id (or any revision). */
static int commit_tree(git_repository *repo, const char *commit, git_tree **tree,
		       struct err *e)
{
	git_object *obj = NULL, *peeled = NULL;
	int rc = 0;

	if (!commit || git_revparse_single(&obj, repo, commit) < 0 ||
	    git_object_peel(&peeled, obj, GIT_OBJECT_TREE) < 0) {
		err_set(e, "git: commit %s: %s", commit ? commit : "(none)", vcs_git_msg());
		rc = -1;
	}
	*tree = (git_tree *)peeled;
	git_object_free(obj);
	return rc;
}

/*
 * Worktree names become folder names under .git/worktrees, which is
 * removed by hand after a crash: they must be one plain component.
 */
static int name_ok(const char *name, struct err *e)
{
	if (!name || !*name || strchr(name, '/') || !strcmp(name, ".") || !strcmp(name, "..")) {
		err_set(e, "git: worktree name \"%s\" must be one path component",
			name ? name : "");
		return -1;
	}
	return 0;
}

/* Whether removing path would remove the repository at repo_dir too. */
static bool holds_repo(const char *path, const char *repo_dir)
{
	struct err ignored;
	char *p = path_real(path, &ignored), *r = path_real(repo_dir, &ignored);
	bool holds = p && r && !strncmp(p, r, strlen(p)) &&
		     (r[strlen(p)] == '\0' || r[strlen(p)] == '/' || !strcmp(p, "/"));

	free(p);
	free(r);
	return holds;
}

/*
 * Remove what is left at path: a folder and its contents, or a file or a
 * link, which is not followed.
 */
static int remove_leftover(const char *path, const char *repo_dir, struct err *e)
{
	struct stat st;

	if (lstat(path, &st) < 0)
		return 0;
	if (S_ISDIR(st.st_mode) && holds_repo(path, repo_dir)) {
		err_set(e, "worktree %s: holds the repository %s; refusing to remove it", path,
			repo_dir);
		return -1;
	}
	/* Why, said: a shortage of descriptors (EMFILE) is waited out, not a failure. */
	if (fs_remove_tree(path) != 0) {
		int err = errno;
		if (lstat(path, &st) == 0) {
			err_set(e, "worktree %s: cannot remove what is left there: %s", path,
				strerror(err));
			return -1;
		}
	}
	return 0;
}

/* Where the repository records work tree `name`; caller frees. */
static char *worktree_meta(git_repository *repo, const char *name)
{
	char *all = path_join(git_repository_commondir(repo), "worktrees");
	char *meta = path_join(all, name);

	free(all);
	return meta;
}

/*
 * Remove work tree `name` at path, whatever state it is in (valid,
 * locked, or with its folder already gone): its files first, here, for
 * git's own removal would follow a link a run put in place of the folder
 * and empty the folder it names; then the repository's record of it.
 * A record a crash left half-written, which git_worktree_lookup cannot
 * read, is removed by hand.
 */
static int worktree_drop(git_repository *repo, const char *repo_dir, const char *name,
			 const char *path, struct err *e)
{
	git_worktree *wt = NULL;
	git_worktree_prune_options po = GIT_WORKTREE_PRUNE_OPTIONS_INIT;
	int rc = 0;

	vcs_seal_break(path);
	if (remove_leftover(path, repo_dir, e) < 0)
		return -1;
	po.flags = GIT_WORKTREE_PRUNE_VALID | GIT_WORKTREE_PRUNE_LOCKED;
	if (git_worktree_lookup(&wt, repo, name) == 0) {
		if (git_worktree_prune(wt, &po) < 0) {
			err_set(e, "git: worktree %s: prune: %s", name, vcs_git_msg());
			rc = -1;
		}
		git_worktree_free(wt);
		return rc;
	}
	char *meta = worktree_meta(repo, name);
	if (fs_exists(meta) && fs_remove_tree(meta) != 0) {
		int err = errno;
		if (fs_exists(meta)) {
			err_set(e, "git: worktree %s: cannot remove %s: %s", name, meta,
				strerror(err));
			rc = -1;
		}
	}
	free(meta);
	return rc;
}

/* The first line of the plain file name in the folder open at dirfd ("" if none). */
static void first_line(int dirfd, const char *name, char *line, size_t size)
{
	/* Not a link, and no fifo is waited on. */
	int fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	struct stat st;
	ssize_t n = -1;

	if (fd >= 0 && fstat(fd, &st) == 0 && S_ISREG(st.st_mode))
		n = read(fd, line, size - 1);
	if (fd >= 0)
		close(fd);
	line[n > 0 ? n : 0] = '\0';
	line[strcspn(line, "\r\n")] = '\0';
}

/*
 * Whether work tree `name` looks whole at path, fit to reuse: a folder
 * whose .git is a file that names the repository's record of it, which
 * is there. Cheap, where a full check would read and resolve half a dozen
 * files for every node: a tree that only looks whole fails its checkout
 * and is made again. A run can put a link in place of either, which
 * would lead the checkout into the repository the link names, the
 * source's own included: such a tree is made again too.
 */
static bool worktree_usable(git_repository *repo, const char *name, const char *path)
{
	char *meta = worktree_meta(repo, name), *record = path_join(meta, "gitdir");
	char line[4096];
	size_t len = strlen(meta);
	bool ok = false;
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

	if (fd >= 0) {
		first_line(fd, ".git", line, sizeof line);
		close(fd);
		const char *to = strncmp(line, "gitdir: ", 8) ? "" : line + 8;
		ok = !strncmp(to, meta, len) && strspn(to + len, "/") == strlen(to + len) &&
		     fs_exists(record);
	}
	free(record);
	free(meta);
	return ok;
}

/*
 * git's lock-file protocol (gitrepository-layout(5)): <ref>.lock made
 * exclusively, so that a git command updating the same ref at the same
 * moment fails rather than mixes, written, and renamed into place. Where
 * git_branch_create would also append to a reflog and flush both files
 * and both folders (four fsyncs a node), this writes one small file: the
 * branch can always be made again from the journal.
 */
int vcs_ref_write(git_repository *repo, const char *refname, const git_oid *id,
		  struct err *e)
{
	char *path = path_join(git_repository_commondir(repo), refname);
	char *lock = xasprintf("%s.lock", path);
	char line[GIT_OID_HEXSZ + 2];
	int rc = -1;

	git_oid_tostr(line, GIT_OID_HEXSZ + 1, id);
	line[GIT_OID_HEXSZ] = '\n';
	int fd = open(lock, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (fd < 0 && errno == ENOENT) {
		/* The first branch under this prefix: its folder first. */
		char *dir = xstrdup(lock);
		*strrchr(dir, '/') = '\0';
		int made = fs_mkdir_p(dir, 0755, e);
		free(dir);
		if (made < 0)
			goto out;
		fd = open(lock, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	}
	if (fd < 0) {
		err_set(e, "git: branch %s: %s: %s%s", refname, lock, strerror(errno),
			errno == EEXIST ? " (another git command holds the branch; if none "
					  "runs, remove the lock file)"
					: "");
		goto out;
	}
	bool ok = write(fd, line, sizeof line - 1) == (ssize_t)(sizeof line - 1);
	ok &= close(fd) == 0;
	if (!ok || rename(lock, path) < 0) {
		err_set(e, "git: branch %s: %s: %s", refname, path, strerror(errno));
		unlink(lock);
		goto out;
	}
	rc = 0;
out:
	free(lock);
	free(path);
	return rc;
}

int vcs_branches_restore(const char *repo_dir, size_t n, char *const branch[],
			 char *const commit[], struct err *e)
{
	git_repository *repo;
	int made = 0, rc = 0;

	if (vcs_repo(&repo, repo_dir, e) < 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		char *refname = xasprintf("refs/heads/%s", branch[i]);
		git_commit *c = NULL;
		git_oid id;
		struct err we = {{0}};
		if (git_reference_name_to_id(&id, repo, refname) == GIT_ENOTFOUND) {
			if (git_oid_fromstr(&id, commit[i]) < 0 ||
			    git_commit_lookup(&c, repo, &id) < 0)
				err_set(&we, "git: branch %s: its commit %s is not in %s", branch[i],
					commit[i], repo_dir);
			else if (vcs_ref_write(repo, refname, &id, &we) == 0)
				made++;
			if (we.msg[0] && rc == 0) {
				*e = we;
				rc = -1;
			}
		}
		git_commit_free(c);
		free(refname);
	}
	return rc < 0 ? rc : made;
}

/*
 * HEAD of a work tree names refname. Written here, in the one-line format
 * of gitrepository-layout(5), rather than by git_repository_set_head: that
 * would first open every other work tree to see whether one has the
 * branch (none can: each node's branch is its own), and log and fsync a
 * file that can be made again from the branch at any time. It is
 * rewritten in place, not replaced: the tree is lent to one node at a
 * time, and a HEAD cut short by a crash fails the next checkout, which
 * makes the tree again. Overwritten, not truncated first: emptied, its
 * block would be freed (and discarded) and the new text flushed at close.
 */
static int symbolic_head(git_repository *wt, const char *refname, struct err *e)
{
	char *path = path_join(git_repository_path(wt), "HEAD");
	char *text = xasprintf("ref: %s\n", refname);
	size_t len = strlen(text);
	int rc = 0, fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);

	if (fd < 0 || pwrite(fd, text, len, 0) != (ssize_t)len || ftruncate(fd, (off_t)len) < 0) {
		err_set(e, "git: %s: %s", path, strerror(errno));
		rc = -1;
	}
	if (fd >= 0 && close(fd) < 0 && rc == 0) {
		err_set(e, "git: %s: %s", path, strerror(errno));
		rc = -1;
	}
	free(text);
	free(path);
	return rc;
}

/*
 * Whether the tree is at commit id already, with nothing changed, added
 * or left behind (ignored files included): a node that runs the same
 * commit as the last one in this tree (a repeat, another seed) needs no
 * checkout, which would rewrite the index. Files git had to read to know
 * them unchanged (written in the same second as the index) have their
 * times refreshed in the index, once, rather than read at every reuse.
 */
static bool worktree_clean_at(git_repository *wt, const git_oid *id)
{
	git_status_options so = GIT_STATUS_OPTIONS_INIT;
	git_status_list *st = NULL;
	git_oid head;

	if (git_reference_name_to_id(&head, wt, "HEAD") < 0 || !git_oid_equal(&head, id))
		return false;
	so.show = GIT_STATUS_SHOW_INDEX_AND_WORKDIR;
	so.flags = GIT_STATUS_OPT_INCLUDE_UNTRACKED | GIT_STATUS_OPT_INCLUDE_IGNORED |
		   GIT_STATUS_OPT_EXCLUDE_SUBMODULES | GIT_STATUS_OPT_UPDATE_INDEX;
	bool clean = git_status_list_new(&st, wt, &so) == 0 && git_status_list_entrycount(st) == 0;
	git_status_list_free(st);
	return clean;
}

/*
 * Whether the tree at path is sealed clean at id (seal.c). When the seal
 * is broken, the files changed where git would not see it are removed
 * first, for the checkout to write again.
 */
static bool sealed(const char *path, const char *gitdir, const git_oid *id)
{
	char **unseen;

	if (vcs_seal_intact(path, gitdir, id, &unseen))
		return true;
	for (char **f = unseen; f && *f; f++) {
		char *p = path_join(path, *f);
		unlink(p);
		free(p);
		free(*f);
	}
	free(unseen);
	return false;
}

/*
 * The files at path become exactly the commit's: what the last run left
 * there, ignored files included, is removed without following it
 * (scrub.c), as if the tree were new, and files that differ are written,
 * unless git finds the tree clean at id already.
 */
static int worktree_checkout(git_repository *wt, const char *path, const char *branch,
			     const git_oid *id, struct err *e)
{
	git_commit *commit = NULL;
	git_tree *tree = NULL;
	git_checkout_options co = GIT_CHECKOUT_OPTIONS_INIT;
	int rc = -1;

	co.checkout_strategy =
		GIT_CHECKOUT_FORCE | GIT_CHECKOUT_REMOVE_UNTRACKED | GIT_CHECKOUT_REMOVE_IGNORED;
	if (git_commit_lookup(&commit, wt, id) < 0 || git_commit_tree(&tree, commit) < 0)
		err_set(e, "git: worktree %s (branch %s): %s", path, branch, vcs_git_msg());
	else if (vcs_scrub(path, tree, e) == 0) {
		if (!worktree_clean_at(wt, id) &&
		    git_checkout_tree(wt, (git_object *)tree, &co) < 0)
			err_set(e, "git: worktree %s (branch %s): %s", path, branch,
				vcs_git_msg());
		else
			rc = 0;
	}
	git_tree_free(tree);
	git_commit_free(commit);
	return rc;
}

/*
 * The tree at path lent to the node of branch: its files become the
 * commit's unless it is sealed clean at id, and HEAD names the branch.
 */
static int worktree_switch(const char *path, const char *branch, const git_oid *id,
			   struct err *e)
{
	git_repository *wt;
	int rc = 0;

	if (vcs_repo(&wt, path, e) < 0)
		return -1;
	const char *gitdir = git_repository_path(wt);
	char *refname = xasprintf("refs/heads/%s", branch);
	bool was_sealed = sealed(path, gitdir, id);
	if (!was_sealed)
		rc = worktree_checkout(wt, path, branch, id, e);
	if (rc == 0)
		rc = symbolic_head(wt, refname, e);
	/* HEAD is not part of a seal: an intact one holds as it is. */
	if (rc < 0)
		vcs_seal_break(path);
	else if (!was_sealed)
		vcs_seal(path, gitdir, id);
	free(refname);
	return rc;
}

int vcs_worktree_add(const char *repo_dir, const char *name, const char *path,
		     const char *branch, struct err *e)
{
	git_repository *repo;
	git_reference *ref = NULL;
	git_worktree *wt = NULL;
	git_worktree_add_options opts = GIT_WORKTREE_ADD_OPTIONS_INIT;
	git_oid id;
	int rc = -1;

	if (name_ok(name, e) < 0 || vcs_repo(&repo, repo_dir, e) < 0)
		return -1;
	char *refname = xasprintf("refs/heads/%s", branch);
	int found = git_reference_name_to_id(&id, repo, refname);
	free(refname);
	if (found < 0) {
		err_set(e, "git: branch %s: %s", branch, vcs_git_msg());
		return -1;
	}
	if (worktree_usable(repo, name, path) && worktree_switch(path, branch, &id, e) == 0)
		return 0;
	if (git_branch_lookup(&ref, repo, branch, GIT_BRANCH_LOCAL) < 0) {
		err_set(e, "git: branch %s: %s", branch, vcs_git_msg());
		goto out;
	}
	if (worktree_drop(repo, repo_dir, name, path, e) < 0)
		goto out;
	char *up = xstrdup(path), *slash = strrchr(up, '/');
	if (slash && slash != up) {
		*slash = '\0';
		if (fs_mkdir_p(up, 0755, e) < 0) {
			free(up);
			goto out;
		}
	}
	free(up);
	/* libgit2 makes .git/worktrees as if nobody else could: be first. */
	char *meta = path_join(git_repository_commondir(repo), "worktrees");
	int made = fs_mkdir_p(meta, 0755, e);
	free(meta);
	if (made < 0)
		goto out;
	opts.ref = ref;
	if (git_worktree_add(&wt, repo, name, path, &opts) < 0) {
		err_set(e, "git: worktree %s at %s (branch %s): %s", name, path, branch,
			vcs_git_msg());
		goto out;
	}
	rc = 0;
out:
	git_worktree_free(wt);
	git_reference_free(ref);
	return rc;
}

int vcs_worktree_remove(const char *repo_dir, const char *name, const char *path,
			struct err *e)
{
	git_repository *repo;

	if (name_ok(name, e) < 0 || vcs_repo(&repo, repo_dir, e) < 0)
		return -1;
	return worktree_drop(repo, repo_dir, name, path, e);
}

int vcs_read_file(const char *repo_dir, const char *commit, const char *path, char **text,
		  size_t *len, struct err *e)
{
	git_repository *repo;
	git_tree *tree = NULL;
	git_tree_entry *ent = NULL;
	git_blob *blob = NULL;
	int rc = -1;

	*text = NULL;
	if (vcs_repo(&repo, repo_dir, e) < 0)
		return -1;
	if (commit_tree(repo, commit, &tree, e) < 0)
		goto out;
	if (git_tree_entry_bypath(&ent, tree, path) < 0) {
		err_set(e, "git: commit %s: %s: %s", commit, path, vcs_git_msg());
		goto out;
	}
	if (git_tree_entry_type(ent) != GIT_OBJECT_BLOB) {
		err_set(e, "git: commit %s: %s is not a file", commit, path);
		goto out;
	}
	if (git_blob_lookup(&blob, repo, git_tree_entry_id(ent)) < 0) {
		err_set(e, "git: commit %s: %s: %s", commit, path, vcs_git_msg());
		goto out;
	}
	size_t n = (size_t)git_blob_rawsize(blob);
	*text = xmalloc(n + 1);
	if (n)
		memcpy(*text, git_blob_rawcontent(blob), n);
	(*text)[n] = '\0';
	if (len)
		*len = n;
	rc = 0;
out:
	git_blob_free(blob);
	git_tree_entry_free(ent);
	git_tree_free(tree);
	return rc;
}

struct list_walk {
	char **paths;
	char (*oids)[VCS_OID_HEX];
	bool blobs;                /* vcs_list_blobs: symlinks too, and the ids */
	size_t n, cap, max;
	vcs_keep_fn keep;          /* NULL: every file */
	void *arg;
};

static int list_one(const char *root, const git_tree_entry *ent, void *arg)
{
	struct list_walk *w = arg;

	if (git_tree_entry_type(ent) != GIT_OBJECT_BLOB ||
	    (!w->blobs && git_tree_entry_filemode(ent) == GIT_FILEMODE_LINK))
		return 0;
	if (w->n == w->max)
		return -1; /* enough: ends the walk */
	char *path = xasprintf("%s%s", root, git_tree_entry_name(ent));
	if (w->keep && !w->keep(path, w->arg)) {
		free(path);
		return 0;
	}
	if (w->n == w->cap) {
		w->cap = w->cap ? 2 * w->cap : 16;
		w->paths = xrealloc(w->paths, w->cap * sizeof *w->paths);
		if (w->blobs)
			w->oids = xrealloc(w->oids, w->cap * sizeof *w->oids);
	}
	if (w->blobs)
		git_oid_tostr(w->oids[w->n], VCS_OID_HEX, git_tree_entry_id(ent));
	w->paths[w->n++] = path;
	return 0;
}

/* The walk of commit's tree into w. */
static int list_walk(const char *repo_dir, const char *commit, struct list_walk *w,
		     struct err *e)
{
	git_repository *repo;
	git_tree *tree = NULL;

	if (vcs_repo(&repo, repo_dir, e) < 0 || commit_tree(repo, commit, &tree, e) < 0)
		return -1;
	git_tree_walk(tree, GIT_TREEWALK_PRE, list_one, w);
	git_tree_free(tree);
	return 0;
}

int vcs_list_files(const char *repo_dir, const char *commit, size_t max, char ***paths,
		   size_t *n, struct err *e)
{
	struct list_walk w = {.max = max};
	int rc = list_walk(repo_dir, commit, &w, e);

	*paths = w.paths;
	*n = w.n;
	return rc;
}

int vcs_list_blobs(const char *repo_dir, const char *commit, vcs_keep_fn keep, void *arg,
		   struct vcs_blob **blobs, size_t *n, struct err *e)
{
	struct list_walk w = {.blobs = true, .max = SIZE_MAX, .keep = keep, .arg = arg};
	int rc = list_walk(repo_dir, commit, &w, e);

	*blobs = xcalloc(w.n ? w.n : 1, sizeof **blobs);
	for (size_t i = 0; i < w.n; i++) {
		(*blobs)[i].path = w.paths[i];
		memcpy((*blobs)[i].oid, w.oids[i], VCS_OID_HEX);
	}
	*n = w.n;
	free(w.paths);
	free(w.oids);
	return rc;
}

void vcs_blobs_free(struct vcs_blob *blobs, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(blobs[i].path);
	free(blobs);
}

int vcs_blob_id(const void *data, size_t len, char oid[VCS_OID_HEX], struct err *e)
{
	git_oid id;

	if (git_odb_hash(&id, data, len, GIT_OBJECT_BLOB) < 0) {
		err_set(e, "git: hashing a blob: %s", vcs_git_msg());
		return -1;
	}
	git_oid_tostr(oid, VCS_OID_HEX, &id);
	return 0;
}

/* The diff from commit `from` to commit `to`; the caller frees *diff. */
static int commits_diff(const char *repo_dir, const char *from, const char *to,
			git_diff **diff, struct err *e)
{
	git_repository *repo;
	git_tree *a = NULL, *b = NULL;
	int rc = -1;

	*diff = NULL;
	if (vcs_repo(&repo, repo_dir, e) < 0)
		return -1;
	if (commit_tree(repo, from, &a, e) == 0 && commit_tree(repo, to, &b, e) == 0) {
		rc = git_diff_tree_to_tree(diff, repo, a, b, NULL);
		if (rc < 0)
			err_set(e, "git: diff %s %s: %s", from, to, vcs_git_msg());
	}
	git_tree_free(b);
	git_tree_free(a);
	return rc < 0 ? -1 : 0;
}

int vcs_diff(const char *repo_dir, const char *from, const char *to, char **text,
	     struct err *e)
{
	git_diff *diff;
	git_buf out = GIT_BUF_INIT;
	int rc = -1;

	*text = NULL;
	if (commits_diff(repo_dir, from, to, &diff, e) < 0)
		return -1;
	if (git_diff_to_buf(&out, diff, GIT_DIFF_FORMAT_PATCH) < 0) {
		err_set(e, "git: diff %s %s: %s", from, to, vcs_git_msg());
	} else {
		*text = xstrndup(out.ptr ? out.ptr : "", out.size);
		rc = 0;
	}
	git_buf_dispose(&out);
	git_diff_free(diff);
	return rc;
}

int vcs_diff_paths(const char *repo_dir, const char *from, const char *to, char ***paths,
		   size_t *n, struct err *e)
{
	git_diff *diff;

	*paths = NULL;
	*n = 0;
	if (commits_diff(repo_dir, from, to, &diff, e) < 0)
		return -1;
	size_t k = git_diff_num_deltas(diff);
	*paths = xcalloc(k ? k : 1, sizeof **paths);
	for (size_t i = 0; i < k; i++) {
		const git_diff_delta *d = git_diff_get_delta(diff, i);
		if (d->status != GIT_DELTA_DELETED)
			(*paths)[(*n)++] = xstrdup(d->new_file.path);
	}
	git_diff_free(diff);
	return 0;
}

int vcs_patch_paths(const char *patch, char ***paths, size_t *n, struct err *e)
{
	git_diff *diff = NULL;

	*paths = NULL;
	*n = 0;
	if (git_diff_from_buffer(&diff, patch, strlen(patch)) < 0) {
		err_set(e, "the patch does not parse: %s", vcs_git_msg());
		return -1;
	}
	size_t k = git_diff_num_deltas(diff);
	*paths = xcalloc(2 * k + 1, sizeof **paths);
	for (size_t i = 0; i < k; i++) {
		const git_diff_delta *d = git_diff_get_delta(diff, i);
		const char *side[] = {d->old_file.path, d->new_file.path};
		for (size_t s = 0; s < 2; s++)
			if (side[s] && strcmp(side[s], "/dev/null") &&
			    (!*n || strcmp((*paths)[*n - 1], side[s])))
				(*paths)[(*n)++] = xstrdup(side[s]);
	}
	git_diff_free(diff);
	return 0;
}

int vcs_branch_top(const char *dir, const char *prefix, unsigned long max, long *top,
		   struct err *e)
{
	git_repository *repo;
	git_reference_iterator *it = NULL;
	char *glob = xasprintf("refs/heads/%s*", prefix);
	size_t skip = strlen(glob) - 1;
	const char *name;

	*top = -1;
	if (vcs_repo(&repo, dir, e) < 0) {
		free(glob);
		return -1;
	}
	if (git_reference_iterator_glob_new(&it, repo, glob) < 0) {
		err_set(e, "git: %s: cannot list its %s branches: %s", dir, prefix, vcs_git_msg());
		free(glob);
		return -1;
	}
	while (git_reference_next_name(&name, it) == 0) {
		const char *digits = name + skip;
		size_t n = strlen(digits);
		if (!n || n > 9 || strspn(digits, "0123456789") != n)
			continue;
		unsigned long v = strtoul(digits, NULL, 10);
		if (v <= max && (long)v > *top)
			*top = (long)v;
	}
	git_reference_iterator_free(it);
	free(glob);
	return 0;
}
