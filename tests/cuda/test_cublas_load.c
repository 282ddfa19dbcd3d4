/* tests/cuda/test_cublas_load.c - cuBLAS is not in a tgc process until a cuda executor asks for it, and then
 * every entry point the GPU dispatch calls resolves (no GPU needed: nothing is called that touches one). */
#include <stdio.h>
#include <string.h>

#include "backend/cuda/cublas_load.h"
#include "test_expect.h"

/* Whether a shared object whose path contains `name` is mapped into this process. */
static int mapped(const char *name) {
    FILE *f = fopen("/proc/self/maps", "r");
    if (!f) return -1;
    char line[4096];
    int found = 0;
    while (!found && fgets(line, sizeof line, f)) found = strstr(line, name) != NULL;
    fclose(f);
    return found;
}

int main(void) {
    EXPECT(mapped("libcublas") == 0, "libcublas is mapped before any executor asked for it (linked, not loaded)");
    tgc_err err = {{0}};
    const tgc_cublas *b = tgc_cublas_load(&err);
    EXPECT(b != NULL, "tgc_cublas_load: %s", err.msg);
    if (b) {
        EXPECT(b->create && b->destroy && b->set_math_mode && b->set_workspace && b->set_stream && b->sgemm &&
                   b->status_name && b->status_string,
               "an entry point is NULL");
        EXPECT(!strcmp(b->status_name(CUBLAS_STATUS_NOT_INITIALIZED), "CUBLAS_STATUS_NOT_INITIALIZED"),
               "status_name gave %s", b->status_name(CUBLAS_STATUS_NOT_INITIALIZED));
        EXPECT(tgc_cublas_load(&err) == b, "a second load gives another table");
        EXPECT(mapped("libcublas") == 1, "libcublas is not mapped after loading it");
    }
    if (!failures) printf("cuBLAS loaded on demand: %d entry points resolved\n", 8);
    return failures ? 1 : 0;
}
