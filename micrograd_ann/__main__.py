"""`python -m micrograd_ann ...` and the `micrograd-ann` script: run the command line.

Ctrl-C is one line and exit code 130 from the first instruction on: the package's
__init__ imports nothing (its names load on use), and the command line is imported and
run inside run()'s guard.
"""


def run() -> int:
    """Import the command line and run it; the exit code (after Ctrl-C, exits 130 itself)."""
    import os  # both loaded at start-up: importing them costs nothing
    import sys

    try:
        from .cli import main

        code = main()
    except KeyboardInterrupt:  # while cli imports, or in the instant after main returns
        sys.stderr.write("micrograd-ann: interrupted\n")
        code = 130
    import signal

    # NOTE: the command is done. While Python shuts down it puts back the default Ctrl-C
    # action, which kills the process (exit -2, no message): a late Ctrl-C is ignored.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if code == 130:
        # NOTE: CPython counts a KeyboardInterrupt raised inside exec() or eval() of a
        # string -- a namedtuple or dataclass being made as a module imports -- as
        # unhandled even once caught, and at exit kills itself with SIGINT (exit -2). The
        # interrupted command has cleaned up (its finally blocks ran): leave now.
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except OSError:  # a closed pipe: nothing more can be said there
                pass
        os._exit(130)
    return code


if __name__ == "__main__":
    raise SystemExit(run())
