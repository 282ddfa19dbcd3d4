/* common/philox.h - the counter-based generator every random draw of tgc comes from (the data loader's
 * shuffling and augmentation, parameter initialisation, the samplers of detection targets), shared by the
 * runtime, the detection host library and the CPU kernels. backend/cuda/kernels/det.cuh has the device copy (tgc_k_philox). */
#ifndef TGC_COMMON_PHILOX_H
#define TGC_COMMON_PHILOX_H

#include <stdint.h>

/* Philox4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3", SC'11): out = the 10-round
 * bijection of ctr under key. */
void tgc_philox4x32_10(const uint32_t ctr[4], const uint32_t key[2], uint32_t out[4]);

/* The stream (counter word 3) of the rcnn_targets op's RoI sampler: runtime/data's TGC_RNG_RCNN_SAMPLE, the
 * CUDA kernel's TGC_K_RCNN_STREAM. */
#define TGC_PHILOX_STREAM_RCNN 7u

/* A cursor over the draws of one (seed, epoch, position, stream): counter = {draw block, position, epoch,
 * stream}, key = the seed's two halves. Initialising it is free; it holds no hidden state beyond the draw
 * number, so the same arguments always give the same sequence. */
typedef struct tgc_rng {
    uint32_t key[2];
    uint32_t ctr[4];
    uint32_t out[4]; /* the current block of four draws */
    int used;        /* how many of out[] are consumed (4 = need a new block) */
} tgc_rng;

void tgc_rng_init(tgc_rng *r, uint64_t seed, uint32_t epoch, uint32_t position, uint32_t stream);
uint32_t tgc_rng_u32(tgc_rng *r);
/* Uniform in [0, 1) with 53 random bits (two draws). */
double tgc_rng_uniform(tgc_rng *r);
/* Uniform integer in [0, n), unbiased (rejection); n >= 1. */
uint32_t tgc_rng_below(tgc_rng *r, uint32_t n);

#endif
