/* Tuning strategies: an iface of function pointers plus a context. Plain C.
 *
 * A strategy drives the search itself: `run` proposes configurations by
 * calling lpot_tuner_try (tune.h), which evaluates (or replays from the
 * journal) and returns the result synchronously, and returns as soon as a
 * result says `stop` or it has nothing left to try. Synchronous trials keep
 * multi-stage algorithms (basic) as straight-line code instead of state
 * machines; a propose/update strategy (Python's Strategy.next_tune_cfg /
 * update) is a loop over the same call (strategy/python_py.c).
 *
 * Every strategy is deterministic given the tuner's seed, so a resumed run
 * proposes the same configurations in the same order and replays them. */
#ifndef LPOT_STRATEGY_H
#define LPOT_STRATEGY_H

#include "status.h"
#include "tune.h"

typedef struct lpot_strategy_iface {
    const char *name;
    /* (optional) Make a context for one run. Defaults to: NULL context. */
    lpot_status_t (*create)(lpot_tuner_t *t, void **ctx);
    /* Search: call lpot_tuner_try until a result says stop or nothing is
     * left; return LPOT_OK then. Errors propagate. */
    lpot_status_t (*run)(void *ctx, lpot_tuner_t *t);
    /* (optional) Free the context. Defaults to: nothing. */
    void (*destroy)(void *ctx);
} lpot_strategy_iface_t;

/* Built-in strategies, one file each. */
extern const lpot_strategy_iface_t lpot_strategy_basic;
extern const lpot_strategy_iface_t lpot_strategy_mse;
extern const lpot_strategy_iface_t lpot_strategy_exhaustive;
extern const lpot_strategy_iface_t lpot_strategy_random;
extern const lpot_strategy_iface_t lpot_strategy_bayesian;
extern const lpot_strategy_iface_t lpot_strategy_tpe;

/* By name; NULL when unknown. */
const lpot_strategy_iface_t *lpot_strategy_find(const char *name);
/* NULL-terminated list of the built-in names. */
const char *const *lpot_strategy_names(void);

/* Helpers shared by strategies (strategy/common.c). */
/* Sort idx[0..n) by key descending (ties: lower index first). */
void lpot_sort_desc(size_t *idx, size_t n, const double *key);
/* Every model-wise config x sampling size, in LPOT's order; *best receives
 * the config with the best accuracy (or the first when none evaluated).
 * Returns with *stop set when the exit policy says so. */
lpot_status_t lpot_strategy_modelwise(lpot_tuner_t *t, int32_t *best, bool *stop);

/* What bayesian and tpe maximise: the accuracy, capped at the target (no
 * credit beyond the goal), minus (baseline - target) * (share of ops not in
 * int8), so that among passing configurations fewer fallbacks win; negated
 * accuracy when lower is better. NaN accuracy gives -inf. */
double lpot_strategy_reward(lpot_tuner_t *t, const int32_t *cfg, const lpot_trial_t *tr);
/* A random configuration (every option of every op, sampling sizes). */
void lpot_strategy_random_cfg(const lpot_space_t *s, uint64_t *rng, int32_t *cfg);

/* Observed configurations and their rewards (bayesian, tpe). Zero-init with
 * .len = lpot_space_cfg_len. */
typedef struct {
    size_t len, m, cap;
    int32_t *cfgs; /* m x len */
    uint64_t *h;   /* hash per cfg */
    double *y;     /* lpot_strategy_reward per cfg (-inf for NaN accuracy) */
} lpot_obs_t;
bool lpot_obs_seen(const lpot_obs_t *o, const int32_t *cfg);
/* lpot_tuner_try(cfg), then record it unless the result says stop. */
lpot_status_t lpot_obs_try(lpot_obs_t *o, lpot_tuner_t *t, const int32_t *cfg,
                           lpot_trial_t *tr);
void lpot_obs_free(lpot_obs_t *o);

/* basic's search (strategy/basic.c); linear_only = LPOT's mse order: one
 * more op per step along the proxy ranking, stop at the first pass. */
lpot_status_t lpot_basic_search(lpot_tuner_t *t, bool linear_only);

#endif
