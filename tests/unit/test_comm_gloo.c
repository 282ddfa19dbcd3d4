/* tests/unit/test_comm_gloo.c - Gloo collectives across 2 and 3 processes on loopback: exact sums,
 * broadcast, barrier, asynchronous all-reduce overlapping compute, a dead peer, two jobs side by side;
 * and the NCCL constructor's error where no GPU (or no CUDA) is present. */
#include <check.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/dist/comm/comm.h"
#include "test_comm_util.h"

#define N 50000 /* more than one of Gloo's segments for 3 ranks */

/* Integers below 2^24 are exact in f32, so every rank's sum equals the expected value bit for bit. */
static float value(int rank, size_t i) { return (float)((rank + 1) * (int)(i % 1000) + rank); }

static tgc_comm *open_comm_on(tgc_store *s, int rank, double timeout_s, const char *iface) {
    tgc_err err;
    tgc_comm_opts o = {.timeout_s = timeout_s, .iface = iface};
    tgc_comm *c = tgc_comm_new_gloo(s, &o, &err);
    if (!c) fprintf(stderr, "rank %d: %s\n", rank, err.msg);
    return c;
}

static tgc_comm *open_comm(tgc_store *s, int rank, double timeout_s) {
    return open_comm_on(s, rank, timeout_s, NULL);
}

static int rank_collectives(int rank, int world, int port, void *arg) {
    const char *token = arg ? arg : "job-gloo";
    tgc_store *s = open_or_exit(rank, world, port, token, 5.0);
    tgc_err err;
    if (world == 1) { /* an interface that does not exist is an error, not an abort */
        tgc_comm_opts o = {.iface = "nosuchif0", .tag = "bad"};
        RANK_CHECK(tgc_comm_new_gloo(s, &o, &err) == NULL, "a comm on a missing interface");
        RANK_CHECK(strstr(err.msg, "rank 0: Gloo setup failed: ") && strstr(err.msg, "interface 'nosuchif0' does not exist"),
                   "%s", err.msg);
    }
    /* three ranks bind by interface name, the others by the address that routes to MASTER_ADDR */
    tgc_comm *c = open_comm_on(s, rank, 5.0, world == 3 ? "lo" : NULL);
    RANK_CHECK(c != NULL, "no comm");
    RANK_CHECK(tgc_comm_rank(c) == rank && tgc_comm_world(c) == world, "rank/world");
    RANK_CHECK(strcmp(tgc_comm_engine(c), "gloo") == 0, "engine");
    float *buf = tgc_malloc(N * sizeof(float));
    for (size_t i = 0; i < N; i++) buf[i] = value(rank, i);
    RANK_CHECK(tgc_comm_allreduce_sum_f32(c, buf, N, 0, &err) == 0, "%s", err.msg);
    for (size_t i = 0; i < N; i++) {
        float want = 0;
        for (int r = 0; r < world; r++) want += value(r, i);
        RANK_CHECK(buf[i] == want, "sum[%zu] = %g, want %g", i, buf[i], want);
    }
    /* the mean: sum, then divide by the world size */
    for (size_t i = 0; i < N; i++) buf[i] = value(rank, i);
    RANK_CHECK(tgc_comm_allreduce_sum_f32(c, buf, N, 1, &err) == 0, "%s", err.msg);
    for (size_t i = 0; i < N; i++) {
        float want = 0;
        for (int r = 0; r < world; r++) want += value(r, i);
        RANK_CHECK(buf[i] == want / (float)world, "mean[%zu] = %g", i, buf[i]);
    }
    /* a token that differs per job: two jobs side by side must not mix their values */
    float tok = (float)(token[strlen(token) - 1]);
    float one = tok * (float)(rank + 1);
    RANK_CHECK(tgc_comm_allreduce_sum_f32(c, &one, 1, 0, &err) == 0, "%s", err.msg);
    RANK_CHECK(one == tok * (float)(world * (world + 1) / 2), "job-local sum %g", one);
    /* broadcast from rank 0, then from the last rank */
    for (int root = 0; root < world; root += world - 1) {
        for (size_t i = 0; i < N; i++) buf[i] = value(rank, i) + 0.5f;
        RANK_CHECK(tgc_comm_broadcast_f32(c, buf, N, root, &err) == 0, "%s", err.msg);
        for (size_t i = 0; i < N; i++) RANK_CHECK(buf[i] == value(root, i) + 0.5f, "bcast[%zu] = %g", i, buf[i]);
        if (world == 1) break;
    }
    RANK_CHECK(tgc_comm_broadcast_f32(c, buf, N, world, &err) < 0 && strstr(err.msg, "is not a rank"), "%s",
               err.msg);
    RANK_CHECK(tgc_comm_barrier(c, &err) == 0, "%s", err.msg);
    RANK_CHECK(tgc_comm_allreduce_sum_f32(c, buf, 0, 0, &err) == 0, "%s", err.msg); /* empty is a no-op */
    free(buf);
    tgc_comm_free(c);
    tgc_store_close(s);
    return 0;
}

START_TEST(test_gloo_two_processes) {
    expect_job_ok(2, rank_collectives, NULL, 9.0);
}
END_TEST

START_TEST(test_gloo_three_processes) {
    expect_job_ok(3, rank_collectives, NULL, 9.0);
}
END_TEST

START_TEST(test_gloo_two_jobs_side_by_side) {
    void *args[2] = {"job-1", "job-7"};
    expect_jobs_ok(2, 2, rank_collectives, args, 9.0);
}
END_TEST

START_TEST(test_gloo_single_process) {
    int codes[1];
    run_job(1, rank_collectives, NULL, 9.0, codes);
    ck_assert_msg(codes[0] == 0, "exited with %d", codes[0]);
}
END_TEST

/* Buckets all-reduced asynchronously while the rank keeps computing give the synchronous result. */
#define BUCKETS 6
#define BUCKET_N 20000
static int rank_async(int rank, int world, int port, void *arg) {
    tgc_store *s = open_or_exit(rank, world, port, "job-async", 5.0);
    tgc_comm *c = open_comm(s, rank, 5.0);
    RANK_CHECK(c != NULL, "no comm");
    tgc_err err;
    float *async = tgc_malloc(BUCKETS * BUCKET_N * sizeof(float));
    float *sync = tgc_malloc(BUCKETS * BUCKET_N * sizeof(float));
    for (size_t i = 0; i < BUCKETS * BUCKET_N; i++) async[i] = sync[i] = value(rank, i) * 0.25f;
    int64_t tickets[BUCKETS];
    volatile double acc = 0;
    for (int b = 0; b < BUCKETS; b++) {
        tickets[b] = tgc_comm_allreduce_start(c, async + (size_t)b * BUCKET_N, BUCKET_N, 1, &err);
        RANK_CHECK(tickets[b] > 0 && (b == 0 || tickets[b] > tickets[b - 1]), "%s", err.msg);
        for (int i = 0; i < 200000; i++) acc += sin((double)i); /* "the rest of backward" */
    }
    RANK_CHECK(tgc_comm_wait(c, tickets[1], &err) == 0, "%s", err.msg);
    RANK_CHECK(tgc_comm_wait_all(c, &err) == 0, "%s", err.msg);
    RANK_CHECK(tgc_comm_wait(c, tickets[BUCKETS - 1] + 1, &err) < 0 && strstr(err.msg, "no collective"), "%s",
               err.msg);
    RANK_CHECK(tgc_comm_allreduce_sum_f32(c, sync, BUCKETS * BUCKET_N, 1, &err) == 0, "%s", err.msg);
    RANK_CHECK(memcmp(async, sync, BUCKETS * BUCKET_N * sizeof(float)) == 0, "async differs from sync");
    for (size_t i = 0; i < BUCKETS * BUCKET_N; i++) {
        float want = 0;
        for (int r = 0; r < world; r++) want += value(r, i) * 0.25f;
        RANK_CHECK(async[i] == want / (float)world, "mean[%zu] = %g", i, async[i]);
    }
    free(async);
    free(sync);
    tgc_comm_free(c);
    tgc_store_close(s);
    return 0;
}

START_TEST(test_gloo_async_overlap) {
    expect_job_ok(3, rank_async, NULL, 9.0);
}
END_TEST

/* Rank 2 is killed between two all-reduces: the others get an error naming their rank, no hang. */
static int rank_peer_dies(int rank, int world, int port, void *arg) {
    tgc_store *s = open_or_exit(rank, world, port, "job-gloo-dead", 20.0);
    tgc_comm *c = open_comm(s, rank, 4.0);
    RANK_CHECK(c != NULL, "no comm");
    tgc_err err;
    float buf[256];
    for (int i = 0; i < 256; i++) buf[i] = (float)rank;
    RANK_CHECK(tgc_comm_allreduce_sum_f32(c, buf, 256, 0, &err) == 0, "%s", err.msg);
    if (rank == 2) raise(SIGKILL);
    double t0 = tgc_now();
    int64_t t = tgc_comm_allreduce_start(c, buf, 256, 0, &err);
    RANK_CHECK(t > 0, "%s", err.msg);
    RANK_CHECK(tgc_comm_wait(c, t, &err) < 0, "the all-reduce succeeded without rank 2");
    char want[64];
    snprintf(want, sizeof want, "rank %d: Gloo allreduce failed: ", rank);
    RANK_CHECK(strncmp(err.msg, want, strlen(want)) == 0, "%s", err.msg);
    RANK_CHECK(tgc_now() - t0 < 6.0, "took %g s", tgc_now() - t0);
    /* the comm stays broken: later calls fail at once with the same message */
    tgc_err again;
    RANK_CHECK(tgc_comm_barrier(c, &again) < 0 && strcmp(again.msg, err.msg) == 0, "%s", again.msg);
    RANK_CHECK(tgc_comm_allreduce_start(c, buf, 1, 0, &again) < 0, "started on a broken comm");
    tgc_comm_free(c);
    tgc_store_close(s);
    return 0;
}

START_TEST(test_gloo_dead_peer) {
    int codes[3];
    run_job(3, rank_peer_dies, NULL, 9.0, codes);
    ck_assert_msg(codes[0] == 0 && codes[1] == 0, "ranks 0, 1 exited with %d, %d", codes[0], codes[1]);
    ck_assert_int_eq(codes[2], RANK_KILLED);
}
END_TEST

/* Rank 1 is alive but never joins the all-reduce: rank 0's fails at the collective timeout. */
static int rank_collective_timeout(int rank, int world, int port, void *arg) {
    tgc_store *s = open_or_exit(rank, world, port, "job-gloo-slow", 8.0);
    /* the comm's timeout covers its setup too: 1.5 s leaves room for a loaded machine */
    tgc_comm *c = open_comm(s, rank, 1.5);
    RANK_CHECK(c != NULL, "no comm");
    tgc_err err;
    if (rank == 1) {
        const char *k[] = {"r0_done"};
        RANK_CHECK(tgc_store_wait(s, k, 1, 8.0, &err) == 0, "%s", err.msg);
    } else {
        float buf[64] = {0};
        double t0 = tgc_now();
        RANK_CHECK(tgc_comm_allreduce_sum_f32(c, buf, 64, 0, &err) < 0, "reduced without rank 1");
        RANK_CHECK(strstr(err.msg, "rank 0: Gloo allreduce failed: ") && strstr(err.msg, "within 1.5 s"), "%s",
                   err.msg);
        double took = tgc_now() - t0;
        RANK_CHECK(took >= 1.4 && took < 5.0, "took %g s", took);
        RANK_CHECK(tgc_store_set(s, "r0_done", "", 0, &err) == 0, "%s", err.msg);
    }
    tgc_comm_free(c);
    tgc_store_close(s);
    return 0;
}

START_TEST(test_gloo_collective_timeout) {
    expect_job_ok(2, rank_collective_timeout, NULL, 9.0);
}
END_TEST

/* A rank that never creates its comm: the others' setup fails at the timeout, naming the key. */
static int rank_setup_timeout(int rank, int world, int port, void *arg) {
    tgc_store *s = open_or_exit(rank, world, port, "job-gloo-late", 5.0);
    tgc_err err;
    if (rank == 1) {
        const char *k[] = {"r0_done"};
        tgc_store_wait(s, k, 1, 5.0, &err);
        tgc_store_close(s);
        return 0;
    }
    tgc_comm_opts o = {.timeout_s = 0.5};
    double t0 = tgc_now();
    tgc_comm *c = tgc_comm_new_gloo(s, &o, &err);
    RANK_CHECK(c == NULL, "a comm without rank 1");
    RANK_CHECK(strstr(err.msg, "rank 0: timed out after 0.5 s waiting for key 'gloo/") != NULL &&
                   strstr(err.msg, "during Gloo's rendezvous"), "%s", err.msg);
    RANK_CHECK(tgc_now() - t0 < 5.0, "took %g s", tgc_now() - t0);
    tgc_store_set(s, "r0_done", "", 0, &err);
    tgc_store_close(s);
    return 0;
}

START_TEST(test_gloo_setup_timeout) {
    expect_job_ok(2, rank_setup_timeout, NULL, 9.0);
}
END_TEST

/* NCCL on this machine: compile and link are tested by this executable existing; at run time, with no
 * GPU (or no CUDA build) the constructor must fail with a message, not crash. */
START_TEST(test_nccl_without_gpu_is_an_error) {
    int port;
    tgc_store *s = NULL;
    tgc_err err;
    for (int tries = 0; tries < 20 && !s; tries++) {
        port = pick_port();
        tgc_store_cfg cfg = store_cfg(0, 1, port, "job-nccl", 2.0);
        s = tgc_store_open(&cfg, &err);
    }
    ck_assert_msg(s != NULL, "%s", err.msg);
    if (getenv("TGC_TEST_HAVE_GPU")) { /* set where a GPU is lent: then it must work */
        tgc_comm_opts o = {.device = 0};
        tgc_comm *c = tgc_comm_new_nccl(s, &o, &err);
        ck_assert_msg(c != NULL, "%s", err.msg);
        ck_assert_int_eq(tgc_comm_barrier(c, &err), 0);
        tgc_comm_free(c);
    } else {
        ck_assert_ptr_null(tgc_comm_new_nccl(s, NULL, &err));
        ck_assert_msg(strstr(err.msg, "rank 0: NCCL needs a CUDA GPU and none is visible") ||
                          strstr(err.msg, "rank 0: tgc was built without CUDA"), "%s", err.msg);
    }
    tgc_store_close(s);
}
END_TEST

static Suite *suite(void) {
    Suite *s = suite_create("comm_gloo");
    TCase *tc = tcase_create("gloo");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_gloo_two_processes);
    tcase_add_test(tc, test_gloo_three_processes);
    tcase_add_test(tc, test_gloo_two_jobs_side_by_side);
    tcase_add_test(tc, test_gloo_single_process);
    tcase_add_test(tc, test_gloo_async_overlap);
    tcase_add_test(tc, test_gloo_dead_peer);
    tcase_add_test(tc, test_gloo_collective_timeout);
    tcase_add_test(tc, test_gloo_setup_timeout);
    tcase_add_test(tc, test_nccl_without_gpu_is_an_error);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) {
    SRunner *sr = srunner_create(suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
