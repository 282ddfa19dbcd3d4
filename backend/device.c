/* backend/device.c - the registry of devices (`--device NAME`) and the open-device helpers. */
#include "backend/device.h"

#include <stdlib.h>
#include <string.h>

#ifdef TGC_HAVE_CUDA
#include "backend/cuda/cuda_backend.h"
#endif

/* Each backend defines its table (backend/cpu/cpu_device.c, backend/cuda/cuda_device.c). */
extern const tgc_device_ops tgc_cpu_device_ops;
extern const tgc_device_ops tgc_cuda_device_ops;

/* The devices that can run plans in this build, by name. */
#ifdef TGC_HAVE_CUDA
static const tgc_device_ops *const devices[] = {&tgc_cpu_device_ops, &tgc_cuda_device_ops};
#else
static const tgc_device_ops *const devices[] = {&tgc_cpu_device_ops};
#endif

static int is_cuda_name(const char *name) { return !strcmp(name, "cuda") || !strncmp(name, "cuda:", 5); }

/* CUDA_VISIBLE_DEVICES=-1 (or set and empty) hides every GPU, as CUDA and MMEngine read it. */
static int gpus_hidden(void) {
    const char *cvd = getenv("CUDA_VISIBLE_DEVICES");
    return cvd && (!strcmp(cvd, "-1") || !*cvd);
}

int tgc_device_name_valid(const char *name) { return name && (!strcmp(name, "cpu") || is_cuda_name(name)); }

const tgc_device_ops *tgc_device_find(const char *name, tgc_err *err) {
    if (!name) name = "cpu";
    if (!tgc_device_name_valid(name)) {
        tgc_fail(err, "unknown device '%s' (devices: cpu, cuda)", name);
        return NULL;
    }
    if (is_cuda_name(name)) { /* say what the machine and the build have */
        if (gpus_hidden()) {
            tgc_fail(err, "CUDA_VISIBLE_DEVICES=%s hides every GPU; use --device cpu", getenv("CUDA_VISIBLE_DEVICES"));
            return NULL;
        }
#ifdef TGC_HAVE_CUDA
        int n = tgc_cuda_device_count(), want = name[4] == ':' ? atoi(name + 5) : 0;
        if (n == 0) {
            tgc_fail(err, "no GPU is visible (no NVIDIA driver or device found); use --device cpu");
            return NULL;
        }
        if (want < 0 || want >= n) {
            tgc_fail(err, "no GPU %d (%d visible); use --device cuda:0 ... cuda:%d", want, n, n - 1);
            return NULL;
        }
#else
        tgc_fail(err, "this build has no CUDA support (built without nvcc); use --device cpu");
        return NULL;
#endif
    }
    for (size_t i = 0; i < TGC_ARRAY_LEN(devices); i++)
        if (!strcmp(devices[i]->name, name) || (is_cuda_name(name) && !strcmp(devices[i]->name, "cuda")))
            return devices[i];
    tgc_fail(err, "device '%s' is not in this build", name);
    return NULL;
}

const char *tgc_device_default(void) { return tgc_device_count("cuda", NULL) > 0 ? "cuda" : "cpu"; }

int tgc_device_count(const char *kind, int *built) {
    int have_build = 0, n = 0;
    if (kind && !strcmp(kind, "cpu")) {
        have_build = 1;
        n = 1;
    } else if (kind && is_cuda_name(kind)) {
#ifdef TGC_HAVE_CUDA
        have_build = 1;
        n = gpus_hidden() ? 0 : tgc_cuda_device_count();
#endif
    }
    if (built) *built = have_build;
    return n;
}

tgc_device *tgc_device_open(const char *name, const tgc_device_opts *o, tgc_err *err) {
    const tgc_device_ops *ops = tgc_device_find(name, err);
    if (!ops) return NULL;
    tgc_device_opts opts = {0};
    if (o) opts = *o;
    if (name && !strncmp(name, "cuda:", 5)) opts.ordinal = atoi(name + 5);
    void *impl = ops->open(&opts, err);
    if (!impl) return NULL;
    tgc_device *d = tgc_calloc(1, sizeof *d);
    d->ops = ops;
    d->impl = impl;
    return d;
}

void tgc_device_close(tgc_device *d) {
    if (!d) return;
    d->ops->close(d->impl);
    free(d);
}

void tgc_device_describe(const tgc_device *d, char *buf, size_t size) { d->ops->describe(d->impl, buf, size); }

void *tgc_device_host_alloc(const tgc_device *d, size_t bytes, tgc_err *err) {
    return d->ops->host_alloc(d->impl, bytes, err);
}

void tgc_device_host_free(const tgc_device *d, void *p) { d->ops->host_free(d->impl, p); }
