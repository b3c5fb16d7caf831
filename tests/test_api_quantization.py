"""lpot.experimental.Quantization and the legacy lpot.Quantization, on the
NumPy test adaptor (tests/numpy_adaptor.py) registered as the YAML's framework."""
import json
import logging
import os
import sys
import textwrap

import numpy as np
import pytest

import lpot
from lpot.adaptor import adaptor_class, register_adaptor, unregister_adaptor

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from numpy_adaptor import BlobDataset, NumpyAdaptor, NumpyMLP  # noqa: E402


def conf_text(framework, ws, extra=""):
    return textwrap.dedent(f"""\
        version: 1.0
        model:
          name: mlp
          framework: {framework}
        quantization:
          calibration:
            sampling_size: 64
        evaluation:
          accuracy:
            metric:
              topk: 1
        tuning:
          accuracy_criterion:
            relative: 0.01
          exit_policy:
            timeout: 0
          random_seed: 9527
          workspace:
            path: {ws}
        """) + textwrap.dedent(extra)


@pytest.fixture(params=["pytorch", "onnxrt_qlinearops"])
def fw(request):
    """The NumPy adaptor posing as the framework the YAML names."""
    register_adaptor(request.param, NumpyAdaptor, replace=True)
    NumpyAdaptor.instances.clear()
    yield request.param
    unregister_adaptor(request.param)


class ConstMetric:
    """A metric whose result is fixed; counts update() calls."""
    updates = 0

    def __init__(self, value):
        self.value = value

    def update(self, pred, label):
        ConstMetric.updates += 1

    def reset(self):
        pass

    def result(self):
        return self.value


def quantizer(conf):
    """Quantization(conf) with the model and both dataloaders set in code."""
    from lpot.experimental import Quantization, common

    model = NumpyMLP.random()
    ds = BlobDataset(model)
    q = Quantization(conf)
    q.model = common.Model(model)
    q.calib_dataloader = common.DataLoader(ds, batch_size=32)
    q.eval_dataloader = common.DataLoader(ds, batch_size=32)
    return q


@pytest.fixture
def conf(fw, tmp_path):
    p = tmp_path / "conf.yaml"
    p.write_text(conf_text(fw, tmp_path / "ws"))
    return str(p)


def test_lpot1x_script_runs_unchanged(conf, tmp_path):
    # An LPOT 1.x user script (SPEC.md public API), nothing lpot-specific in it.
    from lpot.experimental import Quantization, common

    model = NumpyMLP.random()
    dataset = BlobDataset(model)
    quantizer = Quantization(conf)
    quantizer.model = common.Model(model)
    quantizer.calib_dataloader = common.DataLoader(dataset, batch_size=32)
    quantizer.eval_dataloader = common.DataLoader(dataset, batch_size=32)
    q_model = quantizer()
    q_model.save(str(tmp_path / "out"))

    assert q_model is not None
    r = q_model.report
    assert r["baseline"] == pytest.approx(0.9)           # BlobDataset flips 10% of the labels
    assert r["accuracy"] >= r["target"] == pytest.approx(0.9 * 0.99)
    assert r["int8_ops"] + r["fp32_ops"] == 3
    assert [o["name"] for o in r["ops"]] == ["fc1", "fc2", "fc3"]
    assert r["trials"] >= 1 and r["evaluations"] >= 2 and r["tuning_time"] > 0
    assert set(r["measures"]) == {"performance", "modelsize", "footprint"}
    ws = tmp_path / "ws"
    for name in ("history.jsonl", "best_tune_cfg.json", "deploy.yaml"):
        assert (ws / name).is_file(), name
    assert r["deploy"] == str(ws / "deploy.yaml")
    assert (tmp_path / "out" / "weights.npz").is_file()
    # deploy.yaml is a valid configuration naming every op's chosen options
    from lpot.conf import Config

    dep = Config(str(ws / "deploy.yaml"))
    chosen = {n: dep.quantization.op_wise[n].activation.dtype[0] for n in ("fc1", "fc2", "fc3")}
    assert chosen == {o["name"]: ("uint8" if o["dtype"] == "int8" else "fp32") for o in r["ops"]}
    assert dep.quantization.calibration.sampling_size == [64]
    lines = (ws / "history.jsonl").read_text().splitlines()
    assert len(lines) >= r["trials"]


def test_precedence_eval_func_over_dataloader(conf):
    from lpot.experimental import common

    ConstMetric.updates = 0
    q = quantizer(conf)
    q.metric = common.Metric(ConstMetric, value=0.0)
    q.eval_func = lambda m: 0.77
    qm = q()
    assert qm.report["baseline"] == pytest.approx(0.77)
    assert ConstMetric.updates == 0
    ad = NumpyAdaptor.instances[-1]
    assert ad.eval_func is q.eval_func and ad.eval_dataloader is None and ad.metric is None


def test_precedence_metric_in_code_over_yaml(conf):
    from lpot.experimental import common

    q = quantizer(conf)
    q.metric = common.Metric(ConstMetric, value=0.5)
    assert q().report["baseline"] == 0.5      # YAML says topk: 1 (it would give 0.9)


def test_no_evaluation_quantizes_once_with_default_config(fw, tmp_path, caplog):
    from lpot.experimental import Quantization, common

    p = tmp_path / "c.yaml"
    p.write_text(conf_text(fw, tmp_path / "ws").replace("evaluation:\n  accuracy:\n    metric:\n"
                                                        "      topk: 1\n", ""))
    model = NumpyMLP.random()
    q = Quantization(str(p))
    q.model = model                            # a raw model is wrapped and detected
    q.calib_dataloader = common.DataLoader(BlobDataset(model), batch_size=16)
    with caplog.at_level(logging.WARNING, logger="lpot"):
        qm = q()
    ad = NumpyAdaptor.instances[-1]
    assert (ad.quantize_calls, ad.evaluate_calls) == (1, 0)
    assert qm.report["evaluated"] is False and qm.report["accuracy"] is None
    assert qm.report["int8_ops"] == 3 and qm.report["trials"] == 1
    assert "no eval_func and no eval dataloader" in caplog.text
    assert (tmp_path / "ws" / "deploy.yaml").is_file()
    assert not (tmp_path / "ws" / "history.jsonl").exists()


def test_none_when_goal_unreachable_says_why_and_keeps_best(fw, tmp_path, caplog):
    from lpot.experimental import Quantization, common

    p = tmp_path / "c.yaml"
    p.write_text(conf_text(fw, tmp_path / "ws").replace("timeout: 0", "timeout: 0\n    max_trials: 2"))
    model = NumpyMLP.random()
    q = Quantization(str(p))
    q.model = common.Model(model)
    q.calib_dataloader = common.DataLoader(BlobDataset(model), batch_size=16)
    # full accuracy only for the fp32 model: every quantized op costs 0.2
    q.eval_func = lambda m: 1.0 - 0.2 * sum(v == "int8" for v in m.prec.values())
    with caplog.at_level(logging.WARNING, logger="lpot"):
        assert q() is None
    assert "Quantization returned None" in caplog.text
    assert "no configuration met the accuracy goal" in caplog.text
    assert "max_trials reached" in caplog.text and "target 0.99" in caplog.text
    ws = tmp_path / "ws"
    assert q.report["trials"] == 2 and q.report["best_so_far_model"] == str(ws / "best_so_far")
    assert (ws / "best_so_far" / "weights.npz").is_file()
    assert (ws / "best_so_far.yaml").is_file() and not (ws / "deploy.yaml").exists()
    best = json.loads((ws / "best_tune_cfg.json").read_text())
    assert best["found"] is False
    assert best["accuracy"] == pytest.approx(q.report["accuracy"]) and best["accuracy"] < 0.99
    assert len((ws / "history.jsonl").read_text().splitlines()) >= 2


def test_dataloaders_and_metric_from_yaml(fw, tmp_path):
    from lpot.experimental import Quantization, common

    extra = ""
    text = conf_text(fw, tmp_path / "ws").replace(
        "    sampling_size: 64\n",
        "    sampling_size: 8\n    dataloader:\n      batch_size: 4\n      dataset:\n"
        "        dummy_v2: {input_shape: [16], label_shape: [1], low: -1.0, high: 1.0}\n").replace(
        "      topk: 1\n",
        "      topk: 1\n    dataloader:\n      batch_size: 8\n      dataset:\n"
        "        dummy_v2: {input_shape: [16], label_shape: [1], low: 0, high: 3.0}\n")
    p = tmp_path / "c.yaml"
    p.write_text(text + extra)
    q = Quantization(str(p))
    q.model = common.Model(NumpyMLP.random())
    qm = q()
    ad = NumpyAdaptor.instances[-1]
    assert ad.calib_dataloader.batch_size == 4 and ad.eval_dataloader.batch_size == 8
    assert type(ad.metric).__name__ == "TopK"
    assert 0.0 <= qm.report["baseline"] <= 1.0


@pytest.mark.parametrize("prop, value, expected", [
    ("eval_func", 3, "Quantization.eval_func must be a callable"),
    ("q_func", "train", "Quantization.q_func must be a callable"),
    ("calib_dataloader", {"batch_size": 1}, "Quantization.calib_dataloader must be a dataloader"),
    ("eval_dataloader", 42, "Quantization.eval_dataloader must be a dataloader"),
    ("metric", object(), "Quantization.metric must be common.Metric"),
    ("metric", dict, "Quantization.metric must be common.Metric"),
    ("postprocess", 1.5, "Quantization.postprocess must be common.Postprocess"),
])
def test_property_validation(conf, prop, value, expected):
    from lpot.experimental import Quantization

    q = Quantization(conf)
    with pytest.raises(TypeError, match=expected):
        setattr(q, prop, value)


def test_model_property_errors(conf):
    from lpot.experimental import Quantization

    q = Quantization(conf)
    with pytest.raises(lpot.ModelError, match=r"Quantization.model: cannot tell the framework of a builtins.int"):
        q.model = 3
    with pytest.raises(TypeError, match="Quantization.model must be a model"):
        q.model = None
    with pytest.raises(lpot.ModelError, match="no model; set q.model"):
        q()


def test_missing_calibration_and_metric_errors(conf):
    from lpot.experimental import Quantization, common

    model = NumpyMLP.random()
    q = Quantization(conf)
    q.model = common.Model(model)
    with pytest.raises(lpot.ConfigError, match="Quantization.calib_dataloader: post_training_static_quant"):
        q()
    with open(conf) as f:
        text = f.read().replace("    metric:\n      topk: 1\n", "    iteration: -1\n")
    q = Quantization(text)
    q.model = common.Model(model)
    q.calib_dataloader = common.DataLoader(BlobDataset(model))
    q.eval_dataloader = common.DataLoader(BlobDataset(model))
    with pytest.raises(lpot.ConfigError, match="an evaluation dataloader is set but no metric"):
        q()


def test_config_inputs(fw, tmp_path):
    from lpot.conf import Config
    from lpot.experimental import Quantization

    text = conf_text(fw, tmp_path / "ws")
    assert Quantization(Config(text)).conf == Quantization(text).conf == Quantization(Config(text).to_dict()).conf
    with pytest.raises(TypeError, match="the configuration must be a YAML path"):
        Quantization(3.5)
    with pytest.raises(lpot.ConfigError, match="a configuration is required"):
        Quantization()
    with pytest.raises(lpot.ConfigError, match="exit_polcy"):
        Quantization(text.replace("exit_policy", "exit_polcy"))


def test_common_dataloader_validates_at_once():
    from lpot.experimental import common

    with pytest.raises(ValueError, match="batch_size must be a positive integer"):
        common.DataLoader([1, 2, 3], batch_size=0)
    with pytest.raises(ValueError, match="last_batch must be 'rollover' or 'discard'"):
        common.DataLoader([1, 2, 3], last_batch="keep")
    with pytest.raises(TypeError, match="dataset must be indexable"):
        common.DataLoader(5)
    dl = common.DataLoader(np.arange(10), batch_size=4, last_batch="discard")
    assert [b.tolist() for b in dl] == [[0, 1, 2, 3], [4, 5, 6, 7]]
    assert dl.build("pytorch").framework == "pytorch"


def test_common_model_metric_postprocess():
    from lpot.experimental import common

    register_adaptor("pytorch", NumpyAdaptor, replace=True)
    try:
        m = common.Model(NumpyMLP.random())
        assert m.framework == "pytorch" and isinstance(m.model, NumpyMLP)
        assert common.Model(m).model is m.model
    finally:
        unregister_adaptor("pytorch")
    assert common.Model("x.onnx").framework == "onnxrt_qlinearops"
    with pytest.raises(lpot.ModelError, match="cannot tell the framework of model path 'x.bin'"):
        common.Model("x.bin")
    with pytest.raises(TypeError, match="lacks update, reset"):
        common.Metric(type("Bad", (), {"result": lambda self: 0}))

    class Shift:
        def __init__(self, by):
            self.by = by

        def __call__(self, sample):
            return sample[0], sample[1] + self.by

    pp = common.Postprocess(Shift, "shift", by=2)
    assert pp.instance()((0, 1)) == (0, 3)
    assert "CrossEntropyLoss" in common.Criterions("pytorch") and "SGD" in common.Optimizers
    with pytest.raises(lpot.ConfigError, match="unknown optimizer 'Adagrad'"):
        common.Optimizers["Adagrad"]


def test_legacy_quantization(conf, tmp_path):
    model = NumpyMLP.random()
    ds = BlobDataset(model)
    from lpot.experimental import common

    quantizer = lpot.Quantization(conf)
    qm = quantizer(model, q_dataloader=common.DataLoader(ds, batch_size=32),
                   eval_dataloader=common.DataLoader(ds, batch_size=32))
    assert qm.report["baseline"] == pytest.approx(0.9)
    qm2 = lpot.Quantization(conf)(model, q_dataloader=common.DataLoader(ds, batch_size=32),
                                  eval_func=lambda m: 0.5)
    assert qm2.report["baseline"] == 0.5


def test_not_built_components_are_honest():
    from lpot.experimental import Graph_Optimization, MixedPrecision, NotBuiltError, Pruning

    for cls in (Pruning, MixedPrecision, Graph_Optimization):
        with pytest.raises(NotBuiltError, match=f"lpot.experimental.{cls.__name__} .* is not built"):
            cls("conf.yaml")
    assert issubclass(NotBuiltError, lpot.LpotError) and issubclass(NotBuiltError, NotImplementedError)


def test_register_adaptor_rules():
    with pytest.raises(lpot.ModelError, match="already has an adaptor; pass replace=True"):
        register_adaptor("pytorch", NumpyAdaptor)
    with pytest.raises(TypeError, match="expected a class"):
        register_adaptor("numpy", object())
    register_adaptor("numpy_test", NumpyAdaptor)
    try:
        assert adaptor_class("numpy_test") is NumpyAdaptor
        assert "numpy_test" in lpot.adaptor.frameworks()
    finally:
        unregister_adaptor("numpy_test")
    with pytest.raises(lpot.ModelError, match="unknown framework 'numpy_test'"):
        adaptor_class("numpy_test")


def test_import_lpot_stays_light(py):
    r = py("import sys, lpot, lpot.experimental; lpot.Quantization; lpot.Benchmark\n"
           "bad = [m for m in ('torch', 'onnx', 'onnxruntime', 'tensorflow') if m in sys.modules]\n"
           "print(bad)")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "[]"


class _TimedAdaptor(NumpyAdaptor):
    """NumpyAdaptor with a benchmark whose figures the test chooses."""
    fp32_s, int8_s = 0.001, 0.002

    def benchmark(self, model):
        return self.fp32_s if model is self.fp32_model else self.int8_s


@pytest.mark.parametrize("fp32_s,int8_s,slower", [(0.001, 0.002, True), (0.004, 0.001, False)])
def test_int8_slower_than_fp32_is_said_out_loud(tmp_path, caplog, fp32_s, int8_s, slower):
    _TimedAdaptor.fp32_s, _TimedAdaptor.int8_s = fp32_s, int8_s
    register_adaptor("pytorch", _TimedAdaptor, replace=True)
    try:
        p = tmp_path / "conf.yaml"
        p.write_text(conf_text("pytorch", tmp_path / "ws"))
        with caplog.at_level("WARNING", logger="lpot"):
            qm = quantizer(str(p))()
    finally:
        unregister_adaptor("pytorch")
    r = qm.report
    assert r["latency_fp32"] == fp32_s and r["latency_int8"] == int8_s
    assert r["speedup"] == pytest.approx(fp32_s / int8_s)
    said = [m for m in caplog.messages if "SLOWER than fp32" in m]
    if slower:
        assert r["slower_than_fp32"] is True
        assert len(said) == 1 and "2.00x SLOWER" in said[0] and "2.000 ms vs 1.000 ms" in said[0]
    else:
        assert "slower_than_fp32" not in r and said == []
