"""Loading Model Zoo packages: formats 0.4/0.5, folder/zip/yaml, offline, and clear errors."""

from __future__ import annotations

import pickle
import shutil
import socket
import zipfile

import numpy as np
import pytest
import yaml

import brushlab
from brushlab.errors import BrushlabError, ImageError, ModelPackageError
from tests.dl_packages import (
    affine_model,
    ref_space,
    simple_package,
    space,
    write_package_04,
    write_package_05,
)


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    """Loading must never reach the network: any connection attempt fails the test."""

    def refuse(*args, **kwargs):
        raise AssertionError("brushlab.bioimageio tried to open a network connection")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


def test_load_05_folder_runs_and_self_tests(tmp_path):
    pkg = simple_package(tmp_path / "affine")
    model = brushlab.load_model(pkg)
    assert model.name == "test affine"
    assert [t.id for t in model.inputs] == ["raw"] and [t.id for t in model.outputs] == ["out"]
    report = model.test()
    assert report.passed, str(report)
    assert report.max_abs_diff["out"] < 1e-5
    image = np.arange(24 * 32, dtype=np.float32).reshape(24, 32)
    result = model.predict(image)
    assert result["out"].dims == ("channel", "y", "x")
    assert list(result["out"].coords["channel"].values) == ["out"]
    np.testing.assert_allclose(result["out"].values[0], image * 2 + 1, rtol=1e-6)


def test_load_zip_and_yaml_path_and_bioimageio_yaml_name(tmp_path):
    pkg = simple_package(tmp_path / "affine")
    archive = tmp_path / "affine.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for f in pkg.iterdir():
            zf.write(f, f.name)
    assert brushlab.load_model(archive).test().passed
    assert brushlab.load_model(pkg / "rdf.yaml").test().passed
    (pkg / "rdf.yaml").rename(pkg / "bioimageio.yaml")
    assert brushlab.load_model(pkg).test().passed


def test_load_04_with_processing_converted_by_the_spec(tmp_path):
    rng = np.random.default_rng(1)
    x = (rng.random((1, 1, 24, 16)) * 50).astype(np.float32)
    z = (x - x.mean()) / (x.std() + 1e-6)
    y = ((z * 2 + 1) > 0.5).astype(np.float32)
    pkg = write_package_04(
        tmp_path / "v04",
        affine_model(),
        inputs=[
            {
                "name": "raw",
                "axes": "bcyx",
                "shape": {"min": [1, 1, 8, 8], "step": [0, 0, 8, 8]},
                "preprocessing": [
                    {
                        "name": "zero_mean_unit_variance",
                        "kwargs": {"mode": "per_sample", "axes": "yx"},
                    }
                ],
            }
        ],
        outputs=[
            {
                "name": "out",
                "axes": "bcyx",
                "shape": {"reference_tensor": "raw", "scale": [1, 1, 1, 1], "offset": [0, 0, 0, 0]},
                "postprocessing": [{"name": "binarize", "kwargs": {"threshold": 0.5}}],
            }
        ],
        test_inputs=[x],
        test_outputs=[y],
    )
    model = brushlab.load_model(pkg)
    assert model.format_version == "0.4"
    report = model.test()
    assert report.passed, str(report)
    np.testing.assert_array_equal(model.predict(x[0, 0])["out"].values, y[0])


def test_onnx_names_differ_from_yaml_ids_matched_by_position(tmp_path):
    pkg = simple_package(tmp_path / "named", model=affine_model(x="input.1", y="output_0"))
    model = brushlab.load_model(pkg)
    assert model.runner.input_names == {"raw": "input.1"}
    assert model.runner.output_names == {"out": "output_0"}
    assert model.test().passed


def test_sessions_are_cached_and_models_pickle(tmp_path):
    pkg = simple_package(tmp_path / "affine")
    a, b = brushlab.load_model(pkg), brushlab.load_model(pkg)
    assert a.runner.session is b.runner.session
    clone = pickle.loads(pickle.dumps(a))
    assert clone._runner is None  # the session is rebuilt lazily, not pickled
    image = np.ones((16, 16), np.float32)
    np.testing.assert_array_equal(clone.predict(image)["out"].values, 3.0)
    assert "CPUExecutionProvider" in a.providers


def test_failed_self_test_is_reported_not_raised(tmp_path):
    pkg = simple_package(tmp_path / "wrong", reference=lambda a: a * 2 + 1.5)
    report = brushlab.load_model(pkg).test()
    assert not report.passed
    assert report.max_abs_diff["out"] == pytest.approx(0.5, abs=1e-4)
    assert "FAILED" in str(report)


# -- bad input: every error is a BrushlabError that names the problem and the fix --------


def _rewrite(pkg, change):
    rdf = yaml.safe_load((pkg / "rdf.yaml").read_text())
    change(rdf)
    (pkg / "rdf.yaml").write_text(yaml.safe_dump(rdf))


def test_only_unsupported_weights(tmp_path):
    pkg = simple_package(tmp_path / "torch")
    (pkg / "model.pt").write_bytes(b"not really torchscript")

    def torch_only(rdf):
        rdf["weights"] = {"torchscript": {"source": "model.pt", "pytorch_version": "2.1"}}

    _rewrite(pkg, torch_only)
    with pytest.raises(ModelPackageError, match=r"torchscript only.*runs onnx weights"):
        brushlab.load_model(pkg)


def test_missing_weights_file(tmp_path):
    pkg = simple_package(tmp_path / "missing")
    (pkg / "model.onnx").unlink()
    with pytest.raises(
        ModelPackageError, match=r"does not contain it.*download or export the whole"
    ):
        brushlab.load_model(pkg)


def test_sha256_mismatch(tmp_path):
    pkg = simple_package(tmp_path / "tampered")
    data = (pkg / "model.onnx").read_bytes()
    (pkg / "model.onnx").write_bytes(data + b"\0")
    with pytest.raises(ModelPackageError, match=r"sha256 .*corrupt or was replaced"):
        brushlab.load_model(pkg)


def test_weights_by_url_are_refused_offline(tmp_path):
    pkg = simple_package(tmp_path / "remote")

    def remote(rdf):
        rdf["weights"]["onnx"]["source"] = "https://example.com/model.onnx"

    _rewrite(pkg, remote)
    with pytest.raises(ModelPackageError, match=r"by URL.*download the complete package"):
        brushlab.load_model(pkg)


def test_wrong_channel_count(tmp_path):
    pkg = simple_package(
        tmp_path / "rgb",
        model=affine_model(channels=3),
        in_channels=("r", "g", "b"),
        out_channels=("r", "g", "b"),
    )
    model = brushlab.load_model(pkg)
    with pytest.raises(
        ImageError, match=r"expects images with 3 channel\(s\) \(r, g, b\), this image has 1"
    ):
        model.predict(np.zeros((16, 16), np.float32))
    rgb = np.zeros((16, 24, 3), np.float32)
    assert model.predict(rgb)["out"].sizes == {"channel": 3, "y": 16, "x": 24}


def test_malformed_yaml(tmp_path):
    pkg = simple_package(tmp_path / "broken")
    (pkg / "rdf.yaml").write_text("name: [unclosed\n  type: model")
    with pytest.raises(ModelPackageError, match=r"not valid YAML.*fix the file"):
        brushlab.load_model(pkg)


@pytest.mark.parametrize(
    ("change", "pattern"),
    [
        (lambda r: r.update(format_version="0.9.0"), r"format_version '0.9.0'.*0.4 and 0.5"),
        (lambda r: r.update(type="dataset"), r"'dataset' resource, not a model"),
        (lambda r: r.pop("weights"), r"lists no weights"),
        (
            lambda r: r.pop("inputs"),
            r"not a valid model description according to bioimageio.spec.*inputs",
        ),
    ],
)
def test_unknown_format_and_invalid_descriptions(tmp_path, change, pattern):
    pkg = simple_package(tmp_path / "bad")
    _rewrite(pkg, change)
    with pytest.raises(ModelPackageError, match=pattern):
        brushlab.load_model(pkg)


def test_not_a_package(tmp_path):
    with pytest.raises(ModelPackageError, match="no model package at"):
        brushlab.load_model(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelPackageError, match="holds no rdf.yaml or bioimageio.yaml"):
        brushlab.load_model(tmp_path / "empty")
    (tmp_path / "x.zip").write_bytes(b"junk")
    with pytest.raises(BrushlabError, match="neither a folder, a zip"):
        brushlab.load_model(tmp_path / "x.zip")


def test_unsupported_axes_are_rejected_at_load(tmp_path):
    x = np.zeros((1, 1, 4, 8, 8), np.float32)
    pkg = write_package_05(
        tmp_path / "time",
        affine_model(),
        inputs=[
            {
                "id": "raw",
                "axes": [
                    {"type": "batch"},
                    {"type": "channel", "channel_names": ["c"]},
                    {"type": "time", "size": 4},
                    *space("yx", 8),
                ],
            }
        ],
        outputs=[
            {
                "id": "out",
                "axes": [
                    {"type": "batch"},
                    {"type": "channel", "channel_names": ["c"]},
                    {"type": "time", "size": 4},
                    *ref_space("yx", "raw"),
                ],
            }
        ],
        test_inputs=[x],
        test_outputs=[x],
    )
    with pytest.raises(ModelPackageError, match="time axis"):
        brushlab.load_model(pkg)


def test_copy_of_package_elsewhere_still_loads(tmp_path):
    pkg = simple_package(tmp_path / "a")
    moved = shutil.copytree(pkg, tmp_path / "b")
    assert brushlab.load_model(moved).test().passed


def test_two_inputs_run_and_self_test_but_predict_needs_one(tmp_path):
    from onnx import TensorProto, helper

    vi = [helper.make_tensor_value_info(n, TensorProto.FLOAT, ["b", 1, "y", "x"]) for n in "abz"]
    graph = helper.make_graph([helper.make_node("Add", ["a", "b"], ["z"])], "g", vi[:2], vi[2:])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    rng = np.random.default_rng(0)
    a, b = (rng.random((1, 1, 16, 16)).astype(np.float32) for _ in range(2))

    def tensor(tid, axes_size):
        return {
            "id": tid,
            "axes": [{"type": "batch"}, {"type": "channel", "channel_names": ["c"]}, *axes_size],
        }

    pkg = write_package_05(
        tmp_path / "two",
        model,
        inputs=[tensor("a", space("yx", 16)), tensor("b", space("yx", 16))],
        outputs=[tensor("z", ref_space("yx", "a"))],
        test_inputs=[a, b],
        test_outputs=[a + b],
    )
    loaded = brushlab.load_model(pkg)
    assert loaded.test().passed
    np.testing.assert_allclose(loaded.run({"a": a, "b": b})["z"].values, a + b)
    with pytest.raises(ModelPackageError, match="has 2 inputs; predict\\(\\) takes one image"):
        loaded.predict(a[0, 0])


def test_onnx_external_data(tmp_path):
    import onnx

    model = affine_model()
    folder = tmp_path / "external"
    pkg = simple_package(folder, model=model)
    onnx.save(
        model,
        pkg / "model.onnx",
        save_as_external_data=True,
        all_tensors_to_one_file=True,
        location="model.onnx.data",
        size_threshold=0,
    )
    assert (pkg / "model.onnx.data").is_file()

    def external(rdf):
        from tests.dl_packages import sha

        rdf["weights"]["onnx"]["sha256"] = sha(pkg / "model.onnx")
        rdf["weights"]["onnx"]["external_data"] = {
            "source": "model.onnx.data",
            "sha256": sha(pkg / "model.onnx.data"),
        }

    _rewrite(pkg, external)
    archive = tmp_path / "external.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for f in pkg.iterdir():
            zf.write(f, f.name)
    for source in (pkg, archive):
        assert brushlab.load_model(source).test().passed
