/* Quantization parameters (see quant.h for the conventions). Plain C. */
#include "quant.h"
#include "tensor.h"

#include <float.h>
#include <math.h>
#include <string.h>

lpot_qopts_t lpot_qopts_default(void)
{
    lpot_qopts_t o = {LPOT_QDT_UINT8, 0, 0, 0, LPOT_QCONV_ONNX};
    return o;
}

int lpot_qdtype_from_name(const char *name)
{
    if (strcmp(name, "uint8") == 0)
        return LPOT_QDT_UINT8;
    if (strcmp(name, "int8") == 0)
        return LPOT_QDT_INT8;
    return -1;
}

int lpot_qconv_from_name(const char *name)
{
    if (strcmp(name, "onnx") == 0)
        return LPOT_QCONV_ONNX;
    if (strcmp(name, "torch") == 0)
        return LPOT_QCONV_TORCH;
    return -1;
}

const char *lpot_qdtype_name(lpot_qdtype_t dt)
{
    return dt == LPOT_QDT_INT8 ? "int8" : "uint8";
}

void lpot_qdtype_limits(lpot_qdtype_t dt, int32_t *qmin, int32_t *qmax)
{
    if (dt == LPOT_QDT_INT8) {
        *qmin = -128;
        *qmax = 127;
    } else {
        *qmin = 0;
        *qmax = 255;
    }
}

lpot_status_t lpot_qrange(const lpot_qopts_t *o, int32_t *qmin, int32_t *qmax)
{
    if (o->narrow && o->dtype != LPOT_QDT_INT8)
        return lpot_set_error(LPOT_ERR_INVALID, "narrow: only int8 has a narrow range");
    if (o->dtype == LPOT_QDT_UINT8) {
        *qmin = 0;
        *qmax = o->reduce_range ? 127 : 255;
        return LPOT_OK;
    }
    if (o->reduce_range) {
        *qmin = -64;
        *qmax = o->conv == LPOT_QCONV_ONNX ? 64 : 63;
        return LPOT_OK;
    }
    *qmax = 127;
    *qmin = (o->narrow || (o->symmetric && o->conv == LPOT_QCONV_ONNX)) ? -127 : -128;
    return LPOT_OK;
}

static void params_onnx(const lpot_qopts_t *o, int32_t qmin, int32_t qmax, float rmin,
                        float rmax, float *scale, int32_t *zp)
{
    if (o->symmetric) {
        float a = fmaxf(fabsf(rmin), fabsf(rmax));
        rmin = -a;
        rmax = a;
    }
    double s = ((double)rmax - (double)rmin) / ((double)qmax - (double)qmin);
    if (s < (double)FLT_MIN) {
        *scale = 1.0f;
        *zp = 0;
        return;
    }
    if (o->symmetric)
        *zp = (int32_t)nearbyint(((double)qmin + (double)qmax) / 2.0);
    else
        *zp = (int32_t)nearbyint((double)qmin - (double)rmin / s);
    *scale = (float)s;
}

static void params_torch(const lpot_qopts_t *o, int32_t qmin, int32_t qmax, float rmin,
                         float rmax, float *scale, int32_t *zp)
{
    /* a non-default quant_min/quant_max; torch refuses reduce_range with
     * symmetric quint8, lpot takes it as the custom range [0, 127] */
    int custom = o->narrow || (o->reduce_range && o->dtype == LPOT_QDT_UINT8);
    if (o->symmetric) {
        float a = fmaxf(-rmin, rmax);
        float s = a / ((float)(qmax - qmin) / 2.0f);
        *scale = fmaxf(s, FLT_EPSILON);
        if (o->dtype == LPOT_QDT_UINT8)
            *zp = custom ? (qmin + qmax) / 2 : 128;
        else
            *zp = 0;
        return;
    }
    float s = (rmax - rmin) / (float)(qmax - qmin);
    s = fmaxf(s, FLT_EPSILON);
    int32_t z = qmin - (int32_t)nearbyintf(rmin / s);
    *zp = z < qmin ? qmin : z > qmax ? qmax : z;
    *scale = s;
}

lpot_status_t lpot_qparams(const lpot_qopts_t *o, const float *mn, const float *mx,
                           size_t n, float *scale, int32_t *zero_point)
{
    int32_t qmin = 0, qmax = 0;
    lpot_status_t st = lpot_qrange(o, &qmin, &qmax);
    if (st != LPOT_OK)
        return st;
    for (size_t i = 0; i < n; i++) {
        float a = mn[i], b = mx[i];
        if (!isfinite(a) || !isfinite(b) || a > b)
            return lpot_set_error(LPOT_ERR_INVALID,
                                  "range: channel %zu has no finite range (min=%g, max=%g)",
                                  i, (double)a, (double)b);
        float rmin = fminf(a, 0.0f), rmax = fmaxf(b, 0.0f);
        if (o->conv == LPOT_QCONV_ONNX)
            params_onnx(o, qmin, qmax, rmin, rmax, &scale[i], &zero_point[i]);
        else
            params_torch(o, qmin, qmax, rmin, rmax, &scale[i], &zero_point[i]);
    }
    return LPOT_OK;
}

/* ---- whole-tensor operations ------------------------------------------ */

typedef struct {
    const lpot_qtensor_params_t *p;
    int op; /* 0 quantize, 1 dequantize, 2 fake quant, 3 requantize */
    int is_signed;
    void *out;
    uint8_t *mask;
} qt_ctx;

static int qt_run(void *vctx, const void *x, size_t n, size_t lin, size_t ch, int per_elem)
{
    qt_ctx *c = vctx;
    lpot_qk_params_t kp = {c->p->scale, c->p->zp, per_elem, c->p->qmin, c->p->qmax};
    if (c->p->axis >= 0) {
        kp.scale += ch;
        kp.zp += ch;
    } else {
        kp.per_elem = 0;
    }
    switch (c->op) {
    case 0:
        lpot_kernels.quantize_f32(x, (char *)c->out + lin, c->is_signed, n, &kp);
        break;
    case 1:
        lpot_kernels.dequantize(x, c->is_signed, (float *)c->out + lin, n, &kp);
        break;
    case 2:
        lpot_kernels.fake_quant_f32(x, (float *)c->out + lin, c->mask ? c->mask + lin : NULL,
                                    n, &kp);
        break;
    default:
        lpot_kernels.requantize_s32(x, (char *)c->out + lin, c->is_signed, n, &kp);
        break;
    }
    return 0;
}

static lpot_status_t qt_check(const lpot_tensor_t *x, const lpot_qtensor_params_t *p)
{
    if (p->qmin > p->qmax)
        return lpot_set_error(LPOT_ERR_INVALID, "qmin %d > qmax %d", (int)p->qmin, (int)p->qmax);
    if (p->axis >= 0) {
        if (p->axis >= x->ndim)
            return lpot_set_error(LPOT_ERR_INVALID, "axis: %d is out of range for %d dims",
                                  p->axis, x->ndim);
        if ((int64_t)p->nch != x->shape[p->axis])
            return lpot_set_error(LPOT_ERR_INVALID,
                                  "scale: %zu values for axis %d of extent %lld", p->nch,
                                  p->axis, (long long)x->shape[p->axis]);
    } else if (p->nch != 1) {
        return lpot_set_error(LPOT_ERR_INVALID,
                              "scale: %zu values given without an axis (expected 1)", p->nch);
    }
    for (size_t i = 0; i < p->nch; i++) {
        if (!(p->scale[i] > 0.0f) || !isfinite(p->scale[i]))
            return lpot_set_error(LPOT_ERR_INVALID,
                                  "scale: value %zu is %g (must be finite and > 0)", i,
                                  (double)p->scale[i]);
        if (p->zp[i] < p->qmin || p->zp[i] > p->qmax)
            return lpot_set_error(LPOT_ERR_INVALID,
                                  "zero_point: value %zu is %d, outside [%d, %d]", i,
                                  (int)p->zp[i], (int)p->qmin, (int)p->qmax);
    }
    return LPOT_OK;
}

static lpot_status_t qt_apply(const lpot_tensor_t *x, const lpot_qtensor_params_t *p, int op,
                              int is_signed, void *out, uint8_t *mask)
{
    lpot_status_t st = qt_check(x, p);
    if (st != LPOT_OK)
        return st;
    qt_ctx c = {p, op, is_signed, out, mask};
    lpot_tensor_foreach(x, p->axis, qt_run, &c);
    return LPOT_OK;
}

lpot_status_t lpot_quantize_tensor(const lpot_tensor_t *x, const lpot_qtensor_params_t *p,
                                   int is_signed, void *out)
{
    if (!lpot_ttype_is_float(x->type))
        return lpot_set_error(LPOT_ERR_KERNEL, "x: quantize expects float32/float16/bfloat16");
    return qt_apply(x, p, 0, is_signed, out, NULL);
}

lpot_status_t lpot_dequantize_tensor(const lpot_tensor_t *q, const lpot_qtensor_params_t *p,
                                     float *out)
{
    if (q->type != LPOT_T_U8 && q->type != LPOT_T_S8)
        return lpot_set_error(LPOT_ERR_KERNEL, "x: dequantize expects int8/uint8");
    return qt_apply(q, p, 1, q->type == LPOT_T_S8, out, NULL);
}

lpot_status_t lpot_fake_quant_tensor(const lpot_tensor_t *x, const lpot_qtensor_params_t *p,
                                     float *out, uint8_t *mask)
{
    if (!lpot_ttype_is_float(x->type))
        return lpot_set_error(LPOT_ERR_KERNEL, "x: fake_quant expects float32/float16/bfloat16");
    return qt_apply(x, p, 2, 0, out, mask);
}

lpot_status_t lpot_requantize_tensor(const lpot_tensor_t *x, const lpot_qtensor_params_t *p,
                                     int is_signed, void *out)
{
    if (x->type != LPOT_T_S32)
        return lpot_set_error(LPOT_ERR_KERNEL, "x: requantize expects int32");
    return qt_apply(x, p, 3, is_signed, out, NULL);
}
