"""ONNX Runtime adaptor: static (QDQ, QOperator) and dynamic (integer ops)
post-training quantization of onnx models.

framework name -> format:
  onnxrt_qdq         QuantizeLinear/DequantizeLinear pairs (ORT fuses them)
  onnxrt_qlinearops  QOperator: QLinearConv, QLinearMatMul, QLinearAdd, ...
                     (quantization.approach post_training_dynamic_quant -> integer ops)
  onnxrt_integerops  dynamic: int8 weights offline, DynamicQuantizeLinear +
                     MatMulInteger at run time
Calibration runs ORT once per new set of statistics with the needed
intermediate tensors exposed as graph outputs and streams each batch into
lpot's C observers (nothing of the activations is kept). The report says,
per node, what ORT actually runs: it is read back from the session's
optimized graph (SessionOptions.optimized_model_filepath).
"""
from __future__ import annotations

import hashlib
import logging
import os
import tempfile
import time
from typing import Any, Callable, Dict, Iterable, List, Optional, Sequence, Tuple

import numpy as np

from lpot import ModelError
from lpot.adaptor import onnxrt_quantize as oq
from lpot.adaptor.onnxrt_capability import (DYNAMIC_OPS, STATIC_OPS, op_capability,
                                            unsupported_reason)
from lpot.model.base import QuantizedModel

logger = logging.getLogger("lpot")

_INT8_RUNTIME_OPS = {
    "QLinearConv", "QLinearMatMul", "QLinearAdd", "QLinearMul", "QLinearLeakyRelu",
    "QLinearSigmoid", "QLinearAveragePool", "QLinearGlobalAveragePool", "QLinearConcat",
    "QGemm", "QAttention", "QEmbedLayerNormalization", "MatMulInteger", "ConvInteger",
    "DynamicQuantizeMatMul", "MatMulIntegerToFloat", "QLinearSoftmax", "QLinearWhere",
    "MatMulInteger16", "DynamicQuantizeLSTM", "QLinearReduceMean",
}
_EXT_LIMIT = 2 * 1024 ** 3 - 1


def _ort() -> Any:
    import onnxruntime
    return onnxruntime


def _onnx() -> Any:
    import onnx
    return onnx


def load_model(model: Any) -> Any:
    """An onnx.ModelProto from a ModelProto, a QuantizedModel, a path or bytes."""
    onnx = _onnx()
    if isinstance(model, QuantizedModel):
        model = model.model
    if isinstance(model, onnx.ModelProto):
        return model
    if isinstance(model, (bytes, bytearray)):
        try:
            return onnx.load_from_string(bytes(model))
        except Exception as e:
            raise ModelError(f"not an onnx model: {e}") from e
    if isinstance(model, (str, os.PathLike)):
        p = os.fspath(model)
        if not os.path.exists(p):
            raise ModelError(f"onnx model '{p}' does not exist")
        try:
            return onnx.load(p)
        except Exception as e:
            raise ModelError(f"cannot read onnx model '{p}': {e}") from e
    raise ModelError(f"the onnxrt adaptor needs an onnx.ModelProto or a .onnx path, "
                     f"not a {type(model).__name__}")


def _session(model: Any, optimized_path: Optional[str] = None, level: Optional[Any] = None,
             threads: int = 0) -> Any:
    ort = _ort()
    so = ort.SessionOptions()
    so.log_severity_level = 3
    if threads:
        so.intra_op_num_threads = threads
    if optimized_path:
        so.optimized_model_filepath = optimized_path
    if level is not None:
        so.graph_optimization_level = level
    data = model if isinstance(model, bytes) else model.SerializeToString()
    try:
        return ort.InferenceSession(data, so, providers=["CPUExecutionProvider"])
    except Exception as e:
        raise ModelError(f"onnxruntime cannot load the model: {e}") from e


class ONNXRTModel(QuantizedModel):
    """A quantized onnx model (model: onnx.ModelProto)."""

    def __init__(self, model: Any, framework: str, report: Optional[Dict[str, Any]] = None,
                 tune_cfg: Optional[Dict[str, Any]] = None, qdq: Any = None) -> None:
        super().__init__(model, framework, report, tune_cfg)
        self.qdq = qdq if qdq is not None else model  # the QDQ twin, for inspect_tensor

    def save(self, path: str) -> str:
        return save_model(self.model, path)


def save_model(model: Any, path: str) -> str:
    onnx = _onnx()
    p = os.fspath(path)
    if not p.endswith(".onnx"):
        os.makedirs(p, exist_ok=True)
        p = os.path.join(p, "best_model.onnx")
    else:
        d = os.path.dirname(os.path.abspath(p))
        os.makedirs(d, exist_ok=True)
    if model.ByteSize() > _EXT_LIMIT:
        copy = onnx.ModelProto()
        copy.CopyFrom(model)  # onnx moves the tensors out of the proto it saves
        onnx.save_model(copy, p, save_as_external_data=True, all_tensors_to_one_file=True,
                        location=os.path.basename(p) + ".data", size_threshold=1024)
    else:
        onnx.save(model, p)
    return p


# --------------------------------------------------------------- batches
def split_batch(batch: Any, input_names: Sequence[str]) -> Tuple[Dict[str, Any], Any]:
    """(feed dict by input name, label or None) from a dict, tuple/list or array batch."""
    n = len(input_names)
    if isinstance(batch, dict):
        feed = {k: batch[k] for k in input_names if k in batch}
        if len(feed) != n:
            missing = [k for k in input_names if k not in batch]
            raise ModelError(f"batch dict lacks model input(s) {missing}; it has {sorted(batch)}")
        label = batch.get("label", batch.get("labels"))
        return feed, label
    if isinstance(batch, (tuple, list)):
        if len(batch) == 2 and isinstance(batch[0], (tuple, list, dict)):
            feed, _ = split_batch(batch[0], input_names)
            return feed, batch[1]
        if len(batch) < n:
            raise ModelError(f"batch has {len(batch)} field(s); the model has {n} input(s) "
                             f"{list(input_names)}")
        feed = dict(zip(input_names, batch[:n]))
        rest = batch[n:]
        return feed, (rest[0] if len(rest) == 1 else (tuple(rest) if rest else None))
    if n != 1:
        raise ModelError(f"a single-array batch for a model with {n} inputs {list(input_names)}")
    return {input_names[0]: batch}, None


def _to_numpy(x: Any) -> np.ndarray:
    if hasattr(x, "detach") and hasattr(x, "cpu"):
        x = x.detach().cpu().numpy()
    return np.asarray(x)


_NP_OF = {1: np.float32, 2: np.uint8, 3: np.int8, 6: np.int32, 7: np.int64, 9: np.bool_,
          10: np.float16, 11: np.float64}


class ONNXRTAdaptor:
    """The lpot adaptor for onnx models run by ONNX Runtime (see module doc)."""

    def __init__(self, framework: str, model: Any, config: Any = None, *,
                 calib_dataloader: Any = None, eval_dataloader: Any = None,
                 eval_func: Optional[Callable[[Any], float]] = None, metric: Any = None,
                 postprocess: Any = None, q_func: Any = None) -> None:
        onnx = _onnx()
        m = onnx.ModelProto()
        m.CopyFrom(load_model(model))
        oq.name_nodes(m)
        self.fp32_model = m
        self.framework = framework
        approach = _cfg_get(config, ("quantization", "approach"), "post_training_static_quant")
        if framework == "onnxrt_integerops" or approach == "post_training_dynamic_quant":
            self.mode = "integerops"
        elif framework == "onnxrt_qdq":
            self.mode = "qdq"
        else:
            self.mode = "qlinearops"
        self.calib_dataloader = calib_dataloader
        self.eval_dataloader = eval_dataloader
        self.eval_func = eval_func
        self.metric = metric
        self.postprocess = postprocess
        # ModelError with ORT's message if it cannot load; not kept (a BERT-base
        # session is ~0.5 GB): the fp32 session is made again when evaluated
        data = m.SerializeToString()  # once: ~1.5 s for a BERT-base (400 MB)
        probe = _session(data)
        self.input_names = [i.name for i in probe.get_inputs()]
        self._in_types = {i.name: _NP_OF.get(_elem_type(m, i.name), None)
                          for i in probe.get_inputs()}
        del probe
        self._fingerprint = hashlib.sha256(data).hexdigest()[:32]
        del data
        self.graph = oq.Graph(m)
        self._qp_cache: Dict[Tuple[Any, ...], Tuple[np.ndarray, np.ndarray]] = {}
        self._sess_cache: Dict[int, Tuple[Any, Any]] = {}
        self.calib_runs = 0
        self.reduce_range = weight_reduce_range(config)

    # ------------------------------------------------------------ protocol
    def query_capability(self) -> List[Dict[str, Any]]:
        caps = []
        for n in self.fp32_model.graph.node:
            c = op_capability(n.op_type, oq.has_weight(self.graph, n), self.mode)
            if c is None or not self.graph.is_float(n.output[0]):
                continue  # shape arithmetic on int64 and the like
            caps.append(dict(c, name=n.name))
        return caps

    query_fw_capability = query_capability

    def fingerprint(self) -> str:
        return f"onnx-{self._fingerprint}-{self.mode}"

    def quantize(self, tune_cfg: Dict[str, Any], model: Any = None,
                 dataloader: Any = None) -> ONNXRTModel:
        op_cfg = {k[0] if isinstance(k, tuple) else k: v for k, v in tune_cfg["op"].items()}
        sampling = int(tune_cfg.get("calib_sampling_size", 100) or 100)
        t0 = time.perf_counter()
        if self.mode == "integerops":
            qm, reasons = oq.build_dynamic(self.fp32_model, op_cfg, self.reduce_range)
            qdq = qm
        else:
            plan = oq.plan_static(self.graph, op_cfg)
            qp = self.calibrate(plan, sampling, dataloader)
            qdq = oq.build_qdq(self.fp32_model, plan, qp, op_cfg, self.reduce_range)
            reasons = dict(plan.reasons)
            if self.mode == "qlinearops":
                qm, more = oq.quantize_embed_layernorms(oq.lower_qoperator(qdq), op_cfg)
                reasons.update(more)
            else:
                qm = qdq
        report = self.report(qm, op_cfg, reasons)
        report["quantize_seconds"] = time.perf_counter() - t0
        out = ONNXRTModel(qm, self.framework, report, tune_cfg, qdq=qdq)
        logger.info("onnxrt %s: %d node(s) int8 in ORT, %d fp32", self.mode,
                    report["int8_ops"], report["fp32_ops"])
        logger.debug("%s", out.report_text())
        return out

    # ------------------------------------------------------------ calibration
    def calibrate(self, plan: oq.StaticPlan, sampling: int, dataloader: Any = None
                  ) -> Dict[str, Tuple[np.ndarray, np.ndarray]]:
        """qparams of every tensor in plan (cached across trials)."""
        from lpot.calib import Observer
        out: Dict[str, Tuple[np.ndarray, np.ndarray]] = {}
        for t, arr in plan.const_stats.items():
            dt = plan.stats.get(t, ("minmax", "uint8", "asym"))
            out[t] = oq._qparams_const(arr, dt[1], dt[2])
        need = {}
        for t, (algo, dt, sch) in plan.stats.items():
            key = (t, algo, dt, sch, sampling)
            if key in self._qp_cache:
                out[t] = self._qp_cache[key]
            else:
                need[t] = key
        if not need:
            return out
        dl = dataloader if dataloader is not None else self.calib_dataloader
        if dl is None:
            raise ModelError("static quantization needs a calibration dataloader "
                             "(calib_dataloader)")
        obs = {t: Observer(k[1], dtype=k[2], scheme=k[3]) for t, k in need.items()}
        graph_in = [t for t in need if t in self.input_names]
        exposed = [t for t in need if t not in self.input_names]
        sess = _session(_with_outputs(self.fp32_model, exposed)) if exposed else None  # bytes
        seen = 0
        self.calib_runs += 1
        for batch in dl:
            feed = self._feed(batch)
            for t in graph_in:
                obs[t].update(feed[t])
            if sess is not None:
                vals = sess.run(exposed, feed)
                for t, v in zip(exposed, vals):
                    obs[t].update(v)
                del vals
            seen += _batch_len(feed)
            if seen >= sampling:
                break
        if seen == 0:
            raise ModelError("the calibration dataloader yielded no batch")
        for t, k in need.items():
            try:
                s, z = obs[t].compute()
            except ValueError:  # no finite value: a constant-zero range
                from lpot.calib import qparams
                s, z = qparams(np.float32(0), np.float32(0), k[2], k[3])
            self._qp_cache[k] = (s, z)
            out[t] = (s, z)
        return out

    def _feed(self, batch: Any) -> Dict[str, np.ndarray]:
        feed, _ = split_batch(batch, self.input_names)
        return self._cast(feed)

    def _cast(self, feed: Dict[str, Any]) -> Dict[str, np.ndarray]:
        out = {}
        for k, v in feed.items():
            a = _to_numpy(v)
            t = self._in_types.get(k)
            if t is not None and a.dtype != t:
                a = a.astype(t)
            out[k] = a
        return out

    # ------------------------------------------------------------ running
    def _sess(self, model: Any) -> Any:
        m = load_model(model)
        key = id(m)
        hit = self._sess_cache.get(key)
        if hit is not None and hit[0] is m:
            return hit[1]
        s = _session(m)
        if len(self._sess_cache) > 4:
            self._sess_cache.clear()
        self._sess_cache[key] = (m, s)
        return s

    def predict(self, model: Any, batch: Any) -> Tuple[List[np.ndarray], Any]:
        feed, label = split_batch(batch, self.input_names)
        return self._sess(model).run(None, self._cast(feed)), label

    def evaluate(self, model: Any) -> float:
        fw_model = model.model if isinstance(model, QuantizedModel) else model
        if self.eval_func is not None:
            return float(self.eval_func(fw_model))
        if self.eval_dataloader is None or self.metric is None:
            raise ModelError("evaluate needs eval_func, or eval_dataloader and metric")
        self.metric.reset()
        for batch in self.eval_dataloader:
            outs, label = self.predict(fw_model, batch)
            pred = outs[0] if len(outs) == 1 else outs
            if self.postprocess is not None:
                pred, label = self.postprocess((pred, label))
            self.metric.update(pred, label)
        return float(self.metric.result())

    def _fixed_batch(self) -> Dict[str, np.ndarray]:
        dl = self.eval_dataloader if self.eval_dataloader is not None else self.calib_dataloader
        if dl is None:
            raise ModelError("benchmark/inspect_tensor need a dataloader")
        for batch in dl:
            return self._feed(batch)
        raise ModelError("the dataloader yielded no batch")

    def benchmark(self, model: Any, feed: Optional[Dict[str, np.ndarray]] = None,
                  warmup: int = 3, iters: int = 10) -> float:
        """Median latency (seconds) of one run on a fixed input (warm-up runs,
        then see median_latency)."""
        from lpot.model.runner import median_latency
        sess = self._sess(model)
        feed = feed if feed is not None else self._fixed_batch()
        for _ in range(warmup - 1):
            sess.run(None, feed)
        return median_latency(lambda: sess.run(None, feed), iters)

    def model_size(self, model: Any) -> float:
        return float(load_model(model).ByteSize())

    def save(self, model: Any, path: str) -> str:
        return save_model(load_model(model), path)

    def _observable(self, name: str) -> Optional[str]:
        """The tensor standing for a node's output in both fp32 and int8 models
        (the Relu/Clip output when the node's only consumer is one)."""
        node = next((n for n in self.fp32_model.graph.node if n.name == name), None)
        if node is None or not node.output:
            return None
        t = node.output[0]
        cons = self.graph.consumers.get(t, [])
        if len(cons) == 1 and cons[0].op_type in ("Relu", "Clip") and t not in self.graph.outputs:
            return cons[0].output[0]
        return t

    def inspect_tensor(self, model: Any, op_names: Sequence[str], batches: int = 1
                       ) -> Dict[str, np.ndarray]:
        """Outputs of the named nodes on the first batch(es) (flattened, concatenated)."""
        m = model.qdq if isinstance(model, ONNXRTModel) else load_model(model)
        tens = {n: self._observable(n) for n in op_names}
        have = set()
        for n in m.graph.node:
            have.update(n.output)
        have.update(i.name for i in m.graph.input)
        want = sorted({t for t in tens.values() if t and t in have})
        sess = _session(_with_outputs(m, want))
        dl = self.calib_dataloader if self.calib_dataloader is not None else self.eval_dataloader
        acc: Dict[str, List[np.ndarray]] = {t: [] for t in want}
        for i, batch in enumerate(dl):
            if i >= batches:
                break
            for t, v in zip(want, sess.run(want, self._feed(batch))):
                acc[t].append(np.asarray(v, np.float32).ravel())
        out = {}
        for n, t in tens.items():
            if acc.get(t):
                out[n] = np.concatenate(acc[t])
            else:
                out[n] = np.zeros(1, np.float32)
        return out

    # ------------------------------------------------------------ report
    def report(self, qmodel: Any, op_cfg: Dict[str, Dict[str, Any]],
               reasons: Dict[str, str]) -> Dict[str, Any]:
        return build_report(self.fp32_model, qmodel, op_cfg, reasons, self.mode)


def weight_reduce_range(config: Any) -> bool:
    """7-bit weights? quantization.model_wise.weight.bit when the config sets
    it below 8; else True on CPUs without VNNI (ORT's u8s8 kernels there sum
    pairs of u8*s8 products in int16 and saturate with full-range weights:
    measured 18 dB vs 38 dB output SQNR on a 3x3 Conv), False with VNNI."""
    bit = _cfg_get(config, ("quantization", "model_wise", "weight", "bit"), None)
    if isinstance(bit, (int, float)) and bit != 7.0:
        return bit < 8
    import lpot
    used = lpot.cpu_features().get("used", {})
    return not (used.get("avx512_vnni") or used.get("avx_vnni"))


def _cfg_get(config: Any, path: Sequence[str], default: Any) -> Any:
    cur = config
    for p in path:
        if cur is None:
            return default
        try:
            cur = cur[p] if isinstance(cur, dict) else getattr(cur, p)
        except (KeyError, AttributeError):
            return default
    return default if cur is None else cur


def _elem_type(model: Any, name: str) -> int:
    for i in model.graph.input:
        if i.name == name:
            return i.type.tensor_type.elem_type
    return 0


def _batch_len(feed: Dict[str, np.ndarray]) -> int:
    for v in feed.values():
        return int(v.shape[0]) if v.ndim else 1
    return 1


def _with_outputs(model: Any, names: Iterable[str]) -> bytes:
    """The serialized model with `names` added as graph outputs (the outputs
    are added, serialized and removed again: no copy of the weights)."""
    onnx = _onnx()
    outs = model.graph.output
    n0 = len(outs)
    have = {o.name for o in outs}
    try:
        for n in names:
            if n not in have:
                outs.append(onnx.ValueInfoProto(name=n))
        return model.SerializeToString()
    finally:
        while len(outs) > n0:
            del outs[len(outs) - 1]


def optimized_graph(model: Any) -> Any:
    """The graph ORT will run (extended optimizations, before NCHWc layout)."""
    ort = _ort()
    onnx = _onnx()
    with tempfile.TemporaryDirectory() as d:
        p = os.path.join(d, "optimized.onnx")
        so = ort.SessionOptions()
        so.log_severity_level = 3
        so.optimized_model_filepath = p
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
        # weights to a side file we never read: only the graph is loaded back
        so.add_session_config_entry("session.optimized_model_external_initializers_file_name",
                                    "weights.bin")
        so.add_session_config_entry(
            "session.optimized_model_external_initializers_min_size_in_bytes", "64")
        try:
            ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])
        except Exception as e:
            raise ModelError(f"onnxruntime cannot load the quantized model: {e}") from e
        return onnx.load(p, load_external_data=False)


def build_report(fp32: Any, qmodel: Any, op_cfg: Dict[str, Dict[str, Any]],
                 reasons: Dict[str, str], mode: str) -> Dict[str, Any]:
    """Per fp32 node: the dtype asked for, what ORT runs after optimization."""
    opt = optimized_graph(qmodel)
    by_name = {}
    for n in opt.graph.node:
        by_name.setdefault(n.name, n)
    # ORT's fusions keep or extend the target node's name; fall back to prefix match
    opt_names = list(by_name)
    ops = []
    int8 = fp32n = 0
    for n in fp32.graph.node:
        cfg = op_cfg.get(n.name)
        want = ((cfg or {}).get("activation") or {}).get("dtype", "fp32") if cfg else None
        o = by_name.get(n.name)
        if o is None:
            o = next((by_name[k] for k in opt_names if k.startswith(n.name + "_")
                      and by_name[k].op_type in _INT8_RUNTIME_OPS), None)
        runs = o.op_type if o is not None else "fused/removed"
        reason = ""
        if cfg is None and runs in _INT8_RUNTIME_OPS:
            # between int8 neighbours ORT fused it into an int8 kernel on its own
            dtype, runs = "uint8", f"{runs} (fused by ORT between int8 neighbours)"
        elif cfg is None:
            table = DYNAMIC_OPS if mode == "integerops" else STATIC_OPS
            reason = unsupported_reason(n.op_type, mode) or (
                f"no {'dynamic ' if mode == 'integerops' else ''}int8 support for {n.op_type} "
                "in this adaptor" if n.op_type not in table else
                "not quantizable here (no constant float weight)")
            dtype = "fp32"
        elif want not in ("uint8", "int8"):
            dtype, reason = "fp32", "fp32 in tune_cfg"
        elif n.name in reasons:
            dtype, reason = "fp32", reasons[n.name]
        else:
            kind = STATIC_OPS.get(n.op_type, ("weighted",))[0]
            if runs in _INT8_RUNTIME_OPS:
                dtype = want
            elif o is None:
                dtype = want
                runs = "folded into the producer's int8 output" if kind == "removable" \
                    else "fused by ORT"
            elif kind in ("passthrough", "gather") and _reads_int8(opt, o):
                dtype = want
                runs = f"{o.op_type} (int8 tensor)"
            else:
                dtype = "fp32"
                reason = f"ORT runs it as fp32 {o.op_type} (no int8 kernel matched)"
        if dtype == "fp32":
            fp32n += 1
        else:
            int8 += 1
        ops.append({"name": n.name, "type": n.op_type, "dtype": dtype, "reason": reason,
                    "runs": runs})
    counts: Dict[str, int] = {}
    for n in opt.graph.node:
        counts[n.op_type] = counts.get(n.op_type, 0) + 1
    return {"ops": ops, "int8_ops": int8, "fp32_ops": fp32n, "format": mode,
            "ort_ops": counts}


def _reads_int8(opt: Any, node: Any) -> bool:
    prod = {o: n for n in opt.graph.node for o in n.output}
    p = prod.get(node.input[0]) if node.input else None
    if p is None:
        for t in opt.graph.initializer:
            if t.name == (node.input[0] if node.input else None):
                return t.data_type in (2, 3)
        return False
    return p.op_type in _INT8_RUNTIME_OPS or p.op_type in ("QuantizeLinear",) or \
        (p.op_type not in ("DequantizeLinear",) and _reads_int8(opt, p)
         if p.op_type in ("MaxPool", "Reshape", "Transpose", "Squeeze", "Unsqueeze", "Flatten")
         else False)
