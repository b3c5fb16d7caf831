"""int8 kernels under LPOT_DISABLE_CPU_FEATURES: the results stay the same,
the ISA oneDNN reports follows the features lpot uses."""
import json

import numpy as np
import pytest

import lpot
from lpot import kernels as K

PROBE = r"""
import hashlib, json
import numpy as np
from lpot import kernels as K
rng = np.random.default_rng(3)
out, impl = {}, {}
w = rng.integers(-128, 128, (33, 129), dtype=np.int8)
x = rng.integers(0, 256, (17, 129), dtype=np.uint8)
p = K.PackedLinear(w, rng.uniform(0.01, 0.02, 33).astype(np.float32), rng.standard_normal(33).astype(np.float32))
out['lin_s32'] = K.qlinear(x, p, 0.1, 128, out_dtype='int32')
out['lin_u8'] = K.qlinear(x, p, 0.02, 128, out_dtype='uint8', out_scale=0.5, out_zp=10, post_ops=['relu'])
impl['linear'] = K.last_impl()['linear']
for bits in (7, 8):  # small M: lpot's own kernels where the CPU lacks VNNI (7-bit: u8 x s8)
    lo = -64 if bits == 7 else -128
    wg = rng.integers(lo, -lo + 1 if bits == 7 else 128, (67, 131), dtype=np.int8)
    pg = K.PackedLinear(wg, rng.uniform(0.01, 0.02, 67).astype(np.float32))
    for m in (1, 2, 3, 4):
        xu = rng.integers(0, 256, (m, 131), dtype=np.uint8)
        xs = rng.integers(-128, 128, (m, 131), dtype=np.int8)
        out['gemv%d_u8_%d' % (bits, m)] = K.qlinear(xu, pg, 0.1, 129, out_dtype='int32')
        out['gemv%d_s8_%d' % (bits, m)] = K.qlinear(xs, pg, 0.1, -5, out_dtype='int32')
    impl['gemv%d' % bits] = K.last_impl()['linear']
wc = rng.integers(-128, 128, (16, 8, 3, 3), dtype=np.int8)
xc = rng.integers(0, 256, (2, 8, 9, 9), dtype=np.uint8)
pc = K.PackedConv2d(wc, np.float32(0.01), stride=2, padding=1)
out['conv_s32'] = K.qconv2d(xc, pc, 0.1, 3, out_dtype='int32')
impl['conv2d'] = K.last_impl()['conv2d']
a = rng.integers(0, 256, (2, 5, 64), dtype=np.uint8); b = rng.integers(-128, 128, (2, 64, 7), dtype=np.int8)
out['mm_s32'] = K.qmatmul(a, b, 0.1, 9, 0.1, 0, out_dtype='int32')
impl['matmul'] = K.last_impl()['matmul']
print(json.dumps({'isa': K.last_impl()['isa'], 'impl': impl,
                  'digest': {k: hashlib.sha256(np.ascontiguousarray(v).tobytes()).hexdigest() for k, v in out.items()}}))
"""


def probe(py, disable=None):
    r = py(PROBE, env_extra={"LPOT_DISABLE_CPU_FEATURES": disable} if disable else {"LPOT_DISABLE_CPU_FEATURES": ""})
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


@pytest.fixture(scope="module")
def baseline():
    from conftest import run_python
    return probe(run_python)


@pytest.mark.parametrize("disable,feature", [("avx2", "avx2"), ("amx", "amx_int8"),
                                             ("amx,avx512_vnni", "avx512_vnni")])
def test_results_unchanged_isa_follows(py, baseline, disable, feature):
    got = probe(py, disable)
    assert got["digest"] == baseline["digest"]
    used = lpot.cpu_features()["used"]
    if used[feature]:
        assert got["isa"] != baseline["isa"], (disable, got["isa"])
    else:
        # the feature was not in use here: nothing changes
        assert got["isa"] == baseline["isa"]
        assert got["impl"] == baseline["impl"]


def test_avx2_off_changes_isa_here(py, baseline):
    if not lpot.cpu_features()["used"]["avx2"]:
        pytest.skip("this CPU does not use AVX2")
    got = probe(py, "avx2")
    assert got["isa"] in ("avx", "sse41") and baseline["isa"] != got["isa"]
    if baseline["isa"] == "avx2":  # no VNNI: lpot's own small-M kernels, none without AVX2
        assert (baseline["impl"]["gemv7"], baseline["impl"]["gemv8"]) == ("lpot:gemv_u8s8_avx2", "lpot:gemv_avx2")
        assert not got["impl"]["gemv7"].startswith("lpot:") and not got["impl"]["gemv8"].startswith("lpot:")


def _isa():
    return K.last_impl()["isa"]


@pytest.mark.skipif(not lpot.cpu_features()["used"]["amx_int8"],
                    reason="needs AMX int8 (this CPU has none or LPOT_DISABLE_CPU_FEATURES removed it)")
def test_amx_runs_amx_kernels():
    w = np.random.default_rng(0).integers(-128, 128, (768, 768), dtype=np.int8)
    p = K.PackedLinear(w, np.float32(0.01))
    x = np.random.default_rng(1).integers(0, 256, (128, 768), dtype=np.uint8)
    K.qlinear(x, p, 0.1, 128)
    assert "amx" in K.last_impl()["linear"] and "amx" in _isa()
    assert p.packed_bytes >= 768 * 768


@pytest.mark.skipif(not (lpot.cpu_features()["used"]["avx512_vnni"] or lpot.cpu_features()["used"]["avx_vnni"]),
                    reason="needs AVX512-VNNI or AVX-VNNI (this CPU has neither)")
def test_vnni_runs_without_split():
    """With VNNI the u8*s8 products accumulate in int32 directly: 8-bit
    weights and activations run in one oneDNN call, no split."""
    w = np.full((64, 256), -128, np.int8)
    x = np.full((8, 256), 255, np.uint8)
    got = K.qlinear(x, K.PackedLinear(w, np.float32(1)), 1.0, 0, out_dtype="int32")
    np.testing.assert_array_equal(got, np.full((8, 64), 255 * -128 * 256))
    assert not K.last_impl()["linear"].endswith("+split")
