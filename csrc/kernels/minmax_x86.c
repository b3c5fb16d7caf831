/* AVX2 and AVX-512 versions of minmax_f32 (contiguous fast path; strided
 * input goes to the reference). Compiled with per-function target attributes
 * so the rest of the engine stays baseline x86-64. */
#include "dispatch.h"

#if defined(__x86_64__)
#include <immintrin.h>

__attribute__((target("avx2"))) void
lpot_minmax_f32_avx2(const float *x, size_t n, ptrdiff_t stride, float *mn,
                     float *mx, size_t *nonfinite)
{
    if (stride != 1) {
        lpot_minmax_f32_ref(x, n, stride, mn, mx, nonfinite);
        return;
    }
    const __m256 inf = _mm256_set1_ps(__builtin_inff());
    const __m256 absmask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
    __m256 lo = _mm256_set1_ps(*mn), hi = _mm256_set1_ps(*mx);
    size_t bad = 0, i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 v = _mm256_loadu_ps(x + i);
        /* finite <=> |v| < inf (false for NaN too) */
        __m256 fin = _mm256_cmp_ps(_mm256_and_ps(v, absmask), inf, _CMP_LT_OQ);
        int m = _mm256_movemask_ps(fin);
        if (m != 0xff) {
            bad += 8 - (size_t)__builtin_popcount((unsigned)m);
            lo = _mm256_min_ps(lo, _mm256_blendv_ps(lo, v, fin));
            hi = _mm256_max_ps(hi, _mm256_blendv_ps(hi, v, fin));
        } else {
            lo = _mm256_min_ps(lo, v);
            hi = _mm256_max_ps(hi, v);
        }
    }
    float l[8], h[8];
    _mm256_storeu_ps(l, lo);
    _mm256_storeu_ps(h, hi);
    float rl = *mn, rh = *mx;
    for (int k = 0; k < 8; k++) {
        rl = l[k] < rl ? l[k] : rl;
        rh = h[k] > rh ? h[k] : rh;
    }
    *mn = rl;
    *mx = rh;
    *nonfinite += bad;
    lpot_minmax_f32_ref(x + i, n - i, 1, mn, mx, nonfinite);
}

__attribute__((target("avx512f"))) void
lpot_minmax_f32_avx512(const float *x, size_t n, ptrdiff_t stride, float *mn,
                       float *mx, size_t *nonfinite)
{
    if (stride != 1) {
        lpot_minmax_f32_ref(x, n, stride, mn, mx, nonfinite);
        return;
    }
    __m512 lo = _mm512_set1_ps(*mn), hi = _mm512_set1_ps(*mx);
    const __m512 inf = _mm512_set1_ps(__builtin_inff());
    size_t bad = 0, i = 0;
    for (; i + 16 <= n; i += 16) {
        __m512 v = _mm512_loadu_ps(x + i);
        __mmask16 fin = _mm512_cmp_ps_mask(_mm512_abs_ps(v), inf, _CMP_LT_OQ);
        bad += 16 - (size_t)__builtin_popcount((unsigned)fin);
        lo = _mm512_mask_min_ps(lo, fin, lo, v);
        hi = _mm512_mask_max_ps(hi, fin, hi, v);
    }
    float rl = _mm512_reduce_min_ps(lo), rh = _mm512_reduce_max_ps(hi);
    *mn = rl < *mn ? rl : *mn;
    *mx = rh > *mx ? rh : *mx;
    *nonfinite += bad;
    lpot_minmax_f32_ref(x + i, n - i, 1, mn, mx, nonfinite);
}
#endif
