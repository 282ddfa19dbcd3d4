/* runtime/dist/dist_env.c - launcher variables (pytorch, slurm, mpi, tgc's own), Slurm node lists, job tokens. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/dist/dist.h"

static const char *const launcher_names[] = {"none", "pytorch", "slurm", "mpi"};

int tgc_launcher_parse(const char *name, tgc_launcher *out, tgc_err *err) {
    for (size_t i = 0; i < TGC_ARRAY_LEN(launcher_names); i++)
        if (name && !strcmp(name, launcher_names[i])) {
            *out = (tgc_launcher)i;
            return 0;
        }
    return tgc_fail(err, "--launcher must be none, pytorch, slurm or mpi (got '%s')", name ? name : "");
}

const char *tgc_launcher_name(tgc_launcher l) {
    return (unsigned)l < TGC_ARRAY_LEN(launcher_names) ? launcher_names[l] : "?";
}

const char *tgc_dist_getenv(void *ctx, const char *name) {
    (void)ctx;
    return getenv(name);
}

/* A decimal integer in [lo, hi] from a variable; a missing one is an error only when required. */
static int env_int(tgc_getenv_fn get, void *ctx, const char *who, const char *name, int required, long def, long lo,
                   long hi, int *out, tgc_err *err) {
    const char *s = get(ctx, name);
    if (!s || !*s) {
        if (required) return tgc_fail(err, "%s: %s is not set", who, name);
        *out = (int)def;
        return 0;
    }
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (*end || errno || v < lo || v > hi)
        return tgc_fail(err, "%s: %s='%s' is not an integer in %ld..%ld", who, name, s, lo, hi);
    *out = (int)v;
    return 0;
}

static int env_str(tgc_getenv_fn get, void *ctx, const char *who, const char *name, const char *def, char *buf,
                   size_t size, tgc_err *err) {
    const char *s = get(ctx, name);
    if (!s || !*s) {
        if (!def) return tgc_fail(err, "%s: %s is not set", who, name);
        s = def;
    }
    if (strlen(s) >= size) return tgc_fail(err, "%s: %s is longer than %zu bytes", who, name, size - 1);
    snprintf(buf, size, "%s", s);
    return 0;
}

int tgc_dist_timeout(tgc_getenv_fn get, void *ctx, double *out, tgc_err *err) {
    const char *s = get(ctx, "TGC_DIST_TIMEOUT");
    *out = TGC_DIST_DEFAULT_TIMEOUT;
    if (!s || !*s) return 0;
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (*end || errno || !(v > 0) || v > 1e6)
        return tgc_fail(err, "TGC_DIST_TIMEOUT='%s' is not a number of seconds in (0, 1e6]", s);
    *out = v;
    return 0;
}

int tgc_slurm_first_host(const char *list, char *buf, size_t size, tgc_err *err) {
    size_t n = 0;
    const char *p = list ? list : "";
    /* Copy up to the first top-level comma; inside each [...] take the text before its first ',' or '-':
     * the first value of the first range, zero padding kept, as `scontrol show hostname` prints it. */
    while (*p && *p != ',') {
        if (*p == '[') {
            const char *close = strchr(p, ']');
            if (!close) return tgc_fail(err, "SLURM_NODELIST='%s': unclosed '['", list);
            const char *q = p + 1;
            if (q == close || *q == ',' || *q == '-') return tgc_fail(err, "SLURM_NODELIST='%s': empty range", list);
            for (; q < close && *q != ',' && *q != '-'; q++) {
                if (n + 1 >= size) return tgc_fail(err, "SLURM_NODELIST='%s': host name too long", list);
                buf[n++] = *q;
            }
            p = close + 1;
            continue;
        }
        if (*p == ']') return tgc_fail(err, "SLURM_NODELIST='%s': ']' without '['", list);
        if (n + 1 >= size) return tgc_fail(err, "SLURM_NODELIST='%s': host name too long", list);
        buf[n++] = *p++;
    }
    if (n == 0) return tgc_fail(err, "SLURM_NODELIST='%s' names no host", list ? list : "");
    buf[n] = 0;
    return 0;
}

int tgc_dist_env_read(tgc_launcher l, tgc_getenv_fn get, void *ctx, tgc_dist_env *e, tgc_err *err) {
    memset(e, 0, sizeof *e);
    e->launcher = l;
    const char *who = l == TGC_LAUNCHER_PYTORCH ? "--launcher pytorch"
                      : l == TGC_LAUNCHER_SLURM ? "--launcher slurm (is this running under srun?)"
                      : l == TGC_LAUNCHER_MPI   ? "--launcher mpi (is this running under mpirun?)"
                                                : NULL;
    if (!who) return tgc_fail(err, "internal error: no variables to read for --launcher none");
    const int big = 1 << 30;
    switch (l) {
    case TGC_LAUNCHER_PYTORCH:
        if (env_int(get, ctx, who, "RANK", 1, 0, 0, big, &e->rank, err) ||
            env_int(get, ctx, who, "LOCAL_RANK", 1, 0, 0, big, &e->local_rank, err) ||
            env_int(get, ctx, who, "WORLD_SIZE", 1, 0, 1, big, &e->world, err) ||
            env_str(get, ctx, who, "MASTER_ADDR", NULL, e->master_addr, sizeof e->master_addr, err) ||
            env_int(get, ctx, who, "MASTER_PORT", 1, 0, 1, 65535, &e->port, err))
            return -1;
        break;
    case TGC_LAUNCHER_SLURM: {
        char nodelist_host[TGC_DIST_MAX_ADDR];
        const char *nl = get(ctx, "SLURM_NODELIST");
        if (env_int(get, ctx, who, "SLURM_PROCID", 1, 0, 0, big, &e->rank, err) ||
            env_int(get, ctx, who, "SLURM_NTASKS", 1, 0, 1, big, &e->world, err) ||
            env_int(get, ctx, who, "SLURM_LOCALID", 0, 0, 0, big, &e->local_rank, err))
            return -1;
        if (!nl || !*nl) return tgc_fail(err, "%s: SLURM_NODELIST is not set", who);
        if (tgc_slurm_first_host(nl, nodelist_host, sizeof nodelist_host, err)) return tgc_err_prefix(err, "%s", who);
        if (env_str(get, ctx, who, "MASTER_ADDR", nodelist_host, e->master_addr, sizeof e->master_addr, err) ||
            env_int(get, ctx, who, "MASTER_PORT", 0, TGC_DIST_DEFAULT_PORT, 1, 65535, &e->port, err) ||
            env_str(get, ctx, who, "SLURM_JOB_ID", "", e->job_id, sizeof e->job_id, err))
            return -1;
        break;
    }
    case TGC_LAUNCHER_MPI:
        if (env_int(get, ctx, who, "OMPI_COMM_WORLD_RANK", 1, 0, 0, big, &e->rank, err) ||
            env_int(get, ctx, who, "OMPI_COMM_WORLD_SIZE", 1, 0, 1, big, &e->world, err) ||
            env_int(get, ctx, who, "OMPI_COMM_WORLD_LOCAL_RANK", 1, 0, 0, big, &e->local_rank, err) ||
            env_int(get, ctx, who, "MASTER_PORT", 0, TGC_DIST_DEFAULT_PORT, 1, 65535, &e->port, err))
            return -1;
        if (env_str(get, ctx, who, "MASTER_ADDR", NULL, e->master_addr, sizeof e->master_addr, err))
            return tgc_fail(err, "%s: the environment variable MASTER_ADDR is not set (mpirun -x MASTER_ADDR=...)", who);
        break;
    default: break;
    }
    if (e->rank >= e->world)
        return tgc_fail(err, "%s: rank %d is not below the world size %d", who, e->rank, e->world);
    if (env_str(get, ctx, who, "TGC_JOB_TOKEN", "", e->job_token, sizeof e->job_token, err)) return -1;
    return tgc_dist_timeout(get, ctx, &e->timeout_s, err);
}

int tgc_node_env_read(tgc_getenv_fn get, void *ctx, tgc_node_env *n, tgc_err *err) {
    memset(n, 0, sizeof *n);
    const char *who = "launch";
    if (env_int(get, ctx, who, "NNODES", 0, 1, 1, 65536, &n->nnodes, err) ||
        env_int(get, ctx, who, "NODE_RANK", 0, 0, 0, 65535, &n->node_rank, err) ||
        env_int(get, ctx, who, "PORT", 0, TGC_DIST_DEFAULT_PORT, 1, 65535, &n->port, err) ||
        env_str(get, ctx, who, "MASTER_ADDR", "127.0.0.1", n->master_addr, sizeof n->master_addr, err))
        return -1;
    if (n->node_rank >= n->nnodes)
        return tgc_fail(err, "NODE_RANK=%d is not below NNODES=%d (nodes are numbered from 0)", n->node_rank, n->nnodes);
    return 0;
}

/* FNV-1a over the fields, with a separator so that ("ab", "c") and ("a", "bc") differ. */
static uint64_t fnv(uint64_t h, const char *s) {
    for (; *s; s++) h = (h ^ (uint8_t)*s) * 1099511628211ull;
    return (h ^ 0x1fu) * 1099511628211ull;
}

void tgc_dist_token(const tgc_dist_env *e, uint32_t plan_checksum, char *buf, size_t size) {
    char num[32];
    uint64_t h = 1469598103934665603ull;
    snprintf(num, sizeof num, "%08x:%d", plan_checksum, e->port);
    h = fnv(h, num);
    h = fnv(h, e->job_token);
    h = fnv(h, e->job_id);
    /* A second, differently seeded pass makes accidental collisions of 128 bits, not 64. */
    uint64_t g = fnv(fnv(fnv(0x84222325cbf29ce4ull, e->job_id), e->job_token), num);
    snprintf(buf, size, "tgc-%08x-%016llx%016llx", plan_checksum, (unsigned long long)h, (unsigned long long)g);
}
