"""Component: what Quantization and Benchmark share (configuration, model,
dataloaders, metric, eval_func, postprocess), with LPOT 1.x precedence.

Every property is checked when it is set: a wrong type raises TypeError
naming the property (`Quantization.eval_func must be ...`).

Evaluation precedence (LPOT 1.x): eval_func; else eval_dataloader + metric
(the metric from code, else evaluation.accuracy.metric in the YAML); else no
evaluation. A dataloader set in code wins over the YAML `dataloader:` block.
"""
from __future__ import annotations

import logging
import os
from typing import Any, Callable, Dict, Mapping, Optional, Tuple

from lpot import ConfigError, ModelError
from lpot.experimental import common

logger = logging.getLogger("lpot")


def _strip_none(d: Any) -> Any:
    """A config section without None values (None = 'use the default')."""
    if isinstance(d, Mapping):
        return {k: _strip_none(v) for k, v in d.items() if v is not None}
    if isinstance(d, list):
        return [_strip_none(v) for v in d]
    return d


def _get(cfg: Any, *path: str) -> Any:
    for p in path:
        if not isinstance(cfg, Mapping):
            return None
        cfg = cfg.get(p)
    return cfg


class Component:
    """Base of the user-facing components. `conf` is a YAML path, YAML text,
    a dict or an lpot.conf.Config; it is loaded and validated at once."""

    def __init__(self, conf_fname_or_obj: Any = None) -> None:
        from lpot.conf import Config

        self._name = type(self).__name__
        if conf_fname_or_obj is None:
            raise ConfigError(f"{self._name}: a configuration is required (a YAML path, a dict or "
                              "an lpot.conf.Config)")
        if isinstance(conf_fname_or_obj, Config):
            self.conf = conf_fname_or_obj
        elif isinstance(conf_fname_or_obj, (str, bytes, os.PathLike, Mapping)):
            self.conf = Config(conf_fname_or_obj)
        else:
            raise TypeError(f"{self._name}: the configuration must be a YAML path, YAML text, a dict "
                            f"or an lpot.conf.Config, got {type(conf_fname_or_obj).__name__}")
        self._model: Optional[common.Model] = None
        self._eval_dataloader: Any = None
        self._metric: Any = None
        self._eval_func: Optional[Callable[[Any], Any]] = None
        self._postprocess: Any = None

    # ---- helpers ------------------------------------------------------------
    def _type_error(self, prop: str, expected: str, value: Any) -> TypeError:
        return TypeError(f"{self._name}.{prop} must be {expected}, got {type(value).__name__}")

    def _check_loader(self, prop: str, value: Any) -> Any:
        if value is None:
            return None
        if isinstance(value, (str, bytes, Mapping)) or not hasattr(value, "__iter__"):
            raise self._type_error(prop, "a dataloader (common.DataLoader, lpot.data.DataLoader, a "
                                   "torch DataLoader or any iterable of batches)", value)
        return value

    @property
    def framework(self) -> str:
        return str(self.conf.model.framework)

    # ---- properties ---------------------------------------------------------
    @property
    def model(self) -> Optional[common.Model]:
        return self._model

    @model.setter
    def model(self, user_model: Any) -> None:
        if user_model is None:
            raise self._type_error("model", "a model (common.Model, a framework model or a path)", None)
        if isinstance(user_model, common.Model):
            self._model = user_model
            return
        try:
            self._model = common.Model(user_model, framework=self._framework_hint(user_model))
        except ModelError as e:
            raise ModelError(f"{self._name}.model: {e}") from e

    def _framework_hint(self, user_model: Any) -> Optional[str]:
        """The YAML framework when the model's family agrees with it (pytorch_fx
        vs pytorch, onnxrt_integerops vs _qlinearops: the YAML decides)."""
        from lpot.adaptor import detect_registered
        from lpot.model import detect_framework

        detected = detect_registered(user_model) or detect_framework(user_model)
        yaml_fw = self.framework
        if detected.split("_")[0] == yaml_fw.split("_")[0]:
            return yaml_fw
        return detected

    @property
    def eval_dataloader(self) -> Any:
        return self._eval_dataloader

    @eval_dataloader.setter
    def eval_dataloader(self, dataloader: Any) -> None:
        self._eval_dataloader = self._check_loader("eval_dataloader", dataloader)

    @property
    def metric(self) -> Any:
        return self._metric

    @metric.setter
    def metric(self, user_metric: Any) -> None:
        if user_metric is None:
            self._metric = None
            return
        if isinstance(user_metric, common.Metric):
            self._metric = user_metric
            return
        if isinstance(user_metric, (Mapping, str)):
            from lpot.metric import create_metric

            self._metric = create_metric(user_metric, self.framework, f"{self._name}.metric")
            return
        if isinstance(user_metric, type):
            raise self._type_error("metric", "common.Metric(cls) or a metric instance (pass the class "
                                   "wrapped: common.Metric(cls))", user_metric)
        missing = [m for m in ("update", "reset", "result") if not callable(getattr(user_metric, m, None))]
        if missing:
            raise self._type_error("metric", "common.Metric(cls), a YAML metric block like {'topk': 1}, "
                                   "or an object with update(pred, label), reset() and result()",
                                   user_metric)
        self._metric = user_metric

    @property
    def eval_func(self) -> Optional[Callable[[Any], Any]]:
        return self._eval_func

    @eval_func.setter
    def eval_func(self, user_eval_func: Any) -> None:
        if user_eval_func is not None and not callable(user_eval_func):
            raise self._type_error("eval_func", "a callable taking the model and returning a number",
                                   user_eval_func)
        self._eval_func = user_eval_func

    @property
    def postprocess(self) -> Any:
        return self._postprocess

    @postprocess.setter
    def postprocess(self, user_postprocess: Any) -> None:
        if user_postprocess is not None and not isinstance(user_postprocess, common.Postprocess) \
                and not callable(user_postprocess):
            raise self._type_error("postprocess", "common.Postprocess(cls) or a callable "
                                   "(pred, label) -> (pred, label)", user_postprocess)
        self._postprocess = user_postprocess

    # ---- resolution (what an adaptor receives) --------------------------------
    def _require_model(self) -> common.Model:
        if self._model is None:
            raise ModelError(f"{self._name}: no model; set {self._name.lower()[:1]}.model = "
                             "common.Model(your_model) first")
        return self._model

    def _build_loader(self, loader: Any, yaml_block: Any, where: str) -> Any:
        if loader is not None:
            return loader.build(self.framework) if isinstance(loader, common.DataLoader) else loader
        if yaml_block:
            from lpot.data import create_dataloader

            return create_dataloader(_strip_none(yaml_block), self.framework,
                                     seed=_get(self.conf, "tuning", "random_seed"), where=where)
        return None

    def _resolve_metric(self, section: str = "accuracy") -> Any:
        m = self._metric
        if m is None:
            block = _get(self.conf, "evaluation", section, "metric")
            if block:
                from lpot.metric import create_metric

                return create_metric(dict(block), self.framework, f"evaluation.{section}.metric")
            return None
        return m.instance() if isinstance(m, common.Metric) else m

    def _resolve_postprocess(self, section: str = "accuracy") -> Any:
        p = self._postprocess
        if p is None:
            block = _get(self.conf, "evaluation", section, "postprocess", "transform")
            if block:
                from lpot.data import create_transform

                t = create_transform(_strip_none(block), self.framework,
                                     f"evaluation.{section}.postprocess.transform")
                return _SampleTransform(t)
            return None
        return p.instance() if isinstance(p, common.Postprocess) else p

    def _resolve_eval(self) -> Tuple[str, Dict[str, Any]]:
        """('eval_func' | 'dataloader' | 'none', adaptor keyword arguments)."""
        if self._eval_func is not None:
            if self._eval_dataloader is not None or self._metric is not None:
                logger.info("%s: eval_func is set; eval_dataloader/metric are not used", self._name)
            return "eval_func", {"eval_func": self._eval_func}
        loader = self._build_loader(self._eval_dataloader,
                                    _get(self.conf, "evaluation", "accuracy", "dataloader"),
                                    "evaluation.accuracy.dataloader")
        metric = self._resolve_metric()
        if loader is not None and metric is None:
            raise ConfigError(f"{self._name}: an evaluation dataloader is set but no metric: set "
                              f"{self._name.lower()[:1]}.metric = common.Metric(cls) or "
                              "evaluation.accuracy.metric in the YAML (or give an eval_func)")
        if loader is None:
            if metric is not None and self._metric is not None:
                logger.warning("%s: a metric is set but no eval_dataloader; it is not used", self._name)
            return "none", {}
        return "dataloader", {"eval_dataloader": loader, "metric": metric,
                              "postprocess": self._resolve_postprocess()}


class _SampleTransform:
    """A YAML postprocess transform applied to (pred, label)."""

    def __init__(self, t: Callable[[Any], Any]) -> None:
        self.t = t

    def __call__(self, sample: Any) -> Any:
        return self.t(sample)
