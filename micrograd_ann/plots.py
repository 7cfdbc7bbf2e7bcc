"""The older spelling of `micrograd_ann.views.plots` (loss curves and decision boundaries).

Importing `micrograd_ann.plots` gives that very module, so `from micrograd_ann.plots import ...`
keeps working.
"""

import sys

from .views import plots

sys.modules[__name__] = plots
