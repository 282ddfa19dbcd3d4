/* plan/plan_print.c - `tgc inspect`: a plan for people, and as one JSON object for tools. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "plan/plan.h"

static const char *human_bytes(uint64_t b, char *buf, size_t n) {
    if (b >= (1ull << 30)) snprintf(buf, n, "%.2f GiB", (double)b / (double)(1ull << 30));
    else if (b >= (1ull << 20)) snprintf(buf, n, "%.2f MiB", (double)b / (double)(1ull << 20));
    else if (b >= 1024) snprintf(buf, n, "%.2f KiB", (double)b / 1024.0);
    else snprintf(buf, n, "%llu B", (unsigned long long)b);
    return buf;
}

static double ratio(uint64_t a, uint64_t b) { return b ? (double)a / (double)b : 0.0; }

static void print_tensor_ref(const tgc_plan *p, int t, FILE *f) {
    const tgc_plan_tensor *pt = &p->tensors[t];
    char s[128];
    tgc_shape_str(&pt->type.shape, s, sizeof s);
    fprintf(f, "%s:%s%s%s@%s+%llu", pt->name, tgc_dtype_name(pt->type.dtype), s,
            pt->type.layout == TGC_LAYOUT_NHWC ? "{nhwc}" : "", tgc_slab_name(pt->slab), (unsigned long long)pt->offset);
}

/* The relayout instructions of a program (passes/layout.c puts them at the borders of the NHWC ops). */
static int relayouts(const tgc_program *pr) {
    int n = 0;
    for (int k = 0; k < pr->n_instr; k++) n += pr->instr[k].code == TGC_OP_RELAYOUT;
    return n;
}

static void print_mem(const tgc_mem_stats *m, FILE *f) {
    char a[32], l[32], n[32];
    fprintf(f, "arena %s, lower bound %s (arena/lower bound %.3f), naive %s (arena/naive %.3f)\n",
            human_bytes(m->arena_bytes, a, sizeof a), human_bytes(m->lower_bound_bytes, l, sizeof l),
            ratio(m->arena_bytes, m->lower_bound_bytes), human_bytes(m->naive_bytes, n, sizeof n),
            ratio(m->arena_bytes, m->naive_bytes));
}

/* What a program moves through memory per run, estimated as the op table's cost functions do (every
 * operand and result once per instruction), and the same with fusion groups (consecutive instructions
 * with one group id) counted as one kernel that reads its external inputs once and writes only the
 * results read outside the group (or program outputs, gradients, persistent state). */
typedef struct traffic {
    int kernels, groups, grouped;          /* kernels after fusion; groups and the instructions in them */
    double bytes_unfused, bytes_fused;
} traffic;

static traffic program_traffic(const tgc_plan *p, const tgc_program *pr) {
    traffic t = {0, 0, 0, 0, 0};
    int *last_read = tgc_malloc(sizeof(int) * (size_t)(p->n_tensors ? p->n_tensors : 1));
    int *mark = tgc_malloc(sizeof(int) * (size_t)(p->n_tensors ? p->n_tensors : 1));
    for (int i = 0; i < p->n_tensors; i++) last_read[i] = -1, mark[i] = -1;
    for (int k = 0; k < pr->n_instr; k++)
        for (int j = 0; j < pr->instr[k].n_in; j++) last_read[pr->instr[k].in[j]] = k;
    for (int i = 0; i < pr->n_outputs; i++) last_read[pr->outputs[i]] = pr->n_instr;
    for (int k = 0; k < pr->n_instr;) {
        int g = pr->instr[k].group, e = k + 1;
        while (g >= 0 && e < pr->n_instr && pr->instr[e].group == g) e++;
        for (int i = k; i < e; i++) {
            const tgc_instr *in = &pr->instr[i];
            for (int j = 0; j < in->n_in; j++) t.bytes_unfused += (double)p->tensors[in->in[j]].bytes;
            for (int j = 0; j < in->n_out; j++) t.bytes_unfused += (double)p->tensors[in->out[j]].bytes;
        }
        /* mark[t] == k: already counted for this kernel, or produced inside it */
        for (int i = k; i < e; i++) {
            const tgc_instr *in = &pr->instr[i];
            for (int j = 0; j < in->n_in; j++) {
                int ti = in->in[j];
                if (e - k > 1 && mark[ti] == k) continue;
                mark[ti] = k;
                t.bytes_fused += (double)p->tensors[ti].bytes;
            }
            for (int j = 0; j < in->n_out; j++) {
                int ti = in->out[j];
                const tgc_plan_tensor *pt = &p->tensors[ti];
                mark[ti] = k;
                if (e - k == 1 || last_read[ti] >= e || pt->kind != TGC_VAL_TEMP || pt->grad_of >= 0)
                    t.bytes_fused += (double)pt->bytes;
            }
        }
        t.kernels++;
        if (e - k > 1) t.groups++, t.grouped += e - k;
        k = e;
    }
    free(last_read);
    free(mark);
    return t;
}

static void print_program(const tgc_plan *p, const tgc_program *pr, FILE *f) {
    fprintf(f, "\nprogram %s: batch %lld, %d instructions, %d relayouts\n", pr->name, (long long)pr->batch,
            pr->n_instr, relayouts(pr));
    traffic tr = program_traffic(p, pr);
    fprintf(f, "  fusion: %d groups of %d instructions, %d kernels; estimated bytes moved per run %.2f MiB "
               "(%.2f MiB counting every instruction's operands)\n",
            tr.groups, tr.grouped, tr.kernels, tr.bytes_fused / 1048576.0, tr.bytes_unfused / 1048576.0);
    fprintf(f, "  inputs:");
    for (int i = 0; i < pr->n_inputs; i++) fputc(' ', f), print_tensor_ref(p, pr->inputs[i], f);
    fprintf(f, "\n  outputs:");
    for (int i = 0; i < pr->n_outputs; i++) fputc(' ', f), print_tensor_ref(p, pr->outputs[i], f);
    fputc('\n', f);
    for (int k = 0; k < pr->n_instr; k++) {
        const tgc_instr *in = &pr->instr[k];
        fprintf(f, "  [%4d] %s", k, tgc_op_table[in->code].name);
        for (int j = 0; j < in->n_in; j++) fputs(j ? ", " : " ", f), print_tensor_ref(p, in->in[j], f);
        if (in->n_out) fputs(" ->", f);
        for (int j = 0; j < in->n_out; j++) fputs(j ? ", " : " ", f), print_tensor_ref(p, in->out[j], f);
        if (in->group >= 0) fprintf(f, " group=%d", in->group);
        if (in->scope) fprintf(f, "  # %s", in->scope);
        fputc('\n', f);
    }
    uint64_t total = 0;
    for (int b = 0; b < pr->n_buckets; b++) total += pr->buckets[b].bytes;
    char hb[32];
    fprintf(f, "  buckets: %d (%s)\n", pr->n_buckets, human_bytes(total, hb, sizeof hb));
    for (int b = 0; b < pr->n_buckets; b++) {
        const tgc_plan_bucket *bk = &pr->buckets[b];
        fprintf(f, "    bucket %d: %s at grad+%llu, %d tensors, ready after [%d]:", b,
                human_bytes(bk->bytes, hb, sizeof hb), (unsigned long long)bk->offset, bk->n, bk->ready_instr);
        for (int j = 0; j < bk->n; j++) {
            const tgc_plan_tensor *t = &p->tensors[bk->tensors[j]];
            fprintf(f, " %s", t->grad_of >= 0 ? p->tensors[t->grad_of].name : t->name);
        }
        fputc('\n', f);
    }
    fprintf(f, "  memory: ");
    print_mem(&pr->mem, f);
}

static tgc_mem_stats plan_mem(const tgc_plan *p) {
    tgc_mem_stats m = {0};
    for (int i = 0; i < p->n_programs; i++) {
        const tgc_mem_stats *s = &p->programs[i].mem;
        m.arena_bytes = TGC_MAX(m.arena_bytes, s->arena_bytes);
        m.lower_bound_bytes = TGC_MAX(m.lower_bound_bytes, s->lower_bound_bytes);
        m.naive_bytes = TGC_MAX(m.naive_bytes, s->naive_bytes);
    }
    return m;
}

int64_t tgc_plan_trainable_params(const tgc_plan *p) {
    int64_t n = 0;
    unsigned char *seen = tgc_calloc((size_t)(p->n_tensors ? p->n_tensors : 1), 1); /* a gradient per program */
    for (int t = 0; t < p->n_tensors; t++) {
        int g = p->tensors[t].grad_of;
        if (g >= 0 && g < p->n_tensors && !seen[g] && p->tensors[g].kind == TGC_VAL_PARAM) {
            seen[g] = 1;
            n += tgc_shape_numel(&p->tensors[g].type.shape);
        }
    }
    free(seen);
    return n;
}

void tgc_plan_print(const tgc_plan *p, FILE *f) {
    char hb[32];
    fprintf(f, "tgc plan, format version %d, target %s, checksum 0x%08x\n", TGC_PLAN_VERSION, p->target.name,
            p->checksum);
    fprintf(f, "target %s: alignment %u B, workspace %s, transcendentals in fused groups: %s\n", p->target.name,
            p->target.alignment, human_bytes(p->target.workspace_bytes, hb, sizeof hb),
            (p->target.fuse & TGC_FUSE_TRANSCENDENTALS) ? "yes" : "no");
    fprintf(f, "params: %lld\n", (long long)p->params);
    fprintf(f, "trainable params: %lld\n", (long long)tgc_plan_trainable_params(p));
    fprintf(f, "per sample (forward): %.4f GMACs, %.4f GFLOPs\n", p->macs_per_sample / 1e9, p->flops_per_sample / 1e9);
    const tgc_optim_spec *o = &p->optim;
    if (o->kind == TGC_OPTIM_ADAMW || o->kind == TGC_OPTIM_ADAM)
        fprintf(f, "optimizer: %s lr=%g betas=(%g, %g) eps=%g weight_decay=%g\n",
                o->kind == TGC_OPTIM_ADAM ? "Adam" : "AdamW", o->lr, o->beta1, o->beta2, o->eps, o->weight_decay);
    else if (o->kind == TGC_OPTIM_LAMB)
        fprintf(f, "optimizer: Lamb lr=%g betas=(%g, %g) eps=%g weight_decay=%g max_grad_norm=%g always_adapt=%d "
                   "trust_clip=%d\n", o->lr, o->beta1, o->beta2, o->eps, o->weight_decay, o->max_grad_norm,
                o->always_adapt, o->trust_clip);
    else if (o->kind == TGC_OPTIM_RMSPROP)
        fprintf(f, "optimizer: RMSprop lr=%g alpha=%g eps=%g momentum=%g weight_decay=%g\n", o->lr, o->beta2, o->eps,
                o->momentum, o->weight_decay);
    else
        fprintf(f, "optimizer: SGD lr=%g momentum=%g dampening=%g nesterov=%d weight_decay=%g\n", o->lr,
                o->momentum, o->dampening, o->nesterov, o->weight_decay);
    if (o->clip == TGC_CLIP_NORM) fprintf(f, "clip_grad: max_norm=%g norm_type=%g\n", o->clip_max, o->clip_norm_type);
    else if (o->clip == TGC_CLIP_VALUE) fprintf(f, "clip_grad: clip_value=%g\n", o->clip_max);
    if (o->accumulative_counts > 1) fprintf(f, "accumulative_counts: %d\n", o->accumulative_counts);
    if (p->amp.dtype != TGC_F32) {
        fprintf(f, "mixed precision: %s (conv/matmul; f32 master weights, gradients and optimizer)", tgc_amp_dtype_name(p->amp.dtype));
        if (p->amp.dtype == TGC_F16 && p->amp.dynamic)
            fprintf(f, ", dynamic loss scale from %g (x2 every %d finite steps, x0.5 on inf/nan)", p->amp.init_scale,
                    p->amp.growth_interval);
        else if (p->amp.dtype == TGC_F16)
            fprintf(f, ", loss scale %g", p->amp.init_scale);
        fputc('\n', f);
        uint64_t a = plan_mem(p).arena_bytes, a32 = p->amp.fp32_arena_bytes;
        if (a32) {
            char b1[32], b2[32], b3[32];
            fprintf(f, "arena: %s in %s, %s in fp32: %s saved (%.1f%%)\n", human_bytes(a, b1, sizeof b1),
                    tgc_amp_dtype_name(p->amp.dtype), human_bytes(a32, b2, sizeof b2),
                    human_bytes(a32 > a ? a32 - a : 0, b3, sizeof b3), a32 > a ? 100.0 * (double)(a32 - a) / (double)a32 : 0.0);
        }
    } else {
        fprintf(f, "precision: fp32\n");
    }
    fprintf(f, "layout: %s (relayout instructions:", tgc_layout_name(p->layout));
    for (int i = 0; i < p->n_programs; i++)
        fprintf(f, "%s %s %d", i ? "," : "", p->programs[i].name, relayouts(&p->programs[i]));
    fprintf(f, ")\nprograms:");
    for (int i = 0; i < p->n_programs; i++)
        fprintf(f, "%s %s (batch %lld, %d instructions)", i ? "," : "", p->programs[i].name,
                (long long)p->programs[i].batch, p->programs[i].n_instr);
    fprintf(f, "\nslabs:");
    for (int s = TGC_SLAB_ARENA; s < TGC_SLAB_COUNT; s++)
        fprintf(f, "%s %s %s", s > TGC_SLAB_ARENA ? "," : "", tgc_slab_name((tgc_slab)s),
                human_bytes(p->slab_bytes[s], hb, sizeof hb));
    fprintf(f, "\ntensors: %d\n", p->n_tensors);
    for (int i = 0; i < p->n_programs; i++) print_program(p, &p->programs[i], f);
    tgc_mem_stats m = plan_mem(p);
    fprintf(f, "\nmemory (largest program): ");
    print_mem(&m, f);
    if (p->ignored && p->ignored[0]) {
        int n = 0;
        for (const char *c = p->ignored; *c; c++) n += *c == '\n';
        fprintf(f, "\naccepted but not implemented (%d):\n", n);
        for (const char *c = p->ignored; *c;) {
            size_t len = strcspn(c, "\n");
            fprintf(f, "  %.*s\n", (int)len, c);
            c += len + (c[len] == '\n');
        }
    }
}

/* ---- JSON ------------------------------------------------------------------------------------- */
/* Strings escaped so that any byte sequence gives valid JSON (bytes above 0x7f as \u00XX). */
static void json_str(FILE *f, const char *s) {
    fputc('"', f);
    for (const unsigned char *c = (const unsigned char *)(s ? s : ""); *c; c++) {
        if (*c == '"' || *c == '\\') fprintf(f, "\\%c", *c);
        else if (*c == '\n') fputs("\\n", f);
        else if (*c < 0x20 || *c >= 0x7f) fprintf(f, "\\u%04x", *c);
        else fputc(*c, f);
    }
    fputc('"', f);
}

static void json_num(FILE *f, double v) {
    if (isfinite(v)) fprintf(f, "%.17g", v);
    else fputs("null", f);
}

static void json_mem(FILE *f, const tgc_mem_stats *m) {
    fprintf(f, "{\"arena_bytes\": %llu, \"lower_bound_bytes\": %llu, \"naive_bytes\": %llu}",
            (unsigned long long)m->arena_bytes, (unsigned long long)m->lower_bound_bytes,
            (unsigned long long)m->naive_bytes);
}

static void json_tensor(FILE *f, const tgc_plan *p, int t) {
    const tgc_plan_tensor *pt = &p->tensors[t];
    fputs("{\"name\": ", f);
    json_str(f, pt->name);
    fprintf(f, ", \"dtype\": \"%s\", \"shape\": [", tgc_dtype_name(pt->type.dtype));
    for (int i = 0; i < pt->type.shape.rank; i++) fprintf(f, "%s%lld", i ? ", " : "", (long long)pt->type.shape.d[i]);
    fprintf(f, "], \"layout\": \"%s\", \"slab\": \"%s\", \"offset\": %llu, \"bytes\": %llu}",
            tgc_layout_name(pt->type.layout), tgc_slab_name(pt->slab),
            (unsigned long long)pt->offset, (unsigned long long)pt->bytes);
}

static void json_buckets(FILE *f, const tgc_plan *p, const tgc_program *pr) {
    fputc('[', f);
    for (int b = 0; b < pr->n_buckets; b++) {
        const tgc_plan_bucket *bk = &pr->buckets[b];
        fprintf(f, "%s{\"bytes\": %llu, \"offset\": %llu, \"ready_instr\": %d, \"tensors\": [", b ? ", " : "",
                (unsigned long long)bk->bytes, (unsigned long long)bk->offset, bk->ready_instr);
        for (int j = 0; j < bk->n; j++) {
            if (j) fputs(", ", f);
            json_str(f, p->tensors[bk->tensors[j]].name);
        }
        fputs("], \"params\": [", f); /* the parameters whose gradients these are */
        for (int j = 0; j < bk->n; j++) {
            const tgc_plan_tensor *t = &p->tensors[bk->tensors[j]];
            if (j) fputs(", ", f);
            json_str(f, t->grad_of >= 0 ? p->tensors[t->grad_of].name : t->name);
        }
        fputs("]}", f);
    }
    fputc(']', f);
}

void tgc_plan_print_json(const tgc_plan *p, FILE *f) {
    const tgc_optim_spec *o = &p->optim;
    fprintf(f, "{\"version\": %d, \"target\": ", TGC_PLAN_VERSION);
    json_str(f, p->target.name);
    fprintf(f, ", \"target_params\": {\"alignment\": %u, \"workspace_bytes\": %llu, \"fuse_transcendentals\": %s}",
            p->target.alignment, (unsigned long long)p->target.workspace_bytes,
            (p->target.fuse & TGC_FUSE_TRANSCENDENTALS) ? "true" : "false");
    fprintf(f, ", \"layout\": \"%s\"", tgc_layout_name(p->layout));
    fprintf(f, ", \"checksum\": \"0x%08x\", \"params\": %lld, \"trainable_params\": %lld, \"macs_per_sample\": ",
            p->checksum, (long long)p->params, (long long)tgc_plan_trainable_params(p));
    json_num(f, p->macs_per_sample);
    fputs(", \"flops_per_sample\": ", f);
    json_num(f, p->flops_per_sample);
    fprintf(f, ", \"tensors\": %d", p->n_tensors);
    static const char *const types[] = {"SGD", "AdamW", "Adam", "RMSprop", "Lamb"};
    fprintf(f, ", \"optimizer\": {\"type\": \"%s\", \"lr\": ", (unsigned)o->kind < 5 ? types[o->kind] : "?");
    json_num(f, o->lr);
    fputs(", \"weight_decay\": ", f);
    json_num(f, o->weight_decay);
    if (o->kind == TGC_OPTIM_RMSPROP) {
        fputs(", \"alpha\": ", f);
        json_num(f, o->beta2);
        fputs(", \"eps\": ", f);
        json_num(f, o->eps);
        fputs(", \"momentum\": ", f);
        json_num(f, o->momentum);
    } else if (o->kind == TGC_OPTIM_ADAMW || o->kind == TGC_OPTIM_ADAM || o->kind == TGC_OPTIM_LAMB) {
        fputs(", \"betas\": [", f);
        json_num(f, o->beta1);
        fputs(", ", f);
        json_num(f, o->beta2);
        fputs("], \"eps\": ", f);
        json_num(f, o->eps);
    } else {
        fputs(", \"momentum\": ", f);
        json_num(f, o->momentum);
        fputs(", \"dampening\": ", f);
        json_num(f, o->dampening);
        fprintf(f, ", \"nesterov\": %s", o->nesterov ? "true" : "false");
    }
    fputs("}, \"programs\": {", f);
    for (int i = 0; i < p->n_programs; i++) {
        const tgc_program *pr = &p->programs[i];
        if (i) fputs(", ", f);
        json_str(f, pr->name);
        fprintf(f, ": {\"ops\": %d, \"batch\": %lld, \"inputs\": [", pr->n_instr, (long long)pr->batch);
        for (int j = 0; j < pr->n_inputs; j++) fputs(j ? ", " : "", f), json_tensor(f, p, pr->inputs[j]);
        fputs("], \"outputs\": [", f);
        for (int j = 0; j < pr->n_outputs; j++) fputs(j ? ", " : "", f), json_tensor(f, p, pr->outputs[j]);
        fputs("], \"memory\": ", f);
        json_mem(f, &pr->mem);
        fputs(", \"buckets\": ", f);
        json_buckets(f, p, pr);
        traffic tr = program_traffic(p, pr);
        fprintf(f, ", \"kernels\": %d, \"fusion_groups\": %d, \"fused_ops\": %d, \"bytes_moved\": %.0f, "
                   "\"bytes_moved_unfused\": %.0f, \"relayouts\": %d}",
                tr.kernels, tr.groups, tr.grouped, tr.bytes_fused, tr.bytes_unfused, relayouts(pr));
    }
    fputs("}, \"ignored\": [", f);
    for (const char *c = p->ignored ? p->ignored : ""; *c;) {
        size_t len = strcspn(c, "\n");
        char *line = tgc_asprintf("%.*s", (int)len, c);
        fputs(c == p->ignored ? "" : ", ", f);
        json_str(f, line);
        free(line);
        c += len + (c[len] == '\n');
    }
    fputs("]", f);
    tgc_mem_stats m = plan_mem(p);
    fprintf(f, ", \"memory\": {\"arena_bytes\": %llu, \"lower_bound_bytes\": %llu, \"naive_bytes\": %llu",
            (unsigned long long)m.arena_bytes, (unsigned long long)m.lower_bound_bytes,
            (unsigned long long)m.naive_bytes);
    if (p->amp.dtype != TGC_F32)
        fprintf(f, ", \"precision\": \"%s\", \"fp32_arena_bytes\": %llu, \"arena_bytes_saved\": %llu",
                tgc_amp_dtype_name(p->amp.dtype), (unsigned long long)p->amp.fp32_arena_bytes,
                (unsigned long long)(p->amp.fp32_arena_bytes > m.arena_bytes ? p->amp.fp32_arena_bytes - m.arena_bytes : 0));
    for (int i = 0; i < p->n_programs; i++) {
        fputs(", ", f);
        json_str(f, p->programs[i].name);
        fputs(": ", f);
        json_mem(f, &p->programs[i].mem);
    }
    fputs(", \"slabs\": {", f);
    for (int s = TGC_SLAB_ARENA; s < TGC_SLAB_COUNT; s++)
        fprintf(f, "%s\"%s\": %llu", s > TGC_SLAB_ARENA ? ", " : "", tgc_slab_name((tgc_slab)s),
                (unsigned long long)p->slab_bytes[s]);
    fputs("}}, \"buckets\": ", f);
    /* The plan's buckets: those of the program that reduces gradients (train). */
    const tgc_program *bp = NULL;
    for (int i = 0; i < p->n_programs; i++)
        if (p->programs[i].n_buckets > 0 && !bp) bp = &p->programs[i];
    if (bp) json_buckets(f, p, bp);
    else fputs("[]", f);
    fputs("}\n", f);
}
