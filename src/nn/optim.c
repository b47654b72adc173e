/*
 * optim.c - SGD with momentum, Adam and AdamW (PyTorch's update rules),
 * clipping by global norm, learning-rate schedules.  Per-element arithmetic
 * in double; element-independent loops, so the thread count never changes a
 * result.
 */
#include "nn/nn.h"

#include <omp.h>

static attn_status check_hyper(const char *fn, int64_t n, double lr, double wd)
{
    NN_NONNEG(fn, n);
    if (!(lr >= 0) || isinf(lr))
        return attn_fail(ATTN_ERR_INVALID, "%s: lr = %g must be finite and >= 0", fn, lr);
    if (!(wd >= 0) || isinf(wd))
        return attn_fail(ATTN_ERR_INVALID, "%s: weight_decay = %g must be finite and >= 0", fn, wd);
    return ATTN_OK;
}

attn_status attn_sgd_step(float *params, float *buf, const float *grads, int64_t n, double lr, double momentum,
                          double weight_decay)
{
    static const char fn[] = "attn_sgd_step";
    NN_NOTNULL(fn, params);
    NN_NOTNULL(fn, grads);
    attn_status st = check_hyper(fn, n, lr, weight_decay);
    if (st != ATTN_OK)
        return st;
    if (!(momentum >= 0 && momentum < 1))
        return attn_fail(ATTN_ERR_INVALID, "%s: momentum = %g is outside [0, 1)", fn, momentum);
    if (momentum > 0)
        NN_NOTNULL(fn, buf);
    int nth = attn_nn_threads(4.0 * (double)n);
#pragma omp parallel for num_threads(nth) schedule(static)
    for (int64_t e = 0; e < n; e++) {
        double p = params[e], g = (double)grads[e] + weight_decay * p;
        if (momentum > 0) {
            double b = momentum * buf[e] + g;
            buf[e] = (float)b;
            g = b;
        }
        params[e] = (float)(p - lr * g);
    }
    return ATTN_OK;
}

static attn_status adam(const char *fn, float *params, float *m, float *v, const float *grads, int64_t n, int64_t t,
                        double lr, double beta1, double beta2, double eps, double wd, int decoupled)
{
    NN_NOTNULL(fn, params);
    NN_NOTNULL(fn, m);
    NN_NOTNULL(fn, v);
    NN_NOTNULL(fn, grads);
    attn_status st = check_hyper(fn, n, lr, wd);
    if (st != ATTN_OK)
        return st;
    if (t < 1)
        return attn_fail(ATTN_ERR_INVALID, "%s: step t = %lld must be >= 1", fn, (long long)t);
    if (!(beta1 >= 0 && beta1 < 1) || !(beta2 >= 0 && beta2 < 1))
        return attn_fail(ATTN_ERR_INVALID, "%s: betas (%g, %g) must be in [0, 1)", fn, beta1, beta2);
    if (!(eps > 0) || isinf(eps))
        return attn_fail(ATTN_ERR_INVALID, "%s: eps = %g must be finite and > 0", fn, eps);
    double c1 = 1.0 - pow(beta1, (double)t), c2 = 1.0 - pow(beta2, (double)t);
    int nth = attn_nn_threads(16.0 * (double)n);
#pragma omp parallel for num_threads(nth) schedule(static)
    for (int64_t e = 0; e < n; e++) {
        double p = params[e], g = grads[e];
        if (decoupled)
            p -= lr * wd * p;
        else
            g += wd * p;
        double mm = beta1 * m[e] + (1.0 - beta1) * g;
        double vv = beta2 * v[e] + (1.0 - beta2) * g * g;
        m[e] = (float)mm;
        v[e] = (float)vv;
        params[e] = (float)(p - lr * (mm / c1) / (sqrt(vv / c2) + eps));
    }
    return ATTN_OK;
}

attn_status attn_adam_step(float *params, float *m, float *v, const float *grads, int64_t n, int64_t t, double lr,
                           double beta1, double beta2, double eps, double weight_decay)
{
    return adam("attn_adam_step", params, m, v, grads, n, t, lr, beta1, beta2, eps, weight_decay, 0);
}

attn_status attn_adamw_step(float *params, float *m, float *v, const float *grads, int64_t n, int64_t t, double lr,
                            double beta1, double beta2, double eps, double weight_decay)
{
    return adam("attn_adamw_step", params, m, v, grads, n, t, lr, beta1, beta2, eps, weight_decay, 1);
}

attn_status attn_clip_grad_norm(float *grads, int64_t n, double max_norm, double *norm)
{
    static const char fn[] = "attn_clip_grad_norm";
    NN_NOTNULL(fn, grads);
    NN_NONNEG(fn, n);
    if (!(max_norm > 0))
        return attn_fail(ATTN_ERR_INVALID, "%s: max_norm = %g must be > 0", fn, max_norm);
    double s = 0; /* serial: a fixed summation order */
    for (int64_t e = 0; e < n; e++)
        s += (double)grads[e] * grads[e];
    double nrm = sqrt(s);
    if (norm)
        *norm = nrm;
    if (nrm > max_norm) {
        double k = max_norm / (nrm + 1e-6);
        for (int64_t e = 0; e < n; e++)
            grads[e] = (float)(grads[e] * k);
    }
    return ATTN_OK;
}

double attn_lr_at(const attn_lr_schedule *s, int64_t step)
{
    if (!s)
        return 0.0;
    if (step < 0)
        step = 0;
    if (s->warmup_steps > 0 && step < s->warmup_steps) {
        double lr = s->base_lr * (double)(step + 1) / (double)s->warmup_steps;
        /* The product overflows for a base_lr near DBL_MAX (a corrupt
         * checkpoint's, say) although the result is at most base_lr: then
         * divide first (not always, which would change the last bit of
         * ordinary rates and so every trained model). */
        return isinf(lr) ? s->base_lr * ((double)(step + 1) / (double)s->warmup_steps) : lr;
    }
    if (!s->cosine)
        return s->base_lr;
    /* Any int64 warmup and total (a checkpoint's, say) are defined: total -
     * w is formed only when total > w >= 0, where it cannot overflow. */
    int64_t w = s->warmup_steps > 0 ? s->warmup_steps : 0;
    if (s->total_steps <= w || step >= s->total_steps)
        return s->min_lr;
    double progress = (double)(step - w) / (double)(s->total_steps - w);
    return s->min_lr + 0.5 * (s->base_lr - s->min_lr) * (1.0 + cos(3.14159265358979323846 * progress));
}

/* ---- a step over a whole model ---- */

const char *attn_optim_name(attn_optim_kind kind)
{
    switch (kind) {
    case ATTN_OPTIM_SGD: return "sgd";
    case ATTN_OPTIM_ADAM: return "adam";
    case ATTN_OPTIM_ADAMW: return "adamw";
    }
    return "unknown";
}

attn_status attn_optim_parse(const char *name, attn_optim_kind *kind)
{
    static const char fn[] = "attn_optim_parse";
    NN_NOTNULL(fn, name);
    NN_NOTNULL(fn, kind);
    for (int k = ATTN_OPTIM_SGD; k <= ATTN_OPTIM_ADAMW; k++)
        if (strcmp(name, attn_optim_name((attn_optim_kind)k)) == 0) {
            *kind = (attn_optim_kind)k;
            return ATTN_OK;
        }
    return attn_fail(ATTN_ERR_INVALID, "%s: unknown optimizer '%s' (sgd, adam, adamw)", fn, name);
}

attn_optimizer attn_optimizer_default(attn_optim_kind kind, double lr)
{
    attn_optimizer o;
    memset(&o, 0, sizeof o);
    o.kind = kind;
    o.lr.base_lr = lr;
    o.lr.min_lr = lr;
    o.beta1 = 0.9;
    o.beta2 = 0.999;
    o.eps = 1e-8;
    o.weight_decay = kind == ATTN_OPTIM_ADAMW ? 0.01 : 0.0;
    return o;
}

/* Every hyper-parameter checked before anything changes. */
static attn_status check_optimizer(const char *fn, const attn_optimizer *o)
{
    const attn_lr_schedule *s = &o->lr;
    if (o->kind != ATTN_OPTIM_SGD && o->kind != ATTN_OPTIM_ADAM && o->kind != ATTN_OPTIM_ADAMW)
        return attn_fail(ATTN_ERR_INVALID, "%s: unknown optimizer kind %d", fn, (int)o->kind);
    if (!(s->base_lr >= 0) || isinf(s->base_lr) || !(s->min_lr >= 0) || isinf(s->min_lr))
        return attn_fail(ATTN_ERR_INVALID, "%s: lr.base_lr = %g and lr.min_lr = %g must be finite and >= 0", fn,
                         s->base_lr, s->min_lr);
    if (!(o->weight_decay >= 0) || isinf(o->weight_decay))
        return attn_fail(ATTN_ERR_INVALID, "%s: weight_decay = %g must be finite and >= 0", fn, o->weight_decay);
    if (!(o->clip_norm >= 0) || isinf(o->clip_norm))
        return attn_fail(ATTN_ERR_INVALID, "%s: clip_norm = %g must be finite and >= 0 (0: no clipping)", fn,
                         o->clip_norm);
    if (o->kind == ATTN_OPTIM_SGD && !(o->momentum >= 0 && o->momentum < 1))
        return attn_fail(ATTN_ERR_INVALID, "%s: momentum = %g is outside [0, 1)", fn, o->momentum);
    if (o->kind != ATTN_OPTIM_SGD) {
        if (!(o->beta1 >= 0 && o->beta1 < 1) || !(o->beta2 >= 0 && o->beta2 < 1))
            return attn_fail(ATTN_ERR_INVALID, "%s: betas (%g, %g) must be in [0, 1)", fn, o->beta1, o->beta2);
        if (!(o->eps > 0) || isinf(o->eps))
            return attn_fail(ATTN_ERR_INVALID, "%s: eps = %g must be finite and > 0", fn, o->eps);
    }
    return ATTN_OK;
}

attn_status attn_optimizer_check(const attn_optimizer *opt)
{
    static const char fn[] = "attn_optimizer_check";
    NN_NOTNULL(fn, opt);
    return check_optimizer(fn, opt);
}

attn_status attn_model_step(attn_model *m, const attn_optimizer *opt, double *grad_norm, double *lr_used)
{
    static const char fn[] = "attn_model_step";
    NN_NOTNULL(fn, m);
    NN_NOTNULL(fn, opt);
    if (!m->params)
        return attn_fail(ATTN_ERR_MISUSE, "%s: the model is not allocated (attn_model_alloc)", fn);
    attn_status st = check_optimizer(fn, opt);
    if (st != ATTN_OK)
        return st;
    if (m->step < 0)
        return attn_fail(ATTN_ERR_INVALID, "%s: the model's step count %lld is negative", fn, (long long)m->step);
    if (m->step == INT64_MAX)
        return attn_fail(ATTN_ERR_OVERFLOW, "%s: the step count overflows", fn);
    double norm = 0;
    if (opt->clip_norm > 0)
        attn_clip_grad_norm(m->grads, m->count, opt->clip_norm, &norm);
    else if (grad_norm) {
        double s = 0; /* the same serial order as attn_clip_grad_norm */
        for (int64_t e = 0; e < m->count; e++)
            s += (double)m->grads[e] * m->grads[e];
        norm = sqrt(s);
    }
    double lr = attn_lr_at(&opt->lr, m->step);
    int64_t t = ++m->step;
    for (int64_t i = 0; i < m->n_tensors && st == ATTN_OK; i++) {
        const attn_param_info *p = &m->table[i];
        double wd = p->decay ? opt->weight_decay : 0.0;
        float *x = m->params + p->offset, *mm = m->opt_m + p->offset, *vv = m->opt_v + p->offset;
        const float *g = m->grads + p->offset;
        switch (opt->kind) {
        case ATTN_OPTIM_SGD: st = attn_sgd_step(x, mm, g, p->numel, lr, opt->momentum, wd); break;
        case ATTN_OPTIM_ADAM: st = attn_adam_step(x, mm, vv, g, p->numel, t, lr, opt->beta1, opt->beta2, opt->eps, wd); break;
        case ATTN_OPTIM_ADAMW: st = attn_adamw_step(x, mm, vv, g, p->numel, t, lr, opt->beta1, opt->beta2, opt->eps, wd); break;
        }
    }
    ATTN_ASSERT(st == ATTN_OK); /* the hyper-parameters were checked above */
    if (grad_norm)
        *grad_norm = norm;
    if (lr_used)
        *lr_used = lr;
    return ATTN_OK;
}
