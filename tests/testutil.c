#include "testutil.h"

#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int test_passed, test_failed;

bool test_check(bool ok, const char *file, int line, const char *fmt, ...)
{
    if (ok) {
        test_passed++;
        return true;
    }
    test_failed++;
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "FAIL %s:%d: ", file, line);
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    return false;
}

bool test_check_fails(attn_status got, attn_status want, const char *needle, const char *what, const char *file,
                      int line)
{
    const char *msg = attn_errmsg();
    bool ok = got == want && (!needle || strstr(msg, needle) != NULL);
    return test_check(ok, file, line, "%s: expected status %d with a message containing '%s', got %d: '%s'", what,
                      (int)want, needle ? needle : "", (int)got, msg);
}

int test_summary(const char *name)
{
    printf("%s: %d passed, %d failed\n", name, test_passed, test_failed);
    return test_failed ? 1 : 0;
}

uint64_t test_seed(void)
{
    const char *env = getenv("ATTN_TEST_SEED");
    if (env && *env)
        return strtoull(env, NULL, 0);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000007ull ^ (uint64_t)ts.tv_nsec;
}

uint64_t test_next(test_rng *r)
{
    uint64_t z = (r->s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

double test_uniform(test_rng *r) { return (double)(test_next(r) >> 11) * (1.0 / 9007199254740992.0); }

double test_normal(test_rng *r)
{
    double u1 = test_uniform(r), u2 = test_uniform(r);
    return sqrt(-2.0 * log(1.0 - u1)) * cos(6.283185307179586 * u2);
}

int64_t test_int(test_rng *r, int64_t lo, int64_t hi) { return lo + (int64_t)(test_next(r) % (uint64_t)(hi - lo + 1)); }

bool test_close(double got, double want, double atol, double rtol)
{
    if (isnan(want) || isnan(got))
        return isnan(want) && isnan(got);
    if (isinf(want) || isinf(got))
        return got == want;
    return fabs(got - want) <= atol + rtol * fabs(want);
}
