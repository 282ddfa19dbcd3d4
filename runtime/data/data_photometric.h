/* runtime/data/data_photometric.h - MMPretrain 1.2's ColorJitter and RandomErasing on u8 BGR images
 * (data_photometric.c), used by the pipeline (data_transforms.c).
 *
 * ColorJitter computes what mmcv's adjust_brightness, adjust_contrast, adjust_color and adjust_hue give with
 * their default backend, Pillow (13): ImageEnhance's blends of the image with a degenerate one in Pillow's float
 * arithmetic, its ITU-R 601 luma in 16-bit fixed point, its RGB <-> HSV conversions, bit for bit
 * (tests/datasets/photometric_golden.txt). The draws (the order of the four operations, each factor) come from
 * the sample's counter-based generator, not numpy's; so do RandomErasing's (apply or not, aspect, area, place,
 * and the 'rand' mode's pixels). */
#ifndef TGC_RUNTIME_DATA_PHOTOMETRIC_H
#define TGC_RUNTIME_DATA_PHOTOMETRIC_H

#include "runtime/data/data.h"

typedef struct tgc_color_jitter {
    int on[4];           /* brightness, contrast, saturation, hue: 0 when the range is the neutral point */
    double lo[4], hi[4]; /* the factors' ranges (hue: shifts in [-0.5, 0.5]) */
} tgc_color_jitter;

typedef struct tgc_erasing {
    double prob, min_area, max_area;
    double log_ar_lo, log_ar_hi; /* log of the aspect range's float32 values */
    int rand_mode;               /* mode 'rand' (else 'const') */
    int has_std;
    double fill[3], std[3];      /* per channel, in the image's (BGR) order as MMPretrain applies them */
} tgc_erasing;

/* From a transform map (keys as MMPretrain's: brightness, contrast, saturation, hue, backend; erase_prob,
 * min_area_ratio, max_area_ratio, aspect_range, mode, fill_color, fill_std). Errors name the key path. */
int tgc_color_jitter_parse(const tgc_cfg *m, tgc_color_jitter *cj, tgc_err *err);
int tgc_erasing_parse(const tgc_cfg *m, tgc_erasing *e, tgc_err *err);

/* One draw of each and its application; ColorJitter needs a 3-channel image. */
int tgc_color_jitter_apply(const tgc_color_jitter *cj, tgc_image *img, tgc_rng *rng, tgc_err *err);
void tgc_erasing_apply(const tgc_erasing *e, tgc_image *img, tgc_rng *rng);

/* The deterministic parts (tests): mmcv's pillow-backend operations on a 3-channel BGR image, in place. */
void tgc_adjust_brightness(tgc_image *img, double factor);
void tgc_adjust_contrast(tgc_image *img, double factor);
void tgc_adjust_color(tgc_image *img, double factor);
void tgc_adjust_hue(tgc_image *img, double hue_factor);
/* ColorJitter with its draws given: order[4] a permutation of 0..3, factors[4] (ignored where cj->on is 0). */
void tgc_color_jitter_fixed(const tgc_color_jitter *cj, tgc_image *img, const int order[4], const double factors[4]);
/* RandomErasing's patch size from the values its two uniform draws gave (the log aspect ratio, the area ratio). */
void tgc_erasing_size(int img_h, int img_w, double log_aspect, double area_ratio, int *h, int *w);

#endif
