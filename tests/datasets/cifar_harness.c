/* tests/datasets/cifar_harness.c - CIFAR10/100 as tgc reads them, in cifar_fixtures.py's 'mmpretrain' format.
 *
 * usage: tgc_cifar_dump ROOT
 *
 * For CIFAR10 (ROOT/cifar10) and CIFAR100 (ROOT/cifar100), splits train and test, prints per sample
 * "TYPE SPLIT INDEX LABEL PIXEL_SUM B0 B1 B2 HxWxC" (B0..B2: the first three bytes of the HWC image).
 * Exit status 1 with the error on stderr when a dataset is refused. Test-only.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/data/data.h"

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: %s ROOT\n", argv[0]);
        return 2;
    }
    static const char *const types[] = {"CIFAR10", "CIFAR100"}, *const subs[] = {"cifar10", "cifar100"};
    static const char *const splits[] = {"train", "test"};
    tgc_image img = {0}, scratch = {0};
    tgc_rng rng;
    tgc_rng_init(&rng, 0, 0, 0, TGC_RNG_AUGMENT);
    for (int t = 0; t < 2; t++)
        for (int s = 0; s < 2; s++) {
            tgc_err err = {{0}};
            char *text = tgc_asprintf("d: {type: %s, data_root: '%s/%s', split: %s, pipeline: [{type: PackInputs}]}\n",
                                      types[t], argv[1], subs[t], splits[s]);
            tgc_cfg *cfg = tgc_cfg_parse(text, strlen(text), "harness.yaml", &err);
            free(text);
            tgc_dataset *d = cfg ? tgc_dataset_open(tgc_cfg_get(cfg, "d"), &err) : NULL;
            if (!d) {
                fprintf(stderr, "error: %s\n", err.msg);
                tgc_cfg_free(cfg);
                return 1;
            }
            for (int i = 0; i < tgc_dataset_len(d); i++) {
                int32_t label;
                if (tgc_dataset_get(d, i, &img, &scratch, &rng, &label, &err)) {
                    fprintf(stderr, "error: %s\n", err.msg);
                    return 1;
                }
                long long sum = 0;
                size_t n = (size_t)img.h * img.w * img.c;
                for (size_t k = 0; k < n; k++) sum += img.data[k];
                printf("%s %s %d %d %lld %d %d %d %dx%dx%d\n", types[t], splits[s], i, (int)label, sum, img.data[0],
                       img.data[1], img.data[2], img.h, img.w, img.c);
            }
            tgc_dataset_free(d);
            tgc_cfg_free(cfg);
        }
    tgc_image_free(&img);
    tgc_image_free(&scratch);
    return 0;
}
