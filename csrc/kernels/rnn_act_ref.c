/* Scalar references of the recurrent-cell kernels (see dispatch.h): lpot's
 * own sigmoid / tanh (rnn_act.h) and the LSTM / GRU gate math. */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "dispatch.h"
#include "rnn_act.h"

/* exp(-a) for a >= 0 (not NaN). */
static inline float exp_neg(float a)
{
    const int flush = a > LPOT_ACT_EXP_MAX_A;
    if (a > LPOT_ACT_EXP_MAX_A)
        a = LPOT_ACT_EXP_MAX_A;
    const float n = nearbyintf(a * LPOT_ACT_LOG2E);
    float t = fmaf(-n, LPOT_ACT_LN2_HI, a);
    t = fmaf(-n, LPOT_ACT_LN2_LO, t);
    const float r = -t;
    float p = LPOT_ACT_E7;
    p = fmaf(p, r, LPOT_ACT_E6);
    p = fmaf(p, r, LPOT_ACT_E5);
    p = fmaf(p, r, LPOT_ACT_E4);
    p = fmaf(p, r, LPOT_ACT_E3);
    p = fmaf(p, r, LPOT_ACT_E2);
    p = fmaf(p, r, 1.0f);
    p = fmaf(p, r, 1.0f);
    const uint32_t bits = (uint32_t)(127 - (int32_t)n) << 23;
    float scale;
    memcpy(&scale, &bits, sizeof scale);
    return flush ? 0.0f : p * scale;
}

static inline float sigmoid1(float x)
{
    if (isnan(x))
        return x;
    const float e = exp_neg(fabsf(x));
    return (x >= 0.0f ? 1.0f : e) / (1.0f + e);
}

static inline float tanh1(float x)
{
    if (isnan(x))
        return x;
    const float a = fabsf(x);
    if (a < LPOT_ACT_TANH_SMALL) {
        const float u = x * x;
        float p = LPOT_ACT_T4;
        p = fmaf(p, u, LPOT_ACT_T3);
        p = fmaf(p, u, LPOT_ACT_T2);
        p = fmaf(p, u, LPOT_ACT_T1);
        p = fmaf(p, u, LPOT_ACT_T0);
        return copysignf(fmaf(x, u * p, x), x); /* tanh(-0) = -0 */
    }
    const float e = exp_neg(a + a);
    return copysignf((1.0f - e) / (1.0f + e), x);
}

void lpot_act_f32_ref(lpot_act_t kind, const float *x, float *y, size_t n)
{
    for (size_t i = 0; i < n; i++)
        y[i] = kind == LPOT_ACT_SIGMOID ? sigmoid1(x[i]) : tanh1(x[i]);
}

void lpot_lstm_cell_ref(const float *xg, const float *hg, float *c, float *h, int64_t hs)
{
    for (int64_t j = 0; j < hs; j++) {
        const float si = sigmoid1(xg[j] + hg[j]);
        const float sf = sigmoid1(xg[hs + j] + hg[hs + j]);
        const float tg = tanh1(xg[2 * hs + j] + hg[2 * hs + j]);
        const float so = sigmoid1(xg[3 * hs + j] + hg[3 * hs + j]);
        const float cn = fmaf(sf, c[j], si * tg);
        c[j] = cn;
        h[j] = so * tanh1(cn);
    }
}

void lpot_gru_cell_ref(const float *xg, const float *hg, const float *hprev, float *h,
                       int64_t hs)
{
    for (int64_t j = 0; j < hs; j++) {
        const float r = sigmoid1(xg[j] + hg[j]);
        const float z = sigmoid1(xg[hs + j] + hg[hs + j]);
        const float nn = tanh1(fmaf(r, hg[2 * hs + j], xg[2 * hs + j]));
        h[j] = fmaf(1.0f - z, nn, z * hprev[j]);
    }
}
