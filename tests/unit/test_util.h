/* tests/unit/test_util.h - helpers the Check tests share: scratch directories, whole-file reads, byte
 * order, configs parsed from strings and op counts. Header-only (static inline), so a test that uses
 * none of a helper's module does not link it. */
#ifndef TGC_TEST_UTIL_H
#define TGC_TEST_UTIL_H

#include <check.h>
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/util.h"
#include "frontend/cfg.h"
#include "ir/ir.h"

/* ---- files ---- */

/* A fresh directory PARENT/PREFIX_XXXXXX (PARENT NULL: $TMPDIR, else /tmp); the caller frees the path. */
static inline char *test_tmpdir(const char *parent, const char *prefix) {
    const char *base = parent ? parent : getenv("TMPDIR");
    char *t = tgc_asprintf("%s/%s_XXXXXX", base && *base ? base : "/tmp", prefix);
    ck_assert_msg(mkdtemp(t) != NULL, "mkdtemp %s failed", t);
    return t;
}

/* Removes dir and everything under it. */
static inline void test_rm_tree(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        char *p = tgc_asprintf("%s/%s", dir, e->d_name);
        struct stat st;
        if (lstat(p, &st) == 0 && S_ISDIR(st.st_mode)) test_rm_tree(p);
        else unlink(p);
        free(p);
    }
    closedir(d);
    rmdir(dir);
}

/* The whole file with a terminating NUL (not counted in *len); the caller frees it. */
static inline char *test_slurp(const char *path, size_t *len) {
    uint8_t *data;
    tgc_err err;
    ck_assert_msg(tgc_read_file(path, 1u << 28, &data, len, &err) == 0, "%s", err.msg);
    char *s = tgc_malloc(*len + 1);
    memcpy(s, data, *len);
    s[*len] = 0;
    free(data);
    return s;
}

/* ---- byte order ---- */

static inline void test_put_be32(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)(v >> 24), p[1] = (uint8_t)(v >> 16), p[2] = (uint8_t)(v >> 8), p[3] = (uint8_t)v;
}

static inline uint32_t test_rd_le32(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static inline void test_put_le32(uint8_t *p, uint32_t v) {
    for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}

static inline uint64_t test_rd_le64(const uint8_t *p) {
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) v = v << 8 | p[i];
    return v;
}

static inline void test_put_le64(uint8_t *p, uint64_t v) {
    for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i));
}

/* Re-seals a doctored file (plan.bin, a checkpoint) whose CRC-32 over the whole file, taken with the CRC
 * field zeroed, sits at byte crc_at: then only the structural checks can catch the edit. */
static inline void test_reseal(uint8_t *d, size_t len, size_t crc_at) {
    test_put_le32(d + crc_at, 0);
    test_put_le32(d + crc_at, tgc_crc32(0, d, len));
}

/* ---- configs and graphs ---- */

/* A config tree from YAML text, as if read from a file called name (messages show it). */
static inline tgc_cfg *test_cfg_parse(const char *text, const char *name) {
    tgc_err err = {{0}};
    tgc_cfg *c = tgc_cfg_parse(text, strlen(text), name, &err);
    ck_assert_msg(c != NULL, "parse failed: %s", err.msg);
    return c;
}

/* The node at path, which must exist and be of the given kind. */
static inline const tgc_cfg *test_cfg_at(const tgc_cfg *root, const char *path, tgc_cfg_kind kind) {
    const tgc_cfg *c = tgc_cfg_at(root, path);
    ck_assert_msg(c != NULL, "%s missing", path);
    ck_assert_msg(c->kind == kind, "%s: kind %s, want %s", path, tgc_cfg_kind_name(c->kind), tgc_cfg_kind_name(kind));
    return c;
}

static inline tgc_init test_init_const(double v) { return (tgc_init){TGC_INIT_CONST, v, 0, 0, 0, NULL}; }

/* How many ops of g have the given code. */
static inline int test_count_ops(const tgc_graph *g, tgc_opcode code) {
    int n = 0;
    for (int i = 0; i < g->n_ops; i++) n += g->ops[i].code == code;
    return n;
}

#endif
