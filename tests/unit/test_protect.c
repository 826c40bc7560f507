/*
 * Unit tests: protect — a work tree held against the blob ids the baseline's
 * commit had for the protected files: the same content passes; a file
 * changed, missing, or new where the globs reach fails, named.
 */
#include "t.h"

#include <stdarg.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hypotop/config.h"
#include "hypotop/fsutil.h"
#include "hypotop/protect.h"
#include "hypotop/vcs.h"

static const char *const globs_text = "[\"eval.py\", \"data/*.py\"]";

static void put(const char *dir, const char *rel, const char *text)
{
	char *path = path_join(dir, rel);
	char *slash = strrchr(path, '/');
	struct err e = {{0}};

	*slash = '\0';
	fs_mkdir_p(path, 0755, &e);
	*slash = '/';
	T_CHECK(fs_write_atomic(path, text, strlen(text), 0644, &e) == 0, "%s", e.msg);
	free(path);
}

static char *blob(const char *text)
{
	char *oid = malloc(VCS_OID_HEX);
	struct err e = {{0}};

	T_CHECK(vcs_blob_id(text, strlen(text), oid, &e) == 0, "%s", e.msg);
	return oid;
}

/* A work tree with the baseline's files, and the record of the protected ones. */
static char *baseline(cJSON **globs, cJSON **files)
{
	char *dir = t_tmpdir();
	char *a = blob("score = 1\n"), *b = blob("def load(): pass\n");

	put(dir, "eval.py", "score = 1\n");
	put(dir, "data/load.py", "def load(): pass\n");
	put(dir, "train.py", "print('val_loss=1')\n");
	put(dir, ".git", "gitdir: elsewhere\n");
	*globs = cJSON_Parse(globs_text);
	*files = cJSON_CreateObject();
	cJSON_AddStringToObject(*files, "eval.py", a);
	cJSON_AddStringToObject(*files, "data/load.py", b);
	free(a);
	free(b);
	return dir;
}

static void baseline_free(char *dir, cJSON *globs, cJSON *files)
{
	fs_remove_tree(dir);
	free(dir);
	cJSON_Delete(globs);
	cJSON_Delete(files);
}

static int check(const char *dir, const cJSON *globs, const cJSON *files, bool added,
		 char **why)
{
	struct err e = {{0}};
	int rc = protect_check(globs, files, dir, added, why, &e);

	T_CHECK(rc >= 0, "%s", e.msg);
	return rc;
}

static void blob_id_is_gits(void)
{
	/* printf 'hello\n' | git hash-object --stdin */
	char *oid = blob("hello\n");
	T_STREQ(oid, "ce013625030ba8dba906f756967f9e9ca394464a");
	free(oid);
}

static void the_baselines_files_pass(void)
{
	cJSON *globs, *files;
	char *dir = baseline(&globs, &files), *why = NULL;

	/* What protect does not reach may change, and be added. */
	put(dir, "train.py", "print('val_loss=0')\n");
	put(dir, "model/eval.py", "score = 2\n");
	put(dir, "data/sub/deep.py", "x = 1\n");
	T_CHECK(check(dir, globs, files, true, &why) == 0, "refused: %s", why);
	T_CHECK(why == NULL, "a reason without a refusal: %s", why);
	free(why);
	baseline_free(dir, globs, files);
}

static void rewrite_eval(const char *dir)
{
	put(dir, "eval.py", "score = 100\n");
}

static void swap_the_loader(const char *dir)
{
	char *gone = path_join(dir, "data/load.py");

	T_CHECK(unlink(gone) == 0, "unlink");
	put(dir, "data/loader.py", "def load(): return 'rigged'\n");
	free(gone);
}

static void link_eval_elsewhere(const char *dir)
{
	char *path = path_join(dir, "eval.py");

	put(dir, "rigged.py", "score = 100\n");
	unlink(path);
	T_CHECK(symlink("rigged.py", path) == 0, "symlink");
	free(path);
}

/*
 * Each way of changing the protected files, and what is said of it before
 * a run and after one (what a run adds is its own; what it removes is not).
 */
static void each_change_is_named(void)
{
	static const struct {
		void (*change)(const char *dir);
		int before, after;
		const char *said, *also, *not_after;
	} cases[] = {
		{rewrite_eval, 1, 1, "eval.py differs from the baseline's", NULL, NULL},
		{swap_the_loader, 2, 1, "data/load.py is missing", "data/loader.py is new",
		 "loader.py"},
		{link_eval_elsewhere, 1, 1, "eval.py differs from the baseline's", NULL, NULL},
	};
	for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
		cJSON *globs, *files;
		char *dir = baseline(&globs, &files), *why = NULL;
		cases[i].change(dir);
		T_CHECK(check(dir, globs, files, true, &why) == cases[i].before, "case %zu: %s", i,
			why);
		T_CONTAINS(why, cases[i].said);
		T_CONTAINS(why, cases[i].also ? cases[i].also : cases[i].said);
		T_CHECK(cases[i].before > 1 || !strchr(why ? why : ";", ';'),
			"case %zu: more named than changed: %s", i, why);
		free(why);
		T_CHECK(check(dir, globs, files, false, &why) == cases[i].after,
			"case %zu after a run: %s", i, why);
		T_CONTAINS(why, cases[i].said);
		T_CHECK(!cases[i].not_after || !strstr(why, cases[i].not_after),
			"case %zu: a file the run added named: %s", i, why);
		free(why);
		baseline_free(dir, globs, files);
	}
}

static void many_files_are_counted_past_a_few(void)
{
	cJSON *globs, *files;
	char *dir = baseline(&globs, &files), *why = NULL;

	for (int i = 0; i < 12; i++) {
		char rel[32];
		snprintf(rel, sizeof rel, "data/new%02d.py", i);
		put(dir, rel, "x = 1\n");
	}
	T_CHECK(check(dir, globs, files, true, &why) == 12, "not 12 refusals");
	T_CONTAINS(why, "; and 4 more");
	T_CHECK(strlen(why) < 600, "%zu bytes of reasons", strlen(why));
	free(why);
	baseline_free(dir, globs, files);
}

static bool globbed(const char *path, void *globs)
{
	return config_globbed(globs, path);
}

static void the_commits_blobs_are_gits(void)
{
	char *dir = t_tmpdir(), *cmd, *repo = path_join(dir, "src");
	cJSON *globs = cJSON_Parse(globs_text);
	struct vcs_blob *b = NULL;
	size_t n = 0;
	struct err e = {{0}};

	put(repo, "eval.py", "score = 1\n");
	put(repo, "data/load.py", "def load(): pass\n");
	put(repo, "train.py", "print('val_loss=1')\n");
	cmd = xasprintf("cd '%s' && git init -q && git add . && git -c user.name=t -c "
			"user.email=t@t commit -qm x",
			repo);
	T_CHECK(system(cmd) == 0, "git");
	free(cmd);
	T_CHECK(vcs_list_blobs(repo, "HEAD", globbed, globs, &b, &n, &e) == 0, "%s", e.msg);
	T_CHECK(n == 2, "%zu blobs", n);
	for (size_t i = 0; i < n; i++) {
		char want[VCS_OID_HEX] = "";
		cmd = xasprintf("git -C '%s' rev-parse HEAD:%s", repo, b[i].path);
		FILE *p = popen(cmd, "r");
		T_CHECK(p && fgets(want, sizeof want, p), "rev-parse");
		if (p)
			pclose(p);
		T_STREQ(b[i].oid, want);
		free(cmd);
	}
	T_CHECK(n == 2 && !strcmp(b[0].path, "data/load.py") && !strcmp(b[1].path, "eval.py"),
		"paths");
	vcs_blobs_free(b, n);
	cJSON_Delete(globs);
	fs_remove_tree(dir);
	free(repo);
	free(dir);
}

int main(void)
{
	vcs_init();
	T_RUN(blob_id_is_gits);
	T_RUN(the_baselines_files_pass);
	T_RUN(each_change_is_named);
	T_RUN(many_files_are_counted_past_a_few);
	T_RUN(the_commits_blobs_are_gits);
	vcs_shutdown();
	T_END();
}
