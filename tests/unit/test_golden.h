/* tests/unit/test_golden.h - the reader of the resampling reference files (the .golden files of tests/data/resample,
 * written by make_goldens.py there: its docstring is the format). Header-only. */
#ifndef TGC_TEST_GOLDEN_H
#define TGC_TEST_GOLDEN_H

#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"

#define GOLDEN_MAX_IMAGES 16

typedef struct golden_image {
    int w, h, c;
    uint8_t *data;
} golden_image;

/* One record after its image: the text line's words and the output bytes. */
typedef struct golden_record {
    char line[512];
    char *word[24];
    int nword;
    const golden_image *in;
    uint8_t *out;
    size_t out_len;
} golden_record;

typedef struct golden_file {
    FILE *f;
    char path[1024];
    golden_image img[GOLDEN_MAX_IMAGES];
} golden_file;

/* The directory of the reference files: $TGC_GOLDEN_DIR (the live comparison's fresh set) or the
 * committed set. */
static inline const char *golden_dir(void) {
    const char *d = getenv("TGC_GOLDEN_DIR");
    return d && *d ? d : TGC_SOURCE_DIR "/tests/data/resample";
}

/* Opens DIR/name; 0 when absent and optional (the large set's files exist only in the live run). */
static inline int golden_open(golden_file *g, const char *name, int optional) {
    memset(g, 0, sizeof *g);
    snprintf(g->path, sizeof g->path, "%s/%s", golden_dir(), name);
    g->f = fopen(g->path, "rb");
    if (!g->f && optional) return 0;
    ck_assert_msg(g->f != NULL, "cannot open %s", g->path);
    char line[512];
    ck_assert_msg(fgets(line, sizeof line, g->f) && !strcmp(line, "TGC-GOLDEN 1\n"), "%s: not a golden file", g->path);
    return 1;
}

static inline void golden_close(golden_file *g) {
    for (int i = 0; i < GOLDEN_MAX_IMAGES; i++) free(g->img[i].data);
    if (g->f) fclose(g->f);
}

static inline void golden_read_bytes(golden_file *g, uint8_t *dst, size_t n) {
    ck_assert_msg(fread(dst, 1, n, g->f) == n && fgetc(g->f) == '\n', "%s: truncated record", g->path);
}

/* The next record that is not an image (images are stored as they come): 1, or 0 at the end. The output's
 * size is the image's (warp, rotate) or words ow_word, oh_word (resize). */
static inline int golden_next(golden_file *g, golden_record *r) {
    for (;;) {
        if (!fgets(r->line, sizeof r->line, g->f)) return 0;
        if (r->line[0] == '#') continue;
        r->line[strcspn(r->line, "\n")] = 0;
        r->nword = 0;
        for (char *s = strtok(r->line, " "); s && r->nword < 24; s = strtok(NULL, " ")) r->word[r->nword++] = s;
        ck_assert_msg(r->nword >= 2, "%s: bad record", g->path);
        int id = atoi(r->word[1]);
        ck_assert_msg(id >= 0 && id < GOLDEN_MAX_IMAGES, "%s: bad image id", g->path);
        golden_image *im = &g->img[id];
        if (!strcmp(r->word[0], "image")) {
            ck_assert_msg(r->nword == 5, "%s: bad image record", g->path);
            im->w = atoi(r->word[2]), im->h = atoi(r->word[3]), im->c = atoi(r->word[4]);
            free(im->data);
            im->data = tgc_malloc((size_t)im->w * im->h * im->c);
            golden_read_bytes(g, im->data, (size_t)im->w * im->h * im->c);
            continue;
        }
        ck_assert_msg(im->data != NULL, "%s: record before its image", g->path);
        r->in = im;
        size_t n = (size_t)im->w * im->h * im->c;
        if (!strcmp(r->word[0], "resize")) {
            ck_assert_msg(r->nword == 6, "%s: bad resize record", g->path);
            n = (size_t)atoi(r->word[4]) * atoi(r->word[5]) * im->c;
        }
        r->out = tgc_malloc(n);
        r->out_len = n;
        golden_read_bytes(g, r->out, n);
        return 1;
    }
}

/* The largest absolute difference of two byte arrays. */
static inline int golden_max_diff(const uint8_t *a, const uint8_t *b, size_t n) {
    int m = 0;
    for (size_t i = 0; i < n; i++) {
        int d = abs((int)a[i] - (int)b[i]);
        if (d > m) m = d;
    }
    return m;
}

#endif
