"""Benchmark lpot's int8 kernels against fp32 and the int8 peers.

Shapes: BERT-base GEMMs (M = 128 and 1; 768x768, 768x3072, 3072x768) and
ResNet-50 convolutions (a 3x3 and a 1x1 per stage) at batch 1 and 32.
Peers, same shapes and data, same run, each in its own process (thread
pools of different runtimes never compete): torch fp32 (F.linear / F.conv2d, oneDNN/MKL
inside), torch.ao quantized Linear / Conv2d (x86 backend, quint8 in/out),
ONNX Runtime one-op QLinearMatMul / QLinearConv models (u8 in/out).
lpot runs u8 in / u8 out with per-channel 7-bit weights (|w| <= 64: no
int16 saturation on CPUs without VNNI, see lpot/kernels.py), NHWC for convs;
the torch and ORT peers get their preferred layouts (channels_last, NCHW).

Figures: median over 3 rounds (each peer's process run once per round, the
peers taking turns) of the median time of 3 repetitions, GOPS = 2*MACs/time, and the fraction
of this CPU's int8 peak = cores x measured clock x int8 ops/cycle/core.

Run by hand: python bench/bench_kernels.py   (appends to bench/RESULTS.md)
"""
from __future__ import annotations

import datetime
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

import _common  # noqa: E402  (bench/_common.py)
import lpot  # noqa: E402

THREADS = os.cpu_count() or 1
REPS = 3
WARMUP = 5
ROUNDS = 5  # this shared 2-core box swings 2x between runs: more rounds, a steadier median
MIN_REP_S = 0.05

# int8 ops per cycle per core for the ISA oneDNN uses (2 * MACs/cycle).
# avx2: vpmaddubsw (32 u8*s8 MACs per 256-bit op) must be followed by a
# vpmaddwd to widen to int32; both use the vector multiply pipes (2 per core
# on Zen 3 / Skylake), so 2 pipes x 32 MACs / 2 instructions = 32 MACs/cycle.
OPS_PER_CYCLE = {"avx2": 64, "avx2_vnni": 128, "avx512_core": 128, "avx512_core_vnni": 256,
                 "avx512_core_bf16": 256, "avx512_core_amx": 2048}


def measured_clock_ghz() -> tuple[float, str]:
    """Clock from a chain of dependent adds (1 cycle each), compiled on the spot."""
    src = r"""
#include <stdio.h>
#include <time.h>
int main(void) {
    unsigned long x = 0, n = 10000000UL; /* 100M adds: ~40 ms, short enough to fit between preemptions */
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    for (unsigned long i = 0; i < n; i++)
        __asm__ volatile("add $1,%0\n\tadd $1,%0\n\tadd $1,%0\n\tadd $1,%0\n\tadd $1,%0\n\t"
                         "add $1,%0\n\tadd $1,%0\n\tadd $1,%0\n\tadd $1,%0\n\tadd $1,%0" : "+r"(x));
    clock_gettime(CLOCK_MONOTONIC, &b);
    double s = (b.tv_sec - a.tv_sec) + 1e-9 * (b.tv_nsec - a.tv_nsec);
    printf("%f\n", n * 10.0 / s / 1e9 + 0 * (double)x);
    return 0;
}
"""
    try:
        with tempfile.TemporaryDirectory() as d:
            c, exe = os.path.join(d, "clk.c"), os.path.join(d, "clk")
            with open(c, "w") as f:
                f.write(src)
            subprocess.run(["gcc", "-O1", c, "-o", exe], check=True, capture_output=True)
            runs = [float(subprocess.run([exe], check=True, capture_output=True, text=True).stdout)
                    for _ in range(15)]
            return max(runs), "dependent-add chain, max of 15 runs of 100M adds"
    except (OSError, subprocess.CalledProcessError, ValueError):
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("cpu MHz"):
                    return float(line.split(":")[1]) / 1000.0, "/proc/cpuinfo"
    return float("nan"), "unknown"


def bench_all(fns: dict) -> dict:
    """Median seconds per call of each function, the functions interleaved in
    every repetition so that load from elsewhere hits them alike."""
    inner = {}
    for name, fn in fns.items():
        for _ in range(WARMUP):  # JIT, packing, and lpot's per-primitive thread choice settle
            fn()
        t0 = time.perf_counter()
        fn()
        inner[name] = max(1, int(MIN_REP_S / max(time.perf_counter() - t0, 1e-7)))
    times = {name: [] for name in fns}
    for _ in range(REPS):
        for name, fn in fns.items():
            t0 = time.perf_counter()
            for _ in range(inner[name]):
                fn()
            times[name].append((time.perf_counter() - t0) / inner[name])
    return {name: statistics.median(v) for name, v in times.items()}


# ---- peers ----------------------------------------------------------------------

def torch_mod():
    import torch
    torch.set_num_threads(THREADS)
    torch.backends.quantized.engine = "x86"
    return torch


def ort_session(model):
    import onnxruntime as ort
    so = ort.SessionOptions()
    so.intra_op_num_threads = THREADS
    so.inter_op_num_threads = 1
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])


def ort_one_op(op, w, ws, x_s, x_z, y_s, y_z, xshape, **attrs):
    """ONNX Runtime session of one QLinearMatMul / QLinearConv node, u8 in/out,
    s8 per-channel weights as initializers."""
    from onnx import TensorProto, helper, numpy_helper
    inits = [numpy_helper.from_array(np.array(x_s, np.float32), "xs"),
             numpy_helper.from_array(np.array(x_z, np.uint8), "xz"),
             numpy_helper.from_array(w, "w"),
             numpy_helper.from_array(ws.astype(np.float32), "ws"),
             numpy_helper.from_array(np.zeros(ws.shape, np.int8), "wz"),
             numpy_helper.from_array(np.array(y_s, np.float32), "ys"),
             numpy_helper.from_array(np.array(y_z, np.uint8), "yz")]
    node = helper.make_node(op, ["x", "xs", "xz", "w", "ws", "wz", "ys", "yz"], ["y"], **attrs)
    g = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", TensorProto.UINT8, list(xshape))],
                          [helper.make_tensor_value_info("y", TensorProto.UINT8, None)], inits)
    return ort_session(helper.make_model(g, opset_imports=[helper.make_opsetid("", 19)]))


def torch_ao_module(torch, mod, wf, ws, bf, y_s, y_z):
    """A torch.ao quantized module with per-channel qint8 weights (the same ints as lpot's)."""
    qw = torch.quantize_per_channel(wf, torch.from_numpy(ws.astype(np.float64)),
                                    torch.zeros(len(ws), dtype=torch.long), 0, torch.qint8)
    mod.set_weight_bias(qw, bf)
    mod.scale, mod.zero_point = y_s, y_z
    return mod


# ---- cases ----------------------------------------------------------------------

GEMMS = [(m, k, n) for m in (128, 1) for (k, n) in [(768, 768), (768, 3072), (3072, 768)]]
STAGES = [(64, 64, 256, 56), (128, 128, 512, 28), (256, 256, 1024, 14), (512, 512, 2048, 7)]
CONVS = [(batch, c, oc, k, hw) for batch in (1, 32) for (c3, oc3, oc1, hw) in STAGES
         for (c, oc, k) in [(c3, oc3, 3), (oc3, oc1, 1)]]
X_S, X_Z, Y_S, Y_Z = 0.02, 64, 0.1, 128


def gemm_data(i, m, k, n):
    """Same data in every peer's process: 7-bit weights (|w| <= 64), per-channel
    scales, 7-bit activations (the reduce_range convention of the x86 peers)."""
    rng = np.random.default_rng(1000 + i)
    w = rng.integers(-64, 65, (n, k), dtype=np.int8)
    ws = rng.uniform(0.001, 0.002, n).astype(np.float32)
    bias = rng.standard_normal(n).astype(np.float32)
    x = rng.integers(0, 128, (m, k), dtype=np.uint8)
    return w, ws, bias, x


def conv_data(i, batch, c, oc, k, hw):
    rng = np.random.default_rng(2000 + i)
    w = rng.integers(-64, 65, (oc, c, k, k), dtype=np.int8)
    ws = rng.uniform(0.001, 0.002, oc).astype(np.float32)
    bias = rng.standard_normal(oc).astype(np.float32)
    x = rng.integers(0, 128, (batch, c, hw, hw), dtype=np.uint8)
    return w, ws, bias, x


def gemm_fns(peer, i, m, k, n, info):
    w, ws, bias, x = gemm_data(i, m, k, n)
    if peer == "lpot":
        import lpot.kernels as K
        p = K.PackedLinear(w, ws, bias, m_hint=m)
        w8 = np.random.default_rng(i).integers(-128, 128, (n, k), dtype=np.int8)
        p8 = K.PackedLinear(w8, ws, bias, m_hint=m)
        x8 = np.random.default_rng(i).integers(0, 256, (m, k), dtype=np.uint8)
        run = lambda: K.qlinear(x, p, X_S, X_Z, out_dtype="uint8", out_scale=Y_S, out_zp=Y_Z)  # noqa: E731
        run8 = lambda: K.qlinear(x8, p8, X_S, X_Z, out_dtype="uint8", out_scale=Y_S, out_zp=Y_Z)  # noqa: E731
        run()
        info["impl"] = K.last_impl()["linear"]
        run8()
        info["impl8"] = K.last_impl()["linear"]
        return {"lpot": run, "lpot_8bit": run8}
    if peer == "ort":
        sess = ort_one_op("QLinearMatMul", np.ascontiguousarray(w.T), ws, X_S, X_Z, Y_S, Y_Z, x.shape)
        return {"ort": lambda: sess.run(None, {"x": x})}
    torch = torch_mod()
    xf = torch.from_numpy((x.astype(np.float32) - X_Z) * X_S)
    wf = torch.from_numpy(w.astype(np.float32) * ws[:, None])
    bf = torch.from_numpy(bias)
    if peer == "fp32":
        return {"fp32": lambda: torch.nn.functional.linear(xf, wf, bf)}
    ql = torch_ao_module(torch, torch.ao.nn.quantized.Linear(k, n), wf, ws, bf, Y_S, Y_Z)
    qx = torch.quantize_per_tensor(xf, X_S, X_Z, torch.quint8)
    return {"torch_ao": lambda: ql(qx)}


def conv_fns(peer, i, batch, c, oc, k, hw, info):
    w, ws, bias, x = conv_data(i, batch, c, oc, k, hw)
    pad = k // 2
    if peer == "lpot":
        import lpot.kernels as K
        x_nhwc = np.ascontiguousarray(x.transpose(0, 2, 3, 1))
        p = K.PackedConv2d(w, ws, bias, stride=1, padding=pad, input_hw=(hw, hw))
        run = lambda: K.qconv2d(x_nhwc, p, X_S, X_Z, out_dtype="uint8", out_scale=Y_S,  # noqa: E731
                                out_zp=Y_Z, layout="NHWC")
        run()
        info["impl"] = K.last_impl()["conv2d"]
        # the path lpot's per-shape choice did not take: oneDNN where it runs its own GEMM, else its own GEMM
        other = "onednn" if info["impl"] == "lpot:conv_gemm_avx2" else "own"
        run_other = lambda: K.qconv2d(x_nhwc, p, X_S, X_Z, out_dtype="uint8", out_scale=Y_S,  # noqa: E731
                                      out_zp=Y_Z, layout="NHWC", impl=other)
        run_other()
        info["impl_other"] = K.last_impl()["conv2d"]
        return {"lpot": run, "lpot_other": run_other}
    if peer == "ort":
        sess = ort_one_op("QLinearConv", w, ws, X_S, X_Z, Y_S, Y_Z, x.shape, strides=[1, 1], pads=[pad] * 4)
        return {"ort": lambda: sess.run(None, {"x": x})}
    torch = torch_mod()
    xf = torch.from_numpy((x.astype(np.float32) - X_Z) * X_S).contiguous(memory_format=torch.channels_last)
    wf = torch.from_numpy(w.astype(np.float32) * ws[:, None, None, None])
    bf = torch.from_numpy(bias)
    if peer == "fp32":
        return {"fp32": lambda: torch.nn.functional.conv2d(xf, wf, bf, 1, pad)}
    qc = torch_ao_module(torch, torch.ao.nn.quantized.Conv2d(c, oc, k, padding=pad), wf, ws, bf, Y_S, Y_Z)
    qx = torch.quantize_per_tensor(xf, X_S, X_Z, torch.quint8)
    return {"torch_ao": lambda: qc(qx)}


def gemv_decision():
    """Batch-1 cost: lpot's own small-M kernel vs oneDNN at M=1 (7-bit weights)."""
    import lpot.kernels as K
    fns = {}
    rng = np.random.default_rng(7)
    for (k, n) in [(16, 16), (768, 768), (768, 3072)]:
        x = rng.integers(0, 128, (1, k), dtype=np.uint8)
        p = K.PackedLinear(rng.integers(-64, 65, (n, k), dtype=np.int8), np.float32(0.001), m_hint=1)
        for impl in ("auto", "onednn"):
            fns["%dx%d:%s" % (k, n, impl)] = (lambda x=x, p=p, impl=impl: K.qlinear(
                x, p, 0.02, 64, out_dtype="uint8", out_scale=0.1, out_zp=128, impl=impl))
    return bench_all(fns)


def run_peer(peer):
    """One peer, every shape, in this process; JSON on stdout."""
    out = {"gemm": [], "conv": []}
    for i, (m, k, n) in enumerate(GEMMS):
        info = {}
        out["gemm"].append({"t": bench_all(gemm_fns(peer, i, m, k, n, info)), "info": info})
    for i, case in enumerate(CONVS):
        info = {}
        out["conv"].append({"t": bench_all(conv_fns(peer, i, *case, info)), "info": info})
    if peer == "lpot":
        out["gemv"] = gemv_decision()
    print(json.dumps(out))


PEERS = ("lpot", "fp32", "torch_ao", "ort")


def combine_rounds(rs):
    """Median over the rounds of each figure (each already a median of REPS)."""
    out = rs[0]
    for kind in ("gemm", "conv"):
        for i, row in enumerate(out[kind]):
            row["t"] = {name: statistics.median(r[kind][i]["t"][name] for r in rs) for name in row["t"]}
    if "gemv" in out:
        out["gemv"] = {name: statistics.median(r["gemv"][name] for r in rs) for name in out["gemv"]}
    return out


def main() -> None:
    t_start = time.perf_counter()
    ghz, clk_src = measured_clock_ghz()
    isa = lpot.cpu_features()["onednn"]["isa"]
    cores = THREADS
    opc = OPS_PER_CYCLE.get(isa, float("nan"))
    peak = cores * ghz * opc  # GOPS
    load0 = os.getloadavg()
    # Each peer in its own process, one after the other: thread pools of
    # different runtimes (oneDNN's OpenMP, torch's OpenMP, ORT's spinning
    # pool) never compete for the 2 cores.
    rounds = {peer: [] for peer in PEERS}
    for _ in range(ROUNDS):
        for peer in PEERS:
            cp = subprocess.run([sys.executable, "-W", "ignore", os.path.abspath(__file__), "--peer", peer],
                                capture_output=True, text=True, check=True)
            rounds[peer].append(json.loads(cp.stdout.strip().splitlines()[-1]))
    r = {peer: combine_rounds(rs) for peer, rs in rounds.items()}
    lines = []

    def emit(s=""):
        print(s)
        lines.append(s)

    model = _common.cpu_model()
    feats = lpot.cpu_features()
    emit("## bench_kernels: int8 linear / conv (%s)" % datetime.datetime.now(datetime.timezone.utc)
         .strftime("%Y-%m-%d %H:%M UTC"))
    emit()
    emit("- CPU: %s, %d cores; lpot isa: %s; oneDNN %s isa: %s" % (model, cores, feats["isa"],
                                                                 feats["onednn"]["version"], isa))
    emit("- clock %.2f GHz (%s); int8 peak = cores x clock x ops/cycle = %d x %.2f x %s = %.0f GOPS"
         % (ghz, clk_src, cores, ghz, opc, peak))
    emit("  (%s: 2 vector-multiply pipes x 32 u8*s8 MACs per 256-bit vpmaddubsw, each followed by a "
         "vpmaddwd widening step -> 32 MACs = 64 ops per cycle per core)" % isa)
    emit("- each peer in its own process, one after another, %d threads each, %d rounds of "
         "(lpot, fp32, torch.ao, ORT); figure = median over the rounds of the median of %d "
         "repetitions; GOPS = 2*MACs/time" % (THREADS, ROUNDS, REPS))
    emit("- load average at the start: %.2f %.2f %.2f, at the end: %.2f %.2f %.2f (this 2-core "
         "machine is shared with other jobs: figures are noisy)" % (load0 + os.getloadavg()))
    emit("- lpot: u8 in/out, per-channel 7-bit weights, NHWC convs; peers: torch fp32 "
         "(F.linear/F.conv2d, channels_last), torch.ao x86 quantized Linear/Conv2d (quint8, "
         "channels_last), ORT QLinearMatMul/QLinearConv (u8, NCHW); 'lpot 8-bit w' = full-range "
         "weights and activations = the exact split path on a CPU without VNNI; 'other path' = the "
         "conv path lpot's per-shape choice did not take (impl='onednn' or impl='own'), measured "
         "in the same process: the record behind the choice")
    emit()
    emit("| shape | lpot impl | lpot ms | lpot GOPS | % peak | fp32 ms | torch.ao ms | ORT ms | "
         "int8/fp32 | lpot vs best int8 peer | GEMM: lpot 8-bit w ms (impl); conv: lpot's other path ms (impl) |")
    emit("|---|---|---|---|---|---|---|---|---|---|---|")
    rows = [("GEMM M=%d %dx%d" % c, 2.0 * c[0] * c[1] * c[2], "gemm", i) for i, c in enumerate(GEMMS)]
    rows += [("conv N=%d %dx%d %d->%d %dx%d" % (b, k, k, c, oc, hw, hw), 2.0 * b * hw * hw * oc * c * k * k,
              "conv", i) for i, (b, c, oc, k, hw) in enumerate(CONVS)]
    for name, ops, kind, i in rows:
        t = {p: r[p][kind][i]["t"][p] for p in PEERS}
        info = r["lpot"][kind][i]["info"]
        best = min(t["torch_ao"], t["ort"])
        extra = "-"
        if kind == "gemm":
            extra = "%.3f (%s)" % (r["lpot"][kind][i]["t"]["lpot_8bit"] * 1e3, info["impl8"])
        else:
            extra = "%.3f (%s)" % (r["lpot"][kind][i]["t"]["lpot_other"] * 1e3, info["impl_other"])
        emit("| %s | %s | %.3f | %.1f | %.0f%% | %.3f | %.3f | %.3f | %.2fx | %.2fx | %s |"
             % (name, info["impl"], t["lpot"] * 1e3, ops / t["lpot"] / 1e9,
                100 * ops / t["lpot"] / 1e9 / peak, t["fp32"] * 1e3, t["torch_ao"] * 1e3,
                t["ort"] * 1e3, t["fp32"] / t["lpot"], best / t["lpot"], extra))
    ov = r["lpot"]["gemv"]
    emit()
    emit("Batch-1 (own small-M kernel decision), qlinear M=1 u8 out, per call: lpot's AVX2 kernel "
         "(impl='auto') vs oneDNN (impl='onednn'); 16x16 is pure per-call overhead:")
    for kn in ("16x16", "768x768", "768x3072"):
        own, dn = ov[kn + ":auto"], ov[kn + ":onednn"]
        emit("- %s: own %.1f us, oneDNN %.1f us -> %.2fx" % (kn, own * 1e6, dn * 1e6, dn / own))
    emit()
    emit("bench wall time: %.0f s" % (time.perf_counter() - t_start))
    emit()
    _common.append_results("\n".join(lines))


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--peer":
        run_peer(sys.argv[2])
    else:
        main()
