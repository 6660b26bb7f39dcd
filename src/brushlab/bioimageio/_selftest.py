"""The self-test of a package: its test inputs through the model vs its test outputs."""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from brushlab.bioimageio._axes import TensorInfo
from brushlab.bioimageio._package import check_local_file
from brushlab.errors import ModelPackageError

__all__ = ["ModelTestReport", "self_test"]


@dataclass
class ModelTestReport:
    """What :meth:`BioimageioModel.test` found, per output (like ``bioimageio test``)."""

    name: str
    passed: bool
    max_abs_diff: dict[str, float] = field(default_factory=dict)
    mismatched: dict[str, int] = field(default_factory=dict)
    elements: dict[str, int] = field(default_factory=dict)
    tolerance: dict[str, dict[str, float]] = field(default_factory=dict)

    def __str__(self) -> str:
        lines = [f"{self.name}: {'passed' if self.passed else 'FAILED'}"]
        for out, diff in self.max_abs_diff.items():
            tol = self.tolerance[out]
            lines.append(
                f"  {out}: max abs diff {diff:.3g}; {self.mismatched[out]} of {self.elements[out]} "
                f"elements beyond {tol['absolute_tolerance']:g} + "
                f"{tol['relative_tolerance']:g}*|ref| "
                f"(allowed {tol['mismatched_elements_per_million']:g} per million)"
            )
        return "\n".join(lines)


def self_test(model: Any) -> ModelTestReport:
    """Run the package's test inputs and compare with its test outputs.

    Tolerances come from the description (``config.bioimageio.reproducibility_tolerance``,
    defaults of the spec otherwise): an element mismatches when
    ``|out - ref| > absolute_tolerance + relative_tolerance * |ref|``.

    Returns
    -------
    ModelTestReport
        ``passed``, and per output the max abs difference and mismatch counts.
    """
    tensors = {t.id: _test_tensor(model, t) for t in model.inputs}
    got = model.run(tensors)
    report = ModelTestReport(model.name, True)
    for t in model.outputs:
        expected = _test_tensor(model, t).astype(np.float64)
        actual = got[t.id].values.astype(np.float64)
        if actual.shape != expected.shape:
            raise ModelPackageError(
                f"output {t.id!r} has shape {actual.shape} but its test tensor {expected.shape}"
            )
        tol = _tolerance(model, t)
        diff = np.abs(actual - expected)
        bad = int(
            (diff > tol["absolute_tolerance"] + tol["relative_tolerance"] * np.abs(expected)).sum()
        )
        report.max_abs_diff[t.id] = float(diff.max()) if diff.size else 0.0
        report.mismatched[t.id] = bad
        report.elements[t.id] = int(diff.size)
        report.tolerance[t.id] = tol
        if bad > tol["mismatched_elements_per_million"] * diff.size / 1e6:
            report.passed = False
    return report


def _test_tensor(model: Any, t: TensorInfo) -> np.ndarray:
    tt = t.test_tensor
    if tt is None:
        raise ModelPackageError(f"model {model.name!r} has no test tensor for {t.id!r}")
    data = check_local_file(
        model._package.files, tt.source, tt.sha256, what=f"test tensor of {t.id!r}"
    )
    try:
        return np.load(io.BytesIO(data), allow_pickle=False)
    except ValueError as exc:
        raise ModelPackageError(
            f"the test tensor of {t.id!r} is not a readable .npy file: {exc}"
        ) from exc


def _tolerance(model: Any, t: TensorInfo) -> dict[str, float]:
    discrete = t.dtype not in ("float32", "float64")
    tol = {
        "absolute_tolerance": 1e-3,
        "relative_tolerance": 1e-3,
        "mismatched_elements_per_million": 100.0,
    }
    if discrete:
        tol = {
            "absolute_tolerance": 0.0,
            "relative_tolerance": 0.0,
            "mismatched_elements_per_million": 1000.0,
        }
    config = getattr(getattr(model.description, "config", None), "bioimageio", None)
    for entry in getattr(config, "reproducibility_tolerance", None) or []:
        ids = entry.output_ids
        if isinstance(ids, str):
            applies = (ids == "any_discrete_output") == discrete
        else:
            applies = not ids or t.id in [str(i) for i in ids]
        formats = [str(f) for f in entry.weights_formats]
        if applies and (not formats or "onnx" in formats):
            return {
                "absolute_tolerance": float(entry.absolute_tolerance),
                "relative_tolerance": float(entry.relative_tolerance),
                "mismatched_elements_per_million": float(entry.mismatched_elements_per_million),
            }
    return tol
