/* The kernel cache (backend/cuda/codegen_cache.c): DIR/<key>.cubin entries written atomically, found by
 * key, and a miss (never a wrong kernel) for another source under the key, a corrupted, truncated or
 * foreign file, or another format version. */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backend/cuda/codegen.h"
#include "backend/cuda/codegen_cache.h"

static char dir[512];

static void rm_rf(const char *path) {
    DIR *d = opendir(path);
    if (d) {
        struct dirent *e;
        while ((e = readdir(d))) {
            if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
            char *p = tgc_asprintf("%s/%s", path, e->d_name);
            rm_rf(p);
            free(p);
        }
        closedir(d);
        rmdir(path);
    } else {
        unlink(path);
    }
}

static void setup(void) {
    snprintf(dir, sizeof dir, "%s/tests/codegen-cache-%ld", TGC_BINARY_DIR, (long)getpid());
    rm_rf(dir);
}

static void teardown(void) { rm_rf(dir); }

/* A plain write (no fsync): corrupting an entry hundreds of times stays fast. */
static void overwrite(const char *path, const void *data, size_t len) {
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(data, 1, len, f), len);
    ck_assert_int_eq(fclose(f), 0);
}

static const char src[] = "extern \"C\" __global__ void tgc_fused_0123456789abcdef(long long n) {}\n";
static const uint8_t code[] = {0x7f, 'E', 'L', 'F', 2, 1, 1, 0x33, 0, 0, 0xff, 0x10};

static int get(const char *d, uint64_t key, const char *s, uint8_t **c, size_t *n, char *why) {
    tgc_err err = {{0}};
    int rc = tgc_kcache_get(d, key, s, strlen(s), c, n, why, 256, &err);
    ck_assert_msg(rc >= 0, "%s", err.msg);
    return rc;
}

static void put(const char *d, uint64_t key, const char *s, const void *c, size_t n) {
    tgc_err err;
    ck_assert_msg(tgc_kcache_put(d, key, s, strlen(s), c, n, &err) == 0, "%s", err.msg);
}

static uint64_t key_of(const char *s) { return tgc_kcache_key(tgc_codegen_source_hash(s, strlen(s)), "nvrtc 13.0 sm_90"); }

START_TEST(round_trip) {
    uint64_t key = key_of(src);
    uint8_t *c;
    size_t n;
    char why[256];
    ck_assert_int_eq(get(dir, key, src, &c, &n, why), 0); /* no directory yet: a miss */
    ck_assert_ptr_nonnull(strstr(why, "no entry"));
    char *nested = tgc_asprintf("%s/a/b", dir);
    put(nested, key, src, code, sizeof code); /* makes the directories */
    ck_assert_int_eq(get(nested, key, src, &c, &n, why), 1);
    ck_assert_uint_eq(n, sizeof code);
    ck_assert_mem_eq(c, code, sizeof code);
    free(c);
    /* one file, named by the key, nothing temporary left */
    char *path = tgc_kcache_path(nested, key), name[32];
    snprintf(name, sizeof name, "%016llx.cubin", (unsigned long long)key);
    ck_assert_ptr_nonnull(strstr(path, name));
    struct stat st;
    ck_assert_int_eq(stat(path, &st), 0);
    ck_assert_int_eq((int)st.st_size, 48 + (int)strlen(src) + (int)sizeof code);
    DIR *d = opendir(nested);
    int files = 0;
    for (struct dirent *e; (e = readdir(d));) files += e->d_name[0] != '.';
    closedir(d);
    ck_assert_int_eq(files, 1);
    /* a second put of the key replaces the entry */
    const uint8_t code2[] = {1, 2, 3};
    put(nested, key, src, code2, sizeof code2);
    ck_assert_int_eq(get(nested, key, src, &c, &n, why), 1);
    ck_assert_uint_eq(n, 3);
    ck_assert_mem_eq(c, code2, 3);
    free(c);
    free(path);
    free(nested);
}
END_TEST

/* The key names the source and the compilation: another compile id is another key. */
START_TEST(keys) {
    uint64_t h = tgc_codegen_source_hash(src, strlen(src));
    ck_assert_uint_ne(tgc_kcache_key(h, "nvrtc 13.0 --gpu-architecture=sm_90"),
                      tgc_kcache_key(h, "nvrtc 13.0 --gpu-architecture=sm_100"));
    ck_assert_uint_ne(tgc_kcache_key(h, "x"), tgc_kcache_key(h + 1, "x"));
    ck_assert_uint_eq(tgc_kcache_key(h, "x"), tgc_kcache_key(h, "x"));
    /* FNV-1a 64 reference values */
    ck_assert_uint_eq(tgc_codegen_fnv(TGC_FNV_OFFSET, "", 0), 0xcbf29ce484222325ull);
    ck_assert_uint_eq(tgc_codegen_fnv(TGC_FNV_OFFSET, "a", 1), 0xaf63dc4c8601ec8cull);
    ck_assert_uint_eq(tgc_codegen_fnv(TGC_FNV_OFFSET, "foobar", 6), 0x85944171f73967e8ull);
}
END_TEST

/* Whatever is wrong with an entry, a lookup misses (and says why); it never returns other code. */
START_TEST(bad_entries_miss) {
    uint64_t key = key_of(src);
    put(dir, key, src, code, sizeof code);
    char *path = tgc_kcache_path(dir, key);
    uint8_t *orig;
    size_t len;
    tgc_err err;
    ck_assert_int_eq(tgc_read_file(path, 1 << 20, &orig, &len, &err), 0);
    uint8_t *c = NULL;
    size_t n;
    char why[256];
    /* another source under the same key (a collision) */
    ck_assert_int_eq(get(dir, key, "another kernel", &c, &n, why), 0);
    ck_assert_ptr_null(c);
    ck_assert_ptr_nonnull(strstr(why, "lengths"));
    char *same_len = tgc_strdup(src);
    same_len[5] ^= 1;
    ck_assert_int_eq(get(dir, key, same_len, &c, &n, why), 0);
    ck_assert_ptr_nonnull(strstr(why, "hash collision"));
    free(same_len);
    /* every single flipped byte is noticed */
    for (size_t i = 0; i < len; i++) {
        orig[i] ^= 0x20;
        overwrite(path, orig, len);
        ck_assert_msg(get(dir, key, src, &c, &n, why) == 0, "byte %zu flipped: still a hit", i);
        ck_assert_ptr_null(c);
        orig[i] ^= 0x20;
    }
    /* truncated at every length */
    for (size_t l = 0; l < len; l++) {
        overwrite(path, orig, l);
        ck_assert_msg(get(dir, key, src, &c, &n, why) == 0, "truncated to %zu: still a hit", l);
    }
    /* another entry format version, with a valid checksum */
    orig[8] = TGC_KCACHE_VERSION + 1;
    memset(orig + 12, 0, 4);
    uint32_t crc = tgc_crc32(0, orig, len);
    for (int i = 0; i < 4; i++) orig[12 + i] = (uint8_t)(crc >> (8 * i));
    overwrite(path, orig, len);
    ck_assert_int_eq(get(dir, key, src, &c, &n, why), 0);
    ck_assert_ptr_nonnull(strstr(why, "version"));
    /* the entry of another key, copied under this one */
    put(dir, key + 1, src, code, sizeof code);
    char *other = tgc_kcache_path(dir, key + 1);
    ck_assert_int_eq(rename(other, path), 0);
    ck_assert_int_eq(get(dir, key, src, &c, &n, why), 0);
    ck_assert_ptr_nonnull(strstr(why, "another key"));
    /* rewritten, it is a hit again */
    put(dir, key, src, code, sizeof code);
    ck_assert_int_eq(get(dir, key, src, &c, &n, why), 1);
    free(c);
    free(other);
    free(orig);
    free(path);
}
END_TEST

/* What cannot be read or written is an error, not a miss. */
START_TEST(errors) {
    uint64_t key = key_of(src);
    char *path = tgc_kcache_path(dir, key);
    ck_assert_int_eq(mkdir(dir, 0755), 0);
    ck_assert_int_eq(mkdir(path, 0755), 0); /* a directory where the entry would be */
    uint8_t *c;
    size_t n;
    tgc_err err;
    ck_assert_int_eq(tgc_kcache_get(dir, key, src, strlen(src), &c, &n, NULL, 0, &err), -1);
    ck_assert_ptr_nonnull(strstr(err.msg, "directory"));
    ck_assert_int_eq(tgc_kcache_put(dir, key, src, strlen(src), code, sizeof code, &err), -1);
    char *file = tgc_asprintf("%s/file", dir);
    ck_assert_int_eq(tgc_write_file_atomic(file, "x", 1, &err), 0);
    char *under = tgc_asprintf("%s/sub", file); /* a cache directory below a file */
    ck_assert_int_eq(tgc_kcache_put(under, key, src, strlen(src), code, sizeof code, &err), -1);
    ck_assert_ptr_nonnull(strstr(err.msg, "kernel cache"));
    ck_assert_int_eq(tgc_kcache_get(under, key, src, strlen(src), &c, &n, NULL, 0, &err), 0); /* reads: a miss */
    ck_assert_int_eq(tgc_kcache_put("", key, src, strlen(src), code, sizeof code, &err), -1);
    rmdir(path);
    free(under);
    free(file);
    free(path);
}
END_TEST

START_TEST(default_dir) {
    setenv("TGC_KERNEL_CACHE", "/tmp/kc", 1);
    char *d = tgc_kcache_default_dir();
    ck_assert_str_eq(d, "/tmp/kc");
    free(d);
    unsetenv("TGC_KERNEL_CACHE");
    setenv("XDG_CACHE_HOME", "/x", 1);
    d = tgc_kcache_default_dir();
    ck_assert_str_eq(d, "/x/tgc/kernels");
    free(d);
    unsetenv("XDG_CACHE_HOME");
    setenv("HOME", "/home/u", 1);
    d = tgc_kcache_default_dir();
    ck_assert_str_eq(d, "/home/u/.cache/tgc/kernels");
    free(d);
    unsetenv("HOME");
    ck_assert_ptr_null(tgc_kcache_default_dir());
}
END_TEST

int main(void) {
    Suite *s = suite_create("codegen_cache");
    TCase *tc = tcase_create("core");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, round_trip);
    tcase_add_test(tc, keys);
    tcase_add_test(tc, bad_entries_miss);
    tcase_add_test(tc, errors);
    tcase_add_test(tc, default_dir);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int nf = srunner_ntests_failed(sr);
    srunner_free(sr);
    return nf ? 1 : 0;
}
