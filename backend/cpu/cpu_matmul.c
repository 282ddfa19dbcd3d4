/* backend/cpu/cpu_matmul.c - matmul(a, b) -> op(a) @ op(b) through oneDNN's matmul (f32, or bf16 throughout
 * with f32 accumulation); a transposed operand
 * is described to oneDNN by swapped strides, so no copy is made. */
#include <string.h>

#include "backend/cpu/cpu_internal.h"

int cpu_matmul(tgc_cpu *c, const cpu_call *k, tgc_err *err) {
    tgc_dtype dt;
    if (cpu_check_all_float(k, &dt, err) || cpu_check_rank(k, 0, 0, 2, err) || cpu_check_rank(k, 0, 1, 2, err) ||
        cpu_check_rank(k, 1, 0, 2, err))
        return -1;
    const tgc_shape *as = &k->in_t[0].shape, *bs = &k->in_t[1].shape, *ys = &k->out_t[0].shape;
    int ta = k->a->trans_a != 0, tb = k->a->trans_b != 0;
    int64_t m = ta ? as->d[1] : as->d[0], ka = ta ? as->d[0] : as->d[1];
    int64_t kb = tb ? bs->d[1] : bs->d[0], n = tb ? bs->d[0] : bs->d[1];
    if (ka != kb || ys->d[0] != m || ys->d[1] != n) {
        char sa[64], sb[64], sy[64];
        tgc_shape_str(as, sa, sizeof sa);
        tgc_shape_str(bs, sb, sizeof sb);
        tgc_shape_str(ys, sy, sizeof sy);
        return tgc_fail(err, "cpu backend: %s: a %s, b %s (trans_a=%d, trans_b=%d) do not give y %s", k->name, sa, sb,
                        ta, tb, sy);
    }
    if (m == 0 || n == 0) return 0;
    if (ka == 0) { /* an empty sum: zeros */
        memset(k->out[0], 0, (size_t)(m * n) * tgc_dtype_size(dt)); /* +0.0 in f32 and bf16 */
        return 0;
    }
    cpu_key key;
    cpu_key_init(&key, k->code, 0);
    int64_t f[] = {m, n, ka, ta, tb, dt};
    for (size_t i = 0; i < TGC_ARRAY_LEN(f); i++) cpu_key_add(&key, f[i]);
    cpu_prim *p = cpu_cache_find(c, &key);
    if (!p) {
        dnnl_memory_desc_t amd, bmd, ymd;
        dnnl_dims_t ad = {m, ka}, bd = {ka, n}, yd = {m, n};
        dnnl_dims_t astr = {ta ? 1 : ka, ta ? m : 1}, bstr = {tb ? 1 : n, tb ? ka : 1};
        dnnl_data_type_t ddt = cpu_dnnl_dt(dt);
        dnnl_status_t s = dnnl_memory_desc_init_by_strides(&amd, 2, ad, ddt, astr);
        if (s == dnnl_success) s = dnnl_memory_desc_init_by_strides(&bmd, 2, bd, ddt, bstr);
        if (s == dnnl_success) s = dnnl_memory_desc_init_by_tag(&ymd, 2, yd, ddt, dnnl_ab);
        dnnl_matmul_desc_t d;
        if (s == dnnl_success) s = dnnl_matmul_desc_init(&d, &amd, &bmd, NULL, &ymd);
        if (s != dnnl_success) return tgc_fail(err, "cpu backend: %s: %s", k->name, cpu_dnnl_status(s));
        dnnl_primitive_desc_t pd;
        if (cpu_pd_create(c, &pd, &d, NULL, k->name, err)) return -1;
        cpu_argspec spec[] = {{DNNL_ARG_SRC, 0, 0, &amd}, {DNNL_ARG_WEIGHTS, 1, 0, &bmd}, {DNNL_ARG_DST, 2, 1, &ymd}};
        if (!(p = cpu_prim_build(c, &key, pd, spec, 3, k->name, err))) return -1;
    }
    void *ptrs[] = {k->in[0], k->in[1], k->out[0]};
    return cpu_prim_run(c, p, ptrs, k->name, err);
}
