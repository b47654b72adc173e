/*
 * test_nn_models.c - the encoder, decoder and encoder-decoder: every
 * backward against central finite differences (see test_nn_fd.h), greedy
 * decoding against the argmax of a full forward, a tiny encoder-decoder that
 * learns to reverse sequences, the decoder's cross-attention weights against
 * an independent composition, attn_model_step's per-tensor weight decay,
 * and argument errors.
 *
 * Tolerances: the models are 2 layers deep (about 20 f32 operations from
 * input to output) on O(1) values with 24-64 outputs; at h = 1e-2 the FD
 * rounding noise is ~6e-8 * 64 * 20 / 1e-2 = 8e-3 at worst, typically far
 * less, and the truncation ~h^2 = 1e-4: atol 1e-2, rtol 3e-2 (the layer
 * tests use 5e-3 / 2e-2 for one layer).  The attention runs on the
 * reference kernel (double accumulation).
 */
#include "test_nn_fd.h"

static test_rng rng;

#define H 1e-2
#define ATOL 1e-2
#define RTOL 3e-2

static attn_transformer_config layer_cfg(int pre_ln, double dropout, int64_t n_kv)
{
    attn_transformer_config c = {0};
    c.d_model = 8, c.n_heads = 2, c.n_kv_heads = n_kv, c.d_ff = 12, c.act = ATTN_ACT_GELU, c.pre_ln = pre_ln;
    c.bias = 1, c.dropout_p = dropout, c.kernel = ATTN_KERNEL_REFERENCE;
    return c;
}

/* Perturb every parameter so LN gains of 1, zero biases etc. are not special points. */
static void perturb(attn_model *m)
{
    for (int64_t i = 0; i < m->count; i++)
        m->params[i] += (float)(0.2 * test_normal(&rng));
}

/* ---- encoder / decoder ---- */
typedef struct st_ctx {
    attn_model *m;
    attn_stack *s;
    int decoder;
    float *x, *mem, *cache, *out, *r;
    int64_t *ids;
    const int64_t *len, *mlen;
    int64_t B, T, S, W;
} st_ctx;

static double st_loss(void *p)
{
    st_ctx *c = p;
    attn_status st = c->decoder ? attn_decoder_forward(c->m, c->s, c->out, NULL, c->cache, c->ids, c->x, c->mem, c->len,
                                                        c->mlen, c->B, c->T, c->S, 77)
                                : attn_encoder_forward(c->m, c->s, c->out, c->cache, c->ids, c->x, c->len, c->B, c->T, 77);
    return st == ATTN_OK ? fd_dot(c->r, c->out, c->B * c->T * c->W) : NAN;
}

static void test_stack(const char *what, int decoder, attn_stack_config cfg)
{
    attn_model m;
    attn_stack s;
    attn_model_init(&m);
    int ok = decoder ? CHECK_OK(attn_decoder_declare(&m, &s, "net", &cfg)) : CHECK_OK(attn_encoder_declare(&m, &s, "net", &cfg));
    if (!ok || !CHECK_OK(attn_model_alloc(&m, 5)))
        return;
    perturb(&m);
    int64_t B = 2, T = 4, S = 3, C = cfg.layer.d_model, W = cfg.d_out > 0 ? cfg.d_out : C;
    int64_t len[2] = {4, 3}, mlen[2] = {3, 2}, ids[8];
    int cross = decoder && s.cfg.layer.cross;
    float *x = malloc(B * T * (cfg.d_in + 1) * 4), *mem = malloc(B * S * C * 4), *out = malloc(B * T * W * 4);
    float *r = malloc(B * T * W * 4), *dx = calloc(B * T * (cfg.d_in + 1), 4), *dmem = calloc(B * S * C, 4);
    int64_t nc = decoder ? attn_decoder_cache_floats(&s, B, T, S) : attn_encoder_cache_floats(&s, B, T);
    float *cache = malloc(nc * 4);
    fd_fill(&rng, x, B * T * cfg.d_in, 1), fd_fill(&rng, mem, B * S * C, 1), fd_fill(&rng, r, B * T * W, 1);
    for (int i = 0; i < 8; i++)
        ids[i] = cfg.vocab > 0 ? test_int(&rng, 0, cfg.vocab - 1) : 0;
    st_ctx c = {&m, &s, decoder, cfg.vocab > 0 ? NULL : x, cross ? mem : NULL, cache, out, r,
                cfg.vocab > 0 ? ids : NULL, len, cross ? mlen : NULL, B, T, cross ? S : 0, W};
    attn_model_zero_grad(&m);
    st_loss(&c);
    attn_status st = decoder ? attn_decoder_backward(&m, &s, c.x ? dx : NULL, cross ? dmem : NULL, r, cache, c.ids, c.x,
                                                     c.mem, len, c.mlen, B, T, c.S, 77)
                             : attn_encoder_backward(&m, &s, c.x ? dx : NULL, r, cache, c.ids, c.x, len, B, T, 77);
    if (CHECK_OK(st)) {
        char name[320];
        if (c.x) {
            snprintf(name, sizeof name, "%s dx", what);
            fd_check(name, x, dx, B * T * cfg.d_in, st_loss, &c, H, ATOL, RTOL, &rng, 8);
        }
        if (cross) {
            snprintf(name, sizeof name, "%s dmem", what);
            fd_check(name, mem, dmem, B * S * C, st_loss, &c, H, ATOL, RTOL, &rng, 8);
        }
        for (int64_t t = 0; t < m.n_tensors; t++) {
            snprintf(name, sizeof name, "%s %s", what, m.table[t].name);
            fd_check(name, m.params + m.table[t].offset, m.grads + m.table[t].offset, m.table[t].numel, st_loss, &c,
                     H, ATOL, RTOL, &rng, 3);
        }
    }
    free(x), free(mem), free(out), free(r), free(dx), free(dmem), free(cache);
    attn_model_free(&m);
}

static void test_stacks(void)
{
    attn_stack_config c = {0};
    c.vocab = 7, c.pos = ATTN_POS_SINUSOIDAL, c.n_layers = 2, c.layer = layer_cfg(0, 0, 0);
    test_stack("encoder ids sinusoidal post-LN", 0, c);
    c = (attn_stack_config){0};
    c.d_in = 5, c.d_out = 3, c.pos = ATTN_POS_LEARNED, c.max_len = 6, c.n_layers = 2, c.layer = layer_cfg(1, 0.1, 1);
    test_stack("encoder vectors learned pre-LN head MQA dropout", 0, c);
    c = (attn_stack_config){0};
    c.vocab = 6, c.d_out = 6, c.pos = ATTN_POS_ROPE, c.n_layers = 2, c.layer = layer_cfg(1, 0, 0);
    test_stack("decoder-only ids RoPE pre-LN", 1, c);
    c = (attn_stack_config){0};
    c.vocab = 6, c.d_out = 5, c.pos = ATTN_POS_LEARNED, c.max_len = 4, c.n_layers = 2, c.layer = layer_cfg(0, 0.1, 0);
    c.layer.cross = 1;
    test_stack("decoder cross learned post-LN dropout", 1, c);
    c = (attn_stack_config){0};
    c.d_in = 3, c.d_out = 2, c.pos = ATTN_POS_ROPE, c.n_layers = 1, c.layer = layer_cfg(1, 0, 1);
    c.layer.cross = 1;
    test_stack("decoder cross vectors RoPE pre-LN GQA", 1, c);
}

/* ---- encoder-decoder ---- */
typedef struct s2s_ctx {
    attn_model *m;
    attn_seq2seq *s;
    float *cache, *out, *r;
    const int64_t *src, *tgt, *sl, *tl;
    int64_t B, S, T, V;
} s2s_ctx;

static double s2s_loss(void *p)
{
    s2s_ctx *c = p;
    attn_status st = attn_seq2seq_forward(c->m, c->s, c->out, NULL, c->cache, c->src, NULL, c->sl, c->tgt, NULL, c->tl, c->B,
                                          c->S, c->T, 99);
    return st == ATTN_OK ? fd_dot(c->r, c->out, c->B * c->T * c->V) : NAN;
}

static void test_seq2seq_fd(int pre_ln, attn_posenc pos)
{
    char what[96];
    snprintf(what, sizeof what, "seq2seq %s pos %d", pre_ln ? "pre-LN" : "post-LN", (int)pos);
    attn_seq2seq_config cfg = {0};
    cfg.enc.vocab = 6, cfg.enc.pos = pos, cfg.enc.max_len = 5, cfg.enc.n_layers = 1, cfg.enc.layer = layer_cfg(pre_ln, 0.1, 0);
    cfg.dec = cfg.enc, cfg.dec.vocab = 5, cfg.dec.d_out = 5, cfg.dec.n_layers = 2;
    attn_model m;
    attn_seq2seq s;
    attn_model_init(&m);
    if (!CHECK_OK(attn_seq2seq_declare(&m, &s, "", &cfg)) || !CHECK_OK(attn_model_alloc(&m, 9)))
        return;
    perturb(&m);
    int64_t B = 2, S = 5, T = 4, V = 5;
    int64_t src[10], tgt[8], sl[2] = {5, 3}, tl[2] = {4, 2};
    for (int i = 0; i < 10; i++)
        src[i] = test_int(&rng, 0, 5);
    for (int i = 0; i < 8; i++)
        tgt[i] = test_int(&rng, 0, 4);
    float *cache = malloc(attn_seq2seq_cache_floats(&s, B, S, T) * 4), *out = malloc(B * T * V * 4);
    float *r = malloc(B * T * V * 4);
    fd_fill(&rng, r, B * T * V, 1);
    s2s_ctx c = {&m, &s, cache, out, r, src, tgt, sl, tl, B, S, T, V};
    attn_model_zero_grad(&m);
    s2s_loss(&c);
    if (CHECK_OK(attn_seq2seq_backward(&m, &s, NULL, NULL, r, cache, src, NULL, sl, tgt, NULL, tl, B, S, T, 99))) {
        char name[320];
        for (int64_t t = 0; t < m.n_tensors; t++) {
            snprintf(name, sizeof name, "%s %s", what, m.table[t].name);
            fd_check(name, m.params + m.table[t].offset, m.grads + m.table[t].offset, m.table[t].numel, s2s_loss, &c,
                     H, ATOL, RTOL, &rng, 3);
        }
    }
    CHECK(attn_model_find(&m, "enc.embed") && attn_model_find(&m, "dec.layers.1.cross_attn.wq") &&
              attn_model_find(&m, "dec.head.w") && !attn_model_find(&m, "enc.head.w") &&
              (pre_ln == (attn_model_find(&m, "enc.ln_f.w") != NULL)),
          "%s: tensor names", what);
    free(cache), free(out), free(r);
    attn_model_free(&m);
}

/* ---- learning to reverse, and greedy decoding ---- */
enum { PAD = 0, BOS = 1, EOS = 2, NSYM = 6, VOC = 3 + NSYM, NEX = 8, SMAX = 5, TMAX = SMAX + 1 };

static void test_reverse(void)
{
    attn_seq2seq_config cfg = {0};
    attn_transformer_config lc = {0};
    lc.d_model = 16, lc.n_heads = 2, lc.d_ff = 32, lc.act = ATTN_ACT_RELU, lc.pre_ln = 1, lc.bias = 1;
    cfg.enc.vocab = VOC, cfg.enc.pos = ATTN_POS_LEARNED, cfg.enc.max_len = TMAX, cfg.enc.n_layers = 1, cfg.enc.layer = lc;
    cfg.dec = cfg.enc, cfg.dec.d_out = VOC;
    attn_model m;
    attn_seq2seq s;
    attn_model_init(&m);
    if (!CHECK_OK(attn_seq2seq_declare(&m, &s, NULL, &cfg)) || !CHECK_OK(attn_model_alloc(&m, 2024)))
        return;
    /* NEX examples of 3..5 random symbols; target = reversed source, then EOS */
    test_rng data = {31337};
    int64_t src[NEX * SMAX], sl[NEX], tin[NEX * TMAX], tout[NEX * TMAX], tl[NEX];
    for (int e = 0; e < NEX; e++) {
        sl[e] = test_int(&data, 3, SMAX), tl[e] = sl[e] + 1;
        for (int i = 0; i < SMAX; i++)
            src[e * SMAX + i] = i < sl[e] ? 3 + test_int(&data, 0, NSYM - 1) : PAD;
        for (int i = 0; i < TMAX; i++) {
            int64_t y = i < sl[e] ? src[e * SMAX + sl[e] - 1 - i] : i == sl[e] ? EOS : -1;
            tout[e * TMAX + i] = y;
            tin[e * TMAX + i] = i == 0 ? BOS : i <= sl[e] ? tout[e * TMAX + i - 1] : PAD;
        }
    }
    int64_t nc = attn_seq2seq_cache_floats(&s, NEX, SMAX, TMAX);
    float *cache = malloc(nc * 4), *logits = malloc(NEX * TMAX * VOC * 4), *probs = malloc(NEX * TMAX * VOC * 4);
    float *dlogits = malloc(NEX * TMAX * VOC * 4);
    attn_optimizer opt = attn_optimizer_default(ATTN_OPTIM_ADAMW, 3e-3);
    opt.lr.base_lr = 1e-2, opt.lr.warmup_steps = 20, opt.lr.total_steps = 300, opt.lr.cosine = 1, opt.lr.min_lr = 1e-3;
    opt.clip_norm = 1.0;
    double loss = 0, acc = 0;
    int steps = 0;
    for (; steps < 300; steps++) { /* stops early once teacher-forced accuracy is 100% with a low loss */
        CHECK_OK(attn_seq2seq_forward(&m, &s, logits, NULL, cache, src, NULL, sl, tin, NULL, tl, NEX, SMAX, TMAX, steps));
        attn_cross_entropy_forward(&loss, NULL, probs, logits, tout, NEX * TMAX, VOC, -1, 0.0);
        attn_accuracy(&acc, logits, tout, NEX * TMAX, VOC, -1);
        if (acc == 1.0 && loss < 0.02)
            break;
        attn_model_zero_grad(&m);
        memset(dlogits, 0, NEX * TMAX * VOC * 4);
        attn_cross_entropy_backward(dlogits, probs, tout, NEX * TMAX, VOC, -1, 0.0, 1.0);
        CHECK_OK(attn_seq2seq_backward(&m, &s, NULL, NULL, dlogits, cache, src, NULL, sl, tin, NULL, tl, NEX, SMAX,
                                       TMAX, steps));
        attn_model_step(&m, &opt, NULL, NULL);
    }
    /* greedy: every example reversed exactly, EOS at the right place */
    int64_t out[NEX * TMAX], olen[NEX];
    int right = 0;
    if (CHECK_OK(attn_seq2seq_greedy(&m, &s, out, olen, NULL, src, NULL, sl, NEX, SMAX, BOS, EOS, TMAX))) {
        for (int e = 0; e < NEX; e++) {
            int ok = olen[e] == sl[e];
            for (int i = 0; i <= sl[e] && ok; i++)
                ok = out[e * TMAX + i] == tout[e * TMAX + i];
            right += ok;
        }
        printf("reverse: final training loss %.3g after %d steps, %d of %d reversed by greedy decoding\n", loss, steps,
               right, NEX);
        CHECK(right == NEX, "a 1+1-layer encoder-decoder learns to reverse %d sequences in %d steps: %d right "
              "(final loss %.3g)", NEX, steps, right, loss);
        /* greedy == argmax of one full forward on [BOS, y_1 .. y_{T-1}] (no dropout here) */
        int64_t gin[NEX * TMAX];
        for (int e = 0; e < NEX; e++)
            for (int i = 0; i < TMAX; i++)
                gin[e * TMAX + i] = i == 0 ? BOS : out[e * TMAX + i - 1];
        CHECK_OK(attn_seq2seq_forward(&m, &s, logits, NULL, cache, src, NULL, sl, gin, NULL, NULL, NEX, SMAX, TMAX, 0));
        int same = 1;
        for (int e = 0; e < NEX; e++)
            for (int i = 0; i <= olen[e] && i < TMAX; i++) {
                const float *row = logits + (e * TMAX + i) * VOC;
                int64_t best = 0;
                for (int v = 1; v < VOC; v++)
                    best = row[v] > row[best] ? v : best;
                same &= best == out[e * TMAX + i];
            }
        CHECK(same, "greedy decoding equals the argmax of a full teacher-forced forward on its own output");
    }
    CHECK_FAILS(attn_seq2seq_greedy(&m, &s, out, olen, NULL, src, NULL, sl, NEX, SMAX, BOS, VOC, TMAX), ATTN_ERR_INVALID,
                "outside the vocabulary");
    CHECK_FAILS(attn_seq2seq_greedy(&m, &s, out, olen, NULL, src, NULL, sl, NEX, SMAX, BOS, EOS, TMAX + 1), ATTN_ERR_INVALID,
                "exceeds max_len");
    free(cache), free(logits), free(probs), free(dlogits);
    attn_model_free(&m);
}

/* ---- the cross-attention weights the decoder returns ----
 * Against an independent composition from the public layers on the same
 * parameters: h0 = embed + sinusoids; per pre-LN decoder layer l,
 * u = LN1(h_l), x1 = h_l + self_attn(u), weights = cross_attn(LN2(x1), mem)
 * (attn_mha_forward's own weights output), h_{l+1} = attn_transformer_forward.
 * Same operations in the same order on the reference kernel: the weights
 * agree to 1e-6 (bitwise expected).  Rows sum to 1 over the unpadded source
 * positions and are 0 on the padding.  Greedy decoding returns the weights of
 * one forward on its own output and the same tokens as without weights. */
static void test_cross_weights(void)
{
    enum { B = 3, S = 5, T = 4, L = 2, HD = 2, C = 8, V = 7, ML = 4 };
    attn_seq2seq_config cfg = {0};
    attn_transformer_config lc = layer_cfg(1, 0.0, 0);
    cfg.enc.vocab = V, cfg.enc.pos = ATTN_POS_SINUSOIDAL, cfg.enc.n_layers = 1, cfg.enc.layer = lc;
    cfg.dec = cfg.enc, cfg.dec.n_layers = L, cfg.dec.d_out = V;
    attn_model m;
    attn_seq2seq s;
    attn_model_init(&m);
    if (!CHECK_OK(attn_seq2seq_declare(&m, &s, "s", &cfg)) || !CHECK_OK(attn_model_alloc(&m, 4242)))
        return;
    int64_t src[B * S], sl[B] = {5, 2, 3}, tgt[B * T];
    for (int i = 0; i < B * S; i++)
        src[i] = test_int(&rng, 0, V - 1);
    for (int i = 0; i < B * T; i++)
        tgt[i] = test_int(&rng, 0, V - 1);
    int64_t nc = attn_seq2seq_cache_floats(&s, B, S, T), nw = (int64_t)L * B * HD * T * S;
    float *cache = malloc(nc * 4), *logits = malloc(B * ML * V * 4), *w = malloc(nw * 4);
    float *mem = malloc(B * S * C * 4), *ecache = malloc(attn_encoder_cache_floats(&s.enc, B, S) * 4);
    float *h = malloc(B * T * C * 4), *h1 = malloc(B * T * C * 4), *u = malloc(B * T * C * 4);
    float *x1 = malloc(B * T * C * 4), *mean = malloc(B * T * 4), *rstd = malloc(B * T * 4);
    float *wref = malloc(B * HD * T * S * 4);
    int64_t nl = attn_transformer_cache_floats(&s.dec.layers[0], B, T, S);
    int64_t nm = attn_mha_cache_floats(&s.dec.layers[0].self_attn, B, T, S > T ? S : T);
    float *lcache = malloc((nl > nm ? nl : nm) * 4);
    CHECK_OK(attn_seq2seq_forward(&m, &s, logits, w, cache, src, NULL, sl, tgt, NULL, NULL, B, S, T, 5));
    CHECK_OK(attn_encoder_forward(&m, &s.enc, mem, ecache, src, NULL, sl, B, S, 0));
    CHECK_OK(attn_embedding_forward(h, tgt, m.params + s.dec.embed, B * T, C, V));
    CHECK_OK(attn_posenc_sinusoidal_forward(h, h, B, T, C, 0));
    double maxdiff = 0, maxsum = 0, maxpad = 0;
    for (int l = 0; l < L; l++) {
        const attn_transformer_layer *y = &s.dec.layers[l];
        CHECK_OK(attn_layernorm_forward(u, mean, rstd, h, m.params + y->ln_w[0], m.params + y->ln_b[0], B * T, C,
                                        1e-5));
        CHECK_OK(attn_mha_forward(&m, &y->self_attn, x1, NULL, lcache, u, u, NULL, B, T, T, 0));
        for (int e = 0; e < B * T * C; e++)
            x1[e] += h[e];
        CHECK_OK(attn_layernorm_forward(u, mean, rstd, x1, m.params + y->ln_w[1], m.params + y->ln_b[1], B * T, C,
                                        1e-5));
        CHECK_OK(attn_mha_forward(&m, &y->cross_attn, x1, wref, lcache, u, mem, sl, B, T, S, 0));
        const float *got = w + (int64_t)l * B * HD * T * S;
        for (int i = 0; i < B * HD * T * S; i++)
            maxdiff = fmax(maxdiff, fabs((double)got[i] - wref[i]));
        for (int b = 0; b < B; b++)
            for (int r = 0; r < HD * T; r++) {
                const float *row = got + ((int64_t)b * HD * T + r) * S;
                double sum = 0;
                for (int j = 0; j < S; j++)
                    if (j < sl[b])
                        sum += row[j];
                    else
                        maxpad = fmax(maxpad, fabs(row[j]));
                maxsum = fmax(maxsum, fabs(sum - 1));
            }
        CHECK_OK(attn_transformer_forward(&m, y, h1, lcache, h, mem, NULL, sl, B, T, S, 0));
        memcpy(h, h1, B * T * C * 4);
    }
    CHECK(maxdiff <= 1e-6, "decoder cross weights (%d layers) equal attn_mha_forward's on an independent composition: "
          "max diff %.3g", L, maxdiff);
    CHECK(maxsum <= 1e-5 && maxpad == 0, "cross-weight rows sum to 1 over the source (|sum - 1| <= %.3g) and are 0 on "
          "padding (max %.3g)", maxsum, maxpad);
    /* greedy */
    int64_t out1[B * ML], out2[B * ML], olen[B];
    float *gw = malloc((int64_t)L * B * HD * ML * S * 4), *fw = malloc((int64_t)L * B * HD * ML * S * 4);
    float *gcache = malloc(attn_seq2seq_cache_floats(&s, B, S, ML) * 4);
    CHECK_OK(attn_seq2seq_greedy(&m, &s, out1, NULL, NULL, src, NULL, sl, B, S, 1, 2, ML));
    if (CHECK_OK(attn_seq2seq_greedy(&m, &s, out2, olen, gw, src, NULL, sl, B, S, 1, 2, ML))) {
        CHECK(memcmp(out1, out2, sizeof out1) == 0, "greedy gives the same tokens with and without cross weights");
        int64_t gin[B * ML], longest = 0;
        for (int b = 0; b < B; b++) {
            longest = olen[b] + 1 > longest ? olen[b] + 1 : longest;
            for (int i = 0; i < ML; i++)
                gin[b * ML + i] = i == 0 ? 1 : out2[b * ML + i - 1];
        }
        longest = longest < ML ? longest : ML;
        CHECK_OK(attn_seq2seq_forward(&m, &s, logits, fw, gcache, src, NULL, sl, gin, NULL, NULL, B, S, ML, 0));
        double gd = 0, gz = 0;
        for (int64_t lbh = 0; lbh < (int64_t)L * B * HD; lbh++) {
            int64_t b = (lbh / HD) % B, rows = olen[b] + 1 < ML ? olen[b] + 1 : ML;
            for (int64_t t = 0; t < ML; t++)
                for (int j = 0; j < S; j++) {
                    double g = gw[(lbh * ML + t) * S + j], f = fw[(lbh * ML + t) * S + j];
                    if (t < rows)
                        gd = fmax(gd, fabs(g - f));
                    else if (t >= longest)
                        gz = fmax(gz, fabs(g));
                }
        }
        CHECK(gd <= 1e-6 && gz == 0, "greedy's cross weights equal a forward on its output up to each eos (max diff "
              "%.3g), zero after the longest (%.3g)", gd, gz);
    }
    attn_decoder solo;
    attn_model m2;
    attn_model_init(&m2);
    attn_decoder_config dc = cfg.dec;
    dc.layer.cross = 0;
    if (CHECK_OK(attn_decoder_declare(&m2, &solo, "d", &dc)) && CHECK_OK(attn_model_alloc(&m2, 1))) {
        float *c2 = malloc(attn_decoder_cache_floats(&solo, B, T, 0) * 4);
        CHECK_FAILS(attn_decoder_forward(&m2, &solo, logits, w, c2, tgt, NULL, NULL, NULL, NULL, B, T, 0, 0),
                    ATTN_ERR_INVALID, "no cross attention");
        free(c2);
    }
    attn_model_free(&m2);
    free(cache), free(logits), free(w), free(mem), free(ecache), free(h), free(h1), free(u), free(x1), free(mean);
    free(rstd), free(wref), free(lcache), free(gw), free(fw), free(gcache);
    attn_model_free(&m);
}

/* ---- attn_model_step ---- */
static void test_model_step(void)
{
    attn_model m;
    int64_t sh[2] = {3, 4}, ow, ob;
    attn_model_init(&m);
    attn_model_add(&m, "w", 2, sh, ATTN_INIT_ONES, 0, &ow);
    attn_model_add(&m, "b", 1, sh, ATTN_INIT_ONES, 0, &ob);
    attn_model_alloc(&m, 1);
    CHECK(attn_model_find(&m, "w")->decay == 1 && attn_model_find(&m, "b")->decay == 0,
          "rank-2 tensors decay, rank-1 tensors do not");
    /* zero gradients: AdamW moves only by the decoupled decay, w *= 1 - lr wd, b unchanged */
    attn_optimizer o = attn_optimizer_default(ATTN_OPTIM_ADAMW, 0.5);
    o.weight_decay = 0.1;
    double norm = -1, lr = -1;
    CHECK_OK(attn_model_step(&m, &o, &norm, &lr));
    CHECK(m.params[ow] == (float)(1 - 0.05) && m.params[ob] == 1.0f && m.step == 1 && norm == 0 && lr == 0.5,
          "AdamW step: w %.9g (want 0.95), b %.9g (want 1), step %lld", m.params[ow], m.params[ob], (long long)m.step);
    CHECK_OK(attn_model_set_decay(&m, "b", 1));
    CHECK_OK(attn_model_step(&m, &o, NULL, NULL));
    CHECK(m.params[ob] == (float)(1 - 0.05), "attn_model_set_decay turns decay on");
    CHECK_FAILS(attn_model_set_decay(&m, "zz", 1), ATTN_ERR_INVALID, "no tensor 'zz'");
    /* against the per-array function on the same gradients, with clipping (norm 2 * sqrt(15) > 1) */
    float ref[15];
    for (int i = 0; i < 15; i++)
        m.grads[i] = 2.0f, ref[i] = m.params[i];
    float rm[15], rv[15], rg[15];
    memcpy(rm, m.opt_m, sizeof rm), memcpy(rv, m.opt_v, sizeof rv);
    o.clip_norm = 1.0;
    CHECK_OK(attn_model_step(&m, &o, &norm, NULL));
    attn_clip_grad_norm((memcpy(rg, (float[15]){2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2}, sizeof rg), rg), 15, 1.0,
                        NULL);
    attn_adamw_step(ref, rm, rv, rg, 15, 3, 0.5, 0.9, 0.999, 1e-8, 0.1);
    CHECK(memcmp(ref, m.params, sizeof ref) == 0 && fabs(norm - 2 * sqrt(15.0)) < 1e-12,
          "attn_model_step == clip + attn_adamw_step on every tensor (norm %.17g)", norm);
    /* SGD with momentum, the schedule read at m->step */
    attn_optimizer sg = attn_optimizer_default(ATTN_OPTIM_SGD, 1.0);
    sg.lr.warmup_steps = 10, sg.momentum = 0.5;
    memset(m.grads, 0, 15 * 4);
    memset(m.opt_m, 0, 15 * 4); /* the momentum buffer (Adam's m so far) */
    m.grads[0] = 1.0f;
    float w0 = m.params[0];
    CHECK_OK(attn_model_step(&m, &sg, NULL, &lr));
    CHECK(lr == 0.4 && m.opt_m[0] == 1.0f && m.params[0] == (float)(w0 - 0.4), "SGD: lr at step 3 of a 10-step warmup = %g", lr);
    attn_optimizer bad = o;
    bad.beta1 = 1.5;
    CHECK_FAILS(attn_model_step(&m, &bad, NULL, NULL), ATTN_ERR_INVALID, "betas");
    bad = o, bad.clip_norm = -1;
    CHECK_FAILS(attn_model_step(&m, &bad, NULL, NULL), ATTN_ERR_INVALID, "clip_norm");
    attn_optim_kind k;
    CHECK(attn_optim_parse("adam", &k) == ATTN_OK && k == ATTN_OPTIM_ADAM && strcmp(attn_optim_name(k), "adam") == 0,
          "optimizer names");
    attn_model_free(&m);
}

/* ---- errors ---- */
static void test_errors(void)
{
    attn_model m;
    attn_stack s;
    attn_stack_config c = {0};
    attn_model_init(&m);
    c.n_layers = 1, c.layer = layer_cfg(1, 0, 0);
    CHECK_FAILS(attn_encoder_declare(&m, &s, "e", &c), ATTN_ERR_INVALID, "give vocab");
    c.vocab = 4, c.n_layers = ATTN_MAX_LAYERS + 1;
    CHECK_FAILS(attn_encoder_declare(&m, &s, "e", &c), ATTN_ERR_INVALID, "n_layers");
    c.n_layers = 1, c.pos = ATTN_POS_LEARNED;
    CHECK_FAILS(attn_encoder_declare(&m, &s, "e", &c), ATTN_ERR_INVALID, "max_len");
    c.pos = ATTN_POS_ROPE, c.layer.d_k = 3, c.layer.d_v = 4;
    CHECK_FAILS(attn_encoder_declare(&m, &s, "e", &c), ATTN_ERR_INVALID, "even d_k");
    attn_model_free(&m);
    attn_model_init(&m);
    c.layer.d_k = c.layer.d_v = 0, c.pos = ATTN_POS_SINUSOIDAL, c.max_len = 4;
    CHECK_OK(attn_encoder_declare(&m, &s, "e", &c));
    CHECK_OK(attn_model_alloc(&m, 1));
    float out[8 * 5 * 8], cache[8192];
    int64_t ids[40] = {0}, len[2] = {0, 2};
    CHECK(attn_encoder_cache_floats(&s, 2, 4) <= 8192, "cache size");
    CHECK_FAILS(attn_encoder_forward(&m, &s, out, cache, ids, NULL, NULL, 2, 5, 0), ATTN_ERR_INVALID, "exceeds max_len");
    CHECK_FAILS(attn_encoder_forward(&m, &s, out, cache, ids, NULL, len, 2, 4, 0), ATTN_ERR_INVALID, "lengths[0] = 0");
    CHECK_FAILS(attn_encoder_forward(&m, &s, out, cache, NULL, NULL, NULL, 2, 4, 0), ATTN_ERR_MISUSE, "ids is NULL");
    ids[3] = 9;
    CHECK_FAILS(attn_encoder_forward(&m, &s, out, cache, ids, NULL, NULL, 2, 4, 0), ATTN_ERR_INVALID, "");
    attn_model_free(&m);
    attn_seq2seq_config sc = {0};
    attn_seq2seq q;
    attn_model_init(&m);
    sc.enc = c, sc.dec = c, sc.enc.d_out = 3;
    CHECK_FAILS(attn_seq2seq_declare(&m, &q, "", &sc), ATTN_ERR_INVALID, "no head");
    sc.enc.d_out = 0, sc.dec.layer.d_model = 16;
    CHECK_FAILS(attn_seq2seq_declare(&m, &q, "", &sc), ATTN_ERR_INVALID, "d_model");
    attn_model_free(&m);
}

int main(void)
{
    uint64_t seed = test_seed();
    printf("test_nn_models: seed %llu (ATTN_TEST_SEED to replay)\n", (unsigned long long)seed);
    rng.s = seed;
    test_stacks();
    test_seq2seq_fd(0, ATTN_POS_SINUSOIDAL);
    test_seq2seq_fd(1, ATTN_POS_LEARNED);
    test_seq2seq_fd(1, ATTN_POS_ROPE);
    test_model_step();
    test_errors();
    test_reverse();
    test_cross_weights();
    return test_summary("test_nn_models");
}
