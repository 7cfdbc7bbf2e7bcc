"""The package's face: `import micrograd_ann` loads nothing else, and every public name
comes from the module the editors are told it comes from."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import micrograd_ann


def test_importing_the_package_runs_no_other_module():
    # what lets `python -m micrograd_ann` guard Ctrl-C from its first instruction
    done = subprocess.run([sys.executable, "-c", "import sys, micrograd_ann; print(sorted("
                           "m for m in sys.modules if m.startswith('micrograd_ann')))"],
                          capture_output=True, text=True, timeout=60)
    assert done.stdout.split() == ["['micrograd_ann']"], done.stderr


def test_every_public_name_comes_from_the_module_editors_read():
    tree = ast.parse(Path(micrograd_ann.__file__).read_text(encoding="utf-8"))
    (block,) = [node for node in tree.body if isinstance(node, ast.If)
                and getattr(node.test, "id", "") == "TYPE_CHECKING"]
    told = {alias.name: node.module or alias.name for node in block.body
            for alias in node.names}
    assert set(told) == set(micrograd_ann.__all__) | {"compile"}  # (see the next test)
    for name, module in told.items():
        value = getattr(micrograd_ann, name)
        if module == name:  # a submodule
            assert value is sys.modules[f"micrograd_ann.{name}"]
        else:
            assert value is getattr(sys.modules[f"micrograd_ann.{module}"], name), name


def test_submodules_load_on_use_and_unknown_names_are_attribute_errors():
    assert micrograd_ann.checkpoint.FORMAT == "micrograd_ann.checkpoint"
    assert {"Value", "losses", "MLP"} <= set(dir(micrograd_ann))
    with pytest.raises(AttributeError, match="has no attribute 'nope'"):
        micrograd_ann.nope  # noqa: B018
    with pytest.raises(AttributeError, match="has no attribute '__wrapped__'"):
        micrograd_ann.__wrapped__  # noqa: B018


def test_star_import_gives_all():
    namespace: dict = {}
    exec("from micrograd_ann import *", namespace)
    assert {"Value", "MLP", "SGD", "losses", "datasets", "explain"} <= set(namespace)


def test_compile_is_a_name_of_the_package_but_not_of_a_star_import():
    from micrograd_ann import compiler

    assert micrograd_ann.compile is compiler.compile
    namespace: dict = {}
    exec("from micrograd_ann import *", namespace)
    assert "compile" not in namespace  # Python's builtin compile stays what it was


def test_the_first_name_used_brings_second_order_with_it():
    code = ("import sys\nfrom micrograd_ann import Value\nx = Value(0.5)\n"
            "(x * x * x).backward(create_graph=True)\nprint(x.grad_value.data, "
            "'micrograd_ann.higher' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60)
    assert done.stdout.split() == ["0.75", "True"], done.stderr
