"""micrograd's own modules, node for node: change `micrograd.` to `micrograd_ann.micrograd.`.

`from micrograd_ann.micrograd.engine import Value` and
`from micrograd_ann.micrograd.nn import MLP, Layer, Neuron, Module` give micrograd 0.1.0's
API with micrograd's graph shapes: a neuron is the chain b + w0*x0 + w1*x1 + ... (not one
'dot' node) and parameters carry no labels, so programs that walk `_prev`/`_op` or print
reprs see what micrograd shows. `micrograd_ann.nn` itself keeps one 'dot' node per neuron,
which is what makes graphs of real networks drawable; docs/micrograd.md lists the rest.
"""
