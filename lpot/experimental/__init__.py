"""lpot.experimental: LPOT 1.x's component API.

    from lpot.experimental import Quantization, Benchmark, common

Quantization and Benchmark are built; Pruning, MixedPrecision,
Graph_Optimization and Distillation raise lpot.experimental.NotBuiltError
(an lpot.LpotError and NotImplementedError) when constructed.
No framework is imported here.
"""
from lpot.experimental import common
from lpot.experimental._not_built import (
    Distillation,
    Graph_Optimization,
    MixedPrecision,
    NotBuiltError,
    Pruning,
)
from lpot.experimental.benchmark import Benchmark
from lpot.experimental.component import Component
from lpot.experimental.quantization import Quantization

__all__ = ["Quantization", "Benchmark", "common", "Component", "Pruning", "MixedPrecision",
           "Graph_Optimization", "Distillation", "NotBuiltError"]
