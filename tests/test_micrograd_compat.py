"""Programs written for micrograd 0.1.0 run here with only their imports changed and print
micrograd's numbers: seeded construction bit for bit, its demo's training trajectory,
its trace_graph notebook's graph.

Every reference number below was printed once by the same program run under real
micrograd 0.1.0 (`pip install micrograd==0.1.0` in a scratch virtualenv); micrograd is
not a test dependency.
"""

from __future__ import annotations

import hashlib
import random
import re

import pytest

from micrograd_ann import Value
from micrograd_ann.datasets import make_moons
from micrograd_ann.nn import MLP, Layer, Neuron
from micrograd_ann.viz import to_dot


def _digest(params: list[Value]) -> str:
    """sha256 of the parameters' exact values (float.hex), in parameters() order."""
    return hashlib.sha256(" ".join(float(p.data).hex() for p in params).encode()).hexdigest()


# ------------------------------------------------------------ seeded construction


def test_random_seed_then_mlp_gives_micrograds_weights_bit_for_bit():
    random.seed(1337)  # as micrograd's demo.ipynb does before MLP(2, [16, 16, 1])
    params = MLP(2, [16, 16, 1]).parameters()
    after = random.random()
    assert len(params) == 337
    assert [p.data for p in params[:3]] == [0.23550571390294128, 0.06653114721000164, 0.0]
    assert [p.data for p in params[-3:]] == [-0.3223491002609964, -0.2532524374373504, 0.0]
    assert _digest(params) == "699d1b8af02d4abd73ba7788b403921ed79d974d6bc84b0755b106f9f851b659"
    assert after == 0.2158536848686471  # the global generator is left where micrograd's is


def test_random_seed_then_layer_gives_micrograds_weights_bit_for_bit():
    random.seed(0)
    params = Layer(3, 2).parameters()
    assert [p.data for p in params] == [0.6888437030500962, 0.515908805880605,
                                        -0.15885683833831, 0.0, -0.4821664994140733,
                                        0.02254944273721704, -0.19013172509917142, 0.0]
    assert random.random() == 0.7837985890347726


# ---------------------------------------------------------------- demo.ipynb


def _moons() -> tuple[list[list[float]], list[int]]:
    data = make_moons(100, noise=0.1, seed=0)  # the data both engines were given
    # If this fails, the dataset changed, not the engine: the references need new data.
    assert data[0] == ([0.4254729497760098, -0.23354384287093488], 1)
    return [x for x, _ in data], [2 * c - 1 for _, c in data]  # labels -1 / 1


# micrograd's loss and accuracy after steps 0-4, 49 and 99 of its demo loop.
DEMO_REFERENCE = {
    0: (0.8969396776879449, 0.50), 1: (1.6778284911339267, 0.82),
    2: (0.9951244523011016, 0.74), 3: (0.8820100188756751, 0.82),
    4: (0.4427168038185168, 0.82), 49: (0.03489668477474345, 0.99),
    99: (0.025947190475949997, 0.99),
}


def test_micrograds_demo_loop_follows_micrograds_trajectory():
    # demo.ipynb's cells as written for micrograd: builtin sum, max-margin loss, L2 of
    # 1e-4 * sum(p*p), SGD with a decaying learning rate, full batch, 100 steps.
    X, y = _moons()
    random.seed(1337)
    model = MLP(2, [16, 16, 1])

    def loss():
        inputs = [list(map(Value, xrow)) for xrow in X]
        scores = list(map(model, inputs))
        losses = [(1 + -yi * scorei).relu() for yi, scorei in zip(y, scores)]
        data_loss = sum(losses) * (1.0 / len(losses))
        reg_loss = 1e-4 * sum(p * p for p in model.parameters())
        accuracy = [(yi > 0) == (scorei.data > 0) for yi, scorei in zip(y, scores)]
        return data_loss + reg_loss, sum(accuracy) / len(accuracy)

    seen = {}
    for k in range(100):
        total_loss, acc = loss()
        model.zero_grad()
        total_loss.backward()
        learning_rate = 1.0 - 0.9 * k / 100
        for p in model.parameters():
            p.data -= learning_rate * p.grad
        if k in DEMO_REFERENCE:
            seen[k] = (total_loss.data, acc)
    # micrograd's own runs differ in the last bits (its gradient sums follow a set's
    # iteration order), and a fused neuron adds its bias last: agreement to 1e-12.
    for k, (loss_k, acc_k) in DEMO_REFERENCE.items():
        assert seen[k][0] == pytest.approx(loss_k, rel=1e-12, abs=0), f"step {k}"
        assert seen[k][1] == acc_k, f"step {k}"


# -------------------------------------------------------------- trace_graph.ipynb


def _nodes(root: Value) -> list[tuple[str, float, float]]:
    """(op label, data, grad) of every node, found through micrograd's `_prev` sets."""
    seen, todo = set(), [root]
    while todo:
        node = todo.pop()
        if node not in seen:
            seen.add(node)
            todo.extend(node._prev)
    return sorted((node._op, node.data, node.grad) for node in seen)


def test_trace_graph_notebook_simple_expression():
    x = Value(1.0)
    y = (x * 2 + 1).relu()
    y.backward()
    assert _nodes(y) == [("", 1.0, 1.0), ("", 1.0, 2.0), ("", 2.0, 1.0), ("*", 2.0, 1.0),
                         ("+", 3.0, 1.0), ("ReLU", 3.0, 1.0)]


def test_trace_graph_notebook_neuron_draws_micrograds_graph():
    random.seed(1337)
    n = Neuron(2)
    x = [Value(1.0), Value(-2.0)]
    y = n(x)
    y.backward()
    assert _nodes(y) == [
        ("", -2.0, 0.06653114721000164), ("", 0.0, 1.0),
        ("", 0.06653114721000164, -2.0), ("", 0.23550571390294128, 1.0),
        ("", 1.0, 0.23550571390294128), ("*", -0.13306229442000328, 1.0),
        ("*", 0.23550571390294128, 1.0), ("+", 0.102443419482938, 1.0),
        ("+", 0.23550571390294128, 1.0), ("ReLU", 0.102443419482938, 1.0),
    ]
    drawn = re.findall(r"label=<([^<>]*)> shape=ellipse", to_dot(y))  # the op nodes
    assert sorted(drawn) == ["*", "*", "+", "+", "ReLU"]
