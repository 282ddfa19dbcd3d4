/* runtime/data/data_sampler.c - MMEngine's DefaultSampler and MMPretrain's RepeatAugSampler: a per-epoch order,
 * padded and sharded by rank. */
#include "runtime/data/data.h"

#include <stdlib.h>

int tgc_sampler_init(tgc_sampler *s, int n, int shuffle, uint64_t seed, int round_up, int rank, int world,
                     tgc_err *err) {
    if (n < 1) return tgc_fail(err, "sampler: the dataset is empty");
    if (world < 1 || rank < 0 || rank >= world) return tgc_fail(err, "sampler: rank %d is not in a world of %d", rank, world);
    s->n = n;
    s->shuffle = shuffle;
    s->seed = seed;
    s->round_up = round_up;
    s->rank = rank;
    s->world = world;
    s->num_repeats = 0;
    if (round_up) {
        s->num_samples = (int)(((int64_t)n + world - 1) / world);
        s->total = s->num_samples * world;
    } else {
        s->num_samples = n > rank ? (n - rank + world - 1) / world : 0;
        s->total = n;
    }
    return 0;
}

int tgc_sampler_init_repeat(tgc_sampler *s, int n, int shuffle, uint64_t seed, int num_repeats, int rank, int world,
                            tgc_err *err) {
    if (num_repeats < 1 || num_repeats > 64) return tgc_fail(err, "sampler: num_repeats %d is not in 1..64", num_repeats);
    if (tgc_sampler_init(s, n, shuffle, seed, 1, rank, world, err)) return -1;
    if ((int64_t)n * num_repeats > INT32_MAX / 2) return tgc_fail(err, "sampler: %d samples x %d repeats is too many", n, num_repeats);
    s->num_repeats = num_repeats;
    int64_t per_rank = ((int64_t)n * num_repeats + world - 1) / world;
    s->total = (int)(per_rank * world);
    s->num_samples = (int)(((int64_t)n + world - 1) / world); /* RepeatAugSampler keeps ceil(n / world) per rank */
    return 0;
}

void tgc_sampler_epoch(const tgc_sampler *s, uint32_t epoch, int *idx, int *pos) {
    /* The full order is built on every rank (n ints; 240 KB for 60,000 samples) so that every rank agrees
     * on it without communication. */
    int *order = tgc_malloc(sizeof(int) * (size_t)s->n);
    for (int i = 0; i < s->n; i++) order[i] = i;
    if (s->shuffle) {
        tgc_rng r;
        tgc_rng_init(&r, s->seed, epoch, 0, TGC_RNG_SHUFFLE);
        for (int i = s->n - 1; i > 0; i--) { /* Fisher-Yates */
            int j = (int)tgc_rng_below(&r, (uint32_t)i + 1);
            int t = order[i];
            order[i] = order[j];
            order[j] = t;
        }
    }
    /* Position p of the padded order holds order[p % n] (MMEngine repeats the list from the start); with
     * repeats, the repeated list has n * num_repeats entries and its entry q is order[q / num_repeats]. */
    int rep = s->num_repeats > 0 ? s->num_repeats : 1, len = s->n * rep;
    for (int k = 0; k < s->num_samples; k++) {
        int p = s->rank + k * s->world;
        idx[k] = order[(p % len) / rep];
        if (pos) pos[k] = p;
    }
    free(order);
}
