"""PyTorch adaptor, the BERT features: Linear+GELU fusion, attention matmuls
on lpot's qmatmul, weight-only Embedding/EmbeddingBag, transformers capture
(tiny BertModel / BertForSequenceClassification from a config, random
weights: nothing downloads)."""
from __future__ import annotations

import copy
import io

import numpy as np
import pytest

torch = pytest.importorskip("torch")
nn = torch.nn
F = nn.functional

from lpot import KernelError, calib, kernels  # noqa: E402
from lpot import nn as lnn  # noqa: E402
from lpot.adaptor.pytorch import PyTorchAdaptor, prepare  # noqa: E402
from lpot.utils.pytorch import load  # noqa: E402
from tests.fixtures import torch_models as tm  # noqa: E402
from tests.test_pytorch import one_thread  # noqa: E402,F401  (autouse: one torch thread)

DYNAMIC = {"quantization": {"approach": "post_training_dynamic_quant"}}


def _rel(y: torch.Tensor, ref: torch.Tensor) -> float:
    return float(torch.linalg.norm(y - ref) / torch.linalg.norm(ref))


def _dq(q: np.ndarray, s: float, z: int) -> torch.Tensor:
    return torch.from_numpy((q.astype(np.float64) - z) * s)


# ---- Linear + GELU -------------------------------------------------------------------

@pytest.mark.parametrize("approx", ["none", "tanh"])
def test_quant_linear_gelu_post_op_matches_unfused(approx):
    torch.manual_seed(1)
    lin = nn.Linear(48, 40)
    x = torch.randn(7, 48)
    s, z = calib.qparams(float(x.min()), float(x.max()))
    fused = lnn.QuantLinear.from_float(lnn.FusedGELU(lin, approx), float(s), int(z))
    plain = lnn.QuantLinear.from_float(lin, float(s), int(z))
    assert fused.gelu == ("gelu_tanh" if approx == "tanh" else "gelu") and plain.gelu == ""
    y = fused(x)
    # the same int8 product then torch's GELU: the post-op is numerically the unfused pair
    ref = F.gelu(plain(x), approximate=approx)
    assert torch.allclose(y, ref, atol=2e-5, rtol=1e-4), float((y - ref).abs().max())
    fp = F.gelu(lin(x), approximate=approx).detach()
    assert float((y - fp).abs().max()) < 0.05 * float(fp.abs().max())


def test_dynamic_linear_gelu_post_op():
    torch.manual_seed(2)
    lin = nn.Linear(32, 24)
    x = torch.randn(5, 32)
    q = lnn.DynamicQuantLinear.from_float(lnn.FusedGELU(lin))
    plain = lnn.DynamicQuantLinear.from_float(lin)
    assert q.post_ops == ("gelu",)
    assert torch.allclose(q(x), F.gelu(plain(x)), atol=2e-5, rtol=1e-4)


class GeluNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Linear(16, 32)
        self.act = nn.GELU()
        self.b = nn.Linear(32, 32)
        self.c = nn.Linear(32, 8)

    def forward(self, x):
        x = self.act(self.a(x))
        return self.c(F.gelu(self.b(x), approximate="tanh"))


def test_gelu_fusion_fx_is_numerically_equivalent_and_chains():
    torch.manual_seed(3)
    m = GeluNet().eval()
    x = torch.randn(12, 16)
    fused, traced, _, notes = prepare(m)
    assert traced
    assert notes == ["fused gelu into a", "fused gelu_tanh into b"]
    assert isinstance(fused.a, lnn.FusedGELU) and fused.b.approximate == "tanh"
    with torch.no_grad():
        assert torch.allclose(fused(x), m(x), atol=1e-6, rtol=1e-6)
    a = PyTorchAdaptor("pytorch", m, None, calib_dataloader=[x])
    q = a.quantize(a.default_tune_cfg())
    assert q.report["chains"] == ["a -> b", "b -> c"]
    ops = {o["name"]: o for o in q.report["ops"]}
    assert "fused gelu (kernel post-op)" in ops["a"]["runs"]
    assert "fused gelu_tanh (kernel post-op)" in ops["b"]["runs"]
    with torch.no_grad():
        assert _rel(q.model(x), m(x)) < 0.05


def test_qat_keeps_the_fused_gelu():
    torch.manual_seed(11)
    m = GeluNet().eval()
    x = torch.randn(32, 16)
    target = m(x).detach() + 0.1

    def train(model):
        for name in ("a", "b"):
            assert getattr(model, name).relu == ("gelu" if name == "a" else "gelu_tanh")
        opt = torch.optim.SGD(model.parameters(), lr=1e-3)
        for _ in range(3):
            opt.zero_grad()
            F.mse_loss(model(x), target).backward()
            opt.step()
        return model

    a = PyTorchAdaptor("pytorch", m, {"quantization": {"approach": "quant_aware_training"}}, q_func=train)
    q = a.quantize(a.default_tune_cfg())
    assert q.model.a.gelu == "gelu" and q.model.b.gelu == "gelu_tanh"
    with torch.no_grad():
        assert _rel(q.model(x), m(x)) < 0.1


# ---- attention matmul -----------------------------------------------------------------

@pytest.mark.parametrize("transposed", [False, True])
def test_quant_matmul_is_the_integer_product(transposed):
    torch.manual_seed(4)
    a = torch.randn(2, 3, 9, 16)
    kt = torch.randn(2, 3, 11, 16)
    b = kt.transpose(-1, -2) if transposed else kt.transpose(-1, -2).contiguous()
    sa, za = calib.qparams(float(a.min()), float(a.max()))
    sb, zb = calib.qparams(-float(b.abs().max()), float(b.abs().max()), dtype="int8", scheme="sym",
                           reduce_range=True)
    q = lnn.QuantMatmul(float(sa), int(za), float(sb), int(zb))
    y = q(a, b)
    aq = calib.quantize(a.numpy(), float(sa), int(za), dtype="uint8")
    bq = calib.quantize(b.contiguous().numpy(), float(sb), 0, dtype="int8")
    assert int(np.abs(bq).max()) <= 64   # 7-bit: no activation split
    # integer products are exact: only the float epilogue rounds
    ref = torch.matmul(_dq(aq, float(sa), int(za)), _dq(bq, float(sb), 0)).float()
    assert y.shape == (2, 3, 9, 11)
    assert torch.allclose(y, ref, atol=1e-4, rtol=1e-5), float((y - ref).abs().max())
    assert "split" not in kernels.last_impl()["matmul"]   # 7-bit b: no activation split
    # vs the fp32 product: quantization error only
    fp = torch.matmul(a, b)
    assert float((y - fp).abs().max()) < 0.05 * float(fp.abs().max())


def test_quant_matmul_7bit_b_saturates_outside_the_calibrated_range():
    torch.manual_seed(10)
    a, b = torch.rand(2, 4, 8), torch.randn(2, 8, 5) * 10   # b far beyond its scale's range
    q = lnn.QuantMatmul(1 / 255, 0, 0.03, 0, b_bits=7)
    y = q(a, b)
    assert "split" not in kernels.last_impl()["matmul"]
    bq = np.clip(np.rint(b.numpy() / 0.03), -64, 64)
    aq = np.clip(np.rint(a.numpy() * 255), 0, 255)
    ref = torch.from_numpy((aq / 255) @ (bq * 0.03)).float()
    assert torch.allclose(y, ref, atol=1e-4, rtol=1e-5)
    q8 = lnn.QuantMatmul(1 / 255, 0, 0.03, 0, b_bits=8)   # VNNI CPUs: full int8 range
    bq8 = np.clip(np.rint(b.numpy() / 0.03), -128, 127)
    assert torch.allclose(q8(a, b), torch.from_numpy((aq / 255) @ (bq8 * 0.03)).float(),
                          atol=1e-4, rtol=1e-5)


def test_quant_matmul_shared_b_bmm_and_1d_fallback():
    torch.manual_seed(5)
    a, b = torch.randn(4, 5, 6), torch.randn(6, 7)
    q = lnn.QuantMatmul(0.02, 128, 0.05, 0)
    assert q(a, b).shape == (4, 5, 7)
    qb = lnn.QuantMatmul(0.02, 128, 0.05, 0, kind="bmm")
    b3 = torch.randn(4, 6, 7)
    assert torch.allclose(qb(a, b3), q(a, b3))
    v = torch.randn(6)
    assert torch.equal(q(a, v), torch.matmul(a, v))   # < 2-D: float


class SdpaBlock(nn.Module):
    def __init__(self, bool_mask: bool) -> None:
        super().__init__()
        self.qkv = nn.Linear(32, 96)
        self.bool_mask = bool_mask

    def forward(self, x, mask):
        q, k, v = self.qkv(x).view(x.shape[0], x.shape[1], 3, 4, 8).permute(2, 0, 3, 1, 4)
        m = mask[:, None, None, :]
        m = m > 0 if self.bool_mask else (1.0 - m) * -1e4
        return F.scaled_dot_product_attention(q, k, v, attn_mask=m)


@pytest.mark.parametrize("bool_mask", [False, True])
def test_sdpa_is_decomposed_into_named_matmuls(bool_mask):
    torch.manual_seed(6)
    m = SdpaBlock(bool_mask).eval()
    x = torch.randn(2, 10, 32)
    mask = torch.ones(2, 10)
    mask[1, 7:] = 0
    fused, traced, _, notes = prepare(m)
    assert traced and notes == ["decomposed scaled_dot_product_attention node "
                                "scaled_dot_product_attention into matmul/softmax/matmul"]
    assert [n for n, mod in fused.named_modules() if isinstance(mod, lnn.Matmul)] == ["matmul_0", "matmul_1"]
    with torch.no_grad():
        assert torch.allclose(fused(x, mask), m(x, mask), atol=1e-6, rtol=1e-5)


# ---- weight-only embeddings ----------------------------------------------------------

def test_quant_embedding_exact_dequantized_rows():
    torch.manual_seed(7)
    emb = nn.Embedding(50, 12, padding_idx=3)
    q = lnn.QuantEmbedding.from_float(emb)
    assert q.weight_q.dtype == torch.int8 and q.w_scales.shape == (50,)
    idx = torch.tensor([[0, 3, 49], [7, 7, 1]])
    y = q(idx)
    expect = q.weight_q[idx].float() * q.w_scales[idx].unsqueeze(-1)
    assert y.dtype == torch.float32 and torch.equal(y, expect)
    assert torch.equal(y[0, 1], torch.zeros(12))   # the padding row stays zero
    # per-row symmetric int8: error at most half a step of that row
    err = (y - emb(idx)).abs().detach()
    assert bool((err <= q.w_scales[idx].unsqueeze(-1) / 2 + 1e-7).all())
    with pytest.raises(KernelError, match=r"idx\[1\] = 50 is out of range for a table of 50 rows"):
        q(torch.tensor([4, 50]))
    assert not lnn.QuantEmbedding.supported(nn.Embedding(5, 2, max_norm=1.0))
    with pytest.raises(ValueError, match="unsupported Embedding .*max_norm"):
        lnn.QuantEmbedding.from_float(nn.Embedding(5, 2, max_norm=1.0))
    assert not lnn.QuantEmbedding.supported(nn.EmbeddingBag(5, 2))


@pytest.mark.parametrize("mode", ["sum", "mean", "max"])
@pytest.mark.parametrize("last", [False, True])
def test_quant_embedding_bag_matches_twin_on_dequantized_table(mode, last):
    torch.manual_seed(8)
    bag = nn.EmbeddingBag(40, 6, mode=mode, include_last_offset=last, padding_idx=2)
    q = lnn.QuantEmbeddingBag.from_float(bag)
    twin = copy.deepcopy(bag)
    with torch.no_grad():   # the fp32 twin over the dequantized table
        twin.weight.copy_(q.weight_q.float() * q.w_scales.unsqueeze(1))
    idx = torch.tensor([1, 2, 5, 9, 9, 30, 2, 39, 0])
    offsets = torch.tensor([0, 3, 3, 6] + ([9] if last else []))   # bag 1 is empty
    y = q(idx, offsets)
    ref = twin(idx, offsets).detach()
    assert y.shape == ref.shape == (4, 6)
    assert torch.allclose(y, ref, atol=1e-6, rtol=1e-6)
    assert float((y - bag(idx, offsets).detach()).abs().max()) < 0.02
    x2 = idx[:8].reshape(2, 4)
    assert torch.allclose(q(x2), twin(x2).detach(), atol=1e-6, rtol=1e-6)
    if mode == "sum":
        w = torch.rand(9)
        assert torch.allclose(q(idx, offsets, w), twin(idx, offsets, per_sample_weights=w).detach(),
                              atol=1e-6, rtol=1e-6)


def test_quant_embedding_bag_state_dict_and_deepcopy():
    torch.manual_seed(9)
    bag = nn.EmbeddingBag(20, 4, mode="sum")
    q = lnn.QuantEmbeddingBag.from_float(bag)
    idx, off = torch.tensor([1, 2, 3, 4]), torch.tensor([0, 2])
    other = lnn.QuantEmbeddingBag.from_float(nn.EmbeddingBag(3, 4, mode="sum"))
    buf = io.BytesIO()
    torch.save(q.state_dict(), buf)
    buf.seek(0)
    other.load_state_dict(torch.load(buf, weights_only=True))   # shapes differ: rebuilt
    assert torch.equal(other(idx, off), q(idx, off))
    assert torch.equal(copy.deepcopy(q)(idx, off), q(idx, off))


# ---- tiny BERT end to end ------------------------------------------------------------

def _need_transformers():
    pytest.importorskip("transformers")


@pytest.fixture(scope="module")
def tiny_bert():
    _need_transformers()
    m = tm.bert("tiny", seed=0)
    calib_batches = [tm.bert_batch(1000, 4, 16, seed=i, pad=3) for i in range(3)]
    x = tm.bert_batch(1000, 3, 16, seed=99, pad=5)
    return m, calib_batches, x


def _out(y):
    return y["last_hidden_state"]


def _by_name(report):
    return {o["name"]: o for o in report["ops"]}


@pytest.mark.parametrize("attn", ["eager", "sdpa"])
def test_tiny_bert_static_ptq_report_and_fidelity(attn):
    _need_transformers()
    m = tm.bert("tiny", seed=1, attn=attn)
    calib_batches = [tm.bert_batch(1000, 4, 16, seed=i, pad=3) for i in range(3)]
    x = tm.bert_batch(1000, 3, 16, seed=99, pad=5)
    a = PyTorchAdaptor("pytorch", m, None, calib_dataloader=calib_batches)
    q = a.quantize(a.default_tune_cfg())
    r = q.report
    assert r["capture"].startswith("transformers.utils.fx symbolic trace (torch.fx failed: ")
    types = {}
    for o in r["ops"]:
        types.setdefault(o["type"], []).append(o)
    assert len(types["Linear"]) == 2 * 6 + 1   # q, k, v, out, intermediate, output; pooler
    assert len(types["Matmul"]) == 2 * 2 and len(types["Embedding"]) == 3
    assert all(o["dtype"] == "int8" for o in r["ops"])
    ops = _by_name(r)
    assert "fused gelu (kernel post-op)" in ops["encoder.layer.0.intermediate.dense"]["runs"]
    assert ops["encoder.layer.1.attention.self.matmul_0"]["runs"].startswith("lpot int8 qmatmul")
    assert ops["embeddings.word_embeddings"]["runs"].startswith("lpot int8 weight-only")
    assert "encoder.layer.0.intermediate.dense -> encoder.layer.0.output.dense" in r["chains"]
    assert "fused gelu into encoder.layer.1.intermediate.dense" in r["fusions"]
    assert isinstance(q.model.get_submodule("encoder.layer.0.attention.self.matmul_1"), lnn.QuantMatmul)
    with torch.no_grad():
        ref, y = m(**x).last_hidden_state, _out(q.model(**x))
    # LayerNorm-scaled hidden states: 7-bit weights + u8 activations, a few %
    assert _rel(y, ref) < 0.05, _rel(y, ref)


def test_tiny_bert_matmul_and_embedding_fp32_fallback(tiny_bert):
    m, calib_batches, x = tiny_bert
    a = PyTorchAdaptor("pytorch", m, None, calib_dataloader=calib_batches)
    cfg = a.default_tune_cfg()
    mm = "encoder.layer.0.attention.self.matmul_0"
    cfg["op"][(mm, "Matmul")]["activation"]["dtype"] = "fp32"
    cfg["op"][("embeddings.word_embeddings", "Embedding")]["weight"]["dtype"] = "fp32"
    q = a.quantize(cfg)
    assert type(q.model.get_submodule(mm)) is lnn.Matmul
    assert isinstance(q.model.get_submodule("encoder.layer.0.attention.self.matmul_1"), lnn.QuantMatmul)
    assert type(q.model.embeddings.word_embeddings) is nn.Embedding
    assert isinstance(q.model.embeddings.position_embeddings, lnn.QuantEmbedding)
    ops = _by_name(q.report)
    assert ops[mm]["dtype"] == "fp32" and ops[mm]["reason"] == "tune_cfg set fp32"
    assert ops["embeddings.word_embeddings"]["dtype"] == "fp32"
    assert q.report["fp32_ops"] == 2
    with torch.no_grad():
        assert _rel(_out(q.model(**x)), m(**x).last_hidden_state) < 0.05


def test_tiny_bert_capability_entries(tiny_bert):
    m, calib_batches, _ = tiny_bert
    a = PyTorchAdaptor("pytorch", m, None, calib_dataloader=calib_batches)
    cap = {c["name"]: c for c in a.query_capability()}
    mm = cap["encoder.layer.0.attention.self.matmul_0"]
    assert mm["type"] == "Matmul" and mm["weight"] is None
    assert mm["activation"]["dtype"] == ["uint8", "fp32"]
    e = cap["embeddings.word_embeddings"]
    assert e["type"] == "Embedding" and e["weight"]["granularity"] == ["per_channel"]
    assert a.default_tune_cfg()["op"][("encoder.layer.0.attention.self.matmul_0", "Matmul")]["weight"] is None


def test_tiny_bert_dynamic_ptq(tiny_bert):
    m, calib_batches, x = tiny_bert
    a = PyTorchAdaptor("pytorch", m, DYNAMIC, calib_dataloader=calib_batches)
    q = a.quantize(a.default_tune_cfg())
    ops = _by_name(q.report)
    assert ops["encoder.layer.0.attention.self.query"]["runs"].startswith("lpot int8 dynamic")
    assert ops["encoder.layer.0.attention.self.matmul_0"]["dtype"] == "fp32"
    assert "static approach only" in ops["encoder.layer.0.attention.self.matmul_0"]["reason"]
    assert ops["embeddings.word_embeddings"]["dtype"] == "int8"
    inter = q.model.get_submodule("encoder.layer.1.intermediate.dense")
    assert isinstance(inter, lnn.DynamicQuantLinear) and inter.post_ops == ("gelu",)
    with torch.no_grad():
        assert _rel(_out(q.model(**x)), m(**x).last_hidden_state) < 0.05


@pytest.mark.parametrize("approach", ["static", "dynamic"])
def test_tiny_bert_classifier_save_load_identical(approach, tmp_path):
    _need_transformers()
    m = tm.bert("tiny", classes=3, seed=2)
    calib_batches = [tm.bert_batch(1000, 4, 16, seed=i) for i in range(2)]
    x = tm.bert_batch(1000, 3, 16, seed=42, pad=4)
    a = PyTorchAdaptor("pytorch", m, None if approach == "static" else DYNAMIC,
                       calib_dataloader=calib_batches)
    q = a.quantize(a.default_tune_cfg())
    with torch.no_grad():
        y = q.model(**x)["logits"]
        q.save(str(tmp_path))
        q2 = load(str(tmp_path), m)
        assert q2.meta["input_names"] == ["input_ids", "attention_mask"]
        assert torch.equal(q2.model(**x)["logits"], y)
        assert torch.equal(copy.deepcopy(q.model)(**x)["logits"], y)
        buf = io.BytesIO()
        torch.save(q.model.state_dict(), buf)
        buf.seek(0)
        q3 = load(str(tmp_path), m)
        q3.model.load_state_dict(torch.load(buf, weights_only=True))
        assert torch.equal(q3.model(**x)["logits"], y)
        assert _rel(y, m(**x).logits) < 0.1


def test_bert_falls_back_to_eager_swapping_when_no_tracer_works(tiny_bert, monkeypatch):
    import transformers.utils.fx as hf_fx

    def boom(*a, **k):
        raise RuntimeError("tracer disabled by the test")

    monkeypatch.setattr(hf_fx, "symbolic_trace", boom)
    m, calib_batches, x = tiny_bert
    a = PyTorchAdaptor("pytorch", m, None, calib_dataloader=calib_batches)
    assert not a.traced
    q = a.quantize(a.default_tune_cfg())
    cap = q.report["capture"]
    assert cap.startswith("eager module swapping (torch.fx tracing failed: ValueError")
    assert "transformers.utils.fx: RuntimeError: tracer disabled by the test" in cap
    types = {o["type"] for o in q.report["ops"] if o["dtype"] == "int8"}
    assert types == {"Linear", "Embedding"}   # no matmul without a graph
    assert isinstance(q.model.encoder.layer[0].attention.self.query, lnn.QuantLinear)
    with torch.no_grad():
        y = q.model(**x).last_hidden_state   # the model's own output class
        assert _rel(y, m(**x).last_hidden_state) < 0.05


def test_tiny_bert_tuning_with_op_wise_matmul_fallback(tiny_bert, tmp_path):
    """The tuner's space takes the weight-less Matmul and the weight-only
    Embedding entries; op_wise pins every attention matmul to fp32."""
    from lpot.tuning import tune

    m, calib_batches, x = tiny_bert
    with torch.no_grad():
        ref = m(**x).last_hidden_state

    def fidelity(model):
        with torch.no_grad():
            y = model(**x)
        y = y["last_hidden_state"]
        return float(F.cosine_similarity(y.reshape(-1), ref.reshape(-1), dim=0))

    a = PyTorchAdaptor("pytorch", m, None, calib_dataloader=calib_batches, eval_func=fidelity)
    res = tune(a, {"strategy": {"name": "basic"}, "accuracy_criterion": {"relative": 0.01},
                   "exit_policy": {"max_trials": 3}}, workspace=str(tmp_path), progress=False,
               quantization={"calibration": {"sampling_size": [8]},
                             "op_wise": {r".*\.matmul_\d": {"activation": {"dtype": "fp32"}}}})
    assert res.found and res.best_accuracy >= 0.99
    ops = _by_name(res.model.report)
    mm = [o for o in ops.values() if o["type"] == "Matmul"]
    assert len(mm) == 4 and all(o["dtype"] == "fp32" for o in mm)
    assert ops["embeddings.word_embeddings"]["dtype"] == "int8"
    assert ops["encoder.layer.1.output.dense"]["dtype"] == "int8"
