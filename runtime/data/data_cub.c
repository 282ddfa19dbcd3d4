/* runtime/data/data_cub.c - CUB-200-2011's sample list: images.txt, image_class_labels.txt, train_test_split.txt. */
#include "runtime/data/data.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define MAX_LINES 50000000

/* One line "id value" of a CUB file; value points into the file's text. */
typedef struct rec {
    long long id;
    int line;
    const char *value;
} rec;

typedef struct cub_file {
    char *path;
    char *text;
    rec *r;      /* in file order */
    rec *sorted; /* by id */
    int n;
} cub_file;

static void cub_file_free(cub_file *f) {
    free(f->path);
    free(f->text);
    free(f->r);
    free(f->sorted);
}

static int cmp_rec(const void *a, const void *b) {
    const rec *x = a, *y = b;
    return x->id < y->id ? -1 : x->id > y->id ? 1 : x->line - y->line;
}

static const rec *find(const cub_file *f, long long id) {
    rec key = {.id = id, .line = 0};
    size_t lo = 0, hi = (size_t)f->n;
    while (lo < hi) { /* the first record with id >= key */
        size_t mid = (lo + hi) / 2;
        if (cmp_rec(&f->sorted[mid], &key) < 0) lo = mid + 1;
        else hi = mid;
    }
    return lo < (size_t)f->n && f->sorted[lo].id == id ? &f->sorted[lo] : NULL;
}

/* Reads root/name: every non-blank line two whitespace-separated fields (MMPretrain: pair.split()), the first a
 * positive integer id, each id once. */
static int read_cub_file(const char *root, const char *name, cub_file *f, tgc_err *err) {
    memset(f, 0, sizeof *f);
    f->path = tgc_path_join(root, name);
    uint8_t *text;
    size_t len;
    if (tgc_read_file(f->path, (size_t)1 << 31, &text, &len, err)) return tgc_err_prefix(err, "CUB");
    f->text = tgc_realloc(text, len + 1);
    f->text[len] = 0;
    int cap = 0;
    char *p = f->text, *end = p + len;
    for (int line = 1; p < end; line++) {
        char *nl = memchr(p, '\n', (size_t)(end - p));
        char *e = nl ? nl : end;
        char *next = nl ? nl + 1 : end;
        *e = 0;
        char *fields[3];
        int nf = 0;
        for (char *s = p; nf < 3;) {
            while (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\f' || *s == '\v') *s++ = 0;
            if (!*s) break;
            fields[nf++] = s;
            while (*s && *s != ' ' && *s != '\t' && *s != '\r' && *s != '\f' && *s != '\v') s++;
        }
        p = next;
        if (nf == 0) continue; /* blank line */
        if (nf != 2) {
            char *copy = tgc_strdup(fields[0]);
            tgc_fail(err, "%s:%d: expected two fields 'id value', got %s fields starting '%.100s'", f->path, line,
                     nf == 1 ? "1" : "3 or more", copy);
            free(copy);
            return -1;
        }
        char *stop;
        long long id = strtoll(fields[0], &stop, 10);
        if (*stop || fields[0][0] == '-' || fields[0][0] == '+' || id < 1 || id > 1000000000)
            return tgc_fail(err, "%s:%d: the id must be a positive integer (CUB's ids start at 1), got '%.100s'",
                            f->path, line, fields[0]);
        if (f->n >= MAX_LINES) return tgc_fail(err, "%s: more than %d lines", f->path, MAX_LINES);
        TGC_GROW(f->r, cap, f->n + 1);
        f->r[f->n++] = (rec){id, line, fields[1]};
    }
    if (f->n == 0) return tgc_fail(err, "%s: no lines", f->path);
    f->sorted = tgc_malloc(sizeof(rec) * (size_t)f->n);
    memcpy(f->sorted, f->r, sizeof(rec) * (size_t)f->n);
    qsort(f->sorted, (size_t)f->n, sizeof(rec), cmp_rec);
    for (int i = 1; i < f->n; i++)
        if (f->sorted[i].id == f->sorted[i - 1].id)
            return tgc_fail(err, "%s:%d: id %lld repeats line %d", f->path, f->sorted[i].line, f->sorted[i].id,
                            f->sorted[i - 1].line);
    return 0;
}

/* Every id of a is in b (MMPretrain asserts the three files have the same ids). */
static int same_ids(const cub_file *a, const cub_file *b, tgc_err *err) {
    for (int i = 0; i < a->n; i++)
        if (!find(b, a->r[i].id))
            return tgc_fail(err, "%s:%d: id %lld is not in %s (the CUB files must list the same ids)", a->path,
                            a->r[i].line, a->r[i].id, b->path);
    return 0;
}

int tgc_cub_list(const char *root, int test_split, int num_classes, tgc_sample_list *out, tgc_err *err) {
    memset(out, 0, sizeof *out);
    cub_file img, lab, spl;
    memset(&lab, 0, sizeof lab);
    memset(&spl, 0, sizeof spl);
    char *prefix = tgc_path_join(root, "images");
    int rc = read_cub_file(root, "images.txt", &img, err);
    if (!rc) rc = read_cub_file(root, "image_class_labels.txt", &lab, err);
    if (!rc) rc = read_cub_file(root, "train_test_split.txt", &spl, err);
    if (!rc) rc = same_ids(&img, &lab, err) || same_ids(&lab, &img, err) || same_ids(&img, &spl, err) ||
                  same_ids(&spl, &img, err) ? -1 : 0;
    int cap = 0;
    for (int i = 0; !rc && i < img.n; i++) {
        const rec *l = find(&lab, img.r[i].id), *s = find(&spl, img.r[i].id);
        char *stop;
        long v = strtol(l->value, &stop, 10);
        if (*stop || v < 1 || v > num_classes) {
            rc = tgc_fail(err, "%s:%d: the label must be an integer in 1..%d (CUB's labels start at 1), got '%.100s'",
                          lab.path, l->line, num_classes, l->value);
            break;
        }
        if (strcmp(s->value, "0") && strcmp(s->value, "1")) {
            rc = tgc_fail(err, "%s:%d: expected 1 (a training image) or 0 (a test image), got '%.100s'", spl.path,
                          s->line, s->value);
            break;
        }
        if ((s->value[0] == '1') == test_split) continue;
        char *path = tgc_path_join(prefix, img.r[i].value);
        struct stat st;
        if (stat(path, &st) != 0 || !S_ISREG(st.st_mode)) {
            rc = tgc_fail(err, "%s:%d: the image %s does not exist", img.path, img.r[i].line, path);
            free(path);
            break;
        }
        if (out->count == cap) {
            cap = cap ? 2 * cap : 256;
            out->paths = tgc_realloc(out->paths, sizeof(char *) * (size_t)cap);
            out->labels = tgc_realloc(out->labels, sizeof(int32_t) * (size_t)cap);
            out->lines = tgc_realloc(out->lines, sizeof(int32_t) * (size_t)cap);
        }
        out->paths[out->count] = path;
        out->labels[out->count] = (int32_t)(v - 1);
        out->lines[out->count++] = img.r[i].line;
    }
    if (!rc && out->count == 0)
        rc = tgc_fail(err, "%s: no %s images (train_test_split.txt marks none %s)", root, test_split ? "test" : "training",
                      test_split ? "0" : "1");
    if (!rc) {
        out->list_file = img.path;
        img.path = NULL;
        out->num_classes = num_classes;
    }
    cub_file_free(&img);
    cub_file_free(&lab);
    cub_file_free(&spl);
    free(prefix);
    if (rc) tgc_sample_list_free(out);
    return rc;
}
