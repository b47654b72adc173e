/*
 * forward_ref.c - the reference attention: readable, accumulating in double.
 *
 * This is the oracle every fast kernel is tested against and the code a
 * learner reads beside the formula.  For each batch b, head h and query i:
 *
 *     s_ij = score(q_i, k_j)           step 1: scaled dot, dot, cosine, bilinear, additive
 *     s_ij = c tanh(s_ij / c)          step 2: soft-cap
 *     s_ij -= slope_h |i + off - j|    step 3: ALiBi
 *     s_ij += bias_ij                  step 4: additive mask
 *     hidden keys drop out             step 5: causal, window, boolean mask, lengths
 *     p_ij = exp(s_ij - m_i) / l_i     step 6: softmax, m_i = max_j s_ij, l_i = sum_j exp(s_ij - m_i)
 *     p_ij *= keep_ij / (1 - p)        step 7: dropout
 *     o_i  = sum_j p_ij v_j            step 8: weighted sum of the values
 *
 * Work is split over (b, h) pairs; every row is computed by one thread in a
 * fixed order, so results do not depend on the thread count at all.
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

/* Per-(b, h) precomputation of the key side of the score, so a row costs
 * O(Lk * D) and not O(Lk * D^2). */
void attn_ref_prepare_keys(const attn_problem *p, attn_ref_row *ks, int64_t b, int64_t h)
{
    int64_t hk = attn_kv_head(p, h);
    for (int64_t j = 0; j < p->Lk; j++) {
        if (p->score == ATTN_SCORE_COSINE) {
            double n2 = 0;
            for (int64_t d = 0; d < p->Dk; d++) {
                double x = elem(&p->k, b, hk, j, d);
                n2 += x * x;
            }
            ks->knorm[j] = sqrt(n2);
        } else if (p->score == ATTN_SCORE_BILINEAR) {
            int64_t hw = p->bilinear_w.n[1] == 1 ? 0 : h;
            for (int64_t a = 0; a < p->Dq; a++) {
                double acc = 0;
                for (int64_t d = 0; d < p->Dk; d++)
                    acc += elem(&p->bilinear_w, 0, hw, a, d) * elem(&p->k, b, hk, j, d);
                ks->wk[j * p->Dq + a] = acc;
            }
        } else if (p->score == ATTN_SCORE_ADDITIVE) {
            for (int64_t a = 0; a < p->add_a; a++) {
                double acc = 0;
                for (int64_t d = 0; d < p->Dk; d++)
                    acc += elem(&p->add_wk, 0, 0, a, d) * elem(&p->k, b, hk, j, d);
                ks->wk[j * p->add_a + a] = acc;
            }
        }
    }
}

/* Step 1 for one (i, j): the raw score times the scale. */
static double score_1(const attn_problem *p, const attn_ref_row *ks, int64_t b, int64_t hk, int64_t j)
{
    double s = 0;
    switch (p->score) {
    case ATTN_SCORE_SCALED_DOT:
    case ATTN_SCORE_DOT:
        for (int64_t d = 0; d < p->Dk; d++)
            s += ks->qrow[d] * elem(&p->k, b, hk, j, d);
        break;
    case ATTN_SCORE_COSINE: {
        double qn = 0;
        for (int64_t d = 0; d < p->Dq; d++)
            qn += ks->qrow[d] * ks->qrow[d];
        for (int64_t d = 0; d < p->Dk; d++)
            s += ks->qrow[d] * elem(&p->k, b, hk, j, d);
        s /= fmax(sqrt(qn), 1e-12) * fmax(ks->knorm[j], 1e-12);
        break;
    }
    case ATTN_SCORE_BILINEAR:
        for (int64_t a = 0; a < p->Dq; a++)
            s += ks->qrow[a] * ks->wk[j * p->Dq + a];
        break;
    case ATTN_SCORE_ADDITIVE:
        for (int64_t a = 0; a < p->add_a; a++)
            s += elem(&p->add_v, 0, 0, 0, a) * tanh(ks->wq[a] + ks->wk[j * p->add_a + a]);
        break;
    }
    return p->scale * s;
}

/* Steps 1-5 for row i (see ref.h). */
int64_t attn_ref_row_scores(const attn_problem *p, attn_ref_row *ks, int64_t b, int64_t h, int64_t i)
{
    int64_t hk = attn_kv_head(p, h), visible = 0;
    int64_t k0, k1, il, off;
    attn_row_geometry(p, b, i, &k0, &k1, &il, &off);
    for (int64_t d = 0; d < p->Dq; d++)
        ks->qrow[d] = elem(&p->q, b, h, i, d);
    if (p->score == ATTN_SCORE_ADDITIVE)
        for (int64_t a = 0; a < p->add_a; a++) {
            double acc = 0;
            for (int64_t d = 0; d < p->Dq; d++)
                acc += elem(&p->add_wq, 0, 0, a, d) * ks->qrow[d];
            ks->wq[a] = acc;
        }
    for (int64_t j = 0; j < p->Lk; j++) {
        ks->s[j] = -INFINITY;
        if (attn_key_hidden(p, b, h, i, j))
            continue;
        double s = score_1(p, ks, b, hk, j);
        if (ks->t)
            ks->t[j] = s;
        if (p->softcap > 0)
            s = p->softcap * tanh(s / p->softcap);
        if (p->alibi)
            s -= (double)p->alibi[h] * fabs((double)(il + off - (j - k0)));
        if (p->has_bias)
            s += elem(&p->bias, b, h, i, j);
        if (s == -INFINITY)
            continue;
        ks->s[j] = s;
        visible++;
    }
    return visible;
}

/* Steps 6-8 for row i, writing out, lse and weights. */
static void row_softmax_and_sum(const attn_problem *p, const attn_ref_row *ks, double *acc, int64_t b, int64_t h,
                                int64_t i, int64_t visible)
{
    int64_t hk = attn_kv_head(p, h);
    double m = -INFINITY;
    for (int64_t j = 0; j < p->Lk; j++)
        if (ks->s[j] > m || isnan(ks->s[j]))
            m = isnan(m) ? m : ks->s[j];
    double l = 0;
    for (int64_t j = 0; j < p->Lk; j++)
        if (ks->s[j] != -INFINITY)
            l += exp(ks->s[j] - m);
    double lse = visible ? m + log(l) : -INFINITY;

    uint64_t drow = attn_dropout_row(p->dropout_seed, b, h, i);
    uint32_t threshold = attn_dropout_threshold(p->dropout_p);
    double keep_scale = 1.0 / (1.0 - p->dropout_p);
    for (int64_t d = 0; d < p->Dv; d++)
        acc[d] = 0;
    for (int64_t j = 0; j < p->Lk; j++) {
        double w = 0;
        if (ks->s[j] != -INFINITY) {
            w = exp(ks->s[j] - m) / l;
            if (p->dropout_p > 0)
                w = (attn_dropout_bits(drow, j) >> 8) >= threshold ? w * keep_scale : 0.0;
            for (int64_t d = 0; d < p->Dv; d++)
                acc[d] += w * elem(&p->v, b, hk, j, d);
        }
        if (p->has_weights)
            attn_store(p->weights.data, p->weights.dtype, attn_off4(&p->weights, b, h, i, j), w);
    }
    for (int64_t d = 0; d < p->Dv; d++)
        attn_store(p->out.data, p->out.dtype, attn_off4(&p->out, b, h, i, d), acc[d]);
    if (p->has_lse)
        attn_store(p->lse.data, p->lse.dtype, attn_off4(&p->lse, b, h, i, 0), lse);
}

/* Run the reference over every (b, h, i).  scores_only: write steps 1-5 into
 * p->weights and stop (attn_scores). */
static attn_status run_ref(const attn_problem *p, bool scores_only)
{
    int64_t width = p->Dq > p->add_a ? p->Dq : p->add_a;
    int64_t per_thread = 0, wk_n = 0;
    if (p->score == ATTN_SCORE_BILINEAR || p->score == ATTN_SCORE_ADDITIVE)
        if (!attn_mul_ok(p->Lk, width, &wk_n))
            return attn_fail(ATTN_ERR_OVERFLOW, "reference: scratch of Lk=%lld x %lld overflows", (long long)p->Lk,
                             (long long)width);
    /* knorm, s: Lk each; wk; wq: A; qrow: Dq; acc: Dv */
    if (!attn_add_ok(wk_n, 2 * p->Lk + p->add_a + p->Dq + p->Dv + 8, &per_thread) ||
        (uint64_t)per_thread > SIZE_MAX / 8 / ATTN_MAX_THREADS)
        return attn_fail(ATTN_ERR_OVERFLOW, "reference: scratch too large");
    int threads = p->threads;
    int64_t pairs = p->B * p->Hq;
    if (pairs < threads)
        threads = pairs > 0 ? (int)pairs : 1;
    double *scratch = attn_alloc((size_t)per_thread * (size_t)threads * sizeof(double), "reference scratch");
    if (!scratch)
        return ATTN_ERR_NOMEM;

#pragma omp parallel num_threads(threads)
    {
        int t = omp_get_thread_num();
        double *base = scratch + (size_t)t * (size_t)per_thread;
        attn_ref_row ks = {
            .knorm = base,
            .s = base + p->Lk,
            .wk = base + 2 * p->Lk,
            .wq = base + 2 * p->Lk + wk_n,
            .qrow = base + 2 * p->Lk + wk_n + p->add_a,
            .t = NULL,
        };
        double *acc = base + 2 * p->Lk + wk_n + p->add_a + p->Dq; /* the row's output (Dv) */
#pragma omp for schedule(static)
        for (int64_t bh = 0; bh < pairs; bh++) {
            int64_t b = bh / p->Hq, h = bh % p->Hq;
            attn_ref_prepare_keys(p, &ks, b, h);
            for (int64_t i = 0; i < p->Lq; i++) {
                int64_t visible = attn_ref_row_scores(p, &ks, b, h, i);
                if (scores_only) {
                    for (int64_t j = 0; j < p->Lk; j++)
                        attn_store(p->weights.data, p->weights.dtype, attn_off4(&p->weights, b, h, i, j), ks.s[j]);
                    continue;
                }
                row_softmax_and_sum(p, &ks, acc, b, h, i, visible);
            }
        }
    }
    attn_free(scratch);
    return ATTN_OK;
}

attn_status attn_forward_ref(const attn_problem *p) { return run_ref(p, false); }

attn_status attn_scores_ref(const attn_problem *p) { return run_ref(p, true); }
