"""PyTorch adaptor benchmark: lpot int8 (static PTQ through lpot.adaptor.pytorch,
lpot's C kernels) vs fp32 eager vs torch.ao FX static quantization (x86
backend), same models and inputs, batch 1 and 32.

Run by hand: python bench/bench_pytorch.py [--quick]   (appends to bench/RESULTS.md)

Models (hand-written, tests/fixtures/torch_models.py; random weights except the
digits CNN): digits CNN (real accuracy), ResNet-18, ResNet-50, MobileNetV2 at
224x224; an LSTM language model with dynamic quantization (vs torch.ao quantize_dynamic). Fidelity on random-weight nets = top-1 agreement with fp32 and
relative L2 error of the logits on 32 inputs. Everything runs on ONE thread
(torch.set_num_threads(1), lpot.kernels.set_num_threads(1)): this 2-core machine
is shared, and one thread is the fair, reproducible footing for all three.
"""
from __future__ import annotations

import datetime
import os
import statistics
import subprocess
import sys
import time
import warnings

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import torch  # noqa: E402

import lpot  # noqa: E402
from lpot import kernels  # noqa: E402
from lpot.adaptor.pytorch import PyTorchAdaptor  # noqa: E402
from tests.fixtures import torch_models as tm  # noqa: E402

QUICK = "--quick" in sys.argv
REPS = {1: 7, 32: 3}


def median_latency(fn, x, reps):
    with torch.no_grad():
        fn(x)
        ts = []
        for _ in range(reps):
            t = time.perf_counter()
            fn(x)
            ts.append(time.perf_counter() - t)
    return statistics.median(ts)


def torch_ao(model, calib):
    from torch.ao.quantization import get_default_qconfig_mapping
    from torch.ao.quantization.quantize_fx import convert_fx, prepare_fx

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.backends.quantized.engine = "x86"
        p = prepare_fx(model.eval(), get_default_qconfig_mapping("x86"), (calib[0],))
        with torch.no_grad():
            for c in calib:
                p(c)
        return convert_fx(p)


def fidelity(ref, y):
    ref, y = ref.detach().float(), y.detach().float()
    agree = float((ref.argmax(1) == y.argmax(1)).float().mean())
    rel = float(torch.linalg.norm(y - ref) / torch.linalg.norm(ref))
    return agree, rel


def main():
    torch.set_num_threads(1)
    kernels.set_num_threads(1)
    load0 = os.getloadavg()
    t_start = time.time()
    rows = []
    notes = []

    # digits CNN: real accuracy
    m, (xtr, ytr, xte, yte) = tm.train_digits(epochs=6)
    calib = [torch.from_numpy(xtr[i:i + 50]) for i in range(0, 200, 50)]

    def acc(model):
        with torch.no_grad():
            return float((model(torch.from_numpy(xte)).argmax(1).numpy() == yte).mean())

    a = PyTorchAdaptor("pytorch", m, None, calib_dataloader=calib, eval_func=acc)
    q = a.quantize(a.default_tune_cfg())
    ao = torch_ao(tm.train_digits(epochs=6)[0], calib)
    accs = (acc(m), acc(q.model), acc(ao))
    for bs in (1, 32):
        x = torch.from_numpy(xte[:bs])
        lat = [median_latency(f, x, 21 if bs == 1 else 11) for f in (m, q.model, ao)]
        rows.append(("digits CNN", bs, "acc %.4f / %.4f / %.4f" % accs, *lat))
    notes.append("digits CNN report: " + "; ".join(f"{o['name']}: {o['runs']}" for o in q.report["ops"]))

    models = [("ResNet-18", tm.resnet18), ("ResNet-50", tm.resnet50), ("MobileNetV2", tm.MobileNetV2)]
    if QUICK:
        models = []
    g = torch.Generator().manual_seed(0)
    for name, ctor in models:
        torch.manual_seed(0)
        model = ctor().eval()
        calib = [torch.randn(4, 3, 224, 224, generator=g) for _ in range(2)]
        t0 = time.perf_counter()
        a = PyTorchAdaptor("pytorch", model, None, calib_dataloader=calib)
        q = a.quantize(a.default_tune_cfg(sampling_size=8))
        tq = time.perf_counter() - t0
        t0 = time.perf_counter()
        ao = torch_ao(ctor().eval(), calib)
        tao = time.perf_counter() - t0
        x32 = torch.randn(32, 3, 224, 224, generator=g)
        with torch.no_grad():
            ref = model(x32)
            f_l = fidelity(ref, q.model(x32))
            f_a = fidelity(ref, ao(x32))
        fid = "top1 agree %.3f / %.3f, rel L2 %.3f / %.3f" % (f_l[0], f_a[0], f_l[1], f_a[1])
        for bs in (1, 32):
            x = x32[:bs]
            lat = [median_latency(f, x, REPS[bs]) for f in (model, q.model, ao)]
            rows.append((name, bs, fid, *lat))
        r = q.report
        notes.append(f"{name}: {r['int8_ops']} int8 ops, {r['fp32_ops']} fp32, {len(r['chains'])} "
                     f"u8 chains, {len(r['fusions'])} fusions; lpot quantize {tq:.1f}s, torch.ao "
                     f"prepare+calibrate+convert {tao:.1f}s; last impl {kernels.last_impl()}")

    # LSTM language model, dynamic quantization (vs torch.ao quantize_dynamic)
    from torch.ao.quantization import quantize_dynamic

    torch.manual_seed(0)
    lm = tm.LSTMLM(vocab=10000, emb=256, hidden=512).eval()
    a = PyTorchAdaptor("pytorch", lm, {"quantization": {"approach": "post_training_dynamic_quant"}})
    q = a.quantize(a.default_tune_cfg())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ao = quantize_dynamic(lm, {torch.nn.LSTM, torch.nn.Linear}, dtype=torch.qint8)  # a copy
    tok = torch.randint(0, 10000, (32, 35), generator=g)
    with torch.no_grad():
        ref = lm(tok).reshape(-1, 10000)
        f_l = fidelity(ref, q.model(tok).reshape(-1, 10000))
        f_a = fidelity(ref, ao(tok).reshape(-1, 10000))
    fid = "top1 agree %.3f / %.3f, rel L2 %.3f / %.3f" % (f_l[0], f_a[0], f_l[1], f_a[1])
    for bs in (1, 32):
        x = tok[:bs]
        lat = [median_latency(f, x, REPS[bs]) for f in (lm, q.model, ao)]
        rows.append(("LSTM LM dynamic (35 steps)", bs, fid, *lat))
    notes.append("LSTM LM (vocab 10000, emb 256, LSTM 512, 35 tokens): lpot "
                 + "; ".join(f"{o['name']}: {o['runs']}" for o in q.report["ops"])
                 + "; torch.ao: quantize_dynamic({LSTM, Linear}, qint8)")

    lines = []

    def emit(s=""):
        print(s)
        lines.append(s)

    model_name = "unknown"
    for line in subprocess.run(["lscpu"], capture_output=True, text=True).stdout.splitlines():
        if line.startswith("Model name"):
            model_name = line.split(":", 1)[1].strip()
    feats = lpot.cpu_features()
    used = feats["used"]
    emit("## bench_pytorch: PyTorch adaptor end to end (%s)" % datetime.datetime.now(
        datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"))
    emit()
    emit("- CPU: %s, %d cores; lpot isa: %s; oneDNN %s isa: %s; VNNI: %s, AMX: %s -> lpot uses "
         "%d-bit weights" % (model_name, os.cpu_count(), feats["isa"], feats["onednn"]["version"],
                             feats["onednn"]["isa"], used["avx512_vnni"] or used["avx_vnni"],
                             used["amx_int8"], 7 if not (used["avx512_vnni"] or used["avx_vnni"]
                                                         or used["amx_int8"]) else 8))
    emit("- torch %s; ONE thread for every engine; latency = median of %d (batch 1) / %d (batch 32) "
         "runs after a warm-up; load average at start %.2f %.2f %.2f, at end %.2f %.2f %.2f"
         % (torch.__version__, REPS[1], REPS[32], *load0, *os.getloadavg()))
    emit("- lpot: static PTQ via PyTorchAdaptor default config (u8 asym minmax activations, "
         "per-channel sym weights, Conv+BN folded, ReLU fused, u8 chaining); torch.ao: prepare_fx/"
         "convert_fx with get_default_qconfig_mapping('x86'), same calibration batches")
    emit("- fidelity columns: lpot / torch.ao (vs fp32 on the same 32 inputs; digits: test accuracy "
         "fp32 / lpot / torch.ao)")
    emit()
    emit("| model | batch | fidelity | fp32 ms | lpot int8 ms | torch.ao int8 ms | fp32/lpot | "
         "fp32/torch.ao | lpot vs torch.ao |")
    emit("|---|---|---|---|---|---|---|---|---|")
    for name, bs, fid, f, l, ao in rows:
        emit("| %s | %d | %s | %.2f | %.2f | %.2f | %.2fx | %.2fx | %.2fx |"
             % (name, bs, fid, f * 1e3, l * 1e3, ao * 1e3, f / l, f / ao, ao / l))
    emit()
    for n in notes:
        emit("- " + n)
    emit("- PT2E + X86InductorQuantizer: not measured (its speed comes from torch.compile/inductor "
         "code generation, minutes per model on this machine; out of this bench's budget)")
    emit("- BERT-base: not measured (`transformers` is not installed in the venv)")
    emit()
    emit("bench wall time: %.0f s" % (time.time() - t_start))
    emit()
    if not QUICK:
        with open(os.path.join(ROOT, "bench", "RESULTS.md"), "a") as f:
            f.write("\n" + "\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
