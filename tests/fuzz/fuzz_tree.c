/* fuzz_tree.c — engine/tree.json, the checkpointed tree and run counters. */
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_workdir_reset();
	fuzz_workdir_put("engine/tree.json", data, size);
	fuzz_workdir_load("engine/tree.json", false);
	return 0;
}
