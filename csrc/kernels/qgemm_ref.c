/* Scalar references of the int8 ops: exact int32 accumulation, then the
 * float epilogue (scales, bias, post-ops, requantization). Used by tests and
 * whenever oneDNN has no implementation for a call. Plain C. */
#include <math.h>
#include <string.h>

#include "qkernels.h"

const char *lpot_dtype_name(lpot_dtype_t dt)
{
    switch (dt) {
    case LPOT_DT_F32: return "float32";
    case LPOT_DT_U8: return "uint8";
    case LPOT_DT_S8: return "int8";
    case LPOT_DT_S32: return "int32";
    }
    return "?";
}

size_t lpot_dtype_size(lpot_dtype_t dt) { return dt == LPOT_DT_U8 || dt == LPOT_DT_S8 ? 1 : 4; }

static inline int32_t load_q(const void *p, lpot_dtype_t dt, int64_t i)
{
    return dt == LPOT_DT_U8 ? (int32_t)((const uint8_t *)p)[i] : (int32_t)((const int8_t *)p)[i];
}

int32_t lpot_q_saturate(double v, lpot_dtype_t dt)
{
    double lo = dt == LPOT_DT_U8 ? 0.0 : dt == LPOT_DT_S8 ? -128.0 : -2147483648.0;
    double hi = dt == LPOT_DT_U8 ? 255.0 : dt == LPOT_DT_S8 ? 127.0 : 2147483647.0;
    if (isnan(v))
        return 0;
    v = nearbyint(v); /* default rounding mode: half to even */
    return (int32_t)(v < lo ? lo : v > hi ? hi : v);
}

void lpot_qgemm_acc_ref(const void *a, lpot_dtype_t a_dt, int32_t a_zp,
                        const void *b, lpot_dtype_t b_dt, int32_t b_zp,
                        int64_t bs_k, int64_t bs_n, int64_t m, int64_t k, int64_t n,
                        int32_t *acc)
{
    for (int64_t i = 0; i < m; i++)
        for (int64_t j = 0; j < n; j++) {
            int32_t s = 0;
            for (int64_t p = 0; p < k; p++)
                s += (load_q(a, a_dt, i * k + p) - a_zp) *
                     (load_q(b, b_dt, p * bs_k + j * bs_n) - b_zp);
            acc[i * n + j] = s;
        }
}

void lpot_qconv_acc_ref(const void *x, lpot_dtype_t x_dt, int32_t x_zp,
                        lpot_layout_t layout, const int8_t *w,
                        const lpot_conv_geom_t *g, int64_t n, int64_t h, int64_t wd,
                        int64_t oh, int64_t ow, int32_t *acc)
{
    const int64_t G = g->groups, ocg = g->oc / G, icg = g->ic / G, C = g->ic;
    for (int64_t b = 0; b < n; b++)
        for (int64_t oc = 0; oc < g->oc; oc++) {
            const int64_t gi = oc / ocg;
            for (int64_t y = 0; y < oh; y++)
                for (int64_t xo = 0; xo < ow; xo++) {
                    int32_t s = 0;
                    for (int64_t ci = 0; ci < icg; ci++) {
                        const int64_t c = gi * icg + ci;
                        for (int64_t ky = 0; ky < g->kh; ky++) {
                            const int64_t iy = y * g->stride[0] - g->pad[0] + ky * g->dilation[0];
                            if (iy < 0 || iy >= h)
                                continue;
                            for (int64_t kx = 0; kx < g->kw; kx++) {
                                const int64_t ix =
                                    xo * g->stride[1] - g->pad[1] + kx * g->dilation[1];
                                if (ix < 0 || ix >= wd)
                                    continue;
                                int64_t xi = layout == LPOT_LAYOUT_NCHW
                                                 ? ((b * C + c) * h + iy) * wd + ix
                                                 : ((b * h + iy) * wd + ix) * C + c;
                                int32_t wq = w[((oc * icg + ci) * g->kh + ky) * g->kw + kx];
                                s += (load_q(x, x_dt, xi) - x_zp) * wq;
                            }
                        }
                    }
                    int64_t o = layout == LPOT_LAYOUT_NCHW
                                    ? ((b * g->oc + oc) * oh + y) * ow + xo
                                    : ((b * oh + y) * ow + xo) * g->oc + oc;
                    acc[o] = s;
                }
        }
}

static float gelu_erf(float v) { return 0.5f * v * (1.0f + erff(v * 0.70710678118654752f)); }

static float gelu_tanh(float v)
{
    const float c = 0.79788456080286536f; /* sqrt(2/pi) */
    return 0.5f * v * (1.0f + tanhf(c * (v + 0.044715f * v * v * v)));
}

void lpot_qepilogue_ref(const int32_t *acc, int64_t rows, int64_t cols,
                        int rows_are_channels, int64_t n_channels,
                        const float *w_scales, int64_t n_scales, const float *bias,
                        const lpot_qparams_t *qp, void *y)
{
    for (int64_t r = 0; r < rows; r++)
        for (int64_t c = 0; c < cols; c++) {
            const int64_t i = r * cols + c;
            if (qp->dst_dt == LPOT_DT_S32) {
                ((int32_t *)y)[i] = acc[i];
                continue;
            }
            const int64_t ch = rows_are_channels ? r % n_channels : c;
            const float ws = w_scales[n_scales == 1 ? 0 : ch];
            float v = (float)acc[i] * (qp->src_scale * ws);
            if (bias)
                v += bias[ch];
            for (int p = 0; p < qp->n_post; p++) {
                const lpot_post_op_t *po = &qp->post[p];
                switch (po->kind) {
                case LPOT_POST_RELU: v = v > 0.0f ? v : 0.0f; break;
                case LPOT_POST_GELU_ERF: v = gelu_erf(v); break;
                case LPOT_POST_GELU_TANH: v = gelu_tanh(v); break;
                case LPOT_POST_SUM: {
                    float old = qp->dst_dt == LPOT_DT_F32 ? ((const float *)y)[i]
                                                          : (float)load_q(y, qp->dst_dt, i);
                    v += po->scale * (old - (float)po->zp);
                    break;
                }
                }
            }
            switch (qp->dst_dt) {
            case LPOT_DT_F32: ((float *)y)[i] = v; break;
            case LPOT_DT_U8:
                ((uint8_t *)y)[i] =
                    (uint8_t)lpot_q_saturate((double)(v / qp->dst_scale) + qp->dst_zp, LPOT_DT_U8);
                break;
            case LPOT_DT_S8:
                ((int8_t *)y)[i] =
                    (int8_t)lpot_q_saturate((double)(v / qp->dst_scale) + qp->dst_zp, LPOT_DT_S8);
                break;
            case LPOT_DT_S32: break;
            }
        }
}

/* The common epilogues (no post-ops or relu only; f32/u8/s8 out) as plain
 * loops the compiler vectorizes; anything else goes to the reference. Same
 * math as lpot_qepilogue_ref except the rounding of the requantized value,
 * done in float (round half to even by the 1.5 * 2^23 trick). */
void lpot_qepilogue(const int32_t *acc, int64_t rows, int64_t cols, const float *w_scales,
                    int64_t n_scales, const float *bias, const lpot_qparams_t *qp, void *y)
{
    int relu = 0;
    for (int p = 0; p < qp->n_post; p++) {
        if (qp->post[p].kind != LPOT_POST_RELU) {
            lpot_qepilogue_ref(acc, rows, cols, 0, cols, w_scales, n_scales, bias, qp, y);
            return;
        }
        relu = 1;
    }
    if (qp->dst_dt == LPOT_DT_S32) {
        lpot_qepilogue_ref(acc, rows, cols, 0, cols, w_scales, n_scales, bias, qp, y);
        return;
    }
    float sc[1024], bs[1024], q[1024]; /* per column, in chunks of 1024 */
    const float lo = qp->dst_dt == LPOT_DT_U8 ? 0.0f : -128.0f;
    const float hi = qp->dst_dt == LPOT_DT_U8 ? 255.0f : 127.0f;
    const float zp = (float)qp->dst_zp, ds = qp->dst_scale, magic = 12582912.0f;
    const int64_t chunk = (int64_t)(sizeof sc / sizeof sc[0]);
    for (int64_t c0 = 0; c0 < cols; c0 += chunk) {
        const int64_t nc = cols - c0 < chunk ? cols - c0 : chunk;
        for (int64_t c = 0; c < nc; c++) {
            sc[c] = qp->src_scale * w_scales[n_scales == 1 ? 0 : c0 + c];
            bs[c] = bias ? bias[c0 + c] : 0.0f;
        }
        for (int64_t r = 0; r < rows; r++) {
            const int32_t *a = acc + r * cols + c0;
            if (qp->dst_dt == LPOT_DT_F32) {
                float *o = (float *)y + r * cols + c0;
                for (int64_t c = 0; c < nc; c++) {
                    float v = (float)a[c] * sc[c] + bs[c];
                    o[c] = relu && v < 0.0f ? 0.0f : v;
                }
                continue;
            }
            for (int64_t c = 0; c < nc; c++) {
                float v = (float)a[c] * sc[c] + bs[c];
                v = relu && v < 0.0f ? 0.0f : v;
                v = v / ds + zp;
                v = v >= lo ? v : lo; /* NaN -> lo */
                v = v <= hi ? v : hi;
                q[c] = (v + magic) - magic;
            }
            if (qp->dst_dt == LPOT_DT_U8) {
                uint8_t *o = (uint8_t *)y + r * cols + c0;
                for (int64_t c = 0; c < nc; c++)
                    o[c] = (uint8_t)(int32_t)q[c];
            } else {
                int8_t *o = (int8_t *)y + r * cols + c0;
                for (int64_t c = 0; c < nc; c++)
                    o[c] = (int8_t)(int32_t)q[c];
            }
        }
    }
}

lpot_status_t lpot_qparams_check(const lpot_qparams_t *qp)
{
    if (qp->src_dt != LPOT_DT_U8 && qp->src_dt != LPOT_DT_S8)
        return lpot_set_error(LPOT_ERR_KERNEL, "x: expected uint8 or int8 activations, got %s",
                              lpot_dtype_name(qp->src_dt));
    if (!(qp->src_scale > 0.0f) || !isfinite(qp->src_scale))
        return lpot_set_error(LPOT_ERR_KERNEL, "x_scale: expected a positive finite scale, got %g",
                              (double)qp->src_scale);
    int32_t lo = qp->src_dt == LPOT_DT_U8 ? 0 : -128, hi = qp->src_dt == LPOT_DT_U8 ? 255 : 127;
    if (qp->src_zp < lo || qp->src_zp > hi)
        return lpot_set_error(LPOT_ERR_KERNEL, "x_zp: %d is outside the %s range [%d, %d]",
                              (int)qp->src_zp, lpot_dtype_name(qp->src_dt), (int)lo, (int)hi);
    if (qp->dst_dt == LPOT_DT_U8 || qp->dst_dt == LPOT_DT_S8) {
        if (!(qp->dst_scale > 0.0f) || !isfinite(qp->dst_scale))
            return lpot_set_error(LPOT_ERR_KERNEL,
                                  "out_scale: expected a positive finite scale for %s output, got %g",
                                  lpot_dtype_name(qp->dst_dt), (double)qp->dst_scale);
        lo = qp->dst_dt == LPOT_DT_U8 ? 0 : -128;
        hi = qp->dst_dt == LPOT_DT_U8 ? 255 : 127;
        if (qp->dst_zp < lo || qp->dst_zp > hi)
            return lpot_set_error(LPOT_ERR_KERNEL, "out_zp: %d is outside the %s range [%d, %d]",
                                  (int)qp->dst_zp, lpot_dtype_name(qp->dst_dt), (int)lo, (int)hi);
    }
    if (qp->n_post < 0 || qp->n_post > LPOT_MAX_POST_OPS)
        return lpot_set_error(LPOT_ERR_KERNEL, "post_ops: at most %d allowed, got %d",
                              LPOT_MAX_POST_OPS, qp->n_post);
    if (qp->dst_dt == LPOT_DT_S32 && qp->n_post > 0)
        return lpot_set_error(LPOT_ERR_KERNEL,
                              "post_ops: not allowed with int32 output (raw accumulation)");
    for (int p = 0; p < qp->n_post; p++) {
        const lpot_post_op_t *po = &qp->post[p];
        if ((int)po->kind < 0 || po->kind > LPOT_POST_SUM)
            return lpot_set_error(LPOT_ERR_KERNEL, "post_ops[%d]: unknown kind", p);
        if (po->kind == LPOT_POST_SUM && !isfinite(po->scale))
            return lpot_set_error(LPOT_ERR_KERNEL, "sum_scale: expected a finite value");
    }
    return LPOT_OK;
}
