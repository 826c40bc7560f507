/* workers.c — see workers.h. */
#include "hypotop/workers.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hypotop/fsutil.h"
#include "hypotop/json.h"

/* Keys of one worker and the kinds that may use them. */
static const struct {
	const char *key, *kinds;
} worker_keys[] = {
	{"name", "local ssh slurm"},    {"kind", "local ssh slurm"},
	{"enabled", "local ssh slurm"}, {"slots", "local ssh slurm"},
	{"gpus", "local ssh slurm"},    {"host", "ssh slurm"},
	{"port", "ssh slurm"},          {"user", "ssh slurm"},
	{"key_file", "ssh slurm"},      {"workspace", "ssh slurm"},
	{"accept_new_host_key", "ssh slurm"}, {"known_hosts", "ssh slurm"},
	{"setup", "ssh"},               {"partition", "slurm"},
	{"vast_id", "ssh"},
};

struct load {
	const char *path, *text;
	struct json_lines lines;
	struct workers *ws;
	bool have_workers;
};

static int dup_str(const cJSON *o, const char *key, const char *what, char **out, struct err *e)
{
	const char *s = NULL;
	int rc = json_get_str(o, key, what, &s, e);

	*out = rc == 1 ? xstrdup(s) : NULL;
	return rc;
}

static int worker_cb(void *ctx, const char *el, size_t len, size_t off, struct err *e)
{
	struct load *l = ctx;
	char what[4200];
	int line = json_lines_at(&l->lines, off);

	snprintf(what, sizeof what, "%s:%d", l->path, line);
	cJSON *j = json_parse_in(l->text, el, len, l->path, e);
	if (!j)
		return -1;
	if (!cJSON_IsObject(j)) {
		err_set(e, "%s: a worker must be an object {\"name\": ..., \"kind\": ...}", what);
		goto fail;
	}
	struct worker_def w = {0};
	w.enabled = true;
	w.slots = 1;
	l->ws->v = xrealloc(l->ws->v, (l->ws->len + 1) * sizeof *l->ws->v);
	const char *kind = NULL;
	if (json_get_str(j, "kind", what, &kind, e) != 1 ||
	    (strcmp(kind, "local") && strcmp(kind, "ssh") && strcmp(kind, "slurm"))) {
		snprintf(what, sizeof what, "%s:%d", l->path,
			 json_key_line(l->text, off, "kind") ?: line);
		err_set(e, "%s: \"kind\" must be local, ssh or slurm", what);
		goto fail;
	}
	for (const cJSON *m = j->child; m; m = m->next) {
		size_t k = 0;
		while (k < ARRAY_LEN(worker_keys) && strcmp(worker_keys[k].key, m->string))
			k++;
		snprintf(what, sizeof what, "%s:%d", l->path,
			 json_key_line(l->text, off, m->string) ?: line);
		if (k == ARRAY_LEN(worker_keys)) {
			struct nearest near;
			nearest_init(&near, m->string);
			for (size_t i = 0; i < ARRAY_LEN(worker_keys); i++)
				nearest_offer(&near, worker_keys[i].key);
			if (near.d <= 3)
				err_set(e, "%s: unknown key \"%s\"; did you mean \"%s\"?", what,
					m->string, near.best);
			else
				err_set(e, "%s: unknown key \"%s\" for a worker", what, m->string);
			goto fail;
		}
		if (!strstr(worker_keys[k].kinds, kind)) {
			err_set(e, "%s: \"%s\" does not apply to a %s worker; remove it", what,
				m->string, kind);
			goto fail;
		}
	}
	snprintf(what, sizeof what, "%s:%d", l->path, line);
	int nr = dup_str(j, "name", what, &w.name, e);
	if (nr < 0)
		goto fail;
	if (nr == 0 || !w.name[0] ||
	    w.name[strspn(w.name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
				  "_.-")]) {
		err_set(e, "%s: every worker needs a \"name\" of letters, digits, _ . -", what);
		free(w.name);
		goto fail;
	}
	for (size_t i = 0; i < l->ws->len; i++)
		if (!strcmp(l->ws->v[i].name, w.name)) {
			err_set(e, "%s: worker name \"%s\" is used twice; names must be unique",
				what, w.name);
			free(w.name);
			goto fail;
		}
	w.kind = xstrdup(kind);
	l->ws->v[l->ws->len++] = w;
	struct worker_def *p = &l->ws->v[l->ws->len - 1];
	int r = 0;
#define LINE_OF(key) (snprintf(what, sizeof what, "%s:%d", l->path, \
			       json_key_line(l->text, off, key) ?: line), what)
	if (dup_str(j, "host", LINE_OF("host"), &p->host, e) < 0 ||
	    dup_str(j, "user", LINE_OF("user"), &p->user, e) < 0 ||
	    dup_str(j, "key_file", LINE_OF("key_file"), &p->key_file, e) < 0 ||
	    dup_str(j, "workspace", LINE_OF("workspace"), &p->workspace, e) < 0 ||
	    dup_str(j, "partition", LINE_OF("partition"), &p->partition, e) < 0 ||
	    dup_str(j, "known_hosts", LINE_OF("known_hosts"), &p->known_hosts, e) < 0 ||
	    dup_str(j, "setup", LINE_OF("setup"), &p->setup, e) < 0 ||
	    json_get_int(j, "port", LINE_OF("port"), 1, 65535, &p->port, e) < 0 ||
	    json_get_int(j, "slots", LINE_OF("slots"), 1, 4096, &p->slots, e) < 0 ||
	    json_get_bool(j, "enabled", LINE_OF("enabled"), &p->enabled, e) < 0)
		r = -1;
	long vast = 0;
	const cJSON *gpus = cJSON_GetObjectItemCaseSensitive(j, "gpus");
	if (!r && (json_get_int(j, "vast_id", LINE_OF("vast_id"), 1, 1L << 40, &vast, e) < 0 ||
		   json_get_bool(j, "accept_new_host_key", LINE_OF("accept_new_host_key"),
				 &p->accept_new_host_key, e) < 0))
		r = -1;
	p->vast_id = vast;
	if (!r && gpus) {
		bool ok = cJSON_IsArray(gpus);
		const cJSON *g;
		cJSON_ArrayForEach(g, gpus)
		ok = ok && cJSON_IsNumber(g) && g->valuedouble >= 0 && g->valuedouble < 1024 &&
		     g->valuedouble == (double)(long)g->valuedouble;
		if (!ok) {
			err_set(e, "%s: \"gpus\" must be an array of GPU indices (0 to 1023)",
				LINE_OF("gpus"));
			r = -1;
		} else {
			p->ngpus = (size_t)cJSON_GetArraySize(gpus);
			p->gpus = xcalloc(p->ngpus ? p->ngpus : 1, sizeof *p->gpus);
			size_t i = 0;
			cJSON_ArrayForEach(g, gpus)
			p->gpus[i++] = g->valueint;
		}
	}
	if (!r && !strcmp(kind, "ssh") && !p->host) {
		err_set(e, "%s: an ssh worker needs \"host\"", LINE_OF("kind"));
		r = -1;
	}
#undef LINE_OF
	cJSON_Delete(j);
	return r;
fail:
	cJSON_Delete(j);
	return -1;
}

static int member_cb(void *ctx, const char *key, const char *val, size_t len, size_t off,
		     struct err *e)
{
	struct load *l = ctx;
	int line = json_lines_at(&l->lines, off);

	if (!strcmp(key, "workers")) {
		l->have_workers = true;
		return json_walk_array(l->text, val, len, l->path, worker_cb, l, e);
	}
	if (!strcmp(key, "version")) {
		if (len != 1 || val[0] != '1') {
			err_set(e, "%s:%d: \"version\" must be 1", l->path, line);
			return -1;
		}
		return 0;
	}
	err_set(e, "%s:%d: unknown key \"%s\"; the file holds \"version\" and \"workers\"",
		l->path, line, key);
	return -1;
}

int workers_parse(const char *path, const char *text, size_t len, struct workers *ws,
		  struct err *e)
{
	ws->v = NULL;
	ws->len = 0;
	struct load l = {path, text, {0}, ws, false};
	json_lines_init(&l.lines, text);
	int rc = json_walk_object(text, len, path, member_cb, &l, e);
	if (rc == 0 && !l.have_workers) {
		err_set(e, "%s: needs a \"workers\" array", path);
		rc = -1;
	}
	if (rc < 0)
		workers_free(ws);
	return rc;
}

int workers_load(const char *path, struct workers *ws, struct err *e)
{
	size_t len;
	char *text;

	ws->v = NULL;
	ws->len = 0;
	if (!fs_exists(path)) {
		ws->v = xcalloc(1, sizeof *ws->v);
		ws->v[0].name = xstrdup("local");
		ws->v[0].kind = xstrdup("local");
		ws->v[0].enabled = true;
		ws->v[0].slots = 1;
		ws->len = 1;
		return 0;
	}
	text = fs_read_max(path, FS_MAX_CONFIG, &len, e);
	if (!text)
		return -1;
	int rc = workers_parse(path, text, len, ws, e);
	free(text);
	return rc;
}

void workers_free(struct workers *ws)
{
	for (size_t i = 0; i < ws->len; i++) {
		struct worker_def *w = &ws->v[i];
		free(w->name);
		free(w->kind);
		free(w->host);
		free(w->user);
		free(w->key_file);
		free(w->workspace);
		free(w->partition);
		free(w->known_hosts);
		free(w->setup);
		free(w->gpus);
	}
	free(ws->v);
	ws->v = NULL;
	ws->len = 0;
}

int workers_check(const char *path, struct err *e)
{
	struct workers ws;

	if (workers_load(path, &ws, e) < 0)
		return -1;
	workers_free(&ws);
	return 0;
}
