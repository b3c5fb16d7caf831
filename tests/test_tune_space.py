"""The tuning space: capability ∩ model_wise ∩ op_wise, bf16/fp32, sampling."""
import pytest

import lpot
from lpot import _engine
from lpot.tuning import build_space, resolve_op_wise


def cap(name, weight=True, act_dtypes=("uint8", "bf16", "fp32"), algos=("minmax", "kl"),
        grans=("per_channel", "per_tensor")):
    return {"name": name, "type": "Conv",
            "weight": {"dtype": ["int8", "fp32"], "scheme": ["sym"], "granularity": list(grans),
                       "algorithm": ["minmax"]} if weight else None,
            "activation": {"dtype": list(act_dtypes), "scheme": ["asym", "sym"],
                           "granularity": ["per_tensor"], "algorithm": list(algos)}}


def precisions(space, op):
    return [o["precision"] for o in space.options(op)]


def test_options_are_capability_product_then_bf16_then_fp32():
    s = _engine.TuningSpace([cap("a")])
    opts = s.options(0)
    assert len(s) == 1 and s.op_names == ["a"]
    # 2 act schemes x 2 act algorithms x 2 weight granularities = 8 int8 options
    assert precisions(s, 0) == ["int8"] * 8 + ["bf16", "fp32"]
    assert opts[0] == {"weight": {"dtype": "int8", "scheme": "sym", "granularity": "per_channel",
                                  "algorithm": "minmax"},
                       "activation": {"dtype": "uint8", "scheme": "asym",
                                      "granularity": "per_tensor", "algorithm": "minmax"},
                       "precision": "int8"}
    # the last weight field varies fastest, then activation fields
    assert opts[1]["weight"]["granularity"] == "per_tensor"
    assert opts[2]["activation"]["algorithm"] == "kl"
    assert opts[8] == {"weight": {"dtype": "bf16"}, "activation": {"dtype": "bf16"},
                       "precision": "bf16"}
    assert s.op(0) == {"name": "a", "type": "Conv", "n_options": 10, "n_quantized": 8,
                       "bf16": 8, "fp32": 9}
    assert s.sampling_sizes == [100]


def test_bf16_only_where_the_capability_allows_and_no_weight_ops():
    s = _engine.TuningSpace([cap("a", act_dtypes=("uint8", "fp32")), cap("b", weight=False)])
    assert "bf16" not in precisions(s, "a")
    assert s.fallback("a") == s.fallback("a", 1) == s.op("a")["fp32"]
    assert s.options("b")[0]["weight"] is None
    assert precisions(s, "b") == ["int8"] * 4 + ["bf16", "fp32"]
    assert s.fallback("b") == 4 and s.fallback("b", 1) == 5


def test_model_wise_filters_and_orders_values():
    mw = {"activation": {"algorithm": ["kl", "minmax"], "scheme": "sym"},
          "weight": {"granularity": "per_tensor"}}
    s = _engine.TuningSpace([cap("a")], model_wise=mw)
    opts = s.options(0)
    assert precisions(s, 0) == ["int8", "int8", "bf16", "fp32"]
    assert [o["activation"]["algorithm"] for o in opts[:2]] == ["kl", "minmax"]
    assert {o["activation"]["scheme"] for o in opts[:2]} == {"sym"}
    assert {o["weight"]["granularity"] for o in opts[:2]} == {"per_tensor"}
    # model_wise naming only int8 dtypes keeps the fp32 fallback
    s = _engine.TuningSpace([cap("a")], model_wise={"activation": {"dtype": ["uint8"]}})
    assert precisions(s, 0)[-1] == "fp32" and "bf16" not in precisions(s, 0)


def test_op_wise_replaces_model_wise_for_its_op():
    mw = {"activation": {"algorithm": "minmax"}}
    ow = {"b": {"activation": {"dtype": "fp32"}}, "c": {"activation": {"dtype": ["uint8"]}}}
    s = _engine.TuningSpace([cap("a"), cap("b"), cap("c")], model_wise=mw, op_wise=ow)
    assert precisions(s, "b") == ["fp32"]
    # an op_wise dtype list without fp32 forbids the fallback
    assert precisions(s, "c") == ["int8"] * 8
    assert {o["activation"]["algorithm"] for o in s.options("c")} == {"minmax", "kl"}
    assert len(s.options("a")) == 4 + 2


def test_filter_leaving_nothing_is_a_config_error():
    with pytest.raises(lpot.ConfigError, match=r"op 'b' \(Conv\): the op_wise filter leaves no "
                       r"option \(capability activation dtypes: uint8,bf16,fp32\)"):
        _engine.TuningSpace([cap("a"), cap("b")], op_wise={"b": {"activation": {"dtype": "int4"}}})
    with pytest.raises(lpot.ConfigError, match=r"op_wise: the model has no op named 'zz'"):
        _engine.TuningSpace([cap("a")], op_wise={"zz": {}})


def test_op_wise_regex_resolution():
    names = ["conv1", "conv2", "fc", "block.0/conv"]
    r = resolve_op_wise(names, {"conv.*": {"activation": {"dtype": "fp32"}},
                                "conv2": {"activation": {"algorithm": "kl,minmax"}}})
    assert set(r) == {"conv1", "conv2"}
    assert r["conv2"] == {"activation": {"algorithm": ["kl", "minmax"]}}  # exact name wins
    assert r["conv1"] == {"activation": {"dtype": ["fp32"]}}
    assert set(resolve_op_wise(names, {"block\\.\\d+/.*": {}})) == {"block.0/conv"}
    with pytest.raises(lpot.ConfigError, match="regex 'nothing.*' matches no op"):
        resolve_op_wise(names, {"nothing.*": {}})
    with pytest.raises(lpot.ConfigError, match="no op named 'fc2'"):
        resolve_op_wise(names, {"fc2": {}})


def test_build_space_with_sampling_sizes_and_tune_cfg():
    q = {"calibration": {"sampling_size": "50, 100"},
         "op_wise": {"b.*": {"activation": {"dtype": "fp32"}}}}
    s = build_space([cap("a"), cap("b1")], q)
    assert s.sampling_sizes == [50, 100]
    assert precisions(s, "b1") == ["fp32"]
    assert abs(s.log10_size - (__import__("math").log10(2 * 10 * 1))) < 1e-12
    cfg = s.modelwise_cfg(0, 1)
    assert cfg == [0, 0, 1]
    tc = s.tune_cfg(cfg)
    assert tc["calib_sampling_size"] == 100
    assert tc["op"][("b1", "Conv")] == {"weight": {"dtype": "fp32"}, "activation": {"dtype": "fp32"}}
    assert tc["op"][("a", "Conv")]["activation"]["dtype"] == "uint8"
    with pytest.raises(ValueError, match="has 3 entries"):
        s.tune_cfg([0, 0])
    with pytest.raises(ValueError, match="out of range"):
        s.tune_cfg([10, 0, 0])


def test_modelwise_configs_follow_signatures():
    s = _engine.TuningSpace([cap("a"), cap("b", weight=False)])
    assert s.n_modelwise == 8
    for k in range(8):
        cfg = s.modelwise_cfg(k)
        oa, ob = s.options(0)[cfg[0]], s.options(1)[cfg[1]]
        assert oa["activation"] == ob["activation"]  # same activation settings model-wide
    assert s.modelwise_cfg(1) == [1, 0, 0]  # b has no weight: activation part matches option 0


def test_fingerprint_tracks_the_space():
    a = _engine.TuningSpace([cap("a")]).fingerprint
    assert a == _engine.TuningSpace([cap("a")]).fingerprint
    assert a != _engine.TuningSpace([cap("a")], model_wise={"activation": {"algorithm": "kl"}}).fingerprint
    assert a != _engine.TuningSpace([cap("a")], sampling_sizes=[10]).fingerprint
    assert a != _engine.TuningSpace([cap("b")]).fingerprint
    assert len(a) == 16


def test_bad_inputs():
    with pytest.raises(lpot.TuningError, match="no quantizable op"):
        _engine.TuningSpace([])
    with pytest.raises(TypeError, match=r"ops\[0\]: expected a dict with a 'name'"):
        _engine.TuningSpace([{"type": "Conv"}])
    with pytest.raises(TypeError, match=r"ops\[0\].activation.scheme: expected a string or a list"):
        _engine.TuningSpace([{"name": "a", "activation": {"dtype": ["uint8"], "scheme": 3}}])
    with pytest.raises(lpot.ConfigError, match="sampling_size -5 must be positive"):
        _engine.TuningSpace([cap("a")], sampling_sizes=[-5])
    with pytest.raises(KeyError, match="no op named 'q'"):
        _engine.TuningSpace([cap("a")]).options("q")
    with pytest.raises(IndexError):
        _engine.TuningSpace([cap("a")]).options(3)


@pytest.mark.parametrize("algo", ["percentile", "mse"])
def test_yaml_percentile_and_mse_reach_the_space(algo):
    """`algorithm: percentile|mse` (lpot's additions to LPOT's minmax|kl) pass
    the config schema and select those observers for every op."""
    from lpot.conf.config import load
    cfg = load("model: {name: m, framework: onnxrt_qlinearops}\n"
               f"quantization: {{model_wise: {{activation: {{algorithm: {algo}}}}}}}\n")
    assert cfg["quantization"]["model_wise"]["activation"]["algorithm"] == [algo]
    algos = ("minmax", "kl", "percentile", "mse")
    s = build_space([cap("a", algos=algos), cap("b", algos=algos)], cfg["quantization"])
    for op in ("a", "b"):
        got = {o["activation"]["algorithm"] for o in s.options(op) if o["precision"] == "int8"}
        assert got == {algo}


def test_default_space_uses_lpot_1x_algorithms_only():
    """percentile/mse are opt-in: without an algorithm filter the space holds
    minmax and kl only (as LPOT 1.x), so the model-wise stage does not double."""
    algos = ("minmax", "kl", "percentile", "mse")
    s = build_space([cap("a", algos=algos)], {"model_wise": {"weight": {"granularity": "per_channel"}}})
    got = [o["activation"]["algorithm"] for o in s.options("a") if o["precision"] == "int8"]
    assert sorted(set(got)) == ["kl", "minmax"] and len(got) == 4  # x 2 act schemes
    s = build_space([cap("a", algos=algos)], {"op_wise": {"a": {"activation": {"algorithm": "mse"}}}})
    assert {o["activation"]["algorithm"] for o in s.options("a") if o["precision"] == "int8"} == {"mse"}
    # an op_wise entry without an algorithm keeps model_wise's (or the default)
    for mw, want in ((None, {"minmax", "kl"}), ({"activation": {"algorithm": "percentile"}},
                                                 {"percentile"})):
        s = build_space([cap("a", algos=algos), cap("b", algos=algos)],
                        {"model_wise": mw, "op_wise": {"a": {"weight": {"granularity": "per_tensor"}}}})
        for op in ("a", "b"):
            got = {o["activation"]["algorithm"] for o in s.options(op) if o["precision"] == "int8"}
            assert got == want, (mw, op, got)
