"""int8 kernels: linear, conv2d, matmul, dynamic linear vs NumPy references.

Tolerances: int32 accumulation is compared exactly. Float32 output is within
1e-5 relative of the float64 reference (plus 1e-4 absolute for gelu).
Quantized (u8/s8) output is within 1 of the float64 reference (a value that
lands on a rounding tie can round either way in float32).
"""
import threading

import numpy as np
import pytest

import lpot
from lpot import kernels as K
from kernels_ref import conv_acc, dyn_qparams, epilogue, linear_acc, quantize_u8, run_in_threads

RNG = np.random.default_rng(20261127)


def exact_isa():
    return K.last_impl()["isa"] in ("avx2_vnni", "avx2_vnni_2", "avx512_core_vnni",
                                    "avx512_core_bf16", "avx512_core_fp16",
                                    "avx512_core_amx", "avx512_core_amx_fp16")


def weights(shape, bits=8):
    lo, hi = (-128, 128) if bits == 8 else (-64, 65)
    return RNG.integers(lo, hi, shape, dtype=np.int8)


def acts(shape, dtype=np.uint8):
    info = np.iinfo(dtype)
    return RNG.integers(info.min, info.max + 1, shape, dtype=dtype)


def zp_for(dtype):
    return 131 if dtype == np.uint8 else -7


def assert_q_close(got, want):
    diff = np.abs(got.astype(np.int64) - want.astype(np.int64))
    assert diff.max(initial=0) <= 1, diff.max()
    assert (diff > 0).mean() < 0.01


# ---- linear ------------------------------------------------------------------

@pytest.mark.parametrize("m,k,n", [(1, 1, 1), (1, 17, 3), (3, 129, 17), (17, 3, 129),
                                   (64, 129, 33), (1, 768, 64)])
@pytest.mark.parametrize("xdt", [np.uint8, np.int8])
@pytest.mark.parametrize("bits", [8, 7])
def test_linear_int32_exact(m, k, n, xdt, bits):
    w = weights((n, k), bits)
    x = acts((m, k), xdt)
    p = K.PackedLinear(w, np.float32(0.01))
    want = linear_acc(x, zp_for(xdt), w)
    got = K.qlinear(x, p, 0.1, zp_for(xdt), out_dtype="int32")
    assert got.dtype == np.int32 and got.shape == (m, n)
    np.testing.assert_array_equal(got, want)
    impl = K.last_impl()["linear"]
    assert impl and impl != "lpot:ref"
    np.testing.assert_array_equal(K.qlinear(x, p, 0.1, zp_for(xdt), out_dtype="int32", impl="ref"), want)
    assert K.last_impl()["linear"] == "lpot:ref"


@pytest.mark.parametrize("per_channel", [False, True])
@pytest.mark.parametrize("out", ["float32", "uint8", "int8"])
@pytest.mark.parametrize("post", [(), ("relu",), ("gelu",), ("gelu_tanh",), ("sum",), ("sum", "relu")])
def test_linear_epilogue(per_channel, out, post):
    m, k, n = 17, 129, 33
    w = weights((n, k), 7)
    ws = RNG.uniform(0.002, 0.02, n if per_channel else 1).astype(np.float32)
    bias = RNG.standard_normal(n).astype(np.float32)
    x = acts((m, k))
    p = K.PackedLinear(w, ws, bias)
    kw = dict(out_dtype=out, out_scale=0.05, out_zp=10 if out == "uint8" else -3, post_ops=list(post))
    res = None
    if "sum" in post:
        res = (RNG.standard_normal((m, n)).astype(np.float32) if out == "float32"
               else acts((m, n), np.dtype(out).type))
        kw["sum_input"] = res
    got = K.qlinear(x, p, 0.02, 128, **kw)
    q = out != "float32"
    want = epilogue(linear_acc(x, 128, w), 0.02, ws, bias, post, residual=res,
                    sum_scale=0.05 if q else 1.0, sum_zp=kw["out_zp"] if q else 0,
                    out_dtype=out, out_scale=0.05, out_zp=kw["out_zp"])
    assert got.dtype == np.dtype(out)
    if q:
        assert_q_close(got, want)
    else:
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-4)
    ref = K.qlinear(x, p, 0.02, 128, impl="ref", **kw)
    if q:
        assert_q_close(ref, want)
    else:
        np.testing.assert_allclose(ref, want, rtol=1e-5, atol=1e-4)


@pytest.mark.parametrize("out,post", [("float32", ()), ("uint8", ("relu",)), ("int8", ()),
                                      ("uint8", ("gelu",))])
def test_linear_full_range_epilogue(out, post):
    """8-bit weights and activations (the split path on CPUs without VNNI)."""
    m, k, n = 64, 129, 1030  # more columns than one epilogue chunk
    w = weights((n, k))
    ws = RNG.uniform(0.0005, 0.002, n).astype(np.float32)
    b = RNG.standard_normal(n).astype(np.float32)
    x = acts((m, k))
    p = K.PackedLinear(w, ws, b)
    kw = dict(out_dtype=out, out_scale=0.25, out_zp=128 if out == "uint8" else 0, post_ops=list(post))
    got = K.qlinear(x, p, 0.01, 131, **kw)
    want = epilogue(linear_acc(x, 131, w), 0.01, ws, b, post, out_dtype=out, out_scale=0.25,
                    out_zp=kw["out_zp"])
    if out == "float32":
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-4)
    else:
        assert_q_close(got, want)


def test_linear_leading_dims_and_batch_64():
    w = weights((17, 31))
    p = K.PackedLinear(w, np.full(17, 0.01, np.float32))
    x = acts((2, 32, 31))
    got = K.qlinear(x, p, 0.1, 3, out_dtype="int32")
    assert got.shape == (2, 32, 17)
    np.testing.assert_array_equal(got.reshape(64, 17), linear_acc(x.reshape(64, 31), 3, w))


def test_linear_saturation_split_reported():
    """8-bit weights and 8-bit activations: exact everywhere; on a CPU without
    VNNI the exact path is the split one and says so."""
    w = np.full((4, 64), -128, np.int8)
    x = np.full((8, 64), 255, np.uint8)  # 8 rows: past lpot's own small-M kernel
    p = K.PackedLinear(w, np.float32(1.0))
    got = K.qlinear(x, p, 1.0, 0, out_dtype="int32")
    np.testing.assert_array_equal(got, np.full((8, 4), 255 * -128 * 64))
    impl = K.last_impl()["linear"]
    assert impl.endswith("+split") != exact_isa()
    # 7-bit activations never need the split
    K.qlinear(np.full((8, 64), 127, np.uint8), p, 1.0, 0, out_dtype="int32")
    assert not K.last_impl()["linear"].endswith("+split")


SIZES = [1, 2, 3, 5, 7, 15, 16, 17, 31, 33, 63, 127, 129, 255, 1023]


@pytest.mark.parametrize("k", SIZES)
@pytest.mark.parametrize("xdt", [np.uint8, np.int8])
def test_small_m_kernel_vector_vs_ref(k, xdt):
    """lpot's own small-M kernel: the vector version equals the scalar one
    and NumPy exactly (full-range weights and activations)."""
    n = SIZES[(SIZES.index(k) * 7) % len(SIZES)]
    for m in (1, 2, 3, 4):
        x = acts((m, k), xdt)
        w = weights((n, k))
        want = x.astype(np.int64) @ w.astype(np.int64).T
        np.testing.assert_array_equal(lpot._engine._qgemv_s8(x, w, impl="ref"), want)
        np.testing.assert_array_equal(lpot._engine._qgemv_s8(x, w), want)


def test_small_m_linear_uses_own_kernel_where_onednn_saturates():
    w = weights((129, 255))
    ws = RNG.uniform(0.01, 0.02, 129).astype(np.float32)
    b = RNG.standard_normal(129).astype(np.float32)
    p = K.PackedLinear(w, ws, b)
    for m in (1, 2, 3, 4, 5):
        x = acts((m, 255))
        np.testing.assert_array_equal(K.qlinear(x, p, 0.1, 130, out_dtype="int32"), linear_acc(x, 130, w))
        impl = K.last_impl()["linear"]
        own = m <= 4 and not exact_isa() and lpot.cpu_features()["used"]["avx2"]
        assert (impl == "lpot:gemv_avx2") == own, (m, impl)
        np.testing.assert_array_equal(K.qlinear(x, p, 0.1, 130, out_dtype="int32", impl="onednn"),
                                      linear_acc(x, 130, w))
        assert K.last_impl()["linear"] not in ("lpot:gemv_avx2", "lpot:ref")
        got = K.qlinear(x, p, 0.1, 130, out_dtype="uint8", out_scale=0.3, out_zp=9, post_ops=["relu"])
        want = epilogue(linear_acc(x, 130, w), 0.1, ws, b, ("relu",), out_dtype="uint8", out_scale=0.3, out_zp=9)
        assert_q_close(got, want)


def own_small_m():
    return not exact_isa() and lpot.cpu_features()["used"]["avx2"]


@pytest.mark.parametrize("k", SIZES)
def test_small_m_u8s8_kernel_vector_vs_ref(k):
    """The 7-bit-weight small-M kernel (qgemv_u8s8, the contract of the conv
    tile kernel): equal to NumPy for 7-bit weights and to the scalar twin
    (pair saturation included) for full-range ones, also accumulating."""
    n = SIZES[(SIZES.index(k) * 5 + 3) % len(SIZES)]
    for m in (1, 2, 3, 4, 5, 9):
        a = acts((m, k))
        w = weights((n, k), 7)
        want = a.astype(np.int64) @ w.astype(np.int64).T
        np.testing.assert_array_equal(lpot._engine._qgemm_u8s8(a, w, impl="gemv"), want)
        add = RNG.integers(-100000, 100000, n, dtype=np.int32)
        np.testing.assert_array_equal(lpot._engine._qgemm_u8s8(a, w, impl="gemv", add=add), want + add)
        w8 = weights((n, k))
        np.testing.assert_array_equal(lpot._engine._qgemm_u8s8(a, w8, impl="gemv"),
                                      lpot._engine._qgemm_u8s8(a, w8, impl="ref"))


SMALL_M_SHAPES = [(k, SIZES[(i * 7 + 2) % len(SIZES)]) for i, k in enumerate(SIZES[:13])] + [
    (768, 768), (768, 3072), (3072, 768), (17, 2), (5, 1)]


@pytest.mark.parametrize("k,n", SMALL_M_SHAPES)
@pytest.mark.parametrize("bits", [7, 8])
def test_small_m_linear_exact(k, n, bits):
    """M = 1..4 through qlinear (lpot's own kernels on CPUs without VNNI: the
    u8 x s8 one for 7-bit weights, the int16 one for 8-bit): int32 exactly
    as NumPy for u8 and s8 activations with zero points, u8 output within
    1, on one thread and on two (the same results)."""
    w = weights((n, k), bits)
    ws = RNG.uniform(0.01, 0.02, n).astype(np.float32)
    b = RNG.standard_normal(n).astype(np.float32)
    p = K.PackedLinear(w, ws, b)
    want_impl = ("lpot:gemv_u8s8_avx2" if bits == 7 else "lpot:gemv_avx2") if own_small_m() else None
    try:
        for m in (1, 2, 3, 4):
            for xdt in (np.uint8, np.int8):
                x, zp = acts((m, k), xdt), zp_for(xdt)
                acc = linear_acc(x, zp, w)
                outs = []
                for nt in (1, 2):
                    lpot.set_num_threads(nt)
                    got = K.qlinear(x, p, 0.1, zp, out_dtype="int32")
                    np.testing.assert_array_equal(got, acc)
                    if want_impl:
                        assert K.last_impl()["linear"] == want_impl
                        big = m * k * n >= 3e5
                        assert K.last_impl()["threads"] == (nt if big else 1), (m, nt)
                    outs.append(K.qlinear(x, p, 0.1, zp, out_dtype="uint8", out_scale=0.3, out_zp=9,
                                          post_ops=["relu"]))
                np.testing.assert_array_equal(outs[0], outs[1])
                want = epilogue(acc, 0.1, ws, b, ("relu",), out_dtype="uint8", out_scale=0.3, out_zp=9)
                assert_q_close(outs[0], want)
    finally:
        lpot.set_num_threads(0)


@pytest.mark.parametrize("out,post,per_channel", [("float32", (), False), ("int8", ("gelu",), True),
                                                  ("uint8", ("sum", "relu"), True), ("float32", ("sum",), False)])
def test_small_m_epilogue_split_among_threads(out, post, per_channel):
    """The small-M path runs each thread's channels' epilogue in that thread:
    per-tensor / per-channel scales, bias, post-ops (sum reads the output)
    as the scalar reference, one thread and two alike."""
    k, n = 768, 771  # 590K+ multiply-adds: a team of 2; 771 channels: a ragged last block
    w = weights((n, k), 7)
    ws = RNG.uniform(0.002, 0.004, n if per_channel else 1).astype(np.float32)
    b = RNG.standard_normal(n).astype(np.float32)
    p = K.PackedLinear(w, ws, b)
    q = out != "float32"
    try:
        for m in (1, 3):
            x = acts((m, k))
            kw = dict(out_dtype=out, out_scale=0.5, out_zp=10 if out == "uint8" else -3, post_ops=list(post))
            res = None
            if "sum" in post:
                res = RNG.standard_normal((m, n)).astype(np.float32) if not q else acts((m, n), np.dtype(out).type)
            want = epilogue(linear_acc(x, 128, w), 0.02, ws, b, post, residual=res,
                            sum_scale=0.5 if q else 1.0, sum_zp=kw["out_zp"] if q else 0,
                            out_dtype=out, out_scale=0.5, out_zp=kw["out_zp"])
            got = []
            for nt in (1, 2):
                lpot.set_num_threads(nt)
                y = K.qlinear(x, p, 0.02, 128, sum_input=None if res is None else res.copy(), **kw)
                if own_small_m():  # oneDNN keeps a call this small on one thread
                    assert K.last_impl()["threads"] == nt
                got.append(y)
            np.testing.assert_array_equal(got[0], got[1])
            if q:
                assert_q_close(got[0], want)
            else:
                np.testing.assert_allclose(got[0], want, rtol=1e-5, atol=1e-4)
    finally:
        lpot.set_num_threads(0)


def test_small_m_threads_left_to_lpot():
    """set_num_threads(0): lpot's own small-M kernel measures one thread and
    the default team (both seen, same results)."""
    w = weights((1024, 768), 7)
    p = K.PackedLinear(w, np.float32(0.01))
    x = acts((1, 768))
    want = linear_acc(x, 3, w)
    seen = set()
    for _ in range(8):
        np.testing.assert_array_equal(K.qlinear(x, p, 1.0, 3, out_dtype="int32"), want)
        seen.add(K.last_impl()["threads"])
    assert seen <= {1, lpot.get_num_threads()}
    if own_small_m() and lpot.get_num_threads() > 1:
        assert seen == {1, lpot.get_num_threads()}


def test_small_m_two_python_threads_share_a_team_sized_call():
    """Two Python threads on one 7-bit PackedLinear, each call split among
    an OpenMP team of 2 (set_num_threads(2), 590K+ multiply-adds)."""
    w = weights((768, 768), 7)
    p = K.PackedLinear(w, RNG.uniform(0.01, 0.02, 768).astype(np.float32))
    inputs = [(acts((m, 768), xdt), zp_for(xdt)) for m in (1, 2, 3, 4) for xdt in (np.uint8, np.int8)]
    wants = [linear_acc(x, zp, w) for x, zp in inputs]

    def work(seed):
        for i in range(12):
            j = (i + seed) % len(inputs)
            np.testing.assert_array_equal(K.qlinear(inputs[j][0], p, 1.0, inputs[j][1], out_dtype="int32"), wants[j])

    try:
        lpot.set_num_threads(2)
        assert not run_in_threads(work)
    finally:
        lpot.set_num_threads(0)


def test_packed_linear_properties():
    w = weights((33, 65))
    p = K.PackedLinear(w, np.full(33, 0.5, np.float32), m_hint=1)
    assert (p.out_features, p.in_features) == (33, 65)
    assert p.impl and p.packed_bytes >= 33 * 65
    np.testing.assert_array_equal(p.weight, w)
    np.testing.assert_array_equal(p.w_scales, np.full(33, 0.5, np.float32))


def test_linear_repeated_shapes_reuse_and_new_shapes_work():
    w = weights((9, 40), 7)
    p = K.PackedLinear(w, np.float32(0.1))
    for m in (1, 5, 1, 5, 2, 129):
        x = acts((m, 40))
        np.testing.assert_array_equal(K.qlinear(x, p, 1.0, 7, out_dtype="int32"), linear_acc(x, 7, w))


# ---- own GEMM for M > 4 (7-bit weights, CPUs without VNNI) ----------------------

GEMM7_IMPL = "lpot:gemm_u8s8_avx2"
GEMM_MS = (5, 6, 7, 13, 35, 128, 300)


@pytest.mark.parametrize("k,n", [(1, 3), (3, 17), (17, 1), (63, 129), (129, 63), (768, 17),
                                 (4, 768), (64, 33)])
@pytest.mark.parametrize("xdt", [np.uint8, np.int8])
def test_gemm7_linear_int32_exact(k, n, xdt):
    """M > 4 rows of 7-bit weights: lpot's own 6x16 tile GEMM (the conv
    path's driver) where there is no VNNI. int32 exactly as NumPy with a
    nonzero zero point (u8 rows read in place when K % 4 == 0, else copied;
    s8 shifted to u8), the same on 1 and 2 threads, impl names."""
    w = weights((n, k), 7)
    p = K.PackedLinear(w, np.float32(0.01))
    own = own_small_m()
    try:
        for m in GEMM_MS:
            x, zp = acts((m, k), xdt), zp_for(xdt)
            want = linear_acc(x, zp, w)
            outs = []
            for nt in (1, 2):
                lpot.set_num_threads(nt)
                got = K.qlinear(x, p, 0.1, zp, out_dtype="int32")
                np.testing.assert_array_equal(got, want)
                if own:
                    assert K.last_impl()["linear"] == GEMM7_IMPL, m
                outs.append(K.qlinear(x, p, 0.1, zp, out_dtype="uint8", out_scale=0.5, out_zp=7))
            np.testing.assert_array_equal(outs[0], outs[1])
            forced = K.qlinear(x, p, 0.1, zp, out_dtype="int32", impl="onednn")
            np.testing.assert_array_equal(forced, want)
            assert not K.last_impl()["linear"].startswith("lpot:gemm")
    finally:
        lpot.set_num_threads(0)


@pytest.mark.parametrize("per_channel", [False, True])
@pytest.mark.parametrize("out", ["float32", "uint8", "int8"])
@pytest.mark.parametrize("post", [(), ("relu",), ("gelu",), ("sum",), ("sum", "relu")])
def test_gemm7_linear_epilogue(per_channel, out, post):
    """Scales, bias and post-ops on the own GEMM path: as the float64
    reference, the same on 2 threads, the same as oneDNN's output."""
    k, n = 63, 129
    w = weights((n, k), 7)
    ws = RNG.uniform(0.002, 0.02, n if per_channel else 1).astype(np.float32)
    bias = RNG.standard_normal(n).astype(np.float32)
    p = K.PackedLinear(w, ws, bias)
    q = out != "float32"
    try:
        for m in (13, 300):
            x = acts((m, k))
            kw = dict(out_dtype=out, out_scale=0.05, out_zp=10 if out == "uint8" else -3,
                      post_ops=list(post))
            res = None
            if "sum" in post:
                res = (RNG.standard_normal((m, n)).astype(np.float32) if out == "float32"
                       else acts((m, n), np.dtype(out).type))
                kw["sum_input"] = res
            want = epilogue(linear_acc(x, 131, w), 0.02, ws, bias, post, residual=res,
                            sum_scale=0.05 if q else 1.0, sum_zp=kw["out_zp"] if q else 0,
                            out_dtype=out, out_scale=0.05, out_zp=kw["out_zp"])
            gelu = "gelu" in post
            if gelu and own_small_m():
                # AUTO leaves a gelu epilogue to oneDNN (scalar erf per value costs
                # more than the own GEMM saves); impl='own' still runs it here
                K.qlinear(x, p, 0.02, 131, **kw)
                assert not K.last_impl()["linear"].startswith("lpot:")
            outs = []
            for nt in (1, 2):
                lpot.set_num_threads(nt)
                outs.append(K.qlinear(x, p, 0.02, 131, **kw, **({"impl": "own"} if gelu else {})))
                if own_small_m():
                    assert K.last_impl()["linear"] == GEMM7_IMPL
            np.testing.assert_array_equal(outs[0], outs[1])
            got = outs[0]
            assert got.dtype == np.dtype(out) and got.shape == (m, n)
            if q:
                assert_q_close(got, want)
            else:
                np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-4)
    finally:
        lpot.set_num_threads(0)


def test_gemm7_linear_choice():
    """AUTO: the own GEMM up to its row threshold, oneDNN above; impl='own'
    forces it at any M; full-range (8-bit) weights never take it (vpmaddubsw
    could saturate) and stay exact."""
    if not own_small_m():
        pytest.skip("lpot's own GEMM runs only on AVX2 CPUs without VNNI")
    k, n = 32, 40
    w7, w8 = weights((n, k), 7), weights((n, k))
    p7, p8 = K.PackedLinear(w7, np.float32(0.01)), K.PackedLinear(w8, np.float32(0.01))
    x = acts((2000, k))
    got = K.qlinear(x, p7, 0.1, 3, out_dtype="int32")
    assert not K.last_impl()["linear"].startswith("lpot:")
    np.testing.assert_array_equal(got, linear_acc(x, 3, w7))
    got = K.qlinear(x, p7, 0.1, 3, out_dtype="int32", impl="own")
    assert K.last_impl()["linear"] == GEMM7_IMPL
    np.testing.assert_array_equal(got, linear_acc(x, 3, w7))
    for m in (5, 35, 128):
        for impl in ("auto", "own"):
            got = K.qlinear(x[:m], p8, 0.1, 3, out_dtype="int32", impl=impl)
            assert K.last_impl()["linear"] != GEMM7_IMPL
            np.testing.assert_array_equal(got, linear_acc(x[:m], 3, w8))


def test_gemm7_dynamic_linear():
    """The dynamic linear (BERT's dynamic linears, per tensor; an LSTM's
    input projection over a sequence, per row) takes the own GEMM for M > 4."""
    w = weights((130, 96), 7)
    ws = RNG.uniform(0.01, 0.02, 130).astype(np.float32)
    b = RNG.standard_normal(130).astype(np.float32)
    p = K.PackedLinear(w, ws, b)
    x = RNG.standard_normal((35, 96)).astype(np.float32)
    for post in ((), ("gelu",)):
        y, s, z = K.qlinear_dynamic(x, p, post_ops=list(post), return_qparams=True)
        if own_small_m():  # gelu epilogues stay on oneDNN (see test_gemm7_linear_epilogue)
            assert (K.last_impl()["linear"] == GEMM7_IMPL) == (not post)
        want = epilogue(linear_acc(quantize_u8(x, s[0], z[0]), z[0], w), float(s[0]), ws, b, post)
        np.testing.assert_allclose(y, want, rtol=1e-5, atol=1e-4)
    y, s, z = K.qlinear_dynamic(x, p, per_row=True, return_qparams=True)
    if own_small_m():
        assert K.last_impl()["linear"] == GEMM7_IMPL
    for i in range(35):
        want = epilogue(linear_acc(quantize_u8(x[i:i + 1], s[i], z[i]), z[i], w), float(s[i]), ws, b)
        np.testing.assert_allclose(y[i:i + 1], want, rtol=1e-5, atol=1e-4)


# ---- dynamic linear ------------------------------------------------------------

def test_dynamic_linear_per_tensor():
    w = weights((24, 48), 7)
    ws = RNG.uniform(0.01, 0.02, 24).astype(np.float32)
    b = RNG.standard_normal(24).astype(np.float32)
    p = K.PackedLinear(w, ws, b)
    x = RNG.standard_normal((5, 48)).astype(np.float32)
    y, s, z = K.qlinear_dynamic(x, p, return_qparams=True)
    es, ez = dyn_qparams(x)
    assert s.shape == (1,) and np.isclose(s[0], es) and z[0] == ez
    want = epilogue(linear_acc(quantize_u8(x, es, ez), ez, w), float(es), ws, b)
    np.testing.assert_allclose(y, want, rtol=1e-5, atol=1e-4)
    # and close to the float result
    np.testing.assert_allclose(y, x @ (w * ws[:, None]).T + b, atol=0.05 * np.abs(want).max())


@pytest.mark.parametrize("bits", [7, 8])
@pytest.mark.parametrize("rows", [1, 4, 6])
def test_dynamic_linear_per_row(bits, rows):
    """Per-row dynamic quantization (the recurrent step of a dynamic LSTM at
    rows=1: lpot's own small-M kernels on CPUs without VNNI)."""
    w = weights((24, 48), bits)
    ws = RNG.uniform(0.01, 0.02, 24).astype(np.float32)
    p = K.PackedLinear(w, ws)
    x = RNG.standard_normal((rows, 48)).astype(np.float32) * np.arange(1, rows + 1, dtype=np.float32)[:, None]
    y, s, z = K.qlinear_dynamic(x, p, per_row=True, post_ops=["relu"], return_qparams=True)
    if rows <= 4 and own_small_m():
        assert K.last_impl()["linear"] == ("lpot:gemv_u8s8_avx2" if bits == 7 else "lpot:gemv_avx2")
    elif bits == 7 and own_small_m():
        assert K.last_impl()["linear"] == "lpot:gemm_u8s8_avx2"
    assert s.shape == (rows,) and z.shape == (rows,)
    for i in range(rows):
        es, ez = dyn_qparams(x[i])
        assert np.isclose(s[i], es) and z[i] == ez
        want = epilogue(linear_acc(quantize_u8(x[i:i + 1], es, ez), ez, w), float(es), ws, post=("relu",))
        np.testing.assert_allclose(y[i:i + 1], want, rtol=1e-5, atol=1e-4)


# ---- conv2d ---------------------------------------------------------------------

CONVS = [
    # ic, oc, k, stride, pad(t,l,b,r), dil, groups, h, w
    (8, 16, 1, 1, (0, 0, 0, 0), 1, 1, 7, 7),        # 1x1
    (3, 8, 3, 1, (1, 1, 1, 1), 1, 1, 9, 9),         # 3x3 same
    (3, 16, 7, 2, (3, 3, 3, 3), 1, 1, 17, 17),      # 7x7 stride 2 (ResNet stem)
    (8, 8, 3, 2, (1, 1, 1, 1), 1, 1, 15, 15),       # stride 2
    (4, 8, 3, 1, (2, 2, 2, 2), 2, 1, 11, 13),       # dilation 2
    (8, 12, 3, 1, (1, 0, 2, 1), 1, 2, 10, 9),       # groups 2, asymmetric padding
    (16, 16, 3, 1, (1, 1, 1, 1), 1, 16, 12, 12),    # depthwise
    (16, 32, 3, 2, (1, 1, 1, 1), 1, 16, 12, 12),    # depthwise multiplier 2, stride 2
    (5, 3, 1, 1, (0, 0, 0, 0), 1, 1, 1, 1),         # odd tiny
]


@pytest.mark.parametrize("cfg", CONVS, ids=lambda c: "ic%d_oc%d_k%d_s%d_d%d_g%d" % (c[0], c[1], c[2], c[3], c[5], c[6]))
@pytest.mark.parametrize("layout", ["NCHW", "NHWC"])
@pytest.mark.parametrize("xdt", [np.uint8, np.int8])
def test_conv_int32_exact(cfg, layout, xdt):
    ic, oc, k, s, pad, d, g, h, wd = cfg
    w = weights((oc, ic // g, k, k))
    p = K.PackedConv2d(w, np.float32(0.01), stride=s, padding=pad, dilation=d, groups=g)
    x = acts((2, ic, h, wd), xdt)
    want = conv_acc(x, zp_for(xdt), w, (s, s), pad, (d, d), g)
    xi = x if layout == "NCHW" else np.ascontiguousarray(x.transpose(0, 2, 3, 1))
    got = K.qconv2d(xi, p, 0.1, zp_for(xdt), out_dtype="int32", layout=layout)
    if layout == "NHWC":
        got = got.transpose(0, 3, 1, 2)
    np.testing.assert_array_equal(got, want)
    assert K.last_impl()["conv2d"] != "lpot:ref"
    ref = K.qconv2d(xi, p, 0.1, zp_for(xdt), out_dtype="int32", layout=layout, impl="ref")
    np.testing.assert_array_equal(ref if layout == "NCHW" else ref.transpose(0, 3, 1, 2), want)


@pytest.mark.parametrize("per_channel", [False, True])
@pytest.mark.parametrize("layout", ["NCHW", "NHWC"])
@pytest.mark.parametrize("out,post", [("uint8", ("relu",)), ("float32", ()), ("int8", ("sum",)),
                                      ("uint8", ("sum", "relu"))])
@pytest.mark.parametrize("batch", [1, 64])
def test_conv_epilogue(per_channel, layout, out, post, batch):
    ic, oc = 8, 16
    w = weights((oc, ic, 3, 3), 7)
    ws = RNG.uniform(0.002, 0.02, oc if per_channel else 1).astype(np.float32)
    b = RNG.standard_normal(oc).astype(np.float32)
    p = K.PackedConv2d(w, ws, b, stride=1, padding=1)
    x = acts((batch, ic, 6, 5))
    acc = conv_acc(x, 100, w, pad=(1, 1, 1, 1))
    kw = dict(out_dtype=out, out_scale=0.07, out_zp=20 if out == "uint8" else -2, post_ops=list(post),
              layout=layout)
    res = None
    if "sum" in post:
        res = (RNG.standard_normal(acc.shape).astype(np.float32) if out == "float32"
               else acts(acc.shape, np.dtype(out).type))
        kw["sum_input"] = res if layout == "NCHW" else np.ascontiguousarray(res.transpose(0, 2, 3, 1))
    q = out != "float32"
    want = epilogue(acc, 0.03, ws, b, post, residual=res, sum_scale=0.07 if q else 1.0,
                    sum_zp=kw["out_zp"] if q else 0, out_dtype=out, out_scale=0.07,
                    out_zp=kw["out_zp"], channel_axis=1)
    xi = x if layout == "NCHW" else np.ascontiguousarray(x.transpose(0, 2, 3, 1))
    got = K.qconv2d(xi, p, 0.03, 100, **kw)
    if layout == "NHWC":
        got = got.transpose(0, 3, 1, 2)
    if q:
        assert_q_close(got, want)
    else:
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-4)


def test_packed_conv_properties():
    w = weights((8, 2, 3, 5))
    p = K.PackedConv2d(w, np.float32(1.0), stride=(2, 1), padding=(1, 2), dilation=(1, 2), groups=2)
    g = p.geometry
    assert g["out_channels"] == 8 and g["in_channels"] == 4 and g["kernel"] == (3, 5)
    assert g["stride"] == (2, 1) and g["padding"] == (1, 2, 1, 2) and g["dilation"] == (1, 2)
    # packed_bytes counts reordered copies; 0 when oneDNN reads the plain weights
    assert p.impl and p.packed_bytes in (0,) or p.packed_bytes >= w.size


# ---- matmul ----------------------------------------------------------------------

@pytest.mark.parametrize("adt,bdt", [(np.uint8, np.int8), (np.uint8, np.uint8), (np.int8, np.int8)])
@pytest.mark.parametrize("trans_b", [False, True])
@pytest.mark.parametrize("shape", [((3, 17, 33), (3, 33, 5)), ((2, 4, 1, 64), (2, 4, 64, 17)),
                                   ((5, 7, 9), (9, 3)), ((1, 1), (1, 1))])
def test_matmul_int32_exact(adt, bdt, trans_b, shape):
    sa, sb = shape
    a = acts(sa, adt)
    b = acts(sb, bdt)
    bz = 9 if bdt == np.uint8 else -3
    want = (a.astype(np.int64) - zp_for(adt)) @ (b.astype(np.int64) - bz)
    bi = np.ascontiguousarray(np.swapaxes(b, -1, -2)) if trans_b else b
    got = K.qmatmul(a, bi, 0.1, zp_for(adt), 0.2, bz, out_dtype="int32", transpose_b=trans_b)
    np.testing.assert_array_equal(got, want)
    assert K.last_impl()["matmul"] != "lpot:ref"
    ref = K.qmatmul(a, bi, 0.1, zp_for(adt), 0.2, bz, out_dtype="int32", transpose_b=trans_b, impl="ref")
    np.testing.assert_array_equal(ref, want)


@pytest.mark.parametrize("out", ["float32", "uint8", "int8"])
def test_matmul_scaled(out):
    a = acts((4, 8, 32))
    b = acts((4, 32, 16), np.int8)
    acc = (a.astype(np.int64) - 128) @ (b.astype(np.int64) - 2)
    got = K.qmatmul(a, b, 0.01, 128, 0.02, 2, out_dtype=out, out_scale=0.3, out_zp=4, post_ops=["relu"])
    want = epilogue(acc, 0.01, 0.02, post=("relu",), out_dtype=out, out_scale=0.3, out_zp=4)
    if out == "float32":
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-4)
    else:
        assert_q_close(got, want)


# ---- errors -------------------------------------------------------------------------

def test_errors_name_the_argument():
    w = weights((4, 8))
    p = K.PackedLinear(w, np.float32(0.1))
    x = acts((2, 8))
    cases = [
        (lambda: K.qlinear(x.astype(np.float32), p, 0.1, 0), "x: expected dtype uint8 or int8"),
        (lambda: K.qlinear(acts((2, 9)), p, 0.1, 0), "x: last dimension 9 does not match in_features 8"),
        (lambda: K.qlinear(x, p, -1.0, 0), "x_scale"),
        (lambda: K.qlinear(x, p, 0.1, 300), "x_zp"),
        (lambda: K.qlinear(x, p, 0.1, 0, out_dtype="uint8", out_scale=0.0), "out_scale"),
        (lambda: K.qlinear(x, p, 0.1, 0, out_dtype="int8", out_zp=200), "out_zp"),
        (lambda: K.qlinear(x, p, 0.1, 0, out_dtype="float16"), "out_dtype"),
        (lambda: K.qlinear(x, p, 0.1, 0, post_ops=["tanh"]), "post_ops[0]: unknown 'tanh'"),
        (lambda: K.qlinear(x, p, 0.1, 0, post_ops=["sum"]), "sum_input: required"),
        (lambda: K.qlinear(x, p, 0.1, 0, post_ops=["sum"], sum_input=np.zeros((2, 4), np.uint8)),
         "sum_input: expected a numpy float32 array"),
        (lambda: K.qlinear(x, p, 0.1, 0, out_dtype="int32", post_ops=["relu"]), "post_ops: not allowed with int32"),
        (lambda: K.qlinear(x, "nope", 0.1, 0), "packed: expected a PackedLinear"),
        (lambda: K.qlinear(x, p, 0.1, 0, impl="fast"), "impl"),
        (lambda: K.PackedLinear(w.astype(np.int16), np.float32(1)), "weight: expected a 2-D numpy int8"),
        (lambda: K.PackedLinear(w, np.ones(3, np.float32)), "w_scales: expected 1 (per-tensor) or 4"),
        (lambda: K.PackedLinear(w, np.float32(-1)), "w_scales[0]: expected a positive"),
        (lambda: K.PackedLinear(w, np.float32(1), bias=np.ones(3)), "bias: expected 4 values"),
        (lambda: K.qmatmul(acts((2, 3)), acts((4, 5), np.int8), 1.0, 0, 1.0, 0), "b: inner dimension 4"),
        (lambda: K.qmatmul(acts((2, 2, 3)), acts((3, 3, 5), np.int8), 1.0, 0, 1.0, 0), "b: leading"),
        (lambda: K.qmatmul(acts((2, 3)), acts((3, 5), np.int8), 1.0, 0, 0.0, 0), "b_scale"),
        (lambda: K.qlinear_dynamic(x, p), "x: expected a float32"),
        (lambda: K.qlinear_dynamic(np.zeros((1, 8), np.float32), p, post_ops=["sum"]), "'sum' is not supported"),
    ]
    for fn, msg in cases:
        with pytest.raises(lpot.KernelError) as e:
            fn()
        assert msg in str(e.value), (msg, str(e.value))


def test_conv_errors():
    w = weights((8, 4, 3, 3))
    with pytest.raises(lpot.KernelError, match="groups: 3 does not divide"):
        K.PackedConv2d(weights((8, 4, 3, 3)), np.float32(1), groups=3)
    with pytest.raises(lpot.KernelError, match="stride: expected values >= 1"):
        K.PackedConv2d(w, np.float32(1), stride=0)
    with pytest.raises(lpot.KernelError, match="padding: expected 4 values"):
        K.PackedConv2d(w, np.float32(1), padding=(1, 2, 3))
    p = K.PackedConv2d(w, np.float32(1))
    with pytest.raises(lpot.KernelError, match="x: 3 channels"):
        K.qconv2d(acts((1, 3, 5, 5)), p, 1.0, 0)
    with pytest.raises(lpot.KernelError, match="smaller than the dilated kernel"):
        K.qconv2d(acts((1, 4, 2, 5)), p, 1.0, 0)
    with pytest.raises(lpot.KernelError, match="layout"):
        K.qconv2d(acts((1, 4, 5, 5)), p, 1.0, 0, layout="CHWN")
    with pytest.raises(lpot.KernelError, match="x: expected 4 dimensions"):
        K.qconv2d(acts((1, 4, 5, 5, 1)), p, 1.0, 0)


# ---- threads ----------------------------------------------------------------------------

def test_two_threads_share_a_packed_op():
    w = weights((64, 256))
    p = K.PackedLinear(w, np.float32(0.01))
    wc = weights((16, 8, 3, 3), 7)
    pc = K.PackedConv2d(wc, np.float32(0.01), padding=1)
    inputs = [(acts((m, 256)), acts((2, 8, 9, 9))) for m in (1, 7, 32, 64)]
    wants = [(linear_acc(x, 5, w), conv_acc(xc, 5, wc, pad=(1, 1, 1, 1))) for x, xc in inputs]
    errors = []

    def work(seed):
        try:
            for i in range(20):
                j = (i + seed) % len(inputs)
                x, xc = inputs[j]
                np.testing.assert_array_equal(K.qlinear(x, p, 1.0, 5, out_dtype="int32"), wants[j][0])
                np.testing.assert_array_equal(K.qconv2d(xc, pc, 1.0, 5, out_dtype="int32"), wants[j][1])
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(e)

    ts = [threading.Thread(target=work, args=(s,)) for s in range(2)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert not errors, errors


def test_set_num_threads_is_used_by_large_calls():
    w = weights((256, 256), 7)
    p = K.PackedLinear(w, np.float32(0.01))
    big, small = acts((128, 256)), acts((2, 256))  # 8.4M and 131K multiply-adds
    try:
        for n in (1, 3):
            lpot.set_num_threads(n)
            np.testing.assert_array_equal(K.qlinear(big, p, 1.0, 0, out_dtype="int32"), linear_acc(big, 0, w))
            assert K.last_impl()["threads"] == n
            K.qlinear(small, p, 1.0, 0)
            assert K.last_impl()["threads"] == 1
    finally:
        lpot.set_num_threads(0)
    # left to lpot: one thread or OpenMP's default, whichever measures faster
    seen = set()
    for _ in range(8):
        np.testing.assert_array_equal(K.qlinear(big, p, 1.0, 0, out_dtype="int32"), linear_acc(big, 0, w))
        seen.add(K.last_impl()["threads"])
    assert seen <= {1, lpot.get_num_threads()}
    if lpot.get_num_threads() > 1:
        assert seen == {1, lpot.get_num_threads()}  # both measured


def test_set_num_threads_round_trip():
    before = lpot.get_num_threads()
    try:
        lpot.set_num_threads(1)
        assert lpot.get_num_threads() == 1
        w = weights((8, 16))
        x = acts((4, 16))
        np.testing.assert_array_equal(K.qlinear(x, K.PackedLinear(w, np.float32(1)), 1.0, 0, out_dtype="int32"),
                                      linear_acc(x, 0, w))
        with pytest.raises(ValueError, match="n: expected 0..4096"):
            lpot.set_num_threads(-1)
    finally:
        lpot.set_num_threads(0)
    assert lpot.get_num_threads() == before


def test_more_shapes_than_the_primitive_cache_holds():
    """Past the per-handle cache (64 entries) calls still run, uncached."""
    w = weights((8, 24), 7)
    p = K.PackedLinear(w, np.float32(1))
    for m in range(5, 80):
        x = acts((m, 24))
        np.testing.assert_array_equal(K.qlinear(x, p, 1.0, 2, out_dtype="int32"), linear_acc(x, 2, w))


def test_random_shapes_exact():
    """Random small shapes, dtypes, zero points and thread counts: int32 exact."""
    hyp = pytest.importorskip("hypothesis")
    st = hyp.strategies

    @hyp.settings(max_examples=40, deadline=None, derandomize=True)
    @hyp.given(m=st.integers(1, 9), k=st.integers(1, 70), n=st.integers(1, 40),
               xdt=st.sampled_from([np.uint8, np.int8]), bits=st.sampled_from([7, 8]),
               zp=st.integers(-128, 127), seed=st.integers(0, 2 ** 31 - 1))
    def check(m, k, n, xdt, bits, zp, seed):
        rng = np.random.default_rng(seed)
        info = np.iinfo(xdt)
        zp = int(np.clip(zp, info.min, info.max))
        lo = -128 if bits == 8 else -64
        w = rng.integers(lo, -lo, (n, k), dtype=np.int8)
        x = rng.integers(info.min, info.max + 1, (m, k), dtype=xdt)
        p = K.PackedLinear(w, np.float32(1))
        np.testing.assert_array_equal(K.qlinear(x, p, 1.0, zp, out_dtype="int32"), linear_acc(x, zp, w))

    check()
