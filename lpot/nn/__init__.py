"""PyTorch modules that run on lpot's C kernels (imports torch: load lazily).

- :class:`QuantLinear`, :class:`QuantConv2d`, :class:`QuantConv1d`: static int8 (u8 activations
  with a calibrated scale/zero point, s8 symmetric weights per tensor or per
  output channel, fused ReLU). Input is a float tensor, or a ``torch.uint8``
  tensor already quantized with this module's input parameters (the output
  of a chained producer: no dequantize/quantize round trip). With
  ``out_qparams`` set the module returns such a ``torch.uint8`` tensor.
- :class:`DynamicQuantLinear`: int8 weights, activations quantized on the
  fly in C (``qlinear_dynamic``); :class:`DynamicQuantRNN` the same for
  unidirectional nn.LSTM / nn.GRU.
- :class:`FakeQuantLinear`, :class:`FakeQuantConv2d`: quantization-aware
  training twins; forward and backward (straight-through estimator) go
  through ``lpot.calib.fake_quant``; activations use a moving-average
  observer.
- :class:`FusedReLU`: a float Linear/Conv2d followed by ReLU, fused before
  quantization; :class:`FusedGELU` the same for Linear + GELU (erf or tanh),
  which becomes the kernel's gelu post-op.
- :class:`Matmul` / :class:`QuantMatmul`: a product of two activations
  (``torch.matmul`` / ``bmm`` / ``@`` in a traced graph, e.g. attention's
  Q.K^T and P.V): the float op as a module, and its int8 twin on
  ``lpot.kernels.qmatmul`` (both operands u8 asym, calibrated).
- :class:`QuantEmbedding`, :class:`QuantEmbeddingBag`: weight-only int8
  tables (symmetric, one scale per row) on ``lpot.kernels.qembedding`` /
  ``qembedding_bag``; indices in, float32 out.

Weights live in buffers (int8 weights, float scales, bias, activation
parameters) so ``state_dict``/``torch.save``/``torch.load``/``copy.deepcopy``
work; the packed oneDNN handle is rebuilt from them when they change.
"""
from __future__ import annotations

from typing import Any, Optional, Tuple

import numpy as np
import torch
from torch import nn

from lpot import calib, kernels

__all__ = ["QuantLinear", "QuantConv2d", "QuantConv1d", "DynamicQuantLinear", "DynamicQuantRNN", "FakeQuantLinear",
           "FakeQuantConv2d", "FusedReLU", "FusedGELU", "Matmul", "QuantMatmul", "QuantEmbedding",
           "QuantEmbeddingBag", "FakeQuantize", "weight_qparams", "weight_bits", "fold_bn"]


def weight_bits() -> int:
    """7 on CPUs without VNNI/AMX (oneDNN's int8 path is exact and fast
    there only with |w| <= 64), else 8."""
    from lpot import cpu_features

    used = cpu_features()["used"]
    return 8 if (used.get("avx512_vnni") or used.get("amx_int8") or used.get("avx_vnni")) else 7


def weight_qparams(w: np.ndarray, per_channel: bool, bits: int) -> Tuple[np.ndarray, np.ndarray]:
    """Symmetric int8 weight scales (ONNX convention; 7-bit when bits == 7)."""
    flat = w.reshape(w.shape[0], -1)
    if per_channel:
        lo, hi = flat.min(axis=1), flat.max(axis=1)
    else:
        lo, hi = np.array(flat.min()), np.array(flat.max())
    scale, _ = calib.qparams(lo.astype(np.float32), hi.astype(np.float32), dtype="int8",
                             scheme="sym", reduce_range=bits == 7)
    return np.atleast_1d(np.asarray(scale, np.float32)), np.zeros(np.atleast_1d(scale).shape, np.int8)


def _quant_weight(w: np.ndarray, scale: np.ndarray) -> np.ndarray:
    if scale.size == 1:
        return calib.quantize(w, float(scale[0]), 0, dtype="int8")
    return calib.quantize(w, scale, np.zeros(scale.shape, np.int8), axis=0, dtype="int8")


def fold_bn(conv: nn.Module, bn: nn.Module) -> nn.Module:
    """A Conv1d/Conv2d equal (in eval mode) to conv followed by bn."""
    import copy

    out = copy.deepcopy(conv)
    with torch.no_grad():
        std = torch.sqrt(bn.running_var + bn.eps)
        gamma = bn.weight if bn.weight is not None else torch.ones_like(std)
        beta = bn.bias if bn.bias is not None else torch.zeros_like(std)
        f = gamma / std
        out.weight.copy_(conv.weight * f.reshape(-1, *([1] * (conv.weight.dim() - 1))))
        b = conv.bias if conv.bias is not None else torch.zeros_like(bn.running_mean)
        out.bias = nn.Parameter((b - bn.running_mean) * f + beta)
    return out


class FusedReLU(nn.Module):
    """inner (Linear or Conv2d) then ReLU (ReLU6 when six), as one op for
    quantization."""

    def __init__(self, inner: nn.Module, six: bool = False) -> None:
        super().__init__()
        self.inner = inner
        self.six = bool(six)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.inner(x)
        return nn.functional.relu6(y) if self.six else torch.relu(y)

    def extra_repr(self) -> str:
        return "relu6" if self.six else "relu"


class FusedGELU(nn.Module):
    """inner (Linear) then GELU (approximate 'none' = erf, or 'tanh'), as one
    op for quantization: the int8 kernels apply it as a post-op."""

    def __init__(self, inner: nn.Module, approximate: str = "none") -> None:
        super().__init__()
        if approximate not in ("none", "tanh"):
            raise ValueError(f"approximate: expected 'none' or 'tanh', got {approximate!r}")
        self.inner = inner
        self.approximate = approximate

    @property
    def post_op(self) -> str:
        return "gelu_tanh" if self.approximate == "tanh" else "gelu"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return nn.functional.gelu(self.inner(x), approximate=self.approximate)

    def extra_repr(self) -> str:
        return f"gelu approximate={self.approximate}"


def _np(x: torch.Tensor) -> np.ndarray:
    x = x.detach()
    if x.dtype != torch.float32:
        x = x.float()
    return x.contiguous().numpy()


class _QuantBase(nn.Module):
    """Common state of the static int8 modules."""

    _packed: Any

    def __init__(self, weight_q: torch.Tensor, w_scales: torch.Tensor, bias: Optional[torch.Tensor],
                 x_scale: float, x_zp: int, relu: bool) -> None:
        super().__init__()
        self.register_buffer("weight_q", weight_q.to(torch.int8).contiguous())
        self.register_buffer("w_scales", w_scales.to(torch.float32).reshape(-1).contiguous())
        self.register_buffer("bias", None if bias is None else bias.detach().float().contiguous())
        self.register_buffer("x_scale", torch.tensor(float(x_scale), dtype=torch.float32))
        self.register_buffer("x_zp", torch.tensor(int(x_zp), dtype=torch.int32))
        # output quantization for chaining into the next int8 op ([scale, zp]; empty = float)
        self.register_buffer("out_qparams", torch.zeros(0, dtype=torch.float32))
        self.relu = bool(relu)
        self.relu6 = False   # relu post-op + clamp at 6 (or u8 saturation when chained)
        self.gelu = ""       # "gelu" | "gelu_tanh": the kernel's GELU post-op (Linear only)
        self._packed = None

    # packed handle: rebuilt lazily from the buffers
    def _invalidate(self) -> None:
        self._packed = None

    def _load_from_state_dict(self, state_dict: Any, prefix: str, *args: Any, **kwargs: Any) -> None:
        # shapes may differ (placeholder module rebuilt by lpot.utils.pytorch.load)
        for name in ("weight_q", "w_scales", "bias", "out_qparams"):
            k = prefix + name
            cur = getattr(self, name, None)
            if k in state_dict and cur is not None and cur.shape != state_dict[k].shape:
                setattr(self, name, torch.empty_like(state_dict[k]))
        nn.Module._load_from_state_dict(self, state_dict, prefix, *args, **kwargs)
        self._invalidate()

    def __getstate__(self) -> dict:
        d = self.__dict__.copy()
        d["_packed"] = None
        return d

    def __deepcopy__(self, memo: dict) -> "_QuantBase":
        import copy

        cls = type(self)
        new = cls.__new__(cls)
        memo[id(self)] = new
        for k, v in self.__dict__.items():
            new.__dict__[k] = None if k == "_packed" else copy.deepcopy(v, memo)
        return new

    def set_out_qparams(self, scale: Optional[float], zp: Optional[int]) -> None:
        self.out_qparams = (torch.zeros(0) if scale is None else
                            torch.tensor([float(scale), float(zp or 0)], dtype=torch.float32))

    def _quant_input(self, x: torch.Tensor) -> np.ndarray:
        if x.dtype == torch.uint8:  # already quantized by a chained producer
            return x.contiguous().numpy()
        return calib.quantize(_np(x), float(self.x_scale), int(self.x_zp), dtype="uint8")

    def _out_kwargs(self) -> dict:
        kw: dict = {"post_ops": ("relu",) if self.relu else (self.gelu,) if self.gelu else ()}
        if self.out_qparams.numel():
            kw.update(out_dtype="uint8", out_scale=float(self.out_qparams[0]),
                      out_zp=int(self.out_qparams[1]))
        return kw

    def _finish(self, y: np.ndarray) -> torch.Tensor:
        t = torch.from_numpy(y)
        # chained u8 output: the consumer's range was observed after ReLU6, so
        # 255 * scale <= 6 and u8 saturation is the clamp
        if self.relu6 and t.dtype == torch.float32:
            t.clamp_(max=6.0)
        return t

    def _bias_np(self) -> Optional[np.ndarray]:
        return None if self.bias is None else self.bias.numpy()

    def extra_repr(self) -> str:
        p = self._packed
        return (f"w={tuple(self.weight_q.shape)}, x_scale={float(self.x_scale):.4g}, "
                f"x_zp={int(self.x_zp)}, relu={'relu6' if self.relu6 else self.relu}, "
                f"{'post=' + self.gelu + ', ' if self.gelu else ''}"
                f"chained_out={bool(self.out_qparams.numel())}, "
                f"impl={p.impl if p is not None else '(not packed yet)'}")


class QuantLinear(_QuantBase):
    """y = relu?(dequant(x_q) @ W_q^T * scales + bias) on lpot.kernels.qlinear."""

    def __init__(self, weight_q: torch.Tensor, w_scales: torch.Tensor, bias: Optional[torch.Tensor],
                 x_scale: float, x_zp: int, relu: bool = False) -> None:
        super().__init__(weight_q, w_scales, bias, x_scale, x_zp, relu)

    @classmethod
    def from_float(cls, mod: nn.Module, x_scale: float, x_zp: int, per_channel: bool = True,
                   bits: Optional[int] = None) -> "QuantLinear":
        relu = isinstance(mod, FusedReLU)
        gelu = isinstance(mod, FusedGELU)
        lin = mod.inner if relu or gelu else mod
        w = _np(lin.weight)
        s, _ = weight_qparams(w, per_channel, bits or weight_bits())
        q = _quant_weight(w, s)
        out = cls(torch.from_numpy(q), torch.from_numpy(s), lin.bias, x_scale, x_zp, relu)
        out.relu6 = relu and mod.six
        out.gelu = mod.post_op if gelu else ""
        return out

    @property
    def packed(self) -> Any:
        if self._packed is None:
            self._packed = kernels.PackedLinear(self.weight_q.numpy(), self.w_scales.numpy(),
                                                self._bias_np())
        return self._packed

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        xq = self._quant_input(x)
        y = kernels.qlinear(xq, self.packed, float(self.x_scale), int(self.x_zp), **self._out_kwargs())
        return self._finish(y)


class QuantConv2d(_QuantBase):
    """Conv2d (NCHW) on lpot.kernels.qconv2d."""

    def __init__(self, weight_q: torch.Tensor, w_scales: torch.Tensor, bias: Optional[torch.Tensor],
                 x_scale: float, x_zp: int, relu: bool = False, stride: Tuple[int, int] = (1, 1),
                 padding: Tuple[int, int] = (0, 0), dilation: Tuple[int, int] = (1, 1),
                 groups: int = 1) -> None:
        super().__init__(weight_q, w_scales, bias, x_scale, x_zp, relu)
        self.stride, self.padding, self.dilation, self.groups = (
            tuple(stride), tuple(padding), tuple(dilation), int(groups))
        self._hw: Optional[Tuple[int, int]] = None
        # residual add fused as the kernel's 'sum' post-op (forward(x, residual)),
        # optionally followed by relu (set by the adaptor's graph rewrite)
        self.sum_relu = False

    @classmethod
    def from_float(cls, mod: nn.Module, x_scale: float, x_zp: int, per_channel: bool = True,
                   bits: Optional[int] = None) -> "QuantConv2d":
        relu = isinstance(mod, FusedReLU)
        conv = mod.inner if relu else mod
        if not supported_conv(conv):
            raise ValueError(f"conv not supported by lpot kernels: {conv}")
        w = _np(conv.weight)
        s, _ = weight_qparams(w, per_channel, bits or weight_bits())
        q = _quant_weight(w, s)
        out = cls(torch.from_numpy(q), torch.from_numpy(s), conv.bias, x_scale, x_zp, relu,
                  conv.stride, conv.padding, conv.dilation, conv.groups)
        out.relu6 = relu and mod.six
        return out

    def packed_for(self, hw: Tuple[int, int]) -> Any:
        if self._packed is None or self._hw != hw:
            self._packed = kernels.PackedConv2d(self.weight_q.numpy(), self.w_scales.numpy(),
                                                self._bias_np(), stride=self.stride,
                                                padding=self.padding, dilation=self.dilation,
                                                groups=self.groups, input_hw=hw)
            self._hw = hw
        return self._packed

    def _out_hw(self, h: int, w: int) -> Tuple[int, int]:
        kh, kw = int(self.weight_q.shape[2]), int(self.weight_q.shape[3])
        return tuple((n + 2 * p - d * (k - 1) - 1) // s + 1 for n, p, d, k, s in
                     zip((h, w), self.padding, self.dilation, (kh, kw), self.stride))  # type: ignore

    def forward(self, x: torch.Tensor, residual: Optional[torch.Tensor] = None) -> torch.Tensor:
        if residual is not None:
            oh, ow = self._out_hw(int(x.shape[2]), int(x.shape[3]))
            if tuple(residual.shape) != (
                    x.shape[0], self.weight_q.shape[0], oh, ow):
                y = self.forward(x) + residual   # broadcasting add: not fused
                return torch.relu(y) if self.sum_relu else y
        # NHWC for the kernel (oneDNN's int8 convs are blocked on channels; NCHW
        # would cost a reorder per call); the result is an NCHW-shaped tensor in
        # channels_last memory, which torch's float ops and the next int8 op take
        # without a copy.
        nhwc = x.detach().permute(0, 2, 3, 1)
        if x.dtype == torch.uint8:
            xq = nhwc.contiguous().numpy()
        else:
            xq = calib.quantize(_np(nhwc), float(self.x_scale), int(self.x_zp), dtype="uint8")
        p = self.packed_for((int(xq.shape[1]), int(xq.shape[2])))
        kw = self._out_kwargs()
        if residual is not None:
            if self.out_qparams.numel():
                raise ValueError("a conv with a fused residual add has float output (no chaining)")
            kw["post_ops"] = tuple(kw["post_ops"]) + ("sum",) + (("relu",) if self.sum_relu else ())
            kw["sum_input"] = _np(residual.permute(0, 2, 3, 1))
        y = kernels.qconv2d(xq, p, float(self.x_scale), int(self.x_zp), layout="NHWC", **kw)
        return self._finish(y).permute(0, 3, 1, 2)


def supported_conv(conv: nn.Module) -> bool:
    return (isinstance(conv, (nn.Conv1d, nn.Conv2d)) and conv.padding_mode == "zeros"
            and not isinstance(conv.padding, str))


class QuantConv1d(QuantConv2d):
    """Conv1d as a height-1 QuantConv2d (N, C, L) -> (N, C', L')."""

    @classmethod
    def from_float(cls, mod: nn.Module, x_scale: float, x_zp: int, per_channel: bool = True,
                   bits: Optional[int] = None) -> "QuantConv1d":
        relu = isinstance(mod, FusedReLU)
        conv = mod.inner if relu else mod
        if not isinstance(conv, nn.Conv1d) or not supported_conv(conv):
            raise ValueError(f"conv not supported by lpot kernels: {conv}")
        w = _np(conv.weight)[:, :, None, :]
        s, _ = weight_qparams(w, per_channel, bits or weight_bits())
        q = _quant_weight(w, s)
        out = cls(torch.from_numpy(q), torch.from_numpy(s), conv.bias, x_scale, x_zp, relu,
                  (1, conv.stride[0]), (0, conv.padding[0]), (1, conv.dilation[0]), conv.groups)
        out.relu6 = relu and mod.six
        return out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x.unsqueeze(2)).squeeze(2)


class DynamicQuantLinear(nn.Module):
    """Linear with int8 weights; activations quantized per call in C."""

    def __init__(self, weight_q: torch.Tensor, w_scales: torch.Tensor,
                 bias: Optional[torch.Tensor]) -> None:
        super().__init__()
        self.register_buffer("weight_q", weight_q.to(torch.int8).contiguous())
        self.register_buffer("w_scales", w_scales.float().reshape(-1).contiguous())
        self.register_buffer("bias", None if bias is None else bias.detach().float().contiguous())
        self.post_ops: Tuple[str, ...] = ()   # ("gelu",) / ("gelu_tanh",): fused GELU
        self._packed: Any = None

    @classmethod
    def from_float(cls, lin: nn.Module, per_channel: bool = True,
                   bits: Optional[int] = None) -> "DynamicQuantLinear":
        """lin: an nn.Linear or a FusedGELU around one."""
        gelu = isinstance(lin, FusedGELU)
        inner = lin.inner if gelu else lin
        w = _np(inner.weight)
        s, _ = weight_qparams(w, per_channel, bits or weight_bits())
        out = cls(torch.from_numpy(_quant_weight(w, s)), torch.from_numpy(s), inner.bias)
        out.post_ops = (lin.post_op,) if gelu else ()
        return out

    _load_from_state_dict = _QuantBase._load_from_state_dict
    __getstate__ = _QuantBase.__getstate__
    __deepcopy__ = _QuantBase.__deepcopy__  # type: ignore[assignment]

    def _invalidate(self) -> None:
        self._packed = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self._packed is None:
            self._packed = kernels.PackedLinear(self.weight_q.numpy(), self.w_scales.numpy(),
                                                None if self.bias is None else self.bias.numpy())
        return torch.from_numpy(kernels.qlinear_dynamic(_np(x), self._packed,
                                                        post_ops=self.post_ops))

    def extra_repr(self) -> str:
        return (f"w={tuple(self.weight_q.shape)}, dynamic u8 activations"
                f"{', post=' + ','.join(self.post_ops) if self.post_ops else ''}")


# ---- quantization-aware training -------------------------------------------------

class _FakeQuantFn(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, scale: np.ndarray, zp: np.ndarray,
                axis: Optional[int], dtype: str) -> torch.Tensor:  # type: ignore[override]
        y, mask = calib.fake_quant(_np(x), scale, zp, axis=axis, dtype=dtype, return_mask=True)
        ctx.save_for_backward(torch.from_numpy(np.asarray(mask)))
        return torch.from_numpy(y)

    @staticmethod
    def backward(ctx: Any, g: torch.Tensor) -> Any:  # type: ignore[override]
        (mask,) = ctx.saved_tensors
        return g * mask.to(g.dtype), None, None, None, None


class FakeQuantize(nn.Module):
    """Activation fake quantization (uint8 asym) with a moving-average
    observer of min/max while training; frozen parameters in eval."""

    def __init__(self, averaging_constant: float = 0.01) -> None:
        super().__init__()
        self.c = averaging_constant
        self.register_buffer("min_val", torch.tensor(float("inf")))
        self.register_buffer("max_val", torch.tensor(float("-inf")))

    def qparams(self) -> Tuple[np.ndarray, np.ndarray]:
        lo, hi = float(self.min_val), float(self.max_val)
        if not np.isfinite(lo):
            lo, hi = 0.0, 1.0
        return calib.qparams(lo, hi, dtype="uint8", scheme="asym")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training:
            with torch.no_grad():
                lo, hi = x.min(), x.max()
                if not torch.isfinite(self.min_val):
                    self.min_val.copy_(lo)
                    self.max_val.copy_(hi)
                else:
                    self.min_val.add_(self.c * (lo - self.min_val))
                    self.max_val.add_(self.c * (hi - self.max_val))
        s, z = self.qparams()
        return _FakeQuantFn.apply(x, np.asarray(s), np.asarray(z), None, "uint8")


class _FakeQuantWeighted(nn.Module):
    def __init__(self, inner: nn.Module, relu: Any, per_channel: bool, bits: int) -> None:
        super().__init__()
        self.inner = inner
        self.relu = relu
        self.per_channel = per_channel
        self.bits = bits
        self.act = FakeQuantize()

    def fq_weight(self) -> torch.Tensor:
        w = self.inner.weight
        s, z = weight_qparams(_np(w), self.per_channel, self.bits)
        if self.per_channel:
            return _FakeQuantFn.apply(w, s, z, 0, "int8")
        return _FakeQuantFn.apply(w, s[:1], z[:1], None, "int8")


def _act(y: torch.Tensor, relu: Any) -> torch.Tensor:
    """relu: False, 'relu', 'relu6', 'gelu' or 'gelu_tanh' (the fused activation)."""
    if relu == "relu6":
        return nn.functional.relu6(y)
    if relu in ("gelu", "gelu_tanh"):
        return nn.functional.gelu(y, approximate="tanh" if relu == "gelu_tanh" else "none")
    return torch.relu(y) if relu else y


class FakeQuantLinear(_FakeQuantWeighted):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = nn.functional.linear(self.act(x), self.fq_weight(), self.inner.bias)
        return _act(y, self.relu)


class FakeQuantConv2d(_FakeQuantWeighted):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        c = self.inner
        y = nn.functional.conv2d(self.act(x), self.fq_weight(), c.bias, c.stride, c.padding,
                                 c.dilation, c.groups)
        return _act(y, self.relu)


# ---- dynamic LSTM / GRU ----------------------------------------------------------

class DynamicQuantRNN(nn.Module):
    """nn.LSTM / nn.GRU (unidirectional, no projection) with int8 weights:
    the input projection of all time steps is one qlinear_dynamic call per
    layer, then the layer's whole time loop runs in C
    (``kernels.rnn_dynamic_layer``: per step h quantized on the fly, the
    recurrent product at M = batch, lpot's small-M kernel on CPUs without
    VNNI, and the gates on lpot's own AVX2 sigmoid/tanh). Batched or
    unbatched input, batch_first, hx given, several layers."""

    def __init__(self, mode: str, input_size: int, hidden_size: int, num_layers: int,
                 batch_first: bool) -> None:
        super().__init__()
        self.mode, self.input_size, self.hidden_size = mode, input_size, hidden_size
        self.num_layers, self.batch_first = num_layers, batch_first
        self._packed: Any = None

    @staticmethod
    def supported(rnn: nn.Module) -> bool:
        return (isinstance(rnn, (nn.LSTM, nn.GRU)) and not rnn.bidirectional
                and getattr(rnn, "proj_size", 0) == 0)

    @classmethod
    def from_float(cls, rnn: nn.Module, per_channel: bool = True,
                   bits: Optional[int] = None) -> "DynamicQuantRNN":
        if not cls.supported(rnn):
            raise ValueError(f"unsupported recurrent module for lpot: {rnn}")
        mode = "LSTM" if isinstance(rnn, nn.LSTM) else "GRU"
        out = cls(mode, rnn.input_size, rnn.hidden_size, rnn.num_layers, rnn.batch_first)
        b = bits or weight_bits()
        for layer in range(rnn.num_layers):
            for kind in ("ih", "hh"):
                w = _np(getattr(rnn, f"weight_{kind}_l{layer}"))
                s, _ = weight_qparams(w, per_channel, b)
                out.register_buffer(f"w_{kind}_l{layer}", torch.from_numpy(_quant_weight(w, s)))
                out.register_buffer(f"s_{kind}_l{layer}", torch.from_numpy(s))
                bias = getattr(rnn, f"bias_{kind}_l{layer}", None) if rnn.bias else None
                out.register_buffer(f"b_{kind}_l{layer}",
                                    None if bias is None else bias.detach().float().clone())
        return out

    def _invalidate(self) -> None:
        self._packed = None

    def _load_from_state_dict(self, state_dict: Any, prefix: str, *args: Any, **kwargs: Any) -> None:
        for name in list(self._buffers):
            k = prefix + name
            if k in state_dict and self._buffers[name] is not None and \
                    self._buffers[name].shape != state_dict[k].shape:
                self._buffers[name] = torch.empty_like(state_dict[k])
        nn.Module._load_from_state_dict(self, state_dict, prefix, *args, **kwargs)
        self._invalidate()

    __getstate__ = _QuantBase.__getstate__
    __deepcopy__ = _QuantBase.__deepcopy__  # type: ignore[assignment]

    def _packs(self) -> list:
        if self._packed is None:
            packs = []
            for layer in range(self.num_layers):
                pair = []
                for kind in ("ih", "hh"):
                    bias = self._buffers[f"b_{kind}_l{layer}"]
                    pair.append(kernels.PackedLinear(
                        self._buffers[f"w_{kind}_l{layer}"].numpy(),
                        self._buffers[f"s_{kind}_l{layer}"].numpy(),
                        None if bias is None else bias.numpy()))
                packs.append(pair)
            self._packed = packs
        return self._packed

    def forward(self, x: torch.Tensor, hx: Any = None) -> Tuple[torch.Tensor, Any]:
        lstm = self.mode == "LSTM"
        unbatched = x.dim() == 2    # (T, input) as nn.LSTM / nn.GRU accept
        if unbatched:
            x = x.unsqueeze(1)
            if hx is not None:
                hx = tuple(h.unsqueeze(1) for h in hx) if lstm else hx.unsqueeze(1)
        elif self.batch_first:
            x = x.transpose(0, 1)
        T, B = int(x.shape[0]), int(x.shape[1])
        H = self.hidden_size
        if hx is None:
            z = np.zeros((self.num_layers, B, H), np.float32)
            h0s, c0s = z, (z if lstm else None)
        else:
            h0s = _np(hx[0] if lstm else hx)
            c0s = _np(hx[1]) if lstm else None
            want = (self.num_layers, B, H)
            for name, st in (("hx[0]" if lstm else "hx", h0s), ("hx[1]", c0s)):
                if st is not None and tuple(st.shape) != want:
                    raise ValueError(f"{name}: expected shape (num_layers, batch, hidden) = "
                                     f"{want}, got {tuple(st.shape)}")
        hn, cn = [], []
        inp = _np(x)
        for layer, (p_ih, p_hh) in enumerate(self._packs()):
            xp = kernels.qlinear_dynamic(inp.reshape(T * B, -1), p_ih).reshape(T, B, -1)
            inp, h, c = kernels.rnn_dynamic_layer(self.mode, xp, p_hh, h0s[layer],
                                                  c0s[layer] if lstm else None)
            hn.append(h)
            cn.append(c)
        out = torch.from_numpy(inp)
        h_n = torch.from_numpy(np.stack(hn))
        c_n = torch.from_numpy(np.stack(cn)) if lstm else None
        if unbatched:
            out, h_n = out.squeeze(1), h_n.squeeze(1)
            c_n = c_n.squeeze(1) if c_n is not None else None
        elif self.batch_first:
            out = out.transpose(0, 1)
        return out, ((h_n, c_n) if lstm else h_n)

    def extra_repr(self) -> str:
        return (f"{self.mode}({self.input_size}, {self.hidden_size}, num_layers={self.num_layers}, "
                f"batch_first={self.batch_first}), int8 weights, dynamic activations")


# ---- activation x activation products (attention) ---------------------------------

def _broadcast_pair(a: torch.Tensor, b: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
    """a (..., M, K), b (..., K, N) with torch.matmul's batch broadcasting made
    explicit (b stays 2-D when it is shared by every batch)."""
    if b.dim() == 2 or a.shape[:-2] == b.shape[:-2]:
        return a, b
    batch = torch.broadcast_shapes(a.shape[:-2], b.shape[:-2])
    return a.expand(*batch, *a.shape[-2:]), b.expand(*batch, *b.shape[-2:])


class Matmul(nn.Module):
    """torch.matmul(a, b) as a module: the float form of a traced matmul/bmm
    node (what a tune_cfg fp32 fallback runs) and the place calibration
    observes both operands."""

    def __init__(self, kind: str = "matmul") -> None:
        super().__init__()
        self.kind = kind

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return torch.bmm(a, b) if self.kind == "bmm" else torch.matmul(a, b)

    def extra_repr(self) -> str:
        return self.kind


class QuantMatmul(nn.Module):
    """a @ b on lpot.kernels.qmatmul: a quantized to u8 (asym), b to s8
    (symmetric, zero point 0; 7-bit like the weights on CPUs without VNNI, so
    oneDNN's int8 path stays exact without the activation split), each with
    a calibrated scale; int32 products, float32 out.
    A b whose last two dims are transposed in memory (K^T of attention) is
    handed to the kernel as (..., N, K) with transpose_b, without a copy of
    the transposed layout. Operands with fewer than 2 dims run in float."""

    def __init__(self, a_scale: float, a_zp: int, b_scale: float, b_zp: int,
                 kind: str = "matmul", b_bits: Optional[int] = None) -> None:
        super().__init__()
        self.kind = kind
        # 7: b saturates at +-64 (values beyond the calibrated range would
        # otherwise push the kernel onto its 4x slower activation split)
        self.b_bits = int(b_bits or weight_bits())
        self.register_buffer("a_scale", torch.tensor(float(a_scale), dtype=torch.float32))
        self.register_buffer("a_zp", torch.tensor(int(a_zp), dtype=torch.int32))
        self.register_buffer("b_scale", torch.tensor(float(b_scale), dtype=torch.float32))
        self.register_buffer("b_zp", torch.tensor(int(b_zp), dtype=torch.int32))

    @classmethod
    def from_float(cls, mod: Matmul, a_qparams: Tuple[float, int],
                   b_qparams: Tuple[float, int], bits: Optional[int] = None) -> "QuantMatmul":
        return cls(a_qparams[0], a_qparams[1], b_qparams[0], b_qparams[1],
                   getattr(mod, "kind", "matmul"), bits)

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        if a.dim() < 2 or b.dim() < 2:
            return torch.matmul(a, b)
        a, b = _broadcast_pair(a.detach(), b.detach())
        trans = b.stride(-1) != 1 and b.stride(-2) == 1   # b = x.transpose(-1, -2)
        bn = _np(b.transpose(-1, -2) if trans else b)
        aq = calib.quantize(_np(a), float(self.a_scale), int(self.a_zp), dtype="uint8")
        bq = calib.quantize(bn, float(self.b_scale), int(self.b_zp), dtype="int8")
        if self.b_bits == 7:
            np.clip(bq, -64, 64, out=bq)
        y = kernels.qmatmul(aq, bq, float(self.a_scale), int(self.a_zp), float(self.b_scale),
                            int(self.b_zp), transpose_b=trans)
        return torch.from_numpy(y)

    def extra_repr(self) -> str:
        return (f"{self.kind}, a=({float(self.a_scale):.4g}, {int(self.a_zp)}), "
                f"b=({float(self.b_scale):.4g}, {int(self.b_zp)}, {self.b_bits}-bit), u8 x s8 -> f32")


# ---- weight-only embeddings ---------------------------------------------------------

def _quant_rows(w: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
    """Symmetric int8 per row (full 8 bits: a gather + scale, no u8 x s8
    product, so the 7-bit rule of the matmul kernels does not apply)."""
    wn = _np(w)
    s, _ = weight_qparams(wn, True, 8)
    return torch.from_numpy(_quant_weight(wn, s)), torch.from_numpy(s)


class _QuantTable(nn.Module):
    _float_cls: type = nn.Embedding

    @classmethod
    def supported(cls, emb: nn.Module) -> bool:
        return isinstance(emb, cls._float_cls) and emb.max_norm is None

    @classmethod
    def _table_of(cls, emb: nn.Module) -> Tuple[torch.Tensor, torch.Tensor]:
        if not cls.supported(emb):
            raise ValueError(f"unsupported {type(emb).__name__} for lpot (max_norm renormalizes "
                             f"rows at lookup): {emb}")
        return _quant_rows(emb.weight)

    def __init__(self, weight_q: torch.Tensor, w_scales: torch.Tensor,
                 padding_idx: Optional[int]) -> None:
        super().__init__()
        self.register_buffer("weight_q", weight_q.to(torch.int8).contiguous())
        self.register_buffer("w_scales", w_scales.to(torch.float32).reshape(-1).contiguous())
        self.padding_idx = padding_idx

    def _load_from_state_dict(self, state_dict: Any, prefix: str, *args: Any, **kwargs: Any) -> None:
        for name in ("weight_q", "w_scales"):
            k = prefix + name
            if k in state_dict and getattr(self, name).shape != state_dict[k].shape:
                setattr(self, name, torch.empty_like(state_dict[k]))
        nn.Module._load_from_state_dict(self, state_dict, prefix, *args, **kwargs)

    def _idx(self, idx: torch.Tensor) -> np.ndarray:
        return idx.detach().to(torch.int64).contiguous().numpy()

    def extra_repr(self) -> str:
        return (f"{tuple(self.weight_q.shape)}, int8 weight-only (per-row scales)"
                f"{', padding_idx=%d' % self.padding_idx if self.padding_idx is not None else ''}")


class QuantEmbedding(_QuantTable):
    """nn.Embedding with an int8 table; output float32."""

    _float_cls = nn.Embedding

    @classmethod
    def from_float(cls, emb: nn.Embedding) -> "QuantEmbedding":
        q, s = cls._table_of(emb)
        return cls(q, s, emb.padding_idx)

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        return torch.from_numpy(kernels.qembedding(self.weight_q.numpy(), self.w_scales.numpy(),
                                                   self._idx(idx)))


class QuantEmbeddingBag(_QuantTable):
    """nn.EmbeddingBag (sum / mean / max, offsets or 2-D input,
    per_sample_weights with sum, padding_idx excluded) with an int8 table."""

    def __init__(self, weight_q: torch.Tensor, w_scales: torch.Tensor, padding_idx: Optional[int],
                 mode: str = "mean", include_last_offset: bool = False) -> None:
        super().__init__(weight_q, w_scales, padding_idx)
        self.mode = mode
        self.include_last_offset = bool(include_last_offset)

    _float_cls = nn.EmbeddingBag

    @classmethod
    def from_float(cls, emb: nn.EmbeddingBag) -> "QuantEmbeddingBag":
        q, s = cls._table_of(emb)
        return cls(q, s, emb.padding_idx, emb.mode, emb.include_last_offset)

    def forward(self, idx: torch.Tensor, offsets: Optional[torch.Tensor] = None,
                per_sample_weights: Optional[torch.Tensor] = None) -> torch.Tensor:
        if idx.dim() == 2:
            if offsets is not None:
                raise ValueError("offsets must be None for a 2-D input")
            offs = torch.arange(0, idx.numel() + 1, max(int(idx.shape[1]), 1))
            if int(idx.shape[1]) == 0:
                offs = torch.zeros(int(idx.shape[0]) + 1, dtype=torch.int64)
        else:
            if offsets is None:
                raise ValueError("offsets is required for a 1-D input")
            offs = offsets.to(torch.int64)
            if not self.include_last_offset:
                offs = torch.cat([offs, torch.tensor([idx.numel()])])
        psw = None if per_sample_weights is None else _np(per_sample_weights.reshape(-1))
        return torch.from_numpy(kernels.qembedding_bag(
            self.weight_q.numpy(), self.w_scales.numpy(), self._idx(idx.reshape(-1)),
            offs.contiguous().numpy(), psw, -1 if self.padding_idx is None else self.padding_idx,
            self.mode))

    def extra_repr(self) -> str:
        return super().extra_repr() + f", mode={self.mode}"
