/* fuzz_params_py.c — a param file in Python constants: read, rewrite, read back. */
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_params("hparams.py", data, size);
	return 0;
}
