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
 * one); target characters one by one.  Model: the library's encoder-decoder
 * (attn_seq2seq_*): token embeddings plus sinusoidal positions, pre-LN
 * encoder and decoder layers, final layer norms, a linear head over the
 * characters; cross-entropy; AdamW with warmup and cosine decay, gradient
 * clipping (attn_model_step).  Decoding is greedy (attn_seq2seq_greedy): the
 * decoder is run on the prefix, the most likely next token appended, until
 * the end token; the picture shows the cross-attention weights it returns.
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

/* The library's encoder-decoder (attn_seq2seq_*): tensors "enc.embed",
 * "enc.layers.<i>.*", "enc.ln_f.*", "dec.embed", "dec.layers.<i>.*",
 * "dec.ln_f.*", "dec.head.*". */
typedef struct tr_model {
    attn_model m;
    tr_cfg cfg;
    attn_seq2seq s;
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

/* Token embeddings plus sinusoidal positions, pre-LN layers with GELU
 * feed-forward blocks and biases, final layer norms, a head over the
 * characters; no dropout. */
static int build_model(tr_model *tm, const tr_cfg *c, uint64_t seed)
{
    memset(tm, 0, sizeof *tm);
    attn_model_init(&tm->m);
    tm->cfg = *c;
    attn_transformer_config tc;
    memset(&tc, 0, sizeof tc);
    tc.d_model = c->C, tc.n_heads = c->H, tc.d_ff = c->F, tc.act = ATTN_ACT_GELU, tc.pre_ln = 1, tc.bias = 1;
    attn_seq2seq_config sc;
    memset(&sc, 0, sizeof sc);
    sc.enc.vocab = SRC_V, sc.enc.pos = ATTN_POS_SINUSOIDAL, sc.enc.max_len = MAX_SRC, sc.enc.n_layers = c->n_enc;
    sc.enc.layer = tc;
    sc.dec.vocab = TGT_V, sc.dec.d_out = TGT_V, sc.dec.pos = ATTN_POS_SINUSOIDAL, sc.dec.max_len = MAX_TGT;
    sc.dec.n_layers = c->n_dec, sc.dec.layer = tc;
    attn_status st = attn_seq2seq_declare(&tm->m, &tm->s, NULL, &sc);
    if (st == ATTN_OK)
        st = attn_model_alloc(&tm->m, seed);
    if (st != ATTN_OK)
        return cli_error("building the model: %s", attn_errmsg());
    return CLI_OK;
}

/* A batch of up to B sentences of up to MAX_SRC / MAX_TGT tokens, and what a
 * training step needs for it. */
typedef struct tr_work {
    int64_t B;
    int64_t *src, *src_len, *tgt_in, *tgt_out; /* (B, S), (B), (B, T), (B, T) */
    float *cache, *logits, *probs, *dlogits;
} tr_work;

static void work_free(tr_work *w)
{
    free(w->src), free(w->src_len), free(w->tgt_in), free(w->tgt_out);
    free(w->cache), free(w->logits), free(w->probs), free(w->dlogits);
    memset(w, 0, sizeof *w);
}

/* train = 0: token buffers only (greedy decoding allocates its own). */
static int work_alloc(tr_work *w, const tr_model *tm, int64_t B, int train)
{
    memset(w, 0, sizeof *w);
    w->B = B;
    size_t S = MAX_SRC, T = MAX_TGT, Bs = (size_t)B, nl = Bs * T * TGT_V;
    int bad = 0;
#define ALLOC(p, n) bad |= !((p) = malloc((n) * sizeof *(p)))
    ALLOC(w->src, Bs * S);
    ALLOC(w->src_len, Bs);
    ALLOC(w->tgt_in, Bs * T);
    ALLOC(w->tgt_out, Bs * T);
    if (train) {
        ALLOC(w->cache, (size_t)attn_seq2seq_cache_floats(&tm->s, B, MAX_SRC, MAX_TGT));
        ALLOC(w->logits, nl);
        ALLOC(w->probs, nl);
        ALLOC(w->dlogits, nl);
    }
#undef ALLOC
    if (bad) {
        work_free(w);
        return cli_error("out of memory for a batch of %lld sentences", (long long)B);
    }
    return CLI_OK;
}

/* One step's gradients: forward with teacher forcing, the mean cross-entropy
 * over the target characters and end marks, backward into m->grads (zeroed
 * here first).  *loss receives the loss. */
static int train_grads(tr_model *tm, tr_work *w, int64_t B, int64_t S, int64_t T, double *loss)
{
    int64_t N = B * T;
    attn_status st = attn_seq2seq_forward(&tm->m, &tm->s, w->logits, NULL, w->cache, w->src, NULL, w->src_len,
                                          w->tgt_in, NULL, NULL, B, S, T, 0);
    if (st == ATTN_OK)
        st = attn_cross_entropy_forward(loss, NULL, w->probs, w->logits, w->tgt_out, N, TGT_V, -1, 0.0);
    if (st == ATTN_OK) {
        attn_model_zero_grad(&tm->m);
        memset(w->dlogits, 0, (size_t)(N * TGT_V) * sizeof(float));
        st = attn_cross_entropy_backward(w->dlogits, w->probs, w->tgt_out, N, TGT_V, -1, 0.0, 1.0);
    }
    if (st == ATTN_OK)
        st = attn_seq2seq_backward(&tm->m, &tm->s, NULL, NULL, w->dlogits, w->cache, w->src, NULL, w->src_len,
                                   w->tgt_in, NULL, NULL, B, S, T, 0);
    if (st != ATTN_OK)
        return cli_error("training step: %s", attn_errmsg());
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

/* Longest output: MAX_TGT - 1 characters or end mark (the decoder then reads
 * at most MAX_TGT - 1 tokens). */
enum { OUT_MAX = MAX_TGT - 1 };

/* Greedy decoding (attn_seq2seq_greedy) of the B sentences in w->src:
 * out (B, OUT_MAX) receives character ids, lens (B) their count before the
 * end mark; cross_weights (n_dec, B, H, OUT_MAX, S) where the decoder
 * looked, or NULL. */
static int greedy(const tr_model *tm, const tr_work *w, int64_t B, int64_t S, int64_t *out, int64_t *lens,
                  float *cross_weights)
{
    if (attn_seq2seq_greedy(&tm->m, &tm->s, out, lens, cross_weights, w->src, NULL, w->src_len, B, S, TGT_BOS,
                            TGT_EOS, OUT_MAX) != ATTN_OK)
        return cli_error("decoding: %s", attn_errmsg());
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
    int rc = work_alloc(&w, tm, EVAL_CHUNK, 0);
    if (rc != CLI_OK)
        return rc;
    static int64_t out[EVAL_CHUNK * OUT_MAX];
    int64_t lens[EVAL_CHUNK], right = 0;
    if (first_wrong)
        *first_wrong = -1;
    for (int64_t s = 0; s < n && rc == CLI_OK; s += EVAL_CHUNK) {
        int64_t B = n - s < EVAL_CHUNK ? n - s : EVAL_CHUNK, S, T;
        fill_batch(&w, nums + s, B, &S, &T);
        if ((rc = greedy(tm, &w, B, S, out, lens, NULL)) != CLI_OK)
            break;
        for (int64_t b = 0; b < B; b++) {
            char want[128], got[128];
            numwords_chinese(nums[s + b], want, sizeof want);
            ids_to_text(out + b * OUT_MAX, lens[b], got, sizeof got);
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

/* Translate `text` (B = 1) and, when picture is set, draw the cross-attention
 * of every decoder layer, averaged over its heads (the weights greedy
 * decoding returns): rows the output characters (then the end mark),
 * columns the source words.  translation receives the output. */
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
    int rc = work_alloc(&w, tm, 1, 0);
    if (rc != CLI_OK)
        return rc;
    int64_t out[OUT_MAX], len = 0, S = n, H = c->H;
    float *cw = picture ? malloc((size_t)(c->n_dec * H * OUT_MAX * S) * sizeof *cw) : NULL;
    double *avg = picture ? malloc((size_t)(c->n_dec * OUT_MAX * S) * sizeof *avg) : NULL;
    if (picture && (!cw || !avg))
        rc = cli_error("out of memory");
    memcpy(w.src, ids, (size_t)n * sizeof *ids);
    w.src_len[0] = n;
    if (rc == CLI_OK)
        rc = greedy(tm, &w, 1, S, out, &len, cw);
    if (rc == CLI_OK)
        ids_to_text(out, len, translation, tsize);
    if (rc == CLI_OK && picture) {
        /* rows: the output characters then </s> (the prediction made at each position) */
        int64_t T = len + 1 < OUT_MAX ? len + 1 : OUT_MAX;
        for (int64_t k = 0; k < c->n_dec; k++)
            for (int64_t t = 0; t < T; t++)
                for (int64_t s = 0; s < S; s++) {
                    double a = 0;
                    for (int64_t h = 0; h < H; h++)
                        a += cw[((k * H + h) * OUT_MAX + t) * S + s];
                    avg[(k * T + t) * S + s] = a / (double)H;
                }
        const char *rows[OUT_MAX], *cols[MAX_SRC];
        for (int64_t t = 0; t < T; t++)
            rows[t] = t < len ? tgt_chars[out[t]] : "(end)";
        for (int64_t s = 0; s < S; s++)
            cols[s] = src_words[ids[s]];
        draw_heatmap maps[MAX_LAYERS];
        char titles[MAX_LAYERS][96];
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
    free(cw), free(avg);
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
    if ((rc = work_alloc(&w, &tm, a.batch, 1)) != CLI_OK)
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
        if ((rc = train_grads(&tm, &w, a.batch, S, T, &loss)) != CLI_OK)
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
