/* frontend/cfg_py_parse.c - `.py` config statements -> syntax trees (recursive descent over Python's grammar,
 * the subset in cfg_py.h). Constructs outside the subset are named in the error ("lambda is not supported",
 * "'import' of other modules"), with FILE:LINE:COL; nesting and tree size are bounded. */
#include "frontend/cfg_py.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

/* MAX_NEST bounds recursion while parsing (brackets, unary operators); MAX_HEIGHT the tree's height, which
 * loops (1 + 1 + ..., a.b.c..., f()()...) build without recursing but evaluation and freeing recurse on. */
enum { MAX_NEST = 100, MAX_HEIGHT = 200, MAX_NODES = 500000, MAX_CLAUSES = 64 };

static const char *const keywords[] = {"False", "None",  "True",   "and",    "as",       "assert", "async",
                                       "await", "break", "class",  "continue", "def",    "del",    "elif",
                                       "else",  "except", "finally", "for",   "from",     "global", "if",
                                       "import", "in",   "is",     "lambda", "nonlocal", "not",    "or",
                                       "pass",  "raise", "return", "try",    "while",    "with",   "yield"};

static int is_keyword(const char *s) {
    for (size_t i = 0; i < TGC_ARRAY_LEN(keywords); i++)
        if (!strcmp(s, keywords[i])) return 1;
    return 0;
}

void py_node_free(py_node *n) {
    if (!n) return;
    for (int i = 0; i < n->n; i++) {
        py_node_free(n->kids[i]);
        if (n->keys) free(n->keys[i]);
    }
    free(n->kids);
    free(n->keys);
    free(n->s);
    free(n);
}

/* ---- token stream -------------------------------------------------------------------------------- */
static int fill(py_parser *P, int k) {
    if (k >= (int)TGC_ARRAY_LEN(P->tok)) return tgc_fail(P->err, "%s: parser lookahead of %d tokens", P->name, k + 1);
    while (P->ntok <= k) {
        if (py_lex_next(&P->L, &P->tok[P->ntok]) < 0) return -1;
        P->ntok++;
    }
    return 0;
}

void py_parse_init(py_parser *P, const char *text, size_t len, const char *name, tgc_err *err) {
    memset(P, 0, sizeof *P);
    py_lex_init(&P->L, text, len, name, err);
    P->name = name;
    P->err = err;
}

void py_parse_free(py_parser *P) {
    for (int i = 0; i < P->ntok; i++) free(P->tok[i].s);
    P->ntok = 0;
}

/* The k-th token ahead (k < 3), or NULL after a lexer error. */
static py_tok *peek(py_parser *P, int k) { return fill(P, k) < 0 ? NULL : &P->tok[k]; }

static void drop(py_parser *P) {
    free(P->tok[0].s);
    memmove(P->tok, P->tok + 1, (size_t)(P->ntok - 1) * sizeof P->tok[0]);
    P->ntok--;
}

static int is_op(const py_tok *t, const char *op) { return t && t->kind == PT_OP && !strcmp(t->op, op); }
static int is_kw(const py_tok *t, const char *kw) { return t && t->kind == PT_NAME && !strcmp(t->s, kw); }

static int perr_at(py_parser *P, int line, int col, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static int perr_at(py_parser *P, int line, int col, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    char *m = tgc_vasprintf(fmt, ap);
    va_end(ap);
    tgc_fail(P->err, "%s:%d:%d: %s", P->name, line, col, m);
    free(m);
    return -1;
}

static const char *tok_desc(const py_tok *t, char *buf, size_t n) {
    switch (t->kind) {
    case PT_EOF: return "end of file";
    case PT_NEWLINE: return "end of line";
    case PT_INDENT: return "indentation";
    case PT_DEDENT: return "dedent";
    case PT_NAME: snprintf(buf, n, "'%.40s'", t->s); return buf;
    case PT_INT:
    case PT_FLOAT: return "a number";
    case PT_STR: return "a string";
    case PT_OP: snprintf(buf, n, "'%s'", t->op); return buf;
    }
    return "?";
}

/* "expected X, got Y" at the current token. */
static py_node *expected(py_parser *P, const char *what) {
    py_tok *t = peek(P, 0);
    if (!t) return NULL;
    char b[64];
    perr_at(P, t->line, t->col, "syntax error: expected %s, got %s", what, tok_desc(t, b, sizeof b));
    return NULL;
}

static int expect_op(py_parser *P, const char *op) {
    py_tok *t = peek(P, 0);
    if (!t) return -1;
    if (!is_op(t, op)) {
        char w[16];
        snprintf(w, sizeof w, "'%s'", op);
        expected(P, w);
        return -1;
    }
    drop(P);
    return 0;
}

static py_node *node(py_parser *P, py_node_kind k, int line, int col) {
    if (++P->nodes > MAX_NODES) {
        perr_at(P, line, col, "the file has more than %d syntax nodes", MAX_NODES);
        return NULL;
    }
    py_node *n = tgc_calloc(1, sizeof *n);
    n->kind = k;
    n->line = line;
    n->col = col;
    return n;
}

static void add(py_node *n, const char *key, py_node *kid) {
    if (n->n == n->cap) {
        n->cap = n->cap ? n->cap * 2 : 4;
        n->kids = tgc_realloc(n->kids, (size_t)n->cap * sizeof *n->kids);
        if (n->keys || key) n->keys = tgc_realloc(n->keys, (size_t)n->cap * sizeof *n->keys);
    }
    if (key && !n->keys) { /* first keyed kid: earlier kids were positional */
        n->keys = tgc_calloc((size_t)n->cap, sizeof *n->keys);
    }
    if (n->keys) n->keys[n->n] = key ? tgc_strdup(key) : NULL;
    n->kids[n->n++] = kid;
    if (kid && kid->height + 1 > n->height) n->height = kid->height + 1;
}

/* Frees a tree that grew taller than MAX_HEIGHT (by one at most, so freeing it is shallow) and fails. */
static py_node *too_tall(py_parser *P, py_node *n) {
    perr_at(P, n->line, n->col, "expression nested deeper than %d levels", MAX_HEIGHT);
    py_node_free(n);
    return NULL;
}
#define CHECK_HEIGHT(P, n)                                                                                     \
    do {                                                                                                       \
        if ((n) && (n)->height > MAX_HEIGHT) return too_tall((P), (n));                                        \
    } while (0)

static int enter(py_parser *P, const py_tok *t) {
    if (++P->depth > MAX_NEST) {
        perr_at(P, t->line, t->col, "expression nested deeper than %d levels", MAX_NEST);
        return -1;
    }
    return 0;
}

static py_node *parse_test(py_parser *P);
static py_node *parse_or(py_parser *P);
static py_node *parse_factor(py_parser *P);

/* Names a keyword that cannot start an expression here. */
static py_node *keyword_error(py_parser *P, const py_tok *t) {
    if (!strcmp(t->s, "lambda")) perr_at(P, t->line, t->col, "lambda is not supported in configs");
    else if (!strcmp(t->s, "yield") || !strcmp(t->s, "await"))
        perr_at(P, t->line, t->col, "'%s' is not supported in configs", t->s);
    else perr_at(P, t->line, t->col, "syntax error: unexpected keyword '%s'", t->s);
    return NULL;
}

/* ---- comprehensions ------------------------------------------------------------------------------ */
static py_node *parse_target(py_parser *P) {
    py_tok *t = peek(P, 0);
    if (!t) return NULL;
    int paren = is_op(t, "(");
    if (paren) drop(P);
    py_node *tup = NULL, *first = NULL;
    for (;;) {
        t = peek(P, 0);
        if (!t) goto fail;
        if (t->kind != PT_NAME || is_keyword(t->s)) {
            expected(P, "a name after 'for'");
            goto fail;
        }
        py_node *nm = node(P, PN_NAME, t->line, t->col);
        if (!nm) goto fail;
        nm->s = tgc_strdup(t->s);
        drop(P);
        if (!first) first = nm;
        else {
            if (!tup) {
                tup = node(P, PN_TUPLE, first->line, first->col);
                if (!tup) { py_node_free(nm); goto fail; }
                add(tup, NULL, first);
            }
            add(tup, NULL, nm);
        }
        t = peek(P, 0);
        if (!t) goto fail;
        if (!is_op(t, ",")) break;
        drop(P);
        t = peek(P, 0);
        if (!t) goto fail;
        if (is_kw(t, "in") || is_op(t, ")")) break;
    }
    if (paren && expect_op(P, ")") < 0) goto fail;
    return tup ? tup : first;
fail:
    if (tup) py_node_free(tup);
    else py_node_free(first);
    return NULL;
}

/* Adds `for ... in ... [if ...]...` clauses to comp (the current token is 'for'). */
static int parse_comp_clauses(py_parser *P, py_node *comp) {
    for (;;) {
        py_tok *t = peek(P, 0);
        if (!t) return -1;
        if (comp->n > MAX_CLAUSES)
            return perr_at(P, t->line, t->col, "comprehension with more than %d clauses", MAX_CLAUSES);
        if (is_kw(t, "async")) return perr_at(P, t->line, t->col, "'async for' is not supported in configs");
        if (is_kw(t, "for")) {
            py_node *f = node(P, PN_FOR, t->line, t->col);
            if (!f) return -1;
            drop(P);
            add(comp, NULL, f);
            py_node *target = parse_target(P);
            if (!target) return -1;
            add(f, NULL, target);
            t = peek(P, 0);
            if (!t) return -1;
            if (!is_kw(t, "in")) return expected(P, "'in'") ? 0 : -1;
            drop(P);
            py_node *it = parse_or(P);
            if (!it) return -1;
            add(f, NULL, it);
        } else if (is_kw(t, "if")) {
            py_node *f = node(P, PN_IF, t->line, t->col);
            if (!f) return -1;
            drop(P);
            add(comp, NULL, f);
            py_node *c = parse_or(P);
            if (!c) return -1;
            add(f, NULL, c);
        } else {
            return 0;
        }
    }
}

/* ---- atoms --------------------------------------------------------------------------------------- */
/* `{{_base_.a.b}}`: the current tokens are '{' '{'. */
static py_node *parse_baseref(py_parser *P, const py_tok *open) {
    int line = open->line, col = open->col;
    drop(P);
    drop(P);
    py_tok *t = peek(P, 0);
    if (!t) return NULL;
    if (t->kind != PT_NAME || strcmp(t->s, "_base_")) return expected(P, "'_base_' in '{{_base_.KEY}}'");
    drop(P);
    size_t cap = 64, len = 0;
    char *path = tgc_malloc(cap);
    path[0] = 0;
    for (;;) {
        t = peek(P, 0);
        if (!t) goto fail;
        if (!is_op(t, ".")) break;
        drop(P);
        t = peek(P, 0);
        if (!t) goto fail;
        if (t->kind != PT_NAME) {
            expected(P, "a key name in '{{_base_.KEY}}'");
            goto fail;
        }
        size_t n = strlen(t->s);
        if (len + n + 2 > cap) {
            while (len + n + 2 > cap) cap *= 2;
            path = tgc_realloc(path, cap);
        }
        if (len) path[len++] = '.';
        memcpy(path + len, t->s, n + 1);
        len += n;
        drop(P);
    }
    if (!len) {
        expected(P, "'.KEY' in '{{_base_.KEY}}'");
        goto fail;
    }
    if (expect_op(P, "}") < 0 || expect_op(P, "}") < 0) goto fail;
    py_node *n = node(P, PN_BASEREF, line, col);
    if (!n) goto fail;
    n->s = path;
    return n;
fail:
    free(path);
    return NULL;
}

/* MMEngine also substitutes a string that is exactly '{{ _base_.a.b }}' (quoted, so the file stays valid
 * Python): such a literal becomes the reference. */
static py_node *quoted_baseref(py_node *n) {
    const char *s = n->s;
    size_t len = n->slen;
    while (len && (*s == ' ')) s++, len--;
    while (len && s[len - 1] == ' ') len--;
    if (len < 12 || strncmp(s, "{{", 2) || strncmp(s + len - 2, "}}", 2)) return n;
    s += 2;
    len -= 4;
    while (len && *s == ' ') s++, len--;
    while (len && s[len - 1] == ' ') len--;
    if (len <= 7 || strncmp(s, "_base_.", 7)) return n;
    for (size_t i = 7; i < len; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '.'))
            return n;
    }
    char *path = tgc_malloc(len - 7 + 1);
    memcpy(path, s + 7, len - 7);
    path[len - 7] = 0;
    free(n->s);
    n->s = path;
    n->slen = len - 7;
    n->kind = PN_BASEREF;
    return n;
}

/* After '(' / '[': elements up to `close`, a comprehension, or (for '(') a parenthesised expression. */
static py_node *parse_seq(py_parser *P, const char *close, py_node_kind kind, int line, int col) {
    py_tok *t = peek(P, 0);
    if (!t) return NULL;
    py_node *seq = node(P, kind, line, col);
    if (!seq) return NULL;
    if (is_op(t, close)) {
        drop(P);
        return seq;
    }
    int trailing_comma = 0;
    for (;;) {
        t = peek(P, 0);
        if (!t) goto fail;
        if (is_op(t, "*")) {
            perr_at(P, t->line, t->col, "starred expressions ('*x') are not supported in configs");
            goto fail;
        }
        py_node *e = parse_test(P);
        if (!e) goto fail;
        add(seq, NULL, e);
        t = peek(P, 0);
        if (!t) goto fail;
        if (seq->n == 1 && (is_kw(t, "for") || is_kw(t, "async"))) {
            seq->kind = PN_LISTCOMP;
            if (parse_comp_clauses(P, seq) < 0) goto fail;
            if (expect_op(P, close) < 0) goto fail;
            return seq;
        }
        trailing_comma = 0;
        if (!is_op(t, ",")) break;
        drop(P);
        trailing_comma = 1;
        t = peek(P, 0);
        if (!t) goto fail;
        if (is_op(t, close)) break;
    }
    if (expect_op(P, close) < 0) goto fail;
    if (kind == PN_TUPLE && seq->n == 1 && !trailing_comma) { /* (x) is x */
        py_node *e = seq->kids[0];
        seq->n = 0;
        py_node_free(seq);
        return e;
    }
    return seq;
fail:
    py_node_free(seq);
    return NULL;
}

static py_node *parse_dict(py_parser *P, int line, int col) {
    py_node *d = node(P, PN_DICT, line, col);
    if (!d) return NULL;
    for (;;) {
        py_tok *t = peek(P, 0);
        if (!t) goto fail;
        if (is_op(t, "}")) break;
        if (is_op(t, "**")) {
            drop(P);
            py_node *v = parse_or(P);
            if (!v) goto fail;
            add(d, NULL, NULL);
            add(d, NULL, v);
        } else {
            py_node *k = parse_test(P);
            if (!k) goto fail;
            t = peek(P, 0);
            if (!t) { py_node_free(k); goto fail; }
            if (!is_op(t, ":")) {
                perr_at(P, k->line, k->col, "set literals are not supported in configs (expected 'key: value')");
                py_node_free(k);
                goto fail;
            }
            drop(P);
            py_node *v = parse_test(P);
            if (!v) { py_node_free(k); goto fail; }
            add(d, NULL, k);
            add(d, NULL, v);
            t = peek(P, 0);
            if (!t) goto fail;
            if (d->n == 2 && is_kw(t, "for")) {
                d->kind = PN_DICTCOMP;
                if (parse_comp_clauses(P, d) < 0) goto fail;
                break;
            }
        }
        t = peek(P, 0);
        if (!t) goto fail;
        if (!is_op(t, ",")) break;
        drop(P);
    }
    if (expect_op(P, "}") < 0) goto fail;
    return d;
fail:
    py_node_free(d);
    return NULL;
}

static py_node *parse_atom(py_parser *P) {
    py_tok *t = peek(P, 0);
    if (!t) return NULL;
    int line = t->line, col = t->col;
    py_node *n = NULL;
    switch (t->kind) {
    case PT_INT:
        if (!(n = node(P, PN_INT, line, col))) return NULL;
        n->i = t->i;
        drop(P);
        return n;
    case PT_FLOAT:
        if (!(n = node(P, PN_FLOAT, line, col))) return NULL;
        n->f = t->f;
        drop(P);
        return n;
    case PT_STR: { /* adjacent literals join */
        if (!(n = node(P, PN_STR, line, col))) return NULL;
        n->s = t->s;
        n->slen = t->slen;
        t->s = NULL;
        drop(P);
        for (;;) {
            py_tok *u = peek(P, 0);
            if (!u) {
                py_node_free(n);
                return NULL;
            }
            if (u->kind != PT_STR) break;
            n->s = tgc_realloc(n->s, n->slen + u->slen + 1);
            memcpy(n->s + n->slen, u->s, u->slen + 1);
            n->slen += u->slen;
            drop(P);
        }
        return quoted_baseref(n);
    }
    case PT_NAME:
        if (!strcmp(t->s, "None") || !strcmp(t->s, "True") || !strcmp(t->s, "False")) {
            if (!(n = node(P, t->s[0] == 'N' ? PN_NONE : t->s[0] == 'T' ? PN_TRUE : PN_FALSE, line, col))) return NULL;
            drop(P);
            return n;
        }
        if (is_keyword(t->s)) return keyword_error(P, t);
        if (!(n = node(P, PN_NAME, line, col))) return NULL;
        n->s = t->s;
        t->s = NULL;
        drop(P);
        return n;
    case PT_OP:
        if (is_op(t, "(")) {
            drop(P);
            return parse_seq(P, ")", PN_TUPLE, line, col);
        }
        if (is_op(t, "[")) {
            drop(P);
            return parse_seq(P, "]", PN_LIST, line, col);
        }
        if (is_op(t, "{")) {
            py_tok *u = peek(P, 1);
            if (!u) return NULL;
            if (is_op(u, "{")) return parse_baseref(P, t);
            drop(P);
            return parse_dict(P, line, col);
        }
        if (is_op(t, "...")) {
            perr_at(P, line, col, "Ellipsis ('...') is not supported in configs");
            return NULL;
        }
        break;
    default: break;
    }
    return expected(P, "an expression");
}

static py_node *parse_subscript(py_parser *P, const py_tok *open) {
    py_node *parts[3] = {NULL, NULL, NULL};
    int np = 0, is_slice = 0;
    for (;;) {
        py_tok *t = peek(P, 0);
        if (!t) goto fail;
        if (is_op(t, ":")) {
            if (np == 2) {
                expected(P, "']'");
                goto fail;
            }
            is_slice = 1;
            drop(P);
            np++;
            continue;
        }
        if (is_op(t, "]")) break;
        if (parts[np]) {
            if (is_op(t, ",")) perr_at(P, t->line, t->col, "tuple subscripts (a[i, j]) are not supported in configs");
            else expected(P, "']'");
            goto fail;
        }
        if (!(parts[np] = parse_test(P))) goto fail;
    }
    drop(P);
    if (!is_slice) {
        if (!parts[0]) {
            perr_at(P, open->line, open->col, "syntax error: empty subscript");
            goto fail;
        }
        return parts[0];
    }
    py_node *s = node(P, PN_SLICE, open->line, open->col);
    if (!s) goto fail;
    for (int k = 0; k < 3; k++) add(s, NULL, parts[k]);
    return s;
fail:
    for (int k = 0; k < 3; k++) py_node_free(parts[k]);
    return NULL;
}

static py_node *parse_call_args(py_parser *P, py_node *call) {
    for (;;) {
        py_tok *t = peek(P, 0);
        if (!t) return NULL;
        if (is_op(t, ")")) break;
        py_tok *u = peek(P, 1);
        if (!u) return NULL;
        if (is_op(t, "**")) {
            drop(P);
            py_node *v = parse_test(P);
            if (!v) return NULL;
            add(call, "**", v);
        } else if (is_op(t, "*")) {
            perr_at(P, t->line, t->col, "starred arguments ('*args') are not supported in configs");
            return NULL;
        } else if (t->kind == PT_NAME && is_op(u, "=")) {
            char *k = t->s;
            t->s = NULL;
            drop(P);
            drop(P);
            py_node *v = parse_test(P);
            if (!v) {
                free(k);
                return NULL;
            }
            add(call, k, v);
            free(k);
        } else {
            py_node *v = parse_test(P);
            if (!v) return NULL;
            py_tok *w = peek(P, 0);
            if (!w) {
                py_node_free(v);
                return NULL;
            }
            if (is_kw(w, "for")) { /* f(x for x in y): a generator argument, evaluated as a list */
                py_node *g = node(P, PN_LISTCOMP, v->line, v->col);
                if (!g) {
                    py_node_free(v);
                    return NULL;
                }
                add(g, NULL, v);
                add(call, NULL, g);
                if (parse_comp_clauses(P, g) < 0) return NULL;
            } else {
                add(call, NULL, v);
            }
        }
        t = peek(P, 0);
        if (!t) return NULL;
        if (!is_op(t, ",")) break;
        drop(P);
    }
    if (expect_op(P, ")") < 0) return NULL;
    return call;
}

static py_node *parse_postfix(py_parser *P) {
    py_node *e = parse_atom(P);
    while (e) {
        CHECK_HEIGHT(P, e);
        py_tok *t = peek(P, 0);
        if (!t) goto fail;
        int line = t->line, col = t->col;
        if (is_op(t, ".")) {
            drop(P);
            t = peek(P, 0);
            if (!t) goto fail;
            if (t->kind != PT_NAME) {
                expected(P, "an attribute name after '.'");
                goto fail;
            }
            py_node *a = node(P, PN_ATTR, line, col);
            if (!a) goto fail;
            a->s = t->s;
            t->s = NULL;
            drop(P);
            add(a, NULL, e);
            e = a;
        } else if (is_op(t, "[")) {
            py_tok open = *t;
            open.s = NULL;
            drop(P);
            py_node *s = node(P, PN_SUBSCRIPT, line, col);
            if (!s) goto fail;
            add(s, NULL, e);
            e = s;
            py_node *idx = parse_subscript(P, &open);
            if (!idx) goto fail;
            add(s, NULL, idx);
        } else if (is_op(t, "(")) {
            drop(P);
            py_node *c = node(P, PN_CALL, line, col);
            if (!c) goto fail;
            add(c, NULL, e);
            e = c;
            if (!parse_call_args(P, c)) goto fail;
        } else {
            break;
        }
    }
    return e;
fail:
    py_node_free(e);
    return NULL;
}

static py_node *binop(py_parser *P, py_node_kind k, const char *op, py_node *l, py_node *r, int line, int col) {
    py_node *n = node(P, k, line, col);
    if (!n) {
        py_node_free(l);
        py_node_free(r);
        return NULL;
    }
    snprintf(n->op, sizeof n->op, "%s", op);
    add(n, NULL, l);
    add(n, NULL, r);
    return n;
}

static py_node *parse_power(py_parser *P) {
    py_node *b = parse_postfix(P);
    if (!b) return NULL;
    py_tok *t = peek(P, 0);
    if (!t) goto fail;
    if (is_op(t, "**")) {
        int line = t->line, col = t->col;
        if (enter(P, t) < 0) goto fail;
        drop(P);
        py_node *e = parse_factor(P); /* right-associative, binds tighter than unary minus on its left */
        P->depth--;
        if (!e) goto fail;
        return binop(P, PN_BINOP, "**", b, e, line, col);
    }
    return b;
fail:
    py_node_free(b);
    return NULL;
}

static py_node *parse_factor(py_parser *P) {
    py_tok *t = peek(P, 0);
    if (!t) return NULL;
    if (is_op(t, "-") || is_op(t, "+") || is_op(t, "~")) {
        if (is_op(t, "~")) {
            perr_at(P, t->line, t->col, "operator '~' is not supported in configs");
            return NULL;
        }
        if (enter(P, t) < 0) return NULL;
        py_node *n = node(P, PN_UNARY, t->line, t->col);
        if (!n) return NULL;
        snprintf(n->op, sizeof n->op, "%s", t->op);
        drop(P);
        py_node *e = parse_factor(P);
        P->depth--;
        if (!e) {
            py_node_free(n);
            return NULL;
        }
        add(n, NULL, e);
        return n;
    }
    return parse_power(P);
}

static const char *const unsupported_ops[] = {"|", "&", "^", "<<", ">>", "@"};

static int unsupported_op(py_parser *P, const py_tok *t) {
    for (size_t i = 0; i < TGC_ARRAY_LEN(unsupported_ops); i++)
        if (is_op(t, unsupported_ops[i]))
            return perr_at(P, t->line, t->col, "operator '%s' is not supported in configs", t->op);
    return 0;
}

static py_node *parse_term(py_parser *P) {
    py_node *l = parse_factor(P);
    while (l) {
        py_tok *t = peek(P, 0);
        if (!t) goto fail;
        if (!(is_op(t, "*") || is_op(t, "/") || is_op(t, "//") || is_op(t, "%"))) break;
        char op[4];
        memcpy(op, t->op, 4);
        int line = t->line, col = t->col;
        drop(P);
        py_node *r = parse_factor(P);
        if (!r) goto fail;
        l = binop(P, PN_BINOP, op, l, r, line, col);
        CHECK_HEIGHT(P, l);
    }
    return l;
fail:
    py_node_free(l);
    return NULL;
}

static py_node *parse_arith(py_parser *P) {
    py_node *l = parse_term(P);
    while (l) {
        py_tok *t = peek(P, 0);
        if (!t) goto fail;
        if (unsupported_op(P, t) < 0) goto fail;
        if (!(is_op(t, "+") || is_op(t, "-"))) break;
        char op[4];
        memcpy(op, t->op, 4);
        int line = t->line, col = t->col;
        drop(P);
        py_node *r = parse_term(P);
        if (!r) goto fail;
        l = binop(P, PN_BINOP, op, l, r, line, col);
        CHECK_HEIGHT(P, l);
    }
    return l;
fail:
    py_node_free(l);
    return NULL;
}

/* The comparison operator at the current token ("not in", "is not" take two), or NULL. */
static const char *compare_op(py_parser *P, int *ntoks) {
    py_tok *t = peek(P, 0);
    if (!t) return NULL;
    *ntoks = 1;
    static const char *const ops[] = {"==", "!=", "<", "<=", ">", ">="};
    for (size_t i = 0; i < TGC_ARRAY_LEN(ops); i++)
        if (is_op(t, ops[i])) return ops[i];
    if (is_kw(t, "in")) return "in";
    py_tok *u = peek(P, 1);
    if (!u) return NULL;
    if (is_kw(t, "not") && is_kw(u, "in")) {
        *ntoks = 2;
        return "not in";
    }
    if (is_kw(t, "is")) {
        if (is_kw(u, "not")) {
            *ntoks = 2;
            return "is not";
        }
        return "is";
    }
    return NULL;
}

static py_node *parse_compare(py_parser *P) {
    py_node *l = parse_arith(P);
    if (!l) return NULL;
    int nt;
    const char *op = compare_op(P, &nt);
    if (!op) return P->L.failed ? (py_node_free(l), NULL) : l;
    py_tok *t = peek(P, 0);
    int line = t->line, col = t->col;
    while (nt--) drop(P);
    py_node *r = parse_arith(P);
    if (!r) goto fail;
    l = binop(P, PN_COMPARE, op, l, r, line, col);
    if (!l) return NULL;
    if (compare_op(P, &nt)) {
        t = peek(P, 0);
        perr_at(P, t->line, t->col, "chained comparisons (a < b < c) are not supported in configs");
        goto fail;
    }
    return l;
fail:
    py_node_free(l);
    return NULL;
}

static py_node *parse_not(py_parser *P) {
    py_tok *t = peek(P, 0);
    if (!t) return NULL;
    if (is_kw(t, "not")) {
        if (enter(P, t) < 0) return NULL;
        py_node *n = node(P, PN_NOT, t->line, t->col);
        if (!n) return NULL;
        drop(P);
        py_node *e = parse_not(P);
        P->depth--;
        if (!e) {
            py_node_free(n);
            return NULL;
        }
        add(n, NULL, e);
        return n;
    }
    return parse_compare(P);
}

static py_node *parse_bool(py_parser *P, int is_and) {
    py_node *l = is_and ? parse_not(P) : parse_bool(P, 1);
    while (l) {
        py_tok *t = peek(P, 0);
        if (!t) goto fail;
        if (!is_kw(t, is_and ? "and" : "or")) break;
        int line = t->line, col = t->col;
        drop(P);
        py_node *r = is_and ? parse_not(P) : parse_bool(P, 1);
        if (!r) goto fail;
        l = binop(P, is_and ? PN_AND : PN_OR, is_and ? "and" : "or", l, r, line, col);
        CHECK_HEIGHT(P, l);
    }
    return l;
fail:
    py_node_free(l);
    return NULL;
}

static py_node *parse_or(py_parser *P) { return parse_bool(P, 0); }

static py_node *parse_test(py_parser *P) {
    py_tok *t = peek(P, 0);
    if (!t) return NULL;
    if (is_kw(t, "lambda")) return keyword_error(P, t);
    if (enter(P, t) < 0) return NULL;
    py_node *body = parse_or(P);
    py_node *res = body;
    if (body) {
        t = peek(P, 0);
        if (!t) goto fail;
        if (is_op(t, ":=")) {
            perr_at(P, t->line, t->col, "assignment expressions (':=') are not supported in configs");
            goto fail;
        }
        if (is_kw(t, "if")) {
            py_node *n = node(P, PN_IFEXP, t->line, t->col);
            if (!n) goto fail;
            drop(P);
            add(n, NULL, body);
            res = n;
            py_node *c = parse_or(P);
            if (!c) goto fail;
            add(n, NULL, c);
            t = peek(P, 0);
            if (!t || !is_kw(t, "else")) {
                if (t) expected(P, "'else'");
                goto fail;
            }
            drop(P);
            py_node *e = parse_test(P);
            if (!e) goto fail;
            add(n, NULL, e);
        }
    }
    P->depth--;
    return res;
fail:
    P->depth--;
    py_node_free(res);
    return NULL;
}

/* test {',' test} [','] : a bare tuple when there is a comma. */
static py_node *parse_testlist(py_parser *P) {
    py_node *first = parse_test(P);
    if (!first) return NULL;
    py_tok *t = peek(P, 0);
    if (!t || !is_op(t, ",")) {
        if (!t) {
            py_node_free(first);
            return NULL;
        }
        return first;
    }
    py_node *tup = node(P, PN_TUPLE, first->line, first->col);
    if (!tup) {
        py_node_free(first);
        return NULL;
    }
    add(tup, NULL, first);
    while ((t = peek(P, 0)) && is_op(t, ",")) {
        drop(P);
        t = peek(P, 0);
        if (!t) break;
        if (t->kind == PT_NEWLINE || t->kind == PT_EOF || is_op(t, "=") || is_op(t, ";") || is_op(t, ")")) return tup;
        py_node *e = parse_test(P);
        if (!e) {
            t = NULL;
            break;
        }
        add(tup, NULL, e);
    }
    if (!t) {
        py_node_free(tup);
        return NULL;
    }
    return tup;
}

/* ---- statements ---------------------------------------------------------------------------------- */
static int end_of_stmt(py_parser *P) {
    py_tok *t = peek(P, 0);
    if (!t) return -1;
    if (t->kind == PT_NEWLINE || t->kind == PT_EOF) {
        if (t->kind == PT_NEWLINE) drop(P);
        return 0;
    }
    if (is_op(t, ";")) {
        drop(P);
        t = peek(P, 0);
        if (!t) return -1;
        if (t->kind == PT_NEWLINE) drop(P);
        return 0;
    }
    expected(P, "the end of the statement");
    return -1;
}

/* from MODULE import a [as b], ... | * (the current token is 'from'). */
/* `from mmengine.config import read_base` (tokens from the current one on), the line new-style configs begin
 * with: accepted as a statement that does nothing, read_base being the evaluator's own. */
static int is_read_base_import(py_parser *P) {
    static const char *const want[] = {"from", "mmengine", ".", "config", "import", "read_base"};
    for (int k = 0; k < 6; k++) {
        py_tok *u = peek(P, k);
        if (!u || (k == 2 ? !is_op(u, ".") : u->kind != PT_NAME || strcmp(u->s, want[k]))) return 0;
    }
    py_tok *e = peek(P, 6);
    return e && (e->kind == PT_NEWLINE || e->kind == PT_EOF || is_op(e, ";"));
}

static py_node *parse_import(py_parser *P) {
    py_tok *t = peek(P, 0);
    py_node *n = node(P, PN_IMPORT, t->line, t->col);
    if (!n) return NULL;
    drop(P);
    size_t cap = 64, len = 0;
    char *mod = tgc_malloc(cap);
    mod[0] = 0;
    int dots = 0;
    for (;;) {
        t = peek(P, 0);
        if (!t) goto fail;
        if (is_op(t, ".")) dots++;
        else if (is_op(t, "...")) dots += 3;
        else break;
        drop(P);
    }
    for (;;) {
        t = peek(P, 0);
        if (!t) goto fail;
        if (t->kind != PT_NAME || is_kw(t, "import")) break;
        size_t k = strlen(t->s);
        while (len + k + 2 > cap) cap *= 2;
        mod = tgc_realloc(mod, cap);
        if (len) mod[len++] = '.';
        memcpy(mod + len, t->s, k + 1);
        len += k;
        drop(P);
        t = peek(P, 0);
        if (!t) goto fail;
        if (!is_op(t, ".")) break;
        drop(P);
    }
    t = peek(P, 0);
    if (!t) goto fail;
    if (!is_kw(t, "import")) {
        expected(P, "'import'");
        goto fail;
    }
    drop(P);
    n->s = mod;
    mod = NULL;
    n->i = dots;
    t = peek(P, 0);
    if (!t) goto fail;
    if (is_op(t, "*")) {
        drop(P);
        add(n, "*", NULL);
        return n;
    }
    int paren = is_op(t, "(");
    if (paren) drop(P);
    for (;;) {
        t = peek(P, 0);
        if (!t) goto fail;
        if (t->kind != PT_NAME || is_keyword(t->s)) {
            expected(P, "a name to import");
            goto fail;
        }
        char *name = t->s;
        t->s = NULL;
        drop(P);
        py_node *as = NULL;
        t = peek(P, 0);
        if (t && is_kw(t, "as")) {
            drop(P);
            t = peek(P, 0);
            if (!t || t->kind != PT_NAME) {
                free(name);
                if (t) expected(P, "a name after 'as'");
                goto fail;
            }
            as = node(P, PN_NAME, t->line, t->col);
            if (!as) {
                free(name);
                goto fail;
            }
            as->s = t->s;
            t->s = NULL;
            drop(P);
        }
        add(n, name, as);
        free(name);
        t = peek(P, 0);
        if (!t) goto fail;
        if (!is_op(t, ",")) break;
        drop(P);
        t = peek(P, 0);
        if (!t) goto fail;
        if (paren && is_op(t, ")")) break;
    }
    if (paren && expect_op(P, ")") < 0) goto fail;
    return n;
fail:
    free(mod);
    py_node_free(n);
    return NULL;
}

/* with read_base(): NEWLINE INDENT (from ... import ...)+ DEDENT */
static py_node *parse_with(py_parser *P) {
    py_tok *t = peek(P, 0);
    int line = t->line, col = t->col;
    drop(P);
    t = peek(P, 0);
    if (!t) return NULL;
    if (!(t->kind == PT_NAME && !strcmp(t->s, "read_base"))) {
        perr_at(P, line, col, "'with' is supported only as 'with read_base():'");
        return NULL;
    }
    drop(P);
    if (expect_op(P, "(") < 0 || expect_op(P, ")") < 0 || expect_op(P, ":") < 0) return NULL;
    py_node *w = node(P, PN_READ_BASE, line, col);
    if (!w) return NULL;
    t = peek(P, 0);
    if (!t) goto fail;
    int block = t->kind == PT_NEWLINE;
    if (block) {
        drop(P);
        t = peek(P, 0);
        if (!t) goto fail;
        if (t->kind != PT_INDENT) {
            expected(P, "an indented block after 'with read_base():'");
            goto fail;
        }
        drop(P);
    }
    for (;;) {
        t = peek(P, 0);
        if (!t) goto fail;
        if (block && (t->kind == PT_DEDENT || t->kind == PT_EOF)) {
            if (t->kind == PT_DEDENT) drop(P);
            break;
        }
        if (!is_kw(t, "from")) {
            if (is_kw(t, "import"))
                perr_at(P, t->line, t->col, "only 'from .MODULE import ...' is supported inside read_base()");
            else perr_at(P, t->line, t->col, "only 'from .MODULE import ...' statements may stand inside read_base()");
            goto fail;
        }
        py_node *imp = parse_import(P);
        if (!imp) goto fail;
        add(w, NULL, imp);
        if (end_of_stmt(P) < 0) goto fail;
        if (!block) break;
    }
    if (w->n == 0) {
        perr_at(P, line, col, "empty 'with read_base():' block");
        goto fail;
    }
    return w;
fail:
    py_node_free(w);
    return NULL;
}

static const char *const unsupported_stmts[] = {"def",   "class", "if",     "for",   "while",  "try",
                                                "return", "global", "nonlocal", "assert", "raise", "del",
                                                "async", "break", "continue", "elif", "else", "except",
                                                "finally"};

static int is_target(const py_node *n) {
    if (n->kind == PN_NAME || n->kind == PN_ATTR) return 1;
    if (n->kind == PN_SUBSCRIPT) return n->kids[1]->kind != PN_SLICE;
    return 0;
}

static py_node *parse_simple(py_parser *P) {
    py_tok *t = peek(P, 0);
    int line = t->line, col = t->col;
    py_node *e = parse_testlist(P);
    if (!e) return NULL;
    t = peek(P, 0);
    if (!t) goto fail;
    static const char *const aug[] = {"+=", "-=", "*=", "/=", "//=", "%=", "**="};
    for (size_t i = 0; i < TGC_ARRAY_LEN(aug); i++)
        if (is_op(t, aug[i])) {
            if (!is_target(e)) {
                perr_at(P, e->line, e->col, "cannot assign to this expression");
                goto fail;
            }
            py_node *a = node(P, PN_AUGASSIGN, t->line, t->col);
            if (!a) goto fail;
            snprintf(a->op, sizeof a->op, "%.*s", (int)strlen(aug[i]) - 1, aug[i]);
            drop(P);
            add(a, NULL, e);
            e = a;
            py_node *v = parse_testlist(P);
            if (!v) goto fail;
            add(a, NULL, v);
            return e;
        }
    if (!is_op(t, "=")) {
        if (t->kind == PT_OP && strchr("|&^", t->op[0]) && t->op[1] == '=') {
            perr_at(P, t->line, t->col, "operator '%s' is not supported in configs", t->op);
            goto fail;
        }
        py_node *x = node(P, PN_EXPR, line, col);
        if (!x) goto fail;
        add(x, NULL, e);
        return x;
    }
    py_node *a = node(P, PN_ASSIGN, line, col);
    if (!a) goto fail;
    add(a, NULL, e);
    while ((t = peek(P, 0)) && is_op(t, "=")) {
        drop(P);
        t = peek(P, 0);
        if (!t) break;
        if (is_kw(t, "yield")) {
            keyword_error(P, t);
            py_node_free(a);
            return NULL;
        }
        py_node *v = parse_testlist(P);
        if (!v) {
            py_node_free(a);
            return NULL;
        }
        add(a, NULL, v);
    }
    if (!t) {
        py_node_free(a);
        return NULL;
    }
    for (int i = 0; i < a->n - 1; i++) {
        py_node *k = a->kids[i];
        if (k->kind == PN_TUPLE) {
            perr_at(P, k->line, k->col, "tuple unpacking in assignments (a, b = ...) is not supported in configs");
            py_node_free(a);
            return NULL;
        }
        if (!is_target(k)) {
            perr_at(P, k->line, k->col, "cannot assign to this expression");
            py_node_free(a);
            return NULL;
        }
    }
    return a;
fail:
    py_node_free(e);
    return NULL;
}

py_node *py_parse_stmt(py_parser *P, int *done) {
    *done = 0;
    py_tok *t;
    for (;;) {
        t = peek(P, 0);
        if (!t) return NULL;
        if (t->kind == PT_NEWLINE) { /* a line of only ';' or the last line's end */
            drop(P);
            continue;
        }
        break;
    }
    if (t->kind == PT_EOF) {
        *done = 1;
        return NULL;
    }
    if (t->kind == PT_INDENT) {
        perr_at(P, t->line, t->col, "unexpected indentation");
        return NULL;
    }
    if (t->kind == PT_DEDENT) {
        drop(P);
        return py_parse_stmt(P, done);
    }
    py_node *s = NULL;
    if (t->kind == PT_NAME) {
        if (!strcmp(t->s, "import")) {
            py_tok *u = peek(P, 1);
            if (!u) return NULL;
            py_tok *w = u->kind == PT_NAME && !strcmp(u->s, "copy") ? peek(P, 2) : NULL;
            if (w && (w->kind == PT_NEWLINE || w->kind == PT_EOF || is_op(w, ";"))) { /* import copy */
                s = node(P, PN_IMPORT_COPY, t->line, t->col);
                if (!s) return NULL;
                drop(P);
                drop(P);
                if (end_of_stmt(P) < 0) {
                    py_node_free(s);
                    return NULL;
                }
                return s;
            } else {
                perr_at(P, t->line, t->col, "'import' of other modules is not supported in configs (only 'import copy')");
                return NULL;
            }
        }
        if (!strcmp(t->s, "from")) {
            if (is_read_base_import(P)) { /* new-style configs' first line: read_base is built in here */
                s = node(P, PN_PASS, t->line, t->col);
                if (!s) return NULL;
                for (int k = 0; k < 6; k++) drop(P);
                if (end_of_stmt(P) < 0) {
                    py_node_free(s);
                    return NULL;
                }
                return s;
            }
            perr_at(P, t->line, t->col,
                    "'from ... import' of other modules is not supported in configs (bases are imported inside "
                    "'with read_base():')");
            return NULL;
        }
        if (!strcmp(t->s, "with")) return parse_with(P);
        if (!strcmp(t->s, "lambda")) return keyword_error(P, t);
        for (size_t i = 0; i < TGC_ARRAY_LEN(unsupported_stmts); i++)
            if (!strcmp(t->s, unsupported_stmts[i])) {
                perr_at(P, t->line, t->col, "'%s' statements are not supported in configs", t->s);
                return NULL;
            }
        if (!strcmp(t->s, "pass")) {
            s = node(P, PN_PASS, t->line, t->col);
            if (!s) return NULL;
            drop(P);
        }
    }
    if (t->kind == PT_OP && is_op(t, "@")) {
        perr_at(P, t->line, t->col, "decorators are not supported in configs");
        return NULL;
    }
    if (!s) s = parse_simple(P);
    if (!s) return NULL;
    if (end_of_stmt(P) < 0) {
        py_node_free(s);
        return NULL;
    }
    return s;
}
