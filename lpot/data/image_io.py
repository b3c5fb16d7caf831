"""Image decoding for ImageFolder: PPM/PGM and PNG natively (NumPy + zlib),
everything else (JPEG, BMP, ...) through Pillow when it is installed."""
from __future__ import annotations

import os
import struct
import zlib
from typing import List, Tuple

import numpy as np

NATIVE_EXTENSIONS = (".ppm", ".pgm", ".pnm", ".png")
PILLOW_EXTENSIONS = (".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp")
IMAGE_EXTENSIONS = NATIVE_EXTENSIONS + PILLOW_EXTENSIONS


class ImageDecodeError(ValueError):
    """A file that is not a valid image of the format its content claims."""


def read_image(path: str) -> np.ndarray:
    """Decode an image file into a HWC uint8 (or uint16 for 16-bit) array.
    Grey images come back as HxWx1."""
    with open(path, "rb") as f:
        data = f.read()
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return _decode_png(data, path)
    if data[:2] in (b"P2", b"P3", b"P5", b"P6"):
        return _decode_pnm(data, path)
    return _decode_pillow(path)


def _decode_pillow(path: str) -> np.ndarray:
    try:
        from PIL import Image  # lazy: Pillow is optional
    except ImportError:
        raise ImportError(
            f"decoding '{path}' needs Pillow, which is not installed (pip install pillow); "
            f"PNG and PPM/PGM files decode without it") from None
    try:
        with Image.open(path) as im:
            if im.mode not in ("L", "RGB"):
                im = im.convert("RGB")
            arr = np.asarray(im)
    except Exception as e:  # Pillow raises OSError, ValueError, SyntaxError, ... per plugin
        raise ImageDecodeError(f"'{path}': not a decodable image ({type(e).__name__}: {e})") from e
    return arr[:, :, None] if arr.ndim == 2 else arr


# --- NetPBM (P2/P3 ascii, P5/P6 binary) -------------------------------------
def _pnm_tokens(data: bytes, count: int) -> Tuple[List[int], int]:
    """The first `count` header integers after the magic, skipping comments,
    and the offset just past the single whitespace that ends the header."""
    vals: List[int] = []
    i, n = 2, len(data)
    while len(vals) < count:
        while i < n and data[i:i + 1].isspace():
            i += 1
        if i < n and data[i:i + 1] == b"#":
            while i < n and data[i:i + 1] not in (b"\n", b"\r"):
                i += 1
            continue
        j = i
        while j < n and data[j:j + 1].isdigit():
            j += 1
        if j == i:
            raise ImageDecodeError("truncated or malformed header")
        vals.append(int(data[i:j]))
        i = j
    return vals, i + 1


def _decode_pnm(data: bytes, path: str) -> np.ndarray:
    magic = data[:2]
    channels = 3 if magic in (b"P3", b"P6") else 1
    try:
        (w, h, maxval), off = _pnm_tokens(data, 3)
        if w <= 0 or h <= 0 or not 0 < maxval < 65536:
            raise ImageDecodeError(f"bad size {w}x{h} or maxval {maxval}")
        count = w * h * channels
        dtype = np.uint8 if maxval < 256 else np.uint16
        if magic in (b"P5", b"P6"):
            src = np.dtype(">u2") if dtype == np.uint16 else np.dtype(np.uint8)
            if len(data) - off < count * src.itemsize:
                raise ImageDecodeError("pixel data is truncated")
            arr = np.frombuffer(data, dtype=src, count=count, offset=off).astype(dtype)
        else:
            vals = data[off - 1:].split()
            if len(vals) < count:
                raise ImageDecodeError("pixel data is truncated")
            if not all(v.isdigit() for v in vals[:count]):
                raise ImageDecodeError("non-numeric pixel value")
            wide = np.array([int(v) for v in vals[:count]], dtype=np.int64)
            if wide.max(initial=0) > maxval:
                raise ImageDecodeError(f"pixel value {int(wide.max())} above maxval {maxval}")
            arr = wide.astype(dtype)
    except ImageDecodeError as e:
        raise ImageDecodeError(f"'{path}': {e}") from None
    return arr.reshape(h, w, channels)


# --- PNG (non-interlaced; grey, RGB, palette, grey+alpha, RGBA; 8/16 bit) -----
_PNG_CHANNELS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}


def _unfilter_row(line: List[int], prev: List[int], ftype: int, bpp: int) -> List[int]:
    """Undo the Average (3) or Paeth (4) filter of one row, in place; each
    byte depends on the already decoded byte bpp to its left."""
    for x in range(len(line)):
        a = line[x - bpp] if x >= bpp else 0
        b = prev[x]
        if ftype == 3:
            pred = (a + b) >> 1
        else:
            c = prev[x - bpp] if x >= bpp else 0
            pa, pb, pc = abs(b - c), abs(a - c), abs(a + b - 2 * c)
            pred = a if (pa <= pb and pa <= pc) else (b if pb <= pc else c)
        line[x] = (line[x] + pred) & 0xFF
    return line


def _unfilter(raw: bytes, h: int, stride: int, bpp: int) -> np.ndarray:
    out = np.zeros((h, stride), dtype=np.uint8)
    prev = np.zeros(stride, dtype=np.int32)
    pos = 0
    for y in range(h):
        ftype = raw[pos]
        line = np.frombuffer(raw, dtype=np.uint8, count=stride, offset=pos + 1).astype(np.int32)
        pos += stride + 1
        if ftype == 0:
            cur = line
        elif ftype == 1:
            cur = (np.cumsum(line.reshape(-1, bpp), axis=0) & 0xFF).reshape(-1)
        elif ftype == 2:
            cur = (line + prev) & 0xFF
        elif ftype in (3, 4):
            cur = np.array(_unfilter_row(line.tolist(), prev.tolist(), ftype, bpp), dtype=np.int32)
        else:
            raise ImageDecodeError(f"bad PNG filter type {ftype} on row {y}")
        out[y] = cur
        prev = cur
    return out


def _decode_png(data: bytes, path: str) -> np.ndarray:
    try:
        pos, idat, palette = 8, [], None
        hdr = None
        while pos + 8 <= len(data):
            length, ctype = struct.unpack(">I4s", data[pos:pos + 8])
            body = data[pos + 8:pos + 8 + length]
            if len(body) != length:
                raise ImageDecodeError("truncated chunk")
            pos += 12 + length
            if ctype == b"IHDR":
                hdr = struct.unpack(">IIBBBBB", body)
            elif ctype == b"PLTE":
                palette = np.frombuffer(body, dtype=np.uint8).reshape(-1, 3)
            elif ctype == b"IDAT":
                idat.append(body)
            elif ctype == b"IEND":
                break
        if hdr is None:
            raise ImageDecodeError("no IHDR chunk")
        w, h, depth, color, _comp, _filt, interlace = hdr
        if w == 0 or h == 0:
            raise ImageDecodeError(f"empty image {w}x{h}")
        if interlace:
            return _decode_pillow(path)
        if color not in _PNG_CHANNELS or depth not in (8, 16):
            if color == 3 or color == 0:
                return _decode_pillow(path)  # sub-byte depths
            raise ImageDecodeError(f"unsupported colour type {color} / depth {depth}")
        ch = _PNG_CHANNELS[color]
        nbytes = depth // 8
        stride = w * ch * nbytes
        try:
            raw = zlib.decompress(b"".join(idat))
        except zlib.error as e:
            raise ImageDecodeError(f"corrupt image data ({e})") from None
        if len(raw) < h * (stride + 1):
            raise ImageDecodeError("image data is truncated")
        rows = _unfilter(raw, h, stride, max(1, ch * nbytes))
        if nbytes == 2:
            arr = rows.view(">u2").astype(np.uint16).reshape(h, w, ch)
        else:
            arr = rows.reshape(h, w, ch)
        if color == 3:
            if palette is None:
                raise ImageDecodeError("palette image without PLTE chunk")
            arr = palette[arr[:, :, 0]]
        return arr
    except (struct.error, IndexError) as e:
        raise ImageDecodeError(f"'{path}': malformed PNG ({e})") from None
    except ImageDecodeError as e:
        if str(e).startswith("'"):
            raise
        raise ImageDecodeError(f"'{path}': {e}") from None


def list_images(root: str) -> List[str]:
    """Image files directly under root, sorted by name."""
    return sorted(os.path.join(root, f) for f in os.listdir(root)
                  if f.lower().endswith(IMAGE_EXTENSIONS) and os.path.isfile(os.path.join(root, f)))
