"""The BERT-shaped classifier fixture (tests/fixtures/torch_models.py, used by
bench/bench_end_to_end.py): its attention matches the textbook formula, the
same seed builds the same model, fit_head splits the classes, and lpot's
PyTorch adaptor quantizes every Linear of it."""
from __future__ import annotations

import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from lpot.adaptor.pytorch import PyTorchAdaptor  # noqa: E402
from tests.fixtures import torch_models as tm  # noqa: E402

TINY = dict(vocab=128, hidden=32, layers=2, heads=4, ffn=64, max_len=16)


def _tiny(seed: int = 0) -> "tm.BertClassifier":
    return tm.BertClassifier(seed=seed, **TINY).eval()


def _tokens(n: int, seed: int) -> torch.Tensor:
    return torch.from_numpy(tm.bert_tokens(n, seq=16, vocab=128, seed=seed, low=103))


def test_tokens_are_cls_sep_framed_and_seeded():
    a = tm.bert_tokens(5, seq=16, vocab=128, seed=3, low=103)
    assert a.shape == (5, 16) and a.dtype == np.int64
    assert (a[:, 0] == 101).all() and (a[:, -1] == 102).all()
    assert ((a[:, 1:-1] >= 103) & (a[:, 1:-1] < 128)).all()
    assert np.array_equal(a, tm.bert_tokens(5, seq=16, vocab=128, seed=3, low=103))
    assert not np.array_equal(a, tm.bert_tokens(5, seq=16, vocab=128, seed=4, low=103))


def test_layer_matches_textbook_attention():
    torch.manual_seed(0)
    layer = tm.BertLayer(32, 4, 64).eval()
    x = torch.randn(2, 7, 32)
    q, k, v = (m(x).reshape(2, 7, 4, 8).transpose(1, 2) for m in (layer.query, layer.key, layer.value))
    att = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(8), dim=-1) @ v
    h = layer.attn_norm(x + layer.attn_out(att.transpose(1, 2).reshape(2, 7, 32)))
    ref = layer.ffn_norm(h + layer.ffn_out(torch.nn.functional.gelu(layer.ffn_in(h))))
    with torch.no_grad():
        torch.testing.assert_close(layer(x), ref.detach(), rtol=1e-5, atol=1e-5)


def test_same_seed_same_model_and_shapes():
    a, b, c = _tiny(0), _tiny(0), _tiny(1)
    for (ka, va), (_, vb), (_, vc) in zip(a.state_dict().items(), b.state_dict().items(),
                                          c.state_dict().items()):
        assert torch.equal(va, vb), ka
    assert not torch.equal(a.word.weight, c.word.weight)
    w = a.layers[0].query.weight.detach()
    assert abs(float(w.std()) - 0.02) < 0.004 and float(a.layers[0].query.bias.detach().abs().max()) == 0.0
    with torch.no_grad():
        assert a(_tokens(3, 0)).shape == (3, 2)


def test_fit_head_splits_classes_with_unit_spread():
    m = _tiny()
    probe = _tokens(64, 2)
    m.fit_head(probe)
    with torch.no_grad():
        logits = m(probe)
    margin = (logits[:, 0] - logits[:, 1]) / 2          # the centred projection
    assert abs(float(margin.mean())) < 1e-4
    assert abs(float(margin.std()) - 1.0) < 1e-4
    pred = logits.argmax(1)
    assert 0 < int(pred.sum()) < len(pred)               # both classes occur


def test_lpot_quantizes_every_linear():
    m = _tiny()
    m.fit_head(_tokens(32, 2))
    calib = [(_tokens(8, 3), torch.zeros(8, dtype=torch.long))]
    a = PyTorchAdaptor("pytorch", m, None, calib_dataloader=calib)
    q = a.quantize(a.default_tune_cfg(sampling_size=8))
    linears = [n for n, mod in m.named_modules() if isinstance(mod, torch.nn.Linear)]
    assert len(linears) == TINY["layers"] * 6 + 2
    int8 = {o["name"] for o in q.report["ops"] if o["dtype"] in ("int8", "uint8")}
    # every Linear, plus (static, traced) the weight-only embedding tables and
    # the two attention matmuls of each layer (from the split SDPA)
    matmuls = {f"layers.{i}.matmul_{j}" for i in range(TINY["layers"]) for j in (0, 1)}
    assert int8 == set(linears) | {"word", "position"} | matmuls
    x = _tokens(16, 1)
    got = {}
    hooks = [mod.get_submodule("pooler").register_forward_hook(
        lambda _m, _i, o, k=k: got.__setitem__(k, o)) for k, mod in (("int8", q.model), ("fp32", m))]
    with torch.no_grad():
        q.model(x)
        m(x)
    for h in hooks:
        h.remove()
    # the pooler's output (before the head: fit_head aims it at the small
    # input-dependent part of the features, which magnifies any error)
    rel = float(torch.linalg.norm(got["int8"] - got["fp32"]) / torch.linalg.norm(got["fp32"]))
    assert 0 < rel < 0.05
