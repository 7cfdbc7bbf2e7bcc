"""Optimisers with PyTorch's names and update formulas: `SGD` and `Adam`.

Each follows torch.optim's single-tensor update step for step, in the same floating-point
order, so a parameter trajectory matches PyTorch's to rounding. Out of scope: parameter
groups, `maximize`, Adam's `amsgrad`, decoupled weight decay (AdamW) and LR schedulers
(set `optimizer.lr` between steps instead).
"""

from __future__ import annotations

import math
from typing import Iterable

from .checks import check_number
from .engine import Value


def _check_number(name: str, value: object, below: float = math.inf) -> float:
    """`value` as a float in [0, below): the engine's rule for a finite number (a wrong type
    is a TypeError, NaN or inf a ValueError), then the range."""
    x = check_number(name, value, finite=True)
    if not 0.0 <= x < below:
        bounds = ">= 0" if below == math.inf else f"in [0, {below:g})"
        raise ValueError(f"{name} must be {bounds}, got {value!r}")
    return x


class Optimizer:
    """Holds the parameters (any iterable of Values) and resets their gradients."""

    def __init__(self, params: Iterable[Value], lr: float):
        if isinstance(params, Value) or not isinstance(params, Iterable):
            raise TypeError("params must be an iterable of Values, e.g. model.parameters(), "
                            f"got {type(params).__name__}")
        self.params: list[Value] = list(params)
        if not self.params:
            raise ValueError("the optimizer got an empty parameter list")
        seen: set[int] = set()
        for i, p in enumerate(self.params):
            if not isinstance(p, Value):
                raise TypeError(f"parameter {i} is a {type(p).__name__}, not a Value: {p!r}")
            if id(p) in seen:
                raise ValueError(f"parameter {i} ({p!r}) appears twice; it would be updated "
                                 "twice per step")
            seen.add(id(p))
        self.lr = _check_number("lr", lr)

    def zero_grad(self) -> None:
        """Set every parameter's gradient to 0 (call before each backward())."""
        for p in self.params:
            p.grad = 0.0

    def step(self) -> None:
        """Update every parameter from its .grad."""
        raise NotImplementedError(f"{type(self).__name__} does not define step()")


class SGD(Optimizer):
    """Stochastic gradient descent, optionally with momentum, as torch.optim.SGD.

    g = grad + weight_decay * p; with momentum, b = g on the first step and
    b = momentum * b + (1 - dampening) * g after, then g = b (or g + momentum * b with
    nesterov); finally p = p - lr * g.
    """

    def __init__(self, params: Iterable[Value], lr: float, momentum: float = 0.0,
                 weight_decay: float = 0.0, dampening: float = 0.0, nesterov: bool = False):
        super().__init__(params, lr)
        self.momentum = _check_number("momentum", momentum)
        self.weight_decay = _check_number("weight_decay", weight_decay)
        self.dampening = _check_number("dampening", dampening)
        if not isinstance(nesterov, bool):
            raise TypeError(f"nesterov must be True or False, got {nesterov!r}")
        if nesterov and (self.momentum == 0.0 or self.dampening != 0.0):
            raise ValueError("nesterov needs momentum > 0 and dampening 0, got "
                             f"momentum={momentum!r}, dampening={dampening!r}")
        self.nesterov = nesterov
        self.momentum_buffers: list[float | None] = [None] * len(self.params)

    def step(self) -> None:
        """One update of every parameter from its current .grad."""
        for i, p in enumerate(self.params):
            g = p.grad
            if self.weight_decay != 0.0:
                g = g + self.weight_decay * p.data
            if self.momentum != 0.0:
                buf = self.momentum_buffers[i]
                if buf is None:
                    buf = g  # NOTE: the first step takes the gradient undamped, as torch
                else:
                    buf = buf * self.momentum + (1.0 - self.dampening) * g
                self.momentum_buffers[i] = buf
                g = g + self.momentum * buf if self.nesterov else buf
            p.data = p.data + -self.lr * g


def _lerp(start: float, end: float, weight: float) -> float:
    """start + weight * (end - start), rounded the way torch.lerp rounds it."""
    if weight < 0.5:
        return start + weight * (end - start)
    return end - (end - start) * (1.0 - weight)


class Adam(Optimizer):
    """Adam, as torch.optim.Adam (amsgrad=False): bias-corrected moment estimates.

    g = grad + weight_decay * p; m = lerp(m, g, 1 - beta1); v = beta2 * v + (1 - beta2) g^2;
    p = p - lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps) at step t.
    """

    def __init__(self, params: Iterable[Value], lr: float = 1e-3,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0):
        super().__init__(params, lr)
        if isinstance(betas, (str, bytes)) or len(betas) != 2:
            raise ValueError(f"betas must be a pair (beta1, beta2), got {betas!r}")
        self.betas = (_check_number("betas[0]", betas[0], below=1.0),
                      _check_number("betas[1]", betas[1], below=1.0))
        self.eps = _check_number("eps", eps)
        if self.eps == 0.0:  # a parameter with zero gradient would divide 0 by 0
            raise ValueError("eps must be > 0, got 0")
        self.weight_decay = _check_number("weight_decay", weight_decay)
        self.steps = 0
        self.exp_avg = [0.0] * len(self.params)
        self.exp_avg_sq = [0.0] * len(self.params)

    def step(self) -> None:
        """One update of every parameter from its current .grad."""
        beta1, beta2 = self.betas
        self.steps += 1
        step_size = self.lr / (1.0 - beta1**self.steps)
        correction2_sqrt = (1.0 - beta2**self.steps) ** 0.5
        for i, p in enumerate(self.params):
            g = p.grad
            if self.weight_decay != 0.0:
                g = g + self.weight_decay * p.data
            m = _lerp(self.exp_avg[i], g, 1.0 - beta1)
            v = self.exp_avg_sq[i] * beta2 + (1.0 - beta2) * g * g
            self.exp_avg[i] = m
            self.exp_avg_sq[i] = v
            denom = math.sqrt(v) / correction2_sqrt + self.eps
            p.data = p.data + -step_size * m / denom
