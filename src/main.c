/*
 * main.c — hypotop's command line: finds the subcommand and hands over.
 * The table below is the one list of commands; --help prints it.
 */
#include <locale.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hypotop/cmd.h"
#include "hypotop/engine.h"
#include "hypotop/fsutil.h"
#include "hypotop/llm.h"
#include "hypotop/ops.h"
#include "hypotop/sshconn.h"
#include "hypotop/util.h"
#include "hypotop/vcs.h"

#ifndef HYPOTOP_VERSION
#define HYPOTOP_VERSION "0.1.0"
#endif

static const struct command {
	const char *name;
	int (*fn)(int argc, char **argv);
	const char *args, *doc;
} commands[] = {
	{"init", cmd_init,
	 "WORKDIR --source-dir DIR --launch CMD --metric NAME [--goal min|max] [--build CMD]\n"
	 "        [--max-iterations N] [--patience N] [--max-concurrency N] [--job-timeout S]\n"
	 "        [--llm anthropic|openai|command|offline] [--notes TEXT] [--config FILE]",
	 "create a workdir for a training project"},
	{"check", cmd_check, "WORKDIR [--seconds S]",
	 "run the baseline twice for S seconds (default 10; 0: to its end) and say whether\n"
	 "      the metric is read, the seed used, each param applied, and what it writes where"},
	{"run", cmd_run, "[--headless] WORKDIR",
	 "run the engine: with the terminal UI, or with --headless none, logging to stderr"},
	{"status", cmd_status, "WORKDIR [--json]", "counts, best metric, queue and running jobs"},
	{"report", cmd_report, "WORKDIR [--offline]",
	 "write WORKDIR/report.md: the best result, every experiment, what helped and hurt"},
	{"workers", cmd_workers, "WORKDIR [--json]",
	 "each worker of workers.json: state, heartbeat, slots and their nodes, GPU readings"},
	{"worker", cmd_worker,
	 "add WORKDIR NAME --host H [--port P] [--user U] [--key FILE] [--workspace DIR]\n"
	 "        [--slots N] [--gpus 0,1] [--setup CMD] [--known-hosts FILE] "
	 "[--accept-new-host-key]\n"
	 "   or: hypotop worker add WORKDIR NAME --kind slurm --workspace DIR [--partition P]\n"
	 "        [--account A] [--qos Q] [--gres G] [--max-jobs N] [--sbatch-arg ARG]...\n"
	 "        [--via SSH_WORKER]\n"
	 "   or: hypotop worker remove|enable|disable WORKDIR NAME",
	 "add an ssh worker (--kind ssh, the default) or a slurm one to workers.json, remove\n"
	 "      one, or stop and restart new jobs on one; a running engine takes the change at\n"
	 "      once"},
	{"vast", cmd_vast,
	 "WORKDIR instances [--json]\n"
	 "   or: hypotop vast WORKDIR reconcile [--fix]\n"
	 "   or: hypotop vast WORKDIR offers [--gpu NAME] [--num-gpus N] [--max-dph X]\n"
	 "        [--min-reliability R] [--sort dph|dlperf-per-dph] [--limit N] [--json]\n"
	 "   or: hypotop vast WORKDIR rent OFFER_ID [--image IMG] [--disk GB] [--name NAME]\n"
	 "        [--user U] [--key FILE] [--known-hosts FILE] [--workspace DIR] [--slots N]\n"
	 "        [--timeout S]\n"
	 "   or: hypotop vast WORKDIR release NAME [--force]",
	 "Vast.ai (key: VAST_API_KEY or ~/.config/vastai/vast_api_key): the account's\n"
	 "      instances beside workers.json, their SSH drift fixed, offers, renting one as\n"
	 "      an ssh worker, giving it back"},
	{"add", cmd_queue, NULL, NULL},
	{"pause", cmd_queue, NULL, NULL},
	{"resume", cmd_queue, NULL, NULL},
	{"cancel", cmd_queue, NULL, NULL},
	{"prio", cmd_queue, NULL, NULL},
	{"retry", cmd_queue, NULL, NULL},
	{"demo", cmd_demo, "[--headless] [DIR]",
	 "the quickstart example on this machine: no network, no API key"},
	{"config-keys", cmd_config_keys, "[--man]", "every config.json key with its meaning"},
	{"keys", cmd_keys, "[--man]", "the terminal UI's keys and the roles a theme colours"},
};

void cmd_usage(const char *name, int to_stderr)
{
	FILE *f = to_stderr ? stderr : stdout;

	for (size_t i = 0; i < ARRAY_LEN(commands); i++) {
		const struct command *c = &commands[i];
		if (name && strcmp(name, c->name))
			continue;
		int k = op_parse_name(c->name);
		if (k >= 0)
			fprintf(f, "usage: hypotop %s WORKDIR %s\n", c->name,
				op_info((enum op_kind)k)->args);
		else
			fprintf(f, "usage: hypotop %s %s\n", c->name, c->args);
	}
}

int cmd_fail(int status, const char *fmt, ...)
{
	va_list ap;

	fputs("hypotop: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return status;
}

static void help(void)
{
	printf("hypotop — a terminal supervisor for autonomous ML experimentation\n\n"
	       "usage: hypotop WORKDIR          the engine on a workdir, in the terminal UI (or the\n"
	       "                                UI attached to the engine that runs there)\n"
	       "       hypotop COMMAND [ARGS]\n\n");
	for (size_t i = 0; i < ARRAY_LEN(commands); i++) {
		const struct command *c = &commands[i];
		int k = op_parse_name(c->name);
		const char *doc = k >= 0 ? op_info((enum op_kind)k)->doc : c->doc;
		const char *args = k >= 0 ? op_info((enum op_kind)k)->args : c->args;
		printf("  hypotop %s %s%s\n      %s\n", c->name, k >= 0 ? "WORKDIR " : "", args,
		       doc);
	}
	printf("\nExit status: 0 success, 1 run-time failure, 2 bad usage or bad input,\n"
	       "3 a queue command whose engine never answered (outcome unknown).\n"
	       "See hypotop(1) for the workdir, the config keys and the JSON formats.\n");
}

int main(int argc, char **argv)
{
	setlocale(LC_CTYPE, "");
	signal(SIGPIPE, SIG_IGN);
	/* libcurl's global set-up is not thread-safe: once, here, before any thread. */
	if (llm_global_init() < 0)
		return cmd_fail(EXIT_RUNTIME, "cannot initialise libcurl");
	if (sshc_global_init() < 0)
		return cmd_fail(EXIT_RUNTIME, "cannot initialise libssh2");
	atexit(sshc_global_cleanup);
	if (argc < 2) {
		help();
		return EXIT_USAGE;
	}
	if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "help")) {
		help();
		return EXIT_OK;
	}
	if (!strcmp(argv[1], "-V") || !strcmp(argv[1], "--version")) {
		printf("hypotop %s\n", HYPOTOP_VERSION);
		return EXIT_OK;
	}
	for (size_t i = 0; i < ARRAY_LEN(commands); i++) {
		if (strcmp(argv[1], commands[i].name))
			continue;
		for (int a = 2; a < argc; a++)
			if (!strcmp(argv[a], "-h") || !strcmp(argv[a], "--help")) {
				cmd_usage(argv[1], 0);
				return EXIT_OK;
			}
		vcs_init();
		int rc = commands[i].fn(argc - 1, argv + 1);
		vcs_shutdown();
		llm_global_cleanup();
		return rc;
	}
	if (fs_is_dir(argv[1])) {
		/* hypotop WORKDIR: the engine with its terminal UI. */
		if (argc > 2)
			return cmd_fail(EXIT_USAGE, "usage: hypotop WORKDIR (nothing after it); "
						    "'hypotop --help' lists the commands");
		struct engine_opts o = {.workdir = argv[1], .headless = false};
		vcs_init();
		int rc = engine_main(&o);
		vcs_shutdown();
		llm_global_cleanup();
		return rc;
	}
	return cmd_fail(EXIT_USAGE,
			"'%s' is not a command, nor a workdir; 'hypotop --help' lists them",
			argv[1]);
}
