"""Write a trained PixelClassifier as a BioImage Model Zoo package (format 0.5, ONNX weights)."""

from __future__ import annotations

import datetime
import hashlib
import os
import shutil
import tempfile
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from brushlab._core.atomic import atomic_path
from brushlab.bioimageio._export_onnx import INPUT_NAME, ONNX_OPSET, OUTPUT_NAME, classifier_to_onnx
from brushlab.errors import ClassifierError

__all__ = ["export_bioimageio"]

FORMAT_VERSION = "0.5.4"
_TEST_SIZE = {"z": 16, "y": 128, "x": 128}
_ABS_TOL = 1e-4
_CITE = [
    {
        "text": "Berg et al. (2019) ilastik: interactive machine learning for (bio)image analysis",
        "doi": "10.1038/s41592-019-0582-9",
    },
    {
        "text": "Pedregosa et al. (2011) Scikit-learn: Machine Learning in Python",
        "url": "https://jmlr.org/papers/v12/pedregosa11a.html",
    },
]


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _crop_center(frame: np.ndarray, dims: Sequence[str], halo: Sequence[int]) -> np.ndarray:
    index = [slice(None)]
    for d, n, h in zip(dims, frame.shape[1:], halo):
        size = min(n, max(_TEST_SIZE[d], 2 * h + 1))  # the model's smallest input at least
        start = (n - size) // 2
        index.append(slice(start, start + size))
    return frame[tuple(index)]


def export_bioimageio(
    clf: Any,
    path: str | os.PathLike[str],
    *,
    sample_image: Any,
    name: str | None = None,
    description: str | None = None,
    authors: Sequence[str] = ("brushlab user",),
    license: str = "CC-BY-4.0",
    tags: Sequence[str] = (),
    spacing: Sequence[float] | None = None,
    overwrite: bool = False,
) -> Path:
    """Write ``clf`` as a Model Zoo package; see :meth:`PixelClassifier.export_bioimageio`."""
    from bioimageio.spec import InvalidDescr, load_description

    from brushlab._version import __version__
    from brushlab.bioimageio._model import load_model
    from brushlab.bioimageio._package import _spec_errors
    from brushlab.io import as_image, check_image, split_frames

    clf._require_trained()
    out = Path(path)
    if out.exists() and not overwrite:
        raise ClassifierError(f"{out} exists: pass overwrite=True or choose another path")
    img = as_image(sample_image)
    check_image(img, where="the sample image")
    frames = split_frames(img)
    clf.check_compatible(frames.n_channels, frames.ndim)
    sp = [float(s) for s in (spacing if spacing is not None else frames.spacing)]
    dims = frames.spatial_dims
    model = classifier_to_onnx(clf, spacing=sp)
    halo = list(clf.features.halo(sp))
    shape = [int(n) for n in np.asarray(frames.arrays[0]).shape[1:]]
    if any(n < 2 * h + 1 for n, h in zip(shape, halo)):
        need = " x ".join(str(2 * h + 1) for h in halo)
        raise ClassifierError(
            f"the sample image is {' x '.join(map(str, shape))} pixels but the exported model "
            f"reads at least {need} (the features' halo is {halo} pixels): pass a larger "
            "sample image (the test tensors are cut from its centre)"
        )
    names = list(clf.class_names or [])
    n_ch = int(clf.n_channels or 1)
    test_in = _crop_center(np.asarray(frames.arrays[0], dtype=np.float32), dims, halo)[None]
    spacing_attr = dict(zip(dims, sp))
    crop_img = as_image(
        test_in[0] if n_ch > 1 else test_in[0, 0], dims=(["c"] if n_ch > 1 else []) + dims
    )
    crop_img = crop_img.transpose(*dims, *(["c"] if n_ch > 1 else []))
    crop_img.attrs["spacing"] = spacing_attr
    reference = clf.predict(crop_img)
    test_out = reference.probabilities.values[None].astype(np.float32)
    parity = _parity(model, test_in, test_out)

    with tempfile.TemporaryDirectory(prefix="brushlab-export-") as tmp:
        root = Path(tmp) / "package"
        root.mkdir()
        (root / "model.onnx").write_bytes(model.SerializeToString())
        np.save(root / "test_input.npy", test_in)
        np.save(root / "test_output.npy", test_out)
        _write_cover(root / "cover.png", test_in[0], reference.segmentation.values, dims)
        (root / "README.md").write_text(
            _readme(clf, name or "brushlab pixel classifier", dims, sp, halo, parity),
            encoding="utf-8",
        )
        rdf = _rdf(
            clf,
            name=name or "brushlab pixel classifier",
            description=description
            or f"{_kind(clf)[0].capitalize()} pixel classifier ({', '.join(names)}) on ilastik's "
            "filter features, exported by brushlab",
            authors=authors,
            license=license,
            tags=tags,
            dims=dims,
            spacing=sp,
            halo=halo,
            root=root,
            version=__version__,
        )
        import yaml

        (root / "bioimageio.yaml").write_text(
            yaml.safe_dump(rdf, sort_keys=False), encoding="utf-8"
        )
        descr = load_description(root / "bioimageio.yaml", perform_io_checks=True)
        if isinstance(descr, InvalidDescr):
            raise ClassifierError(
                f"bioimageio.spec rejects the exported description: {_spec_errors(descr)} "
                "(a brushlab bug: please report it)"
            )
        report = load_model(root).test()
        if not report.passed:
            raise ClassifierError(
                f"the exported ONNX model does not reproduce brushlab's probabilities: {report}"
            )
        _install(root, out, overwrite)
    return out


def _parity(model: Any, test_in: np.ndarray, test_out: np.ndarray) -> dict[str, float]:
    import onnxruntime as ort

    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    got = session.run([OUTPUT_NAME], {INPUT_NAME: test_in})[0]
    diff = np.abs(got.astype(np.float64) - test_out)
    return {
        "max_abs_diff": float(diff.max()),
        "fraction_above_1e-4": float((diff > _ABS_TOL).mean()),
        "pixels": int(np.prod(test_in.shape[2:])),
    }


def _install(root: Path, out: Path, overwrite: bool) -> None:
    """Write the package at ``out`` (a folder, or a ``.zip``) through the one atomic writer."""
    out.parent.mkdir(parents=True, exist_ok=True)
    zipped = out.suffix.lower() == ".zip"
    if out.exists() and overwrite and out.is_dir() == zipped:  # a folder becomes a zip, or back
        if out.is_dir():
            shutil.rmtree(out)
        else:
            out.unlink()
    with atomic_path(out) as temp:
        if zipped:
            with zipfile.ZipFile(temp, "w", compression=zipfile.ZIP_DEFLATED) as zf:
                for f in sorted(root.iterdir()):
                    zf.write(f, f.name)
        else:
            shutil.copytree(root, temp)


def _rdf(
    clf: Any,
    *,
    name: str,
    description: str,
    authors: Sequence[str],
    license: str,
    tags: Sequence[str],
    dims: Sequence[str],
    spacing: Sequence[float],
    halo: Sequence[int],
    root: Path,
    version: str,
) -> dict[str, Any]:
    n_ch = int(clf.n_channels or 1)
    names = [str(n) for n in clf.class_names or []]

    def space_in(d: str, s: float, h: int) -> dict[str, Any]:
        return {"type": "space", "id": d, "size": {"min": 2 * h + 1, "step": 1}, "scale": s}

    def space_out(d: str, s: float, h: int) -> dict[str, Any]:
        axis: dict[str, Any] = {
            "type": "space",
            "id": d,
            "size": {"tensor_id": INPUT_NAME, "axis_id": d},
            "scale": s,
        }
        if h > 0:
            axis["halo"] = h
        return axis

    ch_names = [f"channel{c}" for c in range(n_ch)]
    return {
        "format_version": FORMAT_VERSION,
        "type": "model",
        "name": name,
        "description": description,
        "authors": [{"name": a} for a in authors],
        "cite": _CITE,
        "license": license,
        "documentation": "README.md",
        "covers": ["cover.png"],
        "tags": sorted(
            {
                "pixel-classification",
                _kind(clf)[0].replace(" ", "-"),
                "brushlab",
                "ilastik-features",
                f"{len(dims)}d",
                "onnx",
                *tags,
            }
        ),
        "inputs": [
            {
                "id": INPUT_NAME,
                "description": "raw intensities, as brushlab read them (no normalisation)",
                "axes": [
                    {"type": "batch"},
                    {"type": "channel", "channel_names": ch_names},
                    *[space_in(d, s, h) for d, s, h in zip(dims, spacing, halo)],
                ],
                "test_tensor": {
                    "source": "test_input.npy",
                    "sha256": _sha256(root / "test_input.npy"),
                },
                "data": {"type": "float32"},
            }
        ],
        "outputs": [
            {
                "id": OUTPUT_NAME,
                "description": "class probabilities (summing to one over channels)",
                "axes": [
                    {"type": "batch"},
                    {"type": "channel", "channel_names": names},
                    *[space_out(d, s, h) for d, s, h in zip(dims, spacing, halo)],
                ],
                "test_tensor": {
                    "source": "test_output.npy",
                    "sha256": _sha256(root / "test_output.npy"),
                },
                "data": {"type": "float32", "range": [0.0, 1.0]},
            }
        ],
        "weights": {
            "onnx": {
                "source": "model.onnx",
                "sha256": _sha256(root / "model.onnx"),
                "opset_version": ONNX_OPSET,
            }
        },
        "timestamp": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "config": {
            "bioimageio": {
                "reproducibility_tolerance": [
                    {
                        "absolute_tolerance": _ABS_TOL,
                        "relative_tolerance": 0.0,
                        "mismatched_elements_per_million": 100,
                    }
                ]
            },
            "brushlab": {
                "version": version,
                "kind": "pixel-classifier",
                "class_names": names,
                "features": clf.features.to_dict(),
                "feature_names": clf.feature_names,
                "spacing": [float(s) for s in spacing],
                "halo": [int(h) for h in halo],
                "training": clf.training,
            },
        },
    }


def _write_cover(
    path: Path, raw: np.ndarray, segmentation: np.ndarray, dims: Sequence[str]
) -> None:
    """Image and segmentation side by side, 2:1 as the Model Zoo asks."""
    import imageio.v3 as iio

    plane = raw[0]
    seg = segmentation
    if len(dims) == 3:
        plane, seg = plane[plane.shape[0] // 2], seg[seg.shape[0] // 2]
    side = 256
    rows = (np.arange(side) * plane.shape[0] // side).clip(0, plane.shape[0] - 1)
    cols = (np.arange(side) * plane.shape[1] // side).clip(0, plane.shape[1] - 1)
    plane = plane[np.ix_(rows, cols)].astype(np.float64)
    seg = seg[np.ix_(rows, cols)]
    lo, hi = np.percentile(plane, [1, 99.5])
    grey = (np.clip((plane - lo) / max(hi - lo, 1e-12), 0, 1) * 255).astype(np.uint8)
    palette = np.array(
        [
            [0, 0, 0],
            [230, 159, 0],
            [86, 180, 233],
            [0, 158, 115],
            [240, 228, 66],
            [0, 114, 178],
            [213, 94, 0],
            [204, 121, 167],
        ],
        dtype=np.uint8,
    )
    colour = palette[np.asarray(seg, dtype=np.int64) % len(palette)]
    left = np.repeat(grey[..., None], 3, axis=2)
    iio.imwrite(path, np.concatenate([left, colour], axis=1))


def _readme(
    clf: Any,
    name: str,
    dims: Sequence[str],
    spacing: Sequence[float],
    halo: Sequence[int],
    parity: dict[str, float],
) -> str:
    names = clf.class_names or []
    feats = clf.feature_names
    lines = [
        f"# {name}",
        "",
        f"A {_kind(clf)[0]} pixel classifier trained in brushlab from sparse "
        "scribbles, exported as one ONNX graph: ilastik's filter features (Gaussian smoothing, "
        "Laplacian of Gaussian, Gaussian gradient magnitude, difference of Gaussians, structure "
        "tensor and Hessian eigenvalues) as separable 1D convolutions, then the trees as "
        f"{_kind(clf)[1]}.",
        "",
        "## Input and output",
        "",
        f"- Input `raw`: float32 `(batch, channel, {', '.join(dims)})`, {int(clf.n_channels or 1)} "
        "channel(s) of **raw intensities on the scale the classifier was trained on** (no "
        "normalisation: the features are computed on the values as given).",
        f"- Output `probabilities`: float32 `(batch, class, {', '.join(dims)})`, same size as the "
        f"input, classes: {', '.join(names)}; they sum to one.",
        f"- Pixel spacing the filters assume: {dict(zip(dims, spacing))}.",
        "",
        "## Borders and tiling",
        "",
        "The graph extends the input by symmetric mirroring (the edge pixel repeated, "
        "`numpy.pad(mode='symmetric')`, as brushlab and `scipy.ndimage` 'reflect') with `Gather` "
        "on computed indices, so the whole image in one piece gives brushlab's result everywhere, "
        "borders included. ONNX `Pad(mode='reflect')` would not: it is numpy's 'reflect' "
        "(edge not repeated).",
        f"Each output pixel depends on {dict(zip(dims, halo))} pixels of context per side: the "
        "declared halo. Tiles must overlap by that much; pad the image symmetrically at its "
        "borders to reproduce brushlab exactly.",
        "",
        "## Reproducibility",
        "",
        f"On the test input ({parity['pixels']} pixels) onnxruntime reproduces brushlab's "
        f"probabilities with max abs difference {parity['max_abs_diff']:.2g}; a fraction "
        f"{parity['fraction_above_1e-4']:.2g} of the values differ by more than 1e-4. Split "
        "thresholds are stored as the largest float32 not above the trained float64 threshold, "
        "so a split decides as in training for the same feature value.",
        "",
        "## Features",
        "",
        *[f"- {f}" for f in feats],
        "",
        "## Training",
        "",
        f"{clf.n_trees} trees; {clf.training}",
        "",
        "## Use",
        "",
        "```python",
        "import brushlab",
        "model = brushlab.load_model('this_package')",
        "print(model.test())",
        "result = model.predict(image)   # xarray.Dataset with probabilities, segmentation",
        "```",
        "",
    ]
    return "\n".join(lines)


def _kind(clf: Any) -> tuple[str, str]:
    """Return the model's name and how the ONNX graph computes it (for the README and rdf)."""
    if getattr(clf, "model", None) == "boosted_trees" and clf.estimator is None:
        return "boosted trees", "an ONNX-ML `TreeEnsembleRegressor` (raw scores) and a softmax"
    return "random forest", "an ONNX-ML `TreeEnsembleClassifier`"
