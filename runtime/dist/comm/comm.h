/* runtime/dist/comm/comm.h - collectives for multi-process data parallelism: Gloo between CPU processes, NCCL
 * between GPUs, one C interface.
 *
 * Both engines start from the rendezvous store (runtime/dist/store/store.h): Gloo exchanges its TCP addresses
 * through it, NCCL its unique id. Every collective runs on the comm's own thread, in the order issued,
 * so a gradient bucket's all-reduce started from the executor's bucket callback overlaps the rest of
 * backward; the caller waits for all of them before the optimizer update. The blocking calls are a
 * start plus a wait. All ranks must issue the same collectives in the same order (as in any DDP).
 *
 * Errors (a dead peer, a timeout, a GPU that is not there) come back as -1 with one message naming the
 * rank, never as an abort or a hang. After the first failure the comm is broken: every later call
 * fails with that message (a collective that failed half-way leaves the ranks out of step).
 *
 * Buffers are host memory for Gloo and device memory for NCCL; they must stay valid and untouched
 * until the collective's wait returns.
 */
#ifndef TGC_RUNTIME_COMM_H
#define TGC_RUNTIME_COMM_H

#include <stddef.h>
#include <stdint.h>

#include "common/util.h"
#include "runtime/dist/store/store.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct tgc_comm tgc_comm;

typedef struct tgc_comm_opts {
    const char *iface;  /* Gloo: the network interface peers reach this process on ("lo", "eth0") */
    const char *host;   /* Gloo: or the address/host name to bind; both NULL: the local address of the
                         * store's connection, i.e. the interface that routes to MASTER_ADDR */
    const char *tag;    /* store key prefix, so several comms can share one store; NULL: "gloo"/"nccl" */
    double timeout_s;   /* a collective or the setup fails after this long; <= 0: the store's timeout */
    int device;         /* NCCL: the CUDA device ordinal this rank uses */
} tgc_comm_opts;

/* Gloo over TCP among the store's ranks (rank and world are the store's). Collective setup: every rank
 * calls it. opts may be NULL. */
tgc_comm *tgc_comm_new_gloo(tgc_store *store, const tgc_comm_opts *opts, tgc_err *err);
/* NCCL among the store's ranks on device opts->device. Fails with a clear message when tgc was built
 * without CUDA or no GPU is visible. */
tgc_comm *tgc_comm_new_nccl(tgc_store *store, const tgc_comm_opts *opts, tgc_err *err);
/* Cancels collectives not yet started, waits for the running one (bounded by the timeout) and frees.
 * Call tgc_comm_wait_all first in the normal path. NULL is a no-op. */
void tgc_comm_free(tgc_comm *c);

int tgc_comm_rank(const tgc_comm *c);
int tgc_comm_world(const tgc_comm *c);
const char *tgc_comm_engine(const tgc_comm *c); /* "gloo" or "nccl" */

/* In place: buf[i] = sum over ranks of buf[i]; average != 0 then divides by the world size (the mean
 * of the ranks' gradients, as DDP). */
int tgc_comm_allreduce_sum_f32(tgc_comm *c, float *buf, size_t n, int average, tgc_err *err);
/* In place: every rank's buf becomes root's. */
int tgc_comm_broadcast_f32(tgc_comm *c, float *buf, size_t n, int root, tgc_err *err);
int tgc_comm_barrier(tgc_comm *c, tgc_err *err);

/* Asynchronous all-reduce: queues it and returns a ticket (> 0) at once, or -1. Tickets grow in issue
 * order; collectives complete in that order. */
int64_t tgc_comm_allreduce_start(tgc_comm *c, float *buf, size_t n, int average, tgc_err *err);
/* Waits until the collective with this ticket (and so every earlier one) is done. */
int tgc_comm_wait(tgc_comm *c, int64_t ticket, tgc_err *err);
/* Waits for every collective issued so far. */
int tgc_comm_wait_all(tgc_comm *c, tgc_err *err);

/* NCCL only: enqueues an in-place all-reduce of n floats at buf (device memory) on `stream` (a cudaStream_t)
 * from the calling thread and returns without waiting for it (the CUDA executor's comm stream: the bucket
 * all-reduces of tgc_cuda_device_set_comm, captured into graphs). The stream becomes the engine's own: its
 * later collectives go on it, ordered after. Call it only while no collective started through the comm's
 * thread is pending (tgc_comm_wait_all before). -1 with err on another engine or a failed enqueue. */
int tgc_comm_nccl_enqueue_allreduce(tgc_comm *c, float *buf, size_t n, int average, void *stream, tgc_err *err);

#ifdef __cplusplus
}
#endif

#endif
