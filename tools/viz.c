/*
 * viz.c - `attn viz`: heatmaps of attention weights, and `attn viz-loss`:
 * loss curves, as PNG or SVG (drawing in draw.c).
 *
 *   attn viz W.npy [--rows a,b,c] [--cols x,y,z] -o heat.png [options]
 *   attn viz-loss LOSSES.csv -o curve.svg [options]
 *
 * Parsing, then the inputs, then one drawing call.  A failed command leaves
 * no picture (draw.c writes atomically).
 */
#define _POSIX_C_SOURCE 200809L

#include "args.h"
#include "cli.h"
#include "csv.h"
#include "draw.h"

#include <errno.h>
#include <float.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char viz_usage_text[] =
    "usage: attn viz W.npy -o PICTURE.png|PICTURE.svg [options]\n"
    "\n"
    "Draw attention weights as a heatmap: one row per query, one column per key, colour = weight.\n"
    "W is a .npy file (or a CSV matrix) of shape (Lq, Lk), (H, Lq, Lk) or (B, H, Lq, Lk), such as\n"
    "the --weights output of 'attn run'.  With several heads the picture is a grid: one heatmap per\n"
    "head plus their average, all on one colour scale.\n"
    "\n"
    "Options:\n"
    "  -o, --output FILE     the picture; the format follows the name: .png or .svg (required).\n"
    "                        Written atomically: a failure leaves no file\n"
    "      --rows a,b,c      labels of the Lq rows (queries), comma-separated (default 0..Lq-1)\n"
    "      --cols x,y,z      labels of the Lk columns (keys), comma-separated (default 0..Lk-1)\n"
    "      --rows-file FILE  row labels from a UTF-8 text file, one per line (for labels with commas)\n"
    "      --cols-file FILE  column labels, likewise\n"
    "      --title TEXT      a title over the picture\n"
    "      --head N          draw head N only (0-based)\n"
    "      --average         draw only the average over the heads\n"
    "      --batch N         the batch entry to draw when B > 1 (required then)\n"
    "      --values          print each weight in its cell (matrices up to 40 x 40)\n"
    "      --range LO,HI     the colour scale (default [0, 1] when every weight lies in it, else the\n"
    "                        data's minimum and maximum)\n"
    "      --width PX        scale the picture to this width in pixels (default: from the content)\n"
    "  -h, --help            this help\n"
    "\n"
    "Labels may be in any script (a CJK font such as fonts-wqy-microhei is needed for Chinese).\n"
    "Exit status: 0 ok, 1 error (the weights file, writing the picture), 2 usage error (options,\n"
    "including a label count that does not match W's rows or columns).\n"
    "example: attn run -q q.npy -k k.npy -v v.npy -o out.npy --weights w.npy\n"
    "         attn viz w.npy --rows I,saw,her --cols I,saw,her -o w.png --values\n";

static const char loss_usage_text[] =
    "usage: attn viz-loss LOSSES.csv -o PICTURE.png|PICTURE.svg [options]\n"
    "\n"
    "Draw loss curves.  LOSSES.csv has a header row naming the columns, the first being the step\n"
    "and each other a curve, then one row per step:\n"
    "    step,train,test\n"
    "    0,2.31,2.35\n"
    "    100,1.20,\n"
    "An empty cell (or nan) is a missing value: that curve skips the step.  Lines starting with '#'\n"
    "and blank lines are ignored.\n"
    "\n"
    "Options:\n"
    "  -o, --output FILE     the picture; the format follows the name: .png or .svg (required).\n"
    "                        Written atomically: a failure leaves no file\n"
    "      --log             logarithmic loss axis (values <= 0 are skipped)\n"
    "      --title TEXT      a title over the chart\n"
    "      --xlabel TEXT     the x axis title (default: the first column's name)\n"
    "      --ylabel TEXT     the y axis title (default: loss)\n"
    "      --width PX        scale the picture to this width in pixels (default: from the content)\n"
    "  -h, --help            this help\n"
    "\n"
    "Exit status: 0 ok, 1 error (the CSV file, writing the picture), 2 usage error.\n"
    "example: attn viz-loss losses.csv -o loss.png --log\n";

enum { HELP_SHOWN = -1, VALUES_MAX = 40, WIDTH_MIN = 16, WIDTH_MAX = 16384 };

/* ------------------------------------------------------------------------
 * Text files and labels
 * ------------------------------------------------------------------------ */

/* Labels: pointers into one owned buffer. */
typedef struct labels {
    char *buf;
    char **items;
    int64_t n;
} labels;

static void labels_free(labels *l)
{
    free(l->buf);
    free(l->items);
    memset(l, 0, sizeof *l);
}

/* Split buf (owned by l afterwards) at every `sep`.  0 on success. */
static int labels_split(labels *l, char *buf, char sep)
{
    int64_t n = 1;
    for (const char *p = buf; *p; p++)
        n += *p == sep;
    l->buf = buf;
    l->items = malloc((size_t)n * sizeof *l->items);
    if (!l->items)
        return -1;
    l->n = 0;
    char *start = buf;
    for (char *p = buf;; p++)
        if (*p == sep || *p == 0) {
            int end = *p == 0;
            *p = 0;
            l->items[l->n++] = start;
            start = p + 1;
            if (end)
                break;
        }
    return 0;
}

/* --rows a,b,c */
static int labels_from_list(const char *opt, const char *list, labels *l)
{
    char *copy = strdup(list);
    if (!copy || labels_split(l, copy, ',') != 0) {
        free(copy);
        return cli_error("out of memory");
    }
    if (!draw_utf8_valid(list))
        return cli_usage("viz", "%s is not valid UTF-8", opt);
    return CLI_OK;
}

/* --rows-file FILE: one label per line; a final newline, '\r' before '\n'
 * and a UTF-8 byte order mark are dropped. */
static int labels_from_file(const char *opt, const char *path, labels *l)
{
    size_t size;
    char *buf = cli_read_file(path, &size);
    if (!buf)
        return cli_error("%s %s: cannot read: %s", opt, path, strerror(errno));
    if (size >= 3 && memcmp(buf, "\xef\xbb\xbf", 3) == 0) {
        memmove(buf, buf + 3, size - 2);
        size -= 3;
    }
    if (size > 0 && buf[size - 1] == '\n')
        buf[--size] = 0;
    if (strlen(buf) != size) {
        free(buf);
        return cli_error("%s %s: the file holds a NUL byte; expected UTF-8 text", opt, path);
    }
    if (!draw_utf8_valid(buf)) {
        free(buf);
        return cli_error("%s %s: not valid UTF-8 text", opt, path);
    }
    if (labels_split(l, buf, '\n') != 0)
        return cli_error("out of memory");
    for (int64_t i = 0; i < l->n; i++) {
        size_t len = strlen(l->items[i]);
        if (len > 0 && l->items[i][len - 1] == '\r')
            l->items[i][len - 1] = 0;
    }
    return CLI_OK;
}

static int parse_width(const char *cmd, const char *s, int *width)
{
    int64_t w;
    int rc = cli_parse_int64(cmd, "--width", s, &w);
    if (rc != CLI_OK)
        return rc;
    if (w < WIDTH_MIN || w > WIDTH_MAX)
        return cli_usage(cmd, "--width %lld is out of range; use %d to %d pixels", (long long)w, WIDTH_MIN,
                         WIDTH_MAX);
    *width = (int)w;
    return CLI_OK;
}

static int check_output(const char *cmd, const char *out)
{
    if (!out)
        return cli_usage(cmd, "no output picture given; use -o FILE.png or -o FILE.svg");
    draw_format fmt;
    char err[512];
    if (draw_format_of(out, &fmt, err, sizeof err) != ATTN_OK)
        return cli_usage(cmd, "-o %s", err);
    return CLI_OK;
}

/* ------------------------------------------------------------------------
 * attn viz
 * ------------------------------------------------------------------------ */

typedef struct viz_args {
    const char *input, *output, *title;
    const char *rows, *cols, *rows_file, *cols_file;
    int64_t head, batch; /* -1 = not given */
    int average, values, width;
    double vmin, vmax;
} viz_args;

static int viz_parse(int argc, char **argv, viz_args *a)
{
    enum { O_ROWS = 256, O_COLS, O_ROWS_FILE, O_COLS_FILE, O_TITLE, O_HEAD, O_AVERAGE, O_BATCH, O_VALUES, O_RANGE,
           O_WIDTH };
    static const struct option longopts[] = {
        {"output", required_argument, NULL, 'o'},       {"rows", required_argument, NULL, O_ROWS},
        {"cols", required_argument, NULL, O_COLS},      {"rows-file", required_argument, NULL, O_ROWS_FILE},
        {"cols-file", required_argument, NULL, O_COLS_FILE}, {"title", required_argument, NULL, O_TITLE},
        {"head", required_argument, NULL, O_HEAD},      {"average", no_argument, NULL, O_AVERAGE},
        {"batch", required_argument, NULL, O_BATCH},    {"values", no_argument, NULL, O_VALUES},
        {"range", required_argument, NULL, O_RANGE},    {"width", required_argument, NULL, O_WIDTH},
        {"help", no_argument, NULL, 'h'},               {NULL, 0, NULL, 0},
    };
    memset(a, 0, sizeof *a);
    a->head = a->batch = -1;
    optind = 0; /* reset getopt: the tool may call several commands */
    opterr = 0;
    int c, rc = CLI_OK;
    while (rc == CLI_OK && (c = getopt_long(argc, argv, ":o:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'o':
            a->output = optarg;
            break;
        case O_ROWS:
            a->rows = optarg;
            break;
        case O_COLS:
            a->cols = optarg;
            break;
        case O_ROWS_FILE:
            a->rows_file = optarg;
            break;
        case O_COLS_FILE:
            a->cols_file = optarg;
            break;
        case O_TITLE:
            a->title = optarg;
            break;
        case O_HEAD:
            rc = cli_parse_int64("viz", "--head", optarg, &a->head);
            if (rc == CLI_OK && a->head < 0)
                rc = cli_usage("viz", "--head %s is negative; heads count from 0", optarg);
            break;
        case O_AVERAGE:
            a->average = 1;
            break;
        case O_BATCH:
            rc = cli_parse_int64("viz", "--batch", optarg, &a->batch);
            if (rc == CLI_OK && a->batch < 0)
                rc = cli_usage("viz", "--batch %s is negative; batch entries count from 0", optarg);
            break;
        case O_VALUES:
            a->values = 1;
            break;
        case O_RANGE: {
            char *end;
            errno = 0;
            a->vmin = strtod(optarg, &end);
            int good = end != optarg && *end == ',' && errno == 0;
            if (good) {
                const char *hi = end + 1;
                a->vmax = strtod(hi, &end);
                good = end != hi && *end == 0 && errno == 0;
            }
            if (!good || !isfinite(a->vmin) || !isfinite(a->vmax) || !(a->vmin < a->vmax))
                rc = cli_usage("viz", "--range '%s' must be LO,HI with finite LO < HI", optarg);
            break;
        }
        case O_WIDTH:
            rc = parse_width("viz", optarg, &a->width);
            break;
        case 'h':
            fputs(viz_usage_text, stdout);
            return HELP_SHOWN;
        default:
            return cli_bad_option("viz", c, argv);
        }
    }
    if (rc != CLI_OK)
        return rc;
    if ((rc = cli_one_operand("viz", argc, argv, "weights file", &a->input)) != CLI_OK)
        return rc;
    if (a->rows && a->rows_file)
        return cli_usage("viz", "--rows and --rows-file both given; choose one");
    if (a->cols && a->cols_file)
        return cli_usage("viz", "--cols and --cols-file both given; choose one");
    if (a->head >= 0 && a->average)
        return cli_usage("viz", "--head and --average both given; choose one");
    if (a->title && !draw_utf8_valid(a->title))
        return cli_usage("viz", "--title is not valid UTF-8");
    return check_output("viz", a->output);
}

/* Check a label list against the matrix's size. */
static int check_count(const char *opt, const labels *l, int64_t want, const char *what, const char *path)
{
    if (l->items && l->n != want)
        return cli_usage("viz", "%s has %lld label%s but %s has %lld %s", opt, (long long)l->n,
                         l->n == 1 ? "" : "s", path, (long long)want, what);
    return CLI_OK;
}

int attn_cmd_viz(int argc, char **argv)
{
    viz_args a;
    int rc = viz_parse(argc, argv, &a);
    if (rc == HELP_SHOWN)
        return CLI_OK;
    if (rc != CLI_OK)
        return rc;

    labels rows = {0}, cols = {0};
    attn_tensor w = {0};
    double *vals = NULL;
    draw_heatmap *maps = NULL;
    char (*titles)[48] = NULL;

    if (a.rows)
        rc = labels_from_list("--rows", a.rows, &rows);
    else if (a.rows_file)
        rc = labels_from_file("--rows-file", a.rows_file, &rows);
    if (rc == CLI_OK && a.cols)
        rc = labels_from_list("--cols", a.cols, &cols);
    else if (rc == CLI_OK && a.cols_file)
        rc = labels_from_file("--cols-file", a.cols_file, &cols);
    if (rc == CLI_OK)
        rc = cli_load_tensor(NULL, a.input, &w); /* errors name the file first */
    if (rc != CLI_OK)
        goto done;

    /* (B, H, Lq, Lk) from the right */
    char shp[96];
    if (w.rank < 2) {
        rc = cli_error("%s has shape %s; expected (Lq, Lk), (H, Lq, Lk) or (B, H, Lq, Lk)", a.input,
                       cli_shape_str(&w, shp, sizeof shp));
        goto done;
    }
    int64_t B = w.rank == 4 ? w.shape[0] : 1, H = w.rank >= 3 ? w.shape[w.rank - 3] : 1;
    int64_t Lq = w.shape[w.rank - 2], Lk = w.shape[w.rank - 1];
    if (Lq < 1 || Lk < 1 || H < 1 || B < 1) {
        rc = cli_error("%s has shape %s; there is nothing to draw", a.input, cli_shape_str(&w, shp, sizeof shp));
        goto done;
    }
    int64_t b = a.batch >= 0 ? a.batch : 0;
    if (B > 1 && a.batch < 0) {
        rc = cli_usage("viz", "%s has shape %s with a batch of %lld; choose an entry with --batch N (0..%lld)",
                       a.input, cli_shape_str(&w, shp, sizeof shp), (long long)B, (long long)(B - 1));
        goto done;
    }
    if (b >= B) {
        rc = cli_usage("viz", "--batch %lld is out of range: %s has a batch of %lld", (long long)b, a.input,
                       (long long)B);
        goto done;
    }
    if (a.head >= H) {
        rc = cli_usage("viz", "--head %lld is out of range: %s has %lld head%s (0..%lld)", (long long)a.head,
                       a.input, (long long)H, H == 1 ? "" : "s", (long long)(H - 1));
        goto done;
    }
    if ((rc = check_count(a.rows ? "--rows" : "--rows-file", &rows, Lq, "rows (queries)", a.input)) != CLI_OK ||
        (rc = check_count(a.cols ? "--cols" : "--cols-file", &cols, Lk, "columns (keys)", a.input)) != CLI_OK)
        goto done;
    if (a.values && (Lq > VALUES_MAX || Lk > VALUES_MAX)) {
        rc = cli_usage("viz", "--values draws matrices up to %d x %d; %s is %lld x %lld", VALUES_MAX, VALUES_MAX,
                       a.input, (long long)Lq, (long long)Lk);
        goto done;
    }

    /* heads H, then the average in slot H */
    int64_t cell_count = Lq * Lk;
    if (H + 1 > (int64_t)(SIZE_MAX / sizeof(double)) / cell_count) {
        rc = cli_error("%s is too large to draw", a.input);
        goto done;
    }
    vals = malloc((size_t)((H + 1) * cell_count) * sizeof *vals);
    maps = calloc((size_t)H + 1, sizeof *maps);
    titles = calloc((size_t)H + 1, sizeof *titles);
    if (!vals || !maps || !titles) {
        rc = cli_error("out of memory for %s", a.input);
        goto done;
    }
    double *avg = vals + H * cell_count;
    for (int64_t i = 0; i < cell_count; i++)
        avg[i] = 0;
    for (int64_t h = 0; h < H; h++)
        for (int64_t i = 0; i < Lq; i++)
            for (int64_t j = 0; j < Lk; j++) {
                int64_t full[4] = {b, h, i, j};
                double v = cli_tensor_get(&w, full + (4 - w.rank));
                vals[h * cell_count + i * Lk + j] = v;
                avg[i * Lk + j] += v / (double)H;
            }
    /* The mean of finite values is finite, but when they are all near DBL_MAX
     * the rounding of the sum of v / H can overflow: clamp that back.  A cell
     * holding inf or NaN keeps the average it has (inf, -inf or NaN). */
    for (int64_t i = 0; i < cell_count; i++) {
        int finite = 1;
        for (int64_t h = 0; h < H; h++)
            finite = finite && isfinite(vals[h * cell_count + i]);
        if (finite && isinf(avg[i]))
            avg[i] = copysign(DBL_MAX, avg[i]);
    }
    for (int64_t h = 0; h <= H; h++) {
        maps[h].values = vals + h * cell_count;
        maps[h].rows = Lq;
        maps[h].cols = Lk;
        maps[h].row_labels = (const char *const *)rows.items;
        maps[h].col_labels = (const char *const *)cols.items;
        if (h < H)
            snprintf(titles[h], sizeof titles[h], "head %lld", (long long)h);
        else
            snprintf(titles[h], sizeof titles[h], "average of %lld heads", (long long)H);
        maps[h].title = titles[h];
    }
    const draw_heatmap *first = maps;
    int count;
    if (H == 1) {
        count = 1;
        maps[0].title = NULL;
    } else if (a.head >= 0) {
        first = &maps[a.head];
        count = 1;
    } else if (a.average) {
        first = &maps[H];
        count = 1;
    } else {
        count = (int)(H + 1);
        if ((int64_t)count != H + 1 || H > 256) {
            rc = cli_usage("viz", "%s has %lld heads; a grid draws up to 256: choose --head N or --average",
                           a.input, (long long)H);
            goto done;
        }
    }
    draw_heatmap_style style = {0};
    style.title = a.title;
    style.show_values = a.values;
    style.width = a.width;
    style.vmin = a.vmin;
    style.vmax = a.vmax;
    int pw, ph;
    char err[1024];
    if (draw_heatmaps(a.output, first, count, &style, &pw, &ph, err, sizeof err) != ATTN_OK) {
        rc = cli_error("%s", err);
        goto done;
    }
    printf("wrote %s (%d x %d pixels)\n", a.output, pw, ph);
    rc = CLI_OK;

done:
    draw_release();
    free(titles);
    free(maps);
    free(vals);
    attn_tensor_free(&w);
    labels_free(&rows);
    labels_free(&cols);
    return rc;
}

/* ------------------------------------------------------------------------
 * attn viz-loss
 * ------------------------------------------------------------------------ */

typedef struct loss_args {
    const char *input, *output, *title, *xlabel, *ylabel;
    int log_y, width;
} loss_args;

static int loss_parse(int argc, char **argv, loss_args *a)
{
    enum { O_LOG = 256, O_TITLE, O_XLABEL, O_YLABEL, O_WIDTH };
    static const struct option longopts[] = {
        {"output", required_argument, NULL, 'o'},   {"log", no_argument, NULL, O_LOG},
        {"title", required_argument, NULL, O_TITLE}, {"xlabel", required_argument, NULL, O_XLABEL},
        {"ylabel", required_argument, NULL, O_YLABEL}, {"width", required_argument, NULL, O_WIDTH},
        {"help", no_argument, NULL, 'h'},           {NULL, 0, NULL, 0},
    };
    memset(a, 0, sizeof *a);
    optind = 0;
    opterr = 0;
    int c, rc = CLI_OK;
    while (rc == CLI_OK && (c = getopt_long(argc, argv, ":o:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'o':
            a->output = optarg;
            break;
        case O_LOG:
            a->log_y = 1;
            break;
        case O_TITLE:
            a->title = optarg;
            break;
        case O_XLABEL:
            a->xlabel = optarg;
            break;
        case O_YLABEL:
            a->ylabel = optarg;
            break;
        case O_WIDTH:
            rc = parse_width("viz-loss", optarg, &a->width);
            break;
        case 'h':
            fputs(loss_usage_text, stdout);
            return HELP_SHOWN;
        default:
            return cli_bad_option("viz-loss", c, argv);
        }
    }
    if (rc != CLI_OK)
        return rc;
    if ((rc = cli_one_operand("viz-loss", argc, argv, "CSV file", &a->input)) != CLI_OK)
        return rc;
    const char *texts[3] = {a->title, a->xlabel, a->ylabel};
    static const char *const names[3] = {"--title", "--xlabel", "--ylabel"};
    for (int i = 0; i < 3; i++)
        if (texts[i] && !draw_utf8_valid(texts[i]))
            return cli_usage("viz-loss", "%s is not valid UTF-8", names[i]);
    return check_output("viz-loss", a->output);
}

/* Split a CSV line in place at commas into at most max fields, trimming
 * spaces and one pair of surrounding double quotes.  Returns the count
 * (max + 1 when there are more). */
static int csv_fields(char *line, char **fields, int max)
{
    int n = 0;
    char *p = line;
    for (;;) {
        char *end = strchr(p, ',');
        if (end)
            *end = 0;
        while (*p == ' ' || *p == '\t')
            p++;
        size_t len = strlen(p);
        while (len > 0 && (p[len - 1] == ' ' || p[len - 1] == '\t'))
            p[--len] = 0;
        if (len >= 2 && p[0] == '"' && p[len - 1] == '"') {
            p[len - 1] = 0;
            p++;
        }
        if (n < max)
            fields[n] = p;
        n++;
        if (!end)
            break;
        p = end + 1;
    }
    return n > max ? max + 1 : n;
}

static int parse_cell(const char *s, double *v)
{
    if (*s == 0 || strcmp(s, "nan") == 0 || strcmp(s, "NaN") == 0 || strcmp(s, "NAN") == 0) {
        *v = NAN;
        return 0;
    }
    char *end;
    errno = 0;
    *v = strtod(s, &end);
    return end != s && *end == 0 && errno != ERANGE ? 0 : -1;
}

enum { MAX_SERIES = 64 };

int attn_cmd_viz_loss(int argc, char **argv)
{
    loss_args a;
    int rc = loss_parse(argc, argv, &a);
    if (rc == HELP_SHOWN)
        return CLI_OK;
    if (rc != CLI_OK)
        return rc;

    size_t size;
    char *text = cli_read_file(a.input, &size);
    if (!text)
        return cli_error("%s: cannot read: %s", a.input, strerror(errno));
    double *cols[MAX_SERIES + 1] = {0};
    char *header[MAX_SERIES + 1];
    draw_series series[MAX_SERIES];
    int ncols = 0;
    int64_t nrows = 0, cap = 0;
    rc = CLI_OK;
    if (strlen(text) != size || !draw_utf8_valid(text)) {
        rc = cli_error("%s: not UTF-8 text", a.input);
        goto done;
    }
    long line_no = 0;
    for (char *line = text; line && rc == CLI_OK;) {
        char *next = strchr(line, '\n');
        if (next)
            *next++ = 0;
        line_no++;
        size_t len = strlen(line);
        if (len > 0 && line[len - 1] == '\r')
            line[--len] = 0;
        const char *q = line + strspn(line, " \t");
        if (*q == 0 || *q == '#') {
            line = next;
            continue;
        }
        char *f[MAX_SERIES + 2];
        int n = csv_fields(line, f, MAX_SERIES + 1);
        if (ncols == 0) { /* the header */
            if (n > MAX_SERIES + 1) {
                rc = cli_error("%s line %ld: more than %d curves", a.input, line_no, MAX_SERIES);
                break;
            }
            if (n < 2) {
                rc = cli_error("%s line %ld: the header names %d column; expected step,name1,name2...", a.input,
                               line_no, n);
                break;
            }
            double dummy;
            if (parse_cell(f[0], &dummy) == 0 && *f[0]) {
                rc = cli_error("%s line %ld: the first line must be a header (step,name1,...), found numbers",
                               a.input, line_no);
                break;
            }
            for (int i = 0; i < n; i++)
                header[i] = f[i];
            ncols = n;
        } else {
            if (n != ncols) {
                rc = cli_error("%s line %ld: %s%d field%s but the header has %d", a.input, line_no,
                               n > MAX_SERIES + 1 ? "more than " : "", n > MAX_SERIES + 1 ? n - 1 : n,
                               n == 1 ? "" : "s", ncols);
                break;
            }
            if (nrows == cap) {
                cap = cap ? 2 * cap : 256;
                for (int i = 0; i < ncols; i++) {
                    double *p = realloc(cols[i], (size_t)cap * sizeof *p);
                    if (!p) {
                        rc = cli_error("out of memory reading %s", a.input);
                        break;
                    }
                    cols[i] = p;
                }
                if (rc != CLI_OK)
                    break;
            }
            for (int i = 0; i < ncols; i++) {
                double v;
                if (parse_cell(f[i], &v) != 0) {
                    rc = cli_error("%s line %ld, column %d: '%s' is not a number", a.input, line_no, i + 1, f[i]);
                    break;
                }
                if (i == 0 && !isfinite(v)) {
                    rc = cli_error("%s line %ld: the step '%s' must be a finite number", a.input, line_no, f[i]);
                    break;
                }
                cols[i][nrows] = v;
            }
            nrows++;
        }
        line = next;
    }
    if (rc != CLI_OK)
        goto done;
    if (ncols == 0 || nrows == 0) {
        rc = cli_error("%s: no data: expected a header row (step,name1,...) and rows of numbers", a.input);
        goto done;
    }
    for (int s = 0; s + 1 < ncols; s++) {
        series[s].name = header[s + 1];
        series[s].x = cols[0];
        series[s].y = cols[s + 1];
        series[s].n = nrows;
    }
    draw_chart chart = {0};
    chart.series = series;
    chart.n = ncols - 1;
    chart.title = a.title;
    chart.xlabel = a.xlabel ? a.xlabel : (*header[0] ? header[0] : NULL);
    chart.ylabel = a.ylabel;
    chart.log_y = a.log_y;
    chart.width = a.width;
    int pw, ph;
    char err[1024];
    if (draw_line_chart(a.output, &chart, &pw, &ph, err, sizeof err) != ATTN_OK) {
        rc = cli_error("%s", err);
        goto done;
    }
    printf("wrote %s (%d x %d pixels)\n", a.output, pw, ph);

done:
    draw_release();
    for (int i = 0; i <= MAX_SERIES; i++)
        free(cols[i]);
    free(text);
    return rc;
}
