"""The older spelling of `micrograd_ann.views.network` (the network view).

Importing `micrograd_ann.network` gives that very module, so `from micrograd_ann.network import ...`
keeps working.
"""

import sys

from .views import network

sys.modules[__name__] = network
