/* tests/e2e/failwrite.c - an LD_PRELOAD library that makes writes to chosen files fail, for the fault tests.
 *
 * Environment:
 *   TGC_FAULT_PATH   a substring: files opened for writing whose path contains it are watched
 *   TGC_FAULT_SKIP   how many watched opens pass untouched first (default 0)
 *   TGC_FAULT_AFTER  bytes a watched file accepts before write() fails (default 0)
 *   TGC_FAULT_ERRNO  ENOSPC (default: "No space left on device") or EIO
 *   TGC_FAULT_ON     write (default) or fsync: which call fails
 * Test-only: it wraps open/openat/creat (to learn which fds are watched), write and fsync through
 * dlsym(RTLD_NEXT, ...).
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

#define MAX_FD 4096
static long long left[MAX_FD]; /* bytes a watched fd still accepts; -1: not watched */
static int initialised, opens;

static void init(void) {
    if (initialised) return;
    initialised = 1;
    for (int i = 0; i < MAX_FD; i++) left[i] = -1;
}

static int fault_errno(void) {
    const char *e = getenv("TGC_FAULT_ERRNO");
    return e && !strcmp(e, "EIO") ? EIO : ENOSPC;
}

static int on_fsync(void) {
    const char *o = getenv("TGC_FAULT_ON");
    return o && !strcmp(o, "fsync");
}

static void watch(int fd, const char *path, int flags) {
    init();
    if (fd < 0 || fd >= MAX_FD) return;
    left[fd] = -1;
    const char *pat = getenv("TGC_FAULT_PATH");
    if (!pat || !*pat || !path || !strstr(path, pat) || !(flags & (O_WRONLY | O_RDWR))) return;
    const char *skip = getenv("TGC_FAULT_SKIP"), *after = getenv("TGC_FAULT_AFTER");
    if (opens++ < (skip ? atoi(skip) : 0)) return;
    left[fd] = after ? atoll(after) : 0;
}

int open(const char *path, int flags, ...) {
    static int (*real)(const char *, int, ...);
    if (!real) real = (int (*)(const char *, int, ...))dlsym(RTLD_NEXT, "open");
    mode_t mode = 0;
    if (flags & O_CREAT) {
        va_list ap;
        va_start(ap, flags);
        mode = (mode_t)va_arg(ap, int);
        va_end(ap);
    }
    int fd = real(path, flags, mode);
    watch(fd, path, flags);
    return fd;
}

int open64(const char *path, int flags, ...) {
    mode_t mode = 0;
    if (flags & O_CREAT) {
        va_list ap;
        va_start(ap, flags);
        mode = (mode_t)va_arg(ap, int);
        va_end(ap);
    }
    return open(path, flags, mode);
}

int openat(int dir, const char *path, int flags, ...) {
    static int (*real)(int, const char *, int, ...);
    if (!real) real = (int (*)(int, const char *, int, ...))dlsym(RTLD_NEXT, "openat");
    mode_t mode = 0;
    if (flags & O_CREAT) {
        va_list ap;
        va_start(ap, flags);
        mode = (mode_t)va_arg(ap, int);
        va_end(ap);
    }
    int fd = real(dir, path, flags, mode);
    watch(fd, path, flags);
    return fd;
}

ssize_t write(int fd, const void *buf, size_t n) {
    static ssize_t (*real)(int, const void *, size_t);
    if (!real) real = (ssize_t(*)(int, const void *, size_t))dlsym(RTLD_NEXT, "write");
    init();
    if (fd >= 0 && fd < MAX_FD && left[fd] >= 0 && !on_fsync()) {
        if (left[fd] == 0) {
            errno = fault_errno();
            return -1;
        }
        if ((long long)n > left[fd]) n = (size_t)left[fd];
        ssize_t w = real(fd, buf, n);
        if (w > 0) left[fd] -= w;
        return w;
    }
    return real(fd, buf, n);
}

int fsync(int fd) {
    static int (*real)(int);
    if (!real) real = (int (*)(int))dlsym(RTLD_NEXT, "fsync");
    init();
    if (fd >= 0 && fd < MAX_FD && left[fd] >= 0 && on_fsync()) {
        errno = fault_errno();
        return -1;
    }
    return real(fd);
}

int close(int fd) {
    static int (*real)(int);
    if (!real) real = (int (*)(int))dlsym(RTLD_NEXT, "close");
    init();
    if (fd >= 0 && fd < MAX_FD) left[fd] = -1;
    return real(fd);
}
