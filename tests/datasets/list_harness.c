/* tests/datasets/list_harness.c - the sample list of a dataset as tgc opens it (tests/datasets/fixtures.py).
 *
 * usage: tgc_dataset_list CONFIG KEY
 *
 * Opens the dataset map at KEY of CONFIG (YAML) with tgc_dataset_open and prints "classes N" (N: the class
 * count, "-" when the dataset has no class names), then "path label" per sample; the dataset's notes go to
 * stderr. Exit status 1 with the error on stderr when the dataset is refused. Test-only.
 */
#include <stdio.h>

#include "runtime/data/data.h"

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: %s CONFIG KEY\n", argv[0]);
        return 2;
    }
    tgc_err err = {{0}};
    tgc_cfg *cfg = tgc_cfg_load(argv[1], &err);
    if (!cfg) {
        fprintf(stderr, "error: %s\n", err.msg);
        return 1;
    }
    tgc_dataset *d = tgc_dataset_open(tgc_cfg_at(cfg, argv[2]), &err);
    if (!d) {
        fprintf(stderr, "error: %s\n", err.msg);
        tgc_cfg_free(cfg);
        return 1;
    }
    fputs(tgc_dataset_notes(d), stderr);
    if (tgc_dataset_has_class_names(d)) printf("classes %d\n", tgc_dataset_num_classes(d));
    else printf("classes -\n");
    for (int i = 0; i < tgc_dataset_len(d); i++) printf("%s %d\n", tgc_dataset_path(d, i), tgc_dataset_label(d, i));
    tgc_dataset_free(d);
    tgc_cfg_free(cfg);
    return 0;
}
