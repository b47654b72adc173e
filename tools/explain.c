/*
 * explain.c - `attn explain`: attention step by step, for a learner.
 *
 *   attn explain                                   seed 002's worked example
 *   attn explain --q Q --k K --v V [--score NAME] [--causal MODE]
 *
 * Every matrix printed comes from the library: the raw scores from
 * attn_scores (dot, scale 1), the scaled scores from attn_scores with the
 * chosen score, the weights, log-sum-exp and outputs from attn_forward.  The
 * tool lays them out, with the formula of each step and, for query 1, the
 * arithmetic written out.  The one sum it does itself is query 1's softmax
 * denominator, written the stable way, sum_j exp(a_1j - m) with m the row's
 * largest score, so that no term overflows however large the scores are.
 */
#include "args.h"
#include "cli.h"
#include "draw.h"

#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char usage_text[] =
    "usage: attn explain [--q Q --k K --v V] [--score NAME] [--causal MODE] [--picture FILE]\n"
    "\n"
    "Show attention step by step: raw scores q.k, scaled scores, weights (softmax) and\n"
    "outputs (weights @ V), for every query, with the formula of each step.\n"
    "Without --q/--k/--v it explains seed 002's worked example (4 tokens, d = 3).\n"
    "\n"
    "Options:\n"
    "  -q, --q FILE        queries, a matrix (Lq, D): one vector per row\n"
    "  -k, --k FILE        keys (Lk, D)\n"
    "  -v, --v FILE        values (Lk, Dv)\n"
    "                      FILE is a .npy file (float32/float64/float16, 2-D) or a CSV file: rows of\n"
    "                      comma-separated numbers, one vector per line, '#' starts a comment\n"
    "      --score NAME    scaled_dot (default): q.k / sqrt(D); dot: q.k; cosine: q.k / (|q| |k|)\n"
    "                      (bilinear and additive need learned weights: use 'attn run')\n"
    "      --causal MODE   top-left (query i sees keys j <= i), bottom-right (j <= i + Lk - Lq),\n"
    "                      or none (default)\n"
    "      --picture FILE  also draw the weights as a heatmap, .png or .svg (queries as rows,\n"
    "                      keys as columns, each weight printed in its cell)\n"
    "  -h, --help          this help\n"
    "\n"
    "example: attn explain --q q.csv --k k.csv --v v.csv --causal top-left\n";

enum { HELP_SHOWN = -1 };

typedef struct explain_args {
    const char *q, *k, *v;
    attn_score score;
    attn_causal causal;
    const char *picture;
} explain_args;

/* What is explained: contiguous f64 matrices q (Lq, D), k (Lk, D), v (Lk, Dv),
 * and what the library computed from them. */
typedef struct explain_data {
    attn_tensor q, k, v;
    attn_tensor raw;     /* (Lq, Lk) e_ij = q_i . k_j */
    attn_tensor scaled;  /* (Lq, Lk) a_ij: the chosen score, -inf where hidden */
    attn_tensor weights; /* (Lq, Lk) w_ij = softmax_j(a_ij) */
    attn_tensor lse;     /* (Lq) log sum_j exp(a_ij) */
    attn_tensor out;     /* (Lq, Dv) y_i = sum_j w_ij v_j */
} explain_data;

/* Seed 002's worked example: Q = K, 4 tokens, d = 3. */
static const double seed_qk[4][3] = {{0.1, 0.2, 0.3}, {0.4, 0.5, 0.6}, {0.7, 0.8, 0.9}, {1.0, 1.1, 1.2}};
static const double seed_v[4][3] = {{1.0, 1.1, 1.2}, {1.3, 1.4, 1.5}, {1.6, 1.7, 1.8}, {1.9, 2.0, 2.1}};

/* ---------------------------------------------------------------- parsing */

static int parse_args(int argc, char **argv, explain_args *a)
{
    enum { O_SCORE = 256, O_CAUSAL, O_PICTURE };
    static const struct option longopts[] = {
        {"q", required_argument, NULL, 'q'},          {"k", required_argument, NULL, 'k'},
        {"v", required_argument, NULL, 'v'},          {"score", required_argument, NULL, O_SCORE},
        {"causal", required_argument, NULL, O_CAUSAL}, {"help", no_argument, NULL, 'h'},
        {"picture", required_argument, NULL, O_PICTURE},
        {NULL, 0, NULL, 0},
    };
    memset(a, 0, sizeof *a);
    opterr = 0;
    optind = 0; /* full reinitialisation (glibc) */
    int c, rc = CLI_OK;
    while (rc == CLI_OK && (c = getopt_long(argc, argv, ":q:k:v:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'q': a->q = optarg; break;
        case 'k': a->k = optarg; break;
        case 'v': a->v = optarg; break;
        case O_SCORE: rc = cli_parse_score("explain", "--score", optarg, &a->score); break;
        case O_CAUSAL: rc = cli_parse_causal("explain", "--causal", optarg, &a->causal); break;
        case O_PICTURE: a->picture = optarg; break;
        case 'h': fputs(usage_text, stdout); return HELP_SHOWN;
        default: rc = cli_bad_option("explain", c, argv); break;
        }
    }
    if (rc != CLI_OK)
        return rc;
    if (optind < argc)
        return cli_usage("explain", "unexpected argument '%s'", argv[optind]);
    if (a->picture) {
        draw_format fmt;
        char err[256];
        if (draw_format_of(a->picture, &fmt, err, sizeof err) != ATTN_OK)
            return cli_usage("explain", "--picture %s", err);
    }
    int given = !!a->q + !!a->k + !!a->v;
    if (given != 0 && given != 3)
        return cli_usage("explain", "give all of --q, --k and --v (or none, for seed 002's example); missing %s",
                         !a->q ? "--q" : !a->k ? "--k" : "--v");
    if (a->score == ATTN_SCORE_BILINEAR || a->score == ATTN_SCORE_ADDITIVE)
        return cli_usage("explain",
                         "--score %s needs learned weight matrices, which explain does not take; "
                         "use 'attn run --score %s' with %s",
                         attn_score_name(a->score), attn_score_name(a->score),
                         a->score == ATTN_SCORE_BILINEAR ? "--score-w" : "--score-wq, --score-wk and --score-v");
    return CLI_OK;
}

/* ---------------------------------------------------------------- loading */

/* A contiguous f64 copy of a 2-D tensor.  CLI_OK or CLI_ERROR (printed). */
static int to_f64_matrix(const char *what, const char *path, const attn_tensor *t, attn_tensor *m)
{
    char buf[96];
    if (t->rank != 2)
        return cli_error("%s %s has shape %s; explain takes a matrix (L, D), one vector per row", what, path,
                         cli_shape_str(t, buf, sizeof buf));
    if (attn_tensor_alloc(m, ATTN_F64, 2, t->shape) != ATTN_OK)
        return cli_error("%s %s: %s", what, path, attn_errmsg());
    double *d = m->data;
    for (int64_t i = 0; i < t->shape[0]; i++)
        for (int64_t j = 0; j < t->shape[1]; j++) {
            int64_t idx[2] = {i, j};
            d[i * t->shape[1] + j] = cli_tensor_get(t, idx);
        }
    return CLI_OK;
}

static int load_file(const char *what, const char *path, attn_tensor *m)
{
    attn_tensor t;
    int rc = cli_load_tensor(what, path, &t);
    if (rc == CLI_OK)
        rc = to_f64_matrix(what, path, &t, m);
    attn_tensor_free(&t);
    return rc;
}

static int load_seed(attn_tensor *m, const double (*rows)[3])
{
    int64_t shape[2] = {4, 3};
    if (attn_tensor_alloc(m, ATTN_F64, 2, shape) != ATTN_OK)
        return cli_error("%s", attn_errmsg());
    memcpy(m->data, rows, sizeof(double) * 12);
    return CLI_OK;
}

static int load_data(const explain_args *a, explain_data *d)
{
    int rc;
    if (!a->q) {
        if ((rc = load_seed(&d->q, seed_qk)) != CLI_OK || (rc = load_seed(&d->k, seed_qk)) != CLI_OK)
            return rc;
        return load_seed(&d->v, seed_v);
    }
    if ((rc = load_file("--q", a->q, &d->q)) != CLI_OK || (rc = load_file("--k", a->k, &d->k)) != CLI_OK)
        return rc;
    return load_file("--v", a->v, &d->v);
}

/* ------------------------------------------------------------ computation */

static int alloc2(attn_tensor *t, int64_t n0, int64_t n1)
{
    int64_t shape[2] = {n0, n1};
    if (attn_tensor_alloc(t, ATTN_F64, n1 < 0 ? 1 : 2, shape) != ATTN_OK)
        return cli_error("%s", attn_errmsg());
    return CLI_OK;
}

/* Every step, by the library.  CLI_OK or CLI_ERROR (printed). */
static int compute(const explain_args *a, explain_data *d)
{
    int64_t Lq = d->q.shape[0], Lk = d->k.shape[0], Dv = d->v.shape[1];
    int rc;
    if ((rc = alloc2(&d->raw, Lq, Lk)) != CLI_OK || (rc = alloc2(&d->scaled, Lq, Lk)) != CLI_OK ||
        (rc = alloc2(&d->weights, Lq, Lk)) != CLI_OK || (rc = alloc2(&d->lse, Lq, -1)) != CLI_OK ||
        (rc = alloc2(&d->out, Lq, Dv)) != CLI_OK)
        return rc;
    const char *qn = a->q ? a->q : "(seed 002)", *kn = a->k ? a->k : "(seed 002)", *vn = a->v ? a->v : "(seed 002)";

    attn_options raw;
    memset(&raw, 0, sizeof raw);
    raw.score = ATTN_SCORE_DOT;
    raw.scale = 1.0;
    raw.kernel = ATTN_KERNEL_REFERENCE;
    if (attn_scores(&d->raw, &d->q, &d->k, &raw) != ATTN_OK)
        return cli_error("raw scores of --q %s and --k %s: %s", qn, kn, attn_errmsg());

    attn_options o;
    memset(&o, 0, sizeof o);
    o.score = a->score;
    o.causal = a->causal;
    o.kernel = ATTN_KERNEL_REFERENCE;
    if (attn_scores(&d->scaled, &d->q, &d->k, &o) != ATTN_OK)
        return cli_error("%s scores of --q %s and --k %s: %s", attn_score_name(a->score), qn, kn, attn_errmsg());
    if (attn_forward(&d->out, &d->lse, &d->weights, &d->q, &d->k, &d->v, &o) != ATTN_OK)
        return cli_error("attention of --q %s, --k %s, --v %s: %s", qn, kn, vn, attn_errmsg());
    return CLI_OK;
}

/* --------------------------------------------------------------- printing */

/* x with 6 decimals ("0.080829"), or, from 1e9 in magnitude on, in exponent
 * form with 7 significant digits ("1.000000e+300") instead of hundreds of
 * digits.  Returns buf. */
static const char *num(char *buf, size_t size, double x)
{
    snprintf(buf, size, fabs(x) < 1e9 || !isfinite(x) ? "%.6f" : "%.6e", x);
    return buf;
}

/* An input value inside a written-out sum, as short as it reads exactly
 * enough for a learner: "0.1", "1.0", "(-0.5)". */
static const char *term(char *buf, size_t size, double x)
{
    char num[40];
    snprintf(num, sizeof num, "%g", x);
    if (isfinite(x) && !strpbrk(num, ".e"))
        strcat(num, ".0");
    snprintf(buf, size, x < 0 ? "(%s)" : "%s", num);
    return buf;
}

static int digits(int64_t n)
{
    int k = 1;
    while (n >= 10) {
        n /= 10;
        k++;
    }
    return k;
}

/* A labelled matrix, 6 decimals, indented by 4: rows "q_1", "q_2".., columns
 * labelled by colfmt ("k_%" PRId64 gives "k_1", "k_2"..). */
static void print_matrix(const char *rowname, const char *colfmt, const double *m, int64_t rows, int64_t cols)
{
    char buf[64];
    int width = 8;
    for (int64_t i = 0; i < rows * cols; i++) {
        int n = (int)strlen(num(buf, sizeof buf, m[i]));
        if (n > width)
            width = n;
    }
    for (int64_t j = 0; j < cols; j++) {
        int n = snprintf(buf, sizeof buf, colfmt, j + 1);
        if (n > width)
            width = n;
    }
    int label = (int)strlen(rowname) + 1 + digits(rows);
    printf("    %*s", label, "");
    for (int64_t j = 0; j < cols; j++) {
        snprintf(buf, sizeof buf, colfmt, j + 1);
        printf("  %*s", width, buf);
    }
    printf("\n");
    for (int64_t i = 0; i < rows; i++) {
        snprintf(buf, sizeof buf, "%s_%" PRId64, rowname, i + 1);
        printf("    %-*s", label, buf);
        for (int64_t j = 0; j < cols; j++)
            printf("  %*s", width, num(buf, sizeof buf, m[i * cols + j]));
        printf("\n");
    }
}

static void print_inputs(const explain_args *a, const explain_data *d)
{
    int64_t Lq = d->q.shape[0], D = d->q.shape[1], Lk = d->k.shape[0], Dk = d->k.shape[1];
    int64_t Lv = d->v.shape[0], Dv = d->v.shape[1];
    printf("inputs");
    if (!a->q)
        printf(": seed 002's worked example (Q = K)");
    printf("\n  Q (%" PRId64 " x %" PRId64 ")%s%s: one query per row\n", Lq, D, a->q ? " from " : "", a->q ? a->q : "");
    print_matrix("q", "[%" PRId64 "]", d->q.data, Lq, D);
    printf("  K (%" PRId64 " x %" PRId64 ")%s%s: one key per row\n", Lk, Dk, a->k ? " from " : "", a->k ? a->k : "");
    print_matrix("k", "[%" PRId64 "]", d->k.data, Lk, Dk);
    printf("  V (%" PRId64 " x %" PRId64 ")%s%s: one value per row, beside its key\n", Lv, Dv, a->v ? " from " : "",
           a->v ? a->v : "");
    print_matrix("v", "[%" PRId64 "]", d->v.data, Lv, Dv);
}

/* Step 1: e_ij = q_i . k_j, with query 1's sums written out. */
static void print_raw(const explain_data *d)
{
    int64_t Lq = d->q.shape[0], D = d->q.shape[1], Lk = d->k.shape[0];
    const double *q = d->q.data, *k = d->k.data, *e = d->raw.data;
    char b1[48], b2[48], n1[48];
    printf("\nstep 1  raw scores     e_ij = q_i . k_j\n"
           "  (the dot product: how well query i matches key j)\n");
    print_matrix("q", "k_%" PRId64, e, Lq, Lk);
    if (Lq == 0 || Lk == 0)
        return;
    printf("  query 1 written out:\n");
    for (int64_t j = 0; j < Lk; j++) {
        printf("    e_1%" PRId64 " = ", j + 1);
        for (int64_t c = 0; c < D; c++)
            printf("%s%s*%s", c ? " + " : "", term(b1, sizeof b1, q[c]), term(b2, sizeof b2, k[j * D + c]));
        printf(" = %s\n", num(n1, sizeof n1, e[j]));
    }
}

/* Which keys query i may see, as a sentence (causal only). */
static void print_visibility(attn_causal causal, int64_t Lq, int64_t Lk)
{
    if (causal == ATTN_CAUSAL_TOP_LEFT)
        printf("  causal top-left: query i sees keys j <= i; hidden keys get -inf\n");
    else if (causal == ATTN_CAUSAL_BOTTOM_RIGHT) {
        int64_t off = Lk - Lq;
        if (off == 0)
            printf("  causal bottom-right: query i sees keys j <= i + Lk - Lq = i; hidden keys get -inf\n");
        else
            printf("  causal bottom-right: query i sees keys j <= i + Lk - Lq = i %c %" PRId64
                   "; hidden keys get -inf\n",
                   off < 0 ? '-' : '+', off < 0 ? -off : off);
    }
}

/* Step 2: the chosen score, with query 1's arithmetic. */
static void print_scaled(const explain_args *a, const explain_data *d)
{
    int64_t Lq = d->q.shape[0], D = d->q.shape[1], Lk = d->k.shape[0];
    const double *q = d->q.data, *k = d->k.data, *e = d->raw.data, *s = d->scaled.data;
    char n1[48], n2[48], n3[48], n4[48];
    switch (a->score) {
    case ATTN_SCORE_DOT:
        printf("\nstep 2  scores         a_ij = e_ij\n"
               "  (score dot: the raw scores themselves, unscaled)\n");
        break;
    case ATTN_SCORE_COSINE:
        printf("\nstep 2  scaled scores  a_ij = e_ij / (|q_i| |k_j|)\n"
               "  (score cosine: the cosine of the angle between q_i and k_j, from -1 to 1)\n");
        break;
    default:
        printf("\nstep 2  scaled scores  a_ij = e_ij / sqrt(d),  d = %" PRId64 "\n"
               "  (score scaled_dot: dividing by sqrt(d) keeps the softmax from saturating as d grows)\n",
               D);
        break;
    }
    print_visibility(a->causal, Lq, Lk);
    print_matrix("q", "k_%" PRId64, s, Lq, Lk);
    if (Lq == 0 || Lk == 0)
        return;
    printf("  query 1 written out:\n");
    double qnorm = 0;
    for (int64_t c = 0; c < D; c++)
        qnorm += q[c] * q[c];
    qnorm = fmax(sqrt(qnorm), 1e-12);
    for (int64_t j = 0; j < Lk; j++) {
        printf("    a_1%" PRId64 " = ", j + 1);
        if (s[j] == -INFINITY) {
            printf("-inf   (key %" PRId64 " is hidden from query 1)\n", j + 1);
            continue;
        }
        if (a->score == ATTN_SCORE_DOT) {
            printf("e_1%" PRId64 " = %s\n", j + 1, num(n1, sizeof n1, s[j]));
        } else if (a->score == ATTN_SCORE_COSINE) {
            double knorm = 0;
            for (int64_t c = 0; c < D; c++)
                knorm += k[j * D + c] * k[j * D + c];
            knorm = fmax(sqrt(knorm), 1e-12);
            printf("%s / (%s * %s) = %s\n", num(n1, sizeof n1, e[j]), num(n2, sizeof n2, qnorm),
                   num(n3, sizeof n3, knorm), num(n4, sizeof n4, s[j]));
        } else {
            printf("%s / sqrt(%" PRId64 ") = %s\n", num(n1, sizeof n1, e[j]), D, num(n2, sizeof n2, s[j]));
        }
    }
}

/* exp(a - m) as written in query 1's softmax: "exp(-0.311769)", or, when
 * a - m overflows (scores of both signs near DBL_MAX), the subtraction itself,
 * "exp(-1.000000e+308 - 1.000000e+308)", whose exp is 0.  Returns buf. */
static const char *exp_term(char *buf, size_t size, double a, double m)
{
    char n1[48], n2[48];
    if (isfinite(a - m))
        snprintf(buf, size, "exp(%s)", num(n1, sizeof n1, a - m));
    else
        snprintf(buf, size, "exp(%s - %s)", num(n1, sizeof n1, a), num(n2, sizeof n2, m));
    return buf;
}

/* Step 3: the softmax of each row, with query 1's written out in the stable
 * form: m = max_j a_1j is subtracted from every score before exp (so every
 * term is at most exp(0) = 1 and the sum at most Lk, whatever the scores),
 * and cancels in the ratio.  The sum is computed here from the scores, term
 * by term as written; the weights and log-sum-exp are the library's. */
static void print_weights(const explain_data *d)
{
    int64_t Lq = d->q.shape[0], Lk = d->k.shape[0];
    const double *s = d->scaled.data, *w = d->weights.data, *lse = d->lse.data;
    char t[128], n1[48], n2[48];
    printf("\nstep 3  weights        w_ij = exp(a_ij) / sum_j exp(a_ij)\n"
           "  (softmax of row i: weights between 0 and 1 that sum to 1 over the keys)\n");
    print_matrix("q", "k_%" PRId64, w, Lq, Lk);
    if (Lq == 0 || Lk == 0)
        return;
    if (lse[0] == -INFINITY) {
        printf("  query 1 written out:\n"
               "    query 1 sees no key: its weights are all 0 and its output is 0\n");
        return;
    }
    double m = -INFINITY;
    for (int64_t j = 0; j < Lk; j++)
        if (s[j] != -INFINITY && s[j] > m)
            m = s[j];
    if (!isfinite(m)) {
        printf("  query 1 written out:\n"
               "    its largest score is %s, so its softmax is not defined (the weights above are the library's)\n",
               num(n1, sizeof n1, m));
        return;
    }
    printf("  query 1 written out, with its largest score m = max_j a_1j = %s subtracted first\n"
           "  (then no exp overflows, and m cancels: exp(a - m) / sum exp(a - m) = exp(a) / sum exp(a)):\n",
           num(n1, sizeof n1, m));
    double sum = 0;
    printf("    sum_j exp(a_1j - m) = ");
    int first = 1;
    for (int64_t j = 0; j < Lk; j++) {
        if (s[j] == -INFINITY)
            continue;
        sum += exp(s[j] - m);
        printf("%s%s", first ? "" : " + ", exp_term(t, sizeof t, s[j], m));
        first = 0;
    }
    printf(" = %s\n", num(n1, sizeof n1, sum));
    printf("    (m + log of that sum is the log-sum-exp of row 1: %s)\n", num(n1, sizeof n1, lse[0]));
    for (int64_t j = 0; j < Lk; j++) {
        if (s[j] == -INFINITY)
            printf("    w_1%" PRId64 " = 0   (key %" PRId64 " is hidden)\n", j + 1, j + 1);
        else
            printf("    w_1%" PRId64 " = %s / %s = %s\n", j + 1, exp_term(t, sizeof t, s[j], m),
                   num(n1, sizeof n1, sum), num(n2, sizeof n2, w[j]));
    }
}

/* Step 4: y_i = sum_j w_ij v_j, with query 1's sums written out. */
static void print_outputs(const explain_data *d)
{
    int64_t Lq = d->q.shape[0], Lk = d->k.shape[0], Dv = d->v.shape[1];
    const double *s = d->scaled.data, *w = d->weights.data, *v = d->v.data, *y = d->out.data;
    char b[48], n1[48];
    printf("\nstep 4  outputs        y_i = sum_j w_ij v_j\n"
           "  (the values averaged with query i's weights)\n");
    print_matrix("y", "[%" PRId64 "]", y, Lq, Dv);
    if (Lq == 0 || Lk == 0)
        return;
    printf("  query 1 written out:\n");
    if (d->lse.data && ((const double *)d->lse.data)[0] == -INFINITY) {
        printf("    y_1 = 0   (query 1 sees no key)\n");
        return;
    }
    for (int64_t c = 0; c < Dv; c++) {
        printf("    y_1[%" PRId64 "] = ", c + 1);
        int first = 1;
        for (int64_t j = 0; j < Lk; j++) {
            if (s[j] == -INFINITY)
                continue;
            printf("%s%.6f*%s", first ? "" : " + ", w[j], term(b, sizeof b, v[j * Dv + c]));
            first = 0;
        }
        printf(" = %s\n", num(n1, sizeof n1, y[c]));
    }
}

static void print_explanation(const explain_args *a, const explain_data *d)
{
    printf("Attention: each query q_i scores every key k_j, softmax turns its scores into weights\n"
           "that sum to 1, and its output y_i is the average of the values v_j under those weights.\n\n");
    print_inputs(a, d);
    print_raw(d);
    print_scaled(a, d);
    print_weights(d);
    print_outputs(d);
}

/* The weights as a heatmap with the values in the cells: rows q1.., columns k1.. */
static int draw_weights(const explain_args *a, const explain_data *d)
{
    int64_t Lq = d->weights.shape[0], Lk = d->weights.shape[1];
    size_t nr = (size_t)(Lq > 0 ? Lq : 1), nc = (size_t)(Lk > 0 ? Lk : 1);
    char (*rl)[24] = malloc(nr * sizeof *rl), (*cl)[24] = malloc(nc * sizeof *cl);
    const char **rows = malloc(nr * sizeof *rows), **cols = malloc(nc * sizeof *cols);
    int rc = CLI_OK;
    if (!rl || !cl || !rows || !cols) {
        rc = cli_error("out of memory for the picture");
    } else {
        for (int64_t i = 0; i < Lq; i++)
            snprintf(rl[i], sizeof rl[i], "q%" PRId64, i + 1), rows[i] = rl[i];
        for (int64_t j = 0; j < Lk; j++)
            snprintf(cl[j], sizeof cl[j], "k%" PRId64, j + 1), cols[j] = cl[j];
        draw_heatmap map = {(const double *)d->weights.data, Lq, Lk, rows, cols, NULL};
        draw_heatmap_style st;
        memset(&st, 0, sizeof st);
        st.show_values = Lq <= 40 && Lk <= 40;
        char title[96];
        snprintf(title, sizeof title, "attention weights (%s)", attn_score_name(a->score));
        st.title = title;
        char err[512];
        int w, h;
        if (draw_heatmaps(a->picture, &map, 1, &st, &w, &h, err, sizeof err) != ATTN_OK)
            rc = cli_error("%s", err);
        else
            printf("\nwrote %s (%d x %d pixels)\n", a->picture, w, h);
        draw_release();
    }
    free(rl), free(cl), free(rows), free(cols);
    return rc;
}

/* --------------------------------------------------------------- command */

int attn_cmd_explain(int argc, char **argv)
{
    explain_args a;
    int rc = parse_args(argc, argv, &a);
    if (rc == HELP_SHOWN)
        return CLI_OK;
    if (rc != CLI_OK)
        return rc;

    explain_data d;
    memset(&d, 0, sizeof d);
    rc = load_data(&a, &d);
    if (rc == CLI_OK)
        rc = compute(&a, &d);
    if (rc == CLI_OK)
        print_explanation(&a, &d);
    if (rc == CLI_OK && a.picture)
        rc = draw_weights(&a, &d);

    attn_tensor *all[] = {&d.q, &d.k, &d.v, &d.raw, &d.scaled, &d.weights, &d.lse, &d.out};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++)
        attn_tensor_free(all[i]);
    return rc;
}
