/* Strided n-d views and run iteration for the quantization kernels. Plain C.
 *
 * A tensor view is a data pointer, a shape and byte strides (NumPy's
 * layout, any sign). lpot_tensor_foreach walks it as contiguous runs along
 * the innermost dimensions: adjacent dimensions that are laid out
 * contiguously are merged first (never across the channel axis), so a
 * C-contiguous tensor is one run and NCHW with axis=1 is N*C runs of H*W. A
 * contiguous float32 run goes to the callback as is; anything else (float16,
 * bfloat16, strided) is converted/gathered into a small buffer chunk by
 * chunk: no copy of the whole tensor is ever made. */
#ifndef LPOT_TENSOR_H
#define LPOT_TENSOR_H

#include <stddef.h>
#include <stdint.h>

#include "kernels/dispatch.h"
#include "status.h"

#define LPOT_MAX_DIMS 32
#define LPOT_RUN_CHUNK 2048

typedef enum {
    LPOT_T_F32 = LPOT_SRC_F32,
    LPOT_T_F16 = LPOT_SRC_F16,
    LPOT_T_BF16 = LPOT_SRC_BF16,
    LPOT_T_U8,
    LPOT_T_S8,
    LPOT_T_S32,
} lpot_ttype_t;

typedef struct lpot_tensor {
    const void *data;
    lpot_ttype_t type;
    int ndim;                       /* 0 = scalar */
    int64_t shape[LPOT_MAX_DIMS];
    int64_t strides[LPOT_MAX_DIMS]; /* bytes */
} lpot_tensor_t;

/* A contiguous run of n elements (float32 for float tensors, the raw type
 * otherwise). `lin` is the C-order linear index of x[0] in the tensor;
 * `ch` the channel of the whole run (per_elem = 0) or of x[0] with one
 * channel per element (per_elem = 1, the run lies along the axis). Return
 * nonzero to stop. */
typedef int (*lpot_run_fn)(void *ctx, const void *x, size_t n, size_t lin, size_t ch,
                           int per_elem);

size_t lpot_ttype_size(lpot_ttype_t t);
int lpot_ttype_is_float(lpot_ttype_t t);
int64_t lpot_tensor_numel(const lpot_tensor_t *t);

/* Walk t; axis -1 for none. Returns the callback's nonzero value, else 0. */
int lpot_tensor_foreach(const lpot_tensor_t *t, int axis, lpot_run_fn fn, void *ctx);

#endif
