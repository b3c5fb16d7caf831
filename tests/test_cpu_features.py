"""CPU detection: agrees with /proc/cpuinfo, override works, dispatch follows."""
import json
import os

import numpy as np
import pytest

import lpot
from lpot import _engine

# our name -> the flag Linux prints in /proc/cpuinfo
CPUINFO_FLAG = {
    "sse4.2": "sse4_2", "avx": "avx", "avx2": "avx2", "fma": "fma", "f16c": "f16c",
    "avx512f": "avx512f", "avx512bw": "avx512bw", "avx512vl": "avx512vl",
    "avx512dq": "avx512dq", "avx512_vnni": "avx512_vnni", "avx_vnni": "avx_vnni",
    "avx512_bf16": "avx512_bf16", "avx512_fp16": "avx512_fp16",
    "amx_tile": "amx_tile", "amx_int8": "amx_int8", "amx_bf16": "amx_bf16",
}


def cpuinfo_flags():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    pytest.skip("no /proc/cpuinfo flags on this system")


def test_features_shape_and_levels():
    f = lpot.cpu_features()
    assert set(f["cpu"]) == set(CPUINFO_FLAG)
    for name in CPUINFO_FLAG:
        # used implies os implies cpu
        assert not f["used"][name] or f["os"][name], name
        assert not f["os"][name] or f["cpu"][name], name
    assert f["isa"] in ("amx", "avx512_vnni", "avx512", "avx2", "scalar")
    assert f["vendor"] in ("GenuineIntel", "AuthenticAMD") or f["vendor"]
    assert f["onednn"]["version"].startswith("3.")
    assert f["onednn"]["isa"] != "default"
    assert f["kernels"]["minmax_f32_ref"] == "scalar"


def test_matches_proc_cpuinfo():
    flags = cpuinfo_flags()
    f = lpot.cpu_features()
    for name, flag in CPUINFO_FLAG.items():
        # the kernel hides flags it cannot save state for, so the kernel's view
        # equals what the OS allows
        assert f["os"][name] == (flag in flags), (name, f["os"][name], flag in flags)


def test_isa_level_follows_used_features():
    f = lpot.cpu_features()
    u = f["used"]
    expected = ("amx" if u["amx_int8"] else "avx512_vnni" if u["avx512_vnni"]
                else "avx512" if u["avx512bw"] else "avx2" if u["avx2"] and u["fma"]
                else "scalar")
    assert f["isa"] == expected
    want_kernel = "avx512" if u["avx512f"] else "avx2" if u["avx2"] else "scalar"
    assert f["kernels"]["minmax_f32"] == want_kernel


def _features_with(py, disable):
    r = py("import json, lpot; print(json.dumps(lpot.cpu_features()))",
           env_extra={"LPOT_DISABLE_CPU_FEATURES": disable})
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def test_override_reports_features_unused(py):
    f = _features_with(py, "avx512_vnni,amx")
    assert f["used"]["avx512_vnni"] is False
    for amx in ("amx_tile", "amx_int8", "amx_bf16"):
        assert f["used"][amx] is False
    assert {"avx512_vnni", "amx_tile", "amx_int8", "amx_bf16"} <= set(f["disabled"])
    assert f["isa"] not in ("amx", "avx512_vnni")
    # what the CPU has is still reported
    assert f["cpu"] == lpot.cpu_features()["cpu"]


def test_override_avx2_drops_dependents_and_lowers_dispatch(py):
    f = _features_with(py, "AVX2")
    assert f["used"]["avx2"] is False
    for dep in ("avx512f", "avx512bw", "avx512_vnni", "avx_vnni", "amx_int8"):
        assert f["used"][dep] is False, dep
    assert f["isa"] == "scalar"
    assert f["kernels"]["minmax_f32"] == "scalar"
    if lpot.cpu_features()["os"]["avx2"]:
        # oneDNN is capped below AVX2 too
        assert f["onednn"]["isa_cap"] in ("avx", "sse41")
        assert f["onednn"]["isa"] in ("avx", "sse41")


def test_override_unknown_name_warns(py):
    r = py("import warnings; warnings.simplefilter('always')\n"
           "import lpot; print(lpot.cpu_features()['unknown_disabled'])",
           env_extra={"LPOT_DISABLE_CPU_FEATURES": "avx2, sse9 ,bogus"})
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "sse9,bogus"
    assert "LPOT_DISABLE_CPU_FEATURES names unknown features: sse9,bogus" in r.stderr


@pytest.mark.parametrize("n", [0, 1, 2, 3, 5, 7, 15, 16, 17, 31, 33, 63, 127, 129, 255, 1023])
@pytest.mark.parametrize("stride", [1, 3])
def test_minmax_dispatch_equals_ref(n, stride):
    rng = np.random.default_rng(n * 10 + stride)
    base = (rng.standard_normal(n * stride) * 100).astype(np.float32)
    if n > 4:
        base[1] = np.nan
        base[min(3 * stride, len(base) - 1)] = np.inf
    x = base[::stride]
    got = _engine._minmax_f32(x)
    ref = _engine._minmax_f32(x, impl="ref")
    assert got == ref
    fin = x[np.isfinite(x)]
    if fin.size:
        assert got[:2] == (float(fin.min()), float(fin.max()))
    else:
        assert got[:2] == (float("inf"), float("-inf"))
    assert got[2] == int((~np.isfinite(x)).sum())


def test_minmax_large_releases_gil_and_is_correct():
    import threading
    x = np.random.default_rng(0).standard_normal(2_000_000).astype(np.float32)
    out = []
    ts = [threading.Thread(target=lambda: out.append(_engine._minmax_f32(x))) for _ in range(4)]
    [t.start() for t in ts]
    [t.join() for t in ts]
    assert out == [(float(x.min()), float(x.max()), 0)] * 4


def test_env_is_read_once_per_process():
    # detection happened at import; changing the variable now changes nothing
    before = lpot.cpu_features()
    os.environ["LPOT_DISABLE_CPU_FEATURES"] = "avx2"
    try:
        assert lpot.cpu_features() == before
    finally:
        del os.environ["LPOT_DISABLE_CPU_FEATURES"]
