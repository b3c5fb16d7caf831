"""atheris harness for the configuration loader.

    python tests/fuzz/fuzz_config.py [CORPUS_DIR ...] -runs=100000 -max_len=8192

Each input is turned into one of: raw bytes for the YAML loader, a seed
config (the templates and tests/configs) with bytes spliced in, or a nested
Python dict for the dict loader. Anything other than a result or a
ConfigError is a finding; a result must survive the YAML round trip.
"""
import os
import sys

import atheris

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, ROOT)

with atheris.instrument_imports(include=["lpot", "roundtrip"]):
    from roundtrip import check


def _seeds():
    out = []
    for d in (os.path.join(ROOT, "lpot", "conf", "templates"), os.path.join(ROOT, "tests", "configs")):
        for name in sorted(os.listdir(d)):
            if name.endswith(".yaml"):
                with open(os.path.join(d, name), "rb") as f:
                    out.append(f.read())
    return out


SEEDS = _seeds()
KEYS = ["model", "name", "framework", "tuning", "accuracy_criterion", "relative", "absolute",
        "quantization", "op_wise", "pruning", "approach", "weight_compression", "pruners",
        "evaluation", "accuracy", "metric", "dataloader", "dataset", "transform", "x"]


def _value(fdp, depth):
    kind = fdp.ConsumeIntInRange(0, 8 if depth < 6 else 5)
    if kind == 0:
        return None
    if kind == 1:
        return fdp.ConsumeBool()
    if kind == 2:
        return fdp.ConsumeInt(9)
    if kind == 3:
        return fdp.ConsumeRegularFloat() if fdp.ConsumeBool() else fdp.ConsumeFloat()
    if kind in (4, 5):
        return fdp.ConsumeUnicodeNoSurrogates(12) if fdp.ConsumeBool() else \
            KEYS[fdp.ConsumeIntInRange(0, len(KEYS) - 1)]
    if kind == 6:
        return [_value(fdp, depth + 1) for _ in range(fdp.ConsumeIntInRange(0, 3))]
    return {(KEYS[fdp.ConsumeIntInRange(0, len(KEYS) - 1)] if fdp.ConsumeBool()
             else fdp.ConsumeUnicodeNoSurrogates(6)): _value(fdp, depth + 1)
            for _ in range(fdp.ConsumeIntInRange(0, 4))}


def one_input(data: bytes) -> None:
    fdp = atheris.FuzzedDataProvider(data)
    mode = fdp.ConsumeIntInRange(0, 2)
    if mode == 0:
        source = fdp.ConsumeBytes(fdp.remaining_bytes())
    elif mode == 1:
        seed = SEEDS[fdp.ConsumeIntInRange(0, len(SEEDS) - 1)]
        at = fdp.ConsumeIntInRange(0, len(seed))
        cut = fdp.ConsumeIntInRange(0, 16)
        source = seed[:at] + fdp.ConsumeBytes(fdp.ConsumeIntInRange(0, 64)) + seed[at + cut:]
    else:
        source = {"model": {"name": "m", "framework": "pytorch"}}
        for _ in range(2):
            extra = _value(fdp, 0)
            if isinstance(extra, dict):
                source.update(extra)
    check(source)


def main() -> None:
    atheris.Setup(sys.argv, one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
