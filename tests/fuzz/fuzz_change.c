/*
 * fuzz_change.c — the change an experiment makes (params, edit, patch or files),
 * checked and committed onto a small repository as a node's change is:
 * change_validate(), then vcs_commit_change() with its path guards, the
 * param file rewrite and the patch parser. An input that is not a JSON
 * object is taken as the text of a patch: {"kind": "patch", "patch": TEXT}.
 *
 * The repository is made once per process; what a change writes goes into
 * an in-memory object store that is emptied after each input, and the
 * branch made is deleted again.
 */
#include "fuzz.h"

#include <git2.h>
#include <git2/sys/mempack.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hypotop/change.h"
#include "hypotop/fsutil.h"
#include "hypotop/json.h"
#include "hypotop/vcs.h"
#include "hypotop/vcs_int.h"

#define BRANCH "hypotop/n0001"

static char *repo_dir;
static git_repository *repo;
static git_odb_backend *mem;

static void repo_make(void)
{
	static const char *const files[][2] = {
		{"train.py", "import json\nprint('val_loss=1.0')\n"},
		{"hparams.json", "{\n  \"lr\": 0.001,\n  \"layers\": 4,\n  \"act\": \"relu\"\n}\n"},
		{"conf/hparams.yaml", "lr: 0.001\nlayers: 4\n"},
		{"src/model.py", "def model():\n    return 1\n"},
		{"run.sh", "#!/bin/sh\nexec python3 train.py\n"},
	};
	struct err e = {{0}};
	char oid[VCS_OID_HEX];
	git_odb *odb;

	repo_dir = fuzz_path("repo");
	for (size_t i = 0; i < ARRAY_LEN(files); i++) {
		char *path = path_join(repo_dir, files[i][0]);
		char *slash = strrchr(path, '/');
		*slash = '\0';
		if (fs_mkdir_p(path, 0755, &e) < 0)
			fuzz_fail("%s", e.msg);
		*slash = '/';
		if (fs_write_atomic(path, files[i][1], strlen(files[i][1]), 0644, &e) < 0)
			fuzz_fail("%s", e.msg);
		free(path);
	}
	char *path = path_join(repo_dir, "run.sh");
	chmod(path, 0755);
	free(path);
	path = path_join(repo_dir, "link");
	if (symlink("src", path) < 0)
		fuzz_fail("symlink %s", path);
	free(path);
	vcs_init();
	if (vcs_create_repo(repo_dir, "start", oid, &e) < 0 || vcs_repo(&repo, repo_dir, &e) < 0)
		fuzz_fail("%s", e.msg);
	if (git_repository_odb(&odb, repo) < 0 || git_mempack_new(&mem) < 0 ||
	    git_odb_add_backend(odb, mem, 999) < 0)
		fuzz_fail("mempack: %s", vcs_git_msg());
	git_odb_free(odb);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct err e = {{0}};
	char oid[VCS_OID_HEX];
	const char *kind = NULL;
	char *text = fuzz_cstr(data, size);

	if (!repo)
		repo_make();
	if (memchr(data, '\0', size))
		goto out; /* a change is text */
	if (!size || data[0] != '{') {
		cJSON *ch = cJSON_CreateObject();
		cJSON_AddStringToObject(ch, "kind", "patch");
		cJSON_AddStringToObject(ch, "patch", text);
		char *t = cJSON_PrintUnformatted(ch);
		free(text);
		text = xstrdup(t);
		cJSON_free(t);
		cJSON_Delete(ch);
	}
	cJSON *ch = json_parse(text, strlen(text), "change", &e);
	int valid = ch ? change_validate(ch, "change", &e) : -1;
	if (valid < 0)
		fuzz_need_msg(&e, "change");
	cJSON_Delete(ch);
	e.msg[0] = '\0';
	if (vcs_commit_change(repo_dir, "HEAD", text, "hparams.json", BRANCH, "fuzz", oid, &kind,
			      &e) < 0) {
		fuzz_need_msg(&e, "change");
	} else {
		if (valid < 0)
			fuzz_fail("a change that fails change_validate was committed");
		if (git_reference_remove(repo, "refs/heads/" BRANCH) < 0)
			fuzz_fail("branch delete: %s", vcs_git_msg());
	}
	git_mempack_reset(mem);
out:
	free(text);
	return 0;
}
