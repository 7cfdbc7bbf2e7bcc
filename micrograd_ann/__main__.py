"""`python -m micrograd_ann ...` and the `micrograd-ann` script: run the command line.

cli is imported inside run(), so a Ctrl-C that comes while its imports load is still one
line and exit code 130, as it is once cli.main runs.
"""

import sys


def run() -> int:
    """Import the command line and run it; the exit code."""
    try:
        from .cli import main
    except KeyboardInterrupt:
        sys.stderr.write("micrograd-ann: interrupted\n")
        return 130
    return main()


if __name__ == "__main__":
    sys.exit(run())
