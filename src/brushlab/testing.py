"""Assertions for brushlab objects, as :mod:`xarray.testing` has for xarray's.

Use them in your own tests (and brushlab's): they compare what matters for each object
and say what differs.

- :func:`assert_results_equal`: two prediction results (``probabilities``,
  ``segmentation``, ``uncertainty``, ``confidence``), bit for bit or within a tolerance.
- :func:`assert_images_equal`: two images: dims, values, spacing and unit.
- :func:`assert_classifiers_equal`: two pixel classifiers predict identically on an image.

Examples
--------
>>> import numpy as np, brushlab
>>> from brushlab.testing import assert_images_equal
>>> a = brushlab.as_image(np.zeros((4, 4), np.uint8))
>>> assert_images_equal(a, a.copy())
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import xarray as xr

from brushlab.classifier.results import OUTPUTS
from brushlab.io import spacing_of

__all__ = ["assert_classifiers_equal", "assert_images_equal", "assert_results_equal"]


def assert_results_equal(
    actual: xr.Dataset,
    expected: xr.Dataset,
    *,
    outputs: Sequence[str] | None = None,
    rtol: float = 0.0,
    atol: float = 0.0,
) -> None:
    """Assert two prediction results hold the same outputs, classes and dims.

    Parameters
    ----------
    actual, expected : xarray.Dataset
        Results of ``predict`` (or any builder of :mod:`brushlab.classifier.results`).
    outputs : sequence of str, optional
        Outputs to compare (default: those of :data:`~brushlab.classifier.OUTPUTS` in
        ``expected``).
    rtol, atol : float, default 0
        Tolerances for float outputs; 0 means bit for bit. ``segmentation`` is always
        compared exactly.

    Raises
    ------
    AssertionError
        Naming the output and what differs.

    Examples
    --------
    >>> import numpy as np
    >>> from brushlab.classifier import build_result
    >>> p = np.full((2, 3, 3), 0.5, np.float32)
    >>> r = build_result(p, class_names=["a", "b"], dims=["y", "x"])
    >>> assert_results_equal(r, r.copy(deep=True))
    """
    names = list(outputs) if outputs is not None else [n for n in OUTPUTS if n in expected]
    for name in names:
        if name not in actual:
            raise AssertionError(f"output {name!r} is missing from the actual result")
        a, e = actual[name], expected[name]
        if a.dims != e.dims:
            raise AssertionError(f"output {name!r}: dims {a.dims} != expected {e.dims}")
        if name == "segmentation" or (rtol == 0 and atol == 0):
            np.testing.assert_array_equal(a.values, e.values, err_msg=f"output {name!r}")
        else:
            np.testing.assert_allclose(a.values, e.values, rtol=rtol, atol=atol,
                                       err_msg=f"output {name!r}")
    if "class" in expected.coords:
        got = [str(c) for c in actual.coords.get("class", xr.DataArray([])).values]
        want = [str(c) for c in expected.coords["class"].values]
        if got != want:
            raise AssertionError(f"classes {got} != expected {want}")


def assert_images_equal(actual: xr.DataArray, expected: xr.DataArray) -> None:
    """Assert two images have the same dims, values, dtype, spacing and unit.

    Raises
    ------
    AssertionError
        Naming what differs.

    Examples
    --------
    >>> import numpy as np, brushlab
    >>> a = brushlab.as_image(np.ones((2, 3), np.float32))
    >>> assert_images_equal(a, a)
    """
    if tuple(actual.dims) != tuple(expected.dims):
        raise AssertionError(f"dims {actual.dims} != expected {expected.dims}")
    if actual.dtype != expected.dtype:
        raise AssertionError(f"dtype {actual.dtype} != expected {expected.dtype}")
    np.testing.assert_array_equal(np.asarray(actual.values), np.asarray(expected.values))
    sa, se = spacing_of(actual), spacing_of(expected)
    for d in se:
        if not np.isclose(sa.get(d, 1.0), se[d], rtol=1e-6):
            raise AssertionError(f"spacing {sa} != expected {se}")
    ua, ue = actual.attrs.get("unit", "pixel"), expected.attrs.get("unit", "pixel")
    if ua != ue:
        raise AssertionError(f"unit {ua!r} != expected {ue!r}")


def assert_classifiers_equal(actual: Any, expected: Any, image: Any) -> None:
    """Assert two pixel classifiers have the same classes and features and predict alike.

    ``image`` is predicted by both and compared bit for bit: e.g. a classifier and the same
    one saved and loaded.

    Examples
    --------
    >>> import numpy as np, brushlab
    >>> img = np.zeros((16, 16), np.float32); img[:, 8:] = 1
    >>> labels = np.zeros((16, 16), np.uint8); labels[4, 2] = 1; labels[4, 12] = 2
    >>> clf = brushlab.PixelClassifier(random_state=0).fit(img, labels)
    >>> assert_classifiers_equal(clf, clf, img)
    """
    if list(actual.class_names or []) != list(expected.class_names or []):
        raise AssertionError(f"classes {actual.class_names} != expected {expected.class_names}")
    if actual.features != expected.features:
        raise AssertionError("the classifiers use different feature sets")
    assert_results_equal(actual.predict(image), expected.predict(image))


# Kept while code written against the old module moves over: the scribbles live in
# brushlab.datasets and the F1 of two masks in brushlab.metrics.
