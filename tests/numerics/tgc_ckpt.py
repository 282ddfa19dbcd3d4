"""tests/numerics/tgc_ckpt.py - reads and writes tgc's checkpoint container (runtime/io/checkpoint.h) with numpy.

Layout (little-endian, version 1): a 64-byte header (magic "TGCCKPT\\0", u32 version, u32 plan checksum,
u32 tensor count, u32 CRC-32 of the file with this field zeroed, u64 file size, u64 meta length, u64
tensor-table length, u64 data offset, u64 reserved), the meta block (u32 count; per entry: str key, u8
kind 1 int64 / 2 float64 / 3 str, value), the tensor table (str name, u32 dtype, u32 rank, rank x i64
dims, u64 offset, u64 bytes), then each tensor's data at a 64-byte aligned offset with zero padding.
A str is a u32 length and the bytes.
"""
import struct
import zlib

import numpy as np

MAGIC = b"TGCCKPT\0"
VERSION = 1
ALIGN = 64
HEADER = 64

# tgc_dtype codes (ir/ir.h) -> numpy dtypes; bf16 has no numpy type and is kept as raw uint16.
DTYPES = {0: np.float32, 1: np.float16, 2: np.uint16, 3: np.int32, 4: np.int64, 5: np.uint8}
CODES = {np.dtype(np.float32): 0, np.dtype(np.float16): 1, np.dtype(np.int32): 3, np.dtype(np.int64): 4,
         np.dtype(np.uint8): 5}
META_INT, META_FLOAT, META_STR = 1, 2, 3


def _align(n):
    return (n + ALIGN - 1) // ALIGN * ALIGN


def _str(s):
    b = s.encode()
    return struct.pack("<I", len(b)) + b


def dumps(tensors, meta=None, plan_checksum=0):
    """Serializes an ordered dict name -> numpy array (and meta: name -> int/float/str) to bytes."""
    meta = meta or {}
    mb = bytearray(struct.pack("<I", len(meta)))
    for k, v in meta.items():
        mb += _str(k)
        if isinstance(v, bool) or isinstance(v, int):
            mb += struct.pack("<Bq", META_INT, int(v))
        elif isinstance(v, float):
            mb += struct.pack("<Bd", META_FLOAT, v)
        else:
            mb += struct.pack("<B", META_STR) + _str(str(v))
    arrays = []
    for name, a in tensors.items():
        a = np.ascontiguousarray(a)
        if a.dtype not in CODES:
            raise ValueError("tensor %r: unsupported dtype %s" % (name, a.dtype))
        arrays.append((name, a))
    table_len = sum(4 + len(n.encode()) + 8 + 8 * a.ndim + 16 for n, a in arrays)
    off = _align(HEADER + len(mb) + table_len)
    data_off = off
    tb = bytearray()
    for name, a in arrays:
        tb += _str(name) + struct.pack("<II", CODES[a.dtype], a.ndim)
        tb += struct.pack("<%dq" % a.ndim, *a.shape)
        tb += struct.pack("<QQ", off, a.nbytes)
        off = _align(off + a.nbytes)
    out = bytearray(HEADER) + mb + tb
    for _, a in arrays:
        out += bytes(_align(len(out)) - len(out))
        out += a.astype(a.dtype.newbyteorder("<"), copy=False).tobytes()
    if not arrays:
        out += bytes(_align(len(out)) - len(out))
    struct.pack_into("<8sIIII", out, 0, MAGIC, VERSION, plan_checksum, len(arrays), 0)
    struct.pack_into("<QQQQQ", out, 24, len(out), len(mb), table_len, data_off, 0)
    struct.pack_into("<I", out, 20, zlib.crc32(bytes(out)) & 0xFFFFFFFF)
    return bytes(out)


def save(path, tensors, meta=None, plan_checksum=0):
    with open(path, "wb") as f:
        f.write(dumps(tensors, meta, plan_checksum))


class _Reader:
    def __init__(self, buf, pos, end):
        self.buf, self.pos, self.end = buf, pos, end

    def take(self, fmt):
        n = struct.calcsize(fmt)
        if self.pos + n > self.end:
            raise ValueError("checkpoint: block truncated")
        v = struct.unpack_from(fmt, self.buf, self.pos)
        self.pos += n
        return v

    def str(self):
        (n,) = self.take("<I")
        if self.pos + n > self.end:
            raise ValueError("checkpoint: string runs past its block")
        s = bytes(self.buf[self.pos:self.pos + n]).decode()
        self.pos += n
        return s


def loads(buf):
    """Parses checkpoint bytes into (tensors: dict name -> numpy array, meta: dict, plan checksum)."""
    if len(buf) < HEADER or buf[:8] != MAGIC:
        raise ValueError("not a tgc checkpoint (wrong magic or truncated)")
    version, plan, count, crc = struct.unpack_from("<IIII", buf, 8)
    size, meta_len, table_len, data_off, _ = struct.unpack_from("<QQQQQ", buf, 24)
    if version == 0 or version > VERSION:
        raise ValueError("checkpoint format version %d is not supported" % version)
    if size != len(buf):
        raise ValueError("checkpoint: header says %d bytes, the file has %d" % (size, len(buf)))
    zeroed = bytearray(buf)
    zeroed[20:24] = b"\0\0\0\0"
    if zlib.crc32(bytes(zeroed)) & 0xFFFFFFFF != crc:
        raise ValueError("checkpoint: checksum mismatch")
    r = _Reader(buf, HEADER, HEADER + meta_len)
    meta = {}
    for _ in range(r.take("<I")[0]):
        key = r.str()
        (kind,) = r.take("<B")
        if kind == META_INT:
            meta[key] = r.take("<q")[0]
        elif kind == META_FLOAT:
            meta[key] = r.take("<d")[0]
        elif kind == META_STR:
            meta[key] = r.str()
        else:
            raise ValueError("checkpoint: meta %r has unknown kind %d" % (key, kind))
    r = _Reader(buf, HEADER + meta_len, HEADER + meta_len + table_len)
    tensors = {}
    for _ in range(count):
        name = r.str()
        dt, rank = r.take("<II")
        dims = r.take("<%dq" % rank) if rank else ()
        off, nbytes = r.take("<QQ")
        if dt not in DTYPES:
            raise ValueError("checkpoint: tensor %r has unknown dtype %d" % (name, dt))
        if off % ALIGN or off < data_off or off + nbytes > len(buf):
            raise ValueError("checkpoint: tensor %r data out of bounds" % name)
        a = np.frombuffer(buf, dtype=np.dtype(DTYPES[dt]).newbyteorder("<"), count=int(np.prod(dims, dtype=np.int64)),
                          offset=off).reshape(dims)
        if a.nbytes != nbytes:
            raise ValueError("checkpoint: tensor %r: %d bytes do not match its shape" % (name, nbytes))
        tensors[name] = a.copy()
    return tensors, meta, plan


def load(path):
    with open(path, "rb") as f:
        return loads(f.read())
