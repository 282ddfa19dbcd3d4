/* runtime/runner/synth_inputs.c - seeded synthetic inputs for benchmarks (synth_inputs.h). */
#include "runtime/runner/synth_inputs.h"

#include <stdlib.h>

#include "runtime/data/data.h"

/* Writes one f32 into the first element of a tensor. */
static int write_f32(tgc_exec *x, int tensor, float v, tgc_err *err) {
    const tgc_plan_tensor *t = tgc_exec_tensor(x, tensor);
    return tgc_exec_write_bytes(x, t->slab, t->offset, sizeof v, &v, err);
}

/* A detection plan's targets: about 1% of the anchors positive (a uniform class, deltas uniform in [-1, 1)),
 * 10% ignored, the rest negative; avg_factor the positives (at least 1). */
static int fill_det_targets(tgc_exec *x, const char *prog, int num_classes, tgc_rng *rng, tgc_err *err) {
    int cls = tgc_exec_input(x, prog, "data_samples.cls_target"), box = tgc_exec_input(x, prog, "data_samples.bbox_target"),
        avg = tgc_exec_input(x, prog, "data_samples.avg_factor");
    if (cls < 0 || box < 0 || avg < 0) return 0;
    const tgc_plan_tensor *ct = tgc_exec_tensor(x, cls), *bt = tgc_exec_tensor(x, box);
    size_t n = (size_t)(ct->bytes / sizeof(int32_t));
    if (bt->bytes != (uint64_t)n * 4 * sizeof(float)) return tgc_fail(err, "bench: the detection targets' shapes disagree");
    int32_t *c = tgc_malloc(n ? n * sizeof *c : 1);
    float *b = tgc_calloc(n ? n * 4 : 1, sizeof *b);
    int64_t pos = 0;
    for (size_t i = 0; i < n; i++) {
        uint32_t u = tgc_rng_below(rng, 100);
        c[i] = u == 0 ? (int32_t)tgc_rng_below(rng, (uint32_t)(num_classes > 0 ? num_classes : 1)) : u <= 10 ? -1 : num_classes;
        if (u == 0) {
            pos++;
            for (int k = 0; k < 4; k++) b[4 * i + k] = (float)(tgc_rng_uniform(rng) * 2.0 - 1.0);
        }
    }
    int rc = tgc_exec_write(x, cls, c, err) || tgc_exec_write(x, box, b, err) ||
             write_f32(x, avg, (float)(pos > 0 ? pos : 1), err);
    free(c);
    free(b);
    return rc ? -1 : 0;
}

/* A Faster R-CNN plan's inputs: per image 256 sampled anchors (up to 128 positives, label 0, deltas uniform in
 * [-1, 1); the rest negatives, label 1), the others -1; img_shape the whole canvas; 8 ground-truth boxes
 * (uniform classes, 16..128 pixels, inside the canvas), the other rows padding (-1); the sampler's key per image. */
static int fill_frcnn_inputs(tgc_exec *x, const char *prog, int num_classes, tgc_rng *rng, tgc_err *err) {
    int cls = tgc_exec_input(x, prog, "data_samples.rpn_cls_target"), box = tgc_exec_input(x, prog, "data_samples.rpn_bbox_target");
    int avg = tgc_exec_input(x, prog, "data_samples.rpn_avg_factor"), shp = tgc_exec_input(x, prog, "data_samples.img_shape");
    int gb = tgc_exec_input(x, prog, "data_samples.gt_bboxes"), gl = tgc_exec_input(x, prog, "data_samples.gt_labels");
    int key = tgc_exec_input(x, prog, "data_samples.rng"), img = tgc_exec_input(x, prog, "inputs");
    if (shp < 0 || img < 0) return 0;
    const tgc_shape *is = &tgc_exec_tensor(x, img)->type.shape;
    int64_t batch = is->d[0], h = is->d[2], w = is->d[3];
    float *sh = tgc_malloc(sizeof(float) * 2 * (size_t)batch);
    for (int64_t i = 0; i < batch; i++) sh[2 * i] = (float)h, sh[2 * i + 1] = (float)w;
    int rc = tgc_exec_write(x, shp, sh, err);
    free(sh);
    if (rc || cls < 0 || box < 0 || avg < 0 || gb < 0 || gl < 0 || key < 0) return rc ? -1 : 0;
    const tgc_shape *cs = &tgc_exec_tensor(x, cls)->type.shape, *gs = &tgc_exec_tensor(x, gl)->type.shape;
    int64_t a = cs->d[1], g = gs->d[1];
    int32_t *c = tgc_malloc(sizeof(int32_t) * (size_t)(batch * a)), *lab = tgc_malloc(sizeof(int32_t) * (size_t)(batch * g));
    int32_t *k = tgc_malloc(sizeof(int32_t) * 4 * (size_t)batch);
    float *b = tgc_calloc((size_t)(batch * a * 4), sizeof(float)), *gt = tgc_calloc((size_t)(batch * g * 4), sizeof(float));
    int64_t sampled = 0;
    for (int64_t i = 0; i < batch * a; i++) c[i] = -1;
    for (int64_t i = 0; i < batch; i++) {
        for (int s = 0; s < 256 && s < a; s++) {
            int64_t j = i * a + (int64_t)tgc_rng_below(rng, (uint32_t)a);
            if (c[j] >= 0) continue;
            c[j] = s < 128 && tgc_rng_below(rng, 4) == 0 ? 0 : 1;
            sampled++;
            if (c[j] == 0)
                for (int q = 0; q < 4; q++) b[4 * j + q] = (float)(tgc_rng_uniform(rng) * 2.0 - 1.0);
        }
        for (int64_t q = 0; q < g; q++) {
            int64_t r = i * g + q;
            lab[r] = q < 8 ? (int32_t)tgc_rng_below(rng, (uint32_t)(num_classes > 0 ? num_classes : 1)) : -1;
            if (q >= 8) continue;
            double bw = 16 + tgc_rng_uniform(rng) * 112, bh = 16 + tgc_rng_uniform(rng) * 112;
            double x1 = tgc_rng_uniform(rng) * ((double)w - bw), y1 = tgc_rng_uniform(rng) * ((double)h - bh);
            gt[4 * r] = (float)x1, gt[4 * r + 1] = (float)y1, gt[4 * r + 2] = (float)(x1 + bw), gt[4 * r + 3] = (float)(y1 + bh);
        }
        k[4 * i] = 7, k[4 * i + 1] = 0, k[4 * i + 2] = 0, k[4 * i + 3] = (int32_t)i;
    }
    rc = tgc_exec_write(x, cls, c, err) || tgc_exec_write(x, box, b, err) ||
         write_f32(x, avg, (float)(sampled > 0 ? sampled : 1), err) || tgc_exec_write(x, gb, gt, err) ||
         tgc_exec_write(x, gl, lab, err) || tgc_exec_write(x, key, k, err);
    free(c), free(lab), free(k), free(b), free(gt);
    return rc ? -1 : 0;
}

/* Seeded synthetic inputs: images uniform in [-2, 2), labels uniform over the classes (drawn on the host,
 * then uploaded), detection targets (fill_det_targets, fill_frcnn_inputs). */
int tgc_synth_fill_inputs(tgc_exec *x, const char *prog, int num_classes, double lr, tgc_err *err) {
    tgc_rng rng;
    tgc_rng_init(&rng, 0x7467632062656e63ull, 0, 0, TGC_RNG_AUGMENT);
    int img = tgc_exec_input(x, prog, "inputs"), lbl = tgc_exec_input(x, prog, "data_samples.gt_label");
    int lri = tgc_exec_input(x, prog, "lr");
    int rc = 0;
    if (img >= 0) {
        const tgc_plan_tensor *t = tgc_exec_tensor(x, img);
        float *d = tgc_malloc(t->bytes ? (size_t)t->bytes : 1);
        for (uint64_t i = 0; i < t->bytes / sizeof(float); i++) d[i] = (float)(tgc_rng_uniform(&rng) * 4.0 - 2.0);
        rc = tgc_exec_write(x, img, d, err);
        free(d);
    }
    if (rc == 0 && lbl >= 0) {
        const tgc_plan_tensor *t = tgc_exec_tensor(x, lbl);
        int32_t *d = tgc_malloc(t->bytes ? (size_t)t->bytes : 1);
        for (uint64_t i = 0; i < t->bytes / sizeof(int32_t); i++)
            d[i] = (int32_t)tgc_rng_below(&rng, (uint32_t)(num_classes > 0 ? num_classes : 1));
        rc = tgc_exec_write(x, lbl, d, err);
        free(d);
    }
    if (rc == 0) rc = fill_det_targets(x, prog, num_classes, &rng, err);
    if (rc == 0) rc = fill_frcnn_inputs(x, prog, num_classes, &rng, err);
    if (rc == 0 && lri >= 0) rc = write_f32(x, lri, (float)lr, err);
    /* a float16 plan's loss scale: 1 (the gradients as they are; the bench does not check for overflow) */
    int lsi = tgc_exec_input(x, prog, "loss_scale");
    if (rc == 0 && lsi >= 0) rc = write_f32(x, lsi, 1.0f, err);
    return rc;
}

int tgc_synth_num_classes(tgc_exec *x) {
    int classes = 0, logits = tgc_exec_output(x, "eval");
    if (logits >= 0 && tgc_exec_tensor(x, logits)->type.shape.rank == 2)
        classes = (int)tgc_exec_tensor(x, logits)->type.shape.d[1];
    if (logits >= 0 && tgc_exec_tensor(x, logits)->type.shape.rank == 3) /* detection: det_out [B, A, C + 4] */
        classes = (int)tgc_exec_tensor(x, logits)->type.shape.d[2] - 4;
    if (classes > 0 && tgc_exec_input(x, "eval", "data_samples.img_shape") >= 0) /* Faster R-CNN: [B, P, 5 + 5C] */
        classes = (classes - 1) / 5;
    return classes;
}
