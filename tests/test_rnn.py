"""Dynamic int8 LSTM / GRU: lpot's own sigmoid / tanh vs libm, the dispatched
cell kernels vs their scalar references (bit for bit), one layer's C time
loop (lpot.kernels.rnn_dynamic_layer) vs NumPy references of the same
quantized math, DynamicQuantRNN vs fp32 nn.LSTM / nn.GRU, and error paths."""
from __future__ import annotations

import copy
import io

import numpy as np
import pytest

from lpot import KernelError
from lpot import _engine as E
from lpot import kernels as K

RNG = np.random.default_rng(8)
SIZES = (1, 2, 3, 5, 7, 15, 16, 17, 31, 33, 63, 127, 129, 255, 1023)
TINY = np.finfo(np.float32).tiny


def _sigmoid64(x):
    return 1.0 / (1.0 + np.exp(-x))


def _ulps(y, exact):
    """|y - exact| in units of the float32 spacing at the exact value."""
    sp = np.spacing(np.abs(exact).astype(np.float32)).astype(np.float64)
    return np.abs(y.astype(np.float64) - exact) / np.maximum(sp, np.spacing(np.float32(TINY)))


def _close(got, want, atol, rel=0.0):
    """|got - want| <= atol + rel * |want| everywhere."""
    err = np.abs(got.astype(np.float64) - want) / (atol + rel * np.abs(want))
    assert err.max() <= 1.0, f"worst {err.max():.3g}x the tolerance at {np.unravel_index(err.argmax(), err.shape)}"


# ---- activations --------------------------------------------------------------

def _grid():
    return np.concatenate([
        np.linspace(-30, 30, 600001, dtype=np.float32),
        (RNG.standard_normal(200000) * 4).astype(np.float32),
        (RNG.standard_normal(50000) * 1e-3).astype(np.float32),
        np.float32([0.625, -0.625, np.nextafter(np.float32(0.625), np.float32(0)), 1e-30, -1e-30,
                    87.33, -87.33, -87.34, 88, -88]),
    ])


@pytest.mark.parametrize("kind,f,bound", [("sigmoid", _sigmoid64, 2.5), ("tanh", np.tanh, 1.6)])
def test_activation_within_stated_ulps_of_libm(kind, f, bound):
    x = _grid()
    exact = f(x.astype(np.float64))
    for impl in ("dispatch", "ref"):
        y = E._rnn_act(x, kind, impl=impl)
        assert y.dtype == np.float32 and y.shape == x.shape
        normal = np.abs(exact) >= TINY
        err = _ulps(y[normal], exact[normal])
        assert err.max() <= bound, (impl, x[normal][err.argmax()])
        # below FLT_MIN (sigmoid of x < -87.33): flushed to 0
        assert np.all(y[~normal] == 0.0)
    # vectors all in tanh's polynomial range, all beyond it, and mixed
    np.testing.assert_array_equal(E._rnn_act(x, kind).view(np.uint32),
                                  E._rnn_act(x, kind, impl="ref").view(np.uint32))


def test_activation_special_values():
    x = np.float32([np.inf, -np.inf, np.nan, 0.0, -0.0, -200.0, 200.0])
    for impl in ("dispatch", "ref"):
        s = E._rnn_act(x, "sigmoid", impl=impl)
        np.testing.assert_array_equal(s, np.float32([1, 0, np.nan, 0.5, 0.5, 0, 1]))
        t = E._rnn_act(x, "tanh", impl=impl)
        np.testing.assert_array_equal(t, np.float32([1, -1, np.nan, 0, 0, -1, 1]))
        assert np.signbit(t[4]) and not np.signbit(t[3])   # tanh(-0) = -0


@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("kind", ["sigmoid", "tanh"])
def test_activation_vector_equals_reference_bitwise(n, kind):
    x = (RNG.standard_normal(n) * 3).astype(np.float32)
    x[::5] *= 1e-3   # tanh's polynomial branch next to the exp branch in one vector
    y, r = E._rnn_act(x, kind), E._rnn_act(x, kind, impl="ref")
    np.testing.assert_array_equal(y.view(np.uint32), r.view(np.uint32))


# ---- cells --------------------------------------------------------------------

def _lstm_cell64(xg, hg, c):
    i, f, g, o = np.split(xg.astype(np.float64) + hg, 4, axis=1)
    c = _sigmoid64(f) * c + _sigmoid64(i) * np.tanh(g)
    return _sigmoid64(o) * np.tanh(c), c


def _gru_cell64(xg, hg, hprev):
    xr, xz, xn = np.split(xg.astype(np.float64), 3, axis=1)
    hr, hz, hn = np.split(hg.astype(np.float64), 3, axis=1)
    r, z = _sigmoid64(xr + hr), _sigmoid64(xz + hz)
    n = np.tanh(xn + r * hn)
    return (1 - z) * n + z * hprev


@pytest.mark.parametrize("hs", SIZES[:13])
@pytest.mark.parametrize("mode", ["LSTM", "GRU"])
def test_cell_vector_equals_reference_and_torch_semantics(mode, hs):
    g = 4 if mode == "LSTM" else 3
    b = 3
    xg = (RNG.standard_normal((b, g * hs)) * 2).astype(np.float32)
    hg = (RNG.standard_normal((b, g * hs)) * 2).astype(np.float32)
    s = RNG.standard_normal((b, hs)).astype(np.float32)
    got, ref = E._rnn_cell(mode, xg, hg, s), E._rnn_cell(mode, xg, hg, s, impl="ref")
    if mode == "LSTM":
        for a, r in zip(got, ref):
            np.testing.assert_array_equal(a.view(np.uint32), r.view(np.uint32))
        h64, c64 = _lstm_cell64(xg, hg, s)
        _close(got[1], c64, 2e-6, 2e-6)
        _close(got[0], h64, 2e-6)
    else:
        np.testing.assert_array_equal(got.view(np.uint32), ref.view(np.uint32))
        _close(got, _gru_cell64(xg, hg, s), 2e-6, 2e-6)


# ---- one layer's time loop ------------------------------------------------------

def _packed(g, hs, bias=True):
    w = RNG.integers(-64, 65, (g * hs, hs)).astype(np.int8)
    sc = RNG.uniform(0.01, 0.03, g * hs).astype(np.float32)
    b = (RNG.standard_normal(g * hs) * 0.1).astype(np.float32) if bias else None
    return w, sc, b, K.PackedLinear(w, sc, b)


def _qlinear_dyn_np(h, w, sc, b):
    """NumPy: per-tensor u8 asym (ONNX DynamicQuantizeLinear), exact int64
    products, dequantized in float64."""
    lo, hi = min(0.0, float(h.min())), max(0.0, float(h.max()))
    s = np.float32((np.float32(hi) - np.float32(lo)) / np.float32(255))
    s = s if s > 0 else np.float32(1)
    zp = int(np.clip(np.rint(np.float64(np.float32(-lo) / s)), 0, 255))
    q = (np.clip(np.rint(h / s), -zp, 255 - zp) + zp).astype(np.int64)
    acc = (q - zp) @ w.astype(np.int64).T
    return acc * (np.float64(s) * sc.astype(np.float64)) + (0 if b is None else b)


def _layer_teacher_forced(mode, xp, out, h0, c0, hproj):
    """Each step from the kernel's own previous h (out[t-1]), so a rounding
    difference cannot flip a later quantization step; c is carried here."""
    c = None if c0 is None else c0.astype(np.float64)
    want = np.empty(out.shape)
    for t in range(xp.shape[0]):
        hprev = h0 if t == 0 else out[t - 1]
        hg = hproj(hprev)
        if mode == "LSTM":
            want[t], c = _lstm_cell64(xp[t], hg, c)
        else:
            want[t] = _gru_cell64(xp[t], hg, hprev)
    return want, c


@pytest.mark.parametrize("impl", ["auto", "ref"])
@pytest.mark.parametrize("b", [1, 3, 6])   # 6 > LPOT_QGEMV_MAX_M: oneDNN
@pytest.mark.parametrize("mode", ["LSTM", "GRU"])
def test_layer_vs_numpy_reference(mode, b, impl):
    g, hs, t_len = (4 if mode == "LSTM" else 3), 21, 6
    w, sc, bias, p = _packed(g, hs)
    xp = RNG.standard_normal((t_len, b, g * hs)).astype(np.float32)
    h0 = (RNG.standard_normal((b, hs)) * 0.5).astype(np.float32)
    c0 = RNG.standard_normal((b, hs)).astype(np.float32) if mode == "LSTM" else None
    out, h_n, c_n = K.rnn_dynamic_layer(mode, xp, p, h0, c0, impl=impl)
    assert out.shape == (t_len, b, hs) and out.dtype == np.float32
    np.testing.assert_array_equal(h_n, out[-1])
    # the int path exactly as qlinear_dynamic computes it, gates in float64
    want, c = _layer_teacher_forced(mode, xp, out, h0, c0,
                                    lambda h: K.qlinear_dynamic(np.ascontiguousarray(h), p,
                                                                impl=impl))
    _close(out, want, 3e-6)
    # the whole quantized math in NumPy (float rounding of the epilogue only)
    want2, c2 = _layer_teacher_forced(mode, xp, out, h0, c0,
                                      lambda h: _qlinear_dyn_np(h, w, sc, bias))
    _close(out, want2, 2e-5)
    if mode == "LSTM":
        _close(c_n, c, 1e-5, 1e-5)
        _close(c_n, c2, 5e-5, 5e-5)
    else:
        assert c_n is None


def test_layer_without_bias_and_empty_sequence():
    w, sc, _, p = _packed(4, 9, bias=False)
    h0 = RNG.standard_normal((2, 9)).astype(np.float32)
    c0 = RNG.standard_normal((2, 9)).astype(np.float32)
    out, h_n, c_n = K.rnn_dynamic_layer("LSTM", np.zeros((0, 2, 36), np.float32), p, h0, c0)
    assert out.shape == (0, 2, 9)
    np.testing.assert_array_equal(h_n, h0)
    np.testing.assert_array_equal(c_n, c0)
    xp = RNG.standard_normal((3, 2, 36)).astype(np.float32)
    out, _, _ = K.rnn_dynamic_layer("lstm", xp, p, h0, c0)
    want, _ = _layer_teacher_forced("LSTM", xp, out, h0, c0,
                                    lambda h: _qlinear_dyn_np(h, w, sc, None))
    _close(out, want, 2e-5)


def test_layer_accepts_non_contiguous_arrays():
    _, _, _, p = _packed(3, 8)
    xp = RNG.standard_normal((2, 4, 5, 24)).astype(np.float32)[:, :, 1]   # strided view
    h0 = RNG.standard_normal((8, 4)).astype(np.float32).T
    a = K.rnn_dynamic_layer("GRU", xp, p, h0)
    b = K.rnn_dynamic_layer("GRU", np.ascontiguousarray(xp), p, np.ascontiguousarray(h0))
    np.testing.assert_array_equal(a[0], b[0])


@pytest.mark.parametrize("call,msg", [
    (lambda p, x, h: K.rnn_dynamic_layer("RNN", x, p, h, h), r"mode: expected 'LSTM' or 'GRU'"),
    (lambda p, x, h: K.rnn_dynamic_layer("LSTM", x.astype(np.float64), p, h, h),
     r"xp: expected dtype float32"),
    (lambda p, x, h: K.rnn_dynamic_layer("LSTM", x[..., :-1], p, h, h),
     r"xp: expected shape \(T, B, 32\)"),
    (lambda p, x, h: K.rnn_dynamic_layer("LSTM", x[0], p, h, h), r"xp: expected shape"),
    (lambda p, x, h: K.rnn_dynamic_layer("LSTM", [[[0.0]]], p, h, h), r"xp: expected a numpy"),
    (lambda p, x, h: K.rnn_dynamic_layer("LSTM", x, p, h[:1], h),
     r"h0: expected shape \(B, H\) = \(2, 8\), got \(1, 8\)"),
    (lambda p, x, h: K.rnn_dynamic_layer("LSTM", x, p, h.astype(np.float16), h), r"h0: expected dtype"),
    (lambda p, x, h: K.rnn_dynamic_layer("LSTM", x, p, h), r"c0: required for LSTM"),
    (lambda p, x, h: K.rnn_dynamic_layer("LSTM", x, p, h, h[:, :3]), r"c0: expected shape"),
    (lambda p, x, h: K.rnn_dynamic_layer("GRU", x[..., :24], p, h, h), r"packed_hh: expected 3\*H = 24"),
    (lambda p, x, h: K.rnn_dynamic_layer("LSTM", x, "weights", h, h), r"packed_hh: expected a PackedLinear"),
    (lambda p, x, h: K.rnn_dynamic_layer("LSTM", x, p, h, h, impl="fast"), r"impl: expected"),
    (lambda p, x, h: E._rnn_act(h, "relu"), r"kind: expected 'sigmoid' or 'tanh'"),
    (lambda p, x, h: E._rnn_cell("GRU", x[0], x[0], h), r"xg: expected shape \(B, G\*H\) = \(2, 24\)"),
])
def test_errors_name_the_argument(call, msg):
    _, _, _, p = _packed(4, 8)
    x = np.zeros((3, 2, 32), np.float32)
    h = np.zeros((2, 8), np.float32)
    with pytest.raises(KernelError, match=msg):
        call(p, x, h)


def test_gru_with_c0_is_an_error():
    _, _, _, p = _packed(3, 8)
    h = np.zeros((2, 8), np.float32)
    with pytest.raises(KernelError, match="c0: must be None for GRU"):
        K.rnn_dynamic_layer("GRU", np.zeros((1, 2, 24), np.float32), p, h, h)


# ---- DynamicQuantRNN --------------------------------------------------------------

@pytest.fixture
def tch():
    """(torch, lpot.nn), or skip (the tests above need no framework)."""
    torch = pytest.importorskip("torch")
    import lpot.nn as lnn

    return torch, lnn


@pytest.mark.parametrize("cls", ["LSTM", "GRU"])
@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("with_hx", [False, True])
def test_module_vs_fp32(cls, batch_first, with_hx, tch):
    torch, lnn = tch
    nn = torch.nn
    torch.manual_seed(3)
    rnn = getattr(nn, cls)(10, 16, num_layers=3, batch_first=batch_first).eval()
    q = lnn.DynamicQuantRNN.from_float(rnn)
    x = torch.randn(5, 4, 10)   # (B, T) when batch_first
    hx = None
    if with_hx:
        h = torch.randn(3, 5 if batch_first else 4, 16) * 0.5
        hx = (h, torch.randn_like(h)) if cls == "LSTM" else h
    with torch.no_grad():
        (y, hq), (ref, href) = q(x, hx), rnn(x, hx)
    assert y.shape == ref.shape and y.dtype == torch.float32
    assert float((y - ref).abs().max()) < 0.03
    if cls == "LSTM":
        assert float((hq[0] - href[0]).abs().max()) < 0.03
        assert float((hq[1] - href[1]).abs().max()) < 0.06   # c is not bounded by tanh
        last = y[:, -1] if batch_first else y[-1]
        assert torch.equal(hq[0][-1], last)
    else:
        assert float((hq - href).abs().max()) < 0.03


@pytest.mark.parametrize("cls", ["LSTM", "GRU"])
def test_module_unbatched_input_matches_batch_of_one(cls, tch):
    torch, lnn = tch
    nn = torch.nn
    torch.manual_seed(4)
    rnn = getattr(nn, cls)(6, 12, num_layers=2).eval()
    q = lnn.DynamicQuantRNN.from_float(rnn)
    x = torch.randn(7, 6)
    with torch.no_grad():
        y, hq = q(x)
        y1, hq1 = q(x.unsqueeze(1))
        ref, _ = rnn(x)
    assert y.shape == ref.shape == (7, 12)
    assert torch.equal(y, y1.squeeze(1))
    if cls == "LSTM":
        assert hq[0].shape == (2, 12) and torch.equal(hq[1], hq1[1].squeeze(1))
    else:
        assert hq.shape == (2, 12)
    assert float((y - ref).abs().max()) < 0.03


def test_module_layers_chain_through_the_kernels_exactly(tch):
    torch, lnn = tch
    nn = torch.nn
    """Two layers = qlinear_dynamic on the input, the C loop, then the same on
    its output: the module adds nothing of its own."""
    torch.manual_seed(5)
    rnn = nn.LSTM(8, 12, num_layers=2).eval()
    q = lnn.DynamicQuantRNN.from_float(rnn)
    x = torch.randn(6, 3, 8)
    (p0i, p0h), (p1i, p1h) = q._packs()
    z = np.zeros((3, 12), np.float32)
    o0, h0, c0 = K.rnn_dynamic_layer("LSTM", K.qlinear_dynamic(x.numpy().reshape(18, 8), p0i)
                                     .reshape(6, 3, 48), p0h, z, z)
    o1, h1, c1 = K.rnn_dynamic_layer("LSTM", K.qlinear_dynamic(o0.reshape(18, 12), p1i)
                                     .reshape(6, 3, 48), p1h, z, z)
    with torch.no_grad():
        y, (hn, cn) = q(x)
    np.testing.assert_array_equal(y.numpy(), o1)
    np.testing.assert_array_equal(hn.numpy(), np.stack([h0, h1]))
    np.testing.assert_array_equal(cn.numpy(), np.stack([c0, c1]))


def test_module_state_dict_save_load_and_deepcopy_give_identical_outputs(tch):
    torch, lnn = tch
    nn = torch.nn
    torch.manual_seed(6)
    rnn = nn.GRU(5, 9, num_layers=2, batch_first=True).eval()
    q = lnn.DynamicQuantRNN.from_float(rnn)
    x = torch.randn(2, 4, 5)
    with torch.no_grad():
        y, _ = q(x)
        buf = io.BytesIO()
        torch.save(q.state_dict(), buf)
        buf.seek(0)
        q2 = lnn.DynamicQuantRNN("GRU", 5, 9, 2, True)
        for k, v in torch.load(buf).items():
            q2.register_buffer(k, torch.empty(0) if v is None else torch.empty_like(v))
        buf.seek(0)
        q2.load_state_dict(torch.load(buf))
        assert torch.equal(q2(x)[0], y)
        assert torch.equal(copy.deepcopy(q)(x)[0], y)
        buf = io.BytesIO()
        torch.save(q, buf)
        buf.seek(0)
        assert torch.equal(torch.load(buf, weights_only=False)(x)[0], y)


def test_module_bad_hidden_state_shape_is_a_value_error_naming_hx(tch):
    torch, lnn = tch
    nn = torch.nn
    torch.manual_seed(7)
    q = lnn.DynamicQuantRNN.from_float(nn.GRU(4, 6, num_layers=2).eval())
    with pytest.raises(ValueError, match=r"hx: expected shape \(num_layers, batch, hidden\) = "
                                         r"\(2, 2, 6\), got \(1, 2, 6\)"):
        q(torch.randn(3, 2, 4), torch.randn(1, 2, 6))
    ql = lnn.DynamicQuantRNN.from_float(nn.LSTM(4, 6).eval())
    with pytest.raises(ValueError, match=r"hx\[1\]: expected shape"):
        ql(torch.randn(3, 2, 4), (torch.randn(1, 2, 6), torch.randn(1, 3, 6)))


def test_layer_runs_from_several_threads_on_one_packed_handle():
    """The loop runs with the GIL released; the packed handle is shared."""
    from concurrent.futures import ThreadPoolExecutor

    _, _, _, p = _packed(4, 40)
    jobs = []
    for b in (1, 2, 5, 8):
        xp = RNG.standard_normal((12, b, 160)).astype(np.float32)
        h0 = RNG.standard_normal((b, 40)).astype(np.float32)
        jobs.append((xp, h0))
    serial = [K.rnn_dynamic_layer("LSTM", xp, p, h0, h0) for xp, h0 in jobs]
    with ThreadPoolExecutor(4) as ex:
        par = list(ex.map(lambda j: K.rnn_dynamic_layer("LSTM", j[0], p, j[1], j[1]), jobs * 3))
    for i, got in enumerate(par):
        for a, b in zip(got, serial[i % len(jobs)]):
            np.testing.assert_array_equal(a, b)
