/* backend/cuda/kernels/multi_tensor.h - the launch description of a multi-tensor kernel (PyTorch's
 * multi_tensor_apply): the tensors of one optimizer group, `depth` operands each (sgd: param, grad;
 * sgd_momentum: + momentum buffer; adamw: + exp_avg, exp_avg_sq), cut into chunks of `chunk` elements,
 * one chunk per block. One tgc_mt_list is one launch and travels as a kernel parameter (by value, under
 * the classic 4 KiB limit), so a launch needs no device-side table and no upload; a group larger than
 * one list (more than TGC_MT_MAX_TENSORS tensors or TGC_MT_MAX_BLOCKS chunks) becomes several launches
 * on one stream, a tensor cut between two launches continuing at its next chunk.
 *
 * Plain C (also C++ for nvcc): the executor packs lists on the host, the kernels read them.
 *
 * A tgc optimizer group lies back to back in aligned slots (fuse-optimizer, checked by plan_validate), so
 * the executor may also describe it as ONE tensor of the whole range (padding included, as the CPU runs
 * it); listing the tensors skips the padding. Both are the same kernel. */
#ifndef TGC_CUDA_KERNELS_MULTI_TENSOR_H
#define TGC_CUDA_KERNELS_MULTI_TENSOR_H

#include <stdint.h>
#include <string.h>

#define TGC_MT_MAX_DEPTH 4     /* operands per tensor: adamw's param, grad, exp_avg, exp_avg_sq */
#define TGC_MT_MAX_TENSORS 36  /* tensors per launch (PyTorch's figure for depth 4) */
#define TGC_MT_MAX_BLOCKS 320  /* chunks (= blocks) per launch */
#define TGC_MT_CHUNK 65536     /* elements per chunk: 256 threads x 64 float4s x 4 */
#define TGC_MT_THREADS 256     /* threads per block */

/* One launch: tensor j has numel[j] elements at ptr[0..depth-1][j]; block b updates elements
 * [block_chunk[b] * chunk, +chunk) of tensor block_tensor[b] (clipped to its numel). */
typedef struct tgc_mt_list {
    float *ptr[TGC_MT_MAX_DEPTH][TGC_MT_MAX_TENSORS];
    int64_t numel[TGC_MT_MAX_TENSORS];
    int32_t block_chunk[TGC_MT_MAX_BLOCKS];
    uint8_t block_tensor[TGC_MT_MAX_BLOCKS];
    int32_t chunk; /* a multiple of 4 (the float4 path), TGC_MT_CHUNK unless a test wants small ones */
    int32_t depth, n_tensors, n_blocks;
} tgc_mt_list;

/* One tensor of a group, as the executor knows it: its operands' addresses and its element count. */
typedef struct tgc_mt_tensor {
    float *ptr[TGC_MT_MAX_DEPTH];
    int64_t numel;
} tgc_mt_tensor;

/* Where packing stands: the next tensor and its next chunk. Start from {0, 0}. */
typedef struct tgc_mt_cursor {
    int tensor;
    int64_t chunk;
} tgc_mt_cursor;

/* Fills l with the next launch of the group t[0..n) from *cur on and advances *cur. Returns the launch's
 * block count: 0 when every chunk of every tensor has been handed out (then l is empty), -1 for a depth
 * outside 1..TGC_MT_MAX_DEPTH, a chunk that is not a positive multiple of 4, a negative numel or one of
 * 2^31 chunks or more.
 * Empty tensors take no slot. */
static inline int tgc_mt_pack(tgc_mt_list *l, int depth, int32_t chunk, const tgc_mt_tensor *t, int n,
                              tgc_mt_cursor *cur) {
    memset(l, 0, sizeof *l);
    l->depth = depth;
    l->chunk = chunk;
    if (depth < 1 || depth > TGC_MT_MAX_DEPTH || chunk < 4 || chunk % 4) return -1;
    while (cur->tensor < n && l->n_blocks < TGC_MT_MAX_BLOCKS) {
        const tgc_mt_tensor *x = &t[cur->tensor];
        if (x->numel < 0) return -1;
        int64_t n_chunks = (x->numel + chunk - 1) / chunk;
        if (n_chunks > INT32_MAX) return -1;
        if (cur->chunk >= n_chunks) { /* finished (or empty): the next tensor */
            cur->tensor++;
            cur->chunk = 0;
            continue;
        }
        if (l->n_tensors == TGC_MT_MAX_TENSORS) break;
        int slot = l->n_tensors++;
        for (int d = 0; d < depth; d++) l->ptr[d][slot] = x->ptr[d];
        l->numel[slot] = x->numel;
        while (cur->chunk < n_chunks && l->n_blocks < TGC_MT_MAX_BLOCKS) {
            l->block_tensor[l->n_blocks] = (uint8_t)slot;
            l->block_chunk[l->n_blocks] = (int32_t)cur->chunk;
            l->n_blocks++;
            cur->chunk++;
        }
        if (cur->chunk == n_chunks) {
            cur->tensor++;
            cur->chunk = 0;
        }
    }
    return l->n_blocks;
}

#endif
