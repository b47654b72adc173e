/*
 * test_checkpoint.c - libattn_checkpoint: round trips bit-exact (parameters,
 * optimizer state, hyper-parameters, metadata), resuming gives bitwise the
 * trajectory of an uninterrupted run, every kind of corrupt, truncated or
 * mismatched file is refused with its status and message (and the model left
 * untouched), and a failed save leaves neither the file nor a temporary.
 */
#define _XOPEN_SOURCE 700 /* mkdtemp, opendir, setrlimit under -std=c11 */

#include "attn_checkpoint.h"
#include "testutil.h"

#include <dirent.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

static char dir[64];

static const char *path_in(const char *name)
{
    static char p[4][256];
    static int k;
    k = (k + 1) % 4;
    snprintf(p[k], sizeof p[k], "%s/%s", dir, name);
    return p[k];
}

/* Entries of the scratch directory whose name contains `needle`. */
static int count_files(const char *needle)
{
    DIR *d = opendir(dir);
    int n = 0;
    struct dirent *e;
    while (d && (e = readdir(d)))
        n += strstr(e->d_name, needle) != NULL;
    if (d)
        closedir(d);
    return n;
}

static unsigned char *read_file(const char *path, size_t *size)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *b = malloc(n > 0 ? (size_t)n : 1);
    *size = fread(b, 1, (size_t)n, f);
    fclose(f);
    return b;
}

static void write_file(const char *path, const void *b, size_t n)
{
    FILE *f = fopen(path, "wb");
    fwrite(b, 1, n, f);
    fclose(f);
}

/* ---- a small trainable model: one Transformer layer and a linear head ---- */
enum { B = 2, T = 3, C = 8, O = 4 };
typedef struct net {
    attn_model m;
    attn_transformer_layer layer;
    int64_t hw, hb;
} net;

/* head_out: the head's output width (to make a model of another shape);
 * extra: declare one more tensor; no_bias: leave out head.b. */
static void net_init(net *n, uint64_t seed, int64_t head_out, int extra, int no_bias)
{
    attn_transformer_config cfg = {0};
    cfg.d_model = C, cfg.n_heads = 2, cfg.d_ff = 12, cfg.act = ATTN_ACT_GELU, cfg.pre_ln = 1, cfg.bias = 1;
    cfg.dropout_p = 0.1;
    int64_t sh[2] = {head_out, C}, off;
    attn_model_init(&n->m);
    CHECK_OK(attn_transformer_declare(&n->m, &n->layer, "layer", &cfg));
    CHECK_OK(attn_model_add(&n->m, "head.w", 2, sh, ATTN_INIT_UNIFORM, 0.3, &n->hw));
    n->hb = -1;
    if (!no_bias)
        CHECK_OK(attn_model_add(&n->m, "head.b", 1, sh, ATTN_INIT_ZEROS, 0, &n->hb));
    if (extra)
        CHECK_OK(attn_model_add(&n->m, "extra", 1, sh, ATTN_INIT_ZEROS, 0, &off));
    CHECK_OK(attn_model_alloc(&n->m, seed));
}

static attn_optimizer make_opt(void)
{
    attn_optimizer o = attn_optimizer_default(ATTN_OPTIM_ADAMW, 3e-3);
    o.lr.min_lr = 1e-4, o.lr.warmup_steps = 3, o.lr.total_steps = 20, o.lr.cosine = 1;
    o.clip_norm = 0.5, o.weight_decay = 0.05;
    return o;
}

/* `steps` steps of regression on a fixed batch, dropout seeded by the step:
 * everything a step depends on is in the model (params, state, step). */
static void train(net *n, const attn_optimizer *opt, int steps)
{
    static float x[B * T * C], y[B * T * C], cache_buf[4096], out[B * T * O], target[B * T * O];
    static float dout[B * T * O], dy[B * T * C];
    test_rng data = {777};
    for (int i = 0; i < B * T * C; i++)
        x[i] = (float)test_normal(&data);
    for (int i = 0; i < B * T * O; i++)
        target[i] = (float)test_normal(&data);
    float *cache = attn_transformer_cache_floats(&n->layer, B, T, 0) <= 4096 ? cache_buf : NULL;
    if (!CHECK(cache != NULL, "the test's cache is large enough"))
        return;
    for (int s = 0; s < steps; s++) {
        uint64_t seed = 1000 + (uint64_t)n->m.step;
        double loss;
        attn_transformer_forward(&n->m, &n->layer, y, cache, x, NULL, NULL, NULL, B, T, 0, seed);
        attn_linear_forward(out, y, n->m.params + n->hw, n->m.params + n->hb, B * T, C, O);
        attn_mse_forward(&loss, out, target, B * T * O);
        attn_model_zero_grad(&n->m);
        memset(dout, 0, sizeof dout), memset(dy, 0, sizeof dy);
        attn_mse_backward(dout, out, target, B * T * O, 1.0);
        attn_linear_backward(dy, n->m.grads + n->hw, n->m.grads + n->hb, dout, y, n->m.params + n->hw, B * T, C, O);
        attn_transformer_backward(&n->m, &n->layer, NULL, NULL, dy, cache, x, NULL, NULL, NULL, B, T, 0, seed);
        CHECK_OK(attn_model_step(&n->m, opt, NULL, NULL));
    }
}

static int same_arrays(const attn_model *a, const attn_model *b, int with_opt)
{
    size_t nb = (size_t)a->count * sizeof(float);
    return a->count == b->count && memcmp(a->params, b->params, nb) == 0 &&
           (!with_opt || (memcmp(a->opt_m, b->opt_m, nb) == 0 && memcmp(a->opt_v, b->opt_v, nb) == 0));
}

static int same_opt(const attn_optimizer *a, const attn_optimizer *b)
{
    return a->kind == b->kind && a->lr.base_lr == b->lr.base_lr && a->lr.min_lr == b->lr.min_lr &&
           a->lr.warmup_steps == b->lr.warmup_steps && a->lr.total_steps == b->lr.total_steps &&
           a->lr.cosine == b->lr.cosine && a->momentum == b->momentum && a->beta1 == b->beta1 &&
           a->beta2 == b->beta2 && a->eps == b->eps && a->weight_decay == b->weight_decay &&
           a->clip_norm == b->clip_norm;
}

/* ---- round trips ---- */
static void test_round_trip(void)
{
    net a, b;
    attn_optimizer opt = make_opt(), got;
    memset(&got, 0, sizeof got);
    net_init(&a, 1, O, 0, 0);
    train(&a, &opt, 5);
    attn_checkpoint_kv kv[2] = {{"task", "regression"}, {"config", "{\"d_model\": 8, \"name\": \"caf\xc3\xa9\"}"}};
    const char *p = path_in("rt.safetensors");
    CHECK_OK(attn_checkpoint_save(p, &a.m, &opt, kv, 2));
    CHECK(count_files(".tmp.") == 0, "no temporary file after a successful save");
    net_init(&b, 2, O, 0, 0);
    attn_checkpoint_meta *md = NULL;
    if (CHECK_OK(attn_checkpoint_load(p, &b.m, &got, &md))) {
        CHECK(same_arrays(&a.m, &b.m, 1), "params, opt_m and opt_v round-trip bit-exact");
        CHECK(b.m.step == a.m.step && b.m.step == 5, "the step count round-trips (%lld)", (long long)b.m.step);
        CHECK(same_opt(&opt, &got), "the optimizer's hyper-parameters round-trip bit-exact");
        CHECK(md && attn_checkpoint_meta_get(md, "task") && strcmp(attn_checkpoint_meta_get(md, "task"), "regression") == 0 &&
                  strcmp(attn_checkpoint_meta_get(md, "config"), kv[1].value) == 0,
              "the caller's metadata round-trips (UTF-8 and JSON inside a value included)");
        CHECK(attn_checkpoint_meta_get(md, "attn.version") &&
                  strcmp(attn_checkpoint_meta_get(md, "attn.version"), attn_version()) == 0 &&
                  strcmp(attn_checkpoint_meta_get(md, "attn.optim.kind"), "adamw") == 0,
              "attn.version and attn.optim.kind are in the metadata");
        CHECK(!attn_checkpoint_meta_get(md, "nope") && attn_checkpoint_meta_count(md) >= 3 &&
                  attn_checkpoint_meta_key(md, attn_checkpoint_meta_count(md)) == NULL,
              "metadata look-ups");
    }
    attn_checkpoint_meta_free(md);
    /* metadata without a model */
    md = NULL;
    if (CHECK_OK(attn_checkpoint_read_meta(p, &md)))
        CHECK(strcmp(attn_checkpoint_meta_get(md, "attn.optim.step"), "5") == 0, "read_meta: attn.optim.step = 5");
    attn_checkpoint_meta_free(md);
    attn_checkpoint_meta_free(NULL);
    /* parameters only: the optimizer state of the loading model stays */
    const char *q = path_in("params.safetensors");
    CHECK_OK(attn_checkpoint_save(q, &a.m, NULL, NULL, 0));
    net c;
    net_init(&c, 3, O, 0, 0);
    c.m.opt_m[0] = 42.0f, c.m.step = 9;
    CHECK_OK(attn_checkpoint_load(q, &c.m, NULL, NULL));
    CHECK(same_arrays(&a.m, &c.m, 0) && c.m.opt_m[0] == 42.0f && c.m.step == 9,
          "a parameters-only load leaves the optimizer state alone");
    CHECK_FAILS(attn_checkpoint_load(q, &c.m, &got, NULL), ATTN_ERR_FORMAT, "holds no optimizer state");
    /* a checkpoint with optimizer state loads as parameters only too */
    CHECK_OK(attn_checkpoint_load(p, &c.m, NULL, NULL));
    /* sizes: header + 3 x params with the state, + 1 x without */
    size_t s1, s2;
    unsigned char *f1 = read_file(p, &s1), *f2 = read_file(q, &s2);
    CHECK(f1 && f2 && s1 - s2 > 2 * (size_t)a.m.count * 4 - 4096 && (s2 - 8 - (size_t)a.m.count * 4) % 8 == 0,
          "file sizes: %zu with the optimizer, %zu without, header padded to 8", s1, s2);
    free(f1), free(f2);
    /* argument errors */
    attn_checkpoint_kv bad[2] = {{"attn.x", "1"}, {"k", NULL}};
    attn_checkpoint_kv dup[2] = {{"k", "1"}, {"k", "2"}};
    CHECK_FAILS(attn_checkpoint_save(p, &a.m, NULL, bad, 1), ATTN_ERR_INVALID, "reserved");
    CHECK_FAILS(attn_checkpoint_save(p, &a.m, NULL, bad + 1, 1), ATTN_ERR_MISUSE, "NULL value");
    CHECK_FAILS(attn_checkpoint_save(p, &a.m, NULL, dup, 2), ATTN_ERR_INVALID, "appears twice");
    CHECK_FAILS(attn_checkpoint_save(NULL, &a.m, NULL, NULL, 0), ATTN_ERR_MISUSE, "path is NULL");
    attn_optimizer inf = opt;
    inf.lr.base_lr = INFINITY;
    CHECK_FAILS(attn_checkpoint_save(p, &a.m, &inf, NULL, 0), ATTN_ERR_INVALID, "not finite");
    attn_model empty;
    attn_model_init(&empty);
    CHECK_FAILS(attn_checkpoint_save(p, &empty, NULL, NULL, 0), ATTN_ERR_MISUSE, "not allocated");
    CHECK_FAILS(attn_checkpoint_load(p, &empty, NULL, NULL), ATTN_ERR_MISUSE, "not allocated");
    CHECK_FAILS(attn_checkpoint_load(path_in("none.safetensors"), &a.m, NULL, NULL), ATTN_ERR_IO, "cannot open");
    attn_model_free(&a.m), attn_model_free(&b.m), attn_model_free(&c.m);
}

/* ---- resuming: bitwise the uninterrupted trajectory ---- */
static void test_resume(void)
{
    attn_optimizer opt = make_opt(), got;
    net full, first, second;
    net_init(&full, 11, O, 0, 0);
    train(&full, &opt, 12);
    net_init(&first, 11, O, 0, 0);
    train(&first, &opt, 5);
    const char *p = path_in("resume.safetensors");
    CHECK_OK(attn_checkpoint_save(p, &first.m, &opt, NULL, 0));
    net_init(&second, 99, O, 0, 0); /* another init: everything must come from the file */
    if (CHECK_OK(attn_checkpoint_load(p, &second.m, &got, NULL))) {
        train(&second, &got, 7);
        CHECK(second.m.step == 12 && same_arrays(&full.m, &second.m, 1),
              "12 steps uninterrupted == 5 steps, save, load into a fresh model, 7 steps (bitwise, params and state)");
    }
    train(&first, &opt, 7);
    CHECK(same_arrays(&full.m, &first.m, 1), "saving does not disturb the run");
    attn_model_free(&full.m), attn_model_free(&first.m), attn_model_free(&second.m);
}

/* ---- corrupt, truncated and mismatched files ---- */

/* Load `bytes` written to a file into n; must fail with `st` and `needle`,
 * leaving n untouched. */
static void refuse(net *n, const void *bytes, size_t size, int with_opt, attn_status st, const char *needle,
                   const char *what)
{
    const char *p = path_in("bad.safetensors");
    write_file(p, bytes, size);
    size_t nb = (size_t)n->m.count * sizeof(float);
    float *before = malloc(3 * nb);
    memcpy(before, n->m.params, 3 * nb); /* params, grads, opt_m: contiguous */
    int64_t step = n->m.step;
    attn_optimizer o;
    memset(&o, 0x5a, sizeof o);
    attn_checkpoint_meta *md = (attn_checkpoint_meta *)1;
    attn_status got = attn_checkpoint_load(p, &n->m, with_opt ? &o : NULL, &md);
    const char *msg = attn_errmsg();
    CHECK(got == st && strstr(msg, needle) != NULL, "%s: status %d (want %d), message \"%s\" (want \"%s\")", what,
          (int)got, (int)st, msg, needle);
    CHECK(md == NULL && memcmp(before, n->m.params, 3 * nb) == 0 && n->m.step == step,
          "%s: the model is untouched and *meta is NULL", what);
    free(before);
}

/* A file image from a header text and `data_size` bytes of data. */
static unsigned char *craft(const char *header, size_t data_size, size_t *size)
{
    size_t h = strlen(header);
    unsigned char *b = calloc(8 + h + data_size + 1, 1);
    for (int i = 0; i < 8; i++)
        b[i] = (unsigned char)((uint64_t)h >> (8 * i));
    memcpy(b + 8, header, h);
    *size = 8 + h + data_size;
    return b;
}

static void test_corrupt(void)
{
    net a;
    attn_optimizer opt = make_opt();
    net_init(&a, 5, O, 0, 0);
    train(&a, &opt, 2);
    const char *p = path_in("good.safetensors");
    CHECK_OK(attn_checkpoint_save(p, &a.m, &opt, NULL, 0));
    size_t size;
    unsigned char *good = read_file(p, &size), *b = malloc(size);
    uint64_t hlen = 0;
    for (int i = 0; i < 8; i++)
        hlen |= (uint64_t)good[i] << (8 * i);
    char what[128];

    /* truncated at several points */
    size_t cuts[] = {0, 5, 8, 8 + (size_t)hlen / 2, 8 + (size_t)hlen, 8 + (size_t)hlen + 100, size - 1};
    const char *why[] = {"truncated", "truncated", "header length", "header length", "out of the data buffer",
                         "out of the data buffer", "out of the data buffer"};
    for (size_t i = 0; i < sizeof cuts / sizeof *cuts; i++) {
        snprintf(what, sizeof what, "truncated to %zu of %zu bytes", cuts[i], size);
        refuse(&a, good, cuts[i], 1, ATTN_ERR_FORMAT, why[i], what);
    }
    /* header length */
    memcpy(b, good, size);
    b[7] = 0x80;
    refuse(&a, b, size, 0, ATTN_ERR_FORMAT, "header length", "header length 2^63");
    memcpy(b, good, size);
    b[0] = (unsigned char)(b[0] - 8); /* shorter: the JSON is cut */
    if (hlen % 256 < 8)
        b[1] = (unsigned char)(b[1] - 1);
    refuse(&a, b, size, 0, ATTN_ERR_FORMAT, "not valid JSON", "header length 8 too short");
    /* invalid JSON */
    memcpy(b, good, size);
    b[8] = '[';
    refuse(&a, b, size, 0, ATTN_ERR_FORMAT, "not valid JSON", "invalid JSON");
    /* wrong dtype */
    memcpy(b, good, size);
    char *f32 = strstr((char *)b + 8, "\"F32\"");
    f32[2] = '1', f32[3] = '6';
    refuse(&a, b, size, 0, ATTN_ERR_FORMAT, "dtype F16; attn reads F32 only", "dtype F16");
    /* trailing bytes after the data */
    unsigned char *longer = calloc(size + 4, 1);
    memcpy(longer, good, size);
    refuse(&a, longer, size + 4, 0, ATTN_ERR_FORMAT, "trailing bytes", "4 bytes appended");
    free(longer);

    /* against the model: shape, missing, extra */
    net wide, more, fewer;
    net_init(&wide, 5, O + 1, 0, 0);
    refuse(&wide, good, size, 0, ATTN_ERR_FORMAT,
           "bad.safetensors: tensor 'head.w' has shape (4, 8) but the model expects (5, 8)", "wrong shape");
    net_init(&more, 5, O, 1, 0);
    refuse(&more, good, size, 0, ATTN_ERR_FORMAT, "tensor 'extra' of the model is missing", "missing tensor");
    net_init(&fewer, 5, O, 0, 1);
    refuse(&fewer, good, size, 0, ATTN_ERR_FORMAT, "tensor 'head.b' is not in the model", "extra tensor");
    refuse(&fewer, good, size, 1, ATTN_ERR_FORMAT, "is not in the model", "extra tensor, with the optimizer");

    /* crafted headers on a model of one tensor w (2, 3) (24 bytes) */
    attn_model m1;
    int64_t sh[2] = {2, 3}, off;
    attn_model_init(&m1);
    attn_model_add(&m1, "w", 2, sh, ATTN_INIT_ONES, 0, &off);
    attn_model_alloc(&m1, 1);
    net one;
    memset(&one, 0, sizeof one);
    one.m = m1;
    struct {
        const char *header;
        size_t data;
        const char *needle, *what;
    } cases[] = {
        {"{\"w\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24]}}", 24, NULL, "valid"},
        {"{\"w\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24]}}", 20, "out of the data buffer's range",
         "offsets past the end"},
        {"{\"w\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[-4,20]}}", 24, "out of the data buffer's range",
         "negative offset"},
        {"{\"w\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[24,0]}}", 24, "out of the data buffer's range",
         "end before begin"},
        {"{\"w\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,20]}}", 24, "needs 24", "size != shape * 4"},
        {"{\"w\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[4,28]}}", 28, "hole", "a hole"},
        {"{\"w\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24]},"
         "\"v\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[20,24]}}", 24, "overlap", "overlapping tensors"},
        {"{\"w\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24]},"
         "\"w\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24]}}", 24, "not valid JSON", "duplicate key"},
        {"{\"w\":{\"dtype\":\"F32\",\"shape\":[2,-3],\"data_offsets\":[0,24]}}", 24, "non-negative integer",
         "negative size"},
        {"{\"w\":{\"dtype\":\"F32\",\"shape\":[4611686018427387904,4],\"data_offsets\":[0,24]}}", 24, "overflows",
         "shape overflows"},
        {"{\"w\":{\"dtype\":\"F32\",\"shape\":[2,3]}}", 24, "lacks", "no data_offsets"},
        {"{\"w\":[1,2]}", 24, "not a JSON object", "entry not an object"},
        {"[1,2]", 0, "not a JSON object", "header an array"},
        {"{\"__metadata__\":{\"k\":1},\"w\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24]}}", 24,
         "is not a string", "metadata value not a string"},
        {"{\"w\":{\"dtype\":\"F64\",\"shape\":[3],\"data_offsets\":[0,24]}}", 24, "dtype F64", "F64"},
        {"{\"w\":{\"dtype\":\"F32\",\"shape\":[3,2],\"data_offsets\":[0,24]}}", 24, "has shape (3, 2) but the model "
         "expects (2, 3)", "transposed shape"},
        {"{}", 0, "tensor 'w' of the model is missing", "empty header"},
        {"{\"w\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24],\"x\":0}}", 24, "fields other than",
         "unknown field"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        size_t n;
        unsigned char *img = craft(cases[i].header, cases[i].data, &n);
        if (!cases[i].needle)
            CHECK_OK(attn_checkpoint_parse(img, n, "crafted", &one.m, NULL, NULL));
        else
            refuse(&one, img, n, 0, ATTN_ERR_FORMAT, cases[i].needle, cases[i].what);
        free(img);
    }
    /* optimizer metadata that does not parse */
    {
        const char *h = "{\"__metadata__\":{\"attn.optim.kind\":\"adamw\",\"attn.optim.step\":\"x\"},"
                        "\"w\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24]},"
                        "\"optim.m.w\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[24,48]},"
                        "\"optim.v.w\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[48,72]}}";
        size_t n;
        unsigned char *img = craft(h, 72, &n);
        refuse(&one, img, n, 1, ATTN_ERR_FORMAT, "'attn.optim.step' = 'x' is not an integer", "bad step");
        CHECK_OK(attn_checkpoint_parse(img, n, "crafted", &one.m, NULL, NULL)); /* fine without the optimizer */
        free(img);
    }
    /* optimizer settings that parse but that attn_model_step would refuse (beta1 = 5): refused at load,
     * naming the file and the setting */
    {
        const char *h = "{\"__metadata__\":{\"attn.optim.kind\":\"adamw\",\"attn.optim.step\":\"3\","
                        "\"attn.optim.lr.base_lr\":\"0.001\",\"attn.optim.lr.min_lr\":\"0\","
                        "\"attn.optim.lr.warmup_steps\":\"0\",\"attn.optim.lr.total_steps\":\"0\","
                        "\"attn.optim.lr.cosine\":\"0\",\"attn.optim.momentum\":\"0\",\"attn.optim.beta1\":\"5\","
                        "\"attn.optim.beta2\":\"0.999\",\"attn.optim.eps\":\"1e-08\","
                        "\"attn.optim.weight_decay\":\"0.01\",\"attn.optim.clip_norm\":\"0\"},"
                        "\"w\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24]},"
                        "\"optim.m.w\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[24,48]},"
                        "\"optim.v.w\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[48,72]}}";
        size_t n;
        unsigned char *img = craft(h, 72, &n);
        refuse(&one, img, n, 1, ATTN_ERR_FORMAT,
               "the optimizer settings are unusable (attn_optimizer_check: betas (5, 0.999)", "beta1 = 5");
        free(img);
        attn_optimizer usable = attn_optimizer_default(ATTN_OPTIM_ADAMW, 1e-3), bad = usable;
        CHECK_OK(attn_optimizer_check(&usable));
        bad.eps = 0;
        CHECK_FAILS(attn_optimizer_check(&bad), ATTN_ERR_INVALID, "eps = 0 must be finite and > 0");
        CHECK_FAILS(attn_optimizer_check(NULL), ATTN_ERR_MISUSE, "attn_optimizer_check");
    }
    /* every byte of the header flipped in turn: never a crash, never half-loaded */
    int crashes_none = 1;
    for (uint64_t i = 8; i < 8 + hlen; i += 7) {
        memcpy(b, good, size);
        b[i] ^= 0x55;
        attn_status st = attn_checkpoint_parse(b, size, "flip", &a.m, NULL, NULL);
        crashes_none &= st == ATTN_OK || st == ATTN_ERR_FORMAT;
    }
    CHECK(crashes_none, "single-byte corruptions of the header: each loads or is refused with ATTN_ERR_FORMAT");
    free(good), free(b);
    attn_model_free(&a.m), attn_model_free(&wide.m), attn_model_free(&more.m), attn_model_free(&fewer.m);
    attn_model_free(&one.m);
}

/* ---- failed saves leave nothing ---- */
static void test_failed_save(void)
{
    net a;
    net_init(&a, 3, O, 0, 0);
    CHECK_FAILS(attn_checkpoint_save(path_in("no/such/dir/x.safetensors"), &a.m, NULL, NULL, 0), ATTN_ERR_IO,
                "cannot create the temporary file");
    /* the target is a directory: everything is written, the rename fails */
    const char *d = path_in("isdir.safetensors");
    mkdir(d, 0700);
    CHECK_FAILS(attn_checkpoint_save(d, &a.m, NULL, NULL, 0), ATTN_ERR_IO, "rename");
    CHECK(count_files(".tmp.") == 0, "a failed rename leaves no temporary file");
    rmdir(d);
    /* the disk fills up half-way (a file size limit): nothing remains */
    struct rlimit old, lim;
    getrlimit(RLIMIT_FSIZE, &old);
    lim = old;
    lim.rlim_cur = 1000;
    signal(SIGXFSZ, SIG_IGN);
    if (setrlimit(RLIMIT_FSIZE, &lim) == 0) {
        attn_status st = attn_checkpoint_save(path_in("full.safetensors"), &a.m, NULL, NULL, 0);
        setrlimit(RLIMIT_FSIZE, &old);
        CHECK(st == ATTN_ERR_IO && strstr(attn_errmsg(), "cannot write"), "a write that fails: %d %s", (int)st,
              attn_errmsg());
        CHECK(count_files("full.safetensors") == 0, "a failed write leaves neither the file nor a temporary");
    }
    /* and an existing file is left as it was */
    const char *keep = path_in("keep.safetensors");
    write_file(keep, "old", 3);
    lim.rlim_cur = 1000;
    if (setrlimit(RLIMIT_FSIZE, &lim) == 0) {
        attn_status st = attn_checkpoint_save(keep, &a.m, NULL, NULL, 0);
        setrlimit(RLIMIT_FSIZE, &old);
        size_t n;
        unsigned char *k = read_file(keep, &n);
        CHECK(st == ATTN_ERR_IO && k && n == 3 && memcmp(k, "old", 3) == 0, "a failed save keeps the old file");
        free(k);
    }
    remove(keep);
    attn_model_free(&a.m);
}

static void cleanup(void)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    char p[512];
    while (d && (e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
            snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
            remove(p);
        }
    if (d)
        closedir(d);
    rmdir(dir);
}

int main(void)
{
    uint64_t seed = test_seed();
    printf("test_checkpoint: seed %llu (ATTN_TEST_SEED to replay)\n", (unsigned long long)seed);
    snprintf(dir, sizeof dir, "/tmp/attn_ckpt_XXXXXX");
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    test_round_trip();
    test_resume();
    test_corrupt();
    test_failed_save();
    cleanup();
    return test_summary("test_checkpoint");
}
