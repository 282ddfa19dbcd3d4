/* frontend/cfg_yaml.c - one YAML file -> config tree, from libyaml's events: scalar typing, anchors and
 * aliases (bounded expansion), `<<` merge keys, duplicate keys, depth and size limits. */
#include "frontend/cfg.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

enum {
    MAX_INPUT = 16 << 20,
    MAX_DEPTH = 64,
    MAX_NODES = 1000000,
};
/* Alias expansion multiplies text as well as nodes: bound the expanded scalar and key bytes too. */
#define MAX_EXPANDED_BYTES ((size_t)64 << 20)

#define YAML_STR_TAG "tag:yaml.org,2002:str"

/* ---- scalar typing (YAML 1.2 core schema) -------------------------------------------------------- */
static int is_digit(char c) { return c >= '0' && c <= '9'; }
static int is_xdigit(char c) { return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }

static int is_null_text(const char *s) {
    return !*s || !strcmp(s, "~") || !strcmp(s, "null") || !strcmp(s, "Null") || !strcmp(s, "NULL");
}

static int bool_text(const char *s) { /* 1 true, 0 false, -1 neither */
    if (!strcmp(s, "true") || !strcmp(s, "True") || !strcmp(s, "TRUE")) return 1;
    if (!strcmp(s, "false") || !strcmp(s, "False") || !strcmp(s, "FALSE")) return 0;
    return -1;
}

static int is_int_text(const char *s) {
    if (*s == '+' || *s == '-') s++;
    if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
        s += 2;
        if (!*s) return 0;
        for (; *s; s++)
            if (!is_xdigit(*s)) return 0;
        return 1;
    }
    if (!*s) return 0;
    for (; *s; s++)
        if (!is_digit(*s)) return 0;
    return 1;
}

/* 1 for a finite float literal, 2 for +-.inf, 3 for .nan, 0 otherwise. */
static int float_text(const char *s) {
    if (!strcmp(s, ".nan") || !strcmp(s, ".NaN") || !strcmp(s, ".NAN")) return 3;
    const char *p = s;
    if (*p == '+' || *p == '-') p++;
    if (!strcmp(p, ".inf") || !strcmp(p, ".Inf") || !strcmp(p, ".INF")) return 2;
    int digits = 0;
    while (is_digit(*p)) p++, digits++;
    if (*p == '.') {
        p++;
        while (is_digit(*p)) p++, digits++;
    }
    if (!digits) return 0;
    if (*p == 'e' || *p == 'E') {
        p++;
        if (*p == '+' || *p == '-') p++;
        if (!is_digit(*p)) return 0;
        while (is_digit(*p)) p++;
    }
    return *p ? 0 : 1;
}

tgc_cfg_kind tgc_cfg_plain_kind(const char *s) {
    if (is_null_text(s)) return TGC_CFG_NULL;
    if (bool_text(s) >= 0) return TGC_CFG_BOOL;
    if (is_int_text(s)) return TGC_CFG_INT;
    if (float_text(s)) return TGC_CFG_FLOAT;
    return TGC_CFG_STR;
}

/* ---- the event-driven builder -------------------------------------------------------------------- */
typedef struct anchor {
    char *name;
    const tgc_cfg *node; /* in the tree or the graveyard; neither is changed or freed before the end */
    size_t nodes, bytes;
} anchor;

/* Where the builder is, for messages: a chain of map keys / list indices on the C stack. */
typedef struct frame {
    const struct frame *up;
    const char *key; /* map value under this key, or NULL */
    int index;       /* list item index, or -1 */
} frame;

typedef struct yparse {
    yaml_parser_t yp;
    const char *name;
    tgc_err *err;
    anchor *anchors;
    int nanchors, capanchors;
    tgc_cfg **grave; /* `<<` sources, kept alive so anchors into them stay valid */
    int ngrave, capgrave;
    size_t nodes, bytes;
    int depth;
} yparse;

static char *path_of(const frame *fr) {
    const frame *chain[MAX_DEPTH + 4];
    int n = 0;
    for (const frame *f = fr; f && n < (int)TGC_ARRAY_LEN(chain); f = f->up)
        if (f->key || f->index >= 0) chain[n++] = f;
    char *s = tgc_strdup("");
    for (int i = n - 1; i >= 0; i--) {
        char *t;
        if (chain[i]->key) /* keys are cut at 80 bytes so a message always has room for what went wrong */
            t = tgc_asprintf("%s%s%.80s%s", s, *s ? "." : "", chain[i]->key, strlen(chain[i]->key) > 80 ? "..." : "");
        else t = tgc_asprintf("%s[%d]", s, chain[i]->index);
        free(s);
        s = t;
    }
    return s;
}

/* "NAME:LINE: PATH: message" (PATH left out at the root). */
static tgc_cfg *perr(yparse *p, size_t line0, const frame *fr, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static tgc_cfg *perr(yparse *p, size_t line0, const frame *fr, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    char *msg = tgc_vasprintf(fmt, ap);
    va_end(ap);
    char *path = path_of(fr);
    if (*path) tgc_fail(p->err, "%s:%zu: %s: %s", p->name, line0 + 1, path, msg);
    else tgc_fail(p->err, "%s:%zu: %s", p->name, line0 + 1, msg);
    free(path);
    free(msg);
    return NULL;
}

static int yaml_error(yparse *p) {
    yaml_parser_t *y = &p->yp;
    switch (y->error) {
    case YAML_MEMORY_ERROR: return tgc_fail(p->err, "%s: out of memory in the YAML parser", p->name);
    case YAML_READER_ERROR:
        return tgc_fail(p->err, "%s: not a UTF-8 text file: %s at byte %zu", p->name,
                        y->problem ? y->problem : "unreadable input", y->problem_offset);
    default: break;
    }
    const char *problem = y->problem ? y->problem : "malformed YAML";
    if (y->context)
        return tgc_fail(p->err, "%s:%zu:%zu: %s (%s at line %zu)", p->name, y->problem_mark.line + 1,
                        y->problem_mark.column + 1, problem, y->context, y->context_mark.line + 1);
    return tgc_fail(p->err, "%s:%zu:%zu: %s", p->name, y->problem_mark.line + 1, y->problem_mark.column + 1,
                    problem);
}

static int next_event(yparse *p, yaml_event_t *ev) {
    if (!yaml_parser_parse(&p->yp, ev)) return yaml_error(p);
    return 0;
}

/* Counts a subtree's nodes and text bytes (for anchors and merge copies). */
static void measure(const tgc_cfg *c, size_t *nodes, size_t *bytes) {
    *nodes += 1;
    if (c->s) *bytes += strlen(c->s);
    for (int i = 0; i < c->n; i++) {
        if (c->keys) *bytes += strlen(c->keys[i]);
        measure(c->items[i], nodes, bytes);
    }
}

/* Charges new nodes/bytes to the file's budget; fails before anything is allocated for them. */
static int charge(yparse *p, size_t nodes, size_t bytes, size_t line0, const frame *fr, const char *what) {
    p->nodes += nodes;
    p->bytes += bytes;
    if (p->nodes > MAX_NODES) {
        perr(p, line0, fr, "more than %d nodes after alias expansion (%s); is this an alias bomb?", MAX_NODES,
             what);
        return -1;
    }
    if (p->bytes > MAX_EXPANDED_BYTES) {
        perr(p, line0, fr, "more than %zu bytes of text after alias expansion (%s)", MAX_EXPANDED_BYTES, what);
        return -1;
    }
    return 0;
}

static void add_anchor(yparse *p, const char *name, const tgc_cfg *node, size_t nodes, size_t bytes) {
    TGC_GROW(p->anchors, p->capanchors, p->nanchors + 1);
    p->anchors[p->nanchors++] = (anchor){tgc_strdup(name), node, nodes, bytes};
}

static const anchor *find_anchor(const yparse *p, const char *name) {
    for (int i = p->nanchors - 1; i >= 0; i--) /* a redefined anchor: the latest wins */
        if (!strcmp(p->anchors[i].name, name)) return &p->anchors[i];
    return NULL;
}

static tgc_cfg *scalar_node(yparse *p, const yaml_event_t *ev, const frame *fr) {
    size_t line0 = ev->start_mark.line;
    const char *text = (const char *)ev->data.scalar.value;
    if (strlen(text) != ev->data.scalar.length) return perr(p, line0, fr, "string contains a NUL character");
    const char *tag = (const char *)ev->data.scalar.tag;
    int plain = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
                !(tag && (!strcmp(tag, YAML_STR_TAG) || !strcmp(tag, "!")));
    tgc_cfg_kind kind = plain ? tgc_cfg_plain_kind(text) : TGC_CFG_STR;
    tgc_cfg *c = tgc_cfg_new(kind, p->name, (int)line0 + 1);
    switch (kind) {
    case TGC_CFG_BOOL: c->b = bool_text(text); break;
    case TGC_CFG_INT: {
        errno = 0;
        char *end;
        const char *digits = text + (*text == '+' || *text == '-');
        int hex = digits[0] == '0' && (digits[1] == 'x' || digits[1] == 'X');
        c->i = strtoll(text, &end, hex ? 16 : 10);
        if (errno == ERANGE) {
            tgc_cfg_free(c);
            return perr(p, line0, fr, "integer '%s' is out of the 64-bit range", text);
        }
        break;
    }
    case TGC_CFG_FLOAT: {
        int f = float_text(text);
        if (f == 3) c->f = NAN;
        else if (f == 2) c->f = text[0] == '-' ? -INFINITY : INFINITY;
        else c->f = strtod(text, NULL); /* overflow gives +-inf, underflow 0: both acceptable */
        break;
    }
    case TGC_CFG_STR: c->s = tgc_strdup(text); break;
    default: break;
    }
    return c;
}

static tgc_cfg *parse_node(yparse *p, yaml_event_t *ev, const frame *fr, size_t *nodes, size_t *bytes);

static tgc_cfg *parse_seq(yparse *p, yaml_event_t *ev, const frame *fr, size_t *nodes, size_t *bytes) {
    size_t line0 = ev->start_mark.line;
    yaml_event_delete(ev);
    tgc_cfg *c = tgc_cfg_new(TGC_CFG_LIST, p->name, (int)line0 + 1);
    for (;;) {
        yaml_event_t item;
        if (next_event(p, &item) < 0) break;
        if (item.type == YAML_SEQUENCE_END_EVENT) {
            yaml_event_delete(&item);
            return c;
        }
        frame sub = {fr, NULL, c->n};
        tgc_cfg *v = parse_node(p, &item, &sub, nodes, bytes);
        if (!v) break;
        tgc_cfg_append(c, NULL, v);
    }
    tgc_cfg_free(c);
    return NULL;
}

/* The maps a `<<` value names: one map, or a list of maps (normally aliases). */
static int merge_sources(yparse *p, tgc_cfg *v, const frame *fr, size_t line0) {
    int ok = v->kind == TGC_CFG_MAP;
    if (v->kind == TGC_CFG_LIST) {
        ok = 1;
        for (int i = 0; i < v->n; i++) ok = ok && v->items[i]->kind == TGC_CFG_MAP;
    }
    if (!ok) {
        perr(p, line0, fr, "'<<' merge value must be a map or a list of maps (got %s)", tgc_cfg_kind_name(v->kind));
        return -1;
    }
    return 0;
}

/* Adds the keys of the `<<` sources that the map does not have (explicit keys win; earlier sources win
 * over later ones), placed where the `<<` was written. */
static int apply_merges(yparse *p, tgc_cfg *map, tgc_cfg_index *ix, const tgc_cfg *src, int at, const frame *fr,
                        size_t line0, size_t *nodes, size_t *bytes) {
    int before = map->n;
    {
        tgc_cfg *const one[1] = {(tgc_cfg *)src};
        tgc_cfg *const *maps = src->kind == TGC_CFG_MAP ? one : src->items;
        int nmaps = src->kind == TGC_CFG_MAP ? 1 : src->n;
        for (int m = 0; m < nmaps; m++) {
            for (int k = 0; k < maps[m]->n; k++) {
                if (tgc_cfg_index_find(ix, map, maps[m]->keys[k]) >= 0) continue;
                size_t nn = 0, nb = strlen(maps[m]->keys[k]);
                measure(maps[m]->items[k], &nn, &nb);
                if (charge(p, nn, nb, line0, fr, "'<<' merge") < 0) return -1;
                *nodes += nn;
                *bytes += nb;
                tgc_cfg_append(map, maps[m]->keys[k], tgc_cfg_clone(maps[m]->items[k]));
                tgc_cfg_index_add(ix, map, map->n - 1);
            }
        }
    }
    /* Rotate the appended block [before, n) to position `at`, keeping both runs in order. */
    int added = map->n - before;
    if (added && at < before) {
        tgc_cfg **items = tgc_malloc((size_t)map->n * sizeof *items);
        char **keys = tgc_malloc((size_t)map->n * sizeof *keys);
        int o = 0;
        for (int i = 0; i < at; i++) items[o] = map->items[i], keys[o++] = map->keys[i];
        for (int i = before; i < map->n; i++) items[o] = map->items[i], keys[o++] = map->keys[i];
        for (int i = at; i < before; i++) items[o] = map->items[i], keys[o++] = map->keys[i];
        memcpy(map->items, items, (size_t)map->n * sizeof *items);
        memcpy(map->keys, keys, (size_t)map->n * sizeof *keys);
        free(items);
        free(keys);
    }
    return 0;
}

static tgc_cfg *parse_map(yparse *p, yaml_event_t *ev, const frame *fr, size_t *nodes, size_t *bytes) {
    size_t line0 = ev->start_mark.line;
    yaml_event_delete(ev);
    tgc_cfg *c = tgc_cfg_new(TGC_CFG_MAP, p->name, (int)line0 + 1);
    tgc_cfg_index ix;
    tgc_cfg_index_init(&ix, c);
    int *key_lines = NULL, cap_lines = 0; /* for "first defined at line N" */
    const tgc_cfg *merge_src = NULL;      /* the `<<` value (a second `<<` is a duplicate key) */
    int merge_at = -1;
    size_t merge_line = 0;
    for (;;) {
        yaml_event_t kev;
        if (next_event(p, &kev) < 0) goto fail;
        if (kev.type == YAML_MAPPING_END_EVENT) {
            yaml_event_delete(&kev);
            break;
        }
        size_t kline = kev.start_mark.line;
        if (kev.type != YAML_SCALAR_EVENT) {
            yaml_event_delete(&kev);
            perr(p, kline, fr, "map keys must be scalars (complex keys and aliases as keys are not supported)");
            goto fail;
        }
        const char *ktext = (const char *)kev.data.scalar.value;
        if (strlen(ktext) != kev.data.scalar.length) {
            yaml_event_delete(&kev);
            perr(p, kline, fr, "map key contains a NUL character");
            goto fail;
        }
        char *key = tgc_strdup(ktext);
        int is_merge = kev.data.scalar.style == YAML_PLAIN_SCALAR_STYLE && !kev.data.scalar.tag && !strcmp(key, "<<");
        yaml_event_delete(&kev);
        frame sub = {fr, key, -1};
        int first = is_merge ? (merge_at >= 0 ? -2 : -1) : tgc_cfg_index_find(&ix, c, key);
        if (first != -1) {
            if (first >= 0)
                perr(p, kline, &sub, "duplicate key '%.80s%s' (first defined at line %d)", key,
                     strlen(key) > 80 ? "..." : "", key_lines[first]);
            else perr(p, kline, &sub, "duplicate key '<<' (first at line %zu)", merge_line + 1);
            free(key);
            goto fail;
        }
        if (charge(p, 0, strlen(key), kline, &sub, "key") < 0) {
            free(key);
            goto fail;
        }
        *bytes += strlen(key);
        yaml_event_t vev;
        tgc_cfg *v = NULL;
        if (next_event(p, &vev) == 0) v = parse_node(p, &vev, &sub, nodes, bytes);
        if (!v) {
            free(key);
            goto fail;
        }
        if (is_merge) {
            TGC_GROW(p->grave, p->capgrave, p->ngrave + 1);
            p->grave[p->ngrave++] = v; /* anchors may point into it: it lives until the end */
            if (merge_sources(p, v, &sub, kline) < 0) {
                free(key);
                goto fail;
            }
            merge_src = v;
            merge_at = c->n;
            merge_line = kline;
        } else {
            tgc_cfg_append(c, key, v);
            tgc_cfg_index_add(&ix, c, c->n - 1);
            TGC_GROW(key_lines, cap_lines, c->n);
            key_lines[c->n - 1] = (int)kline + 1;
        }
        free(key);
    }
    if (merge_at >= 0 && apply_merges(p, c, &ix, merge_src, merge_at, fr, merge_line, nodes, bytes) < 0) goto fail;
    tgc_cfg_index_free(&ix);
    free(key_lines);
    return c;
fail:
    tgc_cfg_index_free(&ix);
    free(key_lines);
    tgc_cfg_free(c);
    return NULL;
}

/* Builds the node that starts with ev (taking ev). The counters nodes and bytes grow by the subtree's size. */
static tgc_cfg *parse_node(yparse *p, yaml_event_t *ev, const frame *fr, size_t *nodes, size_t *bytes) {
    size_t line0 = ev->start_mark.line;
    if (ev->type == YAML_ALIAS_EVENT) {
        const anchor *a = find_anchor(p, (const char *)ev->data.alias.anchor);
        if (!a) {
            perr(p, line0, fr, "unknown alias '*%s' (an anchor must be defined, and complete, before use)",
                 (const char *)ev->data.alias.anchor);
            yaml_event_delete(ev);
            return NULL;
        }
        char what[160];
        snprintf(what, sizeof what, "alias '*%.100s' of %zu nodes", a->name, a->nodes);
        yaml_event_delete(ev);
        if (charge(p, a->nodes, a->bytes, line0, fr, what) < 0) return NULL;
        *nodes += a->nodes;
        *bytes += a->bytes;
        return tgc_cfg_clone(a->node);
    }
    char *anchor_name = NULL;
    size_t my_nodes = 0, my_bytes = 0;
    tgc_cfg *c = NULL;
    switch (ev->type) {
    case YAML_SCALAR_EVENT:
        if (ev->data.scalar.anchor) anchor_name = tgc_strdup((const char *)ev->data.scalar.anchor);
        c = scalar_node(p, ev, fr);
        yaml_event_delete(ev);
        if (c) {
            my_nodes = 1;
            my_bytes = c->s ? strlen(c->s) : 0;
            if (charge(p, 1, my_bytes, line0, fr, "scalar") < 0) {
                tgc_cfg_free(c);
                c = NULL;
            }
        }
        break;
    case YAML_SEQUENCE_START_EVENT:
    case YAML_MAPPING_START_EVENT: {
        int seq = ev->type == YAML_SEQUENCE_START_EVENT;
        const yaml_char_t *an = seq ? ev->data.sequence_start.anchor : ev->data.mapping_start.anchor;
        if (an) anchor_name = tgc_strdup((const char *)an);
        if (p->depth >= MAX_DEPTH) {
            yaml_event_delete(ev);
            perr(p, line0, fr, "nesting deeper than %d levels", MAX_DEPTH);
            break;
        }
        if (charge(p, 1, 0, line0, fr, seq ? "list" : "map") < 0) {
            yaml_event_delete(ev);
            break;
        }
        my_nodes = 1;
        p->depth++;
        c = seq ? parse_seq(p, ev, fr, &my_nodes, &my_bytes) : parse_map(p, ev, fr, &my_nodes, &my_bytes);
        p->depth--;
        break;
    }
    default:
        perr(p, line0, fr, "unexpected YAML event %d", (int)ev->type);
        yaml_event_delete(ev);
        break;
    }
    if (c && anchor_name) add_anchor(p, anchor_name, c, my_nodes, my_bytes);
    free(anchor_name);
    *nodes += my_nodes;
    *bytes += my_bytes;
    return c;
}

/* Expects the next event to be of type t (taking it). */
static int expect(yparse *p, yaml_event_type_t t, const char *what) {
    yaml_event_t ev;
    if (next_event(p, &ev) < 0) return -1;
    int ok = ev.type == t;
    size_t line0 = ev.start_mark.line;
    yaml_event_delete(&ev);
    if (!ok) {
        perr(p, line0, NULL, "%s", what);
        return -1;
    }
    return 0;
}

static tgc_cfg *parse_stream(yparse *p) {
    if (expect(p, YAML_STREAM_START_EVENT, "expected the start of a YAML stream") < 0) return NULL;
    yaml_event_t ev;
    if (next_event(p, &ev) < 0) return NULL;
    if (ev.type == YAML_STREAM_END_EVENT) {
        yaml_event_delete(&ev);
        tgc_fail(p->err, "%s: empty config", p->name);
        return NULL;
    }
    yaml_event_delete(&ev); /* DOCUMENT_START */
    yaml_event_t root_ev;
    if (next_event(p, &root_ev) < 0) return NULL;
    frame top = {NULL, NULL, -1};
    size_t nodes = 0, bytes = 0;
    tgc_cfg *root = parse_node(p, &root_ev, &top, &nodes, &bytes);
    if (!root) return NULL;
    if (expect(p, YAML_DOCUMENT_END_EVENT, "expected the end of the document") < 0 ||
        expect(p, YAML_STREAM_END_EVENT, "a config holds one YAML document, found a second ('---')") < 0) {
        tgc_cfg_free(root);
        return NULL;
    }
    if (root->kind == TGC_CFG_NULL) {
        tgc_cfg_free(root);
        tgc_fail(p->err, "%s: empty config", p->name);
        return NULL;
    }
    if (root->kind != TGC_CFG_MAP) {
        tgc_fail(p->err, "%s:%d: the root of a config must be a map (got %s)", p->name, root->line,
                 tgc_cfg_kind_name(root->kind));
        tgc_cfg_free(root);
        return NULL;
    }
    return root;
}

tgc_cfg *tgc_cfg_parse_yaml(const char *text, size_t len, const char *name, tgc_err *err) {
    if (!name) name = "<string>";
    if (len > MAX_INPUT) {
        tgc_fail(err, "%s: file is larger than the %d-byte (16 MiB) limit", name, MAX_INPUT);
        return NULL;
    }
    const char *nul = memchr(text, 0, len);
    if (nul) {
        tgc_fail(err, "%s: not a text file (NUL byte at offset %zu)", name, (size_t)(nul - text));
        return NULL;
    }
    yparse p = {0};
    p.name = name;
    p.err = err;
    if (!yaml_parser_initialize(&p.yp)) {
        tgc_fail(err, "%s: cannot initialise the YAML parser", name);
        return NULL;
    }
    yaml_parser_set_encoding(&p.yp, YAML_UTF8_ENCODING);
    yaml_parser_set_input_string(&p.yp, (const unsigned char *)text, len);
    tgc_cfg *root = parse_stream(&p);
    yaml_parser_delete(&p.yp);
    for (int i = 0; i < p.nanchors; i++) free(p.anchors[i].name);
    free(p.anchors);
    for (int i = 0; i < p.ngrave; i++) tgc_cfg_free(p.grave[i]);
    free(p.grave);
    if (root) tgc_cfg_set_paths(root);
    return root;
}
