"""Tiling: fixed and parameterized input sizes, halos, user borders, cropping models, planes."""

from __future__ import annotations

import numpy as np
import pytest

import brushlab
from brushlab.bioimageio._axes import AxisInfo, TensorInfo
from brushlab.bioimageio._tiling import plan_tiles
from tests.dl_packages import blur_model, box_mean_np, simple_package


@pytest.fixture
def image():
    return (np.random.default_rng(3).random((53, 71)) * 100).astype(np.float32)


def _blur_package(tmp_path, name, *, size, halo=0, offset=0, pads=1):
    return simple_package(
        tmp_path / name,
        model=blur_model(pads=pads),
        reference=lambda a: np.stack([[_valid_or_same(a[0, 0], pads)]]),
        size=size,
        halo=halo,
        offset=offset,
        shape=(32, 32),
    )


def _valid_or_same(a, pads):
    if pads == 0:
        return box_mean_np(a)[1:-1, 1:-1]
    p = np.pad(a, 1)  # the model pads with zeros
    return sum(p[i : i + a.shape[0], j : j + a.shape[1]] for i in range(3) for j in range(3)) / 9.0


def _record_blocks(model):
    seen = []
    run = model.runner.run

    def spy(arrays):
        seen.append(next(iter(arrays.values())).shape)
        return run(arrays)

    model.runner.run = spy
    return seen


def test_declared_halo_tiles_without_seams(tmp_path, image):
    model = brushlab.load_model(_blur_package(tmp_path, "halo", size={"min": 8, "step": 8}, halo=1))
    whole = model.predict(image)["out"].values[0]
    tiled = model.predict(image, tile_shape=(16, 20))["out"].values[0]
    np.testing.assert_allclose(tiled, whole, atol=1e-6)
    # mirrored like brushlab's features at the image border
    np.testing.assert_allclose(whole, box_mean_np(image), atol=1e-4)


def test_user_border_replaces_a_missing_halo(tmp_path, image):
    model = brushlab.load_model(_blur_package(tmp_path, "nohalo", size={"min": 8, "step": 8}))
    whole = model.predict(image)["out"].values[0]
    naive = model.predict(image, tile_shape=(16, 16))["out"].values[0]
    assert np.abs(naive - whole).max() > 1.0  # zero padding at every tile edge: seams
    bordered = model.predict(image, tile_shape=(16, 16), border=1)["out"].values[0]
    np.testing.assert_allclose(bordered, model.predict(image, border=1)["out"].values[0], atol=1e-6)
    np.testing.assert_allclose(bordered, box_mean_np(image), atol=1e-4)


def test_model_that_crops_its_output(tmp_path, image):
    pkg = _blur_package(tmp_path, "valid", size={"min": 10, "step": 4}, offset=-2, pads=0)
    model = brushlab.load_model(pkg)
    assert model.test().passed
    whole = model.predict(image)["out"].values[0]
    assert whole.shape == image.shape
    tiled = model.predict(image, tile_shape=(12, 9))["out"].values[0]
    np.testing.assert_allclose(tiled, whole, atol=1e-6)
    np.testing.assert_allclose(whole, box_mean_np(image), atol=1e-4)


@pytest.mark.parametrize("shape", [(20, 25), (70, 90)])
def test_fixed_size_model_pads_and_tiles(tmp_path, shape):
    img = (np.random.default_rng(4).random(shape) * 10).astype(np.float32)
    model = brushlab.load_model(_blur_package(tmp_path, "fixed", size=32, halo=1))
    seen = _record_blocks(model)
    out = model.predict(img)["out"].values[0]
    assert out.shape == shape
    assert set(seen) == {(1, 1, 32, 32)}
    np.testing.assert_allclose(out, box_mean_np(img), atol=1e-5)


def test_parameterized_sizes_are_min_plus_n_step(tmp_path, image):
    model = brushlab.load_model(
        _blur_package(tmp_path, "param", size={"min": 16, "step": 8}, halo=1)
    )
    seen = _record_blocks(model)
    model.predict(image, tile_shape=(19, 30))
    for shape in seen:
        for s in shape[2:]:
            assert s >= 16 and (s - 16) % 8 == 0
    assert len(seen) > 1


def test_planes_and_frames_of_a_2d_model(tmp_path):
    rng = np.random.default_rng(5)
    stack = (rng.random((2, 3, 20, 24)) * 10).astype(np.float32)  # t, z, y, x
    model = brushlab.load_model(
        _blur_package(tmp_path, "planes", size={"min": 8, "step": 8}, halo=1)
    )
    out = model.predict(brushlab.as_image(stack, dims="tzyx"))["out"]
    assert out.dims == ("channel", "t", "z", "y", "x")
    for t in range(2):
        for z in range(3):
            np.testing.assert_allclose(out.values[0, t, z], box_mean_np(stack[t, z]), atol=1e-5)


def test_a_3d_image_needs_its_dims(tmp_path):
    from brushlab.errors import ImageError

    model = brushlab.load_model(_blur_package(tmp_path, "dims", size={"min": 8, "step": 8}))
    info = model.inputs[0]
    volume = TensorInfo(
        info.id, (*info.axes[:2], AxisInfo("z", "space", min=4, step=4), *info.axes[2:]), info.dtype
    )
    model.inputs = [volume]
    with pytest.raises(ImageError, match="needs 3D images"):
        model.predict(np.zeros((16, 16), np.float32))


def test_plan_rejects_a_border_the_fixed_size_cannot_hold():
    from brushlab.errors import ModelPackageError

    inp = TensorInfo(
        "raw", (AxisInfo("y", "space", size=16), AxisInfo("x", "space", size=16)), "float32"
    )
    with pytest.raises(ModelPackageError, match="smaller border"):
        plan_tiles(inp, [], {"y": 40, "x": 40}, border={"y": 8, "x": 8})
    plans = plan_tiles(inp, [], {"y": 40, "x": 40}, border={"y": 3, "x": 3})
    assert [p.core for p in plans] == [10, 10] and plans[0].starts == (-3, 7, 17, 27)
