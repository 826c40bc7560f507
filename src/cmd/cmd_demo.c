/*
 * cmd_demo.c — `hypotop demo [--headless] [DIR]`: the quickstart on this
 * machine, no network, no key. The example (built into the binary) is
 * unpacked into a fresh git repository, a workdir is made beside it, and
 * the engine runs the loop there, in the terminal UI unless --headless or
 * there is no terminal.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hypotop/cmd.h"
#include "hypotop/config.h"
#include "hypotop/demo.h"
#include "hypotop/engine.h"
#include "hypotop/fsutil.h"
#include "hypotop/json.h"
#include "hypotop/vcs.h"
#include "hypotop/workdir.h"

static int unpack(const char *src, struct err *e)
{
	if (fs_mkdir_p(src, 0755, e) < 0)
		return -1;
	for (const struct demo_file *f = demo_files; f->name; f++) {
		if (!strcmp(f->name, "hypotop.json"))
			continue; /* the config goes to the workdir, not the project */
		char *path = path_join(src, f->name);
		int rc = fs_write_atomic(path, f->data, f->len, 0644, e);
		free(path);
		if (rc < 0)
			return -1;
	}
	return 0;
}

static const struct demo_file *config_file(void)
{
	for (const struct demo_file *f = demo_files; f->name; f++)
		if (!strcmp(f->name, "hypotop.json"))
			return f;
	return NULL;
}

int cmd_demo(int argc, char **argv)
{
	const char *dir = NULL;
	char *made = NULL;
	struct err e = {{0}};
	int status = EXIT_RUNTIME;
	bool headless = false;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--headless")) {
			headless = true;
			continue;
		}
		if (argv[i][0] == '-' || dir) {
			cmd_usage("demo", 1);
			return EXIT_USAGE;
		}
		dir = argv[i];
	}
	/* In a pipe or in CI the demo still runs: `make demo` must work anywhere. */
	if (!headless && (!isatty(STDIN_FILENO) || !isatty(STDOUT_FILENO))) {
		fprintf(stderr, "hypotop: demo: no terminal on stdin and stdout: running headless, "
				"with progress lines instead of the terminal UI\n");
		headless = true;
	}
	if (!dir) {
		const char *tmp = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
		made = xasprintf("%s/hypotop-demo.XXXXXX", tmp);
		if (!mkdtemp(made)) {
			cmd_fail(EXIT_RUNTIME, "%s: %s", made, strerror(errno));
			free(made);
			return EXIT_RUNTIME;
		}
		dir = made;
	} else if (fs_exists(dir)) {
		return cmd_fail(EXIT_USAGE, "demo: %s exists; name a new folder", dir);
	}
	char *src = path_join(dir, "project"), *wd = path_join(dir, "workdir");
	char oid[VCS_OID_HEX];
	const struct demo_file *cf = config_file();
	cJSON *doc = cf ? json_parse(cf->data, cf->len, "hypotop.json", &e) : NULL;
	if (!doc || unpack(src, &e) < 0 ||
	    vcs_create_repo(src, "quickstart: a tiny training run\n", oid, &e) < 0) {
		cmd_fail(EXIT_RUNTIME, "demo: %s", e.msg[0] ? e.msg : "the example is missing");
		goto out;
	}
	char *abs = path_real(src, &e);
	cJSON_AddStringToObject(doc, "source_dir", abs ? abs : src);
	free(abs);
	config_fill_defaults(doc);
	if (workdir_create(wd, doc, oid, &e) < 0) {
		cmd_fail(EXIT_RUNTIME, "demo: %s", e.msg);
		goto out;
	}
	fprintf(stderr, "hypotop: demo: the project is %s (a git repository), the workdir %s\n",
		src, wd);
	struct engine_opts o = {.workdir = wd, .headless = headless};
	status = engine_main(&o);
	fprintf(stderr,
		"\nhypotop: demo: see 'hypotop status %s', %s/summary.md and "
		"%s/master_table.tsv;\n"
		"  branches: git -C %s branch --list 'hypotop/*'\n",
		wd, wd, wd, src);
out:
	cJSON_Delete(doc);
	free(src);
	free(wd);
	free(made);
	return status;
}
