"""Regenerate the README's images: python docs/make_images.py.

neuron_graph.svg needs Graphviz's `dot`; player.png also needs chromium, chromedriver and
selenium (a dev dependency): it is the backprop player of the demo's one-sample loss at
1366x768, mid-way through backward (tests/test_player.py takes the screenshots of
docs/players.md; docs/make_jupyter_images.py those in JupyterLab). network.svg is drawn
in pure Python; network.png (the digits model's view) needs Chromium and scikit-learn;
training.png (the demo's replay page) needs Chromium.
"""

import contextlib
import shutil
import tempfile
from pathlib import Path
from typing import Iterator

from micrograd_ann import MLP, Value, datasets, training
from micrograd_ann.views import graph, player, replay
from micrograd_ann.nn import TUTORIAL_BIAS, TUTORIAL_INPUTS, TUTORIAL_WEIGHTS
from micrograd_ann.views.network import draw_network

HERE = Path(__file__).parent


def neuron_graph() -> None:
    """The tutorial's neuron, one op at a time: sigmoid(x1*w1 + x2*w2 + x3*w3 + b)."""
    # Labelled from 1, as the README's code and text around this image are.
    x1, x2, x3 = (Value(v, f"x{i}") for i, v in enumerate(TUTORIAL_INPUTS, 1))
    w1, w2, w3 = (Value(v, f"w{i}") for i, v in enumerate(TUTORIAL_WEIGHTS, 1))
    b = Value(TUTORIAL_BIAS, "b")
    n = x1 * w1 + x2 * w2 + x3 * w3 + b
    n.label = "n"
    out = n.sigmoid()
    out.label = "out"
    out.backward()
    graph.render(out, HERE / "neuron_graph.svg", edge_labels=True)


@contextlib.contextmanager
def _chromium(tmp: str, width: int, height: int) -> Iterator:
    """A selenium driver for a headless Chromium window of width x height, its profile in tmp."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium")
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", f"--window-size={width},{height}", f"--user-data-dir={tmp}/p"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(shutil.which("chromedriver")), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def player_screenshot() -> None:
    """The player page of one moons sample's hinge loss through MLP(2, [16, 16, 1]) (one box
    per layer), at backward step 34 of 68 in headless Chromium."""
    x, y = datasets.make_moons(100, seed=0)[0]
    loss = training.labelled_loss("hinge", MLP(2, [16, 16, 1], seed=0)(x), y)
    with tempfile.TemporaryDirectory() as tmp, _chromium(tmp, 1366, 768) as driver:
        page = player.render_html(loss, Path(tmp) / "player.html")
        driver.get(Path(page).as_uri())
        driver.execute_script("const s = document.getElementById('mg-slider'); s.value = 34;"
                              " s.dispatchEvent(new Event('input'));")
        driver.save_screenshot(str(HERE / "player.png"))


def network_views() -> None:
    """The network view of the demo's trained model and of the digits model, each on its
    hardest training sample: network.svg, and network.png as Chromium shows it at 1366x768."""
    demo = training.train(training.TrainConfig())
    draw_network(demo.model, loss=demo.sample_loss).save(HERE / "network.svg")
    digits = training.train(training.TrainConfig(dataset="digits"))
    with tempfile.TemporaryDirectory() as tmp, _chromium(tmp, 1366, 768) as driver:
        page = draw_network(digits.model, loss=digits.sample_loss).save(Path(tmp) / "n.svg")
        driver.get(Path(page).as_uri())
        driver.save_screenshot(str(HERE / "network.png"))


def training_replay() -> None:
    """training.png: the demo run's replay page (training.html) at epoch 15, when it is
    still learning, as Chromium shows it at 1366x768 (tests/test_replay.py saves more)."""
    history = training.train(training.TrainConfig(), history=True).history
    with tempfile.TemporaryDirectory() as tmp, _chromium(tmp, 1366, 768) as driver:
        page = Path(tmp) / "training.html"
        replay.to_html(history, page)
        driver.get(page.as_uri())
        driver.execute_script("replay.show(3)")  # frame 3: epoch 15
        driver.save_screenshot(str(HERE / "training.png"))


if __name__ == "__main__":
    neuron_graph()
    player_screenshot()
    network_views()
    training_replay()
