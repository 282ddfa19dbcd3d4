/* backend/cuda/kernels/det.cuh - the detection ops: roi_align (forward, and its backward as a gather), topk,
 * nms_fixed, smooth_l1 and giou_loss (forward, backward), box_iou, box_encode, box_decode, gather,
 * rcnn_targets, as backend/cpu/cpu_roi.c computes them.
 *
 * roi_align repeats the CPU kernel's float arithmetic step for step (written with the _rn intrinsics, so
 * never contracted), so both directions equal it bit for bit. The backward is the CPU's scatter-add turned
 * into a gather: the thread of a dx element walks the RoIs, bins and samples in the CPU's order, skipping
 * samples whose bilinear footprint cannot reach its pixel (a conservative window, then the exact test), and
 * adds the same terms in the same order: deterministic, no atomics. topk and nms_fixed rank with the CPU's
 * total order (score descending, NaN first, ties to the lower index) and compute IoU with its expression.
 * smooth_l1's sum is a fixed tree in double (relative 1e-6 of the CPU's); its backward is elementwise.
 * rcnn_targets ranks each sampled candidate by its Philox key with a count instead of the CPU's sort: the
 * same rows. */
#ifndef TGC_CUDA_KERNELS_DET_CUH
#define TGC_CUDA_KERNELS_DET_CUH

#include <float.h>

#include "backend/cuda/kernels/kcommon.cuh"

#define TGC_K_ROI_MAX_GRID 1024 /* as the CPU kernel: more samples per bin is refused there */
#define TGC_K_ROI_TILE 16      /* roi_align_bwd: a block's pixels, TGC_K_ROI_TILE^2 <= TGC_K_THREADS */

/* ---- roi_align ------------------------------------------------------------------------------------------ */
typedef struct tgc_k_roi_geom {
    int64_t b; /* batch index; -1: another level's RoI (zero row, no gradient); -2: refused (NaN row) */
    float sh, sw, bh, bw, count;
    int64_t gh, gw;
} tgc_k_roi_geom;

TGC_K_DEV tgc_k_roi_geom tgc_k_roi_geom_of(const float *r, int64_t n, int64_t oh, int64_t ow, float scale,
                                           float finest, int32_t sr, int32_t aligned, int32_t level, int32_t levels) {
    tgc_k_roi_geom q;
    const float off = aligned ? 0.5f : 0.0f;
    q.b = (r[0] >= 0.f && r[0] < (float)n && r[0] == floorf(r[0])) ? (int64_t)r[0] : -2;
    if (q.b >= 0 && level >= 0) { /* SingleRoIExtractor's level, as the CPU kernel computes it */
        float v = __fadd_rn(__fdiv_rn(__fsqrt_rn(__fmul_rn(__fsub_rn(r[3], r[1]), __fsub_rn(r[4], r[2]))), finest), 1e-6f);
        int32_t l = 0;
        float p = 2.f;
        while (l < levels - 1 && v >= p) l++, p = __fmul_rn(p, 2.f);
        if (l != level) q.b = -1;
    }
    q.sw = __fsub_rn(__fmul_rn(r[1], scale), off);
    q.sh = __fsub_rn(__fmul_rn(r[2], scale), off);
    float rw = __fsub_rn(__fsub_rn(__fmul_rn(r[3], scale), off), q.sw);
    float rh = __fsub_rn(__fsub_rn(__fmul_rn(r[4], scale), off), q.sh);
    if (!aligned) rw = fmaxf(rw, 1.f), rh = fmaxf(rh, 1.f);
    q.bh = __fdiv_rn(rh, (float)oh);
    q.bw = __fdiv_rn(rw, (float)ow);
    if (sr > 0) {
        q.gh = q.gw = sr;
    } else {
        float gh = ceilf(__fdiv_rn(rh, (float)oh)), gw = ceilf(__fdiv_rn(rw, (float)ow));
        if (!(gh <= TGC_K_ROI_MAX_GRID && gw <= TGC_K_ROI_MAX_GRID)) {
            if (q.b != -1) q.b = -2;
            gh = gw = 0;
        }
        q.gh = gh > 0 ? (int64_t)gh : 0;
        q.gw = gw > 0 ? (int64_t)gw : 0;
    }
    q.count = fmaxf((float)(q.gh * q.gw), 1.f);
    return q;
}

/* Sample iy of bin ph (and likewise along x). */
TGC_K_DEV float tgc_k_roi_pos(float start, int64_t p, float bin, int64_t i, int64_t grid) {
    return __fadd_rn(__fadd_rn(start, __fmul_rn((float)p, bin)), __fdiv_rn(__fmul_rn(__fadd_rn((float)i, .5f), bin), (float)grid));
}

/* The CPU kernel's bilinear(): 0 outside [-1, h] x [-1, w], else the four indices and weights. */
TGC_K_DEV int tgc_k_bilinear(float y, float x, int64_t h, int64_t w, int64_t *idx, float *wt) {
    if (!(y >= -1.f && y <= (float)h && x >= -1.f && x <= (float)w)) return 0;
    if (y <= 0) y = 0;
    if (x <= 0) x = 0;
    int64_t yl = (int64_t)y, xl = (int64_t)x, yh, xh;
    if (yl >= h - 1) yh = yl = h - 1, y = (float)yl;
    else yh = yl + 1;
    if (xl >= w - 1) xh = xl = w - 1, x = (float)xl;
    else xh = xl + 1;
    float ly = __fsub_rn(y, (float)yl), lx = __fsub_rn(x, (float)xl), hy = __fsub_rn(1.f, ly), hx = __fsub_rn(1.f, lx);
    idx[0] = yl * w + xl, idx[1] = yl * w + xh, idx[2] = yh * w + xl, idx[3] = yh * w + xh;
    wt[0] = __fmul_rn(hy, hx), wt[1] = __fmul_rn(hy, lx), wt[2] = __fmul_rn(ly, hx), wt[3] = __fmul_rn(ly, lx);
    return 1;
}

TGC_KERNEL(tgc_k_roi_align, tgc_k_roi_args, a, TGC_K_THREADS) {
    const int64_t total = a.k * a.c * a.oh * a.ow;
    for (int64_t e = tgc_k_gtid(); e < total; e += tgc_k_gstride()) {
        const int64_t pw = e % a.ow, ph = (e / a.ow) % a.oh, ch = (e / (a.ow * a.oh)) % a.c, r = e / (a.ow * a.oh * a.c);
        tgc_k_roi_geom q = tgc_k_roi_geom_of(a.rois + r * 5, a.n, a.oh, a.ow, a.spatial_scale, a.finest_scale,
                                             a.sampling_ratio, a.aligned, a.roi_level, a.num_levels);
        if (q.b < 0) {
            a.y[e] = q.b == -1 ? 0.f : NAN;
            continue;
        }
        const float *x = a.x + (q.b * a.c + ch) * a.h * a.w;
        float acc = 0;
        for (int64_t iy = 0; iy < q.gh; iy++) {
            float yy = tgc_k_roi_pos(q.sh, ph, q.bh, iy, q.gh);
            for (int64_t ix = 0; ix < q.gw; ix++) {
                float xx = tgc_k_roi_pos(q.sw, pw, q.bw, ix, q.gw);
                int64_t idx[4];
                float wt[4];
                if (!tgc_k_bilinear(yy, xx, a.h, a.w, idx, wt)) continue;
                float v = __fadd_rn(__fadd_rn(__fadd_rn(__fmul_rn(wt[0], x[idx[0]]), __fmul_rn(wt[1], x[idx[1]])),
                                              __fmul_rn(wt[2], x[idx[2]])),
                                    __fmul_rn(wt[3], x[idx[3]]));
                acc = __fadd_rn(acc, v);
            }
        }
        a.y[e] = __fdiv_rn(acc, q.count);
    }
}

/* The samples s = bin * grid + i (along one axis, s in [0, bins*grid)) that may reach pixel row p: those
 * within 3 pixels of it (a bilinear footprint is 2 pixels, clamping moves a sample by at most 1), one
 * sample more each side for rounding; every sample when the bin is empty or reversed. */
TGC_K_DEV void tgc_k_roi_window(float start, float bin, int64_t grid, int64_t bins, int64_t p, int64_t *lo, int64_t *hi) {
    *lo = 0, *hi = bins * grid - 1;
    if (!(bin > 1e-6f)) return;
    double step = (double)bin / (double)grid;
    double a = ((double)p - 3.0 - (double)start) / step - 0.5, b = ((double)p + 3.0 - (double)start) / step - 0.5;
    if (a > (double)*lo) *lo = a > (double)*hi ? *hi + 1 : (int64_t)floor(a) - 1;
    if (b < (double)*hi) *hi = b < 0 ? -1 : (int64_t)ceil(b) + 1;
    if (*lo < 0) *lo = 0;
    if (*hi > bins * grid - 1) *hi = bins * grid - 1;
}

/* Whether RoI q's samples can reach any pixel of rows [y0, y1] x columns [x0, x1]: its sample span widened by 3
 * pixels (as tgc_k_roi_window), the whole map when a bin is empty, reversed or NaN. */
TGC_K_DEV int tgc_k_roi_reaches(tgc_k_roi_geom q, int64_t oh, int64_t ow, int64_t y0, int64_t y1, int64_t x0, int64_t x1) {
    if (q.bh > 1e-6f) {
        double lo = (double)q.sh - 3.0, hi = (double)q.sh + (double)q.bh * (double)oh + 3.0;
        if (hi < (double)y0 || lo > (double)y1) return 0;
    }
    if (q.bw > 1e-6f) {
        double lo = (double)q.sw - 3.0, hi = (double)q.sw + (double)q.bw * (double)ow + 3.0;
        if (hi < (double)x0 || lo > (double)x1) return 0;
    }
    return 1;
}

/* Exclusive prefix sum of v over the block (in thread order) and the block's total; sh: TGC_SHARED int32_t[32].
 * Barriers inside: every thread of the block calls. */
TGC_K_DEV int32_t tgc_k_block_scan(int32_t v, int32_t *sh, int32_t *total) {
    const unsigned tid = tgc_k_tid(), lane = tid & 31u, warp = tid >> 5, nw = (blockDim.x * blockDim.y * blockDim.z) >> 5;
    int32_t x = v;
    for (int o = 1; o < 32; o <<= 1) {
        int32_t y = __shfl_up_sync(TGC_K_FULL_MASK, x, o);
        if ((int)lane >= o) x += y;
    }
    if (lane == 31u) sh[warp] = x;
    __syncthreads();
    int32_t base = 0, all = 0;
    for (unsigned w = 0; w < nw; w++) {
        if (w < warp) base += sh[w];
        all += sh[w];
    }
    __syncthreads();
    *total = all;
    return base + x - v;
}

/* The terms of RoI q (dy: its [oh, ow] plane of the channel) in dx pixel `pix` (row py, column px) of an h x w map:
 * every sample that may reach it, in the CPU kernel's order (bin, sample, corner), added to acc. */
TGC_K_DEV float tgc_k_roi_bwd_pixel(const float *dy, int64_t oh, int64_t ow, int64_t h, int64_t w, tgc_k_roi_geom q,
                                    int64_t py, int64_t px, int64_t pix, float acc) {
    int64_t ylo, yhi, xlo, xhi;
    tgc_k_roi_window(q.sh, q.bh, q.gh, oh, py, &ylo, &yhi);
    tgc_k_roi_window(q.sw, q.bw, q.gw, ow, px, &xlo, &xhi);
    if (ylo > yhi || xlo > xhi) return acc;
    for (int64_t ph = ylo / q.gh; ph <= yhi / q.gh; ph++)
        for (int64_t pw = xlo / q.gw; pw <= xhi / q.gw; pw++) {
            const float g = dy[ph * ow + pw];
            const int64_t iy0 = tgc_k_max64(0, ylo - ph * q.gh), iy1 = tgc_k_min64(q.gh - 1, yhi - ph * q.gh);
            const int64_t ix0 = tgc_k_max64(0, xlo - pw * q.gw), ix1 = tgc_k_min64(q.gw - 1, xhi - pw * q.gw);
            for (int64_t iy = iy0; iy <= iy1; iy++) {
                float yy = tgc_k_roi_pos(q.sh, ph, q.bh, iy, q.gh);
                for (int64_t ix = ix0; ix <= ix1; ix++) {
                    float xx = tgc_k_roi_pos(q.sw, pw, q.bw, ix, q.gw);
                    int64_t idx[4];
                    float wt[4];
                    if (!tgc_k_bilinear(yy, xx, h, w, idx, wt)) continue;
                    for (int t = 0; t < 4; t++)
                        if (idx[t] == pix) acc = __fadd_rn(acc, __fdiv_rn(__fmul_rn(g, wt[t]), q.count));
                }
            }
        }
    return acc;
}

/* One block per (plane, 16 x 16 tile of pixels), grid-stride over them: the block lists, TGC_K_THREADS RoIs at a
 * time and in RoI order, those of its image whose samples may reach the tile, then each thread gathers its
 * pixel's terms from the listed RoIs (tgc_k_roi_bwd_pixel): the CPU's order, so its bits, and the work per
 * pixel proportional to the RoIs near it rather than to all of them (geometry: tgc_k_geom_roi_bwd). */
TGC_KERNEL(tgc_k_roi_align_bwd, tgc_k_roi_args, a, TGC_K_THREADS) {
    TGC_SHARED(int32_t, scan, 32);
    TGC_SHARED(int32_t, list, TGC_K_THREADS);
    const unsigned tid = tgc_k_tid(), nt = blockDim.x * blockDim.y * blockDim.z;
    const int64_t tiles_x = (a.w + TGC_K_ROI_TILE - 1) / TGC_K_ROI_TILE, tiles = tiles_x * ((a.h + TGC_K_ROI_TILE - 1) / TGC_K_ROI_TILE);
    for (int64_t e = blockIdx.x; e < a.n * a.c * tiles; e += gridDim.x) {
        const int64_t plane = e / tiles, tile = e % tiles, b = plane / a.c, ch = plane % a.c;
        const int64_t y0 = tile / tiles_x * TGC_K_ROI_TILE, x0 = tile % tiles_x * TGC_K_ROI_TILE;
        const int64_t py = y0 + tid / TGC_K_ROI_TILE, px = x0 + tid % TGC_K_ROI_TILE, pix = py * a.w + px;
        const int inside = tid < TGC_K_ROI_TILE * TGC_K_ROI_TILE && py < a.h && px < a.w;
        float acc = 0;
        for (int64_t r0 = 0; r0 < a.k; r0 += nt) {
            int32_t keep = 0;
            if (r0 + tid < a.k) {
                tgc_k_roi_geom q = tgc_k_roi_geom_of(a.rois + (r0 + tid) * 5, a.n, a.oh, a.ow, a.spatial_scale,
                                                     a.finest_scale, a.sampling_ratio, a.aligned, a.roi_level, a.num_levels);
                keep = q.b == b && q.gh > 0 && q.gw > 0 &&
                       tgc_k_roi_reaches(q, a.oh, a.ow, y0, tgc_k_min64(y0 + TGC_K_ROI_TILE, a.h) - 1, x0,
                                         tgc_k_min64(x0 + TGC_K_ROI_TILE, a.w) - 1);
            }
            int32_t total;
            const int32_t at = tgc_k_block_scan(keep, scan, &total);
            if (keep) list[at] = (int32_t)(r0 + tid);
            __syncthreads();
            if (inside)
                for (int32_t j = 0; j < total; j++) {
                    const int64_t r = list[j];
                    tgc_k_roi_geom q = tgc_k_roi_geom_of(a.rois + r * 5, a.n, a.oh, a.ow, a.spatial_scale, a.finest_scale,
                                                         a.sampling_ratio, a.aligned, a.roi_level, a.num_levels);
                    acc = tgc_k_roi_bwd_pixel(a.dy + (r * a.c + ch) * a.oh * a.ow, a.oh, a.ow, a.h, a.w, q, py, px, pix, acc);
                }
            __syncthreads(); /* the list is rewritten by the next round */
        }
        if (inside) a.y[(b * a.c + ch) * a.h * a.w + pix] = acc;
    }
}

/* ---- ranking (topk, nms_fixed) ---------------------------------------------------------------------------- */
/* Whether (av, ai) ranks before (bv, bi): NaN first, then larger values, ties to the lower index. */
TGC_K_DEV int tgc_k_ranks_before(float av, int64_t ai, float bv, int64_t bi) {
    int na = isnan(av) != 0, nb = isnan(bv) != 0;
    if (na != nb) return na;
    if (!na && av != bv) return av > bv;
    return ai < bi;
}

/* The block's first-ranked (v, i) among the threads' candidates (i < 0: none), with sv/si TGC_SHARED scratch of
 * blockDim.x entries; every thread gets it. Barriers inside: every thread of the block calls. */
TGC_K_DEV int64_t tgc_k_block_best(float v, int64_t i, float *sv, int64_t *si, float *out_v) {
    const unsigned tid = tgc_k_tid(), nt = blockDim.x * blockDim.y * blockDim.z;
    sv[tid] = v, si[tid] = i;
    __syncthreads();
    for (unsigned half = nt / 2; half > 0; half /= 2) { /* a fixed tree over the block (nt a power of two) */
        if (tid < half) {
            float ov = sv[tid + half];
            int64_t oi = si[tid + half];
            if (oi >= 0 && (si[tid] < 0 || tgc_k_ranks_before(ov, oi, sv[tid], si[tid]))) sv[tid] = ov, si[tid] = oi;
        }
        __syncthreads();
    }
    int64_t best = si[0];
    *out_v = sv[0];
    __syncthreads();
    return best;
}

TGC_KERNEL(tgc_k_topk, tgc_k_topk_args, a, TGC_K_THREADS) {
    TGC_SHARED(float, sv, TGC_K_THREADS);
    TGC_SHARED(int64_t, si, TGC_K_THREADS);
    for (int64_t row = blockIdx.x; row < a.rows; row += gridDim.x) {
        const float *x = a.x + row * a.n;
        float pv = 0;
        int64_t pi = -1; /* the last one taken */
        for (int64_t t = 0; t < a.k; t++) {
            float bv = 0;
            int64_t bi = -1;
            for (int64_t j = threadIdx.x; j < a.n; j += blockDim.x)
                if ((pi < 0 || tgc_k_ranks_before(pv, pi, x[j], j)) && (bi < 0 || tgc_k_ranks_before(x[j], j, bv, bi)))
                    bv = x[j], bi = j;
            pi = tgc_k_block_best(bv, bi, sv, si, &pv);
            if (threadIdx.x == 0) a.vals[row * a.k + t] = pv, a.idx[row * a.k + t] = (int32_t)pi;
        }
    }
}

TGC_KERNEL(tgc_k_nms, tgc_k_nms_args, a, TGC_K_THREADS) {
    TGC_SHARED(float, sv, TGC_K_THREADS);
    TGC_SHARED(int64_t, si, TGC_K_THREADS);
    TGC_SHARED(int32_t, hit, 1);
    for (int64_t img = blockIdx.x; img < a.b; img += gridDim.x) {
        const float *bx = a.boxes + img * a.n * 4, *sc = a.scores + img * a.n;
        const int32_t *id = a.ids + img * a.n;
        int32_t *keep = a.keep + img * a.k;
        float pv = 0;
        int64_t pi = -1, kept = 0;
        while (kept < a.k) {
            float bv = 0;
            int64_t bi = -1;
            for (int64_t j = threadIdx.x; j < a.n; j += blockDim.x) {
                float s = sc[j];
                if (isnan(s) || s == -INFINITY) continue; /* padding */
                if ((pi < 0 || tgc_k_ranks_before(pv, pi, s, j)) && (bi < 0 || tgc_k_ranks_before(s, j, bv, bi))) bv = s, bi = j;
            }
            pi = tgc_k_block_best(bv, bi, sv, si, &pv);
            if (pi < 0) break;
            if (threadIdx.x == 0) hit[0] = 0;
            __syncthreads();
            const float *bt = bx + pi * 4;
            const float at = __fmul_rn(__fsub_rn(bt[2], bt[0]), __fsub_rn(bt[3], bt[1]));
            for (int64_t q = threadIdx.x; q < kept; q += blockDim.x) {
                const int64_t i = keep[q];
                if (id[i] != id[pi]) continue;
                const float *bi4 = bx + i * 4;
                const float ai = __fmul_rn(__fsub_rn(bi4[2], bi4[0]), __fsub_rn(bi4[3], bi4[1]));
                float w = fmaxf(0.f, __fsub_rn(fminf(bi4[2], bt[2]), fmaxf(bi4[0], bt[0])));
                float h = fmaxf(0.f, __fsub_rn(fminf(bi4[3], bt[3]), fmaxf(bi4[1], bt[1])));
                float inter = __fmul_rn(w, h), ovr = __fdiv_rn(inter, __fsub_rn(__fadd_rn(ai, at), inter));
                if ((double)ovr > a.iou_threshold) hit[0] = 1; /* every writer writes 1 */
            }
            __syncthreads();
            const int32_t suppressed = hit[0];
            __syncthreads();
            if (!suppressed) {
                if (threadIdx.x == 0) keep[kept] = (int32_t)pi;
                kept++;
                __syncthreads(); /* the new kept index is visible to the next candidate's check */
            }
        }
        for (int64_t q = kept + threadIdx.x; q < a.k; q += blockDim.x) keep[q] = -1;
        if (threadIdx.x == 0) a.count[img] = (int32_t)kept;
        __syncthreads();
    }
}

/* ---- boxes, gather -------------------------------------------------------------------------------------- */
TGC_KERNEL(tgc_k_box_iou, tgc_k_box_args, a, TGC_K_THREADS) {
    const int64_t total = a.boxes * a.m;
    for (int64_t e = tgc_k_gtid(); e < total; e += tgc_k_gstride()) {
        const int64_t r = e / a.m, img = r / a.per_image;
        const float *p = a.a + r * 4, *q = a.b + (img * a.m + e % a.m) * 4;
        float ap = __fmul_rn(__fsub_rn(p[2], p[0]), __fsub_rn(p[3], p[1]));
        float aq = __fmul_rn(__fsub_rn(q[2], q[0]), __fsub_rn(q[3], q[1]));
        float w = fmaxf(__fsub_rn(fminf(p[2], q[2]), fmaxf(p[0], q[0])), 0.f);
        float h = fmaxf(__fsub_rn(fminf(p[3], q[3]), fmaxf(p[1], q[1])), 0.f);
        float ov = __fmul_rn(w, h), un = fmaxf(__fsub_rn(__fadd_rn(ap, aq), ov), a.eps);
        a.y[e] = __fdiv_rn(ov, un);
    }
}

TGC_KERNEL(tgc_k_box_encode, tgc_k_box_args, a, TGC_K_THREADS) {
    for (int64_t i = tgc_k_gtid(); i < a.boxes; i += tgc_k_gstride()) {
        const float *p = a.a + i * 4, *g = a.b + i * 4;
        float px = __fmul_rn(__fadd_rn(p[0], p[2]), 0.5f), py = __fmul_rn(__fadd_rn(p[1], p[3]), 0.5f);
        float pw = __fsub_rn(p[2], p[0]), ph = __fsub_rn(p[3], p[1]);
        float gx = __fmul_rn(__fadd_rn(g[0], g[2]), 0.5f), gy = __fmul_rn(__fadd_rn(g[1], g[3]), 0.5f);
        float gw = __fsub_rn(g[2], g[0]), gh = __fsub_rn(g[3], g[1]);
        float d[4];
        d[0] = __fdiv_rn(__fsub_rn(gx, px), pw);
        d[1] = __fdiv_rn(__fsub_rn(gy, py), ph);
        d[2] = (float)log((double)__fdiv_rn(gw, pw));
        d[3] = (float)log((double)__fdiv_rn(gh, ph));
        for (int k = 0; k < 4; k++) a.y[i * 4 + k] = __fdiv_rn(__fsub_rn(d[k], a.means[k]), a.stds[k]);
    }
}

/* DeltaXYWHBBoxCoder.decode of the box r by the deltas dl, clipped to ms (h, w) where clip (cpu_roi.c's
 * decode_one): box_decode's and anchor_decode's. */
TGC_K_DEV void tgc_k_delta_decode(const float *r, const float *dl, const float *ms, const float *means, const float *stds,
                                  float max_ratio, int32_t clip, float *out) {
    float d[4], b[4];
    for (int k = 0; k < 4; k++) d[k] = __fadd_rn(__fmul_rn(dl[k], stds[k]), means[k]);
    float px = __fmul_rn(__fadd_rn(r[0], r[2]), 0.5f), py = __fmul_rn(__fadd_rn(r[1], r[3]), 0.5f);
    float pw = __fsub_rn(r[2], r[0]), ph = __fsub_rn(r[3], r[1]);
    float dw = fminf(fmaxf(d[2], -max_ratio), max_ratio), dh = fminf(fmaxf(d[3], -max_ratio), max_ratio);
    float gx = __fadd_rn(px, __fmul_rn(pw, d[0])), gy = __fadd_rn(py, __fmul_rn(ph, d[1]));
    float gw = __fmul_rn(pw, (float)exp((double)dw)), gh = __fmul_rn(ph, (float)exp((double)dh));
    b[0] = __fsub_rn(gx, __fmul_rn(gw, 0.5f)), b[1] = __fsub_rn(gy, __fmul_rn(gh, 0.5f));
    b[2] = __fadd_rn(gx, __fmul_rn(gw, 0.5f)), b[3] = __fadd_rn(gy, __fmul_rn(gh, 0.5f));
    for (int k = 0; k < 4; k++) out[k] = clip ? fminf(fmaxf(b[k], 0.f), ms[k % 2 ? 0 : 1]) : b[k];
}

TGC_KERNEL(tgc_k_box_decode, tgc_k_box_args, a, TGC_K_THREADS) {
    for (int64_t i = tgc_k_gtid(); i < a.boxes; i += tgc_k_gstride())
        tgc_k_delta_decode(a.a + i * 4, a.b + i * 4, a.max_shape + (i / a.per_image) * 2, a.means, a.stds, a.max_ratio,
                           a.clip, a.y + i * 4);
}

TGC_KERNEL(tgc_k_gather, tgc_k_gather_args, a, TGC_K_THREADS) {
    const int64_t total = a.b * a.m * a.inner;
    for (int64_t e = tgc_k_gtid(); e < total; e += tgc_k_gstride()) {
        const int64_t row = e / a.inner, img = row / a.m;
        const int32_t ix = a.idx[row];
        a.y[e] = ix == -1 ? a.fill : (ix < -1 || ix >= a.n) ? a.bad : a.x[(img * a.n + ix) * a.inner + e % a.inner];
    }
}

/* ---- giou_loss ------------------------------------------------------------------------------------------- */
typedef struct tgc_k_giou_box {
    float ap, iw_raw, ih_raw, iw, ih, ov, un_raw, un, ew_raw, eh_raw, ew, eh, ea_raw, ea, loss;
} tgc_k_giou_box;

TGC_K_DEV tgc_k_giou_box tgc_k_giou_fwd(const float *p, const float *t, float eps) {
    tgc_k_giou_box b;
    b.ap = __fmul_rn(__fsub_rn(p[2], p[0]), __fsub_rn(p[3], p[1]));
    float at = __fmul_rn(__fsub_rn(t[2], t[0]), __fsub_rn(t[3], t[1]));
    b.iw_raw = __fsub_rn(fminf(p[2], t[2]), fmaxf(p[0], t[0]));
    b.ih_raw = __fsub_rn(fminf(p[3], t[3]), fmaxf(p[1], t[1]));
    b.iw = fmaxf(b.iw_raw, 0.f), b.ih = fmaxf(b.ih_raw, 0.f);
    b.ov = __fmul_rn(b.iw, b.ih);
    b.un_raw = __fsub_rn(__fadd_rn(b.ap, at), b.ov);
    b.ew_raw = __fsub_rn(fmaxf(p[2], t[2]), fminf(p[0], t[0]));
    b.eh_raw = __fsub_rn(fmaxf(p[3], t[3]), fminf(p[1], t[1]));
    b.un = fmaxf(b.un_raw, eps);
    float iou = __fdiv_rn(b.ov, b.un);
    b.ew = fmaxf(b.ew_raw, 0.f), b.eh = fmaxf(b.eh_raw, 0.f);
    b.ea_raw = __fmul_rn(b.ew, b.eh);
    b.ea = fmaxf(b.ea_raw, eps);
    float giou = __fsub_rn(iou, __fdiv_rn(__fsub_rn(b.ea, b.un), b.ea));
    b.loss = __fsub_rn(1.f, giou);
    return b;
}

TGC_K_DEV double tgc_k_dmax(float a, float b) { return a > b ? 1.0 : a == b ? 0.5 : 0.0; }
TGC_K_DEV double tgc_k_dmin(float a, float b) { return a < b ? 1.0 : a == b ? 0.5 : 0.0; }

TGC_KERNEL(tgc_k_giou_loss, tgc_k_giou_args, a, TGC_K_THREADS) {
    TGC_SHARED(double, sh, 32);
    double s = 0;
    for (int64_t i = threadIdx.x; i < a.boxes; i += blockDim.x)
        if (a.w[i] != 0) s = __dadd_rn(s, __dmul_rn((double)a.w[i], (double)tgc_k_giou_fwd(a.p + i * 4, a.t + i * 4, a.eps).loss));
    s = tgc_k_block_sum(s, sh);
    if (threadIdx.x == 0) a.loss[0] = (float)__ddiv_rn(__dmul_rn(a.alpha, s), __dadd_rn((double)a.avg[0], (double)FLT_EPSILON));
}

TGC_KERNEL(tgc_k_giou_loss_bwd, tgc_k_giou_args, a, TGC_K_THREADS) {
    const double scale = __ddiv_rn(__dmul_rn((double)a.dloss[0], a.alpha), __dadd_rn((double)a.avg[0], (double)FLT_EPSILON));
    for (int64_t i = tgc_k_gtid(); i < a.boxes; i += tgc_k_gstride()) {
        const float *p = a.p + i * 4, *t = a.t + i * 4;
        double d0 = 0, d1 = 0, d2 = 0, d3 = 0;
        if (a.w[i] != 0) {
            const double g = __dmul_rn(scale, (double)a.w[i]);
            tgc_k_giou_box b = tgc_k_giou_fwd(p, t, a.eps);
            const double un = b.un, ea = b.ea, ov = b.ov;
            double g_ov = __ddiv_rn(-g, un);
            const double g_un = __dmul_rn(g, __dsub_rn(__ddiv_rn(ov, __dmul_rn(un, un)), __ddiv_rn(1.0, ea)));
            const double g_ea = __ddiv_rn(__dmul_rn(g, un), __dmul_rn(ea, ea));
            const double g_unraw = __dmul_rn(g_un, tgc_k_dmax(b.un_raw, a.eps)), g_ap = g_unraw;
            g_ov = __dsub_rn(g_ov, g_unraw);
            const double g_iw = b.iw_raw >= 0 ? __dmul_rn(g_ov, (double)b.ih) : 0, g_ih = b.ih_raw >= 0 ? __dmul_rn(g_ov, (double)b.iw) : 0;
            const double g_earaw = __dmul_rn(g_ea, tgc_k_dmax(b.ea_raw, a.eps));
            const double g_ew = b.ew_raw >= 0 ? __dmul_rn(g_earaw, (double)b.eh) : 0, g_eh = b.eh_raw >= 0 ? __dmul_rn(g_earaw, (double)b.ew) : 0;
            const double hh = (double)__fsub_rn(p[3], p[1]), ww = (double)__fsub_rn(p[2], p[0]);
            d0 = __dsub_rn(__dsub_rn(__dmul_rn(-g_iw, tgc_k_dmax(p[0], t[0])), __dmul_rn(g_ew, tgc_k_dmin(p[0], t[0]))), __dmul_rn(g_ap, hh));
            d1 = __dsub_rn(__dsub_rn(__dmul_rn(-g_ih, tgc_k_dmax(p[1], t[1])), __dmul_rn(g_eh, tgc_k_dmin(p[1], t[1]))), __dmul_rn(g_ap, ww));
            d2 = __dadd_rn(__dadd_rn(__dmul_rn(g_iw, tgc_k_dmin(p[2], t[2])), __dmul_rn(g_ew, tgc_k_dmax(p[2], t[2]))), __dmul_rn(g_ap, hh));
            d3 = __dadd_rn(__dadd_rn(__dmul_rn(g_ih, tgc_k_dmin(p[3], t[3])), __dmul_rn(g_eh, tgc_k_dmax(p[3], t[3]))), __dmul_rn(g_ap, ww));
        }
        a.dp[i * 4] = (float)d0, a.dp[i * 4 + 1] = (float)d1, a.dp[i * 4 + 2] = (float)d2, a.dp[i * 4 + 3] = (float)d3;
    }
}

/* ---- smooth_l1 -------------------------------------------------------------------------------------------- */
TGC_K_DEV double tgc_k_sl1(double d, double beta) {
    double ad = fabs(d);
    return ad < beta ? __ddiv_rn(__dmul_rn(__dmul_rn(0.5, d), d), beta) : __dsub_rn(ad, __dmul_rn(0.5, beta));
}

TGC_KERNEL(tgc_k_smooth_l1, tgc_k_sl1_args, a, TGC_K_THREADS) {
    TGC_SHARED(double, sh, 32);
    double s = 0;
    for (int64_t i = threadIdx.x; i < a.n; i += blockDim.x)
        if (a.w[i] != 0) s = __dadd_rn(s, __dmul_rn((double)a.w[i], tgc_k_sl1(__dsub_rn((double)a.p[i], (double)a.t[i]), a.beta)));
    s = tgc_k_block_sum(s, sh);
    if (threadIdx.x == 0) a.loss[0] = (float)__ddiv_rn(__dmul_rn(a.alpha, s), __dadd_rn((double)a.avg[0], (double)FLT_EPSILON));
}

TGC_KERNEL(tgc_k_smooth_l1_bwd, tgc_k_sl1_args, a, TGC_K_THREADS) {
    const double scale = __ddiv_rn(__dmul_rn((double)a.dloss[0], a.alpha), __dadd_rn((double)a.avg[0], (double)FLT_EPSILON));
    for (int64_t i = tgc_k_gtid(); i < a.n; i += tgc_k_gstride()) {
        double d = __dsub_rn((double)a.p[i], (double)a.t[i]);
        double g = fabs(d) < a.beta ? __ddiv_rn(d, a.beta) : (double)((d > 0) - (d < 0));
        a.dp[i] = a.w[i] != 0 ? (float)__dmul_rn(__dmul_rn(scale, (double)a.w[i]), g) : 0.f;
    }
}

/* ---- rcnn_targets ---------------------------------------------------------------------------------------- */
/* Philox4x32-10 (common/philox.c): the first two words of the block of counter (c0, c1, c2, c3) under key (k0, k1). */
TGC_K_DEV uint64_t tgc_k_philox_hi64(uint32_t c0, uint32_t c1, uint32_t c2, uint32_t c3, uint32_t k0, uint32_t k1) {
    for (int round = 0; round < 10; round++) {
        if (round > 0) k0 += 0x9E3779B9u, k1 += 0xBB67AE85u;
        const uint64_t p0 = (uint64_t)0xD2511F53u * c0, p1 = (uint64_t)0xCD9E8D57u * c2;
        const uint32_t n0 = (uint32_t)(p1 >> 32) ^ c1 ^ k0, n2 = (uint32_t)(p0 >> 32) ^ c3 ^ k1;
        c1 = (uint32_t)p1, c3 = (uint32_t)p0, c0 = n0, c2 = n2;
    }
    return ((uint64_t)c0 << 32) | c1;
}

/* bbox_overlaps(gt, proposal), mode iou, eps 1e-6, as the CPU kernel. */
TGC_K_DEV float tgc_k_rcnn_iou(const float *g, const float *p) {
    float ag = __fmul_rn(__fsub_rn(g[2], g[0]), __fsub_rn(g[3], g[1])), ap = __fmul_rn(__fsub_rn(p[2], p[0]), __fsub_rn(p[3], p[1]));
    float w = fmaxf(__fsub_rn(fminf(g[2], p[2]), fmaxf(g[0], p[0])), 0.f), h = fmaxf(__fsub_rn(fminf(g[3], p[3]), fmaxf(g[1], p[1])), 0.f);
    float ov = __fmul_rn(w, h), un = fmaxf(__fsub_rn(__fadd_rn(ag, ap), ov), 1e-6f);
    return __fdiv_rn(ov, un);
}

/* Proposal p's class (2 positive, 1 negative, 0 ignored: the workspace's coding) and a positive's gt slot. */
TGC_K_DEV uint32_t tgc_k_rcnn_assign(tgc_k_rcnn_args a, const float *p, const float *gb, const int32_t *gl, int32_t ng,
                                     const float *gtmax, uint32_t *gt) {
    if (ng == 0) return 1;
    float best = -1;
    int64_t arg = -1;
    for (int64_t g = 0; g < a.g; g++) {
        if (gl[g] < 0) continue;
        const float v = tgc_k_rcnn_iou(gb + g * 4, p);
        if (v > best || arg < 0) best = v, arg = g;
    }
    uint32_t cls = 0;
    if (best >= 0.f && best < a.neg_iou_thr) cls = 1;
    if (best >= a.pos_iou_thr) cls = 2, *gt = (uint32_t)arg;
    if (a.match_low_quality)
        for (int64_t g = a.g - 1; g >= 0; g--)
            if (gl[g] >= 0 && gtmax[g] >= a.min_pos_iou && gtmax[g] > 0 && tgc_k_rcnn_iou(gb + g * 4, p) == gtmax[g]) {
                cls = 2, *gt = (uint32_t)g;
                break;
            }
    return cls;
}

TGC_KERNEL(tgc_k_rcnn_targets, tgc_k_rcnn_args, a, TGC_K_THREADS) {
    TGC_SHARED(int32_t, scan, 32);
    const unsigned tid = tgc_k_tid(), nt = blockDim.x * blockDim.y * blockDim.z;
    const int64_t nc = a.g + a.p;
    for (int64_t img = blockIdx.x; img < a.b; img += gridDim.x) {
        const float *pr = a.proposals + img * a.p * 4, *gb = a.gt_bboxes + img * a.g * 4;
        const int32_t *gl = a.gt_labels + img * a.g, *rg = a.rng + img * 4;
        float *gtmax = (float *)(a.ws + img * (a.g + 4 * nc));
        uint32_t *cls = a.ws + img * (a.g + 4 * nc) + a.g, *gti = cls + nc, *khi = gti + nc, *klo = khi + nc;
        const int64_t cnt = tgc_k_min64(tgc_k_max64(a.count[img], 0), a.p);
        int32_t ng = 0;
        for (int64_t g = 0; g < a.g; g++) ng += gl[g] >= 0;
        for (int64_t g = tid; a.match_low_quality && g < a.g; g += nt) {
            float m = -1;
            for (int64_t i = 0; gl[g] >= 0 && i < cnt; i++) {
                const float v = tgc_k_rcnn_iou(gb + g * 4, pr + i * 4);
                if (v > m) m = v;
            }
            gtmax[g] = m;
        }
        __syncthreads();
        int32_t my_pos = 0, my_neg = 0;
        for (int64_t c = tid; c < nc; c += nt) {
            uint32_t cl = 0, gt = 0;
            if (c < a.g) {
                if (a.add_gt && gl[c] >= 0) cl = 2, gt = (uint32_t)c;
            } else if (c - a.g < cnt) {
                cl = tgc_k_rcnn_assign(a, pr + (c - a.g) * 4, gb, gl, ng, gtmax, &gt);
            }
            const uint64_t key = tgc_k_philox_hi64((uint32_t)c, (uint32_t)rg[3], (uint32_t)rg[2], TGC_K_RCNN_STREAM,
                                                   (uint32_t)rg[0], (uint32_t)rg[1]);
            cls[c] = cl, gti[c] = gt, khi[c] = (uint32_t)(key >> 32), klo[c] = (uint32_t)key;
            my_pos += cl == 2, my_neg += cl == 1;
        }
        __syncthreads();
        int32_t tot_pos, tot_neg;
        tgc_k_block_scan(my_pos, scan, &tot_pos);
        tgc_k_block_scan(my_neg, scan, &tot_neg);
        const int64_t npos = tgc_k_min64(tot_pos, a.quota), nneg = tgc_k_min64(tot_neg, a.k - npos);
        for (int64_t c = tid; c < nc; c += nt) {
            const uint32_t cl = cls[c];
            if (cl == 0) continue;
            const uint64_t key = ((uint64_t)khi[c] << 32) | klo[c];
            int64_t rank = 0;
            for (int64_t d = 0; d < nc; d++) {
                const uint64_t kd = ((uint64_t)khi[d] << 32) | klo[d];
                rank += cls[d] == cl && (kd < key || (kd == key && d < c));
            }
            if (rank >= (cl == 2 ? npos : nneg)) continue;
            const int64_t row = img * a.k + (cl == 2 ? rank : npos + rank);
            const float *box = c < a.g ? gb + c * 4 : pr + (c - a.g) * 4;
            float *roi = a.rois + row * 5, *t = a.bbox_targets + row * 4;
            roi[0] = (float)img;
            for (int q = 0; q < 4; q++) roi[1 + q] = box[q], t[q] = 0.f;
            if (cl == 2) {
                const float *g = gb + gti[c] * 4;
                float px = __fmul_rn(__fadd_rn(box[0], box[2]), 0.5f), py = __fmul_rn(__fadd_rn(box[1], box[3]), 0.5f);
                float pw = __fsub_rn(box[2], box[0]), ph = __fsub_rn(box[3], box[1]);
                float gx = __fmul_rn(__fadd_rn(g[0], g[2]), 0.5f), gy = __fmul_rn(__fadd_rn(g[1], g[3]), 0.5f);
                float gw = __fsub_rn(g[2], g[0]), gh = __fsub_rn(g[3], g[1]);
                float d[4];
                d[0] = __fdiv_rn(__fsub_rn(gx, px), pw);
                d[1] = __fdiv_rn(__fsub_rn(gy, py), ph);
                d[2] = (float)log((double)__fdiv_rn(gw, pw));
                d[3] = (float)log((double)__fdiv_rn(gh, ph));
                for (int q = 0; q < 4; q++) t[q] = __fdiv_rn(__fsub_rn(d[q], a.means[q]), a.stds[q]);
                a.labels[row] = gl[gti[c]];
            } else {
                a.labels[row] = a.num_classes;
            }
        }
        for (int64_t r = npos + nneg + tid; r < a.k; r += nt) {
            const int64_t row = img * a.k + r;
            a.rois[row * 5] = (float)img;
            for (int q = 0; q < 4; q++) a.rois[row * 5 + 1 + q] = 0.f, a.bbox_targets[row * 4 + q] = 0.f;
            a.labels[row] = -1;
        }
        __syncthreads(); /* the scan scratch is reused by the next image */
    }
}

#endif
