"""What every adaptor returns, and framework detection."""
from __future__ import annotations

import os
import sys
from typing import Any, Dict, Optional


class QuantizedModel:
    """A model produced by lpot.

    model   the framework model to run (onnx.ModelProto, torch.nn.Module, ...)
    framework  the YAML framework name
    report  per-op decisions and figures: a dict with at least
            {"ops": [{"name", "type", "dtype" ('int8'|'uint8'|'bf16'|'fp32'),
                      "reason" (why it is not int8, or ''), "runs": what
                      actually executes it (e.g. 'QLinearConv', 'lpot int8
                      avx2', 'fp32')}],
             "int8_ops": int, "fp32_ops": int}
            and whatever else the adaptor or the tuner adds (accuracy,
            baseline, trials, latency, ...).
    tune_cfg the configuration it was built from.
    Adaptors subclass it to implement save().
    """

    def __init__(self, model: Any, framework: str, report: Optional[Dict[str, Any]] = None,
                 tune_cfg: Optional[Dict[str, Any]] = None) -> None:
        self.model = model
        self.framework = framework
        self.report: Dict[str, Any] = report if report is not None else {}
        self.tune_cfg = tune_cfg

    def save(self, path: str) -> str:
        raise NotImplementedError(f"{type(self).__name__}.save")

    def report_text(self) -> str:
        ops = self.report.get("ops", [])
        lines = [f"{'op':40} {'type':22} {'dtype':6} runs / reason"]
        for op in ops:
            why = op.get("reason") or ""
            lines.append(f"{op.get('name', '')[:40]:40} {op.get('type', '')[:22]:22} "
                         f"{op.get('dtype', ''):6} {op.get('runs', '')}{'  (' + why + ')' if why else ''}")
        return "\n".join(lines)

    def __repr__(self) -> str:
        r = self.report
        return (f"<lpot.QuantizedModel {self.framework}: {r.get('int8_ops', '?')} int8 ops, "
                f"{r.get('fp32_ops', '?')} fp32>")


def detect_framework(model: Any) -> str:
    """The YAML framework name for a model object or path, without importing
    a framework the user has not imported already."""
    if isinstance(model, QuantizedModel):
        return model.framework
    if isinstance(model, (str, os.PathLike)):
        p = os.fspath(model)
        if p.endswith(".onnx"):
            return "onnxrt_qlinearops"
        if p.endswith((".pt", ".pth")):
            return "pytorch"
        if p.endswith(".pb") or os.path.isdir(p) and os.path.exists(os.path.join(p, "saved_model.pb")):
            return "tensorflow"
        if p.endswith(".json") or p.endswith(".params"):
            return "mxnet"
        raise _model_error(f"cannot tell the framework of model path '{p}' "
                           "(expected .onnx, .pt/.pth, .pb or a SavedModel directory)")
    mod = type(model).__module__ or ""
    if "onnx" in sys.modules:
        import onnx
        if isinstance(model, onnx.ModelProto):
            return "onnxrt_qlinearops"
    if "torch" in sys.modules:
        import torch
        if isinstance(model, torch.nn.Module):
            return "pytorch"
    if mod.startswith(("tensorflow", "keras")):
        return "tensorflow"
    if mod.startswith("mxnet"):
        return "mxnet"
    raise _model_error(f"cannot tell the framework of a {type(model).__module__}."
                       f"{type(model).__name__}; pass a torch.nn.Module, an onnx.ModelProto "
                       "or a model path, or set model.framework in the YAML")


def _model_error(msg: str) -> Exception:
    from lpot import ModelError
    return ModelError(msg)
