/* runtime/dist/store/store_wire.h - the store's wire format and socket helpers, shared by its client and server.
 *
 * A request is a 20-byte header (magic, op, key length, value length, timeout in ms; u32 little-endian)
 * followed by the key and the value. A reply is a 12-byte header (magic, status, payload length)
 * followed by the payload: the value for GET, the new counter for ADD, a message for ERR.
 * HELLO carries the job token as its key and (version, rank, world) as its value.
 */
#ifndef TGC_RUNTIME_STORE_WIRE_H
#define TGC_RUNTIME_STORE_WIRE_H

#include <stdint.h>
#include <string.h>

#define TGC_WIRE_REQ_MAGIC 0x53434754u /* "TGCS" */
#define TGC_WIRE_REP_MAGIC 0x52434754u /* "TGCR" */
#define TGC_WIRE_VERSION 1u
#define TGC_WIRE_REQ_HDR 20
#define TGC_WIRE_REP_HDR 12
#define TGC_WIRE_MAX_MSG 1024 /* the longest ERR payload */

enum { TGC_OP_HELLO = 1, TGC_OP_SET, TGC_OP_GET, TGC_OP_WAIT, TGC_OP_ADD, TGC_OP_BYE };
enum { TGC_ST_OK = 0, TGC_ST_TIMEOUT = 1, TGC_ST_ERR = 2 };

static inline void tgc_wire_put32(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

static inline uint32_t tgc_wire_get32(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static inline void tgc_wire_put64(uint8_t *p, uint64_t v) {
    tgc_wire_put32(p, (uint32_t)v);
    tgc_wire_put32(p + 4, (uint32_t)(v >> 32));
}

static inline uint64_t tgc_wire_get64(const uint8_t *p) {
    return (uint64_t)tgc_wire_get32(p) | (uint64_t)tgc_wire_get32(p + 4) << 32;
}

#endif
