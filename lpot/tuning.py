"""Accuracy-driven tuning: a thin front of the C engine (csrc/tune.c).

    result = tune(adaptor, tuning_options, quantization=quant_section)

`tuning_options` is a dict shaped like the YAML `tuning:` section
(strategy.name, accuracy_criterion.relative|absolute + higher_is_better,
objective, exit_policy.timeout/max_trials/performance_only, random_seed,
workspace.path/resume); `quantization` like the `quantization:` section
(model_wise, op_wise, calibration.sampling_size).

The adaptor is any object with:
    fp32_model                       the original model
    query_capability() -> [{"name", "type", "weight": {dtype, scheme,
        granularity, algorithm} | None, "activation": {...}}]
    quantize(tune_cfg) -> model      tune_cfg = {"calib_sampling_size": int,
        "op": {(name, type): {"weight": {...} | None, "activation": {...}}}}
    evaluate(model) -> float
and optionally benchmark(model) -> median latency in seconds on a fixed input,
model_size(model), footprint(model), inspect_tensor(model, op_names) ->
{op_name: ndarray} (outputs on a few fixed batches; the cheap proxy of basic
and mse), fingerprint() -> str (identifies the model for resume).
"""
from __future__ import annotations

import logging
import math
import os
import re
import time
from dataclasses import dataclass, field
from typing import Any, Dict, List, Mapping, Optional, Sequence

from lpot import _engine
from lpot._engine import ConfigError, TuningSpace
from lpot.strategy import STRATEGIES

__all__ = ["tune", "TuningResult", "build_space", "resolve_op_wise"]

logger = logging.getLogger("lpot")

_NAME_RE = re.compile(r"^[A-Za-z0-9.][A-Za-z0-9_.\-/]*$")
_OBJECTIVES = ("performance", "modelsize", "footprint")
JOURNAL_NAME = "history.jsonl"
BEST_NAME = "best_tune_cfg.json"


@dataclass
class TuningResult:
    """What tuning found. `model` is the best passing model (None when no
    configuration met the goal); `best_so_far_model` is kept either way (the
    best passing one, else the one with the best accuracy); `message` says
    why tuning stopped and, when nothing passed, how far it got."""

    found: bool
    model: Any
    best_so_far_model: Any
    stop: str
    message: str
    baseline: float
    target: float
    best_accuracy: float
    best_cfg: Optional[List[int]]
    best_tune_cfg: Optional[Dict[str, Any]]
    best_measures: Dict[str, float] = field(default_factory=dict)
    trials: int = 0
    evaluations: int = 0
    replayed: int = 0
    elapsed: float = 0.0
    journal: Optional[str] = None
    fallback_ops: List[str] = field(default_factory=list)
    best_file: Optional[str] = None


def _as_list(v: Any) -> Any:
    if isinstance(v, str):
        return [x.strip() for x in v.split(",") if x.strip()]
    return v


def _norm_filter(d: Optional[Mapping[str, Any]]) -> Optional[Dict[str, Any]]:
    if d is None:
        return None
    out: Dict[str, Any] = {}
    for part in ("weight", "activation"):
        sub = d.get(part)
        if sub is not None:
            out[part] = {k: _as_list(v) for k, v in sub.items()
                         if k in ("dtype", "scheme", "granularity", "algorithm")
                         and v is not None}  # a loaded config's unset fields are null
    return out


def resolve_op_wise(op_names: Sequence[str], op_wise: Optional[Mapping[str, Any]]
                    ) -> Dict[str, Dict[str, Any]]:
    """op_wise keys are op names, or regexes when they do not look like a
    name (SPEC: `^[A-Za-z0-9.][A-Za-z0-9_.\\-/]*$`). Exact names win over
    regexes; among regexes the first listed wins. A regex matching no op is a
    ConfigError (a silent no-op hides typos)."""
    if not op_wise:
        return {}
    names = set(op_names)
    out: Dict[str, Dict[str, Any]] = {}
    for key, val in op_wise.items():
        if _NAME_RE.match(key):
            if key not in names:
                raise ConfigError(f"op_wise: the model has no op named '{key}'")
            out[key] = _norm_filter(val) or {}
    for key, val in op_wise.items():
        if _NAME_RE.match(key):
            continue
        try:
            rx = re.compile(key)
        except re.error as e:
            raise ConfigError(f"op_wise: '{key}' is neither an op name nor a valid regex ({e})")
        hits = [n for n in op_names if rx.fullmatch(n)]
        if not hits:
            raise ConfigError(f"op_wise: regex '{key}' matches no op of the model")
        for n in hits:
            out.setdefault(n, _norm_filter(val) or {})
    return out


# LPOT 1.x's activation algorithms: the default tuning space. lpot's percentile
# and mse observers are opt-in (a model_wise or op_wise `algorithm:` naming
# them): listed by default they would double the model-wise stage's trials.
DEFAULT_ACT_ALGORITHMS = ("minmax", "kl")


def build_space(capability: Sequence[Mapping[str, Any]],
                quantization: Optional[Mapping[str, Any]] = None) -> TuningSpace:
    """The tuning space: capability ∩ model_wise ∩ op_wise, + sampling sizes.
    Activation algorithms: model_wise's, else DEFAULT_ACT_ALGORITHMS; an
    op_wise entry naming none keeps that (op_wise replaces model_wise for its
    op, which would otherwise reopen every algorithm of the capability)."""
    q = quantization or {}
    names = [op["name"] for op in capability]
    sampling = (q.get("calibration") or {}).get("sampling_size", [100])
    if isinstance(sampling, (int, str)):
        sampling = [int(x) for x in _as_list(str(sampling))]
    mw = _norm_filter(q.get("model_wise")) or {}
    algos = mw.setdefault("activation", {}).setdefault("algorithm", list(DEFAULT_ACT_ALGORITHMS))
    ow = resolve_op_wise(names, q.get("op_wise"))
    for entry in ow.values():
        entry.setdefault("activation", {}).setdefault("algorithm", list(algos))
    return TuningSpace(list(capability), model_wise=mw, op_wise=ow or None,
                       sampling_sizes=[int(s) for s in sampling])


def _criterion(t: Mapping[str, Any]) -> Dict[str, Any]:
    ac = dict(t.get("accuracy_criterion") or {"relative": 0.01})
    if ("relative" in ac) == ("absolute" in ac):
        raise ConfigError("tuning.accuracy_criterion: give exactly one of relative/absolute")
    rel = "relative" in ac
    v = ac["relative" if rel else "absolute"]
    if isinstance(v, str):
        s = v.strip()
        v = float(s[:-1]) / 100 if s.endswith("%") else float(s)
    return {"relative": rel, "tolerance": float(v),
            "higher_is_better": bool(ac.get("higher_is_better", True))}


def _weights(obj: Any) -> List[float]:
    if obj is None:
        obj = "performance"
    if isinstance(obj, str):
        obj = {k: 1.0 for k in _as_list(obj)}
    elif isinstance(obj, (list, tuple)):
        obj = {k: 1.0 / len(obj) for k in obj}
    w = [0.0] * len(_OBJECTIVES)
    for k, v in dict(obj).items():
        if k not in _OBJECTIVES:
            raise ConfigError(f"tuning.objective: unknown objective '{k}' "
                              f"(expected one of {', '.join(_OBJECTIVES)})")
        w[_OBJECTIVES.index(k)] = float(v)
    return w


def _journal(t: Mapping[str, Any], workspace: Optional[str]) -> tuple:
    ws = dict(t.get("workspace") or {})
    path = workspace or ws.get("path") or os.path.join(
        "lpot_workspace", time.strftime("%Y-%m-%d_%H-%M-%S"))
    resume = ws.get("resume")
    if resume is True:
        resume = os.path.join(path, JOURNAL_NAME)
    if resume:
        return os.fspath(resume), True
    os.makedirs(path, exist_ok=True)
    return os.path.join(path, JOURNAL_NAME), False


class _Progress:
    def __init__(self, enabled: Optional[bool], total: Optional[int], budget: float) -> None:
        self.bar = None
        self.budget = budget
        if enabled is not False:
            from tqdm import tqdm  # lazily: only when tuning

            self.bar = tqdm(total=total, desc="lpot tuning", unit="trial",
                            disable=None if enabled is None else False, leave=True)

    def __call__(self, d: Dict[str, Any]) -> None:
        trial, acc = d["trial"], d["accuracy"]
        if d["evaluated"] and math.isnan(acc):
            logger.warning("trial %d: the evaluation returned NaN; treated as failing", trial)
        if trial == 0:
            logger.info("fp32 baseline accuracy %.6g (target %.6g)%s", d["baseline"],
                        d["target"], " [replayed]" if d["replayed"] else "")
        else:
            logger.debug("trial %d: accuracy %.6g %s%s (%.3fs)", trial, acc,
                         "passed" if d["passed"] else "failed",
                         " [replayed]" if d["replayed"] else "", d["seconds"])
        if self.bar is not None and trial > 0:
            budget = f"/{self.budget:.0f}s" if self.budget > 0 else ""
            self.bar.set_postfix_str(f"best={d['best_accuracy']:.4g} "
                                     f"elapsed={d['elapsed']:.0f}s{budget}", refresh=False)
            self.bar.update(1)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def tune(adaptor: Any, tuning_options: Optional[Mapping[str, Any]] = None,
         workspace: Optional[str] = None, *, quantization: Optional[Mapping[str, Any]] = None,
         space: Optional[TuningSpace] = None, progress: Optional[bool] = None) -> TuningResult:
    """Find the best configuration meeting the accuracy goal (see module doc).

    progress: None = a tqdm bar when stderr is a terminal, True/False force.
    History: <workspace>/history.jsonl (one fsync'd record per trial) and
    <workspace>/best_tune_cfg.json. With workspace.resume (True or the
    journal's path) finished trials are replayed, not run; the journal must
    come from the same model (adaptor.fingerprint()), tuning space and tuning
    options (strategy, criterion, objective, random_seed, performance_only;
    timeout and max_trials may change). max_trials counts replayed trials;
    the timeout budget counts this process's time only.
    Raises lpot.TuningError when tuning cannot proceed (e.g. a resume journal
    written for another model or configuration); exceptions from the adaptor
    propagate with a note naming the trial. KeyboardInterrupt stops cleanly:
    the result has stop == 'interrupted' and the best model so far."""
    t = dict(tuning_options or {})
    if space is None:
        space = build_space(adaptor.query_capability(), quantization)
    crit = _criterion(t)
    ep = dict(t.get("exit_policy") or {})
    timeout = float(ep.get("timeout", 0) or 0)
    max_trials = int(ep.get("max_trials", 100) or 0)
    seed = int(t.get("random_seed", 1978))
    sname = (t.get("strategy") or {}).get("name", "basic")
    strategy: Any = sname
    if sname in STRATEGIES:
        strategy = STRATEGIES[sname](space, seed)
    elif sname not in _engine._strategies():
        raise ConfigError(f"tuning.strategy.name: unknown strategy '{sname}' (known: "
                          f"{', '.join(list(_engine._strategies()) + sorted(STRATEGIES))})")
    journal, resume = _journal(t, workspace)
    fp = adaptor.fingerprint() if callable(getattr(adaptor, "fingerprint", None)) else ""
    bar = _Progress(progress, max_trials or None, timeout)
    opts = dict(crit, strategy=strategy, strategy_name=sname, weights=_weights(t.get("objective")), timeout=timeout,
                max_trials=max_trials, performance_only=bool(ep.get("performance_only", False)),
                seed=seed, journal=journal, resume=resume, model_fingerprint=str(fp),
                progress=bar)
    try:
        r = _engine._tune(space, adaptor, opts)
    finally:
        bar.close()
    return _result(space, r, journal)


def _result(space: TuningSpace, r: Dict[str, Any], journal: str) -> TuningResult:
    best = r["best"] or {}
    cfg = r["best_cfg"]
    fallback: List[str] = []
    if cfg is not None:
        names = space.op_names
        fallback = [names[i] for i in range(len(space))
                    if space.options(i)[cfg[i]]["precision"] != "int8"]
    acc = best.get("accuracy", float("nan"))
    found = bool(r["found"])
    stop = r["stop"]
    head = {"passed": "a configuration met the accuracy goal",
            "max_trials": "max_trials reached", "timeout": "the time budget was spent",
            "exhausted": "the strategy had nothing left to try",
            "interrupted": "interrupted by the user",
            "performance_only": "performance_only: first configuration taken"}.get(stop, stop)
    if found:
        msg = (f"tuning stopped: {head}; best: trial {best.get('trial')} accuracy {acc:.6g} "
               f"(baseline {r['baseline']:.6g}, target {r['target']:.6g}), "
               f"{len(fallback)} op(s) not in int8, {r['trials']} trials, "
               f"{r['evaluations']} evaluations, {r['elapsed']:.1f}s")
        logger.info("%s", msg)
    else:
        msg = (f"no configuration met the accuracy goal: {head}; best accuracy {acc:.6g} vs "
               f"target {r['target']:.6g} (baseline {r['baseline']:.6g}) after {r['trials']} "
               f"trials, {r['evaluations']} evaluations, {r['elapsed']:.1f}s; the best model so "
               f"far and the history ({journal}) are kept")
        logger.warning("%s", msg)
    if stop == "interrupted":
        logger.warning("tuning interrupted; history kept in %s", journal)
    best_tc = space.tune_cfg(cfg) if cfg is not None else None
    best_file = _write_best(journal, best_tc, cfg, found, acc, r)
    return TuningResult(
        found=found, model=r["best_model"] if found else None,
        best_so_far_model=r["best_model"], stop=stop, message=msg, baseline=r["baseline"],
        target=r["target"], best_accuracy=acc, best_cfg=cfg,
        best_tune_cfg=best_tc, best_file=best_file,
        best_measures=dict(best.get("measures") or {}), trials=r["trials"],
        evaluations=r["evaluations"], replayed=r["replayed"], elapsed=r["elapsed"],
        journal=journal, fallback_ops=fallback)


def _write_best(journal: str, tc: Optional[Dict[str, Any]], cfg: Optional[List[int]],
                found: bool, acc: float, r: Dict[str, Any]) -> Optional[str]:
    """The best configuration beside the journal (JSON; op keys 'name|type')."""
    if tc is None:
        return None
    import json

    path = os.path.join(os.path.dirname(os.path.abspath(journal)), BEST_NAME)
    doc = {"found": found, "accuracy": None if math.isnan(acc) else acc,
           "baseline": r["baseline"], "target": r["target"], "cfg": cfg,
           "calib_sampling_size": tc["calib_sampling_size"],
           "op": {f"{k[0]}|{k[1]}": v for k, v in tc["op"].items()}}
    tmp = path + ".tmp"
    try:
        with open(tmp, "w") as f:
            json.dump(doc, f, indent=1)
        os.replace(tmp, path)
    except OSError as e:
        logger.warning("could not write %s: %s", path, e)
        return None
    return path
