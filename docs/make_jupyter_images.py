"""Screenshots of the players inside JupyterLab: python docs/make_jupyter_images.py LAB_PYTHON

LAB_PYTHON is the Python of an environment with JupyterLab (4.x) and nbclient installed,
e.g. a throwaway venv: python3 -m venv /tmp/lab && /tmp/lab/bin/pip install jupyterlab.
This script's own Python must have micrograd_ann, ipykernel and selenium (the dev extra),
and chromium and chromedriver must be on PATH. It writes a notebook showing the demo's
backprop player, runs it with this Python as the kernel, serves it with JupyterLab on a
free local port and, at 1366x768 in headless Chromium, saves
  jupyterlab-untrusted.png -- as a shared notebook opens: the note on trusting it, and the
                              graph's picture;
  jupyterlab-player.png    -- after `jupyter trust`: the player, stepped mid-way.
"""

import json
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from selenium import webdriver
from selenium.webdriver.chrome.service import Service

HERE = Path(__file__).parent
CELLS = ["from micrograd_ann import MLP, datasets, training\nfrom micrograd_ann.views import player",
         "x, y = datasets.make_moons(100, seed=0)[0]\n"
         "loss = training.labelled_loss('bce', MLP(2, [16, 16, 1], seed=0)(x), y)\n"
         "player.Player(loss)"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _notebook(folder: Path, lab: str, env: dict) -> Path:
    """The notebook, run with this Python's kernel (registered in `folder`)."""
    subprocess.run([sys.executable, "-m", "ipykernel", "install", "--prefix", str(folder),
                    "--name", "micrograd-ann"], check=True, capture_output=True)
    cells = [{"cell_type": "code", "metadata": {}, "source": c, "outputs": [],
              "execution_count": None} for c in CELLS]
    path = folder / "players.ipynb"
    path.write_text(json.dumps({"cells": cells, "nbformat": 4, "nbformat_minor": 5,
                                "metadata": {"kernelspec": {"name": "micrograd-ann",
                                                            "display_name": "micrograd-ann",
                                                            "language": "python"}}}))
    run = ("import nbformat, nbclient, sys; nb = nbformat.read(sys.argv[1], 4); "
           "nbclient.NotebookClient(nb, timeout=600).execute(); nbformat.write(nb, sys.argv[1])")
    subprocess.run([lab, "-c", run, str(path)], check=True, env=env, capture_output=True)
    return path


def _browser(folder: Path):
    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium")
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
                 "--window-size=1366,768", f"--user-data-dir={folder}/profile"):
        options.add_argument(flag)
    return webdriver.Chrome(service=Service(shutil.which("chromedriver")), options=options)


def _show(driver, url: str, name: str, step: bool) -> None:
    driver.get(url)
    time.sleep(15)  # JupyterLab loads and renders the outputs
    output = driver.find_elements("css selector", ".jp-OutputArea-output")[-1]
    driver.execute_script("arguments[0].scrollIntoView()", output)
    time.sleep(1)
    if step:
        driver.switch_to.frame(driver.find_element("tag name", "iframe"))
        driver.execute_script("const s = document.getElementById('mg-slider'); s.value = 37;"
                              " s.dispatchEvent(new Event('input'));")
        driver.switch_to.default_content()
        time.sleep(0.5)
    driver.save_screenshot(str(HERE / name))


def main(lab: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        env = {"JUPYTER_PATH": str(folder / "share" / "jupyter"),
               "JUPYTER_DATA_DIR": str(folder / "data"),
               "JUPYTER_CONFIG_DIR": str(folder / "config"), "PATH": "/usr/bin:/bin"}
        notebook = _notebook(folder, lab, env)
        port = _free_port()
        server = subprocess.Popen(
            [lab, "-m", "jupyterlab", "--no-browser", "--allow-root", f"--port={port}",
             "--ServerApp.token=", "--ServerApp.password=", "--ServerApp.ip=127.0.0.1",
             f"--ServerApp.root_dir={folder}"], env=env, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL)
        driver = None
        try:
            url = f"http://127.0.0.1:{port}/lab/tree/{notebook.name}"
            for _ in range(60):
                try:
                    urllib.request.urlopen(url, timeout=1)
                    break
                except OSError:
                    time.sleep(0.5)
            driver = _browser(folder)
            _show(driver, url, "jupyterlab-untrusted.png", step=False)
            subprocess.run([lab, "-m", "jupyter", "trust", str(notebook)], env=env, check=True,
                           capture_output=True)
            _show(driver, url, "jupyterlab-player.png", step=True)
        finally:
            if driver is not None:
                driver.quit()
            server.terminate()
            server.wait(timeout=30)


if __name__ == "__main__":
    main(sys.argv[1])
