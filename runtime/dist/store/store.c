/* runtime/dist/store/store.c - the rendezvous store's client: connect with backoff, HELLO, locked round trips.
 *
 * The socket is non-blocking and every send and receive is bounded by a deadline, so a master that
 * hangs or dies turns into an error naming MASTER_ADDR, never a hang. Once a round trip fails half-way
 * the byte stream may be out of step, so the handle is marked broken and later calls fail at once.
 */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "runtime/dist/store/store.h"
#include "runtime/dist/store/store_wire.h"

/* A blocked GET/WAIT is answered by the server at its deadline; the client waits this much longer
 * before deciding the server itself is gone. */
#define REPLY_SLACK_S 10.0
#define BYE_WAIT_S 2.0

struct tgc_store {
    int fd;
    int rank, world, port;
    double timeout_s;
    char *addr;
    tgc_store_server *server; /* owned by rank 0's handle when tgc_store_open started it */
    pthread_mutex_t mu;
    int broken;
    tgc_err broken_msg;
};

#define CLOSED_WHY "the store closed the connection (rank 0 exited?)"

/* The reason for a failed send/recv: a reset is the master going away, said so in words. */
static const char *io_why(int e) {
    return e == ECONNRESET || e == EPIPE ? CLOSED_WHY : strerror(e);
}

static void sleep_s(double s) {
    struct timespec ts = {.tv_sec = (time_t)s, .tv_nsec = (long)((s - (double)(time_t)s) * 1e9)};
    nanosleep(&ts, NULL);
}

/* Waits until fd is ready for events or the deadline passes: 1 ready, 0 timed out, -1 error. */
static int wait_fd(int fd, short events, double deadline) {
    for (;;) {
        double left = deadline - tgc_now();
        if (left <= 0) return 0;
        struct pollfd p = {.fd = fd, .events = events};
        int r = poll(&p, 1, (int)(left * 1000.0) + 1);
        if (r > 0) return 1;
        if (r < 0 && errno != EINTR) return -1;
    }
}

/* Sends n bytes before the deadline; 0 or -1 with a reason in *why. */
static int send_all(int fd, const void *buf, size_t n, double deadline, const char **why) {
    const uint8_t *p = buf;
    while (n) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w > 0) {
            p += w;
            n -= (size_t)w;
        } else if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
            if (wait_fd(fd, POLLOUT, deadline) <= 0) {
                *why = "sending timed out";
                return -1;
            }
        } else {
            *why = io_why(errno);
            return -1;
        }
    }
    return 0;
}

static int recv_all(int fd, void *buf, size_t n, double deadline, const char **why) {
    uint8_t *p = buf;
    while (n) {
        ssize_t r = recv(fd, p, n, 0);
        if (r > 0) {
            p += r;
            n -= (size_t)r;
        } else if (r == 0) {
            *why = CLOSED_WHY;
            return -1;
        } else if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
            int w = wait_fd(fd, POLLIN, deadline);
            if (w <= 0) {
                *why = w == 0 ? "no reply from the store (rank 0 hung?)" : strerror(errno);
                return -1;
            }
        } else {
            *why = io_why(errno);
            return -1;
        }
    }
    return 0;
}

/* One request and its reply. On success *status is the server's status and *payload (heap, one zero
 * byte past *plen; caller frees) its payload. A transport failure breaks the handle. */
static int round_trip(tgc_store *s, uint32_t op, const char *key, size_t klen, const void *val,
                      size_t vlen, double wait_s, uint32_t *status, uint8_t **payload, size_t *plen,
                      tgc_err *err) {
    pthread_mutex_lock(&s->mu);
    if (s->broken) {
        if (err) *err = s->broken_msg;
        pthread_mutex_unlock(&s->mu);
        return -1;
    }
    uint8_t hdr[TGC_WIRE_REQ_HDR];
    double ms = wait_s * 1000.0;
    tgc_wire_put32(hdr, TGC_WIRE_REQ_MAGIC);
    tgc_wire_put32(hdr + 4, op);
    tgc_wire_put32(hdr + 8, (uint32_t)klen);
    tgc_wire_put32(hdr + 12, (uint32_t)vlen);
    tgc_wire_put32(hdr + 16, ms > 2e9 ? 2000000000u : (uint32_t)ms);
    double deadline = tgc_now() + (wait_s > 0 ? wait_s + REPLY_SLACK_S : s->timeout_s);
    const char *why = NULL;
    uint8_t rep[TGC_WIRE_REP_HDR];
    uint8_t *body = NULL;
    uint32_t len = 0;
    if (send_all(s->fd, hdr, sizeof hdr, deadline, &why) < 0 ||
        send_all(s->fd, key, klen, deadline, &why) < 0 ||
        (vlen && send_all(s->fd, val, vlen, deadline, &why) < 0) ||
        recv_all(s->fd, rep, sizeof rep, deadline, &why) < 0)
        goto broken;
    len = tgc_wire_get32(rep + 8);
    if (tgc_wire_get32(rep) != TGC_WIRE_REP_MAGIC || len > TGC_STORE_MAX_VALUE) {
        why = "the reply is not from a tgc store (another program on this port? set PORT)";
        goto broken;
    }
    body = tgc_malloc((size_t)len + 1);
    if (recv_all(s->fd, body, len, deadline, &why) < 0) goto broken;
    body[len] = 0;
    pthread_mutex_unlock(&s->mu);
    *status = tgc_wire_get32(rep + 4);
    *payload = body;
    *plen = len;
    return 0;
broken:
    free(body);
    s->broken = 1;
    tgc_fail(&s->broken_msg, "rank %d: lost the connection to the store at MASTER_ADDR %s:%d: %s", s->rank,
             s->addr, s->port, why);
    if (err) *err = s->broken_msg;
    pthread_mutex_unlock(&s->mu);
    return -1;
}

/* Opens a TCP connection to addr:port, retrying with backoff until the deadline. */
static int connect_retry(const tgc_store_cfg *cfg, double deadline, tgc_err *err) {
    char port[16];
    snprintf(port, sizeof port, "%d", cfg->port);
    const char *last = "no attempt";
    char lastbuf[256];
    double backoff = 0.01;
    for (;;) {
        struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
        struct addrinfo *res = NULL;
        int rc = getaddrinfo(cfg->addr, port, &hints, &res);
        if (rc != 0) {
            snprintf(lastbuf, sizeof lastbuf, "cannot resolve the address: %s", gai_strerror(rc));
            last = lastbuf;
        }
        for (struct addrinfo *a = rc == 0 ? res : NULL; a; a = a->ai_next) {
            int fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, a->ai_protocol);
            if (fd < 0) continue;
            int ok = connect(fd, a->ai_addr, a->ai_addrlen) == 0;
            if (!ok && errno == EINPROGRESS && wait_fd(fd, POLLOUT, deadline) > 0) {
                int e = 0;
                socklen_t el = sizeof e;
                getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &el);
                ok = e == 0;
                errno = e ? e : ETIMEDOUT;
            } else if (!ok && errno == EINPROGRESS) {
                errno = ETIMEDOUT;
            }
            if (ok) {
                freeaddrinfo(res);
                int one = 1;
                setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                return fd;
            }
            snprintf(lastbuf, sizeof lastbuf, "%s", strerror(errno));
            last = lastbuf;
            close(fd);
        }
        if (res) freeaddrinfo(res);
        double left = deadline - tgc_now();
        if (left <= 0) break;
        sleep_s(TGC_MIN(backoff, left));
        backoff = TGC_MIN(backoff * 2, 1.0);
    }
    double t = cfg->timeout_s > 0 ? cfg->timeout_s : 30.0;
    return tgc_fail(err, "rank %d: could not connect to the store at MASTER_ADDR %s:%d within %g s: %s (is "
                    "rank 0 running, with the same MASTER_ADDR and PORT?)", cfg->rank, cfg->addr, cfg->port,
                    t, last);
}

tgc_store *tgc_store_connect(const tgc_store_cfg *cfg, tgc_err *err) {
    if (!cfg->addr || !cfg->addr[0] || cfg->port <= 0 || cfg->port > 65535 || !cfg->token ||
        !cfg->token[0] || strlen(cfg->token) > TGC_STORE_MAX_TOKEN || cfg->world < 1 ||
        cfg->world > TGC_STORE_MAX_WORLD || cfg->rank < 0 ||
        cfg->rank >= cfg->world) {
        tgc_fail(err, "store: need MASTER_ADDR, a PORT in 1..65535, a job token of 1..%d bytes and a rank "
                 "in [0, world) with world in 1..%d", TGC_STORE_MAX_TOKEN, TGC_STORE_MAX_WORLD);
        return NULL;
    }
    double timeout = cfg->timeout_s > 0 ? cfg->timeout_s : 30.0;
    int fd = connect_retry(cfg, tgc_now() + timeout, err);
    if (fd < 0) return NULL;
    tgc_store *s = tgc_calloc(1, sizeof *s);
    s->fd = fd;
    s->rank = cfg->rank;
    s->world = cfg->world;
    s->port = cfg->port;
    s->timeout_s = timeout;
    s->addr = tgc_strdup(cfg->addr);
    pthread_mutex_init(&s->mu, NULL);
    uint8_t hello[12];
    tgc_wire_put32(hello, TGC_WIRE_VERSION);
    tgc_wire_put32(hello + 4, (uint32_t)cfg->rank);
    tgc_wire_put32(hello + 8, (uint32_t)cfg->world);
    uint32_t st;
    uint8_t *msg = NULL;
    size_t len;
    if (round_trip(s, TGC_OP_HELLO, cfg->token, strlen(cfg->token), hello, sizeof hello, 0, &st, &msg, &len,
                   err) < 0) {
        s->broken = 1; /* no BYE on a connection that never joined */
        tgc_store_close(s);
        return NULL;
    }
    if (st != TGC_ST_OK) {
        tgc_fail(err, "rank %d: refused by the store at MASTER_ADDR %s:%d: %s", cfg->rank, cfg->addr,
                 cfg->port, len ? (char *)msg : "no reason given");
        free(msg);
        s->broken = 1;
        tgc_store_close(s);
        return NULL;
    }
    free(msg);
    return s;
}

tgc_store *tgc_store_open(const tgc_store_cfg *cfg, tgc_err *err) {
    tgc_store_server *srv = NULL;
    if (cfg->rank == 0 && !(srv = tgc_store_server_start(cfg, err))) return NULL;
    tgc_store *s = tgc_store_connect(cfg, err);
    if (!s) {
        tgc_store_server_stop(srv);
        return NULL;
    }
    s->server = srv;
    return s;
}

void tgc_store_close(tgc_store *s) {
    if (!s) return;
    if (!s->broken) {
        uint32_t st;
        uint8_t *msg = NULL;
        size_t len;
        double t = s->timeout_s;
        s->timeout_s = BYE_WAIT_S; /* leaving must not wait long on a server that is gone */
        if (round_trip(s, TGC_OP_BYE, "", 0, NULL, 0, 0, &st, &msg, &len, NULL) == 0) free(msg);
        s->timeout_s = t;
    }
    close(s->fd);
    tgc_store_server_stop(s->server);
    pthread_mutex_destroy(&s->mu);
    free(s->addr);
    free(s);
}

tgc_store_server *tgc_store_owned_server(tgc_store *s) { return s->server; }
int tgc_store_rank(const tgc_store *s) { return s->rank; }

int tgc_store_local_addr(const tgc_store *s, char *buf, size_t n, tgc_err *err) {
    struct sockaddr_storage sa;
    socklen_t len = sizeof sa;
    int rc = -1;
    if (getsockname(s->fd, (struct sockaddr *)&sa, &len) < 0 ||
        (rc = getnameinfo((struct sockaddr *)&sa, len, buf, (socklen_t)n, NULL, 0, NI_NUMERICHOST)) != 0)
        return tgc_fail(err, "rank %d: cannot read the local address of the store connection: %s", s->rank,
                        rc < 0 ? strerror(errno) : gai_strerror(rc));
    return 0;
}
int tgc_store_world(const tgc_store *s) { return s->world; }
double tgc_store_timeout(const tgc_store *s) { return s->timeout_s; }

static int check_key(const tgc_store *s, const char *key, tgc_err *err) {
    size_t n = key ? strlen(key) : 0;
    if (n == 0 || n > TGC_STORE_MAX_KEY)
        return tgc_fail(err, "rank %d: store keys are 1..%d bytes, got %zu", s->rank, TGC_STORE_MAX_KEY, n);
    return 0;
}

/* Turns a non-OK reply into the message for the caller. */
static int reply_fail(const tgc_store *s, uint32_t st, const char *what, const char *key, double wait_s,
                      uint8_t *msg, size_t len, tgc_err *err) {
    if (st == TGC_ST_TIMEOUT)
        tgc_fail(err, "rank %d: timed out after %g s waiting for key '%s' from MASTER_ADDR %s:%d", s->rank,
                 wait_s, key, s->addr, s->port);
    else
        tgc_fail(err, "rank %d: store %s of key '%s' at MASTER_ADDR %s:%d failed: %s", s->rank, what, key,
                 s->addr, s->port, len ? (char *)msg : "no reason given");
    free(msg);
    return -1;
}

int tgc_store_set(tgc_store *s, const char *key, const void *data, size_t len, tgc_err *err) {
    if (check_key(s, key, err) < 0) return -1;
    if (len > TGC_STORE_MAX_VALUE)
        return tgc_fail(err, "rank %d: value of store key '%s' is %zu bytes, the limit is %u", s->rank, key,
                        len, TGC_STORE_MAX_VALUE);
    uint32_t st;
    uint8_t *msg;
    size_t mlen;
    if (round_trip(s, TGC_OP_SET, key, strlen(key), data, len, 0, &st, &msg, &mlen, err) < 0) return -1;
    if (st != TGC_ST_OK) return reply_fail(s, st, "set", key, 0, msg, mlen, err);
    free(msg);
    return 0;
}

int tgc_store_get(tgc_store *s, const char *key, void **data, size_t *len, tgc_err *err) {
    if (check_key(s, key, err) < 0) return -1;
    uint32_t st;
    uint8_t *val;
    size_t vlen;
    if (round_trip(s, TGC_OP_GET, key, strlen(key), NULL, 0, s->timeout_s, &st, &val, &vlen, err) < 0)
        return -1;
    if (st != TGC_ST_OK) return reply_fail(s, st, "get", key, s->timeout_s, val, vlen, err);
    *data = val;
    *len = vlen;
    return 0;
}

int tgc_store_add(tgc_store *s, const char *key, int64_t delta, int64_t *out, tgc_err *err) {
    if (check_key(s, key, err) < 0) return -1;
    uint8_t d[8];
    tgc_wire_put64(d, (uint64_t)delta);
    uint32_t st;
    uint8_t *val;
    size_t vlen;
    if (round_trip(s, TGC_OP_ADD, key, strlen(key), d, sizeof d, 0, &st, &val, &vlen, err) < 0) return -1;
    if (st != TGC_ST_OK || vlen != 8) return reply_fail(s, st, "add", key, 0, val, vlen, err);
    if (out) *out = (int64_t)tgc_wire_get64(val);
    free(val);
    return 0;
}

int tgc_store_wait(tgc_store *s, const char *const *keys, int n, double timeout_s, tgc_err *err) {
    double total = timeout_s > 0 ? timeout_s : s->timeout_s;
    double deadline = tgc_now() + total;
    for (int i = 0; i < n; i++) {
        if (check_key(s, keys[i], err) < 0) return -1;
        double left = TGC_MAX(deadline - tgc_now(), 0.001);
        uint32_t st;
        uint8_t *msg;
        size_t mlen;
        if (round_trip(s, TGC_OP_WAIT, keys[i], strlen(keys[i]), NULL, 0, left, &st, &msg, &mlen, err) < 0)
            return -1;
        if (st != TGC_ST_OK) return reply_fail(s, st, "wait", keys[i], total, msg, mlen, err);
        free(msg);
    }
    return 0;
}
