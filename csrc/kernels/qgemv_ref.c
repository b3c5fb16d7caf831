/* Small-M int8 GEMV: weight packing, input pairs and the scalar reference.
 * Exact int32 (int16 x int16 products), so it needs no saturation care on
 * CPUs without VNNI. Plain C. */
#include <stdlib.h>
#include <string.h>

#include "dispatch.h"

int8_t *lpot_qgemv_pack(const int8_t *w, int64_t n, int64_t k, int64_t *nblocks, int64_t *kp)
{
    const int64_t nb = (n + 7) / 8, kpp = (k + 1) / 2;
    int8_t *p = calloc((size_t)(nb * kpp * 16) + 1, 1);
    if (p == NULL)
        return NULL;
    for (int64_t j = 0; j < n; j++)
        for (int64_t q = 0; q < k; q++)
            p[((j / 8) * kpp + q / 2) * 16 + (j % 8) * 2 + (q % 2)] = w[j * k + q];
    *nblocks = nb;
    *kp = kpp;
    return p;
}

void lpot_qgemv_xpairs(const void *x, int is_u8, int64_t k, int32_t *pairs)
{
    for (int64_t p = 0; p < (k + 1) / 2; p++) {
        int32_t lo, hi = 0;
        if (is_u8) {
            lo = ((const uint8_t *)x)[2 * p];
            if (2 * p + 1 < k)
                hi = ((const uint8_t *)x)[2 * p + 1];
        } else {
            lo = ((const int8_t *)x)[2 * p];
            if (2 * p + 1 < k)
                hi = ((const int8_t *)x)[2 * p + 1];
        }
        pairs[p] = (int32_t)(((uint32_t)(uint16_t)(int16_t)hi << 16) | (uint16_t)(int16_t)lo);
    }
}

void lpot_qgemv_s8_ref(const int32_t *xpairs, int64_t m, int64_t kp, const int8_t *wpack,
                       int64_t nblocks, int32_t *acc, int64_t ldacc)
{
    for (int64_t r = 0; r < m; r++)
        for (int64_t b = 0; b < nblocks; b++)
            for (int64_t j = 0; j < 8; j++) {
                int32_t s = 0;
                for (int64_t p = 0; p < kp; p++) {
                    const int32_t xp = xpairs[r * kp + p];
                    const int8_t *wp = wpack + (b * kp + p) * 16 + j * 2;
                    s += (int32_t)(int16_t)(xp & 0xffff) * wp[0] + (int32_t)(int16_t)((uint32_t)xp >> 16) * wp[1];
                }
                acc[r * ldacc + b * 8 + j] = s;
            }
}
