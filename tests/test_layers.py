"""The package's layering, read from every import (lazy ones too): checks, then the engine
(which imports checks alone), then the model modules, then the tools, then the face; nothing imports upwards."""

from __future__ import annotations

import ast
from pathlib import Path

import micrograd_ann

PACKAGE = Path(micrograd_ann.__file__).parent

# Lower numbers are lower layers; a module may import its own layer's peers only as listed.
LAYERS = {
    "checks": -1, "limits": -1, "markup": -1,
    "engine": 0, "files": 0, "extras": 0,
    "nn": 1, "losses": 1, "optim": 1, "datasets": 1, "checkpoint": 1,
    "trace": 2, "gradcheck": 2, "viz": 2, "player": 2, "plots": 2, "expr": 2,
    "network": 2, "outputs": 2, "codegen": 2, "compiler": 2, "torch_bridge": 2, "higher": 2,
    "history": 2, "history_file": 2,
    "replay": 2,
    "training": 3, "cli": 3, "__main__": 3, "__init__": 3,
}


def package_imports(path: Path) -> set[str]:
    """The package modules that `path` imports, wherever the import statement stands."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            if node.module:
                found.add(node.module.split(".")[0])
            else:
                found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("micrograd_ann"):
            rest = node.module.split(".")[1:]
            found.update(rest[:1] or [alias.name for alias in node.names])
    return found


def test_every_module_has_a_layer():
    modules = {p.stem for p in PACKAGE.glob("*.py")}
    assert modules <= set(LAYERS), f"give these a layer: {sorted(modules - set(LAYERS))}"


def test_imports_run_downwards_only_and_the_engine_imports_only_checks():
    graph = {p.stem: package_imports(p) for p in PACKAGE.glob("*.py")}
    assert graph["checks"] == graph["limits"] == graph["markup"] == set()
    assert graph["engine"] == {"checks"}
    assert "nn" not in graph.get("checkpoint", set())
    upward = [f"{m} imports {t}" for m, targets in graph.items() for t in targets
              if LAYERS[t] > LAYERS[m] and m != "__init__"]
    assert not upward, upward


def test_there_is_no_import_circle():
    graph = {p.stem: package_imports(p) - {p.stem} for p in PACKAGE.glob("*.py")}
    done: set[str] = set()

    def visit(module: str, path: list[str]) -> None:  # graphs this small: recursion is fine
        assert module not in path, " -> ".join(path + [module])
        if module in done:
            return
        for target in graph.get(module, ()):
            visit(target, path + [module])
        done.add(module)

    for module in graph:
        visit(module, [])


def test_the_checker_sees_lazy_imports(tmp_path):
    module = tmp_path / "m.py"
    module.write_text("def f():\n    from .viz import draw_dot\n    from . import trace\n")
    assert package_imports(module) == {"viz", "trace"}


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
    found = {path.name: private_reads(path.read_text(encoding="utf-8"), private)
             for path in PACKAGE.glob("*.py") if path.stem != "engine"}
    assert not {name: f for name, f in found.items() if f}, found


def test_the_checker_sees_private_reads():
    source = "from .engine import _ids\nx = engine._on_step\ny = node._parents\nz = v.data\n"
    assert private_reads(source, engine_private_names()) == [
        "1: imports a private engine name", "2: ._on_step", "3: ._parents"]
