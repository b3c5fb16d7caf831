"""Run a model on a batch, per framework (used by lpot.experimental.Benchmark).

make_runner(model, framework, threads) -> run(inputs) -> outputs. An adaptor
class may provide its own `make_runner(model, threads)` staticmethod or
classmethod; otherwise PyTorch modules and ONNX models are run here.
Frameworks are imported lazily, inside the functions.
"""
from __future__ import annotations

from typing import Any, Callable, Optional, Tuple

from lpot.model.base import QuantizedModel


def split_batch(batch: Any) -> Tuple[Any, Any]:
    """(inputs, label) of a batch: a tuple/list is (inputs..., label); an
    array or a dict is all inputs (no label)."""
    if isinstance(batch, (tuple, list)):
        if len(batch) == 1:
            return batch[0], None
        inputs = batch[0] if len(batch) == 2 else tuple(batch[:-1])
        return inputs, batch[-1]
    return batch, None


def make_runner(model: Any, framework: str, threads: Optional[int] = None) -> Callable[[Any], Any]:
    if isinstance(model, QuantizedModel):
        model = model.model
    try:
        from lpot.adaptor import adaptor_class

        cls = adaptor_class(framework)
    except Exception:  # noqa: BLE001 - no adaptor: the built-in runners below
        cls = None
    custom = getattr(cls, "make_runner", None) if cls is not None else None
    if callable(custom):
        return custom(model, threads)
    if framework.startswith("pytorch"):
        return _torch_runner(model, threads)
    if framework.startswith("onnxrt"):
        return _ort_runner(model, threads)
    from lpot import ModelError

    raise ModelError(f"no runner for framework '{framework}' in this lpot build")


def _torch_runner(model: Any, threads: Optional[int]) -> Callable[[Any], Any]:
    import numpy as np
    import torch

    if threads:
        torch.set_num_threads(int(threads))
    if isinstance(model, str):
        model = torch.jit.load(model)
    model.eval()

    def conv(x: Any) -> Any:
        if isinstance(x, np.ndarray):
            return torch.from_numpy(np.ascontiguousarray(x))
        if isinstance(x, (tuple, list)):
            return type(x)(conv(i) for i in x)
        if isinstance(x, dict):
            return {k: conv(v) for k, v in x.items()}
        return x

    def run(inputs: Any) -> Any:
        with torch.no_grad():
            x = conv(inputs)
            if isinstance(x, dict):
                out = model(**x)
            elif isinstance(x, tuple):
                out = model(*x)
            else:
                out = model(x)
        if isinstance(out, torch.Tensor):
            return out.numpy()
        return out

    return run


def _ort_runner(model: Any, threads: Optional[int]) -> Callable[[Any], Any]:
    import numpy as np
    import onnxruntime as ort

    so = ort.SessionOptions()
    if threads:
        so.intra_op_num_threads = int(threads)
        so.inter_op_num_threads = 1
    src = model if isinstance(model, str) else model.SerializeToString()
    sess = ort.InferenceSession(src, so, providers=["CPUExecutionProvider"])
    names = [i.name for i in sess.get_inputs()]

    def run(inputs: Any) -> Any:
        if isinstance(inputs, dict):
            feed = {k: np.asarray(v) for k, v in inputs.items()}
        elif isinstance(inputs, (tuple, list)):
            feed = {n: np.asarray(v) for n, v in zip(names, inputs)}
        else:
            feed = {names[0]: np.asarray(inputs)}
        out = sess.run(None, feed)
        return out[0] if len(out) == 1 else out

    return run


def median_latency(call: Callable[[], Any], runs: int = 10, budget_s: float = 1.0,
                   min_runs: int = 3) -> float:
    """Median seconds of call() after one warm-up call: `runs` timed calls,
    or fewer (never under min_runs) once budget_s is spent, so that a model
    taking seconds per call (BERT-base at batch 8) is not timed for a minute
    each time the tuner compares latencies."""
    import statistics
    import time
    call()
    times: list = []
    start = time.perf_counter()
    while len(times) < runs:
        t = time.perf_counter()
        call()
        times.append(time.perf_counter() - t)
        if len(times) >= min_runs and time.perf_counter() - start > budget_s:
            break
    return statistics.median(times)
