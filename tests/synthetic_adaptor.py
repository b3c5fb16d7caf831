"""A synthetic adaptor whose accuracy and latency are known functions of the
configuration, for tuning tests and bench/bench_tuning.py.

accuracy(cfg) = baseline - sum_i drop_i(option_i) - sum_pairs extra (both int8)
  drop_i(int8 option k) = d_i * mult_i[k] * (0.95 if the 2nd sampling size)
  drop_i(bf16) = 0.02 * d_i, drop_i(fp32) = 0
latency(cfg) = 1 ms + sum_i c_i * {int8: 0.30 (0.33 for non-default options),
                                   bf16: 0.6, fp32: 1.0}
inspect_tensor: per op a fixed fp32 vector; a quantized op's output carries
noise whose normalised MSE is drop_i * q_i, q_i a fixed lognormal factor
(proxy_noise = its sigma: 0 = a perfect proxy). An interacting pair (a, b)
shows its extra drop at b's output (b downstream of a, as error propagation
makes it) unless hidden_interactions=True, where no proxy can see it.

Profiles of d_i (baseline 0.80, so a 1% relative goal allows 0.008):
  few     every op 2e-5 +-50%; max(2, n//20) sensitive ops 0.009..0.015 (each
          alone breaks the goal); one interacting pair of ordinary ops
          costing 0.009 more when both are int8.
  graded  d = 0.01 * 0.7**r over a random permutation r (about 5 ops needed).
  heavy   d = 1e-4 * lognormal(0, 1.5): many small and a few large drops.
"""
from __future__ import annotations

import itertools
import time
from typing import Any, Dict, List, Optional, Sequence

import numpy as np

ACT_ALGOS = ("minmax", "kl")
W_GRANS = ("per_channel", "per_tensor")


class Model:
    def __init__(self, prec: List[str], mult: np.ndarray, sampling: int) -> None:
        self.prec = prec          # per op: int8 / bf16 / fp32
        self.mult = mult          # per op drop multiplier of its int8 option (1 for float)
        self.sampling = sampling


class SyntheticAdaptor:
    def __init__(self, n_ops: int = 10, profile: str = "few", seed: int = 0,
                 baseline: float = 0.80, bf16: bool = True, options: int = 1,
                 sampling_sizes: Sequence[int] = (100,), proxy_noise: float = 0.5,
                 inspect: bool = True, eval_seconds: float = 0.0,
                 hidden_interactions: bool = False) -> None:
        rng = np.random.default_rng(seed)
        self.n = n_ops
        self.names = [f"op{i}" for i in range(n_ops)]
        self.baseline = baseline
        self.bf16 = bf16
        self.options = options            # 1: one int8 option; 2: act minmax|kl; 4: x w gran
        self.sampling_sizes = list(sampling_sizes)
        self.eval_seconds = eval_seconds
        self.hidden = hidden_interactions
        self.pairs: List[tuple] = []
        if profile == "few":
            d = 2e-5 * rng.uniform(0.5, 1.5, n_ops)
            k = max(2, n_ops // 20)
            sens = rng.choice(n_ops, k, replace=False)
            d[sens] = rng.uniform(0.009, 0.015, k)
            rest = [i for i in range(n_ops) if i not in set(sens.tolist())]
            a, b = rng.choice(rest, 2, replace=False)
            self.pairs.append((int(a), int(b), 0.009))
            self.sensitive = sorted(int(i) for i in sens)
        elif profile == "graded":
            d = 0.01 * 0.7 ** rng.permutation(n_ops).astype(float)
            self.sensitive = []
        elif profile == "heavy":
            d = 1e-4 * rng.lognormal(0.0, 1.5, n_ops)
            self.sensitive = []
        else:
            raise ValueError(profile)
        self.d = d
        # drop multipliers of the int8 options (option 0 = 1.0)
        self.mult = np.ones((n_ops, 4))
        self.mult[:, 1:] = rng.uniform(0.8, 1.25, (n_ops, 3))
        self.cost = rng.uniform(1e-3, 3e-3, n_ops)
        self.proxy_q = rng.lognormal(0.0, proxy_noise, n_ops) if proxy_noise > 0 else np.ones(n_ops)
        self.ref = [np.random.default_rng(1000 + i).standard_normal(64) for i in range(n_ops)]
        self.noise = [np.random.default_rng(5000 + i).standard_normal(64) for i in range(n_ops)]
        self.fp32_model = Model(["fp32"] * n_ops, np.ones(n_ops), self.sampling_sizes[0])
        self.evaluations = 0
        self.quantizations = 0
        self.seen_cfgs: List[Any] = []
        if not inspect:
            self.inspect_tensor = None  # type: ignore[assignment]

    # ---- the adaptor protocol ------------------------------------------------
    def query_capability(self) -> List[Dict[str, Any]]:
        act_dtypes = ["uint8"] + (["bf16"] if self.bf16 else []) + ["fp32"]
        algos = list(ACT_ALGOS[: 2 if self.options >= 2 else 1])
        grans = list(W_GRANS[: 2 if self.options >= 4 else 1])
        return [{"name": n, "type": "Conv",
                 "weight": {"dtype": ["int8", "fp32"], "scheme": ["sym"], "granularity": grans,
                            "algorithm": ["minmax"]},
                 "activation": {"dtype": act_dtypes, "scheme": ["asym"],
                                "granularity": ["per_tensor"], "algorithm": algos}}
                for n in self.names]

    def quantize(self, tune_cfg: Dict[str, Any]) -> Model:
        self.quantizations += 1
        prec, mult = [], np.ones(self.n)
        for i, n in enumerate(self.names):
            c = tune_cfg["op"][(n, "Conv")]
            dt = c["activation"]["dtype"]
            if dt in ("bf16", "fp32"):
                prec.append(dt)
                continue
            prec.append("int8")
            k = ACT_ALGOS.index(c["activation"]["algorithm"]) * 2 + \
                W_GRANS.index(c["weight"]["granularity"])
            mult[i] = self.mult[i, k]
        self.seen_cfgs.append((tuple(prec), tuple(mult), tune_cfg["calib_sampling_size"]))
        return Model(prec, mult, tune_cfg["calib_sampling_size"])

    def accuracy_of(self, m: Model) -> float:
        f = 0.95 if len(self.sampling_sizes) > 1 and m.sampling == self.sampling_sizes[1] else 1.0
        drop = 0.0
        for i, p in enumerate(m.prec):
            if p == "int8":
                drop += self.d[i] * m.mult[i] * f
            elif p == "bf16":
                drop += 0.02 * self.d[i]
        for a, b, extra in self.pairs:
            if m.prec[a] == "int8" and m.prec[b] == "int8":
                drop += extra
        return self.baseline - drop

    def evaluate(self, model: Model) -> float:
        self.evaluations += 1
        if self.eval_seconds:
            time.sleep(self.eval_seconds)
        return self.accuracy_of(model)

    def benchmark(self, model: Model) -> float:
        lat = 1e-3
        for i, p in enumerate(model.prec):
            if p == "int8":
                lat += self.cost[i] * (0.30 if model.mult[i] == 1.0 else 0.33)
            else:
                lat += self.cost[i] * (0.6 if p == "bf16" else 1.0)
        return lat

    def inspect_tensor(self, model: Model, op_names: Sequence[str]) -> Dict[str, np.ndarray]:
        out = {}
        extra = np.zeros(self.n)
        for a, b, e in self.pairs:
            if not self.hidden and model.prec[a] == "int8" and model.prec[b] == "int8":
                extra[b] += e
        for i, n in enumerate(op_names):
            x = self.ref[i]
            if model.prec[i] == "int8":
                e = (self.d[i] * model.mult[i] + extra[i]) * self.proxy_q[i]
                x = x + self.noise[i] * np.sqrt(e)
            out[n] = x
        return out

    def fingerprint(self) -> str:
        return f"synthetic-{self.n}-{float(self.d.sum()):.12g}"

    # ---- ground truth --------------------------------------------------------
    def target(self, relative: float = 0.01) -> float:
        return self.baseline * (1 - relative)

    def minimal_fallback_sets(self, relative: float = 0.01) -> List[frozenset]:
        """Every smallest set of ops whose bf16 fallback (default int8 option
        elsewhere) meets the goal; brute force, small n only."""
        assert self.n <= 16
        t = self.target(relative)
        for k in range(self.n + 1):
            found = []
            for s in itertools.combinations(range(self.n), k):
                prec = ["bf16" if i in s else "int8" for i in range(self.n)]
                if self.accuracy_of(Model(prec, np.ones(self.n), self.sampling_sizes[0])) >= t:
                    found.append(frozenset(self.names[i] for i in s))
            if found:
                return found
        return []

    def best_latency_passing(self, relative: float = 0.01) -> float:
        """Fastest passing configuration over the whole space (every op:
        int8 options, bf16, fp32), by brute force; small n only."""
        t = self.target(relative)
        n_int8 = {1: 1, 2: 2, 4: 4}[self.options]
        choices = [("int8", k) for k in (range(4) if n_int8 == 4 else
                                          (0, 2) if n_int8 == 2 else (0,))]
        choices += ([("bf16", 0)] if self.bf16 else []) + [("fp32", 0)]
        best = float("inf")
        for combo in itertools.product(choices, repeat=self.n):
            prec = [c[0] for c in combo]
            mult = np.array([self.mult[i, c[1]] if c[0] == "int8" else 1.0
                             for i, c in enumerate(combo)])
            for s in self.sampling_sizes:
                m = Model(prec, mult, s)
                if self.accuracy_of(m) >= t:
                    best = min(best, self.benchmark(m))
        return best


def tuning_options(strategy: str = "basic", timeout: float = 0, max_trials: int = 1000,
                   seed: int = 1978, path: Optional[str] = None, resume: Any = None,
                   objective: Any = "performance", relative: Any = 0.01) -> Dict[str, Any]:
    t: Dict[str, Any] = {
        "strategy": {"name": strategy},
        "accuracy_criterion": {"relative": relative, "higher_is_better": True},
        "objective": objective,
        "exit_policy": {"timeout": timeout, "max_trials": max_trials},
        "random_seed": seed,
        "workspace": {},
    }
    if path:
        t["workspace"]["path"] = path
    if resume is not None:
        t["workspace"]["resume"] = resume
    return t
