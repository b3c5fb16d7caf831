"""Models: framework detection and the quantized-model wrapper.

Framework imports here are lazy (inside functions)."""
from lpot.model.base import QuantizedModel, detect_framework  # noqa: F401

__all__ = ["QuantizedModel", "detect_framework"]
