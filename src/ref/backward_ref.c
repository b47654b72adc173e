/*
 * backward_ref.c - the reference attention backward: readable, in double.
 *
 * The oracle for the fast backward kernels.  It differentiates the forward
 * of forward_ref.c, recomputing the scores row by row with the forward's own
 * attn_ref_row_scores (steps 1-5).  For each batch b,
 * key/value head hk, query head h reading hk and query i, with
 * z_ij the dropout factor (0 or 1/(1-p)) and t_ij the score before the
 * soft-cap:
 *
 *     o_i   = sum_j p_ij z_ij v_j                 forward step 8
 *     dv_j += p_ij z_ij do_i                       dV = (P*Z)^T dO
 *     dp_ij = z_ij (do_i . v_j)                    dP = Z * (dO V^T)
 *     ds_ij = p_ij (dp_ij - do_i . o_i)            softmax: sum_k p_ik dp_ik = do_i . o_i
 *     ds_ij *= 1 - tanh^2(t_ij / c)                soft-cap s = c tanh(t / c)
 *     dq_i += scale ds_ij k_j                      t = scale q_i . k_j
 *     dk_j += scale ds_ij q_i
 *
 * The cosine score t = scale qh_i . kh_j is the dot score of the unit vectors
 * qh_i = q_i / a_i, kh_j = k_j / b_j, with a_i = max(|q_i|, 1e-12) and
 * b_j = max(|k_j|, 1e-12): the same sums over those, then the chain rule
 * through the normalisation,
 *
 *     g_i = scale sum_j ds_ij kh_j      dq_i = (g_i - [|q_i| > 1e-12] (g_i . qh_i) qh_i) / a_i
 *     h_j = scale sum_i ds_ij qh_i      dk_j = (h_j - [|k_j| > 1e-12] (h_j . kh_j) kh_j) / b_j
 *
 * (below 1e-12 the clamped norm is a constant: no projection).  Under GQA
 * h_j sums every query head of the key's group first; the projection is
 * linear, so that is the sum of the heads' dk_j.
 *
 * ALiBi and the bias are constants added to the scores: they pass ds
 * through unchanged.  Hidden keys and rows with no visible key get zero.
 *
 * p_ij is recomputed here from the scores in double (the given lse is
 * checked for shape only): the oracle does not inherit the rounding of an
 * f32 forward.  o_i is the given out, as the fast kernels use it.
 *
 * Work is split over (b, hk) pairs; one thread owns the dK/dV of its pair
 * and sums its query heads in order, so the result does not depend on the
 * thread count.
 */
#include "core/dropout.h"
#include "core/internal.h"
#include "ref/ref.h"

#include <math.h>
#include <omp.h>
#include <string.h>

static double elem(const attn_view4 *t, int64_t a, int64_t b, int64_t c, int64_t d)
{
    return attn_load(t->data, t->dtype, attn_off4(t, a, b, c, d));
}

static double norm(const double *x, int64_t n)
{
    double n2 = 0;
    for (int64_t d = 0; d < n; d++)
        n2 += x[d] * x[d];
    return sqrt(n2);
}

/* The cosine score's chain rule through xh = x / a, a = max(|x|, 1e-12):
 * g (n values), the gradient with respect to xh, becomes the gradient with
 * respect to x, (g - [|x| > 1e-12] (g . xh) xh) / a.  A row x holding NaN or
 * Inf keeps g as it is: NaN if the row met a visible key, 0 if it met none
 * (a hidden key's gradient stays 0). */
static void cosine_grad(double *g, const double *x, int64_t n)
{
    double nx = norm(x, n);
    if (!isfinite(nx))
        return;
    double a = fmax(nx, 1e-12), gx = 0;
    if (nx > 1e-12)
        for (int64_t d = 0; d < n; d++)
            gx += g[d] * x[d] / a;
    for (int64_t d = 0; d < n; d++)
        g[d] = (g[d] - gx * x[d] / a) / a;
}

/* Per-thread scratch. */
typedef struct bwd_scratch {
    attn_ref_row row; /* the row's scores (steps 1-5), as the forward computes them */
    double *dk, *dv;  /* (Lk, Dk), (Lk, Dv): the pair's accumulators */
    double *dorow;    /* (Dv) */
    double *dqrow;    /* (Dq) */
    double *krow;     /* (Dk): cosine, k_j for its chain rule */
} bwd_scratch;

/* One query row's contribution: dq_i (stored), and dk/dv accumulated. */
static void row_backward(const attn_problem *p, bwd_scratch *w, int64_t b, int64_t h, int64_t i)
{
    int64_t hk = attn_kv_head(p, h);
    const double *s = w->row.s, *t = w->row.t, *qrow = w->row.qrow;
    for (int64_t d = 0; d < p->Dq; d++)
        w->dqrow[d] = 0;
    int64_t visible = attn_ref_row_scores(p, &w->row, b, h, i);
    const bool cosine = p->score == ATTN_SCORE_COSINE;
    double qa = cosine ? fmax(norm(qrow, p->Dq), 1e-12) : 1; /* a_i: dk sums scale ds qh_i */
    if (visible > 0) {
        double m = -INFINITY;
        for (int64_t j = 0; j < p->Lk; j++)
            if (s[j] > m || isnan(s[j]))
                m = isnan(m) ? m : s[j];
        double l = 0;
        for (int64_t j = 0; j < p->Lk; j++)
            if (s[j] != -INFINITY)
                l += exp(s[j] - m);
        double di = 0; /* do_i . o_i */
        for (int64_t d = 0; d < p->Dv; d++) {
            w->dorow[d] = elem(&p->dout, b, h, i, d);
            di += w->dorow[d] * elem(&p->out, b, h, i, d);
        }
        uint64_t drow = attn_dropout_row(p->dropout_seed, b, h, i);
        uint32_t threshold = attn_dropout_threshold(p->dropout_p);
        double keep_scale = 1.0 / (1.0 - p->dropout_p);
        for (int64_t j = 0; j < p->Lk; j++) {
            if (s[j] == -INFINITY)
                continue;
            double pij = exp(s[j] - m) / l;
            double z = 1.0;
            if (p->dropout_p > 0)
                z = (attn_dropout_bits(drow, j) >> 8) >= threshold ? keep_scale : 0.0;
            double dpij = 0;
            for (int64_t d = 0; d < p->Dv; d++) {
                w->dv[j * p->Dv + d] += pij * z * w->dorow[d]; /* z = 0 too: 0 * NaN is NaN, as in the forward */
                dpij += w->dorow[d] * elem(&p->v, b, hk, j, d);
            }
            dpij *= z;
            double ds = pij * (dpij - di);
            if (p->softcap > 0) {
                double th = tanh(t[j] / p->softcap);
                ds *= 1.0 - th * th;
            }
            ds *= p->scale;
            double kb = cosine ? fmax(w->row.knorm[j], 1e-12) : 1; /* b_j: dq sums scale ds kh_j */
            for (int64_t d = 0; d < p->Dk; d++) {
                w->dqrow[d] += ds * elem(&p->k, b, hk, j, d) / kb;
                w->dk[j * p->Dk + d] += ds * qrow[d] / qa;
            }
        }
    }
    if (cosine)
        cosine_grad(w->dqrow, qrow, p->Dq);
    for (int64_t d = 0; d < p->Dq; d++)
        attn_store(p->dq.data, p->dq.dtype, attn_off4(&p->dq, b, h, i, d), w->dqrow[d]);
}

attn_status attn_backward_ref(const attn_problem *p)
{
    if (p->score != ATTN_SCORE_SCALED_DOT && p->score != ATTN_SCORE_DOT && p->score != ATTN_SCORE_COSINE)
        return attn_fail(ATTN_ERR_UNSUPPORTED,
                         "attn_backward: the %s score has no backward; only scaled_dot, dot and cosine are "
                         "differentiated",
                         attn_score_name(p->score));
    int64_t per_thread = 0, kv = 0;
    /* kv: dk, dv; then s, t, knorm (Lk each), qrow, dqrow (Dq), dorow (Dv), krow (Dk) */
    if (!attn_mul_ok(p->Lk, p->Dk + p->Dv, &kv) ||
        !attn_add_ok(kv, 3 * p->Lk + 2 * p->Dq + p->Dv + p->Dk + 8, &per_thread) ||
        (uint64_t)per_thread > SIZE_MAX / 8 / ATTN_MAX_THREADS)
        return attn_fail(ATTN_ERR_OVERFLOW, "attn_backward: reference scratch of Lk=%lld x %lld overflows",
                         (long long)p->Lk, (long long)(p->Dk + p->Dv));
    int64_t pairs = p->B * p->Hkv;
    int threads = p->threads;
    if (pairs < threads)
        threads = pairs > 0 ? (int)pairs : 1;
    double *scratch = attn_alloc((size_t)per_thread * (size_t)threads * sizeof(double), "backward scratch");
    if (!scratch)
        return ATTN_ERR_NOMEM;

#pragma omp parallel num_threads(threads)
    {
        double *base = scratch + (size_t)omp_get_thread_num() * (size_t)per_thread;
        double *rest = base + kv + 3 * p->Lk;
        bwd_scratch w = {
            .row = {.s = base + kv, .t = base + kv + p->Lk, .knorm = base + kv + 2 * p->Lk, .qrow = rest},
            .dk = base,
            .dv = base + p->Lk * p->Dk,
            .dqrow = rest + p->Dq,
            .dorow = rest + 2 * p->Dq,
            .krow = rest + 2 * p->Dq + p->Dv,
        };
#pragma omp for schedule(static)
        for (int64_t pair = 0; pair < pairs; pair++) {
            int64_t b = pair / p->Hkv, hk = pair % p->Hkv;
            memset(w.dk, 0, (size_t)kv * sizeof(double));
            for (int64_t h = hk * p->group; h < (hk + 1) * p->group; h++) {
                attn_ref_prepare_keys(p, &w.row, b, h);
                for (int64_t i = 0; i < p->Lq; i++)
                    row_backward(p, &w, b, h, i);
            }
            for (int64_t j = 0; j < p->Lk; j++) {
                if (p->score == ATTN_SCORE_COSINE) { /* after every head of the group: the chain rule is linear */
                    for (int64_t d = 0; d < p->Dk; d++)
                        w.krow[d] = elem(&p->k, b, hk, j, d);
                    cosine_grad(w.dk + j * p->Dk, w.krow, p->Dk);
                }
                for (int64_t d = 0; d < p->Dk; d++)
                    attn_store(p->dk.data, p->dk.dtype, attn_off4(&p->dk, b, hk, j, d), w.dk[j * p->Dk + d]);
                for (int64_t d = 0; d < p->Dv; d++)
                    attn_store(p->dv.data, p->dv.dtype, attn_off4(&p->dv, b, hk, j, d), w.dv[j * p->Dv + d]);
            }
        }
    }
    attn_free(scratch);
    return ATTN_OK;
}
