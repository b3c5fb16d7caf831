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

from lpot._engine import (  # noqa: F401  (re-exported)
    Observer,
    dequantize,
    fake_quant,
    qparams,
    quantize,
    requantize,
)

ALGORITHMS = ("minmax", "moving_average", "kl", "percentile", "mse")

__all__ = [
    "ALGORITHMS",
    "Observer",
    "quantize",
    "dequantize",
    "fake_quant",
    "requantize",
    "qparams",
]
