"""Framework adaptors: the only place that imports a framework (lazily).

Contract between the user API (lpot.experimental), the tuning engine
(lpot.tuning) and each framework module (onnxrt.py, pytorch.py, ...).

    adaptor = create_adaptor(framework, model, config,
                             calib_dataloader=..., eval_dataloader=...,
                             eval_func=..., metric=..., postprocess=...,
                             q_func=...)

`framework` is the YAML `model.framework` value (or what
lpot.model.detect_framework found); `model` is the user's framework model
(torch.nn.Module, onnx.ModelProto or path, ...); `config` is an
lpot.conf.Config (all defaults filled). Dataloaders yield NumPy batches
(lpot.data.DataLoader) or the framework's own (torch DataLoader); an adaptor
accepts both, and batches that are arrays, tuples/lists (inputs..., label) or
dicts.

An Adaptor implements the protocol lpot.tuning.tune() drives (see
lpot/tuning.py): fp32_model, query_capability(), quantize(tune_cfg),
evaluate(model), and optionally benchmark(model), model_size(model),
footprint(model), inspect_tensor(model, op_names), fingerprint(). It also
offers save(model, path) and the quantized models it returns are
lpot.model.QuantizedModel instances (they carry .report and .save()).

evaluate(model) precedence (LPOT 1.x): eval_func(model) when given (called
with the framework model, i.e. QuantizedModel.model or the fp32 model);
else run eval_dataloader through the model, postprocess (if any), and
metric.update(pred, label) then metric.result(); else there is no accuracy
and the caller quantizes once with the default config.
"""
from __future__ import annotations

import importlib
from typing import Any, Callable, Dict, Optional

from lpot import ModelError

# YAML framework name -> "module:Class" (imported only when used)
_ADAPTORS: Dict[str, str] = {
    "onnxrt_qlinearops": "lpot.adaptor.onnxrt:ONNXRTAdaptor",
    "onnxrt_integerops": "lpot.adaptor.onnxrt:ONNXRTAdaptor",
    "onnxrt_qdq": "lpot.adaptor.onnxrt:ONNXRTAdaptor",
    "pytorch": "lpot.adaptor.pytorch:PyTorchAdaptor",
    "pytorch_fx": "lpot.adaptor.pytorch:PyTorchAdaptor",
}

# frameworks in the YAML schema that this build has no adaptor for yet
_NOT_BUILT = ("tensorflow", "mxnet", "pytorch_ipex")


# classes registered at run time (register_adaptor): tests and third-party adaptors
_REGISTERED: Dict[str, Any] = {}


def register_adaptor(name: str, cls: Any, *, replace: bool = False) -> Any:
    """Register an adaptor class under a framework name (a test double, or
    a third-party adaptor). A name the build already has needs replace=True;
    unregister_adaptor(name) restores it. A class may define a classmethod
    `handles(model) -> bool` so lpot.experimental.common.Model can detect
    its models. Returns cls (usable as a decorator via functools.partial)."""
    if not isinstance(name, str) or not name:
        raise TypeError("register_adaptor: name must be a non-empty string")
    if not isinstance(cls, type):
        raise TypeError(f"register_adaptor: expected a class, got {type(cls).__name__}")
    if not replace and (name in _ADAPTORS or name in _REGISTERED):
        raise ModelError(f"framework '{name}' already has an adaptor; pass replace=True to override it")
    _REGISTERED[name] = cls
    return cls


def unregister_adaptor(name: str) -> None:
    """Remove a run-time registration (the build's own adaptor, if any, is back)."""
    _REGISTERED.pop(name, None)


def detect_registered(model: Any) -> Optional[str]:
    """The name of a run-time registered adaptor whose class handles(model), or None."""
    for name, cls in reversed(list(_REGISTERED.items())):
        handles = getattr(cls, "handles", None)
        if callable(handles) and handles(model):
            return name
    return None


def frameworks() -> tuple:
    """Framework names with an adaptor in this build (or registered at run time)."""
    return tuple(dict.fromkeys(list(_ADAPTORS) + list(_REGISTERED)))


def adaptor_class(framework: str) -> Any:
    if framework in _REGISTERED:
        return _REGISTERED[framework]
    spec = _ADAPTORS.get(framework)
    if spec is None:
        if framework in _NOT_BUILT:
            raise ModelError(f"framework '{framework}' has no adaptor in this lpot build yet; "
                             f"available: {', '.join(_ADAPTORS)}")
        raise ModelError(f"unknown framework '{framework}'; available: {', '.join(_ADAPTORS)}")
    mod_name, cls_name = spec.split(":")
    try:
        mod = importlib.import_module(mod_name)
    except ImportError as e:  # the framework itself is missing
        if getattr(e, "name", None) == mod_name:
            raise ModelError(f"framework '{framework}': the adaptor module {mod_name} is not in "
                             "this lpot build") from e
        raise ModelError(f"framework '{framework}' needs a package that is not installed: {e}") from e
    return getattr(mod, cls_name)


def create_adaptor(framework: str, model: Any, config: Any, *,
                   calib_dataloader: Any = None, eval_dataloader: Any = None,
                   eval_func: Optional[Callable[[Any], float]] = None, metric: Any = None,
                   postprocess: Any = None, q_func: Optional[Callable[[Any], Any]] = None) -> Any:
    cls = adaptor_class(framework)
    return cls(framework, model, config, calib_dataloader=calib_dataloader,
               eval_dataloader=eval_dataloader, eval_func=eval_func, metric=metric,
               postprocess=postprocess, q_func=q_func)
