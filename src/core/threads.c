/*
 * threads.c - the default thread count (the one global setting besides CPU
 * detection), and the names of scores.
 */
#include "core/internal.h"

#include <omp.h>
#include <stdatomic.h>
#include <string.h>

static atomic_int default_threads; /* 0 = not set: use the starting value */

static int starting_threads(void)
{
    const char *env = getenv("ATTN_NUM_THREADS");
    if (env && *env) {
        char *end;
        long n = strtol(env, &end, 10);
        if (*end == 0 && n > 0 && n <= ATTN_MAX_THREADS)
            return (int)n;
    }
    int n = omp_get_max_threads();
    return n > 0 ? n : 1;
}

void attn_set_num_threads(int n)
{
    atomic_store(&default_threads, n > 0 ? (n < ATTN_MAX_THREADS ? n : ATTN_MAX_THREADS) : 0);
}

int attn_get_num_threads(void)
{
    int n = atomic_load(&default_threads);
    return n > 0 ? n : starting_threads();
}

int attn_resolve_threads(int requested) { return requested > 0 ? requested : attn_get_num_threads(); }

static const char *score_names[] = {"scaled_dot", "dot", "cosine", "bilinear", "additive"};

const char *attn_score_name(attn_score score)
{
    if ((int)score >= 0 && (int)score < (int)(sizeof score_names / sizeof *score_names))
        return score_names[score];
    return "unknown";
}

attn_status attn_score_parse(const char *name, attn_score *score)
{
    if (!name || !score)
        return attn_fail(ATTN_ERR_MISUSE, "attn_score_parse: name or score is NULL");
    for (int s = 0; s < (int)(sizeof score_names / sizeof *score_names); s++)
        if (strcmp(name, score_names[s]) == 0) {
            *score = (attn_score)s;
            return ATTN_OK;
        }
    return attn_fail(ATTN_ERR_INVALID, "unknown score '%s': expected scaled_dot, dot, cosine, bilinear or additive", name);
}
