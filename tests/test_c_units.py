"""Build and run the plain-C unit tests (tests/c/test_*.c) against every
plain-C engine source, without Python: proves those files need no
interpreter. Always built with ASan+UBSan and run with leak detection."""
import functools
import glob
import os
import shutil
import subprocess
import sys

import pytest

from conftest import ROOT

BINDING_MARKERS = ("<Python.h>", '"module.h"', '"npy.h"', '"errors.h"')


def _is_binding(path: str) -> bool:
    """The binding layer (DESIGN.md): module.c, errors.c, *_py.c type files,
    adaptors/python.c, and anything that includes Python's headers."""
    name = os.path.relpath(path, os.path.join(ROOT, "csrc"))
    if name in ("module.c", "errors.c", "adaptors/python.c") or name.endswith("_py.c"):
        return True
    with open(path) as f:
        text = f.read()
    return any(m in text for m in BINDING_MARKERS)


def plain_c_sources():
    srcs = sorted(glob.glob(os.path.join(ROOT, "csrc", "**", "*.c"), recursive=True))
    return [s for s in srcs if not _is_binding(s)]


@functools.lru_cache(maxsize=None)
def _objects(out_dir: str):
    """Compile the plain-C engine once per session into out_dir."""
    cc = shutil.which("gcc") or shutil.which("cc")
    flags = ["-std=c11", "-D_GNU_SOURCE", "-Wall", "-Wextra", "-Werror", "-O1", "-g",
             "-fopenmp", "-fsanitize=address,undefined", "-fno-sanitize-recover=undefined",
             "-I", os.path.join(ROOT, "csrc"), "-I", os.path.join(sys.prefix, "include")]
    objs = []
    for i, src in enumerate(plain_c_sources()):
        obj = os.path.join(out_dir, f"{i}_{os.path.basename(src)}.o")
        r = subprocess.run([cc, *flags, "-c", src, "-o", obj], capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
        objs.append(obj)
    return cc, flags, tuple(objs)


def test_plain_c_sources_exclude_bindings():
    names = {os.path.relpath(s, ROOT) for s in plain_c_sources()}
    assert "csrc/status.c" in names and "csrc/kernels/cpu.c" in names
    assert "csrc/module.c" not in names and "csrc/errors.c" not in names
    for s in names:
        assert not s.endswith("_py.c"), s


@pytest.mark.parametrize("test_src", sorted(glob.glob(os.path.join(ROOT, "tests/c/test_*.c"))),
                         ids=os.path.basename)
def test_c_unit(tmp_path_factory, tmp_path, test_src):
    if shutil.which("gcc") is None and shutil.which("cc") is None:
        pytest.skip("no C compiler on this machine")
    cc, flags, objs = _objects(str(tmp_path_factory.getbasetemp()))
    exe = tmp_path / "t"
    libdir = os.path.join(sys.prefix, "lib")
    build = subprocess.run([cc, *flags, test_src, *objs, "-L", libdir, f"-Wl,-rpath,{libdir}",
                            "-ldnnl", "-lyaml", "-lm", "-lpthread", "-o", str(exe)],
                           capture_output=True, text=True)
    assert build.returncode == 0, build.stderr
    env = {k: v for k, v in os.environ.items() if k != "LD_PRELOAD"}
    env["ASAN_OPTIONS"] = "detect_leaks=1"
    run = subprocess.run([str(exe)], capture_output=True, text=True, env=env, timeout=120,
                         cwd=str(tmp_path))
    assert run.returncode == 0, run.stdout + run.stderr
    out = run.stdout.strip().splitlines()[-1]
    # each C test ends with "N passed, 0 failed", "ok" or "ok N"
    assert out.endswith(" 0 failed") or out == "ok" or out.startswith("ok "), out
