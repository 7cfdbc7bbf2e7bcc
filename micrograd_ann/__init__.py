"""micrograd_ann: a scalar autograd engine where every gradient step is visible.

The names below load on first use (PEP 562's module __getattr__): `import micrograd_ann`
runs no other module, so the command line (__main__) is guarding Ctrl-C from its first
line, not only once the engine has loaded. `from micrograd_ann import Value` works as ever,
and the first name used also loads `higher`, which gives the engine
`backward(create_graph=True)`.
"""

from importlib import import_module

TYPE_CHECKING = False  # typing's constant, without importing typing (~5 ms) for it
__version__ = "0.1.0"

# Each public name and the module it comes from; the modules themselves load on use too.
_HOMES = {
    "checks": ("OpDomainError", "OpError", "OpOverflowError", "OpZeroDivisionError",
               "check_int", "check_number"),
    "engine": ("OPS", "Op", "Value", "apply", "dot", "sum_values", "topological_order"),
    "nn": ("Module", "Neuron", "Layer", "MLP"),
    "optim": ("SGD", "Adam"),
    "trace": ("Step", "explain", "detect_anomaly", "AnomalyError"),
    "compiler": ("compile",),  # micrograd_ann.compile; not in __all__: it is a builtin's name
}
_HOME = {name: module for module, names in _HOMES.items() for name in names}

__all__ = [*(name for name in _HOME if name != "compile"), "losses", "optim", "datasets",
           "higher"]


def __getattr__(name: str) -> object:
    """A public name or a submodule, imported when first asked for."""
    if name.startswith("__"):  # __path__, __test__, ...: what tools probe is no module
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import_module(".higher", __name__)  # registers backward(create_graph=True) with the engine
    if name in _HOME:
        value = getattr(import_module(f".{_HOME[name]}", __name__), name)
        globals()[name] = value  # found directly from now on
        return value
    try:
        return import_module(f".{name}", __name__)  # also binds it as an attribute here
    except ModuleNotFoundError as exc:
        if exc.name != f"{__name__}.{name}":  # the module exists but an import inside failed
            raise
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


if TYPE_CHECKING:  # what editors and type checkers read; test_init checks it matches _HOMES
    from . import datasets, higher, losses, optim  # noqa: F401
    from .checks import (OpDomainError, OpError, OpOverflowError,  # noqa: F401
                         OpZeroDivisionError, check_int, check_number)
    from .compiler import compile  # noqa: A004,F401
    from .engine import OPS, Op, Value, apply, dot, sum_values, topological_order  # noqa: F401
    from .nn import MLP, Layer, Module, Neuron  # noqa: F401
    from .optim import SGD, Adam  # noqa: F401
    from .trace import AnomalyError, Step, detect_anomaly, explain  # noqa: F401
