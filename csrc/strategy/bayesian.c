/* bayesian: Gaussian-process optimisation over the configuration space.
 *
 * One dimension per op (option index scaled to [0, 1]; fp32/bf16 fallback
 * options included, LPOT's bayesian never fell back) plus one for the
 * sampling size when there are several. The target is
 * lpot_strategy_reward (accuracy capped at the goal, minus a small cost per
 * fallback), standardised. Kernel: Matern 5/2,
 *   k(r) = (1 + sqrt5 r/l + 5 r^2 / (3 l^2)) exp(-sqrt5 r/l),  l = sqrt(d)/2,
 * with 1e-6 jitter; the posterior comes from our own dense Cholesky
 * factorisation of the (at most 256 most recent) observations. Acquisition:
 * UCB = mu + kappa * sigma with kappa = 2.576, maximised over 256 random
 * configurations and 256 mutations (1 to 3 ops changed) of the four best
 * observed ones, skipping configurations already tried. Starts from the
 * default configuration plus 5 random ones. Runs until the exit policy stops
 * it (or 4 rounds find no untried candidate). Deterministic given
 * random_seed. Cost per proposal ~ O(512 * m * (m + d)) flops. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "strategy.h"

#define BO_MAX_OBS 256
#define BO_RANDOM 256
#define BO_MUTANTS 64
#define BO_TOP 4
#define BO_KAPPA 2.576
#define BO_INIT 5

typedef struct {
    const lpot_space_t *s;
    size_t n, len, d;
    lpot_obs_t o;
    double *X;      /* BO_MAX_OBS x d (scratch for the fit) */
    double *L, *alpha, *ys, *kv, *x;
    uint64_t rng;
} bo_t;

static void embed(const bo_t *b, const int32_t *c, double *x)
{
    for (size_t i = 0; i < b->n; i++) {
        size_t k = lpot_space_op(b->s, i)->n_opts;
        x[i] = k > 1 ? (double)c[i] / (double)(k - 1) : 0.0;
    }
    if (b->d > b->n)
        x[b->n] = (double)c[b->n] / (double)(lpot_space_n_sampling(b->s) - 1);
}

static double matern52(const double *a, const double *c, size_t d, double l)
{
    double r2 = 0;
    for (size_t i = 0; i < d; i++)
        r2 += (a[i] - c[i]) * (a[i] - c[i]);
    double r = sqrt(r2) / l, s5 = sqrt(5.0) * r;
    return (1 + s5 + 5.0 * r * r / 3.0) * exp(-s5);
}

/* In-place Cholesky of the m x m SPD matrix A (lower triangle); false when
 * not positive definite. */
static bool cholesky(double *A, size_t m)
{
    for (size_t j = 0; j < m; j++) {
        double s = A[j * m + j];
        for (size_t k = 0; k < j; k++)
            s -= A[j * m + k] * A[j * m + k];
        if (!(s > 0))
            return false;
        double ljj = sqrt(s);
        A[j * m + j] = ljj;
        for (size_t i = j + 1; i < m; i++) {
            double v = A[i * m + j];
            for (size_t k = 0; k < j; k++)
                v -= A[i * m + k] * A[j * m + k];
            A[i * m + j] = v / ljj;
        }
    }
    return true;
}

/* Solve L z = v (forward) in place. */
static void forward(const double *L, size_t m, double *v)
{
    for (size_t i = 0; i < m; i++) {
        double s = v[i];
        for (size_t k = 0; k < i; k++)
            s -= L[i * m + k] * v[k];
        v[i] = s / L[i * m + i];
    }
}

/* Solve L^T z = v (backward) in place. */
static void backward(const double *L, size_t m, double *v)
{
    for (size_t i = m; i-- > 0;) {
        double s = v[i];
        for (size_t k = i + 1; k < m; k++)
            s -= L[k * m + i] * v[k];
        v[i] = s / L[i * m + i];
    }
}

/* Fit on the last <= BO_MAX_OBS finite observations; returns how many. */
static size_t fit(bo_t *b, double l, size_t *idx)
{
    size_t q = 0;
    const double *y = b->o.y;
    for (size_t i = b->o.m; i-- > 0 && q < BO_MAX_OBS;)
        if (isfinite(y[i]))
            idx[q++] = i;
    if (q == 0)
        return 0;
    double mean = 0, var = 0, lo = INFINITY;
    for (size_t i = 0; i < q; i++) {
        mean += y[idx[i]];
        if (y[idx[i]] < lo)
            lo = y[idx[i]];
    }
    mean /= (double)q;
    for (size_t i = 0; i < q; i++)
        var += (y[idx[i]] - mean) * (y[idx[i]] - mean);
    double sd = q > 1 ? sqrt(var / (double)(q - 1)) : 1.0;
    if (!(sd > 0))
        sd = 1.0;
    for (size_t i = 0; i < q; i++) {
        embed(b, b->o.cfgs + idx[i] * b->len, b->X + i * b->d);
        b->ys[i] = (y[idx[i]] - mean) / sd;
    }
    for (size_t i = 0; i < q; i++)
        for (size_t j = 0; j <= i; j++) {
            double k = matern52(b->X + i * b->d, b->X + j * b->d, b->d, l);
            b->L[i * q + j] = b->L[j * q + i] = k + (i == j ? 1e-6 : 0.0);
        }
    if (!cholesky(b->L, q))
        return 0;
    memcpy(b->alpha, b->ys, q * sizeof *b->alpha);
    forward(b->L, q, b->alpha);
    backward(b->L, q, b->alpha);
    return q;
}

static double ucb(bo_t *b, size_t q, double l, const int32_t *c)
{
    embed(b, c, b->x);
    double mu = 0;
    for (size_t i = 0; i < q; i++) {
        b->kv[i] = matern52(b->x, b->X + i * b->d, b->d, l);
        mu += b->kv[i] * b->alpha[i];
    }
    forward(b->L, q, b->kv);
    double v = 1.0;
    for (size_t i = 0; i < q; i++)
        v -= b->kv[i] * b->kv[i];
    return mu + BO_KAPPA * sqrt(v > 0 ? v : 0);
}

static lpot_status_t bayesian_run(void *ctx, lpot_tuner_t *t)
{
    (void)ctx;
    bo_t b = {.s = lpot_tuner_space(t)};
    lpot_status_t st = LPOT_OK;
    b.n = lpot_space_n_ops(b.s);
    b.len = lpot_space_cfg_len(b.s);
    b.d = b.n + (lpot_space_n_sampling(b.s) > 1);
    b.o.len = b.len;
    b.rng = lpot_tuner_opts(t)->seed ^ 0xb0b0b0b0ULL;
    double l = sqrt((double)b.d) / 2;
    b.X = malloc(BO_MAX_OBS * b.d * sizeof *b.X);
    b.L = malloc(BO_MAX_OBS * BO_MAX_OBS * sizeof *b.L);
    b.alpha = malloc(BO_MAX_OBS * sizeof *b.alpha);
    b.ys = malloc(BO_MAX_OBS * sizeof *b.ys);
    b.kv = malloc(BO_MAX_OBS * sizeof *b.kv);
    b.x = malloc(b.d * sizeof *b.x);
    size_t *idx = malloc(BO_MAX_OBS * sizeof *idx), top[BO_TOP];
    int32_t *cand = malloc(b.len * sizeof *cand), *best = malloc(b.len * sizeof *best);
    if (!b.X || !b.L || !b.alpha || !b.ys || !b.kv || !b.x || !idx ||
        !cand || !best) {
        st = lpot_set_error(LPOT_ERR_NOMEM, "bayesian: out of memory");
        goto cleanup;
    }
    lpot_trial_t tr;
    lpot_space_modelwise_cfg(b.s, 0, 0, cand);
    if ((st = lpot_obs_try(&b.o, t, cand, &tr)) != LPOT_OK || tr.stop)
        goto cleanup;
    for (int i = 0; i < BO_INIT; i++) {
        lpot_strategy_random_cfg(b.s, &b.rng, cand);
        if ((st = lpot_obs_try(&b.o, t, cand, &tr)) != LPOT_OK || tr.stop)
            goto cleanup;
    }
    for (int idle = 0; idle < 4;) {
        size_t q = fit(&b, l, idx);
        /* the BO_TOP best observations, for mutations */
        size_t n_top = 0;
        const double *y = b.o.y;
        for (size_t i = 0; i < b.o.m; i++) {
            if (!isfinite(y[i]))
                continue;
            size_t p = n_top < BO_TOP ? n_top++ : BO_TOP;
            if (p == BO_TOP && !(y[i] > y[top[BO_TOP - 1]]))
                continue;
            if (p == BO_TOP)
                p = BO_TOP - 1;
            while (p > 0 && y[i] > y[top[p - 1]]) {
                top[p] = top[p - 1];
                p--;
            }
            top[p] = i;
        }
        double best_a = -INFINITY;
        bool have = false;
        for (size_t k = 0; k < BO_RANDOM + n_top * BO_MUTANTS; k++) {
            if (k < BO_RANDOM) {
                lpot_strategy_random_cfg(b.s, &b.rng, cand);
            } else {
                size_t src = top[(k - BO_RANDOM) / BO_MUTANTS];
                memcpy(cand, b.o.cfgs + src * b.len, b.len * sizeof *cand);
                int flips = 1 + (int)(lpot_rng_next(&b.rng) % 3);
                for (int f = 0; f < flips; f++) {
                    size_t i = (size_t)(lpot_rng_next(&b.rng) % b.len);
                    size_t kk = i < b.n ? lpot_space_op(b.s, i)->n_opts : lpot_space_n_sampling(b.s);
                    cand[i] = (int32_t)(lpot_rng_next(&b.rng) % kk);
                }
            }
            if (lpot_obs_seen(&b.o, cand))
                continue;
            double a = q ? ucb(&b, q, l, cand) : 0.0;
            if (!have || a > best_a) {
                best_a = a;
                have = true;
                memcpy(best, cand, b.len * sizeof *best);
            }
        }
        if (!have) {
            idle++;
            continue;
        }
        idle = 0;
        if ((st = lpot_obs_try(&b.o, t, best, &tr)) != LPOT_OK || tr.stop)
            goto cleanup;
    }
cleanup:
    lpot_obs_free(&b.o);
    free(b.X);
    free(b.L);
    free(b.alpha);
    free(b.ys);
    free(b.kv);
    free(b.x);
    free(idx);
    free(cand);
    free(best);
    return st;
}

const lpot_strategy_iface_t lpot_strategy_bayesian = {
    .name = "bayesian",
    .run = bayesian_run,
};
