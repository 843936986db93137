"""The data stage: embedded synthetic set, CIFAR-10 through torchvision, the .npz loader, summaries."""
import hashlib
import math
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from cutmix_course.core import data as D

SHARED = Path(__file__).resolve().parents[3] / "shared" / "data" / "cifar10"


@pytest.fixture(scope="module")
def small():
    return D.make_synthetic(300, 100, seed=3)


def test_synthetic_shapes_balance_and_dtype(small):
    assert small.train_images.shape == (300, 3, 32, 32) and small.train_images.dtype == torch.uint8
    assert small.test_images.shape == (100, 3, 32, 32)
    assert small.classes == D.SYNTHETIC_CLASSES and len(set(small.classes)) == 10
    assert torch.bincount(small.train_labels, minlength=10).tolist() == [30] * 10
    assert torch.bincount(small.test_labels, minlength=10).tolist() == [10] * 10


def test_synthetic_is_deterministic_for_a_seed_and_differs_between_seeds(small):
    again = D.make_synthetic(300, 100, seed=3)
    assert torch.equal(again.train_images, small.train_images) and torch.equal(again.test_labels, small.test_labels)
    other = D.make_synthetic(300, 100, seed=4)
    assert not torch.equal(other.train_images, small.train_images)
    # train and test are different images
    assert not any(torch.equal(small.test_images[0], im) for im in small.train_images)


def test_synthetic_images_are_not_trivial(small):
    x = small.train_images.float()
    # backgrounds are textured and noisy: every image uses a wide range of values, no two images are equal
    assert (x.flatten(1).std(1) > 10).all()
    assert torch.unique(small.train_images.flatten(1), dim=0).shape[0] == 300
    # the object differs by class: mean image of two classes differ more than noise would
    means = torch.stack([x[small.train_labels == k].mean(0) for k in range(10)])
    assert (means[0] - means[5]).abs().mean() > 1.0


def test_summary_and_normalisation(small):
    s = D.summary(small.train_images, small.train_labels, small.classes)
    assert s["count"] == 300 and s["shape"] == (3, 32, 32) and s["dtype"] == "uint8"
    assert s["per_class"] == {c: 30 for c in small.classes}
    x = small.train_images.double() / 255
    assert s["mean"] == pytest.approx(x.mean(dim=(0, 2, 3)).tolist(), abs=1e-4)
    assert s["std"] == pytest.approx(x.std(dim=(0, 2, 3)).tolist(), abs=1e-4)
    z = small.normalize(small.train_images)
    assert z.dtype == torch.float32
    assert z.mean(dim=(0, 2, 3)).abs().max() < 1e-4 and (z.std(dim=(0, 2, 3)) - 1).abs().max() < 1e-3
    assert torch.allclose(small.denormalize(z), small.train_images.float() / 255, atol=1e-5)
    with pytest.raises(TypeError, match="uint8"):
        small.normalize(z)


def test_stratified_subset_is_balanced_and_deterministic():
    labels = torch.arange(1000) % 10
    idx = D.stratified_subset(labels, 95, 10, seed=1)
    assert idx.numel() == 95 and idx.unique().numel() == 95
    counts = torch.bincount(labels[idx], minlength=10)
    assert counts.max() - counts.min() <= 1
    assert torch.equal(idx, D.stratified_subset(labels, 95, 10, seed=1))
    with pytest.raises(ValueError, match="n must be at most"):
        D.stratified_subset(labels, 1001, 10)


def _write_cifar_folder(root: Path, n_per_batch: int, rng) -> dict:
    """A tiny folder in CIFAR-10's python layout (5 train batches, 1 test batch, meta), with its md5 sums."""
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    sums, arrays = {}, {}
    names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    for name in names:
        data = rng.integers(0, 256, (n_per_batch, 3072), dtype=np.uint8)
        labels = [int(v) for v in rng.integers(0, 10, n_per_batch)]
        (folder / name).write_bytes(pickle.dumps({"data": data, "labels": labels}))
        arrays[name] = (data, labels)
    (folder / "batches.meta").write_bytes(pickle.dumps({"label_names": list(D.CIFAR10_CLASSES)}))
    for f in folder.iterdir():
        sums[f.name] = hashlib.md5(f.read_bytes()).hexdigest()
    return {"sums": sums, "arrays": arrays}


def test_cifar10_loader_reads_torchvision_layout(tmp_path, monkeypatch):
    """Real torchvision.datasets.CIFAR10 code path on a folder written here (its md5 list points at our files)."""
    from torchvision.datasets import CIFAR10

    written = _write_cifar_folder(tmp_path, 40, np.random.default_rng(0))
    sums = written["sums"]
    monkeypatch.setattr(CIFAR10, "train_list", [[f"data_batch_{i}", sums[f"data_batch_{i}"]] for i in range(1, 6)])
    monkeypatch.setattr(CIFAR10, "test_list", [["test_batch", sums["test_batch"]]])
    monkeypatch.setattr(CIFAR10, "meta", {**CIFAR10.meta, "md5": sums["batches.meta"]})
    split = D.load_cifar10(tmp_path, n_train=50, n_test=None)
    assert split.classes == D.CIFAR10_CLASSES
    assert split.train_images.shape == (50, 3, 32, 32) and split.test_images.shape == (40, 3, 32, 32)
    # pixel layout: CIFAR rows are CHW-flattened; the first test image must round-trip exactly
    data, labels = written["arrays"]["test_batch"]
    assert torch.equal(split.test_images[0], torch.from_numpy(data[0].reshape(3, 32, 32)))
    assert split.test_labels.tolist() == labels
    counts = torch.bincount(split.train_labels, minlength=10)
    assert counts.sum() == 50
    # via the by-name entry point too
    assert torch.equal(D.load_dataset("cifar10", root=tmp_path, n_train=50).train_images, split.train_images)


def test_cifar10_missing_folder_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="cifar-10-batches-py"):
        D.load_cifar10(tmp_path / "nowhere")


def _npz(path, **arrays):
    np.savez(path, **arrays)
    return path


def test_npz_loader_even_odd_split(tmp_path):
    rng = np.random.default_rng(1)
    images = rng.integers(0, 256, (40, 32, 32, 3), dtype=np.uint8)
    labels = np.arange(40) % 10
    path = _npz(tmp_path / "d.npz", images=images, labels=labels, classes=np.array(D.CIFAR10_CLASSES))
    split = D.load_npz(path)
    assert split.train_images.shape == (20, 3, 32, 32) and split.test_images.shape == (20, 3, 32, 32)
    assert torch.equal(split.train_images[1], torch.from_numpy(images[2]).permute(2, 0, 1))
    assert torch.equal(split.test_images[0], torch.from_numpy(images[1]).permute(2, 0, 1))
    assert split.classes == D.CIFAR10_CLASSES
    sub = D.load_npz(path, n_train=10)
    assert torch.bincount(sub.train_labels, minlength=10).max() <= 2


@pytest.mark.parametrize("arrays, message", [
    ({"images": np.zeros((4, 32, 32, 3), np.uint8)}, "missing \\['labels'\\]"),
    ({"images": np.zeros((4, 32, 32, 3), np.float32), "labels": np.zeros(4, int)}, "'images' must be uint8"),
    ({"images": np.zeros((4, 3, 32, 32), np.uint8), "labels": np.zeros(4, int)},
     "'images' must be uint8 \\(N, H, W, 3\\)"),
    ({"images": np.zeros((4, 32, 32, 3), np.uint8), "labels": np.zeros(5, int)},
     "'labels' must be integers of shape \\(4,\\)"),
])
def test_npz_with_wrong_arrays_is_rejected(tmp_path, arrays, message):
    with pytest.raises(ValueError, match=message):
        D.load_npz(_npz(tmp_path / "bad.npz", **arrays))


def test_unknown_or_missing_data_sets_are_clear_errors(tmp_path):
    with pytest.raises(ValueError, match="unknown data set 'mnist'"):
        D.load_dataset("mnist")
    with pytest.raises(FileNotFoundError, match="npz data set not found"):
        D.load_dataset(f"npz:{tmp_path / 'missing.npz'}")
    with pytest.raises(ValueError, match="n_train must be a positive integer"):
        D.make_synthetic(0)


@pytest.mark.skipif(not (SHARED / "cifar10_test_jpeg.npz").is_file(), reason="shared CIFAR-10 copy not present")
def test_shared_cifar10_copy_loads_with_the_fixed_split():
    split = D.load_npz(SHARED / "cifar10_test_jpeg.npz")
    assert split.train_images.shape == (5000, 3, 32, 32) and split.test_images.shape == (5000, 3, 32, 32)
    assert torch.bincount(split.train_labels).tolist() == [500] * 10
    assert torch.bincount(split.test_labels).tolist() == [500] * 10
    assert split.classes == D.CIFAR10_CLASSES
    # the README's known test-split mean, in 0..255 units
    mean = torch.cat([split.train_images, split.test_images]).double().mean(dim=(0, 2, 3))
    assert mean.tolist() == pytest.approx([125.99, 123.69, 114.85], abs=0.05)


# --------------------------------------------------------------------------------------------------- more edges
def test_load_dataset_passes_every_setting_on(tmp_path):
    default = D.load_dataset(n_train=20, n_test=10)
    assert default.name == "synthetic" and len(default.train_images) == 20 and len(default.test_images) == 10
    assert torch.equal(D.load_dataset("synthetic", n_train=20, n_test=10, seed=4).train_images,
                       D.make_synthetic(20, 10, seed=4).train_images)
    assert not torch.equal(D.load_dataset(n_train=20, n_test=10, seed=4).train_images, default.train_images)
    images = np.random.default_rng(2).integers(0, 256, (60, 32, 32, 3), dtype=np.uint8)
    path = _npz(tmp_path / "d.npz", images=images, labels=np.arange(60) % 10)
    split = D.load_dataset(f"npz:{path}", n_train=10, n_test=20, seed=1)
    assert split.name == "npz:d.npz" and len(split.train_images) == 10 and len(split.test_images) == 20
    assert torch.equal(split.train_labels, D.load_npz(path, 10, 20, seed=1).train_labels)
    assert not torch.equal(split.train_images, D.load_dataset(f"npz:{path}", n_train=10, n_test=20,
                                                              seed=2).train_images)
    with pytest.raises(ValueError, match="unknown data set 'npz:'"):
        D.load_dataset("npz:")
    with pytest.raises(TypeError, match=r"name must be a string, one of \('synthetic', 'cifar10', 'npz:PATH'\), "
                                        r"got int"):
        D.load_dataset(10)


def test_the_embedded_set_has_the_pages_size_by_default():
    split = D.make_synthetic()
    assert split.name == "synthetic" and split.train_images.shape == (5000, 3, 32, 32)
    assert split.test_images.shape == (1000, 3, 32, 32)


def test_make_synthetic_names_the_bad_argument():
    with pytest.raises(ValueError, match="n_test must be a positive integer, got 0"):
        D.make_synthetic(10, 0)
    with pytest.raises(ValueError, match="size must be a positive integer, got -1"):
        D.make_synthetic(10, 10, size=-1)
    with pytest.raises(ValueError, match="size must be at least 16 pixels, got 15"):
        D.make_synthetic(10, 10, size=15)
    assert D.make_synthetic(10, 10, size=16).train_images.shape == (10, 3, 16, 16)


def test_npz_labels_classes_and_pickles(tmp_path):
    images = np.zeros((8, 32, 32, 3), np.uint8)
    split = D.load_npz(_npz(tmp_path / "a.npz", images=images, labels=np.array([0, 1, 2, 3] * 2)))
    assert split.classes == ("class 0", "class 1", "class 2", "class 3")
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 1\], got 0..3"):
        D.load_npz(_npz(tmp_path / "b.npz", images=images, labels=np.array([0, 1, 2, 3] * 2),
                        classes=np.array(["a", "b"])))
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 3\], got -1..3"):
        D.load_npz(_npz(tmp_path / "c.npz", images=images, labels=np.array([0, 1, 2, 3, -1, 1, 2, 3])))
    np.savez(tmp_path / "p.npz", images=images, labels=np.array([0, 1] * 4), classes=np.array([{"x": 1}, 2],
                                                                                               dtype=object))
    with pytest.raises(ValueError, match="pickle"):  # an .npz never runs code from the file
        D.load_npz(tmp_path / "p.npz")


def test_stratified_subset_edges():
    labels = torch.arange(20) % 4
    assert sorted(D.stratified_subset(labels, 20, 4).tolist()) == list(range(20)), "n = all images is allowed"
    with pytest.raises(ValueError, match=r"n must be at most the number of images \(20\), got 21"):
        D.stratified_subset(labels, 21, 4)
    with pytest.raises(ValueError, match="n must be a positive integer, got 0"):
        D.stratified_subset(labels, 0, 4)
    assert torch.equal(D.stratified_subset(labels, 8, 4), D.stratified_subset(labels, 8, 4, seed=0))
    picked = D.stratified_subset(labels, 8, 4, seed=5)
    assert torch.bincount(labels[picked], minlength=4).tolist() == [2, 2, 2, 2]
    assert len(set(picked.tolist())) == 8


def test_summary_of_float_images_and_of_missing_classes():
    images = torch.zeros(4, 3, 2, 2)
    images[:, 1] = 0.5
    images[0, 2] = 1.0
    s = D.summary(images, torch.tensor([0, 0, 2, 2]), ("a", "b", "c", "d"))
    assert s["per_class"] == {"a": 2, "b": 0, "c": 2, "d": 0}
    assert s["mean"] == [0.0, 0.5, 0.25] and s["std"] == [0.0, 0.0, round(math.sqrt(4 * 0.75 / 15), 4)]
    assert s["dtype"] == "float32" and s["count"] == 4 and s["shape"] == (3, 2, 2)
    u8 = torch.full((2, 3, 3, 3), 100, dtype=torch.uint8)
    assert D.summary(u8, torch.tensor([1, 1]), ("a", "b"))["mean"] == [round(100 / 255, 4)] * 3
    with pytest.raises(ValueError, match=r"images must be a \(N, C, H, W\) tensor, got torch.Size\(\[3, 2, 2\]\)"):
        D.summary(images[0], torch.tensor([0]), ("a",))
    with pytest.raises(ValueError, match=r"images must be a \(N, C, H, W\) tensor, got <class 'list'>"):
        D.summary([1, 2], torch.tensor([0]), ("a",))


@pytest.mark.parametrize("train, labels, message", [
    (torch.zeros(2, 3, 4, 4), torch.zeros(2, dtype=torch.long),
     r"train_images must be uint8 \(N, 3, H, W\), got torch.float32 \(2, 3, 4, 4\)"),
    (torch.zeros(2, 1, 4, 4, dtype=torch.uint8), torch.zeros(2, dtype=torch.long),
     r"train_images must be uint8 .*\(2, 1, 4, 4\)"),
    (torch.zeros(3, 4, 4, dtype=torch.uint8), torch.zeros(3, dtype=torch.long),
     r"train_images must be uint8 .*\(3, 4, 4\)"),
    (torch.zeros(2, 3, 4, 4, dtype=torch.uint8), torch.zeros(3, dtype=torch.long),
     r"train_labels must have shape \(2,\), got \(3,\)"),
])
def test_a_data_split_refuses_malformed_parts(train, labels, message):
    ok = torch.zeros(2, 3, 4, 4, dtype=torch.uint8)
    with pytest.raises(ValueError, match=message):
        D.DataSplit("x", train, labels, ok, torch.zeros(2, dtype=torch.long), ("a",))


def test_denormalize_gives_displayable_values(small):
    far = torch.tensor([-50.0, 0.0, 50.0]).view(3, 1, 1).expand(3, 2, 2)
    out = small.denormalize(far)
    assert float(out.min()) == 0.0 and float(out.max()) == 1.0
    back = small.denormalize(small.normalize(small.train_images[:2]))
    torch.testing.assert_close(back, small.train_images[:2].float() / 255, atol=1e-5, rtol=0)
