/* decode_cache.c - token-by-token decoding against a key/value cache, with
 * grouped heads (GQA): 8 query heads share 2 key/value heads.
 *
 * The cache holds room for MAXLEN keys per (batch, key/value head); after
 * each step's keys and values are appended, one query per head attends to
 * the keys written so far.  key_lengths hides the unwritten tail, so the
 * cache is never copied or reshaped.  A second cache holds the same keys and
 * values in half precision (ATTN_F16, half the bytes to read per step, the
 * usual cache of a decoder).  Each cache's tiled answer is checked against
 * the reference kernel on that cache at every step. */
#include <attn.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

enum { B = 2, HQ = 8, HKV = 2, D = 64, MAXLEN = 3000, STEPS = 3 };

static float frand(unsigned *s) /* uniform in [-1, 1) */
{
    *s = *s * 1103515245u + 12345u;
    return (float)((*s >> 8) & 0xffff) / 32768.0f - 1.0f;
}

int main(void)
{
    float *kc = calloc((size_t)B * HKV * MAXLEN * D, sizeof(float)); /* the caches */
    float *vc = calloc((size_t)B * HKV * MAXLEN * D, sizeof(float));
    uint16_t *kh = calloc((size_t)B * HKV * MAXLEN * D, sizeof(uint16_t)); /* the f16 caches */
    uint16_t *vh = calloc((size_t)B * HKV * MAXLEN * D, sizeof(uint16_t));
    float q[B][HQ][1][D], out[B][HQ][1][D], ref[B][HQ][1][D], lse[B][HQ][1];
    if (!kc || !vc || !kh || !vh)
        return 1;
    unsigned seed = 1;
    int64_t len[B] = {0, 0};                 /* keys written so far, per batch entry */
    const int64_t prompt[B] = {2500, 1700};  /* the prompts' lengths */
    for (int b = 0; b < B; b++)              /* the prompts' keys and values */
        for (int h = 0; h < HKV; h++)
            for (int64_t j = 0; j < prompt[b]; j++)
                for (int d = 0; d < D; d++) {
                    size_t at = (((size_t)b * HKV + h) * MAXLEN + (size_t)j) * D + (size_t)d;
                    kc[at] = frand(&seed), vc[at] = frand(&seed);
                }
    for (int b = 0; b < B; b++)
        len[b] = prompt[b];
    attn_f16_from_f32(kh, kc, (size_t)B * HKV * MAXLEN * D); /* rounded to nearest */
    attn_f16_from_f32(vh, vc, (size_t)B * HKV * MAXLEN * D);

    attn_tensor k = attn_tensor_4d(kc, ATTN_F32, B, HKV, MAXLEN, D); /* (B, Hkv, MAXLEN, D) */
    attn_tensor v = attn_tensor_4d(vc, ATTN_F32, B, HKV, MAXLEN, D);
    attn_tensor k16 = attn_tensor_4d(kh, ATTN_F16, B, HKV, MAXLEN, D);
    attn_tensor v16 = attn_tensor_4d(vh, ATTN_F16, B, HKV, MAXLEN, D);
    attn_tensor tq = attn_tensor_4d(q, ATTN_F32, B, HQ, 1, D);        /* one query per head */
    attn_tensor to = attn_tensor_4d(out, ATTN_F32, B, HQ, 1, D);
    attn_tensor tr = attn_tensor_4d(ref, ATTN_F32, B, HQ, 1, D);
    attn_tensor tl = attn_tensor_3d(lse, ATTN_F32, B, HQ, 1);
    attn_options opts = {0};
    opts.key_lengths = len; /* keys j >= len[b] are hidden: the unwritten part of the cache */
    opts.threads = 2;

    for (int step = 0; step < STEPS; step++) {
        for (int b = 0; b < B; b++) { /* this step's key and value, appended */
            for (int h = 0; h < HKV; h++)
                for (int d = 0; d < D; d++) {
                    size_t at = (((size_t)b * HKV + h) * MAXLEN + (size_t)len[b]) * D + (size_t)d;
                    kc[at] = frand(&seed), vc[at] = frand(&seed);
                    attn_f16_from_f32(kh + at, kc + at, 1);
                    attn_f16_from_f32(vh + at, vc + at, 1);
                }
            len[b]++;
            for (int h = 0; h < HQ; h++)
                for (int d = 0; d < D; d++)
                    q[b][h][0][d] = frand(&seed);
        }
        for (int half = 0; half <= 1; half++) {
            const attn_tensor *kk = half ? &k16 : &k, *vv = half ? &v16 : &v;
            opts.kernel = ATTN_KERNEL_AUTO; /* the fastest kernel this CPU runs */
            if (attn_forward(&to, &tl, NULL, &tq, kk, vv, &opts) != ATTN_OK) {
                fprintf(stderr, "attn: %s\n", attn_errmsg());
                return 1;
            }
            opts.kernel = ATTN_KERNEL_REFERENCE; /* the readable one, to compare */
            if (attn_forward(&tr, NULL, NULL, &tq, kk, vv, &opts) != ATTN_OK) {
                fprintf(stderr, "attn: %s\n", attn_errmsg());
                return 1;
            }
            opts.kernel = ATTN_KERNEL_AUTO;
            double err = 0;
            for (int b = 0; b < B; b++)
                for (int h = 0; h < HQ; h++)
                    for (int d = 0; d < D; d++)
                        err = fmax(err, fabs((double)out[b][h][0][d] - (double)ref[b][h][0][d]));
            printf("step %d, %s cache: %lld and %lld keys, kernel %s, out[0][0][0][0] %.6f, lse[0][0] %.4f, "
                   "largest difference from the reference %.2g\n",
                   step, half ? "f16" : "f32", (long long)len[0], (long long)len[1],
                   attn_kernel_name(attn_kernel_for(&tq, kk, vv, &opts)), out[0][0][0][0], lse[0][0][0], err);
            if (!(err < 1e-5)) {
                fprintf(stderr, "decode_cache: the kernel and the reference differ by %g\n", err);
                return 1;
            }
        }
    }
    free(kc), free(vc), free(kh), free(vh);
    return 0;
}
