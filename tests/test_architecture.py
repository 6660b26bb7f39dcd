"""The layout rules of issue 12, checked on the source: no import cycle, modules of one topic.

The layers and independence contracts are import-linter's (``lint-imports``, run by
``make test``); this file adds what import-linter does not check.
"""

from __future__ import annotations

from pathlib import Path

import grimp
import pytest

import brushlab

SRC = Path(brushlab.__file__).parent
MAX_LINES = 500


def _strongly_connected(graph: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's strongly connected components of more than one module."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []
    counter = [0]

    def visit(node: str) -> None:
        index[node] = low[node] = counter[0]
        counter[0] += 1
        stack.append(node)
        on_stack.add(node)
        for nxt in graph.get(node, ()):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return out


def test_no_import_cycle_between_brushlab_modules():
    graph = grimp.build_graph("brushlab", exclude_type_checking_imports=True)
    # A package's __init__ re-exports its submodules: that edge is not a dependency.
    edges = {
        m: {
            i
            for i in graph.find_modules_directly_imported_by(m)
            if i.startswith("brushlab") and not m.startswith(i + ".")
        }
        for m in graph.modules
        if m.startswith("brushlab")
    }
    cycles = _strongly_connected(edges)
    assert not cycles, f"import cycles among brushlab modules: {cycles}"


@pytest.mark.parametrize("path", sorted(SRC.rglob("*.py")), ids=lambda p: str(p.relative_to(SRC)))
def test_module_holds_one_topic(path):
    lines = len(path.read_text().splitlines())
    assert lines <= MAX_LINES, f"{path.name} has {lines} lines: it holds two topics, split it"


_BLOCKER = """
import importlib.abc, sys
BLOCKED = {"ipywidgets", "ipycanvas", "bokeh", "jupyter_bokeh", "onnx", "onnxruntime",
           "bioimageio", "jupyterlab", "voila", "torch"}
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ImportError(f"{name} is not in the core install")
        return None
sys.meta_path.insert(0, Block())
"""


def test_core_install_runs_blockwise_prediction_without_user_facing_extras(tmp_path):
    """A cluster worker needs only the core install: no widget, Jupyter or ONNX packages."""
    import subprocess
    import sys

    script = _BLOCKER + f"""
import numpy as np, brushlab
img = np.zeros((40, 40), np.float32); img[:, 20:] = 1
labels = np.zeros((40, 40), np.uint8); labels[5:8, 2:6] = 1; labels[5:8, 30:34] = 2
fs = brushlab.FeatureSet({{"gaussian_smoothing": [1.0]}})
clf = brushlab.PixelClassifier(fs, random_state=0).fit(img, labels)
brushlab.write_image({str(tmp_path / 'in.zarr')!r}, img)
brushlab.predict_blockwise(clf, {str(tmp_path / 'in.zarr')!r}, {str(tmp_path / 'out.ome.zarr')!r},
                           chunks=20, progress=False)
assert "ipywidgets" not in sys.modules and "onnxruntime" not in sys.modules
print("ok")
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip().endswith("ok")
