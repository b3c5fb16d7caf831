"""End to end: lpot vs Intel Neural Compressor (INC), the same PyTorch models,
the same calibration data, the same eval function, the same goal.

Run by hand from the repository root (appends to bench/RESULTS.md):

    make bench-inc-venv                      # once: INC in its own venv, bench/.venv-inc
    .venv/bin/python bench/bench_end_to_end.py [--models mnist,bert] [--tools lpot,inc] [--quick]

What is measured, per model and tool (each tool in its own subprocess, one
thread: torch.set_num_threads(1) and lpot.kernels.set_num_threads(1)):
  - tuning wall time: the tool's tuning call from start to the returned model
    (lpot: Quantization()(), baseline and speed check included; INC: export +
    autotune());
  - full evaluations used: calls of the eval function handed to the tool
    (a counting wrapper), baseline included;
  - fp32 and int8 accuracy: the same eval function, run by the harness on the
    fp32 model and on the model the tool returned (not counted above);
    goal met = int8 >= fp32 * (1 - 1%);
  - batch-1 latency: median of N forwards after 2 warm-ups, same harness for
    fp32 and int8, their runs alternating; speed-up = fp32 / int8. INC's int8 model is a PT2E
    quantize/dequantize graph meant to be handed to torch.compile, so INC
    also gets its torch.compile'd latency (int8 and fp32) as extra figures.

Models (defined once, imported by file path in both venvs):
  - MNIST CNN: examples/mnist_cnn.py, the one `make demo` trains (cached);
    eval = top-1 on the MNIST test set; calibration = 200 training images.
  - BERT-base-shaped: tests/fixtures/torch_models.BertClassifier (12 x 768,
    12 heads, FFN 3072, seq 128; random weights from a seed, head fitted to
    the pooled features); eval = top-1 agreement with the fp32 model's
    predictions on held-out synthetic token sequences (fp32 scores 1.0).
Tuning: lpot through its LPOT 1.x API (YAML: basic strategy, relative 1%,
max_trials); INC through its own API for the installed version (3.x:
neural_compressor.torch autotune over StaticQuantConfig's tuning set,
tolerable_loss 1%, the same max_trials). A tool that fails, times out or is
not installed gets a row "did not run: <reason>".
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from typing import Any, Dict, List, Optional

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)
sys.path.insert(0, HERE)
os.environ.setdefault("LPOT_DEMO_CACHE", os.path.join(ROOT, ".lpot_demo_cache"))

import numpy as np  # noqa: E402
import torch  # noqa: E402

import _common  # noqa: E402

INC_VENV = os.path.join(HERE, ".venv-inc")
WORKER = os.path.join(HERE, "_e2e_worker.py")
GOAL = 0.01

# per model: full run / --quick
PARAMS = {
    "mnist": {"full": dict(n_eval=10000, n_calib=200, eval_batch=500, calib_batch=50, max_trials=30,
                           latency_runs=50, timeout=900),
              "quick": dict(n_eval=2000, n_calib=100, eval_batch=500, calib_batch=50, max_trials=5,
                            latency_runs=20, timeout=600)},
    "bert": {"full": dict(n_eval=48, n_calib=16, eval_batch=8, calib_batch=8, max_trials=5,
                          latency_runs=10, timeout=1800),
             "quick": dict(n_eval=16, n_calib=8, eval_batch=8, calib_batch=8, max_trials=2,
                           latency_runs=5, timeout=900)},
}


def prepare_mnist(run_dir: str, p: Dict[str, Any]) -> str:
    sys.path.insert(0, os.path.join(ROOT, "examples"))
    import mnist_cnn

    model, _, trained = mnist_cnn.load_or_train()
    if trained:
        print(f"  trained the MNIST CNN in {trained:.0f}s (cached)")
    x, y = mnist_cnn.mnist_arrays(train=False)
    xtr, _ = mnist_cnn.mnist_arrays(train=True)
    torch.save(model.state_dict(), os.path.join(run_dir, "weights.pt"))
    np.savez(os.path.join(run_dir, "data.npz"), calib=xtr[:p["n_calib"]], eval_x=x[:p["n_eval"]],
             eval_y=y[:p["n_eval"]], latency_x=x[:1])
    return f"MNIST CNN, {p['n_eval']} test images, calibration {p['n_calib']} training images"


def prepare_bert(run_dir: str, p: Dict[str, Any]) -> str:
    from tests.fixtures import torch_models as tm

    torch.set_num_threads(1)
    model = tm.BertClassifier(seed=0).eval()
    model.fit_head(torch.from_numpy(tm.bert_tokens(32, seed=2)))
    x = tm.bert_tokens(p["n_eval"], seed=1)
    with torch.no_grad():
        y = np.concatenate([model(torch.from_numpy(x[i:i + 8])).argmax(1).numpy() for i in range(0, len(x), 8)])
    torch.save({k: v for k, v in model.state_dict().items() if k.startswith("classifier.")},
               os.path.join(run_dir, "weights.pt"))
    np.savez(os.path.join(run_dir, "data.npz"), calib=tm.bert_tokens(p["n_calib"], seed=3), eval_x=x,
             eval_y=y.astype(np.int64), latency_x=tm.bert_tokens(1, seed=4))
    return (f"BERT-base-shaped (12x768, seq 128, random weights seed 0), {p['n_eval']} eval sequences "
            f"(fp32 classes {int((y == 0).sum())}/{int((y == 1).sum())}), calibration {p['n_calib']} sequences")


def run_worker(python: str, tool: str, run_dir: str, timeout: float) -> Dict[str, Any]:
    log = os.path.join(run_dir, f"{tool}.log")
    t0 = time.perf_counter()
    try:
        with open(log, "w") as f:
            proc = subprocess.run([python, WORKER, "--tool", tool, "--run-dir", run_dir], stdout=subprocess.PIPE,
                                  stderr=f, text=True, timeout=timeout, cwd=run_dir)
    except subprocess.TimeoutExpired:
        return {"status": "failed", "reason": f"timed out after {timeout:.0f}s (log {log})"}
    for line in proc.stdout.splitlines()[::-1]:
        if line.startswith("E2E_RESULT "):
            r = json.loads(line[len("E2E_RESULT "):])
            r["wall_s"] = time.perf_counter() - t0
            if r.get("status") == "failed":
                r["reason"] += f" (log {log})"
            return r
    with open(log) as f:
        tail = [ln for ln in f.read().splitlines() if ln.strip()][-1:]
    return {"status": "failed", "reason": f"exit {proc.returncode}: {tail[0] if tail else 'no output'} (log {log})"}


def inc_python(arg: Optional[str]) -> Optional[str]:
    py = arg or os.path.join(INC_VENV, "bin", "python")
    return py if os.path.isfile(py) and os.access(py, os.X_OK) else None


def fmt(v: Any, spec: str) -> str:
    return "-" if v is None else format(v, spec)


def table(rows: List[Dict[str, Any]]) -> List[str]:
    head = ("| model | tool | tuning s | full evals | fp32 acc | int8 acc | goal met | fp32 ms | int8 ms "
            "| speed-up | notes |")
    out = [head, "|" + "---|" * (head.count("|") - 1)]
    for r in rows:
        tool = f"{r['tool']} {r.get('version', '')}".strip()
        if r.get("status") not in ("ok", "no_goal"):
            out.append(f"| {r['model']} | {tool} | did not run: {r.get('reason', '?')} |||||||||")
            continue
        speed = r["fp32_ms"] / r["int8_ms"] if r.get("int8_ms") else None
        notes = []
        if r.get("trials") is not None:
            notes.append(f"{r['trials']} trial(s)")
        if r.get("int8_ops") is not None:
            notes.append(f"{r['int8_ops']} int8 / {r['fp32_ops']} fp32 ops")
        if r.get("int8_compiled_ms"):
            notes.append(f"torch.compile: int8 {r['int8_compiled_ms']:.2f} ms vs fp32 {r['fp32_compiled_ms']:.2f} ms "
                         f"= {r['fp32_compiled_ms'] / r['int8_compiled_ms']:.2f}x (compile {r['compile_s']:.0f}s)")
        if r.get("compile_error"):
            notes.append(f"torch.compile failed: {r['compile_error']}")
        if r.get("status") == "no_goal":
            notes.append(r.get("reason", ""))
        if r.get("note"):
            notes.append(r["note"])
        goal = None if r.get("met_goal") is None else ("yes" if r["met_goal"] else "no")
        out.append(f"| {r['model']} | {tool} | {fmt(r.get('tuning_s'), '.1f')} | {fmt(r.get('evals'), 'd')} | "
                   f"{fmt(r.get('fp32_acc'), '.4f')} | {fmt(r.get('int8_acc'), '.4f')} | {goal or '-'} | "
                   f"{fmt(r.get('fp32_ms'), '.2f')} | {fmt(r.get('int8_ms'), '.2f')} | "
                   f"{fmt(speed, '.2f')}{'x' if speed else ''} | {'; '.join(notes)} |")
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", default="mnist,bert", help="comma-separated: mnist,bert")
    ap.add_argument("--tools", default="lpot,inc", help="comma-separated: lpot,inc")
    ap.add_argument("--quick", action="store_true", help="fewer eval samples, fewer trials (development)")
    ap.add_argument("--inc-python", help=f"INC's interpreter (default {INC_VENV}/bin/python)")
    ap.add_argument("--no-compile", action="store_true", help="skip INC's torch.compile latency")
    ap.add_argument("--no-record", action="store_true", help="print only; do not append to RESULTS.md")
    args = ap.parse_args()
    models = [m for m in args.models.split(",") if m]
    tools = [t for t in args.tools.split(",") if t]
    bad = [m for m in models if m not in PARAMS] + [t for t in tools if t not in ("lpot", "inc")]
    if bad:
        ap.error(f"unknown model/tool: {', '.join(bad)}")
    mode = "quick" if args.quick else "full"
    load0 = os.getloadavg()[0]
    t_start = time.perf_counter()
    rows: List[Dict[str, Any]] = []
    described: List[str] = []
    inc_py = inc_python(args.inc_python)
    with tempfile.TemporaryDirectory(prefix="lpot_e2e_") as tmp:
        for model in models:
            p = PARAMS[model][mode]
            run_dir = os.path.join(tmp, model)
            os.makedirs(run_dir)
            print(f"== {model}: preparing data", flush=True)
            described.append((prepare_mnist if model == "mnist" else prepare_bert)(run_dir, p))
            spec = {"model": model, "seed": 0, "weights": os.path.join(run_dir, "weights.pt"),
                    "eval_batch": p["eval_batch"], "calib_batch": p["calib_batch"], "max_trials": p["max_trials"],
                    "relative_goal": GOAL, "latency_runs": p["latency_runs"], "inc_compile": not args.no_compile}
            with open(os.path.join(run_dir, "spec.json"), "w") as f:
                json.dump(spec, f)
            for tool in tools:
                print(f"== {model}: {tool}", flush=True)
                if tool == "inc" and inc_py is None:
                    r = {"status": "failed", "reason": f"no INC venv at {os.path.relpath(INC_VENV, ROOT)} "
                                                       "(create it with `make bench-inc-venv`)"}
                else:
                    r = run_worker(sys.executable if tool == "lpot" else inc_py, tool, run_dir, p["timeout"])
                    log = os.path.join(run_dir, f"{tool}.log")   # keep the log: the temp dir goes away
                    keep = os.path.join(HERE, f".e2e_{model}_{tool}.log")
                    if os.path.exists(log):
                        shutil.copyfile(log, keep)
                    hist = os.path.join(run_dir, "lpot_ws", "history.jsonl")   # lpot's tuning journal
                    if tool == "lpot" and os.path.exists(hist):
                        shutil.copyfile(hist, os.path.join(HERE, f".e2e_{model}_lpot_history.jsonl"))
                        if "reason" in r:
                            r["reason"] = r["reason"].replace(log, os.path.relpath(keep, ROOT))
                r.update(model=model, tool=tool)
                rows.append(r)
                print("   " + json.dumps({k: v for k, v in r.items() if k not in ("model", "tool")}), flush=True)
    lines = table(rows)
    print()
    print("\n".join(lines))
    total = time.perf_counter() - t_start
    if args.no_record:
        return 0
    sec = [f"## End to end: lpot vs Intel Neural Compressor{' (--quick)' if args.quick else ''}", ""]
    sec += _common.machine_lines()
    sec.append(f"- load average at start {load0:.1f}; total run {total:.0f}s; one thread per tool; "
               f"relative goal {GOAL:.0%}; max trials mnist {PARAMS['mnist'][mode]['max_trials']}, "
               f"bert {PARAMS['bert'][mode]['max_trials']}")
    sec += [f"- {d}" for d in described]
    threads = sorted({r["threads"] for r in rows if "threads" in r})
    sec.append(f"- torch threads in the workers: {threads or '-'}. lpot's tuning time includes its tuner's "
               "latency check of fp32 and of each trial on one calibration batch (tuning objective "
               "'performance'). INC's int8 model is a PT2E quantize/dequantize graph: eager it runs the "
               "reference ops; INC's documented deployment is torch.compile (figures in the notes)")
    sec.append(f"- command: `make bench-inc-venv && .venv/bin/python bench/bench_end_to_end.py "
               f"--models {','.join(models)} --tools {','.join(tools)}{' --quick' if args.quick else ''}`")
    sec += ["", *lines]
    _common.append_results("\n".join(sec))
    print(f"\nappended to {_common.RESULTS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
