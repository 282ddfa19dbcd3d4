/* fuzz/fuzz.h - what every harness shares: libFuzzer's entry points and small helpers.
 *
 * Each fuzz/fuzz_*.c defines LLVMFuzzerTestOneInput for one reader. Built two ways: with clang's libFuzzer
 * (tools/fuzz.sh, -DTGC_FUZZ=ON) to search for inputs, and with fuzz/replay_main.c in every build, where
 * it replays the seed corpus and the regression inputs (ctest unit/fuzz_replay_NAME), so a crash once found
 * stays fixed under the normal and the ASan/UBSan builds. A harness must never crash, hang, leak or read
 * outside the sandbox whatever the input; an error the reader reports is a normal outcome.
 */
#ifndef TGC_FUZZ_H
#define TGC_FUZZ_H

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

/* A private scratch directory for this process (created once, removed at exit). */
const char *fuzz_sandbox(void);
/* Writes data to SANDBOX/name (creating subdirectories); returns the path (static buffer). */
const char *fuzz_write(const char *name, const uint8_t *data, size_t size);
/* Splits the input at lines "%%%" into up to n files written as SANDBOX/names[k] (the rest written empty).
 * Returns -1, writing nothing, when the input could name a file outside the sandbox (a '/' starting a
 * path, "..", '~'): a config loader reads whatever path a config names, which is its job, not a target. */
int fuzz_write_files(const uint8_t *data, size_t size, const char *const *names, int n);

#endif
