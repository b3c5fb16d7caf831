"""Graph rewriting for the ONNX Runtime adaptor (onnx helper API only).

plan_static()   which tensors need calibration statistics for a tune_cfg
build_qdq()     QuantizeLinear/DequantizeLinear model from the plan + qparams
lower_qoperator() QDQ model -> QOperator model (QLinearConv, QLinearMatMul,
                com.microsoft QLinearAdd/QGemm/...), pattern by pattern:
                a node whose float inputs all come from DequantizeLinear and
                whose only consumer is a QuantizeLinear becomes its QLinear op;
                anything else stays as it is (DQ -> op -> Q runs in ORT too).
build_dynamic() MatMul/Gemm with offline int8 weights and DynamicQuantizeLinear
                + MatMulInteger at run time; Gather weight-only.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Set, Tuple

import numpy as np

from lpot.adaptor.onnxrt_capability import DYNAMIC_OPS, STATIC_OPS

MS = "com.microsoft"


def _onnx() -> Any:
    import onnx
    return onnx


@dataclass
class Graph:
    """Index of an onnx graph: producers, consumers, initializers."""

    model: Any
    producer: Dict[str, Any] = field(default_factory=dict)
    consumers: Dict[str, List[Any]] = field(default_factory=dict)
    inits: Dict[str, Any] = field(default_factory=dict)
    inputs: Set[str] = field(default_factory=set)
    outputs: Set[str] = field(default_factory=set)
    elem: Dict[str, int] = field(default_factory=dict)   # tensor -> onnx elem type

    def __post_init__(self) -> None:
        g = self.model.graph
        try:
            inferred = _onnx().shape_inference.infer_shapes(_types_only(self.model)).graph
            vis = list(inferred.value_info) + list(inferred.input) + list(inferred.output)
        except Exception:  # noqa: BLE001 - types then come from inputs/outputs only
            vis = list(g.value_info) + list(g.input) + list(g.output)
        for v in vis:
            if v.type.HasField("tensor_type") and v.type.tensor_type.elem_type:
                self.elem[v.name] = v.type.tensor_type.elem_type
        for t in g.initializer:
            self.elem[t.name] = t.data_type
        for n in g.node:
            for o in n.output:
                self.producer[o] = n
            for i in n.input:
                if i:
                    self.consumers.setdefault(i, []).append(n)
        self.inits = {t.name: t for t in g.initializer}
        self.inputs = {i.name for i in g.input if i.name not in self.inits}
        self.outputs = {o.name for o in g.output}

    def is_float(self, name: str) -> bool:
        """float32 tensor (unknown types count as float; calibration re-checks)."""
        return self.elem.get(name, 1) == 1

    def init_array(self, name: str) -> Optional[np.ndarray]:
        t = self.inits.get(name)
        if t is None:
            p = self.producer.get(name)
            if p is not None and p.op_type == "Constant":
                for a in p.attribute:
                    if a.name == "value":
                        return _onnx().numpy_helper.to_array(a.t)
            return None
        return _onnx().numpy_helper.to_array(t)


def _types_only(model: Any) -> Any:
    """The model with its initializers turned into typed graph inputs: enough
    for type inference, without copying the weights."""
    onnx = _onnx()
    h = onnx.helper
    g = model.graph
    init_in = [h.make_tensor_value_info(t.name, t.data_type, list(t.dims)) for t in g.initializer]
    names = {t.name for t in g.initializer}
    graph = h.make_graph(list(g.node), g.name, [i for i in g.input if i.name not in names] + init_in,
                         list(g.output))
    m = h.make_model(graph, opset_imports=list(model.opset_import))
    m.ir_version = model.ir_version
    return m


def name_nodes(model: Any) -> None:
    """Give every node a unique name (in place): tuning and reports key on it."""
    seen: Set[str] = set()
    for i, n in enumerate(model.graph.node):
        nm = n.name or f"{n.op_type}_{i}"
        while nm in seen:
            nm = f"{nm}_{i}"
        n.name = nm
        seen.add(nm)


def has_weight(g: Graph, node: Any) -> bool:
    row = STATIC_OPS.get(node.op_type) or DYNAMIC_OPS.get(node.op_type)
    if row is None or row[1] is None or len(node.input) <= row[1]:
        return False
    w = g.init_array(node.input[row[1]])
    return w is not None and w.dtype == np.float32


def _attr(node: Any, name: str, default: Any) -> Any:
    for a in node.attribute:
        if a.name == name:
            return _onnx().helper.get_attribute_value(a)
    return default


def weight_axis(node: Any, w: np.ndarray) -> Optional[int]:
    t = node.op_type
    if t == "Conv":
        return 0
    if t == "ConvTranspose":
        return 1 if w.ndim >= 2 else None
    if t == "MatMul":
        return 1 if w.ndim == 2 else None
    if t == "Gemm":
        return 0 if _attr(node, "transB", 0) else 1
    return None


def _float_act_inputs(g: Graph, node: Any) -> List[int]:
    """Input positions that carry float activations to quantize."""
    t = node.op_type
    kind = STATIC_OPS[t][0]
    if kind == "weighted":
        return [0] if t != "MatMul" or has_weight(g, node) else [0, 1]
    if kind in ("binary", "concat"):
        return [i for i, x in enumerate(node.input) if x]
    if kind in ("unary", "passthrough", "removable"):
        return [0]
    return []


@dataclass
class StaticPlan:
    q_nodes: Dict[str, Dict[str, Any]]          # node name -> op cfg (int8 ones)
    fold: Dict[str, str]                        # Relu/Clip name -> producer name
    stats: Dict[str, Tuple[str, str, str]]      # tensor -> (algorithm, dtype, scheme)
    alias: Dict[str, str]                       # tensor -> tensor whose qparams it shares
    const_stats: Dict[str, np.ndarray]          # constant inputs quantized as activations
    reasons: Dict[str, str]                     # node name -> why it stays fp32
    no_out_q: Set[str]                          # nodes whose output is left float (fusion)


def plan_static(g: Graph, op_cfg: Dict[str, Dict[str, Any]]) -> StaticPlan:
    """op_cfg: node name -> tune_cfg entry. Decides which tensors get Q/DQ."""
    q_nodes = {n: c for n, c in op_cfg.items()
               if (c.get("activation") or {}).get("dtype") in ("uint8", "int8")}
    nodes = {n.name: n for n in g.model.graph.node}
    fold: Dict[str, str] = {}
    reasons: Dict[str, str] = {}
    stats: Dict[str, Tuple[str, str, str]] = {}
    alias: Dict[str, str] = {}
    const_stats: Dict[str, np.ndarray] = {}
    no_out_q: Set[str] = set()

    def act_of(c: Dict[str, Any], t: str) -> Tuple[str, str, str]:
        a = c["activation"]
        # a model output keeps its whole range: clipping logits (kl/percentile/mse)
        # saturates the largest ones and argmax then picks among ties
        algo = "minmax" if t in g.outputs else a.get("algorithm", "minmax")
        return (algo, a["dtype"], a.get("scheme", "asym"))

    def want(t: str, c: Dict[str, Any]) -> None:
        if t in alias or t in stats or t in const_stats or not g.is_float(t):
            return
        arr = g.init_array(t)
        if arr is not None:
            if arr.dtype == np.float32:
                const_stats[t] = arr
            return
        stats[t] = act_of(c, t)

    # Relu/Clip folding into a quantized producer (its output then uses the
    # activation's statistics: uint8 zero point at 0 makes the clamp)
    for name, c in list(q_nodes.items()):
        n = nodes[name]
        if STATIC_OPS[n.op_type][0] != "removable":
            continue
        p = g.producer.get(n.input[0])
        ok = (p is not None and p.name in q_nodes and p.name not in fold
              and STATIC_OPS[p.op_type][0] in ("weighted", "binary")
              and len(g.consumers.get(n.input[0], [])) == 1 and n.input[0] not in g.outputs
              and c["activation"].get("scheme", "asym") == "asym")
        if ok:
            fold[name] = p.name
        else:
            reasons[name] = f"{n.op_type} not after a quantized Conv/MatMul/Gemm/Add: runs fp32"
            del q_nodes[name]
    folded_out = {fold_p: nodes[r].output[0] for r, fold_p in fold.items()}

    for n in g.model.graph.node:
        if n.name not in q_nodes or n.name in fold:
            continue
        c = q_nodes[n.name]
        kind = STATIC_OPS[n.op_type][0]
        if kind in ("gather", "embedln"):
            continue  # weight-only
        if kind == "passthrough":
            src = n.input[0]
            if g.init_array(src) is not None or not g.is_float(src):
                reasons[n.name] = ("constant input: nothing to quantize" if g.is_float(src)
                                   else "integer tensor: nothing to quantize")
                del q_nodes[n.name]
                continue
            want(src, c)
            root = alias.get(src, src)
            for o in n.output:
                alias[o] = root
            continue
        ins = [n.input[i] for i in _float_act_inputs(g, n)]
        if not all(g.is_float(x) for x in ins) or not g.is_float(n.output[0]):
            reasons[n.name] = "integer tensors: nothing to quantize"
            del q_nodes[n.name]
            continue
        for x in ins:
            want(x, c)
        out = folded_out.get(n.name, n.output[0])
        # MatMul + Add(bias): leave the MatMul output float so ORT fuses the bias
        cons = g.consumers.get(out, [])
        if (n.op_type == "MatMul" and len(cons) == 1 and cons[0].op_type == "Add"
                and out not in g.outputs and any(g.init_array(x) is not None
                                                 for x in cons[0].input)):
            no_out_q.add(n.name)
            add = cons[0]
            if add.name in q_nodes:
                reasons[add.name] = f"bias of {n.name}: fused into the int8 MatMul by ORT"
                del q_nodes[add.name]
            continue
        want(out, c)
    return StaticPlan(q_nodes, fold, stats, alias, const_stats, reasons, no_out_q)


def _qparams_const(arr: np.ndarray, dtype: str, scheme: str) -> Tuple[np.ndarray, np.ndarray]:
    from lpot.calib import qparams
    lo = np.float32(min(float(arr.min()), 0.0)) if arr.size else np.float32(0)
    hi = np.float32(max(float(arr.max()), 0.0)) if arr.size else np.float32(0)
    return qparams(lo, hi, dtype, scheme)


def quantize_weight(w: np.ndarray, axis: Optional[int], dtype: str = "int8",
                    reduce_range: bool = False) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Symmetric int8 (per channel along axis, or per tensor); reduce_range:
    7 bits ([-64, 64]), which keeps ORT's u8s8 AVX2 kernels (vpmaddubsw pairs
    summed in int16) from saturating on CPUs without VNNI."""
    from lpot.calib import qparams, quantize
    if axis is None:
        m = np.float32(np.abs(w).max()) if w.size else np.float32(0)
        s, z = qparams(-m, m, dtype, "sym", reduce_range)
        return quantize(w, s, z), np.asarray(s, np.float32), np.asarray(z)
    red = tuple(i for i in range(w.ndim) if i != axis)
    m = np.abs(w).max(axis=red).astype(np.float32)
    s, z = qparams(-m, m, dtype, "sym", reduce_range)
    return quantize(w, s, z, axis=axis), s.astype(np.float32), z


class _Builder:
    def __init__(self, model: Any) -> None:
        onnx = _onnx()
        self.onnx = onnx
        self.h = onnx.helper
        self.nph = onnx.numpy_helper
        # everything but the initializers is copied; finish() copies only the
        # source initializers the new graph still reads (a quantized weight's
        # fp32 original never is): for BERT-base ~400 MB less copying and peak
        self.model = _copy_without_initializers(model)
        self.src_inits = {t.name: t for t in model.graph.initializer}
        self.new_inits: List[Any] = []
        self.names: Set[str] = set(self.src_inits)
        for n in model.graph.node:
            self.names.update(n.output)
            self.names.add(n.name)
        self.names.update(i.name for i in model.graph.input)

    def fresh(self, base: str) -> str:
        nm, k = base, 0
        while nm in self.names:
            k += 1
            nm = f"{base}_{k}"
        self.names.add(nm)
        return nm

    def init(self, base: str, arr: np.ndarray) -> str:
        nm = self.fresh(base)
        self.new_inits.append(self.nph.from_array(np.asarray(arr), nm))
        return nm

    def init_array(self, name: str) -> Optional[np.ndarray]:
        """A source initializer as an array (None if there is none of that name)."""
        t = self.src_inits.get(name)
        return None if t is None else self.nph.to_array(t)

    def finish(self, nodes: List[Any], ms: bool = False) -> Any:
        g = self.model.graph
        del g.node[:]
        g.node.extend(nodes)
        _ensure_opset(self.model, 13, ms)
        # initializers: the new ones and the source ones something still reads
        used = {i for n in g.node for i in n.input} | {o.name for o in g.output}
        g.initializer.extend([t for name, t in self.src_inits.items()
                              if name in used])
        g.initializer.extend([t for t in self.new_inits if t.name in used])
        inits = {t.name for t in g.initializer}
        ginp = [i for i in g.input if i.name in used or i.name not in inits]
        del g.input[:]
        g.input.extend(ginp)
        return self.model


def _copy_without_initializers(model: Any) -> Any:
    """A new ModelProto equal to model except that its graph has no initializers."""
    onnx = _onnx()

    def fill(dst: Any, src: Any, skip: str) -> None:
        for fd, v in src.ListFields():
            if fd.name == skip:
                continue
            if fd.is_repeated:
                getattr(dst, fd.name).extend(v)
            elif fd.message_type is not None:
                getattr(dst, fd.name).CopyFrom(v)
            else:
                setattr(dst, fd.name, v)

    m = onnx.ModelProto()
    fill(m, model, "graph")
    fill(m.graph, model.graph, "initializer")
    return m


def _ensure_opset(model: Any, minimum: int, ms: bool) -> None:
    have = {o.domain: o for o in model.opset_import}
    d = have.get("") or have.get("ai.onnx")
    if d is None:
        model.opset_import.add(domain="", version=minimum)
    elif d.version < minimum:
        d.version = minimum
    if ms and MS not in have:
        model.opset_import.add(domain=MS, version=1)


def build_qdq(model: Any, plan: StaticPlan, qp: Dict[str, Tuple[np.ndarray, np.ndarray]],
              op_cfg: Dict[str, Dict[str, Any]], reduce_range: bool = False) -> Any:
    """QDQ model. qp: tensor -> (scale, zero_point) for plan.stats and const_stats."""
    g = Graph(model)
    b = _Builder(model)
    h = b.h
    nodes_by = {n.name: n for n in b.model.graph.node}
    out_nodes: List[Any] = []
    # tensor -> qparams (aliases resolved)
    tq: Dict[str, Tuple[np.ndarray, np.ndarray]] = {}
    for t in list(plan.stats) + list(plan.const_stats):
        if t in qp:
            tq[t] = qp[t]
    for t, root in plan.alias.items():
        if root in tq:
            tq[t] = tq[root]
    rename_in: Dict[str, str] = {}      # graph input / constant -> its DQ output
    pre_nodes: List[Any] = []
    qdq_after: Dict[str, Tuple[str, str, str]] = {}  # produced tensor -> (fp name, scale, zp)
    scale_name: Dict[str, Tuple[str, str]] = {}

    def sz(t: str) -> Tuple[str, str]:
        if t not in scale_name:
            s, z = tq[t]
            scale_name[t] = (b.init(f"{t}_scale", np.asarray(s, np.float32).reshape(())),
                             b.init(f"{t}_zero_point", np.asarray(z).reshape(())))
        return scale_name[t]

    for t in tq:
        s_n, z_n = sz(t)
        if t in g.inputs or t in g.inits or (t in g.producer and g.producer[t].op_type == "Constant"):
            qn, dq = b.fresh(f"{t}_quantized"), b.fresh(f"{t}_dequantized")
            pre_nodes.append(h.make_node("QuantizeLinear", [t, s_n, z_n], [qn], name=b.fresh(f"{t}_QuantizeLinear")))
            pre_nodes.append(h.make_node("DequantizeLinear", [qn, s_n, z_n], [dq], name=b.fresh(f"{t}_DequantizeLinear")))
            rename_in[t] = dq
        else:
            qdq_after[t] = (b.fresh(f"{t}_fp"), s_n, z_n)
    fold_of = {p: r for r, p in plan.fold.items()}
    folded = set(plan.fold)
    out_nodes.extend(pre_nodes)
    for n in b.model.graph.node:
        if n.name in folded:
            continue
        node = n
        # inputs: graph inputs/constants read their DQ output when the node is int8
        quant = n.name in plan.q_nodes
        for i, x in enumerate(node.input):
            if x in rename_in and (quant or x in g.inputs):
                node.input[i] = rename_in[x]
        if n.name in fold_of:
            relu = nodes_by[fold_of[n.name]]
            node.output[0] = relu.output[0]
        if node.op_type in ("Shape", "Size") and node.input[0] in qdq_after:
            # only the shape is read: not the DequantizeLinear's output, which ORT
            # would then compute for nothing (its other consumers fuse it away)
            node.input[0] = qdq_after[node.input[0]][0]
        if (quant and node.op_type == "Gather" and has_weight(g, node)
                and (op_cfg[n.name].get("weight") or {}).get("dtype", "int8") == "int8"):
            node = _gather_int8(b, g, node, out_nodes)
        else:
            if quant:
                _quantize_weights(b, g, node, op_cfg[n.name], tq, sz, out_nodes, reduce_range)
            out_nodes.append(node)
        for j, o in enumerate(node.output):
            if o in qdq_after:
                fp, s_n, z_n = qdq_after[o]
                node.output[j] = fp
                qn = b.fresh(f"{o}_quantized")
                out_nodes.append(h.make_node("QuantizeLinear", [fp, s_n, z_n], [qn], name=b.fresh(f"{o}_QuantizeLinear")))
                out_nodes.append(h.make_node("DequantizeLinear", [qn, s_n, z_n], [o], name=b.fresh(f"{o}_DequantizeLinear")))
    return b.finish(out_nodes)


def _gather_int8(b: _Builder, g: Graph, n: Any, out: List[Any]) -> Any:
    """Weight-only Gather: Gather on the int8 table, then DequantizeLinear of the
    rows it picked (per-tensor scale, so the two commute). ORT gathers int8
    natively; a DequantizeLinear in front of the Gather would dequantize the
    whole table on every run (30522 x 768 for BERT's word embeddings).
    Appends both nodes to out and returns the DequantizeLinear."""
    h = b.h
    w = g.init_array(n.input[0])
    wq, ws, wz = quantize_weight(w, None)  # full 8 bits: no GEMM to saturate
    qn = b.init(f"{n.input[0]}_quantized", wq)
    sn = b.init(f"{n.input[0]}_scale", ws.reshape(()))
    zn = b.init(f"{n.input[0]}_zero_point", np.asarray(wz).reshape(()))
    gq = b.fresh(f"{n.output[0]}_quantized")
    out.append(h.make_node("Gather", [qn, n.input[1]], [gq], name=n.name, axis=_attr(n, "axis", 0)))
    dq = h.make_node("DequantizeLinear", [gq, sn, zn], [n.output[0]],
                     name=b.fresh(f"{n.name}_DequantizeLinear"))
    out.append(dq)
    return dq


def _quantize_weights(b: _Builder, g: Graph, node: Any, cfg: Dict[str, Any],
                      tq: Dict[str, Tuple[np.ndarray, np.ndarray]], sz: Any,
                      out_nodes: List[Any], reduce_range: bool) -> None:
    h = b.h
    row = STATIC_OPS.get(node.op_type)
    if row is None or row[1] is None or row[0] == "embedln" or not has_weight(g, node):
        return
    wcfg = cfg.get("weight") or {}
    if wcfg.get("dtype", "int8") not in ("int8",):
        return
    wname = node.input[row[1]]
    w = g.init_array(wname)
    axis = weight_axis(node, w) if wcfg.get("granularity", "per_channel") == "per_channel" else None
    if node.op_type == "Gather":
        axis = None
    wq, ws, wz = quantize_weight(w, axis, reduce_range=reduce_range)
    qn = b.init(f"{wname}_quantized", wq)
    sn = b.init(f"{wname}_scale", ws if axis is not None else ws.reshape(()))
    zn = b.init(f"{wname}_zero_point", wz if axis is not None else np.asarray(wz).reshape(()))
    dq = b.fresh(f"{wname}_dequantized")
    attrs = {"axis": axis} if axis is not None else {}
    out_nodes.append(h.make_node("DequantizeLinear", [qn, sn, zn], [dq],
                                 name=b.fresh(f"{wname}_DequantizeLinear"), **attrs))
    node.input[row[1]] = dq
    # bias -> int32 with scale x_scale * w_scale
    bidx = 2 if node.op_type in ("Conv", "Gemm", "ConvTranspose") else None
    if bidx is None or len(node.input) <= bidx or not node.input[bidx]:
        return
    xq = _find_act_qparams(g, node, tq)
    bias = g.init_array(node.input[bidx])
    if xq is None or bias is None or bias.ndim != 1:
        return
    bs = (np.asarray(xq[0], np.float32) * ws).astype(np.float32)
    bs = np.broadcast_to(bs, bias.shape).astype(np.float32) if bs.ndim else np.full(bias.shape, bs, np.float32)
    bq = np.clip(np.rint(bias / np.where(bs == 0, 1, bs)), -2**31, 2**31 - 1).astype(np.int32)
    bn = b.init(f"{node.input[bidx]}_quantized", bq)
    bsn = b.init(f"{node.input[bidx]}_scale", bs)
    bzn = b.init(f"{node.input[bidx]}_zero_point", np.zeros(bias.shape, np.int32))
    bdq = b.fresh(f"{node.input[bidx]}_dequantized")
    out_nodes.append(h.make_node("DequantizeLinear", [bn, bsn, bzn], [bdq],
                                 name=b.fresh(f"{node.input[bidx]}_DequantizeLinear"), axis=0))
    node.input[bidx] = bdq


def _find_act_qparams(g: Graph, node: Any, tq: Dict[str, Tuple[np.ndarray, np.ndarray]]
                      ) -> Optional[Tuple[np.ndarray, np.ndarray]]:
    x = node.input[0]
    # the node's input may already be renamed to the DQ output of a graph input
    for t, v in tq.items():
        if x == t or x.startswith(f"{t}_dequantized"):
            return v
    return None


# ---------------------------------------------------------------- QOperator
_QLINEAR = {"Conv": ("QLinearConv", ""), "MatMul": ("QLinearMatMul", ""),
            "Add": ("QLinearAdd", MS), "Mul": ("QLinearMul", MS),
            "LeakyRelu": ("QLinearLeakyRelu", MS), "Sigmoid": ("QLinearSigmoid", MS),
            "AveragePool": ("QLinearAveragePool", MS),
            "GlobalAveragePool": ("QLinearGlobalAveragePool", MS),
            "Concat": ("QLinearConcat", MS), "Gemm": ("QGemm", MS)}
_UINT8_NATIVE = {"MaxPool", "Reshape", "Transpose", "Squeeze", "Unsqueeze", "Flatten", "Resize"}


def lower_qoperator(qdq: Any) -> Any:
    """QDQ -> QOperator (see module doc)."""
    onnx = _onnx()
    h = onnx.helper
    m = onnx.ModelProto()
    m.CopyFrom(qdq)
    g = Graph(m)
    inits = g.inits

    def dq_of(t: str) -> Optional[Any]:
        p = g.producer.get(t)
        return p if p is not None and p.op_type == "DequantizeLinear" else None

    def only_q(t: str) -> Optional[Any]:
        c = g.consumers.get(t, [])
        if len(c) == 1 and c[0].op_type == "QuantizeLinear" and t not in g.outputs:
            return c[0]
        return None

    def same_qparams(a: Any, b: Any) -> bool:
        for i in (1, 2):
            x, y = g.init_array(a.input[i]), g.init_array(b.input[i])
            if x is None or y is None or x.shape != y.shape or not np.array_equal(x, y):
                return False
        return True

    removed: Set[str] = set()
    replaced: Dict[str, Any] = {}
    for n in m.graph.node:
        if n.op_type in ("QuantizeLinear", "DequantizeLinear"):
            continue
        q = only_q(n.output[0]) if len(n.output) == 1 else None
        if q is None:
            continue
        if n.op_type in _UINT8_NATIVE:
            d = dq_of(n.input[0])
            if d is None or not same_qparams(d, q):
                continue
            new = onnx.NodeProto()
            new.CopyFrom(n)
            new.input[0] = d.input[0]
            new.output[0] = q.output[0]
            replaced[n.name] = new
            removed.add(q.name)
            continue
        spec = _QLINEAR.get(n.op_type)
        if spec is None:
            continue
        op, dom = spec
        ins = [x for x in n.input if x]
        dqs = [dq_of(x) for x in ins]
        t = n.op_type
        if t in ("Conv", "Gemm") and len(ins) == 3:
            bias_dq = dqs[2]
            if bias_dq is None or inits.get(bias_dq.input[0]) is None or \
                    inits[bias_dq.input[0]].data_type != onnx.TensorProto.INT32:
                continue
            dqs = dqs[:2]
            bias = [bias_dq.input[0]]
        else:
            bias = []
        if any(d is None for d in dqs):
            continue
        yq = [q.input[1], q.input[2]]
        trip = [[d.input[0], d.input[1], d.input[2]] for d in dqs]
        if t == "Gemm":
            if _attr(n, "transA", 0) or _attr(n, "beta", 1.0) != 1.0:
                continue
            inputs = trip[0] + trip[1] + (bias or [""]) + yq
            attrs = {"alpha": _attr(n, "alpha", 1.0), "transB": _attr(n, "transB", 0)}
        elif t == "Conv":
            inputs = trip[0] + trip[1] + yq + bias
            attrs = {a.name: h.get_attribute_value(a) for a in n.attribute}
        elif t in ("MatMul", "Add", "Mul"):
            inputs = trip[0] + trip[1] + yq
            attrs = {}
        elif t == "Concat":
            inputs = yq + [x for tr in trip for x in tr]
            attrs = {"axis": _attr(n, "axis", 0)}
        else:  # unary
            inputs = trip[0] + yq
            attrs = {a.name: h.get_attribute_value(a) for a in n.attribute}
            if t == "GlobalAveragePool":
                attrs["channels_last"] = 0
            if t == "AveragePool":
                attrs.setdefault("channels_last", 0)
        kw = {"domain": dom} if dom else {}
        replaced[n.name] = h.make_node(op, inputs, [q.output[0]], name=n.name, **kw, **attrs)
        removed.add(q.name)
    nodes = []
    for n in m.graph.node:
        if n.name in removed:
            continue
        nodes.append(replaced.get(n.name, n))
    # drop DequantizeLinear nodes nothing reads
    while True:
        used = {i for n in nodes for i in n.input} | {o.name for o in m.graph.output}
        keep = [n for n in nodes if not (n.op_type in ("DequantizeLinear", "QuantizeLinear")
                                         and n.output[0] not in used)]
        if len(keep) == len(nodes):
            break
        nodes = keep
    del m.graph.node[:]
    m.graph.node.extend(nodes)
    used = {i for n in nodes for i in n.input}
    keep_i = [t for t in m.graph.initializer if t.name in used]
    del m.graph.initializer[:]
    m.graph.initializer.extend(keep_i)
    _ensure_opset(m, 13, True)
    return m


# ---------------------------------------------------------------- dynamic
def build_dynamic(model: Any, op_cfg: Dict[str, Dict[str, Any]], reduce_range: bool = False
                  ) -> Tuple[Any, Dict[str, str]]:
    """integerops model; returns (model, reasons for int8-configured nodes left fp32)."""
    g = Graph(model)
    b = _Builder(model)
    h = b.h
    out: List[Any] = []
    dql: Dict[str, Tuple[str, str, str]] = {}   # activation -> DynamicQuantizeLinear outputs
    reasons: Dict[str, str] = {}
    for n in b.model.graph.node:
        c = op_cfg.get(n.name)
        act = (c or {}).get("activation") or {}
        wc = (c or {}).get("weight") or {}
        t = n.op_type
        # EmbedLayerNormalization's tables are uint8 whatever 8-bit type is asked
        wdts = ("uint8", "int8") if t == "EmbedLayerNormalization" else ("int8",)
        if not c or act.get("dtype") not in ("uint8", "int8") or wc.get("dtype", wdts[0]) not in wdts:
            out.append(n)
            continue
        if t == "EmbedLayerNormalization":
            why = _embed_layernorm(b, g, n, out)
            if why:
                reasons[n.name] = why
                out.append(n)
            continue
        if t == "Attention":
            why = _attention(b, g, n, wc, dql, out, reduce_range)
            if why:
                reasons[n.name] = why
                out.append(n)
            continue
        if t == "Gather":
            _gather_int8(b, g, n, out)
            continue
        w = g.init_array(n.input[1])
        if t == "Conv":
            _dynamic_conv(b, n, w, wc, dql, out, reduce_range)
            continue
        if t == "Gemm":
            if _attr(n, "transA", 0) or _attr(n, "alpha", 1.0) != 1.0 or _attr(n, "beta", 1.0) != 1.0:
                reasons[n.name] = "Gemm with transA/alpha/beta: kept fp32"
                out.append(n)
                continue
            if _attr(n, "transB", 0):
                w = np.ascontiguousarray(w.T)
        if w.ndim != 2:
            reasons[n.name] = f"{t} weight of rank {w.ndim}: kept fp32"
            out.append(n)
            continue
        axis = 1 if wc.get("granularity", "per_channel") == "per_channel" else None
        wq, ws, wz = quantize_weight(w, axis, reduce_range=reduce_range)
        qn = b.init(f"{n.input[1]}_quantized", wq)
        sn = b.init(f"{n.input[1]}_scale", ws if axis is not None else ws.reshape(()))
        zn = b.init(f"{n.input[1]}_zero_point", np.zeros(w.shape[1], np.int8) if axis is not None else np.int8(0))
        x = n.input[0]
        if x not in dql:
            dql[x] = (b.fresh(f"{x}_quantized"), b.fresh(f"{x}_scale"), b.fresh(f"{x}_zero_point"))
            out.append(h.make_node("DynamicQuantizeLinear", [x], list(dql[x]), name=b.fresh(f"{x}_DynamicQuantizeLinear")))
        xq, xs, xz = dql[x]
        acc = b.fresh(f"{n.output[0]}_int32")
        out.append(h.make_node("MatMulInteger", [xq, qn, xz, zn], [acc], name=n.name))
        accf = b.fresh(f"{n.output[0]}_int32_float")
        out.append(h.make_node("Cast", [acc], [accf], name=b.fresh(f"{n.name}_Cast"), to=_onnx().TensorProto.FLOAT))
        sc = b.fresh(f"{n.output[0]}_scale")
        out.append(h.make_node("Mul", [xs, sn], [sc], name=b.fresh(f"{n.name}_scale_Mul")))
        has_bias = t == "Gemm" and len(n.input) > 2 and n.input[2]
        y = b.fresh(f"{n.output[0]}_nobias") if has_bias else n.output[0]
        out.append(h.make_node("Mul", [accf, sc], [y], name=b.fresh(f"{n.name}_Mul")))
        if has_bias:
            out.append(h.make_node("Add", [y, n.input[2]], [n.output[0]], name=b.fresh(f"{n.name}_bias_Add")))
    return b.finish(out, ms=any(n.domain == MS for n in out)), reasons


def _dynamic_conv(b: _Builder, n: Any, w: np.ndarray, wc: Dict[str, Any],
                  dql: Dict[str, Tuple[str, str, str]], out: List[Any], reduce_range: bool) -> None:
    """Conv -> DynamicQuantizeLinear + ConvInteger (int32) * (x_scale * w_scale[c]) + bias."""
    h = b.h
    axis = 0 if wc.get("granularity", "per_channel") == "per_channel" else None
    wq, ws, wz = quantize_weight(w, axis, reduce_range=reduce_range)
    bshape = [-1] + [1] * (w.ndim - 2)
    qn = b.init(f"{n.input[1]}_quantized", wq)
    # symmetric: one zero point 0 (ORT's ConvInteger takes only a per-tensor zero
    # point); the per-channel scales are applied after the integer convolution
    zn = b.init(f"{n.input[1]}_zero_point", np.int8(0))
    sn = b.init(f"{n.input[1]}_scale", ws.reshape(bshape) if axis is not None else ws.reshape(()))
    x = n.input[0]
    if x not in dql:
        dql[x] = (b.fresh(f"{x}_quantized"), b.fresh(f"{x}_scale"), b.fresh(f"{x}_zero_point"))
        out.append(h.make_node("DynamicQuantizeLinear", [x], list(dql[x]),
                               name=b.fresh(f"{x}_DynamicQuantizeLinear")))
    xq, xs, xz = dql[x]
    acc = b.fresh(f"{n.output[0]}_int32")
    attrs = {a.name: h.get_attribute_value(a) for a in n.attribute}
    out.append(h.make_node("ConvInteger", [xq, qn, xz, zn], [acc], name=n.name, **attrs))
    accf = b.fresh(f"{n.output[0]}_int32_float")
    out.append(h.make_node("Cast", [acc], [accf], name=b.fresh(f"{n.name}_Cast"),
                           to=_onnx().TensorProto.FLOAT))
    sc = b.fresh(f"{n.output[0]}_scale")
    out.append(h.make_node("Mul", [xs, sn], [sc], name=b.fresh(f"{n.name}_scale_Mul")))
    bias = n.input[2] if len(n.input) > 2 and n.input[2] else None
    y = b.fresh(f"{n.output[0]}_nobias") if bias else n.output[0]
    out.append(h.make_node("Mul", [accf, sc], [y], name=b.fresh(f"{n.name}_Mul")))
    if bias:
        barr = b.init_array(bias)
        bn = b.init(f"{bias}_reshaped", barr.reshape(bshape)) if barr is not None else bias
        out.append(h.make_node("Add", [y, bn], [n.output[0]], name=b.fresh(f"{n.name}_bias_Add")))


def _dynamic_input(b: _Builder, x: str, dql: Dict[str, Tuple[str, str, str]],
                   out: List[Any]) -> Tuple[str, str, str]:
    """(quantized, scale, zero point) of x from one DynamicQuantizeLinear per tensor."""
    if x not in dql:
        dql[x] = (b.fresh(f"{x}_quantized"), b.fresh(f"{x}_scale"), b.fresh(f"{x}_zero_point"))
        out.append(b.h.make_node("DynamicQuantizeLinear", [x], list(dql[x]),
                                 name=b.fresh(f"{x}_DynamicQuantizeLinear")))
    return dql[x]


# QAttention's attributes (ORT's contrib schema); Attention's others
# (qkv_hidden_sizes, rotary_embedding_dim) keep the node fp32
_QATTENTION_ATTRS = {"num_heads", "unidirectional", "do_rotary", "past_present_share_buffer",
                     "mask_filter_value", "scale"}


def _attention(b: _Builder, g: Graph, n: Any, wc: Dict[str, Any],
               dql: Dict[str, Tuple[str, str, str]], out: List[Any], reduce_range: bool
               ) -> Optional[str]:
    """Attention -> DynamicQuantizeLinear(input) + QAttention (com.microsoft):
    the QKV weight (hidden x 3 hidden) int8 symmetric per column (or per
    tensor) offline, the bias stays float. Returns why not, or None."""
    extra = sorted(a.name for a in n.attribute if a.name not in _QATTENTION_ATTRS)
    if extra:
        return f"Attention with {', '.join(extra)}: QAttention does not take it, kept fp32"
    if any(n.input[5:]):
        return "Attention with attention_bias/past_sequence_length: QAttention has neither, kept fp32"
    w = g.init_array(n.input[1])
    if w is None or w.ndim != 2:
        return "Attention weight is not a constant matrix: kept fp32"
    axis = 1 if wc.get("granularity", "per_channel") == "per_channel" else None
    wq, ws, wz = quantize_weight(w, axis, reduce_range=reduce_range)
    qn = b.init(f"{n.input[1]}_quantized", wq)
    sn = b.init(f"{n.input[1]}_scale", ws if axis is not None else ws.reshape(()))
    zn = b.init(f"{n.input[1]}_zero_point",
                np.zeros(w.shape[1], np.int8) if axis is not None else np.int8(0))
    xq, xs, xz = _dynamic_input(b, n.input[0], dql, out)
    mask = n.input[3] if len(n.input) > 3 else ""
    past = [n.input[4]] if len(n.input) > 4 and n.input[4] else []
    attrs = {a.name: b.h.get_attribute_value(a) for a in n.attribute}
    out.append(b.h.make_node("QAttention", [xq, qn, n.input[2], xs, sn, mask, xz, zn] + past,
                             list(n.output), name=n.name, domain=MS, **attrs))
    return None


def _embed_layernorm(b: _Builder, g: Graph, n: Any, out: List[Any]) -> Optional[str]:
    """EmbedLayerNormalization -> QEmbedLayerNormalization (com.microsoft): the
    word/position/segment tables, gamma and beta uint8 asymmetric per tensor
    (ORT's kernel takes exactly that); ids and mask unchanged, output float."""
    if len(n.output) > 2:
        return "EmbedLayerNormalization with 3 outputs: QEmbedLayerNormalization has 2, kept fp32"
    arrs = [g.init_array(n.input[i]) if len(n.input) > i and n.input[i] else None
            for i in range(2, 7)]
    if any(a is None or a.dtype != np.float32 for a in arrs):
        return ("EmbedLayerNormalization without constant float embeddings/gamma/beta "
                "(or without segment embeddings): kept fp32")
    from lpot.calib import quantize
    qs, ss, zs = [], [], []
    for i, a in zip(range(2, 7), arrs):
        sc, zp = _qparams_const(a, "uint8", "asym")
        qs.append(b.init(f"{n.input[i]}_quantized", quantize(a, sc, zp)))
        ss.append(b.init(f"{n.input[i]}_scale", np.asarray(sc, np.float32).reshape(())))
        zs.append(b.init(f"{n.input[i]}_zero_point", np.asarray(zp, np.uint8).reshape(())))
    mask = n.input[7] if len(n.input) > 7 else ""
    attrs = {a.name: b.h.get_attribute_value(a) for a in n.attribute}
    out.append(b.h.make_node("QEmbedLayerNormalization",
                             [n.input[0], n.input[1]] + qs + [mask] + ss + zs,
                             list(n.output), name=n.name, domain=MS, **attrs))
    return None


def quantize_embed_layernorms(model: Any, op_cfg: Dict[str, Dict[str, Any]]
                              ) -> Tuple[Any, Dict[str, str]]:
    """QOperator post-pass: the int8-configured EmbedLayerNormalization nodes of
    a lowered model become QEmbedLayerNormalization (weight-only, so no
    calibration was needed). Returns (model, reasons for nodes left fp32)."""
    targets = {n.name for n in model.graph.node if n.op_type == "EmbedLayerNormalization"
               and ((op_cfg.get(n.name) or {}).get("activation") or {}).get("dtype")
               in ("uint8", "int8")}
    if not targets:
        return model, {}
    g = Graph(model)
    b = _Builder(model)
    out: List[Any] = []
    reasons: Dict[str, str] = {}
    for n in b.model.graph.node:
        if n.name in targets:
            why = _embed_layernorm(b, g, n, out)
            if why is None:
                continue
            reasons[n.name] = why
        out.append(n)
    return b.finish(out, ms=True), reasons
