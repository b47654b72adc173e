/*
 * checkpoint.c - libattn_checkpoint: attn models in safetensors files.
 * Contracts in include/attn_checkpoint.h.
 *
 * The JSON header is written and parsed with jansson.  Saving streams the
 * model's arrays straight to a temporary file (params, opt_m and opt_v are
 * each one contiguous block in declaration order, so every tensor's bytes
 * are already in place); loading reads the whole file, checks everything,
 * and only then copies into the model.
 */
#define _XOPEN_SOURCE 700 /* mkstemp, fsync, fchmod under -std=c11 */

#include "attn_checkpoint.h"

#include <jansson.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "attn_checkpoint writes the model's floats as they are in memory: little-endian machines only"
#endif

/* The safetensors reference implementation refuses headers above 100 MB. */
#define HEADER_MAX ((uint64_t)100 * 1000 * 1000)
#define OPT_M "optim.m."
#define OPT_V "optim.v."

/* ---- metadata ---- */

struct attn_checkpoint_meta {
    int64_t n;
    char **key, **value;
};

void attn_checkpoint_meta_free(attn_checkpoint_meta *meta)
{
    if (!meta)
        return;
    for (int64_t i = 0; i < meta->n; i++) {
        free(meta->key[i]);
        free(meta->value[i]);
    }
    free(meta->key);
    free(meta->value);
    free(meta);
}

int64_t attn_checkpoint_meta_count(const attn_checkpoint_meta *meta) { return meta ? meta->n : 0; }

const char *attn_checkpoint_meta_key(const attn_checkpoint_meta *meta, int64_t i)
{
    return meta && i >= 0 && i < meta->n ? meta->key[i] : NULL;
}

const char *attn_checkpoint_meta_value(const attn_checkpoint_meta *meta, int64_t i)
{
    return meta && i >= 0 && i < meta->n ? meta->value[i] : NULL;
}

const char *attn_checkpoint_meta_get(const attn_checkpoint_meta *meta, const char *key)
{
    if (!meta || !key)
        return NULL;
    for (int64_t i = 0; i < meta->n; i++)
        if (strcmp(meta->key[i], key) == 0)
            return meta->value[i];
    return NULL;
}

static char *dup_str(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d)
        memcpy(d, s, n);
    return d;
}

/* ---- numbers as text, through the JSON library (locale-independent) ---- */

/* x as 17 significant digits: reads back bit for bit.  NULL on no memory. */
static char *real_text(double x)
{
    json_t *j = json_real(x);
    char *s = j ? json_dumps(j, JSON_ENCODE_ANY | JSON_REAL_PRECISION(17)) : NULL;
    json_decref(j);
    return s;
}

/* Parse a whole JSON number (integer or real) into *x; 0 on failure. */
static int text_real(const char *s, double *x)
{
    json_error_t err;
    json_t *j = json_loads(s, JSON_DECODE_ANY, &err);
    int ok = j && json_is_number(j);
    if (ok)
        *x = json_number_value(j);
    json_decref(j);
    return ok;
}

static int text_int(const char *s, int64_t *x)
{
    json_error_t err;
    json_t *j = json_loads(s, JSON_DECODE_ANY, &err);
    int ok = j && json_is_integer(j);
    if (ok)
        *x = (int64_t)json_integer_value(j);
    json_decref(j);
    return ok;
}

/* ---- saving ---- */

static int set_str(json_t *obj, const char *key, const char *value)
{
    return json_object_set_new(obj, key, json_string(value)) == 0;
}

static int set_real(json_t *obj, const char *key, double x)
{
    char *s = real_text(x);
    int ok = s && set_str(obj, key, s);
    free(s);
    return ok;
}

static int set_int(json_t *obj, const char *key, long long x)
{
    char s[32];
    snprintf(s, sizeof s, "%lld", x);
    return set_str(obj, key, s);
}

static int add_tensor(json_t *root, const char *prefix, const attn_param_info *p, int64_t base)
{
    char name[sizeof OPT_M + ATTN_PARAM_NAME_MAX];
    snprintf(name, sizeof name, "%s%s", prefix, p->name);
    json_t *t = json_object(), *shape = json_array(), *off = json_array();
    int ok = t && shape && off;
    for (int d = 0; ok && d < p->rank; d++)
        ok = json_array_append_new(shape, json_integer(p->shape[d])) == 0;
    int64_t begin = (base + p->offset) * (int64_t)sizeof(float);
    ok = ok && json_array_append_new(off, json_integer(begin)) == 0 &&
         json_array_append_new(off, json_integer(begin + p->numel * (int64_t)sizeof(float))) == 0;
    ok = ok && set_str(t, "dtype", "F32") && json_object_set(t, "shape", shape) == 0 &&
         json_object_set(t, "data_offsets", off) == 0 && json_object_set(root, name, t) == 0;
    json_decref(t);
    json_decref(shape);
    json_decref(off);
    return ok;
}

static attn_status check_optimizer(const char *path, const attn_optimizer *o)
{
    const attn_lr_schedule *s = &o->lr;
    double reals[] = {s->base_lr, s->min_lr, o->momentum, o->beta1, o->beta2, o->eps, o->weight_decay, o->clip_norm};
    if (o->kind != ATTN_OPTIM_SGD && o->kind != ATTN_OPTIM_ADAM && o->kind != ATTN_OPTIM_ADAMW)
        return attn_set_error(ATTN_ERR_INVALID, "%s: not written: unknown optimizer kind %d", path, (int)o->kind);
    for (size_t i = 0; i < sizeof reals / sizeof *reals; i++)
        if (reals[i] != reals[i] || reals[i] - reals[i] != 0)
            return attn_set_error(ATTN_ERR_INVALID, "%s: not written: an optimizer hyper-parameter is not finite",
                                  path);
    return ATTN_OK;
}

/* The header JSON, padded with spaces to a multiple of 8.  NULL on failure
 * with the message set. */
static char *build_header(const char *path, const attn_model *m, const attn_optimizer *opt,
                          const attn_checkpoint_kv *meta, int64_t n_meta, size_t *len)
{
    json_t *root = json_object(), *md = json_object();
    int ok = root && md;
    char *text = NULL;
    ok = ok && set_str(md, "attn.version", attn_version());
    if (ok && opt) {
        ok = set_str(md, "attn.optim.kind", attn_optim_name(opt->kind)) && set_int(md, "attn.optim.step", m->step) &&
             set_real(md, "attn.optim.lr.base_lr", opt->lr.base_lr) &&
             set_real(md, "attn.optim.lr.min_lr", opt->lr.min_lr) &&
             set_int(md, "attn.optim.lr.warmup_steps", opt->lr.warmup_steps) &&
             set_int(md, "attn.optim.lr.total_steps", opt->lr.total_steps) &&
             set_int(md, "attn.optim.lr.cosine", opt->lr.cosine) && set_real(md, "attn.optim.momentum", opt->momentum) &&
             set_real(md, "attn.optim.beta1", opt->beta1) && set_real(md, "attn.optim.beta2", opt->beta2) &&
             set_real(md, "attn.optim.eps", opt->eps) && set_real(md, "attn.optim.weight_decay", opt->weight_decay) &&
             set_real(md, "attn.optim.clip_norm", opt->clip_norm);
    }
    for (int64_t i = 0; ok && i < n_meta; i++)
        ok = set_str(md, meta[i].key, meta[i].value);
    ok = ok && json_object_set(root, "__metadata__", md) == 0;
    for (int64_t t = 0; ok && t < m->n_tensors; t++)
        ok = add_tensor(root, "", &m->table[t], 0);
    for (int64_t t = 0; ok && opt && t < m->n_tensors; t++)
        ok = add_tensor(root, OPT_M, &m->table[t], m->count);
    for (int64_t t = 0; ok && opt && t < m->n_tensors; t++)
        ok = add_tensor(root, OPT_V, &m->table[t], 2 * m->count);
    if (ok)
        text = json_dumps(root, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(md);
    json_decref(root);
    if (!text) {
        attn_set_error(ATTN_ERR_NOMEM, "%s: not written: out of memory building the header", path);
        return NULL;
    }
    size_t n = strlen(text), padded = (n + 7) / 8 * 8;
    char *h = malloc(padded + 1);
    if (!h) {
        free(text);
        attn_set_error(ATTN_ERR_NOMEM, "%s: not written: out of memory building the header", path);
        return NULL;
    }
    memcpy(h, text, n);
    memset(h + n, ' ', padded - n);
    h[padded] = 0;
    free(text);
    *len = padded;
    return h;
}

attn_status attn_checkpoint_save(const char *path, const attn_model *m, const attn_optimizer *opt,
                                 const attn_checkpoint_kv *meta, int64_t n_meta)
{
    if (!path || !m)
        return attn_set_error(ATTN_ERR_MISUSE, "attn_checkpoint_save: %s is NULL", !path ? "path" : "m");
    if (!m->params)
        return attn_set_error(ATTN_ERR_MISUSE, "%s: not written: the model is not allocated (attn_model_alloc)", path);
    if (n_meta < 0 || (n_meta > 0 && !meta))
        return attn_set_error(ATTN_ERR_MISUSE, "%s: not written: %lld metadata pairs at %p", path, (long long)n_meta,
                              (const void *)meta);
    for (int64_t i = 0; i < n_meta; i++) {
        if (!meta[i].key || !meta[i].value)
            return attn_set_error(ATTN_ERR_MISUSE, "%s: not written: metadata pair %lld has a NULL %s", path,
                                  (long long)i, !meta[i].key ? "key" : "value");
        if (strncmp(meta[i].key, "attn.", 5) == 0)
            return attn_set_error(ATTN_ERR_INVALID, "%s: not written: metadata key '%s' is reserved (attn.*)", path,
                                  meta[i].key);
        if (strcmp(meta[i].key, "__metadata__") == 0 || !*meta[i].key)
            return attn_set_error(ATTN_ERR_INVALID, "%s: not written: metadata key '%s' is not allowed", path,
                                  meta[i].key);
        for (int64_t j = 0; j < i; j++)
            if (strcmp(meta[i].key, meta[j].key) == 0)
                return attn_set_error(ATTN_ERR_INVALID, "%s: not written: metadata key '%s' appears twice", path,
                                      meta[i].key);
    }
    attn_status st;
    if (opt && (st = check_optimizer(path, opt)) != ATTN_OK)
        return st;
    size_t hlen;
    char *header = build_header(path, m, opt, meta, n_meta, &hlen);
    if (!header)
        return ATTN_ERR_NOMEM;

    unsigned char len8[8];
    for (int i = 0; i < 8; i++)
        len8[i] = (unsigned char)((uint64_t)hlen >> (8 * i));
    size_t block = (size_t)m->count * sizeof(float);
    /* safetensors: header length, JSON header, then the data buffer */
    attn_bytes parts[5] = {{len8, 8}, {header, hlen}, {m->params, block}, {NULL, 0}, {NULL, 0}};
    if (opt) {
        parts[3] = (attn_bytes){m->opt_m, block};
        parts[4] = (attn_bytes){m->opt_v, block};
    }
    st = attn_file_write_atomic(path, parts, opt ? 5 : 3);
    free(header);
    return st;
}

/* ---- loading ---- */

/* One tensor entry of the header, checked. */
typedef struct entry {
    const char *name;
    int rank;
    int64_t shape[8];
    int64_t begin, end; /* bytes into the data buffer */
} entry;

static int cmp_begin(const void *a, const void *b)
{
    const entry *x = a, *y = b;
    return x->begin < y->begin ? -1 : x->begin > y->begin ? 1 : (x->end > y->end) - (x->end < y->end);
}

static void shape_text(char *buf, size_t n, int rank, const int64_t *shape)
{
    size_t k = (size_t)snprintf(buf, n, "(");
    for (int d = 0; d < rank && k < n; d++)
        k += (size_t)snprintf(buf + k, n - k, d ? ", %lld" : "%lld", (long long)shape[d]);
    if (k < n)
        snprintf(buf + k, n - k, rank == 1 ? ",)" : ")");
}

/* Check one tensor entry of the header into *e. */
static attn_status read_entry(const char *name, const char *key, json_t *v, uint64_t data_size, entry *e)
{
    if (!json_is_object(v))
        return attn_set_error(ATTN_ERR_FORMAT, "checkpoint %s: tensor '%s' is not a JSON object", name, key);
    json_t *dt = json_object_get(v, "dtype"), *sh = json_object_get(v, "shape"), *of = json_object_get(v, "data_offsets");
    if (!json_is_string(dt) || !json_is_array(sh) || !json_is_array(of))
        return attn_set_error(ATTN_ERR_FORMAT, "checkpoint %s: tensor '%s' lacks a string dtype, a shape array or "
                              "a data_offsets array", name, key);
    if (json_object_size(v) != 3)
        return attn_set_error(ATTN_ERR_FORMAT, "checkpoint %s: tensor '%s' has fields other than dtype, shape and "
                              "data_offsets", name, key);
    if (strcmp(json_string_value(dt), "F32") != 0)
        return attn_set_error(ATTN_ERR_FORMAT, "checkpoint %s: tensor '%s' has dtype %s; attn reads F32 only", name,
                              key, json_string_value(dt));
    size_t rank = json_array_size(sh);
    if (rank > 8)
        return attn_set_error(ATTN_ERR_FORMAT, "checkpoint %s: tensor '%s' has rank %zu", name, key, rank);
    e->name = key;
    e->rank = (int)rank;
    uint64_t bytes = 4;
    for (size_t d = 0; d < rank; d++) {
        json_t *x = json_array_get(sh, d);
        if (!json_is_integer(x) || json_integer_value(x) < 0)
            return attn_set_error(ATTN_ERR_FORMAT, "checkpoint %s: tensor '%s' has a shape entry that is not a "
                                  "non-negative integer", name, key);
        e->shape[d] = (int64_t)json_integer_value(x);
        if (e->shape[d] != 0 && bytes > UINT64_MAX / (uint64_t)e->shape[d])
            return attn_set_error(ATTN_ERR_FORMAT, "checkpoint %s: tensor '%s' has a shape whose size overflows", name,
                                  key);
        bytes *= (uint64_t)e->shape[d];
    }
    json_t *b = json_array_get(of, 0), *en = json_array_get(of, 1);
    if (json_array_size(of) != 2 || !json_is_integer(b) || !json_is_integer(en))
        return attn_set_error(ATTN_ERR_FORMAT, "checkpoint %s: tensor '%s' has data_offsets that are not two integers",
                              name, key);
    e->begin = (int64_t)json_integer_value(b);
    e->end = (int64_t)json_integer_value(en);
    if (e->begin < 0 || e->end < e->begin || (uint64_t)e->end > data_size)
        return attn_set_error(ATTN_ERR_FORMAT, "checkpoint %s: tensor '%s' has data_offsets [%lld, %lld] out of the "
                              "data buffer's range [0, %llu]", name, key, (long long)e->begin, (long long)e->end,
                              (unsigned long long)data_size);
    if ((uint64_t)(e->end - e->begin) != bytes) {
        char s[160];
        shape_text(s, sizeof s, e->rank, e->shape);
        return attn_set_error(ATTN_ERR_FORMAT, "checkpoint %s: tensor '%s' has %lld bytes of data but shape %s in F32 "
                              "needs %llu", name, key, (long long)(e->end - e->begin), s, (unsigned long long)bytes);
    }
    return ATTN_OK;
}

/* The file's entry named prefix + p->name, checked against p's shape; NULL
 * (with the message set) when missing or different. */
static const entry *match(const char *name, const entry *ents, size_t n, const char *prefix,
                          const attn_param_info *p, attn_status *st)
{
    char full[sizeof OPT_M + ATTN_PARAM_NAME_MAX];
    snprintf(full, sizeof full, "%s%s", prefix, p->name);
    for (size_t i = 0; i < n; i++) {
        if (strcmp(ents[i].name, full) != 0)
            continue;
        int same = ents[i].rank == p->rank;
        for (int d = 0; same && d < p->rank; d++)
            same = ents[i].shape[d] == p->shape[d];
        if (same)
            return &ents[i];
        char got[160], want[160];
        shape_text(got, sizeof got, ents[i].rank, ents[i].shape);
        shape_text(want, sizeof want, p->rank, p->shape);
        *st = attn_set_error(ATTN_ERR_FORMAT, "checkpoint %s: tensor '%s' has shape %s but the model expects %s", name,
                             full, got, want);
        return NULL;
    }
    *st = attn_set_error(ATTN_ERR_FORMAT, "checkpoint %s: tensor '%s' of the model is missing", name, full);
    return NULL;
}

static attn_status meta_real(const char *name, const attn_checkpoint_meta *md, const char *key, double *x)
{
    const char *s = attn_checkpoint_meta_get(md, key);
    if (!s)
        return attn_set_error(ATTN_ERR_FORMAT, "checkpoint %s: the optimizer state lacks metadata '%s'", name, key);
    if (!text_real(s, x))
        return attn_set_error(ATTN_ERR_FORMAT, "checkpoint %s: metadata '%s' = '%s' is not a number", name, key, s);
    return ATTN_OK;
}

static attn_status meta_int(const char *name, const attn_checkpoint_meta *md, const char *key, int64_t *x)
{
    const char *s = attn_checkpoint_meta_get(md, key);
    if (!s)
        return attn_set_error(ATTN_ERR_FORMAT, "checkpoint %s: the optimizer state lacks metadata '%s'", name, key);
    if (!text_int(s, x))
        return attn_set_error(ATTN_ERR_FORMAT, "checkpoint %s: metadata '%s' = '%s' is not an integer", name, key, s);
    return ATTN_OK;
}

static attn_status read_optimizer(const char *name, const attn_checkpoint_meta *md, attn_optimizer *o, int64_t *step)
{
    attn_status st;
    int64_t cosine = 0;
    const char *kind = attn_checkpoint_meta_get(md, "attn.optim.kind");
    if (!kind)
        return attn_set_error(ATTN_ERR_FORMAT, "checkpoint %s: the optimizer state lacks metadata 'attn.optim.kind'",
                              name);
    memset(o, 0, sizeof *o);
    if (attn_optim_parse(kind, &o->kind) != ATTN_OK)
        return attn_set_error(ATTN_ERR_FORMAT, "checkpoint %s: metadata 'attn.optim.kind' = '%s' is not sgd, adam "
                              "or adamw", name, kind);
    if ((st = meta_int(name, md, "attn.optim.step", step)) != ATTN_OK ||
        (st = meta_real(name, md, "attn.optim.lr.base_lr", &o->lr.base_lr)) != ATTN_OK ||
        (st = meta_real(name, md, "attn.optim.lr.min_lr", &o->lr.min_lr)) != ATTN_OK ||
        (st = meta_int(name, md, "attn.optim.lr.warmup_steps", &o->lr.warmup_steps)) != ATTN_OK ||
        (st = meta_int(name, md, "attn.optim.lr.total_steps", &o->lr.total_steps)) != ATTN_OK ||
        (st = meta_int(name, md, "attn.optim.lr.cosine", &cosine)) != ATTN_OK ||
        (st = meta_real(name, md, "attn.optim.momentum", &o->momentum)) != ATTN_OK ||
        (st = meta_real(name, md, "attn.optim.beta1", &o->beta1)) != ATTN_OK ||
        (st = meta_real(name, md, "attn.optim.beta2", &o->beta2)) != ATTN_OK ||
        (st = meta_real(name, md, "attn.optim.eps", &o->eps)) != ATTN_OK ||
        (st = meta_real(name, md, "attn.optim.weight_decay", &o->weight_decay)) != ATTN_OK ||
        (st = meta_real(name, md, "attn.optim.clip_norm", &o->clip_norm)) != ATTN_OK)
        return st;
    if (*step < 0)
        return attn_set_error(ATTN_ERR_FORMAT, "checkpoint %s: metadata 'attn.optim.step' = %lld is negative", name,
                              (long long)*step);
    o->lr.cosine = cosine != 0;
    if (attn_optimizer_check(o) != ATTN_OK) { /* settings attn_model_step would refuse: say so now, naming the file */
        char why[256];
        snprintf(why, sizeof why, "%s", attn_errmsg());
        return attn_set_error(ATTN_ERR_FORMAT, "checkpoint %s: the optimizer settings are unusable (%s)", name, why);
    }
    return ATTN_OK;
}

/* The metadata object into a new list; NULL with the message set. */
static attn_checkpoint_meta *read_meta(const char *name, json_t *md, attn_status *st)
{
    attn_checkpoint_meta *r = calloc(1, sizeof *r);
    size_t n = md ? json_object_size(md) : 0;
    if (r && n) {
        r->key = calloc(n, sizeof *r->key);
        r->value = calloc(n, sizeof *r->value);
    }
    if (!r || (n && (!r->key || !r->value))) {
        attn_checkpoint_meta_free(r);
        *st = attn_set_error(ATTN_ERR_NOMEM, "checkpoint %s: out of memory reading the metadata", name);
        return NULL;
    }
    const char *k;
    json_t *v;
    json_object_foreach(md, k, v)
    {
        if (!json_is_string(v)) {
            *st = attn_set_error(ATTN_ERR_FORMAT, "checkpoint %s: metadata '%s' is not a string", name, k);
            attn_checkpoint_meta_free(r);
            return NULL;
        }
        r->key[r->n] = dup_str(k);
        r->value[r->n] = dup_str(json_string_value(v));
        r->n++;
        if (!r->key[r->n - 1] || !r->value[r->n - 1]) {
            *st = attn_set_error(ATTN_ERR_NOMEM, "checkpoint %s: out of memory reading the metadata", name);
            attn_checkpoint_meta_free(r);
            return NULL;
        }
    }
    return r;
}

attn_status attn_checkpoint_parse(const void *bytes, size_t size, const char *name, attn_model *m,
                                  attn_optimizer *opt, attn_checkpoint_meta **meta)
{
    if (meta)
        *meta = NULL;
    if (!name)
        name = "checkpoint";
    if (!bytes && size)
        return attn_set_error(ATTN_ERR_MISUSE, "attn_checkpoint_parse: bytes is NULL");
    if (m && !m->params)
        return attn_set_error(ATTN_ERR_MISUSE, "checkpoint %s: the model is not allocated (attn_model_alloc)", name);
    if (!m && opt)
        return attn_set_error(ATTN_ERR_MISUSE, "checkpoint %s: an optimizer is asked for without a model", name);
    const unsigned char *b = bytes;
    if (size < 8)
        return attn_set_error(ATTN_ERR_FORMAT, "checkpoint %s: truncated: %zu bytes, fewer than the 8 of the header "
                              "length", name, size);
    uint64_t hlen = 0;
    for (int i = 0; i < 8; i++)
        hlen |= (uint64_t)b[i] << (8 * i);
    if (hlen > size - 8)
        return attn_set_error(ATTN_ERR_FORMAT, "checkpoint %s: header length %llu exceeds the %zu bytes after it "
                              "(truncated or not a safetensors file)", name, (unsigned long long)hlen, size - 8);
    if (hlen > HEADER_MAX)
        return attn_set_error(ATTN_ERR_FORMAT, "checkpoint %s: header length %llu exceeds the limit of %llu", name,
                              (unsigned long long)hlen, (unsigned long long)HEADER_MAX);
    uint64_t data_size = size - 8 - hlen;
    const unsigned char *data = b + 8 + hlen;
    json_error_t jerr;
    json_t *root = json_loadb((const char *)b + 8, (size_t)hlen, JSON_REJECT_DUPLICATES, &jerr);
    if (!root)
        return attn_set_error(ATTN_ERR_FORMAT, "checkpoint %s: the header is not valid JSON: %s (line %d, column %d)",
                              name, jerr.text, jerr.line, jerr.column);
    attn_status st = ATTN_OK;
    entry *ents = NULL;
    attn_checkpoint_meta *md = NULL;
    size_t n = 0;
    if (!json_is_object(root)) {
        st = attn_set_error(ATTN_ERR_FORMAT, "checkpoint %s: the header is not a JSON object", name);
        goto done;
    }
    json_t *jmd = json_object_get(root, "__metadata__");
    if (jmd && !json_is_object(jmd)) {
        st = attn_set_error(ATTN_ERR_FORMAT, "checkpoint %s: __metadata__ is not an object", name);
        goto done;
    }
    if (!(md = read_meta(name, jmd, &st)))
        goto done;
    ents = calloc(json_object_size(root) + 1, sizeof *ents);
    if (!ents) {
        st = attn_set_error(ATTN_ERR_NOMEM, "checkpoint %s: out of memory", name);
        goto done;
    }
    const char *key;
    json_t *v;
    json_object_foreach(root, key, v)
    {
        if (strcmp(key, "__metadata__") == 0)
            continue;
        if ((st = read_entry(name, key, v, data_size, &ents[n])) != ATTN_OK)
            goto done;
        n++;
    }
    /* Sorted by offset, the tensors must tile the buffer exactly. */
    entry *sorted = malloc((n + 1) * sizeof *sorted);
    if (!sorted) {
        st = attn_set_error(ATTN_ERR_NOMEM, "checkpoint %s: out of memory", name);
        goto done;
    }
    memcpy(sorted, ents, n * sizeof *ents);
    qsort(sorted, n, sizeof *sorted, cmp_begin);
    int64_t at = 0;
    for (size_t i = 0; i < n && st == ATTN_OK; i++) {
        if (sorted[i].begin < at)
            st = attn_set_error(ATTN_ERR_FORMAT, "checkpoint %s: tensors '%s' and '%s' overlap in the data buffer",
                                name, sorted[i - 1].name, sorted[i].name);
        else if (sorted[i].begin > at)
            st = attn_set_error(ATTN_ERR_FORMAT, "checkpoint %s: the data buffer has a hole at bytes [%lld, %lld)",
                                name, (long long)at, (long long)sorted[i].begin);
        at = sorted[i].end;
    }
    if (st == ATTN_OK && (uint64_t)at != data_size)
        st = attn_set_error(ATTN_ERR_FORMAT, "checkpoint %s: the tensors cover %lld bytes but the data buffer has "
                            "%llu (trailing bytes)", name, (long long)at, (unsigned long long)data_size);
    free(sorted);
    if (st != ATTN_OK)
        goto done;

    /* Against the model: the same tensors, no more, no fewer. */
    int64_t has_opt = 0, step = 0;
    for (size_t i = 0; i < n; i++)
        has_opt += strncmp(ents[i].name, OPT_M, strlen(OPT_M)) == 0 || strncmp(ents[i].name, OPT_V, strlen(OPT_V)) == 0;
    attn_optimizer o;
    if (opt && !has_opt) {
        st = attn_set_error(ATTN_ERR_FORMAT, "checkpoint %s: holds no optimizer state (saved without one)", name);
        goto done;
    }
    if (m) {
        const entry **src = calloc((size_t)(3 * m->n_tensors + 1), sizeof *src);
        if (!src) {
            st = attn_set_error(ATTN_ERR_NOMEM, "checkpoint %s: out of memory", name);
            goto done;
        }
        for (int64_t t = 0; t < m->n_tensors && st == ATTN_OK; t++) {
            if (!(src[t] = match(name, ents, n, "", &m->table[t], &st)))
                break;
            if (has_opt && (!(src[m->n_tensors + t] = match(name, ents, n, OPT_M, &m->table[t], &st)) ||
                            !(src[2 * m->n_tensors + t] = match(name, ents, n, OPT_V, &m->table[t], &st))))
                break;
        }
        if (st == ATTN_OK && (int64_t)n != (has_opt ? 3 : 1) * m->n_tensors) {
            /* every model tensor matched once, so some file tensor is extra */
            for (size_t i = 0; i < n && st == ATTN_OK; i++) {
                const char *base = ents[i].name;
                if (strncmp(base, OPT_M, strlen(OPT_M)) == 0 || strncmp(base, OPT_V, strlen(OPT_V)) == 0)
                    base += strlen(OPT_M);
                if (!attn_model_find(m, base))
                    st = attn_set_error(ATTN_ERR_FORMAT, "checkpoint %s: tensor '%s' is not in the model", name,
                                        ents[i].name);
            }
            if (st == ATTN_OK)
                st = attn_set_error(ATTN_ERR_FORMAT, "checkpoint %s: holds %zu tensors, the model %lld", name, n,
                                    (long long)((has_opt ? 3 : 1) * m->n_tensors));
        }
        if (st == ATTN_OK && opt)
            st = read_optimizer(name, md, &o, &step);
        if (st == ATTN_OK) { /* everything checked: now write */
            for (int64_t t = 0; t < m->n_tensors; t++) {
                const attn_param_info *p = &m->table[t];
                size_t nb = (size_t)p->numel * sizeof(float);
                memcpy(m->params + p->offset, data + src[t]->begin, nb);
                if (opt) {
                    memcpy(m->opt_m + p->offset, data + src[m->n_tensors + t]->begin, nb);
                    memcpy(m->opt_v + p->offset, data + src[2 * m->n_tensors + t]->begin, nb);
                }
            }
            if (opt) {
                m->step = step;
                *opt = o;
            }
        }
        free(src);
    }
done:
    free(ents);
    json_decref(root);
    if (st == ATTN_OK && meta)
        *meta = md;
    else
        attn_checkpoint_meta_free(md);
    return st;
}

attn_status attn_checkpoint_load(const char *path, attn_model *m, attn_optimizer *opt, attn_checkpoint_meta **meta)
{
    if (meta)
        *meta = NULL;
    if (!path)
        return attn_set_error(ATTN_ERR_MISUSE, "attn_checkpoint_load: path is NULL");
    if (m && !m->params)
        return attn_set_error(ATTN_ERR_MISUSE, "checkpoint %s: the model is not allocated (attn_model_alloc)", path);
    FILE *f = fopen(path, "rb");
    if (!f)
        return attn_set_error(ATTN_ERR_IO, "checkpoint %s: cannot open: %s", path, strerror(errno));
    struct stat sb;
    if (fstat(fileno(f), &sb) != 0 || !S_ISREG(sb.st_mode)) {
        fclose(f);
        return attn_set_error(ATTN_ERR_IO, "checkpoint %s: not a regular file", path);
    }
    size_t size = (size_t)sb.st_size;
    unsigned char *buf = malloc(size ? size : 1);
    if (!buf) {
        fclose(f);
        return attn_set_error(ATTN_ERR_NOMEM, "checkpoint %s: out of memory reading %zu bytes", path, size);
    }
    size_t got = fread(buf, 1, size, f);
    int bad = ferror(f);
    fclose(f);
    if (bad || got != size) {
        free(buf);
        return attn_set_error(ATTN_ERR_IO, "checkpoint %s: read %zu of %zu bytes", path, got, size);
    }
    attn_status st = attn_checkpoint_parse(buf, size, path, m, opt, meta);
    free(buf);
    return st;
}

attn_status attn_checkpoint_read_meta(const char *path, attn_checkpoint_meta **meta)
{
    return attn_checkpoint_load(path, NULL, NULL, meta);
}
