"""lpot.experimental.Benchmark vs timing the framework directly.

Does the Benchmark harness (pinned worker processes, dataloader, runner)
measure what a hand-written loop measures? Model: the MNIST CNN of
examples/mnist_cnn.py (random weights; latency does not depend on them),
batch 1, 28x28. For ONNX Runtime and PyTorch fp32:
  direct   in this process: session/module with N threads, a timed loop
  lpot     Benchmark: num_of_instance x cores_per_instance workers
Figures: p50 latency (ms), throughput (samples/s; lpot aggregates over
instances), lpot/direct ratios, and the wall time of a b() call (process
start + model load + warmup + the timed loop). Medians of RUNS runs.

    python bench/bench_api.py            # appends a section to bench/RESULTS.md
"""
from __future__ import annotations

import datetime
import os
import statistics
import subprocess
import sys
import time
import warnings

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "examples"))

import lpot  # noqa: E402
from lpot.experimental import Benchmark, common  # noqa: E402

RUNS = 3
ITER = 300
WARMUP = 20


def direct_ort(path: str, threads: int, x: np.ndarray) -> list:
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    s = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
    lat = []
    for i in range(WARMUP + ITER):
        t0 = time.perf_counter()
        s.run(None, {"input": x[i % len(x)][None]})
        if i >= WARMUP:
            lat.append(time.perf_counter() - t0)
    return lat


def direct_torch(model, threads: int, x: np.ndarray) -> list:
    import torch

    old = torch.get_num_threads()
    torch.set_num_threads(threads)
    lat = []
    with torch.no_grad():
        for i in range(WARMUP + ITER):
            t0 = time.perf_counter()
            model(torch.from_numpy(x[i % len(x)][None])).numpy()
            if i >= WARMUP:
                lat.append(time.perf_counter() - t0)
    torch.set_num_threads(old)
    return lat


def lpot_bench(model, fw: str, cpi: int, n: int, x: np.ndarray) -> tuple:
    cfg = {"model": {"name": "cnn", "framework": fw},
           "evaluation": {"performance": {"warmup": WARMUP, "iteration": ITER,
                                          "configs": {"cores_per_instance": cpi, "num_of_instance": n}}}}
    b = Benchmark(cfg)
    b.model = common.Model(model)
    b.b_dataloader = common.DataLoader(list(zip(x, np.zeros(len(x), np.int64))), batch_size=1)
    t0 = time.perf_counter()
    agg = b("performance")["aggregate"]
    return agg["latency_p50"], agg["throughput"], time.perf_counter() - t0


def main() -> None:
    import torch

    import mnist_cnn

    torch.manual_seed(0)
    model = mnist_cnn.build().eval()
    path = os.path.join(ROOT, "build", "bench_api_cnn.onnx")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.onnx.export(model, (torch.zeros(1, 1, 28, 28),), path, input_names=["input"],
                          dynamic_axes={"input": {0: "N"}}, opset_version=17, dynamo=False)
    x = np.random.default_rng(0).standard_normal((64, 1, 28, 28)).astype(np.float32)
    cores = len(os.sched_getaffinity(0))
    rows = []
    plans = [(1, 1)] + ([(cores, 1), (1, cores)] if cores > 1 else [])
    for fw, m, direct in (("onnxrt_qlinearops", path, lambda t: direct_ort(path, t, x)),
                          ("pytorch", model, lambda t: direct_torch(model, t, x))):
        for cpi, n in plans:
            dl = [direct(cpi) for _ in range(RUNS)]
            d = statistics.median(float(np.median(v)) for v in dl)
            d_thr = n * statistics.median(len(v) / sum(v) for v in dl)   # n ideal independent copies
            res = [lpot_bench(m, fw, cpi, n, x) for _ in range(RUNS)]
            p50 = statistics.median(r[0] for r in res)
            thr = statistics.median(r[1] for r in res)
            wall = statistics.median(r[2] for r in res)
            rows.append((fw.split("_")[0], f"{n}x{cpi}", d * 1e3, p50 * 1e3, p50 / d, d_thr, thr,
                         thr / d_thr, wall))
    head = (f"| framework | instances x cores | direct p50 ms | lpot p50 ms | lpot/direct | "
            f"direct samples/s (x instances) | lpot samples/s | ratio | b() wall s |")
    lines = [head, "|" + "---|" * 9]
    for r in rows:
        lines.append(f"| {r[0]} | {r[1]} | {r[2]:.3f} | {r[3]:.3f} | {r[4]:.2f} | {r[5]:.0f} | "
                     f"{r[6]:.0f} | {r[7]:.2f} | {r[8]:.2f} |")
    table = "\n".join(lines)
    print(table)
    model_name = subprocess.run("lscpu | sed -n 's/^Model name: *//p'", shell=True, capture_output=True,
                                text=True).stdout.strip()
    feats = lpot.cpu_features()
    import onnxruntime

    section = (f"\n## bench_api.py: Benchmark harness vs direct framework timing — "
               f"{datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC\n\n"
               f"{model_name}, {cores} cores (affinity), lpot isa {feats.get('isa')}, oneDNN isa "
               f"{feats['onednn']['isa']}, "
               f"load average {os.getloadavg()[0]:.2f}; torch {torch.__version__}, onnxruntime "
               f"{onnxruntime.__version__}. MNIST CNN fp32 (examples/mnist_cnn.py), batch 1, "
               f"{WARMUP} warmup + {ITER} timed batches, medians of {RUNS} runs. 'direct' = this "
               f"process, a timed loop over the framework call with the same thread count; its "
               f"throughput is batches/sum(latencies) x instances (the ideal for independent copies; "
               f"lpot's is the same formula per instance, summed). Latency includes the NumPy->torch "
               f"conversion in both.\n\n{table}\n")
    with open(os.path.join(ROOT, "bench", "RESULTS.md"), "a", encoding="utf-8") as f:
        f.write(section)


if __name__ == "__main__":
    main()
