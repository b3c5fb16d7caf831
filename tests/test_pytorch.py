"""PyTorch adaptor: quantized modules vs fp32 twins, fusion, fallback,
save/load, tuning on the digits CNN, dynamic PTQ and QAT."""
from __future__ import annotations

import copy
import io
import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")
nn = torch.nn

from lpot import calib  # noqa: E402
from lpot import nn as lnn  # noqa: E402
from lpot.adaptor import create_adaptor  # noqa: E402
from lpot.adaptor.pytorch import PyTorchAdaptor, prepare  # noqa: E402
from lpot.utils.pytorch import load  # noqa: E402
from tests.fixtures import torch_models as tm  # noqa: E402


def _dq_input(x: torch.Tensor, s: float, z: int) -> torch.Tensor:
    q = calib.quantize(x.numpy(), s, z, dtype="uint8")
    return torch.from_numpy((q.astype(np.float32) - z) * s)


def _dq_weight(m: lnn._QuantBase) -> torch.Tensor:
    w = m.weight_q.float()
    return w * m.w_scales.reshape(-1, *([1] * (w.dim() - 1)))


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    # torch's OpenMP team is ~10x slower than one thread on this shared 2-core machine
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="module")
def digits(one_thread):
    torch.manual_seed(0)
    m, data = tm.train_digits(epochs=6)
    return m, data


def _acc_fn(xte, yte):
    def acc(model):
        with torch.no_grad():
            return float((model(torch.from_numpy(xte)).argmax(1).numpy() == yte).mean())
    return acc


def _calib(xtr, ytr, n=200, bs=50):
    return [(xtr[i:i + bs], ytr[i:i + bs]) for i in range(0, n, bs)]


# ---- modules vs their fp32 twins -------------------------------------------------

@pytest.mark.parametrize("per_channel", [True, False])
@pytest.mark.parametrize("relu", [False, True])
def test_quant_linear_matches_dequantized_reference(per_channel, relu):
    torch.manual_seed(1)
    lin = nn.Linear(37, 19)
    mod = lnn.FusedReLU(lin) if relu else lin
    x = torch.randn(5, 37)
    s, z = calib.qparams(float(x.min()), float(x.max()))
    q = lnn.QuantLinear.from_float(mod, float(s), int(z), per_channel)
    assert int(q.weight_q.abs().max()) <= (64 if lnn.weight_bits() == 7 else 127)
    y = q(x)
    ref = nn.functional.linear(_dq_input(x, float(s), int(z)), _dq_weight(q), lin.bias)
    if relu:
        ref = torch.relu(ref)
    # same integer math, float epilogue: tight
    assert torch.allclose(y, ref, atol=1e-4, rtol=1e-4)
    # vs the fp32 module: within quantization error (7-bit weights: a few %)
    fp = mod(x).detach()
    assert float((y - fp).abs().max()) < 0.05 * float(fp.abs().max())


@pytest.mark.parametrize("kw", [dict(stride=1, padding=1), dict(stride=2, padding=0),
                                dict(stride=1, padding=1, groups=8), dict(stride=1, padding=2, dilation=2)])
def test_quant_conv2d_matches_dequantized_reference(kw):
    torch.manual_seed(2)
    conv = nn.Conv2d(8, 16, 3, **kw)
    x = torch.randn(2, 8, 9, 11)
    s, z = calib.qparams(float(x.min()), float(x.max()))
    q = lnn.QuantConv2d.from_float(conv, float(s), int(z))
    y = q(x)
    ref = nn.functional.conv2d(_dq_input(x, float(s), int(z)), _dq_weight(q), conv.bias,
                               conv.stride, conv.padding, conv.dilation, conv.groups)
    assert y.shape == ref.shape
    assert torch.allclose(y, ref, atol=1e-4, rtol=1e-4)
    fp = conv(x).detach()
    assert float((y - fp).abs().max()) < 0.05 * float(fp.abs().max())


def test_chained_uint8_output_equals_requantized_float():
    torch.manual_seed(3)
    a = lnn.FusedReLU(nn.Linear(16, 24))
    x = torch.randn(4, 16)
    s, z = calib.qparams(float(x.min()), float(x.max()))
    q = lnn.QuantLinear.from_float(a, float(s), int(z))
    yf = q(x)
    q.set_out_qparams(0.02, 0)
    yq = q(x)
    assert yq.dtype == torch.uint8
    expect = calib.quantize(yf.numpy(), 0.02, 0, dtype="uint8")
    assert np.abs(yq.numpy().astype(int) - expect.astype(int)).max() <= 1


def test_dynamic_linear_close_to_fp32():
    torch.manual_seed(4)
    lin = nn.Linear(64, 32)
    x = torch.randn(6, 64)
    q = lnn.DynamicQuantLinear.from_float(lin)
    fp = lin(x).detach()
    y = q(x)
    assert y.shape == fp.shape
    assert float((y - fp).abs().max()) < 0.05 * float(fp.abs().max())


# ---- fusion ----------------------------------------------------------------------

def test_fusion_is_numerically_equivalent_resnet18_small():
    torch.manual_seed(5)
    m = tm.resnet18(width=8, num_classes=10).eval()
    x = torch.randn(2, 3, 32, 32)
    fused, traced, err, notes = prepare(m)
    assert traced and err == ""
    assert sum(n.startswith("folded") for n in notes) == 20  # every BN of ResNet-18
    assert any("fused relu into conv1" == n for n in notes)
    assert not any(isinstance(mod, nn.BatchNorm2d) for mod in fused.modules())
    with torch.no_grad():
        assert torch.allclose(fused(x), m(x), atol=1e-4, rtol=1e-4)


def test_fold_bn_matches_conv_then_bn():
    torch.manual_seed(6)
    conv, bn = nn.Conv2d(4, 6, 3, bias=False), nn.BatchNorm2d(6)
    tm._init_random(nn.Sequential(conv, bn))
    bn.eval()
    x = torch.randn(2, 4, 7, 7)
    with torch.no_grad():
        assert torch.allclose(lnn.fold_bn(conv, bn)(x), bn(conv(x)), atol=1e-5, rtol=1e-5)


# ---- the adaptor -----------------------------------------------------------------

def test_static_ptq_digits_report_and_accuracy(digits):
    m, (xtr, ytr, xte, yte) = digits
    acc = _acc_fn(xte, yte)
    a = PyTorchAdaptor("pytorch", m, None, calib_dataloader=_calib(xtr, ytr), eval_func=acc)
    q = a.quantize(a.default_tune_cfg())
    r = q.report
    assert r["capture"] == "torch.fx symbolic trace"
    assert [o["name"] for o in r["ops"] if o["dtype"] == "int8"] == ["conv1", "conv2", "fc1", "fc2"]
    assert r["chains"] == ["conv1 -> conv2", "fc1 -> fc2"]
    assert r["weight_bits"] == lnn.weight_bits()
    assert all("lpot int8 static" in o["runs"] for o in r["ops"])
    base = acc(m)
    assert base > 0.9
    assert a.evaluate(q) >= base - 0.02
    # the quantized model is a plain nn.Module callable with float tensors
    assert isinstance(q.model, nn.Module)
    assert q.model(torch.from_numpy(xte[:3])).shape == (3, 10)


@pytest.mark.parametrize("algo", ["kl", "percentile", "mse"])
def test_static_ptq_activation_algorithms(digits, algo):
    """Every activation algorithm of the capability (YAML minmax|kl, plus
    percentile and mse) calibrates through its C observer: accuracy holds and
    no scale exceeds minmax's (kl and mse clip some)."""
    m, (xtr, ytr, xte, yte) = digits
    acc = _acc_fn(xte, yte)
    a = PyTorchAdaptor("pytorch", m, None, calib_dataloader=_calib(xtr, ytr), eval_func=acc)
    cfg = a.default_tune_cfg()
    for c in cfg["op"].values():
        assert algo in a.query_capability()[0]["activation"]["algorithm"]
        c["activation"]["algorithm"] = algo
    q, qm = a.quantize(cfg), a.quantize(a.default_tune_cfg())
    assert a.evaluate(q) >= acc(m) - 0.03
    names = ["conv1", "conv2", "fc1", "fc2"]
    scales = [float(q.model.get_submodule(n).x_scale) for n in names]
    minmax = [float(qm.model.get_submodule(n).x_scale) for n in names]
    assert all(s <= mm * (1 + 1e-6) for s, mm in zip(scales, minmax))
    if algo != "percentile":  # 99.999% of a few thousand values clips nothing
        assert scales != minmax


def test_fp32_fallback_keeps_original_module(digits):
    m, (xtr, ytr, xte, yte) = digits
    a = PyTorchAdaptor("pytorch", m, None, calib_dataloader=_calib(xtr, ytr))
    cfg = a.default_tune_cfg()
    cfg["op"][("fc2", "Linear")]["activation"]["dtype"] = "fp32"
    cfg["op"][("fc2", "Linear")]["weight"]["dtype"] = "fp32"
    q = a.quantize(cfg)
    assert type(q.model.fc2) is nn.Linear
    assert isinstance(q.model.fc1, lnn.QuantLinear)
    assert q.model.fc1.out_qparams.numel() == 0  # no chaining into a float op
    op = {o["name"]: o for o in q.report["ops"]}["fc2"]
    assert op["dtype"] == "fp32" and op["reason"] == "tune_cfg set fp32"
    assert q.report["int8_ops"] == 3 and q.report["fp32_ops"] == 1


class Untraceable(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU())
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(8 * 8 * 8, 10))

    def forward(self, x):
        if x.sum() > 0:  # data-dependent control flow: fx cannot trace it
            x = x * 1.0
        return self.head(self.body(x))


def test_trace_failure_falls_back_to_eager_with_report_line(digits):
    _, (xtr, ytr, xte, yte) = digits
    torch.manual_seed(7)
    m = Untraceable().eval()
    tm._init_random(m)
    a = PyTorchAdaptor("pytorch", m, None, calib_dataloader=_calib(xtr, ytr))
    assert not a.traced
    assert a.ops == [("body.0", "Conv2d"), ("head.1", "Linear")]
    q = a.quantize(a.default_tune_cfg())
    assert q.report["capture"].startswith("eager module swapping (torch.fx tracing failed: TraceError")
    assert "folded body.1 into body.0" in q.report["fusions"]
    x = torch.from_numpy(xte[:16])
    with torch.no_grad():
        fp, y = m(x), q.model(x)
    assert isinstance(q.model.body[0], lnn.QuantConv2d) and q.model.body[0].relu
    assert float((y - fp).abs().max()) < 0.05 * float(fp.abs().max())


def test_save_load_state_dict_deepcopy_round_trip(digits, tmp_path):
    m, (xtr, ytr, xte, yte) = digits
    a = PyTorchAdaptor("pytorch", m, None, calib_dataloader=_calib(xtr, ytr))
    cfg = a.default_tune_cfg()
    cfg["op"][("conv2", "Conv2d")]["weight"]["granularity"] = "per_tensor"
    q = a.quantize(cfg)
    x = torch.from_numpy(xte[:32])
    y = q.model(x)
    q.save(str(tmp_path))
    meta = json.loads((tmp_path / "best_configure.yaml").read_text())
    assert meta["ops"]["conv2"]["granularity"] == "per_tensor"
    assert (tmp_path / "best_model_weights.pt").exists()
    q2 = load(str(tmp_path), m)
    assert torch.equal(q2.model(x), y)
    assert q2.report["int8_ops"] == 4
    # deepcopy: packed handles rebuilt
    q3 = copy.deepcopy(q.model)
    assert q3.conv1._packed is None
    assert torch.equal(q3(x), y)
    # torch.save / torch.load of the state dict into a rebuilt model
    buf = io.BytesIO()
    torch.save(q.model.state_dict(), buf)
    buf.seek(0)
    q4 = load(str(tmp_path), m)
    q4.model.conv1.x_scale.fill_(123.0)
    q4.model.load_state_dict(torch.load(buf, weights_only=True))
    assert torch.equal(q4.model(x), y)


def test_load_missing_files_raise(tmp_path, digits):
    from lpot import ModelError

    with pytest.raises(ModelError, match="missing .*best_configure.yaml"):
        load(str(tmp_path), digits[0])


def test_tune_basic_meets_one_percent_on_digits(digits, tmp_path):
    from lpot.metric import Accuracy
    from lpot.tuning import tune

    m, (xtr, ytr, xte, yte) = digits
    evals = [(xte[i:i + 100], yte[i:i + 100]) for i in range(0, len(xte), 100)]
    cfg = {"quantization": {"approach": "post_training_static_quant"}}
    a = create_adaptor("pytorch_fx", m, cfg, calib_dataloader=_calib(xtr, ytr),
                       eval_dataloader=evals, metric=Accuracy())
    assert a.evaluate(m) == pytest.approx(_acc_fn(xte, yte)(m))
    res = tune(a, {"strategy": {"name": "basic"}, "accuracy_criterion": {"relative": 0.01},
                   "exit_policy": {"max_trials": 20}}, workspace=str(tmp_path), progress=False,
               quantization={"calibration": {"sampling_size": [200]}})
    assert res.found
    assert res.best_accuracy >= res.baseline * 0.99
    assert res.model.report["int8_ops"] >= 1
    assert a.benchmark(res.model) > 0
    assert a.model_size(res.model) < a.model_size(m)
    outs = a.inspect_tensor(res.model, ["fc1", "fc2"])
    assert outs["fc2"].shape == (2 * 50 * 10,)
    assert a.fingerprint() == create_adaptor("pytorch", m, cfg).fingerprint()


def test_dynamic_ptq_lstm_lm_quantizes_lstm_and_linear():
    torch.manual_seed(8)
    m = tm.LSTMLM(vocab=50, emb=16, hidden=32).eval()
    tok = torch.randint(0, 50, (2, 7))
    a = PyTorchAdaptor("pytorch", m, {"quantization": {"approach": "post_training_dynamic_quant"}})
    assert a.ops == [("emb", "Embedding"), ("lstm", "LSTM"), ("dec", "Linear")]
    q = a.quantize(a.default_tune_cfg())
    assert isinstance(q.model.dec, lnn.DynamicQuantLinear)
    assert isinstance(q.model.lstm, lnn.DynamicQuantRNN)
    assert isinstance(q.model.emb, lnn.QuantEmbedding)   # weight-only in any approach
    ops = {o["name"]: o for o in q.report["ops"]}
    assert ops["emb"]["dtype"] == "int8" and "weight-only" in ops["emb"]["runs"]
    assert ops["lstm"]["runs"].startswith("lpot int8 dynamic")
    with torch.no_grad():
        fp, y = m(tok), q.model(tok)
    assert float((y - fp).abs().max()) < 0.05 * float(fp.abs().max())


@pytest.mark.parametrize("cls", [nn.LSTM, nn.GRU])
@pytest.mark.parametrize("batch_first", [False, True])
def test_dynamic_rnn_vs_fp32_twin(cls, batch_first):
    torch.manual_seed(12)
    rnn = cls(12, 20, num_layers=2, batch_first=batch_first).eval()
    x = torch.randn(3, 5, 12)
    q = lnn.DynamicQuantRNN.from_float(rnn)
    with torch.no_grad():
        (y, hq), (ref, href) = q(x), rnn(x)
    assert y.shape == ref.shape
    assert float((y - ref).abs().max()) < 0.03  # outputs are tanh/sigmoid-bounded
    if cls is nn.LSTM:
        assert hq[0].shape == href[0].shape and hq[1].shape == href[1].shape
    else:
        assert hq.shape == href.shape
    assert torch.equal(copy.deepcopy(q)(x)[0], y)


def test_bidirectional_lstm_stays_fp32_with_reason():
    m = nn.Sequential(nn.LSTM(4, 8, bidirectional=True))
    a = PyTorchAdaptor("pytorch", m, {"quantization": {"approach": "post_training_dynamic_quant"}})
    assert a.ops == []
    q = a.quantize(a.default_tune_cfg())
    (op,) = q.report["ops"]
    assert op["dtype"] == "fp32" and "bidirectional" in op["reason"]


# ---- QAT -------------------------------------------------------------------------

FRAG = 150.0  # PTQ (per-tensor) ~0.32, QAT ~0.61, fp32 ~0.97 at seed 9


class MLP(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc1 = nn.Linear(64, 48)
        self.fc2 = nn.Linear(48, 10)

    def forward(self, x):
        return self.fc2(torch.relu(self.fc1(torch.flatten(x, 1))))


def test_qat_beats_ptq_on_fragile_model(digits):
    _, (xtr, ytr, xte, yte) = digits
    torch.manual_seed(9)
    m = MLP()
    opt = torch.optim.Adam(m.parameters(), lr=5e-3)
    xt, yt = torch.from_numpy(xtr), torch.from_numpy(ytr)
    for _ in range(10):
        for i in range(0, len(xt), 64):
            opt.zero_grad()
            nn.functional.cross_entropy(m(xt[i:i + 64]), yt[i:i + 64]).backward()
            opt.step()
    # fragile but fp32-equivalent: unit 0 scaled up FRAG times (ReLU is positively homogeneous)
    with torch.no_grad():
        m.fc1.weight[0] *= FRAG
        m.fc1.bias[0] *= FRAG
        m.fc2.weight[:, 0] /= FRAG
    m.eval()
    acc = _acc_fn(xte, yte)
    base = acc(m)

    def train(model):
        o = torch.optim.Adam(model.parameters(), lr=1e-3)
        for _ in range(3):
            for i in range(0, len(xt), 64):
                o.zero_grad()
                nn.functional.cross_entropy(model(xt[i:i + 64]), yt[i:i + 64]).backward()
                o.step()
        return model

    def per_tensor(a):
        cfg = a.default_tune_cfg()
        for v in cfg["op"].values():
            v["weight"]["granularity"] = "per_tensor"
        return cfg

    ptq = PyTorchAdaptor("pytorch", m, None, calib_dataloader=_calib(xtr, ytr), eval_func=acc)
    ptq_acc = ptq.evaluate(ptq.quantize(per_tensor(ptq)))
    qat = PyTorchAdaptor("pytorch", m, {"quantization": {"approach": "quant_aware_training"}},
                         eval_func=acc, q_func=train)
    q = qat.quantize(per_tensor(qat))
    assert isinstance(q.model.fc1, lnn.QuantLinear) and q.model.fc1.relu
    qat_acc = qat.evaluate(q)
    assert base > 0.9
    assert ptq_acc < base - 0.05, (base, ptq_acc)
    assert qat_acc > ptq_acc + 0.05, (base, ptq_acc, qat_acc)
    # the original model is untouched by the training loop
    assert acc(m) == base


def test_fake_quant_ste_gradient_is_masked():
    x = torch.tensor([-1.0, 0.2, 0.5, 3.0], requires_grad=True)
    y = lnn._FakeQuantFn.apply(x, np.float32(0.01), np.uint8(0), None, "uint8")
    y.sum().backward()
    assert x.grad.tolist() == [0.0, 1.0, 1.0, 0.0]  # outside [0, 2.55] gets no gradient
    assert y.detach().tolist() == pytest.approx([0.0, 0.2, 0.5, 2.55])


def test_qat_without_q_func_is_an_error(digits):
    from lpot import ModelError

    a = PyTorchAdaptor("pytorch", digits[0], {"quantization": {"approach": "quant_aware_training"}})
    with pytest.raises(ModelError, match="q_func"):
        a.quantize(a.default_tune_cfg())


def test_relu6_fusion_and_chaining_mobilenetv2():
    torch.manual_seed(10)
    m = tm.MobileNetV2(num_classes=10).eval()
    x = torch.randn(4, 3, 32, 32)
    fused, traced, _, notes = prepare(m)
    assert traced and sum(n.startswith("fused relu6") for n in notes) == 35
    with torch.no_grad():
        assert torch.allclose(fused(x), m(x), atol=1e-4, rtol=1e-4)
    a = PyTorchAdaptor("pytorch", m, None, calib_dataloader=[torch.randn(8, 3, 32, 32)])
    q = a.quantize(a.default_tune_cfg())
    # expand -> depthwise -> project inside each inverted residual block
    assert "features.1.conv.0.0 -> features.1.conv.1" in q.report["chains"]
    assert len(q.report["chains"]) >= 30
    dw = q.model.get_submodule("features.2.conv.1.0")
    assert dw.relu6 and dw.groups == 96
    ops = {o["name"]: o for o in q.report["ops"]}
    assert "fused relu6" in ops["features.2.conv.1.0"]["runs"]
    with torch.no_grad():
        ref, y = m(x), q.model(x)
    assert float(torch.linalg.norm(y - ref) / torch.linalg.norm(ref)) < 0.15


def test_relu6_float_output_is_clamped():
    torch.manual_seed(11)
    lin = nn.Linear(8, 16)
    with torch.no_grad():
        lin.weight.mul_(20)
    x = torch.randn(3, 8)
    s, z = calib.qparams(float(x.min()), float(x.max()))
    q = lnn.QuantLinear.from_float(lnn.FusedReLU(lin, six=True), float(s), int(z))
    y = q(x)
    assert float(y.max()) == 6.0 and float(y.min()) == 0.0
    ref = nn.functional.relu6(nn.functional.linear(_dq_input(x, float(s), int(z)), _dq_weight(q), lin.bias))
    assert torch.allclose(y, ref, atol=1e-4, rtol=1e-4)


def test_dynamic_save_load_round_trip(tmp_path):
    torch.manual_seed(13)
    m = tm.LSTMLM(vocab=30, emb=8, hidden=16).eval()
    tok = torch.randint(0, 30, (2, 5))
    a = PyTorchAdaptor("pytorch", m, {"quantization": {"approach": "post_training_dynamic_quant"}})
    q = a.quantize(a.default_tune_cfg())
    q.save(str(tmp_path))
    q2 = load(str(tmp_path), m)
    with torch.no_grad():
        assert torch.equal(q2.model(tok), q.model(tok))
    assert isinstance(q2.model.lstm, lnn.DynamicQuantRNN)


@pytest.mark.parametrize("kw", [dict(stride=1, padding=1), dict(stride=2, padding=2, dilation=2),
                                dict(stride=1, padding=1, groups=4)])
def test_quant_conv1d_matches_dequantized_reference(kw):
    torch.manual_seed(14)
    conv = nn.Conv1d(8, 12, 3, **kw)
    x = torch.randn(2, 8, 19)
    s, z = calib.qparams(float(x.min()), float(x.max()))
    q = lnn.QuantConv1d.from_float(conv, float(s), int(z))
    y = q(x)
    w = q.weight_q.float()[:, :, 0, :] * q.w_scales.reshape(-1, 1, 1)
    ref = nn.functional.conv1d(_dq_input(x, float(s), int(z)), w, conv.bias, conv.stride,
                               conv.padding, conv.dilation, conv.groups)
    assert y.shape == ref.shape
    assert torch.allclose(y, ref, atol=1e-4, rtol=1e-4)


class Conv1dNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.c1 = nn.Conv1d(4, 16, 5, padding=2)
        self.bn = nn.BatchNorm1d(16)
        self.c2 = nn.Conv1d(16, 8, 3)
        self.fc = nn.Linear(8 * 30, 5)

    def forward(self, x):
        x = self.c2(torch.relu(self.bn(self.c1(x))))
        return self.fc(torch.flatten(x, 1))


def test_conv1d_net_folds_chains_and_matches_fp32():
    torch.manual_seed(15)
    m = Conv1dNet().eval()
    tm._init_random(m)
    with torch.no_grad():
        m.bn.running_var.uniform_(0.5, 2.0)
        m.bn.running_mean.normal_(0, 0.3)
    x = torch.randn(6, 4, 32)
    fused, traced, _, notes = prepare(m)
    assert "folded bn into c1" in notes and "fused relu into c1" in notes
    with torch.no_grad():
        assert torch.allclose(fused(x), m(x), atol=1e-5, rtol=1e-5)
    a = PyTorchAdaptor("pytorch", m, None, calib_dataloader=[x])
    q = a.quantize(a.default_tune_cfg())
    assert q.report["chains"] == ["c1 -> c2"]
    assert isinstance(q.model.c1, lnn.QuantConv1d)
    with torch.no_grad():
        ref, y = m(x), q.model(x)
    assert float(torch.linalg.norm(y - ref) / torch.linalg.norm(ref)) < 0.05


def test_residual_add_relu_fused_into_conv_sum_post_op(tmp_path):
    import lpot.adaptor.pytorch as P

    torch.manual_seed(16)
    m = tm.resnet18(width=8, num_classes=10).eval()
    x = torch.randn(2, 3, 32, 32)
    a = PyTorchAdaptor("pytorch", m, None, calib_dataloader=[torch.randn(4, 3, 32, 32)])
    q = a.quantize(a.default_tune_cfg())
    assert len(q.report["residual_adds"]) == 8  # one per BasicBlock
    assert "layer1.0.conv2: add + relu fused as the kernel's sum post-op" in q.report["residual_adds"]
    assert "layer1.0.conv1 -> layer1.0.conv2" in q.report["chains"]
    code = q.model.code
    assert "operator.add" not in code and " + " not in code
    # the same model without the add fusion (float add + relu after the conv)
    orig = P._fuse_residual_add
    P._fuse_residual_add = lambda gm: []
    try:
        q2 = a.quantize(a.default_tune_cfg())
    finally:
        P._fuse_residual_add = orig
    with torch.no_grad():
        y, y2 = q.model(x), q2.model(x)
    assert torch.allclose(y, y2, atol=1e-4, rtol=1e-4)
    q.save(str(tmp_path))
    with torch.no_grad():
        assert torch.equal(load(str(tmp_path), m).model(x), y)
