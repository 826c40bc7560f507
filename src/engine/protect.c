/*
 * protect.c — the files no change may touch (protect.h, lifecycle.h).
 *
 * What the globs of protect match at the baseline's commit is recorded
 * once, with each file's git blob id, in engine/protect.json; again when
 * protect changes, from the same commit. Before a job is launched, and
 * once it has ended, its work tree is held against that record: what the
 * job runs and what it ran must have the baseline's evaluation, whatever
 * the change, a hand in the work tree or the job itself did to it.
 */
#include "hypotop/protect.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hypotop/fsutil.h"
#include "hypotop/json.h"
#include "hypotop/lifecycle.h"
#include "hypotop/vcs.h"

#define PROTECT_FILE "engine/protect.json"
/* Past this many, the files a message names are counted, not named. */
#define NAMED_MAX 8

/* ---- the check of a work tree ------------------------------------------ */

struct check {
	const cJSON *globs, *files;
	const char *dir;
	struct buf why;
	int problems;
};

static void problem(struct check *c, const char *path, const char *what)
{
	if (c->problems < NAMED_MAX)
		buf_printf(&c->why, "%s%s %s", c->problems ? "; " : "", path, what);
	c->problems++;
}

/* The blob id of the file at path as it is on disk; 1 when there is none. */
static int disk_blob(const char *path, char oid[VCS_OID_HEX], struct err *e)
{
	struct stat st;

	if (lstat(path, &st) < 0) {
		if (errno == ENOENT || errno == ENOTDIR)
			return 1;
		err_set(e, "%s", strerror(errno));
		return -1;
	}
	if (S_ISLNK(st.st_mode)) {
		/* git's blob of a symlink is its target. */
		char target[PATH_MAX];
		ssize_t n = readlink(path, target, sizeof target);
		if (n < 0) {
			err_set(e, "%s", strerror(errno));
			return -1;
		}
		return vcs_blob_id(target, (size_t)n, oid, e);
	}
	size_t len;
	char *text = fs_read(path, &len, e);
	if (!text)
		return -1;
	int rc = vcs_blob_id(text, len, oid, e);
	free(text);
	return rc;
}

/* Each recorded file, as the work tree has it. */
static int check_recorded(struct check *c, struct err *e)
{
	const cJSON *f;

	cJSON_ArrayForEach(f, c->files)
	{
		char oid[VCS_OID_HEX], *path = path_join(c->dir, f->string);
		struct err fe = {{0}};
		int rc = disk_blob(path, oid, &fe);
		free(path);
		if (rc < 0 && err_out_of_fds(&fe)) {
			err_set(e, "%s: %s", f->string, fe.msg);
			return -1;
		}
		if (rc < 0) {
			char *what = xasprintf("cannot be read (%s)", fe.msg);
			problem(c, f->string, what);
			free(what);
		} else if (rc > 0) {
			problem(c, f->string, "is missing");
		} else if (!cJSON_IsString(f) || strcmp(oid, f->valuestring)) {
			problem(c, f->string, "differs from the baseline's");
		}
	}
	return 0;
}

/*
 * Whether a file inside folder rel (depth parts) could match a glob: one
 * with more parts whose first ones match rel. Only those folders are read.
 */
static bool may_hold(const cJSON *globs, const char *rel, int depth)
{
	cJSON *prefixes = cJSON_CreateArray();
	const cJSON *g;

	cJSON_ArrayForEach(g, globs)
	{
		const char *s = cJSON_GetStringValue(g), *p = s;
		for (int k = 0; p && k < depth; k++)
			p = strchr(p, '/') ? strchr(p, '/') + 1 : NULL;
		if (!s || !p)
			continue;
		char *pre = xstrndup(s, (size_t)(p - s - 1));
		cJSON_AddItemToArray(prefixes, cJSON_CreateString(pre));
		free(pre);
	}
	bool may = config_globbed(prefixes, rel);
	cJSON_Delete(prefixes);
	return may;
}

/* The files under rel (depth parts; "" the top) that the globs match but the record lacks. */
static int check_new(struct check *c, const char *rel, int depth, struct err *e)
{
	char *path = *rel ? path_join(c->dir, rel) : xstrdup(c->dir);
	DIR *d = opendir(path);
	struct dirent *de;
	int rc = 0;

	if (!d) {
		/* A folder that is gone is no file: the recorded ones say so. */
		if (errno != ENOENT && errno != ENOTDIR) {
			err_set(e, "%s: %s", path, strerror(errno));
			rc = -1;
		}
		free(path);
		return rc;
	}
	free(path);
	while (rc == 0 && (de = readdir(d))) {
		struct stat st;
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..") ||
		    (!depth && !strcmp(de->d_name, ".git")) ||
		    fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			continue;
		char *sub = *rel ? xasprintf("%s/%s", rel, de->d_name) : xstrdup(de->d_name);
		if (S_ISDIR(st.st_mode)) {
			if (may_hold(c->globs, sub, depth + 1))
				rc = check_new(c, sub, depth + 1, e);
		} else if (config_globbed(c->globs, sub) &&
			   !cJSON_GetObjectItemCaseSensitive(c->files, sub)) {
			problem(c, sub, "is new (the baseline has no such file)");
		}
		free(sub);
	}
	closedir(d);
	return rc;
}

int protect_check(const cJSON *globs, const cJSON *files, const char *dir, bool added,
		  char **why, struct err *e)
{
	struct check c = {globs, files, dir, {0}, 0};

	*why = NULL;
	buf_init(&c.why);
	if (check_recorded(&c, e) < 0 || (added && check_new(&c, "", 0, e) < 0)) {
		buf_free(&c.why);
		return -1;
	}
	if (c.problems > NAMED_MAX)
		buf_printf(&c.why, "; and %d more", c.problems - NAMED_MAX);
	if (c.problems)
		*why = buf_steal(&c.why);
	buf_free(&c.why);
	return c.problems;
}

/* ---- the record, in the workdir ----------------------------------------- */

static bool globbed(const char *path, void *globs)
{
	return config_globbed(globs, path);
}

/* The commit the baseline's protected files are taken from: before any instrumentation. */
static const char *base_commit(struct sched *s)
{
	const struct node *base = tree_get(&s->wd->tree, 0);

	if (s->wd->st.source_commit[0])
		return s->wd->st.source_commit;
	return base ? base->commit : NULL;
}

/* A record of these globs at commit, or NULL. */
static cJSON *record_read(struct sched *s, const char *path, const char *commit)
{
	struct err e = {{0}};
	cJSON *rec = fs_exists(path) ? json_parse_file(path, &e) : NULL;

	if (!rec) {
		if (e.msg[0])
			sched_say(s, "warning: %s; recorded again from the baseline's commit", e.msg);
		return NULL;
	}
	const char *was = json_string(rec, "commit");
	if (was && !strcmp(was, commit) &&
	    cJSON_Compare(cJSON_GetObjectItemCaseSensitive(rec, "globs"), s->wd->cfg.protect,
			  true) &&
	    cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(rec, "files")))
		return rec;
	sched_say(s, "protect changed since %s was recorded: recorded again from the baseline's "
		     "commit %.12s",
		  PROTECT_FILE, commit);
	cJSON_Delete(rec);
	return NULL;
}

/* A glob that matches no file of the baseline is said: a typo, most likely. */
static void say_unmatched(struct sched *s, const cJSON *files, const char *commit)
{
	const cJSON *g;

	cJSON_ArrayForEach(g, s->wd->cfg.protect)
	{
		cJSON *one = cJSON_CreateArray();
		const cJSON *f;
		bool hit = false;
		cJSON_AddItemToArray(one, cJSON_CreateStringReference(g->valuestring));
		cJSON_ArrayForEach(f, files)
			hit |= config_globbed(one, f->string);
		cJSON_Delete(one);
		if (!hit)
			sched_say(s, "warning: protect: \"%s\" matches no file of the baseline's "
				     "commit %.12s (a typo?)",
				  g->valuestring, commit);
	}
}

void protect_record(struct sched *s)
{
	const cJSON *globs = s->wd->cfg.protect;
	const char *commit = base_commit(s);
	char *path = path_join(s->wd->path, PROTECT_FILE);
	struct vcs_blob *blobs = NULL;
	size_t n = 0;
	struct err e = {{0}};

	cJSON_Delete(s->protected);
	s->protected = NULL;
	if (!cJSON_GetArraySize(globs) || !commit) {
		free(path);
		return;
	}
	cJSON *rec = record_read(s, path, commit);
	if (rec) {
		s->protected = rec;
		free(path);
		return;
	}
	if (vcs_list_blobs(s->wd->cfg.source_dir, commit, globbed, (void *)globs, &blobs, &n,
			   &e) < 0) {
		sched_say(s, "warning: protect: %s; the protected files are not checked", e.msg);
		free(path);
		return;
	}
	rec = cJSON_CreateObject();
	cJSON_AddStringToObject(rec, "commit", commit);
	cJSON_AddItemToObject(rec, "globs", cJSON_Duplicate(globs, true));
	cJSON *files = cJSON_AddObjectToObject(rec, "files");
	for (size_t i = 0; i < n; i++)
		cJSON_AddStringToObject(files, blobs[i].path, blobs[i].oid);
	vcs_blobs_free(blobs, n);
	char *text = cJSON_Print(rec);
	struct buf b;
	buf_init(&b);
	buf_adds(&b, text);
	buf_addc(&b, '\n');
	cJSON_free(text);
	sched_write(s, path, b.data, b.len, 0644, true);
	buf_free(&b);
	free(path);
	say_unmatched(s, files, commit);
	s->protected = rec;
}

char *protect_touched(const struct config *c, const char *from, const char *to)
{
	char **paths = NULL;
	size_t n = 0;
	struct err e = {{0}};
	struct buf b;

	buf_init(&b);
	if (cJSON_GetArraySize(c->protect) &&
	    vcs_diff_paths(c->source_dir, from, to, &paths, &n, &e) == 0)
		for (size_t i = 0; i < n; i++)
			if (config_globbed(c->protect, paths[i]))
				buf_printf(&b, "%s%s", b.len ? ", " : "", paths[i]);
	for (size_t i = 0; i < n; i++)
		free(paths[i]);
	free(paths);
	return b.len ? buf_steal(&b) : NULL;
}

int protect_guard(struct sched *s, struct slot *sl, bool added, char **why, struct err *e)
{
	const cJSON *files = cJSON_GetObjectItemCaseSensitive(s->protected, "files");
	char *found;

	*why = NULL;
	if (!s->protected || sl->tree < 0)
		return 0;
	char *dir = sched_tree_path(s, sl->tree);
	int rc = protect_check(s->wd->cfg.protect, files, dir, added, &found, e);
	free(dir);
	if (rc <= 0)
		return rc;
	const char *it = rc == 1 ? "it" : "them";
	if (added)
		*why = xasprintf("%s; protected files may not change: revert %s, or remove %s from "
				 "protect in config.json",
				 found, it, it);
	else
		*why = xasprintf("the run changed protected files (%s), so its result is not taken: "
				 "a run may not write to them (or remove %s from protect in "
				 "config.json)",
				 found, it);
	free(found);
	return 1;
}
