"""Real-browser tests: the quickstart notebook in JupyterLab and in Voila, driven by chromium.

Debian's chromium (``apt-get install -y chromium``) is driven through Playwright; no
browser is downloaded. Without chromium the tests skip, unless
``BRUSHLAB_REQUIRE_BROWSER=1`` (set by ``.ci/run``) turns the skip into a failure.
"""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

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
    page.wait_for_function(js, arg=arg, timeout=timeout_ms, polling=250)


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
    port, token = _free_port(), secrets.token_hex(16)
    server = Server(
        [str(BIN / "jupyter"), "lab", "--no-browser", "--ip=127.0.0.1", f"--port={port}",
         f"--IdentityProvider.token={token}", "--ServerApp.allow_root=True",
         "--LabApp.expose_app_in_browser=True", f"--ServerApp.root_dir={workdir}",
         "--LabApp.news_url=", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"],
        workdir, port, token,
    )
    try:
        page = browser.new_page(viewport={"width": 1600, "height": 1200})
        page.goto(f"http://127.0.0.1:{port}/lab/tree/{NOTEBOOK.name}?token={token}",
                  timeout=TIMEOUT_MS)
        _wait_for(page, "() => window.jupyterapp && window.jupyterapp.shell.currentWidget"
                        " && window.jupyterapp.shell.currentWidget.sessionContext")
        # Wait for the kernel: run-all before it is ready runs nothing and fails nothing.
        _wait_for(page, """() => {
            const ctx = window.jupyterapp.shell.currentWidget.sessionContext;
            return ctx.isReady && ctx.session && ctx.session.kernel
                   && ctx.session.kernel.status === 'idle';
        }""")
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
