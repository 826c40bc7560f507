/*
 * attach.h — the terminal UI on a workdir whose engine runs elsewhere
 * (`hypotop run --headless` under nohup or systemd): what `hypotop
 * WORKDIR` opens when an engine holds engine/lock (SPEC §9).
 *
 * The same panes and keys as the engine's own UI; the model is read from
 * the workdir's files as the engine writes them, and a person's actions
 * reach the engine over its control socket (ctl.h), as queue commands do.
 * Detaching leaves the engine and its jobs running.
 */
#ifndef HYPOTOP_ATTACH_H
#define HYPOTOP_ATTACH_H

#include <sys/types.h>

/*
 * Attach to the engine (pid) of the workdir at path (absolute) on this
 * terminal, until the person detaches. Returns the exit status.
 */
int attach_main(const char *path, pid_t engine);

#endif
