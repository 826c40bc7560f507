/*
 * checkout.c — a checkout of any commit for a program to read and try
 * things in (the command provider, SPEC §7): a linked work tree on a
 * branch of its own, hypotop-call/NAME, so that it never holds a node's
 * branch (which a node's work tree may have checked out), and removed
 * with that branch afterwards.
 */
#include <git2.h>
#include <stdlib.h>

#include "hypotop/vcs.h"
#include "hypotop/vcs_int.h"

#define CALL_PREFIX "hypotop-call/"

int vcs_checkout_add(const char *repo_dir, const char *name, const char *path,
		     const char *commit, struct err *e)
{
	git_repository *repo;
	git_object *obj = NULL;
	int rc = -1;

	if (vcs_repo(&repo, repo_dir, e) < 0)
		return -1;
	if (!commit || git_revparse_single(&obj, repo, commit) < 0 ||
	    git_object_type(obj) != GIT_OBJECT_COMMIT) {
		err_set(e, "git: commit %s: %s", commit ? commit : "(none)",
			obj ? "not a commit" : vcs_git_msg());
		goto out;
	}
	char *branch = xasprintf(CALL_PREFIX "%s", name);
	char *ref = xasprintf("refs/heads/%s", branch);
	rc = vcs_ref_write(repo, ref, git_object_id(obj), e);
	if (rc == 0)
		rc = vcs_worktree_add(repo_dir, name, path, branch, e);
	free(ref);
	free(branch);
out:
	git_object_free(obj);
	return rc;
}

int vcs_checkout_remove(const char *repo_dir, const char *name, const char *path,
			struct err *e)
{
	git_repository *repo;

	if (vcs_worktree_remove(repo_dir, name, path, e) < 0 || vcs_repo(&repo, repo_dir, e) < 0)
		return -1;
	char *ref = xasprintf("refs/heads/" CALL_PREFIX "%s", name);
	int rc = git_reference_remove(repo, ref);
	if (rc < 0 && rc != GIT_ENOTFOUND)
		err_set(e, "git: branch %s: %s", ref + 11, vcs_git_msg());
	free(ref);
	return rc < 0 && rc != GIT_ENOTFOUND ? -1 : 0;
}
