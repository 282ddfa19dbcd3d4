/* tests/unit/test_text_roundtrip.c - the IR text form reads back, on every shipped config: for the dump
 * after every pass (what `tgc compile --dump-ir` prints), parse -> print is the dump itself; and the
 * pipeline continued from any dump after the build ends in the compile's own final dump (so the reader
 * restores everything the passes use: gradients, buckets, groups, placement, scopes). */
#include <check.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "frontend/frontend.h"

#define MAX_CONFIGS 64

static char *configs[MAX_CONFIGS];
static int n_configs;

/* Every *.yaml under dir, but _base_ (fragments, not whole configs). */
static void find_configs(const char *dir) {
    DIR *d = opendir(dir);
    ck_assert_msg(d != NULL, "cannot open %s", dir);
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.' || !strcmp(e->d_name, "_base_")) continue;
        char *path = tgc_asprintf("%s/%s", dir, e->d_name);
        struct stat st;
        size_t n = strlen(e->d_name);
        if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
            find_configs(path);
            free(path);
        } else if (n > 5 && !strcmp(e->d_name + n - 5, ".yaml") && n_configs < MAX_CONFIGS) {
            configs[n_configs++] = path;
        } else {
            free(path);
        }
    }
    closedir(d);
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static void setup(void) {
    find_configs(TGC_SOURCE_DIR "/configs");
    qsort(configs, (size_t)n_configs, sizeof *configs, cmp_str);
}

static void teardown(void) {
    for (int i = 0; i < n_configs; i++) free(configs[i]);
    n_configs = 0;
}

static char *print_module(const tgc_module *m) {
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    ck_assert_ptr_nonnull(f);
    tgc_graph_print(m->train, f);
    if (m->eval) tgc_graph_print(m->eval, f);
    fclose(f);
    return buf;
}

typedef struct section {
    char name[64];
    const char *text; /* after the header line */
    size_t len;
} section;

/* Splits a --dump-ir=* output at its "// ----- after PASS -----" lines. */
static int split(const char *dump, section *out, int max) {
    int n = 0;
    const char *p = dump;
    while ((p = strstr(p, "// ----- after "))) {
        ck_assert_int_lt(n, max);
        section *s = &out[n];
        const char *name = p + strlen("// ----- after "), *end = strstr(name, " -----\n");
        ck_assert_ptr_nonnull(end);
        snprintf(s->name, sizeof s->name, "%.*s", (int)(end - name), name);
        s->text = end + strlen(" -----\n");
        const char *next = strstr(s->text, "// ----- after ");
        s->len = next ? (size_t)(next - s->text) : strlen(s->text);
        if (n) ck_assert_ptr_eq(out[n - 1].text + out[n - 1].len, p);
        p = s->text;
        n++;
    }
    return n;
}

/* The pass the pipeline runs after dump `name` ("build": the first). */
static const char *next_pass(const char *name) {
    if (!strcmp(name, "build")) return tgc_passes_table[0].name;
    for (int i = 0; i + 1 < tgc_passes_table_len; i++)
        if (!strcmp(tgc_passes_table[i].name, name)) return tgc_passes_table[i + 1].name;
    return NULL;
}

static void check_config(const char *path, tgc_layout layout) {
    tgc_err err = {{0}};
    tgc_cfg *cfg = tgc_cfg_load(path, &err);
    ck_assert_msg(cfg != NULL, "%s", err.msg);
    tgc_module m;
    ck_assert_msg(tgc_frontend_build(cfg, &m, &err) == 0, "%s: %s", path, err.msg);
    m.layout = layout;
    tgc_module settings = m; /* what the text form does not carry */
    char *dump = NULL;
    size_t dump_len = 0;
    FILE *f = open_memstream(&dump, &dump_len);
    tgc_pipeline_opts po;
    memset(&po, 0, sizeof po);
    po.dump_after = "*";
    po.dump_to = f;
    ck_assert_msg(tgc_run_pipeline(&m, &po, &err) == 0, "%s: %s", path, err.msg);
    fclose(f);
    tgc_module_free(&m);
    tgc_cfg_free(cfg);

    section secs[32];
    int n = split(dump, secs, 32);
    ck_assert_int_eq(n, tgc_passes_table_len + 1);
    const section *final = &secs[n - 1];
    ck_assert_str_eq(final->name, "verify-plan");
    for (int i = 0; i < n; i++) {
        tgc_module r;
        char *file = tgc_asprintf("%s (layout %s) after %s", path, tgc_layout_name(layout), secs[i].name);
        ck_assert_msg(tgc_module_parse(secs[i].text, secs[i].len, file, &r, &err) == 0, "%s", err.msg);
        ck_assert_msg(tgc_pass_verify(&r, &err) == 0, "%s: %s", file, err.msg);
        char *back = print_module(&r);
        ck_assert_msg(strlen(back) == secs[i].len && !memcmp(back, secs[i].text, secs[i].len),
                      "%s: the text read back prints differently", file);
        free(back);
        if (i + 1 < n) {
            r.optim = settings.optim;
            r.amp = settings.amp;
            r.layout = settings.layout; /* the text says nhwc only once the layout pass has run */
            r.bucket_cap_mb = settings.bucket_cap_mb;
            r.first_bucket_mb = settings.first_bucket_mb;
            char *end = NULL;
            size_t end_len = 0;
            f = open_memstream(&end, &end_len);
            memset(&po, 0, sizeof po);
            po.from = next_pass(secs[i].name);
            ck_assert_ptr_nonnull(po.from);
            po.dump_after = "verify-plan";
            po.dump_to = f;
            ck_assert_msg(tgc_run_pipeline(&r, &po, &err) == 0, "%s, then from %s: %s", file, po.from, err.msg);
            fclose(f);
            const char *want = final->text - strlen("// ----- after verify-plan -----\n");
            ck_assert_msg(end_len == final->len + (size_t)(final->text - want) && !memcmp(end, want, end_len),
                          "%s, then the pipeline from %s: ends differently from the compile", file, po.from);
            free(end);
        }
        tgc_module_free(&r);
        free(file);
    }
    free(dump);
}

/* A config with small images, judged by its file name (the checkout's own path may contain any word). */
static int small_config(const char *path) {
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    return strstr(base, "lenet") || strstr(base, "fashion") || strstr(base, "cifar");
}

/* Every dump of every config read back, and the pipeline resumed from each (split in two tests to keep
 * each under Check's timeout under the sanitizers). */
START_TEST(small_configs) {
    int done = 0;
    for (int i = 0; i < n_configs; i++)
        if (small_config(configs[i])) {
            check_config(configs[i], TGC_LAYOUT_ROW);
            done++;
        }
    ck_assert_int_ge(done, 3);
}
END_TEST

/* The same with --layout nhwc: the nhwc values and the relayouts read back, and the layout pass run on a
 * read module decides as in the compile. */
START_TEST(small_configs_nhwc) {
    int done = 0;
    for (int i = 0; i < n_configs; i++)
        if (small_config(configs[i])) {
            check_config(configs[i], TGC_LAYOUT_NHWC);
            done++;
        }
    ck_assert_int_ge(done, 3);
}
END_TEST

START_TEST(imagenet_configs) {
    int done = 0;
    for (int i = 0; i < n_configs; i++)
        if (!small_config(configs[i])) {
            check_config(configs[i], TGC_LAYOUT_ROW);
            done++;
        }
    ck_assert_int_ge(done, 5);
}
END_TEST

int main(void) {
    Suite *s = suite_create("text_roundtrip");
    TCase *tc = tcase_create("configs");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, small_configs);
    tcase_add_test(tc, small_configs_nhwc);
    tcase_add_test(tc, imagenet_configs);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int nf = srunner_ntests_failed(sr);
    srunner_free(sr);
    return nf ? EXIT_FAILURE : EXIT_SUCCESS;
}
