/* runtime/profile/profile.c - the profiler's recorder: the instruction callback, step window, spans, event cap. */
#include <stdlib.h>
#include <string.h>

#include "runtime/profile/profile_internal.h"

const char *const tgc_prof_track_names[PROF_TRACK_COUNT] = {"compute", "data", "comm", "hooks"};

tgc_profiler *tgc_profiler_new(const tgc_plan *plan, int rank, tgc_err *err) {
    if (!plan) {
        tgc_fail(err, "profile: no plan");
        return NULL;
    }
    if (rank < 0) {
        tgc_fail(err, "profile: rank %d is negative", rank);
        return NULL;
    }
    tgc_profiler *p = tgc_calloc(1, sizeof *p);
    p->plan = plan;
    p->rank = rank;
    p->lim = (tgc_profiler_limits){TGC_PROFILE_DEFAULT_WARMUP, TGC_PROFILE_DEFAULT_STEPS,
                                   TGC_PROFILE_DEFAULT_MAX_EVENTS};
    p->recording = p->lim.warmup_steps == 0;
    p->cur_step = -1;
    p->costs = tgc_calloc((size_t)(plan->n_programs ? plan->n_programs : 1), sizeof(tgc_cost *));
    for (int i = 0; i < plan->n_programs; i++) {
        const tgc_program *pr = &plan->programs[i];
        p->costs[i] = tgc_calloc((size_t)(pr->n_instr ? pr->n_instr : 1), sizeof(tgc_cost));
        if (tgc_profile_costs(plan, pr, p->costs[i], err) < 0) {
            tgc_profiler_free(p);
            return NULL;
        }
    }
    return p;
}

void tgc_profiler_free(tgc_profiler *p) {
    if (!p) return;
    for (int i = 0; i < p->plan->n_programs; i++) free(p->costs[i]);
    free(p->costs);
    for (int i = 0; i < p->n_strs; i++) free(p->strs[i]);
    free(p->strs);
    free(p->ev);
    free(p);
}

int tgc_profiler_set_limits(tgc_profiler *p, const tgc_profiler_limits *lim, tgc_err *err) {
    if (lim->warmup_steps < 0 || lim->steps < 1 || lim->max_events < 16)
        return tgc_fail(err, "profile: limits warmup_steps=%d steps=%d max_events=%d (want >= 0, >= 1, >= 16)",
                        lim->warmup_steps, lim->steps, lim->max_events);
    if (p->steps_begun > 0) return tgc_fail(err, "profile: limits must be set before the first step");
    p->lim = *lim;
    p->recording = lim->warmup_steps == 0;
    return 0;
}

/* Appends an event unless the cap is reached (then counts it as dropped). */
static prof_event *push(tgc_profiler *p) {
    if (p->n_ev >= p->lim.max_events) {
        p->dropped++;
        return NULL;
    }
    if (p->n_ev == p->cap_ev) TGC_GROW(p->ev, p->cap_ev, p->n_ev + 1);
    return &p->ev[p->n_ev++];
}

static int add_str(tgc_profiler *p, const char *s) {
    if (p->n_strs == p->cap_strs) TGC_GROW(p->strs, p->cap_strs, p->n_strs + 1);
    p->strs[p->n_strs] = tgc_strdup(s);
    return p->n_strs++;
}

void tgc_profiler_on_instr(void *ctx, const tgc_program *prog, int instr, double t0, double t1) {
    tgc_profiler *p = ctx;
    if (!p || !p->recording) return;
    const tgc_plan *plan = p->plan;
    int pi = -1;
    /* The executor passes the plan's own program; a name match covers a copy of the plan. */
    for (int i = 0; i < plan->n_programs && pi < 0; i++)
        if (&plan->programs[i] == prog) pi = i;
    for (int i = 0; i < plan->n_programs && pi < 0; i++)
        if (prog && strcmp(plan->programs[i].name, prog->name) == 0) pi = i;
    if (pi < 0 || instr < 0 || instr >= plan->programs[pi].n_instr) return;
    prof_event *e = push(p);
    if (!e) return;
    *e = (prof_event){t0, t1 >= t0 ? t1 : t0, p->in_step ? p->cur_step : -1, PROF_EV_KERNEL, PROF_TRACK_COMPUTE,
                      pi, instr};
}

void tgc_profiler_step_begin(tgc_profiler *p, int64_t step) {
    if (p->in_step) tgc_profiler_step_end(p); /* a missing end closes the previous step here */
    p->steps_begun++;
    p->in_step = 1;
    p->cur_step = step;
    p->step_t0 = tgc_now();
}

void tgc_profiler_step_end(tgc_profiler *p) {
    if (!p->in_step) return;
    double t1 = tgc_now();
    int idx = p->steps_begun - 1, first = p->lim.warmup_steps, last = first + p->lim.steps - 1;
    if (p->recording && idx >= first && idx <= last) {
        prof_event *e = push(p);
        if (e) *e = (prof_event){p->step_t0, t1, p->cur_step, PROF_EV_STEP, PROF_TRACK_COMPUTE, -1, -1};
        p->steps_recorded++;
    }
    if (idx == first - 1) p->recording = 1;
    if (idx == last) p->recording = 0;
    p->in_step = 0;
}

int tgc_profiler_recording(const tgc_profiler *p) { return p && p->recording; }

int tgc_profiler_span(tgc_profiler *p, const char *track, const char *name, double t0, double t1,
                      const char *args) {
    int tr = -1;
    for (int i = PROF_TRACK_DATA; i < PROF_TRACK_COUNT && track; i++)
        if (strcmp(track, tgc_prof_track_names[i]) == 0) tr = i;
    if (tr < 0) return -1;
    if (!p->recording || !(t1 >= t0)) return 1;
    prof_event *e = push(p);
    if (!e) return 1;
    int a = add_str(p, name ? name : "");
    int b = args && *args ? add_str(p, args) : -1;
    *e = (prof_event){t0, t1, p->in_step ? p->cur_step : -1, PROF_EV_SPAN, tr, a, b};
    return 0;
}

int tgc_profiler_n_events(const tgc_profiler *p) { return p->n_ev; }
int64_t tgc_profiler_n_dropped(const tgc_profiler *p) { return p->dropped; }
