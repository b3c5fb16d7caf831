/* Int8 compute kernels: linear, 2-D convolution and activation matmul.
 * Plain C, no Python.
 *
 * Quantization follows ONNX QuantizeLinear: real = scale * (q - zero_point),
 * q = saturate(round_half_even(real / scale) + zero_point).
 *
 * Every op computes, per output element,
 *     acc = sum_k (x_q - x_zp) * (w_q - w_zp)               (exact int32)
 * and then, by output dtype:
 *   S32: out = acc                    (MatMulInteger / ConvInteger; no bias,
 *                                      no post-ops, scales ignored)
 *   F32: y = x_scale * w_scale[c] * acc + bias[c]; post-ops; out = y
 *   U8/S8: same y, post-ops, out = saturate(rne(y / out_scale + out_zp))
 * Post-ops run in order on y: relu, gelu (erf or tanh form), and sum, which
 * adds sum_scale * (old_out - sum_zp) where old_out is what the output buffer
 * held before the call (the caller fills it with the residual).
 *
 * Packed handles (lpot_qlinear_t, lpot_qconv_t) hold s8 weights reordered
 * once into the layout oneDNN prefers on this CPU (blocked for AMX / VNNI /
 * AVX2), the weight scales, an f32 bias, and a cache of primitives keyed by
 * the call's shape and attributes. They are immutable after creation and
 * safe to run from several threads at once. When oneDNN has no
 * implementation for a call the scalar reference runs instead; `impl` then
 * reads "lpot:ref". */
#ifndef LPOT_QKERNELS_H
#define LPOT_QKERNELS_H

#include <stddef.h>
#include <stdint.h>

#include "../status.h"

typedef enum { LPOT_DT_F32 = 0, LPOT_DT_U8, LPOT_DT_S8, LPOT_DT_S32 } lpot_dtype_t;

const char *lpot_dtype_name(lpot_dtype_t dt);
size_t lpot_dtype_size(lpot_dtype_t dt);

typedef enum {
    LPOT_POST_RELU = 0,
    LPOT_POST_GELU_ERF,
    LPOT_POST_GELU_TANH,
    LPOT_POST_SUM,
} lpot_post_kind_t;

typedef struct {
    lpot_post_kind_t kind;
    float scale;  /* sum only */
    int32_t zp;   /* sum only */
} lpot_post_op_t;

#define LPOT_MAX_POST_OPS 4

/* Activation quantization and the output side of a call. */
typedef struct {
    lpot_dtype_t src_dt; /* U8 or S8 */
    float src_scale;
    int32_t src_zp;
    lpot_dtype_t dst_dt;
    float dst_scale;     /* U8/S8 output only */
    int32_t dst_zp;      /* U8/S8 output only */
    int n_post;
    lpot_post_op_t post[LPOT_MAX_POST_OPS];
} lpot_qparams_t;

/* Check a qparams against what every op accepts; names the argument. */
lpot_status_t lpot_qparams_check(const lpot_qparams_t *qp);

/* How to run: AUTO picks lpot's own kernels (small-M linear, the conv GEMM)
 * or oneDNN (falling back to the reference); ONEDNN skips lpot's own kernels
 * (benchmarks); REF runs the scalar reference only (tests); OWN is AUTO but
 * runs lpot's own conv GEMM wherever it can be exact, also on shapes where
 * AUTO would pick oneDNN (tests, benchmarks). */
typedef enum { LPOT_IMPL_AUTO = 0, LPOT_IMPL_REF, LPOT_IMPL_ONEDNN, LPOT_IMPL_OWN } lpot_impl_pref_t;

/* ---- threads and reporting ------------------------------------------------ */

/* Threads oneDNN uses for every call in the process (0 = OpenMP default). */
void lpot_qk_set_num_threads(int n);
int lpot_qk_get_num_threads(void);

/* The implementation name of the calling thread's last call of `op`
 * ("linear", "conv2d", "matmul"); "" when none ran yet. */
const char *lpot_qk_last_impl(const char *op);
/* Threads the calling thread's last call asked OpenMP for (0: none yet). */
int lpot_qk_last_threads(void);
/* Record what a call ran for the calling thread (impl: a static string). */
void lpot_qk_record_impl(const char *op, const char *impl);

/* ---- linear: y[M,N] = x[M,K] . w[N,K]^T -------------------------------- */

typedef struct lpot_qlinear lpot_qlinear_t;

/* w: N x K row-major s8 (symmetric: zero point 0). w_scales: 1 (per-tensor)
 * or N (per output channel) positive finite values. bias: NULL or N floats.
 * m_hint: the row count to pick the packed layout for (0 = 128). */
lpot_status_t lpot_qlinear_create(lpot_qlinear_t **out, const int8_t *w, int64_t n,
                                  int64_t k, const float *w_scales, int64_t n_scales,
                                  const float *bias, int64_t m_hint);
void lpot_qlinear_destroy(lpot_qlinear_t *lin);
int64_t lpot_qlinear_n(const lpot_qlinear_t *lin);
int64_t lpot_qlinear_k(const lpot_qlinear_t *lin);
/* Description of the packed weight layout and the pack-time implementation. */
const char *lpot_qlinear_packed_impl(const lpot_qlinear_t *lin);
size_t lpot_qlinear_packed_bytes(const lpot_qlinear_t *lin);
/* Copy of the plain N x K s8 weights and the scales (n_scales of them). */
const int8_t *lpot_qlinear_weight(const lpot_qlinear_t *lin);
const float *lpot_qlinear_scales(const lpot_qlinear_t *lin, int64_t *n_scales);

/* x: M x K contiguous of qp->src_dt; y: M x N contiguous of qp->dst_dt (for a
 * sum post-op, y holds the residual on entry). *impl gets a static string. */
lpot_status_t lpot_qlinear_run(lpot_qlinear_t *lin, const void *x, int64_t m,
                               const lpot_qparams_t *qp, void *y,
                               lpot_impl_pref_t pref, const char **impl);

/* Dynamic quantized linear: x is M x K float32, quantized on the fly to u8
 * (asymmetric, ONNX DynamicQuantizeLinear rule) per tensor or per row; y is
 * M x N float32 = dequantized result + bias, then relu/gelu post-ops (no sum).
 * The chosen scales/zero points are written to x_scales/x_zps (1 or M). */
lpot_status_t lpot_qlinear_run_dynamic(lpot_qlinear_t *lin, const float *x, int64_t m,
                                       int per_row, const lpot_post_op_t *post,
                                       int n_post, float *y, float *x_scales,
                                       int32_t *x_zps, lpot_impl_pref_t pref,
                                       const char **impl);

/* ---- 2-D convolution --------------------------------------------------- */

typedef struct {
    int64_t oc, ic, kh, kw, groups;
    int64_t stride[2];  /* h, w */
    int64_t pad[4];     /* top, left, bottom, right */
    int64_t dilation[2];/* h, w; 1 = dense (ONNX/PyTorch convention) */
} lpot_conv_geom_t;

typedef enum { LPOT_LAYOUT_NCHW = 0, LPOT_LAYOUT_NHWC } lpot_layout_t;

typedef struct lpot_qconv lpot_qconv_t;

/* w: OC x IC/groups x KH x KW s8 (PyTorch/ONNX order), symmetric. w_scales:
 * 1 or OC. bias: NULL or OC floats. hint_hw: input H, W to pick the packed
 * layout for (0 = 56). */
lpot_status_t lpot_qconv_create(lpot_qconv_t **out, const int8_t *w,
                                const lpot_conv_geom_t *g, const float *w_scales,
                                int64_t n_scales, const float *bias,
                                const int64_t hint_hw[2]);
void lpot_qconv_destroy(lpot_qconv_t *conv);
const lpot_conv_geom_t *lpot_qconv_geom(const lpot_qconv_t *conv);
const char *lpot_qconv_packed_impl(const lpot_qconv_t *conv);
size_t lpot_qconv_packed_bytes(const lpot_qconv_t *conv);

/* Output spatial size for input h, w; error when it would be < 1. */
lpot_status_t lpot_conv_out_hw(const lpot_conv_geom_t *g, int64_t h, int64_t w,
                               int64_t *oh, int64_t *ow);

/* x: N x IC x H x W (NCHW) or N x H x W x IC (NHWC), contiguous, src_dt;
 * y: the output in the same layout, dst_dt. */
lpot_status_t lpot_qconv_run(lpot_qconv_t *conv, const void *x, int64_t n,
                             int64_t h, int64_t w, lpot_layout_t layout,
                             const lpot_qparams_t *qp, void *y,
                             lpot_impl_pref_t pref, const char **impl);

/* ---- activation matmul: y[b] = a[b] . B[b] ------------------------------- */

/* a: batch x M x K contiguous (qp->src_dt, qp->src_zp). b: batch x K x N
 * contiguous, or batch x N x K when trans_b (attention's Q.K^T), or one such
 * matrix shared by every batch when b_shared; of b_dt (U8 or S8) with
 * per-tensor b_scale / b_zp. No bias. y: batch x M x N. */
lpot_status_t lpot_qmatmul_run(const void *a, const void *b, int64_t batch,
                               int64_t m, int64_t k, int64_t n, int trans_b, int b_shared,
                               lpot_dtype_t b_dt, float b_scale, int32_t b_zp,
                               const lpot_qparams_t *qp, void *y,
                               lpot_impl_pref_t pref, const char **impl);

/* ---- scalar reference (qgemm_ref.c) ------------------------------------ */

/* acc[M,N] = sum_k (a[m,k] - a_zp) * (b(k,n) - b_zp); b(k,n) is at
 * b[k*bs_k + n*bs_n]. Types: a U8/S8, b U8/S8. */
void lpot_qgemm_acc_ref(const void *a, lpot_dtype_t a_dt, int32_t a_zp,
                        const void *b, lpot_dtype_t b_dt, int32_t b_zp,
                        int64_t bs_k, int64_t bs_n, int64_t m, int64_t k, int64_t n,
                        int32_t *acc);

/* Direct convolution accumulation into acc laid out like the output in
 * `layout`: N x OC x OH x OW (NCHW) or N x OH x OW x OC (NHWC). x is in
 * `layout`; w as in lpot_qconv_create. */
void lpot_qconv_acc_ref(const void *x, lpot_dtype_t x_dt, int32_t x_zp,
                        lpot_layout_t layout, const int8_t *w,
                        const lpot_conv_geom_t *g, int64_t n, int64_t h, int64_t wd,
                        int64_t oh, int64_t ow, int32_t *acc);

/* The epilogue on acc[rows x cols] into the contiguous y (dst_dt; read first
 * for a sum post-op). The channel of element (r, c) is c when rows_are_channels
 * is 0, else r % n_channels. w_scales has 1 or n_channels entries; bias is
 * NULL or n_channels floats. */
void lpot_qepilogue_ref(const int32_t *acc, int64_t rows, int64_t cols,
                        int rows_are_channels, int64_t n_channels,
                        const float *w_scales, int64_t n_scales, const float *bias,
                        const lpot_qparams_t *qp, void *y);

/* lpot_qepilogue_ref for channels along the columns, with fast vectorizable
 * loops for the common cases (no post-ops or relu; f32/u8/s8 output). */
void lpot_qepilogue(const int32_t *acc, int64_t rows, int64_t cols, const float *w_scales,
                    int64_t n_scales, const float *bias, const lpot_qparams_t *qp, void *y);

/* Round half to even and saturate to dt (U8/S8/S32). */
int32_t lpot_q_saturate(double v, lpot_dtype_t dt);

#endif
