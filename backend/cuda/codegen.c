/* backend/cuda/codegen.c - one CUDA kernel's text per elementwise fusion group (see codegen.h).
 *
 * The text has four parts, in order: a prelude (the macros that make it CUDA C++ unless the host header
 * made it C, and the cast helpers when a cast needs them), a comment listing the group's instructions, the
 * signature, and the loop body: loads of the external operands at i, the channel indices of the broadcast
 * operands, one `const` register per instruction, stores of the live-out results. Everything in it is a
 * function of the group's ops, attributes, dtypes, broadcast constants and aliasing, and nothing of the
 * plan's names or offsets, so equal groups in different layers give equal text and one compiled kernel. */
#include "backend/cuda/codegen.h"

#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define NAME_PREFIX "tgc_fused_"
#define HASH_DIGITS 16

/* ---- hashing --------------------------------------------------------------------------------------- */

uint64_t tgc_codegen_fnv(uint64_t h, const void *data, size_t len) {
    const unsigned char *p = data;
    for (size_t i = 0; i < len; i++) {
        h ^= p[i];
        h *= 0x100000001b3ull;
    }
    return h;
}

static int is_hex(char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); }

uint64_t tgc_codegen_source_hash(const char *s, size_t len) {
    static const char zeros[HASH_DIGITS + 1] = "0000000000000000";
    const size_t pl = sizeof NAME_PREFIX - 1;
    uint64_t h = TGC_FNV_OFFSET;
    size_t i = 0, from = 0;
    while (i + pl + HASH_DIGITS <= len) {
        if (memcmp(s + i, NAME_PREFIX, pl) != 0) {
            i++;
            continue;
        }
        int digits = 1;
        for (size_t d = 0; d < HASH_DIGITS && digits; d++) digits = is_hex(s[i + pl + d]);
        if (!digits) {
            i++;
            continue;
        }
        h = tgc_codegen_fnv(h, s + from, i + pl - from);
        h = tgc_codegen_fnv(h, zeros, HASH_DIGITS);
        i += pl + HASH_DIGITS;
        from = i;
    }
    return tgc_codegen_fnv(h, s + from, len - from);
}

/* ---- the ops --------------------------------------------------------------------------------------- */

int tgc_codegen_supports_op(tgc_opcode code) {
    switch (code) {
    case TGC_OP_BIAS_ADD:
    case TGC_OP_ADD:
    case TGC_OP_SCALE:
    case TGC_OP_RELU:
    case TGC_OP_TANH:
    case TGC_OP_RELU_BWD:
    case TGC_OP_TANH_BWD:
    case TGC_OP_SIGMOID:
    case TGC_OP_SIGMOID_BWD:
    case TGC_OP_CAST: return 1;
    default: return 0;
    }
}

int tgc_codegen_groups(const tgc_program *pr, tgc_codegen_group **out) {
    *out = NULL;
    int n = 0, cap = 0;
    for (int k = 0; k < pr->n_instr;) {
        int g = pr->instr[k].group, e = k + 1;
        while (g >= 0 && e < pr->n_instr && pr->instr[e].group == g) e++;
        unsigned code = (unsigned)pr->instr[k].code;
        if (g >= 0 && code < TGC_OP_COUNT && !(tgc_op_table[code].flags & TGC_OPF_OPTIMIZER)) {
            TGC_GROW(*out, cap, n + 1);
            (*out)[n++] = (tgc_codegen_group){k, e - k, g};
        }
        k = e;
    }
    return n;
}

/* The C type a value of dtype has in registers and in memory (f16 and bf16 as their bits). */
static const char *ctype(tgc_dtype t) {
    switch (t) {
    case TGC_F32: return "float";
    case TGC_F16:
    case TGC_BF16: return "unsigned short";
    case TGC_I32: return "int";
    case TGC_I64: return "long long";
    default: return "unsigned char";
    }
}

/* A float literal that reads back as exactly f. */
static void f32_literal(float f, char *buf, size_t n) {
    if (!isfinite(f)) {
        uint32_t u;
        memcpy(&u, &f, sizeof u);
        snprintf(buf, n, "__uint_as_float(0x%08" PRIx32 "u)", u);
        return;
    }
    char t[48];
    snprintf(t, sizeof t, "%.9g", (double)f);
    snprintf(buf, n, "%s%sf", t, strpbrk(t, ".e") ? "" : ".");
}

/* backend/cpu/cpu_cast.c's conversions, operation for operation: each helper a text of its own, emitted
 * only where a cast uses it (NVRTC warns about unused static functions) and guarded so that several kernels
 * can share a translation unit. */
enum { H_BF16_F32 = 1, H_F32_BF16 = 2, H_F16_F32 = 4, H_F32_F16 = 8, H_SAT = 16 };

static const struct {
    unsigned bit;
    const char *text;
} cast_helpers[] = {
    {H_BF16_F32, "#ifndef TGC_CODEGEN_BF16_TO_F32\n"
                 "#define TGC_CODEGEN_BF16_TO_F32\n"
                 "TGC_INLINE float tgc_bf16_to_f32(unsigned short h) { return __uint_as_float((unsigned int)h << 16); }\n"
                 "#endif\n"},
    {H_F32_BF16, "#ifndef TGC_CODEGEN_F32_TO_BF16\n"
                 "#define TGC_CODEGEN_F32_TO_BF16\n"
                 "TGC_INLINE unsigned short tgc_f32_to_bf16(float f) { /* round to nearest even */\n"
                 "    unsigned int u = __float_as_uint(f);\n"
                 "    if ((u & 0x7fffffffu) > 0x7f800000u) return (unsigned short)((u >> 16) | 0x40u); /* quiet NaN */\n"
                 "    u += 0x7fffu + ((u >> 16) & 1u);\n"
                 "    return (unsigned short)(u >> 16);\n"
                 "}\n"
                 "#endif\n"},
    {H_F16_F32, "#ifndef TGC_CODEGEN_F16_TO_F32\n"
                "#define TGC_CODEGEN_F16_TO_F32\n"
                "TGC_INLINE float tgc_f16_to_f32(unsigned short h) {\n"
                "    unsigned int sign = (unsigned int)(h & 0x8000u) << 16, e = (h >> 10) & 0x1fu, m = h & 0x3ffu;\n"
                "    if (e == 0x1fu) return __uint_as_float(sign | 0x7f800000u | (m ? 0x400000u : 0u) | (m << 13)); /* NaN: quiet */\n"
                "    if (e == 0u) {\n"
                "        float v = (float)m * 5.9604644775390625e-8f; /* m * 2^-24, exact */\n"
                "        return sign ? -v : v;\n"
                "    }\n"
                "    return __uint_as_float(sign | ((e + 112u) << 23) | (m << 13));\n"
                "}\n"
                "#endif\n"},
    {H_F32_F16, "#ifndef TGC_CODEGEN_F32_TO_F16\n"
                "#define TGC_CODEGEN_F32_TO_F16\n"
                "TGC_INLINE unsigned short tgc_f32_to_f16(float f) { /* round to nearest even */\n"
                "    unsigned int u = __float_as_uint(f), sign = (u >> 16) & 0x8000u, a = u & 0x7fffffffu;\n"
                "    if (a > 0x7f800000u) return (unsigned short)(sign | 0x7e00u);  /* NaN */\n"
                "    if (a >= 0x477ff000u) return (unsigned short)(sign | 0x7c00u); /* rounds to >= 65520: inf */\n"
                "    if (a < 0x38800000u) {                                         /* f16 subnormal or zero */\n"
                "        if (a < 0x33000000u) return (unsigned short)sign;\n"
                "        unsigned int mant = (a & 0x7fffffu) | 0x800000u;\n"
                "        int shift = 126 - (int)(a >> 23);\n"
                "        unsigned int q = mant >> shift, rem = mant & ((1u << shift) - 1u), half = 1u << (shift - 1);\n"
                "        if (rem > half || (rem == half && (q & 1u))) q++;\n"
                "        return (unsigned short)(sign | q);\n"
                "    }\n"
                "    unsigned int r = a - 0x38000000u;\n"
                "    r += 0xfffu + ((r >> 13) & 1u);\n"
                "    return (unsigned short)(sign | (r >> 13));\n"
                "}\n"
                "#endif\n"},
    {H_SAT, "#ifndef TGC_CODEGEN_SAT\n"
            "#define TGC_CODEGEN_SAT\n"
            "TGC_INLINE long long tgc_sat(double v, double lo, double hi) { /* v truncated toward zero into [lo, hi] */\n"
            "    if (v != v) return 0;\n"
            "    if (v <= lo) return (long long)lo;\n"
            "    if (v >= hi) return (long long)hi;\n"
            "    return (long long)v;\n"
            "}\n"
            "#endif\n"},
};

/* The helpers cast_expr uses for tx -> ty. */
static unsigned cast_needs(tgc_dtype tx, tgc_dtype ty) {
    if (tx == ty) return 0;
    unsigned h = tx == TGC_F16 ? H_F16_F32 : tx == TGC_BF16 ? H_BF16_F32 : 0;
    if (ty == TGC_F16) h |= H_F32_F16;
    else if (ty == TGC_BF16) h |= H_F32_BF16;
    else if (ty != TGC_F32) h |= H_SAT;
    return h;
}

/* ---- generation ------------------------------------------------------------------------------------ */

/* An operand as the body sees it. */
typedef struct operand {
    int reg;   /* >= 0: v<reg>, the result of the group's instruction reg */
    int arg;   /* else the argument: x<k> (in<k> loaded at i) or in<k>[c<chan>] (broadcast), k its input number */
    int chan;  /* broadcast: which channel index */
} operand;

typedef struct chan_index {
    int64_t inner, ch;
} chan_index;

typedef struct gen {
    const tgc_plan *p;
    const tgc_program *pr;
    int first, count;
    int64_t n;
    int index64;
    tgc_codegen_arg *args;
    int n_args, cap_args;
    chan_index *chans;
    int n_chans, cap_chans;
    operand (*ops)[TGC_MAX_IN]; /* per instruction */
    unsigned char *live;       /* per instruction: its result is stored */
    unsigned casts; /* the cast helpers the text needs */
    tgc_err *err;
} gen;

static const tgc_plan_tensor *tensor(const gen *g, int t) { return &g->p->tensors[t]; }

static int fail_at(gen *g, int i, const char *why, const char *what) {
    const tgc_instr *in = &g->pr->instr[g->first + i];
    const char *op = (unsigned)in->code < TGC_OP_COUNT ? tgc_op_table[in->code].name : "?";
    return tgc_fail(g->err, "codegen: program %s, instruction %d (%s) of fusion group %d: %s%s", g->pr->name,
                    g->first + i, op, in->group, why, what ? what : "");
}

static int add_arg(gen *g, int t, int output, int broadcast) {
    for (int a = 0; a < g->n_args; a++)
        if (g->args[a].tensor == t && g->args[a].output == output && g->args[a].broadcast == broadcast) return a;
    TGC_GROW(g->args, g->cap_args, g->n_args + 1);
    g->args[g->n_args] = (tgc_codegen_arg){t, output, broadcast, 0, tensor(g, t)->type.dtype};
    return g->n_args++;
}

static int add_chan(gen *g, int64_t inner, int64_t ch) {
    for (int c = 0; c < g->n_chans; c++)
        if (g->chans[c].inner == inner && g->chans[c].ch == ch) return c;
    TGC_GROW(g->chans, g->cap_chans, g->n_chans + 1);
    g->chans[g->n_chans] = (chan_index){inner, ch};
    return g->n_chans++;
}

/* Is tensor t read after the group, or otherwise needed once the group has run? */
static int live_out(const gen *g, int t) {
    const tgc_plan_tensor *pt = tensor(g, t);
    if (pt->kind != TGC_VAL_TEMP || pt->slab != TGC_SLAB_ARENA || pt->grad_of >= 0) return 1;
    for (int k = 0; k < g->pr->n_outputs; k++)
        if (g->pr->outputs[k] == t) return 1;
    for (int k = 0; k < g->pr->n_instr; k++) {
        if (k >= g->first && k < g->first + g->count) continue;
        const tgc_instr *in = &g->pr->instr[k];
        for (int j = 0; j < in->n_in; j++)
            if (in->in[j] == t) return 1;
    }
    return 0;
}

static int tensor_ok(const gen *g, int t) { return t >= 0 && t < g->p->n_tensors; }

/* Reads the group: operands, broadcast constants, live-outs. */
static int analyse(gen *g) {
    const tgc_plan *p = g->p;
    int *made_by = tgc_malloc(sizeof(int) * (size_t)(p->n_tensors ? p->n_tensors : 1)); /* group-relative */
    for (int t = 0; t < p->n_tensors; t++) made_by[t] = -1;
    int rc = 0, lay = -1;
    for (int i = 0; i < g->count && rc == 0; i++) {
        const tgc_instr *in = &g->pr->instr[g->first + i];
        if ((unsigned)in->code >= TGC_OP_COUNT) {
            rc = fail_at(g, i, "not an op", NULL);
            break;
        }
        const tgc_op_info *info = &tgc_op_table[in->code];
        if (!(info->flags & TGC_OPF_ELEMENTWISE) || in->n_out != 1) {
            rc = fail_at(g, i, "not an elementwise op with one result", NULL);
            break;
        }
        if (!tgc_codegen_supports_op(in->code)) {
            rc = fail_at(g, i, "no CUDA expression for this op in backend/cuda/codegen.c", NULL);
            break;
        }
        if (in->n_in != info->n_in || !tensor_ok(g, in->out[0])) {
            rc = fail_at(g, i, "operand count or tensor index out of range", NULL);
            break;
        }
        for (int j = 0; j < in->n_in && rc == 0; j++)
            if (!tensor_ok(g, in->in[j])) rc = fail_at(g, i, "tensor index out of range", NULL);
        if (rc) break;
        const tgc_plan_tensor *y = tensor(g, in->out[0]);
        int64_t n = tgc_shape_numel(&y->type.shape);
        if (i == 0) g->n = n;
        if (n != g->n) {
            rc = fail_at(g, i, "its result's element count differs from the group's", NULL);
            break;
        }
        if (in->code == TGC_OP_CAST) {
            if (y->type.dtype != in->attrs.dtype) rc = fail_at(g, i, "result dtype is not attrs.dtype", NULL);
            if (tensor(g, in->in[0])->type.dtype >= TGC_DTYPE_COUNT || y->type.dtype >= TGC_DTYPE_COUNT)
                rc = fail_at(g, i, "unknown dtype", NULL);
            if (rc == 0) g->casts |= cast_needs(tensor(g, in->in[0])->type.dtype, y->type.dtype);
        } else {
            /* as the CPU's fused loop: f32, bf16 or f16 data computed in f32; operands of the result's dtype
             * (bias_add's bias f32) */
            tgc_dtype ty = y->type.dtype;
            if (ty != TGC_F32 && ty != TGC_BF16 && ty != TGC_F16)
                rc = fail_at(g, i, "a result that is not f32, bf16 or f16: ", tgc_dtype_name(ty));
            for (int j = 0; j < in->n_in && rc == 0; j++) {
                tgc_dtype want = in->code == TGC_OP_BIAS_ADD && j == 1 ? TGC_F32 : ty;
                if (tensor(g, in->in[j])->type.dtype != want)
                    rc = fail_at(g, i, j == 1 && in->code == TGC_OP_BIAS_ADD ? "a bias that is not f32: "
                                                                             : "an operand of another dtype than the result: ",
                                 tgc_dtype_name(tensor(g, in->in[j])->type.dtype));
            }
            if (rc == 0 && ty == TGC_BF16) g->casts |= H_BF16_F32 | H_F32_BF16;
            if (rc == 0 && ty == TGC_F16) g->casts |= H_F16_F32 | H_F32_F16;
        }
        /* one layout for the group's rank-4 values (the layout pass's rule; elementwise loops do not care
         * which, but a broadcast index and a mix of layouts do) */
        for (int j = -1; j < in->n_in && rc == 0; j++) {
            const tgc_type *t = &tensor(g, j < 0 ? in->out[0] : in->in[j])->type;
            if (t->shape.rank != 4 || (in->code == TGC_OP_BIAS_ADD && j == 1)) continue;
            if (lay < 0) lay = (int)t->layout;
            else if (lay != (int)t->layout) rc = fail_at(g, i, "NHWC and row-major values in one group", NULL);
        }
        for (int j = 0; j < in->n_in && rc == 0; j++) {
            int t = in->in[j];
            operand *o = &g->ops[i][j];
            *o = (operand){-1, -1, -1};
            if (made_by[t] >= 0) {
                o->reg = made_by[t];
                continue;
            }
            int bcast = in->code == TGC_OP_BIAS_ADD && j == 1;
            if (!bcast && tgc_shape_numel(&tensor(g, t)->type.shape) != g->n) {
                rc = fail_at(g, i, "an operand whose element count differs from the group's", NULL);
                break;
            }
            if (bcast) {
                const tgc_shape *x = &tensor(g, in->in[0])->type.shape, *b = &tensor(g, t)->type.shape;
                int64_t axis = in->attrs.axis;
                if (axis < 0 || axis >= x->rank) {
                    rc = fail_at(g, i, "a bias_add axis outside its tensor", NULL);
                    break;
                }
                int64_t inner = 1, ch = x->d[axis];
                for (int d = (int)axis + 1; d < x->rank; d++) inner *= x->d[d];
                if (tensor(g, in->in[0])->type.layout == TGC_LAYOUT_NHWC) { /* [N,H,W,C]: the channel is i % C */
                    if (x->rank != 4 || axis != 1) {
                        rc = fail_at(g, i, "an NHWC bias_add whose axis is not the channel (1)", NULL);
                        break;
                    }
                    inner = 1;
                }
                if (b->rank != 1 || b->d[0] != ch || ch < 1 || inner < 1) {
                    rc = fail_at(g, i, "a bias that does not match its axis", NULL);
                    break;
                }
                o->chan = add_chan(g, inner, ch);
            }
            o->arg = add_arg(g, t, 0, bcast);
        }
        made_by[in->out[0]] = i;
    }
    free(made_by);
    if (rc) return rc;
    /* Live-outs: stored, in instruction order. A group whose results nobody reads still stores its last. */
    int any = 0;
    for (int i = 0; i < g->count; i++) {
        g->live[i] = (unsigned char)live_out(g, g->pr->instr[g->first + i].out[0]);
        any |= g->live[i];
    }
    if (!any) g->live[g->count - 1] = 1;
    for (int i = 0; i < g->count; i++)
        if (g->live[i]) add_arg(g, g->pr->instr[g->first + i].out[0], 1, 0);
    g->index64 = g->n >= ((int64_t)1 << 31);
    return 0;
}

static int overlap(const tgc_plan_tensor *a, const tgc_plan_tensor *b) {
    if (!a->bytes || !b->bytes) return 0;
    if (a->slab == TGC_SLAB_NONE || b->slab == TGC_SLAB_NONE) return 1; /* unplaced: anything may alias */
    return a->slab == b->slab && a->offset < b->offset + b->bytes && b->offset < a->offset + a->bytes;
}

/* __restrict__ where no other argument's memory overlaps one that is written; refuses a broadcast operand
 * or a partial overlap with a result (a thread would read an element another thread writes). */
static int aliasing(gen *g) {
    for (int a = 0; a < g->n_args; a++) {
        const tgc_plan_tensor *ta = tensor(g, g->args[a].tensor);
        int alone = 1;
        for (int b = 0; b < g->n_args; b++) {
            if (b == a || !(g->args[a].output || g->args[b].output)) continue;
            const tgc_plan_tensor *tb = tensor(g, g->args[b].tensor);
            if (!overlap(ta, tb)) continue;
            alone = 0;
            if (g->args[a].broadcast || g->args[b].broadcast)
                return tgc_fail(g->err, "codegen: program %s, fusion group %d: broadcast operand '%s' overlaps result '%s'",
                                g->pr->name, g->pr->instr[g->first].group, g->args[a].broadcast ? ta->name : tb->name,
                                g->args[a].broadcast ? tb->name : ta->name);
            if (ta->slab != tb->slab || ta->offset != tb->offset || ta->bytes != tb->bytes ||
                tgc_dtype_size(ta->type.dtype) != tgc_dtype_size(tb->type.dtype))
                return tgc_fail(g->err, "codegen: program %s, fusion group %d: '%s' and '%s' overlap other than element "
                                "for element", g->pr->name, g->pr->instr[g->first].group, ta->name, tb->name);
        }
        g->args[a].restricted = alone;
    }
    return 0;
}

/* An argument's number among the inputs (in<k>, loaded into x<k>) or among the outputs (out<k>). */
static int arg_label(const gen *g, int a) {
    int k = 0;
    for (int b = 0; b < a; b++) k += g->args[b].output == g->args[a].output;
    return k;
}

static void name_operand(const gen *g, const operand *o, char *buf, size_t n) {
    if (o->reg >= 0) snprintf(buf, n, "v%d", o->reg);
    else if (g->args[o->arg].broadcast) snprintf(buf, n, "in%d[c%d]", arg_label(g, o->arg), o->chan);
    else snprintf(buf, n, "x%d", arg_label(g, o->arg));
}

static const char *as_float(tgc_dtype t) { /* a float from a float-like register */
    return t == TGC_F16 ? "tgc_f16_to_f32" : t == TGC_BF16 ? "tgc_bf16_to_f32" : "";
}

/* cast x of dtype tx to ty, as backend/cpu/cpu_cast.c: through float between the float types (the CPU's
 * double holds the float exactly), through double where an integer is involved. */
static void cast_expr(tgc_buf *b, const char *x, tgc_dtype tx, tgc_dtype ty) {
    int fx = tx == TGC_F32 || tx == TGC_F16 || tx == TGC_BF16, fy = ty == TGC_F32 || ty == TGC_F16 || ty == TGC_BF16;
    if (tx == ty) {
        tgc_buf_printf(b, "%s", x);
        return;
    }
    char src[96];
    if (fx && tx != TGC_F32) snprintf(src, sizeof src, "%s%s(%s)", fy ? "" : "(double)", as_float(tx), x);
    else snprintf(src, sizeof src, "%s%s", fy && fx ? "" : "(double)", x);
    switch (ty) {
    case TGC_F32: tgc_buf_printf(b, fx ? "%s" : "(float)%s", src); break;
    case TGC_F16: tgc_buf_printf(b, fx ? "tgc_f32_to_f16(%s)" : "tgc_f32_to_f16((float)%s)", src); break;
    case TGC_BF16: tgc_buf_printf(b, fx ? "tgc_f32_to_bf16(%s)" : "tgc_f32_to_bf16((float)%s)", src); break;
    case TGC_I32: tgc_buf_printf(b, "(int)tgc_sat(%s, -2147483648.0, 2147483647.0)", src); break;
    case TGC_I64: tgc_buf_printf(b, "tgc_sat(%s, -9223372036854775808.0, 9223372036854774784.0)", src); break;
    default: tgc_buf_printf(b, "(unsigned char)tgc_sat(%s, 0.0, 255.0)", src); break;
    }
}

/* An operand as a float expression: bf16/f16 registers and loads hold the bits, widened where used. */
static void float_operand(const gen *g, int i, int j, char *buf, size_t n) {
    const tgc_instr *in = &g->pr->instr[g->first + i];
    tgc_dtype t = tensor(g, in->in[j])->type.dtype;
    char raw[64];
    name_operand(g, &g->ops[i][j], raw, sizeof raw);
    if (in->code != TGC_OP_CAST && (t == TGC_BF16 || t == TGC_F16)) snprintf(buf, n, "%s(%s)", as_float(t), raw);
    else snprintf(buf, n, "%s", raw);
}

static void expr(const gen *g, int i, tgc_buf *b) {
    const tgc_instr *in = &g->pr->instr[g->first + i];
    char a[96] = "", c[96] = "", lit[64];
    float_operand(g, i, 0, a, sizeof a);
    if (in->n_in > 1) float_operand(g, i, 1, c, sizeof c);
    /* a bf16/f16 result: computed in f32, rounded to nearest even once (the CPU's store of each op) */
    tgc_dtype ty = tensor(g, in->out[0])->type.dtype;
    int round = in->code != TGC_OP_CAST && (ty == TGC_BF16 || ty == TGC_F16);
    if (round) tgc_buf_printf(b, "%s(", ty == TGC_BF16 ? "tgc_f32_to_bf16" : "tgc_f32_to_f16");
    switch (in->code) {
    case TGC_OP_BIAS_ADD:
    case TGC_OP_ADD: tgc_buf_printf(b, "%s + %s", a, c); break;
    case TGC_OP_SCALE:
        f32_literal((float)in->attrs.alpha, lit, sizeof lit);
        tgc_buf_printf(b, "__fmul_rn(%s, %s)", lit, a);
        break;
    case TGC_OP_RELU: tgc_buf_printf(b, "%s > 0.f ? %s : 0.f", a, a); break;
    case TGC_OP_TANH: tgc_buf_printf(b, "tanhf(%s)", a); break;
    case TGC_OP_RELU_BWD: tgc_buf_printf(b, "__fmul_rn(%s, %s > 0.f ? 1.f : 0.f)", a, c); break;
    case TGC_OP_TANH_BWD: tgc_buf_printf(b, "__fmul_rn(%s, 1.f - __fmul_rn(%s, %s))", a, c, c); break;
    /* expf(-x) overflows to inf below -88: 1/inf = +0, as the CPU loop and oneDNN's logistic. */
    case TGC_OP_SIGMOID: tgc_buf_printf(b, "1.f / (1.f + expf(-%s))", a); break;
    case TGC_OP_SIGMOID_BWD: tgc_buf_printf(b, "__fmul_rn(__fmul_rn(%s, %s), 1.f - %s)", a, c, c); break;
    case TGC_OP_CAST:
        cast_expr(b, a, tensor(g, in->in[0])->type.dtype, tensor(g, in->out[0])->type.dtype);
        break;
    default: break;
    }
    if (round) tgc_buf_printf(b, ")");
}

static const char prelude[] =
    "#ifndef TGC_EXTERN_C /* CUDA C++; backend/cuda/codegen_host.h defines these to make the text C */\n"
    "#define TGC_EXTERN_C extern \"C\"\n"
    "#define TGC_INLINE static __device__ __forceinline__\n"
    "#endif\n";

static void emit(gen *g, tgc_buf *b, size_t *name_at) {
    const char *it = g->index64 ? "unsigned long long" : "unsigned int";
    const char *us = g->index64 ? "ull" : "u";
    tgc_buf_printf(b, "%s", prelude);
    for (size_t h = 0; h < sizeof cast_helpers / sizeof cast_helpers[0]; h++)
        if (g->casts & cast_helpers[h].bit) tgc_buf_printf(b, "%s", cast_helpers[h].text);
    /* the group, for people */
    tgc_buf_printf(b, "/* A fusion group of %d elementwise instructions (backend/cuda/codegen.c):\n", g->count);
    for (int i = 0; i < g->count; i++) {
        const tgc_instr *in = &g->pr->instr[g->first + i];
        tgc_buf_printf(b, " *   v%d = %s(", i, tgc_op_table[in->code].name);
        for (int j = 0; j < in->n_in; j++) {
            char a[64];
            name_operand(g, &g->ops[i][j], a, sizeof a);
            tgc_buf_printf(b, "%s%s", j ? ", " : "", a);
        }
        tgc_buf_printf(b, ")");
        if (in->code == TGC_OP_BIAS_ADD) tgc_buf_printf(b, ", axis %lld", (long long)in->attrs.axis);
        if (in->code == TGC_OP_CAST)
            tgc_buf_printf(b, " %s -> %s", tgc_dtype_name(tensor(g, in->in[0])->type.dtype),
                           tgc_dtype_name(tensor(g, in->out[0])->type.dtype));
        tgc_buf_printf(b, "\n");
    }
    tgc_buf_printf(b, " * n elements, one per loop iteration of a grid-stride loop; n%s. */\n",
                   g->index64 ? " any size (64-bit index)" : " and grid x block below 2^31 (32-bit index)");
    /* signature */
    tgc_buf_printf(b, "TGC_EXTERN_C __global__ void __launch_bounds__(%d) ", TGC_CODEGEN_BLOCK);
    *name_at = b->len + sizeof NAME_PREFIX - 1;
    tgc_buf_printf(b, NAME_PREFIX "%0*d(long long n", HASH_DIGITS, 0);
    for (int a = 0; a < g->n_args; a++) {
        const tgc_codegen_arg *ar = &g->args[a];
        tgc_buf_printf(b, ",\n        %s%s *%s%s%d", ar->output ? "" : "const ", ctype(ar->dtype),
                       ar->restricted ? "__restrict__ " : "", ar->output ? "out" : "in", arg_label(g, a));
    }
    tgc_buf_printf(b, ") {\n");
    tgc_buf_printf(b, "    for (%s i = (%s)blockIdx.x * blockDim.x + threadIdx.x; i < (%s)n; i += (%s)gridDim.x * blockDim.x) {\n",
                   it, it, it, it);
    for (int a = 0; a < g->n_args; a++)
        if (!g->args[a].output && !g->args[a].broadcast)
            tgc_buf_printf(b, "        const %s x%d = in%d[i];\n", ctype(g->args[a].dtype), arg_label(g, a), arg_label(g, a));
    for (int c = 0; c < g->n_chans; c++) {
        const chan_index *ci = &g->chans[c];
        if (ci->ch == 1) tgc_buf_printf(b, "        const %s c%d = 0;\n", it, c);
        else if (ci->inner == 1) tgc_buf_printf(b, "        const %s c%d = i %% %lld%s;\n", it, c, (long long)ci->ch, us);
        else if (ci->inner * ci->ch == g->n)
            tgc_buf_printf(b, "        const %s c%d = i / %lld%s;\n", it, c, (long long)ci->inner, us);
        else
            tgc_buf_printf(b, "        const %s c%d = (i / %lld%s) %% %lld%s;\n", it, c, (long long)ci->inner, us,
                           (long long)ci->ch, us);
    }
    for (int i = 0; i < g->count; i++) {
        const tgc_instr *in = &g->pr->instr[g->first + i];
        tgc_buf_printf(b, "        const %s v%d = ", ctype(tensor(g, in->out[0])->type.dtype), i);
        expr(g, i, b);
        tgc_buf_printf(b, ";\n");
    }
    for (int i = 0; i < g->count; i++) {
        if (!g->live[i]) continue;
        int t = g->pr->instr[g->first + i].out[0];
        for (int a = 0; a < g->n_args; a++)
            if (g->args[a].output && g->args[a].tensor == t)
                tgc_buf_printf(b, "        out%d[i] = v%d;\n", arg_label(g, a), i);
    }
    tgc_buf_printf(b, "    }\n}\n");
}

int tgc_codegen_group_kernel(const tgc_plan *p, const tgc_program *pr, int first, int count, tgc_codegen_kernel *k,
                             tgc_err *err) {
    memset(k, 0, sizeof *k);
    if (!p || !pr || first < 0 || count < 1 || first + count > pr->n_instr)
        return tgc_fail(err, "codegen: instructions [%d, %d) are not a group of the program", first, first + count);
    gen g;
    memset(&g, 0, sizeof g);
    g.p = p;
    g.pr = pr;
    g.first = first;
    g.count = count;
    g.err = err;
    g.ops = tgc_calloc((size_t)count, sizeof *g.ops);
    g.live = tgc_calloc((size_t)count, 1);
    int rc = analyse(&g);
    if (rc == 0) rc = aliasing(&g);
    if (rc == 0) {
        tgc_buf b = {0};
        size_t name_at = 0;
        emit(&g, &b, &name_at);
        tgc_buf_u8(&b, 0);
        k->hash = tgc_codegen_source_hash((const char *)b.data, b.len - 1);
        char digits[HASH_DIGITS + 1];
        snprintf(digits, sizeof digits, "%016" PRIx64, k->hash);
        memcpy(b.data + name_at, digits, HASH_DIGITS);
        snprintf(k->name, sizeof k->name, NAME_PREFIX "%s", digits);
        k->source = (char *)b.data;
        k->first = first;
        k->count = count;
        k->numel = g.n;
        k->index64 = g.index64;
        k->n_args = g.n_args;
        k->args = g.args;
        g.args = NULL;
    }
    free(g.args);
    free(g.chans);
    free(g.ops);
    free(g.live);
    return rc;
}

void tgc_codegen_kernel_free(tgc_codegen_kernel *k) {
    if (!k) return;
    free(k->source);
    free(k->args);
    memset(k, 0, sizeof *k);
}

void tgc_codegen_host_unit(const tgc_codegen_kernel *const *k, int n, tgc_buf *out) {
    tgc_buf_printf(out, "/* host check of generated kernels: C17 through backend/cuda/codegen_host.h */\n"
                        "#include \"backend/cuda/codegen_host.h\"\n");
    for (int i = 0; i < n; i++) {
        tgc_buf_printf(out, "\n%s\nvoid %s_host(long long n, void *const *args) {\n    %s(n", k[i]->source, k[i]->name,
                       k[i]->name);
        for (int a = 0; a < k[i]->n_args; a++) tgc_buf_printf(out, ", args[%d]", a);
        tgc_buf_printf(out, ");\n}\n");
    }
}
