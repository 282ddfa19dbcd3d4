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

    /* argv: this executable, the command, its arguments without the launch options, --launcher pytorch. */
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

    pid_t *pids = tgc_calloc((size_t)nproc, sizeof *pids);
    int *done = tgc_calloc((size_t)nproc, sizeof *done);
    pid_t self = getpid();
    int rc = 0, live = 0;
    for (int l = 0; l < nproc; l++) {
        char **env = worker_env(&ne, nproc, l, token, threads);
        pid_t pid = fork();
        if (pid == 0) {
            setpgid(0, 0); /* a terminal's Ctrl-C reaches the launcher only; it forwards once */
            prctl(PR_SET_PDEATHSIG, SIGTERM);
            if (getppid() != self) _exit(1); /* the launcher died before prctl */
            sigaction(SIGINT, &old_int, NULL);
            sigaction(SIGTERM, &old_term, NULL);
            execve(argv[0], argv, env);
            fprintf(stderr, "tgc: cannot start worker %d (%s): %s\n", l, argv[0], strerror(errno));
            _exit(127);
        }
        free_strv(env);
        if (pid < 0) {
            fprintf(stderr, "tgc: cannot start worker %d: %s\n", l, strerror(errno));
            rc = TGC_EXIT_ERROR;
            break;
        }
        setpgid(pid, pid); /* also here: no window in which a signal to the group reaches it */
        pids[l] = pid;
        live++;
    }

    /* Wait. The first failure ends the job: the others get SIGTERM and, after KILL_GRACE_S, SIGKILL. */
    int failed = rc != 0, forwarded = 0, killed = 0;
    double deadline = rc ? tgc_now() + KILL_GRACE_S : 0;
    if (rc)
        for (int l = 0; l < nproc; l++)
            if (pids[l] > 0) kill(pids[l], SIGTERM);
    while (live > 0) {
        int st;
        pid_t pid = waitpid(-1, &st, WNOHANG);
        if (pid > 0) {
            int l = 0;
            while (l < nproc && pids[l] != pid) l++;
            if (l == nproc) continue;
            done[l] = 1;
            live--;
            int rank = ne.node_rank * nproc + l;
            int expected = forwarded && exit_code(st) == 128 + g_launch_signal;
            if ((WIFEXITED(st) && WEXITSTATUS(st) == 0) || expected) continue;
            char why[96];
            describe(why, sizeof why, st);
            if (!failed) {
                failed = 1;
                rc = exit_code(st);
                fprintf(stderr, "tgc: rank %d (pid %d) %s; stopping the other workers\n", rank, (int)pid, why);
                for (int k = 0; k < nproc; k++)
                    if (!done[k]) kill(pids[k], SIGTERM);
                deadline = tgc_now() + KILL_GRACE_S;
            } else {
                fprintf(stderr, "tgc: rank %d (pid %d) %s\n", rank, (int)pid, why);
            }
            continue;
        }
        if (pid < 0 && errno != EINTR) break; /* no children left */
        if (g_launch_signals > forwarded && failed) { /* already stopping after a failure: no more waiting */
            forwarded = g_launch_signals;
            deadline = 0;
        }
        if (g_launch_signals > forwarded && !failed) {
            /* Forward each signal once; a third one kills. */
            int sig = g_launch_signals >= 3 ? SIGKILL : g_launch_signal;
            forwarded = g_launch_signals;
            if (forwarded == 1)
                fprintf(stderr, "tgc: %s: stopping the workers (they finish the iteration, rank 0 saves a checkpoint; "
                                "a second signal stops them at once)\n", g_launch_signal == SIGINT ? "SIGINT" : "SIGTERM");
            for (int k = 0; k < nproc; k++)
                if (!done[k]) kill(pids[k], sig);
        }
        if (failed && !killed && tgc_now() > deadline) {
            killed = 1;
            for (int k = 0; k < nproc; k++)
                if (!done[k]) {
                    fprintf(stderr, "tgc: rank %d (pid %d) did not stop within %g s; killing it\n",
                            ne.node_rank * nproc + k, (int)pids[k], KILL_GRACE_S);
                    kill(pids[k], SIGKILL);
                }
        }
        sleep_ms(10);
    }
    if (!failed && forwarded) rc = 128 + g_launch_signal;
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);
    free(pids);
    free(done);
    free_strv(argv);
    return rc;
}
