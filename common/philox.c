/* common/philox.c - see philox.h. */
#include "common/philox.h"

/* The constants of the Random123 paper: two multipliers, and the Weyl increments (golden ratio and
 * sqrt(3) - 1) that make each round's key different. */
#define PHILOX_M0 0xD2511F53u
#define PHILOX_M1 0xCD9E8D57u
#define PHILOX_W0 0x9E3779B9u
#define PHILOX_W1 0xBB67AE85u

void tgc_philox4x32_10(const uint32_t ctr[4], const uint32_t key[2], uint32_t out[4]) {
    uint32_t c0 = ctr[0], c1 = ctr[1], c2 = ctr[2], c3 = ctr[3];
    uint32_t k0 = key[0], k1 = key[1];
    for (int round = 0; round < 10; round++) {
        if (round > 0) { /* the key schedule advances before every round but the first */
            k0 += PHILOX_W0;
            k1 += PHILOX_W1;
        }
        uint64_t p0 = (uint64_t)PHILOX_M0 * c0;
        uint64_t p1 = (uint64_t)PHILOX_M1 * c2;
        uint32_t hi0 = (uint32_t)(p0 >> 32), lo0 = (uint32_t)p0;
        uint32_t hi1 = (uint32_t)(p1 >> 32), lo1 = (uint32_t)p1;
        c0 = hi1 ^ c1 ^ k0;
        c1 = lo1;
        c2 = hi0 ^ c3 ^ k1;
        c3 = lo0;
    }
    out[0] = c0;
    out[1] = c1;
    out[2] = c2;
    out[3] = c3;
}

void tgc_rng_init(tgc_rng *r, uint64_t seed, uint32_t epoch, uint32_t position, uint32_t stream) {
    r->key[0] = (uint32_t)seed;
    r->key[1] = (uint32_t)(seed >> 32);
    r->ctr[0] = 0; /* draw block number */
    r->ctr[1] = position;
    r->ctr[2] = epoch;
    r->ctr[3] = stream;
    r->used = 4;
}

uint32_t tgc_rng_u32(tgc_rng *r) {
    if (r->used == 4) {
        tgc_philox4x32_10(r->ctr, r->key, r->out);
        r->ctr[0]++;
        r->used = 0;
    }
    return r->out[r->used++];
}

double tgc_rng_uniform(tgc_rng *r) {
    uint64_t hi = tgc_rng_u32(r), lo = tgc_rng_u32(r);
    uint64_t bits = ((hi << 32) | lo) >> 11; /* 53 bits: every value exactly representable */
    return (double)bits * (1.0 / 9007199254740992.0);
}

uint32_t tgc_rng_below(tgc_rng *r, uint32_t n) {
    if (n <= 1) return 0;
    /* Reject the top partial copy of [0, n) in [0, 2^32) so that every result is equally likely. */
    uint32_t limit = (uint32_t)(UINT32_MAX - (UINT32_MAX % n + 1) % n);
    for (;;) {
        uint32_t x = tgc_rng_u32(r);
        if (x <= limit) return x % n;
    }
}
