/*
 * fuzz.h — what the libFuzzer harnesses of tests/fuzz share (common.c).
 *
 * Each harness fuzz_NAME.c feeds one parser of outside input and checks
 * what every parser promises (SPEC §12): no crash, no leak, and a refusal
 * that says why. Harnesses that need files use one private temp folder,
 * made on first use and removed at exit; the workdir harnesses load their
 * fuzzed file into a workdir that holds a node in every status.
 */
#ifndef HYPOTOP_FUZZ_H
#define HYPOTOP_FUZZ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hypotop/util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Stop the run with a message: libFuzzer saves the input as a crash. */
void fuzz_fail(const char *fmt, ...) PRINTF_LIKE(1, 2);
/* A refusal must say why: fail when e holds no message. With FUZZ_VERBOSE
 * set in the environment the message is printed, to see why an input of
 * the corpus is refused. */
void fuzz_need_msg(const struct err *e, const char *what);
/* data as a NUL-terminated string; caller frees. */
char *fuzz_cstr(const uint8_t *data, size_t size);

/* The private temp folder, and a path inside it (caller frees). */
const char *fuzz_dir(void);
char *fuzz_path(const char *rel);
/* Write (replace) a file under fuzz_dir(). */
void fuzz_put(const char *rel, const void *data, size_t len);

/*
 * The workdir "wd" under fuzz_dir(): made on first call with nodes in every
 * status, a checkpoint and a journal after it. fuzz_workdir_reset() puts
 * its engine files back as they were made; fuzz_workdir_put() then
 * replaces one of them (rel to the workdir) with fuzzed bytes.
 */
const char *fuzz_workdir(void);
void fuzz_workdir_reset(void);
void fuzz_workdir_put(const char *rel, const uint8_t *data, size_t size);
/*
 * Open the workdir as an engine does. A refusal must say why, and is a
 * failure when the files are hypotop's own (`ours`); a load that succeeds
 * must survive a checkpoint and load again, read-only, with the same
 * nodes: what hypotop accepts it can also write back.
 */
void fuzz_workdir_load(const char *what, bool ours);

/* Read params text as the file `path`, rewrite every value, read it again. */
void fuzz_params(const char *path, const uint8_t *data, size_t size);

#endif
