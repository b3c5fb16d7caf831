/* tpe: placeholder (replaced below). */
#include "strategy.h"

static lpot_status_t tpe_run(void *ctx, lpot_tuner_t *t)
{
    (void)ctx;
    (void)t;
    return lpot_set_error(LPOT_ERR_UNSUPPORTED, "tpe: not implemented yet");
}

const lpot_strategy_iface_t lpot_strategy_tpe = {
    .name = "tpe",
    .run = tpe_run,
};
