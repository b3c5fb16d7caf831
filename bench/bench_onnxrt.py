"""lpot's ONNX Runtime adaptor vs onnxruntime.quantization, same models, same
calibration data.

    /work/main/.venv/bin/python bench/bench_onnxrt.py [--quick] [--models bert,bertopt]
    /work/main/.venv/bin/python bench/bench_onnxrt.py --calib-sizes 16,100 [--models resnet50]

Models (built here, random weights except the digits CNN): digits CNN
(trained, real accuracy), ResNet-18, ResNet-50 (224x224), BERT-base-shaped
transformers BertForSequenceClassification (12 layers, hidden 768, seq 128)
as exported (bert) and after ONNX Runtime's transformer optimizer (bertopt:
com.microsoft Attention, EmbedLayerNormalization, ... -> QAttention and
QEmbedLayerNormalization, dynamic). Each quantization runs in its own
subprocess: calibration+quantization seconds and peak RSS (ru_maxrss) of
that process above what loading the model took. Fidelity: top-1 agreement
and output SQNR vs fp32 on held-out random inputs (digits: test accuracy).
Latency: median ORT session run, batch 1 and 32 (BERT: 1 and 8), intra-op
threads = all cores. Appends a section to bench/RESULTS.md.

--calib-sizes N,M,...: only calibration+quantization (seconds, peak memory)
of lpot (minmax, kl) and onnxruntime.quantization (MinMax, Entropy) at each
calibration-set size (images, batches of CALIB_BS), to show how each tool's
time and memory grow with the calibration set (LPOT's default
sampling_size is 100).
"""
from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "tests"))

N_CALIB = {"digits": 300, "resnet18": 32, "resnet50": 16, "bert": 16, "bertopt": 16}
CALIB_BS = {"digits": 50, "resnet18": 8, "resnet50": 4, "bert": 4, "bertopt": 4}


def n_calib(model: str) -> int:
    """Calibration-set size: BENCH_NCALIB (set by --calib-sizes) or N_CALIB."""
    return int(os.environ.get("BENCH_NCALIB") or N_CALIB[model])


def calib_batches(model: str):
    """Deterministic calibration batches (list of feed dicts)."""
    n, bs = n_calib(model), CALIB_BS[model]
    if model == "digits":
        d = np.load(os.path.join(WORK, "digits.npz"))
        x = d["x_train"][:n]
        return [{"input": x[i:i + bs]} for i in range(0, n, bs)]
    if model.startswith("bert"):
        from fixtures.onnx_models import bert_inputs
        return [bert_inputs(bs, seed=100 + i) for i in range(n // bs)]
    rng = np.random.default_rng(1)
    return [{"input": rng.standard_normal((bs, 3, 224, 224)).astype(np.float32)}
            for _ in range(n // bs)]


def eval_inputs(model: str, n: int):
    if model.startswith("bert"):
        from fixtures.onnx_models import bert_inputs
        return bert_inputs(n, seed=7)
    rng = np.random.default_rng(2)
    return {"input": rng.standard_normal((n, 3, 224, 224)).astype(np.float32)}


def vm(key: str) -> int:
    """kB from /proc/self/status (VmHWM is per address space: reset by exec,
    unlike ru_maxrss, which a child inherits from its parent)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


# ------------------------------------------------------------------ jobs
def job(model: str, tool: str, out: str) -> None:
    """One quantization in this (fresh) process; prints a JSON line."""
    import onnx
    src = os.path.join(WORK, f"{model}.onnx")
    m = onnx.load(src)
    batches = calib_batches(model)
    base_rss = vm("VmHWM")
    t0 = time.perf_counter()
    info = {}
    if tool.startswith("lpot"):
        from lpot.adaptor import create_adaptor
        fw = {"lpot-qdq-minmax": "onnxrt_qdq", "lpot-qdq-kl": "onnxrt_qdq",
              "lpot-qop-minmax": "onnxrt_qlinearops", "lpot-dynamic": "onnxrt_integerops"}[tool]
        algo = "kl" if tool.endswith("kl") else "minmax"
        a = create_adaptor(fw, m, None, calib_dataloader=batches)
        op = {}
        for c in a.query_capability():
            al = algo if algo in c["activation"]["algorithm"] else "minmax"
            op[(c["name"], c["type"])] = {
                "weight": {"dtype": "int8", "scheme": "sym", "granularity": "per_channel",
                           "algorithm": "minmax"} if c["weight"] else None,
                "activation": {"dtype": "uint8", "scheme": "asym", "granularity": "per_tensor",
                               "algorithm": al}}
        q = a.quantize({"calib_sampling_size": n_calib(model), "op": op})
        secs = time.perf_counter() - t0
        q.save(out)
        info = {"int8_ops": q.report["int8_ops"], "fp32_ops": q.report["fp32_ops"]}
    else:
        from onnxruntime.quantization import (CalibrationDataReader, CalibrationMethod, QuantFormat,
                                              QuantType, quantize_dynamic, quantize_static)

        class Reader(CalibrationDataReader):
            def __init__(self) -> None:
                self.it = iter(batches)

            def get_next(self):
                return next(self.it, None)

        if tool == "ort-dynamic":
            # the optimizer's contrib ops defeat ORT's shape inference: its own hint
            extra = {"DefaultTensorType": onnx.TensorProto.FLOAT} if model == "bertopt" else {}
            quantize_dynamic(src, out, weight_type=QuantType.QInt8, per_channel=True,
                             reduce_range=True, extra_options=extra)
        else:
            meth = CalibrationMethod.Entropy if tool.endswith("entropy") else CalibrationMethod.MinMax
            quantize_static(src, out, Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
                            reduce_range=True, activation_type=QuantType.QUInt8,
                            weight_type=QuantType.QInt8, calibrate_method=meth)
        secs = time.perf_counter() - t0
    peak = vm("VmHWM")
    print(json.dumps({"seconds": secs, "peak_mb": peak / 1024, "extra_mb": (peak - base_rss) / 1024,
                      **info}))


def run_job(model: str, tool: str, ncalib: int = 0) -> dict:
    out = os.path.join(WORK, f"{model}.{tool}.onnx")
    env = dict(os.environ, PYTHONPATH=ROOT, BENCH_WORK=WORK, BENCH_NCALIB=str(ncalib or ""))
    r = subprocess.run([sys.executable, __file__, "--job", model, tool, out], capture_output=True,
                       text=True, env=env, timeout=1800)
    if r.returncode != 0:
        return {"error": (r.stderr.strip().splitlines() or ["?"])[-1][:200]}
    d = json.loads(r.stdout.strip().splitlines()[-1])
    d["path"] = out
    return d


# ------------------------------------------------------------------ measure
def session(path: str):
    import onnxruntime as ort
    so = ort.SessionOptions()
    so.log_severity_level = 3
    return ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])


def sqnr(ref, out) -> float:
    e = float(((ref - out) ** 2).sum())
    return float("inf") if e == 0 else 10 * np.log10(float((ref ** 2).sum()) / e)


def measure(model: str, path: str, ref=None, quick: bool = False):
    """(outputs, fidelity, session, batch-1 feed, big feed, iterations)"""
    s = session(path)
    if model == "digits":
        d = np.load(os.path.join(WORK, "digits.npz"))
        out = s.run(None, {"input": d["x_test"]})[0]
        fid = {"acc": float((out.argmax(1) == d["y_test"]).mean())}
        big = {"input": d["x_test"][:32]}
        one = {"input": d["x_test"][:1]}
        iters = (50, 50)
    else:
        n = 8 if model.startswith("bert") else 16
        ev = eval_inputs(model, n)
        out = np.concatenate([s.run(None, {k: v[i:i + 1] for k, v in ev.items()})[0] for i in range(n)])
        fid = {}
        if ref is not None:
            fid = {"top1": float((out.argmax(1) == ref.argmax(1)).mean()), "sqnr": sqnr(ref, out)}
        one = {k: v[:1] for k, v in ev.items()}
        bs = 8 if model.startswith("bert") else 32
        big = {k: np.concatenate([v] * (bs // n + 1))[:bs] for k, v in ev.items()}
        iters = {"resnet18": (20, 5), "resnet50": (10, 3), "bert": (10, 3), "bertopt": (10, 3)}[model]
        if quick:
            iters = (3, 1)
    return out, fid, s, one, big, iters


def interleaved(cands, iters) -> list:
    """Median latency per session, the sessions run in turn each round so that
    load from other processes on this shared machine hits them alike."""
    ts = [[] for _ in cands]
    for s, feed in cands:
        s.run(None, feed)
    for _ in range(iters):
        for k, (s, feed) in enumerate(cands):
            t0 = time.perf_counter()
            s.run(None, feed)
            ts[k].append(time.perf_counter() - t0)
    return [statistics.median(t) for t in ts]


WORK = os.environ.get("BENCH_WORK", "")


def build_models(models) -> None:
    from fixtures import onnx_models as fm
    for m in models:
        p = os.path.join(WORK, f"{m}.onnx")
        if m == "digits":
            d = fm.digits_cnn()
            open(p, "wb").write(d["onnx"])
            np.savez(os.path.join(WORK, "digits.npz"), **{k: v for k, v in d.items() if k != "onnx"})
        elif m.startswith("resnet"):
            open(p, "wb").write(fm.resnet(int(m[6:])))
        elif m == "bertopt":
            open(p, "wb").write(fm.bert_fused())
        else:
            open(p, "wb").write(fm.bert_encoder())


CALIB_TOOLS = ["lpot-qdq-minmax", "lpot-qdq-kl", "ort-qdq-minmax", "ort-qdq-entropy"]


def calib_scaling(models, sizes) -> None:
    """Calibration+quantization time and peak memory per calibration-set size."""
    global WORK
    with tempfile.TemporaryDirectory() as d:
        WORK = os.environ["BENCH_WORK"] = d
        t_start = time.time()
        build_models(models)
        load0 = os.getloadavg()
        rows = []
        for m in models:
            for n in sizes:
                res = {}
                for t in CALIB_TOOLS:
                    res[t] = j = run_job(m, t, n)
                    print(m, n, t, j, flush=True)
                    if "path" in j:
                        os.remove(j["path"])
                rows.append((m, n, res))
        lines = ["", f"## bench_onnxrt.py --calib-sizes — "
                 f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}", "",
                 f"Calibration + quantization only, each in a fresh process (seconds from adaptor "
                 f"creation / quantize_static call to the quantized model in memory; peak MB = "
                 f"VmHWM, +MB = above the model and data). Batches of CALIB_BS images (ResNet: 4, "
                 f"BERT: 4 sequences). Load average at the start {load0[0]:.1f}, at the end "
                 f"{os.getloadavg()[0]:.1f}; total {time.time() - t_start:.0f} s. Command: "
                 f"`python bench/bench_onnxrt.py --calib-sizes "
                 f"{','.join(map(str, sizes))} --models {','.join(models)}`", "",
                 "| model | calibration images | tool | calib s | peak MB | +MB | "
                 "ORT Entropy s / this | ORT MinMax s / this |",
                 "|---|---|---|---|---|---|---|---|"]
        for m, n, res in rows:
            ent = res["ort-qdq-entropy"].get("seconds", float("nan"))
            mm = res["ort-qdq-minmax"].get("seconds", float("nan"))
            for t in CALIB_TOOLS:
                j = res[t]
                if "error" in j:
                    lines.append(f"| {m} | {n} | {t} | error: {j['error']} |||||")
                    continue
                lines.append(f"| {m} | {n} | {t} | {j['seconds']:.2f} | {j['peak_mb']:.0f} | "
                             f"{j['extra_mb']:.0f} | {ent / j['seconds']:.1f}x | "
                             f"{mm / j['seconds']:.1f}x |")
        append_results(lines)


def main() -> None:
    global WORK
    quick = "--quick" in sys.argv
    models = ["digits", "resnet18", "resnet50", "bert", "bertopt"] if not quick else ["digits", "resnet18"]
    if "--models" in sys.argv:
        models = sys.argv[sys.argv.index("--models") + 1].split(",")
    if "--calib-sizes" in sys.argv:
        sizes = [int(x) for x in sys.argv[sys.argv.index("--calib-sizes") + 1].split(",")]
        calib_scaling(models if "--models" in sys.argv else ["resnet50"], sizes)
        return
    tools = {"digits": ["lpot-qdq-minmax", "lpot-qdq-kl", "lpot-qop-minmax", "ort-qdq-minmax",
                        "ort-qdq-entropy", "lpot-dynamic", "ort-dynamic"],
             "resnet18": ["lpot-qdq-minmax", "lpot-qdq-kl", "lpot-qop-minmax", "ort-qdq-minmax",
                          "ort-qdq-entropy"],
             "resnet50": ["lpot-qdq-minmax", "lpot-qdq-kl", "lpot-qop-minmax", "ort-qdq-minmax",
                          "ort-qdq-entropy"],
             "bert": ["lpot-qdq-minmax", "lpot-qdq-kl", "ort-qdq-minmax", "ort-qdq-entropy",
                      "lpot-dynamic", "ort-dynamic"],
             # ORT's transformer optimizer output (Attention, EmbedLayerNormalization,
             # SkipLayerNormalization, BiasGelu): the graph LPOT 1.x's 2.04x was on
             "bertopt": ["lpot-dynamic", "ort-dynamic"]}
    with tempfile.TemporaryDirectory() as d:
        WORK = os.environ["BENCH_WORK"] = d
        t_start = time.time()
        build_models(models)
        rows = []
        for m in models:
            ref, fid0, s0, one, big, iters = measure(m, os.path.join(d, f"{m}.onnx"), quick=quick)
            done = [("fp32", {}, fid0, s0)]
            for t in tools[m]:
                j = run_job(m, t)
                print(m, t, j, flush=True)
                if "error" in j:
                    rows.append((m, t, j, {}, float("nan"), float("nan"), 0, 0))
                    continue
                _, fid, s, _, _, _ = measure(m, j["path"], ref, quick)
                done.append((t, j, fid, s))
            l1s = interleaved([(x[3], one) for x in done], iters[0])
            lbs = interleaved([(x[3], big) for x in done], iters[1])
            for (t, j, fid, _), q1, qb in zip(done, l1s, lbs):
                rows.append((m, t, j, fid, q1, qb, l1s[0], lbs[0]))
                print(m, t, fid, f"{q1*1e3:.2f} ms", f"{qb*1e3:.1f} ms", flush=True)
            del done
        write(rows, time.time() - t_start)


def fmt_sqnr(fid: dict) -> str:
    return f"{fid['sqnr']:.1f}" if "sqnr" in fid else ""


def write(rows, elapsed: float) -> None:
    import onnxruntime

    import lpot
    cpu = "?"
    for line in subprocess.run(["lscpu"], capture_output=True, text=True).stdout.splitlines():
        if line.startswith("Model name"):
            cpu = line.split(":", 1)[1].strip()
    f = lpot.cpu_features()
    lines = [
        "", f"## bench_onnxrt.py — {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}", "",
        f"Machine: {cpu}, {os.cpu_count()} cores; lpot ISA {f['isa']}; oneDNN ISA "
        f"{f['onednn']['isa']}; onnxruntime {onnxruntime.__version__} (CPU EP, no VNNI: u8s8 "
        f"kernels on AVX2, so both tools use 7-bit weights / reduce_range). Load average at the "
        f"end {os.getloadavg()[0]:.1f}; total {elapsed:.0f} s.", "",
        "lpot-* = this adaptor (qdq = QDQ format, qop = QOperator, kl = KL/entropy activations); "
        "ort-* = onnxruntime.quantization quantize_static (QDQ, per-channel, MinMax/Entropy, "
        "reduce_range) and quantize_dynamic (per-channel, reduce_range). Same calibration batches "
        f"(digits {N_CALIB['digits']} images, ResNet-18 {N_CALIB['resnet18']}, ResNet-50 "
        f"{N_CALIB['resnet50']}, BERT {N_CALIB['bert']} sequences of 128). calib s = calibration+"
        "quantization wall time in a fresh process; peak MB = that process's max RSS, +MB = above "
        "what loading the model and data took. Fidelity vs fp32 on held-out random inputs "
        "(16 images / 8 sequences, batch 1): top-1 agreement and output SQNR; digits: test "
        "accuracy (397 images). Latency: median ms, batch 1 and 32 (BERT: 8). speed-up = fp32 "
        "latency / int8 latency.", "",
        "| model | tool | calib s | peak MB | +MB | int8/fp32 ops | accuracy / top-1 agree | SQNR dB "
        "| ms bs1 | ms bs32 | speed-up bs1 | speed-up bs32 |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for m, t, j, fid, q1, qb, l1, lb in rows:
        if "error" in j:
            lines.append(f"| {m} | {t} | error: {j['error']} |||||||||| ")
            continue
        acc = fid.get("acc", fid.get("top1"))
        lines.append(
            f"| {m} | {t} | {j.get('seconds', float('nan')):.2f} | {j.get('peak_mb', float('nan')):.0f} "
            f"| {j.get('extra_mb', float('nan')):.0f} | "
            f"{str(j['int8_ops']) + '/' + str(j['fp32_ops']) if 'int8_ops' in j else ''} | "
            f"{'' if acc is None else f'{acc:.3f}'} | "
            f"{fmt_sqnr(fid)} | "
            f"{q1 * 1e3:.2f} | {qb * 1e3:.1f} | {l1 / q1:.2f}x | {lb / qb:.2f}x |")
    append_results(lines)


def append_results(lines) -> None:
    """Print a section and append it to bench/RESULTS.md."""
    text = "\n".join(lines) + "\n"
    print(text)
    with open(os.path.join(ROOT, "bench", "RESULTS.md"), "a") as fh:
        fh.write(text)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--job":
        WORK = os.environ["BENCH_WORK"]
        job(sys.argv[2], sys.argv[3], sys.argv[4])
    else:
        main()
