/* fuzz_params_yaml.c — a param file in YAML: read, rewrite, read back. */
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_params("hparams.yaml", data, size);
	return 0;
}
