import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SANITIZED = os.environ.get("LPOT_SANITIZED") == "1"


def run_python(code: str, env_extra=None, timeout=120):
    """Run code in a fresh interpreter (same environment, sanitizer preload
    included) and return the CompletedProcess."""
    env = dict(os.environ)
    env.update(env_extra or {})
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=env, timeout=timeout, cwd=ROOT)


@pytest.fixture
def py():
    return run_python
