/* sum_j w[j] * log(x[j]): the inner sum of the KL threshold search, which
 * evaluates ~250,000 logarithms per observer (2048-bin histogram, candidate
 * windows of 128..2048 bins, 127 quantized groups each). One log formula
 * serves the scalar and the AVX2 version:
 *   x = m * 2^e with m in [sqrt(1/2), sqrt(2)),
 *   log m = 2 atanh(s) = 2s + 2s z P(z),  s = (m - 1) / (m + 1), z = s^2,
 *   P(z) = sum_k z^k / (2k + 3), k = 0..9 (|z| < 0.0295: truncation < 1e-18),
 *   log x = e ln2_hi + (2s + (2s z P(z) + e ln2_lo)).
 * Precondition: every x[j] finite and >= DBL_MIN (the caller's are counts). */
#include <stdint.h>
#include <string.h>

#include "dispatch.h"

#define SQRT2 1.41421356237309504880
#define LN2_HI 6.93147180369123816490e-01 /* low 32 bits zero: e * LN2_HI is exact */
#define LN2_LO 1.90821492927058770002e-10
static const double P_COEF[10] = {1.0 / 3,  1.0 / 5,  1.0 / 7,  1.0 / 9,  1.0 / 11,
                                  1.0 / 13, 1.0 / 15, 1.0 / 17, 1.0 / 19, 1.0 / 21};

static double log_ref(double x)
{
    uint64_t b;
    memcpy(&b, &x, sizeof b);
    double e = (double)((int64_t)(b >> 52) - 1023);
    uint64_t mb = (b & UINT64_C(0x000FFFFFFFFFFFFF)) | UINT64_C(0x3FF0000000000000);
    double m;
    memcpy(&m, &mb, sizeof m);
    if (m > SQRT2) {
        m *= 0.5;
        e += 1.0;
    }
    double s = (m - 1.0) / (m + 1.0), z = s * s, p = P_COEF[9];
    for (int k = 8; k >= 0; k--)
        p = p * z + P_COEF[k];
    double s2 = s + s;
    return e * LN2_HI + (s2 + (s2 * z * p + e * LN2_LO));
}

double lpot_wlogsum_f64_ref(const double *w, const double *x, size_t n)
{
    double acc = 0.0;
    for (size_t i = 0; i < n; i++)
        acc += w[i] * log_ref(x[i]);
    return acc;
}

#if defined(__x86_64__)
#include <immintrin.h>

#define AVX2 __attribute__((target("avx2,fma")))

AVX2 static __m256d log_avx2(__m256d x)
{
    const __m256i b = _mm256_castpd_si256(x);
    /* biased exponent as a double: 2^52 + eb, minus 2^52 */
    const __m256d two52 = _mm256_castsi256_pd(_mm256_set1_epi64x(0x4330000000000000LL));
    __m256d e = _mm256_sub_pd(
        _mm256_castsi256_pd(_mm256_or_si256(_mm256_srli_epi64(b, 52), _mm256_castpd_si256(two52))),
        two52);
    e = _mm256_sub_pd(e, _mm256_set1_pd(1023.0));
    __m256d m = _mm256_castsi256_pd(
        _mm256_or_si256(_mm256_and_si256(b, _mm256_set1_epi64x(0x000FFFFFFFFFFFFFLL)),
                        _mm256_set1_epi64x(0x3FF0000000000000LL)));
    __m256d big = _mm256_cmp_pd(m, _mm256_set1_pd(SQRT2), _CMP_GT_OQ);
    m = _mm256_blendv_pd(m, _mm256_mul_pd(m, _mm256_set1_pd(0.5)), big);
    e = _mm256_add_pd(e, _mm256_and_pd(big, _mm256_set1_pd(1.0)));
    const __m256d one = _mm256_set1_pd(1.0);
    __m256d s = _mm256_div_pd(_mm256_sub_pd(m, one), _mm256_add_pd(m, one));
    __m256d z = _mm256_mul_pd(s, s), p = _mm256_set1_pd(P_COEF[9]);
    /* p * z + c as a multiply then an add, like the scalar version (no
     * contraction there either: -ffp-contract defaults to off in C11 mode) */
    for (int k = 8; k >= 0; k--)
        p = _mm256_add_pd(_mm256_mul_pd(p, z), _mm256_set1_pd(P_COEF[k]));
    __m256d s2 = _mm256_add_pd(s, s);
    __m256d r = _mm256_add_pd(_mm256_mul_pd(_mm256_mul_pd(s2, z), p),
                              _mm256_mul_pd(e, _mm256_set1_pd(LN2_LO)));
    return _mm256_add_pd(_mm256_mul_pd(e, _mm256_set1_pd(LN2_HI)), _mm256_add_pd(s2, r));
}

AVX2 double lpot_wlogsum_f64_avx2(const double *w, const double *x, size_t n)
{
    __m256d acc = _mm256_setzero_pd();
    size_t i = 0;
    for (; i + 4 <= n; i += 4)
        acc = _mm256_add_pd(acc, _mm256_mul_pd(_mm256_loadu_pd(w + i),
                                               log_avx2(_mm256_loadu_pd(x + i))));
    double a[4];
    _mm256_storeu_pd(a, acc);
    return (a[0] + a[1]) + (a[2] + a[3]) + lpot_wlogsum_f64_ref(w + i, x + i, n - i);
}
#endif
