"""Import an ilastik Pixel Classification project (.ilp) as a brushlab Session.

Layout read (ilastik 1.x; groups named as ilastik's serializers write them)::

    /workflowName                          "Pixel Classification"
    /Input Data/infos/lane0000/Raw Data/   location ("ProjectInternal" | "FileSystem"),
                                           filePath, datasetId, nickname, axistags (JSON)
    /Input Data/local_data/<datasetId>     embedded pixels (attrs: axistags)
    /FeatureSelections/                    FeatureIds, Scales, SelectionMatrix, ComputeIn2d
    /PixelClassification/LabelNames        class names;  LabelColors: (K, 3) RGB
    /PixelClassification/LabelSets/labels000/block0000
                                           a block of labels (0 = none, 1..K), attrs
                                           blockSlice "[a:b,c:d,...]" and axistags

The pickled parts (``ClassifierForests``, ``ClassifierFactory``, ``Bookmarks``) are never
opened: brushlab trains its own forest on the same labels with ``session.train()``.
"""

from __future__ import annotations

import json
import os
import re
import warnings
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import h5py
import numpy as np
import xarray as xr

from brushlab.errors import BrushlabError, FeatureError, ProjectError
from brushlab.features import FeatureSet
from brushlab.ilastik._features import IlastikImportWarning, feature_set
from brushlab.ilastik._h5 import (
    axis_keys,
    axis_spacing,
    check_stored_inside,
    field,
    numbers,
    parse_slicing,
    string,
    strings,
)

if TYPE_CHECKING:
    from brushlab.session import Session

__all__ = ["import_ilastik"]

PathLike = str | os.PathLike[str]
WORKFLOW = "Pixel Classification"
MAX_LABEL = 65535  # labels are uint16
_DEFAULT_COLOURS = [
    (255, 0, 0),
    (0, 255, 0),
    (0, 0, 255),
    (255, 255, 0),
    (255, 0, 255),
    (0, 255, 255),
    (128, 128, 128),
    (255, 105, 180),
    (255, 165, 0),
    (240, 230, 140),
]  # ilastik's, for projects that stored none


def import_ilastik(
    path: PathLike,
    *,
    relink: Mapping[PathLike, PathLike] | None = None,
    search_paths: Iterable[PathLike] = (),
    precompute: bool = True,
    **session_options: Any,
) -> Session:
    """Read an ilastik Pixel Classification project into a new :class:`Session`.

    Images (embedded in the project or referenced by path), labels, class names
    and colours and the feature selection come over; ``session.train()`` then
    trains brushlab's random forest (ilastik's kind of classifier; pass
    ``classifier_params={"model": "boosted_trees"}`` for brushlab's faster default)
    on the same labels with the equivalent :class:`FeatureSet`. Nothing in the
    file is unpickled: ilastik's own classifier is not read.

    Parameters
    ----------
    path : str or path-like
        The ``.ilp`` file.
    relink : mapping, optional
        ``{path as stored in the project (or its absolute form): new path}`` for raw
        data files that moved.
    search_paths : iterable of path, optional
        Folders searched by file name for raw data files not found where the project
        says (absolute, or relative to the project file's folder).
    precompute : bool, default True
        Passed to :class:`Session`.
    **session_options
        Other :class:`Session` keyword arguments (``classifier_params``...).

    Returns
    -------
    Session
        One image per lane (named by its ilastik nickname), singleton ``t``/``z``
        axes dropped.

    Raises
    ------
    ProjectError
        If the file is not HDF5, not an ilastik project, of another workflow
        (Object Classification, Autocontext...), from ilastik 0.5, damaged (the
        message names the field), or a raw data file cannot be found (the message
        names the paths tried); also if the parts read hold HDF5 links, virtual
        datasets or datasets with external storage, which could read other files.

    Examples
    --------
    >>> import brushlab                                         # doctest: +SKIP
    >>> session = brushlab.import_ilastik("MyProject.ilp")       # doctest: +SKIP
    >>> clf = session.train()                                   # doctest: +SKIP
    """
    from brushlab.session import Session

    path = Path(path)
    if not path.is_file():
        raise ProjectError(f"ilastik project not found: {path} (cwd: {Path.cwd()})")
    relinks = {str(k): Path(v) for k, v in (relink or {}).items()}
    folders = [Path(p) for p in search_paths]
    try:
        handle = h5py.File(path, "r")
    except OSError as exc:
        raise ProjectError(
            f"{path} is not a readable ilastik project: not an HDF5 file, or truncated ({exc})"
        ) from exc
    with handle as f:
        try:
            check_stored_inside(f, path)
            _check_workflow(f, path)
            label_names = _label_names(f, path)
            top = len(label_names) if label_names else MAX_LABEL
            lanes = _lanes(f, path, relinks, folders, top)
            classes = _classes(f, path, lanes, label_names)
            features = _features(f, path)
        except BrushlabError:
            raise
        except (
            KeyError,
            TypeError,
            ValueError,
            IndexError,
            AttributeError,
            OSError,
            RuntimeError,
            SystemError,  # h5py, when a damaged heap breaks a link traversal
        ) as exc:
            # h5py reports damaged objects this way; the checks above name known fields
            raise ProjectError(
                f"{path} is a damaged ilastik project ({type(exc).__name__}: {exc}); open it "
                "in ilastik and save it again, or use an intact copy"
            ) from exc
    # ilastik trains a random forest: so does the imported session unless told otherwise.
    asked = dict(session_options.pop("classifier_params", None) or {})
    params = {"model": "random_forest", **asked}
    session = Session(
        None, classes=classes, features=features, precompute=precompute,
        classifier_params=params, **session_options,
    )
    names: set[str] = set()
    for lane in lanes:
        name = _unique(lane["name"], names)
        index = session.add_image(lane["image"], name=name)
        if lane["labels"].any():
            session.import_labels(index, lane["labels"])
    session.clear_undo_history()  # importing is not an edit
    return session


def _unique(name: str, taken: set[str]) -> str:
    out, n = name, 2
    while out in taken:
        out, n = f"{name} ({n})", n + 1
    taken.add(out)
    return out


def _check_workflow(f: h5py.File, path: Path) -> None:
    if "workflowName" in f:
        name = string(f["workflowName"], path)
    elif "PixelClassification" in f:
        name = WORKFLOW  # early 1.x projects did not store the name
    elif "DataSets" in f and "Input Data" not in f:
        raise ProjectError(
            f"{path} is an ilastik 0.5 project: open it in ilastik 1.x and save it there, "
            "then import that"
        )
    else:
        raise ProjectError(f"{path} is an HDF5 file but not an ilastik project (no workflowName)")
    if name != WORKFLOW:
        raise ProjectError(
            f"{path} is an ilastik {name!r} project; brushlab imports {WORKFLOW!r} projects "
            "only (for Autocontext or Object Classification, import the pixel classification "
            "project they started from)"
        )
    if "Input Data" not in f or "infos" not in f["Input Data"]:
        raise ProjectError(f"{path}: ilastik project without input data (no 'Input Data/infos')")


# -- images -------------------------------------------------------------------------------
def _lanes(
    f: h5py.File, path: Path, relinks: dict[str, Path], folders: list[Path], max_label: int
) -> list[dict[str, Any]]:
    infos = field(f, "Input Data/infos", path)
    if not isinstance(infos, h5py.Group):
        raise ProjectError(f"{path}: /Input Data/infos is not a group of lanes")
    lanes: list[dict[str, Any]] = []
    for lane_name in sorted(infos, key=_index_of):
        group = infos[lane_name]
        if not isinstance(group, h5py.Group):
            raise ProjectError(f"{path}: lane {group.name} is not a group")
        info = group if "location" in group else group.get("Raw Data")
        if not isinstance(info, h5py.Group) or "location" not in info:
            raise ProjectError(f"{path}: lane {lane_name!r} has no raw data")
        data, keys, spacing, source = _raw(f, info, path, relinks, folders, lane_name)
        image, squeezed = _canonical(data, keys, spacing, source, path)
        nick = string(info["nickname"], path) if "nickname" in info else ""
        lanes.append(
            {
                "name": nick or Path(source).stem or lane_name,
                "image": image,
                "keys": keys,
                "squeezed": squeezed,
            }
        )
    label_sets = f.get("PixelClassification/LabelSets")
    groups = sorted(label_sets, key=_index_of) if isinstance(label_sets, h5py.Group) else []
    for i, lane in enumerate(lanes):
        shape = tuple(n for d, n in lane["image"].sizes.items() if d != "c")
        lane["labels"] = np.zeros(shape, np.uint16)
        if i < len(groups):
            _read_labels(label_sets[groups[i]], lane, path, max_label)
    return lanes


def _index_of(name: str) -> int:
    match = re.search(r"(\d+)", name)
    return int(match[1]) if match else 0


def _raw(
    f: h5py.File,
    info: h5py.Group,
    path: Path,
    relinks: dict[str, Path],
    folders: list[Path],
    lane: str,
) -> tuple[np.ndarray, str, dict[str, float], str]:
    location = string(field(info, "location", path), path)
    tags = string(info["axistags"], path) if "axistags" in info else None
    if tags is None and "axisorder" in info:
        axes = [{"key": k} for k in string(info["axisorder"], path)]
        tags = json.dumps({"axes": axes})
    if location == "ProjectInternal":
        dataset_id = string(field(info, "datasetId", path), path)
        if not dataset_id or "/" in dataset_id or dataset_id in (".", ".."):
            raise ProjectError(f"{path}: {lane} has the datasetId {dataset_id!r}, not a name")
        local_data = f.get("Input Data/local_data")
        if not isinstance(local_data, h5py.Group) or dataset_id not in local_data:
            raise ProjectError(f"{path} is damaged: the embedded data of {lane} is missing")
        local = field(local_data, dataset_id, path)
        tags = local.attrs.get("axistags", tags)
        data = numbers(local, path)
        source = f"{path}/Input Data/local_data/{dataset_id}"
    elif location == "FileSystem":
        stored = string(field(info, "filePath", path), path)
        # ilastik marks even one HDF5 dataset "fromstack"; a real stack lists several
        # files (";" or ":" between them, a Windows drive letter aside) or a glob.
        if "*" in stored or re.search(r";|(?<!^[A-Za-z]):", stored):
            raise ProjectError(
                f"{path}: {lane} reads an image stack ({stored!r}); brushlab imports single "
                "files: combine the stack into one TIFF and relink it"
            )
        file = _find_raw(stored, path, relinks, folders, lane)
        data, source = _read_file(file, tags, path), str(file)
    else:
        raise ProjectError(f"{path}: {lane} has data location {location!r}, not readable here")
    if tags is None:
        raise ProjectError(f"{path}: {lane} has no axistags; re-save the project in ilastik 1.3+")
    keys = axis_keys(tags, path, lane)
    if len(keys) != data.ndim:
        raise ProjectError(f"{path}: {lane} has axes {keys!r} but {data.ndim}D data {data.shape}")
    return data, keys, axis_spacing(tags), source


def _find_raw(
    stored: str, project: Path, relinks: dict[str, Path], folders: list[Path], lane: str
) -> Path:
    from brushlab._core.relink import first_existing, relink_of, search_name

    windows_absolute = re.match(r"^[A-Za-z]:[/\\]", stored) is not None
    absolute = os.path.isabs(stored) or windows_absolute
    candidate = Path(stored) if absolute else project.parent / stored
    relinked = relink_of([stored, str(candidate), str(candidate.resolve())], relinks)
    if relinked is not None:
        return relinked
    found, tried = first_existing([candidate], search_name(stored), folders)
    if found is not None:
        return found
    listed = "\n  ".join(str(p) for p in tried)
    raise ProjectError(
        f"the raw data of {lane} in {project} was not found; tried:\n  {listed}\n"
        f"If it moved, pass import_ilastik(..., relink={{{stored!r}: 'new/path'}}) or "
        "search_paths=['folder/with/it']"
    )


def _read_file(file: Path, tags: str | None, project: Path) -> np.ndarray:
    from brushlab.io import imread

    keys = axis_keys(tags, project, str(file)) if tags is not None else None
    try:
        image = imread(file, dims=keys) if keys else imread(file)
    except BrushlabError:
        try:
            image = imread(file)
        except BrushlabError as exc:
            raise ProjectError(f"cannot read the raw data {file}: {exc}") from exc
    if keys and list(image.dims) != sorted(keys, key="tzyxc".index):
        raise ProjectError(f"{file} has dims {image.dims}, the ilastik project says {keys!r}")
    # Back to ilastik's axis order, which labels' blockSlice follows.
    return np.asarray(image.transpose(*keys).data) if keys else np.asarray(image.data)


def _canonical(
    data: np.ndarray, keys: str, spacing: dict[str, float], source: str, path: Path
) -> tuple[xr.DataArray, list[str]]:
    from brushlab.io import as_image

    try:
        image = as_image(xr.DataArray(data, dims=list(keys), attrs={"spacing": spacing}))
    except BrushlabError as exc:
        raise ProjectError(f"{path}: the raw data {source} is not a usable image: {exc}") from exc
    squeezed = [str(d) for d in ("t", "z") if d in image.dims and image.sizes[d] == 1]
    if squeezed:
        image = image.isel({d: 0 for d in squeezed})
    image.attrs["source"] = source
    return image, squeezed


# -- labels ---------------------------------------------------------------------------------
def _read_labels(group: Any, lane: dict[str, Any], path: Path, max_label: int) -> None:
    labels: np.ndarray = lane["labels"]
    dims = [str(d) for d in lane["image"].dims if d != "c"]
    if not isinstance(group, h5py.Group):
        raise ProjectError(f"{path}: {group.name} is not a group of label blocks")
    for block_name in group:
        item = group[block_name]
        ds = item["data"] if isinstance(item, h5py.Group) and "data" in item else item
        where = f"label block {item.name}"
        slicing = parse_slicing(item.attrs.get("blockSlice", ""), path, where)
        tags = item.attrs.get("axistags")
        keys = axis_keys(tags, path, where) if tags is not None else lane["keys"]
        block = label_values(numbers(ds, path), max_label, path, where)
        if "c" not in keys and block.ndim == len(keys) + 1:
            keys += "c"  # ilastik appends a channel axis to label arrays
        if len(keys) != block.ndim or len(slicing) != block.ndim:
            raise ProjectError(
                f"{path}: {where} is {block.ndim}D {block.shape} with axes {keys!r} and "
                f"blockSlice of {len(slicing)} axes"
            )
        index, dropped = {}, []
        for axis, (key, sl) in enumerate(zip(keys, slicing)):
            if sl.stop - sl.start != block.shape[axis]:
                raise ProjectError(f"{path}: {where} does not match its blockSlice {slicing}")
            if key in dims:
                index[key] = sl
            elif sl.stop - sl.start != 1 or (key != "c" and sl.start != 0):
                raise ProjectError(f"{path}: {where} spans {key}={sl}, outside the image")
            else:
                dropped.append(axis)
        if set(index) != set(dims):
            raise ProjectError(f"{path}: {where} has axes {keys!r}, the image {dims}")
        block = np.squeeze(block, axis=tuple(dropped))
        present = [k for k in keys if k in dims]
        block = block.transpose([present.index(d) for d in dims])
        target = tuple(index[d] for d in dims)
        try:
            view = labels[target]
            hit = block != 0
            view[hit] = block[hit]
        except (IndexError, ValueError) as exc:
            raise ProjectError(f"{path}: {where} lies outside its image ({exc})") from exc


def label_values(block: np.ndarray, max_label: int, path: Path, where: str) -> np.ndarray:
    """Check a label block (whole numbers 0..``max_label``) and return it as uint16.

    Raises
    ------
    ProjectError
        Naming the block and the first bad value: NaN or infinite, fractional,
        negative, or above the number of classes (65535 without label names).
    """
    if block.dtype.kind == "b" or block.size == 0:
        return block.astype(np.uint16)
    bad: Any = None
    if block.dtype.kind == "f":
        finite = np.isfinite(block)
        if not finite.all():
            bad = block[~finite].flat[0]
        else:
            frac = block != np.floor(block)
            bad = block[frac].flat[0] if frac.any() else None
    if bad is None:
        low, high = block.min(), block.max()
        bad = low if low < 0 else high if high > max_label else None
    if bad is not None:
        value = np.asarray(bad).item()
        raise ProjectError(
            f"{path}: {where} holds the label value {value!r}; ilastik labels are whole numbers "
            f"0..{max_label} (0 = unlabelled, then one per class). The project is damaged: "
            "open an intact copy, or delete that label block in ilastik and save again"
        )
    return block.astype(np.uint16)


# -- classes and features -----------------------------------------------------------------------
def _label_names(f: h5py.File, path: Path) -> list[str]:
    pc = f.get("PixelClassification")
    if not isinstance(pc, h5py.Group) or "LabelNames" not in pc:
        return []
    if pc["LabelNames"].attrs.get("isEmpty", False):
        return []
    names = strings(pc["LabelNames"], path)
    if len(names) > MAX_LABEL:
        raise ProjectError(f"{path}: {len(names)} label names, more than {MAX_LABEL} classes")
    return names


def _classes(
    f: h5py.File, path: Path, lanes: list[dict[str, Any]], names: list[str]
) -> list[tuple[str, str]]:
    pc = f.get("PixelClassification")
    colours: list[Any] = []
    if isinstance(pc, h5py.Group) and names:
        if "LabelColors" in pc and not pc["LabelColors"].attrs.get("isEmpty", False):
            stored = numbers(pc["LabelColors"], path)
            if stored.size % 3 or not np.isfinite(stored).all():
                raise ProjectError(
                    f"{path}: /PixelClassification/LabelColors holds {stored.shape} values, not "
                    "finite (r, g, b) triples; the project is damaged"
                )
            colours = stored.reshape(-1, 3).tolist()
    top = max((int(lane["labels"].max()) for lane in lanes), default=0)
    names = names + [f"Label {i}" for i in range(len(names) + 1, max(top, len(names), 2) + 1)]
    out = []
    for i, name in enumerate(names):
        rgb = colours[i] if i < len(colours) else _DEFAULT_COLOURS[i % len(_DEFAULT_COLOURS)]
        out.append((name, "#" + "".join(f"{int(v) & 255:02x}" for v in rgb)))
    return out


def _features(f: h5py.File, path: Path) -> FeatureSet:
    group = f.get("FeatureSelections")
    needed = ("FeatureIds", "Scales", "SelectionMatrix")
    if not isinstance(group, h5py.Group) or any(k not in group for k in needed):
        warnings.warn(
            f"{path} stores no feature selection: using FeatureSet.default()",
            IlastikImportWarning,
            stacklevel=4,
        )
        return FeatureSet.default()
    ids = strings(field(group, "FeatureIds", path), path)
    scales = [float(s) for s in numbers(field(group, "Scales", path), path).ravel()]
    matrix = numbers(field(group, "SelectionMatrix", path), path)
    if matrix.ndim != 2 or matrix.shape != (len(ids), len(scales)):
        raise ProjectError(
            f"{path}: the feature selection matrix is {matrix.shape}, but there are "
            f"{len(ids)} features and {len(scales)} scales"
        )
    in_2d = None
    if "ComputeIn2d" in group:
        in_2d = [bool(v) for v in numbers(group["ComputeIn2d"], path).ravel()]
    try:
        return feature_set(ids, scales, matrix, in_2d)
    except FeatureError as exc:
        raise ProjectError(
            f"{path}: the feature selection (FeatureSelections/Scales {scales}) cannot be "
            f"used: {exc}"
        ) from exc
