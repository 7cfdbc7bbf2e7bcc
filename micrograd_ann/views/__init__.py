"""Views: everything that shows a graph, a network or a run to people.

| module | what it draws |
|---|---|
| `graph` | computation graphs as DOT text and SVG (`draw_dot`, micrograd's name) |
| `network` | an MLP as columns of neurons, one line per weight, in pure SVG |
| `player` | the backprop player: an HTML page stepping through backward on the graph |
| `replay` | a training run as a page (`to_html`; `Replay` in Jupyter), epoch by epoch |
| `plane` | the replay page's pictures of the input plane, computed with the recorder's forward |
| `plots` | loss curves and decision boundaries as SVG or matplotlib figures |
| `outputs` | the files the command line writes (`write_run`), each written atomically |
| `page` | what the pages share: assets, script data, Jupyter iframes, PNG images |
| `colours` | the colours of classes and of signs |

Views read data (the engine's graphs, models, histories) and never the other way round.
The older spellings `micrograd_ann.viz`, `.player`, `.network`, `.replay` and `.plots` are
these modules under another name.
"""
