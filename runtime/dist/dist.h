/* runtime/dist/dist.h - data parallelism across processes: who this process is (launcher variables), and the
 * DDP glue between the training loop, the executor and the collectives.
 *
 * Launch (dist_env.c). A worker learns its place from its launcher's variables, read exactly as
 * MMEngine's init_dist does:
 *   pytorch  RANK, LOCAL_RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT (all required, as env://).
 *   slurm    SLURM_PROCID, SLURM_NTASKS, SLURM_NODELIST; SLURM_LOCALID (else 0 on CPU); MASTER_PORT, else
 *            29500; MASTER_ADDR, else the first host of SLURM_NODELIST (`scontrol show hostname | head -1`).
 *   mpi      OMPI_COMM_WORLD_RANK, OMPI_COMM_WORLD_SIZE, OMPI_COMM_WORLD_LOCAL_RANK; MASTER_PORT, else
 *            29500; MASTER_ADDR required.
 * `tgc run --nproc N` (or --gpus N) is itself a launcher for one node: it reads NNODES (1), NODE_RANK (0),
 * MASTER_ADDR (127.0.0.1) and PORT (29500), and starts N workers with the pytorch variables.
 *
 * The job token. Every rank presents it to the rendezvous store, which refuses a process of another job.
 * It is derived from the plan's checksum, the port, TGC_JOB_TOKEN and SLURM_JOB_ID (under slurm): the
 * single-node launcher puts a fresh random TGC_JOB_TOKEN in its workers' environment, so two jobs never
 * share one; on several nodes (or under an external launcher) every node derives the same token from
 * what they share, and a user who runs two multi-node jobs of one plan on one port sets TGC_JOB_TOKEN.
 * Ranks running different plans are refused as well (the checksum differs).
 *
 * Timeouts: TGC_DIST_TIMEOUT seconds (default 300) bound the rendezvous and every collective.
 */
#ifndef TGC_RUNTIME_DIST_H
#define TGC_RUNTIME_DIST_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include "common/util.h"
#include "runtime/exec/executor.h"

#define TGC_DIST_DEFAULT_PORT 29500
#define TGC_DIST_DEFAULT_TIMEOUT 300.0
#define TGC_DIST_MAX_ADDR 256

typedef enum { TGC_LAUNCHER_NONE, TGC_LAUNCHER_PYTORCH, TGC_LAUNCHER_SLURM, TGC_LAUNCHER_MPI } tgc_launcher;

/* "none", "pytorch", "slurm", "mpi" -> *out; 0, or -1 with the accepted names in err. */
int tgc_launcher_parse(const char *name, tgc_launcher *out, tgc_err *err);
const char *tgc_launcher_name(tgc_launcher l);

/* An environment lookup (getenv in tgc; a table in tests); NULL when unset. */
typedef const char *(*tgc_getenv_fn)(void *ctx, const char *name);
const char *tgc_dist_getenv(void *ctx, const char *name); /* getenv(name), ctx unused */

/* One worker's place in the job. */
typedef struct tgc_dist_env {
    tgc_launcher launcher;
    int rank, world, local_rank;
    char master_addr[TGC_DIST_MAX_ADDR];
    int port;
    char job_token[TGC_DIST_MAX_ADDR]; /* TGC_JOB_TOKEN ("" when unset) */
    char job_id[64];                   /* SLURM_JOB_ID under slurm, else "" */
    double timeout_s;                  /* TGC_DIST_TIMEOUT, else TGC_DIST_DEFAULT_TIMEOUT */
} tgc_dist_env;

/* Reads a launcher's variables (not NONE). A missing or malformed variable is an error naming it and
 * the launcher ("--launcher slurm: SLURM_PROCID is not set (is this running under srun?)"). */
int tgc_dist_env_read(tgc_launcher l, tgc_getenv_fn get, void *ctx, tgc_dist_env *e, tgc_err *err);

/* The first host of a Slurm node list: "node[01-03],gpu5" -> "node01", "rack[2-3]-n[7,9]" -> "rack2-n7".
 * Malformed lists (an unclosed bracket, an empty list) are errors. */
int tgc_slurm_first_host(const char *nodelist, char *buf, size_t size, tgc_err *err);

/* The job token (see above) into buf (at least 40 bytes). */
void tgc_dist_token(const tgc_dist_env *e, uint32_t plan_checksum, char *buf, size_t size);

/* The single-node launcher's settings: NNODES, NODE_RANK, MASTER_ADDR, PORT with their defaults. */
typedef struct tgc_node_env {
    int nnodes, node_rank, port;
    char master_addr[TGC_DIST_MAX_ADDR];
} tgc_node_env;
int tgc_node_env_read(tgc_getenv_fn get, void *ctx, tgc_node_env *n, tgc_err *err);

/* A strictly positive number of seconds from TGC_DIST_TIMEOUT (default when unset); -1 when malformed. */
int tgc_dist_timeout(tgc_getenv_fn get, void *ctx, double *out, tgc_err *err);

/* ================================ DDP (dist_ddp.c) ================================
 *
 * One process's side of data-parallel training, as PyTorch DDP without SyncBN:
 *   - tgc_ddp_open: the rendezvous (rank 0 hosts the store at MASTER_ADDR:PORT), a check that every rank
 *     joined within the timeout (naming the ranks that did not), and the collective engine (Gloo on CPU,
 *     NCCL for a CUDA device).
 *   - tgc_ddp_attach: each gradient bucket's all-reduce (mean) is started from the executor's bucket
 *     callback as soon as the bucket is complete, and runs on the comm thread while backward goes on;
 *     before the first optimizer update every outstanding all-reduce is waited for. The same wait carries
 *     a one-float all-reduce of "a stop signal arrived", so every rank stops after the same iteration.
 *   - parameters, buffers and optimizer state are broadcast from rank 0 (tgc_ddp_broadcast_state) after
 *     initialisation or loading; BN running statistics then stay per rank (DDP's broadcast_buffers=False,
 *     MMEngine's default).
 */
typedef struct tgc_ddp tgc_ddp;

/* device: "cpu" (Gloo) or "cuda[:N]" (NCCL). The plan checksum enters the job token. */
tgc_ddp *tgc_ddp_open(const tgc_dist_env *e, uint32_t plan_checksum, const char *device, tgc_err *err);
/* Waits for outstanding collectives, frees the comm and leaves the store. NULL is a no-op. */
void tgc_ddp_free(tgc_ddp *d);
int tgc_ddp_rank(const tgc_ddp *d);
int tgc_ddp_world(const tgc_ddp *d);
const char *tgc_ddp_engine(const tgc_ddp *d);

/* Hooks the executor's bucket and grads-ready callbacks. The train program must have buckets. sigflag
 * (may be NULL) is read at each grads-ready point: nonzero on any rank makes tgc_ddp_stop_signal nonzero
 * on every rank after that step. */
int tgc_ddp_attach(tgc_ddp *d, tgc_exec *x, const tgc_plan *plan, volatile sig_atomic_t *sigflag, tgc_err *err);
/* On the cuda device with NCCL: the buckets' all-reduces are enqueued by the device itself on its comm stream,
 * each ordered after the kernel that completes its bucket (tgc_cuda_device_set_comm) instead of through the
 * executor's bucket callback and the comm thread. Nothing on other devices or engines, or with
 * TGC_DIST_HOST_BUCKETS=1 (the callback path, for comparison). Call after tgc_ddp_attach. */
int tgc_ddp_attach_device(tgc_ddp *d, tgc_exec *x, tgc_device *dev, tgc_err *err);
/* 0, or the signal to stop with once the ranks agreed to stop (this rank's own signal, else SIGINT when
 * some rank got SIGINT, else SIGTERM). */
int tgc_ddp_stop_signal(const tgc_ddp *d);

/* Every PARAM, BUFFER and OPTSTATE slab becomes rank 0's. */
int tgc_ddp_broadcast_state(tgc_ddp *d, tgc_exec *x, tgc_err *err);
/* *v becomes rank 0's value (through the store: exact for any 64-bit value). */
int tgc_ddp_sync_u64(tgc_ddp *d, const char *key, uint64_t *v, tgc_err *err);
/* In place: v[i] = the sum over ranks, exact for non-negative counts below 2^48. */
int tgc_ddp_sum_counts(tgc_ddp *d, int64_t *v, int n, tgc_err *err);
/* In place: v[i] = the mean over ranks (the sum divided by the world size, as DDP's gradient mean). */
int tgc_ddp_mean_f32(tgc_ddp *d, float *v, int n, tgc_err *err);
/* All-gather of bytes (MMEngine's collect_results): every rank's `bytes` bytes (a multiple of 4; they travel
 * as floats through broadcasts, copied bit for bit) concatenated in rank order into *all (owned by the
 * caller), with each rank's byte count in sizes[world] (may be NULL). Every rank must call it. */
int tgc_ddp_all_gather(tgc_ddp *d, const void *mine, size_t bytes, void **all, size_t *all_bytes, int64_t *sizes,
                       tgc_err *err);

/* With a profiler (runtime/profile/profile.h), each grads-ready wait is recorded as a span "allreduce wait" on
 * its comm track (args: buckets, bytes). NULL detaches. */
struct tgc_profiler;
void tgc_ddp_set_profiler(tgc_ddp *d, struct tgc_profiler *prof);

/* Step timing of the all-reduces: steps seen, seconds spent waiting at the grads-ready points (the part
 * of communication backward did not hide), and bytes reduced per step. TGC_DIST_NO_OVERLAP=1 waits right
 * after each start instead (for measuring what the overlap hides). */
void tgc_ddp_stats(const tgc_ddp *d, int64_t *steps, double *wait_s, uint64_t *bytes_per_step);

#endif
