/*
 * uk_tmpl.h - the micro-kernels, written once against a small vector layer.
 *
 * Included by uk_avx2.c and uk_avx512.c after they define:
 *   VF, W (lanes), VZERO(), VLOAD(p), VSTORE(p, v), VSET1(x), VFMA(a, b, c) = a*b + c,
 *   VMAX(a, b), VADD, VSUB, VMUL, VEXP(x) (see below), VEXP_KEEP(s, x) = VEXP(x) where s != -inf else 0,
 *   VLOADH(p), VLOADB(p) (W binary16, bfloat16 values at p, as floats),
 *   VHSUM(v) (sum of the lanes), VBLEND_EQ(a, b, t, f) = t where a == b else f,
 *   RVMAX (vectors of lanes per register tile), NCMAX (broadcast columns per tile),
 *   UK_NAME (the table's name), UK_ID (its attn_kernel).
 *
 * Register tile: RVMAX * W lanes by NCMAX columns of accumulators, with a
 * compile-time shape so the compiler keeps them in registers; tails use
 * smaller shapes of the same code.
 *
 * VEXP(x): exp(x) for x <= 0 (inputs below -87.3 are clamped there and give
 * ~1.2e-38 instead of a smaller number; callers select exact zeros for -inf;
 * NaN gives NaN, so an unmasked NaN score reaches its row's sum).
 * Cody-Waite reduction x = n ln2 + r, |r| <= ln2/2, then exp(r) by a degree-5
 * polynomial with p(0) = 1 exactly (coefficients UK_EXP_C1..C5 below, fitted
 * for the least maximum relative error on [-ln2/2, ln2/2]: 9.2e-8 in exact
 * arithmetic), times 2^n.  Measured in float over [-87.3, 0] by
 * tests/test_kernel_dispatch.c: relative error below 2^-21 (4.8e-7, about
 * 4 ulp; 1.6e-7 seen).
 */
#define UK_INLINE static inline __attribute__((always_inline))

/* One step k of a register tile: a[n][v] += X[k][v lanes] * y[n] for the
 * tile's nc columns (y: the step's nc broadcast values, contiguous). */
UK_INLINE void tile_step(const int rv, const int nc, VF a[NCMAX][RVMAX], const float *xk, const float *y)
{
    VF xv[RVMAX];
    for (int v = 0; v < rv; v++)
        xv[v] = VLOAD(xk + v * W);
    for (int n = 0; n < nc; n++) {
        VF b = VSET1(y[n]);
        for (int v = 0; v < rv; v++)
            a[n][v] = VFMA(xv[v], b, a[n][v]);
    }
}

UK_INLINE void tile_store(const int rv, const int nc, VF a[NCMAX][RVMAX], float *c, int64_t ldc)
{
    for (int n = 0; n < nc; n++)
        for (int v = 0; v < rv; v++)
            VSTORE(c + n * ldc + v * W, a[n][v]);
}

UK_INLINE void ga_tile(const int rv, const int nc, int64_t K, const float *x, int64_t ldx, const float *const *y,
                       float *c, int64_t ldc, int accumulate, float *cmax)
{
    VF a[NCMAX][RVMAX];
    const float *yp[NCMAX];
    for (int n = 0; n < nc; n++) {
        yp[n] = y[n];
        for (int v = 0; v < rv; v++)
            a[n][v] = accumulate ? VLOAD(c + n * ldc + v * W) : VZERO();
    }
    for (int64_t k = 0; k < K; k++) {
        VF xv[RVMAX];
        for (int v = 0; v < rv; v++)
            xv[v] = VLOAD(x + k * ldx + v * W);
        for (int n = 0; n < nc; n++) {
            VF b = VSET1(yp[n][k]);
            for (int v = 0; v < rv; v++)
                a[n][v] = VFMA(xv[v], b, a[n][v]);
        }
    }
    tile_store(rv, nc, a, c, ldc);
    if (cmax) /* the rows' maxima while the tile is still in registers */
        for (int v = 0; v < rv; v++) {
            VF mx = VLOAD(cmax + v * W);
            for (int n = 0; n < nc; n++)
                mx = VMAX(mx, a[n][v]);
            VSTORE(cmax + v * W, mx);
        }
}

UK_INLINE void gb_tile(const int rv, const int nc, int64_t n0, int64_t K, const float *x, int64_t ldx,
                       const float *const *y, float *c, int64_t ldc, int accumulate, const float *alpha)
{
    VF a[NCMAX][RVMAX];
    for (int n = 0; n < nc; n++)
        for (int v = 0; v < rv; v++) {
            a[n][v] = accumulate ? VLOAD(c + n * ldc + v * W) : VZERO();
            if (accumulate && alpha)
                a[n][v] = VMUL(a[n][v], VLOAD(alpha + v * W));
        }
    for (int64_t k = 0; k < K; k++)
        tile_step(rv, nc, a, x + k * ldx, y[k] + n0);
    tile_store(rv, nc, a, c, ldc);
}

/* The forward's O^T update: Y packed in panels of NCMAX columns (yp[k *
 * NCMAX + n] for the panel's column n), so the broadcasts come from one
 * pointer that walks the panel in order. */
UK_INLINE void gbp_tile(const int rv, const int nc, int64_t K, const float *x, int64_t ldx, const float *yp,
                        float *c, int64_t ldc, const float *alpha)
{
    VF a[NCMAX][RVMAX], al[RVMAX];
    for (int v = 0; v < rv; v++)
        al[v] = VLOAD(alpha + v * W);
    for (int n = 0; n < nc; n++)
        for (int v = 0; v < rv; v++)
            a[n][v] = VMUL(VLOAD(c + n * ldc + v * W), al[v]);
    for (int64_t k = 0; k < K; k++, yp += NCMAX)
        tile_step(rv, nc, a, x + k * ldx, yp);
    tile_store(rv, nc, a, c, ldc);
}

/* A walk over the lines of an attn_prefetch, row by row. */
typedef struct pf_cursor {
    const char *row;   /* the current row */
    int64_t off, left; /* byte offset in it; rows not yet finished */
    int64_t share;     /* lines per register tile */
} pf_cursor;

/* Lines of pf per register tile of an N x R product, spread evenly. */
static pf_cursor prefetch_start(const attn_prefetch *pf, int64_t N, int64_t R)
{
    pf_cursor c = {0};
    if (!pf || pf->rows <= 0 || pf->bytes <= 0)
        return c;
    int64_t tiles = (R + RVMAX * W - 1) / (RVMAX * W) * ((N + NCMAX - 1) / NCMAX);
    int64_t lines = pf->rows * ((pf->bytes + 63) / 64);
    c.row = pf->base, c.left = pf->rows, c.share = (lines + tiles - 1) / tiles;
    return c;
}

/* Prefetch the next c->share lines (into L2: they are read after this product). */
UK_INLINE void prefetch_step(pf_cursor *c, const attn_prefetch *pf)
{
    for (int64_t i = 0; i < c->share && c->left > 0; i++) {
        __builtin_prefetch(c->row + c->off, 0, 2);
        c->off += 64;
        if (c->off >= pf->bytes)
            c->off = 0, c->row += pf->stride, c->left--;
    }
}

/* Dispatch a (rv, nc) pair to a tile of constant shape. */
#if NCMAX == 8
#define UK_CASE_NC78(RV, call) case RV * 16 + 7: call(RV, 7); break; case RV * 16 + 8: call(RV, 8); break;
#else
#define UK_CASE_NC78(RV, call)
#endif
#define UK_CASE_RV(RV, call)                                                                                     \
    case RV * 16 + 1: call(RV, 1); break;                                                                        \
    case RV * 16 + 2: call(RV, 2); break;                                                                        \
    case RV * 16 + 3: call(RV, 3); break;                                                                        \
    case RV * 16 + 4: call(RV, 4); break;                                                                        \
    case RV * 16 + 5: call(RV, 5); break;                                                                        \
    case RV * 16 + 6: call(RV, 6); break;                                                                        \
    UK_CASE_NC78(RV, call)
#if RVMAX == 3
#define UK_CASE_RV3(call) UK_CASE_RV(3, call)
#else
#define UK_CASE_RV3(call)
#endif
#define UK_CASES(call)                                                                                           \
    switch (rv * 16 + nc) {                                                                                      \
    UK_CASE_RV(1, call)                                                                                          \
    UK_CASE_RV(2, call)                                                                                          \
    UK_CASE_RV3(call)                                                                                            \
    default: ATTN_ASSERT(0);                                                                                     \
    }

/* Every register tile of an N x R product in order (stripes of RVMAX * W
 * lanes at r0, groups of NCMAX columns at n0; rv, nc the tile's shape),
 * with pf's share of prefetches before each: CALL(RV, NC) computes one. */
#define UK_FOR_TILES(N, R, pf, CALL)                                                                             \
    do {                                                                                                         \
        ATTN_ASSERT((R) % W == 0);                                                                               \
        pf_cursor pfc = prefetch_start(pf, N, R);                                                                \
        for (int64_t r0 = 0; r0 < (R); r0 += RVMAX * W) {                                                        \
            int rv = (int)(((R) - r0) / W < RVMAX ? ((R) - r0) / W : RVMAX);                                     \
            for (int64_t n0 = 0; n0 < (N); n0 += NCMAX) {                                                        \
                int nc = (int)((N) - n0 < NCMAX ? (N) - n0 : NCMAX);                                             \
                if (pfc.left > 0)                                                                                \
                    prefetch_step(&pfc, pf);                                                                     \
                UK_CASES(CALL)                                                                                   \
            }                                                                                                    \
        }                                                                                                        \
    } while (0)

static void gemm_a(int64_t N, int64_t K, int64_t R, const float *x, int64_t ldx, const float *const *y, float *c,
                   int64_t ldc, int accumulate, float *cmax)
{
#define UK_CALL_A(RV, NC) ga_tile(RV, NC, K, x + r0, ldx, y + n0, c + n0 * ldc + r0, ldc, accumulate, cmax ? cmax + r0 : NULL)
    UK_FOR_TILES(N, R, (const attn_prefetch *)NULL, UK_CALL_A);
#undef UK_CALL_A
}

static void gemm_b(int64_t N, int64_t K, int64_t R, const float *x, int64_t ldx, const float *const *y, float *c,
                   int64_t ldc, int accumulate, const float *alpha)
{
#define UK_CALL_B(RV, NC) gb_tile(RV, NC, n0, K, x + r0, ldx, y, c + n0 * ldc + r0, ldc, accumulate, alpha ? alpha + r0 : NULL)
    UK_FOR_TILES(N, R, (const attn_prefetch *)NULL, UK_CALL_B);
#undef UK_CALL_B
}

static void gemm_bp(int64_t N, int64_t K, int64_t R, const float *x, int64_t ldx, const float *yp, float *c,
                    int64_t ldc, const float *alpha, const attn_prefetch *pf)
{
#define UK_CALL_BP(RV, NC) gbp_tile(RV, NC, K, x + r0, ldx, yp + n0 * K, c + n0 * ldc + r0, ldc, alpha + r0)
    UK_FOR_TILES(N, R, pf, UK_CALL_BP);
#undef UK_CALL_BP
}

static void softmax_tile(float *s, int64_t lds, int64_t nk, int64_t R, float *m, float *l, float *alpha,
                         const float *tmax)
{
    const VF ninf = VSET1(-INFINITY), zero = VZERO(), one = VSET1(1.0f);
    for (int64_t r = 0; r < R; r += W) {
        VF mo = VLOAD(m + r), mx = mo;
        if (tmax)
            mx = VMAX(mx, VLOAD(tmax + r));
        else
            for (int64_t j = 0; j < nk; j++)
                mx = VMAX(mx, VLOAD(s + j * lds + r));
        VF mu = VBLEND_EQ(mx, ninf, zero, mx); /* mx == -inf ? 0 : mx */
        VF al = VBLEND_EQ(mo, mu, one, VEXP(VSUB(mo, mu)));
        VF sum0 = VZERO(), sum1 = VZERO();
        int64_t j = 0;
        for (; j + 1 < nk; j += 2) {
            VF s0 = VLOAD(s + j * lds + r), s1 = VLOAD(s + (j + 1) * lds + r);
            VF p0 = VEXP_KEEP(s0, VSUB(s0, mu)), p1 = VEXP_KEEP(s1, VSUB(s1, mu));
            VSTORE(s + j * lds + r, p0);
            VSTORE(s + (j + 1) * lds + r, p1);
            sum0 = VADD(sum0, p0);
            sum1 = VADD(sum1, p1);
        }
        for (; j < nk; j++) {
            VF s0 = VLOAD(s + j * lds + r);
            VF p0 = VEXP_KEEP(s0, VSUB(s0, mu));
            VSTORE(s + j * lds + r, p0);
            sum0 = VADD(sum0, p0);
        }
        VSTORE(alpha + r, al);
        VSTORE(l + r, VFMA(VLOAD(l + r), al, VADD(sum0, sum1)));
        VSTORE(m + r, mx);
    }
}

static void exp_sub(const float *x, float *y, int64_t n, const float *sub, int64_t per)
{
    ATTN_ASSERT(n % W == 0 && per % W == 0);
    for (int64_t i0 = 0; i0 < n; i0 += per) { /* one subtrahend per run of per values */
        const VF mu = VSET1(sub[i0 / per]);
        const int64_t end = n - i0 < per ? n : i0 + per;
        for (int64_t i = i0; i < end; i += W) {
            VF xv = VLOAD(x + i);
            VSTORE(y + i, VEXP_KEEP(xv, VSUB(xv, mu)));
        }
    }
}

static void dsoftmax(const float *p, float *dp, int64_t n, int64_t per, const float *di, float scale)
{
    ATTN_ASSERT(n % W == 0 && per % W == 0);
    const VF sc = VSET1(scale), zero = VZERO();
    for (int64_t i0 = 0; i0 < n; i0 += per) {
        const VF dv = VSET1(di[i0 / per]);
        const int64_t end = n - i0 < per ? n : i0 + per;
        for (int64_t i = i0; i < end; i += W) {
            VF pv = VLOAD(p + i);
            VF ds = VMUL(VMUL(pv, VSUB(VLOAD(dp + i), dv)), sc);
            VSTORE(dp + i, VBLEND_EQ(pv, zero, zero, ds));
        }
    }
}

/* W values of a K or V row at element d (one value: attn_kv_elem) of
 * element type kv (a compile-time constant in every caller). */
UK_INLINE VF kv_load(const void *row, int64_t d, const int kv)
{
    return kv == ATTN_KV_F16    ? VLOADH((const uint16_t *)row + d)
           : kv == ATTN_KV_BF16 ? VLOADB((const uint16_t *)row + d)
                                : VLOAD((const float *)row + d);
}

/* Decode, one key of nr query rows: s[r lds + j] = q_r . kj (the same sums,
 * in the same order, for any nr). */
UK_INLINE void dec_dot(const int nr, const int kv, const float *q, int64_t ldq, const void *kj, int64_t D, float *s,
                       int64_t lds, int64_t j)
{
    const int64_t Dw = D / W * W;
    VF a0[ATTN_DEC_ROWS], a1[ATTN_DEC_ROWS];
    for (int r = 0; r < nr; r++)
        a0[r] = VZERO(), a1[r] = VZERO();
    int64_t d = 0;
    for (; d + 2 * W <= Dw; d += 2 * W) {
        const VF k0 = kv_load(kj, d, kv), k1 = kv_load(kj, d + W, kv);
        for (int r = 0; r < nr; r++) {
            a0[r] = VFMA(VLOAD(q + r * ldq + d), k0, a0[r]);
            a1[r] = VFMA(VLOAD(q + r * ldq + d + W), k1, a1[r]);
        }
    }
    for (; d < Dw; d += W) {
        const VF k0 = kv_load(kj, d, kv);
        for (int r = 0; r < nr; r++)
            a0[r] = VFMA(VLOAD(q + r * ldq + d), k0, a0[r]);
    }
    for (int r = 0; r < nr; r++) {
        float acc = VHSUM(VADD(a0[r], a1[r]));
        for (int64_t e = Dw; e < D; e++)
            acc += q[r * ldq + e] * attn_kv_elem(kj, e, kv);
        s[r * lds + j] = acc;
    }
}

/* Decode, one value row vj for nr rows: o_r += w[r lds + j] vj for the rows
 * whose weight is not hidden; when every row's is, vj is not read. */
UK_INLINE void dec_axpy(const int nr, const int kv, const float *w, int64_t lds, int64_t j, const void *vj, float *o,
                        int64_t ldo, int64_t Dv)
{
    int act[ATTN_DEC_ROWS], na = 0;
    VF b[ATTN_DEC_ROWS];
    for (int r = 0; r < nr; r++)
        if (!attn_hidden_weight(w[r * lds + j]))
            act[na] = r, b[na] = VSET1(w[r * lds + j]), na++;
    if (na == 0)
        return;
    const int64_t Dvw = Dv / W * W;
    if (na == nr) { /* the usual case: every row, a loop of constant shape */
        for (int64_t d = 0; d < Dvw; d += W) {
            const VF x = kv_load(vj, d, kv);
            for (int r = 0; r < nr; r++)
                VSTORE(o + r * ldo + d, VFMA(b[r], x, VLOAD(o + r * ldo + d)));
        }
        for (int64_t d = Dvw; d < Dv; d++)
            for (int r = 0; r < nr; r++)
                o[r * ldo + d] += w[r * lds + j] * attn_kv_elem(vj, d, kv);
        return;
    }
    for (int64_t d = 0; d < Dvw; d += W) {
        const VF x = kv_load(vj, d, kv);
        for (int a = 0; a < na; a++) {
            float *od = o + act[a] * ldo + d;
            VSTORE(od, VFMA(b[a], x, VLOAD(od)));
        }
    }
    for (int64_t d = Dvw; d < Dv; d++)
        for (int a = 0; a < na; a++)
            o[act[a] * ldo + d] += w[act[a] * lds + j] * attn_kv_elem(vj, d, kv);
}

UK_INLINE void dec_rows(const int nr, const int kv, const float *q, int64_t ldq, const void *const *k, int64_t nk,
                        int64_t D, float *s, const float *w, int64_t lds, float *o, int64_t ldo,
                        const void *const *v, int64_t nv, int64_t Dv)
{
    for (int64_t j = 0; j < nk || j < nv; j++) {
        if (j < nk)
            dec_dot(nr, kv, q, ldq, k[j], D, s, lds, j);
        if (j < nv)
            dec_axpy(nr, kv, w, lds, j, v[j], o, ldo, Dv);
    }
}

/* The contract is in kernels.h.  K and V go key by key together, so that
 * they stream from memory at once (one after the other, each stream alone
 * fills the memory pipeline less: about 1.4x the time, bench/README.md),
 * and each row of K and V is read once for all nr query rows. */
static void dot_axpy_rows(int nr, int kv, const float *q, int64_t ldq, const void *const *k, int64_t nk, int64_t D,
                          float *s, const float *w, int64_t lds, float *o, int64_t ldo, const void *const *v,
                          int64_t nv, int64_t Dv)
{
#define UK_DEC_CASE(NR)                                                                                          \
    case NR:                                                                                                     \
        if (kv == ATTN_KV_F16)                                                                                   \
            dec_rows(NR, ATTN_KV_F16, q, ldq, k, nk, D, s, w, lds, o, ldo, v, nv, Dv);                           \
        else if (kv == ATTN_KV_BF16)                                                                             \
            dec_rows(NR, ATTN_KV_BF16, q, ldq, k, nk, D, s, w, lds, o, ldo, v, nv, Dv);                          \
        else                                                                                                     \
            dec_rows(NR, ATTN_KV_F32, q, ldq, k, nk, D, s, w, lds, o, ldo, v, nv, Dv);                           \
        break;
    switch (nr) {
    UK_DEC_CASE(1)
    UK_DEC_CASE(2)
    UK_DEC_CASE(3)
    UK_DEC_CASE(4)
    UK_DEC_CASE(5)
    UK_DEC_CASE(6)
    default: ATTN_ASSERT(0);
    }
#undef UK_DEC_CASE
}

UK_INLINE void widen_row(float *dst, const uint16_t *src, int64_t n, const int kv)
{
    int64_t d = 0;
    for (; d + W <= n; d += W)
        VSTORE(dst + d, kv_load(src, d, kv));
    for (; d < n; d++)
        dst[d] = attn_kv_elem(src, d, kv);
}

static void widen16(float *dst, const uint16_t *src, int64_t n, int kv)
{
    if (kv == ATTN_KV_BF16)
        widen_row(dst, src, n, ATTN_KV_BF16);
    else
        widen_row(dst, src, n, ATTN_KV_F16);
}

static double fma_probe(int64_t iters)
{
    VF m = VSET1(0.999999f), c = VSET1(1e-7f);
    VF a0 = VSET1(0), a1 = VSET1(1), a2 = VSET1(2), a3 = VSET1(3), a4 = VSET1(4), a5 = VSET1(5);
    VF a6 = VSET1(6), a7 = VSET1(7), a8 = VSET1(8), a9 = VSET1(9), a10 = VSET1(10), a11 = VSET1(11);
    for (int64_t it = 0; it < iters; it++) {
        a0 = VFMA(a0, m, c), a1 = VFMA(a1, m, c), a2 = VFMA(a2, m, c), a3 = VFMA(a3, m, c);
        a4 = VFMA(a4, m, c), a5 = VFMA(a5, m, c), a6 = VFMA(a6, m, c), a7 = VFMA(a7, m, c);
        a8 = VFMA(a8, m, c), a9 = VFMA(a9, m, c), a10 = VFMA(a10, m, c), a11 = VFMA(a11, m, c);
        /* keep the chains in registers and the loop from being folded */
        __asm__ volatile("" : "+v"(a0), "+v"(a1), "+v"(a2), "+v"(a3), "+v"(a4), "+v"(a5), "+v"(a6), "+v"(a7),
                         "+v"(a8), "+v"(a9), "+v"(a10), "+v"(a11));
    }
    VF s = VADD(VADD(VADD(a0, a1), VADD(a2, a3)), VADD(VADD(a4, a5), VADD(a6, a7)));
    s = VADD(s, VADD(VADD(a8, a9), VADD(a10, a11)));
    float out[W];
    VSTORE(out, s);
    volatile float sink = out[0];
    (void)sink;
    return (double)iters * 12.0 * W * 2.0;
}

const attn_ukernels UK_TABLE = {
    .id = UK_ID,
    .name = UK_NAME,
    .gemm_a = gemm_a,
    .gemm_b = gemm_b,
    .panel = NCMAX,
    .gemm_bp = gemm_bp,
    .softmax = softmax_tile,
    .exp_sub = exp_sub,
    .dsoftmax = dsoftmax,
    .dot_axpy_rows = dot_axpy_rows,
    .widen16 = widen16,
    .fma_probe = fma_probe,
};
