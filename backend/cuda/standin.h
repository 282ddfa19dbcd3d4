/* backend/cuda/standin.h - the CPU stand-in of the stream API (backend/cuda/stream_api.h): what it adds to the
 * table, for tests and for checking the executor's host logic without a GPU.
 *
 * Scheduling: each stream is a queue. Nothing runs when it is issued; sync, stream_sync, event_sync run work
 * until what they wait for is done, and poll, event_query and (a few operations, at random) every issuing call
 * let work run. Each step picks one runnable head among all the streams of the domain at random from the
 * domain's seed: a head is runnable unless it waits for an event record not yet done, a graph launch whose
 * previous launch is still running, or a collective whose other ranks have not reached it. So one seed is one
 * interleaving, and a program whose result differs between seeds has a missing dependency.
 *
 * Race checking (vector clocks): the host and every stream (and every lane of a graph being replayed) is an
 * agent with a vector clock. An operation's clock is its stream's, joined with the host's at the time it was
 * issued and with the clocks of the event records it waited for; event records carry their stream's clock;
 * the host's clock joins a stream's when it synchronises with it. Every byte range keeps its last write and
 * the reads since then, each with its agent, its clock and the operation's name. A read must come after the
 * last write (write -> read), a write after the last write and every read since (write -> write, read ->
 * write), in that happens-before order; otherwise the stand-in fails with a message naming both operations,
 * their streams and the bytes (buffer label and offsets). The check depends on the order the program
 * establishes, not on the interleaving chosen, so a missing event is reported under every seed. Reads of
 * device memory never written since it was allocated are errors too (contents are undefined on a GPU).
 *
 * Stricter than CUDA: copies to and from pageable host memory are treated as asynchronous like pinned ones
 * (CUDA makes some of them synchronous); write the program as if they were not.
 */
#ifndef TGC_BACKEND_CUDA_STANDIN_H
#define TGC_BACKEND_CUDA_STANDIN_H

#include "backend/cuda/stream_api.h"

/* Several stand-in contexts (one per rank) scheduled together: a sync on one runs any of them, so a
 * collective can complete. Contexts are opened with tgc_stream_opts.domain; the domain outlives them. */
typedef struct tgc_standin_domain tgc_standin_domain;
tgc_standin_domain *tgc_standin_domain_new(uint64_t seed);
void tgc_standin_domain_free(tgc_standin_domain *d); /* after every context in it is closed; NULL is fine */

/* An in-process communicator over `world` contexts of one domain (rank r = the r-th context passed). */
typedef struct tgc_standin_comm tgc_standin_comm;
tgc_standin_comm *tgc_standin_comm_new(void *const *ctxs, int world, tgc_err *err);
void tgc_standin_comm_free(tgc_standin_comm *c); /* after the contexts' work is done; NULL is fine */
/* Enqueues rank `rank`'s part of an in-place all-reduce (sum, or mean with average) of count floats at buf
 * (device memory of that rank's context) on stream s. The n-th all-reduce issued by each rank is one
 * collective (as NCCL matches them); it runs when every rank's part is at the head of its stream, reading and
 * writing buf of each rank (checked), and orders each rank's stream after every rank's work before it. */
int tgc_standin_allreduce_f32(tgc_standin_comm *c, int rank, float *buf, uint64_t count, int average,
                              tgc_stream *s, tgc_err *err);

/* Counters of a context: operations run and a hash of the order they ran in (same seed, same hash). */
typedef struct tgc_standin_stats {
    uint64_t ops_run;
    uint64_t trace_hash;
    uint64_t max_segments; /* the race checker's largest shadow map (byte ranges tracked) */
} tgc_standin_stats;
void tgc_standin_get_stats(void *ctx, tgc_standin_stats *st);

#endif
