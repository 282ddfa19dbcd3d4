/* backend/cuda/cudnn_cache.c - the convolution algorithm choices file (see cudnn_cache.h). */
#include "backend/cuda/cudnn_cache.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define HEADER "# tgc cuDNN algorithm choices v1: crc key engine knobs... ms device\n"
#define MAX_FILE (64u << 20)

uint64_t tgc_cudnn_cache_key(const char *signature) {
    uint64_t h = UINT64_C(0xcbf29ce484222325);
    for (const unsigned char *s = (const unsigned char *)signature; *s; s++) h = (h ^ *s) * UINT64_C(0x100000001b3);
    return h;
}

/* A device id as one line's tail: no newline, no carriage return. */
static char *clean_device(const char *d) {
    char *s = tgc_strdup(d ? d : "?");
    for (char *p = s; *p; p++)
        if (*p == '\n' || *p == '\r') *p = ' ';
    return s;
}

void tgc_cudnn_cache_init(tgc_cudnn_cache *c, const char *device) {
    memset(c, 0, sizeof *c);
    c->device = clean_device(device);
}

void tgc_cudnn_cache_free(tgc_cudnn_cache *c) {
    if (!c) return;
    for (int i = 0; i < c->n; i++) free(c->e[i].device);
    free(c->e);
    free(c->device);
    memset(c, 0, sizeof *c);
}

static int find_at(const tgc_cudnn_cache *c, const char *device, uint64_t key) {
    for (int i = 0; i < c->n; i++)
        if (c->e[i].key == key && !strcmp(c->e[i].device, device)) return i;
    return -1;
}

static void set(tgc_cudnn_cache *c, const char *device, uint64_t key, const tgc_cudnn_choice *ch, double ms) {
    int i = find_at(c, device, key);
    if (i < 0) {
        TGC_GROW(c->e, c->cap, c->n + 1);
        i = c->n++;
        c->e[i].device = tgc_strdup(device);
        c->e[i].key = key;
    }
    c->e[i].choice = *ch;
    c->e[i].ms = ms;
}

/* One line (without its newline): 0 and the entry, or -1. */
static int parse_line(const char *line, size_t len, char **device, uint64_t *key, tgc_cudnn_choice *ch, double *ms) {
    char buf[4096];
    if (len < 10 || len >= sizeof buf) return -1;
    memcpy(buf, line, len);
    buf[len] = 0;
    char *end;
    errno = 0;
    unsigned long crc = strtoul(buf, &end, 16);
    if (errno || end != buf + 8 || *end != ' ') return -1;
    if (tgc_crc32(0, buf + 9, len - 9) != (uint32_t)crc) return -1;
    char *p = buf + 9;
    *key = strtoull(p, &end, 16);
    if (end != p + 16 || *end != ' ') return -1;
    p = end;
    memset(ch, 0, sizeof *ch);
    ch->engine = strtoll(p, &end, 10);
    if (end == p || *end != ' ' || ch->engine < 0) return -1;
    p = end;
    long nk = strtol(p, &end, 10);
    if (end == p || *end != ' ' || nk < 0 || nk > TGC_CUDNN_MAX_KNOBS) return -1;
    ch->n_knobs = (int)nk;
    p = end;
    for (int i = 0; i < ch->n_knobs; i++) {
        ch->knob[i][0] = strtoll(p, &end, 10);
        if (end == p || *end != ':' || ch->knob[i][0] < 0) return -1;
        p = end + 1;
        ch->knob[i][1] = strtoll(p, &end, 10);
        if (end == p || *end != ' ') return -1;
        p = end;
    }
    *ms = strtod(p, &end);
    if (end == p || *end != ' ' || !(*ms >= 0)) return -1;
    p = end + 1;
    if (!*p) return -1;
    *device = tgc_strdup(p);
    return 0;
}

void tgc_cudnn_cache_parse(tgc_cudnn_cache *c, const char *text, size_t len) {
    size_t at = 0;
    int lineno = 0;
    while (at < len) {
        const char *nl = memchr(text + at, '\n', len - at);
        size_t n = nl ? (size_t)(nl - (text + at)) : len - at;
        lineno++;
        const char *line = text + at;
        at += n + (nl ? 1 : 0);
        if (n == 0 || line[0] == '#') continue;
        char *device = NULL;
        uint64_t key;
        tgc_cudnn_choice ch;
        double ms;
        if (parse_line(line, n, &device, &key, &ch, &ms) < 0) {
            if (!c->bad++) c->first_bad = lineno;
            continue;
        }
        if (strcmp(device, c->device)) c->other_device++;
        set(c, device, key, &ch, ms);
        free(device);
    }
}

int tgc_cudnn_cache_load(tgc_cudnn_cache *c, const char *path, tgc_err *err) {
    struct stat st;
    if (stat(path, &st) != 0 && errno == ENOENT) return 0;
    uint8_t *data = NULL;
    size_t len = 0;
    if (tgc_read_file(path, MAX_FILE, &data, &len, err) < 0) return -1;
    tgc_cudnn_cache_parse(c, (const char *)data, len);
    free(data);
    return 0;
}

const tgc_cudnn_choice *tgc_cudnn_cache_find(const tgc_cudnn_cache *c, uint64_t key) {
    int i = find_at(c, c->device, key);
    return i < 0 ? NULL : &c->e[i].choice;
}

void tgc_cudnn_cache_put(tgc_cudnn_cache *c, uint64_t key, const tgc_cudnn_choice *ch, double ms) {
    set(c, c->device, key, ch, ms);
    c->changed = 1;
}

void tgc_cudnn_cache_forget(tgc_cudnn_cache *c, uint64_t key) {
    int i = find_at(c, c->device, key);
    if (i < 0) return;
    free(c->e[i].device);
    memmove(&c->e[i], &c->e[i + 1], (size_t)(c->n - i - 1) * sizeof *c->e);
    c->n--;
    c->changed = 1;
}

char *tgc_cudnn_cache_serialize(const tgc_cudnn_cache *c, size_t *len) {
    tgc_buf b = {0}, l = {0};
    tgc_buf_printf(&b, "%s", HEADER);
    for (int i = 0; i < c->n; i++) {
        const tgc_cudnn_cache_entry *e = &c->e[i];
        l.len = 0;
        tgc_buf_printf(&l, "%016" PRIx64 " %" PRId64 " %d", e->key, e->choice.engine, e->choice.n_knobs);
        for (int k = 0; k < e->choice.n_knobs; k++)
            tgc_buf_printf(&l, " %" PRId64 ":%" PRId64, e->choice.knob[k][0], e->choice.knob[k][1]);
        tgc_buf_printf(&l, " %.6g %s", e->ms, e->device);
        tgc_buf_printf(&b, "%08" PRIx32 " ", tgc_crc32(0, l.data, l.len));
        tgc_buf_put(&b, l.data, l.len);
        tgc_buf_u8(&b, '\n');
    }
    tgc_buf_free(&l);
    if (len) *len = b.len;
    tgc_buf_u8(&b, 0);
    return (char *)b.data;
}

int tgc_cudnn_cache_save(tgc_cudnn_cache *c, const char *path, tgc_err *err) {
    size_t len;
    char *text = tgc_cudnn_cache_serialize(c, &len);
    int rc = tgc_write_file_atomic(path, text, len, err);
    free(text);
    if (rc == 0) c->changed = 0;
    return rc;
}

void tgc_cudnn_cache_notes(const tgc_cudnn_cache *c, char *buf, size_t size) {
    buf[0] = 0;
    size_t at = 0;
    if (c->bad) at += (size_t)snprintf(buf, size, "%d unreadable entr%s ignored (first at line %d)", c->bad,
                                       c->bad == 1 ? "y" : "ies", c->first_bad);
    if (c->other_device && at < size)
        snprintf(buf + at, size - at, "%s%d of another GPU or cuDNN left unused", at ? ", " : "", c->other_device);
}
