"""Build and run the plain-C unit tests (tests/c/*.c) against the engine's
plain-C sources, without Python: proves those files need no interpreter,
and runs them under ASan/UBSan when the suite runs sanitized."""
import glob
import os
import shutil
import subprocess

import pytest

from conftest import ROOT, SANITIZED

# plain-C engine sources the C tests link (no Python.h in any of them)
PLAIN_C = ["csrc/status.c", "csrc/kernels/cpu.c", "csrc/kernels/dispatch.c"] + sorted(
    glob.glob(os.path.join(ROOT, "csrc/kernels/*_ref.c")) +
    glob.glob(os.path.join(ROOT, "csrc/kernels/*_x86.c")))


def test_plain_c_sources_do_not_include_python():
    for src in PLAIN_C:
        path = src if os.path.isabs(src) else os.path.join(ROOT, src)
        with open(path) as f:
            text = f.read()
        assert "Python.h" not in text and '"module.h"' not in text, src


@pytest.mark.parametrize("test_src", sorted(glob.glob(os.path.join(ROOT, "tests/c/test_*.c"))),
                         ids=os.path.basename)
def test_c_unit(tmp_path, test_src):
    cc = shutil.which("gcc") or shutil.which("cc")
    if cc is None:
        pytest.skip("no C compiler on this machine")
    exe = tmp_path / "t"
    flags = ["-std=c11", "-D_GNU_SOURCE", "-Wall", "-Wextra", "-Werror", "-O1", "-g"]
    if SANITIZED:
        flags += ["-fsanitize=address,undefined", "-fno-sanitize-recover=undefined"]
    srcs = [s if os.path.isabs(s) else os.path.join(ROOT, s) for s in PLAIN_C]
    build = subprocess.run([cc, *flags, "-I", os.path.join(ROOT, "csrc"), test_src, *srcs,
                            "-lm", "-lpthread", "-o", str(exe)], capture_output=True, text=True)
    assert build.returncode == 0, build.stderr
    env = {k: v for k, v in os.environ.items() if k != "LD_PRELOAD"}
    run = subprocess.run([str(exe)], capture_output=True, text=True, env=env, timeout=60)
    assert run.returncode == 0, run.stdout + run.stderr
    assert run.stdout.strip().endswith("0 failed")
