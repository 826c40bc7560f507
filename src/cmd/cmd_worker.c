/*
 * cmd_worker.c — `hypotop worker add|remove|enable|disable WORKDIR NAME`:
 * workers.json changed through workers_edit.h, and a running engine told.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hypotop/cmd.h"
#include "hypotop/fsutil.h"
#include "hypotop/workers_edit.h"

enum opt_type { OPT_TEXT, OPT_NUMBER, OPT_KEY_FILE, OPT_PATH, OPT_GPUS, OPT_FLAG };

/* The options of `worker add`, each the key of workers.json it sets. */
static const struct {
	const char *name, *key;
	enum opt_type type;
} add_opts[] = {
	{"--host", "host", OPT_TEXT},
	{"--port", "port", OPT_NUMBER},
	{"--user", "user", OPT_TEXT},
	{"--key", "key_file", OPT_KEY_FILE},
	{"--workspace", "workspace", OPT_TEXT},
	{"--slots", "slots", OPT_NUMBER},
	{"--gpus", "gpus", OPT_GPUS},
	{"--setup", "setup", OPT_TEXT},
	{"--known-hosts", "known_hosts", OPT_PATH},
	{"--accept-new-host-key", "accept_new_host_key", OPT_FLAG},
};

static const char *const verbs[] = {
	[WORKER_ADD] = "add",
	[WORKER_REMOVE] = "remove",
	[WORKER_ENABLE] = "enable",
	[WORKER_DISABLE] = "disable",
};

/* A path made absolute against the current folder; caller frees. */
static char *absolute(const char *p)
{
	char cwd[4096];

	if (p[0] == '/' || !getcwd(cwd, sizeof cwd))
		return xstrdup(p);
	return path_join(cwd, p);
}

/*
 * The JSON value an option's text gives. A value that is not what the key
 * takes goes in as text, for the file's own rules to refuse by name.
 */
static cJSON *option_value(enum opt_type type, const char *opt, const char *val, struct err *e)
{
	long n;

	switch (type) {
	case OPT_NUMBER:
		return parse_long(val, -(1L << 40), 1L << 40, &n) == 0
			       ? cJSON_CreateNumber((double)n)
			       : cJSON_CreateString(val);
	case OPT_KEY_FILE: {
		char *real = path_real(val, e);
		if (!real || access(real, R_OK) < 0) {
			err_set(e, "worker add: %s %s: no readable file there; give the private key hypotop "
				   "logs in with (or leave --key out to use ssh-agent)",
				opt, val);
			free(real);
			return NULL;
		}
		cJSON *v = cJSON_CreateString(real);
		free(real);
		return v;
	}
	case OPT_PATH: {
		char *abs = absolute(val);
		cJSON *v = cJSON_CreateString(abs);
		free(abs);
		return v;
	}
	case OPT_GPUS: {
		cJSON *a = cJSON_CreateArray();
		char *copy = xstrdup(val), *save = NULL;
		for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save))
			cJSON_AddItemToArray(a, parse_long(str_trim(t), 0, 1L << 20, &n) == 0
							? cJSON_CreateNumber((double)n)
							: cJSON_CreateString(t));
		free(copy);
		return a;
	}
	case OPT_FLAG:
		return cJSON_CreateTrue();
	case OPT_TEXT:
		break;
	}
	return cJSON_CreateString(val);
}

struct args {
	struct worker_edit ed;
	struct worker_field field[ARRAY_LEN(add_opts)];
	char *given[ARRAY_LEN(add_opts)];
	const char *workdir;
};

static void args_free(struct args *a)
{
	for (size_t i = 0; i < a->ed.nfield; i++) {
		cJSON_Delete(a->field[i].value);
		free(a->given[i]);
	}
}

static int parse_args(int argc, char **argv, struct args *a, struct err *e)
{
	const char *pos[2];
	int npos = 0;

	memset(a, 0, sizeof *a);
	if (argc < 2) {
		err_set(e, "worker: say what to do: add, remove, enable or disable");
		return -1;
	}
	size_t v = 0;
	while (v < ARRAY_LEN(verbs) && strcmp(verbs[v], argv[1]))
		v++;
	if (v == ARRAY_LEN(verbs)) {
		err_set(e, "worker: \"%s\" is not add, remove, enable or disable", argv[1]);
		return -1;
	}
	a->ed.kind = (enum worker_edit_kind)v;
	a->ed.field = a->field;
	for (int i = 2; i < argc; i++) {
		const char *arg = argv[i];
		if (arg[0] != '-') {
			if (npos == 2) {
				err_set(e, "worker %s: unexpected argument \"%s\"", verbs[v], arg);
				return -1;
			}
			pos[npos++] = arg;
			continue;
		}
		const char *eq = strchr(arg, '=');
		size_t nl = eq ? (size_t)(eq - arg) : strlen(arg);
		size_t k = 0;
		while (k < ARRAY_LEN(add_opts) &&
		       (strlen(add_opts[k].name) != nl || strncmp(arg, add_opts[k].name, nl)))
			k++;
		if (k == ARRAY_LEN(add_opts) || a->ed.kind != WORKER_ADD) {
			err_set(e, "worker %s: unknown option %s", verbs[v], arg);
			return -1;
		}
		for (size_t f = 0; f < a->ed.nfield; f++)
			if (!strcmp(a->field[f].key, add_opts[k].key)) {
				err_set(e, "worker add: %s is given twice", add_opts[k].name);
				return -1;
			}
		const char *val = NULL;
		if (add_opts[k].type == OPT_FLAG) {
			if (eq) {
				err_set(e, "worker add: %s takes no value", add_opts[k].name);
				return -1;
			}
		} else if (eq)
			val = eq + 1;
		else if (i + 1 < argc)
			val = argv[++i];
		else {
			err_set(e, "worker add: %s needs a value", add_opts[k].name);
			return -1;
		}
		char *given = val ? xasprintf("%s %s", add_opts[k].name, val)
				  : xstrdup(add_opts[k].name);
		cJSON *value = option_value(add_opts[k].type, add_opts[k].name, val, e);
		if (!value) {
			free(given);
			return -1;
		}
		size_t f = a->ed.nfield++;
		a->given[f] = given;
		a->field[f] = (struct worker_field){add_opts[k].key, given, value};
	}
	if (npos != 2) {
		err_set(e, "worker %s: expected WORKDIR and NAME, got %d argument%s", verbs[v], npos,
			npos == 1 ? "" : "s");
		return -1;
	}
	a->workdir = pos[0];
	a->ed.name = pos[1];
	bool host = false;
	for (size_t f = 0; f < a->ed.nfield; f++)
		host |= !strcmp(a->field[f].key, "host");
	if (a->ed.kind == WORKER_ADD && !host) {
		err_set(e, "worker add: --host is needed: the machine to reach over ssh (a name "
			   "or an address)");
		return -1;
	}
	return 0;
}

int cmd_worker(int argc, char **argv)
{
	struct args a;
	struct err e = {{0}};
	enum worker_outcome out;

	if (parse_args(argc, argv, &a, &e) < 0) {
		args_free(&a);
		cmd_fail(EXIT_USAGE, "%s", e.msg);
		cmd_usage("worker", 1);
		return EXIT_USAGE;
	}
	int status = workers_change(a.workdir, &a.ed, NULL, NULL, &out, &e);
	const char *verb = verbs[a.ed.kind];
	args_free(&a);
	if (status != EXIT_OK)
		return cmd_fail(status, "worker %s: %s", verb, e.msg);
	if (out == WORKERS_UNCHANGED) {
		printf("worker %s is %sd already; workers.json is unchanged\n", a.ed.name,
		       a.ed.kind == WORKER_ENABLE ? "enable" : "disable");
		return EXIT_OK;
	}
	printf("worker %s %s in %s/workers.json\n", a.ed.name,
	       a.ed.kind == WORKER_ADD      ? "added"
	       : a.ed.kind == WORKER_REMOVE ? "removed"
	       : a.ed.kind == WORKER_ENABLE ? "enabled"
					    : "disabled",
	       a.workdir);
	switch (out) {
	case WORKERS_APPLIED:
		printf("the running engine has taken the change\n");
		break;
	case WORKERS_NO_ENGINE:
		printf("no engine runs on %s: the change applies when it next starts\n",
		       a.workdir);
		break;
	default:
		return cmd_fail(EXIT_UNKNOWN, "%s; whether the running engine took the change is "
					      "unknown: the file is written, and 'hypotop workers' "
					      "shows what the engine uses",
				e.msg);
	}
	return EXIT_OK;
}
