/* lpot's own int8 convolution GEMM (CPUs without VNNI): weight packing,
 * the im2col rows and the scalar reference of the u8 x s8 tile kernel.
 * Plain C.
 *
 * The tile kernel follows AVX2's vpmaddubsw + vpmaddwd: the products of each
 * adjacent pair of (u8 activation, s8 weight) are added with int16
 * saturation, then pairs are widened and added in int32. The reference does
 * the same, so both agree on every input; the callers only use it where no
 * pair can saturate (|w| <= 64, or activations <= 127), where the result is
 * the exact int32 sum. */
#include <stdlib.h>
#include <string.h>

#include "dispatch.h"

int8_t *lpot_qgemm_u8s8_pack(const int8_t *w, int64_t n, int64_t k, int64_t *nblocks,
                             int64_t *k4)
{
    const int64_t nb = (n + 15) / 16, kq = (k + 3) / 4;
    int8_t *p = aligned_alloc(64, (size_t)(nb * kq * 64) + 64);
    if (p == NULL)
        return NULL;
    memset(p, 0, (size_t)(nb * kq * 64) + 64);
    for (int64_t j = 0; j < n; j++)
        for (int64_t q = 0; q < k; q++)
            p[((j / 16) * kq + q / 4) * 64 + (j % 16) * 4 + (q % 4)] = w[j * k + q];
    *nblocks = nb;
    *k4 = kq;
    return p;
}

static int32_t sat16(int32_t v) { return v > 32767 ? 32767 : v < -32768 ? -32768 : v; }

void lpot_qgemm_u8s8_ref(const uint8_t *a, int64_t lda, int64_t m, const int8_t *b,
                         int64_t ldb, int64_t nblocks, int64_t k4, int32_t *c, int64_t ldc,
                         int accum, const int32_t *cadd)
{
    for (int64_t r = 0; r < m; r++)
        for (int64_t blk = 0; blk < nblocks; blk++)
            for (int64_t j = 0; j < 16; j++) {
                int32_t s = accum ? c[r * ldc + blk * 16 + j] : 0;
                for (int64_t p = 0; p < k4; p++) {
                    const uint8_t *x = a + r * lda + 4 * p;
                    const int8_t *w = b + blk * ldb + p * 64 + j * 4;
                    s += sat16(x[0] * w[0] + x[1] * w[1]) + sat16(x[2] * w[2] + x[3] * w[3]);
                }
                c[r * ldc + blk * 16 + j] = cadd ? s + cadd[blk * 16 + j] : s;
            }
}

void lpot_qconv_epi_ref(const int32_t *acc, int64_t lda, int64_t rows, int64_t cols,
                        const float *scale, const float *bias, const lpot_qconv_epi_t *e,
                        void *y, int64_t ldy)
{
    const float magic = 12582912.0f; /* 1.5 * 2^23: adding it rounds half to even */
    for (int64_t r = 0; r < rows; r++)
        for (int64_t c = 0; c < cols; c++) {
            float v = (float)acc[r * lda + c] * scale[c];
            v = v + bias[c];
            v = e->relu && v < 0.0f ? 0.0f : v;
            if (e->dst == 0) {
                ((float *)y)[r * ldy + c] = v;
                continue;
            }
            v = v / e->ds + e->zp;
            v = v >= e->lo ? v : e->lo; /* NaN -> lo */
            v = v <= e->hi ? v : e->hi;
            const int32_t q = (int32_t)((v + magic) - magic);
            if (e->dst == 1)
                ((uint8_t *)y)[r * ldy + c] = (uint8_t)q;
            else
                ((int8_t *)y)[r * ldy + c] = (int8_t)q;
        }
}
