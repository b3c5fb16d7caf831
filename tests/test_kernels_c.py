"""The int8 kernels driven from plain C (no Python), under AddressSanitizer
and LeakSanitizer: exact int32 results and no leaks across create/run/destroy."""
import glob
import os
import shutil
import subprocess

import pytest

from conftest import ROOT, SANITIZED


def test_c_driver_under_asan_lsan(tmp_path):
    if SANITIZED:
        pytest.skip("runs its own sanitizer build; the preloaded runtime would clash")
    if shutil.which("gcc") is None:
        pytest.skip("no gcc")
    import sys
    sys.path.insert(0, os.path.join(ROOT, "tools"))
    from build_deps import BuildDepError, find_onednn
    try:
        dnnl = find_onednn()
    except BuildDepError as e:
        pytest.skip(str(e))
    srcs = [os.path.join(ROOT, "tests", "c", "test_qkernels.c"), os.path.join(ROOT, "csrc", "status.c")]
    srcs += sorted(glob.glob(os.path.join(ROOT, "csrc", "kernels", "*.c")))
    exe = str(tmp_path / "test_qkernels")
    cmd = (["gcc", "-std=c11", "-D_GNU_SOURCE", "-fopenmp", "-O1", "-g", "-Wall", "-Wextra", "-Werror",
            "-fsanitize=address,undefined", "-fno-sanitize-recover=undefined",
            "-I" + os.path.join(ROOT, "csrc")] + ["-I" + d for d in dnnl.include_dirs] + srcs
           + ["-L" + d for d in dnnl.library_dirs] + ["-Wl,-rpath," + d for d in dnnl.library_dirs]
           + ["-ldnnl", "-lm", "-lpthread", "-o", exe])
    r = subprocess.run(cmd, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    env = dict(os.environ, ASAN_OPTIONS="detect_leaks=1", LPOT_DISABLE_CPU_FEATURES="")
    env.pop("LD_PRELOAD", None)
    r = subprocess.run([exe], capture_output=True, text=True, env=env, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.strip() == "ok"
