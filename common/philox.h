/* common/philox.h - the counter-based generator every random draw of tgc comes from (the data loader's
 * shuffling and augmentation, parameter initialisation, the samplers of detection targets), shared by the
 * runtime and the CPU kernels. backend/cuda/kernels/det.cuh has the device copy (tgc_k_philox). */
#ifndef TGC_COMMON_PHILOX_H
#define TGC_COMMON_PHILOX_H

#include <stdint.h>

/* Philox4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3", SC'11): out = the 10-round
 * bijection of ctr under key. */
void tgc_philox4x32_10(const uint32_t ctr[4], const uint32_t key[2], uint32_t out[4]);

/* The stream (counter word 3) of the rcnn_targets op's RoI sampler: runtime/data's TGC_RNG_RCNN_SAMPLE, the
 * CUDA kernel's TGC_K_RCNN_STREAM. */
#define TGC_PHILOX_STREAM_RCNN 7u

#endif
