/* runtime/dist/comm/comm_nccl.c - the NCCL engine behind runtime/dist/comm/comm.h (compiled for real only with CUDA).
 *
 * Rank 0 makes NCCL's unique id and shares it through the store; every rank then joins with
 * ncclCommInitRankConfig. The communicator is non-blocking (config.blocking = 0) and every wait polls
 * ncclCommGetAsyncError and the stream against a deadline: a dead peer makes blocking NCCL hang
 * forever, a polled one is aborted with a message naming the rank. Buffers are device pointers; the
 * caller makes sure the kernels that produced them have finished (or ordered) before the collective.
 * Without TGC_COMM_NCCL (no CUDA toolkit at configure time) the constructor only reports that.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "runtime/dist/comm/comm_impl.h"

#ifdef TGC_COMM_NCCL

#include <cuda_runtime_api.h>
#include <nccl.h>

#define NCCL_ID_KEY_FMT "%s/unique_id"

typedef struct nccl_impl {
    ncclComm_t comm;
    cudaStream_t stream, own; /* the stream collectives go on; own: the one the engine made */
    float *stage;             /* device copies of host buffers (the stop flag, counts): NCCL needs device memory */
    size_t stage_n;
    float *scratch; /* one float on the device for the barrier (NCCL has none: a 1-float all-reduce) */
    int device, rank, world;
    double timeout_s;
} nccl_impl;

static void nap(void) {
    struct timespec ts = {0, 50 * 1000};
    nanosleep(&ts, NULL);
}

/* Waits until the communicator's pending work (init or an enqueue) is done; aborts it on an error or
 * at the deadline, since a broken NCCL communicator cannot be used or destroyed normally. */
static int settle(nccl_impl *m, const char *what, double deadline, tgc_err *err) {
    ncclResult_t st = ncclInProgress;
    for (;;) {
        ncclResult_t r = ncclCommGetAsyncError(m->comm, &st);
        if (r != ncclSuccess) st = r;
        if (st != ncclInProgress) break;
        if (tgc_now() > deadline) {
            ncclCommAbort(m->comm);
            m->comm = NULL;
            return tgc_fail(err, "rank %d: NCCL %s timed out after %g s (a peer process exited or did not "
                            "join?)", m->rank, what, m->timeout_s);
        }
        nap();
    }
    if (st == ncclSuccess) return 0;
    tgc_fail(err, "rank %d: NCCL %s failed: %s (%s)", m->rank, what, ncclGetErrorString(st),
             ncclGetLastError(m->comm));
    ncclCommAbort(m->comm);
    m->comm = NULL;
    return -1;
}

/* Waits for the stream while watching the communicator for asynchronous errors. */
static int finish(nccl_impl *m, const char *what, ncclResult_t issued, tgc_err *err) {
    double deadline = tgc_now() + m->timeout_s;
    if (issued != ncclSuccess && issued != ncclInProgress) {
        tgc_fail(err, "rank %d: NCCL %s failed: %s (%s)", m->rank, what, ncclGetErrorString(issued),
                 ncclGetLastError(m->comm));
        ncclCommAbort(m->comm);
        m->comm = NULL;
        return -1;
    }
    if (settle(m, what, deadline, err) < 0) return -1;
    for (;;) {
        cudaError_t q = cudaStreamQuery(m->stream);
        if (q == cudaSuccess) return 0;
        if (q != cudaErrorNotReady) {
            ncclCommAbort(m->comm);
            m->comm = NULL;
            return tgc_fail(err, "rank %d: NCCL %s: CUDA error %s", m->rank, what, cudaGetErrorString(q));
        }
        if (settle(m, what, deadline, err) < 0) return -1;
        if (tgc_now() > deadline) {
            ncclCommAbort(m->comm);
            m->comm = NULL;
            return tgc_fail(err, "rank %d: NCCL %s timed out after %g s (a peer process exited?)", m->rank,
                            what, m->timeout_s);
        }
        nap();
    }
}

static int broken(nccl_impl *m, tgc_err *err) {
    return m->comm ? 0 : tgc_fail(err, "rank %d: the NCCL communicator was aborted after an error", m->rank);
}

/* buf itself when it is device memory; else a device copy of it (host memory: DDP's stop flag and counts). */
static float *device_buf(nccl_impl *m, float *buf, size_t n, tgc_err *err) {
    struct cudaPointerAttributes at;
    if (cudaPointerGetAttributes(&at, buf) == cudaSuccess && (at.type == cudaMemoryTypeDevice || at.type == cudaMemoryTypeManaged))
        return buf;
    cudaGetLastError();
    if (n > m->stage_n) {
        if (m->stage) cudaFree(m->stage);
        m->stage = NULL;
        m->stage_n = 0;
        cudaError_t e = cudaMalloc((void **)&m->stage, n * sizeof(float));
        if (e != cudaSuccess) {
            tgc_fail(err, "rank %d: cudaMalloc of %zu bytes for a host buffer's collective: %s", m->rank, n * sizeof(float),
                     cudaGetErrorString(e));
            return NULL;
        }
        m->stage_n = n;
    }
    cudaError_t e = cudaMemcpyAsync(m->stage, buf, n * sizeof(float), cudaMemcpyHostToDevice, m->stream);
    if (e != cudaSuccess) {
        tgc_fail(err, "rank %d: cudaMemcpyAsync (host buffer to device): %s", m->rank, cudaGetErrorString(e));
        return NULL;
    }
    return m->stage;
}

/* The result back into a host buffer, once the collective is done. */
static int host_back(nccl_impl *m, float *buf, const float *dev, size_t n, tgc_err *err) {
    if (dev == buf) return 0;
    cudaError_t e = cudaMemcpy(buf, dev, n * sizeof(float), cudaMemcpyDeviceToHost);
    return e == cudaSuccess ? 0 : tgc_fail(err, "rank %d: cudaMemcpy (device to host buffer): %s", m->rank, cudaGetErrorString(e));
}

static int nccl_allreduce(void *impl, float *buf, size_t n, int average, tgc_err *err) {
    nccl_impl *m = impl;
    if (broken(m, err) < 0) return -1;
    cudaSetDevice(m->device); /* the comm thread's current device */
    float *db = device_buf(m, buf, n, err);
    if (!db) return -1;
    ncclResult_t r = ncclAllReduce(db, db, n, ncclFloat32, average ? ncclAvg : ncclSum, m->comm, m->stream);
    if (finish(m, "allreduce", r, err) < 0) return -1;
    return host_back(m, buf, db, n, err);
}

static int nccl_broadcast(void *impl, float *buf, size_t n, int root, tgc_err *err) {
    nccl_impl *m = impl;
    if (broken(m, err) < 0) return -1;
    cudaSetDevice(m->device);
    float *db = device_buf(m, buf, n, err);
    if (!db) return -1;
    ncclResult_t r = ncclBroadcast(db, db, n, ncclFloat32, root, m->comm, m->stream);
    if (finish(m, "broadcast", r, err) < 0) return -1;
    return host_back(m, buf, db, n, err);
}

static int nccl_barrier(void *impl, tgc_err *err) {
    nccl_impl *m = impl;
    if (broken(m, err) < 0) return -1;
    cudaSetDevice(m->device);
    ncclResult_t r = ncclAllReduce(m->scratch, m->scratch, 1, ncclFloat32, ncclSum, m->comm, m->stream);
    return finish(m, "barrier", r, err);
}

static void nccl_free(void *impl) {
    nccl_impl *m = impl;
    if (!m) return;
    cudaSetDevice(m->device);
    if (m->comm) ncclCommAbort(m->comm); /* every collective was waited for: abort only frees */
    if (m->own) cudaStreamDestroy(m->own);
    if (m->scratch) cudaFree(m->scratch);
    if (m->stage) cudaFree(m->stage);
    free(m);
}

static const tgc_comm_engine_ops nccl_ops = {"nccl", nccl_allreduce, nccl_broadcast, nccl_barrier, nccl_free};

tgc_comm *tgc_comm_new_nccl(tgc_store *store, const tgc_comm_opts *opts, tgc_err *err) {
    int rank = tgc_store_rank(store), world = tgc_store_world(store);
    int device = opts ? opts->device : 0, ndev = 0;
    cudaError_t ce = cudaGetDeviceCount(&ndev);
    if (ce != cudaSuccess || ndev == 0) {
        tgc_fail(err, "rank %d: NCCL needs a CUDA GPU and none is visible (%s)", rank,
                 ce != cudaSuccess ? cudaGetErrorString(ce) : "0 devices");
        return NULL;
    }
    if (device < 0 || device >= ndev) {
        tgc_fail(err, "rank %d: CUDA device %d does not exist (%d visible)", rank, device, ndev);
        return NULL;
    }
    char key[TGC_STORE_MAX_KEY];
    snprintf(key, sizeof key, NCCL_ID_KEY_FMT, tgc_comm_tag(opts, "nccl"));
    ncclUniqueId id;
    if (rank == 0) {
        ncclResult_t r = ncclGetUniqueId(&id);
        if (r != ncclSuccess) {
            tgc_fail(err, "rank 0: ncclGetUniqueId failed: %s", ncclGetErrorString(r));
            return NULL;
        }
        if (tgc_store_set(store, key, &id, sizeof id, err) < 0) return NULL;
    } else {
        void *data = NULL;
        size_t len = 0;
        if (tgc_store_get(store, key, &data, &len, err) < 0) return NULL;
        if (len != sizeof id) {
            free(data);
            tgc_fail(err, "rank %d: NCCL unique id in the store is %zu bytes, expected %zu", rank, len, sizeof id);
            return NULL;
        }
        memcpy(&id, data, sizeof id);
        free(data);
    }
    nccl_impl *m = tgc_calloc(1, sizeof *m);
    m->device = device;
    m->rank = rank;
    m->world = world;
    m->timeout_s = tgc_comm_timeout(store, opts);
    if ((ce = cudaSetDevice(device)) != cudaSuccess ||
        (ce = cudaStreamCreateWithFlags(&m->own, cudaStreamNonBlocking)) != cudaSuccess ||
        (ce = cudaMalloc((void **)&m->scratch, sizeof(float))) != cudaSuccess) {
        tgc_fail(err, "rank %d: CUDA setup on device %d failed: %s", rank, device, cudaGetErrorString(ce));
        nccl_free(m);
        return NULL;
    }
    m->stream = m->own;
    ncclConfig_t config = NCCL_CONFIG_INITIALIZER;
    config.blocking = 0;
    ncclResult_t r = ncclCommInitRankConfig(&m->comm, world, id, rank, &config);
    if (r != ncclSuccess && r != ncclInProgress) {
        tgc_fail(err, "rank %d: ncclCommInitRank failed: %s", rank, ncclGetErrorString(r));
        m->comm = NULL; /* nothing to abort */
        nccl_free(m);
        return NULL;
    }
    if (settle(m, "setup", tgc_now() + m->timeout_s, err) < 0) {
        nccl_free(m);
        return NULL;
    }
    return tgc_comm_wrap(&nccl_ops, m, rank, world, err);
}

int tgc_comm_nccl_enqueue_allreduce(tgc_comm *c, float *buf, size_t n, int average, void *stream, tgc_err *err) {
    nccl_impl *m = tgc_comm_impl(c, &nccl_ops);
    if (!m) return tgc_fail(err, "the %s engine cannot enqueue a collective on a CUDA stream (NCCL can)", tgc_comm_engine(c));
    if (broken(m, err) < 0) return -1;
    cudaError_t ce = cudaSetDevice(m->device);
    if (ce != cudaSuccess) return tgc_fail(err, "rank %d: cudaSetDevice(%d): %s", m->rank, m->device, cudaGetErrorString(ce));
    m->stream = (cudaStream_t)stream;
    ncclResult_t r = ncclAllReduce(buf, buf, n, ncclFloat32, average ? ncclAvg : ncclSum, m->comm, m->stream);
    if (r != ncclSuccess && r != ncclInProgress) {
        tgc_fail(err, "rank %d: ncclAllReduce of %zu floats: %s (%s)", m->rank, n, ncclGetErrorString(r),
                 ncclGetLastError(m->comm));
        ncclCommAbort(m->comm);
        m->comm = NULL;
        return -1;
    }
    /* a non-blocking communicator may still be enqueueing: wait for that (host side only, no stream sync) */
    return settle(m, "allreduce enqueue", tgc_now() + m->timeout_s, err);
}

#else /* no CUDA toolkit when tgc was configured */

tgc_comm *tgc_comm_new_nccl(tgc_store *store, const tgc_comm_opts *opts, tgc_err *err) {
    (void)opts;
    tgc_fail(err, "rank %d: tgc was built without CUDA, so NCCL is not available (Gloo runs collectives "
             "between CPU processes)", tgc_store_rank(store));
    return NULL;
}

int tgc_comm_nccl_enqueue_allreduce(tgc_comm *c, float *buf, size_t n, int average, void *stream, tgc_err *err) {
    (void)c, (void)buf, (void)n, (void)average, (void)stream;
    return tgc_fail(err, "tgc was built without CUDA, so NCCL is not available");
}

#endif
