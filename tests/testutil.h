/*
 * testutil.h - the small harness every C test uses.
 *
 * A test binary calls CHECK(...) for each comparison; failures print what was
 * compared, with which parameters and seed, and the binary ends with
 * test_summary(), which prints "N passed, N failed" and returns the exit code
 * (non-zero on any failure).
 */
#ifndef ATTN_TESTUTIL_H
#define ATTN_TESTUTIL_H

#include "attn.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

extern int test_passed, test_failed;

/* Record one check; on failure print the formatted reason. */
bool test_check(bool ok, const char *file, int line, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
#define CHECK(cond, ...) test_check((cond), __FILE__, __LINE__, __VA_ARGS__)
/* A call that must succeed; prints attn_errmsg() otherwise. */
#define CHECK_OK(call) test_check((call) == ATTN_OK, __FILE__, __LINE__, "%s failed: %s", #call, attn_errmsg())
/* A call that must fail with `status` and a message containing `needle`. */
#define CHECK_FAILS(call, status, needle) test_check_fails((call), (status), (needle), #call, __FILE__, __LINE__)
bool test_check_fails(attn_status got, attn_status want, const char *needle, const char *what, const char *file,
                      int line);

/* Print "N passed, N failed" and return the exit status. */
int test_summary(const char *name);

/* A small deterministic generator (splitmix64) so every test prints and can
 * replay its seed.  The seed comes from ATTN_TEST_SEED if set, else the clock. */
typedef struct test_rng {
    uint64_t s;
} test_rng;
uint64_t test_seed(void);
uint64_t test_next(test_rng *r);
double test_uniform(test_rng *r);       /* [0, 1) */
double test_normal(test_rng *r);        /* N(0, 1) */
int64_t test_int(test_rng *r, int64_t lo, int64_t hi); /* [lo, hi] */

/* |got - want| <= atol + rtol * |want|, NaN only matching NaN, and infinities
 * matching exactly. */
bool test_close(double got, double want, double atol, double rtol);

#endif
