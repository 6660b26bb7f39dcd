"""Networks as BioImage Model Zoo packages: one ONNX graph for the whole chain (issue 15)."""

from __future__ import annotations

import numpy as np
import pytest

import brushlab
from brushlab.network import NetworkClassifier
from tests.hidden_torch import REASON

torch = pytest.importorskip("torch", reason=REASON)
pytest.importorskip("bioimageio.spec", reason="exporting needs bioimageio.spec")


def _data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    image = rng.normal(0, 0.5, (64, 80)).astype(np.float32)
    image[:, 40:] += 2.0
    image[20:30, 10:20] += 1.0  # structure for the forest's features
    labels = np.zeros((64, 80), np.uint8)
    labels[3:-3:5, 4:36] = 1
    labels[3:-3:5, 44:76] = 2
    return image, labels


@pytest.mark.parametrize("with_forest", [False, True])
def test_exported_package_reproduces_predict(tmp_path, with_forest: bool) -> None:
    image, labels = _data()
    forest = None
    if with_forest:
        features = brushlab.FeatureSet({"gaussian_smoothing": [1.0],
                                        "hessian_of_gaussian_eigenvalues": [1.6]})
        forest = brushlab.PixelClassifier(features, n_trees=5, random_state=0, n_jobs=1,
                                   model="random_forest")
    net = NetworkClassifier(forest=forest, depth=2, base_channels=4, max_steps=8,
                            patch_size=(32, 32), random_state=0, n_jobs=1).fit(image, labels)
    path = net.export_bioimageio(tmp_path / "net.zip", sample_image=image)
    model = brushlab.load_model(path)
    assert model.test().passed
    # The package alone (onnxruntime on the whole image) reproduces predict on a new image.
    import zipfile

    import onnxruntime as ort

    rng = np.random.default_rng(5)
    other = (image + rng.normal(0, 0.2, image.shape)).astype(np.float32)
    with zipfile.ZipFile(path) as z:
        session = ort.InferenceSession(z.read("model.onnx"), providers=["CPUExecutionProvider"])
    got = session.run(["probabilities"], {"raw": other[None, None]})[0][0]
    np.testing.assert_allclose(got, net.predict(other).probabilities.values, atol=1e-4)


def test_bioimageio_core_passes_the_package(tmp_path) -> None:
    core = pytest.importorskip("bioimageio.core", reason="bioimageio.core is not installed")
    image, labels = _data()
    net = NetworkClassifier(forest=None, depth=2, base_channels=4, max_steps=5,
                            patch_size=(32, 32), random_state=0, n_jobs=1).fit(image, labels)
    path = net.export_bioimageio(tmp_path / "net", sample_image=image)
    summary = core.test_model(str(path / "bioimageio.yaml"))
    assert summary.status == "passed", summary.format()
