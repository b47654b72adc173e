/* quickstart.c - scaled dot-product self-attention over four tokens. */
#include <attn.h>
#include <stdio.h>

int main(void)
{
    float x[4][3] = {{.1f, .2f, .3f}, {.4f, .5f, .6f}, {.7f, .8f, .9f}, {1.0f, 1.1f, 1.2f}};
    float out[4][3], weights[4][4];
    attn_tensor q = attn_tensor_2d(x, ATTN_F32, 4, 3); /* (L, D): Q = K = V = x */
    attn_tensor o = attn_tensor_2d(out, ATTN_F32, 4, 3);
    attn_tensor w = attn_tensor_2d(weights, ATTN_F32, 4, 4);
    attn_options opts = {0};                       /* defaults: softmax(q.k / sqrt(d)) */
    opts.causal = ATTN_CAUSAL_TOP_LEFT;            /* token i sees tokens 0..i */
    if (attn_forward(&o, NULL, &w, &q, &q, &q, &opts) != ATTN_OK) {
        fprintf(stderr, "attn: %s\n", attn_errmsg()); /* names the argument and values */
        return 1;
    }
    for (int i = 0; i < 4; i++)
        printf("token %d: weights %.3f %.3f %.3f %.3f -> out %.4f %.4f %.4f\n", i, weights[i][0], weights[i][1],
               weights[i][2], weights[i][3], out[i][0], out[i][1], out[i][2]);
    return 0;
}
