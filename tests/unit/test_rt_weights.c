/* tests/unit/test_rt_weights.c - PyTorch .pth and safetensors readers and writers (runtime/io/state_dict.h).
 *
 * Files made by Debian's PyTorch at run time (tests/weights/torch_files.py make): a plain state dict with
 * f32/f16/bf16/i64/f64 tensors, a transposed and an offset view; an MMEngine checkpoint with meta (numpy
 * scalars), message_hub (an object) and optimizer; an nn.Parameter; a pickle that calls os.system; a state
 * dict holding a non-tensor; the legacy (pre-1.6) format; a safetensors file. Then tgc's writers, read back by torch.load
 * and by the safetensors rules. Hand-made pickles check the refusals and the memory bounds. Without torch
 * the executable exits 77 after the checks that need no fixtures (under CI=true it fails).
 */
#include "test_util.h"

#include "runtime/io/pickle.h"
#include "runtime/io/state_dict.h"
#include "runtime/runner/weights.h"

#define PY "/usr/bin/python3"
#define SCRIPT TGC_SOURCE_DIR "/tests/weights/torch_files.py"

static char *fixtures; /* NULL: torch is missing */

/* element i of fixture tensor k */
static double fx(int k, int64_t i) { return (double)(i % 7 - 3) * 0.25 + k; }

static tgc_sd *load_ok(const char *file) {
    char *p = tgc_asprintf("%s/%s", fixtures, file);
    tgc_err err;
    tgc_sd *sd = tgc_sd_load(p, &err);
    ck_assert_msg(sd != NULL, "%s", err.msg);
    free(p);
    return sd;
}

static void load_fails(const char *file, const char *needle) {
    char *p = tgc_asprintf("%s/%s", fixtures, file);
    tgc_err err;
    tgc_sd *sd = tgc_sd_load(p, &err);
    ck_assert_msg(sd == NULL, "%s loaded", file);
    ck_assert_msg(strstr(err.msg, needle) && strstr(err.msg, file), "%s: message '%s' lacks '%s'", file, err.msg,
                  needle);
    free(p);
}

static void check_vals(const tgc_sd *sd, const char *name, int k, tgc_dtype dt, int rank, const int64_t *dims,
                       const int64_t *index_map) {
    const tgc_sd_tensor *t = tgc_sd_find(sd, name);
    ck_assert_msg(t != NULL, "no %s", name);
    ck_assert_int_eq(t->dtype, dt);
    ck_assert_int_eq(t->shape.rank, rank);
    for (int i = 0; i < rank; i++) ck_assert_int_eq(t->shape.d[i], dims[i]);
    int64_t n = tgc_sd_numel(&t->shape);
    float *f = tgc_malloc((size_t)n * sizeof *f);
    ck_assert_int_eq(tgc_sd_to_f32(t, f), 0);
    for (int64_t i = 0; i < n; i++) {
        double want = fx(k, index_map ? index_map[i] : i);
        ck_assert_msg(f[i] == (float)want, "%s[%lld] = %g, want %g", name, (long long)i, f[i], want);
    }
    free(f);
}

static void check_plain(const tgc_sd *sd) {
    ck_assert_int_eq(sd->n, 7);
    check_vals(sd, "a.f32", 0, TGC_F32, 2, (int64_t[]){2, 3}, NULL);
    check_vals(sd, "b.f16", 1, TGC_F16, 1, (int64_t[]){4}, NULL);
    check_vals(sd, "c.bf16", 2, TGC_BF16, 2, (int64_t[]){3, 2}, NULL);
    const tgc_sd_tensor *d = tgc_sd_find(sd, "d.i64");
    ck_assert(d && d->dtype == TGC_I64 && d->shape.rank == 0 && *(int64_t *)d->data == 7);
    /* e = values(3, 2).t(): e[i][j] = v[j][i] = fx(4, 2 j + i) */
    check_vals(sd, "e.t", 4, TGC_F32, 2, (int64_t[]){2, 3}, (int64_t[]){0, 2, 4, 1, 3, 5});
    check_vals(sd, "f.view", 5, TGC_F32, 2, (int64_t[]){2, 4}, (int64_t[]){4, 5, 6, 7, 8, 9, 10, 11});
    check_vals(sd, "g.f64", 6, TGC_F32, 1, (int64_t[]){2}, NULL);
}

START_TEST(reads_plain_state_dict) {
    if (!fixtures) return;
    tgc_sd *sd = load_ok("plain.pth");
    ck_assert_str_eq(sd->format, "pth");
    ck_assert_ptr_null(sd->config);
    check_plain(sd);
    tgc_sd_free(sd);
}
END_TEST

START_TEST(reads_mmengine_checkpoint) {
    if (!fixtures) return;
    tgc_sd *sd = load_ok("mmengine.pth");
    check_plain(sd);
    ck_assert_str_eq(sd->config, "model = dict(type='ImageClassifier')");
    ck_assert_msg(sd->skipped && strstr(sd->skipped, "message_hub") && strstr(sd->skipped, "optimizer"), "%s",
                  sd->skipped ? sd->skipped : "(none)");
    tgc_sd_free(sd);
}
END_TEST

START_TEST(reads_parameters) { /* nn.Parameter pickles through _rebuild_parameter */
    if (!fixtures) return;
    tgc_sd *sd = load_ok("param.pth");
    check_vals(sd, "p", 0, TGC_F32, 2, (int64_t[]){2, 3}, NULL);
    tgc_sd_free(sd);
}
END_TEST

START_TEST(refuses_code_and_non_tensors) {
    if (!fixtures) return;
    load_fails("evil.pth", "posix.system");
    load_fails("notensor.pth", "state_dict['x'] is a int, not a tensor");
    load_fails("legacy.pth", "legacy format");
}
END_TEST

START_TEST(reads_safetensors) {
    if (!fixtures) return;
    tgc_sd *sd = load_ok("w.safetensors");
    ck_assert_str_eq(sd->format, "safetensors");
    ck_assert_str_eq(sd->config, "a config");
    ck_assert_int_eq(sd->n, 3);
    check_vals(sd, "a.f32", 0, TGC_F32, 2, (int64_t[]){2, 3}, NULL);
    check_vals(sd, "b.f16", 1, TGC_F16, 1, (int64_t[]){4}, NULL);
    check_vals(sd, "c.bf16", 2, TGC_BF16, 2, (int64_t[]){3, 2}, NULL);
    tgc_sd_free(sd);
}
END_TEST

/* Runs the script on a file tgc wrote; returns its stdout. */
static char *py_check(const char *what, const char *file) {
    char *out = tgc_asprintf("%s.out", file);
    char *cmd = tgc_asprintf("'%s' '%s' %s '%s' >'%s' 2>&1", PY, SCRIPT, what, file, out);
    int rc = system(cmd);
    size_t len;
    char *text = test_slurp(out, &len);
    ck_assert_msg(rc == 0, "%s failed:\n%s", cmd, text);
    free(cmd);
    free(out);
    return text;
}

START_TEST(writes_files_torch_reads) {
    if (!fixtures) return;
    tgc_sd *sd = load_ok("plain.pth");
    tgc_err err;
    char *pth = tgc_asprintf("%s/out.pth", fixtures), *st = tgc_asprintf("%s/out.safetensors", fixtures);
    const char *cfg = "model:\n  type: ImageClassifier # \"quoted\" \\ and \x01\n";
    ck_assert_msg(tgc_sd_save_pth(sd, cfg, pth, &err) == 0, "%s", err.msg);
    char *text = py_check("check-pth", pth);
    /* sums: a = sum of fx(0, i) for 6 elements = (-3-2-1+0+1+2)*0.25 = -0.75 */
    ck_assert_msg(strstr(text, "a.f32 float32 [2, 3] -0.750000\n") && strstr(text, "b.f16 float16 [4] 2.500000\n") &&
                      strstr(text, "c.bf16 bfloat16 [3, 2] 11.250000\n") && strstr(text, "d.i64 int64 [] 7.000000\n") &&
                      strstr(text, "cfg 'model:\\n  type: ImageClassifier # \"quoted\" \\\\ and \\x01\\n'"),
                  "%s", text);
    free(text);
    /* and tgc reads its own output back */
    tgc_sd *back = tgc_sd_load(pth, &err);
    ck_assert_msg(back != NULL, "%s", err.msg);
    check_plain(back);
    ck_assert_str_eq(back->config, cfg);
    tgc_sd_free(back);

    ck_assert_msg(tgc_sd_save_safetensors(sd, cfg, st, &err) == 0, "%s", err.msg);
    back = tgc_sd_load(st, &err);
    ck_assert_msg(back != NULL, "%s", err.msg);
    check_plain(back);
    ck_assert_str_eq(back->config, cfg);
    tgc_sd_free(back);
    free(pth);
    free(st);
    tgc_sd_free(sd);
}
END_TEST

/* ---- hand-made pickles (no torch needed) ---- */

static tgc_pickle *pk(const char *bytes, size_t n, tgc_err *err) {
    return tgc_pickle_read((const uint8_t *)bytes, n, "test.pkl", err);
}

START_TEST(pickle_refusals_and_bounds) {
    tgc_err err;
    /* a dict {'a': [1, 2.5, None, True]} in protocol 2 */
    static const char ok[] = "\x80\x02}q\x00X\x01\x00\x00\x00" "aq\x01]q\x02(K\x01G@\x04\x00\x00\x00\x00\x00\x00N\x88"
                             "es.";
    tgc_pickle *p = pk(ok, sizeof ok - 1, &err);
    ck_assert_msg(p != NULL, "%s", err.msg);
    const tgc_pk *a = tgc_pk_dict_get(tgc_pickle_root(p), "a");
    ck_assert(a && a->kind == TGC_PK_LIST && a->n == 4 && a->items[0]->i == 1 && a->items[1]->f == 2.5 &&
              a->items[2]->kind == TGC_PK_NONE && a->items[3]->kind == TGC_PK_BOOL);
    tgc_pickle_free(p);
    /* a storage type called directly is refused by name */
    static const char call[] = "\x80\x02" "ctorch\nFloatStorage\n)R.";
    ck_assert(pk(call, sizeof call - 1, &err) == NULL);
    ck_assert_msg(strstr(err.msg, "refused call of torch.FloatStorage"), "%s", err.msg);
    /* a persistent id of another shape */
    static const char pid[] = "\x80\x02X\x03\x00\x00\x00" "abcQ.";
    ck_assert(pk(pid, sizeof pid - 1, &err) == NULL);
    ck_assert_msg(strstr(err.msg, "persistent id"), "%s", err.msg);
    /* INST (protocol 0 object creation) is refused by opcode */
    static const char inst[] = "(ios\nsystem\nS'x'\n.";
    ck_assert(pk(inst, sizeof inst - 1, &err) == NULL);
    ck_assert_msg(strstr(err.msg, "0x69"), "%s", err.msg);
    /* truncated, underflow, memo misuse, a huge string length, an oversized memo index */
    static const char *const bad[] = {"\x80\x02}", "\x80\x02s.", "\x80\x02h\x05.", "\x80\x02X\xff\xff\xff\x7f",
                                      "\x80\x02Nr\xff\xff\xff\xff."};
    static const size_t bad_len[] = {3, 4, 5, 7, 9};
    for (size_t i = 0; i < TGC_ARRAY_LEN(bad); i++) {
        ck_assert_msg(pk(bad[i], bad_len[i], &err) == NULL, "bad[%zu] parsed", i);
        ck_assert_msg(strstr(err.msg, "test.pkl: pickle offset"), "%s", err.msg);
    }
    /* a stack bomb: 100000 x EMPTY_LIST is refused at the bound, not by running out of memory */
    size_t n = 100000;
    char *bomb = tgc_malloc(n + 3);
    memcpy(bomb, "\x80\x02", 2);
    memset(bomb + 2, ']', n);
    bomb[n + 2] = '.';
    ck_assert(pk(bomb, n + 3, &err) == NULL);
    ck_assert_msg(strstr(err.msg, "stack deeper"), "%s", err.msg);
    free(bomb);
}
END_TEST

START_TEST(safetensors_refusals) {
    tgc_err err;
    tgc_buf b = {0};
    const char *hdr[] = {
        "{\"x\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,16]}}",          /* past the end */
        "{\"x\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}",           /* shape vs bytes */
        "{\"x\":{\"dtype\":\"C64\",\"shape\":[1],\"data_offsets\":[0,8]}}",           /* dtype */
        "{\"x\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4],\"y\":1}}", /* unknown field */
        "{\"x\":{\"dtype\":\"F32\",\"shape\":[99999999999999999999],\"data_offsets\":[0,4]}}",
        "{\"x\":{\"dtype\":\"F32\"",
    };
    const char *needle[] = {"data_offsets", "data_offsets", "C64", "unknown", "integer", "header byte"};
    for (size_t i = 0; i < TGC_ARRAY_LEN(hdr); i++) {
        b.len = 0;
        size_t hl = strlen(hdr[i]);
        tgc_buf_u64(&b, hl);
        tgc_buf_put(&b, hdr[i], hl);
        tgc_buf_put(&b, "\0\0\0\0\0\0\0\0", 8);
        tgc_sd *sd = tgc_sd_parse(b.data, b.len, "t.safetensors", &err);
        ck_assert_msg(sd == NULL, "header %zu loaded", i);
        ck_assert_msg(strstr(err.msg, needle[i]) && strstr(err.msg, "t.safetensors"), "%zu: %s", i, err.msg);
    }
    tgc_buf_free(&b);
    ck_assert(tgc_sd_parse((const uint8_t *)"garbage!!", 9, "g.bin", &err) == NULL);
    ck_assert_msg(strstr(err.msg, "g.bin: not a PyTorch"), "%s", err.msg);
}
END_TEST

/* f32 -> f16 / bf16 as PyTorch rounds (nearest even; the expected bits are torch 1.13's .half() and
 * .bfloat16() of the same floats), overflow to inf, subnormals, signed zero. */
START_TEST(converts_float_dtypes) {
    const float in[] = {1.0f, -2.5f, 65504.0f, 65520.0f, 1e-8f, 5.9604645e-08f, 1.0009765625f, 1.00048828125f,
                        1.00146484375f, 3.0e38f, 0.0f, -0.0f};
    const uint16_t half[] = {0x3c00, 0xc100, 0x7bff, 0x7c00, 0x0000, 0x0001, 0x3c01, 0x3c00, 0x3c02, 0x7c00, 0, 0x8000};
    const uint16_t bf[] = {0x3f80, 0xc020, 0x4780, 0x4780, 0x322c, 0x3380, 0x3f80, 0x3f80, 0x3f80, 0x7f62, 0, 0x8000};
    tgc_sd *sd = tgc_sd_new();
    tgc_shape s = tgc_shape1((int64_t)TGC_ARRAY_LEN(in));
    tgc_sd_add(sd, "x", TGC_F32, &s, in);
    uint16_t out[TGC_ARRAY_LEN(in)];
    ck_assert_int_eq(tgc_sd_convert(&sd->t[0], TGC_F16, out), 0);
    for (size_t i = 0; i < TGC_ARRAY_LEN(in); i++) ck_assert_msg(out[i] == half[i], "f16 of %g: %04x, want %04x", in[i], out[i], half[i]);
    ck_assert_int_eq(tgc_sd_convert(&sd->t[0], TGC_BF16, out), 0);
    for (size_t i = 0; i < TGC_ARRAY_LEN(in); i++) ck_assert_msg(out[i] == bf[i], "bf16 of %g: %04x, want %04x", in[i], out[i], bf[i]);
    ck_assert_int_eq(tgc_sd_convert(&sd->t[0], TGC_I32, out), -1);
    tgc_sd_free(sd);
}
END_TEST

/* Names MMEngine would download: a URL found in its cache is used, anything else says where to put it. */
START_TEST(resolves_download_names) {
    char *home = test_tmpdir(NULL, "tgc_torch_home");
    char *dir = tgc_asprintf("%s/hub/checkpoints", home), *file = tgc_asprintf("%s/r18.pth", dir);
    char *hub = tgc_asprintf("%s/hub", home);
    ck_assert_int_eq(mkdir(hub, 0700), 0);
    ck_assert_int_eq(mkdir(dir, 0700), 0);
    FILE *f = fopen(file, "w");
    ck_assert_ptr_nonnull(f);
    fclose(f);
    setenv("TORCH_HOME", home, 1);
    tgc_err err;
    char *path;
    ck_assert_msg(tgc_weights_resolve("https://download.example.org/v1/r18.pth?dl=1", &path, &err) == 0, "%s", err.msg);
    ck_assert_str_eq(path, file);
    free(path);
    ck_assert_int_eq(tgc_weights_resolve("https://download.example.org/v1/other.pth", &path, &err), -1);
    ck_assert_msg(strstr(err.msg, "tgc does not download; put the file at") && strstr(err.msg, "/hub/checkpoints/other.pth"),
                  "%s", err.msg);
    ck_assert_int_eq(tgc_weights_resolve("torchvision://resnet50", &path, &err), -1);
    ck_assert_msg(strstr(err.msg, "'torchvision://resnet50' names a model-zoo file") && strstr(err.msg, "set checkpoint to its path"),
                  "%s", err.msg);
    ck_assert_int_eq(tgc_weights_resolve("open-mmlab://resnet50_v1c", &path, &err), -1);
    ck_assert_int_eq(tgc_weights_resolve("local/file.pth", &path, &err), 0);
    ck_assert_str_eq(path, "local/file.pth");
    free(path);
    unsetenv("TORCH_HOME");
    test_rm_tree(home);
    free(home);
    free(dir);
    free(file);
    free(hub);
}
END_TEST

int main(void) {
    const char *ci = getenv("CI");
    int under_ci = ci && (!strcmp(ci, "true") || !strcmp(ci, "1"));
    const char *tmp = getenv("TMPDIR");
    char *dir = tgc_asprintf("%s/tgc_weights_XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(dir)) return fprintf(stderr, "mkdtemp %s failed\n", dir), 1;
    char *cmd = tgc_asprintf("'%s' '%s' make '%s' >'%s/make.log' 2>&1", PY, SCRIPT, dir, dir);
    int rc = system(cmd);
    int skipped = !(WIFEXITED(rc) && WEXITSTATUS(rc) == 0);
    if (!skipped) fixtures = dir;
    else printf("test_rt_weights: fixtures not made (%s): the PyTorch checks are skipped\n", cmd);
    free(cmd);

    Suite *s = suite_create("weights");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, reads_plain_state_dict);
    tcase_add_test(tc, reads_mmengine_checkpoint);
    tcase_add_test(tc, reads_parameters);
    tcase_add_test(tc, refuses_code_and_non_tensors);
    tcase_add_test(tc, reads_safetensors);
    tcase_add_test(tc, writes_files_torch_reads);
    tcase_add_test(tc, pickle_refusals_and_bounds);
    tcase_add_test(tc, safetensors_refusals);
    tcase_add_test(tc, resolves_download_names);
    tcase_add_test(tc, converts_float_dtypes);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    test_rm_tree(dir);
    free(dir);
    if (failed) return 1;
    if (skipped) return under_ci ? 1 : 77;
    return 0;
}
