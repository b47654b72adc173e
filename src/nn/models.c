/*
 * models.c - encoder, decoder and encoder-decoder, wired from the layers.
 *
 * One "stack" implementation serves the encoder and the decoder (they differ
 * only in causality and cross attention, which live in the layer config):
 *   h0 = D(in(ids | x) + pos);  h[l+1] = layer_l(h[l], mem);
 *   y = ln_f(h[L]) (pre-LN) or h[L];  out = head(y) or y.
 * Cache layout (N = B*T, C = d_model):
 *   h0 (N, C) | per layer: layer cache, h[l+1] (N, C) | pre-LN: y (N, C), mean (N), rstd (N)
 * Dropout seeds: input hash(seed, L, 1), layer l hash(seed, l, 0).
 */
#include "nn/nn.h"

/* ---- declaring ---- */

static attn_status stack_declare(const char *fn, attn_model *m, attn_stack *s, const char *prefix,
                                 const attn_stack_config *cfg, int decoder)
{
    NN_NOTNULL(fn, m);
    NN_NOTNULL(fn, s);
    NN_NOTNULL(fn, cfg);
    attn_stack_config c = *cfg;
    if (c.n_layers < 1 || c.n_layers > ATTN_MAX_LAYERS)
        return attn_fail(ATTN_ERR_INVALID, "%s: n_layers = %lld is outside 1..%d", fn, (long long)c.n_layers,
                         ATTN_MAX_LAYERS);
    NN_NONNEG(fn, c.vocab);
    NN_NONNEG(fn, c.d_in);
    NN_NONNEG(fn, c.d_out);
    NN_NONNEG(fn, c.max_len);
    NN_POS(fn, c.layer.d_model);
    if (c.vocab == 0 && c.d_in == 0)
        return attn_fail(ATTN_ERR_INVALID, "%s: give vocab (token ids in) or d_in (vectors in)", fn);
    if (c.pos < ATTN_POS_NONE || c.pos > ATTN_POS_ROPE)
        return attn_fail(ATTN_ERR_INVALID, "%s: unknown positional encoding %d", fn, (int)c.pos);
    if (c.pos == ATTN_POS_LEARNED && c.max_len == 0)
        return attn_fail(ATTN_ERR_INVALID, "%s: learned positions need max_len > 0", fn);
    if (!(c.layer.dropout_p >= 0 && c.layer.dropout_p < 1))
        return attn_fail(ATTN_ERR_INVALID, "%s: layer.dropout_p = %g is outside [0, 1)", fn, c.layer.dropout_p);
    if (decoder)
        c.layer.causal = ATTN_CAUSAL_TOP_LEFT;
    else
        c.layer.cross = 0;
    c.layer.cross = c.layer.cross != 0;
    c.layer.pre_ln = c.layer.pre_ln != 0;
    c.layer.rope = c.pos == ATTN_POS_ROPE;
    if (c.layer.ln_eps == 0)
        c.layer.ln_eps = 1e-5;
    memset(s, 0, sizeof *s);
    s->cfg = c;
    s->embed = s->in_w = s->in_b = s->pos_table = s->lnf_w = s->lnf_b = s->head_w = s->head_b = -1;
    int64_t C = c.layer.d_model;
    attn_status st;
    if (c.vocab > 0)
        st = attn_nn_add(m, prefix, "embed", 2, c.vocab, C, ATTN_INIT_NORMAL, 1.0, &s->embed);
    else if ((st = attn_nn_add(m, prefix, "in.w", 2, C, c.d_in, ATTN_INIT_UNIFORM, 1.0 / sqrt((double)c.d_in),
                               &s->in_w)) == ATTN_OK)
        st = attn_nn_add(m, prefix, "in.b", 1, C, 0, ATTN_INIT_UNIFORM, 1.0 / sqrt((double)c.d_in), &s->in_b);
    if (st == ATTN_OK && c.pos == ATTN_POS_LEARNED)
        st = attn_nn_add(m, prefix, "pos", 2, c.max_len, C, ATTN_INIT_NORMAL, 0.1, &s->pos_table);
    char name[ATTN_PARAM_NAME_MAX + 64];
    for (int64_t l = 0; st == ATTN_OK && l < c.n_layers; l++) {
        snprintf(name, sizeof name, "%s%slayers.%lld", prefix ? prefix : "", prefix && *prefix ? "." : "",
                 (long long)l);
        st = attn_transformer_declare(m, &s->layers[l], name, &c.layer);
    }
    if (st == ATTN_OK && c.layer.pre_ln &&
        (st = attn_nn_add(m, prefix, "ln_f.w", 1, C, 0, ATTN_INIT_ONES, 0, &s->lnf_w)) == ATTN_OK)
        st = attn_nn_add(m, prefix, "ln_f.b", 1, C, 0, ATTN_INIT_ZEROS, 0, &s->lnf_b);
    if (st == ATTN_OK && c.d_out > 0 &&
        (st = attn_nn_add(m, prefix, "head.w", 2, c.d_out, C, ATTN_INIT_UNIFORM, 1.0 / sqrt((double)C),
                          &s->head_w)) == ATTN_OK)
        st = attn_nn_add(m, prefix, "head.b", 1, c.d_out, 0, ATTN_INIT_ZEROS, 0, &s->head_b);
    return st;
}

static int64_t stack_cache(const attn_stack *s, int64_t B, int64_t T, int64_t S)
{
    int64_t N = B * T, C = s->cfg.layer.d_model, n = N * C;
    for (int64_t l = 0; l < s->cfg.n_layers; l++)
        n += attn_transformer_cache_floats(&s->layers[l], B, T, S) + N * C;
    if (s->cfg.layer.pre_ln)
        n += N * C + 2 * N;
    return n;
}

/* The pieces of the cache. */
typedef struct stack_parts {
    float *h[ATTN_MAX_LAYERS + 1], *lc[ATTN_MAX_LAYERS], *y, *mean, *rstd;
} stack_parts;

static stack_parts parts_of(const attn_stack *s, const float *cache, int64_t B, int64_t T, int64_t S)
{
    stack_parts p;
    int64_t N = B * T, C = s->cfg.layer.d_model, L = s->cfg.n_layers;
    float *q = (float *)cache;
    p.h[0] = q, q += N * C;
    for (int64_t l = 0; l < L; l++) {
        p.lc[l] = q, q += attn_transformer_cache_floats(&s->layers[l], B, T, S);
        p.h[l + 1] = q, q += N * C;
    }
    p.y = p.h[L], p.mean = p.rstd = NULL;
    if (s->cfg.layer.pre_ln)
        p.y = q, p.mean = q + N * C, p.rstd = p.mean + N;
    return p;
}

static attn_status stack_check(const char *fn, const attn_model *m, const attn_stack *s, const void *cache,
                               const int64_t *ids, const float *x, const float *mem, const int64_t *lengths,
                               int64_t B, int64_t T, int64_t S)
{
    attn_status st = attn_nn_check_layer(fn, m, s, cache);
    if (st != ATTN_OK)
        return st;
    const attn_stack_config *c = &s->cfg;
    NN_NONNEG(fn, B);
    NN_NONNEG(fn, T);
    NN_NONNEG(fn, S);
    if (c->vocab > 0)
        NN_NOTNULL(fn, ids);
    else
        NN_NOTNULL(fn, x);
    if (c->layer.cross)
        NN_NOTNULL(fn, mem);
    if (c->max_len > 0 && T > c->max_len)
        return attn_fail(ATTN_ERR_INVALID, "%s: T = %lld exceeds max_len = %lld", fn, (long long)T,
                         (long long)c->max_len);
    if (lengths)
        for (int64_t b = 0; b < B; b++)
            if (lengths[b] < 1 || lengths[b] > T)
                return attn_fail(ATTN_ERR_INVALID, "%s: lengths[%lld] = %lld is outside [1, T = %lld]", fn,
                                 (long long)b, (long long)lengths[b], (long long)T);
    int64_t t;
    return attn_nn_size3(fn, B, T + S, 8 * (c->layer.d_model + c->layer.d_ff + c->d_in + c->d_out), &t);
}

/* ---- forward ---- */

/* cross_weights (n_layers, B, H, T, S), optional: layer l's cross attention
 * weights at cross_weights + l * B*H*T*S (decoders with cross attention only). */
static attn_status stack_forward(const char *fn, const attn_model *m, const attn_stack *s, float *out,
                                 float *cross_weights, float *cache, const int64_t *ids, const float *x,
                                 const float *mem, const int64_t *lengths, const int64_t *mem_lengths, int64_t B,
                                 int64_t T, int64_t S, uint64_t seed)
{
    attn_status st = stack_check(fn, m, s, cache, ids, x, mem, lengths, B, T, S);
    if (st != ATTN_OK)
        return st;
    NN_NOTNULL(fn, out);
    const attn_stack_config *c = &s->cfg;
    int64_t N = B * T, C = c->layer.d_model, L = c->n_layers, nw = 0;
    if (cross_weights) {
        if (!c->layer.cross)
            return attn_fail(ATTN_ERR_INVALID, "%s: cross_weights given but the decoder has no cross attention", fn);
        if ((st = attn_nn_size3(fn, B * s->layers[0].cross_attn.cfg.n_heads, T, S, &nw)) != ATTN_OK)
            return st;
    }
    stack_parts p = parts_of(s, cache, B, T, S);
    /* h0 = D(embed[ids] + pos)  or  D(x in.w^T + in.b + pos) */
    if (c->vocab > 0)
        st = attn_embedding_forward(p.h[0], ids, NN_P(m, s->embed), N, C, c->vocab);
    else
        attn_nn_linear_fwd(p.h[0], x, NN_P(m, s->in_w), NN_P(m, s->in_b), N, c->d_in, C);
    if (st == ATTN_OK && c->pos == ATTN_POS_SINUSOIDAL)
        st = attn_posenc_sinusoidal_forward(p.h[0], p.h[0], B, T, C, 0);
    if (st == ATTN_OK && c->pos == ATTN_POS_LEARNED)
        st = attn_posenc_learned_forward(p.h[0], p.h[0], NN_P(m, s->pos_table), B, T, C, 0, c->max_len);
    if (st != ATTN_OK)
        return st;
    attn_nn_dropout_fwd(p.h[0], p.h[0], N * C, c->layer.dropout_p, attn_nn_hash(seed, (uint64_t)L, 1));
    for (int64_t l = 0; l < L; l++)
        if ((st = attn_nn_transformer_fwd(fn, m, &s->layers[l], p.h[l + 1],
                                          cross_weights ? cross_weights + l * nw : NULL, p.lc[l], p.h[l], mem,
                                          lengths, mem_lengths, B, T, S, attn_nn_hash(seed, (uint64_t)l, 0))) !=
            ATTN_OK)
            return st;
    if (c->layer.pre_ln)
        attn_nn_layernorm_fwd(p.y, p.mean, p.rstd, p.h[L], NN_P(m, s->lnf_w), NN_P(m, s->lnf_b), N, C,
                              c->layer.ln_eps);
    if (c->d_out > 0)
        attn_nn_linear_fwd(out, p.y, NN_P(m, s->head_w), NN_P(m, s->head_b), N, C, c->d_out);
    else
        memcpy(out, p.y, (size_t)(N * C) * sizeof(float));
    return ATTN_OK;
}

/* ---- backward ---- */

static attn_status stack_backward(const char *fn, attn_model *m, const attn_stack *s, float *dx, float *dmem,
                                  const float *dout, const float *cache, const int64_t *ids, const float *x,
                                  const float *mem, const int64_t *lengths, const int64_t *mem_lengths, int64_t B,
                                  int64_t T, int64_t S, uint64_t seed)
{
    attn_status st = stack_check(fn, m, s, cache, ids, x, mem, lengths, B, T, S);
    if (st != ATTN_OK)
        return st;
    NN_NOTNULL(fn, dout);
    const attn_stack_config *c = &s->cfg;
    int64_t N = B * T, C = c->layer.d_model, L = c->n_layers, NC = N * C;
    stack_parts p = parts_of(s, cache, B, T, S);
    float *dh = attn_nn_scratch(2 * NC, "the stack backward's scratch");
    if (!dh)
        return ATTN_ERR_NOMEM;
    float *dprev = dh + NC;
    memset(dh, 0, (size_t)(2 * NC) * sizeof(float));
    /* forward: out = y head.w^T + head.b  (or out = y) */
    if (c->d_out > 0)
        attn_nn_linear_bwd(dh, NN_G(m, s->head_w), NN_G(m, s->head_b), dout, p.y, NN_P(m, s->head_w), N, C, c->d_out);
    else
        memcpy(dh, dout, (size_t)NC * sizeof(float));
    /* forward: y = ln_f(h[L]) */
    if (c->layer.pre_ln) {
        attn_nn_layernorm_bwd(dprev, NN_G(m, s->lnf_w), NN_G(m, s->lnf_b), dh, p.h[L], NN_P(m, s->lnf_w), p.mean,
                              p.rstd, N, C);
        float *t = dh;
        dh = dprev, dprev = t;
    }
    /* forward: h[l+1] = layer_l(h[l], mem) */
    for (int64_t l = L - 1; l >= 0 && st == ATTN_OK; l--) {
        memset(dprev, 0, (size_t)NC * sizeof(float));
        st = attn_transformer_backward(m, &s->layers[l], dprev, dmem, dh, p.lc[l], p.h[l], mem, lengths, mem_lengths,
                                       B, T, S, attn_nn_hash(seed, (uint64_t)l, 0));
        float *t = dh;
        dh = dprev, dprev = t;
    }
    if (st == ATTN_OK) {
        /* forward: h0 = D(e + pos) */
        memset(dprev, 0, (size_t)NC * sizeof(float));
        attn_nn_dropout_bwd(dprev, dh, NC, c->layer.dropout_p, attn_nn_hash(seed, (uint64_t)L, 1));
        if (c->pos == ATTN_POS_LEARNED)
            st = attn_posenc_learned_backward(NULL, NN_G(m, s->pos_table), dprev, B, T, C, 0, c->max_len);
        /* forward: e = embed[ids]  or  e = x in.w^T + in.b (sinusoids are constants) */
        if (st == ATTN_OK && c->vocab > 0)
            st = attn_embedding_backward(NN_G(m, s->embed), dprev, ids, N, C, c->vocab);
        else if (st == ATTN_OK)
            attn_nn_linear_bwd(dx, NN_G(m, s->in_w), NN_G(m, s->in_b), dprev, x, NN_P(m, s->in_w), N, c->d_in, C);
    }
    attn_free(dh < dprev ? dh : dprev);
    return st;
}

/* ---- encoder ---- */

attn_status attn_encoder_declare(attn_model *m, attn_encoder *e, const char *prefix, const attn_encoder_config *cfg)
{
    return stack_declare("attn_encoder_declare", m, e, prefix, cfg, 0);
}

int64_t attn_encoder_cache_floats(const attn_encoder *e, int64_t B, int64_t T) { return stack_cache(e, B, T, 0); }

attn_status attn_encoder_forward(const attn_model *m, const attn_encoder *e, float *out, float *cache,
                                 const int64_t *ids, const float *x, const int64_t *lengths, int64_t B, int64_t T,
                                 uint64_t seed)
{
    return stack_forward("attn_encoder_forward", m, e, out, NULL, cache, ids, x, NULL, lengths, NULL, B, T, 0, seed);
}

attn_status attn_encoder_backward(attn_model *m, const attn_encoder *e, float *dx, const float *dout,
                                  const float *cache, const int64_t *ids, const float *x, const int64_t *lengths,
                                  int64_t B, int64_t T, uint64_t seed)
{
    return stack_backward("attn_encoder_backward", m, e, dx, NULL, dout, cache, ids, x, NULL, lengths, NULL, B, T, 0,
                          seed);
}

/* ---- decoder ---- */

attn_status attn_decoder_declare(attn_model *m, attn_decoder *d, const char *prefix, const attn_decoder_config *cfg)
{
    return stack_declare("attn_decoder_declare", m, d, prefix, cfg, 1);
}

int64_t attn_decoder_cache_floats(const attn_decoder *d, int64_t B, int64_t T, int64_t S)
{
    return stack_cache(d, B, T, d->cfg.layer.cross ? S : 0);
}

attn_status attn_decoder_forward(const attn_model *m, const attn_decoder *d, float *out, float *cross_weights,
                                 float *cache, const int64_t *ids, const float *x, const float *mem,
                                 const int64_t *lengths, const int64_t *mem_lengths, int64_t B, int64_t T, int64_t S,
                                 uint64_t seed)
{
    return stack_forward("attn_decoder_forward", m, d, out, cross_weights, cache, ids, x, mem, lengths, mem_lengths, B,
                         T, d && d->cfg.layer.cross ? S : 0, seed);
}

attn_status attn_decoder_backward(attn_model *m, const attn_decoder *d, float *dx, float *dmem, const float *dout,
                                  const float *cache, const int64_t *ids, const float *x, const float *mem,
                                  const int64_t *lengths, const int64_t *mem_lengths, int64_t B, int64_t T, int64_t S,
                                  uint64_t seed)
{
    return stack_backward("attn_decoder_backward", m, d, dx, dmem, dout, cache, ids, x, mem, lengths, mem_lengths, B,
                          T, d && d->cfg.layer.cross ? S : 0, seed);
}

/* ---- encoder-decoder ---- */

attn_status attn_seq2seq_declare(attn_model *m, attn_seq2seq *s, const char *prefix, const attn_seq2seq_config *cfg)
{
    static const char fn[] = "attn_seq2seq_declare";
    NN_NOTNULL(fn, s);
    NN_NOTNULL(fn, cfg);
    if (cfg->enc.d_out != 0)
        return attn_fail(ATTN_ERR_INVALID, "%s: enc.d_out = %lld: the encoder of an encoder-decoder has no head", fn,
                         (long long)cfg->enc.d_out);
    if (cfg->enc.layer.d_model != cfg->dec.layer.d_model)
        return attn_fail(ATTN_ERR_INVALID, "%s: enc.layer.d_model = %lld but dec.layer.d_model = %lld", fn,
                         (long long)cfg->enc.layer.d_model, (long long)cfg->dec.layer.d_model);
    attn_decoder_config dc = cfg->dec;
    dc.layer.cross = 1;
    char name[ATTN_PARAM_NAME_MAX + 64];
    const char *pre = prefix ? prefix : "", *dot = prefix && *prefix ? "." : "";
    attn_status st;
    snprintf(name, sizeof name, "%s%senc", pre, dot);
    if ((st = attn_encoder_declare(m, &s->enc, name, &cfg->enc)) != ATTN_OK)
        return st;
    snprintf(name, sizeof name, "%s%sdec", pre, dot);
    return attn_decoder_declare(m, &s->dec, name, &dc);
}

int64_t attn_seq2seq_cache_floats(const attn_seq2seq *s, int64_t B, int64_t S, int64_t T)
{
    return attn_encoder_cache_floats(&s->enc, B, S) + B * S * s->enc.cfg.layer.d_model +
           attn_decoder_cache_floats(&s->dec, B, T, S);
}

/* cache: encoder cache | mem (B, S, C) | decoder cache */
attn_status attn_seq2seq_forward(const attn_model *m, const attn_seq2seq *s, float *out, float *cross_weights,
                                 float *cache,
                                 const int64_t *src_ids, const float *src_x, const int64_t *src_lengths,
                                 const int64_t *tgt_ids, const float *tgt_x, const int64_t *tgt_lengths, int64_t B,
                                 int64_t S, int64_t T, uint64_t seed)
{
    static const char fn[] = "attn_seq2seq_forward";
    NN_NOTNULL(fn, s);
    NN_NOTNULL(fn, cache);
    NN_NONNEG(fn, B);
    NN_NONNEG(fn, S);
    float *mem = cache + attn_encoder_cache_floats(&s->enc, B, S), *dcache = mem + B * S * s->enc.cfg.layer.d_model;
    attn_status st = attn_encoder_forward(m, &s->enc, mem, cache, src_ids, src_x, src_lengths, B, S,
                                          attn_nn_hash(seed, 0, 2));
    if (st == ATTN_OK)
        st = attn_decoder_forward(m, &s->dec, out, cross_weights, dcache, tgt_ids, tgt_x, mem, tgt_lengths,
                                  src_lengths, B, T, S, attn_nn_hash(seed, 0, 3));
    return st;
}

attn_status attn_seq2seq_backward(attn_model *m, const attn_seq2seq *s, float *dsrc_x, float *dtgt_x,
                                  const float *dout, const float *cache, const int64_t *src_ids, const float *src_x,
                                  const int64_t *src_lengths, const int64_t *tgt_ids, const float *tgt_x,
                                  const int64_t *tgt_lengths, int64_t B, int64_t S, int64_t T, uint64_t seed)
{
    static const char fn[] = "attn_seq2seq_backward";
    NN_NOTNULL(fn, s);
    NN_NOTNULL(fn, cache);
    NN_NONNEG(fn, B);
    NN_NONNEG(fn, S);
    int64_t t, nm;
    attn_status st = attn_nn_size3(fn, B, S, s->enc.cfg.layer.d_model, &nm);
    if (st != ATTN_OK)
        return st;
    (void)t;
    const float *mem = cache + attn_encoder_cache_floats(&s->enc, B, S), *dcache = mem + nm;
    float *dmem = attn_nn_scratch(nm, "attn_seq2seq_backward scratch");
    if (!dmem)
        return ATTN_ERR_NOMEM;
    memset(dmem, 0, (size_t)nm * sizeof(float));
    st = attn_decoder_backward(m, &s->dec, dtgt_x, dmem, dout, dcache, tgt_ids, tgt_x, mem, tgt_lengths, src_lengths,
                               B, T, S, attn_nn_hash(seed, 0, 3));
    if (st == ATTN_OK)
        st = attn_encoder_backward(m, &s->enc, dsrc_x, dmem, cache, src_ids, src_x, src_lengths, B, S,
                                   attn_nn_hash(seed, 0, 2));
    attn_free(dmem);
    return st;
}

/* A copy of a stack with every dropout off, for inference. */
static void no_dropout(attn_stack *s)
{
    s->cfg.layer.dropout_p = 0;
    for (int64_t l = 0; l < s->cfg.n_layers; l++) {
        s->layers[l].cfg.dropout_p = 0;
        s->layers[l].self_attn.cfg.dropout_p = 0;
        s->layers[l].cross_attn.cfg.dropout_p = 0;
    }
}

attn_status attn_seq2seq_greedy(const attn_model *m, const attn_seq2seq *s, int64_t *out_ids, int64_t *out_lengths,
                                float *cross_weights, const int64_t *src_ids, const float *src_x,
                                const int64_t *src_lengths, int64_t B, int64_t S, int64_t bos, int64_t eos,
                                int64_t max_len)
{
    static const char fn[] = "attn_seq2seq_greedy";
    NN_NOTNULL(fn, s);
    NN_NOTNULL(fn, out_ids);
    NN_NONNEG(fn, B);
    NN_NONNEG(fn, S);
    NN_POS(fn, max_len);
    int64_t V = s->dec.cfg.d_out, t;
    if (s->dec.cfg.vocab <= 0 || V <= 0)
        return attn_fail(ATTN_ERR_INVALID, "%s: the decoder must read token ids and have a head (vocab %lld, d_out %lld)",
                         fn, (long long)s->dec.cfg.vocab, (long long)V);
    if (bos < 0 || bos >= s->dec.cfg.vocab || eos < 0 || eos >= V)
        return attn_fail(ATTN_ERR_INVALID, "%s: bos = %lld or eos = %lld is outside the vocabulary", fn,
                         (long long)bos, (long long)eos);
    if (s->dec.cfg.max_len > 0 && max_len > s->dec.cfg.max_len)
        return attn_fail(ATTN_ERR_INVALID, "%s: max_len = %lld exceeds max_len = %lld of the decoder", fn,
                         (long long)max_len, (long long)s->dec.cfg.max_len);
    attn_status st;
    int64_t nw = 0; /* one layer's weights (B, H, max_len, S) */
    if ((st = attn_nn_size3(fn, B, max_len, V + 1, &t)) != ATTN_OK ||
        (cross_weights && (st = attn_nn_size3(fn, B * s->dec.layers[0].cross_attn.cfg.n_heads, max_len, S, &nw)) !=
                              ATTN_OK))
        return st;
    attn_seq2seq e = *s;
    no_dropout(&e.enc);
    no_dropout(&e.dec);
    int64_t C = e.enc.cfg.layer.d_model;
    int64_t ne = attn_encoder_cache_floats(&e.enc, B, S), nd = attn_decoder_cache_floats(&e.dec, B, max_len, S);
    float *buf = attn_nn_scratch(ne + B * S * C + nd + B * max_len * V, "attn_seq2seq_greedy scratch");
    int64_t *prefix = attn_alloc((size_t)(B * max_len + B) * sizeof(int64_t), "attn_seq2seq_greedy scratch");
    if (!buf || !prefix) {
        attn_free(buf);
        attn_free(prefix);
        return ATTN_ERR_NOMEM;
    }
    float *mem = buf + ne, *dcache = mem + B * S * C, *logits = dcache + nd;
    int64_t *done = prefix + B * max_len;
    st = attn_encoder_forward(m, &e.enc, mem, buf, src_ids, src_x, src_lengths, B, S, 0);
    for (int64_t b = 0; b < B; b++) {
        done[b] = 0;
        if (out_lengths)
            out_lengths[b] = max_len;
        for (int64_t i = 0; i < max_len; i++)
            out_ids[b * max_len + i] = eos;
    }
    int64_t left = B;
    for (int64_t n = 1; n <= max_len && left > 0 && st == ATTN_OK; n++) {
        /* prefix (B, n) = [bos, y_1 .. y_{n-1}] */
        for (int64_t b = 0; b < B; b++) {
            prefix[b * n] = bos;
            for (int64_t i = 1; i < n; i++)
                prefix[b * n + i] = out_ids[b * max_len + i - 1];
        }
        st = attn_decoder_forward(m, &e.dec, logits, NULL, dcache, prefix, NULL, mem, NULL, src_lengths, B, n, S, 0);
        for (int64_t b = 0; b < B && st == ATTN_OK; b++) {
            if (done[b])
                continue;
            const float *row = logits + (b * n + n - 1) * V;
            int64_t best = 0;
            for (int64_t v = 1; v < V; v++)
                best = row[v] > row[best] ? v : best;
            out_ids[b * max_len + n - 1] = best;
            if (best == eos) {
                done[b] = 1, left--;
                if (out_lengths)
                    out_lengths[b] = n - 1;
            }
        }
    }
    if (st == ATTN_OK && cross_weights) {
        /* One more pass over the longest prefix fed, n_fed tokens, asking for
         * the weights (not during the search: a call that returns weights may
         * take another attention kernel, and the tokens must not depend on
         * whether they were asked for).  Causal, so row t equals the row of
         * the pass that predicted y_{t+1}. */
        int64_t n_fed = 1, H = e.dec.layers[0].cross_attn.cfg.n_heads, L = e.dec.cfg.n_layers;
        for (int64_t b = 0; b < B; b++) { /* row k predicted out_ids[k]: rows up to the first eos */
            int64_t nb = 1;
            while (nb < max_len && out_ids[b * max_len + nb - 1] != eos)
                nb++;
            n_fed = nb > n_fed ? nb : n_fed;
        }
        for (int64_t b = 0; b < B; b++) {
            prefix[b * n_fed] = bos;
            for (int64_t i = 1; i < n_fed; i++)
                prefix[b * n_fed + i] = out_ids[b * max_len + i - 1];
        }
        float *w = attn_nn_scratch(L * B * H * n_fed * S, "attn_seq2seq_greedy scratch");
        if (!w)
            st = ATTN_ERR_NOMEM;
        else
            st = attn_decoder_forward(m, &e.dec, logits, w, dcache, prefix, NULL, mem, NULL, src_lengths, B, n_fed, S,
                                      0);
        if (st == ATTN_OK) { /* (L, B, H, n_fed, S) -> (L, B, H, max_len, S), zero rows after */
            memset(cross_weights, 0, (size_t)(L * nw) * sizeof(float));
            for (int64_t lbh = 0; lbh < L * B * H; lbh++)
                memcpy(cross_weights + lbh * max_len * S, w + lbh * n_fed * S, (size_t)(n_fed * S) * sizeof(float));
        }
        attn_free(w);
    }
    attn_free(buf);
    attn_free(prefix);
    return st;
}
