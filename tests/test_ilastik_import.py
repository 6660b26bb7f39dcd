"""brushlab.import_ilastik on .ilp files written here with h5py in ilastik 1.x's layout."""

from __future__ import annotations

import json
import pickle
import shutil
from pathlib import Path

import h5py
import numpy as np
import pytest
import tifffile
from numpy.testing import assert_array_equal

import brushlab
from brushlab.errors import BrushlabError, ProjectError
from brushlab.ilastik import IlastikImportWarning, import_ilastik

IDS = [
    "GaussianSmoothing",
    "LaplacianOfGaussian",
    "GaussianGradientMagnitude",
    "DifferenceOfGaussians",
    "StructureTensorEigenvalues",
    "HessianOfGaussianEigenvalues",
]
SCALES = [0.3, 0.7, 1.0, 1.6, 3.5, 5.0, 10.0]


def axistags(keys: str, resolution: dict[str, float] | None = None) -> str:
    flags = {"t": 8, "c": 1, "z": 2, "y": 2, "x": 2}
    axes = [
        {
            "key": k,
            "typeFlags": flags[k],
            "resolution": (resolution or {}).get(k, 0),
            "description": "",
        }
        for k in keys
    ]
    return json.dumps({"axes": axes}, indent=2)


class _Touch:
    """Unpickling this creates a marker file: proof that something was unpickled."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


def write_ilp(
    path: Path,
    lanes: list[dict],
    *,
    names=("background", "cell"),
    colours=((255, 0, 0), (0, 255, 0)),
    workflow="Pixel Classification",
    matrix=None,
    in_2d=None,
    marker: Path | None = None,
) -> Path:
    """Write an ilastik Pixel Classification project as ilastik's serializers do."""
    with h5py.File(path, "w") as f:
        f.create_dataset("workflowName", data=workflow.encode())
        f.create_dataset("ilastikVersion", data=b"1.4.0")
        top = f.create_group("Input Data")
        top.create_dataset("Role Names", data=[b"Raw Data", b"Prediction Mask"])
        local = top.create_group("local_data")
        infos = top.create_group("infos")
        for i, lane in enumerate(lanes):
            info = infos.create_group(f"lane{i:04d}").create_group("Raw Data")
            infos[f"lane{i:04d}"].create_group("Prediction Mask")
            keys = lane["axes"]
            tags = axistags(keys, lane.get("resolution"))
            if "file" in lane:
                info.create_dataset("location", data=b"FileSystem")
                info.create_dataset("filePath", data=str(lane["file"]).encode())
            else:
                info.create_dataset("location", data=b"ProjectInternal")
                dataset_id = f"{i:08x}-dataset"
                info.create_dataset("filePath", data=f"{path.name}/{dataset_id}".encode())
                local.create_dataset(dataset_id, data=lane["data"])
                local[dataset_id].attrs["axistags"] = tags.encode()
            info.create_dataset("datasetId", data=f"{i:08x}-dataset".encode())
            info.create_dataset("nickname", data=lane.get("nickname", f"raw{i}").encode())
            info.create_dataset("axistags", data=tags.encode())
            info.create_dataset("axisorder", data=keys.encode())
            info.create_dataset("shape", data=np.array(lane["data"].shape))
            info.create_dataset("allowLabels", data=True)
            info.create_dataset("fromstack", data=False)
        fs = f.create_group("FeatureSelections")
        fs.create_dataset("FeatureIds", data=[s.encode() for s in IDS])
        fs.create_dataset("Scales", data=np.array(SCALES))
        if matrix is None:
            matrix = np.zeros((6, 7), bool)
            matrix[0, 2] = matrix[3, 3] = matrix[5, 2] = True
        fs.create_dataset("SelectionMatrix", data=matrix)
        fs.create_dataset(
            "ComputeIn2d", data=np.array(in_2d if in_2d is not None else [0] * 7, bool)
        )
        pc = f.create_group("PixelClassification")
        if names is not None:
            pc.create_dataset("LabelNames", data=[n.encode() for n in names])
            pc.create_dataset("LabelColors", data=np.array(colours, np.int64))
            pc.create_dataset("PmapColors", data=np.array(colours, np.int64))
        sets = pc.create_group("LabelSets")
        for i, lane in enumerate(lanes):
            group = sets.create_group(f"labels{i:03d}")
            for b, (slicing, block) in enumerate(lane.get("blocks", [])):
                ds = group.create_dataset(f"block{b:04d}", data=block)
                text = "[" + ",".join(f"{s.start}:{s.stop}" for s in slicing) + "]"
                ds.attrs["blockSlice"] = text
                if lane.get("block_axes"):
                    ds.attrs["axistags"] = axistags(lane["block_axes"])
        if marker is not None:  # what ilastik pickles: never to be read
            evil = pickle.dumps(_Touch(marker), 0)
            pc.create_dataset("ClassifierFactory", data=np.void(evil))
            forests = pc.create_group("ClassifierForests")
            forests.create_dataset("pickled_type", data=np.void(evil))
            pc.create_dataset("Bookmarks", data=np.void(evil))
    return path


def halves(shape=(40, 48), seed=0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    image = rng.normal(0, 0.05, shape).astype(np.float32)
    image[..., shape[-1] // 2 :] += 1
    return image


def scribbles_2d(shape=(40, 48)):
    """Two label blocks, as ilastik stores them: (y, x, c) with a blockSlice each."""
    left = np.zeros((10, 6, 1), np.uint8)
    left[:, 1:3] = 1
    right = np.zeros((10, 6, 1), np.uint8)
    right[2:8, 2:5] = 2
    return [
        ([slice(5, 15), slice(2, 8), slice(0, 1)], left),
        ([slice(20, 30), slice(36, 42), slice(0, 1)], right),
    ]


def test_two_embedded_lanes_import_and_train(tmp_path):
    marker = tmp_path / "unpickled.txt"
    lanes = [
        {
            "axes": "yxc",
            "data": halves()[..., None],
            "blocks": scribbles_2d(),
            "block_axes": "yxc",
            "nickname": "first",
            "resolution": {"y": 0.5, "x": 0.5},
        },
        {"axes": "yxc", "data": halves(seed=1)[..., None], "blocks": [], "nickname": "second"},
    ]
    path = write_ilp(tmp_path / "two.ilp", lanes, marker=marker)
    with import_ilastik(path, precompute=False, classifier_params={"n_trees": 10}) as session:
        assert session.image_names == ("first", "second")
        assert session.class_names == ["background", "cell"]
        assert [c.colour for c in session.classes] == ["#ff0000", "#00ff00"]
        assert session.images[0].dims == ("y", "x", "c")
        assert session.images[0].attrs["spacing"] == {"y": 0.5, "x": 0.5}
        expected = np.zeros((40, 48), np.uint8)
        expected[5:15, 3:5] = 1
        expected[22:28, 38:41] = 2
        assert_array_equal(session.labels(0), expected)
        assert not session.labels(1).any() and not session.can_undo
        assert session.features == brushlab.FeatureSet(
            {
                "gaussian_smoothing": [1.0],
                "difference_of_gaussians": [1.6],
                "hessian_of_gaussian_eigenvalues": [1.0],
            }
        )
        clf = session.train()
        assert clf.training["labelled_pixels"] == {"background": 20, "cell": 18}
        seg = session.predict_region(1).segmentation.values
        assert (seg[:, :20] == 1).mean() > 0.9 and (seg[:, 28:] == 2).mean() > 0.9
    assert not marker.exists(), "import_ilastik unpickled something"


@pytest.mark.parametrize(
    ("axes", "shape", "dims", "plane_index"),
    [
        ("zyxc", (3, 20, 24, 1), ("z", "y", "x", "c"), (1,)),
        ("tyxc", (2, 20, 24, 1), ("t", "y", "x", "c"), (1,)),
        ("cyx", (2, 20, 24), ("y", "x", "c"), ()),
        ("tzyxc", (1, 1, 20, 24, 1), ("y", "x", "c"), ()),  # singleton t, z dropped
        ("xyc", (24, 20, 1), ("y", "x", "c"), ()),
    ],
)
def test_axis_orders(tmp_path, axes, shape, dims, plane_index):
    data = np.random.default_rng(0).random(shape).astype(np.float32)
    # One block of label 2 at y 4:6, x 10:13 of the chosen plane, in the lane's axis order.
    sizes = dict(zip(axes, shape))
    slicing, block_shape = [], []
    for key in axes:
        sl = {"y": slice(4, 6), "x": slice(10, 13), "c": slice(0, 1)}.get(key)
        if sl is None:
            sl = slice(plane_index[0], plane_index[0] + 1) if plane_index else slice(0, 1)
        slicing.append(sl)
        block_shape.append(sl.stop - sl.start)
    label_axes = axes if "c" in axes else axes  # ilastik keeps the image's axes for labels
    if "c" in axes and sizes["c"] != 1:
        block_shape[axes.index("c")] = 1
    block = np.full(block_shape, 2, np.uint8)
    lanes = [{"axes": axes, "data": data, "blocks": [(slicing, block)], "block_axes": label_axes}]
    path = write_ilp(tmp_path / "axes.ilp", lanes)
    with import_ilastik(path, precompute=False) as session:
        image = session.images[0]
        assert image.dims == dims
        expected = brushlab.as_image(data, dims=axes)
        for d in ("t", "z"):
            if d in expected.dims and expected.sizes[d] == 1:
                expected = expected.isel({d: 0})
        assert_array_equal(image.values, expected.values)
        labels = session.labels(0)
        where = np.argwhere(labels)
        assert len(where) == 6 and (labels[tuple(where.T)] == 2).all()
        assert tuple(where[:, -2:].min(0)) == (4, 10) and tuple(where[:, -2:].max(0)) == (5, 12)
        if plane_index:
            assert set(where[:, 0]) == {plane_index[0]}


def test_referenced_raw_relative_absolute_moved_relinked(tmp_path):
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    tifffile.imwrite(data_dir / "a.tif", (halves() * 1000).astype(np.uint16))
    np.save(data_dir / "b.npy", halves(seed=3))
    project_dir = tmp_path / "projects"
    project_dir.mkdir()
    lanes = [
        {
            "axes": "yx",
            "data": halves(),
            "file": "../data/a.tif",
            "blocks": scribbles_2d(),
            "block_axes": "yxc",
        },
        {"axes": "yx", "data": halves(), "file": str(data_dir / "b.npy")},
    ]
    path = write_ilp(project_dir / "ref.ilp", lanes)
    with import_ilastik(path, precompute=False) as session:
        assert session.image_names == ("raw0", "raw1")
        assert_array_equal(session.images[0].values, (halves() * 1000).astype(np.uint16))
        assert session.images[1].attrs["source"] == str(data_dir / "b.npy")
        assert session.label_counts() == {"background": 20, "cell": 18}
    moved = tmp_path / "moved"
    shutil.move(data_dir, moved)
    with pytest.raises(ProjectError, match="a.tif") as info:
        import_ilastik(path)
    assert "relink" in str(info.value) and "search_paths" in str(info.value)
    with import_ilastik(path, search_paths=[moved], precompute=False) as session:
        assert session.images[1].shape == (40, 48)
    relink = {"../data/a.tif": moved / "a.tif", str(data_dir / "b.npy"): moved / "b.npy"}
    with import_ilastik(path, relink=relink, precompute=False) as session:
        assert session.label_counts()["cell"] == 18


def test_feature_selection_mapping_and_compute_in_2d(tmp_path):
    matrix = np.zeros((6, 7), bool)
    matrix[0, 0] = matrix[0, 3] = True  # smoothing 0.3 and 1.6
    matrix[1, 0] = True  # LoG at 0.3: brushlab refuses derivatives below 0.5
    matrix[4, 4] = matrix[5, 6] = True  # structure tensor 3.5, Hessian 10
    in_2d = [0, 0, 0, 1, 1, 0, 0]
    volume = np.random.default_rng(0).random((3, 16, 16)).astype(np.float32)
    lanes = [{"axes": "zyx", "data": volume}]
    path = write_ilp(tmp_path / "f.ilp", lanes, matrix=matrix, in_2d=in_2d)
    with pytest.warns(IlastikImportWarning, match="LaplacianOfGaussian at sigma 0.3"):
        session = import_ilastik(path, precompute=False)
    with session:
        assert session.features == brushlab.FeatureSet(
            {
                "gaussian_smoothing": [0.3, 1.6],
                "structure_tensor_eigenvalues": [3.5],
                "hessian_of_gaussian_eigenvalues": [10.0],
            },
            compute_in_2d=[1.6, 3.5],
        )


def test_missing_label_names_get_ilastik_defaults(tmp_path):
    block = np.zeros((2, 2, 1), np.uint8)
    block[0, 0], block[1, 1] = 1, 3
    lanes = [
        {
            "axes": "yxc",
            "data": halves()[..., None],
            "blocks": [([slice(0, 2), slice(0, 2), slice(0, 1)], block)],
        }
    ]
    path = write_ilp(tmp_path / "old.ilp", lanes, names=None)
    with import_ilastik(path, precompute=False) as session:
        assert session.class_names == ["Label 1", "Label 2", "Label 3"]
        assert session.classes[0].colour == "#ff0000"


@pytest.mark.parametrize(
    "workflow", ["Object Classification (from prediction image)", "Autocontext (2-stage)"]
)
def test_other_workflows_are_refused(tmp_path, workflow):
    path = write_ilp(tmp_path / "o.ilp", [{"axes": "yx", "data": halves()}], workflow=workflow)
    with pytest.raises(ProjectError, match="Pixel Classification") as info:
        import_ilastik(path)
    assert workflow in str(info.value)


def test_bad_files(tmp_path):
    with pytest.raises(ProjectError, match="not found"):
        import_ilastik(tmp_path / "missing.ilp")
    junk = tmp_path / "junk.ilp"
    junk.write_bytes(b"not hdf5 at all" * 10)
    with pytest.raises(ProjectError, match="not an HDF5"):
        import_ilastik(junk)
    good = write_ilp(tmp_path / "good.ilp", [{"axes": "yx", "data": halves()}])
    truncated = tmp_path / "truncated.ilp"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(BrushlabError):
        import_ilastik(truncated)
    plain = tmp_path / "plain.h5"
    with h5py.File(plain, "w") as f:
        f["data"] = np.zeros((4, 4))
    with pytest.raises(ProjectError, match="not an ilastik project"):
        import_ilastik(plain)
    old = tmp_path / "old05.ilp"
    with h5py.File(old, "w") as f:
        f["ilastikVersion"] = 0.5
        f.create_group("DataSets")
    with pytest.raises(ProjectError, match="0.5"):
        import_ilastik(old)


def test_block_outside_the_image_is_an_error(tmp_path):
    block = np.ones((2, 2, 1), np.uint8)
    lanes = [
        {
            "axes": "yxc",
            "data": halves()[..., None],
            "blocks": [([slice(39, 41), slice(0, 2), slice(0, 1)], block)],
        }
    ]
    path = write_ilp(tmp_path / "bad.ilp", lanes)
    with pytest.raises(ProjectError, match="outside|fit|match"):
        import_ilastik(path)


def test_exported_at_top_level():
    assert brushlab.import_ilastik is import_ilastik
