/* backend/cpu/cpu_threads.c - the kernels' own parallel loops, with static partitioning.
 *
 * With OpenMP (the normal build: CMake compiles the backend with -fopenmp) the loops run on the same
 * libgomp thread team as oneDNN's primitives. Two teams - oneDNN's OpenMP threads, which spin for a while
 * after each primitive, and a separate pool - fought for the cores: on 2 cores the own loops ran about
 * 2x slower right after a oneDNN call (bench/README.md). Without OpenMP a small pthread pool stands in;
 * its idle workers sleep on a condition variable.
 *
 * Either way partitioning is static (chunk i of n always covers the same range), so a loop's work split
 * depends only on the thread count, and every chunk writes only its own outputs. */
#include <pthread.h>
#include <stdlib.h>

#include "backend/cpu/cpu_internal.h"

/* How many chunks a loop of n items gets: at most the threads, at least min_chunk items each. */
static int n_chunks(int64_t n, int64_t min_chunk, int threads) {
    if (min_chunk < 1) min_chunk = 1;
    int64_t chunks = n / min_chunk;
    return (int)(chunks > threads ? threads : chunks < 1 ? 1 : chunks);
}

#ifdef _OPENMP
#include <omp.h>

struct cpu_pool {
    int n;
};

cpu_pool *cpu_pool_new(int n_threads) {
    cpu_pool *p = tgc_calloc(1, sizeof *p);
    p->n = n_threads < 1 ? 1 : n_threads;
    return p;
}

void cpu_pool_free(cpu_pool *p) { free(p); }

void cpu_parallel(tgc_cpu *c, int64_t n, int64_t min_chunk, cpu_task_fn fn, void *ctx) {
    if (n <= 0) return;
    int chunks = n_chunks(n, min_chunk, c->pool->n);
    if (chunks <= 1) {
        fn(ctx, 0, n);
        return;
    }
#pragma omp parallel num_threads(chunks)
    {
        /* The runtime may grant fewer threads than asked; the chunks stay the same, shared round-robin. */
        int got = omp_get_num_threads();
        for (int i = omp_get_thread_num(); i < chunks; i += got) {
            int64_t lo = n * i / chunks, hi = n * (i + 1) / chunks;
            if (hi > lo) fn(ctx, lo, hi);
        }
    }
}

#else /* no OpenMP: a pthread pool */

struct cpu_pool {
    int n;            /* threads including the caller */
    pthread_t *th;    /* n - 1 workers */
    int started;      /* workers actually started */
    pthread_mutex_t mu;
    pthread_cond_t work, done;
    uint64_t gen;     /* bumped for every job */
    int pending;      /* workers still running the current job */
    int stop;
    cpu_task_fn fn;
    void *ctx;
    int64_t n_items;
    int n_chunks;
};

static void run_chunk(cpu_pool *p, int i) {
    if (i >= p->n_chunks) return;
    int64_t lo = p->n_items * i / p->n_chunks, hi = p->n_items * (i + 1) / p->n_chunks;
    if (hi > lo) p->fn(p->ctx, lo, hi);
}

typedef struct worker_start {
    cpu_pool *p;
    int index;
} worker_start;

static void *worker(void *arg) {
    worker_start ws = *(worker_start *)arg;
    free(arg);
    cpu_pool *p = ws.p;
    uint64_t seen = 0;
    pthread_mutex_lock(&p->mu);
    for (;;) {
        while (!p->stop && p->gen == seen) pthread_cond_wait(&p->work, &p->mu);
        if (p->stop) break;
        seen = p->gen;
        pthread_mutex_unlock(&p->mu);
        run_chunk(p, ws.index);
        pthread_mutex_lock(&p->mu);
        if (--p->pending == 0) pthread_cond_signal(&p->done);
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

cpu_pool *cpu_pool_new(int n_threads) {
    cpu_pool *p = tgc_calloc(1, sizeof *p);
    p->n = n_threads < 1 ? 1 : n_threads;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->work, NULL);
    pthread_cond_init(&p->done, NULL);
    if (p->n > 1) p->th = tgc_calloc((size_t)p->n - 1, sizeof(pthread_t));
    for (int i = 1; i < p->n; i++) {
        worker_start *ws = tgc_malloc(sizeof *ws);
        ws->p = p;
        ws->index = i;
        if (pthread_create(&p->th[i - 1], NULL, worker, ws) != 0) {
            free(ws);
            break; /* fewer workers: the pool still works, with what started */
        }
        p->started++;
    }
    p->n = p->started + 1;
    return p;
}

void cpu_pool_free(cpu_pool *p) {
    if (!p) return;
    pthread_mutex_lock(&p->mu);
    p->stop = 1;
    pthread_cond_broadcast(&p->work);
    pthread_mutex_unlock(&p->mu);
    for (int i = 0; i < p->started; i++) pthread_join(p->th[i], NULL);
    pthread_cond_destroy(&p->work);
    pthread_cond_destroy(&p->done);
    pthread_mutex_destroy(&p->mu);
    free(p->th);
    free(p);
}

void cpu_parallel(tgc_cpu *c, int64_t n, int64_t min_chunk, cpu_task_fn fn, void *ctx) {
    if (n <= 0) return;
    cpu_pool *p = c->pool;
    int chunks = n_chunks(n, min_chunk, p->n);
    if (chunks <= 1) {
        fn(ctx, 0, n);
        return;
    }
    pthread_mutex_lock(&p->mu);
    p->fn = fn;
    p->ctx = ctx;
    p->n_items = n;
    p->n_chunks = chunks;
    p->pending = p->started;
    p->gen++;
    pthread_cond_broadcast(&p->work);
    pthread_mutex_unlock(&p->mu);
    run_chunk(p, 0);
    pthread_mutex_lock(&p->mu);
    while (p->pending > 0) pthread_cond_wait(&p->done, &p->mu);
    pthread_mutex_unlock(&p->mu);
}

#endif
