/* runtime/dist/store/store.h - a small TCP key-value store for the rendezvous of multi-process jobs.
 *
 * One process (rank 0, the MASTER) runs the server in a background thread on MASTER_ADDR:PORT; every
 * rank, rank 0 included, connects as a client. The store exists only to exchange what the collective
 * engines need to start (Gloo's addresses, NCCL's unique id) and small counters; it is not a data path.
 *
 * - Every client presents the job's token and world size when it connects; a client of another job
 *   (another token, another world size) is refused with a clear error on both sides, so a stray process
 *   or a second job pointed at the same port cannot join.
 * - get and wait block until the key exists, the timeout passes, or a rank is known to be dead: a rank
 *   that drops its connection without tgc_store_close fails every blocked and later wait at once, so a
 *   crashed peer never leaves the others hanging until the timeout.
 * - Keys are at most TGC_STORE_MAX_KEY bytes, values at most TGC_STORE_MAX_VALUE bytes, and the server
 *   holds at most TGC_STORE_MAX_KEYS keys: memory stays bounded whatever a client sends.
 * - A client handle may be used from several threads; each request is one locked round trip.
 */
#ifndef TGC_RUNTIME_STORE_H
#define TGC_RUNTIME_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "common/util.h"

#ifdef __cplusplus
extern "C" {
#endif

#define TGC_STORE_MAX_KEY 1024
#define TGC_STORE_MAX_VALUE (4u << 20)
#define TGC_STORE_MAX_KEYS 16384
#define TGC_STORE_MAX_TOKEN 256
#define TGC_STORE_MAX_WORLD 65536

typedef struct tgc_store_cfg {
    const char *addr;  /* MASTER_ADDR: the server listens on it, clients connect to it (name or IP) */
    int port;          /* PORT, 1..65535 */
    const char *token; /* the job token: every rank of one job passes the same non-empty string */
    int rank, world;   /* this process's rank in [0, world) and the number of ranks */
    double timeout_s;  /* connecting, get and wait give up after this long; <= 0 means 30 s */
} tgc_store_cfg;

typedef struct tgc_store_server tgc_store_server;
typedef struct tgc_store tgc_store;

/* Starts the server thread listening on cfg->addr:cfg->port. A port already taken fails with
 * "port P is in use: set PORT to run a second job". */
tgc_store_server *tgc_store_server_start(const tgc_store_cfg *cfg, tgc_err *err);
/* Stops the server. It first lingers (at most the timeout) until every rank has joined and left, so
 * rank 0 finishing first does not cut off ranks still reading keys or starting late. NULL is a no-op. */
void tgc_store_server_stop(tgc_store_server *s);
/* Number of clients refused so far (wrong token or world size); the last refusal's message in *last
 * when it is non-NULL and one happened. The launcher logs these: the refused process sees its own. */
int tgc_store_server_refused(tgc_store_server *s, tgc_err *last);

/* Connects to the server, retrying with backoff until the timeout (the master may start later). */
tgc_store *tgc_store_connect(const tgc_store_cfg *cfg, tgc_err *err);
/* Rank 0 starts the server and connects; other ranks connect. tgc_store_close stops an owned server. */
tgc_store *tgc_store_open(const tgc_store_cfg *cfg, tgc_err *err);
/* Says goodbye (a clean leave, not a death) and frees the handle; stops the server if it owns one. */
void tgc_store_close(tgc_store *s);
/* The server this handle started (rank 0 after tgc_store_open), or NULL. */
tgc_store_server *tgc_store_owned_server(tgc_store *s);

int tgc_store_rank(const tgc_store *s);
/* The local IP address (text) of this rank's connection to the store: the address of the interface
 * that routes to MASTER_ADDR, which is where peers of a collective engine can reach this rank. */
int tgc_store_local_addr(const tgc_store *s, char *buf, size_t n, tgc_err *err);
int tgc_store_world(const tgc_store *s);
double tgc_store_timeout(const tgc_store *s);

/* Sets key to len bytes (a later set replaces the value). */
int tgc_store_set(tgc_store *s, const char *key, const void *data, size_t len, tgc_err *err);
/* Waits for key (up to the timeout) and returns a heap copy of its value in *data (caller frees;
 * one extra zero byte follows the value, so a string value is terminated). */
int tgc_store_get(tgc_store *s, const char *key, void **data, size_t *len, tgc_err *err);
/* Atomically adds delta to the 64-bit counter at key (created at 0) and returns the new value in *out
 * (out may be NULL). A key set by tgc_store_set is not a counter and fails; tgc_store_get of a counter
 * returns its value as 8 little-endian bytes. */
int tgc_store_add(tgc_store *s, const char *key, int64_t delta, int64_t *out, tgc_err *err);
/* Waits until every key exists. timeout_s <= 0 uses the store's timeout; the whole call shares one
 * deadline. */
int tgc_store_wait(tgc_store *s, const char *const *keys, int n, double timeout_s, tgc_err *err);

#ifdef __cplusplus
}
#endif

#endif
