"""LPOT 1.x's first API, kept for old scripts (exposed lazily as lpot.Quantization
and lpot.Benchmark):

    quantizer = lpot.Quantization('conf.yaml')
    q_model = quantizer(model, q_dataloader=None, q_func=None,
                        eval_dataloader=None, eval_func=None)
    evaluator = lpot.Benchmark('conf.yaml')
    results = evaluator(model, b_dataloader=None)   # {mode: (acc, batch_size, latency_list)}

Both run lpot.experimental underneath; the benchmark runs every mode the
YAML's evaluation section has (accuracy needs a metric).
"""
from __future__ import annotations

from typing import Any, Callable, Dict, Optional

from lpot.experimental import benchmark as _bench
from lpot.experimental import quantization as _quant


class Quantization:
    def __init__(self, conf_fname: Any) -> None:
        self.conf_fname = conf_fname
        self.component: Optional[_quant.Quantization] = None

    def __call__(self, model: Any, q_dataloader: Any = None, q_func: Optional[Callable[[Any], Any]] = None,
                 eval_dataloader: Any = None, eval_func: Optional[Callable[[Any], Any]] = None) -> Any:
        q = _quant.Quantization(self.conf_fname)
        q.model = model
        q.calib_dataloader = q_dataloader
        q.q_func = q_func
        q.eval_dataloader = eval_dataloader
        q.eval_func = eval_func
        self.component = q
        return q()


class Benchmark:
    def __init__(self, conf_fname: Any) -> None:
        self.conf_fname = conf_fname
        self.component: Optional[_bench.Benchmark] = None

    def __call__(self, model: Any, b_dataloader: Any = None, b_func: Any = None) -> Dict[str, tuple]:
        if b_func is not None:
            raise TypeError("lpot.Benchmark: b_func is not supported; pass b_dataloader")
        b = _bench.Benchmark(self.conf_fname)
        b.model = model
        b.b_dataloader = b_dataloader
        self.component = b
        ev = b.conf.get("evaluation") or {}
        modes = [m for m in ("accuracy", "performance") if ev.get(m)] or ["performance"]
        for mode in modes:
            b(mode)
        return b.legacy_results()
