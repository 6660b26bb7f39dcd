"""Hostile files (issue 13, root causes 1, 3, 6, 8 and 9): each is refused with a clear error.

Risky calls run in a child process with a memory cap (``RLIMIT_AS``) and a timeout, so a
regression shows as a failed test, not as a hung or swapping test run. The hostile files
are built here: the zip bomb streams 2 GiB of zeros through a deflate stream built from one
repeated block (the test never holds more than 1 MiB of it), FIFOs come from
``os.mkfifo``, and the Model Zoo packages are made as ``tests/dl_packages.py`` makes them.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import textwrap
import zipfile
import zlib
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

import brushlab
from brushlab.classifier.modelfile import read_model_file, write_model_file
from brushlab.errors import ClassifierError, ModelFileError, ModelPackageError, ProjectError
from brushlab.features import FeatureSet

SRC = str(Path(brushlab.__file__).resolve().parents[1])
BOMB_BYTES = 2**31  # 2 GiB of zeros in a ~2 MB zip
MEMORY_CAP = 2 * 2**30  # address space of the child: reading the bomb whole cannot fit
PEAK_MB = 500  # resident memory the child may reach: imports take ~260 MB, the bomb 2048


# -- helpers ---------------------------------------------------------------------------------
def _isolated(calls: dict[str, str], setup: str = "", *, timeout: float = 180) -> dict[str, Any]:
    """Run each call (a Python expression) in one child; return how each ended.

    Each result is ``{"raised": class name or None, "brushlab": bool, "message": str}``;
    ``"_peak_mb"`` holds the child's peak resident memory.
    """
    body = "".join(
        f"try:\n    {expr}\n    results[{name!r}] = {{'raised': None}}\n"
        f"except BaseException as exc:\n    results[{name!r}] = {{'raised': type(exc).__name__,"
        " 'brushlab': isinstance(exc, BrushlabError), 'message': str(exc)}\n"
        for name, expr in calls.items()
    )
    script = (
        "import json, resource\n"
        f"resource.setrlimit(resource.RLIMIT_AS, ({MEMORY_CAP}, {MEMORY_CAP}))\n"
        "from brushlab.errors import BrushlabError\n"
        f"{textwrap.dedent(setup)}\nresults = {{}}\n{body}"
        # VmHWM, not ru_maxrss: the latter keeps the forked parent's peak across exec.
        "status = open('/proc/self/status').read()\n"
        "results['_peak_mb'] = int(status.split('VmHWM:')[1].split()[0]) / 1024\n"
        "print('RESULT' + json.dumps(results))\n"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([SRC, os.environ.get("PYTHONPATH", "")])}
    try:
        proc = subprocess.run(
            [sys.executable, "-c", script], capture_output=True, text=True, timeout=timeout, env=env
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"{list(calls)} did not finish within {timeout} s: a call blocks or hangs")
    lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT")]
    assert lines, f"the child died (rc {proc.returncode}): {proc.stderr[-3000:]}"
    return json.loads(lines[-1][len("RESULT") :])


def _assert_refused(result: dict[str, Any], *patterns: str) -> None:
    assert result["raised"] is not None, "accepted a hostile file"
    assert result["brushlab"], f"raised {result['raised']}: {result['message'][:500]}"
    for pattern in patterns:
        assert pattern in result["message"], result["message"]


def write_bomb(path: Path, name: str, size: int = BOMB_BYTES, chunk: int = 2**20) -> Path:
    """A zip whose member ``name`` inflates to ``size`` zero bytes (~1000:1), built cheaply.

    One 1 MiB block of zeros is deflated once and ended with a full flush, so every later
    block compresses to the same bytes: the member is that block repeated, fed through
    zipfile (which computes the CRC over the zeros as usual).
    """
    deflate = zlib.compressobj(9, zlib.DEFLATED, -15)
    block = deflate.compress(bytes(chunk)) + deflate.flush(zlib.Z_FULL_FLUSH)
    tail = deflate.flush(zlib.Z_FINISH)

    class Repeat:
        def compress(self, data: bytes) -> bytes:
            return block

        def flush(self) -> bytes:
            return tail

    zeros = bytes(chunk)
    info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
    info.compress_type = zipfile.ZIP_DEFLATED
    with zipfile.ZipFile(path, "w") as archive:
        with archive.open(info, "w", force_zip64=True) as member:
            member._compressor = Repeat()  # type: ignore[attr-defined]
            for _ in range(size // chunk):
                member.write(zeros)
    return path


def _with_members(base: Path, target: Path, members: dict[str, bytes]) -> Path:
    shutil.copyfile(base, target)
    with zipfile.ZipFile(target, "a") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return target


def _trained(n_classes: int = 2) -> brushlab.PixelClassifier:
    image = np.zeros((32, 32), np.float32)
    image[:, 16:] = 1
    labels = np.zeros((32, 32), np.uint8)
    labels[4, 2:8], labels[4, 20:30] = 1, 2
    clf = brushlab.PixelClassifier(FeatureSet({"gaussian_smoothing": [1.0]}), n_trees=3,
                                   model="random_forest")
    return clf.fit(image, labels, [f"c{k}" for k in range(1, n_classes + 1)])


@pytest.fixture(scope="module")
def bombs(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("bombs")
    return {name: write_bomb(folder / f"{name}.zip", name) for name in ("w.npy", "weights.onnx")}


# -- root cause 3: zip bombs -------------------------------------------------------------------
def test_bomb_is_what_it_claims(bombs):
    path = bombs["w.npy"]
    with zipfile.ZipFile(path) as archive:
        info = archive.getinfo("w.npy")
        with archive.open(info) as member:
            start = member.read(2**20)
    assert info.file_size == BOMB_BYTES and path.stat().st_size < 3 * 2**20
    assert start == bytes(2**20)


def _bomb_model(bombs, tmp_path) -> Path:
    entry = {"dtype": "|u1", "shape": [BOMB_BYTES - 128], "sha256": "0" * 64}
    document = {
        "format": "brushlab-classifier",
        "format_version": 1,
        "arrays": {"w": entry},
        "metadata": {"kind": "pixel-classifier"},
    }
    return _with_members(
        bombs["w.npy"], tmp_path / "bomb.brushlab", {"metadata.json": json.dumps(document).encode()}
    )


def test_zip_bomb_model_file_and_brushlab_info_fail_fast_with_little_memory(bombs, tmp_path):
    path = _bomb_model(bombs, tmp_path)
    result = _isolated(
        {
            "load": f"brushlab.load_classifier({str(path)!r})",
            "info": f"assert main(['info', {str(path)!r}]) == 1",
        },
        "import brushlab\nfrom brushlab.cli import main",
    )
    _assert_refused(result["load"], "zip bomb", "w.npy")
    assert result["info"]["raised"] is None, result["info"]  # a clear error and exit code 1
    assert result["_peak_mb"] < PEAK_MB


def test_zip_bomb_project_fails_fast_with_little_memory(bombs, tmp_path):
    from brushlab.session import Session

    good = tmp_path / "good.blproj"
    with Session(np.zeros((16, 16), np.float32), precompute=False) as session:
        session.save(good)
    members = {}
    with zipfile.ZipFile(good) as archive:
        for name in archive.namelist():
            members[name] = archive.read(name)
    document = json.loads(members.pop("project.json"))
    document["images"][0]["labels"] = "w.npy"
    document["members"]["w.npy"] = {"dtype": "|u1", "shape": [BOMB_BYTES - 128], "sha256": "0"}
    members["project.json"] = json.dumps(document).encode()
    path = _with_members(bombs["w.npy"], tmp_path / "bomb.blproj", members)
    result = _isolated({"open": f"brushlab.open_project({str(path)!r})"}, "import brushlab")
    _assert_refused(result["open"], "zip bomb")
    assert result["_peak_mb"] < PEAK_MB


def _package_folder(tmp_path: Path) -> Path:
    from tests.dl_packages import simple_package

    return simple_package(tmp_path / "pkg")


def _zip_folder(folder: Path, target: Path, *, skip: tuple[str, ...] = ()) -> Path:
    with zipfile.ZipFile(target, "w") as archive:
        for file in sorted(folder.iterdir()):
            if file.name not in skip:
                archive.write(file, file.name)
    return target


def _edit_rdf(folder: Path, change) -> None:
    rdf = yaml.safe_load((folder / "rdf.yaml").read_text())
    change(rdf)
    (folder / "rdf.yaml").write_text(yaml.safe_dump(rdf, sort_keys=False))


def test_zip_bomb_model_package_fails_fast_with_little_memory(bombs, tmp_path):
    pkg = _package_folder(tmp_path)
    weights = yaml.safe_load((pkg / "rdf.yaml").read_text())["weights"]["onnx"]["source"]

    def to_bomb(rdf):
        rdf["weights"]["onnx"]["source"] = "weights.onnx"
        rdf["weights"]["onnx"]["sha256"] = "0" * 64

    _edit_rdf(pkg, to_bomb)
    members = {f.name: f.read_bytes() for f in pkg.iterdir() if f.name != weights}
    path = _with_members(bombs["weights.onnx"], tmp_path / "bomb.zip", members)
    result = _isolated({"load": f"brushlab.load_model({str(path)!r})"}, "import brushlab")
    _assert_refused(result["load"], "zip bomb")
    assert result["_peak_mb"] < PEAK_MB


# -- root cause 8: FIFOs, devices, n_jobs ------------------------------------------------------
def test_fifos_and_devices_are_refused_without_blocking(tmp_path):
    fifos = {}
    for name in ("model.brushlab", "project.blproj", "package.zip"):
        fifos[name] = tmp_path / name
        os.mkfifo(fifos[name])
    pkg = _package_folder(tmp_path)
    (pkg / "rdf.yaml").unlink()
    (pkg / "rdf.yaml").symlink_to("/dev/zero")
    zero_model = tmp_path / "zero.brushlab"
    zero_model.symlink_to("/dev/zero")
    result = _isolated(
        {
            "model": f"brushlab.load_classifier({str(fifos['model.brushlab'])!r})",
            "project": f"brushlab.open_project({str(fifos['project.blproj'])!r})",
            "package": f"brushlab.load_model({str(fifos['package.zip'])!r})",
            "zero_yaml": f"brushlab.load_model({str(pkg / 'rdf.yaml')!r})",
            "zero_model": f"brushlab.load_classifier({str(zero_model)!r})",
        },
        "import brushlab",
        timeout=120,
    )
    for name in ("model", "project", "package"):
        _assert_refused(result[name], "FIFO", "not a regular file")
    _assert_refused(result["zero_model"], "character device", "/dev/zero")
    _assert_refused(result["zero_yaml"], "rdf.yaml")
    assert result["_peak_mb"] < PEAK_MB


def test_n_jobs_is_bounded_where_it_is_set(tmp_path):
    with pytest.raises(ClassifierError, match="n_jobs=100000 is more threads"):
        brushlab.PixelClassifier(n_jobs=100000)
    clf = _trained()
    with pytest.raises(ClassifierError, match="n_jobs"):
        clf.n_jobs = 10**6
    clf.n_jobs = -1
    assert clf._threads() == (os.cpu_count() or 1)
    from brushlab.session import Session

    path = tmp_path / "p.blproj"
    with Session(np.zeros((16, 16), np.float32), precompute=False) as session:
        session.save(path)
    with zipfile.ZipFile(path) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    document = json.loads(members["project.json"])
    document["classifier_params"] = {"n_jobs": 100000}
    members["project.json"] = json.dumps(document).encode()
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    with pytest.raises(ProjectError, match="n_jobs=100000"):  # a damaged project, says why
        brushlab.open_project(path)


# -- root causes 1 and 6: Model Zoo packages ---------------------------------------------------
def _external_package(tmp_path: Path, source: str) -> Path:
    import onnx

    from tests.dl_packages import affine_model, sha, simple_package

    model = affine_model()
    pkg = simple_package(tmp_path / "external", model=model)
    onnx.save(
        model,
        pkg / "model.onnx",
        save_as_external_data=True,
        all_tensors_to_one_file=True,
        location="model.onnx.data",
        size_threshold=0,
    )

    def external(rdf):
        rdf["weights"]["onnx"]["sha256"] = sha(pkg / "model.onnx")
        rdf["weights"]["onnx"]["external_data"] = {
            "source": source,
            "sha256": sha(pkg / "model.onnx.data"),
        }

    _edit_rdf(pkg, external)
    return pkg


def test_zip_slip_through_external_data_is_refused(tmp_path):
    import tempfile

    # The zip is extracted into a fresh folder in the temp dir: aim at one in tmp_path.
    landing = tmp_path / "slipped" / "x.data"
    scratch = Path(tempfile.gettempdir()).resolve() / "brushlab-onnx-anything"
    escape = os.path.relpath(landing.resolve(), scratch)
    assert escape.startswith("../")
    pkg = _external_package(tmp_path, escape)
    archive = _zip_folder(pkg, tmp_path / "slip.zip", skip=("model.onnx.data",))
    with zipfile.ZipFile(archive, "a") as zf:
        zf.writestr(escape, (pkg / "model.onnx.data").read_bytes())
    with pytest.raises(ModelPackageError, match=r"\.\.|outside"):
        brushlab.load_model(archive).test()
    assert not landing.parent.exists()


def test_folder_package_external_data_outside_is_refused(tmp_path):
    """Even with the right sha256, a file outside the package is not read."""
    outside = tmp_path / "outside"
    outside.mkdir()
    pkg = _external_package(tmp_path, "../outside/x.data")
    shutil.copyfile(pkg / "model.onnx.data", outside / "x.data")
    with pytest.raises(ModelPackageError, match="outside its folder"):
        brushlab.load_model(pkg).test()


@pytest.mark.parametrize("how", ["relative", "absolute", "symlink"])
def test_folder_package_cannot_read_files_outside(tmp_path, how):
    secret = tmp_path / "outside" / "other.onnx"
    secret.parent.mkdir()
    secret.write_bytes(b"private bytes of some other file")
    digest = hashlib.sha256(secret.read_bytes()).hexdigest()
    pkg = _package_folder(tmp_path)
    source = {"relative": "../outside/other.onnx", "absolute": str(secret)}.get(how, "link.onnx")
    if how == "symlink":
        (pkg / "link.onnx").symlink_to(secret)

    def point_outside(rdf):
        rdf["weights"]["onnx"]["source"] = source
        rdf["weights"]["onnx"]["sha256"] = "0" * 64

    _edit_rdf(pkg, point_outside)
    with pytest.raises(ModelPackageError) as info:
        brushlab.load_model(pkg)
    assert digest not in str(info.value)  # never the digest of a file outside the package
    assert "outside" in str(info.value) or "absolute" in str(info.value), str(info.value)


def test_rdf_alias_bomb_and_huge_yaml_are_refused_quickly(tmp_path):
    pkg = _package_folder(tmp_path / "laughs")
    text = (pkg / "rdf.yaml").read_text()
    laughs = ["x_a: &a [" + ", ".join(["lol"] * 9) + "]"]
    for prev, name in zip("abcdefgh", "bcdefghi"):
        laughs.append(f"x_{name}: &{name} [" + ", ".join([f"*{prev}"] * 9) + "]")
    laughs.append("config: {laughs: *i}")
    (pkg / "rdf.yaml").write_text(text + "\n".join(laughs) + "\n")
    big = _package_folder(tmp_path / "big")
    with open(big / "rdf.yaml", "a") as handle:
        handle.write("documentation_extra: |\n")
        line = "  " + "x" * 98 + "\n"
        handle.write(line * (40 * 2**20 // len(line)))
    result = _isolated(
        {
            "laughs": f"brushlab.load_model({str(pkg)!r})",
            "big": f"brushlab.load_model({str(big)!r})",
        },
        "import brushlab",
        timeout=120,
    )
    _assert_refused(result["laughs"], "alias bomb")
    _assert_refused(result["big"], "bytes, more than the")
    assert result["_peak_mb"] < PEAK_MB


# -- root cause 9: metadata cross-checked with the trees -------------------------------------
def _tampered(tmp_path: Path, change) -> Path:
    path = tmp_path / "m.brushlab"
    _trained().save(path)
    arrays, meta = read_model_file(path)
    change(arrays, meta)
    return write_model_file(tmp_path / "tampered.brushlab", arrays, meta)


@pytest.mark.parametrize(
    "change, field",
    [
        (lambda a, m: m["forest"].update(classes_=[2, 1]), "classes_"),
        (lambda a, m: m["forest"].update(classes_=[0, 1]), "classes_"),
        (lambda a, m: m.update(class_names=["only"]), "classes_"),
        (lambda a, m: a.update(value=np.where(a["value"] > 0, np.nan, 0)), "value"),
        (lambda a, m: a.update(value=-a["value"]), "value"),
        (lambda a, m: m.update(n_channels=3), "n_features_in_"),
        (lambda a, m: m.update(features={"selection": {"gaussian_smoothing": [1, 2]}}), "n_feat"),
    ],
    ids=["swapped", "zero-based", "fewer-names", "nan", "negative", "channels", "features"],
)
def test_model_metadata_is_cross_checked_with_the_trees(tmp_path, change, field):
    path = _tampered(tmp_path, change)
    with pytest.raises(ModelFileError, match=field):
        brushlab.load_classifier(path)


def test_cli_predict_reports_a_bad_model_cleanly_and_bad_inputs_one_by_one(tmp_path, capsys):
    from brushlab.cli import main

    bad = _tampered(tmp_path, lambda a, m: m["forest"].update(classes_=[0, 1]))
    images = []
    for name in ("a", "b"):
        images.append(tmp_path / f"{name}.npy")
        np.save(images[-1], np.zeros((32, 32), np.float32))
    assert main(["predict", str(bad), *map(str, images), "-o", str(tmp_path / "out")]) == 1
    err = capsys.readouterr().err
    assert "classes_" in err and "Traceback" not in err
    good = tmp_path / "good.brushlab"
    _trained().save(good)
    rgb = tmp_path / "rgb.npy"
    np.save(rgb, np.zeros((32, 32, 3), np.float32))
    out = tmp_path / "out2"
    code = main(["predict", str(good), str(rgb), *map(str, images), "-o", str(out), "-q"])
    assert code == 3  # some inputs failed, the others were written
    assert "rgb.npy" in capsys.readouterr().err
    assert {p.name.split("_")[0] for p in out.iterdir()} == {"a", "b"}
