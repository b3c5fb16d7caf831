/* The kernel dispatch table. Plain C.
 *
 * One global table of function pointers, filled once at module exec from the
 * CPU features lpot uses (kernels/cpu.h). Every slot has a scalar `_ref`
 * implementation; vector versions replace it when the CPU allows. To add a
 * kernel family: declare its slot here, write `<family>_ref.c` and the vector
 * files, and pick the implementation in lpot_dispatch_init (dispatch.c).
 * `lpot_kernels_ref` always holds the scalar versions, for tests. */
#ifndef LPOT_DISPATCH_H
#define LPOT_DISPATCH_H

#include <stddef.h>
#include <stdint.h>

#include "cpu.h"

/* Range of the finite values of x[0..n) at element stride `stride` (in
 * elements), merged into *mn / *mx (callers start from +inf / -inf). NaN and
 * +-inf are skipped and counted in *nonfinite. */
typedef void (*lpot_minmax_f32_fn)(const float *x, size_t n, ptrdiff_t stride,
                                   float *mn, float *mx, size_t *nonfinite);

/* Small-M int8 GEMV (exact int32, no saturation): acc[r][j] = sum_k x[r][k] *
 * w[j][k] for r < m <= LPOT_QGEMV_MAX_M rows. xpairs: m x kp int32, each the
 * pair (x[2p], x[2p+1]) as two int16 (low, high); w: packed by
 * lpot_qgemv_pack (blocks of 8 channels x kp pairs x 16 bytes; pass the
 * first block to do and how many); acc: row r at acc + r * ldacc. */
#define LPOT_QGEMV_MAX_M 4
typedef void (*lpot_qgemv_s8_fn)(const int32_t *xpairs, int64_t m, int64_t kp,
                                 const int8_t *wpack, int64_t nblocks, int32_t *acc,
                                 int64_t ldacc);

typedef struct {
    lpot_minmax_f32_fn minmax_f32;
    const char *minmax_f32_isa;
    lpot_qgemv_s8_fn qgemv_s8;
    const char *qgemv_s8_isa;
} lpot_kernels_t;

extern lpot_kernels_t lpot_kernels;           /* what runs */
extern const lpot_kernels_t lpot_kernels_ref; /* scalar references */

/* Fill lpot_kernels from info (idempotent). */
void lpot_dispatch_init(const lpot_cpu_info_t *info);

/* Implementations (one per ISA; the vector ones exist only on x86-64). */
void lpot_minmax_f32_ref(const float *x, size_t n, ptrdiff_t stride, float *mn,
                         float *mx, size_t *nonfinite);
void lpot_minmax_f32_avx2(const float *x, size_t n, ptrdiff_t stride, float *mn,
                          float *mx, size_t *nonfinite);
void lpot_minmax_f32_avx512(const float *x, size_t n, ptrdiff_t stride,
                            float *mn, float *mx, size_t *nonfinite);

/* Pack w (n x k row-major s8) for qgemv: returns nblocks*kp*16 bytes
 * (malloc'd; NULL when out of memory), zero-padded to whole blocks/pairs. */
int8_t *lpot_qgemv_pack(const int8_t *w, int64_t n, int64_t k, int64_t *nblocks, int64_t *kp);
/* Build the int16 pairs of one row of x (u8 when is_u8, else s8). */
void lpot_qgemv_xpairs(const void *x, int is_u8, int64_t k, int32_t *pairs);
void lpot_qgemv_s8_ref(const int32_t *xpairs, int64_t m, int64_t kp, const int8_t *wpack,
                       int64_t nblocks, int32_t *acc, int64_t ldacc);
void lpot_qgemv_s8_avx2(const int32_t *xpairs, int64_t m, int64_t kp, const int8_t *wpack,
                        int64_t nblocks, int32_t *acc, int64_t ldacc);

#endif
