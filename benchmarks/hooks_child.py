"""One run for bench.py's section 4, in a fresh process: print our demo step's median
ms/step (GC on) with trace.py never imported ("absent"), imported but off ("off"), or
inside detect_anomaly() ("on").
"""

from __future__ import annotations

import contextlib
import statistics
import sys
import types


class _AbsentModule(types.ModuleType):
    """Stands in for micrograd_ann.trace, so none of its code runs (every name is None)."""

    def __getattr__(self, name: str) -> None:
        if name.startswith("__"):
            raise AttributeError(name)
        return None


def main(mode: str) -> None:
    if mode == "absent":  # micrograd_ann/__init__ imports trace: hand it the stand-in
        sys.modules["micrograd_ann.trace"] = _AbsentModule("micrograd_ann.trace")
    import workloads as wl
    from bench import timed

    if mode == "absent":
        assert isinstance(sys.modules["micrograd_ann.trace"], _AbsentModule)
        anomaly = contextlib.nullcontext()
    else:
        from micrograd_ann.trace import detect_anomaly

        anomaly = detect_anomaly() if mode == "on" else contextlib.nullcontext()
    X, y = wl.moons()
    model = wl.ours_model(wl.weights_of(wl.micrograd_model()))
    with anomaly:
        times = [timed(wl.ours_step, model, X, y, k, gc_on=True)[0] for k in range(25)]
    print(statistics.median(times[5:]) * 1e3)


if __name__ == "__main__":
    main(sys.argv[1])
