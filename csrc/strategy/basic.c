/* basic: LPOT's basic strategy, with a cheap proxy in place of the N
 * single-op fallback evaluations.
 *
 * 1. Model-wise: every model-wise configuration x calibration sampling size
 *    (LPOT's first stage); the one with the best accuracy is the base.
 * 2. Rank: the ops the base quantizes are ranked by the adaptor's per-op
 *    output error of the base model against fp32 (inspect_tensor on a few
 *    batches; no full evaluation). Without a proxy, LPOT's way: one full
 *    evaluation per single-op fallback, ranked by the accuracy it gives.
 * 3. Cumulative fallback along the ranking: fall back the top k ops (bf16
 *    where allowed, else fp32) for k = 1, 2, ... 8, then growing by a quarter
 *    (k += ceil(k/4)), until the config passes. With a useful proxy the first
 *    passing config comes after about as many evaluations as there are
 *    sensitive ops, instead of LPOT's N + that. If nothing passes with every
 *    candidate on bf16, the same is done with fp32.
 * 4. (only when the exit policy keeps searching: timeout > 0) Prune the
 *    passing fallback set by adaptive group testing (see prune): re-quantize
 *    groups of fallen-back ops, least suspicious first, keeping a group
 *    quantized when the config still passes; the group size doubles after a
 *    pass and halves after a failure. The last op added in step 3 is kept
 *    when it was added alone (without it the prefix failed). Greedy
 *    keep/revert: every accepted state passes.
 * 5. (timeout > 0) For each op still in fp32/bf16, try its other quantized
 *    options (scheme, granularity, algorithm) and bf16 instead of fp32; keep a
 *    change when it passes with a better objective score.
 * Deterministic: no randomness at all. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "strategy.h"

typedef struct {
    lpot_tuner_t *t;
    const lpot_space_t *s;
    size_t n, len;
    int32_t *base, *cur, *tmp;
    size_t *rank, n_rank;
    double *key;
    bool stop;
} basic_t;

static lpot_status_t try_cfg(basic_t *b, const int32_t *cfg, lpot_trial_t *tr)
{
    lpot_status_t st = lpot_tuner_try(b->t, cfg, tr);
    if (tr->stop)
        b->stop = true;
    return st;
}

static int32_t fb_opt(basic_t *b, size_t op, int stage)
{
    return lpot_space_fallback(b->s, op, stage);
}

/* ops the base quantizes and that can fall back */
static void candidates(basic_t *b)
{
    b->n_rank = 0;
    for (size_t i = 0; i < b->n; i++) {
        const lpot_space_op_t *op = lpot_space_op(b->s, i);
        if ((size_t)b->base[i] < op->n_quant && fb_opt(b, i, 0) >= 0)
            b->rank[b->n_rank++] = i;
    }
}

static lpot_status_t rank_ops(basic_t *b)
{
    bool avail = false;
    lpot_status_t st = lpot_tuner_proxy(b->t, b->base, b->key, &avail);
    if (st != LPOT_OK || lpot_tuner_stopping(b->t)) {
        b->stop = lpot_tuner_stopping(b->t);
        return st;
    }
    if (!avail) {
        /* LPOT's ranking: one evaluation per single-op fallback, in reverse
         * model order; a higher resulting accuracy ranks first. */
        bool higher = lpot_tuner_opts(b->t)->higher_is_better;
        for (size_t r = b->n_rank; r-- > 0;) {
            size_t i = b->rank[r];
            lpot_trial_t tr;
            memcpy(b->tmp, b->base, b->len * sizeof *b->tmp);
            b->tmp[i] = fb_opt(b, i, 0);
            if ((st = try_cfg(b, b->tmp, &tr)) != LPOT_OK || b->stop)
                return st;
            b->key[i] = higher ? tr.accuracy : -tr.accuracy;
        }
    }
    lpot_sort_desc(b->rank, b->n_rank, b->key);
    return LPOT_OK;
}

/* b->cur = base with rank[0..k) on fallback `stage` */
static void prefix(basic_t *b, size_t k, int stage)
{
    memcpy(b->cur, b->base, b->len * sizeof *b->cur);
    for (size_t r = 0; r < k; r++)
        b->cur[b->rank[r]] = fb_opt(b, b->rank[r], stage);
}

/* Adaptive group testing over ops[0..m) (least suspicious first): try
 * re-quantizing the next g ops of b->cur at once; when the config still
 * passes keep them quantized and double g, else halve g (a single op that
 * fails stays fallen back). All needed: m + log2(m) trials; none needed:
 * about log2(m). */
static lpot_status_t prune(basic_t *b, const size_t *ops, size_t m)
{
    size_t pos = 0, g = m > 1 ? m / 2 : 1;
    while (pos < m && !b->stop) {
        size_t k = g < m - pos ? g : m - pos;
        lpot_trial_t tr;
        memcpy(b->tmp, b->cur, b->len * sizeof *b->tmp);
        for (size_t r = 0; r < k; r++)
            b->tmp[ops[pos + r]] = b->base[ops[pos + r]];
        lpot_status_t st = try_cfg(b, b->tmp, &tr);
        if (st != LPOT_OK || b->stop)
            return st;
        if (tr.passed) {
            memcpy(b->cur, b->tmp, b->len * sizeof *b->cur);
            pos += k;
            g *= 2;
        } else if (k == 1) {
            pos++; /* needed */
        } else {
            g = k / 2;
        }
    }
    return LPOT_OK;
}

static lpot_status_t alternatives(basic_t *b)
{
    lpot_status_t st = LPOT_OK;
    lpot_trial_t tr;
    memcpy(b->tmp, b->cur, b->len * sizeof *b->tmp);
    if ((st = try_cfg(b, b->tmp, &tr)) != LPOT_OK || b->stop) /* cached: its score */
        return st;
    double best = tr.score;
    for (size_t i = 0; i < b->n && !b->stop; i++) {
        const lpot_space_op_t *op = lpot_space_op(b->s, i);
        if ((size_t)b->cur[i] < op->n_quant)
            continue;
        for (size_t j = 0; j < op->n_opts && !b->stop; j++) {
            bool q = j < op->n_quant && (int32_t)j != b->base[i];
            bool bf = (int32_t)j == op->bf16 && b->cur[i] == op->fp32;
            if (!q && !bf)
                continue;
            memcpy(b->tmp, b->cur, b->len * sizeof *b->tmp);
            b->tmp[i] = (int32_t)j;
            if ((st = try_cfg(b, b->tmp, &tr)) != LPOT_OK)
                return st;
            if (tr.passed && tr.score < best) {
                best = tr.score;
                memcpy(b->cur, b->tmp, b->len * sizeof *b->cur);
                break;
            }
        }
    }
    return st;
}

lpot_status_t lpot_basic_search(lpot_tuner_t *t, bool linear_only)
{
    basic_t b = {.t = t, .s = lpot_tuner_space(t)};
    lpot_status_t st = LPOT_OK;
    b.n = lpot_space_n_ops(b.s);
    b.len = lpot_space_cfg_len(b.s);
    b.base = malloc(b.len * sizeof *b.base);
    b.cur = malloc(b.len * sizeof *b.cur);
    b.tmp = malloc(b.len * sizeof *b.tmp);
    b.rank = malloc(b.n * sizeof *b.rank);
    b.key = malloc(b.n * sizeof *b.key);
    if (!b.base || !b.cur || !b.tmp || !b.rank || !b.key) {
        st = lpot_set_error(LPOT_ERR_NOMEM, "basic: out of memory");
        goto cleanup;
    }
    if ((st = lpot_strategy_modelwise(t, b.base, &b.stop)) != LPOT_OK || b.stop)
        goto cleanup;
    candidates(&b);
    if (b.n_rank == 0 || (st = rank_ops(&b)) != LPOT_OK || b.stop)
        goto cleanup;
    bool has_bf16 = false;
    for (size_t r = 0; r < b.n_rank; r++)
        has_bf16 |= fb_opt(&b, b.rank[r], 0) != fb_opt(&b, b.rank[r], 1);
    for (int stage = 0; stage < 2; stage++) {
        if (stage == 1 && !has_bf16)
            break;
        size_t k = 0, prev = 0;
        bool passed = false;
        while (k < b.n_rank && !b.stop) {
            prev = k;
            k += k < 8 || linear_only ? 1 : (k + 3) / 4;
            if (k > b.n_rank)
                k = b.n_rank;
            lpot_trial_t tr;
            prefix(&b, k, stage);
            if ((st = try_cfg(&b, b.cur, &tr)) != LPOT_OK)
                goto cleanup;
            passed = tr.passed;
            if (passed)
                break;
        }
        if (b.stop)
            goto cleanup;
        if (!passed)
            continue;
        if (linear_only)
            goto cleanup;
        /* prune: everything but the op whose addition made it pass, least
         * suspicious first; ops in (prev, k) were added in one step */
        size_t m = k - prev == 1 ? k - 1 : k, *order = malloc((m ? m : 1) * sizeof *order);
        if (order == NULL) {
            st = lpot_set_error(LPOT_ERR_NOMEM, "basic: out of memory");
            goto cleanup;
        }
        for (size_t r = 0; r < m; r++)
            order[r] = b.rank[m - 1 - r];
        st = prune(&b, order, m);
        free(order);
        if (st != LPOT_OK || b.stop)
            goto cleanup;
        st = alternatives(&b);
        goto cleanup;
    }
cleanup:
    free(b.base);
    free(b.cur);
    free(b.tmp);
    free(b.rank);
    free(b.key);
    return st;
}

static lpot_status_t basic_run(void *ctx, lpot_tuner_t *t)
{
    (void)ctx;
    return lpot_basic_search(t, false);
}

const lpot_strategy_iface_t lpot_strategy_basic = {
    .name = "basic",
    .run = basic_run,
};
