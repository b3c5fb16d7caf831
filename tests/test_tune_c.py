"""The plain-C layer of the tuning engine (space, loop, strategies, journal)
builds and runs without Python: tests/c/test_tune_engine.c."""
import glob
import os
import shutil
import subprocess

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_tune_engine_from_c(tmp_path):
    cc = shutil.which("gcc") or shutil.which("cc")
    if cc is None:
        pytest.skip("no C compiler")
    src = [os.path.join(ROOT, "csrc", f) for f in
           ("tune.c", "tune_space.c", "tune_journal.c", "status.c")]
    src += [f for f in glob.glob(os.path.join(ROOT, "csrc", "strategy", "*.c"))
            if not f.endswith("_py.c")]
    exe = tmp_path / "test_tune_engine"
    flags = ["-std=c11", "-D_GNU_SOURCE", "-Wall", "-Wextra", "-Werror", "-O1", "-g",
             "-fsanitize=address,undefined", "-fno-sanitize-recover=undefined"]
    build = subprocess.run([cc, *flags, "-I", os.path.join(ROOT, "csrc"), "-o", str(exe),
                            os.path.join(ROOT, "tests", "c", "test_tune_engine.c"), *src, "-lm"],
                           capture_output=True, text=True)
    assert build.returncode == 0, build.stderr
    env = {k: v for k, v in os.environ.items() if k != "LD_PRELOAD"}
    env["ASAN_OPTIONS"] = "detect_leaks=1"
    p = subprocess.run([str(exe)], capture_output=True, text=True, env=env, timeout=120)
    assert p.returncode == 0, p.stdout + p.stderr
    assert p.stdout.startswith("ok ") and int(p.stdout.split()[1]) > 40
