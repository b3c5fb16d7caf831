/* AVX2 (+FMA) and AVX-512 versions of the recurrent-cell kernels (see rnn_act.h): the
 * same float32 operations (fused multiply-adds where the reference calls
 * fmaf) in the same order as rnn_act_ref.c, 8 lanes at a time
 * (AVX-512: 16, tails masked; a tail goes through a zero-padded block on
 * AVX2), so the results are identical
 * to the scalar reference bit for bit. */
#include <stdint.h>
#include <string.h>

#include "dispatch.h"
#include "rnn_act.h"

#if defined(__x86_64__)
#include <immintrin.h>

#define AVX2 __attribute__((target("avx2,fma")))
#define RN (_MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)

/* exp(-a) for a >= 0 or NaN (NaN propagates). */
static inline AVX2 __m256 exp_neg8(__m256 a)
{
    const __m256 amax = _mm256_set1_ps(LPOT_ACT_EXP_MAX_A);
    const __m256 flush = _mm256_cmp_ps(a, amax, _CMP_GT_OQ);
    a = _mm256_min_ps(amax, a); /* min_ps returns the second operand for NaN */
    const __m256 n = _mm256_round_ps(_mm256_mul_ps(a, _mm256_set1_ps(LPOT_ACT_LOG2E)), RN);
    __m256 t = _mm256_fnmadd_ps(n, _mm256_set1_ps(LPOT_ACT_LN2_HI), a);
    t = _mm256_fnmadd_ps(n, _mm256_set1_ps(LPOT_ACT_LN2_LO), t);
    const __m256 r = _mm256_xor_ps(t, _mm256_set1_ps(-0.0f));
    __m256 p = _mm256_set1_ps(LPOT_ACT_E7);
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(LPOT_ACT_E6));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(LPOT_ACT_E5));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(LPOT_ACT_E4));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(LPOT_ACT_E3));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(LPOT_ACT_E2));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
    const __m256i bits = _mm256_slli_epi32(
        _mm256_sub_epi32(_mm256_set1_epi32(127), _mm256_cvtps_epi32(n)), 23);
    return _mm256_andnot_ps(flush, _mm256_mul_ps(p, _mm256_castsi256_ps(bits)));
}

static inline AVX2 __m256 sigmoid8(__m256 x)
{
    const __m256 one = _mm256_set1_ps(1.0f);
    const __m256 e = exp_neg8(_mm256_andnot_ps(_mm256_set1_ps(-0.0f), x));
    const __m256 pos = _mm256_cmp_ps(x, _mm256_setzero_ps(), _CMP_GE_OQ);
    return _mm256_div_ps(_mm256_blendv_ps(e, one, pos), _mm256_add_ps(one, e));
}

static inline AVX2 __m256 tanh8(__m256 x)
{
    const __m256 sign = _mm256_set1_ps(-0.0f), one = _mm256_set1_ps(1.0f);
    const __m256 a = _mm256_andnot_ps(sign, x);
    const __m256 small = _mm256_cmp_ps(a, _mm256_set1_ps(LPOT_ACT_TANH_SMALL), _CMP_LT_OQ);
    const __m256 xs = _mm256_and_ps(x, sign);
    const int nsmall = _mm256_movemask_ps(small);
    __m256 yb = _mm256_setzero_ps();
    if (nsmall != 0xff) {
        const __m256 e = exp_neg8(_mm256_add_ps(a, a));
        yb = _mm256_or_ps(_mm256_div_ps(_mm256_sub_ps(one, e), _mm256_add_ps(one, e)), xs);
        if (nsmall == 0)
            return yb;
    }
    const __m256 u = _mm256_mul_ps(x, x);
    __m256 p = _mm256_set1_ps(LPOT_ACT_T4);
    p = _mm256_fmadd_ps(p, u, _mm256_set1_ps(LPOT_ACT_T3));
    p = _mm256_fmadd_ps(p, u, _mm256_set1_ps(LPOT_ACT_T2));
    p = _mm256_fmadd_ps(p, u, _mm256_set1_ps(LPOT_ACT_T1));
    p = _mm256_fmadd_ps(p, u, _mm256_set1_ps(LPOT_ACT_T0));
    /* |result| with x's sign: also tanh(-0) = -0 */
    const __m256 ys = _mm256_or_ps(
        _mm256_andnot_ps(sign, _mm256_fmadd_ps(x, _mm256_mul_ps(u, p), x)), xs);
    return nsmall == 0xff ? ys : _mm256_blendv_ps(yb, ys, small);
}

AVX2 void lpot_act_f32_avx2(lpot_act_t kind, const float *x, float *y, size_t n)
{
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m256 v = _mm256_loadu_ps(x + i);
        _mm256_storeu_ps(y + i, kind == LPOT_ACT_SIGMOID ? sigmoid8(v) : tanh8(v));
    }
    if (i < n) {
        float b[8] = {0};
        memcpy(b, x + i, sizeof(float) * (n - i));
        const __m256 v = _mm256_loadu_ps(b);
        _mm256_storeu_ps(b, kind == LPOT_ACT_SIGMOID ? sigmoid8(v) : tanh8(v));
        memcpy(y + i, b, sizeof(float) * (n - i));
    }
}

static inline AVX2 __m256 gate(const float *xg, const float *hg)
{
    return _mm256_add_ps(_mm256_loadu_ps(xg), _mm256_loadu_ps(hg));
}

/* 8 hidden units; xg/hg point at unit j of gate 0, gates `gs` floats apart. */
static inline AVX2 void lstm8(const float *xg, const float *hg, int64_t gs, float *c, float *h)
{
    const __m256 si = sigmoid8(gate(xg, hg));
    const __m256 sf = sigmoid8(gate(xg + gs, hg + gs));
    const __m256 tg = tanh8(gate(xg + 2 * gs, hg + 2 * gs));
    const __m256 so = sigmoid8(gate(xg + 3 * gs, hg + 3 * gs));
    const __m256 cn = _mm256_fmadd_ps(sf, _mm256_loadu_ps(c), _mm256_mul_ps(si, tg));
    _mm256_storeu_ps(c, cn);
    _mm256_storeu_ps(h, _mm256_mul_ps(so, tanh8(cn)));
}

static inline AVX2 void gru8(const float *xg, const float *hg, int64_t gs, const float *hprev,
                             float *h)
{
    const __m256 r = sigmoid8(gate(xg, hg));
    const __m256 z = sigmoid8(gate(xg + gs, hg + gs));
    const __m256 xn = _mm256_loadu_ps(xg + 2 * gs), hn = _mm256_loadu_ps(hg + 2 * gs);
    const __m256 nn = tanh8(_mm256_fmadd_ps(r, hn, xn));
    const __m256 y = _mm256_fmadd_ps(_mm256_sub_ps(_mm256_set1_ps(1.0f), z), nn,
                                     _mm256_mul_ps(z, _mm256_loadu_ps(hprev)));
    _mm256_storeu_ps(h, y);
}

/* The last hs % 8 units of `gates` gates: copied into zero-padded blocks. */
typedef struct {
    float x[4 * 8], g[4 * 8], s[8], h[8];
} tail_t;

static void tail_load(tail_t *t, const float *xg, const float *hg, int64_t hs, int gates,
                      int64_t j, const float *state)
{
    const size_t r = (size_t)(hs - j) * sizeof(float);
    memset(t, 0, sizeof *t);
    for (int k = 0; k < gates; k++) {
        memcpy(t->x + 8 * k, xg + k * hs + j, r);
        memcpy(t->g + 8 * k, hg + k * hs + j, r);
    }
    memcpy(t->s, state + j, r);
}

AVX2 void lpot_lstm_cell_avx2(const float *xg, const float *hg, float *c, float *h, int64_t hs)
{
    int64_t j = 0;
    for (; j + 8 <= hs; j += 8)
        lstm8(xg + j, hg + j, hs, c + j, h + j);
    if (j < hs) {
        tail_t t;
        tail_load(&t, xg, hg, hs, 4, j, c);
        lstm8(t.x, t.g, 8, t.s, t.h);
        memcpy(c + j, t.s, (size_t)(hs - j) * sizeof(float));
        memcpy(h + j, t.h, (size_t)(hs - j) * sizeof(float));
    }
}

AVX2 void lpot_gru_cell_avx2(const float *xg, const float *hg, const float *hprev, float *h,
                             int64_t hs)
{
    int64_t j = 0;
    for (; j + 8 <= hs; j += 8)
        gru8(xg + j, hg + j, hs, hprev + j, h + j);
    if (j < hs) {
        tail_t t;
        tail_load(&t, xg, hg, hs, 3, j, hprev);
        gru8(t.x, t.g, 8, t.s, t.h);
        memcpy(h + j, t.h, (size_t)(hs - j) * sizeof(float));
    }
}
/* ---------------------------------------------------------------- AVX-512 */

#define AVX512 __attribute__((target("avx512f")))

static inline AVX512 __m512 sign16(void) { return _mm512_castsi512_ps(_mm512_set1_epi32(INT32_MIN)); }

static inline AVX512 __m512 or16(__m512 a, __m512 b)
{
    return _mm512_castsi512_ps(_mm512_or_si512(_mm512_castps_si512(a), _mm512_castps_si512(b)));
}

static inline AVX512 __m512 exp_neg16(__m512 a)
{
    const __m512 amax = _mm512_set1_ps(LPOT_ACT_EXP_MAX_A);
    const __mmask16 keep = _mm512_cmp_ps_mask(a, amax, _CMP_LE_OQ) |
                           _mm512_cmp_ps_mask(a, a, _CMP_UNORD_Q); /* NaN propagates */
    a = _mm512_min_ps(amax, a);
    const __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(a, _mm512_set1_ps(LPOT_ACT_LOG2E)), RN);
    __m512 t = _mm512_fnmadd_ps(n, _mm512_set1_ps(LPOT_ACT_LN2_HI), a);
    t = _mm512_fnmadd_ps(n, _mm512_set1_ps(LPOT_ACT_LN2_LO), t);
    const __m512 r = _mm512_castsi512_ps(
        _mm512_xor_si512(_mm512_castps_si512(t), _mm512_set1_epi32(INT32_MIN)));
    __m512 p = _mm512_set1_ps(LPOT_ACT_E7);
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(LPOT_ACT_E6));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(LPOT_ACT_E5));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(LPOT_ACT_E4));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(LPOT_ACT_E3));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(LPOT_ACT_E2));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
    const __m512i bits = _mm512_slli_epi32(
        _mm512_sub_epi32(_mm512_set1_epi32(127), _mm512_cvtps_epi32(n)), 23);
    return _mm512_maskz_mul_ps(keep, p, _mm512_castsi512_ps(bits));
}

static inline AVX512 __m512 sigmoid16(__m512 x)
{
    const __m512 one = _mm512_set1_ps(1.0f);
    const __m512 e = exp_neg16(_mm512_abs_ps(x));
    const __mmask16 pos = _mm512_cmp_ps_mask(x, _mm512_setzero_ps(), _CMP_GE_OQ);
    return _mm512_div_ps(_mm512_mask_blend_ps(pos, e, one), _mm512_add_ps(one, e));
}

static inline AVX512 __m512 tanh16(__m512 x)
{
    const __m512 one = _mm512_set1_ps(1.0f);
    const __m512 a = _mm512_abs_ps(x);
    const __mmask16 small = _mm512_cmp_ps_mask(a, _mm512_set1_ps(LPOT_ACT_TANH_SMALL), _CMP_LT_OQ);
    const __m512 xs = _mm512_castsi512_ps(
        _mm512_and_si512(_mm512_castps_si512(x), _mm512_castps_si512(sign16())));
    __m512 yb = _mm512_setzero_ps();
    if (small != 0xffff) {
        const __m512 e = exp_neg16(_mm512_add_ps(a, a));
        yb = or16(_mm512_div_ps(_mm512_sub_ps(one, e), _mm512_add_ps(one, e)), xs);
        if (small == 0)
            return yb;
    }
    const __m512 u = _mm512_mul_ps(x, x);
    __m512 p = _mm512_set1_ps(LPOT_ACT_T4);
    p = _mm512_fmadd_ps(p, u, _mm512_set1_ps(LPOT_ACT_T3));
    p = _mm512_fmadd_ps(p, u, _mm512_set1_ps(LPOT_ACT_T2));
    p = _mm512_fmadd_ps(p, u, _mm512_set1_ps(LPOT_ACT_T1));
    p = _mm512_fmadd_ps(p, u, _mm512_set1_ps(LPOT_ACT_T0));
    const __m512 ys = or16(_mm512_abs_ps(_mm512_fmadd_ps(x, _mm512_mul_ps(u, p), x)), xs);
    return _mm512_mask_blend_ps(small, yb, ys);
}

AVX512 void lpot_act_f32_avx512(lpot_act_t kind, const float *x, float *y, size_t n)
{
    for (size_t i = 0; i < n; i += 16) {
        const __mmask16 m = n - i >= 16 ? 0xffff : (__mmask16)((1u << (n - i)) - 1u);
        const __m512 v = _mm512_maskz_loadu_ps(m, x + i);
        _mm512_mask_storeu_ps(y + i, m, kind == LPOT_ACT_SIGMOID ? sigmoid16(v) : tanh16(v));
    }
}

/* Lanes past the end of a row are loaded as 0 and not stored (as AVX2's
 * zero-padded tail). */
static inline AVX512 __m512 gate16(__mmask16 m, const float *xg, const float *hg)
{
    return _mm512_add_ps(_mm512_maskz_loadu_ps(m, xg), _mm512_maskz_loadu_ps(m, hg));
}

AVX512 void lpot_lstm_cell_avx512(const float *xg, const float *hg, float *c, float *h, int64_t hs)
{
    for (int64_t j = 0; j < hs; j += 16) {
        const __mmask16 m = hs - j >= 16 ? 0xffff : (__mmask16)((1u << (hs - j)) - 1u);
        const __m512 si = sigmoid16(gate16(m, xg + j, hg + j));
        const __m512 sf = sigmoid16(gate16(m, xg + hs + j, hg + hs + j));
        const __m512 tg = tanh16(gate16(m, xg + 2 * hs + j, hg + 2 * hs + j));
        const __m512 so = sigmoid16(gate16(m, xg + 3 * hs + j, hg + 3 * hs + j));
        const __m512 cn = _mm512_fmadd_ps(sf, _mm512_maskz_loadu_ps(m, c + j), _mm512_mul_ps(si, tg));
        _mm512_mask_storeu_ps(c + j, m, cn);
        _mm512_mask_storeu_ps(h + j, m, _mm512_mul_ps(so, tanh16(cn)));
    }
}

AVX512 void lpot_gru_cell_avx512(const float *xg, const float *hg, const float *hprev, float *h,
                                 int64_t hs)
{
    for (int64_t j = 0; j < hs; j += 16) {
        const __mmask16 m = hs - j >= 16 ? 0xffff : (__mmask16)((1u << (hs - j)) - 1u);
        const __m512 r = sigmoid16(gate16(m, xg + j, hg + j));
        const __m512 z = sigmoid16(gate16(m, xg + hs + j, hg + hs + j));
        const __m512 xn = _mm512_maskz_loadu_ps(m, xg + 2 * hs + j);
        const __m512 hn = _mm512_maskz_loadu_ps(m, hg + 2 * hs + j);
        const __m512 nn = tanh16(_mm512_fmadd_ps(r, hn, xn));
        const __m512 y = _mm512_fmadd_ps(_mm512_sub_ps(_mm512_set1_ps(1.0f), z), nn,
                                         _mm512_mul_ps(z, _mm512_maskz_loadu_ps(m, hprev + j)));
        _mm512_mask_storeu_ps(h + j, m, y);
    }
}
#endif
