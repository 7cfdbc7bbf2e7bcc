"""The benchmark's work: micrograd's demo step as its notebook writes it (run by micrograd
and by us), ours written with sum_values, and the same step as hand-written float loops
(the floor).

Each demo step is forward + zero_grad + backward + SGD on MLP(2, [16, 16, 1]) with the
max-margin loss mean(relu(1 - y*score)) + 1e-4 * sum(p*p), and returns the loss.
"""

from __future__ import annotations

import random
import time

import micrograd_ann
from micrograd_ann import MLP, Value, sum_values
from micrograd_ann.datasets import make_moons

SIZES = [2, 16, 16, 1]
ALPHA = 1e-4  # weight of the L2 term


def moons(n: int = 100, seed: int = 0) -> tuple[list[list[float]], list[float]]:
    """micrograd's demo data: two-moons inputs and labels -1.0 / 1.0."""
    samples = make_moons(n, noise=0.1, seed=seed)
    return [x for x, _ in samples], [2.0 * label - 1.0 for _, label in samples]


def learning_rate(k: int) -> float:
    """micrograd demo's schedule."""
    return 1.0 - 0.9 * k / 100


# ------------------------------------------------------------------- micrograd 0.1.0


def micrograd_model(seed: int = 1337):
    from micrograd.nn import MLP as MicrogradMLP

    random.seed(seed)  # micrograd draws its weights from the global generator
    return MicrogradMLP(SIZES[0], SIZES[1:])


def micrograd_step(model, X, y, k: int) -> float:
    from micrograd.engine import Value as MValue

    return user_step(model, X, y, k, MValue)


def weights_of(mg_model) -> list[list[tuple[list[float], float]]]:
    """[layer][neuron] -> (weights, bias) as floats, read from a micrograd MLP."""
    return [[([w.data for w in n.w], float(n.b.data)) for n in layer.neurons]
            for layer in mg_model.layers]


# ------------------------------------------------------- as micrograd's demo writes it


def user_loss(model, X, y, value=Value):
    """micrograd's demo loss line by line: builtin sum() and plain numbers, so the graph
    has a chain of adds per sum and a leaf per number constant. `value` is the Value class
    of the engine that runs it (ours, or micrograd's)."""
    inputs = [list(map(value, row)) for row in X]
    scores = list(map(model, inputs))
    losses = [(1 + -yi * si).relu() for yi, si in zip(y, scores)]
    data_loss = sum(losses) * (1.0 / len(losses))
    reg_loss = ALPHA * sum(p * p for p in model.parameters())
    return data_loss + reg_loss


def user_step(model, X, y, k: int, value=Value) -> float:
    """micrograd's demo training step k: its loss, zero_grad, backward, SGD."""
    total = user_loss(model, X, y, value)
    model.zero_grad()
    total.backward()
    lr = learning_rate(k)
    for p in model.parameters():
        p.data -= lr * p.grad
    return total.data


# ----------------------------------------------- ours, compiled (micrograd_ann.compile)


def compiled_model(weights, X, y):
    """(model, compiled step, seconds it took to compile): the user-written loss traced
    once by micrograd_ann.compile, then run as generated code on floats."""
    model = ours_model(weights)
    start = time.process_time()
    step = micrograd_ann.compile(lambda xs, ys: user_loss(model, xs, ys, value=_same),
                                 model.parameters(), X, y)
    return model, step, time.process_time() - start


def _same(v: Value) -> Value:
    return v  # the compiled step's inputs are Values already


def compiled_step(state, X, y, k: int) -> float:
    """The demo step through the compiled forward + backward: zero_grad, step, SGD."""
    model, step, _ = state
    model.zero_grad()
    loss = step(X, y)
    lr = learning_rate(k)
    for p in model.parameters():
        p.data -= lr * p.grad
    return loss


# ------------------------------------------------------------- ours, with sum_values


def ours_model(weights) -> MLP:
    """Our MLP holding exactly `weights` (neuron by neuron, so the order cannot slip)."""
    model = MLP(SIZES[0], SIZES[1:])
    for layer, layer_weights in zip(model.layers, weights, strict=True):
        for neuron, (w, b) in zip(layer.neurons, layer_weights, strict=True):
            for param, value in zip(neuron.w, w, strict=True):
                param.data = value
            neuron.b.data = b
    return model


def ours_loss(model: MLP, X, y) -> Value:
    scores = [model(x) for x in X]
    losses = [(1 - yi * si).relu() for yi, si in zip(y, scores)]
    data_loss = sum_values(losses) * (1.0 / len(losses))
    reg_loss = ALPHA * sum_values(p * p for p in model.parameters())
    return data_loss + reg_loss


def ours_step(model: MLP, X, y, k: int) -> float:
    total = ours_loss(model, X, y)
    model.zero_grad()
    total.backward()
    lr = learning_rate(k)
    for p in model.parameters():
        p.data -= lr * p.grad
    return total.data


# ------------------------------------------------------------- the floor: no graph


def floor_model(weights):
    """Per layer: (weight rows, biases) as mutable lists of floats."""
    return [([list(w) for w, _ in layer], [b for _, b in layer]) for layer in weights]


def floor_step(layers, X, y, k: int) -> float:
    """The same step by hand: forward, hand-derived backward, SGD; relu on hidden layers."""
    n = len(X)
    grads = [([[0.0] * len(row) for row in W], [0.0] * len(b)) for W, b in layers]
    margin_sum = 0.0
    for x, yi in zip(X, y):
        acts = [x]  # acts[i] is the input of layer i
        for i, (W, b) in enumerate(layers):
            z = []
            for row, bj in zip(W, b):
                total = bj
                for w, a in zip(row, acts[-1]):
                    total += w * a
                z.append(total)
            hidden = i < len(layers) - 1
            acts.append([v if v > 0.0 else 0.0 for v in z] if hidden else z)
        margin = 1.0 - yi * acts[-1][0]
        # NOTE: dense like a graph engine: a sample with margin <= 0 still runs backward
        # (with zeros), so the floor does the same arithmetic as the graphs do.
        margin_sum += margin if margin > 0.0 else 0.0
        delta = [-yi / n if margin > 0.0 else 0.0]  # d loss / d score
        for i in range(len(layers) - 1, -1, -1):
            W, _ = layers[i]
            gW, gb = grads[i]
            a = acts[i]
            for j, d in enumerate(delta):
                gb[j] += d
                grow = gW[j]
                for m, am in enumerate(a):
                    grow[m] += d * am
            if i > 0:  # back through W, then through the previous layer's relu
                back = [0.0] * len(a)
                for d, row in zip(delta, W):
                    for m, w in enumerate(row):
                        back[m] += d * w
                delta = [g if am > 0.0 else 0.0 for g, am in zip(back, a)]
    reg = 0.0
    for (W, b), (gW, gb) in zip(layers, grads):
        for row, grow in zip(W + [b], gW + [gb]):
            for m, p in enumerate(row):
                reg += p * p
                grow[m] += 2.0 * ALPHA * p
    loss = margin_sum * (1.0 / n) + ALPHA * reg
    lr = learning_rate(k)
    for (W, b), (gW, gb) in zip(layers, grads):
        for row, grow in zip(W + [b], gW + [gb]):
            for m, g in enumerate(grow):
                row[m] -= lr * g
    return loss
