"""Quantization math and streaming calibration (thin re-export of the C engine).

Conventions (the project's contract, documented in full at the top of
``csrc/quant.h``):

* ``q = saturate(rint(x / scale) + zero_point)`` and
  ``x' = (q - zero_point) * scale``: ONNX QuantizeLinear/DequantizeLinear,
  bit for bit, round half to even.
* ``qparams(..., convention='onnx')`` (default) reproduces
  ``onnxruntime.quantization.quant_utils.compute_scale_zp`` (int8 symmetric
  uses [-127, 127]; reduce_range is [0, 127] / [-64, 64]);
  ``convention='torch'`` reproduces ``torch.ao.quantization`` observers
  (int8 [-128, 127], reduce_range [-64, 63], scale floored at float32 eps).
  Both always include 0 in the range.

Observers (``Observer``) keep bounded state (min/max per channel or a
2 x 2048-bin histogram), never the activations: ``update(array)`` many times,
``compute()`` once. They merge (``a.merge(b)``) and serialise
(``to_dict``/``from_dict``) without loss. NaN/inf are skipped and counted in
``nan_count``; an observer that saw no finite value raises ``ValueError`` at
``compute()``.

Example::

    from lpot.calib import Observer, quantize
    obs = Observer("kl", dtype="uint8", scheme="asym")
    for batch in activations:
        obs.update(batch)
    scale, zero_point = obs.compute()
    q = quantize(x, scale, zero_point)
"""
from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Dict, Iterable, List, Optional, Tuple

from lpot._engine import (  # noqa: F401  (re-exported)
    Observer,
    dequantize,
    fake_quant,
    qparams,
    quantize,
    requantize,
)

ALGORITHMS = ("minmax", "moving_average", "kl", "percentile", "mse")

_POOL: Optional[ThreadPoolExecutor] = None
_POOL_SIZE = 0
_POOL_LOCK = threading.Lock()


def _cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not Linux
        return os.cpu_count() or 1


def _pool(threads: int) -> ThreadPoolExecutor:
    global _POOL, _POOL_SIZE
    with _POOL_LOCK:
        if _POOL is None or _POOL_SIZE < threads:  # grow once, reuse after
            if _POOL is not None:
                _POOL.shutdown(wait=True)
            _POOL = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="lpot-calib")
            _POOL_SIZE = threads
        return _POOL


def update_all(pairs: Iterable[Tuple[Observer, Any]], threads: Optional[int] = None) -> None:
    """Feed many observers at once: ``pairs`` is (observer, array) for every
    tensor of one calibration batch. Different observers update in parallel
    on ``threads`` threads (default: the CPUs this process may use; the engine
    releases the GIL for large arrays); the arrays of one observer are applied
    in the order given. Equivalent to ``for o, a in pairs: o.update(a)``; the
    first error raised is re-raised after every update has finished."""
    groups: Dict[int, List[Tuple[Observer, Any]]] = {}
    for obs, arr in pairs:
        groups.setdefault(id(obs), []).append((obs, arr))
    n = len(groups) if threads is None else threads
    n = max(1, min(n, _cpu_count(), len(groups)))
    if n == 1:
        for group in groups.values():
            for obs, arr in group:
                obs.update(arr)
        return

    def run(group: List[Tuple[Observer, Any]]) -> None:
        for obs, arr in group:
            obs.update(arr)

    futures = [_pool(n).submit(run, g) for g in groups.values()]
    errors = [f.exception() for f in futures]
    for e in errors:
        if e is not None:
            raise e

__all__ = [
    "ALGORITHMS",
    "Observer",
    "quantize",
    "dequantize",
    "fake_quant",
    "requantize",
    "qparams",
    "update_all",
]
