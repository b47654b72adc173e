/*
 * layers.c - the elementwise and per-row layers, each a forward/backward
 * pair over flat arrays (contracts in attn.h), and the feed-forward block.
 * The backward of each quotes the forward line it differentiates.
 */
#include "core/dropout.h"
#include "nn/nn.h"

#include <omp.h>

/* ---- linear ---- */

/* out (N, OC) = inp (N, C) @ w (OC, C)^T + b (OC) */
void attn_nn_linear_fwd(float *out, const float *inp, const float *w, const float *b, int64_t N, int64_t C,
                        int64_t OC)
{
    attn_nn_matmul(out, OC, inp, C, 1, w, 1, C, N, OC, C, 0);
    if (b)
        for (int64_t n = 0; n < N; n++)
            for (int64_t o = 0; o < OC; o++)
                out[n * OC + o] += b[o];
}

void attn_nn_linear_bwd(float *dinp, float *dw, float *db, const float *dout, const float *inp, const float *w,
                        int64_t N, int64_t C, int64_t OC)
{
    /* forward: out[n][o] = b[o] + sum_c inp[n][c] * w[o][c] */
    if (dinp) /* dinp[n][c] += sum_o dout[n][o] * w[o][c] */
        attn_nn_matmul(dinp, C, dout, OC, 1, w, C, 1, N, C, OC, 1);
    if (dw) /* dw[o][c] += sum_n dout[n][o] * inp[n][c] */
        attn_nn_matmul(dw, C, dout, 1, OC, inp, C, 1, OC, C, N, 1);
    if (db) /* db[o] += sum_n dout[n][o] */
        for (int64_t o = 0; o < OC; o++) {
            double s = 0;
            for (int64_t n = 0; n < N; n++)
                s += dout[n * OC + o];
            db[o] += (float)s;
        }
}

/* a + b for sizes already known to be >= 0; ATTN_ERR_OVERFLOW naming them. */
static attn_status size_sum(const char *fn, const char *an, int64_t a, const char *bn, int64_t b, int64_t *r)
{
    if (!attn_add_ok(a, b, r))
        return attn_fail(ATTN_ERR_OVERFLOW, "%s: sizes %s = %lld + %s = %lld overflow", fn, an, (long long)a, bn,
                         (long long)b);
    return ATTN_OK;
}

/* The sizes of a linear call: N, C, OC >= 0, and N x (C + OC) (inp and out)
 * and OC x C (w) floats addressable. */
static attn_status check_linear(const char *fn, int64_t N, int64_t C, int64_t OC)
{
    int64_t width, t;
    NN_NONNEG(fn, N);
    NN_NONNEG(fn, C);
    NN_NONNEG(fn, OC);
    attn_status st = size_sum(fn, "C", C, "OC", OC, &width);
    if (st == ATTN_OK)
        st = attn_nn_size3(fn, N, width, 1, &t);
    if (st == ATTN_OK)
        st = attn_nn_size3(fn, OC, C, 1, &t);
    return st;
}

attn_status attn_linear_forward(float *out, const float *inp, const float *w, const float *b, int64_t N, int64_t C,
                                int64_t OC)
{
    static const char fn[] = "attn_linear_forward";
    NN_NOTNULL(fn, out);
    NN_NOTNULL(fn, inp);
    NN_NOTNULL(fn, w);
    attn_status st = check_linear(fn, N, C, OC);
    if (st != ATTN_OK)
        return st;
    attn_nn_linear_fwd(out, inp, w, b, N, C, OC);
    return ATTN_OK;
}

attn_status attn_linear_backward(float *dinp, float *dw, float *db, const float *dout, const float *inp,
                                 const float *w, int64_t N, int64_t C, int64_t OC)
{
    static const char fn[] = "attn_linear_backward";
    NN_NOTNULL(fn, dout);
    if (dinp)
        NN_NOTNULL(fn, w);
    if (dw)
        NN_NOTNULL(fn, inp);
    attn_status st = check_linear(fn, N, C, OC);
    if (st != ATTN_OK)
        return st;
    attn_nn_linear_bwd(dinp, dw, db, dout, inp, w, N, C, OC);
    return ATTN_OK;
}

/* ---- embedding ---- */

/* The sizes and ids of an embedding call: N, C, V >= 0, (N + V) x C floats
 * addressable (out or dout, and the table), then every id in [0, V); no id
 * is read before the sizes pass. */
static attn_status check_embedding(const char *fn, const int64_t *ids, int64_t N, int64_t C, int64_t V)
{
    int64_t rows, t;
    NN_NONNEG(fn, N);
    NN_NONNEG(fn, C);
    NN_NONNEG(fn, V);
    attn_status st = size_sum(fn, "N", N, "V", V, &rows);
    if (st == ATTN_OK)
        st = attn_nn_size3(fn, rows, C, 1, &t);
    if (st != ATTN_OK)
        return st;
    for (int64_t n = 0; n < N; n++)
        if (ids[n] < 0 || ids[n] >= V)
            return attn_fail(ATTN_ERR_INVALID, "%s: ids[%lld] = %lld is outside [0, V = %lld)", fn, (long long)n,
                             (long long)ids[n], (long long)V);
    return ATTN_OK;
}

/* out (N, C) row n = table (V, C) row ids[n] */
attn_status attn_embedding_forward(float *out, const int64_t *ids, const float *table, int64_t N, int64_t C,
                                   int64_t V)
{
    static const char fn[] = "attn_embedding_forward";
    NN_NOTNULL(fn, out);
    NN_NOTNULL(fn, ids);
    NN_NOTNULL(fn, table);
    attn_status st = check_embedding(fn, ids, N, C, V);
    if (st != ATTN_OK)
        return st;
    for (int64_t n = 0; n < N; n++)
        memcpy(out + n * C, table + ids[n] * C, (size_t)C * sizeof(float));
    return ATTN_OK;
}

attn_status attn_embedding_backward(float *dtable, const float *dout, const int64_t *ids, int64_t N, int64_t C,
                                    int64_t V)
{
    static const char fn[] = "attn_embedding_backward";
    NN_NOTNULL(fn, dtable);
    NN_NOTNULL(fn, dout);
    NN_NOTNULL(fn, ids);
    attn_status st = check_embedding(fn, ids, N, C, V);
    if (st != ATTN_OK)
        return st;
    /* forward: out[n][c] = table[ids[n]][c]; serial in n so repeated ids add in a fixed order */
    for (int64_t n = 0; n < N; n++)
        for (int64_t c = 0; c < C; c++)
            dtable[ids[n] * C + c] += dout[n * C + c];
    return ATTN_OK;
}

/* ---- positional encodings ---- */

static attn_status check_btc(const char *fn, int64_t B, int64_t T, int64_t C)
{
    int64_t t;
    NN_NONNEG(fn, B);
    NN_NONNEG(fn, T);
    NN_NONNEG(fn, C);
    return attn_nn_size3(fn, B, T, C, &t);
}

/* out (B, T, C) = inp + PE(pos0 + t); PE[2i] = sin(t w_i), PE[2i+1] = cos(t w_i), w_i = 10000^(-2i/C) */
attn_status attn_posenc_sinusoidal_forward(float *out, const float *inp, int64_t B, int64_t T, int64_t C,
                                           int64_t pos0)
{
    static const char fn[] = "attn_posenc_sinusoidal_forward";
    NN_NOTNULL(fn, out);
    NN_NOTNULL(fn, inp);
    NN_NONNEG(fn, pos0);
    attn_status st = check_btc(fn, B, T, C);
    if (st != ATTN_OK)
        return st;
    for (int64_t t = 0; t < T; t++)
        for (int64_t c = 0; c < C; c++) {
            double ang = (double)(pos0 + t) * pow(10000.0, -(double)(c & ~(int64_t)1) / (double)C);
            double pe = (c & 1) ? cos(ang) : sin(ang);
            for (int64_t b = 0; b < B; b++) {
                int64_t o = (b * T + t) * C + c;
                out[o] = (float)((double)inp[o] + pe);
            }
        }
    return ATTN_OK;
}

attn_status attn_posenc_sinusoidal_backward(float *dinp, const float *dout, int64_t B, int64_t T, int64_t C)
{
    static const char fn[] = "attn_posenc_sinusoidal_backward";
    NN_NOTNULL(fn, dinp);
    NN_NOTNULL(fn, dout);
    attn_status st = check_btc(fn, B, T, C);
    if (st != ATTN_OK)
        return st;
    /* forward: out = inp + pe */
    for (int64_t e = 0; e < B * T * C; e++)
        dinp[e] += dout[e];
    return ATTN_OK;
}

/* out (B, T, C) = inp + table[pos0 + t], table (Tmax, C) */
attn_status attn_posenc_learned_forward(float *out, const float *inp, const float *table, int64_t B, int64_t T,
                                        int64_t C, int64_t pos0, int64_t Tmax)
{
    static const char fn[] = "attn_posenc_learned_forward";
    NN_NOTNULL(fn, out);
    NN_NOTNULL(fn, inp);
    NN_NOTNULL(fn, table);
    NN_NONNEG(fn, pos0);
    attn_status st = check_btc(fn, B, T, C);
    if (st != ATTN_OK)
        return st;
    if (pos0 > Tmax || T > Tmax - pos0)
        return attn_fail(ATTN_ERR_INVALID, "%s: positions %lld..%lld exceed the table's Tmax = %lld", fn,
                         (long long)pos0, (long long)(pos0 + T - 1), (long long)Tmax);
    for (int64_t b = 0; b < B; b++)
        for (int64_t t = 0; t < T; t++)
            for (int64_t c = 0; c < C; c++)
                out[(b * T + t) * C + c] = inp[(b * T + t) * C + c] + table[(pos0 + t) * C + c];
    return ATTN_OK;
}

attn_status attn_posenc_learned_backward(float *dinp, float *dtable, const float *dout, int64_t B, int64_t T,
                                         int64_t C, int64_t pos0, int64_t Tmax)
{
    static const char fn[] = "attn_posenc_learned_backward";
    NN_NOTNULL(fn, dout);
    NN_NONNEG(fn, pos0);
    attn_status st = check_btc(fn, B, T, C);
    if (st != ATTN_OK)
        return st;
    if (pos0 > Tmax || T > Tmax - pos0)
        return attn_fail(ATTN_ERR_INVALID, "%s: positions %lld..%lld exceed the table's Tmax = %lld", fn,
                         (long long)pos0, (long long)(pos0 + T - 1), (long long)Tmax);
    /* forward: out[b][t][c] = inp[b][t][c] + table[pos0 + t][c] */
    for (int64_t b = 0; b < B; b++)
        for (int64_t t = 0; t < T; t++)
            for (int64_t c = 0; c < C; c++) {
                float g = dout[(b * T + t) * C + c];
                if (dinp)
                    dinp[(b * T + t) * C + c] += g;
                if (dtable)
                    dtable[(pos0 + t) * C + c] += g;
            }
    return ATTN_OK;
}

/* Rotate x (B, T, H, D) pairwise by +angle (sign 1) or -angle (sign -1, the
 * transpose), adding into out when accumulate. */
static attn_status rope(const char *fn, float *out, const float *inp, int64_t B, int64_t T, int64_t H, int64_t D,
                        int64_t pos0, double base, double sign, int accumulate)
{
    int64_t tmp;
    NN_NOTNULL(fn, out);
    NN_NOTNULL(fn, inp);
    NN_NONNEG(fn, B);
    NN_NONNEG(fn, T);
    NN_NONNEG(fn, H);
    NN_NONNEG(fn, D);
    NN_NONNEG(fn, pos0);
    if (D % 2)
        return attn_fail(ATTN_ERR_INVALID, "%s: D = %lld must be even", fn, (long long)D);
    if (base == 0)
        base = 10000.0;
    if (!(base > 1) || isinf(base))
        return attn_fail(ATTN_ERR_INVALID, "%s: base = %g must be > 1", fn, base);
    attn_status st = attn_nn_size3(fn, B * T > 0 ? B * T : 0, H, D, &tmp);
    if (st != ATTN_OK || (st = attn_nn_size3(fn, B, T, 1, &tmp)) != ATTN_OK)
        return st;
    for (int64_t t = 0; t < T; t++)
        for (int64_t i = 0; i < D / 2; i++) {
            double ang = (double)(pos0 + t) * pow(base, -2.0 * (double)i / (double)D);
            double cs = cos(ang), sn = sign * sin(ang);
            for (int64_t b = 0; b < B; b++)
                for (int64_t h = 0; h < H; h++) {
                    int64_t o = ((b * T + t) * H + h) * D + 2 * i;
                    double x0 = inp[o], x1 = inp[o + 1];
                    double y0 = x0 * cs - x1 * sn, y1 = x0 * sn + x1 * cs;
                    if (accumulate) {
                        out[o] += (float)y0;
                        out[o + 1] += (float)y1;
                    } else {
                        out[o] = (float)y0;
                        out[o + 1] = (float)y1;
                    }
                }
        }
    return ATTN_OK;
}

attn_status attn_rope_forward(float *out, const float *inp, int64_t B, int64_t T, int64_t H, int64_t D,
                              int64_t pos0, double base)
{
    return rope("attn_rope_forward", out, inp, B, T, H, D, pos0, base, 1.0, 0);
}

attn_status attn_rope_backward(float *dinp, const float *dout, int64_t B, int64_t T, int64_t H, int64_t D,
                               int64_t pos0, double base)
{
    /* forward: y = R(angle) x, so dx += R(angle)^T dy = R(-angle) dy */
    return rope("attn_rope_backward", dinp, dout, B, T, H, D, pos0, base, -1.0, 1);
}

/* ---- layer norm ---- */

/* out (N, C) = (inp - mean) * rstd * w + b; mean, rstd (N) */
void attn_nn_layernorm_fwd(float *out, float *mean, float *rstd, const float *inp, const float *w, const float *b,
                           int64_t N, int64_t C, double eps)
{
    int nth = attn_nn_threads(8.0 * (double)N * (double)C);
#pragma omp parallel for num_threads(nth) schedule(static)
    for (int64_t n = 0; n < N; n++) {
        const float *x = inp + n * C;
        double m = 0, v = 0;
        for (int64_t c = 0; c < C; c++)
            m += x[c];
        m /= (double)C;
        for (int64_t c = 0; c < C; c++)
            v += ((double)x[c] - m) * ((double)x[c] - m);
        v /= (double)C;
        double r = 1.0 / sqrt(v + eps);
        for (int64_t c = 0; c < C; c++)
            out[n * C + c] = (float)(((double)x[c] - m) * r * w[c] + b[c]);
        mean[n] = (float)m;
        rstd[n] = (float)r;
    }
}

void attn_nn_layernorm_bwd(float *dinp, float *dw, float *db, const float *dout, const float *inp, const float *w,
                           const float *mean, const float *rstd, int64_t N, int64_t C)
{
    /* forward: norm = (inp - mean) * rstd;  out = norm * w + b */
    if (dinp) {
        int nth = attn_nn_threads(8.0 * (double)N * (double)C);
#pragma omp parallel for num_threads(nth) schedule(static)
        for (int64_t n = 0; n < N; n++) {
            const float *x = inp + n * C, *dy = dout + n * C;
            double m = mean[n], r = rstd[n], sd = 0, sdn = 0;
            for (int64_t c = 0; c < C; c++) { /* dnorm = dout * w */
                double dn = (double)dy[c] * w[c];
                sd += dn;
                sdn += dn * ((double)x[c] - m) * r;
            }
            sd /= (double)C;
            sdn /= (double)C;
            for (int64_t c = 0; c < C; c++) { /* dinp += rstd (dnorm - mean(dnorm) - norm mean(dnorm norm)) */
                double norm = ((double)x[c] - m) * r;
                dinp[n * C + c] += (float)(r * ((double)dy[c] * w[c] - sd - norm * sdn));
            }
        }
    }
    if (dw || db)
        for (int64_t n = 0; n < N; n++) /* dw += dout * norm;  db += dout (serial in n: fixed order) */
            for (int64_t c = 0; c < C; c++) {
                float dy = dout[n * C + c];
                if (dw)
                    dw[c] += dy * (float)(((double)inp[n * C + c] - mean[n]) * rstd[n]);
                if (db)
                    db[c] += dy;
            }
}

attn_status attn_layernorm_forward(float *out, float *mean, float *rstd, const float *inp, const float *w,
                                   const float *b, int64_t N, int64_t C, double eps)
{
    static const char fn[] = "attn_layernorm_forward";
    int64_t t;
    NN_NOTNULL(fn, out);
    NN_NOTNULL(fn, mean);
    NN_NOTNULL(fn, rstd);
    NN_NOTNULL(fn, inp);
    NN_NOTNULL(fn, w);
    NN_NOTNULL(fn, b);
    NN_NONNEG(fn, N);
    NN_POS(fn, C);
    if (!(eps >= 0) || isinf(eps))
        return attn_fail(ATTN_ERR_INVALID, "%s: eps = %g must be finite and >= 0", fn, eps);
    attn_status st = attn_nn_size3(fn, N, C, 1, &t);
    if (st != ATTN_OK)
        return st;
    attn_nn_layernorm_fwd(out, mean, rstd, inp, w, b, N, C, eps);
    return ATTN_OK;
}

attn_status attn_layernorm_backward(float *dinp, float *dw, float *db, const float *dout, const float *inp,
                                    const float *w, const float *mean, const float *rstd, int64_t N, int64_t C)
{
    static const char fn[] = "attn_layernorm_backward";
    int64_t t;
    NN_NOTNULL(fn, dout);
    NN_NOTNULL(fn, inp);
    NN_NOTNULL(fn, w);
    NN_NOTNULL(fn, mean);
    NN_NOTNULL(fn, rstd);
    NN_NONNEG(fn, N);
    NN_POS(fn, C);
    attn_status st = attn_nn_size3(fn, N, C, 1, &t);
    if (st != ATTN_OK)
        return st;
    attn_nn_layernorm_bwd(dinp, dw, db, dout, inp, w, mean, rstd, N, C);
    return ATTN_OK;
}

/* ---- activations ---- */

#define INV_SQRT2 0.70710678118654752440
#define INV_SQRT2PI 0.39894228040143267794

/* out = relu(inp) or gelu(inp) = inp * Phi(inp), exact erf form */
void attn_nn_act_fwd(float *out, const float *inp, int64_t n, attn_act act)
{
    for (int64_t e = 0; e < n; e++) {
        double x = inp[e];
        out[e] = act == ATTN_ACT_RELU ? (x > 0 ? (float)x : 0.0f) : (float)(0.5 * x * (1.0 + erf(x * INV_SQRT2)));
    }
}

void attn_nn_act_bwd(float *dinp, const float *dout, const float *inp, int64_t n, attn_act act)
{
    for (int64_t e = 0; e < n; e++) {
        double x = inp[e], g;
        if (act == ATTN_ACT_RELU) /* forward: out = x > 0 ? x : 0 */
            g = x > 0 ? 1.0 : 0.0;
        else /* forward: out = x Phi(x);  d/dx = Phi(x) + x phi(x) */
            g = 0.5 * (1.0 + erf(x * INV_SQRT2)) + x * INV_SQRT2PI * exp(-0.5 * x * x);
        dinp[e] += (float)(dout[e] * g);
    }
}

static attn_status check_act(const char *fn, int64_t n, attn_act act)
{
    NN_NONNEG(fn, n);
    if (act != ATTN_ACT_RELU && act != ATTN_ACT_GELU)
        return attn_fail(ATTN_ERR_INVALID, "%s: unknown activation %d", fn, (int)act);
    return ATTN_OK;
}

attn_status attn_act_forward(float *out, const float *inp, int64_t n, attn_act act)
{
    static const char fn[] = "attn_act_forward";
    NN_NOTNULL(fn, out);
    NN_NOTNULL(fn, inp);
    attn_status st = check_act(fn, n, act);
    if (st == ATTN_OK)
        attn_nn_act_fwd(out, inp, n, act);
    return st;
}

attn_status attn_act_backward(float *dinp, const float *dout, const float *inp, int64_t n, attn_act act)
{
    static const char fn[] = "attn_act_backward";
    NN_NOTNULL(fn, dinp);
    NN_NOTNULL(fn, dout);
    NN_NOTNULL(fn, inp);
    attn_status st = check_act(fn, n, act);
    if (st == ATTN_OK)
        attn_nn_act_bwd(dinp, dout, inp, n, act);
    return st;
}

/* ---- dropout ---- */

static int dropout_keep(uint64_t seed, int64_t e, uint32_t threshold)
{
    return (attn_dropout_bits(attn_dropout_row(seed, 0, 0, e), 0) >> 8) >= threshold;
}

/* out (n) = inp * keep(seed, e) / (1 - p) */
void attn_nn_dropout_fwd(float *out, const float *inp, int64_t n, double p, uint64_t seed)
{
    if (p == 0) {
        if (out != inp)
            memmove(out, inp, (size_t)n * sizeof(float));
        return;
    }
    uint32_t th = attn_dropout_threshold(p);
    float scale = (float)(1.0 / (1.0 - p));
    for (int64_t e = 0; e < n; e++)
        out[e] = dropout_keep(seed, e, th) ? inp[e] * scale : 0.0f;
}

void attn_nn_dropout_bwd(float *dinp, const float *dout, int64_t n, double p, uint64_t seed)
{
    /* forward: out[e] = keep(e) ? inp[e] * scale : 0 */
    uint32_t th = attn_dropout_threshold(p);
    float scale = (float)(1.0 / (1.0 - p));
    for (int64_t e = 0; e < n; e++)
        if (p == 0)
            dinp[e] += dout[e];
        else if (dropout_keep(seed, e, th))
            dinp[e] += dout[e] * scale;
}

static attn_status check_dropout(const char *fn, int64_t n, double p)
{
    NN_NONNEG(fn, n);
    if (!(p >= 0 && p < 1))
        return attn_fail(ATTN_ERR_INVALID, "%s: p = %g is outside [0, 1)", fn, p);
    return ATTN_OK;
}

attn_status attn_dropout_forward(float *out, const float *inp, int64_t n, double p, uint64_t seed)
{
    static const char fn[] = "attn_dropout_forward";
    NN_NOTNULL(fn, out);
    NN_NOTNULL(fn, inp);
    attn_status st = check_dropout(fn, n, p);
    if (st == ATTN_OK)
        attn_nn_dropout_fwd(out, inp, n, p, seed);
    return st;
}

attn_status attn_dropout_backward(float *dinp, const float *dout, int64_t n, double p, uint64_t seed)
{
    static const char fn[] = "attn_dropout_backward";
    NN_NOTNULL(fn, dinp);
    NN_NOTNULL(fn, dout);
    attn_status st = check_dropout(fn, n, p);
    if (st == ATTN_OK)
        attn_nn_dropout_bwd(dinp, dout, n, p, seed);
    return st;
}

/* ---- declaring parameters ---- */

attn_status attn_nn_add(attn_model *m, const char *prefix, const char *name, int rank, int64_t s0, int64_t s1,
                        attn_init init, double scale, int64_t *offset)
{
    char full[ATTN_PARAM_NAME_MAX + 64];
    int64_t shape[2] = {s0, s1};
    snprintf(full, sizeof full, "%s%s%s", prefix ? prefix : "", prefix && *prefix ? "." : "", name);
    return attn_model_add(m, full, rank, shape, init, scale, offset);
}

/* ---- feed-forward block ---- */

attn_status attn_ffn_declare(attn_model *m, attn_ffn *l, const char *prefix, int64_t C, int64_t F, attn_act act,
                             int bias)
{
    static const char fn[] = "attn_ffn_declare";
    NN_NOTNULL(fn, m);
    NN_NOTNULL(fn, l);
    NN_POS(fn, C);
    NN_POS(fn, F);
    if (act != ATTN_ACT_RELU && act != ATTN_ACT_GELU)
        return attn_fail(ATTN_ERR_INVALID, "%s: unknown activation %d", fn, (int)act);
    memset(l, 0, sizeof *l);
    l->C = C, l->F = F, l->act = act, l->bias = bias != 0;
    l->b1 = l->b2 = -1;
    double s1 = 1.0 / sqrt((double)C), s2 = 1.0 / sqrt((double)F);
    attn_status st;
    if ((st = attn_nn_add(m, prefix, "w1", 2, F, C, ATTN_INIT_UNIFORM, s1, &l->w1)) != ATTN_OK ||
        (bias && (st = attn_nn_add(m, prefix, "b1", 1, F, 0, ATTN_INIT_UNIFORM, s1, &l->b1)) != ATTN_OK) ||
        (st = attn_nn_add(m, prefix, "w2", 2, C, F, ATTN_INIT_UNIFORM, s2, &l->w2)) != ATTN_OK ||
        (bias && (st = attn_nn_add(m, prefix, "b2", 1, C, 0, ATTN_INIT_UNIFORM, s2, &l->b2)) != ATTN_OK))
        return st;
    return ATTN_OK;
}

int64_t attn_ffn_cache_floats(const attn_ffn *l, int64_t N) { return 2 * N * l->F; }

/* cache: pre (N, F) = inp @ w1^T + b1, hid (N, F) = act(pre);  out (N, C) = hid @ w2^T + b2 */
attn_status attn_ffn_forward(const attn_model *m, const attn_ffn *l, float *out, float *cache, const float *inp,
                             int64_t N)
{
    static const char fn[] = "attn_ffn_forward";
    int64_t t;
    attn_status st = attn_nn_check_layer(fn, m, l, cache);
    NN_NONNEG(fn, N);
    if (st != ATTN_OK)
        return st;
    NN_NOTNULL(fn, out);
    NN_NOTNULL(fn, inp);
    if ((st = attn_nn_size3(fn, N, l->F + l->C, 2, &t)) != ATTN_OK)
        return st;
    float *pre = cache, *hid = cache + N * l->F;
    attn_nn_linear_fwd(pre, inp, NN_P(m, l->w1), NN_P(m, l->b1), N, l->C, l->F);
    attn_nn_act_fwd(hid, pre, N * l->F, l->act);
    attn_nn_linear_fwd(out, hid, NN_P(m, l->w2), NN_P(m, l->b2), N, l->F, l->C);
    return ATTN_OK;
}

attn_status attn_ffn_backward(attn_model *m, const attn_ffn *l, float *dinp, const float *dout, const float *cache,
                              const float *inp, int64_t N)
{
    static const char fn[] = "attn_ffn_backward";
    int64_t t;
    attn_status st = attn_nn_check_layer(fn, m, l, cache);
    NN_NONNEG(fn, N);
    if (st != ATTN_OK)
        return st;
    NN_NOTNULL(fn, dout);
    NN_NOTNULL(fn, inp);
    if ((st = attn_nn_size3(fn, N, l->F + l->C, 2, &t)) != ATTN_OK)
        return st;
    const float *pre = cache, *hid = cache + N * l->F;
    float *dhid = attn_nn_scratch(2 * N * l->F, "attn_ffn_backward scratch");
    if (!dhid)
        return ATTN_ERR_NOMEM;
    float *dpre = dhid + N * l->F;
    memset(dhid, 0, (size_t)(2 * N * l->F) * sizeof(float));
    attn_nn_linear_bwd(dhid, NN_G(m, l->w2), NN_G(m, l->b2), dout, hid, NN_P(m, l->w2), N, l->F, l->C);
    attn_nn_act_bwd(dpre, dhid, pre, N * l->F, l->act);
    attn_nn_linear_bwd(dinp, NN_G(m, l->w1), NN_G(m, l->b1), dpre, inp, NN_P(m, l->w1), N, l->C, l->F);
    attn_free(dhid);
    return ATTN_OK;
}
