/* random: the default configuration first, then configurations drawn
 * uniformly: a sampling size and, per op, one of its options, fp32 and bf16
 * fallback included (LPOT's random never fell back). Configurations already
 * tried are skipped without counting; after 1000 draws in a row that were all
 * already tried the space is taken as exhausted. Deterministic given
 * random_seed (splitmix64). */
#include <stdlib.h>

#include "strategy.h"

static lpot_status_t random_run(void *ctx, lpot_tuner_t *t)
{
    (void)ctx;
    const lpot_space_t *s = lpot_tuner_space(t);
    size_t len = lpot_space_cfg_len(s);
    uint64_t rng = lpot_tuner_opts(t)->seed;
    int32_t *cfg = calloc(len, sizeof *cfg);
    if (cfg == NULL)
        return lpot_set_error(LPOT_ERR_NOMEM, "random: out of memory");
    lpot_status_t st = LPOT_OK;
    lpot_space_modelwise_cfg(s, 0, 0, cfg);
    int dup = 0;
    for (;;) {
        lpot_trial_t tr;
        if ((st = lpot_tuner_try(t, cfg, &tr)) != LPOT_OK || tr.stop)
            break;
        dup = tr.cached ? dup + 1 : 0;
        if (dup >= 1000)
            break;
        lpot_strategy_random_cfg(s, &rng, cfg);
    }
    free(cfg);
    return st;
}

const lpot_strategy_iface_t lpot_strategy_random = {
    .name = "random",
    .run = random_run,
};
