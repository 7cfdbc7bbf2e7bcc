"""plots: SVG loss curves and decision boundaries in pure Python, PNG via matplotlib."""

from __future__ import annotations

import sys
import xml.etree.ElementTree as ET

import pytest
from conftest import require_module
from helpers import SVG_NS

from micrograd_ann.views import plots

def test_nice_ticks():
    assert plots.nice_ticks(0.0, 1.0) == [0.0, 0.2, 0.4, 0.6, 0.8, 1.0]
    assert plots.nice_ticks(-1.3, 2.7) == [-1.0, 0.0, 1.0, 2.0]
    assert plots.nice_ticks(1.0, 100.0) == [20.0, 40.0, 60.0, 80.0, 100.0]
    assert plots.nice_ticks(3.0, 3.0) == [3.0]


def test_boundary_grid_evaluates_cell_centres_over_the_points():
    grid = plots.boundary_grid(lambda x, y: int(x > 0), [[-1, 0], [1, 2]], resolution=4,
                               margin=0.0)
    assert grid.xs == [-1.0, -0.5, 0.0, 0.5, 1.0]
    assert grid.ys == [0.0, 0.5, 1.0, 1.5, 2.0]
    assert grid.classes == [[0, 0, 1, 1]] * 4


def test_loss_curve_svg_has_one_point_per_epoch_falling_to_the_axis():
    root = ET.fromstring(plots.loss_curve_svg([4.0, 2.0, 1.0, 0.0]))
    points = [tuple(map(float, p.split(","))) for p in
              root.find(f"{SVG_NS}polyline").get("points").split()]
    assert len(points) == 4
    assert [x for x, _ in points] == sorted(x for x, _ in points)
    assert points[-1][1] == plots.HEIGHT - plots.BOTTOM  # loss 0 sits on the x axis
    assert [y for _, y in points] == sorted(y for _, y in points)  # falling loss


def test_loss_curve_has_a_legend_saying_what_the_line_is():
    root = ET.fromstring(plots.loss_curve_svg([4.0, 2.0]))
    legend = next(g for g in root.iter(f"{SVG_NS}g") if g.get("class") == "legend")
    texts = [t.text for t in legend.iter(f"{SVG_NS}text")]
    assert texts == ["train: mean loss over each epoch's steps"]


def test_test_points_are_rings_and_the_legend_says_so():
    grid = plots.Grid([0, 1, 2], [0, 1, 2], [[0, 1], [1, 1]])
    points, classes = [[0.5, 0.5], [1.5, 1.5], [0.2, 0.4]], [0, 1, 0]
    root = ET.fromstring(plots.decision_boundary_svg(grid, points, classes, held_out=1))
    legend = next(g for g in root.iter(f"{SVG_NS}g") if g.get("class") == "legend")
    drawn = [c for c in root.iter(f"{SVG_NS}circle") if c not in set(legend.iter())]
    assert [c.get("fill") for c in drawn] == [plots.POINT_COLOURS[0], plots.POINT_COLOURS[1],
                                              "white"]
    assert drawn[2].get("stroke") == plots.POINT_COLOURS[0]  # a ring in its class's colour
    assert [t.text for t in legend.iter(f"{SVG_NS}text")] == [
        "train", "test (held out)", "class 0", "class 1"]
    no_test = ET.fromstring(plots.decision_boundary_svg(grid, points, classes))
    assert "test (held out)" not in [t.text for t in no_test.iter(f"{SVG_NS}text")]
    with pytest.raises(ValueError, match="held_out"):
        plots.decision_boundary_svg(grid, points, classes, held_out=4)


def test_loss_curve_refuses_nan():
    with pytest.raises(ValueError, match="finite"):
        plots.loss_curve_svg([1.0, float("nan")])


def test_decision_boundary_merges_runs_and_draws_every_point():
    grid = plots.Grid([0, 1, 2, 3], [0, 1, 2], [[0, 0, 1], [1, 1, 1]])
    root = ET.fromstring(plots.decision_boundary_svg(grid, [[0.5, 0.5], [2.5, 1.5]], [0, 1]))
    legend = set(next(g for g in root.iter(f"{SVG_NS}g") if g.get("class") == "legend").iter())
    fills = [r.get("fill") for r in root.iter(f"{SVG_NS}rect") if r not in legend]
    regions = [f for f in fills if f in plots.REGION_COLOURS]
    assert regions == [plots.REGION_COLOURS[0], plots.REGION_COLOURS[1],
                       plots.REGION_COLOURS[1]]  # row 0: two runs, row 1: one
    circles = [c.get("fill") for c in root.iter(f"{SVG_NS}circle") if c not in legend]
    assert circles == [plots.POINT_COLOURS[0], plots.POINT_COLOURS[1]]


def test_png_with_matplotlib_and_none_without(tmp_path, monkeypatch):
    require_module("matplotlib")
    grid = plots.Grid([0, 1, 2], [0, 1, 2], [[0, 1], [1, 1]])
    for path in (plots.save_png_loss_curve([2.0, 1.0], str(tmp_path / "loss.png")),
                 plots.save_png_decision_boundary(grid, [[0.5, 0.5], [1.5, 0.5]], [0, 1],
                                                  str(tmp_path / "b.png"), held_out=1)):
        assert open(path, "rb").read(8) == b"\x89PNG\r\n\x1a\n"
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    assert plots.save_png_loss_curve([1.0], str(tmp_path / "none.png")) is None
    assert not (tmp_path / "none.png").exists()
