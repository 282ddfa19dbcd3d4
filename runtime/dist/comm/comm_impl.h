/* runtime/dist/comm/comm_impl.h - what an engine (Gloo, NCCL) provides to the generic comm in runtime/dist/comm/comm.c.
 *
 * The engine's functions run only on the comm's thread, one at a time, so an engine needs no locking
 * and may keep per-thread state (the current CUDA device). Each returns 0 or -1 with the message in err.
 */
#ifndef TGC_RUNTIME_COMM_IMPL_H
#define TGC_RUNTIME_COMM_IMPL_H

#include "runtime/dist/comm/comm.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct tgc_comm_engine_ops {
    const char *name;
    int (*allreduce_sum_f32)(void *impl, float *buf, size_t n, int average, tgc_err *err);
    int (*broadcast_f32)(void *impl, float *buf, size_t n, int root, tgc_err *err);
    int (*barrier)(void *impl, tgc_err *err);
    void (*free)(void *impl);
} tgc_comm_engine_ops;

/* Wraps a connected engine in a comm and starts its thread; takes ownership of impl (freed with
 * ops->free, also on failure). */
tgc_comm *tgc_comm_wrap(const tgc_comm_engine_ops *ops, void *impl, int rank, int world, tgc_err *err);

/* The engine's impl of c when c runs on `ops`' engine, else NULL. */
void *tgc_comm_impl(tgc_comm *c, const tgc_comm_engine_ops *ops);

/* Resolves the setup timeout and key prefix the same way for every engine. */
double tgc_comm_timeout(const tgc_store *store, const tgc_comm_opts *opts);
const char *tgc_comm_tag(const tgc_comm_opts *opts, const char *fallback);

#ifdef __cplusplus
}
#endif

#endif
