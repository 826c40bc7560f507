/* git.c — see vcs.h. */
#include "hypotop/vcs.h"

#include <git2.h>
#include <string.h>

#include "hypotop/fsutil.h"

void vcs_init(void)
{
	git_libgit2_init();
}

void vcs_shutdown(void)
{
	git_libgit2_shutdown();
}

static const char *git_msg(void)
{
	const git_error *ge = git_error_last();

	return ge && ge->message ? ge->message : "unknown libgit2 error";
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
		err_set(e, "--source-dir %s: cannot read HEAD: %s", dir, git_msg());
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
			err_set(e, "--source-dir %s: git status: %s", dir, git_msg());
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
