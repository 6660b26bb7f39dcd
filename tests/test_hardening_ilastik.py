"""Regression tests for issue 13's root causes 2, 10, 7 and 13 in the ilastik importer.

Each test builds the hostile or damaged .ilp the probe used and checks that brushlab
refuses it with a ProjectError naming the problem (or imports it correctly).
"""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest

from brushlab.errors import ProjectError
from brushlab.ilastik import import_ilastik
from tests.test_hardening import embedded_ilp


def _replace_raw(ilp: Path, make) -> None:
    """Replace the embedded raw dataset by ``make(group, name)``, keeping its axistags."""
    with h5py.File(ilp, "a") as f:
        local = f["Input Data/local_data"]
        name = "00000000-dataset"
        tags = local[name].attrs["axistags"]
        del local[name]
        make(local, name)
        obj = local.get(name)
        if obj is not None:
            obj.attrs["axistags"] = tags


@pytest.fixture
def secret(tmp_path: Path) -> Path:
    """A local file the project must never bring into a session."""
    path = tmp_path / "outside" / "secret.bin"
    path.parent.mkdir()
    path.write_bytes(bytes(range(256)) * 8)  # 2048 bytes: a 40x48 uint8 image needs 1920
    return path


# -- root cause 2: an .ilp must not read other files --------------------------------------------
def test_ilastik_refuses_external_raw_storage(tmp_path, secret):
    ilp = embedded_ilp(tmp_path)
    _replace_raw(ilp, lambda g, n: g.create_dataset(
        n, shape=(40, 48, 1), dtype=np.uint8, external=[(str(secret), 0, 1920)]))
    with pytest.raises(ProjectError, match="external file.*secret.bin.*Copied to Project File"):
        import_ilastik(ilp, precompute=False)


def test_ilastik_refuses_external_link(tmp_path, secret):
    other = tmp_path / "outside" / "other.h5"
    with h5py.File(other, "w") as f:
        f["data"] = np.full((40, 48, 1), 7, np.uint8)
    ilp = embedded_ilp(tmp_path)
    _replace_raw(ilp, lambda g, n: g.__setitem__(n, h5py.ExternalLink(str(other), "/data")))
    with pytest.raises(ProjectError, match="external link to .*other.h5"):
        import_ilastik(ilp, precompute=False)


def test_ilastik_refuses_soft_link(tmp_path):
    ilp = embedded_ilp(tmp_path)
    with h5py.File(ilp, "a") as f:
        f["elsewhere/data"] = np.full((40, 48, 1), 7, np.uint8)
    _replace_raw(ilp, lambda g, n: g.__setitem__(n, h5py.SoftLink("/elsewhere/data")))
    with pytest.raises(ProjectError, match="soft link to '/elsewhere/data'"):
        import_ilastik(ilp, precompute=False)


@pytest.mark.parametrize("source_exists", [True, False])
def test_ilastik_refuses_virtual_dataset(tmp_path, source_exists):
    other = tmp_path / "outside" / "vsource.h5"
    other.parent.mkdir()
    if source_exists:
        with h5py.File(other, "w") as f:
            f["data"] = np.full((40, 48, 1), 9, np.uint8)

    def virtual(group, name):
        layout = h5py.VirtualLayout(shape=(40, 48, 1), dtype=np.uint8)
        layout[:] = h5py.VirtualSource(str(other), "data", shape=(40, 48, 1))
        group.create_virtual_dataset(name, layout, fillvalue=3)

    ilp = embedded_ilp(tmp_path)
    _replace_raw(ilp, virtual)
    with pytest.raises(ProjectError, match="virtual dataset over .*vsource.h5"):
        import_ilastik(ilp, precompute=False)


def test_ilastik_refuses_link_in_labels(tmp_path, secret):
    ilp = embedded_ilp(tmp_path)
    with h5py.File(ilp, "a") as f:
        group = f["PixelClassification/LabelSets/labels000"]
        attrs = dict(group["block0000"].attrs)
        del group["block0000"]
        group.create_dataset("block0000", shape=(10, 6, 1), dtype=np.uint8,
                             external=[(str(secret), 0, 60)])
        group["block0000"].attrs.update(attrs)
    with pytest.raises(ProjectError, match="block0000 keeps its bytes in external file"):
        import_ilastik(ilp, precompute=False)


def test_ilastik_plain_project_still_imports(tmp_path):
    with import_ilastik(embedded_ilp(tmp_path), precompute=False) as session:
        assert session.label_counts() == {"background": 20, "cell": 18}


# -- root cause 10: label values -----------------------------------------------------------------
@pytest.mark.parametrize(
    ("value", "dtype", "shown"),
    [(70000, np.int32, "70000"), (-1, np.int16, "-1"), (1.5, np.float32, "1.5"),
     (np.nan, np.float32, "nan"), (3, np.uint8, "3"), (np.inf, np.float64, "inf")],
)
def test_ilastik_label_values_are_checked(tmp_path, value, dtype, shown):
    block = np.zeros((10, 6, 1), dtype)
    block[2, 2] = value
    block[3, 3] = 1
    ilp = embedded_ilp(tmp_path, blocks=[([slice(5, 15), slice(2, 8), slice(0, 1)], block)])
    with pytest.raises(ProjectError, match=rf"labels000/block0000 holds the label value {shown}"):
        import_ilastik(ilp, precompute=False)


def test_ilastik_float_labels_that_are_whole_numbers_import(tmp_path):
    block = np.zeros((10, 6, 1), np.float32)
    block[2, 2], block[3, 3] = 1.0, 2.0
    ilp = embedded_ilp(tmp_path, blocks=[([slice(5, 15), slice(2, 8), slice(0, 1)], block)])
    with import_ilastik(ilp, precompute=False) as session:
        assert session.label_counts() == {"background": 1, "cell": 1}



def test_ilastik_label_65535_without_names(tmp_path):
    block = np.zeros((10, 6, 1), np.uint16)
    block[0, 0], block[1, 1] = 65535, 1
    ilp = embedded_ilp(tmp_path, blocks=[([slice(5, 15), slice(2, 8), slice(0, 1)], block)],
                       names=None)
    with import_ilastik(ilp, precompute=False) as session:
        assert len(session.classes) == 65535
        assert session.class_names[-1] == "Label 65535"
        assert int(session.labels(0).max()) == 65535


# -- root cause 13: damaged ilastik fields ---------------------------------------------------
def _replace(name: str, value):
    def edit(f):
        attrs = dict(f[name].attrs)
        del f[name]
        f.create_dataset(name, data=value)
        f[name].attrs.update(attrs)
    return edit


def _delete(name: str):
    def edit(f):
        del f[name]
    return edit


@pytest.mark.parametrize(
    ("edit", "named"),
    [
        (_delete("Input Data/infos/lane0000/Raw Data/datasetId"), "Raw Data/datasetId is missing"),
        (_replace("Input Data/infos/lane0000/Raw Data/datasetId", b"../x"), "datasetId '../x'"),
        (_replace("Input Data/infos/lane0000/Raw Data/location", np.arange(3)), "location holds"),
        (_delete("Input Data/infos"), "no 'Input Data/infos'"),
        (_replace("Input Data/infos", np.arange(3)), "not a group of lanes"),
        (_replace("PixelClassification/LabelColors", np.arange(4)), "LabelColors holds"),
        (_replace("PixelClassification/LabelColors", np.full((2, 3), np.nan)), "LabelColors"),
        (_replace("PixelClassification/LabelSets/labels000", np.arange(3)),
         "labels000 is not a group of label blocks"),
        (_replace("FeatureSelections/Scales", np.array([b"a", b"b"])), "Scales holds"),
        (_replace("FeatureSelections/SelectionMatrix", np.ones(42, bool)), "selection matrix"),
        (_replace("Input Data/local_data/00000000-dataset", np.zeros((40, 48, 1), "S2")),
         "not numbers"),
    ],
)
def test_damaged_ilastik_fields_raise_project_error(tmp_path, edit, named):
    ilp = embedded_ilp(tmp_path)
    with h5py.File(ilp, "a") as f:
        edit(f)
    with pytest.raises(ProjectError, match=named):
        import_ilastik(ilp, precompute=False)
