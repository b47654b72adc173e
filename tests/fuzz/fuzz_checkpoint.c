/*
 * fuzz_checkpoint.c - fuzz target for the safetensors checkpoint reader
 * (attn_checkpoint_parse in ext/checkpoint/checkpoint.c, and
 * attn_checkpoint_load on the same bytes).
 *
 * Each input is read three ways: without a model (the metadata only), into
 * a small fixed model (fuzz_model.h; the seed corpus holds checkpoints
 * of it), and into that model with the optimizer state.  Properties checked
 * besides the sanitizers' (tests/fuzz/fuzz.h):
 *   - a refusal is ATTN_ERR_FORMAT (or NOMEM), names the input, sets *meta to
 *     NULL and leaves the model's four arrays, its step and *opt untouched
 *     (all or nothing);
 *   - loading into a model succeeds only if the model-free check does, and
 *     with the optimizer only if without it does;
 *   - after a success every parameter (and optimizer) tensor holds exactly
 *     the bytes its data_offsets name, found here independently from the
 *     JSON header; the step is not negative, the optimizer kind is known,
 *     and the loaded schedule and optimizer can be used (attn_lr_at at any
 *     step, attn_model_step) without undefined behaviour;
 *   - the metadata list is consistent (every key and value a string, each key
 *     found by attn_checkpoint_meta_get);
 *   - attn_checkpoint_load of the bytes as a file gives the same status.
 */
#include "fuzz.h"
#include "fuzz_model.h"

#include <attn_checkpoint.h>
#include <jansson.h>

#define NAME "fuzz.ckpt"

static attn_model model;
static float *snapshot; /* the model's four arrays before a load */

static void setup(void)
{
    static int ready;
    if (ready)
        return;
    ready = 1;
    if (fuzz_model_build(&model) != ATTN_OK) {
        fprintf(stderr, "fuzz_checkpoint: cannot build the model: %s\n", attn_errmsg());
        abort();
    }
    snapshot = malloc((size_t)model.count * 4 * sizeof(float));
    FUZZ_CHECK(snapshot != NULL, "out of memory");
}

static size_t arena_bytes(void) { return (size_t)model.count * 4 * sizeof(float); }

/* Poison the model (so that a success must write every tensor) and keep a
 * copy to compare with after a refusal. */
static void prepare_model(uint8_t fill)
{
    memset(model.params, fill, arena_bytes());
    model.step = 12345;
    memcpy(snapshot, model.params, arena_bytes());
}

static void check_refusal(attn_status st, const attn_checkpoint_meta *meta)
{
    FUZZ_CHECK(st == ATTN_ERR_FORMAT || st == ATTN_ERR_NOMEM, "status %d (%s)", (int)st, attn_errmsg());
    FUZZ_CHECK(meta == NULL, "a refusal returned metadata");
    FUZZ_CHECK(strstr(attn_errmsg(), NAME) != NULL, "the message does not name the input: %s", attn_errmsg());
}

static void check_untouched(void)
{
    FUZZ_CHECK(memcmp(snapshot, model.params, arena_bytes()) == 0, "a refused load changed the model's arrays");
    FUZZ_CHECK(model.step == 12345, "a refused load changed the step to %lld", (long long)model.step);
}

static void check_meta(const attn_checkpoint_meta *meta)
{
    int64_t n = attn_checkpoint_meta_count(meta);
    FUZZ_CHECK(n >= 0, "metadata count %lld", (long long)n);
    for (int64_t i = 0; i < n; i++) {
        const char *k = attn_checkpoint_meta_key(meta, i), *v = attn_checkpoint_meta_value(meta, i);
        FUZZ_CHECK(k && v, "metadata pair %lld has a NULL string", (long long)i);
        FUZZ_CHECK(attn_checkpoint_meta_get(meta, k) != NULL, "metadata key '%s' is not found by its name", k);
    }
    FUZZ_CHECK(attn_checkpoint_meta_key(meta, n) == NULL, "metadata pair %lld past the end", (long long)n);
}

/* The bytes tensor prefix+p->name occupies in the file, from the header. */
static const uint8_t *file_tensor(json_t *root, const uint8_t *databuf, const char *prefix, const attn_param_info *p)
{
    char full[128];
    snprintf(full, sizeof full, "%s%s", prefix, p->name);
    json_t *off = json_object_get(json_object_get(root, full), "data_offsets");
    FUZZ_CHECK(json_is_integer(json_array_get(off, 0)) && json_is_integer(json_array_get(off, 1)),
               "loaded, but tensor '%s' has no data_offsets", full);
    json_int_t b = json_integer_value(json_array_get(off, 0)), e = json_integer_value(json_array_get(off, 1));
    FUZZ_CHECK(b >= 0 && e - b == p->numel * (json_int_t)sizeof(float), "loaded, but '%s' has offsets [%lld, %lld]",
               full, (long long)b, (long long)e);
    return databuf + b;
}

/* After a successful load: every tensor holds the file's bytes. */
static void check_loaded(const uint8_t *data, size_t size, int with_opt)
{
    uint64_t hlen = 0;
    for (int i = 0; i < 8; i++)
        hlen |= (uint64_t)data[i] << (8 * i);
    FUZZ_CHECK(size >= 8 && hlen <= size - 8, "loaded from a file whose header length %llu is impossible",
               (unsigned long long)hlen);
    json_t *root = json_loadb((const char *)data + 8, (size_t)hlen, 0, NULL);
    FUZZ_CHECK(json_is_object(root), "loaded, but the header is not a JSON object");
    const uint8_t *databuf = data + 8 + hlen;
    for (int64_t t = 0; t < model.n_tensors; t++) {
        const attn_param_info *p = &model.table[t];
        size_t nb = (size_t)p->numel * sizeof(float);
        FUZZ_CHECK(memcmp(model.params + p->offset, file_tensor(root, databuf, "", p), nb) == 0,
                   "tensor '%s' does not hold the file's bytes", p->name);
        if (with_opt) {
            FUZZ_CHECK(memcmp(model.opt_m + p->offset, file_tensor(root, databuf, "optim.m.", p), nb) == 0,
                       "optim.m.%s does not hold the file's bytes", p->name);
            FUZZ_CHECK(memcmp(model.opt_v + p->offset, file_tensor(root, databuf, "optim.v.", p), nb) == 0,
                       "optim.v.%s does not hold the file's bytes", p->name);
        }
    }
    json_decref(root);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    setup();

    /* 1. Without a model: check the file, read the metadata. */
    attn_checkpoint_meta *meta = (attn_checkpoint_meta *)&meta; /* must be overwritten */
    attn_status st0 = attn_checkpoint_parse(data, size, NAME, NULL, NULL, &meta);
    if (st0 == ATTN_OK) {
        FUZZ_CHECK(meta != NULL, "accepted without metadata");
        check_meta(meta);
        attn_checkpoint_meta_free(meta);
    } else {
        check_refusal(st0, meta);
    }

    /* 2. Into the model, parameters only: grads, opt_m and opt_v untouched. */
    prepare_model(0xA5);
    attn_status st1 = attn_checkpoint_parse(data, size, NAME, &model, NULL, NULL);
    if (st1 == ATTN_OK) {
        FUZZ_CHECK(st0 == ATTN_OK, "loaded into a model a file the model-free check refuses");
        check_loaded(data, size, 0);
        size_t block = (size_t)model.count * sizeof(float);
        FUZZ_CHECK(memcmp((char *)snapshot + block, model.grads, 3 * block) == 0 && model.step == 12345,
                   "a load without the optimizer changed grads, the optimizer state or the step");
    } else {
        check_refusal(st1, NULL);
        check_untouched();
    }

    /* 3. Into the model with the optimizer state. */
    prepare_model(0x5A);
    attn_optimizer opt, opt_before;
    memset(&opt, 0x3C, sizeof opt);
    opt_before = opt;
    meta = (attn_checkpoint_meta *)&meta;
    attn_status st2 = attn_checkpoint_parse(data, size, NAME, &model, &opt, &meta);
    if (st2 == ATTN_OK) {
        FUZZ_CHECK(st1 == ATTN_OK, "loaded with the optimizer a file refused without it");
        check_loaded(data, size, 1);
        FUZZ_CHECK(model.step >= 0, "step %lld", (long long)model.step);
        FUZZ_CHECK(opt.kind == ATTN_OPTIM_SGD || opt.kind == ATTN_OPTIM_ADAM || opt.kind == ATTN_OPTIM_ADAMW,
                   "optimizer kind %d", (int)opt.kind);
        check_meta(meta);
        attn_checkpoint_meta_free(meta);
        /* What was loaded must be usable: the schedule at any step, and a
         * step on zero gradients runs or is refused with a status. */
        const int64_t at[] = {model.step, 0, opt.lr.warmup_steps, opt.lr.total_steps, INT64_MAX, INT64_MIN};
        for (size_t i = 0; i < sizeof at / sizeof *at; i++)
            (void)attn_lr_at(&opt.lr, at[i]);
        attn_model_zero_grad(&model);
        attn_status ss = attn_model_step(&model, &opt, NULL, NULL);
        FUZZ_CHECK(ss == ATTN_OK || ss == ATTN_ERR_INVALID || ss == ATTN_ERR_OVERFLOW, "a step after the load: %d (%s)",
                   (int)ss, attn_errmsg());
    } else {
        check_refusal(st2, meta);
        check_untouched();
        FUZZ_CHECK(memcmp(&opt, &opt_before, sizeof opt) == 0, "a refused load changed *opt");
    }

    /* A reproducer's expectation (tests/fuzz/fuzz.h) is about the full load. */
    char why[512];
    snprintf(why, sizeof why, "%s", st2 == ATTN_OK ? "" : attn_errmsg());

    /* 4. The same bytes as a file. */
    const char *path = fuzz_as_file(data, size);
    if (path) {
        attn_status sl = attn_checkpoint_load(path, NULL, NULL, NULL);
        FUZZ_CHECK(sl == st0, "attn_checkpoint_parse gives %d, attn_checkpoint_load %d (%s)", (int)st0, (int)sl,
                   sl != ATTN_OK ? attn_errmsg() : "loaded");
    }
    fuzz_expect_status(st2 == ATTN_OK, why);
    return 0;
}
