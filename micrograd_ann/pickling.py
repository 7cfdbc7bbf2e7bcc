"""Pickle and copy graphs flat, so a graph's depth costs no recursion.

A Value is pickled (and copied by `copy.copy`/`copy.deepcopy`) as a list of records in
topological order: leaves as themselves -- so a shallow copy shares them -- and every node
above them as plain data naming its inputs by position. Rebuilding walks the list once and
gives every node a fresh id in the same order. Registered with `copyreg` when the package
is imported, so the engine itself carries no pickling code.
"""

from __future__ import annotations

import copyreg

from .engine import OPS, Value, topological_order


def reduce_value(value: Value) -> tuple:
    """What pickle and copy store for `value`: its graph as records, rebuilt by _rebuild."""
    if not value.parents:
        return _rebuild, ([_record(value, {})],)
    nodes = topological_order(value)
    index = {node: i for i, node in enumerate(nodes)}
    return _rebuild, ([_record(node, index) if node.parents else node for node in nodes],)


def _record(node: Value, index: dict[Value, int]) -> tuple:
    """A node as plain data: a built-in op by name, yours as itself, inputs by position,
    and what a program stored on it (p.m; not grad_value, a graph of its own)."""
    op = node.op.name if node.op is not None and OPS.get(node.op.name) is node.op else node.op
    attributes = {k: v for k, v in vars(node).items() if k != "grad_value"}
    return (op, tuple(index[p] for p in node.parents), node.data, node.grad, node.label,
            node.partials, node.params, node.module, attributes)


def _rebuild(records: list) -> Value:
    """The graph reduce_value recorded, with new ids in the same (topological) order."""
    nodes: list[Value] = []
    for record in records:
        if not isinstance(record, Value):
            op, parents, data, grad, label, partials, params, module, attributes = record
            record = Value(data, label=label)
            record.op = OPS[op] if isinstance(op, str) else op
            record.parents = tuple(nodes[i] for i in parents)
            record.partials, record.params = partials, params
            record.grad, record.module = grad, module
            record.__dict__.update(attributes)
        nodes.append(record)
    return nodes[-1]


copyreg.pickle(Value, reduce_value)
