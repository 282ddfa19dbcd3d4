/* tests/numerics/op_harness.c - runs one op on the CPU backend from files, for numerics tests that compare a
 * single op with PyTorch (tests/numerics/det_ops_vs_torch.py).
 *
 * usage: tgc_op_harness SPEC
 * SPEC is a text file of lines, in any order but `in`/`out` in operand order:
 *   op NAME                          the op's text-form name (ir/ops.def)
 *   threads N                        CPU threads (default 1)
 *   attr NAME V1 [V2 ...]            an attribute of ir/attrs.def (a shape: its dimensions)
 *   in DTYPE RANK D0 D1 ... FILE     an operand: raw little-endian elements read from FILE
 *   out DTYPE RANK D0 D1 ... FILE    a result: written to FILE
 * Test-only; exits 0 on success, 1 with one message on stderr. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/cpu/cpu_kernels.h"

#define MAX_T (TGC_MAX_IN + TGC_MAX_OUT)

static int die(const char *msg, const char *arg) {
    fprintf(stderr, "tgc_op_harness: %s%s%s\n", msg, arg ? ": " : "", arg ? arg : "");
    exit(1);
}

static tgc_dtype dtype_of(const char *s) {
    for (int t = 0; t < TGC_DTYPE_COUNT; t++)
        if (!strcmp(s, tgc_dtype_name((tgc_dtype)t))) return (tgc_dtype)t;
    die("unknown dtype", s);
    return TGC_F32;
}

static void set_attr(tgc_attrs *a, char *rest) {
    char *name = strtok(rest, " \t\n");
    if (!name) die("attr needs a name", NULL);
    for (int i = 0; i < TGC_ATTR_COUNT; i++) {
        const tgc_attr_info *r = &tgc_attr_table[i];
        if (strcmp(r->name, name)) continue;
        char *p = (char *)a + r->offset;
        char *v;
        int n = 0;
        while ((v = strtok(NULL, " \t\n"))) {
            switch (r->kind) {
            case TGC_AK_BOOL: *(int *)p = atoi(v); break;
            case TGC_AK_I64: *(int64_t *)p = strtoll(v, NULL, 10); break;
            case TGC_AK_I64V: if (n < r->n) ((int64_t *)p)[n] = strtoll(v, NULL, 10); break;
            case TGC_AK_F64: *(double *)p = strtod(v, NULL); break;
            case TGC_AK_F64V: if (n < r->n) ((double *)p)[n] = strtod(v, NULL); break;
            case TGC_AK_SHAPE:
                if (n < TGC_MAX_RANK) ((tgc_shape *)p)->d[n] = strtoll(v, NULL, 10), ((tgc_shape *)p)->rank = n + 1;
                break;
            case TGC_AK_DTYPE: *(tgc_dtype *)p = dtype_of(v); break;
            }
            n++;
        }
        return;
    }
    die("unknown attribute", name);
}

int main(int argc, char **argv) {
    if (argc != 2) die("usage: tgc_op_harness SPEC", NULL);
    FILE *f = fopen(argv[1], "r");
    if (!f) die("cannot open", argv[1]);
    tgc_attrs a = tgc_attrs_default();
    int code = -1, threads = 1, n_in = 0, n_out = 0;
    tgc_type ty[MAX_T];
    void *data[MAX_T];
    char *files[MAX_T];
    int is_out[MAX_T], n = 0;
    char line[1024];
    while (fgets(line, sizeof line, f)) {
        char *kw = strtok(line, " \t\n");
        if (!kw) continue;
        char *rest = kw + strlen(kw) + 1;
        if (!strcmp(kw, "op")) {
            char *name = strtok(NULL, " \t\n");
            code = name ? tgc_op_by_name(name) : -1;
            if (code < 0) die("unknown op", name);
        } else if (!strcmp(kw, "threads")) {
            threads = atoi(strtok(NULL, " \t\n"));
        } else if (!strcmp(kw, "attr")) {
            set_attr(&a, rest);
        } else if (!strcmp(kw, "in") || !strcmp(kw, "out")) {
            if (n == MAX_T) die("too many tensors", NULL);
            is_out[n] = kw[0] == 'o';
            ty[n].layout = TGC_LAYOUT_ROW;
            ty[n].dtype = dtype_of(strtok(NULL, " \t\n"));
            ty[n].shape.rank = atoi(strtok(NULL, " \t\n"));
            if (ty[n].shape.rank < 0 || ty[n].shape.rank > TGC_MAX_RANK) die("bad rank", NULL);
            for (int d = 0; d < ty[n].shape.rank; d++) ty[n].shape.d[d] = strtoll(strtok(NULL, " \t\n"), NULL, 10);
            char *file = strtok(NULL, " \t\n");
            if (!file) die("a tensor needs a file", NULL);
            files[n] = strdup(file);
            size_t bytes = (size_t)tgc_shape_numel(&ty[n].shape) * tgc_dtype_size(ty[n].dtype);
            data[n] = calloc(1, bytes ? bytes : 1);
            if (!is_out[n]) {
                FILE *in = fopen(file, "rb");
                if (!in || fread(data[n], 1, bytes, in) != bytes) die("cannot read", file);
                fclose(in);
                n_in++;
            } else {
                n_out++;
            }
            n++;
        } else {
            die("unknown line", kw);
        }
    }
    fclose(f);
    if (code < 0) die("no op line", NULL);
    tgc_type in_t[TGC_MAX_IN], out_t[TGC_MAX_OUT];
    void *in[TGC_MAX_IN], *out[TGC_MAX_OUT];
    int ii = 0, oo = 0;
    for (int i = 0; i < n; i++) {
        if (is_out[i]) {
            if (oo == TGC_MAX_OUT) die("too many results", NULL);
            out_t[oo] = ty[i], out[oo++] = data[i];
        } else {
            if (ii == TGC_MAX_IN) die("too many operands", NULL);
            in_t[ii] = ty[i], in[ii++] = data[i];
        }
    }
    tgc_err err = {{0}};
    tgc_cpu *c = tgc_cpu_new(threads, 1, &err);
    if (!c || tgc_cpu_exec(c, (tgc_opcode)code, &a, n_in, in_t, in, n_out, out_t, out, &err) < 0) die(err.msg, NULL);
    tgc_cpu_free(c);
    for (int i = 0; i < n; i++) {
        if (is_out[i]) {
            size_t bytes = (size_t)tgc_shape_numel(&ty[i].shape) * tgc_dtype_size(ty[i].dtype);
            FILE *o = fopen(files[i], "wb");
            if (!o || fwrite(data[i], 1, bytes, o) != bytes || fclose(o) != 0) die("cannot write", files[i]);
        }
        free(data[i]);
        free(files[i]);
    }
    return 0;
}
