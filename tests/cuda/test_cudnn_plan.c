/* cuDNN descriptors and operation graphs (backend/cuda/cudnn_plan.h) of every convolution, batch norm and
 * pooling instruction of every shipped config (configs/ outside _base_, --target cpu and cuda), built and
 * validated without a GPU: every descriptor finalizes, cuDNN's output dimensions equal the plan's shapes, the
 * derived BN descriptor equals the statistics tensors, each graph finalizes and has engines. Then:
 *   - batch_norm_eval, which the shipped plans fold away: one config compiled with fold-bn disabled;
 *   - hand-written IR: a grouped, dilated convolution with asymmetric padding (graph only: the legacy API has
 *     symmetric padding), a ceil-mode max pool, an average pool that excludes padding, their backward ops;
 *     the same plans with NHWC strides and with bf16 data;
 *   - NHWC activations (the cuda plans compiled with --layout nhwc, fp32, --amp and --fp16; weights stay
 *     KCRS): every instruction validated, and deviceless execution plans of every
 *     distinct NHWC convolution of the ResNet configs (f32, bf16, f16); the signature carries the layout;
 *   - corrupted plans (a result shape, a stride, a statistics shape, a pooling window), each caught with a
 *     message that names the instruction, and the one pooling cuDNN cannot say, refused by name;
 *   - deviceless execution plans (cuDNN >= 9.8) of every distinct convolution against hand-written sm_90
 *     (H100 SXM) device properties: engine heuristics and a finalized execution plan, no GPU; and one plan
 *     through tgc_cudnn_plan_all, where batch norms (and the max-pool backward) find no configuration without a
 *     device and count as legacy fallbacks;
 *   - the GPU check (tgc_cudnn_gpu_check over every --target cuda plan; tools/gpu_check.sh can run this
 *     program): execution plans on device 0 and its properties JSON in the build directory, or
 *     "skipped: no GPU" where none is visible.
 *
 * Built only where the CUDA toolkit is; a CPU-only build registers this test as a visible skip. A plain
 * program (no Check): exit 0 on success, 1 with the reasons on stderr. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend/cuda/cudnn_plan.h"
#include "test_codegen_util.h"
#include "test_expect.h"

static void add_counts(tgc_cudnn_counts *to, const tgc_cudnn_counts *c) {
    for (int k = 0; k < TGC_CUDNN_KIND_COUNT; k++) to->validated[k] += c->validated[k];
    to->legacy += c->legacy, to->graphs += c->graphs, to->ops += c->ops, to->tensors += c->tensors;
    to->failures += c->failures;
}

static void print_counts(const char *what, const tgc_cudnn_counts *c) {
    printf("%s: conv fwd %d, conv bwd-data %d, conv bwd-filter %d, BN fwd %d, BN bwd %d, pool fwd %d, pool bwd %d "
           "validated (%d with legacy descriptors too; %d graphs, %d operations, %d tensors finalized); failures %d\n",
           what, c->validated[TGC_CUDNN_CONV_FWD], c->validated[TGC_CUDNN_CONV_BWD_DATA],
           c->validated[TGC_CUDNN_CONV_BWD_FILTER], c->validated[TGC_CUDNN_BN_FWD], c->validated[TGC_CUDNN_BN_BWD],
           c->validated[TGC_CUDNN_POOL_FWD], c->validated[TGC_CUDNN_POOL_BWD], c->legacy, c->graphs, c->ops,
           c->tensors, c->failures);
}

/* How many instructions of p this module describes, by kind. */
static int count_kinds(const tgc_plan *p, int *by_kind) {
    int n = 0;
    for (int pi = 0; pi < p->n_programs; pi++)
        for (int k = 0; k < p->programs[pi].n_instr; k++) {
            tgc_cudnn_kind kd = tgc_cudnn_kind_of(p->programs[pi].instr[k].code);
            if (kd == TGC_CUDNN_NONE) continue;
            if (by_kind) by_kind[kd]++;
            n++;
        }
    return n;
}

/* Hand-written IR -> a placed, validated plan (the pipeline from schedule on). */
static tgc_plan *plan_from_ir(const char *text, tgc_err *err) {
    tgc_module m;
    memset(&m, 0, sizeof m);
    if (tgc_module_parse(text, strlen(text), "synthetic.ir", &m, err) < 0) return NULL;
    m.target = tgc_target_find("cuda");
    tgc_pipeline_opts po;
    memset(&po, 0, sizeof po);
    po.from = "schedule";
    tgc_plan *p = NULL;
    if (tgc_run_pipeline(&m, &po, err) == 0) p = tgc_plan_from_module(&m, NULL, err);
    tgc_module_free(&m);
    if (p && tgc_plan_validate(p, err) < 0) {
        tgc_plan_free(p);
        p = NULL;
    }
    return p;
}

/* Grouped (2), dilated (2,1), strided convolution with padding top 1, left 2, bottom 2, right 1; a ceil-mode
 * max pool whose last column window runs past the padded input; an average pool without the padding in its
 * divisor; and their backward ops. */
static const char *synthetic_ir =
    "graph @train {\n"
    "  %0 = input \"inputs\" : f32[2,8,15,15]\n"
    "  %1 = param \"conv.weight\" : f32[12,4,3,3] init=const(0.1)\n"
    "  %2 : f32[2,12,7,8] = conv2d %0, %1 {stride=[2,2], pad=[1,2,2,1], dilation=[2,1], groups=2}  # gconv\n"
    "  %3 : f32[2,12,4,5] = max_pool2d %2 {kernel=[3,3], stride=[2,2], pad=[1,1,1,1], ceil_mode=1}  # maxceil\n"
    "  %4 : f32[2,12,4,5] = avg_pool2d %2 {kernel=[2,2], stride=[2,2], pad=[1,1,1,1], ceil_mode=0, "
    "count_include_pad=0}  # avgex\n"
    "  %5 : f32[2,12,4,5] = add %3, %4\n"
    "  %6 : f32[2,12,4,5] = fill {alpha=1, shape=[2,12,4,5], dtype=f32}\n"
    "  %7 : f32[2,12,7,8] = max_pool2d_bwd %6, %2 {kernel=[3,3], stride=[2,2], pad=[1,1,1,1], ceil_mode=1}  # maxceil\n"
    "  %8 : f32[2,12,7,8] = avg_pool2d_bwd %6 {kernel=[2,2], stride=[2,2], pad=[1,1,1,1], ceil_mode=0, "
    "count_include_pad=0, shape=[2,12,7,8]}  # avgex\n"
    "  %9 : f32[2,12,7,8] = add %7, %8\n"
    "  %10 : f32[2,8,15,15] = conv2d_bwd_data %9, %1 {stride=[2,2], pad=[1,2,2,1], dilation=[2,1], groups=2, "
    "shape=[2,8,15,15]}  # gconv\n"
    "  %11 : f32[12,4,3,3] = conv2d_bwd_filter %0, %9 {stride=[2,2], pad=[1,2,2,1], dilation=[2,1], groups=2, "
    "shape=[12,4,3,3]}  # gconv\n"
    "  %12 : f32[] = fill {alpha=0, shape=[], dtype=f32}\n"
    "  output %12\n"
    "}\n";

/* The average pool cuDNN cannot say: ceil mode, padding counted, and a window past the padded input. */
static const char *refused_ir =
    "graph @train {\n"
    "  %0 = input \"inputs\" : f32[2,4,8,8]\n"
    "  %1 : f32[2,4,5,5] = avg_pool2d %0 {kernel=[3,3], stride=[2,2], pad=[1,1,1,1], ceil_mode=1, "
    "count_include_pad=1}  # avgceil\n"
    "  %2 : f32[] = fill {alpha=0, shape=[], dtype=f32}\n"
    "  output %2\n"
    "}\n";

static int find_instr(const tgc_program *pr, tgc_opcode code, int nth) {
    for (int k = 0; k < pr->n_instr; k++)
        if (pr->instr[k].code == code && nth-- == 0) return k;
    return -1;
}

/* Validation of p must fail naming "train instruction K (OP" and mention `also`. */
static void expect_caught(const tgc_plan *p, int k, const char *what, const char *also) {
    tgc_err err;
    tgc_cudnn_counts c;
    memset(&c, 0, sizeof c);
    int rc = tgc_cudnn_validate_plan(p, NULL, &c, &err);
    char want[128];
    snprintf(want, sizeof want, "train instruction %d (%s", k, tgc_op_table[tgc_plan_program(p, "train")->instr[k].code].name);
    EXPECT(rc < 0 && c.failures >= 1, "%s: not caught", what);
    if (rc < 0) {
        EXPECT(strstr(err.msg, want) != NULL, "%s: the message does not name %s: %s", what, want, err.msg);
        EXPECT(!also || strstr(err.msg, also) != NULL, "%s: the message does not say '%s': %s", what, also, err.msg);
        printf("  caught (%s): %s\n", what, err.msg);
    }
}

/* Corrupted copies of a plan (shapes and attributes changed in memory, past tgc_plan_validate). */
static void corruptions(const char *cfg_path) {
    tgc_err err;
    tgc_plan *p = cgu_compile(cfg_path, "cuda", &err);
    EXPECT(p != NULL, "%s: %s", cfg_path, p ? "" : err.msg);
    if (!p) return;
    tgc_program *pr = (tgc_program *)tgc_plan_program(p, "train");
    /* 1: a convolution's result one row taller than cuDNN computes */
    int k = find_instr(pr, TGC_OP_CONV2D, 1);
    EXPECT(k >= 0, "no second conv2d");
    if (k >= 0) {
        tgc_shape *s = &p->tensors[pr->instr[k].out[0]].type.shape;
        s->d[2]++;
        expect_caught(p, k, "conv2d result shape", "cudnnGetConvolutionNdForwardOutputDim");
        s->d[2]--;
    }
    /* 2: a backward-data convolution's stride, so that dy no longer fits x */
    k = find_instr(pr, TGC_OP_CONV2D_BWD_DATA, 0);
    EXPECT(k >= 0, "no conv2d_bwd_data");
    if (k >= 0) {
        int64_t old = pr->instr[k].attrs.stride[0];
        pr->instr[k].attrs.stride[0] = old + 1;
        expect_caught(p, k, "conv2d_bwd_data stride", NULL);
        pr->instr[k].attrs.stride[0] = old;
    }
    /* 3: a batch norm's saved mean one channel longer */
    k = find_instr(pr, TGC_OP_BN_TRAIN, 0);
    if (k < 0) k = find_instr(pr, TGC_OP_BN_TRAIN_RELU, 0);
    EXPECT(k >= 0, "no batch_norm_train");
    if (k >= 0) {
        tgc_shape *s = &p->tensors[pr->instr[k].out[1]].type.shape;
        s->d[0]++;
        expect_caught(p, k, "batch norm statistics shape", "cudnnDeriveBNTensorDescriptor");
        s->d[0]--;
    }
    /* 4: a max pool's window, so that its result no longer has cuDNN's size */
    k = find_instr(pr, TGC_OP_MAX_POOL2D, 0);
    EXPECT(k >= 0, "no max_pool2d");
    if (k >= 0) {
        pr->instr[k].attrs.kernel[1] += 2;
        expect_caught(p, k, "max_pool2d window", "cudnnGetPoolingNdForwardOutputDim");
        pr->instr[k].attrs.kernel[1] -= 2;
    }
    /* 5: the graph alone catches what the legacy API cannot see: asymmetric padding grown on one side */
    k = find_instr(pr, TGC_OP_CONV2D, 0);
    if (k >= 0) {
        pr->instr[k].attrs.pad[2] += 2; /* bottom */
        expect_caught(p, k, "conv2d bottom padding (graph only)", "cudnnBackendFinalize(OPERATION_CONVOLUTION_FORWARD)");
        pr->instr[k].attrs.pad[2] -= 2;
    }
    /* restored: valid again */
    tgc_cudnn_counts c;
    memset(&c, 0, sizeof c);
    EXPECT(tgc_cudnn_validate_plan(p, NULL, &c, &err) == 0, "restored plan: %s", err.msg);
    tgc_plan_free(p);
}

/* ---- deviceless execution plans ------------------------------------------------------------------------- */

/* cuDNN's DEVICEPROP JSON (its keys as cuDNN 9.19 reads them) for an H100 SXM 80GB, written by hand from the
 * published properties: not captured from a device. tgc_cudnn_gpu_check writes the real one. */
static const char *h100_json =
    "{\"maxGridSize\":[2147483647,65535,65535],\"maxBlockSize\":[1024,1024,64],\"regsPerBlock\":65536,"
    "\"multiProcessorCount\":132,\"warpSize\":32,\"maxSharedMemoryPerBlock\":49152,"
    "\"maxSharedMemoryPerBlockOptin\":232448,\"reservedSharedMemoryPerBlock\":1024,\"maxRegistersPerSM\":65536,"
    "\"maxCtasPerSM\":32,\"maxThreadsPerBlock\":1024,\"maxThreadsPerSM\":2048,\"pciDeviceId\":0,\"isTccDriver\":0,"
    "\"supportCoopLaunch\":1,\"totalGlobalMem\":85045379072,\"smClockRateKHz\":1980000,\"memClockRateKHz\":2619000,"
    "\"l2CacheSize\":52428800,\"cudaDeviceId\":0,\"deviceVer\":900,\"driverVer\":13000,"
    "\"deviceName\":\"NVIDIA H100 80GB HBM3\"}";

typedef struct sigset {
    char **s;
    int n, cap;
} sigset;

/* A convolution's signature: op, shapes, attributes (what its execution plan depends on). */
static int seen(sigset *ss, const tgc_plan *p, const tgc_instr *in) {
    char buf[512], a[64], b[64], c[64];
    tgc_shape_str(&p->tensors[in->in[0]].type.shape, a, sizeof a);
    tgc_shape_str(&p->tensors[in->in[1]].type.shape, b, sizeof b);
    tgc_shape_str(&p->tensors[in->out[0]].type.shape, c, sizeof c);
    const tgc_attrs *t = &in->attrs;
    snprintf(buf, sizeof buf, "%d %s%s %s %s s%lld,%lld p%lld,%lld,%lld,%lld d%lld,%lld g%lld %s", (int)in->code, a,
             p->tensors[in->in[0]].type.layout == TGC_LAYOUT_NHWC ? " nhwc" : "", b, c,
             (long long)t->stride[0], (long long)t->stride[1], (long long)t->pad[0], (long long)t->pad[1],
             (long long)t->pad[2], (long long)t->pad[3], (long long)t->dilation[0], (long long)t->dilation[1],
             (long long)t->groups, tgc_dtype_name(p->tensors[in->in[0]].type.dtype));
    for (int i = 0; i < ss->n; i++)
        if (!strcmp(ss->s[i], buf)) return 1;
    TGC_GROW(ss->s, ss->cap, ss->n + 1);
    ss->s[ss->n++] = tgc_strdup(buf);
    return 0;
}

typedef struct aot_counts {
    int planned[TGC_CUDNN_KIND_COUNT], failed[TGC_CUDNN_KIND_COUNT], configs;
    int64_t max_ws;
} aot_counts;

static void aot_plan(const tgc_plan *p, cudnnBackendDescriptor_t dp, sigset *ss, aot_counts *ac) {
    for (int pi = 0; pi < p->n_programs; pi++) {
        const tgc_program *pr = &p->programs[pi];
        for (int k = 0; k < pr->n_instr; k++) {
            tgc_cudnn_kind kd = tgc_cudnn_kind_of(pr->instr[k].code);
            if (kd != TGC_CUDNN_CONV_FWD && kd != TGC_CUDNN_CONV_BWD_DATA && kd != TGC_CUDNN_CONV_BWD_FILTER) continue;
            if (seen(ss, p, &pr->instr[k])) continue;
            tgc_cudnn_op op;
            tgc_err err;
            if (tgc_cudnn_op_build(p, pr, k, NULL, &op, &err) < 0) {
                EXPECT(0, "%s", err.msg);
                continue;
            }
            cudnnBackendDescriptor_t plan;
            int64_t ws;
            int tried;
            if (tgc_cudnn_exec_plan(&op, dp, &plan, &ws, &tried, &err) == 0) {
                ac->planned[kd]++;
                ac->configs += tried;
                if (ws > ac->max_ws) ac->max_ws = ws;
                cudnnBackendDestroyDescriptor(plan);
            } else {
                ac->failed[kd]++;
                EXPECT(0, "deviceless plan: %s", err.msg);
            }
            tgc_cudnn_op_free(&op);
        }
    }
}

/* What autotuning relies on, without a device: the signature key is stable and tells the plan's convolutions
 * apart as exactly as their descriptors do; the candidate configurations read back as (engine, knobs), and
 * each rebuilds through ENGINE / KNOB_CHOICE / ENGINECFG into an execution plan with the same workspace; a
 * choice that does not hold (an engine index past the list) fails with a message. */
static void autotune_checks(const tgc_plan *p, cudnnBackendDescriptor_t dp, const char *name) {
    int convs = 0, keys = 0, cands = 0, rebuilt = 0, unknown = 0, checked = 0;
    uint64_t *seen_keys = NULL;
    char **seen_sigs = NULL;
    int cap = 0, cap2 = 0;
    for (int pi = 0; pi < p->n_programs; pi++) {
        const tgc_program *pr = &p->programs[pi];
        for (int k = 0; k < pr->n_instr; k++) {
            tgc_cudnn_kind kd = tgc_cudnn_kind_of(pr->instr[k].code);
            if (kd != TGC_CUDNN_CONV_FWD && kd != TGC_CUDNN_CONV_BWD_DATA && kd != TGC_CUDNN_CONV_BWD_FILTER) continue;
            convs++;
            char *sig = tgc_cudnn_signature(p, &pr->instr[k], TGC_CUDNN_DETERMINISTIC, 32 << 20);
            char *again = tgc_cudnn_signature(p, &pr->instr[k], TGC_CUDNN_DETERMINISTIC, 32 << 20);
            char *other = tgc_cudnn_signature(p, &pr->instr[k], 0, 32 << 20);
            EXPECT(!strcmp(sig, again), "signature not stable: %s / %s", sig, again);
            EXPECT(strcmp(sig, other) != 0, "signature ignores the engine filters: %s", sig);
            uint64_t key = tgc_cudnn_cache_key(sig);
            int at = -1;
            for (int i = 0; i < keys && at < 0; i++)
                if (seen_keys[i] == key) at = i;
            if (at >= 0) {
                EXPECT(!strcmp(seen_sigs[at], sig), "key collision: %s / %s", seen_sigs[at], sig);
                /* equal keys: equal descriptors (the descriptor-level signature of this test agrees) */
                free(sig);
            } else {
                TGC_GROW(seen_keys, cap, keys + 1);
                TGC_GROW(seen_sigs, cap2, keys + 1);
                seen_keys[keys] = key;
                seen_sigs[keys++] = sig;
            }
            free(again);
            free(other);
            if (at >= 0 || checked >= 6) continue; /* the candidates of the first few distinct graphs */
            checked++;
            tgc_cudnn_op op;
            tgc_err err;
            if (tgc_cudnn_op_build(p, pr, k, NULL, &op, &err) < 0) {
                EXPECT(0, "%s", err.msg);
                continue;
            }
            tgc_cudnn_candidate c[8];
            int n = 0, tried = 0;
            int rc = tgc_cudnn_candidates(&op, dp, TGC_CUDNN_TENSOR_CORES, 32 << 20, 8, c, &n, &tried, &err);
            EXPECT(rc == 0 && n >= 1 && n <= 8, "candidates: %s", rc ? err.msg : "none");
            for (int i = 0; rc == 0 && i < n; i++) {
                cands++;
                for (int j = 0; j < i; j++)
                    EXPECT(c[j].choice.engine != c[i].choice.engine || c[j].choice.n_knobs != c[i].choice.n_knobs ||
                               memcmp(c[j].choice.knob, c[i].choice.knob, sizeof c[i].choice.knob[0] * (size_t)c[i].choice.n_knobs),
                           "candidate %d repeats candidate %d", i, j);
                if (!c[i].known) {
                    unknown++;
                    continue;
                }
                cudnnBackendDescriptor_t pl = NULL;
                int64_t ws = -1;
                if (tgc_cudnn_plan_from_choice(&op, dp, &c[i].choice, TGC_CUDNN_TENSOR_CORES, 32 << 20, &pl, &ws, &err) == 0) {
                    rebuilt++;
                    EXPECT(ws == c[i].workspace, "rebuilt engine %lld: workspace %lld, heuristics' %lld",
                           (long long)c[i].choice.engine, (long long)ws, (long long)c[i].workspace);
                    cudnnBackendDestroyDescriptor(pl);
                } else {
                    EXPECT(0, "rebuild of engine %lld: %s", (long long)c[i].choice.engine, err.msg);
                }
            }
            tgc_cudnn_choice bogus = {.engine = 100000, .n_knobs = 0};
            cudnnBackendDescriptor_t pl = NULL;
            int64_t ws;
            EXPECT(tgc_cudnn_plan_from_choice(&op, dp, &bogus, TGC_CUDNN_TENSOR_CORES, -1, &pl, &ws, &err) < 0 &&
                       strstr(err.msg, "engine 100000"),
                   "an engine past the list was taken");
            if (pl) cudnnBackendDestroyDescriptor(pl);
            if (rc == 0) tgc_cudnn_candidates_free(c, n);
            tgc_cudnn_op_free(&op);
        }
    }
    sigset ss = {0};
    for (int pi = 0; pi < p->n_programs; pi++)
        for (int k = 0; k < p->programs[pi].n_instr; k++) {
            tgc_cudnn_kind kd = tgc_cudnn_kind_of(p->programs[pi].instr[k].code);
            if (kd == TGC_CUDNN_CONV_FWD || kd == TGC_CUDNN_CONV_BWD_DATA || kd == TGC_CUDNN_CONV_BWD_FILTER)
                seen(&ss, p, &p->programs[pi].instr[k]);
        }
    EXPECT(keys == ss.n, "%d algorithm-cache keys for %d distinct convolution descriptors", keys, ss.n);
    EXPECT(unknown == 0, "%d candidates whose engine and knobs cuDNN did not report", unknown);
    EXPECT(rebuilt > 0 && rebuilt == cands, "%d of %d candidates rebuilt from (engine, knobs)", rebuilt, cands);
    printf("  autotune (%s): %d convolutions, %d distinct keys; %d candidate configurations of %d graphs (at most "
           "8 each), %d rebuilt from (engine, knobs) with equal workspace\n",
           name, convs, keys, cands, checked, rebuilt);
    for (int i = 0; i < ss.n; i++) free(ss.s[i]);
    free(ss.s);
    for (int i = 0; i < keys; i++) free(seen_sigs[i]);
    free(seen_sigs);
    free(seen_keys);
}

int main(void) {
    printf("cuDNN %zu (headers %d.%d.%d)\n", cudnnGetVersion(), CUDNN_MAJOR, CUDNN_MINOR, CUDNN_PATCHLEVEL);
    double t0 = tgc_now();
    /* ---- the shipped configs, both targets ---- */
    char **cfgs;
    int nc = cgu_configs(TGC_SOURCE_DIR, &cfgs), compiled = 0;
    /* both targets in fp32; the cuda target's mixed-precision plans (--amp as bf16, --fp16), whose convolutions,
     * batch norms and poolings take bf16/f16 data (statistics f32) */
    static const char *targets[4] = {"cpu", "cuda", "cuda --amp", "cuda --fp16"};
    static const tgc_dtype amps[4] = {TGC_F32, TGC_F32, TGC_BF16, TGC_F16};
    tgc_cudnn_counts total;
    memset(&total, 0, sizeof total);
    int instr_total = 0, lowp_validated = 0;
    tgc_plan **plans = tgc_calloc((size_t)nc * 4 + 1, sizeof *plans);
    for (int c = 0; c < nc; c++)
        for (int t = 0; t < 4; t++) {
            tgc_err err;
            tgc_plan *p = cgu_compile_amp(cfgs[c], t ? "cuda" : "cpu", NULL, amps[t], &err);
            if (!p) {
                printf("  skipped: %s --target %s does not compile: %s\n", cfgs[c], targets[t], err.msg);
                continue;
            }
            compiled++;
            int by_kind[TGC_CUDNN_KIND_COUNT] = {0}, n = count_kinds(p, by_kind);
            instr_total += n;
            tgc_cudnn_counts cc;
            memset(&cc, 0, sizeof cc);
            int rc = tgc_cudnn_validate_plan(p, NULL, &cc, &err);
            EXPECT(rc == 0, "%s --target %s: %d failures; first: %s", cfgs[c], targets[t], cc.failures, rc ? err.msg : "");
            int validated = 0;
            for (int kd = 0; kd < TGC_CUDNN_KIND_COUNT; kd++) {
                validated += cc.validated[kd];
                EXPECT(rc < 0 || cc.validated[kd] == by_kind[kd], "%s --target %s: %d of %d %s validated", cfgs[c],
                       targets[t], cc.validated[kd], by_kind[kd], tgc_cudnn_kind_name(kd));
            }
            EXPECT(validated + cc.failures == n, "%s --target %s: %d of %d instructions seen", cfgs[c], targets[t],
                   validated + cc.failures, n);
            char what[512];
            snprintf(what, sizeof what, "  %s --target %s", cfgs[c] + strlen(TGC_SOURCE_DIR) + 1, targets[t]);
            print_counts(what, &cc);
            add_counts(&total, &cc);
            plans[c * 4 + t] = p;
            if (amps[t] != TGC_F32) lowp_validated += validated;
        }
    int validated = 0;
    for (int kd = 0; kd < TGC_CUDNN_KIND_COUNT; kd++) validated += total.validated[kd];
    char what[256];
    snprintf(what, sizeof what, "shipped configs (%d configs x cpu, cuda, cuda --amp, cuda --fp16: %d compiled; %d "
             "instructions with bf16/f16 data)", nc, compiled, lowp_validated);
    print_counts(what, &total);
    EXPECT(compiled > 0, "no config compiled");
    EXPECT(lowp_validated > 0, "no mixed-precision instruction validated");
    EXPECT(validated == instr_total && total.failures == 0, "%d of %d instructions validated", validated, instr_total);
    for (int kd = TGC_CUDNN_CONV_FWD; kd < TGC_CUDNN_KIND_COUNT; kd++)
        EXPECT(total.validated[kd] > 0, "no %s instruction in the shipped configs", tgc_cudnn_kind_name(kd));
    printf("  (%.2f s)\n", tgc_now() - t0);

    /* ---- batch_norm_eval: a config with fold-bn disabled ---- */
    {
        char *path = tgc_asprintf("%s/configs/fashion/resnet_small_fashionmnist.yaml", TGC_SOURCE_DIR);
        tgc_err err;
        tgc_plan *p = cgu_compile_without(path, "cuda", "fold-bn", &err);
        EXPECT(p != NULL, "%s --disable-pass fold-bn: %s", path, p ? "" : err.msg);
        if (p) {
            int n_eval = 0;
            const tgc_program *ev = tgc_plan_program(p, "eval");
            for (int k = 0; ev && k < ev->n_instr; k++) n_eval += ev->instr[k].code == TGC_OP_BN_EVAL;
            tgc_cudnn_counts cc;
            memset(&cc, 0, sizeof cc);
            EXPECT(tgc_cudnn_validate_plan(p, NULL, &cc, &err) == 0, "fold-bn disabled: %s", err.msg);
            EXPECT(n_eval > 0, "no batch_norm_eval with fold-bn disabled");
            printf("batch_norm_eval (resnet_small, fold-bn disabled): %d in eval; ", n_eval);
            print_counts("all", &cc);
            tgc_plan_free(p);
        }
        free(path);
    }

    /* ---- hand-written IR: groups, dilation, asymmetric padding, ceil mode, exclude-padding average ---- */
    {
        tgc_err err;
        tgc_plan *p = plan_from_ir(synthetic_ir, &err);
        EXPECT(p != NULL, "synthetic IR: %s", p ? "" : err.msg);
        if (p) {
            static const struct {
                tgc_cudnn_layout l;
                tgc_dtype d;
                const char *name;
            } variants[3] = {{TGC_CUDNN_NCHW, TGC_F32, "NCHW f32"}, {TGC_CUDNN_NHWC, TGC_F32, "NHWC f32"},
                             {TGC_CUDNN_NCHW, TGC_BF16, "NCHW bf16"}};
            for (int v = 0; v < 3; v++) {
                tgc_cudnn_opts o = {variants[v].l, variants[v].d};
                tgc_cudnn_counts cc;
                memset(&cc, 0, sizeof cc);
                EXPECT(tgc_cudnn_validate_plan(p, &o, &cc, &err) == 0, "synthetic %s: %s", variants[v].name, err.msg);
                EXPECT(cc.validated[TGC_CUDNN_CONV_FWD] == 1 && cc.validated[TGC_CUDNN_CONV_BWD_DATA] == 1 &&
                           cc.validated[TGC_CUDNN_CONV_BWD_FILTER] == 1 && cc.validated[TGC_CUDNN_POOL_FWD] == 2 &&
                           cc.validated[TGC_CUDNN_POOL_BWD] == 2,
                       "synthetic %s: counts", variants[v].name);
                /* legacy only for the exclude-padding average pool and its backward */
                EXPECT(cc.legacy == 2, "synthetic %s: %d instructions with legacy descriptors, expected 2", variants[v].name,
                       cc.legacy);
                char w[96];
                snprintf(w, sizeof w, "synthetic (grouped dilated asymmetric conv, ceil max pool, exclude-pad avg), %s",
                         variants[v].name);
                print_counts(w, &cc);
            }
            /* the binding of a graph's tensors: plan tensors by UID, intermediates virtual */
            const tgc_program *pr = tgc_plan_program(p, "train");
            int k = find_instr(pr, TGC_OP_MAX_POOL2D_BWD, 0);
            tgc_cudnn_op op;
            if (k >= 0 && tgc_cudnn_op_build(p, pr, k, NULL, &op, &err) == 0) {
                int bound = 0, virt = 0;
                for (int i = 0; i < op.n_tensors; i++) {
                    if (op.bind[i].tensor >= 0) {
                        bound++;
                        EXPECT(op.bind[i].uid == TGC_CUDNN_UID(op.bind[i].tensor), "uid %lld of tensor %d",
                               (long long)op.bind[i].uid, op.bind[i].tensor);
                    } else {
                        virt += !op.bind[i].by_value;
                    }
                }
                EXPECT(bound == 3 && virt == 1 && op.n_ops == 2 && op.engine_count > 0,
                       "max_pool2d_bwd: %d bound, %d virtual tensors, %d operations, %lld engines", bound, virt, op.n_ops,
                       (long long)op.engine_count);
                tgc_cudnn_op_free(&op);
            } else {
                EXPECT(0, "max_pool2d_bwd: %s", k < 0 ? "not found" : err.msg);
            }
            tgc_plan_free(p);
        }
        p = plan_from_ir(refused_ir, &err);
        EXPECT(p != NULL, "refused IR: %s", p ? "" : err.msg);
        if (p) {
            expect_caught(p, find_instr(tgc_plan_program(p, "train"), TGC_OP_AVG_POOL2D, 0),
                          "avg_pool2d ceil_mode with padding counted", "PyTorch's divisor");
            tgc_plan_free(p);
        }
    }

    /* ---- corrupted plans ---- */
    {
        char *path = tgc_asprintf("%s/configs/resnet/resnet18_8xb32_in1k.yaml", TGC_SOURCE_DIR);
        corruptions(path);
        free(path);
    }

    /* ---- deviceless execution plans of the convolutions ---- */
    {
        double t1 = tgc_now();
        cudnnBackendDescriptor_t dp;
        tgc_err err;
        int rc = tgc_cudnn_devprop_from_json(h100_json, &dp, &err);
        EXPECT(rc == 0, "device properties: %s", err.msg);
        if (rc == 0) {
            sigset ss = {0};
            aot_counts ac;
            memset(&ac, 0, sizeof ac);
            for (int i = 0; i < nc * 4; i++)
                if (plans[i]) aot_plan(plans[i], dp, &ss, &ac);
            printf("deviceless execution plans (hand-written sm_90 H100 properties, no GPU): %d distinct convolutions: "
                   "fwd %d, bwd-data %d, bwd-filter %d planned (%d configurations tried), %d failed; largest workspace "
                   "%lld bytes (%.2f s)\n",
                   ss.n, ac.planned[TGC_CUDNN_CONV_FWD], ac.planned[TGC_CUDNN_CONV_BWD_DATA],
                   ac.planned[TGC_CUDNN_CONV_BWD_FILTER], ac.configs,
                   ac.failed[TGC_CUDNN_CONV_FWD] + ac.failed[TGC_CUDNN_CONV_BWD_DATA] + ac.failed[TGC_CUDNN_CONV_BWD_FILTER],
                   (long long)ac.max_ws, tgc_now() - t1);
            /* every instruction of one plan through tgc_cudnn_plan_all, as the GPU check runs it: batch norms and
             * pools find no configuration without a device and count as legacy fallbacks */
            for (int c = 0; c < nc; c++) {
                if (!plans[c * 4 + 1] || !strstr(cfgs[c], "resnet18_8xb32_in1k")) continue;
                tgc_cudnn_gpu_counts gc;
                rc = tgc_cudnn_plan_all(plans[c * 4 + 1], NULL, dp, &gc, NULL, &err);
                EXPECT(rc == 0, "plan_all: %s", err.msg);
                int kinds = 0;
                for (int kd = 0; kd < TGC_CUDNN_KIND_COUNT; kd++) kinds += gc.planned[kd] + gc.no_engine[kd];
                EXPECT(kinds == count_kinds(plans[c * 4 + 1], NULL), "plan_all: %d instructions counted", kinds);
                printf("  resnet18_8xb32_in1k --target cuda through tgc_cudnn_plan_all (%d distinct of %d): planned conv "
                       "fwd %d, bwd-data %d, bwd-filter %d, BN fwd %d, BN bwd %d, pool fwd %d, pool bwd %d; no engine "
                       "without a device (legacy fallback) BN fwd %d, BN bwd %d, pool fwd %d, pool bwd %d\n",
                       gc.distinct, kinds, gc.planned[1], gc.planned[2], gc.planned[3], gc.planned[4], gc.planned[5],
                       gc.planned[6], gc.planned[7], gc.no_engine[4], gc.no_engine[5], gc.no_engine[6], gc.no_engine[7]);
                EXPECT(gc.no_engine[TGC_CUDNN_CONV_FWD] + gc.no_engine[TGC_CUDNN_CONV_BWD_DATA] +
                               gc.no_engine[TGC_CUDNN_CONV_BWD_FILTER] == 0,
                       "a convolution without an execution plan");
                autotune_checks(plans[c * 4 + 1], dp, "resnet18_8xb32_in1k");
            }
            for (int i = 0; i < ss.n; i++) free(ss.s[i]);
            free(ss.s);
            cudnnBackendDestroyDescriptor(dp);
        }
    }

    /* ---- the GPU part (tools/gpu_check.sh runs this program): every --target cuda plan on device 0 ---- */
    {
        char *json_path = tgc_asprintf("%s/cudnn_devprop.json", TGC_BINARY_DIR);
        tgc_cudnn_gpu_counts sum;
        memset(&sum, 0, sizeof sum);
        int skipped = 0, checked = 0;
        for (int c = 0; c < nc && !skipped; c++) {
            const tgc_plan *p = plans[c * 4 + 1];
            if (!p) continue;
            tgc_err err;
            tgc_cudnn_gpu_counts gc;
            int rc = tgc_cudnn_gpu_check(p, NULL, checked ? NULL : json_path, &gc, stdout, &err);
            if (rc == 1) {
                skipped = 1;
                break;
            }
            EXPECT(rc == 0, "gpu check of %s: %s", cfgs[c], err.msg);
            checked++;
            for (int kd = 0; kd < TGC_CUDNN_KIND_COUNT; kd++)
                sum.planned[kd] += gc.planned[kd], sum.no_engine[kd] += gc.no_engine[kd];
            if (gc.max_workspace > sum.max_workspace) sum.max_workspace = gc.max_workspace;
        }
        if (skipped) {
            printf("gpu check (engine heuristics and execution plans on device 0): skipped: no GPU\n");
        } else {
            int none = 0;
            for (int kd = 0; kd < TGC_CUDNN_KIND_COUNT; kd++) none += sum.no_engine[kd];
            printf("gpu check (%d cuda plans): conv fwd %d, bwd-data %d, bwd-filter %d, BN fwd %d, BN bwd %d, pool fwd %d, "
                   "pool bwd %d planned on the device; %d without an engine (legacy fallback); largest workspace %lld "
                   "bytes; device properties in %s\n",
                   checked, sum.planned[TGC_CUDNN_CONV_FWD], sum.planned[TGC_CUDNN_CONV_BWD_DATA],
                   sum.planned[TGC_CUDNN_CONV_BWD_FILTER], sum.planned[TGC_CUDNN_BN_FWD], sum.planned[TGC_CUDNN_BN_BWD],
                   sum.planned[TGC_CUDNN_POOL_FWD], sum.planned[TGC_CUDNN_POOL_BWD], none, (long long)sum.max_workspace,
                   json_path);
            /* the autotune's candidates and their rebuild, against this GPU's own properties */
            uint8_t *js = NULL;
            size_t jn = 0;
            tgc_err err;
            cudnnBackendDescriptor_t gdp = NULL;
            int rc = tgc_read_file(json_path, 1 << 20, &js, &jn, &err);
            if (rc == 0) rc = tgc_cudnn_devprop_from_json((const char *)js, &gdp, &err);
            EXPECT(rc == 0, "this GPU's properties: %s", err.msg);
            for (int c = 0; rc == 0 && c < nc; c++)
                if (plans[c * 4 + 1] && strstr(cfgs[c], "resnet18_8xb32_in1k"))
                    autotune_checks(plans[c * 4 + 1], gdp, "resnet18_8xb32_in1k, this GPU");
            if (gdp) cudnnBackendDestroyDescriptor(gdp);
            free(js);
        }
        free(json_path);
    }

    /* ---- NHWC activations: the cuda plans (fp32, --amp, --fp16) compiled with --layout nhwc (weights stay
     * KCRS): every instruction validated, and an execution plan for every distinct convolution of the ResNet
     * configs ---- */
    {
        double t2 = tgc_now();
        tgc_cudnn_counts nt;
        memset(&nt, 0, sizeof nt);
        int marked_plans = 0, nhwc_instr = 0, resnet_plans = 0, gpu_absent = 0, gpu_checked = 0;
        for (int c = 0; c < nc; c++)
            for (int t = 1; t < 4; t++) {
                tgc_err cerr;
                tgc_plan *p = cgu_compile_layout(cfgs[c], "cuda", NULL, amps[t], TGC_LAYOUT_NHWC, &cerr);
                if (!p) {
                    printf("  skipped: %s --target %s --layout nhwc does not compile: %s\n", cfgs[c], targets[t], cerr.msg);
                    continue;
                }
                tgc_plan_free(plans[c * 4 + t]); /* the row-major plan is done with: its NHWC twin takes its place */
                plans[c * 4 + t] = p;
                marked_plans++;
                for (int pi = 0; pi < p->n_programs; pi++)
                    for (int k = 0; k < p->programs[pi].n_instr; k++) {
                        const tgc_instr *in = &p->programs[pi].instr[k];
                        nhwc_instr += tgc_cudnn_kind_of(in->code) != TGC_CUDNN_NONE &&
                                      p->tensors[in->n_in ? in->in[0] : in->out[0]].type.layout == TGC_LAYOUT_NHWC;
                    }
                tgc_cudnn_counts cc;
                memset(&cc, 0, sizeof cc);
                tgc_err err;
                int rc = tgc_cudnn_validate_plan(p, NULL, &cc, &err);
                EXPECT(rc == 0, "%s --target %s, NHWC: %d failures; first: %s", cfgs[c], targets[t], cc.failures,
                       rc ? err.msg : "");
                add_counts(&nt, &cc);
                /* on a GPU (tools/gpu_check.sh): execution plans for the NHWC graphs on device 0 */
                if (!gpu_absent) {
                    tgc_cudnn_gpu_counts gc;
                    rc = tgc_cudnn_gpu_check(p, NULL, NULL, &gc, NULL, &err);
                    if (rc == 1) gpu_absent = 1;
                    else EXPECT(rc == 0, "gpu check of %s --target %s --layout nhwc: %s", cfgs[c], targets[t], err.msg);
                    gpu_checked += rc == 0;
                }
            }
        snprintf(what, sizeof what, "--layout nhwc (%d cuda plans; %d instructions on NHWC data)",
                 marked_plans, nhwc_instr);
        print_counts(what, &nt);
        printf("gpu check of the --layout nhwc plans (execution plans on device 0): %s\n",
               gpu_absent ? "skipped: no GPU" : gpu_checked ? "every plan passed" : "none checked");
        EXPECT(marked_plans > 0 && nhwc_instr > 0, "no NHWC instruction");
        cudnnBackendDescriptor_t dp;
        tgc_err err;
        int rc = tgc_cudnn_devprop_from_json(h100_json, &dp, &err);
        EXPECT(rc == 0, "device properties: %s", err.msg);
        if (rc == 0) {
            sigset ss = {0};
            aot_counts ac;
            memset(&ac, 0, sizeof ac);
            int lowp = 0;
            for (int c = 0; c < nc; c++) {
                if (!strstr(cfgs[c], "/resnet/")) continue;
                for (int t = 1; t < 4; t++)
                    if (plans[c * 4 + t]) {
                        int before = ss.n;
                        aot_plan(plans[c * 4 + t], dp, &ss, &ac);
                        if (amps[t] != TGC_F32) lowp += ss.n - before;
                        resnet_plans++;
                    }
            }
            int nhwc_convs = 0;
            for (int i = 0; i < ss.n; i++) nhwc_convs += strstr(ss.s[i], " nhwc") != NULL;
            printf("deviceless execution plans of NHWC convolutions (%d ResNet cuda plans: f32, bf16, f16): %d distinct "
                   "(%d NHWC, %d on 16-bit data): fwd %d, bwd-data %d, bwd-filter %d planned (%d configurations tried), "
                   "%d failed; largest workspace %lld bytes (%.2f s)\n",
                   resnet_plans, ss.n, nhwc_convs, lowp, ac.planned[TGC_CUDNN_CONV_FWD], ac.planned[TGC_CUDNN_CONV_BWD_DATA],
                   ac.planned[TGC_CUDNN_CONV_BWD_FILTER], ac.configs,
                   ac.failed[TGC_CUDNN_CONV_FWD] + ac.failed[TGC_CUDNN_CONV_BWD_DATA] + ac.failed[TGC_CUDNN_CONV_BWD_FILTER],
                   (long long)ac.max_ws, tgc_now() - t2);
            EXPECT(resnet_plans > 0 && nhwc_convs > 0 && lowp > 0, "no NHWC ResNet convolution planned");
            /* the signature (the algorithm cache's key) tells an NHWC convolution from its NCHW twin */
            for (int c = 0; c < nc; c++) {
                const tgc_plan *p = plans[c * 4 + 1];
                if (!p || !strstr(cfgs[c], "resnet18_8xb32_in1k")) continue;
                const tgc_program *pr = tgc_plan_program(p, "train");
                int k = find_instr(pr, TGC_OP_CONV2D, 1);
                EXPECT(k >= 0, "resnet18: no second conv2d");
                if (k < 0) continue;
                char *a = tgc_cudnn_signature(p, &pr->instr[k], 0, 0);
                tgc_plan_tensor *x = &plans[c * 4 + 1]->tensors[pr->instr[k].in[0]];
                x->type.layout = TGC_LAYOUT_ROW;
                char *b = tgc_cudnn_signature(p, &pr->instr[k], 0, 0);
                x->type.layout = TGC_LAYOUT_NHWC;
                EXPECT(strcmp(a, b) != 0 && strstr(a, "f32@16:nhwc [64"),
                       "the signature does not carry the layout: '%s' vs '%s'", a, b);
                free(a), free(b);
            }
            for (int i = 0; i < ss.n; i++) free(ss.s[i]);
            free(ss.s);
            cudnnBackendDestroyDescriptor(dp);
        }
    }

    for (int i = 0; i < nc * 4; i++)
        if (plans[i]) tgc_plan_free(plans[i]);
    free(plans);
    cgu_free_strs(cfgs, nc);
    printf("cudnn plan: %s (%.2f s)\n", failures ? "FAILED" : "ok", tgc_now() - t0);
    return failures ? 1 : 0;
}
