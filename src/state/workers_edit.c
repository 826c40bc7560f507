/* workers_edit.c — see workers_edit.h. */
#include "hypotop/workers_edit.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

#include "hypotop/ctl.h"
#include "hypotop/fsutil.h"
#include "hypotop/json.h"
#include "hypotop/lock.h"
#include "hypotop/workers.h"

/* The engine's answer to {"op":"workers"}. */
static int reload_engine(void *ctx, const char *workdir, struct err *e)
{
	(void)ctx;
	return ctl_workers_reload(workdir, WORKERS_WAIT_MS, e);
}

/* ---- the file ------------------------------------------------------------ */

/* Where each key of the edited worker lands, to name its option in a message. */
struct placed {
	int line;
	const char *option;
};

/*
 * The stable layout: the top-level keys, then each worker with one key a
 * line, in the order it has. Lines of the keys of worker `mark` go to at.
 */
static void serialise(const cJSON *doc, int mark, struct placed *at, size_t nat,
		      const struct worker_edit *ed, struct buf *b)
{
	const cJSON *ws = cJSON_GetObjectItemCaseSensitive(doc, "workers"), *w;
	const cJSON *ver = cJSON_GetObjectItemCaseSensitive(doc, "version");
	int line = 3, k = 0;

	buf_adds(b, "{\n  \"version\": ");
	if (ver)
		json_append(b, ver);
	else
		buf_adds(b, "1");
	buf_adds(b, ",\n  \"workers\": [");
	cJSON_ArrayForEach(w, ws)
	{
		buf_adds(b, k ? ",\n    {" : "\n    {");
		line++;
		const cJSON *m;
		size_t i = 0;
		if (k == mark) /* what is wrong with the worker as a whole: its name */
			at[nat - 1] = (struct placed){line, "NAME"};
		cJSON_ArrayForEach(m, w)
		{
			buf_adds(b, i ? ",\n      " : "\n      ");
			line++;
			json_append_str(b, m->string);
			buf_adds(b, ": ");
			json_append(b, m);
			if (k == mark && i + 1 < nat) {
				at[i].line = line;
				at[i].option = NULL;
				for (size_t f = 0; f < ed->nfield; f++)
					if (!strcmp(ed->field[f].key, m->string))
						at[i].option = ed->field[f].option;
				if (!strcmp(m->string, "name"))
					at[i].option = "NAME";
			}
			i++;
		}
		buf_adds(b, "\n    }");
		line++;
		k++;
	}
	buf_adds(b, k ? "\n  ]\n}\n" : "]\n}\n");
}

/* The index of the worker named name, or -1. */
static int find_worker(const cJSON *ws, const char *name, cJSON **item)
{
	int i = 0;
	cJSON *w;

	cJSON_ArrayForEach(w, ws)
	{
		const char *n = json_string(w, "name");
		if (n && !strcmp(n, name)) {
			*item = w;
			return i;
		}
		i++;
	}
	return -1;
}

static void missing(const cJSON *ws, const char *path, const char *name, struct err *e)
{
	struct buf names;
	const cJSON *w;

	buf_init(&names);
	cJSON_ArrayForEach(w, ws)
	{
		const char *n = json_string(w, "name");
		buf_printf(&names, "%s%s", names.len ? ", " : "", n ? n : "?");
	}
	err_set(e, "%s: no worker named \"%s\"; its workers are %s ('hypotop workers' lists them)",
		path, name, names.len ? names.data : "none");
	buf_free(&names);
}

/* Change doc as ed says; 1 when it is so already. */
static int apply(cJSON *doc, const char *path, const struct worker_edit *ed, int *mark,
		 struct err *e)
{
	cJSON *ws = cJSON_GetObjectItemCaseSensitive(doc, "workers"), *w = NULL;
	int at = find_worker(ws, ed->name, &w);
	const char *kind = w ? json_string(w, "kind") : NULL;

	*mark = at;
	if (ed->kind == WORKER_ADD) {
		if (at >= 0) {
			err_set(e, "%s: a worker named \"%s\" is there already; give the new one "
				   "another name, or remove the old one first ('hypotop worker "
				   "remove')",
				path, ed->name);
			return -1;
		}
		w = cJSON_CreateObject();
		cJSON_AddStringToObject(w, "name", ed->name);
		cJSON_AddStringToObject(w, "kind", ed->worker_kind ? ed->worker_kind : "ssh");
		for (size_t i = 0; i < ed->nfield; i++)
			cJSON_AddItemToObject(w, ed->field[i].key,
					      cJSON_Duplicate(ed->field[i].value, true));
		*mark = cJSON_GetArraySize(ws);
		cJSON_AddItemToArray(ws, w);
		return 0;
	}
	if (at < 0) {
		missing(ws, path, ed->name, e);
		return -1;
	}
	if (ed->kind == WORKER_REMOVE) {
		if (kind && !strcmp(kind, "local")) {
			err_set(e, "%s: \"%s\" is this machine's worker, which cannot be removed; "
				   "'hypotop worker disable' stops new jobs on it",
				path, ed->name);
			return -1;
		}
		const cJSON *o;
		cJSON_ArrayForEach(o, ws)
		{
			const char *via = json_string(o, "via");
			if (via && !strcmp(via, ed->name)) {
				const char *n = json_string(o, "name") ?: "?";
				err_set(e, "%s: slurm worker \"%s\" reaches its login node through "
					   "\"%s\" (its \"via\"); remove \"%s\" first, or give it "
					   "another \"via\" in the file",
					path, n, ed->name, n);
				return -1;
			}
		}
		cJSON_DeleteItemFromArray(ws, at);
		*mark = -1;
		return 0;
	}
	if (ed->kind == WORKER_SET) {
		bool same = true;
		for (size_t i = 0; i < ed->nfield; i++) {
			const cJSON *old = cJSON_GetObjectItemCaseSensitive(w, ed->field[i].key);
			if (old && cJSON_Compare(old, ed->field[i].value, true))
				continue;
			same = false;
			cJSON *v = cJSON_Duplicate(ed->field[i].value, true);
			if (old)
				cJSON_ReplaceItemInObjectCaseSensitive(w, ed->field[i].key, v);
			else
				cJSON_AddItemToObject(w, ed->field[i].key, v);
		}
		return same ? 1 : 0;
	}
	bool on = ed->kind == WORKER_ENABLE, was = true;
	json_get_bool(w, "enabled", path, &was, e); /* valid: the file was checked */
	if (was == on)
		return 1;
	if (cJSON_GetObjectItemCaseSensitive(w, "enabled"))
		cJSON_ReplaceItemInObjectCaseSensitive(w, "enabled", cJSON_CreateBool(on));
	else
		cJSON_AddItemToObject(w, "enabled", cJSON_CreateBool(on));
	return 0;
}

/*
 * A message about the new text names the option its line came from, not
 * a line of a file that was never written.
 */
static void blame_option(const char *path, const struct placed *at, size_t nat,
			 const struct worker_edit *ed, struct err *e)
{
	size_t pl = strlen(path);
	int line = 0, used = 0;

	if (strncmp(e->msg, path, pl) || sscanf(e->msg + pl, ":%d: %n", &line, &used) < 1 ||
	    !used)
		return;
	for (size_t i = 0; i < nat; i++)
		if (at[i].line == line && at[i].option) {
			char rest[sizeof e->msg];
			snprintf(rest, sizeof rest, "%s", e->msg + pl + used);
			if (!strcmp(at[i].option, "NAME"))
				err_set(e, "NAME \"%s\": %s", ed->name, rest);
			else
				err_set(e, "%s: %s", at[i].option, rest);
			return;
		}
}

/*
 * The new text of the file at path for ed, in *out (caller frees); *old
 * gets what is there now (NULL: no file). 1 when nothing changes.
 */
static int edit_text(const char *path, const struct worker_edit *ed, char **old, char **out,
		     struct err *e)
{
	struct workers ws;
	size_t len = 0;
	cJSON *doc;

	*old = *out = NULL;
	if (fs_exists(path)) {
		*old = fs_read_max(path, FS_MAX_CONFIG, &len, e);
		if (!*old)
			return -1;
		if (workers_parse(path, *old, len, &ws, e) < 0) {
			err_suffix(e, "; fix the file first: nothing was changed");
			return -1;
		}
		workers_free(&ws);
		doc = json_parse(*old, len, path, e);
		if (!doc)
			return -1;
	} else {
		doc = cJSON_Parse("{\"version\":1,\"workers\":[{\"name\":\"local\",\"kind\":"
				  "\"local\"}]}");
	}
	int mark, rc = apply(doc, path, ed, &mark, e);
	if (rc != 0) {
		cJSON_Delete(doc);
		return rc;
	}
	struct placed at[32] = {{0}};
	size_t nat = ARRAY_LEN(at);
	struct buf b;
	buf_init(&b);
	serialise(doc, mark, at, nat, ed, &b);
	cJSON_Delete(doc);
	if (workers_parse(path, b.data, b.len, &ws, e) < 0) {
		blame_option(path, at, nat, ed, e);
		err_suffix(e, "; nothing was changed");
		buf_free(&b);
		return -1;
	}
	workers_free(&ws);
	*out = buf_steal(&b);
	return 0;
}

/* ---- the locks ----------------------------------------------------------- */

static void pause_ms(long ms)
{
	struct timespec ts = {0, ms * 1000 * 1000};

	nanosleep(&ts, NULL);
}

/*
 * Hold the workdir folder's lock (edits one at a time), then engine/lock
 * unless an engine holds it: *lock_fd >= 0 means no engine runs. Returns
 * the folder's descriptor, or -1 with e set.
 */
static int take_locks(const char *workdir, int *lock_fd, bool *engine, struct err *e)
{
	int64_t deadline = mono_ms() + WORKERS_WAIT_MS;
	int dfd = open(workdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	char *lock = path_join(workdir, "engine/lock");

	*lock_fd = -1;
	*engine = false;
	if (dfd < 0) {
		err_set(e, "%s: %s", workdir, strerror(errno));
		free(lock);
		return -1;
	}
	while (flock(dfd, LOCK_EX | LOCK_NB) < 0) {
		if (errno != EWOULDBLOCK || mono_ms() > deadline) {
			err_set(e, "%s: another 'hypotop worker' command still edits workers.json "
				   "after %d s; try again once it is done",
				workdir, WORKERS_WAIT_MS / 1000);
			goto fail;
		}
		pause_ms(5);
	}
	for (;;) {
		pid_t holder;
		char role[LOCK_ROLE_LEN] = "";
		int rc = lock_take(lock, lock_fd, &holder, role, e);
		if (rc == LOCK_ERROR)
			goto fail;
		if (rc == LOCK_HELD)
			break;
		if (holder > 0 && !strcmp(role, "engine") &&
		    (kill(holder, 0) == 0 || errno == EPERM)) {
			*engine = true;
			break;
		}
		/* A command's moment, or an engine that has not said so yet. */
		if (mono_ms() > deadline) {
			err_set(e, "%s: still locked by another process after %d s; see engine/lock "
				   "for its pid",
				workdir, WORKERS_WAIT_MS / 1000);
			goto fail;
		}
		pause_ms(5);
	}
	free(lock);
	return dfd;
fail:
	free(lock);
	close(dfd);
	return -1;
}

/* ---- the change ---------------------------------------------------------- */

/* Put the old bytes back (or no file, as before). */
static int restore(const char *path, const char *old, struct err *e)
{
	if (!old)
		return unlink(path) < 0 && errno != ENOENT ? -1 : 0;
	return fs_write_atomic(path, old, strlen(old), 0644, e);
}

int workers_change(const char *workdir, const struct worker_edit *ed, workers_reload_fn reload,
		   void *ctx, enum worker_outcome *out, struct err *e)
{
	char *cfg = path_join(workdir, "config.json");
	bool is_workdir = fs_exists(cfg);

	free(cfg);
	*out = WORKERS_UNCHANGED;
	if (!is_workdir) {
		err_set(e, "%s: no such workdir (no config.json there); create one with 'hypotop "
			   "init'",
			workdir);
		return EXIT_USAGE;
	}
	int lock_fd;
	bool engine;
	int dfd = take_locks(workdir, &lock_fd, &engine, e);
	if (dfd < 0)
		return EXIT_RUNTIME;
	char *path = path_join(workdir, "workers.json"), *old, *text;
	int status = EXIT_OK;
	int rc = edit_text(path, ed, &old, &text, e);
	if (rc < 0)
		status = EXIT_USAGE;
	else if (rc == 0 && fs_write_atomic(path, text, strlen(text), 0644, e) < 0)
		status = EXIT_RUNTIME;
	else if (rc == 0 && !engine)
		*out = WORKERS_NO_ENGINE;
	else if (rc == 0) {
		struct err re = {{0}};
		int r = (reload ? reload : reload_engine)(ctx, workdir, &re);
		*out = r == 0 ? WORKERS_APPLIED : r == 1 ? WORKERS_NO_ENGINE : WORKERS_NO_ANSWER;
		if (r == 2)
			err_set(e, "%s", re.msg);
		if (r < 0) {
			/* The engine keeps the workers it has: so does the file. */
			struct err we = {{0}};
			if (restore(path, old, &we) < 0)
				err_set(e, "the engine refused the change (%s), and workers.json "
					   "could not be put back as it was: %s; fix it by hand",
					re.msg, we.msg);
			else
				err_set(e, "the engine refused the change: %s; workers.json is as it "
					   "was",
					re.msg);
			status = EXIT_USAGE;
		}
	}
	free(old);
	free(text);
	free(path);
	lock_release(lock_fd);
	close(dfd);
	return status;
}
