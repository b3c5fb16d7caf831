"""What both workers of bench_end_to_end.py share: the model (built from the
project's own definitions, imported by file path so that a venv without lpot
can load them), the data, the counted evaluation function and the latency
harness. Needs only torch and numpy: it runs in lpot's venv and in INC's.

A run directory (written by bench_end_to_end.py) holds:
  spec.json   {"model": "mnist"|"bert", "eval_batch", "calib_batch", "max_trials",
               "relative_goal", "latency_runs", "weights": path}
  data.npz    calib (N,...), eval_x, eval_y, latency_x (batch 1)
"""
from __future__ import annotations

import importlib.util
import json
import os
import statistics
import sys
import time
from typing import Any, Callable, Dict, List, Tuple

import numpy as np
import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def load_by_path(path: str, name: str) -> Any:
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None, path
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    spec.loader.exec_module(mod)
    return mod


def torch_models() -> Any:
    return load_by_path(os.path.join(ROOT, "tests", "fixtures", "torch_models.py"), "_e2e_torch_models")


def mnist_cnn() -> Any:
    return load_by_path(os.path.join(ROOT, "examples", "mnist_cnn.py"), "_e2e_mnist_cnn")


def read_spec(run_dir: str) -> Dict[str, Any]:
    with open(os.path.join(run_dir, "spec.json")) as f:
        return json.load(f)


def build_model(spec: Dict[str, Any]) -> torch.nn.Module:
    """The fp32 model in eval mode. MNIST: the CNN `make demo` trains (weights
    file); BERT: built from its seed, then the head saved by the driver."""
    if spec["model"] == "mnist":
        m = mnist_cnn().build()
    else:
        m = torch_models().BertClassifier(seed=spec["seed"])
    state = torch.load(spec["weights"], weights_only=True)
    missing, unexpected = m.load_state_dict(state, strict=spec["model"] == "mnist")
    if unexpected:
        raise RuntimeError(f"unexpected weights: {unexpected}")
    return m.eval()


def load_data(run_dir: str) -> Dict[str, np.ndarray]:
    with np.load(os.path.join(run_dir, "data.npz")) as d:
        return {k: d[k] for k in d.files}


class CountedEval:
    """eval_func(model) -> top-1 accuracy of model on (eval_x, eval_y), in
    batches; counts its calls (each is one full evaluation)."""

    def __init__(self, x: np.ndarray, y: np.ndarray, batch: int) -> None:
        self.x, self.y, self.batch = torch.from_numpy(x), y, batch
        self.calls = 0
        self.seconds = 0.0

    def __call__(self, model: Callable[[torch.Tensor], torch.Tensor]) -> float:
        self.calls += 1
        t0 = time.perf_counter()
        preds: List[np.ndarray] = []
        with torch.no_grad():
            for i in range(0, len(self.x), self.batch):
                preds.append(model(self.x[i:i + self.batch]).argmax(1).numpy())
        self.seconds += time.perf_counter() - t0
        return float((np.concatenate(preds) == self.y).mean())


def latency_pair(fp32: Callable[[torch.Tensor], torch.Tensor], int8: Callable[[torch.Tensor], torch.Tensor],
                 x: np.ndarray, runs: int) -> Tuple[float, float]:
    """Median seconds of one batch-1 forward of each model, after 2 warm-up
    calls each; the runs alternate fp32, int8, fp32, ... so that a change in
    the machine's load hits both alike."""
    xt = torch.from_numpy(x)
    ts: Tuple[List[float], List[float]] = ([], [])
    with torch.no_grad():
        for _ in range(2):
            fp32(xt)
            int8(xt)
        for _ in range(runs):
            for model, out in ((fp32, ts[0]), (int8, ts[1])):
                t0 = time.perf_counter()
                model(xt)
                out.append(time.perf_counter() - t0)
    return statistics.median(ts[0]), statistics.median(ts[1])


def emit(result: Dict[str, Any]) -> None:
    """The worker's answer: one JSON line on stdout, prefixed for the driver."""
    print("E2E_RESULT " + json.dumps(result), flush=True)
