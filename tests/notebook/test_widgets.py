"""The notebooks' explorers, headless: every update function redraws a different figure when its slider value
changes, the same figure for the same values, and the widget shells carry the agreed controls."""
import ipywidgets as W
import pytest
import torch

from cutmix_course.core.data import make_synthetic
from cutmix_course.core.model import make_model
from cutmix_course.notebook import widgets


@pytest.fixture(scope="module")
def ds():
    return make_synthetic(n_train=60, n_test=30, seed=0)


@pytest.fixture(scope="module")
def x(ds):
    return ds.normalize(ds.train_images[:8])


def png(fig) -> bytes:
    return widgets.figure_png(fig)


def assert_changes(update, name, a, b, **kwargs):
    """update(**kwargs, name=a) and update(name=b) draw different pictures; name=a twice draws the same one."""
    first, again, other = (png(update(**kwargs, **{name: v})) for v in (a, a, b))
    assert first == again, f"{update.__name__}: same {name}={a!r}, different picture (not deterministic)"
    assert first != other, f"{update.__name__}: {name} {a!r} -> {b!r} did not change the picture"


def test_class_view_follows_the_class(ds):
    assert_changes(widgets.class_view, "class_index", 0, 3, data=ds)


@pytest.mark.parametrize("name,a,b", [("size", 8, 16), ("n_holes", 1, 3), ("index", 0, 5), ("seed", 0, 1)])
def test_cutout_view_follows_each_slider(ds, x, name, a, b):
    values = {"index": 0, "size": 8, "n_holes": 1, "seed": 0}
    del values[name]
    assert_changes(widgets.cutout_view, name, a, b, images=x, data=ds, **values)


def test_cutout_view_shows_an_unfinished_or_broken_student_function_without_raising(ds, x):
    def stub(images, size, generator=None):
        raise NotImplementedError()

    def broken(images, size, generator=None):
        raise IndexError("too many indices")

    def works(images, size, generator=None):
        return images.masked_fill(torch.ones_like(images, dtype=torch.bool), 0)

    pictures = {png(widgets.cutout_view(x, 0, 8, student_fn=fn, data=ds)) for fn in (stub, broken, works)}
    assert len(pictures) == 3


def test_beta_view_follows_alpha():
    assert_changes(widgets.beta_view, "alpha", 1.0, 0.3)


def test_cutmix_view_label_chart_follows_lambda(ds, x):
    kwargs = dict(images=x, labels=ds.train_labels[:8], classes=ds.classes, index_a=0, seed=0, data=ds)
    assert_changes(widgets.cutmix_view, "lam", 0.6, 0.2, index_b=1, **kwargs)
    assert_changes(widgets.cutmix_view, "index_b", 1, 2, lam=0.5, **kwargs)


@pytest.mark.parametrize("lam", [0.0, 0.2, 0.6, 0.95, 1.0])
@pytest.mark.parametrize("seed", [0, 3])
def test_cutmix_pair_label_equals_the_pixel_shares(lam, seed):
    pair = torch.stack([torch.zeros(3, 32, 32), torch.ones(3, 32, 32)])  # A all 0, B all 1: pasted pixels show
    mixed, soft, box, lam_c = widgets.cutmix_pair(pair, torch.tensor([2, 7]), 10, lam, 0, 1, seed=seed)
    kept = (mixed[0, 0] == 0).float().mean().item()
    assert soft[2].item() == pytest.approx(kept, abs=1e-6)
    assert soft[7].item() == pytest.approx(1 - kept, abs=1e-6)
    assert lam_c == pytest.approx(kept, abs=1e-9)
    assert soft.sum().item() == pytest.approx(1.0)


def test_occlusion_view_follows_the_occluder_size(ds):
    models = {"a": make_model(ds.num_classes, seed=0).eval(), "b": make_model(ds.num_classes, seed=1).eval()}
    kwargs = dict(models=models, images=ds.normalize(ds.test_images[:12]), labels=ds.test_labels[:12],
                  classes=ds.classes, n=3, data=ds)
    assert_changes(widgets.occlusion_view, "size", 0, 12, **kwargs)


@pytest.mark.parametrize("name,a,b", [("x", 0, 20), ("y", 0, 20), ("size", 4, 16), ("index", 0, 2)])
def test_probe_view_follows_each_slider(ds, name, a, b):
    values = {"index": 0, "x": 10, "y": 10, "size": 10}
    del values[name]
    assert_changes(widgets.probe_view, name, a, b, model=make_model(ds.num_classes, seed=0).eval(),
                   images=ds.normalize(ds.test_images[:4]), classes=ds.classes, data=ds, labels=ds.test_labels,
                   **values)


def test_probe_reports_the_softmax_before_and_after(ds):
    model = make_model(ds.num_classes, seed=0).eval()
    image = ds.normalize(ds.test_images[0])
    occluded, before, after = widgets.probe(model, image, 28, 28, 10)  # clipped at the corner
    assert (occluded != image).any(0).sum() == 16  # 4 x 4 visible part of the 10 x 10 square
    assert before.sum().item() == pytest.approx(1) and after.sum().item() == pytest.approx(1)
    assert not torch.allclose(before, after)


# ------------------------------------------------------------------------------------------------- the shells
def sliders(box):
    """description -> slider, for every Int/FloatSlider inside a widget box (depth first)."""
    found = {}
    for child in box.children:
        if isinstance(child, W.Box):
            found.update(sliders(child))
        elif isinstance(child, (W.IntSlider, W.FloatSlider)):
            found[child.description] = child
    return found


def test_explorer_redraws_with_the_new_value():
    calls = []

    def update(v, fixed):
        calls.append((v, fixed))
        return widgets.beta_view(1.0 + v)

    slider = W.IntSlider(value=1, min=0, max=5)
    box = widgets.explorer(update, {"v": slider}, fixed="kept")
    assert calls == [(1, "kept")]
    slider.value = 4
    assert calls == [(1, "kept"), (4, "kept")]
    assert isinstance(box.children[-1], W.Output)


def test_agreed_controls(ds, x):
    """The descriptions and defaults the browser test (tests/browser) looks for."""
    cutout = sliders(widgets.cutout_explorer(x, data=ds))
    assert isinstance(cutout["patch size"], W.IntSlider) and cutout["patch size"].value == 8
    assert cutout["patch size"].max > 8
    cutmix = sliders(widgets.cutmix_explorer(x, ds.train_labels[:8], ds.classes, data=ds))
    assert isinstance(cutmix["λ"], W.FloatSlider) and cutmix["λ"].max - cutmix["λ"].min >= 0.9
    assert {"α"} == set(sliders(widgets.beta_explorer()))
    assert "class" in sliders(widgets.class_explorer(ds))
    probe = sliders(widgets.probe_explorer(make_model(ds.num_classes).eval(), x, ds.classes, data=ds))
    assert {"patch x", "patch y", "patch size", "image"} <= set(probe)
