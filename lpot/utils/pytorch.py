"""Rebuild a quantized PyTorch model saved by lpot (imports torch)."""
from __future__ import annotations

import json
import os
from typing import Any

import torch
from torch import nn

from lpot import ModelError


def load(path: str, fp32_model: nn.Module) -> Any:
    """The quantized model saved in `path` (best_configure.yaml +
    best_model_weights.pt) rebuilt over `fp32_model`: the same graph capture
    and fusion, the saved ops swapped for lpot.nn modules, then the saved
    state dict (int8 weights, scales, activation parameters) loaded; packed
    kernels are rebuilt from it. Returns a PyTorchQuantizedModel."""
    from lpot.adaptor import pytorch as pt

    cfg_path = os.path.join(path, pt.CONFIG_NAME)
    w_path = os.path.join(path, pt.WEIGHTS_NAME)
    for p in (cfg_path, w_path):
        if not os.path.exists(p):
            raise ModelError(f"lpot.utils.pytorch.load: missing {p}")
    with open(cfg_path) as f:
        meta = json.load(f)
    fused, traced, err, _ = pt.prepare(fp32_model, meta.get("input_names"))
    if traced != meta["traced"]:
        raise ModelError(f"the model was saved with traced={meta['traced']} but traces "
                         f"{'fine' if traced else 'with an error: ' + err} now")
    approach = meta["approach"]
    m, _, _ = pt.build_quantized(fused, traced, meta["ops"], {}, "dynamic" if approach == "dynamic"
                              else "static", int(meta["bits"]))
    for prod, _cons in meta.get("chains", []):
        m.get_submodule(prod).set_out_qparams(1.0, 0)
    state = torch.load(w_path, map_location="cpu", weights_only=True)
    m.load_state_dict(state)
    m.eval()
    report = {"ops": [{"name": n, "type": i["type"], "dtype": i["dtype"],
                       "reason": "" if i["dtype"] == "int8" else "saved as fp32",
                       "runs": "lpot int8" if i["dtype"] == "int8" else "fp32 torch"}
                      for n, i in meta["ops"].items()],
              "loaded_from": path}
    report["int8_ops"] = sum(o["dtype"] == "int8" for o in report["ops"])
    report["fp32_ops"] = len(report["ops"]) - report["int8_ops"]
    return pt.PyTorchQuantizedModel(m, meta["framework"], report, None, meta)
