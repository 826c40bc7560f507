/* common.c — see fuzz.h. */
#include "fuzz.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hypotop/fsutil.h"
#include "hypotop/ops.h"
#include "hypotop/params.h"
#include "hypotop/workdir.h"

void fuzz_fail(const char *fmt, ...)
{
	va_list ap;

	fputs("fuzz: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	abort();
}

void fuzz_need_msg(const struct err *e, const char *what)
{
	if (!e->msg[0])
		fuzz_fail("%s: refused without a message", what);
	if (getenv("FUZZ_VERBOSE"))
		fprintf(stderr, "refused: %s\n", e->msg);
}

char *fuzz_cstr(const uint8_t *data, size_t size)
{
	char *s = xmalloc(size + 1);

	if (size)
		memcpy(s, data, size);
	s[size] = '\0';
	return s;
}

/* ---- the private folder ---- */

static char *dir;

static void dir_remove(void)
{
	fs_remove_tree(dir);
	free(dir);
	dir = NULL;
}

const char *fuzz_dir(void)
{
	if (dir)
		return dir;
	const char *base = getenv("TMPDIR") && *getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
	dir = xasprintf("%s/hypotop-fuzz.XXXXXX", base);
	if (!mkdtemp(dir))
		fuzz_fail("mkdtemp %s: %s", dir, strerror(errno));
	atexit(dir_remove);
	return dir;
}

char *fuzz_path(const char *rel)
{
	return path_join(fuzz_dir(), rel);
}

void fuzz_put(const char *rel, const void *data, size_t len)
{
	char *path = fuzz_path(rel);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

	if (fd < 0 || (len && write(fd, data, len) != (ssize_t)len) || close(fd) < 0)
		fuzz_fail("write %s: %s", path, strerror(errno));
	free(path);
}

/* ---- a workdir with a node in every status ---- */

static const char *const saved_files[] = {"engine/tree.json", "engine/checkpoint.json",
					  "engine/journal.jsonl", "state.json"};
static struct buf saved[ARRAY_LEN(saved_files)];
static char *wd;

static void check(int rc, const struct err *e)
{
	if (rc < 0)
		fuzz_fail("making the workdir: %s", e->msg);
}

static struct node *add(struct workdir *w, uint32_t parent, const char *name,
			enum node_status st)
{
	struct node *n = tree_add(&w->tree, parent);

	node_set_str(&n->name, name);
	node_set_str(&n->hypothesis, name);
	n->status = n->resume_to = (uint8_t)st;
	if (st != ST_QUEUED && st != ST_PAUSED) {
		node_set_str(&n->commit, "0123456789abcdef0123456789abcdef01234567");
		node_set_str(&n->worker, "local");
		n->started = n->created + 10;
	}
	workdir_record(w, "add", n);
	return n;
}

static void workdir_make(void)
{
	struct err e = {{0}};
	struct workdir w;
	cJSON *cfg = cJSON_Parse("{\"source_dir\":\"/src\",\"launch\":\"python3 train.py\","
				 "\"metric\":\"val_loss\",\"search_space\":{\"file\":"
				 "\"hparams.json\",\"params\":{\"lr\":{\"log_uniform\":"
				 "[0.0001,0.1]}}}}");

	wd = fuzz_path("wd");
	config_fill_defaults(cfg);
	check(workdir_create(wd, cfg, "0123456789abcdef0123456789abcdef01234567", &e), &e);
	cJSON_Delete(cfg);
	check(workdir_open(&w, wd, WD_WRITE, NULL, &e) == WD_OK ? 0 : -1, &e);
	struct node *n = add(&w, 0, "done", ST_COMPLETED);
	n->has_metric = true;
	n->metric = 1.25;
	n->improved = 1;
	n->finished = n->started + 1000;
	w.st.best = n->id;
	uint32_t done = n->id;
	n = add(&w, done, "broken", ST_FAILED);
	node_set_str(&n->failure_kind, "exit");
	node_set_str(&n->failure_phase, "running");
	node_set_str(&n->change, "{\"kind\":\"params\",\"params\":{\"lr\":0.01}}");
	add(&w, done, "dropped", ST_CANCELLED);
	add(&w, done, "running", ST_RUNNING);
	add(&w, done, "building", ST_BUILDING);
	add(&w, done, "preparing", ST_PREPARING);
	add(&w, done, "analyzing", ST_ANALYZING);
	n = add(&w, done, "held", ST_PAUSED);
	n->resume_to = ST_QUEUED;
	n = add(&w, done, "stopped", ST_PAUSED);
	n->resume_to = ST_RUNNING;
	add(&w, done, "waiting", ST_QUEUED)->priority = -3;
	w.st.iteration = 1;
	workdir_record_state(&w);
	check(workdir_checkpoint(&w, &e), &e);
	/* Events after the checkpoint, so that the journal has lines to replay. */
	n = add(&w, done, "later", ST_QUEUED);
	n->priority = 5;
	workdir_record(&w, "prio", n);
	check(workdir_commit(&w, &e), &e);
	workdir_close(&w);
	for (size_t i = 0; i < ARRAY_LEN(saved_files); i++) {
		char *path = path_join(wd, saved_files[i]);
		size_t len;
		char *text = fs_read(path, &len, &e);
		if (!text)
			fuzz_fail("%s", e.msg);
		buf_init(&saved[i]);
		buf_add(&saved[i], text, len);
		free(text);
		free(path);
	}
}

const char *fuzz_workdir(void)
{
	if (!wd)
		workdir_make();
	return wd;
}

static void wd_put(const char *rel, const void *data, size_t len)
{
	char *path = path_join(fuzz_workdir(), rel);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

	if (fd < 0 || (len && write(fd, data, len) != (ssize_t)len) || close(fd) < 0)
		fuzz_fail("write %s: %s", path, strerror(errno));
	free(path);
}

void fuzz_workdir_reset(void)
{
	fuzz_workdir();
	for (size_t i = 0; i < ARRAY_LEN(saved_files); i++)
		wd_put(saved_files[i], saved[i].data, saved[i].len);
}

void fuzz_workdir_put(const char *rel, const uint8_t *data, size_t size)
{
	wd_put(rel, data, size);
}

void fuzz_workdir_load(const char *what, bool ours)
{
	struct err e = {{0}};
	struct workdir w;

	if (workdir_open(&w, fuzz_workdir(), WD_WRITE, NULL, &e) != WD_OK) {
		if (ours)
			fuzz_fail("%s: what hypotop wrote does not load: %s", what, e.msg);
		fuzz_need_msg(&e, what);
		return;
	}
	uint32_t count = w.tree.count;
	if (workdir_checkpoint(&w, &e) < 0)
		fuzz_fail("%s: loaded, but its checkpoint fails: %s", what, e.msg);
	workdir_close(&w);
	if (workdir_open(&w, fuzz_workdir(), WD_READ, NULL, &e) != WD_OK)
		fuzz_fail("%s: loaded, but the checkpoint made of it does not load: %s", what,
			  e.msg);
	if (w.tree.count != count)
		fuzz_fail("%s: %u nodes loaded, %u after a checkpoint", what, count,
			  w.tree.count);
	if (getenv("FUZZ_VERBOSE"))
		fprintf(stderr, "loaded: %u nodes, seq %llu\n", count, (unsigned long long)w.seq);
	workdir_close(&w);
}

/* ---- param files ---- */

/* A new value of the same type as v, different from it. */
static cJSON *other_value(const cJSON *v)
{
	if (cJSON_IsBool(v))
		return cJSON_CreateBool(!cJSON_IsTrue(v));
	if (cJSON_IsNumber(v)) {
		double d = v->valuedouble * -2 + 1;
		return cJSON_CreateNumber(isfinite(d) && d != v->valuedouble ? d : 0.25);
	}
	/* Quotes of both kinds, a backslash, a comment sign and a YAML indicator. */
	return cJSON_CreateString(strcmp(v->valuestring, "it's \"x\" \\ #1: y")
					  ? "it's \"x\" \\ #1: y"
					  : "plain");
}

static bool same(const cJSON *a, const cJSON *b)
{
	if (cJSON_IsNumber(a) && cJSON_IsNumber(b))
		return a->valuedouble == b->valuedouble;
	return cJSON_Compare(a, b, true);
}

void fuzz_params(const char *path, const uint8_t *data, size_t size)
{
	struct err e = {{0}};
	char *text = fuzz_cstr(data, size), *next = NULL;
	cJSON *cur = NULL, *back = NULL;
	cJSON *values = cJSON_CreateObject();

	if (memchr(data, '\0', size)) /* a file read as text ends at its first NUL */
		goto out;
	if (params_read(path, text, &cur, &e) < 0) {
		fuzz_need_msg(&e, path);
		goto out;
	}
	for (const cJSON *v = cur->child; v; v = v->next)
		cJSON_AddItemToObject(values, v->string, other_value(v));
	/* JSON adds a setting the file lacks. */
	if (params_format_of(path) == PARAMS_JSON &&
	    !cJSON_GetObjectItemCaseSensitive(values, "fuzz_added_setting"))
		cJSON_AddNumberToObject(values, "fuzz_added_setting", 3);
	if (params_write(path, text, values, &next, &e) < 0)
		fuzz_fail("%s: read, but writing its own settings back fails: %s", path, e.msg);
	if (params_read(path, next, &back, &e) < 0)
		fuzz_fail("%s: rewritten text does not read: %s\n--- rewritten:\n%s", path, e.msg,
			  next);
	for (const cJSON *v = values->child; v; v = v->next) {
		const cJSON *got = cJSON_GetObjectItemCaseSensitive(back, v->string);
		if (!got || !same(got, v)) {
			char *want = cJSON_PrintUnformatted(v);
			char *have = got ? cJSON_PrintUnformatted(got) : NULL;
			fuzz_fail("%s: setting '%s' written as %s reads back as %s\n--- "
				  "rewritten:\n%s",
				  path, v->string, want, have ? have : "(absent)", next);
		}
	}
out:
	cJSON_Delete(values);
	cJSON_Delete(cur);
	cJSON_Delete(back);
	free(next);
	free(text);
}
