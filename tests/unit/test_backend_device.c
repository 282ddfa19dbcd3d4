/* tests/unit/test_backend_device.c - the device interface (backend/device.h) on the cpu device: the registry's
 * names and messages, the device line, memory (zeroed aligned slabs, uploads and downloads, host staging), and a
 * hand-made program prepared and run with its notifications (completion of marked instructions, one fused
 * group reported as one, per-instruction timing, the host's point before an instruction). */
#include <check.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "backend/cuda/cuda_device.h"
#include "backend/device.h"

START_TEST(registry_names_and_messages) {
    tgc_err err;
    const tgc_device_ops *cpu = tgc_device_find("cpu", &err);
    ck_assert_ptr_nonnull(cpu);
    ck_assert_str_eq(cpu->name, "cpu");
    ck_assert_ptr_eq(tgc_device_find(NULL, &err), cpu); /* the default */
    ck_assert(tgc_device_name_valid("cpu") && tgc_device_name_valid("cuda") && tgc_device_name_valid("cuda:1"));
    ck_assert(!tgc_device_name_valid("tpu") && !tgc_device_name_valid("cudax") && !tgc_device_name_valid(NULL));
    ck_assert_ptr_null(tgc_device_find("tpu", &err));
    ck_assert_msg(strstr(err.msg, "unknown device 'tpu'"), "%s", err.msg);
    /* cuda: offered where the build has CUDA and a GPU is visible; otherwise the message says why and what to
     * use, and the default device is the CPU */
    const char *old = getenv("CUDA_VISIBLE_DEVICES");
    char *saved = old ? strdup(old) : NULL;
    unsetenv("CUDA_VISIBLE_DEVICES");
    int built, gpus = tgc_device_count("cuda", &built);
    const tgc_device_ops *cu = tgc_device_find("cuda:0", &err);
    if (built && gpus > 0) {
        ck_assert_msg(cu && !strcmp(cu->name, "cuda"), "%s", err.msg);
        ck_assert_str_eq(tgc_device_default(), "cuda");
        ck_assert_ptr_null(tgc_device_find("cuda:4096", &err));
        ck_assert_msg(strstr(err.msg, "no GPU 4096"), "%s", err.msg);
    } else {
        ck_assert_ptr_null(cu);
        ck_assert_msg(strstr(err.msg, built ? "no GPU is visible" : "no CUDA support") && strstr(err.msg, "use --device cpu"),
                      "%s", err.msg);
        ck_assert_str_eq(tgc_device_default(), "cpu");
    }
    setenv("CUDA_VISIBLE_DEVICES", "-1", 1);
    ck_assert_ptr_null(tgc_device_open("cuda", NULL, &err));
    ck_assert_str_eq(err.msg, "CUDA_VISIBLE_DEVICES=-1 hides every GPU; use --device cpu");
    ck_assert_str_eq(tgc_device_default(), "cpu");
    ck_assert_int_eq(tgc_device_count("cuda", NULL), 0);
    setenv("CUDA_VISIBLE_DEVICES", "", 1);
    ck_assert_ptr_null(tgc_device_find("cuda", &err));
    ck_assert_str_eq(err.msg, "CUDA_VISIBLE_DEVICES= hides every GPU; use --device cpu");
    ck_assert_str_eq(tgc_device_default(), "cpu");
    if (saved) setenv("CUDA_VISIBLE_DEVICES", saved, 1);
    else unsetenv("CUDA_VISIBLE_DEVICES");
    free(saved);
}
END_TEST

START_TEST(cpu_device_line_ops_and_memory) {
    tgc_err err;
    tgc_device_opts o = {.n_threads = 2};
    tgc_device *d = tgc_device_open("cpu", &o, &err);
    ck_assert_msg(d, "%s", err.msg);
    char line[64];
    tgc_device_describe(d, line, sizeof line);
    ck_assert_str_eq(line, "cpu, 2 threads");
    for (int op = 0; op < TGC_OP_COUNT; op++) ck_assert_msg(d->ops->supports_op(d->impl, (tgc_opcode)op), "op %d", op);
    ck_assert(!d->ops->supports_op(d->impl, (tgc_opcode)TGC_OP_COUNT));
    /* slabs: zeroed, aligned; bytes go in and out at offsets */
    void *slab = d->ops->slab_alloc(d->impl, 100, &err);
    ck_assert_ptr_nonnull(slab);
    uint8_t back[100], ref[100] = {0};
    ck_assert_int_eq(d->ops->download(d->impl, slab, 0, back, 100, &err), 0);
    ck_assert(!memcmp(back, ref, 100));
    float v[3] = {1.5f, -2, 3};
    ck_assert_int_eq(d->ops->upload(d->impl, slab, 8, v, sizeof v, &err), 0);
    float w[3];
    ck_assert_int_eq(d->ops->download(d->impl, slab, 8, w, sizeof w, &err), 0);
    ck_assert(!memcmp(v, w, sizeof v));
    ck_assert_ptr_eq(d->ops->slab_addr(d->impl, slab, 8), (uint8_t *)d->ops->slab_addr(d->impl, slab, 0) + 8);
    ck_assert_uint_eq((uintptr_t)d->ops->slab_addr(d->impl, slab, 0) % 64, 0);
    ck_assert_int_eq(d->ops->sync(d->impl, &err), 0);
    d->ops->slab_free(d->impl, slab);
    /* host staging memory */
    void *h = tgc_device_host_alloc(d, 1000, &err);
    ck_assert_ptr_nonnull(h);
    ck_assert_uint_eq((uintptr_t)h % 64, 0);
    memset(h, 7, 1000);
    tgc_device_host_free(d, h);
    tgc_device_close(d);
}
END_TEST

/* ---- a program: y = relu(a + b) in one fusion group (or not), then z = a + y ---- */

typedef struct seen {
    int calls, first[8], n[8], before;
    double t_bad; /* a span with t1 < t0 */
} seen;

static int on_done(void *ctx, int first, int n, double t0, double t1, tgc_err *err) {
    seen *s = ctx;
    if (s->calls < 8) {
        s->first[s->calls] = first;
        s->n[s->calls] = n;
    }
    s->calls++;
    if (t1 < t0) s->t_bad = t0 - t1;
    return 0;
}

static int on_before(void *ctx, int instr, tgc_err *err) {
    seen *s = ctx;
    s->before = instr + 1000 * s->calls; /* which instruction, after how many completions */
    return 0;
}

static void run_program(int fused, int cuda) {
    tgc_err err;
    tgc_device *d = cuda ? tgc_cuda_device_new(&tgc_standin_stream_api,
                                               &(tgc_cuda_device_opts){.n_threads = 1, .stream = {.seed = 3}}, &err)
                         : tgc_device_open("cpu", &(tgc_device_opts){.n_threads = 1}, &err);
    ck_assert_msg(d, "%s", err.msg);
    enum { N = 1000 };
    tgc_plan_tensor t[5];
    memset(t, 0, sizeof t);
    for (int i = 0; i < 5; i++) {
        t[i].type = (tgc_type){.dtype = TGC_F32, .shape = tgc_shape1(N)};
        t[i].bytes = N * sizeof(float);
        t[i].slab = i < 2 ? TGC_SLAB_INPUT : TGC_SLAB_ARENA;
        t[i].offset = (uint64_t)(i < 2 ? i : i - 2) * 4096;
    }
    void *slabs[TGC_SLAB_COUNT] = {0};
    slabs[TGC_SLAB_INPUT] = d->ops->slab_alloc(d->impl, 2 * 4096, &err);
    slabs[TGC_SLAB_ARENA] = d->ops->slab_alloc(d->impl, 3 * 4096, &err);
    tgc_instr ins[3];
    memset(ins, 0, sizeof ins);
    ins[0] = (tgc_instr){.code = TGC_OP_ADD, .n_in = 2, .in = {0, 1}, .n_out = 1, .out = {2}, .group = fused ? 0 : -1};
    ins[1] = (tgc_instr){.code = TGC_OP_RELU, .n_in = 1, .in = {2}, .n_out = 1, .out = {3}, .group = fused ? 0 : -1};
    ins[2] = (tgc_instr){.code = TGC_OP_ADD, .n_in = 2, .in = {0, 3}, .n_out = 1, .out = {4}, .group = -1};
    tgc_program p = {.name = "train", .n_instr = 3, .instr = ins};
    uint8_t notify[3] = {0, 1, 0}; /* "a bucket is ready after instruction 1" */
    tgc_dev_program dp = {&p, t, slabs, notify, 1};
    void *prog = d->ops->prepare(d->impl, &dp, &err);
    ck_assert_msg(prog, "%s", err.msg);
    float a[N], b[N], z[N];
    for (int i = 0; i < N; i++) a[i] = (float)(i % 7) - 3, b[i] = (float)(i % 5) - 2;
    ck_assert_int_eq(d->ops->upload(d->impl, slabs[TGC_SLAB_INPUT], 0, a, sizeof a, &err), 0);
    ck_assert_int_eq(d->ops->upload(d->impl, slabs[TGC_SLAB_INPUT], 4096, b, sizeof b, &err), 0);

    /* without timing: only the marked instruction is reported (inside a fused group: the whole group) */
    seen s = {0};
    tgc_dev_run r = {&s, on_done, on_before, 2, 0, 0};
    ck_assert_msg(d->ops->run(d->impl, prog, &r, &err) == 0, "%s", err.msg);
    ck_assert_int_eq(s.calls, 1);
    ck_assert_int_eq(s.first[0], fused ? 0 : 1);
    ck_assert_int_eq(s.n[0], fused ? 2 : 1);
    ck_assert_int_eq(s.before, 2 + 1000); /* before instruction 2, after the bucket's report */
    ck_assert_int_eq(d->ops->download(d->impl, slabs[TGC_SLAB_ARENA], 2 * 4096, z, sizeof z, &err), 0);
    for (int i = 0; i < N; i++) {
        float y = a[i] + b[i];
        ck_assert_float_eq(z[i], a[i] + (y > 0 ? y : 0));
    }
    /* with timing: every kernel is reported in order with its span; before_instr inside a fused group
     * (not where a kernel begins) is never reached */
    memset(&s, 0, sizeof s);
    r = (tgc_dev_run){&s, on_done, on_before, 1, 1, 0};
    ck_assert_msg(d->ops->run(d->impl, prog, &r, &err) == 0, "%s", err.msg);
    ck_assert_int_eq(s.calls, fused ? 2 : 3);
    ck_assert_int_eq(s.first[fused ? 1 : 2], 2);
    ck_assert(s.t_bad == 0);
    ck_assert_int_eq(s.before, fused ? 0 : 1 + 1000);
    d->ops->release(d->impl, prog);
    for (int i = 0; i < TGC_SLAB_COUNT; i++) d->ops->slab_free(d->impl, slabs[i]);
    tgc_device_close(d);
}

START_TEST(program_notifications_unfused) { run_program(0, 0); }
END_TEST

START_TEST(program_notifications_fused) { run_program(1, 0); }
END_TEST

/* The same program and reports on the cuda device over the stream API's CPU stand-in (events, then done). */
START_TEST(cuda_standin_program_notifications_unfused) { run_program(0, 1); }
END_TEST

START_TEST(cuda_standin_program_notifications_fused) { run_program(1, 1); }
END_TEST

int main(void) {
    Suite *s = suite_create("backend_device");
    TCase *tc = tcase_create("cpu");
    tcase_add_test(tc, registry_names_and_messages);
    tcase_add_test(tc, cpu_device_line_ops_and_memory);
    tcase_add_test(tc, program_notifications_unfused);
    tcase_add_test(tc, program_notifications_fused);
    tcase_add_test(tc, cuda_standin_program_notifications_unfused);
    tcase_add_test(tc, cuda_standin_program_notifications_fused);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int nf = srunner_ntests_failed(sr);
    srunner_free(sr);
    return nf ? EXIT_FAILURE : EXIT_SUCCESS;
}
