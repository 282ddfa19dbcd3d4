/* backend/cuda/kernels/convert.cuh - cast between f32 and bf16/f16, and fill, with backend/cpu/cpu_cast.c's
 * conversions written again as integer operations on the bits (no hardware conversion instruction, whose
 * NaN payloads and rounding would have to be shown equal): round to nearest even, NaN made quiet (to bf16:
 * payload's top bits | 0x40; to f16: 0x7e00; from f16: payload kept, quiet bit set; from bf16: the bits
 * as they are, as the CPU's direct bf16 path), f16 overflow to inf from 65520 on, f16 subnormals rounded at
 * 2^-24. Equal to the CPU's bit for bit, every 16-bit input and the f32 edge cases are tested. */
#ifndef TGC_CUDA_KERNELS_CONVERT_CUH
#define TGC_CUDA_KERNELS_CONVERT_CUH

#include "backend/cuda/kernels/kcommon.cuh"

TGC_K_DEV uint16_t tgc_k_f32_to_bf16(float f) {
    uint32_t u = __float_as_uint(f);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40u);
    u += 0x7fffu + ((u >> 16) & 1u);
    return (uint16_t)(u >> 16);
}

TGC_K_DEV float tgc_k_bf16_to_f32(uint16_t h) { return __uint_as_float((uint32_t)h << 16); }

TGC_K_DEV uint16_t tgc_k_f32_to_f16(float f) {
    uint32_t u = __float_as_uint(f), sign = (u >> 16) & 0x8000u, a = u & 0x7fffffffu;
    if (a > 0x7f800000u) return (uint16_t)(sign | 0x7e00u);
    if (a >= 0x477ff000u) return (uint16_t)(sign | 0x7c00u);
    if (a < 0x38800000u) {
        if (a < 0x33000000u) return (uint16_t)sign;
        uint32_t mant = (a & 0x7fffffu) | 0x800000u;
        int shift = 126 - (int)(a >> 23);
        uint32_t q = mant >> shift, rem = mant & ((1u << shift) - 1u), half = 1u << (shift - 1);
        if (rem > half || (rem == half && (q & 1u))) q++;
        return (uint16_t)(sign | q);
    }
    uint32_t r = a - 0x38000000u;
    r += 0xfffu + ((r >> 13) & 1u);
    return (uint16_t)(sign | (r >> 13));
}

/* A NaN comes out quiet (payload kept): cpu_cast.c converts f16 to f32 through a double, which quiets it. */
TGC_K_DEV float tgc_k_f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16, e = (h >> 10) & 0x1fu, m = h & 0x3ffu;
    if (e == 0x1f) return __uint_as_float(sign | 0x7f800000u | (m ? 0x400000u : 0u) | (m << 13));
    if (e == 0) {
        float v = ldexpf((float)m, -24);
        return sign ? -v : v;
    }
    return __uint_as_float(sign | ((e + 112u) << 23) | (m << 13));
}

/* Element i of an array of TGC_K_DT_F32, _BF16 or _F16 as float, and a float stored into one (rounded to
 * nearest even): the loads and stores of kernels that take mixed-precision data. */
TGC_K_DEV float tgc_k_ldf(const void *p, int32_t dt, int64_t i) {
    if (dt == TGC_K_DT_BF16) return tgc_k_bf16_to_f32(((const uint16_t *)p)[i]);
    if (dt == TGC_K_DT_F16) return tgc_k_f16_to_f32(((const uint16_t *)p)[i]);
    return ((const float *)p)[i];
}

TGC_K_DEV void tgc_k_stf(void *p, int32_t dt, int64_t i, float v) {
    if (dt == TGC_K_DT_BF16) ((uint16_t *)p)[i] = tgc_k_f32_to_bf16(v);
    else if (dt == TGC_K_DT_F16) ((uint16_t *)p)[i] = tgc_k_f32_to_f16(v);
    else ((float *)p)[i] = v;
}

/* geometry of all five: tgc_k_geom_elems(n) */
TGC_KERNEL(tgc_k_cast_f32_bf16, tgc_k_cast_args, a, TGC_K_THREADS) {
    const float *x = (const float *)a.x;
    uint16_t *y = (uint16_t *)a.y;
    for (int64_t i = tgc_k_gtid(); i < a.n; i += tgc_k_gstride()) y[i] = tgc_k_f32_to_bf16(x[i]);
}

TGC_KERNEL(tgc_k_cast_bf16_f32, tgc_k_cast_args, a, TGC_K_THREADS) {
    const uint16_t *x = (const uint16_t *)a.x;
    float *y = (float *)a.y;
    for (int64_t i = tgc_k_gtid(); i < a.n; i += tgc_k_gstride()) y[i] = tgc_k_bf16_to_f32(x[i]);
}

TGC_KERNEL(tgc_k_cast_f32_f16, tgc_k_cast_args, a, TGC_K_THREADS) {
    const float *x = (const float *)a.x;
    uint16_t *y = (uint16_t *)a.y;
    for (int64_t i = tgc_k_gtid(); i < a.n; i += tgc_k_gstride()) y[i] = tgc_k_f32_to_f16(x[i]);
}

TGC_KERNEL(tgc_k_cast_f16_f32, tgc_k_cast_args, a, TGC_K_THREADS) {
    const uint16_t *x = (const uint16_t *)a.x;
    float *y = (float *)a.y;
    for (int64_t i = tgc_k_gtid(); i < a.n; i += tgc_k_gstride()) y[i] = tgc_k_f16_to_f32(x[i]);
}

/* cpu_cast.c's sat_int: truncated toward zero, clamped to [lo, hi], NaN to 0. */
TGC_K_DEV int64_t tgc_k_sat_int(double v, double lo, double hi) {
    v = trunc(v);
    if (isnan(v)) return 0;
    if (v <= lo) return (int64_t)lo;
    if (v >= hi) return (int64_t)hi;
    return (int64_t)v;
}

/* The bits of one element of dtype holding v, as cpu_cast.c's store (low bytes used). */
TGC_K_DEV uint64_t tgc_k_fill_bits(int32_t dtype, double v) {
    switch (dtype) {
    case TGC_K_DT_F32: return __float_as_uint((float)v);
    case TGC_K_DT_F16: return tgc_k_f32_to_f16((float)v);
    case TGC_K_DT_BF16: return tgc_k_f32_to_bf16((float)v);
    case TGC_K_DT_I32: return (uint32_t)(int32_t)tgc_k_sat_int(v, -2147483648.0, 2147483647.0);
    case TGC_K_DT_I64: return (uint64_t)tgc_k_sat_int(v, -9223372036854775808.0, 9223372036854774784.0);
    default: return (uint8_t)tgc_k_sat_int(v, 0, 255);
    }
}

TGC_KERNEL(tgc_k_fill, tgc_k_fill_args, a, TGC_K_THREADS) {
    const uint64_t bits = tgc_k_fill_bits(a.dtype, a.value);
    switch (a.dtype) {
    case TGC_K_DT_F32:
    case TGC_K_DT_I32:
        for (int64_t i = tgc_k_gtid(); i < a.n; i += tgc_k_gstride()) ((uint32_t *)a.y)[i] = (uint32_t)bits;
        break;
    case TGC_K_DT_F16:
    case TGC_K_DT_BF16:
        for (int64_t i = tgc_k_gtid(); i < a.n; i += tgc_k_gstride()) ((uint16_t *)a.y)[i] = (uint16_t)bits;
        break;
    case TGC_K_DT_I64:
        for (int64_t i = tgc_k_gtid(); i < a.n; i += tgc_k_gstride()) ((uint64_t *)a.y)[i] = bits;
        break;
    default:
        for (int64_t i = tgc_k_gtid(); i < a.n; i += tgc_k_gstride()) ((uint8_t *)a.y)[i] = (uint8_t)bits;
        break;
    }
}

#endif
