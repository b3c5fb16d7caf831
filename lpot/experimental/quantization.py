"""Quantization: LPOT 1.x's post-training (static/dynamic) and QAT entry point.

    q = Quantization('conf.yaml')           # or a Config or a dict
    q.model = common.Model(model)
    q.calib_dataloader = common.DataLoader(ds, batch_size=32)
    q.eval_dataloader = ...; q.metric = ...   # or q.eval_func = fn(model) -> float
    q_model = q()                            # QuantizedModel, or None (reason logged)

q() builds the Config, the framework adaptor (lpot.adaptor.create_adaptor)
and runs lpot.tuning.tune. The workspace (tuning.workspace.path) receives the
tuning journal (history.jsonl), best_tune_cfg.json and deploy.yaml (the
configuration of the returned model, loadable by lpot.conf.Config). When no
configuration meets the goal, q() returns None, logs why (best accuracy vs
target, trials, time) and keeps the best model so far in
<workspace>/best_so_far/ with its configuration in best_so_far.yaml.
Without any evaluation (no eval_func, no eval dataloader), the model is
quantized once with the default configuration.
"""
from __future__ import annotations

import logging
import math
import os
import re
import time
from typing import Any, Callable, Dict, Mapping, Optional

from lpot import ConfigError, ModelError
from lpot.experimental import common
from lpot.experimental.component import Component, _get, _strip_none

logger = logging.getLogger("lpot")

DEPLOY_NAME = "deploy.yaml"
BEST_SO_FAR_DIR = "best_so_far"
BEST_SO_FAR_YAML = "best_so_far.yaml"
_OPFIELDS = ("dtype", "scheme", "granularity", "algorithm")
_NAME_RE = re.compile(r"^[A-Za-z0-9.][A-Za-z0-9_.\-/]*$")


class Quantization(Component):
    """See the module documentation."""

    def __init__(self, conf_fname_or_obj: Any = None) -> None:
        super().__init__(conf_fname_or_obj)
        self._calib_dataloader: Any = None
        self._q_func: Optional[Callable[[Any], Any]] = None
        self.result: Any = None          # the lpot.tuning.TuningResult of the last run
        self.workspace: Optional[str] = None
        self.best_so_far: Any = None     # the best model so far when q() returned None
        self.report: Optional[Dict[str, Any]] = None  # the figures of the last run

    @property
    def calib_dataloader(self) -> Any:
        return self._calib_dataloader

    @calib_dataloader.setter
    def calib_dataloader(self, dataloader: Any) -> None:
        self._calib_dataloader = self._check_loader("calib_dataloader", dataloader)

    @property
    def q_func(self) -> Optional[Callable[[Any], Any]]:
        return self._q_func

    @q_func.setter
    def q_func(self, user_q_func: Any) -> None:
        if user_q_func is not None and not callable(user_q_func):
            raise self._type_error("q_func", "a callable training the model in place (QAT)", user_q_func)
        self._q_func = user_q_func

    # ---- the run -------------------------------------------------------------
    def __call__(self) -> Any:
        from lpot.adaptor import create_adaptor

        model = self._require_model()
        framework = model.framework
        yaml_fw = self.framework
        if framework.split("_")[0] != yaml_fw.split("_")[0]:
            raise ModelError(f"Quantization.model is a {framework} model but the YAML says "
                             f"model.framework: {yaml_fw}")
        framework = yaml_fw
        approach = _get(self.conf, "quantization", "approach") or "post_training_static_quant"
        calib = self._build_loader(self._calib_dataloader,
                                   _get(self.conf, "quantization", "calibration", "dataloader"),
                                   "quantization.calibration.dataloader")
        if approach == "post_training_static_quant" and calib is None:
            raise ConfigError("Quantization.calib_dataloader: post_training_static_quant needs "
                              "calibration data: set q.calib_dataloader = common.DataLoader(...) or "
                              "quantization.calibration.dataloader in the YAML")
        if approach == "quant_aware_training" and self._q_func is None:
            raise ConfigError("Quantization.q_func: quant_aware_training needs q.q_func = "
                              "train(model) (the training loop)")
        kind, eval_kw = self._resolve_eval()
        self.workspace = os.path.abspath(str(_get(self.conf, "tuning", "workspace", "path")
                                             or "./lpot_workspace"))
        os.makedirs(self.workspace, exist_ok=True)
        adaptor = create_adaptor(framework, model.model, self.conf, calib_dataloader=calib,
                                 q_func=self._q_func, **eval_kw)
        quant = _strip_none(self.conf.quantization.to_dict())
        start = time.perf_counter()
        if kind == "none":
            return self._quantize_once(adaptor, quant, start)
        from lpot.tuning import tune

        tuning = _strip_none(self.conf.tuning.to_dict())
        logger.info("Quantization: tuning %s (%s evaluation), workspace %s", framework,
                    "eval_func" if kind == "eval_func" else "dataloader + metric", self.workspace)
        r = tune(adaptor, tuning, self.workspace, quantization=quant)
        self.result = r
        elapsed = time.perf_counter() - start
        report = {"evaluated": True, "accuracy": r.best_accuracy, "baseline": r.baseline,
                  "target": r.target, "relative_loss": _rel(r.best_accuracy, r.baseline),
                  "objective": _get(self.conf, "tuning", "objective"),
                  "measures": {k: (None if isinstance(v, float) and math.isnan(v) else v)
                               for k, v in r.best_measures.items()}, "trials": r.trials,
                  "evaluations": r.evaluations, "replayed": r.replayed,
                  "tuning_time": elapsed, "stop": r.stop, "message": r.message,
                  "fallback_ops": list(r.fallback_ops), "journal": r.journal,
                  "best_tune_cfg_file": r.best_file, "workspace": self.workspace}
        self.report = report
        if not r.found:
            self._keep_best_so_far(adaptor, r, report)
            logger.warning("Quantization returned None: %s", r.message)
            return None
        qm = r.model
        report["deploy"] = self._write_deploy(r.best_tune_cfg, DEPLOY_NAME)
        report.update(_speed_check(adaptor, qm))
        _merge_report(qm, report)
        logger.info("Quantization: %s", r.message)
        return qm

    def _quantize_once(self, adaptor: Any, quant: Mapping[str, Any], start: float) -> Any:
        from lpot.tuning import build_space

        logger.warning("Quantization: no eval_func and no eval dataloader + metric: quantizing once "
                       "with the default configuration (no accuracy check)")
        space = build_space(adaptor.query_capability(), quant)
        tc = space.tune_cfg(space.modelwise_cfg(0, 0))
        qm = adaptor.quantize(tc)
        if qm is None:
            raise ModelError("the adaptor's quantize() returned None")
        fallback = [n for i, n in enumerate(space.op_names)
                    if space.options(i)[space.modelwise_cfg(0, 0)[i]]["precision"] != "int8"]
        report = {"evaluated": False, "accuracy": None, "baseline": None, "target": None,
                  "relative_loss": None, "objective": _get(self.conf, "tuning", "objective"),
                  "measures": {}, "trials": 1, "evaluations": 0, "replayed": 0,
                  "tuning_time": time.perf_counter() - start, "stop": "no_evaluation",
                  "message": "quantized once with the default configuration (no evaluation given)",
                  "fallback_ops": fallback, "journal": None, "best_tune_cfg_file": None,
                  "workspace": self.workspace}
        report["deploy"] = self._write_deploy(tc, DEPLOY_NAME)
        self.report = report
        _merge_report(qm, report)
        return qm

    fit = __call__

    # ---- files in the workspace ----------------------------------------------------
    def _write_deploy(self, tune_cfg: Optional[Dict[str, Any]], name: str) -> Optional[str]:
        """The configuration with op_wise set to every op's chosen options and
        the chosen calibration sampling size (loads with lpot.conf.Config)."""
        if tune_cfg is None or self.workspace is None:
            return None
        from lpot.conf import Config, dump_yaml

        doc = self.conf.to_dict()
        q = doc.setdefault("quantization", {})
        op_wise: Dict[str, Any] = {}
        for key, val in tune_cfg["op"].items():
            op_name = key[0] if isinstance(key, tuple) else str(key)
            entry: Dict[str, Any] = {}
            for part in ("weight", "activation"):
                sub = (val or {}).get(part)
                if sub:
                    entry[part] = {f: sub[f] for f in _OPFIELDS if sub.get(f) is not None}
            op_wise[op_name if _NAME_RE.match(op_name) else re.escape(op_name)] = entry
        q["op_wise"] = op_wise
        q.setdefault("calibration", {})
        q["calibration"]["sampling_size"] = [int(tune_cfg["calib_sampling_size"])]
        text = dump_yaml(_strip_none(doc))
        try:
            Config(text)
        except ConfigError as e:  # never write a file lpot cannot read back
            logger.warning("%s not written: the best configuration does not validate: %s", name, e)
            return None
        path = os.path.join(self.workspace, name)
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
        return path

    def _keep_best_so_far(self, adaptor: Any, r: Any, report: Dict[str, Any]) -> None:
        report["best_so_far_config"] = self._write_deploy(r.best_tune_cfg, BEST_SO_FAR_YAML)
        m = r.best_so_far_model
        report["best_so_far_model"] = None
        if m is None or self.workspace is None:
            return
        path = os.path.join(self.workspace, BEST_SO_FAR_DIR)
        try:
            saver = getattr(m, "save", None)
            if callable(saver):
                saver(path)
            else:
                adaptor.save(m, path)
            report["best_so_far_model"] = path
            logger.warning("the best model so far is saved in %s", path)
        except (NotImplementedError, OSError, AttributeError) as e:
            logger.warning("could not save the best model so far: %s", e)
        self.best_so_far = m


def _rel(acc: Optional[float], base: Optional[float]) -> Optional[float]:
    if acc is None or base is None or not base or math.isnan(acc):
        return None
    return (acc - base) / abs(base)


def _speed_check(adaptor: Any, qm: Any) -> Dict[str, Any]:
    """fp32 vs int8 latency on the adaptor's fixed input (median of its runs),
    so that an int8 model slower than fp32 is said out loud, never silent."""
    bench = getattr(adaptor, "benchmark", None)
    if bench is None:
        return {}
    try:
        fp32 = float(bench(adaptor.fp32_model))
        int8 = float(bench(qm))
    except Exception as e:  # a failing benchmark must not lose the tuned model
        logger.warning("Quantization: could not compare fp32 and int8 latency: %s", e)
        return {"latency_check_error": str(e)}
    if not (fp32 > 0 and int8 > 0):
        return {}
    speedup = fp32 / int8
    out = {"latency_fp32": fp32, "latency_int8": int8, "speedup": speedup}
    if speedup < 1.0:
        feats = _int8_units_in_use()
        logger.warning(
            "Quantization: the int8 model is %.2fx SLOWER than fp32 on this CPU (%.3f ms vs "
            "%.3f ms per call on the adaptor's fixed input; int8 units in use: %s). Small "
            "models and batch 1 are dominated by per-call overhead; see report['ops'] for what "
            "runs in int8.", 1.0 / speedup, int8 * 1e3, fp32 * 1e3, feats or "none (no VNNI/AMX)")
        out["slower_than_fp32"] = True
    return out


def _int8_units_in_use() -> str:
    """The int8 dot-product units lpot dispatches to ('' when none)."""
    import lpot

    used = lpot.cpu_features()["used"]
    return ", ".join(f for f in ("amx_int8", "avx512_vnni", "avx_vnni") if used.get(f))


def _merge_report(qm: Any, report: Dict[str, Any]) -> None:
    """Add the tuner's figures to the adaptor's per-op report (adaptor keys win)."""
    rep = getattr(qm, "report", None)
    if not isinstance(rep, dict):
        try:
            qm.report = dict(report)
        except AttributeError:
            logger.warning("the quantized model (%s) cannot carry a report", type(qm).__name__)
        return
    for k, v in report.items():
        rep.setdefault(k, v)


__all__ = ["Quantization", "common", "DEPLOY_NAME"]
