/* tests/unit/test_profile_json.h - a strict little JSON reader for the profiler tests (RFC 8259 syntax). */
#ifndef TGC_TEST_PROFILE_JSON_H
#define TGC_TEST_PROFILE_JSON_H

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

typedef enum { J_NULL, J_BOOL, J_NUM, J_STR, J_ARR, J_OBJ } jtype;

typedef struct jv {
    jtype t;
    double num;   /* J_NUM, J_BOOL */
    char *str;    /* J_STR, escapes decoded (\uXXXX beyond ASCII as '?') */
    int n;        /* J_ARR, J_OBJ */
    struct jv *items;
    char **keys;  /* J_OBJ */
} jv;

typedef struct jparser {
    const char *s, *end;
    int depth, failed;
} jparser;

static void jv_free(jv *v) {
    if (!v) return;
    free(v->str);
    for (int i = 0; i < v->n; i++) {
        jv_free(&v->items[i]);
        if (v->keys) free(v->keys[i]);
    }
    free(v->items);
    free(v->keys);
    memset(v, 0, sizeof *v);
}

static void jws(jparser *p) {
    while (p->s < p->end && (*p->s == ' ' || *p->s == '\n' || *p->s == '\r' || *p->s == '\t')) p->s++;
}

static int jfail(jparser *p) {
    p->failed = 1;
    return -1;
}

static int jstring(jparser *p, char **out) {
    if (p->s >= p->end || *p->s != '"') return jfail(p);
    p->s++;
    size_t cap = 16, n = 0;
    char *b = malloc(cap);
    while (p->s < p->end && *p->s != '"') {
        char c = *p->s++;
        if ((unsigned char)c < 0x20) break;
        if (c == '\\') {
            if (p->s >= p->end) break;
            char e = *p->s++;
            if (e == 'u') {
                int ok = p->end - p->s >= 4;
                for (int k = 0; ok && k < 4; k++) ok = isxdigit((unsigned char)p->s[k]);
                if (!ok) break;
                char hex[5] = {p->s[0], p->s[1], p->s[2], p->s[3], 0};
                long cp = strtol(hex, NULL, 16);
                p->s += 4;
                c = cp > 0 && cp < 0x80 ? (char)cp : '?'; /* enough for what the tests compare */
            } else {
                const char *from = "\"\\/bfnrt", *to = "\"\\/\b\f\n\r\t", *f = strchr(from, e);
                if (!f || !e) break;
                c = to[f - from];
            }
        }
        if (n + 2 > cap) b = realloc(b, cap *= 2);
        b[n++] = c;
    }
    if (p->s >= p->end || *p->s != '"') {
        free(b);
        return jfail(p);
    }
    p->s++;
    b[n] = 0;
    *out = b;
    return 0;
}

static int jvalue(jparser *p, jv *v);

static int jcontainer(jparser *p, jv *v, int obj) {
    char close = obj ? '}' : ']';
    p->s++;
    v->t = obj ? J_OBJ : J_ARR;
    int cap = 0;
    jws(p);
    if (p->s < p->end && *p->s == close) {
        p->s++;
        return 0;
    }
    for (;;) {
        if (v->n == cap) {
            cap = cap ? 2 * cap : 8;
            v->items = realloc(v->items, sizeof(jv) * (size_t)cap);
            if (obj) v->keys = realloc(v->keys, sizeof(char *) * (size_t)cap);
        }
        memset(&v->items[v->n], 0, sizeof(jv));
        jws(p);
        if (obj) {
            if (jstring(p, &v->keys[v->n]) < 0) return -1;
            jws(p);
            if (p->s >= p->end || *p->s != ':') {
                free(v->keys[v->n]);
                return jfail(p);
            }
            p->s++;
        }
        v->n++;
        if (jvalue(p, &v->items[v->n - 1]) < 0) return -1;
        jws(p);
        if (p->s < p->end && *p->s == ',') {
            p->s++;
            continue;
        }
        if (p->s < p->end && *p->s == close) {
            p->s++;
            return 0;
        }
        return jfail(p);
    }
}

static int jvalue(jparser *p, jv *v) {
    memset(v, 0, sizeof *v);
    jws(p);
    if (p->s >= p->end || ++p->depth > 64) return jfail(p);
    int rc = 0;
    char c = *p->s;
    if (c == '{' || c == '[') {
        rc = jcontainer(p, v, c == '{');
    } else if (c == '"') {
        v->t = J_STR;
        rc = jstring(p, &v->str);
    } else if (p->end - p->s >= 4 && !strncmp(p->s, "null", 4)) {
        p->s += 4;
    } else if (p->end - p->s >= 4 && !strncmp(p->s, "true", 4)) {
        v->t = J_BOOL, v->num = 1, p->s += 4;
    } else if (p->end - p->s >= 5 && !strncmp(p->s, "false", 5)) {
        v->t = J_BOOL, p->s += 5;
    } else {
        /* JSON's number grammar: -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)? */
        const char *q = p->s;
        if (q < p->end && *q == '-') q++;
        if (q >= p->end || !isdigit((unsigned char)*q)) return jfail(p);
        if (*q == '0') q++;
        else while (q < p->end && isdigit((unsigned char)*q)) q++;
        if (q < p->end && *q == '.') {
            if (++q >= p->end || !isdigit((unsigned char)*q)) return jfail(p);
            while (q < p->end && isdigit((unsigned char)*q)) q++;
        }
        if (q < p->end && (*q == 'e' || *q == 'E')) {
            q++;
            if (q < p->end && (*q == '+' || *q == '-')) q++;
            if (q >= p->end || !isdigit((unsigned char)*q)) return jfail(p);
            while (q < p->end && isdigit((unsigned char)*q)) q++;
        }
        char tmp[64];
        size_t len = (size_t)(q - p->s);
        if (len >= sizeof tmp) return jfail(p);
        memcpy(tmp, p->s, len);
        tmp[len] = 0;
        v->t = J_NUM;
        v->num = strtod(tmp, NULL);
        p->s = q;
    }
    p->depth--;
    return rc;
}

/* Parses a whole document; 0 and *out on success (free with jv_free), -1 on any syntax error. */
static int jparse(const char *text, size_t len, jv *out) {
    jparser p = {text, text + len, 0, 0};
    if (jvalue(&p, out) < 0 || p.failed) {
        jv_free(out);
        return -1;
    }
    jws(&p);
    if (p.s != p.end) {
        jv_free(out);
        return -1;
    }
    return 0;
}

static const jv *jget(const jv *o, const char *key) {
    if (!o || o->t != J_OBJ) return NULL;
    for (int i = 0; i < o->n; i++)
        if (!strcmp(o->keys[i], key)) return &o->items[i];
    return NULL;
}

static double jnum(const jv *o, const char *key, double dflt) {
    const jv *v = jget(o, key);
    return v && v->t == J_NUM ? v->num : dflt;
}

static const char *jstr(const jv *o, const char *key) {
    const jv *v = jget(o, key);
    return v && v->t == J_STR ? v->str : NULL;
}

#endif
