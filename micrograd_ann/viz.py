"""The older spelling of `micrograd_ann.views.graph` (drawing computation graphs).

Importing `micrograd_ann.viz` gives that very module, so `from micrograd_ann.viz import ...`
keeps working.
"""

import sys

from .views import graph

sys.modules[__name__] = graph
