"""The config layer is plain C: build tests/c/config_c_test.c against
csrc/config*.c + status.c + libyaml with ASan/UBSan (no Python involved)
and run its built-in cases and the shipped templates through it."""
import glob
import os
import shutil
import subprocess

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="module")
def binary(tmp_path_factory):
    if shutil.which("gcc") is None:
        pytest.skip("gcc not available")
    out = str(tmp_path_factory.mktemp("cbin") / "config_c_test")
    env = {k: v for k, v in os.environ.items() if k != "LD_PRELOAD"}
    cmd = ["gcc", "-std=c11", "-D_GNU_SOURCE", "-Wall", "-Wextra", "-Werror", "-g", "-O1",
           "-fsanitize=address,undefined", "-fno-sanitize-recover=undefined", "-Icsrc",
           "tests/c/config_c_test.c", "csrc/config.c", "csrc/config_schema.c", "csrc/status.c",
           "-lyaml", "-lm", "-o", out]
    r = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, env=env, timeout=300)
    assert r.returncode == 0, r.stderr
    # the config layer includes no Python header
    for src in ("csrc/config.c", "csrc/config_schema.c", "csrc/config.h", "csrc/config_internal.h"):
        with open(os.path.join(ROOT, src)) as f:
            assert "Python.h" not in f.read(), src
    return out


def _run(binary, *files):
    env = {k: v for k, v in os.environ.items() if k != "LD_PRELOAD"}
    env["ASAN_OPTIONS"] = "detect_leaks=1:abort_on_error=0"
    return subprocess.run([binary, *files], cwd=ROOT, capture_output=True, text=True, env=env,
                          timeout=300)


def test_c_driver_builtin_cases_and_templates(binary):
    templates = sorted(glob.glob(os.path.join(ROOT, "lpot", "conf", "templates", "*.yaml")))
    corpus = sorted(glob.glob(os.path.join(ROOT, "tests", "configs", "*.yaml")))
    r = _run(binary, *templates, *corpus)
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.splitlines() == [f"OK {p}" for p in templates + corpus]


def test_c_driver_reports_positions(binary, tmp_path):
    p = tmp_path / "bad.yaml"
    p.write_text("model: {name: m, framework: pytorch}\ntuning:\n  random_seed: -1\n")
    r = _run(binary, str(p))
    assert r.returncode == 1
    assert r.stdout.splitlines() == [
        f"{p}:3:16: tuning.random_seed: expected an integer in [0, 4294967295], got -1"]
