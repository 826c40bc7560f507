/* init.c — a new repository with everything in it committed (for the demo). */
#include <git2.h>
#include <string.h>

#include "hypotop/vcs.h"

int vcs_create_repo(const char *dir, const char *message, char oid[VCS_OID_HEX],
		    struct err *e)
{
	git_repository *repo = NULL;
	git_index *index = NULL;
	git_tree *tree = NULL;
	git_signature *sig = NULL;
	git_oid tree_id, commit_id;
	int rc = -1;

	if (git_repository_init(&repo, dir, 0) < 0 || git_repository_index(&index, repo) < 0 ||
	    git_index_add_all(index, NULL, 0, NULL, NULL) < 0 || git_index_write(index) < 0 ||
	    git_index_write_tree(&tree_id, index) < 0 ||
	    git_tree_lookup(&tree, repo, &tree_id) < 0 ||
	    git_signature_now(&sig, "hypotop", "hypotop@localhost") < 0 ||
	    git_commit_create_v(&commit_id, repo, "HEAD", sig, sig, NULL, message, tree, 0) < 0) {
		const git_error *ge = git_error_last();
		err_set(e, "git: %s: %s", dir, ge && ge->message ? ge->message : "cannot commit");
		goto out;
	}
	git_oid_tostr(oid, VCS_OID_HEX, &commit_id);
	rc = 0;
out:
	git_signature_free(sig);
	git_tree_free(tree);
	git_index_free(index);
	git_repository_free(repo);
	return rc;
}

int vcs_count_branches(const char *dir, const char *prefix, struct err *e)
{
	git_repository *repo = NULL;
	git_branch_iterator *it = NULL;
	git_reference *ref;
	git_branch_t type;
	int n = 0;

	if (git_repository_open_ext(&repo, dir, GIT_REPOSITORY_OPEN_NO_SEARCH, NULL) < 0 ||
	    git_branch_iterator_new(&it, repo, GIT_BRANCH_LOCAL) < 0) {
		const git_error *ge = git_error_last();
		err_set(e, "git: %s: %s", dir, ge && ge->message ? ge->message : "cannot list branches");
		git_repository_free(repo);
		return -1;
	}
	while (git_branch_next(&ref, &type, it) == 0) {
		const char *name = NULL;
		if (git_branch_name(&name, ref) == 0 && !strncmp(name, prefix, strlen(prefix)))
			n++;
		git_reference_free(ref);
	}
	git_branch_iterator_free(it);
	git_repository_free(repo);
	return n;
}
