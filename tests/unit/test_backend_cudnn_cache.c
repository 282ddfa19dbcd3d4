/* The convolution algorithm choices file (backend/cuda/cudnn_cache.c): serialize and parse round trip, lookups
 * by device and key, atomic save and reload, and corrupted lines dropped (counted once) rather than used. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backend/cuda/cudnn_cache.h"

#define DEV "NVIDIA H100 80GB HBM3, sm_90, cuDNN 91900"

static tgc_cudnn_choice choice(int64_t engine, int knobs) {
    tgc_cudnn_choice c;
    memset(&c, 0, sizeof c);
    c.engine = engine;
    c.n_knobs = knobs;
    for (int i = 0; i < knobs; i++) c.knob[i][0] = 3 + i, c.knob[i][1] = i * 7 - 1;
    return c;
}

static int same(const tgc_cudnn_choice *a, const tgc_cudnn_choice *b) {
    if (a->engine != b->engine || a->n_knobs != b->n_knobs) return 0;
    for (int i = 0; i < a->n_knobs; i++)
        if (a->knob[i][0] != b->knob[i][0] || a->knob[i][1] != b->knob[i][1]) return 0;
    return 1;
}

START_TEST(keys) {
    ck_assert(tgc_cudnn_cache_key("1 [8,3,32,32]@16") == tgc_cudnn_cache_key("1 [8,3,32,32]@16"));
    ck_assert(tgc_cudnn_cache_key("1 [8,3,32,32]@16") != tgc_cudnn_cache_key("1 [8,3,32,33]@16"));
    ck_assert(tgc_cudnn_cache_key("") == UINT64_C(0xcbf29ce484222325)); /* FNV-1a's offset basis */
}
END_TEST

START_TEST(round_trip) {
    tgc_cudnn_cache c;
    tgc_cudnn_cache_init(&c, DEV);
    tgc_cudnn_choice a = choice(12, 0), b = choice(57, 5), b2 = choice(3, 2);
    tgc_cudnn_cache_put(&c, 1, &a, 0.25);
    tgc_cudnn_cache_put(&c, UINT64_MAX, &b, 1.5);
    ck_assert_int_eq(c.changed, 1);
    ck_assert(same(tgc_cudnn_cache_find(&c, 1), &a));
    ck_assert_ptr_null(tgc_cudnn_cache_find(&c, 2));
    tgc_cudnn_cache_put(&c, UINT64_MAX, &b2, 1.0); /* replaces */
    ck_assert_int_eq(c.n, 2);
    ck_assert(same(tgc_cudnn_cache_find(&c, UINT64_MAX), &b2));
    size_t len;
    char *text = tgc_cudnn_cache_serialize(&c, &len);
    ck_assert_uint_eq(strlen(text), len);
    ck_assert_ptr_nonnull(strstr(text, "# tgc cuDNN algorithm choices v1"));

    tgc_cudnn_cache d;
    tgc_cudnn_cache_init(&d, DEV);
    tgc_cudnn_cache_parse(&d, text, len);
    ck_assert_int_eq(d.n, 2);
    ck_assert_int_eq(d.bad, 0);
    ck_assert_int_eq(d.changed, 0);
    ck_assert(same(tgc_cudnn_cache_find(&d, 1), &a));
    ck_assert(same(tgc_cudnn_cache_find(&d, UINT64_MAX), &b2));
    tgc_cudnn_cache_forget(&d, 1);
    ck_assert_ptr_null(tgc_cudnn_cache_find(&d, 1));
    ck_assert_int_eq(d.n, 1);

    /* another GPU (or cuDNN) sees none of them, and keeps them when it writes */
    tgc_cudnn_cache o;
    tgc_cudnn_cache_init(&o, "NVIDIA A100-SXM4-40GB, sm_80, cuDNN 91900");
    tgc_cudnn_cache_parse(&o, text, len);
    ck_assert_int_eq(o.other_device, 2);
    ck_assert_ptr_null(tgc_cudnn_cache_find(&o, 1));
    tgc_cudnn_cache_put(&o, 1, &b, 2.0);
    char notes[200];
    tgc_cudnn_cache_notes(&o, notes, sizeof notes);
    ck_assert_str_eq(notes, "2 of another GPU or cuDNN left unused");
    size_t len2;
    char *text2 = tgc_cudnn_cache_serialize(&o, &len2);
    tgc_cudnn_cache e;
    tgc_cudnn_cache_init(&e, DEV);
    tgc_cudnn_cache_parse(&e, text2, len2);
    ck_assert_int_eq(e.n, 3);
    ck_assert(same(tgc_cudnn_cache_find(&e, 1), &a));
    free(text2);
    tgc_cudnn_cache_free(&e);
    tgc_cudnn_cache_free(&o);
    tgc_cudnn_cache_free(&d);
    free(text);
    tgc_cudnn_cache_free(&c);
}
END_TEST

/* Every single-byte change of an entry line is caught (checksum or fields): the entry is dropped, never used
 * with other contents. */
START_TEST(corruption) {
    tgc_cudnn_cache c;
    tgc_cudnn_cache_init(&c, DEV);
    tgc_cudnn_choice a = choice(40, 3);
    tgc_cudnn_cache_put(&c, 0x1234, &a, 0.5);
    size_t len;
    char *text = tgc_cudnn_cache_serialize(&c, &len);
    const char *line = strchr(text, '\n') + 1;
    size_t from = (size_t)(line - text);
    int dropped = 0, trials = 0;
    for (size_t i = from; i < len - 1; i++) {
        char *t = tgc_strdup(text);
        t[i] = t[i] == '7' ? '8' : '7';
        tgc_cudnn_cache d;
        tgc_cudnn_cache_init(&d, DEV);
        tgc_cudnn_cache_parse(&d, t, len);
        const tgc_cudnn_choice *f = tgc_cudnn_cache_find(&d, 0x1234);
        ck_assert_msg(!f || same(f, &a), "byte %zu changed gave another choice", i);
        /* a change in the device name is an entry of another device; anything else is unreadable */
        dropped += d.bad;
        trials++;
        tgc_cudnn_cache_free(&d);
        free(t);
    }
    ck_assert_int_gt(dropped, trials / 2);
    /* truncated, garbage, an empty and a comment line; the good line after them still reads */
    tgc_buf b = {0};
    tgc_buf_printf(&b, "%.*s\ngarbage here\n\n# comment\n00000000 0 1 0 0 x\n%s", (int)(len - from) / 2, line, line);
    tgc_cudnn_cache d;
    tgc_cudnn_cache_init(&d, DEV);
    tgc_cudnn_cache_parse(&d, (const char *)b.data, b.len);
    ck_assert_int_eq(d.bad, 3);
    ck_assert_int_eq(d.first_bad, 1);
    ck_assert(same(tgc_cudnn_cache_find(&d, 0x1234), &a));
    char notes[200];
    tgc_cudnn_cache_notes(&d, notes, sizeof notes);
    ck_assert_str_eq(notes, "3 unreadable entries ignored (first at line 1)");
    tgc_cudnn_cache_free(&d);
    tgc_buf_free(&b);
    free(text);
    tgc_cudnn_cache_free(&c);
}
END_TEST

START_TEST(save_load) {
    char *dir = tgc_asprintf("%s/cudnn-cache-%ld", TGC_BINARY_DIR, (long)getpid());
    tgc_err err;
    ck_assert_int_eq(mkdir(dir, 0755), 0);
    char *path = tgc_asprintf("%s/%s", dir, TGC_CUDNN_CACHE_FILE);
    tgc_cudnn_cache c;
    tgc_cudnn_cache_init(&c, DEV);
    ck_assert_int_eq(tgc_cudnn_cache_load(&c, path, &err), 0); /* missing: empty */
    ck_assert_int_eq(c.n, 0);
    tgc_cudnn_choice a = choice(7, 4);
    tgc_cudnn_cache_put(&c, 99, &a, 0.125);
    ck_assert_msg(tgc_cudnn_cache_save(&c, path, &err) == 0, "%s", err.msg);
    ck_assert_int_eq(c.changed, 0);
    char *tmp = tgc_asprintf("%s.tmp", path);
    ck_assert_int_ne(access(tmp, F_OK), 0); /* renamed into place */
    tgc_cudnn_cache d;
    tgc_cudnn_cache_init(&d, DEV);
    ck_assert_int_eq(tgc_cudnn_cache_load(&d, path, &err), 0);
    ck_assert(same(tgc_cudnn_cache_find(&d, 99), &a));
    tgc_cudnn_cache_free(&d);
    /* a directory where the file should be: an error naming it, not a crash */
    char *sub = tgc_asprintf("%s/sub", dir);
    ck_assert_int_eq(mkdir(sub, 0755), 0);
    tgc_cudnn_cache_init(&d, DEV);
    ck_assert_int_eq(tgc_cudnn_cache_load(&d, sub, &err), -1);
    ck_assert_ptr_nonnull(strstr(err.msg, "sub"));
    ck_assert_int_eq(tgc_cudnn_cache_save(&c, sub, &err), -1);
    tgc_cudnn_cache_free(&d);
    rmdir(sub);
    unlink(path);
    rmdir(dir);
    free(sub);
    free(tmp);
    free(path);
    free(dir);
    tgc_cudnn_cache_free(&c);
}
END_TEST

int main(void) {
    Suite *s = suite_create("cudnn_cache");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, keys);
    tcase_add_test(tc, round_trip);
    tcase_add_test(tc, corruption);
    tcase_add_test(tc, save_load);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int nf = srunner_ntests_failed(sr);
    srunner_free(sr);
    return nf ? 1 : 0;
}
