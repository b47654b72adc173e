/* A program that uses an installed attn_checkpoint: save a one-tensor model,
 * load it into another, compare. */
#include <attn_checkpoint.h>
#include <stdio.h>
#include <string.h>

int main(int argc, char **argv)
{
    const char *path = argc > 1 ? argv[1] : "consumer.safetensors";
    attn_model a, b;
    int64_t shape[2] = {2, 3}, off;
    attn_model_init(&a), attn_model_init(&b);
    if (attn_model_add(&a, "w", 2, shape, ATTN_INIT_NORMAL, 1.0, &off) || attn_model_alloc(&a, 1) ||
        attn_model_add(&b, "w", 2, shape, ATTN_INIT_ZEROS, 0, &off) || attn_model_alloc(&b, 2) ||
        attn_checkpoint_save(path, &a, NULL, NULL, 0) || attn_checkpoint_load(path, &b, NULL, NULL) ||
        memcmp(a.params, b.params, 6 * sizeof(float)) != 0) {
        fprintf(stderr, "consumer_ckpt: %s\n", attn_errmsg());
        return 1;
    }
    attn_model_free(&a), attn_model_free(&b);
    remove(path);
    return 0;
}
