/* fuzz/fuzz_util.c - the sandbox directory the file-reading harnesses write their inputs into. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fuzz/fuzz.h"

static char sandbox[256];

static void rm_tree(const char *dir) {
    char cmd[320];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) fprintf(stderr, "fuzz: cannot remove %s\n", dir);
}

static void cleanup(void) {
    if (sandbox[0]) rm_tree(sandbox);
}

const char *fuzz_sandbox(void) {
    if (!sandbox[0]) {
        const char *tmp = getenv("TMPDIR");
        snprintf(sandbox, sizeof sandbox, "%s/tgc_fuzz_XXXXXX", tmp && *tmp ? tmp : "/tmp");
        if (!mkdtemp(sandbox)) {
            perror("fuzz: mkdtemp");
            abort();
        }
        atexit(cleanup);
    }
    return sandbox;
}

const char *fuzz_write(const char *name, const uint8_t *data, size_t size) {
    static char path[512];
    snprintf(path, sizeof path, "%s/%s", fuzz_sandbox(), name);
    for (char *s = strchr(path + strlen(fuzz_sandbox()) + 1, '/'); s; s = strchr(s + 1, '/')) {
        *s = 0;
        mkdir(path, 0700);
        *s = '/';
    }
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0) {
        perror(path);
        abort();
    }
    size_t off = 0;
    while (off < size) {
        ssize_t n = write(fd, data + off, size - off);
        if (n <= 0) abort();
        off += (size_t)n;
    }
    close(fd);
    return path;
}

static int escapes(const uint8_t *d, size_t n) {
    for (size_t i = 0; i < n; i++) {
        if (d[i] == '~') return 1;
        if (d[i] == '.' && i + 1 < n && d[i + 1] == '.') return 1;
        if (d[i] == '/' && (i == 0 || strchr(" \t'\"[,:-\n{(=", d[i - 1]))) return 1;
    }
    return 0;
}

int fuzz_write_files(const uint8_t *data, size_t size, const char *const *names, int n) {
    if (escapes(data, size)) return -1;
    size_t start = 0;
    int k = 0;
    for (; k < n; k++) {
        size_t end = start;
        while (end + 5 <= size && memcmp(data + end, "\n%%%\n", 5)) end++;
        if (end + 5 > size) end = size;
        fuzz_write(names[k], data + start, end - start);
        if (end >= size) {
            k++;
            break;
        }
        start = end + 5;
    }
    for (; k < n; k++) fuzz_write(names[k], (const uint8_t *)"", 0);
    return 0;
}
