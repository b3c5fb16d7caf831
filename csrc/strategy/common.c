/* Strategy registry and helpers shared by the strategies. Plain C. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "strategy.h"

static const lpot_strategy_iface_t *const builtins[] = {
    &lpot_strategy_basic,  &lpot_strategy_mse, &lpot_strategy_exhaustive,
    &lpot_strategy_random, &lpot_strategy_bayesian, &lpot_strategy_tpe,
};

static const char *const names[] = {"basic", "mse", "exhaustive", "random", "bayesian", "tpe",
                                    NULL};

const lpot_strategy_iface_t *lpot_strategy_find(const char *name)
{
    for (size_t i = 0; i < sizeof builtins / sizeof *builtins; i++)
        if (strcmp(builtins[i]->name, name) == 0)
            return builtins[i];
    return NULL;
}

const char *const *lpot_strategy_names(void) { return names; }

/* insertion sort is fine for a few hundred ops, but use a merge sort to stay
 * O(n log n) and stable for thousands */
static void merge_sort(size_t *idx, size_t *tmp, size_t n, const double *key)
{
    if (n < 2)
        return;
    size_t h = n / 2;
    merge_sort(idx, tmp, h, key);
    merge_sort(idx + h, tmp, n - h, key);
    size_t i = 0, j = h, k = 0;
    while (i < h && j < n) {
        double a = key[idx[i]], b = key[idx[j]];
        /* NaN sorts last */
        bool take_right = (isnan(a) && !isnan(b)) || (!isnan(a) && !isnan(b) && b > a);
        tmp[k++] = take_right ? idx[j++] : idx[i++];
    }
    while (i < h)
        tmp[k++] = idx[i++];
    while (j < n)
        tmp[k++] = idx[j++];
    memcpy(idx, tmp, n * sizeof *idx);
}

void lpot_sort_desc(size_t *idx, size_t n, const double *key)
{
    size_t *tmp = malloc((n ? n : 1) * sizeof *tmp);
    if (tmp == NULL) { /* fall back to insertion sort */
        for (size_t i = 1; i < n; i++)
            for (size_t j = i; j > 0 && key[idx[j]] > key[idx[j - 1]]; j--) {
                size_t x = idx[j];
                idx[j] = idx[j - 1];
                idx[j - 1] = x;
            }
        return;
    }
    merge_sort(idx, tmp, n, key);
    free(tmp);
}

lpot_status_t lpot_strategy_modelwise(lpot_tuner_t *t, int32_t *best, bool *stop)
{
    const lpot_space_t *s = lpot_tuner_space(t);
    size_t len = lpot_space_cfg_len(s);
    int32_t *cfg = malloc(len * sizeof *cfg);
    if (cfg == NULL)
        return lpot_set_error(LPOT_ERR_NOMEM, "strategy: out of memory");
    bool higher = lpot_tuner_opts(t)->higher_is_better, have = false;
    double best_acc = NAN;
    lpot_status_t st = LPOT_OK;
    *stop = false;
    lpot_space_modelwise_cfg(s, 0, 0, best);
    for (size_t si = 0; si < lpot_space_n_sampling(s) && !*stop; si++) {
        for (size_t k = 0; k < lpot_space_n_modelwise(s); k++) {
            lpot_trial_t tr;
            lpot_space_modelwise_cfg(s, k, si, cfg);
            if ((st = lpot_tuner_try(t, cfg, &tr)) != LPOT_OK)
                goto cleanup;
            if (tr.stop) {
                *stop = true;
                break;
            }
            bool b = !isnan(tr.accuracy) &&
                     (!have || (higher ? tr.accuracy > best_acc : tr.accuracy < best_acc));
            if (b) {
                have = true;
                best_acc = tr.accuracy;
                memcpy(best, cfg, len * sizeof *cfg);
            }
        }
    }
cleanup:
    free(cfg);
    return st;
}

double lpot_strategy_reward(lpot_tuner_t *t, const int32_t *cfg, const lpot_trial_t *tr)
{
    if (isnan(tr->accuracy))
        return -INFINITY;
    const lpot_space_t *s = lpot_tuner_space(t);
    bool higher = lpot_tuner_opts(t)->higher_is_better;
    double base = lpot_tuner_baseline(t), target = lpot_tuner_result(t)->target;
    double acc = higher ? tr->accuracy : -tr->accuracy, tgt = higher ? target : -target;
    double margin = fabs(base - target);
    size_t n = lpot_space_n_ops(s);
    double fb = 0;
    for (size_t i = 0; i < n; i++) {
        const lpot_space_op_t *op = lpot_space_op(s, i);
        if ((size_t)cfg[i] >= op->n_quant)
            fb += cfg[i] == op->bf16 ? 0.5 : 1.0;
    }
    if (acc > tgt)
        acc = tgt;
    return acc - (margin > 0 ? margin : 1e-3) * fb / (double)n;
}

void lpot_strategy_random_cfg(const lpot_space_t *s, uint64_t *rng, int32_t *cfg)
{
    size_t n = lpot_space_n_ops(s);
    for (size_t i = 0; i < n; i++)
        cfg[i] = (int32_t)(lpot_rng_next(rng) % lpot_space_op(s, i)->n_opts);
    cfg[n] = (int32_t)(lpot_rng_next(rng) % lpot_space_n_sampling(s));
}

static uint64_t cfg_hash(const int32_t *c, size_t len)
{
    return lpot_fnv1a(LPOT_FNV_SEED, c, len * sizeof *c);
}

bool lpot_obs_seen(const lpot_obs_t *o, const int32_t *c)
{
    uint64_t h = cfg_hash(c, o->len);
    for (size_t i = 0; i < o->m; i++)
        if (o->h[i] == h && !memcmp(o->cfgs + i * o->len, c, o->len * sizeof *c))
            return true;
    return false;
}

lpot_status_t lpot_obs_try(lpot_obs_t *o, lpot_tuner_t *t, const int32_t *c, lpot_trial_t *tr)
{
    lpot_status_t st = lpot_tuner_try(t, c, tr);
    if (st != LPOT_OK || tr->stop)
        return st;
    if (o->m == o->cap) {
        size_t cap = o->cap ? 2 * o->cap : 64;
        int32_t *cf = realloc(o->cfgs, cap * o->len * sizeof *cf);
        if (cf)
            o->cfgs = cf;
        uint64_t *h = realloc(o->h, cap * sizeof *h);
        if (h)
            o->h = h;
        double *y = realloc(o->y, cap * sizeof *y);
        if (y)
            o->y = y;
        if (!cf || !h || !y)
            return lpot_set_error(LPOT_ERR_NOMEM, "strategy: out of memory");
        o->cap = cap;
    }
    memcpy(o->cfgs + o->m * o->len, c, o->len * sizeof *c);
    o->h[o->m] = cfg_hash(c, o->len);
    o->y[o->m] = lpot_strategy_reward(t, c, tr);
    o->m++;
    return LPOT_OK;
}

void lpot_obs_free(lpot_obs_t *o)
{
    free(o->cfgs);
    free(o->h);
    free(o->y);
}
