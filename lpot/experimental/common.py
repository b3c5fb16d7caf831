"""lpot.experimental.common: the wrappers LPOT 1.x scripts hand to components.

    common.Model(obj)                 framework detected (torch.nn.Module, onnx.ModelProto, path)
    common.DataLoader(dataset, batch_size=1, collate_fn=None, last_batch='rollover',
                      sampler=None, shuffle=False)   records the arguments; the real
                                      loader is built once the framework is known
    common.Metric(cls, name='user_metric', **kwargs)       update/reset/result
    common.Postprocess(cls, name='user_postprocess', **kwargs)
    common.Criterions / common.Optimizers  name -> class registries (built lazily for torch)

No framework is imported here; detection only looks at modules already loaded.
"""
from __future__ import annotations

from typing import Any, Callable, Dict, Iterable, Optional

from lpot import ConfigError, ModelError

__all__ = ["Model", "DataLoader", "Metric", "Postprocess", "Criterions", "Optimizers"]


class Model:
    """A user model with its framework.

    Model(obj) detects the framework (a class registered with
    lpot.adaptor.register_adaptor that handles(obj) first, then
    lpot.model.detect_framework); Model(obj, framework='pytorch_fx') forces
    it. `.model` is the framework model, `.framework` the YAML name."""

    def __init__(self, root: Any, framework: Optional[str] = None, **kwargs: Any) -> None:
        if isinstance(root, Model):
            root, framework = root.model, framework or root.framework
        if root is None:
            raise ModelError("common.Model: the model is None")
        if framework is None:
            from lpot.adaptor import detect_registered
            from lpot.model import detect_framework

            framework = detect_registered(root) or detect_framework(root)
        self.model = root
        self.framework: str = framework
        self.kwargs = kwargs

    def __repr__(self) -> str:
        return f"common.Model({type(self.model).__name__}, framework={self.framework!r})"


class DataLoader:
    """Records a dataloader's arguments; `build(framework)` makes the real
    one (lpot.data.DataLoader: NumPy batches every adaptor accepts).
    Arguments are checked at once (a bad batch_size fails here, not later)."""

    def __init__(self, dataset: Any, batch_size: int = 1, collate_fn: Optional[Callable[..., Any]] = None,
                 last_batch: str = "rollover", sampler: Optional[Iterable[int]] = None,
                 batch_sampler: Optional[Iterable[Any]] = None, num_workers: int = 0,
                 pin_memory: bool = False, shuffle: bool = False, distributed: bool = False) -> None:
        if dataset is None:
            raise TypeError("common.DataLoader: dataset is None")
        if not (hasattr(dataset, "__getitem__") and hasattr(dataset, "__len__")) and \
                not hasattr(dataset, "__iter__"):
            raise TypeError(f"common.DataLoader: dataset must be indexable (__getitem__ and "
                            f"__len__) or iterable, got {type(dataset).__name__}")
        self.dataset = dataset
        self.batch_size = batch_size
        self.collate_fn = collate_fn
        self.last_batch = last_batch
        self.sampler = sampler
        self.batch_sampler = batch_sampler
        self.num_workers = num_workers
        self.pin_memory = pin_memory
        self.shuffle = shuffle
        self.distributed = distributed
        self._built: Dict[Optional[str], Any] = {}
        self.build(None)  # validates every argument now

    def build(self, framework: Optional[str] = None) -> Any:
        """The real loader for `framework` (cached)."""
        if framework not in self._built:
            from lpot.data import DataLoader as _Loader

            self._built[framework] = _Loader(
                self.dataset, batch_size=self.batch_size, last_batch=self.last_batch,
                collate_fn=self.collate_fn, sampler=self.sampler, batch_sampler=self.batch_sampler,
                num_workers=self.num_workers, pin_memory=self.pin_memory, shuffle=self.shuffle,
                distributed=self.distributed, framework=framework)
        return self._built[framework]

    def __iter__(self) -> Any:
        return iter(self.build(None))

    def __len__(self) -> int:
        return len(self.build(None))


class _Wrapped:
    kind = "object"

    def __init__(self, cls: Any, name: Optional[str] = None, **kwargs: Any) -> None:
        if not callable(cls):
            raise TypeError(f"common.{type(self).__name__}: expected a class, got {type(cls).__name__}")
        self.cls = cls
        self.name = name or f"user_{self.kind}"
        self.kwargs = kwargs

    def instance(self) -> Any:
        return self.cls(**self.kwargs)

    def __repr__(self) -> str:
        return f"common.{type(self).__name__}({getattr(self.cls, '__name__', self.cls)!r}, name={self.name!r})"


class Metric(_Wrapped):
    """common.Metric(cls, name='user_metric', **kwargs): cls(**kwargs) must
    have update(pred, label), reset() and result()."""

    kind = "metric"

    def __init__(self, metric_cls: Any, name: str = "user_metric", **kwargs: Any) -> None:
        super().__init__(metric_cls, name, **kwargs)
        if isinstance(metric_cls, type):
            missing = [m for m in ("update", "reset", "result") if not callable(getattr(metric_cls, m, None))]
            if missing:
                raise TypeError(f"common.Metric: {metric_cls.__name__} lacks {', '.join(missing)}() "
                                "(a metric needs update(pred, label), reset() and result())")


class Postprocess(_Wrapped):
    """common.Postprocess(cls, name='user_postprocess', **kwargs): cls(**kwargs)
    is called with (pred, label) and returns (pred, label)."""

    kind = "postprocess"

    def __init__(self, postprocess_cls: Any, name: str = "user_postprocess", **kwargs: Any) -> None:
        super().__init__(postprocess_cls, name, **kwargs)


class _LazyRegistry:
    """name -> factory of a framework object, built on first use so `import
    lpot.experimental` never imports torch. LPOT 1.x spelled it
    Criterions(framework)[name] / Optimizers(framework)[name]."""

    def __init__(self, kind: str, names: Dict[str, str]) -> None:
        self.kind = kind
        self._names = dict(names)   # our name -> torch.nn / torch.optim attribute
        self._user: Dict[str, Any] = {}

    def __call__(self, framework: str = "pytorch") -> "_LazyRegistry":
        if not str(framework).startswith("pytorch"):
            raise ConfigError(f"{self.kind}: only pytorch is built in this lpot build, got '{framework}'")
        return self

    def register(self, name: str, cls: Any) -> Any:
        self._user[name] = cls
        return cls

    def __contains__(self, name: object) -> bool:
        return name in self._names or name in self._user

    def names(self) -> list:
        return sorted(set(self._names) | set(self._user))

    def __getitem__(self, name: str) -> Any:
        if name in self._user:
            return self._user[name]
        if name not in self._names:
            raise ConfigError(f"unknown {self.kind} '{name}'; known: {', '.join(self.names())}")
        import importlib

        mod, attr = self._names[name].rsplit(".", 1)
        return getattr(importlib.import_module(mod), attr)


Criterions = _LazyRegistry("criterion", {"CrossEntropyLoss": "torch.nn.CrossEntropyLoss",
                                         "MSELoss": "torch.nn.MSELoss",
                                         "KLDivLoss": "torch.nn.KLDivLoss"})
Optimizers = _LazyRegistry("optimizer", {"SGD": "torch.optim.SGD", "Adam": "torch.optim.Adam",
                                         "AdamW": "torch.optim.AdamW"})
