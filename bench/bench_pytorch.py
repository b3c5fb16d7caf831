"""PyTorch adaptor benchmark: lpot int8 (static PTQ through lpot.adaptor.pytorch,
lpot's C kernels) vs fp32 eager vs torch.ao FX static quantization (x86
backend), same models and inputs, batch 1 and 32.

Run by hand: python bench/bench_pytorch.py [--quick] [--models digits,resnet18,resnet50,
mobilenetv2,lstm,bert] [--bert-batch 1,8] [--pt2e]   (appends to bench/RESULTS.md unless --quick)

--pt2e adds PyTorch 2 Export quantization (torchao's prepare_pt2e/convert_pt2e with the
X86InductorQuantizer default config, then torch.compile, its documented deployment) on the
CNNs: minutes of compilation per model and batch size on this machine, so opt-in.

Models (hand-written, tests/fixtures/torch_models.py; random weights except the
digits CNN): digits CNN (real accuracy), ResNet-18, ResNet-50, MobileNetV2 at
224x224; an LSTM language model with dynamic quantization (vs torch.ao quantize_dynamic);
BERT-base (transformers BertForSequenceClassification from BertConfig, random
weights, seq 128): fp32 eager, lpot static and dynamic int8, torch.ao
quantize_dynamic and torch.ao FX static x86 (when it traces), with a per
op-type time profile of fp32 and lpot static. Fidelity on random-weight nets = top-1 agreement with fp32 and
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
ALL_MODELS = ("digits", "resnet18", "resnet50", "mobilenetv2", "lstm", "bert")


def _arg(name, default):
    if name in sys.argv:
        return sys.argv[sys.argv.index(name) + 1]
    return default


MODELS = [m.strip().lower() for m in _arg("--models", ",".join(ALL_MODELS)).split(",") if m.strip()]
BERT_BATCHES = [int(b) for b in _arg("--bert-batch", "1,8").split(",")]
PT2E = "--pt2e" in sys.argv
PT2E_ROWS = []  # (model, batch, pt2e s or error, lpot s, fp32 s, prepare+compile s, fidelity)
for _m in MODELS:
    if _m not in ALL_MODELS:
        sys.exit(f"--models: unknown model {_m!r} (known: {', '.join(ALL_MODELS)})")


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


def pt2e(model, calib):
    """(compiled PT2E int8 model, seconds to export+prepare+calibrate+convert) or an error
    string: torchao's PT2E flow with the X86InductorQuantizer default config (static,
    per-channel weights), deployed with torch.compile as its docs say."""
    try:
        from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e
        from torchao.quantization.pt2e.quantizer import x86_inductor_quantizer as xiq
    except Exception as e:  # torch >= 2.11 moved PT2E to torchao
        return "not run: torchao's PT2E is not importable (%s: %s)" % (type(e).__name__, e)
    t0 = time.perf_counter()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            # example = a calibration batch: exporting at batch 1 specializes the batch dim
            ep = torch.export.export(model.eval(), (calib[0],), dynamic_shapes=(
                {0: torch.export.Dim("batch", max=1024)},)).module()
            q = xiq.X86InductorQuantizer()
            q.set_global(xiq.get_default_x86_inductor_quantization_config())
            p = prepare_pt2e(ep, q)
            with torch.no_grad():
                for c in calib:
                    p(c)
            conv = convert_pt2e(p)
    except Exception as e:
        return "failed in PT2E prepare/convert: %s: %s" % (type(e).__name__, str(e)[:160])
    return torch.compile(conv), time.perf_counter() - t0


def pt2e_rows(name, model, calib, xs, lpot_lat, fp32_lat, ref=None):
    """Time torchao PT2E + inductor at each batch of xs (first call = compile)."""
    r = pt2e(model, calib)
    for k, x in enumerate(xs):
        if isinstance(r, str):
            PT2E_ROWS.append((name, int(x.shape[0]), r, lpot_lat[k], fp32_lat[k], None, ""))
            continue
        f, tprep = r
        t0 = time.perf_counter()
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")
            y = f(x)
        tcomp = time.perf_counter() - t0
        fid = ""
        if ref is not None:
            fid = ref(f)
        lat = median_latency(f, x, REPS.get(int(x.shape[0]), 7))
        PT2E_ROWS.append((name, int(x.shape[0]), lat, lpot_lat[k], fp32_lat[k], tprep + tcomp, fid))
        del y


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

    bert_lines = bench_bert() if "bert" in MODELS else []
    if "digits" in MODELS:
        bench_digits(rows, notes)
    bench_vision(rows, notes)
    if "lstm" in MODELS:
        bench_lstm(rows, notes)
    report(rows, notes, bert_lines, load0, t_start)


def bench_digits(rows, notes):
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
    lats = []
    for bs in (1, 32):
        x = torch.from_numpy(xte[:bs])
        lat = [median_latency(f, x, 21 if bs == 1 else 11) for f in (m, q.model, ao)]
        lats.append(lat)
        rows.append(("digits CNN", bs, "acc %.4f / %.4f / %.4f" % accs, *lat))
    if PT2E:
        pt2e_rows("digits CNN", tm.train_digits(epochs=6)[0], calib,
                  [torch.from_numpy(xte[:1]), torch.from_numpy(xte[:32])],
                  [l[1] for l in lats], [l[0] for l in lats],
                  ref=lambda f: "acc %.4f" % acc(f))
    notes.append("digits CNN report: " + "; ".join(f"{o['name']}: {o['runs']}" for o in q.report["ops"]))



def bench_vision(rows, notes):
    models = [(n, c) for n, c, k in (("ResNet-18", tm.resnet18, "resnet18"),
                                     ("ResNet-50", tm.resnet50, "resnet50"),
                                     ("MobileNetV2", tm.MobileNetV2, "mobilenetv2")) if k in MODELS]
    if QUICK and "--models" not in sys.argv:
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
        lats = []
        for bs in (1, 32):
            x = x32[:bs]
            lat = [median_latency(f, x, REPS[bs]) for f in (model, q.model, ao)]
            lats.append(lat)
            rows.append((name, bs, fid, *lat))
        if PT2E:
            def pt_fid(f, x32=x32, ref=ref):
                with torch.no_grad():
                    a = fidelity(ref, torch.cat([f(x32[i:i + 1]) for i in range(len(x32))]))
                return "top1 agree %.3f, rel L2 %.3f" % a
            pt2e_rows(name, ctor().eval(), calib, [x32[:1], x32], [l[1] for l in lats],
                      [l[0] for l in lats], ref=pt_fid)
        r = q.report
        notes.append(f"{name}: {r['int8_ops']} int8 ops, {r['fp32_ops']} fp32, {len(r['chains'])} "
                     f"u8 chains, {len(r['fusions'])} fusions; lpot quantize {tq:.1f}s, torch.ao "
                     f"prepare+calibrate+convert {tao:.1f}s; last impl {kernels.last_impl()}")



def bench_lstm(rows, notes):
    # LSTM language model, dynamic quantization (vs torch.ao quantize_dynamic)
    from torch.ao.quantization import quantize_dynamic

    g = torch.Generator().manual_seed(1)
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
    parts = []
    for bs in (1, 32):
        x = tok[:bs]
        lat = [median_latency(f, x, REPS[bs]) for f in (lm, q.model, ao)]
        rows.append(("LSTM LM dynamic (35 steps)", bs, fid, *lat))
        parts.append(_lstm_parts(q.model, ao, x, 5 * REPS[bs]))
    notes.append("LSTM LM parts, one module at a time (round robin, median ms, lpot / torch.ao): "
                 + "; ".join(f"batch {bs}: " + ", ".join(f"{k} {a * 1e3:.2f} / {b * 1e3:.2f} "
                                                         f"({b / a:.2f}x)" for k, (a, b) in p.items())
                             for bs, p in zip((1, 32), parts))
                 + " (LSTM: lpot's whole time loop in C, kernels.rnn_dynamic_layer; dec: a "
                 "Linear at M = 35 x batch)")
    notes.append("LSTM LM (vocab 10000, emb 256, LSTM 512, 35 tokens): lpot "
                 + "; ".join(f"{o['name']}: {o['runs']}" for o in q.report["ops"])
                 + "; torch.ao: quantize_dynamic({LSTM, Linear}, qint8)")


def _lstm_parts(lq, la, tok, reps):
    """Median seconds of the lstm and dec modules of both quantized LMs, run
    round robin (so load on the shared machine hits both alike)."""
    with torch.no_grad():
        e = lq.emb(tok)
        h = lq.lstm(e)[0]
        fns = {"lstm": (lambda: lq.lstm(e), lambda: la.lstm(e)),
               "dec": (lambda: lq.dec(h), lambda: la.dec(h))}
        ts = {k: ([], []) for k in fns}
        for _ in range(reps + 1):
            for k, pair in fns.items():
                for f, out in zip(pair, ts[k]):
                    t = time.perf_counter()
                    f()
                    out.append(time.perf_counter() - t)
    return {k: (statistics.median(a[1:]), statistics.median(b[1:])) for k, (a, b) in ts.items()}


# ---- BERT-base ---------------------------------------------------------------------

BERT_SEQ = 128
BERT_REPS = {1: 9, 8: 3}   # rounds


def _logits(y):
    return y.logits if hasattr(y, "logits") else y["logits"]


def _bert_fidelity(ref, y):
    """(mean cosine of the logits per input, top-1 agreement)"""
    cos = torch.nn.functional.cosine_similarity(ref, y, dim=1).mean()
    return float(cos), float((ref.argmax(1) == y.argmax(1)).float().mean())


def _type_profile(model, x, reps=3):
    """ms per module type (lpot and torch leaf modules) per call of model(**x);
    the rest of the forward is 'other (functional ops)'."""
    import collections

    from lpot import nn as lnn

    kinds = (torch.nn.Linear, torch.nn.LayerNorm, torch.nn.Embedding, lnn.QuantLinear,
             lnn.DynamicQuantLinear, lnn.QuantMatmul, lnn.Matmul, lnn.QuantEmbedding)
    tot = collections.Counter()
    patched = []
    for _, mod in model.named_modules():
        if not isinstance(mod, kinds):
            continue
        key = type(mod).__name__
        if getattr(mod, "gelu", "") or getattr(mod, "post_ops", ()):
            key += "+gelu"

        def timed(*a, _f=mod.forward, _k=key, **k):
            t = time.perf_counter()
            r = _f(*a, **k)
            tot[_k] += time.perf_counter() - t
            return r
        mod.forward = timed
        patched.append(mod)
    with torch.no_grad():
        model(**x)
        tot.clear()
        t = time.perf_counter()
        for _ in range(reps):
            model(**x)
        total = (time.perf_counter() - t) / reps
    for mod in patched:
        del mod.forward
    prof = {k: v / reps for k, v in tot.items()}
    prof["other (functional ops)"] = total - sum(prof.values())
    return total, prof


def bench_bert():
    import copy

    from torch.ao.quantization import quantize_dynamic

    lines = []
    try:
        import transformers
    except ImportError:
        return ["- BERT-base: not measured (`transformers` is not installed in the venv)"]
    m = tm.bert("base", classes=10)
    calib = [tm.bert_batch(30522, 2, BERT_SEQ, seed=100 + i) for i in range(4)]
    t0 = time.perf_counter()
    a = PyTorchAdaptor("pytorch", m, None, calib_dataloader=calib)
    q = a.quantize(a.default_tune_cfg(sampling_size=8))
    t_static = time.perf_counter() - t0
    cfg = a.default_tune_cfg(sampling_size=8)
    for (name, typ), c in cfg["op"].items():
        if typ == "Matmul":
            c["activation"]["dtype"] = "fp32"
    q_mm32 = a.quantize(cfg)   # the attention matmuls kept fp32 (tune_cfg fallback)
    t0 = time.perf_counter()
    ad = PyTorchAdaptor("pytorch", m, {"quantization": {"approach": "post_training_dynamic_quant"}},
                        calib_dataloader=calib)
    qd = ad.quantize(ad.default_tune_cfg())
    t_dyn = time.perf_counter() - t0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ao_dyn = quantize_dynamic(copy.deepcopy(m), {torch.nn.Linear}, dtype=torch.qint8)
    ao_fx, ao_fx_why = None, ""
    try:
        from torch.ao.quantization import get_default_qconfig_mapping
        from torch.ao.quantization.quantize_fx import convert_fx, prepare_fx
        from transformers.utils.fx import symbolic_trace as hf_trace

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.backends.quantized.engine = "x86"
            try:
                p = prepare_fx(copy.deepcopy(m), get_default_qconfig_mapping("x86"), (calib[0],))
            except Exception as e:   # torch.fx cannot trace HF BERT: retry on HF's trace
                first = f"{type(e).__name__}: {str(e).splitlines()[0]}"
                try:
                    gm = hf_trace(copy.deepcopy(m), input_names=["input_ids", "attention_mask"])
                    p = prepare_fx(gm, get_default_qconfig_mapping("x86"), (calib[0],))
                except Exception as e2:
                    raise RuntimeError(f"prepare_fx on the model: {first}; on transformers' fx "
                                       f"trace: {type(e2).__name__}: {str(e2).splitlines()[0]}")
            with torch.no_grad():
                for c in calib:
                    p(**c)
            ao_fx = convert_fx(p)
    except Exception as e:
        ao_fx_why = str(e)
    engines = [("fp32 eager", m), ("lpot static int8", q.model),
               ("lpot static int8, attention matmuls fp32", q_mm32.model), ("lpot dynamic int8", qd.model),
               ("torch.ao dynamic int8 (quantize_dynamic Linear)", ao_dyn)]
    if ao_fx is not None:
        engines.append(("torch.ao FX static int8 (x86)", ao_fx))
    # fidelity on 16 random inputs (two batches of 8)
    xs = [tm.bert_batch(30522, 8, BERT_SEQ, seed=200 + i, pad=16) for i in range(2)]
    fid = {}
    with torch.no_grad():
        ref = torch.cat([_logits(m(**x)) for x in xs])
        for name, e in engines[1:]:
            fid[name] = _bert_fidelity(ref, torch.cat([_logits(e(**x)) for x in xs]))
    # round robin: each round runs every engine once, so load from other work on
    # this shared machine falls on all of them alike; median per engine
    lat = {}
    with torch.no_grad():
        for bs in BERT_BATCHES:
            x = tm.bert_batch(30522, bs, BERT_SEQ, seed=300)
            ts = {name: [] for name, _ in engines}
            for name, e in engines:
                e(**x)   # warm-up
            for _ in range(BERT_REPS.get(bs, 3)):
                for name, e in engines:
                    t = time.perf_counter()
                    e(**x)
                    ts[name].append(time.perf_counter() - t)
            for name, _ in engines:
                lat[(name, bs)] = statistics.median(ts[name])
    lines.append("")
    lines.append("### BERT-base (seq %d, transformers %s BertForSequenceClassification from "
                 "BertConfig, 10 labels, random weights, eager attention)" % (BERT_SEQ, transformers.__version__))
    lines.append("")
    lines.append("Latency: %s rounds after a warm-up, each round running every engine once (round "
                 "robin, so other work on the machine hits all alike); median per engine." %
                 " / ".join(f"{BERT_REPS.get(b, 3)} (batch {b})" for b in BERT_BATCHES))
    lines.append("")
    lines.append("| engine | batch | ms (median) | fp32/engine | logits cosine vs fp32 | top-1 agree (16 inputs) |")
    lines.append("|---|---|---|---|---|---|")
    for bs in BERT_BATCHES:
        f = lat[("fp32 eager", bs)]
        for name, _ in engines:
            c, t1 = fid.get(name, (1.0, 1.0))
            lines.append("| %s | %d | %.1f | %.2fx | %.4f | %.3f |" % (name, bs, lat[(name, bs)] * 1e3,
                                                                      f / lat[(name, bs)], c, t1))
    for bs in BERT_BATCHES:
        ls, ld, ao = (lat[("lpot static int8", bs)], lat[("lpot dynamic int8", bs)],
                      lat[("torch.ao dynamic int8 (quantize_dynamic Linear)", bs)])
        lm = lat[("lpot static int8, attention matmuls fp32", bs)]
        lines.append(f"- batch {bs}: torch.ao dynamic / lpot static = {ao / ls:.2f}x "
                     f"(matmuls fp32: {ao / lm:.2f}x), "
                     f"torch.ao dynamic / lpot dynamic = {ao / ld:.2f}x (> 1: lpot faster)")
    if ao_fx is None:
        lines.append(f"- torch.ao FX static (x86): not measured: {ao_fx_why}")
    r = q.report
    kinds = {}
    for o in r["ops"]:
        kinds.setdefault((o["type"], o["dtype"]), 0)
        kinds[(o["type"], o["dtype"])] += 1
    lines.append("- lpot static: capture = %s; ops %s; %d u8 chains; fusions: %d GELU; quantize %.1f s "
                 "(dynamic %.1f s)" % (r["capture"], ", ".join(f"{t} {d} x{n}" for (t, d), n in sorted(kinds.items())),
                                      len(r["chains"]), sum("gelu" in f for f in r["fusions"]), t_static, t_dyn))
    x1 = tm.bert_batch(30522, 1, BERT_SEQ, seed=300)
    tf_, pf = _type_profile(m, x1)
    tq_, pq = _type_profile(q.model, x1)
    td_, pd = _type_profile(qd.model, x1)
    lines.append("- where the time goes at batch 1 (ms per forward, module forwards timed; 3 runs): "
                 "fp32 %.1f = %s; lpot static %.1f = %s; lpot dynamic %.1f = %s"
                 % (tf_ * 1e3, ", ".join(f"{k} {v * 1e3:.1f}" for k, v in sorted(pf.items(), key=lambda kv: -kv[1])),
                    tq_ * 1e3, ", ".join(f"{k} {v * 1e3:.1f}" for k, v in sorted(pq.items(), key=lambda kv: -kv[1])),
                    td_ * 1e3, ", ".join(f"{k} {v * 1e3:.1f}" for k, v in sorted(pd.items(), key=lambda kv: -kv[1]))))
    # the GEMM ceiling: BERT-base's Linear shapes alone at M = 128 (batch 1)
    from lpot import nn as lnn

    gemm = []
    for k_, n_ in ((768, 768), (768, 3072), (3072, 768)):
        lin = torch.nn.Linear(k_, n_)
        xin = torch.randn(BERT_SEQ, k_)
        ql = lnn.QuantLinear.from_float(lin, 0.05, 128)
        t32 = median_latency(lin, xin, 15)
        t8 = median_latency(ql, xin, 15)
        gemm.append(f"{k_}->{n_}: fp32 {t32 * 1e3:.2f} ms, lpot int8 {t8 * 1e3:.2f} ms "
                    f"({t32 / t8:.2f}x, {kernels.last_impl()['linear']})")
    lines.append("- BERT-base Linear shapes alone at M=128 (median of 15): " + "; ".join(gemm))
    lines.append("- reading: Linear GEMMs are most of lpot's time; on AVX2 without VNNI an u8 x s8 "
                 "GEMM needs vpmaddubsw + vpmaddwd (two multiply uops per 32 MACs) against one FMA "
                 "per 8 fp32 MACs, so ~2x per GEMM is the ceiling (the shapes above) and the fp32 "
                 "rest (softmax, mask, residual adds, LayerNorm, graph overhead) is shared; "
                 "VNNI's vpdpbusd (one uop per 32 MACs, 8-bit weights) is what 2.5x+ needs.")
    # the 24 attention matmuls per forward, from the per-module profile (less noisy
    # than the difference of two whole-model medians)
    d = pq.get("QuantMatmul", 0.0) - pd.get("Matmul", 0.0)
    if d > 0:
        lines.append(f"- the 24 int8 attention matmuls take {pq.get('QuantMatmul', 0) * 1e3:.1f} ms per "
                     f"forward against {pd.get('Matmul', 0) * 1e3:.1f} ms in fp32 (profile above): at "
                     "seq 128 quantizing both operands and the layout copies outweigh the small "
                     "GEMMs; chaining u8 from the Q/K/V Linears through view/transpose and one "
                     "kernel for scale + mask + softmax -> u8 would remove that")
    else:
        lines.append(f"- the 24 int8 attention matmuls take {pq.get('QuantMatmul', 0) * 1e3:.1f} ms per "
                     f"forward against {pd.get('Matmul', 0) * 1e3:.1f} ms in fp32 (profile above)")
    for line in lines:
        print(line)
    return lines


def report(rows, notes, bert_lines, load0, t_start):
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
    emit("- torch %s; ONE thread for every engine; load average at start %.2f %.2f %.2f, at end "
         "%.2f %.2f %.2f" % (torch.__version__, *load0, *os.getloadavg()))
    emit("- models: %s" % ", ".join(MODELS))
    if rows:
        emit("- table below: latency = median of %d (batch 1) / %d (batch 32) runs after a warm-up"
             % (REPS[1], REPS[32]))
        emit("- lpot: static PTQ via PyTorchAdaptor default config (u8 asym minmax activations, "
             "per-channel sym weights, Conv+BN folded, ReLU fused, u8 chaining); torch.ao: prepare_fx/"
             "convert_fx with get_default_qconfig_mapping('x86'), same calibration batches")
        emit("- fidelity columns: lpot / torch.ao (vs fp32 on the same 32 inputs; digits: test "
             "accuracy fp32 / lpot / torch.ao)")
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
    if rows and not PT2E:
        emit("- PT2E + X86InductorQuantizer: not measured in this run (--pt2e: torchao PT2E + "
             "torch.compile, minutes of compilation per model and batch size)")
    if PT2E_ROWS:
        import torchao
        emit()
        emit("PT2E (torchao %s prepare_pt2e/convert_pt2e, X86InductorQuantizer default config, "
             "same calibration batches, then torch.compile; one thread; latency after the "
             "compiling call): " % torchao.__version__)
        emit()
        emit("| model | batch | PT2E int8 ms | lpot int8 ms | fp32 eager ms | fp32/PT2E | "
             "lpot vs PT2E | PT2E prepare+compile s | PT2E fidelity |")
        emit("|---|---|---|---|---|---|---|---|---|")
        for name, bs, pt, l, f, tc, fid in PT2E_ROWS:
            if isinstance(pt, str):
                emit("| %s | %d | %s | %.2f | %.2f | | | | |" % (name, bs, pt, l * 1e3, f * 1e3))
            else:
                emit("| %s | %d | %.2f | %.2f | %.2f | %.2fx | %.2fx | %.0f | %s |"
                     % (name, bs, pt * 1e3, l * 1e3, f * 1e3, f / pt, pt / l, tc, fid))
    for line in bert_lines:
        emit(line)
    emit()
    emit("bench wall time: %.0f s" % (time.time() - t_start))
    emit()
    if not QUICK:
        with open(os.path.join(ROOT, "bench", "RESULTS.md"), "a") as f:
            f.write("\n" + "\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
