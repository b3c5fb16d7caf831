/* bayesian: placeholder (replaced below). */
#include "strategy.h"

static lpot_status_t bayesian_run(void *ctx, lpot_tuner_t *t)
{
    (void)ctx;
    (void)t;
    return lpot_set_error(LPOT_ERR_UNSUPPORTED, "bayesian: not implemented yet");
}

const lpot_strategy_iface_t lpot_strategy_bayesian = {
    .name = "bayesian",
    .run = bayesian_run,
};
