from __future__ import annotations

# First: with BRUSHLAB_HIDE_TORCH=1 this hides torch before anything else is imported.
from tests.hidden_torch import torch_hidden_requested  # isort: skip

import os

import numpy as np
import pytest

# Real data: every test reaches it through shared_data (skips, or fails when
# BRUSHLAB_REQUIRE_DATA=1); see tests/realdata.py.
from tests.realdata import shared_data  # noqa: F401


def _has_cuda() -> bool:
    try:
        import cupy

        return cupy.cuda.runtime.getDeviceCount() > 0
    except Exception:
        return False


HAS_CUDA = _has_cuda()


#: The core tests: they need only brushlab's core dependencies (and pytest), and
#: ``make test-min`` runs them (``-m core``) against the declared minimum versions.
CORE_TEST_FILES = frozenset(
    {
        "test_images.py",
        "test_features.py",
        "test_classifier.py",
        "test_forest_arrays.py",
        "test_metrics.py",
        "test_modelfile.py",
        "test_writers.py",
        "test_open_image.py",
        "test_container.py",
        "test_boosted_trees.py",
    }
)


def pytest_ignore_collect(collection_path, config):
    """With ``BRUSHLAB_CORE_ONLY=1`` (``make test-min``) collect only the core test files.

    The other files import packages of the extras (onnx, grimp, playwright...), which the
    core-only environment does not have.
    """
    if os.environ.get("BRUSHLAB_CORE_ONLY") != "1":
        return None
    if collection_path.suffix == ".py" and collection_path.name.startswith("test_"):
        return collection_path.name not in CORE_TEST_FILES
    return None


def pytest_report_header(config):
    if torch_hidden_requested():
        return "torch: hidden (BRUSHLAB_HIDE_TORCH=1): tests run as without brushlab[train]"
    return None


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "core: needs only the core dependencies (make test-min runs these)"
    )


def pytest_collection_modifyitems(config, items):
    for item in items:
        if item.path.name in CORE_TEST_FILES:
            item.add_marker(pytest.mark.core)
    if HAS_CUDA:
        return
    skip = pytest.mark.skip(reason="needs cupy and a CUDA GPU")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


@pytest.fixture
def rng():
    return np.random.default_rng(0)


@pytest.fixture
def smooth_image(rng):
    from scipy import ndimage as ndi

    return (ndi.gaussian_filter(rng.random((70, 90)), 2) * 100).astype(np.float32)
