"""PyTorch adaptor: static/dynamic post-training quantization and QAT on
lpot's own int8 kernels (lpot.kernels through lpot.nn modules).

Graph capture: torch.fx symbolic tracing; for Hugging Face transformers
models that torch.fx cannot trace, transformers' own fx tracer
(transformers.utils.fx.symbolic_trace, input names from the first calibration
batch); when tracing fails the adaptor falls back to eager module swapping over
the module tree (no int8 chaining, no matmul quantization, fusion only inside
nn.Sequential) and says so in the report.

Pipeline for a quantization (quantize(tune_cfg)):
  1. prepare (once): deepcopy, eval(), trace, fold Conv+BN, fuse Linear/Conv
     + ReLU (FusedReLU) and Linear + GELU (FusedGELU), decompose
     scaled_dot_product_attention into matmul/softmax/matmul and wrap every
     matmul/bmm node as an lpot.nn.Matmul module -- numerically the fp32 model.
  2. calibrate (cached per sampling size and algorithm): forward pre-hooks
     stream each op's input into lpot.calib.Observer (zero-copy NumPy views).
  3. convert: each op the tune_cfg puts in int8 becomes lpot.nn.QuantLinear /
     QuantConv2d; ops set to fp32 keep their float module. Traced graphs
     chain int8 ops (producer writes uint8 with the consumer's input
     parameters) when the producer's only user is the consumer.
The capability table is CAPABILITY below (what the tuner may choose per op).
"""
from __future__ import annotations

import copy
import hashlib
import json
import logging
import math
import operator
import os
import time
from typing import Any, Callable, Dict, Iterable, List, Optional, Tuple

import numpy as np
import torch
from torch import nn

from lpot import ModelError, calib, kernels
from lpot import nn as lnn
from lpot.model.base import QuantizedModel

logger = logging.getLogger("lpot")

CONFIG_NAME = "best_configure.yaml"   # JSON text (a YAML subset)
WEIGHTS_NAME = "best_model_weights.pt"

# capability table: op type -> what the tuner may pick (first = default)
CAPABILITY: Dict[str, Dict[str, Dict[str, Any]]] = {
    "static": {
        "weight": {"dtype": ["int8", "fp32"], "scheme": ["sym"],
                   "granularity": ["per_channel", "per_tensor"], "algorithm": ["minmax"]},
        "activation": {"dtype": ["uint8", "fp32"], "scheme": ["asym"],
                       "granularity": ["per_tensor"], "algorithm": ["minmax", "kl", "percentile", "mse"]},
    },
    "dynamic": {
        "weight": {"dtype": ["int8", "fp32"], "scheme": ["sym"],
                   "granularity": ["per_channel", "per_tensor"], "algorithm": ["minmax"]},
        "activation": {"dtype": ["uint8", "fp32"], "scheme": ["asym"],
                       "granularity": ["per_tensor"], "algorithm": ["minmax"]},
    },
}
# weight-only ops (Embedding/EmbeddingBag): the indices stay integers and the
# output is float; their activation entry only says "quantized or not" (as the
# ONNX adaptor's Gather). Matmul (two activations): no weight.
_WEIGHT_ONLY = {"weight": {"dtype": ["int8", "fp32"], "scheme": ["sym"], "granularity": ["per_channel"],
                           "algorithm": ["minmax"]},
                "activation": {"dtype": ["uint8", "fp32"], "scheme": ["asym"],
                               "granularity": ["per_tensor"], "algorithm": ["minmax"]}}
CAPABILITY_BY_TYPE: Dict[str, Dict[str, Any]] = {
    "Embedding": _WEIGHT_ONLY,
    "EmbeddingBag": _WEIGHT_ONLY,
    "Matmul": {"weight": None,
               "activation": {"dtype": ["uint8", "fp32"], "scheme": ["asym"],
                              "granularity": ["per_tensor"], "algorithm": ["minmax", "kl", "percentile", "mse"]}},
}
QUANTIZABLE = {"static": ("Linear", "Conv2d", "Conv1d", "Embedding", "EmbeddingBag", "Matmul"),
               "dynamic": ("Linear", "LSTM", "GRU", "Embedding", "EmbeddingBag"),
               "qat": ("Linear", "Conv2d")}
_QUANT_CLS = {"Linear": "QuantLinear", "Conv2d": "QuantConv2d", "Conv1d": "QuantConv1d"}
_FUSED = (lnn.FusedReLU, lnn.FusedGELU)


def _approach(config: Any) -> str:
    a = "post_training_static_quant"
    try:
        a = config["quantization"]["approach"] or a
    except (TypeError, KeyError):
        pass
    return {"post_training_static_quant": "static", "post_training_dynamic_quant": "dynamic",
            "quant_aware_training": "qat"}[a]


def _set_submodule(root: nn.Module, name: str, new: nn.Module) -> None:
    parent_name, _, child = name.rpartition(".")
    parent = root.get_submodule(parent_name) if parent_name else root
    setattr(parent, child, new)


def _op_type(mod: nn.Module) -> Optional[str]:
    inner = mod.inner if isinstance(mod, _FUSED) else mod
    if isinstance(inner, nn.Linear):
        return "Linear"
    if isinstance(inner, nn.Conv2d):
        return "Conv2d"
    if isinstance(inner, nn.Conv1d):
        return "Conv1d"
    if isinstance(inner, (nn.LSTM, nn.GRU)) and lnn.DynamicQuantRNN.supported(inner):
        return "LSTM" if isinstance(inner, nn.LSTM) else "GRU"
    if lnn.QuantEmbedding.supported(inner):
        return "Embedding"
    if lnn.QuantEmbeddingBag.supported(inner):
        return "EmbeddingBag"
    if isinstance(inner, lnn.Matmul):
        return "Matmul"
    return None


# ---- graph capture and fusion -------------------------------------------------------

def _relu_kind(gm: nn.Module, node: Any) -> Optional[str]:
    """'relu', 'relu6' or None for a graph node."""
    if node.op == "call_module":
        mod = gm.get_submodule(node.target)
        return "relu6" if isinstance(mod, nn.ReLU6) else "relu" if isinstance(mod, nn.ReLU) else None
    if node.op in ("call_function", "call_method"):
        if node.target in (torch.relu, nn.functional.relu, torch.relu_, "relu", "relu_"):
            return "relu"
        if node.target is nn.functional.relu6:
            return "relu6"
    return None


def _gelu_kind(gm: nn.Module, node: Any) -> Optional[str]:
    """'none' / 'tanh' (GELU's approximate) for a GELU node, else None:
    nn.GELU, F.gelu, transformers' GELUActivation (not the Python formula)."""
    if node.op == "call_module":
        mod = gm.get_submodule(node.target)
        if isinstance(mod, nn.GELU):
            return mod.approximate
        if type(mod).__name__ == "GELUActivation" and getattr(mod, "act", None) is nn.functional.gelu:
            return "none"
        return None
    if node.op == "call_function" and node.target is nn.functional.gelu:
        approx = node.kwargs.get("approximate", node.args[1] if len(node.args) > 1 else "none")
        return approx if approx in ("none", "tanh") else None
    return None


def _fuse_fx(gm: Any) -> List[str]:
    """Fold Conv2d+BatchNorm2d and fuse Linear/Conv2d+ReLU in a GraphModule."""
    notes: List[str] = []
    g = gm.graph
    for node in list(g.nodes):
        if node.op != "call_module" or len(node.users) != 1:
            continue
        mod = gm.get_submodule(node.target)
        user = next(iter(node.users))
        if user.op == "call_module" and user.args[0] is node and (
                (isinstance(mod, nn.Conv2d) and isinstance(gm.get_submodule(user.target), nn.BatchNorm2d))
                or (isinstance(mod, nn.Conv1d) and
                    isinstance(gm.get_submodule(user.target), nn.BatchNorm1d))):
            bn = gm.get_submodule(user.target)
            _set_submodule(gm, node.target, lnn.fold_bn(mod, bn))
            user.replace_all_uses_with(node)
            g.erase_node(user)
            notes.append(f"folded {user.target} into {node.target}")
    for node in list(g.nodes):
        if node.op != "call_module" or len(node.users) != 1:
            continue
        mod = gm.get_submodule(node.target)
        user = next(iter(node.users))
        kind = _relu_kind(gm, user)
        if isinstance(mod, (nn.Linear, nn.Conv2d, nn.Conv1d)) and kind and user.args[0] is node:
            _set_submodule(gm, node.target, lnn.FusedReLU(mod, six=kind == "relu6"))
            user.replace_all_uses_with(node)
            g.erase_node(user)
            notes.append(f"fused {kind} into {node.target}")
            continue
        approx = _gelu_kind(gm, user)
        if isinstance(mod, nn.Linear) and approx and user.args[0] is node:
            _set_submodule(gm, node.target, lnn.FusedGELU(mod, approx))
            user.replace_all_uses_with(node)
            g.erase_node(user)
            notes.append(f"fused gelu{'_tanh' if approx == 'tanh' else ''} into {node.target}")
    g.lint()
    gm.delete_all_unused_submodules()
    gm.recompile()
    return notes


def _fuse_eager(model: nn.Module) -> List[str]:
    """Fold/fuse consecutive children of nn.Sequential containers."""
    notes: List[str] = []
    for pname, seq in list(model.named_modules()):
        if not isinstance(seq, nn.Sequential):
            continue
        keys = list(seq._modules.keys())
        for i, k in enumerate(keys):
            m = seq._modules[k]
            nxt = seq._modules[keys[i + 1]] if i + 1 < len(keys) else None
            if (isinstance(m, nn.Conv2d) and isinstance(nxt, nn.BatchNorm2d)) or \
                    (isinstance(m, nn.Conv1d) and isinstance(nxt, nn.BatchNorm1d)):
                seq._modules[k] = m = lnn.fold_bn(m, nxt)
                seq._modules[keys[i + 1]] = nn.Identity()
                notes.append(f"folded {pname}.{keys[i + 1]} into {pname}.{k}")
                nxt = seq._modules[keys[i + 2]] if i + 2 < len(keys) else None
                j = i + 2
            else:
                j = i + 1
            if isinstance(m, (nn.Conv1d, nn.Conv2d, nn.Linear)) and isinstance(nxt, (nn.ReLU, nn.ReLU6)):
                six = isinstance(nxt, nn.ReLU6)
                seq._modules[k] = lnn.FusedReLU(m, six=six)
                seq._modules[keys[j]] = nn.Identity()
                notes.append(f"fused {'relu6' if six else 'relu'} into {pname}.{k}")
    return notes


def _sdpa_probs(scores: torch.Tensor, q: torch.Tensor, mask: Any, scale: Any) -> torch.Tensor:
    """softmax(scores * scale + mask) as scaled_dot_product_attention computes
    it (scale None: 1/sqrt(head dim); a bool mask keeps True positions)."""
    scores = scores * (scale if scale is not None else 1.0 / math.sqrt(q.shape[-1]))
    if mask is not None:
        if mask.dtype == torch.bool:
            scores = scores.masked_fill(~mask, float("-inf"))
        else:
            scores = scores + mask
    return torch.softmax(scores, dim=-1)


_SDPA_ARGS = ("query", "key", "value", "attn_mask", "dropout_p", "is_causal", "scale", "enable_gqa")
_MATMUL_FNS = {torch.matmul: "matmul", torch.bmm: "bmm", operator.matmul: "matmul"}


def _attention_fx(gm: Any) -> List[str]:
    """Decompose scaled_dot_product_attention (eval: no dropout, not causal,
    no GQA) into matmul -> scale/mask/softmax -> matmul, then make every
    two-operand matmul/bmm node a call of an lpot.nn.Matmul module named
    '<module scope>.matmul_<i>' (the op name the tuner sees)."""
    notes: List[str] = []
    g = gm.graph
    sdpa = nn.functional.scaled_dot_product_attention
    for node in list(g.nodes):
        if node.op != "call_function" or node.target is not sdpa:
            continue
        a = dict(zip(_SDPA_ARGS, node.args))
        a.update(node.kwargs)
        if a.get("dropout_p", 0.0) not in (0, 0.0) or a.get("is_causal", False) or a.get("enable_gqa", False):
            continue
        with g.inserting_before(node):
            kt = g.call_method("transpose", (a["key"], -2, -1))
            sc = g.call_function(torch.matmul, (a["query"], kt))
            pr = g.call_function(_sdpa_probs, (sc, a["query"], a.get("attn_mask"), a.get("scale")))
            out = g.call_function(torch.matmul, (pr, a["value"]))
        for n in (kt, sc, pr, out):
            n.meta = dict(node.meta)
        node.replace_all_uses_with(out)
        g.erase_node(node)
        notes.append(f"decomposed scaled_dot_product_attention node {node.name} into matmul/softmax/matmul")
    counts: Dict[str, int] = {}
    for node in list(g.nodes):
        kind = None
        if node.op == "call_function" and node.target in _MATMUL_FNS:
            kind = _MATMUL_FNS[node.target]
        elif node.op == "call_method" and node.target in ("matmul", "bmm"):
            kind = node.target
        if kind is None or len(node.args) != 2 or node.kwargs:
            continue
        stack = node.meta.get("nn_module_stack") or {}
        scope = ""
        if stack:
            last = list(stack.items())[-1]
            scope = last[1][0] if isinstance(last[1], tuple) else str(last[0])
        i = counts.get(scope, 0)
        while True:
            name = f"{scope}.matmul_{i}" if scope else f"matmul_{i}"
            try:
                gm.get_submodule(name)
            except AttributeError:
                break
            i += 1
        counts[scope] = i + 1
        if not gm.add_submodule(name, lnn.Matmul(kind)):
            continue
        with g.inserting_before(node):
            new = g.call_module(name, tuple(node.args))
        new.meta = dict(node.meta)
        node.replace_all_uses_with(new)
        g.erase_node(node)
    if notes or counts:
        g.lint()
        gm.recompile()
    return notes


def _is_transformers(model: nn.Module) -> bool:
    return any(c.__module__.startswith("transformers.") and c.__name__ == "PreTrainedModel"
               for c in type(model).__mro__)


def _err_line(e: BaseException) -> str:
    return f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"


def prepare(model: nn.Module, input_names: Optional[List[str]] = None
            ) -> Tuple[nn.Module, bool, str, List[str]]:
    """(fused fp32 copy, traced?, trace error or '', fusion notes).
    A transformers model that torch.fx cannot trace is traced with
    transformers.utils.fx (input_names: the forward's argument names the
    model will be called with); then traced is True and the error is
    torch.fx's."""
    m = copy.deepcopy(model).eval()
    import torch.fx

    try:
        gm = torch.fx.symbolic_trace(m)
        err = ""
    except Exception as e:  # tracing fails on data-dependent control flow etc.
        err = _err_line(e)
        gm = None
        if _is_transformers(m):
            try:
                from transformers.utils.fx import symbolic_trace as hf_trace

                gm = hf_trace(m, input_names=list(input_names) if input_names else None)
            except Exception as e2:
                err += f"; transformers.utils.fx: {_err_line(e2)}"
        if gm is None:
            logger.warning("torch.fx tracing failed (%s); falling back to eager module swapping", err)
            return m, False, err, _fuse_eager(m)
    return gm, True, err, _fuse_fx(gm) + _attention_fx(gm)


def quantizable_ops(model: nn.Module, kinds: Iterable[str]) -> List[Tuple[str, str]]:
    out = []
    kinds = tuple(kinds)
    for name, mod in model.named_modules():
        if not name or name.endswith(".inner") or ".inner." in name:
            continue
        t = _op_type(mod)
        if t in kinds:
            inner = mod.inner if isinstance(mod, _FUSED) else mod
            if t in ("Conv2d", "Conv1d") and not lnn.supported_conv(inner):
                continue
            out.append((name, t))
    return out


# ---- batches ----------------------------------------------------------------------

def _to_tensor(x: Any) -> Any:
    if isinstance(x, np.ndarray):
        t = torch.from_numpy(np.ascontiguousarray(x))
        return t.float() if t.dtype == torch.float64 else t
    if isinstance(x, torch.Tensor):
        return x
    if isinstance(x, (list, tuple)):
        return type(x)(_to_tensor(v) for v in x)
    if isinstance(x, dict):
        return {k: _to_tensor(v) for k, v in x.items()}
    return x


def split_batch(batch: Any) -> Tuple[Any, Any]:
    """(inputs, label or None) from array / (inputs..., label) / dict batches."""
    if isinstance(batch, dict):
        b = dict(batch)
        label = b.pop("label", b.pop("labels", None))
        return _to_tensor(b), label
    if isinstance(batch, (list, tuple)):
        if len(batch) >= 2:
            inp = batch[0] if len(batch) == 2 else tuple(batch[:-1])
            return _to_tensor(inp), batch[-1]
        return _to_tensor(batch[0]), None
    return _to_tensor(batch), None


def run(model: nn.Module, inputs: Any) -> Any:
    if isinstance(inputs, dict):
        return model(**inputs)
    if isinstance(inputs, tuple):
        return model(*inputs)
    return model(inputs)


def _batch_len(inputs: Any) -> int:
    if isinstance(inputs, dict):
        inputs = next(iter(inputs.values()))
    if isinstance(inputs, (tuple, list)):
        inputs = inputs[0]
    return int(inputs.shape[0]) if hasattr(inputs, "shape") and len(inputs.shape) else 1


def _out_np(y: Any) -> Any:
    if isinstance(y, torch.Tensor):
        return y.detach().float().numpy()
    if isinstance(y, (tuple, list)):
        return type(y)(_out_np(v) for v in y)
    if isinstance(y, dict) or hasattr(y, "items"):
        return {k: _out_np(v) for k, v in y.items()}
    return y


# ---- the quantized model ----------------------------------------------------------

class PyTorchQuantizedModel(QuantizedModel):
    """.model is a plain nn.Module (call it with float tensors)."""

    def __init__(self, model: nn.Module, framework: str, report: Dict[str, Any],
                 tune_cfg: Optional[Dict[str, Any]], meta: Dict[str, Any]) -> None:
        super().__init__(model, framework, report, tune_cfg)
        self.meta = meta

    def save(self, path: str) -> str:
        os.makedirs(path, exist_ok=True)
        with open(os.path.join(path, CONFIG_NAME), "w") as f:
            json.dump(self.meta, f, indent=1)
        torch.save(self.model.state_dict(), os.path.join(path, WEIGHTS_NAME))
        return path

    def __call__(self, *a: Any, **k: Any) -> Any:
        return self.model(*a, **k)


def build_quantized(fused: nn.Module, traced: bool, meta_ops: Dict[str, Dict[str, Any]],
                    act_qparams: Dict[str, Tuple[float, int]], approach: str,
                    bits: int) -> Tuple[nn.Module, List[Tuple[str, str]], List[str]]:
    """Swap int8 ops of a fused fp32 copy for lpot.nn modules; when traced,
    fuse residual adds into int8 convs and chain int8 ops.
    Returns (model, chains (producer, consumer), convs with a fused add)."""
    m = copy.deepcopy(fused)
    for name, info in meta_ops.items():
        if info["dtype"] != "int8":
            continue
        mod = m.get_submodule(name)
        pc = info.get("granularity", "per_channel") == "per_channel"
        if info["type"] in ("Embedding", "EmbeddingBag"):   # weight-only, any approach
            cls = lnn.QuantEmbedding if info["type"] == "Embedding" else lnn.QuantEmbeddingBag
            _set_submodule(m, name, cls.from_float(mod))
            continue
        if info["type"] == "Matmul":
            _set_submodule(m, name, lnn.QuantMatmul.from_float(
                mod, act_qparams.get(name, (1.0, 0)), act_qparams.get(name + "#b", (1.0, 0)), bits))
            continue
        if approach == "dynamic" and info["type"] in ("LSTM", "GRU"):
            _set_submodule(m, name, lnn.DynamicQuantRNN.from_float(mod, pc, bits))
            continue
        if approach == "dynamic" and isinstance(mod, lnn.FusedGELU):
            _set_submodule(m, name, lnn.DynamicQuantLinear.from_float(mod, pc, bits))
            continue
        if approach == "dynamic":
            relu = isinstance(mod, lnn.FusedReLU)
            new: nn.Module = lnn.DynamicQuantLinear.from_float(mod.inner if relu else mod, pc, bits)
            if relu:
                new = nn.Sequential(new, nn.ReLU6() if mod.six else nn.ReLU())
        else:
            s, z = act_qparams.get(name, (1.0, 0))
            new = getattr(lnn, _QUANT_CLS[info["type"]]).from_float(mod, s, z, pc, bits)
        _set_submodule(m, name, new)
    chains: List[Tuple[str, str]] = []
    adds: List[str] = []
    if traced and approach != "dynamic":
        adds = _fuse_residual_add(m)
        for node in m.graph.nodes:
            if node.op != "call_module" or len(node.users) != 1:
                continue
            prod = m.get_submodule(node.target)
            user = next(iter(node.users))
            if not isinstance(prod, lnn._QuantBase) or user.op != "call_module" or \
                    len(node.args) != 1:   # a conv with a fused residual add writes float
                continue
            cons = m.get_submodule(user.target)
            if isinstance(cons, lnn._QuantBase) and user.args[0] is node and not user.kwargs \
                    and (len(user.args) == 1 or (len(user.args) == 2 and user.args[1] is not node)):
                prod.set_out_qparams(float(cons.x_scale), int(cons.x_zp))
                chains.append((node.target, user.target))
    return m, chains, adds


def _fuse_residual_add(m: Any) -> List[str]:
    """conv -> add(other) [-> relu] becomes conv(x, other) with the kernel's
    sum (+relu) post-ops, for int8 Conv2d nodes of a GraphModule."""
    import operator

    done = []
    g = m.graph
    for node in list(g.nodes):
        if node.op != "call_module" or len(node.users) != 1 or len(node.args) != 1 or node.kwargs:
            continue
        mod = m.get_submodule(node.target)
        if type(mod) is not lnn.QuantConv2d:
            continue
        add = next(iter(node.users))
        is_add = (add.op == "call_function" and add.target in (operator.add, torch.add)) or \
            (add.op == "call_method" and add.target == "add")
        if not is_add or len(add.args) != 2 or add.kwargs:
            continue
        other = add.args[1] if add.args[0] is node else add.args[0]
        if other is node or not hasattr(other, "op"):
            continue
        tail = add
        relu = len(add.users) == 1 and _relu_kind(m, next(iter(add.users))) == "relu"
        if relu:
            tail = next(iter(add.users))
        with g.inserting_after(tail):
            new = g.call_module(node.target, (node.args[0], other))
        tail.replace_all_uses_with(new)
        if relu:
            g.erase_node(tail)
        g.erase_node(add)
        g.erase_node(node)
        mod.sum_relu = relu
        done.append(node.target)
    if done:
        g.lint()
        m.recompile()
    return done


def _input_names(loader: Any) -> Optional[List[str]]:
    """The keyword names of a dict batch (what a transformers model is traced
    with), from the loader's first batch; None otherwise (or when the loader
    is a one-shot iterator that peeking would consume)."""
    if loader is None or iter(loader) is loader:
        return None
    try:
        first = next(iter(loader))
    except (StopIteration, TypeError):
        return None
    inputs, _ = split_batch(first)
    return list(inputs) if isinstance(inputs, dict) else None


def _cap_of(approach: str, typ: str) -> Dict[str, Any]:
    return CAPABILITY_BY_TYPE.get(typ) or CAPABILITY["dynamic" if approach == "dynamic" else "static"]


class PyTorchAdaptor:
    """The adaptor protocol of lpot.tuning for torch.nn.Module models."""

    def __init__(self, framework: str, model: Any, config: Any, *, calib_dataloader: Any = None,
                 eval_dataloader: Any = None, eval_func: Optional[Callable[[Any], float]] = None,
                 metric: Any = None, postprocess: Any = None,
                 q_func: Optional[Callable[[Any], Any]] = None) -> None:
        if isinstance(model, QuantizedModel):
            model = model.model
        if not isinstance(model, nn.Module):
            raise ModelError(f"the pytorch adaptor needs a torch.nn.Module, got {type(model).__name__}")
        self.framework = framework
        self.fp32_model = model
        self.config = config
        self.approach = _approach(config)
        self.calib_dataloader = calib_dataloader
        self.eval_dataloader = eval_dataloader
        self.eval_func = eval_func
        self.metric = metric
        self.postprocess = postprocess
        self.q_func = q_func
        self.bits = lnn.weight_bits()
        self.input_names = _input_names(calib_dataloader if calib_dataloader is not None
                                        else eval_dataloader) if _is_transformers(model) else None
        self.fused, self.traced, self.trace_error, self.fusion_notes = prepare(model, self.input_names)
        self.ops = quantizable_ops(self.fused, QUANTIZABLE[self.approach])
        self._calib_cache: Dict[Tuple[int, str], Dict[str, Tuple[float, int]]] = {}
        self._bench_input: Any = None

    # ---- protocol ----------------------------------------------------------------
    def query_capability(self) -> List[Dict[str, Any]]:
        out = []
        for n, t in self.ops:
            cap = _cap_of(self.approach, t)
            out.append({"name": n, "type": t, "weight": copy.deepcopy(cap["weight"]),
                        "activation": copy.deepcopy(cap["activation"])})
        return out

    def default_tune_cfg(self, sampling_size: int = 100) -> Dict[str, Any]:
        op = {}
        for c in self.query_capability():
            op[(c["name"], c["type"])] = {
                part: None if c[part] is None else {k: v[0] for k, v in c[part].items()}
                for part in ("weight", "activation")}
        return {"calib_sampling_size": sampling_size, "op": op}

    def _batches(self, loader: Any) -> Iterable[Any]:
        if loader is None:
            raise ModelError("static quantization needs a calibration dataloader")
        return iter(loader)

    def calibrate(self, algos: Dict[str, str], sampling_size: int) -> Dict[str, Tuple[float, int]]:
        """Input qparams per op (uint8 asym, ONNX convention) from forward
        pre-hooks streaming into lpot Observers; cached per (size, algorithm)."""
        need = {n: a for n, a in algos.items() if (sampling_size, a) not in self._calib_cache
                or n not in self._calib_cache[(sampling_size, a)]}
        if need:
            observers: Dict[Tuple[str, str], calib.Observer] = {}
            hooks = []
            for name, algo in need.items():
                mod = self.fused.get_submodule(name)
                obs = []
                # a Matmul's second operand is an activation too: "<name>#b", s8
                # symmetric (7-bit without VNNI, as the weights)
                for i, key in enumerate([name] + ([name + "#b"] if isinstance(mod, lnn.Matmul) else [])):
                    ob = (calib.Observer(algo, "uint8", "asym", convention="onnx") if i == 0 else
                          calib.Observer(algo, "int8", "sym", reduce_range=self.bits == 7,
                                         convention="onnx"))
                    observers[(key, algo)] = ob
                    obs.append((i, ob))

                def hook(mod: nn.Module, args: Tuple[Any, ...], obs: List[Any] = obs) -> None:
                    for i, ob in obs:
                        x = args[i].detach()
                        if x.dtype != torch.float32:
                            x = x.float()
                        ob.update(x.contiguous().numpy())   # a view of the tensor's memory
                hooks.append(mod.register_forward_pre_hook(hook))
            seen = 0
            try:
                with torch.no_grad():
                    for batch in self._batches(self.calib_dataloader):
                        inputs, _ = split_batch(batch)
                        run(self.fused, inputs)
                        seen += _batch_len(inputs)
                        if seen >= sampling_size:
                            break
            finally:
                for h in hooks:
                    h.remove()
            if seen == 0:
                raise ModelError("the calibration dataloader yielded no batch")
            for (n, a), ob in observers.items():
                s, z = ob.compute()
                self._calib_cache.setdefault((sampling_size, a), {})[n] = (float(s), int(z))
        out = {}
        for n, a in algos.items():
            for key in (n, n + "#b"):
                if key in self._calib_cache[(sampling_size, a)]:
                    out[key] = self._calib_cache[(sampling_size, a)][key]
        return out

    def quantize(self, tune_cfg: Dict[str, Any]) -> PyTorchQuantizedModel:
        t0 = time.perf_counter()
        meta_ops: Dict[str, Dict[str, Any]] = {}
        for name, typ in self.ops:
            c = tune_cfg["op"].get((name, typ))
            w = c.get("weight") if c is not None else None
            int8 = c is not None and c["activation"]["dtype"] not in ("fp32", "bf16") and (
                (typ == "Matmul" and w is None) or (w is not None and w["dtype"] == "int8"))
            meta_ops[name] = {"type": typ, "dtype": "int8" if int8 else "fp32",
                              "granularity": w["granularity"] if int8 and w else None,
                              "algorithm": c["activation"]["algorithm"] if int8 else None,
                              "relu": self._relu_of(name), "gelu": self._gelu_of(name)}
        if self.approach == "qat":
            m, chains, adds = self._qat(meta_ops)
            act: Dict[str, Tuple[float, int]] = {}
        else:
            act = {}
            if self.approach == "static":
                algos = {n: i["algorithm"] for n, i in meta_ops.items() if i["dtype"] == "int8"
                         and i["type"] not in ("Embedding", "EmbeddingBag")}
                if algos:
                    act = self.calibrate(algos, int(tune_cfg.get("calib_sampling_size", 100)))
            m, chains, adds = build_quantized(self.fused, self.traced, meta_ops, act,
                                              self.approach, self.bits)
        m.eval()
        meta = {"version": 1, "framework": self.framework, "approach": self.approach,
                "traced": self.traced, "input_names": self.input_names, "bits": self.bits,
                "ops": meta_ops,
                "chains": [list(c) for c in chains]}
        report = self._report(m, meta_ops, chains)
        report["residual_adds"] = [f"{n}: add{' + relu' if m.get_submodule(n).sum_relu else ''} "
                                   "fused as the kernel's sum post-op" for n in adds]
        report["quantize_seconds"] = time.perf_counter() - t0
        return PyTorchQuantizedModel(m, self.framework, report, tune_cfg, meta)

    def _gelu_of(self, name: str) -> Any:
        mod = self.fused.get_submodule(name)
        return mod.post_op if isinstance(mod, lnn.FusedGELU) else False

    def _relu_of(self, name: str) -> Any:
        mod = self.fused.get_submodule(name)
        if not isinstance(mod, lnn.FusedReLU):
            return False
        return "relu6" if mod.six else "relu"

    def _qat(self, meta_ops: Dict[str, Dict[str, Any]]) -> Tuple[nn.Module, List[Tuple[str, str]],
                                                                 List[str]]:
        if self.q_func is None:
            raise ModelError("quant_aware_training needs q_func (the training loop)")
        m = copy.deepcopy(self.fused)
        for name, info in meta_ops.items():
            if info["dtype"] != "int8":
                continue
            mod = m.get_submodule(name)
            inner = mod.inner if isinstance(mod, _FUSED) else mod
            cls = lnn.FakeQuantLinear if info["type"] == "Linear" else lnn.FakeQuantConv2d
            _set_submodule(m, name, cls(inner, info["relu"] or info["gelu"],
                                        info["granularity"] == "per_channel", self.bits))
        m.train()
        ret = self.q_func(m)
        if isinstance(ret, nn.Module):
            m = ret
        m.eval()
        # convert: the trained float modules + the observers' activation ranges
        act = {}
        fused = copy.deepcopy(m)
        for name, info in meta_ops.items():
            if info["dtype"] != "int8":
                continue
            fq = fused.get_submodule(name)
            s, z = fq.act.qparams()
            act[name] = (float(s), int(z))
            new = fq.inner
            if fq.relu in ("relu", "relu6"):
                new = lnn.FusedReLU(fq.inner, six=fq.relu == "relu6")
            elif fq.relu:
                new = lnn.FusedGELU(fq.inner, "tanh" if fq.relu == "gelu_tanh" else "none")
            _set_submodule(fused, name, new)
        if self.traced:
            fused.recompile()
        return build_quantized(fused, self.traced, meta_ops, act, "static", self.bits)

    def _report(self, m: nn.Module, meta_ops: Dict[str, Dict[str, Any]],
                chains: List[Tuple[str, str]]) -> Dict[str, Any]:
        ops = []
        impl_isa = kernels.last_impl().get("isa", "")
        chained_in = {c for _, c in chains}
        chained_out = {p for p, _ in chains}
        for name, info in meta_ops.items():
            if info["dtype"] == "int8":
                kind = "dynamic" if self.approach == "dynamic" else "static"
                extra = []
                if name in chained_in:
                    extra.append("u8 input from producer")
                if name in chained_out:
                    extra.append("u8 output to consumer")
                if info["relu"]:
                    extra.append(f"fused {info['relu']}")
                if info.get("gelu"):
                    extra.append(f"fused {info['gelu']} (kernel post-op)")
                runs = f"lpot int8 {kind} ({impl_isa or 'onednn'}, {self.bits}-bit weights)"
                if info["type"] in ("Embedding", "EmbeddingBag"):
                    runs = "lpot int8 weight-only (8-bit per-row scales; lpot qembedding kernel, float32 out)"
                elif info["type"] == "Matmul":
                    runs = (f"lpot int8 qmatmul ({impl_isa or 'onednn'}; u8 asym x s8 sym "
                            f"{self.bits}-bit activations, calibrated, float32 out)")
                if extra:
                    runs += "; " + ", ".join(extra)
                ops.append({"name": name, "type": info["type"], "dtype": "int8", "reason": "",
                            "runs": runs})
            else:
                ops.append({"name": name, "type": info["type"], "dtype": "fp32",
                            "reason": "tune_cfg set fp32", "runs": "fp32 torch"})
        listed = set(meta_ops)
        for name, mod in self.fused.named_modules():
            if not name or name in listed or ".inner" in name or name.endswith("inner"):
                continue
            if isinstance(mod, (nn.Conv3d, nn.ConvTranspose2d, nn.LSTM, nn.GRU,
                                nn.Embedding, nn.EmbeddingBag, lnn.Matmul)) or \
                    (isinstance(mod, (nn.Linear, nn.Conv2d, nn.Conv1d)) and _op_type(mod)):
                why = "no lpot kernel for this op type in this approach"
                if isinstance(mod, (nn.Embedding, nn.EmbeddingBag)) and mod.max_norm is not None:
                    why = "max_norm (rows renormalized at lookup) is not supported"
                if isinstance(mod, lnn.Matmul):
                    why = ("activation x activation matmul: static approach only" if
                           self.approach != "static" else why)
                if isinstance(mod, (nn.LSTM, nn.GRU)) and self.approach == "dynamic":
                    why = "bidirectional or projected recurrent modules are not supported"
                if isinstance(mod, (nn.Conv1d, nn.Conv2d)) and not lnn.supported_conv(mod):
                    why = "conv padding mode not supported by lpot kernels"
                ops.append({"name": name, "type": type(mod).__name__, "dtype": "fp32",
                            "reason": why, "runs": "fp32 torch"})
        capture = ("torch.fx symbolic trace" if self.traced and not self.trace_error else
                   f"transformers.utils.fx symbolic trace (torch.fx failed: {self.trace_error})"
                   if self.traced else
                   f"eager module swapping (torch.fx tracing failed: {self.trace_error})")
        from lpot import cpu_features

        used = cpu_features()["used"]
        return {"ops": ops, "int8_ops": sum(o["dtype"] == "int8" for o in ops),
                "fp32_ops": sum(o["dtype"] == "fp32" for o in ops), "capture": capture,
                "fusions": list(self.fusion_notes), "chains": [f"{p} -> {c}" for p, c in chains],
                "approach": self.approach, "weight_bits": self.bits,
                "weight_bits_reason": ("CPU without VNNI/AMX: 7-bit weights keep oneDNN exact "
                                       "without the activation split" if self.bits == 7 else
                                       "VNNI/AMX present: full 8-bit weights"),
                "vnni": bool(used.get("avx512_vnni") or used.get("avx_vnni")),
                "amx": bool(used.get("amx_int8"))}

    # ---- evaluation and measures -----------------------------------------------------
    @staticmethod
    def _module(model: Any) -> nn.Module:
        return model.model if isinstance(model, QuantizedModel) else model

    def evaluate(self, model: Any) -> float:
        m = self._module(model)
        if self.eval_func is not None:
            return float(self.eval_func(m))
        if self.eval_dataloader is None or self.metric is None:
            raise ModelError("evaluate needs eval_func or eval_dataloader + metric")
        self.metric.reset()
        m.eval()
        with torch.no_grad():
            for batch in self.eval_dataloader:
                inputs, label = split_batch(batch)
                pred = _out_np(run(m, inputs))
                if isinstance(label, torch.Tensor):
                    label = label.numpy()
                if self.postprocess is not None:
                    pred, label = self.postprocess((pred, label))
                self.metric.update(pred, label)
        return float(self.metric.result())

    def _fixed_input(self) -> Any:
        if self._bench_input is None:
            loader = self.calib_dataloader if self.calib_dataloader is not None else self.eval_dataloader
            if loader is None:
                raise ModelError("benchmark needs a dataloader for a fixed input")
            self._bench_input = split_batch(next(iter(loader)))[0]
        return self._bench_input

    def benchmark(self, model: Any, runs: int = 10) -> float:
        """Median latency (seconds) on the fixed input (see median_latency)."""
        from lpot.model.runner import median_latency
        m = self._module(model)
        x = self._fixed_input()
        with torch.no_grad():
            return median_latency(lambda: run(m, x), runs)

    def model_size(self, model: Any) -> float:
        m = self._module(model)
        return float(sum(t.numel() * t.element_size() for t in
                         list(m.parameters()) + [b for b in m.buffers() if b is not None]))

    def inspect_tensor(self, model: Any, op_names: List[str]) -> Dict[str, np.ndarray]:
        m = self._module(model)
        outs: Dict[str, List[np.ndarray]] = {n: [] for n in op_names}
        hooks = []
        for n in op_names:
            try:
                mod = m.get_submodule(n)
            except AttributeError:
                continue

            def hook(mod: nn.Module, args: Any, y: Any, n: str = n) -> None:
                if isinstance(y, torch.Tensor) and y.dtype == torch.uint8:  # chained: dequantize
                    s, z = float(mod.out_qparams[0]), float(mod.out_qparams[1])
                    y = (y.float() - z) * s
                outs[n].append(y.detach().float().numpy().copy())
            hooks.append(mod.register_forward_hook(hook))
        try:
            loader = self.calib_dataloader if self.calib_dataloader is not None else self.eval_dataloader
            with torch.no_grad():
                for i, batch in enumerate(loader):
                    if i >= 2:
                        break
                    run(m, split_batch(batch)[0])
        finally:
            for h in hooks:
                h.remove()
        return {n: np.concatenate([v.reshape(-1) for v in vs]) for n, vs in outs.items() if vs}

    def fingerprint(self) -> str:
        h = hashlib.sha256()
        h.update(type(self.fp32_model).__qualname__.encode())
        for k, v in self.fp32_model.state_dict().items():
            h.update(k.encode())
            h.update(str(tuple(v.shape)).encode())
            h.update(v.detach().float().reshape(-1)[:64].numpy().tobytes())
        return "pytorch-" + h.hexdigest()[:32]

    def save(self, model: PyTorchQuantizedModel, path: str) -> str:
        return model.save(path)
