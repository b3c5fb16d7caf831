"""The compiled module: import, exceptions, re-import, no framework at import."""
import importlib
import sys

import pytest

import lpot
from lpot import _engine


def test_exception_hierarchy():
    assert issubclass(lpot.ConfigError, lpot.LpotError)
    assert issubclass(lpot.ConfigError, ValueError)
    for cls in (lpot.ModelError, lpot.TuningError, lpot.KernelError):
        assert issubclass(cls, lpot.LpotError)
        assert not issubclass(cls, ValueError)
    assert issubclass(lpot.LpotError, Exception)
    assert lpot.ConfigError.__module__ == "lpot"
    assert lpot.ConfigError.__name__ == "ConfigError"
    assert "configuration" in lpot.ConfigError.__doc__


def test_kernel_error_from_engine_names_argument():
    with pytest.raises(lpot.KernelError, match=r"x: expected a 1-D float32 ndarray"):
        _engine._minmax_f32([1.0, 2.0])
    with pytest.raises(ValueError, match=r"impl: expected 'dispatch' or 'ref', got 'avx9'"):
        import numpy as np
        _engine._minmax_f32(np.zeros(3, np.float32), impl="avx9")


def test_import_lpot_does_not_import_frameworks(py):
    r = py("import sys, lpot; bad = [m for m in ('torch', 'tensorflow', 'onnxruntime', "
           "'onnx', 'mxnet') if m in sys.modules]; print(bad)")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "[]"


def test_reimport_gives_working_independent_module(py):
    # A second module object (multi-phase init) has its own state and works.
    r = py(
        "import sys, importlib, numpy as np\n"
        "import lpot._engine as a\n"
        "del sys.modules['lpot._engine']\n"
        "b = importlib.import_module('lpot._engine')\n"
        "assert a is not b and a.LpotError is not b.LpotError\n"
        "x = np.arange(10, dtype=np.float32)\n"
        "assert a._minmax_f32(x) == b._minmax_f32(x) == (0.0, 9.0, 0)\n"
        "try:\n"
        "    b._minmax_f32(None)\n"
        "except b.KernelError:\n"
        "    print('ok')\n"
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "ok"


def test_importlib_reload_of_package_keeps_engine():
    mod = importlib.reload(lpot)
    assert mod.cpu_features()["isa"] in ("amx", "avx512_vnni", "avx512", "avx2", "scalar")
    assert sys.modules["lpot"] is mod


def test_lpot_warnings_reach_stderr_without_logging_setup(py):
    # an LPOT 1.x script configures no logging: lpot's warnings (why tuning
    # returned None, int8 slower than fp32) must still be seen
    r = py("import lpot, logging\n"
           "logging.getLogger('lpot').info('quiet')\n"
           "logging.getLogger('lpot').warning('tuning returned None: because')\n")
    assert r.returncode == 0, r.stderr
    assert "tuning returned None: because" in r.stderr
    assert "quiet" not in r.stderr
