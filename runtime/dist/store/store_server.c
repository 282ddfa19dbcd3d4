/* runtime/dist/store/store_server.c - the rendezvous store's server: one background thread, poll(), bounded state.
 *
 * Single-threaded by design: every key, counter and waiter is touched only by the server thread, so
 * there is no locking beyond the refusal record that other threads read. Each client is synchronous
 * (one request in flight), so a blocked GET/WAIT is just "this client's pending key" plus a deadline.
 */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "runtime/dist/store/store.h"
#include "runtime/dist/store/store_wire.h"

#define MAX_CLIENTS 1024
#define MAX_TOTAL_BYTES (256u << 20) /* all values together */
#define HELLO_TIMEOUT_S 10.0 /* a connection that has not presented the job token by then (or by the store's
                                timeout, if shorter) is dropped */

typedef struct kv {
    char *key;
    uint8_t *val;
    uint32_t len;
    int counter;
} kv;

typedef struct client {
    int fd;
    int rank;  /* -1 until HELLO is accepted */
    int bye;   /* left cleanly: its disconnect is not a death */
    int close_after_flush;
    uint8_t *in;
    size_t in_len, in_cap;
    uint8_t *out;
    size_t out_len, out_off, out_cap;
    int pending; /* a GET/WAIT waiting for pkey */
    int pending_value;
    char *pkey;
    double deadline;
    double since; /* accept time: HELLO_TIMEOUT_S runs from it until the client is accepted */
} client;

struct tgc_store_server {
    pthread_t thread;
    int listen_fd, wake[2];
    atomic_int stopping;
    double stop_deadline;
    char *token;
    int world, port;
    double timeout_s, hello_timeout_s;
    kv *kvs;
    int nkv, kv_cap;
    size_t bytes;
    client *cl;
    int ncl, cl_cap;
    uint8_t *joined; /* joined[r]: rank r has been accepted once */
    int n_joined;
    char dead[TGC_WIRE_MAX_MSG]; /* non-empty once a rank died: every wait fails with it */
    pthread_mutex_t mu;          /* guards refused/last_refusal, read by other threads */
    int refused;
    tgc_err last_refusal;
};

static kv *find_kv(tgc_store_server *s, const char *key) {
    for (int i = 0; i < s->nkv; i++)
        if (strcmp(s->kvs[i].key, key) == 0) return &s->kvs[i];
    return NULL;
}

static void queue_reply(client *c, uint32_t status, const void *payload, uint32_t len) {
    size_t need = c->out_len + TGC_WIRE_REP_HDR + len;
    if (need > c->out_cap) {
        c->out_cap = need * 2;
        c->out = tgc_realloc(c->out, c->out_cap);
    }
    uint8_t *p = c->out + c->out_len;
    tgc_wire_put32(p, TGC_WIRE_REP_MAGIC);
    tgc_wire_put32(p + 4, status);
    tgc_wire_put32(p + 8, len);
    if (len) memcpy(p + TGC_WIRE_REP_HDR, payload, len);
    c->out_len = need;
}

static void reply_err(client *c, const char *msg) {
    size_t n = strlen(msg);
    queue_reply(c, TGC_ST_ERR, msg, (uint32_t)TGC_MIN(n, (size_t)TGC_WIRE_MAX_MSG));
}

static void reply_errf(client *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void reply_errf(client *c, const char *fmt, ...) {
    char msg[TGC_WIRE_MAX_MSG];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    reply_err(c, msg);
}

/* Answers a client's pending GET/WAIT from kv (present) and clears it. */
static void answer_pending(client *c, const kv *e) {
    if (c->pending_value)
        queue_reply(c, TGC_ST_OK, e->val, e->len);
    else
        queue_reply(c, TGC_ST_OK, NULL, 0);
    free(c->pkey);
    c->pkey = NULL;
    c->pending = 0;
}

static void wake_waiters(tgc_store_server *s, const kv *e) {
    for (int i = 0; i < s->ncl; i++)
        if (s->cl[i].pending && strcmp(s->cl[i].pkey, e->key) == 0) answer_pending(&s->cl[i], e);
}

/* A rank vanished without BYE: every blocked and later wait for a missing key fails at once. */
static void mark_dead(tgc_store_server *s, int rank) {
    if (!s->dead[0])
        snprintf(s->dead, sizeof s->dead,
                 "rank %d disconnected from the store without closing it (the process died?)", rank);
    for (int i = 0; i < s->ncl; i++) {
        client *c = &s->cl[i];
        if (!c->pending) continue;
        reply_err(c, s->dead);
        free(c->pkey);
        c->pkey = NULL;
        c->pending = 0;
    }
}

static void refuse(tgc_store_server *s, client *c, const char *why) {
    reply_err(c, why);
    c->close_after_flush = 1;
    pthread_mutex_lock(&s->mu);
    s->refused++;
    tgc_fail(&s->last_refusal, "store on port %d: refused a client: %s", s->port, why);
    pthread_mutex_unlock(&s->mu);
}

static void do_hello(tgc_store_server *s, client *c, const char *key, uint32_t klen, const uint8_t *val,
                     uint32_t vlen) {
    if (vlen != 12) {
        refuse(s, c, "malformed HELLO (not a tgc store client?)");
        return;
    }
    uint32_t version = tgc_wire_get32(val);
    int rank = (int32_t)tgc_wire_get32(val + 4), world = (int32_t)tgc_wire_get32(val + 8);
    char why[TGC_WIRE_MAX_MSG];
    if (version != TGC_WIRE_VERSION) {
        snprintf(why, sizeof why, "store protocol version %u, client speaks %u (mixed tgc builds?)",
                 TGC_WIRE_VERSION, version);
        refuse(s, c, why);
        return;
    }
    if (klen != strlen(s->token) || memcmp(key, s->token, klen) != 0) {
        snprintf(why, sizeof why,
                 "job token differs (rank %d of another job? set PORT to run a second job)", rank);
        refuse(s, c, why);
        return;
    }
    if (world != s->world || rank < 0 || rank >= world) {
        snprintf(why, sizeof why, "rank %d of world %d joined a job of world %d", rank, world, s->world);
        refuse(s, c, why);
        return;
    }
    for (int i = 0; i < s->ncl; i++)
        if (s->cl[i].rank == rank && !s->cl[i].bye) {
            snprintf(why, sizeof why, "rank %d is already connected (two processes with one rank?)",
                     rank);
            refuse(s, c, why);
            return;
        }
    c->rank = rank;
    if (!s->joined[rank]) {
        s->joined[rank] = 1;
        s->n_joined++;
    }
    queue_reply(c, TGC_ST_OK, NULL, 0);
}

/* Stores the value and wakes its waiters; on failure queues the error reply and returns -1. */
static int do_set(tgc_store_server *s, client *c, const char *key, const uint8_t *val, uint32_t len,
                  int counter) {
    kv *e = find_kv(s, key);
    if (!e) {
        if (s->nkv >= TGC_STORE_MAX_KEYS) {
            reply_errf(c, "the store is full (%d keys)", TGC_STORE_MAX_KEYS);
            return -1;
        }
        TGC_GROW(s->kvs, s->kv_cap, s->nkv + 1);
        e = &s->kvs[s->nkv++];
        memset(e, 0, sizeof *e);
        e->key = tgc_strdup(key);
    }
    if (s->bytes - e->len + len > MAX_TOTAL_BYTES) {
        reply_errf(c, "the store is full (%u MiB of values)", MAX_TOTAL_BYTES >> 20);
        return -1;
    }
    s->bytes = s->bytes - e->len + len;
    free(e->val);
    e->val = tgc_malloc(len ? len : 1);
    if (len) memcpy(e->val, val, len);
    e->len = len;
    e->counter = counter;
    wake_waiters(s, e);
    return 0;
}

static void do_add(tgc_store_server *s, client *c, const char *key, const uint8_t *val, uint32_t len) {
    if (len != 8) {
        reply_err(c, "malformed ADD");
        return;
    }
    kv *e = find_kv(s, key);
    if (e && !e->counter) {
        reply_errf(c, "key '%s' holds a value set by set(), not a counter", key);
        return;
    }
    uint64_t v = (e ? tgc_wire_get64(e->val) : 0) + tgc_wire_get64(val);
    uint8_t b[8];
    tgc_wire_put64(b, v);
    if (do_set(s, c, key, b, 8, 1) == 0) queue_reply(c, TGC_ST_OK, b, 8);
}

static void do_wait(tgc_store_server *s, client *c, const char *key, uint32_t timeout_ms, int value) {
    kv *e = find_kv(s, key);
    c->pending_value = value;
    if (e) {
        c->pkey = NULL;
        answer_pending(c, e);
    } else if (s->dead[0]) {
        reply_err(c, s->dead);
    } else {
        c->pending = 1;
        c->pkey = tgc_strdup(key);
        c->deadline = tgc_now() + timeout_ms / 1000.0;
    }
}

/* Handles the complete request at the front of c->in. */
static void handle(tgc_store_server *s, client *c, size_t frame) {
    uint32_t op = tgc_wire_get32(c->in + 4), klen = tgc_wire_get32(c->in + 8),
             vlen = tgc_wire_get32(c->in + 12), tmo = tgc_wire_get32(c->in + 16);
    char key[TGC_STORE_MAX_TOKEN > TGC_STORE_MAX_KEY ? TGC_STORE_MAX_TOKEN + 1 : TGC_STORE_MAX_KEY + 1];
    memcpy(key, c->in + TGC_WIRE_REQ_HDR, klen);
    key[klen] = 0;
    const uint8_t *val = c->in + TGC_WIRE_REQ_HDR + klen;
    if (c->rank < 0 && op != TGC_OP_HELLO) {
        refuse(s, c, "request before HELLO (not a tgc store client?)");
    } else if (op != TGC_OP_HELLO && op != TGC_OP_BYE && (klen == 0 || memchr(key, 0, klen))) {
        reply_err(c, "empty key or key with a NUL byte");
    } else {
        switch (op) {
        case TGC_OP_HELLO: do_hello(s, c, key, klen, val, vlen); break;
        case TGC_OP_SET:
            if (do_set(s, c, key, val, vlen, 0) == 0) queue_reply(c, TGC_ST_OK, NULL, 0);
            break;
        case TGC_OP_GET: do_wait(s, c, key, tmo, 1); break;
        case TGC_OP_WAIT: do_wait(s, c, key, tmo, 0); break;
        case TGC_OP_ADD: do_add(s, c, key, val, vlen); break;
        case TGC_OP_BYE:
            c->bye = 1;
            queue_reply(c, TGC_ST_OK, NULL, 0);
            break;
        default:
            reply_errf(c, "unknown store request %u", op);
            c->close_after_flush = 1;
        }
    }
    memmove(c->in, c->in + frame, c->in_len - frame);
    c->in_len -= frame;
}

/* Length of the frame whose header is at the front of c->in (the header must be there), or -1 if the
 * header is invalid or announces more than the limits allow. */
static long frame_len(const client *c) {
    uint32_t klen = tgc_wire_get32(c->in + 8), vlen = tgc_wire_get32(c->in + 12);
    uint32_t op = tgc_wire_get32(c->in + 4);
    uint32_t maxk = op == TGC_OP_HELLO ? TGC_STORE_MAX_TOKEN : TGC_STORE_MAX_KEY;
    if (tgc_wire_get32(c->in) != TGC_WIRE_REQ_MAGIC || klen > maxk || vlen > TGC_STORE_MAX_VALUE)
        return -1;
    /* before the job token is accepted only a HELLO (token + 12 bytes) is read: nothing large */
    if (c->rank < 0 && (op != TGC_OP_HELLO || vlen != 12)) return -1;
    return (long)(TGC_WIRE_REQ_HDR + (size_t)klen + vlen);
}

/* Reads what is available and handles complete requests; returns 0 to drop the client (EOF, a socket
 * error, or more data sent while a request is pending, which a synchronous client never does). */
static int client_read(tgc_store_server *s, client *c) {
    for (;;) {
        size_t want = 4096;
        /* a stray client (an HTTP probe, another protocol) is turned away at its first 4 bytes */
        if (c->in_len >= 4 && tgc_wire_get32(c->in) != TGC_WIRE_REQ_MAGIC) {
            refuse(s, c, "not a tgc store request (not a tgc store client?)");
            return 1;
        }
        if (c->in_len >= TGC_WIRE_REQ_HDR) {
            long n = frame_len(c);
            if (n < 0) {
                refuse(s, c, c->rank < 0 ? "a request other than HELLO before the job token was accepted (not a tgc "
                                           "store client?)"
                                         : "malformed or oversized request (not a tgc store client?)");
                return 1;
            }
            want = TGC_MAX(want, (size_t)n);
        }
        if (c->in_cap < want) {
            c->in_cap = want;
            c->in = tgc_realloc(c->in, c->in_cap);
        }
        if (c->in_len == c->in_cap) return !c->pending;
        ssize_t r = recv(c->fd, c->in + c->in_len, c->in_cap - c->in_len, 0);
        if (r == 0) return 0;
        if (r < 0) return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR;
        c->in_len += (size_t)r;
        while (!c->pending && !c->close_after_flush && c->in_len >= TGC_WIRE_REQ_HDR) {
            long n = frame_len(c);
            if (n < 0 || (size_t)n > c->in_len) break; /* invalid: refused above; or incomplete */
            handle(s, c, (size_t)n);
        }
        if (c->close_after_flush) return 1;
    }
}

static int client_write(client *c) {
    while (c->out_off < c->out_len) {
        ssize_t w = send(c->fd, c->out + c->out_off, c->out_len - c->out_off, MSG_NOSIGNAL);
        if (w < 0) return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR;
        c->out_off += (size_t)w;
    }
    c->out_off = c->out_len = 0;
    return !c->close_after_flush;
}

static void drop_client(tgc_store_server *s, int i) {
    client *c = &s->cl[i];
    if (c->rank >= 0 && !c->bye) mark_dead(s, c->rank);
    close(c->fd);
    free(c->in);
    free(c->out);
    free(c->pkey);
    s->cl[i] = s->cl[--s->ncl];
}

static void accept_clients(tgc_store_server *s) {
    for (;;) {
        int fd = accept(s->listen_fd, NULL, NULL);
        if (fd < 0) return;
        if (s->ncl >= MAX_CLIENTS) { /* a flood: the oldest connection without a token makes room */
            int oldest = -1;
            for (int i = 0; i < s->ncl; i++)
                if (s->cl[i].rank < 0 && (oldest < 0 || s->cl[i].since < s->cl[oldest].since)) oldest = i;
            if (oldest < 0) {
                close(fd);
                continue;
            }
            drop_client(s, oldest);
        }
        fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
        fcntl(fd, F_SETFD, FD_CLOEXEC); /* workers started by a launcher must not inherit it */
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        TGC_GROW(s->cl, s->cl_cap, s->ncl + 1);
        client *c = &s->cl[s->ncl++];
        memset(c, 0, sizeof *c);
        c->fd = fd;
        c->rank = -1;
        c->since = tgc_now();
    }
}

static void *server_main(void *arg) {
    tgc_store_server *s = arg;
    struct pollfd *fds = NULL;
    int fds_cap = 0;
    for (;;) {
        double now = tgc_now();
        /* linger until every rank has joined and left: one that starts late still finds the keys */
        if (atomic_load(&s->stopping) && ((s->ncl == 0 && s->n_joined == s->world) || now > s->stop_deadline))
            break;
        /* expire waits */
        double next = now + 1.0;
        for (int i = s->ncl - 1; i >= 0; i--) { /* connections that never presented the token */
            client *c = &s->cl[i];
            if (c->rank >= 0) continue;
            if (now - c->since >= s->hello_timeout_s) drop_client(s, i);
            else if (c->since + s->hello_timeout_s < next) next = c->since + s->hello_timeout_s;
        }
        for (int i = 0; i < s->ncl; i++) {
            client *c = &s->cl[i];
            if (!c->pending) continue;
            if (now >= c->deadline) {
                queue_reply(c, TGC_ST_TIMEOUT, NULL, 0);
                free(c->pkey);
                c->pkey = NULL;
                c->pending = 0;
            } else if (c->deadline < next) {
                next = c->deadline;
            }
        }
        TGC_GROW(fds, fds_cap, s->ncl + 2);
        fds[0] = (struct pollfd){.fd = s->wake[0], .events = POLLIN};
        fds[1] = (struct pollfd){.fd = s->listen_fd, .events = POLLIN};
        for (int i = 0; i < s->ncl; i++) {
            client *c = &s->cl[i];
            /* a refused client only gets its answer flushed */
            fds[i + 2] = (struct pollfd){.fd = c->fd, .events = c->close_after_flush ? 0 : POLLIN};
            if (c->out_len) fds[i + 2].events |= POLLOUT;
        }
        int ms = (int)((next - now) * 1000.0) + 1;
        int nfds = s->ncl + 2;
        if (poll(fds, (nfds_t)nfds, ms) < 0 && errno != EINTR) break;
        if (fds[0].revents & POLLIN) {
            char b[64];
            while (read(s->wake[0], b, sizeof b) > 0) {
            }
        }
        /* clients first (indices match fds), from the end since drop_client moves the last one */
        for (int i = nfds - 3; i >= 0; i--) {
            short re = fds[i + 2].revents;
            client *c = &s->cl[i];
            int ok = 1;
            if (c->close_after_flush)
                ok = !(re & (POLLHUP | POLLERR));
            else if (re & (POLLIN | POLLHUP | POLLERR))
                ok = client_read(s, c);
            if (ok && c->out_len) ok = client_write(c);
            if (!ok) drop_client(s, i);
        }
        if (fds[1].revents & POLLIN) accept_clients(s);
    }
    free(fds);
    return NULL;
}

static int listen_on(const tgc_store_cfg *cfg, tgc_err *err) {
    char port[16];
    snprintf(port, sizeof port, "%d", cfg->port);
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE};
    struct addrinfo *res = NULL;
    int rc = getaddrinfo(cfg->addr, port, &hints, &res);
    if (rc != 0)
        return tgc_fail(err, "store: cannot resolve MASTER_ADDR '%s': %s", cfg->addr, gai_strerror(rc));
    int fd = -1, saved = 0;
    for (struct addrinfo *a = res; a && fd < 0; a = a->ai_next) {
        fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
        if (fd < 0) {
            saved = errno;
            continue;
        }
        int one = 1;
        /* lets a restarted job rebind a port whose old connections linger in TIME_WAIT; Linux still
         * refuses a port with a live listener, which is the "in use" case below */
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        if (bind(fd, a->ai_addr, a->ai_addrlen) < 0 || listen(fd, 128) < 0) {
            saved = errno;
            close(fd);
            fd = -1;
        }
    }
    freeaddrinfo(res);
    if (fd < 0) {
        if (saved == EADDRINUSE)
            return tgc_fail(err, "port %d is in use: set PORT to run a second job", cfg->port);
        return tgc_fail(err, "store: cannot listen on MASTER_ADDR %s:%d: %s (is MASTER_ADDR an address of "
                        "this machine?)", cfg->addr, cfg->port, strerror(saved));
    }
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    return fd;
}

tgc_store_server *tgc_store_server_start(const tgc_store_cfg *cfg, tgc_err *err) {
    if (!cfg->addr || !cfg->addr[0] || cfg->port <= 0 || cfg->port > 65535 || !cfg->token ||
        !cfg->token[0] || strlen(cfg->token) > TGC_STORE_MAX_TOKEN || cfg->world < 1 ||
        cfg->world > TGC_STORE_MAX_WORLD) {
        tgc_fail(err, "store: need MASTER_ADDR, a PORT in 1..65535, a job token of 1..%d bytes and a world "
                 "size in 1..%d", TGC_STORE_MAX_TOKEN, TGC_STORE_MAX_WORLD);
        return NULL;
    }
    int fd = listen_on(cfg, err);
    if (fd < 0) return NULL;
    tgc_store_server *s = tgc_calloc(1, sizeof *s);
    s->listen_fd = fd;
    s->token = tgc_strdup(cfg->token);
    s->world = cfg->world;
    s->joined = tgc_calloc((size_t)cfg->world, 1);
    s->port = cfg->port;
    s->timeout_s = cfg->timeout_s > 0 ? cfg->timeout_s : 30.0;
    s->hello_timeout_s = TGC_MIN(s->timeout_s, HELLO_TIMEOUT_S);
    pthread_mutex_init(&s->mu, NULL);
    int piped = pipe(s->wake) == 0;
    if (piped)
        for (int i = 0; i < 2; i++) {
            fcntl(s->wake[i], F_SETFL, fcntl(s->wake[i], F_GETFL) | O_NONBLOCK);
            fcntl(s->wake[i], F_SETFD, FD_CLOEXEC);
        }
    if (!piped || pthread_create(&s->thread, NULL, server_main, s) != 0) {
        tgc_fail(err, "store: cannot start the server thread: %s", strerror(errno));
        if (piped) {
            close(s->wake[0]);
            close(s->wake[1]);
        }
        pthread_mutex_destroy(&s->mu);
        close(fd);
        free(s->token);
        free(s->joined);
        free(s);
        return NULL;
    }
    return s;
}

void tgc_store_server_stop(tgc_store_server *s) {
    if (!s) return;
    s->stop_deadline = tgc_now() + s->timeout_s;
    atomic_store(&s->stopping, 1);
    (void)!write(s->wake[1], "x", 1);
    pthread_join(s->thread, NULL);
    while (s->ncl) {
        s->cl[s->ncl - 1].bye = 1; /* the server is leaving, not the client dying */
        drop_client(s, s->ncl - 1);
    }
    for (int i = 0; i < s->nkv; i++) {
        free(s->kvs[i].key);
        free(s->kvs[i].val);
    }
    free(s->kvs);
    free(s->cl);
    free(s->joined);
    free(s->token);
    close(s->listen_fd);
    close(s->wake[0]);
    close(s->wake[1]);
    pthread_mutex_destroy(&s->mu);
    free(s);
}

int tgc_store_server_refused(tgc_store_server *s, tgc_err *last) {
    pthread_mutex_lock(&s->mu);
    int n = s->refused;
    if (n && last) *last = s->last_refusal;
    pthread_mutex_unlock(&s->mu);
    return n;
}
