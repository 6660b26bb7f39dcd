"""Microscopes' own files through bioio: CZI written by ZEISS's pylibCZIrw, read back.

ND2 and LIF have no writer on PyPI (nd2 and liffile only read), so for them the
dispatch and the missing-plugin message are tested, not the pixels.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

import brushlab
from brushlab.errors import ImageError
from brushlab.io import open_bioio, scene_names

pyczi = pytest.importorskip("pylibCZIrw.czi", reason="pylibCZIrw writes the test CZI files")
pytest.importorskip("bioio_czi", reason="bioio-czi reads CZI (pip install 'brushlab[formats]')")

T, Z, C = 2, 3, 2
SHAPES = {"A1": (40, 50), "B2": (24, 36)}  # two scenes of different size
CHANNELS = ["DAPI", "GFP"]


def write_czi(path: Path, *, t: int = T, z: int = Z, c: int = C, scales=(0.25, 0.25, 1.5),
              scenes: dict[str, tuple[int, int]] | None = None,
              channels: list[str] | None = None) -> dict[str, np.ndarray]:
    """Write a CZI with ZEISS's own library; return each scene's pixels as (t, z, c, y, x)."""
    scenes = SHAPES if scenes is None else scenes
    names = CHANNELS[:c] if channels is None else channels
    rng = np.random.default_rng(7)
    data = {}
    with pyczi.create_czi(str(path), exist_ok=True) as doc:
        for s, (name, (h, w)) in enumerate(scenes.items()):
            data[name] = rng.integers(0, 4096, (t, z, c, h, w), dtype=np.uint16)
            for ti in range(t):
                for zi in range(z):
                    for ci in range(c):
                        doc.write(data[name][ti, zi, ci][..., None],
                                  plane={"T": ti, "Z": zi, "C": ci}, scene=s,
                                  location=(s * 1000, 0))
        # libCZI's ScalingInfo is in meters, as the CZI format stores it
        x, y, zs = (v * 1e-6 for v in scales)
        doc.write_metadata(document_name="brushlab test", channel_names=dict(enumerate(names)),
                           scale_x=x, scale_y=y, scale_z=zs)
    # Name the scenes as ZEN does (Information/Image/Dimensions/S/Scenes), with ZEISS's editor
    with pyczi.edit_czi(str(path)) as editor, editor.edit_session() as builder:
        xml = builder.get_xml()
        tags = "".join(f'<Scene Index="{i}" Name="{n}"/>' for i, n in enumerate(scenes))
        at = xml.index("</Dimensions>")
        builder.set_xml(xml[:at] + f"<S><Scenes>{tags}</Scenes></S>" + xml[at:])
    return data


@pytest.fixture(scope="module")
def czi(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, np.ndarray]]:
    path = tmp_path_factory.mktemp("czi") / "stack.czi"
    return path, write_czi(path)


def test_czi_pixels_dims_spacing_and_channel_names(czi):
    path, data = czi
    image = brushlab.imread(path)
    assert image.dims == ("t", "z", "y", "x", "c")
    assert image.shape == (T, Z, *SHAPES["A1"], C)
    expected = np.moveaxis(data["A1"], 2, -1)  # (t, z, c, y, x) -> (t, z, y, x, c)
    np.testing.assert_array_equal(image.values, expected)
    assert image.dtype == np.uint16
    assert image.attrs["spacing"] == pytest.approx({"z": 1.5, "y": 0.25, "x": 0.25})
    assert image.attrs["unit"] == "micrometer"
    assert image.attrs["scene"] == "A1"
    assert list(image.coords["c"].values) == CHANNELS
    assert brushlab.io.spacing_of(image) == pytest.approx({"z": 1.5, "y": 0.25, "x": 0.25})


@pytest.mark.parametrize("scene", [1, "B2", -1])
def test_czi_scene_by_index_or_name(czi, scene):
    path, data = czi
    assert scene_names(path) == list(SHAPES)
    image = brushlab.imread(path, scene=scene)
    assert image.attrs["scene"] == "B2"
    assert image.shape == (T, Z, *SHAPES["B2"], C)
    np.testing.assert_array_equal(image.values, np.moveaxis(data["B2"], 2, -1))


def test_missing_scene_lists_the_scenes(czi):
    path, _ = czi
    with pytest.raises(ImageError, match=r"no scene 'C3'.*0: 'A1', 1: 'B2'"):
        brushlab.imread(path, scene="C3")
    with pytest.raises(ImageError, match=r"2 scene\(s\), so scene=5"):
        brushlab.imread(path, scene=5)


def test_a_scene_larger_than_the_budget_is_refused_before_reading(czi):
    path, _ = czi
    with pytest.raises(ImageError, match="open_image|predict_blockwise|budget|memory"):
        brushlab.imread(path, scene=0, max_bytes=100)


def test_singleton_dims_dropped_like_tiff(tmp_path):
    path = tmp_path / "plane.czi"
    data = write_czi(path, t=1, z=1, c=1, scenes={"only": (30, 20)}, channels=["Hoechst"])
    image = brushlab.imread(path)
    assert image.dims == ("y", "x")
    np.testing.assert_array_equal(image.values, data["only"][0, 0, 0])
    assert image.attrs["spacing"] == pytest.approx({"y": 0.25, "x": 0.25})
    assert "c" not in image.coords


def test_open_bioio_is_lazy_and_feeds_open_source(czi):
    import dask.array as da

    from brushlab.io._lazy import open_source

    path, data = czi
    lazy = open_bioio(path, scene="B2")
    assert isinstance(lazy.data, da.Array)
    np.testing.assert_array_equal(lazy.isel(t=1, z=2).values,
                                  np.moveaxis(data["B2"][1, 2], 0, -1))
    src = open_source(path)
    assert isinstance(src.image.data, da.Array) and src.reader is None
    assert src.spatial_shape == (Z, *SHAPES["A1"]) and src.n_frames == T
    assert src.n_channels == C


def test_czi_predicts_blockwise_like_in_memory(czi, tmp_path):
    """A 2D classifier on a CZI's t, z stack: blockwise from the file == in memory."""
    import zarr

    path, _ = czi
    image = brushlab.imread(path)
    labels = np.zeros(SHAPES["A1"], np.uint8)
    labels[5:8, 5:30] = 1
    labels[30:33, 10:40] = 2
    clf = brushlab.PixelClassifier(n_trees=5, random_state=0, n_jobs=1)
    clf.fit(image.isel(t=0, z=1), labels)
    expected = clf.predict(image)
    assert expected.segmentation.dims == ("t", "z", "y", "x")
    out = brushlab.predict_blockwise(clf, path, tmp_path / "out.zarr", chunks=(2, 16, 16),
                                     progress=False)
    root = zarr.open_group(str(out), mode="r")
    np.testing.assert_array_equal(root["labels/segmentation/0"][...],
                                  expected.segmentation.values)
    k = expected.probabilities.sizes["class"]
    np.testing.assert_array_equal(np.moveaxis(root["0"][:, :k], 1, 0),
                                  expected.probabilities.values)


@pytest.mark.parametrize(("suffix", "plugin"), [(".nd2", "bioio-nd2"), (".lif", "bioio-lif"),
                                                  (".czi", "bioio-czi")])
def test_missing_plugin_names_the_pip_install(tmp_path, monkeypatch, suffix, plugin):
    path = tmp_path / f"scan{suffix}"
    path.write_bytes(b"not really")
    module = plugin.replace("-", "_")
    monkeypatch.setitem(sys.modules, module, None)  # what Python does for a missing package
    with pytest.raises(ImageError, match=rf"pip install bioio {plugin}"):
        brushlab.imread(path)


@pytest.mark.parametrize("suffix", [".nd2", ".lif"])
def test_nd2_and_lif_go_to_their_bioio_plugin(tmp_path, suffix):
    pytest.importorskip(f"bioio_{suffix[1:]}")
    path = tmp_path / f"broken{suffix}"
    path.write_bytes(b"\0" * 512)  # no writer for ND2/LIF exists on PyPI: the plugin must refuse
    with pytest.raises(ImageError, match=rf"could not read .*broken{suffix} as "
                                         rf"{'ND2' if suffix == '.nd2' else 'LIF'}"):
        brushlab.imread(path)


def test_scene_on_a_tiff_is_a_clear_error(tmp_path):
    import tifffile

    path = tmp_path / "plain.tif"
    tifffile.imwrite(path, np.zeros((8, 8), np.uint8))
    with pytest.raises(ImageError, match="leave out scene="):
        brushlab.imread(path, scene=1)
    assert brushlab.imread(path).dims == ("y", "x")  # and without scene= nothing changed


def test_annotate_opens_a_czi(czi):
    path, data = czi
    annotator = brushlab.annotate(path, classes=["background", "cell"], live=False)
    try:
        image = annotator.session.images[0]
        assert image.dims == ("t", "z", "y", "x", "c")
        assert image.attrs["spacing"] == pytest.approx({"z": 1.5, "y": 0.25, "x": 0.25})
        np.testing.assert_array_equal(image.values, np.moveaxis(data["A1"], 2, -1))
        assert annotator.view.status().text.startswith("nothing is labelled yet")
    finally:
        annotator.close()
        annotator.session.close()
