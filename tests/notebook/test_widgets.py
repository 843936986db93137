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


def test_an_explorer_shows_its_opening_figure_where_no_kernel_runs(ds, x):
    """The display bundle holds the live widget and, for exports and GitHub, a PNG of the figure it opened with
    (the sliders' defaults), not of a later value."""
    import base64

    box = widgets.cutout_explorer(x, data=ds)
    bundle = box._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in bundle
    opening = widgets.figure_png(widgets.cutout_view(x, index=0, size=8, n_holes=1, seed=0, data=ds))
    assert base64.b64decode(bundle["image/png"]) == opening
    sliders(box)["patch size"].value = 16
    assert base64.b64decode(box._repr_mimebundle_()["image/png"]) == opening


def test_the_quiz_shows_its_questions_but_no_answer_where_no_kernel_runs():
    from cutmix_course.notebook import quiz

    q = quiz.load()
    static = quiz.quiz_widget(q)._repr_mimebundle_()["text/html"]
    for question in q.questions:
        assert quiz_text(question.question) in static
        assert all(quiz_text(text) in static for text in question.choices.values())
    for word in ("answer_sha256", "explanation", "Correct"):
        assert word not in static


def quiz_text(text: str) -> str:
    import html

    return html.escape(text)


def test_the_clipped_box_figure_states_the_course_arithmetic():
    """The figure's numbers are the box code's: λ = 0.5 around (28, 6) on 32×32 asks 22×22 and keeps 15×17."""
    from cutmix_course.notebook import plots

    fig = plots.clipped_box_figure(32, 32, lam=0.5, cx=28, cy=6)
    text = "\n".join(t.get_text() for ax in fig.axes for t in ax.texts)
    assert "22×22 = 484 px" in text and "15×17 = 255 px" in text and "1 − 255 / 1024 = 0.751" in text, text


def test_the_pipeline_figure_mixes_the_label_by_the_clipped_box(ds, x):
    from cutmix_course.core import augment
    from cutmix_course.notebook import plots

    fig = plots.pipeline_figure(x, ds.train_labels[:8], ds.classes, make_model(ds.num_classes), data=ds, lam=0.6,
                                seed=3)
    g = torch.Generator().manual_seed(3)
    cut = augment.cutout(x[:2], 8, generator=g)
    box = augment.rand_bbox(32, 32, 0.6, g)
    _, soft, lam = augment.paste_boxes(cut, ds.train_labels[:2], ds.num_classes, box, torch.tensor([1, 0]))
    titles = [ax.get_title() for ax in fig.axes]
    assert f"λ = {float(lam[0]):.2f} (asked 0.60)" in titles[2], titles
    assert plots.soft_label_text(soft[0], ds.classes) in titles[4], titles
