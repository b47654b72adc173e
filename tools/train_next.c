/*
 * train_next.c - `attn train next-vector`: seed 004's task (predict the n-th
 * vector of a sequence from the n-1 before it) on generated data where the
 * answer can only be found by looking it up by content.
 *
 * The generator (also in --help).  Each of the L = n-1 input vectors is
 * [key (K) | value (V) | flag (1)], D = K + V + 1 numbers:
 *   - the first L-1 are "memory" vectors: key = 2 x one-hot of a symbol, the L-1
 *     symbols distinct and drawn at random from K; value ~ N(0, 1)^V; flag 0;
 *   - the last is the "query": key = one-hot of the symbol of one memory
 *     vector j chosen uniformly, value = 0, flag = 1;
 *   - the n-th vector (the target) is memory vector j's value.
 * Where j sits is random and the values are fresh noise, so any fixed
 * weighting of the inputs (their average, a linear regression on all of
 * them) gets only a fraction 1/(L-1) of the answer; attention gets all of it:
 * the query's key scores the matching memory key (q.k large), softmax puts
 * its weight there, and the value projection copies that value out.  The
 * flag lets the model tell the query from the memory, so that the query does
 * not match itself (its own key is the same symbol).
 *
 * Model: one attention layer, the query vector as the only query over all L
 * inputs as keys and values (Q/K/V/output projections, one head), then a
 * linear map to the V value numbers.  Loss: mean squared error.  Defaults as
 * in seed 004: batch 1, plain SGD, learning rate 0.1, 5000 steps.
 *
 * Data: training sample i of step t is drawn from (seed, t * batch + i), the
 * test set from another part of the same counter space, so a resumed run sees
 * the same data as an uninterrupted one.
 */
#define _POSIX_C_SOURCE 200809L

#include "args.h"
#include "ckpt.h"
#include "cli.h"
#include "draw.h"
#include "train.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char usage_text[] =
    "usage: attn train next-vector [OPTIONS]\n"
    "\n"
    "Seed 004's task: predict the n-th vector of a sequence from the n-1 before it, with one\n"
    "attention layer trained by SGD (batch 1, learning rate 0.1, 5000 steps by default).\n"
    "\n"
    "The data: each input vector is [key | value | flag].  The first n-2 are memory vectors, each\n"
    "with a distinct key (2 x one-hot: a symbol out of --keys) and a random N(0,1) value; the last\n"
    "input is a query (flag 1, value 0) whose key repeats the key of a memory vector chosen at\n"
    "random.\n"
    "The n-th vector to predict is that memory vector's value.  Averaging the inputs cannot find\n"
    "it; attention can: the query's key matches the memory key, softmax puts the weight there, and\n"
    "the value is copied out.\n"
    "\n"
    "Reports the test mean squared error of the model and of three baselines: predicting the\n"
    "training mean, averaging the memory values, and a least-squares linear map from all inputs.\n"
    "\n"
    "Options:\n"
    "      --length N        inputs per sequence, n-1 (default 8: 7 memory vectors + the query)\n"
    "      --keys K          key symbols (default 16; at least length-1)\n"
    "      --value-dim V     numbers in a value (default 8)\n"
    "      --head-dim D      query/key width of the attention head (default 16)\n"
    "      --lr X            learning rate (default 0.1)\n"
    "      --batch N         sequences per step (default 1)\n"
    "      --test N          test sequences (default 2000)\n"
    "      --picture FILE    draw where the query looks on a few test sequences (.png or .svg)\n"
    "  -h, --help            this help\n"
    "\n";

typedef struct next_cfg {
    int64_t L, K, V, D, dk, batch, n_test;
    double lr;
    const char *picture;
} next_cfg;

/* A key is KEY_SCALE times a one-hot vector.  Its length sets how sharp the
 * attention can get for given weights (the score grows with its square):
 * with 1, 5000 SGD steps reach only 7-9% of the baseline's error (softmax
 * still spreads weight on the wrong inputs); with 2, about 0.5%. */
#define KEY_SCALE 2

/* One sequence: x (L, D), target (V); *where = the matching memory index and
 * *sym its symbol.  Stream (seed, idx). */
static void gen_sample(const next_cfg *c, uint64_t seed, uint64_t idx, float *x, float *target, int64_t *where,
                       int64_t *sym)
{
    rng_stream r = rng_stream_at(seed, idx);
    int64_t m = c->L - 1, perm[4096];
    for (int64_t s = 0; s < c->K; s++)
        perm[s] = s;
    for (int64_t i = 0; i < m; i++) { /* partial Fisher-Yates: m distinct symbols */
        int64_t k = i + (int64_t)rng_next_below(&r, (uint64_t)(c->K - i));
        int64_t t = perm[i];
        perm[i] = perm[k], perm[k] = t;
    }
    memset(x, 0, (size_t)(c->L * c->D) * sizeof *x);
    for (int64_t i = 0; i < m; i++) {
        float *row = x + i * c->D;
        row[perm[i]] = KEY_SCALE;
        for (int64_t v = 0; v < c->V; v++)
            row[c->K + v] = (float)rng_next_normal(&r);
    }
    int64_t j = (int64_t)rng_next_below(&r, (uint64_t)m);
    float *q = x + m * c->D;
    q[perm[j]] = KEY_SCALE;
    q[c->D - 1] = 1;
    memcpy(target, x + j * c->D + c->K, (size_t)c->V * sizeof *target);
    if (where)
        *where = j;
    if (sym)
        *sym = perm[j];
}

/* Test samples live at counters >= 2^62; training sample i of step t at
 * t * batch + i. */
#define TEST_BASE (UINT64_C(1) << 62)

typedef struct next_model {
    attn_model m;
    attn_mha att;
    int64_t hw, hb;
} next_model;

static int build_model(next_model *nm, const next_cfg *c, uint64_t seed)
{
    attn_model_init(&nm->m);
    attn_mha_config mc;
    memset(&mc, 0, sizeof mc);
    mc.d_model = c->D, mc.d_kv = c->D, mc.n_heads = 1, mc.d_k = c->dk, mc.d_v = c->V, mc.bias = 1;
    int64_t sh[2] = {c->V, c->D};
    if (attn_mha_declare(&nm->m, &nm->att, "attn", &mc) != ATTN_OK ||
        attn_model_add(&nm->m, "head.w", 2, sh, ATTN_INIT_UNIFORM, 1.0 / sqrt((double)c->D), &nm->hw) != ATTN_OK ||
        attn_model_add(&nm->m, "head.b", 1, sh, ATTN_INIT_ZEROS, 0, &nm->hb) != ATTN_OK ||
        attn_model_alloc(&nm->m, seed) != ATTN_OK)
        return cli_error("building the model: %s", attn_errmsg());
    return CLI_OK;
}

/* Work buffers for B sequences. */
typedef struct next_work {
    int64_t B;
    float *x, *target, *att_out, *pred, *dpred, *datt, *cache, *weights;
} next_work;

static int work_alloc(next_work *w, const next_model *nm, const next_cfg *c, int64_t B)
{
    memset(w, 0, sizeof *w);
    w->B = B;
    size_t f = sizeof(float);
    w->x = malloc((size_t)(B * c->L * c->D) * f);
    w->target = malloc((size_t)(B * c->V) * f);
    w->att_out = malloc((size_t)(B * c->D) * f);
    w->datt = malloc((size_t)(B * c->D) * f);
    w->pred = malloc((size_t)(B * c->V) * f);
    w->dpred = malloc((size_t)(B * c->V) * f);
    w->weights = malloc((size_t)(B * c->L) * f);
    w->cache = malloc((size_t)attn_mha_cache_floats(&nm->att, B, 1, c->L) * f);
    if (!w->x || !w->target || !w->att_out || !w->datt || !w->pred || !w->dpred || !w->weights || !w->cache)
        return cli_error("out of memory for %lld sequences", (long long)B);
    return CLI_OK;
}

static void work_free(next_work *w)
{
    free(w->x), free(w->target), free(w->att_out), free(w->datt), free(w->pred), free(w->dpred), free(w->cache);
    free(w->weights);
}

/* pred (B, V) for w->x; the query is the last row of each sequence.  The
 * queries are gathered into att_out's space first (xq (B, 1, D)), strided
 * views not being a thing the layer takes. */
static int forward(const next_model *nm, const next_cfg *c, next_work *w, float *xq, int want_weights)
{
    for (int64_t b = 0; b < w->B; b++)
        memcpy(xq + b * c->D, w->x + (b * c->L + c->L - 1) * c->D, (size_t)c->D * sizeof *xq);
    if (attn_mha_forward(&nm->m, &nm->att, w->att_out, want_weights ? w->weights : NULL, w->cache, xq, w->x, NULL,
                         w->B, 1, c->L, 0) != ATTN_OK ||
        attn_linear_forward(w->pred, w->att_out, nm->m.params + nm->hw, nm->m.params + nm->hb, w->B, c->D, c->V) !=
            ATTN_OK)
        return cli_error("forward: %s", attn_errmsg());
    return CLI_OK;
}

/* Test MSE of the model over n_test sequences, in chunks. */
static int evaluate(const next_model *nm, const next_cfg *c, uint64_t seed, double *mse)
{
    enum { CHUNK = 500 };
    next_work w;
    int rc = work_alloc(&w, nm, c, CHUNK);
    float *xq = malloc((size_t)(CHUNK * c->D) * sizeof *xq);
    if (rc == CLI_OK && !xq)
        rc = cli_error("out of memory");
    double sum = 0;
    for (int64_t s = 0; rc == CLI_OK && s < c->n_test; s += CHUNK) {
        int64_t B = c->n_test - s < CHUNK ? c->n_test - s : CHUNK;
        w.B = B;
        for (int64_t b = 0; b < B; b++)
            gen_sample(c, seed, TEST_BASE + (uint64_t)(s + b), w.x + b * c->L * c->D, w.target + b * c->V, NULL, NULL);
        if ((rc = forward(nm, c, &w, xq, 0)) != CLI_OK)
            break;
        for (int64_t e = 0; e < B * c->V; e++)
            sum += ((double)w.pred[e] - w.target[e]) * ((double)w.pred[e] - w.target[e]);
    }
    *mse = sum / (double)(c->n_test * c->V);
    free(xq);
    work_free(&w);
    return rc;
}

/* ---------------------------------------------------------------- baselines */

/* Solve (A + ridge I) x = b for symmetric positive definite A (n, n) by
 * Cholesky, in place: A is overwritten, b becomes x.  Returns 0 on success. */
static int cholesky_solve(double *A, double *b, int64_t n, int64_t nrhs)
{
    for (int64_t j = 0; j < n; j++) {
        double d = A[j * n + j];
        for (int64_t k = 0; k < j; k++)
            d -= A[j * n + k] * A[j * n + k];
        if (d <= 0)
            return -1;
        d = sqrt(d);
        A[j * n + j] = d;
        for (int64_t i = j + 1; i < n; i++) {
            double s = A[i * n + j];
            for (int64_t k = 0; k < j; k++)
                s -= A[i * n + k] * A[j * n + k];
            A[i * n + j] = s / d;
        }
    }
    for (int64_t r = 0; r < nrhs; r++) {
        for (int64_t i = 0; i < n; i++) { /* L y = b */
            double s = b[i * nrhs + r];
            for (int64_t k = 0; k < i; k++)
                s -= A[i * n + k] * b[k * nrhs + r];
            b[i * nrhs + r] = s / A[i * n + i];
        }
        for (int64_t i = n - 1; i >= 0; i--) { /* L^T x = y */
            double s = b[i * nrhs + r];
            for (int64_t k = i + 1; k < n; k++)
                s -= A[k * n + i] * b[k * nrhs + r];
            b[i * nrhs + r] = s / A[i * n + i];
        }
    }
    return 0;
}

enum { NB = 3 };
static const char *const baseline_names[NB] = {"training mean", "average of the memory values", "linear regression"};
static const char *const baseline_keys[NB] = {"train_mean", "input_average", "linear_regression"}; /* in the report */

/* The baselines' test MSEs.  The mean and the regression are fitted on
 * n_fit fresh sequences of the training stream's own distribution (drawn
 * past the counters the training steps use). */
static int baselines(const next_cfg *c, uint64_t seed, double out[NB])
{
    int64_t n_fit = 20000, F = c->L * c->D + 1, m = c->L - 1;
    uint64_t fit_base = UINT64_C(1) << 61;
    double *A = calloc((size_t)(F * F), sizeof *A), *Bm = calloc((size_t)(F * c->V), sizeof *Bm);
    double *mean = calloc((size_t)c->V, sizeof *mean), *feat = malloc((size_t)F * sizeof *feat);
    float *x = malloc((size_t)(c->L * c->D) * sizeof *x), *t = malloc((size_t)c->V * sizeof *t);
    int rc = CLI_OK;
    if (!A || !Bm || !mean || !feat || !x || !t) {
        rc = cli_error("out of memory for the baselines");
        goto out;
    }
    for (int64_t s = 0; s < n_fit; s++) {
        gen_sample(c, seed, fit_base + (uint64_t)s, x, t, NULL, NULL);
        for (int64_t f = 0; f < F - 1; f++)
            feat[f] = x[f];
        feat[F - 1] = 1;
        for (int64_t i = 0; i < F; i++) {
            if (feat[i] == 0)
                continue;
            for (int64_t j = 0; j < F; j++)
                A[i * F + j] += feat[i] * feat[j];
            for (int64_t v = 0; v < c->V; v++)
                Bm[i * c->V + v] += feat[i] * t[v];
        }
        for (int64_t v = 0; v < c->V; v++)
            mean[v] += t[v] / (double)n_fit;
    }
    for (int64_t i = 0; i < F; i++)
        A[i * F + i] += 1e-3 * (double)n_fit; /* ridge: one-hot columns that never fire */
    if (cholesky_solve(A, Bm, F, c->V) != 0) {
        rc = cli_error("linear regression baseline: the normal equations are singular");
        goto out;
    }
    double se[NB] = {0, 0, 0};
    for (int64_t s = 0; s < c->n_test; s++) {
        gen_sample(c, seed, TEST_BASE + (uint64_t)s, x, t, NULL, NULL);
        for (int64_t v = 0; v < c->V; v++) {
            double avg = 0, lin = Bm[(F - 1) * c->V + v];
            for (int64_t i = 0; i < m; i++)
                avg += x[i * c->D + c->K + v] / (double)m;
            for (int64_t f = 0; f < F - 1; f++)
                lin += x[f] * Bm[f * c->V + v];
            se[0] += (mean[v] - t[v]) * (mean[v] - t[v]);
            se[1] += (avg - t[v]) * (avg - t[v]);
            se[2] += (lin - t[v]) * (lin - t[v]);
        }
    }
    for (int i = 0; i < NB; i++)
        out[i] = se[i] / (double)(c->n_test * c->V);
out:
    free(A), free(Bm), free(mean), free(feat), free(x), free(t);
    return rc;
}

/* ------------------------------------------------------------------ picture */

/* Where the query looks on the first few test sequences: one row per
 * sequence, one column per input position. */
static int draw_picture(const next_model *nm, const next_cfg *c, uint64_t seed)
{
    enum { ROWS = 6 };
    next_work w;
    int rc = work_alloc(&w, nm, c, ROWS);
    float *xq = malloc((size_t)(ROWS * c->D) * sizeof *xq);
    double *vals = malloc((size_t)(ROWS * c->L) * sizeof *vals);
    char (*rl)[64] = malloc(ROWS * sizeof *rl), (*cl)[16] = malloc((size_t)c->L * sizeof *cl);
    const char **rows = malloc(ROWS * sizeof *rows), **cols = malloc((size_t)c->L * sizeof *cols);
    if (rc == CLI_OK && (!xq || !vals || !rl || !cl || !rows || !cols))
        rc = cli_error("out of memory");
    if (rc == CLI_OK) {
        for (int64_t b = 0; b < ROWS; b++) {
            int64_t where, sym;
            gen_sample(c, seed, TEST_BASE + (uint64_t)b, w.x + b * c->L * c->D, w.target + b * c->V, &where, &sym);
            snprintf(rl[b], sizeof rl[b], "query: key %lld (at input %lld)", (long long)sym, (long long)where + 1);
            rows[b] = rl[b];
        }
        for (int64_t j = 0; j < c->L; j++) {
            snprintf(cl[j], sizeof cl[j], j == c->L - 1 ? "query itself" : "%lld", (long long)j + 1);
            cols[j] = cl[j];
        }
        rc = forward(nm, c, &w, xq, 1);
    }
    if (rc == CLI_OK) {
        for (int64_t e = 0; e < ROWS * c->L; e++)
            vals[e] = w.weights[e];
        draw_heatmap map = {vals, ROWS, c->L, rows, cols, NULL};
        draw_heatmap_style st;
        memset(&st, 0, sizeof st);
        st.show_values = 1;
        st.title = "next-vector: where the query looks (rows: test sequences; columns: inputs)";
        char err[512];
        int pw, ph;
        if (draw_heatmaps(c->picture, &map, 1, &st, &pw, &ph, err, sizeof err) != ATTN_OK)
            rc = cli_error("%s", err);
        else
            printf("wrote %s (%d x %d pixels)\n", c->picture, pw, ph);
        draw_release();
    }
    free(xq), free(vals), free(rl), free(cl), free(rows), free(cols);
    work_free(&w);
    return rc;
}

/* ------------------------------------------------------------------ command */

static int parse_args(int argc, char **argv, next_cfg *c, train_opts *o, int *help)
{
    enum { O_LENGTH = 256, O_KEYS, O_VDIM, O_HDIM, O_LR, O_BATCH, O_TEST, O_PICTURE };
    static const struct option longopts[] = {
        {"length", required_argument, NULL, O_LENGTH}, {"keys", required_argument, NULL, O_KEYS},
        {"value-dim", required_argument, NULL, O_VDIM}, {"head-dim", required_argument, NULL, O_HDIM},
        {"lr", required_argument, NULL, O_LR},         {"batch", required_argument, NULL, O_BATCH},
        {"test", required_argument, NULL, O_TEST},     {"picture", required_argument, NULL, O_PICTURE},
        {"help", no_argument, NULL, 'h'},              TRAIN_COMMON_LONGOPTS,
        {NULL, 0, NULL, 0},
    };
    const char *cmd = "train next-vector";
    c->L = 8, c->K = 16, c->V = 8, c->dk = 16, c->batch = 1, c->n_test = 2000, c->lr = 0.1, c->picture = NULL;
    memset(o, 0, sizeof *o);
    o->seed = 1, o->steps = 5000;
    *help = 0;
    opterr = 0;
    optind = 0;
    int ch, rc = CLI_OK;
    while (rc == CLI_OK && (ch = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
        int64_t v = 0;
        switch (ch) {
        case O_LENGTH: rc = cli_parse_int64(cmd, "--length", optarg, &c->L); break;
        case O_KEYS: rc = cli_parse_int64(cmd, "--keys", optarg, &c->K); break;
        case O_VDIM: rc = cli_parse_int64(cmd, "--value-dim", optarg, &c->V); break;
        case O_HDIM: rc = cli_parse_int64(cmd, "--head-dim", optarg, &c->dk); break;
        case O_LR: rc = cli_parse_double(cmd, "--lr", optarg, &c->lr); break;
        case O_BATCH: rc = cli_parse_int64(cmd, "--batch", optarg, &c->batch); break;
        case O_TEST: rc = cli_parse_int64(cmd, "--test", optarg, &c->n_test); break;
        case O_PICTURE: c->picture = optarg; break;
        case 'h':
            fputs(usage_text, stdout);
            fputs(train_common_help, stdout);
            *help = 1;
            return CLI_OK;
        default:
            if (ch >= TRAIN_OPT_BASE)
                rc = train_parse_common(cmd, ch, optarg, o);
            else
                rc = cli_bad_option(cmd, ch, argv);
            break;
        }
        (void)v;
    }
    if (rc != CLI_OK)
        return rc;
    if (optind < argc)
        return cli_usage(cmd, "unexpected argument '%s'", argv[optind]);
    if (c->L < 2 || c->L > 1024)
        return cli_usage(cmd, "--length %lld is out of range [2, 1024]", (long long)c->L);
    if (c->K < c->L - 1 || c->K > 4096)
        return cli_usage(cmd, "--keys %lld must be in [length-1, 4096] = [%lld, 4096]", (long long)c->K,
                         (long long)c->L - 1);
    if (c->V < 1 || c->V > 1024)
        return cli_usage(cmd, "--value-dim %lld is out of range [1, 1024]", (long long)c->V);
    if (c->dk < 1 || c->dk > 1024)
        return cli_usage(cmd, "--head-dim %lld is out of range [1, 1024]", (long long)c->dk);
    if (!(c->lr > 0))
        return cli_usage(cmd, "--lr %g must be positive", c->lr);
    if (c->batch < 1 || c->batch > 65536)
        return cli_usage(cmd, "--batch %lld is out of range [1, 65536]", (long long)c->batch);
    if (c->n_test < 1 || c->n_test > 10000000)
        return cli_usage(cmd, "--test %lld is out of range [1, 10000000]", (long long)c->n_test);
    if (c->picture) {
        draw_format fmt;
        char err[256];
        if (draw_format_of(c->picture, &fmt, err, sizeof err) != ATTN_OK)
            return cli_usage(cmd, "--picture %s", err);
    }
    c->D = c->K + c->V + 1;
    return CLI_OK;
}

int attn_cmd_train_next(int argc, char **argv)
{
    next_cfg c;
    train_opts o;
    int help;
    int rc = parse_args(argc, argv, &c, &o, &help);
    if (rc != CLI_OK || help)
        return rc;
    train_apply_threads(&o);

    next_model nm;
    next_work w;
    train_log log;
    memset(&log, 0, sizeof log);
    memset(&w, 0, sizeof w);
    float *xq = NULL;
    if ((rc = build_model(&nm, &c, o.seed)) != CLI_OK)
        goto out;
    /* what a checkpoint must agree on to be resumed */
    char config[256];
    snprintf(config, sizeof config, "next-vector length=%lld keys=%lld value-dim=%lld head-dim=%lld batch=%lld lr=%.17g",
             (long long)c.L, (long long)c.K, (long long)c.V, (long long)c.dk, (long long)c.batch, c.lr);
    int64_t first = 0;
    double prior_seconds = 0;
    attn_optimizer opt = attn_optimizer_default(ATTN_OPTIM_SGD, c.lr);
    if (o.resume) {
        if ((rc = ckpt_load(o.resume, &nm.m, &opt, config, &o.seed, &first, &prior_seconds)) != CLI_OK)
            goto out;
        if (first > o.steps) {
            rc = cli_error("%s has %lld steps done, more than --steps %lld", o.resume, (long long)first,
                           (long long)o.steps);
            goto out;
        }
    }
    if ((rc = work_alloc(&w, &nm, &c, c.batch)) != CLI_OK)
        goto out;
    xq = malloc((size_t)(c.batch * c.D) * sizeof *xq);
    if (!xq) {
        rc = cli_error("out of memory");
        goto out;
    }
    printf("next-vector: %lld inputs of %lld numbers ([key %lld | value %lld | flag]), predict a value of %lld;\n"
           "one attention layer (head width %lld), %lld parameters; SGD lr %g, batch %lld, %lld steps, seed %llu\n",
           (long long)c.L, (long long)c.D, (long long)c.K, (long long)c.V, (long long)c.V, (long long)c.dk,
           (long long)nm.m.count, c.lr, (long long)c.batch, (long long)o.steps, (unsigned long long)o.seed);
    fflush(stdout);

    train_progress prog;
    int64_t end = train_end_step(&o);
    train_progress_start(&prog, first, end, &o);
    double t0 = train_now(), log_sum = 0, last_loss = NAN;
    int64_t log_n = 0, log_every = o.steps >= 100 ? o.steps / 100 : 1;
    for (int64_t step = first; step < end; step++) {
        for (int64_t b = 0; b < c.batch; b++)
            gen_sample(&c, o.seed, (uint64_t)(step * c.batch + b), w.x + b * c.L * c.D, w.target + b * c.V, NULL,
                       NULL);
        double loss;
        if ((rc = forward(&nm, &c, &w, xq, 0)) != CLI_OK)
            goto out;
        attn_mse_forward(&loss, w.pred, w.target, c.batch * c.V);
        attn_model_zero_grad(&nm.m);
        memset(w.dpred, 0, (size_t)(c.batch * c.V) * sizeof *w.dpred);
        memset(w.datt, 0, (size_t)(c.batch * c.D) * sizeof *w.datt);
        if (attn_mse_backward(w.dpred, w.pred, w.target, c.batch * c.V, 1.0) != ATTN_OK ||
            attn_linear_backward(w.datt, nm.m.grads + nm.hw, nm.m.grads + nm.hb, w.dpred, w.att_out,
                                 nm.m.params + nm.hw, c.batch, c.D, c.V) != ATTN_OK ||
            attn_mha_backward(&nm.m, &nm.att, NULL, NULL, w.datt, w.cache, xq, w.x, NULL, c.batch, 1, c.L, 0) !=
                ATTN_OK ||
            attn_model_step(&nm.m, &opt, NULL, NULL) != ATTN_OK) {
            rc = cli_error("step %lld: %s", (long long)step, attn_errmsg());
            goto out;
        }
        if (!isfinite(loss)) {
            rc = cli_error("step %lld: the loss is %g (diverged; try a smaller --lr)", (long long)step, loss);
            goto out;
        }
        log_sum += loss, log_n++;
        last_loss = loss;
        if ((step + 1) % log_every == 0 || step + 1 == end) {
            double metric = NAN;
            if (o.eval_every > 0 && ((step + 1) % o.eval_every == 0 || step + 1 == end) &&
                (rc = evaluate(&nm, &c, o.seed, &metric)) != CLI_OK)
                goto out;
            if ((rc = train_log_add(&log, step + 1, log_sum / (double)log_n, metric)) != CLI_OK)
                goto out;
            log_sum = 0, log_n = 0;
        }
        train_progress_step(&prog, step, loss);
    }
    train_progress_end(&prog);
    double seconds = prior_seconds + (train_now() - t0);

    double mse, base[NB];
    if ((rc = evaluate(&nm, &c, o.seed, &mse)) != CLI_OK || (rc = baselines(&c, o.seed, base)) != CLI_OK)
        goto out;
    int best = 0;
    for (int i = 1; i < NB; i++)
        if (base[i] < base[best])
            best = i;
    printf("test MSE over %lld sequences after %lld steps (%.1f s):\n", (long long)c.n_test, (long long)end,
           seconds);
    printf("  %-30s %.6f\n", "attention model", mse);
    for (int i = 0; i < NB; i++)
        printf("  %-30s %.6f\n", baseline_names[i], base[i]);
    printf("model / best baseline (%s) = %.2f%%\n", baseline_names[best], 100.0 * mse / base[best]);
    printf("final training loss (step %lld): %.9g\n", (long long)end, last_loss);
    fflush(stdout);

    if (o.save && (rc = ckpt_save(o.save, &nm.m, &opt, config, o.seed, end, seconds)) != CLI_OK)
        goto out;
    if (o.save)
        printf("wrote %s\n", o.save);
    if (o.loss_csv && (rc = train_log_write(&log, o.loss_csv, "test_mse")) != CLI_OK)
        goto out;
    if (o.report) {
        train_baseline bl[NB];
        for (int i = 0; i < NB; i++)
            bl[i].name = baseline_keys[i], bl[i].value = base[i];
        if ((rc = train_report_write(o.report, "next-vector", "test_mse", mse, bl, NB, end, seconds, o.seed)) !=
            CLI_OK)
            goto out;
    }
    if (c.picture)
        rc = draw_picture(&nm, &c, o.seed);
out:
    free(xq);
    work_free(&w);
    train_log_free(&log);
    attn_model_free(&nm.m);
    return rc;
}
