"""The package's layering, read from every import (lazy ones too): leaves, the engine, the
model, data and tools, views, the face. Nothing imports upwards or in a circle, and a
layer's modules import peers of their own layer only where the docs' layout page says so.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import micrograd_ann

PACKAGE = Path(micrograd_ann.__file__).parent

# The layers, lowest first, as docs/layout.md draws them. "views.*": every module of the
# views package; "micrograd.*": the mirror of micrograd's modules.
LAYERS = [
    ("leaves", {"checks", "limits", "markup", "formatting", "files", "extras"}),
    ("engine", {"engine"}),
    ("model", {"activations", "nn", "passes", "losses", "optim", "datasets", "checkpoint"}),
    ("data and tools", {"trace", "higher", "gradcheck", "codegen", "compiler", "expr",
                        "torch_bridge", "history", "history_file", "diagnostics",
                        "training"}),
    ("views", {"views.*"}),
    ("face", {"cli", "__main__", "__init__", "viz", "player", "network", "replay", "plots",
              "micrograd.*"}),
]


def layer_of(module: str) -> int:
    """The index in LAYERS of a module given by its dotted name inside the package."""
    wildcard = module.split(".")[0] + ".*"
    for i, (_, modules) in enumerate(LAYERS):
        if module in modules or wildcard in modules:
            return i
    raise KeyError(f"give {module} a layer")


def modules() -> dict[str, Path]:
    """Every module of the package by dotted name: 'engine', 'views.graph', 'views', ..."""
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = list(path.relative_to(PACKAGE).with_suffix("").parts)
        if parts[-1] == "__init__" and len(parts) > 1:
            parts.pop()  # a subpackage's __init__ is the subpackage
        found[".".join(parts)] = path
    return found


def package_imports(path: Path, module: str = "m") -> set[str]:
    """The package modules that `path` (the module `module`) imports, wherever the import
    statement stands, as dotted names inside the package."""
    package = module.split(".")[:-1] if path.name != "__init__.py" else module.split(".")
    package = [] if module == "__init__" else package
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if not isinstance(node, ast.ImportFrom):
            continue
        if node.level:
            base = package[: len(package) - (node.level - 1)]
        elif (node.module or "").split(".")[0] == "micrograd_ann":
            base = []
            node = ast.ImportFrom(".".join(node.module.split(".")[1:]), node.names, 1)
        else:
            continue
        target = base + (node.module.split(".") if node.module else [])
        for alias in node.names:  # a submodule by name (`from .views import graph`), or a
            name = ".".join(target + [alias.name])  # name defined in the module imported
            found.add(name if name in MODULES else ".".join(target))
    return found - {module, ""}


MODULES = modules()
GRAPH = {name: package_imports(path, name) for name, path in MODULES.items()}


def test_every_module_has_a_layer():
    for name in MODULES:
        layer_of(name)


def test_the_leaves_import_nothing_and_the_engine_only_checks():
    for name in LAYERS[0][1]:
        assert GRAPH[name] == set(), name
    assert GRAPH["engine"] == {"checks"}
    assert "nn" not in GRAPH["checkpoint"]


def test_imports_run_downwards_only():
    upward = [f"{m} ({LAYERS[layer_of(m)][0]}) imports {t} ({LAYERS[layer_of(t)][0]})"
              for m, targets in GRAPH.items() for t in targets
              if layer_of(t) > layer_of(m)]
    assert not upward, upward


def test_data_modules_never_import_a_view():
    data = [m for m in MODULES if layer_of(m) <= 3]
    assert not [(m, t) for m in data for t in GRAPH[m] if t.startswith("views")]


def test_there_is_no_import_circle():
    done: set[str] = set()

    def visit(module: str, path: list[str]) -> None:  # graphs this small: recursion is fine
        assert module not in path, " -> ".join(path + [module])
        if module in done:
            return
        for target in GRAPH[module]:
            visit(target, path + [module])
        done.add(module)

    for module in GRAPH:
        visit(module, [])


LAYOUT = PACKAGE.parent / "docs" / "layout.md"
FLOORS = 9  # the longest import chain, in modules, as docs/layout.md says


def longest_chain_length(module: str, lengths: dict[str, int]) -> int:
    """How many modules the longest import chain from `module` down holds."""
    if module not in lengths:
        lengths[module] = 1 + max((longest_chain_length(t, lengths) for t in GRAPH[module]),
                                  default=0)
    return lengths[module]


def test_the_longest_import_chain_is_the_layout_pages():
    lengths: dict[str, int] = {}
    assert max(longest_chain_length(m, lengths) for m in GRAPH) == FLOORS
    text = " ".join(LAYOUT.read_text(encoding="utf-8").split())
    found = re.search(r"such as ((?:`[\w.]+` ← )+`[\w.]+`)", text)
    chain = re.findall(r"`([\w.]+)`", found.group(1))
    assert len(chain) == FLOORS and "nine modules long" in text
    assert all(lower in GRAPH[upper] for upper, lower in zip(chain, chain[1:])), chain


def test_the_layout_page_names_every_module():
    text = LAYOUT.read_text(encoding="utf-8")
    named = set(re.findall(r"`([\w.]+)`", text))
    assert not [m for m in MODULES if m not in named and m not in ("views", "micrograd")]


def test_the_checker_sees_lazy_and_relative_imports(tmp_path):
    module = tmp_path / "m.py"
    module.write_text("def f():\n    from .views.graph import draw_dot\n    from . import trace\n")
    assert package_imports(module, "m") == {"views.graph", "trace"}
    module.write_text("from .. import formatting\nfrom . import page\nfrom ..engine import Value\n")
    assert package_imports(module, "views.player") == {"formatting", "views.page", "engine"}


def test_the_old_spellings_are_the_views_themselves():
    import micrograd_ann.network
    import micrograd_ann.player
    import micrograd_ann.plots
    import micrograd_ann.replay
    import micrograd_ann.viz
    from micrograd_ann.views import graph, network, player, plots, replay

    assert micrograd_ann.viz is graph and micrograd_ann.network is network
    assert micrograd_ann.player is player and micrograd_ann.replay is replay
    assert micrograd_ann.plots is plots


# Names that are the engine's own: its private functions and hooks, and the private node
# fields nodes once had. Other modules use the public seams instead (node.parents,
# .partials, .id, .module; make_node, backward_order, chain_rule, set_hook).
OLD_NODE_FIELDS = {"_parents", "_partials", "_id", "_module", "_origin", "_grad_value", "_z",
                   "_zgrad"}


def engine_private_names() -> set[str]:
    import micrograd_ann.engine as engine

    names = {name for name in vars(engine) if name.startswith("_") and not
             name.startswith("__")}
    return names | OLD_NODE_FIELDS


def private_reads(source: str, private: set[str]) -> list[str]:
    """Where `source` reads one of the `private` names as an attribute or imports it."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Attribute) and node.attr in private:
            found.append(f"{node.lineno}: .{node.attr}")
        elif (isinstance(node, ast.ImportFrom) and (node.module or "").endswith("engine")
              and any(alias.name in private for alias in node.names)):
            found.append(f"{node.lineno}: imports a private engine name")
    return found


def test_no_module_but_the_engine_reads_its_private_names():
    private = engine_private_names()
    assert {"_on_step", "_create_graph", "_ids"} <= private
    found = {name: private_reads(path.read_text(encoding="utf-8"), private)
             for name, path in MODULES.items() if name != "engine"}
    assert not {name: f for name, f in found.items() if f}, found


def test_the_checker_sees_private_reads():
    source = "from .engine import _ids\nx = engine._on_step\ny = node._parents\nz = v.data\n"
    assert private_reads(source, engine_private_names()) == [
        "1: imports a private engine name", "2: ._on_step", "3: ._parents"]
