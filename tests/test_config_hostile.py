"""Hostile input never crashes or hangs: each case is a ConfigError (or
OSError for unreadable paths), run in a child process under a timeout so a
hang or a crash fails the test instead of the suite."""
import json
import os
import subprocess
import sys

import pytest

from lpot.conf import ConfigError, load

HERE = os.path.dirname(os.path.abspath(__file__))
M = "model: {name: m, framework: pytorch}\n"

LAUGHS = "".join(
    f"{c}: &{c} [{', '.join(['*' + p] * 9) if p else ', '.join(['lol'] * 9)}]\n"
    for p, c in zip([None, "a", "b", "c", "d", "e", "f", "g", "h"], "abcdefghi"))

# name -> (YAML text, expected message fragment, expected (line, column) or None)
CASES = {
    "empty": ("", "the configuration is empty", (1, 1)),
    "blank": ("   \n\n", "the configuration is empty", (1, 1)),
    "comment_only": ("# nothing\n", "the configuration is empty", (1, 1)),
    "null_doc": ("~", "the configuration is empty", (1, 1)),
    "list": ("- model\n- tuning\n", "expected a mapping at the top", (1, 1)),
    "scalar": ("hello", "expected a mapping at the top", (1, 1)),
    "tabs": ("model:\n\tname: m\n", "tabs cannot indent YAML, use spaces", (2, 1)),
    "tab_after_key": (M + "tuning:\n  random_seed:\t\t1\n  \tobjective: x\n",
                      "tabs cannot indent YAML", None),
    "duplicate": (M + "device: cpu\ndevice: gpu\n", "duplicate key 'device'", (3, 1)),
    "not_utf8": (b"model: {name: \xff\xfe, framework: pytorch}", "the file must be UTF-8 text",
                 (1, 15)),
    "latin1": ("model: {name: caf\u00e9, framework: pytorch}".encode("latin-1"),
               "the file must be UTF-8 text", (1, 19)),
    "nul_byte": (b"model: {name: a\x00b, framework: pytorch}", "control characters are not allowed",
                 (1, 16)),
    "binary": (bytes(range(256)) * 4, "", None),
    "deep_flow": ("a: " + "[" * 100000, "nested more than 64 levels deep", (1, 67)),
    "deep_block": ("".join("  " * i + f"k{i}:\n" for i in range(200)), "nested more than 64",
                   (65, 129)),
    "deep_alias": ("a: &a " + "[" * 60 + "]" * 60 + "\nb: [[[[[[[[*a]]]]]]]]\n",
                   "expands to more than 64 levels", (2, 12)),
    "billion_laughs": (LAUGHS + M, "aliases expand to more than 100000 values", None),
    "alias_fanout": ("a: &a [" + ", ".join(["x"] * 1000) + "]\nb: [" + ", ".join(["*a"] * 200)
                     + "]\n", "aliases expand to more than 100000 values", (2, 401)),
    "undefined_alias": (M + "device: *nope\n", "alias '*nope' refers to no anchor", (2, 9)),
    "self_alias": (M + "x: &a [*a]\n", "alias '*a' refers to no anchor", (2, 8)),
    "two_documents": (M + "---\n" + M, "a second YAML document", (2, 1)),
    "huge_int": (M + "tuning: {random_seed: 99999999999999999999999999}\n",
                 "expected an integer in [0, 4294967295]", (2, 23)),
    "nan": (M + "tuning: {accuracy_criterion: {relative: .nan}}\n",
            "expected a finite number in [0, 1), got .nan", (2, 41)),
    "inf": (M + "tuning: {accuracy_criterion: {absolute: -.inf}}\n",
            "expected a finite number >= 0, got -.inf", (2, 41)),
    "python_object": ("!!python/object/apply:os.system ['echo pwned']\n", "expected a mapping", None),
    "python_tag_value": (M + "device: !!python/name:os.system cpu\n",
                         "the tag '!!python/name:os.system' is not allowed", (2, 9)),
    "long_key": (M + "x" * 100000 + ": 1\n", "could not find expected ':'", None),
    "long_key_1000": (M + "x" * 1000 + ": 1\n", "unknown key 'xxxx", (2, 1)),
    "many_items": ("a: [" + "1," * 1100000 + "]\n", "more than 1000000 values", None),
    "unclosed_quote": (M + "device: 'cpu\n", "found unexpected end of stream", None),
    "bad_indent": ("model:\n  name: m\n framework: x\n", "", None),
    "complex_key": (M + "? [a, b]\n: 1\n", "a mapping key must be a plain value, not a list",
                    (2, 3)),
    "bom_utf16": ("model: {name: m, framework: pytorch}\nbogus: 1\n".encode("utf-16"),
                  "unknown key 'bogus'", (2, 1)),
}

RUNNER = r"""
import json, sys
from lpot.conf import load, ConfigError
cases = json.loads(sys.stdin.read())
out = {}
for name, hexed in cases.items():
    try:
        load(bytes.fromhex(hexed))
        out[name] = ["no error", []]
    except ConfigError as e:
        out[name] = [str(e), [list(x) for x in e.errors]]
print(json.dumps(out))
"""


def _as_bytes(text):
    return text if isinstance(text, bytes) else text.encode()


@pytest.fixture(scope="module")
def results():
    payload = json.dumps({k: _as_bytes(v[0]).hex() for k, v in CASES.items()})
    r = subprocess.run([sys.executable, "-c", RUNNER], input=payload, capture_output=True,
                       text=True, timeout=300, cwd=os.path.dirname(HERE))
    assert r.returncode == 0, r.stderr[-3000:]
    return json.loads(r.stdout)


@pytest.mark.parametrize("name", list(CASES))
def test_hostile_input_is_a_config_error(results, name):
    message, errors = results[name]
    assert message != "no error"
    _, fragment, pos = CASES[name]
    assert errors, message
    assert fragment in message
    if pos is not None:
        hit = [e for e in errors if fragment in e[3]]
        assert hit and tuple(hit[0][:2]) == pos, errors


def test_size_limit(tmp_path):
    big = "# " + "x" * (8 << 20) + "\n" + M
    with pytest.raises(ConfigError, match=r"the configuration is \d+ bytes; the limit is 8388608"):
        load(big)
    p = tmp_path / "big.yaml"
    p.write_text(big)
    with pytest.raises(ConfigError, match="larger than the 8388608-byte limit"):
        load(p)
    # just under the limit is fine
    ok = M + "# " + "x" * ((8 << 20) - 200) + "\n"
    assert load(ok)["model"]["name"] == "m"


def test_python_object_tag_never_runs(tmp_path):
    marker = tmp_path / "pwned"
    text = M + f"evaluation: {{accuracy: {{dataloader: {{dataset: {{d: {{x: " \
               f"!!python/object/apply:os.system ['touch {marker}']}}}}}}}}}}\n"
    with pytest.raises(ConfigError, match="is not allowed"):
        load(text)
    assert not marker.exists()
