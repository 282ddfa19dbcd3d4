/* runtime/dist/comm/comm.c - the engine-independent comm: a FIFO of collectives run by one communication thread.
 *
 * Gloo's and NCCL's calls block, so overlapping a bucket's all-reduce with the rest of backward needs a
 * thread that runs them while the caller computes. One thread and one queue also keep every rank's
 * collectives in issue order, which the engines need to match them up.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/dist/comm/comm_impl.h"

enum { OP_ALLREDUCE, OP_BROADCAST, OP_BARRIER };

typedef struct comm_op {
    int kind, average, root;
    float *buf;
    size_t n;
} comm_op;

struct tgc_comm {
    const tgc_comm_engine_ops *ops;
    void *impl;
    int rank, world;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv_work, cv_done;
    comm_op *q; /* ring buffer of queued ops; ticket t lives at q[(t - 1) % cap] */
    int cap;
    int64_t issued, done; /* tickets 1..issued were queued, 1..done finished (or were cancelled) */
    int64_t failed_at;    /* the first ticket that failed, 0 while all went well */
    int stop;
    tgc_err failure;
};

static int run_op(tgc_comm *c, const comm_op *op, tgc_err *err) {
    switch (op->kind) {
    case OP_ALLREDUCE: return op->n ? c->ops->allreduce_sum_f32(c->impl, op->buf, op->n, op->average, err) : 0;
    case OP_BROADCAST: return op->n ? c->ops->broadcast_f32(c->impl, op->buf, op->n, op->root, err) : 0;
    default: return c->ops->barrier(c->impl, err);
    }
}

static void *comm_main(void *arg) {
    tgc_comm *c = arg;
    pthread_mutex_lock(&c->mu);
    for (;;) {
        while (!c->stop && c->done == c->issued) pthread_cond_wait(&c->cv_work, &c->mu);
        if (c->done == c->issued) break; /* stopping with nothing left */
        int64_t t = c->done + 1;
        comm_op op = c->q[(t - 1) % c->cap];
        int skip = c->failed_at != 0 || c->stop; /* broken, or freed before it started */
        pthread_mutex_unlock(&c->mu);
        tgc_err e;
        int rc = skip ? 0 : run_op(c, &op, &e);
        pthread_mutex_lock(&c->mu);
        if (rc < 0 && !c->failed_at) {
            c->failed_at = t;
            c->failure = e;
        }
        c->done = t;
        pthread_cond_broadcast(&c->cv_done);
    }
    pthread_mutex_unlock(&c->mu);
    return NULL;
}

tgc_comm *tgc_comm_wrap(const tgc_comm_engine_ops *ops, void *impl, int rank, int world, tgc_err *err) {
    tgc_comm *c = tgc_calloc(1, sizeof *c);
    c->ops = ops;
    c->impl = impl;
    c->rank = rank;
    c->world = world;
    c->cap = 64;
    c->q = tgc_calloc((size_t)c->cap, sizeof *c->q);
    pthread_mutex_init(&c->mu, NULL);
    pthread_cond_init(&c->cv_work, NULL);
    pthread_cond_init(&c->cv_done, NULL);
    if (pthread_create(&c->thread, NULL, comm_main, c) != 0) {
        tgc_fail(err, "rank %d: cannot start the %s communication thread", rank, ops->name);
        pthread_mutex_destroy(&c->mu);
        pthread_cond_destroy(&c->cv_work);
        pthread_cond_destroy(&c->cv_done);
        ops->free(impl);
        free(c->q);
        free(c);
        return NULL;
    }
    return c;
}

void tgc_comm_free(tgc_comm *c) {
    if (!c) return;
    pthread_mutex_lock(&c->mu);
    c->stop = 1;
    pthread_cond_broadcast(&c->cv_work);
    pthread_mutex_unlock(&c->mu);
    pthread_join(c->thread, NULL);
    c->ops->free(c->impl);
    pthread_mutex_destroy(&c->mu);
    pthread_cond_destroy(&c->cv_work);
    pthread_cond_destroy(&c->cv_done);
    free(c->q);
    free(c);
}

int tgc_comm_rank(const tgc_comm *c) { return c->rank; }
int tgc_comm_world(const tgc_comm *c) { return c->world; }
const char *tgc_comm_engine(const tgc_comm *c) { return c->ops->name; }

static int64_t enqueue(tgc_comm *c, comm_op op, tgc_err *err) {
    pthread_mutex_lock(&c->mu);
    if (c->failed_at) {
        if (err) *err = c->failure;
        pthread_mutex_unlock(&c->mu);
        return -1;
    }
    if (c->issued - c->done == c->cap) { /* grow the ring, keeping tickets at (t - 1) % cap */
        int ncap = c->cap * 2;
        comm_op *nq = tgc_calloc((size_t)ncap, sizeof *nq);
        for (int64_t t = c->done + 1; t <= c->issued; t++) nq[(t - 1) % ncap] = c->q[(t - 1) % c->cap];
        free(c->q);
        c->q = nq;
        c->cap = ncap;
    }
    int64_t t = ++c->issued;
    c->q[(t - 1) % c->cap] = op;
    pthread_cond_signal(&c->cv_work);
    pthread_mutex_unlock(&c->mu);
    return t;
}

int tgc_comm_wait(tgc_comm *c, int64_t ticket, tgc_err *err) {
    pthread_mutex_lock(&c->mu);
    if (ticket < 1 || ticket > c->issued) {
        pthread_mutex_unlock(&c->mu);
        return tgc_fail(err, "rank %d: no collective with ticket %lld was issued", c->rank, (long long)ticket);
    }
    while (c->done < ticket && !(c->failed_at && c->failed_at <= ticket))
        pthread_cond_wait(&c->cv_done, &c->mu);
    int rc = 0;
    if (c->failed_at && c->failed_at <= ticket) {
        if (err) *err = c->failure;
        rc = -1;
    }
    pthread_mutex_unlock(&c->mu);
    return rc;
}

int tgc_comm_wait_all(tgc_comm *c, tgc_err *err) {
    pthread_mutex_lock(&c->mu);
    int64_t last = c->issued;
    int failed = c->failed_at != 0;
    pthread_mutex_unlock(&c->mu);
    if (last == 0) {
        if (!failed) return 0;
        if (err) *err = c->failure;
        return -1;
    }
    return tgc_comm_wait(c, last, err);
}

int64_t tgc_comm_allreduce_start(tgc_comm *c, float *buf, size_t n, int average, tgc_err *err) {
    return enqueue(c, (comm_op){.kind = OP_ALLREDUCE, .buf = buf, .n = n, .average = average}, err);
}

static int sync_op(tgc_comm *c, comm_op op, tgc_err *err) {
    int64_t t = enqueue(c, op, err);
    return t < 0 ? -1 : tgc_comm_wait(c, t, err);
}

int tgc_comm_allreduce_sum_f32(tgc_comm *c, float *buf, size_t n, int average, tgc_err *err) {
    return sync_op(c, (comm_op){.kind = OP_ALLREDUCE, .buf = buf, .n = n, .average = average}, err);
}

int tgc_comm_broadcast_f32(tgc_comm *c, float *buf, size_t n, int root, tgc_err *err) {
    if (root < 0 || root >= c->world)
        return tgc_fail(err, "rank %d: broadcast root %d is not a rank of world %d", c->rank, root, c->world);
    return sync_op(c, (comm_op){.kind = OP_BROADCAST, .buf = buf, .n = n, .root = root}, err);
}

int tgc_comm_barrier(tgc_comm *c, tgc_err *err) {
    return sync_op(c, (comm_op){.kind = OP_BARRIER}, err);
}

double tgc_comm_timeout(const tgc_store *store, const tgc_comm_opts *opts) {
    return opts && opts->timeout_s > 0 ? opts->timeout_s : tgc_store_timeout(store);
}

const char *tgc_comm_tag(const tgc_comm_opts *opts, const char *fallback) {
    return opts && opts->tag && opts->tag[0] ? opts->tag : fallback;
}

void *tgc_comm_impl(tgc_comm *c, const tgc_comm_engine_ops *ops) { return c && c->ops == ops ? c->impl : NULL; }
