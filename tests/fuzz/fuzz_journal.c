/*
 * fuzz_journal.c — engine/journal.jsonl as a workdir replays it on open:
 * the header, event lines, a torn last line, nodes and run state.
 */
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_workdir_reset();
	fuzz_workdir_put("engine/journal.jsonl", data, size);
	fuzz_workdir_load("engine/journal.jsonl", false);
	return 0;
}
