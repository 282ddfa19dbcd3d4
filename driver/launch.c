/* driver/launch.c - `tgc run/train --nproc N | --gpus N`: starts this node's workers, forwards signals to
 * them, and ends the whole job when one of them fails.
 *
 * Each worker is this same command line without the launch options, plus `--launcher pytorch`, with RANK,
 * LOCAL_RANK, WORLD_SIZE, LOCAL_WORLD_SIZE, MASTER_ADDR, MASTER_PORT and TGC_JOB_TOKEN in its environment
 * (what torch.distributed.launch gives MMEngine's workers). Workers run in their own process groups, so
 * a Ctrl-C reaches only the launcher, which forwards it exactly once (a worker's second signal means
 * "exit at once"); each worker also gets SIGTERM if the launcher itself dies (PR_SET_PDEATHSIG).
 */
#include <errno.h>
#include <netdb.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "driver/driver.h"
#include "runtime/dist/dist.h"

extern char **environ;

#define KILL_GRACE_S 10.0 /* after a failure, how long the other workers get to stop before SIGKILL */

static volatile sig_atomic_t g_launch_signal, g_launch_signals;

static void on_launch_signal(int sig) {
    g_launch_signal = sig;
    g_launch_signals++;
}

/* A fresh random job token: two jobs on one machine never share one, whatever their ports. */
static int random_token(char *buf, size_t size) {
    unsigned char b[16];
    FILE *f = fopen("/dev/urandom", "rb");
    if (!f || fread(b, 1, sizeof b, f) != sizeof b) {
        if (f) fclose(f);
        return -1;
    }
    fclose(f);
    size_t n = 0;
    n += (size_t)snprintf(buf + n, size - n, "job-");
    for (size_t i = 0; i < sizeof b && n + 3 < size; i++) n += (size_t)snprintf(buf + n, size - n, "%02x", b[i]);
    return 0;
}

/* 1 when something already listens on addr:port (the store would fail on it), else 0. */
static int port_in_use(const char *addr, int port) {
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE}, *res;
    char ps[16];
    snprintf(ps, sizeof ps, "%d", port);
    if (getaddrinfo(addr, ps, &hints, &res) != 0) return 0; /* the store reports a bad address itself */
    int busy = 0;
    for (struct addrinfo *a = res; a && !busy; a = a->ai_next) {
        int fd = socket(a->ai_family, a->ai_socktype, a->ai_protocol);
        if (fd < 0) continue;
        int one = 1;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        if (bind(fd, a->ai_addr, a->ai_addrlen) < 0 && errno == EADDRINUSE) busy = 1;
        close(fd);
    }
    freeaddrinfo(res);
    return busy;
}

static const char *const g_env_keys[] = {"RANK", "LOCAL_RANK", "WORLD_SIZE", "LOCAL_WORLD_SIZE", "MASTER_ADDR",
                                         "MASTER_PORT", "TGC_JOB_TOKEN", "GROUP_RANK"};

/* The parent's environment without the keys the launcher sets, plus those (owned strings; NULL-ended). */
static char **worker_env(const tgc_node_env *ne, int nproc, int local, const char *token, int threads) {
    int n = 0;
    while (environ[n]) n++;
    char **env = tgc_calloc((size_t)n + TGC_ARRAY_LEN(g_env_keys) + 2, sizeof *env);
    int k = 0;
    for (int i = 0; i < n; i++) {
        int ours = 0;
        for (size_t j = 0; j < TGC_ARRAY_LEN(g_env_keys); j++) {
            size_t l = strlen(g_env_keys[j]);
            if (!strncmp(environ[i], g_env_keys[j], l) && environ[i][l] == '=') ours = 1;
        }
        if (!ours) env[k++] = tgc_strdup(environ[i]);
    }
    env[k++] = tgc_asprintf("RANK=%d", ne->node_rank * nproc + local);
    env[k++] = tgc_asprintf("LOCAL_RANK=%d", local);
    env[k++] = tgc_asprintf("WORLD_SIZE=%d", ne->nnodes * nproc);
    env[k++] = tgc_asprintf("LOCAL_WORLD_SIZE=%d", nproc);
    env[k++] = tgc_asprintf("GROUP_RANK=%d", ne->node_rank);
    env[k++] = tgc_asprintf("MASTER_ADDR=%s", ne->master_addr);
    env[k++] = tgc_asprintf("MASTER_PORT=%d", ne->port);
    env[k++] = tgc_asprintf("TGC_JOB_TOKEN=%s", token);
    if (threads > 0) env[k++] = tgc_asprintf("OMP_NUM_THREADS=%d", threads);
    env[k] = NULL;
    return env;
}

static void free_strv(char **v) {
    for (int i = 0; v && v[i]; i++) free(v[i]);
    free(v);
}

static void describe(char *buf, size_t size, int st) {
    if (WIFSIGNALED(st)) {
        int sig = WTERMSIG(st);
        const char *name = sig == SIGKILL ? "SIGKILL" : sig == SIGSEGV ? "SIGSEGV" : sig == SIGABRT ? "SIGABRT"
                           : sig == SIGTERM ? "SIGTERM" : sig == SIGINT ? "SIGINT" : sig == SIGBUS ? "SIGBUS" : "";
        snprintf(buf, size, "was killed by signal %d%s%s%s", sig, *name ? " (" : "", name, *name ? ")" : "");
    } else {
        snprintf(buf, size, "exited with status %d", WEXITSTATUS(st));
    }
}

static int exit_code(int st) { return WIFSIGNALED(st) ? 128 + WTERMSIG(st) : WEXITSTATUS(st); }

static void sleep_ms(int ms) {
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL); /* a signal cuts it short, which is what the loop wants */
}

/* argv of a worker: this executable, the command, its arguments without the launch options, --launcher
 * pytorch (owned strings; NULL-ended). */
static char **worker_argv(const tgc_run_args *a) {
    char exe[4096];
    ssize_t el = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (el <= 0) snprintf(exe, sizeof exe, "/proc/self/exe");
    else exe[el] = 0;
    char **argv = tgc_calloc((size_t)a->argc + 4, sizeof *argv);
    int n = 0;
    argv[n++] = tgc_strdup(exe);
    argv[n++] = tgc_strdup(a->verb);
    for (int i = 1; i < a->argc; i++) {
        int skip = 0;
        for (int k = 0; k < a->n_skip; k++) skip |= a->skip[k] == i;
        if (!skip) argv[n++] = tgc_strdup(a->argv[i]);
    }
    argv[n++] = tgc_strdup("--launcher");
    argv[n++] = tgc_strdup("pytorch");
    argv[n] = NULL;
    return argv;
}

/* This node's workers as the launcher tracks them. */
typedef struct job {
    const tgc_node_env *ne;
    int nproc;
    pid_t *pids;     /* 0 for a worker that was never started */
    int *done;       /* reaped */
    int live;        /* started and not reaped */
    int rc;          /* the job's exit status so far */
    int failed;      /* a worker failed (or could not start): the others are being stopped */
    int forwarded;   /* signals to the launcher forwarded so far (g_launch_signals when last forwarded) */
    int killed;      /* the SIGKILL after KILL_GRACE_S was sent */
    double deadline; /* after a failure: when the workers still running get SIGKILL */
} job;

/* Sends sig to every started worker not reaped yet. */
static void signal_workers(job *j, int sig) {
    for (int k = 0; k < j->nproc; k++)
        if (j->pids[k] > 0 && !j->done[k]) kill(j->pids[k], sig);
}

/* Forks and execs the workers, each in its own process group with the parent's SIGINT/SIGTERM
 * handling (old_int, old_term). Returns 0, or TGC_EXIT_ERROR once one could not be started. */
static int start_workers(job *j, char **argv, const char *token, int threads, const struct sigaction *old_int,
                         const struct sigaction *old_term) {
    pid_t self = getpid();
    for (int l = 0; l < j->nproc; l++) {
        char **env = worker_env(j->ne, j->nproc, l, token, threads);
        pid_t pid = fork();
        if (pid == 0) {
            setpgid(0, 0); /* a terminal's Ctrl-C reaches the launcher only; it forwards once */
            prctl(PR_SET_PDEATHSIG, SIGTERM);
            if (getppid() != self) _exit(1); /* the launcher died before prctl */
            sigaction(SIGINT, old_int, NULL);
            sigaction(SIGTERM, old_term, NULL);
            execve(argv[0], argv, env);
            fprintf(stderr, "tgc: cannot start worker %d (%s): %s\n", l, argv[0], strerror(errno));
            _exit(127);
        }
        free_strv(env);
        if (pid < 0) {
            fprintf(stderr, "tgc: cannot start worker %d: %s\n", l, strerror(errno));
            return TGC_EXIT_ERROR;
        }
        setpgid(pid, pid); /* also here: no window in which a signal to the group reaches it */
        j->pids[l] = pid;
        j->live++;
    }
    return 0;
}

/* Worker l ended with wait status st. The first failure ends the job: the others get SIGTERM now and
 * SIGKILL after KILL_GRACE_S. An exit by a forwarded signal is not a failure. */
static void worker_ended(job *j, int l, pid_t pid, int st) {
    j->done[l] = 1;
    j->live--;
    int rank = j->ne->node_rank * j->nproc + l;
    int expected = j->forwarded && exit_code(st) == 128 + g_launch_signal;
    if ((WIFEXITED(st) && WEXITSTATUS(st) == 0) || expected) return;
    char why[96];
    describe(why, sizeof why, st);
    if (!j->failed) {
        j->failed = 1;
        j->rc = exit_code(st);
        fprintf(stderr, "tgc: rank %d (pid %d) %s; stopping the other workers\n", rank, (int)pid, why);
        signal_workers(j, SIGTERM);
        j->deadline = tgc_now() + KILL_GRACE_S;
    } else {
        fprintf(stderr, "tgc: rank %d (pid %d) %s\n", rank, (int)pid, why);
    }
}

/* Signals that reached the launcher since the last call: forwarded to the workers once each (a third
 * one kills); after a failure they only end the grace period. */
static void forward_signals(job *j) {
    if (g_launch_signals <= j->forwarded) return;
    if (j->failed) { /* already stopping after a failure: no more waiting */
        j->forwarded = g_launch_signals;
        j->deadline = 0;
        return;
    }
    int sig = g_launch_signals >= 3 ? SIGKILL : g_launch_signal;
    j->forwarded = g_launch_signals;
    if (j->forwarded == 1)
        fprintf(stderr, "tgc: %s: stopping the workers (they finish the iteration, rank 0 saves a checkpoint; "
                        "a second signal stops them at once)\n", g_launch_signal == SIGINT ? "SIGINT" : "SIGTERM");
    signal_workers(j, sig);
}

/* After a failure, SIGKILL for the workers that outlived the grace period. */
static void kill_stragglers(job *j) {
    if (!j->failed || j->killed || tgc_now() <= j->deadline) return;
    j->killed = 1;
    for (int k = 0; k < j->nproc; k++)
        if (j->pids[k] > 0 && !j->done[k]) {
            fprintf(stderr, "tgc: rank %d (pid %d) did not stop within %g s; killing it\n",
                    j->ne->node_rank * j->nproc + k, (int)j->pids[k], KILL_GRACE_S);
            kill(j->pids[k], SIGKILL);
        }
}

/* Waits for every started worker, forwarding signals and ending the job at the first failure. Returns
 * the job's exit status. */
static int supervise(job *j) {
    if (j->failed) {
        j->deadline = tgc_now() + KILL_GRACE_S;
        signal_workers(j, SIGTERM);
    }
    while (j->live > 0) {
        int st;
        pid_t pid = waitpid(-1, &st, WNOHANG);
        if (pid > 0) {
            int l = 0;
            while (l < j->nproc && j->pids[l] != pid) l++;
            if (l < j->nproc) worker_ended(j, l, pid, st);
            continue;
        }
        if (pid < 0 && errno != EINTR) break; /* no children left */
        forward_signals(j);
        kill_stragglers(j);
        sleep_ms(10);
    }
    if (!j->failed && j->forwarded) j->rc = 128 + g_launch_signal;
    return j->rc;
}

int tgc_launch_workers(tgc_run_args *a) {
    tgc_err err;
    tgc_node_env ne;
    const char *opt = a->gpus ? "--gpus" : "--nproc";
    if (tgc_node_env_read(tgc_dist_getenv, NULL, &ne, &err) < 0) {
        fprintf(stderr, "tgc: %s %d: %s\n", opt, a->nproc, err.msg);
        return TGC_EXIT_ERROR;
    }
    int nproc = a->nproc, world = ne.nnodes * nproc;
    if (world == 1) return -1; /* one process: train here */

    /* The token: random on one node; on several, every node derives the same one from the plan,
     * the port and TGC_JOB_TOKEN (runtime/dist/dist.h). */
    char token[TGC_DIST_MAX_ADDR];
    const char *user = getenv("TGC_JOB_TOKEN");
    if (ne.nnodes > 1) snprintf(token, sizeof token, "%s", user ? user : "");
    else if (random_token(token, sizeof token) < 0) {
        fprintf(stderr, "tgc: cannot read /dev/urandom for a job token\n");
        return TGC_EXIT_ERROR;
    }
    if (ne.node_rank == 0 && port_in_use(ne.master_addr, ne.port)) {
        fprintf(stderr, "tgc: port %d on %s is in use (another job?): set PORT to run a second job\n", ne.port,
                ne.master_addr);
        return TGC_EXIT_ERROR;
    }
    /* Threads: the cores shared among this node's workers, unless OMP_NUM_THREADS says otherwise. */
    int threads = 0;
    if (!tgc_env_threads()) threads = TGC_MAX(1, tgc_online_cores() / nproc);
    char **argv = worker_argv(a);

    printf("tgc: starting %d worker%s on node %d of %d (ranks %d..%d of %d), rendezvous at %s:%d%s\n", nproc,
           nproc == 1 ? "" : "s", ne.node_rank, ne.nnodes, ne.node_rank * nproc, ne.node_rank * nproc + nproc - 1,
           world, ne.master_addr, ne.port, threads ? "" : " (OMP_NUM_THREADS as set)");
    if (threads) printf("tgc: each worker uses %d thread%s (set OMP_NUM_THREADS to change)\n", threads,
                        threads == 1 ? "" : "s");
    fflush(stdout);
    fflush(stderr);

    struct sigaction sa, old_int, old_term;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_launch_signal;
    sigemptyset(&sa.sa_mask);
    g_launch_signal = g_launch_signals = 0;
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);

    job j = {.ne = &ne, .nproc = nproc};
    j.pids = tgc_calloc((size_t)nproc, sizeof *j.pids);
    j.done = tgc_calloc((size_t)nproc, sizeof *j.done);
    j.rc = start_workers(&j, argv, token, threads, &old_int, &old_term);
    j.failed = j.rc != 0;
    int rc = supervise(&j);
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);
    free(j.pids);
    free(j.done);
    free_strv(argv);
    return rc;
}
