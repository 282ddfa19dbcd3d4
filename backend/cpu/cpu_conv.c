/* backend/cpu/cpu_conv.c - conv2d forward, backward data and backward weights through oneDNN.
 *
 * f32, or bf16 operands and result (mixed precision). bf16 forward and backward data run oneDNN's bf16
 * primitives only where those are fast (tgc_cpu.bf16_conv, cpu_lowp.c), backward weights never (its bf16
 * kernel was slower than f32 and spins in a cross-thread reduction); otherwise an f32 primitive computes,
 * and the reorders that bring the user tensors into its blocked layouts also convert bf16 <-> f32, so no
 * extra pass is made. Either way products of bf16 values are exact in f32, sums are f32 and the result is
 * rounded once. For ROW activations the primitives are created with format `any` so that oneDNN picks its
 * fast blocked layouts; the user tensors stay NCHW/OIHW and cached reorders convert at the boundary
 * (cpu_cache.c). NHWC activations (x, y and their gradients, all of one layout: the dispatcher checks)
 * are given to the primitive as nhwc itself, so oneDNN runs its channels-last kernels on the user memory
 * with no activation reorder; bf16 tensors on an f32 primitive need a converting reorder anyway, so there
 * the primitive keeps `any` (its blocked layouts, as for ROW). Weights stay OIHW with `any` inside. Groups map OIHW onto oneDNN's goihw, which is the same memory. */
#include "backend/cpu/cpu_internal.h"

/* The convolution's geometry, checked against the operand shapes. */
typedef struct conv_geo {
    int64_t n, c, h, w, o, ho, wo, kh, kw, g;
    dnnl_dims_t strides, dilates, pad_l, pad_r;
} conv_geo;

/* x, w and y are the forward's shapes (for the backward ops: dx / dy and dw, whichever are given). */
static int conv_geometry(const cpu_call *k, const tgc_shape *x, const tgc_shape *w, const tgc_shape *y,
                         conv_geo *g, tgc_err *err) {
    const tgc_attrs *a = k->a;
    char sx[96], sw[96], sy[96];
    tgc_shape_str(x, sx, sizeof sx);
    tgc_shape_str(w, sw, sizeof sw);
    tgc_shape_str(y, sy, sizeof sy);
    if (x->rank != 4 || w->rank != 4 || y->rank != 4)
        return tgc_fail(err, "cpu backend: %s: x %s, w %s, y %s must all be 4-D", k->name, sx, sw, sy);
    if (a->groups < 1 || a->stride[0] < 1 || a->stride[1] < 1 || a->dilation[0] < 1 || a->dilation[1] < 1 ||
        a->pad[0] < 0 || a->pad[1] < 0 || a->pad[2] < 0 || a->pad[3] < 0)
        return tgc_fail(err, "cpu backend: %s: invalid stride/pad/dilation/groups", k->name);
    g->n = x->d[0], g->c = x->d[1], g->h = x->d[2], g->w = x->d[3];
    g->o = w->d[0], g->kh = w->d[2], g->kw = w->d[3], g->g = a->groups;
    g->ho = y->d[2], g->wo = y->d[3];
    int64_t ekh = (g->kh - 1) * a->dilation[0] + 1, ekw = (g->kw - 1) * a->dilation[1] + 1;
    int64_t ho = g->h + a->pad[0] + a->pad[2] - ekh, wo = g->w + a->pad[1] + a->pad[3] - ekw;
    ho = ho < 0 ? -1 : ho / a->stride[0] + 1;
    wo = wo < 0 ? -1 : wo / a->stride[1] + 1;
    if (g->c % g->g || g->o % g->g || w->d[1] != g->c / g->g || y->d[0] != g->n || y->d[1] != g->o ||
        ho != g->ho || wo != g->wo || g->n < 1 || g->c < 1 || g->kh < 1 || g->kw < 1)
        return tgc_fail(err, "cpu backend: %s: shapes x %s, w %s, y %s do not match groups=%lld stride=[%lld,%lld] "
                        "pad=[%lld,%lld,%lld,%lld] dilation=[%lld,%lld]",
                        k->name, sx, sw, sy, (long long)a->groups, (long long)a->stride[0], (long long)a->stride[1],
                        (long long)a->pad[0], (long long)a->pad[1], (long long)a->pad[2], (long long)a->pad[3],
                        (long long)a->dilation[0], (long long)a->dilation[1]);
    g->strides[0] = a->stride[0], g->strides[1] = a->stride[1];
    g->dilates[0] = a->dilation[0] - 1, g->dilates[1] = a->dilation[1] - 1; /* oneDNN counts from 0 */
    g->pad_l[0] = a->pad[0], g->pad_l[1] = a->pad[1];
    g->pad_r[0] = a->pad[2], g->pad_r[1] = a->pad[3];
    return 0;
}

/* User (plain, of the tensors' type dt) and primitive (`any`, of the compute type cdt) memory descriptors
 * for x, w, y. */
typedef struct conv_mds {
    dnnl_memory_desc_t ux, uw, uy, ax, aw, ay;
} conv_mds;

static int conv_make_mds(const conv_geo *g, dnnl_data_type_t dt, dnnl_data_type_t cdt, int nhwc, conv_mds *m,
                         tgc_err *err) {
    dnnl_dims_t x = {g->n, g->c, g->h, g->w}, y = {g->n, g->o, g->ho, g->wo};
    dnnl_dims_t w4 = {g->o, g->c, g->kh, g->kw}, w5 = {g->g, g->o / g->g, g->c / g->g, g->kh, g->kw};
    /* NHWC: the primitive on the user memory itself, unless a reorder must convert anyway (bf16 tensors on
     * an f32 primitive): then oneDNN's own layout costs nothing more */
    dnnl_format_tag_t user = nhwc ? dnnl_acdb : dnnl_abcd;
    dnnl_format_tag_t inner = nhwc && dt == cdt ? dnnl_acdb : dnnl_format_tag_any;
    dnnl_status_t s = dnnl_memory_desc_init_by_tag(&m->ux, 4, x, dt, user);
    if (s == dnnl_success) s = dnnl_memory_desc_init_by_tag(&m->uy, 4, y, dt, user);
    if (s == dnnl_success) s = dnnl_memory_desc_init_by_tag(&m->ax, 4, x, cdt, inner);
    if (s == dnnl_success) s = dnnl_memory_desc_init_by_tag(&m->ay, 4, y, cdt, inner);
    if (s == dnnl_success) {
        if (g->g > 1) {
            s = dnnl_memory_desc_init_by_tag(&m->uw, 5, w5, dt, dnnl_abcde);
            if (s == dnnl_success) s = dnnl_memory_desc_init_by_tag(&m->aw, 5, w5, cdt, dnnl_format_tag_any);
        } else {
            s = dnnl_memory_desc_init_by_tag(&m->uw, 4, w4, dt, dnnl_abcd);
            if (s == dnnl_success) s = dnnl_memory_desc_init_by_tag(&m->aw, 4, w4, cdt, dnnl_format_tag_any);
        }
    }
    if (s != dnnl_success) return tgc_fail(err, "cpu backend: conv memory descriptors: %s", cpu_dnnl_status(s));
    return 0;
}

static void conv_key(cpu_key *key, const cpu_call *k) {
    cpu_key_init(key, k->code, 0);
    for (int i = 0; i < k->n_in; i++) cpu_key_type(key, &k->in_t[i]);
    cpu_key_type(key, &k->out_t[0]);
    const tgc_attrs *a = k->a;
    int64_t f[] = {a->stride[0], a->stride[1], a->pad[0], a->pad[1], a->pad[2], a->pad[3],
                   a->dilation[0], a->dilation[1], a->groups};
    for (size_t i = 0; i < TGC_ARRAY_LEN(f); i++) cpu_key_add(key, f[i]);
}

/* The forward primitive descriptor (also the hint for the backward ones). */
static int conv_fwd_pd(tgc_cpu *c, const conv_geo *g, const conv_mds *m, dnnl_prop_kind_t prop,
                       dnnl_primitive_desc_t *pd, const char *what, tgc_err *err) {
    dnnl_convolution_desc_t d;
    dnnl_status_t s = dnnl_dilated_convolution_forward_desc_init(&d, prop, dnnl_convolution_direct, &m->ax, &m->aw,
                                                                 NULL, &m->ay, g->strides, g->dilates, g->pad_l,
                                                                 g->pad_r);
    if (s != dnnl_success) return tgc_fail(err, "cpu backend: %s: %s", what, cpu_dnnl_status(s));
    return cpu_pd_create(c, pd, &d, NULL, what, err);
}

/* The three directions share one setup; they differ in which operand is which tensor of the forward
 * (x, w, y) and in the oneDNN argument each operand is. Operands are in[0], in[1], out[0] (0, 1, 2). */
typedef enum { CONV_FWD, CONV_BWD_DATA, CONV_BWD_WEIGHTS } conv_dir;
enum { CONV_X, CONV_W, CONV_Y };
static const struct conv_dir_spec {
    int role[3]; /* CONV_X/W/Y of each operand */
    int arg[3];  /* its oneDNN argument */
} conv_dirs[] = {
    [CONV_FWD] = {{CONV_X, CONV_W, CONV_Y}, {DNNL_ARG_SRC, DNNL_ARG_WEIGHTS, DNNL_ARG_DST}},
    /* conv2d_bwd_data(dy, w) -> dx */
    [CONV_BWD_DATA] = {{CONV_Y, CONV_W, CONV_X}, {DNNL_ARG_DIFF_DST, DNNL_ARG_WEIGHTS, DNNL_ARG_DIFF_SRC}},
    /* conv2d_bwd_filter(x, dy) -> dw */
    [CONV_BWD_WEIGHTS] = {{CONV_X, CONV_Y, CONV_W}, {DNNL_ARG_SRC, DNNL_ARG_DIFF_DST, DNNL_ARG_DIFF_WEIGHTS}},
};

/* The primitive descriptor of one direction; a backward one is created with the forward's as its hint. */
static int conv_pd(tgc_cpu *c, conv_dir dir, const conv_geo *g, const conv_mds *m, dnnl_primitive_desc_t *pd,
                   const char *what, tgc_err *err) {
    if (dir == CONV_FWD) return conv_fwd_pd(c, g, m, dnnl_forward_training, pd, what, err);
    dnnl_primitive_desc_t hint;
    if (conv_fwd_pd(c, g, m, dnnl_forward_training, &hint, what, err)) return -1;
    dnnl_convolution_desc_t d;
    dnnl_status_t s = dir == CONV_BWD_DATA
                          ? dnnl_dilated_convolution_backward_data_desc_init(&d, dnnl_convolution_direct, &m->ax,
                                                                             &m->aw, &m->ay, g->strides, g->dilates,
                                                                             g->pad_l, g->pad_r)
                          : dnnl_dilated_convolution_backward_weights_desc_init(&d, dnnl_convolution_direct, &m->ax,
                                                                                &m->aw, NULL, &m->ay, g->strides,
                                                                                g->dilates, g->pad_l, g->pad_r);
    int rc = s != dnnl_success ? tgc_fail(err, "cpu backend: %s: %s", what, cpu_dnnl_status(s))
                               : cpu_pd_create(c, pd, &d, hint, what, err);
    dnnl_primitive_desc_destroy(hint);
    return rc;
}

static int conv_run(tgc_cpu *c, const cpu_call *k, conv_dir dir, tgc_err *err) {
    tgc_dtype dt;
    if (cpu_check_all_float(k, &dt, err)) return -1;
    if (dir != CONV_FWD && !tgc_shape_eq(&k->out_t[0].shape, &k->a->shape))
        return tgc_fail(err, "cpu backend: %s: result shape differs from attrs.shape", k->name);
    const struct conv_dir_spec *ds = &conv_dirs[dir];
    const tgc_shape *ops[3] = {&k->in_t[0].shape, &k->in_t[1].shape, &k->out_t[0].shape}, *shape[3];
    for (int i = 0; i < 3; i++) shape[ds->role[i]] = ops[i];
    conv_geo g;
    if (conv_geometry(k, shape[CONV_X], shape[CONV_W], shape[CONV_Y], &g, err)) return -1;
    cpu_key key;
    conv_key(&key, k);
    cpu_prim *p = cpu_cache_find(c, &key);
    if (!p) {
        conv_mds m;
        dnnl_primitive_desc_t pd;
        /* bf16 tensors without a fast bf16 convolution: an f32 primitive, its reorders convert */
        int f32_compute = dt == TGC_BF16 && (dir == CONV_BWD_WEIGHTS || !c->bf16_conv);
        dnnl_data_type_t cdt = f32_compute ? dnnl_f32 : cpu_dnnl_dt(dt);
        int nhwc = cpu_nhwc(&k->in_t[0]); /* x or dy: the activations' one layout */
        if (conv_make_mds(&g, cpu_dnnl_dt(dt), cdt, nhwc, &m, err) || conv_pd(c, dir, &g, &m, &pd, k->name, err))
            return -1;
        const dnnl_memory_desc_t *user[3] = {[CONV_X] = &m.ux, [CONV_W] = &m.uw, [CONV_Y] = &m.uy};
        cpu_argspec spec[3];
        for (int i = 0; i < 3; i++) spec[i] = (cpu_argspec){ds->arg[i], i, i == 2, user[ds->role[i]]};
        if (!(p = cpu_prim_build(c, &key, pd, spec, 3, k->name, err))) return -1;
    }
    void *ptrs[] = {k->in[0], k->in[1], k->out[0]};
    return cpu_prim_run(c, p, ptrs, k->name, err);
}

int cpu_conv2d(tgc_cpu *c, const cpu_call *k, tgc_err *err) { return conv_run(c, k, CONV_FWD, err); }

int cpu_conv2d_bwd_data(tgc_cpu *c, const cpu_call *k, tgc_err *err) { return conv_run(c, k, CONV_BWD_DATA, err); }

int cpu_conv2d_bwd_filter(tgc_cpu *c, const cpu_call *k, tgc_err *err) {
    return conv_run(c, k, CONV_BWD_WEIGHTS, err);
}
