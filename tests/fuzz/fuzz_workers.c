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
		for (size_t i = 0; i < ws.len; i++)
			if (!ws.v[i].name || !ws.v[i].kind || ws.v[i].slots < 1)
				fuzz_fail("workers.json: worker %zu accepted without a name, a "
					  "kind or a slot",
					  i);
		workers_free(&ws);
	}
	free(path);
	return 0;
}
