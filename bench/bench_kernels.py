"""Benchmark lpot's int8 kernels against fp32 and the int8 peers.

Shapes: BERT-base GEMMs (M = 128 and 1; 768x768, 768x3072, 3072x768) and
ResNet-50 convolutions (a 3x3 and a 1x1 per stage) at batch 1 and 32.
Peers, same shape, same run: torch fp32 (F.linear / F.conv2d, oneDNN/MKL
inside), torch.ao quantized Linear / Conv2d (x86 backend, quint8 in/out),
ONNX Runtime one-op QLinearMatMul / QLinearConv models (u8 in/out).
lpot runs u8 in / u8 out with per-channel 7-bit weights (|w| <= 64: no
int16 saturation on CPUs without VNNI, see lpot/kernels.py), NHWC for convs;
the torch and ORT peers get their preferred layouts (channels_last, NCHW).

Figures: median time of 5 repetitions, GOPS = 2*MACs/time, and the fraction
of this CPU's int8 peak = cores x measured clock x int8 ops/cycle/core.

Run by hand: python bench/bench_kernels.py   (appends to bench/RESULTS.md)
"""
from __future__ import annotations

import datetime
import os
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

import lpot  # noqa: E402
from lpot import kernels as K  # noqa: E402

THREADS = os.cpu_count() or 1
REPS = 5
MIN_REP_S = 0.05
RNG = np.random.default_rng(0)

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
    unsigned long x = 0, n = 200000000UL;
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
                    for _ in range(3)]
            return max(runs), "dependent-add chain (max of 3)"
    except (OSError, subprocess.CalledProcessError, ValueError):
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("cpu MHz"):
                    return float(line.split(":")[1]) / 1000.0, "/proc/cpuinfo"
    return float("nan"), "unknown"


def bench_all(fns: dict) -> dict:
    """Median seconds per call of each function, the peers interleaved in every
    repetition so that load from elsewhere on the machine hits them alike."""
    inner = {}
    for name, fn in fns.items():
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


def w7(shape):
    return RNG.integers(-64, 65, shape, dtype=np.int8)


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


def ort_qlinear_matmul(w_kn, ws, x_s, x_z, y_s, y_z, m):
    from onnx import TensorProto, helper, numpy_helper
    inits = [numpy_helper.from_array(np.array(x_s, np.float32), "xs"),
             numpy_helper.from_array(np.array(x_z, np.uint8), "xz"),
             numpy_helper.from_array(w_kn, "w"),
             numpy_helper.from_array(ws.astype(np.float32), "ws"),
             numpy_helper.from_array(np.zeros(ws.shape, np.int8), "wz"),
             numpy_helper.from_array(np.array(y_s, np.float32), "ys"),
             numpy_helper.from_array(np.array(y_z, np.uint8), "yz")]
    node = helper.make_node("QLinearMatMul", ["x", "xs", "xz", "w", "ws", "wz", "ys", "yz"], ["y"])
    g = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", TensorProto.UINT8, [m, w_kn.shape[0]])],
                          [helper.make_tensor_value_info("y", TensorProto.UINT8, None)], inits)
    return ort_session(helper.make_model(g, opset_imports=[helper.make_opsetid("", 19)]))


def ort_qlinear_conv(w, ws, x_s, x_z, y_s, y_z, stride, pad, xshape):
    from onnx import TensorProto, helper, numpy_helper
    inits = [numpy_helper.from_array(np.array(x_s, np.float32), "xs"),
             numpy_helper.from_array(np.array(x_z, np.uint8), "xz"),
             numpy_helper.from_array(w, "w"),
             numpy_helper.from_array(ws.astype(np.float32), "ws"),
             numpy_helper.from_array(np.zeros(ws.shape, np.int8), "wz"),
             numpy_helper.from_array(np.array(y_s, np.float32), "ys"),
             numpy_helper.from_array(np.array(y_z, np.uint8), "yz")]
    node = helper.make_node("QLinearConv", ["x", "xs", "xz", "w", "ws", "wz", "ys", "yz"], ["y"],
                            strides=[stride, stride], pads=[pad] * 4)
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

def gemm_case(m, k, n):
    torch = torch_mod()
    w = w7((n, k))
    ws = RNG.uniform(0.001, 0.002, n).astype(np.float32)
    bias = RNG.standard_normal(n).astype(np.float32)
    x = RNG.integers(0, 128, (m, k), dtype=np.uint8)  # 7-bit range like reduce_range peers
    x_s, x_z, y_s, y_z = 0.02, 64, 0.1, 128
    p = K.PackedLinear(w, ws, bias, m_hint=m)
    w8 = RNG.integers(-128, 128, (n, k), dtype=np.int8)
    p8 = K.PackedLinear(w8, ws, bias, m_hint=m)
    x8 = RNG.integers(0, 256, (m, k), dtype=np.uint8)
    xf = torch.randn(m, k)
    wf = torch.from_numpy(w.astype(np.float32) * ws[:, None])
    bf = torch.from_numpy(bias)
    ql = torch_ao_module(torch, torch.ao.nn.quantized.Linear(k, n), wf, ws, bf, y_s, y_z)
    qx = torch.quantize_per_tensor(xf, x_s, x_z, torch.quint8)
    sess = ort_qlinear_matmul(np.ascontiguousarray(w.T), ws, x_s, x_z, y_s, y_z, m)
    K.qlinear(x, p, x_s, x_z, out_dtype="uint8", out_scale=y_s, out_zp=y_z)
    impl = K.last_impl()["linear"]
    K.qlinear(x8, p8, x_s, x_z, out_dtype="uint8", out_scale=y_s, out_zp=y_z)
    impl8 = K.last_impl()["linear"]
    with torch.no_grad():
        res = bench_all({
            "lpot": lambda: K.qlinear(x, p, x_s, x_z, out_dtype="uint8", out_scale=y_s, out_zp=y_z),
            "lpot_8bit": lambda: K.qlinear(x8, p8, x_s, x_z, out_dtype="uint8", out_scale=y_s, out_zp=y_z),
            "fp32": lambda: torch.nn.functional.linear(xf, wf, bf),
            "torch_ao": lambda: ql(qx),
            "ort": lambda: sess.run(None, {"x": x}),
        })
    return 2.0 * m * k * n, res, impl, impl8


def conv_case(batch, c, oc, k, stride, hw):
    torch = torch_mod()
    pad = k // 2
    w = w7((oc, c, k, k))
    ws = RNG.uniform(0.001, 0.002, oc).astype(np.float32)
    bias = RNG.standard_normal(oc).astype(np.float32)
    x = RNG.integers(0, 128, (batch, c, hw, hw), dtype=np.uint8)
    x_nhwc = np.ascontiguousarray(x.transpose(0, 2, 3, 1))
    x_s, x_z, y_s, y_z = 0.02, 64, 0.1, 128
    p = K.PackedConv2d(w, ws, bias, stride=stride, padding=pad, input_hw=(hw, hw))
    oh = (hw + 2 * pad - k) // stride + 1
    xf = torch.randn(batch, c, hw, hw).contiguous(memory_format=torch.channels_last)
    wf = torch.from_numpy(w.astype(np.float32) * ws[:, None, None, None])
    bf = torch.from_numpy(bias)
    qc = torch_ao_module(torch, torch.ao.nn.quantized.Conv2d(c, oc, k, stride=stride, padding=pad),
                         wf, ws, bf, y_s, y_z)
    qx = torch.quantize_per_tensor(xf, x_s, x_z, torch.quint8)
    sess = ort_qlinear_conv(w, ws, x_s, x_z, y_s, y_z, stride, pad, x.shape)
    K.qconv2d(x_nhwc, p, x_s, x_z, out_dtype="uint8", out_scale=y_s, out_zp=y_z, layout="NHWC")
    impl = K.last_impl()["conv2d"]
    with torch.no_grad():
        res = bench_all({
            "lpot": lambda: K.qconv2d(x_nhwc, p, x_s, x_z, out_dtype="uint8", out_scale=y_s,
                                      out_zp=y_z, layout="NHWC"),
            "fp32": lambda: torch.nn.functional.conv2d(xf, wf, bf, stride, pad),
            "torch_ao": lambda: qc(qx),
            "ort": lambda: sess.run(None, {"x": x}),
        })
    return 2.0 * batch * oh * oh * oc * c * k * k, res, impl


def gemv_overhead():
    """Batch-1 cost: a tiny GEMM (all per-call overhead), and BERT's M=1 shapes
    through lpot's own small-M kernel vs oneDNN (7-bit weights: one call)."""
    fns = {}
    for (k, n) in [(16, 16), (768, 768), (768, 3072)]:
        x = RNG.integers(0, 128, (1, k), dtype=np.uint8)
        p = K.PackedLinear(w7((n, k)), np.float32(0.001), m_hint=1)
        for impl in ("auto", "onednn"):
            fns[(k, n, impl)] = (lambda x=x, p=p, impl=impl: K.qlinear(
                x, p, 0.02, 64, out_dtype="uint8", out_scale=0.1, out_zp=128, impl=impl))
    return bench_all(fns)


def main() -> None:
    t_start = time.perf_counter()
    ghz, clk_src = measured_clock_ghz()
    isa = lpot.cpu_features()["onednn"]["isa"]
    cores = THREADS
    opc = OPS_PER_CYCLE.get(isa, float("nan"))
    peak = cores * ghz * opc  # GOPS
    lines = []

    def emit(s=""):
        print(s)
        lines.append(s)

    model = "unknown"
    try:
        for line in subprocess.run(["lscpu"], capture_output=True, text=True).stdout.splitlines():
            if line.startswith("Model name"):
                model = line.split(":", 1)[1].strip()
    except OSError:
        pass
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
    emit("- load average at the start: %.2f %.2f %.2f" % os.getloadavg())
    emit("- threads: %d for every peer; times are medians of %d repetitions; GOPS = 2*MACs/time" % (THREADS, REPS))
    emit("- lpot: u8 in/out, per-channel 7-bit weights (no split); 'lpot 8-bit w' = full-range weights and "
         "activations, i.e. the exact split path on this CPU")
    emit()
    emit("| shape | lpot impl | lpot ms | lpot GOPS | % peak | fp32 ms | torch.ao ms | ORT ms | int8/fp32 speedup | lpot vs best int8 peer | lpot 8-bit w ms (impl) |")
    emit("|---|---|---|---|---|---|---|---|---|---|---|")
    for m in (128, 1):
        for (k, n) in [(768, 768), (768, 3072), (3072, 768)]:
            ops, r, impl, impl8 = gemm_case(m, k, n)
            best = min(r["torch_ao"], r["ort"])
            emit("| GEMM M=%d %dx%d | %s | %.3f | %.1f | %.0f%% | %.3f | %.3f | %.3f | %.2fx | %.2fx | %.3f (%s) |"
                 % (m, k, n, impl, r["lpot"] * 1e3, ops / r["lpot"] / 1e9, 100 * ops / r["lpot"] / 1e9 / peak,
                    r["fp32"] * 1e3, r["torch_ao"] * 1e3, r["ort"] * 1e3, r["fp32"] / r["lpot"],
                    best / r["lpot"], r["lpot_8bit"] * 1e3, impl8))
    stages = [(64, 64, 256, 56), (128, 128, 512, 28), (256, 256, 1024, 14), (512, 512, 2048, 7)]
    for batch in (1, 32):
        for (c3, oc3, oc1, hw) in stages:
            for (c, oc, k) in [(c3, oc3, 3), (oc3, oc1, 1)]:
                ops, r, impl = conv_case(batch, c, oc, k, 1, hw)
                best = min(r["torch_ao"], r["ort"])
                emit("| conv N=%d %dx%d %d->%d %dx%d | %s | %.3f | %.1f | %.0f%% | %.3f | %.3f | %.3f | %.2fx | %.2fx | - |"
                     % (batch, k, k, c, oc, hw, hw, impl, r["lpot"] * 1e3, ops / r["lpot"] / 1e9,
                        100 * ops / r["lpot"] / 1e9 / peak, r["fp32"] * 1e3, r["torch_ao"] * 1e3,
                        r["ort"] * 1e3, r["fp32"] / r["lpot"], best / r["lpot"]))
    ov = gemv_overhead()
    emit()
    emit("Batch-1 (own small-M kernel decision), qlinear M=1 u8 out, per call: lpot's AVX2 kernel "
         "(impl='auto') vs oneDNN (impl='onednn'); 16x16 is pure per-call overhead:")
    for (k, n) in [(16, 16), (768, 768), (768, 3072)]:
        own, dn = ov[(k, n, "auto")], ov[(k, n, "onednn")]
        emit("- %dx%d: own %.1f us, oneDNN %.1f us -> %.2fx" % (k, n, own * 1e6, dn * 1e6, dn / own))
    emit()
    emit("load average at the end: %.2f %.2f %.2f (other work on this 2-core machine)" % os.getloadavg())
    emit("bench wall time: %.0f s" % (time.perf_counter() - t_start))
    emit()
    with open(os.path.join(HERE, "RESULTS.md"), "a") as f:
        f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
