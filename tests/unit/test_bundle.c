/*
 * Unit tests: vcs_bundle — what a worker lacks of a commit, as a git
 * bundle that the git command line fetches. Real repositories, made and
 * read with git.
 */
#include "t.h"

#include <stdarg.h>
#include <sys/stat.h>

#include "hypotop/fsutil.h"
#include "hypotop/vcs.h"

#define sh t_sh

static long long file_size(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 ? (long long)st.st_size : -1;
}

/*
 * A repository of some 600 KB that does not compress (random bytes, base64)
 * over two commits, then a commit that changes one line of a small file.
 */
static char *repo_make(const char *base)
{
	char *dir = path_join(base, "src");

	T_CHECK(sh("set -e; git init -q -b main '%s'; cd '%s';"
		   "git config user.email t@t; git config user.name t;"
		   "head -c 300000 /dev/urandom | base64 > data1.txt;"
		   "printf 'lr = 0.1\\nlayers = 2\\n' > train.py;"
		   "git add -A; git commit -q -m one;"
		   "head -c 150000 /dev/urandom | base64 > data2.txt;"
		   "git add -A; git commit -q -m two;"
		   "sed -i 's/0.1/0.2/' train.py; git commit -q -am three",
		   dir, dir) == 0,
		"cannot make the repository");
	return dir;
}

static void one_line_change_costs_kilobytes(void)
{
	char *base = t_tmpdir();
	char *dir = repo_make(base);
	char *bundle = path_join(base, "b.bundle");
	char *clone = path_join(base, "clone");
	char head[VCS_OID_HEX], parent[VCS_OID_HEX], got[VCS_OID_HEX];
	char *known[] = {parent, "0123456789012345678901234567890123456789"};
	struct err e = {{0}};
	size_t size = 0;

	t_sh_line(head, VCS_OID_HEX, "git -C '%s' rev-parse '%s'", dir, "HEAD");
	t_sh_line(parent, VCS_OID_HEX, "git -C '%s' rev-parse '%s'", dir, "HEAD~1");
	int rc = vcs_bundle(dir, head, "refs/hypotop/ship", known, 2, bundle, &size, &e);
	T_CHECK(rc == 0, "vcs_bundle: %s", e.msg);
	T_CHECK(size < 4096, "a one-line change took %zu bytes", size);
	T_CHECK((long long)size == file_size(bundle), "size %zu, file %lld", size,
		file_size(bundle));
	/* A clone that has the parent, and not the head. */
	T_CHECK(sh("git clone -q --bare -b main '%s' '%s' && git -C '%s' update-ref "
		   "refs/heads/main %s && git -C '%s' gc -q --prune=now 2>/dev/null",
		   dir, clone, clone, parent, clone) == 0,
		"cannot make the clone");
	T_CHECK(sh("git -C '%s' cat-file -e %s 2>/dev/null", clone, head) != 0,
		"the clone has the head already");
	T_CHECK(sh("git -C '%s' fetch -q '%s' 'refs/hypotop/ship:refs/hypotop/got'", clone,
		   bundle) == 0,
		"git fetch of the bundle failed");
	t_sh_line(got, VCS_OID_HEX, "git -C '%s' rev-parse '%s'", clone, "refs/hypotop/got");
	T_STREQ(got, head);
	T_CHECK(sh("git -C '%s' fsck --no-dangling >/dev/null 2>&1", clone) == 0,
		"the clone is not whole after the fetch");
	T_CHECK(sh("sed '/^$/q' '%s' | grep -qx -- '-%s'", bundle, parent) == 0,
		"the bundle does not name the parent as its prerequisite");
	fs_remove_tree(base);
	free(clone);
	free(bundle);
	free(dir);
	free(base);
}

static void no_known_commit_is_the_whole_history(void)
{
	char *base = t_tmpdir();
	char *dir = repo_make(base);
	char *bundle = path_join(base, "b.bundle");
	char *empty = path_join(base, "empty");
	char head[VCS_OID_HEX], got[VCS_OID_HEX];
	char *known[] = {"0123456789012345678901234567890123456789"};
	struct err e = {{0}};
	size_t size = 0;

	t_sh_line(head, VCS_OID_HEX, "git -C '%s' rev-parse '%s'", dir, "HEAD");
	int rc = vcs_bundle(dir, head, "refs/hypotop/ship", known, 1, bundle, &size, &e);
	T_CHECK(rc == 0, "vcs_bundle: %s", e.msg);
	T_CHECK(size > 400000, "the whole history took only %zu bytes", size);
	T_CHECK(sh("sed '/^$/q' '%s' | grep -q '^-'", bundle) != 0,
		"a whole history has a prerequisite");
	T_CHECK(sh("git init -q --bare '%s' && git -C '%s' fetch -q '%s' "
		   "'refs/hypotop/ship:refs/hypotop/got'",
		   empty, empty, bundle) == 0,
		"git fetch into an empty repository failed");
	t_sh_line(got, VCS_OID_HEX, "git -C '%s' rev-parse '%s'", empty, "refs/hypotop/got");
	T_STREQ(got, head);
	T_CHECK(sh("git -C '%s' log --oneline refs/hypotop/got | wc -l | grep -qx 3", empty) == 0,
		"the fetched history is not three commits");
	T_CHECK(sh("git -C '%s' fsck --no-dangling >/dev/null 2>&1", empty) == 0,
		"the repository is not whole after the fetch");
	fs_remove_tree(base);
	free(empty);
	free(bundle);
	free(dir);
	free(base);
}

static void not_a_commit_is_refused(void)
{
	char *base = t_tmpdir();
	char *dir = repo_make(base);
	char *bundle = path_join(base, "b.bundle");
	struct err e = {{0}};
	size_t size = 1;

	int rc = vcs_bundle(dir, "0123456789012345678901234567890123456789", "refs/hypotop/ship",
			    NULL, 0, bundle, &size, &e);
	T_CHECK(rc < 0, "a missing commit was bundled");
	T_CONTAINS(e.msg, "0123456789012345678901234567890123456789");
	T_CHECK(!fs_exists(bundle) && size == 0, "something was written");
	fs_remove_tree(base);
	free(bundle);
	free(dir);
	free(base);
}

int main(void)
{
	vcs_init();
	T_RUN(one_line_change_costs_kilobytes);
	T_RUN(no_known_commit_is_the_whole_history);
	T_RUN(not_a_commit_is_refused);
	vcs_shutdown();
	T_END();
}
