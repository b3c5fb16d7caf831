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

/* ---- quantization family (quant_ref.c, quant_x86.c) ----------------------
 * All run over a contiguous run of n elements. Scales/zero points: either one
 * pair for the whole run (per_elem = 0) or one per element (per_elem = 1, the
 * run lies along the channel axis). Rounding is half to even (rint in the
 * default FP environment); results are clamped to [qmin, qmax]. */
typedef struct {
    const float *scale;
    const int32_t *zp;
    int per_elem;
    int32_t qmin, qmax;
} lpot_qk_params_t;

/* Source element types the converter understands. */
typedef enum { LPOT_SRC_F32 = 0, LPOT_SRC_F16 = 1, LPOT_SRC_BF16 = 2 } lpot_src_t;

/* dst[i] = (float)src[i * stride] (stride in elements). */
typedef void (*lpot_cvt_f32_fn)(const void *src, lpot_src_t type, size_t n,
                                ptrdiff_t stride, float *dst);
/* y = clamp(rint(x / s), qmin - zp, qmax - zp) + zp, stored as int8
 * (is_signed) or uint8. NaN -> qmin. */
typedef void (*lpot_quantize_f32_fn)(const float *x, void *y, int is_signed, size_t n,
                                     const lpot_qk_params_t *p);
/* y = ((float)q - (float)zp) * s. */
typedef void (*lpot_dequantize_fn)(const void *q, int is_signed, float *y, size_t n,
                                   const lpot_qk_params_t *p);
/* y = dequantize(quantize(x)) with [qmin, qmax]; mask[i] = 1 when x[i] was
 * not clipped (straight-through estimator); mask may be NULL. */
typedef void (*lpot_fake_quant_f32_fn)(const float *x, float *y, uint8_t *mask, size_t n,
                                       const lpot_qk_params_t *p);
/* y = clamp(rint((float)x * s), qmin - zp, qmax - zp) + zp: int32 accumulators
 * to int8/uint8 with multiplier s (= in_scale / out_scale), float32 math. */
typedef void (*lpot_requantize_s32_fn)(const int32_t *x, void *y, int is_signed, size_t n,
                                       const lpot_qk_params_t *p);
/* Per-element running range: mn[i] = min(mn[i], x[i]) for finite x[i]. */
typedef void (*lpot_minmax_elem_f32_fn)(const float *x, size_t n, float *mn, float *mx,
                                        size_t *nonfinite);
/* Histogram: bin k = floor(x * inv_w) + nb, clamped to [0, 2nb); non-finite
 * values go to bin 2nb. Counts go to LPOT_HIST_SUBS interleaved uint32
 * sub-histograms sub[j * (2nb + 1) + k] (zeroed by the caller, who sums
 * them; n < 2^32): consecutive values rarely hit the same counter, so the
 * increments do not wait on each other (2, 4 and 8 measured within noise).
 * When mn/mx are not NULL the range of the finite values is merged into
 * them in the same pass (the caller checks afterwards that it fit). */
#define LPOT_HIST_SUBS 4
typedef void (*lpot_hist_f32_fn)(const float *x, size_t n, float inv_w, int32_t nb,
                                 uint32_t *sub, float *mn, float *mx);
/* Small-M int8 GEMV (exact int32, no saturation): acc[r][j] = sum_k x[r][k] *
 * w[j][k] for r < m <= LPOT_QGEMV_MAX_M rows. xpairs: m x kp int32, each the
 * pair (x[2p], x[2p+1]) as two int16 (low, high); w: packed by
 * lpot_qgemv_pack (blocks of 8 channels x kp pairs x 16 bytes; pass the
 * first block to do and how many); acc: row r at acc + r * ldacc. */
#define LPOT_QGEMV_MAX_M 4
typedef void (*lpot_qgemv_s8_fn)(const int32_t *xpairs, int64_t m, int64_t kp,
                                 const int8_t *wpack, int64_t nblocks, int32_t *acc,
                                 int64_t ldacc);

/* sum_j w[j] * log(x[j]) for finite x[j] >= DBL_MIN (KL's cross term). The
 * log is lpot's own (argument reduction to [sqrt(1/2), sqrt(2)), atanh
 * series to z^10: within 2 ulp of libm's log), the same formula in the
 * scalar and the vector version; they differ only in summation order. */
typedef double (*lpot_wlogsum_f64_fn)(const double *w, const double *x, size_t n);
/* lpot's own int8 convolution GEMM tile kernel (qconv_gemm_ref.c):
 * c[r][16*blk + j] (+= when accum) sum_p pairs of a[r][4p..4p+3] (u8) times
 * the packed s8 weights, each adjacent pair of products added with int16
 * saturation (vpmaddubsw), for r < m and blk < nblocks. a: row r at
 * a + r * lda, 4*k4 bytes; b: packed by lpot_qgemm_u8s8_pack, block blk at
 * b + blk * ldb (32-byte aligned); c: row r at c + r * ldc. cadd: NULL or
 * 16 * nblocks int32 added to every row at the end (the zero-point
 * correction, on the last K pass). */
typedef void (*lpot_qgemm_u8s8_fn)(const uint8_t *a, int64_t lda, int64_t m, const int8_t *b,
                                   int64_t ldb, int64_t nblocks, int64_t k4, int32_t *c,
                                   int64_t ldc, int accum, const int32_t *cadd);

/* The own GEMM's epilogue (qgemm_drv.c) on acc (rows x cols int32, row stride lda)
 * into y (row stride ldy elements): v = (float)acc * scale[c] + bias[c]
 * (float32, no FMA), relu when asked, then f32 out, or u8/s8 =
 * clamp(v / ds + zp, lo, hi) rounded half to even (NaN -> lo): the same
 * float32 operations as lpot_qepilogue, so the same results bit for bit. */
typedef struct {
    float ds, zp, lo, hi;
    int relu;
    int dst; /* 0 float32, 1 uint8, 2 int8 */
} lpot_qconv_epi_t;
typedef void (*lpot_qgemm_epi_fn)(const int32_t *acc, int64_t lda, int64_t rows, int64_t cols,
                                  const float *scale, const float *bias,
                                  const lpot_qconv_epi_t *e, void *y, int64_t ldy);

/* ---- recurrent cells (rnn_act_ref.c, rnn_act_x86.c) ------------------------
 * lpot's own float32 sigmoid / tanh (formulas and accuracy in rnn_act.h);
 * the vector versions equal the scalar references bit for bit. */
typedef enum { LPOT_ACT_SIGMOID = 0, LPOT_ACT_TANH } lpot_act_t;
typedef void (*lpot_act_f32_fn)(lpot_act_t kind, const float *x, float *y, size_t n);
/* One LSTM step of one row, PyTorch's gate order i, f, g, o: xg and hg are
 * the 4*hs input and recurrent projections (biases included), c the cell
 * state (updated in place), h the new hidden state:
 *   c = sigmoid(f) c + sigmoid(i) tanh(g),  h = sigmoid(o) tanh(c). */
typedef void (*lpot_lstm_cell_fn)(const float *xg, const float *hg, float *c, float *h,
                                  int64_t hs);
/* One GRU step of one row, gate order r, z, n (3*hs projections, biases
 * included; h must not alias hprev):
 *   r = sigmoid(xr + hr), z = sigmoid(xz + hz), n = tanh(xn + r hn),
 *   h = (1 - z) n + z hprev. */
typedef void (*lpot_gru_cell_fn)(const float *xg, const float *hg, const float *hprev,
                                 float *h, int64_t hs);

typedef struct {
    lpot_minmax_f32_fn minmax_f32;
    const char *minmax_f32_isa;
    lpot_cvt_f32_fn cvt_f32;
    lpot_quantize_f32_fn quantize_f32;
    lpot_dequantize_fn dequantize;
    lpot_fake_quant_f32_fn fake_quant_f32;
    lpot_requantize_s32_fn requantize_s32;
    lpot_minmax_elem_f32_fn minmax_elem_f32;
    lpot_hist_f32_fn hist_f32;
    const char *quant_isa;
    lpot_qgemv_s8_fn qgemv_s8;
    const char *qgemv_s8_isa;
    lpot_wlogsum_f64_fn wlogsum_f64;
    lpot_qgemm_u8s8_fn qgemm_u8s8;
    lpot_qgemm_epi_fn qgemm_epi; /* the same ISA as qgemm_u8s8 */
    const char *qgemm_u8s8_isa;
    lpot_act_f32_fn act_f32;
    lpot_lstm_cell_fn lstm_cell;
    lpot_gru_cell_fn gru_cell;
    const char *rnn_isa;
    /* Small-M (M <= 4 per weight pass) GEMV of 7-bit weights: the contract
     * of qgemm_u8s8 (same packing; its scalar twin is lpot_qgemm_u8s8_ref),
     * exact int32 when every |w| <= 64. */
    lpot_qgemm_u8s8_fn qgemv_u8s8;
    const char *qgemv_u8s8_isa;
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


#define LPOT_QUANT_KERNELS(isa)                                                    \
    void lpot_cvt_f32_##isa(const void *src, lpot_src_t type, size_t n,            \
                            ptrdiff_t stride, float *dst);                         \
    void lpot_quantize_f32_##isa(const float *x, void *y, int is_signed, size_t n, \
                                 const lpot_qk_params_t *p);                       \
    void lpot_dequantize_##isa(const void *q, int is_signed, float *y, size_t n,   \
                               const lpot_qk_params_t *p);                         \
    void lpot_fake_quant_f32_##isa(const float *x, float *y, uint8_t *mask,        \
                                   size_t n, const lpot_qk_params_t *p);           \
    void lpot_requantize_s32_##isa(const int32_t *x, void *y, int is_signed,       \
                                   size_t n, const lpot_qk_params_t *p);           \
    void lpot_minmax_elem_f32_##isa(const float *x, size_t n, float *mn,           \
                                    float *mx, size_t *nonfinite);                 \
    void lpot_hist_f32_##isa(const float *x, size_t n, float inv_w, int32_t nb,    \
                             uint32_t *sub, float *mn, float *mx);
LPOT_QUANT_KERNELS(ref)
LPOT_QUANT_KERNELS(avx2)
LPOT_QUANT_KERNELS(avx512)
/* Pack w (n x k row-major s8) for qgemv: returns nblocks*kp*16 bytes
 * (malloc'd; NULL when out of memory), zero-padded to whole blocks/pairs. */
int8_t *lpot_qgemv_pack(const int8_t *w, int64_t n, int64_t k, int64_t *nblocks, int64_t *kp);
/* Build the int16 pairs of one row of x (u8 when is_u8, else s8). */
void lpot_qgemv_xpairs(const void *x, int is_u8, int64_t k, int32_t *pairs);
void lpot_qgemv_s8_ref(const int32_t *xpairs, int64_t m, int64_t kp, const int8_t *wpack,
                       int64_t nblocks, int32_t *acc, int64_t ldacc);
double lpot_wlogsum_f64_ref(const double *w, const double *x, size_t n);
double lpot_wlogsum_f64_avx2(const double *w, const double *x, size_t n);
void lpot_qgemv_s8_avx2(const int32_t *xpairs, int64_t m, int64_t kp, const int8_t *wpack,
                        int64_t nblocks, int32_t *acc, int64_t ldacc);
/* Pack w (n x k row-major s8) for qgemm_u8s8: nblocks blocks of k4 x 16
 * channels x 4 bytes (64-byte aligned, zero-padded; free()); NULL when out
 * of memory. */
int8_t *lpot_qgemm_u8s8_pack(const int8_t *w, int64_t n, int64_t k, int64_t *nblocks,
                             int64_t *k4);
void lpot_qgemm_u8s8_ref(const uint8_t *a, int64_t lda, int64_t m, const int8_t *b,
                         int64_t ldb, int64_t nblocks, int64_t k4, int32_t *c, int64_t ldc,
                         int accum, const int32_t *cadd);
void lpot_qgemv_u8s8_avx2(const uint8_t *a, int64_t lda, int64_t m, const int8_t *b,
                          int64_t ldb, int64_t nblocks, int64_t k4, int32_t *c, int64_t ldc,
                          int accum, const int32_t *cadd);
void lpot_qgemm_u8s8_avx2(const uint8_t *a, int64_t lda, int64_t m, const int8_t *b,
                          int64_t ldb, int64_t nblocks, int64_t k4, int32_t *c, int64_t ldc,
                          int accum, const int32_t *cadd);
#define LPOT_RNN_KERNELS(isa)                                                         \
    void lpot_act_f32_##isa(lpot_act_t kind, const float *x, float *y, size_t n);      \
    void lpot_lstm_cell_##isa(const float *xg, const float *hg, float *c, float *h,    \
                              int64_t hs);                                             \
    void lpot_gru_cell_##isa(const float *xg, const float *hg, const float *hprev,     \
                             float *h, int64_t hs);
LPOT_RNN_KERNELS(ref)
LPOT_RNN_KERNELS(avx2)
LPOT_RNN_KERNELS(avx512)
void lpot_qconv_epi_ref(const int32_t *acc, int64_t lda, int64_t rows, int64_t cols,
                        const float *scale, const float *bias, const lpot_qconv_epi_t *e,
                        void *y, int64_t ldy);
void lpot_qconv_epi_avx2(const int32_t *acc, int64_t lda, int64_t rows, int64_t cols,
                         const float *scale, const float *bias, const lpot_qconv_epi_t *e,
                         void *y, int64_t ldy);

#endif
