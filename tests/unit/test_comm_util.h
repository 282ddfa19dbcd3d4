/* tests/unit/test_comm_util.h - fork-based multi-process jobs on loopback for the store and comm tests.
 *
 * A job is `world` child processes, one per rank, each running a rank function that returns 0 on
 * success or a small code (printing its reason to stderr). The parent collects the exit codes with a
 * deadline and SIGKILLs children that outlive it, so a hang is a failed test, never a stuck one.
 * Ports are drawn at random from a high range and probed; a job whose rank 0 reports its port taken
 * (RANK_PORT_BUSY) is rerun on another port.
 */
#ifndef TGC_TEST_COMM_UTIL_H
#define TGC_TEST_COMM_UTIL_H

#include <check.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/util.h"
#include "runtime/dist/store/store.h"

#define RANK_PORT_BUSY 99
#define RANK_KILLED (-9)  /* exit code recorded for a child killed by SIGKILL */
#define RANK_HUNG (-100)  /* the child outlived the job's deadline */
#define MAX_RANKS 8

typedef int (*rank_fn)(int rank, int world, int port, void *arg);

/* A port in [30000, 60000) that nothing listens on right now. */
static int pick_port(void) {
    static unsigned seed;
    if (!seed) seed = (unsigned)getpid() ^ (unsigned)time(NULL) * 2654435761u;
    for (int tries = 0; tries < 200; tries++) {
        int port = 30000 + (int)(rand_r(&seed) % 30000u);
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        int one = 1;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                                .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        int ok = bind(fd, (struct sockaddr *)&a, sizeof a) == 0;
        close(fd);
        if (ok) return port;
    }
    return 0;
}

static tgc_store_cfg store_cfg(int rank, int world, int port, const char *token, double timeout_s) {
    return (tgc_store_cfg){.addr = "127.0.0.1", .port = port, .token = token, .rank = rank,
                           .world = world, .timeout_s = timeout_s};
}

/* Opens the store; on a taken port rank 0 exits with RANK_PORT_BUSY so the job is rerun elsewhere. */
static tgc_store *open_or_exit(int rank, int world, int port, const char *token, double timeout_s) {
    tgc_store_cfg cfg = store_cfg(rank, world, port, token, timeout_s);
    tgc_err err;
    tgc_store *s = tgc_store_open(&cfg, &err);
    if (!s) {
        fprintf(stderr, "%s\n", err.msg);
        _exit(strstr(err.msg, "is in use") ? RANK_PORT_BUSY : 1);
    }
    return s;
}

static void spawn_ranks(pid_t *pids, int world, int port, rank_fn fn, void *arg) {
    fflush(NULL); /* a child must not print the parent's buffered output again */
    for (int r = 0; r < world; r++) {
        pids[r] = fork();
        if (pids[r] == 0) /* exit, not _exit: under ASan, LeakSanitizer checks each rank at exit */
            exit(fn(r, world, port, arg));
    }
}

/* Reaps n children until the deadline; codes[i]: exit status, RANK_KILLED or RANK_HUNG. */
static void reap(pid_t *pids, int *codes, int n, double deadline) {
    int left = n;
    for (int i = 0; i < n; i++) codes[i] = RANK_HUNG;
    while (left > 0 && tgc_now() < deadline) {
        for (int i = 0; i < n; i++) {
            int st;
            if (codes[i] != RANK_HUNG || pids[i] <= 0 || waitpid(pids[i], &st, WNOHANG) != pids[i]) continue;
            codes[i] = WIFEXITED(st) ? WEXITSTATUS(st) : WIFSIGNALED(st) ? -WTERMSIG(st) : -1;
            left--;
        }
        struct timespec ts = {0, 5 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    for (int i = 0; i < n; i++)
        if (codes[i] == RANK_HUNG && pids[i] > 0) {
            kill(pids[i], SIGKILL);
            waitpid(pids[i], NULL, 0);
        }
}

/* Runs `njobs` jobs of `world` ranks side by side, each on its own port, and fills
 * codes[job * world + rank]. A job whose rank 0 found its port taken is rerun. */
static void run_jobs(int njobs, int world, rank_fn fn, void **args, double limit_s, int *codes) {
    pid_t pids[MAX_RANKS * 4];
    int ports[4];
    for (int attempt = 0; attempt < 5; attempt++) {
        for (int j = 0; j < njobs; j++) {
            do ports[j] = pick_port();
            while (j == 1 && ports[1] == ports[0]);
            spawn_ranks(pids + j * world, world, ports[j], fn, args ? args[j] : NULL);
        }
        reap(pids, codes, njobs * world, tgc_now() + limit_s);
        int busy = 0;
        for (int j = 0; j < njobs; j++) busy |= codes[j * world] == RANK_PORT_BUSY;
        if (!busy) return;
    }
}

static inline void run_job(int world, rank_fn fn, void *arg, double limit_s, int *codes) {
    void *args[1] = {arg};
    run_jobs(1, world, fn, args, limit_s, codes);
}

/* run_jobs / run_job, failing the test unless every rank exited with 0. */
static inline void expect_jobs_ok(int njobs, int world, rank_fn fn, void **args, double limit_s) {
    int codes[MAX_RANKS * 4];
    run_jobs(njobs, world, fn, args, limit_s, codes);
    for (int r = 0; r < njobs * world; r++)
        ck_assert_msg(codes[r] == 0, "job %d rank %d exited with %d", r / world, r % world, codes[r]);
}

static inline void expect_job_ok(int world, rank_fn fn, void *arg, double limit_s) {
    void *args[1] = {arg};
    expect_jobs_ok(1, world, fn, args, limit_s);
}

/* A rank's check: prints the failed condition and returns the line as its exit code's source. */
#define RANK_CHECK(cond, ...)                                                                      \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "rank %d, %s:%d: check failed: %s: ", rank, __FILE__, __LINE__, #cond); \
            fprintf(stderr, __VA_ARGS__);                                                          \
            fprintf(stderr, "\n");                                                                 \
            return 1;                                                                              \
        }                                                                                          \
    } while (0)

#endif
