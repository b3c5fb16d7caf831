"""lpot.kernels.qembedding / qembedding_bag (weight-only int8 tables) vs a
NumPy reference: gathers exactly, bag reductions within float rounding."""
from __future__ import annotations

import numpy as np
import pytest

from lpot import KernelError
from lpot import kernels as K

RNG = np.random.default_rng(5)


def table(rows=30, dim=7):
    w = RNG.integers(-127, 128, (rows, dim)).astype(np.int8)
    s = RNG.uniform(0.001, 0.05, rows).astype(np.float32)
    return w, s


def deq(w, s):
    return w.astype(np.float32) * s[:, None]


@pytest.mark.parametrize("shape", [(0,), (1,), (5,), (3, 4), (2, 3, 2)])
def test_qembedding_gathers_dequantized_rows_exactly(shape):
    w, s = table()
    idx = RNG.integers(0, 30, shape).astype(np.int64)
    y = K.qembedding(w, s, idx)
    assert y.dtype == np.float32 and y.shape == shape + (7,)
    np.testing.assert_array_equal(y, deq(w, s)[idx])   # one float multiply per value: exact


def ref_bag(w, s, idx, offsets, mode, psw=None, pad=-1):
    d = deq(w, s)
    out = np.zeros((len(offsets) - 1, w.shape[1]), np.float64)
    for b in range(len(offsets) - 1):
        rows = [d[idx[i]] * (1.0 if psw is None else psw[i]) for i in range(offsets[b], offsets[b + 1])
                if idx[i] != pad]
        if rows:
            r = np.stack(rows)
            out[b] = r.sum(0) if mode == "sum" else r.mean(0) if mode == "mean" else r.max(0)
    return out


@pytest.mark.parametrize("mode", ["sum", "mean", "max"])
@pytest.mark.parametrize("pad", [-1, 3])
def test_qembedding_bag_matches_reference(mode, pad):
    w, s = table()
    idx = np.array([3, 1, 3, 29, 0, 3, 3, 7, 7, 12], np.int64)
    offsets = np.array([0, 2, 2, 5, 7, 10], np.int64)   # bag 1 empty; bag 3 = [3, 3]: all padding
    y = K.qembedding_bag(w, s, idx, offsets, padding_idx=pad, mode=mode)
    want = ref_bag(w, s, idx, offsets, mode, pad=pad)
    assert y.shape == (5, 7)
    np.testing.assert_allclose(y, want, rtol=1e-6, atol=1e-7)
    assert not y[1].any()
    if pad == 3:
        assert not y[3].any()   # only padding: an empty bag


def test_qembedding_bag_per_sample_weights():
    w, s = table()
    idx = RNG.integers(0, 30, 12).astype(np.int64)
    offsets = np.array([0, 4, 9, 12], np.int64)
    psw = RNG.uniform(-1, 1, 12).astype(np.float32)
    y = K.qembedding_bag(w, s, idx, offsets, per_sample_weights=psw)
    np.testing.assert_allclose(y, ref_bag(w, s, idx, offsets, "sum", psw), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("call, msg", [
    (lambda w, s: K.qembedding(w.astype(np.int16), s, np.zeros(1, np.int64)), "weight: expected a 2-D numpy int8"),
    (lambda w, s: K.qembedding(w, s[:-1], np.zeros(1, np.int64)), "scales: 29 values for 30 rows"),
    (lambda w, s: K.qembedding(w, s, np.zeros(1, np.int32)), "idx: expected a numpy int64"),
    (lambda w, s: K.qembedding(w, s, np.array([0, -1])), r"idx\[1\] = -1 is out of range"),
    (lambda w, s: K.qembedding_bag(w, s, np.arange(4), np.array([0, 3, 2, 4])),
     r"offsets\[2\] = 2: expected non-decreasing"),
    (lambda w, s: K.qembedding_bag(w, s, np.arange(4), np.array([0, 5])), r"offsets\[1\] = 5"),
    (lambda w, s: K.qembedding_bag(w, s, np.arange(4), np.array([], np.int64)), "at least one value"),
    (lambda w, s: K.qembedding_bag(w, s, np.arange(4), np.array([0, 4]), mode="min"), "mode: expected"),
    (lambda w, s: K.qembedding_bag(w, s, np.arange(4), np.array([0, 4]), np.ones(4, np.float32),
                                   mode="mean"), "per_sample_weights: only with mode 'sum'"),
    (lambda w, s: K.qembedding_bag(w, s, np.arange(4), np.array([0, 4]), np.ones(3, np.float32)),
     "per_sample_weights: 3 values for 4 indices"),
    (lambda w, s: K.qembedding_bag(w, s, np.array([0, 40]), np.array([0, 2])),
     r"idx\[1\] = 40 is out of range for a table of 30 rows"),
])
def test_qembedding_argument_errors(call, msg):
    w, s = table()
    with pytest.raises(KernelError, match=msg):
        call(w, s)
