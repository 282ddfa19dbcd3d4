/* runtime/data/data_warp.h - affine warping of u8 HWC images as OpenCV 4.x's cv2.warpAffine computes it.
 *
 * The arithmetic is OpenCV's fixed-point scheme (imgwarp.cpp), reproduced from its description so that the
 * output is byte-for-byte what mmcv.imshear / imtranslate / imrotate give: the forward matrix is inverted in
 * double precision; each destination pixel's source coordinate is accumulated in fixed point with 10
 * fractional bits (AB_BITS) and kept with 5 (INTER_BITS: a 32 x 32 table of sub-pixel positions); the
 * interpolation weights are that table's entries in 15-bit fixed point (INTER_REMAP_COEF_BITS), products of
 * float 1-D weights (bicubic: Keys' kernel with A = -0.75), rounded, with the rounding error of each 2-D
 * weight set folded into one of its four central taps so that it sums to exactly 1 << 15.
 * Taps outside the source read the border value (BORDER_CONSTANT).
 */
#ifndef TGC_RUNTIME_DATA_WARP_H
#define TGC_RUNTIME_DATA_WARP_H

#include <stdint.h>

typedef enum tgc_interp { TGC_INTERP_NEAREST, TGC_INTERP_BILINEAR, TGC_INTERP_BICUBIC } tgc_interp;

/* cv2.warpAffine(src, M, (w, h), flags=interp, borderMode=BORDER_CONSTANT, borderValue=border) on an 8-bit
 * HWC image of c (1..4) channels, dst the same size; M is the forward (src->dst) 2x3 matrix as mmcv passes it
 * (cv2 inverts it; a singular M maps every pixel to the source origin, as cv2 does). Pixel-exact with
 * OpenCV 4.x. border[k] is the value of channel k outside the source. dst must not overlap src.
 * Thread-safe. To reproduce mmcv: imshear and imtranslate build M in float32 (round magnitude and offset
 * to float first) and pass border_value[:3] (a fourth channel's border is 0); imrotate passes
 * tgc_rotation_matrix(centre, -angle, scale) and its border as given. */
void tgc_warp_affine_u8(const uint8_t *src, int w, int h, int c, const double M[6], tgc_interp interp,
                        const uint8_t border[4], uint8_t *dst);

/* cv2.getRotationMatrix2D(center, angle, scale): rotation by angle_deg (counter-clockwise in image
 * coordinates, y down) about (cx, cy), then scaling. */
void tgc_rotation_matrix(double cx, double cy, double angle_deg, double scale, double M[6]);

#endif
