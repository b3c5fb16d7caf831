"""Properties: the loader covers every sample once per epoch; decoders turn
corrupt files into clear errors, never IndexError/struct errors/crashes."""
import gzip
import struct
import zlib

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lpot.data import DataLoader, read_idx, read_image
from lpot.data.image_io import ImageDecodeError


class Range:
    def __init__(self, n):
        self.n = n

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        return np.int64(i)


@settings(max_examples=60, deadline=None)
@given(n=st.integers(1, 40), bs=st.integers(1, 12), shuffle=st.booleans(),
       discard=st.booleans(), seed=st.integers(0, 2**31))
def test_loader_covers_each_sample_once(n, bs, shuffle, discard, seed):
    dl = DataLoader(Range(n), batch_size=bs, shuffle=shuffle, seed=seed,
                    last_batch="discard" if discard else "rollover")
    batches = [b.tolist() for b in dl]
    assert len(batches) == len(dl)
    flat = sum(batches, [])
    assert all(len(b) == bs for b in batches[:-1])
    if discard:
        assert len(flat) == (n // bs) * bs and all(len(b) == bs for b in batches)
        assert len(set(flat)) == len(flat)
    else:
        assert sorted(flat) == list(range(n))
    if not shuffle:
        assert flat == list(range(len(flat)))


def _png(w=3, h=2, color=2, depth=8):
    def chunk(t, body):
        return struct.pack(">I", len(body)) + t + body + struct.pack(">I", zlib.crc32(t + body))
    ch = {0: 1, 2: 3, 4: 2, 6: 4}[color]
    rows = b"".join(b"\x04" + bytes(range(w * ch * depth // 8)) for _ in range(h))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, depth, color, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


SEEDS = {"png": _png(), "ppm": b"P6 2 2 255\n" + bytes(range(12)), "pgm": b"P2 2 1 9 1 2", "ppm3": b"P3 1 1 255 1 2 3"}


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(kind=st.sampled_from(sorted(SEEDS)), pos=st.integers(0, 60), val=st.integers(0, 255),
       cut=st.integers(0, 80))
def test_decoders_fail_cleanly(tmp_path, kind, pos, val, cut):
    data = bytearray(SEEDS[kind])
    if pos < len(data):
        data[pos] = val
    data = bytes(data[:max(cut, 2)]) if cut < len(data) else bytes(data)
    if kind == "png":
        data = b"\x89PNG\r\n\x1a\n" + data[8:]  # keep the signature: exercise the PNG path
    path = tmp_path / f"x.{kind}"
    path.write_bytes(data)
    try:
        img = read_image(str(path))
    except (ImageDecodeError, ImportError, OSError):
        return  # OSError: Pillow's own 'cannot identify image file' for what is not an image
    assert img.ndim == 3 and img.size > 0


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(header=st.binary(min_size=0, max_size=24), gz=st.booleans())
def test_read_idx_fails_cleanly(tmp_path, header, gz):
    path = tmp_path / ("f.gz" if gz else "f")
    with (gzip.open if gz else open)(path, "wb") as f:
        f.write(header)
    try:
        arr = read_idx(str(path))
    except ValueError:
        return
    assert arr.dtype.isnative
