"""Benchmark: performance and accuracy of a model, multi-instance.

    b = Benchmark('conf.yaml')
    b.model = common.Model(model)            # or a QuantizedModel
    b.b_dataloader = common.DataLoader(ds)   # else evaluation.<mode>.dataloader
    b('performance')                          # or 'accuracy'
    b.results['performance']['aggregate']['throughput']

evaluation.<mode>.configs: num_of_instance worker processes, each pinned to
cores_per_instance cores with os.sched_setaffinity (disjoint sets, in the
order of this process's affinity), intra_num_of_threads (default
cores_per_instance) framework threads and OMP/MKL thread variables set. The
workers are forked from this process (the user's script is not re-run) and
run at the same time; each runs `warmup` untimed batches, then `iteration`
timed ones (-1: the whole dataloader). Results per instance and aggregated:
latency mean/p50/p90/p99 (seconds per batch), throughput (samples/s; the
aggregate is the sum over instances), accuracy (when a metric is known).
Asking for more cores than this process may use is a ConfigError.
"""
from __future__ import annotations

import logging
import os
import time
import traceback
from typing import Any, Dict, List, Optional

import numpy as np

from lpot import ConfigError, LpotError
from lpot.experimental.component import Component, _get

logger = logging.getLogger("lpot")

MODES = ("performance", "accuracy")


def available_cores() -> List[int]:
    return sorted(os.sched_getaffinity(0))


def plan_instances(cores_per_instance: Optional[int], num_of_instance: int,
                   cores: Optional[List[int]] = None, where: str = "configs") -> List[List[int]]:
    """Disjoint core sets, one per instance; a ConfigError when they do not fit."""
    cores = available_cores() if cores is None else list(cores)
    n = int(num_of_instance or 1)
    if n < 1:
        raise ConfigError(f"{where}.num_of_instance must be >= 1, got {n}")
    cpi = int(cores_per_instance) if cores_per_instance else len(cores) // n
    if cpi < 1 or cpi * n > len(cores):
        raise ConfigError(
            f"{where}: {cores_per_instance or cpi} cores per instance x {n} instances = "
            f"{(cores_per_instance or max(cpi, 1)) * n} cores requested, but this process may use only "
            f"{len(cores)} ({', '.join(map(str, cores))}); lower cores_per_instance or num_of_instance")
    return [cores[i * cpi:(i + 1) * cpi] for i in range(n)]


def latency_stats(lat: List[float], batch_size: int) -> Dict[str, Any]:
    a = np.asarray(lat, dtype=np.float64)
    if a.size == 0:
        return {"latency_mean": float("nan"), "latency_p50": float("nan"),
                "latency_p90": float("nan"), "latency_p99": float("nan"),
                "throughput": 0.0, "batches": 0}
    return {"latency_mean": float(a.mean()), "latency_p50": float(np.percentile(a, 50)),
            "latency_p90": float(np.percentile(a, 90)), "latency_p99": float(np.percentile(a, 99)),
            "throughput": float(batch_size * a.size / a.sum()) if a.sum() > 0 else float("inf"),
            "batches": int(a.size)}


def _set_thread_env(n: int, inter: Optional[int], blocktime: Optional[int]) -> None:
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[var] = str(n)
    if blocktime is not None:
        os.environ["KMP_BLOCKTIME"] = str(blocktime)
    import sys

    if "torch" in sys.modules:
        import torch

        torch.set_num_threads(n)
        if inter:
            try:
                torch.set_num_interop_threads(int(inter))
            except RuntimeError:  # only settable before the first parallel work
                pass


def _worker(conn: Any, index: int, cores: List[int], threads: int, inter: Optional[int],
            blocktime: Optional[int], model: Any, framework: str, loader: Any, metric: Any,
            postprocess: Any, warmup: int, iteration: int) -> None:
    """One instance: pin, set threads, run, send a result dict (or an error)."""
    try:
        os.sched_setaffinity(0, cores)
        _set_thread_env(threads, inter, blocktime)
        from lpot.model.runner import make_runner, split_batch

        run = make_runner(model, framework, threads)
        if metric is not None:
            metric.reset()
        lat: List[float] = []
        batch_size = 0
        seen = 0
        while True:  # the dataloader is restarted when warmup + iteration needs more batches
            progressed = False
            for batch in loader:
                progressed = True
                inputs, label = split_batch(batch)
                t0 = time.perf_counter()
                out = run(inputs)
                dt = time.perf_counter() - t0
                seen += 1
                if seen <= warmup:
                    continue
                lat.append(dt)
                batch_size = batch_size or _batch_len(inputs)
                if metric is not None and label is not None:
                    pred = out
                    if postprocess is not None:
                        pred, label = postprocess((pred, label))
                    metric.update(pred, label)
                if 0 < iteration <= len(lat):
                    break
            if not progressed or iteration <= 0 or len(lat) >= iteration:
                break
        res = {"instance": index, "pid": os.getpid(), "affinity": sorted(os.sched_getaffinity(0)),
               "threads": threads, "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
               "latencies": lat, "batch_size": batch_size,
               "accuracy": float(metric.result()) if metric is not None and lat else None}
        res.update(latency_stats(lat, batch_size))
        conn.send(("ok", res))
    except BaseException as e:  # noqa: BLE001 - reported to the parent, which raises
        conn.send(("error", f"{type(e).__name__}: {e}\n{traceback.format_exc()}"))
    finally:
        conn.close()


def _batch_len(x: Any) -> int:
    if isinstance(x, dict):
        x = next(iter(x.values()))
    if isinstance(x, (tuple, list)):
        x = x[0]
    shape = getattr(x, "shape", None)
    return int(shape[0]) if shape else 1


class Benchmark(Component):
    """See the module documentation. b(mode) returns results[mode]."""

    def __init__(self, conf_fname_or_obj: Any = None) -> None:
        super().__init__(conf_fname_or_obj)
        self.results: Dict[str, Dict[str, Any]] = {}

    @property
    def b_dataloader(self) -> Any:
        return self._eval_dataloader

    @b_dataloader.setter
    def b_dataloader(self, dataloader: Any) -> None:
        self._eval_dataloader = self._check_loader("b_dataloader", dataloader)

    def __call__(self, mode: str = "performance") -> Dict[str, Any]:
        if mode not in MODES:
            raise ConfigError(f"Benchmark: mode must be 'performance' or 'accuracy', got {mode!r}")
        model = self._require_model()
        section = _get(self.conf, "evaluation", mode) or {}
        where = f"evaluation.{mode}"
        loader = self._build_loader(self._eval_dataloader, section.get("dataloader"),
                                    f"{where}.dataloader")
        if loader is None:
            raise ConfigError(f"Benchmark.b_dataloader: no data for {mode}: set b.b_dataloader or "
                              f"{where}.dataloader in the YAML")
        metric = self._resolve_metric("accuracy")
        if mode == "accuracy" and metric is None:
            raise ConfigError("Benchmark.metric: accuracy mode needs a metric: set b.metric or "
                              "evaluation.accuracy.metric in the YAML")
        postprocess = self._resolve_postprocess("accuracy") if metric is not None else None
        configs = section.get("configs") or {}
        plan = plan_instances(configs.get("cores_per_instance"), configs.get("num_of_instance") or 1,
                              where=f"{where}.configs")
        threads = int(configs.get("intra_num_of_threads") or len(plan[0]))
        warmup = int(section.get("warmup", 0) or 0) if mode == "performance" else 0
        iteration = int(section.get("iteration", -1) if section.get("iteration") is not None else -1)
        framework = self.framework if model.framework.split("_")[0] == self.framework.split("_")[0] \
            else model.framework
        instances = self._run(plan, threads, configs, model.model, framework, loader, metric,
                              postprocess, warmup, iteration)
        all_lat = [x for r in instances for x in r["latencies"]]
        bs = instances[0]["batch_size"]
        agg = latency_stats(all_lat, bs)
        agg["throughput"] = float(sum(r["throughput"] for r in instances))
        accs = [r["accuracy"] for r in instances if r["accuracy"] is not None]
        agg["accuracy"] = float(np.mean(accs)) if accs else None
        res = {"mode": mode, "batch_size": bs, "num_of_instance": len(plan),
               "cores_per_instance": len(plan[0]), "warmup": warmup, "iteration": iteration,
               "instances": instances, "aggregate": agg}
        self.results[mode] = res
        logger.info("Benchmark %s: %d instance(s) x %d core(s): latency p50 %.3f ms, throughput "
                    "%.1f samples/s%s", mode, len(plan), len(plan[0]), agg["latency_p50"] * 1e3,
                    agg["throughput"], "" if agg["accuracy"] is None else f", accuracy {agg['accuracy']:.4f}")
        return res

    fit = __call__

    def _run(self, plan: List[List[int]], threads: int, configs: Dict[str, Any], model: Any,
             framework: str, loader: Any, metric: Any, postprocess: Any, warmup: int,
             iteration: int) -> List[Dict[str, Any]]:
        import multiprocessing as mp

        ctx = mp.get_context("fork")
        procs = []
        for i, cores in enumerate(plan):
            parent, child = ctx.Pipe(duplex=False)
            p = ctx.Process(target=_worker, name=f"lpot-bench-{i}",
                            args=(child, i, cores, threads, configs.get("inter_num_of_threads"),
                                  configs.get("kmp_blocktime"), model, framework, loader, metric,
                                  postprocess, warmup, iteration))
            p.start()
            child.close()
            procs.append((p, parent))
        results: List[Dict[str, Any]] = []
        errors: List[str] = []
        for i, (p, conn) in enumerate(procs):
            try:
                status, payload = conn.recv()
            except EOFError:
                status, payload = "error", "the worker died without a result"
            p.join()
            if status == "ok":
                results.append(payload)
            else:
                errors.append(f"instance {i} (exit code {p.exitcode}): {payload}")
        if errors:
            raise LpotError("Benchmark failed: " + "\n".join(errors))
        return results

    def legacy_results(self) -> Dict[str, tuple]:
        """{mode: (accuracy, batch_size, latency_list)} as LPOT 1.x returned."""
        return {m: (r["aggregate"]["accuracy"], r["batch_size"],
                    [x for inst in r["instances"] for x in inst["latencies"]])
                for m, r in self.results.items()}
