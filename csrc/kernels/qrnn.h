/* Dynamic int8 recurrent layers (LSTM / GRU): one layer's whole time loop in
 * C. Plain C, no Python. */
#ifndef LPOT_QRNN_H
#define LPOT_QRNN_H

#include "qkernels.h"

typedef enum { LPOT_RNN_LSTM = 0, LPOT_RNN_GRU } lpot_rnn_mode_t;

/* Gates per hidden unit: 4 (LSTM) or 3 (GRU). */
int lpot_rnn_gates(lpot_rnn_mode_t mode);

/* Runs t_len steps of one unidirectional layer over `batch` rows, PyTorch's
 * semantics (gate order i, f, g, o / r, z, n; GRU's n = tanh(xn + r (W_hn h
 * + b_hn))). hh: the recurrent weights, (G*H, H) with b_hh as its bias. Each
 * step quantizes h dynamically (u8 asymmetric over the whole batch x H, as
 * lpot_qlinear_run_dynamic with per_row = 0), multiplies it with hh (M =
 * batch: lpot's small-M kernel up to LPOT_QGEMV_MAX_M rows, else oneDNN),
 * dequantizes and adds the bias, then runs the dispatched cell kernel.
 *   xp:  t_len x batch x G*H float32, the input projection x W_ih^T + b_ih
 *   h0:  batch x H; c0: batch x H (LSTM only, else NULL)
 *   out: t_len x batch x H; h_n: batch x H; c_n: batch x H (LSTM only)
 * pref = LPOT_IMPL_REF runs the scalar references (GEMM and cells).
 * *impl: what the last step's product ran ("lpot:ref" when t_len is 0). */
lpot_status_t lpot_rnn_layer(lpot_rnn_mode_t mode, lpot_qlinear_t *hh, const float *xp,
                             int64_t t_len, int64_t batch, const float *h0, const float *c0,
                             float *out, float *h_n, float *c_n, lpot_impl_pref_t pref,
                             const char **impl);

#endif
