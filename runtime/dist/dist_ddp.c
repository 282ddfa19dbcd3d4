/* runtime/dist/dist_ddp.c - one rank of data-parallel training: rendezvous, bucket all-reduces overlapping
 * backward, the wait before the optimizer, the agreed stop, state broadcast and count sums. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "backend/cuda/cuda_device.h"
#include "runtime/dist/comm/comm.h"
#include "runtime/dist/dist.h"
#include "runtime/profile/profile.h"

struct tgc_ddp {
    tgc_store *store;
    tgc_comm *comm;
    int rank, world;
    char where[TGC_DIST_MAX_ADDR + 16]; /* "MASTER_ADDR:PORT" for messages */
    double timeout_s;
    volatile sig_atomic_t *sigflag;
    float flag;      /* the stop flag's all-reduce buffer: valid until the grads-ready wait returns */
    int stop_sig;
    int no_overlap;  /* TGC_DIST_NO_OVERLAP=1: wait after each start (measurement only) */
    int64_t seq;     /* store keys of successive syncs */
    int64_t steps;
    double wait_s;
    uint64_t bytes_cur, bytes_step;
    int buckets_cur;
    tgc_profiler *prof; /* borrowed, may be NULL */
};

void tgc_ddp_set_profiler(tgc_ddp *d, tgc_profiler *prof) { d->prof = prof; }

int tgc_ddp_rank(const tgc_ddp *d) { return d->rank; }
int tgc_ddp_world(const tgc_ddp *d) { return d->world; }
const char *tgc_ddp_engine(const tgc_ddp *d) { return tgc_comm_engine(d->comm); }
int tgc_ddp_stop_signal(const tgc_ddp *d) { return d->stop_sig; }

void tgc_ddp_stats(const tgc_ddp *d, int64_t *steps, double *wait_s, uint64_t *bytes_per_step) {
    if (steps) *steps = d->steps;
    if (wait_s) *wait_s = d->wait_s;
    if (bytes_per_step) *bytes_per_step = d->bytes_step;
}

/* Every rank announces itself, then waits for all: a missing rank (a node not started, another MASTER_ADDR)
 * becomes one message naming it instead of a timeout deep inside the collective engine's setup. */
static int join(tgc_ddp *d, tgc_err *err) {
    char key[48];
    snprintf(key, sizeof key, "tgc/joined/%d", d->rank);
    if (tgc_store_set(d->store, key, "1", 1, err) < 0) return -1;
    char **keys = tgc_calloc((size_t)d->world, sizeof *keys);
    for (int r = 0; r < d->world; r++) keys[r] = tgc_asprintf("tgc/joined/%d", r);
    int rc = tgc_store_wait(d->store, (const char *const *)keys, d->world, d->timeout_s, err);
    if (rc < 0 && strstr(err->msg, "timed out")) {
        /* List (a bounded number of) the ranks that never came. */
        char missing[256] = "";
        size_t len = 0;
        int n_missing = 0;
        tgc_err e2;
        for (int r = 0; r < d->world && r < 4096; r++) {
            if (tgc_store_wait(d->store, (const char *const *)&keys[r], 1, 0.001, &e2) == 0) continue;
            if (n_missing++ < 8 && len + 16 < sizeof missing)
                len += (size_t)snprintf(missing + len, sizeof missing - len, "%s%d", len ? ", " : "", r);
        }
        tgc_fail(err, "rendezvous at %s timed out after %g s: rank%s %s%s of %d did not join (start every node "
                      "with the same NNODES, MASTER_ADDR, PORT and plan; TGC_DIST_TIMEOUT sets the wait)",
                 d->where, d->timeout_s, n_missing == 1 ? "" : "s", missing, n_missing > 8 ? ", ..." : "", d->world);
    } else if (rc < 0) {
        tgc_err_prefix(err, "rendezvous at %s", d->where);
    }
    for (int r = 0; r < d->world; r++) free(keys[r]);
    free(keys);
    return rc;
}

tgc_ddp *tgc_ddp_open(const tgc_dist_env *e, uint32_t plan_checksum, const char *device, tgc_err *err) {
    tgc_ddp *d = tgc_calloc(1, sizeof *d);
    d->rank = e->rank;
    d->world = e->world;
    d->timeout_s = e->timeout_s > 0 ? e->timeout_s : TGC_DIST_DEFAULT_TIMEOUT;
    snprintf(d->where, sizeof d->where, "%s:%d", e->master_addr, e->port);
    const char *no = getenv("TGC_DIST_NO_OVERLAP");
    d->no_overlap = no && !strcmp(no, "1");
    char token[96];
    tgc_dist_token(e, plan_checksum, token, sizeof token);
    tgc_store_cfg sc = {.addr = e->master_addr, .port = e->port, .token = token, .rank = e->rank,
                        .world = e->world, .timeout_s = d->timeout_s};
    if (!(d->store = tgc_store_open(&sc, err))) { /* the store's message names the rank and MASTER_ADDR:PORT */
        free(d);
        return NULL;
    }
    if (join(d, err) < 0) {
        tgc_ddp_free(d);
        return NULL;
    }
    int cuda = device && !strncmp(device, "cuda", 4);
    tgc_comm_opts co = {.timeout_s = d->timeout_s, .device = e->local_rank};
    const char *ifname = getenv("GLOO_SOCKET_IFNAME"); /* PyTorch's name for the same setting */
    if (!cuda && ifname && *ifname) co.iface = ifname;
    if (cuda && device[4] == ':') co.device = atoi(device + 5);
    d->comm = cuda ? tgc_comm_new_nccl(d->store, &co, err) : tgc_comm_new_gloo(d->store, &co, err);
    if (!d->comm) {
        tgc_ddp_free(d);
        return NULL;
    }
    return d;
}

void tgc_ddp_free(tgc_ddp *d) {
    if (!d) return;
    if (d->comm) {
        tgc_err e;
        tgc_comm_wait_all(d->comm, &e); /* a failure was reported where it happened */
        tgc_comm_free(d->comm);
    }
    tgc_store_close(d->store);
    free(d);
}

/* ---- the executor's callbacks ---- */

/* The bucket's all-reduce runs in place on the device's memory (host memory for Gloo, device memory for NCCL). */
static int on_bucket(void *ctx, const tgc_plan_bucket *b, tgc_dev_mem mem, tgc_err *err) {
    tgc_ddp *d = ctx;
    if (b->bytes % sizeof(float))
        return tgc_fail(err, "gradient bucket of %llu bytes is not whole f32 values", (unsigned long long)b->bytes);
    int64_t t = tgc_comm_allreduce_start(d->comm, mem.ptr, (size_t)(b->bytes / sizeof(float)), 1, err);
    if (t < 0) return -1;
    d->bytes_cur += b->bytes;
    d->buckets_cur++;
    if (d->no_overlap) {
        double t0 = tgc_now();
        if (tgc_comm_wait(d->comm, t, err) < 0) return -1;
        d->wait_s += tgc_now() - t0;
    }
    return 0;
}

static int on_grads_ready(void *ctx, const tgc_program *p, tgc_err *err) {
    tgc_ddp *d = ctx;
    (void)p;
    /* The stop flag rides behind the last bucket, so agreeing costs no extra wait. It counts the ranks that
     * got SIGINT (units) and SIGTERM (multiples of 65536), so a rank without a signal of its own stops
     * with the one the others got. */
    int local = d->sigflag ? (int)*d->sigflag : 0;
    d->flag = local == SIGINT ? 1.0f : local ? 65536.0f : 0.0f;
    double t0 = tgc_now();
    if (tgc_comm_allreduce_start(d->comm, &d->flag, 1, 0, err) < 0 || tgc_comm_wait_all(d->comm, err) < 0) return -1;
    double t1 = tgc_now();
    d->wait_s += t1 - t0;
    if (d->prof) {
        char args[80];
        snprintf(args, sizeof args, "buckets=%d bytes=%llu", d->buckets_cur, (unsigned long long)d->bytes_cur);
        tgc_profiler_span(d->prof, "comm", "allreduce wait", t0, t1, args);
    }
    d->buckets_cur = 0;
    d->steps++;
    d->bytes_step = d->bytes_cur;
    d->bytes_cur = 0;
    if (d->flag > 0.5f && !d->stop_sig) {
        int now = d->sigflag ? (int)*d->sigflag : 0;
        d->stop_sig = now ? now : fmodf(d->flag, 65536.0f) > 0.5f ? SIGINT : SIGTERM;
    }
    return 0;
}

int tgc_ddp_attach(tgc_ddp *d, tgc_exec *x, const tgc_plan *plan, volatile sig_atomic_t *sigflag, tgc_err *err) {
    const tgc_program *tp = tgc_plan_program(plan, "train");
    if (!tp) return tgc_fail(err, "the plan has no train program");
    if (tp->n_buckets == 0)
        return tgc_fail(err, "the plan's train program has no gradient buckets, so its gradients cannot be "
                             "all-reduced; recompile it without --disable-pass buckets");
    d->sigflag = sigflag;
    tgc_exec_on_bucket(x, on_bucket, d);
    tgc_exec_on_grads_ready(x, on_grads_ready, d);
    return 0;
}

/* The device's comm stream calls this for each bucket (on cuda, a tgc_stream is its cudaStream_t). */
static int device_bucket(void *ctx, const tgc_plan_bucket *b, void *dev_ptr, tgc_stream *s, tgc_err *err) {
    tgc_ddp *d = ctx;
    if (b->bytes % sizeof(float))
        return tgc_fail(err, "gradient bucket of %llu bytes is not whole f32 values", (unsigned long long)b->bytes);
    if (tgc_comm_nccl_enqueue_allreduce(d->comm, dev_ptr, (size_t)(b->bytes / sizeof(float)), 1, s, err) < 0) return -1;
    d->bytes_cur += b->bytes;
    d->buckets_cur++;
    return 0;
}

int tgc_ddp_attach_device(tgc_ddp *d, tgc_exec *x, tgc_device *dev, tgc_err *err) {
    const char *host = getenv("TGC_DIST_HOST_BUCKETS");
    if (strcmp(dev->ops->name, "cuda") || strcmp(tgc_comm_engine(d->comm), "nccl") || (host && !strcmp(host, "1")) ||
        d->no_overlap)
        return 0;
    if (tgc_comm_wait_all(d->comm, err) < 0) return -1; /* the comm thread idle before the device enqueues */
    tgc_exec_on_bucket(x, NULL, NULL);
    tgc_cuda_comm cc = {device_bucket, d, 1};
    tgc_cuda_device_set_comm(dev, &cc);
    return 0;
}

/* ---- state and small values ---- */

int tgc_ddp_broadcast_state(tgc_ddp *d, tgc_exec *x, tgc_err *err) {
    static const tgc_slab slabs[] = {TGC_SLAB_PARAM, TGC_SLAB_BUFFER, TGC_SLAB_OPTSTATE};
    for (size_t i = 0; i < TGC_ARRAY_LEN(slabs); i++) {
        tgc_dev_mem m = tgc_exec_slab(x, slabs[i]);
        if (!m.ptr || m.bytes == 0) continue;
        if (tgc_comm_broadcast_f32(d->comm, m.ptr, (size_t)(m.bytes / sizeof(float)), 0, err) < 0)
            return tgc_err_prefix(err, "broadcasting the %s slab from rank 0", tgc_slab_name(slabs[i]));
    }
    return 0;
}

int tgc_ddp_sync_u64(tgc_ddp *d, const char *key, uint64_t *v, tgc_err *err) {
    char k[160];
    snprintf(k, sizeof k, "tgc/sync/%lld/%.100s", (long long)d->seq++, key);
    if (d->rank == 0) {
        char val[32];
        int n = snprintf(val, sizeof val, "%llu", (unsigned long long)*v);
        return tgc_store_set(d->store, k, val, (size_t)n, err);
    }
    void *data;
    size_t len;
    if (tgc_store_get(d->store, k, &data, &len, err) < 0) return tgc_err_prefix(err, "waiting for rank 0's %s", key);
    *v = strtoull(data, NULL, 10);
    free(data);
    return 0;
}

int tgc_ddp_sum_counts(tgc_ddp *d, int64_t *v, int n, tgc_err *err) {
    /* 6 bytes per count, one float each: a sum of world bytes stays an exact integer in f32. */
    enum { PARTS = 6 };
    float *f = tgc_malloc(sizeof(float) * PARTS * (size_t)(n > 0 ? n : 1));
    for (int i = 0; i < n; i++) {
        if (v[i] < 0 || v[i] >= ((int64_t)1 << 48)) {
            free(f);
            return tgc_fail(err, "count %lld is outside the summable range", (long long)v[i]);
        }
        for (int k = 0; k < PARTS; k++) f[i * PARTS + k] = (float)((v[i] >> (8 * k)) & 0xff);
    }
    int rc = tgc_comm_allreduce_sum_f32(d->comm, f, (size_t)n * PARTS, 0, err);
    for (int i = 0; rc == 0 && i < n; i++) {
        int64_t s = 0;
        for (int k = PARTS - 1; k >= 0; k--) s = s * 256 + (int64_t)f[i * PARTS + k];
        v[i] = s;
    }
    free(f);
    return rc;
}

int tgc_ddp_mean_f32(tgc_ddp *d, float *v, int n, tgc_err *err) {
    return tgc_comm_allreduce_sum_f32(d->comm, v, (size_t)n, 1, err);
}

int tgc_ddp_all_gather(tgc_ddp *d, const void *mine, size_t bytes, void **all, size_t *all_bytes, int64_t *sizes,
                       tgc_err *err) {
    *all = NULL;
    *all_bytes = 0;
    if (bytes % sizeof(float)) return tgc_fail(err, "internal error: all-gather of %zu bytes (not whole floats)", bytes);
    int64_t *n = tgc_calloc((size_t)d->world, sizeof *n); /* every rank's size: the sum of one-hot vectors */
    n[d->rank] = (int64_t)(bytes / sizeof(float));
    if (tgc_ddp_sum_counts(d, n, d->world, err) < 0) {
        free(n);
        return tgc_err_prefix(err, "all-gather sizes");
    }
    size_t total = 0, off = 0;
    for (int r = 0; r < d->world; r++) total += (size_t)n[r];
    float *buf = tgc_malloc(sizeof(float) * (total ? total : 1));
    int rc = 0;
    for (int r = 0; r < d->world && rc == 0; r++) { /* rank r's part, broadcast from rank r into its place */
        if (r == d->rank && bytes) memcpy(buf + off, mine, bytes);
        if (n[r]) rc = tgc_comm_broadcast_f32(d->comm, buf + off, (size_t)n[r], r, err);
        if (sizes) sizes[r] = n[r] * (int64_t)sizeof(float);
        off += (size_t)n[r];
    }
    free(n);
    if (rc) {
        free(buf);
        return tgc_err_prefix(err, "all-gather");
    }
    *all = buf;
    *all_bytes = total * sizeof(float);
    return 0;
}
