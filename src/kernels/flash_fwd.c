/*
 * flash_fwd.c - the tiled ("flash") attention forward, portable driver.
 *
 * A work item is one block of BR query rows of one (b, h).  Its rows are the
 * lanes: Q^T (D x BR, scale folded in) is packed once, then for each tile of
 * BC keys
 *     S^T = K_tile Q^T           (BC x BR)  gemm_a, K rows read in place;
 *                                when no step below changes S, the rows'
 *                                maxima come out of its registers too
 *     steps 2-5 where needed     (soft-cap, ALiBi, bias, masks -> -inf)
 *     online softmax per lane    (running max m, sum l, rescale alpha)
 *     dropout on P (counter-based, keyed by the absolute (b, h, i, j))
 *     O^T = alpha O^T + V_tile^T P^T   (Dv x BR)  gemm_bp, V packed in
 *                                panels of the register tile's width
 * and at the end out = O^T / l, lse = m + log l.  No Lq x Lk matrix exists.
 *
 * Tiles no row can see (causal, window, lengths, packed sequences) are
 * skipped without reading K or V.  In a tile where some keys are hidden, the
 * scores of hidden keys are overwritten with -inf before the softmax (so NaN
 * in a hidden K never reaches a weight), and a hidden key whose V row holds
 * NaN/Inf is replaced by a zero row in the gemm and added back only to the
 * rows that see it: 0 * NaN never happens.
 *
 * Threads: items are handed out dynamically; each item is computed by one
 * thread in a fixed order and writes only its own rows, so for a given
 * thread count the result is bitwise the same for every schedule.  The split
 * into items depends on the thread count, and an item's key tiles start at
 * the first key one of its rows sees, so on a band (window, lengths) other
 * thread counts can group the sums differently: equal within rounding.
 *
 * Decode (Lq <= DEC_MAX_LQ = 16, Lk >= 4 DEC_BK, no packed batch): the rows of a
 * key/value head's query heads (group x Lq) are processed together, the
 * keys split into chunks across threads, and the partial (m, l, o) of the
 * chunks merged by their log-sum-exp in a fixed order (bitwise repeatable
 * for a fixed thread count).  A chunk runs in one pass over its keys that
 * streams K and V together (dec_chunk) for fewer than DEC_TILE_ROWS rows,
 * else as a work item of the tiled forward over the chunk's keys.
 */
#include "core/dropout.h"
#include "kernels/kernels.h"

#include <math.h>
#include <omp.h>
#include <string.h>

#define BR 512 /* most query rows (lanes) per item */
#define BC 64  /* keys per tile */

static int64_t round_up(int64_t x, int64_t m) { return (x + m - 1) / m * m; }

/* Steps 2-5 on scores s[jj * stride] of row i, keys j0 .. j0+nk-1: hidden
 * keys become -inf, visible ones get soft-cap, ALiBi and bias. */
static void mods_row(const attn_problem *p, int64_t b, int64_t h, int64_t i, int64_t lo, int64_t hi, int64_t diag,
                     int64_t j0, int64_t nk, float *s, int64_t stride)
{
    const unsigned char *mask = p->has_mask ? (const unsigned char *)p->mask.data : NULL;
    float cap = (float)p->softcap, slope = p->alibi ? p->alibi[h] : 0.0f;
    for (int64_t jj = 0; jj < nk; jj++) {
        int64_t j = j0 + jj;
        float *e = s + jj * stride;
        if (j < lo || j >= hi || (mask && !mask[attn_off4(&p->mask, b, h, i, j)])) {
            *e = -INFINITY;
            continue;
        }
        float x = *e;
        if (cap > 0)
            x = cap * tanhf(x / cap);
        if (p->alibi)
            x -= slope * fabsf((float)(diag - j));
        if (p->has_bias)
            x += (float)attn_load(p->bias.data, p->bias.dtype, attn_off4(&p->bias, b, h, i, j));
        *e = x;
    }
}

/* Per-thread workspace of the tiled forward. */
typedef struct fwd_ws {
    float *qt, *st, *ot;       /* D x BR, BC x BR, Dv x BR */
    float *m, *l, *alpha;      /* BR each */
    float *qscale;             /* BR: scale, or scale / |q_i| (cosine) */
    float *tmax;               /* BR: the tile's row maxima (gemm_a's cmax) */
    int64_t *lo, *hi, *diag;   /* BR each */
    int64_t *rh, *ri;          /* BR each: the row's query head and query index */
    const float **krows;       /* BC: the K tile's rows */
    float *kpack, *vp;         /* BC x D: K not in place (strided, 16-bit); the V tile in panels (pack_v) */
    float *rowbuf;             /* max(D, Dv): one row of Q or V as floats */
    int64_t bad[BC];
} fwd_ws;

/* Carve n floats (rounded up to 64 bytes, so every piece stays aligned for
 * vectors and int64) off *f; with f == NULL only count. */
static float *take(float **f, size_t *total, int64_t n)
{
    size_t m = (size_t)(n + 15) / 16 * 16;
    float *r = *f;
    *total += m;
    if (r)
        *f = r + m;
    return r;
}

/* Lay out the workspace at base (NULL: just return its size in floats). */
static size_t fwd_ws_layout(fwd_ws *w, float *base, const attn_problem *p)
{
    int64_t D = p->Dq, Dv = p->Dv;
    size_t total = 0;
    float *f = base;
    w->qt = take(&f, &total, D * (BR + 16));
    w->st = take(&f, &total, BC * (BR + 16));
    w->ot = take(&f, &total, Dv * (BR + 16));
    w->m = take(&f, &total, BR);
    w->l = take(&f, &total, BR);
    w->alpha = take(&f, &total, BR);
    w->qscale = take(&f, &total, BR);
    w->tmax = take(&f, &total, BR + 16);
    w->lo = (int64_t *)take(&f, &total, 2 * BR);
    w->hi = (int64_t *)take(&f, &total, 2 * BR);
    w->diag = (int64_t *)take(&f, &total, 2 * BR);
    w->rh = (int64_t *)take(&f, &total, 2 * BR);
    w->ri = (int64_t *)take(&f, &total, 2 * BR);
    w->krows = (const float **)take(&f, &total, 2 * BC);
    w->kpack = take(&f, &total, BC * D);
    w->vp = take(&f, &total, BC * (Dv + ATTN_MAX_PANEL)); /* nk * round_up(Dv, P) at most */
    w->rowbuf = take(&f, &total, D > Dv ? D : Dv);
    return total;
}

/* Does the row x[0], x[sd], ... x[(n-1) sd] hold only finite values?  (A
 * float is NaN or Inf iff its exponent bits are all ones.) */
static bool row_finite(const float *x, int64_t n, int64_t sd)
{
    uint32_t bad = 0;
    for (int64_t d = 0; d < n; d++) {
        uint32_t u;
        memcpy(&u, &x[d * sd], sizeof u);
        bad |= (u & 0x7f800000u) == 0x7f800000u;
    }
    return !bad;
}

/* Row (a, b, c, :) of input view v (n elements, f32, f16 or bf16) into dst as floats. */
static void load_row(const attn_ukernels *uk, const attn_view4 *v, int64_t a, int64_t b, int64_t c, int64_t n,
                     float *dst)
{
    const int64_t off = attn_off4(v, a, b, c, 0), sd = n <= 1 ? 1 : v->st[3];
    if (v->dtype != ATTN_F32 && sd == 1)
        uk->widen16(dst, (const uint16_t *)v->data + off, n, attn_kv_of(v->dtype));
    else
        for (int64_t d = 0; d < n; d++)
            dst[d] = attn_in_f32(v, off + d * sd);
}

/* V rows j0 .. j0+nk-1 of (b, hk) in panels of P columns for gemm_bp:
 * vp[(d / P) * nk * P + jj * P + d % P] = V[j0 + jj][d].  With check, a row
 * holding NaN or Inf is packed as zeros and its index jj listed in bad
 * (returns their number): the caller adds it to the rows that see it.
 * pf (or NULL): rows to bring into L2 meanwhile, row jj of pf beside V row
 * jj (the next tile's K: K and V then stream from memory together, which
 * the memory keeps up with better than with one stream at a time).  A
 * 16-bit (f16, bf16) V row goes through rowbuf (Dv floats). */
static int pack_v(const attn_problem *p, const attn_ukernels *uk, int64_t b, int64_t hk, int64_t j0, int64_t nk,
                  int64_t P, float *vp, bool check, int64_t *bad, const attn_prefetch *pf, float *rowbuf)
{
    const bool half = p->v.dtype != ATTN_F32; /* f16 or bf16 */
    const int64_t Dv = p->Dv, sd = half || p->Dv <= 1 ? 1 : p->v.st[3];
    int nbad = 0;
    ATTN_ASSERT(!pf || pf->rows <= nk); /* one row of pf beside each V row */
    for (int64_t jj = 0; jj < nk; jj++) {
        const float *row = rowbuf;
        if (half)
            load_row(uk, &p->v, b, hk, j0 + jj, Dv, rowbuf);
        else
            row = (const float *)p->v.data + attn_off4(&p->v, b, hk, j0 + jj, 0);
        if (pf && jj < pf->rows)
            for (int64_t o = 0; o < pf->bytes; o += 64)
                __builtin_prefetch(pf->base + jj * pf->stride + o, 0, 2);
        bool zero = check && !row_finite(row, Dv, sd);
        if (zero)
            bad[nbad++] = jj;
        float *dst = vp + jj * P;
        for (int64_t d0 = 0; d0 < Dv; d0 += P, dst += nk * P) {
            int64_t n = Dv - d0 < P ? Dv - d0 : P;
            if (zero)
                memset(dst, 0, (size_t)n * sizeof(float));
            else if (sd == 1 && n == 8) /* the panels of AVX-512 and AVX2: a constant */
                memcpy(dst, row + d0, 8 * sizeof(float)); /* size is a few moves, not a call */
            else if (sd == 1 && n == 6)
                memcpy(dst, row + d0, 6 * sizeof(float));
            else if (sd == 1)
                memcpy(dst, row + d0, (size_t)n * sizeof(float));
            else
                for (int64_t c = 0; c < n; c++)
                    dst[c] = row[(d0 + c) * sd];
        }
    }
    return nbad;
}

/* One item: rows r0 .. r0+nr-1 of the query heads of key/value head hk in
 * batch b, numbered across its group as g * Lq + i (query head hk * group +
 * g, query i), against the keys [ka, kb).  The forward's items are rows of
 * one head; the decode's, every row of a group.  part == NULL: writes the
 * rows' output (and lse); otherwise the partial result that the decode
 * merges: part[r] = m, part[nr + r] = l, part[2 nr + r Dv + d] = O (not yet
 * divided by l) of row r0 + r. */
static void fwd_item(const attn_problem *p, const attn_ukernels *uk, fwd_ws *w, int64_t b, int64_t hk, int64_t r0,
                     int64_t nr, int64_t ka, int64_t kb, float *part)
{
    ATTN_ASSERT(nr >= 1 && nr <= BR);
    /* R lanes in use; rows of the lane-major buffers are L = R + 16 apart so
     * that a column of them does not fall into a few cache sets */
    const int64_t D = p->Dq, Dv = p->Dv, R = round_up(nr, ATTN_LANES), L = R + 16;
    const float *k = p->k.data; /* read in place when f32 (k_unit) */
    const int64_t kes = (int64_t)attn_dtype_size(p->k.dtype), ves = (int64_t)attn_dtype_size(p->v.dtype);
    const float scale = (float)p->scale;
    const bool cosine = p->score == ATTN_SCORE_COSINE;
    int64_t jmin = INT64_MAX, jmax = 0, lo_max = INT64_MIN, hi_min = INT64_MAX;
    for (int64_t r = 0; r < nr; r++) {
        w->rh[r] = hk * p->group + (r0 + r) / p->Lq, w->ri[r] = (r0 + r) % p->Lq;
        attn_row_range(p, b, w->ri[r], &w->lo[r], &w->hi[r], &w->diag[r]);
        lo_max = w->lo[r] > lo_max ? w->lo[r] : lo_max;
        hi_min = w->hi[r] < hi_min ? w->hi[r] : hi_min;
        if (w->lo[r] < w->hi[r]) {
            jmin = w->lo[r] < jmin ? w->lo[r] : jmin;
            jmax = w->hi[r] > jmax ? w->hi[r] : jmax;
        }
        w->m[r] = -INFINITY;
        w->l[r] = 0;
    }
    jmin = jmin > ka ? jmin : ka, jmax = jmax < kb ? jmax : kb;
    for (int64_t r = nr; r < R; r++)
        w->m[r] = -INFINITY, w->l[r] = 0;
    memset(w->ot, 0, (size_t)(Dv * L) * sizeof(float));
    if (jmin < jmax) {
        for (int64_t r = 0; r < nr; r++) /* cosine: scale / max(|q_i|, 1e-12) per row */
            w->qscale[r] = cosine ? attn_cosine_factor(p->scale, attn_row_norm(&p->q, b, w->rh[r], w->ri[r], D)) : scale;
        for (int64_t r = 0; r < nr; r++) {
            load_row(uk, &p->q, b, w->rh[r], w->ri[r], D, w->rowbuf);
            for (int64_t d = 0; d < D; d++)
                w->qt[d * L + r] = w->qscale[r] * w->rowbuf[d];
        }
        for (int64_t d = 0; d < D; d++)
            for (int64_t r = nr; r < R; r++)
                w->qt[d * L + r] = 0;
    }
    const bool elementwise = p->softcap > 0 || p->alibi || p->has_bias || p->has_mask;
    const bool k_unit = p->k.dtype == ATTN_F32 && (p->k.st[3] == 1 || D <= 1);
    const uint32_t threshold = attn_dropout_threshold(p->dropout_p);
    const float keep_scale = (float)(1.0 / (1.0 - p->dropout_p));
    const int64_t P = uk->panel;
    ATTN_ASSERT(P >= 1 && P <= ATTN_MAX_PANEL);
    const bool prefetch = jmin < jmax && (jmax - jmin) * (D * kes + Dv * ves) > attn_cpu_l2_bytes();
    for (int64_t j0 = jmin; j0 < jmax; j0 += BC) {
        int64_t nk = jmax - j0 < BC ? jmax - j0 : BC;
        /* full: every row sees every key of the tile.  Otherwise only the
         * lanes [ra, rb) (rounded out to vectors) from the first to the last
         * row that sees one of its keys are computed: on a diagonal band
         * that skips most hidden scores; the other lanes' m, l and O^T are
         * those a tile of hidden keys would leave. */
        bool full = lo_max <= j0 && hi_min >= j0 + nk;
        int64_t ra = 0, rb = R;
        if (!full) {
            int64_t first = -1, last = -1;
            for (int64_t r = 0; r < nr; r++)
                if (w->lo[r] < j0 + nk && w->hi[r] > j0) {
                    first = first < 0 ? r : first;
                    last = r;
                }
            if (first < 0)
                continue; /* a tile no row sees: K and V are not read */
            ra = first / ATTN_LANES * ATTN_LANES, rb = round_up(last + 1, ATTN_LANES);
        }
        const int64_t re = rb < nr ? rb : nr; /* the real rows among them */
        bool hidden_possible = !full || p->has_mask || p->has_bias;
        for (int64_t jj = 0; jj < nk; jj++) {
            if (k_unit)
                w->krows[jj] = k + attn_off4(&p->k, b, hk, j0 + jj, 0);
            else {
                load_row(uk, &p->k, b, hk, j0 + jj, D, w->kpack + jj * D);
                w->krows[jj] = w->kpack + jj * D;
            }
        }
        /* when K and V of the item's keys do not stay in L2 (they do at
         * D = 64 and 4096 keys, and prefetching then costs more than it
         * saves): the next tile's K rows on their way to the cache while
         * this tile's V is packed, and its V rows during gemm_bp */
        int64_t jn = j0 + BC, nn = jmax - jn < BC ? jmax - jn : BC;
        attn_prefetch pfk = {0}, pfv = {0};
        if (!prefetch)
            nn = 0;
        if (nn > 0 && (p->k.st[3] == 1 || D <= 1))
            pfk = (attn_prefetch){(const char *)p->k.data + attn_off4(&p->k, b, hk, jn, 0) * kes, p->k.st[2] * kes, nn,
                                  D * kes};
        if (nn > 0)
            pfv = (attn_prefetch){(const char *)p->v.data + attn_off4(&p->v, b, hk, jn, 0) * ves, p->v.st[2] * ves, nn,
                                  p->v.st[3] == 1 ? Dv * ves : ((Dv - 1) * p->v.st[3] + 1) * ves};
        int nbad = pack_v(p, uk, b, hk, j0, nk, P, w->vp, hidden_possible, w->bad, &pfk, w->rowbuf);
        /* the row maxima come out of gemm_a when no step below changes S */
        float *tmax = !cosine && !elementwise && full ? w->tmax : NULL;
        if (tmax)
            for (int64_t r = 0; r < R; r++)
                tmax[r] = -INFINITY;
        uk->gemm_a(nk, D, rb - ra, w->qt + ra, L, w->krows, w->st + ra, L, 0, tmax ? tmax + ra : NULL);
        if (cosine) /* divide column j by max(|k_j|, 1e-12) */
            for (int64_t jj = 0; jj < nk; jj++) {
                float kinv = attn_cosine_factor(1.0, attn_row_norm(&p->k, b, hk, j0 + jj, D));
                float *sj = w->st + jj * L;
                for (int64_t r = ra; r < rb; r++)
                    sj[r] *= kinv;
            }
        if (elementwise)
            for (int64_t r = ra; r < re; r++)
                mods_row(p, b, w->rh[r], w->ri[r], w->lo[r], w->hi[r], w->diag[r], j0, nk, w->st + r, L);
        else if (!full) /* only the key ranges: hide keys outside [lo, hi) */
            for (int64_t r = ra; r < re; r++) {
                int64_t a = w->lo[r] - j0, e = w->hi[r] - j0;
                a = a < 0 ? 0 : a > nk ? nk : a;
                e = e < a ? a : e > nk ? nk : e;
                for (int64_t jj = 0; jj < a; jj++)
                    w->st[jj * L + r] = -INFINITY;
                for (int64_t jj = e; jj < nk; jj++)
                    w->st[jj * L + r] = -INFINITY;
            }
        uk->softmax(w->st + ra, L, nk, rb - ra, w->m + ra, w->l + ra, w->alpha + ra, tmax ? tmax + ra : NULL);
        if (p->dropout_p > 0)
            for (int64_t r = ra; r < re; r++) {
                uint64_t drow = attn_dropout_row(p->dropout_seed, b, w->rh[r], w->ri[r]);
                for (int64_t jj = 0; jj < nk; jj++) {
                    float *e = w->st + jj * L + r;
                    *e = (attn_dropout_bits(drow, j0 + jj) >> 8) >= threshold ? *e * keep_scale
                                                                               : attn_dropped_weight(*e);
                }
            }
        uk->gemm_bp(Dv, nk, rb - ra, w->st + ra, L, w->vp, w->ot + ra, L, w->alpha + ra, &pfv); /* O^T = alpha O^T + V^T P^T */
        for (int e = 0; e < nbad; e++) { /* a non-finite V row: only the rows that see it */
            int64_t jj = w->bad[e];
            load_row(uk, &p->v, b, hk, j0 + jj, Dv, w->rowbuf);
            for (int64_t r = ra; r < re; r++) {
                float pw = w->st[jj * L + r];
                if (!attn_hidden_weight(pw)) /* a dropped key too: 0 * NaN, as the reference */
                    for (int64_t d = 0; d < Dv; d++)
                        w->ot[d * L + r] += pw * w->rowbuf[d];
            }
        }
    }
    if (part) {
        for (int64_t r = 0; r < nr; r++) {
            part[r] = w->m[r], part[nr + r] = w->l[r];
            for (int64_t d = 0; d < Dv; d++)
                part[2 * nr + r * Dv + d] = w->ot[d * L + r];
        }
        return;
    }
    float *out = p->out.data;
    for (int64_t r = 0; r < nr; r++) {
        const int64_t h = w->rh[r], i = w->ri[r];
        /* l == 0: no visible key (zeros, lse -inf); l NaN: an unmasked NaN
         * reached the row, and stays in it */
        float l = w->l[r];
        bool seen = l > 0 || isnan(l);
        float inv = seen ? 1.0f / l : 0.0f;
        for (int64_t d = 0; d < Dv; d++)
            out[attn_off4(&p->out, b, h, i, d)] = seen ? w->ot[d * L + r] * inv : 0.0f;
        if (p->has_lse)
            ((float *)p->lse.data)[attn_off4(&p->lse, b, h, i, 0)] = seen ? w->m[r] + logf(l) : -INFINITY;
    }
}

/* ---- decode: few queries, many keys ---------------------------------- */

#define DEC_BK 256       /* keys per block inside a chunk */
#define DEC_TILE_ROWS 8 /* rows (group x queries) from which decode uses fwd_item */

#define DEC_MAX_LQ 16 /* most queries per head on the decode path */

typedef struct dec_ws {
    float *s[2];            /* rows x DEC_BK each: one block's scores, then its weights */
    const void **krows;     /* DEC_BK: the block's K rows (f32, f16 or bf16) */
    const void **vrows[2];  /* DEC_BK each: V rows, alternating as s does */
    float *kinv;            /* DEC_BK: 1 / max(|k_j|, 1e-12) (cosine) */
    float *qs;              /* rows x D, scaled queries */
} dec_ws;

/* Rows of item (b, hk): query heads h = hk*group + g, rows i; row index
 * rr = g * Lq + i.  Writes the partial m, l (rows) and o (rows x Dv).
 *
 * A software pipeline over blocks of DEC_BK keys: one call computes block
 * n's scores of every row while it adds block n - 1's weighted values to
 * their o, so that K and V stream from memory together (one after the
 * other, each alone leaves the memory pipeline half idle) and are read once
 * for all rows; then each row's online softmax over block n rescales its o
 * and leaves its weights for the next call.  Weights +0 (hidden) skip their
 * V row; a row that sees none of a block gets only such weights. */
static void dec_chunk(const attn_problem *p, const attn_ukernels *uk, dec_ws *w, int64_t b, int64_t hk, int64_t c0,
                      int64_t c1, float *pm, float *pl, float *po)
{
    const int64_t D = p->Dq, Dv = p->Dv, rows = p->group * p->Lq;
    const char *k = p->k.data, *v = p->v.data; /* rows of f32, f16 or bf16 */
    const int kv = attn_kv_of(p->k.dtype); /* v's too (attn_tiled_unsupported) */
    const int64_t kes = (int64_t)attn_dtype_size(p->k.dtype), ves = (int64_t)attn_dtype_size(p->v.dtype);
    const uint32_t threshold = attn_dropout_threshold(p->dropout_p);
    const float keep_scale = (float)(1.0 / (1.0 - p->dropout_p));
    const bool cosine = p->score == ATTN_SCORE_COSINE;
    const bool elementwise = p->softcap > 0 || p->alibi || p->has_bias || p->has_mask;
    for (int64_t rr = 0; rr < rows; rr++) {
        int64_t h = hk * p->group + rr / p->Lq, i = rr % p->Lq;
        float qsc = cosine ? attn_cosine_factor(p->scale, attn_row_norm(&p->q, b, h, i, D))
                           : (float)p->scale;
        load_row(uk, &p->q, b, h, i, D, w->qs + rr * D);
        for (int64_t d = 0; d < D; d++)
            w->qs[rr * D + d] *= qsc;
        pm[rr] = -INFINITY, pl[rr] = 0;
        memset(po + rr * Dv, 0, (size_t)Dv * sizeof(float));
    }
    const bool k_unit = p->k.st[3] == 1 || D <= 1, v_unit = p->v.st[3] == 1 || Dv <= 1;
    /* each query's key range (the same for every head of the group), and
     * their union: a block outside it is read by no row */
    int64_t lo[DEC_MAX_LQ], hi[DEC_MAX_LQ], diag[DEC_MAX_LQ], jlo = INT64_MAX, jhi = INT64_MIN;
    ATTN_ASSERT(p->Lq <= DEC_MAX_LQ);
    for (int64_t i = 0; i < p->Lq; i++) {
        attn_row_range(p, b, i, &lo[i], &hi[i], &diag[i]);
        if (lo[i] < hi[i])
            jlo = lo[i] < jlo ? lo[i] : jlo, jhi = hi[i] > jhi ? hi[i] : jhi;
    }
    int cur = 0;
    int64_t nprev = 0, jprev = 0; /* the previous block: its keys, its first key */
    for (int64_t j0 = c0;; j0 += DEC_BK) {
        /* nk == 0: past the chunk's end, only the last block's values are left */
        int64_t nk = j0 >= c1 ? 0 : c1 - j0 < DEC_BK ? c1 - j0 : DEC_BK, npad = round_up(nk, ATTN_LANES);
        const void **vr = w->vrows[cur], *const *vprev = w->vrows[cur ^ 1];
        for (int64_t jj = 0; jj < nk; jj++) {
            w->krows[jj] = k + attn_off4(&p->k, b, hk, j0 + jj, 0) * kes;
            vr[jj] = v + attn_off4(&p->v, b, hk, j0 + jj, 0) * ves;
            if (cosine)
                w->kinv[jj] = attn_cosine_factor(1.0, attn_row_norm(&p->k, b, hk, j0 + jj, D));
        }
        /* this block's scores (when a row sees one of its keys) and the
         * previous block's values, every row at once */
        const bool any_seen = nk > 0 && jlo < j0 + nk && jhi > j0;
        for (int64_t r0 = 0; r0 < rows; r0 += ATTN_DEC_ROWS) {
            int nr = (int)(rows - r0 < ATTN_DEC_ROWS ? rows - r0 : ATTN_DEC_ROWS);
            uk->dot_axpy_rows(nr, kv, w->qs + r0 * D, D, w->krows, any_seen && k_unit ? nk : 0, D,
                              w->s[cur] + r0 * DEC_BK, w->s[cur ^ 1] + r0 * DEC_BK, DEC_BK, po + r0 * Dv, Dv, vprev,
                              v_unit ? nprev : 0, Dv);
        }
        for (int64_t rr = 0; rr < rows; rr++) {
            const int64_t h = hk * p->group + rr / p->Lq, i = rr % p->Lq;
            float *s = w->s[cur] + rr * DEC_BK, *o = po + rr * Dv;
            const float *wprev = w->s[cur ^ 1] + rr * DEC_BK, *qr = w->qs + rr * D;
            bool seen = nk > 0 && lo[i] < j0 + nk && hi[i] > j0;
            if (!v_unit)
                for (int64_t jj = 0; jj < nprev; jj++) {
                    if (attn_hidden_weight(wprev[jj]))
                        continue; /* hidden: V is not touched */
                    const int64_t vj = attn_off4(&p->v, b, hk, jprev + jj, 0);
                    for (int64_t d = 0; d < Dv; d++)
                        o[d] += wprev[jj] * attn_in_f32(&p->v, vj + d * p->v.st[3]);
                }
            if (!seen) {
                for (int64_t jj = 0; jj < nk; jj++)
                    s[jj] = 0.0f; /* hidden weights */
                continue;
            }
            if (!k_unit)
                for (int64_t jj = 0; jj < nk; jj++) {
                    const int64_t kj = attn_off4(&p->k, b, hk, j0 + jj, 0);
                    float acc = 0;
                    for (int64_t d = 0; d < D; d++)
                        acc += qr[d] * attn_in_f32(&p->k, kj + d * p->k.st[3]);
                    s[jj] = acc;
                }
            for (int64_t jj = nk; jj < npad; jj++)
                s[jj] = -INFINITY;
            if (cosine)
                for (int64_t jj = 0; jj < nk; jj++)
                    s[jj] *= w->kinv[jj];
            if (elementwise || lo[i] > j0 || hi[i] < j0 + nk) /* else nothing to change */
                mods_row(p, b, h, i, lo[i], hi[i], diag[i], j0, nk, s, 1);
            float mx = pm[rr];
            bool nan = false;
            for (int64_t jj = 0; jj < nk; jj++) {
                mx = s[jj] > mx ? s[jj] : mx; /* NaN stays out of mx, and is flagged */
                nan |= s[jj] != s[jj];
            }
            if (nan)
                mx = NAN; /* an unmasked NaN score: the row's weights and sum become NaN */
            if (mx == -INFINITY) {
                for (int64_t jj = 0; jj < nk; jj++)
                    s[jj] = 0.0f; /* every key hidden so far */
                continue;
            }
            float alpha = pm[rr] == mx ? 1.0f : expf(pm[rr] - mx);
            uk->exp_sub(s, s, npad, &mx, npad);
            float sum = 0;
            for (int64_t jj = 0; jj < nk; jj++)
                sum += s[jj];
            pl[rr] = pl[rr] * alpha + sum;
            pm[rr] = mx;
            if (p->dropout_p > 0) {
                uint64_t drow = attn_dropout_row(p->dropout_seed, b, h, i);
                for (int64_t jj = 0; jj < nk; jj++)
                    s[jj] = (attn_dropout_bits(drow, j0 + jj) >> 8) >= threshold ? s[jj] * keep_scale
                                                                                 : attn_dropped_weight(s[jj]);
            }
            if (alpha != 1.0f) /* o now holds the keys before this block */
                for (int64_t d = 0; d < Dv; d++)
                    o[d] *= alpha;
        }
        if (nk == 0)
            break;
        nprev = nk, jprev = j0, cur ^= 1;
    }
}

static attn_status flash_decode(const attn_problem *p, const attn_ukernels *uk)
{
    const int64_t rows = p->group * p->Lq, Dv = p->Dv, pairs = p->B * p->Hkv;
    int nt = p->threads;
    /* chunks per (b, hk): about eight items per thread (a thread the host
     * pauses is made up by the others), chunks of >= 256 keys */
    int64_t nch = (8 * (int64_t)nt + pairs - 1) / pairs;
    int64_t maxch = (p->Lk + DEC_BK - 1) / DEC_BK;
    if (nch > maxch)
        nch = maxch;
    if (nch < 1)
        nch = 1;
    int64_t chunk = round_up((p->Lk + nch - 1) / nch, ATTN_LANES);
    int64_t items = pairs * nch, per_item = rows * (2 + Dv);
    /* A few rows: each key is worth one pass over its K and V rows, from
     * memory (dec_chunk).  From DEC_TILE_ROWS rows on, the work is bound by
     * the arithmetic, and the forward's register tiles do it faster. */
    const bool tiled = rows >= DEC_TILE_ROWS && rows <= BR;
    fwd_ws tmp;
    /* per thread: the forward's workspace, or s[2], krows, vrows[2] (pointers:
     * two floats each), kinv, qs */
    size_t ws_n = tiled ? fwd_ws_layout(&tmp, NULL, p)
                        : (size_t)round_up(2 * rows * DEC_BK + 7 * DEC_BK + rows * p->Dq + 64, 16);
    float *part = attn_alloc((size_t)(items * per_item) * sizeof(float), "decode partials");
    float *ws = attn_alloc(ws_n * sizeof(float) * (size_t)nt, "decode workspace");
    if (!part || !ws) {
        attn_free(part);
        attn_free(ws);
        return ATTN_ERR_NOMEM;
    }
#pragma omp parallel num_threads(nt)
    {
        int t = omp_get_thread_num(), n = omp_get_num_threads();
        float *base = ws + ws_n * (size_t)t;
        dec_ws w = {0};
        fwd_ws fw = {0};
        if (tiled)
            fwd_ws_layout(&fw, base, p);
        else {
            float *ptrs = base + 2 * rows * DEC_BK; /* 8-byte aligned: rows * DEC_BK is even */
            w = (dec_ws){.s = {base, base + rows * DEC_BK},
                         .krows = (const void **)ptrs,
                         .vrows = {(const void **)(ptrs + 2 * DEC_BK), (const void **)(ptrs + 4 * DEC_BK)},
                         .kinv = ptrs + 6 * DEC_BK,
                         .qs = ptrs + 7 * DEC_BK};
        }
#pragma omp for schedule(dynamic, 1)
        for (int64_t it = 0; it < items; it++) {
            int64_t pair = it / nch, c = it % nch;
            int64_t c0 = c * chunk, c1 = c0 + chunk < p->Lk ? c0 + chunk : p->Lk;
            float *pm = part + it * per_item, *pl = pm + rows, *po = pl + rows;
            if (c0 >= c1) {
                for (int64_t rr = 0; rr < rows; rr++)
                    pm[rr] = -INFINITY, pl[rr] = 0;
                memset(po, 0, (size_t)(rows * Dv) * sizeof(float));
                continue;
            }
            if (tiled)
                fwd_item(p, uk, &fw, pair / p->Hkv, pair % p->Hkv, 0, rows, c0, c1, pm);
            else
                dec_chunk(p, uk, &w, pair / p->Hkv, pair % p->Hkv, c0, c1, pm, pl, po);
        }
#pragma omp barrier
        /* merge the chunks of each (b, hk, row) in chunk order */
        for (int64_t pr = t; pr < pairs * rows; pr += n) {
            int64_t pair = pr / rows, rr = pr % rows, b = pair / p->Hkv, hk = pair % p->Hkv;
            int64_t h = hk * p->group + rr / p->Lq, i = rr % p->Lq;
            float M = -INFINITY;
            bool nan = false; /* a chunk met an unmasked NaN score */
            for (int64_t c = 0; c < nch; c++) {
                const float *pm = part + (pair * nch + c) * per_item;
                if (isnan(pm[rr]) || isnan(pm[rows + rr]))
                    nan = true;
                else
                    M = fmaxf(M, pm[rr]);
            }
            float L = 0;
            float *out = p->out.data;
            for (int64_t d = 0; d < Dv; d++)
                out[attn_off4(&p->out, b, h, i, d)] = nan ? NAN : 0.0f;
            if (nan)
                M = NAN, L = NAN;
            else if (M != -INFINITY) {
                for (int64_t c = 0; c < nch; c++) {
                    const float *pm = part + (pair * nch + c) * per_item;
                    if (pm[rr] == -INFINITY)
                        continue;
                    float f = expf(pm[rr] - M);
                    L += f * pm[rows + rr];
                    const float *po = pm + 2 * rows + rr * Dv;
                    for (int64_t d = 0; d < Dv; d++)
                        out[attn_off4(&p->out, b, h, i, d)] += f * po[d];
                }
                for (int64_t d = 0; d < Dv; d++)
                    out[attn_off4(&p->out, b, h, i, d)] /= L;
            }
            if (p->has_lse)
                ((float *)p->lse.data)[attn_off4(&p->lse, b, h, i, 0)] =
                    M != -INFINITY ? M + logf(L) : -INFINITY; /* NaN stays NaN */
        }
    }
    attn_free(part);
    attn_free(ws);
    return ATTN_OK;
}

attn_status attn_flash_forward(const attn_problem *p, const attn_ukernels *uk)
{
    if (p->B == 0 || p->Hq == 0 || p->Lq == 0)
        return ATTN_OK;
    if (p->Lq <= DEC_MAX_LQ && p->num_seqs == 0 && p->Lk >= 4 * DEC_BK)
        return flash_decode(p, uk);
    int nt = p->threads;
    /* nqb items per (b, h), of equal size in units of 16 rows (item qb has
     * units [qb U / nqb, (qb + 1) U / nqb)): at most BR rows each, and no
     * short last item to leave a thread idle.  Taller items read K and V
     * fewer times (K and V of a head rarely fit in the L2 cache), but every
     * thread needs about six items, so that one the host pauses for a while
     * is made up by the others.  (On a diagonal band a tile computes only
     * the lanes of the rows that see it, so tall items waste little there:
     * about BC / 2 hidden scores per row.) */
    const int64_t units = (p->Lq + ATTN_LANES - 1) / ATTN_LANES, bh_count = p->B * p->Hq;
    int64_t nqb = (6 * (int64_t)nt + bh_count - 1) / bh_count;
    nqb = nqb < (p->Lq + 47) / 48 ? nqb : (p->Lq + 47) / 48; /* items of 48 rows or more */
    nqb = nqb > (p->Lq + BR - 1) / BR ? nqb : (p->Lq + BR - 1) / BR;
    /* Without a band the items cost the same: make their number a multiple
     * of the threads when there are few (one head of 4096 rows in blocks of
     * 384 is 11 items, 6 + 5 on two threads, where 12 of 336-352 split
     * 6 + 6). */
    if (p->causal == ATTN_CAUSAL_NONE && !p->window && nt > 1 && p->B * p->Hq * nqb < 16 * (int64_t)nt) {
        int64_t per_bh = nqb;
        while (p->B * p->Hq * per_bh % nt != 0 && per_bh < units)
            per_bh++;
        if (p->B * p->Hq * per_bh % nt == 0)
            nqb = per_bh;
    }
    int64_t items = p->B * p->Hq * nqb;
    if (items < nt)
        nt = (int)items;
    fwd_ws tmp;
    size_t per = fwd_ws_layout(&tmp, NULL, p);
    float *ws = attn_alloc(per * sizeof(float) * (size_t)nt, "flash forward workspace");
    if (!ws)
        return ATTN_ERR_NOMEM;
#pragma omp parallel num_threads(nt)
    {
        fwd_ws w;
        fwd_ws_layout(&w, ws + per * (size_t)omp_get_thread_num(), p);
        /* dynamic: a thread the host pauses does not hold the others up, and
         * an item's result does not depend on which thread computes it */
#pragma omp for schedule(dynamic, 1)
        for (int64_t it = 0; it < items; it++) {
            /* last query blocks first: under a causal mask they are the
             * longest, and the short ones then fill the threads' tails */
            int64_t bh = it / nqb, qb = nqb - 1 - it % nqb;
            int64_t i0 = qb * units / nqb * ATTN_LANES, i1 = (qb + 1) * units / nqb * ATTN_LANES;
            i1 = i1 < p->Lq ? i1 : p->Lq;
            int64_t h = bh % p->Hq;
            fwd_item(p, uk, &w, bh / p->Hq, attn_kv_head(p, h), h % p->group * p->Lq + i0, i1 - i0, 0, p->Lk, NULL);
        }
    }
    attn_free(ws);
    return ATTN_OK;
}
