/*
 * gen_corpus.c - writes the fuzzers' seed corpus: small valid inputs made
 * by the library's own writers (attn_npy_serialize, attn_checkpoint_save),
 * a few hand-written variants the writers never produce but the readers
 * accept (other format versions, key orders, old NumPy's "3L"), and a few
 * near misses.  Run by tests/fuzz/gen_corpus.sh:
 *     fuzz_gen_corpus OUTDIR      (writes OUTDIR/npy, OUTDIR/checkpoint, OUTDIR/csv)
 */
#define _XOPEN_SOURCE 700

#include "fuzz_model.h"

#include <attn_checkpoint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static const char *outdir;

static void die(const char *what)
{
    fprintf(stderr, "gen_corpus: %s: %s\n", what, attn_errmsg());
    exit(1);
}

static const char *path_of(const char *sub, const char *name)
{
    static char p[1024];
    snprintf(p, sizeof p, "%s/%s/%s", outdir, sub, name);
    return p;
}

static void put(const char *sub, const char *name, const void *b, size_t n)
{
    FILE *f = fopen(path_of(sub, name), "wb");
    if (!f || fwrite(b, 1, n, f) != n || fclose(f) != 0) {
        fprintf(stderr, "gen_corpus: cannot write %s\n", path_of(sub, name));
        exit(1);
    }
}

/* ---- .npy ---- */

static void npy_from_tensor(const char *name, attn_dtype dtype, int rank, const int64_t *shape)
{
    attn_tensor t;
    if (attn_tensor_alloc(&t, dtype, rank, shape) != ATTN_OK)
        die(name);
    int64_t n = attn_tensor_numel(&t);
    for (int64_t i = 0; i < n; i++) {
        switch (dtype) {
        case ATTN_F32: ((float *)t.data)[i] = 0.25f * (float)i - 1; break;
        case ATTN_F64: ((double *)t.data)[i] = 0.125 * (double)i - 0.5; break;
        case ATTN_F16: ((uint16_t *)t.data)[i] = (uint16_t)(0x3c00 + 0x100 * i); break;
        case ATTN_BOOL: ((unsigned char *)t.data)[i] = (unsigned char)(i % 3 == 0); break;
        default: die("a dtype .npy does not hold");
        }
    }
    void *b;
    size_t size;
    if (attn_npy_serialize(&t, &b, &size) != ATTN_OK)
        die(name);
    put("npy", name, b, size);
    attn_free(b);
    attn_tensor_free(&t);
}

/* A hand-made image: version major.0, header text as given (not padded). */
static void npy_raw(const char *name, int major, const char *header, const void *data, size_t dlen)
{
    size_t hstart = major == 1 ? 10 : 12, hl = strlen(header);
    unsigned char *b = malloc(hstart + hl + dlen + 1);
    memcpy(b, "\x93NUMPY", 6);
    b[6] = (unsigned char)major;
    b[7] = 0;
    for (size_t i = 0; i < hstart - 8; i++)
        b[8 + i] = (unsigned char)(hl >> (8 * i));
    memcpy(b + hstart, header, hl);
    if (dlen)
        memcpy(b + hstart + hl, data, dlen);
    put("npy", name, b, hstart + hl + dlen);
    free(b);
}

static void gen_npy(void)
{
    npy_from_tensor("f32_3x4.npy", ATTN_F32, 2, (const int64_t[]){3, 4});
    npy_from_tensor("f64_5.npy", ATTN_F64, 1, (const int64_t[]){5});
    npy_from_tensor("f16_2x2x2.npy", ATTN_F16, 3, (const int64_t[]){2, 2, 2});
    npy_from_tensor("bool_2x3.npy", ATTN_BOOL, 2, (const int64_t[]){2, 3});
    npy_from_tensor("f32_1x2x1x3.npy", ATTN_F32, 4, (const int64_t[]){1, 2, 1, 3});
    npy_from_tensor("f32_0x3.npy", ATTN_F32, 2, (const int64_t[]){0, 3});
    static const float two[2] = {1.5f, -2.0f};
    static const unsigned char bools[3] = {1, 0, 1};
    npy_raw("v2_f32_2.npy", 2, "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }\n", two, sizeof two);
    npy_raw("v3_order.npy", 3, "{\"shape\": (1, 2), \"fortran_order\": False, \"descr\": '<f4'}  \n", two,
            sizeof two);
    npy_raw("py2_long.npy", 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (1L, 2L), }\n", two, sizeof two);
    npy_raw("bool_3.npy", 1, "{'descr': '|b1', 'fortran_order': False, 'shape': (3,)}", bools, sizeof bools);
    npy_raw("fortran.npy", 1, "{'descr': '<f4', 'fortran_order': True, 'shape': (2,), }\n", two, sizeof two);
    npy_raw("big_endian.npy", 1, "{'descr': '>f4', 'fortran_order': False, 'shape': (2,), }\n", two, sizeof two);
    npy_raw("scalar.npy", 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (), }\n", two, 4);
    /* Refusals whose messages format long shapes (cut with "..."), and the
     * limit of 64 dimensions. */
    npy_raw("rank7_huge.npy", 1,
            "{'descr': '<f4', 'fortran_order': False, 'shape': (9223372036854775807, 9223372036854775807, "
            "9223372036854775807, 9223372036854775807, 9223372036854775807, 9223372036854775807, "
            "9223372036854775807), }\n",
            NULL, 0);
    char hdr[512];
    int k = snprintf(hdr, sizeof hdr, "{'descr': '|b1', 'fortran_order': False, 'shape': (");
    for (int d = 0; d < 65; d++)
        k += snprintf(hdr + k, sizeof hdr - (size_t)k, "1,");
    snprintf(hdr + k, sizeof hdr - (size_t)k, "), }\n");
    npy_raw("rank65.npy", 1, hdr, bools, 1);
}

/* ---- checkpoints ---- */

/* A hand-made safetensors file: the header padded with spaces to a multiple
 * of 8, then the data. */
static void put_ckpt(const char *name, const char *header, const void *data, size_t dlen)
{
    size_t hl = strlen(header), padded = (hl + 7) / 8 * 8;
    unsigned char *b = malloc(8 + padded + dlen);
    for (int i = 0; i < 8; i++)
        b[i] = (unsigned char)((uint64_t)padded >> (8 * i));
    memcpy(b + 8, header, hl);
    memset(b + 8 + hl, ' ', padded - hl);
    if (dlen)
        memcpy(b + 8 + padded, data, dlen);
    put("checkpoint", name, b, 8 + padded + dlen);
    free(b);
}

static void gen_checkpoint(void)
{
    attn_model m;
    if (fuzz_model_build(&m) != ATTN_OK)
        die("model");
    for (int64_t i = 0; i < m.count; i++) {
        m.opt_m[i] = 0.01f * (float)i;
        m.opt_v[i] = 0.001f * (float)(i * i);
    }
    m.step = 3;
    if (attn_checkpoint_save(path_of("checkpoint", "params.ckpt"), &m, NULL, NULL, 0) != ATTN_OK)
        die("params.ckpt");
    attn_optimizer opt;
    memset(&opt, 0, sizeof opt);
    opt.kind = ATTN_OPTIM_ADAMW;
    opt.lr.base_lr = 1e-3;
    opt.lr.min_lr = 1e-5;
    opt.lr.warmup_steps = 2;
    opt.lr.total_steps = 10;
    opt.lr.cosine = 1;
    opt.beta1 = 0.9;
    opt.beta2 = 0.999;
    opt.eps = 1e-8;
    opt.weight_decay = 0.01;
    opt.clip_norm = 1;
    attn_checkpoint_kv kv[2] = {{"task", "fuzz"}, {"d_model", "3"}};
    if (attn_checkpoint_save(path_of("checkpoint", "adamw_meta.ckpt"), &m, &opt, kv, 2) != ATTN_OK)
        die("adamw_meta.ckpt");
    opt.kind = ATTN_OPTIM_SGD;
    opt.momentum = 0.9;
    if (attn_checkpoint_save(path_of("checkpoint", "sgd.ckpt"), &m, &opt, NULL, 0) != ATTN_OK)
        die("sgd.ckpt");
    attn_model_free(&m);

    /* Hand-made: no tensors at all; one tensor of another model. */
    put_ckpt("empty.ckpt", "{\"__metadata__\":{}}", NULL, 0);
    static const float x[2] = {0.5f, 2.0f};
    put_ckpt("other_model.ckpt", "{\"x\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", x, sizeof x);
    /* The fuzz model's tensors and one more; a rank above 8; a shape whose
     * size overflows; a header that is JSON but not an object. */
    static float z[16];
    put_ckpt("extra_tensor.ckpt",
             "{\"enc.w\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24]},"
             "\"enc.b\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[24,36]},"
             "\"head.w\":{\"dtype\":\"F32\",\"shape\":[3,1,1,2],\"data_offsets\":[36,60]},"
             "\"enc.extra\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[60,64]}}",
             z, 64);
    put_ckpt("rank9.ckpt", "{\"x\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1,1,1,1,1],\"data_offsets\":[0,4]}}", z, 4);
    put_ckpt("shape_overflow.ckpt",
             "{\"x\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296],\"data_offsets\":[0,4]}}", z, 4);
    put_ckpt("not_object.ckpt", "[1,2]", NULL, 0);
}

/* ---- CSV ---- */

static void gen_csv(void)
{
    static const struct {
        const char *name, *text;
    } c[] = {
        {"matrix.csv", "0.1,0.2,0.3\n0.4,0.5,0.6\n0.7,0.8,0.9\n1.0,1.1,1.2\n"},
        {"comments.csv", "# q\n 1 , 2 \n\n3,4 # second row\r\n"},
        {"column.csv", "-1e-3\n+2.5E+2\n0x1p-2\n"},
        {"ragged.csv", "1,2\n3\n"},
        {"words.csv", "1,abc\n"},
        {"empty_field.csv", "1,,2\n"},
    };
    for (size_t i = 0; i < sizeof c / sizeof *c; i++)
        put("csv", c[i].name, c[i].text, strlen(c[i].text));
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s OUTDIR\n", argv[0]);
        return 2;
    }
    outdir = argv[1];
    const char *subs[] = {"npy", "checkpoint", "csv"};
    mkdir(outdir, 0777);
    for (int i = 0; i < 3; i++)
        mkdir(path_of(subs[i], ""), 0777);
    gen_npy();
    gen_checkpoint();
    gen_csv();
    return 0;
}
