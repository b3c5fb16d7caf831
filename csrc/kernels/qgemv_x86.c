/* AVX2 small-M int8 GEMV: s8 weights widened to int16 (vpmovsxbw) and
 * multiplied with vpmaddwd, so the int32 sums are exact (no vpmaddubsw
 * saturation). One pass over the packed weights serves up to 4 rows. */
#include "dispatch.h"

#if defined(__x86_64__)
#include <immintrin.h>

#define LPOT_GEMV_BODY(M)                                                                 \
    for (int64_t b = 0; b < nblocks; b++) {                                               \
        __m256i a0[M], a1[M];                                                             \
        for (int r = 0; r < M; r++)                                                       \
            a0[r] = a1[r] = _mm256_setzero_si256();                                       \
        const int8_t *wb = wpack + b * kp * 16;                                           \
        int64_t p = 0;                                                                    \
        for (; p + 2 <= kp; p += 2) {                                                     \
            __m256i w0 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(wb + p * 16))); \
            __m256i w1 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(wb + p * 16 + 16))); \
            for (int r = 0; r < M; r++) {                                                 \
                a0[r] = _mm256_add_epi32(a0[r], _mm256_madd_epi16(w0, _mm256_set1_epi32(xpairs[r * kp + p]))); \
                a1[r] = _mm256_add_epi32(a1[r], _mm256_madd_epi16(w1, _mm256_set1_epi32(xpairs[r * kp + p + 1]))); \
            }                                                                             \
        }                                                                                 \
        if (p < kp) {                                                                     \
            __m256i w0 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(wb + p * 16))); \
            for (int r = 0; r < M; r++)                                                   \
                a0[r] = _mm256_add_epi32(a0[r], _mm256_madd_epi16(w0, _mm256_set1_epi32(xpairs[r * kp + p]))); \
        }                                                                                 \
        for (int r = 0; r < M; r++)                                                       \
            _mm256_storeu_si256((__m256i *)(acc + r * ldacc + b * 8),               \
                                _mm256_add_epi32(a0[r], a1[r]));                          \
    }

__attribute__((target("avx2"))) static void gemv1(const int32_t *xpairs, int64_t kp,
                                                  const int8_t *wpack, int64_t nblocks, int32_t *acc,
                                                  int64_t ldacc)
{
    LPOT_GEMV_BODY(1)
}

__attribute__((target("avx2"))) static void gemv2(const int32_t *xpairs, int64_t kp,
                                                  const int8_t *wpack, int64_t nblocks, int32_t *acc,
                                                  int64_t ldacc)
{
    LPOT_GEMV_BODY(2)
}

__attribute__((target("avx2"))) static void gemv4(const int32_t *xpairs, int64_t kp,
                                                  const int8_t *wpack, int64_t nblocks, int32_t *acc,
                                                  int64_t ldacc)
{
    LPOT_GEMV_BODY(4)
}

void lpot_qgemv_s8_avx2(const int32_t *xpairs, int64_t m, int64_t kp, const int8_t *wpack,
                        int64_t nblocks, int32_t *acc, int64_t ldacc)
{
    while (m >= 4) {
        gemv4(xpairs, kp, wpack, nblocks, acc, ldacc);
        xpairs += 4 * kp;
        acc += 4 * ldacc;
        m -= 4;
    }
    if (m >= 2) {
        gemv2(xpairs, kp, wpack, nblocks, acc, ldacc);
        xpairs += 2 * kp;
        acc += 2 * ldacc;
        m -= 2;
    }
    if (m == 1)
        gemv1(xpairs, kp, wpack, nblocks, acc, ldacc);
}

#else
void lpot_qgemv_s8_avx2(const int32_t *xpairs, int64_t m, int64_t kp, const int8_t *wpack,
                        int64_t nblocks, int32_t *acc, int64_t ldacc)
{
    lpot_qgemv_s8_ref(xpairs, m, kp, wpack, nblocks, acc, ldacc);
}
#endif
