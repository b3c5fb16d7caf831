"""lpot's own int8 convolution path (im2col + AVX2 u8 x s8 GEMM, CPUs without
VNNI): the tile kernel against its scalar twin and NumPy, the convolution
against the NumPy reference and oneDNN's path, and which path runs.

Tolerances as in test_kernels.py: int32 exactly; float32 within 1e-5
relative (1e-4 absolute); u8/s8 output within 1 of the float64 reference
and of oneDNN's (a value on a rounding tie can round either way)."""
import numpy as np
import pytest

import lpot
from lpot import kernels as K
from kernels_ref import conv_acc, epilogue, run_in_threads

RNG = np.random.default_rng(20261128)
OWN = "lpot:conv_gemm_avx2"
EXACT_ISAS = ("avx2_vnni", "avx2_vnni_2", "avx512_core_vnni", "avx512_core_bf16",
              "avx512_core_fp16", "avx512_core_amx", "avx512_core_amx_fp16")


def own_path_available():
    return lpot.cpu_features()["used"]["avx2"] and K.last_impl()["isa"] not in EXACT_ISAS


needs_own = pytest.mark.skipif(not own_path_available(),
                               reason="lpot's own conv GEMM runs on AVX2 CPUs without VNNI only")


def w7(shape):
    return RNG.integers(-64, 65, shape, dtype=np.int8)


def acts(shape, dtype=np.uint8, hi=None):
    info = np.iinfo(dtype)
    return RNG.integers(info.min, (hi if hi is not None else info.max) + 1, shape, dtype=dtype)


def nhwc(a):
    return np.ascontiguousarray(a.transpose(0, 2, 3, 1))


def nchw(a):
    return np.ascontiguousarray(a.transpose(0, 3, 1, 2))


def run(x, p, xs, xz, layout, **kw):
    """qconv2d on NCHW x in `layout`; the result back in NCHW."""
    y = K.qconv2d(x if layout == "NCHW" else nhwc(x), p, xs, xz, layout=layout, **kw)
    return y if layout == "NCHW" else nchw(y)


# ---- the tile kernel ----------------------------------------------------------------

SIZES = [1, 2, 3, 5, 7, 15, 16, 17, 31, 33, 63, 127, 129, 255, 1023]


@pytest.mark.parametrize("k", SIZES)
def test_tile_kernel_vector_vs_ref(k):
    """Exact where no pair saturates (7-bit weights, full-range u8), and equal
    to the scalar twin everywhere (also where pairs saturate)."""
    n = SIZES[(SIZES.index(k) * 7) % len(SIZES)]
    for m in (1, 3, 4, 5, 6, 7, 8, 9, 10, 11):  # every remainder after 6-row tiles
        a = acts((m, k))
        w = w7((n, k))
        want = a.astype(np.int64) @ w.astype(np.int64).T
        np.testing.assert_array_equal(lpot._engine._qgemm_u8s8(a, w, impl="ref"), want)
        np.testing.assert_array_equal(lpot._engine._qgemm_u8s8(a, w), want)
        add = RNG.integers(-100000, 100000, n, dtype=np.int32)
        for impl in ("ref", "dispatch"):
            np.testing.assert_array_equal(lpot._engine._qgemm_u8s8(a, w, impl=impl, add=add), want + add)
        w8 = RNG.integers(-128, 128, (n, k), dtype=np.int8)
        np.testing.assert_array_equal(lpot._engine._qgemm_u8s8(a, w8),
                                      lpot._engine._qgemm_u8s8(a, w8, impl="ref"))


def test_tile_kernel_saturates_like_vpmaddubsw():
    """The scalar twin models the int16 pair saturation (so it is a true twin)."""
    a = np.full((1, 4), 255, np.uint8)
    w = np.full((1, 4), 127, np.int8)
    got = lpot._engine._qgemm_u8s8(a, w, impl="ref")
    assert got[0, 0] == 2 * 32767  # not the exact 4 * 255 * 127
    np.testing.assert_array_equal(lpot._engine._qgemm_u8s8(a, w), got)


# ---- the convolution -------------------------------------------------------------

CONVS = [
    # ic, oc, k, stride, pad(t,l,b,r), dil, h, w
    (8, 16, 3, 1, (1, 1, 1, 1), 1, 9, 9),        # 3x3 same
    (3, 17, 7, 2, (3, 3, 3, 3), 1, 17, 15),      # 7x7 stride 2, odd channels (stem)
    (5, 33, 3, 2, (1, 0, 2, 1), 1, 15, 16),      # stride 2, asymmetric padding
    (4, 8, 3, 1, (2, 2, 2, 2), 2, 11, 13),       # dilation 2
    (13, 7, 1, 1, (0, 0, 0, 0), 1, 5, 6),        # 1x1, odd channels (im2col copy)
    (16, 20, 1, 1, (0, 0, 0, 0), 1, 3, 7),       # 1x1 stride 1, IC % 4 == 0 (rows read in place)
    (16, 8, 1, 2, (0, 0, 0, 0), 1, 7, 7),        # 1x1 stride 2
    (5, 3, 3, 1, (1, 1, 1, 1), 1, 1, 1),         # 1x1 input, all padding
    (130, 40, 3, 1, (1, 1, 1, 1), 1, 6, 5),      # K = 1170
    (520, 20, 3, 1, (1, 1, 1, 1), 1, 4, 3),      # K = 4680 > one K pass (4608 bytes): 2 of 2340
]


@needs_own
@pytest.mark.parametrize("cfg", CONVS, ids=lambda c: "ic%d_oc%d_k%d_s%d_d%d" % (c[0], c[1], c[2], c[3], c[5]))
@pytest.mark.parametrize("layout", ["NCHW", "NHWC"])
@pytest.mark.parametrize("xdt,zp", [(np.uint8, 131), (np.uint8, 0), (np.int8, -7)])
def test_own_conv_int32_exact(cfg, layout, xdt, zp):
    ic, oc, k, s, pad, d, h, wd = cfg
    w = w7((oc, ic, k, k))
    p = K.PackedConv2d(w, np.float32(0.01), stride=s, padding=pad, dilation=d)
    x = acts((3, ic, h, wd), xdt)
    want = conv_acc(x, zp, w, (s, s), pad, (d, d))
    got = run(x, p, 0.1, zp, layout, out_dtype="int32", impl="own")
    assert K.last_impl()["conv2d"] == OWN
    np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(run(x, p, 0.1, zp, layout, out_dtype="int32", impl="onednn"), want)
    assert K.last_impl()["conv2d"] != OWN


@needs_own
@pytest.mark.parametrize("per_channel", [False, True])
@pytest.mark.parametrize("layout", ["NCHW", "NHWC"])
@pytest.mark.parametrize("out,post", [("uint8", ()), ("uint8", ("relu",)), ("float32", ()),
                                      ("float32", ("relu",)), ("int8", ("sum",)),
                                      ("uint8", ("sum", "relu")), ("float32", ("sum",))])
def test_own_conv_epilogue(per_channel, layout, out, post):
    ic, oc = 12, 37  # 37 channels: a partial 16-channel block
    w = w7((oc, ic, 3, 3))
    ws = RNG.uniform(0.002, 0.02, oc if per_channel else 1).astype(np.float32)
    b = RNG.standard_normal(oc).astype(np.float32)
    p = K.PackedConv2d(w, ws, b, stride=1, padding=1)
    x = acts((2, ic, 7, 6))
    acc = conv_acc(x, 100, w, pad=(1, 1, 1, 1))
    q = out != "float32"
    kw = dict(out_dtype=out, out_scale=0.07, out_zp=20 if out == "uint8" else -2, post_ops=list(post))
    res = None
    if "sum" in post:
        res = acts(acc.shape, np.dtype(out).type) if q else RNG.standard_normal(acc.shape).astype(np.float32)
    want = epilogue(acc, 0.03, ws, b, post, residual=res, sum_scale=0.07 if q else 1.0,
                    sum_zp=kw["out_zp"] if q else 0, out_dtype=out, out_scale=0.07,
                    out_zp=kw["out_zp"], channel_axis=1)
    got = {}
    for impl in ("own", "onednn"):
        if res is not None:
            kw["sum_input"] = res if layout == "NCHW" else nhwc(res)
        got[impl] = run(x, p, 0.03, 100, layout, impl=impl, **kw)
        assert (K.last_impl()["conv2d"] == OWN) == (impl == "own")
    for g in got.values():
        if q:
            d = np.abs(g.astype(np.int64) - want.astype(np.int64))
            assert d.max() <= 1 and (d > 0).mean() < 0.01
        else:
            np.testing.assert_allclose(g, want, rtol=1e-5, atol=1e-4)
    if q:
        assert np.abs(got["own"].astype(np.int64) - got["onednn"].astype(np.int64)).max() <= 1


@needs_own
def test_auto_picks_own_path_where_measured_faster():
    """impl='auto': the own path for 3x3 with KH*KW*IC >= 576, oneDNN for
    smaller K, 1x1 and grouped convolutions; 'onednn' never runs the own path."""
    x = acts((1, 128, 6, 6))
    for shape, kw, own in [((16, 128, 3, 3), dict(padding=1), True),
                           ((16, 64, 3, 3), dict(padding=1), True),
                           ((16, 32, 3, 3), dict(padding=1), False),
                           ((16, 128, 1, 1), {}, False),
                           ((16, 64, 3, 3), dict(padding=1, groups=2), False)]:
        w = w7(shape)
        p = K.PackedConv2d(w, np.float32(0.01), **kw)
        xi = x[:, :shape[1] * kw.get("groups", 1)]
        want = conv_acc(xi, 3, w, pad=(1, 1, 1, 1) if "padding" in kw else (0, 0, 0, 0),
                        groups=kw.get("groups", 1))
        np.testing.assert_array_equal(K.qconv2d(xi, p, 0.1, 3, out_dtype="int32"), want)
        assert (K.last_impl()["conv2d"] == OWN) == own, (shape, K.last_impl())
        np.testing.assert_array_equal(K.qconv2d(xi, p, 0.1, 3, out_dtype="int32", impl="onednn"), want)
        assert K.last_impl()["conv2d"] != OWN


@needs_own
def test_grouped_conv_with_impl_own_falls_back():
    w = w7((8, 2, 3, 3))
    p = K.PackedConv2d(w, np.float32(0.01), padding=1, groups=4)
    x = acts((2, 8, 5, 5))
    got = K.qconv2d(x, p, 0.1, 7, out_dtype="int32", impl="own")
    np.testing.assert_array_equal(got, conv_acc(x, 7, w, pad=(1, 1, 1, 1), groups=4))
    assert K.last_impl()["conv2d"] != OWN


@needs_own
def test_own_path_only_where_exact():
    """8-bit weights: the own path runs only when the activations and the
    padding's zero point are <= 127; otherwise oneDNN (as is for 7-bit
    activations, split for full-range ones)."""
    w = RNG.integers(-128, 128, (16, 128, 3, 3), dtype=np.int8)
    p = K.PackedConv2d(w, np.float32(0.01), padding=1)
    x7 = acts((1, 128, 5, 5), hi=127)
    for x, zp, want_impl in [(x7, 100, OWN), (x7, 200, "onednn"), (acts((1, 128, 5, 5)), 100, "+split")]:
        got = K.qconv2d(x, p, 0.1, zp, out_dtype="int32")
        np.testing.assert_array_equal(got, conv_acc(x, zp, w, pad=(1, 1, 1, 1)))
        impl = K.last_impl()["conv2d"]
        if want_impl == OWN:
            assert impl == OWN
        else:
            assert impl != OWN and impl.endswith("+split") == (want_impl == "+split"), impl
    # no padding: a large zero point is fine
    p0 = K.PackedConv2d(w, np.float32(0.01))
    got = K.qconv2d(x7, p0, 0.1, 200, out_dtype="int32")
    np.testing.assert_array_equal(got, conv_acc(x7, 200, w))
    assert K.last_impl()["conv2d"] == OWN


@needs_own
def test_packed_bytes_count_the_own_layout():
    w = w7((32, 128, 3, 3))
    p = K.PackedConv2d(w, np.float32(0.01), padding=1)  # own path packed at creation
    assert p.packed_bytes >= w.size
    p1 = K.PackedConv2d(w7((32, 8, 1, 1)), np.float32(0.01))  # packed on first impl='own' call
    before = p1.packed_bytes
    K.qconv2d(acts((1, 8, 4, 4)), p1, 0.1, 0, impl="own")
    assert p1.packed_bytes == before + 2 * 2 * 64  # 2 blocks of 16 channels x 2 groups of 4 bytes of K


@needs_own
@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("batch", [1, 9])
def test_own_path_threads(threads, batch):
    """Row chunks and (when there are few) channel groups shared among threads."""
    w = w7((40, 136, 3, 3))
    p = K.PackedConv2d(w, np.float32(0.01), padding=1)
    x = acts((batch, 136, 7, 7))
    want = conv_acc(x, 9, w, pad=(1, 1, 1, 1))
    try:
        K.set_num_threads(threads)
        for layout in ("NCHW", "NHWC"):
            np.testing.assert_array_equal(run(x, p, 0.1, 9, layout, out_dtype="int32"), want)
            assert K.last_impl()["conv2d"] == OWN
            assert K.last_impl()["threads"] == (threads if batch == 9 else 1)
    finally:
        K.set_num_threads(0)


@needs_own
def test_own_path_two_python_threads():
    w = w7((24, 128, 3, 3))
    p = K.PackedConv2d(w, np.float32(0.01), padding=1)
    xs = [acts((b, 128, 6, 6)) for b in (1, 2, 3)]
    wants = [conv_acc(x, 4, w, pad=(1, 1, 1, 1)) for x in xs]
    def work(seed):
        for i in range(12):
            j = (i + seed) % len(xs)
            np.testing.assert_array_equal(K.qconv2d(xs[j], p, 1.0, 4, out_dtype="int32"), wants[j])

    errors = run_in_threads(work)
    assert not errors, errors


@pytest.mark.parametrize("k,pad", [(3, 1), (1, 0)])
@pytest.mark.parametrize("impl", ["auto", "onednn"])
def test_s8_activations_exact_on_every_path(k, pad, impl):
    """oneDNN without VNNI halves the weights for s8 activations (inexact);
    lpot feeds it u8 instead. 7-bit weights, full-range s8 activations."""
    w = w7((16, 136, k, k))
    p = K.PackedConv2d(w, np.float32(0.01), padding=pad)
    x = acts((2, 136, 6, 5), np.int8)
    for layout in ("NCHW", "NHWC"):
        got = run(x, p, 0.1, -7, layout, out_dtype="int32", impl=impl)
        np.testing.assert_array_equal(got, conv_acc(x, -7, w, pad=(pad,) * 4))


def test_impl_name_errors():
    p = K.PackedConv2d(w7((4, 4, 1, 1)), np.float32(0.01))
    with pytest.raises(lpot.KernelError, match="impl: expected 'auto', 'onednn', 'own' or 'ref'"):
        K.qconv2d(acts((1, 4, 2, 2)), p, 0.1, 0, impl="fast")


# ---- batch-1 work split and the vector epilogue ---------------------------------------

def epilogue_f32_exact(acc, xs, ws, b, relu, out, out_scale, out_zp):
    """The own path's epilogue in float32, operation by operation (NumPy's
    float32 arithmetic, no FMA): what lpot_qconv_epi_avx2 must give bit for bit."""
    sc = (np.float32(xs) * ws.astype(np.float32)).reshape(1, -1, 1, 1)
    v = acc.astype(np.float32) * sc + b.astype(np.float32).reshape(1, -1, 1, 1)
    if relu:
        v = np.where(v < 0, np.float32(0), v)
    if out == "float32":
        return v
    lo, hi = (0, 255) if out == "uint8" else (-128, 127)
    v = v / np.float32(out_scale) + np.float32(out_zp)
    return np.rint(np.clip(v, np.float32(lo), np.float32(hi))).astype(out)


@needs_own
@pytest.mark.parametrize("oc", SIZES)
@pytest.mark.parametrize("out,relu", [("uint8", False), ("uint8", True), ("int8", True),
                                      ("float32", False), ("float32", True)])
def test_own_conv_vector_epilogue_bit_exact(oc, out, relu):
    """The AVX2 epilogue (8 channels at a time, scalar tail) equals the
    float32 reference exactly, per-channel and per-tensor scales, both layouts."""
    ic = 64
    w = w7((oc, ic, 3, 3))
    b = (RNG.standard_normal(oc) * 3).astype(np.float32)
    x = acts((2, ic, 5, 4))
    acc = conv_acc(x, 70, w, pad=(1, 1, 1, 1))
    for ws in (RNG.uniform(0.002, 0.02, oc).astype(np.float32), np.full(1, 0.011, np.float32)):
        p = K.PackedConv2d(w, ws, b, padding=1)
        want = epilogue_f32_exact(acc, 0.03, np.broadcast_to(ws, (oc,)), b, relu, out, 0.07, -3 if out == "int8" else 11)
        for layout in ("NCHW", "NHWC"):
            got = run(x, p, 0.03, 70, layout, impl="own", out_dtype=out, out_scale=0.07,
                      out_zp=-3 if out == "int8" else 11, post_ops=["relu"] if relu else [])
            assert K.last_impl()["conv2d"] == OWN
            np.testing.assert_array_equal(got, want)


# Batch-1 shapes on 2 threads: smaller row chunks (20x20: 8 of 54 rows), and
# where those are still too few the channel blocks split into groups (5 =
# prime, 3) sharing the im2col rows (with one more row chunk for an even
# task count in the last two).
SPLITS = [(64, 32, 20, 20), (64, 80, 11, 11), (256, 48, 7, 7), (72, 33, 19, 13)]


@needs_own
@pytest.mark.parametrize("cfg", SPLITS, ids=lambda c: "ic%d_oc%d_%dx%d" % c)
@pytest.mark.parametrize("xdt,zp", [(np.uint8, 131), (np.int8, -5)])
def test_own_path_batch1_split_exact(cfg, xdt, zp):
    """1 and 2 threads (the 2-thread split: channel groups, shared im2col rows,
    lpot's task pool) give the exact int32 sums and identical u8 outputs."""
    ic, oc, h, wd = cfg
    w = w7((oc, ic, 3, 3))
    ws = RNG.uniform(0.002, 0.02, oc).astype(np.float32)
    p = K.PackedConv2d(w, ws, padding=1)
    x = acts((1, ic, h, wd), xdt)
    want = conv_acc(x, zp, w, pad=(1, 1, 1, 1))
    outs = {}
    try:
        for threads in (1, 2):
            K.set_num_threads(threads)
            for layout in ("NCHW", "NHWC"):
                np.testing.assert_array_equal(run(x, p, 0.1, zp, layout, out_dtype="int32"), want)
                assert K.last_impl()["conv2d"] == OWN
                assert K.last_impl()["threads"] == threads
                outs[threads, layout] = run(x, p, 0.1, zp, layout, out_dtype="uint8", out_scale=0.5,
                                            out_zp=7)
    finally:
        K.set_num_threads(0)
    for y in outs.values():
        np.testing.assert_array_equal(y, outs[1, "NCHW"])


@needs_own
def test_own_path_pool_two_python_threads_batch1():
    """Two Python threads on the 2-thread split at once: one of them has the
    task pool, the other runs its tasks by itself; both exact."""
    w = w7((80, 64, 3, 3))
    p = K.PackedConv2d(w, np.float32(0.01), padding=1)
    xs = [acts((1, 64, 11, 11)), acts((1, 64, 12, 10))]
    wants = [conv_acc(x, 4, w, pad=(1, 1, 1, 1)) for x in xs]

    def work(seed):
        for i in range(16):
            j = (i + seed) % len(xs)
            np.testing.assert_array_equal(K.qconv2d(xs[j], p, 1.0, 4, out_dtype="int32"), wants[j])

    try:
        K.set_num_threads(2)
        errors = run_in_threads(work)
    finally:
        K.set_num_threads(0)
    assert not errors, errors


@needs_own
def test_own_path_2_threads_after_fork():
    """The pool in a forked child: its helpers are gone; the child starts new
    ones and finishes (an OpenMP region in such a child waits forever for the
    parent's threads: the own path used one before it had its own pool)."""
    import os
    import time
    w = w7((80, 64, 3, 3))
    p = K.PackedConv2d(w, np.float32(0.01), padding=1)
    x = acts((1, 64, 11, 11))
    want = conv_acc(x, 7, w, pad=(1, 1, 1, 1))
    try:
        K.set_num_threads(2)
        np.testing.assert_array_equal(K.qconv2d(x, p, 1.0, 7, out_dtype="int32"), want)
        assert K.last_impl()["threads"] == 2
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the child
            code = 3
            try:
                ok = all((K.qconv2d(x, p, 1.0, 7, out_dtype="int32") == want).all() for _ in range(20))
                code = 0 if ok and K.last_impl()["threads"] == 2 else 1
            finally:
                os._exit(code)
        deadline = time.monotonic() + 30
        while True:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                break
            if time.monotonic() > deadline:
                os.kill(pid, 9)
                os.waitpid(pid, 0)
                pytest.fail("the forked child did not finish its convolutions in 30 s")
            time.sleep(0.01)
        assert os.waitstatus_to_exitcode(status) == 0
    finally:
        K.set_num_threads(0)
