/*
 * model.c - the parameter arena (one allocation for params, grads and the
 * optimizer state, with a table of named tensors) and its seeded
 * initialisation; plus the small helpers the layers share.
 */
#include "core/dropout.h"
#include "nn/nn.h"

#include <omp.h>

attn_status attn_nn_size3(const char *fn, int64_t a, int64_t b, int64_t c, int64_t *r)
{
    int64_t ab;
    if (!attn_mul_ok(a, b, &ab) || !attn_mul_ok(ab, c, r) || *r > (int64_t)(SIZE_MAX / sizeof(double)))
        return attn_fail(ATTN_ERR_OVERFLOW, "%s: sizes %lld x %lld x %lld overflow", fn, (long long)a, (long long)b,
                         (long long)c);
    return ATTN_OK;
}

/* Below about 4M flops a second thread costs more (waking it, the barrier)
 * than it saves: the translate demo's 64-wide layer norms and per-tensor
 * optimizer updates ran slower on two threads than on one with a 64K
 * threshold.  Work is split by rows, so results do not depend on this. */
int attn_nn_threads(double flops)
{
    if (flops < 4194304.0)
        return 1;
    return attn_resolve_threads(0);
}

uint64_t attn_nn_hash(uint64_t seed, uint64_t a, uint64_t b)
{
    uint64_t r = attn_mix64((seed ^ a) + ATTN_GOLDEN64);
    return attn_mix64((r ^ b) + ATTN_GOLDEN64);
}

float *attn_nn_scratch(int64_t n, const char *what)
{
    return (float *)attn_alloc((size_t)(n > 0 ? n : 1) * sizeof(float), what);
}

void attn_nn_softmax_prefix(double *row, int64_t n, int64_t L)
{
    double mx = row[0];
    for (int64_t j = 1; j < n; j++)
        mx = row[j] > mx ? row[j] : mx;
    double sum = 0;
    for (int64_t j = 0; j < n; j++) {
        row[j] = exp(row[j] - mx);
        sum += row[j];
    }
    for (int64_t j = 0; j < n; j++)
        row[j] /= sum;
    for (int64_t j = n; j < L; j++)
        row[j] = 0;
}

void attn_model_init(attn_model *m)
{
    if (m)
        memset(m, 0, sizeof *m);
}

void attn_model_free(attn_model *m)
{
    if (!m)
        return;
    attn_free(m->table);
    attn_free(m->params);
    memset(m, 0, sizeof *m);
}

const attn_param_info *attn_model_find(const attn_model *m, const char *name)
{
    if (!m || !name)
        return NULL;
    for (int64_t t = 0; t < m->n_tensors; t++)
        if (strcmp(m->table[t].name, name) == 0)
            return &m->table[t];
    return NULL;
}

attn_status attn_model_add(attn_model *m, const char *name, int rank, const int64_t *shape, attn_init init,
                           double init_scale, int64_t *offset)
{
    static const char fn[] = "attn_model_add";
    NN_NOTNULL(fn, m);
    NN_NOTNULL(fn, name);
    NN_NOTNULL(fn, shape);
    NN_NOTNULL(fn, offset);
    if (m->params)
        return attn_fail(ATTN_ERR_MISUSE, "%s: '%s' declared after attn_model_alloc", fn, name);
    if (strlen(name) >= ATTN_PARAM_NAME_MAX)
        return attn_fail(ATTN_ERR_INVALID, "%s: name '%s' has %zu chars, the limit is %d", fn, name, strlen(name),
                         ATTN_PARAM_NAME_MAX - 1);
    if (attn_model_find(m, name))
        return attn_fail(ATTN_ERR_INVALID, "%s: '%s' is already declared", fn, name);
    if (rank < 1 || rank > ATTN_MAX_RANK)
        return attn_fail(ATTN_ERR_INVALID, "%s: '%s' has rank %d, expected 1..%d", fn, name, rank, ATTN_MAX_RANK);
    if ((int)init < ATTN_INIT_ZEROS || (int)init > ATTN_INIT_NORMAL || !(init_scale >= 0) || isinf(init_scale))
        return attn_fail(ATTN_ERR_INVALID, "%s: '%s' has init %d with scale %g", fn, name, (int)init, init_scale);
    int64_t numel = 1;
    for (int d = 0; d < rank; d++) {
        if (shape[d] <= 0)
            return attn_fail(ATTN_ERR_INVALID, "%s: '%s' has size %lld in dimension %d", fn, name,
                             (long long)shape[d], d);
        if (!attn_mul_ok(numel, shape[d], &numel))
            return attn_fail(ATTN_ERR_OVERFLOW, "%s: '%s' has too many elements", fn, name);
    }
    int64_t total;
    if (!attn_add_ok(m->count, numel, &total) || total > INT64_MAX / 4 / (int64_t)sizeof(float))
        return attn_fail(ATTN_ERR_OVERFLOW, "%s: the model's parameters overflow at '%s'", fn, name);
    if (m->n_tensors == m->cap_tensors) {
        int64_t cap = m->cap_tensors ? 2 * m->cap_tensors : 16;
        attn_param_info *t = attn_alloc((size_t)cap * sizeof *t, "the parameter table");
        if (!t)
            return ATTN_ERR_NOMEM;
        if (m->n_tensors)
            memcpy(t, m->table, (size_t)m->n_tensors * sizeof *t);
        attn_free(m->table);
        m->table = t;
        m->cap_tensors = cap;
    }
    attn_param_info *p = &m->table[m->n_tensors++];
    memset(p, 0, sizeof *p);
    strcpy(p->name, name);
    p->rank = rank;
    for (int d = 0; d < rank; d++)
        p->shape[d] = shape[d];
    p->offset = m->count;
    p->numel = numel;
    p->init = init;
    p->init_scale = init_scale;
    p->decay = rank >= 2;
    m->count = total;
    *offset = p->offset;
    return ATTN_OK;
}

/* Uniform in (0, 1) from 53 hash bits: never 0, so log() is safe. */
static double unit(uint64_t h) { return ((double)(h >> 11) + 0.5) * (1.0 / 9007199254740992.0); }

attn_status attn_model_alloc(attn_model *m, uint64_t seed)
{
    static const char fn[] = "attn_model_alloc";
    NN_NOTNULL(fn, m);
    if (m->params)
        return attn_fail(ATTN_ERR_MISUSE, "%s: the model is already allocated", fn);
    if (m->count == 0)
        return attn_fail(ATTN_ERR_INVALID, "%s: the model declares no parameters", fn);
    float *mem = attn_alloc((size_t)m->count * 4 * sizeof(float), "the model's parameters");
    if (!mem)
        return ATTN_ERR_NOMEM;
    memset(mem, 0, (size_t)m->count * 4 * sizeof(float));
    for (int64_t t = 0; t < m->n_tensors; t++) {
        const attn_param_info *p = &m->table[t];
        float *x = mem + p->offset;
        for (int64_t e = 0; e < p->numel; e++) {
            double val = 0;
            switch (p->init) {
            case ATTN_INIT_ZEROS: val = 0; break;
            case ATTN_INIT_ONES: val = 1; break;
            case ATTN_INIT_UNIFORM: val = p->init_scale * (2.0 * unit(attn_nn_hash(seed, (uint64_t)t, (uint64_t)e)) - 1.0); break;
            case ATTN_INIT_NORMAL: { /* Box-Muller from two independent draws */
                double u1 = unit(attn_nn_hash(seed, (uint64_t)t, 2 * (uint64_t)e));
                double u2 = unit(attn_nn_hash(seed, (uint64_t)t, 2 * (uint64_t)e + 1));
                val = p->init_scale * sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
                break;
            }
            }
            x[e] = (float)val;
        }
    }
    m->params = mem;
    m->grads = mem + m->count;
    m->opt_m = mem + 2 * m->count;
    m->opt_v = mem + 3 * m->count;
    m->step = 0;
    return ATTN_OK;
}

void attn_model_zero_grad(attn_model *m)
{
    if (m && m->grads)
        memset(m->grads, 0, (size_t)m->count * sizeof(float));
}

attn_status attn_model_set_decay(attn_model *m, const char *name, int decay)
{
    static const char fn[] = "attn_model_set_decay";
    NN_NOTNULL(fn, m);
    NN_NOTNULL(fn, name);
    const attn_param_info *p = attn_model_find(m, name);
    if (!p)
        return attn_fail(ATTN_ERR_INVALID, "%s: the model has no tensor '%s'", fn, name);
    m->table[p - m->table].decay = decay != 0;
    return ATTN_OK;
}
