/* tests/unit/test_rt_coco_eval.c - the COCO bbox evaluator (runtime/det/coco_eval.c): hand-checked stats (each
 * also re-run on pycocotools 2.0.11), MMDetection's CocoMetric test case, empty images, crowd boxes, the printed
 * lines and log keys, the result file round trip, and the errors for bad files. */
#include <math.h>

#include "runtime/det/coco_eval.h"
#include "test_util.h"

#define A(img, cat, x, y, w, h, ar, crowd) {0, img, cat, {x, y, w, h}, ar, crowd}

static tgc_coco_eval *make_gt(const int64_t *imgs, int ni, const int64_t *cats, int nc, tgc_coco_ann *anns, int na) {
    for (int i = 0; i < na; i++) anns[i].id = i + 1;
    tgc_coco_eval *ev;
    tgc_err err;
    ck_assert_msg(tgc_coco_eval_new(imgs, ni, cats, nc, anns, na, &ev, &err) == 0, "%s", err.msg);
    return ev;
}

static void add(tgc_coco_eval *ev, int64_t img, int64_t cat, double x, double y, double w, double h, double score) {
    tgc_err err;
    double b[4] = {x, y, w, h};
    ck_assert_msg(tgc_coco_eval_add_result(ev, img, cat, b, score, &err) == 0, "%s", err.msg);
}

static void check_stats(tgc_coco_eval *ev, const double *want) {
    double got[TGC_COCO_NSTATS];
    tgc_err err;
    ck_assert_msg(tgc_coco_eval_compute(ev, got, &err) == 0, "%s", err.msg);
    for (int i = 0; i < TGC_COCO_NSTATS; i++)
        ck_assert_msg(fabs(got[i] - want[i]) < 1e-6, "stats[%d] = %.9f, want %.6f", i, got[i], want[i]);
}

/* The hand-checked vector: 2 images, 2 categories; cat 1 AP (51 + 50 * 2/3) / 101 at every threshold, cat 2
 * AP 0.7 (IoU 1444/1756 = 0.8223: a match up to 0.80). */
static tgc_coco_eval *hand_vector(void) {
    static const int64_t imgs[] = {2, 1}, cats[] = {2, 1};
    tgc_coco_ann anns[] = {A(1, 1, 10, 10, 20, 20, 400, 0), A(2, 1, 0, 0, 60, 60, 3600, 0),
                           A(1, 2, 50, 50, 40, 40, 1600, 0)};
    tgc_coco_eval *ev = make_gt(imgs, 2, cats, 2, anns, 3);
    add(ev, 1, 1, 10, 10, 20, 20, 0.9);
    add(ev, 2, 1, 30, 30, 20, 20, 0.7);
    add(ev, 2, 1, 0, 0, 60, 60, 0.3);
    add(ev, 1, 2, 52, 52, 40, 40, 0.8);
    return ev;
}

static const double hand_stats[] = {0.767492, 0.917492, 0.917492, 1.0, 0.85, -1.0, 0.6, 0.85, 0.85, 1.0, 0.85, -1.0};

START_TEST(hand_checked) {
    tgc_coco_eval *ev = hand_vector();
    check_stats(ev, hand_stats);
    /* the same detections in another order give the same stats */
    tgc_coco_eval_reset(ev);
    ck_assert_int_eq(tgc_coco_eval_num_dets(ev), 0);
    add(ev, 1, 2, 52, 52, 40, 40, 0.8);
    add(ev, 2, 1, 0, 0, 60, 60, 0.3);
    add(ev, 1, 1, 10, 10, 20, 20, 0.9);
    add(ev, 2, 1, 30, 30, 20, 20, 0.7);
    check_stats(ev, hand_stats);
    tgc_coco_eval_free(ev);
}
END_TEST

START_TEST(printout_and_log_keys) {
    tgc_coco_eval *ev = hand_vector();
    double st[TGC_COCO_NSTATS];
    tgc_err err;
    ck_assert(tgc_coco_eval_compute(ev, st, &err) == 0);
    char *s = tgc_coco_eval_summary(ev, st);
    ck_assert_str_eq(s, " Average Precision  (AP) @[ IoU=0.50:0.95 | area=   all | maxDets=100 ] = 0.767\n"
                        " Average Precision  (AP) @[ IoU=0.50      | area=   all | maxDets=100 ] = 0.917\n"
                        " Average Precision  (AP) @[ IoU=0.75      | area=   all | maxDets=100 ] = 0.917\n"
                        " Average Precision  (AP) @[ IoU=0.50:0.95 | area= small | maxDets=100 ] = 1.000\n"
                        " Average Precision  (AP) @[ IoU=0.50:0.95 | area=medium | maxDets=100 ] = 0.850\n"
                        " Average Precision  (AP) @[ IoU=0.50:0.95 | area= large | maxDets=100 ] = -1.000\n"
                        " Average Recall     (AR) @[ IoU=0.50:0.95 | area=   all | maxDets=  1 ] = 0.600\n"
                        " Average Recall     (AR) @[ IoU=0.50:0.95 | area=   all | maxDets= 10 ] = 0.850\n"
                        " Average Recall     (AR) @[ IoU=0.50:0.95 | area=   all | maxDets=100 ] = 0.850\n"
                        " Average Recall     (AR) @[ IoU=0.50:0.95 | area= small | maxDets=100 ] = 1.000\n"
                        " Average Recall     (AR) @[ IoU=0.50:0.95 | area=medium | maxDets=100 ] = 0.850\n"
                        " Average Recall     (AR) @[ IoU=0.50:0.95 | area= large | maxDets=100 ] = -1.000\n");
    free(s);
    double v[TGC_COCO_NMETRICS];
    tgc_coco_eval_metrics(st, v);
    static const double want[] = {0.767, 0.917, 0.917, 1.0, 0.85, -1.0};
    for (int i = 0; i < TGC_COCO_NMETRICS; i++) ck_assert_double_eq(v[i], want[i]);
    ck_assert_str_eq(tgc_coco_metric_names[0], "coco/bbox_mAP");
    ck_assert_str_eq(tgc_coco_metric_names[5], "coco/bbox_mAP_l");
    s = tgc_coco_eval_copypaste(st);
    ck_assert_str_eq(s, "bbox_mAP_copypaste: 0.767 0.917 0.917 1.000 0.850 -1.000");
    free(s);
    /* MMDetection's maxDets (proposal_nums): AP at 100, the rest at 1000 */
    const int md[3] = {1000, 100, 300};
    ck_assert(tgc_coco_eval_set_max_dets(ev, md, &err) == 0);
    ck_assert(tgc_coco_eval_compute(ev, st, &err) == 0);
    s = tgc_coco_eval_summary(ev, st);
    ck_assert_msg(strstr(s, " Average Precision  (AP) @[ IoU=0.50      | area=   all | maxDets=1000 ] = 0.917\n"), "%s", s);
    ck_assert_msg(strstr(s, " Average Recall     (AR) @[ IoU=0.50:0.95 | area=   all | maxDets=300 ] = 0.850\n"), "%s", s);
    free(s);
    const int bad[3] = {0, 10, 100};
    ck_assert(tgc_coco_eval_set_max_dets(ev, bad, &err) != 0);
    tgc_coco_eval_free(ev);
}
END_TEST

/* mmdetection tests/test_evaluation/test_metrics/test_coco_metric.py: detections identical to the 4 GTs (as
 * xyxy boxes and labels), proposal_nums 100 300 1000: every stat is 1.0. Read from an annotation file. */
START_TEST(mmdet_identical) {
    char *dir = test_tmpdir(NULL, "coco_eval");
    char *ann = tgc_asprintf("%s/ann.json", dir);
    FILE *f = fopen(ann, "w");
    ck_assert(f);
    fputs("{\"images\": [{\"id\": 0, \"width\": 640, \"height\": 640, \"file_name\": \"fake_name.jpg\"}],\n"
          " \"annotations\": [\n"
          "  {\"id\": 1, \"image_id\": 0, \"category_id\": 0, \"area\": 400, \"bbox\": [50, 60, 20, 20], \"iscrowd\": 0},\n"
          "  {\"id\": 2, \"image_id\": 0, \"category_id\": 0, \"area\": 900, \"bbox\": [100, 120, 30, 30], \"iscrowd\": 0},\n"
          "  {\"id\": 3, \"image_id\": 0, \"category_id\": 1, \"area\": 1600, \"bbox\": [150, 160, 40, 40], \"iscrowd\": 0},\n"
          "  {\"id\": 4, \"image_id\": 0, \"category_id\": 0, \"area\": 10000, \"bbox\": [250, 260, 100, 100], \"iscrowd\": 0}],\n"
          " \"categories\": [{\"id\": 0, \"name\": \"car\"}, {\"id\": 1, \"name\": \"bicycle\"}]}\n",
          f);
    fclose(f);
    tgc_coco_eval *ev;
    tgc_err err;
    ck_assert_msg(tgc_coco_eval_open(ann, &ev, &err) == 0, "%s", err.msg);
    int nc;
    const int64_t *cats = tgc_coco_eval_cat_ids(ev, &nc);
    ck_assert_int_eq(nc, 2);
    ck_assert(cats[0] == 0 && cats[1] == 1);
    const int md[3] = {100, 300, 1000};
    ck_assert(tgc_coco_eval_set_max_dets(ev, md, &err) == 0);
    const float boxes[] = {50, 60, 70, 80, 100, 120, 130, 150, 150, 160, 190, 200, 250, 260, 350, 360};
    const float scores[] = {1.0f, 0.98f, 0.96f, 0.95f};
    const int labels[] = {0, 0, 1, 0};
    ck_assert_msg(tgc_coco_eval_add(ev, 0, 4, boxes, scores, labels, &err) == 0, "%s", err.msg);
    static const double ones[] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1};
    check_stats(ev, ones);

    /* format_only: PREFIX.bbox.json, read back into a fresh evaluator: the same stats, the same numbers */
    char *prefix = tgc_asprintf("%s/preds", dir);
    ck_assert_msg(tgc_coco_eval_write_results(ev, prefix, &err) == 0, "%s", err.msg);
    char *res = tgc_asprintf("%s.bbox.json", prefix);
    size_t len;
    char *text = test_slurp(res, &len);
    ck_assert_msg(strstr(text, "{\"image_id\":0,\"bbox\":[50,60,20,20],\"score\":1,\"category_id\":0}"), "%s", text);
    ck_assert_msg(strstr(text, "\"score\":0.9800000190734863,"), "%s", text); /* float 0.98, shortest exact */
    free(text);
    tgc_coco_eval *back;
    ck_assert(tgc_coco_eval_open(ann, &back, &err) == 0);
    ck_assert(tgc_coco_eval_set_max_dets(back, md, &err) == 0);
    ck_assert_msg(tgc_coco_eval_load_results(back, res, &err) == 0, "%s", err.msg);
    ck_assert_int_eq(tgc_coco_eval_num_dets(back), 4);
    check_stats(back, ones);
    /* errors: a label outside the categories, an image that is not in the file */
    ck_assert(tgc_coco_eval_add(ev, 0, 1, boxes, scores, (const int[]){2}, &err) != 0);
    ck_assert_msg(strstr(err.msg, "label 2 is outside 0..1"), "%s", err.msg);
    ck_assert(tgc_coco_eval_add(ev, 7, 1, boxes, scores, labels, &err) != 0);
    ck_assert_msg(strstr(err.msg, "image id 7"), "%s", err.msg);
    ck_assert_int_eq(tgc_coco_eval_num_dets(ev), 4);
    tgc_coco_eval_free(back);
    tgc_coco_eval_free(ev);
    free(res), free(prefix), free(ann);
    test_rm_tree(dir);
    free(dir);
}
END_TEST

/* An image without GT but with a false positive, an image with neither, a category without GT (-1, left out
 * of the means); then no detections at all. */
START_TEST(empty_images) {
    static const int64_t imgs[] = {1, 2, 3}, cats[] = {5, 9};
    tgc_coco_ann anns[] = {A(1, 5, 0, 0, 10, 10, 100, 0)};
    tgc_coco_eval *ev = make_gt(imgs, 3, cats, 2, anns, 1);
    static const double none[] = {0, 0, 0, 0, -1, -1, 0, 0, 0, 0, -1, -1};
    check_stats(ev, none);
    add(ev, 2, 5, 0, 0, 10, 10, 0.5);
    add(ev, 1, 5, 0, 0, 10, 10, 0.4);
    static const double want[] = {0.5, 0.5, 0.5, 0.5, -1, -1, 1, 1, 1, 1, -1, -1};
    check_stats(ev, want);
    tgc_coco_eval_free(ev);
    /* no images, no categories: every stat -1 */
    ev = make_gt(NULL, 0, NULL, 0, NULL, 0);
    static const double all_absent[] = {-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1};
    check_stats(ev, all_absent);
    tgc_coco_eval_free(ev);
}
END_TEST

/* A crowd GT: IoU = intersection / area(dt), matched by any number of detections, which are then ignored; it
 * is not counted among the GTs to find. AR@1 is 0: the image's best detection lies on the crowd. */
START_TEST(crowd) {
    static const int64_t imgs[] = {1}, cats[] = {3};
    tgc_coco_ann anns[] = {A(1, 3, 0, 0, 100, 100, 10000, 1), A(1, 3, 200, 200, 50, 50, 2500, 0)};
    tgc_coco_eval *ev = make_gt(imgs, 1, cats, 1, anns, 2);
    add(ev, 1, 3, 10, 10, 10, 10, 0.9);
    add(ev, 1, 3, 50, 50, 20, 20, 0.8);
    add(ev, 1, 3, 200, 200, 50, 50, 0.7);
    static const double want[] = {1, 1, 1, -1, 1, -1, 0, 1, 1, -1, 1, -1};
    check_stats(ev, want);
    tgc_coco_eval_free(ev);
}
END_TEST

static void write_text(const char *path, const char *text) {
    FILE *f = fopen(path, "w");
    ck_assert(f);
    fputs(text, f);
    fclose(f);
}

/* Bad files: the message names the file and the field (or line and column) at fault. */
START_TEST(errors) {
    char *dir = test_tmpdir(NULL, "coco_eval_err");
    char *p = tgc_asprintf("%s/a.json", dir);
    tgc_coco_eval *ev = NULL;
    tgc_err err;
    static const struct {
        const char *text, *msg;
    } cases[] = {
        {"{\"images\": [{\"id\": 1}],\n \"categories\": [{\"id\": 1}],,}", "a.json:2:29: malformed JSON"},
        {"{\"images\": [], \"categories\": []} x", "a.json:1:34: malformed JSON"},
        {"[1, 2]", "a.json: expected a COCO annotation object"},
        {"{\"categories\": []}", "a.json: the list 'images' is missing"},
        {"{\"images\": [{\"id\": 1.5}], \"categories\": []}", "a.json: images[0].id: expected an integer"},
        {"{\"images\": [{\"id\": 1}, {\"id\": 1}], \"categories\": []}", "images[].id 1 appears more than once"},
        {"{\"images\": [{\"id\": 1}], \"categories\": [{\"id\": 1}], \"annotations\": [{\"id\": 1, \"image_id\": 1, "
         "\"category_id\": 1, \"bbox\": [1, 2, 3], \"area\": 9}]}",
         "a.json: annotations[0].bbox: expected a list of 4 numbers"},
        {"{\"images\": [{\"id\": 1}], \"categories\": [{\"id\": 1}], \"annotations\": [{\"id\": 1, \"image_id\": 1, "
         "\"category_id\": 1, \"bbox\": [1, 2, 3, 4]}]}",
         "a.json: annotations[0].area is missing"},
        {"{\"images\": [{\"id\": 1}], \"categories\": [{\"id\": 1}], \"annotations\": [{\"id\": 1, \"image_id\": 4, "
         "\"category_id\": 1, \"bbox\": [1, 2, 3, 4], \"area\": 12}]}",
         "a.json: annotations[0].image_id 4 is not an id of images"},
    };
    for (size_t i = 0; i < TGC_ARRAY_LEN(cases); i++) {
        write_text(p, cases[i].text);
        ck_assert_msg(tgc_coco_eval_open(p, &ev, &err) != 0, "case %zu accepted", i);
        ck_assert_ptr_null(ev);
        ck_assert_msg(strstr(err.msg, cases[i].msg), "case %zu: '%s' lacks '%s'", i, err.msg, cases[i].msg);
    }
    ck_assert(tgc_coco_eval_open("/nonexistent/ann.json", &ev, &err) != 0);
    ck_assert_msg(strstr(err.msg, "/nonexistent/ann.json"), "%s", err.msg);

    /* result files */
    write_text(p, "{\"images\": [{\"id\": 1}], \"categories\": [{\"id\": 1}], \"annotations\": []}");
    ck_assert_msg(tgc_coco_eval_open(p, &ev, &err) == 0, "%s", err.msg);
    char *r = tgc_asprintf("%s/r.json", dir);
    static const struct {
        const char *text, *msg;
    } res[] = {
        {"{}", "r.json: expected a list of detections"},
        {"[{\"image_id\": 1, \"category_id\": 1, \"bbox\": [0, 0, 1, 1], \"score\": 0.5},\n"
         " {\"image_id\": 2, \"category_id\": 1, \"bbox\": [0, 0, 1, 1], \"score\": 0.5}]",
         "r.json: [1]: image_id 2 is not an id of the ground truth's images"},
        {"[{\"image_id\": 1, \"category_id\": 8, \"bbox\": [0, 0, 1, 1], \"score\": 0.5}]",
         "r.json: [0]: category_id 8 is not an id"},
        {"[{\"image_id\": 1, \"category_id\": 1, \"bbox\": [0, 0, 1, 1]}]", "r.json: [0].score is missing"},
        {"[{\"image_id\": 1, \"category_id\": 1, \"bbox\": [0, \"0\", 1, 1], \"score\": 1}]", "r.json: [0].bbox[1]: expected a number"},
    };
    for (size_t i = 0; i < TGC_ARRAY_LEN(res); i++) {
        write_text(r, res[i].text);
        ck_assert_msg(tgc_coco_eval_load_results(ev, r, &err) != 0, "result case %zu accepted", i);
        ck_assert_msg(strstr(err.msg, res[i].msg), "result case %zu: '%s' lacks '%s'", i, err.msg, res[i].msg);
        ck_assert_int_eq(tgc_coco_eval_num_dets(ev), 0); /* all of a file or nothing */
    }
    tgc_coco_eval_free(ev);
    /* in-memory ground truth */
    static const int64_t imgs[] = {1}, cats[] = {1, 1};
    ck_assert(tgc_coco_eval_new(imgs, 1, cats, 2, NULL, 0, &ev, &err) != 0);
    ck_assert_msg(strstr(err.msg, "categories[].id 1 appears more than once"), "%s", err.msg);
    tgc_coco_ann dup[] = {A(1, 1, 0, 0, 1, 1, 1, 0), A(1, 1, 0, 0, 1, 1, 1, 0)};
    ck_assert(tgc_coco_eval_new(imgs, 1, cats, 1, dup, 2, &ev, &err) != 0);
    ck_assert_msg(strstr(err.msg, "annotations[].id 0 appears more than once"), "%s", err.msg);
    free(r), free(p);
    test_rm_tree(dir);
    free(dir);
}
END_TEST

int main(void) {
    Suite *s = suite_create("rt_coco_eval");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, hand_checked);
    tcase_add_test(tc, printout_and_log_keys);
    tcase_add_test(tc, mmdet_identical);
    tcase_add_test(tc, empty_images);
    tcase_add_test(tc, crowd);
    tcase_add_test(tc, errors);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int nf = srunner_ntests_failed(sr);
    srunner_free(sr);
    return nf ? EXIT_FAILURE : EXIT_SUCCESS;
}
