/*
 * fuzz_npy.c - fuzz target for the .npy reader (attn_npy_parse, and
 * attn_npy_load on the same bytes).
 *
 * Properties checked on every input besides the sanitizers' (tests/fuzz/fuzz.h):
 *   - a refusal is ATTN_ERR_FORMAT (or NOMEM), leaves *out absent and its
 *     message names the input;
 *   - an accepted image gives a valid contiguous tensor of rank 1..4 whose
 *     bytes are exactly the image's last bytes (no header byte read as data,
 *     no trailing byte ignored), bools 0 or 1;
 *   - it survives a round trip: attn_npy_serialize, then attn_npy_parse again,
 *     gives the same dtype, shape and bytes;
 *   - attn_npy_load of the same bytes as a file gives the same status and
 *     the same tensor (the file reader is a separate three-step path).
 */
#include "fuzz.h"

#include <attn.h>

#define NAME "fuzz.npy"

static int is_absent(const attn_tensor *t)
{
    attn_tensor zero;
    memset(&zero, 0, sizeof zero);
    return memcmp(t, &zero, sizeof zero) == 0;
}

static size_t nbytes(const attn_tensor *t) { return (size_t)attn_tensor_numel(t) * attn_dtype_size(t->dtype); }

static void check_same(const attn_tensor *a, const attn_tensor *b, const char *what)
{
    FUZZ_CHECK(a->dtype == b->dtype && a->rank == b->rank, "%s: dtype %d rank %d vs dtype %d rank %d", what,
               (int)a->dtype, a->rank, (int)b->dtype, b->rank);
    for (int d = 0; d < a->rank; d++)
        FUZZ_CHECK(a->shape[d] == b->shape[d], "%s: dimension %d is %lld vs %lld", what, d, (long long)a->shape[d],
                   (long long)b->shape[d]);
    FUZZ_CHECK(memcmp(a->data, b->data, nbytes(a)) == 0, "%s: the elements differ", what);
}

static void check_accepted(const attn_tensor *t, const uint8_t *data, size_t size)
{
    FUZZ_CHECK(attn_tensor_check(t, "t") == ATTN_OK, "accepted tensor is invalid: %s", attn_errmsg());
    FUZZ_CHECK(t->rank >= 1 && t->rank <= 4, "rank %d", t->rank);
    int64_t stride = 1;
    for (int d = t->rank - 1; d >= 0; d--) {
        FUZZ_CHECK(t->stride[d] == stride, "not contiguous in dimension %d", d);
        stride *= t->shape[d] > 0 ? t->shape[d] : 1;
    }
    size_t n = nbytes(t);
    FUZZ_CHECK(n <= size, "%zu data bytes from a %zu-byte image", n, size);
    FUZZ_CHECK(n == 0 || memcmp(t->data, data + size - n, n) == 0, "the data are not the image's last %zu bytes", n);
    if (t->dtype == ATTN_BOOL)
        for (size_t i = 0; i < n; i++)
            FUZZ_CHECK(((const unsigned char *)t->data)[i] <= 1, "bool element %zu is %u", i,
                       ((const unsigned char *)t->data)[i]);

    void *img;
    size_t img_size;
    attn_status st = attn_npy_serialize(t, &img, &img_size);
    FUZZ_CHECK(st == ATTN_OK, "cannot serialise an accepted tensor: %s", attn_errmsg());
    attn_tensor back;
    st = attn_npy_parse(img, img_size, "round trip", &back);
    FUZZ_CHECK(st == ATTN_OK, "the serialised image is refused: %s", attn_errmsg());
    check_same(t, &back, "round trip");
    attn_tensor_free(&back);
    attn_free(img);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    attn_tensor t;
    attn_status st = attn_npy_parse(data, size, NAME, &t);
    char why[512];
    snprintf(why, sizeof why, "%s", st == ATTN_OK ? "" : attn_errmsg());
    if (st == ATTN_OK) {
        check_accepted(&t, data, size);
    } else {
        FUZZ_CHECK(st == ATTN_ERR_FORMAT || st == ATTN_ERR_NOMEM, "status %d (%s)", (int)st, attn_errmsg());
        FUZZ_CHECK(is_absent(&t), "a refusal left *out set");
        FUZZ_CHECK(strstr(attn_errmsg(), NAME) != NULL, "the message does not name the input: %s", attn_errmsg());
    }

    const char *path = fuzz_as_file(data, size);
    if (path) {
        attn_tensor u;
        attn_status su = attn_npy_load(path, &u);
        FUZZ_CHECK(su == st, "attn_npy_parse gives %d, attn_npy_load %d (%s)", (int)st, (int)su,
                   su != ATTN_OK ? attn_errmsg() : "loaded");
        if (su == ATTN_OK) {
            check_same(&t, &u, "parse vs load");
        } else {
            FUZZ_CHECK(is_absent(&u), "a refusal of attn_npy_load left *out set");
            FUZZ_CHECK(strstr(attn_errmsg(), path) != NULL, "the message does not name the file: %s",
                       attn_errmsg());
        }
        attn_tensor_free(&u);
    }
    fuzz_expect_status(st == ATTN_OK, why);
    attn_tensor_free(&t);
    return 0;
}
