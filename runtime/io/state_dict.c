/* runtime/io/state_dict.c - the state-dict container, format detection and dtype conversion (state_dict.h). */
#include "runtime/io/state_dict.h"

#include <stdlib.h>
#include <string.h>

#include "common/half.h"
#include "runtime/io/checkpoint.h"

tgc_sd *tgc_sd_new(void) { return tgc_calloc(1, sizeof(tgc_sd)); }

void tgc_sd_free(tgc_sd *sd) {
    if (!sd) return;
    for (int i = 0; i < sd->n; i++) {
        free(sd->t[i].name);
        free(sd->t[i].data);
    }
    free(sd->t);
    free(sd->config);
    free(sd->skipped);
    free(sd);
}

int64_t tgc_sd_numel(const tgc_shape *s) {
    int64_t n = 1;
    for (int i = 0; i < s->rank; i++) n *= s->d[i];
    return n;
}

void tgc_sd_add(tgc_sd *sd, const char *name, tgc_dtype dtype, const tgc_shape *shape, const void *data) {
    TGC_GROW(sd->t, sd->cap, sd->n + 1);
    tgc_sd_tensor *t = &sd->t[sd->n++];
    t->name = tgc_strdup(name);
    t->dtype = dtype;
    t->shape = *shape;
    t->bytes = (size_t)tgc_sd_numel(shape) * tgc_dtype_size(dtype);
    t->data = tgc_malloc(t->bytes ? t->bytes : 1);
    if (t->bytes) memcpy(t->data, data, t->bytes);
}

const tgc_sd_tensor *tgc_sd_find(const tgc_sd *sd, const char *name) {
    for (int i = 0; i < sd->n; i++)
        if (!strcmp(sd->t[i].name, name)) return &sd->t[i];
    return NULL;
}

int tgc_sd_convert(const tgc_sd_tensor *t, tgc_dtype to, void *dst) {
    if (to != TGC_F32 && to != TGC_F16 && to != TGC_BF16) return -1;
    if (t->dtype == to) {
        memcpy(dst, t->data, t->bytes);
        return 0;
    }
    if (to == TGC_F32) return tgc_sd_to_f32(t, dst);
    int64_t n = tgc_sd_numel(&t->shape);
    float *f = tgc_malloc((size_t)(n ? n : 1) * sizeof *f);
    int rc = tgc_sd_to_f32(t, f);
    uint16_t *h = dst;
    for (int64_t i = 0; rc == 0 && i < n; i++) h[i] = to == TGC_F16 ? tgc_f32_to_f16(f[i]) : tgc_f32_to_bf16(f[i]);
    free(f);
    return rc;
}

int tgc_sd_to_f32(const tgc_sd_tensor *t, float *dst) {
    int64_t n = tgc_sd_numel(&t->shape);
    const uint16_t *h = t->data;
    switch (t->dtype) {
    case TGC_F32: memcpy(dst, t->data, (size_t)n * sizeof(float)); return 0;
    case TGC_F16:
        for (int64_t i = 0; i < n; i++) dst[i] = tgc_f16_to_f32(h[i]);
        return 0;
    case TGC_BF16:
        for (int64_t i = 0; i < n; i++) dst[i] = tgc_bf16_to_f32(h[i]);
        return 0;
    default: return -1;
    }
}

/* tgc's own checkpoint: params and buffers (optimizer state is not a model's weight). */
static tgc_sd *from_tgc(const uint8_t *data, size_t len, const char *name, tgc_err *err) {
    tgc_ckpt *c = tgc_ckpt_parse(data, len, name, NULL, err);
    if (!c) return NULL;
    tgc_sd *sd = tgc_sd_new();
    sd->format = "tgc";
    for (int i = 0; i < tgc_ckpt_n_tensors(c); i++) {
        const tgc_ckpt_tensor *t = tgc_ckpt_tensor_at(c, i);
        if (!strncmp(t->name, "optimizer.", 10)) continue;
        tgc_sd_add(sd, t->name, t->dtype, &t->shape, tgc_ckpt_data(c, t));
    }
    const char *cfg;
    if (tgc_ckpt_get_str(c, "config", NULL, &cfg, NULL) == 1 && cfg) sd->config = tgc_strdup(cfg);
    tgc_ckpt_free(c);
    return sd;
}

tgc_sd *tgc_sd_parse(const uint8_t *data, size_t len, const char *name, tgc_err *err) {
    if (len >= 4 && !memcmp(data, "PK\3\4", 4)) return tgc_sd_parse_pth(data, len, name, err);
    if (len >= 8 && !memcmp(data, TGC_CKPT_MAGIC, 8)) return from_tgc(data, len, name, err);
    if (len >= 9 && data[8] == '{') return tgc_sd_parse_safetensors(data, len, name, err);
    if (len >= 2 && data[0] == 0x80)
        tgc_fail(err, "%s: a pickle without a zip archive: PyTorch's legacy format (before 1.6) is not read; "
                      "re-save it with torch.save(obj, path) from PyTorch >= 1.6", name);
    else
        tgc_fail(err, "%s: not a PyTorch zip checkpoint, a safetensors file or a tgc checkpoint", name);
    return NULL;
}

tgc_sd *tgc_sd_load(const char *path, tgc_err *err) {
    uint8_t *buf;
    size_t len;
    if (tgc_read_file(path, (size_t)TGC_SD_MAX_FILE, &buf, &len, err)) return NULL;
    tgc_sd *sd = tgc_sd_parse(buf, len, path, err);
    free(buf);
    return sd;
}
