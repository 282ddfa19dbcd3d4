/* runtime/io/pickle.h - a restricted reader and a minimal writer of Python pickles, for PyTorch state dicts.
 *
 * Reading. A pickle is a program for a stack machine that can name any Python callable (GLOBAL) and call it
 * (REDUCE): it is never trusted. This reader executes nothing. It builds a tree of plain values from the
 * opcodes of protocols 0-5 that state dicts use (dicts, lists, tuples, str, bytes, int, float, bool, None,
 * memo get/put, marks, persistent ids) and knows exactly these callables:
 *   collections.OrderedDict           -> a dict (its BUILD state, PyTorch's _metadata, is dropped)
 *   torch._utils._rebuild_tensor_v2   -> a tensor view (storage, offset, size, stride)
 *   torch._utils._rebuild_parameter(_with_state) -> its tensor (an nn.Parameter saved as such)
 *   torch.{Float,Half,BFloat16,Double,Long,Int,Short,Char,Byte,Bool}Storage, in persistent ids
 *     ('storage', TYPE, KEY, LOCATION, NUMEL) -> a storage reference by key
 *   numpy.core.multiarray._reconstruct(numpy.ndarray, ...) + BUILD (1, shape, numpy.dtype, False, bytes)
 *     -> an ndarray of a one-byte dtype (u1/i1) whose byte count must equal the shape's product (CIFAR's
 *     python-version batches); numpy.dtype(NAME, ...) + BUILD (3, '|', ...) -> its name. Other dtypes and
 *     Fortran order make opaque values ("numpy.ndarray of numpy.dtype(<f4), at pickle offset N"); another
 *     state layout or a byte count that does not match the shape is an error.
 * Any other GLOBAL, and whatever REDUCE/NEWOBJ/BUILD makes of it, becomes an opaque value that carries the
 * callable's name ("mmengine.logging.message_hub.MessageHub"): a checkpoint's message_hub or numpy scalars
 * in meta do not stop a load, and a consumer that meets one where it needs data refuses it by name
 * (tgc_pk_opaque_name). Opcodes outside the list (EXT*, INST, OBJ, PERSID text, ...) are errors naming the
 * opcode and its offset.
 *
 * Memory is bounded: at most TGC_PK_MAX_NODES values, TGC_PK_MAX_STACK stack entries, TGC_PK_MAX_MEMO
 * memo slots and TGC_PK_MAX_DEPTH levels when walking; a string or container cannot outgrow the input.
 * Values may share children through the memo, and a crafted pickle can make cycles: walkers go through
 * depth-limited helpers.
 *
 * Writing. tgc_pkw_* emit protocol 2 for what tgc exports: dicts, OrderedDicts, strings, ints, floats, and
 * tensors as PyTorch pickles them (_rebuild_tensor_v2 over a storage persistent id).
 */
#ifndef TGC_RUNTIME_PICKLE_H
#define TGC_RUNTIME_PICKLE_H

#include <stddef.h>
#include <stdint.h>

#include "common/util.h"
#include "ir/ir.h"

#define TGC_PK_MAX_NODES (1 << 22)
#define TGC_PK_MAX_STACK (1 << 16)
#define TGC_PK_MAX_MEMO (1 << 22)
#define TGC_PK_MAX_DEPTH 64

typedef enum tgc_pk_kind {
    TGC_PK_NONE,
    TGC_PK_BOOL,
    TGC_PK_INT,
    TGC_PK_FLOAT,
    TGC_PK_STR,
    TGC_PK_BYTES,
    TGC_PK_TUPLE,
    TGC_PK_LIST,
    TGC_PK_DICT,
    TGC_PK_GLOBAL,  /* a known callable, not yet called (s: "module.name") */
    TGC_PK_STORAGE, /* s: key, dtype, numel */
    TGC_PK_TENSOR,  /* storage, offset, rank, size, stride */
    TGC_PK_OPAQUE,  /* something this reader does not build (s: the callable's name) */
    TGC_PK_NDARRAY, /* a C-ordered numpy array of a one-byte dtype (s: "u1"/"i1"; rank, size, numel; storage:
                     * the STR/BYTES value holding its numel bytes; NULL until its state is set) */
    TGC_PK_NPDTYPE, /* a numpy.dtype (s: its name) */
} tgc_pk_kind;

typedef struct tgc_pk tgc_pk;
struct tgc_pk {
    tgc_pk_kind kind;
    int64_t i;     /* INT, BOOL */
    double f;      /* FLOAT */
    char *s;       /* STR, BYTES, GLOBAL, STORAGE's key, OPAQUE's name: NUL-terminated, len bytes */
    size_t len;
    tgc_pk **items; /* TUPLE, LIST: n items; DICT: n pairs as 2n entries key, value */
    int n, cap;
    /* STORAGE */
    int storage_dtype; /* a tgc_dtype, or TGC_PK_F64 / TGC_PK_I16 / TGC_PK_I8 / TGC_PK_BOOL8 below */
    int64_t numel;
    /* TENSOR */
    const tgc_pk *storage;
    int64_t offset;
    int rank;
    int64_t size[TGC_MAX_RANK], stride[TGC_MAX_RANK];
};

/* Storage element types PyTorch has and tgc_dtype does not (converted by the readers where they can). */
enum { TGC_PK_F64 = 100, TGC_PK_I16, TGC_PK_I8, TGC_PK_BOOL8 };
size_t tgc_pk_storage_elem(int storage_dtype);   /* bytes per element */
const char *tgc_pk_storage_name(int storage_dtype); /* "FloatStorage", ... */

typedef struct tgc_pickle tgc_pickle;

/* Parses a pickle (the bytes are not kept). name is used in messages. */
tgc_pickle *tgc_pickle_read(const uint8_t *data, size_t len, const char *name, tgc_err *err);
void tgc_pickle_free(tgc_pickle *p);
const tgc_pk *tgc_pickle_root(const tgc_pickle *p);

/* A dict's value for a string key, or NULL. */
const tgc_pk *tgc_pk_dict_get(const tgc_pk *d, const char *key);
/* "dict", "str", "mmengine...MessageHub" (an opaque value's callable), ... */
const char *tgc_pk_describe(const tgc_pk *v);

/* ---- writing (protocol 2) ---- */
void tgc_pkw_begin(tgc_buf *b);                 /* PROTO 2 */
void tgc_pkw_end(tgc_buf *b);                   /* STOP */
void tgc_pkw_dict_begin(tgc_buf *b);            /* EMPTY_DICT MARK */
void tgc_pkw_ordered_dict_begin(tgc_buf *b);    /* collections.OrderedDict() MARK */
void tgc_pkw_dict_end(tgc_buf *b);              /* SETITEMS (after key, value, key, value ...) */
void tgc_pkw_str(tgc_buf *b, const char *s);
void tgc_pkw_int(tgc_buf *b, int64_t v);
void tgc_pkw_float(tgc_buf *b, double v);
/* torch._utils._rebuild_tensor_v2(storage KEY of numel elements of dtype, 0, shape, contiguous strides,
 * False, OrderedDict()). dtype: f32, f16, bf16, i32, i64 or u8. */
void tgc_pkw_tensor(tgc_buf *b, const char *key, tgc_dtype dtype, const tgc_shape *shape);

#endif
