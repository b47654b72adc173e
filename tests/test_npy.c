/*
 * test_npy.c - the .npy reader and writer.
 *
 * Round trips (f32, f64, bool; ranks 1-4; strided, broadcast and zero-size
 * views), hand-built images of format versions 1.0, 2.0 and 3.0, every
 * refusal of the reader checked for its status and message, and the atomic
 * save: a failed save leaves neither the target nor a temporary file.
 *
 * With ATTN_NUMPY_DIR set (tests/npy_crosscheck.py does it), it also reads
 * the files NumPy wrote there and writes files for NumPy to read back.
 */
#define _XOPEN_SOURCE 700 /* mkdtemp, opendir, setrlimit under -std=c11 */

#include "testutil.h"

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

/* ------------------------------------------------------------------------
 * Helpers
 * ------------------------------------------------------------------------ */

static bool is_absent(const attn_tensor *t)
{
    attn_tensor zero;
    memset(&zero, 0, sizeof zero);
    return memcmp(t, &zero, sizeof zero) == 0;
}

/* A .npy image of format `major`.0 with the given header text (used as is
 * when pad is false; else padded with spaces and '\n' to a 64-byte data
 * offset) followed by dlen data bytes.  Returns malloc'd bytes. */
static unsigned char *make_image(int major, const char *header, bool pad, const void *data, size_t dlen,
                                 size_t *size)
{
    size_t hstart = major == 1 ? 10 : 12, hl = strlen(header);
    size_t hlen = hl + (pad ? 1 : 0);
    if (pad)
        hlen += (64 - (hstart + hlen) % 64) % 64;
    unsigned char *b = malloc(hstart + hlen + dlen + 1);
    memcpy(b, "\x93NUMPY", 6);
    b[6] = (unsigned char)major;
    b[7] = 0;
    for (size_t i = 0; i < hstart - 8; i++)
        b[8 + i] = (unsigned char)(hlen >> (8 * i));
    memcpy(b + hstart, header, hl);
    if (pad) {
        memset(b + hstart + hl, ' ', hlen - hl - 1);
        b[hstart + hlen - 1] = '\n';
    }
    if (dlen)
        memcpy(b + hstart + hlen, data, dlen);
    *size = hstart + hlen + dlen;
    return b;
}

/* Parse a version 1.0 image of `header` + dlen bytes of data and expect a
 * FORMAT refusal whose message contains `needle` and names the file, with
 * *out left absent. */
static void expect_refusal_at(int major, const char *header, const void *data, size_t dlen, const char *needle,
                              int line)
{
    size_t size;
    unsigned char *img = make_image(major, header, true, data, dlen, &size);
    attn_tensor t;
    memset(&t, 0x5a, sizeof t);
    attn_status st = attn_npy_parse(img, size, "x.npy", &t);
    test_check_fails(st, ATTN_ERR_FORMAT, needle, header, __FILE__, line);
    test_check(strncmp(attn_errmsg(), "x.npy: ", 7) == 0, __FILE__, line, "message does not start with the name: %s",
               attn_errmsg());
    test_check(is_absent(&t), __FILE__, line, "out is not the absent tensor after a refusal of %s", header);
    attn_tensor_free(&t);
    free(img);
}
#define EXPECT_REFUSAL(header, data, dlen, needle) expect_refusal_at(1, header, data, dlen, needle, __LINE__)

static bool write_file(const char *path, const void *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        return false;
    bool ok = fwrite(data, 1, n, f) == n;
    return fclose(f) == 0 && ok;
}

/* The whole file, malloc'd; NULL if unreadable. */
static unsigned char *read_file(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 1 << 16, len = 0;
    unsigned char *b = malloc(cap);
    size_t r;
    while (b && (r = fread(b + len, 1, cap - len, f)) > 0) {
        len += r;
        if (len == cap) {
            unsigned char *nb = realloc(b, cap *= 2);
            if (!nb)
                free(b);
            b = nb;
        }
    }
    fclose(f);
    *n = len;
    return b;
}

/* Entries of dir other than . and ..; their names, space-separated, to
 * `names` for messages. */
static int count_entries(const char *dir, char *names, size_t cap)
{
    DIR *d = opendir(dir);
    int n = 0;
    if (names && cap)
        names[0] = '\0';
    if (!d)
        return -1;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        n++;
        if (names && strlen(names) + strlen(e->d_name) + 2 < cap) {
            strcat(names, e->d_name);
            strcat(names, " ");
        }
    }
    closedir(d);
    return n;
}

static char tmpdir[256];

static void path_in(char *buf, size_t cap, const char *name) { snprintf(buf, cap, "%s/%s", tmpdir, name); }

/* Are a and b the same elements (bitwise for floats, so NaN and -0 count),
 * a read as the strided view it is and b as contiguous? */
static bool same_elements(const attn_tensor *a, const attn_tensor *b)
{
    if (a->dtype != b->dtype || a->rank != b->rank)
        return false;
    for (int d = 0; d < a->rank; d++)
        if (a->shape[d] != b->shape[d])
            return false;
    size_t sz = attn_dtype_size(a->dtype);
    int64_t n = attn_tensor_numel(a), idx[4] = {0, 0, 0, 0};
    for (int64_t k = 0; k < n; k++) {
        int64_t off = 0;
        for (int d = 0; d < a->rank; d++)
            off += idx[d] * a->stride[d];
        const unsigned char *x = (const unsigned char *)a->data + off * (int64_t)sz;
        const unsigned char *y = (const unsigned char *)b->data + k * (int64_t)sz;
        if (a->dtype == ATTN_BOOL ? ((*x != 0) != *y) : memcmp(x, y, sz) != 0)
            return false;
        for (int d = a->rank - 1; d >= 0; d--) {
            if (++idx[d] < a->shape[d])
                break;
            idx[d] = 0;
        }
    }
    return true;
}

/* The layout NumPy writes: magic, version 1.0, a header of the expected
 * text padded with spaces to a 64-byte data offset and ending in '\n'. */
static void check_layout(const unsigned char *b, size_t size, const char *descr, const char *shape)
{
    CHECK(size >= 10 && memcmp(b, "\x93NUMPY\x01\x00", 8) == 0, "magic and version 1.0");
    if (size < 10)
        return;
    size_t hlen = (size_t)b[8] | (size_t)b[9] << 8;
    CHECK((10 + hlen) % 64 == 0, "data offset %zu is not a multiple of 64", 10 + hlen);
    CHECK(10 + hlen <= size && b[10 + hlen - 1] == '\n', "header does not end in a newline");
    char want[160];
    snprintf(want, sizeof want, "{'descr': '%s', 'fortran_order': False, 'shape': %s, }", descr, shape);
    size_t wl = strlen(want);
    CHECK(hlen >= wl && memcmp(b + 10, want, wl) == 0, "header does not start with %s: '%.*s'", want,
          (int)(hlen < wl ? hlen : wl), (const char *)b + 10);
    for (size_t i = 10 + wl; i + 1 < 10 + hlen && i < size; i++)
        if (b[i] != ' ') {
            CHECK(false, "header padding has byte 0x%02x at %zu", b[i], i);
            break;
        }
}

/* ------------------------------------------------------------------------
 * Round trips
 * ------------------------------------------------------------------------ */

static void fill_random(test_rng *r, void *data, attn_dtype dt, int64_t n)
{
    for (int64_t i = 0; i < n; i++) {
        double x = test_normal(r) * 100.0;
        uint64_t pick = test_next(r) % 16;
        if (pick == 0)
            x = NAN;
        else if (pick == 1)
            x = -0.0;
        else if (pick == 2)
            x = -INFINITY;
        if (dt == ATTN_F32)
            ((float *)data)[i] = (float)x;
        else if (dt == ATTN_F64)
            ((double *)data)[i] = x;
        else if (dt == ATTN_F16) {
            float f = (float)x;
            attn_f16_from_f32((uint16_t *)data + i, &f, 1);
        } else
            ((unsigned char *)data)[i] = (unsigned char)(test_next(r) % 2);
    }
}

static void test_round_trips(uint64_t seed)
{
    test_rng r = {seed};
    const attn_dtype dts[4] = {ATTN_F32, ATTN_F64, ATTN_BOOL, ATTN_F16};
    const char *descrs[4] = {"<f4", "<f8", "|b1", "<f2"};
    for (int di = 0; di < 4; di++) {
        for (int rank = 1; rank <= 4; rank++) {
            int64_t shape[4];
            for (int d = 0; d < 4; d++)
                shape[d] = test_int(&r, 1, 5);
            attn_tensor src;
            CHECK_OK(attn_tensor_alloc(&src, dts[di], rank, shape));
            fill_random(&r, src.data, dts[di], attn_tensor_numel(&src));

            void *bytes = NULL;
            size_t size = 0;
            CHECK_OK(attn_npy_serialize(&src, &bytes, &size));
            char shp[64] = "(";
            for (int d = 0; d < rank; d++)
                snprintf(shp + strlen(shp), sizeof shp - strlen(shp), d ? ", %lld" : "%lld", (long long)shape[d]);
            strcat(shp, rank == 1 ? ",)" : ")");
            check_layout(bytes, size, descrs[di], shp);

            attn_tensor back;
            CHECK_OK(attn_npy_parse(bytes, size, "rt.npy", &back));
            CHECK(same_elements(&src, &back), "round trip of %s rank %d shape %s (seed %llu) differs",
                  descrs[di], rank, shp, (unsigned long long)seed);
            attn_tensor_free(&back);

            char path[300];
            path_in(path, sizeof path, "rt.npy");
            CHECK_OK(attn_npy_save(path, &src));
            CHECK_OK(attn_npy_load(path, &back));
            CHECK(same_elements(&src, &back), "save/load of %s rank %d shape %s (seed %llu) differs", descrs[di],
                  rank, shp, (unsigned long long)seed);
            size_t fsize;
            unsigned char *file = read_file(path, &fsize);
            CHECK(file && fsize == size && memcmp(file, bytes, size) == 0,
                  "the saved file is not the serialised image");
            free(file);
            attn_tensor_free(&back);
            attn_free(bytes);
            attn_tensor_free(&src);
        }
    }
    char path[300];
    path_in(path, sizeof path, "rt.npy");
    unlink(path);
}

/* Views that are not contiguous: transposed, permuted 4-d, sliced with an
 * offset and a step, broadcast (stride 0), and bools other than 0/1. */
static void test_strided(void)
{
    float base[12];
    for (int i = 0; i < 12; i++)
        base[i] = (float)i * 0.5f - 2.0f;
    attn_tensor tr = attn_tensor_2d(base, ATTN_F32, 4, 3); /* base is (3, 4); this is its transpose */
    tr.stride[0] = 1;
    tr.stride[1] = 4;
    void *bytes;
    size_t size;
    attn_tensor back;
    CHECK_OK(attn_npy_serialize(&tr, &bytes, &size));
    check_layout(bytes, size, "<f4", "(4, 3)");
    CHECK_OK(attn_npy_parse(bytes, size, "tr.npy", &back));
    CHECK(back.rank == 2 && back.shape[0] == 4 && back.shape[1] == 3 && back.stride[0] == 3 && back.stride[1] == 1,
          "transposed: parsed shape/strides wrong");
    bool ok = back.data != NULL;
    for (int i = 0; ok && i < 4; i++)
        for (int j = 0; j < 3; j++)
            ok = ok && ((float *)back.data)[i * 3 + j] == base[j * 4 + i];
    CHECK(ok, "transposed f32 view was not written in C order of the view");
    attn_tensor_free(&back);
    attn_free(bytes);

    /* A (2, 3, 4, 5) f64 array seen as its full reversal (5, 4, 3, 2). */
    double b4[120];
    for (int i = 0; i < 120; i++)
        b4[i] = i / 3.0;
    attn_tensor rev = attn_tensor_4d(b4, ATTN_F64, 5, 4, 3, 2);
    rev.stride[0] = 1;
    rev.stride[1] = 5;
    rev.stride[2] = 20;
    rev.stride[3] = 60;
    CHECK_OK(attn_npy_serialize(&rev, &bytes, &size));
    CHECK_OK(attn_npy_parse(bytes, size, "rev.npy", &back));
    CHECK(same_elements(&rev, &back), "reversed 4-d f64 view differs after a round trip");
    attn_tensor_free(&back);
    attn_free(bytes);

    /* Rows 1.. of b4 as (3, 2) f64 with a step of 7 and 2 between elements,
     * starting at an offset. */
    attn_tensor sl = attn_tensor_2d(b4 + 5, ATTN_F64, 3, 2);
    sl.stride[0] = 7;
    sl.stride[1] = 2;
    CHECK_OK(attn_npy_serialize(&sl, &bytes, &size));
    CHECK_OK(attn_npy_parse(bytes, size, "sl.npy", &back));
    CHECK(same_elements(&sl, &back), "sliced f64 view differs after a round trip");
    attn_tensor_free(&back);
    attn_free(bytes);

    /* Broadcast: one row of 4 repeated 3 times. */
    attn_tensor bc = attn_tensor_2d(base, ATTN_F32, 3, 4);
    bc.stride[0] = 0;
    CHECK_OK(attn_npy_serialize(&bc, &bytes, &size));
    CHECK_OK(attn_npy_parse(bytes, size, "bc.npy", &back));
    CHECK(same_elements(&bc, &back) && ((float *)back.data)[8] == base[0], "broadcast view differs");
    attn_tensor_free(&back);
    attn_free(bytes);

    /* Bools: a transposed view holding 7 and 255, which NumPy must see as 1. */
    unsigned char mb[6] = {0, 7, 1, 255, 0, 0};
    attn_tensor bt = attn_tensor_2d(mb, ATTN_BOOL, 3, 2);
    bt.stride[0] = 1;
    bt.stride[1] = 3;
    CHECK_OK(attn_npy_serialize(&bt, &bytes, &size));
    check_layout(bytes, size, "|b1", "(3, 2)");
    CHECK_OK(attn_npy_parse(bytes, size, "bt.npy", &back));
    const unsigned char want[6] = {0, 1, 1, 0, 1, 0};
    CHECK(back.data && memcmp(back.data, want, 6) == 0, "bool view not written as 0/1 in C order");
    attn_tensor_free(&back);
    attn_free(bytes);
}

static void test_zero_size(void)
{
    attn_tensor z = attn_tensor_2d(NULL, ATTN_F32, 0, 3);
    void *bytes;
    size_t size;
    CHECK_OK(attn_npy_serialize(&z, &bytes, &size));
    check_layout(bytes, size, "<f4", "(0, 3)");
    CHECK(size == 128, "zero-size image is %zu bytes, expected 128 (header only)", size);
    attn_tensor back;
    CHECK_OK(attn_npy_parse(bytes, size, "z.npy", &back));
    CHECK(back.rank == 2 && back.shape[0] == 0 && back.shape[1] == 3 && back.dtype == ATTN_F32,
          "zero-size shape not preserved");
    attn_tensor_free(&back);
    attn_free(bytes);

    char path[300];
    path_in(path, sizeof path, "z.npy");
    attn_tensor z3 = attn_tensor_3d(NULL, ATTN_BOOL, 2, 0, 5);
    CHECK_OK(attn_npy_save(path, &z3));
    CHECK_OK(attn_npy_load(path, &back));
    CHECK(back.rank == 3 && back.shape[0] == 2 && back.shape[1] == 0 && back.shape[2] == 5 &&
              back.dtype == ATTN_BOOL,
          "zero-size bool shape not preserved through a file");
    attn_tensor_free(&back);
    unlink(path);
}

/* ------------------------------------------------------------------------
 * Hand-built images: versions, key order, spacing
 * ------------------------------------------------------------------------ */

static void test_versions(void)
{
    size_t size;
    unsigned char *img;
    attn_tensor t;

    /* 1.0: keys in another order, no spaces, no padding and no final newline. */
    double d6[6] = {1.5, -2.25, 3.0, 0.0, 1e300, -1e-300};
    img = make_image(1, "{'shape':(2,3),'descr':'<f8','fortran_order':False}", false, d6, sizeof d6, &size);
    CHECK_OK(attn_npy_parse(img, size, "v1.npy", &t));
    CHECK(t.dtype == ATTN_F64 && t.rank == 2 && t.shape[0] == 2 && t.shape[1] == 3 && t.data &&
              memcmp(t.data, d6, sizeof d6) == 0,
          "version 1.0 image read wrongly");
    attn_tensor_free(&t);
    free(img);

    /* 2.0: double quotes, spaces everywhere, a trailing comma in the tuple
     * and after the last entry. */
    float f6[6] = {1, 2, 3, 4, 5, 6};
    img = make_image(2, "{ \"fortran_order\" : False , 'shape' : ( 2 , 3 , ) , 'descr' : '<f4' , }", true, f6,
                     sizeof f6, &size);
    CHECK(size % 64 == 24, "the 2.0 test image is padded as NumPy pads");
    CHECK_OK(attn_npy_parse(img, size, "v2.npy", &t));
    CHECK(t.dtype == ATTN_F32 && t.rank == 2 && t.shape[0] == 2 && t.shape[1] == 3 && t.data &&
              memcmp(t.data, f6, sizeof f6) == 0,
          "version 2.0 image read wrongly");
    attn_tensor_free(&t);
    free(img);

    /* 3.0: newlines and tabs inside the dict, a bool rank-1 shape. */
    unsigned char b4[4] = {1, 0, 0, 1};
    img = make_image(3, "{'fortran_order': False,\n 'descr':\t'|b1',\t'shape': (4,),}", true, b4, sizeof b4, &size);
    CHECK_OK(attn_npy_parse(img, size, "v3.npy", &t));
    CHECK(t.dtype == ATTN_BOOL && t.rank == 1 && t.shape[0] == 4 && t.data && memcmp(t.data, b4, 4) == 0,
          "version 3.0 image read wrongly");
    attn_tensor_free(&t);
    free(img);

    /* Python 2's NumPy wrote long integers: (2L, 3L). */
    img = make_image(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2L, 3L), }", true, f6, sizeof f6,
                     &size);
    CHECK_OK(attn_npy_parse(img, size, "py2.npy", &t));
    CHECK(t.rank == 2 && t.shape[0] == 2 && t.shape[1] == 3, "(2L, 3L) read wrongly");
    attn_tensor_free(&t);
    free(img);

    /* Rank 4 with a zero size and no data. */
    img = make_image(1, "{'descr': '<f8', 'fortran_order': False, 'shape': (1, 2, 0, 3), }", true, NULL, 0, &size);
    CHECK_OK(attn_npy_parse(img, size, "z4.npy", &t));
    CHECK(t.rank == 4 && t.shape[2] == 0 && t.shape[3] == 3, "(1, 2, 0, 3) read wrongly");
    attn_tensor_free(&t);
    free(img);
}

/* ------------------------------------------------------------------------
 * Refusals
 * ------------------------------------------------------------------------ */

#define HDR(descr, fortran, shape) "{'descr': '" descr "', 'fortran_order': " fortran ", 'shape': " shape ", }"

static void test_refusals_preamble(void)
{
    attn_tensor t;
    size_t size;
    float f12[12] = {0};
    unsigned char *img = make_image(1, HDR("<f4", "False", "(3, 4)"), true, f12, sizeof f12, &size);

    /* Bad magic. */
    img[3] = 'X';
    memset(&t, 0x5a, sizeof t);
    CHECK_FAILS(attn_npy_parse(img, size, "x.npy", &t), ATTN_ERR_FORMAT, "x.npy: not a .npy file");
    CHECK(is_absent(&t), "out not absent after bad magic");
    img[3] = 'M';
    CHECK_FAILS(attn_npy_parse("PK\x03\x04", 4, "x.npy", &t), ATTN_ERR_FORMAT, "not a .npy file");

    /* Too short for the preamble. */
    CHECK_FAILS(attn_npy_parse(img, 4, "x.npy", &t), ATTN_ERR_FORMAT, "x.npy: truncated: 4 bytes");
    CHECK_FAILS(attn_npy_parse(img, 9, "x.npy", &t), ATTN_ERR_FORMAT, "too short for a version 1.0 preamble");
    CHECK_FAILS(attn_npy_parse(img, 0, "x.npy", &t), ATTN_ERR_FORMAT, "truncated: 0 bytes");

    /* Unknown versions. */
    img[6] = 4;
    CHECK_FAILS(attn_npy_parse(img, size, "x.npy", &t), ATTN_ERR_FORMAT, "x.npy: unknown .npy format version 4.0");
    img[6] = 1;
    img[7] = 1;
    CHECK_FAILS(attn_npy_parse(img, size, "x.npy", &t), ATTN_ERR_FORMAT, "version 1.1");
    img[7] = 0;
    img[6] = 0;
    CHECK_FAILS(attn_npy_parse(img, size, "x.npy", &t), ATTN_ERR_FORMAT, "version 0.0");
    img[6] = 1;

    /* Header length past the end: claim 1000 bytes in a 176-byte image. */
    img[8] = 1000 & 0xff;
    img[9] = 1000 >> 8;
    CHECK_FAILS(attn_npy_parse(img, size, "x.npy", &t), ATTN_ERR_FORMAT,
                "x.npy: header length 1000 runs past the end of the file: the header would end at byte 1010, the "
                "file has 176 bytes");
    CHECK(is_absent(&t), "out not absent after a header past the end");
    free(img);

    /* A version 2.0 length of 2 GiB: refused before anything is allocated. */
    img = make_image(2, HDR("<f4", "False", "(3, 4)"), true, f12, sizeof f12, &size);
    img[8] = 0;
    img[9] = 0;
    img[10] = 0;
    img[11] = 0x80;
    CHECK_FAILS(attn_npy_parse(img, size, "x.npy", &t), ATTN_ERR_FORMAT, "header length 2147483648 is larger than");
    free(img);

    /* Contract violations. */
    CHECK_FAILS(attn_npy_parse(NULL, 10, "x.npy", &t), ATTN_ERR_MISUSE, "bytes is NULL");
    CHECK_FAILS(attn_npy_parse("x", 1, "x.npy", NULL), ATTN_ERR_MISUSE, "out is NULL");
    CHECK_FAILS(attn_npy_parse(NULL, 0, NULL, &t), ATTN_ERR_FORMAT, "truncated");
}

static void test_refusals_header(void)
{
    float f12[12] = {0};
    const size_t n12 = sizeof f12;

    /* Headers that do not parse. */
    EXPECT_REFUSAL("['descr', '<f4']", f12, n12, "header does not parse: expected '{'");
    EXPECT_REFUSAL("", f12, n12, "header does not parse");
    EXPECT_REFUSAL("{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), ", f12, n12,
                   "header does not parse: expected a quoted key or '}'");
    EXPECT_REFUSAL("{'descr': '<f4' 'fortran_order': False, 'shape': (3, 4)}", f12, n12,
                   "expected ',' or '}' after a value at header byte 16");
    EXPECT_REFUSAL("{'descr' '<f4', 'fortran_order': False, 'shape': (3, 4)}", f12, n12, "expected ':' after a key");
    EXPECT_REFUSAL("{'descr': '<f4", f12, n12, "unterminated string");
    EXPECT_REFUSAL("{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), } x", f12, n12,
                   "expected only whitespace after the closing '}'");
    EXPECT_REFUSAL("{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }}", f12, n12,
                   "after the closing '}'");
    EXPECT_REFUSAL("{,}", f12, n12, "expected a quoted key");
    EXPECT_REFUSAL("{'descr': '<f4',, 'fortran_order': False, 'shape': (3, 4)}", f12, n12, "expected a quoted key");
    EXPECT_REFUSAL(HDR("<f4", "0", "(3, 4)"), f12, n12, "expected True or False");
    EXPECT_REFUSAL(HDR("<f4", "Falsey", "(3, 4)"), f12, n12, "expected True or False");
    EXPECT_REFUSAL(HDR("<f4", "False", "(12)"), f12, n12, "'shape' is (12), an integer, not a tuple");
    EXPECT_REFUSAL(HDR("<f4", "False", "12"), f12, n12, "expected a tuple '(...)' for 'shape'");
    EXPECT_REFUSAL(HDR("<f4", "False", "[3, 4]"), f12, n12, "expected a tuple");
    EXPECT_REFUSAL(HDR("<f4", "False", "(3, 'a')"), f12, n12, "expected an integer in 'shape'");
    EXPECT_REFUSAL(HDR("<f4", "False", "(3 4)"), f12, n12, "expected ',' or ')' in 'shape'");
    EXPECT_REFUSAL("{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4", f12, n12,
                   "expected ',' or ')' in 'shape', found the end of the header");
    EXPECT_REFUSAL("{'descr': '<f\\x34', 'fortran_order': False, 'shape': (3, 4), }", f12, n12,
                   "expected a plain printable string");
    EXPECT_REFUSAL("{'descr': 5, 'fortran_order': False, 'shape': (3, 4), }", f12, n12,
                   "expected a quoted dtype string");
    EXPECT_REFUSAL("{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), 'extra': 1}", f12, n12,
                   "unexpected key 'extra'");
    EXPECT_REFUSAL("{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (3, 4)}", f12, n12,
                   "the key 'descr' twice");
    {
        /* A NUL byte in the header. */
        char h[] = HDR("<f4", "False", "(3, 4)");
        size_t size;
        unsigned char *img = make_image(1, h, true, f12, n12, &size);
        img[10 + 5] = '\0'; /* inside 'descr' */
        attn_tensor t;
        CHECK_FAILS(attn_npy_parse(img, size, "x.npy", &t), ATTN_ERR_FORMAT, "found byte 0x00");
        free(img);
    }

    /* Missing keys. */
    EXPECT_REFUSAL("{'fortran_order': False, 'shape': (3, 4), }", f12, n12, "x.npy: header has no 'descr' key");
    EXPECT_REFUSAL("{'descr': '<f4', 'shape': (3, 4), }", f12, n12, "header has no 'fortran_order' key");
    EXPECT_REFUSAL("{'descr': '<f4', 'fortran_order': False}", f12, n12, "header has no 'shape' key");
    EXPECT_REFUSAL("{}", f12, n12, "header has no 'descr' key");

    /* Dtypes. */
    EXPECT_REFUSAL(HDR(">f4", "False", "(3, 4)"), f12, n12,
                   "x.npy: dtype '>f4' is big-endian; only little-endian f32 ('<f4'), f64 ('<f8'), f16 ('<f2') and "
                   "bool ('|b1') are supported");
    EXPECT_REFUSAL(HDR(">f2", "False", "(24,)"), f12, n12, "dtype '>f2' is big-endian");
    EXPECT_REFUSAL(HDR(">f8", "False", "(6,)"), f12, n12, "dtype '>f8' is big-endian");
    EXPECT_REFUSAL(HDR("<i4", "False", "(3, 4)"), f12, n12, "dtype '<i4' is an integer dtype; only little-endian");
    EXPECT_REFUSAL(HDR("<i8", "False", "(6,)"), f12, n12, "dtype '<i8' is an integer dtype");
    EXPECT_REFUSAL(HDR("|u1", "False", "(48,)"), f12, n12, "dtype '|u1' is an integer dtype");
    EXPECT_REFUSAL(HDR("|O", "False", "(6,)"), f12, n12, "dtype '|O' is an object dtype");
    EXPECT_REFUSAL(HDR("<f16", "False", "(3,)"), f12, n12, "dtype '<f16' is a float of an unsupported size");
    EXPECT_REFUSAL(HDR("<c8", "False", "(6,)"), f12, n12, "dtype '<c8' is a complex dtype");
    EXPECT_REFUSAL(HDR("<U3", "False", "(4,)"), f12, n12, "dtype '<U3' is a string dtype");
    EXPECT_REFUSAL(HDR("<M8[ns]", "False", "(6,)"), f12, n12, "dtype '<M8[ns]' is a datetime dtype");
    EXPECT_REFUSAL(HDR("=f4", "False", "(3, 4)"), f12, n12, "dtype '=f4' is");
    EXPECT_REFUSAL(HDR("<b1", "False", "(48,)"), f12, n12, "dtype '<b1' is");
    EXPECT_REFUSAL(HDR("f4", "False", "(3, 4)"), f12, n12, "dtype 'f4' is");
    EXPECT_REFUSAL(HDR("", "False", "(3, 4)"), f12, n12, "dtype '' is");
    EXPECT_REFUSAL("{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (12,), }", f12, n12,
                   "structured (record) dtype");

    /* Order. */
    EXPECT_REFUSAL(HDR("<f4", "True", "(3, 4)"), f12, n12, "x.npy: fortran_order is True; only C-order");

    /* Ranks and shapes. */
    EXPECT_REFUSAL(HDR("<f4", "False", "()"), f12, 4, "x.npy: shape () is a scalar (rank 0)");
    EXPECT_REFUSAL(HDR("<f4", "False", "(1, 2, 1, 2, 3)"), f12, n12,
                   "x.npy: shape (1, 2, 1, 2, 3) has rank 5; only ranks 1 to 4");
    EXPECT_REFUSAL(HDR("<f4", "False", "(3, -4)"), f12, n12, "shape (3, -4) has a negative size in dimension 1");
    EXPECT_REFUSAL(HDR("<f4", "False", "(-1,)"), f12, n12, "shape (-1,) has a negative size in dimension 0");
    EXPECT_REFUSAL(HDR("<f4", "False", "(4611686018427387904, 4)"), f12, n12,
                   "absurd shape (4611686018427387904, 4): its size in bytes overflows int64");
    EXPECT_REFUSAL(HDR("<f8", "False", "(2305843009213693952,)"), f12, n12, "absurd shape");
    EXPECT_REFUSAL(HDR("<f4", "False", "(0, 4294967296, 4294967296)"), NULL, 0, "absurd shape");
    EXPECT_REFUSAL(HDR("<f4", "False", "(99999999999999999999,)"), f12, n12, "does not fit in int64");
    /* Far larger than the file but no overflow. */
    EXPECT_REFUSAL(HDR("<f4", "False", "(1000000000000,)"), f12, 8,
                   "x.npy: truncated: shape (1000000000000,) of f32 needs 4000000000000 data bytes, the file has 8");

    /* Data of the wrong length. */
    EXPECT_REFUSAL(HDR("<f4", "False", "(3, 4)"), f12, 20,
                   "x.npy: truncated: shape (3, 4) of f32 needs 48 data bytes, the file has 20");
    EXPECT_REFUSAL(HDR("<f8", "False", "(3, 4)"), NULL, 0,
                   "x.npy: truncated: shape (3, 4) of f64 needs 96 data bytes, the file has 0");
    EXPECT_REFUSAL(HDR("<f4", "False", "(3, 4)"), f12, 47, "needs 48 data bytes, the file has 47");
    {
        unsigned char d49[49] = {0};
        EXPECT_REFUSAL(HDR("<f4", "False", "(3, 4)"), d49, sizeof d49,
                       "x.npy: trailing bytes: shape (3, 4) of f32 needs 48 data bytes, the file has 49");
        EXPECT_REFUSAL(HDR("<f4", "False", "(0, 4)"), d49, 1, "trailing bytes: shape (0, 4) of f32 needs 0");
    }

    /* Bools other than 0 and 1.  The header pads to a data offset of 64. */
    unsigned char bools[6] = {0, 1, 1, 2, 0, 1};
    EXPECT_REFUSAL(HDR("|b1", "False", "(2, 3)"), bools, 6, "x.npy: bool element 3 (file offset 131) is 2, not 0 or 1");
    bools[3] = 1;
    bools[5] = 255;
    EXPECT_REFUSAL(HDR("|b1", "False", "(6,)"), bools, 6, "bool element 5 (file offset 133) is 255");
}

/* ------------------------------------------------------------------------
 * Files
 * ------------------------------------------------------------------------ */

static void test_load_errors(void)
{
    char path[300];
    attn_tensor t;

    path_in(path, sizeof path, "does-not-exist.npy");
    memset(&t, 0x5a, sizeof t);
    CHECK_FAILS(attn_npy_load(path, &t), ATTN_ERR_IO, "does-not-exist.npy: cannot open: No such file or directory");
    CHECK(is_absent(&t), "out not absent after a missing file");
    CHECK_FAILS(attn_npy_load(tmpdir, &t), ATTN_ERR_IO, "cannot read: Is a directory");
    CHECK_FAILS(attn_npy_load(NULL, &t), ATTN_ERR_MISUSE, "path is NULL");
    CHECK_FAILS(attn_npy_load(path, NULL), ATTN_ERR_MISUSE, "out is NULL");

    /* On-disk refusals name the path, whichever step of the read finds them. */
    float f12[12] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};
    size_t size;
    unsigned char *img = make_image(1, HDR("<f4", "False", "(3, 4)"), true, f12, sizeof f12, &size);
    path_in(path, sizeof path, "bad.npy");

    CHECK(write_file(path, img, 0), "write %s", path);
    CHECK_FAILS(attn_npy_load(path, &t), ATTN_ERR_FORMAT, "bad.npy: truncated: 0 bytes");
    CHECK(write_file(path, img, 3), "write %s", path);
    CHECK_FAILS(attn_npy_load(path, &t), ATTN_ERR_FORMAT, "bad.npy: truncated: 3 bytes");
    CHECK(write_file(path, img, 9), "write %s", path);
    CHECK_FAILS(attn_npy_load(path, &t), ATTN_ERR_FORMAT, "bad.npy: truncated: 9 bytes is too short");
    CHECK(write_file(path, img, 40), "write %s", path);
    CHECK_FAILS(attn_npy_load(path, &t), ATTN_ERR_FORMAT,
                "bad.npy: header length 118 runs past the end of the file: the header would end at byte 128, the "
                "file has 40 bytes");
    CHECK(write_file(path, img, size - 28), "write %s", path);
    memset(&t, 0x5a, sizeof t);
    CHECK_FAILS(attn_npy_load(path, &t), ATTN_ERR_FORMAT,
                "bad.npy: truncated: shape (3, 4) of f32 needs 48 data bytes, the file has 20");
    CHECK(is_absent(&t), "out not absent after a truncated file");
    {
        /* A header claiming 4 TB over 8 bytes of data: refused without
         * trying to allocate 4 TB (which AddressSanitizer would abort on). */
        size_t hs;
        unsigned char *huge = make_image(1, HDR("<f4", "False", "(1000000000000,)"), true, f12, 8, &hs);
        CHECK(write_file(path, huge, hs), "write %s", path);
        CHECK_FAILS(attn_npy_load(path, &t), ATTN_ERR_FORMAT,
                    "bad.npy: truncated: shape (1000000000000,) of f32 needs 4000000000000 data bytes, the file has 8");
        free(huge);
    }
    {
        unsigned char *longer = malloc(size + 5000);
        memcpy(longer, img, size);
        memset(longer + size, 0, 5000);
        CHECK(write_file(path, longer, size + 5000), "write %s", path);
        CHECK_FAILS(attn_npy_load(path, &t), ATTN_ERR_FORMAT,
                    "bad.npy: trailing bytes: shape (3, 4) of f32 needs 48 data bytes, the file has 5048");
        free(longer);
    }
    /* Through a pipe, where no file size hints at the truncation: the read
     * loop itself must notice. */
    {
        const size_t cuts[3] = {size - 28, size, size + 3};
        const char *needles[3] = {"truncated: shape (3, 4) of f32 needs 48 data bytes, the file has 20", NULL,
                                  "trailing bytes: shape (3, 4) of f32 needs 48 data bytes, the file has 51"};
        unsigned char *padded = calloc(1, size + 3);
        memcpy(padded, img, size);
        for (int k = 0; k < 3; k++) {
            int fds[2];
            if (!CHECK(pipe(fds) == 0, "pipe"))
                break;
            CHECK(write(fds[1], padded, cuts[k]) == (ssize_t)cuts[k], "write to the pipe");
            close(fds[1]);
            char pp[64];
            snprintf(pp, sizeof pp, "/proc/self/fd/%d", fds[0]);
            memset(&t, 0x5a, sizeof t);
            if (needles[k]) {
                CHECK_FAILS(attn_npy_load(pp, &t), ATTN_ERR_FORMAT, needles[k]);
                CHECK(is_absent(&t), "out not absent after a refusal through a pipe");
            } else {
                CHECK_OK(attn_npy_load(pp, &t));
                CHECK(t.rank == 2 && t.data && memcmp(t.data, f12, sizeof f12) == 0, "pipe read wrongly");
                attn_tensor_free(&t);
            }
            close(fds[0]);
        }
        free(padded);
    }
    img[6] = 2; /* a 1.0 image read as 2.0: its length field is now wrong */
    CHECK(write_file(path, img, size), "write %s", path);
    CHECK_FAILS(attn_npy_load(path, &t), ATTN_ERR_FORMAT, "bad.npy: header");
    img[6] = 1;
    img[10 + 11] = '>';
    CHECK(write_file(path, img, size), "write %s", path);
    CHECK_FAILS(attn_npy_load(path, &t), ATTN_ERR_FORMAT, "bad.npy: dtype '>f4' is big-endian");
    img[10 + 11] = '<';
    free(img);

    unsigned char bools[4] = {0, 1, 3, 1};
    img = make_image(1, HDR("|b1", "False", "(4,)"), true, bools, 4, &size);
    CHECK(write_file(path, img, size), "write %s", path);
    CHECK_FAILS(attn_npy_load(path, &t), ATTN_ERR_FORMAT, "bad.npy: bool element 2 (file offset 130) is 3");
    CHECK(is_absent(&t), "out not absent after a bad bool");
    free(img);

    /* And a good file reads. */
    img = make_image(3, HDR("<f4", "False", "(3, 4)"), true, f12, sizeof f12, &size);
    CHECK(write_file(path, img, size), "write %s", path);
    CHECK_OK(attn_npy_load(path, &t));
    CHECK(t.rank == 2 && t.data && memcmp(t.data, f12, sizeof f12) == 0, "version 3.0 file read wrongly");
    attn_tensor_free(&t);
    free(img);
    unlink(path);
}

static void test_serialize_errors(void)
{
    float x[4] = {0};
    attn_tensor t = attn_tensor_1d(x, ATTN_F32, 4);
    void *bytes = x;
    size_t size = 99;
    CHECK_FAILS(attn_npy_serialize(NULL, &bytes, &size), ATTN_ERR_MISUSE, "attn_npy_serialize: t is NULL");
    CHECK(bytes == NULL && size == 0, "*bytes not NULL after a failure");
    CHECK_FAILS(attn_npy_serialize(&t, NULL, &size), ATTN_ERR_MISUSE, "bytes is NULL");
    CHECK_FAILS(attn_npy_serialize(&t, &bytes, NULL), ATTN_ERR_MISUSE, "size is NULL");
    t.dtype = (attn_dtype)9;
    bytes = x;
    CHECK_FAILS(attn_npy_serialize(&t, &bytes, &size), ATTN_ERR_INVALID, "unknown dtype 9");
    CHECK(bytes == NULL, "*bytes not NULL after a failure");
    t.dtype = ATTN_BF16; /* a valid attn dtype that .npy has no type for */
    bytes = x;
    CHECK_FAILS(attn_npy_serialize(&t, &bytes, &size), ATTN_ERR_INVALID, "dtype bf16, which .npy cannot hold");
    CHECK(bytes == NULL && size == 0, "*bytes not NULL after refusing bf16");
    t.dtype = ATTN_F32;
    t.rank = 0;
    CHECK_FAILS(attn_npy_serialize(&t, &bytes, &size), ATTN_ERR_INVALID, "rank 0");
    t.rank = 1;
    t.data = NULL;
    CHECK_FAILS(attn_npy_serialize(&t, &bytes, &size), ATTN_ERR_MISUSE, "data pointer is NULL");
}

/* Nothing but `keep` (or nothing at all) in dir. */
static void check_dir_holds(const char *dir, int want, const char *when)
{
    char names[512];
    int n = count_entries(dir, names, sizeof names);
    CHECK(n == want, "%s: %s holds %d entries (%s), expected %d", when, dir, n, names, want);
}

static void test_save(void)
{
    char dir[300], path[400];
    snprintf(dir, sizeof dir, "%s/save", tmpdir);
    CHECK(mkdir(dir, 0700) == 0, "mkdir %s", dir);
    snprintf(path, sizeof path, "%s/out.npy", dir);
    float f[6] = {1, 2, 3, 4, 5, 6};
    attn_tensor t = attn_tensor_2d(f, ATTN_F32, 2, 3);

    /* Into a directory that does not exist. */
    char nodir[450];
    snprintf(nodir, sizeof nodir, "%s/no-such-dir/out.npy", dir);
    CHECK_FAILS(attn_npy_save(nodir, &t), ATTN_ERR_IO, "no-such-dir/out.npy: cannot create the temporary file");
    CHECK(strstr(attn_errmsg(), "No such file or directory") != NULL, "no strerror in '%s'", attn_errmsg());
    check_dir_holds(dir, 0, "after a save into a missing directory");

    /* A tensor the writer cannot write: nothing is created. */
    attn_tensor bad = t;
    bad.dtype = (attn_dtype)9;
    CHECK_FAILS(attn_npy_save(path, &bad), ATTN_ERR_INVALID, "out.npy: not written: attn_npy_serialize: t has unknown dtype 9");
    check_dir_holds(dir, 0, "after a save of an unknown dtype");
    CHECK_FAILS(attn_npy_save(NULL, &t), ATTN_ERR_MISUSE, "path is NULL");
    CHECK_FAILS(attn_npy_save(path, NULL), ATTN_ERR_MISUSE, "t is NULL");
    check_dir_holds(dir, 0, "after saves with NULL arguments");

    /* Over an existing, longer file: replaced entirely, permissions kept. */
    unsigned char junk[20000];
    memset(junk, 'Z', sizeof junk);
    CHECK(write_file(path, junk, sizeof junk), "write %s", path);
    CHECK(chmod(path, 0640) == 0, "chmod");
    CHECK_OK(attn_npy_save(path, &t));
    void *want;
    size_t wsize, fsize;
    CHECK_OK(attn_npy_serialize(&t, &want, &wsize));
    unsigned char *got = read_file(path, &fsize);
    CHECK(got && fsize == wsize && memcmp(got, want, wsize) == 0, "save over a 20000-byte file left %zu bytes, "
          "expected exactly the %zu-byte image", fsize, wsize);
    free(got);
    struct stat sb;
    CHECK(stat(path, &sb) == 0 && (sb.st_mode & 0777) == 0640, "mode 0%o after replacing a 0640 file",
          (unsigned)(sb.st_mode & 0777));
    check_dir_holds(dir, 1, "after a save over a file");

    /* A new file gets 0666 & ~umask, not mkstemp's 0600. */
    char fresh[450];
    snprintf(fresh, sizeof fresh, "%s/fresh.npy", dir);
    mode_t mask = umask(022);
    umask(mask);
    CHECK_OK(attn_npy_save(fresh, &t));
    CHECK(stat(fresh, &sb) == 0 && (sb.st_mode & 0777) == (0666 & ~mask), "new file has mode 0%o, umask 0%o",
          (unsigned)(sb.st_mode & 0777), (unsigned)mask);
    unlink(fresh);

    /* The target is a directory: rename fails, the directory stays, and the
     * temporary is removed. */
    char sub[450];
    snprintf(sub, sizeof sub, "%s/adir", dir);
    CHECK(mkdir(sub, 0700) == 0, "mkdir %s", sub);
    CHECK_FAILS(attn_npy_save(sub, &t), ATTN_ERR_IO, "adir: cannot rename the temporary file over it");
    CHECK(stat(sub, &sb) == 0 && S_ISDIR(sb.st_mode), "the directory target was replaced");
    check_dir_holds(dir, 2, "after a save over a directory");
    rmdir(sub);

    /* A write that fails half way (the file size limit stands in for a full
     * disk): the old file is untouched and the temporary removed. */
    {
        static double big[20000];
        attn_tensor tb = attn_tensor_1d(big, ATTN_F64, 20000);
        struct rlimit old, lim;
        CHECK(getrlimit(RLIMIT_FSIZE, &old) == 0, "getrlimit");
        void (*prev)(int) = signal(SIGXFSZ, SIG_IGN);
        lim = old;
        lim.rlim_cur = 4096;
        CHECK(setrlimit(RLIMIT_FSIZE, &lim) == 0, "setrlimit");
        CHECK_FAILS(attn_npy_save(path, &tb), ATTN_ERR_IO, "out.npy: cannot write it: File too large; the file was "
                                                         "not changed");
        CHECK(setrlimit(RLIMIT_FSIZE, &old) == 0, "restore the file size limit");
        signal(SIGXFSZ, prev);
        got = read_file(path, &fsize);
        CHECK(got && fsize == wsize && memcmp(got, want, wsize) == 0, "a failed save changed the target");
        free(got);
        check_dir_holds(dir, 1, "after a failed write");
    }
    attn_free(want);
    unlink(path);
    rmdir(dir);
}

/* ------------------------------------------------------------------------
 * Against NumPy (files written by tests/npy_crosscheck.py)
 * ------------------------------------------------------------------------ */

/* Element i of the arrays npy_crosscheck.py writes: i / 3 (exact IEEE
 * division in both languages, then rounded to f32 where f32). */
static double np_value(int64_t i, double shift) { return (double)i / 3.0 + shift; }

static void expect_np(const char *dir, const char *file, attn_dtype dt, int rank, const int64_t *shape, double shift,
                      int *count)
{
    char path[600];
    snprintf(path, sizeof path, "%s/%s", dir, file);
    attn_tensor t;
    if (!CHECK_OK(attn_npy_load(path, &t)))
        return;
    (*count)++;
    bool ok = t.dtype == dt && t.rank == rank;
    for (int d = 0; ok && d < rank; d++)
        ok = t.shape[d] == shape[d];
    CHECK(ok, "%s: dtype %s rank %d, expected %s rank %d", file, attn_dtype_name(t.dtype), t.rank,
          attn_dtype_name(dt), rank);
    int64_t n = attn_tensor_numel(&t);
    for (int64_t i = 0; ok && i < n; i++) {
        if (dt == ATTN_F32)
            ok = ((float *)t.data)[i] == (float)np_value(i, shift);
        else if (dt == ATTN_F64)
            ok = ((double *)t.data)[i] == np_value(i, shift);
        else if (dt == ATTN_F16) { /* NumPy's rounding of the float to half, and attn's */
            float f = (float)np_value(i, shift);
            uint16_t h;
            attn_f16_from_f32(&h, &f, 1);
            ok = ((uint16_t *)t.data)[i] == h;
        } else
            ok = ((unsigned char *)t.data)[i] == (i % 3 == 0);
        CHECK(ok, "%s: element %lld differs", file, (long long)i);
    }
    attn_tensor_free(&t);
}

static void expect_np_refused(const char *dir, const char *file, const char *needle, int *count)
{
    char path[600];
    snprintf(path, sizeof path, "%s/%s", dir, file);
    attn_tensor t;
    CHECK_FAILS(attn_npy_load(path, &t), ATTN_ERR_FORMAT, needle);
    (*count)++;
}

static void test_numpy(const char *dir)
{
    int count = 0;
    expect_np(dir, "np_f32_2d.npy", ATTN_F32, 2, (int64_t[]){3, 4}, 0.0, &count);
    expect_np(dir, "np_f64_4d.npy", ATTN_F64, 4, (int64_t[]){2, 3, 1, 5}, -7.0, &count);
    expect_np(dir, "np_bool_3d.npy", ATTN_BOOL, 3, (int64_t[]){2, 2, 3}, 0.0, &count);
    expect_np(dir, "np_f32_1d.npy", ATTN_F32, 1, (int64_t[]){7}, 0.0, &count);
    expect_np(dir, "np_f64_v2.npy", ATTN_F64, 2, (int64_t[]){4, 2}, 0.0, &count);
    expect_np(dir, "np_f32_v3.npy", ATTN_F32, 3, (int64_t[]){2, 2, 2}, 0.0, &count);
    expect_np(dir, "np_bool_v3.npy", ATTN_BOOL, 1, (int64_t[]){5}, 0.0, &count);
    expect_np(dir, "np_empty.npy", ATTN_F32, 2, (int64_t[]){0, 3}, 0.0, &count);
    expect_np(dir, "np_f16_2d.npy", ATTN_F16, 2, (int64_t[]){4, 9}, -5.0, &count);
    {
        char path[600];
        snprintf(path, sizeof path, "%s/np_f16_special.npy", dir);
        attn_tensor t;
        if (CHECK_OK(attn_npy_load(path, &t))) {
            const uint16_t *h = t.data; /* NaN, Inf, -Inf, -0, 2^-24, 65504, 1e-8 (-> 0), 7e4 (-> Inf) */
            CHECK(t.dtype == ATTN_F16 && t.rank == 1 && t.shape[0] == 8 && (h[0] & 0x7c00) == 0x7c00 &&
                      (h[0] & 0x3ff) != 0 && h[1] == 0x7c00 && h[2] == 0xfc00 && h[3] == 0x8000 && h[4] == 1 &&
                      h[5] == 0x7bff && h[6] == 0 && h[7] == 0x7c00,
                  "np_f16_special.npy read wrongly");
            float f[8];
            attn_f32_from_f16(f, h, 8);
            CHECK(isnan(f[0]) && f[1] == INFINITY && f[4] == 0x1p-24f && f[5] == 65504.0f,
                  "np_f16_special.npy decoded wrongly");
            count++;
        }
        attn_tensor_free(&t);
    }
    {
        char path[600];
        snprintf(path, sizeof path, "%s/np_special.npy", dir);
        attn_tensor t;
        if (CHECK_OK(attn_npy_load(path, &t))) {
            const double *d = t.data;
            CHECK(t.dtype == ATTN_F64 && t.rank == 1 && t.shape[0] == 6 && isnan(d[0]) && d[1] == INFINITY &&
                      d[2] == -INFINITY && d[3] == 0.0 && signbit(d[3]) && d[4] == 4.9406564584124654e-324 &&
                      d[5] == 1.7976931348623157e308,
                  "np_special.npy read wrongly");
            count++;
        }
        attn_tensor_free(&t);
    }
    expect_np_refused(dir, "np_fortran.npy", "fortran_order is True", &count);
    expect_np_refused(dir, "np_big.npy", "dtype '>f4' is big-endian", &count);
    expect_np_refused(dir, "np_int.npy", "is an integer dtype", &count);
    expect_np_refused(dir, "np_scalar.npy", "shape () is a scalar", &count);
    expect_np_refused(dir, "np_rank5.npy", "has rank 5", &count);
    expect_np_refused(dir, "np_complex.npy", "complex", &count);

    /* Files for NumPy to read back. */
    char path[600];
    float f12[12];
    double d12[12];
    unsigned char b12[12];
    for (int i = 0; i < 12; i++) {
        f12[i] = (float)np_value(i, 0.0);
        d12[i] = np_value(i, 0.0);
        b12[i] = i % 3 == 0 ? 1 : 0;
    }
    snprintf(path, sizeof path, "%s/c_f32_2d.npy", dir);
    attn_tensor t = attn_tensor_2d(f12, ATTN_F32, 3, 4);
    CHECK_OK(attn_npy_save(path, &t));
    snprintf(path, sizeof path, "%s/c_f64_transposed.npy", dir);
    t = attn_tensor_2d(d12, ATTN_F64, 4, 3); /* the transpose of d12 seen as (3, 4) */
    t.stride[0] = 1;
    t.stride[1] = 4;
    CHECK_OK(attn_npy_save(path, &t));
    snprintf(path, sizeof path, "%s/c_bool_4d.npy", dir);
    t = attn_tensor_4d(b12, ATTN_BOOL, 2, 1, 3, 2);
    CHECK_OK(attn_npy_save(path, &t));
    snprintf(path, sizeof path, "%s/c_f32_1d.npy", dir);
    t = attn_tensor_1d(f12, ATTN_F32, 5);
    CHECK_OK(attn_npy_save(path, &t));
    snprintf(path, sizeof path, "%s/c_empty.npy", dir);
    t = attn_tensor_2d(NULL, ATTN_F64, 0, 3);
    CHECK_OK(attn_npy_save(path, &t));
    uint16_t h12[12];
    attn_f16_from_f32(h12, f12, 12);
    snprintf(path, sizeof path, "%s/c_f16_2d.npy", dir);
    t = attn_tensor_2d(h12, ATTN_F16, 3, 4);
    CHECK_OK(attn_npy_save(path, &t));
    printf("numpy cross-check: %d files read, 6 written in %s\n", count, dir);
}

int main(void)
{
    uint64_t seed = test_seed();
    printf("seed %llu (set ATTN_TEST_SEED to replay)\n", (unsigned long long)seed);
    const char *base = getenv("TMPDIR");
    snprintf(tmpdir, sizeof tmpdir, "%s/attn_test_npy.XXXXXX", base && *base ? base : "/tmp");
    if (!mkdtemp(tmpdir)) {
        fprintf(stderr, "cannot create a temporary directory %s: %s\n", tmpdir, strerror(errno));
        return 1;
    }

    test_round_trips(seed);
    test_strided();
    test_zero_size();
    test_versions();
    test_refusals_preamble();
    test_refusals_header();
    test_load_errors();
    test_serialize_errors();
    test_save();
    const char *np = getenv("ATTN_NUMPY_DIR");
    if (np && *np)
        test_numpy(np);

    check_dir_holds(tmpdir, 0, "at the end");
    rmdir(tmpdir);
    return test_summary("test_npy");
}
