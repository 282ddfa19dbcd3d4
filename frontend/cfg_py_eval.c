/* frontend/cfg_py_eval.c - evaluates a `.py` config's statements into the config tree: variables, `_base_`
 * (through cfg_base.c's loader), `_base_.x.y = v` edits, read_base() imports, expressions and
 * comprehensions. Values are config nodes; assignment copies (no aliasing between variables). Budgets
 * bound the work: evaluation steps, values produced, string length, nesting depth. */
#include "frontend/cfg_py.h"

#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

enum {
    MAX_STEPS = 10000000,
    MAX_VALUES = 2000000,
    MAX_STR = 1 << 20,
    MAX_VALUE_DEPTH = 64,
    MAX_LOCALS = 64,
    MAX_RANGE = 1000000,
};

typedef struct local {
    const char *name;
    const tgc_cfg *val;
} local;

typedef struct ev {
    const char *name;
    tgc_err *err;
    const tgc_py_hooks *hooks;
    tgc_cfg *globals;
    tgc_cfg_index gix;
    tgc_cfg *bases;      /* merged bases, after edits */
    tgc_cfg *base_refs;  /* the `_base_` value as written */
    tgc_cfg *base_edits; /* {a: {b: v}} for `_base_.a.b = v` */
    int read_base;
    int copy_imported; /* `import copy` seen: copy.deepcopy and copy.copy may be called */
    int index_edit_line; /* line of a `_base_.a[i].b = v` edit (the unmerged form cannot hold it), or 0 */
    local locals[MAX_LOCALS];
    int nlocals;
    long steps;
    long values;
} ev;

static tgc_cfg *eval(ev *E, const py_node *n);

/* ---- errors, budgets ----------------------------------------------------------------------------- */
static int everr(ev *E, const py_node *n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int everr(ev *E, const py_node *n, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    char *m = tgc_vasprintf(fmt, ap);
    va_end(ap);
    tgc_fail(E->err, "%s:%d:%d: %s", E->name, n ? n->line : 0, n ? n->col : 0, m);
    free(m);
    return -1;
}

static const char *tname(const tgc_cfg *v) {
    switch (v->kind) {
    case TGC_CFG_NULL: return "NoneType";
    case TGC_CFG_BOOL: return "bool";
    case TGC_CFG_INT: return "int";
    case TGC_CFG_FLOAT: return "float";
    case TGC_CFG_STR: return "str";
    case TGC_CFG_LIST: return "list";
    case TGC_CFG_TUPLE: return "tuple";
    case TGC_CFG_MAP: return "dict";
    }
    return "?";
}

static int step(ev *E, const py_node *n) {
    if (++E->steps > MAX_STEPS) return everr(E, n, "evaluation takes more than %d steps", MAX_STEPS);
    return 0;
}

static int charge(ev *E, const py_node *n, long values) {
    E->values += values;
    if (E->values > MAX_VALUES) return everr(E, n, "evaluation produces more than %d values", MAX_VALUES);
    return 0;
}

/* Node count of v, stopping once it passes `cap`. */
static long count_capped(const tgc_cfg *v, long cap) {
    long c = 1;
    for (int i = 0; i < v->n && c <= cap; i++) c += count_capped(v->items[i], cap - c);
    return c;
}

static int depth_capped(const tgc_cfg *v, int cap) {
    if (cap <= 0) return 1;
    int d = 0;
    for (int i = 0; i < v->n; i++) {
        int k = depth_capped(v->items[i], cap - 1);
        if (k > d) d = k;
        if (d >= cap) break;
    }
    return d + 1;
}

/* A new value. Scalars cost evaluation steps only; what containers hold is charged as values (put, clone). */
static tgc_cfg *mk(ev *E, tgc_cfg_kind k, const py_node *n) {
    (void)E;
    return tgc_cfg_new(k, E->name, n ? n->line : 0);
}

static tgc_cfg *clone(ev *E, const tgc_cfg *v, const py_node *n) {
    if (charge(E, n, count_capped(v, MAX_VALUES)) < 0) return NULL;
    return tgc_cfg_clone(v);
}

/* Appends item (taking it) to a container being built (a map: sets the key, replacing in place); checks
 * the nesting depth. A map's key lookup is a linear scan: charged as steps, so huge maps hit the budget. */
static int put(ev *E, const py_node *n, tgc_cfg *c, const char *key, tgc_cfg *item) {
    if (charge(E, n, 1) < 0 || (key && (E->steps += c->n / 8) > MAX_STEPS && step(E, n) < 0)) {
        tgc_cfg_free(item);
        return -1;
    }
    if (depth_capped(item, MAX_VALUE_DEPTH) >= MAX_VALUE_DEPTH) {
        tgc_cfg_free(item);
        return everr(E, n, "value nested deeper than %d levels", MAX_VALUE_DEPTH);
    }
    if (key) tgc_cfg_set(c, key, item);
    else tgc_cfg_append(c, NULL, item);
    return 0;
}

static tgc_cfg *mk_str(ev *E, const py_node *n, const char *s, size_t len) {
    if (len > MAX_STR) {
        everr(E, n, "string longer than %d bytes (1 MiB)", MAX_STR);
        return NULL;
    }
    tgc_cfg *v = mk(E, TGC_CFG_STR, n);
    if (!v) return NULL;
    v->s = tgc_malloc(len + 1);
    memcpy(v->s, s, len);
    v->s[len] = 0;
    return v;
}

static tgc_cfg *mk_int(ev *E, const py_node *n, int64_t i) {
    tgc_cfg *v = mk(E, TGC_CFG_INT, n);
    if (v) v->i = i;
    return v;
}

static tgc_cfg *mk_float(ev *E, const py_node *n, double f) {
    tgc_cfg *v = mk(E, TGC_CFG_FLOAT, n);
    if (v) v->f = f;
    return v;
}

static tgc_cfg *mk_bool(ev *E, const py_node *n, int b) {
    tgc_cfg *v = mk(E, TGC_CFG_BOOL, n);
    if (v) v->b = !!b;
    return v;
}

/* ---- values -------------------------------------------------------------------------------------- */
static int is_seq(const tgc_cfg *v) { return v->kind == TGC_CFG_LIST || v->kind == TGC_CFG_TUPLE; }
static int is_num(const tgc_cfg *v) { return v->kind == TGC_CFG_INT || v->kind == TGC_CFG_FLOAT || v->kind == TGC_CFG_BOOL; }
static double as_f(const tgc_cfg *v) { return v->kind == TGC_CFG_FLOAT ? v->f : v->kind == TGC_CFG_INT ? (double)v->i : v->b; }
static int64_t as_i(const tgc_cfg *v) { return v->kind == TGC_CFG_INT ? v->i : v->b; }

static int truthy(const tgc_cfg *v) {
    switch (v->kind) {
    case TGC_CFG_NULL: return 0;
    case TGC_CFG_BOOL: return v->b;
    case TGC_CFG_INT: return v->i != 0;
    case TGC_CFG_FLOAT: return v->f != 0;
    case TGC_CFG_STR: return v->s && v->s[0];
    default: return v->n > 0;
    }
}

static int py_equal(const tgc_cfg *a, const tgc_cfg *b) {
    if (is_num(a) && is_num(b)) {
        if (a->kind == TGC_CFG_FLOAT || b->kind == TGC_CFG_FLOAT) return as_f(a) == as_f(b);
        return as_i(a) == as_i(b);
    }
    if (is_seq(a) && is_seq(b)) {
        if (a->kind != b->kind || a->n != b->n) return 0;
        for (int i = 0; i < a->n; i++)
            if (!py_equal(a->items[i], b->items[i])) return 0;
        return 1;
    }
    if (a->kind != b->kind) return 0;
    if (a->kind == TGC_CFG_MAP) {
        if (a->n != b->n) return 0;
        for (int i = 0; i < a->n; i++) {
            const tgc_cfg *o = tgc_cfg_get(b, a->keys[i]);
            if (!o || !py_equal(a->items[i], o)) return 0;
        }
        return 1;
    }
    return tgc_cfg_equal(a, b);
}

/* Python's repr of a value, into buf (bounded by MAX_STR). */
static void repr(const tgc_cfg *v, tgc_buf *b, int top_str) {
    if (b->len > MAX_STR) return;
    switch (v->kind) {
    case TGC_CFG_NULL: tgc_buf_printf(b, "None"); break;
    case TGC_CFG_BOOL: tgc_buf_printf(b, v->b ? "True" : "False"); break;
    case TGC_CFG_INT: tgc_buf_printf(b, "%" PRId64, v->i); break;
    case TGC_CFG_FLOAT: {
        char s[40];
        if (isnan(v->f)) snprintf(s, sizeof s, "nan");
        else if (isinf(v->f)) snprintf(s, sizeof s, v->f > 0 ? "inf" : "-inf");
        else {
            for (int p = 1; p <= 17; p++) {
                snprintf(s, sizeof s, "%.*g", p, v->f);
                if (strtod(s, NULL) == v->f) break;
            }
            if (!strpbrk(s, ".e")) strcat(s, ".0");
        }
        tgc_buf_printf(b, "%s", s);
        break;
    }
    case TGC_CFG_STR:
        if (top_str) tgc_buf_printf(b, "%s", v->s);
        else tgc_buf_printf(b, "'%s'", v->s);
        break;
    case TGC_CFG_LIST:
    case TGC_CFG_TUPLE:
        tgc_buf_printf(b, v->kind == TGC_CFG_LIST ? "[" : "(");
        for (int i = 0; i < v->n; i++) {
            if (i) tgc_buf_printf(b, ", ");
            repr(v->items[i], b, 0);
        }
        tgc_buf_printf(b, v->kind == TGC_CFG_LIST ? "]" : (v->n == 1 ? ",)" : ")"));
        break;
    case TGC_CFG_MAP:
        tgc_buf_printf(b, "{");
        for (int i = 0; i < v->n; i++) {
            tgc_buf_printf(b, "%s'%s': ", i ? ", " : "", v->keys[i]);
            repr(v->items[i], b, 0);
        }
        tgc_buf_printf(b, "}");
        break;
    }
}

/* ---- names --------------------------------------------------------------------------------------- */
static const char *const builtin_names[] = {"dict", "list", "tuple", "round", "int", "float", "str", "bool",
                                            "len",  "min",  "max",   "abs",   "range", "sum"};

static int is_builtin(const char *s) {
    for (size_t i = 0; i < TGC_ARRAY_LEN(builtin_names); i++)
        if (!strcmp(s, builtin_names[i])) return 1;
    return 0;
}

static const tgc_cfg *lookup(ev *E, const py_node *n) {
    for (int i = E->nlocals - 1; i >= 0; i--)
        if (!strcmp(E->locals[i].name, n->s)) return E->locals[i].val;
    int at = tgc_cfg_index_find(&E->gix, E->globals, n->s);
    if (at >= 0) return E->globals->items[at];
    if (!strcmp(n->s, "_base_")) {
        if (E->bases) return E->bases;
        everr(E, n, "'_base_' is used before `_base_ = [...]` names the bases");
        return NULL;
    }
    if (is_builtin(n->s)) {
        everr(E, n, "the builtin '%s' can only be called here", n->s);
        return NULL;
    }
    if (E->bases && tgc_cfg_get(E->bases, n->s))
        everr(E, n, "name '%s' is not defined (it is defined in a base: write _base_.%s or {{_base_.%s}})", n->s, n->s,
              n->s);
    else everr(E, n, "name '%s' is not defined", n->s);
    return NULL;
}

static const tgc_cfg *map_key(ev *E, const py_node *n, const tgc_cfg *m, const char *key) {
    const tgc_cfg *v = tgc_cfg_get(m, key);
    if (!v) everr(E, n, "no key '%s' in this dict", key);
    return v;
}

/* Index i (negative from the end) into a sequence of len n; -1 + error when out of range. */
static int seq_index(ev *E, const py_node *n, const tgc_cfg *idx, int len) {
    if (idx->kind != TGC_CFG_INT && idx->kind != TGC_CFG_BOOL)
        return everr(E, n, "indices must be integers, not %s", tname(idx));
    int64_t i = as_i(idx);
    if (i < 0) i += len;
    if (i < 0 || i >= len) return everr(E, n, "index %" PRId64 " out of range (length %d)", as_i(idx), len);
    return (int)i;
}

/* A value without copying where it already exists (a variable, a key of one, a base); otherwise the value
 * is computed, stored in *tmp (the caller frees it) and returned. NULL on error. */
static const tgc_cfg *ref(ev *E, const py_node *n, tgc_cfg **tmp) {
    *tmp = NULL;
    if (step(E, n) < 0) return NULL;
    switch (n->kind) {
    case PN_NAME: return lookup(E, n);
    case PN_BASEREF: {
        if (!E->bases) {
            everr(E, n, "'{{_base_.%s}}' is used before `_base_ = [...]` names the bases", n->s);
            return NULL;
        }
        const tgc_cfg *v = tgc_cfg_at(E->bases, n->s);
        if (!v) everr(E, n, "'{{_base_.%s}}': no such key in the bases", n->s);
        return v;
    }
    case PN_ATTR: {
        tgc_cfg *t;
        const tgc_cfg *o = ref(E, n->kids[0], &t);
        if (!o) return NULL;
        const tgc_cfg *v = NULL;
        if (o->kind != TGC_CFG_MAP)
            everr(E, n, "attribute access ('.%s') on a %s value is not supported in configs", n->s, tname(o));
        else v = map_key(E, n, o, n->s);
        if (v && t) v = *tmp = clone(E, v, n);
        tgc_cfg_free(t);
        return v;
    }
    case PN_SUBSCRIPT:
        if (n->kids[1]->kind != PN_SLICE) {
            tgc_cfg *t;
            const tgc_cfg *o = ref(E, n->kids[0], &t);
            if (!o) return NULL;
            const tgc_cfg *v = NULL;
            tgc_cfg *idx = eval(E, n->kids[1]);
            if (idx) {
                if (o->kind == TGC_CFG_MAP) {
                    if (idx->kind != TGC_CFG_STR) everr(E, n, "dict keys are strings in configs, not %s", tname(idx));
                    else v = map_key(E, n, o, idx->s);
                } else if (is_seq(o)) {
                    int i = seq_index(E, n, idx, o->n);
                    if (i >= 0) v = o->items[i];
                } else if (o->kind == TGC_CFG_STR) {
                    int i = seq_index(E, n, idx, (int)strlen(o->s));
                    if (i >= 0) v = *tmp = mk_str(E, n, o->s + i, 1);
                } else {
                    everr(E, n, "a %s value cannot be subscripted", tname(o));
                }
            }
            tgc_cfg_free(idx);
            if (v && t && v != *tmp) v = *tmp = clone(E, v, n);
            tgc_cfg_free(t);
            return v;
        }
        break;
    default: break;
    }
    return *tmp = eval(E, n);
}

/* ---- operators ----------------------------------------------------------------------------------- */
static tgc_cfg *concat(ev *E, const py_node *n, const tgc_cfg *a, const tgc_cfg *b, int64_t times) {
    if (a->kind == TGC_CFG_STR) {
        size_t la = strlen(a->s), lb = b ? strlen(b->s) : 0;
        if (times < 0) times = 0;
        if (b ? la + lb > MAX_STR : (la && (uint64_t)times > MAX_STR / la)) {
            everr(E, n, "string longer than %d bytes (1 MiB)", MAX_STR);
            return NULL;
        }
        size_t total = b ? la + lb : la * (size_t)times;
        char *s = tgc_malloc(total + 1);
        if (b) {
            memcpy(s, a->s, la);
            memcpy(s + la, b->s, lb);
        } else {
            for (int64_t k = 0; k < times; k++) memcpy(s + la * (size_t)k, a->s, la);
        }
        s[total] = 0;
        tgc_cfg *v = mk_str(E, n, s, total);
        free(s);
        return v;
    }
    tgc_cfg *v = mk(E, a->kind, n);
    if (!v) return NULL;
    if (times < 0) times = 0;
    if (!b && a->n && (uint64_t)times > (uint64_t)MAX_VALUES / (uint64_t)a->n) {
        tgc_cfg_free(v);
        everr(E, n, "evaluation produces more than %d values", MAX_VALUES);
        return NULL;
    }
    for (int64_t k = 0; k < (b ? 1 : times); k++)
        for (int part = 0; part < (b ? 2 : 1); part++) {
            const tgc_cfg *src = part ? b : a;
            for (int i = 0; i < src->n; i++) {
                tgc_cfg *c = clone(E, src->items[i], n);
                if (!c || put(E, n, v, NULL, c) < 0) {
                    tgc_cfg_free(v);
                    return NULL;
                }
            }
        }
    return v;
}

static tgc_cfg *arith(ev *E, const py_node *n, const char *op, const tgc_cfg *a, const tgc_cfg *b) {
    if (!strcmp(op, "+") && a->kind == b->kind && (a->kind == TGC_CFG_STR || is_seq(a))) return concat(E, n, a, b, 0);
    if (!strcmp(op, "*") && (a->kind == TGC_CFG_STR || is_seq(a)) && (b->kind == TGC_CFG_INT || b->kind == TGC_CFG_BOOL))
        return concat(E, n, a, NULL, as_i(b));
    if (!strcmp(op, "*") && (b->kind == TGC_CFG_STR || is_seq(b)) && (a->kind == TGC_CFG_INT || a->kind == TGC_CFG_BOOL))
        return concat(E, n, b, NULL, as_i(a));
    if (!strcmp(op, "%") && a->kind == TGC_CFG_STR) {
        everr(E, n, "%%-formatting of strings is not supported in configs");
        return NULL;
    }
    if (!is_num(a) || !is_num(b)) {
        everr(E, n, "unsupported operand types for %s: '%s' and '%s'", op, tname(a), tname(b));
        return NULL;
    }
    int fl = a->kind == TGC_CFG_FLOAT || b->kind == TGC_CFG_FLOAT || !strcmp(op, "/");
    if (!fl) {
        int64_t x = as_i(a), y = as_i(b), r = 0;
        int ovf = 0;
        switch (op[0]) {
        case '+': ovf = __builtin_add_overflow(x, y, &r); break;
        case '-': ovf = __builtin_sub_overflow(x, y, &r); break;
        case '*':
            if (op[1] == '*') {
                if (y < 0) {
                    fl = 1;
                    break;
                }
                r = 1;
                for (int64_t k = 0; k < y && !ovf; k++) {
                    ovf = __builtin_mul_overflow(r, x, &r);
                    if (x == 0 || x == 1 || (x == -1 && k > 1)) { /* no growth: finish in closed form */
                        r = x == 0 ? (y ? 0 : 1) : x == 1 ? 1 : (y % 2 ? -1 : 1);
                        break;
                    }
                }
            } else {
                ovf = __builtin_mul_overflow(x, y, &r);
            }
            break;
        case '/':
        case '%':
            if (y == 0) {
                everr(E, n, "%s by zero", op[0] == '%' ? "modulo" : "integer division");
                return NULL;
            }
            if (x == INT64_MIN && y == -1) {
                ovf = 1;
                break;
            }
            r = op[0] == '%' ? x % y : x / y;
            if (op[0] == '%' && r != 0 && ((r < 0) != (y < 0))) r += y;
            if (op[0] == '/' && (x % y != 0) && ((x < 0) != (y < 0))) r -= 1;
            break;
        }
        if (!fl) {
            if (ovf) {
                everr(E, n, "integer overflow in '%s' (config integers are 64-bit)", op);
                return NULL;
            }
            return mk_int(E, n, r);
        }
    }
    double x = as_f(a), y = as_f(b), r = 0;
    if ((!strcmp(op, "/") || !strcmp(op, "//") || !strcmp(op, "%")) && y == 0) {
        everr(E, n, "float division by zero");
        return NULL;
    }
    switch (op[0]) {
    case '+': r = x + y; break;
    case '-': r = x - y; break;
    case '*': r = op[1] == '*' ? pow(x, y) : x * y; break;
    case '/': r = op[1] == '/' ? floor(x / y) : x / y; break;
    case '%':
        r = fmod(x, y);
        if (r != 0 && ((r < 0) != (y < 0))) r += y;
        break;
    }
    if (isnan(r) && !isnan(x) && !isnan(y)) {
        everr(E, n, "math domain error in '%s'", op);
        return NULL;
    }
    return mk_float(E, n, r);
}

static int compare(ev *E, const py_node *n, const char *op, const tgc_cfg *a, const tgc_cfg *b, int *out) {
    if (!strcmp(op, "==")) return *out = py_equal(a, b), 0;
    if (!strcmp(op, "!=")) return *out = !py_equal(a, b), 0;
    if (!strcmp(op, "in") || !strcmp(op, "not in")) {
        int found = 0;
        if (b->kind == TGC_CFG_MAP) {
            if (a->kind == TGC_CFG_STR) found = tgc_cfg_get(b, a->s) != NULL;
        } else if (is_seq(b)) {
            for (int i = 0; i < b->n && !found; i++) found = py_equal(a, b->items[i]);
        } else if (b->kind == TGC_CFG_STR) {
            if (a->kind != TGC_CFG_STR) return everr(E, n, "'in <string>' requires a string on the left, not %s", tname(a));
            found = strstr(b->s, a->s) != NULL;
        } else {
            return everr(E, n, "argument of type '%s' is not iterable", tname(b));
        }
        *out = op[0] == 'n' ? !found : found;
        return 0;
    }
    if (!strcmp(op, "is") || !strcmp(op, "is not")) {
        if (b->kind != TGC_CFG_NULL && b->kind != TGC_CFG_BOOL)
            return everr(E, n, "'%s' is supported only against None, True or False", op);
        int same = a->kind == b->kind && (a->kind == TGC_CFG_NULL || !a->b == !b->b);
        *out = op[2] == ' ' ? !same : same;
        return 0;
    }
    int c;
    if (is_num(a) && is_num(b)) {
        double x = as_f(a), y = as_f(b);
        if (a->kind != TGC_CFG_FLOAT && b->kind != TGC_CFG_FLOAT) c = as_i(a) < as_i(b) ? -1 : as_i(a) > as_i(b);
        else c = x < y ? -1 : x > y ? 1 : 0;
        if (isnan(x) || isnan(y)) return *out = 0, 0;
    } else if (a->kind == TGC_CFG_STR && b->kind == TGC_CFG_STR) {
        c = strcmp(a->s, b->s);
    } else {
        return everr(E, n, "'%s' is not supported between '%s' and '%s'", op, tname(a), tname(b));
    }
    if (!strcmp(op, "<")) *out = c < 0;
    else if (!strcmp(op, "<=")) *out = c <= 0;
    else if (!strcmp(op, ">")) *out = c > 0;
    else *out = c >= 0;
    return 0;
}

/* ---- builtins ------------------------------------------------------------------------------------ */
/* The items a value iterates over, as an owned list (dict: its keys; str: its bytes). */
static tgc_cfg *iter_items(ev *E, const py_node *n, const tgc_cfg *v) {
    if (is_seq(v)) return clone(E, v, n);
    tgc_cfg *l = mk(E, TGC_CFG_LIST, n);
    if (!l) return NULL;
    if (v->kind == TGC_CFG_MAP) {
        for (int i = 0; i < v->n; i++) {
            tgc_cfg *k = mk_str(E, n, v->keys[i], strlen(v->keys[i]));
            if (!k || put(E, n, l, NULL, k) < 0) goto fail;
        }
        return l;
    }
    if (v->kind == TGC_CFG_STR) {
        for (const char *p = v->s; *p; p++) {
            tgc_cfg *k = mk_str(E, n, p, 1);
            if (!k || put(E, n, l, NULL, k) < 0) goto fail;
        }
        return l;
    }
    everr(E, n, "'%s' object is not iterable", tname(v));
fail:
    tgc_cfg_free(l);
    return NULL;
}

static int nargs_ok(ev *E, const py_node *call, const char *f, int npos, int lo, int hi) {
    if (npos < lo || npos > hi) {
        if (lo == hi) return everr(E, call, "%s() takes %d argument%s (%d given)", f, lo, lo == 1 ? "" : "s", npos);
        return everr(E, call, "%s() takes %d to %d arguments (%d given)", f, lo, hi, npos);
    }
    return 0;
}

static tgc_cfg *call_builtin(ev *E, const py_node *call, const char *f, tgc_cfg **args, int npos) {
    const py_node *n = call;
    if (!strcmp(f, "list") || !strcmp(f, "tuple")) {
        if (nargs_ok(E, n, f, npos, 0, 1) < 0) return NULL;
        tgc_cfg *l = npos ? iter_items(E, n, args[0]) : mk(E, TGC_CFG_LIST, n);
        if (l) l->kind = f[0] == 'l' ? TGC_CFG_LIST : TGC_CFG_TUPLE;
        return l;
    }
    if (!strcmp(f, "len")) {
        if (nargs_ok(E, n, f, npos, 1, 1) < 0) return NULL;
        const tgc_cfg *a = args[0];
        if (a->kind == TGC_CFG_STR) {
            int64_t c = 0;
            for (const unsigned char *p = (const unsigned char *)a->s; *p; p++) c += (*p & 0xc0) != 0x80;
            return mk_int(E, n, c);
        }
        if (is_seq(a) || a->kind == TGC_CFG_MAP) return mk_int(E, n, a->n);
        everr(E, n, "object of type '%s' has no len()", tname(a));
        return NULL;
    }
    if (!strcmp(f, "abs")) {
        if (nargs_ok(E, n, f, npos, 1, 1) < 0) return NULL;
        if (args[0]->kind == TGC_CFG_FLOAT) return mk_float(E, n, fabs(args[0]->f));
        if (!is_num(args[0])) {
            everr(E, n, "bad operand type for abs(): '%s'", tname(args[0]));
            return NULL;
        }
        if (as_i(args[0]) == INT64_MIN) {
            everr(E, n, "integer overflow in abs()");
            return NULL;
        }
        return mk_int(E, n, llabs(as_i(args[0])));
    }
    if (!strcmp(f, "round")) {
        if (nargs_ok(E, n, f, npos, 1, 2) < 0) return NULL;
        if (!is_num(args[0]) || (npos == 2 && args[1]->kind != TGC_CFG_INT && args[1]->kind != TGC_CFG_NULL)) {
            everr(E, n, "round() takes a number and an optional integer count of digits");
            return NULL;
        }
        double x = as_f(args[0]);
        if (npos == 1 || args[1]->kind == TGC_CFG_NULL) {
            if (args[0]->kind != TGC_CFG_FLOAT) return mk_int(E, n, as_i(args[0]));
            double r = nearbyint(x); /* half to even, as Python */
            if (!(fabs(r) < 9.2e18)) {
                everr(E, n, "round(): %g does not fit a 64-bit integer", x);
                return NULL;
            }
            return mk_int(E, n, (int64_t)r);
        }
        if (args[0]->kind != TGC_CFG_FLOAT) return mk_int(E, n, as_i(args[0]));
        int64_t d = args[1]->i;
        if (d > 300 || d < -300) return mk_float(E, n, d > 0 ? x : 0.0);
        double s = pow(10.0, (double)d);
        return mk_float(E, n, nearbyint(x * s) / s);
    }
    if (!strcmp(f, "int") || !strcmp(f, "float") || !strcmp(f, "bool") || !strcmp(f, "str")) {
        if (nargs_ok(E, n, f, npos, 0, 1) < 0) return NULL;
        const tgc_cfg *a = npos ? args[0] : NULL;
        if (!strcmp(f, "bool")) return mk_bool(E, n, a ? truthy(a) : 0);
        if (!strcmp(f, "str")) {
            if (!a) return mk_str(E, n, "", 0);
            tgc_buf b = {0};
            repr(a, &b, 1);
            tgc_cfg *v = mk_str(E, n, b.len ? (const char *)b.data : "", b.len);
            tgc_buf_free(&b);
            return v;
        }
        if (!a) return f[0] == 'i' ? mk_int(E, n, 0) : mk_float(E, n, 0);
        if (a->kind == TGC_CFG_STR) {
            char *end;
            const char *s = a->s;
            while (*s == ' ') s++;
            if (f[0] == 'i') {
                long long v = strtoll(s, &end, 10);
                while (*end == ' ') end++;
                if (end == s || *end) {
                    everr(E, n, "invalid literal for int(): '%.60s'", a->s);
                    return NULL;
                }
                return mk_int(E, n, v);
            }
            double v = strtod(s, &end);
            while (*end == ' ') end++;
            if (end == s || *end) {
                everr(E, n, "could not convert string to float: '%.60s'", a->s);
                return NULL;
            }
            return mk_float(E, n, v);
        }
        if (!is_num(a)) {
            everr(E, n, "%s() argument must be a string or a number, not '%s'", f, tname(a));
            return NULL;
        }
        if (f[0] == 'f') return mk_float(E, n, as_f(a));
        if (a->kind != TGC_CFG_FLOAT) return mk_int(E, n, as_i(a));
        if (!(fabs(a->f) < 9.2e18)) {
            everr(E, n, "int(): %g does not fit a 64-bit integer", a->f);
            return NULL;
        }
        return mk_int(E, n, (int64_t)a->f);
    }
    if (!strcmp(f, "range")) {
        if (nargs_ok(E, n, f, npos, 1, 3) < 0) return NULL;
        int64_t r[3] = {0, 0, 1};
        for (int i = 0; i < npos; i++) {
            if (args[i]->kind != TGC_CFG_INT && args[i]->kind != TGC_CFG_BOOL) {
                everr(E, n, "range() arguments must be integers, not '%s'", tname(args[i]));
                return NULL;
            }
        }
        if (npos == 1) r[1] = as_i(args[0]);
        else {
            r[0] = as_i(args[0]);
            r[1] = as_i(args[1]);
            if (npos == 3) r[2] = as_i(args[2]);
        }
        if (r[2] == 0) {
            everr(E, n, "range() step must not be zero");
            return NULL;
        }
        double count = r[2] > 0 ? ceil(((double)r[1] - (double)r[0]) / (double)r[2])
                                : ceil(((double)r[0] - (double)r[1]) / -(double)r[2]);
        if (count > MAX_RANGE) {
            everr(E, n, "range() of more than %d elements", MAX_RANGE);
            return NULL;
        }
        tgc_cfg *l = mk(E, TGC_CFG_LIST, n);
        for (int64_t k = 0; l && k < (int64_t)count; k++) {
            tgc_cfg *v = mk_int(E, n, r[0] + k * r[2]);
            if (!v || put(E, n, l, NULL, v) < 0) {
                tgc_cfg_free(l);
                return NULL;
            }
        }
        return l;
    }
    if (!strcmp(f, "min") || !strcmp(f, "max") || !strcmp(f, "sum")) {
        int is_sum = f[0] == 's';
        if (npos == 0 || (is_sum && npos > 2)) {
            everr(E, n, "%s() takes %s", f, is_sum ? "an iterable and an optional start" : "an iterable or several values");
            return NULL;
        }
        tgc_cfg *items = NULL;
        if (npos == 1 || is_sum) {
            items = iter_items(E, n, args[0]);
        } else {
            items = mk(E, TGC_CFG_LIST, n);
            for (int i = 0; items && i < npos; i++) {
                tgc_cfg *c = clone(E, args[i], n);
                if (!c) {
                    tgc_cfg_free(items);
                    return NULL;
                }
                tgc_cfg_append(items, NULL, c);
            }
        }
        if (!items) return NULL;
        tgc_cfg *acc = NULL;
        if (is_sum) {
            acc = npos == 2 ? clone(E, args[1], n) : mk_int(E, n, 0);
            for (int i = 0; acc && i < items->n; i++) {
                if (acc->kind == TGC_CFG_STR) {
                    everr(E, n, "sum() can't sum strings");
                    tgc_cfg_free(acc);
                    acc = NULL;
                    break;
                }
                tgc_cfg *s = arith(E, n, "+", acc, items->items[i]);
                tgc_cfg_free(acc);
                acc = s;
            }
        } else if (items->n == 0) {
            everr(E, n, "%s() arg is an empty sequence", f);
        } else {
            int best = 0;
            for (int i = 1; i < items->n; i++) {
                int lt;
                if (compare(E, n, f[1] == 'i' ? "<" : ">", items->items[i], items->items[best], &lt) < 0) {
                    best = -1;
                    break;
                }
                if (lt) best = i;
            }
            if (best >= 0) acc = clone(E, items->items[best], n);
        }
        tgc_cfg_free(items);
        return acc;
    }
    everr(E, n, "internal error: builtin '%s'", f);
    return NULL;
}

static const char *const known_calls[] = {"open", "print", "eval", "exec", "__import__", "getattr", "setattr",
                                          "compile", "input", "globals", "locals", "vars", "type", "isinstance",
                                          "zip", "enumerate", "map", "filter", "sorted", "reversed", "set", "any",
                                          "all", "read_base"};

static tgc_cfg *eval_call(ev *E, const py_node *n) {
    const py_node *fn = n->kids[0];
    if (fn->kind == PN_ATTR && fn->kids[0]->kind == PN_NAME && !strcmp(fn->kids[0]->s, "copy") && E->copy_imported &&
        tgc_cfg_index_find(&E->gix, E->globals, "copy") < 0 && (!strcmp(fn->s, "deepcopy") || !strcmp(fn->s, "copy"))) {
        /* values are never shared here, so a copy is the value itself */
        if (n->n != 2 || (n->keys && n->keys[1])) {
            everr(E, n, "copy.%s() takes one positional argument", fn->s);
            return NULL;
        }
        return eval(E, n->kids[1]);
    }
    if (fn->kind == PN_ATTR && fn->kids[0]->kind == PN_NAME && !strcmp(fn->kids[0]->s, "copy") && !E->copy_imported &&
        tgc_cfg_index_find(&E->gix, E->globals, "copy") < 0) {
        everr(E, fn->kids[0], "name 'copy' is not defined (write 'import copy' first)");
        return NULL;
    }
    if (fn->kind == PN_ATTR) {
        everr(E, n, "method calls ('.%s(...)') are not supported in configs", fn->s);
        return NULL;
    }
    if (fn->kind != PN_NAME) {
        everr(E, n, "calling the result of an expression is not supported in configs");
        return NULL;
    }
    int shadowed = tgc_cfg_index_find(&E->gix, E->globals, fn->s) >= 0;
    for (int i = 0; i < E->nlocals; i++) shadowed |= !strcmp(E->locals[i].name, fn->s);
    if (shadowed || !is_builtin(fn->s)) {
        int known = 0;
        for (size_t i = 0; i < TGC_ARRAY_LEN(known_calls); i++) known |= !strcmp(fn->s, known_calls[i]);
        if (shadowed) everr(E, n, "'%s' is a config value, not a function: it cannot be called", fn->s);
        else if (known) everr(E, n, "call of '%s' is not supported in configs", fn->s);
        else everr(E, n, "call of '%s' is not supported in configs (it is not defined, and only the builtins dict, "
                         "list, tuple, round, int, float, str, bool, len, min, max, abs, range and sum can be called)",
                   fn->s);
        return NULL;
    }
    int is_dict = !strcmp(fn->s, "dict");
    tgc_cfg *args[4];
    int npos = 0;
    /* dict(): d gets the positional mapping, kw the keywords and ** entries (a key given twice among those
     * is Python's TypeError; over the positional mapping it replaces) */
    tgc_cfg *d = is_dict ? mk(E, TGC_CFG_MAP, n) : NULL;
    tgc_cfg *kw = is_dict ? mk(E, TGC_CFG_MAP, n) : NULL;
    tgc_cfg *res = NULL;
    for (int i = 1; i < n->n; i++) {
        const char *key = n->keys ? n->keys[i] : NULL;
        const py_node *a = n->kids[i];
        if (!is_dict && key) {
            everr(E, a, "%s() takes no keyword arguments here", fn->s);
            goto done;
        }
        tgc_cfg *v = eval(E, a);
        if (!v) goto done;
        if (!key && !is_dict) {
            if (npos == (int)TGC_ARRAY_LEN(args)) {
                tgc_cfg_free(v);
                everr(E, a, "too many arguments to %s()", fn->s);
                goto done;
            }
            args[npos++] = v;
            continue;
        }
        if (!key) { /* dict(mapping) or dict(pairs) */
            if (npos++ > 0) {
                tgc_cfg_free(v);
                everr(E, a, "dict() takes at most 1 positional argument");
                goto done;
            }
            int ok = v->kind == TGC_CFG_MAP || is_seq(v);
            for (int k = 0; ok && v->kind != TGC_CFG_MAP && k < v->n; k++) {
                const tgc_cfg *p = v->items[k];
                ok = is_seq(p) && p->n == 2 && p->items[0]->kind == TGC_CFG_STR;
            }
            if (!ok) {
                tgc_cfg_free(v);
                everr(E, a, "dict() takes a dict or a list of (str, value) pairs");
                goto done;
            }
            for (int k = 0; k < v->n; k++) {
                tgc_cfg *p = v->items[k];
                const char *pk = v->kind == TGC_CFG_MAP ? v->keys[k] : p->items[0]->s;
                tgc_cfg *pv = v->kind == TGC_CFG_MAP ? p : p->items[1];
                if (v->kind == TGC_CFG_MAP) v->items[k] = NULL;
                else p->items[1] = tgc_cfg_new(TGC_CFG_NULL, "", 0);
                if (put(E, a, d, pk, pv) < 0) {
                    tgc_cfg_free(v);
                    goto done;
                }
            }
            tgc_cfg_free(v);
            continue;
        }
        if (!strcmp(key, "**") && v->kind != TGC_CFG_MAP) {
            everr(E, a, "argument after ** must be a dict, not %s", tname(v));
            tgc_cfg_free(v);
            goto done;
        }
        int nk = !strcmp(key, "**") ? v->n : 1;
        for (int k = 0; k < nk; k++) {
            const char *kk = !strcmp(key, "**") ? v->keys[k] : key;
            if (tgc_cfg_get(kw, kk)) {
                everr(E, a, "keyword argument '%s' repeated", kk);
                tgc_cfg_free(v);
                goto done;
            }
            tgc_cfg *vv = !strcmp(key, "**") ? v->items[k] : v;
            if (!strcmp(key, "**")) v->items[k] = NULL;
            if (put(E, a, kw, kk, vv) < 0) {
                if (!strcmp(key, "**")) tgc_cfg_free(v);
                goto done;
            }
        }
        if (!strcmp(key, "**")) tgc_cfg_free(v);
    }
    if (is_dict) {
        for (int k = 0; k < kw->n; k++) {
            if (put(E, n, d, kw->keys[k], kw->items[k]) < 0) {
                kw->items[k] = NULL;
                goto done;
            }
            kw->items[k] = NULL;
        }
        res = d;
        d = NULL;
    } else {
        res = call_builtin(E, n, fn->s, args, npos);
    }
done:
    tgc_cfg_free(d);
    tgc_cfg_free(kw);
    for (int i = 0; i < npos && !is_dict; i++) tgc_cfg_free(args[i]);
    return res;
}

/* ---- comprehensions ------------------------------------------------------------------------------ */
static int bind(ev *E, const py_node *target, const tgc_cfg *v) {
    if (target->kind == PN_NAME) {
        if (E->nlocals == MAX_LOCALS) return everr(E, target, "comprehensions nested too deeply");
        E->locals[E->nlocals].name = target->s;
        E->locals[E->nlocals].val = v;
        E->nlocals++;
        return 0;
    }
    if (!is_seq(v)) return everr(E, target, "cannot unpack a %s into %d names", tname(v), target->n);
    if (v->n != target->n)
        return everr(E, target, "cannot unpack %d values into %d names", v->n, target->n);
    for (int i = 0; i < target->n; i++)
        if (bind(E, target->kids[i], v->items[i]) < 0) return -1;
    return 0;
}

static int comp_run(ev *E, const py_node *n, int ci, tgc_cfg *out) {
    if (step(E, n) < 0) return -1;
    if (ci == n->n) {
        if (n->kind == PN_LISTCOMP) {
            tgc_cfg *v = eval(E, n->kids[0]);
            return v ? put(E, n, out, NULL, v) : -1;
        }
        tgc_cfg *k = eval(E, n->kids[0]);
        if (!k) return -1;
        if (k->kind != TGC_CFG_STR) {
            everr(E, n->kids[0], "dict keys are strings in configs, not %s", tname(k));
            tgc_cfg_free(k);
            return -1;
        }
        tgc_cfg *v = eval(E, n->kids[1]);
        int rc = v ? put(E, n, out, k->s, v) : -1;
        tgc_cfg_free(k);
        return rc;
    }
    const py_node *c = n->kids[ci];
    if (c->kind == PN_IF) {
        tgc_cfg *t;
        const tgc_cfg *cond = ref(E, c->kids[0], &t);
        if (!cond) return -1;
        int yes = truthy(cond);
        tgc_cfg_free(t);
        return yes ? comp_run(E, n, ci + 1, out) : 0;
    }
    tgc_cfg *t;
    const tgc_cfg *src = ref(E, c->kids[1], &t);
    if (!src) return -1;
    /* a sequence is iterated in place (nothing in an expression can change it); dict keys and string
     * characters become a list first */
    tgc_cfg *own = is_seq(src) ? NULL : iter_items(E, c->kids[1], src);
    const tgc_cfg *items = is_seq(src) ? src : own;
    int rc = items ? 0 : -1;
    for (int i = 0; items && i < items->n && rc == 0; i++) {
        int mark = E->nlocals;
        rc = bind(E, c->kids[0], items->items[i]);
        if (rc == 0) rc = comp_run(E, n, ci + 1, out);
        E->nlocals = mark;
    }
    tgc_cfg_free(own);
    tgc_cfg_free(t);
    return rc;
}

/* ---- expressions --------------------------------------------------------------------------------- */
static tgc_cfg *slice_of(ev *E, const py_node *n, const tgc_cfg *o, const py_node *sl) {
    int64_t len = o->kind == TGC_CFG_STR ? (int64_t)strlen(o->s) : o->n;
    int64_t v[3];
    int given[3];
    for (int k = 0; k < 3; k++) {
        given[k] = 0;
        if (!sl->kids[k]) continue;
        tgc_cfg *x = eval(E, sl->kids[k]);
        if (!x) return NULL;
        if (x->kind == TGC_CFG_NULL) {
            tgc_cfg_free(x);
            continue;
        }
        if (x->kind != TGC_CFG_INT && x->kind != TGC_CFG_BOOL) {
            everr(E, sl, "slice indices must be integers or None, not %s", tname(x));
            tgc_cfg_free(x);
            return NULL;
        }
        v[k] = as_i(x);
        given[k] = 1;
        tgc_cfg_free(x);
    }
    int64_t st = given[2] ? v[2] : 1;
    if (st == 0) {
        everr(E, sl, "slice step cannot be zero");
        return NULL;
    }
    int64_t lo, hi;
    for (int k = 0; k < 2; k++) {
        int64_t *dst = k ? &hi : &lo;
        if (!given[k]) {
            *dst = st > 0 ? (k ? len : 0) : (k ? -1 : len - 1);
            continue;
        }
        int64_t x = v[k];
        if (x < 0) x += len;
        if (st > 0) x = x < 0 ? 0 : x > len ? len : x;
        else x = x < -1 ? -1 : x > len - 1 ? len - 1 : x;
        *dst = x;
    }
    if (o->kind == TGC_CFG_STR) {
        tgc_buf b = {0};
        for (int64_t i = lo; st > 0 ? i < hi : i > hi; i += st) tgc_buf_put(&b, o->s + i, 1);
        tgc_cfg *r = mk_str(E, n, b.len ? (const char *)b.data : "", b.len);
        tgc_buf_free(&b);
        return r;
    }
    tgc_cfg *r = mk(E, o->kind, n);
    for (int64_t i = lo; r && (st > 0 ? i < hi : i > hi); i += st) {
        tgc_cfg *c = clone(E, o->items[i], n);
        if (!c) {
            tgc_cfg_free(r);
            return NULL;
        }
        tgc_cfg_append(r, NULL, c);
    }
    return r;
}

static tgc_cfg *eval(ev *E, const py_node *n) {
    if (step(E, n) < 0) return NULL;
    tgc_cfg *v = NULL;
    switch (n->kind) {
    case PN_INT: return mk_int(E, n, n->i);
    case PN_FLOAT: return mk_float(E, n, n->f);
    case PN_STR: return mk_str(E, n, n->s, n->slen);
    case PN_NONE: return mk(E, TGC_CFG_NULL, n);
    case PN_TRUE:
    case PN_FALSE: return mk_bool(E, n, n->kind == PN_TRUE);
    case PN_NAME:
    case PN_BASEREF:
    case PN_ATTR: {
        tgc_cfg *t;
        const tgc_cfg *r = ref(E, n, &t);
        return t ? t : r ? clone(E, r, n) : NULL;
    }
    case PN_SUBSCRIPT: {
        if (n->kids[1]->kind != PN_SLICE) {
            tgc_cfg *t;
            const tgc_cfg *r = ref(E, n, &t);
            return t ? t : r ? clone(E, r, n) : NULL;
        }
        tgc_cfg *t;
        const tgc_cfg *o = ref(E, n->kids[0], &t);
        if (!o) return NULL;
        if (is_seq(o) || o->kind == TGC_CFG_STR) v = slice_of(E, n, o, n->kids[1]);
        else everr(E, n, "a %s value cannot be sliced", tname(o));
        tgc_cfg_free(t);
        return v;
    }
    case PN_LIST:
    case PN_TUPLE:
        v = mk(E, n->kind == PN_LIST ? TGC_CFG_LIST : TGC_CFG_TUPLE, n);
        for (int i = 0; v && i < n->n; i++) {
            tgc_cfg *c = eval(E, n->kids[i]);
            if (!c || put(E, n, v, NULL, c) < 0) {
                tgc_cfg_free(v);
                return NULL;
            }
        }
        return v;
    case PN_DICT:
        v = mk(E, TGC_CFG_MAP, n);
        for (int i = 0; v && i + 1 < n->n; i += 2) {
            tgc_cfg *val = eval(E, n->kids[i + 1]);
            if (!val) goto fail;
            if (!n->kids[i]) {
                if (val->kind != TGC_CFG_MAP) {
                    everr(E, n->kids[i + 1], "'**' needs a dict, not %s", tname(val));
                    tgc_cfg_free(val);
                    goto fail;
                }
                for (int k = 0; k < val->n; k++) {
                    tgc_cfg_set(v, val->keys[k], val->items[k]);
                    val->items[k] = NULL;
                }
                tgc_cfg_free(val);
                continue;
            }
            tgc_cfg *key = eval(E, n->kids[i]);
            if (!key) {
                tgc_cfg_free(val);
                goto fail;
            }
            if (key->kind != TGC_CFG_STR) {
                everr(E, n->kids[i], "dict keys are strings in configs, not %s", tname(key));
                tgc_cfg_free(key);
                tgc_cfg_free(val);
                goto fail;
            }
            int rc = put(E, n, v, key->s, val);
            tgc_cfg_free(key);
            if (rc < 0) goto fail;
        }
        return v;
    case PN_LISTCOMP:
    case PN_DICTCOMP:
        v = mk(E, n->kind == PN_LISTCOMP ? TGC_CFG_LIST : TGC_CFG_MAP, n);
        if (v && comp_run(E, n, n->kind == PN_LISTCOMP ? 1 : 2, v) < 0) goto fail;
        return v;
    case PN_BINOP:
    case PN_COMPARE: {
        tgc_cfg *ta, *tb = NULL;
        const tgc_cfg *a = ref(E, n->kids[0], &ta);
        const tgc_cfg *b = a ? ref(E, n->kids[1], &tb) : NULL;
        if (a && b) {
            if (n->kind == PN_BINOP) v = arith(E, n, n->op, a, b);
            else {
                int r;
                if (compare(E, n, n->op, a, b, &r) == 0) v = mk_bool(E, n, r);
            }
        }
        tgc_cfg_free(ta);
        tgc_cfg_free(tb);
        return v;
    }
    case PN_UNARY: {
        tgc_cfg *a = eval(E, n->kids[0]);
        if (!a) return NULL;
        if (!is_num(a)) {
            everr(E, n, "bad operand type for unary %s: '%s'", n->op, tname(a));
            tgc_cfg_free(a);
            return NULL;
        }
        if (a->kind == TGC_CFG_BOOL) {
            a->kind = TGC_CFG_INT;
            a->i = a->b;
        }
        if (n->op[0] == '-') {
            if (a->kind == TGC_CFG_FLOAT) a->f = -a->f;
            else if (a->i == INT64_MIN) {
                everr(E, n, "integer overflow in unary -");
                tgc_cfg_free(a);
                return NULL;
            } else a->i = -a->i;
        }
        return a;
    }
    case PN_NOT: {
        tgc_cfg *t;
        const tgc_cfg *a = ref(E, n->kids[0], &t);
        if (a) v = mk_bool(E, n, !truthy(a));
        tgc_cfg_free(t);
        return v;
    }
    case PN_AND:
    case PN_OR: {
        tgc_cfg *a = eval(E, n->kids[0]);
        if (!a) return NULL;
        if (truthy(a) == (n->kind == PN_OR)) return a;
        tgc_cfg_free(a);
        return eval(E, n->kids[1]);
    }
    case PN_IFEXP: {
        tgc_cfg *t;
        const tgc_cfg *c = ref(E, n->kids[1], &t);
        if (!c) return NULL;
        int yes = truthy(c);
        tgc_cfg_free(t);
        return eval(E, n->kids[yes ? 0 : 2]);
    }
    case PN_CALL: return eval_call(E, n);
    case PN_SLICE: everr(E, n, "a slice is only valid inside [...]"); return NULL;
    default: everr(E, n, "internal error: unexpected syntax node %d", (int)n->kind); return NULL;
    }
fail:
    tgc_cfg_free(v);
    return NULL;
}

/* ---- statements ---------------------------------------------------------------------------------- */
static void set_global(ev *E, const char *name, tgc_cfg *v) {
    int at = tgc_cfg_index_find(&E->gix, E->globals, name);
    if (at >= 0) {
        tgc_cfg_free(E->globals->items[at]);
        E->globals->items[at] = v;
        return;
    }
    tgc_cfg_append(E->globals, name, v);
    tgc_cfg_index_add(&E->gix, E->globals, E->globals->n - 1);
}

static int load_bases(ev *E, const py_node *n, tgc_cfg *v) {
    if (E->base_refs) return everr(E, n, "'_base_' is assigned twice");
    if (E->read_base) return everr(E, n, "'_base_ = ...' cannot be mixed with 'with read_base():' imports");
    int ok = v->kind == TGC_CFG_STR;
    if (is_seq(v)) {
        ok = 1;
        for (int i = 0; i < v->n; i++) ok &= v->items[i]->kind == TGC_CFG_STR;
    }
    if (!ok) return everr(E, n, "'_base_' must be a path or a list of paths (got %s)", tname(v));
    E->base_refs = tgc_cfg_clone(v);
    E->bases = E->hooks->load_bases(E->hooks->ctx, v, E->err);
    return E->bases ? 0 : -1;
}

/* The node that `target`'s container expression names, for assignment into it; NULL + error. Records in
 * *base_path the key path when the chain starts at `_base_` (NULL otherwise; the caller frees it). */
static tgc_cfg *lvalue(ev *E, const py_node *t, tgc_buf *base_path, int *from_base, int *via_index) {
    if (step(E, t) < 0) return NULL;
    if (t->kind == PN_NAME) {
        if (!strcmp(t->s, "_base_") && tgc_cfg_index_find(&E->gix, E->globals, t->s) < 0) {
            if (!E->bases) {
                everr(E, t, "'_base_' is used before `_base_ = [...]` names the bases");
                return NULL;
            }
            *from_base = 1;
            return E->bases;
        }
        int at = tgc_cfg_index_find(&E->gix, E->globals, t->s);
        if (at < 0) {
            everr(E, t, "name '%s' is not defined", t->s);
            return NULL;
        }
        return E->globals->items[at];
    }
    if (t->kind == PN_ATTR || t->kind == PN_SUBSCRIPT) {
        tgc_cfg *o = lvalue(E, t->kids[0], base_path, from_base, via_index);
        if (!o) return NULL;
        if (t->kind == PN_ATTR) {
            if (o->kind != TGC_CFG_MAP) {
                everr(E, t, "attribute access ('.%s') on a %s value is not supported in configs", t->s, tname(o));
                return NULL;
            }
            tgc_cfg *v = (tgc_cfg *)map_key(E, t, o, t->s);
            if (v && *from_base) tgc_buf_printf(base_path, "%s%s", base_path->len ? "." : "", t->s);
            return v;
        }
        tgc_cfg *idx = eval(E, t->kids[1]);
        if (!idx) return NULL;
        tgc_cfg *v = NULL;
        if (o->kind == TGC_CFG_MAP && idx->kind == TGC_CFG_STR) {
            v = (tgc_cfg *)map_key(E, t, o, idx->s);
            if (v && *from_base) tgc_buf_printf(base_path, "%s%s", base_path->len ? "." : "", idx->s);
        } else if (is_seq(o)) {
            int i = seq_index(E, t, idx, o->n);
            if (i >= 0) v = o->items[i];
            *via_index = 1;
        } else {
            everr(E, t, "a %s value cannot be subscripted with %s", tname(o), tname(idx));
        }
        tgc_cfg_free(idx);
        return v;
    }
    everr(E, t, "cannot assign to this expression");
    return NULL;
}

/* Records `_base_.PATH.key = v` in base_edits (the unmerged form writes it as the child's own key). */
static void record_edit(ev *E, const char *path, const char *key, const tgc_cfg *v) {
    if (!E->base_edits) E->base_edits = tgc_cfg_new(TGC_CFG_MAP, E->name, 0);
    tgc_cfg *m = E->base_edits;
    char *p = tgc_strdup(path);
    for (char *part = p, *dot; part && *part; part = dot ? dot + 1 : NULL) {
        dot = strchr(part, '.');
        if (dot) *dot = 0;
        tgc_cfg *sub = tgc_cfg_get(m, part);
        if (!sub || sub->kind != TGC_CFG_MAP) {
            sub = tgc_cfg_new(TGC_CFG_MAP, E->name, 0);
            tgc_cfg_set(m, part, sub);
        }
        m = sub;
    }
    free(p);
    tgc_cfg_set(m, key, tgc_cfg_clone(v));
}

/* target = v (v taken). */
static int assign(ev *E, const py_node *t, tgc_cfg *v) {
    if (t->kind == PN_NAME) {
        if (!strcmp(t->s, "_base_")) {
            int rc = load_bases(E, t, v);
            tgc_cfg_free(v);
            return rc;
        }
        set_global(E, t->s, v);
        return 0;
    }
    tgc_buf path = {0};
    int from_base = 0, via_index = 0;
    tgc_cfg *o = lvalue(E, t->kids[0], &path, &from_base, &via_index);
    int rc = -1;
    if (!o) goto done;
    if (t->kind == PN_ATTR) {
        if (o->kind != TGC_CFG_MAP) {
            everr(E, t, "attribute assignment ('.%s = ...') on a %s value is not supported in configs", t->s, tname(o));
            goto done;
        }
        if (from_base && via_index && !E->index_edit_line) E->index_edit_line = t->line;
        if (from_base && !via_index) {
            tgc_buf_put(&path, "", 1);
            record_edit(E, (const char *)path.data, t->s, v);
        }
        rc = put(E, t, o, t->s, v);
        v = NULL;
        goto done;
    }
    tgc_cfg *idx = eval(E, t->kids[1]);
    if (!idx) goto done;
    if (o->kind == TGC_CFG_MAP) {
        if (idx->kind != TGC_CFG_STR) everr(E, t, "dict keys are strings in configs, not %s", tname(idx));
        else {
            if (from_base && via_index && !E->index_edit_line) E->index_edit_line = t->line;
            if (from_base && !via_index) {
                tgc_buf_put(&path, "", 1);
                record_edit(E, (const char *)path.data, idx->s, v);
            }
            rc = put(E, t, o, idx->s, v);
            v = NULL;
        }
    } else if (is_seq(o)) {
        int i = seq_index(E, t, idx, o->n);
        if (i >= 0 && from_base && !E->index_edit_line) E->index_edit_line = t->line;
        if (i >= 0) {
            if (depth_capped(v, MAX_VALUE_DEPTH) >= MAX_VALUE_DEPTH) {
                everr(E, t, "value nested deeper than %d levels", MAX_VALUE_DEPTH);
            } else {
                tgc_cfg_free(o->items[i]);
                o->items[i] = v;
                v = NULL;
                rc = 0;
            }
        }
    } else {
        everr(E, t, "a %s value does not support item assignment", tname(o));
    }
    tgc_cfg_free(idx);
done:
    tgc_buf_free(&path);
    tgc_cfg_free(v);
    return rc;
}

static int exec_import(ev *E, const py_node *imp) {
    if (imp->i == 0)
        return everr(E, imp, "'from %s import ...': only relative imports of config files (from .x or from ..x) are "
                             "supported inside read_base()",
                     imp->s);
    if (!imp->s || !*imp->s)
        return everr(E, imp, "'from %.*s import ...' names a package; import from a config file ('from .NAME import')",
                     (int)imp->i, "..........");
    tgc_buf p = {0};
    if (imp->i == 1) tgc_buf_printf(&p, "./");
    for (int64_t k = 1; k < imp->i; k++) tgc_buf_printf(&p, "../");
    for (const char *s = imp->s; *s; s++) tgc_buf_put(&p, *s == '.' ? "/" : s, 1);
    tgc_buf_put(&p, "", 1);
    tgc_cfg *refn = tgc_cfg_new(TGC_CFG_STR, E->name, imp->line);
    refn->s = tgc_strdup((const char *)p.data);
    tgc_buf_free(&p);
    tgc_cfg *mod = E->hooks->load_module(E->hooks->ctx, refn, E->err);
    tgc_cfg_free(refn);
    if (!mod) return -1;
    int rc = 0;
    if (imp->n == 1 && imp->keys[0] && !strcmp(imp->keys[0], "*")) {
        for (int k = 0; k < mod->n; k++) {
            if (mod->keys[k][0] == '_') continue;
            if (charge(E, imp, count_capped(mod->items[k], MAX_VALUES)) < 0) {
                rc = -1;
                break;
            }
            set_global(E, mod->keys[k], mod->items[k]);
            mod->items[k] = NULL;
        }
    } else {
        for (int k = 0; k < imp->n && rc == 0; k++) {
            tgc_cfg *v = tgc_cfg_take(mod, imp->keys[k]);
            if (!v) {
                rc = everr(E, imp, "cannot import name '%s' from '%s'", imp->keys[k], imp->s);
                break;
            }
            if (charge(E, imp, count_capped(v, MAX_VALUES)) < 0) {
                tgc_cfg_free(v);
                rc = -1;
                break;
            }
            set_global(E, imp->kids[k] ? imp->kids[k]->s : imp->keys[k], v);
        }
    }
    tgc_cfg_free(mod);
    return rc;
}

static int exec_stmt(ev *E, const py_node *s) {
    switch (s->kind) {
    case PN_PASS: return 0;
    case PN_IMPORT_COPY: E->copy_imported = 1; return 0;
    case PN_EXPR: {
        if (s->kids[0]->kind == PN_STR) return 0; /* a docstring */
        tgc_cfg *v = eval(E, s->kids[0]);
        if (!v) return -1;
        tgc_cfg_free(v);
        return everr(E, s, "an expression statement has no effect in a config (assign it to a name)");
    }
    case PN_ASSIGN: {
        tgc_cfg *v = eval(E, s->kids[s->n - 1]);
        if (!v) return -1;
        for (int i = 0; i < s->n - 1; i++) {
            tgc_cfg *c = i == s->n - 2 ? v : clone(E, v, s);
            if (i == s->n - 2) v = NULL;
            if (!c || assign(E, s->kids[i], c) < 0) {
                tgc_cfg_free(v);
                return -1;
            }
        }
        return 0;
    }
    case PN_AUGASSIGN: {
        tgc_cfg *cur = eval(E, s->kids[0]);
        if (!cur) return -1;
        tgc_cfg *rhs = eval(E, s->kids[1]);
        tgc_cfg *v = rhs ? arith(E, s, s->op, cur, rhs) : NULL;
        tgc_cfg_free(cur);
        tgc_cfg_free(rhs);
        return v ? assign(E, s->kids[0], v) : -1;
    }
    case PN_READ_BASE:
        if (E->base_refs) return everr(E, s, "'with read_base():' cannot be mixed with '_base_ = ...'");
        E->read_base = 1;
        for (int i = 0; i < s->n; i++)
            if (exec_import(E, s->kids[i]) < 0) return -1;
        return 0;
    default: return everr(E, s, "internal error: unexpected statement %d", (int)s->kind);
    }
}

static void tuples_to_lists(tgc_cfg *c) {
    if (c->kind == TGC_CFG_TUPLE) c->kind = TGC_CFG_LIST;
    for (int i = 0; i < c->n; i++) tuples_to_lists(c->items[i]);
}

void tgc_py_result_free(tgc_py_result *r) {
    tgc_cfg_free(r->globals);
    tgc_cfg_free(r->bases);
    tgc_cfg_free(r->base_refs);
    tgc_cfg_free(r->base_edits);
    memset(r, 0, sizeof *r);
}

int tgc_cfg_eval_py(const char *text, size_t len, const char *name, const tgc_py_hooks *hooks, tgc_py_result *out,
                    tgc_err *err) {
    memset(out, 0, sizeof *out);
    const char *nul = memchr(text, 0, len);
    if (nul) return tgc_fail(err, "%s: not a text file (NUL byte at offset %zu)", name, (size_t)(nul - text));
    ev E;
    memset(&E, 0, sizeof E);
    E.name = name;
    E.err = err;
    E.hooks = hooks;
    E.globals = tgc_cfg_new(TGC_CFG_MAP, name, 1);
    tgc_cfg_index_init(&E.gix, E.globals);
    py_parser P;
    py_parse_init(&P, text, len, name, err);
    int rc = 0;
    for (;;) {
        int done;
        py_node *s = py_parse_stmt(&P, &done);
        if (!s) {
            if (!done) rc = -1;
            break;
        }
        rc = exec_stmt(&E, s);
        py_node_free(s);
        if (rc < 0) break;
    }
    py_parse_free(&P);
    tgc_cfg_index_free(&E.gix);
    if (rc == 0 && E.globals->n == 0 && !E.bases)
        rc = tgc_fail(err, "%s: empty config (no assignments)", name);
    if (rc == 0) {
        for (int i = E.globals->n - 1; i >= 0; i--) /* dunder names are Python's, not the config's */
            if (!strncmp(E.globals->keys[i], "__", 2)) tgc_cfg_free(tgc_cfg_take(E.globals, E.globals->keys[i]));
        tuples_to_lists(E.globals);
        if (E.bases) tuples_to_lists(E.bases);
        if (E.base_edits) tuples_to_lists(E.base_edits);
        out->globals = E.globals;
        out->bases = E.bases;
        out->base_refs = E.base_refs;
        out->base_edits = E.base_edits;
        out->read_base = E.read_base;
        out->index_edit_line = E.index_edit_line;
        return 0;
    }
    tgc_cfg_free(E.globals);
    tgc_cfg_free(E.bases);
    tgc_cfg_free(E.base_refs);
    tgc_cfg_free(E.base_edits);
    return -1;
}
