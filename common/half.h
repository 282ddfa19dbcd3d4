/* common/half.h - the 16-bit float formats on the host: bf16 and IEEE f16 to and from f32.
 *
 * To 16 bits rounds to nearest even (PyTorch's .to()); f16 overflows to inf from 65520 up and keeps
 * subnormals. A NaN stays a NaN and comes out quiet in both directions. Branch-free where the loops over
 * arrays need it to vectorise (bf16). One definition for every host user: the CPU backend's casts and
 * low-precision loops, the CUDA backend's host-side reference paths, checkpoint conversion and the checks. */
#ifndef TGC_COMMON_HALF_H
#define TGC_COMMON_HALF_H

#include <math.h>
#include <stdint.h>
#include <string.h>

static inline uint32_t tgc_f32_bits(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}

static inline float tgc_bits_f32(uint32_t u) {
    float f;
    memcpy(&f, &u, 4);
    return f;
}

static inline uint16_t tgc_f32_to_bf16(float f) {
    uint32_t u = tgc_f32_bits(f);
    uint32_t nan = (uint32_t)((u & 0x7fffffffu) > 0x7f800000u);
    uint32_t r = (u + 0x7fffu + ((u >> 16) & 1u)) >> 16, q = (u >> 16) | 0x40u;
    return (uint16_t)(nan ? q : r);
}

static inline float tgc_bf16_to_f32(uint16_t h) { return tgc_bits_f32((uint32_t)h << 16); }

static inline uint16_t tgc_f32_to_f16(float f) {
    uint32_t u = tgc_f32_bits(f), sign = (u >> 16) & 0x8000u, a = u & 0x7fffffffu;
    if (a > 0x7f800000u) return (uint16_t)(sign | 0x7e00u);  /* NaN */
    if (a >= 0x477ff000u) return (uint16_t)(sign | 0x7c00u); /* rounds to >= 65520: inf */
    if (a < 0x38800000u) {                                  /* f16 subnormal or zero */
        if (a < 0x33000000u) return (uint16_t)sign;         /* below half the smallest subnormal */
        uint32_t mant = (a & 0x7fffffu) | 0x800000u;
        int shift = 126 - (int)(a >> 23); /* 14..24: aligns to units of 2^-24 */
        uint32_t q = mant >> shift, rem = mant & ((1u << shift) - 1u), half = 1u << (shift - 1);
        if (rem > half || (rem == half && (q & 1u))) q++;
        return (uint16_t)(sign | q);
    }
    uint32_t r = a - 0x38000000u; /* rebias the exponent from 127 to 15 */
    r += 0xfffu + ((r >> 13) & 1u);
    return (uint16_t)(sign | (r >> 13));
}

static inline float tgc_f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16, e = (h >> 10) & 0x1fu, m = h & 0x3ffu;
    if (e == 0x1f) return tgc_bits_f32(sign | 0x7f800000u | (m << 13) | (m ? 0x400000u : 0u));
    if (e == 0) {
        float v = ldexpf((float)m, -24);
        return sign ? -v : v;
    }
    return tgc_bits_f32(sign | ((e + 112u) << 23) | (m << 13));
}

#endif
