"""int8 kernels vs onnx.reference: MatMulInteger / ConvInteger bit-exact,
QLinearMatMul / QLinearConv within 1 (rounding of float ties)."""
import numpy as np
import pytest

from lpot import kernels as K

onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper  # noqa: E402
from onnx.reference import ReferenceEvaluator  # noqa: E402

RNG = np.random.default_rng(5)
TP = {np.dtype(np.uint8): TensorProto.UINT8, np.dtype(np.int8): TensorProto.INT8,
      np.dtype(np.int32): TensorProto.INT32, np.dtype(np.float32): TensorProto.FLOAT}


def run_node(op, inputs, out_type, **attrs):
    names = ["i%d" % i for i in range(len(inputs))]
    node = helper.make_node(op, names, ["y"], **attrs)
    graph = helper.make_graph(
        [node], "g",
        [helper.make_tensor_value_info(n, TP[np.asarray(v).dtype], np.asarray(v).shape)
         for n, v in zip(names, inputs)],
        [helper.make_tensor_value_info("y", out_type, None)])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 19)])
    return ReferenceEvaluator(model).run(None, dict(zip(names, inputs)))[0]


@pytest.mark.parametrize("m,k,n", [(1, 17, 3), (3, 129, 17), (64, 33, 9)])
@pytest.mark.parametrize("xdt", [np.uint8, np.int8])
def test_matmul_integer_bit_exact(m, k, n, xdt):
    info = np.iinfo(xdt)
    a = RNG.integers(info.min, info.max + 1, (m, k), dtype=xdt)
    w = RNG.integers(-128, 128, (n, k), dtype=np.int8)
    azp = np.array(5 if xdt == np.uint8 else -5, xdt)
    want = run_node("MatMulInteger", [a, np.ascontiguousarray(w.T), azp, np.array(0, np.int8)],
                    TensorProto.INT32)
    got = K.qlinear(a, K.PackedLinear(w, np.float32(1)), 1.0, int(azp), out_dtype="int32")
    np.testing.assert_array_equal(got, want)
    # both operands activations, with a weight zero point too
    b = RNG.integers(0, 256, (k, n), dtype=np.uint8)
    want2 = run_node("MatMulInteger", [a, b, azp, np.array(200, np.uint8)], TensorProto.INT32)
    got2 = K.qmatmul(a, b, 1.0, int(azp), 1.0, 200, out_dtype="int32")
    np.testing.assert_array_equal(got2, want2)


@pytest.mark.parametrize("cfg", [
    dict(k=3, strides=[1, 1], pads=[1, 1, 1, 1], dilations=[1, 1], group=1),
    dict(k=3, strides=[2, 2], pads=[1, 0, 1, 2], dilations=[2, 2], group=1),
    dict(k=1, strides=[1, 1], pads=[0, 0, 0, 0], dilations=[1, 1], group=1),
    dict(k=3, strides=[1, 1], pads=[1, 1, 1, 1], dilations=[1, 1], group=8),
    dict(k=7, strides=[2, 2], pads=[3, 3, 3, 3], dilations=[1, 1], group=2),
])
def test_conv_integer_bit_exact(cfg):
    ic, oc, g = 8, 16, cfg["group"]
    x = RNG.integers(0, 256, (2, ic, 13, 11), dtype=np.uint8)
    w = RNG.integers(-128, 128, (oc, ic // g, cfg["k"], cfg["k"]), dtype=np.int8)
    want = run_node("ConvInteger", [x, w, np.array(77, np.uint8), np.array(0, np.int8)],
                    TensorProto.INT32, strides=cfg["strides"], pads=cfg["pads"],
                    dilations=cfg["dilations"], group=g)
    p = cfg["pads"]  # ONNX: [top, left, bottom, right]
    packed = K.PackedConv2d(w, np.float32(1), stride=cfg["strides"], padding=p,
                            dilation=cfg["dilations"], groups=g)
    got = K.qconv2d(x, packed, 1.0, 77, out_dtype="int32")
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("per_column", [False, True])
def test_qlinear_matmul(per_column):
    m, k, n = 17, 64, 24
    a = RNG.integers(0, 256, (m, k), dtype=np.uint8)
    w = RNG.integers(-64, 65, (n, k), dtype=np.int8)
    ws = (RNG.uniform(0.001, 0.01, n) if per_column else np.array([0.004])).astype(np.float32)
    a_s, a_z, y_s, y_z = np.float32(0.02), np.uint8(120), np.float32(0.5), np.uint8(128)
    want = run_node("QLinearMatMul", [a, np.array(a_s), np.array(a_z), np.ascontiguousarray(w.T),
                                      ws if per_column else np.array(ws[0]), np.array(0, np.int8),
                                      np.array(y_s), np.array(y_z)], TensorProto.UINT8)
    got = K.qlinear(a, K.PackedLinear(w, ws), float(a_s), int(a_z), out_dtype="uint8",
                    out_scale=float(y_s), out_zp=int(y_z))
    diff = np.abs(got.astype(int) - want.astype(int))
    assert diff.max() <= 1 and (diff > 0).mean() < 0.01


@pytest.mark.parametrize("group", [1, 4])
def test_qlinear_conv(group):
    ic, oc = 8, 12
    x = RNG.integers(0, 256, (1, ic, 9, 9), dtype=np.uint8)
    w = RNG.integers(-64, 65, (oc, ic // group, 3, 3), dtype=np.int8)
    ws = RNG.uniform(0.001, 0.01, oc).astype(np.float32)
    x_s, x_z, y_s, y_z = np.float32(0.03), np.uint8(100), np.float32(0.25), np.uint8(50)
    bias_i32 = RNG.integers(-2000, 2000, oc).astype(np.int32)
    want = run_node("QLinearConv", [x, np.array(x_s), np.array(x_z), w, ws, np.zeros(oc, np.int8),
                                    np.array(y_s), np.array(y_z), bias_i32], TensorProto.UINT8,
                    pads=[1, 1, 1, 1], group=group)
    bias = (bias_i32.astype(np.float64) * float(x_s) * ws).astype(np.float32)
    packed = K.PackedConv2d(w, ws, bias, padding=1, groups=group)
    got = K.qconv2d(x, packed, float(x_s), int(x_z), out_dtype="uint8", out_scale=float(y_s),
                    out_zp=int(y_z))
    diff = np.abs(got.astype(int) - want.astype(int))
    assert diff.max() <= 1 and (diff > 0).mean() < 0.02
