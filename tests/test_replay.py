"""Tests for views/replay.py and views/plane.py: the page's data and its independence, its
pictures of the plane, then the page in Chromium."""

from __future__ import annotations

import base64
import html
import json
import re
import statistics
import struct
import time
import zlib
from pathlib import Path

import pytest

from conftest import require_module
from helpers import headless_chromium
from micrograd_ann import MLP, training
from micrograd_ann.activations import ACTIVATIONS
from micrograd_ann.datasets import load_digits, train_test_split
from micrograd_ann.diagnostics import Histogram
from micrograd_ann.history import History
from micrograd_ann.training import batch_loss
from micrograd_ann.views import network, outputs, page, plane, replay
from micrograd_ann.views.colours import POINT_COLOURS
from test_history import TEST, hand_built, run

DEMO_BYTES, DIGITS_BYTES = 2_000_000, 5_000_000
SWITCH_MS = 100
SCRIPT_END = '</script><script>document.title="pwned"</script><!--'


def page_data(page: str) -> dict:
    found = re.search(r'<script type="application/json" id="rp-data">(.*?)</script>', page)
    assert found is not None, "no <script id=\"rp-data\"> in the page"
    return json.loads(found.group(1))


@pytest.fixture(scope="module")
def demo() -> History:
    """`train`'s default run, recorded as the CLI records it."""
    return training.train(training.TrainConfig(), history=True).history


def dead_units() -> History:
    """test_history's hand-built MLP(2, [4, 1]) whose hidden units 1 and 3 are dead from
    the start, trained 3 epochs with SGD, every epoch recorded."""
    return run(hand_built("relu", [1.0, -1.0, 2.0, -0.5]), epochs=3, lr=0.05, record_every=1)


@pytest.fixture(scope="module")
def digits() -> History:
    """The digits run the CLI records (MLP(64, [32, 10]), 10 epochs, every one recorded),
    with one real epoch of training standing in for each of the ten."""
    require_module("sklearn", "digits")
    train_set, test_set = train_test_split(load_digits(1000), 0.2, seed=0)
    model = MLP(64, [32, 10], seed=0)
    history = History(model, train_set, test_set, record_every=1, epochs=1,
                      loss_fn=lambda outs, ys: batch_loss("cross_entropy", outs, ys))
    optimizer = training.OPTIMIZERS["adam"](model.parameters(), lr=0.01)
    for i in range(0, len(train_set), 32):
        chunk = train_set[i:i + 32]
        outputs = [model(x) for x, _ in chunk]
        loss = batch_loss("cross_entropy", outputs, [y for _, y in chunk])
        optimizer.zero_grad()
        loss.backward()
        history.on_batch(loss, outputs, [y for _, y in chunk])
        optimizer.step()
    history.on_epoch()
    history.frames += [history.frames[-1]._replace(epoch=e) for e in range(2, 11)]
    return history


# ----------------------------------------------------------------- without a browser


def test_page_is_self_contained(demo):
    page = replay.to_html(demo)
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:)?//""", page)
    assert "<link" not in page and "@import" not in page
    assert page.count("<script") == 2  # the JSON and the inline script
    assert len(page.encode("utf-8")) < DEMO_BYTES


def test_page_holds_every_frames_numbers(demo):
    data = page_data(replay.to_html(demo))
    assert [f["epoch"] for f in data["frames"]] == [f.epoch for f in demo.frames]
    for shown, frame in zip(data["frames"], demo.frames):
        assert shown["loss"] == [frame.train_loss, frame.test_loss]
        assert shown["params"] == frame.params
        assert shown["testPredictions"] == frame.test_predictions
    assert [w["text"] for w in data["frames"][3]["warnings"]] == demo.hints(3)


def test_line_styles_are_network_pys_for_each_epoch(demo):
    data = page_data(replay.to_html(demo))
    for k in (0, len(demo.frames) - 1):
        svg = network.draw_network(demo.model_at(k)).svg
        drawn = {(int(i), int(j), int(n)): (c, float(w), float(o)) for i, block in
                 enumerate(svg.split('class="mg-weights"')[1:])
                 for j, n, c, w, o in re.findall(
                     r'data-neuron="(\d+)" data-input="(\d+)"[^>]*stroke="(#\w+)" '
                     r'stroke-width="([\d.]+)" stroke-opacity="([\d.]+)"', block)}
        shown = {}
        for i, layer in enumerate(data["frames"][k]["lines"]):
            nin = 2 if i == 0 else data["sizes"][i - 1]
            for n, (colour, width, opacity) in enumerate(layer):
                shown[(i, n // nin, n % nin)] = (data["palette"][colour], width, opacity)
        assert shown == drawn


def test_text_from_the_user_cannot_end_the_script():
    history = dead_units()
    history.info["note"] = SCRIPT_END
    page = replay.to_html(history, title=SCRIPT_END)
    assert page.count("<script") == 2
    assert page_data(page)["info"].endswith(SCRIPT_END)
    assert html.escape(SCRIPT_END) in page.split("<body>")[0]  # the <title>


def test_jupyter_shows_the_page_in_a_sandboxed_iframe():
    history = dead_units()
    shown = replay.Replay(history)._repr_html_()
    found = re.fullmatch(r'<iframe srcdoc="([^"]*)" sandbox="allow-scripts" [^>]*></iframe>'
                         r'<div class="mg-untrusted"><p>([^<]*)</p></div><script>[^<]*</script>',
                         shown)
    assert found is not None
    assert html.unescape(found.group(1)) == replay.to_html(history)
    assert "height: 500px" in shown  # a notebook at 1366x768 shows about 505 px
    assert "training replay" in found.group(2) and "Trust Notebook" in found.group(2)


def test_to_html_writes_the_page_and_write_history_both_files(tmp_path):
    history = dead_units()
    page = replay.to_html(history, tmp_path / "page.html")
    assert (tmp_path / "page.html").read_text(encoding="utf-8") == page
    assert replay.Replay(history).save(tmp_path / "again.html") == str(tmp_path / "again.html")
    assert (tmp_path / "again.html").read_text(encoding="utf-8") == page
    written = outputs.write_history(history, str(tmp_path)).files
    assert [Path(p).name for p in written] == ["history.json", "training.html"]
    assert History.load(written[0]).to_dict() == history.to_dict()
    assert Path(written[1]).read_text(encoding="utf-8") == page
    with pytest.raises(TypeError, match="to_html takes a History, got MLP"):
        replay.to_html(MLP(2, [1]))


def wide() -> History:
    """MLP(2, [80, 80, 1]): 6,640 weights, more lines than the page draws, 9 epochs."""
    history = run(MLP(2, [80, 80, 1], seed=1), epochs=8, record_every=1, lr=0.05)
    assert sum(len(n.w) for layer in history.model_at(0).layers for n in layer.neurons) \
        > replay.PAGE_LINES
    return history


def test_a_wide_model_draws_each_layers_largest_weights_and_says_so():
    history = wide()
    page = replay.to_html(history)
    data = page_data(page)
    model = history.model_at(len(history.frames) - 1)
    drawn = network.drawn_weights(model, replay.PAGE_LINES)
    assert [len(d) for d in drawn] == [5000 * n // 6640 for n in (160, 6400, 80)]
    for i, (layer, which) in enumerate(zip(model.layers, drawn)):  # the largest |w| ...
        sizes = sorted((abs(w) for w in network.layer_weights(layer)), reverse=True)
        assert min(abs(network.layer_weights(layer)[n]) for n in which) == sizes[len(which) - 1]
    lines = re.findall(r'<line data-neuron="(\d+)" data-input="(\d+)"', page)
    assert len(lines) == sum(map(len, drawn))  # ... are the lines in the page
    assert "only the largest |w| of each layer are drawn: 4,999 lines of 6,640 weights" in page
    assert data["note"] == ("This page shows the 4,999 largest of 6,640 weights, to stay "
                            "small; history.json holds them all.")
    for frame, shown in zip(history.frames, data["frames"]):  # styled for each epoch
        at = history.model_at(history.frames.index(frame))
        for i, (layer, which) in enumerate(zip(at.layers, drawn)):
            strokes = network.weight_strokes(network.layer_weights(layer), which)
            assert [[data["palette"][c], w, o] for c, w, o in shown["lines"][i]] == \
                [list(s) for s in strokes]


def test_a_long_run_of_a_large_model_shows_evenly_spaced_epochs(monkeypatch):
    history = run(MLP(2, [3, 1], seed=0), epochs=20, record_every=1)
    monkeypatch.setattr(replay, "PAGE_NUMBERS", 6 * (13 + 3 * 9 + len(TEST)))  # 6 frames
    data = page_data(replay.to_html(history))
    assert [f["epoch"] for f in data["frames"]] == [0, 4, 8, 12, 16, 20]
    assert data["note"] == ("This page shows 6 of the 21 recorded epochs, to stay small; "
                            "history.json holds them all.")
    assert data["frames"][2]["params"] == history.frames[8].params
    assert [w["text"] for w in data["frames"][2]["warnings"]] == history.hints(8)


def test_digits_page_is_small(digits):
    page = replay.to_html(digits)
    assert len(page.encode("utf-8")) < DIGITS_BYTES
    data = page_data(page)
    assert data["kind"] == "image" and data["shape"] == [8, 8]
    assert len(data["images"]) == replay.IMAGE_SAMPLES


def test_each_histogram_bar_is_coloured_by_its_activations_row():
    counts = [1] * 20
    bars = {name: replay._bars(Histogram(*(row.range or (0.0, 4.0)), counts), row)
            for name, row in ACTIVATIONS.items()}
    assert bars["relu"] == "o" + "." * 19  # the bar holding relu's 0s: off
    assert bars["tanh"] == bars["sigmoid"] == "s" + "." * 18 + "s"  # reaching past 0.97
    assert bars["linear"] == bars["leaky_relu"] == "." * 20
    assert replay._bars(Histogram(0.0, 0.0, counts), ACTIVATIONS["relu"])[10] == "o"


# -------------------------------------------------------------------- pictures


def png_pixels(uri: str) -> tuple[int, int, bytes]:
    """Width, height and RGB bytes of a PNG data: URI, read by the PNG specification."""
    png = base64.b64decode(uri.split(",", 1)[1])
    assert uri.startswith("data:image/png;base64,") and png[:8] == b"\x89PNG\r\n\x1a\n"
    at, chunks = 8, {}
    while at < len(png):
        (length,) = struct.unpack(">I", png[at:at + 4])
        kind, body = png[at + 4:at + 8], png[at + 8:at + 8 + length]
        assert struct.unpack(">I", png[at + 8 + length:at + 12 + length])[0] == \
            zlib.crc32(kind + body)
        chunks[kind] = chunks.get(kind, b"") + body
        at += 12 + length
    width, height, depth, kind = struct.unpack(">IIBB", chunks[b"IHDR"][:10])
    assert (depth, kind) == (8, 2) and b"IEND" in chunks  # 8-bit RGB
    raw = zlib.decompress(chunks[b"IDAT"])
    rows = [raw[r * (3 * width + 1):(r + 1) * (3 * width + 1)] for r in range(height)]
    assert len(raw) == height * (3 * width + 1) and {row[0] for row in rows} == {0}
    return width, height, b"".join(row[1:] for row in rows)


def rgb(hex_colour: str) -> tuple[int, int, int]:
    return tuple(int(hex_colour[i:i + 2], 16) for i in (1, 3, 5))


def colour_class(pixel, classes: int) -> int:
    """Which of the first `classes` class colours a pixel is blended from (255 + t (colour -
    255), t > 0)."""
    away = [255 - p for p in pixel]

    def alignment(k: int) -> float:
        towards = [255 - c for c in rgb(POINT_COLOURS[k])]
        dot = sum(a * b for a, b in zip(away, towards))
        return dot / (sum(b * b for b in towards) ** 0.5 * (sum(a * a for a in away) ** 0.5 or 1))

    return max(range(classes), key=alignment)


def test_the_boundary_picture_holds_the_classes_python_predicts(demo):
    data = page_data(replay.to_html(demo))
    assert data["tile"] == 12 and all(f["picture"] for f in data["frames"])  # PLANE_WORK
    x0, x1, y0, y1 = data["extent"]
    for k in (0, 4, len(demo.frames) - 1):
        picture = data["frames"][k]["picture"]
        width, height, pixels = png_pixels(picture["boundary"])
        assert width == height == plane.STRIDE * data["tile"]
        classify = demo.classifier(k)
        for r in range(height):
            for c in range(width):
                x, y = x0 + (c + 0.5) / width * (x1 - x0), y1 - (r + 0.5) / height * (y1 - y0)
                at = 3 * (r * width + c)
                assert colour_class(pixels[at:at + 3], 2) == classify([x, y]), (k, r, c)
        assert picture["train"] == [classify(x) for x, _ in demo.train_set]


def test_each_units_square_shows_its_output_over_the_plane():
    history = run(MLP(2, [3, 2, 1], "tanh", seed=4), epochs=2, record_every=1)
    data = page_data(replay.to_html(history))
    tile = data["tile"]
    x0, x1, y0, y1 = data["extent"]
    model = history.model_at(2)
    width, height, pixels = png_pixels(data["frames"][2]["picture"]["tiles"])
    assert (width, height) == (tile * (2 + 3 + 2 + 1), tile)
    for r in range(tile):
        for c in range(tile):
            x = [x0 + (c + 0.5) / tile * (x1 - x0), y1 - (r + 0.5) / tile * (y1 - y0)]
            hidden = [v.data for v in model.layers[0].outputs(x)]
            hidden += [v.data for v in model.layers[1].outputs(hidden)]
            for n, v in enumerate(hidden):  # tanh: on its range, blue above 0, orange below
                at = 3 * (r * width + (2 + n) * tile + c)
                colour = network.POSITIVE if v >= 0 else network.NEGATIVE
                want = [255 + 0.9 * abs(v) * (k - 255) for k in colour]
                assert max(abs(p - w) for p, w in zip(pixels[at:at + 3], want)) <= 1
            at = 3 * (r * width + 7 * tile + c)  # the output's square: the prediction
            assert colour_class(pixels[at:at + 3], 2) == history.classifier(2)(x)


def test_the_pictures_keep_to_their_bounds():
    def work(plan, params, train):
        return len(plan.frames) * ((plane.STRIDE * plan.tile) ** 2 + train) * params

    demo = plane.plan(21, 337, 35, 80)
    assert demo == plane.Plan(12, list(range(21)))
    assert work(demo, 337, 80) <= plane.PLANE_WORK < work(plane.Plan(13, demo.frames), 337, 80)
    wide = plane.plan(9, 6801, 163, 6)  # MLP(2, [80, 80, 1]): two frames, the first and last
    assert wide == plane.Plan(plane.TILE_MIN, [0, 8]) and work(wide, 6801, 6) <= plane.PLANE_WORK
    assert plane.plan(5, 195_801, 883, 80) == plane.Plan(plane.TILE_MIN, [])  # none fits
    assert plane.evenly_spaced(21, 1) == [20] and plane.evenly_spaced(3, 5) == [0, 1, 2]


def test_a_model_too_large_to_picture_shows_the_points_and_says_so(monkeypatch):
    monkeypatch.setattr(plane, "PLANE_WORK", 1000)
    data = page_data(replay.to_html(dead_units()))
    assert all(f["picture"] is None for f in data["frames"])
    assert data["pictureNote"].startswith("The model is too large to picture")


# ------------------------------------------------------------------- in the browser


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    """A 1366x768 headless Chromium window, as on a small laptop."""
    driver = headless_chromium(tmp_path_factory.mktemp("chromium-profile"), 1366, 768)
    yield driver
    driver.quit()


def open_page(browser, history: History, path: Path) -> None:
    replay.to_html(history, path)
    browser.get(path.as_uri())
    assert [e for e in browser.get_log("browser") if e["level"] in ("SEVERE", "WARNING")] == []


def screenshot(browser, folder: Path, name: str, scroll_to: str | None = None) -> None:
    if scroll_to:
        browser.execute_script(f"document.getElementById('{scroll_to}').scrollIntoView();"
                               "window.scrollBy(0, -48);")  # below the sticky controls
    browser.save_screenshot(str(folder / f"replay-{name}.png"))
    browser.execute_script("window.scrollTo(0, 0)")


def test_the_page_opens_at_the_last_epoch_without_errors(browser, demo, tmp_path,
                                                         screenshots):
    open_page(browser, demo, tmp_path / "demo.html")
    assert browser.execute_script("return replay.frame") == len(demo.frames) - 1
    assert browser.find_element("id", "rp-epoch").text == "epoch 100 of 100"
    screenshot(browser, screenshots, "demo")
    screenshot(browser, screenshots, "demo-network", "rp-network-card")
    screenshot(browser, screenshots, "demo-layers", "rp-layers-card")


def test_moving_the_slider_changes_the_boundary_and_the_marked_loss(browser, demo, tmp_path):
    open_page(browser, demo, tmp_path / "demo.html")
    state = ("return [document.getElementById('rp-boundary').toDataURL(),"
             " document.querySelector('#rp-loss .rp-marker').getAttribute('x1'),"
             " document.getElementById('rp-train-loss').dataset.value]")
    before = browser.execute_script(state)
    browser.execute_script("const s = document.getElementById('rp-slider'); s.value = 2;"
                           "s.dispatchEvent(new Event('input'));")
    after = browser.execute_script(state)
    assert after[0] != before[0] and after[1] != before[1]
    assert float(after[2]) == demo.frames[2].train_loss


def test_the_loss_shown_for_each_epoch_is_the_files(browser, demo, tmp_path):
    saved = json.loads(Path(demo.save(tmp_path / "history.json")).read_text())
    open_page(browser, demo, tmp_path / "demo.html")
    shown = browser.execute_script(
        "const out = [];"
        "for (let k = 0; k < arguments[0]; k++) { replay.show(k); out.push(["
        " document.getElementById('rp-train-loss').dataset.value,"
        " document.getElementById('rp-test-loss').dataset.value,"
        " document.getElementById('rp-train-loss').textContent,"
        " document.getElementById('rp-epoch').textContent]); }"
        "return out;", len(demo.frames))
    for (train, test, text, epoch), frame in zip(shown, saved["frames"]):
        assert float(train) == frame["train_loss"] and float(test) == frame["test_loss"]
        assert text == f"{frame['train_loss']:.4g}"
        assert epoch == f"epoch {frame['epoch']} of 100"


def test_the_page_shows_pythons_boundary(browser, demo, tmp_path):
    open_page(browser, demo, tmp_path / "demo.html")
    data = page_data(replay.to_html(demo))
    x0, x1, y0, y1 = data["extent"]
    cells = plane.STRIDE * data["tile"]
    points = [x for x, _ in demo.train_set + demo.test_set]
    for k in (0, 4, len(demo.frames) - 1):
        browser.execute_script("replay.show(arguments[0])", k)
        width, height, pixels = browser.execute_script(
            "const c = document.getElementById('rp-boundary');"
            "const copy = document.createElement('canvas');"  # read once: no readback warning
            "[copy.width, copy.height] = [c.width, c.height];"
            "const ctx = copy.getContext('2d', { willReadFrequently: true });"
            "ctx.drawImage(c, 0, 0);"
            "return [c.width, c.height, Array.from(ctx.getImageData(0, 0, c.width, c.height)"
            ".data)];")
        left, top = 34, 4  # replay.js's PAD_LEFT and top margin
        plot_w, plot_h = width - left - 4, height - 22 - 4
        classify, checked = demo.classifier(k), 0
        centre = lambda r, c: [x0 + (c + 0.5) / cells * (x1 - x0),  # noqa: E731
                               y1 - (r + 0.5) / cells * (y1 - y0)]
        classes = [[classify(centre(r, c)) for c in range(cells)] for r in range(cells)]
        for r in range(1, cells - 1):
            for c in range(1, cells - 1):
                around = {classes[r + i][c + j] for i in (-1, 0, 1) for j in (-1, 0, 1)}
                px = round(left + (c + 0.5) / cells * plot_w - 0.5)
                py = round(top + (r + 0.5) / cells * plot_h - 0.5)
                if len(around) > 1 or any(  # a smoothed edge, or a point drawn there
                        abs(px - (left + (a - x0) / (x1 - x0) * plot_w)) < 8 and
                        abs(py - (top + (1 - (b - y0) / (y1 - y0)) * plot_h)) < 8
                        for a, b in points):
                    continue
                at = 4 * (py * width + px)
                assert colour_class(pixels[at:at + 3], 2) == classes[r][c], (k, r, c)
                checked += 1
        assert checked > cells * cells / 8
    tiles = browser.execute_script(
        "return [...document.querySelectorAll('#rp-network .rp-tile image')]"
        ".map((i) => i.getAttribute('href'))")
    assert len(tiles) == 2 + 16 + 16 + 1
    assert set(tiles) == {data["frames"][-1]["picture"]["tiles"]}


def test_the_page_script_computes_no_forward_pass():
    script = page.asset("replay.js")
    for word in [*ACTIVATIONS, "Math.exp", "Math.tanh", "softmax", "forward("]:
        assert word not in script, word


def test_dead_units_are_marked_exactly(browser, tmp_path, screenshots):
    history = dead_units()
    open_page(browser, history, tmp_path / "dead.html")
    for k in range(1, len(history.frames)):
        browser.execute_script("replay.show(arguments[0])", k)
        dead = browser.execute_script(
            "return [...document.querySelectorAll('#rp-network g.mg-neuron.rp-dead')]"
            ".map((g) => g.dataset.name)")
        assert dead == ["layers.0.neurons.1", "layers.0.neurons.3"]
        row = browser.find_element("css selector", '#rp-layers tr[data-layer="0"]').text
        assert "dead: 2 of 4" in row and "neurons 1, 3" in row
        flagged = browser.execute_script(
            "return [...document.querySelectorAll('#rp-layers td.rp-bad')]"
            ".map((td) => [td.parentNode.dataset.layer, td.cellIndex])")
        assert ["0", 3] in flagged  # layer 0's dead-or-saturated cell
        if k == 1:  # later, layer 0's weights have just left 0: its steps are large too
            assert flagged == [["0", 3]]
        hints = browser.find_element("id", "rp-hints").text
        assert "layers.0: 50% of ReLUs dead" in hints
    screenshot(browser, screenshots, "dead-units", "rp-network-card")
    browser.execute_script("replay.show(0)")  # before any step: nothing is known dead
    assert browser.execute_script(
        "return document.querySelectorAll('#rp-network .rp-dead').length") == 0


def test_keys_step_and_play(browser, demo, tmp_path):
    from selenium.webdriver.common.keys import Keys

    open_page(browser, demo, tmp_path / "demo.html")
    body = browser.find_element("tag name", "body")
    body.send_keys(Keys.HOME)
    assert browser.execute_script("return replay.frame") == 0
    body.send_keys(Keys.ARROW_RIGHT)
    body.send_keys(Keys.ARROW_RIGHT)
    assert browser.execute_script("return replay.frame") == 2
    body.send_keys(Keys.SPACE)  # play, at 5 epochs a second
    time.sleep(0.7)
    body.send_keys(Keys.SPACE)  # pause
    stopped = browser.execute_script("return replay.frame")
    assert stopped > 2
    time.sleep(0.5)
    assert browser.execute_script("return replay.frame") == stopped
    body.send_keys(Keys.END)
    assert browser.execute_script("return replay.frame") == len(demo.frames) - 1


@pytest.mark.parametrize("make", ["demo", "digits"])
def test_switching_epochs_is_fast(browser, request, tmp_path, screenshots, make):
    history = request.getfixturevalue(make)
    open_page(browser, history, tmp_path / f"{make}.html")
    # Every epoch shown twice, the faster of the two kept: the bound is for the page's
    # work, not for a moment when another process has the CPU.
    times = browser.execute_script(
        "const out = [];"
        "for (let k = 0; k < arguments[0]; k++) {"
        "  replay.show(k); const first = replay.lastMs; replay.show(k);"
        "  out.push(Math.min(first, replay.lastMs)); }"
        "return out;", len(history.frames))
    assert max(times) < SWITCH_MS, times
    if make == "digits":
        browser.execute_script("replay.show(3)")
        screenshot(browser, screenshots, "digits")
    print(f"{make}: median switch {statistics.median(times):.1f} ms, slowest {max(times):.1f}")


def test_a_page_drawing_some_lines_restyles_them_for_each_epoch(browser, tmp_path):
    history = wide()
    open_page(browser, history, tmp_path / "wide.html")
    data = page_data(replay.to_html(history))
    for k in (0, len(history.frames) - 1):
        browser.execute_script("replay.show(arguments[0])", k)
        shown = browser.execute_script(
            "return [...document.querySelectorAll('#rp-network g.mg-weights')].map((g) =>"
            " [...g.querySelectorAll('line')].map((l) => [Number(l.dataset.neuron),"
            " Number(l.dataset.input), l.getAttribute('stroke-width')]))")
        for i, lines in enumerate(shown):
            nin = 2 if i == 0 else 80
            widths = dict(zip(sorted(j * nin + n for j, n, _ in lines),
                              (w for _, w, _ in data["frames"][k]["lines"][i])))
            assert {j * nin + n: float(w) for j, n, w in lines} == widths
    assert "to stay small" in browser.find_element("id", "rp-info").text


def test_a_page_without_a_plane_or_a_test_set_shows_the_rest(browser, tmp_path):
    data = [([0.1 * i, -0.2 * i, 0.3], i % 3) for i in range(9)]
    history = History(MLP(3, [4, 3], "tanh", seed=0), data,
                      loss_fn=lambda outs, ys: batch_loss("cross_entropy", outs, ys))
    open_page(browser, history, tmp_path / "plain.html")
    hidden = browser.execute_script(
        "return ['rp-plane-card', 'rp-digits-card', 'rp-confusion-card']"
        ".map((id) => document.getElementById(id).offsetParent === null)")
    assert hidden == [True, True, True]
    assert browser.find_element("id", "rp-readout").text == (
        f"train loss {history.frames[0].train_loss:.4g}\n"
        f"train accuracy {100 * history.frames[0].train_accuracy:.1f} %")
    assert browser.execute_script("return document.getElementById('rp-test-legend')") is None

