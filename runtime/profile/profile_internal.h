/* runtime/profile/profile_internal.h - the profiler state shared by the recorder (profile.c) and writer (profile_write.c). */
#ifndef TGC_RUNTIME_PROFILE_INTERNAL_H
#define TGC_RUNTIME_PROFILE_INTERNAL_H

#include "runtime/profile/profile.h"

enum { PROF_TRACK_COMPUTE, PROF_TRACK_DATA, PROF_TRACK_COMM, PROF_TRACK_HOOKS, PROF_TRACK_COUNT };
enum { PROF_EV_KERNEL, PROF_EV_STEP, PROF_EV_SPAN };

extern const char *const tgc_prof_track_names[PROF_TRACK_COUNT];

/* One recorded event, 40 bytes. Kernel: a = program index, b = instruction. Span: a = name, b = args
 * (indices into strs; b = -1 without args). Step: a = b = -1. */
typedef struct prof_event {
    double t0, t1;
    int64_t step; /* the step it ran in, -1 outside steps */
    int32_t kind, track, a, b;
} prof_event;

struct tgc_profiler {
    const tgc_plan *plan;
    int rank;
    tgc_profiler_limits lim;
    tgc_cost **costs; /* owned: per program, per instruction */
    prof_event *ev;   /* owned */
    int n_ev, cap_ev;
    char **strs; /* owned: span names and args */
    int n_strs, cap_strs;
    int64_t dropped;
    int steps_begun;   /* step_begin calls so far */
    int in_step;
    int64_t cur_step;  /* the step number given to step_begin */
    double step_t0;
    int recording;     /* the window is open */
    int steps_recorded;
};

#endif
