/* frontend/cfg_options.c - `--cfg-options a.b.c=value` with MMEngine DictAction's value rules. */
#include "frontend/cfg.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define OPT_FILE "<cfg-options>"
enum { MAX_VALUE_DEPTH = 64, MAX_KEY_PARTS = 64 };

/* A copy of s short enough to quote in a message (long items are cut in the middle of nothing useful). */
typedef struct clipped {
    char s[128];
} clipped;

static clipped clip(const char *s, size_t len) {
    clipped c;
    if (len < sizeof c.s) snprintf(c.s, sizeof c.s, "%.*s", (int)len, s);
    else snprintf(c.s, sizeof c.s, "%.*s...", (int)sizeof c.s - 4, s);
    return c;
}

/* Python's int(): optional sign and decimal digits only. */
static int parse_int(const char *s, int64_t *out) {
    const char *p = s + (*s == '+' || *s == '-');
    if (!*p) return 0;
    for (const char *q = p; *q; q++)
        if (*q < '0' || *q > '9') return 0;
    errno = 0;
    char *end;
    long long v = strtoll(s, &end, 10);
    if (errno == ERANGE || *end) return 0; /* too big for int64: falls through to float, as close as we get */
    *out = v;
    return 1;
}

/* Python's float(): decimal forms, inf/infinity/nan; strtod's hex floats are not Python's. */
static int parse_float(const char *s, double *out) {
    if (!*s || strpbrk(s, "xX")) return 0;
    char *end;
    double v = strtod(s, &end);
    if (*end) return 0;
    *out = v;
    return 1;
}

/* DictAction._parse_int_float_bool: int, then float, then bool, then None, else the string. */
static tgc_cfg *scalar(const char *s) {
    tgc_cfg *c;
    int64_t i;
    double f;
    if (parse_int(s, &i)) {
        c = tgc_cfg_new(TGC_CFG_INT, OPT_FILE, 0);
        c->i = i;
    } else if (parse_float(s, &f)) {
        c = tgc_cfg_new(TGC_CFG_FLOAT, OPT_FILE, 0);
        c->f = f;
    } else if (!strcasecmp(s, "true") || !strcasecmp(s, "false")) {
        c = tgc_cfg_new(TGC_CFG_BOOL, OPT_FILE, 0);
        c->b = !strcasecmp(s, "true");
    } else if (!strcmp(s, "None")) {
        c = tgc_cfg_new(TGC_CFG_NULL, OPT_FILE, 0);
    } else {
        c = tgc_cfg_new(TGC_CFG_STR, OPT_FILE, 0);
        c->s = tgc_strdup(s);
    }
    return c;
}

/* Index of the first ',' outside () and [], or len. */
static size_t next_comma(const char *s, size_t len) {
    int depth = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '(' || s[i] == '[') depth++;
        else if (s[i] == ')' || s[i] == ']') depth--;
        else if (s[i] == ',' && depth == 0) return i;
    }
    return len;
}

static int balanced(const char *s, size_t len) {
    long round = 0, square = 0;
    for (size_t i = 0; i < len; i++) {
        round += (s[i] == '(') - (s[i] == ')');
        square += (s[i] == '[') - (s[i] == ']');
    }
    return round == 0 && square == 0;
}

/* DictAction._parse_iterable on s[0..len). */
static tgc_cfg *parse_value(const char *s, size_t len, int depth, const char *item, tgc_err *err) {
    if (depth > MAX_VALUE_DEPTH) {
        tgc_fail(err, OPT_FILE ": '%s': value nested deeper than %d levels", item, MAX_VALUE_DEPTH);
        return NULL;
    }
    /* Strip surrounding ' and " characters, then remove every space (in Python's order). */
    while (len && (*s == '\'' || *s == '"')) s++, len--;
    while (len && (s[len - 1] == '\'' || s[len - 1] == '"')) len--;
    char *v = tgc_malloc(len + 1);
    size_t n = 0;
    for (size_t i = 0; i < len; i++)
        if (s[i] != ' ') v[n++] = s[i];
    v[n] = 0;
    tgc_cfg *out = NULL;
    tgc_cfg_kind kind = TGC_CFG_LIST;
    const char *body = v;
    size_t blen = n;
    /* DictAction asserts balanced brackets in anything with a comma: "[1,2" is an error, "[1" a string. */
    if (memchr(v, ',', n) && !balanced(v, n)) {
        tgc_fail(err, OPT_FILE ": '%s': unbalanced brackets in '%s'", item, clip(v, n).s);
        free(v);
        return NULL;
    }
    if (n >= 2 && v[0] == '(' && v[n - 1] == ')') {
        kind = TGC_CFG_TUPLE;
        body = v + 1, blen = n - 2;
    } else if (n >= 2 && v[0] == '[' && v[n - 1] == ']') {
        body = v + 1, blen = n - 2;
    } else if (next_comma(v, n) == n) {
        out = scalar(v);
        free(v);
        return out;
    }
    if (!balanced(body, blen)) {
        tgc_fail(err, OPT_FILE ": '%s': unbalanced brackets in '%s'", item, clip(v, n).s);
        free(v);
        return NULL;
    }
    out = tgc_cfg_new(kind, OPT_FILE, 0);
    while (blen > 0) {
        size_t c = next_comma(body, blen);
        tgc_cfg *e = parse_value(body, c, depth + 1, item, err);
        if (!e) {
            tgc_cfg_free(out);
            out = NULL;
            break;
        }
        tgc_cfg_append(out, NULL, e);
        if (c == blen) break;
        body += c + 1;
        blen -= c + 1;
    }
    free(v);
    return out;
}

static int container_depth(const tgc_cfg *c) {
    if (c->kind != TGC_CFG_LIST && c->kind != TGC_CFG_TUPLE) return 0;
    int d = 0;
    for (int i = 0; i < c->n; i++) d = TGC_MAX(d, container_depth(c->items[i]));
    return d + 1;
}

static long list_index(const char *s) {
    size_t n = strlen(s);
    if (n == 0 || n > 9) return -1;
    for (size_t i = 0; i < n; i++)
        if (s[i] < '0' || s[i] > '9') return -1;
    return strtol(s, NULL, 10);
}

static int is_seq(const tgc_cfg *c) { return c->kind == TGC_CFG_LIST || c->kind == TGC_CFG_TUPLE; }

/* Finds slot `part` in container cur (creating a map when create and cur is a map). Returns the slot's
 * address, or NULL with an error naming the key. */
static tgc_cfg **slot(tgc_cfg *cur, const char *part, const char *sofar, const char *key, const char *item,
                      int create, tgc_err *err) {
    if (cur->kind == TGC_CFG_MAP) {
        for (int i = 0; i < cur->n; i++)
            if (!strcmp(cur->keys[i], part)) return &cur->items[i];
        if (!create) return NULL;
        tgc_cfg_append(cur, part, tgc_cfg_new(TGC_CFG_MAP, OPT_FILE, 0));
        return &cur->items[cur->n - 1];
    }
    if (is_seq(cur)) {
        long i = list_index(part);
        if (i < 0) {
            tgc_fail(err, OPT_FILE ": '%s': key '%s': '%s' is a %s, so '%s' must be an index", item, key,
                     clip(sofar, strlen(sofar)).s, tgc_cfg_kind_name(cur->kind), clip(part, strlen(part)).s);
            return NULL;
        }
        if (i >= cur->n) {
            tgc_fail(err, OPT_FILE ": '%s': key '%s': index %ld is out of range for '%s' of length %d", item, key, i,
                     clip(sofar, strlen(sofar)).s, cur->n);
            return NULL;
        }
        return &cur->items[i];
    }
    tgc_fail(err, OPT_FILE ": '%s': key '%s': '%s' (from %s:%d) has kind %s, not map or list; it cannot hold '%s'",
             item, key, clip(sofar, strlen(sofar)).s, cur->file, cur->line, tgc_cfg_kind_name(cur->kind),
             clip(part, strlen(part)).s);
    return NULL;
}

int tgc_cfg_apply_option(tgc_cfg *root, const char *item, tgc_err *err) {
    clipped quoted = clip(item, strlen(item));
    const char *kv = quoted.s; /* the item as messages quote it */
    const char *eq = strchr(item, '=');
    if (!eq) return tgc_fail(err, OPT_FILE ": '%s': expected KEY=VALUE", kv);
    const char *k0 = item, *k1 = eq;
    while (k0 < k1 && (*k0 == ' ' || *k0 == '\t')) k0++;
    while (k1 > k0 && (k1[-1] == ' ' || k1[-1] == '\t')) k1--;
    if (k0 == k1) return tgc_fail(err, OPT_FILE ": '%s': empty key", kv);
    if (!root || root->kind != TGC_CFG_MAP) return tgc_fail(err, OPT_FILE ": '%s': the config root is not a map", kv);
    char *key = tgc_malloc((size_t)(k1 - k0) + 1);
    memcpy(key, k0, (size_t)(k1 - k0));
    key[k1 - k0] = 0;
    /* Split the key into parts; every part must be non-empty. */
    char *parts[MAX_KEY_PARTS];
    int np = 0;
    int bad = 0;
    for (char *p = key;;) {
        char *dot = strchr(p, '.');
        if (dot) *dot = 0;
        if (!*p) bad = 1;
        if (np == MAX_KEY_PARTS) {
            free(key);
            return tgc_fail(err, OPT_FILE ": '%s': key has more than %d parts", kv, MAX_KEY_PARTS);
        }
        parts[np++] = p;
        if (!dot) break;
        p = dot + 1;
    }
    char *shown = tgc_strdup(clip(k0, (size_t)(k1 - k0)).s);
    int rc = -1;
    if (bad) {
        tgc_fail(err, OPT_FILE ": '%s': key '%s' has an empty part", kv, shown);
        goto out;
    }
    tgc_cfg *val = parse_value(eq + 1, strlen(eq + 1), 0, kv, err);
    if (!val) goto out;
    /* Keep the tree within the 64 nesting levels that the parser and the deserializer accept. */
    if (np + container_depth(val) > MAX_VALUE_DEPTH) {
        tgc_fail(err, OPT_FILE ": '%s': key and value nest deeper than %d levels", kv, MAX_VALUE_DEPTH);
        tgc_cfg_free(val);
        goto out;
    }
    tgc_cfg *cur = root;
    char *sofar = tgc_strdup("");
    for (int i = 0; i < np; i++) {
        int last = i == np - 1;
        tgc_cfg **s = slot(cur, parts[i], sofar, shown, kv, 1, err);
        if (!s) {
            tgc_cfg_free(val);
            free(sofar);
            goto out;
        }
        char *t = tgc_asprintf("%s%s%s", sofar, *sofar ? "." : "", parts[i]);
        free(sofar);
        sofar = t;
        if (last) {
            tgc_cfg_free(*s); /* values from options are never maps: they replace */
            *s = val;
        } else {
            cur = *s;
        }
    }
    free(sofar);
    tgc_cfg_set_paths(root);
    rc = 0;
out:
    free(shown);
    free(key);
    return rc;
}
