/* backend/cuda/stream_api.c - the stream API's tables by name (backend/cuda/stream_api.h). */
#include "backend/cuda/stream_api.h"

#include <string.h>

const tgc_stream_api *tgc_stream_api_find(const char *name, tgc_err *err) {
    if (name && !strcmp(name, "standin")) return &tgc_standin_stream_api;
    if (name && !strcmp(name, "cuda")) {
#ifdef TGC_HAVE_CUDA
        return &tgc_cuda_stream_api;
#else
        tgc_fail(err, "this build has no CUDA support (built without nvcc), so no 'cuda' stream API");
        return NULL;
#endif
    }
    tgc_fail(err, "unknown stream API '%s' (standin, cuda)", name ? name : "(null)");
    return NULL;
}
