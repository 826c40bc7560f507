/*
 * apply.c — vcs_commit_change (see vcs.h): a node's change becomes a commit
 * without any work tree. The new tree is built from the parent's tree in
 * the object database (blobs upserted, edits made to the blobs' text, or a
 * patch applied to an in-memory index), committed, and only then is the
 * branch created, so a crash at any earlier point leaves nothing a reader
 * can see but loose objects.
 *
 * Every path a change writes is checked against the parent's tree: no
 * component may be a symlink (or a file or submodule), and an existing
 * symlink is never written over — the work tree checked out later must not
 * let a change reach outside the source tree.
 *
 * A change that does not apply says why in one line (e), and, for a model
 * to fix it (vcs_change_tree's detail), the file's lines around the spot:
 * an edit's search text that is not there, or not there once, and the
 * hunks of a patch that do not apply.
 */
#include "hypotop/vcs.h"

#include <git2.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "hypotop/change.h"
#include "hypotop/edit.h"
#include "hypotop/json.h"
#include "hypotop/params.h"
#include "hypotop/vcs_int.h"

#define KIND_REJECTED "patch_rejected"
#define KIND_CONFLICT "patch_conflict"
#define KIND_PARAMS "params_invalid"

/* The repository, the parent commit and its tree, for one call. */
struct job {
	git_repository *repo;
	git_commit *parent;
	git_tree *tree;
	const char *branch; /* names the node in messages */
	const char **kind;
	struct buf *detail; /* a refusal's context for a model (the lines around it), or NULL */
	struct err *e;
};

/* Refuse with a kind: the change is at fault, not the repository. */
static int refuse(struct job *j, const char *kind)
{
	*j->kind = kind;
	return -1;
}

/* Textual checks beyond change_path_ok(): no ".", no trailing "/", and no
 * ".git" in any letter case (a case-insensitive file system would obey it). */
static bool path_text_ok(const char *path)
{
	if (!change_path_ok(path) || path[strlen(path) - 1] == '/')
		return false;
	for (const char *p = path; *p;) {
		size_t n = strcspn(p, "/");
		if ((n == 1 && p[0] == '.') || (n == 4 && !strncasecmp(p, ".git", 4)))
			return false;
		p += n;
		if (*p == '/')
			p++;
	}
	return true;
}

/*
 * Check path (named `what` in messages) against the parent's tree: every
 * leading component must be a folder or absent, and the path itself absent
 * or a plain file (a symlink only when link_ok). 0 when fine; -1 with *kind
 * set when refused, or with e alone on a libgit2 failure.
 */
static int path_guard(struct job *j, const char *what, const char *path, bool link_ok)
{
	char sub[4096];
	size_t len = strlen(path);

	if (!path_text_ok(path) || len >= sizeof sub) {
		err_set(j->e, "%s: \"%s\" is outside the source tree or in .git; only relative "
			      "paths inside the tree are allowed",
			what, path);
		return refuse(j, KIND_REJECTED);
	}
	for (size_t at = 0; at <= len; at++) {
		if (at < len && path[at] != '/')
			continue;
		git_tree_entry *ent = NULL;
		memcpy(sub, path, at);
		sub[at] = '\0';
		int rc = git_tree_entry_bypath(&ent, j->tree, sub);
		if (rc == GIT_ENOTFOUND)
			return 0;
		if (rc < 0) {
			err_set(j->e, "git: %s: \"%s\": %s", what, sub, vcs_git_msg());
			return -1;
		}
		git_filemode_t mode = git_tree_entry_filemode(ent);
		git_tree_entry_free(ent);
		bool last = at == len;
		if (mode == GIT_FILEMODE_LINK && !(last && link_ok)) {
			if (last)
				err_set(j->e, "%s: \"%s\" is a symlink in the parent commit; "
					      "writing over a symlink is refused",
					what, path);
			else
				err_set(j->e, "%s: \"%s\" goes through \"%s\", a symlink in the "
					      "parent commit; paths through symlinks are refused",
					what, path, sub);
			return refuse(j, KIND_REJECTED);
		}
		if (mode == GIT_FILEMODE_COMMIT) {
			err_set(j->e, "%s: \"%s\" is inside the submodule \"%s\"; submodules are "
				      "not changed",
				what, path, sub);
			return refuse(j, KIND_REJECTED);
		}
		if (!last && mode != GIT_FILEMODE_TREE) {
			err_set(j->e, "%s: \"%s\" goes through \"%s\", which is a file, not a "
				      "folder",
				what, path, sub);
			return refuse(j, KIND_REJECTED);
		}
		if (last && mode == GIT_FILEMODE_TREE) {
			err_set(j->e, "%s: \"%s\" is a folder in the parent commit, not a file",
				what, path);
			return refuse(j, KIND_REJECTED);
		}
	}
	return 0;
}

/* The mode a replaced file keeps (executable stays executable). */
static git_filemode_t mode_at(git_tree *tree, const char *path)
{
	git_tree_entry *ent = NULL;
	git_filemode_t mode = GIT_FILEMODE_BLOB;

	if (git_tree_entry_bypath(&ent, tree, path) == 0) {
		if (git_tree_entry_filemode(ent) == GIT_FILEMODE_BLOB_EXECUTABLE)
			mode = GIT_FILEMODE_BLOB_EXECUTABLE;
		git_tree_entry_free(ent);
	}
	return mode;
}

/*
 * The bytes of path in the parent's tree: 0 with *text (NUL-terminated,
 * caller frees) and *len; 1 when there is no such file; -1 with e set.
 */
static int tree_read(struct job *j, const char *path, char **text, size_t *len, struct err *e)
{
	git_tree_entry *ent = NULL;
	git_blob *blob = NULL;

	int r = git_tree_entry_bypath(&ent, j->tree, path);
	if (r == GIT_ENOTFOUND)
		return 1;
	if (r < 0 || git_blob_lookup(&blob, j->repo, git_tree_entry_id(ent)) < 0) {
		err_set(e, "git: %s: %s", path, vcs_git_msg());
		git_tree_entry_free(ent);
		return -1;
	}
	*len = (size_t)git_blob_rawsize(blob);
	*text = xstrndup(*len ? git_blob_rawcontent(blob) : "", *len);
	git_blob_free(blob);
	git_tree_entry_free(ent);
	return 0;
}

/* Whether a is b or a folder holding b ("x" and "x/y"). */
static bool path_covers(const char *a, const char *b)
{
	size_t n = strlen(a);

	return !strncmp(a, b, n) && (b[n] == '\0' || b[n] == '/');
}

static int upsert(struct job *j, git_tree_update *u, const char *path, const char *data,
		  size_t len)
{
	if (git_blob_create_from_buffer(&u->id, j->repo, data, len) < 0) {
		err_set(j->e, "git: write %s: %s", path, vcs_git_msg());
		return -1;
	}
	u->action = GIT_TREE_UPDATE_UPSERT;
	u->filemode = mode_at(j->tree, path);
	u->path = path;
	return 0;
}

/* The parent's tree with n updates made: its id in out. */
static int tree_updated(struct job *j, size_t n, const git_tree_update *ups, git_oid *out)
{
	if (git_tree_create_updated(out, j->repo, j->tree, n, ups) < 0) {
		err_set(j->e, "git: change: build tree: %s", vcs_git_msg());
		return -1;
	}
	return 0;
}

static int apply_files(struct job *j, const cJSON *files, git_oid *out)
{
	int n = cJSON_GetArraySize(files), i = 0, rc = -1;
	git_tree_update *ups = xcalloc((size_t)n, sizeof *ups);

	for (const cJSON *f = files->child; f; f = f->next, i++) {
		const char *path = cJSON_GetObjectItemCaseSensitive(f, "path")->valuestring;
		const char *text = cJSON_GetObjectItemCaseSensitive(f, "content")->valuestring;
		char what[320];
		snprintf(what, sizeof what, "%s: change: files[%d]", j->branch, i);
		if (path_guard(j, what, path, false) < 0)
			goto out;
		for (int k = 0; k < i; k++)
			if (path_covers(ups[k].path, path) || path_covers(path, ups[k].path)) {
				err_set(j->e, "%s: \"%s\" clashes with files[%d] \"%s\"; give each "
					      "file once",
					what, path, k, ups[k].path);
				refuse(j, KIND_REJECTED);
				goto out;
			}
		if (upsert(j, &ups[i], path, text, strlen(text)) < 0)
			goto out;
	}
	if (tree_updated(j, (size_t)n, ups, out) < 0)
		goto out;
	rc = 0;
out:
	free(ups);
	return rc;
}

static int apply_params(struct job *j, const cJSON *values, const char *params_file,
			git_oid *out)
{
	cJSON *cur = NULL;
	char *text = NULL, *next = NULL;
	size_t len;
	git_tree_update up;
	int rc = -1;

	/* Every param is a flag of the launch command (the caller took them out). */
	if (cJSON_IsObject(values) && !values->child) {
		git_oid_cpy(out, git_tree_id(j->tree));
		return 0;
	}
	if (!params_file || !*params_file) {
		err_set(j->e, "%s: change: a params change needs a param file; name it in "
			      "search_space.file, or pass the params as {NAME} in launch",
			j->branch);
		return refuse(j, KIND_PARAMS);
	}
	char what[320];
	snprintf(what, sizeof what, "%s: change: param file", j->branch);
	if (path_guard(j, what, params_file, false) < 0)
		return -1;
	int r = tree_read(j, params_file, &text, &len, j->e);
	if (r == 1) {
		err_set(j->e, "%s: \"%s\" is not in the parent commit; commit it to the source "
			      "tree or fix search_space.file",
			what, params_file);
		return refuse(j, KIND_PARAMS);
	}
	if (r < 0) {
		err_prefix(j->e, "param file");
		return -1;
	}
	if (params_read(params_file, text, &cur, j->e) < 0 ||
	    params_write(params_file, text, values, &next, j->e) < 0) {
		err_prefix(j->e, "%s", what);
		refuse(j, KIND_PARAMS);
		goto out;
	}
	if (upsert(j, &up, params_file, next, strlen(next)) < 0)
		goto out;
	if (tree_updated(j, 1, &up, out) < 0)
		goto out;
	rc = 0;
out:
	cJSON_Delete(cur);
	free(next);
	free(text);
	return rc;
}

/* A file an edit change has read, and its text after the blocks so far. */
struct edited {
	const char *path;
	char *text; /* NULL: not in the parent commit, and not made yet */
	size_t len;
	bool changed; /* by an earlier block */
};

/*
 * One block of an edit change on the files read so far (f, *nf of them,
 * room for one more): found by its path, or read from the parent's tree.
 */
static int edit_block(struct job *j, const cJSON *b, int i, struct edited *f, int *nf)
{
	const char *path = cJSON_GetObjectItemCaseSensitive(b, "path")->valuestring;
	const char *search = cJSON_GetObjectItemCaseSensitive(b, "search")->valuestring;
	const char *replace = cJSON_GetObjectItemCaseSensitive(b, "replace")->valuestring;
	char what[320], label[32];
	int k = 0;

	snprintf(label, sizeof label, "edits[%d]", i);
	snprintf(what, sizeof what, "%s: change: %s", j->branch, label);
	if (path_guard(j, what, path, false) < 0)
		return -1;
	while (k < *nf && strcmp(f[k].path, path))
		k++;
	if (k == *nf) {
		for (int m = 0; m < *nf; m++)
			if (path_covers(f[m].path, path) || path_covers(path, f[m].path)) {
				err_set(j->e, "%s: \"%s\" clashes with \"%s\" of an earlier block; a "
					      "path is a file or a folder, not both",
					what, path, f[m].path);
				return refuse(j, KIND_REJECTED);
			}
		if (tree_read(j, path, &f[k].text, &f[k].len, j->e) < 0)
			return -1;
		f[k].path = path;
		(*nf)++;
	}
	struct edited *x = &f[k];
	if (!*search && x->text) {
		err_set(j->e, "%s: the search text is empty, but \"%s\" exists; give the text to "
			      "replace, or use a files change to replace the whole file",
			what, path);
		return refuse(j, KIND_CONFLICT);
	}
	if (!*search) {
		x->len = strlen(replace);
		x->text = xstrndup(replace, x->len);
		x->changed = true;
		return 0;
	}
	if (!x->text) {
		err_set(j->e, "%s: \"%s\" is not in the parent commit; to create it, give an "
			      "empty search and its content as the replace text",
			what, path);
		return refuse(j, KIND_CONFLICT);
	}
	char *where = x->changed ? xasprintf("%s (as the blocks before it left it)", path)
				 : xstrdup(path);
	char *next;
	size_t len;
	int rc = edit_replace(label, where, x->text, x->len, search, replace, &next, &len,
			      j->detail, j->e);
	free(where);
	if (rc < 0) {
		err_prefix(j->e, "%s: change", j->branch);
		return refuse(j, KIND_CONFLICT);
	}
	free(x->text);
	x->text = next;
	x->len = len;
	x->changed = true;
	return 0;
}

static int apply_edit(struct job *j, const cJSON *edits, git_oid *out)
{
	int n = cJSON_GetArraySize(edits), nf = 0, i = 0, rc = -1;
	struct edited *f = xcalloc((size_t)n, sizeof *f);
	git_tree_update *ups = xcalloc((size_t)n, sizeof *ups);

	for (const cJSON *b = edits->child; b; b = b->next, i++)
		if (edit_block(j, b, i, f, &nf) < 0)
			goto out;
	for (i = 0; i < nf; i++)
		if (upsert(j, &ups[i], f[i].path, f[i].text, f[i].len) < 0)
			goto out;
	if (tree_updated(j, (size_t)nf, ups, out) < 0)
		goto out;
	rc = 0;
out:
	for (i = 0; i < nf; i++)
		free(f[i].text);
	free(f);
	free(ups);
	return rc;
}

/* Which file of a patch (delta), and which of its hunks, to apply alone. */
struct only {
	size_t delta, hunk; /* hunk SIZE_MAX: all of them */
	size_t at_delta, at_hunk;
};

static int only_delta(const git_diff_delta *d, void *payload)
{
	struct only *o = payload;

	(void)d;
	o->at_hunk = 0;
	return o->at_delta++ == o->delta ? 0 : 1;
}

static int only_hunk(const git_diff_hunk *h, void *payload)
{
	struct only *o = payload;

	(void)h;
	return o->hunk == SIZE_MAX || o->at_hunk++ == o->hunk ? 0 : 1;
}

/* Whether hunk (SIZE_MAX: every hunk) of file delta of the patch applies alone. */
static bool applies_alone(struct job *j, git_diff *diff, size_t delta, size_t hunk)
{
	struct only o = {.delta = delta, .hunk = hunk};
	git_apply_options opts = GIT_APPLY_OPTIONS_INIT;
	git_index *idx = NULL;

	opts.delta_cb = only_delta;
	opts.hunk_cb = only_hunk;
	opts.payload = &o;
	int rc = git_apply_to_tree(&idx, j->repo, j->tree, diff, &opts);
	git_index_free(idx);
	return rc == 0;
}

/*
 * The hunks of file delta that fail alone (all of them when none does),
 * each with the lines around it.
 */
static void hunks_detail(struct job *j, git_diff *diff, size_t delta, const char *path,
			 const char *text, size_t len)
{
	git_patch *p = NULL;
	size_t budget = EDIT_DETAIL_LINES, shown = 0;

	if (git_patch_from_diff(&p, diff, delta) < 0)
		return;
	size_t nh = git_patch_num_hunks(p);
	for (int all = 0; all < 2 && !shown; all++)
		for (size_t h = 0; h < nh && budget; h++) {
			const git_diff_hunk *hk;
			size_t nlines;
			if ((!all && nh > 1 && applies_alone(j, diff, delta, h)) ||
			    git_patch_get_hunk(&hk, &nlines, p, h) < 0)
				continue;
			size_t first = hk->old_start > 3 ? (size_t)hk->old_start - 3 : 1;
			size_t last = (size_t)hk->old_start + (size_t)hk->old_lines + 2;
			size_t most = budget < 20 ? budget : 20;
			if (last - first + 1 > most)
				last = first + most - 1;
			if (last > edit_lines(text, len))
				last = edit_lines(text, len);
			buf_printf(j->detail, "Hunk %zu of %s (%.*s) does not apply; lines %zu-%zu of %s "
					      "as it is:\n",
				   h + 1, path, (int)strcspn(hk->header, "\n"), hk->header, first, last,
				   path);
			size_t n = edit_show_lines(j->detail, text, len, first, last);
			budget -= n < budget ? n : budget;
			shown++;
		}
	git_patch_free(p);
}

/*
 * For a model, why the patch does not apply (reason, git's words): the
 * first file that does not apply alone, and its hunks that fail, each with
 * the file's lines around it.
 */
static void patch_detail(struct job *j, git_diff *diff, const char *reason)
{
	size_t n = git_diff_num_deltas(diff);

	buf_printf(j->detail, "The patch does not apply to the parent commit: %s\n", reason);
	for (size_t i = 0; i < n; i++) {
		const git_diff_delta *d = git_diff_get_delta(diff, i);
		struct err e = {{0}};
		char *text = NULL;
		size_t len = 0;
		if (d->status == GIT_DELTA_ADDED || applies_alone(j, diff, i, SIZE_MAX))
			continue;
		int r = tree_read(j, d->old_file.path, &text, &len, &e);
		if (r == 1)
			buf_printf(j->detail, "%s is not in the parent commit: a patch changes the "
					      "files that are there, or makes a new one from /dev/null.\n",
				   d->old_file.path);
		else if (r == 0)
			hunks_detail(j, diff, i, d->old_file.path, text, len);
		free(text);
		break;
	}
	buf_adds(j->detail, "Copy a hunk's context and removed lines exactly from the file as it "
			    "is; or give an edit change, which needs no line numbers.\n");
}

static int apply_patch(struct job *j, const char *patch, git_oid *out)
{
	git_diff *diff = NULL;
	git_index *idx = NULL;
	int rc = -1;

	if (git_diff_from_buffer(&diff, patch, strlen(patch)) < 0) {
		err_set(j->e, "%s: change: patch does not parse: %s", j->branch, vcs_git_msg());
		return refuse(j, KIND_REJECTED);
	}
	size_t n = git_diff_num_deltas(diff);
	for (size_t i = 0; i < n; i++) {
		const git_diff_delta *d = git_diff_get_delta(diff, i);
		char what[320];
		snprintf(what, sizeof what, "%s: change: patch file %zu", j->branch, i + 1);
		if (d->new_file.mode == GIT_FILEMODE_LINK) {
			err_set(j->e, "%s: \"%s\" would become a symlink; patches may not make "
				      "symlinks",
				what, d->new_file.path);
			refuse(j, KIND_REJECTED);
			goto out;
		}
		/* Deleting a symlink is harmless; editing or replacing one is not. */
		bool gone = d->status == GIT_DELTA_DELETED;
		if ((d->old_file.path && path_guard(j, what, d->old_file.path, gone) < 0) ||
		    (d->new_file.path && path_guard(j, what, d->new_file.path, gone) < 0))
			goto out;
	}
	/* git apply refuses to create a file that exists; libgit2 would replace it. */
	for (size_t i = 0; i < n; i++) {
		const git_diff_delta *d = git_diff_get_delta(diff, i);
		git_tree_entry *ent = NULL;
		if (d->status != GIT_DELTA_ADDED ||
		    git_tree_entry_bypath(&ent, j->tree, d->new_file.path) < 0)
			continue;
		git_tree_entry_free(ent);
		err_set(j->e, "%s: change: patch does not apply to the parent commit: it "
			      "creates \"%s\", which exists already",
			j->branch, d->new_file.path);
		refuse(j, KIND_CONFLICT);
		goto out;
	}
	if (git_apply_to_tree(&idx, j->repo, j->tree, diff, NULL) < 0) {
		char *why = xstrdup(vcs_git_msg());
		err_set(j->e, "%s: change: patch does not apply to the parent commit: %s",
			j->branch, why);
		if (j->detail)
			patch_detail(j, diff, why);
		free(why);
		refuse(j, KIND_CONFLICT);
		goto out;
	}
	if (git_index_write_tree_to(out, idx, j->repo) < 0) {
		err_set(j->e, "git: change: write tree: %s", vcs_git_msg());
		goto out;
	}
	rc = 0;
out:
	git_index_free(idx);
	git_diff_free(diff);
	return rc;
}

/* Build the new tree from the change, without committing it. */
static int make_tree(struct job *j, const char *change, const char *params_file, git_oid *tree_id)
{
	char *what = xasprintf("%s: change", j->branch);
	cJSON *ch = json_parse(change, strlen(change), what, j->e);
	int rc = -1;

	free(what);
	if (!ch)
		return refuse(j, KIND_REJECTED);
	/* Params that are all flags of the launch command: the parent's tree again. */
	const cJSON *pp = cJSON_GetObjectItemCaseSensitive(ch, "params");
	const cJSON *pk = cJSON_GetObjectItemCaseSensitive(ch, "kind");
	bool flags_only = cJSON_IsObject(pp) && !pp->child && cJSON_GetArraySize(ch) == 2 &&
			  cJSON_IsString(pk) && !strcmp(pk->valuestring, "params");
	if (!flags_only && change_validate(ch, j->branch, j->e) < 0) {
		refuse(j, KIND_REJECTED);
		goto out;
	}
	const char *kind = cJSON_GetObjectItemCaseSensitive(ch, "kind")->valuestring;
	if (!strcmp(kind, "files"))
		rc = apply_files(j, cJSON_GetObjectItemCaseSensitive(ch, "files"), tree_id);
	else if (!strcmp(kind, "edit"))
		rc = apply_edit(j, cJSON_GetObjectItemCaseSensitive(ch, "edits"), tree_id);
	else if (!strcmp(kind, "params"))
		rc = apply_params(j, cJSON_GetObjectItemCaseSensitive(ch, "params"), params_file,
				  tree_id);
	else
		rc = apply_patch(j, cJSON_GetObjectItemCaseSensitive(ch, "patch")->valuestring,
				 tree_id);
out:
	cJSON_Delete(ch);
	return rc;
}

/* Build the new tree from the change, then commit it on top of the parent. */
static int make_commit(struct job *j, const char *change, const char *params_file,
		       const char *message, git_oid *commit)
{
	git_tree *tree = NULL;
	git_signature *sig = NULL;
	git_oid tree_id;
	int rc = -1;

	if (make_tree(j, change, params_file, &tree_id) < 0)
		return -1;
	if (git_tree_lookup(&tree, j->repo, &tree_id) < 0 ||
	    git_signature_now(&sig, "hypotop", "hypotop@localhost") < 0) {
		err_set(j->e, "git: commit: %s", vcs_git_msg());
		goto out;
	}
	const git_commit *parents[] = {j->parent};
	if (git_commit_create(commit, j->repo, NULL, sig, sig, NULL, message, tree, 1,
			      parents) < 0) {
		err_set(j->e, "git: commit: %s", vcs_git_msg());
		goto out;
	}
	rc = 0;
out:
	git_signature_free(sig);
	git_tree_free(tree);
	return rc;
}

/* The parent commit and its tree, by any name git takes. */
static int open_parent(struct job *j, const char *parent, git_object **obj)
{
	git_object *peeled = NULL;

	if (!parent || git_revparse_single(obj, j->repo, parent) < 0 ||
	    git_object_peel(&peeled, *obj, GIT_OBJECT_COMMIT) < 0) {
		err_set(j->e, "git: commit %s: %s", parent ? parent : "(none)", vcs_git_msg());
		return -1;
	}
	j->parent = (git_commit *)peeled;
	if (git_commit_tree(&j->tree, j->parent) < 0) {
		err_set(j->e, "git: commit %s: %s", parent, vcs_git_msg());
		return -1;
	}
	return 0;
}

int vcs_change_tree(const char *repo_dir, const char *parent, const char *change,
		    const char *params_file, char tree[VCS_OID_HEX], const char **kind,
		    struct buf *detail, struct err *e)
{
	struct job j = {.branch = "change", .kind = kind, .detail = detail, .e = e};
	git_object *obj = NULL;
	git_oid id;
	int rc = -1;

	*kind = NULL;
	if (vcs_repo(&j.repo, repo_dir, e) < 0 || open_parent(&j, parent, &obj) < 0)
		goto out;
	if (!change)
		git_oid_cpy(&id, git_tree_id(j.tree));
	else if (make_tree(&j, change, params_file, &id) < 0) {
		/* The messages name no node: "change: " for one is said once by the caller. */
		size_t cut = 0;
		while (!strncmp(e->msg + cut, "change: ", 8))
			cut += 8;
		memmove(e->msg, e->msg + cut, strlen(e->msg + cut) + 1);
		/* Refused with no lines to show (a path): the reason is what there is to fix. */
		if (*kind && detail && !detail->len)
			buf_printf(detail, "%s\n", e->msg);
		goto out;
	}
	git_oid_tostr(tree, VCS_OID_HEX, &id);
	rc = 0;
out:
	git_tree_free(j.tree);
	git_commit_free(j.parent);
	git_object_free(obj);
	return rc;
}

int vcs_commit_change(const char *repo_dir, const char *parent, const char *change,
		      const char *params_file, const char *branch, const char *message,
		      char oid[VCS_OID_HEX], const char **kind, struct err *e)
{
	struct job j = {.branch = branch, .kind = kind, .e = e};
	git_object *obj = NULL;
	git_oid id;
	int rc = -1, valid = 0;

	*kind = NULL;
	char *refname = xasprintf("refs/heads/%s", branch ? branch : "");
	if (!branch || git_reference_name_is_valid(&valid, refname) < 0 || !valid) {
		err_set(e, "git: branch \"%s\" is not a valid branch name", branch ? branch : "");
		goto out;
	}
	if (vcs_repo(&j.repo, repo_dir, e) < 0)
		goto out;
	/* Made already, by a run that died before recording it: keep it. */
	int r = git_reference_name_to_id(&id, j.repo, refname);
	if (r == 0)
		goto done;
	if (r != GIT_ENOTFOUND) {
		err_set(e, "git: branch %s: %s", branch, vcs_git_msg());
		goto out;
	}
	if (open_parent(&j, parent, &obj) < 0)
		goto out;
	if (!change)
		git_oid_cpy(&id, git_commit_id(j.parent));
	else if (make_commit(&j, change, params_file, message ? message : branch, &id) < 0)
		goto out;
	/* Last, so that nothing is visible unless everything was made. */
	if (vcs_ref_write(j.repo, refname, &id, e) < 0)
		goto out;
done:
	git_oid_tostr(oid, VCS_OID_HEX, &id);
	rc = 0;
out:
	git_tree_free(j.tree);
	git_commit_free(j.parent);
	git_object_free(obj);
	free(refname);
	return rc;
}
