/* runtime/data/data_batch_aug.c - MMPretrain's batch augments (Mixup, CutMix, chosen per batch as its
 * RandomBatchAugment does), applied to a normalised batch as its data preprocessor does, with the soft
 * targets they make.
 *
 * Every draw comes from Philox keyed by (seed, epoch, batch number and rank, TGC_RNG_BATCH_AUGMENT), so a
 * batch's mix does not depend on worker counts and an exact resume needs only the counters. The draws are
 * tgc's (numpy's generator is not reproduced): the distributions and the arithmetic are MMPretrain's. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/data/data.h"

struct tgc_batch_aug {
    int n;
    struct {
        int cutmix;
        double alpha;
        int minmax; /* cutmix_minmax given */
        double mm[2];
        int correct_lam;
    } a[TGC_BATCH_AUG_MAX];
    double probs[TGC_BATCH_AUG_MAX + 1]; /* the choice: n augments, then "none" */
    int n_choices;
    float *copy; /* the batch before mixing (rows are read after being overwritten) */
    size_t copy_cap;
    int *perm;
    int perm_cap;
};

static int read_aug(const tgc_cfg *m, tgc_batch_aug *b, tgc_err *err) {
    if (m->kind != TGC_CFG_MAP) return tgc_cfg_fail(err, m, "a batch augment must be a map");
    if (b->n == TGC_BATCH_AUG_MAX) return tgc_cfg_fail(err, m, "more than %d batch augments", TGC_BATCH_AUG_MAX);
    const char *type;
    if (tgc_cfg_str(m, "type", NULL, &type, err)) return -1;
    int k = b->n;
    if (!type || (strcmp(type, "Mixup") && strcmp(type, "CutMix")))
        return tgc_cfg_fail(err, m, "unsupported batch augment '%s' (supported: Mixup, CutMix)", type ? type : "");
    b->a[k].cutmix = !strcmp(type, "CutMix");
    if (!tgc_cfg_get(m, "alpha")) return tgc_cfg_fail(err, m, "%s needs alpha", type);
    if (tgc_cfg_float(m, "alpha", 0, &b->a[k].alpha, err) || tgc_cfg_bool(m, "correct_lam", 1, &b->a[k].correct_lam, err))
        return -1;
    if (!(b->a[k].alpha > 0 && b->a[k].alpha < 1e6))
        return tgc_cfg_fail(err, tgc_cfg_get(m, "alpha"), "alpha must be positive");
    const tgc_cfg *mm = tgc_cfg_get(m, "cutmix_minmax");
    if (mm && mm->kind != TGC_CFG_NULL) {
        if ((mm->kind != TGC_CFG_LIST && mm->kind != TGC_CFG_TUPLE) || mm->n != 2)
            return tgc_cfg_fail(err, mm, "cutmix_minmax must be [min, max]");
        for (int i = 0; i < 2; i++) {
            const tgc_cfg *v = mm->items[i];
            if (v->kind != TGC_CFG_INT && v->kind != TGC_CFG_FLOAT) return tgc_cfg_fail(err, v, "expected a number");
            b->a[k].mm[i] = v->kind == TGC_CFG_INT ? (double)v->i : v->f;
        }
        if (!(b->a[k].mm[0] >= 0 && b->a[k].mm[0] < b->a[k].mm[1] && b->a[k].mm[1] <= 1))
            return tgc_cfg_fail(err, mm, "cutmix_minmax must satisfy 0 <= min < max <= 1");
        b->a[k].minmax = 1;
    }
    b->n++;
    return 0;
}

tgc_batch_aug *tgc_batch_aug_from_cfg(const tgc_cfg *train_cfg, tgc_err *err) {
    const tgc_cfg *aug = train_cfg && train_cfg->kind == TGC_CFG_MAP ? tgc_cfg_get(train_cfg, "augments") : NULL;
    if (!aug || aug->kind == TGC_CFG_NULL) return NULL;
    tgc_batch_aug *b = tgc_calloc(1, sizeof *b);
    int list = aug->kind == TGC_CFG_LIST || aug->kind == TGC_CFG_TUPLE;
    for (int i = 0; i < (list ? aug->n : 1); i++)
        if (read_aug(list ? aug->items[i] : aug, b, err)) goto fail;
    if (!b->n) {
        tgc_cfg_fail(err, aug, "no batch augment given");
        goto fail;
    }
    /* RandomBatchAugment: without probs each augment is equally likely; with probs (one per augment, summing
     * to at most 1) the rest is the probability of leaving the batch as it is. */
    const tgc_cfg *pc = tgc_cfg_get(train_cfg, "probs");
    b->n_choices = b->n;
    for (int i = 0; i < b->n; i++) b->probs[i] = 1.0 / b->n;
    if (pc && pc->kind != TGC_CFG_NULL) {
        double p[TGC_BATCH_AUG_MAX], sum = 0;
        int np = 0;
        const tgc_cfg *one = pc;
        int plist = pc->kind == TGC_CFG_LIST || pc->kind == TGC_CFG_TUPLE;
        for (int i = 0; i < (plist ? pc->n : 1); i++) {
            if (plist) one = pc->items[i];
            if ((one->kind != TGC_CFG_INT && one->kind != TGC_CFG_FLOAT) || np == TGC_BATCH_AUG_MAX) {
                tgc_cfg_fail(err, one, "probs must be numbers, one per augment");
                goto fail;
            }
            p[np] = one->kind == TGC_CFG_INT ? (double)one->i : one->f;
            if (!(p[np] >= 0)) {
                tgc_cfg_fail(err, one, "probabilities must not be negative");
                goto fail;
            }
            sum += p[np++];
        }
        if (np != b->n) {
            tgc_cfg_fail(err, pc, "%d probs for %d augments", np, b->n);
            goto fail;
        }
        if (sum > 1 + 1e-9) {
            tgc_cfg_fail(err, pc, "the probabilities sum to %g > 1", sum);
            goto fail;
        }
        for (int i = 0; i < np; i++) b->probs[i] = p[i];
        b->probs[np] = sum < 1 ? 1 - sum : 0;
        b->n_choices = np + 1;
    }
    return b;
fail:
    tgc_batch_aug_free(b);
    return NULL;
}

void tgc_batch_aug_free(tgc_batch_aug *b) {
    if (!b) return;
    free(b->copy);
    free(b->perm);
    free(b);
}

/* ---- draws ------------------------------------------------------------------------------------------ */
static double normal(tgc_rng *r) { /* Box-Muller, one of the pair */
    double u1 = tgc_rng_uniform(r), u2 = tgc_rng_uniform(r);
    return sqrt(-2.0 * log(1.0 - u1)) * cos(6.283185307179586 * u2);
}

/* Gamma(a, 1): Marsaglia and Tsang's method; a < 1 through Gamma(a + 1) * U^(1/a). */
static double gamma_draw(tgc_rng *r, double a) {
    if (a < 1) {
        double u = tgc_rng_uniform(r);
        return gamma_draw(r, a + 1) * pow(1.0 - u, 1.0 / a);
    }
    double d = a - 1.0 / 3.0, c = 1.0 / sqrt(9.0 * d);
    for (;;) {
        double x = normal(r), v = 1 + c * x;
        if (v <= 0) continue;
        v = v * v * v;
        double u = tgc_rng_uniform(r);
        if (log(1.0 - u) < 0.5 * x * x + d - d * v + d * log(v)) return d * v;
    }
}

static double beta_draw(tgc_rng *r, double a) {
    double x = gamma_draw(r, a), y = gamma_draw(r, a);
    return x + y > 0 ? x / (x + y) : 0.5;
}

/* numpy's randint(lo, hi): uniform in [lo, hi); lo when the range is empty. */
static int randint(tgc_rng *r, int lo, int hi) { return hi > lo ? lo + (int)tgc_rng_below(r, (uint32_t)(hi - lo)) : lo; }

static int clampi(int v, int lo, int hi) { return v < lo ? lo : v > hi ? hi : v; }

/* ---- applying --------------------------------------------------------------------------------------- */
int tgc_batch_aug_apply(tgc_batch_aug *b, float *images, const int32_t *labels, int n, int c, int h, int w,
                        int classes, float *scores, const tgc_batch_aug_key *key, tgc_batch_aug_draw *drawn,
                        tgc_err *err) {
    for (int i = 0; i < n; i++)
        if (labels[i] < 0 || labels[i] >= classes)
            return tgc_fail(err, "label %d of sample %d is outside [0, %d) (the soft targets' width)", (int)labels[i],
                            i, classes);
    tgc_rng r;
    tgc_rng_init(&r, key->seed, key->epoch, key->position, TGC_RNG_BATCH_AUGMENT);
    /* numpy's choice: the first index whose cumulative probability exceeds a uniform draw */
    double u = tgc_rng_uniform(&r), acc = 0;
    int choice = b->n_choices - 1;
    for (int i = 0; i < b->n_choices; i++) {
        acc += b->probs[i];
        if (u < acc) {
            choice = i;
            break;
        }
    }
    memset(scores, 0, sizeof(float) * (size_t)n * (size_t)classes);
    tgc_batch_aug_draw d = {.choice = choice, .lam = 1, .y1 = 0, .y2 = 0, .x1 = 0, .x2 = 0};
    if (choice >= b->n || n < 1) { /* no augment: one-hot targets */
        for (int i = 0; i < n; i++) scores[(size_t)i * (size_t)classes + (size_t)labels[i]] = 1;
        d.choice = -1;
        if (drawn) *drawn = d;
        return 0;
    }
    double lam = beta_draw(&r, b->a[choice].alpha);
    if (n > b->perm_cap) {
        b->perm = tgc_realloc(b->perm, sizeof(int) * (size_t)n);
        b->perm_cap = n;
    }
    for (int i = 0; i < n; i++) b->perm[i] = i;
    for (int i = n - 1; i > 0; i--) { /* Fisher-Yates */
        int j = (int)tgc_rng_below(&r, (uint32_t)(i + 1)), t = b->perm[i];
        b->perm[i] = b->perm[j];
        b->perm[j] = t;
    }
    size_t plane = (size_t)h * (size_t)w, sample = (size_t)c * plane, total = sample * (size_t)n;
    if (total > b->copy_cap) {
        b->copy = tgc_realloc(b->copy, sizeof(float) * total);
        b->copy_cap = total;
    }
    memcpy(b->copy, images, sizeof(float) * total);
    if (!b->a[choice].cutmix) {
        /* Mixup: lam * x + (1 - lam) * x[perm], in float as torch computes it */
        float l = (float)lam, m = (float)(1 - lam);
        for (int i = 0; i < n; i++) {
            const float *xa = b->copy + (size_t)i * sample, *xb = b->copy + (size_t)b->perm[i] * sample;
            float *y = images + (size_t)i * sample;
            for (size_t k = 0; k < sample; k++) y[k] = l * xa[k] + m * xb[k];
        }
    } else {
        int y1, y2, x1, x2;
        if (b->a[choice].minmax) {
            int ch = randint(&r, (int)(h * b->a[choice].mm[0]), (int)(h * b->a[choice].mm[1]));
            int cw = randint(&r, (int)(w * b->a[choice].mm[0]), (int)(w * b->a[choice].mm[1]));
            y1 = randint(&r, 0, h - ch);
            x1 = randint(&r, 0, w - cw);
            y2 = y1 + ch, x2 = x1 + cw;
        } else {
            double ratio = sqrt(1 - lam);
            int ch = (int)(h * ratio), cw = (int)(w * ratio);
            int cy = randint(&r, 0, h), cx = randint(&r, 0, w);
            y1 = clampi(cy - ch / 2, 0, h), y2 = clampi(cy + ch / 2, 0, h);
            x1 = clampi(cx - cw / 2, 0, w), x2 = clampi(cx + cw / 2, 0, w);
        }
        if (b->a[choice].correct_lam || b->a[choice].minmax)
            lam = 1.0 - (double)((y2 - y1) * (x2 - x1)) / (double)(h * w);
        for (int i = 0; i < n; i++)
            for (int ci = 0; ci < c; ci++) {
                const float *src = b->copy + (size_t)b->perm[i] * sample + (size_t)ci * plane;
                float *dst = images + (size_t)i * sample + (size_t)ci * plane;
                for (int y = y1; y < y2; y++)
                    memcpy(dst + (size_t)y * (size_t)w + x1, src + (size_t)y * (size_t)w + x1, sizeof(float) * (size_t)(x2 - x1));
            }
        d.y1 = y1, d.y2 = y2, d.x1 = x1, d.x2 = x2;
    }
    /* lam * onehot(y) + (1 - lam) * onehot(y[perm]) */
    for (int i = 0; i < n; i++) {
        float *s = scores + (size_t)i * (size_t)classes;
        s[labels[i]] += (float)lam;
        s[labels[b->perm[i]]] += (float)(1 - lam);
    }
    d.lam = lam;
    if (drawn) *drawn = d;
    return 0;
}

const int *tgc_batch_aug_perm(const tgc_batch_aug *b) { return b->perm; }
