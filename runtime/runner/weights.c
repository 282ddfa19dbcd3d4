/* runtime/runner/weights.c - load_from and init_cfg Pretrained (weights.h). */
#include "runtime/runner/weights.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "runtime/io/state_dict.h"

void tgc_weights_report_free(tgc_weights_report *rep) {
    free(rep->path);
    free(rep->info);
    free(rep->warning);
    memset(rep, 0, sizeof *rep);
}

static int starts(const char *s, const char *p) { return !strncmp(s, p, strlen(p)); }

int tgc_weights_resolve(const char *ck, char **path, tgc_err *err) {
    *path = NULL;
    static const char *const zoo[] = {"torchvision://", "open-mmlab://", "openmmlab://", "mmcls://", "mmpretrain://",
                                      "modelzoo://", "pavi://", "s3://"};
    for (size_t i = 0; i < TGC_ARRAY_LEN(zoo); i++)
        if (starts(ck, zoo[i]))
            return tgc_fail(err, "checkpoint '%s' names a model-zoo file that MMEngine would download; tgc does not "
                                 "download: fetch it where there is a network (e.g. MMEngine's "
                                 "load_checkpoint('%s') leaves it in ~/.cache/torch/hub/checkpoints/), copy it here "
                                 "and set checkpoint to its path; or train that part from scratch (init_cfg: null, "
                                 "and frozen_stages: -1 for a backbone, whose frozen stages would otherwise keep "
                                 "their random values)",
                            ck, ck);
    if (starts(ck, "http://") || starts(ck, "https://")) {
        const char *base = strrchr(ck, '/') + 1, *th = getenv("TORCH_HOME"), *home = getenv("HOME");
        size_t blen = strcspn(base, "?#");
        char *dir = th && *th ? tgc_asprintf("%s/hub/checkpoints", th)
                              : tgc_asprintf("%s/.cache/torch/hub/checkpoints", home && *home ? home : ".");
        char *cached = tgc_asprintf("%s/%.*s", dir, (int)blen, base);
        struct stat st;
        if (blen && stat(cached, &st) == 0 && S_ISREG(st.st_mode)) {
            free(dir);
            *path = cached;
            return 0;
        }
        tgc_fail(err, "checkpoint '%s' is a URL and tgc does not download; put the file at %s (MMEngine's download "
                      "cache, which tgc reads), or set checkpoint to its path",
                 ck, blen ? cached : dir);
        free(dir);
        free(cached);
        return -1;
    }
    *path = tgc_strdup(ck);
    return 0;
}

static void list_add(tgc_buf *b, const char *name) {
    if (b->len) tgc_buf_put(b, ", ", 2);
    tgc_buf_put(b, name, strlen(name));
}

static void shape_str(const tgc_shape *s, char *buf, size_t n) {
    size_t pos = (size_t)snprintf(buf, n, "torch.Size([");
    for (int i = 0; i < s->rank && pos < n; i++) pos += (size_t)snprintf(buf + pos, n - pos, "%s%lld", i ? ", " : "", (long long)s->d[i]);
    if (pos < n) snprintf(buf + pos, n - pos, "])");
}

static int is_weight(const tgc_plan_tensor *t) { return t->kind == TGC_VAL_PARAM || t->kind == TGC_VAL_BUFFER; }

static int plan_find(const tgc_plan *p, const char *name) {
    for (int i = 0; i < p->n_tensors; i++)
        if (is_weight(&p->tensors[i]) && !strcmp(p->tensors[i].name, name)) return i;
    return -1;
}

static int ends(const char *s, const char *suf) {
    size_t a = strlen(s), b = strlen(suf);
    return a >= b && !strcmp(s + a - b, suf);
}

/* The source keys as the model's plan names (NULL: not considered at all). */
static char **target_names(const tgc_plan *p, const tgc_sd *sd, const tgc_weights_opts *o, tgc_buf *info) {
    char **names = tgc_calloc((size_t)(sd->n ? sd->n : 1), sizeof *names);
    int direct = 0, tv = 0, has_layer = 0;
    /* MMEngine's _load_checkpoint_with_prefix: 'backbone' and 'backbone.' are the same prefix */
    char *prefix = NULL;
    if (o->prefix && *o->prefix)
        prefix = tgc_asprintf("%s%s", o->prefix, o->prefix[strlen(o->prefix) - 1] == '.' ? "" : ".");
    for (int i = 0; i < sd->n; i++) {
        const char *k = sd->t[i].name;
        if (starts(k, "module.")) k += 7;
        if (prefix) {
            if (!starts(k, prefix)) continue;
            k += strlen(prefix);
        }
        if (ends(k, ".num_batches_tracked") || !strcmp(k, "num_batches_tracked")) continue;
        names[i] = tgc_asprintf("%s%s", o->scope, k);
        direct += plan_find(p, names[i]) >= 0;
        tv += !strcmp(k, "conv1.weight") || !strcmp(k, "fc.weight");
        has_layer |= starts(k, "layer1.");
    }
    if (!*o->scope && !direct && tv == 2 && has_layer) { /* torchvision's ResNet names */
        for (int i = 0; i < sd->n; i++) {
            if (!names[i]) continue;
            char *m = starts(names[i], "fc.") ? tgc_asprintf("head.%s", names[i]) : tgc_asprintf("backbone.%s", names[i]);
            free(names[i]);
            names[i] = m;
        }
        tgc_buf_printf(info, "torchvision ResNet names mapped to MMPretrain's (backbone.*, fc -> head.fc)\n");
    }
    free(prefix);
    return names;
}

int tgc_weights_load(const tgc_plan *p, tgc_exec *x, const tgc_weights_opts *o, tgc_weights_report *rep,
                     tgc_err *err) {
    memset(rep, 0, sizeof *rep);
    if (tgc_weights_resolve(o->checkpoint, &rep->path, err)) return tgc_err_prefix(err, "%s", o->what);
    tgc_sd *sd = tgc_sd_load(rep->path, err);
    if (!sd) {
        tgc_weights_report_free(rep);
        return tgc_err_prefix(err, "%s", o->what);
    }
    tgc_buf info = {0}, mismatch = {0}, missing = {0}, unexpected = {0};
    if (sd->skipped) tgc_buf_printf(&info, "%s: top-level keys not read: %s\n", rep->path, sd->skipped);
    char **names = target_names(p, sd, o, &info);
    int rc = 0;
    uint8_t *seen = tgc_calloc((size_t)(p->n_tensors ? p->n_tensors : 1), 1);
    for (int i = 0; i < sd->n && rc == 0; i++) {
        if (!names[i]) continue;
        const tgc_sd_tensor *st = &sd->t[i];
        int pi = plan_find(p, names[i]);
        /* report in the loaded module's terms: keys relative to the part */
        const char *rel = names[i] + strlen(o->scope);
        if (pi < 0 || !starts(names[i], o->scope)) {
            list_add(&unexpected, rel);
            continue;
        }
        const tgc_plan_tensor *t = &p->tensors[pi];
        seen[pi] = 1;
        int same = st->shape.rank == t->type.shape.rank;
        for (int d = 0; same && d < st->shape.rank; d++) same = st->shape.d[d] == t->type.shape.d[d];
        int fp = st->dtype == TGC_F32 || st->dtype == TGC_F16 || st->dtype == TGC_BF16;
        int convert = st->dtype != t->type.dtype && fp &&
                      (t->type.dtype == TGC_F32 || t->type.dtype == TGC_F16 || t->type.dtype == TGC_BF16);
        if (!same) {
            char a[160], b[160];
            shape_str(&st->shape, a, sizeof a);
            shape_str(&t->type.shape, b, sizeof b);
            tgc_buf_printf(&mismatch, "size mismatch for %s: copying a param with shape %s from checkpoint, the shape "
                                      "in current model is %s.\n", rel, a, b);
            continue;
        }
        if (st->dtype != t->type.dtype && !convert) {
            tgc_buf_printf(&mismatch, "dtype mismatch for %s: %s in the checkpoint, %s in the model (skipped).\n", rel,
                           tgc_dtype_name(st->dtype), tgc_dtype_name(t->type.dtype));
            continue;
        }
        if (convert) {
            void *buf = tgc_malloc(t->bytes ? (size_t)t->bytes : 1);
            tgc_sd_convert(st, t->type.dtype, buf);
            rc = tgc_exec_write(x, pi, buf, err);
            free(buf);
        } else {
            rc = tgc_exec_write(x, pi, st->data, err);
        }
        rep->loaded += rc == 0;
    }
    for (int i = 0; i < p->n_tensors && rc == 0; i++)
        if (is_weight(&p->tensors[i]) && !seen[i] && starts(p->tensors[i].name, o->scope))
            list_add(&missing, p->tensors[i].name + strlen(o->scope));
    if (rc == 0 && (mismatch.len || missing.len || unexpected.len)) {
        tgc_buf msg = {0};
        tgc_buf_printf(&msg, "The model and loaded state dict do not match exactly\n\n");
        if (mismatch.len) tgc_buf_put(&msg, mismatch.data, mismatch.len);
        if (unexpected.len) tgc_buf_printf(&msg, "unexpected key in source state_dict: %.*s\n\n", (int)unexpected.len,
                                           (const char *)unexpected.data);
        if (missing.len) tgc_buf_printf(&msg, "missing keys in source state_dict: %.*s\n", (int)missing.len,
                                        (const char *)missing.data);
        tgc_buf_u8(&msg, 0);
        rep->warning = (char *)msg.data;
    }
    if (info.len) {
        tgc_buf_u8(&info, 0);
        rep->info = (char *)info.data;
    } else {
        tgc_buf_free(&info);
    }
    for (int i = 0; i < sd->n; i++) free(names[i]);
    free(names);
    free(seen);
    tgc_buf_free(&mismatch);
    tgc_buf_free(&missing);
    tgc_buf_free(&unexpected);
    tgc_sd_free(sd);
    if (rc) {
        tgc_weights_report_free(rep);
        return tgc_err_prefix(err, "%s", o->what);
    }
    return 0;
}
