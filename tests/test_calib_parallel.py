"""lpot.calib.update_all: many observers per batch, in parallel, same answer."""
import numpy as np
import pytest

from lpot import calib


def _acts(seed, n=6):
    rng = np.random.default_rng(seed)
    return [(rng.standard_normal((64, 300 + 37 * i)) * (i + 1)).astype(np.float32)
            for i in range(n)]


@pytest.mark.parametrize("algo", ["minmax", "kl", "percentile", "mse"])
@pytest.mark.parametrize("threads", [None, 1, 2])
def test_equals_sequential_updates(algo, threads):
    seq = [calib.Observer(algo) for _ in range(6)]
    par = [calib.Observer(algo) for _ in range(6)]
    for b in range(4):
        acts = _acts(b)
        for o, a in zip(seq, acts):
            o.update(a)
        calib.update_all(zip(par, acts), threads=threads)
    for s, p in zip(seq, par):
        assert s.to_dict() == p.to_dict()
        np.testing.assert_array_equal(s.compute()[0], p.compute()[0])
        np.testing.assert_array_equal(s.compute()[1], p.compute()[1])


def test_same_observer_twice_keeps_order():
    # moving average depends on order: two arrays for one observer in one call
    a, b = np.full(10, 1.0, np.float32), np.full(10, 5.0, np.float32)
    o1 = calib.Observer("moving_average")
    o1.update(a)
    o1.update(b)
    o2 = calib.Observer("moving_average")
    other = calib.Observer("minmax")
    calib.update_all([(o2, a), (other, b), (o2, b)], threads=2)
    assert o1.to_dict() == o2.to_dict()
    assert float(other.compute_range()[1]) == 5.0


def test_error_is_raised_after_all_updates():
    good = calib.Observer("minmax")
    bad = calib.Observer("minmax", axis=1)
    with pytest.raises(ValueError, match="axis"):
        calib.update_all([(bad, np.zeros(5, np.float32)),
                          (good, np.arange(5, dtype=np.float32))], threads=2)
    lo, hi = good.compute_range()
    assert float(lo) == 0.0 and float(hi) == 4.0


def test_empty_pairs_is_a_no_op():
    calib.update_all([])
