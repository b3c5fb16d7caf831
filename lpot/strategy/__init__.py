"""Tuning strategies.

The built-in strategies (basic, mse, exhaustive, random, bayesian, tpe) run
in the C engine. A user strategy is a Python class deriving from `Strategy`,
registered with `@strategy_registry`; the engine calls its `next_tune_cfg()`
for proposals and `update(cfg, result)` with each result.

A configuration (cfg) is a list of option indices, one per op of the tuning
space (`space.options(i)` lists op i's options), then the index of the
calibration sampling size (`space.sampling_sizes`).
"""
from __future__ import annotations

import random
from typing import Any, Dict, List, Optional, Type

from lpot import _engine

__all__ = ["Strategy", "STRATEGIES", "strategy_registry", "names"]

STRATEGIES: Dict[str, Type["Strategy"]] = {}


class Strategy:
    """Base class for strategies written in Python.

    Subclasses implement `next_tune_cfg` (return a cfg list, or None when
    nothing is left) and may implement `update`. `self.space` is the
    `lpot._engine.TuningSpace`, `self.rng` a `random.Random` seeded with the
    tuning's random_seed so a resumed run proposes the same sequence.
    """

    name: str = ""

    def __init__(self, space: Any, seed: int = 1978) -> None:
        self.space = space
        self.seed = seed
        self.rng = random.Random(seed)

    def next_tune_cfg(self) -> Optional[List[int]]:
        raise NotImplementedError

    def update(self, cfg: List[int], result: Dict[str, Any]) -> None:
        """result: trial, accuracy, passed, evaluated, replayed, cached, score,
        measures."""


def strategy_registry(cls: Type[Strategy]) -> Type[Strategy]:
    """Class decorator registering a Python strategy under `cls.name` (or
    the lower-cased class name without a 'TuneStrategy' suffix)."""
    if not (isinstance(cls, type) and issubclass(cls, Strategy)):
        raise TypeError("strategy_registry: expected a subclass of lpot.strategy.Strategy")
    name = cls.name or cls.__name__.replace("TuneStrategy", "").lower()
    if name in _engine._strategies():
        raise ValueError(f"strategy_registry: '{name}' is a built-in strategy name")
    cls.name = name
    STRATEGIES[name] = cls
    return cls


def names() -> List[str]:
    """Every strategy name: the engine's, then the registered Python ones."""
    return list(_engine._strategies()) + sorted(STRATEGIES)

