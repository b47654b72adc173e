/*
 * train.c - the `attn train` command (dispatch to the demos) and what the
 * demos share (see train.h).
 */
#define _POSIX_C_SOURCE 200809L

#include "train.h"
#include "args.h"
#include "cli.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* ---------------------------------------------------------------- dispatch */

static const char train_usage_text[] =
    "usage: attn train TASK [OPTIONS]\n"
    "\n"
    "Train a small attention model on data the tool generates, watch the loss fall, and compare\n"
    "the result with baselines that cannot look things up.\n"
    "\n"
    "tasks:\n"
    "  next-vector   predict the next vector of a sequence by a content-based lookup (seed 004)\n"
    "  translate     English number words -> Chinese numerals with an encoder-decoder Transformer\n"
    "\n"
    "'attn train TASK --help' shows a task's options.\n";

int attn_cmd_train(int argc, char **argv)
{
    if (argc < 2)
        return cli_usage("train", "no task given; the tasks are next-vector and translate");
    const char *task = argv[1];
    if (strcmp(task, "--help") == 0 || strcmp(task, "-h") == 0) {
        fputs(train_usage_text, stdout);
        return CLI_OK;
    }
    if (strcmp(task, "next-vector") == 0)
        return attn_cmd_train_next(argc - 1, argv + 1);
    if (strcmp(task, "translate") == 0)
        return attn_cmd_train_translate(argc - 1, argv + 1);
    return cli_usage("train", "unknown task '%s'; the tasks are next-vector and translate", task);
}

/* ----------------------------------------------------------------- options */

const char train_common_help[] =
    "Common options of every 'attn train' task:\n"
    "      --seed N          seed of the initial weights and of the generated data (default 1)\n"
    "      --steps N         optimizer steps in total (a resumed run stops there too)\n"
    "      --threads N       threads (default 1: these models are small enough that more threads\n"
    "                        cost more in synchronisation than they save)\n"
    "      --save FILE       write a checkpoint (safetensors) at the end ('' for none)\n"
    "      --resume FILE     continue from a checkpoint written by --save: the run goes on\n"
    "                        bit for bit as if it had not been interrupted\n"
    "      --report FILE     write the results as JSON: {task, metric, value, baselines, steps,\n"
    "                        seconds, seed}\n"
    "      --loss-csv FILE   write step,train_loss,<test metric> rows (draw with 'attn viz-loss')\n"
    "      --eval-every N    measure the test metric every N steps into the loss log\n"
    "      --log-every N     when stderr is not a terminal, a progress line every N steps\n"
    "      --stop-at N       stop after step N as if interrupted (with --save: a checkpoint to\n"
    "                        --resume; the learning-rate schedule still spans --steps)\n"
    "      --quiet           no progress display\n";

static int parse_positive(const char *cmd, const char *opt, const char *arg, int64_t min, int64_t max, int64_t *out)
{
    int64_t v;
    int rc = cli_parse_int64(cmd, opt, arg, &v);
    if (rc != CLI_OK)
        return rc;
    if (v < min || v > max)
        return cli_usage(cmd, "%s %s is out of range [%lld, %lld]", opt, arg, (long long)min, (long long)max);
    *out = v;
    return CLI_OK;
}

int train_parse_common(const char *cmd, int c, const char *arg, train_opts *o)
{
    int64_t v = 0;
    int rc = CLI_OK;
    switch (c) {
    case TRAIN_OPT_SEED:
        if ((rc = parse_positive(cmd, "--seed", arg, 0, INT64_MAX, &v)) == CLI_OK)
            o->seed = (uint64_t)v;
        break;
    case TRAIN_OPT_STEPS: rc = parse_positive(cmd, "--steps", arg, 1, INT64_C(1) << 40, &o->steps); break;
    case TRAIN_OPT_THREADS:
        if ((rc = parse_positive(cmd, "--threads", arg, 1, 4096, &v)) == CLI_OK)
            o->threads = (int)v;
        break;
    case TRAIN_OPT_SAVE: o->save = *arg ? arg : NULL; break; /* --save '' : none */
    case TRAIN_OPT_RESUME: o->resume = arg; break;
    case TRAIN_OPT_REPORT: o->report = arg; break;
    case TRAIN_OPT_LOSS_CSV: o->loss_csv = arg; break;
    case TRAIN_OPT_LOG_EVERY: rc = parse_positive(cmd, "--log-every", arg, 1, INT64_MAX, &o->log_every); break;
    case TRAIN_OPT_EVAL_EVERY: rc = parse_positive(cmd, "--eval-every", arg, 1, INT64_MAX, &o->eval_every); break;
    case TRAIN_OPT_QUIET: o->quiet = 1; break;
    case TRAIN_OPT_STOP_AT: rc = parse_positive(cmd, "--stop-at", arg, 1, INT64_MAX, &o->stop_at); break;
    default: rc = cli_usage(cmd, "internal: unknown common option %d", c); break;
    }
    return rc;
}

int64_t train_end_step(const train_opts *o)
{
    return o->stop_at > 0 && o->stop_at < o->steps ? o->stop_at : o->steps;
}

/* Default one thread: the demos' models are small (64 wide), and work that
 * small stays on the calling thread anyway (products and attention calls
 * under 2^24 multiply-adds, layer norms and optimizer updates under 4M
 * flops): on this 2-core host `attn train translate --steps 40` took
 * 11.7-13.2 s on one thread and 12.0-13.7 s on two.  --threads N overrides. */
void train_apply_threads(const train_opts *o)
{
    attn_set_num_threads(o->threads > 0 ? o->threads : 1);
}

/* ------------------------------------------------------------------ random */

static uint64_t mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    return z ^ (z >> 31);
}

uint64_t rng_u64(uint64_t seed, uint64_t a, uint64_t b)
{
    const uint64_t g = UINT64_C(0x9e3779b97f4a7c15);
    return mix64(mix64(mix64(seed + g) + a * g + g) + b * g + g);
}

double rng_uniform(uint64_t seed, uint64_t a, uint64_t b)
{
    return (double)(rng_u64(seed, a, b) >> 11) * 0x1.0p-53;
}

double rng_normal(uint64_t seed, uint64_t a, uint64_t b)
{
    /* two uniforms from draws 2b and 2b+1; u1 in (0, 1] */
    double u1 = 1.0 - rng_uniform(seed, a, 2 * b), u2 = rng_uniform(seed, a, 2 * b + 1);
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

uint64_t rng_below(uint64_t seed, uint64_t a, uint64_t b, uint64_t n)
{
    return (uint64_t)(rng_uniform(seed, a, b) * (double)n) % n;
}

double rng_next_uniform(rng_stream *s) { return rng_uniform(s->seed, s->a, s->counter++); }
double rng_next_normal(rng_stream *s) { return rng_normal(s->seed, s->a, s->counter++); }
uint64_t rng_next_below(rng_stream *s, uint64_t n) { return rng_below(s->seed, s->a, s->counter++, n); }

/* ---------------------------------------------------------------- progress */

double train_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

void train_progress_start(train_progress *p, int64_t first, int64_t total, const train_opts *o)
{
    memset(p, 0, sizeof *p);
    p->first = first, p->total = total;
    p->quiet = o->quiet;
    p->tty = isatty(fileno(stderr));
    p->every = o->log_every > 0 ? o->log_every : (total >= 10 ? total / 10 : 1);
    p->t0 = p->last_draw = train_now();
}

static void format_eta(char *buf, size_t size, double s)
{
    if (!isfinite(s) || s < 0)
        snprintf(buf, size, "?");
    else if (s < 60)
        snprintf(buf, size, "%.0fs", s);
    else if (s < 3600)
        snprintf(buf, size, "%dm%02ds", (int)(s / 60), (int)fmod(s, 60));
    else
        snprintf(buf, size, "%dh%02dm", (int)(s / 3600), (int)fmod(s / 60, 60));
}

void train_progress_step(train_progress *p, int64_t step, double loss)
{
    if (p->quiet)
        return;
    p->loss_avg += loss, p->loss_n++;
    int64_t done = step + 1;
    double now = train_now(), el = now - p->t0;
    int last = done == p->total;
    double rate = el > 0 ? (double)(done - p->first) / el : 0;
    char eta[32];
    format_eta(eta, sizeof eta, rate > 0 ? (double)(p->total - done) / rate : NAN);
    if (p->tty) {
        if (!last && now - p->last_draw < 0.125)
            return;
        p->last_draw = now;
        enum { W = 24 };
        char bar[W + 1];
        int fill = (int)((double)done / (double)p->total * W);
        for (int i = 0; i < W; i++)
            bar[i] = i < fill ? '=' : i == fill ? '>' : ' ';
        bar[W] = 0;
        fprintf(stderr, "\r\033[Kstep %lld/%lld [%s] loss %.4g  %.0f steps/s  ETA %s", (long long)done,
                (long long)p->total, bar, p->loss_avg / (double)p->loss_n, rate, eta);
        p->loss_avg = 0, p->loss_n = 0;
        fflush(stderr);
    } else if (done % p->every == 0 || last) {
        fprintf(stderr, "step %lld/%lld loss %.4g  %.0f steps/s  ETA %s\n", (long long)done, (long long)p->total,
                p->loss_avg / (double)p->loss_n, rate, eta);
        p->loss_avg = 0, p->loss_n = 0;
    }
}

void train_progress_end(train_progress *p)
{
    if (!p->quiet && p->tty) {
        fputs("\r\033[K", stderr);
        fflush(stderr);
    }
}

/* ---------------------------------------------------------------- loss log */

int train_log_add(train_log *l, int64_t step, double loss, double metric)
{
    if (l->n == l->cap) {
        int64_t cap = l->cap ? 2 * l->cap : 256;
        int64_t *s = realloc(l->step, (size_t)cap * sizeof *s);
        if (s)
            l->step = s;
        double *a = realloc(l->loss, (size_t)cap * sizeof *a);
        if (a)
            l->loss = a;
        double *b = realloc(l->metric, (size_t)cap * sizeof *b);
        if (b)
            l->metric = b;
        if (!s || !a || !b)
            return cli_error("out of memory for the loss log");
        l->cap = cap;
    }
    l->step[l->n] = step, l->loss[l->n] = loss, l->metric[l->n] = metric;
    l->n++;
    return CLI_OK;
}

void train_log_free(train_log *l)
{
    free(l->step), free(l->loss), free(l->metric);
    memset(l, 0, sizeof *l);
}

int train_log_write(const train_log *l, const char *path, const char *metric_name)
{
    size_t cap = 64 + (size_t)l->n * 80, len = 0;
    char *buf = malloc(cap);
    if (!buf)
        return cli_error("%s: out of memory", path);
    len += (size_t)snprintf(buf, cap, "step,train_loss,%s\n", metric_name);
    for (int64_t i = 0; i < l->n; i++) {
        char m[40] = "";
        if (isfinite(l->metric[i]))
            snprintf(m, sizeof m, "%.9g", l->metric[i]);
        len += (size_t)snprintf(buf + len, cap - len, "%lld,%.9g,%s\n", (long long)l->step[i], l->loss[i], m);
    }
    int rc = train_write_atomic(path, buf, len);
    free(buf);
    return rc;
}

/* ------------------------------------------------------------------ report */

int train_write_atomic(const char *path, const void *bytes, size_t size)
{
    attn_bytes part = {bytes, size};
    if (attn_file_write_atomic(path, &part, 1) != ATTN_OK)
        return cli_error("%s", attn_errmsg());
    return CLI_OK;
}

int train_report_write(const char *path, const char *task, const char *metric, double value,
                       const train_baseline *baselines, int n_baselines, int64_t steps, double seconds,
                       uint64_t seed)
{
    json_t *root = json_object(), *bl = json_object();
    if (!root || !bl) {
        json_decref(root), json_decref(bl);
        return cli_error("%s: out of memory", path);
    }
    int bad = 0;
    bad |= json_object_set_new(root, "task", json_string(task));
    bad |= json_object_set_new(root, "metric", json_string(metric));
    bad |= json_object_set_new(root, "value", json_real(value));
    for (int i = 0; i < n_baselines; i++)
        bad |= json_object_set_new(bl, baselines[i].name, json_real(baselines[i].value));
    bad |= json_object_set_new(root, "baselines", bl);
    bad |= json_object_set_new(root, "steps", json_integer((json_int_t)steps));
    bad |= json_object_set_new(root, "seconds", json_real(seconds));
    bad |= json_object_set_new(root, "seed", json_integer((json_int_t)seed));
    char *text = bad ? NULL : json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(9));
    json_decref(root);
    if (!text)
        return cli_error("%s: cannot build the JSON report (a value not finite?)", path);
    size_t len = strlen(text);
    char *withnl = malloc(len + 2);
    int rc;
    if (!withnl) {
        rc = cli_error("%s: out of memory", path);
    } else {
        memcpy(withnl, text, len);
        withnl[len] = '\n';
        rc = train_write_atomic(path, withnl, len + 1);
    }
    free(withnl);
    free(text);
    return rc;
}
