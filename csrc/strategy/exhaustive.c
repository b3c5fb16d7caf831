/* exhaustive: every configuration of the space, fp32/bf16 fallback options
 * included, in mixed-radix order starting from the default configuration
 * (every op on its first option, first sampling size): the sampling size is
 * the most significant digit, then op 0, op 1, ...; the last op varies
 * fastest. Only practical for small spaces; the exit policy bounds it.
 * Deterministic. */
#include <stdlib.h>

#include "strategy.h"

static lpot_status_t exhaustive_run(void *ctx, lpot_tuner_t *t)
{
    (void)ctx;
    const lpot_space_t *s = lpot_tuner_space(t);
    size_t n = lpot_space_n_ops(s), len = lpot_space_cfg_len(s);
    int32_t *cfg = calloc(len, sizeof *cfg);
    if (cfg == NULL)
        return lpot_set_error(LPOT_ERR_NOMEM, "exhaustive: out of memory");
    lpot_status_t st = LPOT_OK;
    for (;;) {
        lpot_trial_t tr;
        if ((st = lpot_tuner_try(t, cfg, &tr)) != LPOT_OK || tr.stop)
            break;
        /* increment: last op fastest, sampling (cfg[n]) slowest */
        size_t d = n;
        bool carry = true;
        while (carry && d-- > 0) {
            cfg[d]++;
            carry = (size_t)cfg[d] >= lpot_space_op(s, d)->n_opts;
            if (carry)
                cfg[d] = 0;
        }
        if (carry) {
            cfg[n]++;
            if ((size_t)cfg[n] >= lpot_space_n_sampling(s))
                break;
        }
    }
    free(cfg);
    return st;
}

const lpot_strategy_iface_t lpot_strategy_exhaustive = {
    .name = "exhaustive",
    .run = exhaustive_run,
};
