/*
 * workers_edit.h — changing workers.json: `hypotop worker add|remove|
 * enable|disable` and the UI's workers pane go through here alone.
 *
 * The file is read and validated, changed, validated whole again with the
 * rules of workers_load (a bad value is refused naming the option that
 * gave it), written back atomically in one layout (one key per line, the
 * other workers' keys and values as they were), and a running engine is
 * asked to read it again. Edits are serialised among themselves by a lock
 * on the workdir's folder; the engine only reads the file, so it keeps
 * engine/lock: with no engine, the edit holds engine/lock too, so that
 * none starts half-way through it.
 */
#ifndef HYPOTOP_WORKERS_EDIT_H
#define HYPOTOP_WORKERS_EDIT_H

#include <cjson/cJSON.h>
#include <stddef.h>

#include "hypotop/util.h"

/* WORKER_SET: the fields' keys set on an existing worker (hypotop vast reconcile). */
enum worker_edit_kind { WORKER_ADD, WORKER_REMOVE, WORKER_ENABLE, WORKER_DISABLE, WORKER_SET };

/* One key of a new worker, from the option that gave it ("--port 70000"). */
struct worker_field {
	const char *key;
	const char *option;
	cJSON *value; /* the caller's */
};

struct worker_edit {
	enum worker_edit_kind kind;
	const char *name;
	const char *worker_kind; /* WORKER_ADD: "ssh" or "slurm"; NULL: "ssh" */
	/* WORKER_ADD: the new worker's keys, after its name and kind; WORKER_SET: the keys changed. */
	const struct worker_field *field;
	size_t nfield;
};

/*
 * Ask the engine running on workdir to read workers.json again: 0 applied,
 * 1 no engine listens, -1 refused (e says why), 2 asked and never
 * answered. NULL where one is asked for: over the control socket.
 */
typedef int (*workers_reload_fn)(void *ctx, const char *workdir, struct err *e);

enum worker_outcome {
	WORKERS_NO_ENGINE, /* written: an engine reads it when it starts */
	WORKERS_APPLIED,   /* written, and the running engine took it */
	WORKERS_UNCHANGED, /* it was so already: nothing written */
	WORKERS_NO_ANSWER, /* written; the engine never answered (e says more) */
};

/*
 * Make the edit. 0 with *out; EXIT_USAGE for bad input or an engine that
 * refused the change (e names the file, line or option and the fix; the
 * file is as it was); EXIT_RUNTIME when the file cannot be written or the
 * workdir stays locked.
 */
int workers_change(const char *workdir, const struct worker_edit *ed, workers_reload_fn reload,
		   void *ctx, enum worker_outcome *out, struct err *e);

/* How long an edit waits for the locks, and for the engine's answer. */
#define WORKERS_WAIT_MS 10000

#endif
