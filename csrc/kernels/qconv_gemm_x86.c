/* AVX2 u8 x s8 tile kernel of lpot's own int8 convolution GEMM (see
 * qconv_gemm_ref.c for the contract): tiles of 6 rows x 16 channels, twelve
 * int32 accumulators (the 16 ymm registers: 12 + 2 weight vectors + the
 * broadcast + a product; the vector of ones is read from memory), each step
 * one broadcast of 4 activation bytes per row against 64 packed weight
 * bytes: vpmaddubsw (pairs, int16) then vpmaddwd with ones (int32). The two
 * multiply pipes of a core bound it at 32 multiply-adds per cycle. Measured
 * (one thread, CPU time, ResNet-50 3x3 shapes at batch 32): 6 rows 8-20%
 * faster than 4. Remainder rows (the last chunk's) by the small-M kernel's tiles. */
#include <string.h>

#include "dispatch.h"

#if defined(__x86_64__)
#include <immintrin.h>

#define LPOT_QG_LOAD(ptr) _mm256_loadu_si256((const __m256i *)(ptr))
#define LPOT_QG_STORE(ptr, v) _mm256_storeu_si256((__m256i *)(ptr), v)

static const int16_t g_ones16[16] __attribute__((aligned(32))) = {1, 1, 1, 1, 1, 1, 1, 1,
                                                                   1, 1, 1, 1, 1, 1, 1, 1};

#define LPOT_QG_STEP_M(row, x0, x1)                                                        \
    do {                                                                                   \
        int32_t v_;                                                                        \
        memcpy(&v_, (row) + 4 * p, 4);                                                     \
        const __m256i x_ = _mm256_set1_epi32(v_);                                          \
        x0 = _mm256_add_epi32(x0, _mm256_madd_epi16(_mm256_maddubs_epi16(x_, b0),          \
                                                    _mm256_load_si256((const __m256i *)g_ones16))); \
        x1 = _mm256_add_epi32(x1, _mm256_madd_epi16(_mm256_maddubs_epi16(x_, b1),          \
                                                    _mm256_load_si256((const __m256i *)g_ones16))); \
    } while (0)

__attribute__((target("avx2"))) static void tile6(const uint8_t *a, int64_t lda, const int8_t *b,
                                                  int64_t k4, int32_t *c, int64_t ldc, int accum,
                                                  const int32_t *ca)
{
    __m256i c00 = _mm256_setzero_si256(), c01 = c00, c10 = c00, c11 = c00, c20 = c00,
            c21 = c00, c30 = c00, c31 = c00, c40 = c00, c41 = c00, c50 = c00, c51 = c00;
    if (accum) {
        c00 = LPOT_QG_LOAD(c), c01 = LPOT_QG_LOAD(c + 8);
        c10 = LPOT_QG_LOAD(c + ldc), c11 = LPOT_QG_LOAD(c + ldc + 8);
        c20 = LPOT_QG_LOAD(c + 2 * ldc), c21 = LPOT_QG_LOAD(c + 2 * ldc + 8);
        c30 = LPOT_QG_LOAD(c + 3 * ldc), c31 = LPOT_QG_LOAD(c + 3 * ldc + 8);
        c40 = LPOT_QG_LOAD(c + 4 * ldc), c41 = LPOT_QG_LOAD(c + 4 * ldc + 8);
        c50 = LPOT_QG_LOAD(c + 5 * ldc), c51 = LPOT_QG_LOAD(c + 5 * ldc + 8);
    }
    const uint8_t *a0 = a, *a1 = a + lda, *a2 = a + 2 * lda, *a3 = a + 3 * lda, *a4 = a + 4 * lda,
                  *a5 = a + 5 * lda;
    for (int64_t p = 0; p < k4; p++) {
        const __m256i b0 = _mm256_load_si256((const __m256i *)(b + p * 64));
        const __m256i b1 = _mm256_load_si256((const __m256i *)(b + p * 64 + 32));
        LPOT_QG_STEP_M(a0, c00, c01);
        LPOT_QG_STEP_M(a1, c10, c11);
        LPOT_QG_STEP_M(a2, c20, c21);
        LPOT_QG_STEP_M(a3, c30, c31);
        LPOT_QG_STEP_M(a4, c40, c41);
        LPOT_QG_STEP_M(a5, c50, c51);
    }
    if (ca) {
        const __m256i e0 = LPOT_QG_LOAD(ca), e1 = LPOT_QG_LOAD(ca + 8);
        c00 = _mm256_add_epi32(c00, e0), c01 = _mm256_add_epi32(c01, e1);
        c10 = _mm256_add_epi32(c10, e0), c11 = _mm256_add_epi32(c11, e1);
        c20 = _mm256_add_epi32(c20, e0), c21 = _mm256_add_epi32(c21, e1);
        c30 = _mm256_add_epi32(c30, e0), c31 = _mm256_add_epi32(c31, e1);
        c40 = _mm256_add_epi32(c40, e0), c41 = _mm256_add_epi32(c41, e1);
        c50 = _mm256_add_epi32(c50, e0), c51 = _mm256_add_epi32(c51, e1);
    }
    LPOT_QG_STORE(c, c00), LPOT_QG_STORE(c + 8, c01);
    LPOT_QG_STORE(c + ldc, c10), LPOT_QG_STORE(c + ldc + 8, c11);
    LPOT_QG_STORE(c + 2 * ldc, c20), LPOT_QG_STORE(c + 2 * ldc + 8, c21);
    LPOT_QG_STORE(c + 3 * ldc, c30), LPOT_QG_STORE(c + 3 * ldc + 8, c31);
    LPOT_QG_STORE(c + 4 * ldc, c40), LPOT_QG_STORE(c + 4 * ldc + 8, c41);
    LPOT_QG_STORE(c + 5 * ldc, c50), LPOT_QG_STORE(c + 5 * ldc + 8, c51);
}

void lpot_qgemm_u8s8_avx2(const uint8_t *a, int64_t lda, int64_t m, const int8_t *b,
                          int64_t ldb, int64_t nblocks, int64_t k4, int32_t *c, int64_t ldc,
                          int accum, const int32_t *cadd)
{
    /* Block by block, so a block's weights stay in L1 across the rows. */
    for (int64_t blk = 0; blk < nblocks; blk++) {
        const int8_t *bb = b + blk * ldb;
        const int32_t *ca = cadd ? cadd + blk * 16 : NULL;
        int64_t r = 0;
        for (; r + 6 <= m; r += 6)
            tile6(a + r * lda, lda, bb, k4, c + r * ldc + blk * 16, ldc, accum, ca);
        /* the last 1..5 rows: up to four share each weight load (the
         * small-M kernel's tiles) rather than one each */
        if (r < m)
            lpot_qgemv_u8s8_avx2(a + r * lda, lda, m - r, bb, ldb, 1, k4, c + r * ldc + blk * 16,
                                 ldc, accum, ca);
    }
}

/* 8 values of the epilogue (lpot_qconv_epi_ref's float32 operations, in
 * the same order; vmaxps/vminps return the second operand for NaN, so NaN
 * -> lo as in the reference; vcvtps2dq rounds half to even like the
 * reference's 1.5 * 2^23 trick on the clamped values). */
__attribute__((target("avx2"))) static inline __m256 epi8(const int32_t *a, const float *sc,
                                                          const float *bs, int relu)
{
    __m256 v = _mm256_mul_ps(_mm256_cvtepi32_ps(LPOT_QG_LOAD(a)), _mm256_loadu_ps(sc));
    v = _mm256_add_ps(v, _mm256_loadu_ps(bs));
    /* relu: v < 0 ? 0 : v (NaN stays NaN, as in the reference) */
    return relu ? _mm256_andnot_ps(_mm256_cmp_ps(v, _mm256_setzero_ps(), _CMP_LT_OQ), v) : v;
}

__attribute__((target("avx2"))) void lpot_qconv_epi_avx2(const int32_t *acc, int64_t lda,
                                                         int64_t rows, int64_t cols,
                                                         const float *scale, const float *bias,
                                                         const lpot_qconv_epi_t *e, void *y,
                                                         int64_t ldy)
{
    const int64_t cv = cols / 8 * 8;
    const __m256 ds = _mm256_set1_ps(e->ds), zp = _mm256_set1_ps(e->zp);
    const __m256 lo = _mm256_set1_ps(e->lo), hi = _mm256_set1_ps(e->hi);
    for (int64_t r = 0; r < rows; r++) {
        const int32_t *a = acc + r * lda;
        for (int64_t c = 0; c < cv; c += 8) {
            __m256 v = epi8(a + c, scale + c, bias + c, e->relu);
            if (e->dst == 0) {
                _mm256_storeu_ps((float *)y + r * ldy + c, v);
                continue;
            }
            v = _mm256_add_ps(_mm256_div_ps(v, ds), zp);
            v = _mm256_min_ps(_mm256_max_ps(v, lo), hi);
            const __m256i q = _mm256_cvtps_epi32(v);
            const __m128i w = _mm_packs_epi32(_mm256_castsi256_si128(q), _mm256_extracti128_si256(q, 1));
            const __m128i b = e->dst == 1 ? _mm_packus_epi16(w, w) : _mm_packs_epi16(w, w);
            _mm_storel_epi64((__m128i *)((char *)y + r * ldy + c), b);
        }
        if (cv < cols)
            lpot_qconv_epi_ref(a + cv, lda, 1, cols - cv, scale + cv, bias + cv, e,
                               e->dst == 0 ? (void *)((float *)y + r * ldy + cv)
                                           : (void *)((char *)y + r * ldy + cv),
                               ldy);
    }
}

#else
void lpot_qgemm_u8s8_avx2(const uint8_t *a, int64_t lda, int64_t m, const int8_t *b,
                          int64_t ldb, int64_t nblocks, int64_t k4, int32_t *c, int64_t ldc,
                          int accum, const int32_t *cadd)
{
    lpot_qgemm_u8s8_ref(a, lda, m, b, ldb, nblocks, k4, c, ldc, accum, cadd);
}

void lpot_qconv_epi_avx2(const int32_t *acc, int64_t lda, int64_t rows, int64_t cols,
                         const float *scale, const float *bias, const lpot_qconv_epi_t *e,
                         void *y, int64_t ldy)
{
    lpot_qconv_epi_ref(acc, lda, rows, cols, scale, bias, e, y, ldy);
}
#endif
