/* frontend/cfg_base.c - loading a config with its `_base_` chain: MMEngine's merge of sibling bases and of
 * the child into them, `_delete_`, cycle and depth checks. A file is YAML, or a `.py` config when its name
 * ends in .py (cfg_py_*.c evaluates it, reaching its bases through the hooks here); bases mix both. */
#define _XOPEN_SOURCE 700 /* realpath */
#include "frontend/cfg.h"
#include "frontend/cfg_py.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

enum {
    MAX_FILE = 16 << 20,
    MAX_BASE_DEPTH = 32,
    /* Bases may fan out (a list in every file): bound the whole load, not only one file, so a tree of
     * includes cannot make the load exponential. */
    MAX_FILES = 1000,
    MAX_TOTAL_NODES = 1000000,
};
#define MAX_TOTAL_BYTES ((size_t)64 << 20)

/* The include chain from the top file to the one being loaded, on the C stack. */
typedef struct chain {
    const struct chain *up;
    const char *name; /* as resolved: what messages show */
    char *real;       /* realpath, or a copy of name when it cannot be resolved; for cycle checks */
} chain;

typedef struct load_ctx {
    tgc_err *err;
    int files;
    size_t bytes, nodes;
} load_ctx;

static size_t count_nodes(const tgc_cfg *c) {
    size_t n = 1;
    for (int i = 0; i < c->n; i++) n += count_nodes(c->items[i]);
    return n;
}

static char *real_or_copy(const char *name) {
    char *r = realpath(name, NULL); /* malloc'd by libc, freed with free() like ours */
    return r ? r : tgc_strdup(name);
}

/* "a.yaml -> b.yaml -> ... -> next"; a chain of more than CHAIN_SHOWN files shows its first and last
 * CHAIN_SHOWN / 2 with "... N more ..." between them, so that a long chain of long paths still fits a
 * message with its ends (where the cycle or the depth shows) intact. */
enum { CHAIN_SHOWN = 6 };
static char *chain_text(const chain *ch, const char *next) {
    const char *v[MAX_BASE_DEPTH + 3];
    int n = 0;
    v[n++] = next;
    for (const chain *c = ch; c && n < (int)TGC_ARRAY_LEN(v); c = c->up) v[n++] = c->name;
    char *s = tgc_strdup("");
    for (int i = n - 1; i >= 0; i--) {
        int from_top = n - 1 - i;
        char *t;
        if (n > CHAIN_SHOWN && from_top == CHAIN_SHOWN / 2) {
            int skipped = n - CHAIN_SHOWN;
            t = tgc_asprintf("%s... %d more ... -> ", s, skipped);
            i -= skipped - 1;
        } else {
            t = tgc_asprintf("%s%s%s", s, v[i], i ? " -> " : "");
        }
        free(s);
        s = t;
    }
    return s;
}

/* Removes `_delete_` keys everywhere: once a level is merged they have done their work. */
static void drop_delete_keys(tgc_cfg *c) {
    if (c->kind == TGC_CFG_MAP) tgc_cfg_free(tgc_cfg_take(c, "_delete_"));
    for (int i = 0; i < c->n; i++) drop_delete_keys(c->items[i]);
}

static int truthy_delete(const tgc_cfg *d) {
    return d && ((d->kind == TGC_CFG_BOOL && d->b) || (d->kind == TGC_CFG_INT && d->i != 0));
}

/* Merges src into dst (MMEngine's _merge_a_into_b), consuming src. Maps merge key by key; any other value
 * replaces; a map with `_delete_: true` replaces. A map onto a non-map is an error as in MMEngine. */
static int merge_into(tgc_cfg *dst, tgc_cfg *src, const char *base_desc, tgc_err *err) {
    tgc_cfg_index ix;
    tgc_cfg_index_init(&ix, dst);
    int rc = 0;
    for (int k = 0; k < src->n && rc == 0; k++) {
        tgc_cfg *v = src->items[k];
        src->items[k] = NULL;
        int at = tgc_cfg_index_find(&ix, dst, src->keys[k]);
        if (v->kind == TGC_CFG_MAP) {
            tgc_cfg *del = tgc_cfg_take(v, "_delete_");
            int replace = truthy_delete(del);
            tgc_cfg_free(del);
            if (at >= 0 && !replace) {
                tgc_cfg *old = dst->items[at];
                if (old->kind != TGC_CFG_MAP) {
                    rc = tgc_cfg_fail(err, v,
                                      "cannot merge a map into the %s defined at %s:%d (in %s); add "
                                      "`_delete_: true` to replace it",
                                      tgc_cfg_kind_name(old->kind), old->file, old->line, base_desc);
                    tgc_cfg_free(v);
                    break;
                }
                rc = merge_into(old, v, base_desc, err); /* consumes v */
                continue;
            }
        }
        if (at >= 0) {
            tgc_cfg_free(dst->items[at]);
            dst->items[at] = v;
        } else {
            tgc_cfg_append(dst, src->keys[k], v);
            tgc_cfg_index_add(&ix, dst, dst->n - 1);
        }
    }
    tgc_cfg_index_free(&ix);
    tgc_cfg_free(src); /* items already moved out are NULL */
    return rc;
}

static tgc_cfg *load_text(load_ctx *L, const char *text, size_t len, const chain *ch, int depth);

/* Loads base file `rel` named by node `ref` of the file at ch. */
static tgc_cfg *load_base(load_ctx *L, const tgc_cfg *ref, const chain *ch, int depth) {
    const char *rel = ref->s;
    const char *slash = strrchr(ch->name, '/');
    char *resolved = (rel[0] == '/' || !slash) ? tgc_strdup(rel)
                                                : tgc_asprintf("%.*s/%s", (int)(slash - ch->name), ch->name, rel);
    tgc_cfg *out = NULL;
    if (strstr(rel, "::")) { /* MMEngine's 'mmdet::path': a config inside another installed package */
        tgc_fail(L->err, "%s:%d: _base_: '%s' names a config of the package '%.*s' (MMEngine's scope syntax); tgc "
                 "reads config files only: copy that file next to this one and name its path",
                 ref->file, ref->line, rel, (int)(strstr(rel, "::") - rel), rel);
        free(resolved);
        return NULL;
    }
    FILE *f = fopen(resolved, "rb");
    if (!f) {
        tgc_fail(L->err, "%s:%d: _base_: cannot open '%s' (resolved to '%s'): %s", ref->file, ref->line, rel,
                 resolved, strerror(errno));
        free(resolved);
        return NULL;
    }
    fclose(f);
    chain me = {ch, resolved, real_or_copy(resolved)};
    for (const chain *c = ch; c; c = c->up) {
        if (!strcmp(c->real, me.real)) {
            char *t = chain_text(ch, resolved);
            tgc_fail(L->err, "%s:%d: _base_: cycle: %s", ref->file, ref->line, t);
            free(t);
            goto done;
        }
    }
    if (depth + 1 > MAX_BASE_DEPTH) {
        char *t = chain_text(ch, resolved);
        tgc_fail(L->err, "%s:%d: _base_: chain deeper than %d files: %s", ref->file, ref->line, MAX_BASE_DEPTH, t);
        free(t);
        goto done;
    }
    uint8_t *data;
    size_t n;
    if (tgc_read_file(resolved, MAX_FILE, &data, &n, L->err) < 0) {
        tgc_err_prefix(L->err, "%s:%d: _base_", ref->file, ref->line);
        goto done;
    }
    out = load_text(L, (const char *)data, n, &me, depth + 1);
    free(data);
done:
    free(me.real);
    free(resolved);
    return out;
}

/* Loads the bases named by `bases` (a path or a list of paths) of the file at ch and merges them: their
 * top-level keys must be disjoint. Returns the merged map or NULL + err. */
static tgc_cfg *merge_bases(load_ctx *L, const tgc_cfg *bases, const chain *ch, int depth) {
    int ok = bases->kind == TGC_CFG_STR;
    if (bases->kind == TGC_CFG_LIST || bases->kind == TGC_CFG_TUPLE) {
        ok = 1;
        for (int i = 0; i < bases->n; i++) ok = ok && bases->items[i]->kind == TGC_CFG_STR;
    }
    if (!ok) {
        tgc_cfg_fail(L->err, bases, "expected a path or a list of paths (got %s)", tgc_cfg_kind_name(bases->kind));
        return NULL;
    }
    tgc_cfg *merged = tgc_cfg_new(TGC_CFG_MAP, bases->file, bases->line);
    const char **owner = NULL; /* parallel to merged's keys; points at the bases' names (alive in `bases`) */
    int cap_owner = 0;
    tgc_cfg_index ix;
    tgc_cfg_index_init(&ix, merged);
    int nb = bases->kind == TGC_CFG_STR ? 1 : bases->n;
    for (int b = 0; b < nb; b++) {
        const tgc_cfg *ref = bases->kind == TGC_CFG_STR ? bases : bases->items[b];
        tgc_cfg *base = load_base(L, ref, ch, depth);
        if (!base) goto fail;
        for (int k = 0; k < base->n; k++) {
            int at = tgc_cfg_index_find(&ix, merged, base->keys[k]);
            if (at >= 0) {
                tgc_cfg_fail(L->err, ref, "Duplicate key '%s' among bases %s and %s", base->keys[k], owner[at],
                             ref->s);
                tgc_cfg_free(base);
                goto fail;
            }
            tgc_cfg_append(merged, base->keys[k], base->items[k]);
            base->items[k] = NULL;
            tgc_cfg_index_add(&ix, merged, merged->n - 1);
            TGC_GROW(owner, cap_owner, merged->n);
            owner[merged->n - 1] = ref->s;
        }
        tgc_cfg_free(base);
    }
    tgc_cfg_index_free(&ix);
    free(owner);
    return merged;
fail:
    tgc_cfg_index_free(&ix);
    free(owner);
    tgc_cfg_free(merged);
    return NULL;
}

/* ---- `.py` files: the evaluator reaches bases and imported modules through these hooks ---- */
typedef struct py_ctx {
    load_ctx *L;
    const chain *ch;
    int depth;
} py_ctx;

static tgc_cfg *py_load_bases(void *ctx, const tgc_cfg *bases, tgc_err *err) {
    py_ctx *c = ctx;
    (void)err; /* c->L->err is the same */
    return merge_bases(c->L, bases, c->ch, c->depth);
}

/* `from .a.b import *`: ref holds "./a/b" (no extension); a.b.py, else a/b.yaml. */
static tgc_cfg *py_load_module(void *ctx, const tgc_cfg *ref, tgc_err *err) {
    py_ctx *c = ctx;
    (void)err;
    tgc_cfg *r = tgc_cfg_clone(ref);
    free(r->s);
    r->s = tgc_asprintf("%s.py", ref->s);
    const char *slash = strrchr(c->ch->name, '/');
    char *probe = slash ? tgc_asprintf("%.*s/%s", (int)(slash - c->ch->name), c->ch->name, r->s) : tgc_strdup(r->s);
    FILE *f = fopen(probe, "rb");
    if (f) fclose(f);
    else {
        char *yaml = tgc_asprintf("%.*s.yaml", (int)strlen(probe) - 3, probe);
        FILE *g = fopen(yaml, "rb");
        if (g) {
            fclose(g);
            free(r->s);
            r->s = tgc_asprintf("%s.yaml", ref->s);
        }
        free(yaml);
    }
    free(probe);
    tgc_cfg *m = load_base(c->L, r, c->ch, c->depth);
    tgc_cfg_free(r);
    return m;
}

static int ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && !strcmp(s + n - k, suffix);
}

/* A `.py` file: evaluated with its bases loaded on `_base_ = ...`; the merged result, or (unmerged) the
 * file's own keys with `_base_` as written and any `_base_.x = v` edits folded in. */
static tgc_cfg *load_py(load_ctx *L, const char *text, size_t len, const chain *ch, int depth, int unmerged) {
    py_ctx c = {L, ch, depth};
    tgc_py_hooks hooks = {&c, py_load_bases, py_load_module};
    tgc_py_result r;
    if (tgc_cfg_eval_py(text, len, ch->name, &hooks, &r, L->err) < 0) return NULL;
    tgc_cfg *out = NULL;
    if (unmerged) {
        if (r.read_base) {
            tgc_fail(L->err, "%s: imports its bases with read_base(); only the merged form can be written", ch->name);
            goto done;
        }
        if (r.index_edit_line) {
            tgc_fail(L->err, "%s:%d: edits a base through a list index; only the merged form can be written", ch->name,
                     r.index_edit_line);
            goto done;
        }
        out = tgc_cfg_new(TGC_CFG_MAP, ch->name, 1);
        if (r.base_refs) {
            tgc_cfg_append(out, "_base_", r.base_refs);
            r.base_refs = NULL;
        }
        tgc_cfg *own = r.globals;
        r.globals = NULL;
        if (r.base_edits) { /* the edits first, the file's own keys over them: what the merge would give */
            tgc_cfg *e = r.base_edits;
            r.base_edits = NULL;
            if (merge_into(e, own, ch->name, L->err) < 0) {
                tgc_cfg_free(e);
                tgc_cfg_free(out);
                out = NULL;
                goto done;
            }
            own = e;
        }
        for (int k = 0; k < own->n; k++) {
            tgc_cfg_append(out, own->keys[k], own->items[k]);
            own->items[k] = NULL;
        }
        tgc_cfg_free(own);
        goto done;
    }
    if (!r.bases) {
        out = r.globals;
        r.globals = NULL;
        drop_delete_keys(out);
        goto done;
    }
    out = r.bases;
    r.bases = NULL;
    tgc_cfg *own = r.globals;
    r.globals = NULL;
    if (merge_into(out, own, ch->name, L->err) < 0) {
        tgc_cfg_free(out);
        out = NULL;
        goto done;
    }
    drop_delete_keys(out);
done:
    tgc_py_result_free(&r);
    return out;
}

static tgc_cfg *load_text_mode(load_ctx *L, const char *text, size_t len, const chain *ch, int depth, int unmerged) {
    if (++L->files > MAX_FILES) {
        tgc_fail(L->err, "%s: more than %d files loaded through _base_", ch->name, MAX_FILES);
        return NULL;
    }
    L->bytes += len;
    if (L->bytes > MAX_TOTAL_BYTES) {
        tgc_fail(L->err, "%s: the config and its bases hold more than %zu bytes", ch->name, MAX_TOTAL_BYTES);
        return NULL;
    }
    int py = ends_with(ch->name, ".py");
    tgc_cfg *root = py ? load_py(L, text, len, ch, depth, unmerged) : tgc_cfg_parse_yaml(text, len, ch->name, L->err);
    if (!root) return NULL;
    L->nodes += count_nodes(root);
    if (L->nodes > MAX_TOTAL_NODES) {
        tgc_fail(L->err, "%s: the config and its bases hold more than %d nodes", ch->name, MAX_TOTAL_NODES);
        tgc_cfg_free(root);
        return NULL;
    }
    if (py || unmerged) return root;
    tgc_cfg *bases = tgc_cfg_take(root, "_base_");
    if (!bases) {
        drop_delete_keys(root);
        return root;
    }
    tgc_cfg *merged = merge_bases(L, bases, ch, depth);
    tgc_cfg_free(bases);
    if (!merged) {
        tgc_cfg_free(root);
        return NULL;
    }
    if (merge_into(merged, root, ch->name, L->err) < 0) {
        tgc_cfg_free(merged);
        return NULL;
    }
    drop_delete_keys(merged);
    return merged;
}

static tgc_cfg *load_text(load_ctx *L, const char *text, size_t len, const chain *ch, int depth) {
    return load_text_mode(L, text, len, ch, depth, 0);
}

static tgc_cfg *load_top(const char *text, size_t len, const char *name, int unmerged, tgc_err *err) {
    load_ctx L = {err, 0, 0, 0};
    chain top = {NULL, name, real_or_copy(name)};
    tgc_cfg *c = load_text_mode(&L, text, len, &top, 0, unmerged);
    free(top.real);
    if (c) tgc_cfg_set_paths(c);
    return c;
}

tgc_cfg *tgc_cfg_parse(const char *text, size_t len, const char *name, tgc_err *err) {
    return load_top(text, len, name ? name : "<string>", 0, err);
}

static tgc_cfg *load_file(const char *path, int unmerged, tgc_err *err) {
    uint8_t *data;
    size_t n;
    if (tgc_read_file(path, MAX_FILE, &data, &n, err) < 0) return NULL;
    tgc_cfg *c = load_top((const char *)data, n, path, unmerged, err);
    free(data);
    return c;
}

tgc_cfg *tgc_cfg_load(const char *path, tgc_err *err) { return load_file(path, 0, err); }

tgc_cfg *tgc_cfg_load_unmerged(const char *path, tgc_err *err) { return load_file(path, 1, err); }
