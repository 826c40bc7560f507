/* fuzz_workers.c — workers.json, the worker registry. */
#include "fuzz.h"

#include <stdlib.h>
#include <string.h>

#include "hypotop/workers.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct err e = {{0}};
	struct workers ws;
	char *path = fuzz_path("workers.json");

	fuzz_put("workers.json", data, size);
	if (workers_load(path, &ws, &e) < 0) {
		fuzz_need_msg(&e, "workers.json");
	} else {
		for (size_t i = 0; i < ws.len; i++) {
			const struct worker_def *w = &ws.v[i];
			if (!w->name || !w->kind || w->slots < 1)
				fuzz_fail("workers.json: worker %zu accepted without a name, a "
					  "kind or a slot",
					  i);
			if (!strcmp(w->kind, "slurm") &&
			    (!w->workspace || w->host ||
			     (w->sbatch_args && w->sbatch_args[w->nsbatch_args])))
				fuzz_fail("workers.json: slurm worker %zu accepted without a "
					  "workspace, with a host, or with sbatch_args unended",
					  i);
		}
		workers_free(&ws);
	}
	free(path);
	return 0;
}
