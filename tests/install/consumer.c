/* A program that uses an installed attn: one query over two keys. */
#include <attn.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

int main(void)
{
    float q[2] = {1, 0}, k[4] = {1, 0, 0, 1}, v[4] = {1, 2, 3, 4}, out[2];
    attn_tensor tq = attn_tensor_2d(q, ATTN_F32, 1, 2), tk = attn_tensor_2d(k, ATTN_F32, 2, 2);
    attn_tensor tv = attn_tensor_2d(v, ATTN_F32, 2, 2), to = attn_tensor_2d(out, ATTN_F32, 1, 2);
    if (attn_forward(&to, NULL, NULL, &tq, &tk, &tv, NULL) != ATTN_OK) {
        fprintf(stderr, "consumer: %s\n", attn_errmsg());
        return 1;
    }
    double w0 = 1 / (1 + exp(-1 / sqrt(2.0))); /* softmax of (1/sqrt2, 0) */
    double want = w0 * 1 + (1 - w0) * 3;
    if (fabs(out[0] - want) > 1e-5 || strcmp(attn_version(), ATTN_VERSION_STRING) != 0) {
        fprintf(stderr, "consumer: out %f, expected %f\n", out[0], want);
        return 1;
    }
    return 0;
}
