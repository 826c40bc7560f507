/*
 * cmd_worker.c — `hypotop worker add|remove|enable|disable WORKDIR NAME`:
 * workers.json changed through workers_edit.h, and a running engine told.
 * `add` makes an ssh worker, or with --kind slurm a slurm one; each takes
 * only its own options.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hypotop/cmd.h"
#include "hypotop/fsutil.h"
#include "hypotop/workers_edit.h"

enum opt_type { OPT_TEXT, OPT_NUMBER, OPT_KEY_FILE, OPT_PATH, OPT_GPUS, OPT_FLAG, OPT_LIST };

#define VIA_INSTEAD "a slurm worker reaches its login node through --via, the name of an ssh worker"

/*
 * The options of `worker add`, each the key of workers.json it sets, the
 * kinds of worker that take it, and what to use instead on another kind
 * (NULL: the kinds alone are said). OPT_LIST may be given again: each
 * adds an item to its key's array.
 */
static const struct {
	const char *name, *key;
	enum opt_type type;
	const char *kinds, *instead;
} add_opts[] = {
	{"--host", "host", OPT_TEXT, "ssh", VIA_INSTEAD},
	{"--port", "port", OPT_NUMBER, "ssh", VIA_INSTEAD},
	{"--user", "user", OPT_TEXT, "ssh", VIA_INSTEAD},
	{"--key", "key_file", OPT_KEY_FILE, "ssh", VIA_INSTEAD},
	{"--workspace", "workspace", OPT_TEXT, "ssh slurm", NULL},
	{"--slots", "slots", OPT_NUMBER, "ssh", "use --max-jobs"},
	{"--gpus", "gpus", OPT_GPUS, "ssh", "use --gres (as --gres gpu:1)"},
	{"--setup", "setup", OPT_TEXT, "ssh",
	 "put the step in the project's build command, which each job runs first"},
	{"--known-hosts", "known_hosts", OPT_PATH, "ssh", VIA_INSTEAD},
	{"--accept-new-host-key", "accept_new_host_key", OPT_FLAG, "ssh", VIA_INSTEAD},
	{"--partition", "partition", OPT_TEXT, "slurm", NULL},
	{"--account", "account", OPT_TEXT, "slurm", NULL},
	{"--qos", "qos", OPT_TEXT, "slurm", NULL},
	{"--gres", "gres", OPT_TEXT, "slurm", "use --gpus, the GPU indices"},
	{"--max-jobs", "max_jobs", OPT_NUMBER, "slurm", "use --slots"},
	{"--sbatch-arg", "sbatch_args", OPT_LIST, "slurm", NULL},
	{"--via", "via", OPT_TEXT, "slurm", NULL},
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
	case OPT_LIST: {
		cJSON *a = cJSON_CreateArray();
		cJSON_AddItemToArray(a, cJSON_CreateString(val));
		return a;
	}
	case OPT_TEXT:
		break;
	}
	return cJSON_CreateString(val);
}

struct args {
	struct worker_edit ed;
	struct worker_field field[ARRAY_LEN(add_opts)];
	char *given[ARRAY_LEN(add_opts)];
	size_t opt[ARRAY_LEN(add_opts)];       /* the option of each field */
	const char *text[ARRAY_LEN(add_opts)]; /* its text, until the kind is checked */
	const char *workdir;
};

static void args_free(struct args *a)
{
	for (size_t i = 0; i < a->ed.nfield; i++) {
		cJSON_Delete(a->field[i].value);
		free(a->given[i]);
	}
}

/* The value of option name given as arg (--name=V) or in the next argument. */
static const char *option_text(int argc, char **argv, int *i, const char *name, struct err *e)
{
	const char *eq = strchr(argv[*i], '=');

	if (eq)
		return eq + 1;
	if (*i + 1 < argc)
		return argv[++*i];
	err_set(e, "worker add: %s needs a value", name);
	return NULL;
}

/* One option of `worker add` at argv[*i] into a's fields. */
static int parse_option(int argc, char **argv, int *i, struct args *a, struct err *e)
{
	const char *arg = argv[*i], *eq = strchr(arg, '=');
	size_t nl = eq ? (size_t)(eq - arg) : strlen(arg);

	if (a->ed.kind != WORKER_ADD) {
		err_set(e, "worker %s: unknown option %s", verbs[a->ed.kind], arg);
		return -1;
	}
	if (nl == 6 && !strncmp(arg, "--kind", 6)) {
		if (a->ed.worker_kind) {
			err_set(e, "worker add: --kind is given twice");
			return -1;
		}
		const char *kind = option_text(argc, argv, i, "--kind", e);
		if (!kind)
			return -1;
		if (strcmp(kind, "ssh") && strcmp(kind, "slurm")) {
			err_set(e, "worker add: --kind %s: a new worker is ssh (the default) or slurm; "
				   "this machine's is the local worker, there already",
				kind);
			return -1;
		}
		a->ed.worker_kind = kind;
		return 0;
	}
	size_t k = 0;
	while (k < ARRAY_LEN(add_opts) &&
	       (strlen(add_opts[k].name) != nl || strncmp(arg, add_opts[k].name, nl)))
		k++;
	if (k == ARRAY_LEN(add_opts)) {
		err_set(e, "worker add: unknown option %s", arg);
		return -1;
	}
	size_t f = 0;
	while (f < a->ed.nfield && strcmp(a->field[f].key, add_opts[k].key))
		f++;
	if (f < a->ed.nfield && add_opts[k].type != OPT_LIST) {
		err_set(e, "worker add: %s is given twice", add_opts[k].name);
		return -1;
	}
	const char *val = NULL;
	if (add_opts[k].type == OPT_FLAG) {
		if (eq) {
			err_set(e, "worker add: %s takes no value", add_opts[k].name);
			return -1;
		}
	} else if (!(val = option_text(argc, argv, i, add_opts[k].name, e)))
		return -1;
	if (f < a->ed.nfield) { /* an OPT_LIST again: one more item, named by the option alone */
		cJSON_AddItemToArray(a->field[f].value, cJSON_CreateString(val));
		free(a->given[f]);
		a->given[f] = xstrdup(add_opts[k].name);
		a->field[f].option = a->given[f];
		return 0;
	}
	char *given = val ? xasprintf("%s %s", add_opts[k].name, val) : xstrdup(add_opts[k].name);
	/* A list takes its items as they come; other values wait for the kind (values()). */
	cJSON *value = add_opts[k].type == OPT_LIST ? option_value(OPT_LIST, NULL, val, e) : NULL;
	a->ed.nfield++;
	a->given[f] = given;
	a->opt[f] = k;
	a->text[f] = val;
	a->field[f] = (struct worker_field){add_opts[k].key, given, value};
	return 0;
}

/*
 * The JSON value of each option, once it is known to fit the kind: a key
 * file is looked for only on a worker that uses one. Without --via a slurm
 * worker's folder is this machine's, so a relative one is from here.
 */
static int values(struct args *a, bool here, struct err *e)
{
	for (size_t f = 0; f < a->ed.nfield; f++) {
		size_t k = a->opt[f];
		const char *val = a->text[f];
		if (a->field[f].value)
			continue;
		bool from_here = here && !strcmp(add_opts[k].key, "workspace") && val[0];
		a->field[f].value =
			option_value(from_here ? OPT_PATH : add_opts[k].type, add_opts[k].name, val, e);
		if (!a->field[f].value)
			return -1;
	}
	return 0;
}

/* The options given fit the kind of worker added, its required ones are there: their values. */
static int check_kind(struct args *a, struct err *e)
{
	const char *kind = a->ed.worker_kind;
	bool slurm = !strcmp(kind, "slurm");
	int workspace = -1, via = -1;

	for (size_t f = 0; f < a->ed.nfield; f++) {
		size_t k = a->opt[f];
		if (strstr(add_opts[k].kinds, kind)) {
			if (!strcmp(add_opts[k].key, "workspace"))
				workspace = (int)f;
			via = !strcmp(add_opts[k].key, "via") ? (int)f : via;
			continue;
		}
		if (slurm)
			err_set(e, "worker add: %s does not apply to a slurm worker: %s",
				add_opts[k].name, add_opts[k].instead);
		else if (add_opts[k].instead)
			err_set(e, "worker add: %s is for a slurm worker: add --kind slurm, or for "
				   "an ssh worker %s",
				add_opts[k].name, add_opts[k].instead);
		else
			err_set(e, "worker add: %s is for a slurm worker: add --kind slurm, or leave "
				   "it out for an ssh worker",
				add_opts[k].name);
		return -1;
	}
	bool host = false;
	for (size_t f = 0; f < a->ed.nfield; f++)
		host |= !strcmp(a->field[f].key, "host");
	if (!slurm && !host) {
		err_set(e, "worker add: --host is needed: the machine to reach over ssh (a name "
			   "or an address)");
		return -1;
	}
	if (slurm && workspace < 0) {
		err_set(e, "worker add: --workspace is needed for a slurm worker: a folder on a file "
			   "system its compute nodes share");
		return -1;
	}
	return values(a, slurm && via < 0, e);
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
		if (argv[i][0] == '-') {
			if (parse_option(argc, argv, &i, a, e) < 0)
				return -1;
			continue;
		}
		if (npos == 2) {
			err_set(e, "worker %s: unexpected argument \"%s\"", verbs[v], argv[i]);
			return -1;
		}
		pos[npos++] = argv[i];
	}
	if (npos != 2) {
		err_set(e, "worker %s: expected WORKDIR and NAME, got %d argument%s", verbs[v], npos,
			npos == 1 ? "" : "s");
		return -1;
	}
	a->workdir = pos[0];
	a->ed.name = pos[1];
	if (a->ed.kind != WORKER_ADD)
		return 0;
	if (!a->ed.worker_kind)
		a->ed.worker_kind = "ssh";
	return check_kind(a, e);
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
