/*
 * attn_checkpoint.h - checkpoints of attn models in the safetensors format.
 *
 * A companion library (libattn_checkpoint: link attn::attn_checkpoint in
 * CMake, or `pkg-config --libs attn-checkpoint`) kept apart from libattn
 * because it needs a JSON library (jansson); libattn itself depends only on
 * libc, libm and OpenMP.  Failures are reported like libattn's: an
 * attn_status, and a message read with attn_errmsg() that names the file and
 * the problem, for example
 *   "checkpoint m.ckpt: tensor 'enc.0.attn.wq' has shape (64, 32) but the model expects (64, 64)".
 *
 * The file (https://github.com/huggingface/safetensors):
 *   8 bytes   N, the header length, unsigned little-endian
 *   N bytes   a JSON object, padded with spaces to a multiple of 8:
 *               {"__metadata__": {"key": "value", ...},
 *                "<tensor name>": {"dtype": "F32", "shape": [d0, ...],
 *                                  "data_offsets": [begin, end]}, ...}
 *             offsets in bytes from the start of the data buffer
 *   the data  each tensor's elements, C order, little-endian
 * What attn stores:
 *   - every parameter tensor of the model under its table name
 *     ("enc.0.self_attn.wq"), F32, with its shape;
 *   - with the optimizer state: "optim.m.<name>" and "optim.v.<name>" for
 *     every tensor (the model's opt_m and opt_v, same shapes), and in the
 *     metadata the step count and the hyper-parameters:
 *       attn.optim.kind ("sgd", "adam", "adamw"), attn.optim.step,
 *       attn.optim.lr.base_lr, attn.optim.lr.min_lr, attn.optim.lr.warmup_steps,
 *       attn.optim.lr.total_steps, attn.optim.lr.cosine, attn.optim.momentum,
 *       attn.optim.beta1, attn.optim.beta2, attn.optim.eps,
 *       attn.optim.weight_decay, attn.optim.clip_norm
 *     (reals written by the JSON library with 17 significant digits, so they
 *     read back bit for bit whatever the C locale);
 *   - attn.version: the library version that wrote the file;
 *   - the caller's metadata pairs.  Keys beginning with "attn." are reserved.
 * Reading is strict: the header must be valid JSON (duplicate keys refused),
 * every entry a well-formed F32 tensor whose byte count is its shape's, the
 * offsets inside the data buffer, not overlapping and covering it without
 * holes (as the format requires); the file must hold exactly the model's
 * tensors (a missing or an extra tensor is an error).  Any violation is
 * ATTN_ERR_FORMAT (ATTN_ERR_IO when the file cannot be read), never a crash.
 * Writing is atomic: a temporary file beside the target, fsync, rename; a
 * failed save leaves neither a partial target nor the temporary.
 * This library is for little-endian machines (it refuses to build elsewhere).
 */
#ifndef ATTN_CHECKPOINT_H
#define ATTN_CHECKPOINT_H

#include "attn.h"

#ifdef __cplusplus
extern "C" {
#endif

/* One metadata pair (both NUL-terminated UTF-8). */
typedef struct attn_checkpoint_kv {
    const char *key;
    const char *value;
} attn_checkpoint_kv;

/* Save the parameters of the allocated model m to path, atomically.
 *   opt      NULL: parameters only.  Else also the optimizer state (m->opt_m,
 *            m->opt_v, m->step) and opt's hyper-parameters, for resuming.
 *   meta     n_meta caller pairs (meta may be NULL when n_meta == 0), stored
 *            in __metadata__; keys unique, not beginning with "attn.".
 * Reads m only.  Returns ATTN_OK; ATTN_ERR_MISUSE for NULL arguments or an
 * unallocated model; ATTN_ERR_INVALID for a bad metadata pair or optimizer
 * (nothing is created); ATTN_ERR_NOMEM; ATTN_ERR_IO when the file system
 * fails (the message says which step and why).  On failure the target is
 * untouched and no temporary file remains. */
ATTN_API attn_status attn_checkpoint_save(const char *path, const attn_model *m, const attn_optimizer *opt,
                                          const attn_checkpoint_kv *meta, int64_t n_meta);

/* The metadata of a checkpoint: an opaque list of pairs in file order,
 * owned by the caller and released with attn_checkpoint_meta_free. */
typedef struct attn_checkpoint_meta attn_checkpoint_meta;

/* Load the checkpoint at path into the allocated model m.
 *   m        must declare exactly the file's parameter tensors, same names
 *            and shapes (declare the same layers with the same configuration,
 *            then attn_model_alloc).  NULL: only check the file and read its
 *            metadata (as attn_checkpoint_read_meta).
 *   opt      NULL: the parameters only (optimizer tensors in the file are
 *            checked and skipped; m->opt_m, opt_v and step are untouched).
 *            Else the file must hold the optimizer state: m->opt_m, m->opt_v
 *            and m->step are restored and *opt receives the hyper-parameters.
 *   meta     NULL, or receives the metadata (caller frees), every pair of the
 *            file's __metadata__ including the attn.* ones.
 * All or nothing: everything is checked before m is written, so on failure
 * m, *opt and *meta (set to NULL) are untouched.  Errors: ATTN_ERR_MISUSE
 * (NULL path, unallocated model), ATTN_ERR_IO (cannot open or read),
 * ATTN_ERR_FORMAT (corrupt, truncated, or not this model's: the message
 * names the tensor and the values), ATTN_ERR_NOMEM. */
ATTN_API attn_status attn_checkpoint_load(const char *path, attn_model *m, attn_optimizer *opt,
                                          attn_checkpoint_meta **meta);

/* As attn_checkpoint_load, from a whole file image held in memory; `name`
 * labels the messages (a path, say; NULL = "checkpoint"). */
ATTN_API attn_status attn_checkpoint_parse(const void *bytes, size_t size, const char *name, attn_model *m,
                                           attn_optimizer *opt, attn_checkpoint_meta **meta);

/* Check the file at path and read its metadata, without a model: the way to
 * learn a model's configuration (stored by the caller as metadata) before
 * declaring it.  Same as attn_checkpoint_load(path, NULL, NULL, meta). */
ATTN_API attn_status attn_checkpoint_read_meta(const char *path, attn_checkpoint_meta **meta);

/* The number of pairs; 0 for NULL. */
ATTN_API int64_t attn_checkpoint_meta_count(const attn_checkpoint_meta *meta);
/* Pair i's key and value (0 <= i < count), or NULL when out of range.  The
 * strings live until attn_checkpoint_meta_free. */
ATTN_API const char *attn_checkpoint_meta_key(const attn_checkpoint_meta *meta, int64_t i);
ATTN_API const char *attn_checkpoint_meta_value(const attn_checkpoint_meta *meta, int64_t i);
/* The value of `key`, or NULL when absent. */
ATTN_API const char *attn_checkpoint_meta_get(const attn_checkpoint_meta *meta, const char *key);
/* Release the metadata.  Harmless on NULL. */
ATTN_API void attn_checkpoint_meta_free(attn_checkpoint_meta *meta);

#ifdef __cplusplus
}
#endif

#endif /* ATTN_CHECKPOINT_H */
