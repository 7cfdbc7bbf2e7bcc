"""Regenerate the README's images: python docs/make_images.py.

neuron_graph.svg needs Graphviz's `dot`; player.png also needs chromium, chromedriver and
selenium (a dev dependency): it is the backprop player of the tutorial's fused neuron at
its last step, the dot node sending gradient to all seven inputs.
"""

import shutil
import tempfile
from pathlib import Path

from micrograd_ann import Value, dot, player, viz

HERE = Path(__file__).parent


def neuron_graph() -> None:
    """The tutorial's neuron, one op at a time: sigmoid(x1*w1 + x2*w2 + x3*w3 + b)."""
    x1, x2, x3 = Value(1.0, "x1"), Value(5.0, "x2"), Value(3.0, "x3")
    w1, w2, w3 = Value(0.2, "w1"), Value(0.5, "w2"), Value(-0.1, "w3")
    b = Value(0.1, "b")
    n = x1 * w1 + x2 * w2 + x3 * w3 + b
    n.label = "n"
    out = n.sigmoid()
    out.label = "out"
    out.backward()
    viz.render(out, HERE / "neuron_graph.svg", edge_labels=True)


def player_screenshot() -> None:
    """The player page of the fused neuron, screenshot at its last step in headless Chromium."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    x = [Value(v, f"x{i}") for i, v in enumerate([1.0, 5.0, 3.0])]
    w = [Value(v, f"w{i}") for i, v in enumerate([0.2, 0.5, -0.1])]
    n = dot(w, x, Value(0.1, "b"))
    n.label = "n"
    out = n.sigmoid()
    out.label = "out"
    with tempfile.TemporaryDirectory() as tmp:
        page = player.render_html(out, Path(tmp) / "player.html")
        options = webdriver.ChromeOptions()
        options.binary_location = shutil.which("chromium")
        for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
                     "--disable-background-networking", "--disable-component-update",
                     "--disable-sync", "--window-size=1800,720", f"--user-data-dir={tmp}/p"):
            options.add_argument(flag)
        driver = webdriver.Chrome(service=Service(shutil.which("chromedriver")), options=options)
        try:
            driver.get(Path(page).as_uri())
            driver.find_element("id", "mg-last").click()
            driver.save_screenshot(str(HERE / "player.png"))
        finally:
            driver.quit()


if __name__ == "__main__":
    neuron_graph()
    player_screenshot()
