/* runtime/io/logfmt.c - MMEngine-style log lines, eta strings and scalars.json records (rules in logfmt.h). */
#include "runtime/io/logfmt.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"

static void sb_str(tgc_buf *b, const char *s) { tgc_buf_put(b, s, strlen(s)); }

static char *sb_finish(tgc_buf *b) {
    tgc_buf_u8(b, 0);
    return (char *)b->data; /* ownership passes to the caller */
}

/* Python's format(v, '.4f') / format(v, '.4e'): like printf, except that NaN never gets a sign. */
static void sb_num(tgc_buf *b, double v, char conv) {
    if (isnan(v)) sb_str(b, "nan");
    else if (conv == 'e') tgc_buf_printf(b, "%.4e", v);
    else tgc_buf_printf(b, "%.4f", v);
}

/* An is_int value as an integer (clamped: converting an out-of-range double is undefined in C). */
static long long as_ll(double v) {
    if (isnan(v)) return 0;
    if (v >= 9.2e18) return 9200000000000000000LL;
    if (v <= -9.2e18) return -9200000000000000000LL;
    return (long long)v;
}

static void sb_value(tgc_buf *b, const tgc_log_item *it) {
    if (it->is_int) tgc_buf_printf(b, "%lld", as_ll(it->value));
    else sb_num(b, it->value, 'f');
}

/* str(n).rjust(width) */
static void sb_rjust(tgc_buf *b, const char *s, int width) {
    for (int k = (int)strlen(s); k < width; k++) tgc_buf_u8(b, ' ');
    sb_str(b, s);
}

static int digits(int64_t v) {
    char t[32];
    return snprintf(t, sizeof t, "%lld", (long long)v);
}

void tgc_logfmt_eta(double seconds, char *buf, size_t n) {
    if (!buf || !n) return;
    if (!isfinite(seconds) || fabs(seconds) > 9.2e18) seconds = 0; /* int() of those would raise in Python */
    int64_t s = (int64_t)seconds; /* int() truncates toward zero */
    int64_t days = s / 86400, rem = s % 86400;
    if (rem < 0) { /* timedelta normalises to 0 <= seconds < 86400 */
        rem += 86400;
        days -= 1;
    }
    int hh = (int)(rem / 3600), mm = (int)(rem / 60 % 60), ss = (int)(rem % 60);
    if (days) snprintf(buf, n, "%lld day%s, %d:%02d:%02d", (long long)days, llabs(days) != 1 ? "s" : "", hh, mm, ss);
    else snprintf(buf, n, "%d:%02d:%02d", hh, mm, ss);
}

char *tgc_logfmt_iter(const tgc_log_iter *l) {
    tgc_buf b = {0};
    const char *mode = l->mode ? l->mode : "train";
    int is_train = strcmp(mode, "train") == 0, is_val = strcmp(mode, "val") == 0;
    char num[48];
    if (l->by_epoch) {
        snprintf(num, sizeof num, "%lld", (long long)l->iter);
        if (is_train || is_val) {
            char ep[48];
            snprintf(ep, sizeof ep, "[%lld]", (long long)l->epoch);
            tgc_buf_printf(&b, "Epoch(%s)", mode);
            sb_rjust(&b, ep, digits(l->max_epochs) + 3);
            sb_str(&b, "[");
        } else {
            tgc_buf_printf(&b, "Epoch(%s) [", mode);
        }
        sb_rjust(&b, num, digits(l->len));
        tgc_buf_printf(&b, "/%lld]  ", (long long)l->len);
    } else {
        snprintf(num, sizeof num, "%lld", (long long)l->iter);
        tgc_buf_printf(&b, "Iter(%s) [", mode);
        sb_rjust(&b, num, digits(l->len));
        tgc_buf_printf(&b, "/%lld]  ", (long long)l->len);
    }
    for (int i = 0; i < l->n_lr; i++) {
        if (i) sb_str(&b, " ");
        tgc_buf_printf(&b, "%s: ", l->lr[i].name);
        sb_num(&b, l->lr[i].value, 'e');
    }
    sb_str(&b, "  ");
    if (l->has_time) {
        char eta[64];
        tgc_logfmt_eta(l->eta_s, eta, sizeof eta);
        tgc_buf_printf(&b, "eta: %s  time: ", eta);
        sb_num(&b, l->time, 'f');
        sb_str(&b, "  data_time: ");
        sb_num(&b, l->data_time, 'f');
        sb_str(&b, "  ");
    }
    if (l->memory >= 0) tgc_buf_printf(&b, "memory: %lld  ", (long long)l->memory);
    if (is_train || is_val) {
        int first = 1;
        for (int i = 0; i < l->n_items; i++) {
            if (is_val && strncmp(l->items[i].name, "val/loss", 8) != 0) continue;
            if (!first) sb_str(&b, "  ");
            first = 0;
            tgc_buf_printf(&b, "%s: ", l->items[i].name);
            sb_value(&b, &l->items[i]);
        }
    }
    return sb_finish(&b);
}

char *tgc_logfmt_epoch(const char *mode, int by_epoch, int64_t epoch, int64_t len, const tgc_log_item *metrics,
                       int n_metrics, double data_time, double time) {
    tgc_buf b = {0};
    if (!mode) mode = "val";
    if (by_epoch && strcmp(mode, "val") == 0)
        tgc_buf_printf(&b, "Epoch(%s) [%lld][%lld/%lld]  ", mode, (long long)epoch, (long long)len, (long long)len);
    else if (by_epoch)
        tgc_buf_printf(&b, "Epoch(%s) [%lld/%lld]  ", mode, (long long)len, (long long)len);
    else
        tgc_buf_printf(&b, "Iter(%s) [%lld/%lld]  ", mode, (long long)len, (long long)len);
    sb_str(&b, "  ");
    for (int i = 0; i < n_metrics; i++) {
        tgc_buf_printf(&b, "%s: ", metrics[i].name);
        sb_value(&b, &metrics[i]);
        sb_str(&b, "  ");
    }
    sb_str(&b, "data_time: ");
    sb_num(&b, data_time, 'f');
    sb_str(&b, "  time: ");
    sb_num(&b, time, 'f');
    return sb_finish(&b);
}

/* ---- Python float repr and JSON ------------------------------------------------------------------ */

void tgc_logfmt_pyfloat(double v, char *buf, size_t n) {
    if (!buf || n < 32) {
        if (buf && n) buf[0] = 0;
        return;
    }
    if (isnan(v)) {
        snprintf(buf, n, "nan");
        return;
    }
    if (isinf(v)) {
        snprintf(buf, n, v < 0 ? "-inf" : "inf");
        return;
    }
    /* Shortest digits that read back to v (the correctly rounded p-digit form is the closest one, so the
     * first p that round-trips gives the same digits as Python's repr). */
    char e[40];
    for (int p = 1; p <= 17; p++) {
        snprintf(e, sizeof e, "%.*e", p - 1, v);
        if (strtod(e, NULL) == v) break;
    }
    /* e = [-]D[.DDD]e[+-]XX */
    const char *s = e;
    int neg = 0;
    if (*s == '-') {
        neg = 1;
        s++;
    }
    char dig[24];
    int nd = 0;
    for (; *s && *s != 'e'; s++)
        if (*s >= '0' && *s <= '9' && nd < 20) dig[nd++] = *s;
    int exp10 = atoi(s + 1);
    while (nd > 1 && dig[nd - 1] == '0') nd--;
    dig[nd] = 0;
    size_t o = 0;
    char out[64];
    if (neg) out[o++] = '-';
    if (exp10 < -4 || exp10 >= 16) { /* Python switches to exponent form outside [1e-4, 1e16) */
        out[o++] = dig[0];
        if (nd > 1) {
            out[o++] = '.';
            for (int i = 1; i < nd; i++) out[o++] = dig[i];
        }
        o += (size_t)snprintf(out + o, sizeof out - o, "e%c%02d", exp10 < 0 ? '-' : '+', abs(exp10));
    } else if (exp10 < 0) {
        out[o++] = '0';
        out[o++] = '.';
        for (int i = 0; i < -exp10 - 1; i++) out[o++] = '0';
        for (int i = 0; i < nd; i++) out[o++] = dig[i];
    } else {
        for (int i = 0; i <= exp10; i++) out[o++] = i < nd ? dig[i] : '0';
        out[o++] = '.';
        if (nd > exp10 + 1)
            for (int i = exp10 + 1; i < nd; i++) out[o++] = dig[i];
        else out[o++] = '0';
    }
    out[o] = 0;
    snprintf(buf, n, "%s", out);
}

/* Decodes one UTF-8 sequence at s (n bytes left); returns its length, *cp = U+FFFD when invalid. */
static int utf8_next(const unsigned char *s, size_t n, uint32_t *cp) {
    unsigned c = s[0];
    int len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
    if (len == 0 || (size_t)len > n) {
        *cp = 0xFFFD;
        return 1;
    }
    uint32_t v = len == 1 ? c : len == 2 ? (c & 0x1F) : len == 3 ? (c & 0x0F) : (c & 0x07);
    for (int i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80) {
            *cp = 0xFFFD;
            return 1;
        }
        v = (v << 6) | (s[i] & 0x3F);
    }
    static const uint32_t min_cp[5] = {0, 0, 0x80, 0x800, 0x10000};
    if (v < min_cp[len] || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF)) v = 0xFFFD;
    *cp = v;
    return len;
}

/* json.dumps(str) with ensure_ascii=True. */
static void sb_json_str(tgc_buf *b, const char *s) {
    tgc_buf_u8(b, '"');
    size_t n = strlen(s);
    for (size_t i = 0; i < n;) {
        uint32_t cp;
        i += (size_t)utf8_next((const unsigned char *)s + i, n - i, &cp);
        switch (cp) {
        case '"': sb_str(b, "\\\""); break;
        case '\\': sb_str(b, "\\\\"); break;
        case '\n': sb_str(b, "\\n"); break;
        case '\r': sb_str(b, "\\r"); break;
        case '\t': sb_str(b, "\\t"); break;
        case '\b': sb_str(b, "\\b"); break;
        case '\f': sb_str(b, "\\f"); break;
        default:
            if (cp < 0x20 || (cp >= 0x7f && cp < 0x10000)) tgc_buf_printf(b, "\\u%04x", (unsigned)cp);
            else if (cp >= 0x10000) {
                uint32_t v = cp - 0x10000;
                tgc_buf_printf(b, "\\u%04x\\u%04x", (unsigned)(0xD800 + (v >> 10)), (unsigned)(0xDC00 + (v & 0x3FF)));
            } else tgc_buf_u8(b, (uint8_t)cp);
        }
    }
    tgc_buf_u8(b, '"');
}

char *tgc_logfmt_scalars_json(const tgc_log_item *items, int n_items, int64_t step) {
    tgc_buf b = {0};
    tgc_buf_u8(&b, '{');
    for (int i = 0; i < n_items; i++) {
        sb_json_str(&b, items[i].name);
        sb_str(&b, ": ");
        double v = items[i].value;
        if (items[i].is_int) tgc_buf_printf(&b, "%lld", as_ll(v));
        else if (isnan(v)) sb_str(&b, "NaN");
        else if (isinf(v)) sb_str(&b, v < 0 ? "-Infinity" : "Infinity");
        else {
            char f[40];
            tgc_logfmt_pyfloat(v, f, sizeof f);
            sb_str(&b, f);
        }
        sb_str(&b, ", ");
    }
    tgc_buf_printf(&b, "\"step\": %lld}", (long long)step);
    return sb_finish(&b);
}
