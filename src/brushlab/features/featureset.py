"""FeatureSet: ilastik's six filter families at chosen scales, on numpy or cupy."""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import xarray as xr

from brushlab._core.backend import array_module
from brushlab._core.threads import map_single_blas
from brushlab._core.tiling import iter_tiles, read_with_halo
from brushlab.errors import FeatureError
from brushlab.features._eigen import symmetric_eigenvalues
from brushlab.features._gaussian import gaussian_derivatives, kernel_radius
from brushlab.features._limits import (
    _MIN_SIGMA_DERIVATIVE,
    _check_sigma,
    _check_truncate,
    _expand,
)
from brushlab.features._orders import DOG_RATIO as _DOG_RATIO
from brushlab.features._orders import ST_OUTER_RATIO as _ST_OUTER_RATIO
from brushlab.features._orders import add as _add
from brushlab.features._orders import crop as _crop
from brushlab.features._orders import derivative_orders
from brushlab.features._orders import unit as _unit
from brushlab.io import split_frames

__all__ = ["FeatureSet", "FAMILIES", "ILASTIK_SCALES"]

FAMILIES: dict[str, str] = {
    "gaussian_smoothing": "Gaussian smoothing",
    "laplacian_of_gaussian": "Laplacian of Gaussian",
    "gaussian_gradient_magnitude": "Gaussian gradient magnitude",
    "difference_of_gaussians": "Difference of Gaussians",
    "structure_tensor_eigenvalues": "Structure tensor eigenvalues",
    "hessian_of_gaussian_eigenvalues": "Hessian of Gaussian eigenvalues",
}
_ALIASES = {
    "gaussian": "gaussian_smoothing",
    "smoothing": "gaussian_smoothing",
    "log": "laplacian_of_gaussian",
    "laplacian": "laplacian_of_gaussian",
    "ggm": "gaussian_gradient_magnitude",
    "gradient": "gaussian_gradient_magnitude",
    "dog": "difference_of_gaussians",
    "st": "structure_tensor_eigenvalues",
    "structure_tensor": "structure_tensor_eigenvalues",
    "hessian": "hessian_of_gaussian_eigenvalues",
    "hog": "hessian_of_gaussian_eigenvalues",
}
ILASTIK_SCALES: tuple[float, ...] = (0.3, 0.7, 1.0, 1.6, 3.5, 5.0, 10.0)
#: Default tiles of :meth:`FeatureSet.compute` (prediction's, see brushlab.classifier).
COMPUTE_TILE: dict[int, tuple[int, ...]] = {2: (256, 256), 3: (64, 128, 128)}
_EIGEN_FAMILIES = ("structure_tensor_eigenvalues", "hessian_of_gaussian_eigenvalues")


@dataclass(frozen=True, order=True)
class _Feature:
    family_index: int
    sigma: float

    @property
    def family(self) -> str:
        return list(FAMILIES)[self.family_index]


class FeatureSet:
    """Filter features per pixel: ilastik's families x scales.

    Parameters
    ----------
    selection : mapping or iterable
        ``{family: [sigma, ...]}`` or pairs ``(family, sigma)``. Families:
        ``gaussian_smoothing``, ``laplacian_of_gaussian``,
        ``gaussian_gradient_magnitude``, ``difference_of_gaussians``
        (sigma minus 0.66 sigma), ``structure_tensor_eigenvalues`` (inner sigma,
        outer 0.5 sigma) and ``hessian_of_gaussian_eigenvalues``; short aliases
        such as ``"log"``, ``"dog"``, ``"st"`` and ``"hessian"`` work too.
    compute_in_2d : bool or iterable of float, default False
        For 3D images, filter each z slice on its own (all scales when True, or
        the listed scales), as ilastik's "compute in 2D".
    truncate : float, default 4.0
        Kernel radius in standard deviations (as ``scipy.ndimage``), in
        ``(0, 8]``. Sigmas lie in ``(0, 64]`` (at least 0.5 for derivative
        families).

    Notes
    -----
    Scales are in pixels of the finest spatial axis. With anisotropic spacing the
    sigma along a coarser axis shrinks by the spacing ratio, so each filter has
    the same physical extent along every axis, and derivatives are expressed per
    finest pixel. Eigenvalues come largest first. Each input channel gets its
    own features.

    At the image border every feature is that of the image extended by mirroring
    (``numpy.pad(mode="symmetric")``, scipy's ``"reflect"``), then filtered. For
    the structure tensor this differs from filtering the gradient products with
    scipy's reflect boundary (which mirrors the products, not the image) within
    a halo of the border; the definition here is the one that makes every tile
    of an image equal to the whole image computed at once.

    Examples
    --------
    >>> import numpy as np
    >>> fs = FeatureSet({"gaussian_smoothing": [1.0], "hessian": [1.0, 3.5]})
    >>> fs.names(ndim=2)[:2]
    ['Gaussian smoothing (σ=1)', 'Hessian of Gaussian eigenvalues (σ=1) e0']
    >>> fs.compute(np.zeros((32, 32))).shape
    (32, 32, 5)
    """

    def __init__(
        self,
        selection: Mapping[str, Iterable[float]] | Iterable[tuple[str, float]],
        *,
        compute_in_2d: bool | Iterable[float] = False,
        truncate: float = 4.0,
    ) -> None:
        pairs = selection.items() if isinstance(selection, Mapping) else selection
        chosen: set[_Feature] = set()
        try:
            expanded = list(_expand(pairs))
        except (TypeError, ValueError) as exc:
            raise FeatureError(
                "a feature selection is {family: [sigma, ...]} or (family, sigma) pairs with "
                f"numeric sigmas; got {selection!r} ({exc})"
            ) from exc
        for family, sigmas in expanded:
            name = _ALIASES.get(family, family)
            if name not in FAMILIES:
                raise FeatureError(
                    f"unknown feature family {family!r}; choose from {', '.join(FAMILIES)}"
                )
            for sigma in sigmas:
                chosen.add(_Feature(list(FAMILIES).index(name), _check_sigma(name, sigma)))
        if not chosen:
            raise FeatureError("a FeatureSet needs at least one (family, sigma) pair")
        self._features = tuple(sorted(chosen))
        if isinstance(compute_in_2d, bool):
            self._in_2d = (
                frozenset(f.sigma for f in self._features) if compute_in_2d else frozenset()
            )
        else:
            try:
                self._in_2d = frozenset(float(s) for s in compute_in_2d)
            except (TypeError, ValueError) as exc:
                raise FeatureError(
                    f"compute_in_2d is True/False or a list of sigmas, not {compute_in_2d!r}"
                ) from exc
        self.truncate = _check_truncate(truncate)

    # -- presets ---------------------------------------------------------------
    @classmethod
    def all(cls, scales: Iterable[float] = ILASTIK_SCALES, **kwargs: Any) -> FeatureSet:
        """All six families at ``scales`` (ilastik's seven by default; 49 channels in 2D).

        Scales below 0.5 are used for Gaussian smoothing only, as in ilastik.
        """
        scales = sorted({float(s) for s in scales})
        sel: dict[str, list[float]] = {f: [] for f in FAMILIES}
        for fam in FAMILIES:
            for s in scales:
                if fam == "gaussian_smoothing" or s >= _MIN_SIGMA_DERIVATIVE:
                    sel[fam].append(s)
        return cls(sel, **kwargs)

    @classmethod
    def default(cls, **kwargs: Any) -> FeatureSet:
        """Return the default set: ilastik's six families at its seven scales, 0.3 to 10.

        49 channels in 2D, the same as :meth:`all`. Chosen on ISBI 2012 membranes with a
        real user's label count (scribbles on all 20 slices, ~48k labelled pixels;
        ``benchmarks/bench_engine.py``, figures in benchmarks/README.md): with that many
        labels the boosted trees use sigma 10 (membrane F1 0.742 against 0.728 without
        it, the skimage + scikit-learn peer 0.744). With sparse scribbles
        (``benchmarks/select_defaults.py``) sigma 10 did not matter; it costs the
        largest halo (60 pixels) and about a third of the feature time: pass
        ``FeatureSet.all(scales=(0.3, 0.7, 1.0, 1.6, 3.5, 5.0))`` for the 41-channel set
        that was the default before.
        """
        return cls.all(**kwargs)

    # -- description -----------------------------------------------------------
    @property
    def scales(self) -> tuple[float, ...]:
        """Sorted distinct sigmas used by any family."""
        return tuple(sorted({f.sigma for f in self._features}))

    @property
    def selection(self) -> dict[str, list[float]]:
        """``{family: [sigma, ...]}`` of the chosen features."""
        out: dict[str, list[float]] = {}
        for f in self._features:
            out.setdefault(f.family, []).append(f.sigma)
        return out

    def _channels_per_feature(self, f: _Feature, ndim: int) -> int:
        if f.family in _EIGEN_FAMILIES:
            return 2 if (ndim == 3 and f.sigma in self._in_2d) else ndim
        return 1

    def names(self, *, ndim: int = 2, n_channels: int = 1) -> list[str]:
        """Readable names of the output features for ``ndim`` spatial axes and ``n_channels``."""
        out: list[str] = []
        for c in range(n_channels):
            suffix = f" [c{c}]" if n_channels > 1 else ""
            for f in self._features:
                base = f"{FAMILIES[f.family]} (σ={f.sigma:g})"
                if ndim == 3 and f.sigma in self._in_2d:
                    base += " 2D"
                k = self._channels_per_feature(f, ndim)
                if f.family in _EIGEN_FAMILIES:
                    out.extend(f"{base} e{i}{suffix}" for i in range(k))
                else:
                    out.append(base + suffix)
        return out

    def n_features(self, *, ndim: int = 2, n_channels: int = 1) -> int:
        """Count the output features for ``ndim`` spatial axes and ``n_channels``."""
        per = sum(self._channels_per_feature(f, ndim) for f in self._features)
        return per * n_channels

    def _axis_sigmas(
        self, sigma: float, spacing: Sequence[float]
    ) -> tuple[list[float], list[float]]:
        finest = min(spacing)
        ratios = [finest / s for s in spacing]
        sig = [sigma * r for r in ratios]
        if len(spacing) == 3 and sigma in self._in_2d:
            sig[0] = 0.0
        return sig, ratios

    def _group_halo(self, sigma: float, families: set[str], spacing: Sequence[float]) -> list[int]:
        sig, _ = self._axis_sigmas(sigma, spacing)
        halo = [kernel_radius(s, self.truncate) for s in sig]
        if "structure_tensor_eigenvalues" in families:
            halo = [
                h + kernel_radius(_ST_OUTER_RATIO * s, self.truncate) for h, s in zip(halo, sig)
            ]
        return halo

    def halo(self, spacing: Sequence[float]) -> tuple[int, ...]:
        """Pixels of context each spatial axis needs around a tile, for this ``spacing``."""
        spacing = [float(s) for s in spacing]
        halo = [0] * len(spacing)
        for sigma, fams in self._groups():
            gh = self._group_halo(sigma, fams, spacing)
            halo = [max(a, b) for a, b in zip(halo, gh)]
        return tuple(halo)

    def _groups(self) -> list[tuple[float, set[str]]]:
        groups: dict[float, set[str]] = {}
        for f in self._features:
            groups.setdefault(f.sigma, set()).add(f.family)
        return sorted(groups.items())

    # -- computation -----------------------------------------------------------
    def compute_block(
        self,
        block: Any,
        spacing: Sequence[float],
        halo: Sequence[int],
        origin: Sequence[int] | None = None,
    ) -> Any:
        """Features of the interior of ``block``, channel-first.

        Parameters
        ----------
        block : array
            ``(C, *spatial)`` with ``halo`` extra pixels on both sides of each spatial axis.
        spacing : sequence of float
            Physical pixel size per spatial axis.
        halo : sequence of int
            The halo ``block`` carries; at least :meth:`halo`.
        origin : sequence of int, optional
            Global index of the block's first pixel per spatial axis (the tile's
            start minus ``halo``). Pixels get bit-identical features whatever
            tile they are computed in, as long as ``origin`` is given.

        Returns
        -------
        array
            ``(n_features, *interior)`` float32 on the backend of ``block``.
        """
        xp = array_module(block)
        block = block.astype(xp.float32, copy=False)
        ndim = block.ndim - 1
        interior = [n - 2 * h for n, h in zip(block.shape[1:], halo)]
        n_ch = block.shape[0]
        per_channel = self.n_features(ndim=ndim)
        out = xp.empty((n_ch * per_channel, *interior), dtype=xp.float32)
        slots = self._slots(ndim)
        origin = [0] * ndim if origin is None else [int(o) for o in origin]
        for sigma, fams in self._groups():
            groups = self._group_features(block, sigma, fams, spacing, halo, interior, origin)
            for name, arr in groups:
                start = slots[name]
                k = arr.shape[0]
                for c in range(n_ch):
                    out[c * per_channel + start : c * per_channel + start + k] = arr[:, c]
        return out

    def _slots(self, ndim: int) -> dict[tuple[str, float], int]:
        slots, pos = {}, 0
        for f in self._features:
            slots[(f.family, f.sigma)] = pos
            pos += self._channels_per_feature(f, ndim)
        return slots  # type: ignore[return-value]

    def _group_features(
        self,
        block: Any,
        sigma: float,
        fams: set[str],
        spacing: Sequence[float],
        halo: Sequence[int],
        interior: Sequence[int],
        origin: Sequence[int],
    ) -> Iterable[tuple[tuple[str, float], Any]]:
        """Yield ((family, sigma), array of shape (k, C, *interior)) for one scale."""
        xp = array_module(block)
        ndim = len(interior)
        sig, ratios = self._axis_sigmas(sigma, spacing)
        active = [a for a in range(ndim) if sig[a] > 0]
        has_st = "structure_tensor_eigenvalues" in fams
        outer = [kernel_radius(_ST_OUTER_RATIO * s, self.truncate) if has_st else 0 for s in sig]
        ghalo = self._group_halo(sigma, fams, spacing)
        region = _crop(block, [h - g for h, g in zip(halo, ghalo)])
        region_origin = [0, *(o + h - g for o, h, g in zip(origin, halo, ghalo))]
        inner_r = [kernel_radius(s, self.truncate) for s in sig]
        deriv_origin = [region_origin[0], *(o + r for o, r in zip(region_origin[1:], inner_r))]
        zero = (0,) * (ndim + 1)
        unit = [_unit(ndim + 1, a + 1) for a in active]
        orders = derivative_orders(fams, unit, zero)
        d = gaussian_derivatives(
            region,
            [0.0, *sig],
            orders,
            truncate=self.truncate,
            scales=[1.0, *ratios],
            origin=region_origin,
        )

        def inner(a: Any) -> Any:
            return _crop(a, [0, *outer])

        if "gaussian_smoothing" in fams:
            yield ("gaussian_smoothing", sigma), inner(d[zero])[None]
        if "difference_of_gaussians" in fams:
            sig2 = [s * _DOG_RATIO for s in sig]
            h2 = [kernel_radius(s, self.truncate) for s in sig2]
            reg2 = _crop(block, [0] + [h - g for h, g in zip(halo, h2)])
            org2 = [0, *(o + h - g for o, h, g in zip(origin, halo, h2))]
            g2 = gaussian_derivatives(
                reg2, [0.0, *sig2], [zero], truncate=self.truncate, origin=org2
            )[zero]
            yield ("difference_of_gaussians", sigma), (inner(d[zero]) - g2)[None]
        if "laplacian_of_gaussian" in fams:
            log = sum(inner(d[_add(u, u)]) for u in unit)
            yield ("laplacian_of_gaussian", sigma), xp.asarray(log)[None]
        if "gaussian_gradient_magnitude" in fams:
            sq = sum(inner(d[u]) ** 2 for u in unit)
            yield ("gaussian_gradient_magnitude", sigma), xp.sqrt(sq)[None]
        if "structure_tensor_eigenvalues" in fams:
            osig = [s * _ST_OUTER_RATIO for s in sig]
            pairs = [(i, j) for i in range(len(active)) for j in range(i, len(active))]
            # All products smoothed in one call: the pair index is one more batch axis.
            stacked = xp.stack([d[unit[i]] * d[unit[j]] for i, j in pairs])
            smoothed = gaussian_derivatives(
                stacked,
                [0.0, 0.0, *osig],
                [(0, *zero)],
                truncate=self.truncate,
                origin=[0, *deriv_origin],
            )[(0, *zero)]
            prods = {pair: smoothed[k] for k, pair in enumerate(pairs)}
            ev = symmetric_eigenvalues(prods, len(active))
            yield ("structure_tensor_eigenvalues", sigma), xp.stack(ev)
        if "hessian_of_gaussian_eigenvalues" in fams:
            hess = {
                (i, j): inner(d[_add(unit[i], unit[j])])
                for i in range(len(active))
                for j in range(i, len(active))
            }
            ev = symmetric_eigenvalues(hess, len(active))
            yield ("hessian_of_gaussian_eigenvalues", sigma), xp.stack(ev)

    def compute(
        self,
        image: Any,
        *,
        tile_shape: Sequence[int] | None = None,
    ) -> xr.DataArray:
        """Compute all features of ``image``.

        Parameters
        ----------
        image : array-like or xarray.DataArray
            Anything :func:`brushlab.as_image` accepts (numpy or cupy).
        tile_shape : sequence of int, optional
            Spatial tile size; the result is the same for any tiling (bit for bit).
            By default 256 x 256 in 2D and 64 x 128 x 128 in 3D, computed on one thread
            per core with BLAS single-threaded, as prediction computes them: on 2
            cores the 49 default features of a 2048 x 2048 image take 1.5-2 s instead
            of 6.5-8 s as one tile.

        Returns
        -------
        xarray.DataArray
            float32 with dims ``(t?, z?, y, x, "feature")``, feature names as coordinate.
        """
        from brushlab.io import as_image, spacing_of

        img = as_image(image)
        frames = split_frames(img)
        spatial_dims, spacing, ndim = frames.spatial_dims, frames.spacing, frames.ndim
        xp = array_module(img.data)
        n_ch = frames.n_channels
        nf = self.n_features(ndim=ndim, n_channels=n_ch)
        shape = frames.arrays[0].shape[1:]
        halo = self.halo(spacing)
        out = xp.empty((len(frames.arrays), *shape, nf), dtype=xp.float32)
        jobs = [(fi, tile) for fi in range(len(frames.arrays))
                for tile in iter_tiles(shape, tile_shape or COMPUTE_TILE[ndim])]

        def one(job: tuple[int, tuple[slice, ...]]) -> None:
            fi, tile = job
            block = read_with_halo(frames.arrays[fi], tile, halo)
            origin = [t.start - h for t, h in zip(tile, halo)]
            feats = self.compute_block(block, spacing, halo, origin)
            out[(fi, *tile)] = xp.moveaxis(feats, 0, -1)

        # A GPU runs one tile at a time; on the CPU one thread per core.
        map_single_blas(one, jobs, (os.cpu_count() or 1) if xp is np else 1)
        dims = (["t"] if "t" in img.dims else []) + list(spatial_dims) + ["feature"]
        data_out = out if "t" in img.dims else out[0]
        coords = {"feature": self.names(ndim=ndim, n_channels=n_ch)}
        return xr.DataArray(data_out, dims=dims, coords=coords, attrs={"spacing": spacing_of(img)})

    # -- serialisation ---------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """Describe the set as JSON-able data; :meth:`from_dict` rebuilds an equal FeatureSet."""
        return {
            "selection": self.selection,
            "compute_in_2d": sorted(self._in_2d),
            "truncate": self.truncate,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FeatureSet:
        """Rebuild a FeatureSet from :meth:`to_dict` output."""
        try:
            return cls(
                {k: list(v) for k, v in data["selection"].items()},
                compute_in_2d=[float(s) for s in data.get("compute_in_2d", [])],
                truncate=float(data.get("truncate", 4.0)),
            )
        except FeatureError:
            raise
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise FeatureError(
                f"not a FeatureSet description ({type(exc).__name__}: {exc}): {data!r:.300}"
            ) from exc

    def __eq__(self, other: object) -> bool:
        return isinstance(other, FeatureSet) and self.to_dict() == other.to_dict()

    def __hash__(self) -> int:
        return hash((self._features, self._in_2d, self.truncate))

    def __repr__(self) -> str:
        parts = ", ".join(f"{k}: {v}" for k, v in self.selection.items())
        return f"FeatureSet({{{parts}}}, n_features_2d={self.n_features(ndim=2)})"
