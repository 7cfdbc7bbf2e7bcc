"""micrograd_ann: a scalar autograd engine where every gradient step is visible."""

from .checks import (OpDomainError, OpError, OpOverflowError, OpZeroDivisionError, check_int,
                     check_number)
from .engine import OPS, Op, Value, apply, dot, sum_values, topological_order
from . import datasets, higher, losses, optim  # higher: backward(create_graph=True) too
from . import pickling  # noqa: F401 - how Values are pickled and copied, registered
from .nn import MLP, Layer, Module, Neuron
from .optim import SGD, Adam
from .trace import AnomalyError, Step, detect_anomaly, explain
from .compiler import compile  # noqa: A001,F401 - micrograd_ann.compile; not in __all__

__version__ = "0.1.0"

__all__ = [
    "OPS", "Op", "OpError", "OpDomainError", "OpOverflowError", "OpZeroDivisionError",
    "Value", "apply", "dot", "sum_values", "topological_order", "check_int", "check_number",
    "Module", "Neuron", "Layer", "MLP",
    "losses", "optim", "datasets", "higher", "SGD", "Adam",
    "Step", "explain", "detect_anomaly", "AnomalyError",
]
