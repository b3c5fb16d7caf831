"""Every transform against a NumPy (or torch) reference with exact values."""
import numpy as np
import pytest

from lpot.data import (Cast, CenterCrop, Compose, LabelShift, Normalize, RandomCrop,
                       RandomHorizontalFlip, RandomResizedCrop, RandomVerticalFlip, Rescale, Resize,
                       ToArray, ToTensor, Transpose, create_transform)
from lpot.data.transforms import resize_image


def _img(h=5, w=7, c=3, dtype=np.uint8):
    return (np.arange(h * w * c).reshape(h, w, c) * 7 % 256).astype(dtype)


def test_resize_bilinear_hand_computed():
    img = np.array([[0.0, 4.0], [8.0, 12.0]], dtype=np.float32)[:, :, None]
    out = Resize([4, 4])(img)
    expect = np.array([[0, 1, 3, 4], [2, 3, 5, 6], [6, 7, 9, 10], [8, 9, 11, 12]], dtype=np.float32)
    assert out.dtype == np.float32 and out.shape == (4, 4, 1)
    np.testing.assert_array_equal(out[:, :, 0], expect)


def test_resize_nearest_hand_computed():
    img = np.array([[1, 2], [3, 4]], dtype=np.uint8)[:, :, None]
    out = Resize(4, interpolation="nearest")(img)
    np.testing.assert_array_equal(out[:, :, 0], [[1, 1, 2, 2], [1, 1, 2, 2], [3, 3, 4, 4], [3, 3, 4, 4]])
    down = Resize([1, 2], interpolation="nearest")(img)
    np.testing.assert_array_equal(down[:, :, 0], [[1, 2]])


@pytest.mark.parametrize("mode", ["bilinear", "bicubic", "nearest"])
@pytest.mark.parametrize("size", [(3, 4), (9, 11), (5, 7), (2, 13)])
def test_resize_matches_torch_interpolate(mode, size):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    img = rng.uniform(-1, 1, size=(5, 7, 3)).astype(np.float32)
    ref = torch.nn.functional.interpolate(
        torch.from_numpy(img.transpose(2, 0, 1)[None]), size=size, mode=mode,
        **({} if mode == "nearest" else {"align_corners": False})).numpy()[0].transpose(1, 2, 0)
    out = Resize(list(size), interpolation=mode)(img)
    assert out.shape == size + (3,)
    np.testing.assert_allclose(out, ref, rtol=0, atol=1e-5)


def test_resize_uint8_rounds_and_clips():
    img = _img(4, 6, 1)
    out = Resize([7, 3])(img)
    ref = resize_image(img.astype(np.float64), (7, 3))
    assert out.dtype == np.uint8
    np.testing.assert_array_equal(out, np.clip(np.floor(ref + 0.5), 0, 255).astype(np.uint8))
    # bicubic overshoot is clipped into uint8 range
    step = np.zeros((4, 4, 1), np.uint8)
    step[:, 2:] = 255
    up = Resize([4, 9], interpolation="bicubic")(step)
    assert up.dtype == np.uint8 and up.min() == 0 and up.max() == 255


def test_resize_smaller_edge_and_pytorch_yaml_default():
    img = _img(10, 20, 3)
    assert Resize(5, smaller_edge=True)(img).shape == (5, 10, 3)
    assert Resize(5, smaller_edge=True)(img.transpose(1, 0, 2)).shape == (10, 5, 3)
    assert Resize(5)(img).shape == (5, 5, 3)
    t = create_transform({"Resize": {"size": 5}}, framework="pytorch")
    assert t(img).shape == (5, 10, 3)
    assert create_transform({"Resize": 5}, framework="pytorch_fx")(img).shape == (5, 10, 3)
    assert create_transform({"Resize": {"size": 5, "smaller_edge": False}}, "pytorch")(img).shape == (5, 5, 3)
    t = create_transform({"Resize": {"size": 5}}, framework="onnxrt_qlinearops")
    assert t(img).shape == (5, 5, 3)


def test_resize_bad_arguments():
    with pytest.raises(ValueError, match="interpolation must be"):
        Resize(4, interpolation="lanczos")
    with pytest.raises(ValueError, match="size must be"):
        Resize([1, 2, 3])
    with pytest.raises(ValueError, match="positive"):
        Resize(0)


def test_center_crop_exact_and_padding():
    img = _img(7, 9, 3)
    out = CenterCrop([3, 4])(img)
    top, left = int(round((7 - 3) / 2)), int(round((9 - 4) / 2))
    np.testing.assert_array_equal(out, img[top:top + 3, left:left + 4])
    sq = CenterCrop(5)(img)
    np.testing.assert_array_equal(sq, img[1:6, 2:7])
    big = CenterCrop([9, 9])(img)
    assert big.shape == (9, 9, 3)
    np.testing.assert_array_equal(big[1:8], img)
    assert not big[0].any() and not big[8].any()


def test_random_crop_seeded_and_consistent():
    img = _img(10, 12, 3)
    t1, twin = RandomCrop([4, 5], seed=3), RandomCrop([4, 5], seed=3)
    for _ in range(5):
        top, left = twin.get_params(10, 12)
        assert 0 <= top <= 6 and 0 <= left <= 7
        np.testing.assert_array_equal(t1(img), img[top:top + 4, left:left + 5])
    outs_a = [RandomCrop(3, seed=11)(img) for _ in range(1)]
    outs_b = [RandomCrop(3, seed=11)(img) for _ in range(1)]
    np.testing.assert_array_equal(outs_a[0], outs_b[0])
    full = RandomCrop([10, 12], seed=0)(img)
    np.testing.assert_array_equal(full, img)


def test_random_resized_crop_params_and_values():
    img = _img(16, 20, 3).astype(np.float32)
    t, twin = RandomResizedCrop(8, seed=5), RandomResizedCrop(8, seed=5)
    for _ in range(5):
        top, left, h, w = twin.get_params(16, 20)
        assert 0 < h <= 16 and 0 < w <= 20 and top + h <= 16 and left + w <= 20
        expect = resize_image(img[top:top + h, left:left + w], (8, 8))
        np.testing.assert_array_equal(t(img), expect)
    sq = _img(6, 6, 1).astype(np.float32)
    whole = RandomResizedCrop([3, 3], scale=(1.0, 1.0), ratio=(1.0, 1.0), seed=1)(sq)
    np.testing.assert_array_equal(whole, resize_image(sq, (3, 3)))
    # impossible ratio: falls back to the largest centred crop with the nearest ratio
    tall = _img(20, 4, 1).astype(np.float32)
    fb = RandomResizedCrop([2, 2], scale=(0.9, 1.0), ratio=(1.0, 1.0), seed=0)
    assert fb.get_params(20, 4) == (8, 0, 4, 4)
    with pytest.raises(ValueError, match="increasing positive"):
        RandomResizedCrop(4, scale=(1.0, 0.5))


@pytest.mark.parametrize("cls,axis", [(RandomHorizontalFlip, 1), (RandomVerticalFlip, 0)])
def test_flips(cls, axis):
    img = _img(3, 4, 2)
    np.testing.assert_array_equal(cls(p=1.0)(img), np.flip(img, axis))
    np.testing.assert_array_equal(cls(p=0.0)(img), img)
    t = cls(p=0.5, seed=42)
    draws = np.random.default_rng(42).random(20) < 0.5
    for d in draws:
        np.testing.assert_array_equal(t(img), np.flip(img, axis) if d else img)
    with pytest.raises(ValueError, match="p must be"):
        cls(p=1.5)


def test_normalize_hwc_chw_and_errors():
    img = _img(2, 3, 3)
    mean, std = [10.0, 20.0, 30.0], [2.0, 4.0, 5.0]
    out = Normalize(mean, std)(img)
    ref = (img.astype(np.float32) - np.array(mean, np.float32)) / np.array(std, np.float32)
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, ref)
    np.testing.assert_array_equal(Normalize(5.0, 2.0)(img), (img.astype(np.float32) - 5) / 2)
    # after ToTensor, Compose normalises the CHW channel axis
    chw = Compose([ToTensor(), Normalize([0.5, 0.4, 0.3], [0.1, 0.2, 0.3])])(img)
    ref_chw = ((img.astype(np.float32) / 255).transpose(2, 0, 1)
               - np.array([0.5, 0.4, 0.3], np.float32)[:, None, None]) / np.array([0.1, 0.2, 0.3], np.float32)[:, None, None]
    np.testing.assert_allclose(chw, ref_chw, rtol=1e-6)
    with pytest.raises(ValueError, match="mean has 2 values but the image has 3 channels"):
        Normalize([1, 2], [1, 1])(img)
    with pytest.raises(ValueError, match="std must not contain 0"):
        Normalize([1], [0])


def test_to_tensor_to_array_transpose_cast_rescale():
    img = _img(2, 3, 3)
    t = ToTensor()(img)
    assert t.dtype == np.float32 and t.shape == (3, 2, 3)
    np.testing.assert_array_equal(t, img.transpose(2, 0, 1).astype(np.float32) / 255)
    grey = ToTensor()(img[:, :, 0])
    assert grey.shape == (1, 2, 3)
    f = ToTensor()(img.astype(np.float64))
    np.testing.assert_array_equal(f, img.transpose(2, 0, 1).astype(np.float32))

    class FakeTensor:
        def detach(self):
            return self

        def cpu(self):
            return self

        def numpy(self):
            return np.array([1, 2])
    np.testing.assert_array_equal(ToArray()(FakeTensor()), [1, 2])
    arr = ToArray()([[1, 2], [3, 4]])
    assert isinstance(arr, np.ndarray) and arr.shape == (2, 2)

    np.testing.assert_array_equal(Transpose([2, 0, 1])(img), img.transpose(2, 0, 1))
    with pytest.raises(ValueError, match="permutation"):
        Transpose([0, 0, 1])
    with pytest.raises(ValueError, match="does not fit"):
        Transpose([1, 0])(img)
    c = Cast("int32")(img)
    assert c.dtype == np.int32
    np.testing.assert_array_equal(c, img)
    assert Cast()(img).dtype == np.float32
    r = Rescale()(img)
    assert r.dtype == np.float32
    np.testing.assert_array_equal(r, img.astype(np.float32) / np.float32(255))


def test_label_shift_and_pairs():
    img = _img(2, 2, 1)
    out_img, lab = LabelShift(1)((img, 5))
    assert out_img is img and lab == 4
    _, arr = LabelShift(2)((img, np.array([3, 4])))
    np.testing.assert_array_equal(arr, [1, 2])
    _, lst = LabelShift(1)((img, [1, 2]))
    assert lst == [0, 1]
    # image transforms leave labels alone
    flipped, lab = RandomHorizontalFlip(p=1.0)((img, 7))
    assert lab == 7
    np.testing.assert_array_equal(flipped, img[:, ::-1])


def test_compose_order():
    img = _img(6, 6, 3)
    chain = Compose([CenterCrop(4), Rescale(), Transpose([2, 0, 1]), LabelShift(1)])
    x, y = chain((img, 3))
    np.testing.assert_array_equal(x, (img[1:5, 1:5].astype(np.float32) / np.float32(255)).transpose(2, 0, 1))
    assert y == 2
