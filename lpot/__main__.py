"""The lpot command line (also installed as the `lpot` console script).

  lpot quantize  --config conf.yaml --model MODEL [--output DIR]
  lpot benchmark --config conf.yaml --model MODEL [--mode performance|accuracy] [--json FILE]
  lpot conf check conf.yaml ... | lpot conf template NAME

Data come from the YAML's dataloader blocks (quantization.calibration.dataloader,
evaluation.accuracy.dataloader + metric, evaluation.performance.dataloader).
Exit status: 0 success, 1 error (one line on stderr: 'lpot: error: ...'),
2 bad command line, 3 quantize found no configuration meeting the goal.
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
from typing import Any, List, Optional

EXIT_OK, EXIT_ERROR, EXIT_USAGE, EXIT_NOT_FOUND = 0, 1, 2, 3

EPILOG = """examples:
  lpot quantize --config conf.yaml --model model.onnx --output ./int8
  lpot benchmark --config conf.yaml --model ./int8/model.onnx --mode performance
  lpot conf check conf.yaml
exit status: 0 ok, 1 error, 2 usage, 3 no configuration met the accuracy goal"""


def _parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        prog="lpot", description="Low-precision optimization: quantize and benchmark models "
        "described by an LPOT 1.x YAML configuration.", epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-v", "--verbose", action="count", default=0, help="more logging (-vv: debug)")
    sub = ap.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    q = sub.add_parser("quantize", help="tune and quantize a model",
                       description="Quantize MODEL with the accuracy-driven tuning the YAML describes; "
                       "calibration and evaluation data come from its dataloader blocks.")
    q.add_argument("--config", "-c", required=True, metavar="CONF.yaml", help="LPOT 1.x YAML configuration")
    q.add_argument("--model", "-m", required=True, metavar="MODEL",
                   help="model file (.onnx, .pt/.pth, ...); the framework is the YAML's model.framework")
    q.add_argument("--output", "-o", default="./lpot_output", metavar="DIR",
                   help="where the quantized model is saved (default ./lpot_output)")
    b = sub.add_parser("benchmark", help="measure latency/throughput or accuracy",
                       description="Benchmark MODEL with the YAML's evaluation section "
                       "(warmup, iteration, cores_per_instance x num_of_instance).")
    b.add_argument("--config", "-c", required=True, metavar="CONF.yaml")
    b.add_argument("--model", "-m", required=True, metavar="MODEL")
    b.add_argument("--mode", choices=("performance", "accuracy"), default="performance")
    b.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    c = sub.add_parser("conf", help="check a configuration or print a template",
                       description="Same as python -m lpot.conf.", add_help=False)
    c.add_argument("rest", nargs=argparse.REMAINDER)
    return ap


def _fail(msg: str) -> int:
    print(f"lpot: error: {msg.splitlines()[0] if msg else 'failed'}", file=sys.stderr)
    return EXIT_ERROR


def _model(path: str, framework: str) -> Any:
    import os

    from lpot.experimental import common

    if not os.path.exists(path):
        raise FileNotFoundError(f"model '{path}' does not exist")
    return common.Model(path, framework=framework)


def _quantize(args: argparse.Namespace) -> int:
    from lpot.experimental import Quantization

    q = Quantization(args.config)
    q.model = _model(args.model, q.framework)
    qm = q()
    if qm is None:
        rep = q.report or {}
        print(f"lpot: no configuration met the accuracy goal: {rep.get('message', '')}; best so far in "
              f"{rep.get('best_so_far_model') or q.workspace}", file=sys.stderr)
        return EXIT_NOT_FOUND
    out = qm.save(args.output)
    r = qm.report
    acc = r.get("accuracy")
    print(f"quantized: {r.get('int8_ops', '?')} int8 op(s), {r.get('fp32_ops', '?')} fp32; "
          + (f"accuracy {acc:.4f} (baseline {r.get('baseline'):.4f}); " if acc is not None else
             "not evaluated; ")
          + f"{r.get('trials')} trial(s) in {r.get('tuning_time', 0):.1f}s; saved to {out or args.output}; "
          f"deploy.yaml in {q.workspace}")
    return EXIT_OK


def _benchmark(args: argparse.Namespace) -> int:
    from lpot.experimental import Benchmark

    b = Benchmark(args.config)
    b.model = _model(args.model, b.framework)
    res = b(args.mode)
    print(f"{'instance':>8} {'cores':>10} {'p50 ms':>9} {'p90 ms':>9} {'p99 ms':>9} {'samples/s':>10} accuracy")
    rows = [(str(r["instance"]), ",".join(map(str, r["affinity"])), r) for r in res["instances"]]
    rows.append(("all", "", res["aggregate"]))
    for name, cores, r in rows:
        acc = r.get("accuracy")
        print(f"{name:>8} {cores:>10} {r['latency_p50'] * 1e3:9.3f} {r['latency_p90'] * 1e3:9.3f} "
              f"{r['latency_p99'] * 1e3:9.3f} {r['throughput']:10.1f} {'' if acc is None else f'{acc:.4f}'}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(res, f, indent=1)
    return EXIT_OK


def main(argv: Optional[List[str]] = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["conf"]:
        from lpot.conf.__main__ import main as conf_main

        rest = argv[1:]
        try:
            return conf_main(rest)
        except SystemExit as e:  # argparse's usage errors
            return int(e.code or 0)
    ap = _parser()
    try:
        args = ap.parse_args(argv)
    except SystemExit as e:
        return int(e.code or 0)
    if args.verbose:
        logging.basicConfig(level=logging.DEBUG if args.verbose > 1 else logging.INFO,
                            format="%(levelname)s %(name)s: %(message)s")
    from lpot import LpotError

    try:
        return _quantize(args) if args.command == "quantize" else _benchmark(args)
    except (LpotError, OSError, TypeError, ValueError) as e:
        return _fail(f"{type(e).__name__}: {e}" if not isinstance(e, LpotError) else str(e))
    except KeyboardInterrupt:
        return _fail("interrupted")


if __name__ == "__main__":
    sys.exit(main())
