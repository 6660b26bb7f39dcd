"""brushlab.align: known transforms applied to real sections, blockwise == in memory, bad input."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np
import pytest

import brushlab
from brushlab.align import (
    SectionTransforms,
    align,
    align_blockwise,
    apply_alignment,
    load_transforms,
)
from brushlab.align._apply import source_coordinates, warp_section
from brushlab.errors import AlignmentError, BrushlabError

from .realdata import shared_data


def isbi_slices(n: int) -> np.ndarray:
    """ISBI 2012 slices 0..n-1 from BRUSHLAB_DATA; skip (or fail when required) if absent."""
    import imageio.v3 as iio

    root = shared_data("isbi2012")  # skips, or fails under BRUSHLAB_REQUIRE_DATA=1
    return np.stack([iio.imread(root / f"image_{i:02d}.png") for i in range(n)])


def camera(size: int = 192) -> np.ndarray:
    from skimage import data

    return np.ascontiguousarray(data.camera()[::2, ::2][:size, :size])


def random_affine(rng: np.random.Generator, shape: tuple[int, int], *, shift: float = 20,
                  degrees: float = 4, shear: float = 0.03, scale: float = 0.02) -> np.ndarray:
    """A pull matrix: rotation, shear and scale about the centre, then a shift."""
    angle = np.deg2rad(rng.uniform(-degrees, degrees))
    rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    lin = rot @ np.array([[1, rng.uniform(-shear, shear)], [0, 1]])
    lin = lin * rng.uniform(1 - scale, 1 + scale)
    centre = (np.array(shape) - 1) / 2
    m = np.eye(3)
    m[:2, :2] = lin
    m[:2, 2] = centre - lin @ centre + rng.uniform(-shift, shift, 2)
    return m


def smooth_warp(rng: np.random.Generator, shape: tuple[int, int], amplitude: float,
                step: int = 32) -> np.ndarray:
    """A smooth random displacement field on nodes ``step`` apart (what the warps read)."""
    from scipy import ndimage as ndi

    ny, nx = (-(-s // step) + 1 for s in shape)
    field = ndi.gaussian_filter(rng.normal(size=(2, ny, nx)), (0, 1.5, 1.5), mode="wrap")
    return (field / np.abs(field).max() * amplitude).astype(np.float32)


def misalign(section: np.ndarray, matrix: np.ndarray, field: np.ndarray | None = None,
             step: int = 32) -> np.ndarray:
    return warp_section(section, matrix, field=field, step=step)


def residual(truth: list[tuple[np.ndarray, np.ndarray | None]], t: SectionTransforms,
             shape: tuple[int, int], margin: float = 0.25) -> np.ndarray:
    """Distances, on a dense grid inside the section, between where each section's pixels
    end up and where the reference's do (in the original section's pixels)."""
    lo = [int(s * margin) for s in shape]
    region = (slice(lo[0], shape[0] - lo[0], 4), slice(lo[1], shape[1] - lo[1], 4))
    grid = (slice(region[0].start, region[0].stop), slice(region[1].start, region[1].stop))

    def original(z: int, matrix: np.ndarray, field: np.ndarray | None) -> np.ndarray:
        # output pixel -> misaligned-section pixel (the alignment) -> original pixel (truth)
        yx = source_coordinates(matrix, grid, field, t.step)[:, ::4, ::4]
        g, e = truth[z]
        if e is not None:
            from scipy import ndimage as ndi

            node = yx / 32
            yx = yx + np.stack([ndi.map_coordinates(e[k].astype(np.float64), node, order=1,
                                                    mode="nearest") for k in range(2)])
        return np.einsum("ij,jyx->iyx", g[:2, :2], yx) + g[:2, 2, None, None]

    ref = t.reference
    ident = np.eye(3)
    target = original(ref, ident, None)
    out = []
    for z in range(t.n_sections):
        if z == ref:
            continue
        fz = t.fields[z] if t.fields is not None else None
        out.append(np.linalg.norm(original(z, t.matrices[z], fz) - target, axis=0).ravel())
    return np.concatenate(out)


# -- accuracy against known transforms ----------------------------------------------------


@pytest.mark.parametrize("model", ["translation", "rigid", "affine"])
def test_known_transforms_on_real_sections(model):
    """One ISBI slice under known transforms per section: every transform recovered."""
    rng = np.random.default_rng(1)
    section = isbi_slices(1)[0, :256, :256]
    kw = {"translation": dict(degrees=0, shear=0, scale=0), "rigid": dict(shear=0, scale=0),
          "affine": {}}[model]
    truth = [(np.eye(3), None)] + [(random_affine(rng, section.shape, **kw), None)
                                   for _ in range(4)]
    stack = np.stack([misalign(section, g) for g, _ in truth])
    result = align(stack, model=model)
    err = residual(truth, result.transforms, section.shape)
    assert np.median(err) < 0.1 and np.percentile(err, 95) < 0.3, (np.median(err), err.max())
    assert result.damaged == []
    plain = residual(truth, align(stack, model="translation").transforms, section.shape)
    if model != "translation":  # the model matters: a shift alone leaves pixels off
        assert np.percentile(plain, 95) > 1.0


def test_elastic_refines_what_affine_leaves():
    rng = np.random.default_rng(2)
    section = isbi_slices(1)[0, :256, :256]
    truth = [(np.eye(3), None)] + [(random_affine(rng, section.shape),
                                    smooth_warp(rng, section.shape, 4.0)) for _ in range(3)]
    stack = np.stack([misalign(section, g, e) for g, e in truth])
    affine = residual(truth, align(stack, model="affine").transforms, section.shape)
    elastic = align(stack, model="elastic", step=32, stiffness=0.0)
    err = residual(truth, elastic.transforms, section.shape)
    assert np.percentile(affine, 95) > 1.5
    assert np.percentile(err, 95) < 0.5 * np.percentile(affine, 95), (
        np.percentile(err, 95), np.percentile(affine, 95))
    assert elastic.transforms.fields is not None


def test_consecutive_sections_and_reference_stays():
    """Real neighbouring sections: the reference does not move; the others land near
    where aligning the never-misaligned stack puts them (anatomy differs section to section)."""
    rng = np.random.default_rng(3)
    slices = isbi_slices(4)[:, :256, :256]
    truth = [(random_affine(rng, (256, 256), shift=15), None) for _ in range(4)]
    stack = np.stack([misalign(s, g) for s, (g, _) in zip(slices, truth)])
    result = align(stack, model="affine", reference=1)
    np.testing.assert_allclose(result.transforms.matrices[1], np.eye(3), atol=1e-9)
    np.testing.assert_array_equal(result.image.values[1], stack[1])
    base = align(slices, model="affine", reference=1).transforms
    # the alignment of the never-misaligned stack, expressed through the truth
    expected = [np.linalg.inv(g) @ truth[1][0] @ m for (g, _), m in zip(truth, base.matrices)]
    shape = (256, 256)
    ys, xs = np.mgrid[64:192:8, 64:192:8]
    pts = np.stack([ys.ravel(), xs.ravel(), np.ones(ys.size)])
    for z in (0, 2, 3):
        gap = np.linalg.norm((result.transforms.matrices[z] @ pts - expected[z] @ pts)[:2], axis=0)
        assert np.median(gap) < 5.0, (z, np.median(gap))  # the misalignment was up to 15
    assert result.image.shape == stack.shape and shape == stack.shape[1:]


# -- the data model -----------------------------------------------------------------------


def test_image_keeps_dims_spacing_and_dtype():
    import xarray as xr

    section = camera(128)
    stack = np.stack([section, np.roll(section, (3, 2), (0, 1)), section])
    image = xr.DataArray(np.stack([stack, stack // 2], axis=-1), dims=("z", "y", "x", "c"),
                         coords={"z": [0.0, 50.0, 100.0]},
                         attrs={"spacing": {"z": 50.0, "y": 4.0, "x": 4.0}, "unit": "nm"})
    result = brushlab.align(image, model="translation")
    out = result.image
    assert out.dims == ("z", "y", "x", "c") and out.dtype == np.uint8
    assert out.attrs["spacing"] == {"z": 50.0, "y": 4.0, "x": 4.0}
    assert out.attrs["unit"] == brushlab.as_image(image).attrs["unit"] == "nanometer"
    np.testing.assert_array_equal(out["z"].values, [0.0, 50.0, 100.0])
    np.testing.assert_allclose(result.transforms.matrices[1][:2, 2], [3, 2], atol=0.05)


def test_apply_alignment_to_labels_and_saved_transforms(tmp_path):
    section = camera(128)
    stack = np.stack([section, np.roll(section, (5, -4), (0, 1))])
    result = align(stack, model="translation")
    labels = (stack // 64).astype(np.uint16) + 1  # values 1..4
    path = result.transforms.save(tmp_path / "stack.align.npz")
    moved = apply_alignment(labels, path, order=0)
    assert moved.dtype == np.uint16
    assert set(np.unique(moved.values)) <= {0, 1, 2, 3, 4}
    inner = (slice(10, -10), slice(10, -10))
    np.testing.assert_array_equal(moved.values[1][inner], labels[0][inner])
    again = apply_alignment(stack, load_transforms(path))
    np.testing.assert_array_equal(again.values, result.image.values)


def test_transform_file_checks(tmp_path):
    t = SectionTransforms(np.stack([np.eye(3)] * 2), (8, 8), 0, "affine", ("reference", "ok"))
    good = t.save(tmp_path / "t.npz")
    with zipfile.ZipFile(good) as zf:
        members = {n: zf.read(n) for n in zf.namelist()}
    meta = json.loads(members["alignment.json"])

    def rewrite(name: str, doc: dict | None = None, drop: str | None = None) -> Path:
        path = tmp_path / name
        with zipfile.ZipFile(path, "w") as zf:
            for member, data in members.items():
                if member == drop:
                    continue
                zf.writestr(member, json.dumps(doc) if doc and member == "alignment.json"
                            else data)
        return path

    with pytest.raises(AlignmentError, match="newer brushlab"):
        load_transforms(rewrite("newer.npz", {**meta, "format_version": 99}))
    with pytest.raises(AlignmentError, match="not a brushlab alignment"):
        load_transforms(rewrite("foreign.npz", {**meta, "format": "other"}))
    with pytest.raises(AlignmentError, match="no matrices"):
        load_transforms(rewrite("partial.npz", drop="matrices.npy"))
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(AlignmentError, match="not a readable"):
        load_transforms(tmp_path / "junk.npz")
    with pytest.raises(AlignmentError, match="no transform file"):
        load_transforms(tmp_path / "missing.npz")
    bad = np.stack([np.eye(3)] * 2)
    bad[1, 0, 2] = np.nan
    with pytest.raises(AlignmentError, match="finite"):
        SectionTransforms(bad, (8, 8), 0, "affine", ("reference", "ok"))
    with pytest.raises(AlignmentError, match="transforms are for 2 sections"):
        apply_alignment(np.zeros((3, 8, 8)), t)
    # nothing half-written: a failed save leaves the old file as it was
    before = good.read_bytes()
    with pytest.raises(TypeError):
        SectionTransforms(np.stack([np.eye(3)] * 2), (8, 8), 0, "affine", ("reference", "ok"),
                          info={"x": object()}).save(good)
    assert good.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []


# -- bad input ----------------------------------------------------------------------------


def test_bad_inputs_are_refused_clearly():
    with pytest.raises(AlignmentError, match="at least 2 sections"):
        align(camera(64))
    ragged = [camera(64), camera(64)[:60, :50]]
    with pytest.raises(AlignmentError, match="pad=True"):
        align(ragged)
    padded = align(ragged, pad=True, model="translation")
    assert padded.image.shape == (2, 64, 64)
    with pytest.raises(AlignmentError, match="model"):
        align(np.stack([camera(64)] * 2), model="bspline")
    with pytest.raises(AlignmentError, match="reference=5"):
        align(np.stack([camera(64)] * 2), reference=5)
    with pytest.raises(AlignmentError, match="order"):
        apply_alignment(np.zeros((2, 8, 8)), SectionTransforms(
            np.stack([np.eye(3)] * 2), (8, 8), 0, "affine", ("reference", "ok")), order=3)


@pytest.mark.parametrize("damage", ["blank", "noise"])
def test_damaged_section_is_reported_and_interpolated(damage):
    rng = np.random.default_rng(4)
    section = camera(160)
    shifts = [(0, 0), (3, -2), (6, -4), (9, -6), (12, -8)]
    stack = np.stack([np.roll(section, s, (0, 1)) for s in shifts])
    stack[2] = 0 if damage == "blank" else rng.integers(0, 255, stack[2].shape)
    result = align(stack, model="translation")
    assert result.damaged == [2]
    assert result.transforms.status[2] == "interpolated"
    m = result.transforms.matrices
    np.testing.assert_allclose(m[2][:2, 2], (m[1][:2, 2] + m[3][:2, 2]) / 2, atol=1e-6)
    for z in (1, 3, 4):  # the sections beyond it are still registered
        np.testing.assert_allclose(m[z][:2, 2], shifts[z], atol=0.1)


# -- blockwise ----------------------------------------------------------------------------


def test_blockwise_equals_in_memory_and_resumes(tmp_path, monkeypatch):
    from brushlab.align import _blockwise

    rng = np.random.default_rng(5)
    section = camera(160)
    truth = [np.eye(3)] + [random_affine(rng, section.shape, shift=8) for _ in range(4)]
    stack = np.stack([misalign(section, g) for g in truth])
    tif = tmp_path / "stack.tif"
    import tifffile

    tifffile.imwrite(tif, stack, photometric="minisblack")
    memory = align(stack, model="elastic", step=32)
    out = tmp_path / "aligned.ome.zarr"
    calls = {"n": 0}
    original = _blockwise._write_slab

    def flaky(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            raise RuntimeError("killed")
        return original(*args, **kwargs)

    monkeypatch.setattr(_blockwise, "_write_slab", flaky)
    with pytest.raises(RuntimeError, match="killed"):
        align_blockwise(str(tif), out, model="elastic", step=32, chunks=(2, 64, 64), dims="zyx",
                        n_workers=1, progress=False)
    status = json.loads((out / "zarr.json").read_text())["attributes"]["brushlab"]
    assert status["status"] == "incomplete" and "ome" not in json.loads(
        (out / "zarr.json").read_text())["attributes"]
    monkeypatch.setattr(_blockwise, "_write_slab", original)
    done = align_blockwise(str(tif), out, model="elastic", step=32, chunks=(2, 64, 64),
                           dims="zyx", n_workers=1, progress=False)
    assert isinstance(done, _blockwise.AlignOutput)
    assert done.slabs_total == 3 and done.slabs_computed == 2  # one slab was already written
    written = brushlab.imread(out)
    assert written.dims == ("z", "y", "x") and written.dtype == stack.dtype
    np.testing.assert_array_equal(written.values, memory.image.values)
    np.testing.assert_array_equal(done.transforms.matrices, memory.transforms.matrices)
    with pytest.raises(BrushlabError, match="other arguments"):
        align_blockwise(str(tif), out, model="affine", chunks=(2, 64, 64), dims="zyx",
                        progress=False)
    estimate = align_blockwise(str(tif), tmp_path / "never.ome.zarr", dims="zyx",
                               estimate=True)
    assert estimate.pairs == 7 and estimate.wall_seconds > 0  # type: ignore[union-attr]
    assert not (tmp_path / "never.ome.zarr").exists()


def test_cli_align(tmp_path, capsys):
    import tifffile

    from brushlab.cli import main

    section = camera(128)
    stack = np.stack([np.roll(section, (2 * z, -z), (0, 1)) for z in range(3)])
    tifffile.imwrite(tmp_path / "s.tif", stack, photometric="minisblack")
    out = tmp_path / "a.ome.zarr"
    code = main(["align", str(tmp_path / "s.tif"), "--dims", "zyx", "-o", str(out),
                 "--model", "translation", "--chunks", "64", "-q",
                 "--transforms", str(tmp_path / "t.npz")])
    assert code == 0
    t = load_transforms(tmp_path / "t.npz")
    np.testing.assert_allclose(t.matrices[2][:2, 2], [4, -2], atol=0.05)
    assert main(["align", str(tmp_path / "s.tif"), "-o", str(tmp_path / "b.ome.zarr")]) == 1
    assert "dims" in capsys.readouterr().err


def test_guide_classifier_registers_on_its_probability():
    section = camera(128).astype(np.float32)
    labels = np.zeros(section.shape, np.uint8)
    labels[section < 60] = 1
    labels[section > 160] = 2
    sparse = np.where(np.random.default_rng(0).random(section.shape) < 0.05, labels, 0)
    clf = brushlab.PixelClassifier(brushlab.FeatureSet({"gaussian_smoothing": [1.0, 3.0]}),
                                   n_trees=10, random_state=0).fit(section, sparse,
                                                                   class_names=["dark", "light"])
    stack = np.stack([section, np.roll(section, (4, 3), (0, 1))])
    result = align(stack, model="translation", guide=clf, guide_class="dark")
    np.testing.assert_allclose(result.transforms.matrices[1][:2, 2], [4, 3], atol=0.2)
    with pytest.raises(AlignmentError, match="guide_class"):
        align(stack, guide=clf, guide_class="membrane")
