"""Find the native dependencies of lpot's engine at build time.

Used by setup.py; importable on its own so tests can check the messages.
Each finder returns paths or raises BuildDepError with one line that says
how to fix the machine.
"""
from __future__ import annotations

import glob
import os
import sys
import sysconfig
from dataclasses import dataclass, field
from typing import Iterable, List, Optional, Sequence

LIBYAML_HINT = ("lpot: libyaml development files not found (yaml.h and libyaml.so); "
                "install them with: apt-get install libyaml-dev")
ONEDNN_HINT = ("lpot: oneDNN v3 not found (oneapi/dnnl/dnnl.h and libdnnl.so); "
               "install it with: pip install onednn-cpu-gomp==2023.2.0 "
               "onednn-devel-cpu-gomp==2023.2.0 (or set LPOT_ONEDNN_ROOT)")

SYSTEM_INCLUDE_DIRS = ["/usr/local/include", "/usr/include"]
SYSTEM_LIB_DIRS = ["/usr/local/lib", "/usr/lib/x86_64-linux-gnu", "/usr/lib64",
                   "/usr/lib/aarch64-linux-gnu", "/usr/lib"]


class BuildDepError(RuntimeError):
    """A native dependency is missing; str() is the one-line fix."""


@dataclass
class NativeDep:
    include_dirs: List[str] = field(default_factory=list)
    library_dirs: List[str] = field(default_factory=list)
    libraries: List[str] = field(default_factory=list)


def _first_with(dirs: Iterable[str], pattern: str) -> Optional[str]:
    for d in dirs:
        if d and glob.glob(os.path.join(d, pattern)):
            return d
    return None


def find_libyaml(include_dirs: Sequence[str] = SYSTEM_INCLUDE_DIRS,
                 lib_dirs: Sequence[str] = SYSTEM_LIB_DIRS) -> NativeDep:
    inc = _first_with(include_dirs, "yaml.h")
    lib = _first_with(lib_dirs, "libyaml.so") or _first_with(lib_dirs, "libyaml.a")
    if inc is None or lib is None:
        raise BuildDepError(LIBYAML_HINT)
    # the compiler searches the system directories by itself
    return NativeDep([] if inc in SYSTEM_INCLUDE_DIRS else [inc],
                     [] if lib in SYSTEM_LIB_DIRS else [lib], ["yaml"])


def onednn_prefixes() -> List[str]:
    """Install prefixes that may hold a pip-installed oneDNN: the env var,
    this interpreter's data prefix, and the prefix above every site-packages
    on sys.path (pip's isolated build environments live there)."""
    out: List[str] = []
    env = os.environ.get("LPOT_ONEDNN_ROOT")
    if env:
        out.append(env)
    out.append(sysconfig.get_paths()["data"])
    out.append(sys.prefix)
    for p in sys.path:
        if p.endswith("site-packages"):
            out.append(os.path.normpath(os.path.join(p, "..", "..", "..")))
    seen, uniq = set(), []
    for p in out:
        if p not in seen:
            seen.add(p)
            uniq.append(p)
    return uniq


def find_onednn(prefixes: Optional[Sequence[str]] = None) -> NativeDep:
    for prefix in prefixes if prefixes is not None else onednn_prefixes():
        inc = os.path.join(prefix, "include")
        lib = os.path.join(prefix, "lib")
        if (os.path.exists(os.path.join(inc, "oneapi", "dnnl", "dnnl.h"))
                and glob.glob(os.path.join(lib, "libdnnl.so*"))):
            return NativeDep([inc], [lib], ["dnnl"])
    raise BuildDepError(ONEDNN_HINT)
