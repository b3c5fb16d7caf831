"""The tuning loop: strategies reach the known optimum, criterion, exit
policy, objectives, errors, interrupts, NaN, journal and resume."""
import json
import logging
import math
import os
import signal
import sys
import textwrap

import pytest

import lpot
from lpot.strategy import Strategy, strategy_registry
from lpot.tuning import tune

sys.path.insert(0, os.path.dirname(__file__))
from synthetic_adaptor import SyntheticAdaptor, tuning_options  # noqa: E402


def run(adaptor, tmp_path, **kw):
    q = {"calibration": {"sampling_size": list(adaptor.sampling_sizes)}}
    return tune(adaptor, tuning_options(**kw), workspace=str(tmp_path), progress=False,
                quantization=q)


def journal_lines(path):
    with open(path) as f:
        return [json.loads(line) for line in f]


# ---- basic -------------------------------------------------------------------

@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_basic_finds_the_minimal_fallback_set(tmp_path, seed):
    a = SyntheticAdaptor(10, "few", seed=seed)
    r = run(a, tmp_path, timeout=1000)
    assert r.found and r.stop == "exhausted"
    # a smallest set (for an interacting pair, which member falls back follows
    # the proxy order, not speed: basic does not know per-op latency)
    assert frozenset(r.fallback_ops) in a.minimal_fallback_sets()
    assert r.model is r.best_so_far_model and r.model.prec.count("bf16") == len(r.fallback_ops)


def test_basic_stops_at_first_passing_with_timeout_0(tmp_path):
    a = SyntheticAdaptor(10, "few", seed=1)
    r = run(a, tmp_path)
    assert r.found and r.stop == "passed"
    with open(tmp_path / "best_tune_cfg.json") as f:
        best = json.load(f)
    assert best["cfg"] == r.best_cfg and best["found"] is True
    assert {k for k, v in best["op"].items() if v["activation"]["dtype"] == "bf16"} == \
        {f"{n}|Conv" for n in r.fallback_ops}
    assert a.accuracy_of(r.model) >= r.target
    assert r.target == pytest.approx(0.8 * 0.99)
    # the last trial of the journal is the only passing one
    trials = [x for x in journal_lines(r.journal) if x.get("kind") == "trial" and x["trial"] > 0]
    assert [t["passed"] for t in trials] == [False] * (len(trials) - 1) + [True]
    assert r.evaluations == a.evaluations == len(trials) + 1  # + the fp32 baseline


# Full evaluations (baseline included) basic needs to meet a 1% goal with
# timeout 0 on the synthetic landscapes (seed 1). LPOT 1.x's order needs about
# N + (ops to fall back) + 2: see bench/bench_tuning.py.
EXPECTED_EVALS = {(10, "few"): 5, (50, "few"): 5, (200, "few"): 12,
                  (10, "graded"): 6, (50, "graded"): 7, (200, "graded"): 7,
                  (10, "heavy"): 2, (50, "heavy"): 4, (200, "heavy"): 20}


@pytest.mark.parametrize("n,profile", sorted(EXPECTED_EVALS))
def test_basic_evaluation_counts(tmp_path, n, profile):
    a = SyntheticAdaptor(n, profile, seed=1)
    r = run(a, tmp_path)
    assert r.found
    assert a.evaluations == r.evaluations == EXPECTED_EVALS[(n, profile)]
    assert a.evaluations <= 0.5 * (n + 2)


def test_basic_with_an_interaction_the_proxy_cannot_see(tmp_path):
    # the interacting pair is invisible to inspect_tensor: the first passing
    # configuration overshoots, the pruning (timeout > 0) still gets minimal
    a = SyntheticAdaptor(10, "few", seed=1, hidden_interactions=True)
    r = run(a, tmp_path, timeout=1000)
    assert frozenset(r.fallback_ops) in a.minimal_fallback_sets()


def test_basic_without_proxy_ranks_by_single_op_evaluations(tmp_path):
    a = SyntheticAdaptor(10, "few", seed=2, inspect=False)
    r = run(a, tmp_path, timeout=1000)
    assert frozenset(r.fallback_ops) in a.minimal_fallback_sets()
    # the model-wise trial, then one single-op fallback per op
    assert a.evaluations >= 1 + 1 + 10


def test_basic_falls_back_to_fp32_when_bf16_is_not_allowed(tmp_path):
    a = SyntheticAdaptor(10, "few", seed=0, bf16=False)
    r = run(a, tmp_path, timeout=1000)
    assert frozenset(r.fallback_ops) in a.minimal_fallback_sets()
    assert set(p for p in r.model.prec) == {"int8", "fp32"}


def test_basic_tries_other_options_when_searching(tmp_path):
    # 4 int8 options per op: the alternatives stage may replace a fallback
    a = SyntheticAdaptor(6, "few", seed=3, options=4)
    r = run(a, tmp_path, timeout=1000)
    assert r.found and r.stop == "exhausted"
    assert a.accuracy_of(r.model) >= r.target
    # locally optimal: no fallen-back op passes on any of its int8 options
    space_opts = r.best_tune_cfg["op"]
    for name in r.fallback_ops:
        i = a.names.index(name)
        for k in range(4):
            m = type(r.model)(list(r.model.prec), r.model.mult.copy(), r.model.sampling)
            m.prec[i], m.mult[i] = "int8", a.mult[i, k]
            assert a.accuracy_of(m) < r.target
    assert set(space_opts) == {(n, "Conv") for n in a.names}


# ---- other strategies --------------------------------------------------------

@pytest.mark.parametrize("strategy", ["exhaustive", "random"])
def test_exhaustive_and_random_reach_the_optimum(tmp_path, strategy):
    a = SyntheticAdaptor(4, "few", seed=5, options=2, sampling_sizes=(50, 100))
    r = run(a, tmp_path, strategy=strategy, timeout=1000, max_trials=100000)
    assert r.found and r.stop == "exhausted"
    assert r.best_measures["performance"] == pytest.approx(a.best_latency_passing(), rel=1e-12)
    # every configuration exactly once: 4 options per op, 2 sampling sizes
    assert r.trials == 4 ** 4 * 2
    assert a.evaluations == r.trials + 1


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("strategy", ["bayesian", "tpe"])
def test_bayesian_and_tpe_reach_their_documented_best(tmp_path, strategy, seed):
    # documented best (150 trials, 8 ops): the minimal number of non-int8 ops;
    # tpe also within 2% of the fastest passing latency
    a = SyntheticAdaptor(8, "few", seed=seed)
    r = run(a, tmp_path, strategy=strategy, timeout=1000, max_trials=150)
    assert r.found and r.stop == "max_trials" and r.trials == 150
    assert len(r.fallback_ops) == len(a.minimal_fallback_sets()[0])
    if strategy == "tpe":
        assert r.best_measures["performance"] <= 1.02 * a.best_latency_passing()


@pytest.mark.parametrize("strategy", ["bayesian", "tpe"])
def test_bayesian_and_tpe_are_deterministic(tmp_path, strategy):
    seen = []
    for k in range(2):
        a = SyntheticAdaptor(10, "graded", seed=1)
        run(a, tmp_path / str(k), strategy=strategy, timeout=1000, max_trials=25, seed=3)
        seen.append(a.seen_cfgs)
    assert seen[0] == seen[1] and len(seen[0]) >= 25


def test_random_is_deterministic_and_falls_back(tmp_path):
    runs = []
    for k in range(2):
        a = SyntheticAdaptor(6, "few", seed=4)
        r = run(a, tmp_path / str(k), strategy="random", timeout=1000, max_trials=30, seed=7)
        runs.append([c for c in a.seen_cfgs])
    assert runs[0] == runs[1]
    assert any("fp32" in c[0] or "bf16" in c[0] for c in runs[0])
    a = SyntheticAdaptor(6, "few", seed=4)
    run(a, tmp_path / "other", strategy="random", timeout=1000, max_trials=30, seed=8)
    assert a.seen_cfgs != runs[0]


def test_mse_falls_back_in_proxy_order(tmp_path):
    a = SyntheticAdaptor(50, "graded", seed=1, proxy_noise=0.0)
    r = run(a, tmp_path, strategy="mse")
    assert r.found and r.stop == "passed"
    # perfect proxy: the fallback set is the prefix of the ops by drop
    order = sorted(range(50), key=lambda i: -a.d[i])
    k = len(r.fallback_ops)
    assert set(r.fallback_ops) == {a.names[i] for i in order[:k]}
    assert a.evaluations == 1 + 1 + k  # baseline, model-wise, one per added op


def test_python_strategy_interrupt(tmp_path):
    class Stop(Strategy):
        def next_tune_cfg(self):
            raise KeyboardInterrupt

    from lpot import _engine
    a = SyntheticAdaptor(5, "few")
    space = lpot.tuning.build_space(a.query_capability())
    opts = dict(strategy=Stop(space, 1), strategy_name="stop", journal=None, progress=None)
    r = _engine._tune(space, a, opts)
    assert r["stop"] == "interrupted" and r["trials"] == 0 and a.evaluations == 1

    class Bad(Strategy):
        def next_tune_cfg(self):
            return self.space.modelwise_cfg(0)

        def update(self, cfg, result):
            raise ZeroDivisionError("oops")

    opts["strategy"] = Bad(space, 1)
    with pytest.raises(ZeroDivisionError) as ei:
        _engine._tune(space, a, opts)
    assert ei.value.__notes__ == ["lpot: raised by strategy.update of tuning trial 1"]
    opts["strategy"] = type("Short", (Strategy,), {"next_tune_cfg": lambda self: [0]})(space)
    with pytest.raises(ValueError, match="has 6 entries") as ei:
        _engine._tune(space, a, opts)
    assert ei.value.__notes__ == ["lpot: raised by strategy.next_tune_cfg after tuning trial 0"]


def test_python_strategy(tmp_path):
    seen = []

    @strategy_registry
    class OneAtATimeTuneStrategy(Strategy):
        def __init__(self, space, seed):
            super().__init__(space, seed)
            self.k = 0

        def next_tune_cfg(self):
            if self.k > len(self.space):
                return None
            cfg = self.space.modelwise_cfg(0)
            for i in range(self.k):
                cfg[i] = self.space.fallback(i)
            self.k += 1
            return cfg

        def update(self, cfg, result):
            seen.append((cfg, result["passed"], result["trial"]))

    assert "oneatatime" in lpot.strategy.names()
    a = SyntheticAdaptor(5, "graded", seed=0)
    r = run(a, tmp_path, strategy="oneatatime", timeout=1000)
    assert r.stop == "exhausted" and r.trials == 6
    assert [s[2] for s in seen] == [1, 2, 3, 4, 5, 6]
    space = lpot.tuning.build_space(a.query_capability())
    assert seen[-1][0] == [space.fallback(i) for i in range(5)] + [0]
    assert seen[-1][1] is True and seen[0][1] is False
    with pytest.raises(ValueError, match="built-in"):
        strategy_registry(type("Basic", (Strategy,), {"name": "basic"}))


def test_python_strategy_named_in_yaml(tmp_path):
    """A YAML config may name a registered Python strategy; before it is
    registered the name is a ConfigError that says how to register it."""
    from lpot.conf.config import load
    y = "model: {name: m, framework: pytorch}\ntuning: {strategy: {name: yamlnamed}}\n"
    with pytest.raises(lpot.ConfigError, match="'tpe' or a strategy registered with "
                                               "@strategy_registry, got 'yamlnamed'"):
        load(y)
    calls = []

    @strategy_registry
    class YamlNamedTuneStrategy(Strategy):
        def next_tune_cfg(self):
            calls.append(len(calls))
            return self.space.modelwise_cfg(0) if len(calls) == 1 else None

    cfg = load(y)
    assert cfg["tuning"]["strategy"] == {"name": "yamlnamed"}
    t = tuning_options(timeout=1000)
    t["strategy"] = cfg["tuning"]["strategy"]
    r = tune(SyntheticAdaptor(5, "graded", seed=0), t, workspace=str(tmp_path), progress=False)
    assert calls == [0, 1] and r.trials == 1


# ---- criterion and objectives -------------------------------------------------

def test_absolute_and_lower_is_better(tmp_path):
    a = SyntheticAdaptor(10, "few", seed=1)
    t = tuning_options(timeout=0)
    t["accuracy_criterion"] = {"absolute": 0.02, "higher_is_better": True}
    r = tune(a, t, workspace=str(tmp_path / "a"), progress=False)
    assert r.target == pytest.approx(0.78) and r.found

    class Loss(SyntheticAdaptor):
        def evaluate(self, model):
            return 1.0 - super().evaluate(model)  # lower is better: 0.2 baseline

    b = Loss(10, "few", seed=1)
    t["accuracy_criterion"] = {"relative": "1%", "higher_is_better": False}
    r = tune(b, t, workspace=str(tmp_path / "b"), progress=False)
    assert r.baseline == pytest.approx(0.2) and r.target == pytest.approx(0.202)
    assert r.found and r.best_accuracy <= 0.202


def test_modelsize_objective_and_weights(tmp_path):
    class Sized(SyntheticAdaptor):
        def model_size(self, model):
            return float(sum({"int8": 1, "bf16": 2, "fp32": 4}[p] * (i + 1)
                             for i, p in enumerate(model.prec)))

    a = Sized(8, "few", seed=0)
    r = run(a, tmp_path / "s", timeout=1000, objective="modelsize")
    assert r.found and r.best_measures["modelsize"] > 0
    assert math.isnan(r.best_measures["performance"])
    r2 = run(Sized(8, "few", seed=0), tmp_path / "w", timeout=1000,
             objective={"performance": 0.7, "modelsize": 0.3})
    assert r2.best_measures["modelsize"] > 0 and r2.best_measures["performance"] > 0
    with pytest.raises(lpot.ConfigError, match="unknown objective 'speed'"):
        run(Sized(8, "few", seed=0), tmp_path / "x", objective="speed")


# ---- exit policy ----------------------------------------------------------------

def test_max_trials_exact(tmp_path):
    a = SyntheticAdaptor(50, "heavy", seed=3)
    r = run(a, tmp_path, timeout=1000, max_trials=7)
    assert r.stop == "max_trials" and r.trials == 7
    assert a.evaluations == 8
    trials = [x for x in journal_lines(r.journal) if x.get("kind") == "trial"]
    assert [t["trial"] for t in trials] == list(range(8))


def test_timeout_is_respected_within_one_trial(tmp_path):
    import time

    class Slow(SyntheticAdaptor):
        starts = []

        def quantize(self, tune_cfg):
            self.starts.append(time.monotonic())
            return super().quantize(tune_cfg)

    a = Slow(50, "heavy", seed=3, eval_seconds=0.05)
    t0 = time.monotonic()
    r = run(a, tmp_path, timeout=0.3)
    assert r.stop == "timeout"
    # no trial starts after the budget is spent (checked before each trial)
    assert all(s - t0 < 0.3 for s in a.starts)
    assert r.trials == len(a.starts) >= 2


def test_performance_only_does_not_evaluate(tmp_path):
    a = SyntheticAdaptor(10, "few", seed=1)
    t = tuning_options()
    t["exit_policy"]["performance_only"] = True
    r = tune(a, t, workspace=str(tmp_path), progress=False)
    assert r.stop == "performance_only" and r.trials == 1 and a.evaluations == 0
    assert r.model is not None and r.model.prec == ["int8"] * 10


def test_no_passing_config_says_why(tmp_path, caplog):
    a = SyntheticAdaptor(10, "few", seed=1)
    caplog.set_level(logging.WARNING, logger="lpot")
    r = run(a, tmp_path, relative=0.0001, max_trials=5)
    assert not r.found and r.model is None and r.best_so_far_model is not None
    assert r.stop == "max_trials"
    assert "no configuration met the accuracy goal: max_trials reached; best accuracy" in r.message
    assert f"vs target {r.target:.6g}" in r.message and "after 5 trials" in r.message
    assert r.message in caplog.text
    assert a.accuracy_of(r.best_so_far_model) == r.best_accuracy


# ---- errors, interrupts, NaN ----------------------------------------------------

class Failing(SyntheticAdaptor):
    def __init__(self, *a, fail_at=3, exc=RuntimeError("boom"), where="quantize", **kw):
        super().__init__(*a, **kw)
        self.fail_at, self.exc, self.where, self.calls = fail_at, exc, where, 0

    def quantize(self, tune_cfg):
        self.calls += 1
        if self.where == "quantize" and self.calls == self.fail_at:
            raise self.exc
        return super().quantize(tune_cfg)

    def evaluate(self, model):
        if self.where == "evaluate" and self.calls == self.fail_at:
            raise self.exc
        return super().evaluate(model)


@pytest.mark.parametrize("where", ["quantize", "evaluate"])
def test_adaptor_exception_carries_the_trial(tmp_path, where):
    a = Failing(50, "heavy", seed=3, fail_at=3, where=where, exc=RuntimeError("boom"))
    with pytest.raises(RuntimeError, match="boom") as ei:
        run(a, tmp_path, timeout=1000)
    assert ei.value.__notes__ == [f"lpot: raised by adaptor.{where} during tuning trial 3"]
    trials = [x for x in journal_lines(tmp_path / "history.jsonl") if x.get("kind") == "trial"]
    assert [t["trial"] for t in trials] == [0, 1, 2]


def test_baseline_errors(tmp_path):
    class Bad(SyntheticAdaptor):
        def evaluate(self, model):
            return float("nan")

    with pytest.raises(lpot.TuningError, match="fp32 baseline accuracy is nan"):
        run(Bad(4, "few"), tmp_path / "a")

    class Raises(SyntheticAdaptor):
        def evaluate(self, model):
            raise ValueError("no data")

    with pytest.raises(ValueError, match="no data") as ei:
        run(Raises(4, "few"), tmp_path / "b")
    assert ei.value.__notes__ == ["lpot: raised by adaptor.evaluate during the fp32 baseline (trial 0)"]

    class NotNumber(SyntheticAdaptor):
        def evaluate(self, model):
            return "high"

    with pytest.raises(TypeError, match="adaptor.evaluate must return a number"):
        run(NotNumber(4, "few"), tmp_path / "c")


def test_quantize_returning_none_is_an_error(tmp_path):
    class NoModel(SyntheticAdaptor):
        def quantize(self, tune_cfg):
            return None

    with pytest.raises(TypeError, match="adaptor.quantize returned None") as ei:
        run(NoModel(4, "few"), tmp_path)
    assert ei.value.__notes__ == ["lpot: raised by adaptor.quantize during tuning trial 1"]


def test_keyboard_interrupt_stops_cleanly(tmp_path):
    a = Failing(50, "heavy", seed=3, fail_at=4, exc=KeyboardInterrupt(), where="evaluate")
    r = run(a, tmp_path, timeout=1000)
    assert r.stop == "interrupted" and r.trials == 3
    assert r.best_so_far_model is not None
    trials = [x for x in journal_lines(r.journal) if x.get("kind") == "trial"]
    assert [t["trial"] for t in trials] == [0, 1, 2, 3]
    assert "interrupted by the user" in r.message


def test_nan_accuracy_fails_and_is_logged(tmp_path, caplog):
    class NaNs(SyntheticAdaptor):
        def evaluate(self, model):
            acc = super().evaluate(model)
            return float("nan") if model.prec.count("bf16") == 1 else acc

    caplog.set_level(logging.WARNING, logger="lpot")
    a = NaNs(10, "few", seed=1)
    r = run(a, tmp_path, timeout=1000)
    assert "the evaluation returned NaN; treated as failing" in caplog.text
    trials = [x for x in journal_lines(r.journal) if x.get("kind") == "trial"]
    nan = [t for t in trials if t["acc"] is None]
    assert nan and not any(t["passed"] for t in nan)
    assert r.found and r.model.prec.count("bf16") != 1


# ---- journal and resume ---------------------------------------------------------

def test_journal_records_every_trial(tmp_path):
    a = SyntheticAdaptor(10, "few", seed=1)
    r = run(a, tmp_path, timeout=1000)
    lines = journal_lines(r.journal)
    hdr = lines[0]
    assert hdr["lpot_journal"] == 1 and hdr["model"] == a.fingerprint()
    assert "strategy=basic;criterion=relative:0.01" in hdr["tuning"]
    trials = [x for x in lines[1:] if x["kind"] == "trial"]
    assert trials[0]["cfg"] == "fp32" and trials[0]["acc"] == pytest.approx(0.8)
    assert [t["trial"] for t in trials] == list(range(r.trials + 1))
    assert any(x.get("kind") == "proxy" and len(x["err"]) == 10 for x in lines)
    for t in trials[1:]:
        assert t["evaluated"] and t["sec"] >= 0
        assert (t["perf"] is not None) == t["passed"]


def test_resume_replays_without_rerunning(tmp_path):
    full = SyntheticAdaptor(50, "few", seed=1)
    ref = run(full, tmp_path / "ref", timeout=1000)
    assert ref.trials > 4
    # an interrupted run: stops after 4 trials
    part = Failing(50, "few", seed=1, fail_at=5, exc=KeyboardInterrupt(), where="quantize")
    r1 = run(part, tmp_path / "ws", timeout=1000)
    assert r1.stop == "interrupted" and r1.trials == 4
    again = SyntheticAdaptor(50, "few", seed=1)
    r2 = run(again, tmp_path / "ws", timeout=1000, resume=True)
    assert r2.best_cfg == ref.best_cfg and r2.trials == ref.trials
    assert r2.replayed == 4 + 1  # trials + baseline
    assert again.evaluations == full.evaluations - 5
    # no replayed configuration was quantized again except the final best rebuild
    assert len(again.seen_cfgs) <= len(full.seen_cfgs) - 4 + 1


def test_resume_after_sigkill(tmp_path, py):
    ws = tmp_path / "ws"
    code = textwrap.dedent(f"""
        import os, signal, sys
        sys.path.insert(0, {os.path.dirname(__file__)!r})
        from synthetic_adaptor import SyntheticAdaptor, tuning_options
        from lpot.tuning import tune
        class Killed(SyntheticAdaptor):
            def evaluate(self, model):
                if self.evaluations == 9:
                    os.kill(os.getpid(), signal.SIGKILL)
                return super().evaluate(model)
        tune(Killed(200, "few", seed=1), tuning_options(timeout=1000), workspace={str(ws)!r},
             progress=False)
    """)
    p = py(code)
    assert p.returncode == -signal.SIGKILL, p.stderr
    lines = journal_lines(ws / "history.jsonl")
    done = [x for x in lines if x.get("kind") == "trial"]
    assert len(done) == 9  # baseline + 8 trials survived the kill
    full = SyntheticAdaptor(200, "few", seed=1)
    ref = run(full, tmp_path / "ref", timeout=1000)
    again = SyntheticAdaptor(200, "few", seed=1)
    r = run(again, ws, timeout=1000, resume=True)
    assert r.best_cfg == ref.best_cfg and r.trials == ref.trials and r.found
    assert again.evaluations == full.evaluations - 9
    done_cfgs = {x["cfg"] for x in done}
    later = [x for x in journal_lines(ws / "history.jsonl")[len(lines):] if x.get("kind") == "trial"]
    assert not done_cfgs & {x["cfg"] for x in later}


def test_resume_drops_a_torn_last_line(tmp_path):
    r = run(SyntheticAdaptor(10, "few", seed=1), tmp_path, timeout=1000, max_trials=3)
    with open(r.journal, "a") as f:
        f.write('{"kind":"trial","trial":4,"cfg":"0|0,0')
    r2 = run(SyntheticAdaptor(10, "few", seed=1), tmp_path, timeout=1000, resume=True)
    assert r2.found and r2.replayed == 4
    for x in journal_lines(r.journal):  # every line parses again
        assert isinstance(x, dict)


@pytest.mark.parametrize("garbage", [
    '{"kind":"trial","trial":1,"cfg":"0|0,0,0,0,0,0,0,0,0,0","acc":[1,\n',
    '{"kind":"trial","trial":1,"cfg":"0|0,0,0,0,0,0,0,0,0,0","acc":"x"}\n',
    '\x00\x01\n', '{"kind":"trial"\n', '[1,2,3]\n', '{"cfg":"\\u00zz"}\n'])
def test_resume_refuses_a_corrupt_middle_line(tmp_path, garbage):
    r = run(SyntheticAdaptor(10, "few", seed=1), tmp_path, timeout=1000, max_trials=3)
    with open(r.journal) as f:
        lines = f.read().splitlines(True)
    lines.insert(2, garbage)
    with open(r.journal, "w") as f:
        f.writelines(lines)
    with pytest.raises(lpot.TuningError, match=r"line 3 is corrupt"):
        run(SyntheticAdaptor(10, "few", seed=1), tmp_path, timeout=1000, resume=True)


def test_resume_ignores_records_that_do_not_fit(tmp_path):
    r = run(SyntheticAdaptor(10, "few", seed=1), tmp_path, timeout=1000, max_trials=2)
    with open(r.journal, "a") as f:
        f.write('{"kind":"trial","trial":9,"cfg":"7|0","acc":0.9,"passed":true,"extra":[1,{"a":2}]}\n')
        f.write('{"kind":"other","cfg":"x"}\n')
    r2 = run(SyntheticAdaptor(10, "few", seed=1), tmp_path, timeout=1000, resume=True)
    assert r2.found and r2.replayed == 3


def test_resume_refuses_a_mismatched_journal(tmp_path):
    run(SyntheticAdaptor(10, "few", seed=1), tmp_path, max_trials=2)
    with pytest.raises(lpot.TuningError, match=r"different tuning options \(journal: "
                       r"strategy=basic;criterion=relative:0.01.*now: strategy=basic;"
                       r"criterion=relative:0.02"):
        run(SyntheticAdaptor(10, "few", seed=1), tmp_path, resume=True, relative=0.02)
    with pytest.raises(lpot.TuningError, match="belongs to a different model"):
        run(SyntheticAdaptor(10, "few", seed=2), tmp_path, resume=True)
    with pytest.raises(lpot.TuningError, match="different tuning space"):
        run(SyntheticAdaptor(10, "few", seed=1, bf16=False), tmp_path, resume=True)
    with pytest.raises(lpot.TuningError, match="random_seed=5"):
        run(SyntheticAdaptor(10, "few", seed=1), tmp_path, resume=True, seed=5)
    with pytest.raises(OSError, match="cannot open tuning journal"):
        run(SyntheticAdaptor(10, "few", seed=1), tmp_path / "none", resume=True)
    bad = tmp_path / "bad.jsonl"
    bad.write_text("hello\n")
    t = tuning_options()
    t["workspace"] = {"resume": str(bad)}
    with pytest.raises(lpot.TuningError, match="not an lpot tuning journal"):
        tune(SyntheticAdaptor(4, "few"), t, progress=False)


def test_unknown_strategy(tmp_path):
    with pytest.raises(lpot.ConfigError, match="unknown strategy 'fastest'"):
        run(SyntheticAdaptor(4, "few"), tmp_path, strategy="fastest")


def test_progress_bar_runs(tmp_path, capsys):
    r = tune(SyntheticAdaptor(10, "few", seed=1), tuning_options(max_trials=4),
             workspace=str(tmp_path), progress=True)
    err = capsys.readouterr().err
    assert "lpot tuning" in err and "best=" in err and r.trials <= 4


def test_real_sigint_stops_cleanly(tmp_path):
    class Sigint(SyntheticAdaptor):
        def evaluate(self, model):
            if self.evaluations == 3:
                os.kill(os.getpid(), signal.SIGINT)
            return super().evaluate(model)

    r = run(Sigint(50, "heavy", seed=3), tmp_path, timeout=1000)
    assert r.stop == "interrupted" and r.trials in (2, 3)
    assert r.best_so_far_model is not None


from hypothesis import HealthCheck, given, settings, strategies as st  # noqa: E402


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(junk=st.binary(max_size=200))
def test_resume_survives_any_junk_line(tmp_path_factory, junk):
    d = tmp_path_factory.mktemp("junk")
    r = run(SyntheticAdaptor(6, "few", seed=1), d, timeout=1000, max_trials=2)
    with open(r.journal, "rb") as f:
        lines = f.read().splitlines(True)
    with open(r.journal, "wb") as f:
        f.writelines(lines[:2] + [junk.replace(b"\n", b" ") + b"\n"] + lines[2:])
    try:
        r2 = run(SyntheticAdaptor(6, "few", seed=1), d, timeout=1000, resume=True)
    except lpot.TuningError as e:
        assert "line 3 is corrupt" in str(e)
    else:
        assert r2.found
