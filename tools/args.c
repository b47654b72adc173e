/*
 * args.c - error lines, option values and input files shared by the tool's
 * commands (see args.h).
 */
#include "args.h"
#include "csv.h"

#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int cli_error(const char *fmt, ...)
{
    va_list ap;
    fputs("attn: error: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return CLI_ERROR;
}

int cli_usage(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    fputs("attn: error: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, " (see 'attn %s%s--help')\n", cmd, *cmd ? " " : "");
    return CLI_USAGE;
}

int cli_bad_option(const char *cmd, int c, char **argv)
{
    /* getopt_long has just stepped past the offending word; inside a cluster
     * of short options ("-qx") optopt names the letter. */
    char word[64];
    snprintf(word, sizeof word, "%s", optind > 0 ? argv[optind - 1] : "?");
    if (strncmp(word, "--", 2) == 0)
        word[strcspn(word, "=")] = 0;
    else if (optopt > 0 && optopt < 128 && isalnum(optopt))
        snprintf(word, sizeof word, "-%c", optopt);
    if (c == ':')
        return cli_usage(cmd, "option %s needs a value", word);
    return cli_usage(cmd, "unknown option %s", word);
}

int cli_one_operand(const char *cmd, int argc, char **argv, const char *what, const char **out)
{
    if (optind >= argc)
        return cli_usage(cmd, "no %s given", what);
    if (optind + 1 < argc)
        return cli_usage(cmd, "one %s expected; found also '%s'", what, argv[optind + 1]);
    *out = argv[optind];
    return CLI_OK;
}

int cli_parse_double(const char *cmd, const char *opt, const char *s, double *out)
{
    char *end;
    errno = 0;
    double x = strtod(s, &end);
    if (*s == 0 || *end != 0 || errno == ERANGE || !isfinite(x))
        return cli_usage(cmd, "%s '%s' is not a finite number", opt, s);
    *out = x;
    return CLI_OK;
}

int cli_parse_int64(const char *cmd, const char *opt, const char *s, int64_t *out)
{
    char *end;
    errno = 0;
    intmax_t x = strtoimax(s, &end, 10);
    if (*s == 0 || *end != 0 || errno == ERANGE || x < INT64_MIN || x > INT64_MAX)
        return cli_usage(cmd, "%s '%s' is not an integer", opt, s);
    *out = (int64_t)x;
    return CLI_OK;
}

int cli_parse_causal(const char *cmd, const char *opt, const char *s, attn_causal *out)
{
    if (strcmp(s, "top-left") == 0)
        *out = ATTN_CAUSAL_TOP_LEFT;
    else if (strcmp(s, "bottom-right") == 0)
        *out = ATTN_CAUSAL_BOTTOM_RIGHT;
    else if (strcmp(s, "none") == 0)
        *out = ATTN_CAUSAL_NONE;
    else
        return cli_usage(cmd, "%s '%s': expected top-left, bottom-right or none", opt, s);
    return CLI_OK;
}

int cli_parse_window(const char *cmd, const char *opt, const char *s, int64_t *left, int64_t *right)
{
    const char *comma = strchr(s, ',');
    if (!comma)
        return cli_usage(cmd, "%s '%s': expected LEFT,RIGHT (two integers, -1 = unbounded)", opt, s);
    char first[64];
    size_t n = (size_t)(comma - s);
    if (n >= sizeof first)
        return cli_usage(cmd, "%s '%s': expected LEFT,RIGHT (two integers, -1 = unbounded)", opt, s);
    memcpy(first, s, n);
    first[n] = 0;
    char *end;
    errno = 0;
    long long l = strtoll(first, &end, 10);
    int bad = n == 0 || *end != 0 || errno == ERANGE;
    errno = 0;
    long long r = strtoll(comma + 1, &end, 10);
    bad = bad || comma[1] == 0 || *end != 0 || errno == ERANGE;
    if (bad)
        return cli_usage(cmd, "%s '%s': expected LEFT,RIGHT (two integers, -1 = unbounded)", opt, s);
    if (l < -1 || r < -1)
        return cli_usage(cmd, "%s '%s': sizes must be >= 0, or -1 for unbounded", opt, s);
    *left = l;
    *right = r;
    return CLI_OK;
}

int cli_parse_score(const char *cmd, const char *opt, const char *s, attn_score *out)
{
    if (attn_score_parse(s, out) != ATTN_OK)
        return cli_usage(cmd, "%s '%s': expected scaled_dot, dot, cosine, bilinear or additive", opt, s);
    return CLI_OK;
}

/* Whether the file starts with the .npy magic string. */
static int looks_like_npy(const char *path)
{
    static const char magic[6] = {'\x93', 'N', 'U', 'M', 'P', 'Y'};
    char head[6];
    FILE *f = fopen(path, "rb");
    if (!f)
        return 0;
    size_t n = fread(head, 1, sizeof head, f);
    fclose(f);
    return n == sizeof head && memcmp(head, magic, sizeof magic) == 0;
}

static int has_suffix(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

int cli_load_tensor(const char *what, const char *path, attn_tensor *out)
{
    memset(out, 0, sizeof *out);
    const char *sep = what ? ": " : "";
    if (!what)
        what = "";
    if (has_suffix(path, ".npy") || looks_like_npy(path)) {
        if (attn_npy_load(path, out) != ATTN_OK) {
            memset(out, 0, sizeof *out);
            if (strstr(attn_errmsg(), path)) /* the message names the file already */
                return cli_error("%s%s%s", what, sep, attn_errmsg());
            return cli_error("%s%s%s: %s", what, *what ? " " : "", path, attn_errmsg());
        }
        return CLI_OK;
    }
    char err[512];
    if (cli_csv_load(path, out, err, sizeof err) != ATTN_OK)
        return cli_error("%s%s%s", what, sep, err);
    return CLI_OK;
}

double cli_tensor_get(const attn_tensor *t, const int64_t *idx)
{
    int64_t off = 0;
    for (int d = 0; d < t->rank; d++)
        off += idx[d] * t->stride[d];
    switch (t->dtype) {
    case ATTN_F32:
        return ((const float *)t->data)[off];
    case ATTN_F64:
        return ((const double *)t->data)[off];
    case ATTN_BOOL:
        return ((const unsigned char *)t->data)[off] ? 1.0 : 0.0;
    case ATTN_F16: {
        float f;
        attn_f32_from_f16(&f, (const uint16_t *)t->data + off, 1);
        return f;
    }
    case ATTN_BF16: {
        float f;
        attn_f32_from_bf16(&f, (const uint16_t *)t->data + off, 1);
        return f;
    }
    }
    return NAN;
}

const char *cli_shape_str(const attn_tensor *t, char *buf, size_t size)
{
    size_t used = 0;
    used += (size_t)snprintf(buf, size, "(");
    for (int d = 0; d < t->rank && used < size; d++)
        used += (size_t)snprintf(buf + used, size - used, "%s%" PRId64, d ? ", " : "", t->shape[d]);
    if (used < size)
        snprintf(buf + used, size - used, ")");
    return buf;
}
