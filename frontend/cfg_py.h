/* frontend/cfg_py.h - MMEngine `.py` configs read without Python: a tokenizer, a parser to a small syntax
 * tree and an evaluator of the pure subset config files use. Internal to the config module (cfg_base.c
 * calls tgc_cfg_eval_py; cfg_py_*.c share the rest).
 *
 * The subset: assignments (also to `a.b`, `a['b']`, `_base_.x.y`, `+=`), literals, dict(...)/{...},
 * lists, tuples, names defined earlier or imported from a base, `{{_base_.x}}`, arithmetic, string
 * concatenation and repetition, comparisons, `and`/`or`/`not`, `x if c else y`, subscripts and slices,
 * list/dict comprehensions, `**` unpacking, the builtins dict list tuple round int float str bool len
 * min max abs range sum, `import copy` with copy.deepcopy/copy.copy, `'{{ _base_.x }}'` as a whole string,
 * and `with read_base(): from .x import ...`.
 * Everything else is an error naming the construct at FILE:LINE:COL. Work is bounded: syntax nesting,
 * values produced, string bytes and evaluation steps all have limits.
 */
#ifndef TGC_FRONTEND_CFG_PY_H
#define TGC_FRONTEND_CFG_PY_H

#include "frontend/cfg.h"

/* ---- tokens -------------------------------------------------------------------------------------- */
typedef enum py_tok_kind {
    PT_EOF,
    PT_NEWLINE,
    PT_INDENT,
    PT_DEDENT,
    PT_NAME,
    PT_INT,
    PT_FLOAT,
    PT_STR,
    PT_OP, /* punctuation and operators: text in `op` */
} py_tok_kind;

typedef struct py_tok {
    py_tok_kind kind;
    int line, col;
    char op[4];    /* PT_OP: "(", "**", "//=", ... */
    char *s;       /* PT_NAME, PT_STR: owned text (strings decoded, adjacent literals joined) */
    size_t slen;
    int64_t i;     /* PT_INT */
    double f;      /* PT_FLOAT */
} py_tok;

typedef struct py_lexer {
    const char *text, *name;
    size_t len, pos;
    int line, col;     /* of pos */
    int paren;         /* open brackets: newlines inside are not statement ends */
    int indent[64];    /* indentation stack */
    int nindent;
    int pending_dedent;
    int at_line_start;
    tgc_err *err;
    int failed;
} py_lexer;

void py_lex_init(py_lexer *L, const char *text, size_t len, const char *name, tgc_err *err);
/* Next token into *t (t->s owned by the caller afterwards). Returns 0, or -1 with err set. */
int py_lex_next(py_lexer *L, py_tok *t);

/* ---- syntax tree --------------------------------------------------------------------------------- */
typedef enum py_node_kind {
    PN_INT, PN_FLOAT, PN_STR, PN_NONE, PN_TRUE, PN_FALSE,
    PN_NAME,     /* s */
    PN_BASEREF,  /* {{_base_.a.b}}: s = "a.b" */
    PN_LIST, PN_TUPLE,
    PN_DICT,     /* kids in pairs key, value; a NULL key is `**value` */
    PN_BINOP,    /* op: + - * / // % ** */
    PN_UNARY,    /* op: - + */
    PN_NOT,
    PN_AND, PN_OR,
    PN_COMPARE,  /* op: == != < <= > >= in "not in" is "is not" */
    PN_IFEXP,    /* kids: body, cond, orelse */
    PN_ATTR,     /* kids[0].s */
    PN_SUBSCRIPT,/* kids[0][kids[1]] */
    PN_SLICE,    /* kids: lower, upper, step (each may be NULL) */
    PN_CALL,     /* kids[0](args): kids[1..] with keys[i]: NULL positional, "**" unpacking, else keyword */
    PN_LISTCOMP, /* kids[0] element, then PN_FOR / PN_IF clauses */
    PN_DICTCOMP, /* kids[0] key, kids[1] value, then clauses */
    PN_FOR,      /* kids: target (PN_NAME or PN_TUPLE of names), iterable */
    PN_IF,       /* kids[0] condition */
    /* statements */
    PN_ASSIGN,     /* kids: targets..., value (last) */
    PN_AUGASSIGN,  /* op; kids: target, value */
    PN_EXPR,       /* a bare expression (only string literals are allowed: docstrings) */
    PN_PASS,
    PN_READ_BASE,  /* with read_base(): kids are PN_IMPORT */
    PN_IMPORT_COPY, /* `import copy`: the one module whose functions (copy.deepcopy, copy.copy) are pure */
    PN_IMPORT,     /* from MODULE import names: s = module text, i = leading dots; keys/kids: names (NULL
                      kid) with `as` names in the kids' s; a lone "*" key imports everything */
} py_node_kind;

typedef struct py_node py_node;
struct py_node {
    py_node_kind kind;
    int line, col;
    char op[8];
    char *s; /* owned */
    size_t slen;
    int64_t i;
    double f;
    int n, cap;
    int height;     /* 1 + the tallest kid's: left-deep chains (1+1+..., a.b.c...) are bounded by it */
    py_node **kids; /* owned; entries may be NULL */
    char **keys;    /* owned, parallel to kids, or NULL */
};

void py_node_free(py_node *n);

typedef struct py_parser {
    py_lexer L;
    py_tok tok[8]; /* lookahead (at most 7 tokens: `from mmengine.config import read_base` and its end) */
    int ntok;
    const char *name;
    tgc_err *err;
    int depth;
    long nodes;
} py_parser;

/* Starts a parser over text (the lexer's errors come through the parser). */
void py_parse_init(py_parser *P, const char *text, size_t len, const char *name, tgc_err *err);
void py_parse_free(py_parser *P);
/* The next top-level statement (NULL with *done = 1 at the end of the file, NULL with err on error). */
py_node *py_parse_stmt(py_parser *P, int *done);

/* ---- evaluation ---------------------------------------------------------------------------------- */
/* How the evaluator reaches other files: cfg_base.c's loader (cycle and depth checks, limits). */
typedef struct tgc_py_hooks {
    void *ctx;
    /* `_base_ = ...` (a STR or a LIST/TUPLE of STR nodes): the bases loaded and merged, or NULL + err. */
    tgc_cfg *(*load_bases)(void *ctx, const tgc_cfg *bases, tgc_err *err);
    /* `from MODULE import ...`: `ref` is a STR node holding the path relative to the file, with file and
     * line of the import. The module's resolved tree, or NULL + err. */
    tgc_cfg *(*load_module)(void *ctx, const tgc_cfg *ref, tgc_err *err);
} tgc_py_hooks;

typedef struct tgc_py_result {
    tgc_cfg *globals; /* the file's variables in order (tuples as lists), without `_base_` */
    tgc_cfg *bases;   /* merged `_base_` tree, after the file's `_base_.x = v` edits; NULL if none */
    tgc_cfg *base_refs; /* the `_base_` value as written (for the unmerged form), or NULL */
    tgc_cfg *base_edits; /* `_base_.a.b = v` edits as a tree {a: {b: v}}, or NULL */
    int read_base;    /* the file imports its bases with read_base() */
    int index_edit_line; /* a `_base_.a[i] = v` edit there (only the merged form holds it), or 0 */
} tgc_py_result;

/* Evaluates one `.py` config. Returns 0, or -1 with err ("FILE:LINE:COL: ..."). */
int tgc_cfg_eval_py(const char *text, size_t len, const char *name, const tgc_py_hooks *hooks,
                    tgc_py_result *out, tgc_err *err);
void tgc_py_result_free(tgc_py_result *r);

#endif
