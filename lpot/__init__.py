"""lpot: low-precision optimization for neural networks.

`import lpot` loads only the compiled engine and NumPy; frameworks (torch,
onnxruntime, tensorflow) are imported lazily by the adaptors that need them.
"""
from __future__ import annotations

from lpot._engine import (  # noqa: F401  (re-exported)
    ConfigError,
    KernelError,
    LpotError,
    ModelError,
    TuningError,
    cpu_features,
    get_num_threads,
    set_num_threads,
)

__version__ = "0.1.0"

# No NullHandler on the "lpot" logger on purpose: when the application
# configures no logging, Python's last-resort handler prints lpot's warnings
# (why tuning returned None, an int8 model slower than fp32) to stderr.


def __getattr__(name: str):  # PEP 562: the legacy API without importing it at `import lpot`
    if name in ("Quantization", "Benchmark"):
        from lpot import legacy

        return getattr(legacy, name)
    raise AttributeError(f"module 'lpot' has no attribute {name!r}")


__all__ = [
    "__version__",
    "cpu_features",
    "set_num_threads",
    "get_num_threads",
    "LpotError",
    "ConfigError",
    "ModelError",
    "TuningError",
    "KernelError",
    "Quantization",
    "Benchmark",
]
