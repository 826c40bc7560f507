/*
 * cmd_run.c — `hypotop run [--headless] WORKDIR`: the engine, with the
 * terminal UI (as `hypotop WORKDIR`) or, headless, logging to stderr.
 */
#include <stdio.h>
#include <string.h>

#include "hypotop/cmd.h"
#include "hypotop/engine.h"

int cmd_run(int argc, char **argv)
{
	struct engine_opts o = {0};

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--headless"))
			o.headless = true;
		else if (argv[i][0] == '-' || o.workdir) {
			cmd_usage("run", 1);
			return EXIT_USAGE;
		} else
			o.workdir = argv[i];
	}
	if (!o.workdir) {
		cmd_usage("run", 1);
		return EXIT_USAGE;
	}
	return engine_main(&o);
}
