/*
 * api.c - the public attention entry points: validate, then dispatch.
 */
#include "core/internal.h"
#include "kernels/kernels.h"
#include "ref/ref.h"

#include <string.h>

/* The micro-kernels for this call, or NULL for the reference.  opts->kernel
 * forces a choice (ATTN_ERR_UNSUPPORTED if the CPU or the call's options rule
 * it out); otherwise the global choice is a preference, and AUTO the fastest
 * available kernel that supports the call. */
static attn_status pick_kernel(const attn_problem *p, const char *fn, const attn_ukernels **uk)
{
    *uk = NULL;
    attn_kernel k = p->kernel;
    bool forced = k != ATTN_KERNEL_AUTO;
    if (!forced)
        k = attn_get_kernel();
    if (k == ATTN_KERNEL_REFERENCE)
        return ATTN_OK;
    const char *why = attn_tiled_unsupported(p);
    if (why) {
        if (forced)
            return attn_fail(ATTN_ERR_UNSUPPORTED, "%s: the %s kernel does not support %s (the reference does)", fn,
                             attn_kernel_name(k), why);
        return ATTN_OK;
    }
    if (k == ATTN_KERNEL_AUTO)
        k = attn_kernel_best();
    *uk = attn_ukernels_get(k);
    if (!*uk && forced && k != ATTN_KERNEL_REFERENCE)
        return attn_fail(ATTN_ERR_UNSUPPORTED, "%s: this CPU cannot run the %s kernel (features: %s)", fn,
                         attn_kernel_name(k), attn_cpu_features());
    return ATTN_OK;
}

/* 16-bit (f16, bf16) inputs the tiled kernels do not read themselves: q, k
 * and v of the backward, and the 16-bit ones of k and v when their dtypes
 * differ.  The call then runs on contiguous f32 copies (exact: every f16 and
 * bf16 value is a float), O(N) memory, so that 16-bit inputs take the fast
 * kernels wherever f32 inputs do. */
typedef struct widened {
    float *buf[3]; /* q, k, v copies, or NULL */
} widened;

static bool needs_widening(const attn_problem *p, int which)
{
    const attn_view4 *v = which == 0 ? &p->q : which == 1 ? &p->k : &p->v;
    if (!(ATTN_DT(v->dtype) & ATTN_DT_HALF))
        return false;
    return p->backward || (which > 0 && p->k.dtype != p->v.dtype);
}

/* The problem as the kernels will see it after widen (dtypes only), to pick
 * the kernel before copying anything. */
static attn_problem as_widened(const attn_problem *p)
{
    attn_problem w = *p;
    attn_view4 *v[3] = {&w.q, &w.k, &w.v};
    for (int i = 0; i < 3; i++)
        if (needs_widening(p, i))
            v[i]->dtype = ATTN_F32;
    return w;
}

static attn_status widen(attn_problem *p, widened *w)
{
    static const char *what[3] = {"f32 copy of 16-bit q", "f32 copy of 16-bit k", "f32 copy of 16-bit v"};
    attn_view4 *views[3] = {&p->q, &p->k, &p->v};
    for (int i = 0; i < 3; i++) {
        if (!needs_widening(p, i)) /* (k is widened only when v is not 16-bit or all are: v's test stays the same) */
            continue;
        attn_view4 *v = views[i];
        int64_t n = v->n[0] * v->n[1] * v->n[2] * v->n[3]; /* validated sizes: a view this big exists */
        float *f = attn_alloc((size_t)(n > 0 ? n : 1) * sizeof(float), what[i]);
        if (!f)
            return ATTN_ERR_NOMEM;
        w->buf[i] = f;
        const int kv = attn_kv_of(v->dtype);
        int64_t at = 0;
        for (int64_t a = 0; a < v->n[0]; a++)
            for (int64_t b = 0; b < v->n[1]; b++)
                for (int64_t c = 0; c < v->n[2]; c++)
                    for (int64_t d = 0; d < v->n[3]; d++)
                        f[at++] = attn_kv_elem(v->data, attn_off4(v, a, b, c, d), kv);
        v->data = f;
        v->dtype = ATTN_F32;
        int64_t span = 1; /* contiguous, size-1 dimensions stride 0 as attn_view4_of makes them */
        for (int d = 3; d >= 0; d--) {
            v->st[d] = v->n[d] == 1 ? 0 : span;
            span *= v->n[d];
        }
    }
    return ATTN_OK;
}

static void widened_free(widened *w)
{
    for (int i = 0; i < 3; i++)
        attn_free(w->buf[i]);
}

/* Pick the kernel of validated problem p (as if its 16-bit inputs were widened)
 * and run it: the reference on p as it is, a tiled kernel after widen. */
static attn_status run(attn_problem *p, const char *fn, attn_status (*ref)(const attn_problem *),
                       attn_status (*tiled)(const attn_problem *, const attn_ukernels *))
{
    const attn_ukernels *uk;
    attn_problem pw = as_widened(p);
    attn_status st = pick_kernel(&pw, fn, &uk);
    if (st != ATTN_OK)
        return st;
    if (!uk)
        return ref(p);
    widened w = {{NULL}};
    st = widen(p, &w);
    if (st == ATTN_OK)
        st = tiled(p, uk);
    widened_free(&w);
    return st;
}

attn_kernel attn_kernel_for(const attn_tensor *q, const attn_tensor *k, const attn_tensor *v,
                            const attn_options *opts)
{
    static const char fn[] = "attn_kernel_for";
    if (!q || !k || !v) {
        attn_fail(ATTN_ERR_MISUSE, "%s: q, k or v is NULL", fn);
        return ATTN_KERNEL_AUTO;
    }
    attn_problem p;
    if (attn_problem_init(&p, fn, NULL, NULL, NULL, q, k, v, opts) != ATTN_OK)
        return ATTN_KERNEL_AUTO;
    p.out.dtype = ATTN_F32; /* as if out were f32 */
    p = as_widened(&p);
    const attn_ukernels *uk;
    if (pick_kernel(&p, fn, &uk) != ATTN_OK)
        return ATTN_KERNEL_AUTO;
    return uk ? uk->id : ATTN_KERNEL_REFERENCE;
}

attn_status attn_forward(const attn_tensor *out, const attn_tensor *lse, const attn_tensor *weights,
                         const attn_tensor *q, const attn_tensor *k, const attn_tensor *v, const attn_options *opts)
{
    static const char fn[] = "attn_forward";
    if (!out || !q || !k || !v)
        return attn_fail(ATTN_ERR_MISUSE, "%s: %s is NULL", fn, !out ? "out" : !q ? "q" : !k ? "k" : "v");
    attn_problem p;
    attn_status st = attn_problem_init(&p, fn, out, lse, weights, q, k, v, opts);
    if (st != ATTN_OK)
        return st;
    return run(&p, fn, attn_forward_ref, attn_flash_forward);
}

attn_status attn_backward(const attn_tensor *dq, const attn_tensor *dk, const attn_tensor *dv, const attn_tensor *dout,
                          const attn_tensor *q, const attn_tensor *k, const attn_tensor *v, const attn_tensor *out,
                          const attn_tensor *lse, const attn_options *opts)
{
    static const char fn[] = "attn_backward";
    const attn_tensor *args[] = {dq, dk, dv, dout, q, k, v, out, lse};
    static const char *names[] = {"dq", "dk", "dv", "dout", "q", "k", "v", "out", "lse"};
    for (int a = 0; a < 9; a++)
        if (!args[a])
            return attn_fail(ATTN_ERR_MISUSE, "%s: %s is NULL", fn, names[a]);
    attn_problem p;
    attn_status st = attn_problem_init_backward(&p, fn, dq, dk, dv, dout, q, k, v, out, lse, opts);
    if (st != ATTN_OK)
        return st;
    if (p.score == ATTN_SCORE_BILINEAR || p.score == ATTN_SCORE_ADDITIVE)
        return attn_backward_ref(&p); /* fails, naming the score */
    return run(&p, fn, attn_backward_ref, attn_flash_backward);
}

attn_status attn_scores(const attn_tensor *scores, const attn_tensor *q, const attn_tensor *k,
                        const attn_options *opts)
{
    static const char fn[] = "attn_scores";
    if (!scores || !q || !k)
        return attn_fail(ATTN_ERR_MISUSE, "%s: %s is NULL", fn, !scores ? "scores" : !q ? "q" : "k");
    if (!attn_present(scores))
        return attn_fail(ATTN_ERR_INVALID, "%s: scores is an absent tensor (rank 0)", fn);
    attn_problem p;
    attn_status st = attn_problem_init(&p, fn, NULL, NULL, scores, q, k, NULL, opts);
    if (st != ATTN_OK)
        return st;
    return attn_scores_ref(&p);
}

/* View a (B, n) tensor as (B, 1, 1, n): one head, one position. */
static attn_tensor as_b11n(const attn_tensor *t)
{
    attn_tensor r = *t;
    r.rank = 4;
    r.shape[0] = t->shape[0];
    r.shape[1] = r.shape[2] = 1;
    r.shape[3] = t->shape[1];
    r.stride[0] = t->stride[0];
    r.stride[1] = r.stride[2] = 0;
    r.stride[3] = t->stride[1];
    return r;
}

attn_status attn_pool(const attn_tensor *context, const attn_tensor *weights, const attn_tensor *x,
                      const attn_tensor *query, const attn_tensor *w, const int64_t *lengths)
{
    static const char fn[] = "attn_pool";
    attn_status st;
    if ((st = attn_check_arg(context, fn, "context", ATTN_DT_FLOAT)) != ATTN_OK ||
        (st = attn_check_arg(x, fn, "x", ATTN_DT_FLOAT)) != ATTN_OK ||
        (st = attn_check_arg(query, fn, "query", ATTN_DT_FLOAT)) != ATTN_OK ||
        (st = attn_check_arg(w, fn, "w", ATTN_DT_FLOAT)) != ATTN_OK)
        return st;
    if (attn_present(weights) && (st = attn_check_arg(weights, fn, "weights", ATTN_DT_FLOAT)) != ATTN_OK)
        return st;
    if (x->rank != 3)
        return attn_fail(ATTN_ERR_INVALID, "%s: x must be (B, L, D), got rank %d", fn, x->rank);
    int64_t B = x->shape[0], L = x->shape[1], D = x->shape[2];
    if (query->rank != 2 || query->shape[0] != B)
        return attn_fail(ATTN_ERR_INVALID, "%s: query must be (B=%lld, Dq), got rank %d with first size %lld", fn,
                         (long long)B, query->rank, (long long)query->shape[0]);
    if (context->rank != 2 || context->shape[0] != B || context->shape[1] != D)
        return attn_fail(ATTN_ERR_INVALID, "%s: context must be (B=%lld, D=%lld), got rank %d (%lld, %lld)", fn,
                         (long long)B, (long long)D, context->rank, (long long)context->shape[0],
                         (long long)(context->rank > 1 ? context->shape[1] : -1));
    if (attn_present(weights) && (weights->rank != 2 || weights->shape[0] != B || weights->shape[1] != L))
        return attn_fail(ATTN_ERR_INVALID, "%s: weights must be (B=%lld, L=%lld), got rank %d (%lld, %lld)", fn,
                         (long long)B, (long long)L, weights->rank, (long long)weights->shape[0],
                         (long long)(weights->rank > 1 ? weights->shape[1] : -1));
    attn_tensor kv = *x; /* (B, L, D) -> (B, 1, L, D) */
    kv.rank = 4;
    kv.shape[0] = B, kv.shape[1] = 1, kv.shape[2] = L, kv.shape[3] = D;
    kv.stride[0] = x->stride[0], kv.stride[1] = 0, kv.stride[2] = x->stride[1], kv.stride[3] = x->stride[2];
    attn_tensor q4 = as_b11n(query), out4 = as_b11n(context), w4;
    if (attn_present(weights))
        w4 = as_b11n(weights);
    attn_options o;
    memset(&o, 0, sizeof o);
    o.score = ATTN_SCORE_BILINEAR;
    o.bilinear_w = *w;
    o.key_lengths = lengths;
    o.kernel = ATTN_KERNEL_REFERENCE;
    st = attn_forward(&out4, NULL, attn_present(weights) ? &w4 : NULL, &q4, &kv, &kv, &o);
    if (st != ATTN_OK) { /* relabel the message for this function's arguments */
        char msg[1024];
        snprintf(msg, sizeof msg, "%s", attn_errmsg());
        return attn_fail(st, "%s (inside attn_pool, x as keys and values)", msg);
    }
    return ATTN_OK;
}
