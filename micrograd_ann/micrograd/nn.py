"""micrograd's `nn` module: Module, Neuron, Layer and MLP with micrograd's signatures,
defaults and graph shape (chain neurons, unlabelled parameters), built from micrograd_ann's
classes, so drawings, steppers and state dicts work on them too."""

from __future__ import annotations

from .. import nn
from ..nn import Module

__all__ = ["Module", "Neuron", "Layer", "MLP"]


def _unlabelled(module: nn.Module) -> nn.Module:
    """`module` with its parameters' labels cleared, as micrograd's parameters have none."""
    for p in module.parameters():
        p.label = ""
    return module


class Neuron(nn.Neuron):
    """micrograd's Neuron(nin, nonlin=True): relu(b + w0*x0 + ...), or linear."""

    def __init__(self, nin: int, nonlin: bool = True):
        super().__init__(nin, nonlin=nonlin, fused=False)
        _unlabelled(self)


class Layer(nn.Layer):
    """micrograd's Layer(nin, nout, **kwargs): nout Neurons(nin, **kwargs)."""

    def __init__(self, nin: int, nout: int, **kwargs):
        super().__init__(nin, nout, fused=False, **kwargs)
        _unlabelled(self)


class MLP(nn.MLP):
    """micrograd's MLP(nin, nouts): relu layers, then a linear one."""

    def __init__(self, nin: int, nouts: list[int]):
        super().__init__(nin, nouts, fused=False)
        _unlabelled(self)
