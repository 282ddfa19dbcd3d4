/* runtime/data/data_custom.c - CustomDataset's sample list: a folder of class subfolders or an annotation file. */
#include "runtime/data/data.h"

#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#define MAX_DEPTH 32         /* bounds symlink loops in followed subfolders */
#define MAX_SAMPLES 50000000 /* bounds memory on absurd trees */

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

static char *join(const char *dir, const char *name) {
    if (!dir || !*dir) return tgc_strdup(name);
    size_t n = strlen(dir);
    return tgc_asprintf("%s%s%s", dir, dir[n - 1] == '/' ? "" : "/", name);
}

static int has_image_ext(const char *name) {
    const char *dot = strrchr(name, '.');
    return dot && (!strcasecmp(dot, ".jpg") || !strcasecmp(dot, ".jpeg") || !strcasecmp(dot, ".png"));
}

/* Lists the entries of dir (hidden names skipped, as mmengine's list_dir_or_file does) that are
 * directories (want_dirs) or regular files, following symlinks. */
static int list_dir(const char *dir, int want_dirs, strlist *out, tgc_err *err) {
    DIR *d = opendir(dir);
    if (!d) return tgc_fail(err, "%s: cannot open directory: %s", dir, strerror(errno));
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        char *full = join(dir, e->d_name);
        struct stat st;
        int ok = stat(full, &st) == 0 && (want_dirs ? S_ISDIR(st.st_mode) : 1);
        free(full);
        if (ok) strlist_push(out, tgc_strdup(e->d_name));
    }
    closedir(d);
    return 0;
}

/* Appends the image files under dir (recursively) to out as paths relative to the class folder. */
static int walk(const char *base, const char *rel, int depth, strlist *out, tgc_err *err) {
    if (depth > MAX_DEPTH) return tgc_fail(err, "%s/%s: folders nested deeper than %d (a symlink loop?)", base, rel, MAX_DEPTH);
    char *dir = rel[0] ? join(base, rel) : tgc_strdup(base);
    strlist names = {0};
    int rc = list_dir(dir, 0, &names, err);
    for (int i = 0; rc == 0 && i < names.n; i++) {
        char *full = join(dir, names.s[i]);
        char *sub = rel[0] ? join(rel, names.s[i]) : tgc_strdup(names.s[i]);
        struct stat st;
        if (stat(full, &st) == 0 && S_ISDIR(st.st_mode)) {
            rc = walk(base, sub, depth + 1, out, err);
            free(sub);
        } else if (has_image_ext(names.s[i])) {
            if (out->n >= MAX_SAMPLES) rc = tgc_fail(err, "%s: more than %d images", base, MAX_SAMPLES);
            strlist_push(out, sub);
        } else {
            free(sub);
        }
        free(full);
    }
    strlist_free(&names);
    free(dir);
    return rc;
}

static int scan_folders(const char *img_dir, strlist *paths, int32_t **labels, int *num_classes, tgc_err *err) {
    strlist classes = {0}, empty = {0};
    int cap = 0;
    if (list_dir(img_dir, 1, &classes, err)) return -1;
    if (classes.n > 1) qsort(classes.s, (size_t)classes.n, sizeof(char *), cmp_str);
    if (classes.n == 0) {
        strlist_free(&classes);
        return tgc_fail(err, "%s: no class subfolders found (CustomDataset without ann_file expects one folder per class)",
                        img_dir);
    }
    for (int k = 0; k < classes.n; k++) {
        char *cdir = join(img_dir, classes.s[k]);
        strlist files = {0};
        if (walk(cdir, "", 0, &files, err)) {
            free(cdir);
            strlist_free(&files);
            strlist_free(&classes);
            strlist_free(&empty);
            return -1;
        }
        /* Sorted by path relative to the class folder, as MMPretrain sorts them. */
        if (files.n > 1) qsort(files.s, (size_t)files.n, sizeof(char *), cmp_str);
        if (files.n == 0) strlist_push(&empty, tgc_strdup(classes.s[k]));
        for (int i = 0; i < files.n; i++) {
            strlist_push(paths, join(cdir, files.s[i]));
            TGC_GROW(*labels, cap, paths->n);
            (*labels)[paths->n - 1] = k;
        }
        strlist_free(&files);
        free(cdir);
    }
    *num_classes = classes.n;
    strlist_free(&classes);
    if (empty.n) { /* MMPretrain refuses class folders without images too */
        tgc_fail(err, "%s: class folder '%s'%s has no .jpg, .jpeg or .png files", img_dir, empty.s[0],
                 empty.n > 1 ? " (and others)" : "");
        strlist_free(&empty);
        return -1;
    }
    return 0;
}

static int read_ann(const char *img_dir, const char *ann_file, strlist *paths, int32_t **labels, int *num_classes,
                    tgc_err *err) {
    uint8_t *text;
    size_t len;
    int cap = 0, maxl = -1;
    if (tgc_read_file(ann_file, (size_t)1 << 30, &text, &len, err)) return -1;
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
        if (!sp || sp == s || !stop || *stop || stop == sp + 1 || v < 0 || v >= 1000000) {
            tgc_fail(err, "%s:%d: expected 'relative/path label' with a label in 0..999999, got '%.200s'", ann_file,
                     line, s);
            free(text); /* after formatting: s points into it */
            return -1;
        }
        *sp = 0;
        if (paths->n >= MAX_SAMPLES) {
            free(text);
            return tgc_fail(err, "%s: more than %d samples", ann_file, MAX_SAMPLES);
        }
        strlist_push(paths, join(img_dir, s));
        TGC_GROW(*labels, cap, paths->n);
        (*labels)[paths->n - 1] = (int32_t)v;
        maxl = TGC_MAX(maxl, (int)v);
    }
    free(text);
    if (paths->n == 0) return tgc_fail(err, "%s: the annotation file lists no samples", ann_file);
    *num_classes = maxl + 1;
    return 0;
}

int tgc_custom_list(const char *img_dir, const char *ann_file, int *count, char ***paths, int32_t **labels,
                    int *num_classes, tgc_err *err) {
    strlist l = {0};
    int32_t *lab = NULL;
    int rc = ann_file ? read_ann(img_dir, ann_file, &l, &lab, num_classes, err)
                      : scan_folders(img_dir, &l, &lab, num_classes, err);
    if (rc) {
        strlist_free(&l);
        free(lab);
        return -1;
    }
    *count = l.n;
    *paths = l.s;
    *labels = lab;
    return 0;
}
