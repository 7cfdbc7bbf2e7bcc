"""The older spelling of `micrograd_ann.views.replay` (the training replay page).

Importing `micrograd_ann.replay` gives that very module, so `from micrograd_ann.replay import ...`
keeps working.
"""

import sys

from .views import replay

sys.modules[__name__] = replay
