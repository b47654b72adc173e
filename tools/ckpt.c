/*
 * ckpt.c - checkpoints of the `attn train` demos (see ckpt.h).
 */
#include "ckpt.h"
#include "args.h"

#include "attn_checkpoint.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int ckpt_save(const char *path, const attn_model *m, const attn_optimizer *opt, const char *config, uint64_t seed,
              int64_t steps, double seconds)
{
    char s_seed[32], s_steps[32], s_sec[40];
    snprintf(s_seed, sizeof s_seed, "%" PRIu64, seed);
    snprintf(s_steps, sizeof s_steps, "%" PRId64, steps);
    snprintf(s_sec, sizeof s_sec, "%.17g", seconds);
    attn_checkpoint_kv kv[4] = {
        {"demo.config", config}, {"demo.seed", s_seed}, {"demo.steps", s_steps}, {"demo.seconds", s_sec}};
    if (attn_checkpoint_save(path, m, opt, kv, 4) != ATTN_OK)
        return cli_error("%s", attn_errmsg());
    return CLI_OK;
}

static int get_u64(const attn_checkpoint_meta *meta, const char *path, const char *key, uint64_t *out)
{
    const char *v = attn_checkpoint_meta_get(meta, key);
    char *end;
    errno = 0;
    unsigned long long x = v ? strtoull(v, &end, 10) : 0;
    if (!v || *v == 0 || *end != 0 || errno)
        return cli_error("%s: not a checkpoint of an 'attn train' demo (metadata %s missing or bad)", path, key);
    *out = x;
    return CLI_OK;
}

int ckpt_read_config(const char *path, char *buf, size_t size)
{
    attn_checkpoint_meta *meta = NULL;
    if (attn_checkpoint_read_meta(path, &meta) != ATTN_OK)
        return cli_error("%s", attn_errmsg());
    const char *c = attn_checkpoint_meta_get(meta, "demo.config");
    int rc = CLI_OK;
    if (!c)
        rc = cli_error("%s: not a checkpoint of an 'attn train' demo (no demo.config in its metadata)", path);
    else if (strlen(c) >= size)
        rc = cli_error("%s: demo.config is too long", path);
    else
        strcpy(buf, c);
    attn_checkpoint_meta_free(meta);
    return rc;
}

int ckpt_load(const char *path, attn_model *m, attn_optimizer *opt, const char *config, const uint64_t *seed,
              int64_t *steps, double *seconds)
{
    /* Check the metadata before touching the model (the library's load is
     * all-or-nothing too, but a config mismatch deserves its own message). */
    attn_checkpoint_meta *meta = NULL;
    if (attn_checkpoint_read_meta(path, &meta) != ATTN_OK)
        return cli_error("%s", attn_errmsg());
    int rc = CLI_OK;
    const char *c = attn_checkpoint_meta_get(meta, "demo.config");
    uint64_t fseed = 0, fsteps = 0;
    if (!c)
        rc = cli_error("%s: not a checkpoint of an 'attn train' demo (no demo.config in its metadata)", path);
    else if (strcmp(c, config) != 0)
        rc = cli_error("%s was trained as '%s', not '%s'", path, c, config);
    else if ((rc = get_u64(meta, path, "demo.seed", &fseed)) == CLI_OK &&
             (rc = get_u64(meta, path, "demo.steps", &fsteps)) == CLI_OK && seed && fseed != *seed)
        rc = cli_error("%s was trained with --seed %" PRIu64 ", not %" PRIu64 " (resume with the same seed)", path,
                       fseed, *seed);
    const char *sec = attn_checkpoint_meta_get(meta, "demo.seconds");
    double fsec = sec ? strtod(sec, NULL) : 0;
    attn_checkpoint_meta_free(meta);
    if (rc != CLI_OK)
        return rc;
    if (attn_checkpoint_load(path, m, opt, NULL) != ATTN_OK)
        return cli_error("%s", attn_errmsg());
    if (steps)
        *steps = (int64_t)fsteps;
    if (seconds)
        *seconds = fsec;
    return CLI_OK;
}
