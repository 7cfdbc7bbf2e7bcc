"""The players inside real Jupyter front ends: a notebook run by this Python's kernel, then
served by JupyterLab and exported by `jupyter nbconvert --to html`, each opened in headless
Chromium at 1366x768. The tutorial neuron's player must spread its edge labels and follow
the step (it once piled them at the left edge: it measured while its frame had no size);
the demo's player and training replay step mid-way; an untrusted notebook shows the note
and the picture. Slow (JupyterLab starts in ~10 s); needs the `notebooks` extra.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from conftest import require_module
from helpers import PLAYER_SWEEP, headless_chromium, save_screenshot

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[1]
KERNEL = "micrograd-ann-test"
CELLS = [
    "from micrograd_ann import MLP, Value, datasets, dot, training\n"
    "from micrograd_ann.views import player, replay",
    # the tutorial's neuron: sigmoid(w . x + b) = 0.9241
    "x = [Value(1.0, 'x0'), Value(5.0, 'x1'), Value(3.0, 'x2')]\n"
    "w = [Value(0.2, 'w0'), Value(0.5, 'w1'), Value(-0.1, 'w2')]\n"
    "out = dot(w, x, Value(0.1, 'b')).sigmoid()\n"
    "player.Player(out)",
    # the demo's loss on one batch
    "xs, ys = datasets.make_moons(100, seed=0)[0]\n"
    "loss = training.labelled_loss('bce', MLP(2, [16, 16, 1], seed=0)(xs), ys)\n"
    "player.Player(loss)",
    # the demo's training run, replayed
    "replay.Replay(training.train(training.TrainConfig(), history=True).history)",
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def jupyter(tmp_path_factory):
    """(folder, environment, executed notebook): Jupyter's paths all inside `folder`, where
    this Python is registered as the notebook's kernel."""
    require_module("jupyterlab", extra="notebooks")
    nbformat = require_module("nbformat")
    nbclient = require_module("nbclient")
    folder = tmp_path_factory.mktemp("jupyter")
    env = {**os.environ, "JUPYTER_PATH": str(folder / "share" / "jupyter"),
           "JUPYTER_DATA_DIR": str(folder / "data"), "JUPYTER_CONFIG_DIR": str(folder / "config"),
           "JUPYTER_PLATFORM_DIRS": "1", "IPYTHONDIR": str(folder / "ipython")}
    subprocess.run([sys.executable, "-m", "ipykernel", "install", "--prefix", str(folder),
                    "--name", KERNEL], check=True, capture_output=True, env=env)
    notebook = nbformat.v4.new_notebook(
        cells=[nbformat.v4.new_code_cell(c) for c in CELLS],
        metadata={"kernelspec": {"name": KERNEL, "display_name": KERNEL, "language": "python"}})
    saved = dict(os.environ)
    os.environ.update(env)  # the client finds the kernel through JUPYTER_PATH
    try:
        nbclient.NotebookClient(notebook, timeout=600, kernel_name=KERNEL,
                                resources={"metadata": {"path": str(ROOT)}}).execute()
    finally:
        os.environ.clear()
        os.environ.update(saved)
    path = folder / "players.ipynb"
    nbformat.write(notebook, path)
    return folder, env, path


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    driver = headless_chromium(tmp_path_factory.mktemp("chromium-profile"), 1366, 768)
    driver.set_script_timeout(120)
    yield driver
    driver.quit()


def _in_frame(browser, frame, script: str, *args):
    """Run `script` inside an output's iframe, scrolled into view first."""
    browser.execute_script("arguments[0].scrollIntoView()", frame)
    browser.switch_to.frame(frame)
    try:
        return browser.execute_script(script, *args)
    finally:
        browser.switch_to.default_content()


SLIDE = ("const s = document.getElementById(arguments[0]); s.value = arguments[1];"
         " s.dispatchEvent(new Event('input'));")
# What the player shows: its position line, and the tops of the visible edge labels.
SHOWN = ("return [document.getElementById('mg-position').textContent,"
         " [...document.querySelectorAll('.mg-elabel')].filter((l) => l.textContent)"
         "   .map((l) => l.getBoundingClientRect().top)];")


def _wait_for_frames(browser, count: int, seconds: float = 60) -> list:
    """The page's output iframes, once `count` of them have a size and a loaded player."""
    from selenium.common.exceptions import WebDriverException

    deadline = time.monotonic() + seconds
    while True:
        frames = [f for f in browser.find_elements("tag name", "iframe")
                  if f.size["height"] > 0]
        if len(frames) >= count:
            try:
                if all(_in_frame(browser, f, "return document.readyState") == "complete"
                       for f in frames):
                    return frames
            except WebDriverException:  # a frame replaced while JupyterLab renders
                pass
        if time.monotonic() > deadline:
            raise AssertionError(f"{len(frames)} sized output frames after {seconds} s, "
                                 f"expected {count}")
        time.sleep(0.5)


def _check_players(browser, frames) -> None:
    """The tutorial neuron's player: its 7 edge labels spread beside their edges, no sweep
    problem, the step followed; the demo's: step 37, every step but the known one legible;
    the replay at epoch 50."""
    neuron, demo, history = frames
    position, tops = _in_frame(browser, neuron, SLIDE + SHOWN, "mg-slider", 99)
    assert position.startswith("backward step ")
    assert len(tops) == 7 and max(tops) - min(tops) > 50, tops  # not piled at one edge
    assert _in_frame(browser, neuron, PLAYER_SWEEP, {})["bad"] == 0
    first, _ = _in_frame(browser, neuron, SLIDE + SHOWN, "mg-slider", 1)
    assert first.startswith("backward step 1 / ") and first != position  # it follows
    middle, _ = _in_frame(browser, demo, SLIDE + SHOWN, "mg-slider", 37)
    assert middle.startswith("backward step 37 / ")
    found = _in_frame(browser, demo, PLAYER_SWEEP, {})
    # Known and documented (docs/players.md): a notebook's frame leaves the graph 600-710 px
    # beside the panel (860 in a 1366 px browser window), too narrow for the demo's first
    # step at a readable size -- the loss's add, whose input mul#405 is drawn ~900 px to
    # its left: the view keeps the add in the pane, the input off to its left. Every other
    # step fits.
    assert found["bad"] <= 1 and {p[0] for p in found["problems"]} <= {"layer 1"}, found
    epoch = _in_frame(browser, history, SLIDE + "return document.getElementById("
                      "'rp-epoch').textContent;", "rp-slider", 10)
    assert epoch == "epoch 50 of 100"  # frame 10 of 21: every 5th epoch, from 0


def test_an_nbconvert_export_runs_the_players(jupyter, browser, screenshots):
    _, env, notebook = jupyter
    subprocess.run([sys.executable, "-m", "jupyter", "nbconvert", "--to", "html",
                    str(notebook)], check=True, capture_output=True, env=env)
    browser.get(notebook.with_suffix(".html").as_uri())
    _check_players(browser, _wait_for_frames(browser, 3))
    # (nbconvert's template also asks a CDN for require.js and MathJax, offline here)
    errors = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"
              and not e["message"].startswith("https://cdn")]
    assert errors == []


@pytest.fixture(scope="module")
def lab(jupyter):
    """A JupyterLab server on a free local port, serving the notebook's folder: the address
    a notebook's name is appended to."""
    folder, env, notebook = jupyter
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "jupyterlab", "--no-browser", "--allow-root", f"--port={port}",
         "--ServerApp.token=", "--ServerApp.password=", "--ServerApp.ip=127.0.0.1",
         f"--ServerApp.root_dir={folder}"], env=env, stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/lab/tree/"
    try:
        for _ in range(120):
            try:
                urllib.request.urlopen(url + notebook.name, timeout=1)
                break
            except OSError:
                time.sleep(0.5)
        else:
            raise AssertionError("JupyterLab did not start within a minute")
        yield url
    finally:
        server.terminate()
        server.wait(timeout=30)


def _outputs(browser, count: int, seconds: float = 90) -> list:
    """JupyterLab's rendered outputs, once `count` are there."""
    deadline = time.monotonic() + seconds
    while True:
        outputs = browser.find_elements("css selector", ".jp-OutputArea-output")
        if len(outputs) >= count or time.monotonic() > deadline:
            for button in browser.find_elements("xpath", "//button[normalize-space()='No']"):
                button.click()  # JupyterLab's question about news, over the outputs
            return outputs
        time.sleep(0.5)


def test_jupyterlab_untrusted_shows_the_note_and_the_picture(jupyter, lab, browser,
                                                            screenshots):
    """As a shared notebook opens: no iframe runs, each player says how to trust it."""
    browser.get(lab + jupyter[2].name + "?reset")  # a fresh workspace: this tab alone
    outputs = _outputs(browser, len(CELLS) - 1)
    assert len(outputs) == len(CELLS) - 1
    time.sleep(2)  # JupyterLab finishes laying the cells out
    notes = browser.find_elements("css selector", ".mg-untrusted")
    assert len(notes) == 3 and all("trust" in n.text.lower() for n in notes)
    assert browser.find_elements("tag name", "iframe") == []
    browser.execute_script("arguments[0].scrollIntoView()", outputs[1])
    save_screenshot(browser, screenshots, "jupyterlab-untrusted")


def test_jupyterlab_trusted_runs_the_players(jupyter, lab, browser, screenshots):
    _, env, notebook = jupyter
    trusted = notebook.with_name("trusted.ipynb")  # a copy: the untrusted test keeps its own
    shutil.copyfile(notebook, trusted)
    subprocess.run([sys.executable, "-m", "jupyter", "trust", str(trusted)], env=env,
                   check=True, capture_output=True)
    browser.get(lab + trusted.name + "?reset")
    _outputs(browser, len(CELLS) - 1)
    frames = _wait_for_frames(browser, 3, seconds=90)
    _check_players(browser, frames)
    _in_frame(browser, frames[1], SLIDE, "mg-slider", 37)  # the sweep ended at the last
    time.sleep(0.5)
    save_screenshot(browser, screenshots, "jupyterlab-player")
    browser.execute_script("arguments[0].scrollIntoView()", frames[2])
    time.sleep(0.5)
    save_screenshot(browser, screenshots, "jupyterlab-replay")
