"""Shared pieces of the benchmark scripts: the machine header, medians, and
appending to RESULTS.md. Run scripts as `python bench/<name>.py`."""
from __future__ import annotations

import datetime
import os
import statistics
import subprocess
import time
from typing import Any, Callable, Dict, List

import lpot

HERE = os.path.dirname(os.path.abspath(__file__))
RESULTS = os.path.join(HERE, "RESULTS.md")


def cpu_model() -> str:
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
    except OSError:
        return "unknown"
    for line in out.splitlines():
        if line.startswith("Model name:"):
            return line.split(":", 1)[1].strip()
    return "unknown"


def machine() -> Dict[str, Any]:
    """What the figures were measured on."""
    f = lpot.cpu_features()
    return {
        "date": f"{datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC",
        "model": cpu_model(),
        "cores": os.cpu_count(),
        "isa": f["isa"],
        "quant_isa": f["kernels"].get("quant", "?"),
        "onednn_version": f["onednn"]["version"],
        "onednn_isa": f["onednn"]["isa"],
        "load": os.getloadavg()[0],
    }


def machine_lines() -> List[str]:
    m = machine()
    return [f"- date: {m['date']}",
            f"- cpu: {m['model']}, {m['cores']} cores; lpot isa {m['isa']} (quant kernels "
            f"{m['quant_isa']}), oneDNN {m['onednn_version']} isa {m['onednn_isa']}; "
            f"load average {m['load']:.1f}"]


def median_time(fn: Callable[[], Any], repeats: int) -> float:
    """Median wall time of fn() over `repeats` calls, in seconds."""
    ts = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t0)
    return statistics.median(ts)


def append_results(text: str) -> None:
    with open(RESULTS, "a") as f:
        f.write("\n" + text.rstrip("\n") + "\n")
