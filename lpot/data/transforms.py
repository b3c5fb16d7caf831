"""Framework-neutral transforms on NumPy HWC images.

Every transform accepts either a bare image or an LPOT-style ``(image, label)``
pair and returns the same kind.  Images are NumPy arrays in HWC layout (a 2-D
HW array counts as one channel); ToTensor turns them into CHW float32, still
NumPy (the adaptors make framework tensors).  Random transforms own a
``numpy.random.Generator`` seeded by their ``seed`` argument.
"""
from __future__ import annotations

import math
from typing import Any, Callable, List, Optional, Sequence, Tuple, Union

import numpy as np

from lpot._registry import Registry

TRANSFORMS = Registry("transform")

Size = Union[int, Sequence[int]]


class Transform:
    """Base class: subclasses implement ``apply(image)`` and, when they touch
    the label, ``apply_label(label)``."""

    def apply(self, image: Any) -> Any:
        return image

    def apply_label(self, label: Any) -> Any:
        return label

    def __call__(self, sample: Any) -> Any:
        if isinstance(sample, tuple) and len(sample) == 2:
            image, label = sample
            return self.apply(image), self.apply_label(label)
        return self.apply(sample)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in vars(self).items() if not k.startswith("_"))
        return f"{type(self).__name__}({args})"


def _hw(size: Size, name: str = "size") -> Tuple[int, int]:
    if isinstance(size, (int, np.integer)):
        h = w = int(size)
    else:
        vals = [int(v) for v in size]
        if len(vals) == 1:
            h = w = vals[0]
        elif len(vals) == 2:
            h, w = vals
        else:
            raise ValueError(f"{name} must be an int or [height, width], got {size!r}")
    if h <= 0 or w <= 0:
        raise ValueError(f"{name} must be positive, got {size!r}")
    return h, w


def _image(image: Any) -> np.ndarray:
    arr = np.asarray(image)
    if arr.ndim not in (2, 3):
        raise ValueError(f"expected an HW or HWC image, got shape {arr.shape}")
    return arr


def _finish(out: np.ndarray, like: np.ndarray) -> np.ndarray:
    """Cast a float result back to the input's dtype (rounded, clipped for ints)."""
    if np.issubdtype(like.dtype, np.integer):
        info = np.iinfo(like.dtype)
        return np.clip(np.floor(out + 0.5), info.min, info.max).astype(like.dtype)
    if np.issubdtype(like.dtype, np.floating):
        return out.astype(like.dtype)
    return out.astype(np.float32)


def _src_coords(out_len: int, in_len: int) -> np.ndarray:
    """Half-pixel-centre source coordinates (align_corners=False)."""
    scale = in_len / out_len
    return np.maximum((np.arange(out_len, dtype=np.float64) + 0.5) * scale - 0.5, 0.0)


def _cubic_weights(t: np.ndarray, a: float = -0.75) -> np.ndarray:
    """Keys cubic convolution weights for the 4 taps around each position."""
    def near(x: np.ndarray) -> np.ndarray:
        return ((a + 2) * x - (a + 3)) * x * x + 1

    def far(x: np.ndarray) -> np.ndarray:
        return ((a * x - 5 * a) * x + 8 * a) * x - 4 * a
    return np.stack([far(t + 1), near(t), near(1 - t), far(2 - t)], axis=-1)


def resize_image(image: np.ndarray, size: Tuple[int, int], interpolation: str = "bilinear") -> np.ndarray:
    """Resize an HW/HWC array to (height, width).  'nearest' picks
    floor(i * in/out); 'bilinear' and 'bicubic' (Keys, a=-0.75) use
    half-pixel centres without antialiasing (as torch.nn.functional.interpolate
    with align_corners=False).  Integer images are rounded and clipped back."""
    img = _image(image)
    oh, ow = size
    ih, iw = img.shape[:2]
    if interpolation == "nearest":
        ys = np.minimum((np.arange(oh) * (ih / oh)).astype(np.int64), ih - 1)
        xs = np.minimum((np.arange(ow) * (iw / ow)).astype(np.int64), iw - 1)
        return img[ys][:, xs]
    x = img.astype(np.float64)
    if interpolation == "bilinear":
        def axis_interp(arr: np.ndarray, out_len: int, in_len: int, axis: int) -> np.ndarray:
            src = _src_coords(out_len, in_len)
            lo = np.floor(src).astype(np.int64)
            lo = np.minimum(lo, in_len - 1)
            hi = np.minimum(lo + 1, in_len - 1)
            frac = src - lo
            shape = [1] * arr.ndim
            shape[axis] = out_len
            frac = frac.reshape(shape)
            return np.take(arr, lo, axis=axis) * (1 - frac) + np.take(arr, hi, axis=axis) * frac
    elif interpolation == "bicubic":
        def axis_interp(arr: np.ndarray, out_len: int, in_len: int, axis: int) -> np.ndarray:
            scale = in_len / out_len
            src = (np.arange(out_len, dtype=np.float64) + 0.5) * scale - 0.5
            base = np.floor(src).astype(np.int64)
            w = _cubic_weights(src - base)
            shape = [1] * arr.ndim
            shape[axis] = out_len
            out = np.zeros(arr.shape[:axis] + (out_len,) + arr.shape[axis + 1:])
            for k in range(4):
                idx = np.clip(base - 1 + k, 0, in_len - 1)
                out += np.take(arr, idx, axis=axis) * w[:, k].reshape(shape)
            return out
    else:
        raise ValueError(f"interpolation must be 'nearest', 'bilinear' or 'bicubic', got {interpolation!r}")
    out = axis_interp(x, oh, ih, 0)
    out = axis_interp(out, ow, iw, 1)
    return _finish(out, img)


def crop_image(image: np.ndarray, top: int, left: int, height: int, width: int) -> np.ndarray:
    """Crop, zero-padding where the window leaves the image."""
    img = _image(image)
    ih, iw = img.shape[:2]
    pad_t, pad_l = max(0, -top), max(0, -left)
    pad_b, pad_r = max(0, top + height - ih), max(0, left + width - iw)
    if pad_t or pad_l or pad_b or pad_r:
        pads = [(pad_t, pad_b), (pad_l, pad_r)] + [(0, 0)] * (img.ndim - 2)
        img = np.pad(img, pads)
        top, left = top + pad_t, left + pad_l
    return img[top:top + height, left:left + width]


@TRANSFORMS.register("Resize")
class Resize(Transform):
    """Resize to ``size`` ([height, width], or an int for a square).  With
    ``smaller_edge=True`` an int sets the shorter side and keeps the aspect
    ratio (torchvision's meaning; the default for framework 'pytorch')."""

    def __init__(self, size: Size, interpolation: str = "bilinear", smaller_edge: bool = False) -> None:
        self.size = _hw(size)
        self.interpolation = interpolation
        self.smaller_edge = bool(smaller_edge) and isinstance(size, (int, np.integer))
        if interpolation not in ("nearest", "bilinear", "bicubic"):
            raise ValueError(f"interpolation must be 'nearest', 'bilinear' or 'bicubic', got {interpolation!r}")

    def target(self, h: int, w: int) -> Tuple[int, int]:
        if not self.smaller_edge:
            return self.size
        s = self.size[0]
        if h <= w:
            return s, max(1, int(s * w / h))
        return max(1, int(s * h / w)), s

    def apply(self, image: Any) -> np.ndarray:
        img = _image(image)
        return resize_image(img, self.target(*img.shape[:2]), self.interpolation)


@TRANSFORMS.register("CenterCrop")
class CenterCrop(Transform):
    """Crop the centre ``size`` window (top = round((H - h) / 2)); an image
    smaller than the window is zero-padded."""

    def __init__(self, size: Size) -> None:
        self.size = _hw(size)

    def apply(self, image: Any) -> np.ndarray:
        img = _image(image)
        h, w = self.size
        top = int(round((img.shape[0] - h) / 2.0))
        left = int(round((img.shape[1] - w) / 2.0))
        return crop_image(img, top, left, h, w)


class _Random(Transform):
    def __init__(self, seed: Optional[int]) -> None:
        self.seed = seed
        self._rng = np.random.default_rng(seed)


@TRANSFORMS.register("RandomCrop")
class RandomCrop(_Random):
    """Crop a ``size`` window at a uniformly random position."""

    def __init__(self, size: Size, seed: Optional[int] = None) -> None:
        super().__init__(seed)
        self.size = _hw(size)

    def get_params(self, height: int, width: int) -> Tuple[int, int]:
        h, w = self.size
        top = int(self._rng.integers(0, max(0, height - h) + 1))
        left = int(self._rng.integers(0, max(0, width - w) + 1))
        return top, left

    def apply(self, image: Any) -> np.ndarray:
        img = _image(image)
        top, left = self.get_params(*img.shape[:2])
        return crop_image(img, top, left, *self.size)


@TRANSFORMS.register("RandomResizedCrop")
class RandomResizedCrop(_Random):
    """Crop a random area fraction in ``scale`` with aspect ratio in
    ``ratio`` (log-uniform), then resize it to ``size``; after 10 failed
    draws, fall back to the largest centred crop with a ratio in range."""

    def __init__(self, size: Size, scale: Sequence[float] = (0.08, 1.0),
                 ratio: Sequence[float] = (3.0 / 4.0, 4.0 / 3.0),
                 interpolation: str = "bilinear", seed: Optional[int] = None) -> None:
        super().__init__(seed)
        self.size = _hw(size)
        self.scale = (float(scale[0]), float(scale[1]))
        self.ratio = (float(ratio[0]), float(ratio[1]))
        if not (0 < self.scale[0] <= self.scale[1]) or not (0 < self.ratio[0] <= self.ratio[1]):
            raise ValueError(f"scale and ratio must be increasing positive pairs, got {scale!r}, {ratio!r}")
        self.interpolation = interpolation

    def get_params(self, height: int, width: int) -> Tuple[int, int, int, int]:
        area = height * width
        log_lo, log_hi = math.log(self.ratio[0]), math.log(self.ratio[1])
        for _ in range(10):
            target = area * self._rng.uniform(self.scale[0], self.scale[1])
            aspect = math.exp(self._rng.uniform(log_lo, log_hi))
            w = int(round(math.sqrt(target * aspect)))
            h = int(round(math.sqrt(target / aspect)))
            if 0 < w <= width and 0 < h <= height:
                top = int(self._rng.integers(0, height - h + 1))
                left = int(self._rng.integers(0, width - w + 1))
                return top, left, h, w
        in_ratio = width / height
        if in_ratio < self.ratio[0]:
            w, h = width, int(round(width / self.ratio[0]))
        elif in_ratio > self.ratio[1]:
            h, w = height, int(round(height * self.ratio[1]))
        else:
            w, h = width, height
        return (height - h) // 2, (width - w) // 2, h, w

    def apply(self, image: Any) -> np.ndarray:
        img = _image(image)
        top, left, h, w = self.get_params(*img.shape[:2])
        return resize_image(crop_image(img, top, left, h, w), self.size, self.interpolation)


class _Flip(_Random):
    axis = 1

    def __init__(self, p: float = 0.5, seed: Optional[int] = None) -> None:
        super().__init__(seed)
        if not 0.0 <= float(p) <= 1.0:
            raise ValueError(f"p must be in [0, 1], got {p!r}")
        self.p = float(p)

    def apply(self, image: Any) -> np.ndarray:
        img = _image(image)
        if self._rng.random() < self.p:
            return np.flip(img, axis=self.axis).copy()
        return img


@TRANSFORMS.register("RandomHorizontalFlip")
class RandomHorizontalFlip(_Flip):
    """Mirror left-right with probability p."""
    axis = 1


@TRANSFORMS.register("RandomVerticalFlip")
class RandomVerticalFlip(_Flip):
    """Mirror top-bottom with probability p."""
    axis = 0


@TRANSFORMS.register("Normalize")
class Normalize(Transform):
    """(image - mean) / std per channel, as float32.  ``channel_axis`` defaults
    to the last axis (HWC), or to 0 inside a Compose after ToTensor (CHW)."""

    def __init__(self, mean: Union[float, Sequence[float]] = (0.0,),
                 std: Union[float, Sequence[float]] = (1.0,),
                 channel_axis: Optional[int] = None) -> None:
        self.mean = np.atleast_1d(np.asarray(mean, dtype=np.float32))
        self.std = np.atleast_1d(np.asarray(std, dtype=np.float32))
        if self.mean.ndim != 1 or self.std.ndim != 1:
            raise ValueError("mean and std must be numbers or flat lists")
        if np.any(self.std == 0):
            raise ValueError(f"std must not contain 0, got {self.std.tolist()}")
        self.channel_axis = channel_axis

    def apply(self, image: Any) -> np.ndarray:
        img = np.asarray(image, dtype=np.float32)
        axis = -1 if self.channel_axis is None else self.channel_axis
        shape = [1] * img.ndim
        c = img.shape[axis] if img.ndim else 1
        for name, v in (("mean", self.mean), ("std", self.std)):
            if v.size not in (1, c):
                raise ValueError(f"Normalize: {name} has {v.size} values but the image has {c} "
                                 f"channels on axis {axis} (shape {img.shape})")
        if img.ndim:
            shape[axis] = -1
        return (img - self.mean.reshape(shape if self.mean.size > 1 else [1] * img.ndim)) \
            / self.std.reshape(shape if self.std.size > 1 else [1] * img.ndim)


@TRANSFORMS.register("ToTensor")
class ToTensor(Transform):
    """HWC (or HW) -> CHW float32; uint8 images are scaled by 1/255.  Returns
    NumPy: the adaptor converts to its framework's tensor."""

    def apply(self, image: Any) -> np.ndarray:
        img = _image(_to_numpy(image))
        if img.ndim == 2:
            img = img[:, :, None]
        scaled = img.astype(np.float32) / 255.0 if img.dtype == np.uint8 else img.astype(np.float32)
        return np.ascontiguousarray(scaled.transpose(2, 0, 1))


def _to_numpy(obj: Any) -> np.ndarray:
    if hasattr(obj, "detach") and hasattr(obj, "cpu"):  # a torch tensor, without importing torch
        obj = obj.detach().cpu().numpy()
    return np.asarray(obj)


@TRANSFORMS.register("ToArray")
class ToArray(Transform):
    """Anything array-like (PIL image, list, framework tensor) -> np.ndarray."""

    def apply(self, image: Any) -> np.ndarray:
        return _to_numpy(image)


@TRANSFORMS.register("Transpose")
class Transpose(Transform):
    """np.transpose(image, perm)."""

    def __init__(self, perm: Sequence[int]) -> None:
        self.perm = [int(p) for p in perm]
        if sorted(self.perm) != list(range(len(self.perm))):
            raise ValueError(f"perm must be a permutation of 0..{len(self.perm) - 1}, got {list(perm)!r}")

    def apply(self, image: Any) -> np.ndarray:
        img = np.asarray(image)
        if img.ndim != len(self.perm):
            raise ValueError(f"Transpose: perm {self.perm} does not fit an image of shape {img.shape}")
        return np.transpose(img, self.perm)


@TRANSFORMS.register("Cast")
class Cast(Transform):
    """image.astype(dtype)."""

    def __init__(self, dtype: str = "float32") -> None:
        try:
            self.dtype = np.dtype(dtype)
        except TypeError:
            raise ValueError(f"unknown dtype {dtype!r}") from None

    def apply(self, image: Any) -> np.ndarray:
        return np.asarray(image).astype(self.dtype)


@TRANSFORMS.register("Rescale")
class Rescale(Transform):
    """image / 255 as float32."""

    def apply(self, image: Any) -> np.ndarray:
        return np.asarray(image, dtype=np.float32) / np.float32(255.0)


@TRANSFORMS.register("LabelShift")
class LabelShift(Transform):
    """label - label_shift (images untouched), e.g. 1-based ImageNet labels."""

    def __init__(self, label_shift: int = 0) -> None:
        self.label_shift = int(label_shift)

    def apply_label(self, label: Any) -> Any:
        if isinstance(label, (list, tuple)):
            return type(label)(np.asarray(label) - self.label_shift)
        if isinstance(label, (int, np.integer)):
            return label - self.label_shift
        return np.asarray(label) - self.label_shift


@TRANSFORMS.register("Compose")
class Compose(Transform):
    """Apply transforms in order.  A Normalize without channel_axis that
    follows a ToTensor normalises the CHW channel axis (0)."""

    def __init__(self, transforms: Sequence[Callable[[Any], Any]]) -> None:
        self.transforms: List[Callable[[Any], Any]] = list(transforms)
        chw = False
        for t in self.transforms:
            if isinstance(t, ToTensor):
                chw = True
            elif isinstance(t, Transpose):
                chw = False
            elif isinstance(t, Normalize) and t.channel_axis is None and chw:
                t.channel_axis = 0

    def __call__(self, sample: Any) -> Any:
        for t in self.transforms:
            sample = t(sample)
        return sample
