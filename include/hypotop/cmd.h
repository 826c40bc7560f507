/*
 * cmd.h — the subcommands of the hypotop binary (SPEC §3). Each takes the
 * arguments after its name (argv[0] is the subcommand) and returns an exit
 * status: 0 success, 1 run-time failure, 2 bad usage or bad input, 3 (a
 * queue command) the engine took the request and never answered.
 */
#ifndef HYPOTOP_CMD_H
#define HYPOTOP_CMD_H

int cmd_init(int argc, char **argv);
int cmd_check(int argc, char **argv); /* a project tried before the loop */
int cmd_run(int argc, char **argv);
int cmd_status(int argc, char **argv);
int cmd_report(int argc, char **argv);
int cmd_queue(int argc, char **argv); /* add, pause, resume, cancel, prio, retry */
int cmd_config_keys(int argc, char **argv);
int cmd_keys(int argc, char **argv); /* the UI's keys and theme roles */
int cmd_demo(int argc, char **argv);
int cmd_worker(int argc, char **argv);  /* add, remove, enable, disable */
int cmd_workers(int argc, char **argv); /* the workers and what they do */
int cmd_vast(int argc, char **argv);    /* Vast.ai: instances, reconcile, offers, rent, release */

/* Print "hypotop: MSG" to stderr; returns status. */
int cmd_fail(int status, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Usage line of a subcommand, for errors and --help. */
void cmd_usage(const char *name, int to_stderr);

#endif
