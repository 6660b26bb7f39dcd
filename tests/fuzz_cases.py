"""Seeded mutation fuzzing of brushlab's file loaders (run by tests/test_fuzz.py in a subprocess).

``python -m tests.fuzz_cases WORKDIR LOADER[,LOADER...] CASES SEED`` builds valid files
of each kind in ``WORKDIR/seeds``, then writes ``CASES`` mutants per loader (bytes flipped,
overwritten, inserted or cut; JSON/YAML/HDF5 fields replaced with hostile values; zip
members rewritten with matching checksums so deeper checks are reached) and loads each.
One JSON line per case goes to ``WORKDIR/results.jsonl``: ``ok`` (the result passed the
loader's checks), ``brushlab`` (a BrushlabError) or ``other`` with the exception and
where it was raised. The caller sets the memory cap (``RLIMIT_AS``) and the time limit.
"""

from __future__ import annotations

import copy
import hashlib
import io
import json
import os
import random
import resource
import signal
import sys
import traceback
import warnings
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

LOADERS = ("model", "project", "ilastik", "package", "rdf", "tiff", "png", "npy", "h5")
CASE_SECONDS = 10  # a case running longer counts as a hang

HOSTILE: list[Any] = [
    None, True, 0, -1, 1, 2, 3, 255, 65535, 65536, 2**31, 2**63, -(2**63), 1.5, -0.0, 1e308,
    -1e308, float("nan"), float("inf"), "", "x", "../../../../escape.txt", "/etc/hostname",
    "a" * 5000, "é\x00", [], [None], [0, 0], [[[[[]]]]], {}, {"a": 1}, list(range(40)),
    "1e400", "0x10", "<f8", "|O", "int64", "yx", "tzyxc", "qq",
]


class CaseTimeout(Exception):
    """A case ran past CASE_SECONDS."""


# -- seed files ----------------------------------------------------------------------------
def _tiny_classifier(tmp: Path) -> Path:
    import brushlab

    rng = np.random.default_rng(0)
    image = rng.random((24, 24)).astype(np.float32)
    labels = np.zeros(image.shape, np.uint8)
    labels[:4], labels[-4:] = 1, 2
    clf = brushlab.PixelClassifier(
        brushlab.FeatureSet({"gaussian": [1.0], "hessian": [1.0]}),
        n_trees=2,
        max_depth=4,
        random_state=0,
    ).fit(image, labels, class_names=["bg", "fg"])
    return clf.save(tmp / "model.brushlab")


def build_seeds(seeds: Path) -> dict[str, Path]:
    """Write one valid file (or folder) per loader; return them by loader."""
    import h5py
    import imageio.v3 as iio
    import tifffile

    import brushlab
    from tests.dl_packages import simple_package
    from tests.test_ilastik_import import scribbles_2d, write_ilp

    seeds.mkdir(parents=True, exist_ok=True)
    out: dict[str, Path] = {"model": _tiny_classifier(seeds)}
    session = brushlab.Session(
        np.random.default_rng(1).random((20, 24)).astype(np.float32),
        classes=["a", "b"],
        features=brushlab.FeatureSet({"gaussian": [1.0]}),
        classifier_params={"n_trees": 2, "random_state": 0},
        precompute=False,
    )
    session.paint(0, [(3, 3), (3, 12)], "a", radius=1)
    session.paint(0, [(15, 3), (15, 20)], "b", radius=1)
    session.train()  # the project then holds a classifier member too
    out["project"] = session.save(seeds / "project.blproj")
    session.close()
    data = np.random.default_rng(2).random((40, 48, 1)).astype(np.float32)
    lanes = [{"axes": "yxc", "data": data, "blocks": scribbles_2d(), "block_axes": "yxc"}]
    out["ilastik"] = write_ilp(seeds / "project.ilp", lanes)
    package = simple_package(seeds / "package", shape=(16, 16))
    out["rdf"] = package
    zipped = seeds / "package.zip"
    with zipfile.ZipFile(zipped, "w") as zf:
        for file in sorted(package.iterdir()):
            zf.write(file, file.name)
    out["package"] = zipped
    pixels = (np.random.default_rng(3).random((16, 20)) * 200).astype(np.uint8)
    tifffile.imwrite(seeds / "image.tif", pixels, imagej=True, metadata={"axes": "YX"})
    out["tiff"] = seeds / "image.tif"
    iio.imwrite(seeds / "image.png", pixels)
    out["png"] = seeds / "image.png"
    np.save(seeds / "image.npy", pixels)
    out["npy"] = seeds / "image.npy"
    with h5py.File(seeds / "image.h5", "w") as f:
        ds = f.create_dataset("image", data=pixels, chunks=(8, 10))
        ds.attrs["dims"] = "yx"
    out["h5"] = seeds / "image.h5"
    return out


# -- mutations -----------------------------------------------------------------------------
def mutate_bytes(data: bytes, rng: random.Random, *, header: int | None = None) -> bytes:
    """Flip, overwrite, insert, cut or duplicate bytes (within ``header`` bytes if given)."""
    buf = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        if not buf:
            break
        pos = rng.randrange(min(len(buf), header) if header else len(buf))
        kind = rng.random()
        if kind < 0.35:
            buf[pos] ^= 1 << rng.randrange(8)
        elif kind < 0.6:
            value = rng.choice([0, 0xFF, 0x7F, 0x80, 0x01, 0x41])
            for i in range(pos, min(len(buf), pos + rng.choice([1, 2, 4, 8]))):
                buf[i] = value
        elif kind < 0.75:
            buf[pos:pos] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 16)))
        elif kind < 0.9:
            del buf[pos : pos + rng.randint(1, 64)]
        else:
            return bytes(buf[: rng.randrange(len(buf) + 1)])  # truncated
    return bytes(buf)


def mutate_tree(tree: Any, rng: random.Random) -> Any:
    """Replace, delete or add one node of a JSON/YAML tree with a hostile value."""
    tree = copy.deepcopy(tree)
    for _ in range(rng.randint(1, 3)):
        paths = _paths(tree, [])
        path = rng.choice(paths[1:] or paths)
        if not path:
            return rng.choice(HOSTILE)
        parent = tree
        for key in path[:-1]:
            parent = parent[key]
        key = path[-1]
        roll = rng.random()
        if roll < 0.15 and isinstance(parent, dict):
            del parent[key]
        elif roll < 0.25 and isinstance(parent, list):
            parent.insert(key, copy.deepcopy(rng.choice(HOSTILE)))
        elif roll < 0.35 and isinstance(parent[key], (int, float)) and not isinstance(
            parent[key], bool
        ):
            parent[key] = parent[key] * rng.choice([-1, 0, 10, 1e6, 1e-6, 2**20])
        else:
            parent[key] = copy.deepcopy(rng.choice(HOSTILE))
    return tree


def _paths(node: Any, path: list[Any]) -> list[list[Any]]:
    out = [path]
    if isinstance(node, dict):
        for k, v in node.items():
            out += _paths(v, [*path, k])
    elif isinstance(node, list):
        for i, v in enumerate(node[:50]):
            out += _paths(v, [*path, i])
    return out


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def mutate_zip(path: Path, out: Path, rng: random.Random, document: str) -> str:
    """Mutate a checksummed zip container: the document's fields, or a member (rehashed)."""
    with zipfile.ZipFile(path) as zf:
        members = {i.filename: zf.read(i) for i in zf.infolist()}
    roll = rng.random()
    if roll < 0.25:
        out.write_bytes(mutate_bytes(path.read_bytes(), rng))
        return "bytes"
    doc = json.loads(members[document])
    if roll < 0.6:
        members[document] = json.dumps(mutate_tree(doc, rng)).encode()
        what = "document"
    else:
        arrays = [n for n in members if n.endswith(".npy")]
        name = rng.choice(arrays)
        array = np.load(io.BytesIO(members[name]), allow_pickle=False)
        new = _mutate_array(array, rng)
        buf = io.BytesIO()
        np.save(buf, new, allow_pickle=False)
        members[name] = buf.getvalue()
        table = doc.get("members") or doc.get("arrays") or {}
        key = name if name in table else name[: -len(".npy")]
        if isinstance(table.get(key), dict):  # consistent manifest: reach the deeper checks
            table[key].update(
                {"sha256": _sha(members[name]), "dtype": new.dtype.str, "shape": list(new.shape)}
            )
        members[document] = json.dumps(doc).encode()
        what = f"array {name}"
    with zipfile.ZipFile(out, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return what


def _mutate_array(array: np.ndarray, rng: random.Random) -> np.ndarray:
    roll = rng.random()
    flat = array.reshape(-1).copy()
    if roll < 0.4 and flat.size:
        values = [-1, 0, 1, 2, 3, 255, 65535, 2**31 - 1, 10**6]
        if flat.dtype.kind == "f":
            values += [float("nan"), float("inf"), -float("inf"), 1e30, 0.5]
        for _ in range(rng.randint(1, 5)):
            try:
                flat[rng.randrange(flat.size)] = rng.choice(values)
            except (OverflowError, ValueError):
                flat[rng.randrange(flat.size)] = 0
        return flat.reshape(array.shape)
    if roll < 0.6:
        return flat[: rng.randrange(flat.size + 1)]
    if roll < 0.8:
        return flat.astype(rng.choice([np.float64, np.int8, np.uint16, np.float16, np.bool_]))
    return np.zeros((0,) + array.shape[1:], array.dtype) if array.ndim else flat[:0]


def mutate_rdf(folder: Path, out: Path, rng: random.Random) -> str:
    """Copy a package folder with a mutated rdf.yaml (fields or text)."""
    import shutil

    import yaml

    shutil.copytree(folder, out)
    text = (folder / "rdf.yaml").read_text()
    if rng.random() < 0.3:
        (out / "rdf.yaml").write_bytes(mutate_bytes(text.encode(), rng))
        return "bytes"
    tree = mutate_tree(yaml.safe_load(text), rng)
    (out / "rdf.yaml").write_text(yaml.safe_dump(tree, sort_keys=False, allow_unicode=True))
    return "fields"


ILP_FIELDS = [
    "workflowName",
    "Input Data/infos/lane0000/Raw Data/location",
    "Input Data/infos/lane0000/Raw Data/datasetId",
    "Input Data/infos/lane0000/Raw Data/axistags",
    "Input Data/infos/lane0000/Raw Data/nickname",
    "Input Data/infos/lane0000/Raw Data/filePath",
    "Input Data/infos/lane0000/Raw Data/fromstack",
    "Input Data/local_data/00000000-dataset",
    "FeatureSelections/FeatureIds",
    "FeatureSelections/Scales",
    "FeatureSelections/SelectionMatrix",
    "FeatureSelections/ComputeIn2d",
    "PixelClassification/LabelNames",
    "PixelClassification/LabelColors",
    "PixelClassification/LabelSets/labels000/block0000",
    "PixelClassification/LabelSets/labels000/block0001",
    "PixelClassification/LabelSets",
    "Input Data/infos",
]
_ILP_VALUES: list[Any] = [
    b"", b"ProjectInternal", b"FileSystem", b"../../etc", b"{not json", b"[0:1,2:3]",
    np.array([np.nan, -1.0, 1e30]), np.array([[1, 2], [3, 4]], np.int64), np.zeros((0,)),
    np.array(70000, np.int64), np.array([-1], np.int16), np.full((10, 6, 1), 65535, np.uint16),
    np.full((10, 6, 1), 1.5, np.float32), np.array([b"x", b"y", b"z"]), np.ones((3, 7), bool),
    np.array([1e6, 0.3]), np.array(["é".encode()]), np.zeros((2, 2, 2, 2, 2, 2), np.uint8),
]


def mutate_ilp(path: Path, out: Path, rng: random.Random) -> str:
    """Mutate an .ilp: whole-file bytes, or HDF5 datasets/attributes replaced."""
    import shutil

    import h5py

    if rng.random() < 0.25:
        out.write_bytes(mutate_bytes(path.read_bytes(), rng))
        return "bytes"
    shutil.copy(path, out)
    done = []
    with h5py.File(out, "a") as f:
        for _ in range(rng.randint(1, 3)):
            name = rng.choice(ILP_FIELDS)
            if name not in f:
                continue
            roll = rng.random()
            obj = f[name]
            if roll < 0.2:
                del f[name]
                done.append(f"del {name}")
            elif roll < 0.45 and len(obj.attrs):
                attr = rng.choice(sorted(obj.attrs))
                value = rng.choice(["", "[0:1]", "[5:15,2:8,0:1]", "[0:99999,0:1,0:1]",
                                    '{"axes": []}', '{"axes": [{"key": "q"}]}', "{bad"])
                obj.attrs[attr] = value
                done.append(f"attr {name}@{attr}={value!r}")
            else:
                attrs = dict(obj.attrs)
                del f[name]
                value = rng.choice(_ILP_VALUES)
                f.create_dataset(name, data=value)
                f[name].attrs.update(attrs)
                done.append(f"set {name}")
    return "; ".join(done) or "none"


def mutate_h5_image(path: Path, out: Path, rng: random.Random) -> str:
    """Mutate an HDF5 image: header bytes, or its dims attribute / dataset."""
    import shutil

    import h5py

    if rng.random() < 0.5:
        out.write_bytes(mutate_bytes(path.read_bytes(), rng, header=2048))
        return "bytes"
    shutil.copy(path, out)
    with h5py.File(out, "a") as f:
        roll = rng.random()
        if roll < 0.5:
            value = rng.choice(["", "q", "yxyx", "tzyxc", "xy", "c", "yx "])
            f["image"].attrs["dims"] = value
            return f"dims={value!r}"
        del f["image"]
        f.create_dataset("image", data=rng.choice(_ILP_VALUES))
        return "dataset"


# -- loading and judging ------------------------------------------------------------------
def _check_session(session: Any) -> None:
    n = len(session.classes)
    for i in range(len(session.images)):
        labels = session.labels(i)
        plane_dims = [d for d in session.images[i].dims if d != "c"]
        assert labels.shape == tuple(session.images[i].sizes[d] for d in plane_dims)
        assert int(labels.max(initial=0)) <= n
    session.label_counts()
    session.close()


def _check_classifier(clf: Any) -> None:
    import xarray as xr

    shape = (12,) * clf.spatial_ndim
    image = np.random.default_rng(0).random((*shape, clf.n_channels)).astype(np.float32)
    dims = [*"zyx"[3 - clf.spatial_ndim :], "c"]
    result = clf.predict(xr.DataArray(image, dims=dims))
    proba = result.probabilities.values
    assert proba.shape[0] == len(clf.class_names), "one probability per class"
    assert np.isfinite(proba).all() and proba.min() >= 0 and proba.max() <= 1 + 1e-6
    np.testing.assert_allclose(proba.sum(axis=0), 1, atol=1e-4)


def _check_image(image: Any) -> None:
    assert set(image.dims) <= set("tzyxc") and len(set(image.dims)) == image.ndim
    np.asarray(image.values)


def load(loader: str, case: Path) -> None:
    """Load ``case`` the way a user would, then check the result is usable."""
    import brushlab

    if loader == "model":
        _check_classifier(brushlab.load_classifier(case))
    elif loader == "project":
        _check_session(brushlab.open_project(case, precompute=False))
    elif loader == "ilastik":
        _check_session(brushlab.import_ilastik(case, precompute=False))
    elif loader in ("package", "rdf"):
        model = brushlab.load_model(case)
        assert isinstance(model.name, str)
    else:
        _check_image(brushlab.imread(case))


def mutant(loader: str, seed: Path, out: Path, rng: random.Random) -> str:
    """Write one mutant of ``seed`` at ``out``; return what was mutated."""
    if loader == "model":
        return mutate_zip(seed, out, rng, "metadata.json")
    if loader == "project":
        return mutate_zip(seed, out, rng, "project.json")
    if loader == "package":
        return mutate_zip_package(seed, out, rng)
    if loader == "rdf":
        return mutate_rdf(seed, out, rng)
    if loader == "ilastik":
        return mutate_ilp(seed, out, rng)
    if loader == "h5":
        return mutate_h5_image(seed, out, rng)
    header = 512 if rng.random() < 0.7 else None
    out.write_bytes(mutate_bytes(seed.read_bytes(), rng, header=header))
    return "bytes"


def mutate_zip_package(path: Path, out: Path, rng: random.Random) -> str:
    """A Model Zoo zip: whole-file bytes, or rdf.yaml fields, or a member replaced."""
    import yaml

    with zipfile.ZipFile(path) as zf:
        members = {i.filename: zf.read(i) for i in zf.infolist()}
    roll = rng.random()
    if roll < 0.3:
        out.write_bytes(mutate_bytes(path.read_bytes(), rng))
        return "bytes"
    if roll < 0.8:
        tree = mutate_tree(yaml.safe_load(members["rdf.yaml"]), rng)
        members["rdf.yaml"] = yaml.safe_dump(tree, sort_keys=False).encode()
        what = "rdf fields"
    else:
        name = rng.choice(sorted(members))
        members[name] = mutate_bytes(members[name], rng)
        what = f"member {name}"
    with zipfile.ZipFile(out, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return what


def _where(exc: BaseException) -> str:
    frames = traceback.extract_tb(exc.__traceback__)
    ours = [f for f in frames if "brushlab" in f.filename and "tests" not in f.filename]
    frame = (ours or frames)[-1] if (ours or frames) else None
    return f"{Path(frame.filename).name}:{frame.lineno} {frame.name}" if frame else "?"


def _alarm(*_: Any) -> None:
    raise CaseTimeout(f"case ran over {CASE_SECONDS} s")


def run(workdir: Path, loaders: list[str], cases: int, seed: int) -> None:
    """Build seeds, then write and load ``cases`` mutants per loader."""
    from brushlab.errors import BrushlabError

    warnings.simplefilter("ignore")
    seeds = build_seeds(workdir / "seeds")
    results = (workdir / "results.jsonl").open("a")
    signal.signal(signal.SIGALRM, _alarm)
    for loader in loaders:
        rng = random.Random(f"{seed}-{loader}")
        folder = workdir / "cases" / loader
        folder.mkdir(parents=True, exist_ok=True)
        suffix = "" if loader == "rdf" else seeds[loader].suffix
        for i in range(cases):
            case = folder / f"case{i:04d}{suffix}"
            what = mutant(loader, seeds[loader], case, rng)
            (workdir / "current").write_text(f"{loader} {i} {what}")
            record: dict[str, Any] = {"loader": loader, "case": i, "mutation": what[:300]}
            signal.alarm(CASE_SECONDS)
            try:
                load(loader, case)
                record["outcome"] = "ok"
            except BrushlabError as exc:
                record.update(outcome="brushlab", type=type(exc).__name__, message=str(exc)[:300])
            except BaseException as exc:  # judged by the caller (incl. MemoryError, timeouts)
                if isinstance(exc, KeyboardInterrupt):
                    raise
                record.update(outcome="other", type=type(exc).__name__,
                              message=str(exc)[:500], where=_where(exc))
            finally:
                signal.alarm(0)
            results.write(json.dumps(record) + "\n")
            results.flush()
            _remove(case)
    results.close()


def _remove(path: Path) -> None:
    import shutil

    if path.is_dir():
        shutil.rmtree(path, ignore_errors=True)
    elif path.exists():
        path.unlink()


def main(argv: list[str]) -> None:
    """Entry point: ``WORKDIR LOADERS CASES SEED [MEMORY_BYTES]``."""
    workdir, loaders, cases, seed = Path(argv[0]), argv[1].split(","), int(argv[2]), int(argv[3])
    if len(argv) > 4:
        cap = int(argv[4])
        resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
    os.chdir(workdir)
    run(workdir, loaders, cases, seed)


if __name__ == "__main__":
    main(sys.argv[1:])
    sys.exit(0)

