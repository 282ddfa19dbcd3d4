/* runtime/data/data_randaug.h - MMPretrain 1.2's RandAugment, AutoAugment and their operations as pipeline
 * transforms (data_randaug.c; the pipeline in data_transforms.c parses and applies them through this header).
 *
 * The operations (Shear, Translate, Rotate, AutoContrast, Invert, Equalize, Solarize, SolarizeAdd, Posterize,
 * Contrast, ColorTransform, Brightness, Sharpness, Cutout) are usable on their own in a pipeline with the keys
 * MMPretrain's classes take, and give MMPretrain's bytes on u8 images at a fixed magnitude (the float order
 * and rounding of mmcv's numpy and cv2 calls; the geometric ones through data_warp.h).
 *
 * Randomness: every draw comes from the sample's tgc_rng, in this order (the mapping from MMPretrain's numpy
 * calls):
 *   RandAugment: num_policies draws tgc_rng_below(number of policies) (np.random.choice with replacement),
 *     then each chosen operation in order;
 *   AutoAugment: one tgc_rng_below(number of sub-policies) (RandomChoice), then the sub-policy's operations;
 *   an operation: u = uniform, disabled when u > prob (random_disable); for a magnitude from magnitude_range:
 *     magnitude_std 'inf' one uniform (np.random.uniform(0, level)), > 0 two uniforms (Box-Muller normal,
 *     clipped to [0, total_level]), else none; for the operations MMPretrain negates (Shear, Translate,
 *     Rotate, Contrast, ColorTransform, Brightness, Sharpness) one uniform, negated when < random_negative_prob;
 *     Cutout two uniforms (the centre's y then x).
 *
 * Grey (1-channel) images: MMPretrain's AutoContrast, Equalize, Contrast and ColorTransform fail on them; here
 * they act on the one channel as MMPretrain does on each channel of the grey image replicated to 3 channels
 * (the grey conversion of equal channels is the channel itself). A pad_val list gives channel k its k-th value
 * (a grey image takes the first, as cv2's border value does).
 */
#ifndef TGC_RUNTIME_DATA_RANDAUG_H
#define TGC_RUNTIME_DATA_RANDAUG_H

#include "runtime/data/data.h"

typedef struct tgc_aug tgc_aug;

/* 1 if name (scope prefix already removed) is RandAugment, AutoAugment or one of the operations. */
int tgc_aug_is_type(const char *name);
/* Parses the transform map m whose type is name. Errors name the key path. */
tgc_aug *tgc_aug_new(const tgc_cfg *m, const char *name, tgc_err *err);
void tgc_aug_free(tgc_aug *a);
/* Applies a to *img (the result may be swapped in from scratch, as tgc_pipeline_apply does). */
int tgc_aug_apply(const tgc_aug *a, tgc_image *img, tgc_image *scratch, tgc_rng *rng, tgc_err *err);

/* Checks the arguments of every augmentation in the pipelines of train/val/test_dataloader.dataset (the
 * compile's check: a bad key fails there, naming its path, not when the run opens the data). */
int tgc_aug_check_config(const tgc_cfg *root, tgc_err *err);

/* The pixel kernels (data_augops.c), in place, as mmcv computes them; factor/alpha = 1 + magnitude. */
void tgc_augop_invert(tgc_image *img);
void tgc_augop_solarize(tgc_image *img, double thr);
/* mag_int: the magnitude was an int (numpy's uint8 arithmetic) */
void tgc_augop_solarize_add(tgc_image *img, double mag, int mag_int, double thr);
void tgc_augop_posterize(tgc_image *img, double bits);
void tgc_augop_equalize(tgc_image *img);
void tgc_augop_autocontrast(tgc_image *img);
void tgc_augop_contrast(tgc_image *img, double factor);
void tgc_augop_color(tgc_image *img, double alpha);
void tgc_augop_brightness(tgc_image *img, double factor);
/* scratch: working space (the smoothed image) */
void tgc_augop_sharpness(tgc_image *img, tgc_image *scratch, double factor);
/* Cutout's fill for given centre draws y0, x0 (mmcv.cutout's np.random.uniform(h), uniform(w)). */
void tgc_aug_cutout_at(tgc_image *img, int cut_h, int cut_w, double y0, double x0, const uint8_t pad[4]);

/* What one apply drew (tests of the policy machinery): the operations chosen (indices into the policy list,
 * AutoAugment: the sub-policy), and for each applied operation its final magnitude. Filled when not NULL. */
#define TGC_AUG_TRACE_MAX 16
typedef struct tgc_aug_trace {
    int nchosen, chosen[TGC_AUG_TRACE_MAX];
    int napplied;
    int op[TGC_AUG_TRACE_MAX];            /* index of the applied operation in the flattened list */
    double magnitude[TGC_AUG_TRACE_MAX];  /* after noise, mapping and negation (NAN: the op has none) */
} tgc_aug_trace;
int tgc_aug_apply_traced(const tgc_aug *a, tgc_image *img, tgc_image *scratch, tgc_rng *rng,
                         tgc_aug_trace *trace, tgc_err *err);
/* The number of operations (RandAugment: policies; AutoAugment: all sub-policies' operations, flattened). */
int tgc_aug_num_ops(const tgc_aug *a);

#endif
