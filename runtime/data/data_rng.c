/* runtime/data/data_rng.c - the keyed draw cursor used for shuffling and augmentation (over common/philox.c). */
#include "runtime/data/data.h"

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
