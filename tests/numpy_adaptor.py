"""A test-only "framework": a NumPy MLP and its adaptor, registered with
lpot.adaptor.register_adaptor so every lpot.experimental path runs without
the real ONNX Runtime / PyTorch adaptors.

quantize() really fake-quantizes: int8 ops get symmetric per-tensor int8
weights and asymmetric uint8 activations whose ranges come from the
calibration batches; fp32 ops are left alone. evaluate() follows the
adaptor contract's precedence (eval_func, else dataloader + postprocess +
metric).
"""
from __future__ import annotations

import json
import os
from typing import Any, Dict, List, Optional

import numpy as np

from lpot.model import QuantizedModel
from lpot.model.runner import split_batch


class NumpyMLP:
    """x (N, ...) -> flatten -> fc1 -> relu -> fc2 -> relu -> fc3 logits."""

    names = ("fc1", "fc2", "fc3")

    def __init__(self, weights: List[np.ndarray], act_q: Optional[Dict[str, tuple]] = None,
                 prec: Optional[Dict[str, str]] = None) -> None:
        self.weights = weights
        self.act_q = act_q or {}       # op -> (scale, zero_point) for its input
        self.prec = prec or {n: "fp32" for n in self.names}

    @staticmethod
    def random(d_in: int = 16, hidden: int = 32, classes: int = 4, seed: int = 0) -> "NumpyMLP":
        rng = np.random.default_rng(seed)
        dims = [d_in, hidden, hidden, classes]
        return NumpyMLP([rng.standard_normal((a, b)).astype(np.float32) / np.sqrt(a)
                         for a, b in zip(dims[:-1], dims[1:])])

    @staticmethod
    def load(path: str) -> "NumpyMLP":
        with np.load(path) as z:
            return NumpyMLP([z[k] for k in sorted(z.files, key=lambda k: int(k.split("_")[1]))])

    def dump(self, path: str) -> str:
        np.savez(path, *self.weights)
        return path

    def __call__(self, x: Any) -> np.ndarray:
        h = np.asarray(x, dtype=np.float32).reshape(len(x), -1)
        for i, (name, w) in enumerate(zip(self.names, self.weights)):
            if name in self.act_q:
                s, z = self.act_q[name]
                h = (np.clip(np.round(h / s) + z, 0, 255) - z) * s
            h = h @ w
            if i < len(self.weights) - 1:
                h = np.maximum(h, 0)
        return h.astype(np.float32)

    def inputs_of(self, x: Any) -> Dict[str, np.ndarray]:
        h = np.asarray(x, dtype=np.float32).reshape(len(x), -1)
        out = {}
        for i, (name, w) in enumerate(zip(self.names, self.weights)):
            out[name] = h
            h = h @ w
            if i < len(self.weights) - 1:
                h = np.maximum(h, 0)
        return out


class NumpyQModel(QuantizedModel):
    def save(self, path: str) -> str:
        os.makedirs(path, exist_ok=True)
        np.savez(os.path.join(path, "weights.npz"), *self.model.weights)
        with open(os.path.join(path, "report.json"), "w") as f:
            json.dump({"ops": self.report.get("ops", []), "prec": self.model.prec}, f)
        return path


class NumpyAdaptor:
    """The adaptor protocol of lpot.tuning on NumpyMLP models."""

    instances: List["NumpyAdaptor"] = []

    def __init__(self, framework: str, model: Any, config: Any, *, calib_dataloader: Any = None,
                 eval_dataloader: Any = None, eval_func: Any = None, metric: Any = None,
                 postprocess: Any = None, q_func: Any = None) -> None:
        if isinstance(model, str) and model.endswith(".npz"):
            model = NumpyMLP.load(model)
        if not isinstance(model, NumpyMLP):
            raise TypeError(f"NumpyAdaptor: not a NumpyMLP: {type(model).__name__}")
        self.framework = framework
        self.fp32_model = model
        self.config = config
        self.calib_dataloader = calib_dataloader
        self.eval_dataloader = eval_dataloader
        self.eval_func = eval_func
        self.metric = metric
        self.postprocess = postprocess
        self.q_func = q_func
        self.quantize_calls = 0
        self.evaluate_calls = 0
        NumpyAdaptor.instances.append(self)

    @classmethod
    def handles(cls, model: Any) -> bool:
        return isinstance(model, NumpyMLP)

    @staticmethod
    def make_runner(model: Any, threads: Optional[int]) -> Any:
        return NumpyMLP.load(model) if isinstance(model, str) else model

    def query_capability(self) -> List[Dict[str, Any]]:
        return [{"name": n, "type": "MatMul",
                 "weight": {"dtype": ["int8", "fp32"], "scheme": ["sym"], "granularity": ["per_tensor"],
                            "algorithm": ["minmax"]},
                 "activation": {"dtype": ["uint8", "fp32"], "scheme": ["asym"],
                                "granularity": ["per_tensor"], "algorithm": ["minmax"]}}
                for n in NumpyMLP.names]

    def fingerprint(self) -> str:
        return "numpy-" + str(float(sum(float(w.sum()) for w in self.fp32_model.weights)))

    def quantize(self, tune_cfg: Dict[str, Any]) -> NumpyQModel:
        self.quantize_calls += 1
        m = self.fp32_model
        if self.q_func is not None:
            self.q_func(m)
        lo = {n: np.inf for n in m.names}
        hi = {n: -np.inf for n in m.names}
        seen = 0
        for batch in self.calib_dataloader or []:
            x, _ = split_batch(batch)
            for n, a in m.inputs_of(x).items():
                lo[n] = min(lo[n], float(a.min()))
                hi[n] = max(hi[n], float(a.max()))
            seen += len(x)
            if seen >= tune_cfg["calib_sampling_size"]:
                break
        weights, act_q, prec, ops = [], {}, {}, []
        for n, w in zip(m.names, m.weights):
            c = tune_cfg["op"][(n, "MatMul")]
            if c["activation"]["dtype"] == "fp32" or not np.isfinite(lo[n]):
                weights.append(w)
                prec[n] = "fp32"
                ops.append({"name": n, "type": "MatMul", "dtype": "fp32", "reason": "tuning fallback",
                            "runs": "numpy fp32"})
                continue
            s = float(np.abs(w).max()) / 127 or 1.0
            weights.append((np.clip(np.round(w / s), -127, 127) * s).astype(np.float32))
            a_lo, a_hi = min(lo[n], 0.0), max(hi[n], 0.0)
            sa = (a_hi - a_lo) / 255 or 1.0
            act_q[n] = (sa, float(np.round(-a_lo / sa)))
            prec[n] = "int8"
            ops.append({"name": n, "type": "MatMul", "dtype": "int8", "reason": "",
                        "runs": "numpy fake-quant"})
        report = {"ops": ops, "int8_ops": sum(o["dtype"] == "int8" for o in ops),
                  "fp32_ops": sum(o["dtype"] == "fp32" for o in ops)}
        return NumpyQModel(NumpyMLP(weights, act_q, prec), self.framework, report, tune_cfg)

    def evaluate(self, model: Any) -> float:
        self.evaluate_calls += 1
        m = model.model if isinstance(model, QuantizedModel) else model
        if self.eval_func is not None:
            return float(self.eval_func(m))
        if self.eval_dataloader is None or self.metric is None:
            raise RuntimeError("NumpyAdaptor.evaluate: no eval_func and no dataloader + metric")
        self.metric.reset()
        for batch in self.eval_dataloader:
            x, y = split_batch(batch)
            pred = m(x)
            if self.postprocess is not None:
                pred, y = self.postprocess((pred, y))
            self.metric.update(pred, y)
        return float(self.metric.result())

    def model_size(self, model: Any) -> float:
        m = model.model if isinstance(model, QuantizedModel) else model
        return float(sum(w.size * (1 if m.prec.get(n) == "int8" else 4)
                         for n, w in zip(m.names, m.weights)))

    def save(self, model: Any, path: str) -> str:
        return model.save(path)


class BlobDataset:
    """Gaussian blobs labelled by the fp32 model (labels of `flip` of the
    samples are changed, so the fp32 accuracy is 1 - flip)."""

    def __init__(self, model: NumpyMLP, n: int = 200, d_in: int = 16, seed: int = 1,
                 flip: float = 0.1) -> None:
        rng = np.random.default_rng(seed)
        self.x = rng.standard_normal((n, d_in)).astype(np.float32)
        y = model(self.x).argmax(axis=1)
        k = int(round(n * flip))
        y[:k] = (y[:k] + 1) % model.weights[-1].shape[1]
        self.y = y.astype(np.int64)

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, i: int) -> tuple:
        return self.x[i], int(self.y[i])
