"""Real-browser tests: the quickstart notebook in JupyterLab and in Voila, driven by chromium.

Debian's chromium (``apt-get install -y chromium``) is driven through Playwright; no
browser is downloaded. Without chromium the tests skip, unless
``BRUSHLAB_REQUIRE_BROWSER=1`` (set by ``.ci/run``) turns the skip into a failure.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.hidden_torch import needs_torch

CHROMIUM = "/usr/bin/chromium"
NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "01_quickstart.ipynb"
BIN = Path(sys.executable).parent
TIMEOUT_MS = 120_000

pytestmark = pytest.mark.browser


def _require_browser() -> None:
    missing = []
    if not Path(CHROMIUM).exists():
        missing.append(f"{CHROMIUM} (apt-get install -y chromium)")
    try:
        import playwright  # noqa: F401
    except ImportError:
        missing.append("playwright (pip install playwright)")
    if missing:
        message = "browser tests need " + " and ".join(missing)
        if os.environ.get("BRUSHLAB_REQUIRE_BROWSER") == "1":
            pytest.fail(message)
        pytest.skip(message)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_port(port: int, proc: subprocess.Popen, log: Path, timeout: float = 90) -> None:
    end = time.time() + timeout
    while time.time() < end:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited early:\n{log.read_text()[-3000:]}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.3)
    raise RuntimeError(f"server did not listen on {port}:\n{log.read_text()[-3000:]}")


class Server:
    def __init__(self, argv: list[str], cwd: Path, port: int, token: str) -> None:
        self.port, self.token = port, token
        self.log = cwd / f"server-{port}.log"
        env = {**os.environ, "JUPYTER_PLATFORM_DIRS": "1", "BROWSER": "true"}
        self.proc = subprocess.Popen(argv, cwd=cwd, stdout=self.log.open("w"),
                                     stderr=subprocess.STDOUT, env=env)
        _wait_port(port, self.proc, self.log)

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def _lab_server(root: Path) -> Server:
    """JupyterLab serving ``root``, with ``window.jupyterapp`` exposed to the page."""
    port, token = _free_port(), secrets.token_hex(16)
    return Server(
        [str(BIN / "jupyter"), "lab", "--no-browser", "--ip=127.0.0.1", f"--port={port}",
         f"--IdentityProvider.token={token}", "--ServerApp.allow_root=True",
         "--LabApp.expose_app_in_browser=True", f"--ServerApp.root_dir={root}",
         "--LabApp.news_url=", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"],
        root, port, token,
    )


def _open_in_lab(browser, server: Server, name: str):  # type: ignore[no-untyped-def]
    """A page with notebook ``name`` open in JupyterLab, once its kernel is idle.

    Run-all before the kernel is ready runs nothing and fails nothing: hence the wait.
    """
    page = browser.new_page(viewport={"width": 1600, "height": 1200})
    page.goto(f"http://127.0.0.1:{server.port}/lab/tree/{name}?token={server.token}",
              timeout=TIMEOUT_MS)
    _wait_for(page, """() => {
        const w = window.jupyterapp && window.jupyterapp.shell.currentWidget;
        const ctx = w && w.sessionContext;
        return ctx && ctx.isReady && ctx.session && ctx.session.kernel
               && ctx.session.kernel.status === 'idle';
    }""")
    return page


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    shutil.copy(NOTEBOOK, tmp_path / NOTEBOOK.name)
    return tmp_path


@pytest.fixture
def browser() -> Iterator:
    _require_browser()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--no-first-run", "--disable-sync"],
        )
        yield b
        b.close()


# -- reading the annotator back from the page ------------------------------------------
# ipycanvas composites the MultiCanvas layers (image, labels, overlay, cursor) into one
# <canvas> whose buffer is 2x its CSS size (1024 for the default 512): read that back.

_CANVAS_JS = """
() => Array.from(document.querySelectorAll('canvas'))
        .filter(c => c.width === 1024 && c.height === 1024)
"""

_OPAQUE_JS = f"""
() => {{
  const c = ({_CANVAS_JS})()[0];
  if (!c) return 0;
  const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
  let n = 0;
  for (let i = 3; i < d.length; i += 4) if (d[i] > 0) n++;
  return n;
}}
"""

_SNAPSHOT_JS = f"""
() => {{
  const c = ({_CANVAS_JS})()[0];
  window.__brushlab_before = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
}}
"""

# Pixels that changed since the snapshot, outside the given boxes (fractions of the canvas).
_CHANGED_JS = f"""
(boxes) => {{
  const c = ({_CANVAS_JS})()[0];
  const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
  const b = window.__brushlab_before;
  let n = 0;
  for (let y = 0; y < c.height; y++) {{
    for (let x = 0; x < c.width; x++) {{
      const fx = x / c.width, fy = y / c.height;
      if (boxes.some(r => fx >= r[0] && fx <= r[2] && fy >= r[1] && fy <= r[3])) continue;
      const i = 4 * (y * c.width + x);
      if (d[i] !== b[i] || d[i + 1] !== b[i + 1] || d[i + 2] !== b[i + 2]) n++;
    }}
  }}
  return n;
}}
"""

_COUNTS_JS = """
() => Array.from(document.querySelectorAll('.brushlab-count'))
        .map(e => parseInt(e.textContent.replace(/,/g, ''), 10))
"""

_STATUS_JS = """
() => Array.from(document.querySelectorAll('.brushlab-status')).map(e => e.textContent).join('')
"""


def _wait_for(page, js: str, arg=None, timeout_ms: int = TIMEOUT_MS) -> None:
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    try:
        page.wait_for_function(js, arg=arg, timeout=timeout_ms, polling=250)
    except PlaywrightTimeout as exc:  # say what the page showed instead
        shots = os.environ.get("BRUSHLAB_SCREENSHOTS")
        if shots:
            Path(shots).mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(Path(shots) / "timeout.png"), full_page=True)
        raise AssertionError(f"waited in vain for {js.strip()[:200]}; the status line said "
                             f"{page.evaluate(_STATUS_JS)!r}") from exc


def _canvas_box(page) -> dict:
    box = page.evaluate(f"""
      () => {{
        const r = ({_CANVAS_JS})()[0].getBoundingClientRect();
        return {{x: r.x, y: r.y, width: r.width, height: r.height}};
      }}""")
    assert box["width"] > 100, box
    return box


def _drag(page, box: dict, points: list[tuple[float, float]]) -> None:
    """Drag through ``points`` given as fractions of the canvas."""
    def at(p):
        return box["x"] + p[0] * box["width"], box["y"] + p[1] * box["height"]

    page.mouse.move(*at(points[0]))
    page.mouse.down()
    for p in points[1:]:
        page.mouse.move(*at(p), steps=8)
    page.mouse.up()


def _choose_class(page, name: str) -> None:
    select = page.locator("select").filter(has=page.locator(f"option:text-is('{name}')")).first
    select.select_option(label=name)


def _bounds(points, margin=0.06):
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    return [min(xs) - margin, min(ys) - margin, max(xs) + margin, max(ys) + margin]


def _paint_two_classes_and_check(page, shots: Path, name: str) -> None:
    """The annotator is shown and trained live from the notebook; paint, and see it change."""
    _wait_for(page, f"() => ({_CANVAS_JS})().length >= 1")
    _wait_for(page, f"() => ({_OPAQUE_JS})() > 100000")  # the image is drawn
    # sample labels imported and a live overlay arrived
    _wait_for(page, f"() => ({_COUNTS_JS})().reduce((a, b) => a + b, 0) > 0")
    _wait_for(page, f"() => ({_STATUS_JS})().includes('live:')")
    page.wait_for_timeout(1500)  # let any pending live update land
    before = _counts_of(page)
    status = page.evaluate(_STATUS_JS)
    page.evaluate(_SNAPSHOT_JS)
    box = _canvas_box(page)
    page.screenshot(path=str(shots / f"{name}-before.png"))
    stroke1 = [(0.30, 0.30), (0.45, 0.35), (0.60, 0.30)]
    stroke2 = [(0.35, 0.70), (0.50, 0.62), (0.65, 0.70)]
    _choose_class(page, "background")
    _drag(page, box, stroke1)
    _choose_class(page, "cell")
    _drag(page, box, stroke2)
    # the kernel received both strokes: its label counts (rendered from kernel state) grew
    _wait_for(page, f"""() => {{
        const c = ({_COUNTS_JS})();
        return c.length === 2 && c[0] > {before[0]} && c[1] > {before[1]};
    }}""")
    total = sum(_counts_of(page))
    # the live forest retrained on the new labels, and overlay pixels away from the strokes
    # changed on the canvas
    _wait_for(page, f"() => ({_STATUS_JS})().includes('on {total:,} labelled')")
    page.wait_for_timeout(500)
    changed = page.evaluate(_CHANGED_JS, [_bounds(stroke1), _bounds(stroke2)])
    page.screenshot(path=str(shots / f"{name}-after.png"))
    assert changed > 500, (changed, status, page.evaluate(_STATUS_JS))


def _counts_of(page) -> list[int]:
    return page.evaluate(_COUNTS_JS)


def test_quickstart_in_jupyterlab(browser, workdir: Path) -> None:
    server = _lab_server(workdir)
    try:
        page = _open_in_lab(browser, server, NOTEBOOK.name)
        page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-cells')")
        # JupyterLab detaches cells scrolled out of view: bring the annotator's cell back
        _wait_for(page, f"() => {{ window.jupyterapp.shell.currentWidget.content"
                        f".scrollToItem(2); return ({_CANVAS_JS})().length >= 1; }}")
        _paint_two_classes_and_check(page, workdir, "jupyterlab")
    finally:
        server.stop()


def test_quickstart_in_voila_survives_a_reload(browser, workdir: Path) -> None:
    port, token = _free_port(), secrets.token_hex(16)
    server = Server(
        [str(BIN / "voila"), NOTEBOOK.name, "--no-browser", f"--port={port}",
         "--Voila.ip=127.0.0.1", f"--token={token}", "--ServerApp.allow_root=True"],
        workdir, port, token,
    )
    try:
        page = browser.new_page(viewport={"width": 1600, "height": 1200})
        url = f"http://127.0.0.1:{port}/?token={token}"
        page.goto(url, timeout=TIMEOUT_MS)
        _paint_two_classes_and_check(page, workdir, "voila")
        page.reload(timeout=TIMEOUT_MS)
        # a reloaded page must draw again (a blank canvas otherwise)
        _wait_for(page, f"() => ({_CANVAS_JS})().length >= 1")
        _wait_for(page, f"() => ({_OPAQUE_JS})() > 100000")
        _wait_for(page, f"() => ({_STATUS_JS})().includes('live:')")
        page.screenshot(path=str(workdir / "voila-reloaded.png"))
    finally:
        server.stop()


# -- the widget's text at 1280 and 1600 px, on a CZI straight off the microscope --------------

# Every visible label-like element whose text is cut (wider than its box), and every slider
# readout that overlaps its slider.
_CUT_JS = """
() => {
  const root = document.querySelector('.brushlab-annotator') || document;
  const visible = e => e.offsetParent !== null && e.getClientRects().length > 0;
  const sel = ['.jupyter-button', '.widget-toggle-button', '.widget-label', '.widget-readout',
               '.lm-TabBar-tabLabel', '.p-TabBar-tabLabel', '.widget-label-basic'];
  const cut = [];
  for (const e of root.querySelectorAll(sel.join(','))) {
    if (!visible(e)) continue;
    if (e.scrollWidth > e.clientWidth + 1) cut.push(`${e.className}: '${e.textContent.trim()
        || e.title}' ${e.scrollWidth} > ${e.clientWidth}`);
  }
  for (const s of root.querySelectorAll('.widget-hslider')) {
    const r = s.querySelector('.widget-readout'), t = s.querySelector('.slider-container');
    if (!r || !t || !visible(r)) continue;
    const a = r.getBoundingClientRect(), b = t.getBoundingClientRect();
    if (a.left < b.right && b.left < a.right && a.top < b.bottom && b.top < a.bottom)
      cut.push(`readout '${r.textContent}' overlaps its slider`);
  }
  return cut;
}
"""

_CZI_NOTEBOOK = """\
import brushlab
annotator = brushlab.annotate("cells.czi", classes=["background", "cell"], live=False)
image = annotator.session.images[0]
print(image.dims, image.attrs["spacing"], [str(c) for c in image.coords["c"].values])
annotator
"""


def _write_cells_czi(path: Path) -> None:
    """skimage's cell as a 2-channel CZI written by ZEISS's pylibCZIrw (0.2 um pixels)."""
    import numpy as np
    from pylibCZIrw import czi as pyczi
    from skimage import data

    cell = data.cell()
    channels = [cell, (255 - cell.astype(np.int32)).astype(cell.dtype)]
    with pyczi.create_czi(str(path), exist_ok=True) as doc:
        for c, plane in enumerate(channels):
            doc.write(np.ascontiguousarray(plane[..., None]), plane={"C": c, "Z": 0, "T": 0})
        doc.write_metadata(document_name="cells", channel_names={0: "DAPI", 1: "inverse"},
                           scale_x=0.2e-6, scale_y=0.2e-6)  # libCZI stores meters


def _widget_text_ok(page, shots: Path, state: str) -> None:
    """Screenshot ``state`` at 1280 and 1600 px wide; no label may be cut at either."""
    for width in (1280, 1600):
        page.set_viewport_size({"width": width, "height": 1200})
        page.wait_for_timeout(700)
        page.screenshot(path=str(shots / f"widget-{state}-{width}.png"), full_page=True)
        cut = page.evaluate(_CUT_JS)
        assert not cut, (state, width, cut)


def test_czi_annotated_with_whole_labels_at_1280_and_1600(browser, tmp_path: Path) -> None:
    pytest.importorskip("pylibCZIrw", reason="pylibCZIrw writes the CZI")
    pytest.importorskip("bioio_czi", reason="bioio-czi reads it (brushlab[formats])")
    import nbformat

    _write_cells_czi(tmp_path / "cells.czi")
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(_CZI_NOTEBOOK)]
    nb.metadata["kernelspec"] = json.loads(NOTEBOOK.read_text())["metadata"]["kernelspec"]
    nbformat.write(nb, tmp_path / "czi.ipynb")
    shots = Path(os.environ.get("BRUSHLAB_SCREENSHOTS", tmp_path))
    shots.mkdir(parents=True, exist_ok=True)
    server = _lab_server(tmp_path)
    try:
        page = _open_in_lab(browser, server, "czi.ipynb")
        page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-cells')")
        _wait_for(page, f"() => ({_CANVAS_JS})().length >= 1")
        _wait_for(page, f"() => ({_OPAQUE_JS})() > 100000")
        # the CZI's dims, pixel size and channel names, as the kernel read them
        text = page.locator(".jp-OutputArea-output pre").first.inner_text()
        assert "('y', 'x', 'c')" in text and "0.2" in text and "'DAPI', 'inverse'" in text
        _wait_for(page, f"() => ({_STATUS_JS})().startsWith('nothing is labelled yet')")
        _widget_text_ok(page, shots, "opened")

        box = _canvas_box(page)
        page.evaluate(f"() => ({_CANVAS_JS})()[0].focus()")  # keys go to the canvas
        page.keyboard.press("1")
        _drag(page, box, [(0.08, 0.10), (0.20, 0.12), (0.30, 0.10)])  # background
        _wait_for(page, f"() => ({_STATUS_JS})().includes(\"'cell' has no labels yet\")")
        page.keyboard.press("2")  # the cell class, by its key
        page.keyboard.press("]")
        _drag(page, box, [(0.45, 0.45), (0.55, 0.50), (0.62, 0.55)])
        _wait_for(page, f"() => ({_STATUS_JS})().startsWith('Live is off: press Train')")
        _widget_text_ok(page, shots, "painted")

        page.evaluate(_SNAPSHOT_JS)
        page.get_by_role("button", name="Train").click()
        # a progress bar and the elapsed time while it trains, then what to do next
        _wait_for(page, """() => document.querySelector('.brushlab-status progress') !== null
                           || document.querySelector('.brushlab-ok') !== null""")
        _wait_for(page, f"() => ({_STATUS_JS})().startsWith('trained ')")
        page.wait_for_timeout(800)
        changed = page.evaluate(_CHANGED_JS, [])
        assert changed > 20000, changed  # the segmentation overlay is drawn
        _widget_text_ok(page, shots, "trained")

        page.evaluate(f"() => ({_CANVAS_JS})()[0].focus()")  # the Train button had the focus
        page.keyboard.press("Control+z")  # undo the cell stroke: the model is stale now
        _wait_for(page, f"() => ({_STATUS_JS})().includes(\"'cell' has no labels yet\")")
        _widget_text_ok(page, shots, "undone")
    finally:
        server.stop()


# -- the Network tab: paint, train a tiny U-Net, overlay it, save and reopen it (issue 15) ----

_NETWORK_NOTEBOOK = """\
import numpy as np
from skimage import data

import brushlab

image = data.coins()[:192, :192].astype(np.float32)  # six coins on a dark background
features = brushlab.FeatureSet({"gaussian_smoothing": [1.0, 3.5],
                                "difference_of_gaussians": [2.0]})
annotator = brushlab.annotate(image, classes=["background", "coin"], features=features,
                              classifier_params={"n_trees": 10}, live=False)
annotator
"""

# Run by the test once the network is trained: the project round trip, checked in the kernel.
_ROUND_TRIP_CELL = """\
from brushlab.session._network import predict_network

session = annotator.session
shown = predict_network(session, 0).probabilities.values  # what the Network overlay draws
path = session.save("network.brushlab-project")
with brushlab.open_project(path, precompute=False) as reopened:
    again = reopened.network.predict(reopened.images[0]).probabilities.values
    cached = predict_network(reopened, 0).probabilities.values
net, panel = session.network, annotator.network_panel
print("ROUND" + "TRIP", np.array_equal(again, shown), np.array_equal(cached, shown),
      panel.minutes.value, net.arch.depth, net.arch.base_channels,
      annotator.view.result.attrs.get("source"), net.training["train_seconds"])
"""

_NETWORK_STATUS_JS = """
() => Array.from(document.querySelectorAll('.brushlab-network-status'))
        .map(e => e.textContent).join('')
"""


# Whether the Overlay toggle of the Network tab shows ``name`` as chosen.
_TOGGLE_JS = """
(name) => Array.from(document.querySelectorAll('.widget-toggle-button'))
        .some(b => b.textContent.trim() === name && b.classList.contains('mod-active'))
"""


def _run_cell(page, index: int) -> None:
    """Run one cell of the open notebook (as Shift+Enter would, without moving on)."""
    page.evaluate(f"""() => {{
        const nb = window.jupyterapp.shell.currentWidget;
        nb.content.activeCellIndex = {index};
        nb.content.scrollToItem({index});
        return window.jupyterapp.commands.execute('notebook:run-cell');
    }}""")


@needs_torch
def test_network_tab_trains_overlays_and_saves_in_jupyterlab(browser, tmp_path: Path) -> None:
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(_NETWORK_NOTEBOOK),
                nbformat.v4.new_code_cell(_ROUND_TRIP_CELL)]
    nb.metadata["kernelspec"] = json.loads(NOTEBOOK.read_text())["metadata"]["kernelspec"]
    nbformat.write(nb, tmp_path / "network.ipynb")
    shots = Path(os.environ.get("BRUSHLAB_SCREENSHOTS", tmp_path))
    shots.mkdir(parents=True, exist_ok=True)
    server = _lab_server(tmp_path)
    try:
        page = _open_in_lab(browser, server, "network.ipynb")
        _run_cell(page, 0)  # only the annotator: the round trip runs once a network exists
        _wait_for(page, f"() => ({_CANVAS_JS})().length >= 1")
        _wait_for(page, f"() => ({_OPAQUE_JS})() > 100000")
        _wait_for(page, f"() => ({_STATUS_JS})().startsWith('nothing is labelled yet')")

        # paint both classes with the mouse: between the coin rows, and across two coins
        box = _canvas_box(page)
        _choose_class(page, "background")
        _drag(page, box, [(0.05, 0.45), (0.50, 0.44), (0.95, 0.46)])
        _choose_class(page, "coin")
        _drag(page, box, [(0.43, 0.27), (0.50, 0.25), (0.57, 0.28)])
        _drag(page, box, [(0.12, 0.66), (0.20, 0.64), (0.27, 0.67)])
        _wait_for(page, f"""() => {{
            const c = ({_COUNTS_JS})();
            return c.length === 2 && c[0] > 0 && c[1] > 0;
        }}""")
        # the forest first: its overlay is what the network's must differ from
        page.get_by_role("button", name=re.compile(r"Train$")).click()  # name: icon + Train
        _wait_for(page, f"() => ({_STATUS_JS})().startsWith('trained ')")
        page.wait_for_timeout(800)
        page.evaluate(_SNAPSHOT_JS)
        page.screenshot(path=str(shots / "network-forest.png"))

        # the Network tab: the shortest budget (typed into the slider's readout), the small net
        page.locator(".brushlab-tabs .lm-TabBar-tab", has_text="Network").click()
        minutes = page.locator(".widget-hslider", has_text="Minutes").locator(".widget-readout")
        minutes.click()
        page.keyboard.press("Control+A")
        page.keyboard.type("0.25")
        page.keyboard.press("Enter")
        page.locator("select").filter(has=page.locator("option:text-is('small (3 levels x 8)')")
                                      ).select_option(label="small (3 levels x 8)")
        _wait_for(page, f"() => ({_NETWORK_STATUS_JS})() === 'not trained'")
        page.get_by_role("button", name="Train network").click()
        _wait_for(page, f"() => ({_NETWORK_STATUS_JS})() !== 'not trained'")
        _wait_for(page, f"""() => {{
            const s = ({_NETWORK_STATUS_JS})();
            return s.startsWith('trained:') || s.includes('failed') || s.includes('pip install');
        }}""")
        status = page.evaluate(_NETWORK_STATUS_JS)
        assert status.startswith("trained:"), status
        page.screenshot(path=str(shots / "network-trained.png"), full_page=True)

        # the overlay switched to the network's prediction: pixels change on the canvas
        network = page.get_by_role("button", name="network", exact=True)
        network.click()
        _wait_for(page, f"() => ({_CHANGED_JS})([]) > 2000")
        page.wait_for_timeout(500)
        page.screenshot(path=str(shots / "network-overlay.png"), full_page=True)

        # Train (the forest, on a worker thread) takes the overlay back: the toggle follows,
        # so clicking "network" brings the network's overlay back
        page.evaluate(_SNAPSHOT_JS)
        page.get_by_role("button", name=re.compile(r"Train$")).click()
        _wait_for(page, _TOGGLE_JS, "forest")
        _wait_for(page, f"() => ({_CHANGED_JS})([]) > 2000")
        page.evaluate(_SNAPSHOT_JS)
        network.click()
        _wait_for(page, _TOGGLE_JS, "network")
        _wait_for(page, f"() => ({_CHANGED_JS})([]) > 2000")

        # save the project and reopen it in the kernel: the same network, the same pixels
        _run_cell(page, 1)
        out = page.locator(".jp-OutputArea-output", has_text="ROUNDTRIP")
        out.wait_for(timeout=TIMEOUT_MS)
        words = out.inner_text().split()
        assert words[:3] == ["ROUNDTRIP", "True", "True"], words
        assert words[3:7] == ["0.25", "3", "8", "model"], words  # what the browser set
        assert float(words[7]) < 60, words
    finally:
        server.stop()
