"""lpot.conf.config: the parsed configuration as Python objects.

Parsing, validation and defaults are done by the C engine
(`lpot._engine.load_config`); this module only wraps the result. See
docs/config.md for the returned structure.
"""
from __future__ import annotations

import math
import os
import re
from typing import Any, Dict, Iterable, List, Mapping, Optional, Union

from lpot import _engine

Source = Union[str, bytes, "os.PathLike[str]", Mapping[str, Any]]

__all__ = ["Config", "DotDict", "load", "dump_yaml", "is_op_regex", "template_path",
           "template_names"]

_TEMPLATES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "templates")


def _wrap(value: Any) -> Any:
    if isinstance(value, dict) and not isinstance(value, DotDict):
        return DotDict(value)
    if isinstance(value, list):
        return [_wrap(v) for v in value]
    return value


def _unwrap(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _unwrap(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_unwrap(v) for v in value]
    return value


class DotDict(dict):
    """A dict whose keys are also attributes; nested dicts are DotDicts.

    `d.tuning.accuracy_criterion.relative` == `d['tuning']['accuracy_criterion']['relative']`.
    """

    def __init__(self, data: Optional[Mapping[str, Any]] = None, **kwargs: Any) -> None:
        super().__init__()
        for k, v in dict(data or {}, **kwargs).items():
            dict.__setitem__(self, k, _wrap(v))

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(f"no configuration key {name!r}") from None

    def __setattr__(self, name: str, value: Any) -> None:
        if name.startswith("_"):
            object.__setattr__(self, name, value)
        else:
            self[name] = value

    def __setitem__(self, key: str, value: Any) -> None:
        dict.__setitem__(self, key, _wrap(value))

    def __delattr__(self, name: str) -> None:
        try:
            del self[name]
        except KeyError:
            raise AttributeError(name) from None

    def to_dict(self) -> Dict[str, Any]:
        """Plain nested dicts and lists (a deep copy)."""
        return _unwrap(self)


def _looks_like_text(s: str) -> bool:
    if "\n" in s or not s.strip():
        return True
    if s.endswith((".yaml", ".yml")) or os.path.exists(s):
        return False
    return ":" in s or s.lstrip().startswith(("{", "#"))


def load(source: Source, filename: Optional[str] = None) -> Dict[str, Any]:
    """Parse and validate a configuration; plain dicts with defaults filled.

    source: a path (str ending in .yaml/.yml, an existing file, or
    os.PathLike), YAML text (str with a newline or a 'key: value', or bytes)
    or a mapping. Raises lpot.ConfigError (with .errors) or OSError.
    """
    if isinstance(source, Mapping):
        data = source if isinstance(source, dict) else dict(source)
        return _engine.load_config("dict", data, filename)
    if isinstance(source, bytes):
        return _engine.load_config("text", source, filename)
    if isinstance(source, os.PathLike):
        return _engine.load_config("path", os.fspath(source), filename)
    if isinstance(source, str):
        kind = "text" if _looks_like_text(source) else "path"
        return _engine.load_config(kind, source, filename)
    raise TypeError(f"a configuration is a path, YAML text or a dict, not {type(source).__name__}")


class Config(DotDict):
    """An LPOT 1.x configuration, validated and with every default filled.

    Config('conf.yaml'), Config(yaml_text), Config({'model': {...}}) or
    Config(other_config). Attribute and item access; to_dict(); to_yaml()
    (Config(c.to_yaml()) == c).
    """

    def __init__(self, source: Source, *, filename: Optional[str] = None) -> None:
        data = load(source, filename)
        super().__init__(data)
        if filename is None and isinstance(source, (str, os.PathLike)) and not (
                isinstance(source, str) and _looks_like_text(source)):
            filename = os.fspath(source)
        self._filename = filename

    @property
    def filename(self) -> Optional[str]:
        """The file the configuration came from (None for text or dicts)."""
        return self._filename

    def to_yaml(self) -> str:
        """YAML text that loads back to an equal Config."""
        return dump_yaml(self)

    def __repr__(self) -> str:
        model = self.get("model") or {}
        return (f"Config(model={model.get('name')!r}, framework={model.get('framework')!r}, "
                f"source={self._filename!r})")


# ---- YAML emitter (block style; what the engine's loader reads back) --------------

_PLAIN = re.compile(r"[A-Za-z_/][A-Za-z0-9_./\-]*\Z")
_RESERVED = {"true", "false", "yes", "no", "on", "off", "null", "y", "n"}


def _is_printable(c: str) -> bool:
    o = ord(c)
    if o in (0x09, 0x0A, 0x0D):
        return False  # escaped in double quotes for a one-line scalar
    return (0x20 <= o <= 0x7E or o == 0x85 or 0xA0 <= o <= 0xD7FF or 0xE000 <= o <= 0xFFFD
            or 0x10000 <= o <= 0x10FFFF)


def _quote(s: str) -> str:
    out = ['"']
    for c in s:
        if c == '"' or c == "\\":
            out.append("\\" + c)
        elif _is_printable(c):
            out.append(c)
        elif c == "\n":
            out.append("\\n")
        elif c == "\t":
            out.append("\\t")
        elif ord(c) <= 0xFF:
            out.append(f"\\x{ord(c):02x}")
        elif ord(c) <= 0xFFFF:
            out.append(f"\\u{ord(c):04x}")
        else:
            out.append(f"\\U{ord(c):08x}")
    out.append('"')
    return "".join(out)


def _scalar(v: Any) -> str:
    if v is None:
        return "null"
    if v is True:
        return "true"
    if v is False:
        return "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if math.isnan(v):
            return ".nan"
        if math.isinf(v):
            return ".inf" if v > 0 else "-.inf"
        return repr(v)
    s = str(v)
    if _PLAIN.match(s) and s.lower() not in _RESERVED:
        return s
    return _quote(s)


def _flow(v: Any) -> str:
    if isinstance(v, dict):
        return "{" + ", ".join(f"{_scalar(str(k))}: {_flow(x)}" for k, x in v.items()) + "}"
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_flow(x) for x in v) + "]"
    return _scalar(v)


def _block(v: Any, indent: int, lines: List[str]) -> None:
    pad = " " * indent
    for k, x in v.items():
        key = _scalar(str(k))
        if isinstance(x, dict) and x:
            lines.append(f"{pad}{key}:")
            _block(x, indent + 2, lines)
        elif isinstance(x, (list, tuple)) and any(isinstance(i, dict) and i for i in x):
            lines.append(f"{pad}{key}:")
            _items(x, indent + 2, lines)
        else:
            lines.append(f"{pad}{key}: {_flow(x)}")


def _items(seq: Iterable[Any], indent: int, lines: List[str]) -> None:
    pad = " " * indent
    for item in seq:
        if isinstance(item, dict) and item:
            sub: List[str] = []
            _block(item, indent + 2, sub)
            sub[0] = pad + "- " + sub[0][indent + 2:]
            lines.extend(sub)
        else:
            lines.append(f"{pad}- {_flow(item)}")


def dump_yaml(data: Mapping[str, Any]) -> str:
    """Block-style YAML for a configuration mapping (strings quoted when needed)."""
    lines: List[str] = []
    _block(dict(data), 0, lines)
    return "\n".join(lines) + "\n"


def is_op_regex(key: str) -> bool:
    """An op_wise key is a regular expression unless it matches
    ^[A-Za-z0-9.][A-Za-z0-9_.\\-/]*$ (then it is an exact op name)."""
    return not _engine._config_is_op_name(key)


def template_names() -> List[str]:
    """Names of the shipped templates (ptq, qat, pruning, ...)."""
    return sorted(f[:-5] for f in os.listdir(_TEMPLATES) if f.endswith(".yaml"))


def template_path(name: str) -> str:
    """Path of a shipped template: template_path('ptq') -> .../templates/ptq.yaml."""
    path = os.path.join(_TEMPLATES, name if name.endswith(".yaml") else name + ".yaml")
    if not os.path.isfile(path):
        raise FileNotFoundError(f"no template {name!r}; available: {', '.join(template_names())}")
    return path
