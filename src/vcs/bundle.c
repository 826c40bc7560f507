/*
 * bundle.c — what a worker lacks of a commit, as a git bundle (v2) that
 * `git fetch` reads: the commits of its history the worker does not
 * have, with their trees and blobs but those of the commits it has, so
 * that a one-line change costs kilobytes, not the repository.
 */
#include <errno.h>
#include <git2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hypotop/vcs.h"
#include "hypotop/vcs_int.h"

/* A walk from commit that hides each of known there is locally (the others are the worker's own). */
static int walk_new(git_repository *repo, const git_oid *commit, char *const known[],
		    size_t nknown, git_revwalk **walk, struct err *e)
{
	if (git_revwalk_new(walk, repo) < 0 || git_revwalk_push(*walk, commit) < 0) {
		err_set(e, "git: cannot walk the history of %s: %s", git_oid_tostr_s(commit),
			vcs_git_msg());
		return -1;
	}
	for (size_t i = 0; i < nknown; i++) {
		git_oid id;
		git_commit *c;
		if (git_oid_fromstr(&id, known[i]) < 0 || git_commit_lookup(&c, repo, &id) < 0)
			continue;
		git_commit_free(c);
		if (git_revwalk_hide(*walk, &id) < 0) {
			err_set(e, "git: cannot leave out %s: %s", known[i], vcs_git_msg());
			return -1;
		}
	}
	return 0;
}

/*
 * The bundle's prerequisites: the parents of the commits it carries that
 * it does not carry, which the worker must have. Written as git writes
 * them, "-<id>" a line.
 */
static int prerequisites(git_repository *repo, git_revwalk *walk, struct buf *head,
			 struct err *e)
{
	git_oid *sent = NULL, id;
	size_t n = 0, cap = 0;
	int rc = 0, w;

	while ((w = git_revwalk_next(&id, walk)) == 0) {
		if (n == cap) {
			cap = cap ? 2 * cap : 64;
			sent = xrealloc(sent, cap * sizeof *sent);
		}
		sent[n++] = id;
	}
	if (w != GIT_ITEROVER) {
		err_set(e, "git: walking the history: %s", vcs_git_msg());
		free(sent);
		return -1;
	}
	for (size_t i = 0; i < n && rc == 0; i++) {
		git_commit *c;
		if (git_commit_lookup(&c, repo, &sent[i]) < 0) {
			err_set(e, "git: commit %s: %s", git_oid_tostr_s(&sent[i]), vcs_git_msg());
			rc = -1;
			break;
		}
		for (unsigned p = 0; p < git_commit_parentcount(c); p++) {
			const git_oid *pid = git_commit_parent_id(c, p);
			bool carried = false;
			for (size_t k = 0; k < n && !carried; k++)
				carried = git_oid_equal(&sent[k], pid);
			char hex[VCS_OID_HEX];
			git_oid_tostr(hex, sizeof hex, pid);
			char line[VCS_OID_HEX + 3];
			snprintf(line, sizeof line, "-%s\n", hex);
			if (!carried && !(head->len && strstr(head->data, line)))
				buf_adds(head, line);
		}
		git_commit_free(c);
	}
	free(sent);
	return rc;
}

int vcs_bundle(const char *repo_dir, const char *commit, const char *refname,
	       char *const known[], size_t nknown, const char *path, size_t *size,
	       struct err *e)
{
	git_repository *repo;
	git_object *obj = NULL;
	git_revwalk *walk = NULL;
	git_packbuilder *pb = NULL;
	git_buf pack = {0};
	struct buf head;
	int rc = -1;

	buf_init(&head);
	*size = 0;
	if (vcs_repo(&repo, repo_dir, e) < 0)
		goto out;
	if (git_revparse_single(&obj, repo, commit) < 0 ||
	    git_object_type(obj) != GIT_OBJECT_COMMIT) {
		err_set(e, "git: commit %s: %s", commit, obj ? "not a commit" : vcs_git_msg());
		goto out;
	}
	const git_oid *id = git_object_id(obj);
	buf_adds(&head, "# v2 git bundle\n");
	if (walk_new(repo, id, known, nknown, &walk, e) < 0 ||
	    prerequisites(repo, walk, &head, e) < 0)
		goto out;
	git_revwalk_free(walk);
	walk = NULL;
	buf_printf(&head, "%s %s\n\n", git_oid_tostr_s(id), refname);
	if (walk_new(repo, id, known, nknown, &walk, e) < 0)
		goto out;
	if (git_packbuilder_new(&pb, repo) < 0 || git_packbuilder_insert_walk(pb, walk) < 0 ||
	    git_packbuilder_write_buf(&pack, pb) < 0) {
		err_set(e, "git: packing %s: %s", commit, vcs_git_msg());
		goto out;
	}
	FILE *f = fopen(path, "wb");
	if (!f) {
		err_set(e, "%s: %s", path, strerror(errno));
		goto out;
	}
	bool ok = fwrite(head.data, 1, head.len, f) == head.len &&
		  fwrite(pack.ptr, 1, pack.size, f) == pack.size;
	if (fclose(f) != 0 || !ok) {
		err_set(e, "%s: cannot write the bundle: %s", path, strerror(errno));
		remove(path);
		goto out;
	}
	*size = head.len + pack.size;
	rc = 0;
out:
	git_buf_dispose(&pack);
	git_packbuilder_free(pb);
	git_revwalk_free(walk);
	git_object_free(obj);
	buf_free(&head);
	return rc;
}
