"""The LPOT 1.x script of test_api_quantization on the real adaptors: skipped
until lpot.adaptor.pytorch / lpot.adaptor.onnxrt are in the build."""
import os
import textwrap
import warnings

import numpy as np
import pytest

from conftest import SANITIZED

MODULES = {"pytorch": "lpot.adaptor.pytorch", "onnxrt_qlinearops": "lpot.adaptor.onnxrt"}


@pytest.mark.skipif(SANITIZED, reason="frameworks are not run under the ASan preload")
@pytest.mark.parametrize("fw", sorted(MODULES))
def test_lpot1x_script_on_the_real_adaptor(fw, tmp_path):
    pytest.importorskip(MODULES[fw])
    torch = pytest.importorskip("torch")
    from lpot.experimental import Benchmark, Quantization, common

    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3), torch.nn.ReLU(), torch.nn.Flatten(),
                              torch.nn.Linear(4 * 6 * 6, 5)).eval()
    x = np.random.default_rng(0).standard_normal((128, 1, 8, 8)).astype(np.float32)
    with torch.no_grad():
        y = net(torch.from_numpy(x)).argmax(1).numpy()
    dataset = list(zip(x, y.tolist()))
    model = net
    if fw.startswith("onnxrt"):
        pytest.importorskip("onnxruntime")
        model = str(tmp_path / "net.onnx")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            torch.onnx.export(net, (torch.zeros(1, 1, 8, 8),), model, input_names=["x"],
                              dynamic_axes={"x": {0: "N"}}, opset_version=17, dynamo=False)
    conf = tmp_path / "conf.yaml"
    conf.write_text(textwrap.dedent(f"""\
        model: {{name: tiny, framework: {fw}}}
        evaluation:
          accuracy: {{metric: {{topk: 1}}}}
          performance: {{warmup: 1, iteration: 5, configs: {{cores_per_instance: 1, num_of_instance: 1}}}}
        tuning:
          accuracy_criterion: {{relative: 0.05}}
          workspace: {{path: {tmp_path / 'ws'}}}
        """))
    quantizer = Quantization(str(conf))
    quantizer.model = common.Model(model)
    quantizer.calib_dataloader = common.DataLoader(dataset, batch_size=16)
    quantizer.eval_dataloader = common.DataLoader(dataset, batch_size=32)
    q_model = quantizer()
    assert q_model is not None
    assert q_model.report["baseline"] == 1.0 and q_model.report["accuracy"] >= 0.95
    assert q_model.report["int8_ops"] >= 1
    q_model.save(str(tmp_path / "out"))
    assert os.listdir(tmp_path / "out")
    evaluator = Benchmark(str(conf))
    evaluator.model = q_model
    evaluator.b_dataloader = common.DataLoader(dataset, batch_size=1)
    assert evaluator("performance")["aggregate"]["batches"] == 5
