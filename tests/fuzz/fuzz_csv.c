/*
 * fuzz_csv.c - fuzz target for the tool's CSV matrix reader (cli_csv_parse
 * in tools/csv.c, and cli_csv_load on the same bytes).
 *
 * Properties checked besides the sanitizers' (tests/fuzz/fuzz.h):
 *   - a refusal is ATTN_ERR_FORMAT (or NOMEM), leaves *out absent and a
 *     message naming the input;
 *   - an accepted text gives a contiguous f64 (rows, cols) tensor, both >= 1;
 *   - cli_csv_load of the bytes as a file gives the same status and values.
 */
#include "fuzz.h"

#include "csv.h"

#define NAME "fuzz.csv"

static int is_absent(const attn_tensor *t)
{
    attn_tensor zero;
    memset(&zero, 0, sizeof zero);
    return memcmp(t, &zero, sizeof zero) == 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[512];
    attn_tensor t;
    attn_status st = cli_csv_parse((const char *)data, size, NAME, &t, err, sizeof err);
    if (st == ATTN_OK) {
        FUZZ_CHECK(attn_tensor_check(&t, "t") == ATTN_OK, "accepted tensor is invalid: %s", attn_errmsg());
        FUZZ_CHECK(t.dtype == ATTN_F64 && t.rank == 2 && t.shape[0] >= 1 && t.shape[1] >= 1 && t.stride[1] == 1 &&
                       t.stride[0] == t.shape[1],
                   "accepted as dtype %d rank %d (%lld, %lld)", (int)t.dtype, t.rank, (long long)t.shape[0],
                   (long long)t.shape[1]);
    } else {
        FUZZ_CHECK(st == ATTN_ERR_FORMAT || st == ATTN_ERR_NOMEM, "status %d (%s)", (int)st, err);
        FUZZ_CHECK(is_absent(&t), "a refusal left *out set");
        FUZZ_CHECK(strstr(err, NAME) != NULL, "the message does not name the input: %s", err);
    }

    const char *path = fuzz_as_file(data, size);
    if (path) {
        attn_tensor u;
        char err2[512];
        attn_status su = cli_csv_load(path, &u, err2, sizeof err2);
        FUZZ_CHECK(su == st, "cli_csv_parse gives %d, cli_csv_load %d (%s)", (int)st, (int)su, err2);
        if (su == ATTN_OK)
            FUZZ_CHECK(u.shape[0] == t.shape[0] && u.shape[1] == t.shape[1] &&
                           memcmp(u.data, t.data, (size_t)attn_tensor_numel(&t) * sizeof(double)) == 0,
                       "cli_csv_parse and cli_csv_load read different matrices");
        attn_tensor_free(&u);
    }
    fuzz_expect_status(st == ATTN_OK, err);
    attn_tensor_free(&t);
    return 0;
}
