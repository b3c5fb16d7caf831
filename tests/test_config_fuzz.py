"""Fuzzing the configuration loader inside the normal suite: hypothesis feeds
random bytes, mutated valid configs and random dicts; the atheris harness
(tests/fuzz/fuzz_config.py) runs for a bounded number of inputs in a child
process (under the sanitizer build too, in `make test-sanitize`)."""
import os
import re
import subprocess
import sys

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lpot.conf import template_names, template_path

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "fuzz"))
from roundtrip import check  # noqa: E402


def _read(path):
    with open(path, "rb") as f:
        return f.read()


SEEDS = [_read(template_path(n)) for n in template_names()] + [
    _read(os.path.join(HERE, "configs", f))
    for f in sorted(os.listdir(os.path.join(HERE, "configs")))]
FUZZ_SETTINGS = settings(max_examples=150, deadline=None, derandomize=True,
                         suppress_health_check=[HealthCheck.too_slow])


@FUZZ_SETTINGS
@given(st.binary(max_size=3000))
def test_random_bytes(data):
    check(data)


@FUZZ_SETTINGS
@given(st.sampled_from(range(len(SEEDS))), st.data())
def test_mutated_valid_configs(i, data):
    seed = SEEDS[i]
    for _ in range(data.draw(st.integers(1, 4))):
        at = data.draw(st.integers(0, len(seed)))
        cut = data.draw(st.integers(0, 20))
        ins = data.draw(st.binary(max_size=24) | st.sampled_from(
            [b"\t", b": ", b"- ", b"{", b"[", b"&a ", b"*a", b"!!python/object ", b"\n  ", b"'",
             b"%", b"---\n", b"? ", b"\xff", b"1e999", b".nan", b"!Pruner "]))
        seed = seed[:at] + ins + seed[at + cut:]
    check(seed)


_scalars = st.none() | st.booleans() | st.integers(-2 ** 70, 2 ** 70) | st.floats() | \
    st.text(max_size=12) | st.sampled_from(["1%", "a, b", "per_channel", "int8", "true", "~"])
_keys = st.sampled_from(["model", "name", "framework", "tuning", "accuracy_criterion",
                         "relative", "quantization", "op_wise", "evaluation", "pruning",
                         "dataloader", "dataset", "x", "conv(", "layer.*"]) | st.text(max_size=6)
_values = st.recursive(_scalars, lambda c: st.lists(c, max_size=4) | st.dictionaries(_keys, c, max_size=4),
                       max_leaves=20)


@FUZZ_SETTINGS
@given(st.dictionaries(_keys, _values, max_size=6))
def test_random_dicts(d):
    d.setdefault("model", {"name": "m", "framework": "pytorch"})
    check(d)


def test_atheris_harness_bounded_run(tmp_path):
    pytest.importorskip("atheris")
    runs = 1500
    r = subprocess.run([sys.executable, os.path.join(HERE, "fuzz", "fuzz_config.py"),
                        f"-runs={runs}", "-max_len=4096", "-seed=1",
                        f"-artifact_prefix={tmp_path}/", str(tmp_path)],
                       capture_output=True, text=True, timeout=600, cwd=os.path.dirname(HERE))
    tail = "\n".join(line for line in r.stderr.splitlines()
                     if not line.startswith("INFO: Instrumenting"))[-3000:]
    assert r.returncode == 0, tail
    done = re.search(r"Done (\d+) runs", r.stderr)
    assert done and int(done.group(1)) >= runs, tail
    assert not list(tmp_path.glob("crash-*"))
