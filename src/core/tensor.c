/*
 * tensor.c - strided views: construction, validation, allocation.
 */
#include "core/internal.h"

#include <string.h>

size_t attn_dtype_size(attn_dtype dtype)
{
    switch (dtype) {
    case ATTN_F32: return 4;
    case ATTN_F64: return 8;
    case ATTN_BOOL: return 1;
    case ATTN_F16: return 2;
    case ATTN_BF16: return 2;
    }
    return 0;
}

const char *attn_dtype_name(attn_dtype dtype)
{
    switch (dtype) {
    case ATTN_F32: return "f32";
    case ATTN_F64: return "f64";
    case ATTN_BOOL: return "bool";
    case ATTN_F16: return "f16";
    case ATTN_BF16: return "bf16";
    }
    return "unknown";
}

void attn_f16_from_f32(uint16_t *dst, const float *src, size_t n)
{
    for (size_t i = 0; i < n; i++)
        dst[i] = attn_half_from_float(src[i]);
}

void attn_f32_from_f16(float *dst, const uint16_t *src, size_t n)
{
    for (size_t i = 0; i < n; i++)
        dst[i] = attn_half_to_float(src[i]);
}

void attn_bf16_from_f32(uint16_t *dst, const float *src, size_t n)
{
    for (size_t i = 0; i < n; i++)
        dst[i] = attn_bf16_from_float(src[i]);
}

void attn_f32_from_bf16(float *dst, const uint16_t *src, size_t n)
{
    for (size_t i = 0; i < n; i++)
        dst[i] = attn_bf16_to_float(src[i]);
}

attn_tensor attn_tensor_nd(void *data, attn_dtype dtype, int rank, const int64_t *shape)
{
    attn_tensor t;
    memset(&t, 0, sizeof t);
    t.data = data;
    t.dtype = dtype;
    t.rank = rank;
    if (rank < 0 || rank > ATTN_MAX_RANK || (rank > 0 && !shape)) {
        t.rank = rank > 0 && !shape ? -1 : rank; /* attn_tensor_check will refuse it */
        return t;
    }
    int64_t stride = 1;
    for (int d = rank - 1; d >= 0; d--) {
        t.shape[d] = shape[d];
        t.stride[d] = stride;
        /* saturate: attn_tensor_check reports the overflow with a message */
        if (!attn_mul_ok(stride, shape[d] > 0 ? shape[d] : 1, &stride))
            stride = INT64_MAX;
    }
    return t;
}

attn_tensor attn_tensor_1d(void *data, attn_dtype dtype, int64_t n0)
{
    int64_t s[1] = {n0};
    return attn_tensor_nd(data, dtype, 1, s);
}

attn_tensor attn_tensor_2d(void *data, attn_dtype dtype, int64_t n0, int64_t n1)
{
    int64_t s[2] = {n0, n1};
    return attn_tensor_nd(data, dtype, 2, s);
}

attn_tensor attn_tensor_3d(void *data, attn_dtype dtype, int64_t n0, int64_t n1, int64_t n2)
{
    int64_t s[3] = {n0, n1, n2};
    return attn_tensor_nd(data, dtype, 3, s);
}

attn_tensor attn_tensor_4d(void *data, attn_dtype dtype, int64_t n0, int64_t n1, int64_t n2, int64_t n3)
{
    int64_t s[4] = {n0, n1, n2, n3};
    return attn_tensor_nd(data, dtype, 4, s);
}

int64_t attn_tensor_numel(const attn_tensor *t)
{
    if (!t || t->rank <= 0 || t->rank > ATTN_MAX_RANK)
        return 0;
    int64_t n = 1;
    for (int d = 0; d < t->rank; d++)
        n *= t->shape[d];
    return n;
}

attn_status attn_tensor_check(const attn_tensor *t, const char *name)
{
    if (!name)
        name = "tensor";
    if (!t)
        return attn_fail(ATTN_ERR_MISUSE, "%s is NULL", name);
    if (attn_dtype_size(t->dtype) == 0)
        return attn_fail(ATTN_ERR_INVALID, "%s has unknown dtype %d", name, (int)t->dtype);
    if (t->rank < 1 || t->rank > ATTN_MAX_RANK)
        return attn_fail(ATTN_ERR_INVALID, "%s has rank %d, expected 1 to %d", name, t->rank, ATTN_MAX_RANK);
    int64_t numel = 1, last = 0;
    for (int d = 0; d < t->rank; d++) {
        if (t->shape[d] < 0)
            return attn_fail(ATTN_ERR_INVALID, "%s has negative size %lld in dimension %d", name,
                             (long long)t->shape[d], d);
        if (t->stride[d] < 0)
            return attn_fail(ATTN_ERR_INVALID, "%s has negative stride %lld in dimension %d", name,
                             (long long)t->stride[d], d);
        if (!attn_mul_ok(numel, t->shape[d], &numel))
            return attn_fail(ATTN_ERR_OVERFLOW, "%s has too many elements: the sizes overflow int64", name);
    }
    if (numel == 0)
        return ATTN_OK;
    for (int d = 0; d < t->rank; d++) {
        int64_t span;
        if (!attn_mul_ok(t->shape[d] - 1, t->stride[d], &span) || !attn_add_ok(last, span, &last))
            return attn_fail(ATTN_ERR_OVERFLOW, "%s spans more than int64 elements: strides too large", name);
    }
    int64_t bytes;
    if (!attn_mul_ok(last + 1, (int64_t)attn_dtype_size(t->dtype), &bytes))
        return attn_fail(ATTN_ERR_OVERFLOW, "%s spans more than int64 bytes", name);
    if (!t->data)
        return attn_fail(ATTN_ERR_MISUSE, "%s has %lld elements but its data pointer is NULL", name,
                         (long long)numel);
    return ATTN_OK;
}

attn_status attn_tensor_alloc(attn_tensor *t, attn_dtype dtype, int rank, const int64_t *shape)
{
    if (!t)
        return attn_fail(ATTN_ERR_MISUSE, "attn_tensor_alloc: t is NULL");
    memset(t, 0, sizeof *t);
    if (rank < 1 || rank > ATTN_MAX_RANK)
        return attn_fail(ATTN_ERR_INVALID, "attn_tensor_alloc: rank %d, expected 1 to %d", rank, ATTN_MAX_RANK);
    if (!shape)
        return attn_fail(ATTN_ERR_MISUSE, "attn_tensor_alloc: shape is NULL");
    if (attn_dtype_size(dtype) == 0)
        return attn_fail(ATTN_ERR_INVALID, "attn_tensor_alloc: unknown dtype %d", (int)dtype);
    int64_t bytes = (int64_t)attn_dtype_size(dtype);
    for (int d = 0; d < rank; d++) {
        if (shape[d] < 0)
            return attn_fail(ATTN_ERR_INVALID, "attn_tensor_alloc: negative size %lld in dimension %d",
                             (long long)shape[d], d);
        if (!attn_mul_ok(bytes, shape[d], &bytes))
            return attn_fail(ATTN_ERR_OVERFLOW, "attn_tensor_alloc: the sizes overflow int64");
    }
    if ((uint64_t)bytes > SIZE_MAX - 64)
        return attn_fail(ATTN_ERR_OVERFLOW, "attn_tensor_alloc: %lld bytes do not fit in memory", (long long)bytes);
    void *p = attn_alloc((size_t)bytes, "a tensor");
    if (!p)
        return ATTN_ERR_NOMEM;
    memset(p, 0, (size_t)bytes);
    *t = attn_tensor_nd(p, dtype, rank, shape);
    return ATTN_OK;
}

void attn_tensor_free(attn_tensor *t)
{
    if (!t)
        return;
    attn_free(t->data);
    memset(t, 0, sizeof *t);
}

attn_view4 attn_view4_of(const attn_tensor *t)
{
    attn_view4 v;
    memset(&v, 0, sizeof v);
    v.data = t->data;
    v.dtype = t->dtype;
    int pad = 4 - t->rank;
    for (int d = 0; d < 4; d++) {
        if (d < pad) {
            v.n[d] = 1;
            v.st[d] = 0;
        } else {
            v.n[d] = t->shape[d - pad];
            v.st[d] = t->shape[d - pad] == 1 ? 0 : t->stride[d - pad];
        }
    }
    return v;
}

attn_status attn_check_arg(const attn_tensor *t, const char *fn, const char *name, unsigned dtypes)
{
    if (!t)
        return attn_fail(ATTN_ERR_MISUSE, "%s: %s is NULL", fn, name);
    char label[96];
    snprintf(label, sizeof label, "%s: %s", fn, name);
    attn_status st = attn_tensor_check(t, label);
    if (st != ATTN_OK)
        return st;
    if (!(dtypes & ATTN_DT(t->dtype)))
        return attn_fail(ATTN_ERR_INVALID, "%s: %s has dtype %s, which is not allowed here", fn, name,
                         attn_dtype_name(t->dtype));
    return ATTN_OK;
}
