"""Configuration load time: lpot's C loader (libyaml events + schema + defaults)
against PyYAML's C loader (yaml.load with CSafeLoader) alone and followed by a
Python schema check (the same schema table, walked in Python), on the
templates and on a generated 5,000-line config.

    python bench/bench_config.py [--repeat N]

Prints a table and appends a section to bench/RESULTS.md.
"""
from __future__ import annotations

import argparse
import datetime
import os
import platform
import statistics
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import yaml  # noqa: E402

import _common  # noqa: E402  (bench/_common.py)
from lpot import _engine  # noqa: E402
from lpot.conf import Config, template_names, template_path  # noqa: E402

SCHEMA = _engine._config_schema()


class PrunerLoader(yaml.CSafeLoader):
    """CSafeLoader that reads LPOT's !Pruner items as mappings."""


PrunerLoader.add_constructor("!Pruner", lambda loader, node: loader.construct_mapping(node))


# ---- the peer's schema check: the same table, walked in Python ----------------------

def _list(v):
    if isinstance(v, str):
        return [s for s in v.replace(",", " ").split()]
    return v if isinstance(v, list) else [v]


def _num(v):
    if isinstance(v, str) and v.strip().endswith("%"):
        return float(v.strip()[:-1]) / 100
    return float(v)


def py_check(f, v, path, errors):
    t = f["type"]
    if v is None:
        if f["required"]:
            errors.append((path, "missing"))
        if f["section"]:
            return None
        if t == "map":
            v = {}
        elif f["default"] is None:
            return [] if f["empty"] else None
        else:
            v = f["default"]
    if t == "map":
        if not isinstance(v, dict):
            errors.append((path, "expected a mapping"))
            return None
        names = {c["name"] for c in f["children"]}
        for k in v:
            if k not in names:
                errors.append((f"{path}.{k}", "unknown key"))
        return {c["name"]: py_check(c, v.get(c["name"]), f"{path}.{c['name']}", errors)
                for c in f["children"]}
    if t in ("int", "number"):
        try:
            x = int(v) if t == "int" else _num(v)
        except (TypeError, ValueError):
            errors.append((path, "expected a number"))
            return None
        lo, lo_open, hi, hi_open = f["range"]
        if (lo is not None and (x < lo or (lo_open and x == lo))) or \
                (hi is not None and (x > hi or (hi_open and x == hi))):
            errors.append((path, "out of range"))
        return x
    if t == "bool":
        return v if isinstance(v, bool) else str(v).lower() in ("true", "yes", "on")
    if t == "enum":
        if v not in f["choices"]:
            errors.append((path, "not a choice"))
        return v
    if t in ("str_list", "enum_list", "int_list"):
        items = _list(v)
        if t == "enum_list" and any(i not in f["choices"] for i in items):
            errors.append((path, "not a choice"))
        return [int(i) for i in items] if t == "int_list" else items
    if t == "named":
        args = {c["name"]: c for c in f["children"]}
        return {k: (py_check(args[k], a, f"{path}.{k}", errors) if k in args else (a or {}))
                for k, a in v.items()}
    if t == "dict":
        return {k: py_check(f["children"][0], a, f"{path}.{k}", errors) for k, a in v.items()}
    if t == "list_of":
        return [py_check(f["children"][0], a, f"{path}[{i}]", errors)
                for i, a in enumerate(v if isinstance(v, list) else [v])]
    return v


def peer_load(path, check=True):
    with open(path, "rb") as fh:
        data = yaml.load(fh.read(), Loader=PrunerLoader)
    if check:
        errors = []
        data = py_check(SCHEMA, data, "", errors)
        assert not errors, errors
    return data


# ---- inputs ------------------------------------------------------------------------

def big_config(lines=5000):
    """An LPOT 1.x config of `lines` lines: long op_wise and transform lists."""
    out = ["version: 1.0", "model:", "  name: big_model", "  framework: onnxrt_qlinearops",
           "quantization:", "  calibration:", "    sampling_size: 100, 200",
           "    dataloader:", "      batch_size: 8", "      dataset:",
           "        ImageFolder: {root: /data/calib}", "      transform:"]
    for i in range(200):
        out.append(f"        Step{i}: {{size: [{i}, {i + 1}], mode: bilinear, p: 0.{i % 10}5}}")
    out.append("  op_wise:")
    i = 0
    while len(out) < lines - 12:
        name = f"'block{i // 12}/conv{i % 12}/Conv2D'" if i % 5 else f"'block{i}/.*MatMul'"
        out += [f"    {name}:",
                "      activation: {dtype: [uint8, fp32], algorithm: minmax}",
                "      weight:",
                "        granularity: per_channel, per_tensor",
                "        scheme: sym"]
        i += 1
    out += ["tuning:", "  strategy: {name: basic}", "  accuracy_criterion:", "    relative: 1%",
            "  exit_policy: {timeout: 0, max_trials: 100}", "  random_seed: 9527",
            "evaluation:", "  accuracy:", "    metric: {topk: 1}",
            "  performance:", "    configs: {cores_per_instance: 4, num_of_instance: 7}"]
    return "\n".join(out[:lines]) + "\n"


def median_time(fn, repeat):
    fn()  # warm
    ts = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t0)
    return statistics.median(ts)


def machine():
    m = _common.machine()
    return m["model"], m["cores"], m["isa"], m["onednn_isa"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=31)
    args = ap.parse_args()

    tmp = tempfile.mkdtemp(prefix="lpot-bench-config-")
    big = os.path.join(tmp, "big_5000_lines.yaml")
    with open(big, "w") as fh:
        fh.write(big_config())
    files = [(n, template_path(n)) for n in template_names()] + [("5000-line", big)]

    rows = []
    for name, path in files:
        with open(path) as fh:
            nlines = sum(1 for _ in fh)
        ours = Config(path)
        peer = peer_load(path)
        # same content (workspace path is a timestamp in ours, the peer keeps the default text)
        assert ours.model == peer["model"]
        assert ours.quantization.op_wise == peer["quantization"]["op_wise"] or \
            ours.quantization.op_wise is None
        rep = args.repeat if nlines < 1000 else max(7, args.repeat // 3)
        t_engine = median_time(lambda: _engine.load_config("path", path), rep)
        t_config = median_time(lambda: Config(path), rep)
        t_parse = median_time(lambda: peer_load(path, check=False), rep)
        t_peer = median_time(lambda: peer_load(path), rep)
        rows.append((name, nlines, t_engine, t_config, t_parse, t_peer))

    hdr = (f"{'config':<20}{'lines':>6}{'lpot load+check':>17}{'lpot Config()':>15}"
           f"{'PyYAML parse':>14}{'PyYAML+check':>14}{'parse/lpot':>12}{'peer/lpot':>11}")
    print(hdr)
    table = []
    for name, n, te, tc, tp, tpc in rows:
        line = (f"{name:<20}{n:>6}{te * 1e3:>14.3f} ms{tc * 1e3:>12.3f} ms{tp * 1e3:>11.3f} ms"
                f"{tpc * 1e3:>11.3f} ms{tp / te:>11.2f}x{tpc / te:>10.2f}x")
        print(line)
        table.append(f"| {name} | {n} | {te * 1e3:.3f} | {tc * 1e3:.3f} | {tp * 1e3:.3f} | "
                     f"{tpc * 1e3:.3f} | {tp / te:.2f}x | {tpc / te:.2f}x |")

    model, cores, isa, dnnl_isa = machine()
    section = [
        f"## bench_config.py — {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M UTC}",
        "",
        f"Machine: {model}, {cores} cores; lpot ISA {isa}; oneDNN ISA {dnnl_isa}; "
        f"Python {platform.python_version()}, PyYAML {yaml.__version__} (CSafeLoader, "
        f"libyaml {yaml.__with_libyaml__ and 'yes'}).",
        "",
        "Load a YAML config file: lpot = `_engine.load_config` (read + libyaml events + schema "
        "check + defaults + Python objects), lpot Config() = that plus the DotDict wrap; "
        "PyYAML parse = `yaml.load(CSafeLoader)` alone; PyYAML+check = parse + the same "
        f"schema walked in Python (fills defaults too). Medians of {args.repeat} runs "
        "(templates) / a third as many (5000-line); ratios > 1 mean lpot is faster.",
        "",
        "| config | lines | lpot load+check ms | lpot Config() ms | PyYAML parse ms | "
        "PyYAML+check ms | parse/lpot | (parse+check)/lpot |",
        "|---|---|---|---|---|---|---|---|",
        *table,
        "",
    ]
    _common.append_results("\n".join(section))
    print(f"\nappended to {_common.RESULTS}")


if __name__ == "__main__":
    main()
