/* plan/plan.h - plan.bin, the contract between the compiler and the runtime.
 *
 * File layout (all integers little-endian):
 *   header (64 bytes): magic "TGCPLAN\0", u32 version, u32 n_sections, u64 file_size,
 *                      u32 crc32 of the whole file with this field zeroed, u32 flags, padding
 *   section table: n_sections x { u32 kind, u32 reserved, u64 offset, u64 size }
 *   sections, each starting on a 64-byte boundary:
 *     META     typed key/values (the target and its parameters, slab sizes, optimizer, compiler version)
 *     CONFIG   the resolved config tree (tgc_cfg_serialize): data pipeline, schedule, hooks, defaults
 *     TENSORS  the tensor table: name, kind, dtype, shape, slab, offset, bytes, init spec, multipliers
 *     PROGRAM  one per program (train, eval, ...): instructions, outputs, memory stats, buckets
 *     KERNELS  generated kernel sources (none yet)
 * A file that is truncated, fails its checksum, has another magic or another version, or whose tables
 * point outside the file is refused with a message that says which.
 *
 * Versions: 1 had no target parameters (alignment 64 was implied, every plan was tuned for the CPU);
 * 2 records the target (META target, target.alignment, target.workspace_bytes, target.fuse); 3 records the
 * layouts (META layout, the module's `--layout`; a layout byte per tensor, tgc_layout). A plan of another
 * version is refused with the advice to recompile it.
 */
#ifndef TGC_BACKEND_PLAN_H
#define TGC_BACKEND_PLAN_H

#include <stdint.h>

#include "frontend/cfg.h"
#include "ir/ir.h"
#include "passes/passes.h"

#define TGC_PLAN_MAGIC "TGCPLAN"
#define TGC_PLAN_VERSION 3

typedef struct tgc_plan_tensor {
    char *name;         /* owned; state-dict name for state/inputs, "train/%17" style for temps */
    tgc_val_kind kind;
    tgc_type type;
    tgc_slab slab;
    uint64_t offset, bytes;
    tgc_init init;      /* init.desc owned */
    int grad_of;        /* tensor index of the parameter, or -1 */
    double lr_mult, decay_mult;
} tgc_plan_tensor;

typedef struct tgc_instr {
    tgc_opcode code;
    int n_in, in[TGC_MAX_IN];    /* tensor indices */
    int n_out, out[TGC_MAX_OUT]; /* tensor indices */
    tgc_attrs attrs;
    char *scope; /* owned, may be NULL */
    int group;
} tgc_instr;

typedef struct tgc_plan_bucket {
    int n;
    int *tensors; /* owned; tensor indices */
    uint64_t offset, bytes;
    int ready_instr; /* the collective is issued right after this instruction */
} tgc_plan_bucket;

typedef struct tgc_program {
    char *name; /* owned: "train", "eval" */
    int n_instr;
    tgc_instr *instr; /* owned */
    int n_outputs;
    int *outputs; /* owned; tensor indices (train: loss; eval: logits) */
    int n_inputs;
    int *inputs;  /* owned; tensor indices of step inputs: images, labels, lr, step */
    tgc_mem_stats mem;
    int n_buckets;
    tgc_plan_bucket *buckets; /* owned */
    int64_t batch;
} tgc_program;

typedef struct tgc_plan {
    tgc_target target; /* what it was compiled for (passes/target.h): runs only on that device kind */
    int n_tensors;
    tgc_plan_tensor *tensors;
    int n_programs;
    tgc_program *programs;
    uint64_t slab_bytes[TGC_SLAB_COUNT]; /* ARENA = max over programs */
    tgc_optim_spec optim;
    tgc_amp_spec amp; /* mixed precision (META amp.*): dtype TGC_F32 for an fp32 plan */
    tgc_layout layout; /* the activations' layout it was compiled with (META layout, `--layout`); each tensor's
                        * own is in its type */
    tgc_cfg *config; /* owned; the resolved config */
    int64_t params;  /* exact parameter count, frozen ones (frozen_stages) included */
    double macs_per_sample, flops_per_sample; /* forward, per image */
    uint32_t checksum; /* of the file it was read from / written to */
    char *ignored;     /* owned or NULL: settings accepted but not implemented, "FILE:LINE: PATH: WHAT\n" each
                        * (frontend/ignored.h); META "ignored" */
} tgc_plan;

/* Lowers a module that has been through the pipeline into a plan (takes a clone of cfg). */
tgc_plan *tgc_plan_from_module(const tgc_module *m, const tgc_cfg *cfg, tgc_err *err);
void tgc_plan_free(tgc_plan *p);

int tgc_plan_serialize(const tgc_plan *p, tgc_buf *out, tgc_err *err);
tgc_plan *tgc_plan_deserialize(const uint8_t *data, size_t len, const char *name, tgc_err *err);
int tgc_plan_save(const tgc_plan *p, const char *path, tgc_err *err);   /* atomic */
tgc_plan *tgc_plan_load(const char *path, tgc_err *err);
/* Structural checks of a loaded plan: indices in range, shapes consistent with op inference, placed
 * tensors inside their slabs at multiples of the target's alignment, no two simultaneously live arena
 * tensors overlapping, and fusion groups that every device can run as one kernel (elementwise: one
 * element count, overlaps only in place; optimizer: one op and layout). Messages name the instruction. */
int tgc_plan_validate(const tgc_plan *p, tgc_err *err);
/* The run path's check that a plan may run on `device` ("cpu", "cuda", "cuda:N"): the plan's target must
 * be that device kind; the refusal says how to recompile (`tgc compile CONFIG --target KIND`). */
int tgc_plan_check_target(const tgc_plan *p, const char *device, tgc_err *err);
const tgc_program *tgc_plan_program(const tgc_plan *p, const char *name);

/* Programs of the other canvas orientation (a detection plan with AspectRatioBatchSampler): "train_portrait"
 * and "eval_portrait", compiled from the same config on the transposed canvas. */
#define TGC_PLAN_PORTRAIT "_portrait"
/* Lowers m's train and eval graphs into p as programs "train<suffix>" and "eval<suffix>", variants of p's
 * train and eval: state shared by name at the same places (as lowering checks for every graph), inputs and
 * temps their own, named after the program; the arena and input slabs grow to the largest program's, the
 * state and gradient slabs must keep their sizes, and each variant must pass tgc_plan_check_variant.
 * On error the message names the tensor at fault and p is only fit to be freed. */
int tgc_plan_add_variant(tgc_plan *p, const tgc_module *m, const char *suffix, tgc_err *err);
/* A variant against its base program: the same batch, inputs and outputs by name, dtype and rank (shapes
 * may differ: the canvas), the same buckets (gradients of the same parameters at the same grad-slab
 * offsets, in the same order) and every gradient where the base has it. tgc_plan_validate checks every
 * program named "*" TGC_PLAN_PORTRAIT against the one without the suffix. */
int tgc_plan_check_variant(const tgc_plan *p, const tgc_program *base, const tgc_program *var, tgc_err *err);

/* `tgc inspect`: for people, and --json (params, flops_per_sample, macs_per_sample, programs,
 * memory{arena_bytes, lower_bound_bytes, naive_bytes}, buckets[{bytes, tensors}]). */
/* The elements of the parameters that have a gradient (all but the frozen ones). */
int64_t tgc_plan_trainable_params(const tgc_plan *p);
void tgc_plan_print(const tgc_plan *p, FILE *f);
void tgc_plan_print_json(const tgc_plan *p, FILE *f);

#endif
