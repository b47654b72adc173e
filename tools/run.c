/*
 * run.c - `attn run`: attention of .npy inputs, written to .npy outputs.
 *
 *   attn run -q Q.npy -k K.npy -v V.npy -o OUT.npy [--weights W.npy] [--lse L.npy] [options]
 *
 * Parsing, then loading, then the computation (one attn_forward call), then
 * the outputs.  Outputs are always f32; a failed run leaves no output file.
 */
#define _POSIX_C_SOURCE 200809L /* mkstemp */
#include "args.h"
#include "cli.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char usage_text[] =
    "usage: attn run -q Q.npy -k K.npy -v V.npy -o OUT.npy [options]\n"
    "\n"
    "Compute attention out = softmax(score(Q, K)) V and write it as a float32 .npy file.\n"
    "\n"
    "Inputs (float32, float64 or float16 .npy; a CSV matrix is accepted too):\n"
    "  -q, --q FILE          queries (Lq, D), (H, Lq, D) or (B, H, Lq, D)\n"
    "  -k, --k FILE          keys (Lk, D) .. (B, Hkv, Lk, D); Hq must be a multiple of Hkv (GQA/MQA)\n"
    "  -v, --v FILE          values (Lk, Dv) .. (B, Hkv, Lk, Dv)\n"
    "\n"
    "Outputs (float32 .npy, written atomically):\n"
    "  -o, --out FILE        the output, q's leading shape with last size Dv (required)\n"
    "      --weights FILE    the attention weights, q's leading shape + (Lq, Lk)\n"
    "      --lse FILE        the log-sum-exp of each row, q's shape without its last size\n"
    "\n"
    "Options:\n"
    "      --score NAME      scaled_dot (default), dot, cosine, bilinear, additive\n"
    "      --score-w FILE    bilinear: W, (Dq, Dk) or (Hq, Dq, Dk); score q^T W k\n"
    "      --score-wq FILE   additive: Wq (A, Dq)  } score v^T tanh(Wq q + Wk k)\n"
    "      --score-wk FILE   additive: Wk (A, Dk)  }\n"
    "      --score-v FILE    additive: v (A)       }\n"
    "      --scale S         multiply the scores by S (default: 1/sqrt(D) for scaled_dot, 1 otherwise)\n"
    "      --causal MODE     top-left (query i sees keys j <= i, PyTorch is_causal),\n"
    "                        bottom-right (j <= i + Lk - Lq, FlashAttention / KV cache), or none\n"
    "      --window L,R      sliding window around the diagonal: L keys before, R after; -1 = unbounded\n"
    "      --mask FILE       bool: true = may attend; float: added to the scores.  Broadcast to\n"
    "                        (B, Hq, Lq, Lk) from the right, sizes of 1 broadcasting\n"
    "      --threads N       threads to use (N >= 1; default: ATTN_NUM_THREADS or all cores)\n"
    "      --kernel NAME     auto (default), reference, scalar, avx2, avx512\n"
    "  -h, --help            this help\n"
    "\n"
    "Exit status: 0 ok, 1 error (files, shapes, the library), 2 usage error.\n"
    "example: attn run -q q.npy -k k.npy -v v.npy -o out.npy --weights w.npy --causal top-left\n";

enum { HELP_SHOWN = -1 };

typedef struct run_args {
    const char *q, *k, *v;
    const char *out, *weights, *lse;
    const char *mask;
    const char *score_w, *score_wq, *score_wk, *score_v;
    attn_options opts;
} run_args;

/* The input tensors, each owned (attn_tensor_free). */
typedef struct run_inputs {
    attn_tensor q, k, v, mask, w, wq, wk, va;
} run_inputs;

static int parse_kernel(const char *s, attn_kernel *out)
{
    static const struct {
        const char *name;
        attn_kernel kernel;
    } kernels[] = {{"auto", ATTN_KERNEL_AUTO},
                   {"reference", ATTN_KERNEL_REFERENCE},
                   {"scalar", ATTN_KERNEL_SCALAR},
                   {"avx2", ATTN_KERNEL_AVX2},
                   {"avx512", ATTN_KERNEL_AVX512}};
    for (size_t i = 0; i < sizeof kernels / sizeof *kernels; i++)
        if (strcmp(s, kernels[i].name) == 0) {
            *out = kernels[i].kernel;
            return CLI_OK;
        }
    return cli_usage("run", "--kernel '%s': expected auto, reference, scalar, avx2 or avx512", s);
}

/* Fill *a from the command line.  CLI_OK, CLI_USAGE (error printed) or
 * HELP_SHOWN. */
static int parse_args(int argc, char **argv, run_args *a)
{
    enum { O_WEIGHTS = 256, O_LSE, O_SCALE, O_CAUSAL, O_MASK, O_WINDOW, O_SCORE, O_SCORE_W, O_SCORE_WQ,
           O_SCORE_WK, O_SCORE_V, O_THREADS, O_KERNEL };
    static const struct option longopts[] = {
        {"q", required_argument, NULL, 'q'},
        {"k", required_argument, NULL, 'k'},
        {"v", required_argument, NULL, 'v'},
        {"out", required_argument, NULL, 'o'},
        {"weights", required_argument, NULL, O_WEIGHTS},
        {"lse", required_argument, NULL, O_LSE},
        {"scale", required_argument, NULL, O_SCALE},
        {"causal", required_argument, NULL, O_CAUSAL},
        {"mask", required_argument, NULL, O_MASK},
        {"window", required_argument, NULL, O_WINDOW},
        {"score", required_argument, NULL, O_SCORE},
        {"score-w", required_argument, NULL, O_SCORE_W},
        {"score-wq", required_argument, NULL, O_SCORE_WQ},
        {"score-wk", required_argument, NULL, O_SCORE_WK},
        {"score-v", required_argument, NULL, O_SCORE_V},
        {"threads", required_argument, NULL, O_THREADS},
        {"kernel", required_argument, NULL, O_KERNEL},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    memset(a, 0, sizeof *a);
    opterr = 0;
    optind = 0; /* full reinitialisation (glibc) */
    int c, rc = CLI_OK;
    while (rc == CLI_OK && (c = getopt_long(argc, argv, ":q:k:v:o:h", longopts, NULL)) != -1) {
        int64_t n;
        switch (c) {
        case 'q': a->q = optarg; break;
        case 'k': a->k = optarg; break;
        case 'v': a->v = optarg; break;
        case 'o': a->out = optarg; break;
        case O_WEIGHTS: a->weights = optarg; break;
        case O_LSE: a->lse = optarg; break;
        case O_MASK: a->mask = optarg; break;
        case O_SCORE_W: a->score_w = optarg; break;
        case O_SCORE_WQ: a->score_wq = optarg; break;
        case O_SCORE_WK: a->score_wk = optarg; break;
        case O_SCORE_V: a->score_v = optarg; break;
        case O_SCALE:
            rc = cli_parse_double("run", "--scale", optarg, &a->opts.scale);
            if (rc == CLI_OK && a->opts.scale == 0)
                rc = cli_usage("run", "--scale must be nonzero (leave it out for the score's default)");
            break;
        case O_CAUSAL: rc = cli_parse_causal("run", "--causal", optarg, &a->opts.causal); break;
        case O_WINDOW:
            rc = cli_parse_window("run", "--window", optarg, &a->opts.window_left, &a->opts.window_right);
            a->opts.window = 1;
            break;
        case O_SCORE: rc = cli_parse_score("run", "--score", optarg, &a->opts.score); break;
        case O_THREADS:
            rc = cli_parse_int64("run", "--threads", optarg, &n);
            if (rc == CLI_OK && (n < 1 || n > 4096))
                rc = cli_usage("run", "--threads '%s': expected a number of threads from 1 to 4096", optarg);
            if (rc == CLI_OK)
                a->opts.threads = (int)n;
            break;
        case O_KERNEL: rc = parse_kernel(optarg, &a->opts.kernel); break;
        case 'h': fputs(usage_text, stdout); return HELP_SHOWN;
        default: rc = cli_bad_option("run", c, argv); break;
        }
    }
    if (rc != CLI_OK)
        return rc;
    if (optind < argc)
        return cli_usage("run", "unexpected argument '%s'", argv[optind]);
    if (!a->q || !a->k || !a->v || !a->out)
        return cli_usage("run", "missing %s", !a->q ? "-q Q.npy" : !a->k ? "-k K.npy" : !a->v ? "-v V.npy" : "-o OUT.npy");

    attn_score s = a->opts.score;
    if (s == ATTN_SCORE_BILINEAR && !a->score_w)
        return cli_usage("run", "--score bilinear needs its matrix: --score-w W.npy");
    if (s != ATTN_SCORE_BILINEAR && a->score_w)
        return cli_usage("run", "--score-w is used only with --score bilinear");
    int additive_files = !!a->score_wq + !!a->score_wk + !!a->score_v;
    if (s == ATTN_SCORE_ADDITIVE && additive_files != 3)
        return cli_usage("run", "--score additive needs --score-wq WQ.npy, --score-wk WK.npy and --score-v V.npy");
    if (s != ATTN_SCORE_ADDITIVE && additive_files)
        return cli_usage("run", "--score-wq, --score-wk and --score-v are used only with --score additive");

    /* Two outputs to one file would overwrite each other. */
    const char *outs[3] = {a->out, a->weights, a->lse};
    const char *names[3] = {"-o", "--weights", "--lse"};
    for (int i = 0; i < 3; i++)
        for (int j = i + 1; j < 3; j++)
            if (outs[i] && outs[j] && strcmp(outs[i], outs[j]) == 0)
                return cli_usage("run", "%s and %s both name %s", names[i], names[j], outs[i]);
    return CLI_OK;
}

static void free_inputs(run_inputs *in)
{
    attn_tensor_free(&in->q);
    attn_tensor_free(&in->k);
    attn_tensor_free(&in->v);
    attn_tensor_free(&in->mask);
    attn_tensor_free(&in->w);
    attn_tensor_free(&in->wq);
    attn_tensor_free(&in->wk);
    attn_tensor_free(&in->va);
}

/* Load one optional input; CLI_OK when path is NULL. */
static int load_opt(const char *what, const char *path, attn_tensor *t)
{
    return path ? cli_load_tensor(what, path, t) : CLI_OK;
}

static int check_rank(const char *what, const char *path, const attn_tensor *t, const char *shapes)
{
    if (t->rank >= 2 && t->rank <= 4)
        return CLI_OK;
    char buf[96];
    return cli_error("%s %s has shape %s; expected %s", what, path, cli_shape_str(t, buf, sizeof buf), shapes);
}

/* Load every input and hook the optional ones into a->opts.  CLI_OK or
 * CLI_ERROR (printed). */
static int load_inputs(run_args *a, run_inputs *in)
{
    int rc;
    if ((rc = cli_load_tensor("-q", a->q, &in->q)) != CLI_OK || (rc = cli_load_tensor("-k", a->k, &in->k)) != CLI_OK ||
        (rc = cli_load_tensor("-v", a->v, &in->v)) != CLI_OK || (rc = load_opt("--mask", a->mask, &in->mask)) != CLI_OK ||
        (rc = load_opt("--score-w", a->score_w, &in->w)) != CLI_OK ||
        (rc = load_opt("--score-wq", a->score_wq, &in->wq)) != CLI_OK ||
        (rc = load_opt("--score-wk", a->score_wk, &in->wk)) != CLI_OK ||
        (rc = load_opt("--score-v", a->score_v, &in->va)) != CLI_OK)
        return rc;
    if ((rc = check_rank("-q", a->q, &in->q, "(Lq, D), (H, Lq, D) or (B, H, Lq, D)")) != CLI_OK ||
        (rc = check_rank("-k", a->k, &in->k, "(Lk, D), (H, Lk, D) or (B, H, Lk, D)")) != CLI_OK ||
        (rc = check_rank("-v", a->v, &in->v, "(Lk, Dv), (H, Lk, Dv) or (B, H, Lk, Dv)")) != CLI_OK)
        return rc;
    if (a->mask) {
        if (in->mask.dtype == ATTN_BOOL)
            a->opts.mask = in->mask;
        else
            a->opts.bias = in->mask;
    }
    a->opts.bilinear_w = in->w;
    a->opts.additive_wq = in->wq;
    a->opts.additive_wk = in->wk;
    a->opts.additive_v = in->va;
    return CLI_OK;
}

/* Allocate a float32 tensor of q's leading sizes followed by `last` (when
 * last >= 0) or of q's leading sizes only (last < 0). */
static int alloc_output(const char *what, const char *path, const attn_tensor *q, int64_t last, attn_tensor *t)
{
    int64_t shape[ATTN_MAX_RANK];
    int rank = q->rank - 1;
    memcpy(shape, q->shape, sizeof shape);
    if (last >= 0)
        shape[rank++] = last;
    if (attn_tensor_alloc(t, ATTN_F32, rank, shape) != ATTN_OK)
        return cli_error("%s %s: %s", what, path, attn_errmsg());
    return CLI_OK;
}

/* The permissions an output should have: those of the file it replaces, or
 * 0666 & ~umask for a new one (as open(O_CREAT, 0666) would give).  umask can
 * only be read by setting it; the tool is single-threaded here. */
static mode_t output_mode(const char *path)
{
    struct stat sb;
    if (stat(path, &sb) == 0 && S_ISREG(sb.st_mode))
        return sb.st_mode & 07777;
    mode_t mask = umask(0);
    umask(mask);
    return 0666 & ~mask;
}

/* Write the outputs as one transaction: each is first saved (atomically) to
 * a fresh staging name beside its target; only when every one is complete
 * are they renamed over their targets.  If any save fails, the staged files
 * are removed and every target, old or absent, is left exactly as it was.
 * (A rename within one directory fails only if the directory changes under
 * us; should a later rename fail, the outputs renamed before it stay new.) */
static int write_outputs(const run_args *a, const attn_tensor *out, const attn_tensor *weights,
                         const attn_tensor *lse)
{
    const char *paths[3] = {a->out, a->lse, a->weights};
    const char *names[3] = {"-o", "--lse", "--weights"};
    const attn_tensor *ts[3] = {out, lse, weights};
    char staged[3][4096];
    int n_staged = 0, rc = CLI_OK;
    for (int i = 0; i < 3 && rc == CLI_OK; i++) {
        staged[i][0] = 0;
        if (!paths[i])
            continue;
        if (snprintf(staged[i], sizeof staged[i], "%s.staged.XXXXXX", paths[i]) >= (int)sizeof staged[i]) {
            rc = cli_error("%s %s: the path is too long", names[i], paths[i]);
            break;
        }
        int fd = mkstemp(staged[i]); /* reserves a unique name in the target's directory */
        if (fd < 0) {
            rc = cli_error("%s %s: cannot create a file there: %s", names[i], paths[i], strerror(errno));
            staged[i][0] = 0;
            break;
        }
        /* attn_npy_save keeps the mode of the file it replaces: give the
         * staging file (mkstemp: 0600) the target's mode, so that is what
         * the output ends up with.  Best effort, as attn_npy_save's own. */
        (void)fchmod(fd, output_mode(paths[i]));
        close(fd);
        n_staged = i + 1;
        if (attn_npy_save(staged[i], ts[i]) != ATTN_OK)
            rc = cli_error("%s %s: %s", names[i], paths[i], attn_errmsg());
    }
    for (int i = 0; i < n_staged && rc == CLI_OK; i++)
        if (staged[i][0] && rename(staged[i], paths[i]) != 0)
            rc = cli_error("%s %s: cannot rename the finished output into place: %s", names[i], paths[i],
                           strerror(errno));
    if (rc != CLI_OK)
        for (int i = 0; i < n_staged; i++)
            if (staged[i][0])
                unlink(staged[i]); /* harmless for those already renamed (ENOENT) */
    return rc;
}

int attn_cmd_run(int argc, char **argv)
{
    run_args a;
    int rc = parse_args(argc, argv, &a);
    if (rc == HELP_SHOWN)
        return CLI_OK;
    if (rc != CLI_OK)
        return rc;

    run_inputs in;
    memset(&in, 0, sizeof in);
    attn_tensor out, weights, lse;
    memset(&out, 0, sizeof out);
    weights = lse = out;

    rc = load_inputs(&a, &in);
    if (rc == CLI_OK)
        rc = alloc_output("-o", a.out, &in.q, in.v.shape[in.v.rank - 1], &out);
    if (rc == CLI_OK && a.weights) /* q's leading sizes, Lq, then Lk */
        rc = alloc_output("--weights", a.weights, &in.q, in.k.shape[in.k.rank - 2], &weights);
    if (rc == CLI_OK && a.lse)
        rc = alloc_output("--lse", a.lse, &in.q, -1, &lse);

    if (rc == CLI_OK && attn_forward(&out, &lse, &weights, &in.q, &in.k, &in.v, &a.opts) != ATTN_OK)
        rc = cli_error("attention of -q %s, -k %s, -v %s failed: %s", a.q, a.k, a.v, attn_errmsg());

    if (rc == CLI_OK)
        rc = write_outputs(&a, &out, &weights, &lse);

    attn_tensor_free(&out);
    attn_tensor_free(&weights);
    attn_tensor_free(&lse);
    free_inputs(&in);
    return rc;
}
