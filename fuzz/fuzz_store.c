/* fuzz/fuzz_store.c - the rendezvous store's wire protocol: the input is sent to a live server on loopback.
 *
 * One server (token "fuzz-token", world 2) runs for the whole process. Each input is split at the bytes
 * "|||" into the writes of one connection; after the last the connection is half-closed and the replies
 * are read until the server closes or 50 ms pass. The server must neither crash nor stop answering: after
 * every 16th input a fresh connection sends a stray request, which the server must answer (a refusal) and
 * close within 2 s, else the harness aborts (a hung server). */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fuzz/fuzz.h"
#include "runtime/dist/store/store.h"

static tgc_store_server *server;
static int port;

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    tgc_err err;
    for (int p = 29700 + (int)(getpid() % 2000); !server && p < 65000; p += 7) {
        tgc_store_cfg cfg = {"127.0.0.1", p, "fuzz-token", 0, 2, 5.0};
        if ((server = tgc_store_server_start(&cfg, &err))) port = p;
    }
    if (!server) {
        fprintf(stderr, "fuzz_store: no port for the server: %s\n", err.msg);
        abort();
    }
    return 0;
}

/* A connection to the server; a connect interrupted by libFuzzer's timer signal is retried on a new socket. */
static int dial(void) {
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    for (int tries = 0; tries < 100; tries++) {
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        if (fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof a) == 0) return fd;
        int e = errno;
        if (fd >= 0) close(fd);
        if (e != EINTR) {
            errno = e;
            break;
        }
    }
    perror("fuzz_store: connect");
    abort();
}

/* The server answers a stray request and closes the connection. */
static void alive(void) {
    int fd = dial();
    static const char probe[] = "GET / HTTP/1.0\r\n\r\n";
    if (send(fd, probe, sizeof probe - 1, MSG_NOSIGNAL) < 0) abort();
    struct pollfd p = {fd, POLLIN, 0};
    char buf[2048];
    size_t got = 0;
    for (;;) {
        if (poll(&p, 1, 2000) <= 0) {
            fprintf(stderr, "fuzz_store: the server did not answer a stray request within 2 s\n");
            abort();
        }
        ssize_t r = recv(fd, buf, sizeof buf, 0);
        if (r <= 0) break;
        got += (size_t)r;
    }
    if (got == 0) {
        fprintf(stderr, "fuzz_store: the server closed without refusing a stray request\n");
        abort();
    }
    close(fd);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!server) LLVMFuzzerInitialize(NULL, NULL);
    int fd = dial();
    size_t start = 0;
    while (start <= size) {
        const uint8_t *sep = NULL;
        for (size_t i = start; i + 3 <= size && !sep; i++)
            if (!memcmp(data + i, "|||", 3)) sep = data + i;
        size_t end = sep ? (size_t)(sep - data) : size;
        if (end > start && send(fd, data + start, end - start, MSG_NOSIGNAL) < 0) break;
        if (!sep) break;
        start = end + 3;
    }
    shutdown(fd, SHUT_WR);
    struct pollfd p = {fd, POLLIN, 0};
    char buf[4096];
    while (poll(&p, 1, 50) > 0 && recv(fd, buf, sizeof buf, 0) > 0) {
    }
    close(fd);
    static unsigned n;
    if (++n % 16 == 0) alive();
    return 0;
}
