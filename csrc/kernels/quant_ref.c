/* Scalar references of the quantization kernel family (see dispatch.h). */
#include <math.h>
#include <string.h>

#include "dispatch.h"

static float half_to_float(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t exp = (h >> 10) & 0x1f, man = h & 0x3ffu, bits;
    if (exp == 0x1f) {
        bits = sign | 0x7f800000u | (man << 13);
    } else if (exp != 0) {
        bits = sign | ((exp + 112u) << 23) | (man << 13);
    } else if (man == 0) {
        bits = sign;
    } else { /* subnormal: value = man * 2^-24 */
        float f = (float)man * 0x1p-24f;
        memcpy(&bits, &f, 4);
        bits |= sign;
    }
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

void lpot_cvt_f32_ref(const void *src, lpot_src_t type, size_t n, ptrdiff_t stride,
                      float *dst)
{
    if (type == LPOT_SRC_F32) {
        const float *s = src;
        for (size_t i = 0; i < n; i++)
            dst[i] = s[(ptrdiff_t)i * stride];
    } else if (type == LPOT_SRC_F16) {
        const uint16_t *s = src;
        for (size_t i = 0; i < n; i++)
            dst[i] = half_to_float(s[(ptrdiff_t)i * stride]);
    } else {
        const uint16_t *s = src;
        for (size_t i = 0; i < n; i++) {
            uint32_t b = (uint32_t)s[(ptrdiff_t)i * stride] << 16;
            memcpy(&dst[i], &b, 4);
        }
    }
}

/* rint(v) clamped to [lo, hi]; NaN -> lo. */
static inline float clamp_round(float v, float lo, float hi)
{
    float r = nearbyintf(v);
    if (!(r >= lo))
        r = lo;
    if (r > hi)
        r = hi;
    return r;
}

void lpot_quantize_f32_ref(const float *x, void *y, int is_signed, size_t n,
                           const lpot_qk_params_t *p)
{
    for (size_t i = 0; i < n; i++) {
        size_t c = p->per_elem ? i : 0;
        int32_t zp = p->zp[c];
        float r = clamp_round(x[i] / p->scale[c], (float)(p->qmin - zp), (float)(p->qmax - zp));
        int32_t q = (int32_t)r + zp;
        if (is_signed)
            ((int8_t *)y)[i] = (int8_t)q;
        else
            ((uint8_t *)y)[i] = (uint8_t)q;
    }
}

void lpot_dequantize_ref(const void *q, int is_signed, float *y, size_t n,
                         const lpot_qk_params_t *p)
{
    for (size_t i = 0; i < n; i++) {
        size_t c = p->per_elem ? i : 0;
        float v = is_signed ? (float)((const int8_t *)q)[i] : (float)((const uint8_t *)q)[i];
        y[i] = (v - (float)p->zp[c]) * p->scale[c];
    }
}

void lpot_fake_quant_f32_ref(const float *x, float *y, uint8_t *mask, size_t n,
                             const lpot_qk_params_t *p)
{
    for (size_t i = 0; i < n; i++) {
        size_t c = p->per_elem ? i : 0;
        int32_t zp = p->zp[c];
        float s = p->scale[c], lo = (float)(p->qmin - zp), hi = (float)(p->qmax - zp);
        float raw = nearbyintf(x[i] / s);
        float r = clamp_round(x[i] / s, lo, hi);
        y[i] = r * s;
        if (mask)
            mask[i] = (uint8_t)(raw >= lo && raw <= hi);
    }
}

void lpot_requantize_s32_ref(const int32_t *x, void *y, int is_signed, size_t n,
                             const lpot_qk_params_t *p)
{
    for (size_t i = 0; i < n; i++) {
        size_t c = p->per_elem ? i : 0;
        int32_t zp = p->zp[c];
        float r = clamp_round((float)x[i] * p->scale[c], (float)(p->qmin - zp),
                              (float)(p->qmax - zp));
        int32_t q = (int32_t)r + zp;
        if (is_signed)
            ((int8_t *)y)[i] = (int8_t)q;
        else
            ((uint8_t *)y)[i] = (uint8_t)q;
    }
}

void lpot_minmax_elem_f32_ref(const float *x, size_t n, float *mn, float *mx,
                              size_t *nonfinite)
{
    size_t bad = 0;
    for (size_t i = 0; i < n; i++) {
        float v = x[i];
        if (!isfinite(v)) {
            bad++;
            continue;
        }
        if (v < mn[i])
            mn[i] = v;
        if (v > mx[i])
            mx[i] = v;
    }
    *nonfinite += bad;
}

void lpot_hist_f32_ref(const float *x, size_t n, float inv_w, int32_t nb, uint32_t *sub,
                       float *mn, float *mx)
{
    const float lo = (float)-nb, hi = (float)(nb - 1);
    float rl = mn ? *mn : 0.0f, rh = mx ? *mx : 0.0f;
    for (size_t i = 0; i < n; i++) {
        float v = x[i];
        int32_t k;
        if (!isfinite(v)) {
            k = 2 * nb;
        } else {
            rl = v < rl ? v : rl;
            rh = v > rh ? v : rh;
            float f = floorf(v * inv_w);
            f = f < lo ? lo : f > hi ? hi : f;
            k = (int32_t)f + nb;
        }
        sub[k]++;
    }
    if (mn) {
        *mn = rl;
        *mx = rh;
    }
}
