"""Scale/zero point against the peers' own code, and quantize/dequantize
against onnx.reference, bit for bit, on strided, float16 and bfloat16 input."""
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lpot import calib
from lpot import KernelError

RANGES = [(-1.0, 1.0), (0.0, 6.0), (-3.5, 0.25), (0.1, 0.7), (-0.7, -0.1), (-1e-3, 2e-3),
          (0.0, 0.0), (-1e-40, 1e-40), (1.0, 1.0), (-123.456, 7.89), (-2.0, 2.0 + 1e-6)]


def ort_params(mn, mx, dtype, sym, reduce_range):
    qu = pytest.importorskip("onnxruntime.quantization.quant_utils")
    from onnx import TensorProto

    qt = TensorProto.INT8 if dtype == "int8" else TensorProto.UINT8
    qmin, qmax = qu.get_qmin_qmax_for_qType(qt, reduce_range=reduce_range, symmetric=sym)
    zp, scale = qu.compute_scale_zp(np.array(mn, np.float32), np.array(mx, np.float32),
                                    qmin, qmax, symmetric=sym)
    return np.float32(scale), int(zp)


@pytest.mark.parametrize("mn,mx", RANGES)
@pytest.mark.parametrize("dtype", ["uint8", "int8"])
@pytest.mark.parametrize("sym", [False, True])
@pytest.mark.parametrize("rr", [False, True])
def test_onnx_convention_equals_onnxruntime(mn, mx, dtype, sym, rr):
    s, z = calib.qparams(mn, mx, dtype=dtype, scheme="sym" if sym else "asym", reduce_range=rr)
    es, ez = ort_params(mn, mx, dtype, sym, rr)
    assert s.dtype == np.float32 and s.shape == ()
    assert z.dtype == np.dtype(dtype)
    assert s == es and int(z) == ez, (s, z, es, ez)


@pytest.mark.parametrize("mn,mx", RANGES)
@pytest.mark.parametrize("dtype", ["uint8", "int8"])
@pytest.mark.parametrize("sym", [False, True])
@pytest.mark.parametrize("rr", [False, True])
def test_torch_convention_equals_torch_observer(mn, mx, dtype, sym, rr):
    torch = pytest.importorskip("torch")
    from torch.ao.quantization import MinMaxObserver

    if sym and rr and dtype == "uint8":
        pytest.skip("torch refuses reduce_range with symmetric quint8")
    qs = torch.per_tensor_symmetric if sym else torch.per_tensor_affine
    tdt = torch.qint8 if dtype == "int8" else torch.quint8
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ob = MinMaxObserver(dtype=tdt, qscheme=qs, reduce_range=rr)
        ob(torch.tensor([mn, mx], dtype=torch.float32))
        ts, tz = ob.calculate_qparams()
    s, z = calib.qparams(mn, mx, dtype=dtype, scheme="sym" if sym else "asym", reduce_range=rr,
                         convention="torch")
    assert s == np.float32(ts.item()) and int(z) == int(tz.item()), (s, z, ts, tz)


def test_torch_narrow_int8_is_custom_range():
    torch = pytest.importorskip("torch")
    from torch.ao.quantization import MinMaxObserver

    for sym in (False, True):
        ob = MinMaxObserver(dtype=torch.qint8, quant_min=-127, quant_max=127,
                            qscheme=torch.per_tensor_symmetric if sym else torch.per_tensor_affine)
        ob(torch.tensor([-0.3, 1.7]))
        ts, tz = ob.calculate_qparams()
        s, z = calib.qparams(-0.3, 1.7, dtype="int8", scheme="sym" if sym else "asym",
                             narrow=True, convention="torch")
        assert s == np.float32(ts.item()) and int(z) == int(tz.item())


def test_per_channel_qparams_and_errors():
    mn = np.array([-1.0, 0.0, -2.0], np.float32)
    mx = np.array([1.0, 3.0, 0.5], np.float32)
    s, z = calib.qparams(mn, mx)
    assert s.shape == (3,) and z.dtype == np.uint8
    for i in range(3):
        es, ez = ort_params(mn[i], mx[i], "uint8", False, False)
        assert s[i] == es and z[i] == ez
    with pytest.raises(ValueError, match="narrow: only int8"):
        calib.qparams(0.0, 1.0, dtype="uint8", narrow=True)
    with pytest.raises(ValueError, match=r"range: channel 1 has no finite range"):
        calib.qparams([0.0, np.nan], [1.0, 1.0])
    with pytest.raises(ValueError, match="dtype: expected 'uint8' or 'int8', got 'int4'"):
        calib.qparams(0.0, 1.0, dtype="int4")
    with pytest.raises(ValueError, match="convention: expected 'onnx' or 'torch'"):
        calib.qparams(0.0, 1.0, convention="tf")


@settings(max_examples=200, deadline=None)
@given(a=st.floats(-1e6, 1e6, width=32), b=st.floats(-1e6, 1e6, width=32),
       dtype=st.sampled_from(["uint8", "int8"]), sym=st.booleans(), rr=st.booleans(),
       conv=st.sampled_from(["onnx", "torch"]))
def test_zero_point_in_range_and_zero_exact(a, b, dtype, sym, rr, conv):
    lo, hi = min(a, b), max(a, b)
    s, z = calib.qparams(lo, hi, dtype=dtype, scheme="sym" if sym else "asym",
                         reduce_range=rr, convention=conv)
    qmax = 127 if dtype == "int8" or rr else 255
    if dtype == "int8" and rr:
        qmax = 64 if conv == "onnx" else 63
    qmin = 0 if dtype == "uint8" else (-64 if rr else -128)
    assert qmin <= int(z) <= qmax and s > 0
    assert calib.dequantize(np.array([z]), s, z)[0] == 0.0
    assert calib.quantize(np.float32(0.0), s, z) == z


# ---- quantize / dequantize vs onnx.reference --------------------------------

def onnx_ref(op, x, scale, zp, axis=1):
    ref = pytest.importorskip("onnx.reference")
    from onnx import helper, TensorProto

    opset = 21
    node = helper.make_node(op, ["x", "s", "z"], ["y"], axis=axis)
    out_t = TensorProto.FLOAT if op == "DequantizeLinear" else helper.np_dtype_to_tensor_dtype(zp.dtype)
    graph = helper.make_graph(
        [node], "g",
        [helper.make_tensor_value_info("x", helper.np_dtype_to_tensor_dtype(x.dtype), None),
         helper.make_tensor_value_info("s", TensorProto.FLOAT, None),
         helper.make_tensor_value_info("z", helper.np_dtype_to_tensor_dtype(zp.dtype), None)],
        [helper.make_tensor_value_info("y", out_t, None)])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    with np.errstate(invalid="ignore", over="ignore"):
        return ref.ReferenceEvaluator(model).run(None, {"x": x, "s": scale, "z": zp})[0]


@pytest.mark.parametrize("dtype", [np.uint8, np.int8])
@pytest.mark.parametrize("layout", ["contig", "transposed", "sliced", "negative"])
def test_quantize_dequantize_bit_exact_vs_onnx(dtype, layout):
    rng = np.random.default_rng(1)
    base = (rng.standard_normal((6, 40, 33)) * 3).astype(np.float32)
    # exact .5 ties at scale 1/8 (half to even must round 2.5 -> 2, 3.5 -> 4)
    base.flat[::17] = (rng.integers(-40, 40, base.flat[::17].size) + 0.5) * 0.125
    x = {"contig": base, "transposed": base.transpose(2, 0, 1), "sliced": base[:, 1::3, ::2],
         "negative": base[::-1, :, ::-3]}[layout]
    scale = np.float32(0.125)
    zp = np.array(3 if dtype == np.int8 else 131, dtype)
    q = calib.quantize(x, scale, zp)
    assert q.dtype == dtype and q.shape == x.shape and q.flags.c_contiguous
    np.testing.assert_array_equal(q, onnx_ref("QuantizeLinear", np.ascontiguousarray(x), scale, zp))
    d = calib.dequantize(q, scale, zp)
    np.testing.assert_array_equal(d, onnx_ref("DequantizeLinear", q, scale, zp))
    # strided quantized input too
    np.testing.assert_array_equal(calib.dequantize(q[:, ::2], scale, zp), d[:, ::2])


@pytest.mark.parametrize("axis", [0, 1, 2, -1])
def test_per_channel_bit_exact_vs_onnx(axis):
    rng = np.random.default_rng(2)
    x = (rng.standard_normal((5, 7, 9)) * 2).astype(np.float32)[:, :, ::1]
    c = x.shape[axis]
    scale = rng.uniform(0.005, 0.05, c).astype(np.float32)
    zp = rng.integers(-20, 20, c).astype(np.int8)
    q = calib.quantize(x, scale, zp, axis=axis)
    np.testing.assert_array_equal(q, onnx_ref("QuantizeLinear", x, scale, zp, axis=axis))
    np.testing.assert_array_equal(calib.dequantize(q, scale, zp, axis=axis),
                                  onnx_ref("DequantizeLinear", q, scale, zp, axis=axis))
    # the same on a non-contiguous view
    xt = np.ascontiguousarray(np.moveaxis(x, 0, -1))
    v = np.moveaxis(xt, -1, 0)
    assert not v.flags.c_contiguous
    np.testing.assert_array_equal(calib.quantize(v, scale, zp, axis=axis), q)


def test_half_and_bfloat16_inputs_read_in_place():
    ml = pytest.importorskip("ml_dtypes")
    rng = np.random.default_rng(3)
    x = (rng.standard_normal((64, 50)) * 2).astype(np.float32)
    for t in (np.float16, ml.bfloat16):
        xh = x.astype(t)[:, ::3]
        want = calib.quantize(xh.astype(np.float32), np.float32(0.02), np.uint8(128))
        np.testing.assert_array_equal(calib.quantize(xh, np.float32(0.02), np.uint8(128)), want)
        o = calib.Observer("minmax")
        o.update(xh)
        lo, hi = o.compute_range()
        assert lo == xh.astype(np.float32).min() and hi == xh.astype(np.float32).max()


def test_fake_quant_and_mask():
    x = np.array([-1.0, 0.0, 0.26, 0.5, 2.0, np.nan], np.float32)
    y, m = calib.fake_quant(x, 0.25, 2, quant_min=0, quant_max=8, return_mask=True)
    np.testing.assert_array_equal(y, [-0.5, 0.0, 0.25, 0.5, 1.5, -0.5])
    np.testing.assert_array_equal(m, [False, True, True, True, False, False])
    # equals dequantize(quantize()) over the full range
    x = np.linspace(-3, 3, 1001, dtype=np.float32)
    q = calib.quantize(x, 0.03, np.int8(-5))
    np.testing.assert_array_equal(calib.fake_quant(x, 0.03, np.int8(-5)),
                                  calib.dequantize(q, 0.03, np.int8(-5)))


def test_fake_quant_matches_torch_away_from_ties():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(4)
    x = (rng.standard_normal(10000) * 2).astype(np.float32)
    s, z = np.float32(0.0173), 120
    y, m = calib.fake_quant(x, s, z, return_mask=True)
    t = torch.fake_quantize_per_tensor_affine(torch.from_numpy(x), float(s), z, 0, 255)
    # torch multiplies by 1/scale where ONNX divides: they may differ by one
    # step only where x/scale is within float rounding of a .5 tie
    diff = np.abs(t.numpy() - y)
    assert np.all((diff == 0) | (np.abs(diff - s) < 1e-6))
    assert (diff != 0).sum() <= 2


def test_requantize_per_channel():
    acc = np.array([[1000, -1000, 50000], [7, 8, 9]], np.int32)
    m = np.array([0.01, 0.001, 0.0001], np.float32)
    q = calib.requantize(acc, m, np.array([0, 10, -3], np.int8), axis=1)
    want = np.clip(np.rint(acc.astype(np.float32) * m) + [0, 10, -3], -128, 127)
    np.testing.assert_array_equal(q, want.astype(np.int8))


def test_quantize_errors_name_the_argument():
    x = np.zeros((4, 3), np.float32)
    with pytest.raises(ValueError, match=r"scale: 3 values given without an axis"):
        calib.quantize(x, np.ones(3, np.float32), np.zeros(3, np.uint8))
    with pytest.raises(ValueError, match=r"scale: 4 values for axis 1 of extent 3"):
        calib.quantize(x, np.ones(4, np.float32), np.zeros(4, np.uint8), axis=1)
    with pytest.raises(ValueError, match=r"scale: value 0 is 0"):
        calib.quantize(x, 0.0, 0)
    with pytest.raises(ValueError, match=r"zero_point: value 0 is 300"):
        calib.quantize(x, 1.0, 300)
    with pytest.raises(ValueError, match=r"axis: 2 is out of range"):
        calib.quantize(x, 1.0, 0, axis=2)
    with pytest.raises(KernelError, match=r"x: dequantize expects int8/uint8|x: expected a uint8/int8/int32"):
        calib.dequantize(x, 1.0, 0)
    with pytest.raises(KernelError, match="x: expected a real numeric array"):
        calib.quantize(np.array(["a"]), 1.0, 0)


def test_byte_swapped_input():
    x = np.linspace(-2, 2, 50).astype(">f4")
    np.testing.assert_array_equal(calib.quantize(x, 0.1, 20),
                                  calib.quantize(x.astype("<f4"), 0.1, 20))
    q = calib.quantize(x, 0.1, np.int8(3))
    np.testing.assert_array_equal(calib.dequantize(q.astype(q.dtype.newbyteorder()), 0.1, np.int8(3)),
                                  calib.dequantize(q, 0.1, np.int8(3)))


def test_int_and_0d_and_empty_inputs():
    assert calib.quantize(np.float32(2.6), 1.0, 0).shape == ()
    assert int(calib.quantize(np.float32(2.5), 1.0, 0)) == 2  # half to even
    np.testing.assert_array_equal(calib.quantize(np.arange(5), 2.0, 0), [0, 0, 1, 2, 2])
    assert calib.quantize(np.zeros((0, 3), np.float32), 1.0, 0).shape == (0, 3)


@settings(max_examples=60, deadline=None)
@given(shape=st.lists(st.integers(1, 9), min_size=1, max_size=4),
       seed=st.integers(0, 2**31 - 1), data=st.data())
def test_random_shapes_and_views_equal_numpy(shape, seed, data):
    rng = np.random.default_rng(seed)
    base = (rng.standard_normal([s * 2 for s in shape]) * 3).astype(np.float32)
    sl = tuple(slice(data.draw(st.integers(0, 1)), None, data.draw(st.sampled_from([1, 2, -1])))
               for _ in shape)
    x = base[sl]
    axis = data.draw(st.sampled_from([None] + list(range(x.ndim))))
    c = 1 if axis is None else x.shape[axis]
    scale = rng.uniform(0.01, 0.1, c).astype(np.float32)
    zp = rng.integers(0, 256, c).astype(np.uint8)
    bshape = [1] * x.ndim
    if axis is not None:
        bshape[axis] = c
    s_b, z_b = scale.reshape(bshape), zp.reshape(bshape).astype(np.float32)
    want = np.clip(np.rint(x / s_b) + z_b, 0, 255).astype(np.uint8)
    args = (scale, zp) if axis is not None else (scale[0], zp[0])
    q = calib.quantize(x, *args, axis=axis)
    np.testing.assert_array_equal(q, want)
    np.testing.assert_array_equal(calib.dequantize(q, *args, axis=axis),
                                  (q.astype(np.float32) - z_b) * s_b)
    o = calib.Observer("minmax", axis=axis)
    o.update(x)
    lo, hi = o.compute_range()
    red = None if axis is None else tuple(d for d in range(x.ndim) if d != axis)
    np.testing.assert_array_equal(lo, x.min(axis=red))
    np.testing.assert_array_equal(hi, x.max(axis=red))
