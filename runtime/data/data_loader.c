/* runtime/data/data_loader.c - the batch loader: worker threads, an ordered bounded prefetch queue, owned buffers. */
#include "runtime/data/data.h"
#include "runtime/data/data_loader_src.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "backend/device.h"

/* How it stays deterministic and bounded: batches are claimed in order by whichever worker is free, each
 * claim takes one of nbuf buffers, and the caller receives them strictly in batch order from a ring indexed
 * by batch number. The content of batch b depends only on (seed, epoch, b), never on which thread built it.
 * At most nbuf batches exist at once, so memory is fixed after creation. */

typedef struct slot {
    tgc_batch *batch; /* the finished batch (or its buffer, when it failed) */
    int ready, failed;
    tgc_err err;
} slot;

typedef struct worker {
    tgc_loader *l;
    pthread_t thread;
    tgc_image img, scratch;
    void *ws; /* the source's per-thread state */
} worker;

struct tgc_loader {
    const tgc_dataset *ds;   /* NULL with a source */
    tgc_dataset *owned_ds;
    tgc_loader_src src;      /* src.build NULL: samples from ds */
    tgc_loader_opts o;
    tgc_sampler sampler;
    int c, h, w;
    size_t sample_floats;

    int nbuf;
    tgc_batch *bufs;
    tgc_batch **free_bufs;
    int nfree;
    slot *ring; /* nbuf slots, batch b in ring[b % nbuf] */

    int *idx, *pos; /* this rank's epoch order (dataset index and padded position) */
    int nb;         /* batches per epoch */
    int grouped;    /* src.portrait: batches of one orientation, from grp */
    tgc_group grp;  /* the epoch's batches when grouped */
    uint32_t epoch;
    int claim_next, consume_next, stop, inflight;
    int active, shutdown, failed;
    tgc_err fail_err; /* the delivered failure, repeated until the next epoch */

    pthread_mutex_t mu;
    pthread_cond_t work_cv, ready_cv;
    worker *workers;
    int nworkers, threads_started;
    tgc_image img, scratch; /* for num_workers == 0 */
    void *ws;
};

/* Builds batch b into buf. Runs without the lock: it reads only what begin_epoch does not change while a
 * batch is in flight. */
static int build_batch(tgc_loader *l, int b, tgc_batch *buf, tgc_image *img, tgc_image *scratch, void *ws,
                       tgc_err *err) {
    int bs = l->o.batch_size, first = b * bs;
    int n = TGC_MIN(bs, l->sampler.num_samples - first);
    const int *idx = l->idx, *pos = l->pos;
    buf->portrait = 0;
    if (l->grouped) {
        first = l->grp.start[b];
        n = l->grp.count[b];
        idx = l->grp.idx;
        pos = l->grp.pos;
        buf->portrait = l->grp.portrait[b];
    }
    if (l->src.build) {
        double avg = 0;
        for (int i = 0; i < n; i++) {
            int k = first + i;
            if (l->src.build(l->src.ctx, ws, idx[k], l->epoch, (uint32_t)pos[k], l->o.seed, buf, i, err))
                return tgc_err_prefix(err, "epoch %u, batch %d", l->epoch, b);
            avg += buf->meta[i].avg_part;
        }
        buf->avg_factor = (float)TGC_MAX(avg, 1.0);
        buf->n = n;
        buf->index = b;
        buf->epoch = l->epoch;
        return 0;
    }
    for (int i = 0; i < n; i++) {
        int k = first + i;
        tgc_rng rng;
        tgc_rng_init(&rng, l->o.seed, l->epoch, (uint32_t)l->pos[k], TGC_RNG_AUGMENT);
        int32_t label;
        if (tgc_dataset_get(l->ds, l->idx[k], img, scratch, &rng, &label, err))
            return tgc_err_prefix(err, "epoch %u, batch %d", l->epoch, b);
        if (img->c != l->c || img->h != l->h || img->w != l->w) {
            char name[512];
            tgc_dataset_sample_name(l->ds, l->idx[k], name, sizeof name);
            return tgc_fail(err, "%s: after the pipeline the image is %dx%dx%d (CxHxW) but the batch shape is %dx%dx%d "
                            "(from sample 0); add a Resize or crop to make every sample the same size",
                            name, img->c, img->h, img->w, l->c, l->h, l->w);
        }
        if (tgc_normalize_image(&l->o.norm, img, buf->images + (size_t)i * l->sample_floats, err)) return -1;
        buf->labels[i] = label;
    }
    buf->n = n;
    buf->index = b;
    buf->epoch = l->epoch;
    return 0;
}

static void *worker_main(void *arg) {
    worker *w = arg;
    tgc_loader *l = w->l;
    pthread_mutex_lock(&l->mu);
    for (;;) {
        while (!l->shutdown && !(l->active && l->claim_next < l->stop && l->nfree > 0))
            pthread_cond_wait(&l->work_cv, &l->mu);
        if (l->shutdown) break;
        int b = l->claim_next++;
        tgc_batch *buf = l->free_bufs[--l->nfree];
        l->inflight++;
        pthread_mutex_unlock(&l->mu);
        tgc_err err;
        err.msg[0] = 0;
        int rc = build_batch(l, b, buf, &w->img, &w->scratch, w->ws, &err);
        pthread_mutex_lock(&l->mu);
        l->inflight--;
        slot *s = &l->ring[b % l->nbuf];
        s->batch = buf;
        s->ready = 1;
        s->failed = rc < 0;
        if (rc < 0) {
            s->err = err;
            if (l->stop > b + 1) l->stop = b + 1; /* nothing after a failed batch is worth building */
        }
        pthread_cond_broadcast(&l->ready_cv);
    }
    pthread_mutex_unlock(&l->mu);
    return NULL;
}

/* Batch memory: the device's host allocation when the loader has a device, else plain memory. */
static void *buf_alloc(const tgc_loader *l, size_t bytes, tgc_err *err) {
    return l->o.device ? tgc_device_host_alloc(l->o.device, bytes, err) : tgc_malloc(bytes);
}

static void buf_free(const tgc_loader *l, void *p) {
    if (!p) return;
    if (l->o.device) tgc_device_host_free(l->o.device, p);
    else free(p);
}

void tgc_loader_free(tgc_loader *l) {
    if (!l) return;
    pthread_mutex_lock(&l->mu);
    l->shutdown = 1;
    pthread_cond_broadcast(&l->work_cv);
    pthread_mutex_unlock(&l->mu);
    for (int i = 0; i < l->threads_started; i++) pthread_join(l->workers[i].thread, NULL);
    for (int i = 0; i < l->nworkers; i++) {
        tgc_image_free(&l->workers[i].img);
        tgc_image_free(&l->workers[i].scratch);
        if (l->workers[i].ws) l->src.worker_free(l->workers[i].ws);
    }
    if (l->ws) l->src.worker_free(l->ws);
    for (int i = 0; l->bufs && i < l->nbuf; i++) {
        buf_free(l, l->bufs[i].images);
        buf_free(l, l->bufs[i].labels);
        buf_free(l, l->bufs[i].cls_target);
        buf_free(l, l->bufs[i].bbox_target);
        buf_free(l, l->bufs[i].img_shape);
        buf_free(l, l->bufs[i].gt_bboxes);
        buf_free(l, l->bufs[i].gt_labels);
        buf_free(l, l->bufs[i].rng);
        free(l->bufs[i].meta);
    }
    if (l->src.ctx_free) l->src.ctx_free(l->src.ctx);
    pthread_mutex_destroy(&l->mu);
    pthread_cond_destroy(&l->work_cv);
    pthread_cond_destroy(&l->ready_cv);
    tgc_image_free(&l->img);
    tgc_image_free(&l->scratch);
    free(l->workers);
    free(l->bufs);
    free(l->free_bufs);
    free(l->ring);
    free(l->idx);
    free(l->pos);
    tgc_group_free(&l->grp);
    tgc_dataset_free(l->owned_ds);
    free(l);
}

/* The parts every loader shares: options, locks, sampler, batch count. 0, or -1 (l is then freed by the caller). */
static int loader_begin(tgc_loader *l, int n, const tgc_loader_opts *o, tgc_err *err) {
    l->o = *o;
    if (l->o.prefetch_factor == 0) l->o.prefetch_factor = 2;
    pthread_mutex_init(&l->mu, NULL);
    pthread_cond_init(&l->work_cv, NULL);
    pthread_cond_init(&l->ready_cv, NULL);
    if (o->batch_size < 1 || o->batch_size > 1 << 20)
        return tgc_fail(err, "loader: batch_size %d is outside 1..%d", o->batch_size, 1 << 20);
    if (o->num_workers < 0 || o->num_workers > 256 || o->prefetch_factor < 0 || o->prefetch_factor > 64)
        return tgc_fail(err, "loader: num_workers %d (0..256) or prefetch_factor %d (0..64) out of range",
                        o->num_workers, o->prefetch_factor);
    if (o->num_repeats > 0 ? tgc_sampler_init_repeat(&l->sampler, n, o->shuffle, o->seed, o->num_repeats, o->rank, o->world, err)
                           : tgc_sampler_init(&l->sampler, n, o->shuffle, o->seed, o->round_up, o->rank, o->world, err))
        return -1;
    l->nb = o->train ? l->sampler.num_samples / o->batch_size
                     : (l->sampler.num_samples + o->batch_size - 1) / o->batch_size;
    if (l->nb == 0)
        return tgc_fail(err, "loader: rank %d gets %d samples per epoch, fewer than one training batch of %d", o->rank,
                        l->sampler.num_samples, o->batch_size);
    return 0;
}

/* Buffers and worker threads, once the batch shape is known. */
static int loader_start(tgc_loader *l, tgc_err *err) {
    const tgc_loader_opts *o = &l->o;
    l->sample_floats = (size_t)l->c * l->h * l->w;
    l->idx = tgc_malloc(sizeof(int) * (size_t)l->sampler.num_samples);
    l->pos = tgc_malloc(sizeof(int) * (size_t)l->sampler.num_samples);
    /* Workers fill prefetch_factor batches each; 2 more let the caller hold a batch while the next is taken. */
    l->nbuf = o->num_workers ? o->num_workers * o->prefetch_factor + 2 : 2;
    l->bufs = tgc_calloc((size_t)l->nbuf, sizeof *l->bufs);
    l->free_bufs = tgc_calloc((size_t)l->nbuf, sizeof *l->free_bufs);
    l->ring = tgc_calloc((size_t)l->nbuf, sizeof *l->ring);
    size_t bs = (size_t)o->batch_size, na = (size_t)l->src.anchors;
    for (int i = 0; i < l->nbuf; i++) {
        tgc_batch *b = &l->bufs[i];
        if (!(b->images = buf_alloc(l, sizeof(float) * l->sample_floats * bs, err)) ||
            !(b->labels = buf_alloc(l, sizeof(int32_t) * bs, err)))
            return -1;
        if (l->src.build) b->meta = tgc_calloc(bs, sizeof *b->meta);
        if (na && (!(b->cls_target = buf_alloc(l, sizeof(int32_t) * bs * na, err)) ||
                   !(b->bbox_target = buf_alloc(l, sizeof(float) * 4 * bs * na, err))))
            return -1;
        size_t ng = (size_t)l->src.max_gts;
        if ((l->src.img_shape && !(b->img_shape = buf_alloc(l, sizeof(float) * 2 * bs, err))) ||
            (ng && (!(b->gt_bboxes = buf_alloc(l, sizeof(float) * 4 * bs * ng, err)) ||
                    !(b->gt_labels = buf_alloc(l, sizeof(int32_t) * bs * ng, err)) ||
                    !(b->rng = buf_alloc(l, sizeof(int32_t) * 4 * bs, err)))))
            return -1;
        l->free_bufs[l->nfree++] = b;
    }
    l->nworkers = o->num_workers;
    l->workers = tgc_calloc((size_t)(l->nworkers ? l->nworkers : 1), sizeof *l->workers);
    if (l->src.build) {
        l->ws = l->src.worker_new(l->src.ctx);
        for (int i = 0; i < l->nworkers; i++) l->workers[i].ws = l->src.worker_new(l->src.ctx);
    }
    for (int i = 0; i < l->nworkers; i++) {
        l->workers[i].l = l;
        if (pthread_create(&l->workers[i].thread, NULL, worker_main, &l->workers[i]))
            return tgc_fail(err, "loader: cannot start worker thread %d", i);
        l->threads_started++;
    }
    return 0;
}

/* Orientation groups: the batch count (training: the same K every epoch and rank; evaluation: from the
 * unshuffled order of epoch 0). */
static int group_start(tgc_loader *l, tgc_err *err) {
    if (!l->src.portrait) return 0;
    l->grouped = 1;
    int ns = l->sampler.num_samples, bs = l->o.batch_size;
    tgc_group_init(&l->grp, ns);
    if (l->o.train) {
        l->nb = tgc_group_train_batches(ns, bs, l->src.both_orientations);
        if (l->nb == 0)
            return tgc_fail(err, "loader: rank %d gets %d samples per epoch: with batches of one orientation (batch %d) "
                                 "that is no whole training batch", l->o.rank, ns, bs);
        return 0;
    }
    tgc_sampler_epoch(&l->sampler, 0, l->idx, l->pos);
    if (tgc_group_batches(&l->grp, l->idx, l->pos, ns, l->src.portrait, bs, 0, l->src.both_orientations, err)) return -1;
    l->nb = l->grp.n;
    return 0;
}

tgc_loader *tgc_loader_new_src(const tgc_loader_src *src, const tgc_loader_opts *o, tgc_err *err) {
    tgc_loader *l = tgc_calloc(1, sizeof *l);
    l->src = *src;
    l->c = src->c;
    l->h = src->h;
    l->w = src->w;
    if (loader_begin(l, src->n, o, err) || loader_start(l, err) || group_start(l, err)) {
        tgc_loader_free(l);
        return NULL;
    }
    return l;
}

const tgc_loader_src *tgc_loader_get_src(const tgc_loader *l) { return &l->src; }

tgc_loader *tgc_loader_new(const tgc_dataset *ds, const tgc_loader_opts *o, tgc_err *err) {
    tgc_loader *l = tgc_calloc(1, sizeof *l);
    l->ds = ds;
    if (loader_begin(l, tgc_dataset_len(ds), o, err)) goto fail;
    /* The batch shape: sample 0 through the pipeline. */
    tgc_rng rng;
    tgc_rng_init(&rng, o->seed, 0, 0, TGC_RNG_AUGMENT);
    int32_t label;
    if (tgc_dataset_get(ds, 0, &l->img, &l->scratch, &rng, &label, err)) goto fail;
    l->c = l->img.c;
    l->h = l->img.h;
    l->w = l->img.w;
    if (o->norm.n > 1 && o->norm.n != l->c) {
        tgc_fail(err, "data_preprocessor: %d mean/std values but the images have %d channels", o->norm.n, l->c);
        goto fail;
    }
    if (loader_start(l, err)) goto fail;
    return l;
fail:
    tgc_loader_free(l);
    return NULL;
}

int tgc_loader_opts_from_cfg(const tgc_cfg *dl, const tgc_cfg *pre, int train, uint64_t default_seed, int rank,
                             int world, const struct tgc_device *device, tgc_loader_opts *out, tgc_err *err) {
    if (!dl || dl->kind != TGC_CFG_MAP) {
        if (dl) return tgc_cfg_fail(err, dl, "a dataloader must be a map, got a %s", tgc_cfg_kind_name(dl->kind));
        return tgc_fail(err, "no dataloader given");
    }
    tgc_loader_opts o = {0};
    int64_t bs, nw, pf, seed;
    if (tgc_cfg_int(dl, "batch_size", -1, &bs, err) || tgc_cfg_int(dl, "num_workers", 0, &nw, err) ||
        tgc_cfg_int(dl, "prefetch_factor", 2, &pf, err) || tgc_normalize_from_cfg(pre, &o.norm, err))
        return -1;
    if (bs < 1 || bs > 1 << 20) {
        const tgc_cfg *c = tgc_cfg_get(dl, "batch_size");
        tgc_cfg_fail(err, c ? c : dl, c ? "batch_size must be in 1..%d" : "missing batch_size (1..%d)", 1 << 20);
        return -1;
    }
    if (nw < 0 || nw > 256 || pf < 1 || pf > 64) {
        tgc_cfg_fail(err, dl, "num_workers must be in 0..256 and prefetch_factor in 1..64");
        return -1;
    }
    o.batch_size = (int)bs;
    o.num_workers = (int)nw;
    o.prefetch_factor = (int)pf;
    o.train = train;
    o.rank = rank;
    o.world = world;
    o.device = device;
    o.shuffle = train;
    o.round_up = 1;
    seed = (int64_t)default_seed;
    const tgc_cfg *sm = tgc_cfg_get(dl, "sampler");
    if (sm && sm->kind != TGC_CFG_NULL) {
        const char *type;
        if (sm->kind != TGC_CFG_MAP) {
            tgc_cfg_fail(err, sm, "sampler must be a map");
            return -1;
        }
        if (tgc_cfg_str(sm, "type", "DefaultSampler", &type, err)) return -1;
        const char *dot = strrchr(type, '.');
        const char *base = dot ? dot + 1 : type;
        if (!strcmp(base, "RepeatAugSampler")) { /* MMPretrain: shuffle, num_repeats (3), seed */
            int64_t reps;
            if (tgc_cfg_bool(sm, "shuffle", 1, &o.shuffle, err) || tgc_cfg_int(sm, "num_repeats", 3, &reps, err) ||
                tgc_cfg_int(sm, "seed", seed, &seed, err))
                return -1;
            if (reps < 1 || reps > 64) return tgc_cfg_fail(err, tgc_cfg_get(sm, "num_repeats"), "num_repeats must be in 1..64");
            o.num_repeats = (int)reps;
        } else if (strcmp(base, "DefaultSampler")) {
            tgc_cfg_fail(err, tgc_cfg_get(sm, "type"), "unsupported sampler '%s' (supported: DefaultSampler, RepeatAugSampler)",
                         type);
            return -1;
        } else if (tgc_cfg_bool(sm, "shuffle", 1, &o.shuffle, err) || tgc_cfg_bool(sm, "round_up", 1, &o.round_up, err) ||
                   tgc_cfg_int(sm, "seed", seed, &seed, err))
            return -1;
    }
    o.seed = (uint64_t)seed;
    if (!tgc_cfg_get(dl, "dataset")) return tgc_cfg_fail(err, dl, "missing dataset");
    *out = o;
    return 0;
}

tgc_loader *tgc_loader_open(const tgc_cfg *dl, const tgc_cfg *pre, int train, uint64_t default_seed, int rank,
                            int world, const struct tgc_device *device, tgc_err *err) {
    tgc_loader_opts o;
    if (tgc_loader_opts_from_cfg(dl, pre, train, default_seed, rank, world, device, &o, err)) return NULL;
    tgc_dataset *ds = tgc_dataset_open(tgc_cfg_get(dl, "dataset"), err);
    if (!ds) {
        if (!tgc_cfg_get(dl, "dataset")) tgc_cfg_fail(err, dl, "missing dataset");
        return NULL;
    }
    tgc_loader *l = tgc_loader_new(ds, &o, err);
    if (!l) {
        tgc_dataset_free(ds);
        return NULL;
    }
    l->owned_ds = ds;
    return l;
}

void tgc_loader_shape(const tgc_loader *l, int *c, int *h, int *w) {
    *c = l->c;
    *h = l->h;
    *w = l->w;
}
int tgc_loader_batch_size(const tgc_loader *l) { return l->o.batch_size; }
int tgc_loader_num_batches(const tgc_loader *l) { return l->nb; }
const tgc_dataset *tgc_loader_dataset(const tgc_loader *l) { return l->ds; }

void tgc_loader_group_stats(const tgc_loader *l, int batches[2], int *dropped) {
    batches[0] = l->grouped ? l->grp.n_orient[0] : 0;
    batches[1] = l->grouped ? l->grp.n_orient[1] : 0;
    *dropped = l->grouped ? l->grp.dropped : 0;
}

int tgc_loader_begin_epoch(tgc_loader *l, uint32_t epoch, int first_batch, tgc_err *err) {
    if (first_batch < 0 || first_batch > l->nb)
        return tgc_fail(err, "loader: cannot start epoch %u at batch %d (it has %d batches)", epoch, first_batch, l->nb);
    pthread_mutex_lock(&l->mu);
    l->active = 0;
    while (l->inflight > 0) pthread_cond_wait(&l->ready_cv, &l->mu); /* at most one batch per worker */
    for (int i = 0; i < l->nbuf; i++) {
        if (l->ring[i].ready) l->free_bufs[l->nfree++] = l->ring[i].batch;
        l->ring[i].ready = 0;
    }
    tgc_sampler_epoch(&l->sampler, epoch, l->idx, l->pos);
    if (l->grouped && tgc_group_batches(&l->grp, l->idx, l->pos, l->sampler.num_samples, l->src.portrait,
                                        l->o.batch_size, l->o.train, l->src.both_orientations, err)) {
        pthread_mutex_unlock(&l->mu);
        return -1;
    }
    if (l->grouped && l->grp.n != l->nb) { /* evaluation with a shuffled order: the count may change */
        if (l->o.train) {
            pthread_mutex_unlock(&l->mu);
            return tgc_fail(err, "internal error: %d orientation batches, not %d", l->grp.n, l->nb);
        }
        l->nb = l->grp.n;
    }
    l->epoch = epoch;
    l->claim_next = l->consume_next = first_batch;
    l->stop = l->nb;
    l->failed = 0;
    l->active = 1;
    pthread_cond_broadcast(&l->work_cv);
    pthread_mutex_unlock(&l->mu);
    return 0;
}

static int next_inline(tgc_loader *l, tgc_batch **out, tgc_err *err) {
    /* num_workers == 0: the caller's thread builds the batch; the lock is only for the buffer list. */
    int b = l->consume_next;
    if (l->nfree == 0) return tgc_fail(err, "loader: all %d batch buffers are held by the caller; release one first", l->nbuf);
    tgc_batch *buf = l->free_bufs[--l->nfree];
    pthread_mutex_unlock(&l->mu);
    int rc = build_batch(l, b, buf, &l->img, &l->scratch, l->ws, err);
    pthread_mutex_lock(&l->mu);
    if (rc) {
        l->free_bufs[l->nfree++] = buf;
        l->failed = 1;
        l->fail_err = *err;
        return -1;
    }
    l->consume_next++;
    *out = buf;
    return 1;
}

int tgc_loader_next(tgc_loader *l, tgc_batch **out, tgc_err *err) {
    *out = NULL;
    pthread_mutex_lock(&l->mu);
    int rc;
    if (l->failed) {
        *err = l->fail_err;
        rc = -1;
    } else if (!l->active) {
        rc = tgc_fail(err, "loader: tgc_loader_begin_epoch was not called");
    } else if (l->consume_next >= l->nb) {
        rc = 0;
    } else if (l->nworkers == 0) {
        rc = next_inline(l, out, err);
    } else {
        slot *s = &l->ring[l->consume_next % l->nbuf];
        rc = 1;
        while (!s->ready) {
            if (l->inflight == 0 && l->nfree == 0) { /* no worker can make progress: fail, do not hang */
                rc = tgc_fail(err, "loader: all %d batch buffers are held by the caller; release one first", l->nbuf);
                break;
            }
            pthread_cond_wait(&l->ready_cv, &l->mu);
        }
        if (rc == 1) {
            s->ready = 0;
            l->consume_next++;
            if (s->failed) {
                l->free_bufs[l->nfree++] = s->batch;
                pthread_cond_broadcast(&l->work_cv);
                l->failed = 1;
                l->fail_err = s->err;
                *err = s->err;
                rc = -1;
            } else {
                *out = s->batch;
            }
        }
    }
    pthread_mutex_unlock(&l->mu);
    return rc;
}

void tgc_loader_release(tgc_loader *l, tgc_batch *b) {
    if (!b) return;
    pthread_mutex_lock(&l->mu);
    if (l->nfree < l->nbuf) l->free_bufs[l->nfree++] = b; /* a double release must not overrun the list */
    pthread_cond_broadcast(&l->work_cv);
    pthread_mutex_unlock(&l->mu);
}
