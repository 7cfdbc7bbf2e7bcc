"""The older spelling of `micrograd_ann.views.player` (the backprop player).

Importing `micrograd_ann.player` gives that very module, so `from micrograd_ann.player import ...`
keeps working.
"""

import sys

from .views import player

sys.modules[__name__] = player
