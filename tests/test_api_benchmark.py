"""lpot.experimental.Benchmark: forked workers pinned with sched_setaffinity,
per-instance and aggregated results; legacy lpot.Benchmark."""
import os
import sys
import textwrap

import numpy as np
import pytest

import lpot
from lpot.adaptor import register_adaptor, unregister_adaptor
from lpot.experimental.benchmark import available_cores, latency_stats, plan_instances

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from numpy_adaptor import BlobDataset, NumpyAdaptor, NumpyMLP  # noqa: E402

CORES = available_cores()


@pytest.fixture
def fw():
    register_adaptor("pytorch", NumpyAdaptor, replace=True)
    yield "pytorch"
    unregister_adaptor("pytorch")


def conf(cpi, n, warmup=2, iteration=10):
    return textwrap.dedent(f"""\
        version: 1.0
        model: {{name: mlp, framework: pytorch}}
        evaluation:
          accuracy:
            metric: {{topk: 1}}
          performance:
            warmup: {warmup}
            iteration: {iteration}
            configs: {{cores_per_instance: {cpi}, num_of_instance: {n}, intra_num_of_threads: {cpi}}}
        """)


@pytest.mark.skipif(len(CORES) < 2, reason="needs 2 cores in this process's affinity")
def test_instances_pinned_to_disjoint_cores(fw):
    from lpot.experimental import Benchmark, common

    model = NumpyMLP.random()
    b = Benchmark(conf(1, 2))
    b.model = common.Model(model)
    b.b_dataloader = common.DataLoader(BlobDataset(model), batch_size=8)
    res = b("performance")
    assert b.start_method == "forkserver"          # everything pickles: fresh interpreters
    assert res is b.results["performance"]
    inst = res["instances"]
    assert [r["instance"] for r in inst] == [0, 1]
    assert [r["affinity"] for r in inst] == [[CORES[0]], [CORES[1]]]
    assert len({r["pid"] for r in inst}) == 2 and os.getpid() not in {r["pid"] for r in inst}
    assert all(r["threads"] == 1 and r["omp_num_threads"] == "1" for r in inst)
    for r in inst:
        assert r["batches"] == 10 and len(r["latencies"]) == 10 and r["batch_size"] == 8
        assert r["latency_p50"] <= r["latency_p90"] <= r["latency_p99"]
        assert r["throughput"] == pytest.approx(8 * 10 / sum(r["latencies"]))
    agg = res["aggregate"]
    assert agg["batches"] == 20
    assert agg["throughput"] == pytest.approx(inst[0]["throughput"] + inst[1]["throughput"])
    assert agg["latency_mean"] == pytest.approx(np.mean(inst[0]["latencies"] + inst[1]["latencies"]))
    assert os.sched_getaffinity(0) == set(CORES)          # the parent is not pinned


def test_unpicklable_data_falls_back_to_fork(fw):
    from lpot.data import default_collate
    from lpot.experimental import Benchmark, common

    model = NumpyMLP.random()
    b = Benchmark(conf(1, 1))
    b.model = model
    b.b_dataloader = common.DataLoader(BlobDataset(model, n=40), batch_size=4,
                                       collate_fn=lambda s: default_collate(s))
    res = b("accuracy")
    assert b.start_method == "fork"
    assert res["aggregate"]["accuracy"] == pytest.approx(0.9)
    assert res["instances"][0]["pid"] != os.getpid()


def test_accuracy_mode_runs_the_whole_dataloader(fw):
    from lpot.experimental import Benchmark, common

    model = NumpyMLP.random()
    b = Benchmark(conf(1, 1))
    b.model = model
    b.b_dataloader = common.DataLoader(BlobDataset(model, n=100), batch_size=10)
    res = b("accuracy")
    assert res["aggregate"]["accuracy"] == pytest.approx(0.9)
    assert res["instances"][0]["batches"] == 10 and res["warmup"] == 0


def test_iteration_restarts_a_short_dataloader(fw):
    from lpot.experimental import Benchmark, common

    model = NumpyMLP.random()
    b = Benchmark(conf(1, 1, warmup=3, iteration=25))
    b.model = model
    b.b_dataloader = common.DataLoader(BlobDataset(model, n=40), batch_size=4)   # 10 batches a pass
    assert b("performance")["instances"][0]["batches"] == 25


def test_refuses_more_cores_than_exist(fw):
    from lpot.experimental import Benchmark, common

    model = NumpyMLP.random()
    n = len(CORES)
    b = Benchmark(conf(2, n))
    b.model = model
    b.b_dataloader = common.DataLoader(BlobDataset(model), batch_size=8)
    with pytest.raises(lpot.ConfigError, match=rf"evaluation.performance.configs: 2 cores per instance x "
                       rf"{n} instances = {2 * n} cores requested, but this process may use only {n}"):
        b("performance")
    with pytest.raises(lpot.ConfigError, match="cores requested"):
        plan_instances(None, n + 1, CORES)
    assert plan_instances(None, 1, [4, 5, 6]) == [[4, 5, 6]]
    assert plan_instances(1, 2, [4, 5, 6]) == [[4], [5]]


def test_errors_are_named(fw):
    from lpot.experimental import Benchmark, common

    model = NumpyMLP.random()
    b = Benchmark(conf(1, 1).replace("    metric: {topk: 1}\n", "    iteration: -1\n"))
    with pytest.raises(TypeError, match="Benchmark.b_dataloader must be a dataloader"):
        b.b_dataloader = "data/"
    b.model = model
    with pytest.raises(lpot.ConfigError, match="Benchmark.b_dataloader: no data for performance"):
        b("performance")
    b.b_dataloader = common.DataLoader(BlobDataset(model), batch_size=8)
    with pytest.raises(lpot.ConfigError, match="accuracy mode needs a metric"):
        b("accuracy")
    with pytest.raises(lpot.ConfigError, match="mode must be 'performance' or 'accuracy'"):
        b("speed")


def test_worker_failure_is_reported(fw):
    from lpot.experimental import Benchmark, common

    model = NumpyMLP.random()
    b = Benchmark(conf(1, 1))
    b.model = model
    b.b_dataloader = common.DataLoader(np.zeros((4, 3), np.float32), batch_size=2)   # wrong width
    with pytest.raises(lpot.LpotError, match=r"Benchmark failed: instance 0 \(exit code 0\): ValueError"):
        b("performance")


def test_legacy_benchmark(fw):
    from lpot.experimental import common

    model = NumpyMLP.random()
    out = lpot.Benchmark(conf(1, 1, warmup=1, iteration=5))(
        model, b_dataloader=common.DataLoader(BlobDataset(model, n=50), batch_size=5))
    assert set(out) == {"accuracy", "performance"}
    acc, bs, lat = out["accuracy"]
    assert acc == pytest.approx(0.9) and bs == 5 and len(lat) == 10
    acc, bs, lat = out["performance"]
    assert bs == 5 and len(lat) == 5 and all(x > 0 for x in lat)


def test_latency_stats():
    s = latency_stats([0.1, 0.2, 0.3, 0.4], 2)
    assert s["latency_mean"] == pytest.approx(0.25) and s["latency_p50"] == pytest.approx(0.25)
    assert s["throughput"] == pytest.approx(8 / 1.0)
    assert latency_stats([], 1)["batches"] == 0


@pytest.mark.skipif(os.environ.get("LPOT_SANITIZED") == "1",
                    reason="frameworks are not run under the ASan preload")
@pytest.mark.parametrize("fw", ["pytorch", "onnxrt_qlinearops"])
def test_builtin_runners_on_fp32_framework_models(fw, tmp_path):
    """Benchmark needs no adaptor for fp32 torch / ONNX models (lpot.model.runner)."""
    import warnings

    from lpot.experimental import Benchmark, common

    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(6, 4)).eval()
    x = np.random.default_rng(0).standard_normal((40, 6)).astype(np.float32)
    with torch.no_grad():
        y = net(torch.from_numpy(x)).argmax(1).numpy()
    y[:4] = (y[:4] + 1) % 4                                   # 90% accuracy by construction
    model = net
    if fw.startswith("onnxrt"):
        pytest.importorskip("onnxruntime")
        model = str(tmp_path / "net.onnx")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            torch.onnx.export(net, (torch.zeros(1, 6),), model, input_names=["x"],
                              dynamic_axes={"x": {0: "N"}}, opset_version=17, dynamo=False)
    b = Benchmark(conf(1, 1).replace("framework: pytorch", f"framework: {fw}"))
    b.model = common.Model(model)
    b.b_dataloader = common.DataLoader(list(zip(x, y.tolist())), batch_size=8)
    res = b("accuracy")
    assert res["aggregate"]["accuracy"] == pytest.approx(0.9)
    assert res["instances"][0]["batches"] == 5 and res["batch_size"] == 8
