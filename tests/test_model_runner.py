"""lpot.model.runner.median_latency: the timing rule every adaptor's
benchmark() and the tuner's latency objective share."""
import time

import pytest

from lpot.model.runner import median_latency


class FakeClock:
    """perf_counter that advances only when the timed call runs."""

    def __init__(self, durations):
        self.now = 0.0
        self.durations = list(durations)
        self.calls = 0

    def perf_counter(self):
        return self.now

    def call(self):
        self.now += self.durations[min(self.calls, len(self.durations) - 1)]
        self.calls += 1


def test_fast_call_runs_all_and_takes_the_median(monkeypatch):
    c = FakeClock([9.0, 0.001, 0.005, 0.002, 0.004, 0.003])  # first = warm-up, not timed
    monkeypatch.setattr(time, "perf_counter", c.perf_counter)
    assert median_latency(c.call, runs=5, budget_s=1.0) == pytest.approx(0.003)
    assert c.calls == 6


def test_slow_call_stops_at_min_runs_once_the_budget_is_spent(monkeypatch):
    c = FakeClock([3.0, 2.0, 3.0, 2.5, 2.0, 2.0])
    monkeypatch.setattr(time, "perf_counter", c.perf_counter)
    assert median_latency(c.call, runs=10, budget_s=1.0, min_runs=3) == pytest.approx(2.5)
    assert c.calls == 4  # warm-up + 3 timed, not 11


def test_budget_counts_only_after_min_runs(monkeypatch):
    c = FakeClock([0.0] + [0.3] * 20)
    monkeypatch.setattr(time, "perf_counter", c.perf_counter)
    median_latency(c.call, runs=10, budget_s=1.0, min_runs=3)
    assert c.calls == 1 + 4  # 0.3 x 4 = 1.2 s > budget after the 4th
