"""`python -m micrograd_ann ...` and the `micrograd-ann` script: run the command line.

cli is imported inside run(), so a Ctrl-C that comes while its imports load is still one
line and exit code 130, as it is once cli.main runs.
"""

import signal
import sys


def run() -> int:
    """Import the command line and run it; the exit code."""
    try:
        from .cli import main

        code = main()
    except KeyboardInterrupt:  # while cli imports, or in the instant after main returns
        sys.stderr.write("micrograd-ann: interrupted\n")
        code = 130
    # NOTE: the command is done. While Python shuts down it puts back the default Ctrl-C
    # action, which kills the process (exit -2, no message): a late Ctrl-C is ignored.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    return code


if __name__ == "__main__":
    sys.exit(run())
