/*
 * npy.c - the .npy reader and writer (NumPy format versions 1.0, 2.0, 3.0).
 *
 * The format: the magic "\x93NUMPY", a major and a minor version byte, the
 * header length (uint16 little-endian for 1.0, uint32 for 2.0 and 3.0), then
 * the header: a Python dict literal such as
 *     {'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }
 * padded with spaces and ending in '\n' (latin-1 for 1.0/2.0, utf-8 for 3.0;
 * only ASCII matters here), then the raw elements in C order.
 *
 * Everything read from a file is untrusted: the header is parsed by a small
 * hand-written parser of exactly the literal NumPy writes (keys in any order,
 * any whitespace, trailing commas), every size is checked for int64 overflow
 * and against the bytes actually present, and nothing is allocated from a
 * size the file claims before that claim is checked.
 */
#define _XOPEN_SOURCE 700 /* mkstemp, fsync, fchmod, fileno under -std=c11 */

#include "core/internal.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const unsigned char npy_magic[6] = {0x93, 'N', 'U', 'M', 'P', 'Y'};

/* The longest header this reader accepts.  A header of rank <= 4 is under 200
 * bytes; the cap keeps a corrupt 4-byte length from making attn_npy_load
 * allocate gigabytes before anything is known to be wrong. */
#define NPY_MAX_HEADER ((size_t)1 << 20)

/* NumPy's own limit on dimensions (NPY_MAXDIMS): shapes up to this rank are
 * parsed so that the message can name them, then refused if rank > 4. */
#define NPY_MAX_DIMS 64

/* Data starts at a multiple of this many bytes in files we write (NumPy's
 * ARRAY_ALIGN), so readers may map the file and use aligned loads. */
#define NPY_ALIGN 64

#define NPY_SUPPORTED "only little-endian f32 ('<f4'), f64 ('<f8'), f16 ('<f2') and bool ('|b1') are supported"

/* ------------------------------------------------------------------------
 * Byte order
 * ------------------------------------------------------------------------ */

/* .npy data here is little-endian; on a big-endian host every f32/f64 is
 * byte-swapped on the way in and out. */
static bool host_is_little_endian(void)
{
    const uint16_t one = 1;
    unsigned char b;
    memcpy(&b, &one, 1);
    return b == 1;
}

static void swap_bytes(unsigned char *p, size_t n)
{
    for (size_t i = 0; i < n / 2; i++) {
        unsigned char c = p[i];
        p[i] = p[n - 1 - i];
        p[n - 1 - i] = c;
    }
}

/* ------------------------------------------------------------------------
 * The header: a parsed description of one file
 * ------------------------------------------------------------------------ */

typedef struct npy_header {
    size_t data_off; /* where the elements start: preamble + header length */
    attn_dtype dtype;
    int rank;
    int64_t shape[ATTN_MAX_RANK];
    int64_t numel;
    int64_t need; /* data bytes the shape needs: numel * itemsize */
} npy_header;

/* Python's repr of a tuple of sizes: "()", "(5,)", "(3, 4)".  Truncated (with
 * "...") if buf is too small; always NUL-terminated. */
static void format_shape(char *buf, size_t cap, const int64_t *dims, int n)
{
    size_t len = 0; /* what snprintf would have written: >= cap means cut */
    int w = snprintf(buf, cap, "(");
    len += w > 0 ? (size_t)w : 0;
    for (int d = 0; d < n && len < cap; d++) {
        w = snprintf(buf + len, cap - len, d ? ", %lld" : "%lld", (long long)dims[d]);
        len += w > 0 ? (size_t)w : 0;
    }
    if (len < cap) {
        w = snprintf(buf + len, cap - len, n == 1 ? ",)" : ")");
        len += w > 0 ? (size_t)w : 0;
    }
    if (len >= cap && cap >= 4)
        memcpy(buf + cap - 4, "...", 4);
}

/* The fixed part before the header.  Checks the magic and version and reads
 * the header length; *hstart is where the header text begins.  `size` may
 * be less than the whole file (attn_npy_load reads the preamble alone): the
 * caller checks that the header itself is present.  ATTN_ERR_FORMAT naming
 * `name` on any problem. */
static attn_status npy_preamble(const unsigned char *b, size_t size, const char *name, size_t *hstart,
                                size_t *hlen)
{
    size_t m = size < sizeof npy_magic ? size : sizeof npy_magic;
    if (memcmp(b, npy_magic, m) != 0)
        return attn_fail(ATTN_ERR_FORMAT, "%s: not a .npy file: it does not start with the magic \"\\x93NUMPY\"",
                         name);
    if (size < 8)
        return attn_fail(ATTN_ERR_FORMAT, "%s: truncated: %zu bytes is too short for a .npy preamble", name, size);
    int major = b[6], minor = b[7];
    if ((major != 1 && major != 2 && major != 3) || minor != 0)
        return attn_fail(ATTN_ERR_FORMAT,
                         "%s: unknown .npy format version %d.%d; only versions 1.0, 2.0 and 3.0 are supported", name,
                         major, minor);
    size_t lenbytes = major == 1 ? 2 : 4;
    if (size < 8 + lenbytes)
        return attn_fail(ATTN_ERR_FORMAT, "%s: truncated: %zu bytes is too short for a version %d.0 preamble", name,
                         size, major);
    size_t len = 0;
    for (size_t i = 0; i < lenbytes; i++)
        len |= (size_t)b[8 + i] << (8 * i);
    if (len > NPY_MAX_HEADER)
        return attn_fail(ATTN_ERR_FORMAT, "%s: header length %zu is larger than the %zu bytes this reader accepts",
                         name, len, NPY_MAX_HEADER);
    *hstart = 8 + lenbytes;
    *hlen = len;
    return ATTN_OK;
}

/* A cursor over the header text, for the dict-literal parser. */
typedef struct npy_cursor {
    const char *start, *p, *end;
    const char *name;
} npy_cursor;

static attn_status parse_error(const npy_cursor *c, const char *what)
{
    if (c->p >= c->end)
        return attn_fail(ATTN_ERR_FORMAT, "%s: header does not parse: %s, found the end of the header", c->name,
                         what);
    unsigned char ch = (unsigned char)*c->p;
    if (ch >= 0x20 && ch < 0x7f)
        return attn_fail(ATTN_ERR_FORMAT, "%s: header does not parse: %s at header byte %td, found '%c'", c->name,
                         what, c->p - c->start, (char)ch);
    return attn_fail(ATTN_ERR_FORMAT, "%s: header does not parse: %s at header byte %td, found byte 0x%02x",
                     c->name, what, c->p - c->start, ch);
}

/* Python's whitespace between tokens (the '\n' NumPy ends the header with
 * included). */
static void skip_ws(npy_cursor *c)
{
    while (c->p < c->end && (*c->p == ' ' || *c->p == '\t' || *c->p == '\n' || *c->p == '\r' || *c->p == '\f'))
        c->p++;
}

static bool accept(npy_cursor *c, char ch)
{
    skip_ws(c);
    if (c->p < c->end && *c->p == ch) {
        c->p++;
        return true;
    }
    return false;
}

/* A quoted string without escapes ('...' or "..."), printable ASCII only:
 * every key and descr NumPy writes is one.  The contents (at most cap-1
 * bytes) go to buf. */
static attn_status parse_string(npy_cursor *c, char *buf, size_t cap, const char *what)
{
    skip_ws(c);
    if (c->p >= c->end || (*c->p != '\'' && *c->p != '"'))
        return parse_error(c, what);
    char quote = *c->p++;
    size_t n = 0;
    while (c->p < c->end && *c->p != quote) {
        unsigned char ch = (unsigned char)*c->p;
        if (ch == '\n')
            return parse_error(c, "unterminated string");
        if (ch < 0x20 || ch >= 0x7f || ch == '\\')
            return parse_error(c, "expected a plain printable string");
        if (n + 1 >= cap)
            return parse_error(c, "string too long");
        buf[n++] = (char)ch;
        c->p++;
    }
    if (c->p >= c->end)
        return parse_error(c, "unterminated string");
    c->p++;
    buf[n] = '\0';
    return ATTN_OK;
}

/* True or False (Python's literals; NumPy refuses 0 and 1 here too). */
static attn_status parse_bool(npy_cursor *c, bool *v)
{
    skip_ws(c);
    size_t left = (size_t)(c->end - c->p);
    if (left >= 4 && memcmp(c->p, "True", 4) == 0) {
        c->p += 4;
        *v = true;
    } else if (left >= 5 && memcmp(c->p, "False", 5) == 0) {
        c->p += 5;
        *v = false;
    } else {
        return parse_error(c, "expected True or False for 'fortran_order'");
    }
    if (c->p < c->end && (isalnum((unsigned char)*c->p) || *c->p == '_'))
        return parse_error(c, "expected True or False for 'fortran_order'");
    return ATTN_OK;
}

/* A decimal integer, optionally negative (so that the message can name a
 * negative size), optionally with Python 2's long suffix 'L' that old NumPy
 * wrote ("(3L, 4L)"). */
static attn_status parse_int(npy_cursor *c, int64_t *v)
{
    skip_ws(c);
    bool neg = false;
    if (c->p < c->end && *c->p == '-') {
        neg = true;
        c->p++;
    }
    if (c->p >= c->end || !isdigit((unsigned char)*c->p))
        return parse_error(c, "expected an integer in 'shape'");
    /* Python 3 refuses "010" (Python 2 read it as octal 8); "0" and "00" are
     * zero in both. */
    if (*c->p == '0') {
        const char *q = c->p;
        while (q < c->end && *q == '0')
            q++;
        if (q < c->end && isdigit((unsigned char)*q))
            return parse_error(c, "a size in 'shape' has a leading zero, which is not a Python integer");
    }
    int64_t x = 0;
    while (c->p < c->end && isdigit((unsigned char)*c->p)) {
        if (!attn_mul_ok(x, 10, &x) || !attn_add_ok(x, *c->p - '0', &x))
            return attn_fail(ATTN_ERR_FORMAT, "%s: absurd shape: a size at header byte %td does not fit in int64",
                             c->name, c->p - c->start);
        c->p++;
    }
    if (c->p < c->end && (*c->p == 'L' || *c->p == 'l'))
        c->p++;
    *v = neg ? -x : x;
    return ATTN_OK;
}

/* A tuple of integers: "()", "(5,)", "(3, 4)", "(3, 4,)".  "(5)" is a
 * parenthesised int in Python, not a tuple, and is refused as NumPy does. */
static attn_status parse_shape(npy_cursor *c, int64_t *dims, int *n)
{
    *n = 0;
    if (!accept(c, '('))
        return parse_error(c, "expected a tuple '(...)' for 'shape'");
    if (accept(c, ')'))
        return ATTN_OK;
    bool comma = false;
    for (;;) {
        if (*n == NPY_MAX_DIMS)
            return parse_error(c, "more than 64 dimensions in 'shape'");
        attn_status st = parse_int(c, &dims[*n]);
        if (st != ATTN_OK)
            return st;
        (*n)++;
        if (accept(c, ',')) {
            comma = true;
            if (accept(c, ')'))
                return ATTN_OK;
            continue;
        }
        if (accept(c, ')')) {
            if (*n == 1 && !comma)
                return attn_fail(ATTN_ERR_FORMAT,
                                 "%s: header does not parse: 'shape' is (%lld), an integer, not a tuple; "
                                 "a rank-1 shape is written (%lld,)",
                                 c->name, (long long)dims[0], (long long)dims[0]);
            return ATTN_OK;
        }
        return parse_error(c, "expected ',' or ')' in 'shape'");
    }
}

/* Map a descr to a dtype, or refuse it naming what it is. */
static attn_status check_descr(const char *descr, const char *name, attn_dtype *dtype)
{
    if (strcmp(descr, "<f4") == 0) {
        *dtype = ATTN_F32;
        return ATTN_OK;
    }
    if (strcmp(descr, "<f8") == 0) {
        *dtype = ATTN_F64;
        return ATTN_OK;
    }
    if (strcmp(descr, "<f2") == 0) {
        *dtype = ATTN_F16;
        return ATTN_OK;
    }
    if (strcmp(descr, "|b1") == 0) {
        *dtype = ATTN_BOOL;
        return ATTN_OK;
    }
    if (descr[0] == '>' && (strcmp(descr + 1, "f4") == 0 || strcmp(descr + 1, "f8") == 0 || strcmp(descr + 1, "f2") == 0))
        return attn_fail(ATTN_ERR_FORMAT, "%s: dtype '%s' is big-endian; " NPY_SUPPORTED, name, descr);
    /* Name the kind for the common refusals: NumPy's type character follows
     * the byte-order character. */
    const char *kind = "unsupported";
    char tc = (descr[0] == '<' || descr[0] == '>' || descr[0] == '|' || descr[0] == '=') ? descr[1] : descr[0];
    switch (tc) {
    case 'i':
    case 'u': kind = "an integer dtype"; break;
    case 'O': kind = "an object dtype"; break;
    case 'f': kind = "a float of an unsupported size"; break;
    case 'c': kind = "a complex dtype"; break;
    case 'b': kind = "a bool with an unsupported byte order mark"; break;
    case 'S':
    case 'U':
    case 'a': kind = "a string dtype"; break;
    case 'V': kind = "a void (raw bytes) dtype"; break;
    case 'M':
    case 'm': kind = "a datetime dtype"; break;
    default: break;
    }
    return attn_fail(ATTN_ERR_FORMAT, "%s: dtype '%s' is %s; " NPY_SUPPORTED, name, descr, kind);
}

/* Parse the header text (hlen bytes, not NUL-terminated) into *h, checking
 * the dtype, the order, the rank and that the sizes do not overflow.  Does
 * not look at the data. */
static attn_status npy_parse_header(const char *text, size_t hlen, const char *name, npy_header *h)
{
    npy_cursor c = {text, text, text + hlen, name};
    char descr[64] = "";
    bool fortran = false, have_descr = false, have_fortran = false, have_shape = false;
    int64_t dims[NPY_MAX_DIMS];
    int ndim = 0;
    attn_status st;

    if (!accept(&c, '{'))
        return parse_error(&c, "expected '{' opening the header dict");
    while (!accept(&c, '}')) {
        char key[32];
        if ((st = parse_string(&c, key, sizeof key, "expected a quoted key or '}'")) != ATTN_OK)
            return st;
        bool *seen;
        if (strcmp(key, "descr") == 0)
            seen = &have_descr;
        else if (strcmp(key, "fortran_order") == 0)
            seen = &have_fortran;
        else if (strcmp(key, "shape") == 0)
            seen = &have_shape;
        else
            return attn_fail(ATTN_ERR_FORMAT,
                             "%s: header has an unexpected key '%s'; a .npy header has exactly 'descr', "
                             "'fortran_order' and 'shape'",
                             name, key);
        if (*seen)
            return attn_fail(ATTN_ERR_FORMAT, "%s: header has the key '%s' twice", name, key);
        *seen = true;
        if (!accept(&c, ':'))
            return parse_error(&c, "expected ':' after a key");
        if (seen == &have_descr) {
            skip_ws(&c);
            if (c.p < c.end && *c.p == '[')
                return attn_fail(ATTN_ERR_FORMAT, "%s: dtype is a structured (record) dtype; " NPY_SUPPORTED, name);
            st = parse_string(&c, descr, sizeof descr, "expected a quoted dtype string for 'descr'");
        } else if (seen == &have_fortran) {
            st = parse_bool(&c, &fortran);
        } else {
            st = parse_shape(&c, dims, &ndim);
        }
        if (st != ATTN_OK)
            return st;
        if (accept(&c, ','))
            continue;
        if (accept(&c, '}'))
            break;
        return parse_error(&c, "expected ',' or '}' after a value");
    }
    skip_ws(&c);
    if (c.p != c.end)
        return parse_error(&c, "expected only whitespace after the closing '}'");
    if (!have_descr || !have_fortran || !have_shape)
        return attn_fail(ATTN_ERR_FORMAT, "%s: header has no '%s' key", name,
                         !have_descr ? "descr" : !have_fortran ? "fortran_order" : "shape");

    if ((st = check_descr(descr, name, &h->dtype)) != ATTN_OK)
        return st;
    if (fortran)
        return attn_fail(ATTN_ERR_FORMAT,
                         "%s: fortran_order is True; only C-order arrays are supported "
                         "(save numpy.ascontiguousarray(a) instead)",
                         name);
    char shp[128];
    format_shape(shp, sizeof shp, dims, ndim);
    if (ndim == 0)
        return attn_fail(ATTN_ERR_FORMAT, "%s: shape () is a scalar (rank 0); only ranks 1 to %d are supported",
                         name, ATTN_MAX_RANK);
    if (ndim > ATTN_MAX_RANK)
        return attn_fail(ATTN_ERR_FORMAT, "%s: shape %s has rank %d; only ranks 1 to %d are supported", name, shp,
                         ndim, ATTN_MAX_RANK);
    /* The product of the nonzero sizes, times the item size, must fit: then
     * no later product (element count, bytes, allocation) can overflow, even
     * for a zero-size array. */
    int64_t itemsize = (int64_t)attn_dtype_size(h->dtype), span = itemsize, numel = 1;
    for (int d = 0; d < ndim; d++) {
        if (dims[d] < 0)
            return attn_fail(ATTN_ERR_FORMAT, "%s: shape %s has a negative size in dimension %d", name, shp, d);
        if (!attn_mul_ok(span, dims[d] ? dims[d] : 1, &span))
            return attn_fail(ATTN_ERR_FORMAT, "%s: absurd shape %s: its size in bytes overflows int64", name, shp);
        numel *= dims[d];
    }
    h->rank = ndim;
    for (int d = 0; d < ndim; d++)
        h->shape[d] = dims[d];
    h->numel = numel;
    h->need = numel * itemsize;
    return ATTN_OK;
}

/* The message for data of the wrong length: `have` data bytes (or at least
 * that many when `at_least`) where the header says h->need. */
static attn_status data_size_error(const npy_header *h, const char *name, int64_t have, bool at_least)
{
    char shp[128];
    format_shape(shp, sizeof shp, h->shape, h->rank);
    if (have < h->need)
        return attn_fail(ATTN_ERR_FORMAT, "%s: truncated: shape %s of %s needs %lld data bytes, the file has %lld",
                         name, shp, attn_dtype_name(h->dtype), (long long)h->need, (long long)have);
    return attn_fail(ATTN_ERR_FORMAT,
                     "%s: trailing bytes: shape %s of %s needs %lld data bytes, the file has %s%lld", name, shp,
                     attn_dtype_name(h->dtype), (long long)h->need, at_least ? "at least " : "", (long long)have);
}

/* Allocate *out for the header's shape (zero-filled, contiguous).  On failure
 * *out is absent and the message names the file. */
static attn_status npy_alloc(const npy_header *h, const char *name, attn_tensor *out)
{
    attn_status st = attn_tensor_alloc(out, h->dtype, h->rank, h->shape);
    if (st != ATTN_OK) {
        char shp[128];
        format_shape(shp, sizeof shp, h->shape, h->rank);
        return attn_fail(st, "%s: cannot allocate shape %s of %s (%lld bytes)", name, shp, attn_dtype_name(h->dtype),
                         (long long)h->need);
    }
    return ATTN_OK;
}

/* Turn the raw little-endian elements now in out->data into native values:
 * swap bytes on a big-endian host, and check that every bool is 0 or 1 (the
 * only values NumPy writes; anything else means corruption).  On failure
 * frees *out. */
static attn_status npy_finish(const npy_header *h, const char *name, attn_tensor *out)
{
    if (h->dtype == ATTN_BOOL) {
        const unsigned char *b = out->data;
        for (int64_t i = 0; i < h->numel; i++) {
            if (b[i] > 1) {
                unsigned v = b[i];
                attn_tensor_free(out);
                return attn_fail(ATTN_ERR_FORMAT, "%s: bool element %lld (file offset %lld) is %u, not 0 or 1", name,
                                 (long long)i, (long long)h->data_off + (long long)i, v);
            }
        }
    } else if (!host_is_little_endian()) {
        size_t sz = attn_dtype_size(h->dtype);
        unsigned char *b = out->data;
        for (int64_t i = 0; i < h->numel; i++)
            swap_bytes(b + (size_t)i * sz, sz);
    }
    return ATTN_OK;
}

/* ------------------------------------------------------------------------
 * Reading
 * ------------------------------------------------------------------------ */

attn_status attn_npy_parse(const void *bytes, size_t size, const char *name, attn_tensor *out)
{
    if (!out)
        return attn_fail(ATTN_ERR_MISUSE, "attn_npy_parse: out is NULL");
    memset(out, 0, sizeof *out);
    if (!name)
        name = "(.npy image)";
    if (!bytes && size > 0)
        return attn_fail(ATTN_ERR_MISUSE, "attn_npy_parse: %s: bytes is NULL but size is %zu", name, size);
    const unsigned char *b = bytes ? bytes : (const unsigned char *)"";

    size_t hstart, hlen;
    attn_status st = npy_preamble(b, size, name, &hstart, &hlen);
    if (st != ATTN_OK)
        return st;
    if (hlen > size - hstart)
        return attn_fail(ATTN_ERR_FORMAT,
                         "%s: header length %zu runs past the end of the file: the header would end at byte %zu, "
                         "the file has %zu bytes",
                         name, hlen, hstart + hlen, size);
    npy_header h;
    if ((st = npy_parse_header((const char *)b + hstart, hlen, name, &h)) != ATTN_OK)
        return st;
    h.data_off = hstart + hlen;
    /* size - data_off fits int64: size came from memory that exists. */
    int64_t have = (int64_t)(size - h.data_off);
    if (have != h.need)
        return data_size_error(&h, name, have, false);
    if ((st = npy_alloc(&h, name, out)) != ATTN_OK)
        return st;
    if (h.need > 0)
        memcpy(out->data, b + h.data_off, (size_t)h.need);
    return npy_finish(&h, name, out);
}

/* Read up to n bytes, looping over short reads; *got is how many arrived.
 * false on a read error (errno says which), true at EOF or when full. */
static bool read_full(FILE *f, void *buf, size_t n, size_t *got)
{
    *got = 0;
    while (*got < n) {
        size_t chunk = n - *got;
        if (chunk > ((size_t)1 << 24))
            chunk = (size_t)1 << 24;
        size_t r = fread((unsigned char *)buf + *got, 1, chunk, f);
        *got += r;
        if (r < chunk)
            return !ferror(f);
    }
    return true;
}

static attn_status read_error(const char *path, int err)
{
    return attn_fail(ATTN_ERR_IO, "%s: cannot read: %s", path, strerror(err));
}

/* The file is read in three steps, each bounded by what the previous one
 * checked: the preamble (at most 12 bytes), the header (at most
 * NPY_MAX_HEADER), then exactly the data bytes the checked shape needs,
 * straight into the tensor.  The file's reported size is never trusted;
 * trailing bytes are counted only up to a cap, so /dev/zero cannot hang us. */
attn_status attn_npy_load(const char *path, attn_tensor *out)
{
    if (!out)
        return attn_fail(ATTN_ERR_MISUSE, "attn_npy_load: out is NULL");
    memset(out, 0, sizeof *out);
    if (!path)
        return attn_fail(ATTN_ERR_MISUSE, "attn_npy_load: path is NULL");
    errno = 0;
    FILE *f = fopen(path, "rb");
    if (!f)
        return attn_fail(ATTN_ERR_IO, "%s: cannot open: %s", path, strerror(errno));

    attn_status st;
    char *text = NULL;
    unsigned char pre[12] = {0};
    size_t got, hstart = 0, hlen = 0;
    npy_header h;

    /* Magic and version first: they say how long the length field is. */
    if (!read_full(f, pre, 8, &got)) {
        st = read_error(path, errno);
        goto fail;
    }
    if (got == 8) {
        size_t more;
        if (!read_full(f, pre + 8, pre[6] >= 2 ? 4 : 2, &more)) {
            st = read_error(path, errno);
            goto fail;
        }
        got += more;
    }
    if ((st = npy_preamble(pre, got, path, &hstart, &hlen)) != ATTN_OK)
        goto fail;

    text = malloc(hlen ? hlen : 1);
    if (!text) {
        st = attn_fail(ATTN_ERR_NOMEM, "%s: out of memory reading a %zu-byte header", path, hlen);
        goto fail;
    }
    if (!read_full(f, text, hlen, &got)) {
        st = read_error(path, errno);
        goto fail;
    }
    if (got < hlen) {
        st = attn_fail(ATTN_ERR_FORMAT,
                       "%s: header length %zu runs past the end of the file: the header would end at byte %zu, "
                       "the file has %zu bytes",
                       path, hlen, hstart + hlen, hstart + got);
        goto fail;
    }
    if ((st = npy_parse_header(text, hlen, path, &h)) != ATTN_OK)
        goto fail;
    h.data_off = hstart + hlen;
    free(text);
    text = NULL;

    /* A small file whose header claims terabytes is refused here, before the
     * allocation, when the file is a regular one and its size says so.  The
     * size is only a hint to fail early: the read below still checks every
     * byte, for files that change under us and for pipes. */
    struct stat sb;
    if (fstat(fileno(f), &sb) == 0 && S_ISREG(sb.st_mode)) {
        int64_t have = (int64_t)sb.st_size > (int64_t)h.data_off ? (int64_t)sb.st_size - (int64_t)h.data_off : 0;
        if (have < h.need) {
            st = data_size_error(&h, path, have, false);
            goto fail;
        }
    }
    if ((st = npy_alloc(&h, path, out)) != ATTN_OK)
        goto fail;
    if (!read_full(f, out->data, (size_t)h.need, &got)) {
        st = read_error(path, errno);
        goto fail;
    }
    if ((int64_t)got < h.need) {
        st = data_size_error(&h, path, (int64_t)got, false);
        goto fail;
    }
    /* Anything after the data is corruption too; count a bounded amount of it
     * for the message. */
    {
        unsigned char scratch[4096];
        int64_t extra = 0;
        const int64_t cap = (int64_t)1 << 24;
        while (extra < cap) {
            size_t r;
            if (!read_full(f, scratch, sizeof scratch, &r)) {
                st = read_error(path, errno);
                goto fail;
            }
            extra += (int64_t)r;
            if (r < sizeof scratch)
                break;
        }
        if (extra > 0) {
            st = data_size_error(&h, path, h.need + extra, extra >= cap);
            goto fail;
        }
    }
    fclose(f); /* read-only: nothing to lose if close reports an error */
    return npy_finish(&h, path, out);

fail:
    free(text);
    attn_tensor_free(out);
    fclose(f);
    return st;
}

/* ------------------------------------------------------------------------
 * Writing
 * ------------------------------------------------------------------------ */

/* Copy the elements of t in C order into dst as little-endian bytes; bools
 * become exactly 0 or 1 (attn's bool is "nonzero = true", NumPy's is 0/1). */
static void write_elements(const attn_tensor *t, unsigned char *dst)
{
    attn_view4 v = attn_view4_of(t);
    size_t sz = attn_dtype_size(t->dtype);
    bool swap = !host_is_little_endian() && sz > 1;
    const unsigned char *src = v.data;
    for (int64_t a = 0; a < v.n[0]; a++)
        for (int64_t b = 0; b < v.n[1]; b++)
            for (int64_t c = 0; c < v.n[2]; c++) {
                int64_t row = attn_off4(&v, a, b, c, 0);
                if (v.st[3] == 1 && t->dtype != ATTN_BOOL && !swap) {
                    /* A contiguous row: one copy. */
                    memcpy(dst, src + (size_t)row * sz, (size_t)v.n[3] * sz);
                    dst += (size_t)v.n[3] * sz;
                    continue;
                }
                for (int64_t d = 0; d < v.n[3]; d++) {
                    const unsigned char *e = src + (size_t)(row + d * v.st[3]) * sz;
                    if (t->dtype == ATTN_BOOL) {
                        *dst = *e ? 1 : 0;
                    } else {
                        memcpy(dst, e, sz);
                        if (swap)
                            swap_bytes(dst, sz);
                    }
                    dst += sz;
                }
            }
}

static const char *descr_of(attn_dtype dtype)
{
    switch (dtype) {
    case ATTN_F32: return "<f4";
    case ATTN_F64: return "<f8";
    case ATTN_F16: return "<f2";
    case ATTN_BOOL: return "|b1";
    case ATTN_BF16: break; /* no .npy type: refused by attn_npy_serialize */
    }
    return "?";
}

attn_status attn_npy_serialize(const attn_tensor *t, void **bytes, size_t *size)
{
    static const char fn[] = "attn_npy_serialize";
    if (bytes)
        *bytes = NULL;
    if (size)
        *size = 0;
    if (!bytes || !size)
        return attn_fail(ATTN_ERR_MISUSE, "%s: %s is NULL", fn, !bytes ? "bytes" : "size");
    if (t && t->dtype == ATTN_BF16) /* NumPy itself has no bfloat16 */
        return attn_fail(ATTN_ERR_INVALID,
                         "%s: t has dtype bf16, which .npy cannot hold (convert it to f32 with attn_f32_from_bf16)", fn);
    attn_status st = attn_check_arg(t, fn, "t", ATTN_DT_FLOAT | ATTN_DT(ATTN_F16) | ATTN_DT(ATTN_BOOL));
    if (st != ATTN_OK)
        return st;

    /* The dict as NumPy writes it (keys sorted, a trailing ", "). */
    char shp[128], dict[256];
    format_shape(shp, sizeof shp, t->shape, t->rank);
    int dl = snprintf(dict, sizeof dict, "{'descr': '%s', 'fortran_order': False, 'shape': %s, }",
                      descr_of(t->dtype), shp);
    ATTN_ASSERT(dl > 0 && (size_t)dl < sizeof dict);

    /* Version 1.0 unless the padded header does not fit its uint16 length;
     * the header is padded with spaces and a final '\n' so that the data
     * starts at a multiple of NPY_ALIGN. */
    size_t hstart = 10;
    size_t hlen = (size_t)dl + 1;
    hlen += (NPY_ALIGN - (hstart + hlen) % NPY_ALIGN) % NPY_ALIGN;
    if (hlen > 65535) {
        hstart = 12;
        hlen = (size_t)dl + 1;
        hlen += (NPY_ALIGN - (hstart + hlen) % NPY_ALIGN) % NPY_ALIGN;
    }
    int64_t numel = attn_tensor_numel(t), need;
    if (!attn_mul_ok(numel, (int64_t)attn_dtype_size(t->dtype), &need) || (uint64_t)need > SIZE_MAX - hstart - hlen)
        return attn_fail(ATTN_ERR_OVERFLOW, "%s: t (shape %s) is too large to serialise in memory", fn, shp);
    size_t total = hstart + hlen + (size_t)need;

    unsigned char *buf = attn_alloc(total, "a .npy image");
    if (!buf)
        return ATTN_ERR_NOMEM;
    memcpy(buf, npy_magic, sizeof npy_magic);
    buf[6] = hstart == 10 ? 1 : 2;
    buf[7] = 0;
    for (size_t i = 0; i < hstart - 8; i++)
        buf[8 + i] = (unsigned char)(hlen >> (8 * i));
    memcpy(buf + hstart, dict, (size_t)dl);
    memset(buf + hstart + (size_t)dl, ' ', hlen - (size_t)dl - 1);
    buf[hstart + hlen - 1] = '\n';
    if (numel > 0)
        write_elements(t, buf + hstart + hlen);
    *bytes = buf;
    *size = total;
    return ATTN_OK;
}

/* Serialise in memory, then write atomically (attn_file_write_atomic). */
attn_status attn_npy_save(const char *path, const attn_tensor *t)
{
    if (!path)
        return attn_fail(ATTN_ERR_MISUSE, "attn_npy_save: path is NULL");
    void *bytes;
    size_t size;
    attn_status st = attn_npy_serialize(t, &bytes, &size);
    if (st != ATTN_OK) {
        /* Keep the cause, say which file was not written. */
        char why[512];
        snprintf(why, sizeof why, "%s", attn_errmsg());
        return attn_fail(st, "%s: not written: %s", path, why);
    }
    attn_bytes part = {bytes, size};
    st = attn_file_write_atomic(path, &part, 1);
    attn_free(bytes);
    return st;
}
