"""``brushlab objects``: labels and measurement tables per image, through brushlab.cli.main."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from brushlab.cli._main import main
from brushlab.io._image import imread
from brushlab.io._writers import write_image

SHAPE = (48, 64)


def _cells(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Bright discs (two of them touching) on a dark noisy background, and their mask."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[: SHAPE[0], : SHAPE[1]]
    mask = np.zeros(SHAPE, bool)
    for cy, cx, r in [(12, 12, 7), (12, 25, 7), (34, 44, 8), (36, 12, 5)]:
        mask |= (yy - cy) ** 2 + (xx - cx) ** 2 < r**2
    image = rng.normal(20, 3, SHAPE) + 100 * mask
    return image.astype(np.float32), mask


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    folder = tmp_path_factory.mktemp("objects_cli")
    image, mask = _cells(0)
    write_image(folder / "a.tif", image, spacing={"y": 0.5, "x": 0.5}, unit="micrometer")
    write_image(folder / "b.tif", _cells(1)[0])
    write_image(folder / "mask.tif", mask.astype(np.uint8))
    labels = np.zeros(SHAPE, np.uint8)
    labels[40:46, 25:35] = 1
    labels[33:36, 40:48] = 2
    write_image(folder / "labels.tif", labels)
    code = main(["train", str(folder / "a.tif"), "--labels", str(folder / "labels.tif"),
                 "-o", str(folder / "m.brushlab"), "--features", "gaussian_smoothing:1.0,2.0",
                 "--trees", "10", "--seed", "0", "--classes", "background,cell"])
    assert code == 0
    return folder


def test_objects_from_a_model_writes_labels_and_tables(data, tmp_path, capsys):
    out = tmp_path / "out"
    code = main(["objects", str(data / "m.brushlab"), str(data / "a.tif"), str(data / "b.tif"),
                 "-o", str(out), "--class", "cell", "--min-size", "4"])
    assert code == 0
    assert sorted(p.name for p in out.iterdir()) == [
        "a_objects.csv", "a_objects.tif", "b_objects.csv", "b_objects.tif"]
    labels = imread(out / "a_objects.tif")
    assert labels.attrs["spacing"] == {"y": 0.5, "x": 0.5}
    assert int(labels.max()) == 4  # the touching pair is split
    table = pd.read_csv(out / "a_objects.csv", index_col="label")
    assert len(table) == 4 and set(table["class"]) == {"cell"}
    assert table["area"].sum() == pytest.approx(table["n_pixels"].sum() * 0.25)
    assert "wrote 4 objects" in capsys.readouterr().out
    # a second run skips what exists; --no-separate merges the touching pair
    assert main(["objects", str(data / "m.brushlab"), str(data / "a.tif"), "-o", str(out)]) == 0
    assert "skipped" in capsys.readouterr().out
    assert main(["objects", str(data / "m.brushlab"), str(data / "a.tif"), "-o", str(out),
                 "--no-separate", "--overwrite", "--measure", "parquet", "--crf",
                 "--min-confidence", "0.6", "-q"]) == 0
    assert int(imread(out / "a_objects.tif").max()) == 3
    assert len(pd.read_parquet(out / "a_objects.parquet")) == 3


def test_objects_from_a_precomputed_mask(data, tmp_path):
    out = tmp_path / "out"
    assert main(["objects", "--precomputed", str(data / "mask.tif"), "-o", str(out),
                 "--measure", "none", "-q"]) == 0
    assert [p.name for p in out.iterdir()] == ["mask_objects.tif"]
    assert int(imread(out / "mask_objects.tif").max()) == 4


def test_objects_watershed_of_a_boundary_probability(data, tmp_path):
    boundary = np.zeros(SHAPE, np.float32)
    boundary[:, 30:33] = 0.9
    write_image(data / "boundary.tif", boundary)
    out = tmp_path / "out"
    assert main(["objects", "--precomputed", str(data / "boundary.tif"), "-o", str(out),
                 "--method", "watershed", "-q"]) == 0
    assert sorted(np.unique(imread(out / "boundary_objects.tif").values)) == [1, 2]


def test_objects_errors_and_exit_codes(data, tmp_path, capsys):
    model, out = str(data / "m.brushlab"), str(tmp_path / "out")
    assert main(["objects", model, "-o", out]) == 2  # no input image
    assert main(["objects", "--precomputed", str(data / "mask.tif"), "-o", out, "--crf"]) == 2
    assert main(["objects", model, str(data / "a.tif"), "-o", out, "--class", "nucleus"]) == 1
    assert "not a class of the model" in capsys.readouterr().err
    assert main(["objects", model, str(data / "a.tif"), str(data / "missing.tif"),
                 "-o", out]) == 3  # one of two failed
    assert "1 of 2 input(s) failed" in capsys.readouterr().err
    assert main(["objects", str(data / "a.tif"), str(data / "a.tif"), "-o", out]) == 1
    assert main(["objects", "--precomputed", str(data / "mask.tif"), "-o", out,
                 "--method", "watershed"]) == 1
    assert "boundary probability" in capsys.readouterr().err


def test_objects_batch_goes_on_after_an_unexpected_error_and_clears_temps(
        data, tmp_path, capsys, monkeypatch):
    import brushlab
    from brushlab._core.atomic import atomic_path

    out = tmp_path / "out"
    out.mkdir()
    writing = atomic_path(out / "b_objects.csv")  # a run killed while writing b's table
    stale = writing.__enter__()
    stale.write_text("label,area\n1,")
    predict = brushlab.PixelClassifier.predict

    def fails_on_a(self, image, *args, **kwargs):
        if float(image.attrs.get("spacing", {}).get("x", 1.0)) == 0.5:  # a.tif only
            raise ZeroDivisionError("division by zero")
        return predict(self, image, *args, **kwargs)

    monkeypatch.setattr(brushlab.PixelClassifier, "predict", fails_on_a)
    code = main(["objects", str(data / "m.brushlab"), str(data / "a.tif"), str(data / "b.tif"),
                 "-o", str(out), "--class", "cell", "-q"])
    err = capsys.readouterr().err
    assert code == 3
    assert f"{data / 'a.tif'}: unexpected ZeroDivisionError: division by zero" in err
    assert "Traceback" not in err
    assert sorted(p.name for p in out.iterdir()) == ["b_objects.csv", "b_objects.tif"]
    del writing
