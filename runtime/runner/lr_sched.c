/* runtime/runner/lr_sched.c - MMEngine's chained LR schedulers, replayed step by step (semantics in lr_sched.h). */
#include "runtime/runner/lr_sched.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define SCHED_INF 1000000000LL /* MMEngine's INF = int(1e9): an `end` that is never scaled */
#define SCHED_MAX_MILESTONES 256
#define SCHED_PI 3.14159265358979323846

typedef enum sched_type { S_LINEAR, S_MULTISTEP, S_STEP, S_COSINE, S_CONSTANT, S_EXP, S_POLY, S_TYPE_COUNT } sched_type;

static const char *const type_names[S_TYPE_COUNT] = {
    "LinearLR", "MultiStepLR", "StepLR", "CosineAnnealingLR", "ConstantLR", "ExponentialLR", "PolyLR",
};
#define KNOWN_TYPES "LinearLR, MultiStepLR, StepLR, CosineAnnealingLR, ConstantLR, ExponentialLR, PolyLR"

/* Keys each type accepts besides the common ones; an unknown key is an error, as the Python
 * constructor's TypeError is. */
static const char *const type_keys[S_TYPE_COUNT] = {
    " start_factor end_factor ", " milestones gamma ", " step_size gamma ",
    " T_max eta_min eta_min_ratio ", " factor ", " gamma ", " eta_min power ",
};
static const char *const common_keys = " type by_epoch begin end convert_to_iter_based verbose ";

typedef struct sched_one {
    sched_type type;
    int by_epoch;
    int64_t begin, end;
    double a, b;       /* start/end factor; gamma; factor; eta_min (cosine/poly) */
    double power;      /* PolyLR */
    int64_t period;    /* StepLR step_size; CosineAnnealingLR T_max */
    int n_milestones;
    int64_t *milestones; /* owned */
    /* replay state */
    int64_t g, t;
} sched_one;

struct tgc_lr_sched {
    int n;
    sched_one *s; /* owned */
    double base_lr;
    int64_t ipe;
    int64_t cur_iter; /* the cursor: lr in iteration cur_iter is cur_lr; -1 before the first replay */
    double cur_lr;
};

/* ---- building ------------------------------------------------------------------------------------ */

static int mul_checked(int64_t a, int64_t b, int64_t *out) {
    return __builtin_mul_overflow(a, b, out) ? -1 : 0;
}

/* "a b c" (space-separated, padded) -> "a, b, c" appended to out. */
static void list_keys(const char *keys, char *out, size_t n) {
    size_t o = strlen(out);
    for (const char *k = keys; *k && o + 2 < n;) {
        while (*k == ' ') k++;
        size_t len = strcspn(k, " ");
        if (!len) break;
        o += (size_t)snprintf(out + o, n - o, "%s%.*s", o ? ", " : "", (int)len, k);
        if (o >= n) break;
        k += len;
    }
}

static int check_keys(const tgc_cfg *m, sched_type ty, tgc_err *err) {
    for (int i = 0; i < m->n; i++) {
        char pat[130];
        snprintf(pat, sizeof pat, " %.120s ", m->keys[i]);
        if (strstr(common_keys, pat) || strstr(type_keys[ty], pat)) continue;
        char known[512] = "";
        list_keys(type_keys[ty], known, sizeof known);
        list_keys(common_keys, known, sizeof known);
        return tgc_cfg_fail(err, m->items[i], "unknown key '%s' for %s (known: %s)", m->keys[i], type_names[ty], known);
    }
    return 0;
}

static int factor_in_range(const tgc_cfg *m, const char *key, double v, tgc_err *err) {
    if (v > 0.0 && v <= 1.0) return 0;
    const tgc_cfg *at = tgc_cfg_get(m, key);
    return tgc_cfg_fail(err, at ? at : m, "%s must be in (0, 1] (MMEngine's chained form divides by it), got %g",
                        key, v);
}

static int parse_one(const tgc_cfg *m, const tgc_lr_sched_facts *f, double base_lr, sched_one *s, tgc_err *err) {
    memset(s, 0, sizeof *s);
    if (m->kind != TGC_CFG_MAP)
        return tgc_cfg_fail(err, m, "a scheduler must be a map with a `type`, got %s", tgc_cfg_kind_name(m->kind));
    const tgc_cfg *tn = tgc_cfg_get(m, "type");
    if (!tn) return tgc_cfg_fail(err, m, "scheduler has no `type` (known: " KNOWN_TYPES ")");
    if (tn->kind != TGC_CFG_STR)
        return tgc_cfg_fail(err, tn, "expected a string, got %s", tgc_cfg_kind_name(tn->kind));
    int ty = -1;
    for (int i = 0; i < S_TYPE_COUNT; i++)
        if (strcmp(tn->s, type_names[i]) == 0) ty = i;
    if (ty < 0) return tgc_cfg_fail(err, tn, "unknown scheduler type '%s' (known: " KNOWN_TYPES ")", tn->s);
    s->type = (sched_type)ty;
    if (check_keys(m, s->type, err)) return -1;

    int by_epoch, convert;
    if (tgc_cfg_bool(m, "by_epoch", 1, &by_epoch, err) || tgc_cfg_bool(m, "convert_to_iter_based", 0, &convert, err))
        return -1;
    if (convert && !by_epoch)
        return tgc_cfg_fail(err, tgc_cfg_get(m, "convert_to_iter_based"),
                            "convert_to_iter_based needs by_epoch: true (only epoch-based schedulers convert)");
    int64_t def_end = by_epoch ? f->max_epochs : f->max_iters;
    int has_end = tgc_cfg_get(m, "end") != NULL;
    int64_t begin, end;
    if (tgc_cfg_int(m, "begin", 0, &begin, err) || tgc_cfg_int(m, "end", def_end > 0 ? def_end : SCHED_INF, &end, err))
        return -1;
    int end_inf = !has_end && def_end <= 0;
    if (begin < 0) return tgc_cfg_fail(err, tgc_cfg_get(m, "begin"), "begin must be >= 0, got %lld", (long long)begin);
    if (end <= begin)
        return tgc_cfg_fail(err, has_end ? tgc_cfg_get(m, "end") : m, "end should be larger than begin, got begin=%lld, end=%lld",
                            (long long)begin, (long long)end);

    const tgc_cfg *tmax_node = tgc_cfg_get(m, "T_max");
    int64_t period = 0;
    switch (s->type) {
    case S_LINEAR:
        if (tgc_cfg_float(m, "start_factor", 1.0 / 3, &s->a, err) || tgc_cfg_float(m, "end_factor", 1.0, &s->b, err) ||
            factor_in_range(m, "start_factor", s->a, err) || factor_in_range(m, "end_factor", s->b, err))
            return -1;
        break;
    case S_MULTISTEP: {
        const tgc_cfg *ms = tgc_cfg_get(m, "milestones");
        if (!ms) return tgc_cfg_fail(err, m, "MultiStepLR needs `milestones`");
        int64_t tmp[SCHED_MAX_MILESTONES];
        if ((ms->kind == TGC_CFG_LIST || ms->kind == TGC_CFG_TUPLE) && ms->n > SCHED_MAX_MILESTONES)
            return tgc_cfg_fail(err, ms, "more than %d milestones", SCHED_MAX_MILESTONES);
        if (tgc_cfg_ints(m, "milestones", tmp, SCHED_MAX_MILESTONES, &s->n_milestones, err)) return -1;
        s->milestones = tgc_malloc(sizeof(int64_t) * (size_t)(s->n_milestones ? s->n_milestones : 1));
        memcpy(s->milestones, tmp, sizeof(int64_t) * (size_t)s->n_milestones);
        if (tgc_cfg_float(m, "gamma", 0.1, &s->a, err)) return -1;
        break;
    }
    case S_STEP: {
        if (!tgc_cfg_get(m, "step_size")) return tgc_cfg_fail(err, m, "StepLR needs `step_size`");
        if (tgc_cfg_int(m, "step_size", 1, &period, err) || tgc_cfg_float(m, "gamma", 0.1, &s->a, err)) return -1;
        if (period <= 0)
            return tgc_cfg_fail(err, tgc_cfg_get(m, "step_size"), "step_size must be > 0, got %lld", (long long)period);
        break;
    }
    case S_COSINE: {
        const tgc_cfg *em = tgc_cfg_get(m, "eta_min"), *er = tgc_cfg_get(m, "eta_min_ratio");
        int has_em = em && em->kind != TGC_CFG_NULL, has_er = er && er->kind != TGC_CFG_NULL;
        if (has_em && has_er) return tgc_cfg_fail(err, er, "give either eta_min or eta_min_ratio, not both");
        double ratio = 0;
        if (tgc_cfg_float(m, "eta_min", 0.0, &s->b, err) || tgc_cfg_float(m, "eta_min_ratio", 0.0, &ratio, err)) return -1;
        if (has_er) s->b = base_lr * ratio;
        if (tmax_node && tmax_node->kind != TGC_CFG_NULL) {
            if (tgc_cfg_int(m, "T_max", 0, &period, err)) return -1;
            if (period <= 0) return tgc_cfg_fail(err, tmax_node, "T_max must be > 0, got %lld", (long long)period);
        }
        break;
    }
    case S_CONSTANT:
        if (tgc_cfg_float(m, "factor", 1.0 / 3, &s->a, err) || factor_in_range(m, "factor", s->a, err)) return -1;
        break;
    case S_EXP:
        if (!tgc_cfg_get(m, "gamma")) return tgc_cfg_fail(err, m, "ExponentialLR needs `gamma`");
        if (tgc_cfg_float(m, "gamma", 1.0, &s->a, err)) return -1;
        break;
    case S_POLY:
        if (tgc_cfg_float(m, "eta_min", 0.0, &s->b, err) || tgc_cfg_float(m, "power", 1.0, &s->power, err)) return -1;
        break;
    default:
        break;
    }

    if (convert) {
        int64_t k = f->iters_per_epoch;
        int bad = mul_checked(begin, k, &begin) || (!end_inf && mul_checked(end, k, &end)) || mul_checked(period, k, &period);
        for (int i = 0; i < s->n_milestones && !bad; i++) bad = mul_checked(s->milestones[i], k, &s->milestones[i]);
        if (bad) return tgc_cfg_fail(err, m, "convert_to_iter_based: step counts overflow when multiplied by %lld iterations per epoch",
                                     (long long)k);
        by_epoch = 0;
    }
    if (s->type == S_COSINE && period == 0) period = end - begin; /* T_max = end - begin (after conversion) */
    s->by_epoch = by_epoch;
    s->begin = begin;
    s->end = end;
    s->period = period;
    return 0;
}

tgc_lr_sched *tgc_lr_sched_build(const tgc_cfg *node, double base_lr, const tgc_lr_sched_facts *facts, tgc_err *err) {
    if (!facts || facts->iters_per_epoch <= 0) {
        tgc_fail(err, "LR schedule: iterations per epoch must be > 0");
        return NULL;
    }
    if (!isfinite(base_lr)) {
        tgc_fail(err, "LR schedule: base lr is not finite");
        return NULL;
    }
    tgc_lr_sched *s = tgc_calloc(1, sizeof *s);
    s->base_lr = base_lr;
    s->ipe = facts->iters_per_epoch;
    s->cur_iter = -1;
    int n = 0;
    const tgc_cfg *const *items = NULL;
    if (node && node->kind == TGC_CFG_MAP) {
        n = 1;
        items = (const tgc_cfg *const *)&node;
    } else if (node && (node->kind == TGC_CFG_LIST || node->kind == TGC_CFG_TUPLE)) {
        n = node->n;
        items = (const tgc_cfg *const *)node->items;
    } else if (node && node->kind != TGC_CFG_NULL) {
        tgc_cfg_fail(err, node, "param_scheduler must be a map or a list of maps, got %s", tgc_cfg_kind_name(node->kind));
        tgc_lr_sched_free(s);
        return NULL;
    }
    s->s = tgc_calloc((size_t)(n ? n : 1), sizeof *s->s);
    for (int i = 0; i < n; i++) {
        s->n = i + 1; /* so free() releases what parse_one allocated */
        if (parse_one(items[i], facts, base_lr, &s->s[i], err)) {
            tgc_lr_sched_free(s);
            return NULL;
        }
    }
    s->n = n;
    return s;
}

void tgc_lr_sched_free(tgc_lr_sched *s) {
    if (!s) return;
    for (int i = 0; i < s->n; i++) free(s->s[i].milestones);
    free(s->s);
    free(s);
}

int tgc_lr_sched_count(const tgc_lr_sched *s) { return s ? s->n : 0; }

/* ---- replay -------------------------------------------------------------------------------------- */

static double pymod(int64_t a, int64_t m) { /* Python's a % m for m > 0 */
    int64_t r = a % m;
    return (double)(r < 0 ? r + m : r);
}

static double value(const sched_one *s, double lr, double base) {
    int64_t t = s->t;
    switch (s->type) {
    case S_LINEAR: {
        if (t == 0) return lr * s->a;
        double total = (double)(s->end - s->begin - 1);
        return lr * (1.0 + (s->b - s->a) / (total * s->a + (double)(t - 1) * (s->b - s->a)));
    }
    case S_MULTISTEP: {
        double r = lr;
        for (int i = 0; i < s->n_milestones; i++)
            if (s->milestones[i] == t) r *= s->a;
        return r;
    }
    case S_STEP:
        return (t == 0 || t % s->period != 0) ? lr : lr * s->a;
    case S_COSINE: {
        double T = (double)s->period;
        if (t == 0) return lr;
        int64_t two_t;
        int at_restart = !__builtin_mul_overflow(s->period, 2, &two_t) && pymod(t - 1 - s->period, two_t) == 0;
        if (at_restart) return lr + (base - s->b) * (1.0 - cos(SCHED_PI / T)) / 2.0;
        return (1.0 + cos(SCHED_PI * (double)t / T)) / (1.0 + cos(SCHED_PI * (double)(t - 1) / T)) * (lr - s->b) + s->b;
    }
    case S_CONSTANT:
        if (t == 0) return lr * s->a;
        return t == s->end - s->begin - 1 ? lr * (1.0 / s->a) : lr;
    case S_EXP:
        return t == 0 ? lr : lr * s->a;
    case S_POLY: {
        if (t == 0) return lr;
        double total = (double)(s->end - s->begin - 1);
        return (lr - s->b) * pow(1.0 - 1.0 / (total - (double)t + 1.0), s->power) + s->b;
    }
    default:
        return lr;
    }
}

static double step_one(sched_one *s, double lr, double base) {
    s->g++;
    if (s->begin <= s->g && s->g < s->end) {
        s->t++;
        lr = value(s, lr, base);
    }
    return lr;
}

/* True when no scheduler can change the lr any more (every one is past its end). */
static int all_done(const tgc_lr_sched *s) {
    for (int i = 0; i < s->n; i++)
        if (s->s[i].g + 1 < s->s[i].end) return 0;
    return 1;
}

double tgc_lr_sched_lr_at(tgc_lr_sched *s, int64_t iter) {
    if (iter < 0) iter = 0;
    if (s->cur_iter < 0 || iter < s->cur_iter) { /* construction: one step each, in list order */
        double lr = s->base_lr;
        for (int i = 0; i < s->n; i++) {
            s->s[i].g = s->s[i].t = -1;
            lr = step_one(&s->s[i], lr, s->base_lr);
        }
        s->cur_lr = lr;
        s->cur_iter = 0;
    }
    while (s->cur_iter < iter) {
        if (all_done(s)) {
            s->cur_iter = iter;
            break;
        }
        double lr = s->cur_lr;
        for (int i = 0; i < s->n; i++)
            if (!s->s[i].by_epoch) lr = step_one(&s->s[i], lr, s->base_lr);
        if ((s->cur_iter + 1) % s->ipe == 0) /* the epoch ends after this iteration */
            for (int i = 0; i < s->n; i++)
                if (s->s[i].by_epoch) lr = step_one(&s->s[i], lr, s->base_lr);
        s->cur_lr = lr;
        s->cur_iter++;
    }
    return s->cur_lr;
}

/* ---- auto_scale_lr ------------------------------------------------------------------------------- */

int tgc_auto_scale_lr(const tgc_cfg *a, int64_t real_total_batch, double *ratio, tgc_err *err) {
    *ratio = 1.0;
    if (!a || a->kind == TGC_CFG_NULL) return 0;
    if (a->kind != TGC_CFG_MAP) return tgc_cfg_fail(err, a, "auto_scale_lr must be a map, got %s", tgc_cfg_kind_name(a->kind));
    int enable;
    if (tgc_cfg_bool(a, "enable", 0, &enable, err)) return -1;
    if (!enable) return 0;
    const tgc_cfg *bb = tgc_cfg_get(a, "base_batch_size");
    if (!bb) return tgc_cfg_fail(err, a, "auto_scale_lr is enabled but has no base_batch_size");
    int64_t base;
    if (tgc_cfg_int(a, "base_batch_size", 0, &base, err)) return -1;
    if (base <= 0) return tgc_cfg_fail(err, bb, "base_batch_size must be > 0, got %lld", (long long)base);
    if (real_total_batch <= 0) return tgc_fail(err, "auto_scale_lr: the real total batch size must be > 0");
    *ratio = (double)real_total_batch / (double)base;
    return 0;
}
