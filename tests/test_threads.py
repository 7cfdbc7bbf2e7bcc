"""Separate graphs in separate threads: the documented thread-safety model.

A graph (and a model) belongs to one thread; two threads each building and training
their own model get exactly what the same work gives single-threaded. The only shared
state is the creation counter (itertools.count, atomic under the GIL) and the anomaly
hooks, which are global by design. Reading one graph from many threads is safe: a read
changes nothing.
"""

from __future__ import annotations

import sys
import threading

import pytest

from micrograd_ann import MLP, Value, sum_values, topological_order
from micrograd_ann.higher import gradient_graph
from micrograd_ann.trace import display_names

POINTS = [([0.5, -1.0], 1.0), ([-0.3, 0.8], -1.0), ([1.2, 0.1], 1.0), ([-1.5, -0.4], -1.0),
          ([0.0, 0.9], 1.0), ([0.7, 0.7], -1.0)]


def _train(seed: int, steps: int = 15) -> list[float]:
    """Plain gradient descent on a squared error; returns the final parameters."""
    model = MLP(2, [4, 4, 1], activation="tanh", seed=seed)
    for _ in range(steps):
        loss = sum_values([(model(x) - y) ** 2 for x, y in POINTS])
        model.zero_grad()
        loss.backward()
        for p in model.parameters():
            p.data -= 0.05 * p.grad
    return [p.data for p in model.parameters()]


@pytest.fixture
def frequent_switches():
    """Make the interpreter switch threads every microsecond, so the work interleaves."""
    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    yield
    sys.setswitchinterval(old)


def _run_in_threads(work: dict[int, object]) -> dict[int, object]:
    """Run work[key]() in one thread per key, all released at once; collect the results."""
    results: dict[int, object] = {}
    start = threading.Barrier(len(work))

    def run(key):
        start.wait()
        results[key] = work[key]()

    threads = [threading.Thread(target=run, args=(key,)) for key in work]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def test_two_threads_training_two_models_match_single_threaded_training(frequent_switches):
    expected = {seed: _train(seed) for seed in (1, 2)}
    assert expected[1] != expected[2]
    results = _run_in_threads({seed: (lambda seed=seed: _train(seed)) for seed in (1, 2)})
    assert results == expected  # exact: the same floats, bit for bit


def test_node_ids_stay_unique_across_threads(frequent_switches):
    # The threads take turns (a batch each, ten times), so their nodes surely interleave.
    turns = [threading.Semaphore(1), threading.Semaphore(0)]

    def make(me: int) -> list[int]:
        ids = []
        for _ in range(10):
            turns[me].acquire()
            ids.extend(Value(1.0).id for _ in range(2_000))
            turns[1 - me].release()
        return ids

    results = _run_in_threads({0: lambda: make(0), 1: lambda: make(1)})
    ids = results[0] + results[1]
    assert len(set(ids)) == len(ids) == 40_000
    for made in results.values():
        assert made == sorted(made)  # each thread's nodes are in creation order
    assert min(results[1]) < max(results[0]) and min(results[0]) < max(results[1])


def test_threads_reading_one_fresh_graph_see_the_same_graph(frequent_switches):
    # Reading a graph changes nothing in it, so any number of readers agree with one.
    model = MLP(2, [8, 8, 1], seed=3)
    for _ in range(20):
        loss = sum_values([(model(x) - y) ** 2 for x, y in POINTS])
        work = {k: (lambda: _read(loss)) for k in range(4)}
        results = _run_in_threads(work)
        assert all(result == results[0] for result in results.values())
        assert results[0] == _read(loss)


def _read(root: Value) -> tuple:
    """What a tool reads of a graph: every node's op and inputs, its names, its gradient."""
    nodes = topological_order(root)
    index = {node: i for i, node in enumerate(nodes)}
    shape = [(node.op and node.op.name, tuple(index[p] for p in node.parents)) for node in nodes]
    names = list(display_names(root).values())
    grads = gradient_graph(root)
    return shape, names, [grads[node].data for node in nodes]
