"""The data stage: embedded synthetic set, CIFAR-10 through torchvision, the .npz loader, summaries."""
import hashlib
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from cutmix_course import data as D

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "cifar10"


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
    ({"images": np.zeros((4, 3, 32, 32), np.uint8), "labels": np.zeros(4, int)}, "'images' must be uint8 \\(N, H, W, 3\\)"),
    ({"images": np.zeros((4, 32, 32, 3), np.uint8), "labels": np.zeros(5, int)}, "'labels' must be integers of shape \\(4,\\)"),
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
