/* Quantization parameters: scale and zero point from a (min, max) range.
 * Plain C. THIS HEADER IS THE PROJECT'S CONTRACT for int8/uint8 affine
 * quantization; kernels (#5), adaptors and observers all use it.
 *
 * ---------------------------------------------------------------- relation
 *   q = saturate(round_half_even(x / scale) + zero_point)      (quantize)
 *   x' = (q - zero_point) * scale                               (dequantize)
 * exactly ONNX QuantizeLinear / DequantizeLinear (float32 division, then
 * rint; saturate to [qmin, qmax] of the STORAGE type, not of the calibration
 * range). NaN quantizes to the storage qmin, +-inf saturate.
 *
 * ------------------------------------------------- parameter conventions
 * Two conventions, picked per call (lpot_qconv_t); LPOT_QCONV_ONNX is the
 * default everywhere in lpot.
 *
 *                      ONNX (onnxruntime.quantization      TORCH (torch.ao.quantization
 *                      quant_utils.compute_scale_zp)       MinMaxObserver._calculate_qparams)
 *  range               [min(rmin,0), max(rmax,0)]          same
 *  uint8 qrange        0..255 (reduce_range 0..127)        0..255 (reduce_range 0..127)
 *  int8 asym qrange    -128..127 (reduce -64..64)          -128..127 (reduce -64..63)
 *  int8 sym qrange     -127..127 (reduce -64..64)          -128..127 (reduce -64..63)
 *  narrow=1 (int8)     qmin = -127                         qmin = -127 (custom range)
 *  sym: amax           max(|rmin|, |rmax|)                 same
 *  sym: scale          2*amax / (qmax - qmin)  (float64)   amax / ((qmax - qmin) / 2) (float32)
 *  sym: zero point     round_half_even((qmin+qmax)/2):     uint8: 128 (custom range:
 *                      int8 0, uint8 128 (reduce: 64)      floor((qmin+qmax)/2)); int8: 0
 *                                                          (torch refuses reduce_range
 *                                                          with sym uint8; lpot: 63)
 *  asym: scale         (rmax - rmin) / (qmax - qmin)       same, in float32
 *                      in float64, stored as float32
 *  asym: zero point    round(qmin - rmin / scale64)        clamp(qmin - round(rmin / scale32))
 *  tiny scale          scale < FLT_MIN (2^-126):           scale = max(scale, FLT_EPSILON)
 *                      scale = 1, zero_point = 0           (1.19e-7), zero point from it
 *
 * All rounding is half to even. Both conventions are tested bit for bit
 * against the real peers (tests/test_quant_params.py). A zero point is
 * always within [qmin, qmax] of the calibration qrange, so 0.0 is exactly
 * representable.
 *
 * Per-channel: arrays of n (min, max) pairs give n (scale, zero_point)
 * pairs, each computed as above independently. */
#ifndef LPOT_QUANT_H
#define LPOT_QUANT_H

#include <stddef.h>
#include <stdint.h>

#include "status.h"

typedef enum { LPOT_QDT_UINT8 = 0, LPOT_QDT_INT8 = 1 } lpot_qdtype_t;
typedef enum { LPOT_QCONV_ONNX = 0, LPOT_QCONV_TORCH = 1 } lpot_qconv_t;

typedef struct {
    lpot_qdtype_t dtype;  /* storage type */
    int symmetric;        /* 1: range [-amax, amax] */
    int reduce_range;     /* 1: 7-bit range (VNNI-less u8*s8 overflow guard) */
    int narrow;           /* 1: int8 qmin = -127 (int8 only) */
    lpot_qconv_t conv;    /* which peer's formulas */
} lpot_qopts_t;

/* Defaults: uint8, asymmetric, full range, ONNX convention. */
lpot_qopts_t lpot_qopts_default(void);

/* Name <-> enum ("uint8"/"int8", "onnx"/"torch"); -1 when unknown. */
int lpot_qdtype_from_name(const char *name);
int lpot_qconv_from_name(const char *name);
const char *lpot_qdtype_name(lpot_qdtype_t dt);

/* Storage range of a dtype: uint8 0..255, int8 -128..127. */
void lpot_qdtype_limits(lpot_qdtype_t dt, int32_t *qmin, int32_t *qmax);

/* Calibration range (qmin, qmax) for the options per the table above.
 * LPOT_ERR_INVALID for narrow with uint8. */
lpot_status_t lpot_qrange(const lpot_qopts_t *o, int32_t *qmin, int32_t *qmax);

/* scale[i], zero_point[i] from (mn[i], mx[i]) for i < n. Ranges must be
 * finite with mn <= mx (LPOT_ERR_INVALID naming the channel otherwise). */
lpot_status_t lpot_qparams(const lpot_qopts_t *o, const float *mn, const float *mx,
                           size_t n, float *scale, int32_t *zero_point);

/* ---- whole-tensor operations (strided input, C-contiguous output) ----
 * `axis` -1: one (scale, zero_point); else nch = shape[axis] pairs.
 * [qmin, qmax] is the clamp range (normally the storage range, or the
 * calibration range for fake quantization). */
struct lpot_tensor;
typedef struct {
    const float *scale;
    const int32_t *zp;
    size_t nch;
    int axis;
    int32_t qmin, qmax;
} lpot_qtensor_params_t;

/* float tensor -> out (int8 if is_signed else uint8) */
lpot_status_t lpot_quantize_tensor(const struct lpot_tensor *x, const lpot_qtensor_params_t *p,
                                   int is_signed, void *out);
/* int8/uint8 tensor -> float32 out */
lpot_status_t lpot_dequantize_tensor(const struct lpot_tensor *q,
                                     const lpot_qtensor_params_t *p, float *out);
/* float tensor -> float32 out (+ mask, may be NULL) */
lpot_status_t lpot_fake_quant_tensor(const struct lpot_tensor *x,
                                     const lpot_qtensor_params_t *p, float *out,
                                     uint8_t *mask);
/* int32 tensor -> out (int8/uint8), scale = multiplier per channel */
lpot_status_t lpot_requantize_tensor(const struct lpot_tensor *x,
                                     const lpot_qtensor_params_t *p, int is_signed, void *out);

#endif
