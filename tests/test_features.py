"""Each feature family against a straightforward scipy.ndimage definition."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage as ndi

from brushlab._core.tiling import read_with_halo
from brushlab.errors import FeatureError
from brushlab.features import ILASTIK_SCALES, FeatureSet

PAD = 80  # the reference filters a mirrored image and crops: the same boundary as tiles


def _ref_features(img: np.ndarray, family: str, s: float, sigmas=None, ratios=None) -> list:
    """Reference: scipy on the mirror-padded image (float64), cropped back."""
    nd = img.ndim
    x = np.pad(img.astype(np.float64), PAD, mode="symmetric")
    sig = sigmas if sigmas is not None else [s] * nd
    rat = ratios if ratios is not None else [1.0] * nd

    def deriv(order):
        scale = np.prod([r**o for r, o in zip(rat, order)])
        return ndi.gaussian_filter(x, sig, order=order) * scale

    def unit(a, k=1):
        return tuple(k if i == a else 0 for i in range(nd))

    crop = tuple(slice(PAD, -PAD) for _ in range(nd))
    if family == "gaussian_smoothing":
        out = [ndi.gaussian_filter(x, sig)]
    elif family == "laplacian_of_gaussian":
        out = [sum(deriv(unit(a, 2)) for a in range(nd))]
    elif family == "gaussian_gradient_magnitude":
        out = [np.sqrt(sum(deriv(unit(a)) ** 2 for a in range(nd)))]
    elif family == "difference_of_gaussians":
        out = [ndi.gaussian_filter(x, sig) - ndi.gaussian_filter(x, [0.66 * v for v in sig])]
    elif family == "structure_tensor_eigenvalues":
        g = [deriv(unit(a)) for a in range(nd)]
        m = np.empty(x.shape + (nd, nd))
        for i in range(nd):
            for j in range(nd):
                m[..., i, j] = ndi.gaussian_filter(g[i] * g[j], [0.5 * v for v in sig])
        out = list(np.moveaxis(np.linalg.eigvalsh(m)[..., ::-1], -1, 0))
    else:
        m = np.empty(x.shape + (nd, nd))
        for i in range(nd):
            for j in range(nd):
                m[..., i, j] = deriv(tuple(int(a == i) + int(a == j) for a in range(nd)))
        out = list(np.moveaxis(np.linalg.eigvalsh(m)[..., ::-1], -1, 0))
    return [o[crop] for o in out]


def _check_against_reference(img, fs, computed, **kw):
    names = fs.names(ndim=img.ndim)
    i = 0
    for family, sigmas in fs.selection.items():
        for s in sigmas:
            for ref in _ref_features(img, family, s, **kw):
                got = np.asarray(computed[..., i])
                scale = np.abs(ref).max() + 1e-12
                err = np.abs(got - ref).max() / scale
                assert err < 2e-5, f"{names[i]}: relative error {err:.2e}"
                i += 1
    assert i == computed.shape[-1]


def test_all_has_49_channels_in_2d():
    fs = FeatureSet.all()
    assert fs.n_features(ndim=2) == 49
    assert len(fs.names(ndim=2)) == 49
    assert fs.n_features(ndim=3) == 61  # 7 smoothing, 3 x 6 scalar, 2 x 6 x 3 eigenvalues


@pytest.mark.parametrize(
    "family",
    [
        "gaussian_smoothing",
        "laplacian_of_gaussian",
        "gaussian_gradient_magnitude",
        "difference_of_gaussians",
        "structure_tensor_eigenvalues",
        "hessian_of_gaussian_eigenvalues",
    ],
)
def test_family_matches_reference_2d(family, smooth_image):
    scales = [0.7, 1.6, 5.0] + ([0.3] if family == "gaussian_smoothing" else [])
    fs = FeatureSet({family: scales})
    computed = fs.compute(smooth_image).values
    _check_against_reference(smooth_image, fs, computed)


def test_all_families_3d(rng):
    img = (ndi.gaussian_filter(rng.random((18, 22, 20)), 1.5) * 100).astype(np.float32)
    fs = FeatureSet.all(scales=(0.7, 1.6))
    computed = fs.compute(img).values
    assert computed.shape == (18, 22, 20, fs.n_features(ndim=3))
    _check_against_reference(img, fs, computed)


def test_anisotropic_spacing_shrinks_sigma_along_coarse_axis(rng):
    import xarray as xr

    img = (ndi.gaussian_filter(rng.random((16, 30, 30)), 1.5) * 100).astype(np.float32)
    da = xr.DataArray(img, dims=("z", "y", "x"), attrs={"spacing": {"z": 2.0, "y": 1.0, "x": 1.0}})
    fs = FeatureSet({"gaussian_gradient_magnitude": [1.6], "hessian": [1.6]})
    computed = fs.compute(da).values
    _check_against_reference(img, fs, computed, sigmas=[0.8, 1.6, 1.6], ratios=[0.5, 1.0, 1.0])


def test_compute_in_2d_filters_each_slice(rng):
    img = (ndi.gaussian_filter(rng.random((5, 30, 30)), 1.5) * 100).astype(np.float32)
    fs = FeatureSet({"gaussian_smoothing": [1.0], "hessian": [1.0]}, compute_in_2d=True)
    computed = fs.compute(img).values
    assert computed.shape[-1] == 3  # smoothing + 2 eigenvalues per slice
    fs2d = FeatureSet({"gaussian_smoothing": [1.0], "hessian": [1.0]})
    for z in range(5):
        np.testing.assert_allclose(computed[z], fs2d.compute(img[z]).values, rtol=0, atol=1e-4)


def test_tiled_features_equal_untiled(smooth_image):
    fs = FeatureSet.all()
    whole = fs.compute(smooth_image, tile_shape=smooth_image.shape).values
    tiled = fs.compute(smooth_image, tile_shape=(32, 25)).values
    np.testing.assert_array_equal(whole, tiled)


def test_default_tiles_on_threads_equal_one_tile(rng):
    """The default (tiled, one thread per core) equals one untiled call, bit for bit."""
    image = rng.random((300, 530)).astype(np.float32)
    fs = FeatureSet.all()
    whole = fs.compute(image, tile_shape=image.shape).values
    np.testing.assert_array_equal(fs.compute(image).values, whole)


def test_multichannel_features_per_channel(smooth_image):
    from brushlab.io._image import as_image

    img = as_image(np.stack([smooth_image, smooth_image[::-1].copy()], axis=-1), dims="yxc")
    fs = FeatureSet({"gaussian_smoothing": [1.0], "dog": [1.6]})
    out = fs.compute(img)
    assert out.sizes["feature"] == 4
    assert out.feature.values[2].endswith("[c1]")
    np.testing.assert_array_equal(out.values[..., :2], fs.compute(smooth_image).values)


def test_halo_grows_with_scale_and_structure_tensor():
    small = FeatureSet({"gaussian_smoothing": [1.0]}).halo([1, 1])
    large = FeatureSet({"gaussian_smoothing": [10.0]}).halo([1, 1])
    st = FeatureSet({"structure_tensor_eigenvalues": [10.0]}).halo([1, 1])
    assert small == (4, 4) and large == (40, 40) and st == (60, 60)
    assert FeatureSet({"gaussian_smoothing": [2.0]}).halo([2.0, 1.0, 1.0]) == (4, 8, 8)


def test_small_image_smaller_than_halo(rng):
    img = rng.random((7, 9)).astype(np.float32)
    fs = FeatureSet({"gaussian_smoothing": [5.0]})
    _check_against_reference(img, fs, fs.compute(img).values)


def test_user_scales_and_readable_names():
    fs = FeatureSet({"gaussian_smoothing": [2.5], "st": [2.5]})
    assert fs.names(ndim=2) == [
        "Gaussian smoothing (σ=2.5)",
        "Structure tensor eigenvalues (σ=2.5) e0",
        "Structure tensor eigenvalues (σ=2.5) e1",
    ]
    assert FeatureSet.from_dict(fs.to_dict()) == fs


def test_default_preset_is_what_its_docstring_says():
    """The docstring's figures (families, scales, channel counts) are checked, not its presence."""
    import re

    default = FeatureSet.default()
    doc = " ".join((FeatureSet.default.__doc__ or "").split())
    claim = re.search(r"(\w+) families at its (\w+) scales, ([\d.]+) to ([\d.]+)", doc)
    assert claim, f"FeatureSet.default's docstring no longer states its scales: {doc!r}"
    words = {"six": 6, "five": 5, "seven": 7}
    selection = default.selection
    assert len(selection) == words[claim.group(1)]
    assert len(default.scales) == words[claim.group(2)]
    assert (default.scales[0], default.scales[-1]) == (float(claim.group(3)), float(claim.group(4)))
    assert default.scales == tuple(sorted(ILASTIK_SCALES))  # "ilastik's seven scales"
    channels = re.search(r"(\d+) channels in 2D", doc)
    assert channels and len(default.names(ndim=2)) == int(channels.group(1))
    before = re.search(r"the (\d+)-channel set", doc)
    old = FeatureSet.all(scales=(0.3, 0.7, 1.0, 1.6, 3.5, 5.0))
    assert before and len(old.names(ndim=2)) == int(before.group(1))


@pytest.mark.parametrize(
    "bad",
    [
        {"sobel": [1.0]},
        {"gaussian_smoothing": [-1.0]},
        {"gaussian_smoothing": [float("nan")]},
        {"hessian": [0.3]},
        {},
    ],
)
def test_bad_selection_raises_feature_error(bad):
    with pytest.raises(FeatureError):
        FeatureSet(bad)


def test_read_with_halo_mirrors_like_numpy_pad(rng):
    img = rng.random((10, 12))
    block = read_with_halo(img, (slice(0, 4), slice(8, 12)), (3, 3))
    expected = np.pad(img, 3, mode="symmetric")[0:10, 8:18]
    np.testing.assert_array_equal(block, expected)


@pytest.mark.gpu
def test_cupy_matches_numpy(smooth_image):
    import cupy

    fs = FeatureSet.all()
    cpu = fs.compute(smooth_image).values
    gpu = fs.compute(cupy.asarray(smooth_image)).data
    assert isinstance(gpu, cupy.ndarray)
    scale = np.abs(cpu).max(axis=(0, 1)) + 1e-6
    assert (np.abs(gpu.get() - cpu).max(axis=(0, 1)) / scale).max() < 1e-4
