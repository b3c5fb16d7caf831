"""Components LPOT 1.x had that this lpot build does not implement yet.

They exist so scripts importing them get a clear lpot error at construction,
not an ImportError or a silent no-op."""
from __future__ import annotations

from typing import Any

from lpot import LpotError


class NotBuiltError(LpotError, NotImplementedError):
    """A component of LPOT 1.x that this lpot build does not implement yet."""


class _NotBuilt:
    what = ""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        raise NotBuiltError(f"lpot.experimental.{type(self).__name__} ({self.what}) is not built in "
                            "this lpot version yet; Quantization and Benchmark are")


class Pruning(_NotBuilt):
    what = "magnitude/pattern-lock/gradient-sensitivity pruning"


class MixedPrecision(_NotBuilt):
    what = "bf16 + fp32 mixed precision"


class Graph_Optimization(_NotBuilt):  # noqa: N801 - LPOT 1.x's name
    what = "graph optimization to bf16/fp32"


class Distillation(_NotBuilt):
    what = "knowledge distillation"
