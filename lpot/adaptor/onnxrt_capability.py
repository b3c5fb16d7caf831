"""ONNX Runtime capability table: what lpot can quantize, per op type.

A Python table rather than YAML: it is a dozen rows, it needs no schema of
its own, and the adaptor consults it per op (kind of quantization, weight
input index and per-channel axis) as well as for query_capability().

kind:
  weighted    weight initializer quantized offline (per-channel int8 sym)
              plus activation inputs and the output (Conv, MatMul, Gemm, ...)
  binary      all float inputs and the output (QLinearAdd, QLinearMul)
  unary       input and output with their own scales (QLinearSigmoid, ...)
  removable   Relu/Clip after a quantized op: folded into that op's output
              quantization (uint8 asym, zero point at the clamp)
  passthrough output shares the input's scale and zero point (scale
              propagation: MaxPool, Reshape, Transpose, Squeeze, ...)
  concat      inputs and output quantized (QLinearConcat)
  gather      weight-only: the table is int8, the indices stay int64
  attention   com.microsoft Attention -> QAttention (dynamic: the input is
              quantized at run time, the QKV weight per column int8 offline)
  embedln     com.microsoft EmbedLayerNormalization -> QEmbedLayerNormalization
              (weight-only: the three embedding tables, gamma and beta uint8
              asym per tensor; ids stay int32, the output float)
ORT itself quantizes Attention only in its IntegerOps mode and has no QDQ form
of either contrib op; lpot follows (see MODE_ONLY).
"""
from __future__ import annotations

from typing import Any, Dict, List, Optional

# op type -> (kind, weight input index or None, per-channel axis of that weight)
STATIC_OPS: Dict[str, tuple] = {
    "Conv": ("weighted", 1, 0),
    "ConvTranspose": ("weighted", 1, 1),
    "MatMul": ("weighted", 1, 1),
    "Gemm": ("weighted", 1, None),          # axis depends on transB
    "Add": ("binary", None, None),
    "Mul": ("binary", None, None),
    "Relu": ("removable", None, None),
    "Clip": ("removable", None, None),
    "LeakyRelu": ("unary", None, None),
    "Sigmoid": ("unary", None, None),
    "AveragePool": ("unary", None, None),
    "GlobalAveragePool": ("unary", None, None),
    "MaxPool": ("passthrough", None, None),
    "Reshape": ("passthrough", None, None),
    "Transpose": ("passthrough", None, None),
    "Squeeze": ("passthrough", None, None),
    "Unsqueeze": ("passthrough", None, None),
    "Flatten": ("passthrough", None, None),
    "Resize": ("passthrough", None, None),
    "Pad": ("passthrough", None, None),
    "Split": ("passthrough", None, None),
    "Concat": ("concat", None, None),
    "Gather": ("gather", 0, None),
    "EmbedLayerNormalization": ("embedln", 2, None),
}

DYNAMIC_OPS: Dict[str, tuple] = {
    "Conv": ("weighted", 1, 0),
    "MatMul": ("weighted", 1, 1),
    "Gemm": ("weighted", 1, None),
    "Gather": ("gather", 0, None),
    "Attention": ("attention", 1, 1),
    "EmbedLayerNormalization": ("embedln", 2, None),
}

# op type -> (modes that quantize it, why the others do not): reported as the
# reason an op stays fp32 in the other modes
MODE_ONLY = {
    "Attention": (("integerops",), "ORT has an int8 Attention (QAttention) only in dynamic "
                  "mode: use framework onnxrt_integerops"),
    "EmbedLayerNormalization": (("integerops", "qlinearops"), "ORT has no QDQ form of "
                                "EmbedLayerNormalization: use onnxrt_integerops or "
                                "onnxrt_qlinearops"),
}


def unsupported_reason(op_type: str, mode: str) -> Optional[str]:
    """Why op_type is not quantized in mode, when this module knows a reason."""
    row = MODE_ONLY.get(op_type)
    return row[1] if row is not None and mode not in row[0] else None


ACT_ALGOS = ["minmax", "kl", "percentile", "mse"]


def _act(dtypes: List[str], algos: List[str], schemes: List[str]) -> Dict[str, Any]:
    return {"dtype": dtypes + ["fp32"], "scheme": schemes, "granularity": ["per_tensor"],
            "algorithm": algos}


def op_capability(op_type: str, has_weight: bool, mode: str) -> Optional[Dict[str, Any]]:
    """The capability entry (without the name) of one node, or None."""
    table = DYNAMIC_OPS if mode == "integerops" else STATIC_OPS
    row = table.get(op_type)
    if row is None or unsupported_reason(op_type, mode):
        return None
    kind = row[0]
    if kind == "embedln":
        if not has_weight:
            return None
        w = {"dtype": ["uint8", "fp32"], "scheme": ["asym"], "granularity": ["per_tensor"],
             "algorithm": ["minmax"]}
        return {"type": op_type, "weight": w, "activation": _act(["uint8"], ["minmax"], ["asym"])}
    if kind in ("weighted", "gather") and not has_weight and (mode == "integerops" or kind == "gather"):
        return None
    if mode == "integerops":
        w = {"dtype": ["int8", "fp32"], "scheme": ["sym"], "granularity": ["per_channel", "per_tensor"]
             if op_type != "Gather" else ["per_tensor"], "algorithm": ["minmax"]}
        return {"type": op_type, "weight": w, "activation": _act(["uint8"], ["minmax"], ["asym"])}
    weight = None
    if has_weight:
        grans = ["per_channel", "per_tensor"] if op_type not in ("Gather",) else ["per_tensor"]
        if mode == "qlinearops" and op_type == "MatMul":
            grans = ["per_tensor", "per_channel"]   # QLinearMatMul: per-column scales are newer
        weight = {"dtype": ["int8", "fp32"], "scheme": ["sym"], "granularity": grans,
                  "algorithm": ["minmax"]}
    if kind == "gather":
        return {"type": op_type, "weight": weight, "activation": _act(["uint8"], ["minmax"], ["asym"])}
    if kind == "passthrough":
        algos = ["minmax"]
    else:
        algos = list(ACT_ALGOS)
    return {"type": op_type, "weight": weight, "activation": _act(["uint8", "int8"], algos, ["asym"])}
