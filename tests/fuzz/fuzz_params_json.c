/* fuzz_params_json.c — a param file in JSON: read, rewrite, read back. */
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_params("hparams.json", data, size);
	return 0;
}
