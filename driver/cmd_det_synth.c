/* driver/cmd_det_synth.c - `tgc det-synth --out DIR`: the synthetic detection set (runtime/data/det_data.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "driver/driver.h"
#include "runtime/data/det_data.h"

static int parse_count(const char *opt, const char *v, long lo, long hi, long *out) {
    char *end;
    errno = 0;
    long x = strtol(v, &end, 10);
    if (errno || end == v || *end || x < lo || x > hi)
        return tgc_usage_error("det-synth", "det-synth: %s needs an integer in %ld..%ld, got '%s'", opt, lo, hi, v);
    *out = x;
    return 0;
}

int tgc_cmd_det_synth(int argc, char **argv) {
    tgc_det_synth_opts o = {.fashion_dir = "/usr/share/datasets/fashion-mnist", .n_train = 2000, .n_val = 500,
                            .size = 256, .seed = 0};
    const char *v;
    for (int i = 1; i < argc; i++) {
        int r;
        long x;
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            tgc_usage("det-synth", stdout);
            return TGC_EXIT_OK;
        }
        if ((r = tgc_opt_value("--out", argc, argv, &i, &v))) {
            if (r < 0) return tgc_usage_error("det-synth", "det-synth: --out needs a folder");
            o.out_dir = v;
        } else if ((r = tgc_opt_value("--fashion", argc, argv, &i, &v))) {
            if (r < 0) return tgc_usage_error("det-synth", "det-synth: --fashion needs a folder");
            o.fashion_dir = v;
        } else if ((r = tgc_opt_value("--train", argc, argv, &i, &v))) {
            if (r < 0 || parse_count("--train", v, 0, 1000000, &x)) return TGC_EXIT_USAGE;
            o.n_train = (int)x;
        } else if ((r = tgc_opt_value("--val", argc, argv, &i, &v))) {
            if (r < 0 || parse_count("--val", v, 0, 1000000, &x)) return TGC_EXIT_USAGE;
            o.n_val = (int)x;
        } else if ((r = tgc_opt_value("--size", argc, argv, &i, &v))) { /* S, or HxW */
            if (r < 0) return tgc_usage_error("det-synth", "det-synth: --size needs S or HxW");
            const char *xp = strchr(v, 'x');
            long hw[2];
            char part[32];
            for (int k = 0; k < (xp ? 2 : 1); k++) {
                const char *b = k ? xp + 1 : v;
                size_t len = k || !xp ? strlen(b) : (size_t)(xp - v);
                snprintf(part, sizeof part, "%.*s", (int)TGC_MIN(len, sizeof part - 1), b);
                if (len >= sizeof part || parse_count("--size", part, 128, 4096, &hw[k])) return TGC_EXIT_USAGE;
                if (hw[k] % 128)
                    return tgc_usage_error("det-synth", xp ? "det-synth: --size HxW: sides must be multiples of 128, got %ld"
                                                           : "det-synth: --size must be a multiple of 128, got %ld", hw[k]);
            }
            o.size = (int)hw[0];
            o.height = xp ? (int)hw[0] : 0;
            o.width = xp ? (int)hw[1] : 0;
        } else if ((r = tgc_opt_value("--portrait", argc, argv, &i, &v))) {
            char *end;
            errno = 0;
            double f = r < 0 ? -1 : strtod(v, &end);
            if (r < 0 || errno || end == v || *end || !(f >= 0 && f <= 1))
                return tgc_usage_error("det-synth", "det-synth: --portrait needs a fraction in 0..1");
            o.portrait = f;
        } else if ((r = tgc_opt_value("--seed", argc, argv, &i, &v))) {
            char *end;
            errno = 0;
            unsigned long long s = strtoull(v, &end, 10);
            if (r < 0 || errno || end == v || *end || v[0] == '-')
                return tgc_usage_error("det-synth", "det-synth: --seed needs a non-negative integer");
            o.seed = s;
        } else {
            return tgc_usage_error("det-synth", "det-synth: unknown argument '%s'", argv[i]);
        }
    }
    if (!o.out_dir) return tgc_usage_error("det-synth", "det-synth: no output folder given (--out DIR)");
    if (o.portrait > 0 && o.height == o.width)
        return tgc_usage_error("det-synth", "det-synth: --portrait needs a non-square --size HxW");
    int h = o.height ? o.height : o.size, w = o.width ? o.width : o.size;
    tgc_err err = {{0}};
    int boxes[2];
    double t0 = tgc_now();
    if (tgc_det_synth(&o, boxes, &err) < 0) {
        fprintf(stderr, "tgc: det-synth: %s\n", err.msg);
        return TGC_EXIT_ERROR;
    }
    char tr[64] = "";
    if (o.portrait > 0) snprintf(tr, sizeof tr, " (a fraction %g transposed)", o.portrait);
    printf("det-synth: %s: %d train images (%d boxes), %d val images (%d boxes), %dx%d%s, seed %llu, %.1f s\n",
           o.out_dir, o.n_train, boxes[0], o.n_val, boxes[1], h, w, tr, (unsigned long long)o.seed, tgc_now() - t0);
    return TGC_EXIT_OK;
}
