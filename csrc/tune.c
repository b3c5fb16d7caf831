/* The tuning loop. Plain C. See tune.h. */
#include "tune.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "strategy/strategy.h"
#include "tune_journal.h"

typedef struct {
    uint64_t h;
    char *key;
    lpot_trial_t tr;
} seen_t;

struct lpot_tuner {
    const lpot_space_t *space;
    lpot_adaptor_t ad;
    lpot_tune_opts_t opts;
    const lpot_strategy_iface_t *strategy;
    lpot_journal_t *journal;
    double t0;
    lpot_tune_result_t res;
    lpot_trial_t baseline_tr;
    int32_t *best_cfg;
    bool have_best;
    void *best_model;   /* model of best_cfg, or NULL (replayed: rebuilt at the end) */
    void *last_model;   /* model of last_key, kept for the proxy */
    char *last_key;
    seen_t *seen;       /* cfgs tried in this run */
    size_t n_seen, cap_seen;
    char *key;          /* scratch for encoding */
    size_t key_cap;
    bool stopping;
    double base_measure[LPOT_OBJ_COUNT];
};

static const char *const stop_names[] = {
    [LPOT_STOP_NONE] = "none",           [LPOT_STOP_PASSED] = "passed",
    [LPOT_STOP_MAX_TRIALS] = "max_trials", [LPOT_STOP_TIMEOUT] = "timeout",
    [LPOT_STOP_EXHAUSTED] = "exhausted", [LPOT_STOP_INTERRUPTED] = "interrupted",
    [LPOT_STOP_PERF_ONLY] = "performance_only",
};

const char *lpot_stop_name(lpot_stop_t s) { return stop_names[s]; }

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

uint64_t lpot_rng_next(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

double lpot_rng_uniform(uint64_t *state)
{
    return (double)(lpot_rng_next(state) >> 11) * 0x1.0p-53;
}

/* ---- create / destroy -------------------------------------------------- */

lpot_status_t lpot_tuner_create(const lpot_space_t *space, lpot_adaptor_t adaptor,
                                const lpot_tune_opts_t *opts, lpot_tuner_t **out)
{
    *out = NULL;
    if (adaptor.iface == NULL || adaptor.iface->quantize == NULL ||
        adaptor.iface->evaluate == NULL || adaptor.iface->release == NULL)
        return lpot_set_error(LPOT_ERR_INVALID, "tuner: the adaptor lacks quantize/evaluate/release");
    const lpot_strategy_iface_t *strat = opts->custom_strategy;
    if (strat == NULL) {
        strat = lpot_strategy_find(opts->strategy ? opts->strategy : "basic");
        if (strat == NULL)
            return lpot_set_error(LPOT_ERR_CONFIG, "tuning.strategy.name: unknown strategy '%s'",
                                  opts->strategy);
    }
    if (!(opts->tolerance >= 0) || !isfinite(opts->tolerance))
        return lpot_set_error(LPOT_ERR_CONFIG, "tuning.accuracy_criterion: tolerance %g must "
                              "be a finite number >= 0", opts->tolerance);
    if (!(opts->timeout >= 0))
        return lpot_set_error(LPOT_ERR_CONFIG, "tuning.exit_policy.timeout: %g must be >= 0",
                              opts->timeout);
    lpot_tuner_t *t = calloc(1, sizeof *t);
    if (t == NULL)
        return lpot_set_error(LPOT_ERR_NOMEM, "tuner: out of memory");
    t->space = space;
    t->ad = adaptor;
    t->opts = *opts;
    t->strategy = strat;
    t->best_cfg = calloc(lpot_space_cfg_len(space), sizeof *t->best_cfg);
    t->key_cap = 16 * lpot_space_cfg_len(space) + 16;
    t->key = malloc(t->key_cap);
    if (t->best_cfg == NULL || t->key == NULL) {
        lpot_tuner_destroy(t);
        return lpot_set_error(LPOT_ERR_NOMEM, "tuner: out of memory");
    }
    t->res.baseline = t->res.target = NAN;
    *out = t;
    return LPOT_OK;
}

static void release(lpot_tuner_t *t, void *m)
{
    if (m)
        t->ad.iface->release(t->ad.context, m);
}

void lpot_tuner_destroy(lpot_tuner_t *t)
{
    if (t == NULL)
        return;
    if (t->last_model != t->best_model)
        release(t, t->last_model);
    release(t, t->best_model);
    lpot_journal_close(t->journal);
    for (size_t i = 0; i < t->n_seen; i++)
        free(t->seen[i].key);
    free(t->seen);
    free(t->last_key);
    free(t->key);
    free(t->best_cfg);
    free(t);
}

/* ---- accessors ---------------------------------------------------------- */

const lpot_space_t *lpot_tuner_space(const lpot_tuner_t *t) { return t->space; }
const lpot_tune_opts_t *lpot_tuner_opts(const lpot_tuner_t *t) { return &t->opts; }
double lpot_tuner_baseline(const lpot_tuner_t *t) { return t->res.baseline; }
bool lpot_tuner_stopping(const lpot_tuner_t *t) { return t->stopping; }

void lpot_tuner_interrupt(lpot_tuner_t *t)
{
    t->stopping = true;
    t->res.stop = LPOT_STOP_INTERRUPTED;
}
long lpot_tuner_evaluations(const lpot_tuner_t *t) { return t->res.evaluations; }
double lpot_tuner_elapsed(const lpot_tuner_t *t) { return now() - t->t0; }
const lpot_tune_result_t *lpot_tuner_result(const lpot_tuner_t *t) { return &t->res; }

void *lpot_tuner_take_best_model(lpot_tuner_t *t)
{
    void *m = t->best_model;
    if (t->last_model == m)
        t->last_model = NULL;
    t->best_model = NULL;
    t->res.best_model = NULL;
    return m;
}

static double target_of(const lpot_tune_opts_t *o, double base)
{
    double r = o->tolerance;
    if (o->relative) {
        double d = fabs(base) * r;
        return o->higher_is_better ? base - d : base + d;
    }
    return o->higher_is_better ? base - r : base + r;
}

bool lpot_tuner_passes(const lpot_tuner_t *t, double acc)
{
    if (isnan(acc))
        return false;
    return t->opts.higher_is_better ? acc >= t->res.target : acc <= t->res.target;
}

static bool has_objective(const lpot_tuner_t *t)
{
    for (int k = 0; k < LPOT_OBJ_COUNT; k++)
        if (t->opts.weights[k] > 0)
            return true;
    return false;
}

static double score_of(const lpot_tuner_t *t, const lpot_trial_t *tr)
{
    if (!tr->passed)
        return INFINITY;
    double s = 0;
    for (int k = 0; k < LPOT_OBJ_COUNT; k++) {
        double w = t->opts.weights[k], m = tr->measures[k], b = t->base_measure[k];
        if (w > 0 && isfinite(m))
            s += w * (b > 0 && isfinite(b) ? m / b : m);
    }
    return s;
}

/* ---- one trial ----------------------------------------------------------- */

static lpot_status_t adaptor_failed(lpot_tuner_t *t, lpot_status_t st)
{
    if (st == LPOT_ERR_PYTHON && t->ad.iface->interrupted &&
        t->ad.iface->interrupted(t->ad.context)) {
        t->stopping = true;
        t->res.stop = LPOT_STOP_INTERRUPTED;
        return LPOT_OK;
    }
    return st;
}

static lpot_status_t measure_all(lpot_tuner_t *t, void *model, long trial, double *m)
{
    for (int k = 0; k < LPOT_OBJ_COUNT; k++) {
        m[k] = NAN;
        if (t->opts.weights[k] > 0 && t->ad.iface->measure) {
            lpot_status_t st = t->ad.iface->measure(t->ad.context, model, (lpot_objective_t)k,
                                                    trial, &m[k]);
            if (st != LPOT_OK)
                return st;
        }
    }
    return LPOT_OK;
}

static void check_exit(lpot_tuner_t *t)
{
    if (t->stopping)
        return;
    if (t->opts.performance_only && t->res.trials >= 1)
        t->res.stop = LPOT_STOP_PERF_ONLY;
    else if (t->res.found && t->opts.timeout == 0)
        t->res.stop = LPOT_STOP_PASSED;
    else if (t->opts.max_trials > 0 && t->res.trials >= t->opts.max_trials)
        t->res.stop = LPOT_STOP_MAX_TRIALS;
    else if (t->opts.timeout > 0 && now() - t->t0 >= t->opts.timeout)
        t->res.stop = LPOT_STOP_TIMEOUT;
    t->stopping = t->res.stop != LPOT_STOP_NONE;
}

static const char *encode(lpot_tuner_t *t, const int32_t *cfg)
{
    size_t need = lpot_space_cfg_encode(t->space, cfg, t->key, t->key_cap);
    if (need >= t->key_cap) {
        char *k = realloc(t->key, need + 1);
        if (k == NULL)
            return NULL;
        t->key = k;
        t->key_cap = need + 1;
        lpot_space_cfg_encode(t->space, cfg, t->key, t->key_cap);
    }
    return t->key;
}

static const seen_t *seen_find(const lpot_tuner_t *t, const char *key, uint64_t h)
{
    for (size_t i = 0; i < t->n_seen; i++)
        if (t->seen[i].h == h && strcmp(t->seen[i].key, key) == 0)
            return &t->seen[i];
    return NULL;
}

static lpot_status_t seen_add(lpot_tuner_t *t, const char *key, uint64_t h,
                              const lpot_trial_t *tr)
{
    if (t->n_seen == t->cap_seen) {
        size_t cap = t->cap_seen ? 2 * t->cap_seen : 64;
        seen_t *s = realloc(t->seen, cap * sizeof *s);
        if (s == NULL)
            return lpot_set_error(LPOT_ERR_NOMEM, "tuner: out of memory");
        t->seen = s;
        t->cap_seen = cap;
    }
    char *k = strdup(key);
    if (k == NULL)
        return lpot_set_error(LPOT_ERR_NOMEM, "tuner: out of memory");
    t->seen[t->n_seen++] = (seen_t){h, k, *tr};
    t->seen[t->n_seen - 1].tr.cfg = NULL;
    return LPOT_OK;
}

/* Is tr better than the current best? Passing beats failing; among passing
 * the lower score, then the higher accuracy; among failing the better
 * accuracy. */
static bool better(const lpot_tuner_t *t, const lpot_trial_t *tr)
{
    if (!t->have_best)
        return true;
    const lpot_trial_t *b = &t->res.best;
    if (tr->passed != b->passed)
        return tr->passed;
    if (tr->passed && tr->score != b->score)
        return tr->score < b->score;
    if (isnan(tr->accuracy))
        return false;
    if (isnan(b->accuracy))
        return true;
    return t->opts.higher_is_better ? tr->accuracy > b->accuracy : tr->accuracy < b->accuracy;
}

static void set_last_model(lpot_tuner_t *t, void *model, const char *key)
{
    if (t->last_model && t->last_model != t->best_model)
        release(t, t->last_model);
    t->last_model = model;
    free(t->last_key);
    t->last_key = model ? strdup(key) : NULL;
    if (t->last_key == NULL && model) {
        if (model != t->best_model)
            release(t, model);
        t->last_model = NULL;
    }
}

lpot_status_t lpot_tuner_try(lpot_tuner_t *t, const int32_t *cfg, lpot_trial_t *out)
{
    lpot_status_t st = LPOT_OK;
    memset(out, 0, sizeof *out);
    out->accuracy = NAN;
    out->score = INFINITY;
    for (int k = 0; k < LPOT_OBJ_COUNT; k++)
        out->measures[k] = NAN;
    if (!lpot_space_cfg_valid(t->space, cfg))
        return lpot_set_error(LPOT_ERR_INVALID, "strategy %s proposed a configuration outside "
                              "the tuning space", t->strategy->name);
    if (t->ad.iface->poll && !t->stopping) {
        st = t->ad.iface->poll(t->ad.context);
        if (st != LPOT_OK && (st = adaptor_failed(t, st)) != LPOT_OK)
            return st;
    }
    if (t->stopping && t->res.stop == LPOT_STOP_INTERRUPTED) {
        out->stop = true;
        return LPOT_OK;
    }
    check_exit(t);
    if (t->stopping) {
        out->stop = true;
        return LPOT_OK;
    }
    const char *key = encode(t, cfg);
    if (key == NULL)
        return lpot_set_error(LPOT_ERR_NOMEM, "tuner: out of memory");
    uint64_t h = lpot_fnv1a(LPOT_FNV_SEED, key, strlen(key));
    const seen_t *s = seen_find(t, key, h);
    if (s) {
        *out = s->tr;
        out->cached = true;
        out->stop = false;
        return LPOT_OK;
    }
    long trial = t->res.trials + 1;
    void *model = NULL;
    if (t->journal && lpot_journal_find_trial(t->journal, key, out)) {
        out->replayed = true;
        out->trial = trial;
        t->res.replayed++;
    } else {
        double t1 = now();
        out->trial = trial;
        st = t->ad.iface->quantize(t->ad.context, t->space, cfg, trial, &model);
        if (st != LPOT_OK)
            goto fail;
        if (!t->opts.performance_only) {
            st = t->ad.iface->evaluate(t->ad.context, model, trial, &out->accuracy);
            if (st != LPOT_OK)
                goto fail;
            out->evaluated = true;
            t->res.evaluations++;
            out->passed = lpot_tuner_passes(t, out->accuracy);
        } else {
            out->passed = true; /* not checked */
        }
        if (out->passed && (st = measure_all(t, model, trial, out->measures)) != LPOT_OK)
            goto fail;
        out->score = score_of(t, out);
        out->seconds = now() - t1;
        if (t->journal && (st = lpot_journal_append_trial(t->journal, key, out)) != LPOT_OK)
            goto fail;
    }
    t->res.trials = trial;
    if ((st = seen_add(t, key, h, out)) != LPOT_OK)
        goto fail;
    if (out->passed && (!t->opts.performance_only || t->res.trials == 1))
        t->res.found = true;
    if (better(t, out)) {
        memcpy(t->best_cfg, cfg, lpot_space_cfg_len(t->space) * sizeof *cfg);
        t->res.best = *out;
        t->have_best = true;
        if (t->best_model && t->best_model != t->last_model)
            release(t, t->best_model);
        t->best_model = model;
    }
    set_last_model(t, model, key);
    model = NULL;
    if (t->ad.iface->on_trial) {
        out->cfg = cfg;
        st = t->ad.iface->on_trial(t->ad.context, t, out);
        out->cfg = NULL;
        if (st != LPOT_OK && (st = adaptor_failed(t, st)) != LPOT_OK)
            return st;
    }
    check_exit(t);
    out->stop = t->stopping;
    return LPOT_OK;
fail:
    release(t, model);
    st = adaptor_failed(t, st);
    out->stop = t->stopping;
    return st;
}

lpot_status_t lpot_tuner_proxy(lpot_tuner_t *t, const int32_t *cfg, double *err,
                               bool *available)
{
    size_t n = lpot_space_n_ops(t->space);
    *available = false;
    check_exit(t); /* the proxy quantizes: respect the budget */
    if (t->ad.iface->inspect_error == NULL || t->stopping)
        return LPOT_OK;
    const char *key = encode(t, cfg);
    if (key == NULL)
        return lpot_set_error(LPOT_ERR_NOMEM, "tuner: out of memory");
    if (t->journal && lpot_journal_find_proxy(t->journal, key, err, n)) {
        *available = true;
        return LPOT_OK;
    }
    lpot_status_t st = LPOT_OK;
    void *model = NULL;
    bool own = false;
    if (t->last_model && t->last_key && strcmp(t->last_key, key) == 0) {
        model = t->last_model;
    } else if (t->best_model && t->have_best &&
               memcmp(t->best_cfg, cfg, lpot_space_cfg_len(t->space) * sizeof *cfg) == 0) {
        model = t->best_model;
    } else {
        st = t->ad.iface->quantize(t->ad.context, t->space, cfg, t->res.trials, &model);
        if (st != LPOT_OK)
            return adaptor_failed(t, st);
        own = true;
    }
    for (size_t i = 0; i < n; i++)
        err[i] = NAN;
    st = t->ad.iface->inspect_error(t->ad.context, model, t->space, t->res.trials, err);
    if (own)
        release(t, model);
    if (st != LPOT_OK)
        return adaptor_failed(t, st);
    key = encode(t, cfg);
    if (t->journal && (st = lpot_journal_append_proxy(t->journal, key, err, n)) != LPOT_OK)
        return st;
    *available = true;
    return LPOT_OK;
}

/* ---- the run ------------------------------------------------------------ */

static void canonical_options(const lpot_tuner_t *t, char *buf, size_t cap)
{
    const lpot_tune_opts_t *o = &t->opts;
    snprintf(buf, cap,
             "strategy=%s;criterion=%s:%.17g;higher_is_better=%d;objective=performance:%g,"
             "modelsize:%g,footprint:%g;performance_only=%d;random_seed=%llu",
             o->strategy ? o->strategy : t->strategy->name, o->relative ? "relative" : "absolute", o->tolerance,
             (int)o->higher_is_better, o->weights[0], o->weights[1], o->weights[2],
             (int)o->performance_only, (unsigned long long)o->seed);
}

static lpot_status_t baseline(lpot_tuner_t *t)
{
    lpot_trial_t *b = &t->baseline_tr;
    memset(b, 0, sizeof *b);
    b->accuracy = NAN;
    for (int k = 0; k < LPOT_OBJ_COUNT; k++)
        b->measures[k] = NAN;
    if (t->journal && lpot_journal_find_trial(t->journal, "fp32", b)) {
        b->replayed = true;
        t->res.replayed++;
    } else {
        double t1 = now();
        lpot_status_t st;
        if (!t->opts.performance_only) {
            st = t->ad.iface->evaluate(t->ad.context, NULL, 0, &b->accuracy);
            if (st != LPOT_OK)
                return st;
            b->evaluated = true;
            t->res.evaluations++;
        }
        if (has_objective(t) && (st = measure_all(t, NULL, 0, b->measures)) != LPOT_OK)
            return st;
        b->seconds = now() - t1;
        b->passed = true;
        b->score = NAN;
        if (t->journal && (st = lpot_journal_append_trial(t->journal, "fp32", b)) != LPOT_OK)
            return st;
    }
    if (!t->opts.performance_only && !isfinite(b->accuracy))
        return lpot_set_error(LPOT_ERR_TUNING, "the fp32 baseline accuracy is %g: the "
                              "evaluation cannot judge any configuration", b->accuracy);
    t->res.baseline = b->accuracy;
    t->res.target = target_of(&t->opts, b->accuracy);
    memcpy(t->base_measure, b->measures, sizeof t->base_measure);
    if (t->ad.iface->on_trial) {
        lpot_status_t st = t->ad.iface->on_trial(t->ad.context, t, b);
        if (st != LPOT_OK)
            return st;
    }
    return LPOT_OK;
}

lpot_status_t lpot_tuner_run(lpot_tuner_t *t)
{
    lpot_status_t st = LPOT_OK;
    void *sctx = NULL;
    t->t0 = now();
    if (t->opts.journal_path) {
        char tuning[512], space[32];
        canonical_options(t, tuning, sizeof tuning);
        snprintf(space, sizeof space, "%016llx", (unsigned long long)lpot_space_hash(t->space));
        lpot_journal_header_t hdr = {
            t->opts.model_fingerprint ? t->opts.model_fingerprint : "", space, tuning};
        if ((st = lpot_journal_open(t->opts.journal_path, t->opts.resume, &hdr, &t->journal)) !=
            LPOT_OK)
            return st;
    }
    st = baseline(t);
    if (st != LPOT_OK && (st = adaptor_failed(t, st)) != LPOT_OK)
        goto cleanup;
    if (!t->stopping) {
        if (t->opts.custom_strategy)
            sctx = t->opts.custom_strategy_ctx;
        else if (t->strategy->create && (st = t->strategy->create(t, &sctx)) != LPOT_OK)
            goto cleanup;
        st = t->strategy->run(sctx, t);
        if (st != LPOT_OK)
            goto cleanup;
    }
    if (t->res.stop == LPOT_STOP_NONE)
        t->res.stop = LPOT_STOP_EXHAUSTED;
    t->stopping = true;
    /* A replayed best has no model yet: rebuild it (no evaluation). */
    if (t->have_best && t->best_model == NULL && t->res.stop != LPOT_STOP_INTERRUPTED) {
        st = t->ad.iface->quantize(t->ad.context, t->space, t->best_cfg, t->res.best.trial,
                                   &t->best_model);
        if (st != LPOT_OK && (st = adaptor_failed(t, st)) != LPOT_OK)
            goto cleanup;
    }
cleanup:
    if (sctx && t->strategy->destroy && !t->opts.custom_strategy)
        t->strategy->destroy(sctx);
    t->res.best_cfg = t->have_best ? t->best_cfg : NULL;
    t->res.best_model = t->best_model;
    t->res.elapsed = now() - t->t0;
    return st;
}
