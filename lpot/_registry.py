"""Name -> class registries shared by lpot.data and lpot.metric.

A registry is a read-mostly mapping.  It is also callable with a framework
name, as LPOT 1.x scripts did (``DATASETS('onnxrt')['dummy']``); the call
validates the framework and returns the same registry, since everything
registered here is framework-neutral.
"""
from __future__ import annotations

import difflib
import inspect
from typing import Any, Callable, Dict, Iterator, Mapping, Optional, TypeVar

from lpot._engine import ConfigError

T = TypeVar("T")

# Framework names accepted in YAML (model.framework) and by LPOT 1.x scripts.
FRAMEWORKS = (
    "tensorflow", "tensorflow_itex", "keras",
    "pytorch", "pytorch_fx", "pytorch_ipex",
    "onnxrt", "onnxrt_qlinearops", "onnxrt_integerops", "onnxrt_qdq", "onnxruntime",
    "mxnet", "engine",
)


def did_you_mean(name: str, choices: Any) -> str:
    """' (did you mean 'X'?)' for the closest choice, or '' when none is close."""
    close = difflib.get_close_matches(str(name), [str(c) for c in choices], n=1, cutoff=0.6)
    if not close:
        lowered = {str(c).lower(): str(c) for c in choices}
        if str(name).lower() in lowered:
            close = [lowered[str(name).lower()]]
    return f" (did you mean '{close[0]}'?)" if close else ""


def framework_family(framework: Optional[str]) -> str:
    """Map a framework name to its family: 'pytorch', 'onnxrt', 'tensorflow',
    'mxnet', 'engine'; None means 'any'.  Unknown names are a ConfigError."""
    if framework is None:
        return "any"
    fw = str(framework).lower()
    if fw not in FRAMEWORKS:
        raise ConfigError(f"unknown framework '{framework}'{did_you_mean(fw, FRAMEWORKS)}; "
                          f"expected one of: {', '.join(FRAMEWORKS)}")
    if fw.startswith("pytorch"):
        return "pytorch"
    if fw.startswith("onnxr"):
        return "onnxrt"
    if fw in ("tensorflow", "tensorflow_itex", "keras"):
        return "tensorflow"
    return fw


class Registry(Mapping[str, Any]):
    """A mapping from registered names to classes (or factories)."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._items: Dict[str, Any] = {}

    def register(self, name: str, obj: Any = None) -> Any:
        """Register obj under name; usable as a decorator when obj is None."""
        def deco(o: T) -> T:
            if name in self._items and self._items[name] is not o:
                raise ConfigError(f"{self.kind} '{name}' is already registered")
            self._items[name] = o
            return o
        return deco if obj is None else deco(obj)

    def __getattr__(self, name: str) -> Dict[str, Any]:
        # LPOT 1.x spelled the contents METRICS(fw).metrics, DATASETS(fw).datasets, ...
        if name == self.__dict__.get("kind", "") + "s":
            return dict(self._items)
        raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'")

    def __call__(self, framework: Optional[str] = None, *_unused: Any) -> "Registry":
        framework_family(framework)
        return self

    def lookup(self, name: str, where: str = "") -> Any:
        """The entry for name, or a ConfigError naming where it was asked for."""
        try:
            return self._items[name]
        except (KeyError, TypeError):
            pass
        at = f"{where}: " if where else ""
        raise ConfigError(f"{at}unknown {self.kind} '{name}'{did_you_mean(name, self._items)}; "
                          f"known: {', '.join(sorted(self._items))}")

    def __getitem__(self, name: str) -> Any:
        return self.lookup(name)

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}, {sorted(self._items)})"


def construct(factory: Callable[..., T], args: Any, where: str,
              first_positional: bool = True) -> T:
    """Call factory with YAML args: a mapping (keyword arguments), None (no
    arguments) or, when first_positional, one scalar/list (the first
    parameter).  Argument mistakes become a ConfigError naming `where`."""
    if args is None:
        kwargs: Dict[str, Any] = {}
        pos: tuple = ()
    elif isinstance(args, Mapping):
        kwargs = {str(k): v for k, v in args.items()}
        pos = ()
    elif first_positional:
        kwargs, pos = {}, (args,)
    else:
        raise ConfigError(f"{where}: expected a mapping of arguments, got {args!r}")
    try:
        sig = inspect.signature(factory)
    except (TypeError, ValueError):  # pragma: no cover - builtins without signature
        sig = None
    if sig is not None:
        params = sig.parameters
        takes_var_kw = any(p.kind is p.VAR_KEYWORD for p in params.values())
        if not takes_var_kw:
            names = [n for n, p in params.items()
                     if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
            for k in kwargs:
                if k not in names:
                    raise ConfigError(f"{where}: unexpected argument '{k}'{did_you_mean(k, names)}; "
                                      f"accepted: {', '.join(names) or '(none)'}")
        try:
            sig.bind(*pos, **kwargs)
        except TypeError as e:
            raise ConfigError(f"{where}: {e}") from None
    try:
        return factory(*pos, **kwargs)
    except ConfigError:
        raise
    except FileNotFoundError:
        raise
    except (TypeError, ValueError) as e:
        raise ConfigError(f"{where}: {e}") from e
