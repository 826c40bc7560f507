/* cmd_init.c — `hypotop init`: a new workdir from flags and/or a config file. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hypotop/cmd.h"
#include "hypotop/noise.h"
#include "hypotop/config.h"
#include "hypotop/fsutil.h"
#include "hypotop/json.h"
#include "hypotop/launch.h"
#include "hypotop/params.h"
#include "hypotop/vcs.h"
#include "hypotop/workdir.h"

/* Flags that set a config key; the key's own validation judges the value. */
static const struct flag {
	const char *name, *key;
	bool number;
} flags[] = {
	{"source-dir", "source_dir", false},     {"launch", "launch", false},
	{"metric", "metric", false},             {"goal", "goal", false},
	{"build", "build", false},               {"max-iterations", "max_iterations", true},
	{"patience", "patience", true},          {"max-concurrency", "max_concurrency", true},
	{"job-timeout", "job_timeout", true},    {"llm", "llm.provider", false},
	{"notes", "notes", false},
};

static void set_key(cJSON *doc, const char *key, cJSON *v)
{
	const char *dot = strchr(key, '.');

	if (dot) {
		char parent[64];
		snprintf(parent, sizeof parent, "%.*s", (int)(dot - key), key);
		cJSON *p = cJSON_GetObjectItemCaseSensitive(doc, parent);
		if (!cJSON_IsObject(p)) {
			cJSON_DeleteItemFromObjectCaseSensitive(doc, parent);
			p = cJSON_AddObjectToObject(doc, parent);
		}
		doc = p;
		key = dot + 1;
	}
	cJSON_DeleteItemFromObjectCaseSensitive(doc, key);
	cJSON_AddItemToObject(doc, key, v);
}

/*
 * Each search-space param that is no {NAME} of the launch is written into
 * the param file, so it must be there at the baseline's commit: a name the
 * file lacks would be a setting the program never reads.
 */
static int check_param_file(const struct config *cfg, const char *what, const char *oid,
			    struct err *e)
{
	const cJSON *f = cJSON_GetObjectItemCaseSensitive(cfg->search_space, "file");
	const cJSON *params = cJSON_GetObjectItemCaseSensitive(cfg->search_space, "params");
	cJSON *values = NULL;
	char *text = NULL;
	int rc = -1;

	if (!cJSON_IsString(f))
		return 0;
	if (vcs_read_file(cfg->source_dir, oid, f->valuestring, &text, NULL, e) < 0) {
		err_set(e, "%s: search_space.file: \"%s\" is not in the baseline's commit %.12s of "
			   "%s; commit it there, or fix search_space.file (a path from the top of "
			   "the repository)",
			what, f->valuestring, oid, cfg->source_dir);
		return -1;
	}
	if (params_read(f->valuestring, text, &values, e) < 0) {
		err_prefix(e, "%s: search_space.file", what);
		goto out;
	}
	for (const cJSON *m = params ? params->child : NULL; m; m = m->next)
		if (!launch_uses(cfg->launch, m->string) &&
		    !cJSON_GetObjectItemCaseSensitive(values, m->string)) {
			err_set(e, "%s: search_space.params.%s: %s (at commit %.12s) has no \"%s\"; "
				   "add it to the file and commit it, or pass it as a flag with {%s} "
				   "in launch and a \"default\"",
				what, m->string, f->valuestring, oid, m->string, m->string);
			goto out;
		}
	rc = 0;
out:
	cJSON_Delete(values);
	free(text);
	return rc;
}

/* "cd 'SUB' && CMD": what ran in SUB, from the top of the repository. */
static void run_in(cJSON *doc, const char *key, const char *sub)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(doc, key);
	struct buf b;

	if (!cJSON_IsString(v))
		return;
	buf_init(&b);
	buf_adds(&b, "cd ");
	/* A brace of the folder's name is text, not a {NAME} of the launch. */
	struct buf q;
	buf_init(&q);
	sh_quote(&q, sub);
	for (const char *p = q.data; *p; p++) {
		if (*p == '{' || *p == '}')
			buf_addc(&b, *p);
		buf_addc(&b, *p);
	}
	buf_free(&q);
	buf_printf(&b, " && %s", v->valuestring);
	set_key(doc, key, cJSON_CreateString(b.data));
	buf_free(&b);
}

/*
 * Every experiment is a commit and a checkout of the whole repository, so
 * the source folder is the top of a work tree. A folder inside one is
 * taken as the top with the commands run in the folder: source_dir
 * becomes the top, build and launch start with "cd SUB &&", and the param
 * file is named from the top; init says so. Its .git is refused.
 */
static int source_top(cJSON *doc, const char *dir, struct err *e)
{
	char *real = path_real(dir, e), *top = real ? vcs_top(real) : NULL;
	size_t n = top ? strlen(top) : 0;
	int rc = 0;

	e->msg[0] = '\0';
	if (!top || !strcmp(real, top)) {
		/* vcs_head says what is wrong, if anything */
	} else if (!strncmp(real, top, n) && !strcmp(real + n, "/.git")) {
		err_set(e, "--source-dir %s: the repository's .git folder; give its work tree: "
			   "--source-dir %s",
			dir, top);
		rc = -1;
	} else if (!strncmp(real, top, n) && real[n] == '/') {
		const char *sub = real + n + 1;
		cJSON *ss = cJSON_GetObjectItemCaseSensitive(doc, "search_space");
		const cJSON *f = cJSON_GetObjectItemCaseSensitive(ss, "file");
		run_in(doc, "launch", sub);
		run_in(doc, "build", sub);
		if (cJSON_IsString(f)) {
			char *path = xasprintf("%s/%s", sub, f->valuestring);
			cJSON_ReplaceItemInObjectCaseSensitive(ss, "file", cJSON_CreateString(path));
			free(path);
		}
		set_key(doc, "source_dir", cJSON_CreateString(top));
		fprintf(stderr, "hypotop: %s is the folder %s of the git repository %s: the workdir "
				"uses the repository (experiments commit and check out all of it), "
				"build and launch run in %s (\"cd %s && ...\"), and search_space.file "
				"and the paths of changes are named from its top\n",
			dir, sub, top, sub, sub);
	}
	free(top);
	free(real);
	return rc;
}

int cmd_init(int argc, char **argv)
{
	struct option longopts[ARRAY_LEN(flags) + 2];
	const char *config_file = NULL;
	char *config_text = NULL;
	bool given[ARRAY_LEN(flags)] = {false};
	struct err e = {{0}};
	cJSON *doc = NULL;
	int status = EXIT_USAGE;

	for (size_t i = 0; i < ARRAY_LEN(flags); i++)
		longopts[i] = (struct option){flags[i].name, required_argument, NULL, (int)i};
	longopts[ARRAY_LEN(flags)] = (struct option){"config", required_argument, NULL, 'c'};
	longopts[ARRAY_LEN(flags) + 1] = (struct option){0};

	/* First pass: the config file, so flags override it. */
	optind = 1;
	opterr = 0;
	for (int c; (c = getopt_long(argc, argv, "", longopts, NULL)) != -1;)
		if (c == 'c')
			config_file = optarg;
	if (config_file) {
		size_t len;
		config_text = fs_read_max(config_file, FS_MAX_CONFIG, &len, &e);
		doc = config_text ? json_parse(config_text, len, config_file, &e) : NULL;
		if (!doc) {
			free(config_text);
			return cmd_fail(EXIT_USAGE, "--config: %s", e.msg);
		}
		if (!cJSON_IsObject(doc)) {
			cJSON_Delete(doc);
			free(config_text);
			return cmd_fail(EXIT_USAGE, "%s: the configuration must be a JSON object",
					config_file);
		}
	} else {
		doc = cJSON_CreateObject();
	}
	optind = 1;
	opterr = 1;
	for (int c; (c = getopt_long(argc, argv, "", longopts, NULL)) != -1;) {
		if (c == 'c')
			continue;
		if (c == '?' || c < 0 || (size_t)c >= ARRAY_LEN(flags)) {
			cmd_usage("init", 1);
			goto out;
		}
		const struct flag *f = &flags[c];
		given[c] = true;
		double d;
		if (f->number) {
			if (parse_double(optarg, &d) < 0) {
				cmd_fail(EXIT_USAGE, "--%s: \"%s\" is not a number", f->name, optarg);
				goto out;
			}
			set_key(doc, f->key, cJSON_CreateNumber(d));
		} else {
			set_key(doc, f->key, cJSON_CreateString(optarg));
		}
	}
	if (optind + 1 != argc) {
		cmd_fail(EXIT_USAGE, optind == argc ? "init: name the new workdir"
						    : "init: one workdir only");
		cmd_usage("init", 1);
		goto out;
	}
	const char *workdir = argv[optind];

	/* The source tree: stored as an absolute path, and its HEAD is the baseline. */
	cJSON *sd = cJSON_GetObjectItemCaseSensitive(doc, "source_dir");
	if (!cJSON_IsString(sd)) {
		cmd_fail(EXIT_USAGE, "init: --source-dir is required (the training project's git "
				     "repository)");
		goto out;
	}
	char oid[VCS_OID_HEX];
	bool dirty = false;
	char *asked = xstrdup(sd->valuestring);
	int top_rc = source_top(doc, asked, &e);
	free(asked);
	sd = cJSON_GetObjectItemCaseSensitive(doc, "source_dir");
	if (top_rc < 0 || vcs_head(sd->valuestring, oid, &dirty, &e) < 0) {
		cmd_fail(EXIT_USAGE, "%s", e.msg);
		goto out;
	}
	/* Branches are named by node id: two workdirs on one repository would
	 * take each other's. */
	int nb = vcs_count_branches(sd->valuestring, "hypotop/", &e);
	if (nb != 0) {
		if (nb > 0)
			cmd_fail(EXIT_USAGE, "--source-dir %s: already has %d hypotop/* branches, from "
					     "another workdir; give each workdir its own clone (git "
					     "clone %s %s-2) or delete them (git branch -D "
					     "$(git branch --list 'hypotop/*'))",
				 sd->valuestring, nb, sd->valuestring, sd->valuestring);
		else
			cmd_fail(EXIT_USAGE, "%s", e.msg);
		goto out;
	}
	char *abs = path_real(sd->valuestring, &e);
	if (!abs) {
		cmd_fail(EXIT_USAGE, "--source-dir %s", e.msg);
		goto out;
	}
	set_key(doc, "source_dir", cJSON_CreateString(abs));
	free(abs);

	struct config cfg;
	cJSON *check = cJSON_Duplicate(doc, true);
	if (config_from_json(&cfg, check, config_file ? config_file : "init", config_text, &e) <
	    0) {
		cJSON_Delete(check);
		/* Name the flag where one set the key. */
		for (size_t i = 0; i < ARRAY_LEN(flags); i++) {
			char quoted[64];
			snprintf(quoted, sizeof quoted, "\"%s\"", flags[i].key);
			if (given[i] && strstr(e.msg, quoted)) {
				err_prefix(&e, "--%s", flags[i].name);
				break;
			}
		}
		cmd_fail(EXIT_USAGE, "%s", e.msg);
		goto out;
	}
	if (check_param_file(&cfg, config_file ? config_file : "init", oid, &e) < 0) {
		config_free(&cfg);
		cmd_fail(EXIT_USAGE, "%s", e.msg);
		goto out;
	}
	config_free(&cfg);
	config_fill_defaults(doc);
	if (workdir_create(workdir, doc, oid, &e) < 0) {
		/* An existing folder is bad input; anything else failed at run time. */
		status = strstr(e.msg, "already exists") ? EXIT_USAGE : EXIT_RUNTIME;
		cmd_fail(status, "%s", e.msg);
		goto out;
	}
	if (dirty)
		fprintf(stderr, "hypotop: warning: %s has uncommitted changes; the baseline is "
				"commit %.12s without them\n",
			cJSON_GetObjectItemCaseSensitive(doc, "source_dir")->valuestring, oid);
	printf("created %s: baseline n0000 at %.12s queued\n", workdir, oid);
	const cJSON *seeds = cJSON_GetObjectItemCaseSensitive(
		cJSON_GetObjectItemCaseSensitive(doc, "noise"), "seeds");
	if (!cJSON_IsNumber(seeds) || seeds->valuedouble <= 1)
		fprintf(stderr, "hypotop: warning: " NOISE_ONE_SEED " (\"noise\": {\"seeds\": 3})\n");
	status = EXIT_OK;
out:
	cJSON_Delete(doc);
	free(config_text);
	return status;
}

int cmd_config_keys(int argc, char **argv)
{
	struct buf b;
	bool man = argc == 2 && !strcmp(argv[1], "--man");

	if (argc > 2 || (argc == 2 && !man)) {
		cmd_usage("config-keys", 1);
		return EXIT_USAGE;
	}
	buf_init(&b);
	config_print_reference(&b, man);
	fputs(b.data, stdout);
	buf_free(&b);
	return EXIT_OK;
}
