/* runtime/profile/profile.h - profiling dumps: per-kernel Chrome traces, a per-op summary, arena occupancy.
 *
 * Usage (what `tgc run ... --profile DIR` does, per rank):
 *
 *     tgc_profiler *prof = tgc_profiler_new(plan, rank, &err);
 *     tgc_exec_on_instr(exec, tgc_profiler_on_instr, prof);      // one span per executed instruction
 *     for each iteration:
 *         t0 = tgc_now(); load the batch; tgc_profiler_span(prof, "data", "load", t0, tgc_now(), NULL);
 *         tgc_profiler_step_begin(prof, iter);
 *         tgc_exec_run(exec, "train", &err);                     // the callback records the kernels
 *         tgc_profiler_step_end(prof);
 *     tgc_profiler_write(prof, DIR, &err);
 *     tgc_exec_on_instr(exec, NULL, NULL); tgc_profiler_free(prof);
 *
 * tgc_profiler_write creates DIR/rank<R>/ and writes:
 *   trace.json       Chrome trace event format (opens in Perfetto and chrome://tracing): {"traceEvents":
 *                    [...], "displayTimeUnit": "ms", "otherData": {...}}. "X" complete events with ts/dur in
 *                    microseconds from the first recorded event, pid = rank, tid = track: 1 "compute",
 *                    2 "data", 3 "comm", 4 "hooks", each named by an "M" thread_name event (the process by
 *                    process_name "rank R"). Compute track: one event per executed instruction (cat
 *                    "kernel", name = the op, args: instr, program, step, scope, flops, bytes) nested in one
 *                    event per step (cat "step", name "step N"). Other tracks: the spans given to
 *                    tgc_profiler_span (cat = the track; args: track, step when inside one, the caller's
 *                    items). otherData: rank, steps profiled, warm-up steps, events, dropped events.
 *   op_summary.txt   per-op table sorted by total time: op, calls, total ms, mean us, share %, GFLOP,
 *   op_summary.json  GFLOP/s, MB moved (share = the op's part of all recorded kernel time, so the shares
 *                    sum to 100%). Rows are keyed by op name for the "train" program and "<program>/<op>"
 *                    for others (an evaluation run inside the window stays apart). FLOPs and bytes are the
 *                    op table's cost rules (ir/ops.c: MACs count 2 FLOPs; bytes = operands + results as if
 *                    nothing were fused) times the calls. The JSON adds totals and the non-compute tracks.
 *   memory.json      the arena's occupancy over one run of each program (train first): per instruction, the
 *   memory.txt       bytes of arena tensors live there (by the plan's placement; a tensor is live from its
 *                    defining instruction to its last use, program outputs to the end), with the peak,
 *                    the instruction where it is reached, the planned lower bound and the arena size.
 *                    Bytes are the union of the live tensors' ranges, so an in-place pair sharing memory
 *                    counts once and the peak equals the plan's lower bound.
 *
 * Cost and bounds. With no callback set the executor does not even read the clock, so an executor without
 * a profiler pays nothing. With one, each instruction appends one 40-byte record (no allocation once the
 * event array has grown) while the recording window is open; the window and the event count are capped
 * (tgc_profiler_limits): the first `warmup_steps` steps (oneDNN builds its primitives in step 1) are not
 * recorded, then `steps` steps are, and never more than `max_events` events (further ones are counted in
 * otherData.dropped_events). The window opens when the last warm-up step ends (at creation when
 * warmup_steps is 0) and closes when the last profiled step ends, so a data span recorded between steps
 * belongs to the window it falls in. Defaults: warmup 1, 10 steps, 200,000 events (8 MB of records, a
 * trace of about 40 MB).
 *
 * A profiler is used by one thread (the one running the executor), like the executor itself.
 */
#ifndef TGC_RUNTIME_PROFILE_H
#define TGC_RUNTIME_PROFILE_H

#include <stdint.h>

#include "plan/plan.h"
#include "common/util.h"

typedef struct tgc_profiler tgc_profiler;

typedef struct tgc_profiler_limits {
    int warmup_steps; /* steps not recorded before the window opens (>= 0)          */
    int steps;        /* steps recorded (>= 1)                                        */
    int max_events;   /* events recorded at most, all tracks together (>= 16)        */
} tgc_profiler_limits;

#define TGC_PROFILE_DEFAULT_WARMUP 1
#define TGC_PROFILE_DEFAULT_STEPS 10
#define TGC_PROFILE_DEFAULT_MAX_EVENTS 200000

/* A profiler for a plan that tgc_plan_validate accepted (the plan must outlive it); rank names the
 * output directory and is the trace's pid. Costs every instruction up front. NULL with err on failure. */
tgc_profiler *tgc_profiler_new(const tgc_plan *plan, int rank, tgc_err *err);
void tgc_profiler_free(tgc_profiler *p);
/* Replaces the default limits (call before the first step); values out of range are an error. */
int tgc_profiler_set_limits(tgc_profiler *p, const tgc_profiler_limits *lim, tgc_err *err);

/* The instruction callback: pass it to tgc_exec_on_instr with the profiler as ctx (a tgc_instr_fn). */
void tgc_profiler_on_instr(void *ctx, const tgc_program *prog, int instr, double t0, double t1);

/* Step boundaries: step is the iteration number shown in the trace ("step N" and each kernel's args). */
void tgc_profiler_step_begin(tgc_profiler *p, int64_t step);
void tgc_profiler_step_end(tgc_profiler *p);
/* 1 while the recording window is open (callers may skip timing work otherwise), else 0. */
int tgc_profiler_recording(const tgc_profiler *p);

/* Records a span [t0, t1] (tgc_now() seconds) on track "data", "comm" or "hooks". name is copied.
 * args is NULL or space-separated key=value items (copied), e.g. "bucket=3 bytes=1048576": a value
 * that reads as a finite number becomes a JSON number, any other a string; an item without '=' is
 * shown as "detail". Returns 0 when recorded, 1 when not (window closed, event cap, t1 < t0), -1 for
 * an unknown track. */
int tgc_profiler_span(tgc_profiler *p, const char *track, const char *name, double t0, double t1,
                      const char *args);

/* Writes DIR/rank<R>/{trace.json, op_summary.txt, op_summary.json, memory.json, memory.txt}, creating
 * the directories (each file atomically). May be called more than once. */
int tgc_profiler_write(const tgc_profiler *p, const char *dir, tgc_err *err);

/* Events recorded so far (all tracks, step spans included) and events dropped at the cap. */
int tgc_profiler_n_events(const tgc_profiler *p);
int64_t tgc_profiler_n_dropped(const tgc_profiler *p);

/* ---- static analysis of a plan (used by the writer; public for tests and `tgc inspect`) ---------- */

/* The cost (op table rules over the plan's tensor types) of each of the program's n_instr instructions. */
int tgc_profile_costs(const tgc_plan *plan, const tgc_program *prog, tgc_cost *out, tgc_err *err);

/* The arena's occupancy over one run of a program. */
typedef struct tgc_occupancy {
    int n_instr;
    uint64_t *live_bytes; /* owned; per instruction: bytes covered by live arena tensors */
    int *live_tensors;    /* owned; per instruction: number of live arena tensors        */
    uint64_t peak_bytes;
    int peak_instr; /* first instruction reaching the peak (-1 when the program is empty) */
    uint64_t arena_bytes, lower_bound_bytes; /* the plan's */
} tgc_occupancy;

int tgc_profile_occupancy(const tgc_plan *plan, const tgc_program *prog, tgc_occupancy *out, tgc_err *err);
void tgc_occupancy_free(tgc_occupancy *o);

#endif
