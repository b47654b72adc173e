/*
 * ckpt.h - checkpoints of the `attn train` demos, through the checkpoint
 * library (attn_checkpoint.h, safetensors): the model's parameters, the
 * optimizer state and hyper-parameters, and what resuming needs besides,
 * kept in the metadata:
 *   demo.config   the task's configuration string ("translate d_model=64 ...");
 *                 a checkpoint resumes or loads only into the same config
 *   demo.seed     the run's seed (data and initial weights)
 *   demo.steps    the steps done
 *   demo.seconds  the training time so far
 * Every function returns CLI_OK, or CLI_ERROR with the message printed
 * ("attn: error: ..."), leaving the model untouched.
 */
#ifndef ATTN_CKPT_H
#define ATTN_CKPT_H

#include "attn.h"

#include <stddef.h>
#include <stdint.h>

/* Write m (with opt's state and hyper-parameters when opt is not NULL) to
 * path atomically. */
int ckpt_save(const char *path, const attn_model *m, const attn_optimizer *opt, const char *config, uint64_t seed,
              int64_t steps, double seconds);

/* Restore m's parameters (and, with opt, the optimizer state into m and the
 * hyper-parameters into *opt) from path.  Refuses a file whose demo.config
 * differs from `config` or, when seed is not NULL, whose demo.seed differs
 * from *seed.  steps, seconds may be NULL. */
int ckpt_load(const char *path, attn_model *m, attn_optimizer *opt, const char *config, const uint64_t *seed,
              int64_t *steps, double *seconds);

/* Read only the demo.config string of path into buf (size bytes). */
int ckpt_read_config(const char *path, char *buf, size_t size);

#endif
