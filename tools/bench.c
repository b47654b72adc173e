/*
 * bench.c - `attn bench`: speed and memory, measured (see issue 3).
 */
#include "cli.h"

#include <stdio.h>

int attn_cmd_bench(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "attn: error: bench is not built yet\n");
    return 1;
}
