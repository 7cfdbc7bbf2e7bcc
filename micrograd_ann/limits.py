"""The package's size limits: how much one training run, checkpoint or history may hold.

A leaf module (it imports nothing of the package), so that the code that writes a file and
the code that reads it back derive their bounds from the same numbers: what `train` writes,
`MLP.from_file` and `History.load` read. docs/limits.md lists every limit and where it is
enforced.
"""

MAX_SAMPLES = 100_000  # samples in one run (train and test together)
MAX_EPOCHS = 100_000
MAX_PARAMETERS = 200_000  # weights and biases of one model, as train builds or files hold it
MAX_STEP_SIZE = 5_000_000  # weight-sample products in one step's graph (~50 bytes each)
BINS = 20  # bars of each histogram a history holds (history_file checks it)
