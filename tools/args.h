/*
 * args.h - what the tool's commands share besides cli.h: error lines, option
 * values, and reading input matrices (.npy or CSV).
 *
 * Exit statuses: 0 ok, 1 runtime error (a file, the data, the library),
 * 2 usage error (the command line itself).  Every error is one line on stderr
 * starting "attn: error:".
 */
#ifndef ATTN_ARGS_H
#define ATTN_ARGS_H

#include "attn.h"

#include <stdint.h>

enum { CLI_OK = 0, CLI_ERROR = 1, CLI_USAGE = 2 };

/* Print "attn: error: <message>" on stderr, one line.  Returns CLI_ERROR. */
int cli_error(const char *fmt, ...)
#ifdef __GNUC__
    __attribute__((format(printf, 1, 2)))
#endif
    ;

/* Print "attn: error: <message> (see 'attn CMD --help')" on stderr, one
 * line; cmd "" for the tool itself.  Returns CLI_USAGE. */
int cli_usage(const char *cmd, const char *fmt, ...)
#ifdef __GNUC__
    __attribute__((format(printf, 2, 3)))
#endif
    ;

/* Report what getopt_long returned for an unknown option or a missing
 * argument ('?' or ':'), using optopt / optind.  Returns CLI_USAGE. */
int cli_bad_option(const char *cmd, int c, char **argv);

/* The one operand (the word that is not an option) getopt left at
 * argv[optind], into *out; a usage error naming `what` ("weights file") when
 * there is none or more than one.  CLI_OK or CLI_USAGE. */
int cli_one_operand(const char *cmd, int argc, char **argv, const char *what, const char **out);

/* Option values.  Each parses the whole string, prints a usage error naming
 * `opt` on failure and returns CLI_USAGE; CLI_OK on success. */
int cli_parse_double(const char *cmd, const char *opt, const char *s, double *out);
int cli_parse_int64(const char *cmd, const char *opt, const char *s, int64_t *out);
/* "top-left", "bottom-right" or "none". */
int cli_parse_causal(const char *cmd, const char *opt, const char *s, attn_causal *out);
/* "L,R", two integers >= -1 (-1 = unbounded). */
int cli_parse_window(const char *cmd, const char *opt, const char *s, int64_t *left, int64_t *right);
/* attn_score_parse, with a usage error naming the choices. */
int cli_parse_score(const char *cmd, const char *opt, const char *s, attn_score *out);

/* Read the tensor in `path`: a .npy file (attn_npy_load), or otherwise a CSV
 * matrix (cli_csv_load, f64, (rows, cols)); files that start with the .npy
 * magic are read as .npy whatever their name.  `what` names the argument in
 * messages ("--q: x.npy: truncated ..."); NULL when the file is the command's
 * operand (the message starts with the path).  On success *out is owned by
 * the caller (attn_tensor_free).  On failure prints the error and returns
 * CLI_ERROR, *out absent. */
int cli_load_tensor(const char *what, const char *path, attn_tensor *out);

/* Value of element (i0..) of a tensor of rank `rank` (f32, f64 or bool as
 * 0/1), for printing.  idx has t->rank entries. */
double cli_tensor_get(const attn_tensor *t, const int64_t *idx);

/* Format a shape as "(2, 4, 3)" into buf (at least 96 bytes). */
const char *cli_shape_str(const attn_tensor *t, char *buf, size_t size);

#endif
