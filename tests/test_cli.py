"""Tests of the brushlab command line, run in-process through brushlab.cli._main.main."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

import brushlab
from brushlab import cli
from brushlab.cli._main import main
from brushlab.io._image import imread
from brushlab.io._writers import write_image

FEATURES = "gaussian_smoothing:1.0,2.0;hessian:1.0"
SHAPE = (24, 32)


def _image(seed: int = 0) -> np.ndarray:
    """Dark left half, bright right half, with noise: two easy classes."""
    rng = np.random.default_rng(seed)
    image = rng.normal(50, 5, SHAPE)
    image[:, SHAPE[1] // 2 :] += 100
    return image.astype(np.float32)


def _labels() -> np.ndarray:
    labels = np.zeros(SHAPE, np.uint8)
    labels[4:20, 2:6] = 1
    labels[4:20, 26:30] = 2
    return labels


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cli")
    write_image(folder / "a.tif", _image(0))
    write_image(folder / "b.tif", _image(1))
    write_image(folder / "a_labels.tif", _labels())
    model = folder / "model.brushlab"
    code = main(["train", str(folder / "a.tif"), "--labels", str(folder / "a_labels.tif"),
                 "-o", str(model), "--features", FEATURES, "--trees", "5", "--seed", "0",
                 "--classes", "dark,bright"])
    assert code == 0
    return folder


def _predict(data, out, *extra: str, inputs=("a.tif",)) -> int:
    return main(["predict", str(data / "model.brushlab"), *(str(data / i) for i in inputs),
                 "-o", str(out), *extra])


# -- train and info ----------------------------------------------------------------------


def test_train_prints_summary(data, tmp_path, capsys):
    model = tmp_path / "m.brushlab"
    code = main(["train", str(data / "a.tif"), str(data / "b.tif"),
                 "--labels", str(data / "a_labels.tif"), str(data / "a_labels.tif"),
                 "-o", str(model), "--features", FEATURES, "--trees", "5", "--balanced"])
    out = capsys.readouterr().out
    assert code == 0 and model.is_file()
    assert "trained 2 classes on 2 image(s)" in out
    assert f"{2 * 64:,} labelled pixels" in out  # 16 x 4 per class per image
    assert f"wrote {model}" in out
    clf = brushlab.load_classifier(model)
    assert clf.class_weight == "balanced" and clf.n_trees == 5
    assert clf.class_names == ["class 1", "class 2"]


def test_info_prints_classes(data, capsys):
    assert main(["info", str(data / "model.brushlab")]) == 0
    out = capsys.readouterr().out
    assert "1 dark, 2 bright" in out
    assert "gaussian_smoothing: sigma 1, 2" in out
    assert "1 channel(s), 2D images" in out


def test_info_json(data, capsys):
    assert main(["info", str(data / "model.brushlab"), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["classes"] == ["dark", "bright"]
    assert info["features"] == {"gaussian_smoothing": [1.0, 2.0],
                                "hessian_of_gaussian_eigenvalues": [1.0]}
    assert info["n_channels"] == 1 and info["n_trees"] == 5
    assert info["training"]["labelled_pixels"] == {"dark": 64, "bright": 64}


def test_parse_features():
    fs = cli.parse_features(FEATURES)
    assert fs.selection == {"gaussian_smoothing": [1.0, 2.0],
                            "hessian_of_gaussian_eigenvalues": [1.0]}
    assert cli.parse_features("default") == brushlab.FeatureSet.default()


# -- predict -------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["tiff", "npy", "h5", "zarr"])
def test_predict_formats_read_back(data, tmp_path, fmt):
    out = tmp_path / "out" / "nested"  # created as needed
    code = _predict(data, out, "--format", fmt, "--export",
                    "probabilities,segmentation,uncertainty,confidence", "-q")
    assert code == 0
    ext = {"tiff": "tif", "npy": "npy", "h5": "h5", "zarr": "zarr"}[fmt]
    suffix = "/data" if fmt == "h5" else ""
    dims = {"npy": "yxc"}.get(fmt)  # npy stores no dims
    proba = imread(f"{out}/a_probabilities.{ext}{suffix}", dims=dims)
    seg = imread(f"{out}/a_segmentation.{ext}{suffix}")
    unc = imread(f"{out}/a_uncertainty.{ext}{suffix}")
    conf = imread(f"{out}/a_confidence.{ext}{suffix}")
    assert proba.dims == ("y", "x", "c") and proba.shape == (*SHAPE, 2)
    np.testing.assert_allclose(proba.sum("c"), 1, atol=1e-5)
    assert seg.dims == ("y", "x") and seg.dtype == np.uint8
    np.testing.assert_array_equal(seg, proba.argmax("c") + 1)
    assert seg[10, 3] == 1 and seg[10, 28] == 2
    assert unc.dtype == np.float32 and conf.dtype == np.float32
    np.testing.assert_allclose(conf, proba.max("c"), atol=1e-6)
    expected = brushlab.load_classifier(data / "model.brushlab").predict(imread(data / "a.tif"))
    np.testing.assert_allclose(proba.transpose("c", "y", "x"), expected.probabilities, atol=1e-6)
    assert sorted(p.name for p in out.iterdir()) == sorted(
        f"a_{name}.{ext}" for name in ("probabilities", "segmentation", "uncertainty", "confidence")
    )


@pytest.mark.filterwarnings("ignore::DeprecationWarning:ome_zarr")
def test_predict_zarr_is_ngff_with_class_names(data, tmp_path):
    from ome_zarr.io import parse_url
    from ome_zarr.reader import Reader

    assert _predict(data, tmp_path, "--format", "zarr", "-q") == 0
    node = next(iter(Reader(parse_url(str(tmp_path / "a_probabilities.zarr")))()))
    assert [a["name"] for a in node.metadata["axes"]] == ["c", "y", "x"]
    assert node.metadata["channel_names"] == ["dark", "bright"]
    assert imread(tmp_path / "a_probabilities.zarr").coords["c"].values.tolist() == [
        "dark", "bright"]
    seg = next(iter(Reader(parse_url(str(tmp_path / "a_segmentation.zarr")))()))
    assert [a["name"] for a in seg.metadata["axes"]] == ["y", "x"]


def test_predict_png(data, tmp_path):
    out = tmp_path / "png"
    assert _predict(data, out, "--format", "png", "--export",
                    "probabilities,segmentation,uncertainty", "-q") == 0
    assert sorted(p.name for p in out.iterdir()) == [
        "a_probabilities_bright.png", "a_probabilities_dark.png",
        "a_segmentation.png", "a_uncertainty.png",
    ]
    seg = imread(out / "a_segmentation.png")
    dark = imread(out / "a_probabilities_dark.png")
    bright = imread(out / "a_probabilities_bright.png")
    unc = imread(out / "a_uncertainty.png")
    assert seg.dtype == dark.dtype == unc.dtype == np.uint8
    assert seg[10, 3] == 1 and seg[10, 28] == 2
    assert dark[10, 3] > 127 and bright[10, 28] > 127
    np.testing.assert_allclose(dark.astype(int) + bright.astype(int), 255, atol=1)


def test_predict_export_subset_and_tiles(data, tmp_path):
    assert _predict(data, tmp_path / "whole", "--export", "segmentation", "-q") == 0
    assert [p.name for p in (tmp_path / "whole").iterdir()] == ["a_segmentation.tif"]
    assert _predict(data, tmp_path / "tiled", "--export", "segmentation", "--tile", "8",
                    "-q") == 0
    np.testing.assert_array_equal(imread(tmp_path / "tiled" / "a_segmentation.tif"),
                                  imread(tmp_path / "whole" / "a_segmentation.tif"))


def test_rerun_skips_existing_and_overwrite_rewrites(data, tmp_path, capsys):
    out = tmp_path / "out"
    assert _predict(data, out, "--export", "segmentation,uncertainty") == 0
    seg_path, unc_path = out / "a_segmentation.tif", out / "a_uncertainty.tif"
    original = imread(seg_path).values
    write_image(seg_path, np.zeros(SHAPE, np.uint8))  # a marker: was it rewritten?
    capsys.readouterr()

    assert _predict(data, out, "--export", "segmentation,uncertainty") == 0
    assert "skipped" in capsys.readouterr().out
    assert not imread(seg_path).values.any()

    unc_path.unlink()  # an interrupted run: only the missing file is written
    assert _predict(data, out, "--export", "segmentation,uncertainty") == 0
    assert unc_path.exists() and not imread(seg_path).values.any()

    assert _predict(data, out, "--export", "segmentation,uncertainty", "--overwrite") == 0
    np.testing.assert_array_equal(imread(seg_path), original)
    assert sorted(p.name for p in out.iterdir()) == ["a_segmentation.tif", "a_uncertainty.tif"]


def test_batch_with_corrupt_input_exits_3(data, tmp_path, capsys):
    (tmp_path / "bad.tif").write_bytes(b"II*\x00 not really a tiff")
    inputs = [str(data / "a.tif"), str(tmp_path / "bad.tif"), str(data / "b.tif")]
    out = tmp_path / "out"
    code = main(["predict", str(data / "model.brushlab"), *inputs, "-o", str(out),
                 "--export", "segmentation"])
    captured = capsys.readouterr()
    assert code == 3
    assert sorted(p.name for p in out.iterdir()) == ["a_segmentation.tif", "b_segmentation.tif"]
    assert "1 of 3 input(s) failed" in captured.err and "bad.tif" in captured.err
    assert "Traceback" not in captured.err + captured.out


def test_batch_goes_on_after_an_unexpected_error(data, tmp_path, capsys, monkeypatch):
    """A bug or an unforeseen model/input error in one input: reported, the rest still run."""
    write_image(tmp_path / "odd.tif", _image(2)[:16, :16])
    predict = brushlab.PixelClassifier.predict

    def fails_on_odd_shapes(self, image, *args, **kwargs):
        if image.shape != SHAPE:
            raise RuntimeError("model and input do not fit")
        return predict(self, image, *args, **kwargs)

    monkeypatch.setattr(brushlab.PixelClassifier, "predict", fails_on_odd_shapes)
    inputs = [str(data / "a.tif"), str(tmp_path / "odd.tif"), str(data / "b.tif")]
    out = tmp_path / "out"
    code = main(["predict", str(data / "model.brushlab"), *inputs, "-o", str(out),
                 "--export", "segmentation", "-q"])
    captured = capsys.readouterr()
    assert code == 3
    assert sorted(p.name for p in out.iterdir()) == ["a_segmentation.tif", "b_segmentation.tif"]
    line = f"{tmp_path / 'odd.tif'}: unexpected RuntimeError: model and input do not fit"
    assert f"brushlab: error: {line}" in captured.err
    assert "1 of 3 input(s) failed" in captured.err and f"  {line}" in captured.err
    assert "Traceback" not in captured.err + captured.out


def _stale_temp(target):
    """What a run killed while writing `target` leaves: the atomic writer's temporary."""
    from brushlab._core.atomic import atomic_path

    writing = atomic_path(target)  # entered and never left, as in a killed process
    temp = writing.__enter__()
    if target.suffix == ".zarr":
        (temp / "c").mkdir(parents=True)
        (temp / "zarr.json").write_text("{")
    else:
        temp.write_bytes(b"II*\x00 half")
    return writing, temp


@pytest.mark.parametrize("fmt", ["tiff", "zarr"])
def test_rerun_removes_the_temp_file_of_a_killed_run(data, tmp_path, fmt):
    out = tmp_path / "out"
    out.mkdir()
    ext = {"tiff": ".tif", "zarr": ".zarr"}[fmt]
    writing, temp = _stale_temp(out / f"a_segmentation{ext}")
    other, unrelated = _stale_temp(out / f"c_segmentation{ext}")  # not a target of this run
    notes = out / ".a_segmentation.notes.tif"
    notes.write_text("not brushlab's")
    # killed while swapping an old folder out (_core.atomic._replace names it so)
    swapped = out / f".a_segmentation{ext}.0123456789ab.old"
    swapped.mkdir()
    assert temp.name.startswith(".a_segmentation.") and temp.exists()

    assert _predict(data, out, "--export", "segmentation", "--format", fmt, "-q") == 0
    assert not temp.exists() and not swapped.exists()
    assert unrelated.exists() and notes.exists()
    assert sorted(p.name for p in out.iterdir() if not p.name.startswith(".")) == [
        f"a_segmentation{ext}"]

    # killed during an --overwrite: the outputs exist and the input is skipped, its
    # temporary goes all the same
    writing2, temp2 = _stale_temp(out / f"a_segmentation{ext}")
    assert _predict(data, out, "--export", "segmentation", "--format", fmt, "-q") == 0
    assert not temp2.exists() and (out / f"a_segmentation{ext}").exists()
    del writing, writing2, other  # the generators' exit would have removed them anyway


def test_batch_where_all_fail_exits_1(data, tmp_path, capsys):
    code = main(["predict", str(data / "model.brushlab"), str(tmp_path / "missing.tif"),
                 "-o", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 1 and "missing.tif" in err and "no file or folder" in err


def test_interrupt_exits_130_and_leaves_no_file(data, tmp_path, capsys, monkeypatch):
    import tifffile

    def interrupted(path, *args, **kwargs):
        with open(path, "wb") as handle:  # half a file, then Ctrl-C
            handle.write(b"II*\x00")
        raise KeyboardInterrupt

    monkeypatch.setattr(tifffile, "imwrite", interrupted)
    assert _predict(data, tmp_path / "out", "-q") == 130
    assert list((tmp_path / "out").iterdir()) == []
    assert "interrupted" in capsys.readouterr().err


def test_duplicate_input_names_are_a_usage_error(data, tmp_path):
    other = tmp_path / "a.tif"
    write_image(other, _image(2))
    code = main(["predict", str(data / "model.brushlab"), str(data / "a.tif"), str(other),
                 "-o", str(tmp_path / "out")])
    assert code == 2


# -- errors --------------------------------------------------------------------------------


def test_missing_model_exits_1_without_traceback(tmp_path, data, capsys):
    code = main(["predict", str(tmp_path / "nope.brushlab"), str(data / "a.tif"),
                 "-o", str(tmp_path / "out")])
    captured = capsys.readouterr()
    assert code == 1
    assert captured.err.startswith("brushlab: error: model file not found")
    assert "nope.brushlab" in captured.err and "Traceback" not in captured.err
    assert main(["info", str(tmp_path / "nope.brushlab")]) == 1


def test_labels_count_mismatch_is_a_usage_error(data, tmp_path, capsys):
    code = main(["train", str(data / "a.tif"), str(data / "b.tif"),
                 "--labels", str(data / "a_labels.tif"), "-o", str(tmp_path / "m.brushlab")])
    assert code == 2
    assert "2 image(s) but 1 labels file(s)" in capsys.readouterr().err
    assert not (tmp_path / "m.brushlab").exists()


def test_labels_shape_mismatch_exits_1_naming_shapes(data, tmp_path, capsys):
    write_image(tmp_path / "small.tif", _labels()[:20])
    code = main(["train", str(data / "a.tif"), "--labels", str(tmp_path / "small.tif"),
                 "-o", str(tmp_path / "m.brushlab"), "--features", FEATURES, "--trees", "5"])
    err = capsys.readouterr().err
    assert code == 1
    assert "(20, 32)" in err and "(24, 32)" in err and "small.tif" in err
    assert "Traceback" not in err


def test_one_labelled_class_exits_1(data, tmp_path, capsys):
    write_image(tmp_path / "one.tif", np.minimum(_labels(), 1))
    code = main(["train", str(data / "a.tif"), "--labels", str(tmp_path / "one.tif"),
                 "-o", str(tmp_path / "m.brushlab"), "--features", FEATURES, "--trees", "5"])
    assert code == 1
    assert "at least two classes" in capsys.readouterr().err


@pytest.mark.parametrize("args", [
    ["train", "a.tif", "--labels", "l.tif", "-o", "m", "--features", "nope:1"],
    ["train", "a.tif", "--labels", "l.tif", "-o", "m", "--features", "gaussian:x"],
    ["train", "a.tif", "--labels", "l.tif", "-o", "m", "--trees", "0"],
    ["predict", "m", "a.tif", "-o", "out", "--export", "segmentation,probs"],
    ["predict", "m", "a.tif", "-o", "out", "--format", "jpeg"],
    ["predict", "m", "a.tif"],
    [],
])
def test_usage_errors_exit_2(args, capsys):
    assert main(args) == 2
    assert "usage:" in capsys.readouterr().err


def test_version(capsys):
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"brushlab {brushlab.__version__}"


def test_module_runs_as_a_program():
    done = subprocess.run([sys.executable, "-m", "brushlab.cli._main", "--version"],
                          capture_output=True, text=True, check=False)
    assert done.returncode == 0
    assert done.stdout.strip() == f"brushlab {brushlab.__version__}"


# -- predict --blockwise -------------------------------------------------------------------


def _blockwise(data, out, *extra: str, inputs=("a.tif",)) -> int:
    return _predict(data, out, "--blockwise", *extra, inputs=inputs)


def test_blockwise_writes_an_ome_zarr_equal_to_predict(data, tmp_path, capsys):
    out = tmp_path / "deep" / "a.zarr"  # the parent is created
    assert _blockwise(data, out, "--chunks", "16", "--tile", "8") == 0
    assert "wrote" in capsys.readouterr().out
    expected = brushlab.load_classifier(data / "model.brushlab").predict(imread(data / "a.tif"))
    proba = imread(out)
    assert proba.dims == ("y", "x", "c") and proba.shape == (*SHAPE, 2)
    np.testing.assert_array_equal(proba.transpose("c", "y", "x"), expected.probabilities)
    np.testing.assert_array_equal(imread(out / "labels" / "segmentation"), expected.segmentation)
    assert brushlab.blockwise._run.output_status(out)["status"] == "complete"


def test_blockwise_roi_export_and_rerun(data, tmp_path, capsys):
    out = tmp_path / "roi.zarr"
    args = ("--roi", "y=4:20,x=0:16", "--export", "segmentation,uncertainty", "-q")
    assert _blockwise(data, out, *args) == 0
    expected = brushlab.load_classifier(data / "model.brushlab").predict(imread(data / "a.tif"))
    np.testing.assert_array_equal(imread(out / "labels" / "segmentation"),
                                  expected.segmentation[4:20, 0:16])
    np.testing.assert_array_equal(imread(out)[..., 0], expected.uncertainty[4:20, 0:16])
    assert _blockwise(data, out, *args[:-1]) == 0
    assert "already complete" in capsys.readouterr().out
    assert _blockwise(data, out, "--roi", "0:8,0:8", "-q") == 1
    assert "other arguments" in capsys.readouterr().err
    assert _blockwise(data, out, "--roi", "0:8,0:8", "-q", "--overwrite") == 0
    assert imread(out).shape == (8, 8, 2)


def test_blockwise_dry_run_writes_nothing(data, tmp_path, capsys):
    out = tmp_path / "nested" / "dry.zarr"
    assert _blockwise(data, out, "--dry-run", "--chunks", "8,16", "--memory-limit", "1GB") == 0
    printed = capsys.readouterr().out
    for words in ("nothing written", "6 of 6 to compute, 8 x 16 each", "expected time",
                  "output size", "per worker", "budget 1.0 GB"):
        assert words in printed
    assert not (tmp_path / "nested").exists()


def test_blockwise_on_a_local_process_cluster(data, tmp_path):
    out = tmp_path / "p.zarr"
    assert _blockwise(data, out, "--scheduler", "processes", "--jobs", "1", "-q") == 0
    expected = brushlab.load_classifier(data / "model.brushlab").predict(imread(data / "a.tif"))
    np.testing.assert_array_equal(imread(out / "labels" / "segmentation"), expected.segmentation)


def test_blockwise_bad_input_exits_1_without_output(data, tmp_path, capsys):
    out = tmp_path / "o.zarr"
    assert _blockwise(data, out, inputs=("missing.tif",)) == 1
    assert "no file or folder" in capsys.readouterr().err
    assert _blockwise(data, out, "--roi", "y=0:99") == 1
    err = capsys.readouterr().err
    assert "outside the image" in err and "Traceback" not in err
    assert not out.exists()


def test_blockwise_interrupt_says_how_to_resume(data, tmp_path, capsys, monkeypatch):
    from brushlab.blockwise import _run as blockwise

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(blockwise, "_predict_task", interrupted)
    out = tmp_path / "i.zarr"
    assert _blockwise(data, out, "-q") == 130
    assert "run the same command again to resume" in capsys.readouterr().err
    assert brushlab.blockwise._run.output_status(out)["status"] == "incomplete"
    monkeypatch.undo()
    assert _blockwise(data, out, "-q") == 0
    assert brushlab.blockwise._run.output_status(out)["status"] == "complete"


@pytest.mark.parametrize("args", [
    ["predict", "m", "a.tif", "b.tif", "-o", "out.zarr", "--blockwise"],
    ["predict", "m", "a.tif", "-o", "out", "--chunks", "64"],
    ["predict", "m", "a.tif", "-o", "out", "--dry-run"],
    ["predict", "m", "a.tif", "-o", "out.zarr", "--blockwise", "--roi", "y=0-5"],
    ["predict", "m", "a.tif", "-o", "out.zarr", "--blockwise", "--roi", "y=0:5,0:5"],
    ["predict", "m", "a.tif", "-o", "out.zarr", "--blockwise", "--chunks", "0"],
    ["predict", "m", "a.tif", "-o", "out.zarr", "--blockwise", "--format", "tiff"],
])
def test_blockwise_usage_errors_exit_2(args, capsys):
    assert main(args) == 2
    assert "usage:" in capsys.readouterr().err
