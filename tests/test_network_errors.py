"""NetworkClassifier on bad input: clear errors, nothing lost (issue 15)."""

from __future__ import annotations

import numpy as np
import pytest

from brushlab.errors import (
    ClassifierError,
    LabelError,
    MissingDependencyError,
    TrainingError,
)
from brushlab.network import NetworkClassifier
from tests.hidden_torch import block_torch_imports, needs_torch

SMALL = {"depth": 2, "base_channels": 4, "max_steps": 6, "patch_size": (32, 32),
         "random_state": 0, "n_jobs": 1, "forest": None}


def _data(shape: tuple[int, int] = (64, 80)) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    image = rng.normal(0, 0.5, shape).astype(np.float32)
    image[:, shape[1] // 2:] += 2.0
    labels = np.zeros(shape, np.uint8)
    labels[3:-3:5, 4:shape[1] // 2 - 4] = 1
    labels[3:-3:5, shape[1] // 2 + 4:-4] = 2
    return image, labels


def test_without_torch_fit_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    block_torch_imports(monkeypatch)
    image, labels = _data()
    net = NetworkClassifier(**SMALL)
    with pytest.raises(MissingDependencyError, match=r'pip install "brushlab\[train\]"'):
        net.fit(image, labels)
    assert not net.is_trained
    with pytest.raises(ClassifierError, match="not trained yet"):
        net.predict(image)


@needs_torch
def test_one_class_only() -> None:
    image, labels = _data()
    labels[labels == 2] = 0
    with pytest.raises(LabelError, match="only class 'class 1' is labelled"):
        NetworkClassifier(**SMALL).fit(image, labels)
    with pytest.raises(LabelError, match="all 0"):
        NetworkClassifier(**SMALL).fit(image, np.zeros_like(labels))


@needs_torch
def test_too_few_labels_for_a_validation_split() -> None:
    image, _ = _data()
    labels = np.zeros(image.shape, np.uint8)
    labels[10, 10] = 1
    labels[10, 70] = 2
    with pytest.raises(LabelError, match="validation_fraction=0"):
        NetworkClassifier(**SMALL).fit(image, labels)
    net = NetworkClassifier(**dict(SMALL, validation_fraction=0)).fit(image, labels)
    assert net.predict(image).segmentation.shape == image.shape
    assert net.training["history"] == [] and net.calibration["bias"] == [0.0, 0.0]


@needs_torch
def test_images_smaller_than_the_field_of_view() -> None:
    image, labels = _data((24, 24))
    with pytest.raises(ClassifierError, match="field of view.*depth="):
        NetworkClassifier(**dict(SMALL, depth=4)).fit(image, labels)
    net = NetworkClassifier(**dict(SMALL, depth=2, validation_fraction=0)).fit(image, labels)
    tiny = image[:5, :7]  # predicting an image below the field of view mirrors it
    whole = net.predict(tiny).probabilities.values
    np.testing.assert_allclose(net.predict(tiny, tile_shape=(2, 3)).probabilities.values,
                               whole, atol=1e-5)


@needs_torch
def test_out_of_memory_halves_the_batch_then_gives_up_clearly(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import torch

    from brushlab.network import _train

    real_step = _train.train_step
    calls = {"oom": 0}

    def flaky(net, opt, x, *args):  # type: ignore[no-untyped-def]
        if x.shape[0] > 1:
            calls["oom"] += 1
            raise torch.OutOfMemoryError("CUDA out of memory (simulated)")
        return real_step(net, opt, x, *args)

    monkeypatch.setattr(_train, "train_step", flaky)
    image, labels = _data()
    net = NetworkClassifier(**dict(SMALL, batch_size=4)).fit(image, labels)
    assert calls["oom"] == 2 and net.is_trained  # 4 -> 2 -> 1, then trains
    before = net.predict(image).probabilities.values

    def always(*args):  # type: ignore[no-untyped-def]
        raise torch.OutOfMemoryError("out of memory (simulated)")

    monkeypatch.setattr(_train, "train_step", always)
    with pytest.raises(TrainingError, match="batch size 1 on the CPU"):
        net.fit(image, labels)
    # the failed retraining left the trained network untouched
    np.testing.assert_array_equal(net.predict(image).probabilities.values, before)


@needs_torch
def test_cuda_out_of_memory_moves_training_to_the_cpu(monkeypatch: pytest.MonkeyPatch) -> None:
    import torch

    from brushlab.network import _train

    class FakeNet:
        def to(self, device):  # type: ignore[no-untyped-def]
            self.device = device
            return self

    monkeypatch.setattr(torch.cuda, "empty_cache", lambda: None)
    net, opt = FakeNet(), torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)
    batch, dev = _train._after_oom(RuntimeError("oom"), 1, torch.device("cuda"), net, opt)
    assert (batch, dev.type, net.device.type) == (1, "cpu", "cpu")
