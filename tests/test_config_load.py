"""Loading configurations: corpus and templates, the Config object, round
trips, coercions, errors users act on, tags, op_wise regexes, the CLI."""
import os
import pathlib
import subprocess
import sys

import pytest

import lpot
from lpot.conf import Config, ConfigError, is_op_regex, load, template_names, \
    template_path

HERE = os.path.dirname(os.path.abspath(__file__))
CORPUS = sorted(p for p in pathlib.Path(HERE, "configs").glob("*.yaml"))
M = "model: {name: m, framework: pytorch}\n"


def errors_of(source):
    with pytest.raises(ConfigError) as ei:
        load(source)
    return ei.value.errors


def message_of(source):
    with pytest.raises(ConfigError) as ei:
        load(source)
    return str(ei.value)


# ---- corpus and templates ------------------------------------------------------

def test_corpus_present():
    names = {p.stem for p in CORPUS}
    assert {"resnet50_tf_ptq", "bert_dynamic", "mobilenet_qat", "resnet_pruning",
            "benchmark_multi_instance"} <= names


@pytest.mark.parametrize("path", CORPUS, ids=[p.stem for p in CORPUS])
def test_corpus_loads_and_round_trips(path):
    cfg = Config(path)
    assert cfg.filename == str(path)
    assert Config(cfg.to_yaml()) == cfg
    assert Config(cfg.to_dict()) == cfg
    assert Config(cfg) == cfg


def test_corpus_values():
    ptq = Config(os.path.join(HERE, "configs", "resnet50_tf_ptq.yaml"))
    assert ptq.model.inputs == ["input_tensor"] and ptq.model.outputs == ["softmax_tensor"]
    assert ptq.quantization.calibration.sampling_size == [50, 100]
    assert list(ptq.quantization.op_wise) == ["v0/resnet_v10/conv0/conv2d/Conv2D",
                                              "v0/cg/affine0/.*"]
    assert ptq.quantization.op_wise["v0/cg/affine0/.*"].weight.dtype == ["fp32"]
    assert ptq.quantization.model_wise.activation.algorithm == ["minmax"]
    assert ptq.evaluation.performance.configs.num_of_instance == 7
    assert ptq.evaluation.accuracy.dataloader.transform.ResizeCropImagenet.mean_value == \
        [123.68, 116.78, 103.94]

    bert = Config(os.path.join(HERE, "configs", "bert_dynamic.yaml"))
    assert bert.quantization.approach == "post_training_dynamic_quant"
    assert bert.tuning.accuracy_criterion == {"relative": 0.01, "absolute": None,
                                              "higher_is_better": True}
    assert bert.evaluation.accuracy.metric == {"GLUE": {"task": "mrpc"}}
    assert bert.evaluation.accuracy.dataloader.dataset.bert.dynamic_length is True
    assert bert.tuning.workspace.path == "./lpot_workspace/bert/"

    qat = Config(os.path.join(HERE, "configs", "mobilenet_qat.yaml"))
    assert qat.tuning.accuracy_criterion.relative is None
    assert qat.tuning.accuracy_criterion.absolute == 0.02
    assert qat.quantization.train.optimizer.SGD == {"learning_rate": 0.1, "momentum": 0.9,
                                                     "nesterov": True, "weight_decay": 0.0001}
    assert qat.quantization.train.dataloader.shuffle is True
    assert qat.quantization.train.dataloader.transform.RandomHorizontalFlip == {}

    pr = Config(os.path.join(HERE, "configs", "resnet_pruning.yaml"))
    pruners = pr.pruning.approach.weight_compression.pruners
    assert [p.prune_type for p in pruners] == ["basic_magnitude", "gradient_sensitivity",
                                               "pattern_lock"]
    assert pruners[2].names == ["layer2.0.conv1.weight", "layer2.0.conv2.weight"]
    assert pruners[2].method == "per_channel" and pruners[2].update_frequency == 1
    assert pruners[1].parameters["importance_inputs"] == ["head_mask"]
    assert pruners[0].start_epoch == 1 and pruners[1].start_epoch is None
    # the alias *norm is a copy of the anchored mapping
    assert pr.evaluation.accuracy.dataloader.transform.Normalize == \
        pr.pruning.train.dataloader.transform.Normalize == \
        {"mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225]}

    bench = Config(os.path.join(HERE, "configs", "benchmark_multi_instance.yaml"))
    assert bench.evaluation.performance.configs == {
        "cores_per_instance": 4, "num_of_instance": 7, "inter_num_of_threads": 1,
        "intra_num_of_threads": 4, "kmp_blocktime": 1}
    assert bench.evaluation.accuracy.configs.cores_per_instance == 28
    assert bench.quantization.approach == "post_training_static_quant"


def test_templates_load_and_round_trip():
    assert template_names() == ["benchmark", "graph_optimization", "pruning", "ptq", "qat"]
    for name in template_names():
        cfg = Config(template_path(name))
        assert Config(cfg.to_yaml()) == cfg, name
    qat = Config(template_path("qat"))
    assert qat.quantization.approach == "quant_aware_training"
    assert Config(template_path("graph_optimization")).graph_optimization.precisions == \
        ["bf16", "fp32"]
    assert len(Config(template_path("pruning")).pruning.approach.weight_compression.pruners) == 2
    with pytest.raises(FileNotFoundError, match="no template 'nope'; available: benchmark"):
        template_path("nope")


def test_pyyaml_reads_our_yaml_identically():
    yaml = pytest.importorskip("yaml")
    for name in template_names():
        cfg = Config(template_path(name))
        assert yaml.safe_load(cfg.to_yaml()) == cfg.to_dict()


# ---- the Config object -------------------------------------------------------------

def test_config_access_and_sources(tmp_path):
    text = M + "tuning: {accuracy_criterion: {relative: 0.02}}\n"
    p = tmp_path / "c.yaml"
    p.write_text(text)
    for src in (text, text.encode(), p, str(p), {"model": {"name": "m", "framework": "pytorch"},
                                                  "tuning": {"accuracy_criterion":
                                                             {"relative": 0.02}}}):
        cfg = Config(src)
        assert cfg.tuning.accuracy_criterion.relative == 0.02
        assert cfg["tuning"]["accuracy_criterion"]["relative"] == 0.02
        assert cfg.tuning["exit_policy"].max_trials == 100
    assert Config(p).filename == str(p) and Config(text).filename is None
    cfg = Config(text)
    with pytest.raises(AttributeError, match="no configuration key 'nope'"):
        cfg.tuning.nope
    d = cfg.to_dict()
    assert type(d) is dict and type(d["tuning"]) is dict
    assert type(d["model"]["inputs"]) is list
    assert repr(cfg) == "Config(model='m', framework='pytorch', source=None)"
    cfg.tuning.random_seed = 7
    assert cfg.to_dict()["tuning"]["random_seed"] == 7


def test_missing_file_is_oserror(tmp_path):
    with pytest.raises(OSError, match=r"nope\.yaml: cannot open the configuration: No such file"):
        Config(str(tmp_path / "nope.yaml"))
    with pytest.raises(OSError, match="is a directory"):
        Config(tmp_path)
    with pytest.raises(TypeError, match="not int"):
        load(3)


def test_round_trip_awkward_values():
    d = {"model": {"name": "a: b # c", "framework": "pytorch", "inputs": ["x y", "true", "1"]},
         "evaluation": {"accuracy": {"metric": {"topk": 5}, "dataloader": {"dataset": {"dummy": {
             "s": "line1\nline2\t\"q\" \\ \x01 é 😀", "n": None, "f": [1.5, -0.0, 1e-30, 1e300],
             "inf": float("inf"), "big": 2 ** 62, "empty": {}, "el": [], "nested": [[1, [2]],
                                                                                  {"a": [{}]}],
             "yes": "yes", "num": "0x10", "dot": ".5", "k e y": 1}}}}}}
    cfg = Config(d)
    assert cfg.model.inputs == ["x y", "true", "1"]  # list items are kept as given
    again = Config(cfg.to_yaml())
    assert again == cfg
    ds = again.evaluation.accuracy.dataloader.dataset.dummy
    assert ds.s == "line1\nline2\t\"q\" \\ \x01 é 😀" and ds.num == "0x10" and ds.yes == "yes"


# ---- coercions --------------------------------------------------------------------

@pytest.mark.parametrize("given,expected", [
    ("'1%'", 0.01), ("1%", 0.01), ("' 2.5 % '", 0.025), ("0.05", 0.05), ("'0.05'", 0.05),
    ("5e-2", 0.05), ("0", 0.0), ("'0%'", 0.0)])
def test_relative_coercion(given, expected):
    cfg = load(M + f"tuning: {{accuracy_criterion: {{relative: {given}}}}}")
    assert cfg["tuning"]["accuracy_criterion"]["relative"] == pytest.approx(expected)


@pytest.mark.parametrize("given,expected", [
    ("'a,b'", ["a", "b"]), ("'a b'", ["a", "b"]), ("'a, b ,c'", ["a", "b", "c"]), ("a", ["a"]),
    ("[a, 'b c']", ["a", "b c"]), ("[]", []), ("''", [])])
def test_string_list_coercion(given, expected):
    assert load(M.replace("}", f", inputs: {given}}}"))["model"]["inputs"] == expected


def test_other_coercions():
    cfg = load(M + "quantization: {calibration: {sampling_size: '100, 200'},"
                    " model_wise: {weight: {dtype: int8}}}\n"
                    "tuning: {exit_policy: {max_trials: 100.0, timeout: '30'},"
                    " tensorboard: 'true'}\n"
                    "pruning: {approach: {weight_compression: {pruners: {prune_type: pattern_lock}}}}")
    assert cfg["quantization"]["calibration"]["sampling_size"] == [100, 200]
    assert cfg["quantization"]["model_wise"]["weight"]["dtype"] == ["int8"]
    assert cfg["tuning"]["exit_policy"]["max_trials"] == 100
    assert cfg["tuning"]["exit_policy"]["timeout"] == 30
    assert cfg["tuning"]["tensorboard"] is True
    pruners = cfg["pruning"]["approach"]["weight_compression"]["pruners"]
    assert len(pruners) == 1 and pruners[0]["prune_type"] == "pattern_lock"
    assert load(M + "quantization: {calibration: {sampling_size: 300}}")[
        "quantization"]["calibration"]["sampling_size"] == [300]


def test_merge_keys_like_pyyaml():
    yaml = pytest.importorskip("yaml")
    text = (M + "quantization:\n  calibration:\n    dataloader: &dl\n      batch_size: 8\n"
            "      dataset: {dummy: {shape: [1, 3]}}\n"
            "      transform: {Resize: {size: 256}, CenterCrop: {size: 224}}\n"
            "  train:\n    dataloader:\n      transform: &t2 {CenterCrop: {size: 10}, ToTensor: {}}\n"
            "evaluation:\n  accuracy:\n    dataloader:\n      <<: *dl\n      batch_size: 32\n"
            "    postprocess:\n      transform:\n"
            "        <<: [*t2, {Resize: {size: 1}, CenterCrop: {size: 99}}]\n"
            "        Normalize: {mean: [0.5]}\n")
    ours = load(text)["evaluation"]["accuracy"]
    peer = yaml.safe_load(text)["evaluation"]["accuracy"]
    assert list(ours["postprocess"]["transform"].items()) == \
        list(peer["postprocess"]["transform"].items()) == [
            ("Resize", {"size": 1}), ("CenterCrop", {"size": 10}), ("ToTensor", {}),
            ("Normalize", {"mean": [0.5]})]
    assert ours["dataloader"]["batch_size"] == 32
    assert ours["dataloader"]["transform"] == peer["dataloader"]["transform"]
    assert (2, 14, "tuning.<<", "a merge key '<<' takes a mapping or a list of mappings") in \
        errors_of(M + "tuning: {<<: 3}")


def test_null_means_default():
    cfg = load(M + "tuning:\n  exit_policy:\n    max_trials:\n  random_seed: ~\nquantization:\n")
    assert cfg["tuning"]["exit_policy"]["max_trials"] == 100
    assert cfg["tuning"]["random_seed"] == 1978
    assert cfg["quantization"]["approach"] == "post_training_static_quant"


def test_free_form_scalars_follow_yaml():
    cfg = load(M + "evaluation: {accuracy: {dataloader: {dataset: {dummy: {"
                    "a: 1, b: 1.5, c: true, d: ~, e: '1', f: 0x1F, g: .inf, h: 1_000, i: No,"
                    " j: 123456789012345678901234567890, k: -.5, l: 2021-01-01}}}}}")
    a = cfg["evaluation"]["accuracy"]["dataloader"]["dataset"]["dummy"]
    assert a == {"a": 1, "b": 1.5, "c": True, "d": None, "e": "1", "f": 31, "g": float("inf"),
                 "h": 1000, "i": False, "j": "123456789012345678901234567890", "k": -0.5,
                 "l": "2021-01-01"}


# ---- errors -------------------------------------------------------------------------

def test_error_message_format_and_errors_attribute(tmp_path):
    p = tmp_path / "conf.yaml"
    p.write_text(M + "tuning:\n  accuracy_criterion:\n    relative: abc\n")
    with pytest.raises(ConfigError) as ei:
        Config(str(p))
    assert str(ei.value) == (f"{p}:4:15: tuning.accuracy_criterion.relative: "
                             "expected a number in [0, 1), got 'abc'")
    assert ei.value.errors == [(4, 15, "tuning.accuracy_criterion.relative",
                                "expected a number in [0, 1), got 'abc'")]
    assert isinstance(ei.value, lpot.LpotError) and isinstance(ei.value, ValueError)
    with pytest.raises(ConfigError) as ei:
        Config(M + "device: tpu", filename="conf.yaml")
    assert str(ei.value).startswith("conf.yaml:2:9: device: expected one of 'cpu', 'gpu', got 'tpu'")
    assert ConfigError("x").errors == ()


def test_all_problems_reported_in_file_order():
    text = ("model: {name: m, framework: pytorc}\n"
            "devise: cpu\n"
            "tuning:\n"
            "  accuracy_criterion: {relative: 2}\n"
            "  exit_policy: {max_trials: 0, timeout: -1}\n"
            "  strategy: {name: basik}\n")
    errs = errors_of(text)
    assert errs == [
        (1, 29, "model.framework", "expected one of 'tensorflow', 'pytorch', 'pytorch_fx', "
         "'pytorch_ipex', 'mxnet', 'onnxrt_qlinearops', 'onnxrt_integerops', 'onnxrt_qdq', "
         "got 'pytorc'; did you mean 'pytorch'?"),
        (2, 1, "devise", "unknown key 'devise', did you mean 'device'?"),
        (4, 34, "tuning.accuracy_criterion.relative", "expected a number in [0, 1), got 2"),
        (5, 29, "tuning.exit_policy.max_trials", "expected an integer >= 1, got 0"),
        (5, 41, "tuning.exit_policy.timeout", "expected an integer >= 0, got -1"),
        (6, 20, "tuning.strategy.name", "expected one of 'basic', 'mse', 'bayesian', "
         "'exhaustive', 'random', 'tpe' or a strategy registered with @strategy_registry, "
         "got 'basik'; did you mean 'basic'?"),
    ]


def test_error_cap():
    text = M + "tuning:\n" + "".join(f"  bad{i}: 1\n" for i in range(80))
    with pytest.raises(ConfigError) as ei:
        load(text)
    assert len(ei.value.errors) == 50
    assert str(ei.value).splitlines()[-1] == "<string>: ... and 30 more problems"


def test_long_non_ascii_values_in_messages():
    errs = errors_of(M + "device: a" + "\u00e9" * 100)
    assert errs == [(2, 9, "device", "expected one of 'cpu', 'gpu', got 'a" + "\u00e9" * 30 + "...'")]
    errs = errors_of({"model": {"name": "m", "framework": "pytorch"}, "tuning": {"\u00e9" * 600: 1}})
    assert len(errs) == 1 and errs[0][2].startswith("tuning.\u00e9\u00e9")


def test_unknown_key_hints():
    assert errors_of(M + "tuning: {accurcy_criterion: {relative: 0.01}}") == [
        (2, 10, "tuning.accurcy_criterion",
         "unknown key 'accurcy_criterion', did you mean 'accuracy_criterion'?")]
    assert errors_of(M + "exit_policy: {timeout: 1}") == [
        (2, 1, "exit_policy", "unknown key 'exit_policy' here; it belongs under 'tuning'")]
    msg = errors_of(M + "tuning: {zzzzzz: 1}")[0][3]
    assert msg == ("unknown key 'zzzzzz' (expected one of: strategy, accuracy_criterion, "
                   "objective, exit_policy, random_seed, tensorboard, workspace)")
    assert errors_of(M + "evaluation: {accuracy: {metric: {topk1: 1}}}")[0][2:] == (
        "evaluation.accuracy.metric.topk1",
        "expected a name, one of 'topk', 'Accuracy', 'Loss', 'MAE', 'MSE', 'RMSE', 'F1', 'mAP', "
        "'COCOmAP', 'mIOU', 'BLEU', 'SquadF1', 'GLUE', got 'topk1'; did you mean 'topk'?")


def test_required_and_structure_errors():
    assert errors_of("device: cpu") == [(1, 1, "model", "required key 'model' is missing")]
    assert errors_of("model: {name: m}") == [
        (1, 8, "model.framework", "required key 'framework' is missing")]
    assert errors_of("model: [a]") == [
        (1, 8, "model", "expected a mapping (keys such as 'name:'), got a list")]
    assert errors_of(M + "evaluation: {accuracy: {dataloader: {dataset: {a: {}, b: {}}}}}") == [
        (2, 47, "evaluation.accuracy.dataloader.dataset",
         "expected exactly one dataset entry (NAME: {arguments}), got 2")]
    assert errors_of(M + "pruning: {train: {optimizer: {SGD: {momentum: 0.9}}}}")[0][2:] == (
        "pruning.train.optimizer.SGD.learning_rate", "required key 'learning_rate' is missing")


def test_relative_and_absolute_exclusive():
    assert errors_of(M + "tuning: {accuracy_criterion: {relative: 0.01, absolute: 0.5}}") == [
        (2, 47, "tuning.accuracy_criterion.absolute",
         "give either 'relative' or 'absolute', not both")]
    cfg = load(M + "tuning: {accuracy_criterion: {absolute: 0.5, higher_is_better: false}}")
    assert cfg["tuning"]["accuracy_criterion"] == {"relative": None, "absolute": 0.5,
                                                   "higher_is_better": False}


def test_epoch_and_sparsity_order():
    errs = errors_of(M + "pruning: {approach: {weight_compression: {start_epoch: 5, end_epoch: 2,"
                         " initial_sparsity: 0.5, target_sparsity: 0.1}}}")
    assert [e[2:] for e in errs] == [
        ("pruning.approach.weight_compression.end_epoch", "end_epoch 2 is before start_epoch 5"),
        ("pruning.approach.weight_compression.target_sparsity",
         "target_sparsity 0.1 is below initial_sparsity 0.5")]


def test_duplicate_keys_are_errors():
    errs = errors_of(M + "tuning:\n  random_seed: 1\n  random_seed: 2\n  random_seed: 3\n")
    assert errs == [(4, 3, "tuning.random_seed", "duplicate key 'random_seed' (first given at line 3, column 3)"),
                    (5, 3, "tuning.random_seed", "duplicate key 'random_seed' (first given at line 3, column 3)")]
    assert errors_of("model: {name: a, framework: pytorch}\nmodel: {}")[0][:3] == (2, 1, "model")


def test_tags():
    # !Pruner only on pruner items; everything else refused, even in free-form args
    ok = load(M + "pruning: {approach: {weight_compression: {pruners: [!Pruner {names: a}]}}}")
    assert ok["pruning"]["approach"]["weight_compression"]["pruners"][0]["names"] == ["a"]
    assert errors_of(M + "device: !Pruner cpu") == [
        (2, 9, "device", "the tag '!Pruner' belongs only on the items of "
                         "pruning.approach.weight_compression.pruners")]
    bad = "the tag '!!python/object/apply:os.system' is not allowed: a configuration never " \
          "constructs objects (remove the tag)"
    assert errors_of(M + "evaluation: {accuracy: {dataloader: {dataset: {dummy: {x: "
                         "!!python/object/apply:os.system [ls]}}}}}")[0][2:] == (
        "evaluation.accuracy.dataloader.dataset.dummy.x", bad)
    errs = errors_of(M + "foo:\n  bar: !!python/object/apply:os.system [ls]\n")
    assert [e for e in errs if e[3] == bad and e[:2] == (3, 8)]
    assert errors_of(M + "tuning: !!map {}")[0][3].startswith("the tag '!!map' is not allowed")
    assert errors_of(M + "pruning: {approach: {weight_compression: {pruners: [!Prunr {}]}}}")[0][3] \
        .startswith("the tag '!Prunr' is not allowed")


def test_op_wise_keys_and_regexes():
    cfg = load(M + "quantization: {op_wise: {'conv1': {activation: {dtype: fp32}}, "
                   "'layer[0-9]+\\.conv.*': {weight: {scheme: sym}}, "
                   "'features.0/Conv-1': ~}}")
    ow = cfg["quantization"]["op_wise"]
    assert list(ow) == ["conv1", "layer[0-9]+\\.conv.*", "features.0/Conv-1"]
    assert ow["conv1"]["activation"]["dtype"] == ["fp32"]
    assert ow["features.0/Conv-1"]["weight"]["bit"] == 7.0
    assert not is_op_regex("features.0/Conv-1") and is_op_regex("layer[0-9]+")
    assert is_op_regex("_private") and not is_op_regex(".hidden")
    errs = errors_of(M + "quantization:\n  op_wise:\n    'conv(':\n      activation: {dtype: fp32}\n"
                         "    'a[':\n      weight: {dtype: int9}\n")
    assert errs == [
        (4, 5, "quantization.op_wise.conv(", "op_wise key 'conv(' is not an op name, and not a "
         "valid regular expression: missing ), unterminated subpattern at position 4"),
        (6, 5, "quantization.op_wise.a[", "op_wise key 'a[' is not an op name, and not a valid "
         "regular expression: unterminated character set at position 1"),
        (7, 23, "quantization.op_wise.a[.weight.dtype", "expected one of 'int8', 'uint8', "
         "'fp32', 'bf16', got 'int9'; did you mean 'int8'?")]


def test_dict_input_errors():
    class Obj:
        def __repr__(self):
            return "<Obj>"

    loop = {"x": 1}
    loop["self"] = loop
    errs = errors_of({"model": {"name": "m", "framework": "pytorch", 3: "k"},
                      "tuning": {"random_seed": 2 ** 70, "exit_policy": {"timeout": Obj()}},
                      "evaluation": {"accuracy": {"dataloader": {"dataset": {"d": loop}}}}})
    assert (0, 0, "model", "a key must be a string, got int 3") in errs
    assert (0, 0, "tuning.random_seed",
            "int 1180591620717411303424 is out of the 64-bit integer range") in errs
    assert (0, 0, "tuning.exit_policy.timeout", "unsupported value of type 'Obj' (<Obj>): use "
            "dicts, lists, strings, numbers, booleans or None") in errs
    assert any("nested more than 64 levels deep (a dict that contains itself?)" in e[3]
               for e in errs)
    assert errors_of({"model": {"name": 5, "framework": "pytorch"}}) == [
        (0, 0, "model.name", "expected a string, got 5")]
    with pytest.raises(ConfigError, match=r"<dict>: model.name: expected a string, got 5"):
        Config({"model": {"name": 5, "framework": "pytorch"}})


# ---- CLI ---------------------------------------------------------------------------

def _cli(*args):
    return subprocess.run([sys.executable, "-m", "lpot.conf", *args], capture_output=True,
                          text=True, timeout=120, cwd=os.path.dirname(HERE))


def test_cli_check(tmp_path):
    good = tmp_path / "good.yaml"
    good.write_text(M + "tuning: {random_seed: 7}\n")
    r = _cli("check", str(good))
    assert r.returncode == 0, r.stderr
    assert Config(r.stdout)["tuning"]["random_seed"] == 7
    assert Config(r.stdout) == Config(str(good)) | {"tuning": Config(r.stdout)["tuning"]}
    bad = tmp_path / "bad.yaml"
    bad.write_text(M + "tuning: {random_seed: x, objective: speed}\n")
    r = _cli("check", str(good), str(bad))
    assert r.returncode == 1
    assert r.stderr.splitlines() == [
        f"{bad}:2:23: tuning.random_seed: expected an integer in [0, 4294967295], got 'x'",
        f"{bad}:2:37: tuning.objective: expected one of 'performance', 'modelsize', "
        "'footprint', got 'speed'"]
    r = _cli("check", str(tmp_path / "missing.yaml"))
    assert r.returncode == 1 and "cannot open the configuration" in r.stderr
    r = _cli("template", "ptq")
    assert r.returncode == 0 and Config(r.stdout).quantization.approach == \
        "post_training_static_quant"


def test_pickle_and_deepcopy_keep_config():
    import copy
    import pickle

    cfg = Config(M + "tuning: {random_seed: 5}", filename="conf.yaml")
    for other in (pickle.loads(pickle.dumps(cfg)), copy.deepcopy(cfg)):
        assert type(other) is Config and other == cfg and other.filename == "conf.yaml"
        assert other.tuning.random_seed == 5
        other.tuning.random_seed = 6
        assert cfg.tuning.random_seed == 5


def test_enum_given_a_non_name():
    choices = "'cpu', 'gpu'"
    assert errors_of({"model": {"name": "m", "framework": "pytorch"}, "device": 5}) == [
        (0, 0, "device", f"expected one of {choices}, got 5")]
    assert errors_of(M + "device: [cpu]") == [(2, 9, "device", f"expected one of {choices}, got a list")]
    assert errors_of(M + "device: 1.5") == [(2, 9, "device", f"expected one of {choices}, got '1.5'")]
