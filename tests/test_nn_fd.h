/*
 * test_nn_fd.h - central finite differences for the layer tests (header-only,
 * included by tests/test_nn_*.c).
 *
 * The loss is L = sum_i r_i y_i in double over the f32 forward's outputs y,
 * with fixed random r; the analytic gradient is the backward with dout = r.
 * The FD derivative of an f32 element x is D(h) = (L(x+) - L(x-)) / (x+ - x-),
 * with x+- the floats nearest x +- h, extrapolated as D(h/2) + (D(h/2) -
 * D(h)) / 3 (Richardson), which cancels the h^2 truncation term: a single
 * D(h) missed the gradient of a random transformer layer by 15 % at h = 1e-2
 * for one seed in a few thousand.  What remains is truncation ~ h^4 times
 * L's fifth derivative plus f32 rounding in the forward ~ 2^-24 sum_i
 * |r_i y_i| * depth / h; the tolerances in each test are a few times the
 * larger of the two.
 */
#ifndef NN_FD_H
#define NN_FD_H

#include "testutil.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef double (*fd_loss_fn)(void *ctx);

static inline void fd_fill(test_rng *r, float *x, int64_t n, double scale)
{
    for (int64_t i = 0; i < n; i++)
        x[i] = (float)(scale * test_normal(r));
}

static inline double fd_dot(const float *r, const float *y, int64_t n)
{
    double s = 0;
    for (int64_t i = 0; i < n; i++)
        s += (double)r[i] * y[i];
    return s;
}

/* (L(x+) - L(x-)) / (x+ - x-) with x+- the floats nearest x[i] +- h. */
static inline double fd_central(float *x, int64_t i, double h, fd_loss_fn loss, void *ctx)
{
    float x0 = x[i];
    float xp = (float)(x0 + h), xm = (float)(x0 - h);
    x[i] = xp;
    double lp = loss(ctx);
    x[i] = xm;
    double lm = loss(ctx);
    x[i] = x0;
    return (lp - lm) / ((double)xp - (double)xm);
}

/* Compare g_an[i] with the FD derivative for up to `max_checks` elements of x
 * (all when n <= max_checks, else a random sample).  One CHECK per tensor,
 * reporting the worst element. */
static inline void fd_check(const char *what, float *x, const float *g_an, int64_t n, fd_loss_fn loss, void *ctx, double h,
                     double atol, double rtol, test_rng *rng, int max_checks)
{
    double worst = 0, w_an = 0, w_fd = 0;
    int64_t w_i = -1;
    int ok = 1;
    for (int c = 0; c < (n <= max_checks ? n : max_checks); c++) {
        int64_t i = n <= max_checks ? c : test_int(rng, 0, n - 1);
        double fd1 = fd_central(x, i, h, loss, ctx), fd2 = fd_central(x, i, h / 2, loss, ctx);
        double fd = fd2 + (fd2 - fd1) / 3; /* Richardson: the h^2 terms cancel */
        double err = fabs(g_an[i] - fd), lim = atol + rtol * fabs(fd);
        if (err / lim > worst) {
            worst = err / lim;
            w_i = i, w_an = g_an[i], w_fd = fd;
        }
        if (!(err <= lim))
            ok = 0;
    }
    CHECK(ok, "%s: gradient differs from finite differences: element %lld analytic %.8g fd %.8g (|err| / tol = %.3g, "
              "atol %.1e rtol %.1e h %.1e)", what, (long long)w_i, w_an, w_fd, worst, atol, rtol, h);
}

#endif
