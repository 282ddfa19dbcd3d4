/* runtime/io/tensorboard.h - TensorBoard event files (scalars) written by hand, readable by TensorBoard.
 *
 * File: DIR/events.out.tfevents.<unix seconds, 10 digits>.<hostname> (".<n>" appended if that name is
 * taken). Each record is TFRecord-framed:
 *   u64 length (LE) | u32 masked CRC-32C of those 8 bytes | data | u32 masked CRC-32C of data
 * with CRC-32C (Castagnoli) and mask(c) = ((c >> 15) | (c << 17)) + 0xa282ead8.
 * Data is an Event protobuf: wall_time (double, field 1), step (int64, field 2), and either
 * file_version (string, field 3) = "brain.Event:2" (the first record) or
 * summary (field 5) { value (field 1) { tag (string, 1), simple_value (float, 2) } }.
 * Every record is written with one write(2) call, so it is in the file once add_scalar returns.
 */
#ifndef TGC_RUNTIME_TENSORBOARD_H
#define TGC_RUNTIME_TENSORBOARD_H

#include <stddef.h>
#include <stdint.h>

#include "common/util.h"

typedef struct tgc_tb_writer tgc_tb_writer;

/* Creates DIR (and missing parents) and a new event file in it; writes the file_version event. */
tgc_tb_writer *tgc_tb_open(const char *dir, tgc_err *err);
/* Appends one scalar event. wall_time < 0 means now. */
int tgc_tb_add_scalar(tgc_tb_writer *w, const char *tag, double value, int64_t step, double wall_time, tgc_err *err);
/* The event file's path (owned by the writer). */
const char *tgc_tb_path(const tgc_tb_writer *w);
/* Closes and frees (w may be NULL). Returns -1 if the close failed. */
int tgc_tb_close(tgc_tb_writer *w, tgc_err *err);

/* CRC-32C (Castagnoli, reflected 0x82F63B78), chainable like zlib's crc32: crc32c(0, "123456789") = 0xE3069283. */
uint32_t tgc_crc32c(uint32_t crc, const void *data, size_t len);
/* TFRecord's masked CRC. */
uint32_t tgc_tb_masked_crc(const void *data, size_t len);

#endif
