/* backend/cpu/cpu_cache.c - the primitive cache: keys, building oneDNN primitives with their argument
 * memories and layout reorders, and running them. */
#include <stdlib.h>
#include <string.h>

#include "backend/cpu/cpu_internal.h"

void cpu_key_init(cpu_key *k, tgc_opcode code, int variant) {
    k->n = 0;
    cpu_key_add(k, (int64_t)code);
    cpu_key_add(k, variant);
}

/* Keys are built by the kernels from a bounded number of fields; overflowing CPU_KEY_MAX would be a
 * programming error, so the excess is folded into the last slot rather than written out of bounds. */
void cpu_key_add(cpu_key *k, int64_t x) {
    if (k->n < CPU_KEY_MAX)
        k->v[k->n++] = x;
    else
        k->v[CPU_KEY_MAX - 1] = k->v[CPU_KEY_MAX - 1] * 1000003 + x;
}

void cpu_key_addf(cpu_key *k, double x) {
    int64_t bits;
    memcpy(&bits, &x, sizeof bits);
    cpu_key_add(k, bits);
}

void cpu_key_type(cpu_key *k, const tgc_type *t) {
    cpu_key_add(k, t->dtype);
    cpu_key_add(k, t->shape.rank);
    for (int i = 0; i < t->shape.rank && i < TGC_MAX_RANK; i++) cpu_key_add(k, t->shape.d[i]);
    cpu_key_add(k, t->layout); /* a primitive's memory descriptors depend on it */
}

static uint64_t key_hash(const cpu_key *k) {
    uint64_t h = 1469598103934665603ull; /* FNV-1a over the words */
    for (int i = 0; i < k->n; i++) {
        h ^= (uint64_t)k->v[i];
        h *= 1099511628211ull;
    }
    return h;
}

cpu_prim *cpu_cache_find(tgc_cpu *c, const cpu_key *key) {
    uint64_t h = key_hash(key);
    for (int i = 0; i < c->n_cache; i++) {
        cpu_prim *p = c->cache[i];
        if (p->hash == h && p->key.n == key->n && memcmp(p->key.v, key->v, sizeof(int64_t) * key->n) == 0)
            return p;
    }
    return NULL;
}

const char *cpu_dnnl_status(dnnl_status_t s) {
    switch (s) {
    case dnnl_success: return "success";
    case dnnl_out_of_memory: return "out of memory";
    case dnnl_invalid_arguments: return "invalid arguments";
    case dnnl_unimplemented: return "unimplemented (no oneDNN implementation for these shapes/types)";
    case dnnl_iterator_ends: return "iterator ends";
    case dnnl_runtime_error: return "runtime error";
    case dnnl_not_required: return "not required";
    default: return "unknown status";
    }
}

int cpu_pd_create(tgc_cpu *c, dnnl_primitive_desc_t *pd, const void *op_desc, const_dnnl_primitive_desc_t hint,
                  const char *what, tgc_err *err) {
    dnnl_status_t s = dnnl_primitive_desc_create(pd, op_desc, NULL, c->eng, hint);
    if (s != dnnl_success) {
        *pd = NULL;
        return tgc_fail(err, "cpu backend: %s: oneDNN primitive descriptor: %s", what, cpu_dnnl_status(s));
    }
    return 0;
}

int cpu_md_plain(dnnl_memory_desc_t *md, const tgc_shape *s, dnnl_data_type_t dt, tgc_err *err) {
    static const dnnl_format_tag_t tags[] = {dnnl_a, dnnl_a, dnnl_ab, dnnl_abc, dnnl_abcd, dnnl_abcde,
                                             dnnl_abcdef};
    dnnl_dims_t dims;
    int rank = s->rank;
    if (rank < 1 || rank > 6) return tgc_fail(err, "cpu backend: rank %d tensor has no oneDNN layout", rank);
    for (int i = 0; i < rank; i++) dims[i] = s->d[i];
    dnnl_status_t st = dnnl_memory_desc_init_by_tag(md, rank, dims, dt, tags[rank]);
    if (st != dnnl_success) return tgc_fail(err, "cpu backend: memory descriptor: %s", cpu_dnnl_status(st));
    return 0;
}

int cpu_md_of(dnnl_memory_desc_t *md, const tgc_type *t, dnnl_data_type_t dt, tgc_err *err) {
    if (!cpu_nhwc(t)) return cpu_md_plain(md, &t->shape, dt, err);
    dnnl_dims_t dims = {t->shape.d[0], t->shape.d[1], t->shape.d[2], t->shape.d[3]};
    dnnl_status_t st = dnnl_memory_desc_init_by_tag(md, 4, dims, dt, dnnl_acdb); /* nhwc */
    if (st != dnnl_success) return tgc_fail(err, "cpu backend: nhwc memory descriptor: %s", cpu_dnnl_status(st));
    return 0;
}

void cpu_axis_split(const tgc_type *t, int axis, int64_t *outer, int64_t *ch, int64_t *inner) {
    /* physical position of each logical dim: NHWC stores logical dims 0,2,3,1 */
    static const int nhwc_dims[4] = {0, 2, 3, 1};
    int rank = t->shape.rank, nhwc = cpu_nhwc(t), pos = nhwc ? (axis == 1 ? 3 : axis == 0 ? 0 : axis - 1) : axis;
    *outer = *inner = 1;
    *ch = t->shape.d[axis];
    for (int p = 0; p < rank; p++) {
        int64_t d = t->shape.d[nhwc ? nhwc_dims[p] : p];
        if (p < pos) *outer *= d;
        else if (p > pos) *inner *= d;
    }
}

static void prim_free(cpu_prim *p) {
    if (!p) return;
    for (int i = 0; i < p->n_args; i++) {
        cpu_arg *a = &p->args[i];
        if (a->reorder) dnnl_primitive_destroy(a->reorder);
        if (a->inner) dnnl_memory_destroy(a->inner);
        if (a->user) dnnl_memory_destroy(a->user);
    }
    if (p->prim) dnnl_primitive_destroy(p->prim);
    free(p);
}

void cpu_cache_clear(tgc_cpu *c) {
    for (int i = 0; i < c->n_cache; i++) prim_free(c->cache[i]);
    free(c->cache);
    c->cache = NULL;
    c->n_cache = c->cap_cache = 0;
}

/* A reorder primitive from -> to (both memory descriptors on the CPU engine). */
static int make_reorder(tgc_cpu *c, const dnnl_memory_desc_t *from, const dnnl_memory_desc_t *to,
                        dnnl_primitive_t *out, const char *what, tgc_err *err) {
    dnnl_primitive_desc_t rpd = NULL;
    dnnl_status_t s = dnnl_reorder_primitive_desc_create(&rpd, from, c->eng, to, c->eng, NULL);
    if (s == dnnl_success) {
        s = dnnl_primitive_create(out, rpd);
        dnnl_primitive_desc_destroy(rpd);
    }
    if (s != dnnl_success) return tgc_fail(err, "cpu backend: %s: oneDNN reorder: %s", what, cpu_dnnl_status(s));
    return 0;
}

cpu_prim *cpu_prim_build(tgc_cpu *c, const cpu_key *key, dnnl_primitive_desc_t pd, const cpu_argspec *spec,
                         int n, const char *what, tgc_err *err) {
    cpu_prim *p = tgc_calloc(1, sizeof *p);
    p->key = *key;
    p->hash = key_hash(key);
    dnnl_status_t s = dnnl_success;
    if (n > CPU_MAX_ARGS) {
        tgc_fail(err, "cpu backend: %s: too many primitive arguments", what);
        goto fail;
    }
    for (int i = 0; i < n; i++) {
        cpu_arg *a = &p->args[i];
        p->n_args = i + 1;
        a->arg = spec[i].arg;
        a->slot = spec[i].user_md ? spec[i].slot : -1;
        a->is_out = spec[i].is_out;
        const dnnl_memory_desc_t *want = dnnl_primitive_desc_query_md(pd, dnnl_query_exec_arg_md, a->arg);
        if (!want) {
            tgc_fail(err, "cpu backend: %s: oneDNN primitive has no argument %d", what, a->arg);
            goto fail;
        }
        if (spec[i].user_md) {
            s = dnnl_memory_create(&a->user, spec[i].user_md, c->eng, DNNL_MEMORY_NONE);
            if (s != dnnl_success) goto dnnl_fail;
            if (dnnl_memory_desc_equal(want, spec[i].user_md)) continue;
            /* The primitive chose another layout (blocked formats): keep a buffer in its layout. */
            if (a->is_out ? make_reorder(c, want, spec[i].user_md, &a->reorder, what, err)
                          : make_reorder(c, spec[i].user_md, want, &a->reorder, what, err))
                goto fail;
        }
        /* No memory of its own: cpu_prim_run points it into the shared scratch. */
        s = dnnl_memory_create(&a->inner, want, c->eng, DNNL_MEMORY_NONE);
        if (s != dnnl_success) goto dnnl_fail;
        a->inner_offset = p->scratch_bytes;
        p->scratch_bytes += (dnnl_memory_desc_get_size(want) + 63) / 64 * 64;
    }
    s = dnnl_primitive_create(&p->prim, pd);
    if (s != dnnl_success) goto dnnl_fail;
    dnnl_primitive_desc_destroy(pd);
    TGC_GROW(c->cache, c->cap_cache, c->n_cache + 1);
    c->cache[c->n_cache++] = p;
    return p;
dnnl_fail:
    tgc_fail(err, "cpu backend: %s: oneDNN: %s", what, cpu_dnnl_status(s));
fail:
    dnnl_primitive_desc_destroy(pd);
    prim_free(p);
    return NULL;
}

static int exec_reorder(tgc_cpu *c, cpu_arg *a, const char *what, tgc_err *err) {
    dnnl_exec_arg_t args[2] = {{DNNL_ARG_FROM, a->is_out ? a->inner : a->user},
                               {DNNL_ARG_TO, a->is_out ? a->user : a->inner}};
    dnnl_status_t s = dnnl_primitive_execute(a->reorder, c->strm, 2, args);
    if (s != dnnl_success) return tgc_fail(err, "cpu backend: %s: reorder: %s", what, cpu_dnnl_status(s));
    return 0;
}

/* Grows the shared scratch to hold n bytes (its old contents are not kept: nothing lives there between
 * primitive runs). */
static int scratch_reserve(tgc_cpu *c, size_t n, const char *what, tgc_err *err) {
    if (n <= c->scratch_cap) return 0;
    free(c->scratch);
    c->scratch = aligned_alloc(64, n);
    c->scratch_cap = c->scratch ? n : 0;
    if (!c->scratch) return tgc_fail(err, "cpu backend: %s: cannot allocate %zu bytes of scratch", what, n);
    return 0;
}

int cpu_prim_run(tgc_cpu *c, cpu_prim *p, void *const *ptrs, const char *what, tgc_err *err) {
    dnnl_exec_arg_t args[CPU_MAX_ARGS];
    dnnl_status_t s;
    if (scratch_reserve(c, p->scratch_bytes, what, err) < 0) return -1;
    for (int i = 0; i < p->n_args; i++) {
        cpu_arg *a = &p->args[i];
        if (a->inner) {
            s = dnnl_memory_set_data_handle(a->inner, (char *)c->scratch + a->inner_offset);
            if (s != dnnl_success) return tgc_fail(err, "cpu backend: %s: %s", what, cpu_dnnl_status(s));
        }
        if (a->user) {
            s = dnnl_memory_set_data_handle(a->user, ptrs[a->slot]);
            if (s != dnnl_success) return tgc_fail(err, "cpu backend: %s: %s", what, cpu_dnnl_status(s));
        }
        if (a->reorder && !a->is_out && exec_reorder(c, a, what, err)) return -1;
        args[i].arg = a->arg;
        args[i].memory = a->inner ? a->inner : a->user;
    }
    s = dnnl_primitive_execute(p->prim, c->strm, p->n_args, args);
    if (s != dnnl_success) return tgc_fail(err, "cpu backend: %s: oneDNN execute: %s", what, cpu_dnnl_status(s));
    for (int i = 0; i < p->n_args; i++)
        if (p->args[i].reorder && p->args[i].is_out && exec_reorder(c, &p->args[i], what, err)) return -1;
    s = dnnl_stream_wait(c->strm);
    if (s != dnnl_success) return tgc_fail(err, "cpu backend: %s: stream wait: %s", what, cpu_dnnl_status(s));
    return 0;
}

void *cpu_prim_inner(cpu_prim *p, int arg) {
    for (int i = 0; i < p->n_args; i++)
        if (p->args[i].arg == arg && p->args[i].inner) {
            void *h = NULL;
            dnnl_memory_get_data_handle(p->args[i].inner, &h);
            return h;
        }
    return NULL;
}
