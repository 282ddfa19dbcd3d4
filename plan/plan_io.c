/* plan/plan_io.c - plan.bin writer and reader (layout in plan/plan.h).
 *
 * Sections (kind ids in the section table): 1 META, 2 CONFIG, 3 TENSORS, 4 PROGRAM (one per program, in
 * order), 5 KERNELS. Each section body is read with the bounds-checked tgc_reader and must be consumed
 * exactly; every count is checked against the bytes left before anything is allocated, so a hostile file
 * can neither read out of bounds nor make the reader allocate more than a small multiple of its size.
 *
 *   META     u32 n, n x {str key, u8 type (1 i64, 2 f64, 3 str), value}; required: target (str),
 *            target.alignment, target.workspace_bytes, target.fuse (i64), layout (str: row, nhwc), params, macs_per_sample,
 *            flops_per_sample, optim.kind, slab.*; optional: ignored (str, the settings accepted but not
 *            implemented, one per line), optim.max_grad_norm/always_adapt/trust_clip (Lamb), optim.clip
 *            (1 norm, 2 value)/clip_max/clip_norm_type, optim.accumulative_counts (f64 all); unknown keys
 *            are skipped
 *   CONFIG   tgc_cfg_serialize bytes (empty: no config)
 *   TENSORS  u32 n, n x {str name, u8 kind, u8 dtype, u8 layout, u8 slab, u8 rank, i64 dims[rank], u64 offset,
 *            u64 bytes, u8 init kind, f64 a, b, lo, hi, str desc, i32 grad_of, f64 lr_mult, decay_mult}
 *   PROGRAM  str name, i64 batch, u64 arena, lower bound, naive, u32 n_instr, n_instr x {u16 op, u8 n_in,
 *            u8 n_out, i32 in[n_in], i32 out[n_out], the attributes the op's row names (in bit order),
 *            str scope, i32 group}, u32 n + i32 outputs[n], u32 n + i32 inputs[n],
 *            u32 n_buckets x {u32 n, i32 tensors[n], u64 offset, u64 bytes, i32 ready_instr}
 *   KERNELS  u32 n (0 so far)
 */
#include <stdarg.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "plan/plan.h"

enum { SEC_META = 1, SEC_CONFIG = 2, SEC_TENSORS = 3, SEC_PROGRAM = 4, SEC_KERNELS = 5 };
enum { KV_I64 = 1, KV_F64 = 2, KV_STR = 3 };

#define HEADER_BYTES 64u
#define SECTION_ENTRY_BYTES 24u
#define MAX_SECTIONS 64u
#define MAX_PROGRAMS 16
#define CRC_OFFSET 24u
#define MAX_PLAN_FILE ((size_t)1 << 32) /* 4 GiB: far above any real plan */

/* Stable slab keys for META (independent of tgc_slab_name's wording). */
static const char *const slab_keys[TGC_SLAB_COUNT] = {
    [TGC_SLAB_ARENA] = "slab.arena", [TGC_SLAB_INPUT] = "slab.input",   [TGC_SLAB_PARAM] = "slab.param",
    [TGC_SLAB_BUFFER] = "slab.buffer", [TGC_SLAB_GRAD] = "slab.grad", [TGC_SLAB_OPTSTATE] = "slab.optstate",
};

/* ---- writing ----------------------------------------------------------------------------------- */
static void kv_i64(tgc_buf *b, uint32_t *n, const char *k, int64_t v) {
    ++*n;
    tgc_buf_str(b, k);
    tgc_buf_u8(b, KV_I64);
    tgc_buf_i64(b, v);
}
static void kv_f64(tgc_buf *b, uint32_t *n, const char *k, double v) {
    ++*n;
    tgc_buf_str(b, k);
    tgc_buf_u8(b, KV_F64);
    tgc_buf_f64(b, v);
}
static void kv_str(tgc_buf *b, uint32_t *n, const char *k, const char *v) {
    ++*n;
    tgc_buf_str(b, k);
    tgc_buf_u8(b, KV_STR);
    tgc_buf_str(b, v);
}

static void write_meta(const tgc_plan *p, tgc_buf *b) {
    size_t at = b->len;
    uint32_t n = 0;
    tgc_buf_u32(b, 0); /* the count, patched below */
    kv_str(b, &n, "compiler.version", TGC_VERSION);
    kv_str(b, &n, "target", p->target.name);
    kv_i64(b, &n, "target.alignment", (int64_t)p->target.alignment);
    kv_i64(b, &n, "target.workspace_bytes", (int64_t)p->target.workspace_bytes);
    kv_i64(b, &n, "target.fuse", (int64_t)p->target.fuse);
    kv_str(b, &n, "layout", tgc_layout_name(p->layout));
    kv_i64(b, &n, "params", p->params);
    kv_f64(b, &n, "macs_per_sample", p->macs_per_sample);
    kv_f64(b, &n, "flops_per_sample", p->flops_per_sample);
    for (int s = TGC_SLAB_ARENA; s < TGC_SLAB_COUNT; s++) kv_i64(b, &n, slab_keys[s], (int64_t)p->slab_bytes[s]);
    kv_str(b, &n, "optim.kind", tgc_optim_kind_name(p->optim.kind) ? tgc_optim_kind_name(p->optim.kind) : "sgd");
    kv_f64(b, &n, "optim.lr", p->optim.lr);
    kv_f64(b, &n, "optim.momentum", p->optim.momentum);
    kv_f64(b, &n, "optim.dampening", p->optim.dampening);
    kv_i64(b, &n, "optim.nesterov", p->optim.nesterov);
    kv_f64(b, &n, "optim.weight_decay", p->optim.weight_decay);
    kv_f64(b, &n, "optim.beta1", p->optim.beta1);
    kv_f64(b, &n, "optim.beta2", p->optim.beta2);
    kv_f64(b, &n, "optim.eps", p->optim.eps);
    if (p->optim.kind == TGC_OPTIM_LAMB) {
        kv_f64(b, &n, "optim.max_grad_norm", p->optim.max_grad_norm);
        kv_f64(b, &n, "optim.always_adapt", p->optim.always_adapt);
        kv_f64(b, &n, "optim.trust_clip", p->optim.trust_clip);
    }
    if (p->optim.clip != TGC_CLIP_NONE) {
        kv_f64(b, &n, "optim.clip", p->optim.clip);
        kv_f64(b, &n, "optim.clip_max", p->optim.clip_max);
        kv_f64(b, &n, "optim.clip_norm_type", p->optim.clip_norm_type);
    }
    if (p->optim.accumulative_counts > 1) kv_f64(b, &n, "optim.accumulative_counts", p->optim.accumulative_counts);
    if (p->ignored && p->ignored[0]) kv_str(b, &n, "ignored", p->ignored);
    kv_str(b, &n, "amp.dtype", tgc_dtype_name(p->amp.dtype));
    kv_i64(b, &n, "amp.dynamic", p->amp.dynamic);
    kv_f64(b, &n, "amp.init_scale", p->amp.init_scale);
    kv_i64(b, &n, "amp.growth_interval", p->amp.growth_interval);
    kv_i64(b, &n, "amp.fp32_arena_bytes", (int64_t)p->amp.fp32_arena_bytes);
    for (int i = 0; i < 4; i++) b->data[at + (size_t)i] = (uint8_t)(n >> (8 * i));
}

static void write_shape(tgc_buf *b, const tgc_shape *s) {
    int rank = s->rank < 0 ? 0 : s->rank > TGC_MAX_RANK ? TGC_MAX_RANK : s->rank;
    tgc_buf_u8(b, (uint8_t)rank);
    for (int i = 0; i < rank; i++) tgc_buf_i64(b, s->d[i]);
}

static void write_tensors(const tgc_plan *p, tgc_buf *b) {
    tgc_buf_u32(b, (uint32_t)p->n_tensors);
    for (int i = 0; i < p->n_tensors; i++) {
        const tgc_plan_tensor *t = &p->tensors[i];
        tgc_buf_str(b, t->name ? t->name : "");
        tgc_buf_u8(b, (uint8_t)t->kind);
        tgc_buf_u8(b, (uint8_t)t->type.dtype);
        tgc_buf_u8(b, (uint8_t)t->type.layout);
        tgc_buf_u8(b, (uint8_t)t->slab);
        write_shape(b, &t->type.shape);
        tgc_buf_u64(b, t->offset);
        tgc_buf_u64(b, t->bytes);
        tgc_buf_u8(b, (uint8_t)t->init.kind);
        tgc_buf_f64(b, t->init.a);
        tgc_buf_f64(b, t->init.b);
        tgc_buf_f64(b, t->init.lo);
        tgc_buf_f64(b, t->init.hi);
        tgc_buf_str(b, t->init.desc);
        tgc_buf_u32(b, (uint32_t)t->grad_of);
        tgc_buf_f64(b, t->lr_mult);
        tgc_buf_f64(b, t->decay_mult);
    }
}

/* The attributes the op's row names, in the row order of ir/attrs.def: what the op reads is exactly what
 * is stored. By kind: BOOL u8, I64 i64, I64V n x i64, F64 f64, F64V n x f64, SHAPE u8 rank + dims, DTYPE u8. */
#define ATTR_WRITE_BOOL(b, v, n) tgc_buf_u8(b, (uint8_t)(v))
#define ATTR_WRITE_I64(b, v, n) tgc_buf_i64(b, (v))
#define ATTR_WRITE_I64V(b, v, n) for (int i_ = 0; i_ < (n); i_++) tgc_buf_i64(b, (v)[i_])
#define ATTR_WRITE_F64(b, v, n) tgc_buf_f64(b, (v))
#define ATTR_WRITE_F64V(b, v, n) for (int i_ = 0; i_ < (n); i_++) tgc_buf_f64(b, (v)[i_])
#define ATTR_WRITE_SHAPE(b, v, n) write_shape(b, &(v))
#define ATTR_WRITE_DTYPE(b, v, n) tgc_buf_u8(b, (uint8_t)(v))

static void write_attrs(tgc_buf *b, uint32_t bits, const tgc_attrs *a) {
#define TGC_ATTR(name, kind, n, bit, def, fmt)                                                          \
    if (bits & (bit)) ATTR_WRITE_##kind(b, a->name, n);
#include "ir/attrs.def"
#undef TGC_ATTR
}

static void write_ints(tgc_buf *b, int n, const int *v) {
    tgc_buf_u32(b, (uint32_t)n);
    for (int i = 0; i < n; i++) tgc_buf_u32(b, (uint32_t)v[i]);
}

static void write_program(const tgc_program *pr, tgc_buf *b) {
    tgc_buf_str(b, pr->name ? pr->name : "");
    tgc_buf_i64(b, pr->batch);
    tgc_buf_u64(b, pr->mem.arena_bytes);
    tgc_buf_u64(b, pr->mem.lower_bound_bytes);
    tgc_buf_u64(b, pr->mem.naive_bytes);
    tgc_buf_u32(b, (uint32_t)pr->n_instr);
    for (int k = 0; k < pr->n_instr; k++) {
        const tgc_instr *in = &pr->instr[k];
        tgc_buf_u16(b, (uint16_t)in->code);
        tgc_buf_u8(b, (uint8_t)in->n_in);
        tgc_buf_u8(b, (uint8_t)in->n_out);
        for (int j = 0; j < in->n_in; j++) tgc_buf_u32(b, (uint32_t)in->in[j]);
        for (int j = 0; j < in->n_out; j++) tgc_buf_u32(b, (uint32_t)in->out[j]);
        write_attrs(b, (unsigned)in->code < TGC_OP_COUNT ? tgc_op_table[in->code].attrs : 0, &in->attrs);
        tgc_buf_str(b, in->scope);
        tgc_buf_u32(b, (uint32_t)in->group);
    }
    write_ints(b, pr->n_outputs, pr->outputs);
    write_ints(b, pr->n_inputs, pr->inputs);
    tgc_buf_u32(b, (uint32_t)pr->n_buckets);
    for (int i = 0; i < pr->n_buckets; i++) {
        const tgc_plan_bucket *bk = &pr->buckets[i];
        write_ints(b, bk->n, bk->tensors);
        tgc_buf_u64(b, bk->offset);
        tgc_buf_u64(b, bk->bytes);
        tgc_buf_u32(b, (uint32_t)bk->ready_instr);
    }
}

static void put_u32_at(uint8_t *p, uint32_t v) {
    for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}
static void put_u64_at(uint8_t *p, uint64_t v) {
    for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i));
}

int tgc_plan_serialize(const tgc_plan *p, tgc_buf *out, tgc_err *err) {
    if (p->n_programs < 1 || p->n_programs > MAX_PROGRAMS)
        return tgc_fail(err, "plan: %d programs (1 to %d are supported)", p->n_programs, MAX_PROGRAMS);
    uint32_t n_sec = 4u + (uint32_t)p->n_programs;
    tgc_buf b = {0};
    static const uint8_t zeros[HEADER_BYTES];
    tgc_buf_put(&b, zeros, HEADER_BYTES);
    for (uint32_t i = 0; i < n_sec; i++) tgc_buf_put(&b, zeros, SECTION_ENTRY_BYTES);
    for (uint32_t i = 0; i < n_sec; i++) {
        tgc_buf_align(&b, 64);
        size_t start = b.len;
        uint32_t kind;
        if (i == 0) kind = SEC_META, write_meta(p, &b);
        else if (i == 1) {
            kind = SEC_CONFIG;
            if (p->config) tgc_cfg_serialize(p->config, &b);
        } else if (i == 2) kind = SEC_TENSORS, write_tensors(p, &b);
        else if (i < n_sec - 1) kind = SEC_PROGRAM, write_program(&p->programs[i - 3], &b);
        else kind = SEC_KERNELS, tgc_buf_u32(&b, 0);
        uint8_t *e = b.data + HEADER_BYTES + i * SECTION_ENTRY_BYTES;
        put_u32_at(e, kind);
        put_u32_at(e + 4, 0);
        put_u64_at(e + 8, start);
        put_u64_at(e + 16, b.len - start);
    }
    memcpy(b.data, TGC_PLAN_MAGIC, 8); /* "TGCPLAN" and its terminator */
    put_u32_at(b.data + 8, TGC_PLAN_VERSION);
    put_u32_at(b.data + 12, n_sec);
    put_u64_at(b.data + 16, b.len);
    put_u32_at(b.data + 28, 0); /* flags */
    put_u32_at(b.data + CRC_OFFSET, tgc_crc32(0, b.data, b.len));
    tgc_buf_put(out, b.data, b.len);
    tgc_buf_free(&b);
    return 0;
}

int tgc_plan_save(const tgc_plan *p, const char *path, tgc_err *err) {
    tgc_buf b = {0};
    if (tgc_plan_serialize(p, &b, err) < 0) return -1;
    int rc = tgc_write_file_atomic(path, b.data, b.len, err);
    tgc_buf_free(&b);
    return rc;
}

/* ---- reading ----------------------------------------------------------------------------------- */
typedef struct rd {
    tgc_reader r;
    const char *what; /* "section TENSORS" etc., for messages */
    const char *file;
    tgc_err *err;
    int n_tensors; /* for index checks (programs are read after the tensor table) */
} rd;

static int bad(rd *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int bad(rd *d, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    char *msg = tgc_vasprintf(fmt, ap);
    va_end(ap);
    tgc_fail(d->err, "%s: corrupted plan: %s: %s", d->file, d->what, msg);
    free(msg);
    return -1;
}

/* A count read from the file, refused unless that many items of at least min_bytes each could fit. */
static int rd_count(rd *d, size_t min_bytes, const char *what, int *out) {
    uint32_t n = tgc_rd_u32(&d->r);
    if (d->r.failed) return bad(d, "truncated before the %s count", what);
    size_t left = d->r.len - d->r.pos;
    if (n > INT32_MAX / 2 || (min_bytes && (size_t)n > left / min_bytes))
        return bad(d, "%u %s do not fit in the %zu bytes left", n, what, left);
    *out = (int)n;
    return 0;
}

static int rd_index(rd *d, int allow_minus1, int limit, const char *what, int *out) {
    uint32_t u = tgc_rd_u32(&d->r);
    if (d->r.failed) return bad(d, "truncated in %s", what);
    int32_t v = (int32_t)u;
    if ((v == -1 && allow_minus1) || (v >= 0 && v < limit)) {
        *out = v;
        return 0;
    }
    return bad(d, "%s index %d is out of range [0, %d)", what, v, limit);
}

static int rd_shape(rd *d, tgc_shape *s, const char *what) {
    uint8_t rank = tgc_rd_u8(&d->r);
    if (d->r.failed) return bad(d, "truncated in %s", what);
    if (rank > TGC_MAX_RANK) return bad(d, "%s has rank %u (at most %d)", what, rank, TGC_MAX_RANK);
    memset(s, 0, sizeof *s);
    s->rank = rank;
    for (int i = 0; i < rank; i++) {
        s->d[i] = tgc_rd_i64(&d->r);
        if (d->r.failed) return bad(d, "truncated in %s", what);
        if (s->d[i] < 0 || s->d[i] > ((int64_t)1 << 40)) return bad(d, "%s has a dimension out of range", what);
    }
    return 0;
}

/* Element count, refusing any shape whose byte size would not fit in 2^62. */
static int shape_bytes(const tgc_shape *s, tgc_dtype dt, uint64_t *out) {
    uint64_t n = 1;
    for (int i = 0; i < s->rank; i++) {
        if (s->d[i] && n > ((uint64_t)1 << 62) / (uint64_t)s->d[i]) return -1;
        n *= (uint64_t)s->d[i];
    }
    size_t es = tgc_dtype_size(dt);
    if (n > ((uint64_t)1 << 62) / (es ? es : 1)) return -1;
    *out = n * es;
    return 0;
}

static int read_meta(rd *d, tgc_plan *p) {
    int n;
    if (rd_count(d, 5, "META entries", &n) < 0) return -1;
    enum { M_TARGET, M_ALIGN, M_WORKSPACE, M_FUSE, M_LAYOUT, M_PARAMS, M_MACS, M_FLOPS, M_OKIND, M_COUNT };
    int have[M_COUNT] = {0};
    int have_slab[TGC_SLAB_COUNT] = {0};
    for (int i = 0; i < n; i++) {
        char *key = tgc_rd_str(&d->r, NULL);
        uint8_t type = tgc_rd_u8(&d->r);
        if (d->r.failed || !key) {
            free(key);
            return bad(d, "truncated in entry %d", i);
        }
        int64_t iv = 0;
        double fv = 0;
        char *sv = NULL;
        if (type == KV_I64) iv = tgc_rd_i64(&d->r);
        else if (type == KV_F64) fv = tgc_rd_f64(&d->r);
        else if (type == KV_STR) sv = tgc_rd_str(&d->r, NULL);
        else {
            int rc = bad(d, "key '%s' has an unknown value type", key);
            free(key);
            return rc;
        }
        if (d->r.failed || (type == KV_STR && !sv)) {
            int rc = bad(d, "truncated in the value of '%s'", key);
            free(key), free(sv);
            return rc;
        }
        int want = 0, slot = -1; /* expected type of a known key; 0 = unknown key, ignored */
        if (!strcmp(key, "target")) want = KV_STR, slot = M_TARGET;
        else if (!strcmp(key, "target.alignment")) want = KV_I64, slot = M_ALIGN;
        else if (!strcmp(key, "target.workspace_bytes")) want = KV_I64, slot = M_WORKSPACE;
        else if (!strcmp(key, "target.fuse")) want = KV_I64, slot = M_FUSE;
        else if (!strcmp(key, "layout")) want = KV_STR, slot = M_LAYOUT;
        else if (!strcmp(key, "params")) want = KV_I64, slot = M_PARAMS;
        else if (!strcmp(key, "macs_per_sample")) want = KV_F64, slot = M_MACS;
        else if (!strcmp(key, "flops_per_sample")) want = KV_F64, slot = M_FLOPS;
        else if (!strcmp(key, "optim.kind")) want = KV_STR, slot = M_OKIND;
        else if (!strcmp(key, "optim.nesterov")) want = KV_I64;
        else if (!strncmp(key, "optim.", 6)) want = KV_F64;
        else if (!strncmp(key, "slab.", 5)) want = KV_I64;
        else if (!strcmp(key, "compiler.version") || !strcmp(key, "ignored") || !strcmp(key, "amp.dtype")) want = KV_STR;
        if (want && want != type) {
            int rc = bad(d, "key '%s' has the wrong value type", key);
            free(key), free(sv);
            return rc;
        }
        int rc = 0;
        if (slot == M_TARGET) {
            size_t len = strlen(sv);
            if (len == 0 || len >= sizeof p->target.name) rc = bad(d, "target name '%.40s' is empty or too long", sv);
            else memcpy(p->target.name, sv, len + 1);
        } else if (slot == M_ALIGN) {
            if (iv < 8 || iv > 65536 || (iv & (iv - 1))) rc = bad(d, "target.alignment %lld is not a power of two "
                                                                     "from 8 to 65536", (long long)iv);
            p->target.alignment = (uint32_t)iv;
        } else if (slot == M_WORKSPACE) {
            if (iv < 0 || iv > ((int64_t)1 << 40)) rc = bad(d, "target.workspace_bytes %lld is out of range",
                                                            (long long)iv);
            p->target.workspace_bytes = (uint64_t)iv;
        } else if (slot == M_FUSE) {
            if (iv < 0 || (iv & ~(int64_t)TGC_FUSE_ALL)) rc = bad(d, "target.fuse has unknown flags 0x%llx",
                                                                  (unsigned long long)iv);
            p->target.fuse = (uint32_t)iv;
        } else if (slot == M_LAYOUT) {
            int found = 0;
            for (int l = TGC_LAYOUT_ROW; l < TGC_LAYOUT_COUNT && !found; l++)
                if (!strcmp(sv, tgc_layout_name((tgc_layout)l))) p->layout = (tgc_layout)l, found = 1;
            if (!found) rc = bad(d, "layout '%.40s' is not row or nhwc", sv);
        } else if (slot == M_PARAMS) p->params = iv;
        else if (slot == M_MACS) p->macs_per_sample = fv;
        else if (slot == M_FLOPS) p->flops_per_sample = fv;
        else if (slot == M_OKIND) {
            int found = 0;
            for (int kd = TGC_OPTIM_SGD; kd <= TGC_OPTIM_LAMB && !found; kd++)
                if (!strcmp(sv, tgc_optim_kind_name((tgc_optim_kind)kd))) p->optim.kind = (tgc_optim_kind)kd, found = 1;
            if (!found) rc = bad(d, "unknown optimizer '%s'", sv);
        } else if (!strcmp(key, "optim.nesterov")) p->optim.nesterov = iv != 0;
        else if (!strcmp(key, "optim.lr")) p->optim.lr = fv;
        else if (!strcmp(key, "optim.momentum")) p->optim.momentum = fv;
        else if (!strcmp(key, "optim.dampening")) p->optim.dampening = fv;
        else if (!strcmp(key, "optim.weight_decay")) p->optim.weight_decay = fv;
        else if (!strcmp(key, "optim.beta1")) p->optim.beta1 = fv;
        else if (!strcmp(key, "optim.beta2")) p->optim.beta2 = fv;
        else if (!strcmp(key, "optim.eps")) p->optim.eps = fv;
        else if (!strcmp(key, "optim.max_grad_norm")) p->optim.max_grad_norm = fv;
        else if (!strcmp(key, "optim.always_adapt")) p->optim.always_adapt = fv != 0;
        else if (!strcmp(key, "optim.trust_clip")) p->optim.trust_clip = fv != 0;
        else if (!strcmp(key, "optim.clip")) {
            if (fv != TGC_CLIP_NORM && fv != TGC_CLIP_VALUE) rc = bad(d, "optim.clip %g is not 1 (norm) or 2 (value)", fv);
            else p->optim.clip = fv == TGC_CLIP_NORM ? TGC_CLIP_NORM : TGC_CLIP_VALUE;
        } else if (!strcmp(key, "optim.clip_max")) p->optim.clip_max = fv;
        else if (!strcmp(key, "optim.clip_norm_type")) p->optim.clip_norm_type = fv;
        else if (!strcmp(key, "optim.accumulative_counts")) {
            if (!(fv >= 1 && fv <= 1000000 && fv == floor(fv))) rc = bad(d, "optim.accumulative_counts %g is not an integer in [1, 1e6]", fv);
            else p->optim.accumulative_counts = (int)fv;
        }
        else if (!strcmp(key, "ignored")) {
            free(p->ignored);
            p->ignored = sv;
            sv = NULL;
        }
        else if (!strcmp(key, "amp.dtype")) {
            if (!strcmp(sv, "f32")) p->amp.dtype = TGC_F32;
            else if (!strcmp(sv, "bf16")) p->amp.dtype = TGC_BF16;
            else if (!strcmp(sv, "f16")) p->amp.dtype = TGC_F16;
            else rc = bad(d, "amp.dtype '%s' is not f32, bf16 or f16", sv);
        } else if (!strcmp(key, "amp.dynamic")) p->amp.dynamic = iv != 0;
        else if (!strcmp(key, "amp.init_scale")) {
            if (!(fv >= 0 && fv < 3.5e38)) rc = bad(d, "amp.init_scale %g is out of range", fv);
            p->amp.init_scale = fv;
        } else if (!strcmp(key, "amp.fp32_arena_bytes")) {
            if (iv < 0) rc = bad(d, "amp.fp32_arena_bytes %lld is negative", (long long)iv);
            p->amp.fp32_arena_bytes = (uint64_t)iv;
        } else if (!strcmp(key, "amp.growth_interval")) {
            if (iv < 0 || iv > 1000000000) rc = bad(d, "amp.growth_interval %lld is out of range", (long long)iv);
            p->amp.growth_interval = (int)iv;
        } else
            for (int s = TGC_SLAB_ARENA; s < TGC_SLAB_COUNT; s++)
                if (!strcmp(key, slab_keys[s])) {
                    p->slab_bytes[s] = (uint64_t)iv;
                    have_slab[s] = 1;
                    if (iv < 0) rc = bad(d, "%s is negative", key);
                }
        if (slot >= 0) have[slot] = 1;
        free(key), free(sv);
        if (rc < 0) return -1;
    }
    static const char *const names[M_COUNT] = {"target", "target.alignment", "target.workspace_bytes", "target.fuse",
                                                "layout", "params", "macs_per_sample", "flops_per_sample", "optim.kind"};
    for (int k = 0; k < M_COUNT; k++)
        if (!have[k]) return bad(d, "missing key '%s'", names[k]);
    for (int s = TGC_SLAB_ARENA; s < TGC_SLAB_COUNT; s++)
        if (!have_slab[s]) return bad(d, "missing key '%s'", slab_keys[s]);
    return 0;
}

static int read_tensors(rd *d, tgc_plan *p) {
    int n;
    if (rd_count(d, 82, "tensors", &n) < 0) return -1;
    p->tensors = tgc_calloc((size_t)(n ? n : 1), sizeof(tgc_plan_tensor));
    for (int i = 0; i < n; i++) {
        tgc_plan_tensor *t = &p->tensors[i];
        p->n_tensors = i + 1; /* whatever is read so far is freed by tgc_plan_free */
        t->name = tgc_rd_str(&d->r, NULL);
        uint8_t kind = tgc_rd_u8(&d->r), dt = tgc_rd_u8(&d->r), lay = tgc_rd_u8(&d->r), slab = tgc_rd_u8(&d->r);
        if (d->r.failed || !t->name) return bad(d, "truncated in tensor %d", i);
        char what[64];
        snprintf(what, sizeof what, "tensor %d", i);
        if (kind > TGC_VAL_OPTSTATE) return bad(d, "%s has unknown kind %u", what, kind);
        if (dt >= TGC_DTYPE_COUNT) return bad(d, "%s has unknown dtype %u", what, dt);
        if (lay >= TGC_LAYOUT_COUNT) return bad(d, "%s has unknown layout %u", what, lay);
        if (slab >= TGC_SLAB_COUNT) return bad(d, "%s has unknown slab %u", what, slab);
        t->kind = kind;
        t->type.dtype = dt;
        t->type.layout = lay;
        t->slab = slab;
        if (rd_shape(d, &t->type.shape, what) < 0) return -1;
        t->offset = tgc_rd_u64(&d->r);
        t->bytes = tgc_rd_u64(&d->r);
        uint8_t ik = tgc_rd_u8(&d->r);
        t->init.kind = ik;
        t->init.a = tgc_rd_f64(&d->r);
        t->init.b = tgc_rd_f64(&d->r);
        t->init.lo = tgc_rd_f64(&d->r);
        t->init.hi = tgc_rd_f64(&d->r);
        t->init.desc = tgc_rd_str(&d->r, NULL);
        if (d->r.failed) return bad(d, "truncated in %s", what);
        if (ik > TGC_INIT_TRUNC_NORMAL) return bad(d, "%s has unknown init kind %u", what, ik);
        if (rd_index(d, 1, n, "grad_of", &t->grad_of) < 0) return -1;
        t->lr_mult = tgc_rd_f64(&d->r);
        t->decay_mult = tgc_rd_f64(&d->r);
        if (d->r.failed) return bad(d, "truncated in %s", what);
        uint64_t bytes;
        if (shape_bytes(&t->type.shape, t->type.dtype, &bytes) < 0 || bytes != t->bytes)
            return bad(d, "%s: byte size does not match its shape and dtype", what);
        if (t->offset > UINT64_MAX - t->bytes) return bad(d, "%s: offset overflows", what);
    }
    d->n_tensors = n;
    return 0;
}

/* As write_attrs; the fields an op does not read keep their defaults. */
#define ATTR_READ_BOOL(d, v, n, what) (v) = tgc_rd_u8(&(d)->r)
#define ATTR_READ_I64(d, v, n, what) (v) = tgc_rd_i64(&(d)->r)
#define ATTR_READ_I64V(d, v, n, what) for (int i_ = 0; i_ < (n); i_++) (v)[i_] = tgc_rd_i64(&(d)->r)
#define ATTR_READ_F64(d, v, n, what) (v) = tgc_rd_f64(&(d)->r)
#define ATTR_READ_F64V(d, v, n, what) for (int i_ = 0; i_ < (n); i_++) (v)[i_] = tgc_rd_f64(&(d)->r)
#define ATTR_READ_SHAPE(d, v, n, what)                                                                  \
    if (rd_shape(d, &(v), "attribute " what) < 0) return -1
#define ATTR_READ_DTYPE(d, v, n, what)                                                                  \
    do {                                                                                                \
        uint8_t dt_ = tgc_rd_u8(&(d)->r);                                                               \
        if (!(d)->r.failed && dt_ >= TGC_DTYPE_COUNT) return bad(d, "attribute " what " %u is unknown", dt_); \
        (v) = dt_;                                                                                      \
    } while (0)

static int read_attrs(rd *d, uint32_t bits, tgc_attrs *a) {
    *a = tgc_attrs_default();
#define TGC_ATTR(name, kind, n, bit, def, fmt)                                                          \
    if (bits & (bit)) ATTR_READ_##kind(d, a->name, n, #name);
#include "ir/attrs.def"
#undef TGC_ATTR
    if (d->r.failed) return bad(d, "truncated in attributes");
    return 0;
}

static int read_index_list(rd *d, const char *what, int **out, int *n_out) {
    int n;
    if (rd_count(d, 4, what, &n) < 0) return -1;
    *out = tgc_malloc(sizeof(int) * (size_t)(n ? n : 1));
    *n_out = n;
    for (int i = 0; i < n; i++)
        if (rd_index(d, 0, d->n_tensors, what, &(*out)[i]) < 0) return -1;
    return 0;
}

static int read_program(rd *d, tgc_program *pr) {
    pr->name = tgc_rd_str(&d->r, NULL);
    pr->batch = tgc_rd_i64(&d->r);
    pr->mem.arena_bytes = tgc_rd_u64(&d->r);
    pr->mem.lower_bound_bytes = tgc_rd_u64(&d->r);
    pr->mem.naive_bytes = tgc_rd_u64(&d->r);
    if (d->r.failed || !pr->name) return bad(d, "truncated in the program header");
    int n;
    if (rd_count(d, 12, "instructions", &n) < 0) return -1;
    pr->instr = tgc_calloc((size_t)(n ? n : 1), sizeof(tgc_instr));
    for (int k = 0; k < n; k++) {
        tgc_instr *in = &pr->instr[k];
        pr->n_instr = k + 1;
        uint16_t code = tgc_rd_u16(&d->r);
        uint8_t ni = tgc_rd_u8(&d->r), no = tgc_rd_u8(&d->r);
        char what[64];
        snprintf(what, sizeof what, "instruction %d", k);
        if (d->r.failed) return bad(d, "truncated in %s", what);
        if (code >= TGC_OP_COUNT) return bad(d, "%s has unknown opcode %u", what, code);
        if (ni > TGC_MAX_IN || no > TGC_MAX_OUT) return bad(d, "%s has too many operands or results", what);
        in->code = code;
        in->n_in = ni;
        in->n_out = no;
        for (int j = 0; j < ni; j++)
            if (rd_index(d, 0, d->n_tensors, "operand", &in->in[j]) < 0) return -1;
        for (int j = 0; j < no; j++)
            if (rd_index(d, 0, d->n_tensors, "result", &in->out[j]) < 0) return -1;
        if (read_attrs(d, tgc_op_table[code].attrs, &in->attrs) < 0) return -1;
        int is_null = 0;
        in->scope = tgc_rd_str(&d->r, &is_null);
        in->group = (int32_t)tgc_rd_u32(&d->r);
        if (d->r.failed) return bad(d, "truncated in %s", what);
    }
    pr->n_instr = n;
    if (read_index_list(d, "outputs", &pr->outputs, &pr->n_outputs) < 0) return -1;
    if (read_index_list(d, "inputs", &pr->inputs, &pr->n_inputs) < 0) return -1;
    int nb;
    if (rd_count(d, 24, "buckets", &nb) < 0) return -1;
    pr->buckets = tgc_calloc((size_t)(nb ? nb : 1), sizeof(tgc_plan_bucket));
    for (int b = 0; b < nb; b++) {
        tgc_plan_bucket *bk = &pr->buckets[b];
        pr->n_buckets = b + 1;
        if (read_index_list(d, "bucket tensors", &bk->tensors, &bk->n) < 0) return -1;
        bk->offset = tgc_rd_u64(&d->r);
        bk->bytes = tgc_rd_u64(&d->r);
        if (d->r.failed) return bad(d, "truncated in bucket %d", b);
        if (rd_index(d, 1, pr->n_instr, "bucket ready instruction", &bk->ready_instr) < 0) return -1;
    }
    return 0;
}

static uint32_t get_u32(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static uint64_t get_u64(const uint8_t *p) { return (uint64_t)get_u32(p) | (uint64_t)get_u32(p + 4) << 32; }

static const char *section_name(uint32_t kind) {
    switch (kind) {
    case SEC_META: return "META";
    case SEC_CONFIG: return "CONFIG";
    case SEC_TENSORS: return "TENSORS";
    case SEC_PROGRAM: return "PROGRAM";
    case SEC_KERNELS: return "KERNELS";
    default: return "?";
    }
}

/* Header checks: every refusal that does not need the sections. */
static int check_header(const uint8_t *data, size_t len, const char *name, uint32_t *n_sec, tgc_err *err) {
    if (len == 0) return tgc_fail(err, "%s: empty file, not a tgc plan", name);
    size_t m = len < 8 ? len : 8;
    if (memcmp(data, TGC_PLAN_MAGIC, m) != 0) return tgc_fail(err, "%s: not a tgc plan (bad magic)", name);
    if (len < HEADER_BYTES)
        return tgc_fail(err, "%s: truncated: %zu bytes, shorter than the %u-byte plan header", name, len, HEADER_BYTES);
    uint32_t version = get_u32(data + 8);
    if (version > TGC_PLAN_VERSION)
        return tgc_fail(err, "%s: plan format version %u is newer than this tgc (%d): recompile", name, version,
                        TGC_PLAN_VERSION);
    if (version == 0) return tgc_fail(err, "%s: plan format version 0 is not valid", name);
    if (version < TGC_PLAN_VERSION)
        return tgc_fail(err, "%s: plan format version %u is older than this tgc (%d), whose plans record the target "
                        "and the layouts they were compiled for: recompile it with `tgc compile CONFIG --target "
                        "cpu|cuda`", name, version, TGC_PLAN_VERSION);
    uint64_t size = get_u64(data + 16);
    if (size > len)
        return tgc_fail(err, "%s: truncated: the header says %llu bytes but the file has %zu", name,
                        (unsigned long long)size, len);
    if (size < len)
        return tgc_fail(err, "%s: corrupted: the file has %zu bytes but the header says %llu", name, len,
                        (unsigned long long)size);
    uint32_t stored = get_u32(data + CRC_OFFSET);
    static const uint8_t zero4[4];
    uint32_t crc = tgc_crc32(0, data, CRC_OFFSET);
    crc = tgc_crc32(crc, zero4, 4);
    crc = tgc_crc32(crc, data + CRC_OFFSET + 4, len - CRC_OFFSET - 4);
    if (crc != stored)
        return tgc_fail(err, "%s: corrupted: checksum 0x%08x in the header, 0x%08x computed", name, stored, crc);
    *n_sec = get_u32(data + 12);
    if (*n_sec > MAX_SECTIONS || HEADER_BYTES + (size_t)*n_sec * SECTION_ENTRY_BYTES > len)
        return tgc_fail(err, "%s: corrupted plan: %u sections do not fit in the file", name, *n_sec);
    return 0;
}

tgc_plan *tgc_plan_deserialize(const uint8_t *data, size_t len, const char *name, tgc_err *err) {
    uint32_t n_sec = 0;
    if (!name) name = "<plan>";
    if (check_header(data, len, name, &n_sec, err) < 0) return NULL;
    uint64_t table_end = HEADER_BYTES + (uint64_t)n_sec * SECTION_ENTRY_BYTES;
    int idx_meta = -1, idx_cfg = -1, idx_tens = -1, idx_kern = -1, prog[MAX_PROGRAMS], n_prog = 0;
    uint64_t off[MAX_SECTIONS], size[MAX_SECTIONS];
    for (uint32_t i = 0; i < n_sec; i++) {
        const uint8_t *e = data + HEADER_BYTES + i * SECTION_ENTRY_BYTES;
        uint32_t kind = get_u32(e);
        off[i] = get_u64(e + 8);
        size[i] = get_u64(e + 16);
        if (off[i] < table_end || off[i] > len || size[i] > len - off[i] || off[i] % 64) {
            tgc_fail(err, "%s: corrupted plan: section %u (%s) at [%llu, +%llu) lies outside the file", name, i,
                     section_name(kind), (unsigned long long)off[i], (unsigned long long)size[i]);
            return NULL;
        }
        int *slot = kind == SEC_META ? &idx_meta : kind == SEC_CONFIG ? &idx_cfg : kind == SEC_TENSORS ? &idx_tens
                  : kind == SEC_KERNELS ? &idx_kern : NULL;
        if (kind == SEC_PROGRAM) {
            if (n_prog == MAX_PROGRAMS) {
                tgc_fail(err, "%s: corrupted plan: more than %d programs", name, MAX_PROGRAMS);
                return NULL;
            }
            prog[n_prog++] = (int)i;
        } else if (!slot) {
            tgc_fail(err, "%s: corrupted plan: section %u has unknown kind %u", name, i, kind);
            return NULL;
        } else if (*slot >= 0) {
            tgc_fail(err, "%s: corrupted plan: two %s sections", name, section_name(kind));
            return NULL;
        } else
            *slot = (int)i;
    }
    const char *missing = idx_meta < 0 ? "META" : idx_cfg < 0 ? "CONFIG" : idx_tens < 0 ? "TENSORS"
                        : n_prog == 0 ? "PROGRAM" : NULL;
    if (missing) {
        tgc_fail(err, "%s: corrupted plan: no %s section", name, missing);
        return NULL;
    }

    tgc_plan *p = tgc_calloc(1, sizeof(tgc_plan));
    p->checksum = get_u32(data + CRC_OFFSET);
    rd d = {.file = name, .err = err};
    int order[3 + MAX_PROGRAMS + 1], n_order = 0;
    order[n_order++] = idx_meta;
    order[n_order++] = idx_tens; /* before the programs, which index it */
    for (int k = 0; k < n_prog; k++) order[n_order++] = prog[k];
    if (idx_kern >= 0) order[n_order++] = idx_kern;
    p->programs = tgc_calloc((size_t)n_prog, sizeof(tgc_program));
    int rc = 0;
    /* CONFIG: the config module's own reader checks its lengths. */
    if (size[idx_cfg] > 0) {
        tgc_err cerr;
        p->config = tgc_cfg_deserialize(data + off[idx_cfg], size[idx_cfg], &cerr);
        if (!p->config) rc = tgc_fail(err, "%s: corrupted plan: section CONFIG: %s", name, cerr.msg);
    }
    for (int k = 0; k < n_order && rc == 0; k++) {
        int i = order[k];
        uint32_t kind = get_u32(data + HEADER_BYTES + (size_t)i * SECTION_ENTRY_BYTES);
        d.r = (tgc_reader){.data = data + off[i], .len = size[i]};
        d.what = section_name(kind);
        if (kind == SEC_META) rc = read_meta(&d, p);
        else if (kind == SEC_TENSORS) rc = read_tensors(&d, p);
        else if (kind == SEC_PROGRAM) {
            p->n_programs++;
            rc = read_program(&d, &p->programs[p->n_programs - 1]);
        } else {
            int nk = (int)tgc_rd_u32(&d.r);
            if (d.r.failed || nk != 0) rc = bad(&d, "plans of format version %d carry no kernels", TGC_PLAN_VERSION);
        }
        if (rc == 0 && d.r.pos != d.r.len) rc = bad(&d, "%zu unread bytes at the end", d.r.len - d.r.pos);
    }
    if (rc < 0) {
        tgc_plan_free(p);
        return NULL;
    }
    return p;
}

tgc_plan *tgc_plan_load(const char *path, tgc_err *err) {
    uint8_t *data;
    size_t len;
    if (tgc_read_file(path, MAX_PLAN_FILE, &data, &len, err) < 0) return NULL;
    tgc_plan *p = tgc_plan_deserialize(data, len, path, err);
    free(data);
    return p;
}
