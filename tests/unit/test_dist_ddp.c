/* tests/unit/test_dist_ddp.c - the DDP glue on a compiled LeNet5 plan: the executor's grads-ready point
 * comes after every bucket and right before the first optimizer update; across 2 processes on loopback,
 * ranks fed different batches end a step with identical gradients (the mean) and parameters, a state
 * broadcast makes rank 1's state rank 0's, a stop signal on one rank stops both, and counts sum exactly. */
#include <check.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "plan/plan.h"
#include "frontend/frontend.h"
#include "runtime/data/data.h"
#include "runtime/dist/dist.h"
#include "test_comm_util.h"
#include "test_compile.h"

static const char *LENET =
    "model:\n"
    "  type: ImageClassifier\n"
    "  backbone: {type: LeNet5, num_classes: 10}\n"
    "  neck: null\n"
    "  head: {type: ClsHead, loss: {type: CrossEntropyLoss, loss_weight: 1.0}}\n"
    "train_dataloader:\n"
    "  batch_size: 8\n"
    "  dataset: {type: FashionMNIST, data_prefix: nowhere, pipeline: [{type: Resize, scale: 32}, {type: PackInputs}]}\n"
    "optim_wrapper: {optimizer: {type: SGD, lr: 0.05, momentum: 0.9}}\n"
    "model_wrapper_cfg: {bucket_cap_mb: 0.05}\n";

static tgc_plan *compile_lenet(void) {
    tgc_err err;
    tgc_cfg *cfg = tgc_cfg_parse(LENET, strlen(LENET), "test.yaml", &err);
    if (!cfg) return NULL;
    tgc_module m;
    memset(&m, 0, sizeof m);
    tgc_pipeline_opts po;
    memset(&po, 0, sizeof po);
    tgc_plan *p = NULL;
    int rc = tgc_frontend_build(cfg, &m, &err);
    m.first_bucket_mb = 0.05; /* DDP's 1 MiB first bucket would hold all of LeNet's 241 KiB */
    if (rc == 0 && tgc_run_pipeline(&m, &po, &err) == 0) p = tgc_plan_from_module(&m, cfg, &err);
    if (!p) fprintf(stderr, "%s\n", err.msg);
    tgc_module_free(&m);
    tgc_cfg_free(cfg);
    return p;
}

/* A batch that depends on the seed, and lr/step. */
static void feed(tgc_exec *x, uint64_t seed) {
    test_feed(x, "train", seed, seed, 0.05f);
    int si = tgc_exec_input(x, "train", "step");
    if (si >= 0) exec_put_f32(x, si, 1.0f);
}

/* ---- single process: where the callbacks fall ---- */

typedef struct order {
    int last_instr, n_buckets, n_ready, ready_after, buckets_before_ready, bucket_bytes_ok;
} order;

static void on_instr(void *ctx, const tgc_program *p, int i, double t0, double t1) {
    ((order *)ctx)->last_instr = i;
}
static int on_bucket(void *ctx, const tgc_plan_bucket *b, tgc_dev_mem mem, tgc_err *err) {
    order *o = ctx;
    o->n_buckets++;
    o->bucket_bytes_ok += mem.ptr != NULL && mem.bytes == b->bytes;
    return 0;
}
static int on_ready(void *ctx, const tgc_program *p, tgc_err *err) {
    order *o = ctx;
    o->n_ready++;
    o->ready_after = o->last_instr;
    o->buckets_before_ready = o->n_buckets;
    return 0;
}

START_TEST(grads_ready_point) {
    tgc_plan *p = compile_lenet();
    ck_assert_ptr_nonnull(p);
    const tgc_program *tp = tgc_plan_program(p, "train");
    ck_assert_int_ge(tp->n_buckets, 2); /* the small cap splits LeNet's gradients */
    int first_opt = -1;
    for (int i = 0; i < tp->n_instr && first_opt < 0; i++)
        if (tgc_op_table[tp->instr[i].code].flags & TGC_OPF_OPTIMIZER) first_opt = i;
    ck_assert_int_gt(first_opt, 0);
    tgc_err err;
    tgc_exec_opts xo = {.n_threads = 1, .deterministic = 1};
    tgc_exec *x = tgc_exec_new(p, &xo, &err);
    ck_assert_msg(x, "%s", err.msg);
    ck_assert_int_eq(tgc_exec_init_state(x, 1, &err), 0);
    order o = {-1, 0, 0, -1, 0, 0};
    tgc_exec_on_instr(x, on_instr, &o);
    tgc_exec_on_bucket(x, on_bucket, &o);
    tgc_exec_on_grads_ready(x, on_ready, &o);
    feed(x, 3);
    ck_assert_msg(tgc_exec_run(x, "train", &err) == 0, "%s", err.msg);
    ck_assert_int_eq(o.n_ready, 1);
    ck_assert_int_eq(o.ready_after, first_opt - 1);
    ck_assert_int_eq(o.buckets_before_ready, tp->n_buckets);
    ck_assert_int_eq(o.bucket_bytes_ok, tp->n_buckets); /* each bucket's device memory, its size */
    tgc_dev_mem grad = tgc_exec_slab(x, TGC_SLAB_GRAD);
    ck_assert_ptr_nonnull(grad.ptr);
    ck_assert_uint_eq(grad.bytes, p->slab_bytes[TGC_SLAB_GRAD]);
    ck_assert_msg(tgc_exec_run(x, "eval", &err) == 0, "%s", err.msg); /* eval has no buckets: no call */
    ck_assert_int_eq(o.n_ready, 1);
    tgc_exec_free(x);
    tgc_plan_free(p);
}
END_TEST

/* ---- two processes ---- */

static uint32_t slab_crc(tgc_exec *x, tgc_slab s) {
    tgc_err err;
    uint64_t n = tgc_exec_slab(x, s).bytes;
    void *d = malloc(n ? (size_t)n : 1);
    uint32_t crc = tgc_exec_read_bytes(x, s, 0, n, d, &err) == 0 ? tgc_crc32(0, d, (size_t)n) : 0;
    free(d);
    return crc;
}

static int rank_step(int rank, int world, int port, void *arg) {
    tgc_plan *p = compile_lenet();
    RANK_CHECK(p != NULL, "compile");
    tgc_dist_env e = {.launcher = TGC_LAUNCHER_PYTORCH, .rank = rank, .world = world, .port = port, .timeout_s = 10};
    strcpy(e.master_addr, "127.0.0.1");
    tgc_err err;
    tgc_ddp *d = tgc_ddp_open(&e, p->checksum, "cpu", &err);
    if (!d) {
        fprintf(stderr, "%s\n", err.msg);
        tgc_plan_free(p);
        return strstr(err.msg, "is in use") ? RANK_PORT_BUSY : 1;
    }
    tgc_exec_opts xo = {.n_threads = 1, .deterministic = 1};
    tgc_exec *x = tgc_exec_new(p, &xo, &err);
    RANK_CHECK(x != NULL, "%s", err.msg);
    /* different seeds: the broadcast must make the states equal */
    RANK_CHECK(tgc_exec_init_state(x, 100 + (uint64_t)rank, &err) == 0, "%s", err.msg);
    RANK_CHECK(tgc_ddp_broadcast_state(d, x, &err) == 0, "%s", err.msg);
    int64_t crc[1] = {slab_crc(x, TGC_SLAB_PARAM)};
    int64_t sum[1] = {crc[0]};
    RANK_CHECK(tgc_ddp_sum_counts(d, sum, 1, &err) == 0, "%s", err.msg);
    RANK_CHECK(sum[0] == crc[0] * world, "parameters differ after the broadcast");

    volatile sig_atomic_t sig = 0;
    RANK_CHECK(tgc_ddp_attach(d, x, p, &sig, &err) == 0, "%s", err.msg);
    feed(x, 7 + (uint64_t)rank); /* each rank its own batch */
    RANK_CHECK(tgc_exec_run(x, "train", &err) == 0, "%s", err.msg);
    RANK_CHECK(tgc_ddp_stop_signal(d) == 0, "stop without a signal");
    int64_t v[3] = {slab_crc(x, TGC_SLAB_GRAD), slab_crc(x, TGC_SLAB_PARAM), 0};
    int64_t s[3] = {v[0], v[1], (int64_t)1 << 40};
    RANK_CHECK(tgc_ddp_sum_counts(d, s, 3, &err) == 0, "%s", err.msg);
    RANK_CHECK(s[0] == v[0] * world, "gradients differ between ranks after the all-reduce");
    RANK_CHECK(s[1] == v[1] * world, "parameters differ between ranks after the update");
    RANK_CHECK(s[2] == ((int64_t)world << 40), "count sum %lld", (long long)s[2]);
    /* rank 1 got SIGINT: both ranks stop after the next step, with SIGINT */
    if (rank == 1) sig = SIGINT;
    RANK_CHECK(tgc_exec_run(x, "train", &err) == 0, "%s", err.msg);
    RANK_CHECK(tgc_ddp_stop_signal(d) == SIGINT, "stop signal %d", tgc_ddp_stop_signal(d));
    int64_t steps;
    uint64_t bytes;
    tgc_ddp_stats(d, &steps, NULL, &bytes);
    RANK_CHECK(steps == 2 && bytes > 0, "stats: %lld steps, %llu bytes", (long long)steps, (unsigned long long)bytes);
    uint64_t seed = 1000 + (uint64_t)rank;
    RANK_CHECK(tgc_ddp_sync_u64(d, "seed", &seed, &err) == 0, "%s", err.msg);
    RANK_CHECK(seed == 1000, "seed %llu is not rank 0's", (unsigned long long)seed);
    /* all-gather (detection's collect_results): rank 0 gives 3 words (a NaN with a payload among them), the
     * others none, then every rank one word; each rank gets them in rank order, bit for bit */
    uint32_t words[3] = {0x7fc01234u, 5, 0xdeadbeefu};
    void *all = NULL;
    size_t n_all = 0;
    int64_t sizes[8] = {0};
    RANK_CHECK(tgc_ddp_all_gather(d, words, rank == 0 ? sizeof words : 0, &all, &n_all, sizes, &err) == 0, "%s",
               err.msg);
    RANK_CHECK(n_all == sizeof words && sizes[0] == (int64_t)sizeof words && sizes[1] == 0 &&
               !memcmp(all, words, sizeof words), "all-gather of rank 0's words: %zu bytes", n_all);
    free(all);
    uint32_t mine = 100u + (uint32_t)rank;
    RANK_CHECK(tgc_ddp_all_gather(d, &mine, sizeof mine, &all, &n_all, NULL, &err) == 0, "%s", err.msg);
    RANK_CHECK(n_all == sizeof mine * (size_t)world, "all-gather: %zu bytes", n_all);
    for (int r = 0; r < world; r++) RANK_CHECK(((uint32_t *)all)[r] == 100u + (uint32_t)r, "rank %d's word", r);
    free(all);
    RANK_CHECK(tgc_ddp_all_gather(d, words, 3, &all, &n_all, NULL, &err) == -1 && !all, "3 bytes accepted");
    float af = rank == 0 ? 3.0f : 5.0f; /* avg_factor's mean over ranks (tgc_reduce_avg_factor) */
    RANK_CHECK(tgc_ddp_mean_f32(d, &af, 1, &err) == 0, "%s", err.msg);
    RANK_CHECK(world != 2 || af == 4.0f, "mean %g", af);
    tgc_ddp_free(d); /* before the executor: the comm may hold pointers into its slabs */
    tgc_exec_free(x);
    tgc_plan_free(p);
    return 0;
}

START_TEST(two_ranks_agree) {
    expect_job_ok(2, rank_step, NULL, 60.0);
}
END_TEST

int main(void) {
    (void)open_or_exit; /* test_comm_util.h's store helper; these ranks open a DDP instead */
    Suite *s = suite_create("dist_ddp");
    TCase *tc = tcase_create("ddp");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, grads_ready_point);
    tcase_add_test(tc, two_ranks_agree);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_set_fork_status(sr, CK_NOFORK);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
