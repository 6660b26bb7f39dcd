"""``align`` and ``apply_alignment``: a stack of sections in memory, xarray in and out."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import xarray as xr

from brushlab.align._apply import warp_section
from brushlab.align._estimate import AlignOptions, SectionSource, estimate_transforms
from brushlab.align._runners import make_runner
from brushlab.align._transforms import SectionTransforms, load_transforms
from brushlab.errors import AlignmentError

__all__ = ["align", "apply_alignment", "AlignmentResult", "as_stack"]


@dataclass(frozen=True)
class AlignmentResult:
    """An aligned stack and the transforms that made it.

    Attributes
    ----------
    image : xarray.DataArray
        The aligned stack: the input's dims, coords, spacing and dtype.
    transforms : SectionTransforms
        One transform per section (save with ``transforms.save(path)``).
    """

    image: xr.DataArray
    transforms: SectionTransforms

    @property
    def damaged(self) -> list[int]:
        """Sections whose transform was interpolated (damaged, blank or unmatched)."""
        return self.transforms.damaged


def as_stack(stack: Any, *, pad: bool = False) -> xr.DataArray:
    """Turn ``stack`` into a brushlab image with a ``z`` axis of sections, checking its shape.

    A list of 2D sections of different sizes is refused unless ``pad=True``, which pads
    each at its bottom and right with 0 to the largest size.
    """
    from brushlab.io import as_image

    if isinstance(stack, (list, tuple)) and stack and not isinstance(stack[0], (int, float)):
        sections = [np.asarray(s) for s in stack]
        shapes = {s.shape for s in sections}
        if any(s.ndim != 2 for s in sections):
            raise AlignmentError("a list of sections must hold 2D (y, x) arrays; stack "
                                 "multichannel sections into one (z, y, x, c) array instead")
        if len(shapes) > 1:
            if not pad:
                raise AlignmentError(
                    f"the sections have different sizes {sorted(shapes)}; pass pad=True to "
                    "pad them (bottom and right, with 0) to the largest, or crop them alike")
            h = max(s[0] for s in shapes)
            w = max(s[1] for s in shapes)
            sections = [np.pad(s, ((0, h - s.shape[0]), (0, w - s.shape[1])))
                        for s in sections]
        stack = np.stack(sections)
        image = as_image(stack, dims="zyx")
    else:
        image = as_image(stack)
    if "t" in image.dims:
        if image.sizes["t"] != 1:
            raise AlignmentError(f"the stack has {image.sizes['t']} time points; align one at a "
                                 "time, e.g. align(image.isel(t=0))")
        image = image.isel(t=0)
    if "z" not in image.dims or image.sizes["z"] < 2:
        raise AlignmentError(
            f"align needs a stack of at least 2 sections (dims z, y, x), got dims "
            f"{image.dims} with shape {image.shape}; pass dims='zyx' if the first axis holds "
            "the sections, or use a 3D array")
    if image.dtype.kind not in "biuf":
        raise AlignmentError(f"the stack has dtype {image.dtype}; alignment needs numeric pixels")
    return image


def _sections(image: xr.DataArray) -> np.ndarray:
    """``(Z, C, H, W)`` numpy view of the stack."""
    order = ["z", *(["c"] if "c" in image.dims else []), "y", "x"]
    data = np.asarray(image.transpose(*order).values)
    return data if "c" in image.dims else data[:, None]


def _rebuild(image: xr.DataArray, sections: np.ndarray) -> xr.DataArray:
    order = ["z", *(["c"] if "c" in image.dims else []), "y", "x"]
    data = sections if "c" in image.dims else sections[:, 0]
    out = xr.DataArray(data, dims=order, coords=image.coords, attrs=dict(image.attrs))
    return out.transpose(*image.dims)


def align(stack: Any, *, model: str = "affine", reference: int = 0, guide: Any = None,
          guide_class: int | str | None = None, neighbors: int = 2, method: str = "blocks",
          step: int = 64, stiffness: float = 0.05, drift: float = 0.0, order: int = 1,
          pad: bool = False,
          n_workers: int | None = None, progress: bool | None = False) -> AlignmentResult:
    """Align the sections of a stack to each other, in the frame of a reference section.

    Each section is registered to its ``neighbors`` predecessors by block matching
    (cross-correlation of patches, coarse to fine, robust model fit); the pairs are
    chained by least squares to the ``reference`` section, which stays where it is.
    Sections without a trustworthy match (damaged, blank) get a transform interpolated
    from their neighbours and are listed in ``result.damaged``.

    Parameters
    ----------
    stack : array-like, xarray.DataArray, path or list of 2D arrays
        Sections along ``z`` (``z, y, x``, any channels; see :func:`brushlab.as_image`).
    model : {"affine", "translation", "rigid", "elastic"}
        ``elastic`` adds a smooth displacement field per section to the affine one.
    reference : int, default 0
        The section that does not move.
    guide : PixelClassifier, optional
        Register on this 2D classifier's probability of ``guide_class`` (e.g. membrane)
        instead of raw intensity: steadier across staining changes.
    guide_class : int or str, optional
        Class name or 0-based index for ``guide`` (default: ``"membrane"`` if it is a
        class, else the first class).
    neighbors : int, default 2
        Predecessors each section is matched to; 2 or more bridges a damaged section
        and averages pairwise errors (drift control).
    method : {"blocks", "features"}
        Block matching, or SIFT features with RANSAC (falls back to blocks).
    step : int, default 64
        Node spacing in pixels of the elastic fields.
    stiffness : float, default 0.05
        Pull of the elastic fields towards the affine solution along the chain.
    drift : float, default 0
        Pull of every section's scale and shear towards none, against the scale and
        shear that neighbouring sections' anatomy adds up along a long chain (try 1).
    order : {1, 0}
        Interpolation of the aligned image: 1 linear, 0 nearest (labels).
    pad : bool, default False
        Pad a list of sections of different sizes instead of refusing it.
    n_workers : int, optional
        Threads (default: all cores).
    progress : bool, optional
        Show progress bars.

    Returns
    -------
    AlignmentResult
        ``.image`` (the aligned stack) and ``.transforms``.

    Raises
    ------
    AlignmentError
        For a 2D image, ragged sections without ``pad=True``, a bad reference or option.

    Examples
    --------
    >>> import numpy as np
    >>> from scipy import ndimage as ndi
    >>> from skimage import data
    >>> section = data.camera()[::2, ::2]
    >>> stack = np.stack([section, ndi.shift(section, (4, -6), order=1)])
    >>> result = align(stack, model="translation")
    >>> np.round(result.transforms.matrices[1][:2, 2], 1)
    array([ 4., -6.])
    >>> result.image.dims
    ('z', 'y', 'x')
    """
    image = as_stack(stack, pad=pad)
    options = AlignOptions(model=model, reference=int(reference), neighbors=int(neighbors),
                           method=method, step=int(step), stiffness=float(stiffness),
                           drift=float(drift),
                           guide=guide, guide_class=_guide_index(guide, guide_class))
    data = _sections(image)
    if guide is not None and data.shape[1] != getattr(guide, "n_channels", data.shape[1]):
        raise AlignmentError(f"the guide classifier was trained on {guide.n_channels} channel(s) "
                             f"but the stack has {data.shape[1]}")
    source = SectionSource(data.__getitem__, len(data), tuple(data.shape[2:]), options)  # type: ignore[arg-type]
    runner = make_runner(None, n_workers, progress)
    transforms = estimate_transforms(source, runner)
    return AlignmentResult(_apply(image, transforms, order=order), transforms)


def _guide_index(guide: Any, guide_class: int | str | None) -> int:
    if guide is None:
        return 0
    names = list(getattr(guide, "class_names", None) or [])
    if not names or not getattr(guide, "is_trained", False):
        raise AlignmentError("guide must be a trained brushlab.PixelClassifier")
    if getattr(guide, "spatial_ndim", 2) != 2:
        raise AlignmentError("guide must be a 2D classifier (trained on sections); it is "
                             f"{guide.spatial_ndim}D")
    if guide_class is None:
        return names.index("membrane") if "membrane" in names else 0
    if isinstance(guide_class, str):
        if guide_class not in names:
            raise AlignmentError(f"guide_class {guide_class!r} is not a class of the guide "
                                 f"({names})")
        return names.index(guide_class)
    if not 0 <= int(guide_class) < len(names):
        raise AlignmentError(f"guide_class {guide_class} is not in 0..{len(names) - 1}")
    return int(guide_class)


def _apply(image: xr.DataArray, transforms: SectionTransforms, *, order: int,
           fill: float = 0) -> xr.DataArray:
    data = _sections(image)
    if len(data) != transforms.n_sections or tuple(data.shape[2:]) != tuple(transforms.shape):
        raise AlignmentError(
            f"the transforms are for {transforms.n_sections} sections of "
            f"{tuple(transforms.shape)}, but this stack has {len(data)} of "
            f"{tuple(data.shape[2:])}; apply them to a stack of the aligned shape")
    out = np.empty_like(data)
    for z in range(len(data)):
        out[z] = apply_section(data[z], transforms, z, order=order, fill=fill)
    aligned = _rebuild(image, out)
    aligned.attrs["alignment"] = {"model": transforms.model, "reference": transforms.reference,
                                  "damaged": transforms.damaged}
    return aligned


def apply_section(section: np.ndarray, transforms: SectionTransforms, z: int, *,
                  order: int = 1, fill: float = 0) -> np.ndarray:
    """Warp section ``z`` (``(C, H, W)`` or ``(H, W)``) with its transform."""
    field = transforms.fields[z] if transforms.fields is not None else None
    return warp_section(section, transforms.matrices[z], field=field, step=transforms.step,
                        order=order, fill=fill)


def apply_alignment(stack: Any, transforms: SectionTransforms | Any, *, order: int | None = None,
                    fill: float = 0) -> xr.DataArray:
    """Warp a stack with transforms found by :func:`align` (another channel, labels, ...).

    Parameters
    ----------
    stack : array-like or xarray.DataArray
        Sections of the shape the transforms were found on.
    transforms : SectionTransforms or path
        From ``align(...).transforms``, or a file saved from them.
    order : {0, 1}, optional
        0 nearest neighbour (labels keep their values), 1 linear. Default: 0 for a
        boolean stack, else 1; pass ``order=0`` for label images.
    fill : float, default 0
        Value of pixels that fall outside their section.

    Returns
    -------
    xarray.DataArray
        The warped stack with the input's dims, coords and attrs.

    Examples
    --------
    >>> import numpy as np
    >>> from scipy import ndimage as ndi
    >>> from skimage import data
    >>> section = data.camera()[::2, ::2]
    >>> stack = np.stack([section, ndi.shift(section, (3, 2), order=1)])
    >>> result = align(stack, model="translation")
    >>> labels = (stack > 128).astype(np.uint8)
    >>> moved = apply_alignment(labels, result.transforms, order=0)
    >>> moved.dtype, sorted(np.unique(moved.values).tolist())
    (dtype('uint8'), [0, 1])
    """
    if not isinstance(transforms, SectionTransforms):
        transforms = load_transforms(transforms)
    image = as_stack(stack)
    chosen = (0 if image.dtype.kind == "b" else 1) if order is None else int(order)
    if chosen not in (0, 1):
        raise AlignmentError(f"order must be 0 (nearest, for labels) or 1 (linear), not {order}")
    return _apply(image, transforms, order=chosen, fill=fill)
