/* fuzz/fuzz_pickle.c - the restricted pickle reader (runtime/io/pickle.h) on arbitrary bytes. */
#include "fuzz/fuzz.h"
#include "runtime/io/pickle.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    tgc_err err;
    tgc_pickle *p = tgc_pickle_read(data, size, "fuzz.pkl", &err);
    if (p) {
        const tgc_pk *root = tgc_pickle_root(p);
        (void)tgc_pk_describe(root);
        (void)tgc_pk_dict_get(root, "state_dict");
    }
    tgc_pickle_free(p);
    return 0;
}
