"""ONNX Runtime adaptor: per-op quantization, formats, fallback, calibration
memory, report read back from ORT, tuning on a trained digits CNN, errors."""
from __future__ import annotations

import os
import tracemalloc

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

import lpot  # noqa: E402
from lpot.adaptor import create_adaptor  # noqa: E402
from lpot.adaptor import onnxrt as ox  # noqa: E402

from fixtures.onnx_ops import OPS  # noqa: E402

FORMATS = ("onnxrt_qdq", "onnxrt_qlinearops")


def sqnr(ref: np.ndarray, out: np.ndarray) -> float:
    err = float(((ref - out) ** 2).sum())
    return float("inf") if err == 0 else 10 * np.log10(float((ref ** 2).sum()) / err)


def int8_cfg(adaptor, algo="minmax", fp32=(), sampling=100, gran="per_channel"):
    op = {}
    for c in adaptor.query_capability():
        if c["name"] in fp32:
            op[(c["name"], c["type"])] = {"weight": {"dtype": "fp32"} if c["weight"] else None,
                                          "activation": {"dtype": "fp32"}}
            continue
        algo_c = algo if algo in c["activation"]["algorithm"] else "minmax"
        op[(c["name"], c["type"])] = {
            "weight": {"dtype": "int8", "scheme": "sym", "granularity": gran, "algorithm": "minmax"}
            if c["weight"] else None,
            "activation": {"dtype": "uint8", "scheme": "asym", "granularity": "per_tensor",
                           "algorithm": algo_c}}
    return {"calib_sampling_size": sampling, "op": op}


def random_batches(model, n=4, seed=0):
    rng = np.random.default_rng(seed)
    inits = {t.name for t in model.graph.initializer}
    out = []
    for _ in range(n):
        d = {}
        for i in model.graph.input:
            if i.name in inits:
                continue
            shp = [x.dim_value for x in i.type.tensor_type.shape.dim]
            if i.type.tensor_type.elem_type == onnx.TensorProto.INT64:
                d[i.name] = rng.integers(0, 50, shp).astype(np.int64)
            else:
                d[i.name] = rng.standard_normal(shp).astype(np.float32)
        out.append(d)
    return out


# ---------------------------------------------------------------- per op
@pytest.mark.parametrize("fw", FORMATS)
@pytest.mark.parametrize("op", sorted(OPS))
def test_each_op_quantized_alone_close_to_fp32(op, fw):
    build, qop = OPS[op]
    m = build()
    calib = random_batches(m)
    a = create_adaptor(fw, m, None, calib_dataloader=calib)
    q = a.quantize(int8_cfg(a))
    # fresh data, not the calibration batches (but inside their range)
    test = random_batches(m, 1, seed=7)[0]
    for k, v in test.items():
        if v.dtype == np.float32:
            test[k] = np.clip(v, -2.5, 2.5)
    ref = a.predict(a.fp32_model, test)[0]
    got = a.predict(q, test)[0]
    for r, g in zip(ref, got):
        assert r.shape == g.shape
        # Mul of two conv outputs is heavy tailed: uint8 minmax loses more there
        assert sqnr(r, g) > (15.0 if op == "Mul" else 25.0), (op, fw, sqnr(r, g))
    rep = {o["name"]: o for o in q.report["ops"]}["op"]
    types = q.report["ort_ops"]
    if qop is not None:
        assert rep["dtype"] == "uint8" and rep["runs"] == qop, rep
        assert types.get(qop, 0) >= 1
    if fw == "onnxrt_qlinearops" and qop in ("QLinearConv", "QLinearMatMul"):
        # QOperator: the op is in the saved graph itself, not only after ORT's fusion
        assert qop in {n.op_type for n in q.model.graph.node}


def test_ort_silent_fp32_shows_in_report():
    # ORT has no int8 CPU kernel for ConvTranspose or Pad: lpot asked for int8
    # (QDQ around them) and the report must say ORT runs them in fp32
    for op in ("ConvTranspose", "Pad"):
        m = OPS[op][0]()
        a = create_adaptor("onnxrt_qdq", m, None, calib_dataloader=random_batches(m))
        rep = {o["name"]: o for o in a.quantize(int8_cfg(a)).report["ops"]}["op"]
        assert rep["dtype"] == "fp32" and rep["runs"] == op
        assert rep["reason"] == f"ORT runs it as fp32 {op} (no int8 kernel matched)"


def test_relu_folded_into_conv_output():
    m = OPS["Relu"][0]()
    a = create_adaptor("onnxrt_qlinearops", m, None, calib_dataloader=random_batches(m))
    q = a.quantize(int8_cfg(a))
    types = [n.op_type for n in q.model.graph.node]
    assert "Relu" not in types and types.count("QLinearConv") == 1
    zp = {t.name: onnx.numpy_helper.to_array(t) for t in q.model.graph.initializer}["y_zero_point"]
    assert zp.dtype == np.uint8 and int(zp) == 0   # the clamp at 0 is the zero point
    rep = {o["name"]: o for o in q.report["ops"]}
    assert rep["op"]["runs"] == "folded into the producer's int8 output"


def test_passthrough_shares_scale_with_its_input():
    for op in ("MaxPool", "Reshape", "Transpose"):
        m = OPS[op][0]()
        a = create_adaptor("onnxrt_qlinearops", m, None, calib_dataloader=random_batches(m))
        q = a.quantize(int8_cfg(a))
        node = next(n for n in q.model.graph.node if n.name == "op")
        inits = {t.name: onnx.numpy_helper.to_array(t) for t in q.model.graph.initializer}
        assert node.op_type == op
        assert node.input[0] == "c_quantized" and node.output[0] == "y_quantized"
        assert inits["y_scale"] == inits["c_scale"] and inits["y_zero_point"] == inits["c_zero_point"]


# ---------------------------------------------------------------- digits CNN
@pytest.fixture(scope="session")
def digits():
    pytest.importorskip("torch")
    pytest.importorskip("sklearn")
    from fixtures.onnx_models import digits_cnn
    d = digits_cnn()
    d["model"] = onnx.load_from_string(d["onnx"])
    d["calib"] = [d["x_train"][i:i + 50] for i in range(0, 300, 50)]
    d["eval"] = [(d["x_test"][i:i + 100], d["y_test"][i:i + 100])
                 for i in range(0, len(d["x_test"]), 100)]
    return d


def digits_adaptor(d, fw="onnxrt_qlinearops", **kw):
    from lpot.metric.metrics import TopK
    return create_adaptor(fw, d["model"], None, calib_dataloader=d["calib"],
                          eval_dataloader=d["eval"], metric=TopK(), **kw)


@pytest.mark.parametrize("fw", FORMATS + ("onnxrt_integerops",))
def test_digits_int8_accuracy_and_all_formats_run_in_stock_ort(digits, fw, tmp_path):
    a = digits_adaptor(digits, fw)
    base = a.evaluate(a.fp32_model)
    assert base > 0.93
    q = a.quantize(int8_cfg(a, sampling=300))
    acc = a.evaluate(q)
    assert acc >= base - 0.02
    path = q.save(str(tmp_path / "m.onnx"))
    # stock ORT loads and runs the saved file; same outputs as through the adaptor
    s = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    x = digits["x_test"][:7]
    np.testing.assert_array_equal(s.run(None, {"input": x})[0], a.predict(q, x)[0][0])
    rep = q.report
    assert rep["int8_ops"] + rep["fp32_ops"] == len(a.fp32_model.graph.node)
    assert a.model_size(q) < a.model_size(a.fp32_model)
    if fw == "onnxrt_integerops":
        gemms = [o for o in rep["ops"] if o["type"] == "Gemm"]
        assert all(o["dtype"] == "uint8" and o["runs"] == "DynamicQuantizeMatMul" for o in gemms)
        convs = [o for o in rep["ops"] if o["type"] == "Conv"]
        assert [o["runs"] for o in convs] == ["ConvInteger"] * 2
        relus = [o for o in rep["ops"] if o["type"] == "Relu"]
        assert all(o["dtype"] == "fp32" and o["reason"] ==
                   "no dynamic int8 support for Relu in this adaptor" for o in relus)
    else:
        convs = [o for o in rep["ops"] if o["type"] == "Conv"]
        assert [o["runs"] for o in convs] == ["QLinearConv"] * 2


def test_fp32_fallback_of_named_nodes_honoured(digits):
    a = digits_adaptor(digits)
    q = a.quantize(int8_cfg(a, fp32=("/conv2/Conv", "/fc2/Gemm")))
    by = {o["name"]: o for o in q.report["ops"]}
    assert by["/conv2/Conv"]["dtype"] == "fp32" and by["/conv2/Conv"]["reason"] == "fp32 in tune_cfg"
    assert by["/fc2/Gemm"]["dtype"] == "fp32"
    assert by["/conv1/Conv"]["dtype"] == "uint8"
    nodes = {n.name: n for n in q.model.graph.node}
    assert nodes["/conv2/Conv"].op_type == "Conv" and nodes["/fc2/Gemm"].op_type == "Gemm"
    w = {t.name: t for t in q.model.graph.initializer}[nodes["/conv2/Conv"].input[1]]
    assert w.data_type == onnx.TensorProto.FLOAT
    # /3/Relu follows an fp32 Conv: it cannot fold and says so
    assert by["/relu2/Relu"]["dtype"] == "fp32" and "not after a quantized" in by["/relu2/Relu"]["reason"]


@pytest.mark.parametrize("algo", ["kl", "percentile", "mse"])
def test_calibration_algorithms(digits, algo):
    a = digits_adaptor(digits, "onnxrt_qdq")
    base = a.evaluate(a.fp32_model)
    q = a.quantize(int8_cfg(a, algo=algo, sampling=300))
    assert a.evaluate(q) >= base - 0.03
    # kl/percentile/mse clip outliers: some scale differs from minmax's
    qm = a.quantize(int8_cfg(a, sampling=300))
    sc = lambda m: {t.name: float(onnx.numpy_helper.to_array(t)) for t in m.model.graph.initializer
                    if t.name.endswith("_scale") and not t.dims}
    assert sc(q) != sc(qm)


def test_calibration_is_cached_per_statistic(digits):
    a = digits_adaptor(digits)
    a.quantize(int8_cfg(a))
    a.quantize(int8_cfg(a, fp32=("/conv2/Conv",)))
    assert a.calib_runs == 1           # the subset needs nothing new
    a.quantize(int8_cfg(a, algo="kl"))
    assert a.calib_runs == 2


def test_calibration_memory_flat_in_batches(digits):
    a = digits_adaptor(digits)
    x = digits["x_train"]

    def loader(n):
        for i in range(n):
            yield x[(i * 32) % 1300:(i * 32) % 1300 + 32].copy()

    def peak(n):
        a._qp_cache.clear()
        from lpot.adaptor import onnxrt_quantize as oq
        plan = oq.plan_static(a.graph, int8_cfg(a)["op"] and
                              {k[0]: v for k, v in int8_cfg(a)["op"].items()})
        tracemalloc.start()
        a.calibrate(plan, 10 ** 9, loader(n))
        p = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        return p

    p10, p100 = peak(10), peak(100)
    assert p100 < p10 * 1.25 + 256 * 1024, (p10, p100)


def test_tune_basic_meets_1pct_relative(digits, tmp_path):
    from lpot.tuning import tune
    a = digits_adaptor(digits)
    r = tune(a, {"strategy": {"name": "basic"},
                 "accuracy_criterion": {"relative": 0.01, "higher_is_better": True},
                 "exit_policy": {"timeout": 0, "max_trials": 20}},
             workspace=str(tmp_path), progress=False,
             quantization={"calibration": {"sampling_size": [300]}})
    assert r.found, r.message
    assert r.best_accuracy >= r.baseline * 0.99
    assert isinstance(r.model, ox.ONNXRTModel) and r.model.report["int8_ops"] > 0


def test_inspect_tensor_same_keys_and_shapes(digits):
    a = digits_adaptor(digits)
    q = a.quantize(int8_cfg(a))
    names = [c["name"] for c in a.query_capability()]
    f, g = a.inspect_tensor(a.fp32_model, names), a.inspect_tensor(q, names)
    assert set(f) == set(g) == set(names)
    for n in names:
        assert f[n].shape == g[n].shape and f[n].size > 1
        assert sqnr(f[n], g[n]) > 15, n
    # a Conv followed by Relu is observed after the Relu in both models
    assert f["/conv1/Conv"].min() >= 0 and g["/conv1/Conv"].min() >= 0


def test_benchmark_and_fingerprint(digits):
    a = digits_adaptor(digits)
    assert a.benchmark(a.fp32_model) > 0
    b = digits_adaptor(digits)
    assert a.fingerprint() == b.fingerprint()
    assert digits_adaptor(digits, "onnxrt_integerops").fingerprint() != a.fingerprint()


# ---------------------------------------------------------------- batches, errors
def two_input_model():
    from fixtures.onnx_ops import _model, _w
    from onnx import helper
    return _model([helper.make_node("Add", ["a", "b"], ["s"], name="add"),
                   helper.make_node("MatMul", ["s", "w"], ["y"], name="mm")],
                  {"w": _w(8, 4)}, {"a": (3, 8), "b": (3, 8)}, ["y"])


@pytest.mark.parametrize("shape", ["dict", "tuple", "tuple_label", "nested"])
def test_multi_input_batches(shape):
    m = two_input_model()
    rng = np.random.default_rng(0)
    raw = [(rng.standard_normal((3, 8)).astype(np.float32),
            rng.standard_normal((3, 8)).astype(np.float32)) for _ in range(3)]
    batches = {"dict": [{"a": x, "b": y} for x, y in raw],
               "tuple": [(x, y) for x, y in raw],
               "tuple_label": [(x, y, np.zeros(3)) for x, y in raw],
               "nested": [((x, y), np.zeros(3)) for x, y in raw]}[shape]
    a = create_adaptor("onnxrt_qlinearops", m, None, calib_dataloader=batches)
    q = a.quantize(int8_cfg(a))
    ref = (raw[0][0] + raw[0][1]) @ onnx.numpy_helper.to_array(m.graph.initializer[0])
    out, label = a.predict(q, batches[0])
    assert sqnr(ref, out[0]) > 25
    assert (label is None) == (shape in ("dict", "tuple"))
    assert {o["name"]: o["runs"] for o in q.report["ops"]} == {"add": "QLinearAdd", "mm": "QLinearMatMul"}


def test_bad_batches_name_the_inputs():
    m = two_input_model()
    a = create_adaptor("onnxrt_qdq", m, None, calib_dataloader=[np.zeros((3, 8), np.float32)])
    with pytest.raises(lpot.ModelError, match=r"single-array batch for a model with 2 inputs \['a', 'b'\]"):
        a.quantize(int8_cfg(a))
    a = create_adaptor("onnxrt_qdq", m, None, calib_dataloader=[{"a": np.zeros((3, 8), np.float32)}])
    with pytest.raises(lpot.ModelError, match=r"lacks model input\(s\) \['b'\]"):
        a.quantize(int8_cfg(a))


def test_unloadable_model_is_model_error_with_orts_message(tmp_path):
    from onnx import helper
    from fixtures.onnx_ops import _model
    m = _model([helper.make_node("NoSuchOpAnywhere", ["x"], ["y"], name="bad")], {},
               {"x": (1, 4)}, ["y"])
    with pytest.raises(lpot.ModelError, match="onnxruntime cannot load the model: .*NoSuchOpAnywhere"):
        create_adaptor("onnxrt_qdq", m, None)
    p = tmp_path / "junk.onnx"
    p.write_bytes(b"not a protobuf at all")
    with pytest.raises(lpot.ModelError, match="cannot read onnx model"):
        create_adaptor("onnxrt_qdq", str(p), None)
    with pytest.raises(lpot.ModelError, match="does not exist"):
        create_adaptor("onnxrt_qdq", str(tmp_path / "none.onnx"), None)


def test_report_on_model_with_unsupported_op():
    from onnx import helper
    from fixtures.onnx_ops import _model, _w
    m = _model([helper.make_node("MatMul", ["x", "w"], ["h"], name="mm"),
                helper.make_node("Tanh", ["h"], ["p"], name="sm"),
                helper.make_node("MatMul", ["p", "w2"], ["y"], name="mm2")],
               {"w": _w(8, 8), "w2": _w(8, 4, seed=3)}, {"x": (2, 8)}, ["y"])
    a = create_adaptor("onnxrt_qlinearops", m, None, calib_dataloader=random_batches(m))
    assert [c["name"] for c in a.query_capability()] == ["mm", "mm2"]
    q = a.quantize(int8_cfg(a))
    by = {o["name"]: o for o in q.report["ops"]}
    assert by["sm"] == {"name": "sm", "type": "Tanh", "dtype": "fp32", "runs": "Tanh",
                        "reason": "no int8 support for Tanh in this adaptor"}
    assert by["mm"]["runs"] == by["mm2"]["runs"] == "QLinearMatMul"
    assert q.report["int8_ops"] == 2 and q.report["fp32_ops"] == 1
    assert "sm" in q.report_text() and "no int8 support for Tanh" in q.report_text()


def test_report_shows_int8_kernels_ort_picked_on_its_own():
    # Softmax between two quantized MatMuls: not in lpot's table, but ORT fuses
    # DQ -> Softmax -> Q into QLinearSoftmax; the read-back report says so
    from onnx import helper
    from fixtures.onnx_ops import _model, _w
    m = _model([helper.make_node("MatMul", ["x", "w"], ["h"], name="mm"),
                helper.make_node("Softmax", ["h"], ["p"], name="sm", axis=-1),
                helper.make_node("MatMul", ["p", "w2"], ["y"], name="mm2")],
               {"w": _w(8, 8), "w2": _w(8, 4, seed=3)}, {"x": (2, 8)}, ["y"])
    a = create_adaptor("onnxrt_qdq", m, None, calib_dataloader=random_batches(m))
    by = {o["name"]: o for o in a.quantize(int8_cfg(a)).report["ops"]}
    assert by["sm"]["dtype"] == "uint8"
    assert by["sm"]["runs"] == "QLinearSoftmax (fused by ORT between int8 neighbours)"


def test_static_without_calibration_data_says_so():
    m = OPS["Conv"][0]()
    a = create_adaptor("onnxrt_qdq", m, None)
    with pytest.raises(lpot.ModelError, match="calibration dataloader"):
        a.quantize(int8_cfg(a))


def test_save_large_model_uses_external_data(tmp_path, monkeypatch):
    monkeypatch.setattr(ox, "_EXT_LIMIT", 1000)
    m = OPS["MatMul"][0]()
    p = ox.save_model(m, str(tmp_path / "out"))
    assert p.endswith("best_model.onnx") and os.path.exists(p + ".data")
    back = onnx.load(p)
    np.testing.assert_array_equal(onnx.numpy_helper.to_array(back.graph.initializer[0]),
                                  onnx.numpy_helper.to_array(m.graph.initializer[0]))


def test_tiny_bert_static_and_dynamic():
    pytest.importorskip("torch")
    pytest.importorskip("transformers")
    from fixtures.onnx_models import bert_encoder, bert_inputs
    m = onnx.load_from_string(bert_encoder(layers=1, hidden=32, heads=2, inter=64, vocab=100, seq=16))
    feeds = [bert_inputs(4, seq=16, vocab=100, seed=s) for s in range(3)]
    for fw in ("onnxrt_integerops", "onnxrt_qdq", "onnxrt_qlinearops"):
        a = create_adaptor(fw, m, None, calib_dataloader=feeds)
        q = a.quantize(int8_cfg(a))
        ref, got = a.predict(a.fp32_model, feeds[0])[0][0], a.predict(q, feeds[0])[0][0]
        assert sqnr(ref, got) > 15, (fw, sqnr(ref, got))
        runs = {o["runs"] for o in q.report["ops"] if o["dtype"] != "fp32"}
        assert q.report["int8_ops"] >= 6
        if fw == "onnxrt_integerops":
            assert "DynamicQuantizeMatMul" in runs or "MatMulInteger" in runs
            gathers = [o for o in q.report["ops"] if o["type"] == "Gather" and o["dtype"] != "fp32"]
            assert gathers  # embedding tables stored int8


@pytest.mark.parametrize("fw", ("onnxrt_qdq", "onnxrt_qlinearops", "onnxrt_integerops"))
def test_embedding_gather_runs_on_the_int8_table(fw):
    """The table stays int8 in the model ORT runs: Gather picks int8 rows, a
    DequantizeLinear follows. (A DequantizeLinear in front of the Gather made
    ORT dequantize the whole table on every run: 72 of 600 ms per BERT-base call.)"""
    pytest.importorskip("torch")
    pytest.importorskip("transformers")
    from fixtures.onnx_models import bert_encoder, bert_inputs
    m = onnx.load_from_string(bert_encoder(layers=1, hidden=32, heads=2, inter=64, vocab=100, seq=16))
    feeds = [bert_inputs(4, seq=16, vocab=100, seed=s) for s in range(3)]
    a = create_adaptor(fw, m, None, calib_dataloader=feeds)
    q = a.quantize(int8_cfg(a))
    qm = q.model
    inits = {t.name: t for t in qm.graph.initializer}
    tables = [n for n in qm.graph.node if n.op_type == "Gather" and n.input[0] in inits
              and len(inits[n.input[0]].dims) == 2 and inits[n.input[0]].dims[1] == 32]
    assert len(tables) == 3  # word, position, token type embeddings
    consumers = {}
    for n in qm.graph.node:
        for i in n.input:
            consumers.setdefault(i, []).append(n.op_type)
    for n in tables:
        assert inits[n.input[0]].data_type == onnx.TensorProto.INT8, n.name
        assert consumers[n.output[0]] == ["DequantizeLinear"], n.name
    dq_of_table = [n for n in qm.graph.node if n.op_type == "DequantizeLinear"
                   and n.input[0] in inits and len(inits[n.input[0]].dims) == 2
                   and inits[n.input[0]].dims[0] >= 100]
    assert dq_of_table == []
    # embeddings within half a quantization step of fp32, whole model close
    ref, got = a.predict(a.fp32_model, feeds[0])[0][0], a.predict(q, feeds[0])[0][0]
    assert sqnr(ref, got) > 15
    if fw == "onnxrt_qdq":
        # Shape reads the float tensor, not a DequantizeLinear output computed for it alone
        prod = {o: n.op_type for n in qm.graph.node for o in n.output}
        shapes = [n for n in qm.graph.node if n.op_type == "Shape"]
        assert shapes and all(prod.get(n.input[0]) != "DequantizeLinear" for n in shapes)


@pytest.fixture(scope="module")
def fused_bert():
    pytest.importorskip("torch")
    pytest.importorskip("transformers")
    from fixtures.onnx_models import bert_fused, bert_inputs
    m = onnx.load_from_string(bert_fused(layers=2, hidden=64, heads=4, inter=128, vocab=600, seq=16))
    feeds = [bert_inputs(4, seq=16, vocab=600, seed=s) for s in range(2)]
    return m, feeds


def _ops_of(report, op_type):
    return [o for o in report["ops"] if o["type"] == op_type]


def test_contrib_attention_and_embed_layernorm_dynamic(fused_bert, tmp_path):
    """integerops: Attention -> QAttention, EmbedLayerNormalization ->
    QEmbedLayerNormalization in the graph ORT runs, as close to fp32 as ORT's
    own quantize_dynamic gets (its model has the same int8 ops)."""
    from onnxruntime.quantization import QuantType, quantize_dynamic
    m, feeds = fused_bert
    assert {"Attention", "EmbedLayerNormalization"} <= {n.op_type for n in m.graph.node}
    a = create_adaptor("onnxrt_integerops", m, None, calib_dataloader=feeds)
    caps = {c["type"]: c for c in a.query_capability()}
    assert caps["EmbedLayerNormalization"]["weight"]["dtype"] == ["uint8", "fp32"]
    assert caps["Attention"]["weight"]["granularity"] == ["per_channel", "per_tensor"]
    q = a.quantize(int8_cfg(a))
    for t, runs in (("Attention", "QAttention"), ("EmbedLayerNormalization", "QEmbedLayerNormalization")):
        ops = _ops_of(q.report, t)
        assert ops and all(o["dtype"] == "uint8" and o["runs"] == runs for o in ops), ops
    ref, got = a.predict(a.fp32_model, feeds[0])[0][0], a.predict(q, feeds[0])[0][0]
    src, dst = str(tmp_path / "fp32.onnx"), str(tmp_path / "ort.onnx")
    onnx.save(m, src)
    quantize_dynamic(src, dst, weight_type=QuantType.QInt8, per_channel=True, reduce_range=True,
                     extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT})
    ort_model = onnx.load(dst)
    assert {"QAttention", "QEmbedLayerNormalization"} <= {n.op_type for n in ort_model.graph.node}
    theirs = a.predict(ort_model, feeds[0])[0][0]
    assert sqnr(ref, got) > 25, sqnr(ref, got)
    assert sqnr(ref, got) > sqnr(ref, theirs) - 3, (sqnr(ref, got), sqnr(ref, theirs))


def test_contrib_attention_fp32_fallback_and_static_modes(fused_bert):
    m, feeds = fused_bert
    a = create_adaptor("onnxrt_integerops", m, None, calib_dataloader=feeds)
    keep = _ops_of({"ops": [{"type": c["type"], "name": c["name"]} for c in a.query_capability()]},
                   "Attention")[0]["name"]
    q = a.quantize(int8_cfg(a, fp32=(keep,)))
    kept = [o for o in q.report["ops"] if o["name"] == keep][0]
    assert (kept["dtype"], kept["reason"], kept["runs"]) == ("fp32", "fp32 in tune_cfg", "Attention")
    assert [o["runs"] for o in _ops_of(q.report, "Attention") if o["name"] != keep] == ["QAttention"]
    # QOperator: the embedding tables int8, Attention fp32 with the reason ORT gives none
    for fw, embed in (("onnxrt_qlinearops", "QEmbedLayerNormalization"),
                      ("onnxrt_qdq", "EmbedLayerNormalization")):
        s = create_adaptor(fw, m, None, calib_dataloader=feeds)
        assert "Attention" not in {c["type"] for c in s.query_capability()}
        q = s.quantize(int8_cfg(s))
        att = _ops_of(q.report, "Attention")
        assert att and all(o["dtype"] == "fp32" and "onnxrt_integerops" in o["reason"] for o in att)
        (e,) = _ops_of(q.report, "EmbedLayerNormalization")
        assert e["runs"] == embed, e
        if fw == "onnxrt_qdq":
            assert e["dtype"] == "fp32" and "no QDQ form" in e["reason"]
        ref, got = s.predict(s.fp32_model, feeds[1])[0][0], s.predict(q, feeds[1])[0][0]
        assert sqnr(ref, got) > 20, (fw, sqnr(ref, got))


def test_attention_qattention_cannot_express_stays_fp32_with_reason(fused_bert):
    m0, feeds = fused_bert
    m = onnx.ModelProto()
    m.CopyFrom(m0)
    att = [n for n in m.graph.node if n.op_type == "Attention"]
    hidden = onnx.numpy_helper.to_array(
        {t.name: t for t in m.graph.initializer}[att[0].input[1]]).shape[0]
    att[0].attribute.append(onnx.helper.make_attribute("qkv_hidden_sizes", [hidden] * 3))
    a = create_adaptor("onnxrt_integerops", m, None, calib_dataloader=feeds)
    q = a.quantize(int8_cfg(a))
    by = {o["name"]: o for o in q.report["ops"]}
    assert by[att[0].name]["dtype"] == "fp32" and by[att[0].name]["runs"] == "Attention"
    assert "qkv_hidden_sizes: QAttention does not take it" in by[att[0].name]["reason"]
    assert by[att[1].name]["runs"] == "QAttention"
    ref, got = a.predict(a.fp32_model, feeds[0])[0][0], a.predict(q, feeds[0])[0][0]
    assert sqnr(ref, got) > 25


def test_embed_layernorm_tables_uint8_within_half_a_step(fused_bert):
    m, feeds = fused_bert
    a = create_adaptor("onnxrt_integerops", m, None, calib_dataloader=feeds)
    q = a.quantize(int8_cfg(a))
    (node,) = [n for n in q.model.graph.node if n.op_type == "QEmbedLayerNormalization"]
    (src,) = [n for n in m.graph.node if n.op_type == "EmbedLayerNormalization"]
    inits = {t.name: onnx.numpy_helper.to_array(t) for t in q.model.graph.initializer}
    orig = {t.name: onnx.numpy_helper.to_array(t) for t in m.graph.initializer}
    for k in range(5):  # word, position, segment, gamma, beta
        wq, s, z = inits[node.input[2 + k]], inits[node.input[8 + k]], inits[node.input[13 + k]]
        assert wq.dtype == np.uint8 and z.dtype == np.uint8
        w = orig[src.input[2 + k]]
        err = np.abs((wq.astype(np.float32) - np.float32(z)) * s - w).max()
        assert err <= s / 2 * (1 + 1e-5), (k, err, s)


def test_weight_bits_follow_config_else_cpu():
    m = OPS["Conv"][0]()
    calib = random_batches(m)
    full = create_adaptor("onnxrt_qlinearops", m, {"quantization": {"model_wise": {"weight": {"bit": 8.0}}}},
                          calib_dataloader=calib)
    assert full.reduce_range is False
    used = lpot.cpu_features()["used"]
    auto = create_adaptor("onnxrt_qlinearops", m, None, calib_dataloader=calib)
    assert auto.reduce_range is not bool(used.get("avx512_vnni") or used.get("avx_vnni"))

    def wmax(a):
        q = a.quantize(int8_cfg(a))
        w = {t.name: onnx.numpy_helper.to_array(t) for t in q.model.graph.initializer}["w_quantized"]
        return int(np.abs(w.astype(np.int32)).max(axis=(1, 2, 3)).max())

    assert wmax(full) == 127
    assert wmax(auto) == (64 if auto.reduce_range else 127)
