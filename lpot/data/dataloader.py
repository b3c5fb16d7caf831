"""A framework-neutral DataLoader on NumPy and its construction from a YAML
``dataloader:`` block."""
from __future__ import annotations

import logging
import math
from typing import Any, Callable, Dict, Iterable, Iterator, List, Mapping, Optional, Sequence

import numpy as np

from lpot._engine import ConfigError
from lpot._registry import Registry, construct, did_you_mean, framework_family
from lpot.data.datasets import DATASETS, FILTERS
from lpot.data.transforms import TRANSFORMS, Compose, Resize

log = logging.getLogger("lpot")

LAST_BATCH = ("rollover", "discard")


def default_collate(batch: Sequence[Any]) -> Any:
    """Stack a list of samples into a batch, recursively: dicts by key,
    tuples/lists field by field (so ``((x1, x2), y)`` gives ``((X1, X2), Y)``),
    arrays and numbers with np.stack, strings and None into lists."""
    elem = batch[0]
    if isinstance(elem, Mapping):
        return {k: default_collate([d[k] for d in batch]) for k in elem}
    if isinstance(elem, (str, bytes)) or elem is None:
        return list(batch)
    if isinstance(elem, (tuple, list)):
        n = len(elem)
        if any(len(s) != n for s in batch):
            raise ValueError(f"samples have different numbers of fields: {sorted({len(s) for s in batch})}")
        fields = [default_collate([s[i] for s in batch]) for i in range(n)]
        return tuple(fields) if isinstance(elem, tuple) else fields
    if hasattr(elem, "detach") and hasattr(elem, "cpu"):  # torch tensors, without importing torch
        elems = [e.detach().cpu().numpy() for e in batch]
        return np.stack(elems)
    try:
        return np.stack([np.asarray(e) for e in batch])
    except ValueError:
        shapes = sorted({np.shape(e) for e in batch}, key=str)
        raise ValueError(f"cannot stack samples of different shapes {shapes}; "
                         f"resize them with a transform or pass a collate_fn") from None


class SequentialSampler:
    """0, 1, ..., n-1."""

    def __init__(self, data_source: Any) -> None:
        self.data_source = data_source

    def __iter__(self) -> Iterator[int]:
        return iter(range(len(self.data_source)))

    def __len__(self) -> int:
        return len(self.data_source)


class RandomSampler:
    """A permutation of range(n) per epoch, reproducible from ``seed``
    (epoch e uses the generator seeded with [seed, e])."""

    def __init__(self, data_source: Any, seed: Optional[int] = None) -> None:
        self.data_source = data_source
        self.seed = seed
        self.epoch = 0
        self._rng = np.random.default_rng() if seed is None else None

    def __iter__(self) -> Iterator[int]:
        rng = self._rng if self._rng is not None else np.random.default_rng([int(self.seed), self.epoch])
        self.epoch += 1
        return iter(rng.permutation(len(self.data_source)).tolist())

    def __len__(self) -> int:
        return len(self.data_source)


class BatchSampler:
    """Group a sampler's indices into lists of batch_size; ``drop_last``
    drops a short final batch."""

    def __init__(self, sampler: Iterable[int], batch_size: int, drop_last: bool = False) -> None:
        self.sampler = sampler
        self.batch_size = batch_size
        self.drop_last = drop_last

    def __iter__(self) -> Iterator[List[int]]:
        batch: List[int] = []
        for i in self.sampler:
            batch.append(int(i))
            if len(batch) == self.batch_size:
                yield batch
                batch = []
        if batch and not self.drop_last:
            yield batch

    def __len__(self) -> int:
        n = len(self.sampler)  # type: ignore[arg-type]
        return n // self.batch_size if self.drop_last else math.ceil(n / self.batch_size)


class DataLoader:
    """Batches from a dataset, framework-neutral (NumPy batches).

    dataset: map-style (``__getitem__`` + ``__len__``) or iterable.
    last_batch: 'rollover' keeps a short final batch (LPOT 1.x meaning);
    'discard' drops it.  shuffle: a new permutation each epoch, reproducible
    with ``seed``.  sampler: an iterable of indices (overrides shuffle).
    collate_fn: list of samples -> batch (default: default_collate).
    The positional order is LPOT 1.x's; num_workers and pin_memory are
    accepted and ignored (loading is in-process).
    """

    def __init__(self, dataset: Any, batch_size: int = 1, last_batch: str = "rollover",
                 collate_fn: Optional[Callable[[List[Any]], Any]] = None, sampler: Optional[Iterable[int]] = None,
                 batch_sampler: Optional[Iterable[Sequence[int]]] = None, num_workers: int = 0,
                 pin_memory: bool = False, shuffle: bool = False, distributed: bool = False, *,
                 seed: Optional[int] = None, framework: Optional[str] = None) -> None:
        if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
        if last_batch not in LAST_BATCH:
            raise ValueError(f"last_batch must be 'rollover' or 'discard', got {last_batch!r}"
                             f"{did_you_mean(last_batch, LAST_BATCH)}")
        if distributed:
            raise ValueError("distributed data loading is not supported")
        framework_family(framework)
        self.dataset = dataset
        self.batch_size = int(batch_size)
        self.last_batch = last_batch
        self.drop_last = last_batch == "discard"
        self.collate_fn = collate_fn or default_collate
        self.shuffle = bool(shuffle)
        self.seed = seed
        self.num_workers = num_workers
        self.framework = framework
        self.map_style = hasattr(dataset, "__getitem__") and hasattr(dataset, "__len__")
        if sampler is not None and shuffle:
            raise ValueError("sampler and shuffle are mutually exclusive")
        if batch_sampler is not None and sampler is not None:
            raise ValueError("batch_sampler and sampler are mutually exclusive")
        if not self.map_style and (sampler is not None or batch_sampler is not None or shuffle):
            raise ValueError("an iterable dataset (no __getitem__/__len__) cannot be shuffled or sampled")
        if self.map_style and sampler is None:
            sampler = RandomSampler(dataset, seed) if shuffle else SequentialSampler(dataset)
        self.sampler = sampler
        self.batch_sampler = batch_sampler if batch_sampler is not None else (
            BatchSampler(sampler, self.batch_size, self.drop_last) if sampler is not None else None)

    def __iter__(self) -> Iterator[Any]:
        if self.batch_sampler is not None:
            for indices in self.batch_sampler:
                yield self.collate_fn([self.dataset[i] for i in indices])
            return
        batch: List[Any] = []
        for sample in self.dataset:
            batch.append(sample)
            if len(batch) == self.batch_size:
                yield self.collate_fn(batch)
                batch = []
        if batch and not self.drop_last:
            yield self.collate_fn(batch)

    def __len__(self) -> int:
        if self.batch_sampler is None or not hasattr(self.batch_sampler, "__len__"):
            raise TypeError("an iterable dataset has no length")
        return len(self.batch_sampler)  # type: ignore[arg-type]


DATALOADERS = Registry("dataloader")
for _fw in ("tensorflow", "tensorflow_itex", "pytorch", "pytorch_fx", "pytorch_ipex", "onnxrt",
            "onnxrt_qlinearops", "onnxrt_integerops", "onnxrt_qdq", "mxnet", "engine"):
    DATALOADERS.register(_fw, DataLoader)

BLOCK_KEYS = ("batch_size", "last_batch", "shuffle", "dataset", "transform", "filter", "distributed", "seed")


def _single(block: Mapping[str, Any], key: str, where: str) -> tuple:
    value = block[key]
    if not isinstance(value, Mapping) or len(value) != 1:
        raise ConfigError(f"{where}.{key}: expected exactly one {{NAME: {{args}}}} entry, got {value!r}")
    return next(iter(value.items()))


def create_transform(spec: Optional[Mapping[str, Any]], framework: Optional[str] = None,
                     where: str = "transform") -> Optional[Compose]:
    """A Compose from a YAML ``transform:`` mapping {NAME: {args} | null, ...},
    applied in the mapping's order."""
    if spec is None:
        return None
    if not isinstance(spec, Mapping):
        raise ConfigError(f"{where}: expected a mapping of transform names to arguments, got {spec!r}")
    family = framework_family(framework)
    transforms = []
    for name, args in spec.items():
        cls = TRANSFORMS.lookup(name, where)
        if cls is Compose:
            raise ConfigError(f"{where}.{name}: list the transforms directly; they are composed in order")
        if cls is Resize and family == "pytorch":
            args = dict(args) if isinstance(args, Mapping) else {"size": args}
            if "smaller_edge" not in args and isinstance(args.get("size"), int):
                args["smaller_edge"] = True  # torchvision's Resize(int)
        transforms.append(construct(cls, args, f"{where}.{name}"))
    return Compose(transforms)


def create_dataset(spec: Mapping[str, Any], framework: Optional[str] = None,
                   transform: Optional[Callable[[Any], Any]] = None,
                   filter: Optional[Callable[[Any, Any], bool]] = None, where: str = "dataset") -> Any:
    """A dataset from a YAML ``dataset:`` mapping {NAME: {args}}."""
    framework_family(framework)
    if not isinstance(spec, Mapping) or len(spec) != 1:
        raise ConfigError(f"{where}: expected exactly one {{NAME: {{args}}}} entry, got {spec!r}")
    name, args = next(iter(spec.items()))
    cls = DATASETS.lookup(name, where)
    args = dict(args or {})
    if transform is not None:
        args["transform"] = transform
    if filter is not None:
        args["filter"] = filter
    return construct(cls, args, f"{where}.{name}", first_positional=False)


def create_dataloader(block: Mapping[str, Any], framework: Optional[str] = None,
                      seed: Optional[int] = None, where: str = "dataloader") -> DataLoader:
    """A DataLoader from a YAML ``dataloader:`` block: {batch_size, last_batch,
    shuffle, dataset: {NAME: {args}}, transform: {NAME: {args}, ...},
    filter: {LabelBalance: {size}}}."""
    if not isinstance(block, Mapping):
        raise ConfigError(f"{where}: expected a mapping, got {block!r}")
    for key in block:
        if key not in BLOCK_KEYS:
            raise ConfigError(f"{where}: unknown key '{key}'{did_you_mean(key, BLOCK_KEYS)}; "
                              f"accepted: {', '.join(BLOCK_KEYS)}")
    if "dataset" not in block:
        raise ConfigError(f"{where}: 'dataset' is required")
    transform = create_transform(block.get("transform"), framework, f"{where}.transform")
    filt = None
    if block.get("filter") is not None:
        fname, fargs = _single(block, "filter", where)
        filt = construct(FILTERS.lookup(fname, f"{where}.filter"), fargs, f"{where}.filter.{fname}")
    dataset = create_dataset(block["dataset"], framework, transform, filt, f"{where}.dataset")
    kwargs: Dict[str, Any] = {}
    for key in ("batch_size", "last_batch", "shuffle", "distributed"):
        if key in block:
            kwargs[key] = block[key]
    kwargs["seed"] = block.get("seed", seed)
    return construct(DataLoader, dict(kwargs, dataset=dataset, framework=framework), where,
                     first_positional=False)
