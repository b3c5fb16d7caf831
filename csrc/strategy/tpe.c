/* tpe: Tree-structured Parzen Estimator over the configuration space (our
 * own implementation, no hyperopt).
 *
 * Every op is a categorical dimension over its options (fp32/bf16 fallback
 * included), plus the sampling size. Starts from the default configuration
 * and 10 random ones. Then, per proposal: the observations are split by
 * lpot_strategy_reward into the best quarter ("good", at least one) and the
 * rest ("bad"); per dimension, l(j) = (good count of option j + 1/K) /
 * (n_good + 1) and g(j) likewise over the bad ones (a uniform prior of weight
 * one over K options); 24 candidates are drawn from l, dimension by dimension,
 * and the untried one with the highest sum of log l - log g is tried. Runs
 * until the exit policy stops it (or 50 proposals in a row drew only tried
 * configurations). Deterministic given random_seed. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "strategy.h"

#define TPE_STARTUP 10
#define TPE_CANDIDATES 24
#define TPE_GAMMA 0.25

static size_t dim_size(const lpot_space_t *s, size_t i)
{
    return i < lpot_space_n_ops(s) ? lpot_space_op(s, i)->n_opts : lpot_space_n_sampling(s);
}

static lpot_status_t tpe_run(void *ctx, lpot_tuner_t *t)
{
    (void)ctx;
    const lpot_space_t *s = lpot_tuner_space(t);
    lpot_obs_t o = {.len = lpot_space_cfg_len(s)};
    uint64_t rng = lpot_tuner_opts(t)->seed ^ 0x7e7e7e7eULL;
    lpot_status_t st = LPOT_OK;
    size_t maxk = 1;
    for (size_t i = 0; i < o.len; i++)
        if (dim_size(s, i) > maxk)
            maxk = dim_size(s, i);
    int32_t *cand = malloc(o.len * sizeof *cand), *best = malloc(o.len * sizeof *best);
    size_t *order = NULL;
    double *lg = malloc(2 * maxk * sizeof *lg);
    /* per dimension: log l(j) - log g(j), recomputed every proposal */
    double *score = malloc(o.len * maxk * sizeof *score), *lprob = malloc(o.len * maxk * sizeof *lprob);
    if (!cand || !best || !lg || !score || !lprob) {
        st = lpot_set_error(LPOT_ERR_NOMEM, "tpe: out of memory");
        goto cleanup;
    }
    lpot_trial_t tr;
    lpot_space_modelwise_cfg(s, 0, 0, cand);
    if ((st = lpot_obs_try(&o, t, cand, &tr)) != LPOT_OK || tr.stop)
        goto cleanup;
    for (int i = 0; i < TPE_STARTUP; i++) {
        lpot_strategy_random_cfg(s, &rng, cand);
        if ((st = lpot_obs_try(&o, t, cand, &tr)) != LPOT_OK || tr.stop)
            goto cleanup;
    }
    for (int idle = 0; idle < 50;) {
        free(order);
        order = malloc(o.m * sizeof *order);
        if (order == NULL) {
            st = lpot_set_error(LPOT_ERR_NOMEM, "tpe: out of memory");
            goto cleanup;
        }
        for (size_t i = 0; i < o.m; i++)
            order[i] = i;
        lpot_sort_desc(order, o.m, o.y); /* NaN (-inf) last */
        size_t n_good = (size_t)ceil(TPE_GAMMA * (double)o.m);
        if (n_good < 1)
            n_good = 1;
        size_t n_bad = o.m - n_good;
        for (size_t d = 0; d < o.len; d++) {
            size_t K = dim_size(s, d);
            memset(lg, 0, 2 * K * sizeof *lg);
            for (size_t r = 0; r < o.m; r++)
                lg[(r < n_good ? 0 : K) + (size_t)o.cfgs[order[r] * o.len + d]] += 1;
            for (size_t j = 0; j < K; j++) {
                double l = (lg[j] + 1.0 / (double)K) / ((double)n_good + 1.0);
                double g = (lg[K + j] + 1.0 / (double)K) / ((double)n_bad + 1.0);
                lprob[d * maxk + j] = l;
                score[d * maxk + j] = log(l) - log(g);
            }
        }
        double best_s = -INFINITY;
        bool have = false;
        for (int c = 0; c < TPE_CANDIDATES; c++) {
            double sc = 0;
            for (size_t d = 0; d < o.len; d++) {
                size_t K = dim_size(s, d), j = 0;
                double u = lpot_rng_uniform(&rng), acc = 0;
                for (j = 0; j + 1 < K; j++) {
                    acc += lprob[d * maxk + j];
                    if (u < acc)
                        break;
                }
                cand[d] = (int32_t)j;
                sc += score[d * maxk + j];
            }
            if (lpot_obs_seen(&o, cand))
                continue;
            if (!have || sc > best_s) {
                have = true;
                best_s = sc;
                memcpy(best, cand, o.len * sizeof *best);
            }
        }
        if (!have) {
            idle++;
            continue;
        }
        idle = 0;
        if ((st = lpot_obs_try(&o, t, best, &tr)) != LPOT_OK || tr.stop)
            goto cleanup;
    }
cleanup:
    lpot_obs_free(&o);
    free(order);
    free(cand);
    free(best);
    free(lg);
    free(score);
    free(lprob);
    return st;
}

const lpot_strategy_iface_t lpot_strategy_tpe = {
    .name = "tpe",
    .run = tpe_run,
};
