"""Calibration speed and memory: lpot's streaming observers vs ONNX Runtime's
calibrators and PyTorch's HistogramObserver, fed the same activations.

Run by hand:  python bench/bench_calibration.py [--batches 10] [--repeats 3]
              [--mem-batches 10,1000] [--ort-mem-batches 5,20] [--no-append]

Workloads
  bert    40 activations per batch: 20 of 128x768 and 20 of 128x3072 (fp32),
          as a BERT-base layer stack produces for one 128-token sequence.
  resnet  10 post-ReLU activations per batch of ResNet-50 stage shapes
          (batch 8: 64x56x56 ... 2048x7x7).

Time: per batch (median of --repeats runs over --batches batches) of the
statistics work only (update/collect + the final compute), the activations
being generated outside the timed region. Peers:
  ORT-hc      onnxruntime.quantization.calibrate.HistogramCollector fed the
              arrays directly (the statistics part of ORT's calibrators), at
              create_calibrator's defaults: Entropy 128 bins / 128 quantized
              bins; Percentile 2048 bins, 99.999, symmetric.
  ORT-path    create_calibrator(...).collect_data + compute_data on an ONNX
              model emitting the same 40 BERT activations; its inference time
              (same model, same inputs) is measured separately and subtracted.
  torch       torch.ao.quantization.HistogramObserver, one per tensor.
Memory: peak RSS of a fresh subprocess that streams N batches (lpot: 10 vs
1000 batches; ORT's path: small N only, its memory grows with N).
"""
from __future__ import annotations

import argparse
import contextlib
import datetime
import io
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import warnings

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)

import _common  # noqa: E402  (bench/_common.py)
from lpot import calib  # noqa: E402

N_SMALL, N_BIG = 20, 20
BERT_SHAPES = [(128, 768)] * N_SMALL + [(128, 3072)] * N_BIG
RESNET_SHAPES = [(8, 64, 56, 56), (8, 256, 56, 56), (8, 128, 28, 28), (8, 512, 28, 28),
                 (8, 256, 14, 14), (8, 1024, 14, 14), (8, 512, 7, 7), (8, 2048, 7, 7),
                 (8, 64, 112, 112), (8, 256, 56, 56)]


# ---- activations ---------------------------------------------------------------

def bert_inputs(b):
    return np.random.default_rng(1000 + b).standard_normal((128, 768)).astype(np.float32)


def bert_acts(x, b=0):
    """The 40 activations of the bench model (NumPy twin of bert_model)."""
    out = []
    for i in range(N_SMALL):
        out.append(x * np.float32(0.5 + 0.05 * i))
    for i in range(N_BIG):
        t = np.tile(x * np.float32(1.0 + 0.1 * i), (1, 4))
        out.append(np.maximum(t, np.float32(-0.2)))  # GELU-ish asymmetric tail
    return out


def resnet_acts(b):
    rng = np.random.default_rng(2000 + b)
    return [np.maximum(rng.standard_normal(s, dtype=np.float32) * (1 + 0.2 * i), 0)
            for i, s in enumerate(RESNET_SHAPES)]


def bert_model(path):
    from onnx import TensorProto, helper, numpy_helper, save

    nodes, outs, inits = [], [], []
    for i in range(N_SMALL):
        c = numpy_helper.from_array(np.array(0.5 + 0.05 * i, np.float32), f"c{i}")
        inits.append(c)
        nodes.append(helper.make_node("Mul", ["x", f"c{i}"], [f"s{i}"]))
        outs.append(helper.make_tensor_value_info(f"s{i}", TensorProto.FLOAT, [128, 768]))
    inits.append(numpy_helper.from_array(np.array([1, 4], np.int64), "reps"))
    inits.append(numpy_helper.from_array(np.array(-0.2, np.float32), "lo"))
    for i in range(N_BIG):
        inits.append(numpy_helper.from_array(np.array(1.0 + 0.1 * i, np.float32), f"d{i}"))
        nodes += [helper.make_node("Mul", ["x", f"d{i}"], [f"m{i}"]),
                  helper.make_node("Tile", [f"m{i}", "reps"], [f"t{i}"]),
                  helper.make_node("Max", [f"t{i}", "lo"], [f"b{i}"])]
        outs.append(helper.make_tensor_value_info(f"b{i}", TensorProto.FLOAT, [128, 3072]))
    g = helper.make_graph(nodes, "bench", [helper.make_tensor_value_info(
        "x", TensorProto.FLOAT, [128, 768])], outs, inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    m.ir_version = 8
    save(m, path)


# ---- the contenders ----------------------------------------------------------------

LPOT_ALGOS = {"kl": dict(algorithm="kl", dtype="int8", scheme="sym"),
              "percentile": dict(algorithm="percentile", dtype="int8", scheme="sym"),
              "minmax": dict(algorithm="minmax")}


def run_lpot(algo, gen, nbatch, ntensors, threads=1):
    """threads=1: one observer after the other (as ORT and torch run);
    threads>1: lpot.calib.update_all spreads the batch's tensors over cores."""
    obs = [calib.Observer(**LPOT_ALGOS[algo]) for _ in range(ntensors)]
    t = 0.0
    for b in range(nbatch):
        acts = gen(b)
        t0 = time.perf_counter()
        if threads == 1:
            for o, a in zip(obs, acts):
                o.update(a)
        else:
            calib.update_all(zip(obs, acts), threads=threads)
        t += time.perf_counter() - t0
    t0 = time.perf_counter()
    res = [o.compute() for o in obs]
    t += time.perf_counter() - t0
    return t, res


def run_ort_hc(method, gen, nbatch, ntensors):
    from onnxruntime.quantization.calibrate import HistogramCollector

    kw = (dict(num_bins=128, num_quantized_bins=128, percentile=None, symmetric=False)
          if method == "entropy" else
          dict(num_bins=2048, num_quantized_bins=None, percentile=99.999, symmetric=True))
    hc = HistogramCollector(method=method, scenario=None, **kw)
    t = 0.0
    with contextlib.redirect_stdout(io.StringIO()):
        for b in range(nbatch):
            acts = gen(b)
            d = {f"t{i}": a for i, a in enumerate(acts)}
            t0 = time.perf_counter()
            hc.collect(d)
            t += time.perf_counter() - t0
        t0 = time.perf_counter()
        res = hc.compute_collection_result()
        t += time.perf_counter() - t0
    return t, res


def run_ort_minmax(gen, nbatch, ntensors):
    """ORT's MinMax calibrator reduces each batch with ReduceMin/ReduceMax in
    the graph and merges; its NumPy merge step on the same arrays."""
    t = 0.0
    rng_ = {}
    for b in range(nbatch):
        acts = gen(b)
        t0 = time.perf_counter()
        for i, a in enumerate(acts):
            lo, hi = np.min(a), np.max(a)
            o = rng_.get(i)
            rng_[i] = (lo, hi) if o is None else (min(o[0], lo), max(o[1], hi))
        t += time.perf_counter() - t0
    return t, rng_


def run_torch(gen, nbatch, ntensors):
    import torch
    from torch.ao.quantization import HistogramObserver

    obs = [HistogramObserver() for _ in range(ntensors)]
    t = 0.0
    for b in range(nbatch):
        acts = [torch.from_numpy(a) for a in gen(b)]
        t0 = time.perf_counter()
        for o, a in zip(obs, acts):
            o(a)
        t += time.perf_counter() - t0
    t0 = time.perf_counter()
    res = [o.calculate_qparams() for o in obs]
    t += time.perf_counter() - t0
    return t, res


class Reader:
    def __init__(self, n):
        self.i, self.n = 0, n

    def get_next(self):
        if self.i >= self.n:
            return None
        self.i += 1
        return {"x": bert_inputs(self.i - 1)}


def run_ort_path(method, nbatch, tmp):
    import onnxruntime as ort
    from onnxruntime.quantization.calibrate import CalibrationMethod, create_calibrator

    model = os.path.join(tmp, "bert_bench.onnx")
    if not os.path.exists(model):
        bert_model(model)
    meth = {"entropy": CalibrationMethod.Entropy, "percentile": CalibrationMethod.Percentile,
            "minmax": CalibrationMethod.MinMax}[method]
    with contextlib.redirect_stdout(io.StringIO()):
        t0 = time.perf_counter()
        c = create_calibrator(model, ["Mul", "Max"], os.path.join(tmp, f"aug_{method}.onnx"),
                              calibrate_method=meth)
        c.collect_data(Reader(nbatch))
        c.compute_data()
        total = time.perf_counter() - t0
    sess = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
    t0 = time.perf_counter()
    for b in range(nbatch):
        sess.run(None, {"x": bert_inputs(b)})
    infer = time.perf_counter() - t0
    return total, infer


# ---- memory (subprocess) ---------------------------------------------------------------

def vm_hwm_kib():
    """Peak RSS of this process image (VmHWM; unlike ru_maxrss it is not
    inherited from the parent across fork+exec)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def mem_child(kind, algo, nbatch):
    """Runs in a fresh interpreter: stream nbatch BERT batches, print JSON."""
    if kind == "ort":
        import onnxruntime  # noqa: F401  (count the import in the base)
        from onnxruntime.quantization import calibrate  # noqa: F401
    base = vm_hwm_kib()
    t0 = time.perf_counter()
    if kind == "lpot":
        obs = [calib.Observer(**LPOT_ALGOS[algo]) for _ in BERT_SHAPES]
        x = bert_inputs(0)
        acts = bert_acts(x)
        for b in range(nbatch):
            s = np.float32(1.0 + 0.001 * b)  # drifting range, no new allocation
            for o, a in zip(obs, acts):
                o.update(a if b == 0 else a * s if b % 97 == 0 else a)
        for o in obs:
            o.compute()
    else:
        with tempfile.TemporaryDirectory() as tmp:
            run_ort_path(algo, nbatch, tmp)
    peak = vm_hwm_kib()
    print(json.dumps({"peak_kib": peak, "base_kib": base, "s": time.perf_counter() - t0}))


def mem_run(kind, algo, nbatch):
    code = (f"import sys; sys.path.insert(0, {ROOT!r}); sys.path.insert(0, {HERE!r}); "
            f"import bench_calibration as b; b.mem_child({kind!r}, {algo!r}, {nbatch})")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    if p.returncode != 0:
        return {"error": p.stderr.strip().splitlines()[-1] if p.stderr else "failed"}
    return json.loads(p.stdout.strip().splitlines()[-1])


# ---- main ------------------------------------------------------------------------------

def machine():
    m = _common.machine()
    return m["model"], m["cores"], m["isa"], m["onednn_isa"], m["quant_isa"]


def med(fn, repeats):
    ts = []
    res = None
    for _ in range(repeats):
        t, res = fn()
        ts.append(t)
    return statistics.median(ts), res


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--batches", type=int, default=10)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--mem-batches", default="10,1000")
    ap.add_argument("--ort-mem-batches", default="5,20")
    ap.add_argument("--no-append", action="store_true")
    args = ap.parse_args()
    warnings.simplefilter("ignore")
    nb, rep = args.batches, args.repeats
    rows = []  # (workload, what, lpot s/batch, peer, peer s/batch)

    wl = {"bert": (lambda b: bert_acts(bert_inputs(b)), len(BERT_SHAPES)),
          "resnet": (resnet_acts, len(RESNET_SHAPES))}
    for name, (gen, nt) in wl.items():
        elems = sum(a.size for a in gen(0))
        lp = {a: med(lambda: run_lpot(a, gen, nb, nt), rep)[0] / nb for a in LPOT_ALGOS}
        ncpu = len(os.sched_getaffinity(0))
        lp_par = med(lambda: run_lpot("kl", gen, nb, nt, threads=ncpu), rep)[0] / nb
        ort_e = med(lambda: run_ort_hc("entropy", gen, nb, nt), rep)[0] / nb
        ort_p = med(lambda: run_ort_hc("percentile", gen, nb, nt), rep)[0] / nb
        ort_m = med(lambda: run_ort_minmax(gen, nb, nt), rep)[0] / nb
        th = med(lambda: run_torch(gen, nb, nt), rep)[0] / nb
        rows += [(name, elems, "kl", lp["kl"], "ORT-hc entropy", ort_e),
                 (name, elems, f"kl, update_all x{ncpu} threads", lp_par, "ORT-hc entropy", ort_e),
                 (name, elems, "kl", lp["kl"], "torch HistogramObserver", th),
                 (name, elems, "percentile", lp["percentile"], "ORT-hc percentile", ort_p),
                 (name, elems, "minmax", lp["minmax"], "NumPy min/max (ORT MinMax merge)", ort_m)]
        print(f"{name}: done", file=sys.stderr)

    # ORT's real create_calibrator path on the BERT model (inference subtracted)
    path_rows = []
    with tempfile.TemporaryDirectory() as tmp:
        gen = wl["bert"][0]
        for meth, la in (("entropy", "kl"), ("percentile", "percentile"), ("minmax", "minmax")):
            runs = [run_ort_path(meth, nb, tmp) for _ in range(rep)]
            total = statistics.median(r[0] for r in runs) / nb
            infer = statistics.median(r[1] for r in runs) / nb
            path_rows.append((meth, la, total, infer, [r for r in rows if r[0] == "bert" and r[2] == la][0][3]))

    mem = {}
    for n in [int(v) for v in args.mem_batches.split(",")]:
        for a in ("kl", "minmax"):
            mem[("lpot", a, n)] = mem_run("lpot", a, n)
    for n in [int(v) for v in args.ort_mem_batches.split(",")]:
        mem[("ort", "entropy", n)] = mem_run("ort", "entropy", n)

    model, cores, isa, dnnl_isa, qisa = machine()
    lines = [f"## Calibration (bench/bench_calibration.py) — {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC",
             "",
             f"Machine: {model}, {cores} cores; lpot isa {isa}, quant kernels {qisa}; oneDNN isa {dnnl_isa}; "
             f"load average at the end {os.getloadavg()[0]:.1f}.",
             f"Time per batch: median of {rep} runs x {nb} batches, statistics only (activations generated outside the timed region).",
             "",
             "| workload | elems/batch | lpot algo | lpot ms/batch | peer | peer ms/batch | peer / lpot |",
             "|---|---:|---|---:|---|---:|---:|"]
    for w, el, a, lt, peer, pt in rows:
        lines.append(f"| {w} | {el/1e6:.1f} M | {a} | {lt*1e3:.1f} | {peer} | {pt*1e3:.1f} | {pt/lt:.1f}x |")
    lines += ["", "ORT's create_calibrator path on a model emitting the same 40 BERT activations "
              "(collect_data + compute_data; its own inference time measured separately):", "",
              "| ORT method | ORT total ms/batch | of which inference | ORT calibration ms/batch | lpot ms/batch | ORT calib / lpot | ORT total / lpot |",
              "|---|---:|---:|---:|---:|---:|---:|"]
    for meth, la, total, infer, lt in path_rows:
        cal = max(total - infer, 0.0)
        lines.append(f"| {meth} | {total*1e3:.1f} | {infer*1e3:.1f} | {cal*1e3:.1f} | {lt*1e3:.1f} ({la}) | {cal/lt:.1f}x | {total/lt:.1f}x |")
    lines += ["", "Peak RSS (fresh subprocess, BERT workload, MiB):", "",
              "| who | algo | batches | peak RSS | RSS before work | wall s |", "|---|---|---:|---:|---:|---:|"]
    for (who, a, n), r in mem.items():
        if "error" in r:
            lines.append(f"| {who} | {a} | {n} | failed: {r['error']} | | |")
        else:
            lines.append(f"| {who} | {a} | {n} | {r['peak_kib']/1024:.0f} | {r['base_kib']/1024:.0f} | {r['s']:.1f} |")
    ln = [int(v) for v in args.mem_batches.split(",")]
    if len(ln) == 2:
        for a in ("kl", "minmax"):
            r0, r1 = mem[("lpot", a, ln[0])], mem[("lpot", a, ln[1])]
            if "error" not in r0 and "error" not in r1:
                lines.append(f"\nlpot {a}: peak RSS {ln[1]} vs {ln[0]} batches = "
                             f"{r1['peak_kib']/r0['peak_kib']:.3f}x (target within 5%).")
    on = [int(v) for v in args.ort_mem_batches.split(",")]
    if len(on) == 2:
        r0, r1 = mem[("ort", "entropy", on[0])], mem[("ort", "entropy", on[1])]
        if "error" not in r0 and "error" not in r1:
            per = (r1["peak_kib"] - r0["peak_kib"]) / (on[1] - on[0]) / 1024
            lines.append(f"ORT entropy path: +{per:.0f} MiB per batch kept in memory "
                         f"(1,000 batches would need ~{per*1000/1024:.0f} GiB; not run).")
    text = "\n".join(lines) + "\n"
    print(text)
    if not args.no_append:
        _common.append_results(text)


if __name__ == "__main__":
    main()
