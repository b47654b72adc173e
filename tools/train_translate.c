/*
 * train_translate.c - `attn train translate`: an encoder-decoder Transformer
 * learns to translate English number words into Chinese numerals ("three
 * hundred and twelve" -> 三百一十二, 0..999999), and `attn translate TEXT`
 * uses the checkpoint it saved.
 *
 * Data (numwords.h has the rules of both languages): a number is drawn by
 * choosing its digit count 1..6 uniformly, then the number uniformly among
 * those with that many digits (so small numbers are seen as often as big
 * ones).  The held-out numbers are a fixed 5% of 100..999999 (by a hash of
 * the number, the same for every seed): training never draws them, the test
 * set is drawn from them only.  Numbers below 100 are all trained: they are
 * the vocabulary ("seventeen" cannot be guessed).
 *
 * Tokens: source words split at spaces and hyphens ("twenty-one" -> twenty,
 * one); target characters one by one.  Model: token embeddings plus
 * sinusoidal positions, pre-LN encoder and decoder layers (attn_transformer_*),
 * final layer norms, a linear head over the characters; cross-entropy;
 * AdamW with warmup and cosine decay, gradient clipping.  Decoding is greedy:
 * the decoder is run on the prefix, the most likely next character appended,
 * until the end token.
 */
#define _POSIX_C_SOURCE 200809L

#include "args.h"
#include "ckpt.h"
#include "cli.h"
#include "draw.h"
#include "numwords.h"
#include "train.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------- vocabularies */

static const char *const src_words[] = {
    "<pad>",   "zero",    "one",    "two",      "three",   "four",     "five",     "six",
    "seven",   "eight",   "nine",   "ten",      "eleven",  "twelve",   "thirteen", "fourteen",
    "fifteen", "sixteen", "seventeen", "eighteen", "nineteen", "twenty", "thirty", "forty",
    "fifty",   "sixty",   "seventy", "eighty",  "ninety",  "hundred",  "thousand", "and"};
enum { SRC_V = sizeof src_words / sizeof *src_words, SRC_PAD = 0 };

static const char *const tgt_chars[] = {"<pad>", "<s>", "</s>", "零", "一", "二", "三", "四", "五",
                                        "六",    "七",  "八",   "九", "十", "百", "千", "万"};
enum { TGT_V = sizeof tgt_chars / sizeof *tgt_chars, TGT_PAD = 0, TGT_BOS = 1, TGT_EOS = 2, TGT_FIRST = 3 };

/* Longest sentences: 11 words ("seven hundred and seventy-seven thousand
 * seven hundred and seventy-seven"), 11 characters (九十九万九千九百九十九). */
enum { MAX_SRC = 16, MAX_TGT = 16 };

static int src_id(const char *w)
{
    for (int i = 1; i < SRC_V; i++)
        if (strcmp(src_words[i], w) == 0)
            return i;
    return -1;
}

/* Split English text into word ids (lower-cased, separated by spaces,
 * hyphens, commas).  Returns the count, or -1 with bad_word set to the
 * first unknown word, or -2 when there are more than MAX_SRC words. */
static int tokenize_src(const char *text, int64_t *ids, char *bad_word, size_t bad_size)
{
    int n = 0;
    const char *p = text;
    while (*p) {
        while (*p && (isspace((unsigned char)*p) || *p == '-' || *p == ','))
            p++;
        if (!*p)
            break;
        char w[32];
        size_t len = 0;
        while (*p && !isspace((unsigned char)*p) && *p != '-' && *p != ',') {
            if (len + 1 < sizeof w)
                w[len++] = (char)tolower((unsigned char)*p);
            p++;
        }
        w[len] = 0;
        int id = src_id(w);
        if (id < 0) {
            snprintf(bad_word, bad_size, "%s", w);
            return -1;
        }
        if (n == MAX_SRC)
            return -2;
        ids[n++] = id;
    }
    return n;
}

/* Chinese numeral (UTF-8) -> character ids; returns the count. */
static int tokenize_tgt(const char *zh, int64_t *ids)
{
    int n = 0;
    const char *p = zh;
    while (*p && n < MAX_TGT) {
        int found = 0;
        for (int i = TGT_FIRST; i < TGT_V; i++) {
            size_t l = strlen(tgt_chars[i]);
            if (strncmp(p, tgt_chars[i], l) == 0) {
                ids[n++] = i, p += l, found = 1;
                break;
            }
        }
        if (!found)
            break; /* cannot happen for numwords_chinese output */
    }
    return n;
}

/* -------------------------------------------------------------------- data */

#define HOLD_KEY UINT64_C(0x5eed0f7e57)

/* The held-out numbers: 5% of 100..999999, fixed for every seed. */
static int held_out(int n)
{
    return n >= 100 && rng_u64(HOLD_KEY, (uint64_t)n, 0) % 20 == 0;
}

static const int digit_lo[7] = {0, 0, 10, 100, 1000, 10000, 100000};
static const int digit_hi[7] = {0, 9, 99, 999, 9999, 99999, 999999};

/* Training number b of step `step`: digit count uniform in 1..6, then the
 * number uniform among those digits, redrawn while held out. */
static int train_number(uint64_t seed, int64_t step, int64_t b, int64_t batch)
{
    rng_stream r = rng_stream_at(seed, (uint64_t)(step * batch + b));
    for (;;) {
        int d = 1 + (int)rng_next_below(&r, 6);
        int n = digit_lo[d] + (int)rng_next_below(&r, (uint64_t)(digit_hi[d] - digit_lo[d] + 1));
        if (!held_out(n))
            return n;
    }
}

/* The test set: up to n_test distinct held-out numbers, digit count uniform
 * in 3..6 (there are only ~45 held-out 3-digit numbers).  Fixed, whatever
 * the seed.  Returns the count. */
static int64_t test_numbers(int *out, int64_t n_test)
{
    unsigned char *seen = calloc(NUMWORDS_MAX + 1, 1);
    if (!seen)
        return 0;
    rng_stream r = rng_stream_at(HOLD_KEY, 1);
    int64_t k = 0;
    for (int64_t attempt = 0; k < n_test && attempt < 1000 * n_test; attempt++) {
        int d = 3 + (int)rng_next_below(&r, 4);
        int n = digit_lo[d] + (int)rng_next_below(&r, (uint64_t)(digit_hi[d] - digit_lo[d] + 1));
        if (held_out(n) && !seen[n])
            seen[n] = 1, out[k++] = n;
    }
    free(seen);
    return k;
}

/* ------------------------------------------------------------------- model */

enum { MAX_LAYERS = 8 };

typedef struct tr_cfg {
    int64_t C, H, F, n_enc, n_dec;
} tr_cfg;

typedef struct tr_model {
    attn_model m;
    tr_cfg cfg;
    int64_t src_emb, tgt_emb, enc_lnw, enc_lnb, dec_lnw, dec_lnb, head_w, head_b;
    attn_transformer_layer enc[MAX_LAYERS], dec[MAX_LAYERS];
} tr_model;

static void cfg_string(const tr_cfg *c, char *buf, size_t size)
{
    snprintf(buf, size, "translate d_model=%lld heads=%lld d_ff=%lld enc_layers=%lld dec_layers=%lld",
             (long long)c->C, (long long)c->H, (long long)c->F, (long long)c->n_enc, (long long)c->n_dec);
}

static int cfg_parse(const char *s, tr_cfg *c)
{
    long long a, b, d, e, f;
    if (sscanf(s, "translate d_model=%lld heads=%lld d_ff=%lld enc_layers=%lld dec_layers=%lld", &a, &b, &d, &e,
               &f) != 5 ||
        a < 1 || b < 1 || a % b || d < 1 || e < 1 || e > MAX_LAYERS || f < 1 || f > MAX_LAYERS || a > 4096 ||
        d > 65536)
        return -1;
    c->C = a, c->H = b, c->F = d, c->n_enc = e, c->n_dec = f;
    return 0;
}

static int build_model(tr_model *tm, const tr_cfg *c, uint64_t seed)
{
    memset(tm, 0, sizeof *tm);
    attn_model_init(&tm->m);
    tm->cfg = *c;
    attn_transformer_config tc;
    memset(&tc, 0, sizeof tc);
    tc.d_model = c->C, tc.n_heads = c->H, tc.d_ff = c->F, tc.act = ATTN_ACT_GELU, tc.pre_ln = 1, tc.bias = 1;
    attn_model *m = &tm->m;
    int64_t se[2] = {SRC_V, c->C}, te[2] = {TGT_V, c->C}, ln[1] = {c->C}, hw[2] = {TGT_V, c->C};
    attn_status st = attn_model_add(m, "src_emb", 2, se, ATTN_INIT_NORMAL, 1.0, &tm->src_emb);
    if (st == ATTN_OK)
        st = attn_model_add(m, "tgt_emb", 2, te, ATTN_INIT_NORMAL, 1.0, &tm->tgt_emb);
    char name[64];
    for (int64_t k = 0; st == ATTN_OK && k < c->n_enc; k++) {
        snprintf(name, sizeof name, "enc.%lld", (long long)k);
        tc.cross = 0, tc.causal = ATTN_CAUSAL_NONE;
        st = attn_transformer_declare(m, &tm->enc[k], name, &tc);
    }
    if (st == ATTN_OK)
        st = attn_model_add(m, "enc.ln.w", 1, ln, ATTN_INIT_ONES, 0, &tm->enc_lnw);
    if (st == ATTN_OK)
        st = attn_model_add(m, "enc.ln.b", 1, ln, ATTN_INIT_ZEROS, 0, &tm->enc_lnb);
    for (int64_t k = 0; st == ATTN_OK && k < c->n_dec; k++) {
        snprintf(name, sizeof name, "dec.%lld", (long long)k);
        tc.cross = 1, tc.causal = ATTN_CAUSAL_TOP_LEFT;
        st = attn_transformer_declare(m, &tm->dec[k], name, &tc);
    }
    if (st == ATTN_OK)
        st = attn_model_add(m, "dec.ln.w", 1, ln, ATTN_INIT_ONES, 0, &tm->dec_lnw);
    if (st == ATTN_OK)
        st = attn_model_add(m, "dec.ln.b", 1, ln, ATTN_INIT_ZEROS, 0, &tm->dec_lnb);
    if (st == ATTN_OK)
        st = attn_model_add(m, "head.w", 2, hw, ATTN_INIT_UNIFORM, 1.0 / sqrt((double)c->C), &tm->head_w);
    if (st == ATTN_OK)
        st = attn_model_add(m, "head.b", 1, hw, ATTN_INIT_ZEROS, 0, &tm->head_b);
    if (st == ATTN_OK)
        st = attn_model_alloc(m, seed);
    if (st != ATTN_OK)
        return cli_error("building the model: %s", attn_errmsg());
    return CLI_OK;
}

#define P(tm, off) ((tm)->m.params + (off))
#define G(tm, off) ((tm)->m.grads + (off))

/* Activations and gradients for up to B sequences of up to MAX_SRC / MAX_TGT
 * tokens. */
typedef struct tr_work {
    int64_t B;
    int64_t *src, *src_len, *tgt_in, *tgt_out; /* (B, S), (B), (B, T), (B, T) */
    float *ex, *eh[MAX_LAYERS], *mem, *mem_mean, *mem_rstd, *ecache[MAX_LAYERS];
    float *dx, *dh[MAX_LAYERS], *dfin, *dmean, *drstd, *dcache[MAX_LAYERS];
    float *logits, *probs;
    float *g_a, *g_b, *g_mem, *g_emem; /* gradient buffers */
} tr_work;

static void work_free(tr_work *w)
{
    free(w->src), free(w->src_len), free(w->tgt_in), free(w->tgt_out);
    free(w->ex), free(w->mem), free(w->mem_mean), free(w->mem_rstd);
    free(w->dx), free(w->dfin), free(w->dmean), free(w->drstd), free(w->logits), free(w->probs);
    free(w->g_a), free(w->g_b), free(w->g_mem), free(w->g_emem);
    for (int k = 0; k < MAX_LAYERS; k++)
        free(w->eh[k]), free(w->ecache[k]), free(w->dh[k]), free(w->dcache[k]);
    memset(w, 0, sizeof *w);
}

static int work_alloc(tr_work *w, const tr_model *tm, int64_t B)
{
    memset(w, 0, sizeof *w);
    w->B = B;
    const tr_cfg *c = &tm->cfg;
    size_t fs = sizeof(float), S = MAX_SRC, T = MAX_TGT, C = (size_t)c->C, Bs = (size_t)B;
    int bad = 0;
#define ALLOC(p, n) bad |= !((p) = malloc((n) * sizeof *(p)))
    ALLOC(w->src, Bs * S);
    ALLOC(w->src_len, Bs);
    ALLOC(w->tgt_in, Bs * T);
    ALLOC(w->tgt_out, Bs * T);
    ALLOC(w->ex, Bs * S * C);
    ALLOC(w->mem, Bs * S * C);
    ALLOC(w->mem_mean, Bs * S);
    ALLOC(w->mem_rstd, Bs * S);
    ALLOC(w->dx, Bs * T * C);
    ALLOC(w->dfin, Bs * T * C);
    ALLOC(w->dmean, Bs * T);
    ALLOC(w->drstd, Bs * T);
    ALLOC(w->logits, Bs * T * TGT_V);
    ALLOC(w->probs, Bs * T * TGT_V);
    ALLOC(w->g_a, Bs * (S > T ? S : T) * C);
    ALLOC(w->g_b, Bs * (S > T ? S : T) * C);
    ALLOC(w->g_mem, Bs * S * C);
    ALLOC(w->g_emem, Bs * S * C);
    for (int64_t k = 0; k < c->n_enc; k++) {
        ALLOC(w->eh[k], Bs * S * C);
        bad |= !(w->ecache[k] = malloc((size_t)attn_transformer_cache_floats(&tm->enc[k], B, MAX_SRC, 0) * fs));
    }
    for (int64_t k = 0; k < c->n_dec; k++) {
        ALLOC(w->dh[k], Bs * T * C);
        bad |= !(w->dcache[k] = malloc((size_t)attn_transformer_cache_floats(&tm->dec[k], B, MAX_TGT, MAX_SRC) * fs));
    }
#undef ALLOC
    if (bad) {
        work_free(w);
        return cli_error("out of memory for a batch of %lld sentences", (long long)B);
    }
    return CLI_OK;
}

/* Encoder: w->src (B, S), src_len -> w->mem (B, S, C) (after the final layer norm). */
static int encode(const tr_model *tm, tr_work *w, int64_t B, int64_t S)
{
    const tr_cfg *c = &tm->cfg;
    int64_t N = B * S;
    if (attn_embedding_forward(w->ex, w->src, P(tm, tm->src_emb), N, c->C, SRC_V) != ATTN_OK ||
        attn_posenc_sinusoidal_forward(w->ex, w->ex, B, S, c->C, 0) != ATTN_OK)
        return cli_error("encoder input: %s", attn_errmsg());
    const float *in = w->ex;
    for (int64_t k = 0; k < c->n_enc; k++) {
        if (attn_transformer_forward(&tm->m, &tm->enc[k], w->eh[k], w->ecache[k], in, NULL, w->src_len, NULL, B, S,
                                     0, 0) != ATTN_OK)
            return cli_error("encoder layer %lld: %s", (long long)k, attn_errmsg());
        in = w->eh[k];
    }
    if (attn_layernorm_forward(w->mem, w->mem_mean, w->mem_rstd, in, P(tm, tm->enc_lnw), P(tm, tm->enc_lnb), N, c->C,
                               1e-5) != ATTN_OK)
        return cli_error("encoder norm: %s", attn_errmsg());
    return CLI_OK;
}

/* Decoder on w->tgt_in (B, T) over w->mem (B, S, C) -> w->logits (B, T, V). */
static int decode(const tr_model *tm, tr_work *w, int64_t B, int64_t S, int64_t T)
{
    const tr_cfg *c = &tm->cfg;
    int64_t N = B * T;
    if (attn_embedding_forward(w->dx, w->tgt_in, P(tm, tm->tgt_emb), N, c->C, TGT_V) != ATTN_OK ||
        attn_posenc_sinusoidal_forward(w->dx, w->dx, B, T, c->C, 0) != ATTN_OK)
        return cli_error("decoder input: %s", attn_errmsg());
    const float *in = w->dx;
    for (int64_t k = 0; k < c->n_dec; k++) {
        if (attn_transformer_forward(&tm->m, &tm->dec[k], w->dh[k], w->dcache[k], in, w->mem, NULL, w->src_len, B, T,
                                     S, 0) != ATTN_OK)
            return cli_error("decoder layer %lld: %s", (long long)k, attn_errmsg());
        in = w->dh[k];
    }
    if (attn_layernorm_forward(w->dfin, w->dmean, w->drstd, in, P(tm, tm->dec_lnw), P(tm, tm->dec_lnb), N, c->C,
                               1e-5) != ATTN_OK ||
        attn_linear_forward(w->logits, w->dfin, P(tm, tm->head_w), P(tm, tm->head_b), N, c->C, TGT_V) != ATTN_OK)
        return cli_error("decoder output: %s", attn_errmsg());
    return CLI_OK;
}

/* Gradients of the mean cross-entropy (probs from the last forward) into
 * m->grads (zeroed here first). */
static int backward(tr_model *tm, tr_work *w, int64_t B, int64_t S, int64_t T)
{
    const tr_cfg *c = &tm->cfg;
    int64_t Nt = B * T, Ns = B * S, C = c->C;
    attn_model_zero_grad(&tm->m);
    float *dl = malloc((size_t)(Nt * TGT_V) * sizeof *dl);
    if (!dl)
        return cli_error("out of memory");
    memset(dl, 0, (size_t)(Nt * TGT_V) * sizeof *dl);
    memset(w->g_a, 0, (size_t)(Nt * C) * sizeof(float));
    memset(w->g_mem, 0, (size_t)(Ns * C) * sizeof(float));
    attn_status st = attn_cross_entropy_backward(dl, w->probs, w->tgt_out, Nt, TGT_V, -1, 0.0, 1.0);
    if (st == ATTN_OK) /* head: g_b = d dfin */
        memset(w->g_b, 0, (size_t)(Nt * C) * sizeof(float)),
            st = attn_linear_backward(w->g_b, G(tm, tm->head_w), G(tm, tm->head_b), dl, w->dfin, P(tm, tm->head_w), Nt,
                                      C, TGT_V);
    const float *last_dec = c->n_dec ? w->dh[c->n_dec - 1] : w->dx;
    if (st == ATTN_OK) /* final norm: g_a = d (last decoder output) */
        st = attn_layernorm_backward(w->g_a, G(tm, tm->dec_lnw), G(tm, tm->dec_lnb), w->g_b, last_dec,
                                     P(tm, tm->dec_lnw), w->dmean, w->drstd, Nt, C);
    float *dcur = w->g_a, *dprev = w->g_b;
    for (int64_t k = c->n_dec - 1; st == ATTN_OK && k >= 0; k--) {
        const float *in = k ? w->dh[k - 1] : w->dx;
        memset(dprev, 0, (size_t)(Nt * C) * sizeof(float));
        st = attn_transformer_backward(&tm->m, &tm->dec[k], dprev, w->g_mem, dcur, w->dcache[k], in, w->mem, NULL,
                                       w->src_len, B, T, S, 0);
        float *t = dcur;
        dcur = dprev, dprev = t;
    }
    if (st == ATTN_OK) /* dcur = d (decoder input embeddings): positions add, gradient passes through */
        st = attn_embedding_backward(G(tm, tm->tgt_emb), dcur, w->tgt_in, Nt, C, TGT_V);
    const float *last_enc = c->n_enc ? w->eh[c->n_enc - 1] : w->ex;
    if (st == ATTN_OK)
        memset(w->g_emem, 0, (size_t)(Ns * C) * sizeof(float)),
            st = attn_layernorm_backward(w->g_emem, G(tm, tm->enc_lnw), G(tm, tm->enc_lnb), w->g_mem, last_enc,
                                         P(tm, tm->enc_lnw), w->mem_mean, w->mem_rstd, Ns, C);
    dcur = w->g_emem, dprev = w->g_a;
    for (int64_t k = c->n_enc - 1; st == ATTN_OK && k >= 0; k--) {
        const float *in = k ? w->eh[k - 1] : w->ex;
        memset(dprev, 0, (size_t)(Ns * C) * sizeof(float));
        st = attn_transformer_backward(&tm->m, &tm->enc[k], dprev, NULL, dcur, w->ecache[k], in, NULL, w->src_len,
                                       NULL, B, S, 0, 0);
        float *t = dcur;
        dcur = dprev, dprev = t;
    }
    if (st == ATTN_OK)
        st = attn_embedding_backward(G(tm, tm->src_emb), dcur, w->src, Ns, C, SRC_V);
    free(dl);
    if (st != ATTN_OK)
        return cli_error("backward: %s", attn_errmsg());
    return CLI_OK;
}

/* Fill w with the sentences of numbers nums[0..B-1] (teacher forcing);
 * *S and *T receive the padded lengths. */
static void fill_batch(tr_work *w, const int *nums, int64_t B, int64_t *S_out, int64_t *T_out)
{
    int64_t S = 1, T = 1;
    int64_t slen[1024], tlen[1024];
    static int64_t sbuf[1024][MAX_SRC], tbuf[1024][MAX_TGT];
    for (int64_t b = 0; b < B; b++) {
        char en[128], zh[128], bad[8];
        numwords_english(nums[b], en, sizeof en);
        numwords_chinese(nums[b], zh, sizeof zh);
        slen[b] = tokenize_src(en, sbuf[b], bad, sizeof bad);
        tlen[b] = tokenize_tgt(zh, tbuf[b]);
        if (slen[b] > S)
            S = slen[b];
        if (tlen[b] + 1 > T)
            T = tlen[b] + 1;
    }
    for (int64_t b = 0; b < B; b++) {
        w->src_len[b] = slen[b];
        for (int64_t s = 0; s < S; s++)
            w->src[b * S + s] = s < slen[b] ? sbuf[b][s] : SRC_PAD;
        for (int64_t t = 0; t < T; t++) {
            w->tgt_in[b * T + t] = t == 0 ? TGT_BOS : t - 1 < tlen[b] ? tbuf[b][t - 1] : TGT_PAD;
            w->tgt_out[b * T + t] = t < tlen[b] ? tbuf[b][t] : t == tlen[b] ? TGT_EOS : -1;
        }
    }
    *S_out = S, *T_out = T;
}

/* Greedy decoding of the B sentences in w->src (encoded already into
 * w->mem): out[b] receives up to MAX_TGT-1 character ids, lens[b] their
 * count.  The decoder is rerun on the whole prefix at each step. */
static int greedy(const tr_model *tm, tr_work *w, int64_t B, int64_t S, int64_t out[][MAX_TGT], int64_t *lens)
{
    int done[1024] = {0};
    for (int64_t b = 0; b < B; b++)
        lens[b] = 0;
    for (int64_t t = 0; t < MAX_TGT - 1; t++) {
        int64_t T = t + 1;
        for (int64_t b = 0; b < B; b++)
            for (int64_t i = 0; i < T; i++)
                w->tgt_in[b * T + i] = i == 0 ? TGT_BOS : i - 1 < lens[b] ? out[b][i - 1] : TGT_PAD;
        int rc = decode(tm, w, B, S, T);
        if (rc != CLI_OK)
            return rc;
        int all = 1;
        for (int64_t b = 0; b < B; b++) {
            if (done[b])
                continue;
            const float *lg = w->logits + (b * T + t) * TGT_V;
            int best = TGT_EOS;
            for (int v = TGT_EOS; v < TGT_V; v++) /* never <pad> or <s> */
                if (lg[v] > lg[best])
                    best = v;
            if (best == TGT_EOS)
                done[b] = 1;
            else
                out[b][lens[b]++] = best;
            all &= done[b];
        }
        if (all)
            break;
    }
    return CLI_OK;
}

static void ids_to_text(const int64_t *ids, int64_t n, char *buf, size_t size)
{
    size_t len = 0;
    buf[0] = 0;
    for (int64_t i = 0; i < n; i++) {
        size_t l = strlen(tgt_chars[ids[i]]);
        if (len + l + 1 > size)
            break;
        memcpy(buf + len, tgt_chars[ids[i]], l + 1);
        len += l;
    }
}

enum { EVAL_CHUNK = 250 };

/* Exact-match accuracy of greedy decoding over nums[0..n-1]; *first_wrong
 * (may be NULL) receives the first mistranslated number or -1. */
static int evaluate(const tr_model *tm, const int *nums, int64_t n, double *acc, int *first_wrong,
                    char *wrong_text, size_t wrong_size)
{
    tr_work w;
    int rc = work_alloc(&w, tm, EVAL_CHUNK);
    if (rc != CLI_OK)
        return rc;
    static int64_t out[EVAL_CHUNK][MAX_TGT];
    int64_t lens[EVAL_CHUNK], right = 0;
    if (first_wrong)
        *first_wrong = -1;
    for (int64_t s = 0; s < n && rc == CLI_OK; s += EVAL_CHUNK) {
        int64_t B = n - s < EVAL_CHUNK ? n - s : EVAL_CHUNK, S, T;
        fill_batch(&w, nums + s, B, &S, &T);
        if ((rc = encode(tm, &w, B, S)) != CLI_OK || (rc = greedy(tm, &w, B, S, out, lens)) != CLI_OK)
            break;
        for (int64_t b = 0; b < B; b++) {
            char want[128], got[128];
            numwords_chinese(nums[s + b], want, sizeof want);
            ids_to_text(out[b], lens[b], got, sizeof got);
            if (strcmp(want, got) == 0)
                right++;
            else if (first_wrong && *first_wrong < 0) {
                *first_wrong = nums[s + b];
                snprintf(wrong_text, wrong_size, "%s", got);
            }
        }
    }
    *acc = n ? (double)right / (double)n : 0;
    work_free(&w);
    return rc;
}

/* ----------------------------------------------------------------- picture */

/* Translate `text` (B = 1) and draw the cross-attention of every decoder
 * layer, averaged over its heads: rows the output characters (then the end
 * mark), columns the source words.  The weights are recomputed from the
 * layer's own sublayers: pre-LN, so the cross attention sees
 * LN1(x + self_attention(LN0(x))).  translation receives the output. */
static int translate_one(const tr_model *tm, const char *text, const char *picture, char *translation, size_t tsize)
{
    const tr_cfg *c = &tm->cfg;
    tr_work w;
    int64_t ids[MAX_SRC];
    char bad[32];
    int n = tokenize_src(text, ids, bad, sizeof bad);
    if (n == -1)
        return cli_error("unknown word '%s'; the words are zero..nineteen, twenty..ninety, hundred, thousand, and",
                         bad);
    if (n == -2)
        return cli_error("more than %d words", MAX_SRC);
    if (n == 0)
        return cli_error("nothing to translate");
    int rc = work_alloc(&w, tm, 1);
    if (rc != CLI_OK)
        return rc;
    static int64_t out[1][MAX_TGT];
    int64_t len = 0, S = n;
    memcpy(w.src, ids, (size_t)n * sizeof *ids);
    w.src_len[0] = n;
    if ((rc = encode(tm, &w, 1, S)) == CLI_OK)
        rc = greedy(tm, &w, 1, S, out, &len);
    if (rc == CLI_OK)
        ids_to_text(out[0], len, translation, tsize);
    if (rc == CLI_OK && picture) {
        /* decoder input: <s> + output; rows: the output characters then </s>
         * (the prediction made at each position) */
        int64_t T = len + 1, C = c->C, H = c->H;
        for (int64_t t = 0; t < T; t++)
            w.tgt_in[t] = t == 0 ? TGT_BOS : out[0][t - 1];
        rc = decode(tm, &w, 1, S, T);
        float *u = malloc((size_t)(T * C) * sizeof *u), *x1 = malloc((size_t)(T * C) * sizeof *x1);
        float *mean = malloc((size_t)T * sizeof *mean), *rstd = malloc((size_t)T * sizeof *rstd);
        float *wts = malloc((size_t)(H * T * S) * sizeof *wts);
        double *avg = malloc((size_t)(c->n_dec * T * S) * sizeof *avg);
        int64_t mcache = attn_mha_cache_floats(&tm->dec[0].self_attn, 1, T, T);
        int64_t ccache = attn_mha_cache_floats(&tm->dec[0].cross_attn, 1, T, S);
        float *cache = malloc((size_t)(mcache > ccache ? mcache : ccache) * sizeof *cache);
        if (rc == CLI_OK && (!u || !x1 || !mean || !rstd || !wts || !avg || !cache))
            rc = cli_error("out of memory");
        for (int64_t k = 0; rc == CLI_OK && k < c->n_dec; k++) {
            const attn_transformer_layer *l = &tm->dec[k];
            const float *x = k ? w.dh[k - 1] : w.dx;
            if (attn_layernorm_forward(u, mean, rstd, x, P(tm, l->ln_w[0]), P(tm, l->ln_b[0]), T, C, 1e-5) != ATTN_OK ||
                attn_mha_forward(&tm->m, &l->self_attn, x1, NULL, cache, u, u, NULL, 1, T, T, 0) != ATTN_OK) {
                rc = cli_error("picture: %s", attn_errmsg());
                break;
            }
            for (int64_t e = 0; e < T * C; e++)
                x1[e] += x[e];
            if (attn_layernorm_forward(u, mean, rstd, x1, P(tm, l->ln_w[1]), P(tm, l->ln_b[1]), T, C, 1e-5) != ATTN_OK ||
                attn_mha_forward(&tm->m, &l->cross_attn, x1, wts, cache, u, w.mem, w.src_len, 1, T, S, 0) != ATTN_OK) {
                rc = cli_error("picture: %s", attn_errmsg());
                break;
            }
            for (int64_t i = 0; i < T * S; i++) {
                double a = 0;
                for (int64_t h = 0; h < H; h++)
                    a += wts[h * T * S + i];
                avg[k * T * S + i] = a / (double)H;
            }
        }
        if (rc == CLI_OK) {
            const char *rows[MAX_TGT], *cols[MAX_SRC];
            for (int64_t t = 0; t < T; t++)
                rows[t] = t < len ? tgt_chars[out[0][t]] : "(end)";
            for (int64_t s = 0; s < S; s++)
                cols[s] = src_words[ids[s]];
            draw_heatmap maps[MAX_LAYERS];
            char titles[MAX_LAYERS][48];
            for (int64_t k = 0; k < c->n_dec; k++) {
                snprintf(titles[k], sizeof titles[k], "decoder layer %lld (mean of %lld heads)", (long long)k + 1,
                         (long long)H);
                maps[k].values = avg + k * T * S, maps[k].rows = T, maps[k].cols = S;
                maps[k].row_labels = rows, maps[k].col_labels = cols, maps[k].title = titles[k];
            }
            draw_heatmap_style st;
            memset(&st, 0, sizeof st);
            char title[256];
            snprintf(title, sizeof title, "cross-attention: %s -> %s", text, translation);
            st.title = title;
            char err[512];
            int pw, ph;
            if (draw_heatmaps(picture, maps, (int)c->n_dec, &st, &pw, &ph, err, sizeof err) != ATTN_OK)
                rc = cli_error("%s", err);
            else
                printf("wrote %s (%d x %d pixels)\n", picture, pw, ph);
            draw_release();
        }
        free(u), free(x1), free(mean), free(rstd), free(wts), free(avg), free(cache);
    }
    work_free(&w);
    return rc;
}

/* ------------------------------------------------------------------- train */

static const char train_usage[] =
    "usage: attn train translate [OPTIONS]\n"
    "\n"
    "Train an encoder-decoder Transformer to translate English number words into Chinese\n"
    "numerals, 0..999999 (\"three hundred and twelve\" -> 三百一十二), on sentences generated by\n"
    "rule, then measure exact-match accuracy of greedy decoding on held-out numbers (a fixed 5%\n"
    "of 100..999999 that training never sees).  Saves a checkpoint for 'attn translate'.\n"
    "\n"
    "English is British style: \"and\" before the last part when it is below one hundred and a\n"
    "hundreds or thousands part comes before it (\"one thousand and five\", \"one hundred and\n"
    "one\", \"two thousand three hundred\").  Chinese uses 零 for skipped places (一千零一),\n"
    "十 alone at the start (十一, 十万) and 二 (not 两).\n"
    "\n"
    "Options:\n"
    "      --d-model N       model width (default 64)\n"
    "      --heads N         attention heads (default 4)\n"
    "      --d-ff N          feed-forward width (default 256)\n"
    "      --layers N        encoder and decoder layers each (default 2)\n"
    "      --batch N         sentences per step (default 64)\n"
    "      --lr X            peak learning rate of AdamW (default 2e-3; warmup then cosine decay)\n"
    "      --warmup N        warmup steps (default 200)\n"
    "      --test N          held-out test numbers (default 1000)\n"
    "      --picture FILE    the cross-attention picture of a sample sentence (default: beside\n"
    "                        the checkpoint, NAME.attention.png)\n"
    "      --sample TEXT     the sample sentence (default \"three hundred and four thousand five\n"
    "                        hundred and twelve\")\n"
    "  -h, --help            this help\n"
    "\n"
    "Defaults: 1000 steps, seed 1; the checkpoint goes to --save FILE (default translate.ckpt).\n"
    "\n";

typedef struct tr_args {
    tr_cfg cfg;
    int64_t batch, warmup, n_test;
    double lr;
    const char *picture, *sample;
} tr_args;

static int parse_train(int argc, char **argv, tr_args *a, train_opts *o, int *help)
{
    enum { O_DM = 256, O_HEADS, O_DFF, O_LAYERS, O_BATCH, O_LR, O_WARMUP, O_TEST, O_PICTURE, O_SAMPLE };
    static const struct option longopts[] = {
        {"d-model", required_argument, NULL, O_DM},     {"heads", required_argument, NULL, O_HEADS},
        {"d-ff", required_argument, NULL, O_DFF},       {"layers", required_argument, NULL, O_LAYERS},
        {"batch", required_argument, NULL, O_BATCH},    {"lr", required_argument, NULL, O_LR},
        {"warmup", required_argument, NULL, O_WARMUP},  {"test", required_argument, NULL, O_TEST},
        {"picture", required_argument, NULL, O_PICTURE}, {"sample", required_argument, NULL, O_SAMPLE},
        {"help", no_argument, NULL, 'h'},               TRAIN_COMMON_LONGOPTS,
        {NULL, 0, NULL, 0},
    };
    const char *cmd = "train translate";
    memset(a, 0, sizeof *a);
    a->cfg.C = 64, a->cfg.H = 4, a->cfg.F = 256, a->cfg.n_enc = a->cfg.n_dec = 2;
    a->batch = 64, a->warmup = 200, a->n_test = 1000, a->lr = 2e-3;
    a->sample = "three hundred and four thousand five hundred and twelve";
    memset(o, 0, sizeof *o);
    o->seed = 1, o->steps = 1000, o->save = "translate.ckpt";
    *help = 0;
    opterr = 0;
    optind = 0;
    int ch, rc = CLI_OK;
    int64_t layers = 2;
    while (rc == CLI_OK && (ch = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
        switch (ch) {
        case O_DM: rc = cli_parse_int64(cmd, "--d-model", optarg, &a->cfg.C); break;
        case O_HEADS: rc = cli_parse_int64(cmd, "--heads", optarg, &a->cfg.H); break;
        case O_DFF: rc = cli_parse_int64(cmd, "--d-ff", optarg, &a->cfg.F); break;
        case O_LAYERS: rc = cli_parse_int64(cmd, "--layers", optarg, &layers); break;
        case O_BATCH: rc = cli_parse_int64(cmd, "--batch", optarg, &a->batch); break;
        case O_LR: rc = cli_parse_double(cmd, "--lr", optarg, &a->lr); break;
        case O_WARMUP: rc = cli_parse_int64(cmd, "--warmup", optarg, &a->warmup); break;
        case O_TEST: rc = cli_parse_int64(cmd, "--test", optarg, &a->n_test); break;
        case O_PICTURE: a->picture = optarg; break;
        case O_SAMPLE: a->sample = optarg; break;
        case 'h':
            fputs(train_usage, stdout);
            fputs(train_common_help, stdout);
            *help = 1;
            return CLI_OK;
        default:
            rc = ch >= TRAIN_OPT_BASE ? train_parse_common(cmd, ch, optarg, o) : cli_bad_option(cmd, ch, argv);
            break;
        }
    }
    if (rc != CLI_OK)
        return rc;
    if (optind < argc)
        return cli_usage(cmd, "unexpected argument '%s'", argv[optind]);
    if (layers < 1 || layers > MAX_LAYERS)
        return cli_usage(cmd, "--layers %lld is out of range [1, %d]", (long long)layers, MAX_LAYERS);
    a->cfg.n_enc = a->cfg.n_dec = layers;
    if (a->cfg.C < 2 || a->cfg.C > 1024 || a->cfg.C % 2)
        return cli_usage(cmd, "--d-model %lld must be even and in [2, 1024]", (long long)a->cfg.C);
    if (a->cfg.H < 1 || a->cfg.C % a->cfg.H)
        return cli_usage(cmd, "--heads %lld must divide --d-model %lld", (long long)a->cfg.H, (long long)a->cfg.C);
    if (a->cfg.F < 1 || a->cfg.F > 16384)
        return cli_usage(cmd, "--d-ff %lld is out of range [1, 16384]", (long long)a->cfg.F);
    if (a->batch < 1 || a->batch > 1024)
        return cli_usage(cmd, "--batch %lld is out of range [1, 1024]", (long long)a->batch);
    if (!(a->lr > 0) || a->lr > 1)
        return cli_usage(cmd, "--lr %g must be in (0, 1]", a->lr);
    if (a->warmup < 0)
        return cli_usage(cmd, "--warmup %lld must not be negative", (long long)a->warmup);
    if (a->n_test < 1 || a->n_test > 40000)
        return cli_usage(cmd, "--test %lld is out of range [1, 40000]", (long long)a->n_test);
    if (a->picture) {
        draw_format fmt;
        char err[256];
        if (draw_format_of(a->picture, &fmt, err, sizeof err) != ATTN_OK)
            return cli_usage(cmd, "--picture %s", err);
    }
    int64_t ids[MAX_SRC];
    char bad[32];
    int n = tokenize_src(a->sample, ids, bad, sizeof bad);
    if (n <= 0)
        return cli_usage(cmd, "--sample: %s", n == 0 ? "empty" : n == -2 ? "too many words" : "unknown word");
    return CLI_OK;
}

/* NAME.attention.png beside the checkpoint NAME.ckpt (or NAME). */
static void picture_beside(const char *ckpt, char *buf, size_t size)
{
    snprintf(buf, size, "%s", ckpt);
    char *slash = strrchr(buf, '/'), *dot = strrchr(buf, '.');
    if (dot && (!slash || dot > slash) && dot != buf && dot[-1] != '/')
        *dot = 0;
    size_t len = strlen(buf);
    snprintf(buf + len, size - len, ".attention.png");
}

int attn_cmd_train_translate(int argc, char **argv)
{
    tr_args a;
    train_opts o;
    int help;
    int rc = parse_train(argc, argv, &a, &o, &help);
    if (rc != CLI_OK || help)
        return rc;
    train_apply_threads(&o);

    tr_model tm;
    tr_work w;
    train_log log;
    memset(&log, 0, sizeof log);
    memset(&w, 0, sizeof w);
    int *nums = NULL, *test = NULL;
    if ((rc = build_model(&tm, &a.cfg, o.seed)) != CLI_OK)
        goto out;
    char config[256];
    cfg_string(&a.cfg, config, sizeof config);
    attn_optimizer opt = attn_optimizer_default(ATTN_OPTIM_ADAMW, a.lr);
    opt.lr.warmup_steps = a.warmup, opt.lr.total_steps = o.steps, opt.lr.cosine = 1, opt.lr.min_lr = a.lr / 20;
    opt.clip_norm = 1.0;
    int64_t first = 0;
    double prior_seconds = 0;
    if (o.resume) {
        /* the schedule's length is part of the state: resume with the same --steps */
        if ((rc = ckpt_load(o.resume, &tm.m, &opt, config, &o.seed, &first, &prior_seconds)) != CLI_OK)
            goto out;
        if (opt.lr.total_steps != o.steps || opt.lr.base_lr != a.lr || opt.lr.warmup_steps != a.warmup) {
            rc = cli_error("%s was trained for --steps %lld with --lr %g and --warmup %lld; resume with the same",
                           o.resume, (long long)opt.lr.total_steps, opt.lr.base_lr, (long long)opt.lr.warmup_steps);
            goto out;
        }
        if (first > o.steps) {
            rc = cli_error("%s has %lld steps done, more than --steps %lld", o.resume, (long long)first,
                           (long long)o.steps);
            goto out;
        }
    }
    nums = malloc((size_t)a.batch * sizeof *nums);
    test = malloc((size_t)a.n_test * sizeof *test);
    if (!nums || !test) {
        rc = cli_error("out of memory");
        goto out;
    }
    int64_t n_test = test_numbers(test, a.n_test);
    if ((rc = work_alloc(&w, &tm, a.batch)) != CLI_OK)
        goto out;
    printf("translate: English number words -> Chinese numerals; encoder-decoder Transformer, %lld+%lld layers,\n"
           "d_model %lld, %lld heads, d_ff %lld, %lld parameters; AdamW lr %g (warmup %lld, cosine), batch %lld,\n"
           "%lld steps, seed %llu, %d threads; test: %lld held-out numbers\n",
           (long long)a.cfg.n_enc, (long long)a.cfg.n_dec, (long long)a.cfg.C, (long long)a.cfg.H,
           (long long)a.cfg.F, (long long)tm.m.count, a.lr, (long long)a.warmup, (long long)a.batch,
           (long long)o.steps, (unsigned long long)o.seed, attn_get_num_threads(), (long long)n_test);
    fflush(stdout);

    train_progress prog;
    int64_t end = train_end_step(&o);
    train_progress_start(&prog, first, end, &o);
    double t0 = train_now(), log_sum = 0, last_loss = NAN;
    int64_t log_n = 0, log_every = o.steps >= 200 ? o.steps / 200 : 1;
    for (int64_t step = first; step < end; step++) {
        for (int64_t b = 0; b < a.batch; b++)
            nums[b] = train_number(o.seed, step, b, a.batch);
        int64_t S, T;
        double loss;
        fill_batch(&w, nums, a.batch, &S, &T);
        if ((rc = encode(&tm, &w, a.batch, S)) != CLI_OK || (rc = decode(&tm, &w, a.batch, S, T)) != CLI_OK)
            goto out;
        if (attn_cross_entropy_forward(&loss, NULL, w.probs, w.logits, w.tgt_out, a.batch * T, TGT_V, -1, 0.0) !=
            ATTN_OK) {
            rc = cli_error("loss: %s", attn_errmsg());
            goto out;
        }
        if ((rc = backward(&tm, &w, a.batch, S, T)) != CLI_OK)
            goto out;
        if (attn_model_step(&tm.m, &opt, NULL, NULL) != ATTN_OK) {
            rc = cli_error("step %lld: %s", (long long)step, attn_errmsg());
            goto out;
        }
        if (!isfinite(loss)) {
            rc = cli_error("step %lld: the loss is %g (diverged; try a smaller --lr)", (long long)step, loss);
            goto out;
        }
        log_sum += loss, log_n++, last_loss = loss;
        if ((step + 1) % log_every == 0 || step + 1 == end) {
            double metric = NAN;
            if (o.eval_every > 0 && ((step + 1) % o.eval_every == 0 || step + 1 == end)) {
                int64_t n_quick = n_test < 250 ? n_test : 250;
                if ((rc = evaluate(&tm, test, n_quick, &metric, NULL, NULL, 0)) != CLI_OK)
                    goto out;
            }
            if ((rc = train_log_add(&log, step + 1, log_sum / (double)log_n, metric)) != CLI_OK)
                goto out;
            log_sum = 0, log_n = 0;
        }
        train_progress_step(&prog, step, loss);
    }
    train_progress_end(&prog);
    double seconds = prior_seconds + (train_now() - t0);

    double acc;
    int wrong;
    char wrong_text[128] = "";
    if ((rc = evaluate(&tm, test, n_test, &acc, &wrong, wrong_text, sizeof wrong_text)) != CLI_OK)
        goto out;
    printf("exact match on %lld held-out numbers after %lld steps (%.1f s): %.2f%%\n", (long long)n_test,
           (long long)end, seconds, 100 * acc);
    if (wrong >= 0) {
        char en[128], zh[128];
        numwords_english(wrong, en, sizeof en);
        numwords_chinese(wrong, zh, sizeof zh);
        printf("  first mistake: %s -> %s (want %s)\n", en, wrong_text, zh);
    }
    printf("final training loss (step %lld): %.9g\n", (long long)end, last_loss);
    fflush(stdout);
    if (o.save) {
        if ((rc = ckpt_save(o.save, &tm.m, &opt, config, o.seed, end, seconds)) != CLI_OK)
            goto out;
        printf("wrote %s\n", o.save);
    }
    if (o.loss_csv && (rc = train_log_write(&log, o.loss_csv, "test_exact_match")) != CLI_OK)
        goto out;
    if (o.report) {
        /* The baseline: the best constant answer; the test numbers are
         * distinct, so it is right at most once. */
        train_baseline bl[1] = {{"constant_answer", 1.0 / (double)n_test}};
        if ((rc = train_report_write(o.report, "translate", "test_exact_match", acc, bl, 1, end, seconds,
                                     o.seed)) != CLI_OK)
            goto out;
    }
    char pic[1024];
    const char *picture = a.picture;
    if (!picture && o.save) {
        picture_beside(o.save, pic, sizeof pic);
        picture = pic;
    }
    if (picture) {
        char zh[256];
        rc = translate_one(&tm, a.sample, picture, zh, sizeof zh);
    }
out:
    free(nums), free(test);
    work_free(&w);
    train_log_free(&log);
    attn_model_free(&tm.m);
    return rc;
}

/* --------------------------------------------------------------- translate */

static const char translate_usage[] =
    "usage: attn translate \"ENGLISH NUMBER WORDS\" [--model FILE] [--picture FILE.png|.svg]\n"
    "       attn translate --rule N\n"
    "\n"
    "Translate English number words (0..999999, British style: \"four thousand and five\") into a\n"
    "Chinese numeral with the model 'attn train translate' saved, by greedy decoding.  Prints the\n"
    "model's answer, and the rule's answer when the words are a number written by the rule.\n"
    "\n"
    "Options:\n"
    "      --model FILE      the checkpoint (default translate.ckpt)\n"
    "      --picture FILE    draw the cross-attention: output characters as rows, source words as\n"
    "                        columns, one panel per decoder layer (mean of its heads)\n"
    "      --rule N          print N's English words and Chinese numeral by rule (no model)\n"
    "  -h, --help            this help\n";

/* The number whose English words are exactly `text` (after tokenizing), or -1. */
static int rule_number(const char *text)
{
    int64_t ids[MAX_SRC], ref[MAX_SRC];
    char bad[32];
    int n = tokenize_src(text, ids, bad, sizeof bad);
    if (n <= 0)
        return -1;
    /* parse the words into a number, then check the rule writes it the same way */
    int64_t total = 0, cur = 0;
    for (int i = 0; i < n; i++) {
        const char *wd = src_words[ids[i]];
        int id = (int)ids[i];
        if (id >= 1 && id <= 20)
            cur += id - 1;
        else if (id <= 28)
            cur += 10 * (id - 21 + 2);
        else if (strcmp(wd, "hundred") == 0)
            cur *= 100;
        else if (strcmp(wd, "thousand") == 0)
            total += cur * 1000, cur = 0;
    }
    total += cur;
    if (total < 0 || total > NUMWORDS_MAX)
        return -1;
    char en[128];
    numwords_english((int)total, en, sizeof en);
    if (tokenize_src(en, ref, bad, sizeof bad) != n || memcmp(ids, ref, (size_t)n * sizeof *ids) != 0)
        return -1;
    return (int)total;
}

int attn_cmd_translate(int argc, char **argv)
{
    enum { O_MODEL = 256, O_PICTURE, O_RULE };
    static const struct option longopts[] = {
        {"model", required_argument, NULL, O_MODEL}, {"picture", required_argument, NULL, O_PICTURE},
        {"rule", required_argument, NULL, O_RULE},   {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *cmd = "translate", *model = "translate.ckpt", *picture = NULL, *rule = NULL;
    opterr = 0;
    optind = 0;
    int ch, rc = CLI_OK;
    while (rc == CLI_OK && (ch = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
        switch (ch) {
        case O_MODEL: model = optarg; break;
        case O_PICTURE: picture = optarg; break;
        case O_RULE: rule = optarg; break;
        case 'h': fputs(translate_usage, stdout); return CLI_OK;
        default: rc = cli_bad_option(cmd, ch, argv); break;
        }
    }
    if (rc != CLI_OK)
        return rc;
    if (rule) {
        int64_t n;
        if ((rc = cli_parse_int64(cmd, "--rule", rule, &n)) != CLI_OK)
            return rc;
        if (n < 0 || n > NUMWORDS_MAX)
            return cli_usage(cmd, "--rule %lld is out of range [0, %d]", (long long)n, NUMWORDS_MAX);
        if (optind < argc)
            return cli_usage(cmd, "--rule takes no sentence");
        char en[128], zh[128];
        numwords_english((int)n, en, sizeof en);
        numwords_chinese((int)n, zh, sizeof zh);
        printf("%lld\t%s\t%s\n", (long long)n, en, zh);
        return CLI_OK;
    }
    if (optind >= argc)
        return cli_usage(cmd, "give the English words to translate, e.g. attn translate \"four thousand and five\"");
    if (optind + 1 < argc)
        return cli_usage(cmd, "give the sentence as one argument (in quotes); got '%s' after it", argv[optind + 1]);
    const char *text = argv[optind];
    int64_t ids[MAX_SRC];
    char bad[32];
    int n = tokenize_src(text, ids, bad, sizeof bad);
    if (n == -1)
        return cli_usage(cmd, "unknown word '%s'; the words are zero..nineteen, twenty..ninety, hundred, thousand, and",
                         bad);
    if (n == -2)
        return cli_usage(cmd, "more than %d words", MAX_SRC);
    if (n == 0)
        return cli_usage(cmd, "nothing to translate");
    if (picture) {
        draw_format fmt;
        char err[256];
        if (draw_format_of(picture, &fmt, err, sizeof err) != ATTN_OK)
            return cli_usage(cmd, "--picture %s", err);
    }
    char config[256];
    tr_cfg cfg;
    if ((rc = ckpt_read_config(model, config, sizeof config)) != CLI_OK)
        return rc;
    if (cfg_parse(config, &cfg) != 0)
        return cli_error("%s is not a translate checkpoint (it holds '%s')", model, config);
    tr_model tm;
    if ((rc = build_model(&tm, &cfg, 0)) == CLI_OK && (rc = ckpt_load(model, &tm.m, NULL, config, NULL, NULL, NULL)) ==
                                                          CLI_OK) {
        char zh[256];
        rc = translate_one(&tm, text, picture, zh, sizeof zh);
        if (rc == CLI_OK) {
            printf("%s\n", zh);
            int num = rule_number(text);
            if (num >= 0) {
                char want[128];
                numwords_chinese(num, want, sizeof want);
                printf("rule: %s (%d)%s\n", want, num, strcmp(want, zh) == 0 ? "" : "  <- the model differs");
            }
        }
    }
    attn_model_free(&tm.m);
    return rc;
}
