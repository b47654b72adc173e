/*
 * test_nn_layers.c - every elementwise / per-row layer's backward against
 * central finite differences (see test_nn_fd.h), forward values against
 * their formulas, the losses, and argument errors.
 *
 * Tolerances: these layers are one or two f32 operations deep on O(1) values
 * with a few hundred outputs, so the FD rounding noise is ~1e-7 * 100 / h
 * = 1e-3 at h = 1e-2 and the truncation ~h^2 = 1e-4: atol 3e-3, rtol 1e-2.
 */
#include "test_nn_fd.h"

static test_rng rng;

/* ---- linear ---- */
typedef struct lin_ctx {
    float *x, *w, *b, *y, *r;
    int64_t N, C, OC;
} lin_ctx;
static double lin_loss(void *p)
{
    lin_ctx *c = p;
    attn_linear_forward(c->y, c->x, c->w, c->b, c->N, c->C, c->OC);
    return fd_dot(c->r, c->y, c->N * c->OC);
}
static void test_linear(int bias)
{
    lin_ctx c = {0};
    c.N = 7, c.C = 5, c.OC = 3;
    float x[35], w[15], b[3], y[21], r[21], dx[35] = {0}, dw[15] = {0}, db[3] = {0};
    fd_fill(&rng, x, 35, 1), fd_fill(&rng, w, 15, 1), fd_fill(&rng, b, 3, 1), fd_fill(&rng, r, 21, 1);
    c.x = x, c.w = w, c.b = bias ? b : NULL, c.y = y, c.r = r;
    lin_loss(&c);
    for (int n = 0; n < 7; n++) /* forward against the formula */
        for (int o = 0; o < 3; o++) {
            double s = bias ? b[o] : 0;
            for (int k = 0; k < 5; k++)
                s += (double)x[n * 5 + k] * w[o * 5 + k];
            CHECK(test_close(y[n * 3 + o], s, 1e-5, 1e-5), "linear forward [%d,%d] %g vs %g", n, o, y[n * 3 + o], s);
        }
    CHECK_OK(attn_linear_backward(dx, dw, bias ? db : NULL, r, x, w, 7, 5, 3));
    fd_check("linear dx", x, dx, 35, lin_loss, &c, 1e-2, 3e-3, 1e-2, &rng, 64);
    fd_check("linear dw", w, dw, 15, lin_loss, &c, 1e-2, 3e-3, 1e-2, &rng, 64);
    if (bias)
        fd_check("linear db", b, db, 3, lin_loss, &c, 1e-2, 3e-3, 1e-2, &rng, 64);
    /* accumulation: a second backward doubles the gradient */
    float dw2[15];
    memcpy(dw2, dw, sizeof dw);
    CHECK_OK(attn_linear_backward(NULL, dw2, NULL, r, x, w, 7, 5, 3));
    int acc = 1;
    for (int i = 0; i < 15; i++)
        acc &= dw2[i] == 2 * dw[i];
    CHECK(acc, "linear backward accumulates (+=)");
    CHECK_FAILS(attn_linear_forward(y, x, NULL, b, 7, 5, 3), ATTN_ERR_MISUSE, "w is NULL");
    CHECK_FAILS(attn_linear_forward(y, x, w, b, -1, 5, 3), ATTN_ERR_INVALID, "N = -1");
    /* C + OC overflows int64 (UBSan aborts on the signed overflow unless it is checked) */
    CHECK_FAILS(attn_linear_forward(y, x, w, b, 1, INT64_MAX, 1), ATTN_ERR_OVERFLOW, "overflow");
    CHECK_FAILS(attn_linear_backward(NULL, NULL, NULL, r, x, w, 1, 1, INT64_MAX), ATTN_ERR_OVERFLOW, "overflow");
}

/* ---- embedding and positional encodings ---- */
typedef struct emb_ctx {
    float *table, *y, *r, *pos;
    int64_t *ids;
} emb_ctx;
static double emb_loss(void *p)
{
    emb_ctx *c = p;
    attn_embedding_forward(c->y, c->ids, c->table, 6, 4, 5);
    /* learned positions on top: (B=2, T=3, C=4), pos0 = 1, Tmax = 5 */
    attn_posenc_learned_forward(c->y, c->y, c->pos, 2, 3, 4, 1, 5);
    return fd_dot(c->r, c->y, 24);
}
static void test_embedding(void)
{
    float table[20], y[24], r[24], pos[20], dtable[20] = {0}, dpos[20] = {0}, dy[24] = {0};
    int64_t ids[6] = {1, 4, 1, 0, 3, 1};
    fd_fill(&rng, table, 20, 1), fd_fill(&rng, r, 24, 1), fd_fill(&rng, pos, 20, 1);
    emb_ctx c = {table, y, r, pos, ids};
    emb_loss(&c);
    CHECK_OK(attn_posenc_learned_backward(dy, dpos, r, 2, 3, 4, 1, 5));
    CHECK_OK(attn_embedding_backward(dtable, dy, ids, 6, 4, 5));
    fd_check("embedding dtable", table, dtable, 20, emb_loss, &c, 1e-2, 3e-3, 1e-2, &rng, 64);
    fd_check("learned posenc dtable", pos, dpos, 20, emb_loss, &c, 1e-2, 3e-3, 1e-2, &rng, 64);
    ids[2] = 5;
    CHECK_FAILS(attn_embedding_forward(y, ids, table, 6, 4, 5), ATTN_ERR_INVALID, "ids[2] = 5");
    /* N + V overflows int64: refused before any id is read (wrapped, the
     * sizes passed as zero floats and the ids were read as N entries) */
    CHECK_FAILS(attn_embedding_forward(y, ids, table, INT64_MAX, 0, 1), ATTN_ERR_OVERFLOW, "overflow");
    CHECK_FAILS(attn_embedding_backward(dtable, dy, ids, INT64_MAX, 0, 1), ATTN_ERR_OVERFLOW, "overflow");
    CHECK_FAILS(attn_posenc_learned_forward(y, y, pos, 2, 3, 4, 3, 5), ATTN_ERR_INVALID, "Tmax");

    /* sinusoidal: the seeds' table, PE(t, 2i) = sin(t / 10000^(2i/C)), PE(t, 2i+1) = cos(...) */
    float z[2 * 3 * 6] = {0}, d[36] = {0}, one[36];
    CHECK_OK(attn_posenc_sinusoidal_forward(z, z, 2, 3, 6, 2));
    int ok = 1;
    for (int b = 0; b < 2; b++)
        for (int t = 0; t < 3; t++)
            for (int i = 0; i < 3; i++) {
                double ang = (t + 2) / pow(10000.0, 2.0 * i / 6.0);
                ok &= test_close(z[(b * 3 + t) * 6 + 2 * i], sin(ang), 1e-6, 0);
                ok &= test_close(z[(b * 3 + t) * 6 + 2 * i + 1], cos(ang), 1e-6, 0);
            }
    CHECK(ok, "sinusoidal encoding matches sin/cos(t / 10000^(2i/C))");
    for (int i = 0; i < 36; i++)
        one[i] = 1;
    CHECK_OK(attn_posenc_sinusoidal_backward(d, one, 2, 3, 6));
    CHECK(d[0] == 1 && d[35] == 1, "sinusoidal backward passes the gradient through");
}

/* ---- RoPE ---- */
typedef struct rope_ctx {
    float *x, *y, *r;
} rope_ctx;
static double rope_loss(void *p)
{
    rope_ctx *c = p;
    attn_rope_forward(c->y, c->x, 2, 3, 2, 4, 5, 0);
    return fd_dot(c->r, c->y, 48);
}
static void test_rope(void)
{
    float x[48], y[48], r[48], dx[48] = {0};
    fd_fill(&rng, x, 48, 1), fd_fill(&rng, r, 48, 1);
    rope_ctx c = {x, y, r};
    rope_loss(&c);
    /* pair i of position t rotates by t * 10000^(-2i/D): check (b=1, t=2, h=1, i=1) */
    int64_t o = ((1 * 3 + 2) * 2 + 1) * 4 + 2;
    double ang = 7.0 * pow(10000.0, -2.0 / 4.0);
    CHECK(test_close(y[o], x[o] * cos(ang) - x[o + 1] * sin(ang), 1e-6, 1e-6) &&
              test_close(y[o + 1], x[o] * sin(ang) + x[o + 1] * cos(ang), 1e-6, 1e-6),
          "rope rotates adjacent pairs");
    CHECK_OK(attn_rope_backward(dx, r, 2, 3, 2, 4, 5, 0));
    fd_check("rope dx", x, dx, 48, rope_loss, &c, 1e-2, 3e-3, 1e-2, &rng, 64);
    CHECK_FAILS(attn_rope_forward(y, x, 2, 3, 2, 3, 0, 0), ATTN_ERR_INVALID, "even");
}

/* ---- layer norm ---- */
typedef struct ln_ctx {
    float *x, *w, *b, *y, *mean, *rstd, *r;
} ln_ctx;
static double ln_loss(void *p)
{
    ln_ctx *c = p;
    attn_layernorm_forward(c->y, c->mean, c->rstd, c->x, c->w, c->b, 5, 8, 1e-5);
    return fd_dot(c->r, c->y, 40);
}
static void test_layernorm(void)
{
    float x[40], w[8], b[8], y[40], mean[5], rstd[5], r[40], dx[40] = {0}, dw[8] = {0}, db[8] = {0};
    fd_fill(&rng, x, 40, 2), fd_fill(&rng, w, 8, 1), fd_fill(&rng, b, 8, 1), fd_fill(&rng, r, 40, 1);
    ln_ctx c = {x, w, b, y, mean, rstd, r};
    ln_loss(&c);
    double m = 0, v = 0;
    for (int i = 0; i < 8; i++)
        m += x[i] / 8.0;
    for (int i = 0; i < 8; i++)
        v += (x[i] - m) * (x[i] - m) / 8.0;
    CHECK(test_close(y[3], (x[3] - m) / sqrt(v + 1e-5) * w[3] + b[3], 1e-5, 1e-5), "layernorm forward");
    CHECK_OK(attn_layernorm_backward(dx, dw, db, r, x, w, mean, rstd, 5, 8));
    fd_check("layernorm dx", x, dx, 40, ln_loss, &c, 1e-2, 3e-3, 1e-2, &rng, 64);
    fd_check("layernorm dw", w, dw, 8, ln_loss, &c, 1e-2, 3e-3, 1e-2, &rng, 64);
    fd_check("layernorm db", b, db, 8, ln_loss, &c, 1e-2, 3e-3, 1e-2, &rng, 64);
}

/* ---- activations and dropout ---- */
typedef struct act_ctx {
    float *x, *y, *r;
    attn_act act;
    double p;
    int dropout;
} act_ctx;
static double act_loss(void *p)
{
    act_ctx *c = p;
    if (c->dropout)
        attn_dropout_forward(c->y, c->x, 64, c->p, 1234);
    else
        attn_act_forward(c->y, c->x, 64, c->act);
    return fd_dot(c->r, c->y, 64);
}
static void test_activations(void)
{
    float x[64], y[64], r[64];
    fd_fill(&rng, x, 64, 2), fd_fill(&rng, r, 64, 1);
    for (int i = 0; i < 64; i++) /* keep ReLU's kink out of reach of h */
        if (fabsf(x[i]) < 0.1f)
            x[i] = x[i] < 0 ? -0.1f : 0.1f;
    for (int a = 0; a < 2; a++) {
        float dx[64] = {0};
        act_ctx c = {x, y, r, (attn_act)a, 0, 0};
        act_loss(&c);
        double want = a == 0 ? (x[5] > 0 ? x[5] : 0) : 0.5 * x[5] * (1 + erf(x[5] / sqrt(2.0)));
        CHECK(test_close(y[5], want, 1e-6, 1e-6), "%s forward %g vs %g", a ? "gelu" : "relu", y[5], want);
        CHECK_OK(attn_act_backward(dx, r, x, 64, (attn_act)a));
        fd_check(a ? "gelu dx" : "relu dx", x, dx, 64, act_loss, &c, 1e-2, 3e-3, 1e-2, &rng, 64);
    }
    /* gelu is the exact erf form, not the tanh approximation: they differ by ~1e-3 at x = 1.5 */
    float g = 1.5f, gy;
    attn_act_forward(&gy, &g, 1, ATTN_ACT_GELU);
    CHECK(fabs(gy - 0.75 * (1 + erf(1.5 / sqrt(2.0)))) < 1e-6, "gelu uses erf");

    float dx[64] = {0};
    act_ctx c = {x, y, r, ATTN_ACT_RELU, 0.3, 1};
    act_loss(&c);
    CHECK_OK(attn_dropout_backward(dx, r, 64, 0.3, 1234));
    fd_check("dropout dx", x, dx, 64, act_loss, &c, 1e-2, 3e-3, 1e-2, &rng, 64);
    /* keep rate and scale on a large array; same seed, same mask */
    int64_t n = 100000, kept = 0, same = 1;
    float *big = malloc(n * sizeof *big), *o1 = malloc(n * sizeof *o1), *o2 = malloc(n * sizeof *o2);
    for (int64_t i = 0; i < n; i++)
        big[i] = 1.0f;
    attn_dropout_forward(o1, big, n, 0.25, 99);
    attn_dropout_forward(o2, big, n, 0.25, 99);
    for (int64_t i = 0; i < n; i++) {
        kept += o1[i] != 0;
        same &= o1[i] == o2[i] && (o1[i] == 0 || fabsf(o1[i] - 1.0f / 0.75f) < 1e-6f);
        same &= (o1[i] != 0) == (attn_dropout_uniform(99, 0, 0, i, 0) >= 0.25);
    }
    /* binomial: sd = sqrt(n p (1-p)) = 137; allow 6 sd */
    CHECK(llabs(kept - 75000) < 820, "dropout keeps %lld of %lld at p = 0.25", (long long)kept, (long long)n);
    CHECK(same, "dropout is repeatable, scaled by 1/(1-p), and follows attn_dropout_uniform");
    free(big), free(o1), free(o2);
    CHECK_FAILS(attn_dropout_forward(y, x, 64, 1.0, 1), ATTN_ERR_INVALID, "p = 1");
}

/* ---- losses ---- */
typedef struct ce_ctx {
    float *z, *probs;
    int64_t *t;
    double smooth;
} ce_ctx;
static double ce_loss(void *p)
{
    ce_ctx *c = p;
    double l;
    attn_cross_entropy_forward(&l, NULL, c->probs, c->z, c->t, 6, 5, -100, c->smooth);
    return l;
}
static void test_losses(void)
{
    float z[30], probs[30];
    int64_t t[6] = {0, 4, -100, 2, 2, 1};
    fd_fill(&rng, z, 30, 2);
    for (int s = 0; s < 2; s++) {
        ce_ctx c = {z, probs, t, s ? 0.1 : 0.0};
        double l;
        int64_t cnt;
        float dz[30] = {0};
        CHECK_OK(attn_cross_entropy_forward(&l, &cnt, probs, z, t, 6, 5, -100, c.smooth));
        CHECK(cnt == 5, "cross entropy counts %lld rows, want 5", (long long)cnt);
        double want = 0; /* by hand in double */
        for (int n = 0; n < 6; n++) {
            if (t[n] == -100)
                continue;
            double mx = -1e30, se = 0;
            for (int v = 0; v < 5; v++)
                mx = z[n * 5 + v] > mx ? z[n * 5 + v] : mx;
            for (int v = 0; v < 5; v++)
                se += exp(z[n * 5 + v] - mx);
            for (int v = 0; v < 5; v++) {
                double q = c.smooth / 5 + (v == t[n] ? 1 - c.smooth : 0);
                want -= q * (z[n * 5 + v] - mx - log(se));
            }
        }
        want /= 5;
        CHECK(test_close(l, want, 1e-9, 1e-9), "cross entropy %g vs %g (smoothing %g)", l, want, c.smooth);
        CHECK_OK(attn_cross_entropy_backward(dz, probs, t, 6, 5, -100, c.smooth, 1.0));
        CHECK(dz[10] == 0 && dz[14] == 0, "ignored row gets no gradient");
        /* the loss is in double from f32 logits: noise ~1e-16 / h, so tight */
        fd_check(s ? "cross entropy (smoothed) dlogits" : "cross entropy dlogits", z, dz, 30, ce_loss, &c, 1e-3, 1e-6,
                 1e-4, &rng, 64);
    }
    int64_t bad[6] = {0, 5, 0, 0, 0, 0};
    double l, acc;
    CHECK_FAILS(attn_cross_entropy_forward(&l, NULL, probs, z, bad, 6, 5, -100, 0), ATTN_ERR_INVALID, "targets[1] = 5");
    int64_t all_ignored[2] = {-1, -1};
    CHECK_OK(attn_cross_entropy_forward(&l, NULL, probs, z, all_ignored, 2, 5, -1, 0));
    CHECK(l == 0, "all rows ignored: loss 0");
    float lz[6] = {1, 3, 2, 5, 0, 1};
    int64_t lt[3] = {1, 0, -1};
    CHECK_OK(attn_accuracy(&acc, lz, lt, 3, 2, -1));
    CHECK(acc == 0.5, "accuracy %g, want 0.5", acc);

    float p[4] = {1, 2, 3, 4}, q[4] = {1, 0, 3, 2}, dp[4] = {0};
    CHECK_OK(attn_mse_forward(&l, p, q, 4));
    CHECK(l == 2.0, "mse %g, want (0 + 4 + 0 + 4) / 4 = 2", l);
    CHECK_OK(attn_mse_backward(dp, p, q, 4, 1.0));
    CHECK(dp[0] == 0 && dp[1] == 1 && dp[3] == 1, "mse gradient 2 (p - q) / n");
}

int main(void)
{
    uint64_t seed = test_seed();
    printf("test_nn_layers: seed %llu (ATTN_TEST_SEED to replay)\n", (unsigned long long)seed);
    rng.s = seed;
    test_linear(1);
    test_linear(0);
    test_embedding();
    test_rope();
    test_layernorm();
    test_activations();
    test_losses();
    return test_summary("test_nn_layers");
}
