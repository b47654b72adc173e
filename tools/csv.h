/*
 * csv.h - reading a matrix from a CSV file, for the tool's inputs.
 */
#ifndef ATTN_CSV_H
#define ATTN_CSV_H

#include "attn.h"

#include <stddef.h>

/* Read a matrix written as rows of comma-separated numbers, one vector per
 * line.  '#' starts a comment that runs to the end of the line; blank lines
 * (and lines holding only a comment) are ignored; spaces around a number are
 * allowed.  Every row must hold the same number of values.
 * On success *out is a contiguous f64 (rows, cols) tensor allocated with
 * attn_tensor_alloc (free it with attn_tensor_free) and ATTN_OK is returned.
 * On failure *out is absent, err holds a message naming the file, the line
 * and the column ("x.csv line 3, column 2: 'abc' is not a number"), and the
 * status is ATTN_ERR_IO (cannot read), ATTN_ERR_FORMAT (bad content) or
 * ATTN_ERR_NOMEM. */
attn_status cli_csv_load(const char *path, attn_tensor *out, char *err, size_t errsize);

/* As cli_csv_load, from the size bytes at `bytes` (need not be NUL-terminated;
 * not modified); `path` names the text in messages.  Never ATTN_ERR_IO. */
attn_status cli_csv_parse(const char *bytes, size_t size, const char *path, attn_tensor *out, char *err,
                          size_t errsize);

/* Read the whole file at path into a NUL-terminated buffer (malloc'd, the
 * caller frees it); *size is its length without the NUL (the text may hold
 * NUL bytes of its own: compare strlen).  NULL on failure, errno saying why
 * (ENOMEM when memory ran out). */
char *cli_read_file(const char *path, size_t *size);

#endif
