/*
 * scrub.c — a work tree lent again, made fit for its next checkout (see
 * vcs_int.h).
 *
 * A checkout writes each of the commit's files at its place in the tree,
 * through whatever a run left there: a symlink in place of a tracked
 * folder leads it into the folder the link names, outside the tree; a
 * tracked file hard-linked to one outside is rewritten in place, both of
 * them; a fifo in place of a file blocks the git thread for good. And
 * what it does not write, a link or a fifo a run left, is there for the
 * next run. So before the checkout every entry of the tree is held
 * against the commit's entry of that name, and what is not of the
 * commit's kind is removed, by a name in the folder open above it and
 * never followed: the checkout then finds folders and plain files of the
 * commit's, and links where the commit has links, and writes their
 * contents.
 *
 * Only the commit's folders are read entry by entry; anything else is
 * removed whole, as the checkout would remove it, so a run that only
 * wrote files (checkpoints, logs) costs a stat per tracked entry.
 */
#include "hypotop/vcs_int.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hypotop/fsutil.h"

struct scrub {
	const char *path;
	struct buf rel; /* the folder being read, relative to the tree */
	struct err *e;
};

/* Whether st is what the checkout may write into for the commit's entry te. */
static bool fits(const git_tree_entry *te, const struct stat *st)
{
	switch (git_tree_entry_filemode(te)) {
	case GIT_FILEMODE_TREE:
	case GIT_FILEMODE_COMMIT: /* a submodule: its folder, never entered */
		return S_ISDIR(st->st_mode);
	case GIT_FILEMODE_LINK:
		return S_ISLNK(st->st_mode); /* its target is the checkout's to put right */
	case GIT_FILEMODE_BLOB:
	case GIT_FILEMODE_BLOB_EXECUTABLE:
		return S_ISREG(st->st_mode) && st->st_nlink == 1;
	default:
		return false;
	}
}

static int fail(struct scrub *s, const char *name, const char *what)
{
	err_set(s->e, "worktree %s: %s %s%s: %s", s->path, what, s->rel.len ? s->rel.data : "",
		name, strerror(errno));
	return -1;
}

/* The folder open at fd against tree, the commit's folder of that place. */
static int scrub_dir(struct scrub *s, int fd, const git_tree *tree)
{
	DIR *d = fdopendir(fd);
	struct dirent *de;
	int rc = 0;

	if (!d) {
		close(fd);
		return fail(s, "", "cannot read");
	}
	while (rc == 0 && (errno = 0, de = readdir(d))) {
		const char *name = de->d_name;
		struct stat st;
		if (!strcmp(name, ".") || !strcmp(name, "..") || (!s->rel.len && !strcmp(name, ".git")))
			continue;
		const git_tree_entry *te = git_tree_entry_byname(tree, name);
		if (te && fstatat(dirfd(d), name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
			if (errno != ENOENT)
				rc = fail(s, name, "cannot stat");
			continue;
		}
		if (!te || !fits(te, &st)) {
			if (fs_remove_at(dirfd(d), name) < 0 && errno != ENOENT)
				rc = fail(s, name, "cannot remove what the last run left at");
			continue;
		}
		if (git_tree_entry_filemode(te) != GIT_FILEMODE_TREE)
			continue;
		git_tree *sub = NULL;
		if (git_tree_lookup(&sub, git_tree_owner(tree), git_tree_entry_id(te)) < 0) {
			err_set(s->e, "worktree %s: %s%s: %s", s->path,
				s->rel.len ? s->rel.data : "", name, vcs_git_msg());
			rc = -1;
			break;
		}
		int sfd = openat(dirfd(d), name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (sfd < 0) {
			rc = fail(s, name, "cannot open");
		} else {
			size_t at = s->rel.len;
			buf_adds(&s->rel, name);
			buf_addc(&s->rel, '/');
			rc = scrub_dir(s, sfd, sub);
			s->rel.len = at; /* back to this folder */
			s->rel.data[at] = '\0';
		}
		git_tree_free(sub);
	}
	if (rc == 0 && errno != 0 && !de)
		rc = fail(s, "", "cannot read");
	closedir(d);
	return rc;
}

int vcs_scrub(const char *path, const git_tree *tree, struct err *e)
{
	struct scrub s = {path, {0}, e};
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

	if (fd < 0) {
		err_set(e, "worktree %s: %s", path, strerror(errno));
		return -1;
	}
	buf_init(&s.rel);
	int rc = scrub_dir(&s, fd, tree);
	buf_free(&s.rel);
	return rc;
}
