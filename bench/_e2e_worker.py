"""One tool, one model, one run directory: tune, then measure; prints one
E2E_RESULT JSON line (bench/_e2e_common.emit). Started by bench_end_to_end.py:

    <python> bench/_e2e_worker.py --tool lpot|inc --run-dir DIR

lpot runs under the bench's own interpreter (lpot's venv), INC under
bench/.venv-inc/bin/python (no lpot there: only torch, numpy and the INC
package). Everything runs on one thread.
"""
from __future__ import annotations

import argparse
import logging
import os
import sys
import time
import traceback
from typing import Any, Dict

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import torch  # noqa: E402

import _e2e_common as ec  # noqa: E402

LPOT_YAML = """\
# LPOT 1.x configuration (SPEC.md schema), written by bench/_e2e_worker.py
version: 1.0
model:
  name: bench_{model}
  framework: pytorch
quantization:
  approach: post_training_static_quant
  calibration:
    sampling_size: [{calib}]
tuning:
  strategy:
    name: basic
  accuracy_criterion:
    relative: {goal}
    higher_is_better: true
  exit_policy:
    timeout: 0
    max_trials: {max_trials}
  random_seed: 9527
  workspace:
    path: {workspace}
"""


class _Calib:
    """(input, dummy label) samples for lpot's common.DataLoader."""

    def __init__(self, x: Any) -> None:
        self.x = x

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, i: int) -> Any:
        return self.x[i], 0


def run_lpot(run_dir: str, spec: Dict[str, Any], data: Dict[str, Any]) -> Dict[str, Any]:
    # this checkout's lpot (built in place), not whatever an editable install in the venv points to
    sys.path.insert(0, ec.ROOT)
    import lpot
    from lpot import kernels
    from lpot.experimental import Quantization, common

    kernels.set_num_threads(1)
    conf = os.path.join(run_dir, "lpot_conf.yaml")
    with open(conf, "w") as f:
        f.write(LPOT_YAML.format(model=spec["model"], calib=len(data["calib"]), goal=spec["relative_goal"],
                                 max_trials=spec["max_trials"], workspace=os.path.join(run_dir, "lpot_ws")))
    model = ec.build_model(spec)
    ev = ec.CountedEval(data["eval_x"], data["eval_y"], spec["eval_batch"])
    q = Quantization(conf)
    q.model = common.Model(model)
    q.calib_dataloader = common.DataLoader(_Calib(data["calib"]), batch_size=spec["calib_batch"])
    q.eval_func = ev
    t0 = time.perf_counter()
    qm = q()
    tuning_s = time.perf_counter() - t0
    rep = q.report or {}
    out: Dict[str, Any] = {"version": lpot.__version__, "lpot_path": os.path.dirname(lpot.__file__),
                           "tuning_s": tuning_s, "evals": ev.calls,
                           "eval_s": ev.seconds, "trials": rep.get("trials"),
                           "api": "lpot.experimental.Quantization (LPOT 1.x YAML, basic strategy)"}
    if qm is None:   # LPOT's contract: None when no config meets the goal; measure the best so far
        out["note"] = ("returned None (goal not met); figures are for the best model so far "
                       f"(q.best_so_far): {rep.get('message', '').split(';')[0]}")
        qm = getattr(q, "best_so_far", None)
        if qm is None:
            out.update(status="no_goal", reason=f"returned None: {rep.get('message', '')}")
            return out
    r = qm.report or rep
    out["int8_ops"] = r.get("int8_ops")
    out["fp32_ops"] = r.get("fp32_ops")
    out["int8_module"] = qm.model
    return out


def run_inc(run_dir: str, spec: Dict[str, Any], data: Dict[str, Any]) -> Dict[str, Any]:
    import neural_compressor
    from neural_compressor.torch.export import export
    from neural_compressor.torch.quantization import StaticQuantConfig, TuningConfig, autotune

    model = ec.build_model(spec)
    ev = ec.CountedEval(data["eval_x"], data["eval_y"], spec["eval_batch"])
    calib = torch.from_numpy(data["calib"])
    cb = spec["calib_batch"]
    example = (calib[:cb],)
    batch = torch.export.Dim("batch", min=1, max=4096)

    def run_fn(m: Any) -> None:
        with torch.no_grad():
            for i in range(0, len(calib), cb):
                m(calib[i:i + cb])

    t0 = time.perf_counter()
    # INC 3.x without IPEX: PT2E static quantization of the exported graph
    # (batch dimension dynamic, so eval batches and batch-1 latency both run)
    exported = export(model, example_inputs=example, dynamic_shapes=({0: batch},))
    cfg = TuningConfig(config_set=[StaticQuantConfig.get_config_set_for_tuning()],
                       tolerable_loss=spec["relative_goal"], max_trials=spec["max_trials"])
    qm = autotune(exported, cfg, eval_fn=ev, run_fn=run_fn, example_inputs=example)
    tuning_s = time.perf_counter() - t0
    out: Dict[str, Any] = {"version": neural_compressor.__version__, "tuning_s": tuning_s, "evals": ev.calls,
                           "eval_s": ev.seconds, "trials": max(ev.calls - 1, 0),
                           "api": "neural_compressor.torch.quantization.autotune (PT2E static, "
                                  "StaticQuantConfig.get_config_set_for_tuning())"}
    if qm is None:
        out.update(status="no_goal", reason="autotune returned None")
        return out
    out["int8_module"] = getattr(qm, "model", qm)
    if spec.get("inc_compile"):
        out["compile"] = True
    return out


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tool", choices=("lpot", "inc"), required=True)
    ap.add_argument("--run-dir", required=True)
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    torch.set_num_threads(1)
    spec = ec.read_spec(args.run_dir)
    data = ec.load_data(args.run_dir)
    try:
        out = (run_lpot if args.tool == "lpot" else run_inc)(args.run_dir, spec, data)
    except Exception as e:  # noqa: BLE001 - the driver records "did not run: <reason>"
        traceback.print_exc()
        ec.emit({"status": "failed", "reason": f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"})
        return 1
    int8 = out.pop("int8_module", None)
    compile_too = out.pop("compile", False)
    if int8 is not None:
        ev = ec.CountedEval(data["eval_x"], data["eval_y"], spec["eval_batch"])
        fp32_model = ec.build_model(spec)
        out["fp32_acc"] = ev(fp32_model)
        out["int8_acc"] = ev(int8)
        out["met_goal"] = out["int8_acc"] >= out["fp32_acc"] * (1 - spec["relative_goal"])
        runs = spec["latency_runs"]
        lat = ec.latency_pair(fp32_model, int8, data["latency_x"], runs)
        out["fp32_ms"], out["int8_ms"] = lat[0] * 1e3, lat[1] * 1e3
        out["threads"] = torch.get_num_threads()
        if compile_too:
            try:
                t0 = time.perf_counter()
                comp = torch.compile(int8)
                with torch.no_grad():
                    comp(torch.from_numpy(data["latency_x"]))
                out["compile_s"] = time.perf_counter() - t0
                lat = ec.latency_pair(torch.compile(fp32_model), comp, data["latency_x"], runs)
                out["fp32_compiled_ms"], out["int8_compiled_ms"] = lat[0] * 1e3, lat[1] * 1e3
            except Exception as e:  # noqa: BLE001
                out["compile_error"] = f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"
        out.setdefault("status", "ok")
    ec.emit(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
