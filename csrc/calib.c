/* Streaming calibration observers (see calib.h). Plain C. */
#include "calib.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/dispatch.h"

struct lpot_observer {
    lpot_obs_opts_t o;
    int axis;
    size_t nch;
    float *mn, *mx;   /* nch: range seen (EMA for moving_average) */
    float *bmn, *bmx; /* nch: scratch, this batch */
    uint64_t updates, count, nan_count;
    double T;         /* histogram half range, power of two (0 = unset) */
    uint64_t *hist;   /* 2 * bins */
    uint32_t *sub;    /* LPOT_HIST_SUBS * (2 * bins + 1) kernel scratch, kept zeroed */
};

static const char *const algo_names[LPOT_OBS_COUNT_] = {
    [LPOT_OBS_MINMAX] = "minmax",
    [LPOT_OBS_MOVING_AVERAGE] = "moving_average",
    [LPOT_OBS_KL] = "kl",
    [LPOT_OBS_PERCENTILE] = "percentile",
    [LPOT_OBS_MSE] = "mse",
};

int lpot_obs_algo_from_name(const char *name)
{
    for (int i = 0; i < LPOT_OBS_COUNT_; i++)
        if (strcmp(name, algo_names[i]) == 0)
            return i;
    if (strcmp(name, "entropy") == 0)
        return LPOT_OBS_KL;
    return -1;
}

const char *lpot_obs_algo_name(lpot_obs_algo_t a)
{
    return (unsigned)a < LPOT_OBS_COUNT_ ? algo_names[a] : "?";
}

int lpot_obs_uses_histogram(lpot_obs_algo_t a)
{
    return a == LPOT_OBS_KL || a == LPOT_OBS_PERCENTILE || a == LPOT_OBS_MSE;
}

lpot_obs_opts_t lpot_obs_opts_default(lpot_obs_algo_t algo)
{
    lpot_obs_opts_t o;
    memset(&o, 0, sizeof o);
    o.algo = algo;
    o.q = lpot_qopts_default();
    o.bins = 2048;
    o.percentile = 99.999;
    o.averaging_constant = 0.01;
    return o;
}

static void reset_range(float *mn, float *mx, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        mn[i] = INFINITY;
        mx[i] = -INFINITY;
    }
}

lpot_status_t lpot_observer_create(const lpot_obs_opts_t *o, int axis, size_t nch,
                                   lpot_observer_t **out)
{
    lpot_observer_t *obs = NULL;
    int32_t qmin = 0, qmax = 0;
    *out = NULL;
    if ((unsigned)o->algo >= LPOT_OBS_COUNT_)
        return lpot_set_error(LPOT_ERR_INVALID, "algorithm: unknown (%d)", (int)o->algo);
    lpot_status_t st = lpot_qrange(&o->q, &qmin, &qmax);
    if (st != LPOT_OK)
        return st;
    int hist = lpot_obs_uses_histogram(o->algo);
    if (hist && axis >= 0)
        return lpot_set_error(LPOT_ERR_INVALID,
                              "axis: algorithm '%s' is per tensor only (per-channel needs "
                              "'minmax' or 'moving_average')", algo_names[o->algo]);
    if (hist && (o->bins < 16 || o->bins > 65536 || (o->bins & (o->bins - 1)) != 0))
        return lpot_set_error(LPOT_ERR_INVALID,
                              "bins: %d is not a power of two in [16, 65536]", o->bins);
    if (o->algo == LPOT_OBS_PERCENTILE && !(o->percentile > 50.0 && o->percentile <= 100.0))
        return lpot_set_error(LPOT_ERR_INVALID, "percentile: %g is not in (50, 100]",
                              o->percentile);
    if (o->algo == LPOT_OBS_MOVING_AVERAGE &&
        !(o->averaging_constant > 0.0 && o->averaging_constant <= 1.0))
        return lpot_set_error(LPOT_ERR_INVALID, "averaging_constant: %g is not in (0, 1]",
                              o->averaging_constant);
    if (nch == 0 || (axis < 0 && nch != 1))
        return lpot_set_error(LPOT_ERR_INVALID, "channels: %zu (axis %d)", nch, axis);
    obs = calloc(1, sizeof *obs);
    if (obs == NULL)
        goto nomem;
    obs->o = *o;
    obs->axis = axis;
    obs->nch = nch;
    obs->mn = malloc(4 * nch * sizeof(float));
    if (obs->mn == NULL)
        goto nomem;
    obs->mx = obs->mn + nch;
    obs->bmn = obs->mn + 2 * nch;
    obs->bmx = obs->mn + 3 * nch;
    reset_range(obs->mn, obs->mx, nch);
    if (hist) {
        size_t nb = (size_t)o->bins;
        obs->hist = calloc(2 * nb, sizeof(uint64_t));
        obs->sub = calloc(LPOT_HIST_SUBS * (2 * nb + 1), sizeof(uint32_t));
        if (obs->hist == NULL || obs->sub == NULL)
            goto nomem;
    }
    *out = obs;
    return LPOT_OK;
nomem:
    lpot_observer_destroy(obs);
    return lpot_set_error(LPOT_ERR_NOMEM, "observer: out of memory");
}

void lpot_observer_destroy(lpot_observer_t *obs)
{
    if (obs == NULL)
        return;
    free(obs->mn);
    free(obs->hist);
    free(obs->sub);
    free(obs);
}

/* ---- histogram grid ----------------------------------------------------- */

/* T doubles, bins merge pairwise: signed bin m -> floor(m / 2). */
static void hist_double(uint64_t *h, int32_t nb)
{
    uint64_t *tmp = h; /* in place: positive side ascending, negative descending */
    for (int32_t m = 0; m < nb; m++) { /* m >= 0: new m/2 <= m, read before write */
        uint64_t c = tmp[nb + m];
        tmp[nb + m] = 0;
        tmp[nb + m / 2] += c;
    }
    for (int32_t m = -1; m >= -nb; m--) {
        int32_t d = m >= 0 ? m / 2 : -((-m + 1) / 2); /* floor(m / 2) */
        uint64_t c = tmp[nb + m];
        tmp[nb + m] = 0;
        tmp[nb + d] += c;
    }
}

static void hist_grow_to(uint64_t *h, int32_t nb, double *T, double target)
{
    if (*T == 0.0) {
        *T = target; /* only zeros so far: they sit in bin nb at any T */
        return;
    }
    while (*T < target) {
        hist_double(h, nb);
        *T *= 2.0;
    }
}

static double pow2_above(double a)
{
    int e;
    frexp(a, &e); /* a = m * 2^e, m in [0.5, 1) -> a < 2^e */
    /* floor at 2^-100 so that bins / T stays a finite float */
    return e < -100 ? ldexp(1.0, -100) : ldexp(1.0, e);
}

/* ---- update ------------------------------------------------------------- */

typedef struct {
    lpot_observer_t *obs;
    size_t bad;
} range_ctx;

static int range_run(void *vctx, const void *x, size_t n, size_t lin, size_t ch, int per_elem)
{
    range_ctx *c = vctx;
    (void)lin;
    if (per_elem)
        lpot_kernels.minmax_elem_f32(x, n, c->obs->bmn + ch, c->obs->bmx + ch, &c->bad);
    else
        lpot_kernels.minmax_f32(x, n, 1, &c->obs->bmn[ch], &c->obs->bmx[ch], &c->bad);
    return 0;
}

typedef struct {
    lpot_observer_t *obs;
    float inv_w;
    size_t pending;
    int with_range; /* also merge the range into bmn[0]/bmx[0] */
} hist_ctx;

static uint64_t sub_trash(const lpot_observer_t *obs)
{
    size_t nb2 = 2 * (size_t)obs->o.bins, s = nb2 + 1;
    const uint32_t *u = obs->sub;
    uint64_t c = 0;
    for (size_t j = 0; j < LPOT_HIST_SUBS; j++)
        c += u[j * s + nb2];
    return c;
}

static void hist_flush(lpot_observer_t *obs)
{
    size_t nb2 = 2 * (size_t)obs->o.bins, s = nb2 + 1;
    uint32_t *u = obs->sub;
    for (size_t j = 0; j < LPOT_HIST_SUBS; j++, u += s) {
        for (size_t k = 0; k < nb2; k++)
            obs->hist[k] += u[k];
        memset(u, 0, s * sizeof(uint32_t));
    }
}

#define HIST_PIECE ((size_t)1 << 30)

static int hist_run(void *vctx, const void *x, size_t n, size_t lin, size_t ch, int per_elem)
{
    hist_ctx *c = vctx;
    const float *p = x;
    lpot_observer_t *obs = c->obs;
    (void)lin, (void)ch, (void)per_elem;
    while (n > 0) {
        size_t m = n < HIST_PIECE ? n : HIST_PIECE;
        if (c->pending + m > HIST_PIECE) {
            if (c->with_range)
                return 1; /* uint32 scratch would overflow: use two passes */
            hist_flush(obs);
            c->pending = 0;
        }
        lpot_kernels.hist_f32(p, m, c->inv_w, obs->o.bins, obs->sub,
                              c->with_range ? &obs->bmn[0] : NULL,
                              c->with_range ? &obs->bmx[0] : NULL);
        c->pending += m;
        p += m;
        n -= m;
    }
    return 0;
}

static void apply_range(lpot_observer_t *obs)
{
    for (size_t c = 0; c < obs->nch; c++) {
        float bl = obs->bmn[c], bh = obs->bmx[c];
        if (!(bl <= bh))
            continue; /* channel without finite values */
        if (obs->o.algo == LPOT_OBS_MOVING_AVERAGE && obs->mn[c] <= obs->mx[c]) {
            float k = (float)obs->o.averaging_constant;
            obs->mn[c] = obs->mn[c] + k * (bl - obs->mn[c]);
            obs->mx[c] = obs->mx[c] + k * (bh - obs->mx[c]);
        } else {
            obs->mn[c] = fminf(obs->mn[c], bl);
            obs->mx[c] = fmaxf(obs->mx[c], bh);
        }
    }
}

static void count_batch(lpot_observer_t *obs, int64_t numel, uint64_t bad)
{
    uint64_t finite = (uint64_t)numel - bad;
    obs->nan_count += bad;
    obs->count += finite;
    if (finite > 0)
        obs->updates++;
}

static void zero_sub(lpot_observer_t *obs)
{
    memset(obs->sub, 0, LPOT_HIST_SUBS * (2 * (size_t)obs->o.bins + 1) * sizeof(uint32_t));
}

lpot_status_t lpot_observer_update(lpot_observer_t *obs, const lpot_tensor_t *x)
{
    if (!lpot_ttype_is_float(x->type))
        return lpot_set_error(LPOT_ERR_KERNEL,
                              "x: observers take float32/float16/bfloat16 tensors");
    if (obs->axis >= 0) {
        if (obs->axis >= x->ndim)
            return lpot_set_error(LPOT_ERR_INVALID, "axis: %d is out of range for %d dims",
                                  obs->axis, x->ndim);
        if (x->shape[obs->axis] != (int64_t)obs->nch)
            return lpot_set_error(LPOT_ERR_INVALID,
                                  "x: axis %d has %lld channels, the observer has %zu",
                                  obs->axis, (long long)x->shape[obs->axis], obs->nch);
    }
    int64_t numel = lpot_tensor_numel(x);
    if (numel == 0)
        return LPOT_OK;
    reset_range(obs->bmn, obs->bmx, obs->nch);
    int32_t nb = obs->o.bins;
    if (obs->hist && obs->T > 0.0) {
        /* one pass: histogram at the current T and the batch range; redo
         * the histogram only when the batch did not fit (T grows) */
        hist_ctx hc = {obs, (float)((double)nb / obs->T), 0, 1};
        if (lpot_tensor_foreach(x, -1, hist_run, &hc) == 0) {
            uint64_t bad = sub_trash(obs);
            count_batch(obs, numel, bad);
            if ((uint64_t)numel == bad) {
                zero_sub(obs);
                return LPOT_OK;
            }
            apply_range(obs);
            double amax = fmax(fabs((double)obs->bmn[0]), fabs((double)obs->bmx[0]));
            if (amax < obs->T) {
                hist_flush(obs);
                return LPOT_OK;
            }
            zero_sub(obs);
            hist_grow_to(obs->hist, nb, &obs->T, pow2_above(amax));
            hist_ctx h2 = {obs, (float)((double)nb / obs->T), 0, 0};
            lpot_tensor_foreach(x, -1, hist_run, &h2);
            hist_flush(obs);
            return LPOT_OK;
        }
        zero_sub(obs); /* > 2^30 values: fall through to two passes */
        reset_range(obs->bmn, obs->bmx, obs->nch);
    }
    range_ctx rc = {obs, 0};
    lpot_tensor_foreach(x, obs->axis, range_run, &rc);
    count_batch(obs, numel, rc.bad);
    if ((uint64_t)numel == rc.bad)
        return LPOT_OK;
    apply_range(obs);
    if (obs->hist == NULL)
        return LPOT_OK;
    uint64_t finite = (uint64_t)numel - rc.bad;
    double amax = fmax(fabs((double)obs->bmn[0]), fabs((double)obs->bmx[0]));
    if (amax == 0.0) {
        obs->hist[nb] += finite;
        return LPOT_OK;
    }
    if (amax >= obs->T)
        hist_grow_to(obs->hist, nb, &obs->T, pow2_above(amax));
    hist_ctx hc = {obs, (float)((double)nb / obs->T), 0, 0};
    lpot_tensor_foreach(x, -1, hist_run, &hc);
    hist_flush(obs);
    return LPOT_OK;
}

/* ---- merge ---------------------------------------------------------------- */

static int same_config(const lpot_observer_t *a, const lpot_observer_t *b)
{
    const lpot_obs_opts_t *x = &a->o, *y = &b->o;
    return x->algo == y->algo && x->q.dtype == y->q.dtype && x->q.symmetric == y->q.symmetric &&
           x->q.reduce_range == y->q.reduce_range && x->q.narrow == y->q.narrow &&
           x->q.conv == y->q.conv && x->bins == y->bins && x->percentile == y->percentile &&
           x->averaging_constant == y->averaging_constant && a->axis == b->axis &&
           a->nch == b->nch;
}

lpot_status_t lpot_observer_merge(lpot_observer_t *obs, const lpot_observer_t *other)
{
    if (!same_config(obs, other))
        return lpot_set_error(LPOT_ERR_INVALID,
                              "other: observers differ in algorithm, options, axis or "
                              "channels (%s/%zu vs %s/%zu)", algo_names[obs->o.algo],
                              obs->nch, algo_names[other->o.algo], other->nch);
    if (obs == other)
        return lpot_set_error(LPOT_ERR_INVALID, "other: cannot merge an observer into itself");
    uint64_t ua = obs->updates, ub = other->updates;
    for (size_t c = 0; c < obs->nch; c++) {
        float al = obs->mn[c], ah = obs->mx[c], bl = other->mn[c], bh = other->mx[c];
        if (!(bl <= bh))
            continue;
        if (obs->o.algo == LPOT_OBS_MOVING_AVERAGE && al <= ah) {
            double wa = (double)ua / (double)(ua + ub), wb = 1.0 - wa;
            obs->mn[c] = (float)(wa * al + wb * bl);
            obs->mx[c] = (float)(wa * ah + wb * bh);
        } else {
            obs->mn[c] = fminf(al, bl);
            obs->mx[c] = fmaxf(ah, bh);
        }
    }
    if (obs->hist) {
        int32_t nb = obs->o.bins;
        size_t bytes = 2 * (size_t)nb * sizeof(uint64_t);
        uint64_t *tmp = malloc(bytes);
        if (tmp == NULL)
            return lpot_set_error(LPOT_ERR_NOMEM, "merge: out of memory");
        memcpy(tmp, other->hist, bytes);
        double Tb = other->T;
        double target = fmax(obs->T, Tb);
        if (target > 0.0) {
            hist_grow_to(obs->hist, nb, &obs->T, target);
            hist_grow_to(tmp, nb, &Tb, target);
        }
        for (size_t k = 0; k < 2 * (size_t)nb; k++)
            obs->hist[k] += tmp[k];
        free(tmp);
    }
    obs->updates += other->updates;
    obs->count += other->count;
    obs->nan_count += other->nan_count;
    return LPOT_OK;
}

/* ---- thresholds from the histogram -------------------------------------- */

static double xlogx(double c) { return c > 0.0 ? c * log(c) : 0.0; }

typedef struct {
    const uint64_t *src; /* bins */
    size_t m;            /* number of bins */
    double *pc, *pcl;    /* prefix: counts, c log c (m + 1) */
    double *logn;        /* log(k) for k <= m */
    uint64_t *pnz;       /* prefix: nonzero bins */
    double total;
    double *gw, *gx;     /* per quantized group: p mass, q mass (nq each) */
} kl_tab;

static lpot_status_t kl_tab_init(kl_tab *t, const uint64_t *src, size_t m, int nq)
{
    t->src = src;
    t->m = m;
    t->pc = malloc(((m + 1) * 3 + 2 * (size_t)nq) * sizeof(double));
    t->pnz = malloc((m + 1) * sizeof(uint64_t));
    if (t->pc == NULL || t->pnz == NULL) {
        free(t->pc);
        free(t->pnz);
        return lpot_set_error(LPOT_ERR_NOMEM, "compute: out of memory");
    }
    t->gw = t->pc + 3 * (m + 1);
    t->gx = t->gw + nq;
    t->pcl = t->pc + m + 1;
    t->logn = t->pc + 2 * (m + 1);
    t->logn[0] = 0.0;
    for (size_t k = 1; k <= m; k++)
        t->logn[k] = log((double)k);
    t->pc[0] = t->pcl[0] = 0.0;
    t->pnz[0] = 0;
    for (size_t j = 0; j < m; j++) {
        double c = (double)src[j];
        t->pc[j + 1] = t->pc[j] + c;
        t->pcl[j + 1] = t->pcl[j] + xlogx(c);
        t->pnz[j + 1] = t->pnz[j] + (src[j] != 0);
    }
    t->total = t->pc[m];
    return LPOT_OK;
}

static void kl_tab_free(kl_tab *t)
{
    free(t->pc);
    free(t->pnz);
}

/* KL(P || Q) for the window [a, b) with outL/outR folded into its edge
 * bins, Q the window quantized into nq bins. INFINITY when undefined. */
static double kl_window(const kl_tab *t, size_t a, size_t b, int nq)
{
    size_t L = b - a;
    double outL = t->pc[a], outR = t->total - t->pc[b];
    double zq = t->pc[b] - t->pc[a], zp = t->total;
    double se0 = (double)t->src[a], se1 = (double)t->src[b - 1];
    if (zq <= 0.0 || (outL > 0.0 && se0 == 0.0) || (outR > 0.0 && se1 == 0.0))
        return INFINITY;
    double plogp = t->pcl[b] - t->pcl[a];
    if (L == 1) {
        plogp += xlogx(se0 + outL + outR) - xlogx(se0);
    } else {
        plogp += xlogx(se0 + outL) - xlogx(se0) + xlogx(se1 + outR) - xlogx(se1);
    }
    /* sum_j p_j log q_j, q_j = qsum_g / qnz_g over the non-empty bins of
     * group g; group g = source bins [ceil(g L / nq), ceil((g + 1) L / nq)),
     * boundaries stepped without divisions. The groups' (psum, qsum) are
     * gathered first, then sum psum log qsum runs as one vector kernel. */
    double cross = 0.0, pall = 0.0;
    size_t ng = 0;
    size_t g_last = (size_t)(((uint64_t)(L - 1) * (uint64_t)nq) / L);
    uint64_t qd = L / (uint64_t)nq, rm = L % (uint64_t)nq;
    uint64_t e = (L + (uint64_t)nq - 1) / (uint64_t)nq, r = (L + (uint64_t)nq - 1) % (uint64_t)nq;
    size_t s = 0;
    for (int g = 0; g < nq; g++) {
        size_t ee = e > L ? L : (size_t)e;
        if (s < ee) {
            uint64_t qnz = t->pnz[a + ee] - t->pnz[a + s];
            if (qnz != 0) {
                double qsum = t->pc[a + ee] - t->pc[a + s];
                double psum = qsum;
                if (g == 0)
                    psum += outL;
                if ((size_t)g == g_last)
                    psum += outR;
                cross -= psum * t->logn[qnz];
                t->gw[ng] = psum;
                t->gx[ng++] = qsum;
                pall += psum;
            }
        }
        s = ee;
        e += qd;
        r += rm;
        if (r >= (uint64_t)nq) {
            r -= (uint64_t)nq;
            e++;
        }
    }
    cross += lpot_kernels.wlogsum_f64(t->gw, t->gx, ng);
    cross -= pall * log(zq);
    /* sum P log(P/Q) with P = p/zp: (plogp/zp - log zp) - cross/zp */
    return (plogp - cross) / zp - log(zp);
}

/* The candidate i in [i0, i1] whose window ([0, i), or [center - i,
 * center + i) when two_sided) has the smallest KL, the first one on ties;
 * dflt when none is defined. (Serial on purpose: a 2-thread OpenMP split
 * measured 4-5x SLOWER than one thread on a loaded 2-core machine.) */
static size_t kl_argmin(const kl_tab *t, size_t i0, size_t i1, size_t center, int two_sided,
                        int nq, size_t dflt)
{
    double best = INFINITY;
    size_t best_i = dflt;
    for (size_t i = i0; i <= i1; i++) {
        double d = two_sided ? kl_window(t, center - i, center + i, nq) : kl_window(t, 0, i, nq);
        if (d < best) {
            best = d;
            best_i = i;
        }
    }
    return best_i;
}

static lpot_status_t range_kl(const lpot_observer_t *obs, float *lo, float *hi)
{
    int32_t nb = obs->o.bins, qmin = 0, qmax = 0;
    double w = obs->T / nb;
    lpot_qrange(&obs->o.q, &qmin, &qmax);
    int one_sided = obs->o.q.symmetric || obs->mn[0] >= 0.0f;
    uint64_t *fold = NULL;
    kl_tab t;
    lpot_status_t st;
    double thr;
    int nq = one_sided && obs->o.q.symmetric ? (qmax - qmin) / 2 : qmax - qmin;
    if (one_sided) {
        fold = malloc((size_t)nb * sizeof(uint64_t));
        if (fold == NULL)
            return lpot_set_error(LPOT_ERR_NOMEM, "compute: out of memory");
        for (int32_t j = 0; j < nb; j++)
            fold[j] = obs->hist[nb + j] + obs->hist[nb - 1 - j];
        if (nb > 1 && fold[1] > 0)
            fold[0] = fold[1]; /* the zero spike: see calib.h */
        st = kl_tab_init(&t, fold, (size_t)nb, nq);
        if (st != LPOT_OK)
            goto cleanup;
        size_t last = (size_t)nb;
        while (last > 0 && fold[last - 1] == 0)
            last--;
        size_t start = last < 128 ? last : 128;
        size_t best_i = kl_argmin(&t, start > 0 ? start : 1, last, 0, 0, nq, last);
        thr = (double)best_i * w;
    } else {
        st = kl_tab_init(&t, obs->hist, 2 * (size_t)nb, nq);
        if (st != LPOT_OK)
            goto cleanup;
        size_t first = 0, last = 2 * (size_t)nb;
        while (first < last && obs->hist[first] == 0)
            first++;
        while (last > first && obs->hist[last - 1] == 0)
            last--;
        size_t imax = (size_t)nb - first > last - (size_t)nb ? (size_t)nb - first
                                                               : last - (size_t)nb;
        size_t start = imax < 64 ? imax : 64;
        size_t best_i = kl_argmin(&t, start > 0 ? start : 1, imax, (size_t)nb, 1, nq, imax);
        thr = (double)best_i * w;
    }
    kl_tab_free(&t);
    *lo = fmaxf((float)-thr, obs->mn[0]);
    *hi = fminf((float)thr, obs->mx[0]);
    if (!obs->o.q.symmetric && obs->mn[0] >= 0.0f)
        *lo = obs->mn[0];
    st = LPOT_OK;
cleanup:
    free(fold);
    return st;
}

static void range_percentile(const lpot_observer_t *obs, float *lo, float *hi)
{
    int32_t nb = obs->o.bins;
    double w = obs->T / nb, total = 0.0, cum = 0.0;
    for (int32_t k = 0; k < 2 * nb; k++)
        total += (double)obs->hist[k];
    double p = obs->o.percentile / 100.0;
    if (obs->o.q.symmetric) {
        double want = p * total;
        int32_t j = 0;
        for (; j < nb - 1; j++) {
            cum += (double)(obs->hist[nb + j] + obs->hist[nb - 1 - j]);
            if (cum >= want)
                break;
        }
        double t = (double)(j + 1) * w;
        *lo = fmaxf((float)-t, obs->mn[0]);
        *hi = fminf((float)t, obs->mx[0]);
        return;
    }
    double cut = (1.0 - p) / 2.0, wl = cut * total, wh = (1.0 - cut) * total;
    int32_t jl = -1, jh = 2 * nb - 1;
    for (int32_t k = 0; k < 2 * nb; k++) {
        cum += (double)obs->hist[k];
        if (jl < 0 && cum >= wl && cum > 0.0)
            jl = k;
        if (cum >= wh) {
            jh = k;
            break;
        }
    }
    if (jl < 0)
        jl = 0;
    *lo = fmaxf((float)((double)(jl - nb) * w), obs->mn[0]);
    *hi = fminf((float)((double)(jh + 1 - nb) * w), obs->mx[0]);
}

static lpot_status_t range_mse(const lpot_observer_t *obs, float *lo, float *hi)
{
    int32_t nb = obs->o.bins, qmin = 0, qmax = 0;
    double w = obs->T / nb;
    lpot_qrange(&obs->o.q, &qmin, &qmax);
    double levels = (double)(qmax - qmin);
    size_t m = obs->o.q.symmetric ? (size_t)nb : 2 * (size_t)nb;
    double *P = malloc(3 * (m + 1) * sizeof(double));
    if (P == NULL)
        return lpot_set_error(LPOT_ERR_NOMEM, "compute: out of memory");
    double *P0 = P, *P1 = P + m + 1, *P2 = P + 2 * (m + 1);
    P0[0] = P1[0] = P2[0] = 0.0;
    for (size_t j = 0; j < m; j++) {
        double c, a;
        if (obs->o.q.symmetric) {
            c = (double)(obs->hist[(size_t)nb + j] + obs->hist[(size_t)nb - 1 - j]);
            a = (double)j * w;
        } else {
            c = (double)obs->hist[j];
            a = ((double)j - nb) * w;
        }
        double b = a + w;
        P0[j + 1] = P0[j] + c;
        P1[j + 1] = P1[j] + c * (a + b) / 2.0;
        P2[j + 1] = P2[j] + c * (a * a + a * b + b * b) / 3.0;
    }
    size_t first = 0, last = m;
    while (first < last && P0[first + 1] == 0.0)
        first++;
    while (last > first && P0[last - 1] == P0[m])
        last--;
    double best = INFINITY, blo = 0.0, bhi = 0.0;
    if (obs->o.q.symmetric) {
        for (size_t B = 1; B <= last; B++) {
            double t = (double)B * w, d = 2.0 * t / levels;
            double clip = (P2[m] - P2[B]) - 2.0 * t * (P1[m] - P1[B]) + t * t * (P0[m] - P0[B]);
            double e = clip + P0[B] * d * d / 12.0;
            if (e < best) {
                best = e;
                blo = -t;
                bhi = t;
            }
        }
    } else {
        size_t amin = first < (size_t)nb ? first : (size_t)nb;
        size_t bmax = last > (size_t)nb ? last : (size_t)nb;
        for (size_t A = amin; A <= (size_t)nb; A++) {
            double l = ((double)A - nb) * w;
            double left = P2[A] - 2.0 * l * P1[A] + l * l * P0[A];
            for (size_t B = (size_t)nb; B <= bmax; B++) {
                if (A == B)
                    continue;
                double h = ((double)B - nb) * w, d = (h - l) / levels;
                double right = (P2[m] - P2[B]) - 2.0 * h * (P1[m] - P1[B]) +
                               h * h * (P0[m] - P0[B]);
                double e = left + right + (P0[B] - P0[A]) * d * d / 12.0;
                if (e < best) {
                    best = e;
                    blo = l;
                    bhi = h;
                }
            }
        }
    }
    free(P);
    *lo = fmaxf((float)blo, obs->mn[0]);
    *hi = fminf((float)bhi, obs->mx[0]);
    if (*lo > *hi) /* single-valued data */
        *lo = *hi = obs->mn[0];
    return LPOT_OK;
}

lpot_status_t lpot_observer_range(const lpot_observer_t *obs, float *lo, float *hi)
{
    if (obs->count == 0)
        return lpot_set_error(LPOT_ERR_INVALID,
                              "compute: the observer has seen no finite values (%llu updates "
                              "with data, %llu NaN/inf skipped)",
                              (unsigned long long)obs->updates,
                              (unsigned long long)obs->nan_count);
    for (size_t c = 0; c < obs->nch; c++)
        if (!(obs->mn[c] <= obs->mx[c]))
            return lpot_set_error(LPOT_ERR_INVALID,
                                  "compute: channel %zu has seen no finite values", c);
    if (obs->hist == NULL) {
        memcpy(lo, obs->mn, obs->nch * sizeof(float));
        memcpy(hi, obs->mx, obs->nch * sizeof(float));
        return LPOT_OK;
    }
    if (obs->T == 0.0) { /* only zeros */
        *lo = *hi = 0.0f;
        return LPOT_OK;
    }
    switch (obs->o.algo) {
    case LPOT_OBS_KL: return range_kl(obs, lo, hi);
    case LPOT_OBS_PERCENTILE: range_percentile(obs, lo, hi); return LPOT_OK;
    default: return range_mse(obs, lo, hi);
    }
}

lpot_status_t lpot_observer_compute(const lpot_observer_t *obs, float *scale,
                                    int32_t *zero_point)
{
    lpot_status_t st = LPOT_OK;
    float *r = malloc(2 * obs->nch * sizeof(float));
    if (r == NULL)
        return lpot_set_error(LPOT_ERR_NOMEM, "compute: out of memory");
    st = lpot_observer_range(obs, r, r + obs->nch);
    if (st == LPOT_OK)
        st = lpot_qparams(&obs->o.q, r, r + obs->nch, obs->nch, scale, zero_point);
    free(r);
    return st;
}

/* ---- state ----------------------------------------------------------------- */

void lpot_observer_view(lpot_observer_t *obs, lpot_obs_state_t *v)
{
    v->opts = obs->o;
    v->axis = obs->axis;
    v->nch = obs->nch;
    v->mn = obs->mn;
    v->mx = obs->mx;
    v->updates = obs->updates;
    v->count = obs->count;
    v->nan_count = obs->nan_count;
    v->half_range = obs->T;
    v->hist = obs->hist;
}

lpot_status_t lpot_observer_import(lpot_observer_t *obs, const lpot_obs_state_t *v)
{
    if (v->nch != obs->nch)
        return lpot_set_error(LPOT_ERR_INVALID, "state: %zu channels, expected %zu", v->nch,
                              obs->nch);
    for (size_t c = 0; c < v->nch; c++) {
        int empty = isinf(v->mn[c]) && v->mn[c] > 0 && isinf(v->mx[c]) && v->mx[c] < 0;
        if (!empty && !(isfinite(v->mn[c]) && isfinite(v->mx[c]) && v->mn[c] <= v->mx[c]))
            return lpot_set_error(LPOT_ERR_INVALID, "state: channel %zu range [%g, %g] is invalid",
                                  c, (double)v->mn[c], (double)v->mx[c]);
    }
    if (obs->hist) {
        int e;
        if (v->hist == NULL)
            return lpot_set_error(LPOT_ERR_INVALID, "state: histogram missing");
        if (v->half_range != 0.0 &&
            !(isfinite(v->half_range) && v->half_range > 0 && frexp(v->half_range, &e) == 0.5))
            return lpot_set_error(LPOT_ERR_INVALID,
                                  "state: half_range %g is not a power of two", v->half_range);
        uint64_t sum = 0;
        for (size_t k = 0; k < 2 * (size_t)obs->o.bins; k++)
            sum += v->hist[k];
        if (sum != v->count)
            return lpot_set_error(LPOT_ERR_INVALID,
                                  "state: histogram holds %llu values, count says %llu",
                                  (unsigned long long)sum, (unsigned long long)v->count);
        memcpy(obs->hist, v->hist, 2 * (size_t)obs->o.bins * sizeof(uint64_t));
    }
    memcpy(obs->mn, v->mn, obs->nch * sizeof(float));
    memcpy(obs->mx, v->mx, obs->nch * sizeof(float));
    obs->updates = v->updates;
    obs->count = v->count;
    obs->nan_count = v->nan_count;
    obs->T = obs->hist ? v->half_range : 0.0;
    return LPOT_OK;
}
