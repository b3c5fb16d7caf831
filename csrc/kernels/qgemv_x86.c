/* AVX2 small-M int8 GEMV: s8 weights widened to int16 (vpmovsxbw) and
 * multiplied with vpmaddwd, so the int32 sums are exact (no vpmaddubsw
 * saturation). One pass over the packed weights serves up to 4 rows. */
#include <string.h>

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

/* ---- 7-bit weights: u8 x s8 with vpmaddubsw --------------------------------
 * The contract (and the scalar twin) of qgemm_u8s8: blocks of 16 channels x
 * 4 k bytes, each step one broadcast of 4 activation bytes per row,
 * vpmaddubsw (pairs, int16: exact when |w| <= 64) then vpmaddwd with ones.
 * 32 multiply-adds per 32 weight bytes and no widening: half the
 * instructions of the int16 path. A GEMV streams its weights once (from L3
 * for BERT-base shapes), so one row works on two blocks at once (four
 * independent sums, two weight streams) and up to four rows share each
 * weight load. */
#if defined(__x86_64__)

#define LPOT_G7_ROW(r, p) _mm256_set1_epi32(lpot_g7_load4(a + (r) * lda + 4 * (p)))

static inline int32_t lpot_g7_load4(const uint8_t *p)
{
    int32_t v;
    memcpy(&v, p, 4);
    return v;
}

/* M rows x NB blocks (NB * 16 channels) from block blk on. */
#define LPOT_G7_TILE(M, NB)                                                                \
    do {                                                                                   \
        __m256i s[M][NB][2];                                                               \
        for (int r = 0; r < M; r++)                                                        \
            for (int q = 0; q < NB; q++)                                                   \
                s[r][q][0] = s[r][q][1] = _mm256_setzero_si256();                          \
        const int8_t *bb = b + blk * ldb;                                                  \
        for (int64_t p = 0; p < k4; p++) {                                                 \
            __m256i w[NB][2];                                                              \
            for (int q = 0; q < NB; q++) {                                                 \
                w[q][0] = _mm256_load_si256((const __m256i *)(bb + q * ldb + p * 64));     \
                w[q][1] = _mm256_load_si256((const __m256i *)(bb + q * ldb + p * 64 + 32)); \
            }                                                                              \
            for (int r = 0; r < M; r++) {                                                  \
                const __m256i x = LPOT_G7_ROW(r, p);                                       \
                for (int q = 0; q < NB; q++)                                               \
                    for (int h = 0; h < 2; h++)                                            \
                        s[r][q][h] = _mm256_add_epi32(                                     \
                            s[r][q][h], _mm256_madd_epi16(_mm256_maddubs_epi16(x, w[q][h]), ones)); \
            }                                                                              \
        }                                                                                  \
        for (int r = 0; r < M; r++)                                                        \
            for (int q = 0; q < NB; q++)                                                   \
                for (int h = 0; h < 2; h++) {                                              \
                    const int64_t j = (blk + q) * 16 + h * 8;                              \
                    __m256i v = s[r][q][h];                                                \
                    if (accum)                                                             \
                        v = _mm256_add_epi32(v, _mm256_loadu_si256((const __m256i *)(c + r * ldc + j))); \
                    if (cadd)                                                              \
                        v = _mm256_add_epi32(v, _mm256_loadu_si256((const __m256i *)(cadd + j))); \
                    _mm256_storeu_si256((__m256i *)(c + r * ldc + j), v);                  \
                }                                                                          \
    } while (0)

#define LPOT_G7_FN(name, M, NB)                                                            \
    __attribute__((target("avx2"))) static void name(                                      \
        const uint8_t *a, int64_t lda, const int8_t *b, int64_t ldb, int64_t nblocks,      \
        int64_t k4, int32_t *c, int64_t ldc, int accum, const int32_t *cadd)               \
    {                                                                                      \
        const __m256i ones = _mm256_set1_epi16(1);                                         \
        int64_t blk = 0;                                                                   \
        for (; blk + NB <= nblocks; blk += NB)                                             \
            LPOT_G7_TILE(M, NB);                                                           \
        for (; blk < nblocks; blk++)                                                       \
            LPOT_G7_TILE(M, 1);                                                            \
    }

LPOT_G7_FN(gemv7_1, 1, 2)
LPOT_G7_FN(gemv7_2, 2, 2)
LPOT_G7_FN(gemv7_3, 3, 1)
LPOT_G7_FN(gemv7_4, 4, 1)

void lpot_qgemv_u8s8_avx2(const uint8_t *a, int64_t lda, int64_t m, const int8_t *b,
                          int64_t ldb, int64_t nblocks, int64_t k4, int32_t *c, int64_t ldc,
                          int accum, const int32_t *cadd)
{
    for (; m >= 4; m -= 4, a += 4 * lda, c += 4 * ldc)
        gemv7_4(a, lda, b, ldb, nblocks, k4, c, ldc, accum, cadd);
    if (m == 3)
        gemv7_3(a, lda, b, ldb, nblocks, k4, c, ldc, accum, cadd);
    else if (m == 2)
        gemv7_2(a, lda, b, ldb, nblocks, k4, c, ldc, accum, cadd);
    else if (m == 1)
        gemv7_1(a, lda, b, ldb, nblocks, k4, c, ldc, accum, cadd);
}

#endif /* x86-64 (dispatch.c refers to it there only) */
