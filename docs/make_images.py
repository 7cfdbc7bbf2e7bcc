"""Regenerate the README's graph image: python docs/make_images.py (needs Graphviz's `dot`)."""

from pathlib import Path

from micrograd_ann import Value, viz

# The tutorial's neuron, one op at a time: sigmoid(x1*w1 + x2*w2 + x3*w3 + b).
x1, x2, x3 = Value(1.0, "x1"), Value(5.0, "x2"), Value(3.0, "x3")
w1, w2, w3 = Value(0.2, "w1"), Value(0.5, "w2"), Value(-0.1, "w3")
b = Value(0.1, "b")
n = x1 * w1 + x2 * w2 + x3 * w3 + b
n.label = "n"
out = n.sigmoid()
out.label = "out"
out.backward()
viz.render(out, Path(__file__).with_name("neuron_graph.svg"), edge_labels=True)
