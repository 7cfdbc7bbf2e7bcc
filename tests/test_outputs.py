"""outputs: graphs (SVG, or DOT without Graphviz), players, the network view, plots,
params and a training run's files, written atomically, with what happened returned as
data."""

from __future__ import annotations

import os
import shutil
import stat
import sys
import xml.etree.ElementTree as ET

import pytest
from conftest import require_module, require_tool
from helpers import SVG_NS, grads_by_node, player_data

from micrograd_ann import MLP, Value, checkpoint, sum_values, topological_order
from micrograd_ann.views import graph, network, outputs
from micrograd_ann.losses import binary_cross_entropy
from micrograd_ann.training import TrainConfig, train


def _model_loss(hidden: list[int]) -> tuple[MLP, list[float], Value]:
    """One sample's loss through MLP(2, hidden + [1]), backward done."""
    model = MLP(2, [*hidden, 1], seed=0)
    x = [0.5, -1.0]
    loss = binary_cross_entropy(model(x), 1.0)
    loss.backward()
    return model, x, loss


def _formula() -> Value:
    x, y = Value(2.0, "x"), Value(-3.0, "y")
    out = (x * y + x).tanh()
    out.backward()
    return out


def _fake_dot(tmp_path, script: str) -> str:
    """A PATH holding only a `dot` that runs `script` (sh)."""
    folder = tmp_path / "fake-bin"
    folder.mkdir()
    dot = folder / "dot"
    dot.write_text("#!/bin/sh\n" + script + "\n")
    dot.chmod(dot.stat().st_mode | stat.S_IEXEC)
    return str(folder)


def _leftovers(folder) -> list[str]:
    return [name for name in os.listdir(folder) if name.startswith(".")]


# ------------------------------------------------------------------- the folder


def test_prepare_folder_makes_it_and_leaves_nothing_behind(tmp_path):
    folder = tmp_path / "a" / "b"
    assert outputs.prepare_folder(str(folder)) == str(folder)
    assert folder.is_dir() and os.listdir(folder) == []


@pytest.mark.parametrize("make, reason", [
    (lambda tmp: str(tmp / "a-file"), "File exists"),
    (lambda tmp: str(tmp / "a-file" / "sub"), "Not a directory"),
    (lambda tmp: "", "the name is empty"),
    (lambda tmp: "/proc", "no file can be created in it"),  # even root cannot
])
def test_an_unusable_folder_is_a_folder_error_naming_the_reason(tmp_path, make, reason):
    (tmp_path / "a-file").write_text("keep me")
    with pytest.raises(outputs.FolderError) as info:
        outputs.prepare_folder(make(tmp_path))
    assert reason in info.value.reason and info.value.reason
    assert (tmp_path / "a-file").read_text() == "keep me"


@pytest.mark.skipif(os.name != "posix", reason="POSIX permissions")
def test_a_read_only_folder_is_found_before_any_work(tmp_path, monkeypatch):
    folder = tmp_path / "read-only"
    folder.mkdir()
    folder.chmod(0o555)
    if os.geteuid() == 0:  # root may write anywhere (CI runs as root): refuse as for a user
        def refused(*args, **kwargs):
            raise PermissionError(13, "Permission denied")
        monkeypatch.setattr(outputs.tempfile, "TemporaryFile", refused)
    with pytest.raises(outputs.FolderError, match=r"no file can be created in it \(Permission"):
        outputs.prepare_folder(str(folder))


# ----------------------------------------------------------------------- graphs


def test_a_graph_is_written_at_the_level_asked_for(tmp_path):
    require_tool("dot")
    _, _, loss = _model_loss([4, 4])
    for level, box in (("layer", "layers.1"), ("neuron", "layers.1.neurons.3")):
        written = outputs.write_graph(loss, str(tmp_path), level, level=level)
        assert written == outputs.Written([str(tmp_path / f"{level}.svg")])
        svg = (tmp_path / f"{level}.svg").read_text()
        assert ET.fromstring(svg).tag == f"{SVG_NS}svg"
        assert f">{box}<" in svg
    assert ">layers.1.neurons.3<" not in (tmp_path / "layer.svg").read_text()


def test_a_drawing_fits_a_screen_or_says_how_to_read_it(tmp_path):
    require_tool("dot")
    _, _, loss = _model_loss([16, 16])  # layer boxes and a loss: 1,700 pt drawn across
    svg = (tmp_path / outputs.write_graph(loss, str(tmp_path), "layers").files[0]).read_text()
    assert outputs.svg_width(svg) <= outputs.SCREEN and "This drawing" not in svg
    assert ET.fromstring(svg).tag == f"{SVG_NS}svg"
    chains = []  # 25 chains of six tanh: too wide either way
    for i in range(25):
        v = Value(float(i), f"x{i}")
        for _ in range(6):
            v = v.tanh()
        chains.append(v)
    out = sum_values(chains)
    outputs.write_graph(out, str(tmp_path), "wide", level="ops", page="wide.html")
    svg = (tmp_path / "wide.svg").read_text()
    note = next(t.text for t in ET.fromstring(svg).iter(f"{SVG_NS}text")
                if t.text and t.text.startswith("This drawing"))
    width = outputs.svg_width(svg)
    assert width > outputs.SCREEN
    assert note == (f"This drawing is {width:,.0f} px wide, more than a screen: scroll "
                    "sideways or zoom out to follow it, or open wide.html, which steps "
                    "through it at a readable size.")
    assert outputs.svg_width('<svg width="300px" height="2">') == 300
    assert outputs.svg_width('<svg width="300pt" height="2">') == 400


def test_a_player_page_replays_backward_from_zero_and_keeps_the_grads(tmp_path):
    require_tool("dot")
    out = _formula()
    grads = grads_by_node(out)
    written = outputs.write_graph(out, str(tmp_path), "expr", page="expr.html")
    assert written.files == [str(tmp_path / "expr.svg"), str(tmp_path / "expr.html")]
    data = player_data((tmp_path / "expr.html").read_text())
    assert set(data["init"]) <= {"0", "1"}  # step 0: only the root's seed grad is set
    assert grads_by_node(out) == grads  # the graph's own grads are put back


def test_a_drawing_over_the_budget_is_skipped_naming_the_levels_that_fit(tmp_path):
    _, _, loss = _model_loss([16, 16])
    neuron = graph.graph_size(loss, collapse="neuron")
    layer = graph.graph_size(loss, collapse="layer")
    assert layer < neuron  # 40 and 370
    written = outputs.write_graph(loss, str(tmp_path), "graph", level="ops", page="p.html",
                                  budget=neuron)
    assert written.files == [] and not written.dot_missing
    (skipped,) = written.skipped
    assert skipped.files == ("graph.svg", "p.html")
    assert skipped.fits == ("neuron", "layer", "network")
    size = graph.graph_size(loss, collapse=None)
    assert skipped.reason == (f"the graph at the ops level has {size:,} nodes and edges, and "
                              f"{neuron:,} is the most that draw in seconds")
    assert outputs.write_graph(loss, str(tmp_path), "graph", level="neuron",
                               budget=layer).skipped[0].fits == ("layer", "network")
    assert os.listdir(tmp_path) == []


def test_network_level_writes_the_player_alone_and_big_graphs_get_no_player(tmp_path,
                                                                            monkeypatch):
    require_tool("dot")
    _, _, loss = _model_loss([4])
    written = outputs.write_graph(loss, str(tmp_path), "graph", level="network", page="p.html")
    assert written.files == [str(tmp_path / "p.html")]
    assert player_data((tmp_path / "p.html").read_text())["views"][0]["level"] == "network"
    monkeypatch.setattr(outputs, "PLAYER_VALUES", 20)
    written = outputs.write_graph(loss, str(tmp_path), "big", page="big.html")
    assert written.files == [str(tmp_path / "big.svg")]
    values = len(topological_order(loss))
    assert written.skipped == [outputs.Skipped(("big.html",), (
        f"its graph holds {values:,} values, and 20 is the most a player page steps through "
        "in seconds"))]


def test_a_formula_over_the_budget_has_no_coarser_level():
    out = _formula()
    skipped = outputs.write_graph(out, "unused", "expression", budget=3).skipped
    assert [s.fits for s in skipped] == [()]


def test_without_dot_the_graph_is_dot_source_and_no_player(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path / "no-bin"))
    out = _formula()
    written = outputs.write_graph(out, str(tmp_path), "expression", page="expression.html")
    assert written.dot_missing and written.skipped == []
    assert written.files == [str(tmp_path / "expression.dot")]
    assert (tmp_path / "expression.dot").read_text() == graph.to_dot(out)
    assert not (tmp_path / "expression.html").exists()


def test_a_dot_writing_garbage_is_a_skip_and_keeps_the_old_file(tmp_path, monkeypatch):
    script = f"{shutil.which('cat')} > /dev/null; echo garbage"  # exits 0, writes no SVG
    monkeypatch.setenv("PATH", _fake_dot(tmp_path, script))
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    (out_dir / "expression.svg").write_text("the old drawing")
    written = outputs.write_graph(_formula(), str(out_dir), "expression", page="e.html")
    (skipped,) = written.skipped
    assert skipped.files == ("expression.svg", "e.html")
    assert "did not write SVG" in skipped.reason and "\n" not in skipped.reason
    assert (out_dir / "expression.svg").read_text() == "the old drawing"
    assert sorted(os.listdir(out_dir)) == ["expression.svg"]


def test_a_dot_that_hangs_is_stopped_and_reported(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", _fake_dot(tmp_path, f"exec {shutil.which('sleep')} 30"))
    monkeypatch.setattr(outputs, "DOT_TIMEOUT", 0.5)
    (skipped,) = outputs.write_graph(_formula(), str(tmp_path), "expression").skipped
    assert skipped.reason == "dot did not finish within 0.5 s and was stopped"
    assert not (tmp_path / "expression.svg").exists()


def test_the_network_view_is_the_model_drawn_on_its_sample(tmp_path):
    model, x, loss = _model_loss([3])
    written = outputs.write_network(model, str(tmp_path), x=x, loss=loss)
    assert written.files == [str(tmp_path / "network.svg")]
    assert (tmp_path / "network.svg").read_text() == network.draw_network(model, x,
                                                                          loss=loss).svg


# --------------------------------------------------------------- plots, params


def test_params_reload_to_the_same_model(tmp_path):
    model = MLP(2, [3, 1], seed=4)
    assert outputs.write_params(model, str(tmp_path)).files == [str(tmp_path / "params.json")]
    assert MLP.from_file(tmp_path / "params.json").state_dict() == model.state_dict()
    assert checkpoint.read(tmp_path / "params.json").architecture["nouts"] == [3, 1]


def test_plots_are_svg_plus_png_with_matplotlib(tmp_path):
    require_module("matplotlib")
    files = outputs.write_loss_curve([3.0, 2.0, 1.0], str(tmp_path)).files
    files += outputs.write_boundary(lambda a, b: int(a > b), [[0.0, 1.0], [1.0, 0.0]], [0, 1],
                                    str(tmp_path)).files
    assert [os.path.basename(f) for f in files] == ["loss.svg", "loss.png", "boundary.svg",
                                                     "boundary.png"]
    line = ET.parse(tmp_path / "loss.svg").getroot().find(f"{SVG_NS}polyline")
    assert len(line.get("points").split()) == 3
    assert (tmp_path / "boundary.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert _leftovers(tmp_path) == []


def test_without_matplotlib_plots_are_svg_only(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)  # import fails
    written = outputs.write_loss_curve([1.0, 0.5], str(tmp_path))
    assert written.files == [str(tmp_path / "loss.svg")] and written.skipped == []
    assert os.listdir(tmp_path) == ["loss.svg"]


def test_written_records_add_up():
    total = outputs.Written(["a"])
    skip = outputs.Skipped(("b.svg",), "too big")
    assert total.add(outputs.Written(["c"], [skip], dot_missing=True)) is total
    assert total == outputs.Written(["a", "c"], [skip], dot_missing=True)


# ------------------------------------------------------------ a training run


def _written(run, folder: str, graph: str) -> outputs.Written:
    """write_run's records, one per file as it is done, added up."""
    total = outputs.Written()
    for written in outputs.write_run(run, folder, graph):
        total.add(written)
    return total


def test_write_run_saves_a_reloadable_model_and_svg_plots(tmp_path):
    run = train(TrainConfig(samples=20, hidden=[3], epochs=1))
    written = _written(run, str(tmp_path), "network")
    assert {os.path.basename(p) for p in written.files} >= {
        "params.json", "loss.svg", "boundary.svg", "network.svg"}
    assert set(os.listdir(tmp_path)) == {os.path.basename(p) for p in written.files}
    model = MLP.from_file(tmp_path / "params.json")
    x = run.train_set[0][0]
    assert model(x).data == run.model(x).data
    for name in ("loss.svg", "boundary.svg", "network.svg"):
        assert ET.parse(tmp_path / name).getroot().tag.endswith("svg")


def test_graph_none_draws_nothing_and_a_bad_graph_is_refused(tmp_path):
    run = train(TrainConfig(samples=20, hidden=[3], epochs=1))
    names = {os.path.basename(p) for p in _written(run, str(tmp_path), "none").files}
    assert "network.svg" not in names and "graph.svg" not in names
    with pytest.raises(ValueError, match="unknown graph 'nodes'; choose one of auto, network"):
        _written(run, str(tmp_path), "nodes")


def test_a_skipped_loss_graph_offers_the_network_view(tmp_path):
    """MLP(2, [64, 64, 1]) per neuron is 4,450 nodes and edges: over viz.MAX_NODES."""
    run = train(TrainConfig(samples=20, hidden=[64, 64], epochs=1))
    written = _written(run, str(tmp_path), "neuron")
    (skipped,) = written.skipped
    assert skipped.files == ("graph.svg", "backprop.html")
    assert skipped.fits == ("layer", "network")
    assert skipped.reason.startswith("the graph at the neuron level has 4,450 nodes and edges")
    assert not (tmp_path / "graph.svg").exists() and (tmp_path / "network.svg").exists()
