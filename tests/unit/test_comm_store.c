/* tests/unit/test_comm_store.c - the rendezvous store: set/get/add/wait across processes, refusals, a
 * taken port, timeouts, dead peers, and two jobs side by side. */
#include <check.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "test_comm_util.h"

static int rank_kv(int rank, int world, int port, void *arg) {
    const char *token = arg ? arg : "job-kv";
    tgc_store *s = open_or_exit(rank, world, port, token, 5.0);
    tgc_err err;
    char key[64], val[64];
    snprintf(key, sizeof key, "k/%d", rank);
    snprintf(val, sizeof val, "%s-value-%d", token, rank);
    RANK_CHECK(tgc_store_set(s, key, val, strlen(val), &err) == 0, "%s", err.msg);
    /* a get issued before the value exists blocks until the last rank sets it */
    if (rank == world - 1) {
        struct timespec ts = {0, 200 * 1000 * 1000};
        nanosleep(&ts, NULL);
        RANK_CHECK(tgc_store_set(s, "late", "L", 1, &err) == 0, "%s", err.msg);
    }
    void *data;
    size_t len;
    RANK_CHECK(tgc_store_get(s, "late", &data, &len, &err) == 0, "%s", err.msg);
    RANK_CHECK(len == 1 && ((char *)data)[0] == 'L' && ((char *)data)[1] == 0, "late value");
    free(data);
    char keys[MAX_RANKS][64];
    const char *kp[MAX_RANKS];
    for (int r = 0; r < world; r++) {
        snprintf(keys[r], sizeof keys[r], "k/%d", r);
        kp[r] = keys[r];
    }
    RANK_CHECK(tgc_store_wait(s, kp, world, 0, &err) == 0, "%s", err.msg);
    for (int r = 0; r < world; r++) {
        RANK_CHECK(tgc_store_get(s, kp[r], &data, &len, &err) == 0, "%s", err.msg);
        snprintf(val, sizeof val, "%s-value-%d", token, r);
        RANK_CHECK(len == strlen(val) && memcmp(data, val, len) == 0, "got '%s' for %s", (char *)data, kp[r]);
        free(data);
    }
    /* the counter: each rank adds rank + 1; the rank that completes it announces the total */
    int64_t v;
    RANK_CHECK(tgc_store_add(s, "counter", rank + 1, &v, &err) == 0, "%s", err.msg);
    RANK_CHECK(v >= rank + 1 && v <= world * (world + 1) / 2, "counter %lld", (long long)v);
    if (v == world * (world + 1) / 2) RANK_CHECK(tgc_store_set(s, "all_added", "", 0, &err) == 0, "%s", err.msg);
    const char *done[] = {"all_added"};
    RANK_CHECK(tgc_store_wait(s, done, 1, 0, &err) == 0, "%s", err.msg);
    RANK_CHECK(tgc_store_add(s, "counter", 0, &v, &err) == 0 && v == world * (world + 1) / 2, "total %lld",
               (long long)v);
    RANK_CHECK(tgc_store_add(s, "k/0", 1, NULL, &err) < 0 && strstr(err.msg, "not a counter"), "%s", err.msg);
    /* a rendezvous before leaving, so nobody's close races another's reads */
    RANK_CHECK(tgc_store_add(s, "leaving", 1, NULL, &err) == 0, "%s", err.msg);
    if (rank == 0) {
        for (;;) {
            RANK_CHECK(tgc_store_add(s, "leaving", 0, &v, &err) == 0, "%s", err.msg);
            if (v == world) break;
        }
        RANK_CHECK(tgc_store_set(s, "bye", "", 0, &err) == 0, "%s", err.msg);
    }
    const char *bye[] = {"bye"};
    RANK_CHECK(tgc_store_wait(s, bye, 1, 0, &err) == 0, "%s", err.msg);
    tgc_store_close(s);
    return 0;
}

START_TEST(test_store_four_processes) {
    expect_job_ok(4, rank_kv, NULL, 8.0);
}
END_TEST

START_TEST(test_store_two_jobs_side_by_side) {
    void *args[2] = {"job-A", "job-B"};
    expect_jobs_ok(2, 3, rank_kv, args, 8.0);
}
END_TEST

/* Starts rank 0's store on a free port, in this process. */
static tgc_store *open_master(int world, const char *token, double timeout_s, int *port) {
    tgc_err err;
    for (int tries = 0; tries < 20; tries++) {
        *port = pick_port();
        tgc_store_cfg cfg = store_cfg(0, world, *port, token, timeout_s);
        tgc_store *s = tgc_store_open(&cfg, &err);
        if (s) return s;
        ck_assert_msg(strstr(err.msg, "is in use") != NULL, "%s", err.msg);
    }
    ck_abort_msg("no free port");
    return NULL;
}

START_TEST(test_store_wrong_token_refused) {
    int port;
    tgc_store *s = open_master(2, "token-one", 5.0, &port);
    tgc_err err;
    tgc_store_cfg cfg = store_cfg(1, 2, port, "token-two", 2.0);
    ck_assert_ptr_null(tgc_store_connect(&cfg, &err));
    char want[256];
    snprintf(want, sizeof want, "rank 1: refused by the store at MASTER_ADDR 127.0.0.1:%d: job token differs",
             port);
    ck_assert_msg(strncmp(err.msg, want, strlen(want)) == 0, "%s", err.msg);
    /* another world size is refused as well, and so is a second process claiming rank 0 */
    cfg = store_cfg(1, 3, port, "token-one", 2.0);
    ck_assert_ptr_null(tgc_store_connect(&cfg, &err));
    ck_assert_msg(strstr(err.msg, "rank 1 of world 3 joined a job of world 2") != NULL, "%s", err.msg);
    cfg = store_cfg(0, 2, port, "token-one", 2.0);
    ck_assert_ptr_null(tgc_store_connect(&cfg, &err));
    ck_assert_msg(strstr(err.msg, "rank 0 is already connected") != NULL, "%s", err.msg);
    /* the server side records the refusals for the launcher to log */
    tgc_err last;
    ck_assert_int_eq(tgc_store_server_refused(tgc_store_owned_server(s), &last), 3);
    ck_assert_msg(strstr(last.msg, "refused a client: rank 0 is already connected") != NULL, "%s", last.msg);
    /* the right token still joins */
    cfg = store_cfg(1, 2, port, "token-one", 2.0);
    tgc_store *c = tgc_store_connect(&cfg, &err);
    ck_assert_msg(c != NULL, "%s", err.msg);
    tgc_store_close(c);
    tgc_store_close(s);
}
END_TEST

/* Bytes that are not our protocol (an HTTP probe, an oversized frame) are refused; the store goes on. */
START_TEST(test_store_garbage_client) {
    int port;
    tgc_store *s = open_master(1, "t", 5.0, &port);
    const char *probes[2] = {"GET / HTTP/1.0\r\n\r\n", "TGCS\x02\0\0\0\xff\xff\xff\xff\0\0\0\0\0\0\0\0"};
    size_t lens[2] = {18, 20};
    for (int p = 0; p < 2; p++) {
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                                .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        struct timeval tv = {.tv_sec = 3};
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        ck_assert_int_eq(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
        ck_assert_int_eq(send(fd, probes[p], lens[p], MSG_NOSIGNAL), (ssize_t)lens[p]);
        char buf[512];
        size_t got = 0;
        ssize_t r;
        while ((r = recv(fd, buf + got, sizeof buf - 1 - got, 0)) > 0) got += (size_t)r; /* until closed */
        close(fd);
        buf[got] = 0;
        ck_assert_msg(got > 12 && strstr(buf + 12, "not a tgc store client"), "reply of %zu bytes", got);
    }
    tgc_err last, err;
    ck_assert_int_eq(tgc_store_server_refused(tgc_store_owned_server(s), &last), 2);
    ck_assert_int_eq(tgc_store_set(s, "still", "ok", 2, &err), 0);
    tgc_store_close(s);
}
END_TEST

static int dial(int port) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    struct timeval tv = {.tv_sec = 5};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    ck_assert_int_eq(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
    return fd;
}

/* Reads until the server closes (or 5 s pass): the bytes received. */
static size_t drain(int fd, char *buf, size_t cap) {
    size_t got = 0;
    ssize_t r;
    while (got < cap - 1 && (r = recv(fd, buf + got, cap - 1 - got, 0)) > 0) got += (size_t)r;
    buf[got] = 0;
    return got;
}

/* A hostile client on loopback: a large request before the token is refused at its header (nothing large
 * is read), half a message is dropped after the store's timeout (2 s here), and a flood of idle
 * connections beyond the limit evicts the oldest tokenless ones, so a real rank still joins. */
START_TEST(test_store_hostile_client) {
    int port;
    tgc_store *s = open_master(2, "tok", 2.0, &port);
    tgc_err err;
    /* SET with a 4 MiB value before HELLO: the refusal arrives without the value being sent */
    uint8_t hdr[20];
    const uint32_t words[5] = {0x53434754u, 2, 1, 4u << 20, 0};
    for (int i = 0; i < 5; i++)
        for (int k = 0; k < 4; k++) hdr[4 * i + k] = (uint8_t)(words[i] >> (8 * k));
    int fd = dial(port);
    ck_assert_int_eq(send(fd, hdr, sizeof hdr, MSG_NOSIGNAL), 20);
    ck_assert_int_eq(send(fd, "k", 1, MSG_NOSIGNAL), 1);
    char buf[512];
    double t0 = tgc_now();
    size_t got = drain(fd, buf, sizeof buf);
    close(fd);
    ck_assert_msg(got > 12 && strstr(buf + 12, "other than HELLO before the job token"), "reply of %zu bytes", got);
    ck_assert_msg(tgc_now() - t0 < 1.0, "the refusal took %.2f s", tgc_now() - t0);
    /* half a header, then silence: closed by the server after the store's 2 s timeout */
    fd = dial(port);
    ck_assert_int_eq(send(fd, hdr, 10, MSG_NOSIGNAL), 10);
    t0 = tgc_now();
    got = drain(fd, buf, sizeof buf);
    double idle = tgc_now() - t0;
    close(fd);
    ck_assert_msg(got == 0 && idle > 1.5 && idle < 4.5, "half message: %zu bytes, closed after %.2f s", got, idle);
    /* a flood: 1100 idle connections (the server keeps at most 1024) */
    enum { FLOOD = 1100 };
    static int fds[FLOOD];
    for (int i = 0; i < FLOOD; i++) fds[i] = dial(port);
    tgc_store_cfg cfg = store_cfg(1, 2, port, "tok", 2.0);
    tgc_store *c = tgc_store_connect(&cfg, &err);
    ck_assert_msg(c != NULL, "a rank could not join during a flood: %s", err.msg);
    ck_assert_int_eq(tgc_store_set(c, "during", "flood", 5, &err), 0);
    for (int i = 0; i < FLOOD; i++) close(fds[i]);
    void *data;
    size_t len;
    ck_assert_msg(tgc_store_get(s, "during", &data, &len, &err) == 0 && len == 5, "%s", err.msg);
    free(data);
    tgc_store_close(c);
    tgc_store_close(s);
}
END_TEST

START_TEST(test_store_port_in_use) {
    int port;
    tgc_store *s = open_master(1, "t", 5.0, &port);
    tgc_err err;
    tgc_store_cfg cfg = store_cfg(0, 1, port, "t", 5.0);
    ck_assert_ptr_null(tgc_store_server_start(&cfg, &err));
    char want[128];
    snprintf(want, sizeof want, "port %d is in use: set PORT to run a second job", port);
    ck_assert_str_eq(err.msg, want);
    tgc_store_close(s);
}
END_TEST

START_TEST(test_store_timeouts) {
    int port;
    tgc_store *s = open_master(2, "t", 0.3, &port);
    tgc_err err;
    void *data;
    size_t len;
    /* rank 1 joins and leaves cleanly: a clean leave is not a death, so rank 0's get times out */
    tgc_store_cfg cfg1 = store_cfg(1, 2, port, "t", 0.3);
    tgc_store *r1 = tgc_store_connect(&cfg1, &err);
    ck_assert_msg(r1 != NULL, "%s", err.msg);
    tgc_store_close(r1);
    double t0 = tgc_now();
    ck_assert_int_eq(tgc_store_get(s, "gloo/rank1", &data, &len, &err), -1);
    double took = tgc_now() - t0;
    char want[256];
    snprintf(want, sizeof want, "rank 0: timed out after 0.3 s waiting for key 'gloo/rank1' from MASTER_ADDR "
             "127.0.0.1:%d", port);
    ck_assert_str_eq(err.msg, want);
    ck_assert_msg(took >= 0.25 && took < 5.0, "took %g s", took);
    /* wait shares one deadline over its keys; the store is still usable after a timeout */
    ck_assert_int_eq(tgc_store_set(s, "a", "1", 1, &err), 0);
    const char *keys[] = {"a", "b"};
    ck_assert_int_eq(tgc_store_wait(s, keys, 2, 0.2, &err), -1);
    ck_assert_msg(strstr(err.msg, "timed out after 0.2 s waiting for key 'b'") != NULL, "%s", err.msg);
    ck_assert_int_eq(tgc_store_get(s, "a", &data, &len, &err), 0);
    free(data);
    /* bounded sizes */
    char big[TGC_STORE_MAX_KEY + 2];
    memset(big, 'k', sizeof big - 1);
    big[sizeof big - 1] = 0;
    ck_assert_int_eq(tgc_store_set(s, big, "", 0, &err), -1);
    ck_assert_msg(strstr(err.msg, "store keys are 1..1024 bytes") != NULL, "%s", err.msg);
    tgc_store_close(s);
    /* nobody listening: connecting gives up at the timeout, naming MASTER_ADDR */
    int free_port = pick_port();
    tgc_store_cfg cfg = store_cfg(1, 2, free_port, "t", 0.3);
    ck_assert_ptr_null(tgc_store_connect(&cfg, &err));
    snprintf(want, sizeof want, "rank 1: could not connect to the store at MASTER_ADDR 127.0.0.1:%d within 0.3 s",
             free_port);
    ck_assert_msg(strncmp(err.msg, want, strlen(want)) == 0, "%s", err.msg);
}
END_TEST

/* Rank 2 connects and is killed; ranks 0 and 1 are waiting for a key it will never set. */
static int rank_dies(int rank, int world, int port, void *arg) {
    tgc_store *s = open_or_exit(rank, world, port, "job-dead", 20.0);
    tgc_err err;
    if (rank == 2) {
        RANK_CHECK(tgc_store_set(s, "r2_joined", "", 0, &err) == 0, "%s", err.msg);
        raise(SIGKILL);
    }
    const char *joined[] = {"r2_joined"};
    RANK_CHECK(tgc_store_wait(s, joined, 1, 0, &err) == 0, "%s", err.msg);
    void *data;
    size_t len;
    double t0 = tgc_now();
    RANK_CHECK(tgc_store_get(s, "from_rank2", &data, &len, &err) < 0, "got a value");
    RANK_CHECK(strstr(err.msg, "rank 2 disconnected from the store without closing it") != NULL, "%s", err.msg);
    RANK_CHECK(tgc_now() - t0 < 5.0, "took %g s", tgc_now() - t0);
    if (rank == 1) tgc_store_set(s, "r1_done", "", 0, &err);
    if (rank == 0) { /* keep the server up until rank 1 has seen the error */
        const char *r1[] = {"r1_done"};
        tgc_store_wait(s, r1, 1, 5.0, &err);
    }
    tgc_store_close(s);
    return 0;
}

START_TEST(test_store_dead_peer) {
    int codes[3];
    run_job(3, rank_dies, NULL, 8.0, codes);
    ck_assert_msg(codes[0] == 0 && codes[1] == 0, "ranks 0, 1 exited with %d, %d", codes[0], codes[1]);
    ck_assert_int_eq(codes[2], RANK_KILLED);
}
END_TEST

/* The master (rank 0) is killed: rank 1's blocked get fails at once. */
static int rank_master_dies(int rank, int world, int port, void *arg) {
    tgc_store *s = open_or_exit(rank, world, port, "job-master", 20.0);
    tgc_err err;
    if (rank == 0) {
        const char *k[] = {"r1_joined"};
        RANK_CHECK(tgc_store_wait(s, k, 1, 0, &err) == 0, "%s", err.msg);
        raise(SIGKILL);
    }
    RANK_CHECK(tgc_store_set(s, "r1_joined", "", 0, &err) == 0, "%s", err.msg);
    void *data;
    size_t len;
    double t0 = tgc_now();
    RANK_CHECK(tgc_store_get(s, "never", &data, &len, &err) < 0, "got a value");
    RANK_CHECK(strstr(err.msg, "rank 1: lost the connection to the store at MASTER_ADDR 127.0.0.1") != NULL &&
                   strstr(err.msg, "rank 0 exited?"), "%s", err.msg);
    RANK_CHECK(tgc_now() - t0 < 5.0, "took %g s", tgc_now() - t0);
    /* the handle stays broken with the same message */
    RANK_CHECK(tgc_store_set(s, "x", "", 0, &err) < 0 && strstr(err.msg, "lost the connection"), "%s", err.msg);
    tgc_store_close(s);
    return 0;
}

START_TEST(test_store_master_dies) {
    int codes[2];
    run_job(2, rank_master_dies, NULL, 8.0, codes);
    ck_assert_int_eq(codes[0], RANK_KILLED);
    ck_assert_msg(codes[1] == 0, "rank 1 exited with %d", codes[1]);
}
END_TEST

static Suite *suite(void) {
    Suite *s = suite_create("comm_store");
    TCase *tc = tcase_create("store");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_store_four_processes);
    tcase_add_test(tc, test_store_two_jobs_side_by_side);
    tcase_add_test(tc, test_store_wrong_token_refused);
    tcase_add_test(tc, test_store_garbage_client);
    tcase_add_test(tc, test_store_port_in_use);
    tcase_add_test(tc, test_store_hostile_client);
    tcase_add_test(tc, test_store_timeouts);
    tcase_add_test(tc, test_store_dead_peer);
    tcase_add_test(tc, test_store_master_dies);
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
