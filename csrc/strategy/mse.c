/* mse: LPOT's mse strategy.
 *
 * Model-wise configurations first (as basic); then the ops the best one
 * quantizes are ranked by the error between their fp32 and quantized
 * activations (the adaptor's inspect_tensor on a few batches, normalised
 * MSE), and fall back cumulatively in that order, one op more per trial
 * (bf16 where allowed, then fp32), until a configuration passes. Without an
 * inspect_tensor in the adaptor the ranking is by single-op fallback
 * evaluations. Shares basic's search (strategy/basic.c) with linear steps and
 * no pruning. Deterministic. */
#include "strategy.h"

static lpot_status_t mse_run(void *ctx, lpot_tuner_t *t)
{
    (void)ctx;
    return lpot_basic_search(t, true);
}

const lpot_strategy_iface_t lpot_strategy_mse = {
    .name = "mse",
    .run = mse_run,
};
