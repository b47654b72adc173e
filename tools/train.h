/*
 * train.h - what the `attn train` demos share: the common options (--seed,
 * --steps, --threads, --save, --resume, --report, --loss-csv), the progress
 * display, the loss log, the JSON report, and counter-based random numbers
 * for generating data (sample s of step t depends only on (seed, t, s), so a
 * resumed run draws exactly the data the uninterrupted run would have).
 */
#ifndef ATTN_TRAIN_H
#define ATTN_TRAIN_H

#include "attn.h"

#include <getopt.h>
#include <stdint.h>
#include <stdio.h>

/* ---- common options ------------------------------------------------------ */

typedef struct train_opts {
    uint64_t seed;
    int64_t steps;       /* total optimizer steps of the run (a resumed run stops there too) */
    int threads;         /* 0 = the library's default */
    const char *save;    /* checkpoint written at the end (and every --save-every steps) */
    const char *resume;  /* checkpoint to continue from */
    const char *report;  /* JSON report */
    const char *loss_csv;
    int64_t log_every;   /* plain progress lines every N steps (not a terminal) */
    int64_t eval_every;  /* test metric every N steps into the loss log (0: only at the end) */
    int64_t stop_at;     /* > 0: stop after this step as if interrupted (the schedule still spans --steps) */
    int quiet;
} train_opts;

/* Option codes >= TRAIN_OPT_BASE belong to train_parse_common; a command's
 * own long options use codes below it.  TRAIN_COMMON_LONGOPTS goes into its
 * struct option table. */
enum {
    TRAIN_OPT_BASE = 1000,
    TRAIN_OPT_SEED = TRAIN_OPT_BASE,
    TRAIN_OPT_STEPS,
    TRAIN_OPT_THREADS,
    TRAIN_OPT_SAVE,
    TRAIN_OPT_RESUME,
    TRAIN_OPT_REPORT,
    TRAIN_OPT_LOSS_CSV,
    TRAIN_OPT_LOG_EVERY,
    TRAIN_OPT_EVAL_EVERY,
    TRAIN_OPT_QUIET,
    TRAIN_OPT_STOP_AT
};
#define TRAIN_COMMON_LONGOPTS                                                                                     \
    {"seed", required_argument, NULL, TRAIN_OPT_SEED}, {"steps", required_argument, NULL, TRAIN_OPT_STEPS},       \
        {"threads", required_argument, NULL, TRAIN_OPT_THREADS}, {"save", required_argument, NULL, TRAIN_OPT_SAVE}, \
        {"resume", required_argument, NULL, TRAIN_OPT_RESUME}, {"report", required_argument, NULL, TRAIN_OPT_REPORT}, \
        {"loss-csv", required_argument, NULL, TRAIN_OPT_LOSS_CSV},                                                \
        {"log-every", required_argument, NULL, TRAIN_OPT_LOG_EVERY},                                              \
        {"eval-every", required_argument, NULL, TRAIN_OPT_EVAL_EVERY}, {"quiet", no_argument, NULL, TRAIN_OPT_QUIET},                \
        {"stop-at", required_argument, NULL, TRAIN_OPT_STOP_AT}

/* The help text of the common options (for a command's --help). */
extern const char train_common_help[];

/* Handle option code c (>= TRAIN_OPT_BASE) with argument arg.  Returns CLI_OK
 * or CLI_USAGE (message printed, naming cmd). */
int train_parse_common(const char *cmd, int c, const char *arg, train_opts *o);

/* The step this process stops after: --stop-at when given (and below
 * --steps), else --steps. */
int64_t train_end_step(const train_opts *o);

/* Apply --threads (attn_set_num_threads). */
void train_apply_threads(const train_opts *o);

/* ---- random numbers -------------------------------------------------------
 * rng_u64(seed, a, b): a 64-bit hash of (seed, a, b) (splitmix64 rounds);
 * rng_uniform: in [0, 1) with 53 bits; rng_normal: N(0, 1) by Box-Muller;
 * rng_below(n): in [0, n).  A stream is (seed, a) and b counts draws. */
uint64_t rng_u64(uint64_t seed, uint64_t a, uint64_t b);
double rng_uniform(uint64_t seed, uint64_t a, uint64_t b);
double rng_normal(uint64_t seed, uint64_t a, uint64_t b);
uint64_t rng_below(uint64_t seed, uint64_t a, uint64_t b, uint64_t n);

/* A stream: next draw = (seed, a, counter++). */
typedef struct rng_stream {
    uint64_t seed, a, counter;
} rng_stream;
static inline rng_stream rng_stream_at(uint64_t seed, uint64_t a)
{
    rng_stream s = {seed, a, 0};
    return s;
}
double rng_next_uniform(rng_stream *s);
double rng_next_normal(rng_stream *s);
uint64_t rng_next_below(rng_stream *s, uint64_t n);

/* ---- time and progress ---------------------------------------------------- */

double train_now(void); /* monotonic seconds */

/* On a terminal (isatty(stderr)): one line redrawn in place at most ~8 times
 * a second, "step 1200/5000 [=====>     ] loss 0.0123  850 steps/s  ETA 4s".
 * Otherwise a plain line every `every` steps and at the end.  Quiet: nothing. */
typedef struct train_progress {
    int64_t first, total; /* steps [first, total) are run in this process */
    int64_t every;
    int tty, quiet;
    double t0, last_draw;
    double loss_avg;      /* running mean of the loss since the last line */
    int64_t loss_n;
} train_progress;

void train_progress_start(train_progress *p, int64_t first, int64_t total, const train_opts *o);
/* After step `step` (0-based) with training loss `loss`. */
void train_progress_step(train_progress *p, int64_t step, double loss);
/* Clear the bar line (a terminal) so that results print on a clean line. */
void train_progress_end(train_progress *p);

/* ---- loss log: step, train_loss[, test_metric] ---------------------------- */

typedef struct train_log {
    int64_t n, cap;
    int64_t *step;
    double *loss;   /* mean training loss over the steps since the previous row */
    double *metric; /* NaN when not measured at that row */
} train_log;

int train_log_add(train_log *l, int64_t step, double loss, double metric); /* CLI_OK or CLI_ERROR (memory) */
void train_log_free(train_log *l);
/* Write "step,train_loss,<metric_name>" and the rows to path, atomically
 * (temp + rename).  CLI_OK or CLI_ERROR with the message printed. */
int train_log_write(const train_log *l, const char *path, const char *metric_name);

/* ---- the report ------------------------------------------------------------ */

typedef struct train_baseline {
    const char *name;
    double value;
} train_baseline;

/* Write {task, metric, value, baselines: {name: value}, steps, seconds, seed}
 * as JSON (jansson) to path atomically (temp + fsync + rename).  CLI_OK or
 * CLI_ERROR with the message printed; on failure no file and no temporary. */
int train_report_write(const char *path, const char *task, const char *metric, double value,
                       const train_baseline *baselines, int n_baselines, int64_t steps, double seconds,
                       uint64_t seed);

/* Write `size` bytes to path atomically: a temporary ".NAME.XXXXXX" beside it,
 * fsync, rename.  CLI_OK, or CLI_ERROR with the message printed (and nothing
 * left behind). */
int train_write_atomic(const char *path, const void *bytes, size_t size);

#endif
