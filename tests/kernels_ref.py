"""NumPy references for the int8 kernel tests (int64 accumulation, float64 epilogue)."""
from __future__ import annotations

import threading

import numpy as np


def run_in_threads(work, n=2):
    """Run work(i) in n threads at once; the exceptions they raised."""
    errors = []

    def wrap(i):
        try:
            work(i)
        except Exception as e:  # noqa: BLE001 - returned to the test
            errors.append(e)

    ts = [threading.Thread(target=wrap, args=(i,)) for i in range(n)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return errors


def linear_acc(x, xz, w):
    return (x.astype(np.int64) - xz) @ w.astype(np.int64).T


def conv_acc(x, xz, w, stride=(1, 1), pad=(0, 0, 0, 0), dil=(1, 1), groups=1):
    """NCHW x, OIHW w; padding with the zero point (real zero), as ONNX does."""
    n, c, h, wd = x.shape
    oc, icg, kh, kw = w.shape
    xp = np.pad(x.astype(np.int64) - xz, ((0, 0), (0, 0), (pad[0], pad[2]), (pad[1], pad[3])))
    eh, ew = (kh - 1) * dil[0] + 1, (kw - 1) * dil[1] + 1
    oh = (xp.shape[2] - eh) // stride[0] + 1
    ow = (xp.shape[3] - ew) // stride[1] + 1
    out = np.zeros((n, oc, oh, ow), np.int64)
    ocg = oc // groups
    w64 = w.astype(np.int64)
    for g in range(groups):
        xs = xp[:, g * icg:(g + 1) * icg]
        wg = w64[g * ocg:(g + 1) * ocg]
        for ky in range(kh):
            for kx in range(kw):
                y0, x0 = ky * dil[0], kx * dil[1]
                patch = xs[:, :, y0:y0 + stride[0] * (oh - 1) + 1:stride[0],
                           x0:x0 + stride[1] * (ow - 1) + 1:stride[1]]
                out[:, g * ocg:(g + 1) * ocg] += np.einsum("nchw,oc->nohw", patch, wg[:, :, ky, kx])
    return out


def gelu(v):
    from math import erf, sqrt
    return 0.5 * v * (1.0 + np.vectorize(erf)(v / sqrt(2.0)))


def gelu_tanh(v):
    return 0.5 * v * (1.0 + np.tanh(np.sqrt(2.0 / np.pi) * (v + 0.044715 * v ** 3)))


def epilogue(acc, x_scale, w_scales, bias=None, post=(), residual=None, sum_scale=1.0,
             sum_zp=0, out_dtype="float32", out_scale=1.0, out_zp=0, channel_axis=-1):
    """float64 y = x_scale * w_scale * acc + bias; post-ops; requantize."""
    shape = [1] * acc.ndim
    shape[channel_axis] = -1
    ws = np.asarray(w_scales, np.float64).reshape(shape if np.size(w_scales) > 1 else [1] * acc.ndim)
    y = acc.astype(np.float64) * x_scale * ws
    if bias is not None:
        y = y + np.asarray(bias, np.float64).reshape(shape)
    for p in post:
        if p == "relu":
            y = np.maximum(y, 0.0)
        elif p == "gelu":
            y = gelu(y)
        elif p == "gelu_tanh":
            y = gelu_tanh(y)
        elif p == "sum":
            y = y + sum_scale * (residual.astype(np.float64) - sum_zp)
    if out_dtype == "float32":
        return y
    lo, hi = (0, 255) if out_dtype == "uint8" else (-128, 127)
    return np.clip(np.rint(y / out_scale + out_zp), lo, hi)


def dyn_qparams(x):
    """ONNX DynamicQuantizeLinear scale and zero point (float32 math)."""
    lo = np.float32(min(0.0, float(x.min())))
    hi = np.float32(max(0.0, float(x.max())))
    s = np.float32((hi - lo) / np.float32(255.0))
    if s == 0:
        s = np.float32(1.0)
    zp = int(np.clip(np.rint(-lo / s), 0, 255))
    return s, zp


def quantize_u8(x, s, zp):
    return np.clip(np.rint(x / s) + zp, 0, 255).astype(np.uint8)
