/* The tuning loop: criterion, objectives, exit policy, history. Plain C.
 *
 * lpot_tuner_create takes a space, an adaptor and options; lpot_tuner_run
 * evaluates the fp32 baseline, then lets the strategy propose configurations
 * through lpot_tuner_try until the exit policy stops it or the strategy has
 * nothing left.
 *
 * Criterion: with higher_is_better, relative r passes acc >= base*(1-r)
 * (|base| when the baseline is negative), absolute a passes acc >= base-a;
 * flipped when lower is better. NaN accuracy fails.
 * Objectives: measured on passing models only (plus the baseline); the score
 * is sum_k w_k * m_k / m_k(fp32) (lower is better; failing = +inf).
 * Exit policy: max_trials quantized configs exactly (replayed ones count);
 * timeout 0 stops at the first passing config; timeout > 0 keeps searching
 * for better-scoring passing configs until the budget is spent (checked
 * before each trial, so it is respected within one trial's duration) and
 * returns the best-scoring passing one; performance_only quantizes the first
 * proposal and stops without evaluating.
 * History: see tune_journal.h; with resume, trials found in the journal are
 * replayed instead of run. */
#ifndef LPOT_TUNE_H
#define LPOT_TUNE_H

#include <stdbool.h>
#include <stdint.h>

#include "adaptors/adaptor.h"
#include "status.h"
#include "tune_space.h"

typedef struct lpot_tuner lpot_tuner_t;

typedef struct {
    const char *strategy;      /* registry name (strategy/strategy.h) */
    bool higher_is_better;
    bool relative;             /* else absolute */
    double tolerance;
    double weights[LPOT_OBJ_COUNT]; /* objective weights; all 0 = no objective */
    double timeout;            /* seconds */
    long max_trials;           /* <= 0: unlimited */
    bool performance_only;
    uint64_t seed;
    const char *journal_path;  /* NULL: no history */
    bool resume;               /* replay journal_path */
    const char *model_fingerprint; /* identifies the model (NULL = "") */
    /* (optional) a strategy implemented outside C (e.g. Python): overrides
     * `strategy` when set; see strategy/strategy.h. */
    const struct lpot_strategy_iface *custom_strategy;
    void *custom_strategy_ctx;
} lpot_tune_opts_t;

typedef struct lpot_trial {
    long trial;          /* 0 = fp32 baseline */
    double accuracy;     /* NaN when not evaluated or NaN */
    bool evaluated;
    bool passed;
    double measures[LPOT_OBJ_COUNT]; /* NaN when not measured */
    double score;        /* lower is better; INFINITY when failing */
    double seconds;      /* quantize + evaluate + measure */
    bool replayed;       /* taken from the journal */
    bool cached;         /* cfg already tried in this run (not counted) */
    bool stop;           /* exit policy: the strategy must return now */
    const int32_t *cfg;  /* valid during on_trial only */
} lpot_trial_t;

typedef enum {
    LPOT_STOP_NONE = 0,
    LPOT_STOP_PASSED,      /* timeout 0 and a config passed */
    LPOT_STOP_MAX_TRIALS,
    LPOT_STOP_TIMEOUT,
    LPOT_STOP_EXHAUSTED,   /* the strategy had nothing left */
    LPOT_STOP_INTERRUPTED,
    LPOT_STOP_PERF_ONLY,
} lpot_stop_t;

const char *lpot_stop_name(lpot_stop_t s);

typedef struct {
    lpot_stop_t stop;
    double baseline;         /* fp32 accuracy */
    double target;           /* accuracy a config must reach */
    bool found;              /* a passing config exists */
    const int32_t *best_cfg; /* best passing, else best accuracy (NULL if none) */
    lpot_trial_t best;
    void *best_model;        /* adaptor model of best_cfg (owned by the tuner) */
    long trials, evaluations, replayed;
    double elapsed;
} lpot_tune_result_t;

lpot_status_t lpot_tuner_create(const lpot_space_t *space, lpot_adaptor_t adaptor,
                                const lpot_tune_opts_t *opts, lpot_tuner_t **out);
void lpot_tuner_destroy(lpot_tuner_t *t);

/* Run the whole tuning. Errors from the adaptor propagate (LPOT_ERR_PYTHON);
 * an interrupt ends cleanly with LPOT_STOP_INTERRUPTED. */
lpot_status_t lpot_tuner_run(lpot_tuner_t *t);
const lpot_tune_result_t *lpot_tuner_result(const lpot_tuner_t *t);
/* Take the best model out (the tuner no longer releases it). */
void *lpot_tuner_take_best_model(lpot_tuner_t *t);

/* ---- for strategies ---------------------------------------------------- */
const lpot_space_t *lpot_tuner_space(const lpot_tuner_t *t);
const lpot_tune_opts_t *lpot_tuner_opts(const lpot_tuner_t *t);
double lpot_tuner_baseline(const lpot_tuner_t *t);
bool lpot_tuner_passes(const lpot_tuner_t *t, double accuracy);
/* true once the exit policy says stop */
bool lpot_tuner_stopping(const lpot_tuner_t *t);
/* Run (or replay) one trial of cfg. On return out->stop tells the strategy
 * to return at once. */
lpot_status_t lpot_tuner_try(lpot_tuner_t *t, const int32_t *cfg, lpot_trial_t *out);
/* Cheap proxy for cfg (see adaptor.h inspect_error); *available is false
 * when the adaptor has none. err has lpot_space_n_ops entries. */
lpot_status_t lpot_tuner_proxy(lpot_tuner_t *t, const int32_t *cfg, double *err,
                               bool *available);
/* The user interrupted (e.g. inside a strategy callback): stop cleanly
 * with LPOT_STOP_INTERRUPTED. */
void lpot_tuner_interrupt(lpot_tuner_t *t);
/* Full evaluations so far (baseline included). */
long lpot_tuner_evaluations(const lpot_tuner_t *t);
double lpot_tuner_elapsed(const lpot_tuner_t *t);

/* Deterministic RNG (splitmix64) for strategies. */
uint64_t lpot_rng_next(uint64_t *state);
double lpot_rng_uniform(uint64_t *state); /* [0, 1) */

#endif
