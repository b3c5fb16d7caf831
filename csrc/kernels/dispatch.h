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

typedef struct {
    lpot_minmax_f32_fn minmax_f32;
    const char *minmax_f32_isa;
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

#endif
