/* workers.c — see workers.h. */
#include "hypotop/workers.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hypotop/fsutil.h"
#include "hypotop/json.h"

#define VIA_INSTEAD                                                                         \
	"a slurm worker reaches its login node through \"via\", the name of an ssh worker " \
	"of this file that has the connection settings; set them there"

/*
 * Keys of one worker, the kinds that may use them, and for the kinds in
 * hint_kinds what to use instead.
 */
static const struct {
	const char *key, *kinds, *hint_kinds, *instead;
} worker_keys[] = {
	{"name", "local ssh slurm", "", NULL},
	{"kind", "local ssh slurm", "", NULL},
	{"enabled", "local ssh slurm", "", NULL},
	{"slots", "local ssh", "slurm", "use \"max_jobs\": how many of its jobs may be submitted "
					"at once"},
	{"gpus", "local ssh", "slurm", "use \"gres\" (as \"gpu:1\"): Slurm gives each job its "
				       "GPUs"},
	{"host", "ssh", "slurm", VIA_INSTEAD},
	{"port", "ssh", "slurm", VIA_INSTEAD},
	{"user", "ssh", "slurm", VIA_INSTEAD},
	{"key_file", "ssh", "slurm", VIA_INSTEAD},
	{"known_hosts", "ssh", "slurm", VIA_INSTEAD},
	{"accept_new_host_key", "ssh", "slurm", VIA_INSTEAD},
	{"workspace", "ssh slurm", "", NULL},
	{"setup", "ssh", "slurm", "put the step in the project's \"build\" (config.json), which "
				  "each job runs first"},
	{"vast_id", "ssh", "", NULL},
	{"dph", "ssh", "", NULL},
	{"rented_at", "ssh", "", NULL},
	{"released_at", "ssh", "", NULL},
	{"partition", "slurm", "", NULL},
	{"account", "slurm", "", NULL},
	{"qos", "slurm", "", NULL},
	{"gres", "slurm", "local ssh", "use \"gpus\", the GPU indices"},
	{"max_jobs", "slurm", "local ssh", "use \"slots\""},
	{"sbatch_args", "slurm", "", NULL},
	{"via", "slurm", "", NULL},
};

/* sbatch options hypotop gives itself, refused in "sbatch_args". */
static const struct {
	const char *opt, *short_opt, *instead;
} own_sbatch[] = {
	{"--partition", "-p", "use \"partition\""},
	{"--account", "-A", "use \"account\""},
	{"--qos", "-q", "use \"qos\""},
	{"--gres", NULL, "use \"gres\""},
	{"--job-name", "-J", "hypotop names each job after its node"},
	{"--output", "-o", "a job's output goes to its run's log"},
	{"--error", "-e", "a job's errors go to its run's log"},
	{"--array", "-a", "hypotop submits one job per node"},
};

struct load {
	const char *path, *text;
	struct json_lines lines;
	struct workers *ws;
	size_t *off; /* where each worker of ws starts in text */
	bool have_workers;
};

/* "PATH:LINE" of key in the worker at off (its own line when key is not there) in what. */
static const char *at_key(const struct load *l, char *what, size_t size, size_t off, int line,
			  const char *key)
{
	snprintf(what, size, "%s:%d", l->path, json_key_line(l->text, off, key) ?: line);
	return what;
}

static int dup_str(const cJSON *o, const char *key, const char *what, char **out, struct err *e)
{
	const char *s = NULL;
	int rc = json_get_str(o, key, what, &s, e);

	*out = rc == 1 ? xstrdup(s) : NULL;
	return rc;
}

/* A name sbatch takes as one word: no blank or control character. */
static bool one_word(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if ((unsigned char)*s <= ' ' || *s == 0x7f)
			return false;
	return true;
}

static bool has_control(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < ' ' || *s == 0x7f)
			return true;
	return false;
}

/* What to use instead of arg, an sbatch option hypotop gives itself; NULL when it is not one. */
static const char *own_sbatch_option(const char *arg)
{
	for (size_t i = 0; i < ARRAY_LEN(own_sbatch); i++) {
		size_t n = strlen(own_sbatch[i].opt);
		const char *sh = own_sbatch[i].short_opt;
		if (!strncmp(arg, own_sbatch[i].opt, n) && (!arg[n] || arg[n] == '='))
			return own_sbatch[i].instead;
		if (sh && !strncmp(arg, sh, 2))
			return own_sbatch[i].instead;
	}
	return NULL;
}

static int sbatch_args(const struct load *l, const cJSON *j, size_t off, int line,
		       struct worker_def *p, struct err *e)
{
	const cJSON *a = cJSON_GetObjectItemCaseSensitive(j, "sbatch_args"), *s;
	char what[4200];
	size_t i = 0;

	if (!a || cJSON_IsNull(a))
		return 0;
	at_key(l, what, sizeof what, off, line, "sbatch_args");
	if (!cJSON_IsArray(a)) {
		err_set(e, "%s: \"sbatch_args\" must be an array of sbatch options, each with its "
			   "value attached, as [\"--mem=16G\", \"--constraint=a100\"]",
			what);
		return -1;
	}
	p->sbatch_args = xcalloc((size_t)cJSON_GetArraySize(a) + 1, sizeof *p->sbatch_args);
	cJSON_ArrayForEach(s, a)
	{
		i++;
		if (!cJSON_IsString(s)) {
			err_set(e, "%s: \"sbatch_args\" item %zu must be a string, an sbatch option "
				   "with its value attached (as \"--mem=16G\")",
				what, i);
			return -1;
		}
		if (has_control(s->valuestring)) {
			err_set(e, "%s: \"sbatch_args\" item %zu holds a control character (a "
				   "newline?); give each option on its own, as \"--mem=16G\"",
				what, i);
			return -1;
		}
		if (s->valuestring[0] != '-') {
			err_set(e, "%s: \"sbatch_args\" item %zu, \"%s\", does not start with "
				   "\"-\": give each sbatch option with its value attached, as "
				   "\"--mem=16G\"",
				what, i, s->valuestring);
			return -1;
		}
		const char *instead = own_sbatch_option(s->valuestring);
		if (instead) {
			err_set(e, "%s: \"sbatch_args\" item %zu, \"%s\", is an option hypotop "
				   "gives sbatch itself: %s",
				what, i, s->valuestring, instead);
			return -1;
		}
		p->sbatch_args[p->nsbatch_args++] = xstrdup(s->valuestring);
	}
	return 0;
}

/* The keys of a slurm worker, once the kinds of its keys are checked. */
static int slurm_fields(const struct load *l, const cJSON *j, size_t off, int line,
			struct worker_def *p, struct err *e)
{
	static const char *const words[] = {"partition", "account", "qos", "gres"};
	char **word[] = {&p->partition, &p->account, &p->qos, &p->gres};
	char what[4200];

	for (size_t i = 0; i < ARRAY_LEN(words); i++) {
		at_key(l, what, sizeof what, off, line, words[i]);
		if (dup_str(j, words[i], what, word[i], e) < 0)
			return -1;
		if (*word[i] && !one_word(*word[i])) {
			err_set(e, "%s: \"%s\" must be one word, as sbatch --%s takes it: no blanks "
				   "or control characters",
				what, words[i], words[i]);
			return -1;
		}
	}
	p->slots = 4;
	if (json_get_int(j, "max_jobs", at_key(l, what, sizeof what, off, line, "max_jobs"), 1,
			 4096, &p->slots, e) < 0 ||
	    dup_str(j, "via", at_key(l, what, sizeof what, off, line, "via"), &p->via, e) < 0 ||
	    sbatch_args(l, j, off, line, p, e) < 0)
		return -1;
	if (p->via && !p->via[0]) {
		err_set(e, "%s: \"via\" is empty: name the ssh worker that reaches the login node, "
			   "or leave it out to run Slurm's commands on this machine",
			at_key(l, what, sizeof what, off, line, "via"));
		return -1;
	}
	if (!p->workspace) {
		err_set(e, "%s: a slurm worker needs \"workspace\": a folder on a file system its "
			   "compute nodes share",
			at_key(l, what, sizeof what, off, line, "kind"));
		return -1;
	}
	at_key(l, what, sizeof what, off, line, "workspace");
	if (!p->workspace[0] || has_control(p->workspace)) {
		err_set(e, "%s: \"workspace\" must be a folder on a file system the compute "
			   "nodes share, with no control characters",
			what);
		return -1;
	}
	if (p->workspace[0] != '/' && !p->via) {
		err_set(e, "%s: \"workspace\" is relative, but with no \"via\" Slurm's commands "
			   "run on this machine: give an absolute path",
			what);
		return -1;
	}
	return 0;
}

/* Each "via" names an ssh worker of the file. */
static int check_via(const struct load *l, struct err *e)
{
	char what[4200];

	for (size_t i = 0; i < l->ws->len; i++) {
		const struct worker_def *w = &l->ws->v[i];
		if (!w->via)
			continue;
		size_t k = 0;
		while (k < l->ws->len && strcmp(l->ws->v[k].name, w->via))
			k++;
		at_key(l, what, sizeof what, l->off[i], 0, "via");
		if (k < l->ws->len && !strcmp(l->ws->v[k].kind, "ssh"))
			continue;
		if (k < l->ws->len) {
			err_set(e, "%s: \"via\" names \"%s\", a %s worker; it must name an ssh "
				   "worker, whose connection reaches the login node",
				what, w->via, l->ws->v[k].kind);
			return -1;
		}
		struct buf names;
		buf_init(&names);
		for (size_t s = 0; s < l->ws->len; s++)
			if (!strcmp(l->ws->v[s].kind, "ssh"))
				buf_printf(&names, "%s%s", names.len ? ", " : "", l->ws->v[s].name);
		err_set(e, "%s: \"via\" names \"%s\", which is not a worker of this file; name "
			   "the ssh worker that reaches the login node (%s%s), or add it first",
			what, w->via, names.len ? "its ssh workers: " : "it has none yet",
			names.len ? names.data : "");
		buf_free(&names);
		return -1;
	}
	return 0;
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
	l->off = xrealloc(l->off, (l->ws->len + 1) * sizeof *l->off);
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
		if (strstr(worker_keys[k].kinds, kind))
			continue;
		if (strstr(worker_keys[k].hint_kinds, kind))
			err_set(e, "%s: \"%s\" does not apply to a %s worker: %s", what, m->string,
				kind, worker_keys[k].instead);
		else
			err_set(e, "%s: \"%s\" does not apply to a %s worker; remove it", what,
				m->string, kind);
		goto fail;
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
	l->off[l->ws->len] = off;
	l->ws->v[l->ws->len++] = w;
	struct worker_def *p = &l->ws->v[l->ws->len - 1];
	int r = 0;
#define LINE_OF(key) (snprintf(what, sizeof what, "%s:%d", l->path, \
			       json_key_line(l->text, off, key) ?: line), what)
	if (dup_str(j, "host", LINE_OF("host"), &p->host, e) < 0 ||
	    dup_str(j, "user", LINE_OF("user"), &p->user, e) < 0 ||
	    dup_str(j, "key_file", LINE_OF("key_file"), &p->key_file, e) < 0 ||
	    dup_str(j, "workspace", LINE_OF("workspace"), &p->workspace, e) < 0 ||
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
	if (!r && json_get_num(j, "dph", LINE_OF("dph"), &p->dph, e) < 0)
		r = -1;
	if (!r && (p->dph < 0 || p->dph > 1e6)) {
		err_set(e, "%s: \"dph\" must be the price in US dollars per hour, from 0 to 1000000",
			LINE_OF("dph"));
		r = -1;
	}
	if (!r && (json_get_num(j, "rented_at", LINE_OF("rented_at"), &p->rented_at, e) < 0 ||
		   json_get_num(j, "released_at", LINE_OF("released_at"), &p->released_at, e) < 0))
		r = -1;
	if (!r && (p->rented_at < 0 || p->released_at < 0 ||
		   (p->released_at && p->released_at < p->rented_at))) {
		err_set(e, "%s: \"rented_at\" and \"released_at\" are Unix times in seconds, "
			   "released after rented",
			LINE_OF(p->released_at ? "released_at" : "rented_at"));
		r = -1;
	}
	if (!r && (p->dph > 0 || p->rented_at > 0) && !p->vast_id) {
		err_set(e, "%s: \"dph\" and \"rented_at\" are of a rented Vast.ai instance: "
			   "they need \"vast_id\" beside them",
			LINE_OF(p->dph > 0 ? "dph" : "rented_at"));
		r = -1;
	}
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
	if (!r && !strcmp(kind, "slurm"))
		r = slurm_fields(l, j, off, line, p, e);
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
	struct load l = {path, text, {0}, ws, NULL, false};
	json_lines_init(&l.lines, text);
	int rc = json_walk_object(text, len, path, member_cb, &l, e);
	if (rc == 0 && !l.have_workers) {
		err_set(e, "%s: needs a \"workers\" array", path);
		rc = -1;
	}
	if (rc == 0)
		rc = check_via(&l, e);
	free(l.off);
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
		free(w->account);
		free(w->qos);
		free(w->gres);
		free(w->via);
		for (size_t k = 0; w->sbatch_args && w->sbatch_args[k]; k++)
			free(w->sbatch_args[k]);
		free(w->sbatch_args);
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

double workers_rent_hours(const struct worker_def *w, double now_s)
{
	double end = w->released_at > 0 ? w->released_at : now_s;

	return w->vast_id && w->rented_at > 0 && end > w->rented_at
		       ? (end - w->rented_at) / 3600
		       : 0;
}
