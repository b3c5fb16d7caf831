/* lpot's own u8 x s8 GEMM driver (CPUs without VNNI): rows of u8
 * activations times weights packed by lpot_qgemm_u8s8_pack, exact int32,
 * then the epilogue, on lpot's task pool. Used by the convolution's own
 * path (qconv.c: in place for 1x1 stride-1 unpadded, else im2col rows made
 * by a callback) and by the linear for M > LPOT_QGEMV_MAX_M rows
 * (qlinear.c). Plain C. */
#ifndef LPOT_QGEMM_DRV_H
#define LPOT_QGEMM_DRV_H

#include <stdint.h>

#include "qkernels.h"

/* The weights: n output channels, packed (nb blocks of 16, k4 quads of K),
 * their per-channel sums (for the zero-point correction), 1 or n scales,
 * bias NULL or n. */
typedef struct {
    const int8_t *w;
    int64_t nb, k4, n;
    const int32_t *wsum;
    const float *scales;
    int64_t n_scales;
    const float *bias;
} lpot_qgemm_b_t;

/* Makes rows [r0, r0 + rows) of the u8 activation matrix at row stride
 * kpad = 4 * k4 (zero-padded past K). */
typedef void (*lpot_qgemm_rows_fn)(void *ctx, int64_t r0, int64_t rows, int64_t kpad,
                                   uint8_t *a);

/* The activations: m rows of u8 with zero point zp, either in place (a,
 * row stride lda, each row at least 4 * k4 readable bytes) or made by
 * rows(rows_ctx, ...) when a is NULL. */
typedef struct {
    const uint8_t *a;
    int64_t lda, m;
    lpot_qgemm_rows_fn rows;
    void *rows_ctx;
    int32_t zp;
} lpot_qgemm_a_t;

/* y (m x n, row stride n, qp->dst_dt; read first for a sum post-op) =
 * epilogue(a . b^T - zp * wsum) on nt threads (lpot_pool_run). Only where
 * no vpmaddubsw pair can saturate (7-bit weights, or activations <= 127). */
lpot_status_t lpot_qgemm_drv_run(const lpot_qgemm_b_t *b, const lpot_qgemm_a_t *a,
                                 const lpot_qparams_t *qp, void *y, int nt);

/* 0 when the qparams carry a gelu post-op: the driver's epilogue runs it in
 * scalar C (erff / tanhf per value), which at M = 128 costs more than the
 * GEMM saves (BERT-base, one thread: gelu on 128 x 3072 per layer made a
 * forward 40% slower than oneDNN's matmul with its fused gelu). */
int lpot_qgemm_drv_epi_cheap(const lpot_qparams_t *qp);

#endif
