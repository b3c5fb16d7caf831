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
run at the same time (fresh interpreters when the model and data pickle, else
forked: see Benchmark._run); each runs `warmup` untimed batches, then `iteration`
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
            blocktime: Optional[int], payload: Any, warmup: int, iteration: int) -> None:
    """One instance: pin, set threads, run, send a result dict (or an error).
    payload: (model, framework, runner_factory, loader, metric, postprocess),
    or its pickle (bytes) when the worker is a fresh interpreter."""
    try:
        os.sched_setaffinity(0, cores)
        for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
            os.environ[var] = str(threads)
        if isinstance(payload, bytes):
            import pickle

            payload = pickle.loads(payload)
        model, framework, factory, loader, metric, postprocess = payload
        _set_thread_env(threads, inter, blocktime)
        from lpot.model.runner import make_runner, split_batch

        run = factory(model, threads) if factory is not None else make_runner(model, framework, threads)
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


def _clean_payload(payload: tuple) -> Optional[bytes]:
    """The payload pickled for a fresh interpreter, or None when it cannot go
    there (unpicklable, or it refers to classes of the user's __main__,
    which a fresh interpreter does not have)."""
    import pickle

    try:
        data = pickle.dumps(payload, protocol=pickle.HIGHEST_PROTOCOL)
    except Exception as e:  # noqa: BLE001 - lambdas, open sessions, ...: fork instead
        logger.debug("Benchmark: payload not picklable (%s); forking the workers", e)
        return None
    if b"__main__" in data:
        return None
    return data


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
        self.start_method: Optional[str] = None

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
        """Workers are fresh interpreters (multiprocessing forkserver: no state
        inherited, the user's script is not re-run) when the model, data and
        metric pickle; otherwise they are forked, and then run one thread each
        if PyTorch is loaded (its OpenMP pool does not survive fork)."""
        import multiprocessing as mp
        import sys

        from lpot.model.base import QuantizedModel

        raw = model.model if isinstance(model, QuantizedModel) else model
        factory = None
        try:
            from lpot.adaptor import adaptor_class

            factory = getattr(adaptor_class(framework), "make_runner", None)
        except LpotError:
            factory = None
        payload: Any = (raw, framework, factory, loader, metric, postprocess)
        data = _clean_payload(payload)
        if data is not None:
            ctx = mp.get_context("forkserver")
            ctx.set_forkserver_preload(["lpot"])
            payload = data
            self.start_method = "forkserver"
        else:
            ctx = mp.get_context("fork")
            self.start_method = "fork"
            if threads > 1 and "torch" in sys.modules:
                logger.warning("Benchmark: the model or data cannot be sent to a fresh process (not "
                               "picklable, or defined in __main__); forked workers run 1 thread each "
                               "instead of %d (PyTorch's OpenMP pool does not survive fork)", threads)
                threads = 1
        procs = []
        for i, cores in enumerate(plan):
            parent, child = ctx.Pipe(duplex=False)
            p = ctx.Process(target=_worker, name=f"lpot-bench-{i}",
                            args=(child, i, cores, threads, configs.get("inter_num_of_threads"),
                                  configs.get("kmp_blocktime"), payload, warmup, iteration))
            p.start()
            child.close()
            procs.append((p, parent))
        results: List[Dict[str, Any]] = []
        errors: List[str] = []
        for i, (p, conn) in enumerate(procs):
            try:
                status, res = conn.recv()
            except EOFError:
                status, res = "error", "the worker died without a result"
            conn.close()
            p.join()
            if status == "ok":
                results.append(res)
            else:
                errors.append(f"instance {i} (exit code {p.exitcode}): {res}")
        if errors:
            raise LpotError("Benchmark failed: " + "\n".join(errors))
        return results

    def legacy_results(self) -> Dict[str, tuple]:
        """{mode: (accuracy, batch_size, latency_list)} as LPOT 1.x returned."""
        return {m: (r["aggregate"]["accuracy"], r["batch_size"],
                    [x for inst in r["instances"] for x in inst["latencies"]])
                for m, r in self.results.items()}
