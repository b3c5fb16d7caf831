"""Quantization kernels: the dispatched (AVX2/AVX-512) versions against the
scalar references at odd sizes and misaligned starts. Integer outputs and
histograms must be identical; float outputs too (the vector code does the
same IEEE operations: division, rint, clamp, multiply), so tolerance is 0."""
import numpy as np
import pytest

import lpot
from lpot import _engine as E

SIZES = [1, 2, 3, 5, 7, 15, 16, 17, 31, 33, 63, 127, 129, 255, 1023]
USED = lpot.cpu_features()["used"]
VECTOR = lpot.cpu_features()["kernels"]["quant"]


def data(n, seed, off=1, scale=4.0, specials=True):
    """float32 data starting at a misaligned address (offset `off` elements),
    with exact .5 ties, NaN, +-inf and huge values sprinkled in."""
    rng = np.random.default_rng(seed)
    buf = (rng.standard_normal(n + off) * scale).astype(np.float32)
    x = buf[off:]
    if specials and n >= 8:
        x[0] = np.nan
        x[1] = np.inf
        x[2] = -np.inf
        x[3] = 2.5  # tie with scale 1
        x[4] = 1e30
        x[5] = -0.0
    return x


def test_dispatch_is_vector_here():
    # this machine has AVX2+F16C+FMA: the family must not silently fall back
    if USED["avx2"] and USED["f16c"] and USED["fma"]:
        assert VECTOR in ("avx2", "avx512")


@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("signed", [False, True])
@pytest.mark.parametrize("per_elem", [False, True])
def test_quantize_vector_equals_ref(n, signed, per_elem):
    x = data(n, n)
    rng = np.random.default_rng(100 + n)
    m = n if per_elem else 1
    scale = rng.uniform(0.01, 1.0, m).astype(np.float32)
    if not per_elem:
        scale[0] = 1.0  # makes the 2.5 tie meaningful
    qmin, qmax = (-128, 127) if signed else (0, 255)
    zp = rng.integers(qmin, qmax + 1, m).astype(np.int32)
    kw = dict(scale=scale, zero_point=zp, per_elem=per_elem, qmin=qmin, qmax=qmax, signed=signed)
    ref = E._kernel("quantize", "ref", x, **kw)
    vec = E._kernel("quantize", "dispatch", x, **kw)
    np.testing.assert_array_equal(vec, ref)
    # and the reference is ONNX's formula
    with np.errstate(invalid="ignore", over="ignore"):
        want = np.rint(x / np.broadcast_to(scale, x.shape)).astype(np.float64)
    want = np.clip(np.nan_to_num(want, nan=-1e9) + zp, qmin, qmax)
    np.testing.assert_array_equal(ref.astype(np.int64), want.astype(np.int64))


@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("signed", [False, True])
@pytest.mark.parametrize("per_elem", [False, True])
def test_dequantize_and_requantize_vector_equal_ref(n, signed, per_elem):
    rng = np.random.default_rng(n)
    m = n if per_elem else 1
    qmin, qmax = (-128, 127) if signed else (0, 255)
    dt = np.int8 if signed else np.uint8
    q = rng.integers(qmin, qmax + 1, n + 1).astype(dt)[1:]
    scale = rng.uniform(0.001, 2.0, m).astype(np.float32)
    zp = rng.integers(qmin, qmax + 1, m).astype(np.int32)
    kw = dict(scale=scale, zero_point=zp, per_elem=per_elem, qmin=qmin, qmax=qmax, signed=signed)
    ref = E._kernel("dequantize", "ref", q, **kw)
    np.testing.assert_array_equal(E._kernel("dequantize", "dispatch", q, **kw), ref)
    np.testing.assert_array_equal(ref, (q.astype(np.float32) - zp.astype(np.float32)) * scale)

    acc = rng.integers(-2**31, 2**31 - 1, n + 1, dtype=np.int64).astype(np.int32)[1:]
    acc[: n // 2] //= 1 << 20  # a mix of small and saturating accumulators
    mult = rng.uniform(1e-7, 1e-3, m).astype(np.float32)
    kw["scale"] = mult
    ref = E._kernel("requantize", "ref", acc, **kw)
    np.testing.assert_array_equal(E._kernel("requantize", "dispatch", acc, **kw), ref)
    want = np.clip(np.rint(acc.astype(np.float32) * mult).astype(np.int64) + zp, qmin, qmax)
    np.testing.assert_array_equal(ref.astype(np.int64), want)


@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("per_elem", [False, True])
def test_fake_quant_vector_equals_ref(n, per_elem):
    x = data(n, 7 * n)
    rng = np.random.default_rng(n)
    m = n if per_elem else 1
    scale = rng.uniform(0.01, 0.5, m).astype(np.float32)
    zp = rng.integers(0, 128, m).astype(np.int32)
    kw = dict(scale=scale, zero_point=zp, per_elem=per_elem, qmin=0, qmax=127)
    y_ref, m_ref = E._kernel("fake_quant", "ref", x, **kw)
    y_vec, m_vec = E._kernel("fake_quant", "dispatch", x, **kw)
    np.testing.assert_array_equal(y_vec, y_ref)
    np.testing.assert_array_equal(m_vec, m_ref)
    with np.errstate(invalid="ignore", over="ignore"):
        raw = np.rint(x / np.broadcast_to(scale, x.shape))
        lo, hi = (0 - zp).astype(np.float32), (127 - zp).astype(np.float32)
        r = np.clip(np.where(np.isnan(raw), lo, raw), lo, hi)
    np.testing.assert_array_equal(y_ref, r * scale)
    np.testing.assert_array_equal(m_ref.astype(bool), (raw >= lo) & (raw <= hi))


@pytest.mark.parametrize("n", SIZES)
def test_minmax_elem_vector_equals_ref(n):
    x = data(n, 3 * n)
    r = E._kernel("minmax_elem", "ref", x)
    v = E._kernel("minmax_elem", "dispatch", x)
    for a, b in zip(r, v):
        np.testing.assert_array_equal(a, b)
    fin = np.isfinite(x)
    np.testing.assert_array_equal(r[0], np.where(fin, np.minimum(x, 0.5), 0.5))
    np.testing.assert_array_equal(r[1], np.where(fin, np.maximum(x, 0.5), 0.5))
    assert r[2] == int((~fin).sum())


@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("nb", [16, 2048])
def test_hist_vector_equals_ref(n, nb):
    x = data(n, 11 * n)
    inv_w = np.float32(nb / 8.0)
    r, rlo, rhi = E._kernel("hist", "ref", x, inv_w=float(inv_w), nb=nb)
    v, vlo, vhi = E._kernel("hist", "dispatch", x, inv_w=float(inv_w), nb=nb)
    np.testing.assert_array_equal(r, v)
    fin = np.isfinite(x)
    assert (rlo, rhi) == (vlo, vhi)
    if fin.any():
        assert (rlo, rhi) == (x[fin].min(), x[fin].max())
    with np.errstate(over="ignore"):
        k = np.clip(np.floor(x[fin] * inv_w), -nb, nb - 1).astype(np.int64) + nb
    want = np.bincount(k, minlength=2 * nb + 1)
    want[2 * nb] = (~fin).sum()
    np.testing.assert_array_equal(r, want)


@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("stride", [1, 3])
@pytest.mark.parametrize("kind", ["f32", "f16", "bf16"])
def test_convert_vector_equals_ref(n, stride, kind):
    rng = np.random.default_rng(n)
    v = (rng.standard_normal(n * stride) * 100).astype(np.float32)
    v[:3] = [np.nan, np.inf, 6e-8][: min(3, v.size)]
    if kind == "f32":
        src, t, want = v, 0, v[::stride]
    elif kind == "f16":
        h = v.astype(np.float16)
        src, t, want = h.view(np.uint16), 1, h[::stride].astype(np.float32)
    else:
        b = (v.view(np.uint32) >> 16).astype(np.uint16)
        src, t = b, 2
        want = (b[::stride].astype(np.uint32) << 16).view(np.float32)
    r = E._kernel("cvt", "ref", src, src_type=t, stride=stride)
    d = E._kernel("cvt", "dispatch", src, src_type=t, stride=stride)
    np.testing.assert_array_equal(r, d)
    np.testing.assert_array_equal(r, want)


@pytest.mark.skipif(not USED.get("avx512bw"), reason="no AVX-512BW on this CPU")
def test_avx512_family_selected():
    assert VECTOR == "avx512"
