"""The core never imports a UI toolkit: widgets are a layer on top of the Session."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

UI_MODULES = ("ipywidgets", "ipycanvas", "bokeh", "jupyter_bokeh", "ipyevents")
SRC = Path(__file__).resolve().parents[1] / "src" / "brushlab"

SCRIPT = f"""
import sys
for name in {UI_MODULES!r}:
    sys.modules[name] = None  # any import of it raises ImportError
import numpy as np
import brushlab, brushlab.session
from brushlab.session import Session
image = np.zeros((32, 32), np.float32); image[:, 16:] = 1
fs = brushlab.FeatureSet({{"gaussian_smoothing": [1.0]}})
with Session(image, features=fs, classifier_params={{"n_trees": 2}}) as s:
    s.paint(0, [(4, 2), (28, 2)], 1, radius=1)
    s.paint(0, [(4, 28), (28, 28)], 2, radius=1)
    s.train()
    assert int(s.predict_region(0).segmentation[16, 30]) == 2
loaded = sorted(m for m in sys.modules if m.split(".")[0] in {UI_MODULES!r} and sys.modules[m])
assert not loaded, loaded
print("ok")
"""


def test_core_works_with_ui_toolkits_blocked():
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"


def test_no_core_module_imports_a_ui_toolkit():
    offenders = []
    for path in sorted(SRC.rglob("*.py")):
        if "widgets" in path.relative_to(SRC).parts:
            continue  # the one place UI toolkits belong
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                if name.split(".")[0] in UI_MODULES:
                    offenders.append(f"{path.relative_to(SRC)}:{node.lineno} imports {name}")
    assert offenders == []
    assert (SRC / "session" / "_session.py").exists()  # the scan saw the session package
