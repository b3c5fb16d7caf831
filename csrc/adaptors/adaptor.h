/* What the tuning loop needs from a framework adaptor: an iface of function
 * pointers plus a context (ggml-backend style). Plain C.
 *
 * Models are opaque handles (`void *`) owned by the adaptor; the loop hands
 * each one back through `release` when it no longer needs it. A NULL model
 * means the fp32 (original) model. `trial` is the trial number the call
 * belongs to (0 = the fp32 baseline), for error messages. A slot returning
 * LPOT_ERR_PYTHON leaves its exception to the binding layer.
 *
 * The capability query is not a slot: the space (tune_space.h) is built from
 * it before tuning so that it can be inspected and filtered first. */
#ifndef LPOT_ADAPTOR_H
#define LPOT_ADAPTOR_H

#include <stdbool.h>

#include "status.h"
#include "tune_space.h"

typedef enum {
    LPOT_OBJ_PERFORMANCE = 0, /* latency of the adaptor's benchmark (median, seconds) */
    LPOT_OBJ_MODELSIZE,       /* bytes */
    LPOT_OBJ_FOOTPRINT,       /* peak memory bytes */
    LPOT_OBJ_COUNT
} lpot_objective_t;

struct lpot_tuner;
struct lpot_trial;

typedef struct {
    /* Build the model for cfg (calibrating as needed). */
    lpot_status_t (*quantize)(void *ctx, const lpot_space_t *space, const int32_t *cfg,
                              long trial, void **model);
    /* Full evaluation: the accuracy (or loss) of model; NaN is allowed and
     * counts as failing. */
    lpot_status_t (*evaluate)(void *ctx, void *model, long trial, double *accuracy);
    /* (optional) Measure an objective of model. Defaults to: NaN (the
     * objective is not measurable, every passing model scores the same). */
    lpot_status_t (*measure)(void *ctx, void *model, lpot_objective_t obj, long trial,
                             double *value);
    /* (optional) Cheap proxy: per-op output error of model against the fp32
     * model on a few batches, err[i] for op i of space (NaN = unknown).
     * Defaults to: no proxy; strategies fall back to full evaluations. */
    lpot_status_t (*inspect_error)(void *ctx, void *model, const lpot_space_t *space,
                                   long trial, double *err);
    /* (optional) Called between trials (signal checks); non-OK stops tuning. */
    lpot_status_t (*poll)(void *ctx);
    /* (optional) Progress hook after every trial (replayed ones included). */
    lpot_status_t (*on_trial)(void *ctx, const struct lpot_tuner *tuner,
                              const struct lpot_trial *trial);
    /* (optional) After a slot failed with LPOT_ERR_PYTHON: true when the
     * failure was a user interrupt, which stops tuning cleanly (history and
     * best-so-far kept). Defaults to: never. */
    bool (*interrupted)(void *ctx);
    /* Give a model back. */
    void (*release)(void *ctx, void *model);
} lpot_adaptor_iface_t;

typedef struct {
    const lpot_adaptor_iface_t *iface;
    void *context;
} lpot_adaptor_t;

#endif
