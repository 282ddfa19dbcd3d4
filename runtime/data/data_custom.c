/* runtime/data/data_custom.c - CustomDataset's sample list: a folder of class subfolders or an annotation file. */
#include "runtime/data/data.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define MAX_DEPTH 32         /* bounds symlink loops in followed subfolders */
#define MAX_SAMPLES 50000000 /* bounds memory on absurd trees */
#define MAX_LABEL 10000000

/* MMPretrain's CustomDataset.extensions default, and the formats among them tgc's decoder does not read. */
static const char *const default_ext[] = {".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", NULL};
static const char *const undecodable[] = {".ppm", ".bmp", ".pgm", ".tif", ".tiff", NULL};

typedef struct strlist {
    char **s;
    int n, cap;
} strlist;

static void strlist_push(strlist *l, char *s) {
    TGC_GROW(l->s, l->cap, l->n + 1);
    l->s[l->n++] = s;
}

static void strlist_free(strlist *l) {
    for (int i = 0; i < l->n; i++) free(l->s[i]);
    free(l->s);
    memset(l, 0, sizeof *l);
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

char *tgc_path_join(const char *dir, const char *name) {
    if (!dir || !*dir || name[0] == '/') return tgc_strdup(name);
    size_t n = strlen(dir);
    return tgc_asprintf("%s%s%s", dir, dir[n - 1] == '/' ? "" : "/", name);
}

/* Whether name, lower-cased, ends with one of exts (str.lower().endswith(tuple)). */
static int ends_with_any(const char *name, const char *const *exts) {
    size_t n = strlen(name);
    for (int i = 0; exts[i]; i++) {
        size_t k = strlen(exts[i]);
        if (k > n) continue;
        size_t j = 0;
        while (j < k && tolower((unsigned char)name[n - k + j]) == tolower((unsigned char)exts[i][j])) j++;
        if (j == k) return 1;
    }
    return 0;
}

void tgc_sample_list_free(tgc_sample_list *l) {
    for (int i = 0; l->paths && i < l->count; i++) free(l->paths[i]);
    free(l->paths);
    free(l->labels);
    free(l->lines);
    free(l->list_file);
    tgc_buf_free(&l->notes);
    memset(l, 0, sizeof *l);
}

/* Lists the entries of dir as MMEngine's list_dir_or_file: directories (want_dirs, hidden ones included)
 * or regular files whose name does not start with '.', both following symlinks. */
static int list_dir(const char *dir, int want_dirs, strlist *out, tgc_err *err) {
    DIR *d = opendir(dir);
    if (!d) return tgc_fail(err, "%s: cannot open directory: %s", dir, strerror(errno));
    struct dirent *e;
    while ((e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        char *full = tgc_path_join(dir, e->d_name);
        struct stat st;
        int ok = stat(full, &st) == 0 &&
                 (want_dirs ? S_ISDIR(st.st_mode) : S_ISREG(st.st_mode) && e->d_name[0] != '.');
        free(full);
        if (ok) strlist_push(out, tgc_strdup(e->d_name));
    }
    closedir(d);
    return 0;
}

/* Appends the files under base/rel (recursively) whose path has one of exts to out, as paths relative to base. */
static int walk(const char *base, const char *rel, int depth, const char *const *exts, strlist *out, tgc_err *err) {
    if (depth > MAX_DEPTH) return tgc_fail(err, "%s/%s: folders nested deeper than %d (a symlink loop?)", base, rel, MAX_DEPTH);
    char *dir = rel[0] ? tgc_path_join(base, rel) : tgc_strdup(base);
    strlist files = {0}, dirs = {0};
    int rc = list_dir(dir, 0, &files, err);
    if (!rc) rc = list_dir(dir, 1, &dirs, err);
    for (int i = 0; rc == 0 && i < files.n; i++) {
        if (!ends_with_any(files.s[i], exts)) continue;
        if (out->n >= MAX_SAMPLES) rc = tgc_fail(err, "%s: more than %d images", base, MAX_SAMPLES);
        else strlist_push(out, rel[0] ? tgc_path_join(rel, files.s[i]) : tgc_strdup(files.s[i]));
    }
    for (int i = 0; rc == 0 && i < dirs.n; i++) {
        char *sub = rel[0] ? tgc_path_join(rel, dirs.s[i]) : tgc_strdup(dirs.s[i]);
        rc = walk(base, sub, depth + 1, exts, out, err);
        free(sub);
    }
    strlist_free(&files);
    strlist_free(&dirs);
    free(dir);
    return rc;
}

static void push_sample(tgc_sample_list *out, int *cap, char *path, int32_t label, int32_t line) {
    if (out->count == *cap) {
        *cap = *cap ? 2 * *cap : 64;
        out->paths = tgc_realloc(out->paths, sizeof(char *) * (size_t)*cap);
        out->labels = tgc_realloc(out->labels, sizeof(int32_t) * (size_t)*cap);
        if (out->lines) out->lines = tgc_realloc(out->lines, sizeof(int32_t) * (size_t)*cap);
    }
    out->paths[out->count] = path;
    out->labels[out->count] = label;
    if (out->lines) out->lines[out->count] = line;
    out->count++;
}

static int scan_folders(const char *img_dir, const char *const *exts, tgc_sample_list *out, tgc_err *err) {
    strlist classes = {0};
    int cap = 0, nempty = 0;
    if (list_dir(img_dir, 1, &classes, err)) return -1;
    if (classes.n > 1) qsort(classes.s, (size_t)classes.n, sizeof(char *), cmp_str);
    for (int k = 0; k < classes.n; k++) {
        char *cdir = tgc_path_join(img_dir, classes.s[k]);
        strlist files = {0};
        int rc = walk(cdir, "", 0, exts, &files, err);
        if (files.n > 1) qsort(files.s, (size_t)files.n, sizeof(char *), cmp_str); /* sorted relative paths */
        for (int i = 0; !rc && i < files.n; i++) push_sample(out, &cap, tgc_path_join(cdir, files.s[i]), k, 0);
        if (!rc && files.n == 0) /* MMPretrain warns about these; the class keeps its index */
            tgc_buf_printf(&out->notes, "%s%s", nempty++ ? ", " : "", classes.s[k]);
        strlist_free(&files);
        free(cdir);
        if (rc) {
            strlist_free(&classes);
            return -1;
        }
    }
    out->num_classes = classes.n;
    strlist_free(&classes);
    if (nempty) {
        char *names = tgc_asprintf("%.*s", (int)out->notes.len, (const char *)out->notes.data);
        out->notes.len = 0;
        tgc_buf_printf(&out->notes, "%s: no image files in the class folder%s %s (they keep their class indices)\n",
                       img_dir, nempty > 1 ? "s" : "", names);
        free(names);
    }
    if (out->count == 0)
        return tgc_fail(err, "%s: found 0 image files in class subfolders (CustomDataset without ann_file expects one "
                        "folder per class)", img_dir);
    return 0;
}

static int read_ann(const char *img_dir, const char *ann_file, tgc_sample_list *out, tgc_err *err) {
    uint8_t *text;
    size_t len;
    int cap = 0, maxl = -1;
    if (tgc_read_file(ann_file, (size_t)1 << 31, &text, &len, err)) return -1;
    out->list_file = tgc_strdup(ann_file);
    out->lines = tgc_malloc(sizeof(int32_t)); /* marks the list as line-numbered (grown with the rest) */
    char *p = (char *)text, *end = p + len;
    for (int line = 1; p < end; line++) {
        char *nl = memchr(p, '\n', (size_t)(end - p));
        char *e = nl ? nl : end;
        while (e > p && (e[-1] == '\r' || e[-1] == ' ' || e[-1] == '\t')) e--;
        char *s = p;
        while (s < e && (*s == ' ' || *s == '\t')) s++;
        p = nl ? nl + 1 : end;
        if (s == e) continue; /* blank line */
        *e = 0;
        char *sp = strrchr(s, ' '); /* MMPretrain: line.strip().rsplit(' ', 1) */
        char *tab = strrchr(s, '\t');
        if (tab && (!sp || tab > sp)) sp = tab;
        char *stop = NULL;
        long v = sp ? strtol(sp + 1, &stop, 10) : -1;
        if (!sp || sp == s || !stop || *stop || stop == sp + 1 || v < 0 || v >= MAX_LABEL) {
            tgc_fail(err, "%s:%d: expected 'relative/path label' with a label in 0..%d, got '%.200s'", ann_file, line,
                     MAX_LABEL - 1, s);
            free(text); /* after formatting: s points into it */
            return -1;
        }
        *sp = 0;
        while (sp > s && (sp[-1] == ' ' || sp[-1] == '\t')) *--sp = 0;
        if (ends_with_any(s, undecodable)) {
            tgc_fail(err, "%s:%d: '%.200s': tgc decodes JPEG and PNG images only", ann_file, line, s);
            free(text);
            return -1;
        }
        if (out->count >= MAX_SAMPLES) {
            free(text);
            return tgc_fail(err, "%s: more than %d samples", ann_file, MAX_SAMPLES);
        }
        push_sample(out, &cap, tgc_path_join(img_dir, s), (int32_t)v, line);
        maxl = TGC_MAX(maxl, (int)v);
    }
    free(text);
    if (out->count == 0) return tgc_fail(err, "%s: the annotation file lists no samples", ann_file);
    out->num_classes = maxl + 1;
    return 0;
}

int tgc_custom_list(const char *img_dir, const char *ann_file, const char *const *extensions, tgc_sample_list *out,
                    tgc_err *err) {
    memset(out, 0, sizeof *out);
    const char *const *exts = extensions ? extensions : default_ext;
    int rc = ann_file ? read_ann(img_dir, ann_file, out, err) : scan_folders(img_dir, exts, out, err);
    for (int i = 0; !rc && !ann_file && i < out->count; i++)
        if (ends_with_any(out->paths[i], undecodable))
            rc = tgc_fail(err, "%s: tgc decodes JPEG and PNG images only (set the dataset's extensions, e.g. "
                          "['.jpg', '.jpeg', '.png'], to leave other files out)", out->paths[i]);
    if (rc) tgc_sample_list_free(out);
    return rc;
}
