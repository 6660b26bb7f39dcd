from __future__ import annotations

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


def pytest_collection_modifyitems(config, items):
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
