/* tests/unit/test_frontend_errors.c - bad model/data/optimizer settings give one clear error naming the file,
 * the line and the key path, and leave the module empty. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "frontend/frontend.h"

#define INPUTS TGC_SOURCE_DIR "/tests/unit/frontend_inputs/"

/* 1-based number of the first line of fixture `name` containing `needle`. */
static int line_of(const char *name, const char *needle) {
    char path[1024], line[512];
    snprintf(path, sizeof path, "%s%s", INPUTS, name);
    FILE *f = fopen(path, "r");
    ck_assert_msg(f != NULL, "cannot open %s", path);
    int n = 0, found = 0;
    while (fgets(line, sizeof line, f)) {
        n++;
        if (strstr(line, needle)) {
            found = n;
            break;
        }
    }
    fclose(f);
    ck_assert_msg(found, "'%s' not in %s", needle, name);
    return found;
}

/* Builds fixture `name` expecting failure; the message must contain "name:LINE:" (LINE: the line holding
 * `line_needle`; when NULL, the key lives in a base file and any "FILE.yaml:LINE:" will do), the key path and every string in `want` (NULL-terminated). */
static void expect_error(const char *name, const char *line_needle, const char *key_path, const char *const *want) {
    char path[1024];
    snprintf(path, sizeof path, "%s%s", INPUTS, name);
    tgc_err err = {{0}};
    tgc_cfg *c = tgc_cfg_load(path, &err);
    ck_assert_msg(c != NULL, "loading %s: %s", name, err.msg);
    tgc_module m;
    memset(&m, 0x5a, sizeof m);
    int rc = tgc_frontend_build(c, &m, &err);
    tgc_cfg_free(c);
    ck_assert_msg(rc < 0, "%s: built without an error", name);
    ck_assert_msg(m.train == NULL && m.eval == NULL, "%s: the module is not left empty", name);
    printf("%s -> %s\n", name, err.msg);
    if (line_needle) {
        char where[256];
        snprintf(where, sizeof where, "%s:%d: ", name, line_of(name, line_needle));
        ck_assert_msg(strstr(err.msg, where), "%s: '%s' not in: %s", name, where, err.msg);
    } else {
        /* the key sits in a base file: any "FILE.yaml:LINE: " */
        const char *p = strstr(err.msg, ".yaml:");
        ck_assert_msg(p && p[6] >= '1' && p[6] <= '9', "%s: no FILE:LINE in: %s", name, err.msg);
    }
    ck_assert_msg(strstr(err.msg, key_path), "%s: key path '%s' not in: %s", name, key_path, err.msg);
    for (int i = 0; want && want[i]; i++)
        ck_assert_msg(strstr(err.msg, want[i]), "%s: '%s' not in: %s", name, want[i], err.msg);
}

#define WANT(...) ((const char *const[]){__VA_ARGS__, NULL})

START_TEST(unknown_backbone) {
    expect_error("err_backbone_type.yaml", "ResNeSt", "model.backbone.type",
                 WANT("ResNeSt", "ResNet, ResNet_CIFAR, ResNetV1c, ResNetV1d, ResNeXt, SEResNet, SEResNeXt, LeNet5"));
}
END_TEST
START_TEST(bad_depth) {
    expect_error("err_depth.yaml", "depth: 20", "model.backbone.depth", WANT("20", "18, 34, 50, 101, 152"));
}
END_TEST
START_TEST(depth_type) {
    expect_error("err_depth_type.yaml", "depth: abc", "model.backbone.depth", WANT("integer", "abc"));
}
END_TEST
START_TEST(in_channels) {
    expect_error("err_in_channels.yaml", "in_channels: 3", "model.backbone.in_channels",
                 WANT("3 does not match the 1-channel FashionMNIST input"));
}
END_TEST
START_TEST(head_channels) {
    expect_error("err_head_channels.yaml", "in_channels: 512", "model.head.in_channels", WANT("512", "64"));
}
END_TEST
START_TEST(unknown_transform) {
    expect_error("err_transform.yaml", "BEiTMaskGenerator", "train_dataloader.dataset.pipeline[1].type",
                 WANT("BEiTMaskGenerator", "RandomResizedCrop", "CenterCrop"));
}
END_TEST
START_TEST(unknown_optimizer) {
    expect_error("err_optimizer.yaml", "type: Adadelta", "optim_wrapper.optimizer.type",
                 WANT("'Adadelta'", "SGD, AdamW, Adam, RMSprop, Lamb"));
}
END_TEST
START_TEST(nesterov) {
    expect_error("err_nesterov.yaml", "nesterov", "optim_wrapper.optimizer.nesterov",
                 WANT("requires a momentum"));
}
END_TEST
START_TEST(unknown_size) {
    expect_error("err_unknown_size.yaml", NULL, "val_dataloader.dataset.pipeline",
                 WANT("ResizeEdge", "CenterCrop", "unknown"));
}
END_TEST
START_TEST(mean_length) {
    expect_error("err_mean.yaml", "mean:", "data_preprocessor.mean", WANT("3 values", "1-channel"));
}
END_TEST
START_TEST(key_typo) {
    expect_error("err_key_typo.yaml", "base_channel:", "model.backbone.base_channel",
                 WANT("unknown key", "base_channels"));
}
END_TEST
START_TEST(cifar_deep_stem) {
    expect_error("err_cifar_deep_stem.yaml", "deep_stem", "model.backbone.deep_stem", WANT("ResNet_CIFAR"));
}
END_TEST
START_TEST(sigmoid) {
    expect_error("err_sigmoid.yaml", "use_sigmoid", "model.head.loss.use_sigmoid", WANT("needs [N, C] targets"));
}
END_TEST
START_TEST(no_neck) {
    expect_error("err_no_neck.yaml", NULL, "model.head", WANT("GlobalAveragePooling", "[128,64,7,7]"));
}
END_TEST
START_TEST(frozen) {
    expect_error("err_frozen.yaml", "frozen_stages", "model.backbone.frozen_stages", WANT("must be in -1.."));
}
END_TEST
START_TEST(dataset) {
    expect_error("err_dataset.yaml", "VOC", "train_dataloader.dataset.type", WANT("VOC", "FashionMNIST", "CIFAR10"));
}
END_TEST
START_TEST(strides) {
    expect_error("err_strides.yaml", "strides", "model.backbone.strides", WANT("num_stages is 3"));
}
END_TEST
START_TEST(base_wd) {
    expect_error("err_base_wd.yaml", "norm_decay_mult", "optim_wrapper.paramwise_cfg.norm_decay_mult",
                 WANT("weight_decay", "base_wd should not be None"));
}
END_TEST

START_TEST(lenet_size) {
    expect_error("err_lenet_size.yaml", NULL, "model.backbone.type", WANT("32x32", "1x28x28"));
}
END_TEST

START_TEST(num_classes) {
    expect_error("err_num_classes.yaml", NULL, "model.head.num_classes", WANT("10 is fewer than the 100 classes of CIFAR100"));
}
END_TEST
START_TEST(topk) {
    expect_error("err_topk.yaml", NULL, "model.head.topk", WANT("5 is not in 1..3"));
}
END_TEST

int main(void) {
    Suite *s = suite_create("frontend_errors");
    TCase *tc = tcase_create("errors");
    tcase_add_test(tc, unknown_backbone);
    tcase_add_test(tc, bad_depth);
    tcase_add_test(tc, depth_type);
    tcase_add_test(tc, in_channels);
    tcase_add_test(tc, head_channels);
    tcase_add_test(tc, unknown_transform);
    tcase_add_test(tc, unknown_optimizer);
    tcase_add_test(tc, nesterov);
    tcase_add_test(tc, unknown_size);
    tcase_add_test(tc, mean_length);
    tcase_add_test(tc, key_typo);
    tcase_add_test(tc, cifar_deep_stem);
    tcase_add_test(tc, sigmoid);
    tcase_add_test(tc, no_neck);
    tcase_add_test(tc, frozen);
    tcase_add_test(tc, dataset);
    tcase_add_test(tc, strides);
    tcase_add_test(tc, lenet_size);
    tcase_add_test(tc, base_wd);
    tcase_add_test(tc, num_classes);
    tcase_add_test(tc, topk);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int nf = srunner_ntests_failed(sr);
    srunner_free(sr);
    return nf ? EXIT_FAILURE : EXIT_SUCCESS;
}
