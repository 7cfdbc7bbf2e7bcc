"""Views: everything that shows a graph, a network or a run to people.

| module | what it draws |
|---|---|
| `graph` | computation graphs as DOT text and SVG (`draw_dot`, micrograd's name) |
| `network` | an MLP as columns of neurons, one line per weight, in pure SVG |
| `player` | the backprop player: an HTML page stepping through backward on the graph |
| `replay` | a recorded training run as a page: curves, boundary, network, diagnostics |
| `plots` | loss curves and decision boundaries as SVG or matplotlib figures |
| `outputs` | the files the command line writes, each written atomically |
| `page` | what the pages share: assets, script data, Jupyter iframes |

Views read data (the engine's graphs, models, histories) and never the other way round.
The older spellings `micrograd_ann.viz`, `.player`, `.network`, `.replay` and `.plots` are
these modules under another name.
"""
