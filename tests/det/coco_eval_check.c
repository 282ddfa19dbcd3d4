/* tests/det/coco_eval_check.c - runs tgc's COCO bbox evaluator on an annotation file and a result file, for
 * tests/det/coco_vs_pycocotools.py: prints the summary lines, then "stats" and the 12 numbers (%.17g).
 *   coco_eval_check ANN.json RESULTS.json [--max-dets A B C] [--write PREFIX]
 * --write also writes the detections back as PREFIX.bbox.json. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/det/coco_eval.h"

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: %s ANN.json RESULTS.json [--max-dets A B C] [--write PREFIX]\n", argv[0]);
        return 2;
    }
    int max_dets[3] = {1, 10, 100}, have_md = 0;
    const char *prefix = NULL;
    for (int i = 3; i < argc; i++) {
        if (!strcmp(argv[i], "--max-dets") && i + 3 < argc) {
            for (int j = 0; j < 3; j++) max_dets[j] = atoi(argv[++i]);
            have_md = 1;
        } else if (!strcmp(argv[i], "--write") && i + 1 < argc) {
            prefix = argv[++i];
        } else {
            fprintf(stderr, "%s: unknown argument '%s'\n", argv[0], argv[i]);
            return 2;
        }
    }
    tgc_err err;
    tgc_coco_eval *ev;
    if (tgc_coco_eval_open(argv[1], &ev, &err)) {
        fprintf(stderr, "error: %s\n", err.msg);
        return 1;
    }
    double stats[TGC_COCO_NSTATS];
    if ((have_md && tgc_coco_eval_set_max_dets(ev, max_dets, &err)) || tgc_coco_eval_load_results(ev, argv[2], &err) ||
        (prefix && tgc_coco_eval_write_results(ev, prefix, &err)) || tgc_coco_eval_compute(ev, stats, &err)) {
        fprintf(stderr, "error: %s\n", err.msg);
        tgc_coco_eval_free(ev);
        return 1;
    }
    char *summary = tgc_coco_eval_summary(ev, stats);
    fputs(summary, stdout);
    free(summary);
    printf("stats");
    for (int i = 0; i < TGC_COCO_NSTATS; i++) printf(" %.17g", stats[i]);
    printf("\n");
    tgc_coco_eval_free(ev);
    return 0;
}
