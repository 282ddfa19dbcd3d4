/* runtime/io/torch_pth.c - PyTorch's zip checkpoints through libzip: reading (restricted pickle) and writing. */
#include <stdlib.h>
#include <string.h>
#include <zip.h>

#include "runtime/io/pickle.h"
#include "runtime/io/state_dict.h"

typedef struct pth {
    zip_t *z;
    size_t archive_len;
    const char *name;
    char *prefix; /* "archive" in ARCHIVE/data.pkl */
    tgc_err *err;
} pth;

/* Reads entry PREFIX/rel whole (at most max bytes) into a fresh buffer; 0 = absent, 1 = read, -1 = error. */
static int entry(pth *P, const char *rel, uint64_t max, uint8_t **out, size_t *len) {
    char *full = tgc_asprintf("%s/%s", P->prefix, rel);
    zip_int64_t idx = zip_name_locate(P->z, full, 0);
    int rc = 0;
    *out = NULL;
    *len = 0;
    if (idx < 0) goto done;
    zip_stat_t st;
    if (zip_stat_index(P->z, (zip_uint64_t)idx, 0, &st) < 0 || !(st.valid & ZIP_STAT_SIZE)) {
        rc = tgc_fail(P->err, "%s: %s: unreadable zip entry: %s", P->name, full, zip_strerror(P->z));
        goto done;
    }
    /* a zip entry states its size; trust it only as far as the archive can hold it (deflate expands at
     * most about 1032:1), and read in chunks so memory follows the bytes actually decompressed */
    if (st.size > max || st.size / 1100 > P->archive_len) {
        rc = tgc_fail(P->err, "%s: %s: %llu bytes, more than the %llu this reader accepts", P->name, full,
                      (unsigned long long)st.size, (unsigned long long)max);
        goto done;
    }
    zip_file_t *f = zip_fopen_index(P->z, (zip_uint64_t)idx, 0);
    if (!f) {
        rc = tgc_fail(P->err, "%s: %s: cannot open zip entry: %s", P->name, full, zip_strerror(P->z));
        goto done;
    }
    size_t cap = (size_t)TGC_MIN(st.size, (uint64_t)1 << 20), have = 0;
    uint8_t *buf = tgc_malloc(cap ? cap : 1);
    zip_int64_t got = 1;
    while (have < st.size && got > 0) {
        if (have == cap) {
            cap = (size_t)TGC_MIN((uint64_t)cap * 2, st.size);
            buf = tgc_realloc(buf, cap);
        }
        got = zip_fread(f, buf + have, cap - have);
        if (got > 0) have += (size_t)got;
    }
    if (have != st.size || got < 0) {
        rc = tgc_fail(P->err, "%s: %s: reading the zip entry failed: %s", P->name, full,
                      got < 0 ? zip_file_strerror(f) : "shorter than its stated size");
        free(buf);
    } else {
        *out = buf;
        *len = (size_t)st.size;
        rc = 1;
    }
    zip_fclose(f);
done:
    free(full);
    return rc;
}

static int find_prefix(pth *P) {
    zip_int64_t n = zip_get_num_entries(P->z, 0);
    for (zip_int64_t i = 0; i < n; i++) {
        const char *nm = zip_get_name(P->z, (zip_uint64_t)i, 0);
        if (!nm) continue;
        const char *slash = strchr(nm, '/');
        if (slash && !strcmp(slash + 1, "data.pkl")) {
            P->prefix = tgc_malloc((size_t)(slash - nm) + 1);
            memcpy(P->prefix, nm, (size_t)(slash - nm));
            P->prefix[slash - nm] = 0;
            return 0;
        }
    }
    return tgc_fail(P->err, "%s: a zip archive without ARCHIVE/data.pkl: not a PyTorch checkpoint", P->name);
}

/* Storages already read, by key. */
typedef struct storages {
    int n, cap;
    char **key;
    uint8_t **data;
    size_t *len;
} storages;

static void storages_free(storages *s) {
    for (int i = 0; i < s->n; i++) {
        free(s->key[i]);
        free(s->data[i]);
    }
    free(s->key);
    free(s->data);
    free(s->len);
}

static const uint8_t *storage_bytes(pth *P, storages *S, const tgc_pk *st, size_t *len) {
    for (int i = 0; i < S->n; i++)
        if (!strcmp(S->key[i], st->s)) {
            *len = S->len[i];
            return S->data[i];
        }
    for (const char *c = st->s; *c; c++)
        if (!((*c >= '0' && *c <= '9') || (*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || *c == '_')) {
            tgc_fail(P->err, "%s: storage key '%.40s' is not a plain name (refused)", P->name, st->s);
            return NULL;
        }
    char *rel = tgc_asprintf("data/%s", st->s);
    uint8_t *buf;
    size_t n;
    int rc = entry(P, rel, TGC_SD_MAX_FILE, &buf, &n);
    if (rc == 0) tgc_fail(P->err, "%s: the archive has no storage %s/%s", P->name, P->prefix, rel);
    free(rel);
    if (rc <= 0) return NULL;
    if (S->n == S->cap) {
        S->cap = S->cap ? 2 * S->cap : 16;
        S->key = tgc_realloc(S->key, (size_t)S->cap * sizeof *S->key);
        S->data = tgc_realloc(S->data, (size_t)S->cap * sizeof *S->data);
        S->len = tgc_realloc(S->len, (size_t)S->cap * sizeof *S->len);
    }
    S->key[S->n] = tgc_strdup(st->s);
    S->data[S->n] = buf;
    S->len[S->n] = n;
    S->n++;
    *len = n;
    return buf;
}

/* One tensor of the state dict, copied out contiguous. */
static int add_tensor(pth *P, storages *S, tgc_sd *sd, const char *key, const tgc_pk *t) {
    const tgc_pk *st = t->storage;
    int sdt = st->storage_dtype;
    size_t esz = tgc_pk_storage_elem(sdt);
    if (sdt >= TGC_DTYPE_COUNT && sdt != TGC_PK_F64)
        return tgc_fail(P->err, "%s: tensor '%s' is stored as %s, which tgc does not read", P->name, key,
                        tgc_pk_storage_name(sdt));
    size_t len;
    const uint8_t *bytes = storage_bytes(P, S, st, &len);
    if (!bytes) return -1;
    if ((uint64_t)st->numel > len / esz)
        return tgc_fail(P->err, "%s: storage %s of tensor '%s' holds %zu bytes, less than its %lld elements", P->name,
                        st->s, key, len, (long long)st->numel);
    tgc_shape shape = {.rank = t->rank};
    int64_t numel = 1;
    for (int i = 0; i < t->rank; i++) {
        shape.d[i] = t->size[i];
        numel *= t->size[i]; /* bounded: every element lies in the storage (checked by the pickle reader) */
        if (t->size[i] == 0) numel = 0;
    }
    if (numel > st->numel && numel != 0)
        return tgc_fail(P->err, "%s: tensor '%s' has more elements than its storage", P->name, key);
    tgc_dtype out = sdt == TGC_PK_F64 ? TGC_F32 : (tgc_dtype)sdt;
    size_t osz = tgc_dtype_size(out);
    uint8_t *dst = tgc_malloc(numel ? (size_t)numel * osz : 1);
    int64_t idx[TGC_MAX_RANK] = {0};
    int contiguous = 1;
    int64_t expect = 1;
    for (int i = t->rank - 1; i >= 0; i--) {
        if (t->size[i] != 1 && t->stride[i] != expect) contiguous = 0;
        expect *= t->size[i];
    }
    if (contiguous && sdt != TGC_PK_F64) {
        if (numel) memcpy(dst, bytes + (size_t)t->offset * esz, (size_t)numel * esz);
    } else {
        for (int64_t e = 0; e < numel; e++) {
            int64_t off = t->offset;
            for (int i = 0; i < t->rank; i++) off += idx[i] * t->stride[i];
            const uint8_t *src = bytes + (size_t)off * esz;
            if (sdt == TGC_PK_F64) {
                double d;
                memcpy(&d, src, 8);
                float f = (float)d;
                memcpy(dst + (size_t)e * 4, &f, 4);
            } else {
                memcpy(dst + (size_t)e * esz, src, esz);
            }
            for (int i = t->rank - 1; i >= 0; i--) {
                if (++idx[i] < t->size[i]) break;
                idx[i] = 0;
            }
        }
    }
    tgc_sd_add(sd, key, out, &shape, dst);
    free(dst);
    return 0;
}

static void list_add(char **list, const char *s) {
    char *old = *list;
    *list = old ? tgc_asprintf("%s, %s", old, s) : tgc_strdup(s);
    free(old);
}

static tgc_sd *read_root(pth *P, const tgc_pk *root) {
    if (root->kind != TGC_PK_DICT)
        return tgc_fail(P->err, "%s: the pickled object is a %s, not a dict (a whole pickled model is not read: save "
                                "model.state_dict() instead)", P->name, tgc_pk_describe(root)),
               NULL;
    const tgc_pk *sdv = tgc_pk_dict_get(root, "state_dict");
    if (!sdv) sdv = tgc_pk_dict_get(root, "model");
    if (sdv && sdv->kind != TGC_PK_DICT)
        return tgc_fail(P->err, "%s: its state_dict is a %s, not a dict", P->name, tgc_pk_describe(sdv)), NULL;
    tgc_sd *sd = tgc_sd_new();
    sd->format = "pth";
    if (sdv) {
        const tgc_pk *meta = tgc_pk_dict_get(root, "meta"), *cfg = tgc_pk_dict_get(meta, "cfg");
        if (cfg && cfg->kind == TGC_PK_STR) sd->config = tgc_strdup(cfg->s);
        for (int i = 0; i < root->n / 2; i++) {
            const tgc_pk *k = root->items[2 * i], *v = root->items[2 * i + 1];
            if (k->kind == TGC_PK_STR && v != sdv && strcmp(k->s, "meta")) list_add(&sd->skipped, k->s);
        }
    } else {
        sdv = root;
    }
    storages S = {0};
    for (int i = 0; i < sdv->n / 2; i++) {
        const tgc_pk *k = sdv->items[2 * i], *v = sdv->items[2 * i + 1];
        if (k->kind != TGC_PK_STR) {
            tgc_fail(P->err, "%s: a state-dict key is a %s, not a str", P->name, tgc_pk_describe(k));
            goto fail;
        }
        if (v->kind != TGC_PK_TENSOR) {
            tgc_fail(P->err, "%s: state_dict['%s'] is a %s, not a tensor (refused)", P->name, k->s, tgc_pk_describe(v));
            goto fail;
        }
        if (tgc_sd_find(sd, k->s)) {
            tgc_fail(P->err, "%s: state_dict has '%s' twice", P->name, k->s);
            goto fail;
        }
        if (add_tensor(P, &S, sd, k->s, v)) goto fail;
    }
    storages_free(&S);
    return sd;
fail:
    storages_free(&S);
    tgc_sd_free(sd);
    return NULL;
}

tgc_sd *tgc_sd_parse_pth(const uint8_t *data, size_t len, const char *name, tgc_err *err) {
    pth P = {.archive_len = len, .name = name, .err = err};
    zip_error_t ze;
    zip_error_init(&ze);
    zip_source_t *src = zip_source_buffer_create(data, len, 0, &ze);
    if (!src) {
        tgc_fail(err, "%s: %s", name, zip_error_strerror(&ze));
        zip_error_fini(&ze);
        return NULL;
    }
    P.z = zip_open_from_source(src, ZIP_RDONLY | ZIP_CHECKCONS, &ze);
    if (!P.z) {
        tgc_fail(err, "%s: not a readable zip archive: %s", name, zip_error_strerror(&ze));
        zip_source_free(src);
        zip_error_fini(&ze);
        return NULL;
    }
    zip_error_fini(&ze);
    tgc_sd *sd = NULL;
    tgc_pickle *pk = NULL;
    uint8_t *pkl = NULL, *bo = NULL;
    size_t pkl_len, bo_len;
    if (find_prefix(&P)) goto done;
    int rc = entry(&P, "byteorder", 16, &bo, &bo_len);
    if (rc < 0) goto done;
    if (rc == 1 && !(bo_len == 6 && !memcmp(bo, "little", 6))) {
        tgc_fail(err, "%s: %s/byteorder is not 'little' (big-endian checkpoints are not read)", name, P.prefix);
        goto done;
    }
    if (entry(&P, "data.pkl", TGC_SD_MAX_PICKLE, &pkl, &pkl_len) < 0) goto done;
    char *pname = tgc_asprintf("%s: %s/data.pkl", name, P.prefix);
    pk = tgc_pickle_read(pkl, pkl_len, pname, err);
    free(pname);
    if (pk) sd = read_root(&P, tgc_pickle_root(pk));
done:
    tgc_pickle_free(pk);
    free(pkl);
    free(bo);
    free(P.prefix);
    zip_discard(P.z);
    return sd;
}

/* ---- writing ---- */

static int add_entry(zip_t *z, const char *name, const void *data, size_t len, tgc_err *err) {
    zip_source_t *s = zip_source_buffer(z, data, len, 0);
    zip_int64_t idx = s ? zip_file_add(z, name, s, ZIP_FL_ENC_UTF_8) : -1;
    if (idx < 0) {
        if (s) zip_source_free(s);
        return tgc_fail(err, "zip: cannot add %s: %s", name, zip_strerror(z));
    }
    if (zip_set_file_compression(z, (zip_uint64_t)idx, ZIP_CM_STORE, 0) < 0)
        return tgc_fail(err, "zip: %s: %s", name, zip_strerror(z));
    return 0;
}

int tgc_sd_serialize_pth(const tgc_sd *sd, const char *meta_config, tgc_buf *out, tgc_err *err) {
    tgc_buf pk = {0};
    tgc_pkw_begin(&pk);
    tgc_pkw_dict_begin(&pk);
    tgc_pkw_str(&pk, "meta");
    tgc_pkw_dict_begin(&pk);
    tgc_pkw_str(&pk, "producer");
    tgc_pkw_str(&pk, "tgc " TGC_VERSION);
    if (meta_config) {
        tgc_pkw_str(&pk, "cfg");
        tgc_pkw_str(&pk, meta_config);
    }
    tgc_pkw_dict_end(&pk);
    tgc_pkw_str(&pk, "state_dict");
    tgc_pkw_ordered_dict_begin(&pk);
    for (int i = 0; i < sd->n; i++) {
        char key[24];
        snprintf(key, sizeof key, "%d", i);
        tgc_pkw_str(&pk, sd->t[i].name);
        tgc_pkw_tensor(&pk, key, sd->t[i].dtype, &sd->t[i].shape);
    }
    tgc_pkw_dict_end(&pk);
    tgc_pkw_dict_end(&pk);
    tgc_pkw_end(&pk);

    int rc = -1;
    zip_error_t ze;
    zip_error_init(&ze);
    zip_source_t *src = zip_source_buffer_create(NULL, 0, 0, &ze);
    zip_t *z = src ? zip_open_from_source(src, ZIP_TRUNCATE, &ze) : NULL;
    if (!z) {
        tgc_fail(err, "zip: %s", zip_error_strerror(&ze));
        if (src) zip_source_free(src);
        zip_error_fini(&ze);
        tgc_buf_free(&pk);
        return -1;
    }
    zip_error_fini(&ze);
    zip_source_keep(src);
    static const char version[] = "3\n", order[] = "little";
    if (add_entry(z, "archive/data.pkl", pk.data, pk.len, err) ||
        add_entry(z, "archive/byteorder", order, strlen(order), err))
        goto fail;
    for (int i = 0; i < sd->n; i++) {
        char nm[48];
        snprintf(nm, sizeof nm, "archive/data/%d", i);
        if (add_entry(z, nm, sd->t[i].data, sd->t[i].bytes, err)) goto fail;
    }
    if (add_entry(z, "archive/version", version, strlen(version), err)) goto fail;
    if (zip_close(z) < 0) {
        tgc_fail(err, "zip: %s", zip_strerror(z));
        goto fail;
    }
    z = NULL;
    if (zip_source_open(src) < 0) {
        tgc_fail(err, "zip: cannot read back the archive");
        goto fail;
    }
    size_t at = out->len;
    for (;;) {
        uint8_t chunk[1 << 16];
        zip_int64_t n = zip_source_read(src, chunk, sizeof chunk);
        if (n < 0) {
            zip_source_close(src);
            out->len = at;
            tgc_fail(err, "zip: cannot read back the archive");
            goto fail;
        }
        if (n == 0) break;
        tgc_buf_put(out, chunk, (size_t)n);
    }
    zip_source_close(src);
    rc = 0;
fail:
    if (z) zip_discard(z);
    zip_source_free(src);
    tgc_buf_free(&pk);
    return rc;
}

int tgc_sd_save_pth(const tgc_sd *sd, const char *meta_config, const char *path, tgc_err *err) {
    tgc_buf b = {0};
    int rc = tgc_sd_serialize_pth(sd, meta_config, &b, err);
    if (rc) tgc_err_prefix(err, "%s", path);
    else rc = tgc_write_file_atomic(path, b.data, b.len, err);
    tgc_buf_free(&b);
    return rc;
}
