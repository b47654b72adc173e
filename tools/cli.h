/*
 * cli.h - what the attn tool's commands share.  The tool includes only the
 * public header attn.h from the library.
 */
#ifndef ATTN_CLI_H
#define ATTN_CLI_H

#include "attn.h"

/* Each command: argv[0] is the command's name; returns the exit status
 * (0 ok, 1 error, 2 usage error).  Errors print one line on stderr starting
 * "attn: error:". */
int attn_cmd_explain(int argc, char **argv);
int attn_cmd_run(int argc, char **argv);
int attn_cmd_bench(int argc, char **argv);
int attn_cmd_viz(int argc, char **argv);      /* viz.c: heatmaps of weights */
int attn_cmd_viz_loss(int argc, char **argv); /* viz.c: loss curves */
int attn_cmd_train(int argc, char **argv);      /* train.c: dispatch to the demos */
int attn_cmd_train_next(int argc, char **argv); /* train_next.c: attn train next-vector */
int attn_cmd_train_translate(int argc, char **argv); /* train_translate.c: attn train translate */
int attn_cmd_translate(int argc, char **argv);       /* train_translate.c: attn translate */

#endif
