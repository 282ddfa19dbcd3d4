/* tests/unit/test_plan_roi_ops.c - the detection ops through the whole compiler: a hand-written train graph using
 * every one of them (tests/filecheck/pass_det_ops.ir's ops, all kept as outputs) goes through the pipeline for
 * the cpu and the cuda target, is lowered to a plan, and plan.bin round-trips it byte for byte with the
 * attributes intact (the coder's F64V vectors, roi_align's level fields); the plan validates, and every
 * instruction has a CUDA implementation that takes its operands (tgc_cuda_check_plan). Then one train step
 * of the cuda plan on the cuda device over the stand-in with the hand-written kernels on (their launches
 * marshalled from the plan by backend/cuda/native_marshal.c, run through kshim.h) against the cpu device on the
 * same inputs: the kept indices, IoUs and the updated parameters (through roi_align_bwd, smooth_l1_bwd and
 * giou_loss_bwd) and rcnn_targets' rows bit for bit, the loss within relative 1e-6. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include <math.h>

#include "backend/cuda/cuda_device.h"
#include "backend/cuda/cuda_ops.h"
#include "backend/cuda/standin.h"
#include "passes/passes.h"
#include "passes/target.h"
#include "plan/plan.h"
#include "test_exec_util.h"

static const char det_ir[] =
    "graph @train {\n"
    "  %0 = param \"feat\" : f32[2,4,16,16] init=const(0)\n"
    "  %1 = param \"reg\" : f32[2,5,4] init=const(0)\n"
    "  %2 = input \"rois\" : f32[6,5]\n"
    "  %3 = input \"target\" : f32[6,4,2,2]\n"
    "  %4 = input \"weight\" : f32[6,4,2,2]\n"
    "  %5 = input \"avg_factor\" : f32[1]\n"
    "  %6 = input \"scores\" : f32[2,50]\n"
    "  %7 = input \"boxes\" : f32[2,50,4]\n"
    "  %8 = input \"ids\" : i32[2,50]\n"
    "  %9 = input \"img_shape\" : f32[2,2]\n"
    "  %10 = input \"box_weight\" : f32[2,5]\n"
    "  %11 : f32[6,4,2,2] = roi_align %0, %2 {output_size=[2,2], spatial_scale=0.25, sampling_ratio=0, aligned=1, "
    "roi_level=1, num_levels=4, finest_scale=56}\n"
    "  %12 : f32[] = smooth_l1 %11, %3, %4, %5 {alpha=1, beta=0.111111}\n"
    "  %13 : f32[2,10], %14 : i32[2,10] = topk %6 {k=10}\n"
    "  %15 : f32[2,50,4] = box_decode %7, %7, %9 {target_means=[0,0,0,0], target_stds=[0.1,0.1,0.2,0.2], "
    "wh_ratio_clip=0.016, clip_border=1}\n"
    "  %16 : i32[2,5], %17 : i32[2] = nms_fixed %15, %6, %8 {k=5, iou_threshold=0.7}\n"
    "  %18 : f32[2,5,4] = gather %15, %16 {alpha=0}\n"
    "  %19 : f32[2,5,50] = box_iou %18, %7 {eps=1e-06}\n"
    "  %20 : f32[2,5,4] = box_encode %18, %18 {target_means=[0,0,0,0], target_stds=[0.1,0.1,0.2,0.2]}\n"
    "  %21 : f32[2,5,4] = add %18, %1\n"
    "  %22 : f32[] = giou_loss %21, %20, %10, %5 {alpha=2, eps=1e-06}\n"
    "  %23 : f32[] = add %12, %22\n"
    "  %24 = input \"gt_bboxes\" : f32[2,3,4]\n"
    "  %25 = input \"gt_labels\" : i32[2,3]\n"
    "  %26 = input \"rng\" : i32[2,4]\n"
    "  %27 : f32[16,5], %28 : i32[16], %29 : f32[16,4] = rcnn_targets %18, %17, %24, %25, %26 {k=8, num_classes=3, "
    "target_means=[0,0,0,0], target_stds=[0.1,0.1,0.2,0.2], pos_fraction=0.25, pos_iou_thr=0.5, neg_iou_thr=0.5, "
    "min_pos_iou=0.5, match_low_quality=0, add_gt_as_proposals=1}\n"
    "  output %23\n"
    "  output %14\n"
    "  output %17\n"
    "  output %19\n"
    "  output %28\n"
    "  output %29\n"
    "}\n";

static tgc_plan *det_plan(const char *target) {
    tgc_module m;
    tgc_err err;
    ck_assert_msg(tgc_module_parse(det_ir, strlen(det_ir), "det.ir", &m, &err) == 0, "%s", err.msg);
    m.target = tgc_target_find(target);
    ck_assert_ptr_nonnull(m.target);
    tgc_pipeline_opts o = {0};
    ck_assert_msg(tgc_run_pipeline(&m, &o, &err) == 0, "%s", err.msg);
    const char *yaml = "model:\n  type: FasterRCNN\n";
    tgc_cfg *cfg = tgc_cfg_parse(yaml, strlen(yaml), "det.yaml", &err);
    ck_assert_msg(cfg != NULL, "%s", err.msg);
    tgc_plan *p = tgc_plan_from_module(&m, cfg, &err);
    ck_assert_msg(p != NULL, "%s", err.msg);
    tgc_cfg_free(cfg);
    tgc_module_free(&m);
    return p;
}

static const tgc_instr *find(const tgc_program *pr, tgc_opcode code) {
    for (int k = 0; k < pr->n_instr; k++)
        if (pr->instr[k].code == code) return &pr->instr[k];
    return NULL;
}

START_TEST(det_ops_plan_round_trip_and_cuda_decisions) {
    const char *targets[] = {"cpu", "cuda"};
    for (int t = 0; t < 2; t++) {
        tgc_plan *p = det_plan(targets[t]);
        tgc_err err;
        tgc_buf a = {0}, b = {0};
        ck_assert_msg(tgc_plan_serialize(p, &a, &err) == 0, "%s", err.msg);
        tgc_plan *q = tgc_plan_deserialize(a.data, a.len, "det.plan", &err);
        ck_assert_msg(q != NULL, "%s", err.msg);
        ck_assert_msg(tgc_plan_serialize(q, &b, &err) == 0, "%s", err.msg);
        ck_assert_uint_eq(a.len, b.len);
        ck_assert(memcmp(a.data, b.data, a.len) == 0);
        ck_assert_msg(tgc_plan_validate(q, &err) == 0, "%s", err.msg);
        const tgc_program *tr = tgc_plan_program(q, "train");
        ck_assert_ptr_nonnull(tr);
        static const tgc_opcode every[] = {TGC_OP_ROI_ALIGN, TGC_OP_ROI_ALIGN_BWD, TGC_OP_SMOOTH_L1, TGC_OP_SMOOTH_L1_BWD,
                                           TGC_OP_TOPK, TGC_OP_NMS_FIXED, TGC_OP_BOX_DECODE, TGC_OP_BOX_ENCODE,
                                           TGC_OP_BOX_IOU, TGC_OP_GATHER, TGC_OP_GIOU_LOSS, TGC_OP_GIOU_LOSS_BWD,
                                           TGC_OP_RCNN_TARGETS};
        for (size_t i = 0; i < sizeof every / sizeof *every; i++)
            ck_assert_msg(find(tr, every[i]), "%s: no %s in the plan", targets[t], tgc_op_table[every[i]].name);
        const tgc_instr *dec = find(tr, TGC_OP_BOX_DECODE), *roi = find(tr, TGC_OP_ROI_ALIGN_BWD);
        ck_assert(dec->attrs.target_stds[0] == 0.1 && dec->attrs.target_stds[3] == 0.2 && dec->attrs.wh_ratio_clip == 0.016);
        ck_assert(roi->attrs.roi_level == 1 && roi->attrs.num_levels == 4 && roi->attrs.spatial_scale == 0.25);
        ck_assert_int_eq(roi->attrs.shape.rank, 4);
        const tgc_instr *rt = find(tr, TGC_OP_RCNN_TARGETS);
        ck_assert(rt->attrs.k == 8 && rt->attrs.num_classes == 3 && rt->attrs.pos_fraction == 0.25 &&
                  rt->attrs.add_gt_as_proposals == 1 && rt->attrs.match_low_quality == 0 && rt->attrs.target_stds[2] == 0.2);
        tgc_cuda_decisions dc = {0};
        ck_assert_msg(tgc_cuda_check_plan(q, 0, &dc, &err) == 0, "%s: %s", targets[t], err.msg);
        ck_assert_int_ge(dc.by_impl[TGC_CUDA_IMPL_KERNEL], 13);
        tgc_buf_free(&a), tgc_buf_free(&b);
        tgc_plan_free(p), tgc_plan_free(q);
    }
}
END_TEST

static uint64_t rng = 88172645463325252ull;
static double unif(double lo, double hi) {
    rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
    return lo + (hi - lo) * (double)(rng >> 11) / 9007199254740992.0;
}

typedef struct step_out {
    float loss; /* smooth_l1 + giou_loss, the program's 0-D output (temps are not kept after the program) */
    void *out[5]; /* topk indices, nms count, box_iou, rcnn_targets' labels and bbox_targets */
    float *feat, *reg;
    double moved; /* sum |feat after - before| */
} step_out;

static void put_named(tgc_exec *x, const char *name, const void *src) {
    int i = tgc_exec_input(x, "train", name);
    ck_assert_msg(i >= 0, "no input %s", name);
    exec_put(x, i, src);
}

static int tensor_named(const tgc_plan *p, const char *name) {
    for (int i = 0; i < p->n_tensors; i++)
        if (p->tensors[i].name && !strcmp(p->tensors[i].name, name)) return i;
    ck_abort_msg("no tensor %s", name);
    return -1;
}

static void det_step(const tgc_plan *p, tgc_device *d, step_out *o) {
    tgc_err err;
    tgc_exec_opts eo = {.n_threads = 1, .deterministic = 1, .device = d};
    tgc_exec *x = tgc_exec_new(p, &eo, &err);
    ck_assert_msg(x, "%s", err.msg);
    ck_assert_msg(tgc_exec_init_state(x, 5, &err) == 0, "%s", err.msg);
    rng = 88172645463325252ull;
    float feat[2 * 4 * 16 * 16], reg[2 * 5 * 4], rois[6 * 5], tgt[96], w[96], avg = 7, scores[100], boxes[400], shape[4] = {60, 64, 64, 48};
    float bw[10], lr = 0.1f, step = 1;
    int32_t ids[100];
    for (int i = 0; i < 2048; i++) feat[i] = (float)unif(-1, 1);
    for (int i = 0; i < 40; i++) reg[i] = (float)unif(-2, 2);
    for (int i = 0; i < 6; i++) {
        float x1 = (float)unif(0, 40), y1 = (float)unif(0, 40), s = (float)unif(140, 200); /* level 1 */
        rois[i * 5] = (float)(i % 2), rois[i * 5 + 1] = x1, rois[i * 5 + 2] = y1, rois[i * 5 + 3] = x1 + s, rois[i * 5 + 4] = y1 + s * 0.7f;
    }
    for (int i = 0; i < 96; i++) tgt[i] = (float)unif(-1, 1), w[i] = i % 3 ? 1.f : 0.f;
    for (int i = 0; i < 100; i++) {
        float x1 = (float)unif(0, 50), y1 = (float)unif(0, 50);
        boxes[i * 4] = x1, boxes[i * 4 + 1] = y1, boxes[i * 4 + 2] = x1 + (float)unif(2, 20), boxes[i * 4 + 3] = y1 + (float)unif(2, 20);
        scores[i] = (float)unif(0, 1), ids[i] = (int32_t)(i % 3);
    }
    for (int i = 0; i < 10; i++) bw[i] = (float)unif(0.5, 1);
    exec_put(x, tensor_named(p, "feat"), feat);
    exec_put(x, tensor_named(p, "reg"), reg);
    put_named(x, "rois", rois), put_named(x, "target", tgt), put_named(x, "weight", w), put_named(x, "avg_factor", &avg);
    put_named(x, "scores", scores), put_named(x, "boxes", boxes), put_named(x, "ids", ids), put_named(x, "img_shape", shape);
    put_named(x, "box_weight", bw), put_named(x, "lr", &lr), put_named(x, "step", &step);
    float gtb[24];
    int32_t gtl[6] = {0, 2, -1, 1, -1, -1}, rg[8] = {5, 0, 0, 0, 5, 0, 0, 1};
    for (int i = 0; i < 24; i++) gtb[i] = boxes[(i / 12 * 50 + i / 4 % 3) * 4 + i % 4]; /* boxes of the image as gts */
    put_named(x, "gt_bboxes", gtb), put_named(x, "gt_labels", gtl), put_named(x, "rng", rg);
    ck_assert_msg(tgc_exec_run(x, "train", &err) == 0, "%s", err.msg);
    const tgc_program *tr = tgc_plan_program(p, "train");
    int loss = -1;
    for (int k = 0; k < tr->n_instr; k++)
        if (tr->instr[k].code == TGC_OP_ADD && p->tensors[tr->instr[k].out[0]].type.shape.rank == 0) loss = tr->instr[k].out[0];
    ck_assert_int_ge(loss, 0);
    o->loss = exec_get_f32(x, loss);
    o->out[0] = exec_get(x, find(tr, TGC_OP_TOPK)->out[1]);
    o->out[1] = exec_get(x, find(tr, TGC_OP_NMS_FIXED)->out[1]);
    o->out[2] = exec_get(x, find(tr, TGC_OP_BOX_IOU)->out[0]);
    o->out[3] = exec_get(x, find(tr, TGC_OP_RCNN_TARGETS)->out[1]);
    o->out[4] = exec_get(x, find(tr, TGC_OP_RCNN_TARGETS)->out[2]);
    o->feat = exec_get(x, tensor_named(p, "feat"));
    for (int i = 0; i < 2048; i++) o->moved += fabs((double)o->feat[i] - feat[i]);
    o->reg = exec_get(x, tensor_named(p, "reg"));
    ck_assert_msg(tgc_exec_sync(x, &err) == 0, "%s", err.msg);
    tgc_exec_free(x);
}

START_TEST(det_ops_native_kernels_equal_cpu) {
    tgc_plan *p = det_plan("cuda");
    const tgc_program *tr = tgc_plan_program(p, "train");
    step_out ref = {0}, got = {0};
    det_step(p, NULL, &ref);
    tgc_err err;
    tgc_cuda_device_opts co = {.n_threads = 1, .stream = {.seed = 3, .label = "cuda0"}, .no_graphs = 1, .native = TGC_NATIVE_ALL};
    tgc_device *d = tgc_cuda_device_new(&tgc_standin_stream_api, &co, &err);
    ck_assert_msg(d, "%s", err.msg);
    det_step(p, d, &got);
    tgc_cuda_device_stats st;
    tgc_cuda_device_get_stats(d, &st);
    ck_assert_uint_ge(st.native_launches, 13); /* every detection op ran its kernel */
    ck_assert_msg(ref.loss > 0.01f && fabs((double)got.loss - ref.loss) <= 1e-6 * fabs((double)ref.loss),
                  "loss %.9g, the cpu's %.9g", (double)got.loss, (double)ref.loss);
    const int outs[5] = {find(tr, TGC_OP_TOPK)->out[1], find(tr, TGC_OP_NMS_FIXED)->out[1], find(tr, TGC_OP_BOX_IOU)->out[0],
                         find(tr, TGC_OP_RCNN_TARGETS)->out[1], find(tr, TGC_OP_RCNN_TARGETS)->out[2]};
    for (int k = 0; k < 5; k++)
        ck_assert_msg(!memcmp(got.out[k], ref.out[k], p->tensors[outs[k]].bytes), "output %d differs", k);
    ck_assert(!memcmp(got.feat, ref.feat, p->tensors[tensor_named(p, "feat")].bytes));
    ck_assert(!memcmp(got.reg, ref.reg, p->tensors[tensor_named(p, "reg")].bytes));
    ck_assert(((int32_t *)ref.out[1])[0] > 0 && ref.moved > 0); /* boxes kept; roi_align's gradient reached feat */
    printf("det ops on the stand-in with native kernels: %llu launches; loss %.9g vs the cpu's %.9g, the rest bit for bit\n",
           (unsigned long long)st.native_launches, (double)got.loss, (double)ref.loss);
    ck_assert(((int32_t *)ref.out[3])[0] >= 0 && ((int32_t *)ref.out[3])[8] >= 0); /* each image's first row a positive */
    for (int k = 0; k < 5; k++) free(ref.out[k]), free(got.out[k]);
    free(ref.feat), free(ref.reg), free(got.feat), free(got.reg);
    tgc_device_close(d);
    tgc_plan_free(p);
}
END_TEST

int main(void) {
    Suite *s = suite_create("det_plan");
    TCase *tc = tcase_create("det");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, det_ops_plan_round_trip_and_cuda_decisions);
    tcase_add_test(tc, det_ops_native_kernels_equal_cpu);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int nf = srunner_ntests_failed(sr);
    srunner_free(sr);
    return nf ? EXIT_FAILURE : EXIT_SUCCESS;
}
