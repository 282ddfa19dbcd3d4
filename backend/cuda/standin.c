/* backend/cuda/standin.c - the CPU stand-in of the stream API (backend/cuda/stream_api.h, standin.h): host
 * memory, one queue per stream, a seeded random scheduler over the queues' heads, and a vector-clock race
 * checker over the byte ranges every operation declares. Single-threaded: everything runs on the calling
 * thread, inside the API's calls. */
#include "backend/cuda/standin.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#define DEV_ALIGN 256
#define HOST_ALIGN 64
#define FILL_BYTE 0xA5 /* fresh memory's contents: undefined on a GPU, garbage here */
#define EAGER_MAX 2    /* an issuing call lets up to this many operations run */
#define POLL_MAX 4     /* poll and event_query let up to this many run */

/* ---- vector clocks ---------------------------------------------------------------------------- */

typedef struct vclock {
    uint64_t *v;
    int n;
} vclock;

static uint64_t vc_get(const vclock *a, int i) { return i < a->n ? a->v[i] : 0; }

static void vc_grow(vclock *a, int n) {
    if (n <= a->n) return;
    a->v = tgc_realloc(a->v, (size_t)n * sizeof *a->v);
    memset(a->v + a->n, 0, (size_t)(n - a->n) * sizeof *a->v);
    a->n = n;
}

static void vc_join(vclock *a, const vclock *b) {
    vc_grow(a, b->n);
    for (int i = 0; i < b->n; i++)
        if (b->v[i] > a->v[i]) a->v[i] = b->v[i];
}

static void vc_copy(vclock *dst, const vclock *src) {
    dst->n = 0;
    vc_join(dst, src);
}

static void vc_tick(vclock *a, int agent) {
    vc_grow(a, agent + 1);
    a->v[agent]++;
}

static void vc_free(vclock *a) {
    free(a->v);
    a->v = NULL;
    a->n = 0;
}

/* ---- tags: refcounted names of operations, kept by the shadow memory ------------------------------ */

typedef struct tag {
    int refs;
    char text[];
} tag;

static tag *tag_new(const char *text) {
    size_t n = strlen(text);
    tag *t = tgc_malloc(sizeof *t + n + 1);
    t->refs = 1;
    memcpy(t->text, text, n + 1);
    return t;
}

static tag *tag_ref(tag *t) {
    if (t) t->refs++;
    return t;
}

static void tag_unref(tag *t) {
    if (t && --t->refs == 0) free(t);
}

/* An access in happens-before order: agent -1 means none. */
typedef struct epoch {
    int agent;
    uint64_t clock;
    tag *who;
} epoch;

/* ---- shadow memory: disjoint byte ranges, each with its last write and the reads since ---------------- */

typedef struct seg {
    uint64_t lo, hi;
    epoch w;
    epoch *r; /* at most one per agent, sorted by agent */
    int nr;
} seg;

typedef struct shadow {
    seg *s;
    int n, cap;
    int max_n;
} shadow;

/* ---- the objects ------------------------------------------------------------------------------- */

typedef struct ctx ctx;
typedef struct domain domain;
typedef struct queue queue;
typedef struct gexec gexec;
typedef struct capture capture;
typedef struct coll coll;

enum { MEM_DEV, MEM_PINNED };

typedef struct alloc {
    uint64_t base, bytes;
    int kind;
    char *label;
    void *mem;
} alloc;

/* An event record: what stream_wait_event and event_sync wait for. Captured records belong to a capture
 * (cap set while it is open, stale after). */
typedef struct inst {
    int refs;
    int done;
    vclock clock;
    uint64_t t; /* virtual microseconds: the domain's step count when it completed */
    capture *cap;
    int cap_index; /* index among the capture's records */
    int stale;     /* recorded in a capture that has ended */
} inst;

typedef enum nkind { N_KERNEL, N_COPY, N_MEMSET, N_HOSTFN, N_RECORD, N_WAIT, N_GRAPH, N_ALLREDUCE, N_JOIN } nkind;

/* What an operation does; an issued operation owns its node, a replayed one points into its graph. */
typedef struct node {
    nkind kind;
    char *label;
    tgc_mem_range *reads, *writes;
    int n_reads, n_writes;
    tgc_host_kernel_fn kfn;
    void *params;
    tgc_host_fn hfn;
    void *user;
    void *dst;
    const void *src;
    uint64_t bytes;
    int value;
    int cap_index; /* N_RECORD/N_WAIT in a graph: the capture's record */
    gexec *gx;     /* N_GRAPH */
    coll *co;      /* N_ALLREDUCE */
    int rank, average;
} node;

typedef struct op {
    struct op *next;
    node *n;
    int own;       /* frees n */
    uint64_t seq;  /* issue number in its context */
    int has_issue;
    vclock issue;  /* the host's clock when it was issued */
    vclock join;   /* N_JOIN: the launching stream's clock */
    inst *ins;     /* N_RECORD: the record it completes; N_WAIT: the record it waits for (NULL: none) */
    int replay;    /* >0: run as part of graph replay #replay */
    int started;   /* N_GRAPH: expanded into the exec's lanes */
    queue *q;
} op;

struct queue {
    ctx *c;
    int agent;
    char *label; /* "stream 'compute'", "lane 'copy' of graph 'step'" */
    op *head, *tail;
    vclock clock;
};

typedef struct sstream {
    queue q;
    char *name;   /* the label it was created with */
    capture *cap; /* the capture it is recording into */
    int lane;     /* its lane in that capture */
    int destroyed;
} sstream;

typedef struct sevent {
    char *label;
    int timing;
    inst *last;
} sevent;

typedef struct glane {
    char *label; /* the captured stream's label */
    node **nodes;
    int n, cap;
} glane;

typedef struct graph {
    int refs;
    char *label;
    glane *lanes;
    int n_lanes;
    int n_records;
} graph;

struct gexec {
    graph *g;
    queue **lanes;
    int n_lanes;
    op *running;  /* the launch now replaying */
    int queued;   /* launch operations not yet completed */
    int launches;
    int destroyed;
};

struct capture {
    char *label;
    sstream *origin;
    graph *g;
    sstream **streams; /* by lane */
    inst **recs;       /* by record index (refs held) */
    int n_recs, cap_recs;
};

struct coll {
    coll *next;
    tgc_standin_comm *cm;
    int index;
    op **parts; /* by rank; NULL until issued */
    int n_parts;
};

struct tgc_standin_comm {
    ctx **c;
    int world;
    int *issued; /* all-reduces issued per rank */
    coll *colls;
};

struct ctx {
    domain *d;
    int own_domain;
    char *label;
    int n_agents; /* 0 is the host */
    vclock host;
    vclock retired; /* clocks of streams destroyed since: sync joins them too */
    uint64_t seq;
    alloc *allocs;
    int n_allocs, cap_allocs;
    shadow sh;
    sstream **streams;
    int n_streams, cap_streams;
    sevent **events;
    int n_events, cap_events;
    graph **graphs;
    int n_graphs, cap_graphs;
    gexec **execs;
    int n_execs, cap_execs;
    int n_captures;
    uint64_t ops_run, hash;
};

struct domain {
    uint64_t rng;
    queue **qs; /* every queue of every context, in creation order */
    int n_qs, cap_qs;
    int in_user; /* inside a kernel body or host callback */
    int failed;
    tgc_err sticky;
    uint64_t steps;
};

/* ---- small helpers ------------------------------------------------------------------------------ */

static uint64_t rng_next(domain *d) { /* splitmix64 */
    uint64_t z = (d->rng += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static const char *nz(const char *s, const char *dflt) { return s && *s ? s : dflt; }

/* Fails the domain for good: every later call reports this message. */
static int sticky(domain *d, tgc_err *err) {
    d->failed = 1;
    if (err && err != &d->sticky) d->sticky = *err;
    return -1;
}

static int entry(ctx *c, tgc_err *err, const char *fn) {
    if (c->d->in_user)
        return tgc_fail(err, "standin: %s called from inside a kernel body or host callback (CUDA forbids it)", fn);
    if (c->d->failed) {
        if (err) *err = c->d->sticky;
        return -1;
    }
    return 0;
}

/* A failure found where no err can be returned (a void call): the next call reports it. */
static void fail_quietly(domain *d, const char *fmt, const char *a, const char *b) {
    if (d->failed) return;
    tgc_fail(&d->sticky, fmt, a, b);
    d->failed = 1;
}

/* Destroying from inside a kernel body or host callback would pull the queue from under the scheduler. */
static int destroy_inside_user(ctx *c, const char *fn) {
    if (!c->d->in_user) return 0;
    fail_quietly(c->d, "standin: %s called from inside a kernel body or host callback (CUDA forbids it)%s", fn, "");
    return 1;
}

/* Every API call starts here: a call without err still gets its failure recorded as the sticky error. */
#define ENTER(c, err, fn, fail)                                                                                 \
    tgc_err err_local_;                                                                                         \
    if (!(err)) (err) = &err_local_;                                                                            \
    if (entry((c), (err), (fn)) < 0) return fail

static void reg_queue(domain *d, queue *q) {
    TGC_GROW(d->qs, d->cap_qs, d->n_qs + 1);
    d->qs[d->n_qs++] = q;
}

static void unreg_queue(domain *d, queue *q) {
    for (int i = 0; i < d->n_qs; i++)
        if (d->qs[i] == q) {
            memmove(&d->qs[i], &d->qs[i + 1], (size_t)(d->n_qs - i - 1) * sizeof *d->qs);
            d->n_qs--;
            return;
        }
}

static void queue_init(ctx *c, queue *q, char *label) {
    memset(q, 0, sizeof *q);
    q->c = c;
    q->agent = c->n_agents++;
    q->label = label;
    reg_queue(c->d, q);
}

static void inst_unref(inst *i) {
    if (i && --i->refs == 0) {
        vc_free(&i->clock);
        free(i);
    }
}

static inst *inst_ref(inst *i) {
    if (i) i->refs++;
    return i;
}

static void node_free(node *n) {
    if (!n) return;
    free(n->label);
    free(n->reads);
    free(n->writes);
    free(n->params);
    free(n);
}

static void op_free(op *o) {
    if (o->n->kind == N_ALLREDUCE && o->n->co && o->n->co->parts[o->n->rank] == o) o->n->co->parts[o->n->rank] = NULL;
    if (o->n->kind == N_GRAPH && !o->started) o->n->gx->queued--;
    vc_free(&o->issue);
    vc_free(&o->join);
    inst_unref(o->ins);
    if (o->own) node_free(o->n);
    free(o);
}

static void queue_push(queue *q, op *o) {
    o->q = q;
    o->next = NULL;
    if (q->tail) q->tail->next = o;
    else q->head = o;
    q->tail = o;
}

static op *queue_pop(queue *q) {
    op *o = q->head;
    q->head = o->next;
    if (!q->head) q->tail = NULL;
    return o;
}

static void queue_clear(queue *q) {
    while (q->head) op_free(queue_pop(q));
}

static tgc_mem_range *copy_ranges(const tgc_mem_range *r, int n) {
    if (n <= 0 || !r) return NULL;
    tgc_mem_range *c = tgc_malloc((size_t)n * sizeof *c);
    memcpy(c, r, (size_t)n * sizeof *c);
    return c;
}

/* ---- allocations and where an address is ------------------------------------------------------------ */

static alloc *find_alloc(ctx *c, uint64_t p) {
    for (int i = 0; i < c->n_allocs; i++)
        if (p >= c->allocs[i].base && p < c->allocs[i].base + c->allocs[i].bytes) return &c->allocs[i];
    return NULL;
}

/* "device buffer 'grads' bytes [256, 512) of 4096" for messages. */
static void describe_range(ctx *c, uint64_t lo, uint64_t hi, char *buf, size_t size) {
    alloc *a = find_alloc(c, lo);
    if (a)
        snprintf(buf, size, "bytes [%" PRIu64 ", %" PRIu64 ") of %s buffer '%s' (%" PRIu64 " bytes)", lo - a->base,
                 hi - a->base, a->kind == MEM_DEV ? "device" : "pinned host", a->label, a->bytes);
    else
        snprintf(buf, size, "%" PRIu64 " bytes of host memory at %#" PRIx64, hi - lo, lo);
}

/* Range r must be device memory (want MEM_DEV), host memory (want -1: pinned or not, not device), or either
 * device or pinned memory (want -2, what a kernel may touch). */
static int check_mem(ctx *c, const tgc_mem_range *r, int want, const char *what, tgc_err *err) {
    if (r->bytes == 0) return 0;
    uint64_t lo = (uint64_t)(uintptr_t)r->ptr, hi = lo + r->bytes;
    if (!r->ptr || hi < lo) return tgc_fail(err, "standin: %s: a NULL or wrapping range", what);
    alloc *a = find_alloc(c, lo);
    if (!a && want == -1) {
        for (int i = 0; i < c->n_allocs; i++) /* a host range must not run into device memory */
            if (c->allocs[i].kind == MEM_DEV && c->allocs[i].base < hi && lo < c->allocs[i].base + c->allocs[i].bytes)
                return tgc_fail(err, "standin: %s: host range overlaps device buffer '%s'", what, c->allocs[i].label);
        return 0;
    }
    if (!a)
        return tgc_fail(err, "standin: %s: %" PRIu64 " bytes at %#" PRIx64 " are not %s", what, r->bytes, lo,
                        want == MEM_DEV ? "device memory from dev_alloc" : "device or pinned memory from this context");
    if (hi > a->base + a->bytes)
        return tgc_fail(err, "standin: %s: bytes [%" PRIu64 ", %" PRIu64 ") run past the end of %s buffer '%s' (%" PRIu64
                        " bytes)", what, lo - a->base, hi - a->base, a->kind == MEM_DEV ? "device" : "pinned host",
                        a->label, a->bytes);
    if (want == MEM_DEV && a->kind != MEM_DEV)
        return tgc_fail(err, "standin: %s: pinned host buffer '%s' where device memory is needed", what, a->label);
    if (want == -1 && a->kind == MEM_DEV)
        return tgc_fail(err, "standin: %s: device buffer '%s' where host memory is needed (the host cannot touch "
                        "device memory)", what, a->label);
    return 0;
}

/* ---- the race checker ------------------------------------------------------------------------------- */

static void epoch_set(epoch *e, int agent, uint64_t clock, tag *who) {
    tag *old = e->who;
    e->agent = agent;
    e->clock = clock;
    e->who = tag_ref(who);
    tag_unref(old);
}

static void seg_clear(seg *s) {
    tag_unref(s->w.who);
    for (int i = 0; i < s->nr; i++) tag_unref(s->r[i].who);
    free(s->r);
}

static seg seg_copy(const seg *s, uint64_t lo, uint64_t hi) {
    seg t = *s;
    t.lo = lo;
    t.hi = hi;
    tag_ref(t.w.who);
    t.r = s->nr ? tgc_malloc((size_t)s->nr * sizeof *t.r) : NULL;
    for (int i = 0; i < s->nr; i++) {
        t.r[i] = s->r[i];
        tag_ref(t.r[i].who);
    }
    return t;
}

static void sh_insert(shadow *sh, int at, seg s) {
    TGC_GROW(sh->s, sh->cap, sh->n + 1);
    memmove(&sh->s[at + 1], &sh->s[at], (size_t)(sh->n - at) * sizeof *sh->s);
    sh->s[at] = s;
    sh->n++;
    if (sh->n > sh->max_n) sh->max_n = sh->n;
}

/* The first segment with hi > p. */
static int sh_find(const shadow *sh, uint64_t p) {
    int lo = 0, hi = sh->n;
    while (lo < hi) {
        int mid = (lo + hi) / 2;
        if (sh->s[mid].hi <= p) lo = mid + 1;
        else hi = mid;
    }
    return lo;
}

/* Makes [lo, hi) exactly covered by segments (splitting at the ends, filling gaps); returns the index of the
 * first, *end one past the last. */
static int sh_cover(shadow *sh, uint64_t lo, uint64_t hi, int *end) {
    int i = sh_find(sh, lo);
    if (i < sh->n && sh->s[i].lo < lo) { /* split the segment holding lo */
        seg right = seg_copy(&sh->s[i], lo, sh->s[i].hi);
        sh->s[i].hi = lo;
        sh_insert(sh, ++i, right);
    }
    int first = i;
    uint64_t p = lo;
    while (p < hi) {
        if (i < sh->n && sh->s[i].lo <= p) {
            if (sh->s[i].hi > hi) { /* split the segment holding hi */
                seg right = seg_copy(&sh->s[i], hi, sh->s[i].hi);
                sh->s[i].hi = hi;
                sh_insert(sh, i + 1, right);
            }
            p = sh->s[i].hi;
            i++;
        } else { /* a gap: never accessed */
            uint64_t gend = i < sh->n && sh->s[i].lo < hi ? sh->s[i].lo : hi;
            seg g = {p, gend, {-1, 0, NULL}, NULL, 0};
            sh_insert(sh, i, g);
            p = gend;
            i++;
        }
    }
    *end = i;
    return first;
}

static int seg_same(const seg *a, const seg *b) {
    if (a->hi != b->lo || a->w.agent != b->w.agent || a->w.clock != b->w.clock || a->w.who != b->w.who ||
        a->nr != b->nr)
        return 0;
    for (int i = 0; i < a->nr; i++)
        if (a->r[i].agent != b->r[i].agent || a->r[i].clock != b->r[i].clock || a->r[i].who != b->r[i].who) return 0;
    return 1;
}

/* Merges equal neighbours among segments [from, to). */
static void sh_merge(shadow *sh, int from, int to) {
    if (from < 0) from = 0;
    if (to > sh->n) to = sh->n;
    for (int i = from; i + 1 < to;) {
        if (seg_same(&sh->s[i], &sh->s[i + 1])) {
            sh->s[i].hi = sh->s[i + 1].hi;
            seg_clear(&sh->s[i + 1]);
            memmove(&sh->s[i + 1], &sh->s[i + 2], (size_t)(sh->n - i - 2) * sizeof *sh->s);
            sh->n--;
            to--;
        } else {
            i++;
        }
    }
}

/* Drops the shadow of [lo, hi) (freed memory). */
static void sh_forget(shadow *sh, uint64_t lo, uint64_t hi) {
    int end, first = sh_cover(sh, lo, hi, &end);
    for (int i = first; i < end; i++) seg_clear(&sh->s[i]);
    memmove(&sh->s[first], &sh->s[end], (size_t)(sh->n - end) * sizeof *sh->s);
    sh->n -= end - first;
}

static void sh_free(shadow *sh) {
    for (int i = 0; i < sh->n; i++) seg_clear(&sh->s[i]);
    free(sh->s);
    memset(sh, 0, sizeof *sh);
}

/* Whether an access e happened before the accessor whose clock is now. */
static int before(const epoch *e, const vclock *now) { return e->agent < 0 || e->clock <= vc_get(now, e->agent); }

static const char *const HINT =
    "(a missing stream_wait_event, an event recorded too early, or a missing synchronise)";

/* One access of [lo, hi) by `me` (clock now): checked, then recorded. */
static int access_range(ctx *c, uint64_t lo, uint64_t hi, int write, const epoch *me, const vclock *now,
                        tgc_err *err) {
    if (hi <= lo) return 0;
    shadow *sh = &c->sh;
    alloc *a = find_alloc(c, lo);
    int end, first = sh_cover(sh, lo, hi, &end);
    for (int i = first; i < end; i++) {
        seg *s = &sh->s[i];
        const epoch *bad = NULL;
        int bad_is_read = 0;
        if (!write && a && a->kind == MEM_DEV && s->w.agent < 0) {
            /* never written: undefined contents on a GPU */
            int j = i;
            while (j + 1 < end && sh->s[j + 1].w.agent < 0) j++;
            char where[256];
            describe_range(c, s->lo, sh->s[j].hi, where, sizeof where);
            return tgc_fail(err, "standin: %s%s%s reads %s, which nothing wrote since dev_alloc (undefined contents)",
                            c->own_domain ? "" : c->label, c->own_domain ? "" : ": ", me->who->text, where);
        }
        if (!before(&s->w, now)) bad = &s->w;
        for (int k = 0; write && !bad && k < s->nr; k++)
            if (!before(&s->r[k], now)) bad = &s->r[k], bad_is_read = 1;
        if (!bad) continue;
        /* the whole run of segments this same earlier operation conflicts on */
        tag *who = bad->who;
        int j = i;
        while (j + 1 < end) {
            const seg *t = &sh->s[j + 1];
            int same = (t->w.who == who && !before(&t->w, now));
            for (int k = 0; write && !same && k < t->nr; k++) same = t->r[k].who == who && !before(&t->r[k], now);
            if (!same) break;
            j++;
        }
        char where[256];
        describe_range(c, s->lo, sh->s[j].hi, where, sizeof where);
        const char *pre = c->own_domain ? "" : c->label, *sep = c->own_domain ? "" : ": ";
        if (bad_is_read)
            return tgc_fail(err, "standin: %s%srace on %s: %s writes them while %s may still be reading them: the read "
                            "is not ordered before the write %s", pre, sep, where, me->who->text, who->text, HINT);
        return tgc_fail(err, "standin: %s%srace on %s: %s %s them, but the earlier write by %s is not ordered before "
                        "it %s", pre, sep, where, me->who->text, write ? "writes" : "reads", who->text, HINT);
    }
    for (int i = first; i < end; i++) {
        seg *s = &sh->s[i];
        if (write) {
            epoch_set(&s->w, me->agent, me->clock, me->who);
            for (int k = 0; k < s->nr; k++) tag_unref(s->r[k].who);
            s->nr = 0;
        } else {
            int k = 0;
            while (k < s->nr && s->r[k].agent < me->agent) k++;
            if (k < s->nr && s->r[k].agent == me->agent) {
                epoch_set(&s->r[k], me->agent, me->clock, me->who);
            } else {
                s->r = tgc_realloc(s->r, (size_t)(s->nr + 1) * sizeof *s->r);
                memmove(&s->r[k + 1], &s->r[k], (size_t)(s->nr - k) * sizeof *s->r);
                s->r[k] = (epoch){me->agent, me->clock, tag_ref(me->who)};
                s->nr++;
            }
        }
    }
    sh_merge(sh, first - 1, end + 1);
    return 0;
}

/* All of an operation's reads, then all of its writes. */
static int access_all(ctx *c, const tgc_mem_range *reads, int n_reads, const tgc_mem_range *writes, int n_writes,
                      const epoch *me, const vclock *now, tgc_err *err) {
    for (int i = 0; i < n_reads; i++) {
        uint64_t lo = (uint64_t)(uintptr_t)reads[i].ptr;
        if (access_range(c, lo, lo + reads[i].bytes, 0, me, now, err) < 0) return -1;
    }
    for (int i = 0; i < n_writes; i++) {
        uint64_t lo = (uint64_t)(uintptr_t)writes[i].ptr;
        if (access_range(c, lo, lo + writes[i].bytes, 1, me, now, err) < 0) return -1;
    }
    return 0;
}

/* ---- running operations ----------------------------------------------------------------------------- */

static void op_name(const op *o, char *buf, size_t size) {
    const queue *q = o->q;
    if (o->replay)
        snprintf(buf, size, "%s (graph replay %d, op #%" PRIu64 " on %s)", o->n->label, o->replay, o->seq, q->label);
    else
        snprintf(buf, size, "%s (op #%" PRIu64 " on %s)", o->n->label, o->seq, q->label);
}

static int lanes_empty(const gexec *x) {
    for (int i = 0; i < x->n_lanes; i++)
        if (x->lanes[i]->head) return 0;
    return 1;
}

static int head_runnable(const queue *q) {
    const op *o = q->head;
    if (!o) return 0;
    switch (o->n->kind) {
    case N_WAIT: return !o->ins || o->ins->done;
    case N_GRAPH: return o->started ? lanes_empty(o->n->gx) : o->n->gx->running == NULL;
    case N_ALLREDUCE: {
        const coll *co = o->n->co;
        if (!co) return 0; /* its communicator is gone */
        for (int r = 0; r < co->n_parts; r++)
            if (!co->parts[r] || co->parts[r]->q->head != co->parts[r]) return 0;
        return 1;
    }
    default: return 1;
    }
}

static void gexec_free(ctx *c, gexec *x);
static void graph_unref(graph *g);

/* The first steps of every operation on its queue: the host's clock at issue, then a tick. */
static void begin_op(queue *q, op *o) {
    if (o->has_issue) vc_join(&q->clock, &o->issue);
    if (o->n->kind == N_WAIT && o->ins) vc_join(&q->clock, &o->ins->clock);
    if (o->n->kind == N_JOIN) vc_join(&q->clock, &o->join);
    vc_tick(&q->clock, q->agent);
    ctx *c = q->c;
    c->ops_run++;
    c->hash = (c->hash ^ (o->seq * 1315423911u + (uint64_t)q->agent)) * 1099511628211ull;
}

static int run_user(domain *d, int (*fn)(const void *, tgc_err *), const void *params, tgc_err *err) {
    d->in_user = 1;
    int rc = fn(params, err);
    d->in_user = 0;
    return rc;
}

/* Replays graph exec x (launched by o on q): fresh records, the nodes into the lanes, lane 0 joined to q. */
static void expand_graph(ctx *c, queue *q, op *o) {
    gexec *x = o->n->gx;
    graph *g = x->g;
    int replay = ++x->launches;
    inst **recs = tgc_calloc((size_t)(g->n_records ? g->n_records : 1), sizeof *recs);
    for (int k = 0; k < g->n_records; k++) {
        recs[k] = tgc_calloc(1, sizeof **recs);
        recs[k]->refs = 1;
        recs[k]->cap_index = -1;
    }
    for (int l = 0; l < g->n_lanes; l++) {
        queue *lq = x->lanes[l];
        if (l == 0) {
            static node join_node = {.kind = N_JOIN, .label = "graph start"};
            op *j = tgc_calloc(1, sizeof *j);
            j->n = &join_node;
            j->seq = ++c->seq;
            j->replay = replay;
            vc_copy(&j->join, &q->clock);
            queue_push(lq, j);
        }
        for (int i = 0; i < g->lanes[l].n; i++) {
            node *nd = g->lanes[l].nodes[i];
            op *r = tgc_calloc(1, sizeof *r);
            r->n = nd;
            r->seq = ++c->seq;
            r->replay = replay;
            if (nd->kind == N_RECORD || nd->kind == N_WAIT) r->ins = inst_ref(recs[nd->cap_index]);
            queue_push(lq, r);
        }
    }
    for (int k = 0; k < g->n_records; k++) inst_unref(recs[k]);
    free(recs);
    x->running = o;
    o->started = 1;
    x->queued--;
}

static int run_allreduce(domain *d, coll *co, tgc_err *err) {
    uint64_t count = co->parts[0]->n->bytes / sizeof(float);
    for (int r = 1; r < co->n_parts; r++)
        if (co->parts[r]->n->bytes != co->parts[0]->n->bytes)
            return tgc_fail(err, "standin: all-reduce #%d: rank 0 reduces %" PRIu64 " floats, rank %d %" PRIu64,
                            co->index, count, r, co->parts[r]->n->bytes / (uint64_t)sizeof(float));
    for (int r = 0; r < co->n_parts; r++) { /* each rank's part: ordered and checked on its own device */
        op *o = co->parts[r];
        queue *q = o->q;
        begin_op(q, o);
        char name[512];
        op_name(o, name, sizeof name);
        tag *t = tag_new(name);
        epoch me = {q->agent, vc_get(&q->clock, q->agent), t};
        int rc = access_all(q->c, o->n->reads, o->n->n_reads, o->n->writes, o->n->n_writes, &me, &q->clock, err);
        tag_unref(t);
        if (rc < 0) return -1;
    }
    float *sum = tgc_calloc((size_t)(count ? count : 1), sizeof *sum);
    for (int r = 0; r < co->n_parts; r++) {
        const float *b = co->parts[r]->n->dst;
        for (uint64_t i = 0; i < count; i++) sum[i] += b[i];
    }
    for (uint64_t i = 0; co->parts[0]->n->average && i < count; i++) sum[i] /= (float)co->n_parts;
    for (int r = 0; r < co->n_parts; r++) {
        op *o = co->parts[r];
        if (count) memcpy(o->n->dst, sum, count * sizeof *sum);
        op_free(queue_pop(o->q));
    }
    free(sum);
    coll **pp = &co->cm->colls; /* done: every part ran */
    while (*pp != co) pp = &(*pp)->next;
    *pp = co->next;
    free(co->parts);
    free(co);
    (void)d;
    return 0;
}

/* Runs the head of q (runnable). */
static int run_head(domain *d, queue *q, tgc_err *err) {
    ctx *c = q->c;
    op *o = q->head;
    node *n = o->n;
    d->steps++;
    if (n->kind == N_ALLREDUCE) return run_allreduce(d, n->co, err);
    if (n->kind == N_GRAPH) {
        gexec *x = n->gx;
        if (!o->started) {
            begin_op(q, o);
            expand_graph(c, q, o);
            return 0;
        }
        vc_join(&q->clock, &x->lanes[0]->clock); /* the graph is done: every lane joined lane 0 */
        vc_tick(&q->clock, q->agent);
        x->running = NULL;
        op_free(queue_pop(q));
        if (x->destroyed && x->queued == 0) gexec_free(c, x);
        return 0;
    }
    begin_op(q, o);
    if (n->n_reads || n->n_writes) {
        char name[512];
        op_name(o, name, sizeof name);
        tag *t = tag_new(name);
        epoch me = {q->agent, vc_get(&q->clock, q->agent), t};
        int rc = access_all(c, n->reads, n->n_reads, n->writes, n->n_writes, &me, &q->clock, err);
        tag_unref(t);
        if (rc < 0) return -1;
    }
    switch (n->kind) {
    case N_KERNEL:
        if (run_user(d, n->kfn, n->params, err) < 0) {
            char name[512];
            op_name(o, name, sizeof name);
            return tgc_err_prefix(err, "standin: %s failed", name);
        }
        break;
    case N_COPY:
        if (n->bytes) memmove(n->dst, n->src, (size_t)n->bytes);
        break;
    case N_MEMSET:
        if (n->bytes) memset(n->dst, n->value, (size_t)n->bytes);
        break;
    case N_HOSTFN:
        d->in_user = 1;
        n->hfn(n->user);
        d->in_user = 0;
        break;
    case N_RECORD:
        vc_copy(&o->ins->clock, &q->clock);
        o->ins->t = d->steps;
        o->ins->done = 1;
        break;
    default: break;
    }
    op_free(queue_pop(q));
    return 0;
}

/* One step: a random runnable head among all the domain's queues. 1: ran one, 0: nothing can run. */
static int step(domain *d, tgc_err *err) {
    tgc_err local;
    if (!err) err = &local;
    queue *ready[64], **r = ready;
    int n = 0;
    if (d->n_qs > 64) r = tgc_malloc((size_t)d->n_qs * sizeof *r);
    for (int i = 0; i < d->n_qs; i++)
        if (head_runnable(d->qs[i])) r[n++] = d->qs[i];
    int rc = 0;
    if (n > 0) {
        queue *q = r[rng_next(d) % (uint64_t)n];
        rc = run_head(d, q, err) < 0 ? sticky(d, err) : 1;
    }
    if (r != ready) free(r);
    return rc;
}

static void deadlock(domain *d, const char *what, tgc_err *err) {
    char buf[1024];
    size_t len = 0;
    buf[0] = 0;
    for (int i = 0; i < d->n_qs && len + 200 < sizeof buf; i++) {
        const queue *q = d->qs[i];
        if (!q->head) continue;
        char name[300];
        op_name(q->head, name, sizeof name);
        len += (size_t)snprintf(buf + len, sizeof buf - len, "; %s%s%s waits", q->c->own_domain ? "" : q->c->label,
                                q->c->own_domain ? "" : " ", name);
    }
    tgc_fail(err, "standin: deadlock while waiting for %s: nothing can run%s", what, buf);
}

/* Runs until done(arg) holds. */
static int run_until(ctx *c, int (*done)(void *), void *arg, const char *what, tgc_err *err) {
    domain *d = c->d;
    while (!done(arg)) {
        int rc = step(d, err);
        if (rc < 0) return -1;
        if (rc == 0) {
            deadlock(d, what, err);
            return -1; /* not sticky: the program is stuck, not broken */
        }
    }
    return 0;
}

/* Lets up to `max` operations run (a random count; 0 more often than not, so queues fill up and the
 * scheduler's choices matter). */
static int run_some(ctx *c, int max, tgc_err *err) {
    uint64_t r = rng_next(c->d);
    int n = (r & 3) ? 0 : (int)((r >> 2) % (uint64_t)max) + 1;
    for (int i = 0; i < n; i++)
        if (step(c->d, err) < 0) return -1;
    return 0;
}

static int queue_empty(void *q) { return ((queue *)q)->head == NULL; }
static int inst_done(void *i) { return ((inst *)i)->done; }

static int ctx_idle(void *arg) {
    ctx *c = arg;
    for (int i = 0; i < c->d->n_qs; i++)
        if (c->d->qs[i]->c == c && c->d->qs[i]->head) return 0;
    return 1;
}

/* ---- the context ------------------------------------------------------------------------------------ */

tgc_standin_domain *tgc_standin_domain_new(uint64_t seed) {
    domain *d = tgc_calloc(1, sizeof *d);
    d->rng = seed * 0x9E3779B97F4A7C15ull + 1;
    return (tgc_standin_domain *)d;
}

void tgc_standin_domain_free(tgc_standin_domain *dd) {
    domain *d = (domain *)dd;
    if (!d) return;
    free(d->qs);
    free(d);
}

static void *si_open(const tgc_stream_opts *o, tgc_err *err) {
    ctx *c = tgc_calloc(1, sizeof *c);
    if (o && o->domain) {
        c->d = o->domain;
    } else {
        c->d = (domain *)tgc_standin_domain_new(o ? o->seed : 0);
        c->own_domain = 1;
    }
    c->label = tgc_strdup(nz(o ? o->label : NULL, "standin"));
    c->n_agents = 1; /* the host */
    c->hash = 1469598103934665603ull;
    (void)err;
    return c;
}

static void sstream_free(ctx *c, sstream *s) {
    queue_clear(&s->q);
    vc_join(&c->retired, &s->q.clock);
    unreg_queue(c->d, &s->q);
    vc_free(&s->q.clock);
    free(s->q.label);
    free(s->name);
    free(s);
}

static void capture_free(capture *cap);
static void reap_streams(ctx *c);

static void si_close(void *vc) {
    ctx *c = vc;
    if (!c) return;
    domain *d = c->d;
    tgc_err e;
    if (!d->failed && !d->in_user) run_until(c, ctx_idle, c, "close", &e); /* a failure was reported or is moot */
    for (int i = 0; i < c->n_streams; i++)
        if (c->streams[i]->cap && c->streams[i]->cap->origin == c->streams[i]) {
            capture *cap = c->streams[i]->cap;
            for (int k = 0; k < c->n_streams; k++)
                if (c->streams[k]->cap == cap) c->streams[k]->cap = NULL;
            capture_free(cap);
        }
    for (int i = 0; i < c->n_streams; i++) queue_clear(&c->streams[i]->q);
    for (int i = 0; i < c->n_execs; i++)
        for (int l = 0; l < c->execs[i]->n_lanes; l++) queue_clear(c->execs[i]->lanes[l]);
    for (int i = 0; i < c->n_streams; i++) sstream_free(c, c->streams[i]);
    free(c->streams);
    while (c->n_execs) gexec_free(c, c->execs[0]);
    free(c->execs);
    for (int i = 0; i < c->n_graphs; i++) graph_unref(c->graphs[i]);
    free(c->graphs);
    for (int i = 0; i < c->n_events; i++) {
        inst_unref(c->events[i]->last);
        free(c->events[i]->label);
        free(c->events[i]);
    }
    free(c->events);
    for (int i = 0; i < c->n_allocs; i++) {
        free(c->allocs[i].mem);
        free(c->allocs[i].label);
    }
    free(c->allocs);
    sh_free(&c->sh);
    vc_free(&c->host);
    vc_free(&c->retired);
    free(c->label);
    if (c->own_domain) tgc_standin_domain_free((tgc_standin_domain *)d);
    free(c);
}

static void si_describe(void *vc, char *buf, size_t size) {
    ctx *c = vc;
    snprintf(buf, size, "standin '%s' (CPU stand-in of the CUDA streams, race-checked)", c->label);
}

/* After every queue of c ran dry: the host is ordered after all of it. */
static void host_joins_all(ctx *c) {
    reap_streams(c);
    for (int i = 0; i < c->d->n_qs; i++)
        if (c->d->qs[i]->c == c) vc_join(&c->host, &c->d->qs[i]->clock);
    vc_join(&c->host, &c->retired);
}

static int si_sync(void *vc, tgc_err *err) {
    ctx *c = vc;
    ENTER(c, err, "sync", -1);
    if (c->n_captures) return tgc_fail(err, "standin: sync during a graph capture (CUDA: cudaErrorStreamCaptureUnsupported)");
    if (run_until(c, ctx_idle, c, "sync", err) < 0) return -1;
    host_joins_all(c);
    return 0;
}

static int si_poll(void *vc, tgc_err *err) {
    ctx *c = vc;
    ENTER(c, err, "poll", -1);
    return run_some(c, POLL_MAX, err);
}

/* ---- memory ---- */

static void *alloc_mem(ctx *c, uint64_t bytes, const char *label, int kind, tgc_err *err) {
    ENTER(c, err, kind == MEM_DEV ? "dev_alloc" : "host_alloc", NULL);
    if (c->n_captures) {
        tgc_fail(err, "standin: allocating '%s' during a graph capture (CUDA's global capture mode forbids it)",
                 nz(label, "?"));
        return NULL;
    }
    size_t align = kind == MEM_DEV ? DEV_ALIGN : HOST_ALIGN;
    size_t rounded = (size_t)((bytes + align - 1) / align * align);
    void *p = aligned_alloc(align, rounded ? rounded : align);
    if (!p) {
        tgc_fail(err, "standin: cannot allocate %" PRIu64 " bytes for '%s'", bytes, nz(label, "?"));
        return NULL;
    }
    memset(p, FILL_BYTE, rounded ? rounded : align);
    TGC_GROW(c->allocs, c->cap_allocs, c->n_allocs + 1);
    c->allocs[c->n_allocs++] = (alloc){(uint64_t)(uintptr_t)p, bytes ? bytes : 1, kind,
                                       tgc_strdup(nz(label, kind == MEM_DEV ? "device" : "pinned")), p};
    return p;
}

static void free_mem(ctx *c, void *p, int kind) {
    if (!p) return;
    domain *d = c->d;
    const char *fn = kind == MEM_DEV ? "dev_free" : "host_free";
    int i = 0;
    while (i < c->n_allocs && c->allocs[i].mem != p) i++;
    if (i == c->n_allocs) {
        fail_quietly(d, "standin: %s of memory this context did not allocate (or already freed)%s", fn, "");
        return;
    }
    if (d->in_user || c->n_captures) { /* kept until close: pending work may still use it */
        fail_quietly(d, "standin: %s %s (CUDA forbids it)", fn,
                     d->in_user ? "from inside a kernel body or host callback" : "during a graph capture");
        return;
    }
    if (!d->failed) { /* cudaFree waits for the device; so does this, then the host is ordered after it all */
        tgc_err e;
        if (run_until(c, ctx_idle, c, fn, &e) < 0) {
            sticky(d, &e); /* stuck work would touch freed memory: nothing may run any more */
        } else {
            host_joins_all(c);
        }
    }
    if (c->allocs[i].kind != kind)
        fail_quietly(d, "standin: %s of %s", fn, c->allocs[i].kind == MEM_DEV ? "device memory" : "pinned memory");
    sh_forget(&c->sh, c->allocs[i].base, c->allocs[i].base + c->allocs[i].bytes);
    free(c->allocs[i].mem);
    free(c->allocs[i].label);
    c->allocs[i] = c->allocs[--c->n_allocs];
}

static void *si_dev_alloc(void *vc, uint64_t bytes, const char *label, tgc_err *err) {
    return alloc_mem(vc, bytes, label, MEM_DEV, err);
}
static void si_dev_free(void *vc, void *p) { free_mem(vc, p, MEM_DEV); }
static void *si_host_alloc(void *vc, uint64_t bytes, const char *label, tgc_err *err) {
    return alloc_mem(vc, bytes, label, MEM_PINNED, err);
}
static void si_host_free(void *vc, void *p) { free_mem(vc, p, MEM_PINNED); }

/* ---- streams ---- */

static tgc_stream *si_stream_create(void *vc, const char *label, tgc_err *err) {
    ctx *c = vc;
    ENTER(c, err, "stream_create", NULL);
    sstream *s = tgc_calloc(1, sizeof *s);
    s->name = tgc_strdup(nz(label, "?"));
    queue_init(c, &s->q, tgc_asprintf("stream '%s'", s->name));
    TGC_GROW(c->streams, c->cap_streams, c->n_streams + 1);
    c->streams[c->n_streams++] = s;
    return (tgc_stream *)s;
}

static void si_stream_destroy(void *vc, tgc_stream *ts) {
    ctx *c = vc;
    sstream *s = (sstream *)ts;
    if (!s || destroy_inside_user(c, "stream_destroy")) return;
    s->destroyed = 1; /* its work still runs; it goes when its queue is empty */
    if (s->q.head || s->cap) return;
    for (int i = 0; i < c->n_streams; i++)
        if (c->streams[i] == s) c->streams[i] = c->streams[--c->n_streams];
    sstream_free(c, s);
}

/* Streams destroyed with work pending go once it has run. */
static void reap_streams(ctx *c) {
    for (int i = 0; i < c->n_streams;) {
        sstream *s = c->streams[i];
        if (s->destroyed && !s->q.head && !s->cap) {
            c->streams[i] = c->streams[--c->n_streams];
            sstream_free(c, s);
        } else {
            i++;
        }
    }
}

static int si_stream_sync(void *vc, tgc_stream *ts, tgc_err *err) {
    ctx *c = vc;
    sstream *s = (sstream *)ts;
    ENTER(c, err, "stream_sync", -1);
    if (s->cap)
        return tgc_fail(err, "standin: stream_sync on %s while it is capturing (CUDA: cudaErrorStreamCaptureUnsupported)",
                        s->q.label);
    if (run_until(c, queue_empty, &s->q, s->q.label, err) < 0) return -1;
    vc_join(&c->host, &s->q.clock);
    reap_streams(c);
    return 0;
}

static void *si_stream_native(void *vc, tgc_stream *s) { return NULL; }

/* ---- issuing ---- */

static node *node_new(nkind kind, char *label) {
    node *n = tgc_calloc(1, sizeof *n);
    n->kind = kind;
    n->label = label;
    n->cap_index = -1;
    return n;
}

static void graph_add(graph *g, int lane, node *n) {
    glane *l = &g->lanes[lane];
    TGC_GROW(l->nodes, l->cap, l->n + 1);
    l->nodes[l->n++] = n;
}

/* Issues node n (owned) to s: recorded into s's capture, or queued with the host's clock; then lets a few
 * operations run, as a GPU would have started on them. */
static int issue(ctx *c, sstream *s, node *n, inst *ins, tgc_err *err) {
    if (s->cap) {
        graph_add(s->cap->g, s->lane, n);
        inst_unref(ins);
    } else {
        op *o = tgc_calloc(1, sizeof *o);
        o->n = n;
        o->own = 1;
        o->seq = ++c->seq;
        o->ins = ins;
        o->has_issue = 1;
        vc_copy(&o->issue, &c->host);
        vc_tick(&c->host, 0);
        if (n->kind == N_GRAPH) n->gx->queued++;
        if (n->kind == N_ALLREDUCE) n->co->parts[n->rank] = o;
        queue_push(&s->q, o);
    }
    return run_some(c, EAGER_MAX, err);
}

static int si_memcpy_async(void *vc, void *dst, const void *src, uint64_t bytes, tgc_copy_kind kind, tgc_stream *ts,
                           tgc_err *err) {
    ctx *c = vc;
    ENTER(c, err, "memcpy_async", -1);
    static const char *const kinds[] = {"H2D", "D2H", "D2D"};
    if ((unsigned)kind > TGC_COPY_D2D) return tgc_fail(err, "standin: memcpy_async: unknown copy kind %d", (int)kind);
    tgc_mem_range r = {src, bytes}, w = {dst, bytes};
    char what[64];
    snprintf(what, sizeof what, "memcpy %s source", kinds[kind]);
    if (check_mem(c, &r, kind == TGC_COPY_H2D ? -1 : MEM_DEV, what, err) < 0) return -1;
    snprintf(what, sizeof what, "memcpy %s destination", kinds[kind]);
    if (check_mem(c, &w, kind == TGC_COPY_D2H ? -1 : MEM_DEV, what, err) < 0) return -1;
    uint64_t s0 = (uint64_t)(uintptr_t)src, d0 = (uint64_t)(uintptr_t)dst;
    if (bytes && s0 < d0 + bytes && d0 < s0 + bytes)
        return tgc_fail(err, "standin: memcpy %s: source and destination overlap", kinds[kind]);
    node *n = node_new(N_COPY, tgc_asprintf("memcpy %s", kinds[kind]));
    n->dst = dst;
    n->src = src;
    n->bytes = bytes;
    if (bytes) {
        n->reads = copy_ranges(&r, 1);
        n->writes = copy_ranges(&w, 1);
        n->n_reads = n->n_writes = 1;
    }
    return issue(c, (sstream *)ts, n, NULL, err);
}

static int si_memset_async(void *vc, void *dst, int value, uint64_t bytes, tgc_stream *ts, tgc_err *err) {
    ctx *c = vc;
    ENTER(c, err, "memset_async", -1);
    tgc_mem_range w = {dst, bytes};
    if (check_mem(c, &w, MEM_DEV, "memset destination", err) < 0) return -1;
    node *n = node_new(N_MEMSET, tgc_strdup("memset"));
    n->dst = dst;
    n->value = value;
    n->bytes = bytes;
    if (bytes) {
        n->writes = copy_ranges(&w, 1);
        n->n_writes = 1;
    }
    return issue(c, (sstream *)ts, n, NULL, err);
}

static int check_access(ctx *c, const tgc_mem_access *a, int want, const char *what, tgc_err *err) {
    if (!a) return 0;
    if (a->n_reads < 0 || a->n_writes < 0 || (a->n_reads && !a->reads) || (a->n_writes && !a->writes))
        return tgc_fail(err, "standin: %s: bad access declaration", what);
    for (int i = 0; i < a->n_reads; i++)
        if (check_mem(c, &a->reads[i], want, what, err) < 0) return tgc_err_prefix(err, "read range %d", i);
    for (int i = 0; i < a->n_writes; i++)
        if (check_mem(c, &a->writes[i], want, what, err) < 0) return tgc_err_prefix(err, "write range %d", i);
    return 0;
}

static void set_access(node *n, const tgc_mem_access *a) {
    if (!a) return;
    n->reads = copy_ranges(a->reads, a->n_reads);
    n->writes = copy_ranges(a->writes, a->n_writes);
    n->n_reads = a->n_reads;
    n->n_writes = a->n_writes;
}

static int si_launch(void *vc, const tgc_kernel *k, tgc_stream *ts, tgc_err *err) {
    ctx *c = vc;
    ENTER(c, err, "launch", -1);
    const char *name = nz(k->name, "?");
    if (!k->host_fn) return tgc_fail(err, "standin: kernel '%s' has no host body (tgc_kernel.host_fn)", name);
    char what[160];
    snprintf(what, sizeof what, "kernel '%s'", name);
    if (check_access(c, &k->access, -2, what, err) < 0) return -1;
    node *n = node_new(N_KERNEL, tgc_asprintf("kernel '%s'", name));
    n->kfn = k->host_fn;
    n->params = tgc_malloc(k->params_bytes ? k->params_bytes : 1);
    if (k->params_bytes) memcpy(n->params, k->params, k->params_bytes);
    set_access(n, &k->access);
    return issue(c, (sstream *)ts, n, NULL, err);
}

/* Library work is a kernel to the stand-in: its host body runs when the stream reaches it. */
static int si_lib_call(void *vc, const tgc_lib_work *w, tgc_stream *ts, tgc_err *err) {
    ctx *c = vc;
    ENTER(c, err, "lib_call", -1);
    const char *name = nz(w->name, "?");
    if (!w->host_fn) return tgc_fail(err, "standin: library work '%s' has no host body (tgc_lib_work.host_fn)", name);
    char what[160];
    snprintf(what, sizeof what, "library work '%s'", name);
    if (check_access(c, &w->access, -2, what, err) < 0) return -1;
    node *n = node_new(N_KERNEL, tgc_strdup(what));
    n->kfn = w->host_fn;
    n->params = tgc_malloc(w->params_bytes ? w->params_bytes : 1);
    if (w->params_bytes) memcpy(n->params, w->params, w->params_bytes);
    set_access(n, &w->access);
    return issue(c, (sstream *)ts, n, NULL, err);
}

static int si_host_func(void *vc, tgc_stream *ts, const char *label, tgc_host_fn fn, void *user,
                        const tgc_mem_access *a, tgc_err *err) {
    ctx *c = vc;
    ENTER(c, err, "host_func", -1);
    char what[160];
    snprintf(what, sizeof what, "host callback '%s'", nz(label, "?"));
    if (!fn) return tgc_fail(err, "standin: %s: no function", what);
    if (check_access(c, a, -1, what, err) < 0) return -1;
    node *n = node_new(N_HOSTFN, tgc_strdup(what));
    n->hfn = fn;
    n->user = user;
    set_access(n, a);
    return issue(c, (sstream *)ts, n, NULL, err);
}

/* ---- events ---- */

static tgc_event *si_event_create(void *vc, const char *label, int timing, tgc_err *err) {
    ctx *c = vc;
    ENTER(c, err, "event_create", NULL);
    sevent *e = tgc_calloc(1, sizeof *e);
    e->label = tgc_strdup(nz(label, "?"));
    e->timing = timing;
    TGC_GROW(c->events, c->cap_events, c->n_events + 1);
    c->events[c->n_events++] = e;
    return (tgc_event *)e;
}

static void si_event_destroy(void *vc, tgc_event *te) {
    ctx *c = vc;
    sevent *e = (sevent *)te;
    if (!e || destroy_inside_user(c, "event_destroy")) return;
    for (int i = 0; i < c->n_events; i++)
        if (c->events[i] == e) c->events[i] = c->events[--c->n_events];
    inst_unref(e->last); /* records still queued keep theirs */
    free(e->label);
    free(e);
}

static int si_event_record(void *vc, tgc_event *te, tgc_stream *ts, tgc_err *err) {
    ctx *c = vc;
    sevent *e = (sevent *)te;
    sstream *s = (sstream *)ts;
    ENTER(c, err, "event_record", -1);
    inst *i = tgc_calloc(1, sizeof *i);
    i->refs = 1;
    i->cap_index = -1;
    node *n = node_new(N_RECORD, tgc_asprintf("record of event '%s'", e->label));
    if (s->cap) {
        capture *cap = s->cap;
        i->cap = cap;
        i->cap_index = n->cap_index = cap->n_recs;
        TGC_GROW(cap->recs, cap->cap_recs, cap->n_recs + 1);
        cap->recs[cap->n_recs++] = inst_ref(i);
        cap->g->n_records = cap->n_recs;
    }
    inst_unref(e->last);
    e->last = inst_ref(i);
    return issue(c, s, n, i, err);
}

static int si_stream_wait_event(void *vc, tgc_stream *ts, tgc_event *te, tgc_err *err) {
    ctx *c = vc;
    sstream *s = (sstream *)ts;
    sevent *e = (sevent *)te;
    ENTER(c, err, "stream_wait_event", -1);
    inst *i = e->last;
    if (i && i->stale)
        return tgc_fail(err, "standin: %s waits on event '%s', last recorded in a graph capture that has ended",
                        s->q.label, e->label);
    if (i && i->cap) {
        capture *cap = i->cap;
        if (s->cap && s->cap != cap)
            return tgc_fail(err, "standin: %s, capturing graph '%s', waits on event '%s' recorded in capture '%s'",
                            s->q.label, s->cap->label, e->label, cap->label);
        if (!s->cap) { /* s joins the capture: a new lane */
            graph *g = cap->g;
            g->lanes = tgc_realloc(g->lanes, (size_t)(g->n_lanes + 1) * sizeof *g->lanes);
            g->lanes[g->n_lanes] = (glane){tgc_strdup(s->name), NULL, 0, 0};
            cap->streams = tgc_realloc(cap->streams, (size_t)(g->n_lanes + 1) * sizeof *cap->streams);
            cap->streams[g->n_lanes] = s;
            s->cap = cap;
            s->lane = g->n_lanes++;
        }
        node *n = node_new(N_WAIT, tgc_asprintf("wait for event '%s'", e->label));
        n->cap_index = i->cap_index;
        return issue(c, s, n, NULL, err);
    }
    if (s->cap)
        return tgc_fail(err, "standin: %s, capturing graph '%s', waits on event '%s' recorded outside the capture "
                        "(CUDA: cudaErrorStreamCaptureIsolation)", s->q.label, s->cap->label, e->label);
    node *n = node_new(N_WAIT, tgc_asprintf("wait for event '%s'", e->label));
    return issue(c, s, n, inst_ref(i), err);
}

static int check_event_host(sevent *e, const char *fn, tgc_err *err) {
    if (e->last && (e->last->cap || e->last->stale))
        return tgc_fail(err, "standin: %s on event '%s', recorded in a graph capture (CUDA: "
                        "cudaErrorStreamCaptureUnsupported / invalid)", fn, e->label);
    return 0;
}

static int si_event_query(void *vc, tgc_event *te, tgc_err *err) {
    ctx *c = vc;
    sevent *e = (sevent *)te;
    ENTER(c, err, "event_query", -1);
    if (check_event_host(e, "event_query", err) < 0) return -1;
    if (run_some(c, POLL_MAX, err) < 0) return -1;
    if (!e->last) return 1;
    if (!e->last->done) return 0;
    vc_join(&c->host, &e->last->clock);
    reap_streams(c);
    return 1;
}

static int si_event_sync(void *vc, tgc_event *te, tgc_err *err) {
    ctx *c = vc;
    sevent *e = (sevent *)te;
    ENTER(c, err, "event_sync", -1);
    if (check_event_host(e, "event_sync", err) < 0) return -1;
    if (!e->last) return 0;
    inst *i = inst_ref(e->last);
    char what[200];
    snprintf(what, sizeof what, "event '%s'", e->label);
    int rc = run_until(c, inst_done, i, what, err);
    if (rc == 0) vc_join(&c->host, &i->clock);
    inst_unref(i);
    reap_streams(c);
    return rc;
}

static int si_event_elapsed(void *vc, tgc_event *t0, tgc_event *t1, double *ms, tgc_err *err) {
    ctx *c = vc;
    sevent *a = (sevent *)t0, *b = (sevent *)t1;
    ENTER(c, err, "event_elapsed", -1);
    if (!a->timing || !b->timing)
        return tgc_fail(err, "standin: event_elapsed: event '%s' was created without timing",
                        a->timing ? b->label : a->label);
    if (!a->last || !b->last || !a->last->done || !b->last->done)
        return tgc_fail(err, "standin: event_elapsed: event '%s' has not completed",
                        !a->last || !a->last->done ? a->label : b->label);
    *ms = ((double)b->last->t - (double)a->last->t) * 1e-3; /* one virtual microsecond per operation */
    return 0;
}

/* ---- graphs ---- */

static void graph_unref(graph *g) {
    if (!g || --g->refs > 0) return;
    for (int l = 0; l < g->n_lanes; l++) {
        for (int i = 0; i < g->lanes[l].n; i++) node_free(g->lanes[l].nodes[i]);
        free(g->lanes[l].nodes);
        free(g->lanes[l].label);
    }
    free(g->lanes);
    free(g->label);
    free(g);
}

static void capture_free(capture *cap) {
    for (int k = 0; k < cap->n_recs; k++) {
        cap->recs[k]->cap = NULL;
        cap->recs[k]->stale = 1;
        inst_unref(cap->recs[k]);
    }
    free(cap->recs);
    free(cap->streams);
    graph_unref(cap->g);
    free(cap->label);
    free(cap);
}

static int si_capture_begin(void *vc, tgc_stream *ts, const char *label, tgc_err *err) {
    ctx *c = vc;
    sstream *s = (sstream *)ts;
    ENTER(c, err, "capture_begin", -1);
    if (s->cap) return tgc_fail(err, "standin: capture_begin on %s, already capturing '%s'", s->q.label, s->cap->label);
    capture *cap = tgc_calloc(1, sizeof *cap);
    cap->label = tgc_strdup(nz(label, "graph"));
    cap->origin = s;
    graph *g = tgc_calloc(1, sizeof *g);
    g->refs = 1;
    g->label = tgc_strdup(cap->label);
    g->lanes = tgc_calloc(1, sizeof *g->lanes);
    g->lanes[0].label = tgc_strdup(s->name);
    g->n_lanes = 1;
    cap->g = g;
    cap->streams = tgc_calloc(1, sizeof *cap->streams);
    cap->streams[0] = s;
    s->cap = cap;
    s->lane = 0;
    c->n_captures++;
    return 0;
}

static int is_work(const node *n) { return n->kind != N_RECORD && n->kind != N_WAIT; }

/* Whether every lane's last work reaches the origin's end through the event edges (CUDA's "joined"). Returns
 * the first lane that does not, or -1. */
static int unjoined_lane(const graph *g) {
    int nl = g->n_lanes;
    int *cov = tgc_malloc((size_t)nl * sizeof *cov);          /* per lane: the prefix [0, cov] precedes the end */
    int *rec_lane = tgc_malloc((size_t)(g->n_records + 1) * sizeof *rec_lane), *rec_pos = tgc_malloc((size_t)(g->n_records + 1) * sizeof *rec_pos);
    for (int l = 0; l < nl; l++) {
        cov[l] = -1;
        for (int i = 0; i < g->lanes[l].n; i++)
            if (g->lanes[l].nodes[i]->kind == N_RECORD) {
                rec_lane[g->lanes[l].nodes[i]->cap_index] = l;
                rec_pos[g->lanes[l].nodes[i]->cap_index] = i;
            }
    }
    cov[0] = g->lanes[0].n - 1;
    for (int changed = 1; changed;) {
        changed = 0;
        for (int l = 0; l < nl; l++)
            for (int i = 0; i <= cov[l]; i++) {
                const node *n = g->lanes[l].nodes[i];
                if (n->kind != N_WAIT) continue;
                int rl = rec_lane[n->cap_index], rp = rec_pos[n->cap_index];
                if (rp > cov[rl]) {
                    cov[rl] = rp;
                    changed = 1;
                }
            }
    }
    int bad = -1;
    for (int l = 1; l < nl && bad < 0; l++) {
        int last = -1;
        for (int i = 0; i < g->lanes[l].n; i++)
            if (is_work(g->lanes[l].nodes[i])) last = i;
        if (last > cov[l]) bad = l;
    }
    free(cov);
    free(rec_lane);
    free(rec_pos);
    return bad;
}

static tgc_graph *si_capture_end(void *vc, tgc_stream *ts, tgc_err *err) {
    ctx *c = vc;
    sstream *s = (sstream *)ts;
    ENTER(c, err, "capture_end", NULL);
    capture *cap = s->cap;
    if (!cap) {
        tgc_fail(err, "standin: capture_end on %s, which is not capturing", s->q.label);
        return NULL;
    }
    if (cap->origin != s) {
        tgc_fail(err, "standin: capture_end on %s, but capture '%s' was begun on %s", s->q.label, cap->label,
                 cap->origin->q.label);
        return NULL;
    }
    graph *g = cap->g;
    int bad = unjoined_lane(g);
    if (bad >= 0)
        tgc_fail(err, "standin: capture '%s': stream '%s' was not joined back: its last work is not followed by an "
                 "event record that stream '%s' waits on before capture_end (CUDA: cudaErrorStreamCaptureUnjoined)",
                 cap->label, g->lanes[bad].label, g->lanes[0].label);
    for (int l = 0; l < g->n_lanes; l++) cap->streams[l]->cap = NULL; /* CUDA ends the capture either way */
    c->n_captures--;
    if (bad < 0) {
        g->refs++;
        TGC_GROW(c->graphs, c->cap_graphs, c->n_graphs + 1);
        c->graphs[c->n_graphs++] = g;
    }
    capture_free(cap);
    reap_streams(c);
    return bad < 0 ? (tgc_graph *)g : NULL;
}

static tgc_graph_exec *si_graph_instantiate(void *vc, tgc_graph *tg, tgc_err *err) {
    ctx *c = vc;
    graph *g = (graph *)tg;
    ENTER(c, err, "graph_instantiate", NULL);
    gexec *x = tgc_calloc(1, sizeof *x);
    x->g = g;
    g->refs++;
    x->n_lanes = g->n_lanes;
    x->lanes = tgc_calloc((size_t)g->n_lanes, sizeof *x->lanes);
    for (int l = 0; l < g->n_lanes; l++) {
        x->lanes[l] = tgc_malloc(sizeof *x->lanes[l]);
        queue_init(c, x->lanes[l], tgc_asprintf("lane '%s' of graph '%s'", g->lanes[l].label, g->label));
    }
    TGC_GROW(c->execs, c->cap_execs, c->n_execs + 1);
    c->execs[c->n_execs++] = x;
    return (tgc_graph_exec *)x;
}

static void gexec_free(ctx *c, gexec *x) {
    for (int i = 0; i < c->n_execs; i++)
        if (c->execs[i] == x) {
            memmove(&c->execs[i], &c->execs[i + 1], (size_t)(c->n_execs - i - 1) * sizeof *c->execs);
            c->n_execs--;
            break;
        }
    for (int l = 0; l < x->n_lanes; l++) {
        queue_clear(x->lanes[l]);
        vc_join(&c->retired, &x->lanes[l]->clock);
        unreg_queue(c->d, x->lanes[l]);
        vc_free(&x->lanes[l]->clock);
        free(x->lanes[l]->label);
        free(x->lanes[l]);
    }
    free(x->lanes);
    graph_unref(x->g);
    free(x);
}

static int si_graph_launch(void *vc, tgc_graph_exec *tx, tgc_stream *ts, tgc_err *err) {
    ctx *c = vc;
    gexec *x = (gexec *)tx;
    sstream *s = (sstream *)ts;
    ENTER(c, err, "graph_launch", -1);
    if (s->cap)
        return tgc_fail(err, "standin: graph_launch of '%s' into capture '%s' (child graphs are not supported)",
                        x->g->label, s->cap->label);
    node *n = node_new(N_GRAPH, tgc_asprintf("launch of graph '%s'", x->g->label));
    n->gx = x;
    return issue(c, s, n, NULL, err);
}

static void si_graph_destroy(void *vc, tgc_graph *tg) {
    ctx *c = vc;
    graph *g = (graph *)tg;
    if (!g || destroy_inside_user(c, "graph_destroy")) return;
    for (int i = 0; i < c->n_graphs; i++)
        if (c->graphs[i] == g) {
            c->graphs[i] = c->graphs[--c->n_graphs];
            graph_unref(g);
            return;
        }
}

static void si_graph_exec_destroy(void *vc, tgc_graph_exec *tx) {
    ctx *c = vc;
    gexec *x = (gexec *)tx;
    if (!x || destroy_inside_user(c, "graph_exec_destroy")) return;
    x->destroyed = 1;
    if (x->queued == 0 && !x->running) gexec_free(c, x);
}

/* ---- the host's accesses ---- */

static int si_host_access(void *vc, const tgc_mem_access *a, const char *what, tgc_err *err) {
    ctx *c = vc;
    ENTER(c, err, "host_access", -1);
    char name[200];
    snprintf(name, sizeof name, "the host (%s)", nz(what, "host access"));
    if (check_access(c, a, -1, name, err) < 0) return -1;
    if (!a) return 0;
    vc_tick(&c->host, 0);
    tag *t = tag_new(name);
    epoch me = {0, vc_get(&c->host, 0), t};
    int rc = access_all(c, a->reads, a->n_reads, a->writes, a->n_writes, &me, &c->host, err);
    tag_unref(t);
    return rc < 0 ? sticky(c->d, err) : 0;
}

/* ---- the in-process communicator ---- */

tgc_standin_comm *tgc_standin_comm_new(void *const *ctxs, int world, tgc_err *err) {
    if (world < 1) {
        tgc_fail(err, "standin: a communicator needs at least one rank");
        return NULL;
    }
    for (int r = 1; r < world; r++)
        if (((ctx *)ctxs[r])->d != ((ctx *)ctxs[0])->d) {
            tgc_fail(err, "standin: ranks 0 and %d are not in one domain (tgc_stream_opts.domain)", r);
            return NULL;
        }
    tgc_standin_comm *cm = tgc_calloc(1, sizeof *cm);
    cm->world = world;
    cm->c = tgc_calloc((size_t)world, sizeof *cm->c);
    cm->issued = tgc_calloc((size_t)world, sizeof *cm->issued);
    for (int r = 0; r < world; r++) cm->c[r] = ctxs[r];
    return cm;
}

void tgc_standin_comm_free(tgc_standin_comm *cm) {
    if (!cm) return;
    while (cm->colls) {
        coll *n = cm->colls->next;
        for (int r = 0; r < cm->colls->n_parts; r++)
            if (cm->colls->parts[r]) cm->colls->parts[r]->n->co = NULL;
        free(cm->colls->parts);
        free(cm->colls);
        cm->colls = n;
    }
    free(cm->c);
    free(cm->issued);
    free(cm);
}

int tgc_standin_allreduce_f32(tgc_standin_comm *cm, int rank, float *buf, uint64_t count, int average,
                              tgc_stream *ts, tgc_err *err) {
    if (rank < 0 || rank >= cm->world) return tgc_fail(err, "standin: all-reduce by rank %d of %d", rank, cm->world);
    ctx *c = cm->c[rank];
    sstream *s = (sstream *)ts;
    ENTER(c, err, "all-reduce", -1);
    if (s->cap) return tgc_fail(err, "standin: all-reduce in a graph capture is not supported by the stand-in");
    tgc_mem_range r = {buf, count * sizeof(float)};
    if (check_mem(c, &r, MEM_DEV, "all-reduce buffer", err) < 0) return -1;
    int index = cm->issued[rank]++;
    coll *co = cm->colls, *last = NULL;
    while (co && co->index != index) last = co, co = co->next;
    if (!co) {
        co = tgc_calloc(1, sizeof *co);
        co->index = index;
        co->cm = cm;
        co->n_parts = cm->world;
        co->parts = tgc_calloc((size_t)cm->world, sizeof *co->parts);
        if (last) last->next = co;
        else cm->colls = co;
    }
    node *n = node_new(N_ALLREDUCE, tgc_asprintf("all-reduce #%d (rank %d)", index, rank));
    n->co = co;
    n->rank = rank;
    n->average = average;
    n->dst = buf;
    n->bytes = r.bytes;
    if (r.bytes) {
        n->reads = copy_ranges(&r, 1);
        n->writes = copy_ranges(&r, 1);
        n->n_reads = n->n_writes = 1;
    }
    return issue(c, s, n, NULL, err);
}

void tgc_standin_get_stats(void *vc, tgc_standin_stats *st) {
    ctx *c = vc;
    st->ops_run = c->ops_run;
    st->trace_hash = c->hash;
    st->max_segments = (uint64_t)c->sh.max_n;
}

const tgc_stream_api tgc_standin_stream_api = {
    .name = "standin",
    .open = si_open,
    .close = si_close,
    .describe = si_describe,
    .sync = si_sync,
    .poll = si_poll,
    .dev_alloc = si_dev_alloc,
    .dev_free = si_dev_free,
    .host_alloc = si_host_alloc,
    .host_free = si_host_free,
    .stream_create = si_stream_create,
    .stream_destroy = si_stream_destroy,
    .stream_sync = si_stream_sync,
    .stream_native = si_stream_native,
    .event_create = si_event_create,
    .event_destroy = si_event_destroy,
    .event_record = si_event_record,
    .stream_wait_event = si_stream_wait_event,
    .event_query = si_event_query,
    .event_sync = si_event_sync,
    .event_elapsed = si_event_elapsed,
    .memcpy_async = si_memcpy_async,
    .memset_async = si_memset_async,
    .launch = si_launch,
    .lib_call = si_lib_call,
    .host_func = si_host_func,
    .capture_begin = si_capture_begin,
    .capture_end = si_capture_end,
    .graph_instantiate = si_graph_instantiate,
    .graph_launch = si_graph_launch,
    .graph_destroy = si_graph_destroy,
    .graph_exec_destroy = si_graph_exec_destroy,
    .host_access = si_host_access,
};
