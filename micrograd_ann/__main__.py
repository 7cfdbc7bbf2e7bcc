"""`python -m micrograd_ann ...` and the `micrograd-ann` script: run the command line.

Ctrl-C is one line and exit code 130 from the first instruction on. The package's
__init__ imports nothing (its names load on use), so run() starts at once; until the
command line has loaded, Ctrl-C ends the process from its signal handler (nothing needs
cleaning up yet, and a KeyboardInterrupt raised inside the import machinery can be lost:
CPython ignores exceptions in the weakref callbacks that free module locks). While the
command runs it is a KeyboardInterrupt, so that files being written are cleaned up.
"""

MESSAGE = "micrograd-ann: interrupted\n"


def run() -> int:
    """Import the command line and run it; the exit code (after Ctrl-C, exits 130 itself)."""
    import sys  # loaded at start-up

    try:
        import signal  # inside the guard: importing it takes half a millisecond

        # An ignored Ctrl-C (a background job's) stays ignored.
        guard = signal.getsignal(signal.SIGINT) is signal.default_int_handler
        if guard:
            signal.signal(signal.SIGINT, _interrupted_while_loading)
        from .cli import main

        if guard:
            signal.signal(signal.SIGINT, signal.default_int_handler)
        code = main()
    except KeyboardInterrupt:  # importing signal, or in the instant around main
        sys.stderr.write(MESSAGE)
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
        _leave(130)
    return code


def _interrupted_while_loading(signum: int, frame: object) -> None:
    """Ctrl-C while the command line loads: the one line, exit 130, nothing to clean up."""
    import sys

    sys.stderr.write(MESSAGE)
    _leave(130)


def _leave(code: int) -> None:
    """Flush what was printed and exit at once with `code`, skipping interpreter shutdown."""
    import os
    import sys

    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe or stream: nothing more can be said
            pass
    os._exit(code)


if __name__ == "__main__":
    raise SystemExit(run())
