/* driver/args.c - command-line helpers shared by the commands. */
#include <string.h>

#include "driver/driver.h"

int tgc_opt_value(const char *name, int argc, char **argv, int *i, const char **val) {
    const char *a = argv[*i];
    size_t n = strlen(name);
    if (!strcmp(a, name)) {
        if (*i + 1 >= argc) return -1;
        *val = argv[++*i];
        return 1;
    }
    if (!strncmp(a, name, n) && a[n] == '=') {
        *val = a + n + 1;
        return 1;
    }
    return 0;
}
