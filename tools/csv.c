/*
 * csv.c - reading a matrix from a CSV file (see csv.h).
 */
#include "csv.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void set_err(char *err, size_t errsize, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errsize, fmt, ap);
    va_end(ap);
}

static attn_status csv_parse_text(char *text, size_t size, const char *path, attn_tensor *out, char *err,
                                  size_t errsize);

char *cli_read_file(const char *path, size_t *size)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    while (buf) {
        if (n + 1 >= cap) {
            char *bigger = cap <= SIZE_MAX / 2 ? realloc(buf, cap * 2) : NULL;
            if (!bigger) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = bigger;
            cap *= 2;
        }
        size_t got = fread(buf + n, 1, cap - n - 1, f);
        n += got;
        if (got == 0) {
            if (ferror(f)) {
                int e = errno ? errno : EIO;
                free(buf);
                fclose(f);
                errno = e;
                return NULL;
            }
            break;
        }
    }
    fclose(f);
    if (!buf) {
        errno = ENOMEM;
        return NULL;
    }
    buf[n] = 0;
    *size = n;
    return buf;
}

attn_status cli_csv_load(const char *path, attn_tensor *out, char *err, size_t errsize)
{
    memset(out, 0, sizeof *out);
    err[0] = 0;
    size_t size;
    char *text = cli_read_file(path, &size);
    if (!text) {
        if (errno == ENOMEM) {
            set_err(err, errsize, "%s: out of memory", path);
            return ATTN_ERR_NOMEM;
        }
        set_err(err, errsize, "cannot read %s: %s", path, strerror(errno));
        return ATTN_ERR_IO;
    }
    attn_status st = csv_parse_text(text, size, path, out, err, errsize);
    free(text);
    return st;
}

attn_status cli_csv_parse(const char *bytes, size_t size, const char *path, attn_tensor *out, char *err,
                          size_t errsize)
{
    memset(out, 0, sizeof *out);
    err[0] = 0;
    char *text = size < SIZE_MAX ? malloc(size + 1) : NULL;
    if (!text) {
        set_err(err, errsize, "%s: out of memory", path);
        return ATTN_ERR_NOMEM;
    }
    if (size)
        memcpy(text, bytes, size);
    text[size] = 0;
    attn_status st = csv_parse_text(text, size, path, out, err, errsize);
    free(text);
    return st;
}

/* The parser behind both: text is size bytes plus a NUL, and is cut up in
 * place.  The caller frees text; *out and err are as cli_csv_load says. */
static attn_status csv_parse_text(char *text, size_t size, const char *path, attn_tensor *out, char *err,
                                  size_t errsize)
{
    attn_status st = ATTN_OK;
    if (memchr(text, 0, size)) {
        set_err(err, errsize, "%s: not a CSV text file (it holds NUL bytes)", path);
        return ATTN_ERR_FORMAT;
    }

    double *vals = NULL;
    size_t nvals = 0, cap = 0;
    int64_t rows = 0, cols = 0;
    long first_row_line = 0;
    long lineno = 0;
    char *line = text;
    while (st == ATTN_OK && *line) {
        lineno++;
        char *eol = strchr(line, '\n');
        char *next = eol ? eol + 1 : line + strlen(line);
        if (eol)
            *eol = 0;
        char *hash = strchr(line, '#');
        if (hash)
            *hash = 0;
        char *p = line;
        while (isspace((unsigned char)*p))
            p++;
        if (*p == 0) { /* blank or comment-only line */
            line = next;
            continue;
        }
        int64_t col = 0;
        char *field = line;
        for (;;) {
            char *comma = strchr(field, ',');
            if (comma)
                *comma = 0;
            col++;
            char *s = field;
            while (isspace((unsigned char)*s))
                s++;
            char *e = s + strlen(s);
            while (e > s && isspace((unsigned char)e[-1]))
                *--e = 0;
            char *end;
            errno = 0;
            double x = strtod(s, &end);
            if (*s == 0) {
                set_err(err, errsize, "%s line %ld, column %lld: empty value", path, lineno, (long long)col);
                st = ATTN_ERR_FORMAT;
                break;
            }
            if (*end != 0) {
                set_err(err, errsize, "%s line %ld, column %lld: '%.40s' is not a number", path, lineno,
                        (long long)col, s);
                st = ATTN_ERR_FORMAT;
                break;
            }
            if (errno == ERANGE && (x == HUGE_VAL || x == -HUGE_VAL)) {
                set_err(err, errsize, "%s line %ld, column %lld: '%.40s' is out of range for a double", path, lineno,
                        (long long)col, s);
                st = ATTN_ERR_FORMAT;
                break;
            }
            if (nvals == cap) {
                size_t ncap = cap ? cap * 2 : 256;
                double *bigger = realloc(vals, ncap * sizeof *vals);
                if (!bigger) {
                    set_err(err, errsize, "%s: out of memory", path);
                    st = ATTN_ERR_NOMEM;
                    break;
                }
                vals = bigger;
                cap = ncap;
            }
            vals[nvals++] = x;
            if (!comma)
                break;
            field = comma + 1;
        }
        if (st != ATTN_OK)
            break;
        if (rows == 0) {
            cols = col;
            first_row_line = lineno;
        } else if (col != cols) {
            set_err(err, errsize, "%s line %ld, column %lld: the row has %lld value%s but the row on line %ld has %lld",
                    path, lineno, (long long)(col < cols ? col + 1 : cols + 1), (long long)col, col == 1 ? "" : "s",
                    first_row_line, (long long)cols);
            st = ATTN_ERR_FORMAT;
            break;
        }
        rows++;
        line = next;
    }
    if (st == ATTN_OK && rows == 0) {
        set_err(err, errsize, "%s: no numbers in the file", path);
        st = ATTN_ERR_FORMAT;
    }
    if (st == ATTN_OK) {
        int64_t shape[2] = {rows, cols};
        st = attn_tensor_alloc(out, ATTN_F64, 2, shape);
        if (st != ATTN_OK)
            set_err(err, errsize, "%s: %s", path, attn_errmsg());
        else
            memcpy(out->data, vals, nvals * sizeof *vals);
    }
    free(vals);
    return st;
}
