/* tests/unit/test_exec_util.h - tensors in and out of an executor through its copies (tgc_exec_read/write), as the
 * runtime reaches them: tests hold host copies, never pointers into the device's slabs. */
#ifndef TGC_TEST_EXEC_UTIL_H
#define TGC_TEST_EXEC_UTIL_H

#include <check.h>
#include <stdlib.h>

#include "runtime/exec/executor.h"

/* A host copy of a whole tensor (free it). */
static inline void *exec_get(const tgc_exec *x, int tensor) {
    tgc_err err;
    const tgc_plan_tensor *t = tgc_exec_tensor(x, tensor);
    void *d = malloc(t->bytes ? (size_t)t->bytes : 1);
    ck_assert_ptr_nonnull(d);
    ck_assert_msg(tgc_exec_read(x, tensor, d, &err) == 0, "%s", err.msg);
    return d;
}

/* Uploads a whole tensor from host memory. */
static inline void exec_put(tgc_exec *x, int tensor, const void *src) {
    tgc_err err;
    ck_assert_msg(tgc_exec_write(x, tensor, src, &err) == 0, "%s", err.msg);
}

/* The first f32 of a tensor (a loss, a scalar input). */
static inline float exec_get_f32(const tgc_exec *x, int tensor) {
    tgc_err err;
    const tgc_plan_tensor *t = tgc_exec_tensor(x, tensor);
    float v = 0;
    ck_assert_msg(tgc_exec_read_bytes(x, t->slab, t->offset, sizeof v, &v, &err) == 0, "%s", err.msg);
    return v;
}

static inline void exec_put_f32(tgc_exec *x, int tensor, float v) {
    tgc_err err;
    const tgc_plan_tensor *t = tgc_exec_tensor(x, tensor);
    ck_assert_msg(tgc_exec_write_bytes(x, t->slab, t->offset, sizeof v, &v, &err) == 0, "%s", err.msg);
}

#endif
