/* frontend/cfg_py_lex.c - Python tokens for `.py` configs: names, numbers, strings (with escapes), operators,
 * NEWLINE/INDENT/DEDENT, line joining inside brackets and after a backslash. Errors name FILE:LINE:COL. */
#include "frontend/cfg_py.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

enum { MAX_STR_LITERAL = 1 << 20, MAX_NAME = 256 };

void py_lex_init(py_lexer *L, const char *text, size_t len, const char *name, tgc_err *err) {
    memset(L, 0, sizeof *L);
    L->text = text;
    L->len = len;
    L->name = name;
    L->line = 1;
    L->col = 1;
    L->nindent = 1;
    L->at_line_start = 1;
    L->err = err;
}

static int lerr(py_lexer *L, int line, int col, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static int lerr(py_lexer *L, int line, int col, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    char *m = tgc_vasprintf(fmt, ap);
    va_end(ap);
    tgc_fail(L->err, "%s:%d:%d: %s", L->name, line, col, m);
    free(m);
    L->failed = 1;
    return -1;
}

static int peekc(const py_lexer *L, size_t k) { return L->pos + k < L->len ? (unsigned char)L->text[L->pos + k] : -1; }

static void adv(py_lexer *L) {
    if (L->pos >= L->len) return;
    if (L->text[L->pos] == '\n') {
        L->line++;
        L->col = 1;
    } else {
        L->col++;
    }
    L->pos++;
}

static int is_alpha(int c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
static int is_digit(int c) { return c >= '0' && c <= '9'; }

/* Measures the indentation of the line at pos; skips blank and comment-only lines. Returns the width, or
 * -1 at the end of the text. */
static int line_indent(py_lexer *L) {
    for (;;) {
        int w = 0;
        while (peekc(L, 0) == ' ' || peekc(L, 0) == '\t' || peekc(L, 0) == '\f') {
            w = peekc(L, 0) == '\t' ? (w / 8 + 1) * 8 : peekc(L, 0) == ' ' ? w + 1 : 0;
            adv(L);
        }
        int c = peekc(L, 0);
        if (c == '#')
            while (peekc(L, 0) >= 0 && peekc(L, 0) != '\n') adv(L);
        c = peekc(L, 0);
        if (c == '\r') { adv(L); c = peekc(L, 0); }
        if (c == '\n') { adv(L); continue; }
        if (c < 0) return -1;
        return w;
    }
}

static void put_utf8(char *out, size_t *n, uint32_t cp) {
    if (cp < 0x80) out[(*n)++] = (char)cp;
    else if (cp < 0x800) {
        out[(*n)++] = (char)(0xc0 | (cp >> 6));
        out[(*n)++] = (char)(0x80 | (cp & 0x3f));
    } else if (cp < 0x10000) {
        out[(*n)++] = (char)(0xe0 | (cp >> 12));
        out[(*n)++] = (char)(0x80 | ((cp >> 6) & 0x3f));
        out[(*n)++] = (char)(0x80 | (cp & 0x3f));
    } else {
        out[(*n)++] = (char)(0xf0 | (cp >> 18));
        out[(*n)++] = (char)(0x80 | ((cp >> 12) & 0x3f));
        out[(*n)++] = (char)(0x80 | ((cp >> 6) & 0x3f));
        out[(*n)++] = (char)(0x80 | (cp & 0x3f));
    }
}

static int hexval(int c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* A string literal starting at the quote (prefix already consumed). */
static int lex_string(py_lexer *L, py_tok *t, int raw) {
    int q = peekc(L, 0);
    int triple = peekc(L, 1) == q && peekc(L, 2) == q;
    for (int k = 0; k < (triple ? 3 : 1); k++) adv(L);
    size_t cap = 64, n = 0;
    char *out = tgc_malloc(cap);
    for (;;) {
        int c = peekc(L, 0);
        if (c < 0 || (!triple && c == '\n')) {
            free(out);
            return lerr(L, t->line, t->col, "unterminated string literal");
        }
        if (c == q && (!triple || (peekc(L, 1) == q && peekc(L, 2) == q))) {
            for (int k = 0; k < (triple ? 3 : 1); k++) adv(L);
            break;
        }
        if (n + 8 > cap) {
            if (cap > MAX_STR_LITERAL) {
                free(out);
                return lerr(L, t->line, t->col, "string literal longer than %d bytes (1 MiB)", MAX_STR_LITERAL);
            }
            cap *= 2;
            out = tgc_realloc(out, cap);
        }
        if (c != '\\' || raw) {
            if (c == '\\' && raw && (peekc(L, 1) == q || peekc(L, 1) == '\\')) { /* r'\'' keeps both */
                out[n++] = '\\';
                adv(L);
                c = peekc(L, 0);
            }
            out[n++] = (char)c;
            adv(L);
            continue;
        }
        int el = L->line, ec = L->col;
        adv(L);
        int e = peekc(L, 0);
        adv(L);
        switch (e) {
        case '\n': break; /* line continuation inside the literal */
        case '\\': out[n++] = '\\'; break;
        case '\'': out[n++] = '\''; break;
        case '"': out[n++] = '"'; break;
        case 'n': out[n++] = '\n'; break;
        case 't': out[n++] = '\t'; break;
        case 'r': out[n++] = '\r'; break;
        case 'a': out[n++] = '\a'; break;
        case 'b': out[n++] = '\b'; break;
        case 'f': out[n++] = '\f'; break;
        case 'v': out[n++] = '\v'; break;
        case 'x':
        case 'u':
        case 'U': {
            int digits = e == 'x' ? 2 : e == 'u' ? 4 : 8;
            uint32_t cp = 0;
            for (int k = 0; k < digits; k++) {
                int h = hexval(peekc(L, 0));
                if (h < 0) {
                    free(out);
                    return lerr(L, el, ec, "truncated \\%c escape in a string literal", e);
                }
                cp = cp * 16 + (uint32_t)h;
                adv(L);
            }
            if (cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) {
                free(out);
                return lerr(L, el, ec, "escape \\%c names no Unicode character", e);
            }
            if (cp == 0) {
                free(out);
                return lerr(L, el, ec, "NUL character in a string (config strings are C strings)");
            }
            put_utf8(out, &n, cp);
            break;
        }
        default:
            if (e >= '0' && e <= '7') {
                free(out);
                return lerr(L, el, ec, "octal escapes in strings are not supported");
            }
            if (e == 'N') {
                free(out);
                return lerr(L, el, ec, "\\N{...} escapes are not supported");
            }
            out[n++] = '\\'; /* Python keeps unknown escapes */
            if (e >= 0) out[n++] = (char)e;
            break;
        }
    }
    out[n] = 0;
    t->kind = PT_STR;
    t->s = out;
    t->slen = n;
    return 0;
}

static int lex_number(py_lexer *L, py_tok *t) {
    char buf[128];
    size_t n = 0;
    int is_float = 0, base = 10;
    int c = peekc(L, 0);
    if (c == '0' && (peekc(L, 1) == 'x' || peekc(L, 1) == 'X' || peekc(L, 1) == 'o' || peekc(L, 1) == 'O' ||
                     peekc(L, 1) == 'b' || peekc(L, 1) == 'B')) {
        int p = peekc(L, 1) | 0x20;
        base = p == 'x' ? 16 : p == 'o' ? 8 : 2;
        adv(L);
        adv(L);
    }
    for (;;) {
        c = peekc(L, 0);
        if (c == '_') { adv(L); continue; }
        int ok = base == 16 ? hexval(c) >= 0 : base == 8 ? (c >= '0' && c <= '7') : base == 2 ? (c == '0' || c == '1')
                                                                                            : is_digit(c);
        if (base == 10 && c == '.' && !is_float) { ok = 1; is_float = 1; }
        else if (base == 10 && (c == 'e' || c == 'E') && n > 0) {
            is_float = 1;
            if (n + 2 >= sizeof buf) break;
            buf[n++] = (char)c;
            adv(L);
            c = peekc(L, 0);
            if (c == '+' || c == '-') {
                buf[n++] = (char)c;
                adv(L);
            }
            if (!is_digit(peekc(L, 0))) return lerr(L, t->line, t->col, "malformed number: exponent without digits");
            continue;
        }
        if (!ok) break;
        if (n + 1 >= sizeof buf) return lerr(L, t->line, t->col, "number literal longer than %zu characters", sizeof buf - 1);
        buf[n++] = (char)c;
        adv(L);
    }
    buf[n] = 0;
    c = peekc(L, 0);
    if (c == 'j' || c == 'J') return lerr(L, t->line, t->col, "complex numbers are not supported");
    if (is_alpha(c) || is_digit(c)) return lerr(L, L->line, L->col, "invalid character '%c' in a number", c);
    if (n == 0) return lerr(L, t->line, t->col, "malformed number");
    if (is_float) {
        errno = 0;
        t->kind = PT_FLOAT;
        t->f = strtod(buf, NULL);
        if (isinf(t->f)) return lerr(L, t->line, t->col, "float literal %s is out of range", buf);
        return 0;
    }
    if (base == 10 && n > 1 && buf[0] == '0' && strspn(buf, "0") != n)
        return lerr(L, t->line, t->col, "leading zeros in a decimal integer ('%s'); use 0o for octal", buf);
    errno = 0;
    unsigned long long v = strtoull(buf, NULL, base);
    if (errno == ERANGE || v > (unsigned long long)INT64_MAX)
        return lerr(L, t->line, t->col, "integer %s does not fit in 64 bits", buf);
    t->kind = PT_INT;
    t->i = (int64_t)v;
    return 0;
}

static const char *const ops3[] = {"**=", "//=", ">>=", "<<=", "..."};
static const char *const ops2[] = {"**", "//", "==", "!=", "<=", ">=", "+=", "-=", "*=", "/=", "%=", "->", ":=",
                                   "<<", ">>", "&=", "|=", "^=", "@="};
static const char ops1[] = "()[]{},:.;+-*/%<>=@&|^~";

int py_lex_next(py_lexer *L, py_tok *t) {
    memset(t, 0, sizeof *t);
    if (L->failed) return -1;
    if (L->pending_dedent > 0) {
        L->pending_dedent--;
        t->kind = PT_DEDENT;
        t->line = L->line;
        t->col = L->col;
        return 0;
    }
    if (L->at_line_start && L->paren == 0) {
        int w = line_indent(L);
        t->line = L->line;
        t->col = L->col;
        if (w < 0) { /* end of text: close open blocks */
            if (L->nindent > 1) {
                L->pending_dedent = L->nindent - 2;
                L->nindent = 1;
                t->kind = PT_DEDENT;
                return 0;
            }
            t->kind = PT_EOF;
            return 0;
        }
        L->at_line_start = 0;
        int top = L->indent[L->nindent - 1];
        if (w > top) {
            if (L->nindent == (int)TGC_ARRAY_LEN(L->indent)) return lerr(L, t->line, t->col, "blocks nested too deeply");
            L->indent[L->nindent++] = w;
            t->kind = PT_INDENT;
            return 0;
        }
        if (w < top) {
            int k = L->nindent;
            while (k > 1 && L->indent[k - 1] > w) k--;
            if (L->indent[k - 1] != w) return lerr(L, t->line, t->col, "unindent does not match any outer indentation level");
            L->pending_dedent = L->nindent - k - 1;
            L->nindent = k;
            t->kind = PT_DEDENT;
            return 0;
        }
    }
    for (;;) { /* spaces, comments, continuations */
        int c = peekc(L, 0);
        if (c == ' ' || c == '\t' || c == '\f' || c == '\r') adv(L);
        else if (c == '#') while (peekc(L, 0) >= 0 && peekc(L, 0) != '\n') adv(L);
        else if (c == '\\' && (peekc(L, 1) == '\n' || (peekc(L, 1) == '\r' && peekc(L, 2) == '\n'))) {
            adv(L);
            if (peekc(L, 0) == '\r') adv(L);
            adv(L);
        } else if (c == '\n' && L->paren > 0) adv(L);
        else break;
    }
    t->line = L->line;
    t->col = L->col;
    int c = peekc(L, 0);
    if (c < 0) {
        L->at_line_start = 1; /* the last line ends without a newline: NEWLINE, then the EOF logic */
        t->kind = PT_NEWLINE;
        if (L->paren > 0) return lerr(L, t->line, t->col, "unexpected end of file inside brackets");
        return 0;
    }
    if (c == '\n') {
        adv(L);
        L->at_line_start = 1;
        t->kind = PT_NEWLINE;
        return 0;
    }
    if (is_alpha(c) || c >= 0x80) {
        size_t start = L->pos;
        while (is_alpha(peekc(L, 0)) || is_digit(peekc(L, 0)) || peekc(L, 0) >= 0x80) adv(L);
        size_t n = L->pos - start;
        const char *s = L->text + start;
        int q = peekc(L, 0);
        if ((q == '\'' || q == '"') && n <= 2) { /* string prefix */
            int raw = 0, bad = 0;
            for (size_t k = 0; k < n; k++) {
                int p = s[k] | 0x20;
                if (p == 'r') raw = 1;
                else if (p == 'f') return lerr(L, t->line, t->col, "f-strings are not supported in configs");
                else if (p == 'b') return lerr(L, t->line, t->col, "bytes literals are not supported in configs");
                else if (p != 'u') bad = 1;
            }
            if (!bad) return lex_string(L, t, raw);
        }
        for (size_t k = 0; k < n; k++)
            if ((unsigned char)s[k] >= 0x80)
                return lerr(L, t->line, t->col, "non-ASCII identifiers are not supported");
        if (n > MAX_NAME) return lerr(L, t->line, t->col, "name longer than %d characters", MAX_NAME);
        t->kind = PT_NAME;
        t->s = tgc_malloc(n + 1);
        memcpy(t->s, s, n);
        t->s[n] = 0;
        t->slen = n;
        return 0;
    }
    if (is_digit(c) || (c == '.' && is_digit(peekc(L, 1)))) return lex_number(L, t);
    if (c == '\'' || c == '"') return lex_string(L, t, 0);
    t->kind = PT_OP;
    for (size_t k = 0; k < TGC_ARRAY_LEN(ops3); k++)
        if (peekc(L, 0) == ops3[k][0] && peekc(L, 1) == ops3[k][1] && peekc(L, 2) == ops3[k][2]) {
            memcpy(t->op, ops3[k], 4);
            adv(L), adv(L), adv(L);
            return 0;
        }
    for (size_t k = 0; k < TGC_ARRAY_LEN(ops2); k++)
        if (peekc(L, 0) == ops2[k][0] && peekc(L, 1) == ops2[k][1]) {
            memcpy(t->op, ops2[k], 3);
            adv(L), adv(L);
            return 0;
        }
    if (c > 0 && strchr(ops1, c)) {
        t->op[0] = (char)c;
        adv(L);
        if (c == '(' || c == '[' || c == '{') {
            if (++L->paren > 200) return lerr(L, t->line, t->col, "brackets nested deeper than 200");
        } else if (c == ')' || c == ']' || c == '}') {
            if (L->paren == 0) return lerr(L, t->line, t->col, "unmatched '%c'", c);
            L->paren--;
        }
        return 0;
    }
    if (c == '!' || c == '$' || c == '?' || c == '`')
        return lerr(L, t->line, t->col, "unexpected character '%c'", c);
    return lerr(L, t->line, t->col, "unexpected character (byte 0x%02x)", c);
}
