/*
 * flash_bwd.c - the tiled attention backward, portable driver.
 *
 * A work item is one block of BK keys of one (b, hk); the keys are the lanes.
 * The item packs K^T, V^T and scale * K (rows of non-finite values zeroed,
 * see below) once, then for every query head h of the group and every block
 * of BQ query rows that sees any of its keys:
 *     S   = (scale Q) K^T        (BQ x BK)  gemm_a, summed as the forward does
 *                                so that exp(S - lse) sees the same S
 *     steps 2-5 where needed (masks -> -inf), P = exp(S - lse)
 *     dP  = dO V^T               gemm_a,  times the dropout factors Z
 *     dS  = P * (dP - rowsum(dO * O)) [* (1 - tanh^2) soft-cap],
 *           exactly 0 where P == 0 (hidden keys: no 0 * NaN)
 *     dV^T += dO^T (P*Z)         gemm_b (the item's own accumulator)
 *     dK^T += (scale Q)^T dS     gemm_b
 *     dQ   += dS (scale K)       gemm_a into the unit's partial dQ (below)
 * dK and dV of a key block are written by the one item that owns it.  dQ
 * is summed in S partial buffers per (b, hk): unit (b, hk, s) runs the key
 * blocks kb = s, s + S, ... of its head in order, on one thread, adding into
 * its own buffer (group x Lq x D); at the end dq = the S buffers added in
 * order of s.  Units are handed out dynamically, and since a unit's sum
 * does not depend on the thread that runs it, the result is bitwise
 * repeatable for a fixed thread count (S depends only on the thread count
 * and the sizes).  No atomics.
 *
 * Memory: S partial dQ (S x B x Hq x Lq x D, S chosen within DQ_PARTIAL_MIB, or
 * beyond it only as far as one unit per thread) besides O(BK * D) tiles per thread; no Lq x Lk
 * matrix.
 *
 * The cosine score s = scale qh_i . kh_j of the unit rows qh_i = q_i / a_i,
 * kh_j = k_j / b_j (a_i = max(|q_i|, 1e-12), b_j = max(|k_j|, 1e-12)) runs
 * the same products with "scale Q" the rows scale qh_i, rounded as the
 * forward rounds them ((float)(scale / a_i) q_i), S's column j times the
 * forward's (float)(1 / b_j), and "scale K" the rows scale kh_j.  dQ and dK
 * are then G = scale dS Kh and H = scale dS^T Qh, the gradients with respect
 * to the unit rows; the chain rule through the normalisation follows once
 * dQ's partials are summed and once the item's dK has every query head of
 * the group (it is linear, so sums may come first):
 *     dq_i = (G_i - [|q_i| > 1e-12] (G_i . qh_i) qh_i) / a_i
 *     dk_j = (H_j - [|k_j| > 1e-12] (H_j . kh_j) kh_j) / b_j
 * (below 1e-12 the clamped norm is a constant: no projection).
 */
#include "core/dropout.h"
#include "kernels/kernels.h"

#include <math.h>
#include <omp.h>
#include <string.h>

#define BK 192 /* keys (lanes) per item, at most */
#define BQ 128 /* query rows per step */
/* The partial dQ buffers' budget: 16 MiB keeps them in a 32 MiB L3 cache
 * beside everything else (at 32 MiB a one-head D=128 backward on two threads
 * ran 12 % slower in an in-process A/B on Zen 3). */
#define DQ_PARTIAL_MIB 16

static int64_t round_up(int64_t x, int64_t m) { return (x + m - 1) / m * m; }

/* Steps 2-5 on s[0..nk) of row i (keys j0..): hidden keys -inf; t (optional)
 * receives the soft-capped scores' tanh for the chain rule. */
static void mods_row(const attn_problem *p, int64_t b, int64_t h, int64_t i, int64_t lo, int64_t hi, int64_t diag,
                     int64_t j0, int64_t nk, float *s, float *t)
{
    const unsigned char *mask = p->has_mask ? (const unsigned char *)p->mask.data : NULL;
    float cap = (float)p->softcap, slope = p->alibi ? p->alibi[h] : 0.0f;
    for (int64_t jj = 0; jj < nk; jj++) {
        int64_t j = j0 + jj;
        if (j < lo || j >= hi || (mask && !mask[attn_off4(&p->mask, b, h, i, j)])) {
            s[jj] = -INFINITY;
            continue;
        }
        float x = s[jj];
        if (cap > 0) {
            float th = tanhf(x / cap);
            t[jj] = th;
            x = cap * th;
        }
        if (p->alibi)
            x -= slope * fabsf((float)(diag - j));
        if (p->has_bias)
            x += (float)attn_load(p->bias.data, p->bias.dtype, attn_off4(&p->bias, b, h, i, j));
        s[jj] = x;
    }
}

typedef struct bwd_ws {
    float *kt, *vt, *kn, *dkt, *dvt; /* D x R, Dv x R, BK x Dp, D x R, Dv x R */
    float *kinv;                     /* BK: cosine, 1 / max(|k_j|, 1e-12) as the forward rounds it */
    float *s, *dp, *t;               /* BQ x R each */
    float *qpack, *dopack;           /* BQ x D, BQ x Dv: strided q / dout only */
    float *lse, *di;                 /* BQ */
    float *zero;                     /* max(D, Dv) zeros */
    const float **qrows, **dorows, **srows;
    const float **qrows_k, **dorows_v; /* the same rows, a non-finite one replaced by zero */
} bwd_ws;

static bool finite_row(const float *x, int64_t n)
{
    float acc = 0;
    for (int64_t d = 0; d < n; d++)
        acc += x[d] * 0.0f;
    return acc == 0.0f;
}

/* The cosine score's chain rule through xh = x / a, a = max(|x|, 1e-12),
 * in double: g[0], g[gs], .. g[(n-1) gs], the gradient with respect to xh
 * of row x = (a0, a1, a2, :) of view xv, becomes the gradient with respect
 * to x, (g - [|x| > 1e-12] (g . xh) xh) / a.  A row x holding NaN or Inf
 * keeps g as it is: NaN if the row met a visible key, 0 if it met none (a
 * hidden key's gradient stays 0). */
static void cosine_grad(float *g, int64_t gs, const float *x, const attn_view4 *xv, int64_t a0, int64_t a1,
                        int64_t a2, int64_t n)
{
    double nx = attn_row_norm(xv, a0, a1, a2, n);
    if (!isfinite(nx))
        return;
    double a = fmax(nx, 1e-12), gx = 0;
    if (nx > 1e-12)
        for (int64_t d = 0; d < n; d++)
            gx += (double)g[d * gs] * x[attn_off4(xv, a0, a1, a2, d)] / a;
    for (int64_t d = 0; d < n; d++)
        g[d * gs] = (float)((g[d * gs] - gx * x[attn_off4(xv, a0, a1, a2, d)] / a) / a);
}

/* NaN or Inf in a row of Q, K or dO must reach only the gradients of the
 * pairs that row is part of (docs/SEMANTICS.md): in a product over pairs
 * where some are hidden, 0 * NaN would spread it.  So a non-finite row is
 * replaced by zeros in the products that multiply it by an exactly-zero
 * factor of a hidden pair (dQ += dS K, dK += dS^T Q, dV += (P Z)^T dO): for
 * K and Q the visible pairs carry it anyway, through S and then dS; for dO,
 * which does not reach P, dV adds it back for the pairs with P Z != 0. */

static void bwd_item(const attn_problem *p, const attn_ukernels *uk, bwd_ws *w, const int64_t *rlo,
                     const int64_t *rhi, const int64_t *rdiag, const float *dout_dot_out, const float *qscale,
                     const unsigned char *rowbad, float *udq, int64_t Dp, int64_t b, int64_t hk, int64_t j0,
                     int64_t nk)
{
    const int64_t D = p->Dq, Dv = p->Dv, R = round_up(nk, ATTN_LANES);
    const float *k = p->k.data, *v = p->v.data, scale = (float)p->scale, cap = (float)p->softcap;
    const bool cosine = p->score == ATTN_SCORE_COSINE;
    const uint32_t threshold = attn_dropout_threshold(p->dropout_p);
    const float keep_scale = (float)(1.0 / (1.0 - p->dropout_p));
    memset(w->kt, 0, (size_t)(D * R) * sizeof(float));
    memset(w->vt, 0, (size_t)(Dv * R) * sizeof(float));
    memset(w->kn, 0, (size_t)(nk * Dp) * sizeof(float));
    memset(w->dkt, 0, (size_t)(D * R) * sizeof(float));
    memset(w->dvt, 0, (size_t)(Dv * R) * sizeof(float));
    for (int64_t jj = 0; jj < nk; jj++) {
        float *kr = w->kn + jj * Dp, ks = scale; /* cosine: scale / b_j, for scale kh_j */
        if (cosine) {
            double norm = attn_row_norm(&p->k, b, hk, j0 + jj, D);
            w->kinv[jj] = attn_cosine_factor(1.0, norm);
            ks = attn_cosine_factor(p->scale, norm);
        }
        for (int64_t d = 0; d < D; d++) {
            float x = k[attn_off4(&p->k, b, hk, j0 + jj, d)];
            w->kt[d * R + jj] = x;
            kr[d] = ks * x;
        }
        if (!finite_row(kr, D)) /* a visible one propagates through dS instead */
            memset(kr, 0, (size_t)D * sizeof(float));
        for (int64_t d = 0; d < Dv; d++)
            w->vt[d * R + jj] = v[attn_off4(&p->v, b, hk, j0 + jj, d)];
    }
    const bool elementwise = p->softcap > 0 || p->alibi || p->has_bias || p->has_mask;
    const float *q = p->q.data, *dout = p->dout.data, *lse = p->lse.data;
    const bool do_unit = p->dout.st[3] == 1 || Dv <= 1, q_unit = p->q.st[3] == 1 || D <= 1;
    for (int64_t h = hk * p->group; h < (hk + 1) * p->group; h++) {
        for (int64_t i0 = 0; i0 < p->Lq; i0 += BQ) {
            int64_t nr = p->Lq - i0 < BQ ? p->Lq - i0 : BQ;
            const int64_t *lo = rlo + b * p->Lq + i0, *hi = rhi + b * p->Lq + i0;
            bool any = false, full = true;
            for (int64_t r = 0; r < nr; r++) {
                if (lo[r] < j0 + nk && hi[r] > j0)
                    any = true;
                if (lo[r] > j0 || hi[r] < j0 + nk)
                    full = false;
            }
            if (!any)
                continue;
            for (int64_t r = 0; r < nr; r++) {
                int64_t i = i0 + r;
                /* scale * q (cosine: scale / a_i * q), as the forward packs it: S is bitwise the forward's */
                const float *qr = q + attn_off4(&p->q, b, h, i, 0);
                const float qs = qscale[(b * p->Hq + h) * p->Lq + i];
                float *qd = w->qpack + r * D;
                if (q_unit) /* a loop the compiler vectorises */
                    for (int64_t d = 0; d < D; d++)
                        qd[d] = qs * qr[d];
                else
                    for (int64_t d = 0; d < D; d++)
                        qd[d] = qs * qr[d * p->q.st[3]];
                w->qrows[r] = w->qpack + r * D;
                if (do_unit)
                    w->dorows[r] = dout + attn_off4(&p->dout, b, h, i, 0);
                else {
                    for (int64_t d = 0; d < Dv; d++)
                        w->dopack[r * Dv + d] = dout[attn_off4(&p->dout, b, h, i, d)];
                    w->dorows[r] = w->dopack + r * Dv;
                }
                unsigned char bad = rowbad[(b * p->Hq + h) * p->Lq + i];
                w->qrows_k[r] = bad & 1 ? w->zero : w->qrows[r];
                w->dorows_v[r] = bad & 2 ? w->zero : w->dorows[r];
                w->di[r] = dout_dot_out[(b * p->Hq + h) * p->Lq + i];
                w->lse[r] = lse[attn_off4(&p->lse, b, h, i, 0)];
                w->srows[r] = w->s + r * R;
            }
            uk->gemm_a(nr, D, R, w->kt, R, w->qrows, w->s, R, 0, NULL);
            if (cosine) /* column j times 1 / b_j, as the forward */
                for (int64_t r = 0; r < nr; r++)
                    for (int64_t jj = 0; jj < nk; jj++)
                        w->s[r * R + jj] *= w->kinv[jj];
            if (!full || elementwise || R != nk)
                for (int64_t r = 0; r < nr; r++) {
                    float *s = w->s + r * R;
                    int64_t i = i0 + r;
                    mods_row(p, b, h, i, lo[r], hi[r], rdiag[b * p->Lq + i], j0, nk, s, w->t + r * R);
                    for (int64_t jj = nk; jj < R; jj++)
                        s[jj] = -INFINITY;
                }
            for (int64_t r = 0; r < nr; r++) /* P = exp(S - lse); a row with lse -inf has no visible key */
                if (w->lse[r] == -INFINITY)
                    for (int64_t jj = 0; jj < R; jj++)
                        w->s[r * R + jj] = -INFINITY;
            uk->exp_sub(w->s, w->s, nr * R, w->lse, R);
            uk->gemm_a(nr, Dv, R, w->vt, R, w->dorows, w->dp, R, 0, NULL);
            if (p->dropout_p == 0 && cap == 0) /* dS = P (dP - D), vectorised */
                uk->dsoftmax(w->s, w->dp, nr * R, R, w->di, 1.0f);
            else {
                for (int64_t r = 0; r < nr; r++) {
                    float *pr = w->s + r * R, *dpr = w->dp + r * R, di = w->di[r];
                    uint64_t drow = p->dropout_p > 0 ? attn_dropout_row(p->dropout_seed, b, h, i0 + r) : 0;
                    for (int64_t jj = 0; jj < R; jj++) {
                        float pw = pr[jj], z = 1.0f;
                        if (p->dropout_p > 0)
                            z = jj < nk && (attn_dropout_bits(drow, j0 + jj) >> 8) >= threshold ? keep_scale : 0.0f;
                        float ds = pw == 0 ? 0.0f : pw * (dpr[jj] * z - di);
                        if (cap > 0 && pw != 0) {
                            float th = w->t[r * R + jj];
                            ds *= 1.0f - th * th;
                        }
                        dpr[jj] = ds; /* dp now holds dS, s holds P * Z (-0 where dropout zeroed a visible key) */
                        pr[jj] = z != 0 ? pw * z : attn_dropped_weight(pw);
                    }
                }
            }
            uk->gemm_b(Dv, nr, R, w->s, R, w->dorows_v, w->dvt, R, 1, NULL);
            uk->gemm_b(D, nr, R, w->dp, R, w->qrows_k, w->dkt, R, 1, NULL);
            for (int64_t r = 0; r < nr; r++) /* a non-finite dO row: only the keys its row sees */
                if (w->dorows_v[r] == w->zero)
                    for (int64_t jj = 0; jj < nk; jj++) {
                        float pz = w->s[r * R + jj];
                        if (!attn_hidden_weight(pz)) /* a dropped key too: 0 * NaN, as the reference */
                            for (int64_t d = 0; d < Dv; d++)
                                w->dvt[d * R + jj] += pz * w->dorows[r][d];
                    }
            for (int64_t r = 0; r < nr; r++)
                w->srows[r] = w->dp + r * R;
            float *dqrow = udq + ((h - hk * p->group) * p->Lq + i0) * Dp; /* the unit's buffer */
            uk->gemm_a(nr, nk, Dp, w->kn, Dp, w->srows, dqrow, Dp, 1, NULL);
        }
    }
    float *dk = p->dk.data, *dv = p->dv.data;
    for (int64_t jj = 0; jj < nk; jj++) {
        if (cosine) /* every query head of the group is in dK^T now */
            cosine_grad(w->dkt + jj, R, k, &p->k, b, hk, j0 + jj, D);
        for (int64_t d = 0; d < D; d++)
            dk[attn_off4(&p->dk, b, hk, j0 + jj, d)] = w->dkt[d * R + jj];
        for (int64_t d = 0; d < Dv; d++)
            dv[attn_off4(&p->dv, b, hk, j0 + jj, d)] = w->dvt[d * R + jj];
    }
}

attn_status attn_flash_backward(const attn_problem *p, const attn_ukernels *uk)
{
    const int64_t D = p->Dq, Dv = p->Dv, Dp = round_up(D > 0 ? D : 1, ATTN_LANES), R = round_up(BK, ATTN_LANES);
    int nt = p->threads;
    int64_t bk = BK; /* shorter items when threads would starve */
    while (bk > 48 && p->B * p->Hkv * ((p->Lk + bk - 1) / bk) < 4 * (int64_t)nt)
        bk /= 2;
    int64_t nkb = (p->Lk + bk - 1) / bk;
    int64_t rows = p->B * p->Hq * p->Lq;
    /* rows of dq with no item (Lk == 0 ...) must still be zero */
    size_t per = (size_t)(2 * D * R + 2 * Dv * R + BK * Dp + BK + 3 * BQ * R + BQ * D + BQ * Dv + 2 * BQ +
                          round_up(D + Dv, 16) + 10 * BQ + 64);
    size_t dq_n = (size_t)(rows * Dp);
    /* S partial dQ per (b, hk), as few as give every thread about eight
     * units (a thread the host pauses is then made up by the others), within
     * DQ_PARTIAL_MIB of partials, though always one unit per thread at least
     * (a long single head must not run on one thread). */
    const int64_t pairs = p->B * p->Hkv, unit_n = p->group * p->Lq * Dp;
    int64_t S = 1;
    while (pairs * S < 8 * (int64_t)nt && 2 * S <= nkb &&
           ((size_t)(2 * S) * dq_n * sizeof(float) <= ((size_t)DQ_PARTIAL_MIB << 20) || pairs * S < nt))
        S *= 2;
    float *ws = attn_alloc(per * sizeof(float) * (size_t)nt, "flash backward workspace");
    float *dqp = attn_alloc(dq_n * sizeof(float) * (size_t)S, "flash backward partial dq");
    int64_t *rr = attn_alloc((size_t)(3 * p->B * p->Lq + 1) * sizeof(int64_t), "flash backward row ranges");
    float *ddo = attn_alloc((size_t)(rows + 1) * sizeof(float), "flash backward rowsum(dO * O)");
    float *qscale = attn_alloc((size_t)(rows + 1) * sizeof(float), "flash backward q scales");
    unsigned char *rowbad = attn_alloc((size_t)(rows + 1), "flash backward non-finite rows");
    if (!ws || !dqp || !rr || !ddo || !qscale || !rowbad) {
        attn_free(ws), attn_free(dqp), attn_free(rr), attn_free(ddo), attn_free(qscale), attn_free(rowbad);
        return ATTN_ERR_NOMEM;
    }
    int64_t *rlo = rr, *rhi = rr + p->B * p->Lq, *rdiag = rr + 2 * p->B * p->Lq;
    for (int64_t b = 0; b < p->B; b++)
        for (int64_t i = 0; i < p->Lq; i++)
            attn_row_range(p, b, i, &rlo[b * p->Lq + i], &rhi[b * p->Lq + i], &rdiag[b * p->Lq + i]);
#pragma omp parallel num_threads(nt)
    {
        float *f = ws + per * (size_t)omp_get_thread_num();
        const float *dout = p->dout.data, *out = p->out.data;
#pragma omp for schedule(static)
        for (int64_t row = 0; row < rows; row++) { /* D_i = dO_i . O_i and q's scale, once per row */
            int64_t b = row / (p->Hq * p->Lq), h = row / p->Lq % p->Hq, i = row % p->Lq;
            qscale[row] = p->score == ATTN_SCORE_COSINE
                              ? attn_cosine_factor(p->scale, attn_row_norm(&p->q, b, h, i, D))
                              : (float)p->scale;
            float acc = 0, qz = 0, dz = 0; /* x * 0 is NaN iff x is NaN or Inf */
            for (int64_t d = 0; d < Dv; d++) {
                float g = dout[attn_off4(&p->dout, b, h, i, d)];
                acc += g * out[attn_off4(&p->out, b, h, i, d)];
                dz += g * 0.0f;
            }
            for (int64_t d = 0; d < D; d++)
                qz += qscale[row] * ((const float *)p->q.data)[attn_off4(&p->q, b, h, i, d)] * 0.0f; /* as packed */
            ddo[row] = acc;
            rowbad[row] = (unsigned char)((qz != 0.0f) | (dz != 0.0f) << 1);
        }
        bwd_ws w;
        w.kt = f, f += D * R;
        w.vt = f, f += Dv * R;
        w.kn = f, f += BK * Dp;
        w.dkt = f, f += D * R;
        w.dvt = f, f += Dv * R;
        w.kinv = f, f += BK;
        w.s = f, f += BQ * R;
        w.dp = f, f += BQ * R;
        w.t = f, f += BQ * R;
        w.qpack = f, f += BQ * D;
        w.dopack = f, f += BQ * Dv;
        w.lse = f, f += BQ;
        w.di = f, f += BQ;
        w.zero = f, f += round_up(D + Dv, 16); /* keeps the pointer arrays below aligned */
        memset(w.zero, 0, (size_t)(D + Dv) * sizeof(float));
        w.qrows = (const float **)f, f += 2 * BQ;
        w.dorows = (const float **)f, f += 2 * BQ;
        w.qrows_k = (const float **)f, f += 2 * BQ;
        w.dorows_v = (const float **)f, f += 2 * BQ;
        w.srows = (const float **)f;
#pragma omp for schedule(dynamic, 1)
        for (int64_t u = 0; u < pairs * S; u++) {
            int64_t pair = u / S, s = u % S;
            float *udq = dqp + (size_t)unit_n * (size_t)u;
            memset(udq, 0, (size_t)unit_n * sizeof(float));
            for (int64_t kb = s; kb < nkb; kb += S) {
                int64_t j0 = kb * bk;
                bwd_item(p, uk, &w, rlo, rhi, rdiag, ddo, qscale, rowbad, udq, Dp, pair / p->Hkv, pair % p->Hkv, j0,
                         p->Lk - j0 < bk ? p->Lk - j0 : bk);
            }
        }
        /* dq = the sum of its unit's S partials, in order of s (cosine: then the chain rule) */
        float *dq = p->dq.data;
#pragma omp for schedule(static)
        for (int64_t row = 0; row < rows; row++) {
            int64_t b = row / (p->Hq * p->Lq), h = row / p->Lq % p->Hq, i = row % p->Lq;
            const float *part = dqp + (size_t)unit_n * (size_t)((b * p->Hkv + h / p->group) * S) +
                                (size_t)((h % p->group * p->Lq + i) * Dp);
            for (int64_t d = 0; d < D; d++) {
                float acc = 0;
                for (int64_t s = 0; s < S; s++)
                    acc += part[(size_t)unit_n * (size_t)s + (size_t)d];
                dq[attn_off4(&p->dq, b, h, i, d)] = acc;
            }
            if (p->score == ATTN_SCORE_COSINE)
                cosine_grad(dq + attn_off4(&p->dq, b, h, i, 0), p->dq.st[3], p->q.data, &p->q, b, h, i, D);
        }
    }
    attn_free(ws), attn_free(dqp), attn_free(rr), attn_free(ddo), attn_free(qscale), attn_free(rowbad);
    return ATTN_OK;
}
