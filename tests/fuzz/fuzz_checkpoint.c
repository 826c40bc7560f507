/*
 * fuzz_checkpoint.c — engine/checkpoint.json as a person may edit it
 * (priorities changed, specs removed) while no engine runs.
 */
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_workdir_reset();
	fuzz_workdir_put("engine/checkpoint.json", data, size);
	fuzz_workdir_load("engine/checkpoint.json", false);
	return 0;
}
