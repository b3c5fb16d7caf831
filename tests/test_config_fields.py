"""Every leaf field of the schema: its default, a valid value, invalid values
(message, dotted path and line:column asserted). The field list comes from the
engine's own table (_engine._config_schema()), so a field added there is
tested here; test_config_defaults_match_spec pins the values against SPEC.md."""
import math
import os
import re

import pytest

import lpot
from lpot import _engine
from lpot.conf import Config, dump_yaml, load

SCHEMA = _engine._config_schema()
BASE_MODEL = {"name": "m", "framework": "pytorch"}


def _leaves(field, path):
    for c in field["children"]:
        t = c["type"]
        if t == "map":
            yield from _leaves(c, path + [c["name"]])
        elif t == "named" and c["children"]:
            for a in c["children"]:
                if a["type"] == "map":
                    yield from _leaves(a, path + [c["name"], a["name"]])
                else:
                    yield path + [c["name"], a["name"]], a, c
        elif t == "dict":
            yield from _leaves(c["children"][0], path + [c["name"], "conv1"])
        elif t == "list_of":
            yield from _leaves(c["children"][0], path + [c["name"], 0])
        elif t != "named":
            yield path + [c["name"]], c, field


LEAVES = list(_leaves(SCHEMA, []))


def _dotted(path):
    out = ""
    for seg in path:
        out += f"[{seg}]" if isinstance(seg, int) else (("." if out else "") + seg)
    return out


def _valid(f):
    t, (lo, lo_open, hi, hi_open) = f["type"], f["range"]
    if t == "int":
        return (int(lo) if lo is not None else 3), (int(lo) if lo is not None else 3)
    if t == "number":
        if lo is not None and hi is not None:
            v = (lo + hi) / 2
        elif lo is not None:
            v = lo + 1.5
        else:
            v = 1.5
        return v, v
    if t == "bool":
        return "yes", True
    if t == "enum":
        return f["choices"][-1], f["choices"][-1]
    if t == "enum_list":
        return ", ".join(f["choices"]), list(f["choices"])
    if t == "str_list":
        return "a b,c", ["a", "b", "c"]
    if t == "int_list":
        return "10, 20", [10, 20]
    if t == "str":
        return "x/y", "x/y"
    if t == "any":
        return {"k": [1, "two"]}, {"k": [1, "two"]}
    raise AssertionError(t)


def _build(path, value, parent):
    """A config dict with `value` at `path` (+ the required siblings)."""
    root = {"model": dict(BASE_MODEL)}
    node = root
    for i, seg in enumerate(path[:-1]):
        nxt = path[i + 1]
        if isinstance(seg, int):
            continue
        if isinstance(nxt, int):
            node[seg] = [{}]
            node = node[seg][0]
        else:
            node = node.setdefault(seg, {})
    for sib in parent["children"]:
        if sib["required"] and sib["type"] != "map" and sib["name"] != path[-1]:
            node[sib["name"]] = _valid(sib)[0]
    node[path[-1]] = value
    return root


def _get(cfg, path):
    for seg in path:
        cfg = cfg[seg]
    return cfg


def _errors(text):
    with pytest.raises(lpot.ConfigError) as ei:
        load(text)
    return ei.value.errors


def _position(text, key, rendered):
    lines = text.splitlines()
    if rendered.startswith("{"):  # a mapping is written in block style below its key
        for ln in range(len(lines) - 1, -1, -1):
            if lines[ln].strip().lstrip("- ") == f"{key}:":
                nxt = lines[ln + 1]
                return ln + 2, len(nxt) - len(nxt.lstrip()) + 1
    for ln in range(len(lines) - 1, -1, -1):
        line = lines[ln]
        target = f"{key}: {rendered}"
        if line.rstrip().endswith(target):
            return ln + 1, line.rindex(target) + len(key) + 3
    raise AssertionError(f"{key}: {rendered} not in\n{text}")


def _range_text(f):
    lo, lo_open, hi, hi_open = f["range"]
    fmt = lambda x: f"{x:.15g}"  # noqa: E731
    if lo is not None and hi is not None:
        return f" in {'(' if lo_open else '['}{fmt(lo)}, {fmt(hi)}{')' if hi_open else ']'}"
    if lo is not None:
        return f" {'>' if lo_open else '>='} {fmt(lo)}"
    return ""


def _invalid(f):
    """(value, rendered YAML, expected message) triples."""
    t = f["type"]
    rng = _range_text(f)
    lo, lo_open, hi, hi_open = f["range"]
    out = []
    if t == "int":
        out.append(("abc", "abc", f"expected an integer{rng}, got 'abc'"))
        out.append((2.5, "2.5", f"expected an integer{rng}, got 2.5"))
        if lo is not None:
            out.append((int(lo) - 1, str(int(lo) - 1), f"expected an integer{rng}, got {int(lo) - 1}"))
        if hi is not None:
            out.append((int(hi) + 1, str(int(hi) + 1), f"expected an integer{rng}, got {int(hi) + 1}"))
    elif t == "number":
        out.append(("abc", "abc", f"expected a number{rng}, got 'abc'"))
        out.append((math.nan, ".nan", f"expected a finite number{rng}, got .nan"))
        out.append((True, "true", f"expected a number{rng}, got true"))
        if lo is not None:
            out.append((lo - 1, repr(lo - 1), f"expected a number{rng}, got {lo - 1!r}"))
        if hi is not None and hi_open:
            out.append((hi, repr(hi), f"expected a number{rng}, got {hi!r}"))
    elif t == "bool":
        out.append(("maybe", "maybe", "expected true or false, got 'maybe'"))
        out.append((1, "1", "expected true or false, got 1"))
    elif t in ("enum", "enum_list"):
        choices = ", ".join(f"'{c}'" for c in f["choices"])
        bad = f["choices"][0] + "x"
        path_suffix = ""  # a single value where a list is wanted: no [0] in the path
        tail = " or a strategy registered with @strategy_registry" if f["extensible"] else ""
        out.append((bad, bad, f"expected one of {choices}{tail}, got '{bad}'; did you mean "
                              f"'{f['choices'][0]}'?", path_suffix))
    elif t == "str":
        out.append(([1], "[1]", "expected a string, got a list"))
    elif t in ("str_list", "int_list"):
        out.append(({"a": 1}, "{a: 1}", "expected a list (or 'a, b'), got a mapping"))
        if t == "int_list":
            out.append(("7, x", '"7, x"', "expected an integer >= 1, got 'x'", "[1]"))
    return [o if len(o) == 4 else o + ("",) for o in out]


IDS = [_dotted(p) for p, _, _ in LEAVES]


def test_schema_covers_spec_sections():
    names = set(IDS)
    for must in ["model.name", "model.framework", "device", "quantization.approach",
                 "quantization.calibration.sampling_size", "quantization.train.end_epoch",
                 "quantization.recipes.fast_bias_correction",
                 "quantization.model_wise.weight.bit", "quantization.op_wise.conv1.activation.algorithm",
                 "tuning.strategy.name", "tuning.accuracy_criterion.relative",
                 "tuning.accuracy_criterion.absolute", "tuning.objective",
                 "tuning.exit_policy.max_trials", "tuning.random_seed", "tuning.tensorboard",
                 "tuning.workspace.resume", "evaluation.accuracy.metric.topk",
                 "evaluation.performance.configs.num_of_instance",
                 "evaluation.accuracy.dataloader.last_batch",
                 "pruning.approach.weight_compression.pruners[0].prune_type",
                 "pruning.train.optimizer.SGD.learning_rate",
                 "graph_optimization.precisions", "mixed_precision.precisions"]:
        assert must in names
    assert len(LEAVES) > 90


@pytest.mark.parametrize("path,field,parent", LEAVES, ids=IDS)
def test_field_valid_value(path, field, parent):
    given, expected = _valid(field)
    cfg = load(_build(path, given, parent))
    assert _get(cfg, path) == expected
    # and the same through YAML text
    cfg2 = load(dump_yaml(_build(path, given, parent)))
    assert _get(cfg2, path) == expected


@pytest.mark.parametrize("path,field,parent", LEAVES, ids=IDS)
def test_field_default(path, field, parent):
    if field["required"]:
        d = _build(path, None, parent)
        errs = _errors(dump_yaml(d))
        assert [e for e in errs if e[2] == _dotted(path)] and all(
            e[3] == f"required key '{path[-1]}' is missing" for e in errs if e[2] == _dotted(path))
        return
    d = _build(path, None, parent)
    got = _get(load(d), path)
    t, default = field["type"], field["default"]
    if field["workspace"]:
        assert re.fullmatch(r"\./lpot_workspace/\d{4}-\d\d-\d\d_\d\d-\d\d-\d\d/", got)
    elif default is None:
        assert got == ([] if field["empty"] else None)
    elif t == "int":
        assert got == int(default) and type(got) is int
    elif t == "number":
        assert got == float(default) and type(got) is float
    elif t == "bool":
        assert got is (default == "true")
    elif t == "enum":
        assert got == default
    elif t == "enum_list":
        assert got == [s.strip() for s in default.split(",")]
    elif t == "int_list":
        assert got == [int(default)]
    else:
        raise AssertionError((t, default))


CHECKED = [(p, f, par) for p, f, par in LEAVES if f["type"] != "any"]  # "any": free-form


@pytest.mark.parametrize("path,field,parent", CHECKED, ids=[_dotted(p) for p, _, _ in CHECKED])
def test_field_invalid_values(path, field, parent):
    cases = _invalid(field)
    assert cases
    for value, rendered, message, suffix in cases:
        text = dump_yaml(_build(path, value, parent))
        errs = _errors(text)
        key = path[-1]
        line, col = _position(text, key, rendered)
        want = (line, col, _dotted(path) + suffix, message)
        assert want in errs, (text, errs)
        # and from a dict: same path and message, no position
        errs_d = _errors_dict(_build(path, value, parent))
        if isinstance(value, float) and math.isfinite(value):
            message = message.replace(f"got {rendered}", f"got {value:g}")
        assert (0, 0, _dotted(path) + suffix, message) in errs_d


def _errors_dict(d):
    with pytest.raises(lpot.ConfigError) as ei:
        Config(d)
    return ei.value.errors


def test_config_defaults_match_spec():
    """The filled-in minimal config, value by value, against SPEC.md."""
    cfg = load("model: {name: m, framework: pytorch}")
    ws = cfg["tuning"]["workspace"].pop("path")
    assert ws.startswith("./lpot_workspace/")
    assert cfg == {
        "version": 1.0,
        "model": {"name": "m", "framework": "pytorch", "inputs": [], "outputs": []},
        "device": "cpu",
        "quantization": {
            "approach": "post_training_static_quant",
            "calibration": {"sampling_size": [100], "dataloader": None},
            "train": None,
            "recipes": {"scale_propagation_max_pooling": True, "scale_propagation_concat": True,
                        "first_conv_or_matmul_quantization": True,
                        "fast_bias_correction": False, "weight_correction": False},
            "model_wise": {
                "weight": {"granularity": None, "scheme": None, "dtype": None,
                           "algorithm": None, "bit": 7.0},
                "activation": {"granularity": None, "scheme": None, "dtype": None,
                               "algorithm": None}},
            "op_wise": None,
        },
        "tuning": {
            "strategy": {"name": "basic"},
            "accuracy_criterion": {"relative": 0.01, "absolute": None, "higher_is_better": True},
            "objective": "performance",
            "exit_policy": {"timeout": 0, "max_trials": 100, "performance_only": False},
            "random_seed": 1978,
            "tensorboard": False,
            "workspace": {"resume": None},
        },
        "evaluation": None, "pruning": None, "graph_optimization": None,
        "mixed_precision": None,
    }


def test_section_defaults_when_present():
    cfg = load({"model": BASE_MODEL, "evaluation": {"performance": {}, "accuracy": {}},
                "pruning": {}, "graph_optimization": {}, "mixed_precision": {}})
    assert cfg["evaluation"]["performance"] == {
        "warmup": 5, "iteration": -1, "dataloader": None, "postprocess": None,
        "configs": {"cores_per_instance": None, "num_of_instance": 1,
                    "inter_num_of_threads": None, "intra_num_of_threads": None,
                    "kmp_blocktime": None}}
    assert cfg["evaluation"]["accuracy"] == {"metric": None, "dataloader": None,
                                             "postprocess": None, "iteration": -1,
                                             "configs": None}
    assert cfg["pruning"] == {"train": None, "approach": {"weight_compression": {
        "initial_sparsity": 0.0, "target_sparsity": 0.97, "start_epoch": 0, "end_epoch": 4,
        "pruners": []}}}
    assert cfg["graph_optimization"] == {"precisions": ["bf16", "fp32"], "op_wise": None}
    assert cfg["mixed_precision"] == {"precisions": ["bf16", "fp32"]}


def test_dataloader_defaults_and_free_args():
    cfg = load("""
model: {name: m, framework: pytorch}
quantization:
  calibration:
    dataloader:
      dataset: {ImageFolder: {root: /data, extensions: [jpg, png], limit: 1e3}}
      transform:
        ToTensor:
        Resize: {size: [256, 256], interpolation: bilinear, antialias: yes}
      filter: {LabelBalance: {size: 2}}
""")
    dl = cfg["quantization"]["calibration"]["dataloader"]
    assert dl == {"batch_size": 1, "last_batch": "rollover", "shuffle": False,
                  "dataset": {"ImageFolder": {"root": "/data", "extensions": ["jpg", "png"],
                                              "limit": 1000.0}},
                  "transform": {"ToTensor": {}, "Resize": {"size": [256, 256],
                                                           "interpolation": "bilinear",
                                                           "antialias": True}},
                  "filter": {"LabelBalance": {"size": 2}}}
    assert list(dl["transform"]) == ["ToTensor", "Resize"]  # order kept


def test_docs_list_every_field():
    with open(os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                           "docs", "config.md"), encoding="utf-8") as f:
        docs = f.read()
    for path, field, _ in LEAVES:
        key = _dotted(path).replace("[0]", "[]").replace(".conv1.", ".<op>.")
        assert f"| `{key}` | {field['type']} |" in docs, key
